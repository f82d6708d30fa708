-- A unit's live dispatches (its inbox; a successor taking them over): those still with the unit,
-- neither closed nor resolved, however many it resolved before. The queries write the predicate
-- as it is here ('resolved' a literal, store.rs live_dispatch), so that a plan a connection made
-- once, on a small table and before knowing any value, uses this index. It replaces the
-- (unit, state) index: with it, such a plan read every dispatch the unit ever had that was not
-- closed, resolved ones included (services/routing/tests/plans.rs plans each hot query at
-- several sizes).
DROP INDEX dispatches_unit_state;
CREATE INDEX dispatches_unit_live ON dispatches (unit) WHERE closed_at IS NULL AND state <> 'resolved';
