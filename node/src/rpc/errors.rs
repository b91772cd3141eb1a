//! The one mapping from domain errors to gRPC status codes. Callers' mistakes are
//! `INVALID_ARGUMENT` / `NOT_FOUND` / `FAILED_PRECONDITION` with a message that says what was
//! wrong; the node's own failures are `INTERNAL`; nothing panics.

use tonic::Status;

use crate::chain::TypeError;
use crate::ledger::{ImportError, LedgerError};
use crate::mempool::MempoolError;
use crate::producer::ProduceError;
use crate::storage::StorageError;

impl From<TypeError> for Status {
    fn from(e: TypeError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

impl From<StorageError> for Status {
    fn from(e: StorageError) -> Self {
        tracing::error!(target: "rpc", error = %e, "storage failure");
        Status::internal(format!("storage: {e}"))
    }
}

impl From<LedgerError> for Status {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Genesis(e) => Status::failed_precondition(e.to_string()),
            LedgerError::GenesisMismatch { .. } => Status::failed_precondition(e.to_string()),
            LedgerError::Storage(e) => e.into(),
            LedgerError::Trie(e) => {
                tracing::error!(target: "rpc", error = %e, "state failure");
                Status::internal(format!("state: {e}"))
            }
            LedgerError::Inconsistent(m) => {
                Status::internal(format!("database is inconsistent: {m}"))
            }
        }
    }
}

impl From<ImportError> for Status {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Ledger(e) => e.into(),
            ImportError::UnknownParent(_) => Status::failed_precondition(e.to_string()),
            invalid => Status::invalid_argument(format!("invalid block: {invalid}")),
        }
    }
}

impl From<MempoolError> for Status {
    fn from(e: MempoolError) -> Self {
        match e {
            MempoolError::Full { .. } => Status::resource_exhausted(e.to_string()),
            other => Status::invalid_argument(other.to_string()),
        }
    }
}

impl From<ProduceError> for Status {
    fn from(e: ProduceError) -> Self {
        match e {
            ProduceError::NotValidator
            | ProduceError::NotScheduled { .. }
            | ProduceError::NoDevAccounts => Status::failed_precondition(e.to_string()),
            ProduceError::Import(e) => e.into(),
            ProduceError::Ledger(e) => e.into(),
        }
    }
}
