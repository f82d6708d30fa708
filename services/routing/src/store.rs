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
    routing_matters (matter_id) {
        matter_id -> Text,
        case_id -> Text,
        source -> Text,
        kind -> Text,
        category -> Text,
        summary -> Text,
        sub_district -> Text,
        anonymous -> Bool,
        single_visit -> Bool,
        accused_unit -> Nullable<Text>,
        case_received_at -> Timestamp,
        land_deadline -> Timestamp,
        resolve_deadline -> Timestamp,
        extensions -> Integer,
        approved_returns -> Integer,
        state -> Text,
        designated_unit -> Nullable<Text>,
        case_analysis -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        version -> Integer,
        named_unit -> Nullable<Text>,
        catalog_unit -> Nullable<Text>,
    }
}

diesel::table! {
    dispatches (id) {
        id -> Text,
        case_id -> Text,
        matter_id -> Text,
        assignment -> Integer,
        unit -> Text,
        role -> Text,
        via -> Text,
        state -> Text,
        dispatched_at -> Timestamp,
        acknowledge_deadline -> Timestamp,
        return_deadline -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        landed_at -> Nullable<Timestamp>,
        landing_method -> Nullable<Text>,
        replied_at -> Nullable<Timestamp>,
        reply -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        version -> Integer,
        scan_at -> Nullable<Timestamp>,
        history_warning -> Nullable<Text>,
    }
}

diesel::table! {
    return_requests (id) {
        id -> Text,
        dispatch_id -> Text,
        matter_id -> Text,
        unit -> Text,
        reason_code -> Text,
        reason -> Text,
        proposed_unit -> Text,
        basis -> Text,
        contact -> Text,
        requested_at -> Timestamp,
        status -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
        wrongful -> Bool,
        days_cost -> Nullable<Double>,
        proposed_history -> Nullable<Text>,
    }
}

diesel::table! {
    extensions (id) {
        id -> Text,
        dispatch_id -> Text,
        matter_id -> Text,
        days -> Integer,
        reason -> Text,
        progress -> Text,
        requested_at -> Timestamp,
        status -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
    }
}

diesel::table! {
    supervisions (id) {
        id -> Text,
        dispatch_id -> Text,
        level -> Integer,
        reason -> Text,
        opened_at -> Timestamp,
        opened_by -> Text,
        escalated_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reminders (dispatch_id, deadline, fraction) {
        dispatch_id -> Text,
        deadline -> Text,
        fraction -> Integer,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    routing_log (id) {
        id -> Text,
        case_id -> Text,
        matter_id -> Text,
        dispatch_id -> Nullable<Text>,
        unit -> Nullable<Text>,
        action -> Text,
        from_state -> Text,
        to_state -> Text,
        actor -> Text,
        reason -> Text,
        evidence -> Text,
        at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    routing_matters,
    dispatches,
    return_requests,
    extensions,
    supervisions,
    reminders
);

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
// None is NULL in every insert here (no column has another default), so each insert's type names
// its statement and the kept statement is found without writing its SQL (`runtime::db::native`).
#[diesel(table_name = routing_matters, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct MatterRow {
    pub matter_id: String,
    pub case_id: String,
    pub source: String,
    pub kind: String,
    pub category: String,
    pub summary: String,
    pub sub_district: String,
    pub anonymous: bool,
    pub single_visit: bool,
    pub accused_unit: Option<String>,
    pub case_received_at: NaiveDateTime,
    pub land_deadline: NaiveDateTime,
    pub resolve_deadline: NaiveDateTime,
    pub extensions: i32,
    pub approved_returns: i32,
    pub state: String,
    pub designated_unit: Option<String>,
    pub case_analysis: Option<String>,
    pub resolved_at: Option<NaiveDateTime>,
    pub version: i32,
    /// The unit the platform named, and the unit the catalog in force named, when the matter
    /// arrived, whether or not it went there (the suggester's accuracy report compares them).
    pub named_unit: Option<String>,
    pub catalog_unit: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = dispatches, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct DispatchRow {
    pub id: String,
    pub case_id: String,
    pub matter_id: String,
    pub assignment: i32,
    pub unit: String,
    pub role: String,
    pub via: String,
    pub state: String,
    pub dispatched_at: NaiveDateTime,
    pub acknowledge_deadline: NaiveDateTime,
    pub return_deadline: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub landed_at: Option<NaiveDateTime>,
    pub landing_method: Option<String>,
    pub replied_at: Option<NaiveDateTime>,
    pub reply: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i32,
    /// When the scanner must next look at it (`scanner.rs`); kept by `save_dispatch`.
    pub scan_at: Option<NaiveDateTime>,
    /// The suggester's warning when the unit rarely resolved such matters (JSON of
    /// `suggest::advice::HistoryNote`), set on a dispatch made at receipt.
    pub history_warning: Option<String>,
}

impl DispatchRow {
    /// Whether its clocks still run: the scanner reminds and supervises only these.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none() && crate::lifecycle::State::parse(&self.state).is_some_and(|s| s.is_open())
    }
}

/// A dispatch still with its unit: not closed (returned, transferred, superseded) and not
/// resolved. Written out with `'resolved'` in the text, not bound, so that the condition is the
/// predicate of `dispatches_unit_live` as written, and the plan the connection makes once and
/// keeps (`runtime::db::kept`), before any value is known, can use that index: a unit's live
/// dispatches are read, not every dispatch it resolved.
pub fn live_dispatch() -> caseflow_runtime::db::kept::Sql<'static> {
    debug_assert_eq!(crate::lifecycle::State::Resolved.as_str(), "resolved");
    caseflow_runtime::db::kept::Sql::new(&["dispatches.closed_at IS NULL AND dispatches.state <> 'resolved'"], vec![])
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = return_requests, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ReturnRow {
    pub id: String,
    pub dispatch_id: String,
    pub matter_id: String,
    pub unit: String,
    pub reason_code: String,
    pub reason: String,
    pub proposed_unit: String,
    pub basis: String,
    pub contact: String,
    pub requested_at: NaiveDateTime,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_reason: Option<String>,
    pub wrongful: bool,
    pub days_cost: Option<f64>,
    /// What history said of the proposed unit when the return was asked (JSON of
    /// `suggest::advice::HistoryNote`).
    pub proposed_history: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = extensions, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ExtensionRow {
    pub id: String,
    pub dispatch_id: String,
    pub matter_id: String,
    pub days: i32,
    pub reason: String,
    pub progress: String,
    pub requested_at: NaiveDateTime,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = routing_log, treat_none_as_default_value = false)]
pub struct LogRow {
    pub id: String,
    pub case_id: String,
    pub matter_id: String,
    pub dispatch_id: Option<String>,
    pub unit: Option<String>,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub actor: String,
    pub reason: String,
    pub evidence: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = supervisions, treat_none_as_default_value = false)]
pub struct SupervisionRow {
    pub id: String,
    pub dispatch_id: String,
    pub level: i32,
    pub reason: String,
    pub opened_at: NaiveDateTime,
    pub opened_by: String,
    pub escalated_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::db::native::inserts_named_by_type;

    use super::*;

    /// Every case received inserts these: their statements are found by type, with no SQL written.
    #[test]
    fn the_dispatch_inserts_are_named_by_their_type() {
        assert!(inserts_named_by_type::<MatterRow, routing_matters::table>());
        assert!(inserts_named_by_type::<DispatchRow, dispatches::table>());
        assert!(inserts_named_by_type::<LogRow, routing_log::table>());
        assert!(inserts_named_by_type::<ReturnRow, return_requests::table>());
        assert!(inserts_named_by_type::<ExtensionRow, extensions::table>());
        assert!(inserts_named_by_type::<SupervisionRow, supervisions::table>());
    }
}
