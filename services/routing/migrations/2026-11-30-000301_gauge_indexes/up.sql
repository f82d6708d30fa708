-- The pending return requests, for the operator's gauge: a few rows however long the history.
CREATE INDEX return_requests_status ON return_requests (status);
