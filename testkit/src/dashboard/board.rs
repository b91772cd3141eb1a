//! The dashboard's model of the network, with no I/O: one row per node (from its `GetStatus`),
//! every node's height over time, the recent block tree (which node holds which block as
//! canonical, so forks and abandoned blocks show), the run's phase and verdict, and a timeline of
//! events. Observations come in from the poller and the demo; [`Board::snapshot`] is what the
//! page renders. Events the board derives itself: a reorg (a node's reorg counter rose), a ban (a
//! node's banned peers rose), a node unreachable or back, and a node caught up (it was syncing or
//! lagging and reached the top height).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use proto::node::v1 as api;
use serde_json::{Value, json};

use crate::demo::short;

/// Height samples kept per node (at one sample per poll, ten minutes at 500 ms).
pub const HISTORY: usize = 1200;
/// Heights below the top the block tree keeps.
pub const TREE_DEPTH: u64 = 16;
/// Events kept on the timeline.
pub const EVENTS: usize = 200;
/// Seconds over which a node's blocks per second are measured.
const RATE_WINDOW_SECS: f64 = 5.0;

/// What an event on the timeline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The run entered a phase.
    Phase,
    /// A node joined the network late.
    LateJoin,
    /// A node caught up with the top height after syncing.
    CaughtUp,
    /// A node stopped answering or came back (a kill, a pause, a cut).
    Perturbation,
    /// A node banned a peer.
    Ban,
    /// A node reorganized onto another branch.
    Reorg,
    /// The run's verdict.
    Verdict,
}

impl EventKind {
    fn label(self) -> &'static str {
        match self {
            Self::Phase => "phase",
            Self::LateJoin => "late join",
            Self::CaughtUp => "caught up",
            Self::Perturbation => "perturbation",
            Self::Ban => "ban",
            Self::Reorg => "reorg",
            Self::Verdict => "verdict",
        }
    }
}

#[derive(Clone, Debug)]
struct Event {
    at: f64,
    kind: EventKind,
    node: Option<String>,
    text: String,
}

/// One node as last seen.
#[derive(Clone, Debug, Default)]
struct Row {
    name: String,
    status: Option<api::GetStatusResponse>,
    /// Ever answered.
    seen: bool,
    /// (seconds since start, height) samples.
    history: VecDeque<(f64, u64)>,
    /// Behind when last observed (syncing or lagging), so reaching the top is an event.
    behind: bool,
    /// Canonical hash at each recent height.
    canonical: BTreeMap<u64, String>,
    /// Milliseconds the last `GetStatus` took, request to answer.
    latency_ms: Option<f64>,
}

#[derive(Clone, Debug)]
struct BlockInfo {
    height: u64,
    parent: String,
    producer: String,
}

#[derive(Debug, Default)]
struct State {
    phase: String,
    verdict: Option<(bool, String)>,
    rows: Vec<Row>,
    blocks: HashMap<String, BlockInfo>,
    events: VecDeque<Event>,
    /// Producer public key → the node name that holds it (validators only).
    producers: HashMap<String, String>,
}

/// The shared board.
#[derive(Debug)]
pub struct Board {
    started: Instant,
    state: Mutex<State>,
    version: tokio::sync::watch::Sender<u64>,
}

impl Board {
    /// A board for these nodes, in this order.
    pub fn new(names: &[String]) -> Self {
        let rows = names
            .iter()
            .map(|n| Row {
                name: n.clone(),
                ..Row::default()
            })
            .collect();
        Self {
            started: Instant::now(),
            state: Mutex::new(State {
                phase: "starting".into(),
                rows,
                ..State::default()
            }),
            version: tokio::sync::watch::channel(0).0,
        }
    }

    /// Seconds since the board was made.
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// A receiver that changes whenever the board does.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn changed(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    fn push(state: &mut State, at: f64, kind: EventKind, node: Option<&str>, text: String) {
        if state.events.len() == EVENTS {
            state.events.pop_front();
        }
        state.events.push_back(Event {
            at,
            kind,
            node: node.map(str::to_string),
            text,
        });
    }

    /// Records an event from the run (a late join, a perturbation it applied).
    pub fn event(&self, kind: EventKind, node: Option<&str>, text: impl Into<String>) {
        let at = self.now();
        Self::push(
            &mut self.state.lock().expect("board lock"),
            at,
            kind,
            node,
            text.into(),
        );
        self.changed();
    }

    /// The run entered `phase`.
    pub fn phase(&self, phase: impl Into<String>) {
        let phase = phase.into();
        let at = self.now();
        {
            let mut s = self.state.lock().expect("board lock");
            s.phase = phase.clone();
            Self::push(&mut s, at, EventKind::Phase, None, phase);
        }
        self.changed();
    }

    /// The run's verdict.
    pub fn verdict(&self, ok: bool, text: impl Into<String>) {
        let text = text.into();
        let at = self.now();
        {
            let mut s = self.state.lock().expect("board lock");
            s.verdict = Some((ok, text.clone()));
            Self::push(&mut s, at, EventKind::Verdict, None, text);
        }
        self.changed();
    }

    /// How long `node`'s last status request took.
    pub fn latency(&self, node: &str, ms: f64) {
        let mut s = self.state.lock().expect("board lock");
        if let Some(row) = s.rows.iter_mut().find(|r| r.name == node) {
            row.latency_ms = Some(ms);
        }
    }

    /// The node's status now (`None`: it did not answer), observed `at` seconds after start.
    pub fn observe(&self, node: &str, status: Option<api::GetStatusResponse>, at: f64) {
        let mut s = self.state.lock().expect("board lock");
        let top = s
            .rows
            .iter()
            .filter_map(|r| r.status.as_ref().map(|st| st.height))
            .chain(status.as_ref().map(|st| st.height))
            .max()
            .unwrap_or(0);
        let Some(i) = s.rows.iter().position(|r| r.name == node) else {
            return;
        };
        let mut events = Vec::new();
        let row = &mut s.rows[i];
        match (&row.status, &status) {
            (Some(_), None) => {
                events.push((EventKind::Perturbation, format!("{node} stopped answering")))
            }
            (None, Some(_)) if row.seen => {
                events.push((EventKind::Perturbation, format!("{node} answers again")));
            }
            _ => {}
        }
        if let Some(new) = &status {
            if let Some(old) = &row.status {
                if new.reorgs > old.reorgs {
                    events.push((
                        EventKind::Reorg,
                        format!(
                            "{node} reorganized onto another branch (head {} at height {})",
                            short(&new.head_hash),
                            new.height
                        ),
                    ));
                }
                // A peer banned now that was not at the last poll (by address, so a ban that
                // starts while another ends is seen too).
                let banned = |st: &api::GetStatusResponse| -> Vec<String> {
                    st.peers
                        .iter()
                        .filter(|p| p.state() == api::PeerState::Banned)
                        .map(|p| p.address.clone())
                        .collect()
                };
                let before = banned(old);
                for peer in banned(new) {
                    if !before.contains(&peer) {
                        events.push((EventKind::Ban, format!("{node} banned {peer}")));
                    }
                }
            }
            let behind = new.syncing || new.height.saturating_add(2) < top;
            if row.behind && !behind && new.height >= top {
                events.push((
                    EventKind::CaughtUp,
                    format!("{node} caught up at height {}", new.height),
                ));
            }
            row.behind = behind;
            row.seen = true;
            if row.history.len() == HISTORY {
                row.history.pop_front();
            }
            row.history.push_back((at, new.height));
        }
        row.status = status;
        for (kind, text) in events {
            Self::push(&mut s, at, kind, Some(node), text);
        }
        drop(s);
        self.changed();
    }

    /// True when the board knows `hash` as `node`'s canonical block at `height` (the poller
    /// walks down from a head until this holds: below it nothing changed).
    pub fn canonical_known(&self, node: &str, height: u64, hash: &str) -> bool {
        let s = self.state.lock().expect("board lock");
        s.rows
            .iter()
            .find(|r| r.name == node)
            .is_some_and(|r| r.canonical.get(&height).is_some_and(|h| h == hash))
    }

    /// `node` holds `header` as canonical at its height.
    pub fn canonical_header(&self, node: &str, header: &api::Header) {
        let mut s = self.state.lock().expect("board lock");
        s.blocks.insert(
            header.hash.clone(),
            BlockInfo {
                height: header.height,
                parent: header.parent_hash.clone(),
                producer: header.producer.clone(),
            },
        );
        let top = s.blocks.values().map(|b| b.height).max().unwrap_or(0);
        let floor = top.saturating_sub(TREE_DEPTH);
        s.blocks.retain(|_, b| b.height >= floor);
        if let Some(row) = s.rows.iter_mut().find(|r| r.name == node) {
            row.canonical.insert(header.height, header.hash.clone());
            // Anything above the head is no longer canonical there.
            let head = row.status.as_ref().map_or(header.height, |st| st.height);
            row.canonical.retain(|h, _| *h >= floor && *h <= head);
        }
        drop(s);
        self.changed();
    }

    /// Names the producer keys of the validators (from their status).
    pub fn name_producer(&self, key: &str, node: &str) {
        self.state
            .lock()
            .expect("board lock")
            .producers
            .insert(key.to_string(), node.to_string());
    }

    /// Everything the page shows, as JSON.
    pub fn snapshot(&self) -> Value {
        let s = self.state.lock().expect("board lock");
        let now = self.now();
        let top = s
            .rows
            .iter()
            .filter_map(|r| r.status.as_ref().map(|st| st.height))
            .max()
            .unwrap_or(0);
        let nodes: Vec<Value> = s
            .rows
            .iter()
            .map(|r| {
                let rate = rate(&r.history, now);
                match &r.status {
                    None => json!({ "name": r.name, "reachable": false }),
                    Some(st) => {
                        let remaining = st.sync_target.saturating_sub(st.height);
                        json!({
                            "name": r.name,
                            "reachable": true,
                            "role": if st.validator.is_empty() { "full" } else { "validator" },
                            "height": st.height,
                            "head": st.head_hash,
                            "finalized": st.finalized_height,
                            "slot": st.head_slot,
                            "current_slot": st.current_slot,
                            "peers": st.peers.iter().filter(|p| p.state() == api::PeerState::Ready).count(),
                            "banned": st.peers.iter().filter(|p| p.state() == api::PeerState::Banned).count(),
                            "lag": top - st.height,
                            "syncing": st.syncing,
                            "target": st.sync_target,
                            "blocks_per_sec": rate,
                            "eta_secs": (st.syncing && rate > 0.0).then(|| remaining as f64 / rate),
                            "reorgs": st.reorgs,
                            "paused": st.production_paused,
                            "latency_ms": r.latency_ms.map(|ms| (ms * 10.0).round() / 10.0),
                        })
                    }
                }
            })
            .collect();
        let history: Vec<Value> = s
            .rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "points": r.history.iter().map(|(t, h)| json!([(t * 10.0).round() / 10.0, h])).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut blocks: Vec<(&String, &BlockInfo)> = s.blocks.iter().collect();
        blocks.sort_by(|a, b| a.1.height.cmp(&b.1.height).then(a.0.cmp(b.0)));
        let tree: Vec<Value> = blocks
            .iter()
            .map(|(hash, b)| {
                let on: Vec<&str> = s
                    .rows
                    .iter()
                    .filter(|r| r.canonical.get(&b.height) == Some(*hash))
                    .map(|r| r.name.as_str())
                    .collect();
                json!({
                    "hash": hash,
                    "height": b.height,
                    "parent": b.parent,
                    "producer": s.producers.get(&b.producer).cloned().unwrap_or_else(|| short(&b.producer)),
                    "canonical_on": on,
                })
            })
            .collect();
        let events: Vec<Value> = s
            .events
            .iter()
            .rev()
            .map(|e| json!({ "at": (e.at * 10.0).round() / 10.0, "kind": e.kind.label(), "node": e.node, "text": e.text }))
            .collect();
        json!({
            "uptime_secs": (now * 10.0).round() / 10.0,
            "phase": s.phase,
            "verdict": s.verdict.as_ref().map(|(ok, text)| json!({ "ok": ok, "text": text })),
            "top": top,
            "nodes": nodes,
            "history": history,
            "tree": tree,
            "events": events,
        })
    }
}

/// Blocks per second over the last [`RATE_WINDOW_SECS`] of samples.
fn rate(history: &VecDeque<(f64, u64)>, now: f64) -> f64 {
    let Some(&(t1, h1)) = history.back() else {
        return 0.0;
    };
    let Some(&(t0, h0)) = history.iter().find(|(t, _)| *t >= now - RATE_WINDOW_SECS) else {
        return 0.0;
    };
    if t1 - t0 < 0.5 {
        return 0.0;
    }
    (h1.saturating_sub(h0)) as f64 / (t1 - t0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(height: u64, head: &str, reorgs: u64) -> api::GetStatusResponse {
        api::GetStatusResponse {
            height,
            head_hash: head.into(),
            reorgs,
            ..Default::default()
        }
    }

    fn kinds(board: &Board) -> Vec<String> {
        board.snapshot()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn rows_lag_and_events_follow_the_statuses() {
        let board = Board::new(&["a".into(), "b".into()]);
        board.observe("a", Some(status(10, "0xa10", 0)), 1.0);
        board.observe("b", Some(status(2, "0xb2", 0)), 1.0);
        let snap = board.snapshot();
        assert_eq!(snap["top"], 10);
        assert_eq!(snap["nodes"][1]["lag"], 8);
        // b catches up, then reorganizes; a stops answering and comes back.
        board.observe("b", Some(status(10, "0xa10", 0)), 2.0);
        board.observe("b", Some(status(11, "0xb11", 1)), 3.0);
        board.observe("a", None, 3.0);
        board.observe("a", Some(status(11, "0xb11", 0)), 4.0);
        assert_eq!(
            kinds(&board),
            ["perturbation", "perturbation", "reorg", "caught up"]
        );
        assert_eq!(board.snapshot()["nodes"][0]["reachable"], true);
    }

    #[test]
    fn a_ban_is_an_event_even_when_another_ends() {
        let board = Board::new(&["a".into()]);
        let with_banned = |peers: &[&str]| api::GetStatusResponse {
            peers: peers
                .iter()
                .map(|p| api::Peer {
                    address: p.to_string(),
                    state: api::PeerState::Banned as i32,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        board.observe("a", Some(with_banned(&["x:1"])), 1.0);
        board.observe("a", Some(with_banned(&["y:1"])), 2.0);
        let events = board.snapshot()["events"].clone();
        assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
        assert_eq!(events[0]["kind"], "ban");
        assert_eq!(events[0]["text"], "a banned y:1");
    }

    #[test]
    fn the_tree_marks_which_node_holds_which_block() {
        let board = Board::new(&["a".into(), "b".into()]);
        board.observe("a", Some(status(2, "0x2a", 0)), 1.0);
        board.observe("b", Some(status(2, "0x2b", 0)), 1.0);
        let header = |h: u64, hash: &str, parent: &str| api::Header {
            height: h,
            hash: hash.into(),
            parent_hash: parent.into(),
            producer: "0xkey".into(),
            ..Default::default()
        };
        board.name_producer("0xkey", "a");
        board.canonical_header("a", &header(1, "0x1", "0x0"));
        board.canonical_header("b", &header(1, "0x1", "0x0"));
        board.canonical_header("a", &header(2, "0x2a", "0x1"));
        board.canonical_header("b", &header(2, "0x2b", "0x1"));
        assert!(board.canonical_known("a", 2, "0x2a"));
        assert!(!board.canonical_known("a", 2, "0x2b"));
        let tree = board.snapshot()["tree"].clone();
        assert_eq!(tree.as_array().unwrap().len(), 3);
        assert_eq!(tree[0]["canonical_on"], json!(["a", "b"]));
        assert_eq!(tree[1]["canonical_on"], json!(["a"]));
        assert_eq!(tree[2]["canonical_on"], json!(["b"]));
        assert_eq!(tree[0]["producer"], "a");
    }

    #[test]
    fn odd_hashes_from_a_node_never_panic() {
        assert_eq!(short("0x0123456789abcdef"), "0x01234567…cdef");
        assert_eq!(short("0x01"), "0x01");
        // A multi-byte character where the cut would fall: shown whole, no panic.
        let odd = "aéééééééééééééé";
        assert!(!odd.is_char_boundary(10));
        assert_eq!(short(odd), odd);
        // Cuts on character boundaries are fine.
        assert_eq!(short("ééééééééééééééé"), "ééééé…éé");
    }

    #[test]
    fn rate_is_measured_over_the_window() {
        let mut h = VecDeque::new();
        for i in 0..=10u64 {
            h.push_back((i as f64, i * 4));
        }
        assert!((rate(&h, 10.0) - 4.0).abs() < 1e-9);
        assert_eq!(rate(&VecDeque::new(), 1.0), 0.0);
    }
}
