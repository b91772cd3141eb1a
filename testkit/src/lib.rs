//! Black-box tools for LuxTensor testnets, speaking only gRPC (no node internals, no RocksDB):
//! [`client`] wraps a node's query and control APIs, [`checks`] polls with deadlines and proves
//! convergence (heights, every block hash, state roots, every touched account, chain
//! verification), and [`demo`] drives the multi-node demo phase by phase and shows a live
//! convergence table. The node binary's `testnet run` and the `e2e` crate both use it.

pub mod checks;
pub mod client;
pub mod demo;

pub use checks::{Converged, check_transfers, converge, query_answers, wait_for, wait_for_height};
pub use client::{KitError, NodeClient};
