//! Every report in every format for one fixed event set (the seeded world of `common`), compared
//! byte for byte with the files in `tests/snapshots/`. A change to a figure, a label or a layout
//! shows up here as a diff to read; `UPDATE_SNAPSHOTS=1` rewrites the files after reading it.
//! Both backends must give the same bytes.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use caseflow_reporting::document::{Format, Kind, MastheadParams, Query};
use caseflow_reporting::{MIGRATIONS, Reports, units::Units};
use caseflow_runtime::db::Db;
use caseflow_runtime::event_log;
use caseflow_runtime::testing::TestDatabase;
use chrono::{DateTime, Utc};
use common::{Rng, World, office, replay};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).expect("a valid timestamp")
}

/// The workbook's cells, sheet by sheet, as text (the XLSX bytes carry a creation time).
fn cells(bytes: &[u8]) -> String {
    use calamine::Reader as _;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("a workbook");
    let mut out = String::new();
    for (name, range) in book.worksheets() {
        out.push_str(&format!("== {name}\n"));
        for row in range.rows() {
            let line: Vec<String> = row.iter().map(ToString::to_string).collect();
            out.push_str(line.join("\t").trim_end());
            out.push('\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_in_every_format_matches_its_snapshot() {
    let test_db = TestDatabase::new("reporting_snapshots");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await.expect("database");
    let world = World::generate(2020);
    replay(&db, &world, &mut Rng(7)).await;
    let reports = Reports::new(db.clone(), Arc::new(Units::load(None).expect("units")), Default::default());
    let (from, to, as_of) =
        (at("2020-01-01T00:00:00+08:00"), at("2020-07-01T00:00:00+08:00"), at("2020-07-23T00:00:00+08:00"));
    // The period and moment of every document here; the hotline unless a case says otherwise.
    let query = |kind, format| Query {
        kind,
        format,
        from,
        to,
        as_of,
        source: "hotline".into(),
        group: None,
        reveal_reason: None,
        masthead: MastheadParams::default(),
    };
    let cases: [(&str, Kind, Format, &str); 12] = [
        ("attachment-1.json", Kind::Attachment1, Format::Json, "hotline"),
        ("attachment-1.csv", Kind::Attachment1, Format::Csv, "hotline"),
        ("attachment-2.json", Kind::Attachment2, Format::Json, "hotline"),
        ("attachment-2.csv", Kind::Attachment2, Format::Csv, "hotline"),
        ("attachment-3.json", Kind::Attachment3, Format::Json, "hotline"),
        ("attachment-3.csv", Kind::Attachment3, Format::Csv, "hotline"),
        ("summary-hotline.json", Kind::Summary, Format::Json, "hotline"),
        ("summary-petition.json", Kind::Summary, Format::Json, "petition"),
        ("bounce.json", Kind::Bounce, Format::Json, "hotline"),
        ("bulletin.md", Kind::Bulletin, Format::Markdown, "hotline"),
        ("bulletin.html", Kind::Bulletin, Format::Html, "hotline"),
        ("workbook.txt", Kind::Workbook, Format::Xlsx, "hotline"),
    ];
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let mut differ = Vec::new();
    for (file, kind, format, source) in cases {
        let q = Query { source: source.into(), ..query(kind, format) };
        let doc = reports.document(&office(), &q).await.unwrap_or_else(|e| panic!("{file}: {e:?}"));
        let text = match format {
            Format::Json => {
                let v: serde_json::Value = serde_json::from_slice(&doc.body).expect("json");
                serde_json::to_string_pretty(&v).expect("pretty") + "\n"
            }
            Format::Xlsx => cells(&doc.body),
            _ => String::from_utf8(doc.body).expect("utf-8"),
        };
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).expect("snapshot directory");
            std::fs::write(&path, &text).expect("snapshot written");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != text {
            let line = expected.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0) + 1;
            differ.push(format!("{file} (first difference at line {line})"));
        }
    }
    assert!(
        differ.is_empty(),
        "reports differ from tests/snapshots/: {differ:?}; read the diff, then UPDATE_SNAPSHOTS=1 if it is intended"
    );

    // The office round-trips an export: each attachment's own CSV and the workbook, uploaded
    // back for the same period, are read whole and found consistent with themselves and the events.
    for (kind, format, table) in [
        (Kind::Attachment1, Format::Csv, "attachment-1"),
        (Kind::Attachment2, Format::Csv, "attachment-2"),
        (Kind::Attachment3, Format::Csv, "attachment-3"),
        (Kind::Workbook, Format::Xlsx, "attachment-2"),
    ] {
        let q = query(kind, format);
        let doc = reports.document(&office(), &q).await.unwrap_or_else(|e| panic!("{table}: {e:?}"));
        assert!(format != Format::Csv || doc.body.starts_with("\u{feff}".as_bytes()), "{table}: a byte-order mark");
        let bounds = caseflow_reporting::upload::Bounds::DEFAULT;
        let cells = match format {
            Format::Csv => {
                caseflow_reporting::upload::read_csv(std::str::from_utf8(&doc.body).expect("utf-8"), &bounds)
            }
            _ => caseflow_reporting::upload::read_xlsx(&doc.body, &bounds),
        }
        .expect("the export reads back");
        let r =
            reports.reconcile(&office(), &cells, from, to, as_of).await.unwrap_or_else(|e| panic!("{table}: {e:?}"));
        assert!(r.tables.iter().any(|t| t == table), "{table}: found in {:?}", r.tables);
        assert!(r.self_contradictions.is_empty(), "{table}: {:?}", r.self_contradictions);
        assert!(r.differences_from_events.is_empty(), "{table}: {:?}", r.differences_from_events);
        assert!(r.unknown_units.is_empty(), "{table}: {:?}", r.unknown_units);
        if format == Format::Csv {
            // Every data row (all but the header) is read.
            let lines = std::str::from_utf8(&doc.body).expect("utf-8").lines().count();
            assert_eq!(r.rows_read, lines - 1, "{table}: rows read");
        }
    }

    // The DOCX bulletin beside the Markdown it must agree with: `make docx-check` opens it with
    // python-docx (tests/docx/check_bulletin.py) and compares every section and table cell.
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bulletin");
    std::fs::create_dir_all(&out).expect("output directory");
    for (format, file) in [(Format::Docx, "bulletin.docx"), (Format::Markdown, "bulletin.md")] {
        let masthead = MastheadParams { issuer: None, number: Some("（二十二）".into()), date: None };
        let q = Query { masthead, ..query(Kind::Bulletin, format) };
        let doc = reports.document(&office(), &q).await.unwrap_or_else(|e| panic!("{file}: {e:?}"));
        std::fs::write(out.join(file), &doc.body).expect("written");
    }
}
