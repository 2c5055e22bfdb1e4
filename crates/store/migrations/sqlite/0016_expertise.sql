-- What staff are experienced in, as options of a pack's choice field (a
-- mediator's specialities: family, neighbours, labour...), shown and
-- matched when a case is assigned. Set by admins, every change logged.
-- Keep in step with ../postgres/0016_expertise.sql.
CREATE TABLE staff_expertise (
    user_id TEXT NOT NULL REFERENCES users (id),
    pack_id TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, pack_id, field, value)
);
