//! Background loops (publisher, consumers, scanner, expiry) that survive their own panics.
//!
//! A loop already retries the failures it expects (a stream that drops, a database that is
//! away). A panic is a failure nobody expected: left alone it would end the task silently, and
//! the service would go on answering requests while its events stopped flowing. [`Loops::spawn`]
//! runs each loop in a task of its own, and when that task panics it logs the panic, marks the
//! loop as restarting (which `/health/readyz` shows), waits with back-off and starts it again.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// What `/health/readyz` says about one loop.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LoopHealth {
    /// `running`, or `restarting` while it waits to start again after a panic.
    pub state: &'static str,
    /// Panics since the service started.
    pub restarts: u64,
    /// The last panic's message, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_panic: Option<String>,
}

/// A service's supervised loops, by name.
#[derive(Debug, Clone, Default)]
pub struct Loops {
    health: Arc<Mutex<BTreeMap<String, LoopHealth>>>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Loops {
    /// Each loop's health, by name.
    pub fn health(&self) -> BTreeMap<String, LoopHealth> {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// True when some loop is waiting to restart after a panic.
    pub fn degraded(&self) -> bool {
        self.health().values().any(|h| h.state != "running")
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut LoopHealth)) {
        if let Ok(mut health) = self.health.lock() {
            let entry =
                health.entry(name.to_owned()).or_insert(LoopHealth { state: "running", restarts: 0, last_panic: None });
            f(entry);
        }
    }

    /// Runs `make()` until it returns (a loop returns on `shutdown`), starting it again with
    /// back-off whenever it panics.
    pub fn spawn<F, Fut>(
        &self,
        name: impl Into<String>,
        shutdown: CancellationToken,
        make: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let loops = self.clone();
        let name: String = name.into();
        loops.update(&name, |_| {});
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let outcome = tokio::spawn(make()).await;
                let panic = match outcome {
                    Ok(()) => return,
                    Err(e) if e.is_panic() => panic_message(e.into_panic()),
                    Err(_) => return, // cancelled: the runtime is shutting down
                };
                tracing::error!(background_loop = %name, panic = %panic, retry_in_ms = backoff.as_millis() as u64, "background loop panicked; restarting");
                loops.update(&name, |h| {
                    h.state = "restarting";
                    h.restarts += 1;
                    h.last_panic = Some(panic);
                });
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                loops.update(&name, |h| h.state = "running");
            }
        })
    }
}

/// The text of a panic payload (`panic!("...")` gives `&str` or `String`).
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map(|s| (*s).to_owned()).unwrap_or_else(|| "panic".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_loop_that_panics_is_restarted_and_the_panic_is_shown() {
        let loops = Loops::default();
        let shutdown = CancellationToken::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let stop = shutdown.clone();
        let task = loops.spawn("scanner", shutdown.clone(), move || {
            let runs = counted.clone();
            let stop = stop.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("scan blew up");
                }
                stop.cancelled().await;
            }
        });
        // Back-off: 0.2 s, then 0.4 s.
        for _ in 0..50 {
            if runs.load(Ordering::SeqCst) >= 3 && !loops.degraded() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two panics, then a run that lasts");
        let health = loops.health();
        assert_eq!(health["scanner"].state, "running");
        assert_eq!(health["scanner"].restarts, 2);
        assert_eq!(health["scanner"].last_panic.as_deref(), Some("scan blew up"));
        shutdown.cancel();
        task.await.expect("supervisor ends on shutdown");
    }
}
