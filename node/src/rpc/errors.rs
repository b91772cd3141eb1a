//! The one mapping from errors to gRPC statuses. Codes follow the gRPC specification: a
//! malformed field is `INVALID_ARGUMENT`, a height above the head `OUT_OF_RANGE`, an unknown hash
//! `NOT_FOUND`, a transaction the current state refuses `FAILED_PRECONDITION`, a missing or wrong
//! control token `UNAUTHENTICATED`, the node's own failures `INTERNAL`. Every status carries a
//! `google.rpc.ErrorInfo` detail with a stable [`Reason`] and the values involved as metadata, so
//! scripts branch on `reason`, never on message text. Nothing panics.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::chain::TypeError;
use crate::ledger::{ImportError, LedgerError};
use crate::mempool::MempoolError;
use crate::producer::ProduceError;
use crate::storage::StorageError;

/// `ErrorInfo.domain` of every error this node returns.
pub const ERROR_DOMAIN: &str = "luxtensor.node.v1";

/// Machine-readable reasons, sent as `ErrorInfo.reason`. Stable: scripts and tests match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A field does not parse (metadata: `field`).
    InvalidField,
    /// A required field is absent (metadata: `field`).
    MissingField,
    /// A number outside its allowed range (metadata: `field`, `value`, `min`, `max`).
    ValueOutOfBounds,
    /// A height above the head (metadata: `field`, `height`, `head`).
    HeightAboveHead,
    /// `from` above `to` (metadata: `from`, `to`).
    InvertedRange,
    /// No block with that hash or at that height.
    BlockNotFound,
    /// No canonical transaction with that hash.
    TransactionNotFound,
    /// Signed for another chain (metadata: `expected`, `got`).
    WrongChain,
    /// A signature or key that does not verify.
    BadSignature,
    /// Nonce already used (metadata: `expected`, `got`).
    NonceTooLow,
    /// Nonce leaves a gap (metadata: `expected`, `got`).
    NonceTooHigh,
    /// The same transaction is already in the mempool (metadata: `hash`).
    AlreadyPending,
    /// Balance does not cover the transaction and the sender's pending ones (metadata: `needed`,
    /// `available`).
    InsufficientBalance,
    /// amount + fee overflows.
    AmountOverflow,
    /// The mempool holds its maximum (metadata: `limit`).
    MempoolFull,
    /// No `authorization` metadata on a control call.
    MissingToken,
    /// A control token that does not match.
    WrongToken,
    /// This node has no validator key.
    NotValidator,
    /// Another validator leads the slot (metadata: `slot`, `leader`).
    NotLeader,
    /// The head is already at or past the slot (metadata: `slot`, `head_slot`).
    SlotTaken,
    /// This node's next slot is too far ahead for on-demand production (metadata: `slot`,
    /// `wait_ms`, `max_ms`).
    NextSlotTooFar,
    /// Genesis has no dev accounts to generate transfers from.
    NoDevAccounts,
    /// A block breaks a consensus rule.
    InvalidBlock,
    /// A block's parent is unknown.
    UnknownParent,
    /// A peer address that is refused (metadata: `address`).
    PeerRefused,
    /// The node's genesis configuration does not fit.
    GenesisMismatch,
    /// A sender key of small order (metadata: `sender`).
    SmallOrderKey,
    /// The recipient's balance would overflow (metadata: `recipient`).
    RecipientOverflow,
    /// The sender has the most pending transactions one sender may have (metadata: `limit`).
    SenderFull,
    /// Too many expensive calls at once (metadata: `what`, `limit`).
    Busy,
    /// The call was cancelled (client gone, deadline passed, node stopping).
    Cancelled,
    /// The node is shutting down.
    ShuttingDown,
    /// The data directory's disk is (almost) full (metadata: `free_mib`, `reserve_mib`).
    DiskFull,
    /// The node failed (storage, state, a task).
    Internal,
}

impl Reason {
    /// The stable wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidField => "INVALID_FIELD",
            Reason::MissingField => "MISSING_FIELD",
            Reason::ValueOutOfBounds => "VALUE_OUT_OF_BOUNDS",
            Reason::HeightAboveHead => "HEIGHT_ABOVE_HEAD",
            Reason::InvertedRange => "INVERTED_RANGE",
            Reason::BlockNotFound => "BLOCK_NOT_FOUND",
            Reason::TransactionNotFound => "TRANSACTION_NOT_FOUND",
            Reason::WrongChain => "WRONG_CHAIN",
            Reason::BadSignature => "BAD_SIGNATURE",
            Reason::NonceTooLow => "NONCE_TOO_LOW",
            Reason::NonceTooHigh => "NONCE_TOO_HIGH",
            Reason::AlreadyPending => "ALREADY_PENDING",
            Reason::InsufficientBalance => "INSUFFICIENT_BALANCE",
            Reason::AmountOverflow => "AMOUNT_OVERFLOW",
            Reason::MempoolFull => "MEMPOOL_FULL",
            Reason::MissingToken => "MISSING_TOKEN",
            Reason::WrongToken => "WRONG_TOKEN",
            Reason::NotValidator => "NOT_VALIDATOR",
            Reason::NotLeader => "NOT_LEADER",
            Reason::SlotTaken => "SLOT_TAKEN",
            Reason::NextSlotTooFar => "NEXT_SLOT_TOO_FAR",
            Reason::NoDevAccounts => "NO_DEV_ACCOUNTS",
            Reason::InvalidBlock => "INVALID_BLOCK",
            Reason::UnknownParent => "UNKNOWN_PARENT",
            Reason::PeerRefused => "PEER_REFUSED",
            Reason::GenesisMismatch => "GENESIS_MISMATCH",
            Reason::SmallOrderKey => "SMALL_ORDER_KEY",
            Reason::RecipientOverflow => "RECIPIENT_OVERFLOW",
            Reason::SenderFull => "SENDER_FULL",
            Reason::Busy => "BUSY",
            Reason::Cancelled => "CANCELLED",
            Reason::ShuttingDown => "SHUTTING_DOWN",
            Reason::DiskFull => "DISK_FULL",
            Reason::Internal => "INTERNAL",
        }
    }
}

/// Longest status message sent (it travels in an HTTP/2 header; a caller's oversized input echoed
/// back must not make the header list too large for the caller to read).
pub const MAX_MESSAGE_LEN: usize = 1024;
/// Longest `ErrorInfo` metadata value sent.
pub const MAX_METADATA_LEN: usize = 256;

/// `text` cut to at most `max` bytes (on a character boundary), saying how long it was.
fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(32);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// A status with an `ErrorInfo` detail; message and metadata values are bounded in length.
pub fn status(
    code: Code,
    reason: Reason,
    message: impl Into<String>,
    metadata: &[(&str, String)],
) -> Status {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_string(), bounded(v.clone(), MAX_METADATA_LEN)))
        .collect();
    Status::with_error_details(
        code,
        bounded(message.into(), MAX_MESSAGE_LEN),
        ErrorDetails::with_error_info(reason.as_str(), ERROR_DOMAIN, metadata),
    )
}

/// A request the node refuses before touching the chain.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// A required field is absent.
    #[error("{field} is missing")]
    Missing {
        /// Which field.
        field: &'static str,
    },
    /// A number outside its bounds.
    #[error("{field} must be {min}..={max}, got {value}")]
    OutOfBounds {
        /// Which field.
        field: &'static str,
        /// Given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A height above the head.
    #[error("{field} {height} is above the head {head}")]
    AboveHead {
        /// Which field.
        field: &'static str,
        /// Asked.
        height: u64,
        /// The head.
        head: u64,
    },
    /// A range that runs backwards.
    #[error("from_height {from} is above to_height {to}")]
    Inverted {
        /// First height.
        from: u64,
        /// Last height.
        to: u64,
    },
    /// No such block.
    #[error("{0}")]
    BlockNotFound(String),
    /// No such canonical transaction.
    #[error("no canonical transaction with hash {0}")]
    TransactionNotFound(String),
    /// No `authorization` metadata.
    #[error("control API needs `authorization: Bearer <token>` metadata")]
    MissingToken,
    /// A token that does not match.
    #[error("control token does not match")]
    WrongToken,
    /// Too many expensive calls at once.
    #[error("{what}: {limit} already running on this node; try again later")]
    Busy {
        /// Which call.
        what: &'static str,
        /// How many may run at once.
        limit: usize,
    },
    /// The call stopped before it finished (the client went away, its deadline passed, or the
    /// node is stopping).
    #[error("{0} was cancelled")]
    Cancelled(&'static str),
    /// A peer address the book refuses.
    #[error("peer address refused: {reason}")]
    PeerRefused {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
}

impl From<RequestError> for Status {
    fn from(e: RequestError) -> Self {
        let message = e.to_string();
        match e {
            RequestError::Missing { field } => status(
                Code::InvalidArgument,
                Reason::MissingField,
                message,
                &[("field", field.into())],
            ),
            RequestError::OutOfBounds {
                field,
                value,
                min,
                max,
            } => status(
                Code::InvalidArgument,
                Reason::ValueOutOfBounds,
                message,
                &[
                    ("field", field.into()),
                    ("value", value.to_string()),
                    ("min", min.to_string()),
                    ("max", max.to_string()),
                ],
            ),
            RequestError::AboveHead {
                field,
                height,
                head,
            } => status(
                Code::OutOfRange,
                Reason::HeightAboveHead,
                message,
                &[
                    ("field", field.into()),
                    ("height", height.to_string()),
                    ("head", head.to_string()),
                ],
            ),
            RequestError::Inverted { from, to } => status(
                Code::InvalidArgument,
                Reason::InvertedRange,
                message,
                &[("from", from.to_string()), ("to", to.to_string())],
            ),
            RequestError::BlockNotFound(_) => {
                status(Code::NotFound, Reason::BlockNotFound, message, &[])
            }
            RequestError::TransactionNotFound(hash) => status(
                Code::NotFound,
                Reason::TransactionNotFound,
                message,
                &[("hash", hash)],
            ),
            RequestError::MissingToken => {
                status(Code::Unauthenticated, Reason::MissingToken, message, &[])
            }
            RequestError::WrongToken => {
                status(Code::Unauthenticated, Reason::WrongToken, message, &[])
            }
            RequestError::Busy { what, limit } => status(
                Code::ResourceExhausted,
                Reason::Busy,
                message,
                &[("what", what.into()), ("limit", limit.to_string())],
            ),
            RequestError::Cancelled(what) => status(
                Code::Cancelled,
                Reason::Cancelled,
                message,
                &[("what", what.into())],
            ),
            RequestError::PeerRefused { address, .. } => status(
                Code::InvalidArgument,
                Reason::PeerRefused,
                message,
                &[("address", address)],
            ),
        }
    }
}

impl From<TypeError> for Status {
    fn from(e: TypeError) -> Self {
        let field = match &e {
            TypeError::Hex { what, .. } | TypeError::Length { what, .. } => *what,
        };
        status(
            Code::InvalidArgument,
            Reason::InvalidField,
            e.to_string(),
            &[("field", field.into())],
        )
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> Status {
    tracing::error!(target: "rpc", what, error = %e, "node failure while answering");
    status(
        Code::Internal,
        Reason::Internal,
        format!("{what}: {e}"),
        &[("what", what.into())],
    )
}

/// `status` with `prefix` before its message and `extra` added to its `ErrorInfo` metadata (for
/// example how much of a request was done before it failed).
pub fn with_context(status: Status, prefix: &str, extra: &[(&str, String)]) -> Status {
    let (reason, domain, mut metadata) = match status.get_details_error_info() {
        Some(info) => (info.reason, info.domain, info.metadata),
        None => (
            Reason::Internal.as_str().to_string(),
            ERROR_DOMAIN.to_string(),
            HashMap::new(),
        ),
    };
    for (k, v) in extra {
        metadata.insert((*k).to_string(), v.clone());
    }
    Status::with_error_details(
        status.code(),
        format!("{prefix}{}", status.message()),
        ErrorDetails::with_error_info(reason, domain, metadata),
    )
}

/// A blocking task of the node that died (a bug: it panicked).
pub fn task_failed(what: &str, e: tokio::task::JoinError) -> Status {
    internal(what, e)
}

impl From<StorageError> for Status {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::DiskFull {
                free_mib,
                reserve_mib,
            } => status(
                Code::Unavailable,
                Reason::DiskFull,
                e.to_string(),
                &[
                    ("free_mib", free_mib.to_string()),
                    ("reserve_mib", reserve_mib.to_string()),
                ],
            ),
            StorageError::Unwritable => {
                status(Code::Unavailable, Reason::DiskFull, e.to_string(), &[])
            }
            e => internal("storage", e),
        }
    }
}

impl From<LedgerError> for Status {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Genesis(_) | LedgerError::GenesisMismatch { .. } => status(
                Code::FailedPrecondition,
                Reason::GenesisMismatch,
                e.to_string(),
                &[],
            ),
            LedgerError::Storage(e) => e.into(),
            LedgerError::Trie(e) => internal("state", e),
            LedgerError::Inconsistent(m) => internal("database is inconsistent", m),
            LedgerError::Interrupted => RequestError::Cancelled("chain verification").into(),
        }
    }
}

impl From<ImportError> for Status {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Ledger(e) => e.into(),
            ImportError::UnknownParent(_) => status(
                Code::FailedPrecondition,
                Reason::UnknownParent,
                e.to_string(),
                &[],
            ),
            invalid => status(
                Code::InvalidArgument,
                Reason::InvalidBlock,
                format!("invalid block: {invalid}"),
                &[],
            ),
        }
    }
}

impl From<MempoolError> for Status {
    fn from(e: MempoolError) -> Self {
        let message = e.to_string();
        match e {
            MempoolError::WrongChain { expected, got } => status(
                Code::InvalidArgument,
                Reason::WrongChain,
                message,
                &[("expected", expected.to_string()), ("got", got.to_string())],
            ),
            MempoolError::BadSignature(_) => {
                status(Code::InvalidArgument, Reason::BadSignature, message, &[])
            }
            MempoolError::SmallOrderSender(key) => status(
                Code::InvalidArgument,
                Reason::SmallOrderKey,
                message,
                &[("sender", key.to_string())],
            ),
            MempoolError::RecipientOverflow(recipient) => status(
                Code::FailedPrecondition,
                Reason::RecipientOverflow,
                message,
                &[("recipient", recipient.to_string())],
            ),
            MempoolError::SenderFull { limit } => status(
                Code::ResourceExhausted,
                Reason::SenderFull,
                message,
                &[("limit", limit.to_string())],
            ),
            MempoolError::State(m) => internal("state", m),
            MempoolError::NonceTooLow { expected, got } => status(
                Code::FailedPrecondition,
                Reason::NonceTooLow,
                message,
                &[("expected", expected.to_string()), ("got", got.to_string())],
            ),
            MempoolError::NonceTooHigh { expected, got } => status(
                Code::FailedPrecondition,
                Reason::NonceTooHigh,
                message,
                &[("expected", expected.to_string()), ("got", got.to_string())],
            ),
            MempoolError::AlreadyPending { hash } => status(
                Code::AlreadyExists,
                Reason::AlreadyPending,
                message,
                &[("hash", hash)],
            ),
            MempoolError::InsufficientBalance { needed, available } => status(
                Code::FailedPrecondition,
                Reason::InsufficientBalance,
                message,
                &[
                    ("needed", needed.to_string()),
                    ("available", available.to_string()),
                ],
            ),
            MempoolError::Overflow => {
                status(Code::InvalidArgument, Reason::AmountOverflow, message, &[])
            }
            MempoolError::Full { limit } => status(
                Code::ResourceExhausted,
                Reason::MempoolFull,
                message,
                &[("limit", limit.to_string())],
            ),
        }
    }
}

impl From<ProduceError> for Status {
    fn from(e: ProduceError) -> Self {
        let message = e.to_string();
        match e {
            ProduceError::NotValidator => {
                status(Code::FailedPrecondition, Reason::NotValidator, message, &[])
            }
            ProduceError::NotLeader { slot, leader } => status(
                Code::FailedPrecondition,
                Reason::NotLeader,
                message,
                &[("slot", slot.to_string()), ("leader", leader.to_string())],
            ),
            ProduceError::SlotTaken { slot, head_slot } => status(
                Code::FailedPrecondition,
                Reason::SlotTaken,
                message,
                &[
                    ("slot", slot.to_string()),
                    ("head_slot", head_slot.to_string()),
                ],
            ),
            ProduceError::NextSlotTooFar {
                slot,
                wait_ms,
                max_ms,
            } => status(
                Code::FailedPrecondition,
                Reason::NextSlotTooFar,
                message,
                &[
                    ("slot", slot.to_string()),
                    ("wait_ms", wait_ms.to_string()),
                    ("max_ms", max_ms.to_string()),
                ],
            ),
            ProduceError::NoDevAccounts => status(
                Code::FailedPrecondition,
                Reason::NoDevAccounts,
                message,
                &[],
            ),
            ProduceError::Stopped => status(Code::Unavailable, Reason::ShuttingDown, message, &[]),
            ProduceError::Import(e) => e.into(),
            ProduceError::Ledger(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_carries_its_reason_and_values() {
        let s: Status = MempoolError::NonceTooLow {
            expected: 4,
            got: 2,
        }
        .into();
        assert_eq!(s.code(), Code::FailedPrecondition);
        let info = s.get_details_error_info().expect("ErrorInfo detail");
        assert_eq!(info.reason, "NONCE_TOO_LOW");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata["expected"], "4");
        assert_eq!(info.metadata["got"], "2");
        let s: Status = RequestError::AboveHead {
            field: "height",
            height: 9,
            head: 3,
        }
        .into();
        assert_eq!(s.code(), Code::OutOfRange);
        assert_eq!(
            s.get_details_error_info().unwrap().reason,
            "HEIGHT_ABOVE_HEAD"
        );
        let s: Status = RequestError::WrongToken.into();
        assert_eq!(s.code(), Code::Unauthenticated);
    }
}
