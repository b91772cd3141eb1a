//! Helpers shared by the node's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `../shared/vectors/<name>` beside the repository (override with `LUXTENSOR_VECTORS`). Panics
/// with a clear message when missing: these tests never skip.
pub fn vectors_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("LUXTENSOR_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let dir = base.join(name);
    assert!(
        dir.is_dir(),
        "test vectors not found at {} (set LUXTENSOR_VECTORS to the shared/vectors folder)",
        dir.display()
    );
    dir
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

use node::chain::crypto::Keypair;
use node::chain::genesis::{GenesisAccount, dev_keypair};
use node::chain::{Address, Block, Genesis, Header, Transaction, merkle};
use node::ledger::Ledger;
use node::state::Executor;

pub const CHAIN_ID: u64 = 7777;
pub const DEV_BALANCE: u64 = 1_000_000;

/// Validator key `i` of the test networks.
pub fn validator(i: u8) -> Keypair {
    Keypair::from_seed([0xa0 + i; 32])
}

/// A genesis with the given validators and `dev` funded dev accounts, timed in the past.
pub fn genesis(validators: &[Keypair], dev: u32) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 1_700_000_000_000,
        validators: validators.iter().map(|k| k.public().to_string()).collect(),
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

/// A signed transfer.
pub fn transfer(from: &Keypair, nonce: u64, to: Address, amount: u64, fee: u64) -> Transaction {
    let mut tx = Transaction {
        chain_id: CHAIN_ID,
        sender: from.public(),
        nonce,
        recipient: to,
        amount,
        fee,
        signature: Default::default(),
    };
    tx.signature = from.sign(&tx.signing_message());
    tx
}

/// A valid next block on `parent` (executed to get its state root), signed by `key`.
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
        timestamp_ms: parent.timestamp_ms + 1 + ts_bump,
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
use proto::node::v1::control_client::ControlClient;
use proto::node::v1::query_client::QueryClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub const TOKEN: &str = "test-token";

/// A node running in this process on a loopback port, with its own RocksDB in a temp dir.
pub struct TestNode {
    pub node: Node,
    pub dir: tempfile::TempDir,
    pub addr: String,
}

/// How to start a test node.
#[derive(Clone)]
pub struct Spec {
    pub genesis: Genesis,
    pub key: Option<Keypair>,
    pub peers: Vec<String>,
    pub misbehave: Option<Misbehave>,
    pub block_interval: Duration,
    pub discovery: bool,
}

impl Spec {
    pub fn new(genesis: &Genesis) -> Self {
        Self {
            genesis: genesis.clone(),
            key: None,
            peers: vec![],
            misbehave: None,
            block_interval: Duration::ZERO,
            discovery: true,
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
    pub fn interval(mut self, d: Duration) -> Self {
        self.block_interval = d;
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
    c.block_interval = spec.block_interval;
    c.control_token = Some(TOKEN.into());
    c.ban_duration = Duration::from_secs(300);
    c.timeouts.stall = Duration::from_millis(700);
    c.timeouts.request = Duration::from_secs(3);
    c.sync.tick = Duration::from_millis(100);
    c.sync.handshake_interval = Duration::from_millis(300);
    c.sync.discovery_interval = Duration::from_millis(500);
    c.sync.peer_exchange = spec.discovery;
    c
}

pub async fn start(spec: Spec) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(node_config(&spec, dir.path())).await.unwrap();
    let addr = node.local_addr().to_string();
    TestNode { node, dir, addr }
}

pub async fn channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub async fn query(addr: &str) -> QueryClient<Channel> {
    QueryClient::new(channel(addr).await)
}

pub type AuthFn =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

pub type Control = ControlClient<InterceptedService<Channel, AuthFn>>;

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
    ControlClient::with_interceptor(channel(addr).await, f)
}

pub async fn control(addr: &str) -> Control {
    control_with(addr, Some(TOKEN)).await
}

pub async fn status(addr: &str) -> api::ChainStatus {
    query(addr)
        .await
        .get_status(api::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

pub async fn produce(addr: &str, count: u32, transfers: u32) -> Vec<api::Header> {
    control(addr)
        .await
        .produce_blocks(api::ProduceBlocksRequest {
            count,
            transfers_per_block: transfers,
        })
        .await
        .unwrap()
        .into_inner()
        .blocks
}

/// Waits until the node at `addr` reports `height` or more.
pub async fn wait_height(addr: &str, height: u64, timeout: Duration) {
    let mut q = query(addr).await;
    wait_for(&format!("{addr} to reach height {height}"), timeout, || {
        let mut q = q.clone();
        async move {
            let s = q
                .get_status(api::GetStatusRequest {})
                .await
                .ok()?
                .into_inner();
            (s.height >= height).then_some(())
        }
    })
    .await;
    let _ = &mut q;
}

/// Every canonical block hash from 0 to `to` on a node.
pub async fn hashes(addr: &str, to: u64) -> Vec<String> {
    let mut q = query(addr).await;
    let mut out = Vec::new();
    for h in 0..=to {
        let header = q
            .get_header(api::BlockId {
                id: Some(api::block_id::Id::Height(h)),
            })
            .await
            .unwrap()
            .into_inner();
        out.push(header.hash);
    }
    out
}

/// `VerifyChain` over the whole stored chain of a node.
pub async fn verify(addr: &str) -> api::VerifyChainResponse {
    query(addr)
        .await
        .verify_chain(api::VerifyChainRequest {
            from_height: 0,
            to_height: None,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until every node has the same head hash at `height` or above, then checks that they
/// agree on every block hash, the state root, and that their chains verify.
pub async fn assert_converged(
    addrs: &[&str],
    min_height: u64,
    timeout: Duration,
) -> api::ChainStatus {
    let statuses = wait_for(
        &format!("{addrs:?} to converge at height >= {min_height}"),
        timeout,
        || async {
            let mut all = Vec::new();
            for a in addrs {
                all.push(
                    query(a)
                        .await
                        .get_status(api::GetStatusRequest {})
                        .await
                        .ok()?
                        .into_inner(),
                );
            }
            let first = &all[0];
            (first.height >= min_height
                && all
                    .iter()
                    .all(|s| s.head_hash == first.head_hash && s.height == first.height))
            .then_some(all)
        },
    )
    .await;
    let head = statuses[0].clone();
    let reference = hashes(addrs[0], head.height).await;
    for (a, s) in addrs.iter().zip(&statuses) {
        assert_eq!(s.state_root, head.state_root, "{a}: state root");
        assert_eq!(hashes(a, head.height).await, reference, "{a}: block hashes");
        let v = verify(a).await;
        assert!(v.ok, "{a}: verify chain found {:?}", v.fault);
        assert_eq!(v.blocks_checked, head.height + 1);
    }
    head
}
