-- Category and routing revisions made on the admin pages. Each row is the
-- whole admin layer (JSON lists of category rows and routing rules) applied
-- on top of the shipped files and the city's extension files; the newest
-- revision is in force. Keep in step with ../postgres/0007_admin.sql.
CREATE TABLE taxonomy_revisions (
    revision INTEGER NOT NULL PRIMARY KEY,
    categories TEXT NOT NULL,
    routing TEXT NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL
);
