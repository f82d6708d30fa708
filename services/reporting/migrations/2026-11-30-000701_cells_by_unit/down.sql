DROP INDEX report_dispatches_moved;
DROP INDEX report_ratings_subject;
DROP INDEX report_dispatches_unit_open;
DROP INDEX report_dispatches_unit;
