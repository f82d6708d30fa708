//! The working-day calendar and deadline arithmetic, in the district's zone (UTC+8).
//!
//! Counting follows the civil code's rule for periods (民法典 第二百零一条): the day a period
//! starts is not counted, and (第二百零三条) a period ends at 24:00 of its last day. So "5
//! working days" from a receipt on Monday morning ends at 24:00 of the fifth working day after
//! Monday. Working hours count inside office hours (08:30-17:30) on working days.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

use caseflow_runtime::clock::district_offset;

const BUILTIN_CALENDAR: &str = include_str!("../../../deploy/policy/calendar.toml");

/// Office hours in which working hours count.
const OFFICE_OPEN: (u32, u32) = (8, 30);
const OFFICE_CLOSE: (u32, u32) = (17, 30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineUnit {
    WorkingDays,
    NaturalDays,
    WorkingHours,
}

/// An amount of time in a named unit, counted from a named start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSpec {
    pub amount: u32,
    pub unit: DeadlineUnit,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    holidays: Vec<NaiveDate>,
    workdays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    years: Vec<YearFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("cannot read calendar {path}: {message}")]
    Read { path: String, message: String },
    #[error("calendar: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
    years: BTreeSet<i32>,
}

impl Calendar {
    pub fn load(path: Option<&Path>) -> Result<Self, CalendarError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| CalendarError::Read { path: p.display().to_string(), message: e.to_string() })?,
            None => BUILTIN_CALENDAR.to_owned(),
        };
        let file: CalendarFile = toml::from_str(&text).map_err(|e| CalendarError::Invalid(e.to_string()))?;
        let mut cal = Self::default();
        for y in file.years {
            for d in y.holidays.iter().chain(&y.workdays) {
                if d.year() != y.year {
                    return Err(CalendarError::Invalid(format!("{d} is listed under year {}", y.year)));
                }
            }
            if let Some(d) = y.holidays.iter().find(|d| y.workdays.contains(d)) {
                return Err(CalendarError::Invalid(format!("{d} is both a holiday and a working day")));
            }
            cal.years.insert(y.year);
            cal.holidays.extend(y.holidays);
            cal.workdays.extend(y.workdays);
        }
        Ok(cal)
    }

    /// The years whose holidays are known; other years count weekends only.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        if self.holidays.contains(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The Nth working day after `d` (0 gives `d` itself).
    pub fn nth_working_day_after(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().unwrap_or(day);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// When a period of `spec` that starts at `start` ends.
    pub fn deadline(&self, start: DateTime<Utc>, spec: DeadlineSpec) -> DateTime<Utc> {
        let local = start.with_timezone(&district_offset());
        match spec.unit {
            DeadlineUnit::NaturalDays => end_of_day(local.date_naive() + Duration::days(i64::from(spec.amount))),
            DeadlineUnit::WorkingDays => end_of_day(self.nth_working_day_after(local.date_naive(), spec.amount)),
            DeadlineUnit::WorkingHours => self.add_working_hours(start, spec.amount),
        }
    }

    fn add_working_hours(&self, start: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
        let open = NaiveTime::from_hms_opt(OFFICE_OPEN.0, OFFICE_OPEN.1, 0).unwrap_or_default();
        let close = NaiveTime::from_hms_opt(OFFICE_CLOSE.0, OFFICE_CLOSE.1, 0).unwrap_or_default();
        let local = start.with_timezone(&district_offset());
        let mut day = local.date_naive();
        let mut time = local.time().clamp(open, close);
        let mut left = Duration::hours(i64::from(hours));
        loop {
            if self.is_working_day(day) && time < close {
                let available = close - time;
                if left <= available {
                    return at_local(day, time + left);
                }
                left -= available;
            }
            day = day.succ_opt().unwrap_or(day);
            time = open;
        }
    }
}

/// The district's calendar day of a UTC timestamp (as stored).
pub fn district_day(t: chrono::NaiveDateTime) -> NaiveDate {
    t.and_utc().with_timezone(&district_offset()).date_naive()
}

fn at_local(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    district_offset()
        .from_local_datetime(&day.and_time(time))
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// 24:00 of `day` in the district, i.e. the start of the next day.
pub fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    at_local(day.succ_opt().unwrap_or(day), NaiveTime::MIN)
}

/// Days between two instants, for "days held" and "days it cost" (one decimal place is shown).
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds().max(0) as f64 / 86_400.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calendar {
        Calendar::load(None).expect("built-in calendar")
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn local(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn the_2020_spring_festival_was_extended_to_2_february() {
        let c = cal();
        // The 19 January Sunday was worked; 24 January to 2 February were rest days, the
        // Saturday 1 February included once the holiday was extended; work resumed on 3 February.
        assert!(c.is_working_day(date("2020-01-19")));
        for d in ["2020-01-24", "2020-01-30", "2020-01-31", "2020-02-01", "2020-02-02"] {
            assert!(!c.is_working_day(date(d)), "{d} was a rest day");
        }
        assert!(c.is_working_day(date("2020-02-03")));
        // An order received on Thursday 23 January with 5 working days: 23 Jan is not counted,
        // then 3, 4, 5, 6, 7 February.
        let due =
            c.deadline(local("2020-01-23T10:00:00+08:00"), DeadlineSpec { amount: 5, unit: DeadlineUnit::WorkingDays });
        assert_eq!(due, local("2020-02-08T00:00:00+08:00"));
        // The make-up Sunday counts: from Friday 17 January, 1 working day is Sunday 19 January.
        let due =
            c.deadline(local("2020-01-17T16:00:00+08:00"), DeadlineSpec { amount: 1, unit: DeadlineUnit::WorkingDays });
        assert_eq!(due, local("2020-01-20T00:00:00+08:00"));
    }

    #[test]
    fn may_day_2020_with_its_make_up_days() {
        let c = cal();
        assert!(c.is_working_day(date("2020-04-26")), "Sunday 26 April was worked");
        assert!(c.is_working_day(date("2020-05-09")), "Saturday 9 May was worked");
        for d in ["2020-05-01", "2020-05-04", "2020-05-05"] {
            assert!(!c.is_working_day(date(d)));
        }
        // From Thursday 30 April, 3 working days: 6, 7, 8 May.
        let due =
            c.deadline(local("2020-04-30T09:00:00+08:00"), DeadlineSpec { amount: 3, unit: DeadlineUnit::WorkingDays });
        assert_eq!(due, local("2020-05-09T00:00:00+08:00"));
        // 4 working days reach the make-up Saturday 9 May.
        let due =
            c.deadline(local("2020-04-30T09:00:00+08:00"), DeadlineSpec { amount: 4, unit: DeadlineUnit::WorkingDays });
        assert_eq!(due, local("2020-05-10T00:00:00+08:00"));
    }

    #[test]
    fn natural_days_ignore_holidays() {
        let c = cal();
        let due = c
            .deadline(local("2020-04-30T09:00:00+08:00"), DeadlineSpec { amount: 15, unit: DeadlineUnit::NaturalDays });
        assert_eq!(due, local("2020-05-16T00:00:00+08:00"));
    }

    #[test]
    fn working_hours_count_inside_office_hours_on_working_days() {
        let c = cal();
        // Friday 16:30 + 2 working hours: one hour Friday, then Monday 08:30 + 1h.
        let due = c
            .deadline(local("2020-03-06T16:30:00+08:00"), DeadlineSpec { amount: 2, unit: DeadlineUnit::WorkingHours });
        assert_eq!(due, local("2020-03-09T09:30:00+08:00"));
        // Received at night: the clock starts when the office opens.
        let due = c
            .deadline(local("2020-03-09T22:00:00+08:00"), DeadlineSpec { amount: 1, unit: DeadlineUnit::WorkingHours });
        assert_eq!(due, local("2020-03-10T09:30:00+08:00"));
    }

    #[test]
    fn every_shipped_year_is_known() {
        let years: Vec<i32> = cal().years().collect();
        assert_eq!(years, [2020, 2024, 2025, 2026]);
    }
}
