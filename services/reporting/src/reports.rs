//! Reports over the read model. Every table names its unit of count.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use caseflow_runtime::{Db, DbError, Principal, Problem, Role};

use crate::attachments::{self, Attachment1, Attachment2, Attachment3};
use crate::store::{report_cases, report_dispatches};

const READERS: &[Role] = &[Role::EfficiencyOffice, Role::Admin];

/// "As of the end of time", for figures that do not depend on the moment (on-time completion,
/// bounce figures): later than every deadline, and still a date both backends store and compare
/// (SQLite compares timestamps as text, so no five-digit years).
fn end_of_time() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(chrono::NaiveDate::MAX).and_time(chrono::NaiveTime::MIN)
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UnitCount {
    pub unit: String,
    /// Lead dispatches the unit holds (open or resolved): attachment 2's 受理件数, counted by
    /// the same rule, so the two agree for the same period.
    pub received: i64,
    /// Lead dispatches that moved on from the unit (returned, transferred, superseded): they
    /// count where the matter landed.
    pub moved_on: i64,
    /// Dispatches the unit had as an assisting (协办) unit.
    pub assisting: i64,
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
    pub(crate) units: std::sync::Arc<crate::units::Units>,
    pub(crate) targets: caseflow_rates::Targets,
    /// Intake, for revealing names to a role that may see them.
    pub(crate) intake: Option<caseflow_runtime::grpc_client::ServiceChannel>,
    /// The span report periods must fall in, judged on this clock; unset, periods are checked
    /// only for their order (the tests of the figures themselves).
    pub(crate) records: Option<(caseflow_runtime::time::RecordBounds, caseflow_runtime::SharedClock)>,
    pub(crate) bulletin: crate::BulletinConfig,
}

impl Reports {
    pub fn new(db: Db, units: std::sync::Arc<crate::units::Units>, targets: caseflow_rates::Targets) -> Self {
        Self { db, units, targets, intake: None, records: None, bulletin: crate::BulletinConfig::default() }
    }

    /// The masthead the DOCX bulletin prints by default.
    pub fn with_bulletin(mut self, bulletin: crate::BulletinConfig) -> Self {
        self.bulletin = bulletin;
        self
    }

    /// Bounds every report period: from the district's first records to the horizon after now.
    pub fn with_records(
        mut self,
        records: caseflow_runtime::time::RecordBounds,
        clock: caseflow_runtime::SharedClock,
    ) -> Self {
        self.records = Some((records, clock));
        self
    }

    pub fn with_intake(mut self, intake: caseflow_runtime::grpc_client::ServiceChannel) -> Self {
        self.intake = Some(intake);
        self
    }

    /// The repeat petitioners' clear names, from intake, which checks the role and logs each
    /// reveal under the person's name with `reason`.
    pub async fn reveal_repeat_petitioners(
        &self,
        p: &Principal,
        summary: &mut crate::summary::Summary,
        reason: &str,
    ) -> Result<(), Problem> {
        p.require("reveal repeat petitioners' names", &[Role::Admin])?;
        let Some(intake) = &self.intake else {
            return Err(Problem::new(caseflow_runtime::ErrorKind::Unavailable, "intake is not configured"));
        };
        let mut client = caseflow_proto::v1::intake_client::IntakeClient::new(intake.intercepted());
        for r in &mut summary.repeat_petitioners {
            let revealed = client
                .reveal_citizen(caseflow_proto::v1::RevealCitizenRequest {
                    case_id: r.case_id.clone(),
                    reason: reason.to_owned(),
                    on_behalf_of: p.name.clone(),
                    on_behalf_of_role: p.role.as_str().to_owned(),
                })
                .await
                .map_err(|s| Problem::from_status("intake", &s))?
                .into_inner();
            r.clear_name = Some(revealed.name).filter(|n| !n.is_empty());
        }
        Ok(())
    }

    /// Dispatches received per unit, for cases received in [from, to).
    #[tracing::instrument(skip_all, fields(caseflow.service = "reporting"))]
    pub async fn unit_counts(
        &self,
        principal: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        source: String,
    ) -> Result<UnitCounts, Problem> {
        self.check_period(principal, from, to)?;
        if source != "hotline" && source != "petition" {
            return Err(Problem::field("source", format!("'{source}' is not one of hotline, petition")));
        }
        let (f, t, s) = (from.naive_utc(), to.naive_utc(), source.clone());
        let (rows, cases) = self
            .db
            .snapshot(move |c| {
                let rows: Vec<(Option<String>, String, String, i64)> = report_dispatches::table
                    .filter(report_dispatches::source.eq(&s))
                    .filter(report_dispatches::received_at.ge(f))
                    .filter(report_dispatches::received_at.lt(t))
                    .group_by((report_dispatches::unit, report_dispatches::role, report_dispatches::status))
                    .select((
                        report_dispatches::unit,
                        report_dispatches::role,
                        report_dispatches::status,
                        diesel::dsl::count_star(),
                    ))
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
        let mut per_unit: std::collections::BTreeMap<String, UnitCount> = std::collections::BTreeMap::new();
        let mut in_triage = 0;
        for (unit, role, status, n) in rows {
            let Some(unit) = unit else {
                in_triage += n;
                continue;
            };
            let row =
                per_unit.entry(unit.clone()).or_insert(UnitCount { unit, received: 0, moved_on: 0, assisting: 0 });
            match (role.as_str(), status.as_str()) {
                ("lead", "open" | "resolved") => row.received += n,
                ("lead", _) => row.moved_on += n,
                _ => row.assisting += n,
            }
        }
        let mut units: Vec<UnitCount> = per_unit.into_values().collect();
        // Attachment 2's order: more received first, then the registry's order.
        units.sort_by(|a, b| {
            b.received.cmp(&a.received).then_with(|| self.units.order(&a.unit).cmp(&self.units.order(&b.unit)))
        });
        Ok(UnitCounts { count_unit: "dispatches", from, to, source, cases, units, in_triage })
    }
}

impl Reports {
    /// Refuses a caller who may not read reports: checked before an upload's body is read.
    pub fn authorize_reader(principal: &Principal) -> Result<(), Problem> {
        principal.require("read reports", READERS)
    }

    fn check_period(&self, principal: &Principal, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), Problem> {
        principal.require("read reports", READERS)?;
        self.check_dates(from, to)
    }

    /// A period inside the district's records, its end after its start.
    fn check_dates(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), Problem> {
        if let Some((records, clock)) = &self.records {
            records.check_period(from, to, clock.now()).map_err(|v| Problem::invalid(v).with_rule("records.bounds"))?;
        }
        if from >= to {
            return Err(Problem::field("to", "must be after from (the period is [from, to))"));
        }
        Ok(())
    }

    /// Attachment 2: hotline dispatches per unit, as of `as_of`.
    pub async fn attachment_2(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Attachment2, Problem> {
        self.check_period(p, from, to)?;
        let (f, t, at) = (from.naive_utc(), to.naive_utc(), as_of.naive_utc());
        let cells = self
            .db
            .snapshot(move |c| crate::read::dispatch_cells(c, "hotline", f, t, at).map_err(DbError::from))
            .await?;
        attachments::attachment_2(&self.units, &cells, from, to, as_of).map_err(|e| Problem::internal(&e))
    }

    /// Attachment 3: the ranking by hotline satisfaction.
    pub async fn attachment_3(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Attachment3, Problem> {
        let a2 = self.attachment_2(p, from, to, as_of).await?;
        Ok(attachments::attachment_3(&a2, &self.targets))
    }

    /// Attachment 1: petitions per unit.
    pub async fn attachment_1(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Attachment1, Problem> {
        self.check_period(p, from, to)?;
        let (f, t, at) = (from.naive_utc(), to.naive_utc(), as_of.naive_utc());
        let cells = self
            .db
            .snapshot(move |c| crate::read::rating_cells(c, "petition", f, t, at).map_err(DbError::from))
            .await?;
        attachments::attachment_1(&self.units, &cells, &self.targets, from, to).map_err(|e| Problem::internal(&e))
    }
}

impl Reports {
    /// The three attachments as one workbook, laid out like the bulletin's.
    pub async fn workbook(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<u8>, Problem> {
        let a1 = self.attachment_1(p, from, to, as_of).await?;
        let a2 = self.attachment_2(p, from, to, as_of).await?;
        let a3 = attachments::attachment_3(&a2, &self.targets);
        let (_, period) = crate::bulletin::months(from, to);
        crate::xlsx::workbook(&a1, &a2, &a3, &period).map_err(|e| Problem::internal(&e))
    }

    /// An uploaded table (or several) against itself and the event data of [from, to).
    pub async fn reconcile(
        &self,
        p: &Principal,
        rows: &[Vec<crate::reconcile::Cell>],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<crate::reconcile::Reconciliation, Problem> {
        use crate::reconcile::Layout;
        self.check_period(p, from, to)?;
        let found: Vec<Layout> = crate::reconcile::tables(rows)
            .map_err(|e| Problem::field("body", e.to_string()))?
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        let a1 = if found.contains(&Layout::Attachment1) {
            Some(self.attachment_1(p, from, to, as_of).await?)
        } else {
            None
        };
        let a2 = if found.iter().any(|l| *l != Layout::Attachment1) {
            Some(self.attachment_2(p, from, to, as_of).await?)
        } else {
            None
        };
        let a3 = a2.as_ref().map(|a2| attachments::attachment_3(a2, &self.targets));
        let ours = crate::reconcile::Ours { a1: a1.as_ref(), a2: a2.as_ref(), a3: a3.as_ref() };
        crate::reconcile::reconcile(rows, &self.units, ours).map_err(|e| Problem::field("body", e.to_string()))
    }

    /// The half-year bulletin's blocks, every figure from the reports of [from, to) as of `as_of`.
    pub async fn bulletin(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<crate::bulletin::Block>, Problem> {
        // The reports are read side by side; the bounce figures come from the summaries' own
        // settled dispatch cells (the same figures `bounce` reads) and the period's returns.
        let (f, t) = (from.naive_utc(), to.naive_utc());
        let ((petition, petition_cells), (hotline, mut cells), a1, a2, returns) = futures::try_join!(
            self.summary_and_cells(p, "petition".into(), from, to, as_of),
            self.summary_and_cells(p, "hotline".into(), from, to, as_of),
            self.attachment_1(p, from, to, as_of),
            self.attachment_2(p, from, to, as_of),
            async {
                Ok(self
                    .db
                    .snapshot(move |c| {
                        Ok::<_, DbError>((crate::read::returns(c, f, t)?, crate::read::history_warnings(c, f, t)?))
                    })
                    .await?)
            },
        )?;
        let (returns, warnings) = returns;
        for (unit, more) in petition_cells {
            *cells.entry(unit).or_default() += more;
        }
        let bounce = crate::bounce::bounce(&self.units, &cells, &returns, &warnings);
        let a3 = attachments::attachment_3(&a2, &self.targets);
        Ok(crate::bulletin::blocks(&crate::bulletin::Inputs {
            from,
            to,
            petition: &petition,
            hotline: &hotline,
            a1: &a1,
            a2: &a2,
            a3: &a3,
            bounce: &bounce,
            units: &self.units,
        }))
    }
}

impl Reports {
    /// Bounce figures per unit for matters of cases received in [from, to).
    pub async fn bounce(
        &self,
        p: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<crate::bounce::BounceReport, Problem> {
        self.check_period(p, from, to)?;
        let (f, t) = (from.naive_utc(), to.naive_utc());
        // The figures do not depend on the moment: read them at the end of time.
        let end = end_of_time();
        let (cells, returns, warnings) = self
            .db
            .snapshot(move |c| {
                let mut cells = crate::read::dispatch_cells(c, "hotline", f, t, end)?;
                for (unit, more) in crate::read::dispatch_cells(c, "petition", f, t, end)? {
                    *cells.entry(unit).or_default() += more;
                }
                Ok::<_, DbError>((cells, crate::read::returns(c, f, t)?, crate::read::history_warnings(c, f, t)?))
            })
            .await?;
        Ok(crate::bounce::bounce(&self.units, &cells, &returns, &warnings))
    }
}

impl Reports {
    /// Hot topics against the period just before, the repeat petitioners read, collective visits
    /// and the evaluation figures.
    async fn add_topics_and_evaluations(
        &self,
        summary: &mut crate::summary::Summary,
        cases_now: &crate::summary::CaseCounts,
        repeats: Vec<crate::repeats::Repeater>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<(), Problem> {
        use crate::summary::{CollectiveVisits, Evaluated, RepeatPetitioner, growth};
        let (pf, pt) = (from - (to - from), from);
        let (f, t, s, at) = (from.naive_utc(), to.naive_utc(), summary.source.clone(), as_of.naive_utc());
        let (cases_before, terms_now, terms_before, ratings) = self
            .db
            .snapshot(move |c| {
                let before = crate::read::case_counts(c, &s, pf.naive_utc(), pt.naive_utc())?;
                let terms_now = crate::read::term_counts(c, &s, f, t)?;
                let terms_before = crate::read::term_counts(c, &s, pf.naive_utc(), pt.naive_utc())?;
                let ratings = crate::read::rating_cells(c, &s, f, t, at)?;
                Ok::<_, DbError>((before, terms_now, terms_before, ratings))
            })
            .await?;
        let sub = |m: &crate::summary::CaseCounts| -> std::collections::BTreeMap<String, u64> {
            m.iter().filter(|((d, _), _)| d == "subcategory").map(|((_, v), n)| (v.clone(), *n)).collect()
        };
        let names = crate::summary::category_names();
        let previous_cases = cases_before.get(&("total".to_owned(), String::new())).copied().unwrap_or(0);
        let compared = previous_cases > 0;
        summary.hot_topics = crate::summary::HotTopics {
            previous_from: Some(pf),
            previous_to: Some(pt),
            previous_cases,
            categories: growth(&sub(cases_now), &sub(&cases_before), compared, 5, |k| {
                names.get(k).cloned().unwrap_or_else(|| k.to_owned())
            }),
            keywords: growth(&terms_now, &terms_before, compared, 10, str::to_owned),
        };
        summary.repeat_petitioners = repeats
            .into_iter()
            .map(|r| RepeatPetitioner {
                name: if r.masked_name.is_empty() { "（匿名）".into() } else { r.masked_name },
                petitions: r.petitions,
                case_id: r.case_id,
                clear_name: None,
            })
            .collect();
        if summary.source == "petition" {
            let count = |d: &str| cases_now.get(&(d.to_owned(), String::new())).copied().unwrap_or(0);
            summary.collective_visits =
                Some(CollectiveVisits { batches: count("collective"), persons: count("collective_persons") });
        }
        let internal = |e: crate::attachments::Broken| Problem::internal(&e);
        if summary.source == "petition" {
            let mut units = crate::rollup::RatingCells::default();
            for (subject, cells) in &ratings {
                if subject != crate::rollup::AGENCY {
                    units += *cells;
                }
            }
            for (subject, cells) in ratings.iter().filter(|(s, _)| s.as_str() != crate::rollup::AGENCY) {
                let e = Evaluated::from_cells(cells).map_err(internal)?;
                let (t, rated) = (&self.targets, e.satisfied + e.basic + e.unsatisfied);
                // The exact rates against the targets, as the attachments judge them.
                if caseflow_rates::participation(e.due, e.due - rated).is_some_and(|r| r.below(t.participation)) {
                    summary.below_targets.participation.push(subject.clone());
                }
                if caseflow_rates::petition_satisfaction(e.satisfied, e.basic, e.unsatisfied)
                    .is_some_and(|r| r.below(t.petition_satisfaction))
                {
                    summary.below_targets.petition_satisfaction.push(subject.clone());
                }
            }
            let agency = ratings.get(crate::rollup::AGENCY).copied().unwrap_or_default();
            summary.evaluation.agency = Some(Evaluated::from_cells(&agency).map_err(internal)?);
            summary.evaluation.units = Some(Evaluated::from_cells(&units).map_err(internal)?);
        } else {
            let cases = ratings.get(crate::rollup::CASE).copied().unwrap_or_default();
            let unsatisfied = u64::try_from(cases.unsatisfied)
                .map_err(|_| Problem::internal(&crate::attachments::Broken("unsatisfied cases are negative".into())))?;
            summary.evaluation.unsatisfied_cases = Some(unsatisfied);
            summary.evaluation.overall_satisfaction =
                caseflow_rates::hotline_district_satisfaction(summary.total.count, unsatisfied)
                    .map(|r| r.percent(caseflow_rates::HOTLINE_DECIMALS));
        }
        Ok(())
    }

    pub fn units(&self) -> &crate::units::Units {
        &self.units
    }
}

impl Reports {
    /// The narrative figures for one source over [from, to), with the same period a year earlier;
    /// the evaluation figures as of `as_of` (an evaluation whose window closed by then is
    /// expired).
    pub async fn summary(
        &self,
        p: &Principal,
        source: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<crate::summary::Summary, Problem> {
        Ok(self.summary_and_cells(p, source, from, to, as_of).await?.0)
    }

    /// The summary, and each unit's dispatch cells of the source's period as they stand once
    /// settled, which it is computed from (the bulletin's bounce figures are those too).
    async fn summary_and_cells(
        &self,
        p: &Principal,
        source: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<(crate::summary::Summary, BTreeMap<String, crate::rollup::DispatchCells>), Problem> {
        self.check_period(p, from, to)?;
        if source != "hotline" && source != "petition" {
            return Err(Problem::field("source", format!("'{source}' is not one of hotline, petition")));
        }
        let year = chrono::Months::new(12);
        let (lf, lt) = (from.checked_sub_months(year).unwrap_or(from), to.checked_sub_months(year).unwrap_or(to));
        let (f, t, s) = (from.naive_utc(), to.naive_utc(), source.clone());
        // On-time and late completions do not depend on the moment; read them at the end of time.
        let settled = end_of_time();
        let petition = source == "petition";
        // The petitions' repeat petitioners and leader receptions are read beside the rest.
        let ((now, last, dispatches, single_visit), repeats, (receptions, reviews)) = futures::try_join!(
            async {
                Ok::<_, Problem>(
                    self.db
                        .snapshot(move |c| {
                            let now = crate::read::case_counts(c, &s, f, t)?;
                            let last = crate::read::case_counts(c, &s, lf.naive_utc(), lt.naive_utc())?;
                            let dispatches = crate::read::dispatch_cells(c, &s, f, t, settled)?;
                            let single_visit = crate::single_visit::read(c, &s, f, t)?;
                            Ok::<_, DbError>((now, last, dispatches, single_visit))
                        })
                        .await?,
                )
            },
            async {
                if !petition {
                    return Ok(Vec::new());
                }
                Ok::<_, Problem>(self.db.snapshot(move |c| crate::repeats::read(c, f, t).map_err(DbError::from)).await?)
            },
            async {
                use crate::store::report_reception_matters as rm;
                if !petition {
                    return Ok((None, None));
                }
                let moment = as_of.naive_utc();
                let (rows, reviews): (Vec<(String, i32, String)>, _) = self
                    .db
                    .snapshot(move |c| {
                        let rows = rm::table
                            .filter(rm::received_at.ge(f))
                            .filter(rm::received_at.lt(t))
                            .select((rm::reception_id, rm::persons, rm::outcome))
                            .load(c)?;
                        Ok::<_, DbError>((rows, crate::reviews::read(c, f, t, moment)?))
                    })
                    .await?;
                let receptions = crate::summary::Receptions::from_rows(&rows).map_err(|e| Problem::internal(&e))?;
                Ok::<_, Problem>((Some(receptions), Some(reviews)))
            },
        )?;
        let mut summary = crate::summary::build(&source, &now, &last, &dispatches, &single_visit)
            .map_err(|e| Problem::internal(&e))?;
        if summary.source == "petition" {
            summary.first_petitions = Some(crate::summary::FirstPetitions::of(&dispatches));
        }
        summary.leader_receptions = receptions;
        summary.reviews = reviews;
        self.add_topics_and_evaluations(&mut summary, &now, repeats, from, to, as_of).await?;
        if summary.source == "hotline" {
            summary.below_targets.hotline_satisfaction = dispatches
                .iter()
                .filter(|(_, c)| {
                    let (completed, unsatisfied) =
                        (u64::try_from(c.completed).unwrap_or(0), u64::try_from(c.unsatisfied).unwrap_or(0));
                    caseflow_rates::hotline_unit_satisfaction(completed, unsatisfied)
                        .is_some_and(|r| r.below(self.targets.hotline_satisfaction))
                })
                .map(|(u, _)| u.clone())
                .collect();
        }
        Ok((summary, dispatches))
    }
}

impl Reports {
    /// Refuses a caller who may not see `unit`'s facts: the readers see every unit, a unit
    /// handler only its own (and only with the unit named: no totals across units).
    pub fn authorize_unit(principal: &Principal, unit: Option<&str>) -> Result<(), Problem> {
        if principal.role == Role::UnitHandler {
            return match (unit, principal.unit.as_deref()) {
                (Some(asked), Some(own)) if asked == own => Ok(()),
                _ => Err(Problem::new(
                    caseflow_runtime::ErrorKind::PermissionDenied,
                    "a unit handler sees only its own unit's figures: name it in `unit`",
                )
                .with_rule("auth.unit")),
            };
        }
        principal.require("read reports", READERS)
    }

    /// The facts behind one cell of an attachment, paged: as many in all as the figure says.
    #[tracing::instrument(skip_all, fields(caseflow.service = "reporting"))]
    pub async fn cells(&self, p: &Principal, q: crate::cells::CellQuery) -> Result<crate::cells::CellRows, Problem> {
        Self::authorize_unit(p, q.unit.as_deref())?;
        self.check_dates(q.from, q.to)?;
        let units = self.units.clone();
        Ok(self.db.snapshot(move |c| crate::cells::page(c, &units, &q).map_err(DbError::from)).await?)
    }
}
