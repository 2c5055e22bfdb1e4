-- gongzhi foundation schema (PostgreSQL). Keep in step with ../sqlite/0001_foundation.sql:
-- a test compares the two. Times are UTC epoch microseconds; ids are made by the app.

CREATE TABLE units (
    id TEXT NOT NULL PRIMARY KEY,
    parent_id TEXT REFERENCES units (id),
    kind TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    geometry TEXT,
    min_lng DOUBLE PRECISION,
    min_lat DOUBLE PRECISION,
    max_lng DOUBLE PRECISION,
    max_lat DOUBLE PRECISION,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX units_parent ON units (parent_id);
CREATE INDEX units_path ON units (path);

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    kind TEXT NOT NULL,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE role_assignments (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    unit_id TEXT NOT NULL REFERENCES units (id),
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, role, unit_id)
);
CREATE INDEX role_assignments_user ON role_assignments (user_id);

CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
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
    lng DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    overdue_since BIGINT,
    personal_salt TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT
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
    started_at BIGINT NOT NULL,
    due_at BIGINT,
    warn_ratio DOUBLE PRECISION,
    warn_at BIGINT,
    provisional BIGINT NOT NULL,
    on_expiry TEXT NOT NULL,
    status TEXT NOT NULL,
    remaining TEXT,
    warned_at BIGINT,
    fired_at BIGINT,
    closed_at BIGINT
);
CREATE INDEX deadlines_due ON deadlines (status, due_at);
CREATE INDEX deadlines_case ON deadlines (case_id);

CREATE TABLE log_entries (
    seq BIGINT NOT NULL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    at BIGINT NOT NULL,
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
    id BIGINT NOT NULL PRIMARY KEY,
    next_seq BIGINT NOT NULL
);
INSERT INTO log_head (id, next_seq) VALUES (1, 0);

-- Reads of personal data (who saw which case's personal fields, and why).
CREATE TABLE personal_data_reads (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    purpose TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX personal_data_reads_case ON personal_data_reads (case_id);

-- Append-only on PostgreSQL is enforced by privileges, not triggers (see
-- docs/OPERATIONS.md: the application role gets no UPDATE or DELETE on log_entries).
