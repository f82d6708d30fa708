-- Indexes for the hot queries that read a growing table whole on a database without statistics
-- (services/routing/tests/plans.rs):
-- a dispatch's pending return, asked on every return request;
CREATE INDEX return_requests_dispatch ON return_requests (dispatch_id, status);
-- the scanner's open dispatches (deadlines to remind and supervise), by the open states, so that
-- it reads only the live dispatches however many were resolved or closed before.
CREATE INDEX dispatches_open ON dispatches (state, closed_at);
