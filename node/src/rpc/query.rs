//! `luxtensor.node.v1.QueryService`: read-only access to the chain, state and sync progress.
//! Range reads stream lazily: the next batch of blocks is read (within the node's serving read
//! budget) only when the client has taken the previous one. Whole-chain verification, the one
//! call whose cost grows with the chain, runs at most [`MAX_VERIFICATIONS`] at a time and stops
//! as soon as its caller goes away or its deadline passes.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use proto::node::v1 as api;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::convert::{
    block_to_api, fault_to_api, header_to_api, parse_hash, peer_to_api, tx_to_api,
};
use super::errors::{RequestError, task_failed};
use crate::chain::types::to_hex;
use crate::chain::{Address, Block, Hash, Header};
use crate::ledger::Ledger;
use crate::mempool::Mempool;
use crate::producer::Producer;
use crate::sync::SyncState;
use crate::sync::server::ReadBudget;

/// Most blocks one `ListBlocks` call returns.
pub const MAX_LIST_BLOCKS: u64 = 10_000;
/// Blocks read from the database per step of a `ListBlocks` stream.
const LIST_BATCH: u64 = 32;
/// `VerifyChain` calls that may run at once; more are refused with `RESOURCE_EXHAUSTED`.
pub const MAX_VERIFICATIONS: usize = 2;

/// The query service.
#[derive(Clone, Debug)]
pub struct QueryService {
    ledger: Arc<Ledger>,
    mempool: Arc<Mempool>,
    sync: Arc<SyncState>,
    producer: Arc<Producer>,
    reads: ReadBudget,
    verifications: Arc<Semaphore>,
    shutdown: CancellationToken,
}

/// Which block a request names.
enum BlockRef {
    Height(u64),
    Hash(String),
}

impl QueryService {
    /// A query service over the node's parts; range reads share `reads`, and long work stops
    /// at `shutdown`.
    pub fn new(
        ledger: Arc<Ledger>,
        mempool: Arc<Mempool>,
        sync: Arc<SyncState>,
        producer: Arc<Producer>,
        reads: ReadBudget,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            ledger,
            mempool,
            sync,
            producer,
            reads,
            verifications: Arc::new(Semaphore::new(MAX_VERIFICATIONS)),
            shutdown,
        }
    }

    fn check_height(&self, field: &'static str, height: u64) -> Result<(), RequestError> {
        let head = self.ledger.head().header.height;
        if height > head {
            return Err(RequestError::AboveHead {
                field,
                height,
                head,
            });
        }
        Ok(())
    }

    fn resolve(&self, id: Option<BlockRef>) -> Result<(Hash, Header), Status> {
        match id {
            None => Err(RequestError::Missing {
                field: "height or hash",
            }
            .into()),
            Some(BlockRef::Height(height)) => {
                self.check_height("height", height)?;
                let hash = self.ledger.store().canonical_hash(height)?.ok_or_else(|| {
                    RequestError::BlockNotFound(format!("no canonical block at height {height}"))
                })?;
                let header = self.ledger.store().header(&hash)?.ok_or_else(|| {
                    crate::storage::StorageError::Corrupt(format!(
                        "canonical block {} has no header",
                        to_hex(&hash)
                    ))
                })?;
                Ok((hash, header))
            }
            Some(BlockRef::Hash(s)) => {
                let hash = parse_hash("hash", &s)?;
                let header = self.ledger.store().header(&hash)?.ok_or_else(|| {
                    RequestError::BlockNotFound(format!("no block with hash {}", to_hex(&hash)))
                })?;
                Ok((hash, header))
            }
        }
    }
}

fn block_ref_of_block(id: Option<api::get_block_request::Id>) -> Option<BlockRef> {
    id.map(|id| match id {
        api::get_block_request::Id::Height(h) => BlockRef::Height(h),
        api::get_block_request::Id::Hash(h) => BlockRef::Hash(h),
    })
}

fn block_ref_of_header(id: Option<api::get_header_request::Id>) -> Option<BlockRef> {
    id.map(|id| match id {
        api::get_header_request::Id::Height(h) => BlockRef::Height(h),
        api::get_header_request::Id::Hash(h) => BlockRef::Hash(h),
    })
}

/// Canonical blocks `from..=to`.
fn read_blocks(ledger: &Ledger, from: u64, to: u64) -> Result<Vec<Block>, Status> {
    let mut blocks = Vec::with_capacity((to - from + 1) as usize);
    for h in from..=to {
        let block = ledger.block_at(h)?.ok_or_else(|| {
            RequestError::BlockNotFound(format!("no canonical block at height {h}"))
        })?;
        blocks.push(block);
    }
    Ok(blocks)
}

type BlockStream = Pin<Box<dyn Stream<Item = Result<api::ListBlocksResponse, Status>> + Send>>;

#[tonic::async_trait]
impl api::query_service_server::QueryService for QueryService {
    async fn get_status(
        &self,
        _: Request<api::GetStatusRequest>,
    ) -> Result<Response<api::GetStatusResponse>, Status> {
        let head = self.ledger.head();
        let sync = self.sync.snapshot();
        let rules = self.ledger.rules();
        let finalized = self.ledger.finalized();
        let evidence = self.ledger.evidence()?.len() as u32;
        Ok(Response::new(api::GetStatusResponse {
            chain_id: self.ledger.rules().chain_id,
            genesis_hash: to_hex(&self.ledger.genesis_hash()),
            height: head.header.height,
            head_hash: to_hex(&head.hash),
            state_root: to_hex(&head.header.state_root),
            syncing: sync.syncing,
            sync_target: sync.target,
            peers: sync.peers.iter().map(peer_to_api).collect(),
            validator: self
                .producer
                .validator()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            mempool_size: self.mempool.len() as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            head_slot: rules.slot(&head.header),
            current_slot: rules.schedule.slot_of(self.ledger.now_ms()),
            finalized_height: finalized.height,
            finalized_hash: to_hex(&finalized.hash),
            reorgs: self.ledger.reorgs(),
            production_paused: self.producer.validator().is_some() && self.producer.is_paused(),
            evidence_count: evidence,
        }))
    }

    async fn get_genesis(
        &self,
        _: Request<api::GetGenesisRequest>,
    ) -> Result<Response<api::GetGenesisResponse>, Status> {
        let spec = self.ledger.genesis();
        Ok(Response::new(api::GetGenesisResponse {
            chain_id: spec.chain_id,
            genesis_time_ms: spec.genesis_time_ms,
            slot_ms: spec.slot_ms,
            validators: spec
                .validators
                .iter()
                .map(|v| api::GenesisValidator {
                    public_key: v.key.to_string(),
                    stake: v.stake,
                })
                .collect(),
            accounts: spec
                .accounts
                .iter()
                .map(|(address, balance)| api::GenesisAccount {
                    address: address.to_string(),
                    balance: *balance,
                })
                .collect(),
            dev_accounts: spec.dev_accounts,
            genesis_hash: to_hex(&self.ledger.genesis_hash()),
            json: spec.to_genesis().to_json(),
        }))
    }

    async fn list_evidence(
        &self,
        _: Request<api::ListEvidenceRequest>,
    ) -> Result<Response<api::ListEvidenceResponse>, Status> {
        let evidence = self
            .ledger
            .evidence()?
            .iter()
            .map(|e| api::Evidence {
                slot: e.slot,
                producer: e.producer.to_string(),
                headers: e.headers.iter().map(header_to_api).collect(),
            })
            .collect();
        Ok(Response::new(api::ListEvidenceResponse { evidence }))
    }

    async fn get_block(
        &self,
        request: Request<api::GetBlockRequest>,
    ) -> Result<Response<api::GetBlockResponse>, Status> {
        let (hash, _) = self.resolve(block_ref_of_block(request.into_inner().id))?;
        let block = self.ledger.store().block(&hash)?.ok_or_else(|| {
            RequestError::BlockNotFound(format!("no body for block {}", to_hex(&hash)))
        })?;
        Ok(Response::new(api::GetBlockResponse {
            block: Some(block_to_api(&block)),
        }))
    }

    async fn get_header(
        &self,
        request: Request<api::GetHeaderRequest>,
    ) -> Result<Response<api::GetHeaderResponse>, Status> {
        let (_, header) = self.resolve(block_ref_of_header(request.into_inner().id))?;
        Ok(Response::new(api::GetHeaderResponse {
            header: Some(header_to_api(&header)),
        }))
    }

    type ListBlocksStream = BlockStream;

    async fn list_blocks(
        &self,
        request: Request<api::ListBlocksRequest>,
    ) -> Result<Response<Self::ListBlocksStream>, Status> {
        let req = request.into_inner();
        let head = self.ledger.head().header.height;
        let to = req.to_height.unwrap_or(head);
        self.check_height("to_height", to)?;
        let from = req.from_height;
        if from > to {
            return Err(RequestError::Inverted { from, to }.into());
        }
        let count = to - from + 1;
        if count > MAX_LIST_BLOCKS {
            return Err(RequestError::OutOfBounds {
                field: "to_height - from_height + 1",
                value: count,
                min: 1,
                max: MAX_LIST_BLOCKS,
            }
            .into());
        }
        let ledger = self.ledger.clone();
        let reads = self.reads.clone();
        let batches = stream::unfold(Some(from), move |next| {
            let ledger = ledger.clone();
            let reads = reads.clone();
            async move {
                let start = next.filter(|h| *h <= to)?;
                let end = to.min(start + LIST_BATCH - 1);
                let read = reads
                    .run(move || read_blocks(&ledger, start, end))
                    .await
                    .map_err(|e| task_failed("block read task", e))
                    .and_then(|r| r);
                let (items, next): (Vec<Result<api::ListBlocksResponse, Status>>, _) = match read {
                    Ok(blocks) => (
                        blocks
                            .iter()
                            .map(|b| {
                                Ok(api::ListBlocksResponse {
                                    block: Some(block_to_api(b)),
                                })
                            })
                            .collect(),
                        Some(end + 1),
                    ),
                    Err(status) => (vec![Err(status)], None),
                };
                Some((stream::iter(items), next))
            }
        })
        .flatten();
        Ok(Response::new(Box::pin(batches)))
    }

    async fn get_account(
        &self,
        request: Request<api::GetAccountRequest>,
    ) -> Result<Response<api::GetAccountResponse>, Status> {
        let req = request.into_inner();
        let address = Address::from_hex(&req.address)?;
        let header = match req.height {
            None => self.ledger.head().header,
            Some(h) => self.resolve(Some(BlockRef::Height(h)))?.1,
        };
        let (account, proof) =
            self.ledger
                .account(&header.state_root, &address, req.include_proof)?;
        Ok(Response::new(api::GetAccountResponse {
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
    ) -> Result<Response<api::GetTransactionResponse>, Status> {
        let hash = parse_hash("hash", &request.get_ref().hash)?;
        if let Some((tx, loc, block_hash)) = self.ledger.transaction(&hash)? {
            return Ok(Response::new(api::GetTransactionResponse {
                transaction: Some(tx_to_api(&tx)),
                height: loc.height,
                block_hash: to_hex(&block_hash),
                index: loc.index,
                pending: false,
            }));
        }
        let tx = self
            .mempool
            .get(&hash)
            .ok_or_else(|| RequestError::TransactionNotFound(to_hex(&hash)))?;
        Ok(Response::new(api::GetTransactionResponse {
            transaction: Some(tx_to_api(&tx)),
            pending: true,
            ..Default::default()
        }))
    }

    async fn verify_chain(
        &self,
        request: Request<api::VerifyChainRequest>,
    ) -> Result<Response<api::VerifyChainResponse>, Status> {
        let req = request.into_inner();
        let head = self.ledger.head().header.height;
        let to = req.to_height.unwrap_or(head);
        self.check_height("to_height", to)?;
        if req.from_height > to {
            return Err(RequestError::Inverted {
                from: req.from_height,
                to,
            }
            .into());
        }
        let _permit = self
            .verifications
            .clone()
            .try_acquire_owned()
            .map_err(|_| RequestError::Busy {
                what: "VerifyChain",
                limit: MAX_VERIFICATIONS,
            })?;
        // Dropped (and so cancelled) when tonic drops this call: the client went away or its
        // deadline passed. The node's shutdown cancels it too.
        let cancel = self.shutdown.child_token();
        let _on_drop = cancel.clone().drop_guard();
        let ledger = self.ledger.clone();
        let report = tokio::task::spawn_blocking(move || {
            ledger.verify_chain_until(req.from_height, to, &|| cancel.is_cancelled())
        })
        .await
        .map_err(|e| task_failed("verification task", e))??;
        Ok(Response::new(api::VerifyChainResponse {
            ok: report.fault.is_none(),
            blocks_checked: report.blocks_checked,
            fault: report.fault.map(fault_to_api),
        }))
    }
}
