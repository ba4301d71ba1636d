"""The report's inline SVG charts: well-formed, accessible, the right bars, escaped labels."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.reports import charts
from app.reports.charts import Funnel, StackedBar

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "100%"
    assert root.get("role") == "img"
    assert (root.get("viewBox") or "").startswith("0 0 ")
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None
    assert title.text
    assert desc is not None
    assert desc.text
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")
    return root


def rects(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == css_class]


def tooltip(element: ET.Element) -> str:
    title = element.find(f"{SVG}title")
    assert title is not None
    assert title.text
    return title.text


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_a_funnel_draws_a_bar_per_known_non_zero_stage() -> None:
    funnel = Funnel(
        "instagram",
        [("likes", 2000), ("visits", 400), ("leads", 20), ("confirmed", 0), ("customers", None)],
    )
    root = parse(charts.funnel_chart(funnel, chart_id="f1"))
    bars = rects(root, "bar")
    assert len(bars) == 3
    widths = [float(bar.get("width") or 0) for bar in bars]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] == pytest.approx(widths[1] * 5)
    assert tooltip(bars[1]) == "instagram · visits: 400 (20.0% of likes)"
    shown = texts(root)
    assert "instagram" in shown
    assert "2,000" in shown
    assert "20 · 5.0%" in shown
    assert "—" in shown  # customers were never recorded


def test_tiny_stages_stay_visible() -> None:
    root = parse(charts.funnel_chart(Funnel("x", [("likes", 10**6), ("leads", 1)]), chart_id="f"))
    assert [float(b.get("width") or 0) for b in rects(root, "bar")][1] >= 2


def test_stacked_bars_have_one_segment_per_non_zero_value() -> None:
    bars = [
        StackedBar("Nov 1", {"instagram": 3, "tiktok": 1}),
        StackedBar("Nov 2", {}),
        StackedBar("Nov 3", {"tiktok": 2, "instagram": 0}),
        StackedBar("Nov 4", {"x": 5}),
    ]
    svg = charts.stacked_bar_chart(
        bars, ["instagram", "tiktok", "x"], chart_id="leads", title="Leads per day", unit="leads"
    )
    root = parse(svg)
    segments = rects(root, "segment")
    assert len(segments) == 4
    assert [tooltip(s) for s in segments] == [
        "Nov 1 · instagram: 3 leads",
        "Nov 1 · tiktok: 1 leads",
        "Nov 3 · tiktok: 2 leads",
        "Nov 4 · x: 5 leads",
    ]
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "bar"]
    assert len(groups) == 3  # the empty day draws nothing
    # Stacked: instagram sits on top of nothing, tiktok on top of instagram, both the same x.
    first, second = segments[0], segments[1]
    assert first.get("x") == second.get("x")
    assert float(second.get("y") or 0) + float(second.get("height") or 0) == pytest.approx(
        float(first.get("y") or 0)
    )
    # Heights are proportional to the values.
    heights = [float(s.get("height") or 0) for s in segments]
    assert heights[3] == pytest.approx(heights[1] * 5)
    shown = texts(root)
    assert {"instagram", "tiktok", "x"} <= set(shown)  # the legend
    assert "Nov 1" in shown
    assert "Nov 4" in shown
    assert "11 leads in 4 bars" in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_the_axis_uses_round_numbers() -> None:
    svg = charts.stacked_bar_chart(
        [StackedBar("d", {"email": 37})], ["email"], chart_id="a", title="t", unit="leads"
    )
    assert {"0", "10", "20", "30", "40"} <= set(texts(parse(svg)))


@pytest.mark.parametrize(
    ("value", "step"), [(0, 1), (0.3, 1), (1, 1), (1.5, 2), (3, 5), (7, 10), (12, 20), (4999, 5000)]
)
def test_nice_step(value: float, step: int) -> None:
    assert charts.nice_step(value) == step


def test_an_empty_range_says_so() -> None:
    root = parse(charts.stacked_bar_chart([], [], chart_id="e", title="t", unit="leads"))
    assert rects(root, "segment") == []
    assert "No leads in this range" in texts(root)
    empty = parse(charts.rate_bar_chart([], chart_id="r", title="t", missing="-"))
    assert "No data in this range" in texts(empty)


def test_rate_bars_are_proportional_and_missing_rates_are_named() -> None:
    root = parse(
        charts.rate_bar_chart(
            [("instagram", 0.02), ("tiktok", None), ("youtube", 0.005), ("x", 0.0)],
            chart_id="l2l",
            title="Like-to-lead",
            missing="no likes recorded",
        )
    )
    bars = rects(root, "bar")
    assert len(bars) == 2
    assert float(bars[0].get("width") or 0) == pytest.approx(4 * float(bars[1].get("width") or 0))
    assert [tooltip(b) for b in bars] == ["instagram: 2.0%", "youtube: 0.50%"]
    shown = texts(root)
    assert "no likes recorded" in shown
    assert "0.0%" in shown


def test_labels_are_escaped_everywhere() -> None:
    evil = '<script>alert("x")</script>&'
    svgs = [
        charts.funnel_chart(Funnel(evil, [("likes", 1)]), chart_id='a"b'),
        charts.stacked_bar_chart(
            [StackedBar(evil, {evil: 1})], [evil], chart_id="s", title=evil, unit=evil
        ),
        charts.rate_bar_chart([(evil, 0.5)], chart_id="r", title=evil, missing=evil),
    ]
    for svg in svgs:
        assert "<script" not in svg
        root = parse(svg)  # still well-formed
        assert evil in texts(root)  # the reader sees the label as it was written


def test_colours_are_stable_per_source() -> None:
    assert charts.color_for("instagram") == charts.color_for("instagram")
    assert charts.color_for("instagram") != charts.color_for("tiktok")
    assert charts.color_for("some-new-source").startswith("#")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0.0, "0.0%"),
        (0.125, "12.5%"),
        (0.0042, "0.42%"),
        (1.0, "100.0%"),
        (0.0002, "0.02%"),
        (0.000042, "0.0042%"),
        (0.0000123, "0.0012%"),
    ],
)
def test_format_rate(value: float | None, text: str) -> None:
    assert charts.format_rate(value) == text
