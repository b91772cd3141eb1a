//! Helpers shared by the node's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `../shared/vectors/<name>` beside the repository (override with `LUXTENSOR_VECTORS`). Panics
/// with a clear message when missing: these tests never skip.
pub fn vectors_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("LUXTENSOR_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let dir = base.join(name);
    assert!(dir.is_dir(), "test vectors not found at {} (set LUXTENSOR_VECTORS to the shared/vectors folder)", dir.display());
    dir
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
