//! Which units a case's rating applies to, kept from routing's dispatch events. One hotline
//! rating belongs to the case and applies to each of its dispatches (FIGURES.md: one case sent
//! to two units can be unsatisfied twice in dispatches and once in cases).

use caseflow_runtime::{Db, DbError, Principal, Problem, Role};
use diesel::prelude::*;

use crate::store::evaluation_subjects;

const READERS: &[Role] = &[Role::Evaluator, Role::Integrator, Role::Admin, Role::Service];

#[derive(Clone, Debug)]
pub struct Subjects {
    pub(crate) db: Db,
}

/// The units of a case's dispatches, and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSubjects {
    pub case_id: String,
    pub source: Option<String>,
    pub units: Vec<String>,
}

impl Subjects {
    pub async fn of_case(&self, principal: &Principal, case_id: &str) -> Result<CaseSubjects, Problem> {
        principal.require("read evaluation subjects", READERS)?;
        let id = case_id.to_owned();
        let rows: Vec<(Option<String>, String)> = self
            .db
            .read(move |c| {
                evaluation_subjects::table
                    .filter(evaluation_subjects::case_id.eq(&id))
                    .order(evaluation_subjects::dispatch_id.asc())
                    .select((evaluation_subjects::unit, evaluation_subjects::source))
                    .load(c)
                    .map_err(DbError::from)
            })
            .await?;
        crate::service::require_read_scope(principal.role, rows.first().map(|r| r.1.as_str()))?;
        Ok(CaseSubjects {
            case_id: case_id.to_owned(),
            source: rows.first().map(|r| r.1.clone()),
            units: rows.into_iter().filter_map(|r| r.0).collect(),
        })
    }
}
