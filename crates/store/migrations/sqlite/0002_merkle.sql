-- Tamper-evident log (SQLite). Keep in step with ../postgres/0002_merkle.sql.

-- Stored Merkle tree hashes in Go tlog's layout: every node of a complete
-- subtree under its stored hash index (see crates/domain/src/merkle.rs).
CREATE TABLE log_tree_hashes (
    idx INTEGER NOT NULL PRIMARY KEY,
    hash TEXT NOT NULL
);

-- One row: how many log entries the stored tree covers, and its root.
CREATE TABLE log_tree (
    id INTEGER NOT NULL PRIMARY KEY,
    size INTEGER NOT NULL,
    root_hash TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO log_tree (id, size, root_hash, updated_at)
VALUES (1, 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0);

-- Signed checkpoints (C2SP signed notes), kept forever.
CREATE TABLE log_checkpoints (
    id TEXT NOT NULL PRIMARY KEY,
    tree_size INTEGER NOT NULL,
    root_hash TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX log_checkpoints_size ON log_checkpoints (tree_size, created_at);

-- Witness cosignatures (C2SP tlog-cosignature lines) on checkpoints.
CREATE TABLE log_cosignatures (
    id TEXT NOT NULL PRIMARY KEY,
    checkpoint_id TEXT NOT NULL REFERENCES log_checkpoints (id),
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (checkpoint_id, witness)
);

-- Logs this instance witnesses: the last checkpoint it cosigned for each.
CREATE TABLE witnessed_logs (
    origin TEXT NOT NULL PRIMARY KEY,
    tree_size INTEGER NOT NULL,
    root_hash TEXT NOT NULL,
    note TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Tree hashes and checkpoints are append-only too.
CREATE TRIGGER log_tree_hashes_no_update BEFORE UPDATE ON log_tree_hashes
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only');
END;
CREATE TRIGGER log_tree_hashes_no_delete BEFORE DELETE ON log_tree_hashes
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only');
END;
CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
