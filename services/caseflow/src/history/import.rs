//! `caseflow import FILE`: replays an import file through the services' public gRPC APIs.
//!
//! - It runs as the importer: each call acts as the role that did the thing (the platform, a
//!   dispatcher, a unit, the petition desk) under that role's rules, at the line's `at`.
//! - Lines are applied in time order (ties in file order) within each group of lines that must
//!   keep their order (a case's lines, a person's cases, related cases, a reception and its
//!   cases: `lanes`); up to 64 groups go at once ([`DEFAULT_LANES`]). A line that cannot be
//!   read, or that a rule refuses, is reported with its number and the reason; the others are
//!   still applied.
//! - A journal beside the file (`FILE.journal`) records each line's outcome and the ids it
//!   produced, appended as it goes: a second run of the same file finds every line done and
//!   changes nothing; a run that was interrupted resumes with the lines not recorded.
//! - Each line's write carries an idempotency key made of the file's hash and the line number
//!   (`runtime::idempotency`). The service keeps the key in the write's own transaction with the
//!   answer beside it, so a line applied but not recorded (the importer died, or the answer was
//!   lost on the wire) is answered again as the first time, with its ids (a return's or an
//!   extension's id included), and never applied twice.
//! - A service that cannot be reached (stopped, restarting, the connection cut mid-call) is
//!   never a bad line: the line is sent again, under the same key, with back-off for up to
//!   `outage_patience`. If the service stays away, the import stops, records nothing for that
//!   line, and says where a new run resumes.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;

use caseflow_proto::v1 as pb;
use caseflow_runtime::config::Secret;
use caseflow_runtime::grpc_client::{AuthedChannel, ServiceChannel};
use caseflow_runtime::time;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::format::{self, DispatchKey, Event, Line};

/// How long a line waits for what another service is still making before it counts as bad.
const PATIENCE: Duration = Duration::from_secs(10);

/// How long one call asks the service to wait for what it needs (`runtime::awaiting`): short,
/// so that a service stopping is not held up by waiting calls; the line asks again until
/// `PATIENCE` has passed.
const WAIT_PER_CALL: Duration = Duration::from_secs(2);

/// Where the services are, and the importer's key.
#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    pub intake: String,
    pub routing: String,
    pub evaluation: String,
    pub key: Secret,
    /// Print progress to stderr about once a second.
    pub progress: bool,
    /// How long a line is retried while a service cannot be reached before the import stops.
    pub outage_patience: Duration,
    /// How many groups of lines (`lanes`) go at once ([`DEFAULT_LANES`]).
    pub lanes: usize,
    /// Where to count lines by outcome (`caseflow_import_lines_total`), pushed to the OTLP
    /// endpoint by the command-line import when one is configured.
    pub metrics: Option<caseflow_runtime::metrics::Metrics>,
}

/// The outage a command-line import rides out before it stops: a service restart takes seconds.
pub const DEFAULT_OUTAGE_PATIENCE: Duration = Duration::from_secs(60);

/// `caseflow_import_lines_total{outcome}`: what an operator watches an import's pace by.
fn lines_done(metrics: &caseflow_runtime::metrics::Metrics) -> caseflow_runtime::metrics::Count {
    metrics.count("caseflow_import_lines", "Import lines done, by outcome (applied, already_done, bad)")
}

/// A line that was not applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub lines: usize,
    /// Applied by this run.
    pub applied: usize,
    /// Recorded as done by an earlier run, or found applied after an interruption.
    pub already_done: usize,
    pub bad: Vec<BadLine>,
    /// Applied lines per type.
    pub by_type: BTreeMap<String, usize>,
}

/// Ids a line produced, kept in the journal so that later lines can name them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Ids {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    matters: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    petition: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    return_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extension_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reception_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
enum JournalEntry {
    File {
        sha256: String,
        lines: usize,
    },
    Line {
        line: usize,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default)]
        ids: Ids,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Applied,
    Bad,
}

/// The names the file uses, and Caseflow's ids for them.
#[derive(Debug, Default)]
struct Names {
    /// case number -> (case id, matter ids in order, petition?)
    cases: BTreeMap<String, (String, Vec<String>, bool)>,
    returns: BTreeMap<DispatchKey, String>,
    extensions: BTreeMap<DispatchKey, String>,
    receptions: BTreeMap<String, String>,
    /// The dispatch a key named last, until a line that may move the case's dispatches
    /// (`forget_dispatches`): a dispatch's unit actions then need one look-up, not one each.
    dispatches: std::sync::Mutex<BTreeMap<DispatchKey, String>>,
}

impl Names {
    /// Before a line that may make, close or move dispatches (anything but a unit's action on
    /// its dispatch, or the decision on its extension), the looked-up dispatches are forgotten.
    fn forget_dispatches(&self, line: &Line) {
        let keeps = matches!(
            line.event,
            Event::Acknowledge { .. }
                | Event::Land { .. }
                | Event::Reply { .. }
                | Event::CaseAnalysis { .. }
                | Event::Review { .. }
                | Event::Resolve { .. }
                | Event::ReturnRequest { .. }
                | Event::ExtensionRequest { .. }
                | Event::ExtensionDecision { .. }
        );
        if !keeps && let Ok(mut known) = self.dispatches.lock() {
            known.clear();
        }
    }
}

impl Names {
    fn learn(&mut self, line: &Line, ids: &Ids) {
        match &line.event {
            Event::HotlineOrder { order } => {
                if let Some(id) = &ids.case_id {
                    self.cases.insert(order.order_number.clone(), (id.clone(), ids.matters.clone(), false));
                }
            }
            Event::Petition { petition } => {
                if let Some(id) = &ids.case_id {
                    self.cases.insert(petition.petition_number.clone(), (id.clone(), ids.matters.clone(), true));
                }
            }
            Event::ReturnRequest { dispatch, .. } => {
                if let Some(id) = &ids.return_id {
                    self.returns.insert(dispatch.clone(), id.clone());
                }
            }
            Event::ExtensionRequest { dispatch, .. } => {
                if let Some(id) = &ids.extension_id {
                    self.extensions.insert(dispatch.clone(), id.clone());
                }
            }
            Event::LeaderReception { reception_number, .. } => {
                if let Some(id) = &ids.reception_id {
                    self.receptions.insert(reception_number.clone(), id.clone());
                }
            }
            _ => {}
        }
    }

    fn case(&self, number: &str) -> Result<&(String, Vec<String>, bool), String> {
        self.cases.get(number).ok_or_else(|| {
            format!("case: '{number}' is not known (its hotline_order or petition line must come first and be applied)")
        })
    }

    fn matter(&self, number: &str, ordinal: u32) -> Result<String, String> {
        let (_, matters, _) = self.case(number)?;
        usize::try_from(ordinal)
            .ok()
            .and_then(|o| o.checked_sub(1))
            .and_then(|i| matters.get(i))
            .cloned()
            .ok_or_else(|| format!("matter: case '{number}' has {} matters, not {ordinal}", matters.len()))
    }
}

/// A line's refusal: its reason, and the rule that refused (if the service named one).
struct Refusal {
    reason: String,
    rule: Option<String>,
    code: tonic::Code,
    /// What the line needs is still on its way (routing has not dispatched the new case yet,
    /// evaluation has not opened the resolved one), or another write to the same record won
    /// the moment (nothing of the line was applied): worth asking again shortly.
    pending: bool,
}

/// The rules a service refuses a write by when another write changed the same record between
/// its read and its own write (`Aborted`; the transaction rolled back): routing's version check
/// and evaluation's. Sent again, the line applies to the record as it is now. Under the import's
/// lanes on PostgreSQL an expiry line met evaluation's own expiry of the same part this way, and
/// the line was counted bad.
const CONCURRENT_CHANGE: [&str; 2] = ["concurrency.version", "evaluation.concurrent"];

/// The rule evaluation refuses a rating or follow-up by while the case's evaluation, or the
/// rated unit's part in it, is not open yet: routing's resolution has not reached evaluation.
const EVALUATION_NOT_OPEN: &str = "evaluation.not_open";

impl From<tonic::Status> for Refusal {
    fn from(s: tonic::Status) -> Self {
        let rule = caseflow_runtime::error::status_rule(&s);
        Self {
            reason: caseflow_runtime::error::status_reason(&s),
            // A unit's part opens when its resolution reaches evaluation, as the evaluation
            // itself does: behind a service that restarted or a busy machine that can take
            // longer than one call's wait, so the line asks again until its patience is out.
            pending: rule.as_deref() == Some(EVALUATION_NOT_OPEN)
                || rule.as_deref().is_some_and(|r| CONCURRENT_CHANGE.contains(&r))
                || (s.code() == tonic::Code::NotFound && s.message().contains("not resolved yet")),
            rule,
            code: s.code(),
        }
    }
}

impl Refusal {
    /// The call did not reach a service, or its answer did not come back: nothing says whether
    /// it was applied, and sending it again is the way to find out. (tonic reports a connection
    /// cut mid-call as `Unknown` "transport error", or as `Internal` "h2 protocol error" when
    /// the HTTP/2 stream is reset; the services' own `Internal` answers say neither.)
    fn is_transport(&self) -> bool {
        match self.code {
            tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::DeadlineExceeded => true,
            tonic::Code::Unknown | tonic::Code::Internal => {
                let r = self.reason.to_ascii_lowercase();
                ["transport", "connection", "broken pipe", "h2 protocol", "stream closed"].iter().any(|w| r.contains(w))
            }
            _ => false,
        }
    }
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Self { reason, rule: None, code: tonic::Code::InvalidArgument, pending: false }
    }
}

#[derive(Clone)]
struct Clients {
    /// The first 16 hex digits of the file's SHA-256, in every line's idempotency key.
    file_key: String,
    intake: pb::intake_client::IntakeClient<AuthedChannel>,
    routing: pb::routing_client::RoutingClient<AuthedChannel>,
    evaluation: pb::evaluation_client::EvaluationClient<AuthedChannel>,
}

/// The line a call is made for: its time, and the idempotency key its write carries.
struct Moment<'a> {
    at: &'a chrono::DateTime<chrono::FixedOffset>,
    /// `import:<first 16 hex digits of the file's SHA-256>:<line number>`: the same on every
    /// run of the same file, so a line applied but not journaled is answered, not applied again.
    /// None: the call goes without (`answer_again`).
    key: Option<String>,
}

/// A request acting as `role` at the line's moment, under the line's idempotency key (a
/// read ignores the key; each line makes one write).
fn request<T>(message: T, role: &str, at: &Moment<'_>) -> Result<tonic::Request<T>, Refusal> {
    let mut r = tonic::Request::new(message);
    let meta = r.metadata_mut();
    let bad = |what: &str| Refusal::from(format!("{what} cannot be sent as a header"));
    meta.insert(caseflow_runtime::auth::ACT_AS_HEADER, role.parse().map_err(|_| bad("the role"))?);
    meta.insert(caseflow_runtime::auth::EVENT_TIME_HEADER, at.at.to_rfc3339().parse().map_err(|_| bad("at"))?);
    if let Some(key) = &at.key {
        meta.insert(caseflow_runtime::idempotency::HEADER, key.parse().map_err(|_| bad("the line's key"))?);
    }
    // What the line needs may still be on its way (a new case's dispatch, a resolved case's
    // evaluation): the service answers as soon as it is made (`runtime::awaiting`).
    meta.insert(
        caseflow_runtime::awaiting::HEADER,
        WAIT_PER_CALL.as_millis().to_string().parse().map_err(|_| bad("the wait"))?,
    );
    r.set_timeout(Duration::from_secs(30));
    Ok(r)
}

fn decision(d: &format::Decision) -> pb::PetitionDecision {
    pb::PetitionDecision {
        outcome: d.outcome.clone(),
        legal_channel: d.legal_channel.clone(),
        concluded_case: d.concluded_case.clone(),
        forwarded_to: d.forwarded_to.clone(),
        notice: d.notice.clone(),
    }
}

fn ts(t: &chrono::DateTime<chrono::FixedOffset>) -> Option<prost_types::Timestamp> {
    Some(time::to_proto(t.with_timezone(&chrono::Utc)))
}

fn location(l: &format::Location) -> Option<pb::Location> {
    Some(pb::Location { sub_district: l.sub_district.clone(), address: l.address.clone(), lat: None, lon: None })
}

fn citizen(c: &format::Citizen) -> Option<pb::Citizen> {
    Some(pb::Citizen {
        name: c.name.clone(),
        phone: c.phone.clone(),
        anonymous: c.anonymous,
        hide_identity: c.hide_identity,
        id_number: c.id_number.clone(),
    })
}

fn matters(m: &[format::Matter]) -> Vec<pb::MatterInput> {
    m.iter()
        .map(|m| pb::MatterInput {
            category: m.category.clone(),
            summary: m.summary.clone(),
            target_unit: m.target_unit.clone(),
        })
        .collect()
}

fn channel(c: &str) -> Result<pb::HotlineChannel, Refusal> {
    Ok(match c {
        "phone" => pb::HotlineChannel::Phone,
        "web" => pb::HotlineChannel::Web,
        "app" => pb::HotlineChannel::App,
        "mini_program" => pb::HotlineChannel::MiniProgram,
        "merged_hotline" => pb::HotlineChannel::MergedHotline,
        other => {
            return Err(format!(
                "order.channel: '{other}' is not one of phone, web, app, mini_program, merged_hotline"
            )
            .into());
        }
    })
}

fn case_ids(view: Option<pb::CaseView>, petition: bool) -> Ids {
    let view = view.unwrap_or_default();
    let mut ms = view.matters;
    ms.sort_by_key(|m| m.ordinal);
    Ids {
        case_id: Some(view.case_id),
        matters: ms.into_iter().map(|m| m.matter_id).collect(),
        petition: Some(petition),
        ..Ids::default()
    }
}

/// The id of the unit's last `what` request on the dispatch, which a decision line decides.
fn requested(ids: &BTreeMap<DispatchKey, String>, key: &DispatchKey, what: &str) -> Result<String, Refusal> {
    ids.get(key).cloned().ok_or_else(|| {
        Refusal::from(format!(
            "unit: no {what} request of {} for matter {} of case '{}' is known",
            key.unit, key.matter, key.case
        ))
    })
}

impl Clients {
    /// The lead dispatch of `key`: the one the unit holds now, else its latest.
    async fn dispatch(&mut self, names: &Names, key: &DispatchKey, at: &Moment<'_>) -> Result<String, Refusal> {
        if let Some(id) = names.dispatches.lock().ok().and_then(|known| known.get(key).cloned()) {
            return Ok(id);
        }
        let (case_id, _, _) = names.case(&key.case)?;
        let matter_id = names.matter(&key.case, key.matter)?;
        let list = self
            .routing
            .list_case_dispatches(request(
                pb::ListCaseDispatchesRequest {
                    case_id: case_id.clone(),
                    wait_for_matter_id: matter_id.clone(),
                    wait_for_unit: key.unit.clone(),
                },
                "dispatcher",
                at,
            )?)
            .await?
            .into_inner();
        let mut candidates: Vec<pb::DispatchView> =
            list.dispatches.into_iter().filter(|d| d.matter_id == matter_id && d.unit == key.unit).collect();
        candidates.sort_by_key(|d| std::cmp::Reverse(d.assignment));
        let closed = |d: &pb::DispatchView| matches!(d.state.as_str(), "returned" | "transferred" | "superseded");
        let found =
            candidates.iter().find(|d| !closed(d)).or_else(|| candidates.first()).map(|d| d.dispatch_id.clone());
        if let (Some(id), Ok(mut known)) = (&found, names.dispatches.lock()) {
            known.insert(key.clone(), id.clone());
        }
        found.ok_or_else(|| {
            let why = format!("unit: {} holds no dispatch of matter {} of case '{}'", key.unit, key.matter, key.case);
            Refusal { pending: true, ..Refusal::from(why) }
        })
    }

    async fn apply(&mut self, names: &Names, line: &Line, number: usize) -> Result<Ids, Refusal> {
        self.apply_as(names, line, Some(format!("import:{}:{number}", self.file_key))).await
    }

    /// The ids of a line applied under its key whose answer was lost (the service died between
    /// its commit and keeping the answer): a case or a reception is asked again without the key,
    /// by its own number, which answers with the record it made; a return or extension request's
    /// id is the one its key derives. Other lines make no record later lines name.
    async fn answer_again(&mut self, names: &Names, line: &Line, number: usize) -> Result<Ids, Refusal> {
        let key = format!("import:{}:{number}", self.file_key);
        let derived = |kind: &str| Some(caseflow_runtime::idempotency::derived_id(&key, kind));
        match &line.event {
            Event::HotlineOrder { .. } | Event::Petition { .. } | Event::LeaderReception { .. } => {
                self.apply_as(names, line, None).await
            }
            // A keyed request's record has the id its key derives (`idempotency::record_id`).
            Event::ReturnRequest { .. } => Ok(Ids { return_id: derived("return"), ..Ids::default() }),
            Event::ExtensionRequest { .. } => Ok(Ids { extension_id: derived("extension"), ..Ids::default() }),
            _ => Ok(Ids::default()),
        }
    }

    async fn apply_as(&mut self, names: &Names, line: &Line, key: Option<String>) -> Result<Ids, Refusal> {
        let at = &Moment { at: &line.at, key };
        let unit_role = |k: &DispatchKey| format!("unit_handler:{}", k.unit);
        match &line.event {
            Event::HotlineOrder { order } => {
                let related = match &order.related_case {
                    Some(n) => names.case(n)?.0.clone(),
                    None => String::new(),
                };
                let msg = pb::SubmitHotlineOrderRequest {
                    order: Some(pb::HotlineOrder {
                        order_number: order.order_number.clone(),
                        received_at: ts(&order.received_at),
                        channel: channel(&order.channel)? as i32,
                        kind: pb::CaseKind::from_code(&order.kind) as i32,
                        category: order.category.clone(),
                        content: order.content.clone(),
                        location: location(&order.location),
                        citizen: citizen(&order.citizen),
                        matters: matters(&order.matters),
                        related_case_id: related,
                    }),
                };
                let r = self.intake.submit_hotline_order(request(msg, "integrator", at)?).await?.into_inner();
                Ok(case_ids(r.case, false))
            }
            Event::Petition { petition: p } => {
                let related = match &p.related_case {
                    Some(n) => names.case(n)?.0.clone(),
                    None => String::new(),
                };
                let msg = pb::SubmitPetitionRequest {
                    petition: Some(pb::Petition {
                        petition_number: p.petition_number.clone(),
                        received_at: ts(&p.received_at),
                        channel: p.channel.clone(),
                        purpose: p.purpose.clone(),
                        accused_unit: p.accused_unit.clone(),
                        category: p.category.clone(),
                        content: p.content.clone(),
                        location: location(&p.location),
                        citizen: citizen(&p.citizen),
                        matters: matters(&p.matters),
                        visit_batches: p.visit_batches,
                        visit_persons: p.visit_persons,
                        joint_signers: p.joint_signers,
                        single_visit: p.single_visit,
                        related_case_id: related,
                        decision: p.decision.as_ref().map(decision),
                    }),
                };
                let r = self.intake.submit_petition(request(msg, "dispatcher", at)?).await?.into_inner();
                Ok(case_ids(r.case, true))
            }
            Event::PetitionDecision { case, decision: d } => {
                let case_id = names.case(case)?.0.clone();
                let msg = pb::DecidePetitionRequest { case_id, decision: Some(decision(d)) };
                self.intake.decide_petition(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::ReviewRequest { case, level, reviewing_body, answer_received_at } => {
                let case_id = names.case(case)?.0.clone();
                let msg = pb::RequestReviewRequest {
                    case_id,
                    level: level.clone(),
                    reviewing_body: reviewing_body.clone(),
                    answer_received_at: answer_received_at.to_rfc3339(),
                    requested_at: String::new(),
                };
                self.intake.request_review(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::ReviewDecision { case, level, outcome, opinion } => {
                let case_id = names.case(case)?.0.clone();
                let msg = pb::DecideReviewRequest {
                    case_id,
                    level: level.clone(),
                    outcome: outcome.clone(),
                    opinion: opinion.clone(),
                    decided_at: String::new(),
                };
                self.intake.decide_review(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::Acknowledge { dispatch } => {
                let id = self.dispatch(names, dispatch, at).await?;
                self.routing
                    .acknowledge(request(pb::DispatchRef { dispatch_id: id }, &unit_role(dispatch), at)?)
                    .await?;
                Ok(Ids::default())
            }
            Event::Land { dispatch, method, note } => {
                let id = self.dispatch(names, dispatch, at).await?;
                let msg =
                    pb::LandRequest { dispatch_id: id, at: ts(at.at), method: method.clone(), note: note.clone() };
                self.routing.land(request(msg, &unit_role(dispatch), at)?).await?;
                Ok(Ids::default())
            }
            Event::Reply { dispatch, text } => {
                let id = self.dispatch(names, dispatch, at).await?;
                let msg = pb::TextRequest { dispatch_id: id, text: text.clone() };
                self.routing.reply(request(msg, &unit_role(dispatch), at)?).await?;
                Ok(Ids::default())
            }
            Event::CaseAnalysis { dispatch, text } => {
                let id = self.dispatch(names, dispatch, at).await?;
                let msg = pb::TextRequest { dispatch_id: id, text: text.clone() };
                self.routing.file_case_analysis(request(msg, &unit_role(dispatch), at)?).await?;
                Ok(Ids::default())
            }
            Event::Review { dispatch, accept, reason } => {
                let id = self.dispatch(names, dispatch, at).await?;
                let msg = pb::ReviewRequest { dispatch_id: id, accept: *accept, reason: reason.clone() };
                self.routing.review(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::Resolve { dispatch } => {
                let id = self.dispatch(names, dispatch, at).await?;
                self.routing.resolve(request(pb::DispatchRef { dispatch_id: id }, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::ReturnRequest {
                dispatch,
                reason_code,
                reason,
                proposed_unit,
                catalog_entry,
                legal_basis,
                contact,
            } => {
                let id = self.dispatch(names, dispatch, at).await?;
                let msg = pb::ReturnRequest {
                    dispatch_id: id,
                    reason_code: reason_code.clone(),
                    reason: reason.clone(),
                    proposed_unit: proposed_unit.clone(),
                    catalog_entry: catalog_entry.clone().unwrap_or_default(),
                    legal_basis: legal_basis.clone().unwrap_or_default(),
                    contact: contact.as_ref().map(|c| pb::ContactRecord {
                        at: ts(&c.at),
                        method: c.method.clone(),
                        learned: c.learned.clone(),
                    }),
                };
                let r = self.routing.request_return(request(msg, &unit_role(dispatch), at)?).await?.into_inner();
                Ok(Ids { return_id: Some(r.return_id), ..Ids::default() })
            }
            Event::ReturnDecision { dispatch, approve, reason, next_unit } => {
                let id = requested(&names.returns, dispatch, "return")?;
                let msg = pb::DecisionRequest {
                    id,
                    approve: *approve,
                    reason: reason.clone(),
                    unit: next_unit.clone().unwrap_or_default(),
                    days: 0,
                };
                self.routing.decide_return(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::ExtensionRequest { dispatch, days, reason, progress } => {
                let id = self.dispatch(names, dispatch, at).await?;
                let msg = pb::ExtensionRequest {
                    dispatch_id: id,
                    days: *days,
                    reason: reason.clone(),
                    progress: progress.clone(),
                };
                let r = self.routing.request_extension(request(msg, &unit_role(dispatch), at)?).await?.into_inner();
                Ok(Ids { extension_id: Some(r.extension_id), ..Ids::default() })
            }
            Event::ExtensionDecision { dispatch, approve, reason, days } => {
                let id = requested(&names.extensions, dispatch, "extension")?;
                let msg = pb::DecisionRequest {
                    id,
                    approve: *approve,
                    reason: reason.clone(),
                    unit: String::new(),
                    days: days.unwrap_or(0),
                };
                self.routing.decide_extension(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::Transfer { dispatch, to, reason, basis } => {
                let id = self.dispatch(names, dispatch, at).await?;
                let msg = pb::UnitChoiceRequest { id, unit: to.clone(), reason: reason.clone(), basis: basis.clone() };
                self.routing.transfer(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::Designate { case, matter, unit, reason, basis } => {
                let id = names.matter(case, *matter)?;
                let msg =
                    pb::UnitChoiceRequest { id, unit: unit.clone(), reason: reason.clone(), basis: basis.clone() };
                self.routing.designate(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::Assign { case, matter, unit, reason } => {
                let id = names.matter(case, *matter)?;
                let msg =
                    pb::UnitChoiceRequest { id, unit: unit.clone(), reason: reason.clone(), basis: String::new() };
                self.routing.assign(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
            Event::Rating { case, level, unit_levels } => {
                let (case_id, _, petition) = names.case(case)?;
                let role = if *petition { "evaluator" } else { "integrator" };
                let msg = pb::RateRequest {
                    case_id: case_id.clone(),
                    level: level.clone(),
                    unit_levels: unit_levels.clone().into_iter().collect(),
                };
                self.evaluation.rate(request(msg, role, at)?).await?;
                Ok(Ids::default())
            }
            Event::Expiry { case, part } => {
                let (case_id, _, petition) = names.case(case)?;
                let role = if *petition { "evaluator" } else { "integrator" };
                let msg = pb::ExpireRequest { case_id: case_id.clone(), part: part.clone().unwrap_or_default() };
                self.evaluation.expire(request(msg, role, at)?).await?;
                Ok(Ids::default())
            }
            Event::FollowUp { case, outcome, note, part } => {
                let (case_id, _, petition) = names.case(case)?;
                let role = if *petition { "evaluator" } else { "integrator" };
                let msg = pb::FollowUpRequest {
                    case_id: case_id.clone(),
                    outcome: outcome.clone(),
                    note: note.clone(),
                    part: part.clone().unwrap_or_default(),
                };
                self.evaluation.follow_up(request(msg, role, at)?).await?;
                Ok(Ids::default())
            }
            Event::LeaderReception { reception_number, leader_name, leader_title, persons, matters } => {
                let mut ms = Vec::new();
                for m in matters {
                    let case_id = match &m.case {
                        Some(n) => names.case(n)?.0.clone(),
                        None => String::new(),
                    };
                    ms.push(pb::ReceptionMatter { summary: m.summary.clone(), case_id, outcome: m.outcome.clone() });
                }
                let msg = pb::RecordLeaderReceptionRequest {
                    reception_number: reception_number.clone(),
                    leader_name: leader_name.clone(),
                    leader_title: leader_title.clone(),
                    received_at: ts(at.at),
                    persons: *persons,
                    matters: ms,
                };
                let r = self.intake.record_leader_reception(request(msg, "dispatcher", at)?).await?.into_inner();
                Ok(Ids { reception_id: Some(r.reception_id), ..Ids::default() })
            }
            Event::ReceptionOutcome { reception_number, ordinal, outcome } => {
                let id = names.receptions.get(reception_number).cloned().ok_or_else(|| {
                    Refusal::from(format!(
                        "reception_number: '{reception_number}' is not known (its leader_reception line comes first)"
                    ))
                })?;
                let msg =
                    pb::UpdateReceptionOutcomeRequest { reception_id: id, ordinal: *ordinal, outcome: outcome.clone() };
                self.intake.update_reception_outcome(request(msg, "dispatcher", at)?).await?;
                Ok(Ids::default())
            }
        }
    }
}

fn journal_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// A line an earlier run recorded: its number, outcome, reason and ids.
type Recorded = (usize, Outcome, Option<String>, Ids);

/// Reads the journal of an earlier run of the same file: what was done, and the ids it made.
fn read_journal(path: &Path, sha256: &str) -> anyhow::Result<Option<Vec<Recorded>>> {
    let Ok(file) = std::fs::File::open(path) else { return Ok(None) };
    let mut entries = Vec::new();
    for (i, text) in std::io::BufReader::new(file).lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        // A last line cut short by a crash is ignored: that line is simply done again.
        let Ok(entry) = serde_json::from_str::<JournalEntry>(&text) else { continue };
        match entry {
            JournalEntry::File { sha256: s, .. } if i == 0 => {
                if s != sha256 {
                    anyhow::bail!(
                        "{} records another file (its content changed since); remove it to import this one from the start",
                        path.display()
                    );
                }
            }
            JournalEntry::File { .. } => {}
            JournalEntry::Line { line, outcome, reason, ids } => entries.push((line, outcome, reason, ids)),
        }
    }
    Ok(Some(entries))
}

fn append(journal: &mut std::fs::File, entry: &JournalEntry) -> anyhow::Result<()> {
    let mut text = serde_json::to_string(entry)?;
    text.push('\n');
    journal.write_all(text.as_bytes())?;
    Ok(())
}

/// Imports `opts.file`. Ends with what it did; the journal makes it resumable.
pub async fn run(opts: &Options) -> anyhow::Result<Summary> {
    let bytes = std::fs::read(&opts.file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", opts.file.display()))?;
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8", opts.file.display()))?;

    // Read every line first: the bad ones are reported, the good ones sorted by time.
    let mut summary = Summary::default();
    let mut lines: Vec<(usize, Line)> = Vec::new();
    let mut unreadable: Vec<BadLine> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        summary.lines += 1;
        match format::parse(raw) {
            Ok(line) => lines.push((i + 1, line)),
            Err(reason) => unreadable.push(BadLine { line: i + 1, reason }),
        }
    }
    lines.sort_by(|a, b| a.1.at.cmp(&b.1.at).then(a.0.cmp(&b.0)));

    let journal_file = journal_path(&opts.file);
    let earlier = read_journal(&journal_file, &sha256)?;
    let resumed = earlier.is_some();
    // What an earlier run recorded: its lines are done, and their ids name things for the
    // lines still to go.
    let mut done: BTreeMap<usize, Ids> = BTreeMap::new();
    for (n, outcome, reason, ids) in earlier.unwrap_or_default() {
        summary.already_done += 1;
        if outcome == Outcome::Bad {
            summary.already_done -= 1;
            summary.bad.push(BadLine { line: n, reason: reason.unwrap_or_default() });
        }
        done.insert(n, ids);
    }
    let mut journal = std::fs::OpenOptions::new().create(true).append(true).open(&journal_file)?;
    if !resumed {
        append(&mut journal, &JournalEntry::File { sha256: sha256.clone(), lines: summary.lines })?;
    }
    let bad_lines = opts.metrics.as_ref().map(lines_done);
    for bad in unreadable {
        if let std::collections::btree_map::Entry::Vacant(slot) = done.entry(bad.line) {
            slot.insert(Ids::default());
            append(
                &mut journal,
                &JournalEntry::Line {
                    line: bad.line,
                    outcome: Outcome::Bad,
                    reason: Some(bad.reason.clone()),
                    ids: Ids::default(),
                },
            )?;
            summary.bad.push(bad);
            if let Some(count) = &bad_lines {
                count.add_one(&[("outcome", "bad")]);
            }
        }
    }

    let channel = |url: &str| ServiceChannel::new(url, &opts.key).map(|c| c.intercepted());
    let clients = Clients {
        file_key: sha256[..16].to_owned(),
        intake: pb::intake_client::IntakeClient::new(channel(&opts.intake)?),
        routing: pb::routing_client::RoutingClient::new(channel(&opts.routing)?),
        evaluation: pb::evaluation_client::EvaluationClient::new(channel(&opts.evaluation)?),
    };

    // The groups of lines that keep their order (`lanes`) go at once, up to `opts.lanes` at a time.
    let total = lines.iter().filter(|(n, _)| !done.contains_key(n)).count();
    let run = Progress {
        lines: opts.metrics.as_ref().map(lines_done),
        journal: std::sync::Mutex::new(journal),
        summary: std::sync::Mutex::new(summary),
        applied: std::sync::atomic::AtomicUsize::new(0),
        started: Instant::now(),
        last_report: std::sync::Mutex::new(Instant::now()),
        recorded: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        total,
        print: opts.progress,
    };
    let groups = super::lanes::groups(&lines);
    let (lines, done, run_ref) = (&lines, &done, &run);
    let outcome = futures::stream::iter(groups.into_iter().map(Ok::<_, anyhow::Error>))
        .try_for_each_concurrent(opts.lanes.max(1), |group| {
            let mut clients = clients.clone();
            async move {
                let mut names = Names::default();
                for i in group {
                    let (n, line) = &lines[i];
                    if let Some(ids) = done.get(n) {
                        names.learn(line, ids);
                        continue;
                    }
                    names.forget_dispatches(line);
                    let entry = apply_line(&mut clients, &names, line, *n, opts.outage_patience, opts.progress).await?;
                    if let JournalEntry::Line { ids, .. } = &entry {
                        names.learn(line, ids);
                    }
                    run_ref.record(line, entry)?;
                }
                Ok(())
            }
        })
        .await;
    if let Err(stopped) = outcome {
        // Say where a new run resumes: the first line neither an earlier run nor this one did.
        let recorded = run.recorded.lock().map(|r| r.clone()).unwrap_or_default();
        let first = lines.iter().map(|(n, _)| *n).filter(|n| !done.contains_key(n) && !recorded.contains(n)).min();
        let (k, total) = (recorded.len(), run.total);
        anyhow::bail!(
            "{stopped} — stopped with {k} of {total} lines done; run the import again to resume from line {}",
            first.unwrap_or_default()
        );
    }
    let mut journal = run.journal.into_inner().map_err(|_| anyhow::anyhow!("the journal's lock was poisoned"))?;
    journal.flush()?;
    let mut summary = run.summary.into_inner().map_err(|_| anyhow::anyhow!("the summary's lock was poisoned"))?;
    summary.bad.sort_by_key(|b| b.line);
    Ok(summary)
}

/// Groups of lines imported at once (each group in its own order): enough to keep the four
/// services busy while groups wait for a dispatch being made. Measured on SQLite, 2 cores, a
/// 9,448-line file (`benches/writepath.rs`, BENCH_IMPORT_LANES): 16 lanes 1,142 lines/s, 64
/// lanes 1,770, 128 lanes 1,852, 256 lanes 1,552; past 64 the machine is busy, not waiting.
pub const DEFAULT_LANES: usize = 64;

/// A run's shared record: the journal, the summary, and progress for people.
struct Progress {
    /// `caseflow_import_lines_total{outcome}`, when counted.
    lines: Option<caseflow_runtime::metrics::Count>,
    journal: std::sync::Mutex<std::fs::File>,
    summary: std::sync::Mutex<Summary>,
    applied: std::sync::atomic::AtomicUsize,
    started: Instant,
    last_report: std::sync::Mutex<Instant>,
    /// The lines this run recorded.
    recorded: std::sync::Mutex<std::collections::BTreeSet<usize>>,
    total: usize,
    print: bool,
}

impl Progress {
    /// Counts a line's outcome and appends it to the journal.
    fn record(&self, line: &Line, entry: JournalEntry) -> anyhow::Result<()> {
        {
            let mut summary = self.summary.lock().map_err(|_| anyhow::anyhow!("the summary's lock was poisoned"))?;
            if let JournalEntry::Line { line: n, outcome, reason, .. } = &entry {
                if let Some(lines) = &self.lines {
                    let counted = match (outcome, reason) {
                        (Outcome::Bad, _) => "bad",
                        (Outcome::Applied, Some(kind)) if kind == ANSWER_LOST => "already_done",
                        (Outcome::Applied, _) => "applied",
                    };
                    lines.add_one(&[("outcome", counted)]);
                }
                match (outcome, reason) {
                    (Outcome::Bad, reason) => {
                        summary.bad.push(BadLine { line: *n, reason: reason.clone().unwrap_or_default() });
                    }
                    (Outcome::Applied, Some(kind)) if kind == ANSWER_LOST => summary.already_done += 1,
                    (Outcome::Applied, Some(kind)) => {
                        summary.applied += 1;
                        *summary.by_type.entry(kind.clone()).or_default() += 1;
                    }
                    (Outcome::Applied, None) => {
                        summary.applied += 1;
                        *summary.by_type.entry(line.event.kind().to_owned()).or_default() += 1;
                    }
                }
            }
        }
        let entry = match entry {
            // The journal keeps a reason for bad lines only.
            JournalEntry::Line { line, outcome: Outcome::Applied, ids, .. } => {
                JournalEntry::Line { line, outcome: Outcome::Applied, reason: None, ids }
            }
            other => other,
        };
        let n = match &entry {
            JournalEntry::Line { line, .. } => Some(*line),
            JournalEntry::File { .. } => None,
        };
        let mut journal = self.journal.lock().map_err(|_| anyhow::anyhow!("the journal's lock was poisoned"))?;
        append(&mut journal, &entry)?;
        drop(journal);
        if let (Some(n), Ok(mut recorded)) = (n, self.recorded.lock()) {
            recorded.insert(n);
        }
        let k = self.applied.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if self.print
            && let Ok(mut last) = self.last_report.lock()
            && (last.elapsed() >= Duration::from_secs(1) || k == self.total)
        {
            *last = Instant::now();
            let rate = k as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            let eta = (self.total - k) as f64 / rate.max(1e-3);
            eprintln!("  {k} of {} lines, {rate:.0} lines/s, about {eta:.0} s to go", self.total);
        }
        Ok(())
    }
}

/// What `record` counts a line applied under a key whose answer was lost as.
const ANSWER_LOST: &str = "(answer lost)";

/// A service that cannot be reached, as one line meets it: sent again with back-off, for up to
/// the import's outage patience from the first failure.
struct Outage {
    since: Option<Instant>,
    backoff: Duration,
    patience: Duration,
}

impl Outage {
    fn new(patience: Duration) -> Self {
        Self { since: None, backoff: Duration::from_millis(100), patience }
    }

    /// For a refusal that says the service was not reached, within the patience: waits the
    /// back-off and says to send again.
    async fn wait_out(&mut self, r: &Refusal, progress: Option<usize>) -> bool {
        if !r.is_transport() || self.since.get_or_insert_with(Instant::now).elapsed() >= self.patience {
            return false;
        }
        if let Some(n) = progress {
            eprintln!("  line {n}: {}; sending it again in {} ms", r.reason, self.backoff.as_millis());
        }
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
        true
    }
}

/// Applies one line: a line whose dispatch or evaluation another service is still making waits
/// for it; a line whose service cannot be reached is sent again until it can, for up to
/// `outage_patience`, and then stops the import. Its journal entry (an applied line's reason
/// says how it is counted).
async fn apply_line(
    clients: &mut Clients,
    names: &Names,
    line: &Line,
    n: usize,
    outage_patience: Duration,
    progress: bool,
) -> anyhow::Result<JournalEntry> {
    let mut waiting_since = Instant::now();
    let mut outage = Outage::new(outage_patience);
    let shown = progress.then_some(n);
    let outcome = loop {
        match clients.apply(names, line, n).await {
            Err(r) if r.pending && waiting_since.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(r) if outage.wait_out(&r, shown).await => {
                // A service that was away makes what the line waits for later: the patience
                // for it starts again.
                waiting_since = Instant::now();
            }
            other => break other,
        }
    };
    Ok(match outcome {
        Ok(ids) => JournalEntry::Line { line: n, outcome: Outcome::Applied, reason: None, ids },
        Err(refusal) if line.expect_refusal.is_some() && refusal.rule == line.expect_refusal => JournalEntry::Line {
            line: n,
            outcome: Outcome::Applied,
            reason: Some(format!("{} (refused as recorded)", line.event.kind())),
            ids: Ids::default(),
        },
        Err(refusal) if refusal.rule.as_deref() == Some("idempotency.answer_lost") => {
            // Applied under this line's key, and the service died before it kept the answer
            // (a moment between two commits): applied, with the ids its natural key answers.
            // That question rides out an outage as the line did: the service that lost the
            // answer has just restarted, and may be stopped again while it is asked.
            let mut outage = Outage::new(outage_patience);
            let ids = loop {
                match clients.answer_again(names, line, n).await {
                    Err(r) if outage.wait_out(&r, shown).await => {}
                    other => break other.map_err(|r| anyhow::anyhow!("line {n}: {}", r.reason))?,
                }
            };
            JournalEntry::Line { line: n, outcome: Outcome::Applied, reason: Some(ANSWER_LOST.into()), ids }
        }
        Err(refusal) if refusal.is_transport() || refusal.code == tonic::Code::Unauthenticated => {
            anyhow::bail!("line {n}: {}", refusal.reason);
        }
        Err(refusal) => {
            let reason = format!("{}: {}", line.event.kind(), refusal.reason);
            JournalEntry::Line { line: n, outcome: Outcome::Bad, reason: Some(reason), ids: Ids::default() }
        }
    })
}

impl Summary {
    /// The closing report, for people.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} lines: {} applied now, {} done before, {} not applied\n",
            self.lines,
            self.applied,
            self.already_done,
            self.bad.len()
        );
        for (kind, n) in &self.by_type {
            out.push_str(&format!("  {kind:<40} {n}\n"));
        }
        for b in &self.bad {
            out.push_str(&format!("  line {}: {}\n", b.line, b.reason));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use caseflow_runtime::{ErrorKind, Problem};

    use super::Refusal;

    fn refusal(kind: ErrorKind, rule: &str) -> Refusal {
        Refusal::from(tonic::Status::from(Problem::new(kind, "refused").with_rule(rule)))
    }

    #[test]
    fn a_line_that_lost_a_race_is_sent_again_and_a_rule_that_refuses_it_is_final() {
        for rule in ["evaluation.concurrent", "concurrency.version", "evaluation.not_open"] {
            assert!(refusal(ErrorKind::Conflict, rule).pending, "{rule}: asked again");
        }
        // Conflicts that are rules of the procedure answer the same however often asked.
        for rule in ["review.requested", "review.decided", "evaluation.window"] {
            assert!(!refusal(ErrorKind::Conflict, rule).pending, "{rule}: the line's answer");
        }
    }
}
