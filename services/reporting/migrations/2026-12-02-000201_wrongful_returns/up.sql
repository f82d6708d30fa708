-- A period's wrongful returns (the moves report): those rows only, not every return of the period.
CREATE INDEX report_returns_wrongful ON report_returns (received_at) WHERE wrongful;
