//! Routing's tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::table! {
    units (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        status -> Text,
        successor -> Nullable<Text>,
    }
}

diesel::table! {
    dispatches (id) {
        id -> Text,
        case_id -> Text,
        matter_id -> Text,
        assignment -> Integer,
        unit -> Nullable<Text>,
        state -> Text,
        source -> Text,
        kind -> Text,
        category -> Text,
        sub_district -> Text,
        anonymous -> Bool,
        case_received_at -> Timestamp,
        dispatched_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    routing_log (id) {
        id -> Text,
        case_id -> Text,
        matter_id -> Text,
        dispatch_id -> Nullable<Text>,
        action -> Text,
        actor -> Text,
        reason -> Text,
        evidence -> Text,
        at -> Timestamp,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dispatches)]
pub struct DispatchRow {
    pub id: String,
    pub case_id: String,
    pub matter_id: String,
    pub assignment: i32,
    pub unit: Option<String>,
    pub state: String,
    pub source: String,
    pub kind: String,
    pub category: String,
    pub sub_district: String,
    pub anonymous: bool,
    pub case_received_at: NaiveDateTime,
    pub dispatched_at: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = routing_log)]
pub struct LogRow {
    pub id: String,
    pub case_id: String,
    pub matter_id: String,
    pub dispatch_id: Option<String>,
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub evidence: String,
    pub at: NaiveDateTime,
}
