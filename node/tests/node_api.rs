//! One node served over a real loopback gRPC port: 20 signed transfers across 5 accounts in 10
//! blocks, then every query answers exactly what the transfers imply; bad requests get precise
//! errors; the control API refuses callers without the token.

mod common;

use std::collections::HashMap;

use common::*;
use node::chain::types::parse_hex;
use node::state::{Account, verify_proof};
use proto::node::v1 as api;
use tonic::Code;

fn api_tx(tx: &node::chain::Transaction) -> api::Transaction {
    node::rpc::convert::tx_to_api(tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_ten_blocks_with_twenty_transfers_and_query_them_back() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let n = start(Spec::new(&g).key(v.clone())).await;
    let mut ctl = control(&n.addr).await;
    let mut q = query(&n.addr).await;

    let mut expected: HashMap<u32, Account> = (0..5)
        .map(|i| {
            (
                i,
                Account {
                    nonce: 0,
                    balance: DEV_BALANCE,
                },
            )
        })
        .collect();
    let mut history = vec![expected.clone()];
    let mut sent = Vec::new();
    for block in 0..10u32 {
        for k in 0..2u32 {
            let i = (block * 2 + k) % 5;
            let to = (i + 1 + block % 4) % 5;
            let amount = 100 + u64::from(block * 10 + k);
            let fee = 1 + u64::from(k);
            let tx = transfer(
                &dev(i),
                expected[&i].nonce,
                dev(to).public().address(),
                amount,
                fee,
            );
            let reply = ctl
                .submit_transaction(api::SubmitTransactionRequest {
                    transaction: Some(api_tx(&tx)),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(reply.hash, node::chain::types::to_hex(&tx.hash()));
            let s = expected.get_mut(&i).unwrap();
            s.nonce += 1;
            s.balance -= amount + fee;
            expected.get_mut(&to).unwrap().balance += amount;
            sent.push((tx, block + 1, k));
        }
        let produced = ctl
            .produce_blocks(api::ProduceBlocksRequest {
                count: 1,
                transfers_per_block: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(produced.blocks.len(), 1);
        assert_eq!(produced.blocks[0].tx_count, 2);
        history.push(expected.clone());
    }
    assert_eq!(sent.len(), 20);

    let status = q
        .get_status(api::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.height, 10);
    assert_eq!(status.chain_id, CHAIN_ID);
    assert_eq!(status.mempool_size, 0);
    assert_eq!(status.validator, v.public().to_string());

    for h in 1..=10u64 {
        let by_height = q
            .get_block(api::BlockId {
                id: Some(api::block_id::Id::Height(h)),
            })
            .await
            .unwrap()
            .into_inner();
        let header = by_height.header.clone().unwrap();
        let by_hash = q
            .get_block(api::BlockId {
                id: Some(api::block_id::Id::Hash(header.hash.clone())),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(by_height, by_hash);
        assert_eq!(header.producer, v.public().to_string());
        let want: Vec<String> = sent
            .iter()
            .filter(|(_, b, _)| u64::from(*b) == h)
            .map(|(t, _, _)| node::chain::types::to_hex(&t.hash()))
            .collect();
        let got: Vec<String> = by_height
            .transactions
            .iter()
            .map(|t| t.hash.clone())
            .collect();
        assert_eq!(
            got, want,
            "block {h} holds the transfers submitted for it, in order"
        );
        let only_header = q
            .get_header(api::BlockId {
                id: Some(api::block_id::Id::Height(h)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(only_header, header);
    }
    for (tx, block, k) in &sent {
        let info = q
            .get_transaction(api::GetTransactionRequest {
                hash: node::chain::types::to_hex(&tx.hash()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((info.height, info.index), (u64::from(*block), *k));
        assert_eq!(info.transaction.unwrap().amount, tx.amount);
    }
    let fees: u64 = sent.iter().map(|(t, _, _)| t.fee).sum();
    let producer = q
        .get_account(api::GetAccountRequest {
            address: v.public().address().to_string(),
            height: None,
            include_proof: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(producer.balance, fees, "every fee went to the producer");

    for (height, snapshot) in history.iter().enumerate() {
        for i in 0..5u32 {
            let a = q
                .get_account(api::GetAccountRequest {
                    address: dev(i).public().address().to_string(),
                    height: Some(height as u64),
                    include_proof: true,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                (a.balance, a.nonce),
                (snapshot[&i].balance, snapshot[&i].nonce),
                "account {i} at height {height}"
            );
            let root = parse_hex::<32>("root", &a.state_root).unwrap();
            let proof: Vec<Vec<u8>> = a
                .proof
                .iter()
                .map(|p| hex::decode(&p[2..]).unwrap())
                .collect();
            let key = node::state::account::account_key(&dev(i).public().address());
            let proven = verify_proof(&root, &key, &proof).unwrap();
            assert_eq!(
                proven,
                Some(snapshot[&i].encode()),
                "proof of account {i} at height {height}"
            );
        }
    }
    let verify = verify(&n.addr).await;
    assert!(verify.ok, "{:?}", verify.fault);
    assert_eq!(verify.blocks_checked, 11);
    n.node.shutdown().await;
}

fn expect<T: std::fmt::Debug>(
    r: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    words: &str,
) {
    let e = r.expect_err("request must fail");
    assert_eq!(e.code(), code, "{}", e.message());
    assert!(
        e.message().contains(words),
        "message {:?} should mention {words:?}",
        e.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_errors_and_control_needs_the_token() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let n = start(Spec::new(&g).key(v.clone())).await;
    let mut q = query(&n.addr).await;
    expect(
        q.get_block(api::BlockId {
            id: Some(api::block_id::Id::Hash("0x1234".into())),
        })
        .await,
        Code::InvalidArgument,
        "expected 32 bytes",
    );
    expect(
        q.get_block(api::BlockId {
            id: Some(api::block_id::Id::Hash("zz".into())),
        })
        .await,
        Code::InvalidArgument,
        "not valid hex",
    );
    expect(
        q.get_block(api::BlockId {
            id: Some(api::block_id::Id::Height(99)),
        })
        .await,
        Code::InvalidArgument,
        "unknown height 99",
    );
    expect(
        q.get_block(api::BlockId { id: None }).await,
        Code::InvalidArgument,
        "height or a hash",
    );
    expect(
        q.get_block(api::BlockId {
            id: Some(api::block_id::Id::Hash(format!("0x{}", "00".repeat(32)))),
        })
        .await,
        Code::NotFound,
        "no block",
    );
    expect(
        q.get_account(api::GetAccountRequest {
            address: "0xabc".into(),
            height: None,
            include_proof: false,
        })
        .await,
        Code::InvalidArgument,
        "address",
    );
    expect(
        q.get_transaction(api::GetTransactionRequest {
            hash: format!("0x{}", "11".repeat(32)),
        })
        .await,
        Code::NotFound,
        "no canonical transaction",
    );
    expect(
        q.verify_chain(api::VerifyChainRequest {
            from_height: 0,
            to_height: Some(5),
        })
        .await,
        Code::InvalidArgument,
        "above the head",
    );

    let mut anonymous = control_with(&n.addr, None).await;
    expect(
        anonymous
            .produce_blocks(api::ProduceBlocksRequest {
                count: 1,
                transfers_per_block: 0,
            })
            .await,
        Code::PermissionDenied,
        "Bearer",
    );
    let mut wrong = control_with(&n.addr, Some("guess")).await;
    expect(
        wrong
            .produce_blocks(api::ProduceBlocksRequest {
                count: 1,
                transfers_per_block: 0,
            })
            .await,
        Code::PermissionDenied,
        "does not match",
    );
    assert_eq!(
        status(&n.addr).await.height,
        0,
        "refused calls changed nothing"
    );

    let mut ctl = control(&n.addr).await;
    expect(
        ctl.produce_blocks(api::ProduceBlocksRequest {
            count: 0,
            transfers_per_block: 0,
        })
        .await,
        Code::InvalidArgument,
        "count",
    );
    expect(
        ctl.produce_blocks(api::ProduceBlocksRequest {
            count: 1,
            transfers_per_block: 5000,
        })
        .await,
        Code::InvalidArgument,
        "transfers_per_block",
    );
    let mut tx = transfer(&dev(0), 0, dev(1).public().address(), 5, 1);
    tx.amount = 6;
    expect(
        ctl.submit_transaction(api::SubmitTransactionRequest {
            transaction: Some(api_tx(&tx)),
        })
        .await,
        Code::InvalidArgument,
        "bad signature",
    );
    let tx = transfer(&dev(0), 3, dev(1).public().address(), 5, 1);
    expect(
        ctl.submit_transaction(api::SubmitTransactionRequest {
            transaction: Some(api_tx(&tx)),
        })
        .await,
        Code::InvalidArgument,
        "nonce too high",
    );
    let tx = transfer(&dev(0), 0, dev(1).public().address(), DEV_BALANCE, 1);
    expect(
        ctl.submit_transaction(api::SubmitTransactionRequest {
            transaction: Some(api_tx(&tx)),
        })
        .await,
        Code::InvalidArgument,
        "insufficient balance",
    );
    expect(
        ctl.submit_transaction(api::SubmitTransactionRequest { transaction: None })
            .await,
        Code::InvalidArgument,
        "missing",
    );
    expect(
        ctl.add_peer(api::AddPeerRequest {
            address: "not an address".into(),
        })
        .await,
        Code::InvalidArgument,
        "host:port",
    );

    // Generated transfers between dev accounts; then replays are refused as nonce too low.
    let blocks = ctl
        .produce_blocks(api::ProduceBlocksRequest {
            count: 3,
            transfers_per_block: 4,
        })
        .await
        .unwrap()
        .into_inner()
        .blocks;
    assert_eq!(
        blocks.iter().map(|b| b.tx_count).collect::<Vec<_>>(),
        vec![4, 4, 4]
    );
    let first = q
        .get_block(api::BlockId {
            id: Some(api::block_id::Id::Height(1)),
        })
        .await
        .unwrap()
        .into_inner();
    let replay = first.transactions[0].clone();
    expect(
        ctl.submit_transaction(api::SubmitTransactionRequest {
            transaction: Some(replay),
        })
        .await,
        Code::InvalidArgument,
        "nonce too low",
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(&n.addr).await);
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    n.node.shutdown().await;
}
