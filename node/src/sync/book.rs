//! The peer book: every peer the node knows, with its last status, reputation score and state.
//! Misbehaviour lowers the score; at the threshold a peer is banned, for longer each time it is
//! banned again, and not asked again until the ban ends; bans are kept on disk (through
//! [`BanStore`]) and survive a restart; a peer on another network is never asked again.
//!
//! Addresses come in two ways. The operator's (`--peer`, `AddPeer`) enter the book at once and
//! are never evicted. Addresses other nodes *advertise* (in handshakes, in peer exchange) are
//! only candidates: the node dials each back and adds it only when the handshake succeeds on the
//! same network ([`PeerBook::verified`]). Candidates are bounded in total and per source, and a
//! dead address is forgotten after one failed dial, so handshakes with made-up addresses cannot
//! fill the book or crowd real peers out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::peer::{PeerError, PeerStatus};
use super::{PeerReport, PeerState};

/// Score at or below which a peer is banned.
pub const BAN_THRESHOLD: i32 = -100;
/// Highest score.
pub const MAX_SCORE: i32 = 100;
/// Longest ban, however often a peer is banned again.
pub const MAX_BAN: Duration = Duration::from_secs(24 * 3600);
/// Candidate addresses waiting to be dialed back, at most.
pub const MAX_CANDIDATES: usize = 256;
/// Candidate addresses one source may have waiting, at most.
pub const MAX_CANDIDATES_PER_SOURCE: usize = 16;
/// Banned addresses remembered besides the peers, at most.
pub const MAX_BANNED: usize = 1024;
/// How long an address whose dial-back failed is not proposed again.
pub const FAILED_DIAL_MEMORY: Duration = Duration::from_secs(300);
/// Longest host:port accepted (a DNS name is at most 253 characters).
pub const MAX_ADDRESS_LEN: usize = 260;

/// What a peer did wrong, and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// Sent an invalid header or body, or a body not matching its header: banned at once.
    InvalidData,
    /// Broke the protocol (malformed, more items than asked, ignored the locator).
    Protocol,
    /// Claimed a height, then did not serve it.
    Withheld,
    /// Sent nothing for longer than the stall timeout.
    Timeout,
    /// Streamed below the minimum throughput (the drip attack): banned at once.
    Slow,
    /// Could not be reached.
    Unreachable,
}

/// A failed exchange with one peer: who, what it costs them, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The peer's address.
    pub peer: String,
    /// The offence it is charged with.
    pub offence: Offence,
    /// What happened.
    pub reason: String,
}

impl Fault {
    /// A fault of `peer`.
    pub fn new(peer: &str, offence: Offence, reason: impl Into<String>) -> Self {
        Self {
            peer: peer.to_string(),
            offence,
            reason: reason.into(),
        }
    }

    /// The fault a failed exchange charges a peer with.
    pub fn from_peer_error(peer: &str, e: &PeerError) -> Self {
        let offence = match e {
            PeerError::Transport(_) | PeerError::Refused(_) => Offence::Unreachable,
            PeerError::Timeout(_) => Offence::Timeout,
            PeerError::Slow(_) => Offence::Slow,
            PeerError::Protocol(_) => Offence::Protocol,
        };
        Self::new(peer, offence, e.to_string())
    }
}

impl Offence {
    /// The score penalty.
    pub fn penalty(self) -> i32 {
        match self {
            Offence::InvalidData | Offence::Slow => 100,
            Offence::Protocol => 50,
            Offence::Withheld | Offence::Timeout => 35,
            Offence::Unreachable => 0,
        }
    }
}

/// A ban as kept on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistedBan {
    /// The banned address.
    pub address: String,
    /// When the ban ends, in ms since the Unix epoch.
    pub until_unix_ms: u64,
    /// How many times the address was banned (each ban lasts twice the previous one).
    pub count: u32,
}

/// Where bans are kept so that they survive a restart (the node's database).
pub trait BanStore: Send + Sync + std::fmt::Debug + 'static {
    /// Every ban stored.
    fn load(&self) -> Vec<PersistedBan>;
    /// Stores (or replaces) a ban.
    fn save(&self, ban: &PersistedBan);
}

impl BanStore for crate::storage::Store {
    fn load(&self) -> Vec<PersistedBan> {
        match self.bans() {
            Ok(bans) => bans
                .into_iter()
                .map(|(address, until_unix_ms, count)| PersistedBan {
                    address,
                    until_unix_ms,
                    count,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(target: "sync::peers", error = %e, "cannot read stored bans");
                Vec::new()
            }
        }
    }

    fn save(&self, ban: &PersistedBan) {
        if let Err(e) = self.put_ban(&ban.address, ban.until_unix_ms, ban.count) {
            tracing::warn!(target: "sync::peers", peer = ban.address, error = %e, "cannot store a ban");
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Connecting,
    Ready,
    Banned(Instant),
    Incompatible,
    Unreachable(Instant),
}

#[derive(Debug)]
struct Entry {
    status: Option<PeerStatus>,
    score: i32,
    state: State,
    last_handshake: Option<Instant>,
    failures: u32,
    /// Given by the operator: never evicted.
    pinned: bool,
    /// Times banned so far.
    bans: u32,
}

impl Entry {
    fn new(pinned: bool) -> Self {
        Self {
            status: None,
            score: 0,
            state: State::Connecting,
            last_handshake: None,
            failures: 0,
            pinned,
            bans: 0,
        }
    }

    fn is_banned(&self, now: Instant) -> bool {
        matches!(self.state, State::Banned(until) if until > now)
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    candidates: VecDeque<(String, String)>,
    failed_dials: HashMap<String, Instant>,
}

impl Inner {
    /// Peers that count against the bound (banned ones are remembered apart).
    fn peers(&self, now: Instant) -> usize {
        self.entries.values().filter(|e| !e.is_banned(now)).count()
    }

    /// Makes room for one more peer by evicting the least useful unpinned one (unreachable
    /// first, then the lowest score); false when every peer is pinned or useful.
    fn evict_one(&mut self, now: Instant) -> bool {
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| !e.pinned && !e.is_banned(now))
            .min_by_key(|(_, e)| {
                (
                    !matches!(e.state, State::Unreachable(_) | State::Connecting),
                    e.score,
                )
            })
            .map(|(a, _)| a.clone());
        match victim {
            Some(a) => {
                self.entries.remove(&a);
                true
            }
            None => false,
        }
    }
}

/// Known peers.
#[derive(Debug)]
pub struct PeerBook {
    inner: Mutex<Inner>,
    max_peers: usize,
    ban_duration: Duration,
    own_address: Option<String>,
    store: Option<Arc<dyn BanStore>>,
    /// Bans since start, per offence, in [`Offence::ALL`] order.
    bans_by_offence: [std::sync::atomic::AtomicU64; 6],
}

impl Offence {
    /// Every offence, in the order ban counters are kept.
    pub const ALL: [Offence; 6] = [
        Offence::InvalidData,
        Offence::Protocol,
        Offence::Withheld,
        Offence::Timeout,
        Offence::Slow,
        Offence::Unreachable,
    ];

    /// The offence as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidData => "invalid_data",
            Self::Protocol => "protocol",
            Self::Withheld => "withheld",
            Self::Timeout => "timeout",
            Self::Slow => "slow",
            Self::Unreachable => "unreachable",
        }
    }
}

/// Checks a `host:port` address.
pub fn check_address(address: &str) -> Result<(), String> {
    if address.len() > MAX_ADDRESS_LEN {
        return Err(format!(
            "peer address of {} characters (at most {MAX_ADDRESS_LEN} are accepted)",
            address.len()
        ));
    }
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("peer address {address:?} is not host:port"))?;
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(format!("peer address {address:?} has no valid host"));
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .map(|_| ())
        .ok_or_else(|| format!("peer address {address:?} has no valid port"))
}

fn unix_ms() -> u64 {
    crate::ledger::now_ms()
}

impl PeerBook {
    /// An empty book; `own_address` is never added.
    pub fn new(max_peers: usize, ban_duration: Duration, own_address: Option<String>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_peers,
            ban_duration,
            own_address,
            store: None,
            bans_by_offence: Default::default(),
        }
    }

    /// Keeps bans in `store`, and starts with the bans it holds that have not ended.
    pub fn with_ban_store(mut self, store: Arc<dyn BanStore>) -> Self {
        let now_ms = unix_ms();
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("peer book lock");
        for ban in store.load() {
            if ban.until_unix_ms <= now_ms || check_address(&ban.address).is_err() {
                continue;
            }
            let left = Duration::from_millis(ban.until_unix_ms - now_ms).min(MAX_BAN);
            let mut entry = Entry::new(false);
            entry.state = State::Banned(now + left);
            entry.score = BAN_THRESHOLD;
            entry.bans = ban.count;
            tracing::info!(target: "sync::peers", peer = ban.address, left_secs = left.as_secs(), "ban restored from disk");
            inner.entries.insert(ban.address, entry);
        }
        drop(inner);
        self.store = Some(store);
        self
    }

    /// Adds an operator-given peer (never evicted); returns the number of known peers. When the
    /// book is full the least useful advertised peer makes room.
    pub fn add(&self, address: &str) -> Result<usize, String> {
        check_address(address)?;
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("peer book lock");
        if self.own_address.as_deref() == Some(address) {
            return Ok(inner.peers(now));
        }
        if let Some(e) = inner.entries.get_mut(address) {
            e.pinned = true;
            // The operator says it is there now: no waiting out an unreachable backoff.
            if matches!(e.state, State::Unreachable(_)) {
                e.state = State::Connecting;
            }
            return Ok(inner.peers(now));
        }
        if inner.peers(now) >= self.max_peers && !inner.evict_one(now) {
            return Err(format!(
                "peer book is full ({} peers, all given by the operator)",
                self.max_peers
            ));
        }
        inner.entries.insert(address.to_string(), Entry::new(true));
        Ok(inner.peers(now))
    }

    /// Proposes an address another node advertised (`source`: who told us). It is dialed back
    /// before it becomes a peer; known, recently failed or malformed addresses are ignored.
    pub fn propose(&self, address: &str, source: &str) {
        if check_address(address).is_err() || self.own_address.as_deref() == Some(address) {
            return;
        }
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("peer book lock");
        inner
            .failed_dials
            .retain(|_, at| now.duration_since(*at) < FAILED_DIAL_MEMORY);
        if inner.entries.contains_key(address)
            || inner.failed_dials.contains_key(address)
            || inner.candidates.iter().any(|(a, _)| a == address)
        {
            return;
        }
        let from_source = inner.candidates.iter().filter(|(_, s)| s == source).count();
        if from_source >= MAX_CANDIDATES_PER_SOURCE
            && let Some(i) = inner.candidates.iter().position(|(_, s)| s == source)
        {
            inner.candidates.remove(i);
        }
        if inner.candidates.len() >= MAX_CANDIDATES {
            inner.candidates.pop_front();
        }
        inner
            .candidates
            .push_back((address.to_string(), source.to_string()));
    }

    /// Up to `n` candidates to dial back now (they leave the queue).
    pub fn take_candidates(&self, n: usize) -> Vec<String> {
        let mut inner = self.inner.lock().expect("peer book lock");
        let n = n.min(inner.candidates.len());
        inner.candidates.drain(..n).map(|(a, _)| a).collect()
    }

    /// A dialed-back candidate answered a handshake on our network: it becomes a ready peer (if
    /// there is room). Returns whether it was added.
    pub fn verified(&self, address: &str, status: PeerStatus) -> bool {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("peer book lock");
        if inner.entries.contains_key(address) {
            return false;
        }
        if inner.peers(now) >= self.max_peers && !inner.evict_one(now) {
            return false;
        }
        let mut entry = Entry::new(false);
        entry.status = Some(status);
        entry.state = State::Ready;
        entry.last_handshake = Some(now);
        inner.entries.insert(address.to_string(), entry);
        tracing::debug!(target: "sync::peers", peer = address, "advertised peer verified and added");
        true
    }

    /// A dialed-back candidate did not answer: it is not proposed again for a while.
    pub fn dial_failed(&self, address: &str) {
        self.inner
            .lock()
            .expect("peer book lock")
            .failed_dials
            .insert(address.to_string(), Instant::now());
    }

    /// Candidates waiting to be dialed back.
    pub fn candidate_count(&self) -> usize {
        self.inner.lock().expect("peer book lock").candidates.len()
    }

    /// Addresses worth handshaking now: not banned, not incompatible, not backing off, and not
    /// handshaken within `interval`.
    pub fn due_for_handshake(&self, interval: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("peer book lock");
        inner
            .entries
            .iter_mut()
            .filter_map(|(address, e)| {
                match e.state {
                    State::Incompatible => return None,
                    State::Banned(until) | State::Unreachable(until) if until > now => return None,
                    State::Banned(_) => {
                        e.state = State::Connecting;
                        e.score = BAN_THRESHOLD / 2;
                    }
                    _ => {}
                }
                let due = e
                    .last_handshake
                    .is_none_or(|t| now.duration_since(t) >= interval);
                due.then(|| address.clone())
            })
            .collect()
    }

    /// Records a successful handshake.
    pub fn record_status(&self, address: &str, status: PeerStatus) {
        let mut inner = self.inner.lock().expect("peer book lock");
        if let Some(e) = inner.entries.get_mut(address) {
            if matches!(e.state, State::Banned(_) | State::Incompatible) {
                return;
            }
            e.status = Some(status);
            e.state = State::Ready;
            e.failures = 0;
            e.last_handshake = Some(Instant::now());
        }
    }

    /// Updates a ready peer's announced head (from a head announcement).
    pub fn record_head(&self, address: &str, height: u64, hash: [u8; 32]) {
        let mut inner = self.inner.lock().expect("peer book lock");
        if let Some(e) = inner.entries.get_mut(address)
            && let Some(s) = e.status.as_mut()
        {
            s.head_height = height;
            s.head_hash = hash;
        }
    }

    /// Marks a peer of another network: never asked again.
    pub fn mark_incompatible(&self, address: &str) {
        if let Some(e) = self
            .inner
            .lock()
            .expect("peer book lock")
            .entries
            .get_mut(address)
        {
            e.state = State::Incompatible;
            e.status = None;
        }
    }

    /// Bans since this book was made, per offence (every offence listed, zeros included).
    pub fn bans_by_offence(&self) -> [(Offence, u64); 6] {
        std::array::from_fn(|i| {
            (
                Offence::ALL[i],
                self.bans_by_offence[i].load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    }

    /// How long the `count`-th ban lasts: the ban duration, doubled for each earlier ban, at most
    /// [`MAX_BAN`].
    pub fn ban_length(&self, count: u32) -> Duration {
        let factor = 1u32
            .checked_shl(count.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.ban_duration
            .checked_mul(factor)
            .unwrap_or(MAX_BAN)
            .min(MAX_BAN)
    }

    /// Records an offence; returns true if the peer is now banned.
    pub fn penalize(&self, address: &str, offence: Offence, reason: &str) -> bool {
        let mut inner = self.inner.lock().expect("peer book lock");
        let now = Instant::now();
        if !inner.entries.contains_key(address) {
            return false;
        }
        let banned_entries = inner.entries.values().filter(|e| e.is_banned(now)).count();
        let Some(e) = inner.entries.get_mut(address) else {
            return false;
        };
        if offence == Offence::Unreachable {
            e.failures += 1;
            let backoff = Duration::from_millis(250 * 2u64.pow(e.failures.min(5)));
            e.state = State::Unreachable(now + backoff);
            tracing::debug!(target: "sync::peers", peer = address, reason, ?backoff, "peer unreachable");
            return false;
        }
        e.score -= offence.penalty();
        if offence.penalty() >= -BAN_THRESHOLD {
            // Invalid data and a too-slow stream ban at once, whatever the peer earned before.
            e.score = e.score.min(BAN_THRESHOLD);
        }
        tracing::warn!(target: "sync::peers", peer = address, ?offence, score = e.score, reason, "peer misbehaved");
        if e.score > BAN_THRESHOLD {
            return false;
        }
        e.bans += 1;
        if let Some(i) = Offence::ALL.iter().position(|o| *o == offence) {
            self.bans_by_offence[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let length = self.ban_length(e.bans);
        e.state = State::Banned(now + length);
        e.status = None;
        let count = e.bans;
        tracing::warn!(target: "sync::peers", peer = address, ban_secs = length.as_secs(), bans = count, "peer banned");
        if let Some(store) = &self.store {
            store.save(&PersistedBan {
                address: address.to_string(),
                until_unix_ms: unix_ms().saturating_add(length.as_millis() as u64),
                count,
            });
        }
        // Remember at most MAX_BANNED banned addresses: forget the one whose ban ends first.
        if banned_entries >= MAX_BANNED {
            let first = inner
                .entries
                .iter()
                .filter_map(|(a, e)| match e.state {
                    State::Banned(until) if a != address => Some((until, a.clone())),
                    _ => None,
                })
                .min();
            if let Some((_, a)) = first {
                inner.entries.remove(&a);
            }
        }
        true
    }

    /// Rewards useful data.
    pub fn reward(&self, address: &str) {
        if let Some(e) = self
            .inner
            .lock()
            .expect("peer book lock")
            .entries
            .get_mut(address)
        {
            e.score = (e.score + 1).min(MAX_SCORE);
        }
    }

    /// Ready peers and their last status, best score first.
    pub fn ready(&self) -> Vec<(String, PeerStatus)> {
        let inner = self.inner.lock().expect("peer book lock");
        let mut ready: Vec<(i32, String, PeerStatus)> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.state == State::Ready)
            .filter_map(|(a, e)| e.status.clone().map(|s| (e.score, a.clone(), s)))
            .collect();
        ready.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ready.into_iter().map(|(_, a, s)| (a, s)).collect()
    }

    /// True when `address` is banned now.
    pub fn is_banned(&self, address: &str) -> bool {
        let now = Instant::now();
        self.inner
            .lock()
            .expect("peer book lock")
            .entries
            .get(address)
            .is_some_and(|e| e.is_banned(now))
    }

    /// The score of `address`, if it is in the book.
    pub fn score(&self, address: &str) -> Option<i32> {
        self.inner
            .lock()
            .expect("peer book lock")
            .entries
            .get(address)
            .map(|e| e.score)
    }

    /// True when `address` is a peer (any state) of the book.
    pub fn contains(&self, address: &str) -> bool {
        self.inner
            .lock()
            .expect("peer book lock")
            .entries
            .contains_key(address)
    }

    /// Addresses to share with other peers (ready or connecting, never banned ones).
    pub fn shareable(&self, limit: usize) -> Vec<String> {
        self.inner
            .lock()
            .expect("peer book lock")
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Ready | State::Connecting))
            .map(|(a, _)| a.clone())
            .take(limit)
            .collect()
    }

    /// The status report.
    pub fn report(&self) -> Vec<PeerReport> {
        let now = Instant::now();
        self.inner
            .lock()
            .expect("peer book lock")
            .entries
            .iter()
            .map(|(address, e)| {
                let (state, banned_for_secs) = match e.state {
                    State::Connecting => (PeerState::Connecting, 0),
                    State::Ready => (PeerState::Ready, 0),
                    State::Banned(until) if until > now => (
                        PeerState::Banned,
                        until.duration_since(now).as_secs().max(1),
                    ),
                    State::Banned(_) => (PeerState::Connecting, 0),
                    State::Incompatible => (PeerState::Incompatible, 0),
                    State::Unreachable(_) => (PeerState::Unreachable, 0),
                };
                PeerReport {
                    address: address.clone(),
                    height: e.status.as_ref().map_or(0, |s| s.head_height),
                    head_hash: e.status.as_ref().map_or([0; 32], |s| s.head_hash),
                    score: e.score,
                    state,
                    banned_for_secs,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> PeerStatus {
        PeerStatus {
            chain_id: 1,
            genesis_hash: [0; 32],
            head_height: 0,
            head_hash: [0; 32],
            state_root: [0; 32],
            listen_address: String::new(),
        }
    }

    #[test]
    fn addresses_are_checked_and_bounded() {
        let book = PeerBook::new(2, Duration::from_secs(60), Some("me:1".into()));
        assert!(book.add("nohost").is_err());
        assert!(book.add("host:0").is_err());
        assert!(book.add("host:99999").is_err());
        assert!(book.add(&format!("{}:1", "h".repeat(300))).is_err());
        assert_eq!(book.add("me:1"), Ok(0));
        assert_eq!(book.add("a:1"), Ok(1));
        assert_eq!(book.add("b:1"), Ok(2));
        assert!(book.add("c:1").unwrap_err().contains("full"));
    }

    #[test]
    fn invalid_data_bans_and_timeouts_accumulate() {
        let book = PeerBook::new(8, Duration::from_secs(60), None);
        book.add("a:1").unwrap();
        book.add("b:1").unwrap();
        assert!(book.penalize("a:1", Offence::InvalidData, "bad signature"));
        assert!(book.is_banned("a:1"));
        assert!(
            !book
                .due_for_handshake(Duration::ZERO)
                .contains(&"a:1".to_string())
        );
        assert!(!book.penalize("b:1", Offence::Timeout, "stall"));
        assert!(!book.penalize("b:1", Offence::Timeout, "stall"));
        assert!(book.penalize("b:1", Offence::Timeout, "stall"));
    }

    #[test]
    fn bans_double_and_stay_bounded() {
        let book = PeerBook::new(8, Duration::from_secs(60), None);
        assert_eq!(book.ban_length(1), Duration::from_secs(60));
        assert_eq!(book.ban_length(2), Duration::from_secs(120));
        assert_eq!(book.ban_length(3), Duration::from_secs(240));
        assert_eq!(book.ban_length(40), MAX_BAN);
        let huge = PeerBook::new(8, Duration::from_secs(u64::MAX / 2), None);
        assert_eq!(huge.ban_length(1), MAX_BAN, "no overflow, no wrap");
    }

    #[test]
    fn advertised_addresses_wait_for_a_dial_back_and_are_bounded_per_source() {
        let book = PeerBook::new(4, Duration::from_secs(60), None);
        for i in 0..40 {
            book.propose(&format!("dead{i}:1"), "attacker");
        }
        assert_eq!(book.report().len(), 0, "nothing enters the book unverified");
        assert_eq!(book.candidate_count(), MAX_CANDIDATES_PER_SOURCE);
        book.propose("real:1", "honest");
        let dial = book.take_candidates(100);
        assert!(dial.contains(&"real:1".to_string()));
        for a in &dial {
            if a == "real:1" {
                assert!(book.verified(a, status()));
            } else {
                book.dial_failed(a);
            }
        }
        assert!(book.contains("real:1"));
        book.propose("dead39:1", "attacker");
        assert_eq!(
            book.candidate_count(),
            0,
            "a failed address is not proposed again"
        );
        // The operator's peers always get in, evicting advertised ones when full.
        for p in ["a:1", "b:1", "c:1", "d:1"] {
            book.add(p).unwrap();
        }
        assert!(!book.contains("real:1"));
        assert!(book.add("e:1").unwrap_err().contains("full"));
    }

    #[derive(Debug, Default)]
    struct MemoryBans(Mutex<Vec<PersistedBan>>);

    impl BanStore for MemoryBans {
        fn load(&self) -> Vec<PersistedBan> {
            self.0.lock().unwrap().clone()
        }
        fn save(&self, ban: &PersistedBan) {
            let mut bans = self.0.lock().unwrap();
            bans.retain(|b| b.address != ban.address);
            bans.push(ban.clone());
        }
    }

    #[test]
    fn bans_are_counted_per_offence() {
        let book = PeerBook::new(8, Duration::from_secs(60), None);
        book.add("liar:1").unwrap();
        book.add("drip:1").unwrap();
        assert!(book.penalize("liar:1", Offence::InvalidData, "bad block"));
        assert!(book.penalize("drip:1", Offence::Slow, "drip"));
        assert!(!book.penalize("drip:1", Offence::Unreachable, "gone"));
        let bans = book.bans_by_offence();
        assert_eq!(bans[0], (Offence::InvalidData, 1));
        assert_eq!(bans[4], (Offence::Slow, 1));
        assert_eq!(bans.iter().map(|(_, n)| n).sum::<u64>(), 2);
    }

    #[test]
    fn bans_survive_a_restart_through_the_store() {
        let store = Arc::new(MemoryBans::default());
        let book = PeerBook::new(8, Duration::from_secs(60), None).with_ban_store(store.clone());
        book.add("liar:1").unwrap();
        assert!(book.penalize("liar:1", Offence::InvalidData, "bad block"));
        let restarted = PeerBook::new(8, Duration::from_secs(60), None).with_ban_store(store);
        assert!(restarted.is_banned("liar:1"));
        assert!(restarted.report()[0].banned_for_secs > 50);
    }
}
