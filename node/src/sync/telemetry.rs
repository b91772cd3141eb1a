//! What sync measures while it works, for the metrics endpoint to export: how long each block
//! took to import, how long header and body downloads took and how deep each reorganization
//! went. The instruments are prometheus-client's histograms (cheap atomics); sync records into
//! them, `rpc::metrics` registers the same instruments, so nothing is copied at scrape time.

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// Sync's instruments.
#[derive(Debug, Clone)]
pub struct SyncTelemetry {
    /// Seconds to validate, execute and commit one downloaded block.
    pub block_import_seconds: Histogram,
    /// Seconds one header request took, request to answer (answers with headers only).
    pub header_download_seconds: Histogram,
    /// Seconds one batch of bodies took to download and verify.
    pub body_download_seconds: Histogram,
    /// Blocks abandoned by each reorganization sync caused.
    pub reorg_depth_blocks: Histogram,
}

impl Default for SyncTelemetry {
    fn default() -> Self {
        Self {
            // 0.25 ms … ~4 s.
            block_import_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            // 1 ms … ~16 s.
            header_download_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            body_download_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            // 1 … 512 blocks.
            reorg_depth_blocks: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        }
    }
}
