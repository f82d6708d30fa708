DROP INDEX cases_repeat_by_phone;
DROP INDEX cases_repeat_by_id;
CREATE INDEX cases_phone_key ON cases (phone_key);
CREATE INDEX cases_id_key ON cases (id_key);
