//! Many rows in one PostgreSQL statement: each column bound as one array.
//!
//! A consumer applies up to [`crate::consumer::MAX_BATCH`] events in one transaction, and each
//! row it wrote was a statement of its own: on PostgreSQL a round trip, which costs the server
//! more than the row (a profile of the write path put parse, bind and protocol ahead of
//! execution). Written as `INSERT … SELECT … FROM unnest($1::text[], $2::text[]) WITH
//! ORDINALITY` or `… WHERE id = ANY($1)`, a batch's rows for one table are one statement whose
//! text does not depend on how many rows there are, so the connection keeps it prepared as it
//! keeps a [`super::kept::Sql`].
//!
//! A statement that finds rows by an array (`id = ANY($1)`) is [`Arrays::replanned`] instead:
//! planned with its values on every run. Kept, its generic plan is made for an array of unknown
//! length, which reads a table still small whole rather than through its index, and keeps
//! reading it whole as it grows (`db::replanned`; the services' `tests/plans.rs` catch it).
//!
//! SQLite runs in the process, where a statement is no round trip and has no arrays: its
//! callers write row by row, each row's statement kept prepared.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Binary, Integer, Text, Timestamp, Untyped};
use diesel::{PgConnection, QueryResult, QueryableByName, RunQueryDsl};

/// One column's values, one per row.
#[derive(Debug, Clone)]
pub enum Column<'a> {
    Text(Vec<&'a str>),
    Integer(Vec<i32>),
    Binary(Vec<&'a [u8]>),
    Timestamp(Vec<NaiveDateTime>),
}

/// `parts[0] column[0] parts[1] column[1] … parts[n]`, each column bound as an array.
#[derive(Debug, Clone)]
pub struct Arrays<'a> {
    parts: &'static [&'static str],
    columns: Vec<Column<'a>>,
    kept: bool,
}

impl<'a> Arrays<'a> {
    /// SQL with one more part than `columns`: each column goes between two parts.
    ///
    /// # Panics
    /// When the counts do not match: a programming error, the same on every call.
    pub fn new(parts: &'static [&'static str], columns: Vec<Column<'a>>) -> Self {
        assert_eq!(parts.len(), columns.len() + 1, "one more part than columns in {parts:?}");
        Self { parts, columns, kept: true }
    }

    /// Like [`Arrays::new`], for a statement that finds rows by its arrays: not kept, so it is
    /// planned with its values on every run.
    pub fn replanned(parts: &'static [&'static str], columns: Vec<Column<'a>>) -> Self {
        Self { kept: false, ..Self::new(parts, columns) }
    }

    /// Runs the statement; the number of rows it changed.
    pub fn execute(self, pg: &mut PgConnection) -> QueryResult<usize> {
        RunQueryDsl::execute(self, pg)
    }

    /// Runs a query; its rows, read by name.
    pub fn load<U: QueryableByName<Pg> + 'static>(self, pg: &mut PgConnection) -> QueryResult<Vec<U>> {
        RunQueryDsl::load(self, pg)
    }
}

impl QueryId for Arrays<'_> {
    // No static id: the connection keys the prepared statement by its text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Arrays<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if !self.kept {
            out.unsafe_to_cache_prepared();
        }
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            match self.columns.get(i) {
                Some(Column::Text(v)) => out.push_bind_param::<Array<Text>, Vec<&str>>(v)?,
                Some(Column::Integer(v)) => out.push_bind_param::<Array<Integer>, Vec<i32>>(v)?,
                Some(Column::Binary(v)) => out.push_bind_param::<Array<Binary>, Vec<&[u8]>>(v)?,
                Some(Column::Timestamp(v)) => out.push_bind_param::<Array<Timestamp>, Vec<NaiveDateTime>>(v)?,
                None => {}
            }
        }
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for Arrays<'_> {}

/// A query whose rows are read by name (`QueryableByName`), as `sql_query`'s are.
impl Query for Arrays<'_> {
    type SqlType = Untyped;
}
