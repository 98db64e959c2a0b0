PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES(1);
INSERT INTO schema_version VALUES(2);
INSERT INTO schema_version VALUES(3);
INSERT INTO schema_version VALUES(4);
CREATE TABLE events (
        device_id TEXT NOT NULL, event_id TEXT NOT NULL,
        stream_id TEXT, seq INTEGER, kind TEXT NOT NULL, feature TEXT,
        session_id TEXT, user_id TEXT,
        ts_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL, clock_method TEXT NOT NULL,
        day TEXT NOT NULL, device_type TEXT NOT NULL, firmware_version TEXT NOT NULL,
        account_id TEXT NOT NULL, labels TEXT NOT NULL, props TEXT NOT NULL,
        received_ms INTEGER NOT NULL
    );
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000001',NULL,NULL,'session_start',NULL,NULL,NULL,1772359200000,1772359200000,'wall','2026-03-01','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000002',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772359200000,1772359200000,'wall','2026-03-01','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000003',NULL,NULL,'feature_use','export',NULL,NULL,1772359200000,1772359200000,'wall','2026-03-01','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000004',NULL,NULL,'session_start',NULL,NULL,NULL,1772445600000,1772445600000,'wall','2026-03-02','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000005',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772445600000,1772445600000,'wall','2026-03-02','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000006',NULL,NULL,'feature_use','export',NULL,NULL,1772445600000,1772445600000,'wall','2026-03-02','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000007',NULL,NULL,'session_start',NULL,NULL,NULL,1772532000000,1772532000000,'wall','2026-03-03','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000008',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772532000000,1772532000000,'wall','2026-03-03','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000009',NULL,NULL,'feature_use','export',NULL,NULL,1772532000000,1772532000000,'wall','2026-03-03','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000000a',NULL,NULL,'session_start',NULL,NULL,NULL,1772618400000,1772618400000,'wall','2026-03-04','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000000b',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772618400000,1772618400000,'wall','2026-03-04','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000000c',NULL,NULL,'feature_use','export',NULL,NULL,1772618400000,1772618400000,'wall','2026-03-04','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000000d',NULL,NULL,'session_start',NULL,NULL,NULL,1772704800000,1772704800000,'wall','2026-03-05','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000000e',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772704800000,1772704800000,'wall','2026-03-05','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000000f',NULL,NULL,'feature_use','export',NULL,NULL,1772704800000,1772704800000,'wall','2026-03-05','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000010',NULL,NULL,'session_start',NULL,NULL,NULL,1772791200000,1772791200000,'wall','2026-03-06','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000011',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772791200000,1772791200000,'wall','2026-03-06','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000012',NULL,NULL,'feature_use','export',NULL,NULL,1772791200000,1772791200000,'wall','2026-03-06','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000013',NULL,NULL,'session_start',NULL,NULL,NULL,1772877600000,1772877600000,'wall','2026-03-07','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000014',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772877600000,1772877600000,'wall','2026-03-07','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000015',NULL,NULL,'feature_use','export',NULL,NULL,1772877600000,1772877600000,'wall','2026-03-07','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000016',NULL,NULL,'session_start',NULL,NULL,NULL,1772964000000,1772964000000,'wall','2026-03-08','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000017',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772964000000,1772964000000,'wall','2026-03-08','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000018',NULL,NULL,'feature_use','export',NULL,NULL,1772964000000,1772964000000,'wall','2026-03-08','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000019',NULL,NULL,'session_start',NULL,NULL,NULL,1773050400000,1773050400000,'wall','2026-03-09','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000001a',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773050400000,1773050400000,'wall','2026-03-09','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000001b',NULL,NULL,'feature_use','export',NULL,NULL,1773050400000,1773050400000,'wall','2026-03-09','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000001c',NULL,NULL,'session_start',NULL,NULL,NULL,1773136800000,1773136800000,'wall','2026-03-10','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000001d',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773136800000,1773136800000,'wall','2026-03-10','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000001e',NULL,NULL,'feature_use','export',NULL,NULL,1773136800000,1773136800000,'wall','2026-03-10','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000001f',NULL,NULL,'session_start',NULL,NULL,NULL,1773223200000,1773223200000,'wall','2026-03-11','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000020',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773223200000,1773223200000,'wall','2026-03-11','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000021',NULL,NULL,'feature_use','export',NULL,NULL,1773223200000,1773223200000,'wall','2026-03-11','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000022',NULL,NULL,'session_start',NULL,NULL,NULL,1773309600000,1773309600000,'wall','2026-03-12','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000023',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773309600000,1773309600000,'wall','2026-03-12','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000024',NULL,NULL,'feature_use','export',NULL,NULL,1773309600000,1773309600000,'wall','2026-03-12','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000025',NULL,NULL,'session_start',NULL,NULL,NULL,1773396000000,1773396000000,'wall','2026-03-13','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000026',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773396000000,1773396000000,'wall','2026-03-13','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000027',NULL,NULL,'feature_use','export',NULL,NULL,1773396000000,1773396000000,'wall','2026-03-13','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000028',NULL,NULL,'session_start',NULL,NULL,NULL,1773482400000,1773482400000,'wall','2026-03-14','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-000000000029',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773482400000,1773482400000,'wall','2026-03-14','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d1','00000000-0000-0000-0000-00000000002a',NULL,NULL,'feature_use','export',NULL,NULL,1773482400000,1773482400000,'wall','2026-03-14','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d2','00000000-0000-0000-0000-00000000002b',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772359200000,1772359200000,'wall','2026-03-01','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d2','00000000-0000-0000-0000-00000000002c',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772532000000,1772532000000,'wall','2026-03-03','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d2','00000000-0000-0000-0000-00000000002d',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772704800000,1772704800000,'wall','2026-03-05','press-x','1.0','acme','{}','{}',1796581348293);
INSERT INTO events VALUES('d3','00000000-0000-0000-0000-00000000002e',NULL,NULL,'session_start',NULL,NULL,NULL,1773136800000,1773136800000,'wall','2026-03-10','press-x','1.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d3','00000000-0000-0000-0000-00000000002f',NULL,NULL,'feature_use','recipes',NULL,NULL,1773136800000,1773136800000,'wall','2026-03-10','press-x','1.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d3','00000000-0000-0000-0000-000000000030',NULL,NULL,'session_start',NULL,NULL,NULL,1773396000000,1773396000000,'wall','2026-03-13','press-x','1.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d3','00000000-0000-0000-0000-000000000031',NULL,NULL,'feature_use','recipes',NULL,NULL,1773396000000,1773396000000,'wall','2026-03-13','press-x','1.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000032',NULL,NULL,'feature_use','calibrate',NULL,NULL,1770631200000,1770631200000,'wall','2026-02-09','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000033',NULL,NULL,'feature_use','calibrate',NULL,NULL,1772964000000,1772964000000,'wall','2026-03-08','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000034',NULL,NULL,'feature_use','export',NULL,NULL,1772964000000,1772964000000,'wall','2026-03-08','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000035',NULL,NULL,'feature_use','recipes',NULL,NULL,1772964000000,1772964000000,'wall','2026-03-08','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000036',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773050400000,1773050400000,'wall','2026-03-09','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000037',NULL,NULL,'feature_use','export',NULL,NULL,1773050400000,1773050400000,'wall','2026-03-09','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000038',NULL,NULL,'feature_use','recipes',NULL,NULL,1773050400000,1773050400000,'wall','2026-03-09','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-000000000039',NULL,NULL,'feature_use','calibrate',NULL,NULL,1773223200000,1773223200000,'wall','2026-03-11','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-00000000003a',NULL,NULL,'feature_use','export',NULL,NULL,1773223200000,1773223200000,'wall','2026-03-11','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d4','00000000-0000-0000-0000-00000000003b',NULL,NULL,'feature_use','recipes',NULL,NULL,1773223200000,1773223200000,'wall','2026-03-11','press-x','2.0','globex','{}','{}',1796581348293);
INSERT INTO events VALUES('d5','00000000-0000-0000-0000-00000000003c',NULL,NULL,'feature_use','jog',NULL,NULL,1772964000000,1772964000000,'wall','2026-03-08','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d5','00000000-0000-0000-0000-00000000003d',NULL,NULL,'feature_use','jog',NULL,NULL,1773050400000,1773050400000,'wall','2026-03-09','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d5','00000000-0000-0000-0000-00000000003e',NULL,NULL,'feature_use','jog',NULL,NULL,1773136800000,1773136800000,'wall','2026-03-10','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d5','00000000-0000-0000-0000-00000000003f',NULL,NULL,'feature_use','jog',NULL,NULL,1773223200000,1773223200000,'wall','2026-03-11','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d5','00000000-0000-0000-0000-000000000040',NULL,NULL,'feature_use','jog',NULL,NULL,1773309600000,1773309600000,'wall','2026-03-12','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d5','00000000-0000-0000-0000-000000000041',NULL,NULL,'feature_use','jog',NULL,NULL,1773396000000,1773396000000,'wall','2026-03-13','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d5','00000000-0000-0000-0000-000000000042',NULL,NULL,'feature_use','jog',NULL,NULL,1773482400000,1773482400000,'wall','2026-03-14','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d6','00000000-0000-0000-0000-000000000043',NULL,NULL,'feature_use','spindle',NULL,NULL,1773482400000,1773482400000,'wall','2026-03-14','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('d6','00000000-0000-0000-0000-000000000044',NULL,NULL,'heartbeat',NULL,NULL,NULL,1772618400000,1772618400000,'wall','2026-03-04','lathe-9','1.0','initech','{}','{}',1796581348293);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000001','s-old',1,'feature_use','jog',NULL,NULL,1773476400001,1773476400001,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000002','s-old',2,'feature_use','probe',NULL,NULL,1773476400002,1773476400002,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000003','s-old',3,'feature_use','jog',NULL,NULL,1773476400003,1773476400003,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000004','s-old',4,'feature_use','probe',NULL,NULL,1773476400004,1773476400004,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000005','s-old',5,'feature_use','jog',NULL,NULL,1773476400005,1773476400005,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000006','s-old',6,'feature_use','probe',NULL,NULL,1773476400006,1773476400006,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000007','s-old',7,'feature_use','jog',NULL,NULL,1773476400007,1773476400007,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
INSERT INTO events VALUES('gw-old','0190f0a0-0000-7000-8000-000000000008','s-old',8,'feature_use','probe',NULL,NULL,1773476400008,1773476400008,'wall','2026-03-14','press-x','2.0','acct-old','{"site":"north"}','{}',1773480000000);
CREATE TABLE streams (
        device_id TEXT NOT NULL, stream_id TEXT NOT NULL,
        received TEXT NOT NULL,   -- JSON [[first, last], ...]: sequence ranges received
        dropped TEXT NOT NULL,    -- JSON [[first, last, reason], ...]: declared by the agent
        first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
        gap_events INTEGER NOT NULL DEFAULT 0, dropped_events INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (device_id, stream_id)
    ) WITHOUT ROWID;
INSERT INTO streams VALUES('gw-old','s-old','[[1, 8]]','[]',1773480000000,1773480000000,0,0);
CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, topic TEXT NOT NULL,
        device_id TEXT, reason TEXT NOT NULL, detail TEXT NOT NULL, raw BLOB NOT NULL
    );
INSERT INTO quarantine VALUES(1,1796581348293,'import:events.jsonl:70',NULL,'invalid:id','id: Field required; device_id: Field required; account_id: Field required; device_type: Field required; firmware_version: Field required',X'7b22626164223a20317d0a');
CREATE TABLE activity_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day)
    ) WITHOUT ROWID;
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-01',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-02',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-03',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-04',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-05',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-06',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-07',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-08',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-09',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-10',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-11',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-12',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-13',3);
INSERT INTO activity_day VALUES('d1','acme','press-x','1.0','{}','2026-03-14',3);
INSERT INTO activity_day VALUES('d2','acme','press-x','1.0','{}','2026-03-01',1);
INSERT INTO activity_day VALUES('d2','acme','press-x','1.0','{}','2026-03-03',1);
INSERT INTO activity_day VALUES('d2','acme','press-x','1.0','{}','2026-03-05',1);
INSERT INTO activity_day VALUES('d3','globex','press-x','1.0','{}','2026-03-10',2);
INSERT INTO activity_day VALUES('d3','globex','press-x','1.0','{}','2026-03-13',2);
INSERT INTO activity_day VALUES('d4','globex','press-x','2.0','{}','2026-02-09',1);
INSERT INTO activity_day VALUES('d4','globex','press-x','2.0','{}','2026-03-08',3);
INSERT INTO activity_day VALUES('d4','globex','press-x','2.0','{}','2026-03-09',3);
INSERT INTO activity_day VALUES('d4','globex','press-x','2.0','{}','2026-03-11',3);
INSERT INTO activity_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-08',1);
INSERT INTO activity_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-09',1);
INSERT INTO activity_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-10',1);
INSERT INTO activity_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-11',1);
INSERT INTO activity_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-12',1);
INSERT INTO activity_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-13',1);
INSERT INTO activity_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-14',1);
INSERT INTO activity_day VALUES('d6','initech','lathe-9','1.0','{}','2026-03-14',1);
INSERT INTO activity_day VALUES('gw-old','acct-old','press-x','2.0','{"site":"north"}','2026-03-14',8);
CREATE TABLE feature_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        feature TEXT NOT NULL, uses INTEGER NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day, feature)
    ) WITHOUT ROWID;
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-01','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-01','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-02','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-02','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-03','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-03','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-04','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-04','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-05','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-05','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-06','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-06','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-07','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-07','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-08','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-08','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-09','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-09','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-10','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-10','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-11','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-11','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-12','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-12','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-13','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-13','export',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-14','calibrate',1);
INSERT INTO feature_day VALUES('d1','acme','press-x','1.0','{}','2026-03-14','export',1);
INSERT INTO feature_day VALUES('d2','acme','press-x','1.0','{}','2026-03-01','calibrate',1);
INSERT INTO feature_day VALUES('d2','acme','press-x','1.0','{}','2026-03-03','calibrate',1);
INSERT INTO feature_day VALUES('d2','acme','press-x','1.0','{}','2026-03-05','calibrate',1);
INSERT INTO feature_day VALUES('d3','globex','press-x','1.0','{}','2026-03-10','recipes',1);
INSERT INTO feature_day VALUES('d3','globex','press-x','1.0','{}','2026-03-13','recipes',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-02-09','calibrate',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-08','calibrate',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-08','export',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-08','recipes',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-09','calibrate',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-09','export',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-09','recipes',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-11','calibrate',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-11','export',1);
INSERT INTO feature_day VALUES('d4','globex','press-x','2.0','{}','2026-03-11','recipes',1);
INSERT INTO feature_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-08','jog',1);
INSERT INTO feature_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-09','jog',1);
INSERT INTO feature_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-10','jog',1);
INSERT INTO feature_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-11','jog',1);
INSERT INTO feature_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-12','jog',1);
INSERT INTO feature_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-13','jog',1);
INSERT INTO feature_day VALUES('d5','initech','lathe-9','1.0','{}','2026-03-14','jog',1);
INSERT INTO feature_day VALUES('d6','initech','lathe-9','1.0','{}','2026-03-14','spindle',1);
INSERT INTO feature_day VALUES('gw-old','acct-old','press-x','2.0','{"site":"north"}','2026-03-14','jog',4);
INSERT INTO feature_day VALUES('gw-old','acct-old','press-x','2.0','{"site":"north"}','2026-03-14','probe',4);
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
INSERT INTO devices VALUES('d1','acme','press-x','1.0',1772359200000,1773482400000,42,NULL,NULL);
INSERT INTO devices VALUES('d2','acme','press-x','1.0',1772359200000,1772704800000,3,NULL,NULL);
INSERT INTO devices VALUES('d3','globex','press-x','1.0',1773136800000,1773396000000,4,NULL,NULL);
INSERT INTO devices VALUES('d4','globex','press-x','2.0',1770631200000,1773223200000,10,NULL,NULL);
INSERT INTO devices VALUES('d5','initech','lathe-9','1.0',1772964000000,1773482400000,7,NULL,NULL);
INSERT INTO devices VALUES('d6','initech','lathe-9','1.0',1772618400000,1773482400000,2,NULL,NULL);
INSERT INTO devices VALUES('gw-old','acct-old','press-x','2.0',1773476400001,1773476400008,8,'{"device_id": "gw-old", "state": "online", "buffer_depth": 3}',1773480000000);
CREATE TABLE analytics_combo (
        id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, account_id TEXT NOT NULL,
        device_type TEXT NOT NULL, firmware_version TEXT NOT NULL, labels TEXT NOT NULL,
        UNIQUE (device_id, account_id, device_type, firmware_version, labels)
    );
INSERT INTO analytics_combo VALUES(1,'d1','acme','press-x','1.0','{}');
INSERT INTO analytics_combo VALUES(2,'d2','acme','press-x','1.0','{}');
INSERT INTO analytics_combo VALUES(3,'d3','globex','press-x','1.0','{}');
INSERT INTO analytics_combo VALUES(4,'d4','globex','press-x','2.0','{}');
INSERT INTO analytics_combo VALUES(5,'d5','initech','lathe-9','1.0','{}');
INSERT INTO analytics_combo VALUES(6,'d6','initech','lathe-9','1.0','{}');
INSERT INTO analytics_combo VALUES(7,'gw-old','acct-old','press-x','2.0','{"site":"north"}');
CREATE TABLE analytics_feature (id INTEGER PRIMARY KEY, feature TEXT NOT NULL UNIQUE);
INSERT INTO analytics_feature VALUES(1,'calibrate');
INSERT INTO analytics_feature VALUES(2,'export');
INSERT INTO analytics_feature VALUES(3,'recipes');
INSERT INTO analytics_feature VALUES(4,'jog');
INSERT INTO analytics_feature VALUES(5,'spindle');
INSERT INTO analytics_feature VALUES(6,'probe');
CREATE TABLE activity_bits (
        combo INTEGER NOT NULL, block INTEGER NOT NULL, bits INTEGER NOT NULL,
        version INTEGER NOT NULL, PRIMARY KEY (combo, block)
    ) WITHOUT ROWID;
INSERT INTO activity_bits VALUES(1,11557,4397778075648,14);
INSERT INTO activity_bits VALUES(2,11557,5637144576,17);
INSERT INTO activity_bits VALUES(3,11557,1236950581248,19);
INSERT INTO activity_bits VALUES(4,11557,377957122304,23);
INSERT INTO activity_bits VALUES(5,11557,4363686772736,30);
INSERT INTO activity_bits VALUES(6,11557,2199023255552,31);
INSERT INTO activity_bits VALUES(7,11557,2199023255552,32);
CREATE TABLE feature_bits (
        combo INTEGER NOT NULL, feature INTEGER NOT NULL, block INTEGER NOT NULL,
        bits INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (combo, feature, block)
    ) WITHOUT ROWID;
INSERT INTO feature_bits VALUES(1,1,11557,4397778075648,27);
INSERT INTO feature_bits VALUES(1,2,11557,4397778075648,28);
INSERT INTO feature_bits VALUES(2,1,11557,5637144576,31);
INSERT INTO feature_bits VALUES(3,3,11557,1236950581248,33);
INSERT INTO feature_bits VALUES(4,1,11557,377957122304,41);
INSERT INTO feature_bits VALUES(4,2,11557,377957122048,42);
INSERT INTO feature_bits VALUES(4,3,11557,377957122048,43);
INSERT INTO feature_bits VALUES(5,4,11557,4363686772736,50);
INSERT INTO feature_bits VALUES(6,5,11557,2199023255552,51);
INSERT INTO feature_bits VALUES(7,4,11557,2199023255552,52);
INSERT INTO feature_bits VALUES(7,6,11557,2199023255552,53);
CREATE TABLE alert_state (
        rule TEXT NOT NULL, subject TEXT NOT NULL, value REAL, sent_ms INTEGER NOT NULL,
        PRIMARY KEY (rule, subject)
    );
CREATE TABLE job_runs (name TEXT PRIMARY KEY, started_ms INTEGER NOT NULL);
CREATE TABLE event_counts (
        day TEXT NOT NULL, slot INTEGER NOT NULL, events INTEGER NOT NULL,
        PRIMARY KEY (day, slot)
    ) WITHOUT ROWID;
INSERT INTO event_counts VALUES('2026-02-09',0,1);
INSERT INTO event_counts VALUES('2026-03-01',0,4);
INSERT INTO event_counts VALUES('2026-03-02',0,3);
INSERT INTO event_counts VALUES('2026-03-03',0,4);
INSERT INTO event_counts VALUES('2026-03-04',0,4);
INSERT INTO event_counts VALUES('2026-03-05',0,4);
INSERT INTO event_counts VALUES('2026-03-06',0,3);
INSERT INTO event_counts VALUES('2026-03-07',0,3);
INSERT INTO event_counts VALUES('2026-03-08',0,7);
INSERT INTO event_counts VALUES('2026-03-09',0,7);
INSERT INTO event_counts VALUES('2026-03-10',0,6);
INSERT INTO event_counts VALUES('2026-03-11',0,7);
INSERT INTO event_counts VALUES('2026-03-12',0,4);
INSERT INTO event_counts VALUES('2026-03-13',0,6);
INSERT INTO event_counts VALUES('2026-03-14',0,13);
CREATE TABLE quarantine_counts (
        day TEXT NOT NULL, reason TEXT NOT NULL, slot INTEGER NOT NULL, items INTEGER NOT NULL,
        PRIMARY KEY (day, reason, slot)
    ) WITHOUT ROWID;
INSERT INTO quarantine_counts VALUES('2026-12-06','invalid:id',0,1);
CREATE UNIQUE INDEX events_imported ON events (device_id, event_id) WHERE stream_id IS NULL;
CREATE INDEX quarantine_reason ON quarantine (reason);
CREATE INDEX activity_day_day ON activity_day (day);
CREATE INDEX feature_day_day ON feature_day (day);
CREATE INDEX activity_bits_version ON activity_bits (version);
CREATE INDEX feature_bits_version ON feature_bits (version);
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
CREATE INDEX session_day_day ON session_day (day);
CREATE INDEX quarantine_received ON quarantine (received_ms);
COMMIT;
