//! The partition scenario with real nodes over real gRPC on loopback: three validators producing
//! in their own 200 ms slots, every link between two of them a TCP proxy the test can cut
//! (`testkit::LinkProxy`). C is cut off, both sides go on producing and take transfers, the
//! links heal: C's branch is abandoned everywhere, all three end equal, no finalized height ever
//! went down, and every transfer submitted on either side is included exactly once.

use std::time::Duration;

use testkit::{FinalityWatch, LinkProxy, NodeClient, converge_final, tally_transactions, wait_for};

use crate::common::*;

const SIDE_TRANSFERS: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partition_over_grpc_forks_the_chain_and_healing_reorganizes_it() {
    let vals = [validator(0), validator(1), validator(2)];
    let mut g = genesis(&vals, 5);
    g.slot_ms = 200;
    let network = genesis_hash(&g);
    let mut nodes = Vec::new();
    for v in &vals {
        nodes.push(start(Spec::new(&g).key(v.clone()).producing().hidden()).await);
    }
    // proxies[i][j]: node i's link to node j.
    let mut proxies: Vec<Vec<Option<LinkProxy>>> = Vec::new();
    for i in 0..3 {
        let mut row = Vec::new();
        for j in 0..3 {
            if i == j {
                row.push(None);
                continue;
            }
            let p = LinkProxy::start(&nodes[j].addr).await.unwrap();
            nodes[i].node.add_peer(&p.addr()).unwrap();
            row.push(Some(p));
        }
        proxies.push(row);
    }
    let kits: Vec<&NodeClient> = nodes.iter().map(|n| &n.kit).collect();
    let (a, c) = (&nodes[0].kit, &nodes[2].kit);
    let finality = FinalityWatch::default();
    converge_final(&kits, 5, T).await.unwrap();
    finality.observe(&kits).await.unwrap();

    // Cut C off.
    for j in [0, 1] {
        proxies[2][j].as_ref().unwrap().cut();
        proxies[j][2].as_ref().unwrap().cut();
    }
    let split = c.status().await.unwrap();
    let mut hashes = Vec::new();
    for k in 0..SIDE_TRANSFERS {
        for (node, from, to) in [(a, 0, 3), (c, 1, 4)] {
            let tx = transfer(
                &network,
                &dev(from),
                k,
                dev(to).public().address(),
                10 + k,
                1,
            );
            hashes.push(
                node.submit(node::rpc::convert::tx_to_api(&tx))
                    .await
                    .unwrap(),
            );
        }
    }
    // Both sides produce: C in its own slots (1/3), A and B in theirs (2/3).
    let minority = wait_for("both sides to build their branches", T, || async {
        finality.observe(&kits).await.ok()?;
        let (sa, sc) = (a.status().await.ok()?, c.status().await.ok()?);
        (sc.height >= split.height + 5 && sa.height >= split.height + 10).then_some(sc)
    })
    .await
    .unwrap();
    let majority = a.status().await.unwrap();
    assert_ne!(majority.head_hash, minority.head_hash);
    assert!(
        minority.finalized_height <= split.height,
        "C alone (1/3 of the stake) finalized {} past the split at {}",
        minority.finalized_height,
        split.height
    );
    assert!(majority.finalized_height > split.height + 5);

    // A subscriber of C's head announcements (straight to C, not through a cut link) must be
    // told where C's new head leaves the branch it announced before.
    let mut heads = proto::sync::v1::sync_service_client::SyncServiceClient::connect(format!(
        "http://{}",
        nodes[2].addr
    ))
    .await
    .unwrap()
    .subscribe_heads(proto::sync::v1::SubscribeHeadsRequest {})
    .await
    .unwrap()
    .into_inner();
    let reorg_notice = tokio::spawn(async move {
        while let Ok(Some(m)) = heads.message().await {
            if let Some(reorg) = m.reorg {
                return Some((reorg, m.header.unwrap().height));
            }
        }
        None
    });

    // Heal: every link back.
    for row in &proxies {
        for p in row.iter().flatten() {
            p.heal();
        }
    }
    let healed = wait_for("C to leave its branch", T, || async {
        finality.observe(&kits).await.ok()?;
        let h = c.header(minority.height).await.ok()?;
        (h.hash != minority.head_hash).then_some(())
    })
    .await;
    healed.unwrap();
    let all = converge_final(&kits, majority.height, T).await.unwrap();
    finality.observe(&kits).await.unwrap();
    for n in &kits {
        let h = n.header(minority.height).await.unwrap();
        assert_ne!(
            h.hash, minority.head_hash,
            "{}: C's old head is canonical",
            n.name
        );
    }
    assert!(c.status().await.unwrap().reorgs >= 1, "C reorganized");
    let (reorg, new_height) = tokio::time::timeout(T, reorg_notice)
        .await
        .expect("a reorg notice within the deadline")
        .unwrap()
        .expect("C's head stream told of the reorg");
    assert!(
        reorg.ancestor_height >= split.finalized_height && reorg.ancestor_height < minority.height,
        "common ancestor {} (split at {}, minority head {})",
        reorg.ancestor_height,
        split.height,
        minority.height
    );
    assert!(reorg.depth >= 1 && new_height > reorg.ancestor_height);
    // C's abandoned transfers went back to its mempool and it includes them in its next slots.
    let tally = wait_for("every transfer to be included", T, || async {
        finality.observe(&kits).await.ok()?;
        let all = converge_final(&kits, 0, Duration::from_secs(5))
            .await
            .ok()?;
        let t = tally_transactions(&kits, all.height, &hashes).await.ok()?;
        (t.pending == 0).then_some(t)
    })
    .await
    .unwrap();
    assert_eq!(tally.included, hashes.len());
    let evidence: usize = {
        let mut n = 0;
        for k in &kits {
            n += k.evidence().await.unwrap().len();
        }
        n
    };
    assert_eq!(evidence, 0, "honest validators never equivocate");
    println!(
        "split at {}: majority reached {} (finalized {}), minority {} (finalized {}); converged at {}; {} transfers included once",
        split.height,
        majority.height,
        majority.finalized_height,
        minority.height,
        minority.finalized_height,
        all.height,
        tally.included
    );
    for n in nodes {
        n.node.shutdown().await;
    }
}
