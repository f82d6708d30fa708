-- Where a rotation of the citizen-data key stands: `caseflow rotate-citizen-key` re-encrypts the
-- cases in id order and records the last one done, so a rotation stopped half-way resumes.
-- `key_check` is a keyed digest under the new key: a resumed run with another key is refused.
CREATE TABLE citizen_key_rotation (
    id          INTEGER PRIMARY KEY,
    key_check   TEXT NOT NULL,
    last_case   TEXT NOT NULL,
    examined    BIGINT NOT NULL,
    rewritten   BIGINT NOT NULL,
    unverified  BIGINT NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
