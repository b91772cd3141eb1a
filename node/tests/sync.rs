//! Header-first sync between in-process nodes over real gRPC on loopback, each node with its own
//! RocksDB in a temp dir: multi-node convergence with a late joiner, rejection of every kind of
//! misbehaving peer, state equality after transfers, continuous production with a late joiner,
//! identical query answers on every node, and fork resolution after equivocation.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use node::sync::Misbehave;
use proto::node::v1 as api;

const T: Duration = Duration::from_secs(30);

fn id_height(h: u64) -> Option<api::block_id::Id> {
    Some(api::block_id::Id::Height(h))
}

/// (balance, nonce) of the five dev accounts on a node.
async fn accounts(addr: &str) -> Vec<(u64, u64)> {
    let mut q = query(addr).await;
    let mut out = Vec::new();
    for i in 0..5 {
        let a = q
            .get_account(api::GetAccountRequest {
                address: dev(i).public().address().to_string(),
                height: None,
                include_proof: false,
            })
            .await
            .unwrap()
            .into_inner();
        out.push((a.balance, a.nonce));
    }
    out
}

/// Balances and nonces implied by the canonical blocks' transfers, replayed from genesis here.
async fn replay_expected(addr: &str, height: u64) -> BTreeMap<String, (u64, u64)> {
    let mut q = query(addr).await;
    let mut state: BTreeMap<String, (u64, u64)> = (0..5)
        .map(|i| (dev(i).public().address().to_string(), (DEV_BALANCE, 0)))
        .collect();
    for h in 1..=height {
        let b = q
            .get_block(api::BlockId { id: id_height(h) })
            .await
            .unwrap()
            .into_inner();
        let producer = node::chain::PublicKey::from_hex(&b.header.unwrap().producer)
            .unwrap()
            .address()
            .to_string();
        for tx in b.transactions {
            let s = state.entry(tx.sender.clone()).or_default();
            assert_eq!(s.1, tx.nonce, "nonces in canonical order");
            s.0 -= tx.amount + tx.fee;
            s.1 += 1;
            state.entry(tx.recipient).or_default().0 += tx.amount;
            state.entry(producer.clone()).or_default().0 += tx.fee;
        }
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_node_sync_with_a_late_joiner() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let a = start(Spec::new(&g).key(v.clone())).await;
    let b = start(Spec::new(&g).peer(&a.addr)).await;
    produce(&a.addr, 10, 0).await;
    assert_converged(&[&a.addr, &b.addr], 10, T).await;
    produce(&a.addr, 5, 4).await;
    // C knows only A; it learns B through peer exchange.
    let c = start(Spec::new(&g).peer(&a.addr)).await;
    let head = assert_converged(&[&a.addr, &b.addr, &c.addr], 15, T).await;
    assert_eq!(head.height, 15);
    let expected = replay_expected(&a.addr, 15).await;
    for n in [&a.addr, &b.addr, &c.addr] {
        let got = accounts(n).await;
        for (i, (bal, nonce)) in got.iter().enumerate() {
            assert_eq!(
                expected[&dev(i as u32).public().address().to_string()],
                (*bal, *nonce),
                "{n}: account {i}"
            );
        }
    }
    wait_for("C to learn B from A's peer list", T, || async {
        status(&c.addr)
            .await
            .peers
            .iter()
            .any(|p| p.address == b.addr && p.state == "ready")
            .then_some(())
    })
    .await;
    for n in [a, b, c] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_transfers_leave_identical_state_everywhere() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let a = start(Spec::new(&g).key(v.clone())).await;
    let b = start(Spec::new(&g).peer(&a.addr)).await;
    let c = start(Spec::new(&g).peer(&b.addr)).await;
    let mut ctl = control(&a.addr).await;
    let mut expected: BTreeMap<u32, (u64, u64)> = (0..5).map(|i| (i, (DEV_BALANCE, 0))).collect();
    for n in 0..20u32 {
        let (from, to) = (n % 5, (n * 3 + 1) % 5);
        let to = if to == from { (to + 1) % 5 } else { to };
        let (amount, fee) = (1_000 + u64::from(n), 2);
        let tx = transfer(
            &dev(from),
            expected[&from].1,
            dev(to).public().address(),
            amount,
            fee,
        );
        ctl.submit_transaction(api::SubmitTransactionRequest {
            transaction: Some(node::rpc::convert::tx_to_api(&tx)),
        })
        .await
        .unwrap();
        let s = expected.get_mut(&from).unwrap();
        s.0 -= amount + fee;
        s.1 += 1;
        expected.get_mut(&to).unwrap().0 += amount;
        if n % 4 == 3 {
            produce(&a.addr, 1, 0).await;
        }
    }
    assert_converged(&[&a.addr, &b.addr, &c.addr], 5, T).await;
    let want: Vec<(u64, u64)> = expected.values().copied().collect();
    for n in [&a.addr, &b.addr, &c.addr] {
        assert_eq!(accounts(n).await, want, "{n}");
    }
    for n in [a, b, c] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_misbehaving_peer_is_banned_and_stores_nothing() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    // No peer exchange anywhere: the fresh node must meet only the liar until told otherwise.
    let honest = start(Spec::new(&g).key(v.clone()).no_discovery()).await;
    produce(&honest.addr, 6, 3).await;
    for mode in [
        Misbehave::BadSignature,
        Misbehave::BrokenLink,
        Misbehave::TamperedTx,
        Misbehave::WrongStateRoot,
        Misbehave::Withhold,
        Misbehave::Stall,
    ] {
        // The liar holds the real chain and the validator key (so it can re-sign what it corrupts),
        // but serves corrupt data.
        let liar = start(
            Spec::new(&g)
                .key(v.clone())
                .peer(&honest.addr)
                .misbehave(mode)
                .no_discovery(),
        )
        .await;
        wait_height(&liar.addr, 6, T).await;
        let fresh = start(Spec::new(&g).peer(&liar.addr).no_discovery()).await;
        wait_for(&format!("{mode:?}: the liar to be banned"), T, || async {
            status(&fresh.addr)
                .await
                .peers
                .iter()
                .any(|p| p.address == liar.addr && p.state == "banned")
                .then_some(())
        })
        .await;
        let s = status(&fresh.addr).await;
        assert_eq!(
            s.height, 0,
            "{mode:?}: nothing of the liar's chain was stored"
        );
        assert!(verify(&fresh.addr).await.ok);
        // With an honest peer it completes sync, and the banned liar stays out.
        fresh.node.add_peer(&honest.addr).unwrap();
        assert_converged(&[&honest.addr, &fresh.addr], 6, T).await;
        let s = status(&fresh.addr).await;
        assert!(
            s.peers
                .iter()
                .any(|p| p.address == liar.addr && p.state == "banned"),
            "{mode:?}: still banned"
        );
        liar.node.shutdown().await;
        fresh.node.shutdown().await;
    }
    honest.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn continuous_production_with_a_late_joiner() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let a = start(
        Spec::new(&g)
            .key(v.clone())
            .interval(Duration::from_millis(100)),
    )
    .await;
    wait_height(&a.addr, 20, T).await;
    let b = start(Spec::new(&g).peer(&a.addr)).await;
    let caught_up = wait_for("B to catch up with A", T, || async {
        let bh = status(&b.addr).await.height;
        let ah = status(&a.addr).await.height;
        (ah.saturating_sub(bh) <= 2 && bh >= 20).then_some(bh)
    })
    .await;
    let mut max_lag = 0;
    let mut samples = 0;
    let until = caught_up + 20;
    loop {
        let bh = status(&b.addr).await.height;
        let ah = status(&a.addr).await.height;
        max_lag = max_lag.max(ah.saturating_sub(bh));
        samples += 1;
        if bh >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(37)).await;
    }
    assert!(
        max_lag <= 2,
        "B fell {max_lag} blocks behind A while following ({samples} samples)"
    );
    a.node.stop_producing();
    let head = assert_converged(&[&a.addr, &b.addr], until, T).await;
    assert_eq!(status(&a.addr).await.head_hash, head.head_hash);
    a.node.shutdown().await;
    b.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_query_answers_identically_on_every_node() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let a = start(Spec::new(&g).key(v.clone())).await;
    let b = start(Spec::new(&g).peer(&a.addr)).await;
    let c = start(Spec::new(&g).peer(&a.addr)).await;
    produce(&a.addr, 8, 5).await;
    let head = assert_converged(&[&a.addr, &b.addr, &c.addr], 8, T).await;
    let mut answers: Vec<Vec<String>> = Vec::new();
    for n in [&a.addr, &b.addr, &c.addr] {
        let mut q = query(n).await;
        let mut out = Vec::new();
        let s = q
            .get_status(api::GetStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        out.push(format!(
            "{} {} {} {} {}",
            s.chain_id, s.genesis_hash, s.height, s.head_hash, s.state_root
        ));
        for h in 0..=head.height {
            let block = q
                .get_block(api::BlockId { id: id_height(h) })
                .await
                .unwrap()
                .into_inner();
            let hash = block.header.as_ref().unwrap().hash.clone();
            let by_hash = q
                .get_block(api::BlockId {
                    id: Some(api::block_id::Id::Hash(hash.clone())),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(block, by_hash);
            out.push(format!("{block:?}"));
            out.push(format!(
                "{:?}",
                q.get_header(api::BlockId { id: id_height(h) })
                    .await
                    .unwrap()
                    .into_inner()
            ));
            for tx in &block.transactions {
                out.push(format!(
                    "{:?}",
                    q.get_transaction(api::GetTransactionRequest {
                        hash: tx.hash.clone()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                ));
            }
            for i in 0..5 {
                let acc = q
                    .get_account(api::GetAccountRequest {
                        address: dev(i).public().address().to_string(),
                        height: Some(h),
                        include_proof: true,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                out.push(format!("{acc:?}"));
            }
        }
        out.push(format!(
            "{:?}",
            q.verify_chain(api::VerifyChainRequest {
                from_height: 0,
                to_height: None
            })
            .await
            .unwrap()
            .into_inner()
        ));
        answers.push(out);
    }
    assert!(answers[0].len() > 60);
    assert_eq!(answers[0], answers[1], "A and B answer identically");
    assert_eq!(answers[0], answers[2], "A and C answer identically");
    for n in [a, b, c] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn equivocation_fork_resolves_to_one_chain() {
    let (v1, v2) = (validator(1), validator(2));
    // validators[h % 2]: odd heights are v2's, even heights v1's.
    let g = genesis(&[v1.clone(), v2.clone()], 5);
    // No peer exchange, so the followers see only N1 until they are told of N2.
    let n2 = start(Spec::new(&g).key(v2.clone()).no_discovery()).await;
    let n1 = start(
        Spec::new(&g)
            .key(v1.clone())
            .peer(&n2.addr)
            .misbehave(Misbehave::Equivocate),
    )
    .await;
    produce(&n2.addr, 1, 0).await;
    wait_height(&n1.addr, 1, T).await;
    // N2 hears of N1 through N1's handshake and contacts it: N1 has seen one peer by now.
    wait_for("N2 to know N1", T, || async {
        status(&n2.addr)
            .await
            .peers
            .iter()
            .any(|p| p.address == n1.addr && p.state == "ready")
            .then_some(())
    })
    .await;
    let f1 = start(Spec::new(&g).peer(&n1.addr).no_discovery()).await;
    wait_height(&f1.addr, 1, T).await;
    let f2 = start(Spec::new(&g).peer(&n1.addr).no_discovery()).await;
    wait_height(&f2.addr, 1, T).await;
    // Record the first block each follower imports at height 2.
    let first_at_2 = |n: &TestNode| {
        let mut heads = n.node.ledger().subscribe_heads();
        tokio::spawn(async move {
            loop {
                let head = heads.borrow_and_update().clone();
                if head.header.height >= 2 {
                    return node::chain::types::to_hex(&head.hash);
                }
                heads.changed().await.unwrap();
            }
        })
    };
    let (w1, w2) = (first_at_2(&f1), first_at_2(&f2));
    // N1 signs height 2 (with transfers) and serves a second, empty version to every other peer.
    let original = produce(&n1.addr, 1, 3).await.remove(0);
    assert_eq!(original.tx_count, 3);
    let (h1, h2) = (w1.await.unwrap(), w2.await.unwrap());
    assert_ne!(
        h1, h2,
        "the followers first imported different blocks at height 2"
    );
    // N2 builds height 3 on the version it holds; everyone ends on N2's chain.
    wait_height(&n2.addr, 2, T).await;
    produce(&n2.addr, 1, 2).await;
    for f in [&f1, &f2] {
        f.node.add_peer(&n2.addr).unwrap();
    }
    let head = assert_converged(&[&n1.addr, &n2.addr, &f1.addr, &f2.addr], 3, T).await;
    let canonical_2 = query(&n2.addr)
        .await
        .get_block(api::BlockId { id: id_height(2) })
        .await
        .unwrap()
        .into_inner();
    let won_original = canonical_2.header.unwrap().hash == original.hash;
    let expected = replay_expected(&n2.addr, head.height).await;
    for n in [&n1.addr, &n2.addr, &f1.addr, &f2.addr] {
        let mut q = query(n).await;
        let orig = q
            .get_block(api::BlockId {
                id: Some(api::block_id::Id::Hash(original.hash.clone())),
            })
            .await;
        if let Ok(orig) = orig {
            for tx in orig.into_inner().transactions {
                // (The same transfer may also sit in a later block: generated transfers are deterministic.)
                let in_original = q
                    .get_transaction(api::GetTransactionRequest { hash: tx.hash })
                    .await
                    .is_ok_and(|info| info.into_inner().block_hash == original.hash);
                assert_eq!(
                    in_original, won_original,
                    "{n}: the original block's transactions are canonical there only if it won"
                );
            }
        }
        let got = accounts(n).await;
        for (i, (bal, nonce)) in got.iter().enumerate() {
            assert_eq!(
                expected[&dev(i as u32).public().address().to_string()],
                (*bal, *nonce),
                "{n}: balances reflect only the winning branch"
            );
        }
    }
    for n in [n1, n2, f1, f2] {
        n.node.shutdown().await;
    }
}
