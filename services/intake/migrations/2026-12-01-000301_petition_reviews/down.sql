DROP TABLE concluded_facts;
DROP TABLE petition_reviews;
