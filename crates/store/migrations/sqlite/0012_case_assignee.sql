-- The staff member a case is assigned to (a mediator, a case officer), as
-- the pack's bound person field names them; kept beside the fields so work
-- lists and load counts need no JSON look-ups. Keep in step with
-- ../postgres/0012_case_assignee.sql.
ALTER TABLE cases ADD COLUMN assignee_user_id TEXT REFERENCES users (id);
CREATE INDEX cases_assignee ON cases (assignee_user_id) WHERE assignee_user_id IS NOT NULL;
