DROP TABLE matters;
DROP TABLE cases;
