//! The node's integration tests, as one test binary (one link of RocksDB and tonic instead of
//! one per file). Every gRPC check goes through `testkit`, the same code the e2e tests and the
//! testnet driver use.

mod common;
mod crash;
mod dashboard;
mod ethereum_trie;
mod fuzz;
mod hostile;
mod layers;
mod ledger;
mod living;
mod node_api;
mod partition;
mod simnet;
mod speccheck;
mod sync;
mod sync_crash;
