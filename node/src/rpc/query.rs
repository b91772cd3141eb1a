//! `luxtensor.node.v1.Query`: read-only access to the chain, state and sync progress.

use std::sync::Arc;

use proto::node::v1 as api;
use tonic::{Request, Response, Status};

use super::convert::{block_to_api, header_to_api, parse_hash, tx_to_api};
use crate::chain::types::to_hex;
use crate::chain::{Address, Hash, Header, PublicKey};
use crate::ledger::Ledger;
use crate::mempool::Mempool;
use crate::sync::SyncState;

/// The query service.
#[derive(Clone, Debug)]
pub struct QueryService {
    ledger: Arc<Ledger>,
    mempool: Arc<Mempool>,
    sync: Arc<SyncState>,
    validator: Option<PublicKey>,
}

impl QueryService {
    /// A query service over the node's parts.
    pub fn new(
        ledger: Arc<Ledger>,
        mempool: Arc<Mempool>,
        sync: Arc<SyncState>,
        validator: Option<PublicKey>,
    ) -> Self {
        Self {
            ledger,
            mempool,
            sync,
            validator,
        }
    }

    fn resolve(&self, id: Option<&api::block_id::Id>) -> Result<(Hash, Header), Status> {
        match id {
            None => Err(Status::invalid_argument(
                "block id: give a height or a hash",
            )),
            Some(api::block_id::Id::Height(height)) => {
                let head = self.ledger.head().header.height;
                if *height > head {
                    return Err(Status::invalid_argument(format!(
                        "unknown height {height}: the head is at {head}"
                    )));
                }
                let hash = self
                    .ledger
                    .store()
                    .canonical_hash(*height)?
                    .ok_or_else(|| {
                        Status::not_found(format!("no canonical block at height {height}"))
                    })?;
                let header = self.ledger.store().header(&hash)?.ok_or_else(|| {
                    Status::internal(format!("canonical block {} has no header", to_hex(&hash)))
                })?;
                Ok((hash, header))
            }
            Some(api::block_id::Id::Hash(s)) => {
                let hash = parse_hash("block hash", s)?;
                let header = self.ledger.store().header(&hash)?.ok_or_else(|| {
                    Status::not_found(format!("no block with hash {}", to_hex(&hash)))
                })?;
                Ok((hash, header))
            }
        }
    }
}

#[tonic::async_trait]
impl api::query_server::Query for QueryService {
    async fn get_status(
        &self,
        _: Request<api::GetStatusRequest>,
    ) -> Result<Response<api::ChainStatus>, Status> {
        let head = self.ledger.head();
        let sync = self.sync.snapshot();
        Ok(Response::new(api::ChainStatus {
            chain_id: self.ledger.rules().chain_id,
            genesis_hash: to_hex(&self.ledger.genesis_hash()),
            height: head.header.height,
            head_hash: to_hex(&head.hash),
            state_root: to_hex(&head.header.state_root),
            syncing: sync.syncing,
            sync_target: sync.target,
            peers: sync
                .peers
                .iter()
                .map(|p| api::PeerInfo {
                    address: p.address.clone(),
                    height: p.height,
                    head_hash: to_hex(&p.head_hash),
                    score: p.score,
                    state: p.state.to_string(),
                    banned_for_secs: p.banned_for_secs,
                })
                .collect(),
            validator: self.validator.map(|v| v.to_string()).unwrap_or_default(),
            mempool_size: self.mempool.len() as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }

    async fn get_block(
        &self,
        request: Request<api::BlockId>,
    ) -> Result<Response<api::Block>, Status> {
        let (hash, _) = self.resolve(request.get_ref().id.as_ref())?;
        let block = self
            .ledger
            .store()
            .block(&hash)?
            .ok_or_else(|| Status::not_found(format!("no body for block {}", to_hex(&hash))))?;
        Ok(Response::new(block_to_api(&block)))
    }

    async fn get_header(
        &self,
        request: Request<api::BlockId>,
    ) -> Result<Response<api::Header>, Status> {
        let (_, header) = self.resolve(request.get_ref().id.as_ref())?;
        Ok(Response::new(header_to_api(&header)))
    }

    async fn get_account(
        &self,
        request: Request<api::GetAccountRequest>,
    ) -> Result<Response<api::Account>, Status> {
        let req = request.into_inner();
        let address = Address::from_hex(&req.address)?;
        let header = match req.height {
            None => self.ledger.head().header,
            Some(h) => self.resolve(Some(&api::block_id::Id::Height(h)))?.1,
        };
        let (account, proof) =
            self.ledger
                .account(&header.state_root, &address, req.include_proof)?;
        Ok(Response::new(api::Account {
            address: address.to_string(),
            balance: account.map_or(0, |a| a.balance),
            nonce: account.map_or(0, |a| a.nonce),
            height: header.height,
            state_root: to_hex(&header.state_root),
            proof: proof.iter().map(|n| to_hex(n)).collect(),
            exists: account.is_some(),
        }))
    }

    async fn get_transaction(
        &self,
        request: Request<api::GetTransactionRequest>,
    ) -> Result<Response<api::TransactionInfo>, Status> {
        let hash = parse_hash("transaction hash", &request.get_ref().hash)?;
        let (tx, loc, block_hash) = self.ledger.transaction(&hash)?.ok_or_else(|| {
            Status::not_found(format!(
                "no canonical transaction with hash {}",
                to_hex(&hash)
            ))
        })?;
        Ok(Response::new(api::TransactionInfo {
            transaction: Some(tx_to_api(&tx)),
            height: loc.height,
            block_hash: to_hex(&block_hash),
            index: loc.index,
        }))
    }

    async fn verify_chain(
        &self,
        request: Request<api::VerifyChainRequest>,
    ) -> Result<Response<api::VerifyChainResponse>, Status> {
        let req = request.into_inner();
        let head = self.ledger.head().header.height;
        let to = req.to_height.unwrap_or(head);
        if to > head {
            return Err(Status::invalid_argument(format!(
                "to_height {to} is above the head {head}"
            )));
        }
        if req.from_height > to {
            return Err(Status::invalid_argument(format!(
                "from_height {} is above to_height {to}",
                req.from_height
            )));
        }
        let ledger = self.ledger.clone();
        let report = tokio::task::spawn_blocking(move || ledger.verify_chain(req.from_height, to))
            .await
            .map_err(|e| Status::internal(format!("verification task failed: {e}")))??;
        Ok(Response::new(api::VerifyChainResponse {
            ok: report.fault.is_none(),
            blocks_checked: report.blocks_checked,
            fault: report.fault.map(|f| api::ChainFault {
                height: f.height,
                kind: f.kind.to_string(),
                message: f.message,
            }),
        }))
    }
}
