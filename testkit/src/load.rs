//! The runner's load: signed transfers from the dev accounts at a fixed rate through the public
//! submission RPC, each account always to the same target node (so that its nonces arrive in
//! order), until the network's head reaches a height. A submission that times out is sent again
//! byte for byte (signatures are deterministic, so it has the same hash): an `ALREADY_PENDING` or
//! `NONCE_TOO_LOW` answer then means the first one got in. Every hash that was accepted is kept,
//! for the "none lost" check.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::client::{KitError, NodeClient};
use crate::signer::{Signer, Transfer, parse_hex};

/// The recipient of every load transfer.
pub const RECIPIENT: [u8; 20] = [0x10; 20];

/// What the load did.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Hashes of accepted transfers.
    pub accepted: Vec<String>,
    /// Refusals by the node's reason (or transport failures), which the load retried.
    pub refused: BTreeMap<String, u64>,
}

/// Load settings.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// Chain id.
    pub chain_id: u64,
    /// Dev accounts to send from.
    pub accounts: u32,
    /// Transfers per second.
    pub rate: u32,
    /// Stop when the head reaches this height.
    pub until_height: u64,
    /// Amount.
    pub amount: u64,
    /// Fee.
    pub fee: u64,
}

/// The node's reason for a refusal (`google.rpc.ErrorInfo.reason`), or the status code.
pub fn reason(e: &KitError) -> String {
    use tonic_types::StatusExt;
    match e {
        KitError::Rpc { status, .. } => status
            .get_details_error_info()
            .map(|info| info.reason)
            .unwrap_or_else(|| format!("{:?}", status.code())),
        other => other.to_string(),
    }
}

/// Sends the load until `head` reaches the plan's height (or `stop` is set), then reports.
pub async fn run(
    plan: LoadPlan,
    targets: Vec<NodeClient>,
    head: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<LoadReport, KitError> {
    let genesis = targets[0].status().await?.genesis_hash;
    let genesis = parse_hex::<32>("genesis hash", &genesis)
        .map_err(|e| KitError::Diverged(format!("{}: {e}", targets[0].name)))?;
    let signers: Vec<Signer> = (0..plan.accounts)
        .map(|i| Signer::dev(plan.chain_id, i))
        .collect();
    let mut nonces = Vec::new();
    for (i, s) in signers.iter().enumerate() {
        let node = &targets[i % targets.len()];
        nonces.push(node.account(&s.address(), None, false).await?.nonce);
    }
    let mut report = LoadReport::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(plan.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next = 0usize;
    while head.load(Ordering::Relaxed) < plan.until_height && !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let i = next % signers.len();
        next += 1;
        let node = &targets[i % targets.len()];
        let tx = signers[i].transfer(
            &genesis,
            &Transfer {
                chain_id: plan.chain_id,
                nonce: nonces[i],
                recipient: RECIPIENT,
                amount: plan.amount,
                fee: plan.fee,
            },
        );
        let hash = tx.hash.clone();
        match tokio::time::timeout(Duration::from_secs(5), node.submit(tx)).await {
            Ok(Ok(_)) => {
                report.accepted.push(hash);
                nonces[i] += 1;
            }
            Ok(Err(e)) => {
                let r = reason(&e);
                *report.refused.entry(r.clone()).or_default() += 1;
                if r == "ALREADY_PENDING" || r == "NONCE_TOO_LOW" {
                    // An earlier attempt of this very transaction got in.
                    if !report.accepted.contains(&hash) {
                        report.accepted.push(hash);
                    }
                    nonces[i] += 1;
                }
            }
            Err(_) => *report.refused.entry("timeout".into()).or_default() += 1,
        }
    }
    Ok(report)
}
