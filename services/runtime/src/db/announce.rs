//! On PostgreSQL, telling the other replicas what this process committed to its outbox: that
//! rows were appended (their publishers wake) and the last position stamped (their streams
//! wake), as `NOTIFY` on the schema's outbox channel.
//!
//! The notification is sent after the commit, from a session of its own, and not inside the
//! writer's transaction. PostgreSQL serializes the commits of every transaction that sent a
//! `NOTIFY` (a database-wide lock taken before the commit record and held until it is flushed:
//! `PreCommit_Notify` in `src/backend/commands/async.c`), so a notification in each write made
//! every order's commit wait for the previous one's flush: on this machine a one-row insert
//! went from 8,222 to 3,426 transactions/s at 16 clients with a `pg_notify` in it. Here the
//! commits that announce something set a watch; one task per process sends what the watch
//! holds, so a burst of commits is told in one notification, and the writers' commits flush
//! together again. After a commit it waits [`GATHER`] before telling, so that a steady stream
//! of commits is told a few hundred times a second at most, not once a commit: under the
//! write-path bench on PostgreSQL there were as many notifications as orders (6,853 for about
//! 6,500 cases), each a statement and a commit of its own in a lock every notifying commit of
//! the server takes. Nothing durable rides on a notification (its session commits with
//! `synchronous_commit = off`): one lost with a crash between a commit and its announcement
//! is covered by the safety poll (`event_log::SAFETY_POLL`), as one lost while a `LISTEN`
//! session reconnects is.

use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use tokio::sync::watch;

use super::{AnyConnection, Manager, OUTBOX_CHANNEL_SQL};

/// What this process's commits have announced so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announced {
    /// Commits that appended to the outbox.
    appended: u64,
    /// The last position stamped.
    published: i64,
}

impl Announced {
    pub(crate) fn add(&mut self, appended: bool, stamped: i64) {
        self.appended += u64::from(appended);
        self.published = self.published.max(stamped);
    }

    /// The notifications that tell what `self` holds and `sent` did not.
    fn statements(&self, sent: &Self) -> String {
        let mut sql = String::new();
        if self.appended != sent.appended {
            sql.push_str(&format!("SELECT pg_notify({OUTBOX_CHANNEL_SQL}, 'appended');"));
        }
        if self.published > sent.published {
            sql.push_str(&format!("SELECT pg_notify({OUTBOX_CHANNEL_SQL}, 'published:{}');", self.published));
        }
        sql
    }
}

/// Starts the task that announces what is sent on the returned watch; it ends when every
/// sender (every clone of the `Db`) is gone.
pub(crate) fn spawn(manager: Manager) -> std::sync::Arc<watch::Sender<Announced>> {
    let (tx, rx) = watch::channel(Announced::default());
    tokio::spawn(run(manager, rx));
    std::sync::Arc::new(tx)
}

/// How long the commits that follow one are gathered before the notification is sent: the
/// other replicas hear of a commit this much later at most, a fraction of their own work on it.
pub const GATHER: Duration = Duration::from_millis(5);

async fn run(manager: Manager, mut wanted: watch::Receiver<Announced>) {
    let mut sent = Announced::default();
    let mut session: Option<AnyConnection> = None;
    let mut backoff = Duration::from_millis(100);
    while wanted.changed().await.is_ok() {
        tokio::time::sleep(GATHER).await;
        let now = *wanted.borrow_and_update();
        let sql = now.statements(&sent);
        if sql.is_empty() {
            continue;
        }
        let manager = manager.clone();
        let conn = session.take();
        let told = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(conn) => conn,
                None => {
                    let mut conn = manager.connect_any().map_err(|e| e.to_string())?;
                    conn.batch_execute("SET synchronous_commit = off").map_err(|e| e.to_string())?;
                    conn
                }
            };
            // One round trip, one implicit transaction for both.
            conn.batch_execute(&sql).map_err(|e| e.to_string())?;
            Ok::<_, String>(conn)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match told {
            Ok(conn) => {
                session = Some(conn);
                sent = now;
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "announcing outbox changes to the other replicas failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                // Tried again with whatever is wanted by then.
                wanted.mark_changed();
            }
        }
    }
}
