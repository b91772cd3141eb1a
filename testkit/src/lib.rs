//! Black-box tools for LuxTensor testnets, speaking only gRPC (no node internals, no RocksDB):
//! [`client`] wraps a node's query and control APIs, [`checks`] polls with deadlines and proves
//! convergence (heights, every block hash, state roots, every touched account, chain
//! verification), and [`demo`] drives the multi-node demo phase by phase and shows a live
//! convergence table; [`dashboard`] serves the live web page of a run; [`proxy`] is a TCP link a
//! test can cut and heal (partitions between nodes on one machine). [`manifest`] is the testnet
//! manifest, [`schedule`] its events at heights, [`runner`] runs it over any orchestrator backend
//! with [`load`] sending transfers signed by [`signer`] (written from `docs/PROTOCOL.md`). The node
//! binary's `testnet run`, the `luxtensor-testnet` runner and the `e2e` crate all use it.

pub mod checks;
pub mod client;
pub mod dashboard;
pub mod demo;
pub mod load;
pub mod manifest;
pub mod proxy;
pub mod runner;
pub mod schedule;
pub mod signer;

pub use checks::{
    Converged, FinalityWatch, Tally, check_transfers, converge, converge_final, prove_equal,
    query_answers, tally_transactions, wait_for, wait_for_height,
};
pub use client::{KitError, NodeClient};
pub use proxy::LinkProxy;
