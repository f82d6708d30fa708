//! An uploaded table, as reconciliation reads it: any bytes as a workbook, any UTF-8 as CSV.
//! Nothing may panic, and whatever is read stays within the bounds (libFuzzer's
//! `-malloc_limit_mb` catches an allocation past them).
#![no_main]

use caseflow_reporting::upload::{Bounds, read_csv, read_xlsx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bounds = Bounds { rows: 200, columns: 32, cells: 2_000, ..Bounds::DEFAULT };
    if let Ok(rows) = read_xlsx(data, &bounds) {
        assert!(rows.len() <= bounds.rows as usize);
        assert!(rows.iter().all(|r| r.len() <= bounds.columns as usize));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(rows) = read_csv(text, &bounds)
    {
        assert!(rows.len() <= bounds.rows as usize);
        assert!(rows.iter().all(|r| r.len() <= bounds.columns as usize));
    }
});
