//! Command-line interface (clap derive; every flag can also come from an environment variable).
//! `run` starts a node; `keys`, `genesis` make files; `status`, `block`, `account`, `tx`, `health`
//! are gRPC clients that print readable output; `testnet` drives a multi-node scenario.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::sync::Misbehave;

/// LuxTensor node.
#[derive(Debug, Parser)]
#[command(
    name = "luxtensor",
    version,
    about = "LuxTensor blockchain node and testnet tools"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node.
    Run(Box<RunArgs>),
    /// Key files.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Genesis files.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// Print a node's chain status.
    Status(ClientArgs),
    /// Print a block by height or hash.
    Block(BlockArgs),
    /// Print an account's balance and nonce.
    Account(AccountArgs),
    /// Sign and send a transfer, or look a transaction up.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Exit 0 when the node's gRPC health check says SERVING (for Docker HEALTHCHECK).
    Health(ClientArgs),
    /// Multi-node testnet scenarios against running nodes.
    #[command(subcommand)]
    Testnet(TestnetCommand),
}

/// `run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// RocksDB data directory (created if missing).
    #[arg(long, env = "LUXTENSOR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// gRPC listen address (loopback by default; the container image sets 0.0.0.0:50051).
    #[arg(long, env = "LUXTENSOR_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Address other nodes use to reach this one (host:port); defaults to the listen address
    /// when it names a specific IP.
    #[arg(long, env = "LUXTENSOR_ADVERTISE")]
    pub advertise: Option<String>,
    /// Genesis JSON file.
    #[arg(long, env = "LUXTENSOR_GENESIS")]
    pub genesis: PathBuf,
    /// Validator key file; without it the node only follows.
    #[arg(long, env = "LUXTENSOR_VALIDATOR_KEY")]
    pub validator_key: Option<PathBuf>,
    /// Bootstrap peers (host:port), comma-separated or repeated.
    #[arg(long = "peer", env = "LUXTENSOR_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Start a validator with slot production paused: it produces only on demand
    /// (ProduceBlocks) until the control API resumes it.
    #[arg(long, env = "LUXTENSOR_PAUSED")]
    pub paused: bool,
    /// Generated dev transfers added to each block this validator produces in its slots.
    #[arg(long, env = "LUXTENSOR_SLOT_TRANSFERS", default_value_t = 0)]
    pub slot_transfers: u32,
    /// Most transactions per block.
    #[arg(long, env = "LUXTENSOR_MAX_BLOCK_TXS", default_value_t = 1000)]
    pub max_block_txs: usize,
    /// Most transactions in the mempool.
    #[arg(long, env = "LUXTENSOR_MEMPOOL_LIMIT", default_value_t = 10_000)]
    pub mempool_limit: usize,
    /// Enables the control API; callers must send `authorization: Bearer <token>`. An empty
    /// token is refused (leave the flag out to serve no control API).
    #[arg(long, env = "LUXTENSOR_CONTROL_TOKEN")]
    pub control_token: Option<String>,
    /// How far (ms) a block timestamp may be ahead of local time.
    #[arg(long, env = "LUXTENSOR_MAX_FUTURE_DRIFT_MS", default_value_t = 15_000)]
    pub max_future_drift_ms: u64,
    /// Serve corrupt or slow sync data on purpose (testnets only).
    #[arg(long, env = "LUXTENSOR_MISBEHAVE", value_enum)]
    pub misbehave: Option<Misbehave>,
    /// How long a misbehaving peer stays banned.
    #[arg(long, env = "LUXTENSOR_BAN_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub ban_duration: std::time::Duration,
    /// Gap allowed between two messages of a peer's stream before it counts as stalled.
    #[arg(long, env = "LUXTENSOR_STALL_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub stall_timeout: std::time::Duration,
    /// Most gRPC connections open at once (lowered to half the open-file limit when that is
    /// smaller); further connections are closed with a logged warning.
    #[arg(long, env = "LUXTENSOR_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
    /// Free disk space (MiB) kept in reserve in the data directory: writes (blocks, bans) are
    /// refused with DISK_FULL below it, so RocksDB never runs out of space mid-write.
    #[arg(long, env = "LUXTENSOR_MIN_FREE_DISK_MIB", default_value_t = 256)]
    pub min_free_disk_mib: u64,
    /// A connection that sends nothing for this long after it was accepted is closed.
    #[arg(long, env = "LUXTENSOR_FIRST_BYTE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub first_byte_timeout: std::time::Duration,
    /// Do not ask peers for their peers (know only --peer entries and peers that contact us).
    #[arg(long, env = "LUXTENSOR_NO_PEER_EXCHANGE")]
    pub no_peer_exchange: bool,
    /// Serve Prometheus metrics on this address (`GET /metrics`); off when not given.
    #[arg(long, env = "LUXTENSOR_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, env = "LUXTENSOR_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "LUXTENSOR_LOG", default_value = "info")]
    pub log: String,
}

/// How the node writes its logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s).map_err(|e| e.to_string())
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a key pair into a JSON key file.
    Generate {
        /// Where to write the key file.
        #[arg(long, env = "LUXTENSOR_KEY_OUT")]
        out: PathBuf,
    },
}

/// `genesis` subcommands.
#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Write a genesis file.
    New(GenesisArgs),
}

/// `genesis new` flags.
#[derive(Debug, Args)]
pub struct GenesisArgs {
    /// Chain id.
    #[arg(long, env = "LUXTENSOR_CHAIN_ID", default_value_t = 7777)]
    pub chain_id: u64,
    /// Slot length in ms: each slot has one leader, chosen by stake.
    #[arg(long, env = "LUXTENSOR_SLOT_MS", default_value_t = 1000)]
    pub slot_ms: u64,
    /// Validator key files (their public keys are listed in this order), each optionally
    /// `=STAKE` (default 1), e.g. `a.json=2`.
    #[arg(
        long = "validator",
        env = "LUXTENSOR_GENESIS_VALIDATORS",
        value_delimiter = ',',
        required = true
    )]
    pub validators: Vec<String>,
    /// Funded accounts: key file paths or 0x addresses, each `=BALANCE`, e.g. `alice.json=1000`.
    #[arg(long = "fund", env = "LUXTENSOR_GENESIS_FUND", value_delimiter = ',')]
    pub fund: Vec<String>,
    /// Number of dev accounts (keys derived from public seeds) for generated transfers.
    #[arg(long, env = "LUXTENSOR_DEV_ACCOUNTS", default_value_t = 5)]
    pub dev_accounts: u32,
    /// Balance of each dev account.
    #[arg(long, env = "LUXTENSOR_DEV_BALANCE", default_value_t = 1_000_000_000)]
    pub dev_balance: u64,
    /// Genesis time in ms since the epoch (default: now).
    #[arg(long, env = "LUXTENSOR_GENESIS_TIME_MS")]
    pub genesis_time_ms: Option<u64>,
    /// Where to write the genesis file.
    #[arg(long, env = "LUXTENSOR_GENESIS_OUT")]
    pub out: PathBuf,
}

/// Where a client command connects.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Node gRPC endpoint.
    #[arg(long, env = "LUXTENSOR_NODE", default_value = "http://127.0.0.1:50051")]
    pub node: String,
    /// Output: text for people, or one JSON object for scripts.
    #[arg(long, env = "LUXTENSOR_OUTPUT", value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// How client commands print their answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned lines for people.
    Text,
    /// One pretty-printed JSON object.
    Json,
}

/// `block` flags.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Node to ask.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Block height (default: the head).
    #[arg(long, conflicts_with = "hash")]
    pub height: Option<u64>,
    /// Block hash (0x-hex).
    #[arg(long)]
    pub hash: Option<String>,
}

/// `account` flags.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Node to ask.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Account address (0x-hex, 20 bytes).
    pub address: String,
    /// Height to read at (default: the head).
    #[arg(long)]
    pub height: Option<u64>,
    /// Also fetch a Merkle proof and verify it against the block's state root.
    #[arg(long)]
    pub proof: bool,
}

/// `testnet` subcommands.
#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Drive the demo against three running nodes: A produces, B syncs, C joins late, all
    /// compared; then a live convergence table (unless --once).
    Run(TestnetArgs),
    /// The manifest runner's verify phase against any number of running nodes: waits until every
    /// node has finalized --min-height, then proves they hold the same blocks, state roots and
    /// accounts up to their common finalized height and that each re-verifies its chain (what the
    /// Kubernetes output's `verify` Job runs in-cluster). Exit status 1 when they do not.
    Verify(TestnetVerifyArgs),
}

/// `testnet verify` flags.
#[derive(Debug, Args)]
pub struct TestnetVerifyArgs {
    /// The nodes as NAME=ENDPOINT.
    #[arg(
        long,
        env = "LUXTENSOR_TESTNET_NODES",
        value_delimiter = ',',
        required = true
    )]
    pub nodes: Vec<String>,
    /// Height every node must have finalized.
    #[arg(long, env = "LUXTENSOR_TESTNET_MIN_HEIGHT", default_value_t = 1)]
    pub min_height: u64,
    /// Deadline.
    #[arg(long, env = "LUXTENSOR_TESTNET_TIMEOUT", default_value = "300s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

/// `testnet run` flags.
#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// The three nodes as NAME=ENDPOINT, validator first, then the follower, then the late joiner.
    #[arg(
        long,
        env = "LUXTENSOR_TESTNET_NODES",
        value_delimiter = ',',
        default_value = "node-a=http://127.0.0.1:50051,node-b=http://127.0.0.1:50052,node-c=http://127.0.0.1:50053"
    )]
    pub nodes: Vec<String>,
    /// Address the other nodes use to reach the validator (default: its endpoint's host:port).
    #[arg(long, env = "LUXTENSOR_TESTNET_PEER_ADDRESS")]
    pub peer_address: Option<String>,
    /// Control token of the nodes.
    #[arg(long, env = "LUXTENSOR_CONTROL_TOKEN")]
    pub control_token: String,
    /// Run the phases once and exit with their verdict.
    #[arg(long, env = "LUXTENSOR_TESTNET_ONCE")]
    pub once: bool,
    /// Live table refresh interval.
    #[arg(long, env = "LUXTENSOR_TESTNET_INTERVAL", default_value = "3s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Deadline for each waiting step.
    #[arg(long, env = "LUXTENSOR_TESTNET_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Serve the live dashboard (a web page) on this address, e.g. 127.0.0.1:8080.
    #[arg(long, env = "LUXTENSOR_TESTNET_DASHBOARD")]
    pub dashboard: Option<SocketAddr>,
}

/// `tx` subcommands.
#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// Sign a transfer with a key file or a dev account, submit it, and wait for its inclusion.
    Send(TxSendArgs),
    /// Print a canonical transaction and where it was included.
    Get(TxGetArgs),
}

/// `tx send` flags.
#[derive(Debug, Args)]
pub struct TxSendArgs {
    /// Node to send to.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Sender key file (JSON, as `keys generate` writes it).
    #[arg(long, env = "LUXTENSOR_TX_KEY", required_unless_present = "from_dev")]
    pub key: Option<PathBuf>,
    /// Sender: dev account INDEX of the node's chain (testnets only: dev keys are public).
    #[arg(long, env = "LUXTENSOR_TX_FROM_DEV", conflicts_with = "key")]
    pub from_dev: Option<u32>,
    /// Recipient address (0x-hex, 20 bytes).
    #[arg(long, env = "LUXTENSOR_TX_TO")]
    pub to: String,
    /// Amount to move.
    #[arg(long, env = "LUXTENSOR_TX_AMOUNT")]
    pub amount: u64,
    /// Fee for the block producer.
    #[arg(long, env = "LUXTENSOR_TX_FEE", default_value_t = 1)]
    pub fee: u64,
    /// Nonce (default: the sender's account nonce at the node's head).
    #[arg(long, env = "LUXTENSOR_TX_NONCE")]
    pub nonce: Option<u64>,
    /// How long to wait for inclusion in a canonical block (0: do not wait).
    #[arg(long, env = "LUXTENSOR_TX_WAIT", default_value = "60s", value_parser = parse_duration)]
    pub wait: std::time::Duration,
}

/// `tx get` flags.
#[derive(Debug, Args)]
pub struct TxGetArgs {
    /// Node to ask.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Transaction hash (0x-hex).
    pub hash: String,
}
