//! The LuxTensor node image as a testcontainers module.

use std::borrow::Cow;

use testcontainers::Image;
use testcontainers::core::{ContainerPort, Mount, WaitFor};

/// Image name (override the whole reference with `LUXTENSOR_E2E_IMAGE=name:tag`).
pub const NAME: &str = "luxtensor-node";
/// Image tag built from the top-level Dockerfile.
pub const TAG: &str = "dev";
/// gRPC port inside the container.
pub const GRPC_PORT: ContainerPort = ContainerPort::Tcp(50051);
/// Where the testnet files (genesis, validator key) are mounted.
pub const CONFIG_DIR: &str = "/etc/luxtensor";
/// Control token every e2e node is started with.
pub const CONTROL_TOKEN: &str = "e2e-token";
/// The single-validator genesis with 10 ms slots (blocks on demand as fast as they are made).
pub const FAST_GENESIS: &str = "genesis-fast.json";
/// The compose testnet's genesis: node-a (stake 2), node-b and node-c, 500 ms slots.
pub const LIVING_GENESIS: &str = "genesis.json";
/// Label on every container this crate starts, for cleaning up after killed runs.
pub const LABEL: &str = "io.luxtensor.e2e";

/// The node image and the `luxtensor run` command line it starts with.
#[derive(Debug, Clone)]
pub struct LuxtensorNode {
    name: String,
    tag: String,
    advertise: String,
    genesis: String,
    key: Option<String>,
    producing: bool,
    misbehave: Option<String>,
    peers: Vec<String>,
    no_peer_exchange: bool,
    mounts: Vec<Mount>,
    args: Vec<String>,
    run_args: Option<Vec<String>>,
}

impl LuxtensorNode {
    /// A node reachable by others as `advertise` (host:port on the cluster network), with the
    /// testnet files from `config_dir` on the host, on [`FAST_GENESIS`], slot production paused.
    pub fn new(image: (&str, &str), advertise: &str, config_dir: &str) -> Self {
        Self {
            name: image.0.to_string(),
            tag: image.1.to_string(),
            advertise: advertise.to_string(),
            genesis: FAST_GENESIS.to_string(),
            key: None,
            producing: false,
            misbehave: None,
            peers: Vec::new(),
            no_peer_exchange: false,
            mounts: vec![
                Mount::bind_mount(config_dir, CONFIG_DIR)
                    .with_access_mode(testcontainers::core::AccessMode::ReadOnly),
            ],
            args: Vec::new(),
            run_args: None,
        }
    }

    /// A node of a testnet manifest: `run_args` is its `luxtensor run …` line from the manifest
    /// (genesis and control token are added), its data on the named volume `data_volume` (so that
    /// an upgrade in place finds it again).
    pub fn from_manifest(mut self, run_args: Vec<String>, data_volume: &str) -> Self {
        self.run_args = Some(run_args);
        self.mounts
            .push(Mount::volume_mount(data_volume, "/var/lib/luxtensor/data"));
        self
    }

    /// Runs with the testnet validator key `name` (`node-a`, `node-b`, `node-c`).
    pub fn with_validator_key(mut self, name: &str) -> Self {
        self.key = Some(name.to_string());
        self
    }

    /// Runs on another genesis file of the config dir (e.g. [`LIVING_GENESIS`]).
    pub fn with_genesis(mut self, file: &str) -> Self {
        self.genesis = file.to_string();
        self
    }

    /// Produces on its own in its slots (otherwise only on demand).
    pub fn producing(mut self) -> Self {
        self.producing = true;
        self
    }

    /// Serves corrupt sync data (`luxtensor run --misbehave MODE`).
    pub fn with_misbehave(mut self, mode: &str) -> Self {
        self.misbehave = Some(mode.to_string());
        self
    }

    /// A bootstrap peer (host:port).
    pub fn with_peer(mut self, peer: &str) -> Self {
        self.peers.push(peer.to_string());
        self
    }

    /// No peer exchange.
    pub fn without_peer_exchange(mut self) -> Self {
        self.no_peer_exchange = true;
        self
    }

    /// The full `luxtensor` argument list.
    pub fn command(&self) -> Vec<String> {
        if let Some(args) = &self.run_args {
            let mut cmd = args.clone();
            cmd.extend([
                "--genesis".into(),
                format!("{CONFIG_DIR}/{LIVING_GENESIS}"),
                "--control-token".into(),
                CONTROL_TOKEN.into(),
            ]);
            return cmd;
        }
        let mut cmd: Vec<String> = [
            "run",
            "--genesis",
            &format!("{CONFIG_DIR}/{}", self.genesis),
            "--advertise",
            &self.advertise,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cmd.extend(["--control-token".into(), CONTROL_TOKEN.into()]);
        cmd.extend([
            "--stall-timeout".into(),
            "1s".into(),
            "--ban-duration".into(),
            "600s".into(),
        ]);
        if let Some(key) = &self.key {
            cmd.extend([
                "--validator-key".into(),
                format!("{CONFIG_DIR}/{key}.key.json"),
            ]);
        }
        if !self.producing {
            cmd.push("--paused".into());
        }
        if let Some(m) = &self.misbehave {
            cmd.extend(["--misbehave".into(), m.clone()]);
        }
        for p in &self.peers {
            cmd.extend(["--peer".into(), p.clone()]);
        }
        if self.no_peer_exchange {
            cmd.push("--no-peer-exchange".into());
        }
        cmd.extend(self.args.iter().cloned());
        cmd
    }
}

impl Image for LuxtensorNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        // The image's HEALTHCHECK runs `luxtensor health`: the gRPC health service says SERVING.
        vec![WaitFor::healthcheck()]
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.command()
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[GRPC_PORT]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_command_construction() {
        let node = LuxtensorNode::new((NAME, TAG), "lt-a:50051", "/tmp/cfg")
            .with_validator_key("node-a")
            .with_misbehave("bad-signature")
            .with_peer("lt-b:50051")
            .without_peer_exchange();
        let cmd = node.command().join(" ");
        assert_eq!(
            cmd,
            "run --genesis /etc/luxtensor/genesis-fast.json --advertise lt-a:50051 --control-token e2e-token \
             --stall-timeout 1s --ban-duration 600s --validator-key /etc/luxtensor/node-a.key.json \
             --paused --misbehave bad-signature --peer lt-b:50051 --no-peer-exchange"
        );
        let living = LuxtensorNode::new((NAME, TAG), "lt-c:50051", "/tmp/cfg")
            .with_genesis(LIVING_GENESIS)
            .with_validator_key("node-c")
            .producing();
        assert_eq!(
            living.command().join(" "),
            "run --genesis /etc/luxtensor/genesis.json --advertise lt-c:50051 --control-token e2e-token \
             --stall-timeout 1s --ban-duration 600s --validator-key /etc/luxtensor/node-c.key.json"
        );
        assert_eq!(node.expose_ports(), &[GRPC_PORT]);
    }
}
