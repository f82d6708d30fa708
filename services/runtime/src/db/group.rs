//! Group commit for SQLite's one writer.
//!
//! SQLite takes one write transaction at a time, so concurrent writes (sixteen clients taking in
//! orders, an import's lanes) queued for the write connection and each paid a whole commit:
//! writing every page it touched to the write-ahead log, where the next transaction wrote most of
//! the same pages again (the tail of the outbox, the newest pages of each time-ordered index). A
//! profile of the write path put a sixth of the process's CPU in commits.
//!
//! Here one thread owns the write connection's turn. It takes every write waiting (up to
//! [`MOST_PER_GROUP`]), runs them one after another in a single transaction, each inside its own
//! savepoint, and commits once. A write that fails rolls back to its savepoint and answers its
//! own error; the others are unaffected. Nobody hears an answer before the commit: a write that
//! succeeded answers once the group is durable, or with "did not commit" when the commit failed,
//! in which case nothing of it stayed and sending it again is safe. A write alone in its group
//! runs exactly as before, without a savepoint. Nothing waits to fill a group: a group is
//! whatever queued while the previous one ran.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use diesel::SqliteConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager as _};
use diesel::r2d2::Pool;

use super::{AnyConnection, DbStats, Manager, on_sqlite};

/// The most writes one transaction takes: bounds how long the last of them waits for the first.
pub const MOST_PER_GROUP: usize = 64;

/// A write waiting for its turn.
pub(super) trait Task: Send {
    /// Runs the write on the connection, inside the group's transaction.
    fn run(self: Box<Self>, conn: &mut AnyConnection) -> Box<dyn Finish>;
    /// Answers without running: the group could not start.
    fn refuse(self: Box<Self>, reason: &str);
}

/// A write that ran, holding its answer until the group's transaction ends.
pub(super) trait Finish: Send {
    fn succeeded(&self) -> bool;
    /// Sends the answer: its own, or "did not commit" (`lost`) when it succeeded but the
    /// group's transaction did not commit.
    fn finish(self: Box<Self>, lost: Option<&str>);
}

struct Queued {
    task: Box<dyn Task>,
    since: Instant,
}

/// The handle writes are queued on; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Queued>,
}

impl Writer {
    pub(super) fn spawn(pool: Pool<Manager>, stats: Arc<DbStats>) -> std::io::Result<Self> {
        let (queue, waiting) = mpsc::channel();
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || serve(&pool, &stats, &waiting))?;
        Ok(Self { queue })
    }

    /// Queues `task`; gives it back if the writer thread is gone.
    pub(super) fn submit(&self, task: Box<dyn Task>) -> Result<(), Box<dyn Task>> {
        self.queue.send(Queued { task, since: Instant::now() }).map_err(|e| e.0.task)
    }
}

fn serve(pool: &Pool<Manager>, stats: &DbStats, waiting: &mpsc::Receiver<Queued>) {
    while let Ok(first) = waiting.recv() {
        let mut group = vec![first];
        while group.len() < MOST_PER_GROUP {
            match waiting.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let conn = pool.get();
        for q in &group {
            stats.took(q.since, conn.is_ok());
        }
        match conn {
            Ok(mut pooled) => {
                stats.groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                run_group(&mut pooled.conn, group);
            }
            Err(e) => {
                let reason = e.to_string();
                for q in group {
                    q.task.refuse(&reason);
                }
            }
        }
    }
}

/// Rolls back every level still open: the group's transaction and any savepoint a write that
/// panicked left behind. The connection then goes back to the pool out of every transaction
/// (it is otherwise thrown away, with its prepared statements).
fn roll_back_all(lite: &mut SqliteConnection) -> diesel::QueryResult<()> {
    while AnsiTransactionManager::transaction_manager_status_mut(lite).transaction_depth()?.is_some() {
        AnsiTransactionManager::rollback_transaction(lite)?;
    }
    Ok(())
}

/// Runs `group` in one transaction (`BEGIN IMMEDIATE`, see `write_transaction`) and answers
/// each write.
fn run_group(conn: &mut AnyConnection, group: Vec<Queued>) {
    if let Err(e) = on_sqlite(conn, |lite| AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")) {
        let reason = e.to_string();
        for q in group {
            q.task.refuse(&reason);
        }
        return;
    }
    let alone = group.len() == 1;
    let mut ran: Vec<Box<dyn Finish>> = Vec::with_capacity(group.len());
    let mut broken: Option<String> = None;
    for q in group {
        if broken.is_some() {
            q.task.refuse("an earlier write in its transaction left the connection unusable");
            continue;
        }
        if !alone && let Err(e) = on_sqlite(conn, AnsiTransactionManager::begin_transaction) {
            broken = Some(e.to_string());
            q.task.refuse(&e.to_string());
            continue;
        }
        // A write that panics is answered by its dropped sender (as a blocking task's panic
        // was), and the whole group is rolled back.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| q.task.run(conn)));
        let keep = matches!(&outcome, Ok(done) if done.succeeded());
        if outcome.is_err() {
            // Its own savepoints may still be open: nothing of this transaction is trusted.
            broken = Some("a write in the same transaction failed unexpectedly".into());
            continue;
        }
        if !alone {
            let end = if keep {
                AnsiTransactionManager::commit_transaction
            } else {
                AnsiTransactionManager::rollback_transaction
            };
            if let Err(e) = on_sqlite(conn, end) {
                broken = Some(e.to_string());
            }
        }
        if let Ok(done) = outcome {
            ran.push(done);
        }
    }
    let any_kept = ran.iter().any(|d| d.succeeded());
    let lost = if broken.is_none() && any_kept {
        on_sqlite(conn, AnsiTransactionManager::commit_transaction).err().map(|e| e.to_string())
    } else {
        if let Err(e) = on_sqlite(conn, roll_back_all) {
            tracing::warn!(error = %e, "rolling back a write group failed");
        }
        broken
    };
    if let Some(reason) = &lost {
        tracing::warn!(error = %reason, writes = ran.len(), "a write group did not commit");
    }
    for done in ran {
        done.finish(lost.as_deref());
    }
}
