-- The engine's own record statuses get words of their own, apart from any
-- pack's state names: a paused clock is `paused` (was `suspended`), an
-- answered assist task is `answered` (was `reported`). Log entries keep what
-- they said when written. Keep in step with ../sqlite/0009_engine_statuses.sql.
UPDATE deadlines SET status = 'paused' WHERE status = 'suspended';
UPDATE case_assists SET status = 'answered' WHERE status = 'reported';
