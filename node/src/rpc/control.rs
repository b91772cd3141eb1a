//! `luxtensor.node.v1.Control`: testnet control (produce blocks now, submit a transaction, add a
//! peer). Served only with a control token; [`ControlAuth`] refuses calls without it.

use std::sync::Arc;

use proto::node::v1 as api;
use tonic::{Request, Response, Status};

use super::convert::{header_to_api, tx_from_api};
use crate::chain::types::to_hex;
use crate::ledger::Ledger;
use crate::mempool::Mempool;
use crate::producer::Producer;

/// Most blocks one ProduceBlocks call may ask for.
pub const MAX_PRODUCE_BLOCKS: u32 = 1000;
/// Most generated transfers per block.
pub const MAX_TRANSFERS_PER_BLOCK: u32 = 1000;

/// Adds peers on request (implemented by the sync layer).
pub trait PeerAdder: Send + Sync + std::fmt::Debug + 'static {
    /// Adds `address`; returns the number of known peers, or why it was refused.
    fn add_peer(&self, address: &str) -> Result<usize, String>;
}

/// The control service.
#[derive(Clone, Debug)]
pub struct ControlService {
    ledger: Arc<Ledger>,
    mempool: Arc<Mempool>,
    producer: Arc<Producer>,
    peers: Arc<dyn PeerAdder>,
}

impl ControlService {
    /// A control service over the node's parts.
    pub fn new(
        ledger: Arc<Ledger>,
        mempool: Arc<Mempool>,
        producer: Arc<Producer>,
        peers: Arc<dyn PeerAdder>,
    ) -> Self {
        Self {
            ledger,
            mempool,
            producer,
            peers,
        }
    }
}

/// Checks `authorization: Bearer <token>` on every control call.
#[derive(Clone)]
pub struct ControlAuth {
    expected: Arc<str>,
}

impl ControlAuth {
    /// Accepts exactly `token`.
    pub fn new(token: &str) -> Self {
        Self {
            expected: format!("Bearer {token}").into(),
        }
    }
}

impl tonic::service::Interceptor for ControlAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match given {
            Some(v) if constant_time_eq(v.as_bytes(), self.expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::permission_denied("control token does not match")),
            None => Err(Status::permission_denied(
                "control API needs `authorization: Bearer <token>` metadata",
            )),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[tonic::async_trait]
impl api::control_server::Control for ControlService {
    async fn produce_blocks(
        &self,
        request: Request<api::ProduceBlocksRequest>,
    ) -> Result<Response<api::ProduceBlocksResponse>, Status> {
        let req = request.into_inner();
        if req.count == 0 || req.count > MAX_PRODUCE_BLOCKS {
            return Err(Status::invalid_argument(format!(
                "count must be 1..={MAX_PRODUCE_BLOCKS}, got {}",
                req.count
            )));
        }
        if req.transfers_per_block > MAX_TRANSFERS_PER_BLOCK {
            return Err(Status::invalid_argument(format!(
                "transfers_per_block must be at most {MAX_TRANSFERS_PER_BLOCK}, got {}",
                req.transfers_per_block
            )));
        }
        let producer = self.producer.clone();
        let headers = tokio::task::spawn_blocking(move || {
            let mut headers = Vec::new();
            for _ in 0..req.count {
                headers.push(header_to_api(
                    &producer.produce(req.transfers_per_block as usize)?.header,
                ));
            }
            Ok::<_, Status>(headers)
        })
        .await
        .map_err(|e| Status::internal(format!("producer task failed: {e}")))??;
        Ok(Response::new(api::ProduceBlocksResponse {
            blocks: headers,
        }))
    }

    async fn submit_transaction(
        &self,
        request: Request<api::SubmitTransactionRequest>,
    ) -> Result<Response<api::SubmitTransactionResponse>, Status> {
        let tx = request
            .into_inner()
            .transaction
            .ok_or_else(|| Status::invalid_argument("transaction is missing"))?;
        let tx = tx_from_api(&tx)?;
        let head = self.ledger.head();
        let (account, _) =
            self.ledger
                .account(&head.header.state_root, &tx.sender_address(), false)?;
        let hash = self
            .mempool
            .submit(tx, self.ledger.rules(), account.unwrap_or_default())?;
        Ok(Response::new(api::SubmitTransactionResponse {
            hash: to_hex(&hash),
        }))
    }

    async fn add_peer(
        &self,
        request: Request<api::AddPeerRequest>,
    ) -> Result<Response<api::AddPeerResponse>, Status> {
        let address = request.into_inner().address;
        let peers = self
            .peers
            .add_peer(&address)
            .map_err(Status::invalid_argument)?;
        Ok(Response::new(api::AddPeerResponse {
            peers: peers as u32,
        }))
    }
}
