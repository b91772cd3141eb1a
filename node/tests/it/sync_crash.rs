//! A syncing node process (the real `luxtensor` binary) is killed with SIGKILL at random moments
//! while it syncs from a peer, many times. After every kill its database reopens at a whole block
//! and re-verifies; each restart resumes from there; finally it converges with the source.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use node::ledger::Ledger;
use rand::Rng;

fn spawn(dir: &std::path::Path, genesis: &std::path::Path, port: u16, peer: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_luxtensor"))
        .args([
            "run",
            "--log",
            "warn",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--peer",
            peer,
        ])
        .arg("--data-dir")
        .arg(dir)
        .arg("--genesis")
        .arg(genesis)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_syncing_node_resumes_and_converges() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let source = start(Spec::new(&g).key(v.clone())).await;
    for _ in 0..3 {
        source.kit.produce(500, 5).await.unwrap();
    }
    let target = source.kit.status().await.unwrap().height;
    let files = tempfile::tempdir().unwrap();
    let genesis_path = files.path().join("genesis.json");
    std::fs::write(&genesis_path, g.to_json()).unwrap();
    let data = files.path().join("data");
    let mut rng = rand::thread_rng();
    let mut last = 0;
    let mut kills = 0;
    while kills < 10 {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = spawn(&data, &genesis_path, port, &source.addr);
        // Kill it at a random moment once it is making progress (or right away, sometimes).
        if rng.gen_bool(0.8) {
            let min = (last + 1).min(target);
            testkit::wait_for_height(&kit(&addr), min, Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("restart {kills} made no progress past {last}: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..120))).await;
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let ledger = Ledger::open(&data, &g, 15_000)
            .unwrap_or_else(|e| panic!("kill {kills}: database does not reopen: {e}"));
        let head = ledger.head();
        assert!(
            head.header.height >= last,
            "kill {kills}: head went backwards"
        );
        assert_eq!(
            ledger
                .store()
                .canonical_hash(head.header.height + 1)
                .unwrap(),
            None
        );
        let report = ledger
            .verify_chain(last.saturating_sub(1), head.header.height)
            .unwrap();
        assert_eq!(report.fault, None, "kill {kills}");
        last = head.header.height;
        if last == target {
            break;
        }
    }
    assert!(
        last > 0 && kills >= 3,
        "the node synced nothing between kills ({kills} kills)"
    );
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = spawn(&data, &genesis_path, port, &source.addr);
    let restarted = kit(&addr);
    testkit::converge(&[&source.kit, &restarted], target, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("the restarted node did not converge: {e}"));
    child.kill().unwrap();
    child.wait().unwrap();
    println!(
        "{kills} SIGKILLs during sync of {target} blocks; last kill at height {last}; converged"
    );
    source.node.shutdown().await;
}
