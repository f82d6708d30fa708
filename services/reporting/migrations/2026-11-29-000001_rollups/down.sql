DROP TABLE report_case_days;
DROP TABLE report_petition_days;
DROP TABLE report_dispatch_days;
DROP INDEX report_cases_single_visit;
DROP INDEX report_cases_repeat_of;
DROP INDEX report_dispatches_case;
DROP INDEX report_ratings_dispatch;
DROP INDEX report_dispatches_matter;
ALTER TABLE report_dispatches DROP COLUMN settles_at;
