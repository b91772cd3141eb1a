//! Checks that poll with deadlines (never fixed sleeps) and the convergence proof: every node at
//! the same head, with the same hash at every height, the same state root, the same balance and
//! nonce for every account any block touched, and a clean `VerifyChain`.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::client::{KitError, NodeClient};

/// Polls `check` every 50 ms until it yields `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, KitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(KitError::Timeout {
                what: what.to_string(),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `node` reports `height` or more; returns its height.
pub async fn wait_for_height(
    node: &NodeClient,
    height: u64,
    timeout: Duration,
) -> Result<u64, KitError> {
    wait_for(
        &format!("{} to reach height {height}", node.name),
        timeout,
        || async {
            node.status()
                .await
                .ok()
                .map(|s| s.height)
                .filter(|h| *h >= height)
        },
    )
    .await
}

/// What a convergence check compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converged {
    /// Common height.
    pub height: u64,
    /// Common head hash.
    pub head_hash: String,
    /// Common state root.
    pub state_root: String,
    /// Block hashes compared per node (heights 0..=height).
    pub blocks_compared: u64,
    /// Accounts whose balance and nonce matched on every node.
    pub accounts_compared: usize,
}

/// Waits until all nodes share one head at `min_height` or above, then proves they hold the same
/// chain and state.
pub async fn converge(
    nodes: &[&NodeClient],
    min_height: u64,
    timeout: Duration,
) -> Result<Converged, KitError> {
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let head = wait_for(
        &format!("{names:?} to converge at height >= {min_height}"),
        timeout,
        || async {
            let mut statuses = Vec::new();
            for n in nodes {
                statuses.push(n.status().await.ok()?);
            }
            let first = statuses[0].clone();
            let same = statuses
                .iter()
                .all(|s| s.height == first.height && s.head_hash == first.head_hash);
            (same && first.height >= min_height).then_some(first)
        },
    )
    .await?;
    let mut accounts = BTreeSet::new();
    for h in 0..=head.height {
        let reference = nodes[0].block(h).await?;
        for n in &nodes[1..] {
            let other = n.block(h).await?;
            if other != reference {
                return Err(KitError::Diverged(format!(
                    "block {h} differs between {} and {}",
                    nodes[0].name, n.name
                )));
            }
        }
        if let Some(header) = &reference.header {
            accounts.insert(header.producer_address.clone());
        }
        for tx in &reference.transactions {
            accounts.insert(tx.sender.clone());
            accounts.insert(tx.recipient.clone());
        }
    }
    accounts.retain(|a| !a.is_empty());
    for address in &accounts {
        let reference = nodes[0].account(address, Some(head.height), false).await?;
        for n in &nodes[1..] {
            let other = n.account(address, Some(head.height), false).await?;
            if (other.balance, other.nonce) != (reference.balance, reference.nonce) {
                return Err(KitError::Diverged(format!(
                    "account {address}: {} has {}/{}, {} has {}/{}",
                    nodes[0].name,
                    reference.balance,
                    reference.nonce,
                    n.name,
                    other.balance,
                    other.nonce
                )));
            }
        }
    }
    for n in nodes {
        let s = n.status().await?;
        if s.state_root != head.state_root {
            return Err(KitError::Diverged(format!(
                "{} has state root {}",
                n.name, s.state_root
            )));
        }
        let v = n.verify_chain().await?;
        if !v.ok || v.blocks_checked < head.height + 1 {
            return Err(KitError::Diverged(format!(
                "{}: verify chain: {:?}",
                n.name, v.fault
            )));
        }
    }
    Ok(Converged {
        height: head.height,
        head_hash: head.head_hash,
        state_root: head.state_root,
        blocks_compared: head.height + 1,
        accounts_compared: accounts.len(),
    })
}
