//! Transaction propagation: a transaction admitted to our mempool — submitted by a client or
//! pushed by a peer — is pushed on to every ready peer, so that it reaches whichever validator
//! leads next. Deduplicated by the mempool itself (a transaction already pending is not admitted
//! again, so it is not passed on again: a push floods the network once), bounded by a queue of
//! [`QUEUE`] transactions (beyond it new ones are dropped from propagation, still pending here, and
//! counted) and by batches of at most [`MAX_PUSH`] per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::engine::SyncEngine;
use crate::chain::{Hash, Transaction};
use crate::ledger::Ledger;
use crate::mempool::{Mempool, MempoolError};

/// Most transactions in one push request.
pub const MAX_PUSH: usize = 256;
/// Transactions waiting to be pushed, at most.
pub const QUEUE: usize = 4096;
/// How long a batch waits to fill before it is pushed.
const BATCH_WAIT: Duration = Duration::from_millis(20);

/// A transaction to pass on, and the peer it came from (not pushed back to it).
#[derive(Debug)]
struct Outgoing {
    tx: Transaction,
    from: Option<String>,
}

/// Admits transactions and queues them for propagation.
#[derive(Debug)]
pub struct TxGossip {
    ledger: Arc<Ledger>,
    mempool: Arc<Mempool>,
    queue: mpsc::Sender<Outgoing>,
    dropped: AtomicU64,
}

/// The receiving end, driven by [`run`].
#[derive(Debug)]
pub struct GossipQueue(mpsc::Receiver<Outgoing>);

impl TxGossip {
    /// Gossip into `mempool`; [`run`] drives the returned queue.
    pub fn new(ledger: Arc<Ledger>, mempool: Arc<Mempool>) -> (Arc<Self>, GossipQueue) {
        let (queue, rx) = mpsc::channel(QUEUE);
        (
            Arc::new(Self {
                ledger,
                mempool,
                queue,
                dropped: AtomicU64::new(0),
            }),
            GossipQueue(rx),
        )
    }

    /// Admits a client's transaction and queues it for every peer.
    pub fn submit(&self, tx: Transaction) -> Result<Hash, MempoolError> {
        let hash = self.mempool.submit(tx.clone(), &self.ledger)?;
        self.enqueue(tx, None);
        Ok(hash)
    }

    /// Admits what a peer pushed; each newly admitted transaction is queued for the other peers.
    /// Returns how many were new.
    pub fn receive(&self, txs: Vec<Transaction>, from: &str) -> u32 {
        let mut accepted = 0;
        for tx in txs {
            match self
                .mempool
                .submit_from(tx.clone(), &self.ledger, crate::mempool::Origin::Peer)
            {
                Ok(_) => {
                    accepted += 1;
                    self.enqueue(tx, Some(from.to_string()));
                }
                Err(MempoolError::AlreadyPending { .. }) => {}
                Err(e) => {
                    tracing::debug!(target: "sync::gossip", peer = from, error = %e, "pushed transaction not admitted")
                }
            }
        }
        accepted
    }

    /// Transactions left out of propagation because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn enqueue(&self, tx: Transaction, from: Option<String>) {
        if self.queue.try_send(Outgoing { tx, from }).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(target: "sync::gossip", dropped = n, "propagation queue full: a transaction stays pending here without being pushed");
        }
    }
}

/// Pushes queued transactions to the engine's ready peers in batches until cancelled.
pub async fn run(engine: Arc<SyncEngine>, mut queue: GossipQueue, cancel: CancellationToken) {
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            next = queue.0.recv() => match next { Some(o) => o, None => return },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::sleep(BATCH_WAIT);
        tokio::pin!(deadline);
        while batch.len() < MAX_PUSH {
            tokio::select! {
                _ = &mut deadline => break,
                next = queue.0.recv() => match next { Some(o) => batch.push(o), None => break },
            }
        }
        push(&engine, &batch).await;
    }
}

/// Pushes everything queued now, without waiting (simulations drive propagation this way).
pub async fn flush(engine: &SyncEngine, queue: &mut GossipQueue) {
    loop {
        let mut batch = Vec::new();
        while batch.len() < MAX_PUSH {
            match queue.0.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            return;
        }
        push(engine, &batch).await;
    }
}

/// Pushes `batch` to every ready peer but the one each transaction came from.
async fn push(engine: &SyncEngine, batch: &[Outgoing]) {
    futures::stream::iter(engine.ready_peers())
        .for_each_concurrent(8, |(address, client)| {
            let txs: Vec<Transaction> = batch
                .iter()
                .filter(|o| o.from.as_deref() != Some(address.as_str()))
                .map(|o| o.tx.clone())
                .collect();
            async move {
                if txs.is_empty() {
                    return;
                }
                let n = txs.len();
                if let Err(e) = client.push_transactions(txs).await {
                    tracing::debug!(target: "sync::gossip", peer = address, txs = n, error = %e, "push failed");
                }
            }
        })
        .await;
}
