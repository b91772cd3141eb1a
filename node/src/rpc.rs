//! The gRPC surface: the query, transaction and control services for people and harnesses, the
//! peer sync service (from `sync`), health and reflection, all on one port. Conversions between
//! domain and protobuf types and the single mapping from errors to `tonic::Status` live here, not
//! in the domain modules. `rpc` depends on `sync`, never the reverse.

pub mod connections;
pub mod control;
pub mod convert;
pub mod errors;
pub mod metrics;
pub mod query;
pub mod requests;
pub mod server;
pub mod transactions;

pub use server::{RpcServer, ServerConfig};
