-- gongzhi foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql:
-- a test compares the two. Times are UTC epoch microseconds; ids are made by the app.

CREATE TABLE units (
    id TEXT NOT NULL PRIMARY KEY,
    parent_id TEXT REFERENCES units (id),
    kind TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    geometry TEXT,
    min_lng REAL,
    min_lat REAL,
    max_lng REAL,
    max_lat REAL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX units_parent ON units (parent_id);
CREATE INDEX units_path ON units (path);

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    kind TEXT NOT NULL,
    disabled_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE role_assignments (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    unit_id TEXT NOT NULL REFERENCES units (id),
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, role, unit_id)
);
CREATE INDEX role_assignments_user ON role_assignments (user_id);

CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE cases (
    id TEXT NOT NULL PRIMARY KEY,
    receipt_code TEXT NOT NULL UNIQUE,
    pack_id TEXT NOT NULL,
    pack_version TEXT NOT NULL,
    case_type TEXT NOT NULL,
    state TEXT NOT NULL,
    fields TEXT NOT NULL,
    holder_unit_id TEXT NOT NULL REFERENCES units (id),
    area_unit_id TEXT REFERENCES units (id),
    lng REAL,
    lat REAL,
    overdue_since INTEGER,
    personal_salt TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX cases_holder ON cases (holder_unit_id);
CREATE INDEX cases_area ON cases (area_unit_id);
CREATE INDEX cases_state ON cases (state);
CREATE INDEX cases_created ON cases (created_at);

CREATE TABLE deadlines (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    state TEXT NOT NULL,
    rule TEXT NOT NULL,
    calendar_version TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    due_at INTEGER,
    warn_ratio REAL,
    warn_at INTEGER,
    provisional INTEGER NOT NULL,
    on_expiry TEXT NOT NULL,
    status TEXT NOT NULL,
    remaining TEXT,
    warned_at INTEGER,
    fired_at INTEGER,
    closed_at INTEGER
);
CREATE INDEX deadlines_due ON deadlines (status, due_at);
CREATE INDEX deadlines_case ON deadlines (case_id);

CREATE TABLE log_entries (
    seq INTEGER NOT NULL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor_id TEXT,
    actor_unit_id TEXT,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    changes TEXT NOT NULL,
    reason TEXT,
    leaf_hash TEXT NOT NULL
);
CREATE INDEX log_entries_case ON log_entries (case_id, seq);

-- The next log position. Taking it with an UPDATE in the writing transaction
-- serialises appends without sequences or advisory locks.
CREATE TABLE log_head (
    id INTEGER NOT NULL PRIMARY KEY,
    next_seq INTEGER NOT NULL
);
INSERT INTO log_head (id, next_seq) VALUES (1, 0);

-- Reads of personal data (who saw which case's personal fields, and why).
CREATE TABLE personal_data_reads (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    purpose TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX personal_data_reads_case ON personal_data_reads (case_id);

-- Defence in depth on the embedded database: the application never updates or
-- deletes log entries, and SQLite refuses if anything tries.
CREATE TRIGGER log_entries_no_update BEFORE UPDATE ON log_entries
BEGIN
    SELECT RAISE(ABORT, 'log entries are append-only');
END;
CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries
BEGIN
    SELECT RAISE(ABORT, 'log entries are append-only');
END;
