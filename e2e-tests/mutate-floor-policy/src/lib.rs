//! The floor of the mutation benchmark: the cheapest possible mutating policy. It borrows
//! `request.object` as raw JSON text, rewrites `"IfNotPresent"` to `"Always"` as text and
//! returns the result as `mutated_object`; the host then parses it and computes the
//! JSONPatch, as for every mutating policy.

use serde::Deserialize;
use serde_json::value::RawValue;
use wapc_guest::{CallResult, register_function};

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", |_| Ok(br#"{"valid":true}"#.to_vec()));
    register_function("protocol_version", |_| Ok(br#""v1""#.to_vec()));
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    request: Request<'a>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
}

fn validate(payload: &[u8]) -> CallResult {
    let payload: Payload = serde_json::from_slice(payload)?;
    let mutated = payload
        .request
        .object
        .get()
        .replace("\"IfNotPresent\"", "\"Always\"");
    let mut out = Vec::with_capacity(mutated.len() + 40);
    out.extend_from_slice(br#"{"accepted":true,"mutated_object":"#);
    out.extend_from_slice(mutated.as_bytes());
    out.push(b'}');
    Ok(out)
}
