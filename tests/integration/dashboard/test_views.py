"""Dashboard views beyond the numbers of each page (issue-level behaviour), against the real
collector of conftest.py: headline changes against the previous period, per-type feature
adoption, Compare's defaults, verdicts, baseline values and inline errors, device rows with
their account, empty periods, and the layout at 800 px wide."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.kits.dashboard import (
    END,
    RANGE,
    START,
    TOKEN,
    Collector,
    Tab,
    close,
    num,
    query,
    url_has,
    values,
)

PREVIOUS = ("2025-12-23", "2026-01-21")  # the 30 days before START
NONE = "\u2013"  # the dashboard's mark for "no value" (an en dash)


def test_headline_cards_show_the_change_against_the_previous_period(
    tab: Tab, collector: Collector
) -> None:
    page = tab.open(f"/?{RANGE}")
    now = collector.api("pes", start=START, end=END, group_by="")[0]
    [before] = collector.api("pes", start=PREVIOUS[0], end=PREVIOUS[1], group_by="")
    for key in ("pes", "adoption", "stickiness", "growth", "active", "quick_ratio"):
        card = f"#headline [data-k='{key}']"
        assert close(num(page.get_attribute(f"{card} .delta", "data-prev")), before[key]), key
        text = page.inner_text(f"{card} .delta")
        if now[key] is not None and before[key] is not None and now[key] != before[key]:
            assert ("▲" if now[key] > before[key] else "▼") in text, key


def test_feature_adoption_counts_only_types_with_the_feature(collector: Collector) -> None:
    feats = collector.api("overview", start=START, end=END, group_by="", table="features")
    types = {
        r["device_type"]: r["active"]
        for r in collector.api("pes", start=START, end=END, group_by="device_type")
    }
    eligible = {f["feature"]: f["eligible"] for f in feats}
    # jog and spindle are lathe-9's core features only, the others press-x's (tests/kits).
    assert eligible["jog"] == eligible["spindle"] == types["lathe-9"]
    assert eligible["calibrate"] == eligible["export"] == types["press-x"]


def test_compare_defaults_to_two_versions_of_one_device_type(
    tab: Tab, collector: Collector
) -> None:
    page = tab.open(f"/compare?{RANGE}")
    q = query(page)
    a, b = q["a"][0], q["b"][0]
    assert a.split(",")[0] == b.split(",")[0] and a != b  # same device_type:..., two versions
    rows = collector.api("compare", start=START, end=END, a=a, b=b, baseline="a")
    base = {r["metric"]: r for r in rows if r["config"] == "a"}
    for r in (r for r in rows if r["config"] == "b"):
        line = page.inner_text(f"[data-metric='{r['metric']}'] .verdicts li[data-config='b']")
        word = "raises" if r["delta"] > 0 else "lowers" if r["delta"] < 0 else "leaves"
        sig = (
            "significant."
            if r["significant_holm"]
            else "before Holm's correction only."
            if r["significant"]
            else "within noise."
        )
        assert word in line and line.endswith(sig), (line, r)
        tr = f"#deltas tr[data-config='b'][data-metric='{r['metric']}']"
        shown = page.get_attribute(f"{tr} td[data-k='base']", "data-v")
        assert close(num(shown), base[r["metric"]]["value"])
    tab.shot("compare-default")


def test_compare_says_when_a_configuration_matches_nothing(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/compare?{RANGE}&a=device_type:press-x&b=device_type:no-such-type")
    assert page.locator("circle[data-config='b']").count() == 0  # no dot, not even Growth's 50
    assert page.locator("circle[data-config='a']").count() == 4
    for metric in ("pes", "adoption", "stickiness", "growth"):
        line = page.inner_text(f"[data-metric='{metric}'] .verdicts li[data-config='b']")
        assert line == "b (no-such-type) matches no device in this period."


def test_a_bad_configuration_is_shown_inline_and_the_form_stays(
    tab: Tab, collector: Collector
) -> None:
    page = tab.open(f"/compare?{RANGE}&a=device_type:press-x&b=bogus")
    params = {"start": START, "end": END, "a": "device_type:press-x", "b": "bogus"}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = httpx.get(f"{collector.base}/v1/compare", headers=auth, params=params)
    assert r.status_code == 422
    assert page.inner_text("#compare-error") == r.json()["detail"]
    assert page.input_value("input[name=b]") == "bogus"
    page.fill("input[name=b]", "device_type:lathe-9")  # corrected in place
    page.click("#configs button:not([type=button])")
    url_has(page, b="device_type:lathe-9")
    tab.ready()
    assert page.locator("#compare-error").count() == 0
    assert page.locator("circle[data-config='b']").count() == 4
    # The 422 of the bad configuration was expected; nothing else went wrong.
    assert tab.problems and all("422" in p for p in tab.problems), tab.problems
    tab.problems.clear()


def test_device_rows_show_their_account(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/accounts?{RANGE}")
    assert page.inner_text("#find label").startswith("Find a device")
    pql = collector.api("health", start=START, end=END, list="pql")
    assert values(page, "#pql tbody td[data-k='account_id']") == [r["account_id"] for r in pql[:25]]
    assert all(r["account_id"] for r in pql)
    page.click(f"#pql tbody tr[data-entity='{pql[0]['entity']}']")
    url_has(page, id=pql[0]["entity"])
    tab.ready()
    page.click(f"#entity a[data-account='{pql[0]['account_id']}']")  # on to its account
    url_has(page, entity="account", id=pql[0]["account_id"])
    tab.ready()
    assert page.get_attribute("#entity", "data-entity") == pql[0]["account_id"]
    assert page.inner_text("#find label").startswith("Find an account")
    assert page.locator("#pql td[data-k='account_id']").count() == 0


def test_an_empty_period_says_so(tab: Tab, collector: Collector) -> None:
    page = tab.open("/?start=2025-10-01&end=2025-10-31")
    assert collector.api("pes", start="2025-10-01", end="2025-10-31", group_by="") == []
    for panel, text in [
        ("#pes-rows", "No activity in this period."),
        ("#chart-active", "No active devices in this range."),
        ("#chart-lifecycle", "No periods in this range."),
    ]:
        assert page.inner_text(f"{panel} .empty") == text
    assert page.locator("#chart-active svg").count() == 0
    assert page.get_attribute("#headline [data-k='pes']", "data-v") == ""


@pytest.mark.parametrize(
    "path",
    [
        f"/?{RANGE}",
        f"/compare?{RANGE}",
        "/releases?start=2026-01-01&end=2026-03-01",
        f"/accounts?{RANGE}",
        "/fleet",
    ],
)
def test_the_layout_holds_at_800_px(browser: Any, collector: Collector, path: str) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    tab = Tab(page, collector.base)
    tab.open(f"/fleet?token={TOKEN}")
    tab.open(path)
    width = page.evaluate("document.documentElement.scrollWidth")
    cut = page.eval_on_selector_all(
        ".tablewrap", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length"
    )
    if path.startswith("/?"):
        tab.shot("overview-800")
    context.close()
    assert width <= 800 and cut == 0, (width, cut)
    assert not tab.problems, tab.problems


def test_overview_retention_curves_and_cohort_grid(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}&group_by=device_type")
    rows = collector.api("retention", start="2025-11-29", end=END, group_by="device_type")
    pooled = [r for r in rows if r["cohort"] == "all"]
    groups = {r["device_type"] for r in pooled}
    assert groups == {"press-x", "lathe-9"}
    for g in groups:
        found = page.eval_on_selector_all(
            f"#chart-retention .mark[data-series='{g}']",
            "els => els.map(e => ['x', 'v', 'lo', 'hi'].map(k => e.getAttribute('data-' + k)))",
        )
        want = sorted((r for r in pooled if r["device_type"] == g), key=lambda r: r["week"])
        assert len(found) == len(want) > 1
        for (x, v, lo, hi), r in zip(found, want, strict=True):
            assert int(x) == r["week"] and close(num(v), 100 * r["rate"])
            assert close(num(lo), 100 * r["rate_ci"][0]) and close(num(hi), 100 * r["rate_ci"][1])
    # The grid shows the largest group's cohorts.
    size = {r["device_type"]: r["entities"] for r in pooled if r["week"] == 0}
    largest = max(size, key=lambda g: size[g])
    assert page.get_attribute("#chart-retention table.cohorts", "data-group") == largest
    mine = [r for r in rows if r["cohort"] != "all" and r["device_type"] == largest]
    assert values(page, "#chart-retention tr[data-cohort]", "data-cohort") == sorted(
        {r["cohort"] for r in mine}
    )
    for r in mine:
        cell = f"#chart-retention tr[data-cohort='{r['cohort']}'] td[data-k='w{r['week']}']"
        assert close(num(page.get_attribute(cell, "data-v")), r["rate"])
    tab.shot("overview-retention")

    page = tab.open("/?start=2025-10-01&end=2025-10-31")
    assert page.inner_text("#chart-retention .empty") == (
        "No new devices in this range, so no cohorts."
    )


def test_trend_legend_hides_and_shows_a_series(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}")
    item = page.locator("#chart-trend .legend .toggle").first
    key = item.get_attribute("data-series")
    mark = page.locator(f".mark[data-series='{key}']")
    series = page.locator("#chart-trend g.series").filter(has=mark)
    assert series.count() == 1 and series.is_visible()
    item.click()
    assert not series.is_visible() and "off" in (item.get_attribute("class") or "")
    item.click()
    assert series.is_visible()


def test_lifecycle_clips_an_outlier_and_labels_it(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}")
    wide = collector.api("overview", start="2025-11-29", end=END, group_by="")
    ratios = sorted((r["quick_ratio"] for r in wide["lifecycle"] if r["quick_ratio"]), reverse=True)
    assert len(ratios) > 2 and ratios[0] > 2 * ratios[1]  # the start of history: all new
    clipped = "#chart-lifecycle text.clipped"
    labels = page.eval_on_selector_all(clipped, "els => els.map(e => e.textContent)")
    assert any(abs(float(t.replace(",", "")) - ratios[0]) < 0.006 for t in labels), labels


def test_one_number_format_per_kind(tab: Tab, collector: Collector) -> None:
    """Scores with one decimal (100.0 too), ratios with two, counts whole; NONE where empty."""
    page = tab.open(f"/?{RANGE}")
    texts: dict[str, list[str]] = {}
    for key in ("pes", "adoption", "stickiness", "growth", "quick_ratio", "active"):
        texts[key] = page.eval_on_selector_all(
            f"#pes-rows td[data-k='{key}']", "els => els.map(e => e.textContent.trim())"
        )
    assert "100.0" in texts["adoption"] + texts["growth"]  # the fixture has whole-number scores
    for key, pattern in [("pes", r"\d+\.\d"), ("adoption", r"\d+\.\d"), ("growth", r"\d+\.\d"),
                         ("stickiness", r"\d+\.\d"), ("quick_ratio", r"\d+\.\d\d"),
                         ("active", r"\d+")]:  # fmt: skip
        assert all(re.fullmatch(pattern, t) or t == NONE for t in texts[key]), (key, texts[key])
    headline = page.inner_text("#headline [data-k='quick_ratio'] .value")
    assert re.fullmatch(r"\d+\.\d\d", headline) or headline == NONE, headline
