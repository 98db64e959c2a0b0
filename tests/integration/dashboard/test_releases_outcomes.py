"""The Releases page, the version marks of the Overview and the outcomes card of Accounts &
devices in headless Chromium against the real collector of conftest.py: the numbers shown (data-v
and friends) equal /v1/releases, /v1/rollout and /v1/outcomes/report; the view is in the URL and
a copied URL restores it; empty periods and missing outcomes say so."""

from __future__ import annotations

from typing import Any

from tests.kits.dashboard import (
    END,
    RANGE,
    START,
    Collector,
    Tab,
    close,
    marks,
    num,
    query,
    url_has,
    values,
)

HISTORY = "start=2026-01-01&end=2026-03-01"  # the whole simulated history


def verdict(r: dict[str, Any]) -> str:
    if r["did"] is None:
        return "none"
    if r["significant_holm"]:
        return "helped" if r["did"] > 0 else "hurt"
    return "noise"


def release(r: dict[str, Any]) -> str:
    return f"tr[data-release='{r['device_type']} {r['from']} {r['to']}']"


def cell(r: dict[str, Any]) -> str:
    return f"{release(r)} td[data-metric='{r['metric']}']"


def check_release_rows(page: Any, rows: list[dict[str, Any]]) -> None:
    """Every release and metric of the API is shown with its numbers and verdict, and no more."""
    releases = {(r["device_type"], r["from"], r["to"]) for r in rows}
    assert page.locator("#releases tbody tr").count() == len(releases)
    assert page.locator("#releases td[data-verdict]").count() == len(rows)
    for r in rows:
        td = page.locator(cell(r))
        assert td.get_attribute("data-verdict") == verdict(r), r
        assert close(num(td.get_attribute("data-v")), r["did"])
        assert close(num(td.get_attribute("data-pre")), r["pre_mean"])
        assert close(num(td.get_attribute("data-post")), r["post_mean"])
        lo, hi = r["did_ci"] or (None, None)
        assert close(num(td.get_attribute("data-lo")), lo)
        assert close(num(td.get_attribute("data-hi")), hi)
        tr = page.locator(release(r))
        for key in ("transitions", "measurable", "pending"):
            assert num(tr.locator(f"td[data-k='{key}']").get_attribute("data-v")) == r[key]


def rollout_expected(days: list[dict[str, Any]], dtype: str, fw: str) -> dict[str, float]:
    """Share in percent per day the type was active; 0 on such a day without that version."""
    mine = [d for d in days if d["device_type"] == dtype]
    share = {d["day"]: 100 * d["share"] for d in mine if d["firmware"] == fw}
    return {day: share.get(day, 0.0) for day in {d["day"] for d in mine}}


def test_releases_show_the_api_numbers_and_verdicts(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/releases?{HISTORY}")
    rows = collector.api("releases", start="2026-01-01", end="2026-03-01")
    check_release_rows(page, rows)
    # The fixture's releases of known effect read at a glance (tests/kits/dashboard.py).
    by = {(r["device_type"], r["from"], r["to"], r["metric"]): r for r in rows}
    assert verdict(by["press-x", "2.0", "2.1", "active_share"]) == "helped"
    assert verdict(by["lathe-9", "2.0", "2.1", "breadth"]) == "hurt"
    assert verdict(by["press-x", "1.0", "1.1", "breadth"]) == "noise"

    # The rollout of the first release's type by default: share per day on each version.
    roll = collector.api("rollout", start="2026-01-01", end="2026-03-01")
    dtype = rows[0]["device_type"]
    assert page.get_attribute("#rollout", "data-type") == dtype
    versions = [v for v in roll["versions"] if v["device_type"] == dtype]
    assert values(page, "#rollout tr[data-version]", "data-version") == [
        v["firmware"] for v in versions
    ]
    for v in versions:
        shown = marks(page, "#rollout", v["firmware"])
        assert shown == rollout_expected(roll["days"], dtype, v["firmware"]), v
        first = page.inner_text(
            f"#rollout tr[data-version='{v['firmware']}'] td[data-k='first_day']"
        )
        assert first == v["first_day"]
    tab.shot("releases")


def test_the_releases_view_is_in_the_url(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/releases?{HISTORY}")
    page.fill("#release-opts input[name=window]", "7")
    page.fill("#release-opts input[name=as_of]", "2026-02-25")
    page.select_option("#release-opts select[name=metric]", "breadth")  # submits the form
    url_has(page, window="7", metric="breadth", as_of="2026-02-25")
    tab.ready()
    params = {"start": "2026-01-01", "end": "2026-03-01", "window": 7, "as_of": "2026-02-25"}
    rows = collector.api("releases", metric="breadth", **params)
    assert any(r["pending"] for r in rows)  # the late upgrades are pending on 2026-02-25
    check_release_rows(page, rows)
    assert values(page, "#releases td[data-metric]", "data-metric") == ["breadth"] * len(rows)

    page.select_option("#rollout-type", "press-x")
    url_has(page, rollout="press-x")
    tab.ready()
    assert page.get_attribute("#rollout", "data-type") == "press-x"

    page.fill("input[name=device_type]", "lathe-9")  # the filter bar narrows both
    page.click("#filters button[type=submit]")
    url_has(page, device_type="lathe-9")
    tab.ready()
    lathe = collector.api("releases", metric="breadth", device_type="lathe-9", **params)
    check_release_rows(page, lathe)
    assert page.get_attribute("#rollout", "data-type") == "lathe-9"
    assert page.locator("#rollout-type").count() == 0
    shared = page.url
    tab.shot("releases-filtered")

    other = page.context.new_page()
    other.goto(shared)
    other.wait_for_selector("body[data-state=ready]")
    assert other.input_value("#release-opts input[name=window]") == "7"
    assert other.input_value("#release-opts select[name=metric]") == "breadth"
    assert values(other, "#releases td[data-metric]") == values(page, "#releases td[data-metric]")
    other.close()
    page.go_back()
    tab.ready()
    assert "device_type" not in query(page) and query(page)["rollout"] == ["press-x"]


def test_releases_in_an_empty_period_say_so(tab: Tab, collector: Collector) -> None:
    page = tab.open("/releases?start=2025-10-01&end=2025-10-31")
    assert collector.api("releases", start="2025-10-01", end="2025-10-31") == []
    assert "No firmware transitions from 2025-10-01 to 2025-10-31" in page.inner_text("#releases")
    assert page.locator("#releases table").count() == 0
    assert page.locator("#rollout .mark").count() == 0
    assert "No active" in page.inner_text("#rollout")


def test_overview_charts_mark_the_day_each_version_was_first_seen(
    tab: Tab, collector: Collector
) -> None:
    page = tab.open(f"/?{RANGE}")
    versions = collector.api("rollout", start=END, end=END)["versions"]
    firsts = {v["first_day"] for v in versions if "2025-11-29" <= v["first_day"] <= END}
    assert "2026-01-27" in firsts  # the fixture's 2.1 arrives on day 26
    assert set(values(page, "#chart-active .vmark", "data-x")) == firsts
    trend_marks = set(values(page, "#chart-trend .vmark", "data-x"))
    assert "2026-01-27" in trend_marks and trend_marks <= firsts
    label = page.get_attribute("#chart-active .vmark[data-x='2026-01-27']", "data-label") or ""
    named = sorted(
        f"{v['device_type']} {v['firmware']}" for v in versions if v["first_day"] == "2026-01-27"
    )
    assert label == f"first seen 2026-01-27: {', '.join(named)}"

    page.select_option("#trend-metric", "adoption")  # the trend of adoption carries them too
    url_has(page, trend="adoption")
    tab.ready()
    rows = collector.api("pes", start=START, end=END)
    top = max(rows, key=lambda r: r["active"])
    seg = f"{top['device_type']} · {top['firmware_version']}"
    trend = collector.api("trend", start="2025-11-29", end=END)
    expected = {
        r["period_start"]: r["adoption"]
        for r in trend
        if f"{r['device_type']} · {r['firmware_version']}" == seg and r["adoption"] is not None
    }
    assert marks(page, "#chart-trend", seg) == expected
    assert "2026-01-27" in values(page, "#chart-trend .vmark", "data-x")
    tab.shot("overview-adoption-trend")

    # A firmware filter marks that version only.
    page = tab.open(f"/?{RANGE}&firmware_version=2.1")
    assert set(values(page, "#chart-active .vmark", "data-x")) == {
        v["first_day"] for v in versions if v["firmware"] == "2.1"
    }


def test_outcomes_card_shows_the_report(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/accounts?{RANGE}")
    r = collector.api("outcomes/report", entity="device")
    assert r["n"] > 50 and r["auc"] is not None
    assert num(page.get_attribute("#outcomes", "data-n")) == r["n"]
    text = page.inner_text("#outcomes .verdict")
    assert close(num(page.get_attribute("#outcomes .verdict", "data-auc")), r["auc"])
    if r["auc"] >= 0.55:
        assert f"Your score separates renewals from churn: AUC {r['auc']:.2f}" in text
    for i, band in enumerate(r["bands"]):
        dot = page.locator(f"#outcomes circle[data-band='{i}']")
        if band["rate"] is None:
            assert dot.count() == 0
            continue
        assert close(num(dot.get_attribute("data-v")), band["rate"] * 100)
        assert close(num(dot.get_attribute("data-lo")), band["rate_ci"][0] * 100)
        assert close(num(dot.get_attribute("data-hi")), band["rate_ci"][1] * 100)
        assert num(dot.get_attribute("data-n")) == band["n"]
    top = r["top_quartile"]
    for key in ("n", "rate", "rest_n", "rest_rate", "difference"):
        shown = page.get_attribute(f"#quartile td[data-k='{key}']", "data-v")
        assert close(num(shown), top[key]), key
    w = r["weights"]
    for signal, auc in r["signal_auc"].items():
        row = page.locator(f"#weights tr[data-signal='{signal}']")
        assert close(num(row.locator("td[data-k='auc']").get_attribute("data-v")), auc)
        for kind in ("configured", "suggested"):
            shown = row.locator(f"td[data-k='{kind}']").get_attribute("data-v")
            assert close(num(shown), w[kind][signal]), (signal, kind)
    for key in ("cv_auc_configured", "cv_auc_suggested"):
        assert close(num(page.get_attribute(f"#weights td[data-k='{key}']", "data-v")), w[key])
    tab.shot("accounts-outcomes")

    # No account outcomes were imported; and a filter that matches no outcome says so.
    page.select_option("select[name=entity]", "account")
    url_has(page, entity="account")
    tab.ready()
    assert collector.api("outcomes/report", entity="account")["n"] == 0
    assert "No account outcomes imported yet" in page.inner_text("#outcomes")
    page = tab.open(f"/accounts?{RANGE}&device_type=no-such-type")
    assert "No device outcomes for devices active with these filters" in page.inner_text(
        "#outcomes"
    )
