//! The bulletin as a Word document (DOCX) laid out as GB/T 9704-2012 《党政机关公文格式》 lays
//! out an official document, so an office can edit it in Word before it goes out: the same
//! blocks that render Markdown and HTML.
//!
//! What the standard fixes, and where it is used here (section numbers of GB/T 9704-2012):
//! - 5.2.1 A4 paper; top margin (天头) 37 mm, left (订口) 28 mm, type area 156 mm × 225 mm, so
//!   right 26 mm and bottom 35 mm;
//! - 5.2.2 body text in 3号仿宋 (16 pt), 22 lines of 28 characters a page: an exact line
//!   pitch of 225 mm / 22;
//! - 7.2.1 the issuing body's mark (发文机关标志) centred in red 小标宋; 7.2.2 the document
//!   number (发文字号) centred under it; 7.2.4 the red separator line (版头中的分隔线) under them;
//! - 7.3.1 the title in 2号小标宋, centred; 7.3.3 first-level headings in 黑体, second-level
//!   in 楷体; paragraphs indented two characters;
//! - 7.3.5 the date (成文日期) in Arabic numerals, month and day without leading zeros;
//! - 7.3.7 each attachment on its own page, "附件" and its number at the top left in 黑体, its
//!   title centred;
//! - 7.5 page numbers (页码) in 4号 宋体 as "— 1 —", centred under the type area.
//!
//! The XML is written by hand (WordprocessingML, ECMA-376 Part 1) with every text escaped by
//! `text`, and packed with the `zip` crate the workbook reader already uses.

use std::io::Write;

use crate::bulletin::Block;

/// What the masthead says: from the district's policy, or the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masthead {
    /// The issuing body's mark (发文机关标志), printed in red: "鲤城信访".
    pub mark: String,
    /// The issuing body (发文机关), printed beside the date: "中共泉州市鲤城区委 泉州市鲤城区人民政府".
    pub issuer: String,
    /// The document number (发文字号 or the issue of a bulletin): "（二十二）", "鲤信〔2020〕5号".
    pub number: Option<String>,
    /// 成文日期, in the district's calendar.
    pub date: chrono::NaiveDate,
}

// Sizes in half-points (w:sz) and lengths in twentieths of a point (twips): 1 mm = 56.7 twips.
const SIZE_MARK: u32 = 72; // 小初, 36 pt
const SIZE_TITLE: u32 = 44; // 2号, 22 pt
const SIZE_BODY: u32 = 32; // 3号, 16 pt
const SIZE_PAGE_NUMBER: u32 = 28; // 4号, 14 pt
const SIZE_TABLE: u32 = 24; // 小四, 12 pt: a nine-column table fits the type area
/// 225 mm / 22 lines.
const LINE_PITCH: u32 = 579;
const RED: &str = "FF0000";

const TITLE_FONT: &str = "方正小标宋简体";
const BODY_FONT: &str = "仿宋_GB2312";
const HEADING_FONT: &str = "黑体";
const SUBHEADING_FONT: &str = "楷体_GB2312";
const PAGE_NUMBER_FONT: &str = "宋体";

/// Escapes text for an XML element or attribute.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 has no place for other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy)]
struct Run<'a> {
    font: &'a str,
    size: u32,
    bold: bool,
    color: Option<&'a str>,
}

impl Run<'_> {
    fn xml(&self, s: &str) -> String {
        let fonts =
            format!(r#"<w:rFonts w:ascii="{f}" w:hAnsi="{f}" w:eastAsia="{f}" w:cs="{f}"/>"#, f = text(self.font));
        let bold = if self.bold { "<w:b/>" } else { "" };
        let color = self.color.map(|c| format!(r#"<w:color w:val="{c}"/>"#)).unwrap_or_default();
        format!(
            r#"<w:r><w:rPr>{fonts}{bold}{color}<w:sz w:val="{s2}"/><w:szCs w:val="{s2}"/></w:rPr><w:t xml:space="preserve">{t}</w:t></w:r>"#,
            s2 = self.size,
            t = text(s)
        )
    }
}

#[derive(Default)]
struct Para<'a> {
    style: Option<&'a str>,
    align: Option<&'a str>,
    indent_chars: u32,
    page_break: bool,
    red_rule: bool,
    exact_pitch: bool,
    space_after: u32,
    tab_right: bool,
}

impl Para<'_> {
    fn xml(&self, runs: &str) -> String {
        let mut p = String::new();
        if let Some(style) = self.style {
            p.push_str(&format!(r#"<w:pStyle w:val="{style}"/>"#));
        }
        if self.page_break {
            p.push_str("<w:pageBreakBefore/>");
        }
        if self.red_rule {
            // GB/T 9704 7.2.4: the red line under the masthead, as wide as the type area.
            p.push_str(&format!(r#"<w:pBdr><w:bottom w:val="single" w:sz="8" w:space="4" w:color="{RED}"/></w:pBdr>"#));
        }
        if self.tab_right {
            // The issuer at the left margin, the date against the right one (8843 twips = 156 mm).
            p.push_str(r#"<w:tabs><w:tab w:val="right" w:pos="8843"/></w:tabs>"#);
        }
        let line =
            if self.exact_pitch { format!(r#" w:line="{LINE_PITCH}" w:lineRule="exact""#) } else { String::new() };
        p.push_str(&format!(r#"<w:spacing w:before="0" w:after="{}"{line}/>"#, self.space_after));
        if self.indent_chars > 0 {
            p.push_str(&format!(r#"<w:ind w:firstLineChars="{}"/>"#, self.indent_chars * 100));
        }
        if let Some(align) = self.align {
            p.push_str(&format!(r#"<w:jc w:val="{align}"/>"#));
        }
        format!("<w:p><w:pPr>{p}</w:pPr>{runs}</w:p>")
    }
}

fn body_run() -> Run<'static> {
    Run { font: BODY_FONT, size: SIZE_BODY, bold: false, color: None }
}

fn table_xml(header: &[String], rows: &[Vec<String>]) -> String {
    let cell_run = Run { font: BODY_FONT, size: SIZE_TABLE, bold: false, color: None };
    let head_run = Run { bold: true, font: HEADING_FONT, ..cell_run };
    // The second column holds the unit's name: wider than the figures.
    let columns = header.len().max(1);
    let total: u32 = 8843;
    let name_width = if columns > 2 { total * 3 / 10 } else { total / 2 };
    let other = (total - name_width) / u32::try_from(columns.saturating_sub(1).max(1)).unwrap_or(1);
    let widths: Vec<u32> = (0..columns).map(|i| if i == 1 { name_width } else { other }).collect();
    let cell = |w: u32, run: Run<'_>, s: &str, align: &str| {
        format!(
            r#"<w:tc><w:tcPr><w:tcW w:w="{w}" w:type="dxa"/><w:vAlign w:val="center"/></w:tcPr><w:p><w:pPr><w:spacing w:before="40" w:after="40"/><w:jc w:val="{align}"/></w:pPr>{}</w:p></w:tc>"#,
            run.xml(s)
        )
    };
    let mut out = String::from(
        r#"<w:tbl><w:tblPr><w:tblW w:w="5000" w:type="pct"/><w:jc w:val="center"/><w:tblBorders><w:top w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:left w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:bottom w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:right w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:insideH w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:insideV w:val="single" w:sz="4" w:space="0" w:color="000000"/></w:tblBorders><w:tblLayout w:type="fixed"/></w:tblPr><w:tblGrid>"#,
    );
    for w in &widths {
        out.push_str(&format!(r#"<w:gridCol w:w="{w}"/>"#));
    }
    out.push_str("</w:tblGrid>");
    // The header row repeats on every page the table runs onto.
    out.push_str("<w:tr><w:trPr><w:tblHeader/></w:trPr>");
    for (i, h) in header.iter().enumerate() {
        out.push_str(&cell(widths[i.min(widths.len() - 1)], head_run, h, "center"));
    }
    out.push_str("</w:tr>");
    for row in rows {
        out.push_str("<w:tr><w:trPr><w:cantSplit/></w:trPr>");
        for (i, c) in row.iter().enumerate() {
            let align = if i == 1 { "left" } else { "center" };
            out.push_str(&cell(widths[i.min(widths.len() - 1)], cell_run, c, align));
        }
        out.push_str("</w:tr>");
    }
    out.push_str("</w:tbl>");
    out
}

/// 成文日期 as GB/T 9704-2012 7.3.5 writes it: "2020年7月23日".
pub fn written_date(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn document_xml(blocks: &[Block], m: &Masthead) -> String {
    let mut body = String::new();
    // 版头: the red mark, the number, the issuer and the date, the red line.
    let mark = Run { font: TITLE_FONT, size: SIZE_MARK, bold: false, color: Some(RED) };
    body.push_str(&Para { align: Some("center"), space_after: 240, ..Para::default() }.xml(&mark.xml(&m.mark)));
    if let Some(number) = &m.number {
        body.push_str(
            &Para { align: Some("center"), space_after: 120, ..Para::default() }.xml(&body_run().xml(number)),
        );
    }
    let issuer_line =
        format!("{}<w:r><w:tab/></w:r>{}", body_run().xml(&m.issuer), body_run().xml(&written_date(m.date)));
    body.push_str(&Para { red_rule: true, tab_right: true, space_after: 480, ..Para::default() }.xml(&issuer_line));

    let mut attachment = 0;
    for block in blocks {
        match block {
            // The publication's own name is the masthead's mark.
            Block::Title(_) => {}
            Block::Heading(1, t) => {
                let run = Run { font: TITLE_FONT, size: SIZE_TITLE, bold: false, color: None };
                body.push_str(
                    &Para { style: Some("Title"), align: Some("center"), space_after: 480, ..Para::default() }
                        .xml(&run.xml(t)),
                );
            }
            Block::Heading(level, t) => {
                let (style, font) =
                    if *level <= 2 { ("Heading1", HEADING_FONT) } else { ("Heading2", SUBHEADING_FONT) };
                let run = Run { font, size: SIZE_BODY, bold: *level > 2, color: None };
                body.push_str(
                    &Para { style: Some(style), indent_chars: 2, exact_pitch: true, ..Para::default() }
                        .xml(&run.xml(t)),
                );
            }
            Block::Paragraph(t) => {
                body.push_str(&Para { indent_chars: 2, exact_pitch: true, ..Para::default() }.xml(&body_run().xml(t)));
            }
            Block::Table { caption, header, rows, note } => {
                attachment += 1;
                let label = Run { font: HEADING_FONT, size: SIZE_BODY, bold: false, color: None };
                body.push_str(
                    &Para { page_break: true, exact_pitch: true, ..Para::default() }
                        .xml(&label.xml(&format!("附件{attachment}"))),
                );
                let title = Run { font: TITLE_FONT, size: SIZE_BODY, bold: true, color: None };
                body.push_str(
                    &Para { style: Some("Caption"), align: Some("center"), space_after: 240, ..Para::default() }
                        .xml(&title.xml(caption)),
                );
                body.push_str(&table_xml(header, rows));
                if !note.is_empty() {
                    let run = Run { size: SIZE_TABLE, ..body_run() };
                    body.push_str(&Para { space_after: 0, ..Para::default() }.xml(&run.xml(note)));
                }
            }
        }
    }
    // A4, the margins of GB/T 9704 5.2.1, the page number in the footer.
    body.push_str(
        r#"<w:sectPr><w:footerReference w:type="default" r:id="rIdFooter"/><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="2098" w:right="1474" w:bottom="1984" w:left="1588" w:header="851" w:footer="1134" w:gutter="0"/><w:docGrid w:type="lines" w:linePitch="579"/></w:sectPr>"#,
    );
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:body>{body}</w:body></w:document>"#
    )
}

fn footer_xml() -> String {
    let run = |s: &str| Run { font: PAGE_NUMBER_FONT, size: SIZE_PAGE_NUMBER, bold: false, color: None }.xml(s);
    let field = |instr: &str| {
        format!(
            r#"<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> {instr} </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>{}<w:r><w:fldChar w:fldCharType="end"/></w:r>"#,
            run("1")
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:ftr xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:p><w:pPr><w:jc w:val="center"/></w:pPr>{}{}{}</w:p></w:ftr>"#,
        run("— "),
        field("PAGE"),
        run(" —")
    )
}

fn styles_xml() -> String {
    let style = |id: &str, name: &str, font: &str, size: u32| {
        format!(
            r#"<w:style w:type="paragraph" w:styleId="{id}"><w:name w:val="{name}"/><w:basedOn w:val="Normal"/><w:qFormat/><w:rPr><w:rFonts w:ascii="{font}" w:hAnsi="{font}" w:eastAsia="{font}"/><w:sz w:val="{size}"/></w:rPr></w:style>"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="{BODY_FONT}" w:hAnsi="{BODY_FONT}" w:eastAsia="{BODY_FONT}" w:cs="{BODY_FONT}"/><w:sz w:val="{SIZE_BODY}"/><w:szCs w:val="{SIZE_BODY}"/><w:lang w:val="zh-CN" w:eastAsia="zh-CN"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:jc w:val="both"/></w:pPr></w:pPrDefault></w:docDefaults><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style>{}{}{}{}</w:styles>"#,
        style("Title", "Title", TITLE_FONT, SIZE_TITLE),
        style("Heading1", "heading 1", HEADING_FONT, SIZE_BODY),
        style("Heading2", "heading 2", SUBHEADING_FONT, SIZE_BODY),
        style("Caption", "caption", TITLE_FONT, SIZE_BODY),
    )
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/word/footer1.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>"#;

const PACKAGE_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>"#;

const DOCUMENT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rIdFooter" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer" Target="footer1.xml"/></Relationships>"#;

fn core_xml(title: &str, issuer: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title><dc:creator>{}</dc:creator></cp:coreProperties>"#,
        text(title),
        text(issuer)
    )
}

/// The bulletin's blocks as a DOCX file.
pub fn render(blocks: &[Block], m: &Masthead) -> std::io::Result<Vec<u8>> {
    let title = blocks
        .iter()
        .find_map(|b| if let Block::Heading(1, t) = b { Some(t.as_str()) } else { None })
        .unwrap_or(&m.mark);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let parts: [(&str, String); 7] = [
        ("[Content_Types].xml", CONTENT_TYPES.to_owned()),
        ("_rels/.rels", PACKAGE_RELS.to_owned()),
        ("docProps/core.xml", core_xml(title, &m.issuer)),
        ("word/_rels/document.xml.rels", DOCUMENT_RELS.to_owned()),
        ("word/document.xml", document_xml(blocks, m)),
        ("word/styles.xml", styles_xml()),
        ("word/footer1.xml", footer_xml()),
    ];
    for (name, body) in parts {
        zip.start_file(name, options).map_err(std::io::Error::other)?;
        zip.write_all(body.as_bytes())?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn part(docx: &[u8], name: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx)).unwrap_or_else(|e| panic!("{e}"));
        let mut s = String::new();
        zip.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")).read_to_string(&mut s).unwrap_or_default();
        s
    }

    fn masthead() -> Masthead {
        Masthead {
            mark: "鲤城信访".into(),
            issuer: "中共泉州市鲤城区委 泉州市鲤城区人民政府".into(),
            number: Some("（二十二）".into()),
            date: chrono::NaiveDate::from_ymd_opt(2020, 7, 3).unwrap_or_default(),
        }
    }

    #[test]
    fn the_masthead_is_red_above_a_red_line_on_a4_with_the_standard_margins() {
        let blocks = vec![
            Block::Title("鲤城区信访动态".into()),
            Block::Heading(1, "2020年上半年信访动态".into()),
            Block::Paragraph("共受理<602>件 & more".into()),
        ];
        let docx = render(&blocks, &masthead()).unwrap_or_else(|e| panic!("{e}"));
        let doc = part(&docx, "word/document.xml");
        assert!(doc.contains(r#"<w:color w:val="FF0000"/>"#) && doc.contains("鲤城信访"), "red mark");
        assert!(doc.contains(r#"<w:bottom w:val="single" w:sz="8" w:space="4" w:color="FF0000"/>"#), "red line");
        assert!(doc.contains("2020年7月3日"), "the date without leading zeros");
        assert!(doc.contains(r#"<w:pgSz w:w="11906" w:h="16838"/>"#), "A4");
        assert!(doc.contains(r#"w:top="2098" w:right="1474" w:bottom="1984" w:left="1588""#), "margins");
        assert!(doc.contains("共受理&lt;602&gt;件 &amp; more"), "text escaped");
        assert!(part(&docx, "word/footer1.xml").contains("PAGE"), "page numbers");
    }

    #[test]
    fn each_attachment_starts_a_page_with_its_label_and_a_bordered_table() {
        let blocks = vec![Block::Table {
            caption: "12345平台1-6月诉求件办理情况统计表（区直部门）".into(),
            header: vec!["序号".into(), "单位".into(), "受理件数".into()],
            rows: vec![vec!["1".into(), "区城管局".into(), "504".into()]],
            note: "备注".into(),
        }];
        let doc = part(&render(&blocks, &masthead()).unwrap_or_else(|e| panic!("{e}")), "word/document.xml");
        assert!(doc.contains("<w:pageBreakBefore/>") && doc.contains("附件1"), "{doc}");
        assert!(doc.contains("<w:tblHeader/>") && doc.contains(r#"<w:insideH w:val="single""#));
        assert!(doc.contains("区城管局") && doc.contains("504"));
    }
}
