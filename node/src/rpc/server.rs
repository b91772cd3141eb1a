//! Assembles every gRPC service on one listener: health (`grpc.health.v1`, SERVING once the
//! database is open), reflection v1 and v1alpha (grpcurl 1.8 speaks only v1alpha; the
//! `google.rpc` error detail types are registered too, so grpcurl prints `ErrorInfo`), query,
//! transactions, sync, and control when a token is configured. Message sizes are bounded; every
//! answer is counted by method and code when metrics are on.

use std::net::SocketAddr;

use proto::node::v1::control_service_server::ControlServiceServer;
use proto::node::v1::query_service_server::QueryServiceServer;
use proto::node::v1::transaction_service_server::TransactionServiceServer;
use proto::sync::v1::sync_service_server::SyncServiceServer;
use tokio_util::sync::CancellationToken;

use super::connections::{ConnectionLimits, incoming};
use super::control::{ControlAuth, ControlService};
use super::query::QueryService;
use super::transactions::TransactionService;
use crate::sync::server::SyncService;
use crate::sync::wire as sync_wire;

/// Largest request a client may send.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Largest response the server sends.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Reflection could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The listener could not be bound.
    #[error("binding {addr}: {error}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// The services to serve.
#[derive(Debug)]
pub struct ServerConfig {
    /// Query service.
    pub query: QueryService,
    /// Transaction submission.
    pub transactions: TransactionService,
    /// Sync service.
    pub sync: SyncService,
    /// Control service and its token, when enabled.
    pub control: Option<(ControlService, String)>,
    /// Connection, stream and time limits.
    pub limits: ConnectionLimits,
    /// Request counters, when metrics are on.
    pub requests: Option<super::requests::GrpcRequests>,
}

/// A bound gRPC server.
#[derive(Debug)]
pub struct RpcServer {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
}

impl RpcServer {
    /// Binds the listener (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServerError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|error| ServerError::Bind { addr, error })?;
        let local_addr = listener
            .local_addr()
            .map_err(|error| ServerError::Bind { addr, error })?;
        Ok(Self {
            listener,
            local_addr,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `cancel` fires.
    pub async fn serve(
        self,
        config: ServerConfig,
        cancel: CancellationToken,
    ) -> Result<(), ServerError> {
        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<QueryServiceServer<QueryService>>()
            .await;
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let query = QueryServiceServer::new(config.query)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES);
        let transactions = TransactionServiceServer::new(config.transactions)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES);
        let sync = SyncServiceServer::new(config.sync)
            .max_decoding_message_size(sync_wire::MAX_REQUEST_BYTES)
            .max_encoding_message_size(sync_wire::MAX_MESSAGE_BYTES);
        let control = config.control.map(|(service, token)| {
            tonic::service::interceptor::InterceptedService::new(
                ControlServiceServer::new(service)
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
                ControlAuth::new(&token),
            )
        });
        let limits = config.limits;
        let incoming = incoming(self.listener, &limits);
        tonic::transport::Server::builder()
            .layer(super::requests::CountRequests(config.requests))
            .max_concurrent_streams(limits.max_streams_per_connection)
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            .max_connection_age(limits.max_connection_age)
            .max_connection_age_grace(limits.keepalive_interval)
            .timeout(limits.request_timeout)
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(query)
            .add_service(transactions)
            .add_service(sync)
            .add_optional_service(control)
            .serve_with_incoming_shutdown(incoming, cancel.cancelled_owned())
            .await?;
        Ok(())
    }
}
