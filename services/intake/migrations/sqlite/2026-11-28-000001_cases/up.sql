-- Cases (诉求件) and their matters (诉求事项). Citizen data is stored encrypted; phone_key and
-- id_key are keyed hashes that find the same person across cases.
CREATE TABLE cases (
    id                TEXT PRIMARY KEY,
    source            TEXT NOT NULL,
    external_ref      TEXT NOT NULL,
    channel           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    category          TEXT NOT NULL,
    content           TEXT NOT NULL,
    sub_district      TEXT NOT NULL,
    address           TEXT NOT NULL,
    latitude          DOUBLE PRECISION,
    longitude         DOUBLE PRECISION,
    received_at       TIMESTAMP NOT NULL,
    recorded_at       TIMESTAMP NOT NULL,
    anonymous         BOOLEAN NOT NULL,
    hide_identity     BOOLEAN NOT NULL,
    citizen_name_enc  TEXT,
    citizen_phone_enc TEXT,
    citizen_id_enc    TEXT,
    phone_key         TEXT,
    id_key            TEXT,
    fingerprint       TEXT NOT NULL,
    UNIQUE (source, external_ref)
);
CREATE INDEX cases_received_at ON cases (received_at);
CREATE INDEX cases_phone_key ON cases (phone_key);
CREATE INDEX cases_id_key ON cases (id_key);

CREATE TABLE matters (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    ordinal     INTEGER NOT NULL,
    category    TEXT NOT NULL,
    summary     TEXT NOT NULL,
    target_unit TEXT,
    UNIQUE (case_id, ordinal)
);
