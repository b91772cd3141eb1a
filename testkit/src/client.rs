//! A named node reached over gRPC: query calls, and control calls with the bearer token.

use std::time::Duration;

use proto::node::v1 as api;
use proto::node::v1::control_service_client::ControlServiceClient as ControlClient;
use proto::node::v1::query_service_client::QueryServiceClient as QueryClient;
use proto::node::v1::transaction_service_client::TransactionServiceClient;
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

/// Blocks asked per `ListBlocks` call (the server's bound is 10,000).
pub const LIST_BLOCKS_PAGE: u64 = 5_000;

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
    pub async fn status(&self) -> Result<api::GetStatusResponse, KitError> {
        Ok(self
            .query()
            .get_status(api::GetStatusRequest {})
            .await
            .map_err(self.rpc("GetStatus"))?
            .into_inner())
    }

    /// Canonical header at `height`.
    pub async fn header(&self, height: u64) -> Result<api::Header, KitError> {
        let id = api::GetHeaderRequest {
            id: Some(api::get_header_request::Id::Height(height)),
        };
        self.query()
            .get_header(id)
            .await
            .map_err(self.rpc("GetHeader"))?
            .into_inner()
            .header
            .ok_or_else(|| self.missing("GetHeader", "header"))
    }

    /// Canonical block at `height`.
    pub async fn block(&self, height: u64) -> Result<api::Block, KitError> {
        let id = api::GetBlockRequest {
            id: Some(api::get_block_request::Id::Height(height)),
        };
        self.block_by(id).await
    }

    /// A block by height or hash.
    pub async fn block_by(&self, id: api::GetBlockRequest) -> Result<api::Block, KitError> {
        self.query()
            .get_block(id)
            .await
            .map_err(self.rpc("GetBlock"))?
            .into_inner()
            .block
            .ok_or_else(|| self.missing("GetBlock", "block"))
    }

    /// Canonical blocks `from..=to`, read with `ListBlocks` (one stream per
    /// [`LIST_BLOCKS_PAGE`] blocks).
    pub async fn blocks(&self, from: u64, to: u64) -> Result<Vec<api::Block>, KitError> {
        let mut out = Vec::with_capacity(to.saturating_sub(from) as usize + 1);
        let mut start = from;
        while start <= to {
            let end = to.min(start + LIST_BLOCKS_PAGE - 1);
            let mut stream = self
                .query()
                .list_blocks(api::ListBlocksRequest {
                    from_height: start,
                    to_height: Some(end),
                })
                .await
                .map_err(self.rpc("ListBlocks"))?
                .into_inner();
            while let Some(item) = stream.message().await.map_err(self.rpc("ListBlocks"))? {
                out.push(
                    item.block
                        .ok_or_else(|| self.missing("ListBlocks", "block"))?,
                );
            }
            let want = (end - from + 1) as usize;
            if out.len() != want {
                return Err(KitError::Diverged(format!(
                    "{}: ListBlocks {start}..={end} ended after {} of {} blocks",
                    self.name,
                    out.len(),
                    want
                )));
            }
            start = end + 1;
        }
        Ok(out)
    }

    /// A transaction by hash: canonical (with its block) or pending in the node's mempool.
    pub async fn transaction(&self, hash: &str) -> Result<api::GetTransactionResponse, KitError> {
        Ok(self
            .query()
            .get_transaction(api::GetTransactionRequest {
                hash: hash.to_string(),
            })
            .await
            .map_err(self.rpc("GetTransaction"))?
            .into_inner())
    }

    /// Submits a signed transaction through the public transaction service; returns its hash.
    pub async fn submit(&self, tx: api::Transaction) -> Result<String, KitError> {
        Ok(TransactionServiceClient::new(self.channel.clone())
            .submit_transaction(api::SubmitTransactionRequest {
                transaction: Some(tx),
            })
            .await
            .map_err(self.rpc("SubmitTransaction"))?
            .into_inner()
            .hash)
    }

    fn missing(&self, what: &'static str, field: &str) -> KitError {
        KitError::Rpc {
            name: self.name.clone(),
            what,
            status: tonic::Status::internal(format!("answer without {field}")),
        }
    }

    /// An account at the head (or at `height`).
    pub async fn account(
        &self,
        address: &str,
        height: Option<u64>,
        proof: bool,
    ) -> Result<api::GetAccountResponse, KitError> {
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

    /// Pauses (or resumes) the validator's production in its slots.
    pub async fn set_production(&self, paused: bool) -> Result<bool, KitError> {
        let req = self.control_request(api::SetProductionRequest { paused })?;
        Ok(self
            .control()
            .set_production(req)
            .await
            .map_err(self.rpc("SetProduction"))?
            .into_inner()
            .paused)
    }

    /// The genesis the node runs.
    pub async fn genesis(&self) -> Result<api::GetGenesisResponse, KitError> {
        Ok(self
            .query()
            .get_genesis(api::GetGenesisRequest {})
            .await
            .map_err(self.rpc("GetGenesis"))?
            .into_inner())
    }

    /// Equivocations the node recorded.
    pub async fn evidence(&self) -> Result<Vec<api::Evidence>, KitError> {
        Ok(self
            .query()
            .list_evidence(api::ListEvidenceRequest {})
            .await
            .map_err(self.rpc("ListEvidence"))?
            .into_inner()
            .evidence)
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
