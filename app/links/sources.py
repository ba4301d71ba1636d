"""Which platform a visit came from: pure, CPU-only source detection for the one link.

`detect_source` applies the precedence of docs/one-link.md ("Sources") to what a request
carries: the path source, the query string, the User-Agent and the Referer. Every input may be
hostile (CR/LF, NUL, megabytes long); nothing here raises on any string. Only the first 1024
characters of a User-Agent and the first 2048 of a Referer are looked at. Stored values are
cleaned of control and invisible formatting characters and cut to `MAX_VALUE_LENGTH` (utm values
and the raw source) or `MAX_HOST_LENGTH` (the referrer host) characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "CANONICAL_SOURCES",
    "MAX_HOST_LENGTH",
    "MAX_VALUE_LENGTH",
    "Attribution",
    "canonical_source",
    "detect_source",
    "device_class",
    "in_app_browser",
    "link_alias",
    "platform_sources",
    "referrer_host",
]

CANONICAL_SOURCES: tuple[str, ...] = (
    "instagram",
    "facebook",
    "tiktok",
    "x",
    "youtube",
    "linkedin",
    "pinterest",
    "snapchat",
    "threads",
    "reddit",
    "whatsapp",
    "telegram",
    "email",
    "direct",
    "other",
)

MAX_VALUE_LENGTH = 100
"""utm values and the raw explicit source are stored cut to this many characters."""

MAX_HOST_LENGTH = 253
"""The longest DNS name; referrer hosts are stored cut to this many characters."""

_UA_SCAN = 1024
_REFERER_SCAN = 2048
# A cleaned value is cut to MAX_VALUE_LENGTH; looking further than this into it is wasted work.
_VALUE_SCAN = 4 * MAX_VALUE_LENGTH
_ANDROID_APP = "android-app://"

# C0/C1 controls, line/paragraph separators, zero-width and bidirectional formatting characters:
# none of them belongs in a stored value, and several can forge lines or reorder text on display.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


@dataclass(frozen=True, slots=True)
class Attribution:
    """Where a visit came from, which rule decided it, and the raw signals kept for the record.

    `raw_source` is the explicit or utm_source value that decided; when none decided, it is the
    first such value that was present but not recognised (so an unknown `?src=` is not lost).
    """

    source: str
    rule: str
    medium: str | None
    campaign: str | None
    content: str | None
    referrer_host: str | None
    in_app_browser: str | None
    raw_source: str | None


_ALIAS_TABLE: dict[str, tuple[str, ...]] = {
    "instagram": ("ig", "insta", "instagram"),
    "facebook": ("fb", "facebook", "messenger"),
    "tiktok": ("tt", "tiktok"),
    "x": ("x", "tw", "twitter"),
    "youtube": ("yt", "youtube"),
    "linkedin": ("li", "linkedin", "lnkd"),
    "pinterest": ("pin", "pinterest"),
    "snapchat": ("snap", "snapchat"),
    "threads": ("th", "threads"),
    "reddit": ("reddit",),
    "whatsapp": ("wa", "whatsapp"),
    "telegram": ("tg", "telegram"),
    "email": (
        "email",
        "mail",
        "newsletter",
        "mailchimp",
        "convertkit",
        "mailerlite",
        "klaviyo",
        "brevo",
        "sendinblue",
        "listmonk",
    ),
    "direct": ("direct",),
    "other": ("other",),
}
"""Each canonical source with its aliases, the shortest first."""

# "meta" is deliberately absent: Meta ads run on Facebook and Instagram alike, so the click id or
# the in-app browser decides better than a guess.
_ALIASES = {alias: source for source, aliases in _ALIAS_TABLE.items() for alias in aliases}
# Sources that are no platform a creator posts a link on.
_NOT_PLATFORMS = frozenset({"direct", "other"})
# A canonical name this short reads better in a bio than its abbreviation (`tiktok`, not `tt`).
_READABLE_NAME_LENGTH = 6
# "Tik Tok", "you_tube", "e-mail", "linked-in" are the same alias as their compact spelling.
_ALIAS_FOLD = str.maketrans("", "", " -_")

# Hosts match by suffix ("l.instagram.com" and "www.instagram.com" both end in "instagram.com").
_HOST_SOURCES: dict[str, str] = {
    "instagram.com": "instagram",
    "instagr.am": "instagram",
    "ig.me": "instagram",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "fb.me": "facebook",
    "fb.watch": "facebook",
    "messenger.com": "facebook",
    "m.me": "facebook",
    "tiktok.com": "tiktok",
    "t.co": "x",
    "x.com": "x",
    "twitter.com": "x",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "linkedin.com": "linkedin",
    "lnkd.in": "linkedin",
    "pin.it": "pinterest",
    "snapchat.com": "snapchat",
    "threads.net": "threads",
    "threads.com": "threads",
    "reddit.com": "reddit",
    "redd.it": "reddit",
    "whatsapp.com": "whatsapp",
    "wa.me": "whatsapp",
    "t.me": "telegram",
    "telegram.me": "telegram",
    "telegram.org": "telegram",
    "mail.google.com": "email",
    "outlook.live.com": "email",
    "outlook.office.com": "email",
    "outlook.office365.com": "email",
    "mail.yahoo.com": "email",
    "mail.aol.com": "email",
    "mail.proton.me": "email",
    "mail.protonmail.com": "email",
    "mail.zoho.com": "email",
    "mail.yandex.ru": "email",
    "e.mail.ru": "email",
}
# Country sites: pinterest.de, pinterest.co.uk, pinterest.com.au, ...
_PINTEREST_HOST = re.compile(r"(?:^|\.)pinterest\.(?:com|(?:com?\.)?[a-z]{2})\Z")

# Android apps that open links in the system browser send `android-app://<package>/`.
_APP_SOURCES: dict[str, str] = {
    "com.instagram.android": "instagram",
    "com.instagram.barcelona": "threads",
    "com.facebook.katana": "facebook",
    "com.facebook.lite": "facebook",
    "com.facebook.orca": "facebook",
    "com.facebook.mlite": "facebook",
    "com.zhiliaoapp.musically": "tiktok",
    "com.zhiliaoapp.musically.go": "tiktok",
    "com.ss.android.ugc.trill": "tiktok",
    "com.twitter.android": "x",
    "com.google.android.youtube": "youtube",
    "com.linkedin.android": "linkedin",
    "com.pinterest": "pinterest",
    "com.snapchat.android": "snapchat",
    "com.reddit.frontpage": "reddit",
    "com.whatsapp": "whatsapp",
    "com.whatsapp.w4b": "whatsapp",
    "org.telegram.messenger": "telegram",
    "org.telegram.messenger.web": "telegram",
    "com.google.android.gm": "email",
    "com.microsoft.office.outlook": "email",
    "com.yahoo.mobile.client.android.mail": "email",
    "ch.protonmail.android": "email",
    "com.samsung.android.email.provider": "email",
}

# scheme :// [userinfo@] host — the host stops at the port, path, query or fragment. Browsers
# treat "\" like "/" in http(s) URLs, so it ends the host too.
_REFERER = re.compile(
    r"\s*([A-Za-z][A-Za-z0-9+.-]{0,31})://(?:[^/?#@\\]*@)?(\[[0-9A-Fa-f:.]*\]|[^/?#:\\]*)"
)
_HOSTNAME = re.compile(r"[\w-]+(?:\.[\w-]+)*")
_IPV6_HOST = re.compile(r"\[[0-9a-f:.]+\]")
_PACKAGE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")

# In-app browsers, most specific first: Threads (Barcelona) also carries the Instagram token and
# Messenger carries Facebook's. Every pattern starts with a literal: CPython's regex engine skips
# quickly over text where no alternative's first character fits, and the gate (all patterns in
# one) rejects an ordinary browser quickly. A leading \b would defeat that (every position of
# an in-app-sized User-Agent would be tried), so "Line/" alone checks what precedes it.
_IN_APP_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"Barcelona \d", "threads"),
        (r"Instagram \d", "instagram"),
        (r"FB_IAB/MESSENGER|FB_IAB/Orca-Android|FBAN/Messenger", "messenger"),
        (r"FBAN/|FBAV/|FB_IAB/", "facebook"),
        (r"musical_ly|BytedanceWebview|ByteLocale/|TikTok \d|trill_\d", "tiktok"),
        (r"Twitter for |TwitterAndroid", "x"),
        (r"LinkedInApp", "linkedin"),
        (r"Pinterest/iOS|Pinterest/Android", "pinterest"),
        (r"Snapchat/\d", "snapchat"),
        (r"Telegram-Android/", "telegram"),
        (r"Reddit/", "reddit"),
        (r"Line/\d(?<=[ ;(]Line/\d)", "line"),
        (r"MicroMessenger/", "wechat"),
        (r"KAKAOTALK", "kakaotalk"),
    )
)
_IN_APP_GATE = re.compile("|".join(rule.pattern for rule, _ in _IN_APP_RULES))
# The source an in-app browser stands for; LINE, WeChat and KakaoTalk are not platforms of ours.
_IN_APP_SOURCES: dict[str, str] = {
    "threads": "threads",
    "instagram": "instagram",
    "messenger": "facebook",
    "facebook": "facebook",
    "tiktok": "tiktok",
    "x": "x",
    "linkedin": "linkedin",
    "pinterest": "pinterest",
    "snapchat": "snapchat",
    "telegram": "telegram",
    "reddit": "reddit",
}

# Click ids that ad and share links append. `fbclid` is set by every Meta app, so which one it
# was is read from the other signals (see _meta_source); Instagram's own share ids come first.
_CLICK_IDS: tuple[tuple[str, str], ...] = (
    ("igshid", "instagram"),
    ("igsh", "instagram"),
    ("fbclid", "facebook"),
    ("ttclid", "tiktok"),
    ("twclid", "x"),
    ("li_fat_id", "linkedin"),
    ("epik", "pinterest"),
    ("ScCid", "snapchat"),
    ("rdt_cid", "reddit"),
)
_META_APPS = frozenset({"instagram", "threads"})


def _clean(value: str | None) -> str | None:
    """A value fit to store: no control characters, trimmed, at most MAX_VALUE_LENGTH long."""
    if not value:
        return None
    value = value[:_VALUE_SCAN]
    if _INVISIBLE.search(value):
        value = _INVISIBLE.sub("", value)
    return value.strip()[:MAX_VALUE_LENGTH].strip() or None


def canonical_source(alias: str) -> str | None:
    """The canonical source an alias names (`ig` → `instagram`, `tw` → `x`), or None.

    Case, spaces, hyphens and underscores do not matter; canonical names map to themselves.
    """
    key = alias[:_VALUE_SCAN].strip().lower().translate(_ALIAS_FOLD)
    return _ALIASES.get(key)


def platform_sources() -> tuple[str, ...]:
    """The canonical sources a creator can post a per-platform link on (not `direct`, `other`)."""
    return tuple(source for source in CANONICAL_SOURCES if source not in _NOT_PLATFORMS)


def link_alias(source: str) -> str:
    """The path segment of a canonical source's per-platform link (`/@anna/ig`, `/@anna/tiktok`):
    the name itself when it is short enough to read, otherwise its shortest alias."""
    if len(source) <= _READABLE_NAME_LENGTH:
        return source
    return _ALIAS_TABLE[source][0]


@lru_cache(maxsize=1024)
def _host_source(host: str) -> str | None:
    if host.startswith(_ANDROID_APP):
        return _APP_SOURCES.get(host[len(_ANDROID_APP) :])
    suffix = host
    while True:
        source = _HOST_SOURCES.get(suffix)
        if source is not None:
            return source
        dot = suffix.find(".")
        if dot < 0:
            break
        suffix = suffix[dot + 1 :]
    if _PINTEREST_HOST.search(host):
        return "pinterest"
    if host.startswith("webmail."):
        return "email"
    return None


def _value_source(value: str) -> str | None:
    """The source an explicit or utm value names: an alias, or a host/URL such as `t.co`."""
    source = canonical_source(value)
    if source is not None:
        return source
    if "://" in value:
        host = referrer_host(value)
    else:
        host = value.split("/", 1)[0].strip().lower().rstrip(".")
    return _host_source(host) if host else None


def referrer_host(referer: str) -> str | None:
    """The lower-case host of a Referer, `android-app://<package>` for an Android app, or None.

    Only http(s) and android-app referrers have a host; anything malformed ("http://", "::::")
    has none. The host is cut to MAX_HOST_LENGTH.
    """
    head = referer[:_REFERER_SCAN]
    if _INVISIBLE.search(head):
        head = _INVISIBLE.sub("", head)
    match = _REFERER.match(head)
    if match is None:
        return None
    scheme = match.group(1).lower()
    host = match.group(2).lower().rstrip(".")
    if scheme in ("https", "http"):
        host = host[:MAX_HOST_LENGTH]
        if _HOSTNAME.fullmatch(host) or _IPV6_HOST.fullmatch(host):
            return host
        return None
    if scheme == "android-app" and _PACKAGE.fullmatch(host):
        return (_ANDROID_APP + host)[:MAX_HOST_LENGTH]
    return None


@lru_cache(maxsize=4096)
def _in_app(user_agent: str) -> str | None:
    if not _IN_APP_GATE.search(user_agent):
        return None
    for rule, name in _IN_APP_RULES:
        if rule.search(user_agent):
            return name
    return None


def in_app_browser(user_agent: str) -> str | None:
    """The app whose in-app browser sent this User-Agent (`instagram`, `messenger`, `line`, …)."""
    return _in_app(user_agent[:_UA_SCAN])


@lru_cache(maxsize=4096)
def _device_class(user_agent: str) -> str:
    # iPad comes first: its UA also says "Mobile/15E148". iPadOS Safari in its default desktop
    # mode sends a Mac UA and is counted as desktop; nothing in the UA tells them apart.
    if "iPad" in user_agent or "Kindle" in user_agent or "Silk/" in user_agent:
        return "tablet"
    if "Tablet" in user_agent and "Tablet PC" not in user_agent:
        return "tablet"
    if "iPhone" in user_agent or "iPod" in user_agent:
        return "mobile"
    if "Android" in user_agent:
        # Android tablets omit "Mobile" (Google's convention for Chrome and WebViews).
        return "mobile" if "Mobile" in user_agent else "tablet"
    if "Mobi" in user_agent or "Windows Phone" in user_agent or "Opera Mini" in user_agent:
        return "mobile"
    return "desktop"


def device_class(user_agent: str) -> str:
    """`mobile`, `tablet` or `desktop` (also for an empty or unrecognised User-Agent)."""
    return _device_class(user_agent[:_UA_SCAN])


def _explicit_source(
    path_source: str | None, query: Mapping[str, str]
) -> tuple[str | None, str, str | None]:
    """Rules 1 and 2: (source or None, rule, raw value) from the path, `src` and `utm_source`.

    A value that names no source does not decide; the first such value is still returned.
    """
    unrecognised: str | None = None
    for rule, value in (
        ("path", path_source),
        ("src", query.get("src")),
        ("utm_source", query.get("utm_source")),
    ):
        raw = _clean(value)
        if raw is None:
            continue
        source = _value_source(raw)
        if source is not None:
            return source, rule, raw
        if unrecognised is None:
            unrecognised = raw
    return None, "", unrecognised


def _meta_source(app: str | None, referrer_source: str | None) -> str:
    """Which Meta app an `fbclid` came from: Instagram or Threads when anything says so."""
    if app in _META_APPS:
        return app
    if referrer_source in _META_APPS:
        return referrer_source
    return "facebook"


def _implicit_source(
    query: Mapping[str, str], app: str | None, host: str | None, referrer_source: str | None
) -> tuple[str, str]:
    """Rules 3 to 6: (source, rule) from click ids, the in-app browser and the Referer."""
    for parameter, platform in _CLICK_IDS:
        if _clean(query.get(parameter)):
            if parameter == "fbclid":
                platform = _meta_source(app, referrer_source)  # noqa: PLW2901
            return platform, "click_id"
    app_source = _IN_APP_SOURCES.get(app) if app else None
    if app_source is not None:
        return app_source, "in_app"
    if referrer_source is not None:
        return referrer_source, "referrer"
    if host is None:
        return "direct", "direct"
    return "other", "unknown_referrer"


def detect_source(
    path_source: str | None, query: Mapping[str, str], user_agent: str, referer: str
) -> Attribution:
    """Attribute a visit to a canonical source; the first rule that decides wins.

    1. explicit: the path source (`/@anna/ig`), then `?src=` → 2. `utm_source` → 3. click ids
    (`fbclid`, `ttclid`, …) → 4. the in-app browser → 5. the Referer host → 6. `direct` without
    a referrer, `other` (host kept) with one nobody knows. An explicit or utm value that names no
    source does not decide; a Referer without a usable host ("http://", "::::") counts as none.
    The caller passes "" as the Referer for its own host.
    """
    app = in_app_browser(user_agent)
    host = referrer_host(referer) if referer else None
    referrer_source = _host_source(host) if host else None
    source, rule, raw_source = _explicit_source(path_source, query)
    if source is None:
        source, rule = _implicit_source(query, app, host, referrer_source)
    return Attribution(
        source=source,
        rule=rule,
        medium=_clean(query.get("utm_medium")),
        campaign=_clean(query.get("utm_campaign")),
        content=_clean(query.get("utm_content")),
        referrer_host=host,
        in_app_browser=app,
        raw_source=raw_source,
    )
