//! Crash points for the fault-injection tests.
//!
//! When the environment variable `SEALPOST_FAILPOINTS` names a point (comma-separated), the
//! process aborts there — no unwinding, no destructors, no flushing — which is what a `SIGKILL`
//! or power cut at that instant looks like to the database and the blob store. Unset (always,
//! in production) each check is one load of a cached empty list.

use std::sync::OnceLock;

static POINTS: OnceLock<Vec<String>> = OnceLock::new();

/// Aborts the process if `name` is armed.
pub fn hit(name: &str) {
    let points = POINTS.get_or_init(|| {
        std::env::var("SEALPOST_FAILPOINTS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    });
    if points.iter().any(|p| p == name) {
        eprintln!("sealpost-server: failpoint {name} reached; aborting");
        std::process::abort();
    }
}
