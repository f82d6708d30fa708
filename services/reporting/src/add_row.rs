//! Adding to a rollup row: one statement, prepared once per connection.
//!
//! `INSERT INTO t (keys…, counts…[, raised]) VALUES (…) ON CONFLICT (keys…) DO UPDATE SET
//! c = t.c + excluded.c, …[, raised = the later of the two]`, written out here rather than with
//! diesel's upsert: diesel marks every `DO UPDATE` unsafe to keep prepared, so its upsert was
//! parsed and planned again on every call, and the rollups are most of reporting's writes. This
//! statement's text depends only on its table and columns, so the connection keeps it (keyed by
//! that text) and runs it again with new values.
//!
//! Inside [`gathered`] (a projection's batch) the changes are not written at once: changes to
//! the same row add up in memory, and each row the batch touched is written once when the
//! batch's events have all been applied. A batch's events share most of their rows (a day's
//! cases land on the same day, source and category rows), so this writes a fraction of the
//! statements, which on PostgreSQL are each a round trip. Nothing reads a rollup row while a
//! batch is applied, and the rows are written before the batch's transaction commits, so no
//! reader sees the difference.

use std::cell::RefCell;
use std::collections::BTreeMap;

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
    Time(NaiveDateTime),
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
    /// Applies the change on either backend: now, or at the end of the batch being gathered.
    pub fn run(self, conn: &mut AnyConnection) -> QueryResult<()> {
        let gathering = GATHERED.with(|g| match g.borrow_mut().as_mut() {
            Some(rows) => {
                rows.add(&self);
                true
            }
            None => false,
        });
        if gathering { Ok(()) } else { self.write(conn) }
    }

    /// Runs the statement.
    fn write(self, conn: &mut AnyConnection) -> QueryResult<()> {
        match conn {
            AnyConnection::Postgresql(pg) => RunQueryDsl::execute(self, pg)?,
            AnyConnection::Sqlite(lite) => RunQueryDsl::execute(self, lite)?,
        };
        Ok(())
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
    NaiveDateTime: ToSql<Timestamp, DB>,
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
                Key::Time(v) => out.push_bind_param::<Timestamp, NaiveDateTime>(v)?,
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

thread_local! {
    /// The rows changed so far by the batch [`gathered`] runs on this (blocking) thread. A
    /// batch runs on one thread from its first event to its commit, so the rows belong to it.
    static GATHERED: RefCell<Option<Rows>> = const { RefCell::new(None) };
}

/// Runs `f` (a batch's events) with every [`AddRow`] it makes gathered, then writes each row
/// it touched once, in a fixed order. When `f` fails nothing is written: its transaction rolls
/// back. Inside another `gathered` it just runs `f`: the outer one writes.
pub fn gathered<T, E>(conn: &mut AnyConnection, f: impl FnOnce(&mut AnyConnection) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if GATHERED.with(|g| g.borrow().is_some()) {
        return f(conn);
    }
    /// Ends the gathering however `f` ends, a panic included.
    struct Gathering;
    impl Drop for Gathering {
        fn drop(&mut self) {
            GATHERED.with(|g| g.borrow_mut().take());
        }
    }
    let gathering = Gathering;
    GATHERED.with(|g| *g.borrow_mut() = Some(Rows::default()));
    let out = f(conn)?;
    let rows = GATHERED.with(|g| g.borrow_mut().take()).unwrap_or_default();
    drop(gathering);
    rows.write(conn)?;
    Ok(out)
}

/// An owned key value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyValue {
    Text(String),
    Date(NaiveDate),
    Time(NaiveDateTime),
}

impl KeyValue {
    fn of(key: &Key<'_>) -> Self {
        match key {
            Key::Text(v) => Self::Text((*v).to_owned()),
            Key::Date(v) => Self::Date(*v),
            Key::Time(v) => Self::Time(*v),
        }
    }

    fn as_key(&self) -> Key<'_> {
        match self {
            Self::Text(v) => Key::Text(v),
            Self::Date(v) => Key::Date(*v),
            Self::Time(v) => Key::Time(*v),
        }
    }
}

/// A row: its table and key.
type RowId = (&'static str, Vec<(&'static str, KeyValue)>);

/// What a batch adds to a row.
#[derive(Debug, Default)]
struct Change {
    counts: Vec<(&'static str, i64)>,
    raised: Option<(&'static str, Option<NaiveDateTime>)>,
}

/// The rows a batch changed, in key order (the order they are written in).
#[derive(Debug, Default)]
struct Rows(BTreeMap<RowId, Change>);

impl Rows {
    fn add(&mut self, row: &AddRow<'_>) {
        let id = (row.table, row.keys.iter().map(|(c, k)| (*c, KeyValue::of(k))).collect());
        let change = self.0.entry(id).or_default();
        for &(column, n) in row.counts {
            match change.counts.iter_mut().find(|(c, _)| *c == column) {
                Some((_, sum)) => *sum += n,
                None => change.counts.push((column, n)),
            }
        }
        if let Some((column, at)) = row.raised {
            // The later moment, as the statement keeps it; no moment is earlier than any.
            let kept = change.raised.and_then(|(_, t)| t);
            change.raised = Some((column, kept.max(at)));
        }
    }

    fn write(self, conn: &mut AnyConnection) -> QueryResult<()> {
        for ((table, keys), change) in self.0 {
            let keys: Vec<(&'static str, Key<'_>)> = keys.iter().map(|(c, k)| (*c, k.as_key())).collect();
            AddRow { table, keys: &keys, counts: &change.counts, raised: change.raised }.write(conn)?;
        }
        Ok(())
    }
}
