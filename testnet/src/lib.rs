//! Testnets as code. A network is described once, in a TOML manifest under `deploy/testnets/`
//! ([`manifest`]), and generated into what a target needs: the genesis and validator key files
//! every node mounts ([`files`]), the compose file ([`compose`]) and the Docker Swarm stack file
//! ([`swarm`]) and a kustomize directory for Kubernetes ([`kubernetes`]). The top-level
//! `docker-compose.yml` is the compose output of `deploy/testnets/demo.toml`, and
//! `deploy/swarm/demo.yml` and `deploy/kubernetes/demo/` its other outputs; a test fails when
//! they disagree. [`compose_backend`] runs a manifest under Docker Compose with the runner of
//! `testkit::runner` (`luxtensor-testnet run`), [`swarm_backend`] under a single-node Docker
//! Swarm (`luxtensor-testnet run --target swarm`).

pub mod compose;
pub mod compose_backend;
mod engine;
pub mod files;
pub mod kubernetes;
pub mod swarm;
pub mod swarm_backend;

use std::path::Path;

pub use files::Output;
pub use testkit::manifest::{self, Manifest, ManifestError};

/// Where generated files go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// `docker-compose.yml` at the repository root, plus the network's files.
    Compose,
    /// `deploy/swarm/<network>.yml`, a stack file for `docker stack deploy`, plus the network's
    /// files.
    Swarm,
    /// `deploy/kubernetes/<network>/`, a kustomize directory (`kubectl apply -k`).
    Kubernetes,
}

/// Reads and checks the manifest at `manifest_path` (relative to `root`).
pub fn load_manifest(root: &Path, manifest_path: &str) -> anyhow::Result<Manifest> {
    let text = std::fs::read_to_string(root.join(manifest_path))
        .map_err(|e| anyhow::anyhow!("{manifest_path}: {e}"))?;
    Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{manifest_path}: {e}"))
}

/// Everything `target` needs for the manifest at `manifest_path` (relative to `root`, the
/// repository root), as paths relative to `root`.
pub fn generate(target: Target, root: &Path, manifest_path: &str) -> anyhow::Result<Vec<Output>> {
    let m = load_manifest(root, manifest_path)?;
    let (_, mut outputs) =
        files::network_files(&m, root).map_err(|e| anyhow::anyhow!("{manifest_path}: {e}"))?;
    match target {
        Target::Compose => {
            outputs.push(Output {
                path: m.compose_path(),
                bytes: compose::compose_file(&m, manifest_path).into_bytes(),
            });
            if let Some(config) = compose::prometheus_config(&m, manifest_path) {
                outputs.push(Output {
                    path: compose::prometheus_path(&m.network.name),
                    bytes: config.into_bytes(),
                });
            }
        }
        Target::Swarm => outputs.push(Output {
            path: swarm::stack_path(&m.network.name),
            bytes: swarm::stack_file(&m, manifest_path).into_bytes(),
        }),
        Target::Kubernetes => {
            let mut given = Vec::new();
            for node in m.nodes.iter().filter(|n| n.key.is_some()) {
                let file = node.key_file().expect("a node with a key file");
                let path = root.join(&m.network.files).join(&file);
                let bytes =
                    std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                given.push((file, bytes));
            }
            let copies = kubernetes::kustomize(&m, manifest_path, &outputs, &given);
            outputs.extend(copies);
        }
    }
    Ok(outputs)
}
