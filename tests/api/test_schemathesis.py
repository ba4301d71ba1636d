"""Schemathesis against `/openapi.json`: every operation, every default check (server errors,
status codes, content types, response schemas and headers, positive data accepted, negative
data rejected, authentication enforced), on the real app over a migrated SQLite file.

Run it alone: `.venv/bin/pytest -q tests/api/test_schemathesis.py`.

Some rules cannot be written in OpenAPI; rather than loosening a check, the test keeps
schema-valid requests within them (a fresh `Idempotency-Key` per write, no forged `cursor`,
report ranges, a page's own `fields`, a webhook URL that needs no DNS, a handle's own pages,
a gift that suits its kind, a page under 30 KB). Schema-violating requests go out as generated.
The run's own key is never revoked.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import ValidationError
from schemathesis import AuthContext, Case
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app import patterns
from app.api_keys import service as api_keys
from app.handles.exceptions import InvalidHandle
from app.handles.names import RESERVED_HANDLES, handle_key, normalize_handle_name
from app.main import create_app
from app.pages import service as pages
from app.pages.models import Page
from app.pages.rendering import render_preview
from app.pages.schemas import PageCreateRequest, PageUpdateRequest
from app.pagination import MAX_CURSOR_LENGTH
from app.reports import service as reports
from app.reports.api import DEFAULT_DAYS
from app.reports.exceptions import InvalidReportInput
from tests.databases import FreshDatabases, make_settings
from tests.factories import add_handle, add_lead, add_page, bearer

MAX_EXAMPLES = 15
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
IDEMPOTENCY_KEY = "Idempotency-Key"
REVOKE_PATH = "/api/v1/keys/{key_id}/revoke"
REPORT_PATHS = {"/api/v1/reports/conversion", "/api/v1/reports/variants"}
SEEDED_FIELDS = {"company"}
# A public address literal: accepted without a DNS lookup, and never called (no outbox worker).
PUBLIC_WEBHOOK_URL = "https://93.184.215.14/hooks/leadlink"
PAGE_WRITES = {("POST", "/api/v1/pages"), ("PATCH", "/api/v1/pages/{slug}")}
ROUTES_PATH = "/api/v1/handles/{name}/routes"
SEEDED_HANDLE, SEEDED_PAGE = "anna", "free-guide"
SHOP_URL = "https://shop.example.com/course"
# A gift value for each kind the API takes, as in the documentation's examples.
GIFT_VALUES = {
    "url": "https://files.example.com/guide.pdf",
    "code": "CALM20",
    "text": "Thanks! Here is the guide.",
}
# Fields a PATCH clears with null; on the others null means "unchanged" (as `update_page`).
CLEARABLE = {"hero_image_url", "og_title", "og_description", "og_image_url"}
_VALID_IDEMPOTENCY_KEY = re.compile(patterns.IDEMPOTENCY_KEY)


# The app under test exists at import, because Schemathesis collects one test per operation
# from its schema then (`schemathesis.pytest.from_fixture` cannot run on pytest 9: it sets
# `Node._nodeid`). Nothing is created here: the `seeded` fixture makes and migrates the database,
# and Schemathesis starts the app's lifespan on its first request.
DATA_DIR = Path(tempfile.gettempdir()) / f"leadlink-schemathesis-{uuid.uuid4().hex}"
APP = create_app(make_settings(DATA_DIR, f"sqlite+aiosqlite:///{DATA_DIR / 'test.db'}"))


@dataclass(frozen=True)
class Seeded:
    secret: str
    key_id: str


@pytest.fixture(scope="module")
async def seeded(fresh_databases: FreshDatabases) -> AsyncIterator[Seeded]:
    """A migrated database with the documentation's examples in it (handle `anna`, page
    `free-guide`, one lead) and the run's `admin` key; afterwards the app is shut down."""
    DATA_DIR.mkdir()
    under_test, cleanup = await fresh_databases.open("sqlite", DATA_DIR)
    try:
        async with AsyncSession(under_test.engine, expire_on_commit=False) as session:
            anna = await add_handle(session, "anna")
            page = await add_page(
                session,
                anna,
                "free-guide",
                custom_fields=[{"key": "company", "label": "Company", "type": "text"}],
            )
            await add_lead(session, page, "anna@example.com", name="Anna")
            issued = await api_keys.create_api_key(session, name="schemathesis", scopes=["admin"])
            await session.commit()
    finally:
        await cleanup()
    RUN_KEY["secret"] = issued.secret
    yield Seeded(issued.secret, str(issued.key.id))
    shutdown_lifespans()
    shutil.rmtree(DATA_DIR)


def _fresh_idempotency_key(case: Case[Any]) -> None:
    # A schema-valid key is replaced by a fresh one (reusing a key for another request is a
    # 422 by design); an invalid one is kept, since rejecting it is what negative cases test.
    value = case.headers.get(IDEMPOTENCY_KEY)
    if value is None or (len(value) <= 255 and _VALID_IDEMPOTENCY_KEY.fullmatch(value)):
        case.headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())


def _drop_valid_cursor(case: Case[Any]) -> None:
    # A cursor that matches its pattern is still a 422 unless the API signed it: drop it.
    # Cursors that break the pattern stay, as negative data.
    query = case.query or {}
    cursor = query.get("cursor")
    schema_valid = isinstance(cursor, str) and len(cursor) <= MAX_CURSOR_LENGTH
    if schema_valid and re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", str(cursor)):
        case.query = {name: value for name, value in query.items() if name != "cursor"}


def _report_range_is_valid(query: dict[str, Any]) -> bool:
    try:
        end = date.fromisoformat(query["to"]) if "to" in query else date.today()
        start = (
            date.fromisoformat(query["from"])
            if "from" in query
            else max(reports.FIRST_DAY, end - timedelta(days=DEFAULT_DAYS - 1))
        )
        reports.check_range(start, end)
    except (ValueError, InvalidReportInput):
        return False
    return True


def _in_day_range(value: Any) -> bool:
    try:
        return reports.FIRST_DAY <= date.fromisoformat(value) <= reports.LAST_DAY
    except (TypeError, ValueError):
        return False


def _is_seeded_handle(name: Any) -> bool:
    try:
        return isinstance(name, str) and normalize_handle_name(name) == SEEDED_HANDLE
    except InvalidHandle:
        return False


def _page_of_the_handle(case: Case[Any], body: dict[str, Any]) -> dict[str, Any]:
    # A route's (or a default) page must be one of the handle's own pages: the seeded handle
    # has `free-guide`; another handle's route goes to a URL instead.
    name = (case.path_parameters or {}).get("name")
    key = "page" if case.path == ROUTES_PATH else "default_page"
    if body.get(key) is None:
        return body
    if _is_seeded_handle(name):
        return {**body, key: SEEDED_PAGE}
    if key == "page":
        return {**{k: v for k, v in body.items() if k != "page"}, "url": SHOP_URL}
    return {k: v for k, v in body.items() if k != key}


def _gift_that_suits_its_kind(body: dict[str, Any]) -> dict[str, Any]:
    # A gift's value must suit its kind (a url gift a link, a code one line of 100 characters,
    # a text at most 5,000 characters): a gift that is set gets the example of its kind. No
    # kind and no value is "no gift" (POST) or "unchanged" (PATCH); a value alone is a text.
    kind, value = body.get("gift_kind"), body.get("gift_value")
    if kind is None and (value is None or not value.strip()):
        return body
    kind = kind or "text"
    return {**body, "gift_kind": kind, "gift_value": GIFT_VALUES[kind]}


def _distinct_field_keys(body: dict[str, Any]) -> dict[str, Any]:
    # A page's custom fields have distinct keys (the later of two is dropped).
    fields = body.get("custom_fields")
    if not isinstance(fields, list):
        return body
    seen: set[Any] = set()
    kept = []
    for field in fields:
        key = field.get("key") if isinstance(field, dict) else None
        if key not in seen:
            seen.add(key)
            kept.append(field)
    return {**body, "custom_fields": kept}


def _stored_page(slug: str) -> dict[str, Any] | None:
    engine = create_engine(f"sqlite:///{DATA_DIR / 'test.db'}")
    try:
        with Session(engine) as session:
            page = session.scalar(select(Page).where(Page.slug == slug.strip().lower()))
            if page is None:
                return None
            return {attr.key: getattr(page, attr.key) for attr in inspect(Page).column_attrs}
    finally:
        engine.dispose()


def _page_weighs_under_30_kb(case: Case[Any], body: dict[str, Any]) -> bool:
    """Whether the landing page the request makes stays under 30 KB, measured as the page
    service measures it (the preview plus its margin); True when there is no such page."""
    try:
        if case.method.upper() == "POST":
            data = PageCreateRequest.model_validate(body).to_create()
            values = data.model_dump(exclude={"gift_kind", "gift_file_name"})
            values.update(gift_kind=data.gift_kind or "text", consent_version=1, status="draft")
        else:
            stored = _stored_page(str((case.path_parameters or {}).get("slug", "")))
            if stored is None:
                return True
            changes = PageUpdateRequest.model_validate(body).to_update()
            values = {
                **stored,
                **{
                    name: value
                    for name, value in changes.model_dump(
                        exclude_unset=True, exclude={"gift_kind", "gift_value", "gift_file_name"}
                    ).items()
                    if value is not None or name in CLEARABLE
                },
            }
    except ValidationError:
        return True  # refused for another reason, which the checks judge
    values["theme"] = str(values["theme"])
    size = len(render_preview(Page(**values)).encode("utf-8")) + pages.PAGE_SIZE_MARGIN
    return size < pages.MAX_PAGE_BYTES


def _page_under_30_kb(case: Case[Any], body: dict[str, Any]) -> dict[str, Any]:
    # The landing page stays under 30 KB (HTML and CSS, as rendered): a request that would
    # make it heavier loses its body and custom fields, and if that is not enough, every
    # field the page can do without.
    if _page_weighs_under_30_kb(case, body):
        return body
    lighter = {**body, "body": "", "custom_fields": []}
    if _page_weighs_under_30_kb(case, lighter):
        return lighter
    essential = {"handle", "slug", "title"} if case.method.upper() == "POST" else set()
    return {k: v for k, v in body.items() if k in essential}


def _obey_rules_openapi_cannot_state(case: Case[Any]) -> None:
    """Make a schema-valid request also valid for the rules of the data behind the API, which
    OpenAPI cannot state, so `positive_data_acceptance` judges everything else:

    - a report covers 1970..2100, `from` before `to`, at most `MAX_RANGE_DAYS` days;
    - a snapshot's date lies in 1970..2100;
    - a lead's custom `fields` are the ones its page has (the seeded page has `company`);
    - a webhook URL must resolve to a public address (the test machine has no DNS);
    - a route's page, and a handle's default page, is one of the handle's own pages;
    - a page's gift value suits its gift kind, its custom fields' keys differ, and its
      landing page stays under 30 KB;
    - a new handle's name is not a reserved word (`g`, `admin`, … in any case);
    - a page's thank-you address names a public host (the test machine has no DNS).

    Negative requests are left alone: each of these rules only adds a reason to refuse them.
    """
    path = case.path
    if path in REPORT_PATHS and case.query and not _report_range_is_valid(case.query):
        case.query = {k: v for k, v in case.query.items() if k not in {"from", "to"}}
    body = case.body
    if path == "/api/v1/social-metrics" and case.method == "POST" and isinstance(body, list):
        case.body = [
            {**item, "date": "2026-11-21"}
            if isinstance(item, dict) and not _in_day_range(item.get("date"))
            else item
            for item in body
        ]
    fields = body.get("fields") if isinstance(body, dict) else None
    posts_a_lead = path == "/api/v1/leads" and case.method == "POST"
    if posts_a_lead and isinstance(body, dict) and isinstance(fields, dict):
        case.body = {**body, "fields": {k: v for k, v in fields.items() if k in SEEDED_FIELDS}}
    if path.startswith("/api/v1/webhooks") and isinstance(body, dict) and "url" in body:
        case.body = {**body, "url": PUBLIC_WEBHOOK_URL}
    writes_handle = path == ROUTES_PATH or (
        path == "/api/v1/handles/{name}" and case.method == "PATCH"
    )
    if writes_handle and isinstance(body, dict):
        case.body = _page_of_the_handle(case, body)
    if path == "/api/v1/handles" and case.method.upper() == "POST" and isinstance(body, dict):
        name = body.get("name")
        if isinstance(name, str) and handle_key(name) in RESERVED_HANDLES:
            case.body = {**body, "name": f"{handle_key(name)}0"}
    if (case.method.upper(), path) in PAGE_WRITES and isinstance(body, dict):
        if isinstance(body.get("thank_you_url"), str):
            body = {**body, "thank_you_url": "https://example.com/thanks"}
        body = _distinct_field_keys(_gift_that_suits_its_kind(body))
        case.body = _page_under_30_kb(case, body)


schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP
RUN_KEY: dict[str, str] = {}


@schema.auth(refresh_interval=None)
class RunKey:
    """The run's `admin` key, as Schemathesis' own auth: requests that test a missing or wrong
    `Authorization` go without it (and must get 401), and `ignored_auth` knows what to remove."""

    def get(self, case: Case[Any], context: AuthContext) -> str | None:
        return RUN_KEY.get("secret")  # None while collecting, before `seeded` issued it

    def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
        case.headers.update(bearer(data))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # The same cases on every run (CI stays green or red for a reason), and no example
    # database written into the working tree.
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_its_openapi_contract(case: Case[Any], seeded: Seeded) -> None:
    # Assigning (not mutating) the case's containers makes Schemathesis re-check whether the
    # request is still negative or positive before judging the answer.
    if case.method.upper() in WRITE_METHODS:
        _fresh_idempotency_key(case)
    _drop_valid_cursor(case)
    if case.meta is not None and case.meta.generation.mode.is_positive:
        _obey_rules_openapi_cannot_state(case)
    if case.path == REVOKE_PATH and (case.path_parameters or {}).get("key_id") == seeded.key_id:
        # Revoking the run's own key would turn every later request into a 401.
        case.path_parameters = {**(case.path_parameters or {}), "key_id": "0"}
    case.call_and_validate(base_url="http://testserver")
