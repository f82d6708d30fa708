DROP INDEX eval_cases_received;
