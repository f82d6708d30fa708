//! A work order's JSON body as the 12345 platform sends it: parsed as the REST edge parses it,
//! then validated. Nothing may panic; a refusal names its fields.
#![no_main]

use std::sync::OnceLock;

use caseflow_intake::input::OrderInput;
use caseflow_intake::taxonomy::Policy;
use caseflow_runtime::time::RecordBounds;
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy::load(None, None).expect("built-in policy"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(order) = caseflow_runtime::rest::parse_json::<OrderInput>(text) {
        let now = chrono::DateTime::from_timestamp(1_593_482_400, 0).unwrap_or_default();
        if let Err(violations) = order.validate(policy(), &RecordBounds::default(), now) {
            assert!(violations.iter().all(|v| !v.field.is_empty() && !v.description.is_empty()));
        }
    }
});
