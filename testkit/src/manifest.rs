//! The testnet manifest: one TOML file describing a network (chain id, slot length, validator
//! keys and stakes, dev accounts), its nodes (role, peers, misbehaviour, production, host port,
//! the height it starts at), and what the runner does to it: perturbations at heights or drawn
//! from a seeded schedule, load, and assertions with deadlines. Every deployment file is
//! generated from it and the runner executes it. [`Manifest::parse`] refuses a manifest with a
//! mistake, naming the field: an unknown peer, two validators with one key file, a node named
//! twice, a stake on a full node, a misbehaviour the node does not know, a `start_at` below 0, a
//! perturbation of a node that does not exist. Field by field: `docs/TESTNETS.md`.

use std::collections::BTreeSet;
use std::time::Duration;

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
    /// Perturbations at fixed heights (`[[perturb]]` tables).
    #[serde(default)]
    pub perturb: Vec<Perturbation>,
    /// The network split into groups for a while (`[[partition]]` tables).
    #[serde(default)]
    pub partition: Vec<Partition>,
    /// A perturbation schedule drawn from a seed (`[random]`).
    pub random: Option<RandomFaults>,
    /// Signed transfers sent while the network runs (`[load]`).
    pub load: Option<Load>,
    /// Assertions with deadlines (`[[assert]]` tables); see [`Manifest::assertions`] for the
    /// defaults when there are none.
    #[serde(default, rename = "assert")]
    pub asserts: Vec<Assertion>,
    /// Runner timing (`[run]`).
    #[serde(default)]
    pub run: RunSettings,
}

/// What the runner does to a node.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// SIGKILL, then start again on the same volume after `slots`.
    Kill,
    /// Graceful stop (SIGTERM), then start again on the same volume after `slots`.
    Restart,
    /// Freeze every process of the node for `slots`.
    Pause,
    /// Cut the node off the network for `slots`, then reconnect it.
    Disconnect,
    /// Stop, remove the container, and create a new one (on `image` when given) on the same data
    /// volume: an upgrade in place.
    Upgrade,
}

impl Fault {
    /// Every fault, for schedules and docs.
    pub const ALL: [Fault; 5] = [
        Fault::Kill,
        Fault::Restart,
        Fault::Pause,
        Fault::Disconnect,
        Fault::Upgrade,
    ];

    /// The manifest's name of the fault.
    pub fn label(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Restart => "restart",
            Fault::Pause => "pause",
            Fault::Disconnect => "disconnect",
            Fault::Upgrade => "upgrade",
        }
    }

    /// Slots the fault lasts when the manifest does not say.
    pub fn default_slots(self) -> u32 {
        match self {
            Fault::Kill | Fault::Restart | Fault::Upgrade => 0,
            Fault::Pause | Fault::Disconnect => 10,
        }
    }
}

/// One perturbation: `kind` applied to `node` when the network's head reaches `at`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Perturbation {
    /// The node.
    pub node: String,
    /// Height of the highest node at which it is applied (1 or more).
    pub at: i64,
    /// What is done.
    pub kind: Fault,
    /// How long it lasts, in slots of the network (see [`Fault::default_slots`]).
    pub slots: Option<u32>,
    /// For `upgrade`: the image the node comes back on (default: the one it runs).
    pub image: Option<String>,
}

impl Perturbation {
    /// How long it lasts, in slots.
    pub fn slots(&self) -> u32 {
        self.slots.unwrap_or_else(|| self.kind.default_slots())
    }
}

/// A partition: from height `at`, for `slots` slots, the nodes of each group reach only each
/// other; nodes in no group form one more group. Then the network heals.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Height of the highest node at which it starts (1 or more).
    pub at: i64,
    /// How long it lasts, in slots (default 10).
    pub slots: Option<u32>,
    /// The groups, by node name.
    pub groups: Vec<Vec<String>>,
}

impl Partition {
    /// How long it lasts, in slots.
    pub fn slots(&self) -> u32 {
        self.slots.unwrap_or(10)
    }
}

/// A perturbation schedule drawn from a seed: every `interval` heights from `from` until
/// `until`, one of `kinds` on one of `nodes`, lasting 1 to `max_slots` slots. The runner prints
/// the seed; the same seed gives the same schedule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    /// The seed (override with `luxtensor-testnet run --seed`).
    pub seed: u64,
    /// Heights between two perturbations.
    pub interval: u64,
    /// First height.
    pub from: u64,
    /// No perturbation at or after this height.
    pub until: u64,
    /// Which faults (default: every one).
    #[serde(default)]
    pub kinds: Vec<Fault>,
    /// Which nodes (default: every node that is not a load target).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Longest pause or cut, in slots.
    #[serde(default = "default_max_slots")]
    pub max_slots: u32,
}

fn default_max_slots() -> u32 {
    10
}

/// Signed transfers from the dev accounts, `rate` per second, through the public submission
/// RPC of the `targets`, until the head reaches `until_height`; each must end up in exactly one
/// canonical block.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Transfers per second (1 to 1000).
    pub rate: u32,
    /// The load stops when the highest node reaches this height.
    pub until_height: u64,
    /// Nodes the transfers are sent to, each dev account always to the same one (default:
    /// every node that starts at 0 and is never perturbed).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Amount of each transfer.
    #[serde(default = "one")]
    pub amount: u64,
    /// Fee of each transfer.
    #[serde(default = "one")]
    pub fee: u64,
}

fn one() -> u64 {
    1
}

/// What an assertion checks.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// `nodes` (default: all) report height `at_least` or more within `within` of the start.
    Height,
    /// Within `within` after the last perturbation ended and the last node started, every node
    /// finalized the height the network had then, and all hold the same blocks, state roots and
    /// accounts up to their common finalized height, and each re-verifies its chain.
    Equal,
    /// Within `within` after the load stopped, every transfer it sent is in exactly one canonical
    /// block: none lost, none twice.
    LoadIncluded,
    /// No node's finalized height ever goes down (watched at every poll).
    Finality,
}

/// One assertion, zombienet style: "node-b: height is at least 40 within 120 seconds".
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    /// What is checked.
    pub check: Check,
    /// Nodes it is about (default: all).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// For `height`: the height.
    pub at_least: Option<u64>,
    /// The deadline (humantime, e.g. `90s`); `finality` has none.
    pub within: Option<String>,
}

impl Assertion {
    /// The deadline.
    pub fn deadline(&self) -> Duration {
        self.within
            .as_deref()
            .and_then(|w| humantime::parse_duration(w).ok())
            .unwrap_or(Duration::from_secs(120))
    }
}

/// Runner timing.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Deadline for a node to answer after it is started (humantime).
    #[serde(default = "default_start_timeout")]
    pub start_timeout: String,
    /// Live table interval (humantime).
    #[serde(default = "default_interval")]
    pub table_interval: String,
    /// Deadline for the whole run (humantime); a run is also bounded by its assertions.
    #[serde(default = "default_run_timeout")]
    pub timeout: String,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            start_timeout: default_start_timeout(),
            table_interval: default_interval(),
            timeout: default_run_timeout(),
        }
    }
}

fn default_start_timeout() -> String {
    "120s".into()
}

fn default_run_timeout() -> String {
    "15m".into()
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
    /// Where the compose target writes (relative to the repository root; default
    /// `deploy/compose/<name>.yml`).
    pub compose_file: Option<String>,
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

/// Misbehaviour modes of `luxtensor run --misbehave` (a test in the testnet crate checks this
/// list against the node's).
pub const MISBEHAVIOURS: &[&str] = &[
    "bad-signature",
    "broken-link",
    "tampered-tx",
    "wrong-state-root",
    "withhold",
    "stall",
    "drip",
    "equivocate",
];

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
    /// The runner starts it when the highest node reaches this height (0: at the start): a late
    /// joiner.
    #[serde(default)]
    pub start_at: i64,
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
            if node.start_at < 0 {
                return Err(field(
                    at("start_at"),
                    format!(
                        "{} is below 0: a height, 0 to start with the network",
                        node.start_at
                    ),
                ));
            }
            if let Some(m) = &node.misbehave
                && !MISBEHAVIOURS.contains(&m.as_str())
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
        self.check_run(&names)
    }

    /// The runner's part: perturbations, the random schedule, load, assertions, timing.
    fn check_run(&self, names: &BTreeSet<&str>) -> Result<(), ManifestError> {
        let known = |f: String, name: &str| -> Result<(), ManifestError> {
            if names.contains(name) {
                Ok(())
            } else {
                Err(field(f, format!("no node is named {name:?}")))
            }
        };
        for (i, p) in self.perturb.iter().enumerate() {
            let at = |key: &str| format!("perturb[{i}].{key}");
            known(at("node"), &p.node)?;
            if p.at < 1 {
                return Err(field(at("at"), format!("{} is below 1: a height", p.at)));
            }
            if p.image.is_some() && p.kind != Fault::Upgrade {
                return Err(field(at("image"), "only an upgrade takes an image"));
            }
            if p.slots() > 10_000 {
                return Err(field(at("slots"), "at most 10000"));
            }
        }
        for (i, p) in self.partition.iter().enumerate() {
            let at = |key: &str| format!("partition[{i}].{key}");
            if p.at < 1 {
                return Err(field(at("at"), format!("{} is below 1: a height", p.at)));
            }
            if p.slots() == 0 || p.slots() > 10_000 {
                return Err(field(at("slots"), "must be 1 to 10000"));
            }
            let mut seen = BTreeSet::new();
            for g in &p.groups {
                if g.is_empty() {
                    return Err(field(at("groups"), "a group is empty"));
                }
                for name in g {
                    known(at("groups"), name)?;
                    if !seen.insert(name.as_str()) {
                        return Err(field(at("groups"), format!("{name:?} is in two groups")));
                    }
                }
            }
            let rest = names.len() - seen.len();
            if p.groups.is_empty() || (p.groups.len() == 1 && rest == 0) {
                return Err(field(
                    at("groups"),
                    "a partition needs two sides: two groups, or one group and nodes outside it",
                ));
            }
        }
        if let Some(r) = &self.random {
            if r.interval == 0 {
                return Err(field("random.interval", "must be 1 or more (heights)"));
            }
            if r.from == 0 || r.until <= r.from {
                return Err(field(
                    "random.until",
                    "the schedule runs from `from` (1 or more) to a higher `until`",
                ));
            }
            if r.max_slots == 0 || r.max_slots > 10_000 {
                return Err(field("random.max_slots", "must be 1 to 10000"));
            }
            for name in &r.nodes {
                known("random.nodes".into(), name)?;
            }
        }
        if let Some(load) = &self.load {
            if load.rate == 0 || load.rate > 1000 {
                return Err(field("load.rate", "must be 1 to 1000 transfers per second"));
            }
            if self.network.dev_accounts == 0 {
                return Err(field(
                    "load",
                    "the load signs with dev accounts: network.dev_accounts is 0",
                ));
            }
            for name in &load.targets {
                known("load.targets".into(), name)?;
            }
            if let Some(n) = self.nodes.iter().find(|n| n.slot_transfers > 0) {
                return Err(field(
                    format!("node.{}.slot_transfers", n.name),
                    "the load signs with the same dev accounts: use one or the other",
                ));
            }
            if self.load_targets().is_empty() {
                return Err(field(
                    "load.targets",
                    "every node starts late or is perturbed: name the nodes the load goes to",
                ));
            }
        }
        for (i, a) in self.asserts.iter().enumerate() {
            let at = |key: &str| format!("assert[{i}].{key}");
            for name in &a.nodes {
                known(at("nodes"), name)?;
            }
            match (a.check, a.at_least) {
                (Check::Height, None) => {
                    return Err(field(at("at_least"), "a height check needs a height"));
                }
                (Check::Height, Some(_)) | (_, None) => {}
                (_, Some(_)) => {
                    return Err(field(at("at_least"), "only a height check takes a height"));
                }
            }
            if a.check == Check::LoadIncluded && self.load.is_none() {
                return Err(field(at("check"), "load-included needs a [load]"));
            }
            match (&a.within, a.check) {
                (Some(_), Check::Finality) => {
                    return Err(field(
                        at("within"),
                        "finality is watched for the whole run: no deadline",
                    ));
                }
                (Some(w), _) => {
                    humantime::parse_duration(w).map_err(|e| field(at("within"), e.to_string()))?;
                }
                (None, Check::Finality) => {}
                (None, _) => return Err(field(at("within"), "a deadline is needed, e.g. \"90s\"")),
            }
        }
        for (key, value) in [
            ("run.start_timeout", &self.run.start_timeout),
            ("run.table_interval", &self.run.table_interval),
            ("run.timeout", &self.run.timeout),
        ] {
            humantime::parse_duration(value).map_err(|e| field(key, e.to_string()))?;
        }
        Ok(())
    }

    /// The slot length.
    pub fn slot(&self) -> Duration {
        Duration::from_millis(self.network.slot_ms)
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Where the compose target writes.
    pub fn compose_path(&self) -> String {
        self.network
            .compose_file
            .clone()
            .unwrap_or_else(|| format!("deploy/compose/{}.yml", self.network.name))
    }

    /// Nodes the load goes to: `load.targets`, or every node that starts at 0 and is never
    /// perturbed (neither in `[[perturb]]` nor among the random schedule's nodes).
    pub fn load_targets(&self) -> Vec<String> {
        if let Some(load) = &self.load
            && !load.targets.is_empty()
        {
            return load.targets.clone();
        }
        let random = self.random.as_ref();
        self.nodes
            .iter()
            .filter(|n| n.start_at == 0)
            .filter(|n| !self.perturb.iter().any(|p| p.node == n.name))
            .filter(|n| !random.is_some_and(|r| r.nodes.contains(&n.name)))
            .map(|n| n.name.clone())
            .collect()
    }

    /// The assertions the runner checks: the `[[assert]]` tables, or when there are none, every
    /// node equal within 120 s, finality never reverting, and (with a load) every transfer
    /// included within 120 s.
    pub fn assertions(&self) -> Vec<Assertion> {
        if !self.asserts.is_empty() {
            return self.asserts.clone();
        }
        let mut out = vec![
            Assertion {
                check: Check::Equal,
                nodes: Vec::new(),
                at_least: None,
                within: Some("120s".into()),
            },
            Assertion {
                check: Check::Finality,
                nodes: Vec::new(),
                at_least: None,
                within: None,
            },
        ];
        if self.load.is_some() {
            out.push(Assertion {
                check: Check::LoadIncluded,
                nodes: Vec::new(),
                at_least: None,
                within: Some("120s".into()),
            });
        }
        out
    }

    /// A run-setting duration (checked by [`Manifest::parse`]).
    pub fn duration(value: &str) -> Duration {
        humantime::parse_duration(value).unwrap_or(Duration::from_secs(120))
    }
}

impl NodeSpec {
    /// `luxtensor run …` arguments for this node: `files` is where the network's files are
    /// mounted, `advertise` the address others reach it at, `peer` the address of a peer by name.
    /// The genesis, control token and log settings come from the environment.
    pub fn run_args(
        &self,
        files: &str,
        advertise: &str,
        peer: impl Fn(&str) -> String,
    ) -> Vec<String> {
        let mut cmd = vec!["run".to_string()];
        if let Some(key) = self.key_file() {
            cmd.extend(["--validator-key".into(), format!("{files}/{key}")]);
        }
        cmd.extend(["--advertise".into(), advertise.to_string()]);
        for p in &self.peers {
            cmd.extend(["--peer".into(), peer(p)]);
        }
        if !self.peer_exchange {
            cmd.push("--no-peer-exchange".into());
        }
        if let Some(m) = &self.misbehave {
            cmd.extend(["--misbehave".into(), m.clone()]);
        }
        if self.slot_transfers > 0 && self.role == Role::Validator {
            cmd.extend(["--slot-transfers".into(), self.slot_transfers.to_string()]);
        }
        if self.paused && self.role == Role::Validator {
            cmd.push("--paused".into());
        }
        cmd
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
        let e = refused(&BASE.replace(r#"peers = ["a"]"#, "start_at = -1"));
        assert!(
            e.contains("node.b.start_at") && e.contains("below 0"),
            "{e}"
        );
        let e = refused(&format!(
            "{BASE}\n[[perturb]]\nnode = \"ghost\"\nat = 5\nkind = \"kill\"\n"
        ));
        assert!(e.contains("perturb[0].node") && e.contains("ghost"), "{e}");
        let e = refused(&format!(
            "{BASE}\n[[perturb]]\nnode = \"b\"\nat = 5\nkind = \"melt\"\n"
        ));
        assert!(e.contains("kind") && e.contains("melt"), "{e}");
        let e = refused(&format!(
            "{BASE}\n[[assert]]\ncheck = \"height\"\nwithin = \"10s\"\n"
        ));
        assert!(e.contains("assert[0].at_least"), "{e}");
        let e = refused(&format!(
            "{BASE}\n[load]\nrate = 5\nuntil_height = 9\ntargets = [\"zed\"]\n"
        ));
        assert!(e.contains("load.targets") && e.contains("zed"), "{e}");
        let e = refused(&format!(
            "{BASE}\n[[partition]]\nat = 5\ngroups = [[\"a\"], [\"b\", \"a\"]]\n"
        ));
        assert!(
            e.contains("partition[0].groups") && e.contains("two groups"),
            "{e}"
        );
        let e = refused(&format!(
            "{BASE}\n[[partition]]\nat = 5\ngroups = [[\"a\", \"b\"]]\n"
        ));
        assert!(e.contains("two sides"), "{e}");
        assert!(
            Manifest::parse(&format!(
                "{BASE}\n[[partition]]\nat = 5\nslots = 4\ngroups = [[\"a\"]]\n"
            ))
            .is_ok()
        );
    }

    #[test]
    fn load_targets_default_to_steady_nodes() {
        let m = Manifest::parse(&format!(
            "{BASE}\n[[node]]\nname = \"c\"\nrole = \"full\"\nstart_at = 4\n\
             [[perturb]]\nnode = \"b\"\nat = 3\nkind = \"pause\"\n\
             [load]\nrate = 2\nuntil_height = 10\n"
        ))
        .unwrap();
        assert_eq!(m.load_targets(), vec!["a".to_string()]);
        assert_eq!(m.perturb[0].slots(), 10);
        let checks: Vec<Check> = m.assertions().iter().map(|a| a.check).collect();
        assert_eq!(checks, [Check::Equal, Check::Finality, Check::LoadIncluded]);
        assert_eq!(m.compose_path(), "deploy/compose/t.yml");
    }
}
