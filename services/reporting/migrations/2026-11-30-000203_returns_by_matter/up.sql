-- An approved return closes the unit's pending returns of the matter (services/reporting/tests/plans.rs).
CREATE INDEX report_returns_matter ON report_returns (matter_id, unit);
