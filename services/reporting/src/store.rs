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
        is_first -> Bool,
        single_visit -> Bool,
        repeat_of -> Nullable<Text>,
        person_key -> Text,
        citizen_masked -> Text,
        visit_persons -> Integer,
        collective -> Bool,
        terms -> Text,
        previous_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    report_dispatches (dispatch_id) {
        dispatch_id -> Text,
        case_id -> Text,
        matter_id -> Text,
        unit -> Nullable<Text>,
        role -> Text,
        assignment -> Integer,
        source -> Text,
        received_at -> Timestamp,
        dispatched_at -> Timestamp,
        acknowledge_deadline -> Nullable<Timestamp>,
        acknowledged_at -> Nullable<Timestamp>,
        resolve_deadline -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        status -> Text,
        closed_at -> Nullable<Timestamp>,
        rehandled -> Integer,
        settles_at -> Nullable<Timestamp>,
        first_case -> Bool,
        previous_unit -> Nullable<Text>,
    }
}

diesel::table! {
    report_dispatch_days (source, day, unit) {
        source -> Text,
        unit -> Text,
        day -> Date,
        received -> BigInt,
        in_progress -> BigInt,
        completed -> BigInt,
        overdue_view -> BigInt,
        overdue_handling -> BigInt,
        unsatisfied -> BigInt,
        on_time -> BigInt,
        late -> BigInt,
        first_resolved -> BigInt,
        elsewhere_secs -> BigInt,
        rehandled -> BigInt,
        settles_by -> Nullable<Timestamp>,
        first_on_time -> BigInt,
        first_late -> BigInt,
    }
}

diesel::table! {
    report_dispatch_shifts (source, day, shift_day, unit) {
        source -> Text,
        unit -> Text,
        day -> Date,
        shift_day -> Date,
        received -> BigInt,
        in_progress -> BigInt,
        completed -> BigInt,
        overdue_view -> BigInt,
        overdue_handling -> BigInt,
        unsatisfied -> BigInt,
        on_time -> BigInt,
        late -> BigInt,
        first_resolved -> BigInt,
        elsewhere_secs -> BigInt,
        rehandled -> BigInt,
        first_on_time -> BigInt,
        first_late -> BigInt,
    }
}

diesel::table! {
    /// Every dispatch's changes summed per hour they happened (the hour's start, UTC; the
    /// district's hours are whole UTC hours) and month of receipt (its first day).
    report_shift_hours (source, shift_hour, received_month, unit) {
        source -> Text,
        unit -> Text,
        shift_hour -> Timestamp,
        received_month -> Date,
        received -> BigInt,
        in_progress -> BigInt,
        completed -> BigInt,
        overdue_view -> BigInt,
        overdue_handling -> BigInt,
        unsatisfied -> BigInt,
        on_time -> BigInt,
        late -> BigInt,
        first_resolved -> BigInt,
        elsewhere_secs -> BigInt,
        rehandled -> BigInt,
        first_on_time -> BigInt,
        first_late -> BigInt,
    }
}

diesel::table! {
    /// Work done once in Rust when the service starts (`backfill.rs`), named by a migration.
    report_backfills (name) {
        name -> Text,
    }
}

diesel::table! {
    /// `report_dispatch_shifts` summed over the days of receipt, per day the shifts happened.
    report_shift_totals (source, shift_day, unit) {
        source -> Text,
        unit -> Text,
        shift_day -> Date,
        received -> BigInt,
        in_progress -> BigInt,
        completed -> BigInt,
        overdue_view -> BigInt,
        overdue_handling -> BigInt,
        unsatisfied -> BigInt,
        on_time -> BigInt,
        late -> BigInt,
        first_resolved -> BigInt,
        elsewhere_secs -> BigInt,
        rehandled -> BigInt,
        first_on_time -> BigInt,
        first_late -> BigInt,
    }
}

diesel::table! {
    report_single_visit_days (source, day) {
        source -> Text,
        day -> Date,
        resolved -> BigInt,
        once -> BigInt,
        resolution_secs -> BigInt,
    }
}

diesel::table! {
    report_rating_days (source, day, subject) {
        source -> Text,
        subject -> Text,
        day -> Date,
        due -> BigInt,
        expired -> BigInt,
        satisfied -> BigInt,
        basic -> BigInt,
        unsatisfied -> BigInt,
    }
}

diesel::table! {
    report_term_days (source, day, term) {
        source -> Text,
        day -> Date,
        term -> Text,
        cases -> BigInt,
    }
}

diesel::table! {
    report_case_days (source, day, dimension, value) {
        source -> Text,
        day -> Date,
        dimension -> Text,
        value -> Text,
        cases -> BigInt,
    }
}

diesel::table! {
    report_ratings (case_id, subject) {
        case_id -> Text,
        subject -> Text,
        dispatch_id -> Nullable<Text>,
        source -> Text,
        status -> Text,
        mapped -> Nullable<Text>,
        window_ends -> Nullable<Timestamp>,
    }
}

diesel::table! {
    report_returns (return_id) {
        return_id -> Text,
        unit -> Text,
        matter_id -> Text,
        status -> Text,
        wrongful -> Bool,
        days_cost -> Nullable<Double>,
        received_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    report_reception_matters (reception_id, ordinal) {
        reception_id -> Text,
        ordinal -> Integer,
        received_at -> Timestamp,
        persons -> Integer,
        outcome -> Text,
    }
}

diesel::table! {
    report_reviews (case_id, level) {
        case_id -> Text,
        level -> Text,
        requested_at -> Timestamp,
        due_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    /// Dispatches the suggester warned about (`migrations/…_history_warnings`).
    report_history_warnings (dispatch_id) {
        dispatch_id -> Text,
        case_id -> Text,
        matter_id -> Text,
        unit -> Text,
        received_at -> Timestamp,
        model_version -> Integer,
    }
}

diesel::joinable!(report_history_warnings -> report_dispatches (dispatch_id));
diesel::allow_tables_to_appear_in_same_query!(
    report_cases,
    report_dispatches,
    report_ratings,
    report_returns,
    report_history_warnings
);

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = report_cases, treat_none_as_default_value = false)]
pub struct CaseFact {
    pub case_id: String,
    pub source: String,
    pub channel: String,
    pub kind: String,
    pub category: String,
    pub sub_district: String,
    pub received_at: NaiveDateTime,
    pub is_first: bool,
    pub single_visit: bool,
    pub repeat_of: Option<String>,
    /// Keyed hash of the person (never the phone or ID number); empty when anonymous.
    pub person_key: String,
    /// 陈**; empty when anonymous or withheld.
    pub citizen_masked: String,
    pub visit_persons: i32,
    pub collective: bool,
    /// The words of its matters' summaries (`caseflow_runtime::words::terms`), space-separated.
    pub terms: String,
}

#[derive(Debug, Clone, Insertable, Queryable, QueryableByName, Selectable, AsChangeset)]
#[diesel(table_name = report_dispatches, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct DispatchFact {
    pub dispatch_id: String,
    pub case_id: String,
    pub matter_id: String,
    pub unit: Option<String>,
    pub role: String,
    pub assignment: i32,
    pub source: String,
    pub received_at: NaiveDateTime,
    pub dispatched_at: NaiveDateTime,
    pub acknowledge_deadline: Option<NaiveDateTime>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub resolve_deadline: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub status: String,
    pub closed_at: Option<NaiveDateTime>,
    pub rehandled: i32,
    /// Kept equal to `rollup::settles_at(self)` by the projection.
    pub settles_at: Option<NaiveDateTime>,
    /// Its case is a first case (初信初访件): copied from the case by whichever of the two
    /// reaches the read model second.
    pub first_case: bool,
    /// Past a matter's first assignment: the unit of its lead dispatch just before (the
    /// bounce page's flows).
    pub previous_unit: Option<String>,
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::db::native::inserts_named_by_type;

    use super::*;

    /// Every case and dispatch projected inserts these: found by type, with no SQL written.
    #[test]
    fn the_fact_inserts_are_named_by_their_type() {
        assert!(inserts_named_by_type::<CaseFact, report_cases::table>());
        assert!(inserts_named_by_type::<DispatchFact, report_dispatches::table>());
    }
}
