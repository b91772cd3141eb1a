//! Prometheus metrics on their own HTTP port (`--metrics-listen`): `GET /metrics` answers the
//! Prometheus text format (prometheus-client). Most values are read from the node's parts when a
//! scrape arrives — the ledger's head, finality and reorg count, the sync state and its import
//! counters, the peer book's report and ban counts, the mempool and its refusals, the
//! signatures verified, the database's size on disk — so the hot paths pay nothing for them;
//! the duration and depth histograms are recorded by sync as it works
//! ([`crate::sync::telemetry`]) and gRPC answers by a tower layer ([`super::requests`]). Names
//! start with `luxtensor_`, units are in the names, counters end in `_total`.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tokio_util::sync::CancellationToken;

use super::requests::GrpcRequests;
use crate::ledger::Ledger;
use crate::mempool::Mempool;
use crate::sync::{PeerBook, PeerState, SyncState};

type Labels = Vec<(String, String)>;

/// What the metrics are read from.
#[derive(Debug)]
pub struct Sources {
    /// Head, finality, reorgs, evidence, the database.
    pub ledger: Arc<Ledger>,
    /// Pending transactions, evictions, refusals.
    pub mempool: Arc<Mempool>,
    /// Sync progress, import counters and histograms.
    pub sync: Arc<SyncState>,
    /// Bans by offence.
    pub book: Arc<PeerBook>,
    /// gRPC answers by method and code.
    pub requests: GrpcRequests,
}

/// The node's metrics and what they are read from.
pub struct Metrics {
    /// One render at a time: counters are advanced by reading then adding.
    rendering: std::sync::Mutex<()>,
    sources: Sources,
    registry: Registry,
    height: Family<Labels, Gauge>,
    head_slot: Gauge,
    peers: Family<Labels, Gauge>,
    bans: Family<Labels, Counter>,
    syncing: Gauge,
    sync_target: Gauge,
    imported_blocks: Counter,
    imported_transactions: Counter,
    signatures: Counter,
    mempool_size: Gauge,
    mempool_evicted: Counter,
    mempool_rejected: Family<Labels, Counter>,
    reorgs: Counter,
    equivocations: Gauge,
    database: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Moves a counter that mirrors a monotonic source up to the source's value.
fn advance(counter: &Counter, now: u64) {
    counter.inc_by(now.saturating_sub(counter.get()));
}

fn label(k: &str, v: &str) -> Labels {
    vec![(k.to_string(), v.to_string())]
}

impl Metrics {
    /// Metrics read from the node's parts.
    pub fn new(sources: Sources) -> Self {
        let mut r = Registry::default();
        let m = Self {
            rendering: std::sync::Mutex::new(()),
            registry: Registry::default(),
            height: Family::default(),
            head_slot: Gauge::default(),
            peers: Family::default(),
            bans: Family::default(),
            syncing: Gauge::default(),
            sync_target: Gauge::default(),
            imported_blocks: Counter::default(),
            imported_transactions: Counter::default(),
            signatures: Counter::default(),
            mempool_size: Gauge::default(),
            mempool_evicted: Counter::default(),
            mempool_rejected: Family::default(),
            reorgs: Counter::default(),
            equivocations: Gauge::default(),
            database: Gauge::default(),
            sources,
        };
        r.register(
            "luxtensor_chain_height_blocks",
            "Height of the canonical head (status=head) and of the finalized block (status=finalized)",
            m.height.clone(),
        );
        r.register(
            "luxtensor_head_slot",
            "Slot of the canonical head",
            m.head_slot.clone(),
        );
        r.register(
            "luxtensor_peers",
            "Known peers by state (ready, connecting, banned, incompatible, unreachable)",
            m.peers.clone(),
        );
        r.register(
            "luxtensor_peer_bans",
            "Peers banned since start, by the offence that banned them",
            m.bans.clone(),
        );
        r.register(
            "luxtensor_sync_syncing",
            "1 while the node is behind the best peer it knows",
            m.syncing.clone(),
        );
        r.register(
            "luxtensor_sync_target_height_blocks",
            "Best head height announced by a ready peer",
            m.sync_target.clone(),
        );
        r.register(
            "luxtensor_sync_imported_blocks",
            "Blocks sync downloaded and stored",
            m.imported_blocks.clone(),
        );
        r.register(
            "luxtensor_sync_imported_transactions",
            "Transactions in the blocks sync stored",
            m.imported_transactions.clone(),
        );
        let telemetry = m.sources.sync.telemetry();
        r.register_with_unit(
            "luxtensor_sync_block_import_duration",
            "Time to validate, execute and commit one downloaded block",
            Unit::Seconds,
            telemetry.block_import_seconds.clone(),
        );
        r.register_with_unit(
            "luxtensor_sync_header_download_duration",
            "Time of one header request that returned headers",
            Unit::Seconds,
            telemetry.header_download_seconds.clone(),
        );
        r.register_with_unit(
            "luxtensor_sync_body_download_duration",
            "Time to download and verify one batch of block bodies",
            Unit::Seconds,
            telemetry.body_download_seconds.clone(),
        );
        r.register(
            "luxtensor_signatures_verified",
            "Ed25519 signatures this process verified (transactions and block headers)",
            m.signatures.clone(),
        );
        r.register(
            "luxtensor_mempool_transactions",
            "Transactions waiting in the mempool",
            m.mempool_size.clone(),
        );
        r.register(
            "luxtensor_mempool_evicted",
            "Pending transactions evicted because they could no longer execute",
            m.mempool_evicted.clone(),
        );
        r.register(
            "luxtensor_mempool_rejected",
            "Transactions the mempool refused, by origin (client, peer) and reason",
            m.mempool_rejected.clone(),
        );
        r.register(
            "luxtensor_reorgs",
            "Reorganizations onto a heavier branch",
            m.reorgs.clone(),
        );
        r.register(
            "luxtensor_sync_reorg_depth_blocks",
            "Canonical blocks abandoned by each reorganization sync caused",
            telemetry.reorg_depth_blocks.clone(),
        );
        r.register(
            "luxtensor_equivocations",
            "Equivocations recorded as evidence (a validator's two blocks for one slot)",
            m.equivocations.clone(),
        );
        r.register(
            "luxtensor_grpc_requests",
            "gRPC requests answered, by method and status code",
            m.sources.requests.family(),
        );
        r.register_with_unit(
            "luxtensor_database_size",
            "Size of the database's files on disk",
            Unit::Bytes,
            m.database.clone(),
        );
        Self { registry: r, ..m }
    }

    /// The metrics now, in the Prometheus text format.
    pub fn render(&self) -> String {
        let _one_at_a_time = self.rendering.lock().expect("metrics render lock");
        let Sources {
            ledger,
            mempool,
            sync,
            book,
            ..
        } = &self.sources;
        let head = ledger.head();
        self.height
            .get_or_create(&label("status", "head"))
            .set(head.header.height as i64);
        self.height
            .get_or_create(&label("status", "finalized"))
            .set(ledger.finalized().height as i64);
        self.head_slot.set(ledger.rules().slot(&head.header) as i64);
        let snapshot = sync.snapshot();
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
        for (offence, n) in book.bans_by_offence() {
            advance(
                &self.bans.get_or_create(&label("offence", offence.label())),
                n,
            );
        }
        self.syncing.set(i64::from(snapshot.syncing));
        self.sync_target.set(snapshot.target as i64);
        let (blocks, txs) = sync.imported();
        advance(&self.imported_blocks, blocks);
        advance(&self.imported_transactions, txs);
        advance(
            &self.signatures,
            crate::chain::crypto::verified_signatures(),
        );
        self.mempool_size.set(mempool.len() as i64);
        advance(&self.mempool_evicted, mempool.evicted());
        for (origin, reason, n) in mempool.rejections() {
            let labels = vec![
                ("origin".to_string(), origin.label().to_string()),
                ("reason".to_string(), reason.to_string()),
            ];
            advance(&self.mempool_rejected.get_or_create(&labels), n);
        }
        advance(&self.reorgs, ledger.reorgs());
        self.equivocations
            .set(ledger.evidence().map_or(0, |e| e.len()) as i64);
        self.database.set(ledger.store().disk_bytes() as i64);
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
