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
use crate::suggest::features::Traits;
use crate::suggest::{ModelView, WINDOW_DAYS, history};

const ACCURACY_READERS: &[Role] = &[Role::Dispatcher, Role::Admin, Role::EfficiencyOffice];

/// A unit history points to for a matter.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Suggestion {
    pub unit: String,
    pub unit_name: String,
    /// The unit's share of the model's belief over all units, 0 to 1.
    pub score: f64,
    /// Such matters (same category) the unit resolved, out of all such matters resolved, in
    /// the model's window: in the matter's sub-district (`scope` sub_district) when there were
    /// any there, else in the district.
    pub resolved: u64,
    pub of: u64,
    /// sub_district | district
    pub scope: String,
    /// The same, in words.
    pub evidence: String,
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
        let traits = Traits {
            category: &matter.category,
            sub_district: &matter.sub_district,
            source: &matter.source,
            kind: &matter.kind,
            summary: &matter.summary,
        };
        let registry = &self.rules.registry;
        let name = |code: &str| registry.get(code).map_or_else(|| code.to_owned(), |u| u.name.clone());
        let place = registry
            .get(&matter.sub_district)
            .map(|u| u.aliases.first().cloned().unwrap_or_else(|| u.name.clone()))
            .unwrap_or_else(|| matter.sub_district.clone());
        let suggestions = model
            .counts
            .rank(&traits, 3)
            .into_iter()
            .map(|r| {
                let where_ = if r.here { place.clone() } else { "the district".to_owned() };
                Suggestion {
                    unit_name: name(&r.unit),
                    evidence: format!(
                        "{} resolved {} of {} such matters ({}) in {} in the last {WINDOW_DAYS} days",
                        name(&r.unit),
                        r.resolved,
                        r.of,
                        matter.category,
                        where_
                    ),
                    unit: r.unit,
                    score: (r.score * 1000.0).round() / 1000.0,
                    resolved: r.resolved,
                    of: r.of,
                    scope: if r.here { "sub_district" } else { "district" }.to_owned(),
                }
            })
            .collect();
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

    /// Retrains every `every` until `stop`; the first model is trained when first asked for.
    pub async fn run_suggester_training(self, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.suggester.train(&self.db, self.clock.now()).await {
                tracing::warn!(error = %e, "unit suggester training failed; retrying at the next round");
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
        if to <= from {
            return Err(RoutingError::field("to", "must be after `from`"));
        }
        let window = chrono::Duration::days(WINDOW_DAYS);
        let (f, t, learn_from) = (from.naive_utc(), to.naive_utc(), (from - window).naive_utc());
        let (training, arrivals) = self
            .db
            .snapshot(move |c| {
                Ok::<_, RoutingError>((
                    history::resolved_between(c, learn_from, t)?,
                    history::received_between(c, f, t)?,
                ))
            })
            .await?;
        let received = arrivals.len() as u64;
        let figures = tokio::task::spawn_blocking(move || accuracy::measure(&training, &arrivals, window))
            .await
            .map_err(|e| RoutingError::Db(caseflow_runtime::DbError::Unavailable(e.to_string())))?;
        Ok(AccuracyReport {
            from,
            to,
            received,
            not_resolved: received - figures.measured,
            window_days: WINDOW_DAYS,
            figures,
        })
    }
}
