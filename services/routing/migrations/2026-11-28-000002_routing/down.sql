DROP TABLE routing_log;
DROP TABLE reminders;
DROP TABLE supervisions;
DROP TABLE extensions;
DROP TABLE return_requests;
DROP TABLE dispatches;
DROP TABLE routing_matters;
DROP TABLE units;
