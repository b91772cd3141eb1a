//! The mempool: signed transactions waiting for a block, bounded in total and per sender, kept per
//! sender in nonce order with no gaps. Admission runs the checks a block runs: chain id, sender
//! key, signature, then execution of the sender's pending transactions and the new one on the head
//! state (nonce, balance, and the recipient's balance overflow), so a transaction that could never
//! execute is refused with its precise reason. When the head moves, [`Mempool::revalidate`]
//! drops what a block included and evicts, with a logged reason, what can no longer execute, so a
//! sender's next nonce is never stuck behind a dead transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use crate::chain::crypto::{self, CryptoError};
use crate::chain::types::to_hex;
use crate::chain::{Address, Hash, PublicKey, Transaction};
use crate::ledger::{Ledger, LedgerError};
use crate::state::{ExecError, Executor};

/// Most pending transactions of one sender.
pub const MAX_PER_SENDER: usize = 256;

/// Why a transaction was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MempoolError {
    /// Signed for another chain.
    #[error("wrong chain: transaction is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// Ours.
        expected: u64,
        /// Carried.
        got: u64,
    },
    /// The sender key is of small order: anyone can sign for it.
    #[error("sender key {0} is of small order (anyone can sign for it)")]
    SmallOrderSender(PublicKey),
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(CryptoError),
    /// The same transaction is already pending.
    #[error("already pending: transaction {hash} is in the mempool")]
    AlreadyPending {
        /// Its hash.
        hash: String,
    },
    /// The nonce was already used.
    #[error("nonce too low: got {got}, next usable nonce is {expected}")]
    NonceTooLow {
        /// Next usable nonce.
        expected: u64,
        /// Given.
        got: u64,
    },
    /// The nonce leaves a gap.
    #[error("nonce too high: got {got}, next usable nonce is {expected}")]
    NonceTooHigh {
        /// Next usable nonce.
        expected: u64,
        /// Given.
        got: u64,
    },
    /// The balance does not cover this and the sender's pending transactions.
    #[error(
        "insufficient balance: {available} available, {needed} needed (with pending transactions)"
    )]
    InsufficientBalance {
        /// Needed in total.
        needed: u64,
        /// Balance.
        available: u64,
    },
    /// Amount plus fee overflows.
    #[error("amount plus fee overflows")]
    Overflow,
    /// The recipient's balance would pass 2^64 − 1: the transfer could never execute.
    #[error("recipient {0} cannot receive this amount: its balance would overflow")]
    RecipientOverflow(Address),
    /// The pool holds its maximum.
    #[error("mempool full ({limit} transactions)")]
    Full {
        /// The bound.
        limit: usize,
    },
    /// The sender has its maximum of pending transactions.
    #[error("sender has {limit} pending transactions, the most one sender may have")]
    SenderFull {
        /// The bound.
        limit: usize,
    },
    /// The head state could not be read.
    #[error("reading the head state: {0}")]
    State(String),
}

/// Where a submitted transaction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// `SubmitTransaction` (a client).
    Client,
    /// `PushTransactions` (a peer's gossip).
    Peer,
}

impl Origin {
    /// The origin as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Peer => "peer",
        }
    }
}

impl MempoolError {
    /// The refusal's kind as a metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::WrongChain { .. } => "wrong_chain",
            Self::SmallOrderSender(_) => "small_order_sender",
            Self::BadSignature(_) => "bad_signature",
            Self::AlreadyPending { .. } => "already_pending",
            Self::NonceTooLow { .. } => "nonce_too_low",
            Self::NonceTooHigh { .. } => "nonce_too_high",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::Overflow => "overflow",
            Self::RecipientOverflow(_) => "recipient_overflow",
            Self::Full { .. } => "full",
            Self::SenderFull { .. } => "sender_full",
            Self::State(_) => "state",
        }
    }
}

impl From<LedgerError> for MempoolError {
    fn from(e: LedgerError) -> Self {
        Self::State(e.to_string())
    }
}

/// Why a pending transaction was dropped without being included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eviction {
    /// The transaction's hash.
    pub hash: Hash,
    /// Its sender.
    pub sender: Address,
    /// Its nonce.
    pub nonce: u64,
    /// Why it can no longer execute.
    pub reason: String,
}

#[derive(Default)]
struct Inner {
    by_sender: HashMap<Address, BTreeMap<u64, Transaction>>,
    hashes: HashSet<Hash>,
    /// When each sender's queue got its current first transaction (arrival order).
    arrival: HashMap<Address, u64>,
    next_arrival: u64,
    /// The head the pool was last revalidated against.
    revalidated_at: Option<Hash>,
    /// Transactions evicted since start.
    evicted: u64,
}

impl Inner {
    /// Puts back the transactions of blocks a reorganization abandoned (their signatures were
    /// checked when the blocks were imported); the revalidation that follows drops those the new
    /// branch included and evicts, with a logged reason, those that can no longer execute. One
    /// whose sender already has another pending at its nonce, or beyond the pool's bound, is
    /// logged and not put back. Returns how many were put back.
    fn reinsert(&mut self, txs: Vec<Transaction>, limit: usize) -> usize {
        let mut back = 0;
        for tx in txs {
            let hash = tx.hash();
            if self.hashes.contains(&hash) {
                continue;
            }
            let sender = tx.sender_address();
            if self.hashes.len() >= limit {
                tracing::warn!(target: "mempool", tx = %to_hex(&hash), sender = %sender, nonce = tx.nonce, limit, "abandoned by a reorg and not put back: the mempool is full");
                continue;
            }
            if self
                .by_sender
                .get(&sender)
                .is_some_and(|q| q.contains_key(&tx.nonce))
            {
                tracing::info!(target: "mempool", tx = %to_hex(&hash), sender = %sender, nonce = tx.nonce, "abandoned by a reorg; another transaction of the sender is pending at its nonce");
                continue;
            }
            self.insert(hash, sender, tx);
            back += 1;
        }
        back
    }

    /// Adds a transaction to its sender's queue (the caller checked bounds and nonces).
    fn insert(&mut self, hash: Hash, sender: Address, tx: Transaction) {
        self.hashes.insert(hash);
        let seq = self.next_arrival;
        self.next_arrival += 1;
        self.arrival.entry(sender).or_insert(seq);
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(tx.nonce, tx);
    }

    fn remove_sender_from(&mut self, sender: &Address, nonce: u64) -> Vec<Transaction> {
        let Some(q) = self.by_sender.get_mut(sender) else {
            return Vec::new();
        };
        let removed: Vec<Transaction> = q.split_off(&nonce).into_values().collect();
        if q.is_empty() {
            self.by_sender.remove(sender);
            self.arrival.remove(sender);
        }
        for tx in &removed {
            self.hashes.remove(&tx.hash());
        }
        removed
    }
}

/// The pool of pending transactions.
pub struct Mempool {
    limit: usize,
    inner: Mutex<Inner>,
    /// Refused submissions since start, per origin and [`MempoolError::label`].
    rejections: Mutex<std::collections::BTreeMap<(Origin, &'static str), u64>>,
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mempool({}/{})", self.len(), self.limit)
    }
}

impl Mempool {
    /// An empty pool holding at most `limit` transactions.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new(Inner::default()),
            rejections: Mutex::default(),
        }
    }

    /// Refused submissions since start, by origin and reason label (only those that happened).
    pub fn rejections(&self) -> Vec<(Origin, &'static str, u64)> {
        let counts = self.rejections.lock().expect("mempool rejections lock");
        counts.iter().map(|((o, r), n)| (*o, *r, *n)).collect()
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("mempool lock").hashes.len()
    }

    /// True when `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.inner
            .lock()
            .expect("mempool lock")
            .hashes
            .contains(hash)
    }

    /// The pending transaction with this hash.
    pub fn get(&self, hash: &Hash) -> Option<Transaction> {
        let inner = self.inner.lock().expect("mempool lock");
        if !inner.hashes.contains(hash) {
            return None;
        }
        inner
            .by_sender
            .values()
            .flat_map(|q| q.values())
            .find(|tx| tx.hash() == *hash)
            .cloned()
    }

    /// True when `sender` has a transaction with `nonce` pending.
    pub fn has_pending(&self, sender: &Address, nonce: u64) -> bool {
        self.inner
            .lock()
            .expect("mempool lock")
            .by_sender
            .get(sender)
            .is_some_and(|q| q.contains_key(&nonce))
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Transactions evicted (unexecutable) since the pool was made.
    pub fn evicted(&self) -> u64 {
        self.inner.lock().expect("mempool lock").evicted
    }

    /// Admits `tx`, submitted by a client, if it would execute on the head state after the
    /// sender's pending transactions; a refusal is counted under its reason.
    pub fn submit(&self, tx: Transaction, ledger: &Ledger) -> Result<Hash, MempoolError> {
        self.submit_from(tx, ledger, Origin::Client)
    }

    /// [`Mempool::submit`] for a transaction from `origin` (refusals are counted per origin: a
    /// peer pushing what is already pending is normal gossip, a client doing so is not).
    pub fn submit_from(
        &self,
        tx: Transaction,
        ledger: &Ledger,
        origin: Origin,
    ) -> Result<Hash, MempoolError> {
        let result = self.admit(tx, ledger);
        if let Err(e) = &result {
            *self
                .rejections
                .lock()
                .expect("mempool rejections lock")
                .entry((origin, e.label()))
                .or_default() += 1;
        }
        result
    }

    fn admit(&self, tx: Transaction, ledger: &Ledger) -> Result<Hash, MempoolError> {
        let chain_id = ledger.rules().chain_id;
        if tx.chain_id != chain_id {
            return Err(MempoolError::WrongChain {
                expected: chain_id,
                got: tx.chain_id,
            });
        }
        if crypto::is_small_order(&tx.sender) {
            return Err(MempoolError::SmallOrderSender(tx.sender));
        }
        crypto::verify(
            &tx.sender,
            &tx.signing_message(&ledger.genesis_hash()),
            &tx.signature,
        )
        .map_err(MempoolError::BadSignature)?;
        let cost = tx.total_cost().ok_or(MempoolError::Overflow)?;
        let hash = tx.hash();
        let sender = tx.sender_address();
        let mut inner = self.inner.lock().expect("mempool lock");
        if inner.hashes.contains(&hash) {
            return Err(MempoolError::AlreadyPending {
                hash: to_hex(&hash),
            });
        }
        let head = ledger.head();
        let mut exec = Executor::new(ledger.store(), head.header.state_root);
        let account = exec
            .account(&sender)
            .map_err(|e| MempoolError::State(e.to_string()))?;
        let pending: Vec<&Transaction> = inner
            .by_sender
            .get(&sender)
            .map(|q| q.range(account.nonce..).map(|(_, t)| t).collect())
            .unwrap_or_default();
        let expected = account.nonce + pending.len() as u64;
        if tx.nonce < expected {
            return Err(MempoolError::NonceTooLow {
                expected,
                got: tx.nonce,
            });
        }
        if tx.nonce > expected {
            return Err(MempoolError::NonceTooHigh {
                expected,
                got: tx.nonce,
            });
        }
        if pending.len() >= MAX_PER_SENDER {
            return Err(MempoolError::SenderFull {
                limit: MAX_PER_SENDER,
            });
        }
        let pending_cost = pending
            .iter()
            .try_fold(0u64, |acc, t| acc.checked_add(t.total_cost()?))
            .ok_or(MempoolError::Overflow)?;
        let needed = pending_cost
            .checked_add(cost)
            .ok_or(MempoolError::Overflow)?;
        if needed > account.balance {
            return Err(MempoolError::InsufficientBalance {
                needed,
                available: account.balance,
            });
        }
        // The pending transactions, then this one, as a block would execute them (fees aside:
        // which validator earns them is not known yet).
        for t in pending.iter().copied().chain(std::iter::once(&tx)) {
            exec.apply_unpaid(t).map_err(|e| match e {
                ExecError::Overflow => MempoolError::RecipientOverflow(t.recipient),
                ExecError::InsufficientBalance { .. } => MempoolError::InsufficientBalance {
                    needed,
                    available: account.balance,
                },
                other => MempoolError::State(other.to_string()),
            })?;
        }
        if inner.hashes.len() >= self.limit {
            return Err(MempoolError::Full { limit: self.limit });
        }
        inner.insert(hash, sender, tx);
        Ok(hash)
    }

    /// Up to `max` transactions, each sender's in nonce order, senders taken in turn in the order
    /// they arrived.
    pub fn candidates(&self, max: usize) -> Vec<Transaction> {
        let inner = self.inner.lock().expect("mempool lock");
        let mut senders: Vec<(&u64, &BTreeMap<u64, Transaction>)> = inner
            .by_sender
            .iter()
            .map(|(a, q)| (inner.arrival.get(a).unwrap_or(&u64::MAX), q))
            .collect();
        senders.sort_by_key(|(seq, _)| **seq);
        let mut queues: Vec<_> = senders.into_iter().map(|(_, q)| q.values()).collect();
        let mut out = Vec::new();
        while out.len() < max {
            let before = out.len();
            for q in &mut queues {
                if out.len() >= max {
                    break;
                }
                if let Some(tx) = q.next() {
                    out.push(tx.clone());
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
    }

    /// Brings the pool in line with the current head. When the head does not descend from the
    /// one the pool was last brought in line with (a reorganization), the transactions of the
    /// blocks abandoned since are put back first, so that those the new branch lacks and that are
    /// still valid are included later. Then it drops every transaction whose nonce a block used,
    /// re-executes each sender's queue on the head state and evicts the first transaction that
    /// fails (with every later one of that sender, which cannot execute without it), each with a
    /// logged reason. Does nothing when the head has not moved since the last call. Because the
    /// pool remembers which head it followed, no caller can miss a reorg between two calls.
    pub fn revalidate(&self, ledger: &Ledger) -> Vec<Eviction> {
        let head = ledger.head();
        let mut inner = self.inner.lock().expect("mempool lock");
        if inner.revalidated_at == Some(head.hash) {
            return Vec::new();
        }
        if let Some(previous) = inner.revalidated_at
            && previous != head.header.parent_hash
        {
            match ledger.fork_of(&previous) {
                Ok(fork) if !fork.abandoned.is_empty() => {
                    let txs: Vec<Transaction> = fork
                        .abandoned
                        .into_iter()
                        .flat_map(|b| b.transactions)
                        .collect();
                    let offered = txs.len();
                    let back = inner.reinsert(txs, self.limit);
                    tracing::info!(target: "mempool", ancestor = fork.ancestor_height, offered, back, "transactions of abandoned blocks put back");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(target: "mempool", error = %e, "cannot read the abandoned branch; its transactions are not put back")
                }
            }
        }
        let senders: Vec<Address> = inner.by_sender.keys().copied().collect();
        let mut evictions = Vec::new();
        for sender in senders {
            // Each sender on the head state alone, as at admission: no pending credit from
            // another sender is counted on.
            let mut exec = Executor::new(ledger.store(), head.header.state_root);
            let account = match exec.account(&sender) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(target: "mempool", error = %e, "cannot read the head state; keeping the pool as it is");
                    return evictions;
                }
            };
            // Included (or replaced by a block) below the account nonce: gone without a word.
            if let Some(q) = inner.by_sender.get_mut(&sender) {
                let keep = q.split_off(&account.nonce);
                let dropped: Vec<Hash> = q.values().map(Transaction::hash).collect();
                *q = keep;
                for h in dropped {
                    inner.hashes.remove(&h);
                }
            }
            let queue: Vec<Transaction> = inner
                .by_sender
                .get(&sender)
                .map(|q| q.values().cloned().collect())
                .unwrap_or_default();
            if queue.is_empty() {
                inner.by_sender.remove(&sender);
                inner.arrival.remove(&sender);
                continue;
            }
            for tx in &queue {
                if let Err(e) = exec.apply_unpaid(tx) {
                    let reason = match e {
                        ExecError::Overflow => {
                            format!("recipient {} cannot receive it (overflow)", tx.recipient)
                        }
                        other => other.to_string(),
                    };
                    for dead in inner.remove_sender_from(&sender, tx.nonce) {
                        tracing::warn!(target: "mempool", tx = %to_hex(&dead.hash()), sender = %sender, nonce = dead.nonce, reason, "evicted: can no longer execute");
                        evictions.push(Eviction {
                            hash: dead.hash(),
                            sender,
                            nonce: dead.nonce,
                            reason: reason.clone(),
                        });
                    }
                    break;
                }
            }
        }
        inner.evicted += evictions.len() as u64;
        inner.revalidated_at = Some(head.hash);
        evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Genesis;
    use crate::chain::crypto::Keypair;
    use crate::chain::genesis::GenesisAccount;

    const CHAIN: u64 = 5;

    fn key(i: u8) -> Keypair {
        Keypair::from_seed([i; 32])
    }

    /// A ledger where keys 2.. have the given balances.
    fn ledger(balances: &[(u8, u64)], extra: &[(Address, u64)]) -> (Ledger, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut accounts: Vec<GenesisAccount> = balances
            .iter()
            .map(|(k, b)| GenesisAccount {
                address: key(*k).public().address().to_string(),
                balance: *b,
            })
            .collect();
        accounts.extend(extra.iter().map(|(a, b)| GenesisAccount {
            address: a.to_string(),
            balance: *b,
        }));
        let g = Genesis {
            chain_id: CHAIN,
            genesis_time_ms: 1_700_000_000_000,
            slot_ms: 1,
            validators: vec![crate::chain::genesis::GenesisValidator::Key(
                key(1).public().to_string(),
            )],
            accounts,
            dev_accounts: 0,
        };
        (Ledger::open(dir.path(), &g, 0).unwrap(), dir)
    }

    fn tx_to(l: &Ledger, from: &Keypair, nonce: u64, to: Address, amount: u64) -> Transaction {
        let mut tx = Transaction {
            chain_id: CHAIN,
            sender: from.public(),
            nonce,
            recipient: to,
            amount,
            fee: 1,
            signature: Default::default(),
        };
        tx.signature = from.sign(&tx.signing_message(&l.genesis_hash()));
        tx
    }

    fn tx(l: &Ledger, from: &Keypair, nonce: u64, amount: u64) -> Transaction {
        tx_to(l, from, nonce, Address([7; 20]), amount)
    }

    #[test]
    fn every_rejection_is_precise() {
        let (l, _dir) = ledger(&[(2, 100), (3, 10)], &[]);
        let pool = Mempool::new(3);
        let alice = key(2);
        let mut bad_sig = tx(&l, &alice, 0, 1);
        bad_sig.amount = 2;
        assert_eq!(
            pool.submit(bad_sig, &l),
            Err(MempoolError::BadSignature(CryptoError::BadSignature))
        );
        let mut other_chain = tx(&l, &alice, 0, 1);
        other_chain.chain_id = 6;
        other_chain.signature = alice.sign(&other_chain.signing_message(&l.genesis_hash()));
        assert_eq!(
            pool.submit(other_chain, &l),
            Err(MempoolError::WrongChain {
                expected: 5,
                got: 6
            })
        );
        assert_eq!(
            pool.submit(tx(&l, &alice, 2, 1), &l),
            Err(MempoolError::NonceTooHigh {
                expected: 0,
                got: 2
            })
        );
        assert_eq!(
            pool.submit(tx(&l, &alice, 0, 100), &l),
            Err(MempoolError::InsufficientBalance {
                needed: 101,
                available: 100
            })
        );
        assert!(pool.submit(tx(&l, &alice, 0, 50), &l).is_ok());
        assert_eq!(
            pool.submit(tx(&l, &alice, 0, 50), &l),
            Err(MempoolError::AlreadyPending {
                hash: to_hex(&tx(&l, &alice, 0, 50).hash())
            }),
            "a resubmitted pending transaction is named as such"
        );
        // The next nonce follows the pending one, and the balance counts pending spends.
        assert_eq!(
            pool.submit(tx(&l, &alice, 0, 1), &l),
            Err(MempoolError::NonceTooLow {
                expected: 1,
                got: 0
            })
        );
        assert_eq!(
            pool.submit(tx(&l, &alice, 1, 49), &l),
            Err(MempoolError::InsufficientBalance {
                needed: 101,
                available: 100
            })
        );
        assert!(pool.submit(tx(&l, &alice, 1, 10), &l).is_ok());
        assert!(pool.submit(tx(&l, &key(3), 0, 1), &l).is_ok());
        assert_eq!(
            pool.submit(tx(&l, &key(3), 1, 1), &l),
            Err(MempoolError::Full { limit: 3 })
        );
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn recipient_overflow_cannot_happen_and_is_still_checked() {
        // Genesis holds at most 2^64 - 1 in total and transfers only move value, so no balance
        // can overflow on a valid chain: a transfer to the account holding almost everything
        // is admitted.
        let rich = Address([9; 20]);
        let (l, _dir) = ledger(&[(2, 100)], &[(rich, u64::MAX - 100)]);
        let pool = Mempool::new(10);
        assert!(pool.submit(tx_to(&l, &key(2), 0, rich, 50), &l).is_ok());
        // The admission check still guards the state it executes on.
        let mut store = crate::state::MemoryStore::default();
        let mut exec = Executor::new(&store, crate::state::EMPTY_ROOT);
        exec.set_account(
            key(2).public().address(),
            crate::state::Account {
                nonce: 0,
                balance: 100,
            },
        );
        exec.set_account(
            rich,
            crate::state::Account {
                nonce: 0,
                balance: u64::MAX - 10,
            },
        );
        let (root, nodes) = exec.commit().unwrap();
        store.extend(nodes);
        let mut exec = Executor::new(&store, root);
        assert_eq!(
            exec.apply_unpaid(&tx_to(&l, &key(2), 0, rich, 50)),
            Err(ExecError::Overflow)
        );
        assert!(exec.apply_unpaid(&tx_to(&l, &key(2), 0, rich, 5)).is_ok());
    }

    #[test]
    fn small_order_senders_are_refused() {
        let (l, _dir) = ledger(&[], &[]);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut forged = Transaction {
            chain_id: CHAIN,
            sender: PublicKey(identity),
            nonce: 0,
            recipient: Address([1; 20]),
            amount: 0,
            fee: 0,
            signature: Default::default(),
        };
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        forged.signature = crate::chain::Signature(sig);
        assert_eq!(
            Mempool::new(10).submit(forged, &l),
            Err(MempoolError::SmallOrderSender(PublicKey(identity)))
        );
    }

    #[test]
    fn per_sender_bound_holds() {
        let (l, _dir) = ledger(&[(2, 1_000_000)], &[]);
        let pool = Mempool::new(10_000);
        for n in 0..MAX_PER_SENDER as u64 {
            pool.submit(tx(&l, &key(2), n, 1), &l).unwrap();
        }
        assert_eq!(
            pool.submit(tx(&l, &key(2), MAX_PER_SENDER as u64, 1), &l),
            Err(MempoolError::SenderFull {
                limit: MAX_PER_SENDER
            })
        );
    }

    #[test]
    fn candidates_keep_nonce_order_across_senders_in_arrival_order() {
        let (l, _dir) = ledger(&[(2, 1000), (3, 1000), (4, 1000)], &[]);
        let pool = Mempool::new(100);
        let (alice, bob) = (key(2), key(3));
        for n in 0..3 {
            pool.submit(tx(&l, &alice, n, 1), &l).unwrap();
            pool.submit(tx(&l, &bob, n, 1), &l).unwrap();
        }
        let c = pool.candidates(10);
        assert_eq!(c.len(), 6);
        for who in [&alice, &bob] {
            let nonces: Vec<u64> = c
                .iter()
                .filter(|t| t.sender == who.public())
                .map(|t| t.nonce)
                .collect();
            assert_eq!(nonces, vec![0, 1, 2]);
        }
        assert_eq!(c[0].sender, alice.public(), "first arrived, first served");
        assert_eq!(pool.candidates(3).len(), 3);
    }

    #[test]
    fn revalidation_drops_included_and_evicts_what_can_no_longer_execute() {
        let (l, _dir) = ledger(&[(2, 100), (3, 100)], &[]);
        let l = std::sync::Arc::new(l);
        let pool = Mempool::new(100);
        let (alice, bob) = (key(2), key(3));
        pool.submit(tx(&l, &alice, 0, 10), &l).unwrap();
        pool.submit(tx(&l, &alice, 1, 10), &l).unwrap();
        pool.submit(tx(&l, &bob, 0, 60), &l).unwrap();
        pool.submit(tx(&l, &bob, 1, 20), &l).unwrap();
        // Another node's block includes alice's nonce 0 and a transfer of bob's that spends his
        // balance with nonce 0: his pending nonce-0 transfer is stale and his nonce 1 can no
        // longer be paid for.
        let elsewhere = std::sync::Arc::new(Mempool::new(10));
        elsewhere.submit(tx(&l, &alice, 0, 10), &l).unwrap();
        elsewhere.submit(tx(&l, &bob, 0, 95), &l).unwrap();
        let producer = crate::producer::Producer::new(l.clone(), elsewhere, Some(key(1)), 10);
        assert_eq!(producer.produce(0).unwrap().transactions.len(), 2);
        let evicted = pool.revalidate(&l);
        assert_eq!(evicted.len(), 1, "{evicted:?}");
        assert_eq!(
            (evicted[0].sender, evicted[0].nonce),
            (bob.public().address(), 1)
        );
        assert!(
            evicted[0].reason.contains("insufficient balance"),
            "{}",
            evicted[0].reason
        );
        let left = pool.candidates(10);
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].sender, left[0].nonce), (alice.public(), 1));
        assert_eq!(pool.evicted(), 1);
        assert!(pool.revalidate(&l).is_empty(), "same head: nothing to do");
        // Bob's next nonce is usable again.
        assert!(pool.submit(tx(&l, &bob, 1, 1), &l).is_ok());
    }
}
