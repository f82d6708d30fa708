//! Writes a consumer's batch gathers and makes at its end, on PostgreSQL.
//!
//! A consumer applies up to [`crate::consumer::MAX_BATCH`] events in one transaction, and most
//! events make the same few writes (a row for a new dispatch, a status moved, an event appended
//! to the outbox). On PostgreSQL each was a statement and each statement a round trip, which
//! costs the server more than the row. A handler's `apply_batch` runs its events inside
//! [`gathering`]; its `apply` hands a write to [`gather`], which keeps it in the batch's
//! [`Batch`] value instead of writing it, and the batch writes everything it gathered in a few
//! statements when its events are applied (rows bound as arrays, `db::arrays`, or in one
//! multi-row insert), before the checkpoint moves and the transaction commits. Several kinds
//! of batch gather at once: the consumer gathers the outbox's (`event_log::Appends`) around
//! the handler's own.
//!
//! An event whose effect reads or changes what others gathered calls [`flush`] first, so every
//! event sees the writes of the events before it, as when each was written at once. On SQLite,
//! where a statement is no round trip, nothing is gathered: [`gather`] hands the write back and
//! the caller makes it at once.

use std::any::{Any, TypeId};
use std::cell::RefCell;

use diesel::{PgConnection, QueryResult};

use crate::db::AnyConnection;

/// What one kind of batch gathers, and how it writes it.
pub trait Batch: Default + 'static {
    /// Writes everything gathered, in the order the events came where the order matters.
    fn write(self, pg: &mut PgConnection) -> QueryResult<()>;
}

thread_local! {
    /// The batches being gathered on this (blocking) thread, by kind. A transaction runs on one
    /// thread from start to commit, so they belong to one transaction.
    static GATHERED: RefCell<Vec<(TypeId, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` (inside a transaction) gathering the writes handed to [`gather`] for `B`, and
/// writes them when `f` returns `Ok`. When `f` fails or panics, nothing it gathered is written:
/// it goes with the transaction. On SQLite, or when `B` is gathered already, it only runs `f`.
pub fn gathering<B: Batch, R, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<R, E>,
) -> Result<R, E>
where
    E: From<diesel::result::Error>,
{
    /// Ends the gathering of `B` however `f` ends: a later transaction on this thread writes
    /// at once.
    struct Gathering(TypeId);
    impl Drop for Gathering {
        fn drop(&mut self) {
            GATHERED.with(|g| g.borrow_mut().retain(|(kind, _)| *kind != self.0));
        }
    }
    let kind = TypeId::of::<B>();
    if !matches!(conn, AnyConnection::Postgresql(_)) || GATHERED.with(|g| g.borrow().iter().any(|(k, _)| *k == kind)) {
        return f(conn);
    }
    GATHERED.with(|g| g.borrow_mut().push((kind, Box::new(B::default()))));
    let gathering = Gathering(kind);
    let value = f(conn)?;
    flush::<B>(conn)?;
    drop(gathering);
    Ok(value)
}

/// Adds `value` to the batch of `B` being gathered (with `add`) and returns `None`; returns
/// the value back, with nothing done, when no batch of `B` is being gathered (SQLite, or
/// outside [`gathering`]): the caller then writes it at once.
pub fn gather<B: Batch, T>(value: T, add: impl FnOnce(&mut B, T)) -> Option<T> {
    GATHERED.with(|g| match batch_of::<B>(&mut g.borrow_mut()) {
        Some(batch) => {
            add(batch, value);
            None
        }
        None => Some(value),
    })
}

/// Writes what the batch of `B` gathered so far (nothing outside [`gathering`]), and goes on
/// gathering: for an event about to read or change what earlier events gathered.
pub fn flush<B: Batch>(conn: &mut AnyConnection) -> QueryResult<()> {
    let AnyConnection::Postgresql(pg) = conn else { return Ok(()) };
    match GATHERED.with(|g| batch_of::<B>(&mut g.borrow_mut()).map(std::mem::take)) {
        Some(batch) => batch.write(pg),
        None => Ok(()),
    }
}

/// Runs `f` on the batch of `B` being gathered, if one is (PostgreSQL, inside [`gathering`]):
/// for what a batch keeps besides its writes, such as what its events read that none of them
/// changes.
pub fn with_batch<B: Batch, R>(f: impl FnOnce(&mut B) -> R) -> Option<R> {
    GATHERED.with(|g| batch_of::<B>(&mut g.borrow_mut()).map(f))
}

fn batch_of<B: Batch>(gathered: &mut [(TypeId, Box<dyn Any>)]) -> Option<&mut B> {
    gathered.iter_mut().find(|(kind, _)| *kind == TypeId::of::<B>()).and_then(|(_, b)| b.downcast_mut::<B>())
}
