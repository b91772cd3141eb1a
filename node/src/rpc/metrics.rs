//! Prometheus metrics on their own HTTP port (`--metrics-listen`): `GET /metrics` answers the
//! Prometheus text format (prometheus-client). Values are read from the node's parts when a
//! scrape arrives — the ledger's head, finality and reorg count, the sync state and its import
//! counters, the peer book's report, the mempool — so the hot paths pay nothing for metrics
//! beyond two counters. Names start with `luxtensor_`, units are in the names.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::ledger::Ledger;
use crate::mempool::Mempool;
use crate::sync::{PeerState, SyncState};

type Labels = Vec<(String, String)>;

/// The node's metrics and what they are read from.
pub struct Metrics {
    ledger: Arc<Ledger>,
    mempool: Arc<Mempool>,
    sync: Arc<SyncState>,
    registry: Registry,
    height: Family<Labels, Gauge>,
    head_slot: Gauge,
    peers: Family<Labels, Gauge>,
    syncing: Gauge,
    sync_target: Gauge,
    imported_blocks: Counter,
    imported_transactions: Counter,
    mempool_size: Gauge,
    mempool_evicted: Counter,
    reorgs: Counter,
    evidence: Gauge,
    /// Last values of the monotonic sources, so counters move by the difference.
    seen: Mutex<[u64; 4]>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Metrics read from the node's parts.
    pub fn new(ledger: Arc<Ledger>, mempool: Arc<Mempool>, sync: Arc<SyncState>) -> Self {
        let mut registry = Registry::default();
        let m = Self {
            ledger,
            mempool,
            sync,
            height: Family::default(),
            head_slot: Gauge::default(),
            peers: Family::default(),
            syncing: Gauge::default(),
            sync_target: Gauge::default(),
            imported_blocks: Counter::default(),
            imported_transactions: Counter::default(),
            mempool_size: Gauge::default(),
            mempool_evicted: Counter::default(),
            reorgs: Counter::default(),
            evidence: Gauge::default(),
            seen: Mutex::new([0; 4]),
            registry: Registry::default(),
        };
        registry.register(
            "luxtensor_chain_height_blocks",
            "Height of the canonical head (status=head) and of the finalized block (status=finalized)",
            m.height.clone(),
        );
        registry.register(
            "luxtensor_head_slot",
            "Slot of the canonical head",
            m.head_slot.clone(),
        );
        registry.register(
            "luxtensor_peers",
            "Known peers by state (ready, connecting, banned, incompatible, unreachable)",
            m.peers.clone(),
        );
        registry.register(
            "luxtensor_sync_syncing",
            "1 while the node is behind the best peer it knows",
            m.syncing.clone(),
        );
        registry.register(
            "luxtensor_sync_target_height_blocks",
            "Best head height announced by a ready peer",
            m.sync_target.clone(),
        );
        registry.register(
            "luxtensor_sync_imported_blocks",
            "Blocks sync downloaded and stored",
            m.imported_blocks.clone(),
        );
        registry.register(
            "luxtensor_sync_imported_transactions",
            "Transactions in the blocks sync stored",
            m.imported_transactions.clone(),
        );
        registry.register(
            "luxtensor_mempool_transactions",
            "Transactions waiting in the mempool",
            m.mempool_size.clone(),
        );
        registry.register(
            "luxtensor_mempool_evicted",
            "Pending transactions evicted because they could no longer execute",
            m.mempool_evicted.clone(),
        );
        registry.register(
            "luxtensor_reorgs",
            "Reorganizations onto a heavier branch",
            m.reorgs.clone(),
        );
        registry.register(
            "luxtensor_evidence_records",
            "Equivocations recorded (a validator's two blocks for one slot)",
            m.evidence.clone(),
        );
        Self { registry, ..m }
    }

    /// The metrics now, in the Prometheus text format.
    pub fn render(&self) -> String {
        let head = self.ledger.head();
        let label = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        self.height
            .get_or_create(&label("status", "head"))
            .set(head.header.height as i64);
        self.height
            .get_or_create(&label("status", "finalized"))
            .set(self.ledger.finalized().height as i64);
        self.head_slot
            .set(self.ledger.rules().slot(&head.header) as i64);
        let snapshot = self.sync.snapshot();
        for state in [
            PeerState::Ready,
            PeerState::Connecting,
            PeerState::Banned,
            PeerState::Incompatible,
            PeerState::Unreachable,
        ] {
            let n = snapshot.peers.iter().filter(|p| p.state == state).count();
            self.peers
                .get_or_create(&label("state", &format!("{state:?}").to_lowercase()))
                .set(n as i64);
        }
        self.syncing.set(i64::from(snapshot.syncing));
        self.sync_target.set(snapshot.target as i64);
        self.mempool_size.set(self.mempool.len() as i64);
        self.evidence
            .set(self.ledger.evidence().map_or(0, |e| e.len()) as i64);
        let (blocks, txs) = self.sync.imported();
        let now = [blocks, txs, self.mempool.evicted(), self.ledger.reorgs()];
        {
            let mut seen = self.seen.lock().expect("metrics lock");
            let counters = [
                &self.imported_blocks,
                &self.imported_transactions,
                &self.mempool_evicted,
                &self.reorgs,
            ];
            for (i, c) in counters.iter().enumerate() {
                c.inc_by(now[i].saturating_sub(seen[i]));
            }
            *seen = now;
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the metrics port {addr}: {error}")]
pub struct MetricsError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why.
    pub error: std::io::Error,
}

/// Binds `addr` and serves `GET /metrics` until `cancel`; returns the bound address.
pub async fn serve(
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    cancel: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), MetricsError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| MetricsError { addr, error })?;
    let bound = listener
        .local_addr()
        .map_err(|error| MetricsError { addr, error })?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    let task = tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(target: "rpc::metrics", error = %e, "metrics server failed");
        }
    });
    tracing::info!(target: "rpc::metrics", addr = %bound, "serving Prometheus metrics on /metrics");
    Ok((bound, task))
}
