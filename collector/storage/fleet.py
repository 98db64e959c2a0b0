"""Fleet health for the dashboard's Fleet page: the device registry and the stream ranges summed
in SQL (one pass over `devices`, one over `streams`), so the page costs the same at 100,000
devices as at 100. Both stores run these statements; only the JSON accessor differs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

Dialect = Literal["sqlite", "postgresql"]
# Kinds of remote configuration listed on the Fleet page (the rest are counted in none).
CONFIGS_LIMIT = 20
# Devices whose last event is older than this are "silent" (no data lately), whatever their
# agent's status says.
SILENT_AFTER_MS = 24 * 3_600_000
ATTENTION_LIMIT = 20


def _json(dialect: Dialect, key: str, cast: str = "") -> str:
    """An expression reading `status.<key>` (key is a constant of this module, never input)."""
    if dialect == "sqlite":
        return f"json_extract(status, '$.{key}')"
    return f"(status::jsonb ->> '{key}'){cast}"


def summary_sql(dialect: Dialect) -> str:
    """One row: device counts by agent state and recency, buffer backlog. Parameter: now_ms."""
    p = "?" if dialect == "sqlite" else "$1::bigint"
    state = _json(dialect, "state")
    depth = _json(dialect, "buffer_depth", "::bigint")
    age = _json(dialect, "oldest_age_s", "::float8")
    return (
        "SELECT count(*), "  # noqa: S608 (constants only)
        f"coalesce(sum(CASE WHEN {state} = 'online' THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN {state} = 'offline' THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN status IS NULL THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN last_seen_ms >= {p} - {SILENT_AFTER_MS} THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum({depth}), 0), "
        f"coalesce(sum(CASE WHEN {depth} > 0 THEN 1 ELSE 0 END), 0), "
        f"max({age}) FROM devices"
    )


def attention_sql(dialect: Dialect) -> str:
    """Devices worth a look: a backlog, stream loss, or silent (never sent an event, or not for
    a day); the most events at stake first, then the longest silent. Parameters: now_ms, limit."""
    now, limit = ("?", "?") if dialect == "sqlite" else ("$1::bigint", "$2")
    depth = _json(dialect, "buffer_depth", "::bigint")
    refused = _json(dialect, "config_error")
    return f"""
SELECT d.device_id, d.device_type, d.firmware_version, d.account_id, d.last_seen_ms,
    {_json(dialect, "state")}, coalesce({depth}, 0), s.gap_events, s.dropped_events,
    {_json(dialect, "config_version")}, {refused}
FROM devices d LEFT JOIN (
    SELECT device_id, sum(gap_events) AS gap_events, sum(dropped_events) AS dropped_events
    FROM streams GROUP BY device_id
) s ON s.device_id = d.device_id
WHERE coalesce({depth}, 0) > 0 OR coalesce(s.gap_events, 0) > 0
    OR coalesce(s.dropped_events, 0) > 0 OR {refused} IS NOT NULL
    OR coalesce(d.last_seen_ms, 0) < {now} - {SILENT_AFTER_MS}
ORDER BY coalesce({depth}, 0) + coalesce(s.gap_events, 0) + coalesce(s.dropped_events, 0) DESC,
    coalesce(d.last_seen_ms, 0), d.device_id
LIMIT {limit}
"""  # noqa: S608 (constants only)


ATTENTION_COLUMNS = (
    "device_id", "device_type", "firmware_version", "account_id", "last_seen_ms", "state",
    "buffer_depth", "gap_events", "dropped_events", "config_version", "config_error",
)  # fmt: skip


def configs_sql(dialect: Dialect) -> str:
    """Remote configuration (docs/agent.md) as the agents report it: devices per applied
    version (NULL: local settings only), and how many of them refused a newer message; the
    most common first. Parameter: limit."""
    limit = "?" if dialect == "sqlite" else "$1"
    version, error = _json(dialect, "config_version"), _json(dialect, "config_error")
    return (
        f"SELECT {version}, count(*), "  # noqa: S608 (constants only)
        f"coalesce(sum(CASE WHEN {error} IS NOT NULL THEN 1 ELSE 0 END), 0) "
        f"FROM devices WHERE status IS NOT NULL GROUP BY {version} "
        f"ORDER BY count(*) DESC, {version} IS NULL, {version} LIMIT {limit}"
    )


def summary_dict(row: Any, attention: list[Any], configs: Sequence[Any] = ()) -> dict[str, Any]:
    total, online, offline, unknown, recent, backlog, backlogged, oldest = row
    items = []
    for r in attention:
        item = dict(zip(ATTENTION_COLUMNS, r, strict=True))
        for k in ("buffer_depth", "gap_events", "dropped_events"):
            item[k] = int(item[k] or 0)
        items.append(item)
    return {
        "devices": int(total),
        "online": int(online),
        "offline": int(offline),
        "no_status": int(unknown),
        "seen_24h": int(recent),
        "silent_24h": int(total) - int(recent),
        "buffer_events": int(backlog),
        "devices_with_backlog": int(backlogged),
        "oldest_buffered_s": None if oldest is None else float(oldest),
        "attention": items,
        "configs": [
            {"config_version": v, "devices": int(n), "refused": int(r)} for v, n, r in configs
        ],
    }
