//! The floor of the benchmark: what the host costs when a policy does no work at all. It
//! answers every `validate` with an acceptance, without reading the request.

use wapc_guest::{CallResult, register_function};

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", |_| accept());
    register_function("validate_settings", |_| Ok(br#"{"valid":true}"#.to_vec()));
    register_function("protocol_version", |_| Ok(br#""v1""#.to_vec()));
}

fn accept() -> CallResult {
    Ok(br#"{"accepted":true}"#.to_vec())
}
