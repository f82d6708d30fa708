//! Reconciliation with the office's own tables while the manual process still runs: an
//! uploaded attachment (CSV in the bulletin's layout) is answered cell by cell with
//! - the cells that contradict their own row (a printed rate that does not follow from the
//!   printed counts, counts that do not add up), and
//! - the cells that differ from what the events say.
//!
//! Conventions of the printed tables that are not contradictions: a unit with nothing rated
//! prints "0" where our reports show no rate (FIGURES.md: 浮桥街道).

use serde::Serialize;

use caseflow_evaluation::rates::{hotline_unit_satisfaction, participation, petition_satisfaction};

use crate::attachments::{Attachment1, Attachment2};
use crate::units::Units;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CellFinding {
    /// Data row number in the upload, from 1 (section titles and headers not counted).
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
    /// attachment-1 | attachment-2
    pub kind: String,
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

/// RFC 4180 fields of each non-empty line.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                if row.iter().any(|f| !f.trim().is_empty()) {
                    rows.push(std::mem::take(&mut row));
                }
                row.clear();
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    row.push(field);
    if row.iter().any(|f| !f.trim().is_empty()) {
        rows.push(row);
    }
    rows
}

/// A printed percentage: its value and its decimals ("92.3%" -> (92.3, 1); "0" -> (0, 0)).
fn printed_rate(s: &str) -> Option<(f64, usize)> {
    let t = s.trim().trim_end_matches('%').trim();
    let value: f64 = t.parse().ok()?;
    let decimals = t.split_once('.').map_or(0, |(_, d)| d.len());
    Some((value, decimals))
}

fn count(s: &str, row: usize, column: &str) -> Result<u64, UploadError> {
    s.trim().parse().map_err(|_| UploadError::Row { row, message: format!("{column} '{}' is not a count", s.trim()) })
}

/// Whether a printed rate agrees with an exact one at the printed precision.
fn agrees(printed: (f64, usize), exact: Option<caseflow_evaluation::rates::Rate>) -> bool {
    match exact {
        Some(r) => (r.percent(u32::try_from(printed.1).unwrap_or(0)) - printed.0).abs() < 1e-9,
        // Nothing to rate: the printed tables write 0.
        None => printed.0 == 0.0,
    }
}

fn show(r: Option<caseflow_evaluation::rates::Rate>, decimals: u32) -> String {
    r.map_or_else(|| "-".into(), |r| r.display(decimals))
}

/// Data rows: those whose first cell is a row number (序号); titles, headers and notes skipped.
fn data_rows(rows: &[Vec<String>], width: usize) -> Result<Vec<Vec<String>>, UploadError> {
    let data: Vec<Vec<String>> =
        rows.iter().filter(|r| r.first().is_some_and(|c| c.trim().parse::<u32>().is_ok())).cloned().collect();
    if data.is_empty() {
        return Err(UploadError::Layout("no data rows: the first column must be the row number (序号)".into()));
    }
    if let Some((i, r)) = data.iter().enumerate().find(|(_, r)| r.len() < width) {
        return Err(UploadError::Row { row: i + 1, message: format!("expected {width} columns, found {}", r.len()) });
    }
    Ok(data)
}

pub fn attachment_1(text: &str, units: &Units, events: &Attachment1) -> Result<Reconciliation, UploadError> {
    let cols = ["序号", "单位", "应评", "超期未评", "参评率", "满意", "基本满意", "不满意", "满意率"];
    let rows = data_rows(&parse_csv(text), cols.len())?;
    let mut out = Reconciliation {
        kind: "attachment-1".into(),
        rows_read: rows.len(),
        self_contradictions: vec![],
        differences_from_events: vec![],
        unknown_units: vec![],
    };
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
        let finding = |col: usize, expected: String, rule: &str| CellFinding {
            row: n,
            unit: unit.clone(),
            column: cols[col].into(),
            printed: r[col].trim().into(),
            expected,
            rule: rule.into(),
        };
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

pub fn attachment_2(text: &str, units: &Units, events: &Attachment2) -> Result<Reconciliation, UploadError> {
    let cols = ["序号", "单位", "受理件数", "正在办理", "处理完毕", "逾期查阅", "逾期办理", "群众满意率"];
    let rows = data_rows(&parse_csv(text), cols.len())?;
    let mut out = Reconciliation {
        kind: "attachment-2".into(),
        rows_read: rows.len(),
        self_contradictions: vec![],
        differences_from_events: vec![],
        unknown_units: vec![],
    };
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        let unit = r[1].trim().to_owned();
        let values: Vec<u64> = (2..7).map(|c| count(&r[c], n, cols[c])).collect::<Result<_, _>>()?;
        let (received, in_progress, completed, overdue_handling) = (values[0], values[1], values[2], values[4]);
        let finding = |col: usize, expected: String, rule: &str| CellFinding {
            row: n,
            unit: unit.clone(),
            column: cols[col].into(),
            printed: r[col].trim().into(),
            expected,
            rule: rule.into(),
        };
        if received != in_progress + overdue_handling + completed {
            out.self_contradictions.push(finding(
                2,
                (in_progress + overdue_handling + completed).to_string(),
                "received = in progress + overdue handling + completed",
            ));
        }
        let Some(code) = units.code_for(&unit) else {
            out.unknown_units.push(unit.clone());
            continue;
        };
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

    fn t(y: i32, m: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().expect("instant")
    }

    fn flagged(r: &Reconciliation) -> Vec<(String, String)> {
        r.self_contradictions.iter().map(|c| (c.unit.clone(), c.column.clone())).collect()
    }

    #[test]
    fn attachment_1_as_printed_flags_the_rows_that_contradict_themselves() {
        let units = Units::load(None).expect("units");
        let empty = Attachment1 {
            count_unit: "dispatches",
            from: t(2020, 1),
            to: t(2020, 7),
            departments: vec![],
            sub_districts: vec![],
            below_participation_target: vec![],
            below_satisfaction_target: vec![],
        };
        let r = attachment_1(ATTACHMENT_1, &units, &empty).expect("reads");
        assert_eq!(r.rows_read, 22);
        assert!(r.unknown_units.is_empty(), "every printed name maps to a unit: {:?}", r.unknown_units);
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect::<Vec<_>>();
        assert_eq!(
            flagged(&r),
            pairs(&[
                // Not in FIGURES.md: 8 + 2 + 2 = 12 rated of 21 due (the printed 57.1 % is 12/21),
                // so 12 expired cannot be; it should read 9.
                ("区住建局", "超期未评"),
                // FIGURES.md: 6 due, 2 expired, but 2 + 1 + 2 = 5 rated, and 50 % fits none of it.
                ("区市场监管局", "超期未评"),
                ("区市场监管局", "参评率"),
                ("区市场监管局", "满意率"),
                // FIGURES.md: 2 due, 2 expired, printed participation 100 %: it is 0 %.
                ("区退役军人局", "参评率"),
            ])
        );
        let mkt = r.self_contradictions.iter().find(|c| c.column == "满意率").expect("satisfaction cell");
        assert_eq!((mkt.printed.as_str(), mkt.expected.as_str()), ("50%", "60.0%"));
    }

    #[test]
    fn attachment_2_as_printed_flags_the_received_count_that_does_not_add_up() {
        let units = Units::load(None).expect("units");
        let empty = Attachment2 {
            count_unit: "dispatches",
            from: t(2020, 1),
            to: t(2020, 7),
            as_of: t(2020, 7),
            departments: vec![],
            sub_districts: vec![],
        };
        let r = attachment_2(ATTACHMENT_2, &units, &empty).expect("reads");
        assert_eq!(r.rows_read, 37);
        assert!(r.unknown_units.is_empty(), "{:?}", r.unknown_units);
        assert_eq!(flagged(&r), [("区城管局".to_owned(), "受理件数".to_owned())]);
        assert_eq!(r.self_contradictions[0].expected, "503");
        // Against an empty event store every printed count differs.
        assert!(
            r.differences_from_events
                .iter()
                .any(|c| c.unit == "区住建局" && c.column == "受理件数" && c.expected == "0")
        );
    }

    #[test]
    fn a_row_that_is_not_numbers_is_refused_with_its_number() {
        let units = Units::load(None).expect("units");
        let empty = Attachment2 {
            count_unit: "dispatches",
            from: t(2020, 1),
            to: t(2020, 7),
            as_of: t(2020, 7),
            departments: vec![],
            sub_districts: vec![],
        };
        let err = attachment_2("1,区城管局,many,4,498,0,1,94.80%\n", &units, &empty).expect_err("not a count");
        assert_eq!(err, UploadError::Row { row: 1, message: "受理件数 'many' is not a count".into() });
        assert!(attachment_2("单位,受理件数\n", &units, &empty).is_err(), "no data rows");
    }
}
