DROP INDEX routing_matters_received;
DROP INDEX dispatches_resolved;
