//! What the compose and Swarm backends share about the Docker engine: the `docker` command line
//! (for what the Engine API has no endpoint for: compose, stacks, services), taking a container off
//! a network and putting it on one under its node name, a container's memory from its cgroup, and
//! the runner's error for a failed operation.

use std::process::Command;

use bollard::Docker;
use bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest};
use testkit::runner::BackendError;

/// The runner's error for operation `op` on `node`.
pub(crate) fn err(node: &str, op: &'static str, detail: impl std::fmt::Display) -> BackendError {
    BackendError {
        node: node.to_string(),
        op,
        detail: detail.to_string(),
    }
}

/// `docker ARGS…` with `LUXTENSOR_IMAGE=image` when given; its standard output, or its standard
/// error as the failure.
pub(crate) fn docker_cli(args: &[&str], image: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    if let Some(image) = image {
        cmd.env("LUXTENSOR_IMAGE", image);
    }
    let out = cmd.output().map_err(|e| format!("running docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Takes container `id` (of `node`) off `network`.
pub(crate) async fn leave(
    docker: &Docker,
    node: &str,
    id: &str,
    network: &str,
) -> Result<(), BackendError> {
    docker
        .disconnect_network(
            network,
            NetworkDisconnectRequest {
                container: id.to_string(),
                force: Some(true),
            },
        )
        .await
        .map_err(|e| err(node, "leave network", e))
}

/// Puts container `id` on `network`, where the others reach it as `node`.
pub(crate) async fn join(
    docker: &Docker,
    node: &str,
    id: &str,
    network: &str,
) -> Result<(), BackendError> {
    docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(vec![node.to_string()]),
                    ..Default::default()
                }),
            },
        )
        .await
        .map_err(|e| err(node, "join network", e))
}

/// What `docker stats` shows for container `id` (usage without the inactive page cache), read
/// from the cgroup files when the engine runs on this host (cgroup v1 with the cgroupfs driver,
/// or v2 with either driver): one file read instead of a stats call that samples for a second.
pub(crate) fn cgroup_memory(id: &str) -> Option<u64> {
    let read = |p: String| std::fs::read_to_string(p).ok();
    let field = |stat: &str, key: &str| {
        stat.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    let v1 = format!("/sys/fs/cgroup/memory/docker/{id}");
    if let (Some(usage), Some(stat)) = (
        read(format!("{v1}/memory.usage_in_bytes")),
        read(format!("{v1}/memory.stat")),
    ) {
        let usage: u64 = usage.trim().parse().ok()?;
        return Some(usage.saturating_sub(field(&stat, "total_inactive_file ").unwrap_or(0)));
    }
    for dir in [
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
        format!("/sys/fs/cgroup/docker/{id}"),
    ] {
        if let (Some(usage), Some(stat)) = (
            read(format!("{dir}/memory.current")),
            read(format!("{dir}/memory.stat")),
        ) {
            let usage: u64 = usage.trim().parse().ok()?;
            return Some(usage.saturating_sub(field(&stat, "inactive_file ").unwrap_or(0)));
        }
    }
    None
}
