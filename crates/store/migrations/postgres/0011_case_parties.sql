-- The parties of a case (当事人), each with its role in the case, person or
-- organisation, and the fields the pack declares for parties (personal ones
-- are masked in views and digested in the log). A party removed by mistake
-- keeps its row, marked removed. Keep in step with ../sqlite/0011_case_parties.sql.
CREATE TABLE case_parties (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    removed_by TEXT,
    removed_at BIGINT,
    removed_reason TEXT
);
CREATE INDEX case_parties_case ON case_parties (case_id);
