//! Routing's service layer: role checks and reads.

use std::sync::Arc;

use caseflow_runtime::{Db, DbError, Principal, Problem, Role};
use diesel::prelude::*;

use crate::registry::{Registry, UnitEntry};
use crate::store::{DispatchRow, dispatches};

const DISPATCH_READERS: &[Role] = &[
    Role::Dispatcher,
    Role::Admin,
    Role::Service,
    Role::EfficiencyOffice,
];

#[derive(Clone, Debug)]
pub struct Routing {
    pub(crate) db: Db,
    pub(crate) registry: Arc<Registry>,
}

impl Routing {
    pub fn units(&self, _principal: &Principal) -> Vec<UnitEntry> {
        self.registry.units().cloned().collect()
    }

    #[tracing::instrument(skip_all, fields(caseflow.service = "routing", case_id = %case_id))]
    pub async fn case_dispatches(
        &self,
        principal: &Principal,
        case_id: &str,
    ) -> Result<Vec<DispatchRow>, Problem> {
        principal.require("read dispatches", DISPATCH_READERS)?;
        let id = case_id.to_owned();
        let rows = self
            .db
            .read(move |c| {
                dispatches::table
                    .filter(dispatches::case_id.eq(&id))
                    .order((dispatches::matter_id.asc(), dispatches::assignment.asc()))
                    .select(DispatchRow::as_select())
                    .load(c)
                    .map_err(DbError::from)
            })
            .await?;
        Ok(rows)
    }
}
