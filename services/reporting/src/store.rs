//! Reporting's read model tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::table! {
    report_cases (case_id) {
        case_id -> Text,
        source -> Text,
        channel -> Text,
        kind -> Text,
        category -> Text,
        sub_district -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    report_dispatches (dispatch_id) {
        dispatch_id -> Text,
        case_id -> Text,
        matter_id -> Text,
        unit -> Nullable<Text>,
        source -> Text,
        received_at -> Timestamp,
        dispatched_at -> Timestamp,
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = report_cases)]
pub struct CaseFact {
    pub case_id: String,
    pub source: String,
    pub channel: String,
    pub kind: String,
    pub category: String,
    pub sub_district: String,
    pub received_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = report_dispatches)]
pub struct DispatchFact {
    pub dispatch_id: String,
    pub case_id: String,
    pub matter_id: String,
    pub unit: Option<String>,
    pub source: String,
    pub received_at: NaiveDateTime,
    pub dispatched_at: NaiveDateTime,
}
