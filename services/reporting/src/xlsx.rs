//! The attachments as a workbook laid out like the bulletin's and ready to print: one sheet
//! each, a title merged across its table per section (区直部门, then 街道), Chinese headers,
//! thin borders round every cell of the table, columns sized for their contents, percentages
//! stored as numbers and formatted as percentages, the note on the unit of count, and each
//! sheet fitted to one portrait A4 page, centred, as offices print and file them.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

use crate::attachments::{Attachment1, Attachment2, Attachment3};
use crate::reconcile::Layout;

/// Paper size 9 is A4 in the OOXML page setup (ECMA-376 Part 1, 18.3.1.63 `paperSize`).
const A4: u8 = 9;

const NOTE: &str = "备注：数据统计口径为批转件数（比如群众1个诉求件内容反映2个问题，批转2个单位办理，统计表按2件计）";

/// One cell of a table row.
enum Value {
    Count(u64),
    Text(String),
    /// A percentage with its decimals, or none (printed "-").
    Rate(Option<f64>, usize),
}

struct Table<'a> {
    /// The title before the section's name: "福建省信访信息系统1-6月办理情况统计表".
    title: String,
    layout: Layout,
    /// Column widths, in characters.
    widths: &'a [f64],
    sections: [(&'static str, Vec<Vec<Value>>); 2],
    note: Option<&'static str>,
}

fn cell_format() -> Format {
    Format::new().set_border(FormatBorder::Thin).set_align(FormatAlign::Center).set_align(FormatAlign::VerticalCenter)
}

fn write_table(ws: &mut Worksheet, t: &Table<'_>) -> Result<(), XlsxError> {
    let last = u16::try_from(t.layout.columns().len().saturating_sub(1)).unwrap_or(0);
    for (col, width) in t.widths.iter().enumerate() {
        ws.set_column_width(u16::try_from(col).unwrap_or(u16::MAX), *width)?;
    }
    let title = Format::new().set_bold().set_font_size(14).set_align(FormatAlign::Center);
    let header = cell_format().set_bold().set_text_wrap();
    let body = cell_format();
    let name = cell_format().set_align(FormatAlign::Left);
    let mut r: u32 = 0;
    for (section, rows) in &t.sections {
        ws.merge_range(r, 0, r, last, &format!("{}{section}", t.title), &title)?;
        ws.set_row_height(r, 24)?;
        for (col, text) in t.layout.columns().iter().enumerate() {
            ws.write_string_with_format(r + 1, u16::try_from(col).unwrap_or(u16::MAX), *text, &header)?;
        }
        r += 2;
        for row in rows {
            for (col, value) in row.iter().enumerate() {
                let col = u16::try_from(col).unwrap_or(u16::MAX);
                match value {
                    Value::Count(n) => ws.write_number_with_format(r, col, *n as f64, &body)?,
                    Value::Text(s) if crate::csv_file::starts_like_formula(s) => {
                        // Stored as text a spreadsheet never evaluates, even when retyped.
                        ws.write_string_with_format(r, col, s, &name.clone().set_quote_prefix())?
                    }
                    Value::Text(s) => ws.write_string_with_format(r, col, s, &name)?,
                    Value::Rate(Some(v), decimals) => {
                        let percent = body.clone().set_num_format(format!("0.{}%", "0".repeat(*decimals)));
                        ws.write_number_with_format(r, col, v / 100.0, &percent)?
                    }
                    Value::Rate(None, _) => ws.write_string_with_format(r, col, "-", &body)?,
                };
            }
            r += 1;
        }
        r += 1;
    }
    if let Some(note) = t.note {
        ws.merge_range(r, 0, r, last, note, &Format::new().set_text_wrap().set_align(FormatAlign::Left))?;
        ws.set_row_height(r, 32)?;
    }
    ws.set_paper_size(A4);
    ws.set_portrait();
    ws.set_print_fit_to_pages(1, 1);
    ws.set_print_center_horizontally(true);
    Ok(())
}

fn numbered(rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| std::iter::once(Value::Count(i as u64 + 1)).chain(row).collect())
        .collect()
}

pub fn workbook(a1: &Attachment1, a2: &Attachment2, a3: &Attachment3, period: &str) -> Result<Vec<u8>, XlsxError> {
    let petition = |rows: &[crate::attachments::PetitionRow]| -> Vec<Vec<Value>> {
        numbered(
            rows.iter()
                .map(|r| {
                    vec![
                        Value::Text(r.name.clone()),
                        Value::Count(r.due),
                        Value::Count(r.expired),
                        Value::Rate(r.participation, 1),
                        Value::Count(r.satisfied),
                        Value::Count(r.basic),
                        Value::Count(r.unsatisfied),
                        Value::Rate(r.satisfaction, 1),
                    ]
                })
                .collect(),
        )
    };
    let hotline = |rows: &[crate::attachments::HotlineRow]| -> Vec<Vec<Value>> {
        numbered(
            rows.iter()
                .map(|r| {
                    vec![
                        Value::Text(r.name.clone()),
                        Value::Count(r.received),
                        Value::Count(r.in_progress),
                        Value::Count(r.completed),
                        Value::Count(r.overdue_view),
                        Value::Count(r.overdue_handling),
                        Value::Rate(r.satisfaction, 2),
                    ]
                })
                .collect(),
        )
    };
    let ranked = |rows: &[crate::attachments::RankRow]| -> Vec<Vec<Value>> {
        rows.iter()
            .map(|r| {
                vec![
                    Value::Count(u64::from(r.rank)),
                    Value::Text(r.name.clone()),
                    Value::Rate(r.satisfaction, 2),
                    Value::Count(r.received),
                    Value::Count(r.unsatisfied),
                ]
            })
            .collect()
    };
    let tables = [
        (
            "附件1",
            Table {
                title: format!("福建省信访信息系统{period}办理情况统计表"),
                layout: Layout::Attachment1,
                widths: &[6.0, 22.0, 8.0, 10.0, 10.0, 8.0, 10.0, 8.0, 10.0],
                sections: [("（区直部门）", petition(&a1.departments)), ("（街道）", petition(&a1.sub_districts))],
                note: None,
            },
        ),
        (
            "附件2",
            Table {
                title: format!("12345平台{period}诉求件办理情况统计表"),
                layout: Layout::Attachment2,
                widths: &[6.0, 22.0, 10.0, 10.0, 10.0, 10.0, 10.0, 12.0],
                sections: [("（区直部门）", hotline(&a2.departments)), ("（街道）", hotline(&a2.sub_districts))],
                note: Some(NOTE),
            },
        ),
        (
            "附件3",
            Table {
                title: format!("12345平台{period}满意率排名统计表"),
                layout: Layout::Attachment3,
                widths: &[6.0, 22.0, 12.0, 12.0, 12.0],
                sections: [("（区直部门）", ranked(&a3.departments)), ("（街道）", ranked(&a3.sub_districts))],
                note: Some(NOTE),
            },
        ),
    ];
    let mut wb = Workbook::new();
    for (name, table) in &tables {
        let ws = wb.add_worksheet();
        ws.set_name(*name)?;
        write_table(ws, table)?;
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use chrono::Utc;

    use super::*;
    use crate::attachments::{HotlineRow, PetitionRow, RankRow};

    fn sheet_xml(book: &[u8], n: usize) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap_or_else(|e| panic!("{e}"));
        let mut xml = String::new();
        zip.by_name(&format!("xl/worksheets/sheet{n}.xml"))
            .unwrap_or_else(|e| panic!("{e}"))
            .read_to_string(&mut xml)
            .unwrap_or_else(|e| panic!("{e}"));
        xml
    }

    #[test]
    fn each_sheet_prints_on_one_a4_page_with_merged_titles_and_borders() {
        let t = Utc::now();
        let petition = PetitionRow {
            unit: "fuqiao".into(),
            name: "=浮桥街道".into(),
            due: 0,
            expired: 0,
            participation: None,
            satisfied: 0,
            basic: 0,
            unsatisfied: 0,
            satisfaction: None,
        };
        let hotline = HotlineRow {
            unit: "chengguan".into(),
            name: "区城管局".into(),
            received: 3,
            in_progress: 0,
            completed: 3,
            overdue_view: 0,
            overdue_handling: 0,
            unsatisfied: 0,
            satisfaction: Some(100.0),
        };
        let rank = RankRow {
            rank: 1,
            unit: "chengguan".into(),
            name: "区城管局".into(),
            satisfaction: Some(100.0),
            received: 3,
            unsatisfied: 0,
        };
        let a1 = Attachment1 {
            count_unit: "dispatches",
            from: t,
            to: t,
            departments: vec![],
            sub_districts: vec![petition],
            below_participation_target: vec![],
            below_satisfaction_target: vec![],
        };
        let a2 = Attachment2 {
            count_unit: "dispatches",
            from: t,
            to: t,
            as_of: t,
            departments: vec![hotline],
            sub_districts: vec![],
        };
        let a3 = Attachment3 {
            count_unit: "dispatches",
            from: t,
            to: t,
            departments: vec![rank],
            sub_districts: vec![],
            below_target: vec![],
        };
        let book = workbook(&a1, &a2, &a3, "1-6月").unwrap_or_else(|e| panic!("{e}"));
        for (n, last_column) in [(1, 'I'), (2, 'H'), (3, 'E')] {
            let xml = sheet_xml(&book, n);
            assert!(xml.contains(r#"<pageSetUpPr fitToPage="1"/>"#), "sheet {n} fits to a page: {xml}");
            assert!(xml.contains(r#"paperSize="9""#) && xml.contains(r#"orientation="portrait""#), "sheet {n}: A4");
            assert!(xml.contains(&format!(r#"<mergeCell ref="A1:{last_column}1"/>"#)), "sheet {n}: title merged");
            assert!(xml.contains(r#"horizontalCentered="1""#), "sheet {n}: centred");
            assert!(xml.contains("<cols>"), "sheet {n}: columns sized");
        }
        let styles = {
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&book[..])).unwrap_or_else(|e| panic!("{e}"));
            let mut s = String::new();
            zip.by_name("xl/styles.xml").unwrap_or_else(|e| panic!("{e}")).read_to_string(&mut s).unwrap_or_default();
            s
        };
        assert!(styles.contains(r#"<left style="thin">"#), "cells have borders");
        assert!(styles.contains(r#"quotePrefix="1""#), "a formula-like name is stored as text");
    }
}
