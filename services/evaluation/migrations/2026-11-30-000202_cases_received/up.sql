-- The rates summary reads the period's cases of one source (services/evaluation/tests/plans.rs).
CREATE INDEX eval_cases_received ON eval_cases (source, received_at);
