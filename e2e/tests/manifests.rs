//! Testnet manifests under testcontainers, with the runner `luxtensor-testnet run` uses under
//! Docker Compose: `deploy/testnets/ci.toml` (three validators, five full nodes — one
//! misbehaving, two late joiners — kill, pause, disconnect, restart, upgrade in place, a
//! three-way partition, load)
//! passes every assertion it makes. A test binary of its own, so that its eight containers do not
//! share the machine with the other scenarios' (test binaries run one after another).

use testkit::runner::RunOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_manifest_passes_under_testcontainers() {
    let mut cluster = e2e::Cluster::from_manifest("ci", "deploy/testnets/ci.toml").await;
    let report = cluster
        .run(&RunOptions {
            seed: None,
            events: true,
            live: true,
        })
        .await;
    print!("{}", report.render());
    cluster.down().await;
    assert!(report.passed(), "{}", report.render());
    // Every node of the manifest was compared, every fault applied, the load all included.
    let c = report.converged.as_ref().expect("a convergence proof");
    assert!(c.height >= 36, "{c:?}");
    let applied: Vec<&str> = report.applied.iter().map(|(_, e)| e.as_str()).collect();
    for fault in [
        "kill v3",
        "pause f1",
        "disconnect v2",
        "restart f2",
        "upgrade f3",
        "start f3",
        "start f4",
    ] {
        assert!(
            applied.iter().any(|e| e.contains(fault)),
            "{fault} not applied: {applied:?}"
        );
    }
    let load = report.load.as_ref().expect("the manifest has a load");
    assert!(!load.accepted.is_empty());
}
