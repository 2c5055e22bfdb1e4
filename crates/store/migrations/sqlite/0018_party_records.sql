-- A record a party added itself on the public lookup (evidence for the
-- exchange) names that party: the party always sees it, the others only as
-- the pack allows. Keep in step with ../postgres/0018_party_records.sql.
ALTER TABLE case_records ADD COLUMN party_id TEXT REFERENCES case_parties (id);
