//! Reads the network for the dashboard, over each node's public gRPC only: every
//! [`POLL_EVERY`], `GetStatus` on every node, then the headers from its head down to the first
//! height whose canonical hash the board already has (at most [`super::board::TREE_DEPTH`]), so
//! a node's branch and any reorg show in the block tree at the cost of one header per new block.

use std::sync::Arc;
use std::time::Duration;

use super::board::{Board, TREE_DEPTH};
use crate::client::NodeClient;

/// How often the nodes are read.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// Reads `nodes` into `board` until the task is aborted; each node has its own loop, so one
/// that hangs (paused, cut off) delays no other row.
pub async fn run(board: Arc<Board>, nodes: Vec<NodeClient>) {
    let mut loops = tokio::task::JoinSet::new();
    for node in nodes {
        let board = board.clone();
        loops.spawn(async move {
            let mut ticker = tokio::time::interval(POLL_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                read(&board, &node).await;
            }
        });
    }
    // The loops never end; dropping the set (when this task is aborted) aborts them.
    while loops.join_next().await.is_some() {}
}

async fn read(board: &Board, node: &NodeClient) {
    let asked = std::time::Instant::now();
    let status = tokio::time::timeout(POLL_EVERY * 4, node.status())
        .await
        .ok()
        .and_then(Result::ok);
    if status.is_some() {
        board.latency(&node.name, asked.elapsed().as_secs_f64() * 1000.0);
    }
    let at = board.now();
    let Some(status) = status else {
        board.observe(&node.name, None, at);
        return;
    };
    if !status.validator.is_empty() {
        board.name_producer(&status.validator, &node.name);
    }
    let head = status.height;
    let head_hash = status.head_hash.clone();
    board.observe(&node.name, Some(status), at);
    if board.canonical_known(&node.name, head, &head_hash) {
        return;
    }
    let floor = head.saturating_sub(TREE_DEPTH).max(1);
    let mut height = head;
    while height >= floor {
        let Ok(Ok(header)) = tokio::time::timeout(POLL_EVERY * 4, node.header(height)).await else {
            return;
        };
        let known = board.canonical_known(&node.name, header.height, &header.hash);
        board.canonical_header(&node.name, &header);
        if known && height != head {
            return;
        }
        height -= 1;
    }
}
