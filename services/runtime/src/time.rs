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
