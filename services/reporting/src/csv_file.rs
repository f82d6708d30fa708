//! CSV as the office's desktop opens it: UTF-8 with a byte-order mark (without one, Excel on a
//! Chinese Windows desktop reads the file as GBK and the headers turn to mojibake), CRLF line
//! ends, quoting by the `csv` crate, and no cell that a spreadsheet would run as a formula.

/// The UTF-8 byte-order mark Excel looks for.
pub const BOM: &str = "\u{feff}";

/// A cell that starts like a formula (`=`, `+`, `-`, `@`, or a tab or carriage return, which
/// some spreadsheets strip before looking) gets a leading apostrophe, so a spreadsheet shows it
/// as text and never evaluates it (OWASP, "CSV Injection",
/// https://owasp.org/www-community/attacks/CSV_Injection). A number ("-3", "-1.5%") and the
/// dash of a missing rate ("-") are left alone: neither is a formula.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if starts_like_formula(cell) { format!("'{cell}").into() } else { cell.into() }
}

/// Whether a spreadsheet could take `cell` for a formula (see `neutralise`).
pub fn starts_like_formula(cell: &str) -> bool {
    let Some(first) = cell.chars().next() else { return false };
    if !matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r') || cell == "-" {
        return false;
    }
    let number = cell.strip_suffix('%').unwrap_or(cell);
    number.parse::<f64>().map_or(true, |n| !n.is_finite())
}

/// A header row and the rows, as CSV text with the BOM, each cell neutralised.
pub fn write(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(BOM.as_bytes().to_vec());
    let mut record = |cells: Vec<&str>| {
        // Writing into memory fails only if the record is empty, which no table has.
        let _ = out.write_record(cells.into_iter().map(|c| neutralise(c).into_owned()));
    };
    record(header.to_vec());
    for row in rows {
        record(row.iter().map(String::as_str).collect());
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_gets_a_byte_order_mark_and_crlf() {
        let out = write(&["单位", "受理件数"], &[vec!["区城管局".into(), "504".into()]]);
        assert_eq!(out, "\u{feff}单位,受理件数\r\n区城管局,504\r\n");
    }

    #[test]
    fn quotes_what_needs_quoting() {
        let out = write(&["a", "b"], &[vec!["x,y".into(), "say \"hi\"".into()]]);
        assert_eq!(out, "\u{feff}a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n");
    }

    #[test]
    fn formulas_become_text_and_numbers_and_dashes_stay() {
        for (cell, shown) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("-", "-"),
            ("-3", "-3"),
            ("-1.5%", "-1.5%"),
            ("+0.08%", "+0.08%"),
            ("区城管局", "区城管局"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), shown, "{cell:?}");
        }
    }
}
