-- Typed links between cases, read from both ends (see domain::link), with who
-- made them and, for a link removed by mistake, who removed it and why. The
-- earlier table kept the field a link came from as its kind: a duplicate
-- reference becomes a `duplicate` link, any other reference `related`.
-- Keep in step with ../sqlite/0010_case_links.sql.
CREATE TABLE case_links_typed (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    source_case_id TEXT NOT NULL REFERENCES cases (id),
    target_case_id TEXT NOT NULL REFERENCES cases (id),
    note TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    removed_by TEXT,
    removed_at BIGINT,
    removed_reason TEXT
);
INSERT INTO case_links_typed (id, kind, source_case_id, target_case_id, created_at)
    SELECT case_id || ':' || linked_case_id || ':' || kind,
           CASE WHEN kind = 'duplicate_of' THEN 'duplicate' ELSE 'related' END,
           case_id, linked_case_id, created_at
    FROM case_links;
DROP TABLE case_links;
ALTER TABLE case_links_typed RENAME TO case_links;
CREATE UNIQUE INDEX case_links_live ON case_links (source_case_id, target_case_id, kind) WHERE removed_at IS NULL;
CREATE INDEX case_links_target ON case_links (target_case_id);
