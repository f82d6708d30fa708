//! The attachments as a workbook laid out like the bulletin's: one sheet each, Chinese headers,
//! a title per section (区直部门, then 街道), percentages stored as numbers and formatted as
//! percentages, and the note on the unit of count.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::attachments::{Attachment1, Attachment2, Attachment3};

fn percent(decimals: usize) -> Format {
    Format::new().set_num_format(format!("0.{}%", "0".repeat(decimals)))
}

fn title(ws: &mut Worksheet, row: u32, text: &str) -> Result<(), XlsxError> {
    ws.write_string_with_format(row, 0, text, &Format::new().set_bold())?;
    Ok(())
}

fn header(ws: &mut Worksheet, row: u32, cells: &[&str]) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    for (col, text) in cells.iter().enumerate() {
        ws.write_string_with_format(row, u16::try_from(col).unwrap_or(u16::MAX), *text, &bold)?;
    }
    Ok(())
}

/// A rate cell: the fraction as a number formatted as a percentage, or "-" when there is none.
fn rate(ws: &mut Worksheet, row: u32, col: u16, value: Option<f64>, decimals: usize) -> Result<(), XlsxError> {
    match value {
        Some(v) => ws.write_number_with_format(row, col, v / 100.0, &percent(decimals))?,
        None => ws.write_string(row, col, "-")?,
    };
    Ok(())
}

const NOTE: &str = "备注：数据统计口径为批转件数（比如群众1个诉求件内容反映2个问题，批转2个单位办理，统计表按2件计）";

pub fn workbook(a1: &Attachment1, a2: &Attachment2, a3: &Attachment3, period: &str) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    {
        let ws = wb.add_worksheet();
        ws.set_name("附件1")?;
        ws.set_column_width(1, 18)?;
        let mut r = 0;
        for (section, rows) in [("（区直部门）", &a1.departments), ("（街道）", &a1.sub_districts)] {
            title(ws, r, &format!("福建省信访信息系统{period}办理情况统计表{section}"))?;
            header(ws, r + 1, &["序号", "单位", "应评", "超期未评", "参评率", "满意", "基本满意", "不满意", "满意率"])?;
            r += 2;
            for (i, row) in rows.iter().enumerate() {
                ws.write_number(r, 0, (i + 1) as f64)?;
                ws.write_string(r, 1, &row.name)?;
                ws.write_number(r, 2, row.due as f64)?;
                ws.write_number(r, 3, row.expired as f64)?;
                rate(ws, r, 4, row.participation, 1)?;
                ws.write_number(r, 5, row.satisfied as f64)?;
                ws.write_number(r, 6, row.basic as f64)?;
                ws.write_number(r, 7, row.unsatisfied as f64)?;
                rate(ws, r, 8, row.satisfaction, 1)?;
                r += 1;
            }
            r += 1;
        }
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("附件2")?;
        ws.set_column_width(1, 22)?;
        let mut r = 0;
        for (section, rows) in [("（区直部门）", &a2.departments), ("（街道）", &a2.sub_districts)] {
            title(ws, r, &format!("12345平台{period}诉求件办理情况统计表{section}"))?;
            header(
                ws,
                r + 1,
                &["序号", "单位", "受理件数", "正在办理", "处理完毕", "逾期查阅", "逾期办理", "群众满意率"],
            )?;
            r += 2;
            for (i, row) in rows.iter().enumerate() {
                ws.write_number(r, 0, (i + 1) as f64)?;
                ws.write_string(r, 1, &row.name)?;
                for (col, v) in [
                    (2, row.received),
                    (3, row.in_progress),
                    (4, row.completed),
                    (5, row.overdue_view),
                    (6, row.overdue_handling),
                ] {
                    ws.write_number(r, col, v as f64)?;
                }
                rate(ws, r, 7, row.satisfaction, 2)?;
                r += 1;
            }
            r += 1;
        }
        ws.write_string(r, 0, NOTE)?;
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("附件3")?;
        ws.set_column_width(1, 22)?;
        let mut r = 0;
        for (section, rows) in [("（区直部门）", &a3.departments), ("（街道）", &a3.sub_districts)] {
            title(ws, r, &format!("12345平台{period}满意率排名统计表{section}"))?;
            header(ws, r + 1, &["排名", "单位", "群众满意率", "受理总件数", "不满意件数"])?;
            r += 2;
            for row in rows.iter() {
                ws.write_number(r, 0, f64::from(row.rank))?;
                ws.write_string(r, 1, &row.name)?;
                rate(ws, r, 2, row.satisfaction, 2)?;
                ws.write_number(r, 3, row.received as f64)?;
                ws.write_number(r, 4, row.unsatisfied as f64)?;
                r += 1;
            }
            r += 1;
        }
        ws.write_string(r, 0, NOTE)?;
    }
    wb.save_to_buffer()
}
