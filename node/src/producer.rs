//! Block production for a validator: on each tick (or on demand through the control API) build the
//! next block when this node's key is scheduled for the height, with pending transactions (and,
//! for testnets, generated transfers between dev accounts), sign it and import it through the same
//! ledger path every other block takes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::chain::crypto::Keypair;
use crate::chain::{Block, Header, PublicKey, Transaction, merkle};
use crate::ledger::{ImportError, Ledger, LedgerError, now_ms};
use crate::mempool::Mempool;
use crate::state::Executor;

/// Why no block was produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// This node has no validator key.
    #[error("this node is not a validator (start it with --validator-key)")]
    NotValidator,
    /// Another validator is scheduled for the next height.
    #[error("height {height} is scheduled for validator {scheduled}, not this node")]
    NotScheduled {
        /// Next height.
        height: u64,
        /// Scheduled validator.
        scheduled: PublicKey,
    },
    /// The node is shutting down: nothing more is produced.
    #[error("the node is shutting down")]
    Stopped,
    /// Generated transfers were asked for but genesis has no dev accounts.
    #[error("genesis defines no dev accounts to generate transfers from")]
    NoDevAccounts,
    /// Importing the produced block failed.
    #[error("importing the produced block: {0}")]
    Import(#[from] ImportError),
    /// Reading state failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Builds and imports blocks with a validator key.
pub struct Producer {
    ledger: Arc<Ledger>,
    mempool: Arc<Mempool>,
    key: Option<Keypair>,
    max_block_txs: usize,
    dev_keys: Vec<Keypair>,
    lock: Mutex<u64>,
    sequential_timestamps: bool,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Producer({:?})", self.key.as_ref().map(Keypair::public))
    }
}

impl Producer {
    /// A producer; without a key it refuses to produce.
    pub fn new(
        ledger: Arc<Ledger>,
        mempool: Arc<Mempool>,
        key: Option<Keypair>,
        max_block_txs: usize,
    ) -> Self {
        let dev_keys = ledger.genesis().dev_keypairs();
        Self {
            ledger,
            mempool,
            key,
            max_block_txs,
            dev_keys,
            lock: Mutex::new(0),
            sequential_timestamps: false,
            stopped: AtomicBool::new(false),
        }
    }

    /// Stamps each block one millisecond after its parent instead of with the clock, so that a
    /// benchmark can build a long chain (from a genesis in the past) faster than real time.
    pub fn with_sequential_timestamps(mut self) -> Self {
        self.sequential_timestamps = true;
        self
    }

    /// This node's validator key.
    pub fn validator(&self) -> Option<PublicKey> {
        self.key.as_ref().map(Keypair::public)
    }

    /// True when this node must produce the next height.
    pub fn is_scheduled_next(&self) -> bool {
        let height = self.ledger.head().header.height + 1;
        self.validator().as_ref() == Some(self.ledger.rules().scheduled_producer(height))
    }

    /// Refuses every later [`Producer::produce`] (shutdown): once this returns, no block is
    /// started any more, and one being built when it was called is the last.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wait for a block being built to finish, so that nothing is produced after we return.
        drop(self.lock.lock().expect("producer lock"));
    }

    /// Produces one block with pending transactions plus `generated` dev transfers.
    pub fn produce(&self, generated: usize) -> Result<Block, ProduceError> {
        let key = self.key.as_ref().ok_or(ProduceError::NotValidator)?;
        if generated > 0 && self.dev_keys.is_empty() {
            return Err(ProduceError::NoDevAccounts);
        }
        let mut counter = self.lock.lock().expect("producer lock");
        if self.stopped.load(Ordering::SeqCst) {
            return Err(ProduceError::Stopped);
        }
        let head = self.ledger.head();
        let height = head.header.height + 1;
        let scheduled = *self.ledger.rules().scheduled_producer(height);
        if scheduled != key.public() {
            return Err(ProduceError::NotScheduled { height, scheduled });
        }
        let producer = key.public().address();
        let chain_id = self.ledger.rules().chain_id;
        let mut exec = Executor::new(self.ledger.store(), head.header.state_root);
        let mut txs = Vec::new();
        for tx in self.mempool.candidates(self.max_block_txs) {
            if exec.apply(&tx, &producer).is_ok() {
                txs.push(tx);
            }
        }
        let dev = self.dev_keys.len();
        for _ in 0..generated {
            if txs.len() >= self.max_block_txs {
                break;
            }
            *counter += 1;
            let n = *counter as usize;
            let from = &self.dev_keys[n % dev];
            let to = self.dev_keys[(n + 1 + n / dev) % dev].public().address();
            let sender = from.public().address();
            let account = exec.account(&sender).map_err(LedgerError::from)?;
            let mut tx = Transaction {
                chain_id,
                sender: from.public(),
                nonce: account.nonce,
                recipient: to,
                amount: 1 + (n as u64 * 7919) % 1000,
                fee: 1 + (n as u64 % 3),
                signature: Default::default(),
            };
            tx.signature = from.sign(&tx.signing_message());
            if exec.apply(&tx, &producer).is_ok() {
                txs.push(tx);
            }
        }
        let (state_root, _) = exec.commit().map_err(LedgerError::from)?;
        let now = now_ms();
        let mut header = Header {
            chain_id,
            height,
            parent_hash: head.hash,
            timestamp_ms: if self.sequential_timestamps {
                head.header.timestamp_ms + 1
            } else {
                now.max(head.header.timestamp_ms + 1)
            },
            tx_root: merkle::tx_root(&txs),
            tx_count: txs.len() as u32,
            state_root,
            producer: key.public(),
            signature: Default::default(),
        };
        header.signature = key.sign(&header.signing_message());
        let block = Block {
            header,
            transactions: txs,
        };
        if self.stopped.load(Ordering::SeqCst) {
            // Shutdown began while the block was built: it is not committed.
            return Err(ProduceError::Stopped);
        }
        self.ledger.import_block(&block, now)?;
        self.mempool.revalidate(&self.ledger);
        tracing::info!(target: "producer", height, txs = block.transactions.len(), hash = %crate::chain::types::to_hex(&block.hash()), "produced block");
        Ok(block)
    }

    /// Produces a block whenever this node is scheduled, every `interval`, until cancelled.
    pub async fn run(self: Arc<Self>, interval: Duration, cancel: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if !self.is_scheduled_next() {
                continue;
            }
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.produce(0)).await {
                Ok(Ok(_)) => {}
                Ok(Err(ProduceError::NotScheduled { .. })) => {}
                Ok(Err(ProduceError::Stopped)) => return,
                Ok(Err(e)) => {
                    tracing::warn!(target: "producer", error = %e, "block production failed")
                }
                Err(e) => tracing::error!(target: "producer", error = %e, "producer task panicked"),
            }
        }
    }
}
