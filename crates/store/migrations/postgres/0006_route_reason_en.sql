-- The routing reason in English beside the Chinese one, so English pages
-- explain a suggestion in English. Older cases keep only the Chinese reason.
-- Keep in step with ../sqlite/0006_route_reason_en.sql.
ALTER TABLE cases ADD COLUMN route_reason_en TEXT;
