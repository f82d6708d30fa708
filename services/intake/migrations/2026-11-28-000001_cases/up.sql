-- Cases (诉求件 / 信访件) and their matters (诉求事项). Citizen data is stored encrypted;
-- phone_key, id_key and person_key are keyed hashes that find the same person across cases.
CREATE TABLE cases (
    id                TEXT PRIMARY KEY,
    source            TEXT NOT NULL,
    external_ref      TEXT NOT NULL,
    channel           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    purpose           TEXT NOT NULL,
    accused_unit      TEXT,
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
    person_key        TEXT,
    visit_batches     INTEGER,
    visit_persons     INTEGER,
    joint_signers     INTEGER,
    collective        BOOLEAN NOT NULL,
    single_visit      BOOLEAN NOT NULL,
    is_first          BOOLEAN NOT NULL,
    repeat_of         TEXT REFERENCES cases (id),
    status            TEXT NOT NULL,
    fingerprint       TEXT NOT NULL,
    UNIQUE (source, external_ref)
);
CREATE INDEX cases_received_at ON cases (received_at, id);
CREATE INDEX cases_phone_key ON cases (phone_key);
CREATE INDEX cases_id_key ON cases (id_key);
CREATE INDEX cases_person_key ON cases (person_key, received_at);

CREATE TABLE matters (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    ordinal     INTEGER NOT NULL,
    category    TEXT NOT NULL,
    summary     TEXT NOT NULL,
    target_unit TEXT,
    UNIQUE (case_id, ordinal)
);

-- Units a case was dispatched to, from routing's events: who may reveal the citizen's contact.
CREATE TABLE case_units (
    case_id TEXT NOT NULL REFERENCES cases (id),
    unit    TEXT NOT NULL,
    PRIMARY KEY (case_id, unit)
);

-- The watch ledger (动态台账): collective visits, joint letters, repeat visits, threats.
CREATE TABLE watch_items (
    id        TEXT PRIMARY KEY,
    case_id   TEXT NOT NULL REFERENCES cases (id),
    reason    TEXT NOT NULL,
    status    TEXT NOT NULL,
    note      TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (case_id, reason)
);
CREATE INDEX watch_items_status ON watch_items (status, opened_at);

-- Every reveal of a citizen's clear data: who, when, why.
CREATE TABLE citizen_reveals (
    id      TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    actor   TEXT NOT NULL,
    role    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    at      TIMESTAMP NOT NULL
);
CREATE INDEX citizen_reveals_case ON citizen_reveals (case_id, at);

-- Leader receptions (领导接访): one row per batch received.
CREATE TABLE leader_receptions (
    id           TEXT PRIMARY KEY,
    external_ref TEXT NOT NULL UNIQUE,
    leader_name  TEXT NOT NULL,
    leader_title TEXT NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    persons      INTEGER NOT NULL,
    recorded_at  TIMESTAMP NOT NULL,
    fingerprint  TEXT NOT NULL
);
CREATE INDEX leader_receptions_received ON leader_receptions (received_at);

CREATE TABLE leader_reception_matters (
    reception_id TEXT NOT NULL REFERENCES leader_receptions (id),
    ordinal      INTEGER NOT NULL,
    summary      TEXT NOT NULL,
    case_id      TEXT,
    -- solved_on_spot | resolved | in_progress
    outcome      TEXT NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (reception_id, ordinal)
);
