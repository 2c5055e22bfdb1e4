-- A record's own time limits (hold a scheduled session, follow up an
-- agreement's performance) are deadline rows that name their record; the
-- case's state deadlines are the rows with neither a clock nor a record.
-- Keep in step with ../postgres/0017_record_deadlines.sql.
ALTER TABLE deadlines ADD COLUMN record_id TEXT;
CREATE INDEX deadlines_by_record ON deadlines (record_id) WHERE record_id IS NOT NULL;
