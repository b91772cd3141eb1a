//! The ledger: the validated chain on disk. It joins the pure rules (`chain`), state execution
//! (`state`) and storage (`storage`): opening a data directory for a genesis, importing a block
//! (validate header and body, execute, check the state root, then ONE atomic write of header, body,
//! indexes, trie nodes and head), fork choice with rollback to a common ancestor, and the reads the
//! RPC layer serves. New heads are published on a watch channel for producers, sync and
//! subscribers. It knows nothing of gRPC or peers.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use crate::chain::genesis::GenesisSpec;
use crate::chain::types::{Evidence, to_hex};
use crate::chain::{
    Address, Block, ChainRules, Genesis, GenesisError, Hash, Header, Transaction, ValidationError,
};
use crate::state::executor::BlockExecError;
use crate::state::trie::NewNodes;
use crate::state::{Account, Executor, Trie, TrieError};
use crate::storage::{StorageError, Store, TxLocation};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// State could not be read.
    #[error(transparent)]
    Trie(#[from] TrieError),
    /// The genesis file is unusable.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The data directory belongs to another network.
    #[error("data directory holds genesis {stored}, but the genesis file gives {expected}")]
    GenesisMismatch {
        /// Stored genesis hash.
        stored: String,
        /// From the genesis file.
        expected: String,
    },
    /// The database is inconsistent.
    #[error("database is inconsistent: {0}")]
    Inconsistent(String),
    /// A long operation was told to stop before it finished.
    #[error("interrupted before it finished")]
    Interrupted,
}

/// Why a block was not imported. Nothing of a rejected block is stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The parent is not stored.
    #[error("unknown parent {0}")]
    UnknownParent(String),
    /// A header or body rule failed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A transaction could not execute.
    #[error(transparent)]
    Execution(#[from] BlockExecError),
    /// Executing the block gives another state root than the header claims.
    #[error("state root after block {height} is {computed}, header claims {claimed}")]
    StateRootMismatch {
        /// Height.
        height: u64,
        /// Claimed.
        claimed: String,
        /// Computed.
        computed: String,
    },
    /// The block's branch leaves the canonical chain below the finalized block: no node may
    /// ever switch to it (a peer offering it is faulty).
    #[error(
        "block {height} forks from the chain at {fork_point}, below the finalized height {finalized}"
    )]
    ConflictsWithFinality {
        /// The block's height.
        height: u64,
        /// Where its branch leaves the canonical chain.
        fork_point: u64,
        /// Our finalized height.
        finalized: u64,
    },
    /// The ledger failed underneath.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<StorageError> for ImportError {
    fn from(e: StorageError) -> Self {
        Self::Ledger(e.into())
    }
}

impl From<TrieError> for ImportError {
    fn from(e: TrieError) -> Self {
        Self::Ledger(e.into())
    }
}

impl ImportError {
    /// True when the block itself is at fault (a peer that sent it misbehaved).
    pub fn is_invalid_block(&self) -> bool {
        matches!(
            self,
            Self::Invalid(_)
                | Self::Execution(_)
                | Self::StateRootMismatch { .. }
                | Self::ConflictsWithFinality { .. }
        )
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The block extends the canonical chain.
    Extended,
    /// The block won fork choice: the canonical chain was rolled back to `ancestor` and now ends
    /// with it.
    Reorganized {
        /// Height of the common ancestor.
        ancestor: u64,
        /// Canonical blocks that are no longer canonical.
        dropped: u64,
    },
    /// Stored on a side branch that does not (yet) beat the canonical head.
    SideChain,
    /// Already stored.
    AlreadyKnown,
}

/// Whether an import must verify signatures itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signatures {
    Unchecked,
    Verified,
}

/// The canonical head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Its hash.
    pub hash: Hash,
    /// Its header.
    pub header: Header,
}

/// The highest block that is final: it and its canonical descendants were produced by
/// validators holding more than half of the total stake. Never reverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finalized {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
}

/// Where a block stands relative to the canonical chain: the canonical block it descends from and
/// the non-canonical blocks between (ascending). For a canonical block: itself, no blocks.
#[derive(Debug, Clone)]
pub struct Fork {
    /// Height of the last canonical ancestor.
    pub ancestor_height: u64,
    /// Its hash.
    pub ancestor_hash: Hash,
    /// The abandoned (non-canonical) blocks after it, ascending.
    pub abandoned: Vec<Block>,
}

/// Tells the time: the system clock, or a controlled one in tests.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        now_ms()
    }
}

/// A clock that moves only when told (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock showing `ms`.
    pub fn new(ms: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(ms))
    }

    /// Sets the time.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What is wrong with a stored block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFaultKind {
    /// No canonical block, or its header or body is not stored.
    Missing,
    /// The block does not hash to its key, or block 0 is not the genesis.
    Hash,
    /// Wrong chain id, height or parent hash.
    Link,
    /// Produced by a validator that does not lead its slot, or a slot not after the parent's.
    Schedule,
    /// Timestamp not after the parent's (or too far ahead).
    Timestamp,
    /// The producer's signature does not verify.
    Signature,
    /// A transaction of the body is invalid (chain id, signature).
    Body,
    /// The body does not match the header's count or root.
    TxRoot,
    /// A transaction does not execute.
    Execution,
    /// Re-execution gives another state root.
    StateRoot,
}

/// A fault found by [`Ledger::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFault {
    /// Height of the faulty block.
    pub height: u64,
    /// What kind of fault.
    pub kind: ChainFaultKind,
    /// Details.
    pub message: String,
}

/// Result of [`Ledger::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blocks checked before stopping.
    pub blocks_checked: u64,
    /// The first fault, if any.
    pub fault: Option<ChainFault>,
}

/// The validated chain on disk.
pub struct Ledger {
    store: Arc<Store>,
    rules: ChainRules,
    genesis: GenesisSpec,
    genesis_hash: Hash,
    head: RwLock<Head>,
    finalized: RwLock<Finalized>,
    reorgs: std::sync::atomic::AtomicU64,
    import_lock: Mutex<()>,
    head_tx: watch::Sender<Head>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ledger(genesis {}, head {})",
            to_hex(&self.genesis_hash),
            self.head().header.height
        )
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Ledger {
    /// Opens `dir` for `genesis`, writing block 0 if the directory is new; refuses a directory
    /// created for another genesis.
    pub fn open(
        dir: &Path,
        genesis: &Genesis,
        max_future_drift_ms: u64,
    ) -> Result<Self, LedgerError> {
        Self::open_with_clock(dir, genesis, max_future_drift_ms, Arc::new(SystemClock))
    }

    /// [`Ledger::open`] with a given clock (a controlled one in simulations).
    pub fn open_with_clock(
        dir: &Path,
        genesis: &Genesis,
        max_future_drift_ms: u64,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LedgerError> {
        let spec = genesis.spec()?;
        let store = Arc::new(Store::open(dir)?);
        let (state_root, nodes) = genesis_state(&spec);
        let genesis_header = spec.header(state_root);
        let genesis_hash = genesis_header.hash();
        match store.genesis_hash()? {
            Some(stored) if stored != genesis_hash => {
                return Err(LedgerError::GenesisMismatch {
                    stored: to_hex(&stored),
                    expected: to_hex(&genesis_hash),
                });
            }
            Some(_) => {}
            None => {
                let block = Block {
                    header: genesis_header,
                    transactions: Vec::new(),
                };
                let mut set = store.write_set();
                set.put_block(&genesis_hash, &block);
                set.put_trie_nodes(&nodes);
                set.set_canonical(0, &genesis_hash, &[]);
                set.set_head(0, &genesis_hash);
                set.set_genesis(&genesis_hash);
                store.commit(set)?;
            }
        }
        let (height, hash) = store
            .head()?
            .ok_or_else(|| LedgerError::Inconsistent("no head".into()))?;
        let header = store.header(&hash)?.ok_or_else(|| {
            LedgerError::Inconsistent(format!("head {} at {height} has no header", to_hex(&hash)))
        })?;
        let head = Head { hash, header };
        let finalized = match store.finalized()? {
            Some((height, hash)) => Finalized { height, hash },
            None => Finalized {
                height: 0,
                hash: genesis_hash,
            },
        };
        let rules = ChainRules {
            chain_id: spec.chain_id,
            genesis_hash,
            schedule: Arc::new(spec.schedule()),
            max_future_drift_ms,
            verify_threads: 0,
        };
        let (head_tx, _) = watch::channel(head.clone());
        Ok(Self {
            store,
            rules,
            genesis: spec,
            genesis_hash,
            head: RwLock::new(head),
            finalized: RwLock::new(finalized),
            reorgs: std::sync::atomic::AtomicU64::new(0),
            import_lock: Mutex::new(()),
            head_tx,
            clock,
        })
    }

    /// The ledger's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current time by the ledger's clock (ms since the Unix epoch).
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The finalized block (genesis until a block is final).
    pub fn finalized(&self) -> Finalized {
        *self.finalized.read().expect("finalized lock")
    }

    /// Reorganizations since the ledger was opened.
    pub fn reorgs(&self) -> u64 {
        self.reorgs.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The slot of the head.
    pub fn head_slot(&self) -> u64 {
        self.rules.slot(&self.head().header)
    }

    /// The chain's rules.
    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }

    /// The parsed genesis.
    pub fn genesis(&self) -> &GenesisSpec {
        &self.genesis
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The underlying store (read access for sync serving and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A shared handle of the store (for what outlives a borrow, e.g. the peer book's bans).
    pub fn store_handle(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The canonical head.
    pub fn head(&self) -> Head {
        self.head.read().expect("head lock").clone()
    }

    /// A receiver that sees every new canonical head.
    pub fn subscribe_heads(&self) -> watch::Receiver<Head> {
        self.head_tx.subscribe()
    }

    /// Canonical header at `height`.
    pub fn header_at(&self, height: u64) -> Result<Option<Header>, StorageError> {
        match self.store.canonical_hash(height)? {
            Some(hash) => self.store.header(&hash),
            None => Ok(None),
        }
    }

    /// Canonical block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, StorageError> {
        match self.store.canonical_hash(height)? {
            Some(hash) => self.store.block(&hash),
            None => Ok(None),
        }
    }

    /// Whether `hash` is on the canonical chain.
    pub fn is_canonical(&self, header: &Header, hash: &Hash) -> Result<bool, StorageError> {
        Ok(self.store.canonical_hash(header.height)?.as_ref() == Some(hash))
    }

    /// A transaction and its canonical location.
    pub fn transaction(
        &self,
        hash: &Hash,
    ) -> Result<Option<(Transaction, TxLocation, Hash)>, StorageError> {
        let Some(loc) = self.store.tx_location(hash)? else {
            return Ok(None);
        };
        let block_hash = self.store.canonical_hash(loc.height)?.ok_or_else(|| {
            StorageError::Corrupt(format!("tx index points at missing height {}", loc.height))
        })?;
        let body = self
            .store
            .body(&block_hash)?
            .ok_or_else(|| StorageError::Corrupt(format!("no body for block at {}", loc.height)))?;
        let tx = body
            .get(loc.index as usize)
            .cloned()
            .ok_or_else(|| StorageError::Corrupt(format!("tx index {} beyond body", loc.index)))?;
        if tx.hash() != *hash {
            return Err(StorageError::Corrupt(format!(
                "tx index of {} points at another transaction",
                to_hex(hash)
            )));
        }
        Ok(Some((tx, loc, block_hash)))
    }

    /// An account in the state with root `state_root`, with a proof when asked.
    pub fn account(
        &self,
        state_root: &Hash,
        address: &Address,
        with_proof: bool,
    ) -> Result<(Option<Account>, Vec<Vec<u8>>), LedgerError> {
        let trie = Trie::at(self.store.as_ref(), *state_root);
        let key = crate::state::account::account_key(address);
        let account = trie
            .get(&key)?
            .map(|b| Account::decode(&b))
            .transpose()
            .map_err(|e| LedgerError::Inconsistent(format!("account {address}: {e}")))?;
        let proof = if with_proof {
            trie.prove(&key)?
        } else {
            Vec::new()
        };
        Ok((account, proof))
    }

    /// Validates, executes and stores `block`, applying fork choice (greater height wins; at equal
    /// height the lower hash). On any error nothing is written.
    pub fn import_block(&self, block: &Block, now_ms: u64) -> Result<ImportOutcome, ImportError> {
        self.import(block, now_ms, Signatures::Unchecked)
    }

    /// As [`Ledger::import_block`], for a block whose producer and transaction signatures the
    /// caller has already verified (sync verifies them in batches across cores before import);
    /// every other rule is still checked here.
    pub fn import_verified_block(
        &self,
        block: &Block,
        now_ms: u64,
    ) -> Result<ImportOutcome, ImportError> {
        self.import(block, now_ms, Signatures::Verified)
    }

    fn import(
        &self,
        block: &Block,
        now_ms: u64,
        signatures: Signatures,
    ) -> Result<ImportOutcome, ImportError> {
        let _guard = self.import_lock.lock().expect("import lock");
        let hash = block.hash();
        if self.store.header(&hash)?.is_some() {
            return Ok(ImportOutcome::AlreadyKnown);
        }
        let finalized = self.finalized();
        if block.header.height <= finalized.height {
            // Not stored, so not canonical: it would replace a final block.
            return Err(ImportError::ConflictsWithFinality {
                height: block.header.height,
                fork_point: block.header.height.saturating_sub(1),
                finalized: finalized.height,
            });
        }
        let parent = self
            .store
            .header(&block.header.parent_hash)?
            .ok_or_else(|| ImportError::UnknownParent(to_hex(&block.header.parent_hash)))?;
        self.rules.check_header_fields(
            &parent,
            &block.header.parent_hash,
            &block.header,
            now_ms,
        )?;
        if signatures == Signatures::Unchecked {
            self.rules.check_header_signature(&block.header)?;
            self.rules.check_body(&block.header, &block.transactions)?;
        } else {
            self.rules
                .check_body_structure(&block.header, &block.transactions)?;
        }
        let nodes = self.execute(&parent.state_root, block)?;
        self.store_block(block, hash, &nodes)
    }

    /// Executes `block` on the state at `parent_root` and checks the resulting state root.
    fn execute(&self, parent_root: &Hash, block: &Block) -> Result<NewNodes, ImportError> {
        let mut exec = Executor::new(self.store.as_ref(), *parent_root);
        exec.apply_block(&block.transactions, &block.header.producer.address())?;
        let (root, nodes) = exec.commit()?;
        if root != block.header.state_root {
            return Err(ImportError::StateRootMismatch {
                height: block.header.height,
                claimed: to_hex(&block.header.state_root),
                computed: to_hex(&root),
            });
        }
        Ok(nodes)
    }

    /// Writes a validated block (one batch) and moves the head if it wins fork choice: the
    /// longer chain, at equal height the lower head hash, never a branch leaving the chain below
    /// the finalized block. Finality, the canonical index and the head move in the same batch; a
    /// second block of one validator for one slot is recorded as evidence in it too.
    fn store_block(
        &self,
        block: &Block,
        hash: Hash,
        nodes: &NewNodes,
    ) -> Result<ImportOutcome, ImportError> {
        let head = self.head();
        let height = block.header.height;
        let slot = self.rules.slot(&block.header);
        let mut set = self.store.write_set();
        set.put_block(&hash, block);
        set.put_trie_nodes(nodes);
        if let Some(evidence) = self.equivocation(&block.header, &hash, slot)? {
            tracing::warn!(target: "ledger::evidence", slot, producer = %evidence.producer, "a validator signed two blocks for one slot; evidence recorded");
            set.put_evidence(&evidence);
        } else {
            set.put_slot(slot, &block.header.producer, &hash);
        }
        let outcome = if block.header.parent_hash == head.hash {
            set.set_canonical(height, &hash, &block.transactions);
            set.set_head(height, &hash);
            ImportOutcome::Extended
        } else if height > head.header.height || (height == head.header.height && hash < head.hash)
        {
            let (ancestor, branch) = self.branch_to_canonical(block, hash)?;
            let finalized = self.finalized();
            if ancestor < finalized.height {
                return Err(ImportError::ConflictsWithFinality {
                    height,
                    fork_point: ancestor,
                    finalized: finalized.height,
                });
            }
            for h in ancestor + 1..=head.header.height {
                let old = self.block_at(h)?.ok_or_else(|| {
                    LedgerError::Inconsistent(format!("no canonical block at {h}"))
                })?;
                set.unset_canonical(h, &old.transactions);
            }
            for (b, bh) in &branch {
                set.set_canonical(b.header.height, bh, &b.transactions);
            }
            set.set_head(height, &hash);
            ImportOutcome::Reorganized {
                ancestor,
                dropped: head.header.height - ancestor,
            }
        } else {
            ImportOutcome::SideChain
        };
        let finalized = if outcome == ImportOutcome::SideChain {
            None
        } else {
            self.finality_of(&block.header, hash)?
        };
        if let Some(f) = finalized {
            set.set_finalized(f.height, &f.hash);
        }
        self.store.commit(set)?;
        if let Some(f) = finalized {
            *self.finalized.write().expect("finalized lock") = f;
        }
        if let ImportOutcome::Reorganized { ancestor, dropped } = outcome {
            let total = self
                .reorgs
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            tracing::warn!(target: "ledger::reorg", ancestor, depth = dropped, new_height = height, new_head = %to_hex(&hash), reorgs = total, "reorganized onto a heavier branch");
        }
        if outcome != ImportOutcome::SideChain {
            let new_head = Head {
                hash,
                header: block.header.clone(),
            };
            *self.head.write().expect("head lock") = new_head.clone();
            self.head_tx.send_replace(new_head);
        }
        Ok(outcome)
    }

    /// The finalized block once `header` (hash `hash`) is the head, if it is higher than the
    /// current one: walking back from the head, the first block at which the producers seen so
    /// far (distinct keys) hold more than half of the total stake. The walk stops at the current
    /// finalized height, below which nothing changes.
    fn finality_of(&self, header: &Header, hash: Hash) -> Result<Option<Finalized>, ImportError> {
        let current = self.finalized();
        let schedule = &self.rules.schedule;
        let total = schedule.total_stake();
        let mut seen = std::collections::BTreeSet::new();
        let mut stake = 0u64;
        let (mut header, mut hash) = (header.clone(), hash);
        while header.height > current.height {
            if seen.insert(header.producer) {
                stake += schedule.stake_of(&header.producer);
            }
            if stake * 2 > total {
                return Ok(Some(Finalized {
                    height: header.height,
                    hash,
                }));
            }
            hash = header.parent_hash;
            header = self.store.header(&hash)?.ok_or_else(|| {
                LedgerError::Inconsistent(format!("ancestor {} not stored", to_hex(&hash)))
            })?;
        }
        Ok(None)
    }

    /// Evidence when `header` (hash `hash`) is a second block of its producer for `slot`.
    fn equivocation(
        &self,
        header: &Header,
        hash: &Hash,
        slot: u64,
    ) -> Result<Option<Evidence>, StorageError> {
        let Some(other) = self.store.slot_block(slot, &header.producer)? else {
            return Ok(None);
        };
        if &other == hash {
            return Ok(None);
        }
        let Some(other) = self.store.header(&other)? else {
            return Ok(None);
        };
        let mut headers = [other, header.clone()];
        headers.sort_by_key(Header::hash);
        Ok(Some(Evidence {
            slot,
            producer: header.producer,
            headers,
        }))
    }

    /// Records evidence if `header` (signed, as announced by a peer, not necessarily imported)
    /// is a second block of its producer for its slot. Returns true when new evidence was stored.
    pub fn note_announced_header(&self, header: &Header) -> Result<bool, LedgerError> {
        if header.chain_id != self.rules.chain_id
            || self.rules.schedule.stake_of(&header.producer) == 0
        {
            return Ok(false);
        }
        let slot = self.rules.slot(header);
        let Some(evidence) = self.equivocation(header, &header.hash(), slot)? else {
            return Ok(false);
        };
        // Only a signed second header is evidence; checked last, as it is the costly part.
        if self.store.has_evidence(slot, &header.producer)?
            || self.rules.check_header_signature(header).is_err()
        {
            return Ok(false);
        }
        tracing::warn!(target: "ledger::evidence", slot, producer = %evidence.producer, "an announced header is a second block of its validator for one slot; evidence recorded");
        let mut set = self.store.write_set();
        set.put_evidence(&evidence);
        self.store.commit(set)?;
        Ok(true)
    }

    /// Every recorded equivocation, by producer then slot.
    pub fn evidence(&self) -> Result<Vec<Evidence>, StorageError> {
        self.store.evidence()
    }

    /// Where the block `hash` stands relative to the canonical chain now: its last canonical
    /// ancestor and the non-canonical blocks after it. Used to tell subscribers about a reorg and
    /// to give the transactions of abandoned blocks back to the mempool.
    pub fn fork_of(&self, hash: &Hash) -> Result<Fork, LedgerError> {
        let mut abandoned = Vec::new();
        let mut cursor = *hash;
        loop {
            let block = self.store.block(&cursor)?.ok_or_else(|| {
                LedgerError::Inconsistent(format!("block {} not stored", to_hex(&cursor)))
            })?;
            if self.store.canonical_hash(block.header.height)? == Some(cursor) {
                abandoned.reverse();
                return Ok(Fork {
                    ancestor_height: block.header.height,
                    ancestor_hash: cursor,
                    abandoned,
                });
            }
            cursor = block.header.parent_hash;
            abandoned.push(block);
        }
    }

    /// Walks back from `block` to the canonical chain; returns the ancestor height and the branch
    /// (ascending, ending with `block`).
    fn branch_to_canonical(
        &self,
        block: &Block,
        hash: Hash,
    ) -> Result<(u64, Vec<(Block, Hash)>), ImportError> {
        let mut branch = vec![(block.clone(), hash)];
        let mut cursor = block.header.parent_hash;
        loop {
            let parent = self.store.block(&cursor)?.ok_or_else(|| {
                LedgerError::Inconsistent(format!("side branch misses block {}", to_hex(&cursor)))
            })?;
            if self.store.canonical_hash(parent.header.height)? == Some(cursor) {
                branch.reverse();
                return Ok((parent.header.height, branch));
            }
            let next = parent.header.parent_hash;
            branch.push((parent, cursor));
            cursor = next;
        }
    }

    /// Re-checks the stored canonical chain from `from` to `to` (inclusive): presence, hashes,
    /// links, schedule, timestamps, signatures, tx roots, and the state root by re-execution.
    pub fn verify_chain(&self, from: u64, to: u64) -> Result<VerifyReport, LedgerError> {
        self.verify_chain_until(from, to, &|| false)
    }

    /// [`Ledger::verify_chain`], asking `stop` before each block and ending with
    /// [`LedgerError::Interrupted`] when it says so (the caller went away).
    pub fn verify_chain_until(
        &self,
        from: u64,
        to: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<VerifyReport, LedgerError> {
        let mut checked = 0;
        let fault = |height, kind, message: String| ChainFault {
            height,
            kind,
            message,
        };
        let mut parent: Option<(Header, Hash)> = None;
        if from > 0 {
            let h = self.store.canonical_hash(from - 1)?;
            if let Some(h) = h
                && let Some(header) = self.store.header(&h)?
            {
                parent = Some((header, h));
            }
        }
        for height in from..=to {
            if stop() {
                return Err(LedgerError::Interrupted);
            }
            let Some(hash) = self.store.canonical_hash(height)? else {
                return Ok(VerifyReport {
                    blocks_checked: checked,
                    fault: Some(fault(
                        height,
                        ChainFaultKind::Missing,
                        "no canonical hash".into(),
                    )),
                });
            };
            let Some(block) = self.store.block(&hash)? else {
                return Ok(VerifyReport {
                    blocks_checked: checked,
                    fault: Some(fault(
                        height,
                        ChainFaultKind::Missing,
                        format!("block {} not stored", to_hex(&hash)),
                    )),
                });
            };
            let found = (|| -> Result<Option<ChainFault>, LedgerError> {
                let header = &block.header;
                if header.hash() != hash {
                    return Ok(Some(fault(
                        height,
                        ChainFaultKind::Hash,
                        format!(
                            "stored under {} but hashes to {}",
                            to_hex(&hash),
                            to_hex(&header.hash())
                        ),
                    )));
                }
                if header.height != height {
                    return Ok(Some(fault(
                        height,
                        ChainFaultKind::Link,
                        format!("header says height {}", header.height),
                    )));
                }
                let Some((parent, parent_hash)) = &parent else {
                    if height == 0 && hash != self.genesis_hash {
                        return Ok(Some(fault(
                            0,
                            ChainFaultKind::Hash,
                            "block 0 is not the genesis block".into(),
                        )));
                    }
                    return Ok(None);
                };
                if let Err(e) = self.rules.check_header_fields(
                    parent,
                    parent_hash,
                    header,
                    u64::MAX - self.rules.max_future_drift_ms,
                ) {
                    let kind = match e {
                        ValidationError::WrongProducer { .. }
                        | ValidationError::SlotNotIncreasing { .. } => ChainFaultKind::Schedule,
                        ValidationError::TimestampNotIncreasing { .. }
                        | ValidationError::TimestampInFuture { .. } => ChainFaultKind::Timestamp,
                        _ => ChainFaultKind::Link,
                    };
                    return Ok(Some(fault(height, kind, e.to_string())));
                }
                if let Err(e) = self.rules.check_header_signature(header) {
                    return Ok(Some(fault(
                        height,
                        ChainFaultKind::Signature,
                        e.to_string(),
                    )));
                }
                if let Err(e) = self.rules.check_body(header, &block.transactions) {
                    let kind = match e {
                        ValidationError::TxRootMismatch { .. }
                        | ValidationError::TxCountMismatch { .. } => ChainFaultKind::TxRoot,
                        _ => ChainFaultKind::Body,
                    };
                    return Ok(Some(fault(height, kind, e.to_string())));
                }
                let mut exec = Executor::new(self.store.as_ref(), parent.state_root);
                if let Err(e) = exec.apply_block(&block.transactions, &header.producer.address()) {
                    return Ok(Some(fault(
                        height,
                        ChainFaultKind::Execution,
                        e.to_string(),
                    )));
                }
                let (root, _) = exec.commit()?;
                if root != header.state_root {
                    return Ok(Some(fault(
                        height,
                        ChainFaultKind::StateRoot,
                        format!(
                            "re-execution gives {}, header claims {}",
                            to_hex(&root),
                            to_hex(&header.state_root)
                        ),
                    )));
                }
                Ok(None)
            })()?;
            if let Some(f) = found {
                return Ok(VerifyReport {
                    blocks_checked: checked,
                    fault: Some(f),
                });
            }
            checked += 1;
            parent = Some((block.header, hash));
        }
        Ok(VerifyReport {
            blocks_checked: checked,
            fault: None,
        })
    }
}

/// The genesis hash of `genesis` (the hash of its block 0), as a node running it reports it.
pub fn genesis_hash(genesis: &Genesis) -> Result<Hash, GenesisError> {
    let spec = genesis.spec()?;
    let (state_root, _) = genesis_state(&spec);
    Ok(spec.header(state_root).hash())
}

/// The genesis state root and its trie nodes.
pub fn genesis_state(spec: &GenesisSpec) -> (Hash, NewNodes) {
    let empty = crate::state::MemoryStore::default();
    let mut exec = Executor::new(&empty, crate::state::EMPTY_ROOT);
    for (address, balance) in &spec.accounts {
        exec.set_account(
            *address,
            Account {
                nonce: 0,
                balance: *balance,
            },
        );
    }
    exec.commit()
        .expect("an in-memory trie built from scratch cannot miss nodes")
}
