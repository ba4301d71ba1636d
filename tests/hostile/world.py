"""The world the hostile cases run against: one app on one database of a backend, seeded once per
test module, and the checks every case shares (what the database holds before and after, what
was logged).

The world is two handles, `anna` and `bob`, each with a published page, leads, a route, an API
key of its own and a webhook endpoint with one delivery; `anna` also has a page with a file gift
and one without double opt-in. One admin account signs in with a session cookie the app issued.

Every case runs inside a savepoint of the module's transaction, rolled back afterwards, so each
starts from the same world whatever the one before it did; the database's whole content (every
row of every table) is compared before and after, so "nothing written" means exactly that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import ColumnElement, Select, Table, Text, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import app.models  # noqa: F401  (every table, for the snapshot)
from app.admin.sessions import LOGIN_COOKIE, SESSION_COOKIE, SessionCodec
from app.api_keys import service as api_keys
from app.config import Settings
from app.connections import service as connections
from app.connections.crypto import cipher_for as connection_cipher_for
from app.db import Base, Database
from app.leads.tokens import DAY, LeadTokens
from app.links import service as links
from app.links.attribution import sign_attribution
from app.pages import service as pages
from app.pages.schemas import PageCreate
from app.signing import Signer
from app.users import service as users
from app.users.models import Role
from app.webhooks import service as webhooks
from app.webhooks.signing import cipher_for
from tests.apps import build_app
from tests.databases import TEST_SECRET, DatabaseUnderTest, make_settings
from tests.factories import OWNER_EMAIL, OWNER_PASSWORD, add_lead, issue_key
from tests.hostile.cases import FORGED_SESSIONS

__all__ = ["PEER", "Snapshot", "World", "open_world", "problems_in_log"]

PEER = ("203.0.113.9", 5000)
"""The TCP peer of every request: a public address, never a trusted proxy."""
GENEROUS = "100000/minute"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"

# A day's visitor salt is written on the day's first visit, and a key records when it was last
# used: neither is something a request "produced".
VOLATILE_TABLES = frozenset({"visitor_salts"})
VOLATILE_COLUMNS = frozenset({("api_keys", "last_used_at")})

Snapshot = dict[str, frozenset[str]]
"""Every row of every table (as one line of text), by table name."""


def _rows_as_text(table: Table) -> Select[str, str]:
    """`(table name, the row's columns as text joined by "|")` for every row of `table`."""
    columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
    text: ColumnElement[str] = func.coalesce(cast(columns[0], Text), "-")
    for column in columns[1:]:
        text = text + literal("|") + func.coalesce(cast(column, Text), "-")
    return select(literal(table.name).label("t"), text.label("r"))


# One statement for the whole database: the snapshot runs after every case, and a round trip
# per table made it the largest cost of the suite.
_SNAPSHOT = union_all(
    *[
        _rows_as_text(table)
        for table in Base.metadata.sorted_tables
        if table.name not in VOLATILE_TABLES
    ]
)


@dataclass
class World:
    """The seeded app of one backend, and what a case needs to address it."""

    backend: str
    client: httpx.AsyncClient
    app: Any
    connection: AsyncConnection
    database: Database
    values: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    baseline: Snapshot = field(default_factory=dict)
    """The database as seeded, which every case starts from (each is rolled back)."""

    @property
    def tokens(self) -> LeadTokens:
        tokens: LeadTokens = self.app.state.lead_links.tokens
        return tokens

    @property
    def codec(self) -> SessionCodec:
        codec: SessionCodec = self.app.state.admin_sessions
        return codec

    @property
    def signer(self) -> Signer:
        signer: Signer = self.app.state.one_link.signer
        return signer

    def fill(self, text: str) -> str:
        """`text` with every `{name}` of `values` replaced (other braces are left alone)."""
        for name, value in self.values.items():
            text = text.replace("{" + name + "}", value)
        return text

    def attribution(self, page: str = "guide", *, age: float = 5) -> str:
        """The signed form field of a visit to `page`, rendered `age` seconds ago (more than
        the 2 s a person needs to fill the form in)."""
        handle_id, page_id = self.values[f"{page}_handle_id"], self.values[f"{page}_page_id"]
        token = sign_attribution(
            self.signer,
            handle_id=int(handle_id),
            page_id=int(page_id),
            route_id=None,
            variant=None,
            source="instagram",
            medium=None,
            campaign=None,
            visit_ref=None,
        )
        values, issued = self.signer.unsign_fields(token)
        return self.signer.sign_fields(values, now=issued - age)

    def session_cookie(self) -> str:
        """The admin's session cookie, as the sign-in form would have set it."""
        return self.values["session"]

    def admin_headers(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.session_cookie()}"}

    def csrf_token(self) -> str:
        return self.codec.csrf_token(self.session_cookie())

    async def snapshot(self) -> Snapshot:
        """Every row of every table (the world is small: a few dozen rows)."""
        rows: dict[str, set[str]] = {}
        result = await self.connection.execute(_SNAPSHOT)
        for table, text in result.all():
            rows.setdefault(str(table), set()).add(str(text))
        return {table: frozenset(found) for table, found in rows.items()}

    @asynccontextmanager
    async def variant(
        self, *, peer: tuple[str, int] = PEER, **overrides: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        """A client of another app on this world's database (and the app), with some settings
        changed (rate limits, trusted proxies) and requests from `peer`."""
        settings: Settings = self.app.state.settings
        app = build_app(settings.model_copy(update=overrides), database=self.database)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=peer)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c, app

    def forget_caches(self) -> None:
        """Drop the one link's cached pages, so a rolled-back change is not served on."""
        self.app.state.one_link.resolver.invalidate()


def changed_tables(before: Snapshot, after: Snapshot) -> dict[str, str]:
    """The tables whose rows differ, each with a short account of how."""
    changes: dict[str, str] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, frozenset()), after.get(name, frozenset())
        if old != new:
            changes[name] = f"+{len(new - old)} -{len(old - new)} rows"
    return changes


def problems_in_log(records: list[logging.LogRecord]) -> list[str]:
    """Log lines a hostile request must not cause: errors, tracebacks, and a line that a value
    could have split in two (a CR or LF in the message)."""
    problems = []
    for record in records:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            problems.append(f"{record.levelname} {record.name}: {message[:300]}")
        elif record.exc_info:
            problems.append(f"traceback in {record.name}: {message[:300]}")
        if "\n" in message or "\r" in message:
            problems.append(f"line break in a log line of {record.name}: {message[:300]!r}")
    return problems


async def _seed(session: AsyncSession, settings: Settings, tokens: LeadTokens) -> dict[str, str]:
    """The world's rows (flushed into the module's transaction); returns their ids and tokens."""
    anna = await links.create_handle(session, "anna")
    bob = await links.create_handle(session, "bob")
    guide = await pages.create_page(
        session,
        anna,
        PageCreate(
            slug="guide",
            title="The guide",
            gift_kind="code",
            gift_value="WELCOME10",
            gift_title="10% off",
            consent_text="Email me the code.",
            custom_fields=[{"key": "company", "label": "Company", "type": "text"}],
        ),
    )
    await pages.publish_page(session, guide)
    instant = await pages.create_page(
        session,
        anna,
        PageCreate(slug="instant", title="Instant", gift_kind="code", gift_value="NOW5"),
    )
    instant.double_opt_in = False
    await pages.publish_page(session, instant)
    stored = await pages.store_gift_file(session, settings, PDF, "guide.pdf")
    files = await pages.create_page(
        session,
        anna,
        PageCreate(
            slug="files",
            title="Files",
            gift_kind="file",
            gift_value=stored,
            gift_file_name="guide.pdf",
        ),
    )
    await pages.publish_page(session, files)
    bob_page = await pages.create_page(
        session, bob, PageCreate(slug="bob-guide", title="Bob's guide")
    )
    await pages.publish_page(session, bob_page)

    anna_lead = await add_lead(session, guide, "fan@example.com", name="Fan")
    pending = await add_lead(session, guide, "pending@example.com", status="pending")
    gone = await add_lead(session, guide, "gone@example.com", status="unsubscribed")
    file_lead = await add_lead(session, files, "files@example.com")
    instant_lead = await add_lead(session, instant, "instant@example.com")
    bob_lead = await add_lead(session, bob_page, "other@example.com", name="Other")

    values: dict[str, str] = {
        "anna_handle": anna.name,
        "bob_handle": bob.name,
        "bob_slug": bob_page.slug,
        "anna_lead": str(anna_lead.id),
        "bob_lead": str(bob_lead.id),
        "pending_lead": str(pending.id),
        "gone_lead": str(gone.id),
        "stored_gift": stored,
        "confirm": tokens.confirm(pending.id),
        "confirm_gone": tokens.confirm(gone.id),
        "confirm_missing": tokens.confirm(987654321),
        "unsubscribe": tokens.unsubscribe(anna_lead.id),
        "unsubscribe_missing": tokens.unsubscribe(987654321),
        "gift": tokens.gift(anna_lead.id),
        "gift_file": tokens.gift(file_lead.id),
        "gift_missing": tokens.gift(987654321),
        # The thank-you step's token names the lead that just opted in (a page without double
        # opt-in shows its gift there).
        "thanks": tokens.thanks(instant_lead.id),
    }
    for name, page in (("guide", guide), ("instant", instant), ("bob", bob_page)):
        values[f"{name}_page_id"] = str(page.id)
        values[f"{name}_handle_id"] = str(page.handle_id)
    for name, handle, page in (("anna", anna, guide), ("bob", bob, bob_page)):
        route = await links.add_route(session, handle, source="youtube", page_slug=page.slug)
        endpoint, _secret = await webhooks.create_endpoint(
            session,
            url=f"https://93.184.215.14/hooks/{name}",
            event_types=[],
            description=name,
            visible=frozenset({handle.id}),
            cipher=cipher_for(TEST_SECRET),
            allow_private=False,
        )
        delivery = await webhooks.ping(session, endpoint.id, visible=None)
        connection, _made = await connections.create_connection(
            session,
            provider="stripe",
            label=f"{name} shop",
            handle_ids=frozenset({handle.id}),
            secret="whsec_" + "c" * 32,
            options={},
            created_by=None,
            cipher=connection_cipher_for(TEST_SECRET),
        )
        values[f"{name}_connection"] = str(connection.id)
        email_tool, _made = await connections.create_connection(
            session,
            provider="mailchimp",
            label=f"{name} list",
            handle_ids=frozenset({handle.id}),
            secret="0" * 32 + "-us21",
            options={"list_id": "a1b2c3d4e5", "gift_list": False},
            created_by=None,
            cipher=connection_cipher_for(TEST_SECRET),
        )
        values[f"{name}_email_tool"] = str(email_tool.id)
        values[f"{name}_route"] = str(route.id)
        values[f"{name}_hook"] = str(endpoint.id)
        values[f"{name}_delivery"] = str(delivery.id)
    owner = await users.create_user(session, OWNER_EMAIL, OWNER_PASSWORD)
    anna_owner = await users.create_user(
        session, "anna.owner@example.com", OWNER_PASSWORD, role=Role.OWNER,
        handle_ids=[anna.id],
    )  # fmt: skip
    values["owner_id"] = str(owner.id)
    values["owner_version"] = str(owner.session_version)
    values["anna_owner_id"] = str(anna_owner.id)
    values["confirm_done"] = tokens.confirm(anna_lead.id)
    values["unsubscribe_gone"] = tokens.unsubscribe(gone.id)
    for name, scopes, handles in (
        ("admin", ["admin"], ()),
        ("anna_admin", ["admin"], (anna,)),
        ("anna_rw", ["leads:read", "leads:write"], (anna,)),
        ("anna_pages", ["pages:write"], (anna,)),
        ("anna_reports", ["reports:read"], (anna,)),
    ):
        values[f"key_{name}"] = await issue_key(session, scopes, handles)
    found = await api_keys.find_active_key(session, values["key_admin"])
    assert found is not None
    values["admin_key_id"] = str(found.id)
    values.update(_forged_links(int(values["anna_lead"]), int(values["bob_lead"]), instant_lead.id))
    await session.flush()
    return values


def _flip(text: str, index: int) -> str:
    """`text` with the base64url character at `index` changed to another one."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def _forged_links(lead_id: int, other_lead_id: int, instant_lead_id: int) -> dict[str, str]:
    """Tokens an attacker could make of genuine ones: a character changed in the signature or
    the body, one lead's body under another's signature, no dot, another instance's secret,
    and genuine ones past their age (confirm 14 days, gift 30) or years old (unsubscribe)."""
    now = time.time()
    values = {}
    for purpose in ("confirm", "unsubscribe", "gift"):
        signer = Signer(TEST_SECRET, purpose)
        genuine = signer.sign_fields((str(lead_id),))
        body, signature = genuine.split(".")
        other_body = signer.sign_fields((str(other_lead_id),)).split(".")[0]
        values[f"{purpose}_bad_signature"] = _flip(genuine, len(genuine) - 2)
        values[f"{purpose}_bad_body"] = _flip(genuine, 0)
        values[f"{purpose}_spliced"] = f"{other_body}.{signature}"
        values[f"{purpose}_no_dot"] = body + signature
        values[f"{purpose}_other_secret"] = Signer(
            "another-secret-" + "y" * 40, purpose
        ).sign_fields((str(lead_id),))
    values["confirm_expired"] = Signer(TEST_SECRET, "confirm").sign_fields(
        (str(lead_id),), now=now - 15 * DAY
    )
    values["gift_expired"] = Signer(TEST_SECRET, "gift").sign_fields(
        (str(lead_id),), now=now - 31 * DAY
    )
    values["unsubscribe_old"] = Signer(TEST_SECRET, "unsubscribe").sign_fields(
        (str(lead_id),), now=now - 3 * 365 * DAY
    )
    thanks = Signer(TEST_SECRET, "thanks").sign_fields((str(instant_lead_id),))
    values["thanks_bad_signature"] = _flip(thanks, len(thanks) - 2)
    return values


def _sessions(codec: SessionCodec, values: dict[str, str]) -> dict[str, str]:
    """The admin's and the restricted owner's genuine session cookies and their CSRF tokens,
    the pre-sign-in cookie of a browser on the sign-in form, and forged session cookies (each
    with the CSRF token it would have, as if the attacker could compute it)."""
    owner, version = int(values["owner_id"]), int(values["owner_version"])
    session = codec.issue(owner, version)
    body, signature = session.split(".")
    nonce = codec.new_login_nonce()
    made = {
        "session": session,
        "anna_owner_session": codec.issue(int(values["anna_owner_id"]), 1),
        "login_cookie": f"{LOGIN_COOKIE}={nonce}",
        "login_csrf": codec.csrf_token(nonce),
        "session_unsigned": body + "." + "A" * len(signature),
        "session_other_secret": SessionCodec("another-secret-" + "y" * 40, "http://t").issue(
            owner, version
        ),
        "session_expired": codec.issue(owner, version, now=time.time() - 8 * DAY),
        "session_old_version": codec.issue(owner, version + 1),
        "session_user_missing": codec.issue(987654321, 1),
        "session_tampered": f"{codec.issue(int(values['anna_owner_id']), 1).split('.')[0]}."
        f"{signature}",
    }
    made["anna_owner_csrf"] = codec.csrf_token(made["anna_owner_session"])
    for name, cookie in FORGED_SESSIONS.items():
        filled = cookie
        for key, value in made.items():
            filled = filled.replace("{" + key + "}", value)
        filled = filled.replace("{confirm}", values["confirm"])
        made[f"csrf_for:{name}"] = codec.csrf_token(filled)
    return made


@asynccontextmanager
async def open_world(
    under_test: DatabaseUnderTest, data_dir: Path, **overrides: Any
) -> AsyncIterator[World]:
    """The seeded app on `under_test`, inside a transaction rolled back when the block ends."""
    overrides.setdefault("optin_rate_per_ip", GENEROUS)
    overrides.setdefault("optin_rate_per_email", GENEROUS)
    overrides.setdefault("login_rate_per_ip", GENEROUS)
    overrides.setdefault("login_rate_per_email", GENEROUS)
    overrides.setdefault("login_rate_per_email_all_clients", GENEROUS)
    overrides.setdefault("base_url", "http://testserver")
    settings = make_settings(data_dir, under_test.settings.effective_database_url, **overrides)
    async with under_test.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            async with AsyncSession(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            ) as session:
                values = await _seed(session, settings, LeadTokens(TEST_SECRET))
                await session.commit()
            database = Database(connection, owns_engine=False)
            app = build_app(settings, database=database)
            async with app.router.lifespan_context(app):
                values.update(_sessions(app.state.admin_sessions, values))
                transport = httpx.ASGITransport(app=app, client=PEER)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as client:
                    world = World(under_test.backend, client, app, connection, database, values)
                    world.keys = {
                        name[4:]: value for name, value in values.items() if name.startswith("key_")
                    }
                    world.baseline = await world.snapshot()
                    yield world
        finally:
            await transaction.rollback()


def header_map(response: httpx.Response) -> Mapping[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}
