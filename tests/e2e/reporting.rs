//! Reporting's attachments, built only from events, for a fixed set of cases driven through the
//! public APIs.

use std::time::Duration;

use caseflow::Service;
use caseflow_tests::{Sandbox, keys, order};
use serde_json::{Value, json};

const PERIOD: &str = "from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00";

async fn post(s: &Sandbox, service: Service, path: &str, key: &str, body: Value) -> Value {
    let (status, v) = s.post_json(service, path, key, &body).await;
    assert!(status.is_success(), "{path}: {v}");
    v
}

async fn dispatch_of(s: &Sandbox, case_id: &str) -> Value {
    s.eventually("the dispatch", Duration::from_secs(10), || async {
        let (_, list) =
            s.get_json(Service::Routing, &format!("/v1/cases/{case_id}/dispatches"), keys::DISPATCHER).await;
        list.as_array().and_then(|l| l.first().cloned())
    })
    .await
}

async fn resolve(s: &Sandbox, d: &Value) {
    let (id, unit) = (d["dispatch_id"].as_str().expect("id"), d["unit"].as_str().expect("unit"));
    let clerk = keys::unit(unit);
    post(s, Service::Routing, &format!("/v1/dispatches/{id}/acknowledge"), &clerk, json!({})).await;
    post(
        s,
        Service::Routing,
        &format!("/v1/dispatches/{id}/land"),
        &clerk,
        json!({"at": "2020-06-30T12:00:00+08:00", "method": "phone"}),
    )
    .await;
    post(s, Service::Routing, &format!("/v1/dispatches/{id}/reply"), &clerk, json!({"text": "已办"})).await;
    post(s, Service::Routing, &format!("/v1/dispatches/{id}/review"), keys::DISPATCHER, json!({"accept": true})).await;
    post(s, Service::Routing, &format!("/v1/dispatches/{id}/resolve"), keys::DISPATCHER, json!({})).await;
}

fn row<'a>(table: &'a Value, unit: &str) -> &'a Value {
    table["departments"]
        .as_array()
        .into_iter()
        .chain(table["sub_districts"].as_array())
        .flatten()
        .find(|r| r["unit"] == unit)
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attachments_add_up_and_follow_the_bulletins_definitions() {
    let sandbox = Sandbox::start().await;
    // Three hotline cases to 区住建局 (two resolved, one rated poor; one left open), one to 开元街道.
    let mut ids = Vec::new();
    for (n, unit) in [(1, "zhujian"), (2, "zhujian"), (3, "zhujian"), (4, "kaiyuan")] {
        let mut o = order(n, &[unit]);
        o["received_at"] = json!("2020-06-30T09:00:00+08:00");
        let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &o).await;
        ids.push(case["case_id"].as_str().expect("id").to_owned());
    }
    for id in &ids[..2] {
        resolve(&sandbox, &dispatch_of(&sandbox, id).await).await;
    }
    let kaiyuan = dispatch_of(&sandbox, &ids[3]).await;
    resolve(&sandbox, &kaiyuan).await;
    let _open = dispatch_of(&sandbox, &ids[2]).await;
    sandbox
        .eventually("the first evaluation", Duration::from_secs(10), || async {
            let (s, _) =
                sandbox.get_json(Service::Evaluation, &format!("/v1/evaluations/{}", ids[0]), keys::EVALUATOR).await;
            (s == 200).then_some(())
        })
        .await;
    post(
        &sandbox,
        Service::Evaluation,
        &format!("/v1/evaluations/{}/ratings", ids[0]),
        keys::INTEGRATOR,
        json!({"level": "poor"}),
    )
    .await;

    // A petition to 区住建局, rated basic by the desk.
    let petition = json!({
        "petition_number": "XF2020RP0001", "received_at": "2020-06-30T09:00:00+08:00", "channel": "letter",
        "purpose": "request_decision", "category": "construction.renovation", "content": "违规装修",
        "location": {"sub_district": "lizhong", "address": "新华路"}, "citizen": {"name": "林碧英", "phone": "13900001111"},
        "matters": [{"category": "construction.renovation", "summary": "违规装修", "target_unit": "zhujian"}],
    });
    let p = post(&sandbox, Service::Intake, "/v1/petitions", keys::DISPATCHER, petition).await;
    let pid = p["case_id"].as_str().expect("id").to_owned();
    resolve(&sandbox, &dispatch_of(&sandbox, &pid).await).await;
    crate::evaluation::part(&sandbox, &pid, "zhujian", "due").await;
    post(
        &sandbox,
        Service::Evaluation,
        &format!("/v1/evaluations/{pid}/ratings"),
        keys::EVALUATOR,
        json!({"level": "satisfied", "unit_levels": {"zhujian": "basic"}}),
    )
    .await;

    // As of 10 July the open dispatch is past its deadline (5 working days from 30 June).
    let a2 = sandbox
        .eventually("reporting to see the rating", Duration::from_secs(10), || async {
            let (_, a2) = sandbox
                .get_json(
                    Service::Reporting,
                    &format!("/v1/reports/attachment-2?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00"),
                    keys::OFFICE,
                )
                .await;
            let settled = row(&a2, "zhujian")["unsatisfied"] == 1
                && row(&a2, "zhujian")["completed"] == 2
                && row(&a2, "kaiyuan")["completed"] == 1;
            settled.then_some(a2)
        })
        .await;
    assert_eq!(a2["count_unit"], "dispatches");
    let zj = row(&a2, "zhujian");
    assert_eq!(
        (
            zj["received"].as_u64(),
            zj["completed"].as_u64(),
            zj["overdue_handling"].as_u64(),
            zj["in_progress"].as_u64()
        ),
        (Some(3), Some(2), Some(1), Some(0))
    );
    assert_eq!(zj["satisfaction"], 50.0, "(2 completed - 1 unsatisfied) / 2");
    assert_eq!(row(&a2, "kaiyuan")["satisfaction"], 100.0);
    assert_eq!(a2["sub_districts"][0]["unit"], "kaiyuan", "sub-districts in their own section");

    // gRPC `Report` gives the same document; `group` keeps one section of the unit tables.
    let mut grpc =
        caseflow_proto::v1::reporting_client::ReportingClient::new(sandbox.channel(Service::Reporting).await);
    let at = |s: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(s).expect("time");
        Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
    };
    let mut request = tonic::Request::new(caseflow_proto::v1::ReportRequest {
        report: "attachment-2".into(),
        from: at("2020-01-01T00:00:00+08:00"),
        to: at("2021-01-01T00:00:00+08:00"),
        as_of: at("2020-07-10T00:00:00+08:00"),
        group: "sub_district".into(),
        ..Default::default()
    });
    request.metadata_mut().insert("authorization", format!("Bearer {}", keys::OFFICE).parse().expect("header"));
    let doc = grpc.report(request).await.expect("report over gRPC").into_inner();
    assert_eq!(doc.content_type, "application/json");
    let over_grpc: Value = serde_json::from_slice(&doc.body).expect("json");
    let (_, over_rest) = sandbox
        .get_json(
            Service::Reporting,
            &format!("/v1/reports/attachment-2?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00&group=sub_district"),
            keys::OFFICE,
        )
        .await;
    assert_eq!(over_grpc, over_rest, "both edges give the same report");
    assert_eq!(over_rest["departments"], json!([]), "only the sub-districts");
    assert_eq!(over_rest["sub_districts"][0]["unit"], "kaiyuan");
    let mut bad = tonic::Request::new(caseflow_proto::v1::ReportRequest {
        report: "attachment-2".into(),
        format: "pdf".into(),
        from: at("2020-01-01T00:00:00+08:00"),
        to: at("2021-01-01T00:00:00+08:00"),
        ..Default::default()
    });
    bad.metadata_mut().insert("authorization", format!("Bearer {}", keys::OFFICE).parse().expect("header"));
    let status = grpc.report(bad).await.expect_err("no such format");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("format"), "{}", status.message());

    // Earlier, on 1 July, the same dispatch was still in progress: figures as of any moment.
    let (_, early) = sandbox
        .get_json(
            Service::Reporting,
            &format!("/v1/reports/attachment-2?{PERIOD}&as_of=2020-07-01T00:00:00%2B08:00"),
            keys::OFFICE,
        )
        .await;
    let zj_early = row(&early, "zhujian");
    assert_eq!(zj_early["overdue_handling"], 0);
    assert_eq!(
        zj_early["received"],
        zj_early["in_progress"].as_u64().unwrap_or(0) + zj_early["completed"].as_u64().unwrap_or(0)
    );

    let (_, a3) = sandbox
        .get_json(
            Service::Reporting,
            &format!("/v1/reports/attachment-3?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00"),
            keys::OFFICE,
        )
        .await;
    assert_eq!(a3["departments"][0]["unit"], "zhujian");
    assert_eq!(a3["below_target"], json!(["zhujian"]));

    // The petition's rating reaches reporting on evaluation's stream, in its own time.
    let (status, a1) = sandbox
        .eventually("reporting to see the petition's rating", Duration::from_secs(10), || async {
            let (status, a1) =
                sandbox.get_json(Service::Reporting, &format!("/v1/reports/attachment-1?{PERIOD}"), keys::OFFICE).await;
            (row(&a1, "zhujian")["basic"] == 1).then_some((status, a1))
        })
        .await;
    assert_eq!(status, 200, "{a1}");
    let zj1 = row(&a1, "zhujian");
    assert_eq!(
        (zj1["due"].as_u64(), zj1["basic"].as_u64(), zj1["participation"].as_f64(), zj1["satisfaction"].as_f64()),
        (Some(1), Some(1), Some(100.0), Some(100.0))
    );

    let (_, _, csv) = sandbox
        .get_raw(
            Service::Reporting,
            &format!("/v1/reports/attachment-2?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00&format=csv"),
            keys::OFFICE,
        )
        .await;
    let csv = String::from_utf8(csv).expect("utf-8");
    let mut lines = csv.lines();
    // A byte-order mark, so that Excel on a Chinese desktop reads UTF-8; the printed columns.
    assert_eq!(lines.next(), Some("\u{feff}分组,序号,单位,受理件数,正在办理,处理完毕,逾期查阅,逾期办理,群众满意率"));
    assert!(csv.contains("区直部门,1,区住建局,3,0,2,"), "{csv}");
    assert!(csv.contains(",50.00%"), "{csv}");

    // The bulletin as a Word document (GB/T 9704-2012 layout), its masthead from the request.
    let (status, kind, docx) = sandbox
        .get_raw(
            Service::Reporting,
            &format!("/v1/reports/bulletin?{PERIOD}&format=docx&number=%EF%BC%88%E4%BA%8C%EF%BC%89&date=2020-07-23"),
            keys::OFFICE,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(kind, "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    assert!(docx.starts_with(b"PK\x03\x04"), "a DOCX package");
    let (status, refused) = sandbox
        .get_json(
            Service::Reporting,
            &format!("/v1/reports/bulletin?{PERIOD}&format=docx&date=23.07.2020&number={}", "x".repeat(41)),
            keys::OFFICE,
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let fields: Vec<&str> =
        refused["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert!(fields.contains(&"date") && fields.contains(&"number"), "both bad fields named: {refused}");

    // The narrative figures: totals, channels, categories (per case) and completion on time.
    let (status, summary) = sandbox
        .get_json(Service::Reporting, &format!("/v1/reports/summary?source=hotline&{PERIOD}"), keys::OFFICE)
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (summary["total"]["count"].as_u64(), summary["total"]["change"].is_null()),
        (Some(4), true),
        "no change against an empty year"
    );
    assert_eq!(summary["channels"][0]["label"], "电话");
    assert_eq!(
        (summary["categories"][0]["label"].as_str(), summary["categories"][0]["share"].as_f64()),
        (Some("城市管理"), Some(100.0))
    );
    assert_eq!((summary["kinds"][0]["label"].as_str(), summary["kinds"][0]["count"].as_u64()), (Some("投诉"), Some(4)));
    assert_eq!((summary["resolved_dispatches"].as_u64(), summary["on_time_rate"].as_f64()), (Some(3), Some(100.0)));

    // The office's own table, uploaded beside the events: one count differs, one row contradicts itself.
    let upload = "序号,单位,受理件数,正在办理,处理完毕,逾期查阅,逾期办理,群众满意率\n1,区住建局,4,0,2,1,1,50.00%\n2,开元街道办事处,1,0,1,0,0,100.00%\n";
    let (status, rec) = sandbox
        .post_raw(
            Service::Reporting,
            &format!("/v1/reports/reconciliation?kind=attachment-2&{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00"),
            keys::OFFICE,
            "text/csv",
            upload,
        )
        .await;
    assert_eq!(status, 200, "{rec}");
    let self_flags: Vec<(&str, &str)> = rec["self_contradictions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| (c["unit"].as_str().unwrap_or(""), c["column"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(self_flags, [("区住建局", "受理件数")], "4 != 0 + 1 + 2: {rec}");
    let diffs: Vec<(&str, &str, &str)> = rec["differences_from_events"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            (
                c["column"].as_str().unwrap_or(""),
                c["printed"].as_str().unwrap_or(""),
                c["expected"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(diffs, [("受理件数", "4", "3")], "{rec}");

    // The workbook opens with a standard reader; its cells hold the figures, rates as numbers.
    let (_, _, bytes) = sandbox
        .get_raw(
            Service::Reporting,
            &format!("/v1/reports/attachments.xlsx?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00"),
            keys::OFFICE,
        )
        .await;
    use calamine::Reader as _;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("a valid workbook");
    assert_eq!(book.sheet_names(), ["附件1", "附件2", "附件3"]);
    let sheet = book.worksheet_range("附件2").expect("sheet 2");
    let cell = |r: u32, c: u32| sheet.get_value((r, c)).cloned();
    assert_eq!(cell(0, 0), Some(calamine::Data::String("12345平台1-12月诉求件办理情况统计表（区直部门）".into())));
    assert_eq!(cell(1, 2), Some(calamine::Data::String("受理件数".into())));
    assert_eq!(cell(2, 1), Some(calamine::Data::String("区住建局".into())));
    assert_eq!(cell(2, 2), Some(calamine::Data::Float(3.0)));
    assert_eq!(cell(2, 7), Some(calamine::Data::Float(0.5)), "50.00 % stored as the number 0.5");
    let a1 = book.worksheet_range("附件1").expect("sheet 1");
    assert_eq!(a1.get_value((2, 1)).cloned(), Some(calamine::Data::String("区住建局".into())));
    assert_eq!(a1.get_value((2, 4)).cloned(), Some(calamine::Data::Float(1.0)));

    // The exported workbook, uploaded back for reconciliation, agrees with itself and the events.
    let (status, rec) = sandbox
        .post_raw(
            Service::Reporting,
            &format!("/v1/reports/reconciliation?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00"),
            keys::OFFICE,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            bytes.clone(),
        )
        .await;
    assert_eq!(status, 200, "{rec}");
    assert_eq!(rec["tables"], json!(["attachment-1", "attachment-2", "attachment-3"]), "{rec}");
    assert_eq!(
        (rec["self_contradictions"].as_array().map(Vec::len), rec["differences_from_events"].as_array().map(Vec::len)),
        (Some(0), Some(0)),
        "our own export holds no contradiction: {rec}"
    );
    let (status, refused) = sandbox
        .post_raw(
            Service::Reporting,
            &format!("/v1/reports/reconciliation?{PERIOD}&kind=attachment-9"),
            keys::OFFICE,
            "text/csv",
            upload,
        )
        .await;
    assert_eq!((status.as_u16(), refused["errors"][0]["field"].as_str()), (422, Some("kind")), "{refused}");

    // The bulletin: every section of the source document, in its order, figures from the data.
    let text = |path: String| {
        let sandbox = &sandbox;
        async move {
            let (status, kind, body) = sandbox.get_raw(Service::Reporting, &path, keys::OFFICE).await;
            (status, kind, String::from_utf8(body).expect("utf-8"))
        }
    };
    let (status, kind, md) = text(format!("/v1/reports/bulletin?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00")).await;
    assert_eq!((status.as_u16(), kind.as_str()), (200, "text/markdown; charset=utf-8"), "{md}");
    // The source bulletin's sections (000_75e8fb351e9c560f.txt), in order.
    let sections = [
        "鲤城区信访动态",
        "2020年信访动态",
        "一、信访信息系统受理情况",
        "（一）来信来访",
        "（二）领导接访",
        "（三）三率及最多投一次情况",
        "存在不足：1.",
        "（四）工作要求",
        "二、12345便民服务平台受理情况",
        "1.诉求分类",
        "2.诉求热点",
        "3.办理情况",
        "存在不足：一是",
        "4.自查整改",
        "附件1 信访信息系统1-12月办理情况统计表（区直部门）",
        "附件2 12345平台1-12月诉求件办理情况统计表（区直部门）",
        "附件2 12345平台1-12月诉求件办理情况统计表（街道）",
        "附件3 12345平台1-12月满意率排名统计表（区直部门）",
    ];
    caseflow_tests::assert_in_order(&md, &sections);
    assert!(md.contains("12345便民服务平台共受理群众诉求4件"), "hotline total from the data: {md}");
    let row_md = format!("| 1 | 区住建局 | 3 | 0 | 2 | {} | 1 | 50.00% |", zj["overdue_view"]);
    assert!(md.contains(&row_md), "attachment 2 row as in the JSON ({row_md}): {md}");
    assert!(md.contains("群众满意率未达98%的承办单位有：区住建局50.00%"), "{md}");
    let (status, kind, html) =
        text(format!("/v1/reports/bulletin?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00&format=html")).await;
    assert_eq!((status.as_u16(), kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<h4>（二）领导接访</h4>"), "{html}");
    assert!(html.contains("<td>区住建局</td><td>3</td>"), "{html}");
    assert_eq!(html.matches("<table>").count(), md.matches("**附件").count(), "the same tables in both");
    let (status, _, bad) = text(format!("/v1/reports/bulletin?{PERIOD}&format=pdf")).await;
    assert_eq!(status.as_u16(), 422, "{bad}");
    assert!(bad.contains("format"), "{bad}");

    // Rebuilt from the streams on demand (admin only), the read model gives the same reports.
    let reports = [
        format!("/v1/reports/attachment-1?{PERIOD}"),
        format!("/v1/reports/attachment-2?{PERIOD}&as_of=2020-07-10T00:00:00%2B08:00"),
        // As of moments while deadlines are still running: read through the day shifts.
        format!("/v1/reports/attachment-2?{PERIOD}&as_of=2020-07-01T15:00:00%2B08:00"),
        format!("/v1/reports/attachment-2?{PERIOD}&as_of=2020-07-03T02:00:00%2B08:00"),
        format!("/v1/reports/summary?source=hotline&{PERIOD}"),
        format!("/v1/reports/summary?source=petition&{PERIOD}"),
    ];
    let mut before = Vec::new();
    for path in &reports {
        before.push(sandbox.get_json(Service::Reporting, path, keys::OFFICE).await.1);
    }
    // Damage the rollups behind the service's back: the attachment no longer adds up and says so.
    // (As of a moment inside the period, the days received by then are read from the shift totals.)
    caseflow_tests::execute_sql(
        &sandbox.databases[3],
        "UPDATE report_dispatch_days SET received = received + 5; UPDATE report_shift_totals SET received = received + 5",
    );
    let (status, broken) = sandbox.get_json(Service::Reporting, &reports[1], keys::OFFICE).await;
    assert_eq!(status, 500, "a broken invariant is an error, not a figure: {broken}");
    let (status, _) = sandbox.post_json(Service::Reporting, "/v1/read-model/rebuild", keys::OFFICE, &json!({})).await;
    assert_eq!(status, 403, "only an administrator rebuilds");
    let (status, started) =
        sandbox.post_json(Service::Reporting, "/v1/read-model/rebuild", keys::ADMIN, &json!({})).await;
    assert_eq!(status, 202, "{started}");
    sandbox
        .eventually("the rebuilt read model to give the same reports", Duration::from_secs(20), || async {
            let mut after = Vec::new();
            for path in &reports {
                after.push(sandbox.get_json(Service::Reporting, path, keys::OFFICE).await.1);
            }
            (after == before).then_some(())
        })
        .await;
    let (_, progress) = sandbox.get_json(Service::Reporting, "/v1/read-model", keys::ADMIN).await;
    let positions: Vec<i64> =
        progress["streams"].as_array().expect("streams").iter().filter_map(|s| s["position"].as_i64()).collect();
    assert!(positions.len() == 3 && positions.iter().all(|p| *p > 0), "every stream replayed: {progress}");
    sandbox.shutdown().await;
}
