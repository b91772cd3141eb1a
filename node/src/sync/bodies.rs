//! The body phase of sync. Validated headers are cut into batches (bounded in blocks and in
//! transactions, so memory in flight stays bounded whatever the block size), and each batch is an
//! explicit state machine:
//!
//! ```text
//! AwaitingDownload ──start_download──▶ Downloading ──downloaded──▶ AwaitingProcessing
//!        ▲                                  │                             │ start_processing
//!        └──── download_failed (retry) ─────┤                             ▼
//!                                           └─ (attempts used up) ─▶ Failed   Processing ──processed──▶ Done
//! ```
//!
//! A batch is first asked of one peer (spreading batches over every peer that announced the
//! heights), then of other such peers, and last of the peer whose headers we validated — which
//! must serve every body of them — with at most [`MAX_BATCH_ATTEMPTS`] attempts. Every body is
//! checked against its header (count, transaction root, chain ids, signatures batched across
//! cores) before the batch counts as downloaded.

use std::ops::Range;
use std::sync::Arc;

use super::book::{Fault, Offence};
use super::peers::PeerSet;
use crate::chain::{ChainRules, Hash, Header, Transaction};

/// Most peers a batch is asked of before the round is abandoned.
pub const MAX_BATCH_ATTEMPTS: usize = 3;

/// Where a batch is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchState {
    /// Waiting for a peer to be asked.
    AwaitingDownload,
    /// Asked `peer`; waiting for its answer.
    Downloading {
        /// The peer asked.
        peer: String,
    },
    /// Bodies arrived and match their headers; waiting for import.
    AwaitingProcessing,
    /// Being imported.
    Processing,
    /// Imported.
    Done,
    /// Every attempt failed; the last failure.
    Failed(Fault),
}

/// One run of consecutive blocks whose bodies are fetched together.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Positions in the round's header list.
    pub range: Range<usize>,
    state: BatchState,
    tried: Vec<String>,
}

impl Batch {
    /// A batch waiting for its first download.
    pub fn new(range: Range<usize>) -> Self {
        Self {
            range,
            state: BatchState::AwaitingDownload,
            tried: Vec::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> &BatchState {
        &self.state
    }

    /// Peers asked so far, in order.
    pub fn tried(&self) -> &[String] {
        &self.tried
    }

    /// The first of `candidates` not asked yet, while attempts remain.
    pub fn next_peer(&self, candidates: &[String]) -> Option<String> {
        if self.tried.len() >= MAX_BATCH_ATTEMPTS {
            return None;
        }
        candidates.iter().find(|c| !self.tried.contains(c)).cloned()
    }

    /// AwaitingDownload → Downloading.
    pub fn start_download(&mut self, peer: String) {
        debug_assert_eq!(self.state, BatchState::AwaitingDownload);
        self.tried.push(peer.clone());
        self.state = BatchState::Downloading { peer };
    }

    /// Downloading → AwaitingDownload (another peer may be asked) or, with no attempt left,
    /// Failed.
    pub fn download_failed(&mut self, fault: Fault) {
        debug_assert!(matches!(self.state, BatchState::Downloading { .. }));
        self.state = if self.tried.len() >= MAX_BATCH_ATTEMPTS {
            BatchState::Failed(fault)
        } else {
            BatchState::AwaitingDownload
        };
    }

    /// Downloading → AwaitingProcessing.
    pub fn downloaded(&mut self) {
        debug_assert!(matches!(self.state, BatchState::Downloading { .. }));
        self.state = BatchState::AwaitingProcessing;
    }

    /// AwaitingDownload → Failed, when no candidate is left to ask.
    pub fn give_up(&mut self, fault: Fault) {
        self.state = BatchState::Failed(fault);
    }

    /// AwaitingProcessing → Processing.
    pub fn start_processing(&mut self) {
        debug_assert_eq!(self.state, BatchState::AwaitingProcessing);
        self.state = BatchState::Processing;
    }

    /// Processing → Done.
    pub fn processed(&mut self) {
        debug_assert_eq!(self.state, BatchState::Processing);
        self.state = BatchState::Done;
    }
}

/// Cuts `headers` into consecutive ranges of at most `max_blocks` blocks that close once they
/// reach `max_txs` transactions.
pub fn plan(headers: &[Header], max_blocks: usize, max_txs: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut txs = 0usize;
    for (i, h) in headers.iter().enumerate() {
        txs += h.tx_count as usize;
        if i + 1 - start >= max_blocks.max(1) || txs >= max_txs {
            ranges.push(start..i + 1);
            start = i + 1;
            txs = 0;
        }
    }
    if start < headers.len() {
        ranges.push(start..headers.len());
    }
    ranges
}

/// The peers to ask for batch number `n`, in order: one chosen round-robin from `source` and the
/// `holders` (so batches spread over every peer that has them), then other holders, ending with
/// `source`, which is always among the first [`MAX_BATCH_ATTEMPTS`].
pub fn candidates(n: usize, source: &str, holders: &[String]) -> Vec<String> {
    let slot = n % (holders.len() + 1);
    let first = if slot == 0 {
        source.to_string()
    } else {
        holders[slot - 1].clone()
    };
    let mut out = vec![first];
    for h in holders.iter().cycle().skip(slot).take(holders.len()) {
        if out.len() + 1 >= MAX_BATCH_ATTEMPTS {
            break;
        }
        if !out.contains(h) {
            out.push(h.clone());
        }
    }
    if !out.iter().any(|p| p == source) {
        out.push(source.to_string());
    }
    out
}

/// What one attempt got.
enum Attempt {
    /// Every body, checked.
    Complete(Vec<Vec<Transaction>>),
    /// Fewer bodies than asked (all that came were checked).
    Partial(usize),
}

/// Downloads the bodies of `batch` (its headers and hashes given), trying `candidates` in order.
/// Faults are recorded in the peer book as they happen. On success the batch is
/// AwaitingProcessing and the bodies are returned; otherwise it is Failed and the last fault is
/// returned.
pub async fn download(
    peers: &PeerSet,
    rules: &ChainRules,
    batch: &mut Batch,
    source: &str,
    candidates: &[String],
    headers: &[Header],
    hashes: &[Hash],
) -> Result<Vec<Vec<Transaction>>, Fault> {
    while let Some(peer) = batch.next_peer(candidates) {
        batch.start_download(peer.clone());
        let fault = match fetch_checked(peers, rules, &peer, headers, hashes).await {
            Ok(Attempt::Complete(bodies)) => {
                batch.downloaded();
                peers.book().reward(&peer);
                return Ok(bodies);
            }
            Ok(Attempt::Partial(got)) => {
                let fault = Fault::new(
                    &peer,
                    Offence::Withheld,
                    format!(
                        "served {got} of the {} bodies of blocks {}..={}",
                        headers.len(),
                        headers[0].height,
                        headers[headers.len() - 1].height
                    ),
                );
                // Only the peer whose headers we took owes us every body; a helper may have
                // reorganized away from them.
                if peer == source {
                    peers.penalize(&fault);
                }
                fault
            }
            Err(fault) => {
                peers.penalize(&fault);
                fault
            }
        };
        tracing::debug!(target: "sync::bodies", peer, reason = fault.reason, attempt = batch.tried().len(), "body download failed");
        batch.download_failed(fault.clone());
        if let BatchState::Failed(fault) = batch.state() {
            return Err(fault.clone());
        }
    }
    let fault = Fault::new(
        source,
        Offence::Withheld,
        format!(
            "no peer left to ask for the bodies of blocks {}..={}",
            headers[0].height,
            headers[headers.len() - 1].height
        ),
    );
    batch.give_up(fault.clone());
    Err(fault)
}

/// Asks `peer` for the bodies of `hashes` and checks each against its header.
async fn fetch_checked(
    peers: &PeerSet,
    rules: &ChainRules,
    peer: &str,
    headers: &[Header],
    hashes: &[Hash],
) -> Result<Attempt, Fault> {
    let client = peers.client(peer)?;
    let bodies = client
        .bodies(hashes.to_vec())
        .await
        .map_err(|e| Fault::from_peer_error(peer, &e))?;
    let rules = rules.clone();
    let headers: Arc<[Header]> = headers.into();
    let hashes: Arc<[Hash]> = hashes.into();
    let asked = hashes.len();
    let owner = peer.to_string();
    let checked = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(bodies.len());
        for (i, (hash, txs)) in bodies.into_iter().enumerate() {
            if hash != hashes[i] {
                return Err(Fault::new(
                    &owner,
                    Offence::Protocol,
                    format!("body {i} is for another block than asked"),
                ));
            }
            rules.check_body(&headers[i], &txs).map_err(|e| {
                Fault::new(
                    &owner,
                    Offence::InvalidData,
                    format!("body of block {}: {e}", headers[i].height),
                )
            })?;
            out.push(txs);
        }
        Ok(out)
    })
    .await
    .map_err(|e| Fault::new(peer, Offence::Protocol, format!("body check task: {e}")))??;
    Ok(if checked.len() == asked {
        Attempt::Complete(checked)
    } else {
        Attempt::Partial(checked.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(peer: &str) -> Fault {
        Fault::new(peer, Offence::Timeout, "slow")
    }

    #[test]
    fn a_batch_tries_other_peers_then_fails_within_its_bound() {
        let mut b = Batch::new(0..4);
        let peers: Vec<String> = ["h1", "h2", "src"].iter().map(|s| s.to_string()).collect();
        for expected in ["h1", "h2"] {
            let p = b.next_peer(&peers).unwrap();
            assert_eq!(p, expected);
            b.start_download(p);
            b.download_failed(fault(expected));
            assert_eq!(b.state(), &BatchState::AwaitingDownload);
        }
        let p = b.next_peer(&peers).unwrap();
        assert_eq!(p, "src");
        b.start_download(p);
        b.download_failed(fault("src"));
        assert_eq!(b.state(), &BatchState::Failed(fault("src")));
        assert_eq!(b.next_peer(&peers), None);
    }

    #[test]
    fn a_batch_goes_from_download_to_done() {
        let mut b = Batch::new(0..1);
        b.start_download("p".into());
        b.downloaded();
        assert_eq!(b.state(), &BatchState::AwaitingProcessing);
        b.start_processing();
        b.processed();
        assert_eq!(b.state(), &BatchState::Done);
    }

    #[test]
    fn candidates_spread_batches_and_always_end_with_the_source() {
        let holders: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        assert_eq!(candidates(0, "s", &holders), ["s", "a"]);
        assert_eq!(candidates(1, "s", &holders), ["a", "b", "s"]);
        assert_eq!(candidates(2, "s", &holders), ["b", "c", "s"]);
        assert_eq!(candidates(3, "s", &holders), ["c", "a", "s"]);
        assert_eq!(candidates(5, "s", &[]), ["s"]);
        for n in 0..8 {
            let c = candidates(n, "s", &holders);
            assert!(c.len() <= MAX_BATCH_ATTEMPTS && c.contains(&"s".to_string()));
        }
    }

    #[test]
    fn plans_are_bounded_in_blocks_and_transactions() {
        let h = |txs: u32| Header {
            chain_id: 1,
            height: 1,
            parent_hash: [0; 32],
            timestamp_ms: 0,
            tx_root: [0; 32],
            tx_count: txs,
            state_root: [0; 32],
            producer: Default::default(),
            signature: Default::default(),
        };
        let headers: Vec<Header> = [0, 0, 0, 0, 0].into_iter().map(h).collect();
        assert_eq!(plan(&headers, 2, 100), [0..2, 2..4, 4..5]);
        let headers: Vec<Header> = [60, 50, 10, 100].into_iter().map(h).collect();
        assert_eq!(plan(&headers, 10, 100), [0..2, 2..4]);
    }
}
