//! Hot queries run on the backend's own connection, not through `AnyConnection`'s translation.
//!
//! `#[derive(MultiConnection)]` wraps every query in a `SerializedQuery` whose AST pass writes the
//! whole SQL text each time it is walked. diesel walks a query once to decide whether its
//! statement may be kept and again to bind its values, so a query through `AnyConnection` has
//! its SQL written at least twice per execution, even when the prepared statement is already
//! kept. A profile of the write path (issue 15, SQLite, 16 clients) put 17 % of the process's CPU
//! in that writing (`push_identifier`, `walk_ast`) and the allocations it makes.
//!
//! The same diesel query is a query for each backend. [`Native`] matches on the connection and
//! runs the query on the `PgConnection` or `SqliteConnection` inside. A query whose type is
//! its identity (no boxed parts, no `IN` list, no `Option` insert values treated as `DEFAULT`)
//! is then looked up in the statement cache by its type: no SQL is written at all once it is
//! kept. The hot paths use it; the rest stay on `AnyConnection`, where the cost does not show.

use diesel::query_builder::QueryId;
use diesel::query_dsl::methods::{ExecuteDsl, LimitDsl, LoadQuery};
use diesel::sqlite::Sqlite;
use diesel::{OptionalExtension as _, PgConnection, QueryResult, RunQueryDsl, Selectable, SqliteConnection};

use super::AnyConnection;

/// Runs a diesel query on the backend's own connection. Every method has the meaning of the
/// `RunQueryDsl` method of the same name without the `_native` suffix.
pub trait Native: Sized {
    fn execute_native(self, conn: &mut AnyConnection) -> QueryResult<usize>
    where
        Self: ExecuteDsl<PgConnection> + ExecuteDsl<SqliteConnection>,
    {
        match conn {
            AnyConnection::Postgresql(c) => ExecuteDsl::execute(self, c),
            AnyConnection::Sqlite(c) => ExecuteDsl::execute(self, c),
        }
    }

    fn load_native<'q, U>(self, conn: &mut AnyConnection) -> QueryResult<Vec<U>>
    where
        Self: RunQueryDsl<PgConnection>
            + RunQueryDsl<SqliteConnection>
            + LoadQuery<'q, PgConnection, U>
            + LoadQuery<'q, SqliteConnection, U>,
    {
        match conn {
            AnyConnection::Postgresql(c) => RunQueryDsl::<PgConnection>::load(self, c),
            AnyConnection::Sqlite(c) => RunQueryDsl::<SqliteConnection>::load(self, c),
        }
    }

    fn get_result_native<'q, U>(self, conn: &mut AnyConnection) -> QueryResult<U>
    where
        Self: RunQueryDsl<PgConnection>
            + RunQueryDsl<SqliteConnection>
            + LoadQuery<'q, PgConnection, U>
            + LoadQuery<'q, SqliteConnection, U>,
    {
        match conn {
            AnyConnection::Postgresql(c) => RunQueryDsl::<PgConnection>::get_result(self, c),
            AnyConnection::Sqlite(c) => RunQueryDsl::<SqliteConnection>::get_result(self, c),
        }
    }

    /// The first row, if any (`.first(conn).optional()`).
    fn first_native<'q, U>(self, conn: &mut AnyConnection) -> QueryResult<Option<U>>
    where
        Self: LimitDsl,
        diesel::dsl::Limit<Self>: RunQueryDsl<PgConnection>
            + RunQueryDsl<SqliteConnection>
            + LoadQuery<'q, PgConnection, U>
            + LoadQuery<'q, SqliteConnection, U>,
    {
        self.limit(1).get_result_native(conn).optional()
    }
}

impl<T> Native for T {}

/// The columns `T` selects, as the plain tuple they are on every backend, for a query run with
/// [`Native`]: `T::as_select()` ties the query to one backend. The row loads into `T` by its
/// `Queryable`, whose fields are in the same order.
pub fn columns<T: Selectable<Sqlite>>() -> T::SelectExpression {
    T::construct_selection()
}

/// Whether `query`'s statement is found in the statement cache by its type alone, without
/// writing its SQL: false for a boxed query, an `IN` list, or an insert whose `None` values mean
/// `DEFAULT`. A derived `Insertable` means that for every field unless it says
/// `treat_none_as_default_value = false`, and diesel never keeps such an insert prepared on
/// PostgreSQL (`DEFAULT` may stand in any row), so it was parsed and planned on every call there.
/// The stores' tests check their inserts with it.
pub fn named_by_type<Q: QueryId>(_query: &Q) -> bool {
    Q::HAS_STATIC_QUERY_ID
}

/// Whether inserting a `&Row` into `Tab` is [`named_by_type`]: the check for a derived
/// `Insertable`, which needs no row at hand.
pub fn inserts_named_by_type<Row: 'static, Tab>() -> bool
where
    &'static Row: diesel::Insertable<Tab>,
    <&'static Row as diesel::Insertable<Tab>>::Values: QueryId,
{
    <<&'static Row as diesel::Insertable<Tab>>::Values as QueryId>::HAS_STATIC_QUERY_ID
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::{AnyConnection, Native as _, columns, inserts_named_by_type, named_by_type};

    diesel::table! {
        notes (id) {
            id -> Integer,
            body -> Text,
            tag -> Nullable<Text>,
        }
    }

    #[derive(Debug, PartialEq, Queryable, Selectable, Insertable)]
    #[diesel(table_name = notes, treat_none_as_default_value = false)]
    struct Note {
        id: i32,
        body: String,
        tag: Option<String>,
    }

    #[derive(Insertable)]
    #[diesel(table_name = notes)]
    struct DefaultingNote {
        id: i32,
        body: String,
        tag: Option<String>,
    }

    fn connection() -> AnyConnection {
        let mut c = AnyConnection::Sqlite(SqliteConnection::establish(":memory:").expect("in-memory SQLite"));
        diesel::sql_query("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, tag TEXT)")
            .execute(&mut c)
            .expect("table");
        c
    }

    #[test]
    fn a_query_run_natively_reads_and_writes_what_any_connection_does() {
        let mut c = connection();
        let note = Note { id: 1, body: "油烟扰民".into(), tag: None };
        assert_eq!(diesel::insert_into(notes::table).values(&note).execute_native(&mut c).expect("insert"), 1);
        let through_any: Note = notes::table.find(1).select(Note::as_select()).first(&mut c).expect("read");
        let native: Option<Note> = notes::table.find(1).select(columns::<Note>()).first_native(&mut c).expect("read");
        assert_eq!(native.as_ref(), Some(&through_any));
        assert_eq!(native, Some(note));
        let missing: Option<Note> = notes::table.find(2).select(columns::<Note>()).first_native(&mut c).expect("read");
        assert_eq!(missing, None);
        let all: Vec<Note> = notes::table.select(columns::<Note>()).load_native(&mut c).expect("load");
        assert_eq!(all.len(), 1);
        let n: i64 = notes::table.count().get_result_native(&mut c).expect("count");
        assert_eq!(n, 1);
    }

    #[test]
    fn only_queries_without_boxes_and_defaults_are_named_by_their_type() {
        let note = Note { id: 1, body: String::new(), tag: None };
        let defaulting = DefaultingNote { id: 1, body: String::new(), tag: None };
        assert!(named_by_type(&diesel::insert_into(notes::table).values(&note)));
        assert!(inserts_named_by_type::<Note, notes::table>());
        assert!(!inserts_named_by_type::<DefaultingNote, notes::table>());
        assert!(!named_by_type(&diesel::insert_into(notes::table).values(&defaulting)));
        assert!(named_by_type(&notes::table.find(1).select(columns::<Note>()).limit(1)));
        let boxed = notes::table.filter(notes::id.eq(1)).into_boxed::<diesel::sqlite::Sqlite>();
        assert!(!named_by_type(&boxed));
    }
}
