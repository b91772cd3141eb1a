//! The live testnet dashboard (`luxtensor testnet run --dashboard ADDR`): a web page with one row
//! per node (role, height, head, finalized, slot, peers, lag, sync progress with blocks/s and
//! ETA, banned peers), every node's height over time, the recent block tree with forks and
//! abandoned blocks marked, the run's phase and verdict, and a timeline of events (late join,
//! perturbation, ban, reorg). Split by job: [`board`] is the model (no I/O), [`poll`] fills it
//! from the nodes' public gRPC, [`http`] serves the page and pushes the board as server-sent
//! events. The page's assets are compiled in.

pub mod board;
pub mod http;
pub mod poll;

use std::net::SocketAddr;
use std::sync::Arc;

pub use board::{Board, EventKind};

use crate::client::NodeClient;

/// A running dashboard: the board, its address, and its tasks (stopped when dropped).
#[derive(Debug)]
pub struct Dashboard {
    /// What the page shows; the run posts its phases and events here.
    pub board: Arc<Board>,
    /// Where it is served.
    pub addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Dashboard {
    /// Serves the dashboard of `nodes` on `addr` and starts reading them.
    pub async fn start(addr: SocketAddr, nodes: Vec<NodeClient>) -> Result<Self, http::BindError> {
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let board = Arc::new(Board::new(&names));
        let (addr, server) = http::serve(board.clone(), addr).await?;
        let poller = tokio::spawn(poll::run(board.clone(), nodes));
        Ok(Self {
            board,
            addr,
            tasks: vec![server, poller],
        })
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
