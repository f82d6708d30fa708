//! Conversions between protobuf timestamps, chrono and stored (naive UTC) times.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::Problem;

pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or_default(),
    }
}

/// Reads a required timestamp field, naming it when missing or out of range.
pub fn from_proto(t: Option<&prost_types::Timestamp>, field: &str) -> Result<DateTime<Utc>, Problem> {
    let t = t.ok_or_else(|| Problem::field(field, "is required"))?;
    let nanos = u32::try_from(t.nanos).map_err(|_| Problem::field(field, "nanos must be 0..1e9"))?;
    DateTime::from_timestamp(t.seconds, nanos).ok_or_else(|| Problem::field(field, "is out of range"))
}

pub fn from_stored(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Reads a period's `from` and `to` query parameters (RFC 3339 with an offset, both required),
/// naming each one that is missing or unreadable.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Vec<crate::FieldViolation>> {
    let mut errors = Vec::new();
    let mut parse = |name: &str, v: Option<&str>| match v.map(DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(_)) => {
            errors
                .push(crate::FieldViolation::new(name, "must be RFC 3339 with offset, e.g. 2020-01-01T00:00:00+08:00"));
            None
        }
        None => {
            errors.push(crate::FieldViolation::new(name, "is required (RFC 3339)"));
            None
        }
    };
    let (from, to) = (parse("from", from), parse("to", to));
    match (from, to) {
        (Some(f), Some(t)) if errors.is_empty() => Ok((f, t)),
        _ => Err(errors),
    }
}

/// The span of time a record may carry: nothing before the district's first records, nothing
/// after now (plus a little clock skew). Every time a caller states, live or imported, and every
/// report period, is checked against it, so a typing error (1900, 2099) is refused by name
/// instead of landing in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBounds {
    /// The district's start of records. Default 2000-01-01 00:00 in the district (UTC+8): before
    /// any 12345 or online petition platform, so every real record is after it.
    #[serde(default = "default_earliest")]
    pub earliest: DateTime<Utc>,
    /// How far ahead of the service's clock a stated time may be (clocks of callers drift).
    #[serde(default = "default_skew")]
    pub future_skew_seconds: i64,
    /// How far ahead of now a report period may end: a period is usually the current year or
    /// half-year, whose end is still to come.
    #[serde(default = "default_horizon")]
    pub report_horizon_days: i64,
}

fn default_earliest() -> DateTime<Utc> {
    // 2000-01-01T00:00:00+08:00.
    DateTime::from_timestamp(946_656_000, 0).unwrap_or_default()
}

fn default_skew() -> i64 {
    60
}

fn default_horizon() -> i64 {
    366
}

impl Default for RecordBounds {
    fn default() -> Self {
        Self {
            earliest: default_earliest(),
            future_skew_seconds: default_skew(),
            report_horizon_days: default_horizon(),
        }
    }
}

impl RecordBounds {
    /// Refuses a stated time before the earliest record or after `now` plus the skew, naming
    /// `field` and the bound.
    pub fn check(&self, field: &str, t: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), crate::FieldViolation> {
        if t < self.earliest {
            return Err(crate::FieldViolation::new(
                field,
                format!("must not be before the district's first records ({})", self.earliest.to_rfc3339()),
            ));
        }
        let latest = now + chrono::Duration::seconds(self.future_skew_seconds);
        if t > latest {
            return Err(crate::FieldViolation::new(
                field,
                format!("must not be in the future (now is {})", now.to_rfc3339()),
            ));
        }
        Ok(())
    }

    /// Refuses a report period that starts before the earliest record or ends more than the
    /// horizon after `now`.
    pub fn check_period(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<crate::FieldViolation>> {
        let mut errors = Vec::new();
        if from < self.earliest {
            errors.push(crate::FieldViolation::new(
                "from",
                format!("must not be before the district's first records ({})", self.earliest.to_rfc3339()),
            ));
        }
        let horizon = now + chrono::Duration::days(self.report_horizon_days);
        if to > horizon {
            errors.push(crate::FieldViolation::new(
                "to",
                format!("must not be more than {} days after now ({})", self.report_horizon_days, horizon.to_rfc3339()),
            ));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).expect("valid")
    }

    #[test]
    fn record_times_are_bounded_by_the_first_records_and_now() {
        let b = RecordBounds::default();
        let now = at("2020-06-30T12:00:00+08:00");
        assert!(b.check("received_at", at("2020-01-02T09:00:00+08:00"), now).is_ok());
        let old = b.check("received_at", at("1900-01-01T00:00:00+08:00"), now).expect_err("1900");
        assert!(old.description.contains("1999-12-31T16:00:00"), "the bound, in UTC: {old:?}");
        assert!(b.check("received_at", at("2099-01-01T00:00:00+08:00"), now).is_err(), "2099");
        assert!(b.check("received_at", now + chrono::Duration::seconds(30), now).is_ok(), "within the skew");
        let errors = b.check_period(at("1999-01-01T00:00:00Z"), at("9999-12-31T00:00:00Z"), now).expect_err("both");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["from", "to"]);
        assert!(b.check_period(at("2020-01-01T00:00:00+08:00"), at("2021-01-01T00:00:00+08:00"), now).is_ok());
    }
}
