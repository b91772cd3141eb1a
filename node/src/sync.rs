//! Header-first sync between nodes over gRPC. `wire` converts the sync messages, `peer` is the
//! trait the engine talks to peers through (with its gRPC implementation in `grpc`), `book` keeps
//! peers with their scores and bans, `engine` downloads and validates headers then bodies and hands
//! blocks to the ledger, `server` serves our chain to peers, and `misbehave` makes a node serve
//! corrupt data on purpose so tests can prove rejection. The node's view of sync progress
//! ([`SyncState`]) is shared with the RPC layer.

pub mod book;
pub mod engine;
pub mod grpc;
pub mod misbehave;
pub mod peer;
pub mod server;
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
    /// connecting | ready | banned | incompatible | unreachable
    pub state: &'static str,
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

/// Shared, updatable sync progress.
#[derive(Debug, Default)]
pub struct SyncState {
    inner: RwLock<SyncSnapshot>,
}

impl SyncState {
    /// A copy of the current progress.
    pub fn snapshot(&self) -> SyncSnapshot {
        self.inner.read().expect("sync state lock").clone()
    }

    /// Replaces the progress.
    pub fn set(&self, snapshot: SyncSnapshot) {
        *self.inner.write().expect("sync state lock") = snapshot;
    }
}
