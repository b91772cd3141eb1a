//! RocksDB storage: one column family per kind of record (headers, bodies, the canonical
//! height→hash index, the tx hash→location index, trie nodes, metadata, peer bans, the
//! (slot, producer)→block index and equivocation evidence). Every change to the chain
//! goes through a [`WriteSet`], written as ONE atomic `WriteBatch`: a process killed at any moment
//! leaves the database at the previous or the next consistent state. This module knows nothing of
//! validation, sync or gRPC.

use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, MemtableFactory, Options, SliceTransform, WriteBatch,
};

use crate::chain::encoding::{self, DecodeError};
use crate::chain::{Block, Hash, Header, Transaction};
use crate::state::{NodeStore, TrieError};

const CF_HEADERS: &str = "headers";
const CF_BODIES: &str = "bodies";
const CF_CANONICAL: &str = "canonical";
const CF_TX_INDEX: &str = "tx_index";
const CF_TRIE: &str = "trie";
const CF_META: &str = "meta";
const CF_PEERS: &str = "peers";
const CF_SLOTS: &str = "slots";
const CF_EVIDENCE: &str = "evidence";
const COLUMN_FAMILIES: [&str; 9] = [
    CF_HEADERS,
    CF_BODIES,
    CF_CANONICAL,
    CF_TX_INDEX,
    CF_TRIE,
    CF_META,
    CF_PEERS,
    CF_SLOTS,
    CF_EVIDENCE,
];

const META_GENESIS: &[u8] = b"genesis";
const META_HEAD: &[u8] = b"head";
const META_FINALIZED: &[u8] = b"finalized";

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    RocksDb(#[from] rocksdb::Error),
    /// A stored record does not decode.
    #[error("corrupt record in {cf}: {error}")]
    Decode {
        /// Column family.
        cf: &'static str,
        /// Decoder complaint.
        error: DecodeError,
    },
    /// A stored record has the wrong shape.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Less free disk space than the node keeps in reserve: the write is refused before RocksDB
    /// could run out of space in the middle of it.
    #[error("disk almost full: {free_mib} MiB free, {reserve_mib} MiB kept in reserve")]
    DiskFull {
        /// Free space left (MiB).
        free_mib: u64,
        /// The reserve (MiB).
        reserve_mib: u64,
    },
    /// An earlier write failed (a full disk): the store takes no more writes until the node
    /// restarts, because RocksDB's writers abort the process when used again after an error.
    #[error("an earlier write failed (disk full?): no more writes until the node restarts")]
    Unwritable,
}

/// Where a transaction sits in the canonical chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
}

/// The node's database.
pub struct Store {
    db: DB,
    /// Set once a write or flush failed (a full disk): RocksDB's writers are then in an error
    /// state in which closing the database aborts the process (an assertion in Debian's build),
    /// so such a store is never closed, only released by the OS at exit.
    write_failed: std::sync::atomic::AtomicBool,
    /// Writes are refused while the data directory's filesystem has less free space than this
    /// (bytes; 0: never checked).
    reserve: std::sync::atomic::AtomicU64,
    /// When free space was last found sufficient (checked at most every 100 ms).
    space_checked: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.db.path().display())
    }
}

impl Store {
    /// Opens (or creates) the database in `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_open_files(512);
        opts.increase_parallelism(2);
        // The hash memtable below does not take concurrent writers; ours are serialized anyway.
        opts.set_allow_concurrent_memtable_write(false);
        let cfs = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf_opts = Options::default();
            if *name == CF_TRIE || *name == CF_HEADERS {
                cf_opts.optimize_for_point_lookup(64);
            }
            if [CF_SLOTS, CF_EVIDENCE, CF_PEERS].contains(name) {
                // Small records (one 72-byte entry per block at most): a small memtable, so these
                // families add little to a syncing node's RSS (64 MiB each by default).
                cf_opts.set_write_buffer_size(4 << 20);
            }
            if *name == CF_SLOTS {
                // Every import asks whether its producer already made a block for its slot; the
                // answer is almost always no, which a bloom filter gives without reading blocks.
                cf_opts.optimize_for_point_lookup(4);
            }
            if *name == CF_TRIE {
                // Trie nodes are only ever read by their whole 32-byte hash: a hashed memtable
                // makes each insert and lookup O(1) instead of a skip-list search (the largest
                // cost in the 1,000-transfer sync profile).
                cf_opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(32));
                // Smaller memtables than the 64 MiB default keep a syncing node's RSS bounded.
                cf_opts.set_write_buffer_size(24 << 20);
                cf_opts.set_memtable_factory(MemtableFactory::HashSkipList {
                    bucket_count: 1 << 18,
                    height: 4,
                    branching_factor: 4,
                });
            }
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Self {
            db,
            write_failed: std::sync::atomic::AtomicBool::new(false),
            reserve: std::sync::atomic::AtomicU64::new(0),
            space_checked: std::sync::Mutex::new(None),
        })
    }

    fn cf(&self, name: &'static str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created on open")
    }

    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    /// The header with this hash, canonical or not.
    pub fn header(&self, hash: &Hash) -> Result<Option<Header>, StorageError> {
        self.get(CF_HEADERS, hash)?
            .map(|b| {
                encoding::decode_header(&b).map_err(|error| StorageError::Decode {
                    cf: CF_HEADERS,
                    error,
                })
            })
            .transpose()
    }

    /// The transactions of the block with this hash.
    pub fn body(&self, hash: &Hash) -> Result<Option<Vec<Transaction>>, StorageError> {
        self.get(CF_BODIES, hash)?
            .map(|b| {
                encoding::decode_body(&b).map_err(|error| StorageError::Decode {
                    cf: CF_BODIES,
                    error,
                })
            })
            .transpose()
    }

    /// Header and body of the block with this hash.
    pub fn block(&self, hash: &Hash) -> Result<Option<Block>, StorageError> {
        let Some(header) = self.header(hash)? else {
            return Ok(None);
        };
        let Some(transactions) = self.body(hash)? else {
            return Ok(None);
        };
        Ok(Some(Block {
            header,
            transactions,
        }))
    }

    /// The canonical block hash at `height`.
    pub fn canonical_hash(&self, height: u64) -> Result<Option<Hash>, StorageError> {
        self.get(CF_CANONICAL, &height.to_be_bytes())?
            .map(|b| to_hash(&b))
            .transpose()
    }

    /// Where a transaction sits in the canonical chain.
    pub fn tx_location(&self, tx_hash: &Hash) -> Result<Option<TxLocation>, StorageError> {
        self.get(CF_TX_INDEX, tx_hash)?
            .map(|b| {
                if b.len() != 12 {
                    return Err(StorageError::Corrupt(format!(
                        "tx index entry of {} bytes",
                        b.len()
                    )));
                }
                Ok(TxLocation {
                    height: u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
                    index: u32::from_be_bytes(b[8..].try_into().expect("4 bytes")),
                })
            })
            .transpose()
    }

    /// The canonical head: (height, hash).
    pub fn head(&self) -> Result<Option<(u64, Hash)>, StorageError> {
        self.get(CF_META, META_HEAD)?
            .map(|b| height_and_hash(&b, "head"))
            .transpose()
    }

    /// The finalized block: (height, hash); none before the first block is final.
    pub fn finalized(&self) -> Result<Option<(u64, Hash)>, StorageError> {
        self.get(CF_META, META_FINALIZED)?
            .map(|b| height_and_hash(&b, "finalized"))
            .transpose()
    }

    /// The first stored block `producer` made for `slot`.
    pub fn slot_block(
        &self,
        slot: u64,
        producer: &crate::chain::PublicKey,
    ) -> Result<Option<Hash>, StorageError> {
        self.get(CF_SLOTS, &slot_key(slot, producer))?
            .map(|b| to_hash(&b))
            .transpose()
    }

    /// Whether evidence against `producer` for `slot` is stored.
    pub fn has_evidence(
        &self,
        slot: u64,
        producer: &crate::chain::PublicKey,
    ) -> Result<bool, StorageError> {
        Ok(self
            .get(CF_EVIDENCE, &evidence_key(slot, producer))?
            .is_some())
    }

    /// Every stored piece of evidence, by producer then slot.
    pub fn evidence(&self) -> Result<Vec<crate::chain::types::Evidence>, StorageError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_EVIDENCE), rocksdb::IteratorMode::Start)
        {
            let (key, value) = item?;
            if key.len() != 40 || value.len() != 2 * encoding::HEADER_LEN {
                return Err(StorageError::Corrupt(format!(
                    "evidence record of {}+{} bytes",
                    key.len(),
                    value.len()
                )));
            }
            let decode = |b: &[u8]| {
                encoding::decode_header(b).map_err(|error| StorageError::Decode {
                    cf: CF_EVIDENCE,
                    error,
                })
            };
            out.push(crate::chain::types::Evidence {
                producer: crate::chain::PublicKey(key[..32].try_into().expect("32 bytes")),
                slot: u64::from_be_bytes(key[32..].try_into().expect("8 bytes")),
                headers: [
                    decode(&value[..encoding::HEADER_LEN])?,
                    decode(&value[encoding::HEADER_LEN..])?,
                ],
            });
        }
        Ok(out)
    }

    /// The genesis hash this database was created for.
    pub fn genesis_hash(&self) -> Result<Option<Hash>, StorageError> {
        self.get(CF_META, META_GENESIS)?
            .map(|b| to_hash(&b))
            .transpose()
    }

    /// Stored peer bans: (address, end in ms since the Unix epoch, times banned).
    pub fn bans(&self) -> Result<Vec<(String, u64, u32)>, StorageError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_PEERS), rocksdb::IteratorMode::Start)
        {
            let (key, value) = item?;
            if value.len() != 12 {
                return Err(StorageError::Corrupt(format!(
                    "ban record of {} bytes",
                    value.len()
                )));
            }
            let address = String::from_utf8(key.to_vec())
                .map_err(|_| StorageError::Corrupt("ban key is not UTF-8".into()))?;
            out.push((
                address,
                u64::from_be_bytes(value[..8].try_into().expect("8 bytes")),
                u32::from_be_bytes(value[8..].try_into().expect("4 bytes")),
            ));
        }
        Ok(out)
    }

    /// Stores a peer ban (replacing an earlier one of the same address).
    pub fn put_ban(
        &self,
        address: &str,
        until_unix_ms: u64,
        count: u32,
    ) -> Result<(), StorageError> {
        self.writable()?;
        let mut value = [0u8; 12];
        value[..8].copy_from_slice(&until_unix_ms.to_be_bytes());
        value[8..].copy_from_slice(&count.to_be_bytes());
        self.db
            .put_cf(self.cf(CF_PEERS), address.as_bytes(), value)
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Starts an atomic change.
    pub fn write_set(&self) -> WriteSet<'_> {
        WriteSet {
            store: self,
            batch: WriteBatch::default(),
        }
    }

    /// Applies a change atomically.
    pub fn commit(&self, set: WriteSet<'_>) -> Result<(), StorageError> {
        self.writable()?;
        self.db.write(set.batch).map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Bytes the database's files take on disk now (SST files, logs, manifests): the sum of the
    /// sizes of the files in its directory. Files that vanish while being counted (compaction) are
    /// skipped.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(self.db.path())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Keeps `bytes` of the data directory's filesystem free: writes are refused below it, so
    /// RocksDB never runs out of space in the middle of a write or a flush.
    pub fn set_disk_reserve(&self, bytes: u64) {
        self.reserve
            .store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    fn writable(&self) -> Result<(), StorageError> {
        if self.write_failed() {
            return Err(StorageError::Unwritable);
        }
        let reserve = self.reserve.load(std::sync::atomic::Ordering::SeqCst);
        if reserve == 0 {
            return Ok(());
        }
        let mut checked = self.space_checked.lock().expect("space check lock");
        if checked.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(100)) {
            return Ok(());
        }
        // A filesystem that cannot be asked is not refused for it.
        if let Ok(st) = rustix::fs::statvfs(self.db.path()) {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            if free < reserve {
                *checked = None;
                return Err(StorageError::DiskFull {
                    free_mib: free >> 20,
                    reserve_mib: reserve >> 20,
                });
            }
        }
        *checked = Some(std::time::Instant::now());
        Ok(())
    }

    /// Records a failed write: no write reaches RocksDB any more, and its background flushes and
    /// compactions stop (they would hit the same error).
    fn failed(&self, e: rocksdb::Error) -> StorageError {
        if !self
            .write_failed
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            tracing::error!(target: "storage", error = %e, "a write failed; the database takes no more writes until the node restarts");
            self.db.cancel_all_background_work(false);
        }
        e.into()
    }

    /// True once a write or flush failed: the store must then not be closed (see the field).
    pub fn write_failed(&self) -> bool {
        self.write_failed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Flushes memtables to SST files (clean shutdown). Every write is already in the write-ahead
    /// log, so a flush that fails (a full disk) loses nothing: RocksDB replays the log on the
    /// next open.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.writable()?;
        for cf in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(cf)).map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// Stops RocksDB's background flushes and compactions and waits for them, so that closing
    /// the database never races a background job (one failing on a full disk aborted the
    /// process on close before).
    pub fn stop_background_work(&self) {
        self.db.cancel_all_background_work(true);
    }
}

impl NodeStore for Store {
    fn get_node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, TrieError> {
        self.db
            .get_cf(self.cf(CF_TRIE), hash)
            .map_err(|e| TrieError::Store(e.to_string()))
    }
}

fn height_and_hash(b: &[u8], what: &str) -> Result<(u64, Hash), StorageError> {
    if b.len() != 40 {
        return Err(StorageError::Corrupt(format!(
            "{what} record of {} bytes",
            b.len()
        )));
    }
    Ok((
        u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
        to_hash(&b[8..])?,
    ))
}

fn slot_key(slot: u64, producer: &crate::chain::PublicKey) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&slot.to_be_bytes());
    key[8..].copy_from_slice(&producer.0);
    key
}

fn evidence_key(slot: u64, producer: &crate::chain::PublicKey) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&producer.0);
    key[32..].copy_from_slice(&slot.to_be_bytes());
    key
}

fn to_hash(bytes: &[u8]) -> Result<Hash, StorageError> {
    bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

fn height_hash(height: u64, hash: &Hash) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..8].copy_from_slice(&height.to_be_bytes());
    v[8..].copy_from_slice(hash);
    v
}

/// A set of changes applied together by [`Store::commit`].
pub struct WriteSet<'a> {
    store: &'a Store,
    batch: WriteBatch,
}

impl WriteSet<'_> {
    /// Stores a block's header and body under its hash (not yet canonical).
    pub fn put_block(&mut self, hash: &Hash, block: &Block) {
        self.batch.put_cf(
            self.store.cf(CF_HEADERS),
            hash,
            encoding::encode_header(&block.header),
        );
        self.batch.put_cf(
            self.store.cf(CF_BODIES),
            hash,
            encoding::encode_body(&block.transactions),
        );
    }

    /// Stores trie nodes.
    pub fn put_trie_nodes(&mut self, nodes: &[(Hash, Vec<u8>)]) {
        let cf = self.store.cf(CF_TRIE);
        for (hash, node) in nodes {
            self.batch.put_cf(cf, hash, node);
        }
    }

    /// Makes `hash` canonical at `height` and indexes its transactions.
    pub fn set_canonical(&mut self, height: u64, hash: &Hash, txs: &[Transaction]) {
        self.batch
            .put_cf(self.store.cf(CF_CANONICAL), height.to_be_bytes(), hash);
        let cf = self.store.cf(CF_TX_INDEX);
        for (index, tx) in txs.iter().enumerate() {
            let mut loc = [0u8; 12];
            loc[..8].copy_from_slice(&height.to_be_bytes());
            loc[8..].copy_from_slice(&(index as u32).to_be_bytes());
            self.batch.put_cf(cf, tx.hash(), loc);
        }
    }

    /// Removes the canonical entry at `height` and the index entries of its transactions.
    pub fn unset_canonical(&mut self, height: u64, txs: &[Transaction]) {
        self.batch
            .delete_cf(self.store.cf(CF_CANONICAL), height.to_be_bytes());
        let cf = self.store.cf(CF_TX_INDEX);
        for tx in txs {
            self.batch.delete_cf(cf, tx.hash());
        }
    }

    /// Moves the head pointer.
    pub fn set_head(&mut self, height: u64, hash: &Hash) {
        self.batch
            .put_cf(self.store.cf(CF_META), META_HEAD, height_hash(height, hash));
    }

    /// Moves the finalized block.
    pub fn set_finalized(&mut self, height: u64, hash: &Hash) {
        self.batch.put_cf(
            self.store.cf(CF_META),
            META_FINALIZED,
            height_hash(height, hash),
        );
    }

    /// Records that `producer` made block `hash` for `slot` (the first such block only).
    pub fn put_slot(&mut self, slot: u64, producer: &crate::chain::PublicKey, hash: &Hash) {
        self.batch
            .put_cf(self.store.cf(CF_SLOTS), slot_key(slot, producer), hash);
    }

    /// Stores evidence of an equivocation (both signed headers).
    pub fn put_evidence(&mut self, evidence: &crate::chain::types::Evidence) {
        let mut value = encoding::encode_header(&evidence.headers[0]);
        value.extend_from_slice(&encoding::encode_header(&evidence.headers[1]));
        self.batch.put_cf(
            self.store.cf(CF_EVIDENCE),
            evidence_key(evidence.slot, &evidence.producer),
            value,
        );
    }

    /// Records the genesis hash.
    pub fn set_genesis(&mut self, hash: &Hash) {
        self.batch
            .put_cf(self.store.cf(CF_META), META_GENESIS, hash);
    }
}
