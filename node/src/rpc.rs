//! The gRPC surface: query and control services for people and harnesses, the peer sync service,
//! health and reflection, all on one port. Conversions between domain and protobuf types and the
//! single mapping from domain errors to `tonic::Status` live here, not in the domain modules.

pub mod control;
pub mod convert;
pub mod errors;
pub mod query;
pub mod server;

pub use server::{RpcServer, ServerConfig};
