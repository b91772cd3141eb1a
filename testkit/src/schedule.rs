//! A manifest's run as a list of events at heights: late joiners starting, the `[[perturb]]`
//! perturbations, and the `[random]` schedule drawn from its seed. The draw is a SplitMix64
//! stream written here (pinned by a vector test), so that a seed replays the same schedule on any
//! machine and with any version of a random-number crate.

use std::fmt;

use crate::manifest::{Fault, Manifest, Perturbation};

/// What happens to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The node starts (a late joiner).
    Start,
    /// The network splits into `groups` (the nodes in none form one more) for `slots` slots.
    Partition {
        /// The groups.
        groups: Vec<Vec<String>>,
        /// How long, in slots.
        slots: u32,
    },
    /// A perturbation, lasting `slots` slots.
    Perturb {
        /// What is done.
        fault: Fault,
        /// How long, in slots.
        slots: u32,
        /// The image an upgrade comes back on.
        image: Option<String>,
    },
}

/// The `node` of a partition event (it is about the whole network).
pub const PARTITION: &str = "*";

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The height of the highest node at which it happens.
    pub at: u64,
    /// The node.
    pub node: String,
    /// What happens.
    pub action: Action,
    /// Drawn from the random schedule.
    pub random: bool,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Start => write!(f, "at height {}: start {}", self.at, self.node),
            Action::Partition { groups, slots } => {
                let sides: Vec<String> = groups.iter().map(|g| g.join(" ")).collect();
                write!(
                    f,
                    "at height {}: partition [{}] | the rest for {slots} slots",
                    self.at,
                    sides.join("] | [")
                )
            }
            Action::Perturb { fault, slots, .. } => {
                write!(f, "at height {}: {} {}", self.at, fault.label(), self.node)?;
                match (fault, slots) {
                    (Fault::Pause | Fault::Disconnect, _) => write!(f, " for {slots} slots")?,
                    (_, 0) => {}
                    (_, _) => write!(f, ", back after {slots} slots")?,
                }
                if self.random {
                    write!(f, " (random)")?;
                }
                Ok(())
            }
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose stream is fixed by its seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value below `n` (n ≥ 1).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Every event of `m`, in height order (starts before perturbations at one height), with the
/// random schedule drawn from `seed` (the manifest's unless overridden).
pub fn events(m: &Manifest, seed: Option<u64>) -> Vec<Event> {
    let mut out: Vec<Event> = m
        .nodes
        .iter()
        .filter(|n| n.start_at > 0)
        .map(|n| Event {
            at: n.start_at as u64,
            node: n.name.clone(),
            action: Action::Start,
            random: false,
        })
        .collect();
    out.extend(m.perturb.iter().map(fixed));
    out.extend(m.partition.iter().map(|p| Event {
        at: p.at as u64,
        node: PARTITION.to_string(),
        action: Action::Partition {
            groups: p.groups.clone(),
            slots: p.slots(),
        },
        random: false,
    }));
    if let Some(r) = &m.random {
        let kinds = if r.kinds.is_empty() {
            Fault::ALL.to_vec()
        } else {
            r.kinds.clone()
        };
        let nodes = if r.nodes.is_empty() {
            let targets = m.load_targets();
            let steady: Vec<String> = m
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .filter(|n| m.load.is_none() || !targets.contains(n))
                .collect();
            if steady.is_empty() {
                m.nodes.iter().map(|n| n.name.clone()).collect()
            } else {
                steady
            }
        } else {
            r.nodes.clone()
        };
        let mut rng = SplitMix64::new(seed.unwrap_or(r.seed));
        let mut at = r.from;
        while at < r.until {
            let node = nodes[rng.below(nodes.len() as u64) as usize].clone();
            let fault = kinds[rng.below(kinds.len() as u64) as usize];
            let slots = match fault {
                Fault::Pause | Fault::Disconnect => 1 + rng.below(u64::from(r.max_slots)) as u32,
                _ => 0,
            };
            out.push(Event {
                at,
                node,
                action: Action::Perturb {
                    fault,
                    slots,
                    image: None,
                },
                random: true,
            });
            at += r.interval;
        }
    }
    out.sort_by_key(|e| (e.at, !matches!(e.action, Action::Start)));
    out
}

fn fixed(p: &Perturbation) -> Event {
    Event {
        at: p.at as u64,
        node: p.node.clone(),
        action: Action::Perturb {
            fault: p.kind,
            slots: p.slots(),
            image: p.image.clone(),
        },
        random: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_stream() {
        // The first outputs for seed 1234567 of the reference C implementation
        // (https://prng.di.unimi.it/splitmix64.c).
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        assert_eq!(r.next_u64(), 9817491932198370423);
    }

    const M: &str = r#"
[network]
name = "t"
chain_id = 1
slot_ms = 500
genesis_time_ms = 0
key_seed = "s"
files = "out"

[[node]]
name = "a"
role = "validator"

[[node]]
name = "b"
role = "full"
peers = ["a"]

[[node]]
name = "c"
role = "full"
peers = ["a"]
start_at = 6

[[perturb]]
node = "b"
at = 6
kind = "pause"
slots = 4

[random]
seed = 7
interval = 5
from = 10
until = 30
kinds = ["kill", "disconnect"]
nodes = ["b", "c"]
max_slots = 3
"#;

    #[test]
    fn a_seed_replays_its_schedule() {
        let m = Manifest::parse(M).unwrap();
        let a = events(&m, None);
        assert_eq!(a, events(&m, None));
        assert_eq!(a[0].action, Action::Start);
        assert_eq!(a[0].node, "c");
        assert_eq!(a[1].to_string(), "at height 6: pause b for 4 slots");
        let random: Vec<&Event> = a.iter().filter(|e| e.random).collect();
        assert_eq!(
            random.iter().map(|e| e.at).collect::<Vec<_>>(),
            [10, 15, 20, 25]
        );
        for e in &random {
            let Action::Perturb { fault, slots, .. } = &e.action else {
                panic!("{e}")
            };
            assert!(matches!(fault, Fault::Kill | Fault::Disconnect));
            assert!(*fault == Fault::Kill || (1..=3).contains(slots), "{e}");
        }
        let other = events(&m, Some(8));
        assert_ne!(
            a.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "another seed, another schedule"
        );
    }
}
