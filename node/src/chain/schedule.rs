//! The slot schedule of proof of authority: time is cut into slots of `slot_ms` from the genesis
//! time, and each slot has one leader, chosen by stake with CometBFT's proposer-priority algorithm
//! (a weighted round robin). Starting from all priorities at zero, each round adds every
//! validator's stake to its priority, picks the highest priority (ties: the validator listed first
//! in genesis) and subtracts the total stake from the winner. After `total stake` rounds every
//! validator has led exactly `stake` times and every priority is zero again, so the sequence is
//! periodic and `leader(slot)` is a lookup in a table of `total stake` entries. Equal stakes give
//! plain round robin in genesis order. Pure: no clock, no I/O.

use super::types::PublicKey;

/// A validator and its stake weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its key.
    pub key: PublicKey,
    /// Its stake weight (≥ 1).
    pub stake: u64,
}

/// Who leads which slot, and how time maps to slots.
#[derive(Clone, Debug)]
pub struct Schedule {
    validators: Vec<Validator>,
    /// `table[i]` is the index (in `validators`) of the leader of every slot `s` with
    /// `s mod table.len() = i`.
    table: Vec<u32>,
    genesis_time_ms: u64,
    slot_ms: u64,
    total_stake: u64,
}

impl Schedule {
    /// The schedule of `validators` (genesis order, each stake ≥ 1, total small enough to table;
    /// genesis enforces both) for slots of `slot_ms` (≥ 1) starting at `genesis_time_ms`.
    pub fn new(validators: Vec<Validator>, genesis_time_ms: u64, slot_ms: u64) -> Self {
        let total_stake: u64 = validators.iter().map(|v| v.stake).sum();
        let total = total_stake as i128;
        let mut priority = vec![0i128; validators.len()];
        let mut table = Vec::with_capacity(total_stake as usize);
        for _ in 0..total_stake {
            let mut best = 0;
            for (i, v) in validators.iter().enumerate() {
                priority[i] += v.stake as i128;
                if priority[i] > priority[best] {
                    best = i;
                }
            }
            priority[best] -= total;
            table.push(best as u32);
        }
        debug_assert!(
            priority.iter().all(|p| *p == 0),
            "the round robin is periodic"
        );
        Self {
            validators,
            table,
            genesis_time_ms,
            slot_ms: slot_ms.max(1),
            total_stake,
        }
    }

    /// The validators in genesis order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Sum of all stakes.
    pub fn total_stake(&self) -> u64 {
        self.total_stake
    }

    /// The stake of `key` (0 when it is not a validator).
    pub fn stake_of(&self, key: &PublicKey) -> u64 {
        self.validators
            .iter()
            .find(|v| &v.key == key)
            .map_or(0, |v| v.stake)
    }

    /// Slot length (ms).
    pub fn slot_ms(&self) -> u64 {
        self.slot_ms
    }

    /// The leader of `slot`.
    pub fn leader(&self, slot: u64) -> &PublicKey {
        let i = self.table[(slot % self.table.len() as u64) as usize];
        &self.validators[i as usize].key
    }

    /// The slot a timestamp falls in: `(timestamp − genesis time) / slot_ms` (0 before genesis).
    pub fn slot_of(&self, timestamp_ms: u64) -> u64 {
        timestamp_ms.saturating_sub(self.genesis_time_ms) / self.slot_ms
    }

    /// The first millisecond of `slot` (saturating).
    pub fn slot_start(&self, slot: u64) -> u64 {
        self.genesis_time_ms
            .saturating_add(slot.saturating_mul(self.slot_ms))
    }

    /// The first slot `≥ from` led by `key`, if it leads any.
    pub fn next_slot_of(&self, key: &PublicKey, from: u64) -> Option<u64> {
        let period = self.table.len() as u64;
        (from..from.saturating_add(period)).find(|s| self.leader(*s) == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey([n; 32])
    }

    fn leaders(stakes: &[u64], slots: u64) -> Vec<u8> {
        let validators = stakes
            .iter()
            .enumerate()
            .map(|(i, s)| Validator {
                key: key(i as u8),
                stake: *s,
            })
            .collect();
        let s = Schedule::new(validators, 0, 1);
        (0..slots).map(|slot| s.leader(slot).0[0]).collect()
    }

    /// Golden sequences (PROTOCOL.md gives the same): equal stakes are round robin in genesis
    /// order; stakes 2,1,1 and 3,1 as CometBFT's algorithm orders them.
    #[test]
    fn proposer_priority_vectors() {
        assert_eq!(leaders(&[1, 1, 1], 6), [0, 1, 2, 0, 1, 2]);
        assert_eq!(leaders(&[2, 1, 1], 8), [0, 1, 2, 0, 0, 1, 2, 0]);
        assert_eq!(leaders(&[3, 1], 8), [0, 0, 1, 0, 0, 0, 1, 0]);
        assert_eq!(leaders(&[1, 2], 6), [1, 0, 1, 1, 0, 1]);
    }

    #[test]
    fn each_validator_leads_its_stake_per_period() {
        let stakes = [5, 1, 3, 7, 2];
        let l = leaders(&stakes, 18);
        for (i, s) in stakes.iter().enumerate() {
            assert_eq!(l.iter().filter(|x| **x as usize == i).count() as u64, *s);
        }
    }

    #[test]
    fn slots_from_time() {
        let s = Schedule::new(
            vec![Validator {
                key: key(1),
                stake: 1,
            }],
            1_000,
            500,
        );
        assert_eq!(s.slot_of(1_000), 0);
        assert_eq!(s.slot_of(1_499), 0);
        assert_eq!(s.slot_of(1_500), 1);
        assert_eq!(s.slot_of(10), 0);
        assert_eq!(s.slot_start(3), 2_500);
        assert_eq!(s.next_slot_of(&key(1), 7), Some(7));
        assert_eq!(s.next_slot_of(&key(2), 7), None);
    }
}
