//! Sync wire messages ↔ domain types. Every length is checked; hashes are never taken from the
//! wire but recomputed from the decoded fields.

use proto::sync::v1 as wire;

use crate::chain::types::to_array;
use crate::chain::{Address, Header, PublicKey, Signature, Transaction, TypeError};

/// Header → wire.
pub fn header_to_wire(h: &Header) -> wire::WireHeader {
    wire::WireHeader {
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
pub fn header_from_wire(w: &wire::WireHeader) -> Result<Header, TypeError> {
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
pub fn tx_to_wire(t: &Transaction) -> wire::WireTransaction {
    wire::WireTransaction {
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
pub fn tx_from_wire(w: &wire::WireTransaction) -> Result<Transaction, TypeError> {
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
