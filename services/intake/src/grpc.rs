//! The gRPC edge: `caseflow.v1.Intake`, mapped onto the same service layer as REST.

use caseflow_proto::v1 as pb;
use caseflow_proto::v1::intake_server::Intake as IntakeApi;
use caseflow_runtime::idempotency::idempotent;
use caseflow_runtime::server::grpc_principal;
use caseflow_runtime::time;
use tonic::{Request, Response, Status};

use crate::input::{
    CitizenInput, Coordinates, JointLetterInput, LocationInput, MatterInput, OrderInput, PetitionInput, VisitInput,
};
use crate::service::Intake;
use crate::view::CaseView;

#[derive(Clone, Debug)]
pub struct IntakeGrpc {
    pub intake: Intake,
}

fn channel_name(v: i32) -> String {
    match pb::HotlineChannel::try_from(v) {
        Ok(pb::HotlineChannel::Unspecified) => String::new(),
        Ok(pb::HotlineChannel::Phone) => "phone".into(),
        Ok(pb::HotlineChannel::Web) => "web".into(),
        Ok(pb::HotlineChannel::App) => "app".into(),
        Ok(pb::HotlineChannel::MiniProgram) => "mini_program".into(),
        Ok(pb::HotlineChannel::MergedHotline) => "merged_hotline".into(),
        Err(_) => format!("#{v}"),
    }
}

/// The kind's code, keeping an unknown value visible ("#7") for the validation message.
fn kind_name(v: i32) -> String {
    pb::CaseKind::try_from(v).map_or_else(|_| format!("#{v}"), |k| k.code().to_owned())
}

fn rfc3339(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| time::from_proto(Some(t), "received_at").ok()).map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn location_input(location: Option<pb::Location>) -> LocationInput {
    let location = location.unwrap_or_default();
    LocationInput {
        sub_district: location.sub_district,
        address: location.address,
        // Half a pair is kept (as NaN) so that validation names the missing half.
        coordinates: (location.lat.is_some() || location.lon.is_some())
            .then(|| Coordinates { lat: location.lat.unwrap_or(f64::NAN), lon: location.lon.unwrap_or(f64::NAN) }),
    }
}

fn citizen_input(citizen: Option<pb::Citizen>) -> CitizenInput {
    let citizen = citizen.unwrap_or_default();
    CitizenInput {
        name: citizen.name,
        phone: citizen.phone,
        id_number: Some(citizen.id_number).filter(|s| !s.is_empty()),
        anonymous: citizen.anonymous,
        hide_identity: citizen.hide_identity,
    }
}

fn matter_inputs(matters: Vec<pb::MatterInput>) -> Vec<MatterInput> {
    matters
        .into_iter()
        .map(|m| MatterInput {
            category: m.category,
            summary: m.summary,
            target_unit: Some(m.target_unit).filter(|u| !u.is_empty()),
        })
        .collect()
}

fn petition_input(p: pb::Petition) -> PetitionInput {
    PetitionInput {
        petition_number: p.petition_number,
        received_at: rfc3339(p.received_at.as_ref()),
        channel: p.channel,
        purpose: p.purpose,
        accused_unit: Some(p.accused_unit).filter(|s| !s.is_empty()),
        category: p.category,
        content: p.content,
        location: location_input(p.location),
        citizen: citizen_input(p.citizen),
        matters: matter_inputs(p.matters),
        visit: match (p.visit_batches, p.visit_persons) {
            (None, None) => None,
            (b, pers) => Some(VisitInput { batches: b.unwrap_or_default(), persons: pers.unwrap_or_default() }),
        },
        joint_letter: p.joint_signers.map(|signers| JointLetterInput { signers }),
        single_visit: p.single_visit,
        related_case_id: Some(p.related_case_id).filter(|s| !s.is_empty()),
        decision: p.decision.map(decision_input),
    }
}

fn decision_input(d: pb::PetitionDecision) -> crate::input::DecisionInput {
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    crate::input::DecisionInput {
        outcome: d.outcome,
        legal_channel: some(d.legal_channel),
        concluded_case: some(d.concluded_case),
        forwarded_to: some(d.forwarded_to),
        notice: some(d.notice),
        decided_at: None,
    }
}

/// Maps the proto order onto the one validated input shape.
fn order_input(order: pb::HotlineOrder) -> OrderInput {
    let received_at = rfc3339(order.received_at.as_ref());
    OrderInput {
        order_number: order.order_number,
        received_at,
        channel: channel_name(order.channel),
        kind: kind_name(order.kind),
        category: order.category,
        content: order.content,
        location: location_input(order.location),
        citizen: citizen_input(order.citizen),
        matters: matter_inputs(order.matters),
        related_case_id: Some(order.related_case_id).filter(|s| !s.is_empty()),
    }
}

fn case_view(v: CaseView) -> pb::CaseView {
    pb::CaseView {
        case_id: v.case_id,
        source: if v.source == "hotline" { pb::CaseSource::Hotline as i32 } else { pb::CaseSource::Petition as i32 },
        external_ref: v.external_ref,
        received_at: Some(time::to_proto(v.received_at)),
        channel: v.channel,
        kind: pb::CaseKind::from_code(&v.kind) as i32,
        category: v.category,
        content: v.content,
        location: Some(pb::Location {
            sub_district: v.location.sub_district,
            address: v.location.address,
            lat: v.location.lat,
            lon: v.location.lon,
        }),
        citizen_name_masked: v.citizen.name.unwrap_or_default(),
        citizen_phone_masked: v.citizen.phone.unwrap_or_default(),
        matters: v
            .matters
            .into_iter()
            .map(|m| pb::MatterView {
                matter_id: m.matter_id,
                ordinal: m.ordinal,
                category: m.category,
                summary: m.summary,
                target_unit: m.target_unit.unwrap_or_default(),
            })
            .collect(),
        is_first: v.is_first,
        repeat_of: v.repeat_of.unwrap_or_default(),
        status: v.status,
        decision: v.petition.as_ref().and_then(|p| p.decision.as_ref()).map(|d| pb::PetitionDecision {
            outcome: d.outcome.clone(),
            legal_channel: d.legal_channel.clone().unwrap_or_default(),
            concluded_case: d.concluded_case.clone().unwrap_or_default(),
            forwarded_to: d.forwarded_to.clone().unwrap_or_default(),
            notice: d.notice.clone(),
        }),
        decision_due_at: v
            .petition
            .as_ref()
            .and_then(|p| p.decision.as_ref())
            .and_then(|d| d.due_at)
            .map(time::to_proto),
        decided_at: v
            .petition
            .as_ref()
            .and_then(|p| p.decision.as_ref())
            .and_then(|d| d.decided_at)
            .map(time::to_proto),
        purpose: v.petition.map(|p| p.purpose).unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl IntakeApi for IntakeGrpc {
    async fn submit_hotline_order(
        &self,
        request: Request<pb::SubmitHotlineOrderRequest>,
    ) -> Result<Response<pb::SubmitHotlineOrderResponse>, Status> {
        let this = self.clone();
        idempotent(&self.intake.db, "/caseflow.v1.Intake/SubmitHotlineOrder", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let order = request
                .into_inner()
                .order
                .ok_or_else(|| Status::from(caseflow_runtime::Problem::field("order", "is required")))?;
            let (case, created) = this.intake.submit_hotline_order(&principal, order_input(order)).await?;
            Ok(Response::new(pb::SubmitHotlineOrderResponse { case: Some(case_view(case)), created }))
        })
        .await
    }

    async fn submit_petition(
        &self,
        request: Request<pb::SubmitPetitionRequest>,
    ) -> Result<Response<pb::SubmitHotlineOrderResponse>, Status> {
        let this = self.clone();
        idempotent(&self.intake.db, "/caseflow.v1.Intake/SubmitPetition", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let petition = request
                .into_inner()
                .petition
                .ok_or_else(|| Status::from(caseflow_runtime::Problem::field("petition", "is required")))?;
            let (case, created) = this.intake.submit_petition(&principal, petition_input(petition)).await?;
            Ok(Response::new(pb::SubmitHotlineOrderResponse { case: Some(case_view(case)), created }))
        })
        .await
    }

    async fn decide_petition(
        &self,
        request: Request<pb::DecidePetitionRequest>,
    ) -> Result<Response<pb::CaseView>, Status> {
        let this = self.clone();
        // An importer's line applied but not journaled is answered again under its key.
        idempotent(&self.intake.db, "/caseflow.v1.Intake/DecidePetition", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let r = request.into_inner();
            let d =
                r.decision.ok_or_else(|| Status::from(caseflow_runtime::Problem::field("decision", "is required")))?;
            let case = this.intake.decide_petition(&principal, &r.case_id, decision_input(d)).await?;
            Ok(Response::new(case_view(case)))
        })
        .await
    }

    async fn request_review(
        &self,
        request: Request<pb::RequestReviewRequest>,
    ) -> Result<Response<pb::ReviewView>, Status> {
        let this = self.clone();
        idempotent(&self.intake.db, "/caseflow.v1.Intake/RequestReview", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let r = request.into_inner();
            let input = crate::reviews::ReviewRequestInput {
                level: r.level,
                reviewing_body: r.reviewing_body,
                answer_received_at: r.answer_received_at,
                requested_at: Some(r.requested_at).filter(|t| !t.is_empty()),
            };
            let review = this.intake.request_review(&principal, &r.case_id, input).await?;
            Ok(Response::new(review_view(review)))
        })
        .await
    }

    async fn decide_review(
        &self,
        request: Request<pb::DecideReviewRequest>,
    ) -> Result<Response<pb::ReviewView>, Status> {
        let this = self.clone();
        idempotent(&self.intake.db, "/caseflow.v1.Intake/DecideReview", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let r = request.into_inner();
            let input = crate::reviews::ReviewDecisionInput {
                outcome: r.outcome,
                opinion: r.opinion,
                decided_at: Some(r.decided_at).filter(|t| !t.is_empty()),
            };
            let review = this.intake.decide_review(&principal, &r.case_id, &r.level, input).await?;
            Ok(Response::new(review_view(review)))
        })
        .await
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::CaseView>, Status> {
        let principal = grpc_principal(&request)?;
        let case = self.intake.get_case(&principal, &request.into_inner().case_id).await?;
        Ok(Response::new(case_view(case)))
    }

    async fn record_leader_reception(
        &self,
        request: Request<pb::RecordLeaderReceptionRequest>,
    ) -> Result<Response<pb::RecordLeaderReceptionResponse>, Status> {
        let this = self.clone();
        idempotent(&self.intake.db, "/caseflow.v1.Intake/RecordLeaderReception", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let r = request.into_inner();
            let received_at = caseflow_runtime::time::from_proto(r.received_at.as_ref(), "received_at")?;
            let input = crate::receptions::ReceptionInput {
                reception_number: r.reception_number,
                leader_name: r.leader_name,
                leader_title: r.leader_title,
                received_at: received_at.with_timezone(&caseflow_runtime::clock::district_offset()).to_rfc3339(),
                persons: r.persons,
                matters: r
                    .matters
                    .into_iter()
                    .map(|m| crate::receptions::ReceptionMatterInput {
                        summary: m.summary,
                        case_id: Some(m.case_id).filter(|c| !c.is_empty()),
                        outcome: m.outcome,
                    })
                    .collect(),
            };
            let (view, created) = this.intake.record_reception(&principal, input).await?;
            Ok(Response::new(pb::RecordLeaderReceptionResponse { reception_id: view.reception_id, created }))
        })
        .await
    }

    async fn update_reception_outcome(
        &self,
        request: Request<pb::UpdateReceptionOutcomeRequest>,
    ) -> Result<Response<pb::RecordLeaderReceptionResponse>, Status> {
        let this = self.clone();
        idempotent(&self.intake.db, "/caseflow.v1.Intake/UpdateReceptionOutcome", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let r = request.into_inner();
            let update = crate::receptions::OutcomeUpdate { outcome: r.outcome };
            let view = this.intake.update_reception_outcome(&principal, &r.reception_id, r.ordinal, update).await?;
            Ok(Response::new(pb::RecordLeaderReceptionResponse { reception_id: view.reception_id, created: false }))
        })
        .await
    }

    async fn reveal_citizen(
        &self,
        request: Request<pb::RevealCitizenRequest>,
    ) -> Result<Response<pb::RevealedCitizenView>, Status> {
        let caller = grpc_principal(&request)?;
        caller.require("reveal on behalf of someone", &[caseflow_runtime::Role::Service])?;
        let req = request.into_inner();
        let Some(role) = caseflow_runtime::Role::parse(&req.on_behalf_of_role)
            .filter(|r| !matches!(r, caseflow_runtime::Role::Service | caseflow_runtime::Role::UnitHandler))
        else {
            return Err(caseflow_runtime::Problem::field(
                "on_behalf_of_role",
                format!("'{}' is not the role of a person", req.on_behalf_of_role),
            )
            .into());
        };
        if req.on_behalf_of.trim().is_empty() {
            return Err(
                caseflow_runtime::Problem::field("on_behalf_of", "is required: the person the reveal is for").into()
            );
        }
        // Logged under the person's name, with the service that asked.
        let person = caseflow_runtime::Principal {
            name: format!("{} (via {})", req.on_behalf_of, caller.name),
            role,
            unit: None,
        };
        let revealed = self.intake.reveal_citizen(&person, &req.case_id, &req.reason).await?;
        Ok(Response::new(pb::RevealedCitizenView {
            case_id: revealed.case_id,
            name: revealed.name.unwrap_or_default(),
            phone: revealed.phone.unwrap_or_default(),
            id_number: revealed.id_number.unwrap_or_default(),
        }))
    }
}

fn review_view(v: crate::reviews::ReviewView) -> pb::ReviewView {
    pb::ReviewView {
        case_id: v.case_id,
        level: v.level,
        reviewing_body: v.reviewing_body,
        requested_at: Some(time::to_proto(v.requested_at)),
        due_at: Some(time::to_proto(v.due_at)),
        decided_at: v.decided_at.map(time::to_proto),
        outcome: v.outcome.unwrap_or_default(),
        opinion: v.opinion.unwrap_or_default(),
        late: v.late,
    }
}
