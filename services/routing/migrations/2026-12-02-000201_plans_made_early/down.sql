DROP INDEX dispatches_unit_live;
CREATE INDEX dispatches_unit_state ON dispatches (unit, state);
