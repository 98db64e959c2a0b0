--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: pes_activity_bits(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.pes_activity_bits() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: pes_count_events(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.pes_count_events() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        INSERT INTO event_counts
        SELECT day, pg_backend_pid() % 64, count(*) FROM new_rows GROUP BY day ORDER BY day
        ON CONFLICT (day, slot) DO UPDATE SET events = event_counts.events + excluded.events;
        RETURN NULL;
    END $$;


--
-- Name: pes_count_quarantine(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.pes_count_quarantine() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        INSERT INTO quarantine_counts
        SELECT DATE '1970-01-01' + (received_ms / 86400000)::integer, reason,
            pg_backend_pid() % 64, count(*)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, reason, slot) DO UPDATE SET
            items = quarantine_counts.items + excluded.items;
        RETURN NULL;
    END $$;


--
-- Name: pes_feature_bits(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.pes_feature_bits() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: activity_bits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.activity_bits (
    combo integer NOT NULL,
    block integer NOT NULL,
    bits bigint NOT NULL,
    version bigint NOT NULL
);


--
-- Name: activity_day; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.activity_day (
    device_id text NOT NULL,
    account_id text NOT NULL,
    device_type text NOT NULL,
    firmware_version text NOT NULL,
    labels text NOT NULL,
    day date NOT NULL,
    events bigint NOT NULL
);


--
-- Name: alert_state; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_state (
    rule text NOT NULL,
    subject text NOT NULL,
    value double precision,
    sent_ms bigint NOT NULL
);


--
-- Name: analytics_combo; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.analytics_combo (
    id integer NOT NULL,
    device_id text NOT NULL,
    account_id text NOT NULL,
    device_type text NOT NULL,
    firmware_version text NOT NULL,
    labels text NOT NULL
);


--
-- Name: analytics_combo_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.analytics_combo_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: analytics_combo_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.analytics_combo_id_seq OWNED BY public.analytics_combo.id;


--
-- Name: analytics_feature; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.analytics_feature (
    id integer NOT NULL,
    feature text NOT NULL
);


--
-- Name: analytics_feature_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.analytics_feature_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: analytics_feature_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.analytics_feature_id_seq OWNED BY public.analytics_feature.id;


--
-- Name: devices; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.devices (
    device_id text NOT NULL,
    account_id text,
    device_type text,
    firmware_version text,
    first_seen_ms bigint,
    last_seen_ms bigint,
    events bigint DEFAULT 0 NOT NULL,
    status text,
    status_ms bigint
);


--
-- Name: event_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_counts (
    day date NOT NULL,
    slot integer NOT NULL,
    events bigint NOT NULL
);


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    device_id text NOT NULL,
    event_id text NOT NULL,
    stream_id text,
    seq bigint,
    kind text NOT NULL,
    feature text,
    session_id text,
    user_id text,
    ts_ms bigint NOT NULL,
    wall_ms bigint NOT NULL,
    clock_method text NOT NULL,
    day date NOT NULL,
    device_type text NOT NULL,
    firmware_version text NOT NULL,
    account_id text NOT NULL,
    labels text NOT NULL,
    props text NOT NULL,
    received_ms bigint NOT NULL
)
PARTITION BY RANGE (day);


--
-- Name: events_default; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events_default (
    device_id text NOT NULL,
    event_id text NOT NULL,
    stream_id text,
    seq bigint,
    kind text NOT NULL,
    feature text,
    session_id text,
    user_id text,
    ts_ms bigint NOT NULL,
    wall_ms bigint NOT NULL,
    clock_method text NOT NULL,
    day date NOT NULL,
    device_type text NOT NULL,
    firmware_version text NOT NULL,
    account_id text NOT NULL,
    labels text NOT NULL,
    props text NOT NULL,
    received_ms bigint NOT NULL
);


--
-- Name: feature_bits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.feature_bits (
    combo integer NOT NULL,
    feature integer NOT NULL,
    block integer NOT NULL,
    bits bigint NOT NULL,
    version bigint NOT NULL
);


--
-- Name: feature_day; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.feature_day (
    device_id text NOT NULL,
    account_id text NOT NULL,
    device_type text NOT NULL,
    firmware_version text NOT NULL,
    labels text NOT NULL,
    day date NOT NULL,
    feature text NOT NULL,
    uses bigint NOT NULL
);


--
-- Name: job_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_runs (
    name text NOT NULL,
    started_ms bigint NOT NULL
);


--
-- Name: quarantine; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.quarantine (
    id bigint NOT NULL,
    received_ms bigint NOT NULL,
    topic text NOT NULL,
    device_id text,
    reason text NOT NULL,
    detail text NOT NULL,
    raw bytea NOT NULL
);


--
-- Name: quarantine_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.quarantine_counts (
    day date NOT NULL,
    reason text NOT NULL,
    slot integer NOT NULL,
    items bigint NOT NULL
);


--
-- Name: quarantine_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.quarantine_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: quarantine_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.quarantine_id_seq OWNED BY public.quarantine.id;


--
-- Name: schema_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_version (
    version integer NOT NULL
);


--
-- Name: session_day; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.session_day (
    device_id text NOT NULL,
    account_id text NOT NULL,
    device_type text NOT NULL,
    firmware_version text NOT NULL,
    labels text NOT NULL,
    day date NOT NULL,
    sessions bigint NOT NULL,
    seconds double precision NOT NULL
);


--
-- Name: streams; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.streams (
    device_id text NOT NULL,
    stream_id text NOT NULL,
    received text NOT NULL,
    dropped text NOT NULL,
    first_seen_ms bigint NOT NULL,
    last_seen_ms bigint NOT NULL,
    gap_events bigint DEFAULT 0 NOT NULL,
    dropped_events bigint DEFAULT 0 NOT NULL
);


--
-- Name: events_default; Type: TABLE ATTACH; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events ATTACH PARTITION public.events_default DEFAULT;


--
-- Name: analytics_combo id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.analytics_combo ALTER COLUMN id SET DEFAULT nextval('public.analytics_combo_id_seq'::regclass);


--
-- Name: analytics_feature id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.analytics_feature ALTER COLUMN id SET DEFAULT nextval('public.analytics_feature_id_seq'::regclass);


--
-- Name: quarantine id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.quarantine ALTER COLUMN id SET DEFAULT nextval('public.quarantine_id_seq'::regclass);


--
-- Data for Name: activity_bits; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.activity_bits VALUES (1, 11557, 4397778075648, 1554);
INSERT INTO public.activity_bits VALUES (2, 11557, 5637144576, 1554);
INSERT INTO public.activity_bits VALUES (3, 11557, 1236950581248, 1554);
INSERT INTO public.activity_bits VALUES (4, 11557, 377957122304, 1554);
INSERT INTO public.activity_bits VALUES (5, 11557, 4363686772736, 1554);
INSERT INTO public.activity_bits VALUES (6, 11557, 2199023255552, 1554);
INSERT INTO public.activity_bits VALUES (7, 11557, 2199023255552, 1555);


--
-- Data for Name: activity_day; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-01', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-02', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-03', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-04', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-05', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-06', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-07', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-08', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-09', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-10', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-11', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-12', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-13', 3);
INSERT INTO public.activity_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-14', 3);
INSERT INTO public.activity_day VALUES ('d2', 'acme', 'press-x', '1.0', '{}', '2026-03-01', 1);
INSERT INTO public.activity_day VALUES ('d2', 'acme', 'press-x', '1.0', '{}', '2026-03-03', 1);
INSERT INTO public.activity_day VALUES ('d2', 'acme', 'press-x', '1.0', '{}', '2026-03-05', 1);
INSERT INTO public.activity_day VALUES ('d3', 'globex', 'press-x', '1.0', '{}', '2026-03-10', 2);
INSERT INTO public.activity_day VALUES ('d3', 'globex', 'press-x', '1.0', '{}', '2026-03-13', 2);
INSERT INTO public.activity_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-02-09', 1);
INSERT INTO public.activity_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-08', 3);
INSERT INTO public.activity_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-09', 3);
INSERT INTO public.activity_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-11', 3);
INSERT INTO public.activity_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-08', 1);
INSERT INTO public.activity_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-09', 1);
INSERT INTO public.activity_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-10', 1);
INSERT INTO public.activity_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-11', 1);
INSERT INTO public.activity_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-12', 1);
INSERT INTO public.activity_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-13', 1);
INSERT INTO public.activity_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-14', 1);
INSERT INTO public.activity_day VALUES ('d6', 'initech', 'lathe-9', '1.0', '{}', '2026-03-14', 1);
INSERT INTO public.activity_day VALUES ('gw-old', 'acct-old', 'press-x', '2.0', '{"site":"north"}', '2026-03-14', 8);


--
-- Data for Name: alert_state; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: analytics_combo; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.analytics_combo VALUES (1, 'd1', 'acme', 'press-x', '1.0', '{}');
INSERT INTO public.analytics_combo VALUES (2, 'd2', 'acme', 'press-x', '1.0', '{}');
INSERT INTO public.analytics_combo VALUES (3, 'd3', 'globex', 'press-x', '1.0', '{}');
INSERT INTO public.analytics_combo VALUES (4, 'd4', 'globex', 'press-x', '2.0', '{}');
INSERT INTO public.analytics_combo VALUES (5, 'd5', 'initech', 'lathe-9', '1.0', '{}');
INSERT INTO public.analytics_combo VALUES (6, 'd6', 'initech', 'lathe-9', '1.0', '{}');
INSERT INTO public.analytics_combo VALUES (7, 'gw-old', 'acct-old', 'press-x', '2.0', '{"site":"north"}');


--
-- Data for Name: analytics_feature; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.analytics_feature VALUES (1, 'calibrate');
INSERT INTO public.analytics_feature VALUES (2, 'export');
INSERT INTO public.analytics_feature VALUES (3, 'recipes');
INSERT INTO public.analytics_feature VALUES (4, 'jog');
INSERT INTO public.analytics_feature VALUES (5, 'spindle');
INSERT INTO public.analytics_feature VALUES (6, 'probe');


--
-- Data for Name: devices; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.devices VALUES ('d1', 'acme', 'press-x', '1.0', 1772359200000, 1773482400000, 42, NULL, NULL);
INSERT INTO public.devices VALUES ('d2', 'acme', 'press-x', '1.0', 1772359200000, 1772704800000, 3, NULL, NULL);
INSERT INTO public.devices VALUES ('d3', 'globex', 'press-x', '1.0', 1773136800000, 1773396000000, 4, NULL, NULL);
INSERT INTO public.devices VALUES ('d4', 'globex', 'press-x', '2.0', 1770631200000, 1773223200000, 10, NULL, NULL);
INSERT INTO public.devices VALUES ('d5', 'initech', 'lathe-9', '1.0', 1772964000000, 1773482400000, 7, NULL, NULL);
INSERT INTO public.devices VALUES ('d6', 'initech', 'lathe-9', '1.0', 1772618400000, 1773482400000, 2, NULL, NULL);
INSERT INTO public.devices VALUES ('gw-old', 'acct-old', 'press-x', '2.0', 1773476400001, 1773476400008, 8, '{"device_id": "gw-old", "state": "online", "buffer_depth": 3}', 1773480000000);


--
-- Data for Name: event_counts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.event_counts VALUES ('2026-03-02', 14, 3);
INSERT INTO public.event_counts VALUES ('2026-03-06', 14, 3);
INSERT INTO public.event_counts VALUES ('2026-03-07', 14, 3);
INSERT INTO public.event_counts VALUES ('2026-03-01', 14, 4);
INSERT INTO public.event_counts VALUES ('2026-03-03', 14, 4);
INSERT INTO public.event_counts VALUES ('2026-03-05', 14, 4);
INSERT INTO public.event_counts VALUES ('2026-02-09', 14, 1);
INSERT INTO public.event_counts VALUES ('2026-03-08', 14, 7);
INSERT INTO public.event_counts VALUES ('2026-03-09', 14, 7);
INSERT INTO public.event_counts VALUES ('2026-03-10', 14, 6);
INSERT INTO public.event_counts VALUES ('2026-03-11', 14, 7);
INSERT INTO public.event_counts VALUES ('2026-03-12', 14, 4);
INSERT INTO public.event_counts VALUES ('2026-03-13', 14, 6);
INSERT INTO public.event_counts VALUES ('2026-03-14', 14, 5);
INSERT INTO public.event_counts VALUES ('2026-03-04', 14, 4);
INSERT INTO public.event_counts VALUES ('2026-03-14', 16, 8);


--
-- Data for Name: events_default; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000001', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772359200000, 1772359200000, 'wall', '2026-03-01', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000002', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772359200000, 1772359200000, 'wall', '2026-03-01', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000003', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772359200000, 1772359200000, 'wall', '2026-03-01', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000004', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772445600000, 1772445600000, 'wall', '2026-03-02', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000005', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772445600000, 1772445600000, 'wall', '2026-03-02', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000006', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772445600000, 1772445600000, 'wall', '2026-03-02', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000007', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772532000000, 1772532000000, 'wall', '2026-03-03', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000008', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772532000000, 1772532000000, 'wall', '2026-03-03', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000009', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772532000000, 1772532000000, 'wall', '2026-03-03', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000000a', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772618400000, 1772618400000, 'wall', '2026-03-04', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000000b', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772618400000, 1772618400000, 'wall', '2026-03-04', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000000c', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772618400000, 1772618400000, 'wall', '2026-03-04', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000000d', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772704800000, 1772704800000, 'wall', '2026-03-05', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000000e', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772704800000, 1772704800000, 'wall', '2026-03-05', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000000f', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772704800000, 1772704800000, 'wall', '2026-03-05', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000010', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772791200000, 1772791200000, 'wall', '2026-03-06', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000011', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772791200000, 1772791200000, 'wall', '2026-03-06', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000012', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772791200000, 1772791200000, 'wall', '2026-03-06', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000013', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772877600000, 1772877600000, 'wall', '2026-03-07', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000014', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772877600000, 1772877600000, 'wall', '2026-03-07', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000015', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772877600000, 1772877600000, 'wall', '2026-03-07', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000016', NULL, NULL, 'session_start', NULL, NULL, NULL, 1772964000000, 1772964000000, 'wall', '2026-03-08', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000017', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772964000000, 1772964000000, 'wall', '2026-03-08', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000018', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772964000000, 1772964000000, 'wall', '2026-03-08', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000019', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773050400000, 1773050400000, 'wall', '2026-03-09', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000001a', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773050400000, 1773050400000, 'wall', '2026-03-09', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000001b', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773050400000, 1773050400000, 'wall', '2026-03-09', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000001c', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773136800000, 1773136800000, 'wall', '2026-03-10', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000001d', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773136800000, 1773136800000, 'wall', '2026-03-10', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000001e', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773136800000, 1773136800000, 'wall', '2026-03-10', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000001f', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773223200000, 1773223200000, 'wall', '2026-03-11', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000020', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773223200000, 1773223200000, 'wall', '2026-03-11', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000021', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773223200000, 1773223200000, 'wall', '2026-03-11', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000022', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773309600000, 1773309600000, 'wall', '2026-03-12', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000023', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773309600000, 1773309600000, 'wall', '2026-03-12', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000024', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773309600000, 1773309600000, 'wall', '2026-03-12', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000025', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773396000000, 1773396000000, 'wall', '2026-03-13', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000026', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773396000000, 1773396000000, 'wall', '2026-03-13', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000027', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773396000000, 1773396000000, 'wall', '2026-03-13', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000028', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773482400000, 1773482400000, 'wall', '2026-03-14', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-000000000029', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773482400000, 1773482400000, 'wall', '2026-03-14', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d1', '00000000-0000-0000-0000-00000000002a', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773482400000, 1773482400000, 'wall', '2026-03-14', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d2', '00000000-0000-0000-0000-00000000002b', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772359200000, 1772359200000, 'wall', '2026-03-01', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d2', '00000000-0000-0000-0000-00000000002c', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772532000000, 1772532000000, 'wall', '2026-03-03', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d2', '00000000-0000-0000-0000-00000000002d', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772704800000, 1772704800000, 'wall', '2026-03-05', 'press-x', '1.0', 'acme', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d3', '00000000-0000-0000-0000-00000000002e', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773136800000, 1773136800000, 'wall', '2026-03-10', 'press-x', '1.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d3', '00000000-0000-0000-0000-00000000002f', NULL, NULL, 'feature_use', 'recipes', NULL, NULL, 1773136800000, 1773136800000, 'wall', '2026-03-10', 'press-x', '1.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d3', '00000000-0000-0000-0000-000000000030', NULL, NULL, 'session_start', NULL, NULL, NULL, 1773396000000, 1773396000000, 'wall', '2026-03-13', 'press-x', '1.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d3', '00000000-0000-0000-0000-000000000031', NULL, NULL, 'feature_use', 'recipes', NULL, NULL, 1773396000000, 1773396000000, 'wall', '2026-03-13', 'press-x', '1.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000032', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1770631200000, 1770631200000, 'wall', '2026-02-09', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000033', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1772964000000, 1772964000000, 'wall', '2026-03-08', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000034', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1772964000000, 1772964000000, 'wall', '2026-03-08', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000035', NULL, NULL, 'feature_use', 'recipes', NULL, NULL, 1772964000000, 1772964000000, 'wall', '2026-03-08', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000036', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773050400000, 1773050400000, 'wall', '2026-03-09', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000037', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773050400000, 1773050400000, 'wall', '2026-03-09', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000038', NULL, NULL, 'feature_use', 'recipes', NULL, NULL, 1773050400000, 1773050400000, 'wall', '2026-03-09', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-000000000039', NULL, NULL, 'feature_use', 'calibrate', NULL, NULL, 1773223200000, 1773223200000, 'wall', '2026-03-11', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-00000000003a', NULL, NULL, 'feature_use', 'export', NULL, NULL, 1773223200000, 1773223200000, 'wall', '2026-03-11', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d4', '00000000-0000-0000-0000-00000000003b', NULL, NULL, 'feature_use', 'recipes', NULL, NULL, 1773223200000, 1773223200000, 'wall', '2026-03-11', 'press-x', '2.0', 'globex', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d5', '00000000-0000-0000-0000-00000000003c', NULL, NULL, 'feature_use', 'jog', NULL, NULL, 1772964000000, 1772964000000, 'wall', '2026-03-08', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d5', '00000000-0000-0000-0000-00000000003d', NULL, NULL, 'feature_use', 'jog', NULL, NULL, 1773050400000, 1773050400000, 'wall', '2026-03-09', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d5', '00000000-0000-0000-0000-00000000003e', NULL, NULL, 'feature_use', 'jog', NULL, NULL, 1773136800000, 1773136800000, 'wall', '2026-03-10', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d5', '00000000-0000-0000-0000-00000000003f', NULL, NULL, 'feature_use', 'jog', NULL, NULL, 1773223200000, 1773223200000, 'wall', '2026-03-11', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d5', '00000000-0000-0000-0000-000000000040', NULL, NULL, 'feature_use', 'jog', NULL, NULL, 1773309600000, 1773309600000, 'wall', '2026-03-12', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d5', '00000000-0000-0000-0000-000000000041', NULL, NULL, 'feature_use', 'jog', NULL, NULL, 1773396000000, 1773396000000, 'wall', '2026-03-13', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d5', '00000000-0000-0000-0000-000000000042', NULL, NULL, 'feature_use', 'jog', NULL, NULL, 1773482400000, 1773482400000, 'wall', '2026-03-14', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d6', '00000000-0000-0000-0000-000000000043', NULL, NULL, 'feature_use', 'spindle', NULL, NULL, 1773482400000, 1773482400000, 'wall', '2026-03-14', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('d6', '00000000-0000-0000-0000-000000000044', NULL, NULL, 'heartbeat', NULL, NULL, NULL, 1772618400000, 1772618400000, 'wall', '2026-03-04', 'lathe-9', '1.0', 'initech', '{}', '{}', 1796581352601);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000001', 's-old', 1, 'feature_use', 'jog', NULL, NULL, 1773476400001, 1773476400001, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000002', 's-old', 2, 'feature_use', 'probe', NULL, NULL, 1773476400002, 1773476400002, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000003', 's-old', 3, 'feature_use', 'jog', NULL, NULL, 1773476400003, 1773476400003, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000004', 's-old', 4, 'feature_use', 'probe', NULL, NULL, 1773476400004, 1773476400004, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000005', 's-old', 5, 'feature_use', 'jog', NULL, NULL, 1773476400005, 1773476400005, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000006', 's-old', 6, 'feature_use', 'probe', NULL, NULL, 1773476400006, 1773476400006, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000007', 's-old', 7, 'feature_use', 'jog', NULL, NULL, 1773476400007, 1773476400007, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);
INSERT INTO public.events_default VALUES ('gw-old', '0190f0a0-0000-7000-8000-000000000008', 's-old', 8, 'feature_use', 'probe', NULL, NULL, 1773476400008, 1773476400008, 'wall', '2026-03-14', 'press-x', '2.0', 'acct-old', '{"site":"north"}', '{}', 1773480000000);


--
-- Data for Name: feature_bits; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.feature_bits VALUES (1, 1, 11557, 4397778075648, 1554);
INSERT INTO public.feature_bits VALUES (1, 2, 11557, 4397778075648, 1554);
INSERT INTO public.feature_bits VALUES (2, 1, 11557, 5637144576, 1554);
INSERT INTO public.feature_bits VALUES (3, 3, 11557, 1236950581248, 1554);
INSERT INTO public.feature_bits VALUES (4, 1, 11557, 377957122304, 1554);
INSERT INTO public.feature_bits VALUES (4, 2, 11557, 377957122048, 1554);
INSERT INTO public.feature_bits VALUES (4, 3, 11557, 377957122048, 1554);
INSERT INTO public.feature_bits VALUES (5, 4, 11557, 4363686772736, 1554);
INSERT INTO public.feature_bits VALUES (6, 5, 11557, 2199023255552, 1554);
INSERT INTO public.feature_bits VALUES (7, 4, 11557, 2199023255552, 1555);
INSERT INTO public.feature_bits VALUES (7, 6, 11557, 2199023255552, 1555);


--
-- Data for Name: feature_day; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-01', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-01', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-02', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-02', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-03', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-03', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-04', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-04', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-05', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-05', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-06', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-06', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-07', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-07', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-08', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-08', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-09', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-09', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-10', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-10', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-11', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-11', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-12', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-12', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-13', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-13', 'export', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-14', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d1', 'acme', 'press-x', '1.0', '{}', '2026-03-14', 'export', 1);
INSERT INTO public.feature_day VALUES ('d2', 'acme', 'press-x', '1.0', '{}', '2026-03-01', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d2', 'acme', 'press-x', '1.0', '{}', '2026-03-03', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d2', 'acme', 'press-x', '1.0', '{}', '2026-03-05', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d3', 'globex', 'press-x', '1.0', '{}', '2026-03-10', 'recipes', 1);
INSERT INTO public.feature_day VALUES ('d3', 'globex', 'press-x', '1.0', '{}', '2026-03-13', 'recipes', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-02-09', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-08', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-08', 'export', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-08', 'recipes', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-09', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-09', 'export', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-09', 'recipes', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-11', 'calibrate', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-11', 'export', 1);
INSERT INTO public.feature_day VALUES ('d4', 'globex', 'press-x', '2.0', '{}', '2026-03-11', 'recipes', 1);
INSERT INTO public.feature_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-08', 'jog', 1);
INSERT INTO public.feature_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-09', 'jog', 1);
INSERT INTO public.feature_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-10', 'jog', 1);
INSERT INTO public.feature_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-11', 'jog', 1);
INSERT INTO public.feature_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-12', 'jog', 1);
INSERT INTO public.feature_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-13', 'jog', 1);
INSERT INTO public.feature_day VALUES ('d5', 'initech', 'lathe-9', '1.0', '{}', '2026-03-14', 'jog', 1);
INSERT INTO public.feature_day VALUES ('d6', 'initech', 'lathe-9', '1.0', '{}', '2026-03-14', 'spindle', 1);
INSERT INTO public.feature_day VALUES ('gw-old', 'acct-old', 'press-x', '2.0', '{"site":"north"}', '2026-03-14', 'jog', 4);
INSERT INTO public.feature_day VALUES ('gw-old', 'acct-old', 'press-x', '2.0', '{"site":"north"}', '2026-03-14', 'probe', 4);


--
-- Data for Name: job_runs; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: quarantine; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.quarantine VALUES (1, 1796581352601, 'import:events.jsonl:70', NULL, 'invalid:id', 'id: Field required; device_id: Field required; account_id: Field required; device_type: Field required; firmware_version: Field required', '\x7b22626164223a20317d0a');


--
-- Data for Name: quarantine_counts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.quarantine_counts VALUES ('2026-12-06', 'invalid:id', 14, 1);


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_version VALUES (1);
INSERT INTO public.schema_version VALUES (2);
INSERT INTO public.schema_version VALUES (3);
INSERT INTO public.schema_version VALUES (4);


--
-- Data for Name: session_day; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: streams; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.streams VALUES ('gw-old', 's-old', '[[1, 8]]', '[]', 1773480000000, 1773480000000, 0, 0);


--
-- Name: analytics_combo_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.analytics_combo_id_seq', 7, true);


--
-- Name: analytics_feature_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.analytics_feature_id_seq', 6, true);


--
-- Name: quarantine_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.quarantine_id_seq', 1, true);


--
-- Name: activity_bits activity_bits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.activity_bits
    ADD CONSTRAINT activity_bits_pkey PRIMARY KEY (combo, block);


--
-- Name: activity_day activity_day_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.activity_day
    ADD CONSTRAINT activity_day_pkey PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day);


--
-- Name: alert_state alert_state_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_state
    ADD CONSTRAINT alert_state_pkey PRIMARY KEY (rule, subject);


--
-- Name: analytics_combo analytics_combo_device_id_account_id_device_type_firmware_v_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.analytics_combo
    ADD CONSTRAINT analytics_combo_device_id_account_id_device_type_firmware_v_key UNIQUE (device_id, account_id, device_type, firmware_version, labels);


--
-- Name: analytics_combo analytics_combo_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.analytics_combo
    ADD CONSTRAINT analytics_combo_pkey PRIMARY KEY (id);


--
-- Name: analytics_feature analytics_feature_feature_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.analytics_feature
    ADD CONSTRAINT analytics_feature_feature_key UNIQUE (feature);


--
-- Name: analytics_feature analytics_feature_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.analytics_feature
    ADD CONSTRAINT analytics_feature_pkey PRIMARY KEY (id);


--
-- Name: devices devices_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.devices
    ADD CONSTRAINT devices_pkey PRIMARY KEY (device_id);


--
-- Name: event_counts event_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_counts
    ADD CONSTRAINT event_counts_pkey PRIMARY KEY (day, slot);


--
-- Name: feature_bits feature_bits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feature_bits
    ADD CONSTRAINT feature_bits_pkey PRIMARY KEY (combo, feature, block);


--
-- Name: feature_day feature_day_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feature_day
    ADD CONSTRAINT feature_day_pkey PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day, feature);


--
-- Name: job_runs job_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_runs
    ADD CONSTRAINT job_runs_pkey PRIMARY KEY (name);


--
-- Name: quarantine_counts quarantine_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.quarantine_counts
    ADD CONSTRAINT quarantine_counts_pkey PRIMARY KEY (day, reason, slot);


--
-- Name: quarantine quarantine_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.quarantine
    ADD CONSTRAINT quarantine_pkey PRIMARY KEY (id);


--
-- Name: session_day session_day_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.session_day
    ADD CONSTRAINT session_day_pkey PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day);


--
-- Name: streams streams_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.streams
    ADD CONSTRAINT streams_pkey PRIMARY KEY (device_id, stream_id);


--
-- Name: activity_bits_version; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX activity_bits_version ON public.activity_bits USING btree (version);


--
-- Name: activity_day_day; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX activity_day_day ON public.activity_day USING btree (day);


--
-- Name: events_default_day; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_default_day ON public.events_default USING btree (day);


--
-- Name: events_imported; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX events_imported ON ONLY public.events USING btree (device_id, event_id, day) WHERE (stream_id IS NULL);


--
-- Name: events_default_device_id_event_id_day_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX events_default_device_id_event_id_day_idx ON public.events_default USING btree (device_id, event_id, day) WHERE (stream_id IS NULL);


--
-- Name: feature_bits_version; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX feature_bits_version ON public.feature_bits USING btree (version);


--
-- Name: feature_day_day; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX feature_day_day ON public.feature_day USING btree (day);


--
-- Name: quarantine_reason; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX quarantine_reason ON public.quarantine USING btree (reason);


--
-- Name: quarantine_received; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX quarantine_received ON public.quarantine USING btree (received_ms);


--
-- Name: session_day_day; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX session_day_day ON public.session_day USING btree (day);


--
-- Name: events_default_device_id_event_id_day_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.events_imported ATTACH PARTITION public.events_default_device_id_event_id_day_idx;


--
-- Name: activity_day activity_bits_ai; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER activity_bits_ai AFTER INSERT ON public.activity_day FOR EACH ROW EXECUTE FUNCTION public.pes_activity_bits();


--
-- Name: events events_count; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER events_count AFTER INSERT ON public.events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.pes_count_events();


--
-- Name: feature_day feature_bits_ai; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER feature_bits_ai AFTER INSERT ON public.feature_day FOR EACH ROW EXECUTE FUNCTION public.pes_feature_bits();


--
-- Name: quarantine quarantine_count; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER quarantine_count AFTER INSERT ON public.quarantine REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.pes_count_quarantine();


--
-- PostgreSQL database dump complete
--


