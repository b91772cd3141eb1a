//! The LuxTensor protobuf contract: generated tonic/prost code for the node's query and control
//! API (`luxtensor.node.v1`) and the peer sync protocol (`luxtensor.sync.v1`), plus the encoded
//! file descriptor set that server reflection serves. No domain logic lives here: the node and
//! black-box clients (e2e, the testnet driver) both depend on this crate and nothing heavier.

pub mod codec;

/// `luxtensor.node.v1`: query, transaction and control services.
pub mod node {
    /// Version 1.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("luxtensor.node.v1");
    }
}

/// `luxtensor.sync.v1`: the peer sync service.
pub mod sync {
    /// Version 1.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("luxtensor.sync.v1");
    }
}

/// Encoded `FileDescriptorSet` of every `.proto` file here, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/luxtensor_descriptor.bin"));
