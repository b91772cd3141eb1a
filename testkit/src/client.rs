//! A named node reached over gRPC: query calls, and control calls with the bearer token.

use std::time::Duration;

use proto::node::v1 as api;
use proto::node::v1::control_client::ControlClient;
use proto::node::v1::query_client::QueryClient;
use tonic::transport::{Channel, Endpoint};

/// Why a testnet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The endpoint is not a valid URL.
    #[error("{name}: bad endpoint {endpoint:?}: {detail}")]
    Endpoint {
        /// Node name.
        name: String,
        /// The endpoint given.
        endpoint: String,
        /// Why.
        detail: String,
    },
    /// A call failed.
    #[error("{name}: {what}: {status}")]
    Rpc {
        /// Node name.
        name: String,
        /// Which call.
        what: &'static str,
        /// The gRPC status.
        status: tonic::Status,
    },
    /// A deadline passed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline.
        after: Duration,
    },
    /// Nodes disagree.
    #[error("nodes diverged: {0}")]
    Diverged(String),
    /// The control API is needed but no token was given.
    #[error("{0}: no control token configured")]
    NoControl(String),
}

/// A node by name.
#[derive(Clone, Debug)]
pub struct NodeClient {
    /// Display name ("node-a").
    pub name: String,
    /// gRPC endpoint URL.
    pub endpoint: String,
    /// Address other nodes use to reach this one (host:port).
    pub peer_address: String,
    query: QueryClient<Channel>,
    channel: Channel,
    token: Option<String>,
}

impl NodeClient {
    /// A client for `endpoint` (connects lazily, so a node that is still starting is fine).
    /// `peer_address` defaults to the endpoint's host:port.
    pub fn new(
        name: &str,
        endpoint: &str,
        peer_address: Option<&str>,
        token: Option<&str>,
    ) -> Result<Self, KitError> {
        let bad = |detail: String| KitError::Endpoint {
            name: name.into(),
            endpoint: endpoint.into(),
            detail,
        };
        let channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .connect_lazy();
        let default_peer = endpoint
            .split("://")
            .last()
            .unwrap_or(endpoint)
            .trim_end_matches('/');
        Ok(Self {
            name: name.to_string(),
            endpoint: endpoint.to_string(),
            peer_address: peer_address.unwrap_or(default_peer).to_string(),
            query: QueryClient::new(channel.clone()).max_decoding_message_size(16 << 20),
            channel,
            token: token.map(str::to_string),
        })
    }

    fn rpc(&self, what: &'static str) -> impl FnOnce(tonic::Status) -> KitError + '_ {
        move |status| KitError::Rpc {
            name: self.name.clone(),
            what,
            status,
        }
    }

    /// The query client.
    pub fn query(&self) -> QueryClient<Channel> {
        self.query.clone()
    }

    /// Chain status.
    pub async fn status(&self) -> Result<api::ChainStatus, KitError> {
        Ok(self
            .query()
            .get_status(api::GetStatusRequest {})
            .await
            .map_err(self.rpc("GetStatus"))?
            .into_inner())
    }

    /// Canonical header at `height`.
    pub async fn header(&self, height: u64) -> Result<api::Header, KitError> {
        let id = api::BlockId {
            id: Some(api::block_id::Id::Height(height)),
        };
        Ok(self
            .query()
            .get_header(id)
            .await
            .map_err(self.rpc("GetHeader"))?
            .into_inner())
    }

    /// Canonical block at `height`.
    pub async fn block(&self, height: u64) -> Result<api::Block, KitError> {
        let id = api::BlockId {
            id: Some(api::block_id::Id::Height(height)),
        };
        Ok(self
            .query()
            .get_block(id)
            .await
            .map_err(self.rpc("GetBlock"))?
            .into_inner())
    }

    /// An account at the head (or at `height`).
    pub async fn account(
        &self,
        address: &str,
        height: Option<u64>,
        proof: bool,
    ) -> Result<api::Account, KitError> {
        let req = api::GetAccountRequest {
            address: address.to_string(),
            height,
            include_proof: proof,
        };
        Ok(self
            .query()
            .get_account(req)
            .await
            .map_err(self.rpc("GetAccount"))?
            .into_inner())
    }

    /// Re-verifies the node's whole chain.
    pub async fn verify_chain(&self) -> Result<api::VerifyChainResponse, KitError> {
        let req = api::VerifyChainRequest {
            from_height: 0,
            to_height: None,
        };
        Ok(self
            .query()
            .verify_chain(req)
            .await
            .map_err(self.rpc("VerifyChain"))?
            .into_inner())
    }

    fn control_request<T>(&self, message: T) -> Result<tonic::Request<T>, KitError> {
        let token = self
            .token
            .as_ref()
            .ok_or_else(|| KitError::NoControl(self.name.clone()))?;
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {token}").parse().map_err(|_| {
            KitError::NoControl(format!("{} (token is not valid metadata)", self.name))
        })?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }

    fn control(&self) -> ControlClient<Channel> {
        ControlClient::new(self.channel.clone()).max_decoding_message_size(16 << 20)
    }

    /// Produces `count` blocks with `transfers` generated transfers each.
    pub async fn produce(&self, count: u32, transfers: u32) -> Result<Vec<api::Header>, KitError> {
        let req = self.control_request(api::ProduceBlocksRequest {
            count,
            transfers_per_block: transfers,
        })?;
        Ok(self
            .control()
            .produce_blocks(req)
            .await
            .map_err(self.rpc("ProduceBlocks"))?
            .into_inner()
            .blocks)
    }

    /// Tells the node about a peer.
    pub async fn add_peer(&self, address: &str) -> Result<u32, KitError> {
        let req = self.control_request(api::AddPeerRequest {
            address: address.to_string(),
        })?;
        Ok(self
            .control()
            .add_peer(req)
            .await
            .map_err(self.rpc("AddPeer"))?
            .into_inner()
            .peers)
    }
}
