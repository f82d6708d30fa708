DROP INDEX return_requests_status;
