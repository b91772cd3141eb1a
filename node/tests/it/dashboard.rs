//! The testnet dashboard against real nodes over gRPC: its board follows their heights, heads and
//! block tree, shows a node that does not answer, and its page, assets, JSON state and
//! server-sent events are served (with nothing loaded from outside).

use serde_json::Value;
use testkit::dashboard::{Dashboard, EventKind};

use crate::common::*;

async fn raw_get(addr: std::net::SocketAddr, path: &str, until: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    tokio::time::timeout(T, async {
        while !String::from_utf8_lossy(&out).contains(until) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before {until:?}");
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the stream sends within the deadline");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_the_nodes_over_grpc() {
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 3);
    let a = start(Spec::new(&g).key(v.clone())).await;
    let b = start(Spec::new(&g).peer(&a.addr)).await;
    // A third row for a node that is not running: the board shows it as not answering.
    let gone = testkit::NodeClient::new("node-gone", "http://127.0.0.1:9", None, None).unwrap();
    let dashboard = Dashboard::start(
        "127.0.0.1:0".parse().unwrap(),
        vec![a.kit.clone(), b.kit.clone(), gone],
    )
    .await
    .unwrap();
    dashboard
        .board
        .event(EventKind::LateJoin, Some(&b.kit.name), "joins");
    a.kit.produce(4, 1).await.unwrap();
    wait_height(&b, 4).await;

    let state = wait_until("the board to show both nodes at height 4", || async {
        let state: Value =
            serde_json::from_str(&http_get(dashboard.addr, "/api/state").await).unwrap();
        let heights: Vec<Option<u64>> = state["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["height"].as_u64())
            .collect();
        let tree_full = state["tree"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|blk| blk["canonical_on"].as_array().unwrap().len() == 2)
            .count()
            == 4;
        (heights == [Some(4), Some(4), None] && tree_full).then_some(state)
    })
    .await;
    let nodes = state["nodes"].as_array().unwrap();
    let head = a.kit.status().await.unwrap().head_hash;
    assert_eq!(nodes[0]["head"], head.as_str());
    assert_eq!(nodes[1]["head"], head.as_str());
    assert_eq!(nodes[0]["role"], "validator");
    assert_eq!(nodes[1]["role"], "full");
    assert_eq!(nodes[1]["lag"], 0);
    assert_eq!(nodes[2]["reachable"], false);
    assert_eq!(state["top"], 4);
    // Blocks are named by the node that produced them.
    assert!(
        state["tree"]
            .as_array()
            .unwrap()
            .iter()
            .all(|blk| blk["producer"] == a.kit.name.as_str()),
        "{}",
        state["tree"]
    );
    assert!(
        state["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "late join")
    );
    assert_eq!(state["history"].as_array().unwrap().len(), 3);

    // The page and its assets come from the binary; nothing is loaded from elsewhere.
    let page = http_get(dashboard.addr, "/").await;
    assert!(page.contains("<table id=\"nodes\">"), "{page}");
    assert!(!page.contains("http://") && !page.contains("https://"));
    let app = http_get(dashboard.addr, "/app.js").await;
    assert!(app.contains("new EventSource(\"/events\")"));
    assert!(!app.contains("https://"));
    assert!(
        http_get(dashboard.addr, "/style.css")
            .await
            .contains("--bg")
    );

    // Server-sent events carry the same state.
    let stream = raw_get(dashboard.addr, "/events", "\n\n").await;
    assert!(
        stream.contains("content-type: text/event-stream"),
        "{stream}"
    );
    let data = stream
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let pushed: Value = serde_json::from_str(data).unwrap();
    assert_eq!(pushed["top"], 4);
    assert!(stream.contains("event: state"));

    drop(dashboard);
    for n in [a, b] {
        n.node.shutdown().await;
    }
}
