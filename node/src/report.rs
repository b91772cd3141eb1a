//! `--output json` for the client commands: each answer as one JSON object on stdout, for
//! scripts (`luxtensor status --output json | jq .height`). Field names are the protobuf fields'
//! snake_case names; numbers are JSON numbers (every value fits: heights, balances and amounts
//! are u64, which serde_json writes exactly); hashes and keys stay 0x-hex strings.

use proto::node::v1 as api;
use serde_json::{Value, json};

/// Prints `value` as pretty JSON.
pub(crate) fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value always serializes")
    );
}

fn peer_state(s: api::PeerState) -> String {
    s.as_str_name()
        .trim_start_matches("PEER_STATE_")
        .to_lowercase()
}

/// `status`.
pub(crate) fn status(s: &api::GetStatusResponse) -> Value {
    json!({
        "chain_id": s.chain_id,
        "genesis_hash": s.genesis_hash,
        "height": s.height,
        "head_hash": s.head_hash,
        "state_root": s.state_root,
        "head_slot": s.head_slot,
        "current_slot": s.current_slot,
        "finalized_height": s.finalized_height,
        "finalized_hash": s.finalized_hash,
        "reorgs": s.reorgs,
        "evidence_count": s.evidence_count,
        "syncing": s.syncing,
        "sync_target": s.sync_target,
        "validator": (!s.validator.is_empty()).then(|| s.validator.clone()),
        "production_paused": s.production_paused,
        "mempool_size": s.mempool_size,
        "version": s.version,
        "peers": s.peers.iter().map(|p| json!({
            "address": p.address,
            "height": p.height,
            "head_hash": p.head_hash,
            "score": p.score,
            "state": peer_state(p.state()),
            "banned_for_secs": p.banned_for_secs,
        })).collect::<Vec<_>>(),
    })
}

/// A transaction.
pub(crate) fn transaction(tx: &api::Transaction) -> Value {
    json!({
        "hash": tx.hash,
        "chain_id": tx.chain_id,
        "sender": tx.sender,
        "sender_public_key": tx.sender_public_key,
        "nonce": tx.nonce,
        "recipient": tx.recipient,
        "amount": tx.amount,
        "fee": tx.fee,
        "signature": tx.signature,
    })
}

/// `block`.
pub(crate) fn block(h: &api::Header, transactions: &[api::Transaction]) -> Value {
    json!({
        "height": h.height,
        "hash": h.hash,
        "parent_hash": h.parent_hash,
        "chain_id": h.chain_id,
        "timestamp_ms": h.timestamp_ms,
        "producer": h.producer,
        "producer_address": h.producer_address,
        "tx_root": h.tx_root,
        "state_root": h.state_root,
        "tx_count": h.tx_count,
        "signature": h.signature,
        "transactions": transactions.iter().map(transaction).collect::<Vec<_>>(),
    })
}

/// `account`; `proof_verified` is set when `--proof` was asked and checked.
pub(crate) fn account(a: &api::GetAccountResponse, proof_verified: Option<bool>) -> Value {
    let mut v = json!({
        "address": a.address,
        "exists": a.exists,
        "balance": a.balance,
        "nonce": a.nonce,
        "height": a.height,
        "state_root": a.state_root,
    });
    if let Some(verified) = proof_verified {
        v["proof"] = json!(a.proof);
        v["proof_verified"] = json!(verified);
    }
    v
}

/// `tx get`.
pub(crate) fn tx_info(info: &api::GetTransactionResponse, tx: &api::Transaction) -> Value {
    json!({
        "transaction": transaction(tx),
        "pending": info.pending,
        "height": (!info.pending).then_some(info.height),
        "block_hash": (!info.pending).then(|| info.block_hash.clone()),
        "index": (!info.pending).then_some(info.index),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_transactions_have_no_block() {
        let tx = api::Transaction {
            hash: "0xab".into(),
            amount: u64::MAX,
            ..Default::default()
        };
        let info = api::GetTransactionResponse {
            transaction: Some(tx.clone()),
            pending: true,
            ..Default::default()
        };
        let v = tx_info(&info, &tx);
        assert_eq!(v["pending"], json!(true));
        assert_eq!(v["height"], Value::Null);
        // u64 values survive exactly.
        assert_eq!(v["transaction"]["amount"].as_u64(), Some(u64::MAX));
        let status = status(&api::GetStatusResponse::default());
        assert_eq!(status["validator"], Value::Null);
        assert_eq!(status["peers"], json!([]));
    }
}
