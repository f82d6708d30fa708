//! SQL written out with its values bound, kept prepared by the connection.
//!
//! diesel keeps a statement prepared only when nothing in its AST says otherwise, and three
//! things the hot paths need say otherwise: every `UPDATE` (`diesel::update`), every raw
//! fragment (`diesel::dsl::sql`, `sql_query`), and `ON CONFLICT … DO UPDATE` (reporting's rollup
//! upserts are written out for that reason by `reporting::add_row`, whose text is built per
//! table). On PostgreSQL such a statement is parsed and planned on every run. [`Sql`] is SQL text fixed at compile time,
//! with typed binds between its parts: a whole statement (a consumer's checkpoint, a status
//! update) or an expression inside a diesel query (a range over an index's whole key). It marks
//! nothing unsafe, so the connection keeps its statement, found again by its text. A statement
//! kept this way keeps the plan it got the first time: it must fit one index only, whatever the
//! table's size (each service's `tests/plans.rs`).

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate};
use diesel::query_builder::{AsChangeset, AstPass, IntoUpdateTarget, Query, QueryFragment, QueryId, UpdateTarget};
use diesel::query_source::QuerySource;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Integer, Text, Timestamp, Untyped};
use diesel::{QueryResult, RunQueryDsl};

/// One bound value.
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    Text(&'a str),
    BigInt(i64),
    Integer(i32),
    Timestamp(NaiveDateTime),
}

/// `parts[0] bind[0] parts[1] bind[1] … parts[n]`: a statement (`Sql<()>`), a statement whose
/// rows are read by name (`Sql<Untyped>`), or a condition (`Sql<Bool>`).
#[derive(Debug, Clone)]
pub struct Sql<'a, ST = Bool> {
    parts: &'static [&'static str],
    binds: Vec<Bind<'a>>,
    sql_type: PhantomData<ST>,
}

impl<'a, ST> Sql<'a, ST> {
    /// SQL with one more part than `binds`: each bind goes between two parts.
    ///
    /// # Panics
    /// When the counts do not match: a programming error, the same on every call.
    pub fn new(parts: &'static [&'static str], binds: Vec<Bind<'a>>) -> Self {
        assert_eq!(parts.len(), binds.len() + 1, "one more part than binds in {parts:?}");
        Self { parts, binds, sql_type: PhantomData }
    }
}

impl<ST> QueryId for Sql<'_, ST> {
    // No static id: the connection keys the prepared statement by its text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB, ST> QueryFragment<DB> for Sql<'_, ST>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Integer> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            match self.binds.get(i) {
                Some(Bind::Text(v)) => out.push_bind_param::<Text, str>(v)?,
                Some(Bind::BigInt(v)) => out.push_bind_param::<BigInt, i64>(v)?,
                Some(Bind::Integer(v)) => out.push_bind_param::<Integer, i32>(v)?,
                Some(Bind::Timestamp(v)) => out.push_bind_param::<Timestamp, NaiveDateTime>(v)?,
                None => {}
            }
        }
        Ok(())
    }
}

impl<Conn, ST> RunQueryDsl<Conn> for Sql<'_, ST> {}

/// A statement that returns rows read by name (`QueryableByName`), as `sql_query` does: an
/// `UPDATE … RETURNING` kept prepared.
impl Query for Sql<'_, Untyped> {
    type SqlType = Untyped;
}

/// A condition, inside a diesel query's `WHERE`.
impl Expression for Sql<'_, Bool> {
    type SqlType = Bool;
}

impl<QS, ST> AppearsOnTable<QS> for Sql<'_, ST> where Self: Expression {}

impl<QS, ST> SelectableExpression<QS> for Sql<'_, ST> where Self: Expression {}

impl<ST> ValidGrouping<()> for Sql<'_, ST> {
    type IsAggregate = is_aggregate::Never;
}

/// `UPDATE target SET changes`, kept prepared by the connection (found again by its text).
///
/// diesel's own `update(…).set(…)` marks itself unsafe to keep: a changeset's text can change
/// with its values (a derived changeset leaves out an `Option` field that is `None`), and a
/// statement found by its type would then be the wrong one. So every update was compiled again
/// by SQLite on each run and parsed and planned again by PostgreSQL: under the write-path
/// bench's import, SQLite compiling statements was 4 % of the process's CPU (a profile of the
/// release process), most of it the hot updates (a dispatch, a matter, an evaluation's part,
/// reporting's dispatch facts). Found by its text, each shape of a changeset is a statement of
/// its own, and a statement is kept with the plan it got first: the hot updates find their row
/// by the same conditions as the reads before them, which each service's `tests/plans.rs`
/// plans at several table sizes.
#[derive(Debug, Clone)]
pub struct Update<F, W, V> {
    from_clause: F,
    where_clause: W,
    values: V,
}

/// `diesel::update(target).set(changes)`, kept prepared ([`Update`]).
pub fn update<T, C>(
    target: T,
    changes: C,
) -> Update<<T::Table as QuerySource>::FromClause, T::WhereClause, C::Changeset>
where
    T: IntoUpdateTarget,
    C: AsChangeset<Target = T::Table>,
{
    let UpdateTarget { table, where_clause } = target.into_update_target();
    Update { from_clause: table.from_clause(), where_clause, values: changes.as_changeset() }
}

impl<F, W, V> QueryId for Update<F, W, V> {
    // No static id: the connection keys the prepared statement by its text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB, F, W, V> QueryFragment<DB> for Update<F, W, V>
where
    DB: Backend,
    F: QueryFragment<DB>,
    W: QueryFragment<DB>,
    V: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // As diesel's update: a changeset that sets nothing is an error, not `SET ` and nothing.
        if self.values.is_noop(out.backend())? {
            return Err(diesel::result::Error::QueryBuilderError(Box::new(diesel::result::EmptyChangeset)));
        }
        out.push_sql("UPDATE ");
        self.from_clause.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        self.where_clause.walk_ast(out.reborrow())
    }
}

impl<F, W, V, Conn> RunQueryDsl<Conn> for Update<F, W, V> {}
