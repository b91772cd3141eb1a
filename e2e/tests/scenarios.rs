//! Scenarios against three real containers each (the image built from the top-level Dockerfile),
//! compared over gRPC only: the seed demo (multi-node sync with a late joiner, 20 transfers,
//! followed by the runner's dashboard, which must show the verdict and three equal heads),
//! identical query answers, rejection of misbehaving peers (the ban on the dashboard's timeline), continuous production with a late
//! joiner, and perturbations — restart, SIGKILL, pause, network cut — each ending with all nodes
//! equal; and the living network: four nodes on the compose testnet's genesis, validators
//! producing in their own slots through a stopped validator and a `docker network disconnect`
//! that forks the chain and heals into a reorg. Docker must be available: without it these tests fail, they never skip.

use std::time::Duration;

use e2e::{Cluster, NodeSpec};
use proto::node::v1::PeerState;
use testkit::dashboard::Dashboard;
use testkit::{
    FinalityWatch, NodeClient, check_transfers, converge, converge_final, query_answers,
    tally_transactions, wait_for, wait_for_height,
};

const T: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_is_reachable_and_accepts_the_client() {
    e2e::docker::ensure_engine().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_transfers_and_identical_queries() {
    let cluster = Cluster::start(
        "demo",
        vec![
            NodeSpec::validator(),
            NodeSpec::follower(),
            NodeSpec::follower(),
        ],
    )
    .await;
    // The runner's dashboard watches the three containers over their gRPC ports.
    let dashboard = Dashboard::start(
        "127.0.0.1:0".parse().unwrap(),
        cluster.nodes().into_iter().cloned().collect(),
    )
    .await
    .unwrap();
    let demo = testkit::demo::Demo {
        a: cluster.node(0).clone(),
        b: cluster.node(1).clone(),
        c: cluster.node(2).clone(),
        timeout: T,
        interval: Duration::from_secs(1),
        once: true,
        board: Some(dashboard.board.clone()),
    };
    demo.run().await.expect("the seed demo converges");
    let head = converge(&cluster.nodes(), 15, T).await.unwrap();
    assert_eq!(head.height, 15);
    // The board shows the verdict, the late join, and all three rows on the proven head.
    let board = wait_for("the dashboard to show three equal heads", T, || async {
        let state = dashboard.board.snapshot();
        let nodes = state["nodes"].as_array()?;
        (nodes.len() == 3 && nodes.iter().all(|n| n["head"] == head.head_hash.as_str()))
            .then_some(state)
    })
    .await
    .unwrap();
    assert_eq!(board["verdict"]["ok"], true, "{}", board["verdict"]);
    assert!(
        board["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "late join" && e["node"] == "node-c"),
        "{}",
        board["events"]
    );
    for n in cluster.nodes() {
        let checked = check_transfers(n, head.height).await.unwrap();
        assert!(checked >= 6, "{}: {checked} accounts checked", n.name);
    }
    let reference = query_answers(cluster.node(0), head.height).await.unwrap();
    assert!(reference.len() > 100);
    for n in &cluster.nodes()[1..] {
        assert_eq!(
            query_answers(n, head.height).await.unwrap(),
            reference,
            "{} answers like node-a",
            n.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_peers_are_banned_and_store_nothing() {
    for mode in ["wrong-state-root", "stall"] {
        // node-a honest validator; node-b holds the real chain and the key but serves corrupt data;
        // node-c knows only node-b. No peer exchange, so node-c meets node-a only when told.
        let cluster = Cluster::start(
            &format!("liar-{mode}"),
            vec![
                NodeSpec {
                    no_peer_exchange: true,
                    ..NodeSpec::validator()
                },
                NodeSpec {
                    key: Some("node-a".into()),
                    misbehave: Some(mode.into()),
                    peers: vec![0],
                    no_peer_exchange: true,
                    ..NodeSpec::default()
                },
                NodeSpec {
                    peers: vec![1],
                    no_peer_exchange: true,
                    ..NodeSpec::default()
                },
            ],
        )
        .await;
        let (a, liar, fresh) = (cluster.node(0), cluster.node(1), cluster.node(2));
        let dashboard = Dashboard::start(
            "127.0.0.1:0".parse().unwrap(),
            cluster.nodes().into_iter().cloned().collect(),
        )
        .await
        .unwrap();
        a.produce(6, 3).await.unwrap();
        wait_for_height(liar, 6, T).await.unwrap();
        wait_for(&format!("{mode}: node-c to ban node-b"), T, || async {
            let s = fresh.status().await.ok()?;
            s.peers
                .iter()
                .any(|p| p.address == liar.peer_address && p.state() == PeerState::Banned)
                .then_some(())
        })
        .await
        .unwrap();
        // The dashboard's timeline shows the ban.
        wait_for(
            &format!("{mode}: the dashboard to show the ban"),
            T,
            || async {
                let state = dashboard.board.snapshot();
                state["events"]
                    .as_array()?
                    .iter()
                    .any(|e| e["kind"] == "ban" && e["node"] == fresh.name.as_str())
                    .then_some(())
            },
        )
        .await
        .unwrap();
        assert_eq!(
            fresh.status().await.unwrap().height,
            0,
            "{mode}: nothing of node-b's data was stored"
        );
        fresh.add_peer(&a.peer_address).await.unwrap();
        converge(&[a, fresh], 6, T).await.unwrap();
        let s = fresh.status().await.unwrap();
        assert!(
            s.peers
                .iter()
                .any(|p| p.address == liar.peer_address && p.state() == PeerState::Banned),
            "{mode}: still banned"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_production_with_a_late_joiner() {
    let cluster = Cluster::start(
        "follow",
        vec![
            NodeSpec::validator(),
            NodeSpec::follower(),
            NodeSpec::follower(),
        ],
    )
    .await;
    let (a, b, c) = (
        cluster.node(0).clone(),
        cluster.node(1).clone(),
        cluster.node(2).clone(),
    );
    // A produces a block every 100 ms until told to stop.
    let stop = tokio_util_stop();
    let producer = {
        let a = a.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                tick.tick().await;
                a.produce(1, 1).await.expect("production");
            }
        })
    };
    wait_for_height(&a, 20, T).await.unwrap();
    b.add_peer(&a.peer_address).await.unwrap();
    let caught = wait_for("node-b to catch up", T, || async {
        let bh = b.status().await.ok()?.height;
        let ah = a.status().await.ok()?.height;
        (bh >= 20 && ah.saturating_sub(bh) <= 2).then_some(bh)
    })
    .await
    .unwrap();
    c.add_peer(&a.peer_address).await.unwrap();
    let max_lag = std::cell::Cell::new(0);
    wait_for("node-b to follow for 30 more blocks", T, || async {
        let bh = b.status().await.ok()?.height;
        let ah = a.status().await.ok()?.height;
        max_lag.set(max_lag.get().max(ah.saturating_sub(bh)));
        (bh >= caught + 30).then_some(())
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    producer.await.unwrap();
    assert!(
        max_lag.get() <= 2,
        "node-b fell {} blocks behind while following",
        max_lag.get()
    );
    let final_height = a.status().await.unwrap().height;
    let head = converge(&[&a, &b, &c], final_height, T).await.unwrap();
    assert_eq!(
        head.height, final_height,
        "after production stops every node matches exactly"
    );
}

fn tokio_util_stop() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_kill_pause_and_network_cut_each_end_equal() {
    let mut cluster = Cluster::start(
        "perturb",
        vec![
            NodeSpec::validator(),
            NodeSpec {
                peers: vec![0],
                ..NodeSpec::default()
            },
            NodeSpec {
                peers: vec![0],
                ..NodeSpec::default()
            },
        ],
    )
    .await;
    let a = cluster.node(0).clone();
    a.produce(10, 2).await.unwrap();
    converge(&cluster.nodes(), 10, T).await.unwrap();

    // Restart a follower: its data survives on its volume and it resumes.
    let before = cluster.node(1).status().await.unwrap().height;
    cluster.stop(1).await;
    a.produce(5, 2).await.unwrap();
    cluster.restart(1).await;
    let after = wait_for("node-b to answer after restart", T, || async {
        cluster.node(1).status().await.ok()
    })
    .await
    .unwrap();
    assert!(
        after.height >= before,
        "node-b restarted at {} below {before}: data lost",
        after.height
    );
    converge(&cluster.nodes(), 15, T).await.unwrap();

    // SIGKILL a syncing container, start it again.
    cluster.stop(2).await;
    for _ in 0..3 {
        a.produce(200, 3).await.unwrap();
    }
    let target = a.status().await.unwrap().height;
    cluster.restart(2).await;
    let c_height = cluster
        .node(2)
        .status()
        .await
        .map(|s| s.height)
        .unwrap_or(0);
    wait_for_height(cluster.node(2), c_height + 1, T)
        .await
        .unwrap();
    cluster.kill(2).await;
    cluster.restart(2).await;
    converge(&cluster.nodes(), target, T).await.unwrap();

    // Pause a node while production goes on; unpause it.
    cluster.pause(1).await;
    a.produce(5, 2).await.unwrap();
    cluster.unpause(1).await;
    converge(&cluster.nodes(), target + 5, T).await.unwrap();

    // Cut a node off the network while production goes on; reconnect it.
    cluster.disconnect(2).await;
    a.produce(5, 2).await.unwrap();
    cluster.connect(2).await;
    let head = converge(&cluster.nodes(), target + 10, T).await.unwrap();
    for n in cluster.nodes() {
        check_transfers(n, head.height).await.unwrap();
    }
}

/// `key:   value` from `luxtensor` output.
fn field<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{output}"))
        .trim()
}

/// Sends a transfer from dev account `from` with `nonce` through the node inside member `i`.
async fn send(cluster: &Cluster, i: usize, from: u32, nonce: u64, amount: u64) -> String {
    let out = cluster
        .luxtensor(
            i,
            &[
                "tx",
                "send",
                "--from-dev",
                &from.to_string(),
                "--nonce",
                &nonce.to_string(),
                "--to",
                "0x00000000000000000000000000000000000000aa",
                "--amount",
                &amount.to_string(),
            ],
        )
        .await;
    field(&out, "submitted").to_string()
}

/// Ten slots of the compose testnet's genesis.
const TEN_SLOTS: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_produce_on_their_own_through_a_stop_and_a_network_cut() {
    // The compose testnet's genesis: node-a (stake 2), node-b, node-c; 500 ms slots.
    let mut cluster = Cluster::start(
        "living",
        vec![
            NodeSpec::validator_as("node-a").living(),
            NodeSpec {
                peers: vec![0],
                ..NodeSpec::validator_as("node-b").living()
            },
            NodeSpec {
                peers: vec![0],
                ..NodeSpec::validator_as("node-c").living()
            },
            NodeSpec {
                peers: vec![0],
                ..NodeSpec::follower().living()
            },
        ],
    )
    .await;
    let finality = FinalityWatch::default();
    let kits = |c: &Cluster| -> Vec<NodeClient> { c.nodes().into_iter().cloned().collect() };
    let nodes = kits(&cluster);
    let refs: Vec<&NodeClient> = nodes.iter().collect();
    converge_final(&refs, 4, T).await.unwrap();
    finality.observe(&refs).await.unwrap();

    // A stopped validator for 10+ slots: A and B (3/4 of the stake) go on and finalize.
    let a = cluster.node(0).clone();
    let before = a.status().await.unwrap();
    cluster.stop(2).await;
    let stopped = std::time::Instant::now();
    let during = wait_for(
        "the chain to advance 8 blocks without node-c",
        T,
        || async {
            finality.observe(&refs[..2]).await.ok()?;
            let s = a.status().await.ok()?;
            (s.height >= before.height + 8 && stopped.elapsed() >= TEN_SLOTS).then_some(s)
        },
    )
    .await
    .unwrap();
    assert!(during.finalized_height > before.height, "finality went on");
    cluster.restart(2).await;
    let nodes = kits(&cluster);
    let refs: Vec<&NodeClient> = nodes.iter().collect();
    converge_final(&refs, during.height, T).await.unwrap();

    // node-c cut off the network for 10+ slots; transfers on both sides.
    cluster.disconnect(2).await;
    let cut = std::time::Instant::now();
    let split = a.status().await.unwrap().height;
    let mut hashes = Vec::new();
    for k in 0..4 {
        hashes.push(send(&cluster, 0, 0, k, 10 + k).await);
        hashes.push(send(&cluster, 2, 1, k, 20 + k).await);
    }
    wait_for("both sides to build their branches", T, || async {
        finality.observe(&refs).await.ok()?;
        let s = a.status().await.ok()?;
        (s.height >= split + 8 && cut.elapsed() >= TEN_SLOTS).then_some(())
    })
    .await
    .unwrap();
    // node-c's own view, from inside its container, just before it is reconnected.
    let minority = cluster.luxtensor(2, &["status"]).await;
    let (minority_height, minority_head) = (
        field(&minority, "height").parse::<u64>().unwrap(),
        field(&minority, "head").to_string(),
    );
    assert!(minority_height > split, "node-c produced alone: {minority}");
    cluster.connect(2).await;
    let nodes = kits(&cluster);
    let refs: Vec<&NodeClient> = nodes.iter().collect();
    wait_for("node-c to leave its branch", T, || async {
        finality.observe(&refs).await.ok()?;
        let h = refs[2].header(minority_height).await.ok()?;
        (h.hash != minority_head).then_some(())
    })
    .await
    .unwrap();
    let all = converge_final(&refs, minority_height, T).await.unwrap();
    for n in &refs {
        let h = n.header(minority_height).await.unwrap();
        assert_ne!(
            h.hash, minority_head,
            "{}: node-c's old head is canonical",
            n.name
        );
        check_transfers(n, all.height).await.unwrap();
    }
    assert!(
        refs[2].status().await.unwrap().reorgs >= 1,
        "node-c reorganized"
    );
    let tally = wait_for("every transfer to be included once", T, || async {
        finality.observe(&refs).await.ok()?;
        let now = converge_final(&refs, 0, Duration::from_secs(5))
            .await
            .ok()?;
        let t = tally_transactions(&refs, now.height, &hashes).await.ok()?;
        (t.pending == 0).then_some(t)
    })
    .await
    .unwrap();
    assert_eq!(tally.included, hashes.len());
    // A transfer sent to the follower, which never produces, is pushed on to the validators and
    // included by whichever leads next (`tx send` waits for its inclusion).
    let via_follower = cluster
        .luxtensor(
            3,
            &[
                "tx",
                "send",
                "--from-dev",
                "2",
                "--to",
                "0x00000000000000000000000000000000000000bb",
                "--amount",
                "7",
            ],
        )
        .await;
    assert!(
        field(&via_follower, "included").starts_with("block 0x"),
        "{via_follower}"
    );
    finality.observe(&refs).await.unwrap();
    println!(
        "living network: split at {split}, node-c alone reached {minority_height}, converged at {}; {} transfers included once",
        all.height, tally.included
    );
}
