//! The testnet demo, phase by phase, against three running nodes over gRPC: A produces 10 blocks,
//! B syncs from A, A produces 5 more with 20 transfers, C joins knowing only A, B catches up, and
//! all three are proven equal (heights, every block hash, state roots, balances, chain
//! verification); then standard queries on every node. Unless `once`, every validator then
//! resumes production in its own slots and a live table follows (height, slot, finalized height,
//! reorgs, lag); nodes that disagree on a block every one of them holds as final end it with an
//! error.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::checks::{converge, wait_for};
use crate::client::{KitError, NodeClient};
use crate::dashboard::{Board, EventKind};

/// The three nodes and the pacing.
#[derive(Clone, Debug)]
pub struct Demo {
    /// The validator.
    pub a: NodeClient,
    /// The follower.
    pub b: NodeClient,
    /// The late joiner.
    pub c: NodeClient,
    /// Deadline for each waiting step.
    pub timeout: Duration,
    /// Live table refresh interval.
    pub interval: Duration,
    /// Stop after the phases.
    pub once: bool,
    /// The dashboard's board, told each phase, the late join and the verdict.
    pub board: Option<Arc<Board>>,
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// A hash as `0x12345678…abcd` for tables (whole when short, or when a node sent something
/// that is not ASCII hex: never a panic on what a node reports).
pub(crate) fn short(hash: &str) -> String {
    match (hash.get(..10), hash.get(hash.len().saturating_sub(4)..)) {
        (Some(head), Some(tail)) if hash.len() > 14 => format!("{head}…{tail}"),
        _ => hash.to_string(),
    }
}

impl Demo {
    fn nodes(&self) -> [&NodeClient; 3] {
        [&self.a, &self.b, &self.c]
    }

    fn phase(&self, n: u32, title: &str) {
        say(&format!("\n=== Phase {n}: {title} ==="));
        if let Some(b) = &self.board {
            b.phase(format!("{n}: {title}"));
        }
    }

    /// Runs the phases, then (unless `once`) the live table until an error; the verdict goes to
    /// the board too.
    pub async fn run(&self) -> Result<(), KitError> {
        let result = self.run_phases().await;
        if let (Some(b), Err(e)) = (&self.board, &result) {
            b.verdict(false, format!("failed: {e}"));
        }
        result
    }

    async fn run_phases(&self) -> Result<(), KitError> {
        self.phase(0, "the nodes answer");
        for n in self.nodes() {
            let s = wait_for(&format!("{} to answer", n.name), self.timeout, || async {
                n.status().await.ok()
            })
            .await?;
            say(&format!(
                "{:<8} height {:<6} genesis {} validator {}",
                n.name,
                s.height,
                short(&s.genesis_hash),
                if s.validator.is_empty() { "no" } else { "yes" }
            ));
        }
        let genesis = self.a.status().await?.genesis_hash;
        for n in self.nodes() {
            if n.status().await?.genesis_hash != genesis {
                return Err(KitError::Diverged(format!(
                    "{} runs another genesis",
                    n.name
                )));
            }
        }
        let base = self.a.status().await?.height;

        self.phase(1, &format!("{} produces 10 blocks", self.a.name));
        let made = self.a.produce(10, 0).await?;
        say(&format!(
            "{} produced heights {}..={}",
            self.a.name,
            made[0].height,
            made[made.len() - 1].height
        ));

        self.phase(2, &format!("{} syncs from {}", self.b.name, self.a.name));
        self.b.add_peer(&self.a.peer_address).await?;
        let c1 = converge(&[&self.a, &self.b], base + 10, self.timeout).await?;
        say(&format!(
            "{} and {} agree: height {} head {}",
            self.a.name,
            self.b.name,
            c1.height,
            short(&c1.head_hash)
        ));

        self.phase(
            3,
            &format!("{} produces 5 blocks with 20 transfers", self.a.name),
        );
        let made = self.a.produce(5, 4).await?;
        let txs: u32 = made.iter().map(|h| h.tx_count).sum();
        say(&format!(
            "{} produced heights {}..={} with {txs} transfers",
            self.a.name,
            made[0].height,
            made[made.len() - 1].height
        ));

        self.phase(
            4,
            &format!("{} joins knowing only {}", self.c.name, self.a.name),
        );
        self.c.add_peer(&self.a.peer_address).await?;
        say(&format!(
            "{} was told of {}; it syncs from scratch and learns the other peers from it",
            self.c.name, self.a.peer_address
        ));
        if let Some(b) = &self.board {
            b.event(
                EventKind::LateJoin,
                Some(&self.c.name),
                format!("{} joins knowing only {}", self.c.name, self.a.peer_address),
            );
        }

        self.phase(
            5,
            &format!("{} catches up; all three verified equal", self.b.name),
        );
        let all = converge(&[&self.a, &self.b, &self.c], base + 15, self.timeout).await?;
        say(&format!(
            "all equal at height {}: {} block hashes per node, state root {}, {} accounts' balances and nonces, chains re-verified",
            all.height,
            all.blocks_compared,
            short(&all.state_root),
            all.accounts_compared
        ));

        self.phase(6, "standard queries on every node");
        let head_block = self.a.block(all.height).await?;
        let recipient = head_block.transactions.first().map(|t| t.recipient.clone());
        for n in self.nodes() {
            let s = n.status().await?;
            let b = n.block(all.height).await?;
            let h = b.header.unwrap_or_default();
            say(&format!(
                "{:<8} status: height {} peers {} | block {}: {} txs, hash {}",
                n.name,
                s.height,
                s.peers.len(),
                h.height,
                b.transactions.len(),
                short(&h.hash)
            ));
            if let Some(r) = &recipient {
                let acc = n.account(r, Some(all.height), true).await?;
                say(&format!(
                    "{:<8} account {}: balance {} nonce {} ({} proof nodes)",
                    n.name,
                    short(r),
                    acc.balance,
                    acc.nonce,
                    acc.proof.len()
                ));
            }
        }
        say("\nRESULT: converged");
        if let Some(b) = &self.board {
            b.verdict(true, format!("converged at height {}", all.height));
        }
        if self.once {
            return Ok(());
        }
        self.live().await
    }

    async fn live(&self) -> Result<(), KitError> {
        say("\n=== Live: every validator produces in its own slots; the table refreshes ===");
        if let Some(b) = &self.board {
            b.phase("live: every validator produces in its own slots");
        }
        for n in self.nodes() {
            match n.set_production(false).await {
                Ok(_) => say(&format!("{}: slot production resumed", n.name)),
                Err(e) => say(&format!("{}: not producing ({e})", n.name)),
            }
        }
        let mut ticker = tokio::time::interval(self.interval);
        let mut disagreements = 0;
        loop {
            ticker.tick().await;
            let mut rows = Vec::new();
            for n in self.nodes() {
                rows.push((n, n.status().await.ok()));
            }
            let top = rows
                .iter()
                .filter_map(|(_, s)| s.as_ref().map(|s| s.height))
                .max()
                .unwrap_or(0);
            say(&format!(
                "{:<8} {:>7} {:>10} {:>9} {:<16} {:<16} {:>5} {:>6} {:>4}",
                "node",
                "height",
                "slot",
                "finalized",
                "head",
                "state root",
                "peers",
                "reorgs",
                "lag"
            ));
            for (n, s) in &rows {
                match s {
                    Some(s) => say(&format!(
                        "{:<8} {:>7} {:>10} {:>9} {:<16} {:<16} {:>5} {:>6} {:>4}",
                        n.name,
                        s.height,
                        s.head_slot,
                        s.finalized_height,
                        short(&s.head_hash),
                        short(&s.state_root),
                        s.peers
                            .iter()
                            .filter(|p| p.state() == proto::node::v1::PeerState::Ready)
                            .count(),
                        s.reorgs,
                        top - s.height
                    )),
                    None => say(&format!("{:<8} unreachable", n.name)),
                }
            }
            // Agreement on the highest block every node holds as final.
            let low = rows
                .iter()
                .filter_map(|(_, s)| s.as_ref().map(|s| s.finalized_height))
                .min()
                .unwrap_or(0);
            let mut hashes = Vec::new();
            for n in self.nodes() {
                if let Ok(h) = n.header(low).await {
                    hashes.push(h.hash);
                }
            }
            if hashes.windows(2).any(|w| w[0] != w[1]) {
                disagreements += 1;
                say(&format!(
                    "nodes disagree on final block {low} ({disagreements} in a row)"
                ));
                if disagreements >= 3 {
                    return Err(KitError::Diverged(format!(
                        "nodes hold different final blocks at height {low}"
                    )));
                }
            } else {
                disagreements = 0;
            }
        }
    }
}
