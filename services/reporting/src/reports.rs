//! Reports over the read model. Every table names its unit of count.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use caseflow_runtime::{Db, DbError, Principal, Problem, Role};

use crate::store::{report_cases, report_dispatches};

const READERS: &[Role] = &[Role::EfficiencyOffice, Role::Admin];

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UnitCount {
    pub unit: String,
    /// Dispatches received by the unit in the period.
    pub received: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UnitCounts {
    /// Unit tables count dispatches (批转件): one case raising two matters sent to two units
    /// counts twice.
    pub count_unit: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub source: String,
    /// Cases received in the period.
    pub cases: i64,
    pub units: Vec<UnitCount>,
    /// Dispatches still in the triage queue (no unit yet).
    pub in_triage: i64,
}

#[derive(Clone, Debug)]
pub struct Reports {
    pub(crate) db: Db,
}

impl Reports {
    /// Dispatches received per unit, for cases received in [from, to).
    #[tracing::instrument(skip_all, fields(caseflow.service = "reporting"))]
    pub async fn unit_counts(
        &self,
        principal: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        source: String,
    ) -> Result<UnitCounts, Problem> {
        principal.require("read reports", READERS)?;
        if from >= to {
            return Err(Problem::field("to", "must be after from (the period is [from, to))"));
        }
        if source != "hotline" && source != "petition" {
            return Err(Problem::field("source", format!("'{source}' is not one of hotline, petition")));
        }
        let (f, t, s) = (from.naive_utc(), to.naive_utc(), source.clone());
        let (rows, cases) = self
            .db
            .read(move |c| {
                let rows: Vec<(Option<String>, i64)> = report_dispatches::table
                    .filter(report_dispatches::source.eq(&s))
                    .filter(report_dispatches::received_at.ge(f))
                    .filter(report_dispatches::received_at.lt(t))
                    .group_by(report_dispatches::unit)
                    .select((report_dispatches::unit, diesel::dsl::count_star()))
                    .load(c)?;
                let cases: i64 = report_cases::table
                    .filter(report_cases::source.eq(&s))
                    .filter(report_cases::received_at.ge(f))
                    .filter(report_cases::received_at.lt(t))
                    .count()
                    .get_result(c)?;
                Ok::<_, DbError>((rows, cases))
            })
            .await?;
        let mut units = Vec::new();
        let mut in_triage = 0;
        for (unit, received) in rows {
            match unit {
                Some(unit) => units.push(UnitCount { unit, received }),
                None => in_triage += received,
            }
        }
        units.sort_by(|a, b| b.received.cmp(&a.received).then_with(|| a.unit.cmp(&b.unit)));
        Ok(UnitCounts { count_unit: "dispatches", from, to, source, cases, units, in_triage })
    }
}
