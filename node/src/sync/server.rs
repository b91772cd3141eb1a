//! `luxtensor.sync.v1.SyncService`: serves our canonical chain to peers — status handshake,
//! headers after a block locator, bodies by hash, head announcements, peer exchange — with every
//! request bounded. Addresses callers advertise are only proposed to the peer book, which dials
//! them back before trusting them. Streams are lazy: the next chunk is read from the database (on
//! the blocking pool, within the [`ReadBudget`]) only when the client has taken the previous one,
//! so a client that never reads costs one pending future, never a parked thread. With a
//! misbehaviour mode set, outgoing data is corrupted by [`Corruptor`].

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use proto::sync::v1 as wire;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::book::PeerBook;
use super::gossip::TxGossip;
use super::misbehave::{Corruptor, DRIP_INTERVAL, Misbehave, WITHHOLD_CLAIM};
use super::peer::{
    MAX_BODIES_PER_REQUEST, MAX_HEADERS_PER_REQUEST, MAX_LOCATOR, MAX_PEER_ADDRESSES,
    MAX_PUSH_TRANSACTIONS, PeerStatus,
};
use super::wire::{NODE_ID_METADATA, header_to_wire, status_to_wire, tx_from_wire, tx_to_wire};
use crate::chain::types::{to_array, to_hex};
use crate::chain::{Block, Hash, Header, TypeError};
use crate::ledger::Ledger;
use crate::storage::StorageError;

/// Headers per streamed chunk.
pub const HEADERS_PER_CHUNK: usize = 128;
/// Database reads for remote callers that may run at once.
pub const SERVING_READS: usize = 8;
/// Chunks (or bodies) one stream reads ahead of what its client has taken.
pub const READ_AHEAD: usize = 4;

/// Bounds the database reads run for remote callers (sync streams, range queries) on the
/// blocking pool, so that callers can never occupy the threads the node's own production and
/// import need. A read holds a permit only while it runs, never while its caller is slow to take
/// the result.
#[derive(Clone, Debug)]
pub struct ReadBudget(Arc<Semaphore>);

impl ReadBudget {
    /// At most `reads` reads at once.
    pub fn new(reads: usize) -> Self {
        Self(Arc::new(Semaphore::new(reads.max(1))))
    }

    /// Runs `read` on the blocking pool once a permit is free. Waiting for the permit and the
    /// read itself happen in a task of their own, so a caller whose stream is never polled again
    /// (a client that stopped reading) can neither keep a permit nor a place in the queue.
    pub async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let permits = self.0.clone();
        tokio::spawn(async move {
            let permit = permits
                .acquire_owned()
                .await
                .expect("the read budget is never closed");
            tokio::task::spawn_blocking(move || {
                let out = read();
                drop(permit);
                out
            })
            .await
        })
        .await?
    }
}

impl Default for ReadBudget {
    fn default() -> Self {
        Self::new(SERVING_READS)
    }
}

/// The sync service.
#[derive(Clone, Debug)]
pub struct SyncService {
    ledger: Arc<Ledger>,
    book: Arc<PeerBook>,
    corruptor: Option<Arc<Corruptor>>,
    gossip: Arc<TxGossip>,
    shutdown: CancellationToken,
    reads: ReadBudget,
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

// The sync service answers peers, not people: its statuses are plain (the node API's detailed
// error mapping lives in `rpc`, which this layer must not depend on).
fn bad_field(e: TypeError) -> Status {
    Status::invalid_argument(e.to_string())
}

fn storage(e: StorageError) -> Status {
    tracing::error!(target: "sync::server", error = %e, "storage failure while serving");
    Status::internal(format!("storage: {e}"))
}

fn join_error(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("read task failed: {e}"))
}

impl SyncService {
    /// A sync service over the ledger; its database reads share `reads`.
    pub fn new(
        ledger: Arc<Ledger>,
        book: Arc<PeerBook>,
        corruptor: Option<Arc<Corruptor>>,
        gossip: Arc<TxGossip>,
        shutdown: CancellationToken,
        reads: ReadBudget,
    ) -> Self {
        Self {
            ledger,
            book,
            corruptor,
            gossip,
            shutdown,
            reads,
        }
    }

    fn mode(&self) -> Option<Misbehave> {
        self.corruptor.as_ref().map(|c| c.mode())
    }

    /// Our status as peers see it.
    pub fn status(&self, listen_address: String) -> PeerStatus {
        super::local_status(&self.ledger, listen_address)
    }

    /// Where the chain left the block `previous` (a head sent earlier), if it is no longer
    /// canonical.
    async fn reorg_since(&self, previous: Hash) -> Option<wire::Reorg> {
        let ledger = self.ledger.clone();
        let fork = self
            .reads
            .run(move || ledger.fork_of(&previous))
            .await
            .ok()?
            .ok()?;
        (!fork.abandoned.is_empty()).then(|| wire::Reorg {
            ancestor_height: fork.ancestor_height,
            ancestor_hash: fork.ancestor_hash.to_vec(),
            depth: fork.abandoned.len() as u64,
        })
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
        corruptor.alternate(self.ledger.rules(), &head.header, parent.state_root)
    }

    /// Ends a stream at shutdown without sending anything more (the `stall` misbehaviour holds
    /// streams open this way; the client's own timeout or disconnect drops it sooner).
    fn stall<T: Send + 'static>(&self) -> impl Stream<Item = Result<T, Status>> + Send + 'static {
        let shutdown = self.shutdown.clone();
        stream::once(async move { shutdown.cancelled_owned().await })
            .filter_map(|()| async { None })
    }
}

/// The `drip` misbehaviour: every message after the first waits [`DRIP_INTERVAL`].
fn drip<T: Send + 'static>(
    messages: impl Stream<Item = Result<T, Status>> + Send + 'static,
) -> impl Stream<Item = Result<T, Status>> + Send + 'static {
    messages.enumerate().then(|(i, m)| async move {
        if i > 0 {
            tokio::time::sleep(DRIP_INTERVAL).await;
        }
        m
    })
}

/// The canonical headers a `GetHeaders` answers (before chunking): after the first locator hash on
/// our canonical chain (after genesis when none is), at most `max` (capped at the protocol bound).
/// In-process transports serve with it too.
pub fn headers_after(
    ledger: &Ledger,
    locator: &[Hash],
    max: u32,
) -> Result<Vec<Header>, StorageError> {
    let start = locator_start(ledger, locator)?;
    let max = u64::from(max.clamp(1, MAX_HEADERS_PER_REQUEST));
    let end = ledger
        .head()
        .header
        .height
        .min(start.saturating_add(max - 1));
    if end < start {
        return Ok(Vec::new());
    }
    read_headers(ledger, start, end)
}

fn locator_start(ledger: &Ledger, locator: &[Hash]) -> Result<u64, StorageError> {
    for hash in locator {
        if let Some(header) = ledger.store().header(hash)?
            && ledger.is_canonical(&header, hash)?
        {
            return Ok(header.height + 1);
        }
    }
    Ok(1)
}

/// Canonical headers `from..=to`; fewer when the chain ends (or reorganizes) before `to`.
fn read_headers(ledger: &Ledger, from: u64, to: u64) -> Result<Vec<Header>, StorageError> {
    let mut headers = Vec::with_capacity((to - from + 1) as usize);
    for h in from..=to {
        match ledger.header_at(h)? {
            Some(header) => headers.push(header),
            None => break,
        }
    }
    Ok(headers)
}

#[tonic::async_trait]
impl wire::sync_service_server::SyncService for SyncService {
    async fn handshake(
        &self,
        request: Request<wire::HandshakeRequest>,
    ) -> Result<Response<wire::HandshakeResponse>, Status> {
        let id = node_id(&request);
        // Advertised addresses are bounded per source: the caller's IP (anyone can claim any id).
        let source = request
            .remote_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| id.clone());
        let theirs = request
            .into_inner()
            .status
            .ok_or_else(|| Status::invalid_argument("handshake without a status"))?;
        let ours = self.status(String::new());
        if theirs.chain_id != ours.chain_id || theirs.genesis_hash != ours.genesis_hash {
            return Err(Status::failed_precondition(format!(
                "incompatible network: chain {} genesis {} here",
                ours.chain_id,
                to_hex(&ours.genesis_hash)
            )));
        }
        if !theirs.listen_address.is_empty() {
            // Dialed back before it becomes a peer (see `PeerBook::propose`).
            self.book.propose(&theirs.listen_address, &source);
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
        Ok(Response::new(wire::HandshakeResponse {
            status: Some(status),
        }))
    }

    type GetHeadersStream = BoxStream<wire::GetHeadersResponse>;

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
            .collect::<Result<_, _>>()
            .map_err(bad_field)?;
        if self.mode() == Some(Misbehave::Withhold) {
            return Ok(Response::new(Box::pin(stream::empty())));
        }
        let max = u64::from(req.max_count.min(MAX_HEADERS_PER_REQUEST));
        let ledger = self.ledger.clone();
        let (start, ledger) = self
            .reads
            .run(move || locator_start(&ledger, &locator).map(|start| (start, ledger)))
            .await
            .map_err(join_error)?
            .map_err(storage)?;
        let end = self
            .ledger
            .head()
            .header
            .height
            .min(start.saturating_add(max - 1));
        let alternate = self.alternate_head(&id);
        let corruptor = self.corruptor.clone();
        let reads = self.reads.clone();
        // Up to READ_AHEAD chunks are read ahead of what the client has taken (each read runs in
        // its own task, so it completes and frees its permit even while the client reads
        // nothing); a short chunk (the chain ended or reorganized) ends the stream.
        let ranges: Vec<(u64, u64)> = (start..=end)
            .step_by(HEADERS_PER_CHUNK)
            .map(|from| (from, end.min(from + HEADERS_PER_CHUNK as u64 - 1)))
            .collect();
        let chunks = stream::iter(ranges)
            .map(move |(from, to)| {
                let ledger = ledger.clone();
                let reads = reads.clone();
                async move {
                    let read = reads
                        .run(move || read_headers(&ledger, from, to))
                        .await
                        .map_err(join_error)
                        .and_then(|r| r.map_err(storage));
                    (from, to, read)
                }
            })
            .buffered(READ_AHEAD)
            .scan(false, move |ended, (from, to, read)| {
                let item = if *ended {
                    None
                } else {
                    match read {
                        Err(status) => {
                            *ended = true;
                            Some(Err(status))
                        }
                        Ok(mut headers) => {
                            if let (Some(alt), Some(last)) = (&alternate, headers.last_mut())
                                && last.height == alt.header.height
                            {
                                *last = alt.header.clone();
                            }
                            if let Some(c) = &corruptor {
                                c.headers(&mut headers);
                            }
                            *ended = headers.len() as u64 != to - from + 1;
                            Some(Ok(wire::GetHeadersResponse {
                                headers: headers.iter().map(header_to_wire).collect(),
                            }))
                        }
                    }
                };
                futures::future::ready(item)
            });
        match self.mode() {
            // The first chunk, then silence until the peer gives up.
            Some(Misbehave::Stall) => {
                Ok(Response::new(Box::pin(chunks.take(1).chain(self.stall()))))
            }
            Some(Misbehave::Drip) => Ok(Response::new(Box::pin(drip(chunks)))),
            _ => Ok(Response::new(Box::pin(chunks))),
        }
    }

    type GetBodiesStream = BoxStream<wire::GetBodiesResponse>;

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
            .collect::<Result<_, _>>()
            .map_err(bad_field)?;
        if self.mode() == Some(Misbehave::Withhold) {
            return Ok(Response::new(Box::pin(stream::empty())));
        }
        let alternate = self.alternate_head(&id);
        let ledger = self.ledger.clone();
        let corruptor = self.corruptor.clone();
        let chain_id = self.ledger.rules().chain_id;
        let genesis_hash = self.ledger.genesis_hash();
        let reads = self.reads.clone();
        let bodies = stream::iter(hashes)
            .map(move |hash| {
                let ledger = ledger.clone();
                let alternate = alternate.clone();
                let corruptor = corruptor.clone();
                let reads = reads.clone();
                async move {
                    let body = match &alternate {
                        Some(alt) if alt.hash() == hash => Some(Vec::new()),
                        _ => reads
                            .run(move || ledger.store().body(&hash))
                            .await
                            .map_err(join_error)?
                            .map_err(storage)?,
                    };
                    Ok(body.map(|mut body| {
                        if let Some(c) = &corruptor {
                            c.body(&mut body, chain_id, &genesis_hash);
                        }
                        wire::GetBodiesResponse {
                            block_hash: hash.to_vec(),
                            transactions: body.iter().map(tx_to_wire).collect(),
                        }
                    }))
                }
            })
            // Bodies are read ahead like header chunks, in order.
            .buffered(READ_AHEAD)
            // A body we do not have is skipped; an error is sent, then the stream ends.
            .filter_map(
                |r: Result<Option<wire::GetBodiesResponse>, Status>| async move { r.transpose() },
            )
            .scan(false, |failed, item| {
                let stop = *failed;
                *failed |= item.is_err();
                async move { (!stop).then_some(item) }
            });
        match self.mode() {
            Some(Misbehave::Stall) => {
                Ok(Response::new(Box::pin(bodies.take(1).chain(self.stall()))))
            }
            Some(Misbehave::Drip) => Ok(Response::new(Box::pin(drip(bodies)))),
            _ => Ok(Response::new(Box::pin(bodies))),
        }
    }

    type SubscribeHeadsStream = BoxStream<wire::SubscribeHeadsResponse>;

    async fn subscribe_heads(
        &self,
        request: Request<wire::SubscribeHeadsRequest>,
    ) -> Result<Response<Self::SubscribeHeadsStream>, Status> {
        let id = node_id(&request);
        let heads = self.ledger.subscribe_heads();
        let service = self.clone();
        // The current head first, then each change; a slow reader sees only the latest head. A
        // head that does not descend from the previous one sent carries where the two meet.
        let announcements = stream::unfold((heads, None), move |(mut heads, previous)| {
            let service = service.clone();
            let id = id.clone();
            async move {
                if previous.is_some() {
                    tokio::select! {
                        changed = heads.changed() => changed.ok()?,
                        _ = service.shutdown.cancelled() => return None,
                    }
                }
                let head = heads.borrow_and_update().clone();
                let reorg = match previous {
                    Some(previous) if head.header.parent_hash != previous => {
                        service.reorg_since(previous).await
                    }
                    _ => None,
                };
                let mut header = head.header;
                if let Some(alt) = service.alternate_head(&id) {
                    header = alt.header;
                }
                if let Some(c) = &service.corruptor {
                    c.headers(std::slice::from_mut(&mut header));
                }
                let message = wire::SubscribeHeadsResponse {
                    header: Some(header_to_wire(&header)),
                    reorg,
                };
                Some((Ok(message), (heads, Some(head.hash))))
            }
        });
        Ok(Response::new(Box::pin(announcements)))
    }

    async fn push_transactions(
        &self,
        request: Request<wire::PushTransactionsRequest>,
    ) -> Result<Response<wire::PushTransactionsResponse>, Status> {
        let from = node_id(&request);
        let txs = request.into_inner().transactions;
        if txs.len() > MAX_PUSH_TRANSACTIONS {
            return Err(Status::invalid_argument(format!(
                "{} transactions pushed, at most {MAX_PUSH_TRANSACTIONS} per request",
                txs.len()
            )));
        }
        let txs = txs
            .iter()
            .map(tx_from_wire)
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad_field)?;
        let gossip = self.gossip.clone();
        // Admission verifies signatures and executes: on the blocking pool, within the budget.
        let accepted = self
            .reads
            .run(move || gossip.receive(txs, &from))
            .await
            .map_err(join_error)?;
        Ok(Response::new(wire::PushTransactionsResponse { accepted }))
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
