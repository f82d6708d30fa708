//! Reading an uploaded table (CSV or an XLSX workbook) without letting the upload decide how
//! much memory or time it costs.
//!
//! A workbook is a zip of XML parts, and its size on the wire says little about what it unpacks
//! to: a 7 KB sheet with cells at A1 and XFD1048576 asks for a 2^34-cell grid, and a zip bomb
//! unpacks kilobytes into gigabytes. So every bound here is on what is *parsed*, checked before
//! the work it would cost:
//! - the body: at most [`Bounds::body_bytes`], refused (413) while it is being received;
//! - the archive: at most [`Bounds::members`] members, each unpacking to at most
//!   [`Bounds::member_bytes`] and all together to [`Bounds::unpacked_bytes`]. The sizes are
//!   measured by unpacking each member through a counter that stops one byte past the bound, not
//!   taken from the headers, which a crafted archive can fill with any number;
//! - each sheet: its declared dimension, then every cell as it streams by (row, column and
//!   count), so no grid is ever allocated for cells that are not there. calamine reads the XML
//!   with quick-xml's pull parser, which keeps no stack of open elements, so nesting depth costs
//!   nothing but the bytes already bounded above;
//! - CSV: rows and columns as they are split.
//!
//! The bulletin's tables have 22 to 37 rows of at most 9 columns; the bounds leave two orders of
//! magnitude of room for an office's own layout and notes.

use std::io::{Read, Seek};

use calamine::{Data, DataRef, Reader as _, Xlsx};

use crate::reconcile::Cell;

/// What an upload may cost. [`Bounds::DEFAULT`] is what the reconciliation endpoint applies.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub body_bytes: usize,
    pub members: usize,
    pub member_bytes: u64,
    pub unpacked_bytes: u64,
    pub rows: u32,
    pub columns: u32,
    pub cells: usize,
}

impl Bounds {
    pub const DEFAULT: Bounds = Bounds {
        body_bytes: 4 * 1024 * 1024,
        members: 64,
        member_bytes: 16 * 1024 * 1024,
        unpacked_bytes: 32 * 1024 * 1024,
        rows: 5_000,
        columns: 64,
        cells: 50_000,
    };
}

/// Why an upload was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadRefused {
    /// A bound was passed: `bound` names it as the API documents it.
    #[error("{what} exceeds the bound {bound} = {limit}")]
    Exceeds { bound: &'static str, what: String, limit: u64 },
    /// Not a workbook, not UTF-8, or a sheet calamine cannot read.
    #[error("{0}")]
    Unreadable(String),
}

fn exceeds(bound: &'static str, what: impl Into<String>, limit: impl TryInto<u64>) -> UploadRefused {
    UploadRefused::Exceeds { bound, what: what.into(), limit: limit.try_into().unwrap_or(u64::MAX) }
}

/// RFC 4180 fields of each non-empty line (read by the `csv` crate, a leading byte-order mark
/// dropped, rows of any length), refused as soon as the rows or a row's fields pass the bounds.
pub fn parse_csv(text: &str, bounds: &Bounds) -> Result<Vec<Vec<String>>, UploadRefused> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches(crate::csv_file::BOM).as_bytes());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(UploadRefused::Unreadable(format!("CSV line {}: {e}", rows.len() + 1))),
        }
        if record.len() > bounds.columns as usize {
            return Err(exceeds(
                "columns",
                format!("CSV line {} has more fields than", rows.len() + 1),
                bounds.columns,
            ));
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rows.len() >= bounds.rows as usize {
            return Err(exceeds("rows", "the CSV's non-empty lines", bounds.rows));
        }
        rows.push(record.iter().map(str::to_owned).collect());
    }
    Ok(rows)
}

/// A CSV upload's rows as cells.
pub fn read_csv(text: &str, bounds: &Bounds) -> Result<Vec<Vec<Cell>>, UploadRefused> {
    Ok(parse_csv(text, bounds)?.into_iter().map(|r| r.into_iter().map(Cell::Text).collect()).collect())
}

/// Unpacks every member of the archive through a counter, refusing the archive as soon as a
/// member or the whole passes its bound. Nothing unpacked is kept.
fn check_archive<R: Read + Seek>(reader: R, bounds: &Bounds) -> Result<(), UploadRefused> {
    let mut archive =
        zip::ZipArchive::new(reader).map_err(|e| UploadRefused::Unreadable(format!("not an XLSX workbook: {e}")))?;
    if archive.len() > bounds.members {
        return Err(exceeds("members", format!("the workbook's {} parts", archive.len()), bounds.members));
    }
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut member =
            archive.by_index(i).map_err(|e| UploadRefused::Unreadable(format!("not an XLSX workbook: {e}")))?;
        let name = member.name().chars().take(80).collect::<String>();
        let mut limited = (&mut member).take(bounds.member_bytes + 1);
        let size = std::io::copy(&mut limited, &mut std::io::sink())
            .map_err(|e| UploadRefused::Unreadable(format!("workbook part {name} cannot be unpacked: {e}")))?;
        if size > bounds.member_bytes {
            return Err(exceeds("member_bytes", format!("workbook part {name} unpacked"), bounds.member_bytes));
        }
        total += size;
        if total > bounds.unpacked_bytes {
            return Err(exceeds("unpacked_bytes", "the workbook unpacked", bounds.unpacked_bytes));
        }
    }
    Ok(())
}

/// The rows of every sheet of an XLSX workbook, in order, each sheet read cell by cell within
/// the bounds.
pub fn read_xlsx(bytes: &[u8], bounds: &Bounds) -> Result<Vec<Vec<Cell>>, UploadRefused> {
    check_archive(std::io::Cursor::new(bytes), bounds)?;
    let mut book = Xlsx::new(std::io::Cursor::new(bytes))
        .map_err(|e| UploadRefused::Unreadable(format!("not an XLSX workbook: {e}")))?;
    let names = book.sheet_names();
    let mut rows = Vec::new();
    let mut cells = 0usize;
    for name in names {
        let sheet = name.chars().take(40).collect::<String>();
        let mut reader = book
            .worksheet_cells_reader(&name)
            .map_err(|e| UploadRefused::Unreadable(format!("sheet {sheet} cannot be read: {e}")))?;
        let dim = reader.dimensions();
        if dim.end.0 >= bounds.rows {
            return Err(exceeds(
                "rows",
                format!("sheet {sheet} declares rows up to {}, past", dim.end.0 + 1),
                bounds.rows,
            ));
        }
        if dim.end.1 >= bounds.columns {
            return Err(exceeds(
                "columns",
                format!("sheet {sheet} declares columns up to {}, past", dim.end.1 + 1),
                bounds.columns,
            ));
        }
        // Sparse cells as they stream by; the grid is laid out only once every bound held.
        let mut found: Vec<((u32, u32), Cell)> = Vec::new();
        while let Some(cell) =
            reader.next_cell().map_err(|e| UploadRefused::Unreadable(format!("sheet {sheet} cannot be read: {e}")))?
        {
            let (r, c) = cell.get_position();
            if r >= bounds.rows {
                return Err(exceeds("rows", format!("sheet {sheet} has a cell in row {}, past", r + 1), bounds.rows));
            }
            if c >= bounds.columns {
                return Err(exceeds(
                    "columns",
                    format!("sheet {sheet} has a cell in column {}, past", c + 1),
                    bounds.columns,
                ));
            }
            cells += 1;
            if cells > bounds.cells {
                return Err(exceeds("cells", "the workbook's cells", bounds.cells));
            }
            found.push(((r, c), to_cell(cell.get_value())));
        }
        rows.extend(lay_out(found));
    }
    Ok(rows)
}

fn to_cell(value: &DataRef<'_>) -> Cell {
    match Data::from(value.clone()) {
        Data::Int(i) => Cell::Number(i as f64),
        Data::Float(f) => Cell::Number(f),
        Data::Empty => Cell::Text(String::new()),
        other => Cell::Text(other.to_string()),
    }
}

/// Rows from the first used row to the last, each as wide as the widest, as a spreadsheet shows
/// them (calamine's `Range` gives the same).
fn lay_out(mut found: Vec<((u32, u32), Cell)>) -> Vec<Vec<Cell>> {
    let Some(first_row) = found.iter().map(|((r, _), _)| *r).min() else {
        return Vec::new();
    };
    let first_col = found.iter().map(|((_, c), _)| *c).min().unwrap_or_default();
    let last_row = found.iter().map(|((r, _), _)| *r).max().unwrap_or_default();
    let last_col = found.iter().map(|((_, c), _)| *c).max().unwrap_or_default();
    let width = (last_col - first_col + 1) as usize;
    let mut grid = vec![vec![Cell::Text(String::new()); width]; (last_row - first_row + 1) as usize];
    for ((r, c), cell) in found.drain(..) {
        grid[(r - first_row) as usize][(c - first_col) as usize] = cell;
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Bounds {
        Bounds { rows: 10, columns: 5, cells: 20, ..Bounds::DEFAULT }
    }

    fn workbook(cells: &[(u32, u16, &str)]) -> Vec<u8> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (r, c, v) in cells {
            ws.write_string(*r, *c, *v).expect("cell");
        }
        wb.save_to_buffer().expect("workbook")
    }

    #[test]
    fn a_sheet_with_a_far_corner_cell_is_refused_by_its_dimension_without_a_grid() {
        // The attack from the issue: A1 and XFD1048576, 2^34 cells if laid out.
        let bytes = workbook(&[(0, 0, "a"), (1_048_575, 16_383, "z")]);
        let err = read_xlsx(&bytes, &Bounds::DEFAULT).expect_err("refused");
        assert!(matches!(err, UploadRefused::Exceeds { bound: "rows", limit: 5_000, .. }), "{err}");
    }

    #[test]
    fn cells_past_the_bounds_are_refused_naming_the_bound() {
        let wide = workbook(&[(0, 0, "a"), (0, 7, "b")]);
        assert!(matches!(read_xlsx(&wide, &small()), Err(UploadRefused::Exceeds { bound: "columns", .. })));
        let many: Vec<(u32, u16, &str)> = (0..9).flat_map(|r| (0..3).map(move |c| (r, c, "x"))).collect();
        assert!(matches!(read_xlsx(&workbook(&many), &small()), Err(UploadRefused::Exceeds { bound: "cells", .. })));
    }

    #[test]
    fn a_sparse_sheet_is_laid_out_as_a_spreadsheet_shows_it() {
        let bytes = workbook(&[(1, 1, "b2"), (3, 2, "c4")]);
        let rows = read_xlsx(&bytes, &small()).expect("reads");
        let text = |c: &Cell| match c {
            Cell::Text(t) => t.clone(),
            Cell::Number(n) => n.to_string(),
        };
        let shown: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(text).collect()).collect();
        assert_eq!(shown, [vec!["b2", ""], vec!["", ""], vec!["", "c4"]]);
    }

    #[test]
    fn a_zip_bomb_is_refused_by_what_it_unpacks_to_not_by_its_headers() {
        use std::io::Write as _;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("xl/worksheets/sheet1.xml", options).expect("member");
        let zeros = vec![b' '; 1024 * 1024];
        for _ in 0..40 {
            zip.write_all(&zeros).expect("write");
        }
        let bytes = zip.finish().expect("zip").into_inner();
        assert!(bytes.len() < 200 * 1024, "the bomb is small on the wire: {} bytes", bytes.len());
        let err = read_xlsx(&bytes, &Bounds::DEFAULT).expect_err("refused");
        assert!(matches!(err, UploadRefused::Exceeds { bound: "member_bytes", .. }), "{err}");
    }

    #[test]
    fn csv_rows_and_fields_are_bounded_as_they_are_split() {
        let b = small();
        assert_eq!(parse_csv("a,b\n\n\"c,\"\"d\",e\n", &b).expect("reads"), [vec!["a", "b"], vec!["c,\"d", "e"]]);
        let wide = ",".repeat(10);
        assert!(matches!(parse_csv(&wide, &b), Err(UploadRefused::Exceeds { bound: "columns", .. })));
        let long = "x\n".repeat(11);
        assert!(matches!(parse_csv(&long, &b), Err(UploadRefused::Exceeds { bound: "rows", .. })));
        assert!(read_xlsx(b"not a zip", &b).is_err(), "not a workbook");
    }
}
