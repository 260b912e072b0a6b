//! Arbitrary bytes as a settings document: never a panic; an invalid document always says
//! why; a valid one can judge a request.
#![no_main]

use fuzz_support::{FuzzResolver, check_payload};
use immutable_images::testing::Settings;
use immutable_images::testing::validate_settings;
use libfuzzer_sys::fuzz_target;

const POD: &str = r#"{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"nginx:latest"},{"name":"b","image":"registry.example.com:5000/team/app:1.2.3","imagePullPolicy":"IfNotPresent"}],"initContainers":[{"name":"i","image":"busybox"}],"volumes":[{"name":"m","image":{"reference":"quay.io/m/model:v1","pullPolicy":"Never"}}]}}}"#;

fuzz_target!(|data: &[u8]| {
    let verdict = validate_settings(data);
    assert_eq!(verdict.valid, Settings::from_json(data).is_ok());
    if !verdict.valid {
        assert!(verdict.message.as_deref().is_some_and(|m| !m.is_empty()));
        return;
    }
    // Valid settings (as JSON text) judge a Pod with every kind of image.
    if let Ok(text) = std::str::from_utf8(data) {
        let trimmed = text.trim();
        let settings = if trimmed.is_empty() { "null" } else { trimmed };
        let payload = format!(r#"{{"request":{POD},"settings":{settings}}}"#);
        check_payload(payload.as_bytes(), &FuzzResolver { salt: 0 });
    }
});
