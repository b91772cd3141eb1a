//! The Docker engine around the tests: a clear failure when it is missing or refuses our client's
//! API version, the node image (built from the top-level Dockerfile when missing), cleanup of
//! containers and networks left by killed runs, and network (dis)connection.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::image::{LABEL, NAME, TAG};

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

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

/// Fails with a clear message unless a Docker engine answers and accepts the API version of the
/// client testcontainers uses (bollard, which does not negotiate).
pub async fn ensure_engine() {
    static CHECKED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CHECKED
        .get_or_init(|| async {
            let server = docker(&["version", "--format", "{{.Server.APIVersion}}"]).unwrap_or_else(|e| {
                panic!("Docker is not available, so the e2e tests cannot run (they never skip): {e}")
            });
            let client = testcontainers::bollard::Docker::connect_with_local_defaults()
                .unwrap_or_else(|e| panic!("cannot create a Docker client: {e}"));
            if let Err(e) = client.version().await {
                panic!(
                    "the Docker engine (API {server}) refuses the client API version of bollard {}: {e}",
                    client.client_version()
                );
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

/// Makes sure the image exists: builds it from the top-level Dockerfile (legacy builder) when
/// it does not.
pub fn ensure_image() -> (String, String) {
    static IMAGE: OnceLock<(String, String)> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let (name, tag) = image_ref();
            let reference = format!("{name}:{tag}");
            if docker(&["image", "inspect", "--format", "{{.Id}}", &reference]).is_err() {
                eprintln!("e2e: image {reference} not found; building it from the Dockerfile (this takes a while)");
                let root = workspace_root();
                let status = Command::new("docker")
                    .args(["build", "-t", &reference])
                    .arg(&root)
                    .env("DOCKER_BUILDKIT", "0")
                    .status()
                    .expect("running docker build");
                assert!(status.success(), "docker build of {reference} failed");
            }
            (name, tag)
        })
        .clone()
}

/// Removes containers and networks left behind by earlier runs that were killed (testcontainers
/// cleans up on drop, and a killed process drops nothing). Runs once per test process.
pub fn remove_stale() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let me = std::process::id().to_string();
        let filter = format!("label={LABEL}");
        let format = format!("{{{{.ID}}}} {{{{.Label \"{LABEL}\"}}}}");
        if let Ok(list) = docker(&["ps", "-a", "--filter", &filter, "--format", &format]) {
            for line in list.lines() {
                if let Some((id, pid)) = line.split_once(' ')
                    && pid != me
                {
                    let _ = docker(&["rm", "-f", "-v", id]);
                }
            }
        }
        if let Ok(list) = docker(&[
            "network",
            "ls",
            "--filter",
            "name=lt-e2e-",
            "--format",
            "{{.Name}}",
        ]) {
            for name in list
                .lines()
                .filter(|n| !n.starts_with(&format!("lt-e2e-{me}-")))
            {
                let _ = docker(&["network", "rm", name]);
            }
        }
    });
}

/// Disconnects a container from a network.
pub fn disconnect(network: &str, container: &str) -> Result<(), String> {
    docker(&["network", "disconnect", network, container]).map(|_| ())
}

/// Connects a container to a network (its name resolves again for the other members).
pub fn connect(network: &str, container: &str) -> Result<(), String> {
    docker(&["network", "connect", network, container]).map(|_| ())
}
