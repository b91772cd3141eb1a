//! A running node: checks its configuration, opens the ledger, binds the gRPC port, and starts
//! the server, the sync engine, the mempool's revalidation on every new head and (for validators)
//! the producer as tasks under one cancellation token. [`Node::shutdown`] is bounded: it stops
//! production first (no block is started after it begins), cancels every task and every request's
//! work, waits for them at most [`SHUTDOWN_GRACE`], then flushes the database and stops RocksDB's
//! background work.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, NodeConfig};
use crate::ledger::{Ledger, LedgerError};
use crate::mempool::Mempool;
use crate::producer::Producer;
use crate::rpc::control::ControlService;
use crate::rpc::query::QueryService;
use crate::rpc::server::{RpcServer, ServerConfig, ServerError};
use crate::rpc::transactions::TransactionService;
use crate::sync::gossip::TxGossip;
use crate::sync::grpc::GrpcConnector;
use crate::sync::misbehave::Corruptor;
use crate::sync::server::{ReadBudget, SyncService};
use crate::sync::{PeerBook, SyncEngine, SyncState};

/// Longest wait for the node's tasks to end at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Most peers a node keeps (operator-given and verified advertised ones).
pub const MAX_PEERS: usize = 64;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A setting is out of range.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The ledger could not be opened.
    #[error("opening the ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The server could not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The metrics port could not be bound.
    #[error(transparent)]
    Metrics(#[from] crate::rpc::metrics::MetricsError),
    /// A bootstrap peer address is invalid.
    #[error("peer: {0}")]
    Peer(String),
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    ledger: Arc<Ledger>,
    engine: Arc<SyncEngine>,
    producer: Arc<Producer>,
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    cancel: CancellationToken,
    production: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// Keeps the mempool in line with the chain on every new head ([`Mempool::revalidate`]: the
/// transactions of abandoned blocks back after a reorg, then what blocks included out and what
/// can no longer execute evicted with a logged reason).
async fn revalidate_on_new_heads(
    ledger: Arc<Ledger>,
    mempool: Arc<Mempool>,
    cancel: CancellationToken,
) {
    let mut heads = ledger.subscribe_heads();
    let mut reorgs = ledger.reorgs();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = heads.changed() => if changed.is_err() { return },
        }
        heads.borrow_and_update();
        // Nothing pending and no reorg: no task per imported block during a sync (several
        // imports may show as one head change, so the reorg counter tells, not the parent hash).
        let seen = std::mem::replace(&mut reorgs, ledger.reorgs());
        if seen == reorgs && mempool.is_empty() {
            continue;
        }
        let (ledger, mempool) = (ledger.clone(), mempool.clone());
        let _ = tokio::task::spawn_blocking(move || mempool.revalidate(&ledger)).await;
    }
}

impl Node {
    /// Opens the data directory and starts serving, syncing and (for validators) producing.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        config.validate()?;
        let started = std::time::Instant::now();
        let data_dir = config.data_dir.clone();
        let genesis = config.genesis.clone();
        let drift = config.max_future_drift_ms;
        let ledger = tokio::task::spawn_blocking(move || Ledger::open(&data_dir, &genesis, drift))
            .await
            .map_err(|e| {
                NodeError::Ledger(LedgerError::Inconsistent(format!("open task: {e}")))
            })??;
        ledger
            .store()
            .set_disk_reserve(config.min_free_disk_mib.saturating_mul(1 << 20));
        let ledger = Arc::new(ledger);
        let server = RpcServer::bind(config.listen).await?;
        let local_addr = server.local_addr();
        let advertise = config
            .advertise
            .clone()
            .or_else(|| (!local_addr.ip().is_unspecified()).then(|| local_addr.to_string()));
        let mempool = Arc::new(Mempool::new(config.mempool_limit));
        let producer = Arc::new(Producer::new(
            ledger.clone(),
            mempool.clone(),
            config.validator_key.clone(),
            config.max_block_txs,
        ));
        let bans: Arc<dyn crate::sync::book::BanStore> = ledger.store_handle();
        let book = Arc::new(
            PeerBook::new(MAX_PEERS, config.ban_duration, advertise.clone()).with_ban_store(bans),
        );
        for peer in &config.peers {
            book.add(peer).map_err(NodeError::Peer)?;
        }
        let sync_state = Arc::new(SyncState::default());
        let connector = Arc::new(GrpcConnector {
            timeouts: config.timeouts.clone(),
            node_id: advertise.clone().unwrap_or_else(|| local_addr.to_string()),
        });
        let mut sync_config = config.sync.clone();
        sync_config.listen_address = advertise.clone().unwrap_or_default();
        let engine = SyncEngine::new(
            ledger.clone(),
            book.clone(),
            connector,
            sync_state.clone(),
            sync_config,
        );
        let corruptor = config
            .misbehave
            .map(|m| Arc::new(Corruptor::new(m, config.validator_key.clone())));
        let cancel = CancellationToken::new();
        let reads = ReadBudget::default();
        let (gossip, gossip_queue) = TxGossip::new(ledger.clone(), mempool.clone());
        let requests = config
            .metrics_listen
            .map(|_| crate::rpc::requests::GrpcRequests::default());
        let services = ServerConfig {
            query: QueryService::new(
                ledger.clone(),
                mempool.clone(),
                sync_state.clone(),
                producer.clone(),
                reads.clone(),
                cancel.clone(),
            ),
            transactions: TransactionService::new(gossip.clone()),
            sync: SyncService::new(
                ledger.clone(),
                book.clone(),
                corruptor,
                gossip,
                cancel.clone(),
                reads,
            ),
            control: config.control_token.clone().map(|token| {
                (
                    ControlService::new(producer.clone(), engine.clone(), cancel.clone()),
                    token,
                )
            }),
            limits: config.limits.clone(),
            requests: requests.clone(),
        };
        let mut tasks = Vec::new();
        let mut metrics_addr = None;
        if let Some(addr) = config.metrics_listen {
            let metrics = Arc::new(crate::rpc::metrics::Metrics::new(
                crate::rpc::metrics::Sources {
                    ledger: ledger.clone(),
                    mempool: mempool.clone(),
                    sync: sync_state.clone(),
                    book: book.clone(),
                    requests: requests.clone().unwrap_or_default(),
                },
            ));
            let (bound, task) = crate::rpc::metrics::serve(metrics, addr, cancel.clone()).await?;
            metrics_addr = Some(bound);
            tasks.push(task);
        }
        let server_cancel = cancel.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server.serve(services, server_cancel.clone()).await {
                tracing::error!(target: "rpc", error = %e, "gRPC server failed");
                server_cancel.cancel();
            }
        }));
        tasks.push(tokio::spawn(engine.clone().run(cancel.clone())));
        tasks.push(tokio::spawn(crate::sync::gossip::run(
            engine.clone(),
            gossip_queue,
            cancel.clone(),
        )));
        tasks.push(tokio::spawn(revalidate_on_new_heads(
            ledger.clone(),
            mempool,
            cancel.clone(),
        )));
        let production = cancel.child_token();
        producer.set_paused(config.paused);
        producer.set_slot_transfers(config.slot_transfers);
        if producer.validator().is_some() {
            tasks.push(tokio::spawn(producer.clone().run(production.clone())));
        }
        let head = ledger.head();
        tracing::info!(
            target: "node",
            addr = %local_addr,
            advertise = advertise.as_deref().unwrap_or(""),
            height = head.header.height,
            genesis = %crate::chain::types::to_hex(&ledger.genesis_hash()),
            validator = producer.validator().map(|v| v.to_string()).unwrap_or_default(),
            misbehave = ?config.misbehave,
            startup_ms = started.elapsed().as_millis() as u64,
            "node started"
        );
        Ok(Self {
            ledger,
            engine,
            producer,
            local_addr,
            metrics_addr,
            cancel,
            production,
            tasks,
        })
    }

    /// Stops slot production for good; serving and syncing go on.
    pub fn stop_producing(&self) {
        self.production.cancel();
    }

    /// The gRPC address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The metrics address actually bound, when metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Adds a peer and wakes sync.
    pub fn add_peer(&self, address: &str) -> Result<usize, String> {
        self.engine.add_peer(address)
    }

    /// A token that fires when the node stops.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops everything within a bounded time: production first (nothing is produced once this
    /// began), then every task and request; then flushes the database. A flush that fails (a
    /// full disk) is logged and loses nothing: every committed block is in RocksDB's log.
    pub async fn shutdown(self) {
        let producer = self.producer.clone();
        let _ = tokio::task::spawn_blocking(move || producer.stop()).await;
        tracing::info!(target: "node", "production stopped; stopping tasks");
        self.cancel.cancel();
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            tracing::warn!(target: "node", grace_secs = SHUTDOWN_GRACE.as_secs(), "tasks still running after the shutdown grace; closing anyway");
        }
        let ledger = self.ledger;
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = ledger.store().flush() {
                tracing::error!(target: "node", error = %e, "flush on shutdown failed (disk full?); the write-ahead log keeps every committed block");
            }
            ledger.store().stop_background_work();
            if ledger.store().write_failed() {
                // Closing RocksDB after a failed write aborts the process; leave it to the OS.
                tracing::warn!(target: "node", "a write failed earlier (disk full?): the database is not closed, the OS releases it at exit; committed blocks are in its log");
                std::mem::forget(ledger.store_handle());
            }
        })
        .await;
    }
}
