//! The LuxTensor node library. Layers, from the pure core outwards:
//!
//! - [`chain`]: types, canonical encoding, hashing, signatures, validation rules (no I/O).
//! - [`state`]: the Merkle Patricia state trie, proofs and transaction execution (no I/O).
//! - [`storage`]: RocksDB column families and atomic write sets (no validation, no gRPC).
//! - [`ledger`]: the validated chain on disk: import, fork choice, queries.
//! - [`mempool`], [`producer`]: pending transactions and block production.
//! - [`sync`]: header-first sync with peers behind a trait, peer scoring, the sync service.
//! - [`rpc`]: gRPC services, conversions and the one error-to-status mapping.
//! - [`config`], [`node`], [`cli`]: configuration files, the running node, the command line.

pub mod chain;
pub mod cli;
pub mod config;
pub mod ledger;
pub mod mempool;
pub mod node;
pub mod producer;
pub mod rpc;
pub mod state;
pub mod storage;
pub mod sync;

pub use node::{Node, NodeError};
