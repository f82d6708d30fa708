//! The unit suggester (智能派单): which unit history says finally resolves a matter like this
//! one, for the dispatcher who decides. It learns from routing's own tables (the matters
//! resolved in the last [`WINDOW_DAYS`], each labelled with the unit whose lead dispatch
//! resolved it last: after a wrongful return that is the unit that returned it and was
//! designated back, which is the unit that should have had it first), and never assigns by
//! itself.
//!
//! - `features`: what it looks at in a matter;
//! - `model`: the counts and the naive Bayes ranking, with its evidence;
//! - `history`: the reads of resolved and received matters;
//! - `accuracy`: first-assignment accuracy, trained for each matter only on its past;
//! - `advice`: what it says to the dispatcher (suggestions, warnings, a proposed unit's record);
//! - `contradictions`: catalog entries whose unit handed on most of the matters they gave it.
//!
//! Each training is a numbered model (`suggester_models`); the number goes with every
//! suggestion made from it.

pub mod accuracy;
pub mod advice;
pub mod contradictions;
pub mod features;
pub mod history;
pub mod model;

use std::sync::{Arc, RwLock};

use caseflow_runtime::db::{Db, DbError};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use self::model::Counts;

/// How far back the suggester learns, in days: a year of resolved matters.
pub const WINDOW_DAYS: i64 = 365;

diesel::table! {
    suggester_models (version) {
        version -> Integer,
        trained_at -> Timestamp,
        resolved_from -> Timestamp,
        resolved_to -> Timestamp,
        matters -> BigInt,
    }
}

/// One trained model.
#[derive(Debug)]
pub struct Trained {
    pub version: i32,
    pub trained_at: DateTime<Utc>,
    pub resolved_from: DateTime<Utc>,
    pub resolved_to: DateTime<Utc>,
    pub counts: Counts,
}

/// A model as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelView {
    pub version: i32,
    pub trained_at: DateTime<Utc>,
    /// The matters it learned were resolved in `[resolved_from, resolved_to)`.
    pub resolved_from: DateTime<Utc>,
    pub resolved_to: DateTime<Utc>,
    pub matters: u64,
}

impl From<&Trained> for ModelView {
    fn from(t: &Trained) -> Self {
        Self {
            version: t.version,
            trained_at: t.trained_at,
            resolved_from: t.resolved_from,
            resolved_to: t.resolved_to,
            matters: t.counts.matters(),
        }
    }
}

/// The model in use, shared by the service's handlers; replaced whole by each training.
#[derive(Debug, Clone, Default)]
pub struct Suggester {
    current: Arc<RwLock<Option<Arc<Trained>>>>,
    /// One training at a time: the first suggestions asked for together share one.
    training: Arc<tokio::sync::Mutex<()>>,
}

impl Suggester {
    /// The model in use, if one was trained since the service started.
    pub fn current(&self) -> Option<Arc<Trained>> {
        self.current.read().map(|m| m.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Learns the matters resolved in the [`WINDOW_DAYS`] before `now`, numbers the model and
    /// puts it in use.
    pub async fn train(&self, db: &Db, now: DateTime<Utc>) -> Result<Arc<Trained>, DbError> {
        let _one = self.training.lock().await;
        self.train_alone(db, now).await
    }

    /// The model in use, trained first when there is none yet (the service trains on first
    /// use rather than at start, where reading a year of matters would delay every start).
    pub async fn current_or_train(&self, db: &Db, now: DateTime<Utc>) -> Result<Arc<Trained>, DbError> {
        if let Some(m) = self.current() {
            return Ok(m);
        }
        let _one = self.training.lock().await;
        match self.current() {
            Some(m) => Ok(m),
            None => self.train_alone(db, now).await,
        }
    }

    async fn train_alone(&self, db: &Db, now: DateTime<Utc>) -> Result<Arc<Trained>, DbError> {
        let from = now - Duration::days(WINDOW_DAYS);
        let (f, t) = (from.naive_utc(), now.naive_utc());
        // A page at a time: read, then learned off the async workers, then dropped.
        let mut counts = Counts::default();
        let mut after: Option<(chrono::NaiveDateTime, String)> = None;
        loop {
            let from_here = after.take();
            let page = db
                .read(move |c| {
                    history::resolved_page(c, f, t, from_here.as_ref(), history::PAGE).map_err(DbError::from)
                })
                .await?;
            after = page.next;
            let resolved = page.resolved;
            counts = tokio::task::spawn_blocking(move || {
                for r in &resolved {
                    counts.add(&r.example);
                }
                counts
            })
            .await
            .map_err(|e| DbError::Unavailable(format!("training failed: {e}")))?;
            if after.is_none() {
                break;
            }
        }
        let matters = counts.matters() as i64;
        let version = number(db, now.naive_utc(), f, t, matters).await?;
        let trained = Arc::new(Trained { version, trained_at: now, resolved_from: from, resolved_to: now, counts });
        match self.current.write() {
            Ok(mut m) => *m = Some(trained.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(trained.clone()),
        }
        tracing::info!(version, matters, "unit suggester trained");
        Ok(trained)
    }
}

/// Numbers a training: the next version after the last recorded. Two replicas that train at the
/// same moment may both pick the same number on PostgreSQL; the second insert then fails on the
/// key and takes the next number.
async fn number(
    db: &Db,
    trained_at: chrono::NaiveDateTime,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
    matters: i64,
) -> Result<i32, DbError> {
    use diesel::result::{DatabaseErrorKind, Error};
    let mut attempts = 0;
    loop {
        attempts += 1;
        let numbered = db
            .write(move |c| {
                let last: Option<i32> =
                    suggester_models::table.select(diesel::dsl::max(suggester_models::version)).first(c)?;
                let version = last.unwrap_or(0) + 1;
                diesel::insert_into(suggester_models::table)
                    .values((
                        suggester_models::version.eq(version),
                        suggester_models::trained_at.eq(trained_at),
                        suggester_models::resolved_from.eq(from),
                        suggester_models::resolved_to.eq(to),
                        suggester_models::matters.eq(matters),
                    ))
                    .execute(c)?;
                Ok::<_, DbError>(version)
            })
            .await;
        match numbered {
            Err(DbError::Query(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) if attempts < 5 => {}
            other => return other,
        }
    }
}
