//! Header-first sync between in-process nodes over real gRPC on loopback, each node with its own
//! RocksDB in a temp dir: multi-node convergence with a late joiner, rejection of every kind of
//! misbehaving peer, state equality after transfers, continuous production with a late joiner,
//! identical query answers on every node, and fork resolution after equivocation. Checks come
//! from `testkit`.

use std::collections::BTreeMap;

use crate::common::*;
use node::sync::Misbehave;
use proto::node::v1 as api;

/// (balance, nonce) of the five dev accounts on a node.
async fn accounts(node: &TestNode) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for i in 0..5 {
        let a = node
            .kit
            .account(&dev(i).public().address().to_string(), None, false)
            .await
            .unwrap();
        out.push((a.balance, a.nonce));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_node_sync_with_a_late_joiner() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let a = start(Spec::new(&g).key(v.clone())).await;
    let b = start(Spec::new(&g).peer(&a.addr)).await;
    a.kit.produce(10, 0).await.unwrap();
    converged(&[&a, &b], 10).await;
    a.kit.produce(5, 4).await.unwrap();
    // C knows only A; it learns B through peer exchange.
    let c = start(Spec::new(&g).peer(&a.addr)).await;
    let head = converged(&[&a, &b, &c], 15).await;
    assert_eq!(head.height, 15);
    for n in [&a, &b, &c] {
        let checked = testkit::check_transfers(&n.kit, 15).await.unwrap();
        assert!(checked >= 5, "{}: {checked} accounts replayed", n.addr);
    }
    wait_until("C to learn B from A's peer list", || async {
        peer_is(&c, &b.addr, api::PeerState::Ready)
            .await
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
    let mut expected: BTreeMap<u32, (u64, u64)> = (0..5).map(|i| (i, (DEV_BALANCE, 0))).collect();
    for n in 0..20u32 {
        let (from, to) = (n % 5, (n * 3 + 1) % 5);
        let to = if to == from { (to + 1) % 5 } else { to };
        let (amount, fee) = (1_000 + u64::from(n), 2);
        let tx = transfer(
            &genesis_hash(&g),
            &dev(from),
            expected[&from].1,
            dev(to).public().address(),
            amount,
            fee,
        );
        // Through the public transaction service of A, the producer.
        a.kit
            .submit(node::rpc::convert::tx_to_api(&tx))
            .await
            .unwrap();
        let s = expected.get_mut(&from).unwrap();
        s.0 -= amount + fee;
        s.1 += 1;
        expected.get_mut(&to).unwrap().0 += amount;
        if n % 4 == 3 {
            a.kit.produce(1, 0).await.unwrap();
        }
    }
    converged(&[&a, &b, &c], 5).await;
    let want: Vec<(u64, u64)> = expected.values().copied().collect();
    for n in [&a, &b, &c] {
        assert_eq!(accounts(n).await, want, "{}", n.addr);
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
    honest.kit.produce(6, 3).await.unwrap();
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
        wait_height(&liar, 6).await;
        let fresh = start(Spec::new(&g).peer(&liar.addr).no_discovery()).await;
        wait_until(&format!("{mode:?}: the liar to be banned"), || async {
            peer_is(&fresh, &liar.addr, api::PeerState::Banned)
                .await
                .then_some(())
        })
        .await;
        let s = fresh.kit.status().await.unwrap();
        assert_eq!(
            s.height, 0,
            "{mode:?}: nothing of the liar's chain was stored"
        );
        assert!(fresh.kit.verify_chain().await.unwrap().ok);
        // With an honest peer it completes sync, and the banned liar stays out.
        fresh.node.add_peer(&honest.addr).unwrap();
        converged(&[&honest, &fresh], 6).await;
        assert!(
            peer_is(&fresh, &liar.addr, api::PeerState::Banned).await,
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
    let mut g = genesis(std::slice::from_ref(&v), 5);
    g.slot_ms = 100;
    let a = start(Spec::new(&g).key(v.clone()).producing()).await;
    wait_height(&a, 20).await;
    let b = start(Spec::new(&g).peer(&a.addr)).await;
    let caught_up = wait_until("B to catch up with A", || async {
        let bh = b.kit.status().await.ok()?.height;
        let ah = a.kit.status().await.ok()?.height;
        (ah.saturating_sub(bh) <= 2 && bh >= 20).then_some(bh)
    })
    .await;
    let max_lag = std::cell::Cell::new(0);
    let samples = std::cell::Cell::new(0);
    let until = caught_up + 20;
    // Sampled while B follows, bounded by T like every wait here.
    wait_until("B to follow A for 20 more blocks", || async {
        let bh = b.kit.status().await.ok()?.height;
        let ah = a.kit.status().await.ok()?.height;
        max_lag.set(max_lag.get().max(ah.saturating_sub(bh)));
        samples.set(samples.get() + 1);
        (bh >= until).then_some(())
    })
    .await;
    assert!(
        max_lag.get() <= 2,
        "B fell {} blocks behind A while following ({} samples)",
        max_lag.get(),
        samples.get()
    );
    a.node.stop_producing();
    let head = converged(&[&a, &b], until).await;
    assert_eq!(a.kit.status().await.unwrap().head_hash, head.head_hash);
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
    a.kit.produce(8, 5).await.unwrap();
    let head = converged(&[&a, &b, &c], 8).await;
    let mut answers = Vec::new();
    for n in [&a, &b, &c] {
        answers.push(testkit::query_answers(&n.kit, head.height).await.unwrap());
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
    // Slots alternate between v1 and v2; 10 ms slots leave room for a second block in one.
    let mut g = genesis(&[v1.clone(), v2.clone()], 5);
    g.slot_ms = 10;
    // No peer exchange, so the followers see only N1 until they are told of N2.
    let n2 = start(Spec::new(&g).key(v2.clone()).no_discovery()).await;
    let n1 = start(
        Spec::new(&g)
            .key(v1.clone())
            .peer(&n2.addr)
            .misbehave(Misbehave::Equivocate),
    )
    .await;
    n2.kit.produce(1, 0).await.unwrap();
    wait_height(&n1, 1).await;
    // N2 hears of N1 through N1's handshake and contacts it: N1 has seen one peer by now.
    wait_until("N2 to know N1", || async {
        peer_is(&n2, &n1.addr, api::PeerState::Ready)
            .await
            .then_some(())
    })
    .await;
    let f1 = start(Spec::new(&g).peer(&n1.addr).no_discovery()).await;
    wait_height(&f1, 1).await;
    let f2 = start(Spec::new(&g).peer(&n1.addr).no_discovery()).await;
    wait_height(&f2, 1).await;
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
    let original = n1.kit.produce(1, 3).await.unwrap().remove(0);
    assert_eq!(original.tx_count, 3);
    let (h1, h2) = (w1.await.unwrap(), w2.await.unwrap());
    assert_ne!(
        h1, h2,
        "the followers first imported different blocks at height 2"
    );
    // N2 builds height 3 on the version it holds; everyone ends on N2's chain.
    wait_height(&n2, 2).await;
    n2.kit.produce(1, 2).await.unwrap();
    for f in [&f1, &f2] {
        f.node.add_peer(&n2.addr).unwrap();
    }
    let head = converged(&[&n1, &n2, &f1, &f2], 3).await;
    let won_original = n2.kit.block(2).await.unwrap().header.unwrap().hash == original.hash;
    for n in [&n1, &n2, &f1, &f2] {
        let orig = n
            .kit
            .block_by(api::GetBlockRequest {
                id: Some(api::get_block_request::Id::Hash(original.hash.clone())),
            })
            .await;
        if let Ok(orig) = orig {
            for tx in orig.transactions {
                // (The same transfer may also sit in a later block: generated transfers are
                // deterministic.)
                let in_original = n
                    .kit
                    .transaction(&tx.hash)
                    .await
                    .is_ok_and(|info| info.block_hash == original.hash);
                assert_eq!(
                    in_original, won_original,
                    "{}: the original block's transactions are canonical there only if it won",
                    n.addr
                );
            }
        }
        // Balances and nonces reflect only the winning branch.
        testkit::check_transfers(&n.kit, head.height).await.unwrap();
    }
    for n in [n1, n2, f1, f2] {
        n.node.shutdown().await;
    }
}
