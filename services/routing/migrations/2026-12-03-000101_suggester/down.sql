DROP TABLE suggester_models;
ALTER TABLE routing_matters DROP COLUMN catalog_unit;
ALTER TABLE routing_matters DROP COLUMN named_unit;
