-- Records a case holds many of (sessions, agreements, documents, ledger
-- entries), of the kinds its pack declares, each with its fields and, where
-- the kind has a life, its state. Keep in step with ../postgres/0014_case_records.sql.
CREATE TABLE case_records (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    kind TEXT NOT NULL,
    state TEXT,
    fields TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX case_records_case ON case_records (case_id, created_at);
