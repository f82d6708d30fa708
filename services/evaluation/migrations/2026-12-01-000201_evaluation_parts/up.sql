-- Each petition is rated in parts at their own times (issue 14): the petition office's own step
-- (registration, forwarding, the written notice), opened by its decision, and each handling
-- unit, opened when the unit resolved its matters; each part has its window, expiry and
-- follow-ups. A hotline case stays one part, 'case'. The evaluations table is rebuilt keyed by
-- (case_id, part), and the ratings and follow-ups say which part they belong to.
CREATE TABLE evaluation_parts (
    case_id     TEXT NOT NULL,
    -- 'case' (a hotline case), 'agency' (the petition office), or a handling unit's code
    part        TEXT NOT NULL,
    source      TEXT NOT NULL,
    -- due | rated | expired | re_rating_invited | awaiting_rehandling
    status      TEXT NOT NULL,
    cycle       INTEGER NOT NULL,
    reopened    BOOLEAN NOT NULL,
    rerated     BOOLEAN NOT NULL,
    opened_at   TIMESTAMP NOT NULL,
    window_ends TIMESTAMP NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (case_id, part)
);
INSERT INTO evaluation_parts
    SELECT case_id, 'case', source, status, cycle, reopened, rerated, opened_at, window_ends, version
    FROM evaluations WHERE source <> 'petition';
INSERT INTO evaluation_parts
    SELECT case_id, 'agency', source, status, cycle, reopened, rerated, opened_at, window_ends, version
    FROM evaluations WHERE source = 'petition';
INSERT INTO evaluation_parts
    SELECT DISTINCT e.case_id, m.lead_unit, e.source, e.status, e.cycle, e.reopened, e.rerated, e.opened_at,
        e.window_ends, e.version
    FROM evaluations e JOIN eval_matters m ON m.case_id = e.case_id
    WHERE e.source = 'petition' AND m.lead_unit IS NOT NULL;

-- The citizen's one-time link covers the parts open when it was issued.
CREATE TABLE rating_links (
    token_hash TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX rating_links_case ON rating_links (case_id);
INSERT INTO rating_links SELECT token_hash, case_id, window_ends FROM evaluations WHERE token_hash IS NOT NULL;

CREATE TABLE evaluation_ratings_parted (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    part        TEXT NOT NULL,
    cycle       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    subject     TEXT NOT NULL,
    dispatch_id TEXT,
    level       TEXT NOT NULL,
    mapped      TEXT NOT NULL,
    rated_by    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    at          TIMESTAMP NOT NULL,
    superseded  BOOLEAN NOT NULL,
    comment     TEXT,
    FOREIGN KEY (case_id, part) REFERENCES evaluation_parts (case_id, part)
);
INSERT INTO evaluation_ratings_parted
    SELECT r.id, r.case_id, CASE WHEN e.source = 'petition' THEN r.subject ELSE 'case' END, r.cycle, r.attempt,
        r.subject, r.dispatch_id, r.level, r.mapped, r.rated_by, r.channel, r.at, r.superseded, r.comment
    FROM evaluation_ratings r JOIN evaluations e ON e.case_id = r.case_id
    WHERE e.source <> 'petition' OR EXISTS
        (SELECT 1 FROM evaluation_parts p WHERE p.case_id = r.case_id AND p.part = r.subject);

CREATE TABLE follow_ups_parted (
    id      TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    part    TEXT NOT NULL,
    outcome TEXT NOT NULL,
    note    TEXT NOT NULL,
    by_whom TEXT NOT NULL,
    at      TIMESTAMP NOT NULL,
    FOREIGN KEY (case_id, part) REFERENCES evaluation_parts (case_id, part)
);
-- A petition's follow-up before the split answered the whole evaluation: every part keeps it.
INSERT INTO follow_ups_parted
    SELECT CASE WHEN p.part = 'case' THEN f.id ELSE f.id || ':' || p.part END, f.case_id, p.part, f.outcome,
        f.note, f.by_whom, f.at
    FROM follow_ups f JOIN evaluation_parts p ON p.case_id = f.case_id;

DROP TABLE follow_ups;
DROP TABLE evaluation_ratings;
DROP TABLE evaluations;
ALTER TABLE evaluation_ratings_parted RENAME TO evaluation_ratings;
ALTER TABLE follow_ups_parted RENAME TO follow_ups;
CREATE INDEX evaluation_ratings_part ON evaluation_ratings (case_id, part, cycle, attempt);
CREATE INDEX follow_ups_part ON follow_ups (case_id, part);
-- Expiry reads the open parts whose window closed; the gauges count the waiting ones.
CREATE INDEX evaluation_parts_status ON evaluation_parts (status, window_ends);
