//! Waiting for a record another service's event is still making, without asking again and
//! again: a new case's dispatch (routing makes it from intake's event), a resolved case's
//! evaluation (evaluation opens it from routing's event). A gRPC caller that needs one sends
//! `x-caseflow-wait-ms` (at most 10,000) with the call; the service answers as soon as a commit
//! of its own database makes the record, or with its usual answer when the wait is over. The
//! importer uses it instead of polling. On PostgreSQL a commit of another replica that
//! appended an event (as making a dispatch or opening an evaluation does) wakes the wait too,
//! through the outbox notification every replica listens to.

use std::future::Future;
use std::time::Duration;

use crate::db::Db;

/// The metadata a caller names its wait in, in milliseconds.
pub const HEADER: &str = "x-caseflow-wait-ms";

/// The longest wait a caller may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// How long the caller of `request` asked to wait, bounded by [`MAX_WAIT`]; none when it did
/// not ask (or asked for something that is not a number of milliseconds).
pub fn requested<T>(request: &tonic::Request<T>) -> Option<Duration> {
    let ms: u64 = request.metadata().get(HEADER)?.to_str().ok()?.trim().parse().ok()?;
    (ms > 0).then(|| Duration::from_millis(ms).min(MAX_WAIT))
}

/// Runs `attempt`; while `on_its_way` says its answer is about a record still to come and the
/// wait has not passed, runs it again after each commit to `db`. Without a wait, runs it once.
pub async fn until_made<T, F, Fut>(
    db: &Db,
    wait: Option<Duration>,
    on_its_way: impl Fn(&T) -> bool,
    mut attempt: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let Some(wait) = wait else { return attempt().await };
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = db.changes();
    loop {
        // Seen before looking: a commit between the look and the wait wakes the wait at once.
        changes.borrow_and_update();
        let answer = attempt().await;
        if !on_its_way(&answer) {
            return answer;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => return answer,
        }
    }
}
