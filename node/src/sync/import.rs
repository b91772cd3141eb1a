//! The last step of sync: downloaded blocks, whose header and transaction signatures were already
//! verified in batches, go to the ledger in order on the blocking pool. The ledger still checks
//! every other rule, executes each block, compares the state root and commits atomically.

use std::sync::Arc;

use crate::chain::Block;
use crate::ledger::{ImportError, ImportOutcome, Ledger};

/// What importing a run of blocks did.
#[derive(Debug)]
pub struct Imported {
    /// Blocks that moved the canonical head (extended it or won fork choice).
    pub moved: u64,
    /// The first block that failed, with why; blocks after it were not tried.
    pub failure: Option<(u64, ImportError)>,
}

/// Imports `blocks` in order, stopping at the first failure.
pub async fn import_verified(ledger: Arc<Ledger>, blocks: Vec<Block>) -> Imported {
    let task = tokio::task::spawn_blocking(move || {
        let mut moved = 0u64;
        for block in &blocks {
            match ledger.import_verified_block(block, ledger.now_ms()) {
                Ok(ImportOutcome::Extended | ImportOutcome::Reorganized { .. }) => moved += 1,
                Ok(ImportOutcome::SideChain | ImportOutcome::AlreadyKnown) => {}
                Err(e) => {
                    return Imported {
                        moved,
                        failure: Some((block.header.height, e)),
                    };
                }
            }
        }
        Imported {
            moved,
            failure: None,
        }
    });
    match task.await {
        Ok(imported) => imported,
        Err(e) => Imported {
            moved: 0,
            failure: Some((
                0,
                ImportError::Ledger(crate::ledger::LedgerError::Inconsistent(format!(
                    "import task failed: {e}"
                ))),
            )),
        },
    }
}
