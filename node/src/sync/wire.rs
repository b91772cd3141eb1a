//! The sync wire format: conversions between `luxtensor.sync.v1` messages and domain types, the
//! metadata a caller identifies itself with, and the message-size bounds both ends of the sync
//! service use. Every length is checked; hashes are never taken from the wire but recomputed from
//! the decoded fields. Client (`grpc`) and server (`server`) both build on this module and on
//! nothing of each other.

use proto::sync::v1 as wire;

use super::peer::PeerStatus;
use crate::chain::types::to_array;
use crate::chain::{Address, Header, PublicKey, Signature, Transaction, TypeError};

/// Metadata key carrying the caller's node id (its advertised address), so that a server can tell
/// peers apart. Optional: without it a server uses the connection's remote address.
pub const NODE_ID_METADATA: &str = "x-luxtensor-node";
/// Largest sync request a node accepts (locators and hash lists are far below it).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Largest sync message a node sends or accepts (one chunk of headers, one body).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Header → wire.
pub fn header_to_wire(h: &Header) -> wire::Header {
    wire::Header {
        chain_id: h.chain_id,
        height: h.height,
        parent_hash: h.parent_hash.to_vec(),
        timestamp_ms: h.timestamp_ms,
        tx_root: h.tx_root.to_vec(),
        tx_count: h.tx_count,
        state_root: h.state_root.to_vec(),
        producer: h.producer.0.to_vec(),
        signature: h.signature.0.to_vec(),
    }
}

/// Wire → header.
pub fn header_from_wire(w: &wire::Header) -> Result<Header, TypeError> {
    Ok(Header {
        chain_id: w.chain_id,
        height: w.height,
        parent_hash: to_array("parent_hash", &w.parent_hash)?,
        timestamp_ms: w.timestamp_ms,
        tx_root: to_array("tx_root", &w.tx_root)?,
        tx_count: w.tx_count,
        state_root: to_array("state_root", &w.state_root)?,
        producer: PublicKey(to_array("producer", &w.producer)?),
        signature: Signature(to_array("signature", &w.signature)?),
    })
}

/// Transaction → wire.
pub fn tx_to_wire(t: &Transaction) -> wire::Transaction {
    wire::Transaction {
        chain_id: t.chain_id,
        sender: t.sender.0.to_vec(),
        nonce: t.nonce,
        recipient: t.recipient.0.to_vec(),
        amount: t.amount,
        fee: t.fee,
        signature: t.signature.0.to_vec(),
    }
}

/// Wire → transaction.
pub fn tx_from_wire(w: &wire::Transaction) -> Result<Transaction, TypeError> {
    Ok(Transaction {
        chain_id: w.chain_id,
        sender: PublicKey(to_array("sender", &w.sender)?),
        nonce: w.nonce,
        recipient: Address(to_array("recipient", &w.recipient)?),
        amount: w.amount,
        fee: w.fee,
        signature: Signature(to_array("tx signature", &w.signature)?),
    })
}

/// A node status → wire.
pub fn status_to_wire(s: &PeerStatus) -> wire::NodeStatus {
    wire::NodeStatus {
        chain_id: s.chain_id,
        genesis_hash: s.genesis_hash.to_vec(),
        head_height: s.head_height,
        head_hash: s.head_hash.to_vec(),
        state_root: s.state_root.to_vec(),
        listen_address: s.listen_address.clone(),
    }
}

/// Wire → node status.
pub fn status_from_wire(s: wire::NodeStatus) -> Result<PeerStatus, TypeError> {
    Ok(PeerStatus {
        chain_id: s.chain_id,
        genesis_hash: to_array("genesis_hash", &s.genesis_hash)?,
        head_height: s.head_height,
        head_hash: to_array("head_hash", &s.head_hash)?,
        state_root: to_array("state_root", &s.state_root)?,
        listen_address: s.listen_address,
    })
}
