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

/// Every other manifest under `deploy/testnets/` regenerates its committed compose file, genesis
/// and keys byte for byte too.
#[test]
fn every_manifest_regenerates_its_committed_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("deploy/testnets")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let manifest = format!(
            "deploy/testnets/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        for o in testnet::generate(testnet::Target::Compose, &root, &manifest).unwrap() {
            let committed = std::fs::read(root.join(&o.path))
                .unwrap_or_else(|e| panic!("{}: {e} (generate compose {manifest})", o.path));
            assert!(
                committed == o.bytes,
                "{} differs from what {manifest} gives (run `cargo run -p luxtensor-testnet -- generate compose {manifest}`)",
                o.path
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "demo, ci and large at least");
}

/// The testkit's list of misbehaviour modes is the node's, and its transfer signer derives the
/// node's dev accounts.
#[test]
fn testkit_agrees_with_the_node() {
    use clap::ValueEnum;
    let node_modes: Vec<String> = node::sync::Misbehave::value_variants()
        .iter()
        .map(|m| m.to_possible_value().unwrap().get_name().to_string())
        .collect();
    assert_eq!(node_modes, testkit::manifest::MISBEHAVIOURS);
    for i in [0, 1, 7] {
        assert_eq!(
            testkit::signer::Signer::dev(7777, i).address(),
            node::chain::genesis::dev_keypair(7777, i)
                .public()
                .address()
                .to_string()
        );
    }
}
