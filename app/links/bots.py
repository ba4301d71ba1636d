"""Requests that get the page but are not visits: crawlers, link-preview fetchers, prefetches.

Crawlers are recognised with the pattern lists of `crawlerdetect` (the maintained port of
JayBizzle's Crawler-Detect), plus the preview fetchers named in `preview_fetcher`. Only the first
1024 characters of a User-Agent are looked at, as in `app.links.sources`.

Decisions that show in the report:

* An empty or blank User-Agent is a bot. Every browser, in-app browser and preview fetcher sends
  one; requests without one are scripts, health checks and scanners, and counting them would
  inflate the visits of the like-to-lead ratio. The page is served to them all the same.
* Generic HTTP clients (curl, Wget, python-requests, httpx, Go-http-client, okhttp, …) are bots,
  because crawlerdetect lists them: nobody opens a bio link with them by hand.
* A human in an in-app browser is never a bot merely because the app's own part of the
  User-Agent trips crawlerdetect's catch-all keywords (TikTok's "Cronet" reads as "cron"). For
  in-app browsers only the unambiguous catch-all keywords count (bot, crawl, spider, headless,
  scraper); every named crawler in the list still counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from crawlerdetect.providers import crawlers, exclusions

from app.links.sources import in_app_browser

__all__ = ["is_bot", "is_prefetch", "preview_fetcher"]

_UA_SCAN = 1024

# Known link-preview fetchers (and the search crawlers that render Open Graph tags), most specific
# first: Apple Messages sends Facebook's and X's tokens together, Telegram's says "TwitterBot",
# LINE's starts with "facebookexternalhit". Matched against the lower-cased User-Agent, with
# patterns that start with a literal (fast to reject; see _IN_APP_RULES in app.links.sources).
_PREVIEW_FETCHERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"facebookexternalhit/\S+ facebot twitterbot/", "imessage"),
        (r"line-poker", "line"),
        (r"telegrambot", "telegram"),
        (r"facebookexternalhit|facebookcatalog|facebot|meta-externalfetcher", "facebook"),
        (r"twitterbot", "x"),
        (r"linkedinbot", "linkedin"),
        (r"slackbot|slack-imgproxy", "slack"),
        (r"discordbot", "discord"),
        # The preview fetcher is "WhatsApp/2.23.20.0 A"; WhatsApp's in-app browser sends an
        # ordinary browser User-Agent without the token.
        (r"whatsapp/(?<=\Awhatsapp/)", "whatsapp"),
        (r"pinterestbot|pinterest/0\.(?<=\Apinterest/0\.)", "pinterest"),
        (r"redditbot", "reddit"),
        (r"snap url preview", "snapchat"),
        (r"skypeuripreview", "skype"),
        (r"googlebot|google-inspectiontool|googleother", "google"),
        (r"bingbot|bingpreview", "bing"),
        (r"applebot", "apple"),
        (r"embedly", "embedly"),
        (r"vkshare", "vk"),
        (r"iframely", "iframely"),
        (r"\(mastodon/", "mastodon"),
        (r"bluesky cardyb", "bluesky"),
    )
)
_PREVIEW_GATE = re.compile("|".join(rule.pattern for rule, _ in _PREVIEW_FETCHERS))

_PREFETCH_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")
_PREFETCH_TOKENS = frozenset({"prefetch", "prerender", "preview"})

# --- crawlerdetect's lists, compiled for speed -------------------------------------------------
#
# CrawlerDetect joins ~1,460 patterns into one case-insensitive alternation; CPython's regex
# engine then tries every alternative at every position: milliseconds for an in-app browser's
# User-Agent and far more for 1 KB of junk, on the event loop, for every User-Agent not yet in
# the cache. Compiled as below the same question costs a small fraction of that (docs/bench.md
# has the figures): the User-Agent is lower-cased once, the literal patterns (nearly all of
# them) become one trie, and only the few real regexes stay regexes. The answer is
# CrawlerDetect's own (`CrawlerDetect().is_crawler(ua)`); tests/links/test_bots.py compares them.

_Trie: TypeAlias = "dict[str, _Trie]"

_LITERAL = re.compile(r"(?:[^\\\[\](){}|*+?.^$]|\\[^A-Za-z0-9])+")
_ESCAPED = re.compile(r"\\(.)")
# crawlerdetect's catch-all rule: any word containing one of these keywords.
_CATCH_ALL = re.compile(r"\[a-z0-9\\-_\]\*\(((?:[a-z]+\|)*[a-z]+)\)")
_UNAMBIGUOUS_KEYWORDS = frozenset({"bot", "crawl", "spider", "headless", "scraper"})
# Lower-casing a regex is the same as matching it case-insensitively on lower-cased text, unless
# an upper-case letter is syntax: an escape (\D, \S, \A), a flag or group name ((?P<…>), or a
# character range across cases ([A-z]). Such patterns stay case-insensitive.
_UPPER_CASE_SYNTAX = re.compile(r"\\[A-Z]|\(\?[A-Za-z<]*[A-Z]|\[[^\]]*[A-Z]-[^A-Z\]]")
# "(like )?gecko…" → "like gecko…|gecko…": the same matches, but an alternation whose every branch
# starts with a literal lets the regex engine skip ahead quickly (the exclusions take half as long).
_LEADING_OPTIONAL = re.compile(r"\(([^()|\\]*)\)\?(.*)")
_NEVER = re.compile(r"(?!)")


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of `words`, shaped as a trie so each position costs a few steps."""
    root: _Trie = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: _Trie) -> str:
        if "" in node:  # a search needs only the shortest word on this path
            return ""
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(root) if root else _NEVER.pattern


def _alternation(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(patterns)) if patterns else _NEVER


def _lower_cased(pattern: str) -> str:
    """`pattern` for lower-cased text: lower-cased itself where that means the same."""
    if _UPPER_CASE_SYNTAX.search(pattern.replace("\\\\", "")):
        return f"(?i:{pattern})"
    return pattern.lower()


def _literal_first(pattern: str) -> str:
    optional = _LEADING_OPTIONAL.fullmatch(pattern)
    if optional is None:
        return pattern
    head, rest = optional.groups()
    return f"{head}{rest}|{rest}"


@dataclass(frozen=True, slots=True)
class _CrawlerList:
    """crawlerdetect's question — is this a crawler? — asked of a lower-cased User-Agent."""

    exclusions: re.Pattern[str]
    named: re.Pattern[str]  # literal crawler names and the unambiguous catch-all keywords
    ambiguous: re.Pattern[str]  # the rest of the catch-all keywords ("cron", "reader", …)
    anchored: re.Pattern[str]  # "^…" patterns, tried at the start only
    regexes: re.Pattern[str]  # the few remaining real regexes

    @classmethod
    def compile(cls, patterns: Iterable[str], excluded: Iterable[str]) -> _CrawlerList:
        named: set[str] = set()
        ambiguous: set[str] = set()
        anchored: list[str] = []
        regexes: list[str] = []
        for pattern in patterns:
            catch_all = _CATCH_ALL.fullmatch(pattern)
            if _LITERAL.fullmatch(pattern):
                named.add(_ESCAPED.sub(r"\1", pattern).lower())
            elif catch_all:
                for keyword in catch_all.group(1).split("|"):
                    (named if keyword in _UNAMBIGUOUS_KEYWORDS else ambiguous).add(keyword)
            elif pattern.startswith("^") and "|" not in pattern:
                anchored.append(_lower_cased(pattern[1:]))
            else:
                regexes.append(_lower_cased(pattern))
        return cls(
            # In crawlerdetect's order: the first exclusion that matches at a place is removed.
            exclusions=_alternation([_literal_first(_lower_cased(p)) for p in excluded]),
            named=re.compile(_trie_pattern(sorted(named))),
            ambiguous=re.compile(_trie_pattern(sorted(ambiguous))),
            anchored=_alternation(anchored),
            regexes=_alternation(regexes),
        )

    def matches(self, user_agent: str, *, ambiguous_keywords: bool = True) -> bool:
        # As crawlerdetect: strip the browser tokens it excludes, then look for a crawler.
        agent = self.exclusions.sub("", user_agent.strip().lower())
        if not agent:
            return False
        return bool(
            self.named.search(agent)
            or self.anchored.match(agent)
            or self.regexes.search(agent)
            or (ambiguous_keywords and self.ambiguous.search(agent))
        )


_CRAWLERS = _CrawlerList.compile(crawlers.data, exclusions.data)


@lru_cache(maxsize=4096)
def _preview_fetcher(user_agent: str) -> str | None:
    lowered = user_agent.lower()
    if not _PREVIEW_GATE.search(lowered):
        return None
    for rule, name in _PREVIEW_FETCHERS:
        if rule.search(lowered):
            return name
    return None


def preview_fetcher(user_agent: str) -> str | None:
    """The service whose link-preview fetcher (or page-rendering crawler) sent this User-Agent.

    `facebook`, `x`, `linkedin`, `slack`, `discord`, `whatsapp`, `telegram`, `pinterest`,
    `reddit`, `snapchat`, `skype` (also Teams), `imessage`, `google`, `bing`, `apple`, …;
    None for anything else, including generic crawlers and every human browser.
    """
    return _preview_fetcher(user_agent[:_UA_SCAN])


@lru_cache(maxsize=4096)
def _is_bot(user_agent: str) -> bool:
    if not user_agent.strip():
        return True
    if _preview_fetcher(user_agent) is not None:
        return True
    human_app = in_app_browser(user_agent) is not None
    return _CRAWLERS.matches(user_agent, ambiguous_keywords=not human_app)


def is_bot(user_agent: str) -> bool:
    """Whether a request with this User-Agent is a crawler or preview fetcher, not a visitor.

    An empty User-Agent counts as a bot; in-app browsers of people do not (see the module doc).
    """
    return _is_bot(user_agent[:_UA_SCAN])


def is_prefetch(headers: Mapping[str, str]) -> bool:
    """Whether the browser only prefetches or prerenders the page (not a visit).

    Reads `Sec-Purpose` (`prefetch`, `prefetch;prerender`), `Purpose`, `X-Purpose` (`preview`)
    and `X-Moz`. `headers` is Starlette's case-insensitive `Headers`, or a plain mapping with
    lower-case or Canonical-Case names.
    """
    for name in _PREFETCH_HEADERS:
        value = headers.get(name) or headers.get(name.title())
        if value and _names_prefetch(value):
            return True
    return False


def _names_prefetch(value: str) -> bool:
    # A structured-field list: "prefetch;prerender", "prefetch;anonymous-client-ip", …
    for item in value[:256].lower().split(","):
        if item.split(";", 1)[0].strip() in _PREFETCH_TOKENS:
            return True
    return False
