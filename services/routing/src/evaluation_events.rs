//! Routing's consumer of evaluation's stream: re-handling (重办) requested after an unsatisfied
//! rating re-opens the named dispatches, in the consumer's transaction, logged like any action.

use caseflow_proto::v1 as pb;
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::{AnyConnection, SharedClock, event_log};

use crate::dispatching::{load_dispatch, load_matter, save_dispatch, save_matter};
use crate::error::RoutingError;
use crate::lifecycle::{Action, State, next};
use crate::record::{Change, record};

pub struct EvaluationEvents {
    pub clock: SharedClock,
}

const ACTOR: &str = "system:evaluation";

impl EventHandler for EvaluationEvents {
    fn apply(&self, c: &mut AnyConnection, event: &pb::EventEnvelope) -> Result<(), ApplyError> {
        let decoded: pb::EvaluationEvent =
            event_log::decode(event).map_err(|reason| ApplyError::Refused { position: event.position, reason })?;
        let Some(pb::evaluation_event::Kind::RehandlingRequested(r)) = decoded.kind else { return Ok(()) };
        let now = event_log::recorded_at(event).unwrap_or_else(|| self.clock.now());
        for id in &r.dispatch_ids {
            let result = (|| -> Result<(), RoutingError> {
                let mut d = load_dispatch(c, id)?;
                let from = State::parse(&d.state).unwrap_or(State::Dispatched);
                let Some(to) = next(from, Action::Rehandle) else {
                    tracing::warn!(dispatch_id = %id, state = from.as_str(), "re-handling requested for a dispatch that is not resolved; nothing to re-open");
                    return Ok(());
                };
                let mut m = load_matter(c, &d.matter_id)?;
                d.state = to.as_str().to_owned();
                d.resolved_at = None;
                d.reviewed_at = None;
                save_dispatch(c, &mut d)?;
                m.state = "open".into();
                m.resolved_at = None;
                save_matter(c, &mut m)?;
                record(
                    c,
                    now,
                    &m,
                    Some(&d),
                    Change {
                        action: Action::Rehandle.as_str(),
                        from: from.as_str().into(),
                        to: to.as_str().into(),
                        actor: ACTOR.into(),
                        reason: r.reason.clone(),
                        ..Change::default()
                    },
                )?;
                Ok(())
            })();
            match result {
                Ok(()) => {}
                Err(RoutingError::Db(e)) => return Err(ApplyError::Db(e)),
                Err(other) => {
                    tracing::warn!(dispatch_id = %id, error = %caseflow_runtime::Problem::from(other), "re-handling request not applied");
                }
            }
        }
        Ok(())
    }
}
