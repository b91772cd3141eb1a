//! Peer management for the sync engine: one client per peer address (made lazily through the
//! [`Connector`]), periodic handshakes that refresh each peer's status, the dial-back of addresses
//! other nodes advertise (they become peers only if they answer on our network), peer exchange,
//! head subscriptions that wake the engine when a peer announces a new head, and the choice of the
//! peers to sync from. What each peer did is recorded in the [`PeerBook`]; this module only talks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, stream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::book::{Fault, PeerBook};
use super::peer::{Connector, PeerClient, PeerError, PeerStatus};
use crate::chain::Hash;
use crate::chain::types::to_hex;

/// Handshakes run concurrently at most this many at a time.
const PARALLEL_HANDSHAKES: usize = 8;
/// Advertised addresses dialed back per refresh, at most.
const DIALS_PER_REFRESH: usize = 8;

/// True when a chain with head (height, hash) beats ours under fork choice (longer, then the lower
/// head hash).
pub fn beats(height: u64, hash: &Hash, our_height: u64, our_hash: &Hash) -> bool {
    height > our_height || (height == our_height && hash < our_hash)
}

/// Called with every head a peer announces (before it is fetched or validated).
pub type HeadObserver = Arc<dyn Fn(&crate::chain::Header) + Send + Sync>;

/// The peers the engine talks to.
pub struct PeerSet {
    book: Arc<PeerBook>,
    connector: Arc<dyn Connector>,
    clients: Mutex<HashMap<String, Arc<dyn PeerClient>>>,
    subscribed: Arc<Mutex<HashSet<String>>>,
    wake: Arc<Notify>,
    own_address: String,
}

impl std::fmt::Debug for PeerSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PeerSet({} clients)",
            self.clients.lock().expect("clients lock").len()
        )
    }
}

impl PeerSet {
    /// Peers from `book`, reached through `connector`; `own_address` (ours, possibly empty) is
    /// never added from peer exchange.
    pub fn new(book: Arc<PeerBook>, connector: Arc<dyn Connector>, own_address: String) -> Self {
        Self {
            book,
            connector,
            clients: Mutex::new(HashMap::new()),
            subscribed: Arc::new(Mutex::new(HashSet::new())),
            wake: Arc::new(Notify::new()),
            own_address,
        }
    }

    /// The peer book.
    pub fn book(&self) -> &Arc<PeerBook> {
        &self.book
    }

    /// Wakes whoever waits in [`PeerSet::woken`].
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when a peer announced a new head or [`PeerSet::wake`] was called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The client for `address`, made on first use.
    pub fn client(&self, address: &str) -> Result<Arc<dyn PeerClient>, Fault> {
        let mut clients = self.clients.lock().expect("clients lock");
        if let Some(c) = clients.get(address) {
            return Ok(c.clone());
        }
        let c = self
            .connector
            .connect(address)
            .map_err(|e| Fault::from_peer_error(address, &e))?;
        clients.insert(address.to_string(), c.clone());
        Ok(c)
    }

    /// Records a fault in the book.
    pub fn penalize(&self, fault: &Fault) {
        self.book
            .penalize(&fault.peer, fault.offence, &fault.reason);
    }

    fn forget_client(&self, address: &str) {
        self.clients.lock().expect("clients lock").remove(address);
    }

    /// Dials back up to a few advertised addresses: each that answers a handshake on our network
    /// (and calls itself by that address) becomes a peer; the others are forgotten.
    pub async fn dial_candidates(&self, ours: &PeerStatus) {
        let candidates = self.book.take_candidates(DIALS_PER_REFRESH);
        stream::iter(candidates)
            .for_each_concurrent(PARALLEL_HANDSHAKES, |address| async move {
                let answered = match self.client(&address) {
                    Ok(client) => client.handshake(ours).await.ok(),
                    Err(_) => None,
                };
                match answered {
                    Some(status)
                        if status.chain_id == ours.chain_id
                            && status.genesis_hash == ours.genesis_hash
                            && (status.listen_address.is_empty()
                                || status.listen_address == address) =>
                    {
                        self.book.verified(&address, status);
                    }
                    _ => {
                        tracing::debug!(target: "sync::peers", peer = address, "advertised address did not answer on our network; dropped");
                        self.book.dial_failed(&address);
                        self.forget_client(&address);
                    }
                }
            })
            .await;
    }

    /// Handshakes every peer that is due (`interval` since its last handshake), recording the
    /// statuses; peers of another network are never asked again. Then dials back advertised
    /// addresses.
    pub async fn refresh(&self, ours: &PeerStatus, interval: Duration) {
        self.dial_candidates(ours).await;
        let due = self.book.due_for_handshake(interval);
        stream::iter(due)
            .for_each_concurrent(PARALLEL_HANDSHAKES, |address| async move {
                let client = match self.client(&address) {
                    Ok(c) => c,
                    Err(fault) => return self.penalize(&fault),
                };
                match client.handshake(ours).await {
                    Ok(status)
                        if status.chain_id != ours.chain_id
                            || status.genesis_hash != ours.genesis_hash =>
                    {
                        tracing::warn!(target: "sync::peers", peer = address, chain_id = status.chain_id, genesis = %to_hex(&status.genesis_hash), "peer is on another network; never asking it again");
                        self.book.mark_incompatible(&address);
                    }
                    Ok(status) => {
                        if !status.listen_address.is_empty() && status.listen_address != address {
                            self.book.propose(&status.listen_address, &address);
                        }
                        self.book.record_status(&address, status);
                    }
                    Err(PeerError::Refused(reason)) => {
                        tracing::warn!(target: "sync::peers", peer = address, reason, "peer refused us; never asking it again");
                        self.book.mark_incompatible(&address);
                    }
                    Err(e) => self.penalize(&Fault::from_peer_error(&address, &e)),
                }
            })
            .await;
    }

    /// Asks every ready peer for the peers it knows; their addresses become candidates.
    pub async fn discover(&self) {
        for (address, _) in self.book.ready() {
            let Ok(client) = self.client(&address) else {
                continue;
            };
            if let Ok(addresses) = client.peers().await {
                for a in addresses {
                    if a != self.own_address {
                        self.book.propose(&a, &address);
                    }
                }
            }
        }
    }

    /// Subscribes to the head announcements of every ready peer not yet subscribed to; each
    /// announcement updates the book and wakes the engine. Subscriptions end with `cancel`.
    pub fn subscribe_heads(&self, cancel: &CancellationToken, observe: &HeadObserver) {
        for (address, _) in self.book.ready() {
            if !self
                .subscribed
                .lock()
                .expect("subscribed lock")
                .insert(address.clone())
            {
                continue;
            }
            let Ok(client) = self.client(&address) else {
                self.subscribed
                    .lock()
                    .expect("subscribed lock")
                    .remove(&address);
                continue;
            };
            let book = self.book.clone();
            let wake = self.wake.clone();
            let subscribed = self.subscribed.clone();
            let cancel = cancel.clone();
            let observe = observe.clone();
            tokio::spawn(async move {
                if let Ok(mut heads) = client.subscribe_heads().await {
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            item = heads.next() => match item {
                                Some(Ok(header)) => {
                                    observe(&header);
                                    book.record_head(&address, header.height, header.hash());
                                    wake.notify_one();
                                }
                                _ => break,
                            }
                        }
                    }
                }
                subscribed.lock().expect("subscribed lock").remove(&address);
            });
        }
    }

    /// Up to `n` ready peers whose announced head beats ours (`height`, `hash`): the best heads
    /// first, then the best scores. Sync races them for headers.
    pub fn contenders(&self, height: u64, hash: &Hash, n: usize) -> Vec<(String, PeerStatus)> {
        // `ready()` is ordered by score; a stable sort by head keeps that order among equals.
        let mut peers: Vec<(String, PeerStatus)> = self
            .book
            .ready()
            .into_iter()
            .filter(|(_, s)| beats(s.head_height, &s.head_hash, height, hash))
            .collect();
        peers.sort_by(|(_, a), (_, b)| {
            b.head_height
                .cmp(&a.head_height)
                .then(a.head_hash.cmp(&b.head_hash))
        });
        peers.truncate(n);
        peers
    }

    /// Ready peers other than `except` that announced a head at or above `height` (or exactly the
    /// block `hash`) and have served us well before (positive score): they can serve bodies up to
    /// that height. Unproven peers get no batches, so a peer that would drip them slows nothing.
    pub fn holders(&self, except: &str, height: u64, hash: &Hash) -> Vec<String> {
        self.book
            .ready()
            .into_iter()
            .filter(|(a, s)| a != except && (s.head_height > height || s.head_hash == *hash))
            .filter(|(a, _)| self.book.score(a).is_some_and(|score| score > 0))
            .map(|(a, _)| a)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_choice_rule() {
        assert!(beats(5, &[9; 32], 4, &[0; 32]));
        assert!(beats(5, &[1; 32], 5, &[2; 32]));
        assert!(!beats(5, &[2; 32], 5, &[2; 32]));
        assert!(!beats(4, &[0; 32], 5, &[9; 32]));
    }
}
