"""The dashboard in headless Chromium against a real collector holding a simulated fleet: every
page's numbers (read back from the data-v attributes of table cells and chart marks) equal the
API's JSON, filters change what is shown and the URL, a shared URL restores the view, and no
page logs a console error or gets a failed request. Screenshots: test-artifacts/dashboard/."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.kits.dashboard import (
    AGENT_ID,
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


def test_overview_shows_the_api_numbers(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}")
    fleet = collector.api("pes", start=START, end=END, group_by="")[0]
    for key in ("pes", "adoption", "stickiness", "growth", "active", "quick_ratio"):
        shown = page.get_attribute(f"#headline [data-k='{key}']", "data-v")
        assert close(num(shown), fleet[key]), key

    rows = collector.api("pes", start=START, end=END)
    assert len(rows) > 2
    table = page.locator("#pes-rows tbody tr")
    assert table.count() == len(rows)
    by_segment = {f"{r['device_type']} · {r['firmware_version']}": r for r in rows}
    for i in range(table.count()):
        tr = table.nth(i)
        r = by_segment[tr.get_attribute("data-segment") or ""]
        assert tr.get_attribute("data-low") == str(r["low_sample"]).lower()
        for key in ("pes", "adoption", "stickiness", "growth", "active", "dropped"):
            assert close(num(tr.locator(f"td[data-k='{key}']").get_attribute("data-v")), r[key])
    shown_pes = [num(v) for v in values(page, "#pes-rows td[data-k='pes']")]
    assert shown_pes == sorted(shown_pes, key=lambda v: -1 if v is None else v, reverse=True)

    # DAU/WAU/MAU per day over the 12 weeks ending at `end`, whole fleet
    wide = collector.api("overview", start="2025-11-29", end=END, group_by="")
    for key in ("dau", "wau", "mau"):
        assert marks(page, "#chart-active", key) == {r["day"]: r[key] for r in wide["series"]}
    for key in ("new", "recovered", "dropped", "quick_ratio"):
        expected = {r["period_start"]: r[key] for r in wide["lifecycle"]}
        if key == "quick_ratio":
            expected = {k: v for k, v in expected.items() if v is not None}
        assert marks(page, "#chart-lifecycle", key) == expected
    feats = collector.api("overview", start=START, end=END, group_by="", table="features")
    bars = marks(page, "#chart-features", "adoption")
    assert bars and set(bars) == {f["feature"] for f in feats}
    for f in feats:
        assert close(bars[f["feature"]], f["adoption"] * 100)
    trend = collector.api("trend", start="2025-11-29", end=END)
    first = f"{rows[0]['device_type']} · {rows[0]['firmware_version']}"
    expected = {
        r["period_start"]: r["pes"]
        for r in trend
        if f"{r['device_type']} · {r['firmware_version']}" == first and r["pes"] is not None
    }
    assert marks(page, "#chart-trend", first) == expected
    tab.shot("overview")


def test_filters_change_the_view_and_the_url_restores_it(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/?{RANGE}")
    page.select_option("select[name=group_by]", "device_type")
    url_has(page, group_by="device_type")
    tab.ready()
    types = collector.api("pes", start=START, end=END, group_by="device_type")
    assert sorted(values(page, "#pes-rows tbody tr", "data-segment")) == sorted(
        r["device_type"] for r in types
    )
    page.fill("input[name=device_type]", "press-x")
    page.select_option("select[name=stickiness]", "dau_wau")  # submits the form
    url_has(page, stickiness="dau_wau")
    tab.ready()
    q = query(page)
    assert q["device_type"] == ["press-x"] and q["group_by"] == ["device_type"]
    filtered = collector.api(
        "pes", start=START, end=END, group_by="", device_type="press-x", stickiness="dau_wau"
    )[0]
    assert close(num(page.get_attribute("#headline [data-k='pes']", "data-v")), filtered["pes"])
    assert values(page, "#pes-rows tbody tr", "data-segment") == ["press-x"]
    page.click("#pes-rows th[data-k='active']")  # sorting is part of the view too
    url_has(page, sort="-active")
    tab.ready()
    shared = page.url
    tab.shot("overview-filtered")

    other = page.context.new_page()
    other.goto(shared)
    other.wait_for_selector("body[data-state=ready]")
    assert other.input_value("select[name=stickiness]") == "dau_wau"
    assert other.input_value("input[name=device_type]") == "press-x"
    assert other.get_attribute("#headline [data-k='pes']", "data-v") == page.get_attribute(
        "#headline [data-k='pes']", "data-v"
    )
    other.close()
    page.go_back()  # history works: the unsorted view again
    tab.ready()
    assert "sort" not in query(page)


def test_compare_draws_intervals_and_deltas(tab: Tab, collector: Collector) -> None:
    a, b, c = "firmware_version:1.0", "firmware_version:1.1", "device_type:lathe-9"
    page = tab.open(f"/compare?{RANGE}&a={a}&b={b}&c={c}&baseline=b")
    rows = collector.api("compare", start=START, end=END, a=a, b=b, c=c, baseline="b")
    for r in rows:
        dot = page.locator(f"[data-metric='{r['metric']}'] circle[data-config='{r['config']}']")
        if r["value"] is None:
            assert dot.count() == 0
            continue
        assert close(num(dot.get_attribute("data-v")), r["value"])
        assert close(num(dot.get_attribute("data-lo")), r["ci_low"])
        assert close(num(dot.get_attribute("data-hi")), r["ci_high"])
    deltas = [r for r in rows if r["config"] != "b"]
    assert page.locator("#deltas tbody tr").count() == len(deltas)
    for r in deltas:
        tr = page.locator(f"#deltas tr[data-config='{r['config']}'][data-metric='{r['metric']}']")
        assert close(num(tr.locator("td[data-k='delta']").get_attribute("data-v")), r["delta"])
    assert page.locator("input[name=baseline][value=b]").is_checked()
    tab.shot("compare")

    # Two rows ticked on the overview lead here with those two configurations.
    page = tab.open(f"/?{RANGE}")
    boxes = page.locator("#pes-rows input[type=checkbox]")
    picked = [boxes.nth(0).get_attribute("data-config"), boxes.nth(1).get_attribute("data-config")]
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#to-compare")
    page.wait_for_function("location.pathname === '/compare'")
    tab.ready()
    q = query(page)
    assert [q["a"][0], q["b"][0]] == picked and q["start"] == [START]
    assert page.locator("[data-metric='pes'] circle.mark").count() >= 1


def test_accounts_lists_and_one_entity(tab: Tab, collector: Collector) -> None:
    page = tab.open(f"/accounts?{RANGE}")
    risk = collector.api("health", start=START, end=END, list="at_risk")
    pql = collector.api("health", start=START, end=END, list="pql")
    assert risk and pql
    assert values(page, "#at-risk tbody tr", "data-entity") == [r["entity"] for r in risk[:25]]
    assert values(page, "#pql tbody tr", "data-entity") == [r["entity"] for r in pql[:25]]
    assert num(page.get_attribute("#at-risk .pill", "data-v")) == len(risk)

    page.click(f"#pql tbody tr[data-entity='{pql[0]['entity']}']")
    url_has(page, id=pql[0]["entity"])
    tab.ready()
    detail = collector.api("entity", id=pql[0]["entity"], start=START, end=END)
    assert detail["health"]["health"] == pql[0]["health"]
    assert close(num(page.get_attribute("#entity [data-k='health']", "data-v")), pql[0]["health"])
    assert page.get_attribute("#entity [data-k='status']", "data-v") == "pql"
    cols = page.locator("#entity .mark[data-series='uses']")
    assert cols.count() == len(detail["days"]) == 30
    active = values(page, "#entity .mark[data-series='uses']", "data-active")
    assert active == [str(d["active"]).lower() for d in detail["days"]]
    assert num(page.get_attribute("#entity [data-k='active_days']", "data-v")) == sum(
        d["active"] for d in detail["days"]
    )
    tab.shot("accounts-entity")

    page.select_option("select[name=entity]", "account")
    url_has(page, entity="account")
    tab.ready()
    accounts = collector.api("health", start=START, end=END, entity="account", list="pql")
    assert values(page, "#pql tbody tr", "data-entity") == [r["entity"] for r in accounts[:25]]


def test_fleet_shows_devices_backlog_loss_quarantine_and_ingest(
    tab: Tab, collector: Collector
) -> None:
    page = tab.open("/fleet")
    f = collector.api("fleet")
    for key in ("devices", "online", "offline", "gap_events", "dropped_events", "quarantined"):
        assert num(page.get_attribute(f"#fleet-kpis [data-k='{key}']", "data-v")) == f[key], key
    assert f["online"] == 1 and f["quarantined"] >= 1
    stats = collector.api("stats")
    assert f["devices"] == stats["devices"] and f["quarantined"] == stats["quarantined"]
    assert marks(page, "#quarantine", "quarantine") == {
        k: float(v) for k, v in f["quarantine_by_reason"].items()
    }
    online = page.get_attribute("#agents .mark[data-series='online']", "data-v")
    assert online == "1"
    # Every imported device has been silent for more than a day: all listed, the agent not.
    listed = values(page, "#attention tbody tr", "data-device")
    assert listed and AGENT_ID not in listed
    assert len(listed) == min(20, f["devices"] - 1)
    # The remote configuration each listed device runs: none was published, so "local".
    cells = page.query_selector_all("#attention tbody td[data-k='config_version']")
    assert cells and {c.inner_text() for c in cells} == {"local"}
    # The page refreshes itself; from the second sample on it shows this collector's rate.
    page.wait_for_selector("#fleet-kpis [data-k='rate']:not([data-v=''])", timeout=20_000)
    assert num(page.get_attribute("#fleet-kpis [data-k='rate']", "data-v")) is not None
    tab.shot("fleet")


def test_a_missing_or_wrong_token_asks_for_one(browser: Any, collector: Collector) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{collector.base}/?{RANGE}")
    page.wait_for_selector("body[data-state=error]")
    assert "needs an API token" in page.inner_text("#banner")
    page.fill("#tokenform input", "test-token")
    page.click("#tokenform button")
    page.wait_for_selector("body[data-state=ready]")
    assert page.locator("#pes-rows tbody tr").count() > 0
    context.close()


@pytest.mark.parametrize("path", ["/static/../api.py", "/static/%2e%2e/api.py"])
def test_static_files_stay_inside_the_web_folder(collector: Collector, path: str) -> None:
    r = httpx.get(collector.base + path)
    assert r.status_code == 404


def test_a_rejected_view_shows_the_api_message(browser: Any, collector: Collector) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{collector.base}/?token=test-token&start={END}&end={START}")  # backwards
    page.wait_for_selector("body[data-state=error]")
    r = httpx.get(f"{collector.base}/v1/pes", params={"start": END, "end": START},
                  headers={"Authorization": "Bearer test-token"})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["detail"] in page.inner_text("main")
    page.click("#reset")  # back to the default view
    page.wait_for_selector("body[data-state=ready]")
    context.close()
