//! The bulletin's three attachments, computed from the read model for a period [from, to) of
//! case receipt, as of a moment. Figures follow `shared/domain/FIGURES.md`; every table says its
//! unit of count, and its invariants are checked before it is returned.
//!
//! Counting rules for attachment 2 (dispatches):
//! - a dispatch counts for the unit that holds it at the end: a dispatch the unit returned, or
//!   that was transferred or superseded, moved on and is counted where it landed;
//! - completed (处理完毕): resolved by `as_of`; overdue handling (逾期办理): still open past its
//!   deadline at `as_of`; in progress (正在办理): the rest. So received = in progress +
//!   overdue handling + completed, by construction, and checked;
//! - overdue view (逾期查阅): acknowledged after its deadline, or not yet and past it.

use std::collections::BTreeMap;

use caseflow_rates::{
    HOTLINE_DECIMALS, PETITION_DECIMALS, Targets, hotline_unit_satisfaction, participation, petition_satisfaction,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rollup::{DispatchCells, RatingCells};
use crate::units::Units;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HotlineRow {
    pub unit: String,
    pub name: String,
    /// 受理件数
    pub received: u64,
    /// 正在办理
    pub in_progress: u64,
    /// 处理完毕
    pub completed: u64,
    /// 逾期查阅
    pub overdue_view: u64,
    /// 逾期办理
    pub overdue_handling: u64,
    /// 不满意件数 (dispatches)
    pub unsatisfied: u64,
    /// 群众满意率, percent with two decimals; absent when nothing is completed.
    pub satisfaction: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Attachment2 {
    /// Always "dispatches" (统计口径为批转件数).
    pub count_unit: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    /// 区直部门 (with enterprises and 平台自办), then 街道.
    pub departments: Vec<HotlineRow>,
    pub sub_districts: Vec<HotlineRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RankRow {
    pub rank: u32,
    pub unit: String,
    pub name: String,
    pub satisfaction: Option<f64>,
    /// 受理总件数
    pub received: u64,
    /// 不满意件数
    pub unsatisfied: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Attachment3 {
    pub count_unit: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub departments: Vec<RankRow>,
    pub sub_districts: Vec<RankRow>,
    /// Units under the hotline target (98 %).
    pub below_target: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PetitionRow {
    pub unit: String,
    pub name: String,
    /// 应评
    pub due: u64,
    /// 超期未评
    pub expired: u64,
    /// 参评率, percent with one decimal; absent when nothing is due.
    pub participation: Option<f64>,
    pub satisfied: u64,
    pub basic: u64,
    pub unsatisfied: u64,
    /// 满意率, percent with one decimal; absent when nothing is rated.
    pub satisfaction: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Attachment1 {
    /// "dispatches": each handling unit's rating of each petition.
    pub count_unit: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub departments: Vec<PetitionRow>,
    pub sub_districts: Vec<PetitionRow>,
    pub below_participation_target: Vec<String>,
    pub below_satisfaction_target: Vec<String>,
}

/// A broken invariant: a figure that does not add up is an error to investigate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("report invariant broken: {0}")]
pub struct Broken(pub String);

/// A rollup count as a table cell: a negative one means the rollups lost track of a fact.
fn count(unit: &str, field: &str, v: i64) -> Result<u64, Broken> {
    u64::try_from(v).map_err(|_| Broken(format!("{unit}: {field} is negative ({v})")))
}

/// Attachment 2 from each unit's dispatch cells as of `as_of` (see `rollup::dispatch_cells`).
pub fn attachment_2(
    units: &Units,
    cells: &BTreeMap<String, DispatchCells>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: DateTime<Utc>,
) -> Result<Attachment2, Broken> {
    let mut rows: Vec<HotlineRow> = Vec::new();
    for (unit, c) in cells.iter().filter(|(_, c)| c.received != 0) {
        rows.push(HotlineRow {
            unit: unit.clone(),
            name: units.name(unit),
            received: count(unit, "received", c.received)?,
            in_progress: count(unit, "in progress", c.in_progress)?,
            completed: count(unit, "completed", c.completed)?,
            overdue_view: count(unit, "overdue view", c.overdue_view)?,
            overdue_handling: count(unit, "overdue handling", c.overdue_handling)?,
            unsatisfied: count(unit, "unsatisfied", c.unsatisfied)?,
            satisfaction: None,
        });
    }
    let mut departments = Vec::new();
    let mut sub_districts = Vec::new();
    let mut ordered = rows;
    ordered.sort_by(|a, b| b.received.cmp(&a.received).then_with(|| units.order(&a.unit).cmp(&units.order(&b.unit))));
    for mut row in ordered {
        if row.received != row.in_progress + row.overdue_handling + row.completed {
            return Err(Broken(format!(
                "{}: received {} != in progress + overdue handling + completed",
                row.unit, row.received
            )));
        }
        row.satisfaction =
            hotline_unit_satisfaction(row.completed, row.unsatisfied).map(|r| r.percent(HOTLINE_DECIMALS));
        if units.group(&row.unit) == "sub_district" { sub_districts.push(row) } else { departments.push(row) }
    }
    Ok(Attachment2 { count_unit: "dispatches", from, to, as_of, departments, sub_districts })
}

fn rank(rows: &[HotlineRow]) -> Vec<RankRow> {
    let mut sorted: Vec<&HotlineRow> = rows.iter().collect();
    // Rate descending (no rate last); ties go to the unit with more received (FIGURES.md), and
    // a full tie keeps attachment 2's order (the registry's), the one order every table uses:
    // the sort is stable.
    sorted.sort_by(|a, b| {
        let ra = caseflow_rates::hotline_unit_satisfaction(a.completed, a.unsatisfied);
        let rb = caseflow_rates::hotline_unit_satisfaction(b.completed, b.unsatisfied);
        rb.cmp(&ra).then_with(|| b.received.cmp(&a.received))
    });
    sorted
        .into_iter()
        .enumerate()
        .map(|(i, r)| RankRow {
            rank: u32::try_from(i + 1).unwrap_or(u32::MAX),
            unit: r.unit.clone(),
            name: r.name.clone(),
            satisfaction: r.satisfaction,
            received: r.received,
            unsatisfied: r.unsatisfied,
        })
        .collect()
}

pub fn attachment_3(a2: &Attachment2, targets: &Targets) -> Attachment3 {
    let below_target = a2
        .departments
        .iter()
        .chain(&a2.sub_districts)
        .filter(|r| {
            hotline_unit_satisfaction(r.completed, r.unsatisfied).is_some_and(|x| x.below(targets.hotline_satisfaction))
        })
        .map(|r| r.unit.clone())
        .collect();
    Attachment3 {
        count_unit: "dispatches",
        from: a2.from,
        to: a2.to,
        departments: rank(&a2.departments),
        sub_districts: rank(&a2.sub_districts),
        below_target,
    }
}

/// Attachment 1 from each unit's petition evaluation cells (see `rollup::petition_cells`).
pub fn attachment_1(
    units: &Units,
    cells: &BTreeMap<String, RatingCells>,
    targets: &Targets,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Attachment1, Broken> {
    let mut rows: Vec<PetitionRow> = Vec::new();
    // Every sub-district answers for the petitions of its territory, so the table prints each
    // one, with dashes for the rates when nothing fell due (the bulletin prints 浮桥街道 so); a
    // department is printed when it had something due.
    let mut cells = cells.clone();
    for u in units.all().iter().filter(|u| u.kind == "sub_district") {
        cells.entry(u.code.clone()).or_default();
    }
    // The petition agency (信访机构) is rated too, but is not a handling unit: not in the table.
    for (unit, c) in cells
        .iter()
        .filter(|(u, c)| u.as_str() != crate::rollup::AGENCY && (c.due != 0 || units.group(u) == "sub_district"))
    {
        rows.push(PetitionRow {
            unit: unit.clone(),
            name: units.name(unit),
            due: count(unit, "due", c.due)?,
            expired: count(unit, "expired", c.expired)?,
            participation: None,
            satisfied: count(unit, "satisfied", c.satisfied)?,
            basic: count(unit, "basic", c.basic)?,
            unsatisfied: count(unit, "unsatisfied", c.unsatisfied)?,
            satisfaction: None,
        });
    }
    let (mut departments, mut sub_districts) = (Vec::new(), Vec::new());
    let (mut below_p, mut below_s) = (Vec::new(), Vec::new());
    let mut ordered = rows;
    ordered.sort_by_key(|r| units.order(&r.unit));
    for mut row in ordered {
        let rated = row.satisfied + row.basic + row.unsatisfied;
        if rated + row.expired > row.due {
            return Err(Broken(format!(
                "{}: rated {} + expired {} exceeds due {}",
                row.unit, rated, row.expired, row.due
            )));
        }
        // 参评率 = rated / due: equal to (due - expired) / due once every evaluation is rated
        // or expired, and never counting one still inside its window as participated.
        let part = participation(row.due, row.due - rated);
        let sat = petition_satisfaction(row.satisfied, row.basic, row.unsatisfied);
        if part.is_some_and(|r| r.below(targets.participation)) {
            below_p.push(row.unit.clone());
        }
        if sat.is_some_and(|r| r.below(targets.petition_satisfaction)) {
            below_s.push(row.unit.clone());
        }
        row.participation = part.map(|r| r.percent(PETITION_DECIMALS));
        row.satisfaction = sat.map(|r| r.percent(PETITION_DECIMALS));
        if units.group(&row.unit) == "sub_district" { sub_districts.push(row) } else { departments.push(row) }
    }
    Ok(Attachment1 {
        count_unit: "dispatches",
        from,
        to,
        departments,
        sub_districts,
        below_participation_target: below_p,
        below_satisfaction_target: below_s,
    })
}

pub fn pct(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}%"))
}

impl HotlineRow {
    /// The printed row after its number: 单位, 受理件数 ... 群众满意率.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.received.to_string(),
            self.in_progress.to_string(),
            self.completed.to_string(),
            self.overdue_view.to_string(),
            self.overdue_handling.to_string(),
            pct(self.satisfaction, 2),
        ]
    }
}

impl PetitionRow {
    /// The printed row after its number: 单位, 应评 ... 满意率.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.due.to_string(),
            self.expired.to_string(),
            pct(self.participation, 1),
            self.satisfied.to_string(),
            self.basic.to_string(),
            self.unsatisfied.to_string(),
            pct(self.satisfaction, 1),
        ]
    }
}

impl RankRow {
    /// The printed row: 排名, 单位, 群众满意率, 受理总件数, 不满意件数.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.rank.to_string(),
            self.name.clone(),
            pct(self.satisfaction, 2),
            self.received.to_string(),
            self.unsatisfied.to_string(),
        ]
    }
}

/// Both sections as CSV rows, each led by its group (区直部门, 街道) and, unless the row
/// carries its own rank, its number within the section as the printed table has it (序号):
/// the reconciliation reads the export back as it reads the printed tables.
fn sections<R>(
    departments: &[R],
    sub_districts: &[R],
    numbered: bool,
    cells: impl Fn(&R) -> Vec<String>,
) -> Vec<Vec<String>> {
    let section = |g: &'static str, rows: &'_ [R]| -> Vec<Vec<String>> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                let number = numbered.then(|| (i + 1).to_string());
                std::iter::once(g.to_owned()).chain(number).chain(cells(r)).collect()
            })
            .collect()
    };
    let mut out = section("区直部门", departments);
    out.extend(section("街道", sub_districts));
    out
}

/// The group column the CSV exports lead with, before the printed table's columns.
pub const GROUP: &str = "分组";

impl Attachment2 {
    pub fn to_csv(&self) -> String {
        let rows = sections(&self.departments, &self.sub_districts, true, HotlineRow::cells);
        let header = [&[GROUP][..], crate::reconcile::Layout::Attachment2.columns()].concat();
        crate::csv_file::write(&header, &rows)
    }
}

impl Attachment1 {
    pub fn to_csv(&self) -> String {
        let rows = sections(&self.departments, &self.sub_districts, true, PetitionRow::cells);
        let header = [&[GROUP][..], crate::reconcile::Layout::Attachment1.columns()].concat();
        crate::csv_file::write(&header, &rows)
    }
}

impl Attachment3 {
    pub fn to_csv(&self) -> String {
        let rows = sections(&self.departments, &self.sub_districts, false, RankRow::cells);
        let header = [&[GROUP][..], crate::reconcile::Layout::Attachment3.columns()].concat();
        crate::csv_file::write(&header, &rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_in_the_ranking_go_to_the_unit_with_more_received() {
        let row = |unit: &str, received, completed, unsatisfied| HotlineRow {
            unit: unit.into(),
            name: unit.into(),
            received,
            in_progress: received - completed,
            completed,
            overdue_view: 0,
            overdue_handling: 0,
            unsatisfied,
            satisfaction: hotline_unit_satisfaction(completed, unsatisfied).map(|r| r.percent(2)),
        };
        // 区教育局 225 before 区卫健局 117, both 100 %; a lower rate after them.
        let ranked = rank(&[row("weijian", 117, 117, 0), row("renshe", 171, 171, 1), row("jiaoyu", 225, 225, 0)]);
        let order: Vec<&str> = ranked.iter().map(|r| r.unit.as_str()).collect();
        assert_eq!(order, ["jiaoyu", "weijian", "renshe"]);
        assert_eq!(ranked[2].satisfaction, Some(99.42));
    }

    #[test]
    fn a_full_tie_keeps_the_registry_order_of_attachment_2() {
        let units = Units::load(None).unwrap_or_else(|e| panic!("{e}"));
        let cells = |received| DispatchCells { received, completed: received, ..DispatchCells::default() };
        // 区住建局 comes before 区城管局 by code, after it in the registry.
        let all: BTreeMap<String, DispatchCells> =
            [("zhujian".to_owned(), cells(5)), ("chengguan".to_owned(), cells(5))].into_iter().collect();
        let t = Utc::now();
        let a2 = attachment_2(&units, &all, t, t, t).unwrap_or_else(|e| panic!("{e}"));
        let a3 = attachment_3(&a2, &Targets::default());
        let order = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            a2.departments.iter().map(|r| r.unit.clone()).collect::<Vec<_>>(),
            order(vec!["chengguan", "zhujian"])
        );
        assert_eq!(
            a3.departments.iter().map(|r| r.unit.clone()).collect::<Vec<_>>(),
            order(vec!["chengguan", "zhujian"])
        );
    }

    #[test]
    fn attachment_1_prints_every_sub_district_with_dashes_when_nothing_was_due() {
        let units = Units::load(None).unwrap_or_else(|e| panic!("{e}"));
        let due = RatingCells { due: 2, satisfied: 2, ..RatingCells::default() };
        let cells: BTreeMap<String, RatingCells> =
            [("kaiyuan".to_owned(), due), ("chengguan".to_owned(), due)].into_iter().collect();
        let t = Utc::now();
        let a1 = attachment_1(&units, &cells, &Targets::default(), t, t).unwrap_or_else(|e| panic!("{e}"));
        let sub_districts = units.all().iter().filter(|u| u.kind == "sub_district").count();
        assert_eq!(a1.sub_districts.len(), sub_districts);
        let fuqiao = a1.sub_districts.iter().find(|r| r.unit == "fuqiao").unwrap_or_else(|| panic!("浮桥街道 printed"));
        assert_eq!((fuqiao.due, fuqiao.participation, fuqiao.satisfaction), (0, None, None));
        assert_eq!(fuqiao.cells()[3], "-");
        // A department with nothing due is not printed.
        assert_eq!(a1.departments.iter().map(|r| r.unit.as_str()).collect::<Vec<_>>(), ["chengguan"]);
    }
}
