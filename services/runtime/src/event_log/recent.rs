//! The events this process's publisher stamped last, as its streams send them.
//!
//! The publisher's stamping statement returns the rows it stamped, whole. Once that transaction
//! has committed they are exactly what a read of the outbox would give for those positions
//! (a stamped row never changes), so a stream that is up to date takes the next events from
//! here instead of reading them back: a service with three subscribers read every publication
//! three more times, and each read held one of its pool's connections while the order POSTs
//! waited for one.
//!
//! Only a run of consecutive positions is kept. On PostgreSQL another replica's publisher may
//! stamp the positions between two of this one's runs: the run starts again after such a gap,
//! and a stream that needs what is not here reads the database as before.

use std::collections::VecDeque;
use std::sync::Mutex;

use caseflow_proto::v1::EventEnvelope;

/// How many events are kept: a stream more than this far behind reads the database. Bounded on
/// purpose (an event is a few hundred bytes, so well under a megabyte per service).
pub const KEPT: usize = 1024;

#[derive(Debug, Default)]
pub struct Recent {
    events: Mutex<VecDeque<EventEnvelope>>,
}

impl Recent {
    /// Keeps what one publisher run stamped and committed, in position order.
    pub fn keep(&self, stamped: Vec<EventEnvelope>) {
        let Some(first) = stamped.first().map(|e| e.position) else { return };
        let mut events = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if events.back().is_some_and(|last| last.position + 1 != first) {
            events.clear();
        }
        events.extend(stamped);
        let surplus = events.len().saturating_sub(KEPT);
        events.drain(..surplus);
    }

    /// Up to `limit` events after position `after`, when the next one is kept here; `None` when
    /// the caller must read the database (it is behind what is kept, or past it).
    pub fn after(&self, after: i64, limit: usize) -> Option<Vec<EventEnvelope>> {
        let events = self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = events.front()?.position;
        let last = events.back()?.position;
        if after < first - 1 || after >= last {
            return None;
        }
        let skip = usize::try_from(after + 1 - first).ok()?;
        Some(events.iter().skip(skip).take(limit).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(positions: std::ops::RangeInclusive<i64>) -> Vec<EventEnvelope> {
        positions.map(|position| EventEnvelope { position, ..EventEnvelope::default() }).collect()
    }

    fn positions(events: Option<Vec<EventEnvelope>>) -> Option<Vec<i64>> {
        events.map(|e| e.into_iter().map(|e| e.position).collect())
    }

    #[test]
    fn gives_the_kept_events_after_a_position_and_sends_the_rest_to_the_database() {
        let recent = Recent::default();
        assert_eq!(positions(recent.after(0, 10)), None, "nothing kept yet");
        recent.keep(at(5..=9));
        assert_eq!(positions(recent.after(4, 10)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(positions(recent.after(6, 2)), Some(vec![7, 8]), "at most the limit");
        assert_eq!(positions(recent.after(3, 10)), None, "position 4 is not kept: read it");
        assert_eq!(positions(recent.after(9, 10)), None, "nothing after 9 is known here");
        recent.keep(at(10..=11));
        assert_eq!(positions(recent.after(8, 10)), Some(vec![9, 10, 11]), "consecutive runs join");
    }

    #[test]
    fn a_gap_left_by_another_publisher_starts_the_run_again() {
        let recent = Recent::default();
        recent.keep(at(1..=3));
        // Positions 4 to 6 were stamped by another replica.
        recent.keep(at(7..=8));
        assert_eq!(positions(recent.after(3, 10)), None, "4 to 6 are read from the database");
        assert_eq!(positions(recent.after(2, 10)), None, "the run before the gap is gone");
        assert_eq!(positions(recent.after(6, 10)), Some(vec![7, 8]));
    }

    #[test]
    fn keeps_only_the_last_ones() {
        let recent = Recent::default();
        let end = KEPT as i64 + 100;
        recent.keep(at(1..=end));
        assert_eq!(positions(recent.after(99, 1)), None, "100 was dropped");
        assert_eq!(positions(recent.after(100, 1)), Some(vec![101]));
        assert_eq!(positions(recent.after(end - 1, 10)), Some(vec![end]));
    }
}
