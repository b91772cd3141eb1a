//! The peer book: every peer the node knows, with its last status, reputation score and state.
//! Misbehaviour lowers the score; at the threshold a peer is banned for a while and not asked again
//! until the ban ends; a peer on another network is never asked again. Bounded in size.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::peer::{PeerError, PeerStatus};
use super::{PeerReport, PeerState};

/// Score at or below which a peer is banned.
pub const BAN_THRESHOLD: i32 = -100;
/// Highest score.
pub const MAX_SCORE: i32 = 100;

/// What a peer did wrong, and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// Sent an invalid header or body, or a body not matching its header: banned at once.
    InvalidData,
    /// Broke the protocol (malformed, more items than asked, ignored the locator).
    Protocol,
    /// Claimed a height, then did not serve it.
    Withheld,
    /// Stalled past a timeout.
    Timeout,
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
            PeerError::Protocol(_) => Offence::Protocol,
        };
        Self::new(peer, offence, e.to_string())
    }
}

impl Offence {
    /// The score penalty.
    pub fn penalty(self) -> i32 {
        match self {
            Offence::InvalidData => 100,
            Offence::Protocol => 50,
            Offence::Withheld => 35,
            Offence::Timeout => 35,
            Offence::Unreachable => 0,
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
}

/// Known peers.
#[derive(Debug)]
pub struct PeerBook {
    inner: Mutex<BTreeMap<String, Entry>>,
    max_peers: usize,
    ban_duration: Duration,
    own_address: Option<String>,
}

/// Checks a `host:port` address.
pub fn check_address(address: &str) -> Result<(), String> {
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

impl PeerBook {
    /// An empty book; `own_address` is never added.
    pub fn new(max_peers: usize, ban_duration: Duration, own_address: Option<String>) -> Self {
        Self {
            inner: Mutex::new(BTreeMap::new()),
            max_peers,
            ban_duration,
            own_address,
        }
    }

    /// Adds a peer; returns the number of known peers.
    pub fn add(&self, address: &str) -> Result<usize, String> {
        check_address(address)?;
        let mut inner = self.inner.lock().expect("peer book lock");
        if self.own_address.as_deref() == Some(address) || inner.contains_key(address) {
            return Ok(inner.len());
        }
        if inner.len() >= self.max_peers {
            return Err(format!("peer book is full ({} peers)", self.max_peers));
        }
        inner.insert(
            address.to_string(),
            Entry {
                status: None,
                score: 0,
                state: State::Connecting,
                last_handshake: None,
                failures: 0,
            },
        );
        Ok(inner.len())
    }

    /// Addresses worth handshaking now: not banned, not incompatible, not backing off, and not
    /// handshaken within `interval`.
    pub fn due_for_handshake(&self, interval: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("peer book lock");
        inner
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
        if let Some(e) = inner.get_mut(address) {
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
        if let Some(e) = inner.get_mut(address)
            && let Some(s) = e.status.as_mut()
        {
            s.head_height = height;
            s.head_hash = hash;
        }
    }

    /// Marks a peer of another network: never asked again.
    pub fn mark_incompatible(&self, address: &str) {
        if let Some(e) = self.inner.lock().expect("peer book lock").get_mut(address) {
            e.state = State::Incompatible;
            e.status = None;
        }
    }

    /// Records an offence; returns true if the peer is now banned.
    pub fn penalize(&self, address: &str, offence: Offence, reason: &str) -> bool {
        let mut inner = self.inner.lock().expect("peer book lock");
        let Some(e) = inner.get_mut(address) else {
            return false;
        };
        if offence == Offence::Unreachable {
            e.failures += 1;
            let backoff = Duration::from_millis(250 * 2u64.pow(e.failures.min(5)));
            e.state = State::Unreachable(Instant::now() + backoff);
            tracing::debug!(target: "sync::peers", peer = address, reason, ?backoff, "peer unreachable");
            return false;
        }
        e.score -= offence.penalty();
        tracing::warn!(target: "sync::peers", peer = address, ?offence, score = e.score, reason, "peer misbehaved");
        if e.score <= BAN_THRESHOLD {
            e.state = State::Banned(Instant::now() + self.ban_duration);
            e.status = None;
            tracing::warn!(target: "sync::peers", peer = address, ban_secs = self.ban_duration.as_secs(), "peer banned");
            return true;
        }
        false
    }

    /// Rewards useful data.
    pub fn reward(&self, address: &str) {
        if let Some(e) = self.inner.lock().expect("peer book lock").get_mut(address) {
            e.score = (e.score + 1).min(MAX_SCORE);
        }
    }

    /// Ready peers and their last status.
    pub fn ready(&self) -> Vec<(String, PeerStatus)> {
        self.inner
            .lock()
            .expect("peer book lock")
            .iter()
            .filter(|(_, e)| e.state == State::Ready)
            .filter_map(|(a, e)| e.status.clone().map(|s| (a.clone(), s)))
            .collect()
    }

    /// True when `address` is banned now.
    pub fn is_banned(&self, address: &str) -> bool {
        let now = Instant::now();
        self.inner
            .lock()
            .expect("peer book lock")
            .get(address)
            .is_some_and(|e| matches!(e.state, State::Banned(until) if until > now))
    }

    /// Addresses to share with other peers (not banned, not incompatible).
    pub fn shareable(&self, limit: usize) -> Vec<String> {
        self.inner
            .lock()
            .expect("peer book lock")
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

    #[test]
    fn addresses_are_checked_and_bounded() {
        let book = PeerBook::new(2, Duration::from_secs(60), Some("me:1".into()));
        assert!(book.add("nohost").is_err());
        assert!(book.add("host:0").is_err());
        assert!(book.add("host:99999").is_err());
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
}
