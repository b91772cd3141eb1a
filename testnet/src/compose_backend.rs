//! The runner's compose backend: a manifest's generated compose file, its nodes started by
//! `docker compose up -d --no-deps NODE` (compose is a command-line tool: the Engine API has no
//! compose endpoint), and everything after that through the Docker Engine API with bollard —
//! finding a node's container by its compose labels, kill, stop, start, pause, unpause, network
//! disconnect and connect, removal for an upgrade, partitions (a bridge network per group, each
//! node moved onto its group's network under its name, and back when it heals), memory from the
//! container's stats. The runner
//! reaches each node at its container address on the compose network (this host routes to the
//! bridge), so no host port is needed for any number of nodes.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{
    KillContainerOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
    StatsOptions, StopContainerOptions,
};
use futures::StreamExt;
use testkit::NodeClient;
use testkit::manifest::Fault;
use testkit::runner::{Backend, BackendError};

use crate::compose::GRPC_PORT;
use crate::engine::{docker_cli, err, join, leave};

/// A manifest's network under Docker Compose.
pub struct ComposeBackend {
    docker: Docker,
    project: String,
    file: PathBuf,
    token: String,
    image: Option<String>,
}

impl ComposeBackend {
    /// The compose project `project` of compose file `file`; nodes use `token` for control
    /// calls; `image` replaces the file's default image (`LUXTENSOR_IMAGE`).
    pub fn new(
        project: &str,
        file: PathBuf,
        token: &str,
        image: Option<String>,
    ) -> Result<Self, bollard::errors::Error> {
        Ok(Self {
            docker: Docker::connect_with_local_defaults()?,
            project: project.to_string(),
            file,
            token: token.to_string(),
            image,
        })
    }

    /// `docker compose -p PROJECT -f FILE ARGS…`.
    pub fn compose(&self, args: &[&str], image: Option<&str>) -> Result<String, String> {
        let file = self.file.display().to_string();
        let mut all = vec!["compose", "-p", &self.project, "-f", &file];
        all.extend_from_slice(args);
        docker_cli(&all, image.or(self.image.as_deref()))
    }

    /// Removes the project's containers, networks (partition networks too) and volumes.
    pub async fn down(&self) -> Result<String, String> {
        let out = self.compose(&["down", "-v", "--remove-orphans", "-t", "2"], None)?;
        let prefix = format!("{}_partition", self.project);
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(HashMap::from([("name".to_string(), vec![prefix.clone()])])),
            }))
            .await
            .unwrap_or_default();
        for name in networks.into_iter().filter_map(|n| n.name) {
            if name.starts_with(&prefix) {
                let _ = self.docker.remove_network(&name).await;
            }
        }
        Ok(out)
    }

    /// Moves `node`'s container from network `from` to `to`, where it answers to its name.
    async fn move_node(&self, node: &str, from: &str, to: &str) -> Result<(), BackendError> {
        let id = self.container(node).await?;
        leave(&self.docker, node, &id, from).await?;
        join(&self.docker, node, &id, to).await
    }

    /// Whether `node` has a running container.
    async fn is_running(&self, node: &str) -> bool {
        match self.container(node).await {
            Ok(id) => self
                .docker
                .inspect_container(&id, None)
                .await
                .ok()
                .and_then(|c| c.state)
                .and_then(|s| s.running)
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    async fn container(&self, node: &str) -> Result<String, BackendError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("com.docker.compose.project={}", self.project),
                format!("com.docker.compose.service={node}"),
            ],
        )]);
        let found = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| err(node, "find container", e))?;
        found
            .into_iter()
            .find_map(|c| c.id)
            .ok_or_else(|| err(node, "find container", "no container for this service"))
    }

    fn main_network(&self) -> String {
        format!("{}_testnet", self.project)
    }

    fn partition_network(&self, i: usize) -> String {
        format!("{}_partition{i}", self.project)
    }

    /// The node's address on `wanted`.
    async fn address_on(
        &self,
        node: &str,
        id: &str,
        wanted: &str,
    ) -> Result<(String, Option<String>), BackendError> {
        let c = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| err(node, "inspect", e))?;
        let networks = c
            .network_settings
            .and_then(|s| s.networks)
            .unwrap_or_default();
        let wanted = wanted.to_string();
        let ip = networks
            .get(&wanted)
            .and_then(|e| e.ip_address.clone())
            .filter(|ip| !ip.is_empty());
        Ok((wanted, ip))
    }

    async fn client(&self, node: &str) -> Result<NodeClient, BackendError> {
        self.client_on(node, &self.main_network()).await
    }

    async fn client_on(&self, node: &str, network: &str) -> Result<NodeClient, BackendError> {
        let id = self.container(node).await?;
        let (network, ip) = self.address_on(node, &id, network).await?;
        let ip = ip.ok_or_else(|| err(node, "address", format!("not on network {network}")))?;
        NodeClient::new(
            node,
            &format!("http://{ip}:{GRPC_PORT}"),
            Some(&format!("{node}:{GRPC_PORT}")),
            Some(&self.token),
        )
        .map_err(|e| err(node, "client", e))
    }
}

impl Backend for ComposeBackend {
    fn name(&self) -> String {
        format!("docker compose (project {})", self.project)
    }

    async fn start(&mut self, node: &str) -> Result<NodeClient, BackendError> {
        self.compose(&["up", "-d", "--no-deps", "--no-build", node], None)
            .map_err(|e| err(node, "start", e))?;
        self.client(node).await
    }

    async fn start_all(&mut self, nodes: &[String]) -> Vec<Result<NodeClient, BackendError>> {
        let mut args = vec!["up", "-d", "--no-deps", "--no-build"];
        args.extend(nodes.iter().map(String::as_str));
        if let Err(e) = self.compose(&args, None) {
            return nodes.iter().map(|n| Err(err(n, "start", &e))).collect();
        }
        let mut out = Vec::new();
        for n in nodes {
            out.push(self.client(n).await);
        }
        out
    }

    fn supports_partitions(&self) -> bool {
        true
    }

    async fn partition(
        &mut self,
        groups: &[Vec<String>],
    ) -> Result<Vec<(String, NodeClient)>, BackendError> {
        let main = self.main_network();
        let mut moved = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            let net = self.partition_network(i);
            self.docker
                .create_network(NetworkCreateRequest {
                    name: net.clone(),
                    driver: Some("bridge".into()),
                    labels: Some(HashMap::from([(
                        "io.luxtensor.partition".to_string(),
                        self.project.clone(),
                    )])),
                    ..Default::default()
                })
                .await
                .map_err(|e| err("*", "create partition network", e))?;
            for node in group {
                // A node not started yet starts later among the nodes in no group.
                if !self.is_running(node).await {
                    continue;
                }
                self.move_node(node, &main, &net).await?;
                moved.push((node.clone(), self.client_on(node, &net).await?));
            }
        }
        Ok(moved)
    }

    async fn heal_partition(
        &mut self,
        groups: &[Vec<String>],
    ) -> Result<Vec<(String, NodeClient)>, BackendError> {
        let main = self.main_network();
        let mut moved = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            let net = self.partition_network(i);
            for node in group {
                let Ok(id) = self.container(node).await else {
                    continue;
                };
                if self.address_on(node, &id, &net).await?.1.is_none() {
                    continue;
                }
                self.move_node(node, &net, &main).await?;
                moved.push((node.clone(), self.client(node).await?));
            }
            self.docker
                .remove_network(&net)
                .await
                .map_err(|e| err("*", "remove partition network", e))?;
        }
        Ok(moved)
    }

    async fn fault(&mut self, node: &str, fault: Fault) -> Result<(), BackendError> {
        let id = self.container(node).await?;
        let d = &self.docker;
        match fault {
            Fault::Kill => d
                .kill_container(&id, Some(KillContainerOptions::default()))
                .await
                .map_err(|e| err(node, "kill", e)),
            Fault::Restart => d
                .stop_container(
                    &id,
                    Some(StopContainerOptions {
                        t: Some(10),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| err(node, "stop", e)),
            Fault::Pause => d
                .pause_container(&id)
                .await
                .map_err(|e| err(node, "pause", e)),
            Fault::Disconnect => leave(d, node, &id, &self.main_network()).await,
            Fault::Upgrade => {
                d.stop_container(
                    &id,
                    Some(StopContainerOptions {
                        t: Some(10),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| err(node, "stop for upgrade", e))?;
                d.remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: false,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| err(node, "remove for upgrade", e))
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
            Fault::Kill | Fault::Restart => {
                let id = self.container(node).await?;
                self.docker
                    .start_container(&id, None)
                    .await
                    .map_err(|e| err(node, "start again", e))?;
            }
            Fault::Pause => {
                let id = self.container(node).await?;
                self.docker
                    .unpause_container(&id)
                    .await
                    .map_err(|e| err(node, "unpause", e))?;
            }
            Fault::Disconnect => {
                let id = self.container(node).await?;
                join(&self.docker, node, &id, &self.main_network()).await?;
            }
            Fault::Upgrade => {
                self.compose(&["up", "-d", "--no-deps", "--no-build", node], image)
                    .map_err(|e| err(node, "create anew", e))?;
            }
        }
        self.client(node).await
    }

    async fn memory(&self, node: &str) -> Option<u64> {
        let id = self.container(node).await.ok()?;
        if let Some(bytes) = crate::engine::cgroup_memory(&id) {
            return Some(bytes);
        }
        let stats = self
            .docker
            .stats(
                &id,
                Some(StatsOptions {
                    stream: false,
                    one_shot: true,
                }),
            )
            .next()
            .await?
            .ok()?;
        let mem = stats.memory_stats?;
        let usage = mem.usage?;
        // What `docker stats` shows: usage without the page cache (cgroup v1 `total_inactive_file`,
        // v2 `inactive_file`).
        let cache = mem.stats.as_ref().and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
                .copied()
        });
        Some(usage.saturating_sub(cache.unwrap_or(0)))
    }
}
