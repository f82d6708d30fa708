-- The repeat lookup (the earliest case of the same person about the same matter within the
-- window) as one index seek per person key, however many cases the person has: a frequent
-- caller costs what anyone costs. These replace the single-column person indexes, which they
-- lead with.
DROP INDEX cases_phone_key;
DROP INDEX cases_id_key;
CREATE INDEX cases_repeat_by_phone ON cases (phone_key, source, category, sub_district, received_at, id);
CREATE INDEX cases_repeat_by_id ON cases (id_key, source, category, sub_district, received_at, id);
