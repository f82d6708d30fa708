//! The scanner: reminders at the policy's fractions of each deadline, and supervision (督办) of
//! overdue dispatches, escalating when they stay overdue. Overdue itself is never a stored flag
//! (it is derived as of any moment); the scanner only takes the actions that follow from it.
//!
//! Safe in several replicas at once: on PostgreSQL a scan runs under a transaction-level
//! advisory lock that other replicas skip instead of waiting for, and every reminder and
//! escalation is keyed so it is sent once.

use caseflow_runtime::{AnyConnection, Principal, Role};
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use serde::Serialize;

use crate::actions::open_supervision;
use crate::dispatching::load_matter;
use crate::error::RoutingError;
use crate::lifecycle::State;
use crate::record::{Change, record};
use crate::service::Routing;
use crate::store::{DispatchRow, SupervisionRow, dispatches, reminders, supervisions};

const SYSTEM: &str = "system:routing";

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScanReport {
    /// False when another replica held the scan lock.
    pub ran: bool,
    pub reminders: usize,
    pub supervisions_opened: usize,
    pub escalations: usize,
}

fn try_lock(c: &mut AnyConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    match c {
        AnyConnection::Postgresql(pg) => diesel::sql_query(
            "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.routing-scanner')) AS locked",
        )
        .get_result::<Locked>(pg)
        .map(|l| l.locked),
        AnyConnection::Sqlite(lite) => {
            // One writer at a time already; the transaction is the lock.
            lite.batch_execute("SELECT 1")?;
            Ok(true)
        }
    }
}

impl Routing {
    /// One pass as of the clock's now.
    pub async fn scan(&self, principal: &Principal) -> Result<ScanReport, RoutingError> {
        principal.require("run the scanner", &[Role::Admin, Role::Service])?;
        self.scan_at(self.clock.now()).await
    }

    pub(crate) async fn scan_at(&self, now: DateTime<Utc>) -> Result<ScanReport, RoutingError> {
        let rules = self.rules.clone();
        self.db
            .write(move |c| {
                let mut report = ScanReport::default();
                if !try_lock(c)? {
                    return Ok(report);
                }
                report.ran = true;
                // By the open states (index `dispatches_open`): the live dispatches only,
                // however many were resolved or closed before.
                let open_states: Vec<&str> =
                    State::ALL.into_iter().filter(|s| s.is_open()).map(State::as_str).collect();
                let open: Vec<DispatchRow> = dispatches::table
                    .filter(dispatches::state.eq_any(open_states))
                    .filter(dispatches::closed_at.is_null())
                    .select(DispatchRow::as_select())
                    .load(c)?;
                for d in open {
                    let m = load_matter(c, &d.matter_id)?;
                    let received = m.case_received_at;
                    let clocks = [
                        ("acknowledge", d.dispatched_at, d.acknowledge_deadline, d.acknowledged_at),
                        ("land", received, m.land_deadline, d.landed_at),
                        ("resolve", received, m.resolve_deadline, d.resolved_at),
                    ];
                    for (name, start, end, done) in clocks {
                        if done.is_some() || end <= start {
                            continue;
                        }
                        for f in &rules.policy.reminders.fractions {
                            let span = (end - start).num_seconds() as f64;
                            let due = start + chrono::Duration::seconds((span * f) as i64);
                            let pct = (f * 100.0).round() as i32;
                            if now.naive_utc() < due || now.naive_utc() >= end {
                                continue;
                            }
                            let sent = reminders::table
                                .filter(reminders::dispatch_id.eq(&d.id))
                                .filter(reminders::deadline.eq(name))
                                .filter(reminders::fraction.eq(pct))
                                .count()
                                .get_result::<i64>(c)?
                                > 0;
                            if sent {
                                continue;
                            }
                            diesel::insert_into(reminders::table)
                                .values((
                                    reminders::dispatch_id.eq(&d.id),
                                    reminders::deadline.eq(name),
                                    reminders::fraction.eq(pct),
                                    reminders::sent_at.eq(now.naive_utc()),
                                ))
                                .execute(c)?;
                            record(
                                c,
                                now,
                                &m,
                                Some(&d),
                                Change {
                                    action: "reminder",
                                    from: d.state.clone(),
                                    to: d.state.clone(),
                                    actor: SYSTEM.into(),
                                    reason: format!(
                                        "{pct}% of the {name} deadline has passed; it falls at {}",
                                        end.and_utc().to_rfc3339()
                                    ),
                                    ..Change::default()
                                },
                            )?;
                            report.reminders += 1;
                        }
                    }
                    if d.role != "lead" || now.naive_utc() <= m.resolve_deadline {
                        continue;
                    }
                    let items: Vec<SupervisionRow> = supervisions::table
                        .filter(supervisions::dispatch_id.eq(&d.id))
                        .filter(supervisions::closed_at.is_null())
                        .order(supervisions::level.desc())
                        .select(SupervisionRow::as_select())
                        .load(c)?;
                    match items.first() {
                        None => {
                            open_supervision(
                                c,
                                &m,
                                &d,
                                1,
                                "overdue: not resolved by its deadline (逾期办理)",
                                SYSTEM,
                                now,
                            )?;
                            report.supervisions_opened += 1;
                        }
                        Some(top) if top.escalated_at.is_none() => {
                            let escalate_at = rules
                                .calendar
                                .deadline(top.opened_at.and_utc(), rules.policy.supervision.escalate_after);
                            if now >= escalate_at {
                                diesel::update(supervisions::table.find(&top.id))
                                    .set(supervisions::escalated_at.eq(Some(now.naive_utc())))
                                    .execute(c)?;
                                diesel::insert_into(supervisions::table)
                                    .values(SupervisionRow {
                                        id: uuid::Uuid::now_v7().to_string(),
                                        dispatch_id: d.id.clone(),
                                        level: top.level + 1,
                                        reason: "still overdue after supervision; escalated".into(),
                                        opened_at: now.naive_utc(),
                                        opened_by: SYSTEM.into(),
                                        escalated_at: None,
                                        closed_at: None,
                                    })
                                    .execute(c)?;
                                record(
                                    c,
                                    now,
                                    &m,
                                    Some(&d),
                                    Change {
                                        action: "escalate",
                                        from: d.state.clone(),
                                        to: d.state.clone(),
                                        actor: SYSTEM.into(),
                                        reason: format!("supervision escalated to level {}", top.level + 1),
                                        ..Change::default()
                                    },
                                )?;
                                report.escalations += 1;
                            }
                        }
                        Some(_) => {}
                    }
                }
                Ok::<_, RoutingError>(report)
            })
            .await
    }

    /// Scans every `interval` until `shutdown`.
    pub async fn run_scanner(self, interval: std::time::Duration, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match self.scan_at(self.clock.now()).await {
                Ok(r) if r.reminders + r.supervisions_opened + r.escalations > 0 => {
                    tracing::info!(
                        reminders = r.reminders,
                        supervisions = r.supervisions_opened,
                        escalations = r.escalations,
                        "scan"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "scan failed; retrying at the next interval"),
            }
        }
    }
}
