//! Evaluation's tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::table! {
    evaluation_subjects (dispatch_id) {
        dispatch_id -> Text,
        case_id -> Text,
        unit -> Nullable<Text>,
        source -> Text,
    }
}

diesel::table! {
    eval_cases (case_id) {
        case_id -> Text,
        source -> Text,
        matters -> Integer,
        received_at -> Timestamp,
        summary -> Text,
    }
}

diesel::table! {
    eval_matters (matter_id) {
        matter_id -> Text,
        case_id -> Text,
        lead_dispatch -> Nullable<Text>,
        lead_unit -> Nullable<Text>,
        resolved -> Bool,
        resolved_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    evaluation_parts (case_id, part) {
        case_id -> Text,
        part -> Text,
        source -> Text,
        status -> Text,
        cycle -> Integer,
        reopened -> Bool,
        rerated -> Bool,
        opened_at -> Timestamp,
        window_ends -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    rating_links (token_hash) {
        token_hash -> Text,
        case_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    evaluation_ratings (id) {
        id -> Text,
        case_id -> Text,
        part -> Text,
        cycle -> Integer,
        attempt -> Integer,
        subject -> Text,
        dispatch_id -> Nullable<Text>,
        level -> Text,
        mapped -> Text,
        rated_by -> Text,
        channel -> Text,
        at -> Timestamp,
        superseded -> Bool,
        comment -> Nullable<Text>,
    }
}

diesel::table! {
    follow_ups (id) {
        id -> Text,
        case_id -> Text,
        part -> Text,
        outcome -> Text,
        note -> Text,
        by_whom -> Text,
        at -> Timestamp,
    }
}

/// One part of a case's evaluation: the whole hotline case (`case`), the petition office
/// (`agency`), or one handling unit of a petition (its code). Each has its own window.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = evaluation_parts, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct PartRow {
    pub case_id: String,
    pub part: String,
    pub source: String,
    pub status: String,
    pub cycle: i32,
    pub reopened: bool,
    pub rerated: bool,
    pub opened_at: NaiveDateTime,
    pub window_ends: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = evaluation_ratings, treat_none_as_default_value = false)]
pub struct RatingRow {
    pub id: String,
    pub case_id: String,
    pub part: String,
    pub cycle: i32,
    pub attempt: i32,
    pub subject: String,
    pub dispatch_id: Option<String>,
    pub level: String,
    pub mapped: String,
    pub rated_by: String,
    pub channel: String,
    pub at: NaiveDateTime,
    pub superseded: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = eval_matters)]
pub struct MatterRow {
    pub matter_id: String,
    pub case_id: String,
    pub lead_dispatch: Option<String>,
    pub lead_unit: Option<String>,
    pub resolved: bool,
    pub resolved_at: Option<NaiveDateTime>,
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::db::native::inserts_named_by_type;

    use super::*;

    /// No insert here means `DEFAULT` by `None`: diesel never keeps such a statement on
    /// PostgreSQL, which then parses and plans it on every call.
    #[test]
    fn the_inserts_are_named_by_their_type() {
        assert!(inserts_named_by_type::<PartRow, evaluation_parts::table>());
        assert!(inserts_named_by_type::<RatingRow, evaluation_ratings::table>());
    }
}
