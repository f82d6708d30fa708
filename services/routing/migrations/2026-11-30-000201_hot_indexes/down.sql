DROP INDEX dispatches_open;
DROP INDEX return_requests_dispatch;
