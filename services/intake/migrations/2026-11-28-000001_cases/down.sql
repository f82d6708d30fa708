DROP TABLE leader_reception_matters;
DROP TABLE leader_receptions;
DROP TABLE citizen_reveals;
DROP TABLE watch_items;
DROP TABLE case_units;
DROP TABLE matters;
DROP TABLE cases;
