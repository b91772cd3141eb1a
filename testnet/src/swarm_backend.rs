//! The runner's Docker Swarm backend, for a single-node swarm (`docker swarm init
//! --advertise-addr 127.0.0.1`): the manifest's generated stack deployed with `docker stack
//! deploy`, each node reached on the host port the stack publishes in host mode, late joiners
//! (deployed with 0 replicas) started with `docker service scale`. Swarm owns its task containers,
//! so faults are what Swarm allows: kill is a SIGKILL of the task's container after which Swarm's
//! restart policy starts a new one on the same volume; restart and upgrade are `docker service
//! update --force` (scaled to 0, then updated with `--image` and 1 replica, for an upgrade);
//! pause and disconnect are the Engine API's on the task's container (the stack's overlay network
//! is attachable, so the container is connected again under its node name).
//! [`SwarmBackend::scale_followers`] scales the `followers` service and checks
//! that every new full node holds the converged chain.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{KillContainerOptions, ListContainersOptions};
use testkit::NodeClient;
use testkit::manifest::{Fault, Manifest};
use testkit::runner::{Backend, BackendError};

use crate::engine::{docker_cli, err, join, leave};
use crate::swarm::{FOLLOWERS, host_port};

/// A manifest's network as a stack on a single-node swarm.
pub struct SwarmBackend {
    docker: Docker,
    stack: String,
    file: PathBuf,
    manifest: Manifest,
    image: Option<String>,
    replaced: HashMap<String, String>,
}

/// How long Swarm gets to bring a task up.
const TASK_TIMEOUT: Duration = Duration::from_secs(120);

impl SwarmBackend {
    /// Stack `stack` of stack file `file` (generated from `manifest`).
    pub fn new(
        stack: &str,
        file: PathBuf,
        manifest: Manifest,
        image: Option<String>,
    ) -> Result<Self, bollard::errors::Error> {
        Ok(Self {
            docker: Docker::connect_with_local_defaults()?,
            stack: stack.to_string(),
            file,
            manifest,
            image,
            replaced: HashMap::new(),
        })
    }

    fn docker_cli(&self, args: &[&str]) -> Result<String, String> {
        docker_cli(args, self.image.as_deref())
    }

    fn service(&self, node: &str) -> String {
        format!("{}_{node}", self.stack)
    }

    /// Removes the stack and its volumes (waits until its containers are gone).
    pub async fn remove(&self) -> Result<(), String> {
        let _ = self.docker_cli(&["stack", "rm", &self.stack]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !self.containers(None, false).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let label = format!("label=com.docker.stack.namespace={}", self.stack);
        let volumes = self.docker_cli(&["volume", "ls", "-q", "--filter", &label])?;
        for v in volumes.lines().filter(|v| !v.is_empty()) {
            let _ = self.docker_cli(&["volume", "rm", "-f", v]);
        }
        Ok(())
    }

    /// Containers of the stack (of one service when `node` is given), running ones only when
    /// `running`.
    async fn containers(&self, node: Option<&str>, running: bool) -> Vec<String> {
        let mut filters = HashMap::from([(
            "label".to_string(),
            vec![match node {
                Some(n) => format!("com.docker.swarm.service.name={}", self.service(n)),
                None => format!("com.docker.stack.namespace={}", self.stack),
            }],
        )]);
        if running {
            filters.insert("status".into(), vec!["running".into()]);
        }
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
    }

    /// Waits until `node` has a running task container other than `old`.
    async fn running(&self, node: &str, old: Option<&str>) -> Result<String, BackendError> {
        let deadline = Instant::now() + TASK_TIMEOUT;
        loop {
            if let Some(id) = self
                .containers(Some(node), true)
                .await
                .into_iter()
                .find(|id| Some(id.as_str()) != old)
            {
                return Ok(id);
            }
            if Instant::now() >= deadline {
                return Err(err(
                    node,
                    "wait for its task",
                    format!("no running container after {TASK_TIMEOUT:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn client(&self, node: &str) -> Result<NodeClient, BackendError> {
        let i = self
            .manifest
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| err(node, "client", "not in the manifest"))?;
        NodeClient::new(
            node,
            &format!("http://127.0.0.1:{}", host_port(&self.manifest, i)),
            Some(&format!("{node}:50051")),
            Some(&self.manifest.network.control_token),
        )
        .map_err(|e| err(node, "client", e))
    }

    /// Scales the `followers` service to `n` and waits until each replica holds the block
    /// `hash` at `height`; returns how long each took from the scale command.
    pub async fn scale_followers(
        &self,
        n: u32,
        height: u64,
        hash: &str,
        within: Duration,
    ) -> Result<Vec<Duration>, String> {
        let began = Instant::now();
        self.docker_cli(&[
            "service",
            "scale",
            "-d",
            &format!("{}={n}", self.service(FOLLOWERS)),
        ])?;
        let mut done: HashMap<String, Duration> = HashMap::new();
        let mut last = String::new();
        while began.elapsed() < within {
            for id in self.containers(Some(FOLLOWERS), true).await {
                if done.contains_key(&id) {
                    continue;
                }
                let h = height.to_string();
                match self.docker_cli(&[
                    "exec",
                    &id,
                    "luxtensor",
                    "block",
                    "--node",
                    "http://127.0.0.1:50051",
                    "--height",
                    &h,
                    "--output",
                    "json",
                ]) {
                    Ok(out) if out.contains(&format!("\"hash\": \"{hash}\"")) => {
                        done.insert(id, began.elapsed());
                    }
                    Ok(out) => last = format!("{}: another block at {height}: {out}", &id[..12]),
                    Err(e) => last = e,
                }
            }
            if done.len() as u32 >= n {
                let mut times: Vec<Duration> = done.into_values().collect();
                times.sort();
                return Ok(times);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!(
            "{} of {n} followers hold block {height} ({hash}) after {within:?}; last: {last}",
            done.len()
        ))
    }
}

impl Backend for SwarmBackend {
    fn name(&self) -> String {
        format!("Docker Swarm (stack {})", self.stack)
    }

    async fn start_all(&mut self, nodes: &[String]) -> Vec<Result<NodeClient, BackendError>> {
        let file = self.file.display().to_string();
        if let Err(e) =
            self.docker_cli(&["stack", "deploy", "--detach=true", "-c", &file, &self.stack])
        {
            return nodes.iter().map(|n| Err(err(n, "deploy", &e))).collect();
        }
        let mut out = Vec::new();
        for n in nodes {
            out.push(match self.running(n, None).await {
                Ok(_) => self.client(n),
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn start(&mut self, node: &str) -> Result<NodeClient, BackendError> {
        self.docker_cli(&[
            "service",
            "scale",
            "-d",
            &format!("{}=1", self.service(node)),
        ])
        .map_err(|e| err(node, "scale to 1", e))?;
        self.running(node, None).await?;
        self.client(node)
    }

    async fn fault(&mut self, node: &str, fault: Fault) -> Result<(), BackendError> {
        let id = self.running(node, None).await?;
        match fault {
            Fault::Kill => {
                self.docker
                    .kill_container(&id, Some(KillContainerOptions::default()))
                    .await
                    .map_err(|e| err(node, "kill", e))?;
            }
            Fault::Pause => {
                self.docker
                    .pause_container(&id)
                    .await
                    .map_err(|e| err(node, "pause", e))?;
            }
            Fault::Restart => {
                let service = self.service(node);
                self.docker_cli(&["service", "update", "-d", "--force", &service])
                    .map_err(|e| err(node, "service update", e))?;
            }
            Fault::Upgrade => {
                let service = self.service(node);
                self.docker_cli(&["service", "scale", "-d", &format!("{service}=0")])
                    .map_err(|e| err(node, "scale to 0", e))?;
                let deadline = Instant::now() + TASK_TIMEOUT;
                while !self.containers(Some(node), true).await.is_empty() {
                    if Instant::now() >= deadline {
                        return Err(err(node, "scale to 0", "its task still runs"));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
            Fault::Disconnect => {
                leave(&self.docker, node, &id, &format!("{}_testnet", self.stack)).await?;
            }
        }
        self.replaced.insert(node.to_string(), id);
        Ok(())
    }

    async fn heal(
        &mut self,
        node: &str,
        fault: Fault,
        image: Option<&str>,
    ) -> Result<NodeClient, BackendError> {
        let old = self.replaced.remove(node);
        match fault {
            Fault::Upgrade => {
                let service = self.service(node);
                let mut args = vec!["service", "update", "-d", "--force", "--replicas", "1"];
                if let Some(image) = image.or(self.image.as_deref()) {
                    args.extend(["--image", image]);
                }
                args.push(&service);
                self.docker_cli(&args)
                    .map_err(|e| err(node, "service update", e))?;
                self.running(node, old.as_deref()).await?;
            }
            Fault::Disconnect => {
                let id = old.ok_or_else(|| err(node, "reconnect", "no cut container"))?;
                join(&self.docker, node, &id, &format!("{}_testnet", self.stack)).await?;
            }
            Fault::Pause => {
                let id = old.ok_or_else(|| err(node, "unpause", "no paused container"))?;
                self.docker
                    .unpause_container(&id)
                    .await
                    .map_err(|e| err(node, "unpause", e))?;
            }
            _ => {
                // Swarm replaces the task: wait for the new container.
                self.running(node, old.as_deref()).await?;
            }
        }
        self.client(node)
    }

    async fn memory(&self, node: &str) -> Option<u64> {
        let id = self.containers(Some(node), true).await.into_iter().next()?;
        crate::engine::cgroup_memory(&id)
    }
}
