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
/// Label on every container this crate starts, for cleaning up after killed runs.
pub const LABEL: &str = "io.luxtensor.e2e";

/// The node image and the `luxtensor run` command line it starts with.
#[derive(Debug, Clone)]
pub struct LuxtensorNode {
    name: String,
    tag: String,
    advertise: String,
    validator: bool,
    misbehave: Option<String>,
    peers: Vec<String>,
    no_peer_exchange: bool,
    block_interval: Option<String>,
    mounts: Vec<Mount>,
    args: Vec<String>,
}

impl LuxtensorNode {
    /// A node reachable by others as `advertise` (host:port on the cluster network), with the
    /// testnet files from `config_dir` on the host.
    pub fn new(image: (&str, &str), advertise: &str, config_dir: &str) -> Self {
        Self {
            name: image.0.to_string(),
            tag: image.1.to_string(),
            advertise: advertise.to_string(),
            validator: false,
            misbehave: None,
            peers: Vec::new(),
            no_peer_exchange: false,
            block_interval: None,
            mounts: vec![
                Mount::bind_mount(config_dir, CONFIG_DIR)
                    .with_access_mode(testcontainers::core::AccessMode::ReadOnly),
            ],
            args: Vec::new(),
        }
    }

    /// Runs with the testnet's validator key.
    pub fn with_validator_key(mut self) -> Self {
        self.validator = true;
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

    /// Produces a block every `interval` (e.g. "100ms").
    pub fn with_block_interval(mut self, interval: &str) -> Self {
        self.block_interval = Some(interval.to_string());
        self
    }

    /// The full `luxtensor` argument list.
    pub fn command(&self) -> Vec<String> {
        let mut cmd: Vec<String> = [
            "run",
            "--genesis",
            "/etc/luxtensor/genesis.json",
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
        if self.validator {
            cmd.extend([
                "--validator-key".into(),
                format!("{CONFIG_DIR}/node-a.key.json"),
            ]);
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
        if let Some(i) = &self.block_interval {
            cmd.extend(["--block-interval".into(), i.clone()]);
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
            .with_validator_key()
            .with_misbehave("bad-signature")
            .with_peer("lt-b:50051")
            .without_peer_exchange()
            .with_block_interval("100ms");
        let cmd = node.command().join(" ");
        assert_eq!(
            cmd,
            "run --genesis /etc/luxtensor/genesis.json --advertise lt-a:50051 --control-token e2e-token \
             --stall-timeout 1s --ban-duration 600s --validator-key /etc/luxtensor/node-a.key.json \
             --misbehave bad-signature --peer lt-b:50051 --no-peer-exchange --block-interval 100ms"
        );
        assert_eq!(node.expose_ports(), &[GRPC_PORT]);
    }
}
