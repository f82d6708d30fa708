DROP INDEX report_returns_matter;
