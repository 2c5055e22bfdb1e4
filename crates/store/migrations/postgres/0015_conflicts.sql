-- Conflicts of interest: staff declare their own and related people's
-- identifiers, and parties' identifiers are kept beside them, both only as
-- digests under one instance key, so that a mediator who is a party (or
-- related to one) can be refused without a table of numbers in clear.
-- Keep in step with ../sqlite/0015_conflicts.sql.
CREATE TABLE instance_secrets (
    name TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO instance_secrets (name, value) VALUES ('identity_key', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

CREATE TABLE staff_interests (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    relation TEXT NOT NULL,
    digest TEXT NOT NULL,
    hint TEXT NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL,
    removed_at BIGINT
);
CREATE INDEX staff_interests_user ON staff_interests (user_id);
CREATE INDEX staff_interests_digest ON staff_interests (digest);

CREATE TABLE party_identifiers (
    party_id TEXT NOT NULL REFERENCES case_parties (id),
    case_id TEXT NOT NULL REFERENCES cases (id),
    digest TEXT NOT NULL,
    PRIMARY KEY (party_id, digest)
);
CREATE INDEX party_identifiers_digest ON party_identifiers (digest);
CREATE INDEX party_identifiers_case ON party_identifiers (case_id);
