//! Conversions between domain types and protobuf messages: readable `0x`-hex in the query API,
//! raw bytes on the sync wire. Parsing checks every length and says which field was wrong.

use proto::node::v1 as api;

use crate::chain::types::{parse_hex, to_hex};
use crate::chain::{Address, Block, Hash, Header, PublicKey, Signature, Transaction, TypeError};

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
