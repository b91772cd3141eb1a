//! Black-box end-to-end tests of LuxTensor nodes in real containers. [`image`] is the node image
//! in the style of testcontainers-modules (name, tag, gRPC port, `with_*` builders, ready when the
//! image's gRPC health check passes); [`cluster`] builds the image when missing, clears containers
//! left by killed runs, and starts N nodes in parallel on a private network where they reach each
//! other by name; [`manifest`] runs a testnet manifest (`deploy/testnets/*.toml`) in containers
//! with the same runner as `luxtensor-testnet run`. Checks come from `testkit` (gRPC only): this
//! crate never links the node or RocksDB.

pub mod cluster;
pub mod docker;
pub mod image;
pub mod manifest;

pub use cluster::{Cluster, NodeSpec};
pub use image::LuxtensorNode;
pub use manifest::ManifestCluster;
