//! The suggester's API (`suggest`): a matter's likely units with their evidence, the model in
//! use and its retraining (on demand and on a schedule), and first-assignment accuracy.

use std::time::Duration;

use caseflow_runtime::auth::{Principal, Role};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::dispatching::load_matter;
use crate::error::RoutingError;
use crate::service::{DISPATCHERS, Routing};
use crate::suggest::accuracy::{self, Figures};
use crate::suggest::advice::{self, Suggestion};
use crate::suggest::contradictions::{self, ContradictionReport};
use crate::suggest::features::Traits;
use crate::suggest::{ModelView, WINDOW_DAYS, history};

const ACCURACY_READERS: &[Role] = &[Role::Dispatcher, Role::Admin, Role::EfficiencyOffice];

/// The longest period the accuracy report and the catalog's contradictions read at once: a
/// year (and a leap day), as reporting's reports; each matter of it is held while it is judged.
pub const MAX_PERIOD_DAYS: i64 = 366;

fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), RoutingError> {
    if to <= from {
        return Err(RoutingError::field("to", "must be after `from`"));
    }
    if to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return Err(RoutingError::field("to", format!("must be at most {MAX_PERIOD_DAYS} days after `from`")));
    }
    Ok(())
}

/// A matter's suggestions, from one model.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    pub matter_id: String,
    /// The model they come from (recorded with them wherever they are used).
    pub model: ModelView,
    /// At most three, most likely first; none before any matter was resolved.
    pub suggestions: Vec<Suggestion>,
}

/// First-assignment accuracy over the matters received in a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccuracyReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Matters received in the period with a lead dispatch; `figures.measured` of them are
    /// resolved, the rest are not measured.
    pub received: u64,
    pub not_resolved: u64,
    /// For each matter the suggester learned only the matters resolved in this many days
    /// before it arrived.
    pub window_days: i64,
    pub figures: Figures,
}

impl Routing {
    /// The units history ranks first for a matter (a dispatcher's triage).
    pub async fn suggestions(&self, p: &Principal, matter_id: &str) -> Result<Suggestions, RoutingError> {
        p.require("read suggestions", DISPATCHERS)?;
        let id = matter_id.to_owned();
        let matter = self.db.read(move |c| load_matter(c, &id)).await?;
        let model = self.suggester.current_or_train(&self.db, self.clock.now()).await?;
        let traits = Traits::of(&matter);
        let suggestions = advice::suggestions(&model, &traits, &self.rules.registry, 3);
        Ok(Suggestions { matter_id: matter.matter_id.clone(), model: ModelView::from(model.as_ref()), suggestions })
    }

    /// The model in use (trained now if none was since the service started).
    pub async fn suggester_model(&self, p: &Principal) -> Result<ModelView, RoutingError> {
        p.require("read the suggester's model", ACCURACY_READERS)?;
        Ok(ModelView::from(self.suggester.current_or_train(&self.db, self.clock.now()).await?.as_ref()))
    }

    /// Trains a new model from the routing log now and puts it in use.
    pub async fn train_suggester(&self, p: &Principal) -> Result<ModelView, RoutingError> {
        p.require("retrain the suggester", DISPATCHERS)?;
        Ok(ModelView::from(self.suggester.train(&self.db, self.clock.now()).await?.as_ref()))
    }

    /// Trains now, in the background (the service is ready meanwhile: matters that arrive
    /// before the first model go to triage and dispatch without its word), then every `every`
    /// until `stop`.
    pub async fn run_suggester_training(self, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                trained = self.suggester.train(&self.db, self.clock.now()) => if let Err(e) = trained {
                    tracing::warn!(error = %e, "unit suggester training failed; retrying at the next round");
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// First-assignment accuracy for the matters received in `[from, to)`.
    pub async fn suggester_accuracy(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<AccuracyReport, RoutingError> {
        p.require("read first-assignment accuracy", ACCURACY_READERS)?;
        check_period(from, to)?;
        let window = chrono::Duration::days(WINDOW_DAYS);
        let (f, t, learn_from) = (from.naive_utc(), to.naive_utc(), (from - window).naive_utc());
        let (received, figures) = self
            .db
            .snapshot(move |c| {
                let arrivals = history::received_between(c, f, t)?;
                // The year before each arrival is read twice, a page at a time (learned, then
                // forgotten as the window slides), never held whole.
                let conn = std::cell::RefCell::new(c);
                let (mut learn, mut forget) = (
                    history::Pages::new(&conn, learn_from, t, history::PAGE),
                    history::Pages::new(&conn, learn_from, t, history::PAGE),
                );
                let figures = accuracy::measure(&mut learn, &mut forget, &arrivals, window)?;
                Ok::<_, RoutingError>((arrivals.len() as u64, figures))
            })
            .await?;
        Ok(AccuracyReport {
            from,
            to,
            received,
            not_resolved: received - figures.measured,
            window_days: WINDOW_DAYS,
            figures,
        })
    }

    /// The catalog entries whose unit handed on (returned or transferred) most of the matters
    /// received in `[from, to)` that the entry gave it, with who resolved them.
    pub async fn catalog_contradictions(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ContradictionReport, RoutingError> {
        p.require("read the catalog's contradictions", ACCURACY_READERS)?;
        check_period(from, to)?;
        let (f, t) = (from.naive_utc(), to.naive_utc());
        let arrivals = self.db.read(move |c| Ok::<_, RoutingError>(history::received_between(c, f, t)?)).await?;
        let rules = self.rules.clone();
        let entries = tokio::task::spawn_blocking(move || {
            contradictions::contradicted(&arrivals, &rules.catalog, &rules.registry)
        })
        .await
        .map_err(|e| RoutingError::Db(caseflow_runtime::DbError::Unavailable(e.to_string())))?;
        Ok(ContradictionReport { from, to, min_matters: crate::suggest::advice::MIN_SUCH, entries })
    }
}
