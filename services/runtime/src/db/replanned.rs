//! Queries planned again on every run, for the ones that run rarely over a growing table.
//!
//! A kept statement keeps its plan: on PostgreSQL the generic plan a connection makes after a
//! few runs stays until DDL or `ANALYZE` touches the table, and with autovacuum off nothing
//! does. A plan made while a table was a few pages long can be the cheaper one then and read a
//! growing range later: on a small table an index that matches fewer of the conditions costs
//! the same as the one that matches them all, and a count over a few states reads the table
//! whole more cheaply than through an index. The hot statements are given indexes that win at
//! any size (each service's `tests/plans.rs` plans them at several sizes); a query run once a
//! scrape or once a report, such as an operator's gauge, is [`Replanned`] instead: diesel does
//! not keep its statement, so PostgreSQL plans it with its values each time, for the table as
//! it is then. Planning costs a fraction of a millisecond, nothing next to what a stale plan
//! reads. SQLite plans without looking at a table's size, so it is the same there either way.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// `Q`, run as a statement that is not kept: planned anew, with its values, on every run.
#[derive(Debug, Clone, Copy)]
pub struct Replanned<Q>(pub Q);

impl<Q: Query> Query for Replanned<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> QueryId for Replanned<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Replanned<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Replanned<Q> {}
