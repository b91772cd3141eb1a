//! The committed deployment files are what the manifests give: `deploy/testnets/demo.toml`
//! regenerates the top-level `docker-compose.yml`, `deploy/prometheus/demo.yml`, `deploy/swarm/demo.yml`,
//! `deploy/kubernetes/demo/` and `deploy/testnet/genesis.json` byte for byte.

use std::path::PathBuf;

#[test]
fn demo_manifest_regenerates_the_committed_files_byte_for_byte() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut outputs =
        testnet::generate(testnet::Target::Compose, &root, "deploy/testnets/demo.toml").unwrap();
    let paths: Vec<&str> = outputs.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "deploy/testnet/genesis.json",
            "docker-compose.yml",
            "deploy/prometheus/demo.yml"
        ]
    );
    let swarm =
        testnet::generate(testnet::Target::Swarm, &root, "deploy/testnets/demo.toml").unwrap();
    assert_eq!(swarm.last().unwrap().path, "deploy/swarm/demo.yml");
    outputs.extend(swarm);
    let kubernetes = testnet::generate(
        testnet::Target::Kubernetes,
        &root,
        "deploy/testnets/demo.toml",
    )
    .unwrap();
    assert!(
        kubernetes
            .iter()
            .any(|o| o.path == "deploy/kubernetes/demo/kustomization.yaml")
    );
    outputs.extend(kubernetes);
    for o in &outputs {
        let committed = std::fs::read_to_string(root.join(&o.path)).unwrap();
        let generated = String::from_utf8(o.bytes.clone()).unwrap();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .map_or(
                    committed.lines().count().min(generated.lines().count()),
                    |i| i,
                );
            panic!(
                "{} differs from what deploy/testnets/demo.toml gives, first at line {}:\n  committed: {:?}\n  generated: {:?}\n(run `cargo run -p luxtensor-testnet -- generate compose|swarm deploy/testnets/demo.toml`)",
                o.path,
                line + 1,
                committed.lines().nth(line),
                generated.lines().nth(line)
            );
        }
    }
}
