"""Routing rules: which route a visitor gets (weights, stickiness, per-source rules), and which
external redirect targets a creator may store.
"""

from __future__ import annotations

from collections import Counter

import pytest

from app.external_urls import MAX_TARGET_URL_LENGTH, check_external_url
from app.links.routing import RouteView, choose_route

VISITORS = 10_000
TOLERANCE = 0.025  # ± 2.5 percentage points


def page_route(
    route_id: int, *, source: str | None = None, weight: int = 1, variant: str = ""
) -> RouteView:
    return RouteView(
        id=route_id,
        source=source,
        variant=variant or f"v{route_id}",
        weight=weight,
        page_id=100 + route_id,
        target_url=None,
    )


def visitor_keys(count: int = VISITORS) -> list[str]:
    # The one link passes the daily-salted visitor hash: 32 hex characters.
    return [f"{index:032x}" for index in range(count)]


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param((50, 50), id="50/50"),
        pytest.param((80, 20), id="80/20"),
        pytest.param((1, 1), id="1/1"),
        pytest.param((4, 1), id="4/1"),
        pytest.param((60, 30, 10), id="60/30/10"),
    ],
)
def test_weights_split_visitors_within_tolerance(weights: tuple[int, ...]) -> None:
    routes = [page_route(index + 1, weight=weight) for index, weight in enumerate(weights)]
    chosen = Counter(choose_route(routes, "instagram", key) for key in visitor_keys())

    total = sum(weights)
    for route in routes:
        share = chosen[route] / VISITORS
        expected = route.weight / total
        assert abs(share - expected) <= TOLERANCE, (route.variant, share, expected)
    assert sum(chosen.values()) == VISITORS
    assert None not in chosen


def test_split_is_sticky_for_the_same_visitor() -> None:
    routes = [page_route(1, weight=50), page_route(2, weight=50)]
    for key in visitor_keys(500):
        first = choose_route(routes, "tiktok", key)
        assert all(choose_route(routes, "tiktok", key) == first for _ in range(5))


def test_sticky_choice_does_not_depend_on_route_order_of_equal_lists() -> None:
    # The same routing (as loaded again from the database) gives a visitor the same variant.
    routes = [page_route(1, weight=70), page_route(2, weight=30)]
    again = [page_route(1, weight=70), page_route(2, weight=30)]
    for key in visitor_keys(500):
        assert choose_route(routes, "x", key) == choose_route(again, "x", key)


def test_different_visitors_get_both_variants() -> None:
    routes = [page_route(1, weight=50), page_route(2, weight=50)]
    assert {choose_route(routes, "x", key) for key in visitor_keys(100)} == set(routes)


@pytest.mark.parametrize(
    ("source", "expected_id"),
    [
        pytest.param("tiktok", 2, id="source-route-beats-any-source"),
        pytest.param("instagram", 3, id="other-source-route"),
        pytest.param("youtube", 1, id="no-source-route-falls-back-to-any"),
        pytest.param("direct", 1, id="direct-falls-back-to-any"),
    ],
)
def test_source_specific_routes_beat_any_source_routes(source: str, expected_id: int) -> None:
    routes = [
        page_route(1, source=None, weight=10_000),
        page_route(2, source="tiktok", weight=1),
        page_route(3, source="instagram", weight=1),
    ]
    for key in visitor_keys(200):
        route = choose_route(routes, source, key)
        assert route is not None
        assert route.id == expected_id


def test_no_route_means_the_default_page() -> None:
    assert choose_route([], "instagram", "a" * 32) is None
    only_tiktok = [page_route(1, source="tiktok")]
    assert choose_route(only_tiktok, "instagram", "a" * 32) is None


def test_weight_zero_is_never_chosen() -> None:
    routes = [page_route(1, weight=0), page_route(2, weight=1), page_route(3, weight=0)]
    chosen = {choose_route(routes, "instagram", key) for key in visitor_keys(2_000)}
    assert chosen == {routes[1]}


def test_paused_source_routes_fall_back_to_any_source_routes() -> None:
    # A per-source rule whose variants all have weight 0 is paused, not a dead end.
    routes = [page_route(1, source="tiktok", weight=0), page_route(2, source=None)]
    assert choose_route(routes, "tiktok", "b" * 32) == routes[1]
    assert choose_route([page_route(1, weight=0)], "tiktok", "b" * 32) is None


# --- external targets -------------------------------------------------------------------------

ACCEPTED_URLS = [
    "https://example.com",
    "https://example.com/",
    "http://example.com/path?q=1&r=2#top",
    "https://shop.example.co.uk:8443/a/b",
    "HTTPS://EXAMPLE.COM/Upper",
    "https://example.com/" + "a" * (MAX_TARGET_URL_LENGTH - len("https://example.com/")),
    "https://xn--bcher-kva.example/",
    "https://[2001:db8::1]/ipv6",
    "https://203.0.113.5/ip",
]

REFUSED_URLS = [
    pytest.param("", id="empty"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("JavaScript:alert(document.cookie)", id="javascript-mixed-case"),
    pytest.param("  javascript:alert(1)", id="javascript-leading-space"),
    pytest.param("java\tscript:alert(1)", id="javascript-tab"),
    pytest.param("data:text/html,<script>alert(1)</script>", id="data"),
    pytest.param("vbscript:msgbox(1)", id="vbscript"),
    pytest.param("file:///etc/passwd", id="file"),
    pytest.param("ftp://example.com/file", id="ftp"),
    pytest.param("//evil.com", id="scheme-relative"),
    pytest.param("//evil.com/path", id="scheme-relative-path"),
    pytest.param("/\\evil.com", id="slash-backslash"),
    pytest.param("\\\\evil.com", id="double-backslash"),
    pytest.param("https:\\\\evil.com", id="https-backslashes"),
    pytest.param("https://good.com\\@evil.com", id="backslash-in-authority"),
    pytest.param("/relative/path", id="relative-path"),
    pytest.param("example.com", id="no-scheme"),
    pytest.param("https://", id="empty-host"),
    pytest.param("https:///path", id="empty-host-path"),
    pytest.param("https://:443/", id="port-only"),
    pytest.param("https:example.com", id="no-slashes"),
    pytest.param("https://user:pass@example.com/", id="credentials"),
    pytest.param("https://user@example.com/", id="user-name"),
    pytest.param("https://@example.com/", id="empty-user-info"),
    pytest.param("https://example.com/a b", id="space"),
    pytest.param("https://example.com/\r\nSet-Cookie: x=1", id="crlf"),
    pytest.param("https://example.com/\x00", id="nul"),
    pytest.param("https://example.com/\x7f", id="del"),
    pytest.param("https://example.com/\x85", id="c1-control"),
    pytest.param("https://exa\tmple.com/", id="tab-in-host"),
    pytest.param("https://example.com:99999/", id="port-out-of-range"),
    pytest.param("https://example.com:0/", id="port-zero"),
    pytest.param("https://[::1/", id="broken-ipv6"),
    pytest.param(
        "https://example.com/" + "a" * (MAX_TARGET_URL_LENGTH + 1 - len("https://example.com/")),
        id="2049-chars",
    ),
    pytest.param("https://example.com/" + "a" * 1_000_000, id="one-megabyte"),
]


@pytest.mark.parametrize("url", ACCEPTED_URLS)
def test_absolute_http_urls_are_accepted(url: str) -> None:
    assert check_external_url(url) is None


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_unsafe_targets_are_refused_with_a_reason(url: str) -> None:
    reason = check_external_url(url)
    assert reason is not None
    assert reason.endswith(".")
    assert "\n" not in reason
    assert len(reason) < 120
