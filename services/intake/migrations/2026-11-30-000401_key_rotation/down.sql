DROP TABLE citizen_key_rotation;
