"""The hostile-input tables: every case is data (what is sent, by whom, and what must and must
not come of it), run by tests/hostile/test_*.py against the seeded world of world.py.

A case names its expected status exactly, the tables it may change (none unless it says so:
every row of every table is compared before and after), the field a 422 must name, the exact
`Location` (none unless it says so) and text the answer must not contain. `{name}` in a path,
form, body or header is filled from the world (`{anna_lead}`, `{confirm}`, `{attribution}` …).

`REQUESTS` run on every database backend of the run. `ONCE` run on SQLite alone: their answer
is decided before any database is asked, or by a rule no backend changes (a CSRF token is
checked after the session's account is read, the same read on both).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

__all__ = [
    "ADMIN_POSTS",
    "ANONYMOUS",
    "BOLA",
    "CSRF",
    "FORGED_SESSIONS",
    "NEW_LEAD",
    "ONCE",
    "OWNER",
    "OWNER_NO_CSRF",
    "REPEAT_OPT_IN",
    "REQUESTS",
    "STORED_IN_LEADS",
    "STORED_IN_PAGES",
    "XSS_IN_LEADS",
    "Case",
    "Stored",
]

ANONYMOUS = "anonymous"
OWNER = "owner"  # the admin's session cookie, and the CSRF token in every form it posts
OWNER_NO_CSRF = "owner-no-csrf"  # the session cookie, the form as given (no token added)

Form = tuple[tuple[str, str], ...]

# What an accepted first opt-in writes: the lead, its consent entry, its confirmation email and
# `lead.created` event (in the outbox), the webhook delivery, and the report rollups.
NEW_LEAD = frozenset(
    {"leads", "consent_events", "outbox", "webhook_deliveries", "lead_rollups", "report_days",
     "report_months"}
)  # fmt: skip
# A known address opting in again: the lead is updated, nothing new is counted; its changed
# newsletter box is announced, and queued for the handle's email tool (Mailchimp in the world).
REPEAT_OPT_IN = frozenset(
    {"leads", "consent_events", "outbox", "webhook_deliveries", "email_tool_syncs"}
)


@dataclass(frozen=True)
class Case:
    """One hostile request and what must (and must not) come of it."""

    id: str
    method: str
    path: str
    status: int
    caller: str = ANONYMOUS  # ANONYMOUS, OWNER, OWNER_NO_CSRF or "key:<name of a world key>"
    form: Form | None = None
    json: Any = field(default=None, hash=False)
    content: bytes | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    changes: frozenset[str] = frozenset()  # the tables it changes: exactly these
    field: str | None = None  # the input a 4xx must name
    location: str | None = None  # the exact Location; None: there must be none
    hidden: tuple[str, ...] = ()  # text the answer must not contain


def _form(**values: str) -> Form:
    return tuple(values.items())


def opt_in(id: str, status: int, *, page: str = "guide", **fields: str) -> Case:
    """A visitor's opt-in on `page`: the signed attribution field of a visit a few seconds old,
    the consent box ticked, the honeypot empty, then `fields` (email first)."""
    values = {"a": "{attribution}", "email": "new@example.com", "consent": "yes", "website": ""}
    values.update({name.replace("__", "-"): value for name, value in fields.items()})
    changes = NEW_LEAD if status == 303 else frozenset()
    location = f"/p/{page}/thanks" if status == 303 else None
    return Case(id, "POST", f"/p/{page}", status, form=tuple(values.items()), changes=changes,
                location=location)  # fmt: skip


def refused_opt_in(id: str, field_name: str, **fields: str) -> Case:
    """An opt-in the form refuses (422) naming `field_name`, writing nothing."""
    return replace(opt_in(id, 422, **fields), field=field_name)


def api(
    id: str, method: str, path: str, status: int, *, key: str = "admin", **options: Any
) -> Case:
    return Case(id, method, path, status, caller=f"key:{key}", **options)


def admin(id: str, method: str, path: str, status: int, **options: Any) -> Case:
    return Case(id, method, path, status, caller=OWNER, **options)


class _Named(Protocol):
    @property
    def id(self) -> str: ...


Named = TypeVar("Named", bound=_Named)


def _ids_unique(cases: Iterable[Named]) -> list[Named]:
    """The cases as a list, after checking that no two have one name (one test id each)."""
    listed = list(cases)
    seen: set[str] = set()
    for case in listed:
        assert case.id not in seen, f"two cases are called {case.id}"
        seen.add(case.id)
    return listed


# --- Open redirects ----------------------------------------------------------------------------

THANK_YOU_URLS = {
    "javascript": "javascript:alert(document.domain)",
    "javascript-mixed-case": "JaVaScRiPt:alert(1)",
    "data-url": "data:text/html,<script>alert(1)</script>",
    "vbscript": "vbscript:msgbox(1)",
    "scheme-relative": "//evil.example/thanks",
    "backslashes": "https:\\\\evil.example\\thanks",
    "single-slash": "https:/evil.example/thanks",
    "no-slashes": "https:evil.example/thanks",
    "plain-http": "http://evil.example/thanks",
    "credentials": "https://good.example@evil.example/thanks",
    "backslash-at": "https://evil.example\\@good.example/",
    "leading-space": " https://evil.example/thanks",
    "tab-inside": "https://evil.example\t/thanks",
    "crlf-header": "https://evil.example/\r\nX-Injected: 1",
    "localhost": "https://localhost/thanks",
    "loopback-literal": "https://127.0.0.1/thanks",
    "loopback-octal": "https://0177.0.0.1/thanks",
    "loopback-circled-digits": "https://\u2460\u2461\u2466.0.0.1/thanks",
    "private-literal": "https://10.0.0.1/thanks",
    "ipv6-loopback": "https://[::1]/thanks",
    "dot-local": "https://printer.local/thanks",
    "single-label": "https://intranet/thanks",
    "over-long": "https://evil.example/" + "a" * 2100,
}
OPEN_REDIRECTS = [
    api(f"thank-you-url-{name}", "PATCH", "/api/v1/pages/guide", 422,
        json={"thank_you_url": url}, field="thank_you_url")
    for name, url in THANK_YOU_URLS.items()
] + [
    api(f"route-target-{name}", "POST", "/api/v1/handles/anna/routes", 422,
        json={"source": "tiktok", "url": url}, field="url")
    for name, url in {
        "javascript": "javascript:alert(1)",
        "scheme-relative": "//evil.example/",
        "data-url": "data:text/html,x",
        "backslashes": "https:\\\\evil.example",
        "crlf": "https://evil.example/\r\nX-Injected: 1",
        "credentials": "https://user:pass@evil.example/",
    }.items()
] + [
    admin("admin-editor-thank-you-javascript", "POST", "/admin/pages/{guide_page_id}", 422,
          form=_form(title="The guide", slug="guide", theme="clean", name_field="optional",
                     gift_kind="code", gift_value="WELCOME10", gift_title="10% off",
                     thank_you_url="javascript:alert(1)"),
          field="thank_you_url"),
    admin("admin-route-target-scheme-relative", "POST", "/admin/handles/anna/routes", 422,
          form=_form(source="tiktok", url="//evil.example/", weight="1"), field="url"),
    # Signing in never goes anywhere but the dashboard, whatever the address says.
    Case("sign-in-ignores-next", "POST", "/admin/login?next=https://evil.example/", 303,
         form=_form(email="owner@example.com", password="correct horse battery staple",
                    csrf_token="{login_csrf}"),
         headers=(("Cookie", "{login_cookie}"),), location="/admin", changes=frozenset({"users"})),
    Case("sign-in-ignores-next-scheme-relative", "POST", "/admin/login?next=//evil.example", 303,
         form=_form(email="owner@example.com", password="correct horse battery staple",
                    csrf_token="{login_csrf}"),
         headers=(("Cookie", "{login_cookie}"),), location="/admin", changes=frozenset({"users"})),
    Case("thanks-ignores-next", "GET", "/p/guide/thanks?next=https://evil.example/", 200),
    # A page asked for without a session goes to the sign-in form, on this site.
    Case("sign-in-redirect-stays-here", "GET", "/admin/leads?next=https://evil.example", 303,
         location="/admin/login"),
]  # fmt: skip

# --- CR/LF, NUL and over-long values in paths, query strings, headers and fields ---------------

INJECT = "%0d%0aSet-Cookie:%20injected=1"
PATHS = [
    Case("path-crlf-one-link", "GET", f"/@anna{INJECT}", 404),
    Case("path-crlf-source", "GET", f"/@anna/ig{INJECT}", 404),
    Case("path-nul-source", "GET", "/@anna/%00", 404),
    Case("path-over-long-source", "GET", "/@anna/" + "a" * 5000, 404),
    Case("path-nul-page", "GET", "/p/guide%00", 404),
    Case("path-crlf-page", "GET", f"/p/guide{INJECT}", 404),
    Case("path-nul-thanks", "GET", "/p/%00/thanks", 404),
    Case("path-crlf-thanks", "GET", f"/p/guide{INJECT}/thanks", 404),
    Case("path-crlf-confirm", "GET", f"/c/{INJECT}", 404),
    Case("path-nul-gift", "GET", "/g/%00", 404),
    Case("path-nul-media", "GET", "/media/%00", 404),
    api("path-nul-api-page", "GET", "/api/v1/pages/%00", 404),
    api("path-crlf-api-page", "GET", f"/api/v1/pages/{INJECT}", 404),
    api("path-nul-api-handle", "GET", "/api/v1/handles/%00", 404),
    api("path-nul-api-handle-patch", "PATCH", "/api/v1/handles/%00", 404,
        json={"display_name": "x"}),
    api("path-nul-api-routes", "POST", "/api/v1/handles/%00/routes", 404,
        json={"source": "tiktok", "page": "guide"}),
    api("path-over-long-api-handle", "GET", "/api/v1/handles/" + "a" * 5000, 404),
    api("path-nul-api-lead", "GET", "/api/v1/leads/%00", 404),
    api("path-huge-api-lead", "GET", "/api/v1/leads/" + "9" * 5000, 404),
    api("path-negative-api-lead", "GET", "/api/v1/leads/-1", 404),
    admin("path-nul-admin-handle", "GET", "/admin/handles/%00", 404),
    admin("path-nul-admin-handle-qr", "GET", "/admin/handles/%00/qr.svg", 404),
    admin("path-huge-admin-lead", "GET", "/admin/leads/" + "9" * 5000, 404),
    admin("path-huge-admin-email", "GET", "/admin/emails/99999999999999999999999", 404),
    admin("path-nul-admin-page", "GET", "/admin/pages/%00", 404),
]  # fmt: skip

QUERIES = [
    Case("query-crlf-source", "GET", f"/@anna?src={INJECT}", 200),
    Case("query-nul-campaign", "GET", "/@anna?utm_campaign=%00%ff&utm_medium=%0a", 200),
    Case("query-many-parameters", "GET", "/@anna?" + "x=1&" * 3000, 200),
    Case("query-over-long-value", "GET", "/@anna?utm_source=" + "a" * 20000, 200),
    Case("query-nul-thanks-token", "GET", "/p/guide/thanks?k=%00", 200),
    Case("query-over-long-thanks-token", "GET", "/p/guide/thanks?k=" + "x" * 10000, 200),
    api("query-nul-handle", "GET", "/api/v1/leads?handle=%00", 404, field="handle"),
    api("query-nul-page", "GET", "/api/v1/leads?page=%00", 404, field="page"),
    api("query-crlf-source-filter", "GET", f"/api/v1/leads?source={INJECT}", 422,
        field="source"),
    api("query-over-long-source-filter", "GET", "/api/v1/leads?source=" + "x" * 5000, 422,
        field="source"),
    api("query-nul-cursor", "GET", "/api/v1/leads?cursor=%00", 422, field="cursor"),
    api("query-nul-date", "GET", "/api/v1/leads?created_after=%00", 422, field="created_after"),
    api("query-date-before-year-one", "GET",
        "/api/v1/leads?created_after=0001-01-01T00:00:00%2B14:00", 422, field="created_after"),
    api("query-date-after-year-9999", "GET",
        "/api/v1/leads/export.csv?updated_after=9999-12-31T23:59:59-14:00", 422,
        field="updated_after"),
    api("query-nul-in-address", "GET", "/api/v1/leads/export?email=a%00@example.com", 422,
        field="email"),
    api("query-crlf-in-address", "GET", "/api/v1/leads/export?email=a%0d%0a@example.com", 422,
        field="email"),
    api("query-unknown-parameter-nul", "GET", "/api/v1/leads?x%00=1", 422),
    api("query-nul-report-date", "GET", "/api/v1/reports/conversion?handle=anna&from=%00", 422,
        field="from"),
    api("query-nul-social-handle", "GET", "/api/v1/social-metrics?handle=%00", 404),
    api("query-nul-deliveries-status", "GET", "/api/v1/webhooks/{anna_hook}/deliveries?status=%00",
        422, field="status"),
    api("query-nul-social-platform", "GET", "/api/v1/social-metrics?handle=anna&platform=%00",
        422, field="platform"),
    api("query-nul-report-source", "GET", "/api/v1/reports/conversion?handle=anna&source=%00",
        422, field="source"),
    api("query-nul-report-page", "GET", "/api/v1/reports/conversion?page=%00", 404),
    api("query-nul-variants-handle", "GET", "/api/v1/reports/variants?handle=%00", 404),
    api("query-nul-pages-filter", "GET", "/api/v1/pages?handle=%00", 404),
    api("query-nul-pages-status", "GET", "/api/v1/pages?status=%00", 422, field="status"),
    admin("query-nul-admin-report-source", "GET", "/admin/report?source=%00&page=%00", 200),
    admin("query-nul-admin-search", "GET", "/admin/leads?q=%00", 200),
    admin("query-over-long-admin-search", "GET", "/admin/leads?q=" + "x" * 5000, 200),
    admin("query-nul-admin-filters", "GET",
          "/admin/leads?handle=%00&page=%00&source=%00&status=%00&from=%00&to=%0a", 200),
    admin("query-nul-admin-export", "GET", "/admin/leads/export.csv?q=%00&handle=%00", 200),
    admin("query-nul-admin-report", "GET", "/admin/report?handle=%00&from=%00&to=%ff", 200),
    admin("query-nul-admin-likes", "GET", "/admin/likes?handle=%00&day=%00", 404),
    admin("query-nul-admin-emails", "GET", "/admin/emails?status=%00&to=%00", 200),
]  # fmt: skip

HEADERS = [
    Case("header-nul-user-agent", "GET", "/@anna", 200, headers=(("User-Agent", "a\x00b"),)),
    Case("header-crlf-referer", "GET", "/@anna", 200,
         headers=(("Referer", "https://t.co/\r\nX-Injected: 1"),)),
    Case("header-over-long-user-agent", "GET", "/@anna", 200,
         headers=(("User-Agent", "Mozilla/5.0 " + "x" * 100_000),)),
    Case("header-nul-session-cookie", "GET", "/admin", 303,
         headers=(("Cookie", "leadlink_session=\x00"),), location="/admin/login"),
    Case("header-nul-bearer", "GET", "/api/v1/leads", 401,
         headers=(("Authorization", "Bearer ll_\x00"),)),
    Case("header-over-long-bearer", "GET", "/api/v1/leads", 401,
         headers=(("Authorization", "Bearer ll_" + "x" * 10_000),)),
    Case("header-crlf-bearer", "GET", "/api/v1/leads", 401,
         headers=(("Authorization", "Bearer ll_x\r\nX-Injected: 1"),)),
    api("header-nul-idempotency-key", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide"},
        headers=(("Idempotency-Key", "k\x00"),), field="Idempotency-Key"),
    api("header-crlf-idempotency-key", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide"},
        headers=(("Idempotency-Key", "k\r\nX-Injected: 1"),), field="Idempotency-Key"),
    api("header-over-long-idempotency-key", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide"},
        headers=(("Idempotency-Key", "k" * 300),), field="Idempotency-Key"),
]  # fmt: skip

FIELDS = [
    refused_opt_in("field-crlf-name", "name", name="Ann\r\nX-Injected: 1"),
    refused_opt_in("field-nul-name", "name", name="Ann\x00"),
    refused_opt_in("field-over-long-name", "name", name="A" * 201),
    refused_opt_in("field-nul-email", "email", email="ann\x00@example.com"),
    refused_opt_in("field-over-long-email", "email", email="a" * 310 + "@example.com"),
    refused_opt_in("field-crlf-custom", "f_company", f_company="ACME\nX-Injected: 1"),
    refused_opt_in("field-over-long-custom", "f_company", f_company="x" * 501),
    opt_in("field-tab-in-name-is-kept", 303, name="Ann\tLee"),
    api("field-crlf-api-name", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide", "name": "Ann\r\nX-Injected: 1"},
        field="name"),
    api("field-crlf-api-custom", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide", "fields": {"company": "A\nB"}},
        field="fields.company"),
    api("field-over-long-api-campaign", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide", "campaign": "c" * 101},
        field="campaign"),
    api("field-crlf-page-title", "PATCH", "/api/v1/pages/guide", 422,
        json={"title": "Guide\r\nX-Injected: 1"}, field="title"),
    api("field-over-long-page-title", "PATCH", "/api/v1/pages/guide", 422,
        json={"title": "t" * 201}, field="title"),
    api("field-nul-page-body", "PATCH", "/api/v1/pages/guide", 422,
        json={"body": "intro\x00"}, field="body"),
    api("field-nul-handle-display-name", "PATCH", "/api/v1/handles/anna", 422,
        json={"display_name": "Anna\x00"}, field="display_name"),
    api("field-crlf-key-name", "POST", "/api/v1/keys", 422,
        json={"name": "CRM\r\nX-Injected: 1", "scopes": ["leads:read"]}, field="name"),
    api("field-crlf-webhook-description", "POST", "/api/v1/webhooks", 422,
        json={"url": "https://93.184.215.14/hook", "description": "a\r\nb"},
        field="description"),
    admin("field-nul-admin-key-name", "POST", "/admin/keys", 422,
          form=_form(name="CRM\x00", scopes="leads:read"), field="name"),
    admin("field-nul-admin-handle-name", "POST", "/admin/handles", 422,
          form=_form(name="new\x00", display_name="New"), field="name"),
    admin("field-nul-admin-new-page-handle", "POST", "/admin/pages/new", 422,
          form=_form(handle="anna\x00", title="New", slug="new-page", theme="clean",
                     name_field="optional"), field="handle"),
    admin("field-nul-admin-default-page", "POST", "/admin/handles/anna/default-page", 422,
          form=_form(page="guide\x00"), field="default_page"),
    admin("field-nul-admin-account-handles", "POST", "/admin/accounts", 422,
          form=_form(email="new.owner@example.com", role="owner", handles="anna\x00"),
          field="handles"),
    admin("field-nul-admin-likes-handle", "POST", "/admin/likes", 404,
          form=_form(handle="anna\x00", date="2026-11-01")),
    admin("field-nul-admin-privacy-erase", "POST", "/admin/leads/privacy/erase", 422,
          form=_form(email="fan\x00@example.com", confirm_email="fan\x00@example.com"),
          field="email"),
    api("field-nul-erasure-address", "POST", "/api/v1/erasures", 422,
        json={"email": "fan\x00@example.com"}, field="email"),
    api("field-nul-social-handle", "POST", "/api/v1/social-metrics", 404,
        json=[{"handle": "anna\x00", "platform": "instagram", "date": "2026-11-01", "likes": 1}]),
    api("field-nul-key-handles", "POST", "/api/v1/keys", 422,
        json={"name": "CRM", "scopes": ["leads:read"], "handles": ["anna\x00"]},
        field="handles.0"),
    api("field-nul-api-lead-page", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide\x00"}, field="page"),
]  # fmt: skip

# --- Email header injection --------------------------------------------------------------------

EMAIL_HEADERS = [
    refused_opt_in("email-header-bcc-in-name", "name",
                   name="Ann\r\nBcc: victim@example.com"),
    refused_opt_in("email-header-lf-in-name", "name", name="Ann\nBcc: victim@example.com"),
    refused_opt_in("email-header-bcc-in-address", "email",
                   email="ann@example.com\r\nBcc: victim@example.com"),
    refused_opt_in("email-header-two-addresses", "email",
                   email="ann@example.com, victim@example.com"),
    refused_opt_in("email-header-display-name", "email",
                   email='"Ann" <ann@example.com>'),
    refused_opt_in("email-header-encoded-word", "email",
                   email="=?utf-8?q?ann=0D=0ABcc:victim@example.com?=@example.com"),
    api("email-header-api-name", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide", "name": "A\r\nBcc: v@example.com"},
        field="name"),
    api("email-header-api-address", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com\r\nBcc: v@example.com", "page": "guide"},
        field="email"),
    api("email-header-gift-subject", "PATCH", "/api/v1/pages/guide", 422,
        json={"gift_subject": "Hi\r\nBcc: victim@example.com"}, field="gift_subject"),
    api("email-header-confirm-subject", "PATCH", "/api/v1/pages/guide", 422,
        json={"confirm_subject": "Hi\nBcc: victim@example.com"}, field="confirm_subject"),
    api("email-header-gift-title", "PATCH", "/api/v1/pages/guide", 422,
        json={"gift_title": "Gift\r\nBcc: victim@example.com"}, field="gift_title"),
    admin("email-header-admin-subject", "POST", "/admin/pages/{guide_page_id}", 422,
          form=_form(title="The guide", slug="guide", theme="clean", name_field="optional",
                     gift_kind="code", gift_value="WELCOME10", gift_title="10% off",
                     confirm_subject="Hi\r\nBcc: victim@example.com"),
          field="confirm_subject"),
]  # fmt: skip

# --- Oversized and deeply nested bodies, too many fields ---------------------------------------

JSON = "application/json"
BODIES = [
    api("body-deeply-nested-array", "POST", "/api/v1/leads", 400,
        content=b"[" * 100_000 + b"]" * 100_000, content_type=JSON),
    api("body-deeply-nested-object", "POST", "/api/v1/leads", 400,
        content=b'{"a":' * 5_000 + b"1" + b"}" * 5_000, content_type=JSON),
    api("body-over-the-api-limit", "POST", "/api/v1/leads", 413,
        content=b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}', content_type=JSON),
    Case("body-over-the-api-limit-unauthenticated", "POST", "/api/v1/webhooks", 413,
         content=b"{" + b" " * (2 * 1024 * 1024) + b"}", content_type=JSON),
    api("body-five-thousand-fields", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide",
              "fields": {f"k{n}": "v" for n in range(5_000)}}, field="fields.k0"),
    api("body-huge-integer", "PATCH", "/api/v1/leads/{anna_lead}", 400,
        content=b'{"status": "customer", "customer_value": ' + b"9" * 5_000 + b"}",
        content_type=JSON),
    api("body-not-a-number", "PATCH", "/api/v1/leads/{anna_lead}", 422,
        content=b'{"status": "customer", "customer_value": NaN}', content_type=JSON,
        field="customer_value"),
    api("body-infinity", "PATCH", "/api/v1/leads/{anna_lead}", 422,
        content=b'{"status": "customer", "customer_value": 1e999}', content_type=JSON,
        field="customer_value"),
    api("body-array-instead-of-object", "POST", "/api/v1/leads", 422, json=["new@example.com"]),
    api("body-null", "POST", "/api/v1/leads", 422, content=b"null", content_type=JSON),
    api("body-empty", "POST", "/api/v1/leads", 422, content=b"", content_type=JSON),
    api("body-json-sent-as-text", "POST", "/api/v1/leads", 422,
        content=b'{"email": "new@example.com", "page": "guide"}', content_type="text/plain"),
    api("body-unknown-field", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide", "is_admin": True}, field="is_admin"),
    api("body-over-long-field-key", "POST", "/api/v1/leads", 422,
        json={"email": "new@example.com", "page": "guide", "fields": {"k" * 1000: "v"}}),
    refused_opt_in("form-thirteen-fields", "form", f_company="x", name="Ann", extra1="1",
                   extra2="2", extra3="3", extra4="4", extra5="5", extra6="6", extra7="7"),
    Case("form-a-thousand-fields", "POST", "/p/guide", 422,
         content=("&".join(f"f{n}=1" for n in range(1000))).encode(),
         content_type="application/x-www-form-urlencoded", field="form"),
    Case("form-over-16-kb", "POST", "/p/guide", 413,
         content=b"email=" + b"a" * 17_000, content_type="application/x-www-form-urlencoded"),
    Case("form-field-twice", "POST", "/p/guide", 422,
         form=(("a", "{attribution}"), ("email", "a@example.com"), ("email", "b@example.com")),
         field="form"),
    Case("form-sent-as-json", "POST", "/p/guide", 422,
         content=b'{"email": "new@example.com"}', content_type=JSON, field="form"),
    Case("form-sent-as-multipart", "POST", "/p/guide", 422,
         content=b"--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@example.com\r\n"
                 b"--x--\r\n", content_type="multipart/form-data; boundary=x", field="form"),
    admin("admin-form-over-16-kb", "POST", "/admin/keys", 413,
          form=_form(name="CRM", scopes="leads:read", padding="x" * 17_000)),
    admin("admin-form-1200-fields", "POST", "/admin/keys", 400,
          form=tuple((f"f{n}", "1") for n in range(1_200))),
    Case("unsubscribe-body-over-1-kb", "POST", "/u/{unsubscribe}", 413,
         content=b"List-Unsubscribe=One-Click" + b"x" * 2_000,
         content_type="application/x-www-form-urlencoded"),
]  # fmt: skip

# --- Invalid UTF-8 and odd Unicode -------------------------------------------------------------

UNICODE = [
    Case("utf8-invalid-form", "POST", "/p/guide", 422,
         content=b"a=x&email=\xff\xfe%40example.com&consent=yes",
         content_type="application/x-www-form-urlencoded", field="form"),
    Case("utf8-invalid-path", "GET", "/p/%ff%fe", 404),
    Case("utf8-invalid-one-link", "GET", "/@%ff", 404),
    Case("utf8-invalid-query", "GET", "/@anna?src=%ff%fe&utm_campaign=%c0%ae", 200),
    api("utf8-invalid-json", "POST", "/api/v1/leads", 400,
        content=b'{"email": "\xff@example.com", "page": "guide"}', content_type=JSON),
    api("utf8-lone-surrogate-json", "POST", "/api/v1/leads", 422,
        content=b'{"email": "new@example.com", "page": "guide", "name": "a\\ud800"}',
        content_type=JSON, field="name"),
    api("utf8-invalid-api-handle", "GET", "/api/v1/handles/%ff", 404),
    opt_in("unicode-rtl-override-in-name-is-kept", 303, name="\u202eevil\u202c Ann"),
    opt_in("unicode-zero-width-joiner-in-name-is-kept", 303, name="Ann \U0001f469\u200d\U0001f4bb"),
    refused_opt_in("unicode-zero-width-space-in-address", "email", email="fa\u200bn@example.com"),
    refused_opt_in("unicode-rtl-override-in-address", "email", email="fan\u202e@example.com"),
    refused_opt_in("unicode-bom-in-address", "email", email="\ufefffan@example.com"),
    # A look-alike domain is another address (and another lead); so is an IDN one.
    opt_in("unicode-homoglyph-domain-is-another-lead", 303, email="fan@ex\u0430mple.com"),
    opt_in("unicode-idn-domain", 303, email="ana@b\u00fccher.de"),
    # Case variants of an address the world knows (fan@example.com) stay that one lead.
    replace(opt_in("unicode-upper-case-address-is-one-lead", 303, email="FAN@EXAMPLE.COM"),
            changes=REPEAT_OPT_IN),
    replace(opt_in("unicode-mixed-case-address-is-one-lead", 303, email="Fan@Example.Com"),
            changes=REPEAT_OPT_IN),
    replace(opt_in("unicode-padded-address-is-one-lead", 303, email="  fan@example.com  "),
            changes=REPEAT_OPT_IN),
    api("unicode-upper-case-address-api-is-one-lead", "POST", "/api/v1/leads", 200,
        json={"email": "FAN@Example.COM", "page": "guide"}),
]  # fmt: skip

# --- Tokens of /c/, /u/, /g/ and the thank-you step --------------------------------------------

CONFIRMED = frozenset(
    {"leads", "consent_events", "outbox", "webhook_deliveries", "lead_rollups", "report_days",
     "report_months"}
)  # fmt: skip
# An unsubscribe updates the lead, writes the ledger, announces `lead.unsubscribed` and leaves
# the counts of the report (its rollups).
UNSUBSCRIBED = CONFIRMED
TOKEN_FORGERIES = {
    "tampered-signature": "{confirm_bad_signature}",
    "tampered-body": "{confirm_bad_body}",
    "spliced": "{confirm_spliced}",
    "no-dot": "{confirm_no_dot}",
    "two-dots": "{confirm}.x",
    "padded": "{confirm}==",
    "trailing-space": "{confirm}%20",
    "unicode": "\u00e9.\u00e9",
    "nul": "%00.%00",
    "over-long": "a" * 4000 + "." + "b" * 2000,
    "empty-parts": ".",
    "other-secret": "{confirm_other_secret}",
}
TOKENS = [
    Case("token-confirm-genuine", "GET", "/c/{confirm}", 200, changes=CONFIRMED),
    Case("token-confirm-replayed", "GET", "/c/{confirm_done}", 200),
    Case("token-confirm-after-unsubscribe", "GET", "/c/{confirm_gone}", 200,
         hidden=("WELCOME10",)),
    Case("token-confirm-expired", "GET", "/c/{confirm_expired}", 404),
    Case("token-confirm-lead-missing", "GET", "/c/{confirm_missing}", 404),
    Case("token-confirm-with-unsubscribe-token", "GET", "/c/{unsubscribe}", 404),
    Case("token-confirm-with-gift-token", "GET", "/c/{gift}", 404),
    Case("token-confirm-with-thanks-token", "GET", "/c/{thanks}", 404),
    Case("token-confirm-with-session-cookie", "GET", "/c/{session}", 404),
    Case("token-confirm-with-attribution", "GET", "/c/{attribution}", 404),
    *[Case(f"token-confirm-{name}", "GET", f"/c/{token}", 404)
      for name, token in TOKEN_FORGERIES.items()],
    Case("token-unsubscribe-page", "GET", "/u/{unsubscribe}", 200),
    Case("token-unsubscribe-genuine", "POST", "/u/{unsubscribe}", 200, changes=UNSUBSCRIBED),
    Case("token-unsubscribe-one-click", "POST", "/u/{unsubscribe}", 200,
         content=b"List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded",
         changes=UNSUBSCRIBED),
    Case("token-unsubscribe-years-old", "POST", "/u/{unsubscribe_old}", 200,
         changes=UNSUBSCRIBED),
    Case("token-unsubscribe-replayed", "POST", "/u/{unsubscribe_gone}", 200),
    Case("token-unsubscribe-lead-missing", "POST", "/u/{unsubscribe_missing}", 404),
    Case("token-unsubscribe-with-confirm-token", "POST", "/u/{confirm}", 404),
    Case("token-unsubscribe-with-confirm-token-get", "GET", "/u/{confirm}", 404),
    *[Case(f"token-unsubscribe-{name}", "POST",
           "/u/" + token.replace("{confirm", "{unsubscribe"), 404)
      for name, token in TOKEN_FORGERIES.items()],
    Case("token-gift-genuine", "GET", "/g/{gift}", 200),
    Case("token-gift-file", "GET", "/g/{gift_file}", 200),
    Case("token-gift-expired", "GET", "/g/{gift_expired}", 404, hidden=("WELCOME10",)),
    Case("token-gift-lead-missing", "GET", "/g/{gift_missing}", 404),
    Case("token-gift-with-confirm-token", "GET", "/g/{confirm}", 404),
    Case("token-gift-with-unsubscribe-token", "GET", "/g/{unsubscribe}", 404),
    *[Case(f"token-gift-{name}", "GET", "/g/" + token.replace("{confirm", "{gift"), 404,
           hidden=("WELCOME10",))
      for name, token in TOKEN_FORGERIES.items()],
    Case("token-thanks-genuine", "GET", "/p/instant/thanks?k={thanks}", 200),
    Case("token-thanks-other-page", "GET", "/p/guide/thanks?k={thanks}", 200,
         hidden=("NOW5",)),
    Case("token-thanks-tampered", "GET", "/p/instant/thanks?k={thanks_bad_signature}", 200,
         hidden=("NOW5",)),
    Case("token-thanks-with-gift-token", "GET", "/p/instant/thanks?k={gift}", 200,
         hidden=("NOW5",)),
    Case("token-invitation-garbage", "GET", "/admin/invite/garbage", 404),
    Case("token-invitation-nul", "GET", "/admin/invite/%00.%00", 404),
    Case("token-invitation-with-confirm-token", "GET", "/admin/invite/{confirm}", 404),
    # Without the pre-sign-in cookie of the page it came from, the form is refused first.
    Case("token-invitation-post-garbage", "POST", "/admin/invite/garbage", 403,
         form=_form(password="a new long password", confirm="a new long password")),
]  # fmt: skip

# --- Forged session cookies --------------------------------------------------------------------

FORGED_SESSIONS = {
    "garbage": "garbage",
    "empty": "",
    "shaped-but-unsigned": "{session_unsigned}",
    "other-secret": "{session_other_secret}",
    "expired": "{session_expired}",
    "old-version": "{session_old_version}",
    "user-missing": "{session_user_missing}",
    "tampered-user": "{session_tampered}",
    "confirm-token": "{confirm}",
    "over-long": "x" * 8000,
}
SESSIONS = [
    case
    for name, cookie in FORGED_SESSIONS.items()
    for case in (
        Case(f"session-{name}-dashboard", "GET", "/admin", 303,
             headers=(("Cookie", f"leadlink_session={cookie}"),), location="/admin/login"),
        Case(f"session-{name}-post", "POST", "/admin/keys", 403,
             headers=(("Cookie", f"leadlink_session={cookie}"),),
             form=_form(name="Backdoor", scopes="admin", csrf_token=f"{{csrf_for:{name}}}")),
    )
] + [
    Case("session-restricted-owner-accounts", "GET", "/admin/accounts", 404,
         headers=(("Cookie", "leadlink_session={anna_owner_session}"),)),
    Case("session-restricted-owner-new-account", "POST", "/admin/accounts", 404,
         headers=(("Cookie", "leadlink_session={anna_owner_session}"),),
         form=_form(email="mallory@example.com", role="admin",
                    csrf_token="{anna_owner_csrf}")),
]  # fmt: skip

# --- Path traversal ----------------------------------------------------------------------------

TRAVERSAL = [
    api("traversal-gift-value", "PATCH", "/api/v1/pages/guide", 422,
        json={"gift_kind": "file", "gift_value": "../../../etc/passwd"}, field="gift_kind"),
    api("traversal-gift-value-new-page", "POST", "/api/v1/pages", 422,
        json={"handle": "anna", "slug": "stolen", "title": "x", "gift_kind": "file",
              "gift_value": "../../secret.key"}),
    api("traversal-hero-image", "PATCH", "/api/v1/pages/guide", 422,
        json={"hero_image_url": "/media/../../secret.key"}, field="hero_image_url"),
]  # fmt: skip
MEDIA_TRAVERSAL = [
    Case(f"traversal-media-{name}", "GET", f"/media/{path}", 404)
    for name, path in {
        "encoded-slashes": "..%2f..%2fsecret.key",
        "encoded-dots": "%2e%2e%2f%2e%2e%2fsecret.key",
        "double-encoded": "%252e%252e%252fsecret.key",
        "backslashes": "..%5c..%5csecret.key",
        "overlong-utf8-dots": "%c0%ae%c0%ae%c0%afsecret.key",
        "absolute": "%2fetc%2fpasswd",
        "nul-suffix": "0123456789abcdef0123456789abcdef.png%00.txt",
        "dot-dot": "..",
        "gift-folder": "..%2fgifts%2f{stored_gift}",
    }.items()
] + [
    Case("traversal-one-link-source", "GET", "/@anna/..%2f..%2fadmin", 404),
    Case("traversal-page-slug", "GET", "/p/..%2fadmin", 404),
]  # fmt: skip

# --- API keys of another handle (BOLA) ---------------------------------------------------------

# What an answer to anna's key must not reveal of bob's lead (its page's slug is the request's
# own input, which a 404 may name).
BOB_SECRETS = ("other@example.com", "Other")
BOLA = [
    api(f"bola-{name}", method, path, status, key=key, json=body, hidden=BOB_SECRETS)
    for name, method, path, body, key, status in [
        ("lead-get", "GET", "/api/v1/leads/{bob_lead}", None, "anna_admin", 404),
        ("lead-patch", "PATCH", "/api/v1/leads/{bob_lead}", {"status": "customer"},
         "anna_rw", 404),
        ("lead-delete", "DELETE", "/api/v1/leads/{bob_lead}", None, "anna_rw", 404),
        ("leads-by-page", "GET", "/api/v1/leads?page=bob-guide", None, "anna_rw", 404),
        ("leads-by-handle", "GET", "/api/v1/leads?handle=bob", None, "anna_rw", 404),
        ("leads-csv-by-handle", "GET", "/api/v1/leads/export.csv?handle=bob", None,
         "anna_rw", 404),
        ("leads-ndjson-by-page", "GET", "/api/v1/leads/export.ndjson?page=bob-guide", None,
         "anna_rw", 404),
        ("lead-create-on-page", "POST", "/api/v1/leads",
         {"email": "planted@example.com", "page": "bob-guide"}, "anna_rw", 404),
        ("page-get", "GET", "/api/v1/pages/{bob_slug}", None, "anna_pages", 404),
        ("page-patch", "PATCH", "/api/v1/pages/{bob_slug}", {"title": "Owned"}, "anna_pages", 404),
        ("page-archive", "POST", "/api/v1/pages/{bob_slug}/archive", None, "anna_pages", 404),
        ("page-publish", "POST", "/api/v1/pages/{bob_slug}/publish", None, "anna_pages", 404),
        ("page-create-on-handle", "POST", "/api/v1/pages",
         {"handle": "bob", "slug": "planted", "title": "x"}, "anna_pages", 404),
        ("handle-get", "GET", "/api/v1/handles/{bob_handle}", None, "anna_pages", 404),
        ("handle-patch", "PATCH", "/api/v1/handles/{bob_handle}", {"display_name": "Owned"},
         "anna_pages", 404),
        ("route-add", "POST", "/api/v1/handles/{bob_handle}/routes",
         {"source": "tiktok", "url": "https://evil.example/"}, "anna_pages", 404),
        ("route-get", "GET", "/api/v1/handles/{bob_handle}/routes/{bob_route}", None,
         "anna_pages", 404),
        ("route-delete", "DELETE", "/api/v1/handles/{bob_handle}/routes/{bob_route}", None,
         "anna_pages", 404),
        ("route-of-bob-under-anna", "DELETE", "/api/v1/handles/{anna_handle}/routes/{bob_route}",
         None, "anna_pages", 404),
        ("route-to-bobs-page", "POST", "/api/v1/handles/{anna_handle}/routes",
         {"source": "tiktok", "page": "bob-guide"}, "anna_pages", 422),
        ("default-page-bobs", "PATCH", "/api/v1/handles/{anna_handle}",
         {"default_page": "bob-guide"}, "anna_pages", 422),
        ("report", "GET", "/api/v1/reports/conversion?handle=bob", None, "anna_reports", 404),
        ("report-page", "GET", "/api/v1/reports/conversion?page=bob-guide", None,
         "anna_reports", 404),
        ("variants", "GET", "/api/v1/reports/variants?handle=bob", None, "anna_reports", 404),
        ("social-list", "GET", "/api/v1/social-metrics?handle=bob", None, "anna_reports", 404),
        ("social-upsert", "POST", "/api/v1/social-metrics",
         [{"handle": "bob", "platform": "instagram", "date": "2026-11-01", "likes": 1}],
         "anna_pages", 404),
        ("webhook-get", "GET", "/api/v1/webhooks/{bob_hook}", None, "anna_admin", 404),
        ("webhook-patch", "PATCH", "/api/v1/webhooks/{bob_hook}",
         {"url": "https://93.184.215.14/stolen"}, "anna_admin", 404),
        ("webhook-delete", "DELETE", "/api/v1/webhooks/{bob_hook}", None, "anna_admin", 404),
        ("webhook-rotate", "POST", "/api/v1/webhooks/{bob_hook}/rotate-secret", None,
         "anna_admin", 404),
        ("webhook-deliveries", "GET", "/api/v1/webhooks/{bob_hook}/deliveries", None,
         "anna_admin", 404),
        ("webhook-redeliver", "POST",
         "/api/v1/webhooks/{bob_hook}/deliveries/{bob_delivery}/redeliver", None,
         "anna_admin", 404),
        ("delivery-of-bob-under-anna", "POST",
         "/api/v1/webhooks/{anna_hook}/deliveries/{bob_delivery}/redeliver", None,
         "anna_admin", 404),
        ("webhook-ping", "POST", "/api/v1/webhooks/{bob_hook}/ping", None, "anna_admin", 404),
        ("key-get", "GET", "/api/v1/keys/{admin_key_id}", None, "anna_admin", 403),
        ("key-revoke", "POST", "/api/v1/keys/{admin_key_id}/revoke", None, "anna_admin", 403),
        ("key-create-unrestricted", "POST", "/api/v1/keys",
         {"name": "escalate", "scopes": ["admin"]}, "anna_admin", 403),
    ]
] + [
    api("bola-person-export", "GET", "/api/v1/leads/export?email=other@example.com", 200,
        key="anna_rw", hidden=('"Other"', "bob-guide")),
    api("bola-erasure", "POST", "/api/v1/erasures", 200, key="anna_rw",
        json={"email": "other@example.com"}, hidden=BOB_SECRETS),
    api("bola-list-all-leads", "GET", "/api/v1/leads", 200, key="anna_rw", hidden=BOB_SECRETS),
    api("bola-list-all-pages", "GET", "/api/v1/pages", 200, key="anna_pages",
        hidden=BOB_SECRETS),
    api("bola-list-all-webhooks", "GET", "/api/v1/webhooks", 200, key="anna_admin",
        hidden=("hooks/bob",)),
    *[Case(f"bola-admin-{name}", method, path, 404,
           headers=(("Cookie", "leadlink_session={anna_owner_session}"),),
           form=_form(csrf_token="{anna_owner_csrf}", **(form or {})) if method == "POST"
           else None, hidden=BOB_SECRETS)
      for name, method, path, form in [
          ("lead", "GET", "/admin/leads/{bob_lead}", None),
          ("lead-erase", "POST", "/admin/leads/{bob_lead}/erase", None),
          ("lead-customer", "POST", "/admin/leads/{bob_lead}/customer",
           {"value": "10", "currency": "EUR"}),
          ("handle", "GET", "/admin/handles/bob", None),
          ("page", "GET", "/admin/pages/{bob_page_id}", None),
          ("page-archive", "POST", "/admin/pages/{bob_page_id}/archive", None),
          ("webhook", "GET", "/admin/webhooks/{bob_hook}", None),
          ("webhook-delete", "POST", "/admin/webhooks/{bob_hook}/delete", None),
          ("email-tool", "GET", "/admin/connections/{bob_email_tool}", None),
          ("email-tool-settings", "POST", "/admin/connections/{bob_email_tool}/email-tool",
           {"list_id": "stolen1"}),
          ("email-tool-send-existing", "POST",
           "/admin/connections/{bob_email_tool}/send-existing", None),
      ]],
]  # fmt: skip

# --- CSRF: every admin POST, without a token, with a wrong one, from another site --------------

# Every POST of the signed-in admin UI, with a form it would accept with the right token.
ADMIN_POSTS: dict[str, tuple[str, dict[str, str]]] = {
    "logout": ("/admin/logout", {}),
    "page-new": ("/admin/pages/new", {"handle": "anna", "title": "New", "slug": "new-page"}),
    "page-save": ("/admin/pages/{guide_page_id}", {"title": "Owned", "slug": "guide"}),
    "page-preview": ("/admin/pages/preview", {"title": "x"}),
    "page-preview-existing": ("/admin/pages/{guide_page_id}/preview", {"title": "x"}),
    "emails-preview": ("/admin/pages/emails/preview", {"title": "x"}),
    "emails-preview-existing": ("/admin/pages/{guide_page_id}/emails/preview", {"title": "x"}),
    "page-publish": ("/admin/pages/{bob_page_id}/publish", {}),
    "page-archive": ("/admin/pages/{guide_page_id}/archive", {}),
    "page-duplicate": ("/admin/pages/{guide_page_id}/duplicate", {}),
    "handle-new": ("/admin/handles", {"name": "mallory"}),
    "handle-default-page": ("/admin/handles/{anna_handle}/default-page", {"page": "instant"}),
    "route-add": (
        "/admin/handles/{anna_handle}/routes",
        {"source": "tiktok", "url": "https://e.example/"},
    ),
    "route-save": ("/admin/handles/{anna_handle}/routes/{anna_route}", {"weight": "5"}),
    "route-delete": ("/admin/handles/{anna_handle}/routes/{anna_route}/delete", {}),
    "route-winner": ("/admin/handles/{anna_handle}/routes/{anna_route}/winner", {}),
    "privacy-export": ("/admin/leads/privacy/export", {"email": "fan@example.com"}),
    "privacy-erase": (
        "/admin/leads/privacy/erase",
        {"email": "fan@example.com", "confirm_email": "fan@example.com"},
    ),
    "lead-customer": ("/admin/leads/{anna_lead}/customer", {"value": "10", "currency": "EUR"}),
    "lead-erase": ("/admin/leads/{anna_lead}/erase", {}),
    "likes-save": (
        "/admin/likes",
        {"handle": "anna", "date": "2026-11-01", "instagram-likes": "5"},
    ),
    "likes-upload": ("/admin/likes/upload", {"handle": "anna"}),
    "key-new": ("/admin/keys", {"name": "Backdoor", "scopes": "admin"}),
    "key-revoke": ("/admin/keys/{admin_key_id}/revoke", {}),
    "webhook-new": ("/admin/webhooks", {"url": "https://93.184.215.14/stolen"}),
    "webhook-rotate": ("/admin/webhooks/{anna_hook}/rotate", {}),
    "webhook-ping": ("/admin/webhooks/{anna_hook}/ping", {}),
    "webhook-enable": ("/admin/webhooks/{anna_hook}/enable", {}),
    "webhook-disable": ("/admin/webhooks/{anna_hook}/disable", {}),
    "webhook-delete": ("/admin/webhooks/{anna_hook}/delete", {}),
    "webhook-redeliver": ("/admin/webhooks/{anna_hook}/deliveries/{anna_delivery}/redeliver", {}),
    "connection-new": ("/admin/connections", {"provider": "stripe", "label": "Shop"}),
    "connection-secret": ("/admin/connections/{anna_connection}/secret", {"secret": "whsec_x"}),
    "connection-disable": ("/admin/connections/{anna_connection}/disable", {}),
    "connection-enable": ("/admin/connections/{anna_connection}/enable", {}),
    "connection-delete": ("/admin/connections/{anna_connection}/delete", {}),
    "connection-credentials": (
        "/admin/connections/{anna_connection}/credentials",
        {"youtube_api_key": "AIzaSy-stolen"},
    ),
    "connection-fetch": ("/admin/connections/{anna_connection}/fetch", {}),
    "email-tool-new": (
        "/admin/connections/email-tools",
        {"provider": "mailchimp", "secret": "f" * 32 + "-us21", "list_id": "a1b2c3d4e5"},
    ),
    "email-tool-settings": ("/admin/connections/{anna_email_tool}/email-tool", {"list_id": "x1"}),
    "email-tool-send-existing": ("/admin/connections/{anna_email_tool}/send-existing", {}),
    "account-new": ("/admin/accounts", {"email": "mallory@example.com", "role": "admin"}),
    "account-save": ("/admin/accounts/{anna_owner_id}", {"role": "admin"}),
    "account-invitation": ("/admin/accounts/{anna_owner_id}/invitation", {}),
    "account-delete": ("/admin/accounts/{anna_owner_id}/delete", {}),
    "password": (
        "/admin/account/password",
        {"current": "x", "password": "p" * 20, "confirm": "p" * 20},
    ),
}
CROSS_SITE = (("Origin", "https://evil.example"),)
CSRF = [
    case
    for name, (path, values) in ADMIN_POSTS.items()
    for case in (
        Case(f"csrf-{name}-no-token", "POST", path, 403, caller=OWNER_NO_CSRF,
             form=tuple(values.items())),
        Case(f"csrf-{name}-wrong-token", "POST", path, 403, caller=OWNER_NO_CSRF,
             form=(*values.items(), ("csrf_token", "A" * 22))),
        Case(f"csrf-{name}-token-of-another-browser", "POST", path, 403, caller=OWNER_NO_CSRF,
             form=(*values.items(), ("csrf_token", "{login_csrf}"))),
        Case(f"csrf-{name}-cross-site", "POST", path, 403, caller=OWNER,
             form=tuple(values.items()), headers=CROSS_SITE),
        Case(f"csrf-{name}-anonymous", "POST", path, 403, form=tuple(values.items())),
    )
] + [
    Case("csrf-sign-in-no-cookie", "POST", "/admin/login", 403,
         form=_form(email="owner@example.com", password="correct horse battery staple",
                    csrf_token="{login_csrf}")),
    Case("csrf-sign-in-wrong-token", "POST", "/admin/login", 403,
         headers=(("Cookie", "{login_cookie}"),),
         form=_form(email="owner@example.com", password="correct horse battery staple",
                    csrf_token="A" * 22)),
    Case("csrf-sign-in-cross-site", "POST", "/admin/login", 403,
         headers=(("Cookie", "{login_cookie}"), *CROSS_SITE),
         form=_form(email="owner@example.com", password="correct horse battery staple",
                    csrf_token="{login_csrf}")),
    Case("csrf-sign-in-referer-of-another-site", "POST", "/admin/login", 403,
         headers=(("Cookie", "{login_cookie}"), ("Referer", "https://evil.example/login")),
         form=_form(email="owner@example.com", password="correct horse battery staple",
                    csrf_token="{login_csrf}")),
    # The controls: the same requests with the right token do what they say.
    admin("csrf-control-key-new", "POST", "/admin/keys", 200, form=_form(name="CRM",
          scopes="leads:read"), changes=frozenset({"api_keys"})),
    admin("csrf-control-webhook-disable", "POST", "/admin/webhooks/{anna_hook}/disable", 303,
          changes=frozenset({"webhook_endpoints"}), location="/admin/webhooks/{anna_hook}"),
    Case("csrf-control-sign-in", "POST", "/admin/login", 303,
         headers=(("Cookie", "{login_cookie}"),),
         form=_form(email="owner@example.com", password="correct horse battery staple",
                    csrf_token="{login_csrf}"), location="/admin", changes=frozenset({"users"})),
]  # fmt: skip


# --- Stored payloads: XSS, SQL-looking text and spreadsheet formulas ---------------------------


@dataclass(frozen=True)
class Stored:
    """A payload stored through one entry (a form field, an API field, a visit's campaign), then
    read back everywhere it is shown: verbatim through the API, escaped in every HTML page and
    email, neutralised in every CSV cell a spreadsheet could run."""

    id: str
    payload: str
    entry: str

    @property
    def kind(self) -> str:
        """`xss`, `sql` or `formula`: what the payload tries, and so where it is looked for."""
        return self.id.split("-", 1)[0]


XSS = {
    "script-tag": "<script>alert(1)</script>",
    "img-onerror": '"><img src=x onerror=alert(1)>',
    "attribute-break": "' autofocus onfocus='alert(1)",
    "svg-onload": "<svg/onload=alert(1)>",
    "closing-textarea": "</textarea><script>alert(1)</script>",
    "closing-title": "</title><script>alert(1)</script>",
    "javascript-url": "javascript:alert(1)//",
    "template-syntax": "{{ 7*7 }}{% if 1 %}x{% endif %}",
    "entity": "&lt;script&gt;alert(1)&lt;/script&gt;",
}
SQL = {
    "drop-table": "Robert'); DROP TABLE leads;--",
    "or-true": "' OR '1'='1",
    "union": 'x" UNION SELECT password_hash FROM users --',
    "comment": "admin'/*",
}
FORMULAS = {
    "equals": '=HYPERLINK("https://evil.example","open")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
}
# Where a lead's values come from: the opt-in form (name, a custom field), a visit's
# utm_campaign carried by the signed form field, and the API (name, a custom field, medium).
LEAD_ENTRIES = ("opt-in-name", "opt-in-field", "visit-campaign", "api-name", "api-field")
FORMULA_ENTRIES = ("opt-in-name", "visit-campaign", "api-name", "api-medium")
# The page's texts a visitor reads (written through the API, as a key holder could).
PAGE_ENTRIES = (
    "title", "headline", "body", "consent_text", "gift_title", "field-label", "og_title",
    "display_name", "text-gift",
)  # fmt: skip
PAGE_XSS = ("script-tag", "img-onerror", "attribute-break", "closing-title")

# What the database keeps is what decides SQL-looking text and formulas: on every backend.
STORED_IN_LEADS = _ids_unique(
    [Stored(f"sql-{name}-via-{entry}", payload, entry)
     for name, payload in SQL.items() for entry in ("opt-in-name", "api-field")]
    + [Stored(f"formula-{name}-via-{entry}", payload, entry)
       for name, payload in FORMULAS.items() for entry in FORMULA_ENTRIES]
)  # fmt: skip
# How a value is shown is decided by the templates, whatever the backend: once.
XSS_IN_LEADS = _ids_unique(
    [Stored(f"xss-{name}-via-{entry}", payload, entry)
     for name, payload in XSS.items() for entry in LEAD_ENTRIES]
)  # fmt: skip
STORED_IN_PAGES = _ids_unique(
    [Stored(f"xss-{name}-in-page-{entry}", XSS[name], entry)
     for name in PAGE_XSS for entry in PAGE_ENTRIES]
    + [Stored(f"xss-markdown-{name}", payload, "body")
       for name, payload in {
           "javascript-link": "[open](javascript:alert(1))",
           "data-link": "[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
           "raw-html": "<iframe src=https://evil.example></iframe>",
           "image-onerror": '![x](https://e.example/x.png"onerror="alert(1))',
       }.items()]
)  # fmt: skip


# --- Webhook targets: private, loopback, link-local and mapped addresses in every spelling -----

WEBHOOK_TARGETS = {
    # loopback
    "loopback": "http://127.0.0.1/hook",
    "loopback-short": "http://127.1/hook",
    "loopback-octal": "http://0177.0.0.1/hook",
    "loopback-octal-padded": "http://00000177.0.0.01/hook",
    "loopback-hex": "http://0x7f.0.0.1/hook",
    "loopback-hex-dword": "http://0x7f000001/hook",
    "loopback-decimal-dword": "http://2130706433/hook",
    "loopback-octal-dword": "http://017700000001/hook",
    "loopback-mixed": "http://0x7f.0.1/hook",
    "loopback-circled-digits": "http://\u2460\u2461\u2466.0.0.1/hook",
    "loopback-full-width": "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook",
    "loopback-ideographic-dots": "http://127\u30020\u30020\u30021/hook",
    "loopback-percent-encoded": "http://%31%32%37.0.0.1/hook",
    "loopback-trailing-dot": "http://127.0.0.1./hook",
    "loopback-other": "http://127.8.9.10/hook",
    "loopback-port": "http://127.0.0.1:22/hook",
    "localhost": "http://localhost/hook",
    "localhost-upper": "http://LOCALHOST./hook",
    "ipv6-loopback": "http://[::1]/hook",
    "ipv6-loopback-long": "http://[0:0:0:0:0:0:0:1]/hook",
    "ipv4-mapped-loopback": "http://[::ffff:127.0.0.1]/hook",
    "ipv4-mapped-loopback-hex": "http://[::ffff:7f00:1]/hook",
    "ipv4-compatible-loopback": "http://[::127.0.0.1]/hook",
    "unspecified": "http://0.0.0.0/hook",
    "unspecified-short": "http://0/hook",
    "ipv6-unspecified": "http://[::]/hook",
    # private
    "private-10": "http://10.0.0.1/hook",
    "private-10-hex": "http://0xa.0.0.1/hook",
    "private-10-decimal": "http://167772161/hook",
    "private-172": "http://172.16.0.1/hook",
    "private-192": "http://192.168.0.1/hook",
    "private-192-octal": "http://0300.0250.0.1/hook",
    "ipv6-unique-local": "http://[fd00::1]/hook",
    "ipv4-mapped-private": "http://[::ffff:10.0.0.1]/hook",
    "ipv4-mapped-private-hex": "http://[::ffff:a00:1]/hook",
    "shared-address-space": "http://100.64.0.1/hook",
    # link-local and cloud metadata
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "metadata-decimal": "http://2852039166/latest/meta-data/",
    "metadata-hex": "http://0xa9fea9fe/latest/meta-data/",
    "metadata-octal": "http://0251.0376.0251.0376/latest/meta-data/",
    "ipv6-link-local": "http://[fe80::1]/hook",
    "ipv4-mapped-metadata": "http://[::ffff:169.254.169.254]/hook",
    "nat64-metadata": "http://[64:ff9b::a9fe:a9fe]/hook",
    "six-to-four-metadata": "http://[2002:a9fe:a9fe::]/hook",
    # multicast, reserved, broadcast
    "multicast": "http://224.0.0.1/hook",
    "ipv6-multicast": "http://[ff02::1]/hook",
    "reserved": "http://240.0.0.1/hook",
    "broadcast": "http://255.255.255.255/hook",
    # not an address any client could use
    "octet-over-255": "http://127.0.0.256/hook",
    "hex-over-255": "http://0x100.0.0.1/hook",
    "five-parts": "http://1.2.3.4.5/hook",
    "arabic-indic-digits": "http://\u0661\u0662\u0667.0.0.1/hook",
    "scoped-ipv6": "http://[fe80::1%25eth0]/hook",
    # not http(s), or carrying credentials
    "file": "file:///etc/passwd",
    "gopher": "gopher://127.0.0.1:25/_HELO",
    "ftp": "ftp://93.184.215.14/",
    "javascript": "javascript:alert(1)",
    "credentials": "https://user:secret@93.184.215.14/hook",
    "no-host": "http:///hook",
    "crlf": "https://93.184.215.14/hook\r\nX-Injected: 1",
}
# A few of them through the admin's form and as a change of an existing endpoint.
WEBHOOK_TARGETS_IN_FORMS = (
    "loopback-octal", "loopback-circled-digits", "ipv4-mapped-loopback", "metadata-decimal",
    "nat64-metadata", "private-10-hex", "localhost", "file",
)  # fmt: skip
# Stored while private targets were allowed (or before a DNS change), then delivered with them
# refused: each spelling of the receiver's own loopback address, with its port.
DELIVERY_SPELLINGS = {
    "dotted": "http://127.0.0.1:{port}/hook",
    "short": "http://127.1:{port}/hook",
    "octal": "http://0177.0.0.1:{port}/hook",
    "hex": "http://0x7f.0.0.1:{port}/hook",
    "decimal": "http://2130706433:{port}/hook",
    "circled-digits": "http://\u2460\u2461\u2466.0.0.1:{port}/hook",
    "localhost": "http://localhost:{port}/hook",
    "ipv4-mapped": "http://[::ffff:127.0.0.1]:{port}/hook",
}
# Where a receiver's redirect points: never followed, whatever the spelling.
REDIRECT_SPELLINGS = {
    "dotted": "http://127.0.0.1:{port}/stolen",
    "octal": "http://0177.0.0.1:{port}/stolen",
    "decimal": "http://2130706433:{port}/stolen",
    "ipv4-mapped": "http://[::ffff:127.0.0.1]:{port}/stolen",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "relative": "/stolen",
}

WEBHOOK_CREATES = _ids_unique(
    [api(f"webhook-target-{name}", "POST", "/api/v1/webhooks", 422, json={"url": url},
         field="url")
     for name, url in WEBHOOK_TARGETS.items()]
    + [admin(f"webhook-target-admin-{name}", "POST", "/admin/webhooks", 422,
             form=_form(url=WEBHOOK_TARGETS[name]), field="url")
       for name in WEBHOOK_TARGETS_IN_FORMS]
    + [api("webhook-target-public-literal-is-accepted", "POST", "/api/v1/webhooks", 201,
           json={"url": "https://93.184.215.14/hook"},
           changes=frozenset({"webhook_endpoints"}), location="/api/v1/webhooks/3")]
)  # fmt: skip
WEBHOOK_CHANGES = _ids_unique(
    [api(f"webhook-target-change-{name}", "PATCH", "/api/v1/webhooks/{anna_hook}", 422,
         json={"url": WEBHOOK_TARGETS[name]}, field="url")
     for name in WEBHOOK_TARGETS_IN_FORMS]
)  # fmt: skip


# --- Spoofed X-Forwarded-For from an untrusted peer --------------------------------------------


@dataclass(frozen=True)
class Spoof:
    """Requests from one TCP peer, each with its own `X-Forwarded-For` (None: no header), under
    some settings; the statuses they must get, in order."""

    id: str
    peer: str
    action: str  # "opt-in", "sign-in", "metrics" or "visit"
    forwarded: tuple[str | None, ...]
    statuses: tuple[int, ...]
    settings: tuple[tuple[str, Any], ...] = ()
    same_visitor: bool | None = None  # for visits: one visitor, or one per header


VISITOR = "203.0.113.9"
PROXY = "10.0.0.1"
PROXIES = ("trusted_proxies", ["10.0.0.0/8"])
TWO_OPT_INS = ("optin_rate_per_ip", "2/minute")
TWO_SIGN_INS = ("login_rate_per_ip", "2/minute")
SPOOFS = _ids_unique([
    Spoof("opt-in-limit-ignores-spoofed-header", VISITOR, "opt-in",
          ("198.51.100.1", "198.51.100.2", "198.51.100.3"), (303, 303, 429), (TWO_OPT_INS,)),
    Spoof("opt-in-limit-ignores-header-of-untrusted-peer", VISITOR, "opt-in",
          ("198.51.100.1", "198.51.100.2", "198.51.100.3"), (303, 303, 429),
          (TWO_OPT_INS, PROXIES)),
    Spoof("opt-in-limit-ignores-prepended-hops", PROXY, "opt-in",
          ("1.1.1.1, 198.51.100.7", "1.1.1.2, 198.51.100.7", "1.1.1.3, 198.51.100.7"),
          (303, 303, 429), (TWO_OPT_INS, PROXIES)),
    Spoof("opt-in-limit-ignores-garbage-hops", PROXY, "opt-in",
          ("<script>", "\x00, ::::", "x" * 5000), (303, 303, 429), (TWO_OPT_INS, PROXIES)),
    Spoof("opt-in-limit-follows-a-trusted-proxy", PROXY, "opt-in",
          ("198.51.100.1", "198.51.100.2", "198.51.100.3"), (303, 303, 303),
          (TWO_OPT_INS, PROXIES)),
    Spoof("sign-in-limit-ignores-spoofed-header", VISITOR, "sign-in",
          ("198.51.100.1", "198.51.100.2", "198.51.100.3"), (401, 401, 429), (TWO_SIGN_INS,)),
    Spoof("sign-in-limit-per-address-ignores-spoofed-header", VISITOR, "sign-in",
          ("198.51.100.1", "198.51.100.2", "198.51.100.3"), (401, 401, 429),
          (("login_rate_per_email", "2/hour"),)),
    Spoof("metrics-spoofed-loopback", VISITOR, "metrics", ("127.0.0.1", "::1"), (404, 404)),
    Spoof("metrics-forwarded-through-local-proxy", "127.0.0.1", "metrics", ("203.0.113.9",),
          (404,)),
    Spoof("metrics-local-scrape", "127.0.0.1", "metrics", (None,), (200,)),
    Spoof("visit-identity-ignores-spoofed-header", VISITOR, "visit",
          ("198.51.100.1", "198.51.100.2", None), (200, 200, 200), same_visitor=True),
    Spoof("visit-identity-follows-a-trusted-proxy", PROXY, "visit",
          ("198.51.100.1", "198.51.100.2"), (200, 200), (PROXIES,), same_visitor=False),
])  # fmt: skip


# --- Hostile bytes on the wire -----------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """Raw bytes sent to a real server, the status they must get, and text the answer must not
    contain (no answer at all is status None)."""

    id: str
    sent: bytes
    status: int | None
    hidden: tuple[bytes, ...] = ()


def _raw(
    request_line: str, *headers: str, body: bytes = b"", host: str = "Host: 127.0.0.1"
) -> bytes:
    lines = [request_line, host, *headers, "Connection: close"]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


FORM = "Content-Type: application/x-www-form-urlencoded"
WIRE = _ids_unique([
    Wire("wire-nul-in-target", _raw("GET /@demo\x00 HTTP/1.1"), 400),
    Wire("wire-space-in-target", _raw("GET /@demo x HTTP/1.1"), 400),
    Wire("wire-raw-bytes-in-target", _raw("GET /@\xff\xfe HTTP/1.1"), 400),
    Wire("wire-encoded-crlf-in-path", _raw("GET /@demo/%0d%0aSet-Cookie:%20injected=1 HTTP/1.1"),
         404),
    Wire("wire-encoded-crlf-in-page", _raw("GET /p/demo%0d%0aX-Injected:%201 HTTP/1.1"), 404),
    Wire("wire-encoded-crlf-in-query", _raw("GET /@demo?src=%0d%0aX-Injected:%201 HTTP/1.1"),
         200),
    Wire("wire-bare-cr-in-header", _raw("GET /healthz HTTP/1.1", "X-A: a\rX-Injected: 1"), 400),
    Wire("wire-nul-in-header", _raw("GET /healthz HTTP/1.1", "User-Agent: a\x00b"), 400),
    Wire("wire-folded-header", _raw("GET /healthz HTTP/1.1", "X-A: a", " X-Injected: 1"), 400),
    Wire("wire-header-without-colon", _raw("GET /healthz HTTP/1.1", "X-Injected"), 400),
    Wire("wire-space-before-colon", _raw("GET /healthz HTTP/1.1", "X-A : a"), 400),
    Wire("wire-length-and-chunked", _raw("POST /p/demo HTTP/1.1", FORM, "Content-Length: 4",
                                         "Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400),
    Wire("wire-two-lengths", _raw("POST /p/demo HTTP/1.1", FORM, "Content-Length: 4",
                                  "Content-Length: 40", body=b"a=1&"), 400),
    Wire("wire-negative-length", _raw("POST /p/demo HTTP/1.1", FORM, "Content-Length: -1"), 400),
    Wire("wire-bad-chunk-size", _raw("POST /p/demo HTTP/1.1", FORM, "Transfer-Encoding: chunked",
                                     body=b"zz\r\nabc\r\n0\r\n\r\n"), 400),
    Wire("wire-request-line-of-64-kb", _raw("GET /@demo?" + "a" * 65_536 + " HTTP/1.1"), 431),
    Wire("wire-forged-host", _raw("GET /@demo HTTP/1.1", host="Host: evil.example"), 200,
         hidden=(b"evil.example",)),
    Wire("wire-forged-forwarded-host",
         _raw("GET /p/demo HTTP/1.1", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: http"),
         200, hidden=(b"evil.example",)),
    Wire("wire-absolute-form-target", _raw("GET http://evil.example/@demo HTTP/1.1"), 200,
         hidden=(b"evil.example",)),
    Wire("wire-unknown-method", _raw("HACK /@demo HTTP/1.1"), 400),
    # A request line without a version is read as HTTP/0.9 and answered like any GET.
    Wire("wire-request-line-without-version", b"GET /@demo\r\n\r\n", 200,
         hidden=(b"injected",)),
])  # fmt: skip


# --- Gift file names ---------------------------------------------------------------------------

# The name a browser gives an uploaded gift file, and whether the editor takes it (303) or
# refuses it (422 naming `gift_file`). A name taken is only ever shown and sent back in the
# download's Content-Disposition, never used as a path. (A raw CR or LF would end the part's
# header line, so it cannot be part of a name; the other control characters can.)
GIFT_FILE_NAMES = {
    "traversal-unix": ("../../../etc/passwd.pdf", 422),
    "traversal-windows": ("..\\..\\boot.pdf", 422),
    "absolute-path": ("/etc/passwd", 422),
    "dot-dot": ("..", 422),
    "nul": ("guide\x00.pdf", 422),
    "tab": ("guide\t.pdf", 422),
    "escape": ("guide\x1b[31m.pdf", 422),
    "over-long": ("a" * 300 + ".pdf", 422),
    "quote-and-parameter": ("guide'; filename='evil.html", 303),
    "markup": ("<img src=x onerror=alert(1)>.pdf", 303),
    "rtl-override": ("\u202efdp.exe", 303),
    "unicode": ("F\u00fchrer f\u00fcr Anf\u00e4nger.pdf", 303),
}


# --- The tables the tests run -------------------------------------------------------------------

REQUESTS = _ids_unique(
    [*OPEN_REDIRECTS, *PATHS, *QUERIES, *HEADERS, *FIELDS, *EMAIL_HEADERS, *BODIES, *UNICODE,
     *TOKENS, *SESSIONS, *TRAVERSAL, *BOLA, *WEBHOOK_CHANGES]
)  # fmt: skip
ONCE = _ids_unique([*CSRF, *MEDIA_TRAVERSAL, *WEBHOOK_CREATES])
