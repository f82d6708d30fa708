//! Routing stopped mid-stream and started again on the same database: afterwards every matter
//! has exactly one dispatch, none lost, none twice.

use std::time::Duration;

use caseflow::Service;
use caseflow_tests::{Sandbox, keys, order};

fn units_for(n: usize) -> Vec<&'static str> {
    if n.is_multiple_of(2) { vec!["chengguan"] } else { vec!["chengguan", "zhujian"] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_restarted_mid_stream_dispatches_every_matter_once() {
    const BEFORE: usize = 60;
    const WHILE_DOWN: usize = 20;
    let mut sandbox = Sandbox::start().await;
    let expected: usize = (0..BEFORE + WHILE_DOWN).map(|n| units_for(n).len()).sum();

    let posts = (0..BEFORE).map(|n| {
        let s = &sandbox;
        async move { s.post_order(Some(keys::INTEGRATOR), &order(n, &units_for(n))).await.0 }
    });
    for status in futures::future::join_all(posts).await {
        assert_eq!(status, 201);
    }
    // Stop routing while it is still working through the stream.
    sandbox.system.stop(Service::Routing).await.expect("routing stops cleanly");
    let dispatched_while_up = sandbox.counted_dispatches().await;

    // Intake keeps taking cases while routing is down.
    for n in BEFORE..BEFORE + WHILE_DOWN {
        let (status, _) = sandbox.post_order(Some(keys::INTEGRATOR), &order(n, &units_for(n))).await;
        assert_eq!(status, 201);
    }
    sandbox.system.restart(Service::Routing).await.expect("routing restarts");

    let total = sandbox
        .eventually("every matter to be dispatched", Duration::from_secs(30), || async {
            let n = sandbox.counted_dispatches().await;
            (n as usize >= expected).then_some(n)
        })
        .await;
    // Give a duplicate every chance to show up before counting again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sandbox.counted_dispatches().await, total);
    assert_eq!(total as usize, expected, "dispatches equal matters (stopped after {dispatched_while_up} counted)");

    // Per case, as routing itself records them.
    for n in [0, 1, BEFORE - 1, BEFORE, BEFORE + WHILE_DOWN - 1] {
        let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &order(n, &units_for(n))).await;
        let case_id = case["case_id"].as_str().expect("existing case").to_owned();
        let (status, dispatches) =
            sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/dispatches"), keys::DISPATCHER).await;
        assert_eq!(status, 200);
        assert_eq!(dispatches.as_array().map(Vec::len), Some(units_for(n).len()), "case {n}: {dispatches}");
    }
    sandbox.shutdown().await;
}
