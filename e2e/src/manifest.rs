//! A testnet manifest under testcontainers: [`ManifestCluster`] is the runner's backend
//! (`testkit::runner`) for containers this crate starts, so `deploy/testnets/ci.toml` is one
//! `cargo test -p e2e` case. Each node is a container named after the test and the node, on a
//! private network where peers reach each other by container name, with the manifest's files
//! (`network.files`) mounted and its data on a named volume that an upgrade in place keeps.

use std::collections::BTreeMap;

use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testkit::NodeClient;
use testkit::manifest::{Fault, Manifest};
use testkit::runner::{Backend, BackendError, RunOptions, RunReport};

use crate::cluster::START_TIMEOUT;
use crate::docker;
use crate::image::{CONTROL_TOKEN, GRPC_PORT, LABEL, LuxtensorNode};

/// A manifest's network in containers.
pub struct ManifestCluster {
    /// The manifest.
    pub manifest: Manifest,
    /// The network name.
    pub network: String,
    prefix: String,
    image: (String, String),
    files: String,
    containers: BTreeMap<String, ContainerAsync<LuxtensorNode>>,
}

fn err(node: &str, op: &'static str, detail: impl std::fmt::Display) -> BackendError {
    BackendError {
        node: node.to_string(),
        op,
        detail: detail.to_string(),
    }
}

impl ManifestCluster {
    /// Reads `path` (relative to the workspace root) and prepares its network for test `test`;
    /// nothing starts until [`ManifestCluster::run`]. Panics with the manifest's own error when
    /// it has a mistake.
    pub async fn new(test: &str, path: &str) -> Self {
        let root = docker::workspace_root();
        let text =
            std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let manifest = Manifest::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        docker::ensure_engine().await;
        let image = docker::ensure_image().await;
        docker::remove_stale().await;
        let pid = std::process::id();
        Self {
            files: root.join(&manifest.network.files).display().to_string(),
            manifest,
            network: format!("lt-e2e-{pid}-{test}"),
            prefix: format!("lt-{pid}-{test}"),
            image,
            containers: BTreeMap::new(),
        }
    }

    fn container_name(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    fn volume(&self, node: &str) -> String {
        format!(
            "lt-e2e-{}-data",
            self.container_name(node).trim_start_matches("lt-")
        )
    }

    /// Runs the manifest's phases (see `testkit::runner`).
    pub async fn run(&mut self, opts: &RunOptions) -> RunReport {
        let manifest = self.manifest.clone();
        testkit::runner::run(&manifest, self, opts).await
    }

    /// Removes the containers and their data volumes.
    pub async fn down(mut self) {
        for (_, c) in std::mem::take(&mut self.containers) {
            let _ = c.rm().await;
        }
        let docker = docker::client();
        for node in &self.manifest.nodes {
            let _ = docker
                .remove_volume(
                    &self.volume(&node.name),
                    None::<testcontainers::bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await;
        }
        for i in 0..self
            .manifest
            .partition
            .iter()
            .map(|p| p.groups.len())
            .max()
            .unwrap_or(0)
        {
            let _ = docker
                .remove_network(&format!("{}-p{i}", self.network))
                .await;
        }
        let _ = docker.remove_network(&self.network).await;
    }

    async fn client(&self, node: &str) -> Result<NodeClient, BackendError> {
        let c = self
            .containers
            .get(node)
            .ok_or_else(|| err(node, "client", "not started"))?;
        let port = c
            .get_host_port_ipv4(GRPC_PORT)
            .await
            .map_err(|e| err(node, "published port", e))?;
        NodeClient::new(
            node,
            &format!("http://127.0.0.1:{port}"),
            Some(&format!("{}:50051", self.container_name(node))),
            Some(CONTROL_TOKEN),
        )
        .map_err(|e| err(node, "client", e))
    }

    fn container(&self, node: &str) -> Result<&ContainerAsync<LuxtensorNode>, BackendError> {
        self.containers
            .get(node)
            .ok_or_else(|| err(node, "container", "not started"))
    }

    async fn create(&mut self, node: &str, image: Option<&str>) -> Result<(), BackendError> {
        let container = self.launch(node, image)?.await?;
        self.containers.insert(node.to_string(), container);
        Ok(())
    }

    /// The start of `node`'s container, as a future that borrows nothing (so that several run
    /// at once).
    fn launch(
        &self,
        node: &str,
        image: Option<&str>,
    ) -> Result<
        impl std::future::Future<Output = Result<ContainerAsync<LuxtensorNode>, BackendError>>
        + Send
        + use<>,
        BackendError,
    > {
        let spec = self
            .manifest
            .node(node)
            .ok_or_else(|| err(node, "start", "not in the manifest"))?
            .clone();
        let name = self.container_name(node);
        let args = spec.run_args("/etc/luxtensor", &format!("{name}:50051"), |peer| {
            format!("{}:50051", self.container_name(peer))
        });
        let (repo, tag) = match image.and_then(|i| i.rsplit_once(':')) {
            Some((r, t)) => (r.to_string(), t.to_string()),
            None => self.image.clone(),
        };
        let request = LuxtensorNode::new((&repo, &tag), &format!("{name}:50051"), &self.files)
            .from_manifest(args, &self.volume(node))
            .with_network(self.network.clone())
            .with_container_name(&name)
            .with_label(LABEL, std::process::id().to_string())
            .with_startup_timeout(START_TIMEOUT);
        let node = node.to_string();
        Ok(async move { request.start().await.map_err(|e| err(&node, "start", e)) })
    }
}

impl Backend for ManifestCluster {
    fn name(&self) -> String {
        format!("testcontainers (network {})", self.network)
    }

    async fn start(&mut self, node: &str) -> Result<NodeClient, BackendError> {
        self.create(node, None).await?;
        self.client(node).await
    }

    async fn start_all(&mut self, nodes: &[String]) -> Vec<Result<NodeClient, BackendError>> {
        let mut launches = Vec::new();
        for n in nodes {
            launches.push(self.launch(n, None));
        }
        let mut pending = Vec::new();
        let mut out: Vec<Option<Result<NodeClient, BackendError>>> = Vec::new();
        for (i, l) in launches.into_iter().enumerate() {
            match l {
                Ok(f) => {
                    pending.push((i, f));
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let (index, futures): (Vec<usize>, Vec<_>) = pending.into_iter().unzip();
        let started = futures::future::join_all(futures).await;
        for (i, r) in index.into_iter().zip(started) {
            out[i] = Some(match r {
                Ok(c) => {
                    self.containers.insert(nodes[i].clone(), c);
                    self.client(&nodes[i]).await
                }
                Err(e) => Err(e),
            });
        }
        out.into_iter()
            .map(|r| r.expect("every node has an outcome"))
            .collect()
    }

    fn supports_partitions(&self) -> bool {
        true
    }

    async fn partition(
        &mut self,
        groups: &[Vec<String>],
    ) -> Result<Vec<(String, NodeClient)>, BackendError> {
        let mut moved = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            let net = format!("{}-p{i}", self.network);
            docker::create_network(&net)
                .await
                .map_err(|e| err("*", "create partition network", e))?;
            for node in group {
                // A node not started yet starts later among the nodes in no group.
                if !self.containers.contains_key(node) {
                    continue;
                }
                let name = self.container_name(node);
                docker::disconnect(&self.network, &name)
                    .await
                    .map_err(|e| err(node, "leave network", e))?;
                docker::connect(&net, &name)
                    .await
                    .map_err(|e| err(node, "join network", e))?;
                moved.push((node.clone(), self.client(node).await?));
            }
        }
        Ok(moved)
    }

    async fn heal_partition(
        &mut self,
        groups: &[Vec<String>],
    ) -> Result<Vec<(String, NodeClient)>, BackendError> {
        let mut moved = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            let net = format!("{}-p{i}", self.network);
            for node in group {
                if !self.containers.contains_key(node) {
                    continue;
                }
                let name = self.container_name(node);
                if docker::disconnect(&net, &name).await.is_err() {
                    // Started during the partition: it is on the cluster network already.
                    continue;
                }
                docker::connect(&self.network, &name)
                    .await
                    .map_err(|e| err(node, "rejoin network", e))?;
                moved.push((node.clone(), self.client(node).await?));
            }
            docker::client()
                .remove_network(&net)
                .await
                .map_err(|e| err("*", "remove partition network", e))?;
        }
        Ok(moved)
    }

    async fn fault(&mut self, node: &str, fault: Fault) -> Result<(), BackendError> {
        match fault {
            Fault::Kill => self
                .container(node)?
                .stop_with_timeout(Some(0))
                .await
                .map_err(|e| err(node, "kill", e)),
            Fault::Restart => self
                .container(node)?
                .stop_with_timeout(Some(10))
                .await
                .map_err(|e| err(node, "stop", e)),
            Fault::Pause => self
                .container(node)?
                .pause()
                .await
                .map_err(|e| err(node, "pause", e)),
            Fault::Disconnect => docker::disconnect(&self.network, &self.container_name(node))
                .await
                .map_err(|e| err(node, "disconnect", e)),
            Fault::Upgrade => {
                let c = self
                    .containers
                    .remove(node)
                    .ok_or_else(|| err(node, "upgrade", "not started"))?;
                c.stop_with_timeout(Some(10))
                    .await
                    .map_err(|e| err(node, "stop for upgrade", e))?;
                c.rm().await.map_err(|e| err(node, "remove for upgrade", e))
            }
        }
    }

    async fn heal(
        &mut self,
        node: &str,
        fault: Fault,
        image: Option<&str>,
    ) -> Result<NodeClient, BackendError> {
        match fault {
            Fault::Kill | Fault::Restart => self
                .container(node)?
                .start()
                .await
                .map_err(|e| err(node, "start again", e))?,
            Fault::Pause => self
                .container(node)?
                .unpause()
                .await
                .map_err(|e| err(node, "unpause", e))?,
            Fault::Disconnect => docker::connect(&self.network, &self.container_name(node))
                .await
                .map_err(|e| err(node, "reconnect", e))?,
            Fault::Upgrade => self.create(node, image).await?,
        }
        self.client(node).await
    }
}
