//! Issue 11, as a hostile user and an operator pulling plugs would try it: uploads that cannot
//! hurt, and the findings that came with them, reproduced through the public APIs.

use caseflow::Service;
use caseflow_tests::{Sandbox, keys};

const PERIOD: &str = "from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The 7 KB workbook that used to stop all four services: cells at A1 and XFD1048576 only.
fn far_corner_workbook() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "单位").expect("A1");
    ws.write_string(1_048_575, 16_383, "x").expect("XFD1048576");
    wb.save_to_buffer().expect("workbook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_workbook_is_refused_by_its_bounds_and_the_services_go_on() {
    let sandbox = Sandbox::start().await;
    let path = format!("/v1/reports/reconciliation?{PERIOD}");
    let bomb = far_corner_workbook();
    assert!(bomb.len() < 16 * 1024, "small on the wire: {} bytes", bomb.len());

    // A unit handler may not upload: refused before the body is read.
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::CHENGGUAN, XLSX, bomb.clone()).await;
    assert_eq!(status, 403, "{refused}");

    // The office may, and the sheet's declared size is refused before any grid is made.
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::OFFICE, XLSX, bomb).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["rule"], "upload.rows", "{refused}");
    assert_eq!(refused["errors"][0]["field"], "body", "{refused}");
    assert!(
        refused["errors"][0]["description"].as_str().is_some_and(|m| m.contains("5000")),
        "names the bound: {refused}"
    );

    // A CSV with more fields on a line than any table has.
    let wide = format!("单位{}\n", ",x".repeat(100));
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::OFFICE, "text/csv", wide).await;
    assert_eq!((status.as_u16(), refused["rule"].as_str()), (422, Some("upload.columns")), "{refused}");

    // A body over the bound is refused while it is received.
    let huge = vec![b'x'; 4 * 1024 * 1024 + 10];
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::OFFICE, "text/csv", huge).await;
    assert_eq!((status.as_u16(), refused["rule"].as_str()), (413, Some("upload.body_bytes")), "{refused}");

    // Every service still answers.
    for service in [Service::Intake, Service::Routing, Service::Evaluation, Service::Reporting] {
        let (status, _, _) = sandbox.get_raw(service, "/health/livez", keys::OFFICE).await;
        assert_eq!(status, 200, "{service:?} is alive");
    }
    sandbox.shutdown().await;
}
