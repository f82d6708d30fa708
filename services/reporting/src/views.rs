//! What the console's pages show besides the reports themselves: cases per week against the
//! same weeks a year earlier, one unit's figures and open dispatches, and where matters moved
//! between units. Read from the read model, authorized here as the reports are.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use caseflow_runtime::db::replanned::Replanned;
use caseflow_runtime::{DbError, Principal, Problem, Role};

use crate::Reports;
use crate::attachments::{HotlineRow, PetitionRow};
use crate::bounce::BounceRow;
use crate::rollup::{day_start, district_day};
use crate::store::{DispatchFact, report_case_days, report_cases, report_dispatches, report_returns};

/// One week of cases received: the week's first district day, this period's count and the
/// count of the same week a year earlier (52 weeks before, so weekdays line up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Week {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub cases: u64,
    pub year_before: u64,
}

/// An open dispatch of a unit, as its page lists it.
#[derive(Debug, Clone)]
pub struct OpenDispatch {
    pub fact: DispatchFact,
    pub category: String,
    pub citizen: String,
    /// Past its resolve deadline as of the page's moment.
    pub overdue: bool,
}

/// One unit's page.
#[derive(Debug, Clone)]
pub struct UnitView {
    pub unit: String,
    pub name: String,
    /// Attachment 2's row for each month of the period (hotline), as of the moment: the month,
    /// its first district day and the day after its last.
    pub months: Vec<(String, NaiveDate, NaiveDate, HotlineRow)>,
    /// The period's attachment 2 row and attachment 1 row.
    pub hotline: HotlineRow,
    pub petition: Option<PetitionRow>,
    /// Open dispatches now held (lead or assisting), overdue first, then by deadline.
    pub open: Vec<OpenDispatch>,
    pub open_total: u64,
    pub bounce: BounceRow,
}

/// Matters moving between units over a period.
#[derive(Debug, Clone, Default)]
pub struct Moves {
    /// (from unit, to unit, matters).
    pub flows: Vec<(String, String, u64)>,
    /// The matters that went to most units: (matter, case, the units in order).
    pub most_moved: Vec<(String, String, Vec<String>)>,
    /// Wrongful returns: (unit, matter, days they cost).
    pub wrongful: Vec<(String, String, f64)>,
}

/// How many open dispatches a unit page lists.
pub const OPEN_LISTED: i64 = 200;

fn months_of(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    use chrono::Datelike as _;
    let utc = |d: NaiveDate| DateTime::<Utc>::from_naive_utc_and_offset(day_start(d), Utc);
    let mut out = Vec::new();
    let first = district_day(from.naive_utc());
    let last = district_day(to.naive_utc());
    let mut month = NaiveDate::from_ymd_opt(first.year(), first.month(), 1).unwrap_or(first);
    while month < last && out.len() < 24 {
        let next = month.checked_add_months(chrono::Months::new(1)).unwrap_or(last);
        let (a, b) = (month.max(first), next.min(last));
        out.push((format!("{}年{}月", month.year(), month.month()), utc(a), utc(b)));
        month = next;
    }
    out
}

/// Only the lead dispatches past a matter's first assignment, written out so that the partial
/// index `report_dispatches_moves` serves the query on both backends.
pub(crate) fn moved() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>("assignment > 1 AND role = 'lead'")
}

/// The unit a matter moved from, or `triage` when no unit held it before.
pub(crate) const TRIAGE: &str = "triage";

/// One move of a matter of a case received in [from, to): a lead dispatch to another unit
/// than the one before it (the flows between units).
#[derive(Debug, Clone)]
pub(crate) struct Move {
    pub from_unit: String,
    pub unit: String,
    pub matter_id: String,
    pub assignment: i32,
}

/// The lead dispatches past a first assignment of cases received in [from, to), read whole
/// from the partial index: the moves (where the unit changed) and every matter's assignments.
pub(crate) fn moves_of(
    conn: &mut caseflow_runtime::AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<Move>> {
    use report_dispatches as d;
    let rows: Vec<(Option<String>, Option<String>, String, i32)> = d::table
        .filter(d::source.eq_any(["hotline", "petition"]))
        .filter(d::received_at.ge(from))
        .filter(d::received_at.lt(to))
        .filter(moved())
        .select((d::previous_unit, d::unit, d::matter_id, d::assignment))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(before, unit, matter_id, assignment)| Move {
            from_unit: before.unwrap_or_else(|| TRIAGE.to_owned()),
            unit: unit.unwrap_or_else(|| TRIAGE.to_owned()),
            matter_id,
            assignment,
        })
        .collect())
}

/// The units of each of `matters`, in the order of their lead dispatches, and its case.
fn paths(
    conn: &mut caseflow_runtime::AnyConnection,
    matters: &[String],
) -> QueryResult<BTreeMap<String, (String, Vec<String>)>> {
    use report_dispatches as d;
    let mut legs: Vec<DispatchFact> = d::table
        .filter(d::matter_id.eq_any(matters))
        .filter(d::role.eq("lead"))
        .select(DispatchFact::as_select())
        .load(conn)?;
    legs.sort_by(|a, b| {
        (&a.matter_id, a.assignment, a.dispatched_at, &a.dispatch_id).cmp(&(
            &b.matter_id,
            b.assignment,
            b.dispatched_at,
            &b.dispatch_id,
        ))
    });
    let mut out: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for leg in legs {
        let path = out.entry(leg.matter_id).or_insert_with(|| (leg.case_id, Vec::new()));
        path.1.push(leg.unit.unwrap_or_else(|| TRIAGE.to_owned()));
    }
    Ok(out)
}

impl Reports {
    /// Cases received per week of [from, to), and in the same weeks a year earlier.
    pub async fn weekly_cases(
        &self,
        p: &Principal,
        source: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Week>, Problem> {
        Self::authorize_reader(p)?;
        let (first, end) = (district_day(from.naive_utc()), district_day(to.naive_utc()));
        let shift = Duration::weeks(52);
        let s = source.to_owned();
        let days: Vec<(NaiveDate, i64)> = self
            .db
            .snapshot(move |c| {
                report_case_days::table
                    .filter(report_case_days::source.eq(s))
                    .filter(report_case_days::dimension.eq("total"))
                    .filter(report_case_days::day.ge(first - shift))
                    .filter(report_case_days::day.lt(end))
                    .select((report_case_days::day, report_case_days::cases))
                    .load(c)
                    .map_err(DbError::from)
            })
            .await?;
        let per_day: BTreeMap<NaiveDate, u64> =
            days.into_iter().map(|(d, n)| (d, u64::try_from(n).unwrap_or(0))).collect();
        let sum = |a: NaiveDate, b: NaiveDate| per_day.range(a..b).map(|(_, n)| n).sum::<u64>();
        let mut weeks = Vec::new();
        let mut start = first;
        while start < end && weeks.len() < 60 {
            let stop = (start + Duration::days(7)).min(end);
            weeks.push(Week {
                start,
                end: stop,
                cases: sum(start, stop),
                year_before: sum(start - shift, stop - shift),
            });
            start = stop;
        }
        Ok(weeks)
    }

    /// One unit's page: the office and administrators see any unit, a dispatcher too (triage
    /// sends to every unit), a unit handler only its own.
    pub async fn unit_view(
        &self,
        p: &Principal,
        unit: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<UnitView, Problem> {
        if p.role != Role::Dispatcher {
            Self::authorize_unit(p, Some(unit))?;
        }
        if !self.units.all().iter().any(|u| u.code == unit) {
            return Err(Problem::new(
                caseflow_runtime::ErrorKind::NotFound,
                format!("no unit '{unit}' in the registry"),
            ));
        }
        // The unit's rows of the office's own tables, read with the office's rights once the
        // caller was found to see this unit.
        let reader = Principal { name: format!("{} (unit page)", p.name), role: Role::EfficiencyOffice, unit: None };
        let row_of = |a2: &crate::attachments::Attachment2| {
            a2.departments.iter().chain(&a2.sub_districts).find(|r| r.unit == unit).cloned()
        };
        let blank = HotlineRow {
            unit: unit.to_owned(),
            name: self.units.name(unit),
            received: 0,
            in_progress: 0,
            completed: 0,
            overdue_view: 0,
            overdue_handling: 0,
            unsatisfied: 0,
            satisfaction: None,
        };
        let mut months = Vec::new();
        for (label, a, b) in months_of(from, to) {
            let a2 = self.attachment_2(&reader, a, b, as_of).await?;
            let (first, end) = (district_day(a.naive_utc()), district_day(b.naive_utc()));
            months.push((label, first, end, row_of(&a2).unwrap_or_else(|| blank.clone())));
        }
        let a2 = self.attachment_2(&reader, from, to, as_of).await?;
        let hotline = row_of(&a2).unwrap_or(blank);
        let a1 = self.attachment_1(&reader, from, to, as_of).await?;
        let petition = a1.departments.iter().chain(&a1.sub_districts).find(|r| r.unit == unit).cloned();
        let bounce =
            self.bounce(&reader, from, to).await?.units.into_iter().find(|r| r.unit == unit).unwrap_or_else(|| {
                BounceRow { unit: unit.to_owned(), name: self.units.name(unit), ..BounceRow::default() }
            });
        let (code, at) = (unit.to_owned(), as_of.naive_utc());
        let (facts, open_total, details) = self
            .db
            .snapshot(move |c| {
                use report_dispatches as d;
                let open = || d::table.filter(d::unit.eq(code.clone())).filter(d::status.eq("open"));
                let total: i64 = open().count().get_result(c)?;
                // Overdue first: the deadlines passed by the moment, earliest first, then the rest.
                let mut facts: Vec<DispatchFact> = open()
                    .filter(d::resolve_deadline.lt(at))
                    .order((d::resolve_deadline.asc(), d::dispatch_id.asc()))
                    .limit(OPEN_LISTED)
                    .select(DispatchFact::as_select())
                    .load(c)?;
                let room = OPEN_LISTED - i64::try_from(facts.len()).unwrap_or(OPEN_LISTED);
                if room > 0 {
                    let rest: Vec<DispatchFact> = open()
                        .filter(d::resolve_deadline.ge(at).or(d::resolve_deadline.is_null()))
                        .order((d::resolve_deadline.asc(), d::dispatch_id.asc()))
                        .limit(room)
                        .select(DispatchFact::as_select())
                        .load(c)?;
                    facts.extend(rest);
                }
                let ids: Vec<&str> = facts.iter().map(|f| f.case_id.as_str()).collect();
                let details: Vec<(String, String, String)> = report_cases::table
                    .filter(report_cases::case_id.eq_any(&ids))
                    .select((report_cases::case_id, report_cases::category, report_cases::citizen_masked))
                    .load(c)?;
                Ok::<_, DbError>((facts, total, details))
            })
            .await?;
        let details: BTreeMap<String, (String, String)> =
            details.into_iter().map(|(id, cat, who)| (id, (cat, who))).collect();
        let open = facts
            .into_iter()
            .map(|fact| {
                let (category, citizen) = details.get(&fact.case_id).cloned().unwrap_or_default();
                let overdue = fact.resolve_deadline.is_some_and(|d| d < at);
                OpenDispatch { fact, category, citizen, overdue }
            })
            .collect();
        Ok(UnitView {
            unit: unit.to_owned(),
            name: self.units.name(unit),
            months,
            hotline,
            petition,
            open,
            open_total: u64::try_from(open_total).unwrap_or(0),
            bounce,
        })
    }

    /// Where the matters of cases received in [from, to) went: each move from one lead
    /// dispatch's unit to the next one's, the matters that went to most units, and the
    /// wrongful returns with the days they cost.
    pub async fn moves(&self, p: &Principal, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Moves, Problem> {
        Self::authorize_reader(p)?;
        let (f, t) = (from.naive_utc(), to.naive_utc());
        type Wrongful = (String, String, Option<f64>);
        /// The matters listed as moving most.
        const MOST: usize = 20;
        let (moves, paths, wrongful) = self
            .db
            .snapshot(move |c| {
                // The period's wrongful returns only (`report_returns_wrongful`, a partial index),
                // planned for the table as it is (a report runs rarely; a kept plan from when
                // the table was small read every return of the period).
                let wrongful: Vec<Wrongful> = Replanned(
                    report_returns::table
                        .filter(report_returns::received_at.ge(f))
                        .filter(report_returns::received_at.lt(t))
                        .filter(report_returns::wrongful)
                        .select((report_returns::unit, report_returns::matter_id, report_returns::days_cost)),
                )
                .load(c)?;
                let moves = moves_of(c, f, t)?;
                // The matters that reached the highest assignment, and only their paths.
                let mut highest: BTreeMap<&str, i32> = BTreeMap::new();
                for m in &moves {
                    let h = highest.entry(m.matter_id.as_str()).or_default();
                    *h = (*h).max(m.assignment);
                }
                let mut top: Vec<(&str, i32)> = highest.into_iter().collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
                let top: Vec<String> = top.into_iter().take(MOST).map(|(m, _)| m.to_owned()).collect();
                let paths = paths(c, &top)?;
                Ok::<_, DbError>((moves, paths, wrongful))
            })
            .await?;
        let mut flows: BTreeMap<(String, String), u64> = BTreeMap::new();
        for m in moves.into_iter().filter(|m| m.from_unit != m.unit) {
            *flows.entry((m.from_unit, m.unit)).or_default() += 1;
        }
        let mut most_moved: Vec<(String, String, Vec<String>)> =
            paths.into_iter().map(|(matter, (case, units))| (matter, case, units)).collect();
        most_moved.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then_with(|| a.0.cmp(&b.0)));
        let mut wrongful: Vec<(String, String, f64)> =
            wrongful.into_iter().map(|(u, m, d)| (u, m, d.unwrap_or(0.0))).collect();
        wrongful.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
        Ok(Moves { flows: flows.into_iter().map(|((a, b), n)| (a, b, n)).collect(), most_moved, wrongful })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_year_has_six_months_in_district_time() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).expect("t").with_timezone(&Utc);
        let m = months_of(t("2020-01-01T00:00:00+08:00"), t("2020-07-01T00:00:00+08:00"));
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].0, "2020年1月");
        assert_eq!(m[5].2, t("2020-07-01T00:00:00+08:00"));
        let part = months_of(t("2020-01-15T00:00:00+08:00"), t("2020-02-10T00:00:00+08:00"));
        assert_eq!(
            part.iter().map(|p| (p.1, p.2)).collect::<Vec<_>>(),
            [
                (t("2020-01-15T00:00:00+08:00"), t("2020-02-01T00:00:00+08:00")),
                (t("2020-02-01T00:00:00+08:00"), t("2020-02-10T00:00:00+08:00"))
            ]
        );
    }
}
