//! The testnet manifest: one TOML file describing a network (chain id, slot length, validator
//! keys and stakes, dev accounts) and its nodes (role, peers, misbehaviour, production, host
//! port), from which every deployment file is generated. [`Manifest::parse`] refuses a manifest
//! with a mistake, naming the field: an unknown peer, two validators with one key file, a node
//! named twice, a stake on a full node, a misbehaviour the node does not know.

use std::collections::BTreeSet;

use clap::ValueEnum;
use serde::Deserialize;

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML of the expected shape (the message names the key).
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A field with a value that cannot be used.
    #[error("{field}: {problem}")]
    Field {
        /// Which field (`node.<name>.<key>` for a node's).
        field: String,
        /// What is wrong.
        problem: String,
    },
}

fn field(field: impl Into<String>, problem: impl Into<String>) -> ManifestError {
    ManifestError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The whole manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The network.
    pub network: Network,
    /// The seed-demo driver service, when the compose output should have one.
    pub demo: Option<Demo>,
    /// The nodes, in order (`[[node]]` tables).
    #[serde(rename = "node")]
    pub nodes: Vec<NodeSpec>,
}

/// The chain every node runs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// A name for the network (compose comments, stack and namespace names).
    pub name: String,
    /// What the network is for; written as a comment at the top of generated files.
    #[serde(default)]
    pub description: String,
    /// Chain id.
    pub chain_id: u64,
    /// Slot length (ms).
    pub slot_ms: u64,
    /// Genesis time (ms since the Unix epoch); fixed, so that generation is reproducible.
    pub genesis_time_ms: u64,
    /// Keys of validators without a `key` file are derived from this seed and the node's name.
    pub key_seed: String,
    /// Dev accounts funded at genesis.
    #[serde(default = "default_dev_accounts")]
    pub dev_accounts: u32,
    /// Balance of each dev account.
    #[serde(default = "default_dev_balance")]
    pub dev_balance: u64,
    /// Control token of every node (testnets only: it is written into the deployment files).
    #[serde(default = "default_token")]
    pub control_token: String,
    /// Directory (relative to the repository root) for the genesis and key files the nodes mount.
    pub files: String,
}

fn default_dev_accounts() -> u32 {
    5
}

fn default_dev_balance() -> u64 {
    1_000_000_000
}

fn default_token() -> String {
    "testnet-token".into()
}

fn yes() -> bool {
    true
}

/// The seed-demo driver (`luxtensor testnet run`) as a compose service named `testnet`: the
/// first node is the validator, the second the follower, the third the late joiner.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// Live table refresh interval (humantime, e.g. `3s`).
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Host port of the live dashboard (the driver serves it on 8080 inside its container);
    /// none when absent.
    pub dashboard_port: Option<u16>,
}

fn default_interval() -> String {
    "3s".into()
}

/// What a node is.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Listed in genesis; produces in the slots it leads.
    Validator,
    /// Follows the chain.
    Full,
}

/// One node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Name: its host name on the network, `[a-z][a-z0-9-]*`.
    pub name: String,
    /// Validator or full node.
    pub role: Role,
    /// Stake weight (validators only; default 1).
    pub stake: Option<u64>,
    /// A key file in `network.files` to use instead of a derived key (validators only).
    pub key: Option<String>,
    /// Start with slot production paused (blocks only on demand until resumed).
    #[serde(default)]
    pub paused: bool,
    /// Bootstrap peers, by node name.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Ask peers for their peers.
    #[serde(default = "yes")]
    pub peer_exchange: bool,
    /// Serve corrupt or slow sync data (`luxtensor run --misbehave`).
    pub misbehave: Option<String>,
    /// Generated dev transfers in each block it produces in its slots.
    #[serde(default)]
    pub slot_transfers: u32,
    /// Port published on the host (compose), none when absent.
    pub host_port: Option<u16>,
    /// Host port of the node's Prometheus metrics (compose; 9100 inside), none when absent.
    pub metrics_port: Option<u16>,
}

impl NodeSpec {
    /// The key file name of a validator inside `network.files`.
    pub fn key_file(&self) -> Option<String> {
        (self.role == Role::Validator).then(|| {
            self.key
                .clone()
                .unwrap_or_else(|| format!("{}.key.json", self.name))
        })
    }
}

impl Manifest {
    /// Parses and checks a manifest.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let m: Manifest = toml::from_str(text)?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), ManifestError> {
        let n = &self.network;
        if !valid_name(&n.name) {
            return Err(field(
                "network.name",
                "use [a-z][a-z0-9-]*, at most 40 characters",
            ));
        }
        if n.slot_ms == 0 || n.slot_ms > 3_600_000 {
            return Err(field("network.slot_ms", "must be 1 to 3600000"));
        }
        if n.control_token.is_empty() {
            return Err(field("network.control_token", "must not be empty"));
        }
        if n.files.is_empty() || n.files.starts_with('/') || n.files.contains("..") {
            return Err(field(
                "network.files",
                "a directory inside the repository, e.g. deploy/testnet",
            ));
        }
        if self.nodes.is_empty() {
            return Err(field("node", "the manifest has no [[node]]"));
        }
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut ports = BTreeSet::new();
        for node in &self.nodes {
            let at = |key: &str| format!("node.{}.{key}", node.name);
            if !valid_name(&node.name) {
                return Err(field(
                    format!("node.{}.name", node.name),
                    "use [a-z][a-z0-9-]*, at most 40 characters",
                ));
            }
            if !names.insert(node.name.as_str()) {
                return Err(field(at("name"), "two nodes have this name"));
            }
            match node.role {
                Role::Full => {
                    if node.stake.is_some() || node.key.is_some() {
                        return Err(field(
                            at(if node.stake.is_some() { "stake" } else { "key" }),
                            "only a validator has a stake or a key",
                        ));
                    }
                }
                Role::Validator => {
                    if node.stake == Some(0) || node.stake.is_some_and(|s| s > 10_000) {
                        return Err(field(at("stake"), "must be 1 to 10000"));
                    }
                    let key = node.key_file().expect("a validator has a key file");
                    if !keys.insert(key.clone()) {
                        return Err(field(
                            at("key"),
                            format!("{key} is the key of another validator too"),
                        ));
                    }
                }
            }
            if let Some(m) = &node.misbehave
                && node::sync::Misbehave::from_str(m, false).is_err()
            {
                return Err(field(
                    at("misbehave"),
                    format!("unknown mode {m:?} (see `luxtensor run --help`)"),
                ));
            }
            if let Some(p) = node.host_port
                && (p == 0 || !ports.insert(p))
            {
                return Err(field(at("host_port"), format!("port {p} is 0 or taken")));
            }
            if let Some(p) = node.metrics_port
                && (p == 0 || !ports.insert(p))
            {
                return Err(field(at("metrics_port"), format!("port {p} is 0 or taken")));
            }
        }
        for node in &self.nodes {
            for peer in &node.peers {
                if !names.contains(peer.as_str()) {
                    return Err(field(
                        format!("node.{}.peers", node.name),
                        format!("no node is named {peer:?}"),
                    ));
                }
                if peer == &node.name {
                    return Err(field(
                        format!("node.{}.peers", node.name),
                        "a node cannot be its own peer",
                    ));
                }
            }
        }
        if !self.nodes.iter().any(|n| n.role == Role::Validator) {
            return Err(field("node", "at least one node must be a validator"));
        }
        if let Some(demo) = &self.demo {
            if let Some(p) = demo.dashboard_port
                && (p == 0 || ports.contains(&p))
            {
                return Err(field(
                    "demo.dashboard_port",
                    format!("port {p} is 0 or taken"),
                ));
            }
            if self.nodes.len() != 3 {
                return Err(field(
                    "demo",
                    "the seed demo drives exactly three nodes (validator, follower, late joiner)",
                ));
            }
            humantime::parse_duration(&demo.interval)
                .map_err(|e| field("demo.interval", e.to_string()))?;
        }
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[network]
name = "t"
chain_id = 1
slot_ms = 500
genesis_time_ms = 0
key_seed = "s"
files = "out"

[[node]]
name = "a"
role = "validator"

[[node]]
name = "b"
role = "full"
peers = ["a"]
"#;

    fn refused(text: &str) -> String {
        Manifest::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn mistakes_are_refused_naming_the_field() {
        assert!(Manifest::parse(BASE).is_ok());
        let e = refused(&BASE.replace(r#"peers = ["a"]"#, r#"peers = ["nobody"]"#));
        assert!(e.contains("node.b.peers") && e.contains("nobody"), "{e}");
        let e = refused(&BASE.replace(
            r#"role = "full""#,
            "role = \"validator\"\nkey = \"a.key.json\"",
        ));
        assert!(
            e.contains("node.b.key") && e.contains("another validator"),
            "{e}"
        );
        let e = refused(&BASE.replace("name = \"b\"", "name = \"a\""));
        assert!(e.contains("node.a.name"), "{e}");
        let e = refused(&BASE.replace(r#"peers = ["a"]"#, "stake = 2"));
        assert!(e.contains("node.b.stake"), "{e}");
        let e = refused(&BASE.replace(r#"peers = ["a"]"#, "misbehave = \"lie\""));
        assert!(e.contains("node.b.misbehave"), "{e}");
        let e = refused(&BASE.replace("slot_ms = 500", "slot_ms = 0"));
        assert!(e.contains("network.slot_ms"), "{e}");
        let e = refused(&format!("{BASE}\n[demo]\n"));
        assert!(e.contains("demo") && e.contains("three"), "{e}");
    }
}
