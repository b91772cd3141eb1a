//! What the sync engine needs from a peer, as a trait: handshake, headers after a locator, bodies
//! by hash, head announcements, peer exchange and transaction pushes. The gRPC implementation is in `grpc`; tests use
//! in-process fakes. Implementations enforce the request bounds on what they receive.

use futures::stream::BoxStream;

use crate::chain::{Hash, Header, Transaction};

/// Most headers one request may return.
pub const MAX_HEADERS_PER_REQUEST: u32 = 2048;
/// Most bodies one request may ask for.
pub const MAX_BODIES_PER_REQUEST: usize = 256;
/// Most locator entries.
pub const MAX_LOCATOR: usize = 64;
/// Most peer addresses exchanged.
pub const MAX_PEER_ADDRESSES: usize = 64;
/// Most transactions one push carries.
pub const MAX_PUSH_TRANSACTIONS: usize = super::gossip::MAX_PUSH;

/// A peer's identity and head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: Hash,
    /// Head height.
    pub head_height: u64,
    /// Head hash.
    pub head_hash: Hash,
    /// State root at the head.
    pub state_root: Hash,
    /// The peer's own address, if it told us.
    pub listen_address: String,
}

/// A failed exchange with a peer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PeerError {
    /// Could not reach the peer, or the connection broke.
    #[error("transport: {0}")]
    Transport(String),
    /// The peer did not answer in time.
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// The peer streamed below the minimum throughput.
    #[error("too slow: {0}")]
    Slow(String),
    /// The peer broke the protocol: malformed data, more items than asked, wrong order.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer refused us (another network).
    #[error("refused: {0}")]
    Refused(String),
}

/// Talks to one peer.
#[tonic::async_trait]
pub trait PeerClient: Send + Sync + 'static {
    /// The peer's address.
    fn address(&self) -> &str;
    /// Exchanges statuses.
    async fn handshake(&self, ours: &PeerStatus) -> Result<PeerStatus, PeerError>;
    /// Headers after the first locator hash the peer knows, at most `max`, ascending.
    async fn headers(&self, locator: Vec<Hash>, max: u32) -> Result<Vec<Header>, PeerError>;
    /// Bodies of the given blocks (a peer may return fewer, never more or others).
    async fn bodies(&self, hashes: Vec<Hash>) -> Result<Vec<(Hash, Vec<Transaction>)>, PeerError>;
    /// Addresses the peer knows.
    async fn peers(&self) -> Result<Vec<String>, PeerError>;
    /// Offers pending transactions (at most `MAX_PUSH_TRANSACTIONS`); returns how many the peer
    /// newly admitted.
    async fn push_transactions(&self, txs: Vec<Transaction>) -> Result<u32, PeerError>;
    /// New head headers as the peer gets them.
    async fn subscribe_heads(
        &self,
    ) -> Result<BoxStream<'static, Result<Header, PeerError>>, PeerError>;
}

/// Makes peer clients from addresses.
pub trait Connector: Send + Sync + 'static {
    /// A client for `address` (connecting lazily).
    fn connect(&self, address: &str) -> Result<std::sync::Arc<dyn PeerClient>, PeerError>;
}
