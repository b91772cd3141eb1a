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
    /// Blocks stored (the moved ones and those kept on a side branch).
    pub stored: u64,
    /// Transactions in the stored blocks.
    pub transactions: u64,
    /// The first block that failed, with why; blocks after it were not tried.
    pub failure: Option<(u64, ImportError)>,
    /// Seconds each stored block took to import.
    pub seconds: Vec<f64>,
    /// Blocks abandoned by each reorganization the run caused.
    pub reorg_depths: Vec<u64>,
}

/// Imports `blocks` in order, stopping at the first failure.
pub async fn import_verified(ledger: Arc<Ledger>, blocks: Vec<Block>) -> Imported {
    let task = tokio::task::spawn_blocking(move || {
        let mut done = Imported {
            moved: 0,
            stored: 0,
            transactions: 0,
            failure: None,
            seconds: Vec::with_capacity(blocks.len()),
            reorg_depths: Vec::new(),
        };
        for block in &blocks {
            let started = std::time::Instant::now();
            let outcome = match ledger.import_verified_block(block, ledger.now_ms()) {
                Ok(outcome) => outcome,
                Err(e) => {
                    done.failure = Some((block.header.height, e));
                    return done;
                }
            };
            if let ImportOutcome::Reorganized { dropped, .. } = outcome {
                done.reorg_depths.push(dropped);
            }
            if matches!(
                outcome,
                ImportOutcome::Extended | ImportOutcome::Reorganized { .. }
            ) {
                done.moved += 1;
            }
            if outcome != ImportOutcome::AlreadyKnown {
                done.seconds.push(started.elapsed().as_secs_f64());
                done.stored += 1;
                done.transactions += block.transactions.len() as u64;
            }
        }
        done
    });
    match task.await {
        Ok(imported) => imported,
        Err(e) => Imported {
            moved: 0,
            stored: 0,
            transactions: 0,
            seconds: Vec::new(),
            reorg_depths: Vec::new(),
            failure: Some((
                0,
                ImportError::Ledger(crate::ledger::LedgerError::Inconsistent(format!(
                    "import task failed: {e}"
                ))),
            )),
        },
    }
}
