-- The drill-down (`cells.rs`) and the console's unit page read one unit's dispatches of a
-- period, and its open ones by deadline, through these rather than through the period's
-- dispatches of every unit.
CREATE INDEX report_dispatches_unit ON report_dispatches (unit, source, received_at);
CREATE INDEX report_dispatches_unit_open ON report_dispatches (unit, status, resolve_deadline);
CREATE INDEX report_ratings_subject ON report_ratings (subject, source, case_id);
-- The bounce page's matters that moved: the few dispatches past a first assignment. Partial,
-- so that a query saying `assignment > 1` in so many words reads only those (both backends).
CREATE INDEX report_dispatches_moved ON report_dispatches (source, received_at) WHERE assignment > 1;
