//! Intake's tables and the queries over them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use caseflow_runtime::AnyConnection;

diesel::table! {
    cases (id) {
        id -> Text,
        source -> Text,
        external_ref -> Text,
        channel -> Text,
        kind -> Text,
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

diesel::joinable!(matters -> cases (case_id));
diesel::allow_tables_to_appear_in_same_query!(cases, matters);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cases)]
pub struct CaseRow {
    pub id: String,
    pub source: String,
    pub external_ref: String,
    pub channel: String,
    pub kind: String,
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
    pub fingerprint: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = matters)]
pub struct MatterRow {
    pub id: String,
    pub case_id: String,
    pub ordinal: i32,
    pub category: String,
    pub summary: String,
    pub target_unit: Option<String>,
}

pub fn find_by_ref(
    conn: &mut AnyConnection,
    source: &str,
    external_ref: &str,
) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::source.eq(source))
        .filter(cases::external_ref.eq(external_ref))
        .select(CaseRow::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<(CaseRow, Vec<MatterRow>)>> {
    let Some(case) = cases::table
        .find(id)
        .select(CaseRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let matters = matters::table
        .filter(matters::case_id.eq(id))
        .order(matters::ordinal.asc())
        .select(MatterRow::as_select())
        .load(conn)?;
    Ok(Some((case, matters)))
}

pub fn insert(conn: &mut AnyConnection, case: &CaseRow, rows: &[MatterRow]) -> QueryResult<()> {
    diesel::insert_into(cases::table)
        .values(case)
        .execute(conn)?;
    for m in rows {
        diesel::insert_into(matters::table)
            .values(m)
            .execute(conn)?;
    }
    Ok(())
}
