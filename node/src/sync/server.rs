//! `luxtensor.sync.v1.Sync`: serves our canonical chain to peers — status handshake, headers after
//! a block locator, bodies by hash, head announcements, peer exchange — with every request bounded.
//! Peers that introduce themselves in a handshake are added to the peer book. With a misbehaviour
//! mode set, outgoing data is corrupted by [`Corruptor`].

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use proto::sync::v1 as wire;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::book::PeerBook;
use super::grpc::{NODE_ID_METADATA, status_to_wire};
use super::misbehave::{Corruptor, Misbehave, WITHHOLD_CLAIM};
use super::peer::{
    MAX_BODIES_PER_REQUEST, MAX_HEADERS_PER_REQUEST, MAX_LOCATOR, MAX_PEER_ADDRESSES, PeerStatus,
};
use super::wire::{header_to_wire, tx_to_wire};
use crate::chain::types::to_array;
use crate::chain::{Block, Hash, Header};
use crate::ledger::Ledger;

/// Headers per streamed chunk.
pub const HEADERS_PER_CHUNK: usize = 128;

/// The sync service.
#[derive(Clone, Debug)]
pub struct SyncService {
    ledger: Arc<Ledger>,
    book: Arc<PeerBook>,
    corruptor: Option<Arc<Corruptor>>,
    shutdown: CancellationToken,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn node_id<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get(NODE_ID_METADATA)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| {
            request
                .remote_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        })
}

impl SyncService {
    /// A sync service over the ledger.
    pub fn new(
        ledger: Arc<Ledger>,
        book: Arc<PeerBook>,
        corruptor: Option<Arc<Corruptor>>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            ledger,
            book,
            corruptor,
            shutdown,
        }
    }

    fn mode(&self) -> Option<Misbehave> {
        self.corruptor.as_ref().map(|c| c.mode())
    }

    /// Our status as peers see it.
    pub fn status(&self, listen_address: String) -> PeerStatus {
        super::local_status(&self.ledger, listen_address)
    }

    /// The equivocating alternative of the head, for peers in the alternate group.
    fn alternate_head(&self, node_id: &str) -> Option<Block> {
        let corruptor = self.corruptor.as_ref()?;
        if !corruptor.is_alternate(node_id) {
            return None;
        }
        let head = self.ledger.head();
        let parent = self
            .ledger
            .store()
            .header(&head.header.parent_hash)
            .ok()??;
        corruptor.alternate(&head.header, parent.state_root)
    }
}

/// Holds a stream open without sending, until the peer gives up or the node stops.
fn stall<T>(tx: &mpsc::Sender<T>, shutdown: &CancellationToken) {
    tokio::runtime::Handle::current().block_on(async {
        tokio::select! {
            _ = tx.closed() => {}
            _ = shutdown.cancelled() => {}
        }
    });
}

fn locator_start(ledger: &Ledger, locator: &[Hash]) -> Result<u64, Status> {
    for hash in locator {
        if let Some(header) = ledger.store().header(hash)?
            && ledger.is_canonical(&header, hash)?
        {
            return Ok(header.height + 1);
        }
    }
    Ok(1)
}

#[tonic::async_trait]
impl wire::sync_server::Sync for SyncService {
    async fn handshake(
        &self,
        request: Request<wire::Status>,
    ) -> Result<Response<wire::Status>, Status> {
        let id = node_id(&request);
        let theirs = request.into_inner();
        let ours = self.status(String::new());
        if theirs.chain_id != ours.chain_id || theirs.genesis_hash != ours.genesis_hash {
            return Err(Status::failed_precondition(format!(
                "incompatible network: chain {} genesis {} here",
                ours.chain_id,
                crate::chain::types::to_hex(&ours.genesis_hash)
            )));
        }
        if !theirs.listen_address.is_empty()
            && let Err(e) = self.book.add(&theirs.listen_address)
        {
            tracing::debug!(target: "sync::server", peer = theirs.listen_address, error = e, "not adding peer");
        }
        let mut status = status_to_wire(&ours);
        match self.mode() {
            Some(Misbehave::Withhold) => status.head_height += WITHHOLD_CLAIM,
            Some(Misbehave::Equivocate) => {
                if let Some(alt) = self.alternate_head(&id) {
                    status.head_hash = alt.hash().to_vec();
                }
            }
            _ => {}
        }
        Ok(Response::new(status))
    }

    type GetHeadersStream = BoxStream<wire::HeaderChunk>;

    async fn get_headers(
        &self,
        request: Request<wire::GetHeadersRequest>,
    ) -> Result<Response<Self::GetHeadersStream>, Status> {
        let id = node_id(&request);
        let req = request.into_inner();
        if req.max_count == 0 {
            return Err(Status::invalid_argument("max_count must be at least 1"));
        }
        if req.locator.len() > MAX_LOCATOR {
            return Err(Status::invalid_argument(format!(
                "locator has {} hashes (max {MAX_LOCATOR})",
                req.locator.len()
            )));
        }
        let locator: Vec<Hash> = req
            .locator
            .iter()
            .map(|h| to_array("locator hash", h))
            .collect::<Result<_, _>>()?;
        let max = u64::from(req.max_count.min(MAX_HEADERS_PER_REQUEST));
        let start = locator_start(&self.ledger, &locator)?;
        let head = self.ledger.head().header.height;
        let end = head.min(start.saturating_add(max - 1));
        let alternate = self.alternate_head(&id);
        let ledger = self.ledger.clone();
        let corruptor = self.corruptor.clone();
        let shutdown = self.shutdown.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mode = corruptor.as_ref().map(|c| c.mode());
            if mode == Some(Misbehave::Withhold) {
                return;
            }
            let mut height = start;
            while height <= end {
                let last = end.min(height + HEADERS_PER_CHUNK as u64 - 1);
                let mut headers: Vec<Header> = Vec::with_capacity((last - height + 1) as usize);
                for h in height..=last {
                    match ledger.header_at(h) {
                        Ok(Some(header)) => headers.push(header),
                        Ok(None) => break,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(Status::from(e)));
                            return;
                        }
                    }
                }
                if let (Some(alt), Some(last_header)) = (&alternate, headers.last_mut())
                    && last_header.height == alt.header.height
                {
                    *last_header = alt.header.clone();
                }
                if let Some(c) = &corruptor {
                    c.headers(&mut headers);
                }
                let done = headers.len() as u64 != last - height + 1;
                let chunk = wire::HeaderChunk {
                    headers: headers.iter().map(header_to_wire).collect(),
                };
                if tx.blocking_send(Ok(chunk)).is_err() {
                    return;
                }
                if mode == Some(Misbehave::Stall) {
                    // Hold the stream open without sending anything more.
                    stall(&tx, &shutdown);
                    return;
                }
                if done {
                    return;
                }
                height = last + 1;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type GetBodiesStream = BoxStream<wire::Body>;

    async fn get_bodies(
        &self,
        request: Request<wire::GetBodiesRequest>,
    ) -> Result<Response<Self::GetBodiesStream>, Status> {
        let id = node_id(&request);
        let req = request.into_inner();
        if req.hashes.len() > MAX_BODIES_PER_REQUEST {
            return Err(Status::invalid_argument(format!(
                "{} hashes asked (max {MAX_BODIES_PER_REQUEST})",
                req.hashes.len()
            )));
        }
        let hashes: Vec<Hash> = req
            .hashes
            .iter()
            .map(|h| to_array("block hash", h))
            .collect::<Result<_, _>>()?;
        let alternate = self.alternate_head(&id);
        let ledger = self.ledger.clone();
        let corruptor = self.corruptor.clone();
        let shutdown = self.shutdown.clone();
        let chain_id = self.ledger.rules().chain_id;
        let (tx, rx) = mpsc::channel(8);
        tokio::task::spawn_blocking(move || {
            let mode = corruptor.as_ref().map(|c| c.mode());
            if mode == Some(Misbehave::Withhold) {
                return;
            }
            for (i, hash) in hashes.iter().enumerate() {
                let body = match &alternate {
                    Some(alt) if alt.hash() == *hash => Some(Vec::new()),
                    _ => match ledger.store().body(hash) {
                        Ok(body) => body,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(Status::from(e)));
                            return;
                        }
                    },
                };
                let Some(mut body) = body else { continue };
                if let Some(c) = &corruptor {
                    c.body(&mut body, chain_id);
                }
                let message = wire::Body {
                    block_hash: hash.to_vec(),
                    transactions: body.iter().map(tx_to_wire).collect(),
                };
                if tx.blocking_send(Ok(message)).is_err() {
                    return;
                }
                if mode == Some(Misbehave::Stall) && i == 0 {
                    stall(&tx, &shutdown);
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type SubscribeHeadsStream = BoxStream<wire::WireHeader>;

    async fn subscribe_heads(
        &self,
        request: Request<wire::SubscribeHeadsRequest>,
    ) -> Result<Response<Self::SubscribeHeadsStream>, Status> {
        let id = node_id(&request);
        let mut heads = self.ledger.subscribe_heads();
        let service = self.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let mut header = heads.borrow_and_update().header.clone();
                if let Some(alt) = service.alternate_head(&id) {
                    header = alt.header;
                }
                if let Some(c) = &service.corruptor {
                    c.headers(std::slice::from_mut(&mut header));
                }
                if tx.send(Ok(header_to_wire(&header))).await.is_err() {
                    return;
                }
                tokio::select! {
                    changed = heads.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                    _ = service.shutdown.cancelled() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_peers(
        &self,
        _: Request<wire::GetPeersRequest>,
    ) -> Result<Response<wire::GetPeersResponse>, Status> {
        Ok(Response::new(wire::GetPeersResponse {
            addresses: self.book.shareable(MAX_PEER_ADDRESSES),
        }))
    }
}
