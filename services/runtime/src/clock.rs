//! The injected clock. No business rule reads the system time directly: services take an
//! `Arc<dyn Clock>`, tests and replays hand them a [`ManualClock`] and move it.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, FixedOffset, Utc};

/// Source of "now" for every rule and every stored timestamp.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

tokio::task_local! {
    /// When the imported event being applied happened: set around an importer's request by the
    /// server (`x-caseflow-event-time`), read by every clock before its own time.
    pub static EVENT_TIME: DateTime<Utc>;
}

fn event_time() -> Option<DateTime<Utc>> {
    EVENT_TIME.try_with(|t| *t).ok()
}

/// The shared handle services hold.
pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        event_time().unwrap_or_else(Utc::now)
    }
}

/// A clock that only moves when told to. Cloning shares the same instant.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        event_time().unwrap_or_else(|| *self.now.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The district's zone. Licheng (Quanzhou, Fujian) keeps China Standard Time, UTC+8, with no
/// daylight saving since 1991 (IANA tz database, zone `Asia/Shanghai`), so a fixed offset is
/// exact for every date Caseflow handles.
pub fn district_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2020, 1, 2, 9, 0, 0).single().expect("valid date");
        let clock = ManualClock::new(start);
        let shared = clock.clone();
        assert_eq!(shared.now(), start);
        clock.advance(Duration::hours(3));
        assert_eq!(shared.now(), start + Duration::hours(3));
    }

    #[test]
    fn district_time_is_utc_plus_eight() {
        let t = Utc.with_ymd_and_hms(2020, 6, 30, 16, 30, 0).single().expect("valid date");
        let local = t.with_timezone(&district_offset());
        assert_eq!(local.format("%Y-%m-%d %H:%M").to_string(), "2020-07-01 00:30");
    }
}
