//! Helpers shared by the node's integration tests: chains built with the node library, nodes
//! started in this process on loopback ports, and raw gRPC clients for the tests that inspect
//! status codes. Everything that checks nodes over gRPC (waiting, convergence, replay, query
//! answers) is `testkit`'s.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

/// `node/tests/vectors/<name>`, inside the repository. Panics with a clear message when missing:
/// these tests never skip.
pub fn vectors_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    assert!(
        dir.is_dir(),
        "test vectors not found at {} (they are part of the repository: is the checkout complete?)",
        dir.display()
    );
    dir
}

use node::chain::crypto::Keypair;
use node::chain::genesis::{GenesisAccount, GenesisValidator, dev_keypair};
use node::chain::{Address, Block, Genesis, Hash, Header, Transaction, merkle};
use node::ledger::Ledger;
use node::state::Executor;

pub const CHAIN_ID: u64 = 7777;
pub const DEV_BALANCE: u64 = 1_000_000;

/// Validator key `i` of the test networks.
pub fn validator(i: u8) -> Keypair {
    Keypair::from_seed([0xa0 + i; 32])
}

/// A genesis with the given validators (stake 1 each) and `dev` funded dev accounts, timed in
/// the past, with 1 ms slots (so that a chain can be built as fast as blocks can be made).
pub fn genesis(validators: &[Keypair], dev: u32) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 1_700_000_000_000,
        slot_ms: 1,
        validators: validators
            .iter()
            .map(|k| GenesisValidator::Key(k.public().to_string()))
            .collect(),
        accounts: (0..dev)
            .map(|i| GenesisAccount {
                address: dev_keypair(CHAIN_ID, i).public().address().to_string(),
                balance: DEV_BALANCE,
            })
            .collect(),
        dev_accounts: dev,
    }
}

/// Dev account `i`.
pub fn dev(i: u32) -> Keypair {
    dev_keypair(CHAIN_ID, i)
}

/// The genesis hash of `g` (what transactions sign for).
pub fn genesis_hash(g: &Genesis) -> Hash {
    node::ledger::genesis_hash(g).expect("test genesis is valid")
}

/// A signed transfer for the network whose genesis hash is `network`.
pub fn transfer(
    network: &Hash,
    from: &Keypair,
    nonce: u64,
    to: Address,
    amount: u64,
    fee: u64,
) -> Transaction {
    let mut tx = Transaction {
        chain_id: CHAIN_ID,
        sender: from.public(),
        nonce,
        recipient: to,
        amount,
        fee,
        signature: Default::default(),
    };
    tx.signature = from.sign(&tx.signing_message(network));
    tx
}

/// A valid next block on `parent` (executed to get its state root), signed by `key`, in the first
/// slot `key` leads at least `1 + ts_bump` slots after the parent's.
pub fn block_on(
    ledger: &Ledger,
    parent: &Header,
    key: &Keypair,
    txs: Vec<Transaction>,
    ts_bump: u64,
) -> Block {
    let mut exec = Executor::new(ledger.store(), parent.state_root);
    exec.apply_block(&txs, &key.public().address())
        .expect("test transactions execute");
    let (state_root, _) = exec.commit().unwrap();
    let mut header = Header {
        chain_id: CHAIN_ID,
        height: parent.height + 1,
        parent_hash: parent.hash(),
        timestamp_ms: {
            let schedule = &ledger.rules().schedule;
            let from = schedule.slot_of(parent.timestamp_ms) + 1 + ts_bump;
            // A key that leads no slot (a test of the schedule rule) takes the first slot.
            let slot = schedule.next_slot_of(&key.public(), from).unwrap_or(from);
            schedule.slot_start(slot)
        },
        tx_root: merkle::tx_root(&txs),
        tx_count: txs.len() as u32,
        state_root,
        producer: key.public(),
        signature: Default::default(),
    };
    sign(&mut header, key);
    Block {
        header,
        transactions: txs,
    }
}

/// Re-signs a header.
pub fn sign(header: &mut Header, key: &Keypair) {
    header.signature = key.sign(&header.signing_message());
}

use node::Node;
use node::config::NodeConfig;
use node::sync::Misbehave;
use proto::node::v1 as api;
use proto::node::v1::control_service_client::ControlServiceClient;
use proto::node::v1::query_service_client::QueryServiceClient;
use proto::node::v1::transaction_service_client::TransactionServiceClient;
use testkit::NodeClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub const TOKEN: &str = "test-token";
/// Deadline of every wait in these tests.
pub const T: Duration = Duration::from_secs(30);

/// A node running in this process on a loopback port, with its own RocksDB in a temp dir.
pub struct TestNode {
    pub node: Node,
    pub dir: tempfile::TempDir,
    pub addr: String,
    /// The node through testkit (query and control, with the token).
    pub kit: NodeClient,
}

/// How to start a test node.
#[derive(Clone)]
pub struct Spec {
    pub genesis: Genesis,
    pub key: Option<Keypair>,
    pub peers: Vec<String>,
    pub misbehave: Option<Misbehave>,
    /// Produce in its slots (validators start paused otherwise: 1 ms test slots).
    pub producing: bool,
    pub discovery: bool,
    /// Advertise no address (peers reach it only through what they were given, e.g. a proxy).
    pub hidden: bool,
    /// Serve Prometheus metrics on a loopback port.
    pub metrics: bool,
}

impl Spec {
    pub fn new(genesis: &Genesis) -> Self {
        Self {
            genesis: genesis.clone(),
            key: None,
            peers: vec![],
            misbehave: None,
            producing: false,
            discovery: true,
            hidden: false,
            metrics: false,
        }
    }
    pub fn key(mut self, k: Keypair) -> Self {
        self.key = Some(k);
        self
    }
    pub fn peer(mut self, p: &str) -> Self {
        self.peers.push(p.to_string());
        self
    }
    pub fn misbehave(mut self, m: Misbehave) -> Self {
        self.misbehave = Some(m);
        self
    }
    /// No peer exchange: the node only knows the peers it is given or that contact it.
    pub fn no_discovery(mut self) -> Self {
        self.discovery = false;
        self
    }
    /// Serve Prometheus metrics (`TestNode::node.metrics_addr()`).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }
    /// Advertise no address and ask nobody for peers: the node knows only the peers it is given.
    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self.discovery = false;
        self
    }
    /// Produce on its own in its slots (give the genesis slots long enough for that).
    pub fn producing(mut self) -> Self {
        self.producing = true;
        self
    }
}

pub fn node_config(spec: &Spec, dir: &std::path::Path) -> NodeConfig {
    let mut c = NodeConfig::new(
        dir.to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
        spec.genesis.clone(),
    );
    c.validator_key = spec.key.clone();
    c.peers = spec.peers.clone();
    c.misbehave = spec.misbehave;
    c.paused = !spec.producing;
    c.control_token = Some(TOKEN.into());
    c.ban_duration = Duration::from_secs(300);
    c.timeouts.stall = Duration::from_millis(700);
    c.timeouts.request = Duration::from_secs(3);
    c.sync.tick = Duration::from_millis(100);
    c.sync.handshake_interval = Duration::from_millis(300);
    c.sync.discovery_interval = Duration::from_millis(500);
    c.sync.peer_exchange = spec.discovery;
    if spec.hidden {
        c.advertise = Some(String::new());
    }
    if spec.metrics {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    }
    c
}

/// The testkit client of a node at `addr` (host:port), with the test token.
pub fn kit(addr: &str) -> NodeClient {
    NodeClient::new(addr, &format!("http://{addr}"), None, Some(TOKEN)).unwrap()
}

pub async fn start(spec: Spec) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(node_config(&spec, dir.path())).await.unwrap();
    let addr = node.local_addr().to_string();
    let kit = kit(&addr);
    TestNode {
        node,
        dir,
        addr,
        kit,
    }
}

/// testkit's convergence proof (same head, every block, state root, every touched account,
/// re-verification) over `nodes`, at `min_height` or above.
pub async fn converged(nodes: &[&TestNode], min_height: u64) -> testkit::Converged {
    let kits: Vec<&NodeClient> = nodes.iter().map(|n| &n.kit).collect();
    testkit::converge(&kits, min_height, T)
        .await
        .unwrap_or_else(|e| panic!("nodes did not converge: {e}"))
}

/// `GET path` over plain HTTP/1.1 on `addr`; the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tokio::time::timeout(T, s.read_to_string(&mut out))
        .await
        .expect("an answer within the deadline")
        .unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Waits until `node` reports `height` or more.
pub async fn wait_height(node: &TestNode, height: u64) {
    testkit::wait_for_height(&node.kit, height, T)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until `check` yields `Some`.
pub async fn wait_until<V, F, Fut>(what: &str, check: F) -> V
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<V>>,
{
    testkit::wait_for(what, T, check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `node` lists `peer` in `state`.
pub async fn peer_is(node: &TestNode, peer: &str, state: api::PeerState) -> bool {
    node.kit.status().await.is_ok_and(|s| {
        s.peers
            .iter()
            .any(|p| p.address == peer && p.state() == state)
    })
}

pub async fn channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A raw query client (for tests that inspect status codes).
pub async fn query(addr: &str) -> QueryServiceClient<Channel> {
    QueryServiceClient::new(channel(addr).await)
}

/// A raw transaction client.
pub async fn transactions(addr: &str) -> TransactionServiceClient<Channel> {
    TransactionServiceClient::new(channel(addr).await)
}

pub type AuthFn =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

pub type Control = ControlServiceClient<InterceptedService<Channel, AuthFn>>;

/// A raw control client sending `token` (or no token).
pub async fn control_with(addr: &str, token: Option<&str>) -> Control {
    let header = token.map(|t| {
        format!("Bearer {t}")
            .parse::<tonic::metadata::MetadataValue<_>>()
            .unwrap()
    });
    let f: AuthFn = Box::new(move |mut r| {
        if let Some(h) = &header {
            r.metadata_mut().insert("authorization", h.clone());
        }
        Ok(r)
    });
    ControlServiceClient::with_interceptor(channel(addr).await, f)
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `luxtensor run` process (the real binary) on a loopback port, its log in a temp dir.
pub struct NodeProcess {
    pub child: std::process::Child,
    pub addr: String,
    pub kit: NodeClient,
    pub files: tempfile::TempDir,
}

impl NodeProcess {
    /// Starts `luxtensor run` for `genesis` with `key` (a validator) and extra flags; with
    /// `nofile`, under that open-file limit (`ulimit -n`).
    pub fn spawn(
        genesis: &Genesis,
        key: Option<&Keypair>,
        extra: &[&str],
        nofile: Option<u32>,
    ) -> Self {
        let files = tempfile::tempdir().unwrap();
        let genesis_path = files.path().join("genesis.json");
        std::fs::write(&genesis_path, genesis.to_json()).unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut args: Vec<String> = vec![
            "run".into(),
            "--log".into(),
            "info".into(),
            "--listen".into(),
            addr.clone(),
            "--control-token".into(),
            TOKEN.into(),
            "--data-dir".into(),
            files.path().join("data").display().to_string(),
            "--genesis".into(),
            genesis_path.display().to_string(),
        ];
        if let Some(k) = key {
            let key_path = files.path().join("key.json");
            node::config::write_key(&key_path, k).unwrap();
            args.push("--validator-key".into());
            args.push(key_path.display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = std::fs::File::create(files.path().join("node.log")).unwrap();
        let exe = env!("CARGO_BIN_EXE_luxtensor");
        let mut command = match nofile {
            Some(n) => {
                let mut c = std::process::Command::new("bash");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(exe)
                    .args(&args);
                c
            }
            None => {
                let mut c = std::process::Command::new(exe);
                c.args(&args);
                c
            }
        };
        let child = command
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let kit = kit(&addr);
        Self {
            child,
            addr,
            kit,
            files,
        }
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.files.path().join("node.log")).unwrap_or_default()
    }

    fn status_field(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Peak resident memory of the process (MiB).
    pub fn peak_rss_mib(&self) -> u64 {
        self.status_field("VmHWM:").unwrap_or(0) / 1024
    }

    /// CPU time the process used so far (user + system, seconds).
    pub fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
        ticks as f64 / 100.0
    }

    /// Waits (polling, bounded by `within`) until the process exits; returns whether it did.
    pub async fn exited_within(&mut self, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
