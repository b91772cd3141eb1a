//! N node containers on a private network, started in parallel, reachable from each other by
//! container name and from the test through their published gRPC ports.

use std::time::Duration;

use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testkit::NodeClient;

use crate::docker;
use crate::image::{CONTROL_TOKEN, GRPC_PORT, LABEL, LuxtensorNode};

/// How one node of a cluster starts.
#[derive(Clone, Debug, Default)]
pub struct NodeSpec {
    /// The testnet validator key it runs with (`node-a`, `node-b`, `node-c`), if any.
    pub key: Option<String>,
    /// The genesis file (default: the fast single-validator one).
    pub genesis: Option<String>,
    /// Produces on its own in its slots (otherwise only on demand).
    pub producing: bool,
    /// Misbehaviour mode.
    pub misbehave: Option<String>,
    /// Bootstrap peers, by index in the cluster.
    pub peers: Vec<usize>,
    /// No peer exchange.
    pub no_peer_exchange: bool,
}

impl NodeSpec {
    /// The validator of the fast genesis (node-a's key), producing on demand.
    pub fn validator() -> Self {
        Self::validator_as("node-a")
    }

    /// A validator with the testnet key `name`.
    pub fn validator_as(name: &str) -> Self {
        Self {
            key: Some(name.to_string()),
            ..Self::default()
        }
    }

    /// On the compose testnet's genesis (three validators, 500 ms slots), producing in its slots.
    pub fn living(mut self) -> Self {
        self.genesis = Some(crate::image::LIVING_GENESIS.to_string());
        self.producing = true;
        self
    }

    /// A follower.
    pub fn follower() -> Self {
        Self::default()
    }
}

/// One running member.
pub struct Member {
    /// Display name (node-a, node-b, …).
    pub name: String,
    /// Container name, resolvable on the cluster network.
    pub container_name: String,
    /// The container.
    pub container: ContainerAsync<LuxtensorNode>,
    /// gRPC client through the published port.
    pub client: NodeClient,
}

/// A running cluster; containers and network are removed when it is dropped.
pub struct Cluster {
    /// The network name.
    pub network: String,
    /// Members in spec order.
    pub members: Vec<Member>,
}

/// Startup deadline for one container.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

async fn client_for(
    name: &str,
    container_name: &str,
    c: &ContainerAsync<LuxtensorNode>,
) -> NodeClient {
    let port = c
        .get_host_port_ipv4(GRPC_PORT)
        .await
        .expect("published gRPC port");
    NodeClient::new(
        name,
        &format!("http://127.0.0.1:{port}"),
        Some(&format!("{container_name}:50051")),
        Some(CONTROL_TOKEN),
    )
    .expect("node client")
}

impl Cluster {
    /// Starts one container per spec, all at once, and waits until each is healthy.
    pub async fn start(test: &str, specs: Vec<NodeSpec>) -> Self {
        docker::ensure_engine().await;
        let (image, tag) = docker::ensure_image().await;
        docker::remove_stale().await;
        let pid = std::process::id();
        let network = format!("lt-e2e-{pid}-{test}");
        let names: Vec<(String, String)> = (0..specs.len())
            .map(|i| {
                let letter = (b'a' + i as u8) as char;
                (
                    format!("node-{letter}"),
                    format!("lt-{pid}-{test}-{letter}"),
                )
            })
            .collect();
        let config = docker::config_dir();
        let starts = specs.iter().enumerate().map(|(i, spec)| {
            let (name, container_name) = names[i].clone();
            let mut node =
                LuxtensorNode::new((&image, &tag), &format!("{container_name}:50051"), &config);
            if let Some(key) = &spec.key {
                node = node.with_validator_key(key);
            }
            if let Some(genesis) = &spec.genesis {
                node = node.with_genesis(genesis);
            }
            if spec.producing {
                node = node.producing();
            }
            if let Some(m) = &spec.misbehave {
                node = node.with_misbehave(m);
            }
            for p in &spec.peers {
                node = node.with_peer(&format!("{}:50051", names[*p].1));
            }
            if spec.no_peer_exchange {
                node = node.without_peer_exchange();
            }
            let network = network.clone();
            async move {
                let container = node
                    .with_network(network)
                    .with_container_name(&container_name)
                    .with_label(LABEL, pid.to_string())
                    .with_startup_timeout(START_TIMEOUT)
                    .start()
                    .await
                    .unwrap_or_else(|e| panic!("starting {container_name}: {e}"));
                let client = client_for(&name, &container_name, &container).await;
                Member {
                    name,
                    container_name,
                    container,
                    client,
                }
            }
        });
        let members = futures::future::join_all(starts).await;
        Self { network, members }
    }

    /// The network of the manifest at `path` (relative to the workspace root) for test `test`,
    /// ready to run with the manifest runner: see [`crate::ManifestCluster`].
    pub async fn from_manifest(test: &str, path: &str) -> crate::ManifestCluster {
        crate::ManifestCluster::new(test, path).await
    }

    /// The client of member `i`.
    pub fn node(&self, i: usize) -> &NodeClient {
        &self.members[i].client
    }

    /// Clients of every member.
    pub fn nodes(&self) -> Vec<&NodeClient> {
        self.members.iter().map(|m| &m.client).collect()
    }

    async fn reconnect(&mut self, i: usize) {
        let m = &mut self.members[i];
        m.client = client_for(&m.name, &m.container_name, &m.container).await;
    }

    /// Stops member `i` gracefully (SIGTERM, then SIGKILL after 10 s); its volume stays.
    pub async fn stop(&self, i: usize) {
        self.members[i]
            .container
            .stop_with_timeout(Some(10))
            .await
            .expect("stop");
    }

    /// Kills member `i` with SIGKILL at once.
    pub async fn kill(&self, i: usize) {
        self.members[i]
            .container
            .stop_with_timeout(Some(0))
            .await
            .expect("kill");
    }

    /// Starts a stopped member again (its published port changes, so the client reconnects).
    pub async fn restart(&mut self, i: usize) {
        self.members[i].container.start().await.expect("start");
        self.reconnect(i).await;
    }

    /// Freezes member `i`.
    pub async fn pause(&self, i: usize) {
        self.members[i].container.pause().await.expect("pause");
    }

    /// Runs `luxtensor ARGS` inside member `i` (against its own node at 127.0.0.1:50051, which
    /// works while the member is cut off the cluster network) and returns its standard output;
    /// panics with the output when the command fails.
    pub async fn luxtensor(&self, i: usize, args: &[&str]) -> String {
        let mut cmd = vec!["luxtensor"];
        cmd.extend_from_slice(args);
        let mut result = self.members[i]
            .container
            .exec(
                testcontainers::core::ExecCommand::new(cmd.clone())
                    .with_cmd_ready_condition(testcontainers::core::CmdWaitFor::exit()),
            )
            .await
            .unwrap_or_else(|e| panic!("exec {cmd:?} in {}: {e}", self.members[i].name));
        let out =
            String::from_utf8_lossy(&result.stdout_to_vec().await.unwrap_or_default()).to_string();
        let err =
            String::from_utf8_lossy(&result.stderr_to_vec().await.unwrap_or_default()).to_string();
        let code = result.exit_code().await.ok().flatten();
        assert_eq!(
            code,
            Some(0),
            "{}: {cmd:?} failed:\n{out}{err}",
            self.members[i].name
        );
        out
    }

    /// Thaws member `i`.
    pub async fn unpause(&self, i: usize) {
        self.members[i].container.unpause().await.expect("unpause");
    }

    /// Cuts member `i` off the cluster network.
    pub async fn disconnect(&self, i: usize) {
        docker::disconnect(&self.network, &self.members[i].container_name)
            .await
            .expect("network disconnect");
    }

    /// Reconnects member `i` to the cluster network.
    pub async fn connect(&mut self, i: usize) {
        docker::connect(&self.network, &self.members[i].container_name)
            .await
            .expect("network connect");
        self.reconnect(i).await;
    }
}
