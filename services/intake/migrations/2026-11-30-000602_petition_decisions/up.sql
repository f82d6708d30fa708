-- The petition office's decision on each petition (信访工作条例 第二十二条): registered, then
-- within 15 days accepted (to the units), not accepted (a matter for litigation, arbitration
-- or administrative review), no longer accepted (the facts of a concluded review), or
-- forwarded outside the district; a written notice to the petitioner with each.
CREATE TABLE petition_decisions (
    case_id        TEXT PRIMARY KEY NOT NULL,
    -- pending | accepted | not_accepted | no_longer_accepted | forwarded
    outcome        TEXT NOT NULL,
    legal_channel  TEXT,
    concluded_case TEXT,
    forwarded_to   TEXT,
    notice         TEXT NOT NULL,
    -- The end of the 15th natural day after registration; none for petitions registered
    -- before decisions were recorded (accepted at registration).
    due_at         TIMESTAMP,
    decided_at     TIMESTAMP,
    decided_by     TEXT
);
CREATE INDEX petition_decisions_open ON petition_decisions (outcome, due_at);

-- Petitions registered before: accepted at registration, as they were handled.
INSERT INTO petition_decisions (case_id, outcome, notice, decided_at)
SELECT id, 'accepted', '', received_at FROM cases WHERE source = 'petition';
