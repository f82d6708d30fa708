//! A background job that runs when its work falls due, not on a timer: the routing scanner and
//! evaluation's expiry job. Each run says how long until its next piece of work is due; in
//! between the job sleeps, and a change on the service's own stream (every change that can
//! bring work forward writes to it) brings the next run to within `interval`. With nothing to
//! do it does nothing, apart from a run every [`LONGEST_SLEEP`] as a safety net.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

/// The longest a job sleeps with nothing due: a safety net, as the publisher's poll is.
pub const LONGEST_SLEEP: Duration = Duration::from_secs(3600);

/// Runs `work` until `shutdown`: first after `interval`, then when the time the previous run
/// returned has passed (`None`: nothing waits; at most [`LONGEST_SLEEP`]), or within `interval`
/// of a change on `changes`, whichever comes first. Changes come in bursts: a run follows
/// within the interval, not at each one. Should the stream go away, the job still runs as due.
pub async fn run_when_due<F, Fut>(
    interval: Duration,
    changes: watch::Receiver<i64>,
    shutdown: CancellationToken,
    mut work: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Duration>>,
{
    let mut changes = Some(changes);
    let mut wake = Instant::now() + interval;
    loop {
        let changed = async {
            match changes.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = sleep_until(wake) => {}
            open = changed => {
                if open {
                    wake = wake.min(Instant::now() + interval);
                } else {
                    changes = None;
                }
                continue;
            }
        }
        let until = work().await.unwrap_or(LONGEST_SLEEP);
        wake = Instant::now() + until.min(LONGEST_SLEEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(
        runs: &Arc<AtomicUsize>,
        next: Option<Duration>,
    ) -> impl FnMut() -> std::future::Ready<Option<Duration>> + use<> {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            std::future::ready(next)
        }
    }

    #[tokio::test]
    async fn a_change_brings_the_next_run_to_within_the_interval() {
        let (tx, rx) = watch::channel(0);
        let (stop, runs) = (CancellationToken::new(), Arc::new(AtomicUsize::new(0)));
        let job = tokio::spawn(run_when_due(Duration::from_millis(50), rx, stop.clone(), counting(&runs, None)));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the first run, then nothing due: asleep for an hour");
        tx.send_replace(1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one run for the change");
        stop.cancel();
        job.await.expect("stops");
    }

    #[tokio::test]
    async fn a_job_whose_stream_went_away_still_runs_as_due() {
        let (tx, rx) = watch::channel(0);
        drop(tx);
        let (stop, runs) = (CancellationToken::new(), Arc::new(AtomicUsize::new(0)));
        let next = Some(Duration::from_millis(100));
        let job = tokio::spawn(run_when_due(Duration::from_millis(50), rx, stop.clone(), counting(&runs, next)));
        tokio::time::sleep(Duration::from_millis(480)).await;
        stop.cancel();
        job.await.expect("stops");
        let n = runs.load(Ordering::SeqCst);
        assert!((2..=5).contains(&n), "runs at 50 ms, then every 100 ms: {n}");
    }
}
