//! Node configuration and the files it reads: the genesis JSON and validator key files. This is the
//! only place that turns paths into domain values; the rest of the node receives parsed values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chain::crypto::Keypair;
use crate::chain::types::{parse_hex, to_hex};
use crate::chain::{Genesis, GenesisError};
use crate::rpc::connections::ConnectionLimits;
use crate::sync::Misbehave;
use crate::sync::engine::SyncConfig;
use crate::sync::grpc::GrpcTimeouts;

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The genesis file is invalid.
    #[error("{path}: {error}")]
    Genesis {
        /// Which file.
        path: PathBuf,
        /// Why.
        error: GenesisError,
    },
    /// The key file is invalid.
    #[error("{path}: invalid key file: {detail}")]
    Key {
        /// Which file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A setting outside the range the node supports.
    #[error("{field} is {value}; allowed: {allowed}")]
    OutOfRange {
        /// Which setting (its flag name).
        field: &'static str,
        /// Given.
        value: String,
        /// What is accepted.
        allowed: &'static str,
    },
    /// A duration that does not parse.
    #[error("invalid duration {given:?} ({detail}): use e.g. 0, 250ms, 2s or 1m")]
    Duration {
        /// What was given.
        given: String,
        /// The parser's complaint.
        detail: String,
    },
}

/// A validator key file (JSON). The secret is the 32-byte ed25519 seed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// 0x-hex public key.
    pub public_key: String,
    /// Address derived from the public key.
    pub address: String,
    /// 0x-hex secret seed.
    pub secret_key: String,
}

impl KeyFile {
    /// The file contents for a key pair.
    pub fn from_keypair(kp: &Keypair) -> Self {
        Self {
            public_key: kp.public().to_string(),
            address: kp.public().address().to_string(),
            secret_key: to_hex(&kp.seed()),
        }
    }
}

/// Reads a key file and checks that its public key matches its secret.
pub fn read_key(path: &Path) -> Result<Keypair, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
        path: path.into(),
        error,
    })?;
    let bad = |detail: String| ConfigError::Key {
        path: path.into(),
        detail,
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let seed = parse_hex::<32>("secret_key", &file.secret_key).map_err(|e| bad(e.to_string()))?;
    let kp = Keypair::from_seed(seed);
    if kp.public().to_string() != file.public_key.to_lowercase() {
        return Err(bad("public_key does not belong to secret_key".into()));
    }
    Ok(kp)
}

/// Writes a key file readable only by its owner.
pub fn write_key(path: &Path, kp: &Keypair) -> Result<(), ConfigError> {
    let text =
        serde_json::to_string_pretty(&KeyFile::from_keypair(kp)).expect("key file serializes");
    write_private(path, &text)
}

fn write_private(path: &Path, text: &str) -> Result<(), ConfigError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let io = |error| ConfigError::Io {
        path: path.into(),
        error,
    };
    let mut f = options.open(path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)
}

/// Reads and checks a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
        path: path.into(),
        error,
    })?;
    let genesis = Genesis::from_json(&text).map_err(|error| ConfigError::Genesis {
        path: path.into(),
        error,
    })?;
    genesis.spec().map_err(|error| ConfigError::Genesis {
        path: path.into(),
        error,
    })?;
    Ok(genesis)
}

/// Parses a duration in humantime syntax (`0`, `250ms`, `2s`, `1m 30s`, `1h`).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s.trim()).map_err(|e| ConfigError::Duration {
        given: s.to_string(),
        detail: e.to_string(),
    })
}

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// RocksDB directory.
    pub data_dir: PathBuf,
    /// gRPC listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// Address peers use to reach us (host:port); empty when unknown. Defaults to the bound
    /// address when listening on a specific IP.
    pub advertise: Option<String>,
    /// The network.
    pub genesis: Genesis,
    /// Validator key; absent for followers.
    pub validator_key: Option<Keypair>,
    /// Bootstrap peers (host:port).
    pub peers: Vec<String>,
    /// Start with slot production paused (on-demand production only until resumed).
    pub paused: bool,
    /// Generated dev transfers in each slot block.
    pub slot_transfers: u32,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// Mempool bound.
    pub mempool_limit: usize,
    /// Enables the control API with this token.
    pub control_token: Option<String>,
    /// Allowed clock drift for block timestamps (ms).
    pub max_future_drift_ms: u64,
    /// Serve corrupt sync data (testnets only).
    pub misbehave: Option<Misbehave>,
    /// Sync tuning.
    pub sync: SyncConfig,
    /// gRPC peer timeouts.
    pub timeouts: GrpcTimeouts,
    /// How long a misbehaving peer stays banned (doubling for each repeated ban).
    pub ban_duration: Duration,
    /// Connection, stream and time limits of the gRPC server.
    pub limits: ConnectionLimits,
    /// Free disk space (MiB) kept in reserve: writes are refused below it.
    pub min_free_disk_mib: u64,
    /// Where to serve Prometheus metrics (`/metrics`); none: not served.
    pub metrics_listen: Option<SocketAddr>,
}

impl NodeConfig {
    /// Defaults for everything but the data dir, listen address and genesis.
    pub fn new(data_dir: PathBuf, listen: SocketAddr, genesis: Genesis) -> Self {
        Self {
            data_dir,
            listen,
            advertise: None,
            genesis,
            validator_key: None,
            peers: Vec::new(),
            paused: false,
            slot_transfers: 0,
            max_block_txs: 1000,
            mempool_limit: 10_000,
            control_token: None,
            max_future_drift_ms: 15_000,
            misbehave: None,
            sync: SyncConfig::default(),
            timeouts: GrpcTimeouts::default(),
            ban_duration: Duration::from_secs(60),
            limits: ConnectionLimits::default(),
            min_free_disk_mib: 256,
            metrics_listen: None,
        }
    }

    /// Refuses every setting outside what the node supports, naming it: no later arithmetic
    /// can overflow or allocate without bound, and an empty control token is not silently taken
    /// for "no Control".
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn within<T: PartialOrd + std::fmt::Debug>(
            field: &'static str,
            value: T,
            min: T,
            max: T,
            allowed: &'static str,
        ) -> Result<(), ConfigError> {
            if value < min || value > max {
                return Err(ConfigError::OutOfRange {
                    field,
                    value: format!("{value:?}"),
                    allowed,
                });
            }
            Ok(())
        }
        const DAY: Duration = Duration::from_secs(86_400);
        within(
            "--slot-transfers",
            self.slot_transfers,
            0,
            1000,
            "0 to 1000",
        )?;
        within(
            "--max-block-txs",
            self.max_block_txs,
            1,
            100_000,
            "1 to 100000",
        )?;
        within(
            "--mempool-limit",
            self.mempool_limit,
            1,
            1_000_000,
            "1 to 1000000",
        )?;
        within(
            "--max-future-drift-ms",
            self.max_future_drift_ms,
            0,
            86_400_000,
            "0 to 86400000 (one day)",
        )?;
        within(
            "--ban-duration",
            self.ban_duration,
            Duration::ZERO,
            30 * DAY,
            "0 to 30 days",
        )?;
        within(
            "--stall-timeout",
            self.timeouts.stall,
            Duration::from_millis(10),
            Duration::from_secs(600),
            "10ms to 10m",
        )?;
        within(
            "request timeout",
            self.timeouts.request,
            Duration::from_millis(100),
            Duration::from_secs(600),
            "100ms to 10m",
        )?;
        within(
            "--max-connections",
            self.limits.max_connections,
            1,
            65_536,
            "1 to 65536",
        )?;
        within(
            "--first-byte-timeout",
            self.limits.first_byte_timeout,
            Duration::from_millis(100),
            Duration::from_secs(600),
            "100ms to 10m",
        )?;
        within(
            "--min-free-disk-mib",
            self.min_free_disk_mib,
            0,
            1 << 30,
            "0 to 1073741824 (MiB)",
        )?;
        if self.peers.len() > 1_000 {
            return Err(ConfigError::OutOfRange {
                field: "--peer",
                value: format!("{} addresses", self.peers.len()),
                allowed: "at most 1000 addresses",
            });
        }
        if self.control_token.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::OutOfRange {
                field: "--control-token",
                value: "an empty token".into(),
                allowed: "a non-empty token, or no flag at all to serve no control API",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let genesis = Genesis {
            chain_id: 1,
            genesis_time_ms: 0,
            slot_ms: 1,
            validators: vec![crate::chain::genesis::GenesisValidator::Key(
                Keypair::from_seed([1; 32]).public().to_string(),
            )],
            accounts: vec![],
            dev_accounts: 0,
        };
        let base = NodeConfig::new("data".into(), "127.0.0.1:0".parse().unwrap(), genesis);
        assert!(base.validate().is_ok());
        let refused = |f: &dyn Fn(&mut NodeConfig)| {
            let mut c = base.clone();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(
            refused(&|c| c.ban_duration = Duration::from_secs(u64::MAX)).contains("--ban-duration")
        );
        assert!(refused(&|c| c.control_token = Some(String::new())).contains("--control-token"));
        assert!(refused(&|c| c.max_block_txs = 0).contains("--max-block-txs"));
        assert!(refused(&|c| c.mempool_limit = usize::MAX).contains("--mempool-limit"));
        assert!(refused(&|c| c.timeouts.stall = Duration::ZERO).contains("--stall-timeout"));
        assert!(refused(&|c| c.max_future_drift_ms = u64::MAX).contains("--max-future-drift-ms"));
        assert!(refused(&|c| c.limits.max_connections = 0).contains("--max-connections"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("100").is_err(), "a unit is required");
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn key_files_roundtrip_and_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let kp = Keypair::from_seed([9; 32]);
        write_key(&path, &kp).unwrap();
        assert_eq!(read_key(&path).unwrap().public(), kp.public());
        let mut file: KeyFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        file.public_key = Keypair::from_seed([8; 32]).public().to_string();
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        assert!(
            read_key(&path)
                .unwrap_err()
                .to_string()
                .contains("does not belong")
        );
    }
}
