//! The Docker engine around the tests, through the bollard client testcontainers already brings: a
//! clear failure when the engine is missing or refuses the client's API version, the node image
//! (built from the top-level Dockerfile when missing), cleanup of containers and networks left by
//! killed runs, and network (dis)connection. Only the image build runs the `docker` CLI, so that
//! the build context honours `.dockerignore` exactly as a user's `docker build` does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use testcontainers::bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
};

use crate::image::{LABEL, NAME, TAG};

/// The workspace root (where the Dockerfile is).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// The testnet files mounted into every node.
pub fn config_dir() -> String {
    workspace_root()
        .join("deploy/testnet")
        .display()
        .to_string()
}

/// The engine client (local socket or `DOCKER_HOST`).
pub fn client() -> Docker {
    Docker::connect_with_local_defaults()
        .unwrap_or_else(|e| panic!("cannot create a Docker client: {e}"))
}

/// Fails with a clear message unless a Docker engine answers and accepts the API version of the
/// client testcontainers uses (bollard, which does not negotiate).
pub async fn ensure_engine() {
    static CHECKED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CHECKED
        .get_or_init(|| async {
            let docker = client();
            match docker.version().await {
                Ok(v) => {
                    let api = v.api_version.unwrap_or_default();
                    assert!(
                        !api.is_empty(),
                        "the Docker engine did not say which API version it speaks"
                    );
                }
                Err(e) => panic!(
                    "Docker is not available (or refuses the client API version {} of bollard), \
                     so the e2e tests cannot run (they never skip): {e}",
                    docker.client_version()
                ),
            }
        })
        .await;
}

/// `name:tag` of the image under test: `LUXTENSOR_E2E_IMAGE`, else the local build.
pub fn image_ref() -> (String, String) {
    match std::env::var("LUXTENSOR_E2E_IMAGE") {
        Ok(r) if !r.is_empty() => match r.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
            _ => (r, "latest".to_string()),
        },
        _ => (NAME.to_string(), TAG.to_string()),
    }
}

/// Makes sure the image exists: builds it from the top-level Dockerfile (legacy builder) when it
/// does not.
pub async fn ensure_image() -> (String, String) {
    static IMAGE: tokio::sync::OnceCell<(String, String)> = tokio::sync::OnceCell::const_new();
    IMAGE
        .get_or_init(|| async {
            let (name, tag) = image_ref();
            let reference = format!("{name}:{tag}");
            if client().inspect_image(&reference).await.is_err() {
                eprintln!(
                    "e2e: image {reference} not found; building it from the Dockerfile (this takes a while)"
                );
                let root = workspace_root();
                let status = tokio::task::spawn_blocking(move || {
                    Command::new("docker")
                        .args(["build", "-t", &reference])
                        .arg(&root)
                        .env("DOCKER_BUILDKIT", "0")
                        .status()
                })
                .await
                .expect("build task")
                .expect("running docker build");
                assert!(status.success(), "docker build of {name}:{tag} failed");
            }
            (name, tag)
        })
        .await
        .clone()
}

/// Removes containers and networks left behind by earlier runs that were killed (testcontainers
/// cleans up on drop, and a killed process drops nothing). Runs once per test process.
pub async fn remove_stale() {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.get().is_some() {
        return;
    }
    let docker = client();
    let me = std::process::id().to_string();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![LABEL.to_string()],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    for c in containers {
        let owner = c.labels.as_ref().and_then(|l| l.get(LABEL)).cloned();
        if let (Some(id), Some(owner)) = (c.id, owner)
            && owner != me
        {
            let _ = docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(HashMap::from([(
                "name".to_string(),
                vec!["lt-e2e-".to_string()],
            )])),
        }))
        .await
        .unwrap_or_default();
    let mine = format!("lt-e2e-{me}-");
    for name in networks.into_iter().filter_map(|n| n.name) {
        if !name.starts_with(&mine) {
            let _ = docker.remove_network(&name).await;
        }
    }
    // Data volumes of manifest runs (`lt-e2e-<pid>-…-data`).
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(HashMap::from([(
                "name".to_string(),
                vec!["lt-e2e-".to_string()],
            )])),
        }))
        .await
        .ok()
        .and_then(|v| v.volumes)
        .unwrap_or_default();
    let mine = format!("lt-e2e-{me}-");
    for v in volumes {
        if v.name.starts_with("lt-e2e-") && !v.name.starts_with(&mine) {
            let _ = docker
                .remove_volume(
                    &v.name,
                    None::<testcontainers::bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await;
        }
    }
    let _ = DONE.set(());
}

/// Disconnects a container from a network.
pub async fn disconnect(network: &str, container: &str) -> Result<(), String> {
    client()
        .disconnect_network(
            network,
            NetworkDisconnectRequest {
                container: container.to_string(),
                force: Some(true),
            },
        )
        .await
        .map_err(|e| format!("disconnecting {container} from {network}: {e}"))
}

/// Connects a container to a network (its name resolves again for the other members).
pub async fn connect(network: &str, container: &str) -> Result<(), String> {
    client()
        .connect_network(
            network,
            NetworkConnectRequest {
                container: container.to_string(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("connecting {container} to {network}: {e}"))
}

/// Creates a bridge network (for a partition's group).
pub async fn create_network(name: &str) -> Result<(), String> {
    client()
        .create_network(testcontainers::bollard::models::NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|e| format!("creating network {name}: {e}"))
}
