//! Logging to the host, through the SDK's drain (`kubewarden/tracing/log`): policy-server
//! writes each event to its own log at the event's level, with the policy's name. What an
//! operator needs to see without reading answers: a pin that failed, a pin budget that ran
//! out and replicas that hold different pins (warning); replicas that could not be listed or a
//! digest they run that is not pinned (info); and the reader's slow path (debug). A logger is built per event: events are
//! rare, and a policy instance may not outlive the request. Outside wasm (unit tests, fuzzing)
//! the SDK's drain would print every event on stdout, so nothing is logged there; the e2e
//! tests check the events the wasm sends.

use kubewarden_policy_sdk::logging::KubewardenDrain;
use slog::{Logger, o};

fn logger() -> Logger {
    Logger::root(KubewardenDrain::new(), o!())
}

/// Something an operator should act on (a pin that failed, a budget spent).
#[cold]
pub fn warn(message: &str) {
    if cfg!(target_arch = "wasm32") {
        slog::warn!(logger(), "{}", message);
    }
}

/// What the policy went without, and why (replicas not listed, a running digest not pinned).
#[cold]
pub fn info(message: &str) {
    if cfg!(target_arch = "wasm32") {
        slog::info!(logger(), "{}", message);
    }
}

/// How a request was read, for whoever debugs the policy.
#[cold]
pub fn debug(message: &str) {
    if cfg!(target_arch = "wasm32") {
        slog::debug!(logger(), "{}", message);
    }
}
