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
/// chain and state up to it (see [`prove_equal`]).
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
    prove_equal(nodes, head.height).await
}

/// For a network that keeps producing: waits until every node holds a block at `min_height` or
/// above as final, then proves they hold the same chain and state up to the lowest finalized
/// height among them (see [`prove_equal`]). Blocks above it may still differ for a moment.
pub async fn converge_final(
    nodes: &[&NodeClient],
    min_height: u64,
    timeout: Duration,
) -> Result<Converged, KitError> {
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let height = wait_for(
        &format!("{names:?} to finalize height >= {min_height}"),
        timeout,
        || async {
            let mut low = u64::MAX;
            for n in nodes {
                low = low.min(n.status().await.ok()?.finalized_height);
            }
            (low >= min_height).then_some(low)
        },
    )
    .await?;
    prove_equal(nodes, height).await
}

/// Proves that `nodes` hold the same chain up to `height`: the same block (header and
/// transactions) at every height, the same state root there, the same balance and nonce at
/// `height` for every account any of those blocks touched, and a clean `VerifyChain`.
pub async fn prove_equal(nodes: &[&NodeClient], height: u64) -> Result<Converged, KitError> {
    let mut accounts = BTreeSet::new();
    let reference = nodes[0].blocks(0, height).await?;
    for n in &nodes[1..] {
        let other = n.blocks(0, height).await?;
        if let Some(h) = (0..reference.len()).find(|&h| other.get(h) != reference.get(h)) {
            return Err(KitError::Diverged(format!(
                "block {h} differs between {} and {}",
                nodes[0].name, n.name
            )));
        }
    }
    for reference in &reference {
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
        let reference = nodes[0].account(address, Some(height), false).await?;
        for n in &nodes[1..] {
            let other = n.account(address, Some(height), false).await?;
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
    let top = nodes[0].header(height).await?;
    for n in nodes {
        let h = n.header(height).await?;
        if h.hash != top.hash || h.state_root != top.state_root {
            return Err(KitError::Diverged(format!(
                "{} holds block {} with state root {} at height {height}",
                n.name, h.hash, h.state_root
            )));
        }
        let v = n.verify_chain().await?;
        if !v.ok || v.blocks_checked < height + 1 {
            return Err(KitError::Diverged(format!(
                "{}: verify chain: {:?}",
                n.name, v.fault
            )));
        }
    }
    Ok(Converged {
        height,
        head_hash: top.hash,
        state_root: top.state_root,
        blocks_compared: height + 1,
        accounts_compared: accounts.len(),
    })
}

/// Replays every transfer of the canonical chain up to `height` from the genesis balances (read at
/// height 0) and checks that the node reports exactly the implied balance and nonce for every
/// account involved. Returns the number of accounts checked.
pub async fn check_transfers(node: &NodeClient, height: u64) -> Result<usize, KitError> {
    use std::collections::BTreeMap;
    let mut expected: BTreeMap<String, (i128, u64)> = BTreeMap::new();
    let mut touched: Vec<String> = Vec::new();
    let blocks = if height == 0 {
        Vec::new()
    } else {
        node.blocks(1, height).await?
    };
    for b in &blocks {
        let producer = b
            .header
            .as_ref()
            .map(|h| h.producer_address.clone())
            .unwrap_or_default();
        for who in std::iter::once(&producer).chain(
            b.transactions
                .iter()
                .flat_map(|t| [&t.sender, &t.recipient]),
        ) {
            if !expected.contains_key(who) {
                let genesis = node.account(who, Some(0), false).await?;
                expected.insert(who.clone(), (i128::from(genesis.balance), genesis.nonce));
                touched.push(who.clone());
            }
        }
        for t in &b.transactions {
            let s = expected.get_mut(&t.sender).expect("inserted above");
            if s.1 != t.nonce {
                return Err(KitError::Diverged(format!(
                    "{}: nonce {} in block, {} expected",
                    t.sender, t.nonce, s.1
                )));
            }
            s.0 -= i128::from(t.amount) + i128::from(t.fee);
            s.1 += 1;
            expected.get_mut(&t.recipient).expect("inserted above").0 += i128::from(t.amount);
            expected.get_mut(&producer).expect("inserted above").0 += i128::from(t.fee);
        }
    }
    for who in &touched {
        let got = node.account(who, Some(height), false).await?;
        let (balance, nonce) = expected[who];
        if (i128::from(got.balance), got.nonce) != (balance, nonce) {
            return Err(KitError::Diverged(format!(
                "{}: account {who} has {}/{} but the transfers imply {balance}/{nonce}",
                node.name, got.balance, got.nonce
            )));
        }
    }
    Ok(touched.len())
}

/// Every query answer of a node for heights `0..=height`, as comparable text: status identity and
/// head, each block by height and by hash, each header, each transaction with its location, every
/// touched account (with its Merkle proof) at every height, and the chain verification verdict.
pub async fn query_answers(node: &NodeClient, height: u64) -> Result<Vec<String>, KitError> {
    use proto::node::v1 as api;
    let mut out = Vec::new();
    let s = node.status().await?;
    out.push(format!(
        "status {} {} {} {} {}",
        s.chain_id, s.genesis_hash, s.height, s.head_hash, s.state_root
    ));
    let mut accounts = BTreeSet::new();
    let listed = node.blocks(0, height).await?;
    for (h, listed) in (0..=height).zip(&listed) {
        let block = node.block(h).await?;
        let header = block.header.clone().unwrap_or_default();
        let by_hash = node
            .block_by(api::GetBlockRequest {
                id: Some(api::get_block_request::Id::Hash(header.hash.clone())),
            })
            .await?;
        if by_hash != block || *listed != block {
            return Err(KitError::Diverged(format!(
                "{}: block {h} differs by height, by hash and in ListBlocks",
                node.name
            )));
        }
        out.push(format!("block {block:?}"));
        out.push(format!("header {:?}", node.header(h).await?));
        accounts.insert(header.producer_address.clone());
        for tx in &block.transactions {
            let info = node.transaction(&tx.hash).await?;
            out.push(format!("tx {info:?}"));
            accounts.insert(tx.sender.clone());
            accounts.insert(tx.recipient.clone());
        }
    }
    accounts.retain(|a| !a.is_empty());
    for h in 0..=height {
        for a in &accounts {
            out.push(format!(
                "account {:?}",
                node.account(a, Some(h), true).await?
            ));
        }
    }
    out.push(format!("verify {:?}", node.verify_chain().await?));
    Ok(out)
}

/// Remembers the highest finalized height each node reported and fails as soon as one reports a
/// lower one: finality never reverts.
#[derive(Debug, Default)]
pub struct FinalityWatch {
    seen: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl FinalityWatch {
    /// Asks every reachable node (an unreachable one is skipped: a partitioned or stopped node
    /// is not a regression); returns the finalized heights seen now, by node name.
    pub async fn observe(
        &self,
        nodes: &[&NodeClient],
    ) -> Result<std::collections::BTreeMap<String, u64>, KitError> {
        let mut now = std::collections::BTreeMap::new();
        for n in nodes {
            let Ok(s) = n.status().await else { continue };
            self.record(&n.name, s.finalized_height)?;
            now.insert(n.name.clone(), s.finalized_height);
        }
        Ok(now)
    }

    /// Records that `node` reported `finalized`; an error when it reported more before.
    pub fn record(&self, node: &str, finalized: u64) -> Result<(), KitError> {
        let mut seen = self.seen.lock().expect("finality watch lock");
        let before = seen.entry(node.to_string()).or_insert(0);
        if finalized < *before {
            return Err(KitError::Diverged(format!(
                "{node}: finalized height went down from {before} to {finalized}"
            )));
        }
        *before = finalized;
        Ok(())
    }
}

/// Where submitted transactions ended up on converged nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// In exactly one canonical block.
    pub included: usize,
    /// Not included, but pending in some node's mempool.
    pub pending: usize,
}

/// Accounts for every transaction in `hashes` on nodes that agree up to `height`: each must be in
/// exactly one canonical block of `nodes[0]` (0x-hex hashes, as the API gives them) or pending on
/// one of `nodes`. A transaction included twice or found nowhere is an error.
pub async fn tally_transactions(
    nodes: &[&NodeClient],
    height: u64,
    hashes: &[String],
) -> Result<Tally, KitError> {
    let mut count: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for block in nodes[0].blocks(1, height).await? {
        for tx in block.transactions {
            *count.entry(tx.hash).or_default() += 1;
        }
    }
    let mut tally = Tally::default();
    for hash in hashes {
        match count.get(hash).copied().unwrap_or(0) {
            1 => tally.included += 1,
            0 => {
                let mut pending = false;
                for n in nodes {
                    if n.transaction(hash).await.is_ok_and(|t| t.pending) {
                        pending = true;
                        break;
                    }
                }
                if !pending {
                    return Err(KitError::Diverged(format!(
                        "transaction {hash} is neither included nor pending anywhere"
                    )));
                }
                tally.pending += 1;
            }
            n => {
                return Err(KitError::Diverged(format!(
                    "transaction {hash} is included {n} times"
                )));
            }
        }
    }
    Ok(tally)
}
