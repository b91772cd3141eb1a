//! Account state: an Ethereum-compatible Merkle Patricia Trie (hex-prefix paths, RLP nodes,
//! keccak256, nodes under 32 bytes inlined) keyed by keccak256(address) with RLP([nonce, balance])
//! values, Merkle proofs against a state root, and the executor that applies a block's transfers.
//! Trie nodes are read through the [`trie::NodeStore`] trait and new nodes are returned to the
//! caller to persist, so this module does no I/O of its own.

pub mod account;
pub mod executor;
pub mod rlp;
pub mod trie;

pub use account::Account;
pub use executor::{ExecError, Executor};
pub use trie::{EMPTY_ROOT, MemoryStore, NodeStore, Trie, TrieError, verify_proof};
