DROP TABLE routing_log;
DROP TABLE dispatches;
DROP TABLE units;
