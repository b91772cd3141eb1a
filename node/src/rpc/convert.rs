//! Conversions between domain types and the node API's protobuf messages (readable `0x`-hex).
//! Parsing checks every length and says which field was wrong.

use proto::node::v1 as api;

use crate::chain::types::{parse_hex, to_hex};
use crate::chain::{Address, Block, Hash, Header, PublicKey, Signature, Transaction, TypeError};
use crate::ledger::{ChainFault, ChainFaultKind};
use crate::sync::{PeerReport, PeerState};

/// Header → API header.
pub fn header_to_api(h: &Header) -> api::Header {
    api::Header {
        chain_id: h.chain_id,
        height: h.height,
        hash: to_hex(&h.hash()),
        parent_hash: to_hex(&h.parent_hash),
        timestamp_ms: h.timestamp_ms,
        tx_root: to_hex(&h.tx_root),
        tx_count: h.tx_count,
        state_root: to_hex(&h.state_root),
        producer: h.producer.to_string(),
        signature: h.signature.to_string(),
        producer_address: if h.height == 0 {
            String::new()
        } else {
            h.producer.address().to_string()
        },
    }
}

/// Transaction → API transaction.
pub fn tx_to_api(tx: &Transaction) -> api::Transaction {
    api::Transaction {
        hash: to_hex(&tx.hash()),
        chain_id: tx.chain_id,
        sender_public_key: tx.sender.to_string(),
        sender: tx.sender_address().to_string(),
        nonce: tx.nonce,
        recipient: tx.recipient.to_string(),
        amount: tx.amount,
        fee: tx.fee,
        signature: tx.signature.to_string(),
    }
}

/// Block → API block.
pub fn block_to_api(b: &Block) -> api::Block {
    api::Block {
        header: Some(header_to_api(&b.header)),
        transactions: b.transactions.iter().map(tx_to_api).collect(),
    }
}

/// API transaction → transaction (hash and sender fields are ignored: they are derived).
pub fn tx_from_api(tx: &api::Transaction) -> Result<Transaction, TypeError> {
    Ok(Transaction {
        chain_id: tx.chain_id,
        sender: PublicKey::from_hex(&tx.sender_public_key)?,
        nonce: tx.nonce,
        recipient: Address::from_hex(&tx.recipient)?,
        amount: tx.amount,
        fee: tx.fee,
        signature: Signature::from_hex(&tx.signature)?,
    })
}

/// Parses a 0x-hex block or transaction hash.
pub fn parse_hash(what: &'static str, s: &str) -> Result<Hash, TypeError> {
    parse_hex(what, s)
}

/// Peer state → API enum.
pub fn peer_state_to_api(s: PeerState) -> api::PeerState {
    match s {
        PeerState::Connecting => api::PeerState::Connecting,
        PeerState::Ready => api::PeerState::Ready,
        PeerState::Banned => api::PeerState::Banned,
        PeerState::Incompatible => api::PeerState::Incompatible,
        PeerState::Unreachable => api::PeerState::Unreachable,
    }
}

/// Peer report → API peer.
pub fn peer_to_api(p: &PeerReport) -> api::Peer {
    api::Peer {
        address: p.address.clone(),
        height: p.height,
        head_hash: to_hex(&p.head_hash),
        score: p.score,
        state: peer_state_to_api(p.state).into(),
        banned_for_secs: p.banned_for_secs,
    }
}

/// Chain fault → API fault.
pub fn fault_to_api(f: ChainFault) -> api::ChainFault {
    let kind = match f.kind {
        ChainFaultKind::Missing => api::ChainFaultKind::Missing,
        ChainFaultKind::Hash => api::ChainFaultKind::Hash,
        ChainFaultKind::Link => api::ChainFaultKind::Link,
        ChainFaultKind::Schedule => api::ChainFaultKind::Schedule,
        ChainFaultKind::Timestamp => api::ChainFaultKind::Timestamp,
        ChainFaultKind::Signature => api::ChainFaultKind::Signature,
        ChainFaultKind::Body => api::ChainFaultKind::Body,
        ChainFaultKind::TxRoot => api::ChainFaultKind::TxRoot,
        ChainFaultKind::Execution => api::ChainFaultKind::Execution,
        ChainFaultKind::StateRoot => api::ChainFaultKind::StateRoot,
    };
    api::ChainFault {
        height: f.height,
        kind: kind.into(),
        message: f.message,
    }
}
