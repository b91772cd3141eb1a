//! Consensus rules that need no state: the proof-of-authority slot schedule, header linkage, timestamps,
//! signatures, and a body's agreement with its header. Execution rules (nonces, balances, the state
//! root) live in `state::executor`. Time is a parameter, never read here.

use std::sync::Arc;

use super::crypto::{self, BatchFailure, CryptoError, VerifyItem};
use super::merkle;
use super::schedule::Schedule;
use super::types::{Hash, Header, PublicKey, Transaction, to_hex};

/// Why a header or body is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ValidationError {
    /// Another chain id.
    #[error("chain id {got} (expected {expected})")]
    WrongChain {
        /// Our chain id.
        expected: u64,
        /// What the header or transaction carried.
        got: u64,
    },
    /// The header does not follow its parent by exactly one height.
    #[error("height {got} does not follow parent height {parent}")]
    HeightGap {
        /// Parent height.
        parent: u64,
        /// Header height.
        got: u64,
    },
    /// parent_hash is not the parent's hash.
    #[error("parent hash {got} is not the hash of block {height} ({expected})")]
    BrokenLink {
        /// Parent height.
        height: u64,
        /// Actual parent hash.
        expected: String,
        /// Claimed parent hash.
        got: String,
    },
    /// Timestamp not after the parent's.
    #[error("timestamp {got} is not after the parent's {parent}")]
    TimestampNotIncreasing {
        /// Parent timestamp.
        parent: u64,
        /// Header timestamp.
        got: u64,
    },
    /// Timestamp too far ahead of local time.
    #[error("timestamp {got} is more than {drift_ms} ms after local time {now}")]
    TimestampInFuture {
        /// Header timestamp.
        got: u64,
        /// Local time.
        now: u64,
        /// Allowed drift.
        drift_ms: u64,
    },
    /// The slot is not after the parent's slot.
    #[error("slot {slot} is not after the parent's slot {parent_slot}")]
    SlotNotIncreasing {
        /// The parent's slot.
        parent_slot: u64,
        /// The header's slot.
        slot: u64,
    },
    /// Produced by a key that does not lead the block's slot.
    #[error("slot {slot} is led by {expected}, produced by {got}")]
    WrongProducer {
        /// The block's slot.
        slot: u64,
        /// Scheduled validator.
        expected: PublicKey,
        /// Header's producer.
        got: PublicKey,
    },
    /// The producer's signature does not verify.
    #[error("producer signature of block {height}: {error}")]
    BadHeaderSignature {
        /// Height.
        height: u64,
        /// Why.
        error: CryptoError,
    },
    /// Body has a different number of transactions than the header says.
    #[error("body has {got} transactions, header says {expected}")]
    TxCountMismatch {
        /// From the header.
        expected: u32,
        /// In the body.
        got: usize,
    },
    /// Body's transactions root differs from the header's.
    #[error("transactions root {got} does not match header {expected}")]
    TxRootMismatch {
        /// From the header.
        expected: String,
        /// Computed.
        got: String,
    },
    /// A transaction signed for another chain.
    #[error("transaction {index}: chain id {got} (expected {expected})")]
    TxWrongChain {
        /// Position.
        index: usize,
        /// Ours.
        expected: u64,
        /// Carried.
        got: u64,
    },
    /// A transaction's sender key is a point of small order.
    #[error("transaction {index}: sender key {sender} is of small order (anyone can sign for it)")]
    SmallOrderSender {
        /// Position.
        index: usize,
        /// The key.
        sender: PublicKey,
    },
    /// A transaction's signature does not verify.
    #[error("transaction {index}: {error}")]
    BadTxSignature {
        /// Position.
        index: usize,
        /// Why.
        error: CryptoError,
    },
}

/// The rules of one chain: identity, slot schedule, allowed clock drift.
#[derive(Clone, Debug)]
pub struct ChainRules {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash: transaction signatures are bound to it.
    pub genesis_hash: Hash,
    /// Who leads each slot (from genesis).
    pub schedule: Arc<Schedule>,
    /// How far (ms) a timestamp may be ahead of local time.
    pub max_future_drift_ms: u64,
    /// Threads for signature verification (0 = all cores).
    pub verify_threads: usize,
}

impl ChainRules {
    /// The slot of a header.
    pub fn slot(&self, header: &Header) -> u64 {
        self.schedule.slot_of(header.timestamp_ms)
    }

    /// Everything about `header` except its signature, given its parent.
    pub fn check_header_fields(
        &self,
        parent: &Header,
        parent_hash: &Hash,
        header: &Header,
        now_ms: u64,
    ) -> Result<(), ValidationError> {
        if header.chain_id != self.chain_id {
            return Err(ValidationError::WrongChain {
                expected: self.chain_id,
                got: header.chain_id,
            });
        }
        if header.height != parent.height + 1 {
            return Err(ValidationError::HeightGap {
                parent: parent.height,
                got: header.height,
            });
        }
        if &header.parent_hash != parent_hash {
            return Err(ValidationError::BrokenLink {
                height: parent.height,
                expected: to_hex(parent_hash),
                got: to_hex(&header.parent_hash),
            });
        }
        if header.timestamp_ms <= parent.timestamp_ms {
            return Err(ValidationError::TimestampNotIncreasing {
                parent: parent.timestamp_ms,
                got: header.timestamp_ms,
            });
        }
        if header.timestamp_ms > now_ms.saturating_add(self.max_future_drift_ms) {
            return Err(ValidationError::TimestampInFuture {
                got: header.timestamp_ms,
                now: now_ms,
                drift_ms: self.max_future_drift_ms,
            });
        }
        let (parent_slot, slot) = (self.slot(parent), self.slot(header));
        if slot <= parent_slot {
            return Err(ValidationError::SlotNotIncreasing { parent_slot, slot });
        }
        let expected = self.schedule.leader(slot);
        if &header.producer != expected {
            return Err(ValidationError::WrongProducer {
                slot,
                expected: *expected,
                got: header.producer,
            });
        }
        Ok(())
    }

    /// The producer's signature over the header hash.
    pub fn check_header_signature(&self, header: &Header) -> Result<(), ValidationError> {
        crypto::verify(
            &header.producer,
            &header.signing_message(),
            &header.signature,
        )
        .map_err(|error| ValidationError::BadHeaderSignature {
            height: header.height,
            error,
        })
    }

    /// A whole header against its parent, signature included.
    pub fn check_header(
        &self,
        parent: &Header,
        header: &Header,
        now_ms: u64,
    ) -> Result<(), ValidationError> {
        self.check_header_fields(parent, &parent.hash(), header, now_ms)?;
        self.check_header_signature(header)
    }

    /// Signatures of many headers at once (batch, across cores). Fields must be checked first.
    pub fn check_header_signatures(&self, headers: &[Header]) -> Result<(), ValidationError> {
        let messages: Vec<Vec<u8>> = headers.iter().map(Header::signing_message).collect();
        let items: Vec<VerifyItem<'_>> = headers
            .iter()
            .zip(&messages)
            .map(|(h, m)| (&h.producer, m.as_slice(), &h.signature))
            .collect();
        crypto::verify_parallel(&items, self.verify_threads).map_err(
            |BatchFailure { index, error }| ValidationError::BadHeaderSignature {
                height: headers[index].height,
                error,
            },
        )
    }

    /// A body against its (already validated) header: count, root, chain ids, signatures.
    pub fn check_body(&self, header: &Header, txs: &[Transaction]) -> Result<(), ValidationError> {
        self.check_body_structure(header, txs)?;
        self.check_transactions(txs)
    }

    /// Everything about a body except its signatures: count, root, chain ids.
    pub fn check_body_structure(
        &self,
        header: &Header,
        txs: &[Transaction],
    ) -> Result<(), ValidationError> {
        if txs.len() != header.tx_count as usize {
            return Err(ValidationError::TxCountMismatch {
                expected: header.tx_count,
                got: txs.len(),
            });
        }
        let root = merkle::tx_root(txs);
        if root != header.tx_root {
            return Err(ValidationError::TxRootMismatch {
                expected: to_hex(&header.tx_root),
                got: to_hex(&root),
            });
        }
        self.check_senders(txs)
    }

    /// Rules of each transaction that need no signature check and no state: the chain id, and a
    /// sender key that is not of small order (anyone can sign for those under ZIP 215).
    fn check_senders(&self, txs: &[Transaction]) -> Result<(), ValidationError> {
        for (index, tx) in txs.iter().enumerate() {
            if tx.chain_id != self.chain_id {
                return Err(ValidationError::TxWrongChain {
                    index,
                    expected: self.chain_id,
                    got: tx.chain_id,
                });
            }
            if crypto::is_small_order(&tx.sender) {
                return Err(ValidationError::SmallOrderSender {
                    index,
                    sender: tx.sender,
                });
            }
        }
        Ok(())
    }

    /// Chain ids, sender keys and signatures of transactions.
    pub fn check_transactions(&self, txs: &[Transaction]) -> Result<(), ValidationError> {
        self.check_senders(txs)?;
        let messages: Vec<Vec<u8>> = txs
            .iter()
            .map(|t| t.signing_message(&self.genesis_hash))
            .collect();
        let items: Vec<VerifyItem<'_>> = txs
            .iter()
            .zip(&messages)
            .map(|(t, m)| (&t.sender, m.as_slice(), &t.signature))
            .collect();
        crypto::verify_parallel(&items, self.verify_threads).map_err(
            |BatchFailure { index, error }| ValidationError::BadTxSignature { index, error },
        )
    }
}
