-- Attachments (SQLite). Keep in step with ../postgres/0003_attachments.sql.
-- The bytes live in the blob store (DATA/blobs), addressed by SHA-256; a row
-- says which case a blob belongs to. `public_sha256` is the copy without
-- metadata (EXIF/XMP, so no GPS), NULL for kinds that cannot be cleaned.
-- `is_public` (0/1) is for the public portal; uploads start at 0.
CREATE TABLE attachments (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    sha256 TEXT NOT NULL,
    public_sha256 TEXT,
    media_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    original_name TEXT NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES users (id),
    uploaded_at INTEGER NOT NULL,
    is_public INTEGER NOT NULL
);
CREATE INDEX attachments_case ON attachments (case_id, uploaded_at);
CREATE INDEX attachments_sha256 ON attachments (sha256);
