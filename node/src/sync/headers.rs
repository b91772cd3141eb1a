//! The header phase of sync: the block locator we send, and the validation of a run of headers a
//! peer sent back. [`validate_headers`] is pure (rules, parent, headers, the time): the engine and
//! the benchmark call the same function, so what is measured is what runs.

use crate::chain::{ChainRules, Hash, Header, ValidationError};
use crate::ledger::Ledger;
use crate::storage::StorageError;

use super::peer::MAX_LOCATOR;

/// A run of headers that does not validate.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The run is empty.
    #[error("no headers")]
    Empty,
    /// The first header's parent is not a block we store.
    #[error("first header (height {height}) attaches to unknown block {parent}")]
    UnknownParent {
        /// The first header's height.
        height: u64,
        /// Its parent hash.
        parent: String,
    },
    /// A header breaks a chain rule (linkage, schedule, time, signature).
    #[error("header {height}: {error}")]
    Invalid {
        /// Height of the offending header.
        height: u64,
        /// The rule it breaks.
        error: ValidationError,
    },
    /// The run leaves our chain below our finalized block: no honest peer offers that.
    #[error(
        "the headers fork from our chain at height {fork_point}, below our finalized block {finalized}"
    )]
    ConflictsWithFinality {
        /// Height of the first header's parent.
        fork_point: u64,
        /// Our finalized height.
        finalized: u64,
    },
    /// Reading the parent failed.
    #[error("reading the parent: {0}")]
    Storage(String),
}

impl From<StorageError> for HeaderError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Block locator: canonical hashes at head, head-1, head-2, head-4, … (doubling steps), our
/// finalized block, then genesis; at most [`MAX_LOCATOR`] entries, heights descending. A peer
/// answers from the first one it has on its canonical chain, i.e. from our common ancestor even
/// when our tip is not on its chain, and never from below our finalized block when it has it.
pub fn locator(ledger: &Ledger) -> Vec<Hash> {
    let head = ledger.head().header.height;
    let finalized = ledger.finalized().height;
    let mut heights = Vec::new();
    let mut step = 1u64;
    let mut h = head;
    while heights.len() < MAX_LOCATOR - 2 {
        heights.push(h);
        if h <= finalized {
            break;
        }
        h = h.saturating_sub(step);
        if heights.len() > 1 {
            step *= 2;
        }
    }
    heights.retain(|h| *h > finalized);
    heights.push(finalized);
    if finalized != 0 {
        heights.push(0);
    }
    heights
        .into_iter()
        .filter_map(|h| ledger.store().canonical_hash(h).ok().flatten())
        .collect()
}

/// Validates `headers` as a chain extending `parent` (whose hash is `parent_hash`): every header
/// follows its predecessor under `rules` at local time `now_ms` (chain id, height + 1, parent hash,
/// increasing time, drift, schedule), then every producer signature, batched across cores.
/// Returns the headers' hashes.
pub fn validate_headers(
    rules: &ChainRules,
    parent: &Header,
    parent_hash: Hash,
    headers: &[Header],
    now_ms: u64,
) -> Result<Vec<Hash>, HeaderError> {
    if headers.is_empty() {
        return Err(HeaderError::Empty);
    }
    let mut hashes = Vec::with_capacity(headers.len());
    let mut parent_hash = parent_hash;
    let mut parent = parent;
    for header in headers {
        rules
            .check_header_fields(parent, &parent_hash, header, now_ms)
            .map_err(|error| HeaderError::Invalid {
                height: header.height,
                error,
            })?;
        parent_hash = header.hash();
        hashes.push(parent_hash);
        parent = header;
    }
    rules
        .check_header_signatures(headers)
        .map_err(|error| HeaderError::Invalid {
            height: match &error {
                ValidationError::BadHeaderSignature { height, .. } => *height,
                _ => headers[0].height,
            },
            error,
        })?;
    Ok(hashes)
}

/// [`validate_headers`] against the stored parent of the first header.
pub fn validate_against_store(
    ledger: &Ledger,
    headers: &[Header],
    now_ms: u64,
) -> Result<Vec<Hash>, HeaderError> {
    let first = headers.first().ok_or(HeaderError::Empty)?;
    let parent =
        ledger
            .store()
            .header(&first.parent_hash)?
            .ok_or_else(|| HeaderError::UnknownParent {
                height: first.height,
                parent: crate::chain::types::to_hex(&first.parent_hash),
            })?;
    let hashes = validate_headers(ledger.rules(), &parent, first.parent_hash, headers, now_ms)?;
    let finalized = ledger.finalized();
    if parent.height < finalized.height {
        // Below our finalized block the run must be our chain: it must pass through that block.
        let through = headers
            .iter()
            .zip(&hashes)
            .any(|(h, hash)| h.height == finalized.height && *hash == finalized.hash);
        if !through {
            return Err(HeaderError::ConflictsWithFinality {
                fork_point: parent.height,
                finalized: finalized.height,
            });
        }
    }
    Ok(hashes)
}
