//! A syncing node process (the real `luxtensor` binary) is killed with SIGKILL at random moments
//! while it syncs from a peer, many times. After every kill its database reopens at a whole block
//! and re-verifies; each restart resumes from there; finally it converges with the source.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use node::ledger::Ledger;
use rand::Rng;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
        produce(&source.addr, 500, 5).await;
    }
    let target = status(&source.addr).await.height;
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
            let min = last + 1;
            wait_for(
                &format!("restart {kills} to make progress past {last}"),
                Duration::from_secs(30),
                || {
                    let addr = addr.clone();
                    async move {
                        let mut q =
                            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                                .ok()?
                                .connect()
                                .await
                                .ok()?;
                        let s = proto::node::v1::query_client::QueryClient::new(&mut q)
                            .get_status(proto::node::v1::GetStatusRequest {})
                            .await
                            .ok()?
                            .into_inner();
                        (s.height >= min.min(target)).then_some(())
                    }
                },
            )
            .await;
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
    wait_for(
        "the restarted node to answer",
        Duration::from_secs(30),
        || {
            let addr = addr.clone();
            async move {
                tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                    .ok()?
                    .connect()
                    .await
                    .ok()
            }
        },
    )
    .await;
    assert_converged(&[&source.addr, &addr], target, Duration::from_secs(60)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    println!(
        "{kills} SIGKILLs during sync of {target} blocks; last kill at height {last}; converged"
    );
    source.node.shutdown().await;
}
