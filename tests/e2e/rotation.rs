//! Rotating the citizen-data key while intake runs and takes orders: afterwards, with the old
//! key gone, every case reads back, a resend is still recognised, and the same caller's next
//! order still joins the chain that began under the old key.

use std::time::Duration;

use caseflow::Service;
use caseflow_runtime::config::Secret;
use caseflow_tests::{Sandbox, keys, order};
use serde_json::{Value, json};

const OLD_KEY: &str = "AhwwEKh0CdlTW13N2hUw2knI8eox6ZgO6AScY3ypmmE=";
const NEW_KEY: &str = "q3k0Cz1Y4c6Gm9yqf1y1uFQ2m9kP0aZc3Jr7w2Xb8hA=";
const BEFORE: usize = 40;
const DURING: usize = 40;

async fn all_cases(sandbox: &Sandbox) -> Vec<Value> {
    let mut cases = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/cases?limit=100&cursor={c}"),
            None => "/v1/cases?limit=100".to_owned(),
        };
        let (status, page) = sandbox.get_json(Service::Intake, &path, keys::ADMIN).await;
        assert_eq!(status, 200, "every case reads back: {page}");
        cases.extend(page["cases"].as_array().expect("cases").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return cases,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizen_data_key_rotates_under_load_and_every_case_reads_back() {
    let mut sandbox = Sandbox::start().await;
    // One caller (the same phone on every order): one chain of repeats, begun under the old key.
    for n in 0..BEFORE {
        let (status, body) = sandbox.post_order(Some(keys::INTEGRATOR), &order(n, &["chengguan"])).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, first) = sandbox.post_order(Some(keys::INTEGRATOR), &order(0, &["chengguan"])).await;
    let first_id = first["case_id"].as_str().expect("id").to_owned();

    // Step 1 of the runbook: intake writes under the new key and still reads the old one.
    sandbox.system.configure(|c| {
        c.intake.citizen_data_key = Secret::new(NEW_KEY);
        c.intake.citizen_data_key_previous = Some(Secret::new(OLD_KEY));
    });
    sandbox.system.restart(Service::Intake).await.expect("intake restarts with both keys");
    let intake = sandbox.system.configs().intake.clone();

    // Step 2, while orders keep coming.
    let load = async {
        for n in BEFORE..BEFORE + DURING {
            let (status, body) = sandbox.post_order(Some(keys::INTEGRATOR), &order(n, &["chengguan"])).await;
            assert_eq!(status, 201, "{body}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let mut batches = 0;
    let (rotated, ()) = tokio::join!(caseflow::rotate_citizen_key(&intake, 7, |_| batches += 1), load);
    let rotated = rotated.expect("the rotation finishes");
    assert!(rotated.finished);
    assert!(batches > 1, "the rotation went in batches");
    assert_eq!(rotated.unverified, 0, "every fingerprint field was checked: {rotated:?}");
    assert!(
        rotated.rewritten >= BEFORE as i64 && rotated.rewritten <= (BEFORE + DURING) as i64,
        "the cases written under the old key were rewritten: {rotated:?}"
    );
    // Running it again finds nothing to do.
    let again = caseflow::rotate_citizen_key(&intake, 7, |_| {}).await.expect("runs");
    assert_eq!(again, rotated);

    // Step 3: the old key is gone.
    sandbox.system.configure(|c| c.intake.citizen_data_key_previous = None);
    sandbox.system.restart(Service::Intake).await.expect("intake restarts with the new key alone");

    let cases = all_cases(&sandbox).await;
    assert_eq!(cases.len(), BEFORE + DURING);
    for case in &cases {
        assert_eq!(case["citizen"]["phone"], "138****1234", "{case}");
        assert_eq!(case["citizen"]["name"], "陈**", "{case}");
    }
    let (status, revealed) = sandbox
        .post_json(
            Service::Intake,
            &format!("/v1/cases/{first_id}/reveal"),
            keys::ADMIN,
            &json!({"reason": "key rotation check"}),
        )
        .await;
    assert_eq!(status, 200, "{revealed}");
    assert_eq!(revealed["phone"], "13812341234");
    assert_eq!(revealed["name"], "陈建红");

    // A resend of an order taken in under the old key is the same case; a changed one is not.
    let (status, same) = sandbox.post_order(Some(keys::INTEGRATOR), &order(3, &["chengguan"])).await;
    assert_eq!(status, 200, "{same}");
    let mut changed = order(3, &["chengguan"]);
    changed["citizen"]["phone"] = json!("13900001111");
    let (status, refused) = sandbox.post_order(Some(keys::INTEGRATOR), &changed).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused.to_string().contains("citizen.phone"), "{refused}");

    // The caller's next order joins the chain begun under the old key.
    let (status, next) = sandbox.post_order(Some(keys::INTEGRATOR), &order(BEFORE + DURING + 1, &["chengguan"])).await;
    assert_eq!(status, 201, "{next}");
    assert_eq!(next["is_first"], false, "{next}");
    assert_eq!(next["repeat_of"], first_id.as_str(), "{next}");
    sandbox.shutdown().await;
}
