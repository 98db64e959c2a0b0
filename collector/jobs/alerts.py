"""Alerts: configured rules evaluated on a schedule, breaches delivered to a webhook.

A rule watches either a segment's PES or one of its components (below a threshold) or each
entity's health (below a threshold, or fallen by some points since the previous period). Rules
look at the last complete days: the period ends yesterday in the collector's time zone, so a
half-finished day never trips an alert by itself.

A breach is identified by (rule, subject), the subject being the segment or the entity. It is
POSTed once (JSON, retried with backoff on network errors, 429 and 5xx), then recorded in the
store's alert_state table; while it stays open it is not sent again. When an evaluation no
longer finds it, its record is deleted, so a later breach is news again. A delivery that still
fails after the retries is not recorded and is tried again at the next evaluation.

httpx is the HTTP client because the collector already speaks asyncio and the dev tooling
uses it; it is a direct dependency of the `collector` extra for this module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from collector.reports import health_rows, make_query, pes_rows
from collector.settings import AlertRule, AlertSettings, CollectorSettings
from collector.storage import Store
from shared.errors import PesError
from shared.retry import Backoff, sleep_unless

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Breach:
    rule: str
    subject: str  # "device_type=press-x,firmware_version=2.0", or an entity id
    kind: str
    metric: str
    value: float | None
    threshold: float | None
    change: float | None
    period_start: date
    period_end: date
    message: str

    def as_row(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "subject": self.subject,
            "kind": self.kind,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "change": self.change,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "message": self.message,
        }


def _subject(group_by: tuple[str, ...], row: dict[str, Any]) -> str:
    return ",".join(f"{a}={row[a]}" for a in group_by) or "fleet"


async def evaluate_rule(
    store: Store, settings: CollectorSettings, rule: AlertRule, today: date
) -> list[Breach]:
    end = today - timedelta(days=1)
    start = end - timedelta(days=rule.period_days - 1)
    q = make_query(
        settings.pes,
        start=start,
        end=end,
        group_by=rule.group_by if rule.kind == "segment" else "",
        entity=rule.entity,
        stickiness=rule.stickiness,
        filters=rule.filters,
    )
    out: list[Breach] = []
    if rule.kind == "segment":
        for row in await pes_rows(store, settings.pes, q):
            value = row[rule.metric]
            if row["active"] < rule.min_active or value is None:
                continue
            if rule.below is not None and value < rule.below:
                subject = _subject(q.group_by, row)
                msg = f"{rule.metric} of {subject} is {value:.1f}, below {rule.below:g}"
                out.append(
                    Breach(
                        rule.name,
                        subject,
                        "segment",
                        rule.metric,
                        value,
                        rule.below,
                        None,
                        start,
                        end,
                        msg,
                    )
                )
        return out
    for row in await health_rows(store, settings.pes, q):
        health, change = row["health"], row["change"]
        low = rule.below is not None and health < rule.below
        falling = rule.falling_by is not None and change is not None and change <= -rule.falling_by
        if low or falling:
            why = []
            if low:
                why.append(f"below {rule.below:g}")
            if falling:
                why.append(f"fell {-change:.1f} points")
            msg = f"health of {row['entity']} is {health:.1f} ({', '.join(why)})"
            out.append(
                Breach(
                    rule.name,
                    row["entity"],
                    "entity",
                    "health",
                    health,
                    rule.below,
                    change,
                    start,
                    end,
                    msg,
                )
            )
    return out


async def evaluate(store: Store, settings: CollectorSettings, today: date) -> list[Breach]:
    out: list[Breach] = []
    for rule in settings.alerts.rules:
        out += await evaluate_rule(store, settings, rule, today)
    return out


async def deliver(
    client: httpx.AsyncClient, conf: AlertSettings, payload: dict[str, Any], sleep: Sleep
) -> bool:
    """POST with retries; True once the webhook answered 2xx."""
    assert conf.webhook_url is not None
    backoff = Backoff(initial=0.5, cap=30.0)
    for attempt in range(conf.retries + 1):
        try:
            r = await client.post(conf.webhook_url, json=payload, timeout=conf.timeout_s)
            if r.is_success:
                return True
            if r.status_code != 429 and r.status_code < 500:
                log.warning("alert webhook refused %s: HTTP %d", payload["subject"], r.status_code)
                return False  # retrying the same request cannot help
            why = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}"
        if attempt < conf.retries:
            log.info("alert webhook attempt %d failed (%s), retrying", attempt + 1, why)
            await sleep(backoff.delay(attempt))
    log.warning("alert webhook failed after %d attempts: %s", conf.retries + 1, why)
    return False


async def run_once(
    store: Store,
    settings: CollectorSettings,
    client: httpx.AsyncClient,
    *,
    today: date | None = None,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, int]:
    """Evaluate, deliver what is new, forget what cleared. Returns counts for logs and tests."""
    today = today or datetime.now(settings.pes.tz).date()
    breaches = await evaluate(store, settings, today)
    state = await store.alert_state()
    current = {(b.rule, b.subject) for b in breaches}
    opened: list[tuple[str, str, float | None, int]] = []
    failed = 0
    for b in breaches:
        if (b.rule, b.subject) in state:
            continue  # still open and already delivered
        if settings.alerts.webhook_url is None:
            log.warning("alert (no webhook configured): %s", b.message)
            continue
        body = {**b.as_row(), "sent_at": datetime.now(settings.pes.tz).isoformat()}
        if await deliver(client, settings.alerts, body, sleep):
            opened.append((b.rule, b.subject, b.value, time.time_ns() // 1_000_000))
        else:
            failed += 1
    cleared = [key for key in state if key not in current]
    if opened or cleared:
        await store.set_alert_state(opened, cleared)
    if opened or failed:  # counted in the store: this process may be gone before a scrape
        await store.count_alert_deliveries(len(opened), failed)
    return {
        "breaches": len(breaches),
        "sent": len(opened),
        "failed": failed,
        "cleared": len(cleared),
    }


ALERTS_JOB = "alerts"


async def run_claimed(
    store: Store, settings: CollectorSettings, client: httpx.AsyncClient
) -> dict[str, int] | None:
    """`run_once` for the one process of the group that claims this evaluation (the others
    get None): runs never overlap, and none starts within half an interval of the last one,
    so several `pes-collector alerts` daemons or CronJob pods evaluate once per interval and
    a breach is POSTed once."""
    async with store.job(ALERTS_JOB, settings.alerts.interval_s / 2) as mine:
        if not mine:
            return None
        result: dict[str, int] = await run_once(store, settings, client)
        return result


async def run_forever(store: Store, settings: CollectorSettings, stop: asyncio.Event) -> None:
    """Evaluate every `alerts.interval_s`; an error is logged and the loop goes on."""
    async with httpx.AsyncClient() as client:
        while True:
            try:
                counts = await run_claimed(store, settings, client)
                log.info("alerts: %s", counts or "evaluated by another collector")
            except PesError as exc:
                log.warning("alert evaluation failed, will retry: %s", exc)
            if await sleep_unless(stop, settings.alerts.interval_s):
                return
