"""The SQLite schema as versioned migrations (append-only), applied at start-up."""

MIGRATIONS: list[str] = [
    # 1: events, quarantine, rollups, device registry
    """
    -- Append-only: stream events are deduplicated by sequence ranges (table streams), so they
    -- pay for no per-event index. Imported events have no stream: a partial unique index on
    -- their identity dedups them instead.
    CREATE TABLE events (
        device_id TEXT NOT NULL, event_id TEXT NOT NULL,
        stream_id TEXT, seq INTEGER, kind TEXT NOT NULL, feature TEXT,
        session_id TEXT, user_id TEXT,
        ts_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL, clock_method TEXT NOT NULL,
        day TEXT NOT NULL, device_type TEXT NOT NULL, firmware_version TEXT NOT NULL,
        account_id TEXT NOT NULL, labels TEXT NOT NULL, props TEXT NOT NULL,
        received_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX events_imported ON events (device_id, event_id) WHERE stream_id IS NULL;
    CREATE TABLE streams (
        device_id TEXT NOT NULL, stream_id TEXT NOT NULL,
        received TEXT NOT NULL,   -- JSON [[first, last], ...]: sequence ranges received
        dropped TEXT NOT NULL,    -- JSON [[first, last, reason], ...]: declared by the agent
        first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
        gap_events INTEGER NOT NULL DEFAULT 0, dropped_events INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (device_id, stream_id)
    ) WITHOUT ROWID;
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, topic TEXT NOT NULL,
        device_id TEXT, reason TEXT NOT NULL, detail TEXT NOT NULL, raw BLOB NOT NULL
    );
    CREATE INDEX quarantine_reason ON quarantine (reason);
    CREATE TABLE activity_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day)
    ) WITHOUT ROWID;
    CREATE INDEX activity_day_day ON activity_day (day);
    CREATE TABLE feature_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        feature TEXT NOT NULL, uses INTEGER NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day, feature)
    ) WITHOUT ROWID;
    CREATE INDEX feature_day_day ON feature_day (day);
    CREATE TABLE session_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        sessions INTEGER NOT NULL, seconds REAL NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day)
    ) WITHOUT ROWID;
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY, account_id TEXT, device_type TEXT, firmware_version TEXT,
        first_seen_ms INTEGER, last_seen_ms INTEGER, events INTEGER NOT NULL DEFAULT 0,
        status TEXT, status_ms INTEGER
    );
    """,
    # 2: analytics (collector/analytics): each entity's active days as 64-day bitmaps, so that a
    # query reads one integer per combination and 64 days instead of one row per day. Kept in
    # step with activity_day/feature_day by triggers (a new day row sets its bit; an existing
    # one only gains a count, so INSERT triggers suffice), leaving the ingest code unchanged.
    # Combinations and feature names get integer ids; `version` grows with every change so that
    # collector/analytics_cache.py reads only what changed since its last read. Days are Python
    # date ordinals (julianday - 1721424.5); block = ordinal / 64, bit = ordinal % 64.
    # alert_state: alerts already delivered, one row per open breach (collector/alerts.py).
    """
    CREATE TABLE analytics_combo (
        id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, account_id TEXT NOT NULL,
        device_type TEXT NOT NULL, firmware_version TEXT NOT NULL, labels TEXT NOT NULL,
        UNIQUE (device_id, account_id, device_type, firmware_version, labels)
    );
    CREATE TABLE analytics_feature (id INTEGER PRIMARY KEY, feature TEXT NOT NULL UNIQUE);
    CREATE TABLE activity_bits (
        combo INTEGER NOT NULL, block INTEGER NOT NULL, bits INTEGER NOT NULL,
        version INTEGER NOT NULL, PRIMARY KEY (combo, block)
    ) WITHOUT ROWID;
    CREATE INDEX activity_bits_version ON activity_bits (version);
    CREATE TABLE feature_bits (
        combo INTEGER NOT NULL, feature INTEGER NOT NULL, block INTEGER NOT NULL,
        bits INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (combo, feature, block)
    ) WITHOUT ROWID;
    CREATE INDEX feature_bits_version ON feature_bits (version);
    INSERT INTO analytics_combo (device_id, account_id, device_type, firmware_version, labels)
    SELECT DISTINCT device_id, account_id, device_type, firmware_version, labels
    FROM activity_day;
    INSERT INTO analytics_feature (feature) SELECT DISTINCT feature FROM feature_day;
    INSERT INTO activity_bits
    SELECT c.id, o / 64, sum(1 << (o % 64)), 1
    FROM (SELECT *, CAST(julianday(day) - 1721424.5 AS INTEGER) AS o FROM activity_day) a
    JOIN analytics_combo c USING (device_id, account_id, device_type, firmware_version, labels)
    GROUP BY c.id, o / 64;
    INSERT INTO feature_bits
    SELECT c.id, f.id, o / 64, sum(1 << (o % 64)), 1
    FROM (SELECT *, CAST(julianday(day) - 1721424.5 AS INTEGER) AS o FROM feature_day) a
    JOIN analytics_combo c USING (device_id, account_id, device_type, firmware_version, labels)
    JOIN analytics_feature f ON f.feature = a.feature
    GROUP BY c.id, f.id, o / 64;
    CREATE TRIGGER activity_bits_ai AFTER INSERT ON activity_day BEGIN
        INSERT OR IGNORE INTO analytics_combo
            (device_id, account_id, device_type, firmware_version, labels)
        VALUES (NEW.device_id, NEW.account_id, NEW.device_type, NEW.firmware_version,
            NEW.labels);
        INSERT INTO activity_bits VALUES (
            (SELECT id FROM analytics_combo WHERE device_id = NEW.device_id
                AND account_id = NEW.account_id AND device_type = NEW.device_type
                AND firmware_version = NEW.firmware_version AND labels = NEW.labels),
            CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) / 64,
            1 << (CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) % 64),
            (SELECT coalesce(max(version), 0) + 1 FROM activity_bits))
        ON CONFLICT (combo, block)
        DO UPDATE SET bits = bits | excluded.bits, version = excluded.version;
    END;
    CREATE TRIGGER feature_bits_ai AFTER INSERT ON feature_day BEGIN
        INSERT OR IGNORE INTO analytics_feature (feature) VALUES (NEW.feature);
        INSERT INTO feature_bits VALUES (
            (SELECT id FROM analytics_combo WHERE device_id = NEW.device_id
                AND account_id = NEW.account_id AND device_type = NEW.device_type
                AND firmware_version = NEW.firmware_version AND labels = NEW.labels),
            (SELECT id FROM analytics_feature WHERE feature = NEW.feature),
            CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) / 64,
            1 << (CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) % 64),
            (SELECT coalesce(max(version), 0) + 1 FROM feature_bits))
        ON CONFLICT (combo, feature, block)
        DO UPDATE SET bits = bits | excluded.bits, version = excluded.version;
    END;
    CREATE TABLE alert_state (
        rule TEXT NOT NULL, subject TEXT NOT NULL, value REAL, sent_ms INTEGER NOT NULL,
        PRIMARY KEY (rule, subject)
    );
    """,
    # 3: the session rollup indexed by day like the others (the API reads rollups by day
    # range), and the run-once job claims (collector/jobs.py). Raw events stay one table: the
    # embedded store is for one box, where DELETE in small chunks keeps up with retention.
    """
    CREATE INDEX session_day_day ON session_day (day);
    CREATE TABLE job_runs (name TEXT PRIMARY KEY, started_ms INTEGER NOT NULL);
    """,
    # 4: exact counts for /v1/stats without counting raw events (collector/tallies.py); see
    # migration 4 in pg_schema.py. One writer: every row is slot 0. Quarantine follows
    # retention, by received_ms.
    """
    CREATE TABLE event_counts (
        day TEXT NOT NULL, slot INTEGER NOT NULL, events INTEGER NOT NULL,
        PRIMARY KEY (day, slot)
    ) WITHOUT ROWID;
    CREATE TABLE quarantine_counts (
        day TEXT NOT NULL, reason TEXT NOT NULL, slot INTEGER NOT NULL, items INTEGER NOT NULL,
        PRIMARY KEY (day, reason, slot)
    ) WITHOUT ROWID;
    CREATE INDEX quarantine_received ON quarantine (received_ms);
    INSERT INTO event_counts SELECT day, 0, count(*) FROM events GROUP BY day;
    INSERT INTO quarantine_counts
    SELECT date(received_ms / 86400000 * 86400, 'unixepoch'), reason, 0, count(*)
    FROM quarantine GROUP BY 1, 2;
    """,
    # 5: firmware runs (collector/storage/runbook.py), kept by the write plan at ingest: one row
    # per maximal run of a device's events with one (device_type, firmware), first and last
    # event key and day (ordinals). `version` = max + 1 per write, as the bitmaps; every row of
    # a changed device is rewritten with it, so a reader fetches the changed devices whole.
    # The backfill computes the runs of the events already stored (window functions).
    """
    CREATE TABLE firmware_runs (
        device_id TEXT NOT NULL, device_type TEXT NOT NULL, firmware_version TEXT NOT NULL,
        first_ts INTEGER NOT NULL, first_id TEXT NOT NULL, first_day INTEGER NOT NULL,
        last_ts INTEGER NOT NULL, last_id TEXT NOT NULL, last_day INTEGER NOT NULL,
        version INTEGER NOT NULL, PRIMARY KEY (device_id, first_ts, first_id)
    ) WITHOUT ROWID;
    CREATE INDEX firmware_runs_version ON firmware_runs (version);
    INSERT INTO firmware_runs
    WITH e AS (
        SELECT device_id, ts_ms, event_id, min(device_type) AS device_type,
            min(firmware_version) AS firmware_version,
            CAST(julianday(min(day)) - 1721424.5 AS INTEGER) AS o
        FROM events GROUP BY device_id, ts_ms, event_id
    ), f AS (
        SELECT *, CASE WHEN lag(device_type) OVER w IS device_type
            AND lag(firmware_version) OVER w IS firmware_version THEN 0 ELSE 1 END AS brk
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
        max(CASE WHEN z = 1 THEN o END), 1
    FROM h GROUP BY device_id, run;
    """,
    # 6: customer outcomes (specs/outcomes.md), imported from JSON lines; the key is
    # (entity, id, day) and a later import of the same key replaces the outcome.
    """
    CREATE TABLE outcomes (
        entity TEXT NOT NULL CHECK (entity IN ('account', 'device')), id TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('renewed', 'expanded', 'churned')),
        day TEXT NOT NULL,
        PRIMARY KEY (entity, id, day)
    ) WITHOUT ROWID;
    """,
    # 7: alert deliveries (collector/jobs/alerts.py) counted where every collector's /metrics
    # can read them: the alerts job may run in a short-lived process nothing scrapes.
    """
    CREATE TABLE alert_deliveries (
        outcome TEXT PRIMARY KEY CHECK (outcome IN ('sent', 'failed')), n INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 8: the events of devices whose events split firmware runs, by (device, key): the split's
    # read (storage/runbook.py) seeks here instead of scanning `events`, which has no index by
    # device. A device is marked at its first split, its stored events copied (one scan), and
    # its later events added by every write; retention deletes here too.
    """
    CREATE TABLE split_devices (device_id TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE split_events (
        device_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, event_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        PRIMARY KEY (device_id, ts_ms, event_id)
    ) WITHOUT ROWID;
    """,
]
