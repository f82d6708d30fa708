//! The gRPC edge: `caseflow.v1.Routing`.

use caseflow_proto::v1 as pb;
use caseflow_proto::v1::routing_server::Routing as RoutingApi;
use caseflow_runtime::server::grpc_principal;
use caseflow_runtime::time;
use tonic::{Request, Response, Status};

use crate::registry::UnitKind;
use crate::service::Routing;

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

#[tonic::async_trait]
impl RoutingApi for RoutingGrpc {
    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let principal = grpc_principal(&request)?;
        let units = self
            .routing
            .units(&principal)
            .into_iter()
            .map(|u| pb::Unit {
                code: u.code,
                name: u.name,
                kind: unit_kind(u.kind),
            })
            .collect();
        Ok(Response::new(pb::ListUnitsResponse { units }))
    }

    async fn list_case_dispatches(
        &self,
        request: Request<pb::ListCaseDispatchesRequest>,
    ) -> Result<Response<pb::ListCaseDispatchesResponse>, Status> {
        let principal = grpc_principal(&request)?;
        let rows = self
            .routing
            .case_dispatches(&principal, &request.into_inner().case_id)
            .await?;
        let dispatches = rows
            .into_iter()
            .map(|d| pb::DispatchView {
                dispatch_id: d.id,
                case_id: d.case_id,
                matter_id: d.matter_id,
                unit: d.unit.unwrap_or_default(),
                state: d.state,
                source: if d.source == "petition" {
                    pb::CaseSource::Petition as i32
                } else {
                    pb::CaseSource::Hotline as i32
                },
                case_received_at: Some(time::to_proto(d.case_received_at.and_utc())),
                dispatched_at: Some(time::to_proto(d.dispatched_at.and_utc())),
            })
            .collect();
        Ok(Response::new(pb::ListCaseDispatchesResponse { dispatches }))
    }
}
