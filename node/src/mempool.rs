//! The mempool: signed transactions waiting for a block, bounded in count, kept per sender in
//! nonce order with no gaps. Admission checks everything that can be checked before execution and
//! says precisely why a transaction is refused.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use crate::chain::crypto::{self, CryptoError};
use crate::chain::{Address, ChainRules, Hash, Transaction};
use crate::state::Account;

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
    /// The pool holds its maximum.
    #[error("mempool full ({limit} transactions)")]
    Full {
        /// The bound.
        limit: usize,
    },
}

#[derive(Default)]
struct Inner {
    by_sender: HashMap<Address, BTreeMap<u64, Transaction>>,
    hashes: HashSet<Hash>,
    /// When each sender's queue got its current first transaction (arrival order).
    arrival: HashMap<Address, u64>,
    next_arrival: u64,
}

/// The pool of pending transactions.
pub struct Mempool {
    limit: usize,
    inner: Mutex<Inner>,
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
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("mempool lock").hashes.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits `tx` given the sender's account at the head.
    pub fn submit(
        &self,
        tx: Transaction,
        rules: &ChainRules,
        account: Account,
    ) -> Result<Hash, MempoolError> {
        if tx.chain_id != rules.chain_id {
            return Err(MempoolError::WrongChain {
                expected: rules.chain_id,
                got: tx.chain_id,
            });
        }
        crypto::verify(&tx.sender, &tx.signing_message(), &tx.signature)
            .map_err(MempoolError::BadSignature)?;
        let cost = tx.total_cost().ok_or(MempoolError::Overflow)?;
        let hash = tx.hash();
        let mut inner = self.inner.lock().expect("mempool lock");
        if inner.hashes.contains(&hash) {
            return Err(MempoolError::AlreadyPending {
                hash: crate::chain::types::to_hex(&hash),
            });
        }
        let sender = tx.sender_address();
        let pending = inner.by_sender.get(&sender);
        let pending_count = pending.map_or(0, |p| p.range(account.nonce..).count() as u64);
        let expected = account.nonce + pending_count;
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
        let pending_cost = pending
            .map(|p| {
                p.range(account.nonce..)
                    .try_fold(0u64, |acc, (_, t)| acc.checked_add(t.total_cost()?))
            })
            .unwrap_or(Some(0))
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
        if inner.hashes.len() >= self.limit {
            return Err(MempoolError::Full { limit: self.limit });
        }
        inner.hashes.insert(hash);
        let seq = inner.next_arrival;
        inner.next_arrival += 1;
        inner.arrival.entry(sender).or_insert(seq);
        inner
            .by_sender
            .entry(sender)
            .or_default()
            .insert(tx.nonce, tx);
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

    /// Drops transactions that are in a block now, and any whose nonce is below its sender's
    /// account nonce (`nonce_of`).
    pub fn prune(&self, included: &[Transaction], nonce_of: impl Fn(&Address) -> Option<u64>) {
        let mut inner = self.inner.lock().expect("mempool lock");
        for tx in included {
            let sender = tx.sender_address();
            if let Some(q) = inner.by_sender.get_mut(&sender)
                && q.get(&tx.nonce).is_some_and(|t| t == tx)
            {
                q.remove(&tx.nonce);
            }
        }
        let Inner {
            by_sender,
            hashes,
            arrival,
            ..
        } = &mut *inner;
        by_sender.retain(|sender, q| {
            if let Some(nonce) = nonce_of(sender) {
                *q = q.split_off(&nonce);
            }
            !q.is_empty()
        });
        arrival.retain(|sender, _| by_sender.contains_key(sender));
        *hashes = by_sender
            .values()
            .flat_map(|q| q.values().map(Transaction::hash))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::crypto::Keypair;

    fn rules() -> ChainRules {
        ChainRules {
            chain_id: 5,
            validators: vec![Keypair::from_seed([1; 32]).public()],
            max_future_drift_ms: 0,
            verify_threads: 1,
        }
    }

    fn tx(from: &Keypair, nonce: u64, amount: u64) -> Transaction {
        let mut tx = Transaction {
            chain_id: 5,
            sender: from.public(),
            nonce,
            recipient: Address([7; 20]),
            amount,
            fee: 1,
            signature: Default::default(),
        };
        tx.signature = from.sign(&tx.signing_message());
        tx
    }

    #[test]
    fn every_rejection_is_precise() {
        let pool = Mempool::new(3);
        let r = rules();
        let alice = Keypair::from_seed([2; 32]);
        let funded = Account {
            nonce: 4,
            balance: 100,
        };
        let mut bad_sig = tx(&alice, 4, 1);
        bad_sig.amount = 2;
        assert_eq!(
            pool.submit(bad_sig, &r, funded),
            Err(MempoolError::BadSignature(CryptoError::BadSignature))
        );
        let mut other_chain = tx(&alice, 4, 1);
        other_chain.chain_id = 6;
        other_chain.signature = alice.sign(&other_chain.signing_message());
        assert_eq!(
            pool.submit(other_chain, &r, funded),
            Err(MempoolError::WrongChain {
                expected: 5,
                got: 6
            })
        );
        assert_eq!(
            pool.submit(tx(&alice, 3, 1), &r, funded),
            Err(MempoolError::NonceTooLow {
                expected: 4,
                got: 3
            })
        );
        assert_eq!(
            pool.submit(tx(&alice, 6, 1), &r, funded),
            Err(MempoolError::NonceTooHigh {
                expected: 4,
                got: 6
            })
        );
        assert_eq!(
            pool.submit(tx(&alice, 4, 100), &r, funded),
            Err(MempoolError::InsufficientBalance {
                needed: 101,
                available: 100
            })
        );
        assert!(pool.submit(tx(&alice, 4, 50), &r, funded).is_ok());
        assert_eq!(
            pool.submit(tx(&alice, 4, 50), &r, funded),
            Err(MempoolError::AlreadyPending {
                hash: crate::chain::types::to_hex(&tx(&alice, 4, 50).hash())
            }),
            "a resubmitted pending transaction is named as such"
        );
        // The next nonce follows the pending one, and the balance counts pending spends.
        assert_eq!(
            pool.submit(tx(&alice, 4, 1), &r, funded),
            Err(MempoolError::NonceTooLow {
                expected: 5,
                got: 4
            })
        );
        assert_eq!(
            pool.submit(tx(&alice, 5, 49), &r, funded),
            Err(MempoolError::InsufficientBalance {
                needed: 101,
                available: 100
            })
        );
        assert!(pool.submit(tx(&alice, 5, 10), &r, funded).is_ok());
        let bob = Keypair::from_seed([3; 32]);
        assert!(
            pool.submit(
                tx(&bob, 0, 1),
                &r,
                Account {
                    nonce: 0,
                    balance: 10
                }
            )
            .is_ok()
        );
        assert_eq!(
            pool.submit(
                tx(&bob, 1, 1),
                &r,
                Account {
                    nonce: 0,
                    balance: 10
                }
            ),
            Err(MempoolError::Full { limit: 3 })
        );
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn candidates_keep_nonce_order_and_prune_drops_included() {
        let pool = Mempool::new(100);
        let r = rules();
        let alice = Keypair::from_seed([2; 32]);
        let bob = Keypair::from_seed([3; 32]);
        let acct = Account {
            nonce: 0,
            balance: 1000,
        };
        for n in 0..3 {
            pool.submit(tx(&alice, n, 1), &r, acct).unwrap();
            pool.submit(tx(&bob, n, 1), &r, acct).unwrap();
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
        assert_eq!(pool.candidates(3).len(), 3);
        let included: Vec<Transaction> = c.iter().filter(|t| t.nonce == 0).cloned().collect();
        pool.prune(&included, |a| (*a == alice.public().address()).then_some(2));
        // Alice's account nonce is 2 now: her nonce-1 transaction is stale too.
        assert_eq!(pool.len(), 3);
        let left = pool.candidates(10);
        assert!(
            left.iter()
                .any(|t| t.sender == alice.public() && t.nonce == 2)
        );
        assert_eq!(left.iter().filter(|t| t.sender == bob.public()).count(), 2);
    }

    #[test]
    fn senders_are_served_in_arrival_order_across_blocks() {
        let pool = Mempool::new(100);
        let r = rules();
        let k: Vec<Keypair> = (0..3u8).map(|i| Keypair::from_seed([i + 10; 32])).collect();
        let acct = |n| Account {
            nonce: n,
            balance: 100,
        };
        pool.submit(tx(&k[0], 0, 1), &r, acct(0)).unwrap();
        pool.submit(tx(&k[1], 0, 1), &r, acct(0)).unwrap();
        let first = pool.candidates(10);
        assert_eq!(
            first.iter().map(|x| x.sender).collect::<Vec<_>>(),
            vec![k[0].public(), k[1].public()]
        );
        pool.prune(&first, |_| Some(1));
        assert!(pool.is_empty());
        pool.submit(tx(&k[2], 0, 1), &r, acct(0)).unwrap();
        pool.submit(tx(&k[0], 1, 1), &r, acct(1)).unwrap();
        let second = pool.candidates(10);
        assert_eq!(
            second.iter().map(|x| x.sender).collect::<Vec<_>>(),
            vec![k[2].public(), k[0].public()]
        );
    }
}
