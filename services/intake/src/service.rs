//! Intake's service layer: every call names its principal, and the role check happens here,
//! whichever edge (REST or gRPC) the call came through.

use std::collections::BTreeMap;
use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_runtime::db::is_unique_violation;
use caseflow_runtime::{Db, Principal, Role, SharedClock, event_log, time};

use crate::citizen::CitizenVault;
use crate::error::IntakeError;
use crate::order::{OrderInput, ValidOrder, differing_fields};
use crate::store::{self, CaseRow, MatterRow};
use crate::taxonomy::Policy;
use crate::view::CaseView;

pub const SOURCE_HOTLINE: &str = "hotline";

/// Roles that may submit hotline work orders.
const SUBMITTERS: &[Role] = &[Role::Integrator, Role::Admin];
/// Roles that may read a case (masked).
const READERS: &[Role] = &[
    Role::Integrator,
    Role::Dispatcher,
    Role::Evaluator,
    Role::Admin,
    Role::Service,
];

#[derive(Clone, Debug)]
pub struct Intake {
    pub(crate) db: Db,
    pub(crate) clock: SharedClock,
    pub(crate) policy: Arc<Policy>,
    pub(crate) vault: Arc<CitizenVault>,
}

enum Outcome {
    Created(String),
    Existing(Box<CaseRow>),
}

impl Intake {
    pub fn new(db: Db, clock: SharedClock, policy: Arc<Policy>, vault: Arc<CitizenVault>) -> Self {
        Self {
            db,
            clock,
            policy,
            vault,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Takes in a work order exactly once per order number. Returns the case and whether this
    /// call created it.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id))]
    pub async fn submit_hotline_order(
        &self,
        principal: &Principal,
        input: OrderInput,
    ) -> Result<(CaseView, bool), IntakeError> {
        principal.require("submit hotline work orders", SUBMITTERS)?;
        let now = self.clock.now();
        let order = input
            .validate(&self.policy, now)
            .map_err(IntakeError::Invalid)?;
        let fingerprint = order.fingerprint(&self.vault);

        // A concurrent insert of the same order number on PostgreSQL fails on the unique key;
        // the retry then finds the winner's case.
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let (case, matters) = self.rows(&order, &fingerprint, now);
            let result = self
                .db
                .write(move |c| {
                    if let Some(existing) =
                        store::find_by_ref(c, SOURCE_HOTLINE, &case.external_ref)?
                    {
                        return Ok(Outcome::Existing(Box::new(existing)));
                    }
                    store::insert(c, &case, &matters)?;
                    let event = case_received(&case, &matters);
                    event_log::append(c, now, &case.id, &event)?;
                    Ok::<_, IntakeError>(Outcome::Created(case.id))
                })
                .await;
            match result {
                Err(IntakeError::Db(caseflow_runtime::DbError::Query(e)))
                    if is_unique_violation(&e) && attempt < 3 =>
                {
                    continue;
                }
                other => break other?,
            }
        };

        match outcome {
            Outcome::Created(id) => {
                tracing::Span::current().record("case_id", id.as_str());
                tracing::info!(case_id = %id, matters = order.matters.len(), "hotline order taken in");
                Ok((self.load(&id).await?, true))
            }
            Outcome::Existing(existing) => {
                let stored: BTreeMap<String, String> =
                    serde_json::from_str(&existing.fingerprint).unwrap_or_default();
                let fields = differing_fields(&stored, &fingerprint);
                if !fields.is_empty() {
                    return Err(IntakeError::ChangedResend {
                        order_number: order.order_number,
                        case_id: existing.id,
                        fields,
                    });
                }
                tracing::Span::current().record("case_id", existing.id.as_str());
                Ok((self.load(&existing.id).await?, false))
            }
        }
    }

    /// A case, masked for the caller.
    #[tracing::instrument(skip_all, fields(caseflow.service = "intake", case_id = %case_id))]
    pub async fn get_case(
        &self,
        principal: &Principal,
        case_id: &str,
    ) -> Result<CaseView, IntakeError> {
        principal.require("read cases", READERS)?;
        self.load(case_id).await
    }

    async fn load(&self, case_id: &str) -> Result<CaseView, IntakeError> {
        let id = case_id.to_owned();
        let found = self
            .db
            .read(move |c| store::find(c, &id).map_err(IntakeError::from))
            .await?;
        let (case, matters) = found.ok_or_else(|| IntakeError::NotFound(case_id.to_owned()))?;
        Ok(CaseView::masked(case, matters, &self.vault)?)
    }

    fn rows(
        &self,
        order: &ValidOrder,
        fingerprint: &BTreeMap<String, String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (CaseRow, Vec<MatterRow>) {
        let id = uuid::Uuid::now_v7().to_string();
        let citizen = &order.citizen;
        let case = CaseRow {
            id: id.clone(),
            source: SOURCE_HOTLINE.to_owned(),
            external_ref: order.order_number.clone(),
            channel: order.channel.clone(),
            kind: order.kind.clone(),
            category: order.category.clone(),
            content: order.content.clone(),
            sub_district: order.sub_district.clone(),
            address: order.address.clone(),
            latitude: order.coordinates.map(|c| c.0),
            longitude: order.coordinates.map(|c| c.1),
            received_at: order.received_at.naive_utc(),
            recorded_at: now.naive_utc(),
            anonymous: citizen.anonymous,
            hide_identity: citizen.hide_identity,
            citizen_name_enc: citizen.name.as_deref().map(|v| self.vault.encrypt(v)),
            citizen_phone_enc: citizen.phone.as_deref().map(|v| self.vault.encrypt(v)),
            citizen_id_enc: citizen.id_number.as_deref().map(|v| self.vault.encrypt(v)),
            phone_key: citizen
                .phone
                .as_deref()
                .map(|v| self.vault.person_key("phone", v)),
            id_key: citizen
                .id_number
                .as_deref()
                .map(|v| self.vault.person_key("id", v)),
            fingerprint: serde_json::to_string(fingerprint).unwrap_or_default(),
        };
        let matters = order
            .matters
            .iter()
            .enumerate()
            .map(|(i, m)| MatterRow {
                id: format!("{id}-m{}", i + 1),
                case_id: id.clone(),
                ordinal: i32::try_from(i + 1).unwrap_or(i32::MAX),
                category: m.category.clone(),
                summary: m.summary.clone(),
                target_unit: m.target_unit.clone(),
            })
            .collect();
        (case, matters)
    }
}

fn case_kind(kind: &str) -> pb::CaseKind {
    match kind {
        "complaint" => pb::CaseKind::Complaint,
        "suggestion" => pb::CaseKind::Suggestion,
        "inquiry" => pb::CaseKind::Inquiry,
        "help_request" => pb::CaseKind::HelpRequest,
        _ => pb::CaseKind::Unspecified,
    }
}

/// The event routing and reporting consume: no clear-text personal data.
fn case_received(case: &CaseRow, matters: &[MatterRow]) -> pb::IntakeEvent {
    pb::IntakeEvent {
        kind: Some(pb::intake_event::Kind::CaseReceived(pb::CaseReceived {
            case_id: case.id.clone(),
            source: pb::CaseSource::Hotline as i32,
            external_ref: case.external_ref.clone(),
            received_at: Some(time::to_proto(case.received_at.and_utc())),
            channel: case.channel.clone(),
            kind: case_kind(&case.kind) as i32,
            category: case.category.clone(),
            location: Some(pb::Location {
                sub_district: case.sub_district.clone(),
                address: case.address.clone(),
                lat: case.latitude,
                lon: case.longitude,
            }),
            matters: matters
                .iter()
                .map(|m| pb::ReceivedMatter {
                    matter_id: m.id.clone(),
                    ordinal: m.ordinal,
                    category: m.category.clone(),
                    target_unit: m.target_unit.clone().unwrap_or_default(),
                })
                .collect(),
            anonymous: case.anonymous,
        })),
    }
}
