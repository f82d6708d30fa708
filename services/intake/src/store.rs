//! Intake's tables and the queries over them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use caseflow_runtime::AnyConnection;
use caseflow_runtime::db::native::{Native as _, columns};

diesel::table! {
    cases (id) {
        id -> Text,
        source -> Text,
        external_ref -> Text,
        channel -> Text,
        kind -> Text,
        purpose -> Text,
        accused_unit -> Nullable<Text>,
        category -> Text,
        content -> Text,
        sub_district -> Text,
        address -> Text,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        received_at -> Timestamp,
        recorded_at -> Timestamp,
        anonymous -> Bool,
        hide_identity -> Bool,
        citizen_name_enc -> Nullable<Text>,
        citizen_phone_enc -> Nullable<Text>,
        citizen_id_enc -> Nullable<Text>,
        phone_key -> Nullable<Text>,
        id_key -> Nullable<Text>,
        person_key -> Nullable<Text>,
        visit_batches -> Nullable<Integer>,
        visit_persons -> Nullable<Integer>,
        joint_signers -> Nullable<Integer>,
        collective -> Bool,
        single_visit -> Bool,
        is_first -> Bool,
        repeat_of -> Nullable<Text>,
        status -> Text,
        fingerprint -> Text,
    }
}

diesel::table! {
    matters (id) {
        id -> Text,
        case_id -> Text,
        ordinal -> Integer,
        category -> Text,
        summary -> Text,
        target_unit -> Nullable<Text>,
    }
}

diesel::table! {
    petition_decisions (case_id) {
        case_id -> Text,
        outcome -> Text,
        legal_channel -> Nullable<Text>,
        concluded_case -> Nullable<Text>,
        forwarded_to -> Nullable<Text>,
        notice -> Text,
        due_at -> Nullable<Timestamp>,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
    }
}

/// A petition's decision as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = petition_decisions, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct DecisionRow {
    pub case_id: String,
    pub outcome: String,
    pub legal_channel: Option<String>,
    pub concluded_case: Option<String>,
    pub forwarded_to: Option<String>,
    pub notice: String,
    pub due_at: Option<NaiveDateTime>,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
}

diesel::table! {
    petition_reviews (case_id, level) {
        case_id -> Text,
        level -> Text,
        reviewing_body -> Text,
        answer_received_at -> Timestamp,
        requested_at -> Timestamp,
        due_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        opinion -> Nullable<Text>,
        requested_by -> Text,
        decided_by -> Nullable<Text>,
    }
}

/// A request for 复查 or 复核, and its decision once made.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = petition_reviews, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ReviewRow {
    pub case_id: String,
    pub level: String,
    pub reviewing_body: String,
    pub answer_received_at: NaiveDateTime,
    pub requested_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
    pub opinion: Option<String>,
    pub requested_by: String,
    pub decided_by: Option<String>,
}

diesel::table! {
    concluded_facts (chain_head) {
        chain_head -> Text,
        case_id -> Text,
        concluded_at -> Timestamp,
    }
}

diesel::table! {
    case_units (case_id, unit) {
        case_id -> Text,
        unit -> Text,
    }
}

diesel::table! {
    watch_items (id) {
        id -> Text,
        case_id -> Text,
        reason -> Text,
        status -> Text,
        note -> Text,
        opened_at -> Timestamp,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    citizen_reveals (id) {
        id -> Text,
        case_id -> Text,
        actor -> Text,
        role -> Text,
        reason -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    leader_receptions (id) {
        id -> Text,
        external_ref -> Text,
        leader_name -> Text,
        leader_title -> Text,
        received_at -> Timestamp,
        persons -> Integer,
        recorded_at -> Timestamp,
        fingerprint -> Text,
    }
}

diesel::table! {
    leader_reception_matters (reception_id, ordinal) {
        reception_id -> Text,
        ordinal -> Integer,
        summary -> Text,
        case_id -> Nullable<Text>,
        outcome -> Text,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(cases, matters, case_units, watch_items);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
// None is inserted as NULL (no column has another default), so the insert's type names its
// statement and the kept statement is found without writing its SQL (`runtime::db::native`).
#[diesel(table_name = cases, treat_none_as_default_value = false)]
pub struct CaseRow {
    pub id: String,
    pub source: String,
    pub external_ref: String,
    pub channel: String,
    pub kind: String,
    pub purpose: String,
    pub accused_unit: Option<String>,
    pub category: String,
    pub content: String,
    pub sub_district: String,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub received_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub anonymous: bool,
    pub hide_identity: bool,
    pub citizen_name_enc: Option<String>,
    pub citizen_phone_enc: Option<String>,
    pub citizen_id_enc: Option<String>,
    pub phone_key: Option<String>,
    pub id_key: Option<String>,
    pub person_key: Option<String>,
    pub visit_batches: Option<i32>,
    pub visit_persons: Option<i32>,
    pub joint_signers: Option<i32>,
    pub collective: bool,
    pub single_visit: bool,
    pub is_first: bool,
    pub repeat_of: Option<String>,
    pub status: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = matters, treat_none_as_default_value = false)]
pub struct MatterRow {
    pub id: String,
    pub case_id: String,
    pub ordinal: i32,
    pub category: String,
    pub summary: String,
    pub target_unit: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = watch_items, treat_none_as_default_value = false)]
pub struct WatchRow {
    pub id: String,
    pub case_id: String,
    pub reason: String,
    pub status: String,
    pub note: String,
    pub opened_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = leader_receptions, treat_none_as_default_value = false)]
pub struct ReceptionRow {
    pub id: String,
    pub external_ref: String,
    pub leader_name: String,
    pub leader_title: String,
    pub received_at: NaiveDateTime,
    pub persons: i32,
    pub recorded_at: NaiveDateTime,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = leader_reception_matters, treat_none_as_default_value = false)]
pub struct ReceptionMatterRow {
    pub reception_id: String,
    pub ordinal: i32,
    pub summary: String,
    pub case_id: Option<String>,
    pub outcome: String,
    pub updated_at: NaiveDateTime,
}

pub fn find_by_ref(conn: &mut AnyConnection, source: &str, external_ref: &str) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::source.eq(source))
        .filter(cases::external_ref.eq(external_ref))
        .select(columns::<CaseRow>())
        .first_native(conn)
}

pub fn find_case(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<CaseRow>> {
    cases::table.find(id).select(columns::<CaseRow>()).first_native(conn)
}

/// The decisions on the petitions among `case_ids`.
pub fn decisions_of(conn: &mut AnyConnection, case_ids: &[String]) -> QueryResult<Vec<DecisionRow>> {
    petition_decisions::table
        .filter(petition_decisions::case_id.eq_any(case_ids))
        .select(DecisionRow::as_select())
        .load(conn)
}

pub fn matters_of(conn: &mut AnyConnection, case_ids: &[String]) -> QueryResult<Vec<MatterRow>> {
    // One case (every write, every read of a case) by equality: a planner without statistics
    // takes the index for `=`, while `= ANY($1)` of unknown length may read the table whole.
    if let [one] = case_ids {
        return matters::table
            .filter(matters::case_id.eq(one))
            .order((matters::case_id.asc(), matters::ordinal.asc()))
            .select(columns::<MatterRow>())
            .load_native(conn);
    }
    matters::table
        .filter(matters::case_id.eq_any(case_ids))
        .order((matters::case_id.asc(), matters::ordinal.asc()))
        .select(MatterRow::as_select())
        .load(conn)
}

/// Inserts a case and its matters; `false`, inserting nothing, when a case of the same source
/// already holds its number (a resend, or a concurrent first send that committed first: on
/// PostgreSQL the insert waits for that one's commit and then does nothing).
pub fn insert_case(conn: &mut AnyConnection, case: &CaseRow, rows: &[MatterRow]) -> QueryResult<bool> {
    let inserted = diesel::insert_into(cases::table)
        .values(case)
        .on_conflict((cases::source, cases::external_ref))
        .do_nothing()
        .execute_native(conn)?;
    if inserted == 0 {
        return Ok(false);
    }
    for m in rows {
        diesel::insert_into(matters::table).values(m).execute_native(conn)?;
    }
    Ok(true)
}

/// The earliest case of the same person (by phone or ID number hash, or by `previous`: the same
/// hashes under a key being retired, phone then ID number) about the same matter (same source,
/// category and sub-district) received in `[since, case.received_at]`: one seek per person key on
/// its repeat index (`cases_repeat_by_phone`, `cases_repeat_by_id`), so the cost does not grow
/// with the number of cases the person has filed.
///
/// The query names that index's key and nothing else: the window is a range of the whole key,
/// `(person, source, category, sub_district, received_at) BETWEEN (…, since) AND (…, until)`, and
/// the order is the key's order. Written as equalities and a `received_at` range ordered by
/// `received_at`, it also fit `cases_received_at` (the range and the order) and
/// `cases_source_external_ref_key` (the source), and a connection that planned it while `cases`
/// was a few pages long kept one of those (their estimated costs tie on a small table): it then
/// read every case of the window to find one person's, 1.3 ms a call on PostgreSQL under load and
/// growing with the window. Now any other plan must read the table whole and sort it, at every
/// size (`tests/plans.rs` plans it at several).
pub fn earlier_same_matter(
    conn: &mut AnyConnection,
    case: &CaseRow,
    previous: &(Option<String>, Option<String>),
    since: NaiveDateTime,
) -> QueryResult<Option<CaseRow>> {
    use caseflow_runtime::db::kept::{Bind, Sql};
    /// The window over a repeat index's whole key, led by its person column (kept prepared:
    /// `runtime::db::kept`): the parts between the ten binds of [`window`].
    macro_rules! window_over {
        ($person:literal) => {
            &[
                concat!(
                    "(cases.",
                    $person,
                    ", cases.source, cases.category, cases.sub_district, cases.received_at) BETWEEN ("
                ),
                ", ",
                ", ",
                ", ",
                ", ",
                ") AND (",
                ", ",
                ", ",
                ", ",
                ", ",
                ")",
            ]
        };
    }
    const BY_PHONE: &[&str] = window_over!("phone_key");
    const BY_ID: &[&str] = window_over!("id_key");
    fn window<'a>(parts: &'static [&'static str], key: &'a str, case: &'a CaseRow, since: NaiveDateTime) -> Sql<'a> {
        let edge = |at| {
            [
                Bind::Text(key),
                Bind::Text(&case.source),
                Bind::Text(&case.category),
                Bind::Text(&case.sub_district),
                Bind::Timestamp(at),
            ]
        };
        Sql::new(parts, edge(since).into_iter().chain(edge(case.received_at)).collect())
    }
    macro_rules! earliest {
        ($person:expr, $parts:expr, $key:expr) => {
            cases::table
                .filter(window($parts, $key, case, since))
                .order((
                    $person.asc(),
                    cases::source.asc(),
                    cases::category.asc(),
                    cases::sub_district.asc(),
                    cases::received_at.asc(),
                    cases::id.asc(),
                ))
                .select(columns::<CaseRow>())
                .first_native(conn)?
        };
    }
    let mut found: Vec<CaseRow> = Vec::new();
    for key in case.phone_key.iter().chain(&previous.0) {
        found.extend(earliest!(cases::phone_key, BY_PHONE, key));
    }
    for key in case.id_key.iter().chain(&previous.1) {
        found.extend(earliest!(cases::id_key, BY_ID, key));
    }
    Ok(found.into_iter().min_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id))))
}

pub fn open_watch_item(
    conn: &mut AnyConnection,
    case_id: &str,
    reason: &str,
    note: &str,
    actor: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let exists = watch_items::table
        .filter(watch_items::case_id.eq(case_id))
        .filter(watch_items::reason.eq(reason))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(watch_items::table)
            .values(WatchRow {
                id: uuid::Uuid::now_v7().to_string(),
                case_id: case_id.to_owned(),
                reason: reason.to_owned(),
                status: "open".to_owned(),
                note: note.to_owned(),
                opened_at: at,
                updated_at: at,
                updated_by: actor.to_owned(),
            })
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::db::native::inserts_named_by_type;

    use super::*;

    /// Every order inserts the first two: their statements are found by type, with no SQL
    /// written; none of them means `DEFAULT` by `None`, which PostgreSQL would parse every time.
    #[test]
    fn the_take_in_inserts_are_named_by_their_type() {
        assert!(inserts_named_by_type::<CaseRow, cases::table>());
        assert!(inserts_named_by_type::<MatterRow, matters::table>());
        assert!(inserts_named_by_type::<DecisionRow, petition_decisions::table>());
        assert!(inserts_named_by_type::<ReviewRow, petition_reviews::table>());
        assert!(inserts_named_by_type::<WatchRow, watch_items::table>());
        assert!(inserts_named_by_type::<ReceptionRow, leader_receptions::table>());
        assert!(inserts_named_by_type::<ReceptionMatterRow, leader_reception_matters::table>());
    }
}
