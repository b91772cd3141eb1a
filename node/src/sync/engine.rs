//! The sync engine. Each round it refreshes peer statuses (handshakes), picks the best peer whose
//! chain beats ours under fork choice, and syncs from it header-first:
//!
//! 1. **Headers**: ask for up to `headers_per_request` headers after our block locator (head,
//!    then exponentially older canonical hashes, then genesis), so the peer answers from our common
//!    ancestor even when our tip is not on its chain. The whole run is validated before anything
//!    else happens: it must attach to a block we store, link hash by hash, increase height by one
//!    and time strictly, not be from the future, be produced by the scheduled validator, and every
//!    producer signature must verify (batched across cores). Headers are never stored on their own.
//! 2. **Bodies**: fetched in chunks from every ready peer that announced the height (in parallel,
//!    a bounded number in flight), each checked against its validated header (count, tx root,
//!    signatures) and imported in order through the ledger, which executes it, checks the state root
//!    and commits it atomically.
//!
//! A peer that sends invalid data, more than asked, ignores the locator, withholds a height it
//! claims, or stalls, loses score and is banned at the threshold; all it sent is discarded and the
//! round moves to the next peer. Once caught up the engine follows head announcements
//! (`SubscribeHeads`) so new blocks are pulled at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::book::{Offence, PeerBook};
use super::peer::{Connector, MAX_LOCATOR, PeerClient, PeerError, PeerStatus};
use super::{SyncSnapshot, SyncState};
use crate::chain::types::to_hex;
use crate::chain::{Block, Hash, Header, Transaction};
use crate::ledger::{ImportOutcome, Ledger, now_ms};

/// Sync tuning.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// Headers asked per request.
    pub headers_per_request: u32,
    /// Most bodies asked per request.
    pub bodies_per_request: usize,
    /// Transactions per body request to aim for (a request closes once its blocks reach it).
    pub txs_per_request: usize,
    /// Body requests in flight at once.
    pub parallel_body_requests: usize,
    /// How often a peer's status is refreshed.
    pub handshake_interval: Duration,
    /// Idle wait between rounds when nothing wakes the engine.
    pub tick: Duration,
    /// How often peers are asked for their peers.
    pub discovery_interval: Duration,
    /// Whether to ask peers for their peers at all (off: only configured peers and peers that
    /// contact us are known).
    pub peer_exchange: bool,
    /// How often progress is logged while behind.
    pub progress_interval: Duration,
    /// Our own reachable address (sent in handshakes; never dialed).
    pub listen_address: String,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            headers_per_request: 1024,
            bodies_per_request: 128,
            txs_per_request: 4096,
            parallel_body_requests: 4,
            handshake_interval: Duration::from_secs(2),
            tick: Duration::from_millis(500),
            discovery_interval: Duration::from_secs(5),
            peer_exchange: true,
            progress_interval: Duration::from_secs(5),
            listen_address: String::new(),
        }
    }
}

/// A failed round against one peer.
#[derive(Debug)]
struct Fault {
    peer: String,
    offence: Offence,
    reason: String,
}

impl Fault {
    fn new(peer: &str, offence: Offence, reason: impl Into<String>) -> Self {
        Self {
            peer: peer.to_string(),
            offence,
            reason: reason.into(),
        }
    }

    fn from_peer_error(peer: &str, e: &PeerError) -> Self {
        let offence = match e {
            PeerError::Transport(_) | PeerError::Refused(_) => Offence::Unreachable,
            PeerError::Timeout(_) => Offence::Timeout,
            PeerError::Protocol(_) => Offence::Protocol,
        };
        Self::new(peer, offence, e.to_string())
    }
}

/// Downloads, validates and imports blocks from peers.
pub struct SyncEngine {
    ledger: Arc<Ledger>,
    book: Arc<PeerBook>,
    connector: Arc<dyn Connector>,
    clients: Mutex<HashMap<String, Arc<dyn PeerClient>>>,
    subscribed: Arc<Mutex<HashSet<String>>>,
    state: Arc<SyncState>,
    config: SyncConfig,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SyncEngine({:?})", self.config)
    }
}

/// True when a chain with head (height, hash) beats ours under fork choice.
pub fn beats(height: u64, hash: &Hash, our_height: u64, our_hash: &Hash) -> bool {
    height > our_height || (height == our_height && hash < our_hash)
}

impl SyncEngine {
    /// An engine over the ledger and peer book.
    pub fn new(
        ledger: Arc<Ledger>,
        book: Arc<PeerBook>,
        connector: Arc<dyn Connector>,
        state: Arc<SyncState>,
        config: SyncConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            ledger,
            book,
            connector,
            clients: Mutex::new(HashMap::new()),
            subscribed: Arc::new(Mutex::new(HashSet::new())),
            state,
            config,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Wakes the engine for a round now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn client(&self, address: &str) -> Result<Arc<dyn PeerClient>, PeerError> {
        let mut clients = self.clients.lock().expect("clients lock");
        if let Some(c) = clients.get(address) {
            return Ok(c.clone());
        }
        let c = self.connector.connect(address)?;
        clients.insert(address.to_string(), c.clone());
        Ok(c)
    }

    fn our_status(&self) -> PeerStatus {
        super::local_status(&self.ledger, self.config.listen_address.clone())
    }

    /// Runs rounds until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut last_discovery = Instant::now() - self.config.discovery_interval;
        let mut progress = (Instant::now(), self.ledger.head().header.height);
        loop {
            self.refresh_peers().await;
            if self.config.peer_exchange
                && last_discovery.elapsed() >= self.config.discovery_interval
            {
                self.discover_peers().await;
                last_discovery = Instant::now();
            }
            self.subscribe_to_heads(&cancel);
            while let Some((address, status)) = self.best_peer() {
                if cancel.is_cancelled() {
                    return;
                }
                self.publish_state();
                match self.sync_from(&address, &status).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(fault) => {
                        self.book
                            .penalize(&fault.peer, fault.offence, &fault.reason);
                        if fault.offence == Offence::Unreachable {
                            break;
                        }
                    }
                }
                self.log_progress(&mut progress);
            }
            self.publish_state();
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.tick) => {}
            }
        }
    }

    fn log_progress(&self, last: &mut (Instant, u64)) {
        let elapsed = last.0.elapsed();
        if elapsed < self.config.progress_interval {
            return;
        }
        let height = self.ledger.head().header.height;
        let target = self.state.snapshot().target;
        let rate = (height.saturating_sub(last.1)) as f64 / elapsed.as_secs_f64();
        let eta = if rate > 0.0 {
            format!("{:.0}s", target.saturating_sub(height) as f64 / rate)
        } else {
            "?".into()
        };
        tracing::info!(target: "sync::progress", height, target, blocks_per_sec = format!("{rate:.1}"), eta, "syncing");
        *last = (Instant::now(), height);
    }

    fn publish_state(&self) {
        let head = self.ledger.head();
        let target = self
            .book
            .ready()
            .iter()
            .map(|(_, s)| s.head_height)
            .max()
            .unwrap_or(0);
        self.state.set(SyncSnapshot {
            syncing: target > head.header.height,
            target,
            peers: self.book.report(),
        });
    }

    async fn refresh_peers(&self) {
        let due = self.book.due_for_handshake(self.config.handshake_interval);
        let ours = self.our_status();
        let ours = &ours;
        stream::iter(due)
            .for_each_concurrent(8, |address| async move {
                let client = match self.client(&address) {
                    Ok(c) => c,
                    Err(e) => {
                        self.book.penalize(&address, Offence::Unreachable, &e.to_string());
                        return;
                    }
                };
                match client.handshake(ours).await {
                    Ok(status) if status.chain_id != ours.chain_id || status.genesis_hash != ours.genesis_hash => {
                        tracing::warn!(target: "sync::peers", peer = address, chain_id = status.chain_id, genesis = %to_hex(&status.genesis_hash), "peer is on another network; never asking it again");
                        self.book.mark_incompatible(&address);
                    }
                    Ok(status) => {
                        if !status.listen_address.is_empty() && status.listen_address != address {
                            let _ = self.book.add(&status.listen_address);
                        }
                        self.book.record_status(&address, status);
                    }
                    Err(PeerError::Refused(reason)) => {
                        tracing::warn!(target: "sync::peers", peer = address, reason, "peer refused us; never asking it again");
                        self.book.mark_incompatible(&address);
                    }
                    Err(e) => {
                        let f = Fault::from_peer_error(&address, &e);
                        self.book.penalize(&address, f.offence, &f.reason);
                    }
                }
            })
            .await;
    }

    async fn discover_peers(&self) {
        for (address, _) in self.book.ready() {
            let Ok(client) = self.client(&address) else {
                continue;
            };
            if let Ok(addresses) = client.peers().await {
                for a in addresses {
                    if a != self.config.listen_address {
                        let _ = self.book.add(&a);
                    }
                }
            }
        }
    }

    fn subscribe_to_heads(&self, cancel: &CancellationToken) {
        for (address, _) in self.book.ready() {
            if !self
                .subscribed
                .lock()
                .expect("subscribed lock")
                .insert(address.clone())
            {
                continue;
            }
            let Ok(client) = self.client(&address) else {
                self.subscribed
                    .lock()
                    .expect("subscribed lock")
                    .remove(&address);
                continue;
            };
            let book = self.book.clone();
            let wake = self.wake.clone();
            let subscribed = self.subscribed.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if let Ok(mut heads) = client.subscribe_heads().await {
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            item = heads.next() => match item {
                                Some(Ok(header)) => {
                                    book.record_head(&address, header.height, header.hash());
                                    wake.notify_one();
                                }
                                _ => break,
                            }
                        }
                    }
                }
                subscribed.lock().expect("subscribed lock").remove(&address);
            });
        }
    }

    /// The ready peer whose announced head beats ours by the most.
    fn best_peer(&self) -> Option<(String, PeerStatus)> {
        let head = self.ledger.head();
        self.book
            .ready()
            .into_iter()
            .filter(|(_, s)| beats(s.head_height, &s.head_hash, head.header.height, &head.hash))
            .max_by(|(_, a), (_, b)| {
                a.head_height
                    .cmp(&b.head_height)
                    .then(b.head_hash.cmp(&a.head_hash))
            })
    }

    /// Block locator: head, head-1, head-2, head-4, ... then genesis.
    fn locator(&self) -> Vec<Hash> {
        let head = self.ledger.head().header.height;
        let mut heights = Vec::new();
        let mut step = 1u64;
        let mut h = head;
        while heights.len() < MAX_LOCATOR - 1 {
            heights.push(h);
            if h == 0 {
                break;
            }
            h = h.saturating_sub(step);
            if heights.len() > 1 {
                step *= 2;
            }
        }
        if heights.last() != Some(&0) {
            heights.push(0);
        }
        heights
            .into_iter()
            .filter_map(|h| self.ledger.store().canonical_hash(h).ok().flatten())
            .collect()
    }

    /// One round against `address`; returns how many blocks moved our head.
    async fn sync_from(&self, address: &str, status: &PeerStatus) -> Result<u64, Fault> {
        let client = self
            .client(address)
            .map_err(|e| Fault::from_peer_error(address, &e))?;
        let headers = client
            .headers(self.locator(), self.config.headers_per_request)
            .await
            .map_err(|e| Fault::from_peer_error(address, &e))?;
        if headers.len() > self.config.headers_per_request as usize {
            return Err(Fault::new(
                address,
                Offence::Protocol,
                format!(
                    "sent {} headers, {} asked",
                    headers.len(),
                    self.config.headers_per_request
                ),
            ));
        }
        if headers.is_empty() {
            let fresh = client
                .handshake(&self.our_status())
                .await
                .map_err(|e| Fault::from_peer_error(address, &e))?;
            let head = self.ledger.head();
            if beats(
                fresh.head_height,
                &fresh.head_hash,
                head.header.height,
                &head.hash,
            ) {
                return Err(Fault::new(
                    address,
                    Offence::Withheld,
                    format!(
                        "claims height {} but serves no headers past our {}",
                        fresh.head_height, head.header.height
                    ),
                ));
            }
            self.book.record_status(address, fresh);
            return Ok(0);
        }
        let ledger = self.ledger.clone();
        let (headers, hashes) =
            tokio::task::spawn_blocking(move || validate_headers(&ledger, headers))
                .await
                .map_err(|e| {
                    Fault::new(address, Offence::Protocol, format!("validation task: {e}"))
                })?
                .map_err(|reason| Fault::new(address, Offence::InvalidData, reason))?;
        tracing::debug!(target: "sync::headers", peer = address, count = headers.len(), first = headers[0].height, claimed = status.head_height, "validated headers");
        self.download_bodies(address, headers, hashes).await
    }

    async fn download_bodies(
        &self,
        source: &str,
        headers: Vec<Header>,
        hashes: Vec<Hash>,
    ) -> Result<u64, Fault> {
        let ready = self.book.ready();
        // Chunks hold at most `bodies_per_request` blocks and about `txs_per_request`
        // transactions, so memory in flight stays bounded whatever the block size.
        let mut ranges = Vec::new();
        let mut start = 0;
        let mut txs = 0usize;
        for (i, h) in headers.iter().enumerate() {
            txs += h.tx_count as usize;
            if i + 1 - start >= self.config.bodies_per_request.max(1)
                || txs >= self.config.txs_per_request
            {
                ranges.push((start, i + 1));
                start = i + 1;
                txs = 0;
            }
        }
        if start < headers.len() {
            ranges.push((start, headers.len()));
        }
        let jobs: Vec<(usize, usize, String)> = ranges
            .into_iter()
            .enumerate()
            .map(|(n, (start, end))| {
                let (last, last_hash) = (&headers[end - 1], hashes[end - 1]);
                let helpers: Vec<&String> = ready
                    .iter()
                    .filter(|(a, s)| {
                        a != source && (s.head_height > last.height || s.head_hash == last_hash)
                    })
                    .map(|(a, _)| a)
                    .collect();
                let peer = if helpers.is_empty() || n % (helpers.len() + 1) == 0 {
                    source.to_string()
                } else {
                    helpers[n % (helpers.len() + 1) - 1].clone()
                };
                (start, end, peer)
            })
            .collect();
        let headers = Arc::new(headers);
        let hashes = Arc::new(hashes);
        let all_headers = headers.clone();
        // Fetching (and signature checks) run ahead of import through a bounded queue, so the
        // network and the verifier work while the previous chunk executes and commits.
        let in_flight = self.config.parallel_body_requests.max(1);
        let (queue, mut arrived) = tokio::sync::mpsc::channel(in_flight);
        let fetcher = async move {
            let mut fetched = stream::iter(jobs)
                .map(|(start, end, peer)| {
                    let headers = headers.clone();
                    let hashes = hashes.clone();
                    async move {
                        let bodies = self
                            .fetch_bodies(&peer, source, &headers[start..end], &hashes[start..end])
                            .await;
                        (start, bodies)
                    }
                })
                .buffered(in_flight);
            while let Some(item) = fetched.next().await {
                if queue.send(item).await.is_err() {
                    return;
                }
            }
        };
        let importer = async {
            let mut moved = 0;
            while let Some((start, bodies)) = arrived.recv().await {
                let bodies: Vec<Vec<Transaction>> = bodies?;
                let blocks: Vec<Block> = all_headers[start..start + bodies.len()]
                    .iter()
                    .cloned()
                    .zip(bodies)
                    .map(|(header, transactions)| Block {
                        header,
                        transactions,
                    })
                    .collect();
                let ledger = self.ledger.clone();
                let result = tokio::task::spawn_blocking(move || {
                    let mut moved = 0u64;
                    for block in &blocks {
                        // Header signatures were batch-verified in the header phase, transaction
                        // signatures when the body was checked against its header.
                        match ledger.import_verified_block(block, now_ms()) {
                            Ok(ImportOutcome::Extended | ImportOutcome::Reorganized { .. }) => {
                                moved += 1
                            }
                            Ok(ImportOutcome::SideChain | ImportOutcome::AlreadyKnown) => {}
                            Err(e) => return (moved, Err((block.header.height, e))),
                        }
                    }
                    (moved, Ok(()))
                })
                .await
                .map_err(|e| Fault::new(source, Offence::Protocol, format!("import task: {e}")))?;
                moved += result.0;
                if let Err((height, e)) = result.1 {
                    if e.is_invalid_block() {
                        return Err(Fault::new(
                            source,
                            Offence::InvalidData,
                            format!("block {height}: {e}"),
                        ));
                    }
                    tracing::error!(target: "sync::import", height, error = %e, "import failed");
                    return Ok(moved);
                }
                self.book.reward(source);
            }
            Ok(moved)
        };
        let ((), result) = tokio::join!(fetcher, importer);
        result
    }

    /// Bodies for `headers` from `peer`, each checked against its header; when a helper peer
    /// fails or serves only some, the rest comes from `source`, which must serve them all.
    async fn fetch_bodies(
        &self,
        peer: &str,
        source: &str,
        headers: &[Header],
        hashes: &[Hash],
    ) -> Result<Vec<Vec<Transaction>>, Fault> {
        if peer != source {
            match self.fetch_checked(peer, headers, hashes).await {
                Ok(bodies) if bodies.len() == headers.len() => return Ok(bodies),
                Ok(_) => {}
                Err(fault) => {
                    self.book
                        .penalize(&fault.peer, fault.offence, &fault.reason);
                }
            }
        }
        let bodies = self.fetch_checked(source, headers, hashes).await?;
        if bodies.len() != headers.len() {
            return Err(Fault::new(
                source,
                Offence::Withheld,
                format!(
                    "served {} of the {} bodies of headers it sent",
                    bodies.len(),
                    headers.len()
                ),
            ));
        }
        Ok(bodies)
    }

    async fn fetch_checked(
        &self,
        peer: &str,
        headers: &[Header],
        hashes: &[Hash],
    ) -> Result<Vec<Vec<Transaction>>, Fault> {
        let client = self
            .client(peer)
            .map_err(|e| Fault::from_peer_error(peer, &e))?;
        let bodies = client
            .bodies(hashes.to_vec())
            .await
            .map_err(|e| Fault::from_peer_error(peer, &e))?;
        let rules = self.ledger.rules().clone();
        let headers = headers.to_vec();
        let hashes = hashes.to_vec();
        let peer_owned = peer.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(bodies.len());
            for (i, (hash, txs)) in bodies.into_iter().enumerate() {
                if hash != hashes[i] {
                    return Err(Fault::new(
                        &peer_owned,
                        Offence::Protocol,
                        format!("body {i} is for another block than asked"),
                    ));
                }
                rules.check_body(&headers[i], &txs).map_err(|e| {
                    Fault::new(
                        &peer_owned,
                        Offence::InvalidData,
                        format!("body of block {}: {e}", headers[i].height),
                    )
                })?;
                out.push(txs);
            }
            Ok(out)
        })
        .await
        .map_err(|e| Fault::new(peer, Offence::Protocol, format!("body check task: {e}")))?
    }
}

/// Validates a run of headers: it attaches to a stored block and every header follows its parent
/// under the chain rules, signatures batched. Returns the headers with their hashes.
fn validate_headers(
    ledger: &Ledger,
    headers: Vec<Header>,
) -> Result<(Vec<Header>, Vec<Hash>), String> {
    let first = &headers[0];
    let parent = ledger
        .store()
        .header(&first.parent_hash)
        .map_err(|e| format!("reading parent: {e}"))?
        .ok_or_else(|| {
            format!(
                "first header (height {}) attaches to unknown block {}",
                first.height,
                to_hex(&first.parent_hash)
            )
        })?;
    let rules = ledger.rules();
    let now = now_ms();
    let mut hashes = Vec::with_capacity(headers.len());
    let mut parent_hash = first.parent_hash;
    let mut parent = &parent;
    for header in &headers {
        rules
            .check_header_fields(parent, &parent_hash, header, now)
            .map_err(|e| format!("header {}: {e}", header.height))?;
        parent_hash = header.hash();
        hashes.push(parent_hash);
        parent = header;
    }
    rules
        .check_header_signatures(&headers)
        .map_err(|e| e.to_string())?;
    Ok((headers, hashes))
}

#[cfg(test)]
mod tests {
    //! The engine against in-process fake peers (no network): honest peers are synced from, liars
    //! are banned and nothing they sent is stored.

    use std::collections::HashMap;

    use futures::stream::BoxStream;

    use super::*;
    use crate::chain::Genesis;
    use crate::chain::crypto::Keypair;
    use crate::chain::genesis::{GenesisAccount, dev_keypair};
    use crate::mempool::Mempool;
    use crate::producer::Producer;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Fake {
        Honest,
        BadSignature,
        TooManyHeaders,
        IgnoresLocator,
        WrongBodies,
    }

    struct FakePeer {
        address: String,
        chain: Vec<Block>,
        mode: Fake,
        genesis_hash: Hash,
    }

    #[tonic::async_trait]
    impl PeerClient for FakePeer {
        fn address(&self) -> &str {
            &self.address
        }
        async fn handshake(&self, ours: &PeerStatus) -> Result<PeerStatus, PeerError> {
            let head = self.chain.last().unwrap();
            Ok(PeerStatus {
                chain_id: ours.chain_id,
                genesis_hash: self.genesis_hash,
                head_height: head.header.height,
                head_hash: head.hash(),
                state_root: head.header.state_root,
                listen_address: self.address.clone(),
            })
        }
        async fn headers(&self, locator: Vec<Hash>, max: u32) -> Result<Vec<Header>, PeerError> {
            let start = locator
                .iter()
                .find_map(|h| self.chain.iter().position(|b| b.hash() == *h))
                .map_or(1, |p| p + 1);
            let start = if self.mode == Fake::IgnoresLocator {
                5
            } else {
                start
            };
            let take = if self.mode == Fake::TooManyHeaders {
                max as usize + 1
            } else {
                max as usize
            };
            let mut headers: Vec<Header> = self
                .chain
                .iter()
                .skip(start)
                .take(take)
                .map(|b| b.header.clone())
                .collect();
            if self.mode == Fake::BadSignature {
                for h in &mut headers {
                    h.signature.0[1] ^= 1;
                }
            }
            Ok(headers)
        }
        async fn bodies(
            &self,
            hashes: Vec<Hash>,
        ) -> Result<Vec<(Hash, Vec<Transaction>)>, PeerError> {
            Ok(hashes
                .iter()
                .filter_map(|h| self.chain.iter().find(|b| b.hash() == *h))
                .map(|b| {
                    let mut txs = b.transactions.clone();
                    if self.mode == Fake::WrongBodies {
                        txs.reverse();
                        txs.pop();
                    }
                    (b.hash(), txs)
                })
                .collect())
        }
        async fn peers(&self) -> Result<Vec<String>, PeerError> {
            Ok(vec![])
        }
        async fn subscribe_heads(
            &self,
        ) -> Result<BoxStream<'static, Result<Header, PeerError>>, PeerError> {
            Ok(futures::stream::pending().boxed())
        }
    }

    struct FakeNet(HashMap<String, Arc<FakePeer>>);

    impl Connector for FakeNet {
        fn connect(&self, address: &str) -> Result<Arc<dyn PeerClient>, PeerError> {
            self.0
                .get(address)
                .map(|p| p.clone() as Arc<dyn PeerClient>)
                .ok_or_else(|| PeerError::Transport(format!("no fake peer at {address}")))
        }
    }

    fn genesis(v: &Keypair) -> Genesis {
        Genesis {
            chain_id: 9,
            genesis_time_ms: 1_700_000_000_000,
            validators: vec![v.public().to_string()],
            accounts: (0..4)
                .map(|i| GenesisAccount {
                    address: dev_keypair(9, i).public().address().to_string(),
                    balance: 1_000_000,
                })
                .collect(),
            dev_accounts: 4,
        }
    }

    /// A source chain of `n` blocks with transfers, and a fresh ledger for the syncing side.
    fn setup(n: u64) -> (Vec<Block>, Genesis, tempfile::TempDir, tempfile::TempDir) {
        let v = Keypair::from_seed([5; 32]);
        let g = genesis(&v);
        let src_dir = tempfile::tempdir().unwrap();
        let src = Arc::new(Ledger::open(src_dir.path(), &g, 60_000).unwrap());
        let producer = Producer::new(src.clone(), Arc::new(Mempool::new(10)), Some(v), 100);
        let mut chain = vec![src.block_at(0).unwrap().unwrap()];
        for _ in 0..n {
            chain.push(producer.produce(3).unwrap());
        }
        (chain, g, src_dir, tempfile::tempdir().unwrap())
    }

    async fn sync_with(
        peers: &[(&str, Fake)],
        n: u64,
    ) -> (Arc<Ledger>, Arc<PeerBook>, Vec<Block>, tempfile::TempDir) {
        let (chain, g, _src, dst) = setup(n);
        let ledger = Arc::new(Ledger::open(dst.path(), &g, 60_000).unwrap());
        let genesis_hash = ledger.genesis_hash();
        let net = FakeNet(
            peers
                .iter()
                .map(|(a, mode)| {
                    (
                        a.to_string(),
                        Arc::new(FakePeer {
                            address: a.to_string(),
                            chain: chain.clone(),
                            mode: *mode,
                            genesis_hash,
                        }),
                    )
                })
                .collect(),
        );
        let book = Arc::new(PeerBook::new(8, Duration::from_secs(60), None));
        for (a, _) in peers {
            book.add(a).unwrap();
        }
        let config = SyncConfig {
            headers_per_request: 16,
            bodies_per_request: 4,
            tick: Duration::from_millis(10),
            handshake_interval: Duration::from_millis(10),
            ..SyncConfig::default()
        };
        let engine = SyncEngine::new(
            ledger.clone(),
            book.clone(),
            Arc::new(net),
            Arc::new(SyncState::default()),
            config,
        );
        let cancel = CancellationToken::new();
        let task = tokio::spawn(engine.run(cancel.clone()));
        let deadline = Instant::now() + Duration::from_secs(20);
        let target = chain.last().unwrap().hash();
        let honest = peers.iter().any(|(_, m)| *m == Fake::Honest);
        let liars: Vec<&str> = peers
            .iter()
            .filter(|(_, m)| *m != Fake::Honest)
            .map(|(a, _)| *a)
            .collect();
        loop {
            let synced = !honest || ledger.head().hash == target;
            if synced && liars.iter().all(|l| book.is_banned(l)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sync did not finish: head {}",
                ledger.head().header.height
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
        task.await.unwrap();
        (ledger, book, chain, dst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_from_an_honest_fake_in_batches() {
        let (ledger, _, chain, _dir) = sync_with(&[("honest:1", Fake::Honest)], 40).await;
        assert_eq!(ledger.head().hash, chain[40].hash());
        assert_eq!(ledger.verify_chain(0, 40).unwrap().fault, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn liars_are_banned_and_leave_nothing_behind() {
        for liar in [
            Fake::BadSignature,
            Fake::TooManyHeaders,
            Fake::IgnoresLocator,
            Fake::WrongBodies,
        ] {
            let (ledger, book, _, _dir) = sync_with(&[("liar:1", liar)], 30).await;
            assert!(book.is_banned("liar:1"), "{liar:?}");
            assert_eq!(ledger.head().header.height, 0, "{liar:?}: nothing stored");
            let (ledger, book, chain, _dir) =
                sync_with(&[("liar:1", liar), ("honest:1", Fake::Honest)], 30).await;
            assert!(book.is_banned("liar:1"), "{liar:?}");
            assert_eq!(
                ledger.head().hash,
                chain[30].hash(),
                "{liar:?}: synced from the honest peer"
            );
        }
    }

    #[test]
    fn fork_choice_rule() {
        assert!(beats(5, &[9; 32], 4, &[0; 32]));
        assert!(beats(5, &[1; 32], 5, &[2; 32]));
        assert!(!beats(5, &[2; 32], 5, &[2; 32]));
        assert!(!beats(4, &[0; 32], 5, &[9; 32]));
    }
}
