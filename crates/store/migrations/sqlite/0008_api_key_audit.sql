-- Who made and who revoked each API key, and when it was last used, so that
-- an account's keys can be listed and accounted for. Keep in step with
-- ../postgres/0008_api_key_audit.sql.
ALTER TABLE api_keys ADD COLUMN created_by TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_by TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
CREATE INDEX api_keys_user ON api_keys (user_id);
