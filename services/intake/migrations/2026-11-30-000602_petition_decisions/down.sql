DROP TABLE petition_decisions;
