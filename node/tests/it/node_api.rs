//! One node served over a real loopback gRPC port: 20 signed transfers across 5 accounts in 10
//! blocks, submitted through the public transaction service, then every query answers exactly
//! what the transfers imply; bad requests get the gRPC status code the specification gives and an
//! `ErrorInfo` reason; the control API refuses callers without the token.

use std::collections::HashMap;

use crate::common::*;
use node::chain::types::{parse_hex, to_hex};
use node::state::{Account, verify_proof};
use proto::node::v1 as api;
use tonic::Code;
use tonic_types::StatusExt;

fn api_tx(tx: &node::chain::Transaction) -> api::Transaction {
    node::rpc::convert::tx_to_api(tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_ten_blocks_with_twenty_transfers_and_query_them_back() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let n = start(Spec::new(&g).key(v.clone())).await;

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
                &genesis_hash(&g),
                &dev(i),
                expected[&i].nonce,
                dev(to).public().address(),
                amount,
                fee,
            );
            let hash = n.kit.submit(api_tx(&tx)).await.unwrap();
            assert_eq!(hash, to_hex(&tx.hash()));
            let s = expected.get_mut(&i).unwrap();
            s.nonce += 1;
            s.balance -= amount + fee;
            expected.get_mut(&to).unwrap().balance += amount;
            sent.push((tx, block + 1, k));
        }
        let produced = n.kit.produce(1, 0).await.unwrap();
        assert_eq!(produced.len(), 1);
        assert_eq!(produced[0].tx_count, 2);
        history.push(expected.clone());
    }
    assert_eq!(sent.len(), 20);

    let status = n.kit.status().await.unwrap();
    assert_eq!(status.height, 10);
    assert_eq!(status.chain_id, CHAIN_ID);
    assert_eq!(status.mempool_size, 0);
    assert_eq!(status.validator, v.public().to_string());

    let listed = n.kit.blocks(1, 10).await.unwrap();
    assert_eq!(listed.len(), 10, "ListBlocks returns the whole range");
    for h in 1..=10u64 {
        let by_height = n.kit.block(h).await.unwrap();
        assert_eq!(
            by_height,
            listed[h as usize - 1],
            "ListBlocks = GetBlock at {h}"
        );
        let header = by_height.header.clone().unwrap();
        let by_hash = n
            .kit
            .block_by(api::GetBlockRequest {
                id: Some(api::get_block_request::Id::Hash(header.hash.clone())),
            })
            .await
            .unwrap();
        assert_eq!(by_height, by_hash);
        assert_eq!(header.producer, v.public().to_string());
        let want: Vec<String> = sent
            .iter()
            .filter(|(_, b, _)| u64::from(*b) == h)
            .map(|(t, _, _)| to_hex(&t.hash()))
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
        assert_eq!(n.kit.header(h).await.unwrap(), header);
    }
    for (tx, block, k) in &sent {
        let info = n.kit.transaction(&to_hex(&tx.hash())).await.unwrap();
        assert_eq!((info.height, info.index), (u64::from(*block), *k));
        assert_eq!(info.transaction.unwrap().amount, tx.amount);
    }
    let fees: u64 = sent.iter().map(|(t, _, _)| t.fee).sum();
    let producer = n
        .kit
        .account(&v.public().address().to_string(), None, false)
        .await
        .unwrap();
    assert_eq!(producer.balance, fees, "every fee went to the producer");

    for (height, snapshot) in history.iter().enumerate() {
        for i in 0..5u32 {
            let a = n
                .kit
                .account(
                    &dev(i).public().address().to_string(),
                    Some(height as u64),
                    true,
                )
                .await
                .unwrap();
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
    assert_eq!(testkit::check_transfers(&n.kit, 10).await.unwrap(), 6);
    let verify = n.kit.verify_chain().await.unwrap();
    assert!(verify.ok, "{:?}", verify.fault);
    assert_eq!(verify.blocks_checked, 11);
    n.node.shutdown().await;
}

/// The request fails with `code`, a message mentioning `words`, and `ErrorInfo.reason` `reason`.
fn expect<T: std::fmt::Debug>(
    r: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    reason: &str,
    words: &str,
) -> HashMap<String, String> {
    let e = r.expect_err("request must fail");
    assert_eq!(e.code(), code, "{}", e.message());
    assert!(
        e.message().contains(words),
        "message {:?} should mention {words:?}",
        e.message()
    );
    let info = e
        .get_details_error_info()
        .unwrap_or_else(|| panic!("{:?} carries no ErrorInfo", e.message()));
    assert_eq!(info.reason, reason, "{}", e.message());
    assert_eq!(info.domain, "luxtensor.node.v1");
    info.metadata
}

fn by_hash(hash: &str) -> api::GetBlockRequest {
    api::GetBlockRequest {
        id: Some(api::get_block_request::Id::Hash(hash.into())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_errors_and_control_needs_the_token() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let n = start(Spec::new(&g).key(v.clone())).await;
    let mut q = query(&n.addr).await;
    let m = expect(
        q.get_block(by_hash("0x1234")).await,
        Code::InvalidArgument,
        "INVALID_FIELD",
        "expected 32 bytes",
    );
    assert_eq!(m["field"], "hash");
    expect(
        q.get_block(by_hash("zz")).await,
        Code::InvalidArgument,
        "INVALID_FIELD",
        "not valid hex",
    );
    let m = expect(
        q.get_block(api::GetBlockRequest {
            id: Some(api::get_block_request::Id::Height(99)),
        })
        .await,
        Code::OutOfRange,
        "HEIGHT_ABOVE_HEAD",
        "above the head",
    );
    assert_eq!((m["height"].as_str(), m["head"].as_str()), ("99", "0"));
    expect(
        q.get_header(api::GetHeaderRequest {
            id: Some(api::get_header_request::Id::Height(1)),
        })
        .await,
        Code::OutOfRange,
        "HEIGHT_ABOVE_HEAD",
        "above the head",
    );
    expect(
        q.get_block(api::GetBlockRequest { id: None }).await,
        Code::InvalidArgument,
        "MISSING_FIELD",
        "height or hash",
    );
    expect(
        q.get_block(by_hash(&format!("0x{}", "00".repeat(32))))
            .await,
        Code::NotFound,
        "BLOCK_NOT_FOUND",
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
        "INVALID_FIELD",
        "address",
    );
    expect(
        q.get_account(api::GetAccountRequest {
            address: dev(0).public().address().to_string(),
            height: Some(3),
            include_proof: false,
        })
        .await,
        Code::OutOfRange,
        "HEIGHT_ABOVE_HEAD",
        "above the head",
    );
    expect(
        q.get_transaction(api::GetTransactionRequest {
            hash: format!("0x{}", "11".repeat(32)),
        })
        .await,
        Code::NotFound,
        "TRANSACTION_NOT_FOUND",
        "no canonical transaction",
    );
    expect(
        q.verify_chain(api::VerifyChainRequest {
            from_height: 0,
            to_height: Some(5),
        })
        .await,
        Code::OutOfRange,
        "HEIGHT_ABOVE_HEAD",
        "above the head",
    );
    expect(
        q.list_blocks(api::ListBlocksRequest {
            from_height: 0,
            to_height: Some(2),
        })
        .await,
        Code::OutOfRange,
        "HEIGHT_ABOVE_HEAD",
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
        Code::Unauthenticated,
        "MISSING_TOKEN",
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
        Code::Unauthenticated,
        "WRONG_TOKEN",
        "does not match",
    );
    assert_eq!(
        n.kit.status().await.unwrap().height,
        0,
        "refused calls changed nothing"
    );

    let mut ctl = control_with(&n.addr, Some(TOKEN)).await;
    let m = expect(
        ctl.produce_blocks(api::ProduceBlocksRequest {
            count: 0,
            transfers_per_block: 0,
        })
        .await,
        Code::InvalidArgument,
        "VALUE_OUT_OF_BOUNDS",
        "count",
    );
    assert_eq!(m["max"], "1000");
    expect(
        ctl.produce_blocks(api::ProduceBlocksRequest {
            count: 1,
            transfers_per_block: 5000,
        })
        .await,
        Code::InvalidArgument,
        "VALUE_OUT_OF_BOUNDS",
        "transfers_per_block",
    );
    let mut txs = transactions(&n.addr).await;
    let submit = |tx: Option<api::Transaction>| api::SubmitTransactionRequest { transaction: tx };
    let mut tx = transfer(
        &genesis_hash(&g),
        &dev(0),
        0,
        dev(1).public().address(),
        5,
        1,
    );
    tx.amount = 6;
    expect(
        txs.submit_transaction(submit(Some(api_tx(&tx)))).await,
        Code::InvalidArgument,
        "BAD_SIGNATURE",
        "bad signature",
    );
    let tx = transfer(
        &genesis_hash(&g),
        &dev(0),
        3,
        dev(1).public().address(),
        5,
        1,
    );
    let m = expect(
        txs.submit_transaction(submit(Some(api_tx(&tx)))).await,
        Code::FailedPrecondition,
        "NONCE_TOO_HIGH",
        "nonce too high",
    );
    assert_eq!((m["expected"].as_str(), m["got"].as_str()), ("0", "3"));
    let tx = transfer(
        &genesis_hash(&g),
        &dev(0),
        0,
        dev(1).public().address(),
        DEV_BALANCE,
        1,
    );
    let m = expect(
        txs.submit_transaction(submit(Some(api_tx(&tx)))).await,
        Code::FailedPrecondition,
        "INSUFFICIENT_BALANCE",
        "insufficient balance",
    );
    assert_eq!(m["available"], DEV_BALANCE.to_string());
    expect(
        txs.submit_transaction(submit(None)).await,
        Code::InvalidArgument,
        "MISSING_FIELD",
        "missing",
    );
    let mut other_chain = transfer(
        &genesis_hash(&g),
        &dev(0),
        0,
        dev(1).public().address(),
        5,
        1,
    );
    other_chain.chain_id = CHAIN_ID + 1;
    other_chain.signature = dev(0).sign(&other_chain.signing_message(&genesis_hash(&g)));
    expect(
        txs.submit_transaction(submit(Some(api_tx(&other_chain))))
            .await,
        Code::InvalidArgument,
        "WRONG_CHAIN",
        "wrong chain",
    );
    let ok = transfer(
        &genesis_hash(&g),
        &dev(0),
        0,
        dev(1).public().address(),
        5,
        1,
    );
    txs.submit_transaction(submit(Some(api_tx(&ok))))
        .await
        .unwrap();
    expect(
        txs.submit_transaction(submit(Some(api_tx(&ok)))).await,
        Code::AlreadyExists,
        "ALREADY_PENDING",
        "already pending",
    );
    let pending = n.kit.transaction(&to_hex(&ok.hash())).await.unwrap();
    assert!(
        pending.pending && pending.block_hash.is_empty(),
        "a pending transaction answers as pending: {pending:?}"
    );
    // The same kind of transfer signed for another network (same chain id, same dev keys,
    // another genesis): its signature does not verify here.
    let mut elsewhere = g.clone();
    elsewhere.genesis_time_ms += 1;
    let replay = transfer(
        &genesis_hash(&elsewhere),
        &dev(1),
        0,
        dev(2).public().address(),
        5,
        1,
    );
    expect(
        txs.submit_transaction(submit(Some(api_tx(&replay)))).await,
        Code::InvalidArgument,
        "BAD_SIGNATURE",
        "signature",
    );
    // The genesis, evidence and production state over the API.
    let genesis = n.kit.genesis().await.unwrap();
    let status = n.kit.status().await.unwrap();
    assert_eq!(genesis.genesis_hash, status.genesis_hash);
    assert_eq!(genesis.genesis_hash, to_hex(&genesis_hash(&g)));
    assert_eq!(
        (
            genesis.slot_ms,
            genesis.validators.len(),
            genesis.accounts.len()
        ),
        (g.slot_ms, 1, 5)
    );
    assert_eq!(
        genesis_hash(&node::chain::Genesis::from_json(&genesis.json).unwrap()),
        genesis_hash(&g),
        "the canonical JSON reads back as the same network"
    );
    assert!(n.kit.evidence().await.unwrap().is_empty());
    assert!(status.production_paused);
    assert!(n.kit.set_production(true).await.unwrap());
    expect(
        ctl.add_peer(api::AddPeerRequest {
            address: "not an address".into(),
        })
        .await,
        Code::InvalidArgument,
        "PEER_REFUSED",
        "host:port",
    );

    // Generated transfers between dev accounts; then replays are refused as nonce too low.
    let blocks = n.kit.produce(3, 4).await.unwrap();
    assert_eq!(
        blocks.iter().map(|b| b.tx_count).collect::<Vec<_>>(),
        vec![5, 4, 4],
        "the pending transfer joins the first block's generated ones"
    );
    let replay = n.kit.block(1).await.unwrap().transactions[0].clone();
    expect(
        txs.submit_transaction(submit(Some(replay))).await,
        Code::FailedPrecondition,
        "NONCE_TOO_LOW",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_show_heights_peers_and_what_sync_imported() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let a = start(Spec::new(&g).key(v.clone()).metrics()).await;
    a.kit.produce(3, 2).await.unwrap();
    let b = start(Spec::new(&g).peer(&a.addr).metrics()).await;
    wait_height(&b, 3).await;
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    };
    let on_a = http_get(a.node.metrics_addr().unwrap(), "/metrics").await;
    assert_eq!(
        value(&on_a, "luxtensor_chain_height_blocks{status=\"head\"}"),
        Some(3.0),
        "{on_a}"
    );
    // One validator: every block is final at once.
    assert_eq!(
        value(&on_a, "luxtensor_chain_height_blocks{status=\"finalized\"}"),
        Some(3.0)
    );
    assert!(
        on_a.contains("# HELP luxtensor_reorgs Reorganizations"),
        "{on_a}"
    );
    assert_eq!(value(&on_a, "luxtensor_reorgs_total"), Some(0.0));
    let on_b = wait_until("node-b's metrics to count the synced blocks", || async {
        let text = http_get(b.node.metrics_addr().unwrap(), "/metrics").await;
        (value(&text, "luxtensor_sync_imported_blocks_total") == Some(3.0)).then_some(text)
    })
    .await;
    assert_eq!(
        value(&on_b, "luxtensor_sync_imported_transactions_total"),
        Some(6.0),
        "{on_b}"
    );
    assert_eq!(
        value(&on_b, "luxtensor_peers{state=\"ready\"}"),
        Some(1.0),
        "{on_b}"
    );
    assert_eq!(value(&on_b, "luxtensor_sync_syncing"), Some(0.0));
    // Sync's histograms: one import per stored block, at least one header and one body request.
    assert_eq!(
        value(&on_b, "luxtensor_sync_block_import_duration_seconds_count"),
        Some(3.0),
        "{on_b}"
    );
    for series in [
        "luxtensor_sync_header_download_duration_seconds_count",
        "luxtensor_sync_body_download_duration_seconds_count",
        "luxtensor_signatures_verified_total",
        "luxtensor_database_size_bytes",
    ] {
        assert!(
            value(&on_b, series).unwrap_or(0.0) >= 1.0,
            "{series}: {on_b}"
        );
    }
    assert_eq!(
        value(&on_b, "luxtensor_sync_reorg_depth_blocks_count"),
        Some(0.0)
    );
    assert_eq!(
        value(&on_b, "luxtensor_peer_bans_total{offence=\"invalid_data\"}"),
        Some(0.0)
    );
    assert_eq!(value(&on_b, "luxtensor_equivocations"), Some(0.0));

    // A refused replay is counted by reason in the mempool and by code over gRPC; a block above
    // the head by its code.
    let replay = a.kit.block(1).await.unwrap().transactions[0].clone();
    let mut txs =
        api::transaction_service_client::TransactionServiceClient::new(channel(&a.addr).await);
    let refused = txs
        .submit_transaction(api::SubmitTransactionRequest {
            transaction: Some(replay),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(a.kit.block(99).await.is_err());
    // A server stream's code comes from its trailers.
    assert_eq!(a.kit.blocks(1, 3).await.unwrap().len(), 3);
    let on_a = http_get(a.node.metrics_addr().unwrap(), "/metrics").await;
    assert_eq!(
        value(
            &on_a,
            "luxtensor_mempool_rejected_total{origin=\"client\",reason=\"nonce_too_low\"}"
        ),
        Some(1.0),
        "{on_a}"
    );
    for (series, at_least) in [
        (
            "luxtensor_grpc_requests_total{method=\"luxtensor.node.v1.TransactionService/SubmitTransaction\",code=\"FailedPrecondition\"}",
            1.0,
        ),
        (
            "luxtensor_grpc_requests_total{method=\"luxtensor.node.v1.QueryService/GetBlock\",code=\"OutOfRange\"}",
            1.0,
        ),
        (
            "luxtensor_grpc_requests_total{method=\"luxtensor.node.v1.QueryService/GetBlock\",code=\"OK\"}",
            1.0,
        ),
        (
            "luxtensor_grpc_requests_total{method=\"luxtensor.node.v1.ControlService/ProduceBlocks\",code=\"OK\"}",
            1.0,
        ),
        (
            "luxtensor_grpc_requests_total{method=\"luxtensor.node.v1.QueryService/ListBlocks\",code=\"OK\"}",
            1.0,
        ),
    ] {
        assert!(
            value(&on_a, series).is_some_and(|v| v >= at_least),
            "{series}: {on_a}"
        );
    }
    for n in [a, b] {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_parse_line_by_line() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 5);
    let node = NodeProcess::spawn(&g, Some(&v), &["--log-format", "json", "--paused"], None);
    wait_until("the node to answer", || async {
        node.kit.status().await.ok()
    })
    .await;
    node.kit.produce(2, 1).await.unwrap();
    let log = wait_until("the second block in the log", || async {
        let log = node.log();
        (log.matches("produced block").count() >= 2).then_some(log)
    })
    .await;
    let mut produced = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
        if v["fields"]["message"] == "produced block" {
            assert!(v["fields"]["height"].is_u64(), "{line}");
            produced += 1;
        }
    }
    assert_eq!(produced, 2);
}
