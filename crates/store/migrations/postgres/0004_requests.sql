-- Requests: joint handling (吹哨报到), links between cases, routing suggestions,
-- and idempotent intake. Keep in step with ../sqlite/0004_requests.sql.

-- Assisting units of a case, each with its own task and deadline.
CREATE TABLE case_assists (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    unit_id TEXT NOT NULL REFERENCES units (id),
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    due_at BIGINT,
    result TEXT,
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX case_assists_case ON case_assists (case_id);
CREATE INDEX case_assists_unit ON case_assists (unit_id, status);

-- Links between cases (a duplicate and its original, ...).
CREATE TABLE case_links (
    case_id TEXT NOT NULL REFERENCES cases (id),
    linked_case_id TEXT NOT NULL REFERENCES cases (id),
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, linked_case_id, kind)
);

-- The routing suggestion made at intake, and its reason, for the dispatcher.
ALTER TABLE cases ADD COLUMN suggested_unit_id TEXT;
ALTER TABLE cases ADD COLUMN route_reason TEXT;
ALTER TABLE cases ADD COLUMN category TEXT;
CREATE INDEX cases_category ON cases (category);

-- Client-supplied keys that make intake retries safe: the same key from the
-- same caller always answers with the case it first created.
CREATE TABLE intake_keys (
    caller_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (caller_id, idempotency_key)
);
