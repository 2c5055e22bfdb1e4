-- Named clocks that a pack declares beside the states' own deadlines: a
-- deadline row with a clock id spans states, and only the pack's stop states
-- (or a terminal one) close it. NULL keeps the row a state's deadline.
-- Keep in step with ../postgres/0013_named_clocks.sql.
ALTER TABLE deadlines ADD COLUMN clock TEXT;
