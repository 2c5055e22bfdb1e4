-- Assist tasks (吹哨报到) fire their own deadline: when it passed while the task was
-- still open. Keep in step with ../sqlite/0005_assist_deadlines.sql.
ALTER TABLE case_assists ADD COLUMN overdue_at BIGINT;
CREATE INDEX case_assists_due ON case_assists (status, due_at);
