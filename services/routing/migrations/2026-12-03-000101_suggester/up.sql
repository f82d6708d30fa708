-- What the matter's first assignment could have been, kept for the suggester's accuracy report
-- (suggest/accuracy.rs): the unit the platform named and the unit the catalog named on the day
-- of receipt, whether or not either was taken. Rows from before are filled from the dispatch
-- that was made through each.
ALTER TABLE routing_matters ADD COLUMN named_unit TEXT;
ALTER TABLE routing_matters ADD COLUMN catalog_unit TEXT;
UPDATE routing_matters SET named_unit = (
    SELECT d.unit FROM dispatches d WHERE d.matter_id = routing_matters.matter_id AND d.via = 'named' AND d.assignment = 1
);
UPDATE routing_matters SET catalog_unit = (
    SELECT d.unit FROM dispatches d WHERE d.matter_id = routing_matters.matter_id AND d.via = 'catalog' AND d.assignment = 1
);

-- Each trained model of the suggester: its version is recorded with every suggestion made from it.
CREATE TABLE suggester_models (
    version          INTEGER PRIMARY KEY,
    trained_at       TIMESTAMP NOT NULL,
    -- The matters resolved in [resolved_from, resolved_to) it learned from.
    resolved_from    TIMESTAMP NOT NULL,
    resolved_to      TIMESTAMP NOT NULL,
    matters          BIGINT NOT NULL
);

