//! The gRPC edge: `caseflow.v1.Routing`, every action of the REST edge and more.

use caseflow_proto::v1 as pb;
use caseflow_proto::v1::routing_server::Routing as RoutingApi;
use caseflow_runtime::idempotency::idempotent;
use caseflow_runtime::server::grpc_principal;
use caseflow_runtime::time;
use tonic::{Request, Response, Status};

use crate::actions::{ExtensionView, ReturnView};
use crate::error::RoutingError;
use crate::inputs::{
    Decision, ExtensionInput, LandInput, ReturnInput, ReviewInput, TextInput, UnitChoice, UnitSuccession,
};
use crate::lifecycle::ContactRecord;
use crate::registry::UnitKind;
use crate::service::{DispatchView, LogEntry, Routing};

#[derive(Clone, Debug)]
pub struct RoutingGrpc {
    pub routing: Routing,
}

fn unit_kind(k: UnitKind) -> i32 {
    (match k {
        UnitKind::Department => pb::UnitKind::Department,
        UnitKind::SubDistrict => pb::UnitKind::SubDistrict,
        UnitKind::Enterprise => pb::UnitKind::Enterprise,
        UnitKind::Platform => pb::UnitKind::Platform,
    }) as i32
}

fn dispatch(v: DispatchView) -> pb::DispatchView {
    pb::DispatchView {
        dispatch_id: v.dispatch_id,
        case_id: v.case_id,
        matter_id: v.matter_id,
        unit: v.unit,
        state: v.state,
        assignment: v.assignment,
        role: v.role,
        via: v.via,
        category: v.category,
        case_received_at: Some(time::to_proto(v.case_received_at)),
        dispatched_at: Some(time::to_proto(v.dispatched_at)),
        deadlines: Some(pb::Deadlines {
            acknowledge: Some(time::to_proto(v.deadlines.acknowledge)),
            land: Some(time::to_proto(v.deadlines.land)),
            resolve: Some(time::to_proto(v.deadlines.resolve)),
            return_window_ends: Some(time::to_proto(v.deadlines.return_window_ends)),
        }),
        overdue_view: v.overdue_view,
        overdue_handling: v.overdue_handling,
        allowed_actions: v.allowed_actions,
    }
}

fn return_view(v: ReturnView) -> pb::ReturnView {
    pb::ReturnView {
        return_id: v.return_id,
        dispatch_id: v.dispatch_id,
        unit: v.unit,
        proposed_unit: v.proposed_unit,
        status: v.status,
        decision_reason: v.decision_reason.unwrap_or_default(),
        next_dispatch: v.next_dispatch.map(dispatch),
    }
}

fn extension_view(v: ExtensionView) -> pb::ExtensionView {
    pb::ExtensionView {
        extension_id: v.extension_id,
        dispatch_id: v.dispatch_id,
        days: v.days,
        status: v.status,
        resolve_deadline: Some(time::to_proto(v.resolve_deadline)),
    }
}

fn log_entry(e: LogEntry) -> pb::LogEntry {
    pb::LogEntry {
        at: Some(time::to_proto(e.at)),
        matter_id: e.matter_id,
        dispatch_id: e.dispatch_id.unwrap_or_default(),
        unit: e.unit.unwrap_or_default(),
        action: e.action,
        from_state: e.from_state,
        to_state: e.to_state,
        actor: e.actor,
        reason: e.reason,
        evidence: e.evidence,
    }
}

fn rfc3339(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| time::from_proto(Some(t), "at").ok()).map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn opt(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

type R<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl RoutingApi for RoutingGrpc {
    async fn list_units(&self, request: Request<pb::ListUnitsRequest>) -> R<pb::ListUnitsResponse> {
        let p = grpc_principal(&request)?;
        let units = self
            .routing
            .units(&p)
            .into_iter()
            .map(|u| pb::Unit { code: u.code, name: u.name, kind: unit_kind(u.kind) })
            .collect();
        Ok(Response::new(pb::ListUnitsResponse { units }))
    }

    async fn list_case_dispatches(
        &self,
        request: Request<pb::ListCaseDispatchesRequest>,
    ) -> R<pb::ListCaseDispatchesResponse> {
        let p = grpc_principal(&request)?;
        let wait = caseflow_runtime::awaiting::requested(&request);
        let r = request.into_inner();
        let awaited = |rows: &Result<Vec<crate::service::DispatchView>, RoutingError>| match rows {
            _ if r.wait_for_unit.is_empty() => false,
            Ok(rows) => !rows.iter().any(|d| d.matter_id == r.wait_for_matter_id && d.unit == r.wait_for_unit),
            Err(RoutingError::NotFound(_)) => true,
            Err(_) => false,
        };
        let rows = caseflow_runtime::awaiting::until_made(&self.routing.db, wait, awaited, || {
            self.routing.case_dispatches(&p, &r.case_id)
        })
        .await?;
        Ok(Response::new(pb::ListCaseDispatchesResponse { dispatches: rows.into_iter().map(dispatch).collect() }))
    }

    async fn case_log(&self, request: Request<pb::ListCaseDispatchesRequest>) -> R<pb::CaseLogResponse> {
        let p = grpc_principal(&request)?;
        let entries = self.routing.case_log(&p, &request.into_inner().case_id).await?;
        Ok(Response::new(pb::CaseLogResponse { entries: entries.into_iter().map(log_entry).collect() }))
    }

    async fn get_dispatch(&self, request: Request<pb::DispatchRef>) -> R<pb::DispatchView> {
        let p = grpc_principal(&request)?;
        Ok(Response::new(dispatch(self.routing.dispatch(&p, &request.into_inner().dispatch_id).await?)))
    }

    async fn inbox(&self, request: Request<pb::InboxRequest>) -> R<pb::ListCaseDispatchesResponse> {
        let p = grpc_principal(&request)?;
        let rows = self.routing.inbox(&p).await?;
        Ok(Response::new(pb::ListCaseDispatchesResponse { dispatches: rows.into_iter().map(dispatch).collect() }))
    }

    async fn acknowledge(&self, request: Request<pb::DispatchRef>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Acknowledge", request, |request| async move {
            let p = grpc_principal(&request)?;
            Ok(Response::new(dispatch(this.routing.acknowledge(&p, &request.into_inner().dispatch_id).await?)))
        })
        .await
    }

    async fn land(&self, request: Request<pb::LandRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Land", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let input = LandInput { at: rfc3339(r.at.as_ref()), method: r.method, note: r.note };
            Ok(Response::new(dispatch(this.routing.land(&p, &r.dispatch_id, input).await?)))
        })
        .await
    }

    async fn reply(&self, request: Request<pb::TextRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Reply", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            Ok(Response::new(dispatch(this.routing.reply(&p, &r.dispatch_id, TextInput { text: r.text }).await?)))
        })
        .await
    }

    async fn file_case_analysis(&self, request: Request<pb::TextRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/FileCaseAnalysis", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            Ok(Response::new(dispatch(
                this.routing.file_case_analysis(&p, &r.dispatch_id, TextInput { text: r.text }).await?,
            )))
        })
        .await
    }

    async fn request_return(&self, request: Request<pb::ReturnRequest>) -> R<pb::ReturnView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/RequestReturn", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let input = ReturnInput {
                reason_code: r.reason_code,
                reason: r.reason,
                proposed_unit: r.proposed_unit,
                catalog_entry: opt(r.catalog_entry),
                legal_basis: opt(r.legal_basis),
                contact: r.contact.map(|c| ContactRecord {
                    at: rfc3339(c.at.as_ref()),
                    method: c.method,
                    learned: c.learned,
                }),
            };
            Ok(Response::new(return_view(this.routing.request_return(&p, &r.dispatch_id, input).await?)))
        })
        .await
    }

    async fn request_extension(&self, request: Request<pb::ExtensionRequest>) -> R<pb::ExtensionView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/RequestExtension", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let input = ExtensionInput { days: r.days, reason: r.reason, progress: r.progress };
            Ok(Response::new(extension_view(this.routing.request_extension(&p, &r.dispatch_id, input).await?)))
        })
        .await
    }

    async fn review(&self, request: Request<pb::ReviewRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Review", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let input = ReviewInput { accept: r.accept, reason: r.reason };
            Ok(Response::new(dispatch(this.routing.review(&p, &r.dispatch_id, input).await?)))
        })
        .await
    }

    async fn resolve(&self, request: Request<pb::DispatchRef>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Resolve", request, |request| async move {
            let p = grpc_principal(&request)?;
            Ok(Response::new(dispatch(this.routing.resolve(&p, &request.into_inner().dispatch_id).await?)))
        })
        .await
    }

    async fn decide_return(&self, request: Request<pb::DecisionRequest>) -> R<pb::ReturnView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/DecideReturn", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let d = Decision { approve: r.approve, reason: r.reason, unit: opt(r.unit), days: None };
            Ok(Response::new(return_view(this.routing.decide_return(&p, &r.id, d).await?)))
        })
        .await
    }

    async fn decide_extension(&self, request: Request<pb::DecisionRequest>) -> R<pb::ExtensionView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/DecideExtension", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let d =
                Decision { approve: r.approve, reason: r.reason, unit: None, days: Some(r.days).filter(|d| *d > 0) };
            Ok(Response::new(extension_view(this.routing.decide_extension(&p, &r.id, d).await?)))
        })
        .await
    }

    async fn designate(&self, request: Request<pb::UnitChoiceRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Designate", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let c = UnitChoice { unit: r.unit, reason: r.reason, basis: r.basis };
            Ok(Response::new(dispatch(this.routing.designate(&p, &r.id, c).await?)))
        })
        .await
    }

    async fn transfer(&self, request: Request<pb::UnitChoiceRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Transfer", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let c = UnitChoice { unit: r.unit, reason: r.reason, basis: r.basis };
            Ok(Response::new(dispatch(this.routing.transfer(&p, &r.id, c).await?)))
        })
        .await
    }

    async fn assign(&self, request: Request<pb::UnitChoiceRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Assign", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let c = UnitChoice { unit: r.unit, reason: r.reason, basis: r.basis };
            Ok(Response::new(dispatch(this.routing.assign(&p, &r.id, c).await?)))
        })
        .await
    }

    async fn add_assist(&self, request: Request<pb::UnitChoiceRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/AddAssist", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let c = UnitChoice { unit: r.unit, reason: r.reason, basis: r.basis };
            Ok(Response::new(dispatch(this.routing.add_assist(&p, &r.id, c).await?)))
        })
        .await
    }

    async fn supervise(&self, request: Request<pb::TextRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Supervise", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            Ok(Response::new(dispatch(this.routing.supervise(&p, &r.dispatch_id, TextInput { text: r.text }).await?)))
        })
        .await
    }

    async fn rehandle(&self, request: Request<pb::TextRequest>) -> R<pb::DispatchView> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/Rehandle", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            Ok(Response::new(dispatch(this.routing.rehandle(&p, &r.dispatch_id, TextInput { text: r.text }).await?)))
        })
        .await
    }

    async fn succeed_unit(&self, request: Request<pb::UnitSuccessionRequest>) -> R<pb::UnitSuccessionResponse> {
        let this = self.clone();
        idempotent(self.routing.db(), "/caseflow.v1.Routing/SucceedUnit", request, |request| async move {
            let p = grpc_principal(&request)?;
            let r = request.into_inner();
            let input = UnitSuccession { status: r.status, successor: r.successor, reason: r.reason };
            let moved = this.routing.succeed_unit(&p, &r.unit, input).await?;
            Ok(Response::new(pb::UnitSuccessionResponse { dispatches_moved: i32::try_from(moved).unwrap_or(i32::MAX) }))
        })
        .await
    }
}
