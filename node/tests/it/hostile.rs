//! A hostile network against nodes on loopback (the real `luxtensor` binary where memory, CPU,
//! signals or descriptor limits are measured): streams that are never read, abandoned expensive
//! calls, silent connections up to the descriptor limit, peers that drip data, handshakes with
//! made-up addresses, bans across a restart, abandoned production, SIGTERM during production,
//! undecodable requests, forged small-order senders, and settings out of range. Every loop is
//! bounded in count and time; every wait polls with a deadline.

use std::time::{Duration, Instant};

use crate::common::*;
use node::chain::genesis::GenesisAccount;
use node::chain::{Address, PublicKey, Signature, Transaction};
use node::sync::Misbehave;
use proto::node::v1 as api;
use proto::sync::v1 as wire;
use testkit::NodeClient;
use tonic::Code;

/// The last 40 lines of a log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A validator process on a chain of `blocks` blocks with transfers (made on demand: 1 ms
/// slots), then producing a block every 200 ms (on demand too, from a task of the test that
/// ends with the test; at most 10 minutes).
async fn producing_validator(blocks: u32, nofile: Option<u32>, extra: &[&str]) -> NodeProcess {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let mut args = vec!["--paused"];
    args.extend_from_slice(extra);
    let node = NodeProcess::spawn(&g, Some(&v), &args, nofile);
    wait_until("the validator to answer", || async {
        node.kit.status().await.ok()
    })
    .await;
    if blocks > 0 {
        node.kit.produce(blocks, 2).await.unwrap();
    }
    let kit = node.kit.clone();
    tokio::spawn(async move {
        for _ in 0..3000 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Refusals under attack are part of what the tests look at; production goes on.
            let _ = kit.produce(1, 2).await;
        }
    });
    node
}

/// Waits until `node` produced `more` blocks beyond its current height (production goes on).
async fn produces(node: &NodeProcess, more: u64) -> u64 {
    let from = node.kit.status().await.unwrap().height;
    if let Err(e) = testkit::wait_for_height(&node.kit, from + more, T).await {
        panic!(
            "production stalled: {e}\n--- node log (end) ---\n{}",
            tail(&node.log())
        );
    }
    from + more
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_read_streams_from_one_connection_stall_nothing() {
    let validator = producing_validator(300, None, &[]).await;
    // One connection, 600 header streams that are never read: their flow-control windows fill
    // and stay full.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", validator.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let genesis_hash = node::chain::types::parse_hex::<32>(
        "genesis",
        &validator.kit.status().await.unwrap().genesis_hash,
    )
    .unwrap();
    let mut held = Vec::new();
    for _ in 0..600 {
        let mut client = wire::sync_service_client::SyncServiceClient::new(channel.clone());
        let locator = vec![genesis_hash.to_vec()];
        held.push(tokio::spawn(async move {
            let response = client
                .get_headers(wire::GetHeadersRequest {
                    locator,
                    max_count: 2048,
                })
                .await;
            // Hold the stream unread until the test ends.
            std::future::pending::<()>().await;
            drop(response);
        }));
    }
    // Production goes on at its interval, a new follower syncs from the validator, and does not
    // ban it.
    produces(&validator, 10).await;
    // Reads for other callers are served meanwhile (the unread streams hold no read permit).
    let blocks = validator.kit.blocks(0, 5).await.unwrap();
    assert_eq!(blocks.len(), 6);
    let g = genesis(std::slice::from_ref(&crate::common::validator(0)), 5);
    let follower = start(Spec::new(&g).peer(&validator.addr)).await;
    let target = validator.kit.status().await.unwrap().height;
    if let Err(e) = testkit::wait_for_height(&follower.kit, target, T).await {
        panic!(
            "the follower did not sync: {e}\n--- validator log (end) ---\n{}",
            tail(&validator.log())
        );
    }
    assert!(
        !peer_is(&follower, &validator.addr, api::PeerState::Banned).await,
        "the honest validator was banned"
    );
    let rss = validator.peak_rss_mib();
    println!("600 unread streams: production and sync went on; validator peak RSS {rss} MiB");
    assert!(rss < 512, "validator memory grew to {rss} MiB");
    for h in held {
        h.abort();
    }
    follower.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abandoned_chain_verifications_stop_and_free_their_budget() {
    let validator = producing_validator(1000, None, &[]).await;
    let cpu_before = validator.cpu_secs();
    let mut query = query(&validator.addr).await;
    // 50 whole-chain verifications whose callers give up after 100 ms.
    let mut refused_busy = 0;
    for _ in 0..50 {
        let mut request = tonic::Request::new(api::VerifyChainRequest {
            from_height: 0,
            to_height: None,
        });
        request.set_timeout(Duration::from_millis(100));
        match query.verify_chain(request).await {
            Err(s) if s.code() == Code::ResourceExhausted => refused_busy += 1,
            Err(s) => assert!(
                matches!(s.code(), Code::DeadlineExceeded | Code::Cancelled),
                "{s:?}"
            ),
            Ok(_) => {}
        }
    }
    // Production went on; the verifications stopped, so a patient caller gets a permit.
    produces(&validator, 5).await;
    let ok = wait_until("a verification to run to the end", || {
        let mut q = query.clone();
        async move {
            q.verify_chain(api::VerifyChainRequest {
                from_height: 0,
                to_height: Some(100),
            })
            .await
            .ok()
            .map(|r| r.into_inner())
        }
    })
    .await;
    assert!(ok.ok && ok.blocks_checked == 101);
    let cpu = validator.cpu_secs() - cpu_before;
    println!(
        "50 abandoned VerifyChain calls ({refused_busy} refused as busy): node CPU {cpu:.2}s in total"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_connections_up_to_the_descriptor_limit_lock_nobody_out() {
    // 256 descriptors: the node caps itself at 128 connections.
    let validator = producing_validator(0, Some(256), &["--first-byte-timeout", "1s"]).await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = tokio::net::TcpStream::connect(&validator.addr).await {
            silent.push(s);
        }
    }
    let cpu_before = validator.cpu_secs();
    let since = Instant::now();
    // Production goes on while the connections sit there.
    produces(&validator, 5).await;
    // The silent ones are closed after the first-byte timeout; a real client gets in.
    let status = wait_until("a new client to be served", || async {
        kit(&validator.addr).status().await.ok()
    })
    .await;
    assert!(status.height >= 5);
    let cpu = (validator.cpu_secs() - cpu_before) / since.elapsed().as_secs_f64();
    let log = validator.log();
    assert!(
        log.contains("connection refused") || log.contains("accepting a connection failed"),
        "the refusals are logged ({} connections made):\n{}",
        silent.len(),
        tail(&log)
    );
    println!(
        "{} silent connections at a 256-descriptor limit: served again; node CPU {:.0}% of a core meanwhile",
        silent.len(),
        cpu * 100.0
    );
    assert!(
        cpu < 0.9,
        "the accept loop spins ({:.0}% of a core)",
        cpu * 100.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drip_peers_never_slow_a_sync_much_and_the_honest_peer_is_never_charged() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let honest = start(Spec::new(&g).key(v.clone()).no_discovery()).await;
    honest.kit.produce(300, 1).await.unwrap();
    // Five peers hold the real chain but drip it, one message every 4.5 s.
    let mut drips = Vec::new();
    for _ in 0..5 {
        let d = start(
            Spec::new(&g)
                .key(v.clone())
                .peer(&honest.addr)
                .misbehave(Misbehave::Drip)
                .no_discovery(),
        )
        .await;
        wait_height(&d, 300).await;
        drips.push(d);
    }
    // The default 5 s stall timeout, which the drip stays under.
    let sync = |peers: Vec<String>| {
        let g = g.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let mut spec = Spec::new(&g).no_discovery();
            spec.peers = peers;
            let mut config = node_config(&spec, dir.path());
            config.timeouts.stall = Duration::from_secs(5);
            let node = node::Node::start(config).await.unwrap();
            let k = kit(&node.local_addr().to_string());
            let t = Instant::now();
            testkit::wait_for_height(&k, 300, Duration::from_secs(120))
                .await
                .unwrap();
            (t.elapsed(), node, k, dir)
        }
    };
    let (alone, n1, _, _d1) = sync(vec![honest.addr.clone()]).await;
    n1.shutdown().await;
    let mut peers: Vec<String> = drips.iter().map(|d| d.addr.clone()).collect();
    peers.push(honest.addr.clone());
    let (with_drips, n2, k2, _d2) = sync(peers).await;
    let status = k2.status().await.unwrap();
    let honest_entry = status
        .peers
        .iter()
        .find(|p| p.address == honest.addr)
        .expect("the honest peer is known");
    assert!(
        honest_entry.score >= 0 && honest_entry.state() != api::PeerState::Banned,
        "the honest peer was charged: {honest_entry:?}"
    );
    println!(
        "300-block sync: {:.2}s from the honest peer alone, {:.2}s next to 5 drip peers ({:.1}x)",
        alone.as_secs_f64(),
        with_drips.as_secs_f64(),
        with_drips.as_secs_f64() / alone.as_secs_f64().max(0.001)
    );
    n2.shutdown().await;
    for d in drips {
        d.node.shutdown().await;
    }
    honest.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handshakes_from_dead_addresses_never_crowd_out_real_peers() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let target = start(Spec::new(&g).key(v.clone())).await;
    target.kit.produce(3, 0).await.unwrap();
    let status = target.kit.status().await.unwrap();
    let genesis_hash = node::chain::types::parse_hex::<32>("genesis", &status.genesis_hash)
        .unwrap()
        .to_vec();
    let mut sync = wire::sync_service_client::SyncServiceClient::new(channel(&target.addr).await);
    // 100 handshakes advertising addresses where nobody listens.
    for _ in 0..100 {
        let dead = format!("127.0.0.1:{}", free_port());
        sync.handshake(wire::HandshakeRequest {
            status: Some(wire::NodeStatus {
                chain_id: CHAIN_ID,
                genesis_hash: genesis_hash.clone(),
                head_height: 0,
                head_hash: genesis_hash.clone(),
                state_root: vec![0; 32],
                listen_address: dead,
            }),
        })
        .await
        .unwrap();
    }
    // A real node that introduces itself the same way is dialed back and becomes a peer; the
    // dead addresses never do.
    let real = start(Spec::new(&g).peer(&target.addr).no_discovery()).await;
    wait_until("the real peer to be learned from its handshake", || async {
        peer_is(&target, &real.addr, api::PeerState::Ready)
            .await
            .then_some(())
    })
    .await;
    let peers = target.kit.status().await.unwrap().peers;
    assert_eq!(
        peers.len(),
        1,
        "only the real peer entered the book: {peers:?}"
    );
    // The operator can always add a peer.
    let operator = start(Spec::new(&g)).await;
    target.node.add_peer(&operator.addr).unwrap();
    // A 100 KB host name is refused with a clear error.
    let mut ctl = control_with(&target.addr, Some(TOKEN)).await;
    let e = ctl
        .add_peer(api::AddPeerRequest {
            address: format!("{}:1", "h".repeat(100_000)),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("at most"), "{}", e.message());
    for n in [target, real, operator] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ban_survives_a_restart() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let honest = start(Spec::new(&g).key(v.clone()).no_discovery()).await;
    honest.kit.produce(4, 0).await.unwrap();
    let liar = start(
        Spec::new(&g)
            .key(v.clone())
            .peer(&honest.addr)
            .misbehave(Misbehave::BadSignature)
            .no_discovery(),
    )
    .await;
    wait_height(&liar, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&g).peer(&liar.addr).no_discovery();
    let fresh = node::Node::start(node_config(&spec, dir.path()))
        .await
        .unwrap();
    let k = kit(&fresh.local_addr().to_string());
    wait_until("the liar to be banned", || async {
        let s = k.status().await.ok()?;
        s.peers
            .iter()
            .any(|p| p.address == liar.addr && p.state() == api::PeerState::Banned)
            .then_some(())
    })
    .await;
    fresh.shutdown().await;
    // Same data directory, no peers given: the ban is there from the start.
    let spec = Spec::new(&g).no_discovery();
    let restarted = node::Node::start(node_config(&spec, dir.path()))
        .await
        .unwrap();
    let k = kit(&restarted.local_addr().to_string());
    let s = wait_until("the restarted node to answer", || async {
        k.status().await.ok()
    })
    .await;
    let ban = s
        .peers
        .iter()
        .find(|p| p.address == liar.addr)
        .expect("the ban was restored");
    assert_eq!(ban.state(), api::PeerState::Banned);
    assert!(ban.banned_for_secs > 0);
    restarted.shutdown().await;
    liar.node.shutdown().await;
    honest.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abandoned_produce_blocks_stops() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let n = start(Spec::new(&g).key(v.clone())).await;
    let mut ctl = control_with(&n.addr, Some(TOKEN)).await;
    let mut request = tonic::Request::new(api::ProduceBlocksRequest {
        count: 1000,
        transfers_per_block: 1000,
    });
    request.set_timeout(Duration::from_secs(1));
    let e = ctl.produce_blocks(request).await.unwrap_err();
    assert!(
        matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{e:?}"
    );
    // Wait until the height has not moved for a full second (20 polls), then check that the
    // node stopped well short of the 1000 blocks asked for.
    let last = std::cell::Cell::new(u64::MAX);
    let still = std::cell::Cell::new(0);
    let stopped_at = wait_until("production to stop", || async {
        let h = n.kit.status().await.ok()?.height;
        if h == last.get() {
            still.set(still.get() + 1);
        } else {
            still.set(0);
            last.set(h);
        }
        (still.get() >= 20).then_some(h)
    })
    .await;
    println!("ProduceBlocks(1000 x 1000) abandoned after 1 s: stopped at height {stopped_at}");
    assert!(stopped_at < 1000, "production went on to {stopped_at}");
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_production_exits_within_seconds_and_produces_nothing_after() {
    let mut validator = producing_validator(0, None, &[]).await;
    let producer = {
        let kit = validator.kit.clone();
        tokio::spawn(async move { kit.produce(1000, 1000).await })
    };
    testkit::wait_for_height(&validator.kit, 3, T)
        .await
        .unwrap();
    let signalled = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &validator.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        validator.exited_within(Duration::from_secs(15)).await,
        "the node did not exit within 15 s of SIGTERM"
    );
    let took = signalled.elapsed();
    let _ = producer.await;
    let log = validator.log();
    let after = log
        .split_once("production stopped")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| panic!("the node logged no 'production stopped':\n{}", tail(&log)));
    assert!(
        !after.contains("produced block"),
        "a block was produced after the shutdown began"
    );
    println!(
        "SIGTERM during ProduceBlocks(1000 x 1000): exited in {:.2}s",
        took.as_secs_f64()
    );
}

/// A codec that sends raw bytes, to put undecodable requests on the wire.
#[derive(Clone, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_requests_are_the_callers_mistake() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let n = start(Spec::new(&g).key(v.clone())).await;
    let mut grpc = tonic::client::Grpc::new(channel(&n.addr).await);
    grpc.ready().await.unwrap();
    for (path, bytes) in [
        (
            "/luxtensor.node.v1.QueryService/GetBlock",
            vec![0xff, 0xff, 0xff, 0xff],
        ),
        (
            "/luxtensor.sync.v1.SyncService/Handshake",
            vec![0x0a, 0x05, 0x01],
        ),
    ] {
        grpc.ready().await.unwrap();
        let e = grpc
            .unary(tonic::Request::new(bytes), path.parse().unwrap(), RawCodec)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{path}: {e:?}");
        assert!(e.message().contains("does not decode"), "{}", e.message());
    }
    n.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funds_at_a_small_order_key_cannot_be_taken() {
    // Under ZIP 215, R = identity and S = 0 verify for the identity key on any message; the
    // chain refuses small-order senders, so the 1,000 sent there stay there.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let identity = PublicKey(identity);
    let mut forged = [0u8; 64];
    forged[..32].copy_from_slice(&identity.0);
    let v = validator(0);
    let mut g = genesis(std::slice::from_ref(&v), 2);
    g.accounts.push(GenesisAccount {
        address: identity.address().to_string(),
        balance: 1000,
    });
    let tx = Transaction {
        chain_id: CHAIN_ID,
        sender: identity,
        nonce: 0,
        recipient: Address([0xee; 20]),
        amount: 1000,
        fee: 0,
        signature: Signature(forged),
    };
    assert!(
        node::chain::crypto::verify(
            &identity,
            &tx.signing_message(&genesis_hash(&g)),
            &tx.signature
        )
        .is_ok(),
        "the forged signature verifies under ZIP 215"
    );
    // Refused by the mempool…
    let n = start(Spec::new(&g).key(v.clone())).await;
    let e = transactions(&n.addr)
        .await
        .submit_transaction(api::SubmitTransactionRequest {
            transaction: Some(node::rpc::convert::tx_to_api(&tx)),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("small order"), "{}", e.message());
    // …and in a block, even one its validator signed.
    let ledger = n.node.ledger();
    let block = block_on(ledger, &ledger.head().header, &v, vec![], 0);
    let mut forged_block = block.clone();
    forged_block.transactions = vec![tx];
    forged_block.header.tx_count = 1;
    forged_block.header.tx_root = node::chain::merkle::tx_root(&forged_block.transactions);
    sign(&mut forged_block.header, &v);
    let e = ledger
        .import_block(&forged_block, node::ledger::now_ms())
        .unwrap_err();
    assert!(e.to_string().contains("small order"), "{e}");
    n.node.shutdown().await;
}

#[test]
fn settings_out_of_range_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let v = validator(0);
    let good = genesis(std::slice::from_ref(&v), 2);
    let write = |name: &str, g: &node::chain::Genesis| {
        let p = dir.path().join(name);
        std::fs::write(&p, g.to_json()).unwrap();
        p.display().to_string()
    };
    let good_path = write("good.json", &good);
    let mut many_dev = good.clone();
    many_dev.dev_accounts = u32::MAX - 1;
    let mut late = good.clone();
    late.genesis_time_ms = u64::MAX - 1;
    let mut off_curve = good.clone();
    off_curve.validators = vec![node::chain::genesis::GenesisValidator::Key(
        (2u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                PublicKey(b)
            })
            .find(|k| !node::chain::crypto::is_valid_point(k))
            .unwrap()
            .to_string(),
    )];
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--genesis".into(), write("dev.json", &many_dev)],
            "dev_accounts",
        ),
        (
            vec!["--genesis".into(), write("late.json", &late)],
            "genesis_time_ms",
        ),
        (
            vec!["--genesis".into(), write("curve.json", &off_curve)],
            "not a point",
        ),
        (
            vec![
                "--genesis".into(),
                good_path.clone(),
                "--ban-duration".into(),
                "100000000000s".into(),
            ],
            "--ban-duration",
        ),
        (
            vec![
                "--genesis".into(),
                good_path.clone(),
                "--control-token".into(),
                String::new(),
            ],
            "--control-token",
        ),
        (
            vec![
                "--genesis".into(),
                good_path.clone(),
                "--mempool-limit".into(),
                "0".into(),
            ],
            "--mempool-limit",
        ),
    ];
    for (args, named) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_luxtensor"))
            .arg("run")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            stderr.contains(named) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_ends_in_a_clean_exit_and_loses_nothing() {
    // The node runs in its own user and mount namespace (`unshare -rm`, no privileges needed
    // where unprivileged user namespaces are enabled, as on Debian) with its data on a 48 MiB
    // tmpfs of which it keeps 32 MiB free; after it exits the tmpfs is enlarged and a second
    // node opens the same directory.
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let v = validator(0);
    std::fs::write(
        w.join("g.json"),
        genesis(std::slice::from_ref(&v), 5).to_json(),
    )
    .unwrap();
    node::config::write_key(&w.join("k.json"), &v).unwrap();
    let (p1, p2) = (free_port(), free_port());
    let script = r#"
set -u
mkdir -p "$W/mnt"
mount -t tmpfs -o size=48m tmpfs "$W/mnt" || { echo mount-failed > "$W/exit"; exit 1; }
"$LUX" run --data-dir "$W/mnt/data" --genesis "$W/g.json" --validator-key "$W/k.json" \
  --control-token t --listen "127.0.0.1:$P1" --min-free-disk-mib 32 --paused > "$W/node1.log" 2>&1
echo $? > "$W/exit"
mount -o remount,size=64m "$W/mnt"
exec "$LUX" run --data-dir "$W/mnt/data" --genesis "$W/g.json" --listen "127.0.0.1:$P2" \
  > "$W/node2.log" 2>&1
"#;
    let child = std::process::Command::new("unshare")
        // A PID namespace whose init (the script) is killed with `unshare`: every node in it
        // goes too, however the test ends.
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "bash",
            "-c",
            script,
        ])
        .env("W", w)
        .env("LUX", env!("CARGO_BIN_EXE_luxtensor"))
        .env("P1", p1.to_string())
        .env("P2", p2.to_string())
        .spawn()
        .expect("this test needs `unshare` (util-linux) and unprivileged user namespaces");
    // Killed however the test ends (the second node is the same process, exec'd by the script).
    let _guard = KillOnDrop(child);
    let first =
        NodeClient::new("full", &format!("http://127.0.0.1:{p1}"), None, Some("t")).unwrap();
    wait_until("the node on the small disk to answer", || async {
        first.status().await.ok()
    })
    .await;
    // Produce until writes are refused for lack of space (bounded: 200 calls).
    let mut full = None;
    for _ in 0..200 {
        if let Err(e) = first.produce(20, 500).await {
            full = Some(e.to_string());
            break;
        }
    }
    let full = full.expect("the 48 MiB disk never filled");
    assert!(
        full.contains("DISK_FULL") || full.contains("disk almost full"),
        "{full}\n{}",
        tail(&std::fs::read_to_string(w.join("node1.log")).unwrap_or_default())
    );
    let committed = first.status().await.unwrap().height;
    assert!(
        std::process::Command::new("pkill")
            .args(["-TERM", "-f", &format!("listen 127.0.0.1:{p1}")])
            .status()
            .unwrap()
            .success()
    );
    let exit = wait_until("the node to exit after SIGTERM", || async {
        std::fs::read_to_string(w.join("exit")).ok()
    })
    .await;
    let log = std::fs::read_to_string(w.join("node1.log")).unwrap_or_default();
    assert_eq!(
        exit.trim(),
        "0",
        "the node did not exit cleanly on a full disk:\n{}",
        tail(&log)
    );
    // Reopened with room again: every committed block is there and the chain verifies.
    let second = kit(&format!("127.0.0.1:{p2}"));
    let status = wait_until("the reopened node to answer", || async {
        second.status().await.ok()
    })
    .await;
    assert_eq!(status.height, committed, "committed blocks were lost");
    let verify = second.verify_chain().await.unwrap();
    assert!(verify.ok, "{:?}", verify.fault);
    println!(
        "disk full after {committed} blocks: clean exit, reopened at {} and verified",
        status.height
    );
}

/// Kills (and reaps) a child process when dropped, also when a test panics.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
