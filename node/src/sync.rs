//! Header-first sync between nodes over gRPC, split by role:
//!
//! - [`peer`]: what the engine needs from a peer, as a trait (tests use in-process fakes);
//!   [`grpc`] implements it over tonic, [`wire`] converts the sync messages.
//! - [`book`]: every known peer with its score, state and bans; [`peers`]: talking to them
//!   (handshakes, peer exchange, head subscriptions, choosing whom to sync from).
//! - [`headers`]: the block locator and the pure validation of a run of headers.
//! - [`bodies`]: body downloads in batches, each an explicit state machine with a retry bound.
//! - [`import`]: handing downloaded blocks to the ledger.
//! - [`gossip`]: pushing admitted transactions on to peers, so they reach the next leader.
//! - [`engine`]: the round loop that joins them; [`telemetry`]: what it measures doing so.
//! - [`server`]: serves our chain to peers; [`misbehave`] makes a node serve corrupt data on
//!   purpose so tests can prove rejection.
//!
//! The node's view of sync progress ([`SyncState`]) is read by the RPC layer. This layer never
//! depends on `rpc`: the dependency runs one way, `sync ← rpc`.

pub mod bodies;
pub mod book;
pub mod engine;
pub mod gossip;
pub mod grpc;
pub mod headers;
pub mod import;
pub mod misbehave;
pub mod peer;
pub mod peers;
pub mod server;
pub mod telemetry;
pub mod wire;

use std::sync::RwLock;

pub use book::PeerBook;
pub use engine::{SyncConfig, SyncEngine};
pub use misbehave::Misbehave;
pub use peer::{Connector, PeerClient, PeerError, PeerStatus};

/// This node's chain identity and head as the sync protocol states it.
pub fn local_status(ledger: &crate::ledger::Ledger, listen_address: String) -> PeerStatus {
    let head = ledger.head();
    PeerStatus {
        chain_id: ledger.rules().chain_id,
        genesis_hash: ledger.genesis_hash(),
        head_height: head.header.height,
        head_hash: head.hash,
        state_root: head.header.state_root,
        listen_address,
    }
}

/// Where a peer stands with this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Known, no successful handshake yet.
    Connecting,
    /// Handshaken and usable.
    Ready,
    /// Misbehaved; not asked again until the ban ends.
    Banned,
    /// On another network; never asked again.
    Incompatible,
    /// Could not be reached; retried with backoff.
    Unreachable,
}

/// A peer as reported in the node's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerReport {
    /// host:port.
    pub address: String,
    /// Last announced head height.
    pub height: u64,
    /// Last announced head hash.
    pub head_hash: [u8; 32],
    /// Reputation score.
    pub score: i32,
    /// Where the peer stands.
    pub state: PeerState,
    /// Seconds of ban left.
    pub banned_for_secs: u64,
}

/// Sync progress as the node reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncSnapshot {
    /// True while behind the best known peer.
    pub syncing: bool,
    /// Best height announced by a usable peer.
    pub target: u64,
    /// Known peers.
    pub peers: Vec<PeerReport>,
}

/// Shared, updatable sync progress, and what sync imported since start.
#[derive(Debug, Default)]
pub struct SyncState {
    inner: RwLock<SyncSnapshot>,
    imported_blocks: std::sync::atomic::AtomicU64,
    imported_transactions: std::sync::atomic::AtomicU64,
    telemetry: telemetry::SyncTelemetry,
}

impl SyncState {
    /// Sync's duration and depth histograms.
    pub fn telemetry(&self) -> &telemetry::SyncTelemetry {
        &self.telemetry
    }

    /// Counts blocks (and their transactions) sync stored.
    pub fn count_imported(&self, blocks: u64, transactions: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.imported_blocks.fetch_add(blocks, Relaxed);
        self.imported_transactions.fetch_add(transactions, Relaxed);
    }

    /// Blocks and transactions sync stored since start.
    pub fn imported(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.imported_blocks.load(Relaxed),
            self.imported_transactions.load(Relaxed),
        )
    }

    /// A copy of the current progress.
    pub fn snapshot(&self) -> SyncSnapshot {
        self.inner.read().expect("sync state lock").clone()
    }

    /// Replaces the progress.
    pub fn set(&self, snapshot: SyncSnapshot) {
        *self.inner.write().expect("sync state lock") = snapshot;
    }
}
