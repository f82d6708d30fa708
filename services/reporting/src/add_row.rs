//! Adding to a rollup row: one statement, prepared once per connection.
//!
//! `INSERT INTO t (keys…, counts…[, raised]) VALUES (…) ON CONFLICT (keys…) DO UPDATE SET
//! c = t.c + excluded.c, …[, raised = the later of the two]`, written out here rather than with
//! diesel's upsert: diesel marks every `DO UPDATE` unsafe to keep prepared, so its upsert was
//! parsed and planned again on every call, and the rollups are most of reporting's writes. This
//! statement's text depends only on its table and columns, so the connection keeps it (keyed by
//! that text) and runs it again with new values.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Date, HasSqlType, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use caseflow_runtime::AnyConnection;

/// A key column's value.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    Text(&'a str),
    Date(NaiveDate),
}

/// One rollup row's change: the row `keys` of `table` gets `counts` added (a new row starts from
/// them), and its `raised` column, when given, becomes the later of its value and the new one.
/// `counts` names at least one column (every rollup row has counts).
#[derive(Debug)]
pub struct AddRow<'a> {
    pub table: &'static str,
    pub keys: &'a [(&'static str, Key<'a>)],
    pub counts: &'a [(&'static str, i64)],
    pub raised: Option<(&'static str, Option<NaiveDateTime>)>,
}

impl AddRow<'_> {
    /// Runs the statement on either backend.
    pub fn run(self, conn: &mut AnyConnection) -> QueryResult<usize> {
        match conn {
            AnyConnection::Postgresql(pg) => RunQueryDsl::execute(self, pg),
            AnyConnection::Sqlite(lite) => RunQueryDsl::execute(self, lite),
        }
    }

    fn columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        let keys = self.keys.iter().map(|(c, _)| *c);
        keys.chain(self.counts.iter().map(|(c, _)| *c)).chain(self.raised.iter().map(|(c, _)| *c))
    }

    /// `t.c`: the row already there, in an `ON CONFLICT … DO UPDATE`.
    fn qualified<DB: Backend>(&self, out: &mut AstPass<'_, '_, DB>, column: &str) -> QueryResult<()> {
        out.push_identifier(self.table)?;
        out.push_sql(".");
        out.push_identifier(column)
    }
}

impl QueryId for AddRow<'_> {
    // No static id: the connection keys the prepared statement by its text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for AddRow<'_> {}

impl<DB> QueryFragment<DB> for AddRow<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Date> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    NaiveDate: ToSql<Date, DB>,
    i64: ToSql<BigInt, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        out.push_identifier(self.table)?;
        out.push_sql(" (");
        for (i, column) in self.columns().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_identifier(column)?;
        }
        out.push_sql(") VALUES (");
        for (i, (_, key)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            match key {
                Key::Text(v) => out.push_bind_param::<Text, str>(v)?,
                Key::Date(v) => out.push_bind_param::<Date, NaiveDate>(v)?,
            }
        }
        for (_, n) in self.counts {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(n)?;
        }
        if let Some((_, at)) = &self.raised {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Timestamp>, Option<NaiveDateTime>>(at)?;
        }
        out.push_sql(") ON CONFLICT (");
        for (i, (column, _)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_identifier(column)?;
        }
        out.push_sql(") DO UPDATE SET ");
        for (i, (column, _)) in self.counts.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            // c = t.c + excluded.c
            out.push_identifier(column)?;
            out.push_sql(" = ");
            self.qualified(&mut out, column)?;
            out.push_sql(" + excluded.");
            out.push_identifier(column)?;
        }
        if let Some((column, _)) = &self.raised {
            out.push_sql(", ");
            // r = CASE WHEN excluded.r > t.r OR t.r IS NULL THEN excluded.r ELSE t.r END: a
            // NULL new value compares unknown and keeps the old one.
            out.push_identifier(column)?;
            out.push_sql(" = CASE WHEN excluded.");
            out.push_identifier(column)?;
            out.push_sql(" > ");
            self.qualified(&mut out, column)?;
            out.push_sql(" OR ");
            self.qualified(&mut out, column)?;
            out.push_sql(" IS NULL THEN excluded.");
            out.push_identifier(column)?;
            out.push_sql(" ELSE ");
            self.qualified(&mut out, column)?;
            out.push_sql(" END");
        }
        Ok(())
    }
}
