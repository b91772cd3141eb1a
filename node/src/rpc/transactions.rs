//! `luxtensor.node.v1.TransactionService`: public transaction submission. A signed transaction is
//! checked against the head state (chain, signature, nonce, balance) and admitted to the mempool,
//! or refused with a precise reason; an admitted one is pushed on to the node's peers.

use std::sync::Arc;

use proto::node::v1 as api;
use tonic::{Request, Response, Status};

use super::convert::tx_from_api;
use super::errors::RequestError;
use crate::chain::types::to_hex;
use crate::sync::gossip::TxGossip;

/// The transaction service.
#[derive(Clone, Debug)]
pub struct TransactionService {
    gossip: Arc<TxGossip>,
}

impl TransactionService {
    /// A transaction service feeding the mempool through `gossip` (which passes each admitted
    /// transaction on to the peers).
    pub fn new(gossip: Arc<TxGossip>) -> Self {
        Self { gossip }
    }
}

#[tonic::async_trait]
impl api::transaction_service_server::TransactionService for TransactionService {
    async fn submit_transaction(
        &self,
        request: Request<api::SubmitTransactionRequest>,
    ) -> Result<Response<api::SubmitTransactionResponse>, Status> {
        let tx = request
            .into_inner()
            .transaction
            .ok_or(RequestError::Missing {
                field: "transaction",
            })?;
        let tx = tx_from_api(&tx)?;
        let hash = self.gossip.submit(tx)?;
        Ok(Response::new(api::SubmitTransactionResponse {
            hash: to_hex(&hash),
        }))
    }
}
