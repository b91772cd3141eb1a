//! `luxtensor.node.v1.ControlService`: testnet control (produce blocks now, pause or resume slot
//! production, add a peer). Served
//! only with a control token; [`ControlAuth`] refuses calls without it (`UNAUTHENTICATED`),
//! comparing tokens in constant time. A `ProduceBlocks` stops between two blocks when its caller
//! goes away, its deadline passes or the node stops, and a failure part-way says how many blocks
//! were committed.

use std::sync::Arc;

use proto::node::v1 as api;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::convert::header_to_api;
use super::errors::{RequestError, task_failed, with_context};
use crate::producer::Producer;
use crate::sync::SyncEngine;

/// Most blocks one ProduceBlocks call may ask for.
pub const MAX_PRODUCE_BLOCKS: u32 = 1000;
/// Most generated transfers per block.
pub const MAX_TRANSFERS_PER_BLOCK: u32 = 1000;

/// Adds peers on request.
pub trait PeerAdder: Send + Sync + std::fmt::Debug + 'static {
    /// Adds `address`; returns the number of known peers, or why it was refused.
    fn add_peer(&self, address: &str) -> Result<usize, String>;
}

impl PeerAdder for SyncEngine {
    fn add_peer(&self, address: &str) -> Result<usize, String> {
        SyncEngine::add_peer(self, address)
    }
}

/// The control service.
#[derive(Clone, Debug)]
pub struct ControlService {
    producer: Arc<Producer>,
    peers: Arc<dyn PeerAdder>,
    shutdown: CancellationToken,
}

impl ControlService {
    /// A control service over the node's producer and peers; work stops at `shutdown`.
    pub fn new(
        producer: Arc<Producer>,
        peers: Arc<dyn PeerAdder>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            producer,
            peers,
            shutdown,
        }
    }
}

/// Checks `authorization: Bearer <token>` on every control call.
#[derive(Clone)]
pub struct ControlAuth {
    expected: Arc<[u8]>,
}

impl ControlAuth {
    /// Accepts exactly `token`.
    pub fn new(token: &str) -> Self {
        Self {
            expected: format!("Bearer {token}").into_bytes().into(),
        }
    }
}

impl tonic::service::Interceptor for ControlAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let given = request.metadata().get("authorization");
        match given {
            None => Err(RequestError::MissingToken.into()),
            Some(v) if bool::from(v.as_bytes().ct_eq(&self.expected)) => Ok(request),
            Some(_) => Err(RequestError::WrongToken.into()),
        }
    }
}

fn bounded(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), RequestError> {
    if value < min || value > max {
        return Err(RequestError::OutOfBounds {
            field,
            value: value.into(),
            min: min.into(),
            max: max.into(),
        });
    }
    Ok(())
}

#[tonic::async_trait]
impl api::control_service_server::ControlService for ControlService {
    async fn produce_blocks(
        &self,
        request: Request<api::ProduceBlocksRequest>,
    ) -> Result<Response<api::ProduceBlocksResponse>, Status> {
        let req = request.into_inner();
        bounded("count", req.count, 1, MAX_PRODUCE_BLOCKS)?;
        bounded(
            "transfers_per_block",
            req.transfers_per_block,
            0,
            MAX_TRANSFERS_PER_BLOCK,
        )?;
        let producer = self.producer.clone();
        // Cancelled when tonic drops this call (client gone, deadline passed) or the node stops.
        let cancel = self.shutdown.child_token();
        let _on_drop = cancel.clone().drop_guard();
        let headers = tokio::task::spawn_blocking(move || {
            let mut headers = Vec::new();
            for _ in 0..req.count {
                if cancel.is_cancelled() {
                    let committed = headers.len();
                    tracing::info!(target: "rpc::control", committed, requested = req.count, "ProduceBlocks stopped: its caller went away or the node is stopping");
                    return Err(with_context(
                        RequestError::Cancelled("ProduceBlocks").into(),
                        &format!("committed {committed} of {} blocks, then: ", req.count),
                        &[
                            ("committed", committed.to_string()),
                            ("requested", req.count.to_string()),
                        ],
                    ));
                }
                match producer.produce(req.transfers_per_block as usize) {
                    Ok(block) => headers.push(header_to_api(&block.header)),
                    Err(e) => {
                        let committed = headers.len();
                        return Err(with_context(
                            e.into(),
                            &format!("committed {committed} of {} blocks, then: ", req.count),
                            &[
                                ("committed", committed.to_string()),
                                ("requested", req.count.to_string()),
                            ],
                        ));
                    }
                }
            }
            Ok(headers)
        })
        .await
        .map_err(|e| task_failed("producer task", e))??;
        Ok(Response::new(api::ProduceBlocksResponse {
            blocks: headers,
        }))
    }

    async fn set_production(
        &self,
        request: Request<api::SetProductionRequest>,
    ) -> Result<Response<api::SetProductionResponse>, Status> {
        if self.producer.validator().is_none() {
            return Err(crate::producer::ProduceError::NotValidator.into());
        }
        let paused = request.into_inner().paused;
        self.producer.set_paused(paused);
        Ok(Response::new(api::SetProductionResponse { paused }))
    }

    async fn add_peer(
        &self,
        request: Request<api::AddPeerRequest>,
    ) -> Result<Response<api::AddPeerResponse>, Status> {
        let address = request.into_inner().address;
        let peers = self
            .peers
            .add_peer(&address)
            .map_err(|reason| RequestError::PeerRefused { address, reason })?;
        Ok(Response::new(api::AddPeerResponse {
            peers: peers as u32,
        }))
    }
}
