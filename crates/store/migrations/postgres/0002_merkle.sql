-- Tamper-evident log (PostgreSQL). Keep in step with ../sqlite/0002_merkle.sql.

-- Stored Merkle tree hashes in Go tlog's layout: every node of a complete
-- subtree under its stored hash index (see crates/domain/src/merkle.rs).
CREATE TABLE log_tree_hashes (
    idx BIGINT NOT NULL PRIMARY KEY,
    hash TEXT NOT NULL
);

-- One row: how many log entries the stored tree covers, and its root.
CREATE TABLE log_tree (
    id BIGINT NOT NULL PRIMARY KEY,
    size BIGINT NOT NULL,
    root_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO log_tree (id, size, root_hash, updated_at)
VALUES (1, 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0);

-- Signed checkpoints (C2SP signed notes), kept forever.
CREATE TABLE log_checkpoints (
    id TEXT NOT NULL PRIMARY KEY,
    tree_size BIGINT NOT NULL,
    root_hash TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX log_checkpoints_size ON log_checkpoints (tree_size, created_at);

-- Witness cosignatures (C2SP tlog-cosignature lines) on checkpoints.
CREATE TABLE log_cosignatures (
    id TEXT NOT NULL PRIMARY KEY,
    checkpoint_id TEXT NOT NULL REFERENCES log_checkpoints (id),
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    cosigned_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (checkpoint_id, witness)
);

-- Logs this instance witnesses: the last checkpoint it cosigned for each.
CREATE TABLE witnessed_logs (
    origin TEXT NOT NULL PRIMARY KEY,
    tree_size BIGINT NOT NULL,
    root_hash TEXT NOT NULL,
    note TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Append-only by privilege (docs/OPERATIONS.md, "Log tables and roles").
-- Two-role setup: when a role named gongzhi_app exists, it gets read and write
-- on every table of this schema (now and, through default privileges, later),
-- but never UPDATE, DELETE or TRUNCATE on the append-only log tables.
-- One-role setup: the migrating role, unless it is a superuser (privileges do
-- not bind superusers), revokes those rights from itself on the same tables.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gongzhi_app') THEN
        -- CREATE only so that the start-up check (CREATE TABLE IF NOT EXISTS
        -- schema_migrations) passes; it cannot alter or drop the owner's tables.
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO gongzhi_app', current_schema());
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO gongzhi_app', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gongzhi_app', current_schema());
        REVOKE UPDATE, DELETE, TRUNCATE ON log_entries, log_tree_hashes, log_checkpoints, log_cosignatures FROM gongzhi_app;
    ELSIF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON log_entries, log_tree_hashes, log_checkpoints, log_cosignatures FROM %I', current_user);
    END IF;
END
$$;
