DROP INDEX report_returns_wrongful;
