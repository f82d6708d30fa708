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
    pub clock: caseflow_runtime::SharedClock,
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
            units: counts
                .units
                .into_iter()
                .map(|u| pb::UnitCount {
                    unit: u.unit,
                    received: u.received,
                    moved_on: u.moved_on,
                    assisting: u.assisting,
                })
                .collect(),
            cases: counts.cases,
        }))
    }

    async fn report(&self, request: Request<pb::ReportRequest>) -> Result<Response<pb::ReportDocument>, Status> {
        let principal = grpc_principal(&request)?;
        let req = request.into_inner();
        let source = match pb::CaseSource::try_from(req.source) {
            Ok(pb::CaseSource::Petition) => "petition",
            _ => "hotline",
        };
        let (kind, format, group, source) =
            crate::document::parse(&req.report, Some(&req.format), Some(&req.group), Some(source))?;
        let from = time::from_proto(req.from.as_ref(), "from")?;
        let to = time::from_proto(req.to.as_ref(), "to")?;
        let as_of = match req.as_of.as_ref() {
            Some(t) => time::from_proto(Some(t), "as_of")?,
            None => self.clock.now(),
        };
        let reveal_reason = Some(req.reveal_reason).filter(|r| !r.is_empty());
        let masthead = crate::document::MastheadParams::parse(Some(&req.issuer), Some(&req.number), Some(&req.date))
            .map_err(caseflow_runtime::Problem::invalid)?;
        let query = crate::document::Query { kind, format, from, to, as_of, source, group, reveal_reason, masthead };
        let doc = self.reports.document(&principal, &query).await?;
        Ok(Response::new(pb::ReportDocument {
            content_type: doc.content_type.to_owned(),
            filename: doc.filename,
            body: doc.body,
        }))
    }
}
