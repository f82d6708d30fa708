//! Reconciliation with the office's own tables while the manual process still runs: an
//! uploaded table (CSV or an XLSX workbook, in the bulletin's layout: attachments 1, 2 and 3,
//! told apart by their header rows, department and sub-district sections alike) is answered
//! cell by cell with
//! - the cells that contradict their own row (a printed rate that does not follow from the
//!   printed counts, counts that do not add up), and
//! - the cells that differ from what the events say.
//!
//! Conventions of the printed tables that are not contradictions: a unit with nothing rated
//! prints "0" where our reports show no rate (FIGURES.md: 浮桥街道).
//!
//! Attachment 2 prints no unsatisfied count, so its rate can only be checked against its own
//! row when attachment 3 comes with it: (completed - unsatisfied) / completed, completed from
//! attachment 2 and unsatisfied from attachment 3. That is how FIGURES.md finds 区城管局 94.80 %
//! and 区住建局 96.37 %.

use serde::Serialize;

use caseflow_rates::{hotline_unit_satisfaction, participation, petition_satisfaction};

use crate::attachments::{Attachment1, Attachment2, Attachment3};
use crate::units::Units;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CellFinding {
    /// attachment-1 | attachment-2 | attachment-3
    pub table: String,
    /// Data row number within that table in the upload, from 1 (titles and headers not counted).
    pub row: usize,
    /// The unit as printed.
    pub unit: String,
    /// The column header.
    pub column: String,
    pub printed: String,
    /// What the row's own counts (or the events) give.
    pub expected: String,
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Reconciliation {
    /// The tables found in the upload, by their header rows.
    pub tables: Vec<String>,
    pub rows_read: usize,
    pub self_contradictions: Vec<CellFinding>,
    pub differences_from_events: Vec<CellFinding>,
    /// Printed units the registry does not know (by name or alias).
    pub unknown_units: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    #[error("row {row}: {message}")]
    Row { row: usize, message: String },
    #[error("{0}")]
    Layout(String),
}

/// A cell as uploaded: CSV gives text; a workbook gives numbers too (a rate stored as the
/// fraction 0.923 and formatted as a percentage).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
}

/// The three layouts, by their header rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layout {
    Attachment1,
    Attachment2,
    Attachment3,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Self::Attachment1 => "attachment-1",
            Self::Attachment2 => "attachment-2",
            Self::Attachment3 => "attachment-3",
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Attachment1 => {
                &["序号", "单位", "应评", "超期未评", "参评率", "满意", "基本满意", "不满意", "满意率"]
            }
            Self::Attachment2 => {
                &["序号", "单位", "受理件数", "正在办理", "处理完毕", "逾期查阅", "逾期办理", "群众满意率"]
            }
            Self::Attachment3 => &["排名", "单位", "群众满意率", "受理总件数", "不满意件数"],
        }
    }

    fn rate_columns(self) -> &'static [usize] {
        match self {
            Self::Attachment1 => &[4, 8],
            Self::Attachment2 => &[7],
            Self::Attachment3 => &[2],
        }
    }

    /// A header row names this layout when its cells are the layout's columns (line breaks
    /// inside a printed header, 受理\n件数, ignored), possibly after the group column our own
    /// CSV exports lead with (分组): the layout, and how many columns come before its own.
    fn of_header(row: &[Cell]) -> Option<(Self, usize)> {
        let texts: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(t) => t.chars().filter(|c| !c.is_whitespace()).collect(),
                Cell::Number(_) => String::new(),
            })
            .filter(|t| !t.is_empty())
            .collect();
        let (offset, columns) = match texts.split_first() {
            Some((first, rest)) if first == crate::attachments::GROUP => (1, rest),
            _ => (0, &texts[..]),
        };
        [Self::Attachment1, Self::Attachment2, Self::Attachment3]
            .into_iter()
            .find(|l| columns == l.columns())
            .map(|l| (l, offset))
    }
}

/// One uploaded table: its layout and its data rows as printed.
pub type Table = (Layout, Vec<Vec<String>>);

/// The uploaded tables: for each layout found, its data rows (department and sub-district
/// sections together, in order), numbers written back as the bulletin prints them.
pub fn tables(rows: &[Vec<Cell>]) -> Result<Vec<Table>, UploadError> {
    let mut out: Vec<Table> = Vec::new();
    let mut current: Option<(Layout, usize)> = None;
    for row in rows {
        if let Some((layout, offset)) = Layout::of_header(row) {
            current = Some((layout, offset));
            if !out.iter().any(|(l, _)| *l == layout) {
                out.push((layout, Vec::new()));
            }
            continue;
        }
        let Some((layout, offset)) = current else { continue };
        let row = row.get(offset..).unwrap_or_default();
        let first = match row.first() {
            Some(Cell::Number(n)) => n.fract() == 0.0 && *n >= 1.0,
            Some(Cell::Text(t)) => t.trim().parse::<u32>().is_ok(),
            None => false,
        };
        if !first {
            // A title, a note, or an empty line: the next header starts the next table.
            continue;
        }
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                Cell::Text(t) => t.trim().to_owned(),
                Cell::Number(n) if layout.rate_columns().contains(&i) => {
                    let percent = format!("{:.4}", n * 100.0);
                    format!("{}%", percent.trim_end_matches('0').trim_end_matches('.'))
                }
                Cell::Number(n) => format!("{n}"),
            })
            .collect();
        if let Some((_, table)) = out.iter_mut().find(|(l, _)| *l == layout) {
            table.push(cells);
        }
    }
    if out.iter().all(|(_, t)| t.is_empty()) {
        return Err(UploadError::Layout(
            "no table found: a header row must name the attachment's columns (序号,单位,应评,... / 序号,单位,受理件数,... / 排名,单位,群众满意率,...) and data rows start with their number".into(),
        ));
    }
    Ok(out)
}

/// A printed percentage: its value and its decimals ("92.3%" -> (92.3, 1); "0" -> (0, 0)).
fn printed_rate(s: &str) -> Option<(f64, usize)> {
    let t = s.trim().trim_end_matches('%').trim();
    let value: f64 = t.parse().ok()?;
    let decimals = t.split_once('.').map_or(0, |(_, d)| d.len());
    Some((value, decimals))
}

/// Attachment 3: each row's rate against its received and unsatisfied counts cannot be checked
/// (completed is not printed), but the order can: rate descending, ties to more received.
fn attachment_3(
    rows: &[Vec<String>],
    units: &Units,
    events: Option<&Attachment3>,
) -> Result<Reconciliation, UploadError> {
    const LAYOUT: Layout = Layout::Attachment3;
    let cols = LAYOUT.columns();
    let mut out = part(LAYOUT, rows.len());
    let mut previous: Option<(f64, u64)> = None;
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        let unit = r[1].trim().to_owned();
        let (received, unsatisfied) = (count(&r[3], n, cols[3])?, count(&r[4], n, cols[4])?);
        let finding = |col: usize, expected: String, rule: &str| cell(LAYOUT, n, r, col, expected, rule);
        let rank = r[0].trim().parse::<usize>().ok();
        let rate = printed_rate(&r[2]).map(|p| p.0);
        // A new section (街道) starts again at rank 1.
        if rank == Some(1) {
            previous = None;
        }
        if let (Some((prev_rate, prev_received)), Some(rate)) = (previous, rate)
            && (rate > prev_rate + 1e-9 || ((rate - prev_rate).abs() < 1e-9 && received > prev_received))
        {
            out.self_contradictions.push(finding(
                0,
                "earlier".into(),
                "ranked by satisfaction descending, ties to the unit with more received",
            ));
        }
        if let Some(rate) = rate {
            previous = Some((rate, received));
        }
        let Some(code) = units.code_for(&unit) else {
            out.unknown_units.push(unit.clone());
            continue;
        };
        let Some(events) = events else { continue };
        let ours = events.departments.iter().chain(&events.sub_districts).find(|row| row.unit == code);
        let theirs = [ours.map_or(0, |o| o.received), ours.map_or(0, |o| o.unsatisfied)];
        for (k, (col, printed)) in [(3, received), (4, unsatisfied)].into_iter().enumerate() {
            if printed != theirs[k] {
                out.differences_from_events.push(finding(col, theirs[k].to_string(), "the events count otherwise"));
            }
        }
    }
    Ok(out)
}

fn count(s: &str, row: usize, column: &str) -> Result<u64, UploadError> {
    s.trim().parse().map_err(|_| UploadError::Row { row, message: format!("{column} '{}' is not a count", s.trim()) })
}

/// Whether a printed rate agrees with an exact one at the printed precision.
fn agrees(printed: (f64, usize), exact: Option<caseflow_rates::Rate>) -> bool {
    match exact {
        Some(r) => (r.percent(u32::try_from(printed.1).unwrap_or(0)) - printed.0).abs() < 1e-9,
        // Nothing to rate: the printed tables write 0.
        None => printed.0 == 0.0,
    }
}

fn show(r: Option<caseflow_rates::Rate>, decimals: u32) -> String {
    r.map_or_else(|| "-".into(), |r| r.display(decimals))
}

fn check_width(table: &[Vec<String>], layout: Layout) -> Result<(), UploadError> {
    let width = layout.columns().len();
    match table.iter().enumerate().find(|(_, r)| r.len() < width) {
        Some((i, r)) => Err(UploadError::Row {
            row: i + 1,
            message: format!("{}: expected {width} columns, found {}", layout.name(), r.len()),
        }),
        None => Ok(()),
    }
}

/// The reports the upload is compared with: those of the tables it holds.
#[derive(Debug, Clone, Copy)]
pub struct Ours<'a> {
    pub a1: Option<&'a Attachment1>,
    pub a2: Option<&'a Attachment2>,
    pub a3: Option<&'a Attachment3>,
}

/// Every table of the upload, checked against itself, against the other tables of the upload,
/// and against `ours`.
pub fn reconcile(rows: &[Vec<Cell>], units: &Units, ours: Ours<'_>) -> Result<Reconciliation, UploadError> {
    let tables = tables(rows)?;
    let mut out = Reconciliation {
        tables: tables.iter().map(|(l, _)| l.name().to_owned()).collect(),
        rows_read: 0,
        self_contradictions: vec![],
        differences_from_events: vec![],
        unknown_units: vec![],
    };
    let a3_unsatisfied: std::collections::BTreeMap<String, u64> = tables
        .iter()
        .filter(|(l, _)| *l == Layout::Attachment3)
        .flat_map(|(_, t)| t.iter())
        .filter_map(|r| Some((r.get(1)?.clone(), r.get(4)?.trim().parse().ok()?)))
        .collect();
    for (layout, table) in &tables {
        check_width(table, *layout)?;
        let part = match layout {
            Layout::Attachment1 => attachment_1(table, units, ours.a1)?,
            Layout::Attachment2 => attachment_2(table, units, ours.a2, &a3_unsatisfied)?,
            Layout::Attachment3 => attachment_3(table, units, ours.a3)?,
        };
        out.rows_read += part.rows_read;
        out.self_contradictions.extend(part.self_contradictions);
        out.differences_from_events.extend(part.differences_from_events);
        for u in part.unknown_units {
            if !out.unknown_units.contains(&u) {
                out.unknown_units.push(u);
            }
        }
    }
    Ok(out)
}

/// A finding about the cell in column `col` of data row `n` (`r`) of a `layout` table.
fn cell(layout: Layout, n: usize, r: &[String], col: usize, expected: String, rule: &str) -> CellFinding {
    CellFinding {
        table: layout.name().into(),
        row: n,
        unit: r[1].trim().to_owned(),
        column: layout.columns()[col].into(),
        printed: r[col].trim().into(),
        expected,
        rule: rule.into(),
    }
}

fn part(layout: Layout, rows: usize) -> Reconciliation {
    Reconciliation {
        tables: vec![layout.name().to_owned()],
        rows_read: rows,
        self_contradictions: vec![],
        differences_from_events: vec![],
        unknown_units: vec![],
    }
}

fn attachment_1(
    rows: &[Vec<String>],
    units: &Units,
    events: Option<&Attachment1>,
) -> Result<Reconciliation, UploadError> {
    const LAYOUT: Layout = Layout::Attachment1;
    let cols = LAYOUT.columns();
    let mut out = part(LAYOUT, rows.len());
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        let unit = r[1].trim().to_owned();
        let (due, expired, sat, basic, unsat) = (
            count(&r[2], n, cols[2])?,
            count(&r[3], n, cols[3])?,
            count(&r[5], n, cols[5])?,
            count(&r[6], n, cols[6])?,
            count(&r[7], n, cols[7])?,
        );
        let finding = |col: usize, expected: String, rule: &str| cell(LAYOUT, n, r, col, expected, rule);
        let rated = sat + basic + unsat;
        if rated + expired != due {
            out.self_contradictions.push(finding(
                3,
                due.saturating_sub(rated).to_string(),
                "rated = due - expired (满意+基本满意+不满意 = 应评 - 超期未评)",
            ));
        }
        // 参评率 = rated / due, which is (due - expired) / due when the row adds up.
        let part = participation(due, due.saturating_sub(rated));
        if let Some(p) = printed_rate(&r[4])
            && !agrees(p, part)
        {
            out.self_contradictions.push(finding(4, show(part, 1), "participation = rated / due"));
        }
        let satisfaction = petition_satisfaction(sat, basic, unsat);
        if let Some(p) = printed_rate(&r[8])
            && !agrees(p, satisfaction)
        {
            out.self_contradictions.push(finding(
                8,
                show(satisfaction, 1),
                "satisfaction = (satisfied + basic) / rated",
            ));
        }
        let Some(code) = units.code_for(&unit) else {
            out.unknown_units.push(unit.clone());
            continue;
        };
        let Some(events) = events else { continue };
        let ours = events.departments.iter().chain(&events.sub_districts).find(|row| row.unit == code);
        let ours_counts = ours.map_or([0; 5], |o| [o.due, o.expired, o.satisfied, o.basic, o.unsatisfied]);
        for (k, (col, printed)) in [(2, due), (3, expired), (5, sat), (6, basic), (7, unsat)].into_iter().enumerate() {
            if printed != ours_counts[k] {
                out.differences_from_events.push(finding(
                    col,
                    ours_counts[k].to_string(),
                    "the events count otherwise",
                ));
            }
        }
    }
    Ok(out)
}

fn attachment_2(
    rows: &[Vec<String>],
    units: &Units,
    events: Option<&Attachment2>,
    a3_unsatisfied: &std::collections::BTreeMap<String, u64>,
) -> Result<Reconciliation, UploadError> {
    const LAYOUT: Layout = Layout::Attachment2;
    let cols = LAYOUT.columns();
    let mut out = part(LAYOUT, rows.len());
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        let unit = r[1].trim().to_owned();
        let values: Vec<u64> = (2..7).map(|c| count(&r[c], n, cols[c])).collect::<Result<_, _>>()?;
        let (received, in_progress, completed, overdue_handling) = (values[0], values[1], values[2], values[4]);
        let finding = |col: usize, expected: String, rule: &str| cell(LAYOUT, n, r, col, expected, rule);
        if received != in_progress + overdue_handling + completed {
            out.self_contradictions.push(finding(
                2,
                (in_progress + overdue_handling + completed).to_string(),
                "received = in progress + overdue handling + completed",
            ));
        }
        if let (Some(unsatisfied), Some(p)) = (a3_unsatisfied.get(&unit), printed_rate(&r[7])) {
            let rate = hotline_unit_satisfaction(completed, *unsatisfied);
            if !agrees(p, rate) {
                out.self_contradictions.push(finding(
                    7,
                    show(rate, 2),
                    "satisfaction = (completed - unsatisfied) / completed, unsatisfied as attachment 3 prints it",
                ));
            }
        }
        let Some(code) = units.code_for(&unit) else {
            out.unknown_units.push(unit.clone());
            continue;
        };
        let Some(events) = events else { continue };
        let ours = events.departments.iter().chain(&events.sub_districts).find(|row| row.unit == code);
        let theirs = [
            ours.map_or(0, |o| o.received),
            ours.map_or(0, |o| o.in_progress),
            ours.map_or(0, |o| o.completed),
            ours.map_or(0, |o| o.overdue_view),
            ours.map_or(0, |o| o.overdue_handling),
        ];
        for (k, printed) in values.iter().enumerate() {
            if *printed != theirs[k] {
                out.differences_from_events.push(finding(k + 2, theirs[k].to_string(), "the events count otherwise"));
            }
        }
        let rate = ours.and_then(|o| hotline_unit_satisfaction(o.completed, o.unsatisfied));
        if let Some(p) = printed_rate(&r[7])
            && ours.is_some()
            && !agrees(p, rate)
        {
            out.differences_from_events.push(finding(7, show(rate, 2), "the events rate otherwise"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::Bounds;

    fn read_csv(text: &str) -> Vec<Vec<Cell>> {
        crate::upload::read_csv(text, &Bounds::DEFAULT).expect("within bounds")
    }

    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        crate::upload::parse_csv(text, &Bounds::DEFAULT).expect("within bounds")
    }

    fn read_xlsx(bytes: &[u8]) -> Result<Vec<Vec<Cell>>, crate::upload::UploadRefused> {
        crate::upload::read_xlsx(bytes, &Bounds::DEFAULT)
    }
    use chrono::{TimeZone, Utc};

    /// 附件1 exactly as the bulletin prints it, as CSV.
    const ATTACHMENT_1: &str = "福建省信访信息系统1-6月办理情况统计表（区直部门）
序号,单位,应评,超期未评,参评率,满意,基本满意,不满意,满意率
1,城建集团,4,0,100%,4,0,0,100%
2,鲤城生态环境局,2,0,100%,1,1,0,100%
3,文旅集团,1,0,100%,1,0,0,100%
4,区卫健局,1,0,100%,1,0,0,100%
5,区文旅局,1,0,100%,0,1,0,100%
6,高新区,1,0,100%,1,0,0,100%
7,区城管局,13,1,92.3%,7,2,3,75.0%
8,区教育局,4,1,75.0%,1,2,0,100%
9,区住建局,21,12,57.1%,8,2,2,83.3%
10,区市场监管局,6,2,66.7%,2,1,2,50%
11,区人社局,24,18,25.0%,2,3,1,83.3%
12,区退役军人局,2,2,100%,0,0,0,0
13,区税务局,8,7,12.5%,0,0,1,0
14,商业集团,1,1,0,0,0,0,0
福建省信访信息系统1-6月办理情况统计表（街道）
序号,单位,应评,超期未评,参评率,满意,基本满意,不满意,满意率
1,金龙街道,1,0,100%,1,0,0,100%
2,临江街道,1,0,100%,1,0,0,100%
3,海滨街道,7,0,100%,7,0,0,100%
4,江南街道,5,1,80%,3,0,1,75%
5,鲤中街道,3,1,66.7%,1,1,0,100%
6,常泰街道,3,1,66.7%,2,0,0,100%
7,开元街道,2,1,50%,1,0,0,100%
8,浮桥街道,0,0,0,0,0,0,0
";

    /// 附件2 exactly as printed.
    const ATTACHMENT_2: &str = "12345平台1-6月诉求件办理情况统计表（区直部门）
序号,单位,受理件数,正在办理,处理完毕,逾期查阅,逾期办理,群众满意率
1,区城管局,504,4,498,0,1,94.80%
2,区住建局,361,3,355,0,3,96.37%
3,区市场监管局,288,0,288,0,0,99.31%
4,区教育局,225,0,225,0,0,100.00%
5,区人社局,171,0,171,0,0,99.42%
6,区卫健局,117,0,117,0,0,100.00%
7,鲤城生态环境局,91,0,89,0,2,100.00%
8,区消防救援大队,43,0,43,0,0,95.35%
9,鲤城城建集团,41,0,41,0,0,95.12%
10,区自然资源局,23,0,23,0,0,95.65%
11,区税务局,20,1,19,0,0,100.00%
12,高新区管委会,16,0,16,0,0,100.00%
13,区民政局,15,0,15,0,0,100.00%
14,区商务局,15,0,15,0,0,100.00%
15,鲤城商业集团,12,0,12,0,0,100.00%
16,鲤城文旅集团,12,0,12,0,0,100.00%
17,区农水局,9,0,9,0,0,100.00%
18,区文旅局,8,0,8,0,0,100.00%
19,区工信局,4,0,4,0,0,100.00%
20,平台自办,4,0,4,0,0,100.00%
21,区残联,3,0,3,0,0,100.00%
22,区民宗局,3,0,3,0,0,100.00%
23,区委宣传部,2,0,2,0,0,100.00%
24,区行政服务中心管理处,2,0,2,0,0,100.00%
25,区财政局,2,0,2,0,0,100.00%
26,区发改局,1,0,1,0,0,100.00%
27,区总工会,1,0,1,0,0,100.00%
28,区信访局,1,0,1,0,0,100.00%
29,区退役军人事务局,1,0,1,0,0,100.00%
12345平台1-6月诉求件办理情况统计表（街道）
序号,单位,受理件数,正在办理,处理完毕,逾期查阅,逾期办理,群众满意率
1,开元街道办事处,175,0,175,0,0,98.86%
2,鲤中街道办事处,171,2,169,0,0,98.22%
3,海滨街道办事处,95,0,95,0,0,98.95%
4,金龙街道办事处,91,0,91,0,0,98.90%
5,江南街道办事处,89,0,89,0,0,100.00%
6,临江街道办事处,87,0,87,0,0,98.85%
7,浮桥街道办事处,78,1,77,0,0,96.10%
8,常泰街道办事处,56,0,56,0,0,100.00%
";

    /// 附件3 exactly as printed.
    const ATTACHMENT_3: &str = "12345平台1-6月满意率排名统计表（区直部门）
排名,单位,群众满意率,受理总件数,不满意件数
1,区教育局,100.00%,225,0
2,区卫健局,100.00%,117,0
3,鲤城生态环境局,100.00%,91,0
4,区税务局,100.00%,20,0
5,高新区管委会,100.00%,16,0
6,区民政局,100.00%,15,0
7,区商务局,100.00%,15,0
8,鲤城商业集团,100.00%,12,0
9,鲤城文旅集团,100.00%,12,0
10,区农水局,100.00%,9,0
11,区文旅局,100.00%,8,0
12,区工信局,100.00%,4,0
13,平台自办,100.00%,4,0
14,区残联,100.00%,3,0
15,区民宗局,100.00%,3,0
16,区委宣传部,100.00%,2,0
17,区行政服务中心管理处,100.00%,2,0
18,区财政局,100.00%,2,0
19,区发改局,100.00%,1,0
20,区总工会,100.00%,1,0
21,区信访局,100.00%,1,0
22,区退役军人事务局,100.00%,1,0
23,区人社局,99.42%,171,1
24,区市场监管局,99.31%,288,2
25,区住建局,96.37%,361,13
26,区自然资源局,95.65%,23,1
27,区消防救援大队,95.35%,43,2
28,鲤城城建集团,95.12%,41,2
29,区城管局,94.80%,504,27
12345平台1-6月满意率排名统计表（街道）
排名,单位,群众满意率,受理总件数,不满意件数
1,江南街道办事处,100.00%,89,0
2,常泰街道办事处,100.00%,56,0
3,海滨街道办事处,98.95%,95,1
4,金龙街道办事处,98.90%,91,1
5,开元街道办事处,98.86%,175,2
6,临江街道办事处,98.85%,87,1
7,鲤中街道办事处,98.22%,171,3
8,浮桥街道办事处,96.10%,78,3
";

    fn flagged(r: &Reconciliation) -> Vec<(String, String, String)> {
        r.self_contradictions.iter().map(|c| (c.table.clone(), c.unit.clone(), c.column.clone())).collect()
    }

    fn triples(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        v.iter().map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned())).collect()
    }

    /// What FIGURES.md lists for attachments 1 and 2, plus the 区住建局 row of attachment 1
    /// (8 + 2 + 2 = 12 rated of 21 due: the printed 57.1 % is 12/21, so 12 expired cannot be).
    fn printed_contradictions() -> Vec<(String, String, String)> {
        triples(&[
            ("attachment-1", "区住建局", "超期未评"),
            // 6 due, 2 expired, but 2 + 1 + 2 = 5 rated, and 50 % fits none of it.
            ("attachment-1", "区市场监管局", "超期未评"),
            ("attachment-1", "区市场监管局", "参评率"),
            ("attachment-1", "区市场监管局", "满意率"),
            // 2 due, 2 expired, printed participation 100 %: it is 0 %.
            ("attachment-1", "区退役军人局", "参评率"),
            // 504 received vs 4 + 1 + 498.
            ("attachment-2", "区城管局", "受理件数"),
            // (498 - 27) / 498 = 94.58 %, printed 94.80 %.
            ("attachment-2", "区城管局", "群众满意率"),
            // (355 - 13) / 355 = 96.34 %, printed 96.37 %.
            ("attachment-2", "区住建局", "群众满意率"),
        ])
    }

    const NONE: Ours<'static> = Ours { a1: None, a2: None, a3: None };

    #[test]
    fn attachment_1_as_printed_flags_the_rows_that_contradict_themselves() {
        let units = Units::load(None).expect("units");
        let r = reconcile(&read_csv(ATTACHMENT_1), &units, NONE).expect("reads");
        assert_eq!((r.rows_read, r.tables.clone()), (22, vec!["attachment-1".to_owned()]));
        assert!(r.unknown_units.is_empty(), "every printed name maps to a unit: {:?}", r.unknown_units);
        let expected: Vec<_> = printed_contradictions().into_iter().filter(|f| f.0 == "attachment-1").collect();
        assert_eq!(flagged(&r), expected);
        let mkt = r.self_contradictions.iter().find(|c| c.column == "满意率").expect("satisfaction cell");
        assert_eq!((mkt.printed.as_str(), mkt.expected.as_str()), ("50%", "60.0%"));
    }

    #[test]
    fn attachment_2_alone_cannot_check_its_rates_and_flags_the_received_count() {
        let units = Units::load(None).expect("units");
        let r = reconcile(&read_csv(ATTACHMENT_2), &units, NONE).expect("reads");
        assert_eq!(r.rows_read, 37);
        assert!(r.unknown_units.is_empty(), "{:?}", r.unknown_units);
        assert_eq!(flagged(&r), triples(&[("attachment-2", "区城管局", "受理件数")]));
        assert_eq!(r.self_contradictions[0].expected, "503");
    }

    #[test]
    fn the_three_attachments_as_printed_flag_what_figures_md_lists_and_nothing_else() {
        let units = Units::load(None).expect("units");
        let upload = format!("{ATTACHMENT_1}\n{ATTACHMENT_2}\n{ATTACHMENT_3}");
        let r = reconcile(&read_csv(&upload), &units, NONE).expect("reads");
        assert_eq!(r.tables, ["attachment-1", "attachment-2", "attachment-3"]);
        assert_eq!(r.rows_read, 22 + 37 + 37);
        assert!(r.unknown_units.is_empty(), "{:?}", r.unknown_units);
        assert_eq!(flagged(&r), printed_contradictions());
        let cg = r.self_contradictions.iter().find(|c| c.unit == "区城管局" && c.column == "群众满意率").expect("rate");
        assert_eq!((cg.printed.as_str(), cg.expected.as_str()), ("94.80%", "94.58%"));
    }

    /// The printed tables as a workbook: one sheet each, counts as numbers, rates as fractions
    /// formatted as percentages, as a spreadsheet user would keep them.
    fn workbook_of(tables: &[(&str, &str)]) -> Vec<u8> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let percent = rust_xlsxwriter::Format::new().set_num_format("0.00%");
        for (name, csv) in tables {
            let ws = wb.add_worksheet();
            ws.set_name(*name).expect("sheet name");
            for (r, row) in parse_csv(csv).iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (u32::try_from(r).expect("row"), u16::try_from(c).expect("col"));
                    let t = cell.trim();
                    if let Some(p) = t.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) {
                        ws.write_number_with_format(r, c, p / 100.0, &percent).expect("rate");
                    } else if let Ok(n) = t.parse::<f64>() {
                        ws.write_number(r, c, n).expect("number");
                    } else {
                        ws.write_string(r, c, t).expect("text");
                    }
                }
            }
        }
        wb.save_to_buffer().expect("workbook")
    }

    #[test]
    fn the_same_tables_uploaded_as_a_workbook_give_the_same_answer() {
        let units = Units::load(None).expect("units");
        let bytes = workbook_of(&[("附件1", ATTACHMENT_1), ("附件2", ATTACHMENT_2), ("附件3", ATTACHMENT_3)]);
        let r = reconcile(&read_xlsx(&bytes).expect("a workbook"), &units, NONE).expect("reads");
        assert_eq!(r.rows_read, 22 + 37 + 37);
        // 市场监管局's printed "50%" is read back as 0.5 and compared at the precision it has.
        assert_eq!(flagged(&r), printed_contradictions());
    }

    #[test]
    fn a_row_that_is_not_numbers_is_refused_with_its_number() {
        let units = Units::load(None).expect("units");
        let header = "序号,单位,受理件数,正在办理,处理完毕,逾期查阅,逾期办理,群众满意率\n";
        let err = reconcile(&read_csv(&format!("{header}1,区城管局,many,4,498,0,1,94.80%\n")), &units, NONE)
            .expect_err("not a count");
        assert_eq!(err, UploadError::Row { row: 1, message: "受理件数 'many' is not a count".into() });
        assert!(reconcile(&read_csv("单位,受理件数\n"), &units, NONE).is_err(), "no table");
        assert!(read_xlsx(b"not a zip").is_err(), "not a workbook");
    }

    #[test]
    fn the_events_disagreeing_with_a_printed_count_are_listed_cell_by_cell() {
        let units = Units::load(None).expect("units");
        let ours = Attachment2 {
            count_unit: "dispatches",
            from: Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).single().expect("t"),
            to: Utc.with_ymd_and_hms(2020, 7, 1, 0, 0, 0).single().expect("t"),
            as_of: Utc.with_ymd_and_hms(2020, 7, 1, 0, 0, 0).single().expect("t"),
            departments: vec![crate::attachments::HotlineRow {
                unit: "zhujian".into(),
                name: "区住建局".into(),
                received: 361,
                in_progress: 3,
                completed: 355,
                overdue_view: 0,
                overdue_handling: 3,
                unsatisfied: 13,
                satisfaction: Some(96.34),
            }],
            sub_districts: vec![],
        };
        let header = "序号,单位,受理件数,正在办理,处理完毕,逾期查阅,逾期办理,群众满意率\n";
        let upload = format!("{header}1,区住建局,361,3,355,0,3,96.37%\n");
        let r = reconcile(&read_csv(&upload), &units, Ours { a1: None, a2: Some(&ours), a3: None }).expect("reads");
        let diffs: Vec<(&str, &str, &str)> = r
            .differences_from_events
            .iter()
            .map(|c| (c.column.as_str(), c.printed.as_str(), c.expected.as_str()))
            .collect();
        assert_eq!(diffs, [("群众满意率", "96.37%", "96.34%")]);
    }
}
