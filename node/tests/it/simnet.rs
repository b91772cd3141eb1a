//! A deterministic in-process network (after raft-rs `harness/src/network.rs`): N nodes in this
//! process, each with its own RocksDB, ledger, mempool, producer, transaction gossip and sync
//! engine, joined by an in-memory transport behind the engine's `PeerClient` trait. One
//! controlled clock drives every node, so a slot is a function call: [`Net::step`] moves the clock
//! to the next slot, lets its leader produce, pushes pending transactions along the open links and
//! runs every engine's sync pass (nodes in a seeded order). Links can be cut (`cut`, `isolate`,
//! `heal`), requests dropped and transaction pushes delayed by a slot at seeded rates, nodes
//! killed and restarted on their data directory. The same seed gives the same schedule of faults and the same slots; the engines'
//! internal races (which of two equally good peers answers first) may still vary, so the checks
//! are properties that hold for any interleaving. After every step the harness checks that no
//! node's finalized height ever went down.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use node::chain::crypto::Keypair;
use node::chain::genesis::{GenesisAccount, GenesisValidator, dev_keypair};
use node::chain::{Genesis, Hash, Header, Transaction};
use node::ledger::{Ledger, ManualClock};
use node::mempool::Mempool;
use node::producer::Producer;
use node::sync::engine::{SyncConfig, SyncEngine};
use node::sync::gossip::{self, GossipQueue, TxGossip};
use node::sync::peer::{Connector, PeerClient, PeerError, PeerStatus};
use node::sync::{PeerBook, SyncState};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

pub const CHAIN: u64 = 4242;
pub const SLOT_MS: u64 = 1000;
pub const GENESIS_MS: u64 = 1_800_000_000_000;
pub const DEV_BALANCE: u64 = 1_000_000;

fn address(i: usize) -> String {
    format!("node{i}:1")
}

/// What the transport reaches on a live node.
#[derive(Clone)]
struct Endpoint {
    ledger: Arc<Ledger>,
    gossip: Arc<TxGossip>,
}

/// State the transport shares: live endpoints, cut links, the drop and delay rates, and the
/// transaction pushes held back by a delay (delivered at the start of the next slot).
struct Shared {
    endpoints: Mutex<Vec<Option<Endpoint>>>,
    cut: Mutex<HashSet<(usize, usize)>>,
    drop: Mutex<(StdRng, f64)>,
    delay: Mutex<(f64, Vec<HeldPush>)>,
}

/// A transaction push held back by a delay: (from, to, transactions).
type HeldPush = (usize, usize, Vec<Transaction>);

impl Shared {
    fn reach(&self, from: usize, to: usize) -> Result<Endpoint, PeerError> {
        let link = (from.min(to), from.max(to));
        if self.cut.lock().unwrap().contains(&link) {
            return Err(PeerError::Transport(format!("link {from}-{to} is cut")));
        }
        {
            let mut drop = self.drop.lock().unwrap();
            let rate = drop.1;
            if rate > 0.0 && drop.0.gen_bool(rate) {
                return Err(PeerError::Transport("request dropped".into()));
            }
        }
        self.endpoints.lock().unwrap()[to]
            .clone()
            .ok_or_else(|| PeerError::Transport(format!("node {to} is down")))
    }
}

/// One side of an in-memory link.
struct SimPeer {
    from: usize,
    to: usize,
    address: String,
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl PeerClient for SimPeer {
    fn address(&self) -> &str {
        &self.address
    }
    async fn handshake(&self, _ours: &PeerStatus) -> Result<PeerStatus, PeerError> {
        let e = self.shared.reach(self.from, self.to)?;
        Ok(node::sync::local_status(&e.ledger, self.address.clone()))
    }
    async fn headers(&self, locator: Vec<Hash>, max: u32) -> Result<Vec<Header>, PeerError> {
        let e = self.shared.reach(self.from, self.to)?;
        node::sync::server::headers_after(&e.ledger, &locator, max)
            .map_err(|err| PeerError::Transport(err.to_string()))
    }
    async fn bodies(&self, hashes: Vec<Hash>) -> Result<Vec<(Hash, Vec<Transaction>)>, PeerError> {
        let e = self.shared.reach(self.from, self.to)?;
        let mut out = Vec::new();
        for h in hashes {
            if let Some(body) = e
                .ledger
                .store()
                .body(&h)
                .map_err(|err| PeerError::Transport(err.to_string()))?
            {
                out.push((h, body));
            }
        }
        Ok(out)
    }
    async fn peers(&self) -> Result<Vec<String>, PeerError> {
        Ok(Vec::new())
    }
    async fn push_transactions(&self, txs: Vec<Transaction>) -> Result<u32, PeerError> {
        let e = self.shared.reach(self.from, self.to)?;
        let delayed = {
            let rate = self.shared.delay.lock().unwrap().0;
            rate > 0.0 && self.shared.drop.lock().unwrap().0.gen_bool(rate)
        };
        if delayed {
            // Arrives a slot later (or never, if the link is cut or the node down by then).
            self.shared
                .delay
                .lock()
                .unwrap()
                .1
                .push((self.from, self.to, txs));
            return Ok(0);
        }
        Ok(e.gossip.receive(txs, &address(self.from)))
    }
    async fn subscribe_heads(
        &self,
    ) -> Result<BoxStream<'static, Result<Header, PeerError>>, PeerError> {
        // The harness delivers announcements itself (see `Net::announce`).
        Ok(Box::pin(futures::stream::pending()))
    }
}

struct SimConnector {
    from: usize,
    shared: Arc<Shared>,
}

impl Connector for SimConnector {
    fn connect(&self, address: &str) -> Result<Arc<dyn PeerClient>, PeerError> {
        let to = address
            .strip_prefix("node")
            .and_then(|s| s.strip_suffix(":1"))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| PeerError::Transport(format!("no such node {address}")))?;
        Ok(Arc::new(SimPeer {
            from: self.from,
            to,
            address: address.to_string(),
            shared: self.shared.clone(),
        }))
    }
}

/// A running node of the network.
pub struct SimNode {
    pub ledger: Arc<Ledger>,
    pub mempool: Arc<Mempool>,
    pub producer: Arc<Producer>,
    pub engine: Arc<SyncEngine>,
    pub gossip: Arc<TxGossip>,
    queue: GossipQueue,
    state: Arc<SyncState>,
}

/// The network.
pub struct Net {
    pub clock: Arc<ManualClock>,
    pub genesis: Genesis,
    pub genesis_hash: Hash,
    pub keys: Vec<Option<Keypair>>,
    pub nodes: Vec<Option<SimNode>>,
    dirs: Vec<tempfile::TempDir>,
    /// Killed nodes' ledgers, until the last task holding one lets go.
    closing: Vec<Option<std::sync::Weak<Ledger>>>,
    shared: Arc<Shared>,
    pub slot: u64,
    rng: StdRng,
    /// The highest finalized height each node ever reported.
    pub finalized_seen: Vec<u64>,
    /// Every transaction submitted through [`Net::submit`].
    pub submitted: Vec<Hash>,
}

/// Validator `i` of simulated networks.
pub fn sim_validator(i: usize) -> Keypair {
    Keypair::from_seed([0x50 + i as u8; 32])
}

/// Dev account `i` of simulated networks.
pub fn sim_dev(i: u32) -> Keypair {
    dev_keypair(CHAIN, i)
}

impl Net {
    /// `validators` validators (stake 1 each, 1 s slots) and `followers` full nodes, every node
    /// knowing every other; faults and node order follow `seed`.
    pub fn new(validators: usize, followers: usize, seed: u64) -> Self {
        let keys: Vec<Option<Keypair>> = (0..validators)
            .map(|i| Some(sim_validator(i)))
            .chain((0..followers).map(|_| None))
            .collect();
        let genesis = Genesis {
            chain_id: CHAIN,
            genesis_time_ms: GENESIS_MS,
            slot_ms: SLOT_MS,
            validators: (0..validators)
                .map(|i| GenesisValidator::Key(sim_validator(i).public().to_string()))
                .collect(),
            accounts: (0..8)
                .map(|i| GenesisAccount {
                    address: sim_dev(i).public().address().to_string(),
                    balance: DEV_BALANCE,
                })
                .collect(),
            dev_accounts: 8,
        };
        let genesis_hash = node::ledger::genesis_hash(&genesis).unwrap();
        let n = keys.len();
        let shared = Arc::new(Shared {
            endpoints: Mutex::new(vec![None; n]),
            cut: Mutex::new(HashSet::new()),
            drop: Mutex::new((StdRng::seed_from_u64(seed ^ 0x5eed), 0.0)),
            delay: Mutex::new((0.0, Vec::new())),
        });
        let mut net = Self {
            clock: Arc::new(ManualClock::new(GENESIS_MS)),
            genesis,
            genesis_hash,
            keys,
            nodes: (0..n).map(|_| None).collect(),
            dirs: (0..n).map(|_| tempfile::tempdir().unwrap()).collect(),
            closing: (0..n).map(|_| None).collect(),
            shared,
            slot: 0,
            rng: StdRng::seed_from_u64(seed),
            finalized_seen: vec![0; n],
            submitted: Vec::new(),
        };
        for i in 0..n {
            net.start(i);
        }
        net
    }

    fn start(&mut self, i: usize) {
        let ledger = Arc::new(
            Ledger::open_with_clock(self.dirs[i].path(), &self.genesis, 0, self.clock.clone())
                .unwrap(),
        );
        let mempool = Arc::new(Mempool::new(10_000));
        let producer = Arc::new(Producer::new(
            ledger.clone(),
            mempool.clone(),
            self.keys[i].clone(),
            1000,
        ));
        let book = Arc::new(PeerBook::new(
            64,
            Duration::from_millis(1),
            Some(address(i)),
        ));
        for j in 0..self.keys.len() {
            if j != i {
                book.add(&address(j)).unwrap();
            }
        }
        let state = Arc::new(SyncState::default());
        let engine = SyncEngine::new(
            ledger.clone(),
            book,
            Arc::new(SimConnector {
                from: i,
                shared: self.shared.clone(),
            }),
            state.clone(),
            SyncConfig {
                headers_per_request: 64,
                bodies_per_request: 16,
                handshake_interval: Duration::ZERO,
                peer_exchange: false,
                listen_address: address(i),
                ..SyncConfig::default()
            },
        );
        let (gossip, queue) = TxGossip::new(ledger.clone(), mempool.clone());
        self.shared.endpoints.lock().unwrap()[i] = Some(Endpoint {
            ledger: ledger.clone(),
            gossip: gossip.clone(),
        });
        self.nodes[i] = Some(SimNode {
            ledger,
            mempool,
            producer,
            engine,
            gossip,
            queue,
            state,
        });
    }

    /// The live node `i`.
    pub fn node(&self, i: usize) -> &SimNode {
        self.nodes[i].as_ref().expect("node is running")
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect()
    }

    /// Cuts the link between `a` and `b` (both directions).
    pub fn cut(&mut self, a: usize, b: usize) {
        self.shared.cut.lock().unwrap().insert((a.min(b), a.max(b)));
    }

    /// Cuts `n` from every other node.
    pub fn isolate(&mut self, n: usize) {
        for other in 0..self.nodes.len() {
            if other != n {
                self.cut(n, other);
            }
        }
    }

    /// Splits the network into `groups` (nodes in no group keep all their links).
    pub fn partition(&mut self, groups: &[&[usize]]) {
        for (x, gx) in groups.iter().enumerate() {
            for gy in &groups[x + 1..] {
                for a in gx.iter() {
                    for b in gy.iter() {
                        self.cut(*a, *b);
                    }
                }
            }
        }
    }

    /// Restores every link; each node is told its peers are back (no waiting out backoffs).
    pub fn heal(&mut self) {
        self.shared.cut.lock().unwrap().clear();
        for i in self.live() {
            for j in 0..self.nodes.len() {
                if i != j {
                    self.node(i).engine.add_peer(&address(j)).unwrap();
                }
            }
        }
    }

    /// Fails that fraction of requests (seeded).
    pub fn set_drop_rate(&mut self, rate: f64) {
        self.shared.drop.lock().unwrap().1 = rate;
    }

    /// Holds that fraction of transaction pushes back by one slot (seeded).
    pub fn set_delay_rate(&mut self, rate: f64) {
        self.shared.delay.lock().unwrap().0 = rate;
    }

    /// Delivers the pushes held back since the last slot, over links that are still open.
    fn deliver_delayed(&self) {
        let held = std::mem::take(&mut self.shared.delay.lock().unwrap().1);
        for (from, to, txs) in held {
            let link = (from.min(to), from.max(to));
            if self.shared.cut.lock().unwrap().contains(&link) {
                continue;
            }
            if let Some(n) = &self.nodes[to] {
                n.gossip.receive(txs, &address(from));
            }
        }
    }

    /// Stops node `n` at once (its database closes as after a crash between two writes, once
    /// the last task still holding it, e.g. the validation of a header race's slower answer,
    /// ends).
    pub fn kill(&mut self, n: usize) {
        self.shared.endpoints.lock().unwrap()[n] = None;
        if let Some(node) = self.nodes[n].take() {
            self.closing[n] = Some(Arc::downgrade(&node.ledger));
        }
    }

    /// Starts node `n` again on its data directory (after its old database is closed: polled,
    /// at most 10 s).
    pub async fn restart(&mut self, n: usize) {
        assert!(self.nodes[n].is_none(), "node {n} is running");
        if let Some(old) = self.closing[n].take() {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while old.upgrade().is_some() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "node {n}'s database is still open 10 s after it was killed"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        self.start(n);
        for j in 0..self.nodes.len() {
            if j != n
                && let Some(other) = &self.nodes[j]
            {
                other.engine.add_peer(&address(n)).unwrap();
            }
        }
    }

    /// Submits a transfer from dev account `from` (next nonce as `at` sees it, counting its
    /// pending ones is up to the caller through `nonce`) to node `at`.
    pub fn submit(&mut self, at: usize, from: u32, nonce: u64, to: u32, amount: u64) -> Hash {
        let key = sim_dev(from);
        let mut tx = Transaction {
            chain_id: CHAIN,
            sender: key.public(),
            nonce,
            recipient: sim_dev(to).public().address(),
            amount,
            fee: 1,
            signature: Default::default(),
        };
        tx.signature = key.sign(&tx.signing_message(&self.genesis_hash));
        let hash = self
            .node(at)
            .gossip
            .submit(tx)
            .unwrap_or_else(|e| panic!("node {at} refused a transfer of dev {from}: {e}"));
        self.submitted.push(hash);
        hash
    }

    /// The controlled time (ms).
    pub fn clock_ms(&self) -> u64 {
        use node::ledger::Clock;
        self.clock.now_ms()
    }

    /// One slot: the clock moves to its start, heads are announced to connected peers, pending
    /// transactions are pushed along open links, the slot's leader (if running) produces, and
    /// every node syncs (twice, in a seeded order, so that a block crosses two hops).
    pub async fn step(&mut self) {
        self.slot += 1;
        let schedule = self.node_any().ledger.rules().schedule.clone();
        self.clock.set(schedule.slot_start(self.slot));
        self.deliver_delayed();
        self.announce();
        let mut order = self.live();
        order.shuffle(&mut self.rng);
        for &i in &order {
            let n = self.nodes[i].as_mut().unwrap();
            gossip::flush(&n.engine, &mut n.queue).await;
        }
        let leader = *schedule.leader(self.slot);
        if let Some(i) = self
            .keys
            .iter()
            .position(|k| k.as_ref().map(Keypair::public) == Some(leader))
            && let Some(n) = &self.nodes[i]
        {
            let producer = n.producer.clone();
            let slot = self.slot;
            let _ = tokio::task::spawn_blocking(move || producer.produce_in_slot(slot, 0))
                .await
                .unwrap();
        }
        for _ in 0..2 {
            order.shuffle(&mut self.rng);
            for &i in &order {
                let engine = self.node(i).engine.clone();
                engine.sync_once().await;
            }
        }
        // Each mempool follows its node's head, as the node's head task does.
        for i in self.live() {
            let n = self.node(i);
            n.mempool.revalidate(&n.ledger);
        }
        self.check_finality();
    }

    /// Runs `slots` slots.
    pub async fn run(&mut self, slots: u64) {
        for _ in 0..slots {
            self.step().await;
        }
    }

    /// Each node learns its connected peers' heads, as SubscribeHeads tells them (a second
    /// block of one validator for one slot becomes evidence).
    fn announce(&self) {
        for a in self.live() {
            for b in self.live() {
                if a == b || self.shared.reach(a, b).is_err() {
                    continue;
                }
                let head = self.node(b).ledger.head().header;
                self.node(a).ledger.note_announced_header(&head).unwrap();
            }
        }
    }

    fn node_any(&self) -> &SimNode {
        self.nodes
            .iter()
            .flatten()
            .next()
            .expect("a node is running")
    }

    fn check_finality(&mut self) {
        for i in self.live() {
            let f = self.node(i).ledger.finalized().height;
            assert!(
                f >= self.finalized_seen[i],
                "node {i}: finalized height went down from {} to {f}",
                self.finalized_seen[i]
            );
            self.finalized_seen[i] = f;
        }
    }

    /// Steps until every running node has the same head (at most `max` slots); the slots it
    /// took.
    pub async fn settle(&mut self, max: u64) -> u64 {
        for n in 1..=max {
            self.step().await;
            if self.agree() {
                return n;
            }
        }
        let views: Vec<String> = self
            .live()
            .iter()
            .map(|i| {
                let n = self.node(*i);
                let peers: Vec<String> = n
                    .state
                    .snapshot()
                    .peers
                    .iter()
                    .map(|p| format!("{} {:?} h{} s{}", p.address, p.state, p.height, p.score))
                    .collect();
                let f = n.ledger.finalized();
                let on_others: Vec<String> = self
                    .live()
                    .iter()
                    .map(|j| {
                        let other = self.node(*j).ledger.store().canonical_hash(f.height);
                        format!("{j}:{}", other.ok().flatten() == Some(f.hash))
                    })
                    .collect();
                format!(
                    "node {i}: height {} finalized {} (canonical there on {}) peers [{}]",
                    n.ledger.head().header.height,
                    f.height,
                    on_others.join(" "),
                    peers.join(", ")
                )
            })
            .collect();
        let chains: Vec<String> = self
            .live()
            .iter()
            .map(|i| format!("node {i}: {}", self.describe_chain(*i)))
            .collect();
        panic!(
            "no agreement after {max} slots:\n{}\n{}",
            views.join("\n"),
            chains.join("\n")
        );
    }

    /// The canonical chain of node `i` as `height:producer:hash-prefix`, from genesis.
    fn describe_chain(&self, i: usize) -> String {
        let l = &self.node(i).ledger;
        let head = l.head().header.height;
        (1..=head)
            .map(|h| {
                let b = l.header_at(h).unwrap().unwrap();
                let who = self
                    .keys
                    .iter()
                    .position(|k| k.as_ref().map(Keypair::public) == Some(b.producer))
                    .map_or("?".into(), |p| p.to_string());
                format!(
                    "{h}:v{who}:s{}:{}",
                    l.rules().slot(&b),
                    &hex::encode(b.hash())[..4]
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// True when every running node has the same head.
    pub fn agree(&self) -> bool {
        let heads: HashSet<Hash> = self
            .live()
            .iter()
            .map(|i| self.node(*i).ledger.head().hash)
            .collect();
        heads.len() == 1
    }

    /// Checks that every running node holds the same valid chain, and that each submitted
    /// transaction is in it exactly once or still pending somewhere. Returns (height, included,
    /// pending).
    pub fn check_converged(&self) -> (u64, usize, usize) {
        assert!(self.agree(), "nodes disagree");
        let first = self.node_any();
        let height = first.ledger.head().header.height;
        for i in self.live() {
            let report = self.node(i).ledger.verify_chain(0, height).unwrap();
            assert_eq!(report.fault, None, "node {i}'s chain does not verify");
        }
        let mut included: HashMap<Hash, u32> = HashMap::new();
        for h in 1..=height {
            for tx in first.ledger.block_at(h).unwrap().unwrap().transactions {
                *included.entry(tx.hash()).or_default() += 1;
            }
        }
        let mut pending = 0;
        for hash in &self.submitted {
            match included.get(hash) {
                Some(1) => {}
                Some(n) => panic!("transaction included {n} times"),
                None => {
                    assert!(
                        self.live()
                            .iter()
                            .any(|i| self.node(*i).mempool.contains(hash)),
                        "a submitted transaction is neither included nor pending anywhere"
                    );
                    pending += 1;
                }
            }
        }
        (height, self.submitted.len() - pending, pending)
    }

    /// Head heights by node.
    pub fn heights(&self) -> BTreeMap<usize, u64> {
        self.live()
            .into_iter()
            .map(|i| (i, self.node(i).ledger.head().header.height))
            .collect()
    }
}
