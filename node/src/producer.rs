//! Block production for a validator. Time is cut into slots (see `chain::schedule`); at the start
//! of each slot this node leads, [`Producer::run`] builds the next block with pending transactions
//! (and, for testnets, generated transfers between dev accounts), signs it and imports it through
//! the same ledger path every other block takes. Slot production can be paused and resumed.
//! [`Producer::produce`] is on-demand production (the control API): it takes this node's next
//! slots at once, waiting for each to begin, so it works on any chain where this node leads a slot
//! soon — on a single-validator chain, every slot.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::chain::crypto::Keypair;
use crate::chain::{Block, Header, PublicKey, Transaction, merkle};
use crate::ledger::{ImportError, Ledger, LedgerError};
use crate::mempool::Mempool;
use crate::state::Executor;

/// Longest on-demand production waits for this node's next slot.
pub const MAX_SLOT_WAIT: Duration = Duration::from_secs(60);

/// Why no block was produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// This node has no validator key.
    #[error("this node is not a validator (start it with --validator-key)")]
    NotValidator,
    /// Another validator leads the slot.
    #[error("slot {slot} is led by validator {leader}, not this node")]
    NotLeader {
        /// The slot.
        slot: u64,
        /// Its leader.
        leader: PublicKey,
    },
    /// The head is already at or past the slot.
    #[error("slot {slot} is taken: the head is in slot {head_slot}")]
    SlotTaken {
        /// The slot.
        slot: u64,
        /// The head's slot.
        head_slot: u64,
    },
    /// This node's next slot begins too far ahead to wait for.
    #[error(
        "this node's next slot ({slot}) begins in {wait_ms} ms, more than the {max_ms} ms on-demand production waits"
    )]
    NextSlotTooFar {
        /// The slot.
        slot: u64,
        /// How long until it begins.
        wait_ms: u64,
        /// The longest wait.
        max_ms: u64,
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
    paused: AtomicBool,
    resumed: tokio::sync::Notify,
    slot_transfers: AtomicU32,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Producer({:?})", self.key.as_ref().map(Keypair::public))
    }
}

impl Producer {
    /// A producer; without a key it refuses to produce. Slot production starts unpaused.
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
            paused: AtomicBool::new(false),
            resumed: tokio::sync::Notify::new(),
            slot_transfers: AtomicU32::new(0),
        }
    }

    /// Stamps each on-demand block at the start of this node's next slot after the head's,
    /// however far in the past, instead of waiting for the clock, so that a benchmark can build a
    /// long chain (from a genesis in the past) faster than real time.
    pub fn with_sequential_timestamps(mut self) -> Self {
        self.sequential_timestamps = true;
        self
    }

    /// This node's validator key.
    pub fn validator(&self) -> Option<PublicKey> {
        self.key.as_ref().map(Keypair::public)
    }

    /// Pauses or resumes slot production (on-demand production is unaffected).
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
        if !paused {
            self.resumed.notify_one();
        }
        tracing::info!(target: "producer", paused, "slot production {}", if paused { "paused" } else { "resumed" });
    }

    /// Whether slot production is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Generated dev transfers added to each slot block.
    pub fn set_slot_transfers(&self, n: u32) {
        self.slot_transfers.store(n, Ordering::SeqCst);
    }

    /// Refuses every later block (shutdown): once this returns, no block is started any more, and
    /// one being built when it was called is the last.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wait for a block being built to finish, so that nothing is produced after we return.
        drop(self.lock.lock().expect("producer lock"));
    }

    /// On demand: one block in this node's next slot that is after the head's and (unless
    /// sequential) not already over, waiting for it to begin (at most [`MAX_SLOT_WAIT`]). When the
    /// slot is taken meanwhile (this node's own slot production got there first), the next one is
    /// taken instead.
    pub fn produce(&self, generated: usize) -> Result<Block, ProduceError> {
        let key = self.key.as_ref().ok_or(ProduceError::NotValidator)?;
        let schedule = &self.ledger.rules().schedule;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let now = self.ledger.now_ms();
            let mut from = self.ledger.head_slot() + 1;
            if !self.sequential_timestamps {
                from = from.max(schedule.slot_of(now));
            }
            let slot = schedule
                .next_slot_of(&key.public(), from)
                .ok_or(ProduceError::NotValidator)?;
            if !self.sequential_timestamps {
                let wait_ms = schedule.slot_start(slot).saturating_sub(now);
                if wait_ms > MAX_SLOT_WAIT.as_millis() as u64 {
                    return Err(ProduceError::NextSlotTooFar {
                        slot,
                        wait_ms,
                        max_ms: MAX_SLOT_WAIT.as_millis() as u64,
                    });
                }
                std::thread::sleep(Duration::from_millis(wait_ms));
            }
            match self.produce_in_slot(slot, generated) {
                Err(ProduceError::SlotTaken { .. }) if attempts < 3 => continue,
                other => return other,
            }
        }
    }

    /// One block in `slot`, which this node must lead and which must be after the head's slot,
    /// stamped with the clock (kept inside the slot), or with the slot's start when sequential.
    pub fn produce_in_slot(&self, slot: u64, generated: usize) -> Result<Block, ProduceError> {
        let key = self.key.as_ref().ok_or(ProduceError::NotValidator)?;
        if generated > 0 && self.dev_keys.is_empty() {
            return Err(ProduceError::NoDevAccounts);
        }
        let mut counter = self.lock.lock().expect("producer lock");
        if self.stopped.load(Ordering::SeqCst) {
            return Err(ProduceError::Stopped);
        }
        let rules = self.ledger.rules();
        let schedule = &rules.schedule;
        let leader = *schedule.leader(slot);
        if leader != key.public() {
            return Err(ProduceError::NotLeader { slot, leader });
        }
        let head = self.ledger.head();
        let head_slot = rules.slot(&head.header);
        if slot <= head_slot {
            return Err(ProduceError::SlotTaken { slot, head_slot });
        }
        let start = schedule.slot_start(slot);
        let now = self.ledger.now_ms();
        let timestamp = if self.sequential_timestamps {
            start
        } else {
            now.clamp(start, start + schedule.slot_ms() - 1)
        };
        let height = head.header.height + 1;
        let producer = key.public().address();
        let chain_id = rules.chain_id;
        let genesis_hash = rules.genesis_hash;
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
            tx.signature = from.sign(&tx.signing_message(&genesis_hash));
            if exec.apply(&tx, &producer).is_ok() {
                txs.push(tx);
            }
        }
        let (state_root, _) = exec.commit().map_err(LedgerError::from)?;
        let mut header = Header {
            chain_id,
            height,
            parent_hash: head.hash,
            timestamp_ms: timestamp,
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
        tracing::info!(target: "producer", height, slot, txs = block.transactions.len(), hash = %crate::chain::types::to_hex(&block.hash()), "produced block");
        Ok(block)
    }

    /// Produces a block at the start of every slot this node leads, unless paused, until
    /// cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let Some(me) = self.validator() else { return };
        let schedule = self.ledger.rules().schedule.clone();
        loop {
            if self.is_paused() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = self.resumed.notified() => {}
                }
                continue;
            }
            let now = self.ledger.now_ms();
            let Some(slot) = schedule.next_slot_of(&me, schedule.slot_of(now) + 1) else {
                return;
            };
            let wait = schedule.slot_start(slot).saturating_sub(now);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
            if self.is_paused() {
                continue;
            }
            let transfers = self.slot_transfers.load(Ordering::SeqCst) as usize;
            let producer = self.clone();
            match tokio::task::spawn_blocking(move || producer.produce_in_slot(slot, transfers))
                .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(ProduceError::SlotTaken { .. })) => {}
                Ok(Err(ProduceError::Stopped)) => return,
                Ok(Err(e)) => {
                    tracing::warn!(target: "producer", slot, error = %e, "block production failed")
                }
                Err(e) => tracing::error!(target: "producer", error = %e, "producer task panicked"),
            }
        }
    }
}
