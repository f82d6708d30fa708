//! The gRPC edge: `caseflow.v1.Reporting`.

use caseflow_proto::v1 as pb;
use caseflow_proto::v1::reporting_server::Reporting as ReportingApi;
use caseflow_runtime::server::grpc_principal;
use caseflow_runtime::time;
use tonic::{Request, Response, Status};

use crate::reports::Reports;

#[derive(Clone, Debug)]
pub struct ReportingGrpc {
    pub reports: Reports,
}

#[tonic::async_trait]
impl ReportingApi for ReportingGrpc {
    async fn unit_counts(
        &self,
        request: Request<pb::UnitCountsRequest>,
    ) -> Result<Response<pb::UnitCountsResponse>, Status> {
        let principal = grpc_principal(&request)?;
        let req = request.into_inner();
        let from = time::from_proto(req.from.as_ref(), "from")?;
        let to = time::from_proto(req.to.as_ref(), "to")?;
        let source = match pb::CaseSource::try_from(req.source) {
            Ok(pb::CaseSource::Petition) => "petition",
            _ => "hotline",
        };
        let counts = self.reports.unit_counts(&principal, from, to, source.to_owned()).await?;
        Ok(Response::new(pb::UnitCountsResponse {
            count_unit: counts.count_unit.to_owned(),
            units: counts.units.into_iter().map(|u| pb::UnitCount { unit: u.unit, received: u.received }).collect(),
            cases: counts.cases,
        }))
    }
}
