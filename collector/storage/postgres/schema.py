"""The PostgreSQL schema as versioned migrations, applied at start-up under an advisory lock.

Migrations are append-only: a database at version N runs N+1.. in one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from collector.errors import StoreError

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    # A connection of its own or one acquired from the pool: every function here takes either.
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

MIGRATIONS: list[str] = [
    """
    CREATE TABLE events (
        device_id text NOT NULL, event_id text NOT NULL,
        stream_id text, seq bigint, kind text NOT NULL, feature text,
        session_id text, user_id text,
        ts_ms bigint NOT NULL, wall_ms bigint NOT NULL, clock_method text NOT NULL,
        day date NOT NULL, device_type text NOT NULL, firmware_version text NOT NULL,
        account_id text NOT NULL, labels text NOT NULL, props text NOT NULL,
        received_ms bigint NOT NULL
    );
    CREATE UNIQUE INDEX events_imported ON events (device_id, event_id) WHERE stream_id IS NULL;
    CREATE INDEX events_day ON events (day);
    CREATE TABLE streams (
        device_id text NOT NULL, stream_id text NOT NULL,
        received text NOT NULL, dropped text NOT NULL,
        first_seen_ms bigint NOT NULL, last_seen_ms bigint NOT NULL,
        gap_events bigint NOT NULL DEFAULT 0, dropped_events bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (device_id, stream_id)
    );
    CREATE TABLE quarantine (
        id bigserial PRIMARY KEY, received_ms bigint NOT NULL, topic text NOT NULL,
        device_id text, reason text NOT NULL, detail text NOT NULL, raw bytea NOT NULL
    );
    CREATE INDEX quarantine_reason ON quarantine (reason);
    CREATE TABLE activity_day (
        device_id text NOT NULL, account_id text NOT NULL, device_type text NOT NULL,
        firmware_version text NOT NULL, labels text NOT NULL, day date NOT NULL,
        events bigint NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day)
    );
    CREATE INDEX activity_day_day ON activity_day (day);
    CREATE TABLE feature_day (
        device_id text NOT NULL, account_id text NOT NULL, device_type text NOT NULL,
        firmware_version text NOT NULL, labels text NOT NULL, day date NOT NULL,
        feature text NOT NULL, uses bigint NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day, feature)
    );
    CREATE INDEX feature_day_day ON feature_day (day);
    CREATE TABLE session_day (
        device_id text NOT NULL, account_id text NOT NULL, device_type text NOT NULL,
        firmware_version text NOT NULL, labels text NOT NULL, day date NOT NULL,
        sessions bigint NOT NULL, seconds double precision NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day)
    );
    CREATE TABLE devices (
        device_id text PRIMARY KEY, account_id text, device_type text, firmware_version text,
        first_seen_ms bigint, last_seen_ms bigint, events bigint NOT NULL DEFAULT 0,
        status text, status_ms bigint
    );
    """,
    # 2: analytics bitmaps and alert state; see migration 2 in sqlite_store.py for why.
    # Ordinal of a date = (day - 2000-01-01) + 730120, as Python's date.toordinal(). `version`
    # is the id of the last transaction that changed a row: a reader re-reads every row whose
    # version is at least the oldest transaction still running at its previous read (its
    # snapshot's xmin), which catches transactions that commit out of id order.
    """
    CREATE TABLE analytics_combo (
        id serial PRIMARY KEY, device_id text NOT NULL, account_id text NOT NULL,
        device_type text NOT NULL, firmware_version text NOT NULL, labels text NOT NULL,
        UNIQUE (device_id, account_id, device_type, firmware_version, labels)
    );
    CREATE TABLE analytics_feature (id serial PRIMARY KEY, feature text NOT NULL UNIQUE);
    CREATE TABLE activity_bits (
        combo integer NOT NULL, block integer NOT NULL, bits bigint NOT NULL,
        version bigint NOT NULL, PRIMARY KEY (combo, block)
    );
    CREATE INDEX activity_bits_version ON activity_bits (version);
    CREATE TABLE feature_bits (
        combo integer NOT NULL, feature integer NOT NULL, block integer NOT NULL,
        bits bigint NOT NULL, version bigint NOT NULL, PRIMARY KEY (combo, feature, block)
    );
    CREATE INDEX feature_bits_version ON feature_bits (version);
    INSERT INTO analytics_combo (device_id, account_id, device_type, firmware_version, labels)
    SELECT DISTINCT device_id, account_id, device_type, firmware_version, labels
    FROM activity_day;
    INSERT INTO analytics_feature (feature) SELECT DISTINCT feature FROM feature_day;
    INSERT INTO activity_bits
    SELECT c.id, o / 64, bit_or(1::bigint << (o % 64)), 0
    FROM (SELECT *, (day - DATE '2000-01-01') + 730120 AS o FROM activity_day) a
    JOIN analytics_combo c USING (device_id, account_id, device_type, firmware_version, labels)
    GROUP BY c.id, o / 64;
    INSERT INTO feature_bits
    SELECT c.id, f.id, o / 64, bit_or(1::bigint << (o % 64)), 0
    FROM (SELECT *, (day - DATE '2000-01-01') + 730120 AS o FROM feature_day) a
    JOIN analytics_combo c USING (device_id, account_id, device_type, firmware_version, labels)
    JOIN analytics_feature f ON f.feature = a.feature
    GROUP BY c.id, f.id, o / 64;
    CREATE FUNCTION pes_activity_bits() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        o integer := (NEW.day - DATE '2000-01-01') + 730120;
        c integer;
    BEGIN
        SELECT id INTO c FROM analytics_combo
            WHERE device_id = NEW.device_id AND account_id = NEW.account_id
            AND device_type = NEW.device_type AND firmware_version = NEW.firmware_version
            AND labels = NEW.labels;
        IF c IS NULL THEN
            INSERT INTO analytics_combo
                (device_id, account_id, device_type, firmware_version, labels)
            VALUES (NEW.device_id, NEW.account_id, NEW.device_type, NEW.firmware_version,
                NEW.labels)
            ON CONFLICT DO NOTHING;
            SELECT id INTO c FROM analytics_combo
            WHERE device_id = NEW.device_id AND account_id = NEW.account_id
            AND device_type = NEW.device_type AND firmware_version = NEW.firmware_version
            AND labels = NEW.labels;
        END IF;
        INSERT INTO activity_bits VALUES (c, o / 64, 1::bigint << (o % 64),
            pg_current_xact_id()::text::bigint)
        ON CONFLICT (combo, block) DO UPDATE SET bits = activity_bits.bits | excluded.bits,
            version = excluded.version;
        RETURN NULL;
    END $$;
    CREATE TRIGGER activity_bits_ai AFTER INSERT ON activity_day
        FOR EACH ROW EXECUTE FUNCTION pes_activity_bits();
    CREATE FUNCTION pes_feature_bits() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        o integer := (NEW.day - DATE '2000-01-01') + 730120;
        c integer;
        f integer;
    BEGIN
        SELECT id INTO c FROM analytics_combo
            WHERE device_id = NEW.device_id AND account_id = NEW.account_id
            AND device_type = NEW.device_type AND firmware_version = NEW.firmware_version
            AND labels = NEW.labels;
        SELECT id INTO f FROM analytics_feature WHERE feature = NEW.feature;
        IF f IS NULL THEN
            INSERT INTO analytics_feature (feature) VALUES (NEW.feature) ON CONFLICT DO NOTHING;
            SELECT id INTO f FROM analytics_feature WHERE feature = NEW.feature;
        END IF;
        INSERT INTO feature_bits VALUES (c, f, o / 64, 1::bigint << (o % 64),
            pg_current_xact_id()::text::bigint)
        ON CONFLICT (combo, feature, block) DO UPDATE SET
            bits = feature_bits.bits | excluded.bits, version = excluded.version;
        RETURN NULL;
    END $$;
    CREATE TRIGGER feature_bits_ai AFTER INSERT ON feature_day
        FOR EACH ROW EXECUTE FUNCTION pes_feature_bits();
    CREATE TABLE alert_state (
        rule text NOT NULL, subject text NOT NULL, value double precision,
        sent_ms bigint NOT NULL, PRIMARY KEY (rule, subject)
    );
    """,
    # 3: raw events partitioned by day (see collector/pg_partitions.py), the session rollup
    # indexed by day like the others (the API reads every rollup by day range), and the
    # run-once job claims (collector/jobs.py). An existing `events` table becomes the partition
    # `events_legacy` for its whole day range: a CHECK constraint proven first lets ATTACH skip
    # its own scan; no row is copied. The import-dedup index must contain the partition key; an
    # imported event always maps to the same day (its timestamp in the configured time zone).
    # `events_default` is pg_partitions.DEFAULT_PARTITION.
    """
    ALTER TABLE events RENAME TO events_legacy;
    ALTER INDEX events_imported RENAME TO events_legacy_imported;
    ALTER INDEX events_day RENAME TO events_legacy_day;
    CREATE TABLE events (
        device_id text NOT NULL, event_id text NOT NULL,
        stream_id text, seq bigint, kind text NOT NULL, feature text,
        session_id text, user_id text,
        ts_ms bigint NOT NULL, wall_ms bigint NOT NULL, clock_method text NOT NULL,
        day date NOT NULL, device_type text NOT NULL, firmware_version text NOT NULL,
        account_id text NOT NULL, labels text NOT NULL, props text NOT NULL,
        received_ms bigint NOT NULL
    ) PARTITION BY RANGE (day);
    CREATE UNIQUE INDEX events_imported ON events (device_id, event_id, day)
        WHERE stream_id IS NULL;
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    -- Only the DEFAULT partition mixes days and is trimmed by DELETE.
    CREATE INDEX events_default_day ON events_default (day);
    DO $$
    DECLARE
        lo date;
        hi date;
    BEGIN
        SELECT min(day), max(day) + 1 INTO lo, hi FROM events_legacy;
        IF lo IS NULL THEN
            DROP TABLE events_legacy;
        ELSE
            EXECUTE format('ALTER TABLE events_legacy ADD CONSTRAINT events_legacy_days '
                'CHECK (day >= %L AND day < %L)', lo, hi);
            EXECUTE format('ALTER TABLE events ATTACH PARTITION events_legacy '
                'FOR VALUES FROM (%L) TO (%L)', lo, hi);
            ALTER TABLE events_legacy DROP CONSTRAINT events_legacy_days;
            DROP INDEX events_legacy_imported;
        END IF;
    END $$;
    CREATE INDEX session_day_day ON session_day (day);
    CREATE TABLE job_runs (name text PRIMARY KEY, started_ms bigint NOT NULL);
    """,
    # 4: exact counts for /v1/stats without counting raw events (collector/tallies.py): raw
    # events per day and quarantined items per UTC day received and reason, in per-writer slots
    # (backend pid % 64, tallies.SLOTS) summed at read time. Kept by statement triggers, so
    # every writer is counted, including a previous version's collector still running during a
    # rolling upgrade, and a COPY is one counter upsert; a partition taking its rows out of
    # DEFAULT inserts into the partition itself, which the trigger on `events` does not see.
    # Quarantine now follows retention, by received_ms. The backfill counts the existing rows
    # once, with writers held off (SHARE) so that none is missed or doubled.
    """
    CREATE TABLE event_counts (
        day date NOT NULL, slot integer NOT NULL, events bigint NOT NULL,
        PRIMARY KEY (day, slot)
    );
    CREATE TABLE quarantine_counts (
        day date NOT NULL, reason text NOT NULL, slot integer NOT NULL, items bigint NOT NULL,
        PRIMARY KEY (day, reason, slot)
    );
    CREATE INDEX quarantine_received ON quarantine (received_ms);
    CREATE FUNCTION pes_count_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO event_counts
        SELECT day, pg_backend_pid() % 64, count(*) FROM new_rows GROUP BY day ORDER BY day
        ON CONFLICT (day, slot) DO UPDATE SET events = event_counts.events + excluded.events;
        RETURN NULL;
    END $$;
    CREATE TRIGGER events_count AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION pes_count_events();
    CREATE FUNCTION pes_count_quarantine() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO quarantine_counts
        SELECT DATE '1970-01-01' + (received_ms / 86400000)::integer, reason,
            pg_backend_pid() % 64, count(*)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, reason, slot) DO UPDATE SET
            items = quarantine_counts.items + excluded.items;
        RETURN NULL;
    END $$;
    CREATE TRIGGER quarantine_count AFTER INSERT ON quarantine REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION pes_count_quarantine();
    LOCK TABLE events, quarantine IN SHARE MODE;
    INSERT INTO event_counts SELECT day, 0, count(*) FROM events GROUP BY day;
    INSERT INTO quarantine_counts
    SELECT DATE '1970-01-01' + (received_ms / 86400000)::integer, reason, 0, count(*)
    FROM quarantine GROUP BY 1, 2;
    """,
    # 5: firmware runs (collector/storage/runbook.py), kept by the write plan at ingest; see
    # migration 5 of the SQLite schema. `version` is the id of the last transaction that
    # rewrote the device's runs (as the bitmaps': readers re-read from their snapshot's xmin).
    # firmware_devices holds one row per device, locked FOR UPDATE (in device order) by every
    # write that touches the device, so concurrent collectors never interleave on its runs.
    # Event ids order byte-wise (COLLATE "C"), as Python compares them. Writers held off.
    """
    CREATE TABLE firmware_devices (device_id text PRIMARY KEY);
    CREATE TABLE firmware_runs (
        device_id text NOT NULL, device_type text NOT NULL, firmware_version text NOT NULL,
        first_ts bigint NOT NULL, first_id text COLLATE "C" NOT NULL, first_day integer NOT NULL,
        last_ts bigint NOT NULL, last_id text COLLATE "C" NOT NULL, last_day integer NOT NULL,
        version bigint NOT NULL, PRIMARY KEY (device_id, first_ts, first_id)
    );
    CREATE INDEX firmware_runs_version ON firmware_runs (version);
    LOCK TABLE events IN SHARE MODE;
    INSERT INTO firmware_runs
    WITH e AS (
        SELECT device_id, ts_ms, event_id COLLATE "C" AS event_id,
            min(device_type) AS device_type, min(firmware_version) AS firmware_version,
            (min(day) - DATE '2000-01-01') + 730120 AS o
        FROM events GROUP BY device_id, ts_ms, event_id COLLATE "C"
    ), f AS (
        SELECT *, CASE WHEN lag(device_type) OVER w IS NOT DISTINCT FROM device_type
            AND lag(firmware_version) OVER w IS NOT DISTINCT FROM firmware_version
            THEN 0 ELSE 1 END AS brk
        FROM e WINDOW w AS (PARTITION BY device_id ORDER BY ts_ms, event_id)
    ), g AS (
        SELECT *, sum(brk) OVER (PARTITION BY device_id ORDER BY ts_ms, event_id
            ROWS UNBOUNDED PRECEDING) AS run FROM f
    ), h AS (
        SELECT *,
            row_number() OVER (PARTITION BY device_id, run ORDER BY ts_ms, event_id) AS a,
            row_number() OVER (PARTITION BY device_id, run ORDER BY ts_ms DESC, event_id DESC)
                AS z
        FROM g
    )
    SELECT device_id, min(device_type), min(firmware_version),
        max(CASE WHEN a = 1 THEN ts_ms END), max(CASE WHEN a = 1 THEN event_id END),
        max(CASE WHEN a = 1 THEN o END),
        max(CASE WHEN z = 1 THEN ts_ms END), max(CASE WHEN z = 1 THEN event_id END),
        max(CASE WHEN z = 1 THEN o END), pg_current_xact_id()::text::bigint
    FROM h GROUP BY device_id, run;
    INSERT INTO firmware_devices SELECT DISTINCT device_id FROM firmware_runs;
    """,
    # 6: customer outcomes (specs/outcomes.md); see migration 6 in sqlite/schema.py.
    """
    CREATE TABLE outcomes (
        entity text NOT NULL CHECK (entity IN ('account', 'device')), id text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('renewed', 'expanded', 'churned')),
        day date NOT NULL,
        PRIMARY KEY (entity, id, day)
    );
    """,
    # 7: alert deliveries; see migration 7 in sqlite/schema.py.
    """
    CREATE TABLE alert_deliveries (
        outcome text PRIMARY KEY CHECK (outcome IN ('sent', 'failed')), n bigint NOT NULL
    );
    """,
    # 8: the events of devices whose events split firmware runs; see migration 8 in
    # sqlite/schema.py. The mark is a column of the device's firmware_devices row, which every
    # write touching the device locks first: a write that marks a device and copies its events
    # is over before another write of that device reads the mark, so none of its events is
    # missed.
    """
    ALTER TABLE firmware_devices ADD COLUMN split boolean NOT NULL DEFAULT false;
    CREATE TABLE split_events (
        device_id text NOT NULL, ts_ms bigint NOT NULL, event_id text COLLATE "C" NOT NULL,
        day integer NOT NULL,
        PRIMARY KEY (device_id, ts_ms, event_id)
    );
    """,
]


async def schema_version(con: Conn) -> int | None:
    """The schema's version without writing anything; None when there is no schema."""
    if not await con.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
        return None
    return int(await con.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def migrate(con: Conn) -> None:
    """Bring the schema up to date; the caller's connection is not in a transaction."""
    async with con.transaction():
        # Collectors starting together must not run the same migration twice.
        await con.execute("SELECT pg_advisory_xact_lock(hashtext('pes-collector-migrate'))")
        await con.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        current = await con.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        if current > len(MIGRATIONS):
            raise StoreError(f"database schema v{current} is newer than this collector")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await con.execute(MIGRATIONS[version - 1])
            await con.execute("INSERT INTO schema_version VALUES ($1)", version)
