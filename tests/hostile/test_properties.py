"""Hypothesis properties of the three parsers every visitor reaches: source detection, the
opt-in form and the signed-token codec. Whatever the input, each answers in its documented way
and never raises anything else (a 5xx, through the app).

The settings are bounded and derandomized (the same examples on every run, as the Schemathesis
test does), with no example database in the working tree.
"""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.admin.sessions import SessionCodec
from app.leads.exceptions import InvalidOptIn
from app.leads.forms import OptInForm, parse_opt_in_form
from app.leads.models import Lead
from app.leads.tokens import LeadTokens
from app.links.attribution import read_attribution, sign_attribution
from app.links.sources import (
    CANONICAL_SOURCES,
    MAX_HOST_LENGTH,
    MAX_VALUE_LENGTH,
    canonical_source,
    detect_source,
    device_class,
    in_app_browser,
    referrer_host,
)
from app.pages.models import Page
from app.signing import FIELD_SEPARATOR, BadSignature, Signer
from tests.hostile.world import World

BOUNDED = settings(max_examples=200, deadline=None, derandomize=True, database=None)
THROUGH_THE_APP = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SECRET = "property-secret-" + "z" * 40

# Any text, lone surrogates and control characters included (a JSON body can carry both).
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=300)
INVISIBLE = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} | set("\u200b\u202e\ufeff")

# --- Source detection ----------------------------------------------------------------------------

QUERY_KEYS = st.sampled_from(
    ["src", "utm_source", "utm_medium", "utm_campaign", "utm_content", "fbclid", "igshid",
     "ttclid", "gclid", "ref"]
) | st.text(max_size=12)  # fmt: skip
REFERERS = st.one_of(
    ANY_TEXT,
    st.builds(
        "{}://{}/{}".format,
        st.sampled_from(["http", "https", "android-app", "HTTPS", "ftp", ""]),
        st.sampled_from(["t.co", "l.instagram.com", "m.facebook.com", "com.google.android.gm"])
        | ANY_TEXT,
        ANY_TEXT,
    ),
)
USER_AGENTS = st.one_of(
    ANY_TEXT,
    st.builds(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) {} {}".format,
        st.sampled_from(["Instagram 325.0", "FBAN/FBIOS", "musical_ly", "Twitter", ""]),
        ANY_TEXT,
    ),
)


def _storable(value: str | None, limit: int) -> bool:
    return value is None or (0 < len(value) <= limit and not INVISIBLE & set(value))


@BOUNDED
@given(
    path_source=st.none() | ANY_TEXT,
    query=st.dictionaries(QUERY_KEYS, ANY_TEXT, max_size=6),
    user_agent=USER_AGENTS,
    referer=REFERERS,
)
@example(path_source="\x00", query={"utm_source": "\u202e" * 500}, user_agent="", referer="::::")
@example(path_source=None, query={"fbclid": "x"}, user_agent="Instagram", referer="http://")
def test_any_visit_is_attributed_to_a_known_source(
    path_source: str | None, query: dict[str, str], user_agent: str, referer: str
) -> None:
    attribution = detect_source(path_source, query, user_agent, referer)
    assert attribution.source in CANONICAL_SOURCES
    for value in (attribution.medium, attribution.campaign, attribution.content):
        assert _storable(value, MAX_VALUE_LENGTH), value
    assert _storable(attribution.raw_source, MAX_VALUE_LENGTH), attribution.raw_source
    host = attribution.referrer_host
    assert host is None or (0 < len(host) <= MAX_HOST_LENGTH and host == host.lower())
    assert device_class(user_agent) in {"mobile", "tablet", "desktop"}
    app = in_app_browser(user_agent)
    assert app is None or app.isidentifier()
    assert referrer_host(referer) == host or host is None


@BOUNDED
@given(alias=ANY_TEXT)
def test_any_alias_names_a_known_source_or_none(alias: str) -> None:
    assert canonical_source(alias) in (*CANONICAL_SOURCES, None)


# --- The opt-in form -----------------------------------------------------------------------------

CUSTOM_FIELDS = [
    {"key": "company", "label": "Company", "type": "text", "required": True},
    {"key": "role", "label": "Role", "type": "select", "options": ["Founder", "Other"]},
    {"key": "news", "label": "News", "type": "checkbox"},
]
FIELD_NAMES = ["a", "email", "name", "consent", "website", "f_company", "f_role", "f_news"]
PAIRS = st.lists(
    st.tuples(st.sampled_from(FIELD_NAMES) | ANY_TEXT, ANY_TEXT | st.emails()), max_size=14
)


def _parse(page: Page, pairs: list[tuple[str, str]]) -> OptInForm | InvalidOptIn:
    """The form's values, or the refusal it raised (the documented outcomes)."""
    try:
        return parse_opt_in_form(page, pairs)
    except InvalidOptIn as invalid:
        return invalid


@BOUNDED
@given(pairs=PAIRS, name_field=st.sampled_from(["off", "optional", "required"]))
@example(pairs=[("email", "Ann@Example.COM"), ("f_company", "ACME")], name_field="optional")
@example(pairs=[("email", "a@b.co\r\nBcc: v@example.com")], name_field="off")
def test_any_form_is_a_valid_opt_in_or_names_its_fields(
    pairs: list[tuple[str, str]], name_field: str
) -> None:
    page = Page(slug="guide", title="Guide", name_field=name_field, custom_fields=CUSTOM_FIELDS)
    allowed = {*FIELD_NAMES, "form"} - ({"name"} if name_field == "off" else set())
    form = _parse(page, pairs)  # anything else it raises fails the test
    if isinstance(form, InvalidOptIn):
        assert form.status_code == 422
        assert form.field_messages, "a refusal names no field"
        assert set(form.field_messages) <= allowed
        assert {error.field for error in form.errors} == set(form.field_messages)
        return
    assert form.email
    assert form.email == form.email.lower()
    assert "\n" not in form.email
    assert form.recipient.isascii() or "@" in form.recipient
    assert form.name is None or (0 < len(form.name) <= 200 and "\n" not in form.name)
    assert set(form.fields) <= {"company", "role", "news"}
    assert form.fields.get("company")  # required, so present in every valid form


FORM_BODIES = st.one_of(
    st.binary(max_size=2_000),
    st.lists(st.tuples(st.sampled_from(FIELD_NAMES) | ANY_TEXT, ANY_TEXT | st.emails()),
             max_size=14).map(
        lambda pairs: "&".join(
            f"{name}={value}".encode("utf-8", "surrogatepass").decode("latin-1")
            for name, value in pairs
        ).encode("latin-1")
    ),
)  # fmt: skip


@THROUGH_THE_APP
@given(
    body=FORM_BODIES,
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""]
    ),
)
async def test_any_form_post_gets_an_answer_not_a_server_error(
    world: World, body: bytes, content_type: str
) -> None:
    savepoint = await world.connection.begin_nested()
    try:
        leads_before = await world.connection.scalar(select(func.count()).select_from(Lead))
        response = await world.client.post(
            "/p/guide", content=body, headers={"Content-Type": content_type}
        )
        leads_after = await world.connection.scalar(select(func.count()).select_from(Lead))
    finally:
        await savepoint.rollback()
    assert response.status_code in {200, 303, 413, 422}, response.text[:300]
    if response.status_code == 422:
        assert 'class="error" id="' in response.text, "a refusal that names no field"
    if response.status_code != 303:
        assert leads_after == leads_before


# --- The token codec -----------------------------------------------------------------------------

SIGNER = Signer(SECRET, "confirm")
TOKEN_TEXT = string.ascii_letters + string.digits + "-_."
VALUES = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters=FIELD_SEPARATOR), max_size=40),
    max_size=6,
)
ISSUED = 1_800_000_000  # a fixed issue time, so that a drawn token is the same on replay
GENUINE = st.builds(lambda values: SIGNER.sign_fields(values, now=ISSUED), VALUES)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    """A genuine token with one character changed, added or removed: anywhere, or at its end,
    where base64 leaves room (padding, and the unused low bits of the last character)."""
    token = draw(GENUINE)
    at_end = draw(st.booleans())
    index = len(token) - 1 if at_end else draw(st.integers(0, len(token) - 1))
    change = draw(st.sampled_from(["replace", "insert", "delete", "append"]))
    if change == "delete":
        return token[:index] + token[index + 1 :]
    character = draw(st.sampled_from(TOKEN_TEXT + "=+/ %\x00\u00e9") | st.characters())
    if change == "append":
        return token + character
    if change == "insert":
        return token[:index] + character + token[index:]
    assume(character != token[index])
    return token[:index] + character + token[index + 1 :]


@BOUNDED
@given(token=ANY_TEXT | st.text(TOKEN_TEXT, max_size=200) | _mutated())
@example(token="")
@example(token=".")
@example(token="a" * 5000 + "." + "b")
def test_decoding_any_text_raises_nothing_but_bad_signature(token: str) -> None:
    for decode in (SIGNER.unsign_fields, SIGNER.unsign):
        with contextlib.suppress(BadSignature):
            decode(token)
    tokens = LeadTokens(SECRET)
    for read in (tokens.read_confirm, tokens.read_unsubscribe, tokens.read_gift,
                 tokens.read_thanks):  # fmt: skip
        assert read(token) is None
    assert SessionCodec(SECRET, "http://t").read(token) is None
    assert read_attribution(Signer(SECRET, "attribution"), token) is None


@BOUNDED
@given(values=VALUES)
def test_a_token_round_trips(values: list[str]) -> None:
    decoded, _issued = SIGNER.unsign_fields(SIGNER.sign_fields(values))
    assert decoded == values


@BOUNDED
@given(token=_mutated())
def test_a_changed_character_is_always_refused(token: str) -> None:
    with pytest.raises(BadSignature):
        SIGNER.unsign_fields(token)


@BOUNDED
@given(
    lead_id=st.integers(0, 2**63),
    purpose=st.sampled_from(["confirm", "unsubscribe", "gift", "thanks", "session"]),
)
def test_a_token_of_one_purpose_is_no_other(lead_id: int, purpose: str) -> None:
    token = Signer(SECRET, purpose).sign_fields((str(lead_id),))
    tokens = LeadTokens(SECRET)
    reads = {"confirm": tokens.read_confirm, "unsubscribe": tokens.read_unsubscribe,
             "gift": tokens.read_gift, "thanks": tokens.read_thanks}  # fmt: skip
    for name, read in reads.items():
        assert read(token) == (lead_id if name == purpose else None)
    attribution = sign_attribution(
        Signer(SECRET, "attribution"), handle_id=1, page_id=2, route_id=None, variant=None,
        source="x", medium=None, campaign=None, visit_ref=None,
    )  # fmt: skip
    assert all(read(attribution) is None for read in reads.values())
