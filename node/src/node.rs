//! A running node: opens the ledger, binds the gRPC port, and starts the server, the sync engine
//! and (for validators) the producer as tasks under one cancellation token. [`Node::shutdown`]
//! stops them all and flushes the database.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::ledger::{Ledger, LedgerError};
use crate::mempool::Mempool;
use crate::producer::Producer;
use crate::rpc::control::ControlService;
use crate::rpc::query::QueryService;
use crate::rpc::server::{RpcServer, ServerConfig, ServerError};
use crate::rpc::transactions::TransactionService;
use crate::sync::grpc::GrpcConnector;
use crate::sync::misbehave::Corruptor;
use crate::sync::server::SyncService;
use crate::sync::{PeerBook, SyncEngine, SyncState};

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The ledger could not be opened.
    #[error("opening the ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The server could not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A bootstrap peer address is invalid.
    #[error("peer: {0}")]
    Peer(String),
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    ledger: Arc<Ledger>,
    engine: Arc<SyncEngine>,
    local_addr: SocketAddr,
    cancel: CancellationToken,
    production: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Opens the data directory and starts serving, syncing and (for validators) producing.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let started = std::time::Instant::now();
        let data_dir = config.data_dir.clone();
        let genesis = config.genesis.clone();
        let drift = config.max_future_drift_ms;
        let ledger = tokio::task::spawn_blocking(move || Ledger::open(&data_dir, &genesis, drift))
            .await
            .map_err(|e| {
                NodeError::Ledger(LedgerError::Inconsistent(format!("open task: {e}")))
            })??;
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
        let book = Arc::new(PeerBook::new(64, config.ban_duration, advertise.clone()));
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
        let services = ServerConfig {
            query: QueryService::new(
                ledger.clone(),
                mempool.clone(),
                sync_state.clone(),
                producer.validator(),
            ),
            transactions: TransactionService::new(ledger.clone(), mempool.clone()),
            sync: SyncService::new(ledger.clone(), book.clone(), corruptor, cancel.clone()),
            control: config
                .control_token
                .clone()
                .map(|token| (ControlService::new(producer.clone(), engine.clone()), token)),
        };
        let mut tasks = Vec::new();
        let server_cancel = cancel.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server.serve(services, server_cancel.clone()).await {
                tracing::error!(target: "rpc", error = %e, "gRPC server failed");
                server_cancel.cancel();
            }
        }));
        tasks.push(tokio::spawn(engine.clone().run(cancel.clone())));
        let production = cancel.child_token();
        if !config.block_interval.is_zero() && producer.validator().is_some() {
            tasks.push(tokio::spawn(
                producer
                    .clone()
                    .run(config.block_interval, production.clone()),
            ));
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
            local_addr,
            cancel,
            production,
            tasks,
        })
    }

    /// Stops interval block production; serving and syncing go on.
    pub fn stop_producing(&self) {
        self.production.cancel();
    }

    /// The gRPC address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

    /// Stops every task and flushes the database.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.ledger.store().flush() {
            tracing::warn!(target: "node", error = %e, "flush on shutdown failed");
        }
    }
}
