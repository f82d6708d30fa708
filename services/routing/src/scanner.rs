//! The scanner: reminders at the policy's fractions of each deadline, and supervision (督办) of
//! overdue dispatches, escalating when they stay overdue. Overdue itself is never a stored flag
//! (it is derived as of any moment); the scanner only takes the actions that follow from it.
//!
//! Safe in several replicas at once: on PostgreSQL a scan runs under a transaction-level
//! advisory lock that other replicas skip instead of waiting for, and every reminder and
//! escalation is keyed so it is sent once.
//!
//! A scan looks only at the dispatches that are due (`dispatches.scan_at`, indexed): after
//! looking at one it stores when it must look next (its next reminder, its deadline, its
//! supervision's escalation: `next_look`), and a dispatch that changes is due again at once
//! (`save_dispatch`). Between scans the scanner sleeps until the earliest of those moments, or,
//! when a dispatch changes anywhere (its event reaches this replica's stream), for at most the
//! interval: with nothing to do it does nothing, and it never reads every open dispatch.

use caseflow_runtime::{AnyConnection, Principal, Role};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use serde::Serialize;

use crate::actions::open_supervision;
use crate::dispatching::load_matter;
use crate::error::RoutingError;
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
    /// The dispatches looked at: those due by then, up to a batch (500).
    pub looked_at: usize,
    /// When the next dispatch falls due; none while no open dispatch waits for anything.
    pub next_at: Option<DateTime<Utc>>,
}

/// Before any dispatch (the records start in this century): the lower bound of "due by now".
fn no_earlier() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(1900, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default()
}

/// The most dispatches one scan looks at (one transaction); more due, the next scan follows at
/// once.
const SCAN_BATCH: i64 = 500;

/// A dispatch's clocks: (name, start, end, done).
fn clocks(d: &DispatchRow, m: &crate::store::MatterRow) -> [(&'static str, NaiveDateTime, NaiveDateTime, bool); 3] {
    let received = m.case_received_at;
    [
        ("acknowledge", d.dispatched_at, d.acknowledge_deadline, d.acknowledged_at.is_some()),
        ("land", received, m.land_deadline, d.landed_at.is_some()),
        ("resolve", received, m.resolve_deadline, d.resolved_at.is_some()),
    ]
}

/// When the reminder at `fraction` of the clock [start, end) falls due.
fn reminder_due(start: NaiveDateTime, end: NaiveDateTime, fraction: f64) -> NaiveDateTime {
    let span = (end - start).num_seconds() as f64;
    start + chrono::Duration::seconds((span * fraction) as i64)
}

/// When the scanner must look at `d` next, after looking at it at `now`: its next reminder, the
/// moment after its deadline (a lead dispatch is supervised once overdue), or its open
/// supervision's escalation (`supervised_since`: when the open supervision not yet escalated was
/// opened); `None` when it waits for nothing until it changes.
fn next_look(
    rules: &crate::dispatching::Rules,
    d: &DispatchRow,
    m: &crate::store::MatterRow,
    supervised_since: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Option<NaiveDateTime> {
    let mut next: Option<NaiveDateTime> = None;
    let mut at = |t: NaiveDateTime| next = Some(next.map_or(t, |n| n.min(t)));
    for (_, start, end, done) in clocks(d, m) {
        if done || end <= start {
            continue;
        }
        for f in &rules.policy.reminders.fractions {
            let due = reminder_due(start, end, *f);
            if due > now && due < end {
                at(due);
            }
        }
    }
    if d.role == "lead" {
        if now <= m.resolve_deadline {
            at(m.resolve_deadline + chrono::Duration::seconds(1));
        } else if let Some(since) = supervised_since {
            at(rules.calendar.deadline(since.and_utc(), rules.policy.supervision.escalate_after).naive_utc());
        }
    }
    next
}

/// When the scanner must first look at a new dispatch: the earliest moment anything of it can
/// fall due, however long ago (none of its reminders has been sent).
pub(crate) fn first_look(
    rules: &crate::dispatching::Rules,
    d: &DispatchRow,
    m: &crate::store::MatterRow,
) -> Option<NaiveDateTime> {
    next_look(rules, d, m, None, no_earlier())
}

fn open_supervision_of(c: &mut AnyConnection, dispatch_id: &str) -> QueryResult<Option<SupervisionRow>> {
    supervisions::table
        .filter(supervisions::dispatch_id.eq(dispatch_id))
        .filter(supervisions::closed_at.is_null())
        .order(supervisions::level.desc())
        .select(SupervisionRow::as_select())
        .first(c)
        .optional()
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
                // The due ones, earliest first and a batch at a time (index `dispatches_scan`),
                // however many others are open. Bounded on both sides: PostgreSQL's generic plan
                // takes a one-sided range for a third of the table, and would read it whole.
                let due: Vec<DispatchRow> = dispatches::table
                    .filter(dispatches::scan_at.between(no_earlier(), now.naive_utc()))
                    .order(dispatches::scan_at)
                    .limit(SCAN_BATCH)
                    .select(DispatchRow::as_select())
                    .load(c)?;
                report.looked_at = due.len();
                for d in due {
                    if !d.is_open() {
                        look_again(c, &d, None)?;
                        continue;
                    }
                    let m = load_matter(c, &d.matter_id)?;
                    for (name, start, end, done) in clocks(&d, &m) {
                        if done || end <= start {
                            continue;
                        }
                        for f in &rules.policy.reminders.fractions {
                            let due = reminder_due(start, end, *f);
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
                        look_again(c, &d, next_look(&rules, &d, &m, None, now.naive_utc()))?;
                        continue;
                    }
                    // The open supervision not yet escalated, by when it was opened.
                    let supervised_since = match open_supervision_of(c, &d.id)? {
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
                            Some(now.naive_utc())
                        }
                        Some(top) if top.escalated_at.is_none() => {
                            let escalate_at = rules
                                .calendar
                                .deadline(top.opened_at.and_utc(), rules.policy.supervision.escalate_after);
                            if now >= escalate_at {
                                caseflow_runtime::db::kept::update(
                                    supervisions::table.find(&top.id),
                                    supervisions::escalated_at.eq(Some(now.naive_utc())),
                                )
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
                                Some(now.naive_utc())
                            } else {
                                Some(top.opened_at)
                            }
                        }
                        Some(_) => None,
                    };
                    look_again(c, &d, next_look(&rules, &d, &m, supervised_since, now.naive_utc()))?;
                }
                let next: Option<Option<NaiveDateTime>> =
                    dispatches::table.select(diesel::dsl::min(dispatches::scan_at)).first(c).optional()?;
                report.next_at = next.flatten().map(|t| t.and_utc());
                Ok::<_, RoutingError>(report)
            })
            .await
    }

    /// Scans until `shutdown`: when the earliest dispatch falls due, and within `interval` of a
    /// dispatch changing (`changes`: this service's stream, which every change writes to).
    pub async fn run_scanner(
        self,
        interval: std::time::Duration,
        changes: tokio::sync::watch::Receiver<i64>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        caseflow_runtime::when_due::run_when_due(interval, changes, shutdown, || async {
            let now = self.clock.now();
            match self.scan_at(now).await {
                Ok(r) => {
                    if r.reminders + r.supervisions_opened + r.escalations > 0 {
                        tracing::info!(
                            reminders = r.reminders,
                            supervisions = r.supervisions_opened,
                            escalations = r.escalations,
                            looked_at = r.looked_at,
                            "scan"
                        );
                    }
                    if r.looked_at as i64 >= SCAN_BATCH {
                        // A full batch: more may be due already.
                        return Some(std::time::Duration::ZERO);
                    }
                    r.next_at.map(|t| (t - now).to_std().unwrap_or(interval))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scan failed; retrying at the next interval");
                    Some(interval)
                }
            }
        })
        .await;
    }
}

/// Stores when the scanner must look at `d` next, unless it changed since it was read (then it
/// is due again already).
fn look_again(c: &mut AnyConnection, d: &DispatchRow, next: Option<NaiveDateTime>) -> QueryResult<()> {
    caseflow_runtime::db::kept::update(
        dispatches::table.filter(dispatches::id.eq(&d.id)).filter(dispatches::version.eq(d.version)),
        dispatches::scan_at.eq(next),
    )
    .execute(c)?;
    Ok(())
}
