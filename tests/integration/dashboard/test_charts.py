"""The charts' tooltips, keyboard steps and value labels, against the real collector of
conftest.py: hovering a mark (or stepping to it with the arrow keys) shows the API's value with
its series and date; a hidden series gives no tooltip; the tooltip stays on screen at 800 px.
No console error (the tab fixture checks)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, TypedDict

from playwright.sync_api import Page

from tests.kits.dashboard import END, RANGE, START, TOKEN, Collector, Tab

CHART_START = "2025-11-29"  # the 12 weeks ending at END


def _short(day: str) -> str:
    """The dashboard's short date (en-GB, "7 Feb")."""
    d = date.fromisoformat(day)
    return f"{d.day} {d.strftime('%b')}"


def _hover(page: Page, selector: str) -> Tip:
    """Moves the pointer onto the centre of the mark and returns the tooltip's text and data."""
    page.locator(selector).scroll_into_view_if_needed()
    # A scroll hides the tip (it is placed on the screen): let its event pass first.
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    box = page.locator(selector).bounding_box()
    assert box, selector
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return _tip(page)


class Tip(TypedDict):
    """The tooltip's text, data attributes and horizontal extent (CSS px)."""

    text: str
    series: str
    x: str
    v: str
    right: float
    left: float


def _tip(page: Page) -> Tip:
    page.wait_for_selector(".tip:not([hidden])")
    tip: Tip = page.eval_on_selector(  # playwright: evaluate() returns Any
        ".tip",
        "t => ({text: t.textContent, series: t.dataset.series, x: t.dataset.x, v: t.dataset.v,"
        " right: t.getBoundingClientRect().right, left: t.getBoundingClientRect().left})",
    )
    return tip


def _number(text: str) -> float:
    found = re.findall(r"-?[\d,]+(?:\.\d+)?", text.rsplit(":", 1)[1])
    return float(found[0].replace(",", ""))


def test_a_hovered_mark_shows_the_api_value(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}")
    wide = collector.api("overview", start=CHART_START, end=END, group_by="")["series"]
    row = next(r for r in wide if r["day"] >= "2026-02-10" and r["dau"] < r["wau"])
    tip = _hover(page, f"#chart-active .mark[data-series='dau'][data-x='{row['day']}']")
    assert (tip["series"], tip["x"], float(tip["v"])) == ("dau", row["day"], row["dau"])
    assert tip["text"] == f"DAU, {_short(row['day'])}: {row['dau']:,}"
    tab.shot("overview-tooltip")

    # The PES trend of the most active segment: the value to the formatter's one decimal.
    rows = collector.api("pes", start=START, end=END)
    first = max(rows, key=lambda r: r["active"])
    seg = f"{first['device_type']} · {first['firmware_version']}"
    trend = [
        r
        for r in collector.api("trend", start=CHART_START, end=END)
        if (r["device_type"], r["firmware_version"])
        == (first["device_type"], first["firmware_version"])
        and r["pes"] is not None
    ]
    week = trend[len(trend) // 2]
    tip = _hover(page, f"#chart-trend .mark[data-series='{seg}'][data-x='{week['period_start']}']")
    assert tip["text"].startswith(f"{seg}, {_short(week['period_start'])}: ")
    assert abs(_number(tip["text"]) - week["pes"]) <= 0.05 + 1e-9
    assert float(tip["v"]) == week["pes"]

    # A bar of the per-feature adoption: the percent of the API's share.
    feats = collector.api("overview", start=START, end=END, group_by="", table="features")
    f = next(f for f in feats if f["adoption"])
    tip = _hover(page, f"#chart-features .mark[data-x='{f['feature']}']")
    assert tip["text"] == f"{f['feature']}: {100 * f['adoption']:.1f}%"

    # A hidden series gives no tooltip: where its mark was, the tip names another or nothing.
    dau = f"#chart-active .mark[data-series='dau'][data-x='{row['day']}']"
    box = page.locator(dau).bounding_box()
    assert box
    toggle = page.locator("#chart-active .legend .toggle[data-series='dau']")
    toggle.click()
    assert not page.locator("#chart-active g.series[data-series='dau']").is_visible()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.evaluate("new Promise(r => requestAnimationFrame(r))")
    assert page.evaluate(
        "(t => t.hidden || t.dataset.series !== 'dau')(document.querySelector('.tip'))"
    )
    toggle.click()  # shown again
    assert _hover(page, dau)["series"] == "dau"


def test_the_arrow_keys_step_through_a_chart(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}")
    wide = collector.api("overview", start=CHART_START, end=END, group_by="")["series"]
    page.focus("#chart-active svg.chart")  # scrolls it into view, which hides a tip
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.keyboard.press("ArrowRight")  # the first mark: MAU (drawn first), first day
    tip = _tip(page)
    assert (tip["series"], tip["x"], float(tip["v"])) == ("mau", wide[0]["day"], wide[0]["mau"])
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # along the series
    tip = _tip(page)
    assert (tip["series"], tip["x"], float(tip["v"])) == ("mau", wide[2]["day"], wide[2]["mau"])
    page.keyboard.press("ArrowDown")  # across the series, same day
    tip = _tip(page)
    assert (tip["series"], tip["x"], float(tip["v"])) == ("wau", wide[2]["day"], wide[2]["wau"])
    assert tip["text"] == f"WAU, {_short(wide[2]['day'])}: {wide[2]['wau']:,}"
    page.keyboard.press("Escape")
    page.wait_for_selector(".tip", state="hidden")


def test_few_bars_carry_their_numbers(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}")
    life = collector.api("overview", start=CHART_START, end=END, group_by="")["lifecycle"]
    found = page.eval_on_selector_all(
        "#chart-lifecycle text.vlabel",
        "els => els.map(e => [e.dataset.series, e.dataset.x, e.textContent])",
    )
    up = {x: t for s, x, t in found if s == "up"}
    down = {x: t for s, x, t in found if s == "dropped"}
    by_week = {r["period_start"]: r for r in life}
    assert up and down and len(up) >= len(life) - 1  # all but a clipped start of history
    assert all(t == f"{by_week[x]['new'] + by_week[x]['recovered']:,}" for x, t in up.items())
    assert all(t == f"{by_week[x]['dropped']:,}" for x, t in down.items())
    assert set(down) <= {r["period_start"] for r in life if r["dropped"]}

    a, b = "firmware_version:1.0", "firmware_version:1.1"
    page = tab.open(f"/compare?{RANGE}&a={a}&b={b}")
    rows = collector.api("compare", start=START, end=END, a=a, b=b, baseline="a")
    pes = [f"{r['value']:.1f}" for r in rows if r["metric"] == "pes" and r["value"] is not None]
    shown = page.eval_on_selector_all(
        "[data-metric='pes'] text.vlabel", "els => els.map(e => e.textContent)"
    )
    assert shown == pes


def test_the_tooltip_stays_on_screen_at_800_px(browser: Any, collector: Collector) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    tab = Tab(page, collector.base)
    tab.open(f"/fleet?token={TOKEN}")
    tab.open(f"/?{RANGE}")
    tip = _hover(page, "#chart-active .mark[data-series='mau']:last-of-type")
    assert tip["x"] == END and 0 <= tip["left"] and tip["right"] <= 800, tip
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    tab.shot("overview-800-tooltip")
    context.close()
    assert not tab.problems, tab.problems


def test_a_redrawn_chart_takes_its_tooltip_away(tab: Tab, collector: Collector) -> None:
    page = tab.open("/fleet")  # redraws itself every 5 s
    online = collector.api("fleet")["online"]
    tip = _hover(page, "#agents .mark[data-series='online']")
    assert tip["text"] == f"online: {online:,}" and float(tip["v"]) == online
    page.wait_for_selector(".tip", state="hidden", timeout=15_000)  # the pointer did not move
