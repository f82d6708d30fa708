-- The unit suggester's reads (suggest/history.rs): the matters resolved in a year, in pages by
-- the moment of resolution (training and the accuracy report), and the matters received in a
-- period (the accuracy report, the catalog's contradictions). Without these, each page of a
-- training would read the whole dispatches table.
CREATE INDEX dispatches_resolved ON dispatches (resolved_at, matter_id);
CREATE INDEX routing_matters_received ON routing_matters (case_received_at);
