//! Leases: one replica at a time runs a consumer of a stream.
//!
//! Several replicas of a service may share its PostgreSQL schema. Each of them serves REST and
//! gRPC, and each publisher already serializes on a transaction lock; but a consumer applying
//! the same events in two replicas at once would race on its checkpoint. So a consumer first
//! takes a lease: a PostgreSQL session-level advisory lock on a connection of its own, named by
//! the schema and the checkpoint. The holder then applies every batch on that same connection
//! ([`crate::db::Db::write_on`]), which gives the fencing for free: when the lease is lost (the
//! replica dies, its connection drops), so is the only connection its transactions could commit
//! on.
//!
//! A replica that finds the lease taken waits for it inside PostgreSQL (`pg_advisory_lock`
//! under a 5 s `lock_timeout`, then again), so it takes over the moment the holder's session
//! ends, without polling rows or writing heartbeats: an idle system commits nothing. The
//! holder's session asks the server for TCP keepalives (5 s idle, 2 s apart, 3 probes), so
//! when a holder's node vanishes without closing its connection the server ends the session,
//! and releases the lease, within about 11 s. A process that dies closes its socket, and the
//! lease moves at once.
//!
//! SQLite is one process's file: there is nothing to share, and no lease is taken.

use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::db::{AnyConnection, Backend, Db, DbError, Session};

/// How long one wait for a taken lease lasts inside PostgreSQL before the waiter looks at its
/// shutdown signal and waits again.
const WAIT: Duration = Duration::from_secs(5);

/// Waits until this replica holds the lease `name` (or `shutdown`), and returns the session that
/// holds it. `None` on SQLite (no lease needed) and when shutting down.
pub async fn acquire(db: &Db, name: &str, shutdown: &CancellationToken) -> Result<Option<Session>, DbError> {
    if db.backend() == Backend::Sqlite {
        return Ok(None);
    }
    let session = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.dedicated_connection().and_then(prepare))
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??
    };
    let mut announced = false;
    loop {
        let attempt = {
            let (session, name) = (session.clone(), name.to_owned());
            tokio::task::spawn_blocking(move || session.with(|c| wait_for(c, &name)))
                .await
                .map_err(|e| DbError::Unavailable(e.to_string()))?
        };
        match attempt {
            Ok(true) => {
                tracing::info!(lease = name, "lease taken: this replica runs it");
                return Ok(Some(session));
            }
            Ok(false) => {
                if !announced {
                    tracing::info!(lease = name, "lease held by another replica; standing by");
                    announced = true;
                }
                if shutdown.is_cancelled() {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The session's keepalives and lock wait.
fn prepare(mut conn: AnyConnection) -> Result<Session, DbError> {
    conn.batch_execute(&format!(
        "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3; \
         SET lock_timeout = '{}ms'",
        WAIT.as_millis()
    ))?;
    Ok(Session::new(conn))
}

/// Takes the lock, waiting at most [`WAIT`]: true when held, false when the wait ran out.
fn wait_for(c: &mut AnyConnection, name: &str) -> Result<bool, DbError> {
    let key = format!("lease:{name}");
    let taken = diesel::sql_query("SELECT pg_advisory_lock(hashtextextended(current_schema() || $1, 0))")
        .bind::<diesel::sql_types::Text, _>(key)
        .execute(c);
    match taken {
        Ok(_) => Ok(true),
        // 55P03 lock_not_available: the wait ran out.
        Err(diesel::result::Error::DatabaseError(_, info)) if info.message().contains("lock timeout") => Ok(false),
        Err(e) => Err(e.into()),
    }
}
