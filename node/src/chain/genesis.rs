//! The genesis configuration: chain id, genesis time, the validator set and initial balances,
//! read from JSON. Its canonical encoding is hashed into block 0's `parent_hash`, so the genesis
//! block hash commits to every field and identifies the network. Dev accounts are key pairs derived
//! from public seeds, for testnets only: anyone can sign for them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::crypto::{self, Keypair};
use super::encoding::GENESIS_DOMAIN;
use super::merkle::EMPTY_TX_ROOT;
use super::schedule::{Schedule, Validator};
use super::types::{Address, Hash, Header, PublicKey, Signature};

/// A genesis file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Not parseable JSON of the expected shape.
    #[error("genesis is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// No validators.
    #[error("genesis lists no validators")]
    NoValidators,
    /// A validator's stake is 0 or above the maximum.
    #[error("validator {key}: stake {stake} (allowed 1 to {max})")]
    BadStake {
        /// The key.
        key: PublicKey,
        /// Given.
        stake: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A validator listed twice.
    #[error("validator {0} is listed twice")]
    DuplicateValidator(PublicKey),
    /// An account listed twice.
    #[error("account {0} is listed twice")]
    DuplicateAccount(Address),
    /// A number above what the node supports.
    #[error("genesis field {field} is {value}, above the maximum {max}")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// Given.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A validator key that could never sign a block this chain accepts.
    #[error("validator {key}: {reason}")]
    BadValidatorKey {
        /// The key.
        key: PublicKey,
        /// Why.
        reason: &'static str,
    },
    /// The initial balances add up to more than 2^64 − 1, so transfers could overflow.
    #[error("the initial balances add up to more than 2^64 - 1")]
    SupplyOverflow,
    /// A field that does not parse.
    #[error("genesis field {field}: {detail}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// A funded account at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// 0x-hex address.
    pub address: String,
    /// Initial balance.
    pub balance: u64,
}

/// A validator in the genesis file: its public key alone (stake 1) or `{"public_key", "stake"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GenesisValidator {
    /// 0x-hex public key, stake 1.
    Key(String),
    /// Key and stake weight.
    Staked {
        /// 0x-hex public key.
        public_key: String,
        /// Stake weight (1 to [`MAX_STAKE`]).
        stake: u64,
    },
}

impl GenesisValidator {
    fn parts(&self) -> (&str, u64) {
        match self {
            Self::Key(k) => (k, 1),
            Self::Staked { public_key, stake } => (public_key, *stake),
        }
    }
}

/// Slot length when a genesis file does not give one (ms).
pub const DEFAULT_SLOT_MS: u64 = 1000;

fn default_slot_ms() -> u64 {
    DEFAULT_SLOT_MS
}

/// The genesis file, as stored on disk (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id; every transaction and header carries it.
    pub chain_id: u64,
    /// Timestamp of block 0 in milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Slot length (ms): a block's slot is `(timestamp − genesis time) / slot_ms`.
    #[serde(default = "default_slot_ms")]
    pub slot_ms: u64,
    /// Validators with their stakes, in schedule order (see [`super::schedule`]).
    pub validators: Vec<GenesisValidator>,
    /// Initial balances.
    pub accounts: Vec<GenesisAccount>,
    /// How many dev accounts (see [`dev_keypair`]) the control API may sign transfers for.
    #[serde(default)]
    pub dev_accounts: u32,
}

/// A parsed, checked genesis.
#[derive(Clone, Debug)]
pub struct GenesisSpec {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis time (ms).
    pub genesis_time_ms: u64,
    /// Slot length (ms).
    pub slot_ms: u64,
    /// Validators in schedule order, with stakes.
    pub validators: Vec<Validator>,
    /// Initial balances, sorted by address.
    pub accounts: Vec<(Address, u64)>,
    /// Number of dev accounts.
    pub dev_accounts: u32,
}

/// Most dev accounts a genesis may declare (their keys are derived at start).
pub const MAX_DEV_ACCOUNTS: u32 = 10_000;
/// Latest genesis time accepted: 9999-12-31T23:59:59.999Z, so that block times never overflow.
pub const MAX_GENESIS_TIME_MS: u64 = 253_402_300_799_999;
/// Most validators a genesis may list.
pub const MAX_VALIDATORS: usize = 1_000;
/// Largest stake of one validator.
pub const MAX_STAKE: u64 = 10_000;
/// Largest total stake (the leader table has one entry per unit of stake).
pub const MAX_TOTAL_STAKE: u64 = 100_000;
/// Longest slot (one hour, ms).
pub const MAX_SLOT_MS: u64 = 3_600_000;
/// Most funded accounts a genesis may list.
pub const MAX_ACCOUNTS: usize = 1_000_000;

/// The key pair of dev account `index` on `chain_id`: seed = BLAKE3("LUXTENSOR/DEV/V1" || chain_id
/// || index), both big-endian. Public knowledge: for testnets only.
pub fn dev_keypair(chain_id: u64, index: u32) -> Keypair {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"LUXTENSOR/DEV/V1");
    hasher.update(&chain_id.to_be_bytes());
    hasher.update(&index.to_be_bytes());
    Keypair::from_seed(*hasher.finalize().as_bytes())
}

impl Genesis {
    /// Parses JSON text.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serializes")
    }

    /// Parses and checks every field.
    pub fn spec(&self) -> Result<GenesisSpec, GenesisError> {
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let bound = |field, value: u64, max: u64| {
            if value > max {
                Err(GenesisError::OutOfRange { field, value, max })
            } else {
                Ok(())
            }
        };
        bound("genesis_time_ms", self.genesis_time_ms, MAX_GENESIS_TIME_MS)?;
        bound("slot_ms", self.slot_ms, MAX_SLOT_MS)?;
        if self.slot_ms == 0 {
            return Err(GenesisError::Field {
                field: "slot_ms",
                detail: "must be at least 1".into(),
            });
        }
        bound(
            "dev_accounts",
            self.dev_accounts.into(),
            MAX_DEV_ACCOUNTS.into(),
        )?;
        bound(
            "validators (count)",
            self.validators.len() as u64,
            MAX_VALIDATORS as u64,
        )?;
        bound(
            "accounts (count)",
            self.accounts.len() as u64,
            MAX_ACCOUNTS as u64,
        )?;
        let mut validators = Vec::new();
        let mut seen = BTreeSet::new();
        for v in &self.validators {
            let (v, stake) = v.parts();
            let key = PublicKey::from_hex(v).map_err(|e| GenesisError::Field {
                field: "validators",
                detail: e.to_string(),
            })?;
            if !crypto::is_valid_point(&key) {
                return Err(GenesisError::BadValidatorKey {
                    key,
                    reason: "not a point on the curve",
                });
            }
            if crypto::is_small_order(&key) {
                return Err(GenesisError::BadValidatorKey {
                    key,
                    reason: "a point of small order (anyone could sign for it)",
                });
            }
            if !seen.insert(key) {
                return Err(GenesisError::DuplicateValidator(key));
            }
            if stake == 0 || stake > MAX_STAKE {
                return Err(GenesisError::BadStake {
                    key,
                    stake,
                    max: MAX_STAKE,
                });
            }
            validators.push(Validator { key, stake });
        }
        bound(
            "validators (total stake)",
            validators.iter().map(|v| v.stake).sum(),
            MAX_TOTAL_STAKE,
        )?;
        let mut accounts = Vec::new();
        let mut seen = BTreeSet::new();
        for a in &self.accounts {
            let address = Address::from_hex(&a.address).map_err(|e| GenesisError::Field {
                field: "accounts",
                detail: e.to_string(),
            })?;
            if !seen.insert(address) {
                return Err(GenesisError::DuplicateAccount(address));
            }
            accounts.push((address, a.balance));
        }
        accounts
            .iter()
            .try_fold(0u64, |sum, (_, balance)| sum.checked_add(*balance))
            .ok_or(GenesisError::SupplyOverflow)?;
        accounts.sort();
        Ok(GenesisSpec {
            chain_id: self.chain_id,
            genesis_time_ms: self.genesis_time_ms,
            slot_ms: self.slot_ms,
            validators,
            accounts,
            dev_accounts: self.dev_accounts,
        })
    }
}

impl GenesisSpec {
    /// BLAKE3 of `GENESIS_DOMAIN || chain_id || time || slot_ms || n_validators(u32) ||
    /// (key || stake)* || n_accounts(u32) || (address || balance)* sorted by address ||
    /// dev_accounts(u32)`.
    pub fn config_hash(&self) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(GENESIS_DOMAIN);
        h.update(&self.chain_id.to_be_bytes());
        h.update(&self.genesis_time_ms.to_be_bytes());
        h.update(&self.slot_ms.to_be_bytes());
        h.update(&(self.validators.len() as u32).to_be_bytes());
        for v in &self.validators {
            h.update(&v.key.0);
            h.update(&v.stake.to_be_bytes());
        }
        h.update(&(self.accounts.len() as u32).to_be_bytes());
        for (address, balance) in &self.accounts {
            h.update(&address.0);
            h.update(&balance.to_be_bytes());
        }
        h.update(&self.dev_accounts.to_be_bytes());
        *h.finalize().as_bytes()
    }

    /// Block 0: height 0, parent = config hash, no transactions, the given initial state root,
    /// zero producer and zero signature. Its hash is the genesis hash.
    pub fn header(&self, state_root: Hash) -> Header {
        Header {
            chain_id: self.chain_id,
            height: 0,
            parent_hash: self.config_hash(),
            timestamp_ms: self.genesis_time_ms,
            tx_root: EMPTY_TX_ROOT,
            tx_count: 0,
            state_root,
            producer: PublicKey::default(),
            signature: Signature::default(),
        }
    }

    /// The genesis file this spec reads from, in canonical form (validators with stake 1 as bare
    /// keys, accounts sorted by address).
    pub fn to_genesis(&self) -> Genesis {
        Genesis {
            chain_id: self.chain_id,
            genesis_time_ms: self.genesis_time_ms,
            slot_ms: self.slot_ms,
            validators: self
                .validators
                .iter()
                .map(|v| {
                    if v.stake == 1 {
                        GenesisValidator::Key(v.key.to_string())
                    } else {
                        GenesisValidator::Staked {
                            public_key: v.key.to_string(),
                            stake: v.stake,
                        }
                    }
                })
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|(address, balance)| GenesisAccount {
                    address: address.to_string(),
                    balance: *balance,
                })
                .collect(),
            dev_accounts: self.dev_accounts,
        }
    }

    /// The slot schedule.
    pub fn schedule(&self) -> Schedule {
        Schedule::new(self.validators.clone(), self.genesis_time_ms, self.slot_ms)
    }

    /// Dev key pairs 0..dev_accounts.
    pub fn dev_keypairs(&self) -> Vec<Keypair> {
        (0..self.dev_accounts)
            .map(|i| dev_keypair(self.chain_id, i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Genesis {
        Genesis {
            chain_id: 1,
            genesis_time_ms: 1_700_000_000_000,
            slot_ms: 100,
            validators: vec![GenesisValidator::Key(
                Keypair::from_seed([1; 32]).public().to_string(),
            )],
            accounts: vec![GenesisAccount {
                address: Address([7; 20]).to_string(),
                balance: 10,
            }],
            dev_accounts: 2,
        }
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_field_named() {
        assert!(base().spec().is_ok());
        let mut g = base();
        g.dev_accounts = u32::MAX - 1;
        let e = g.spec().unwrap_err().to_string();
        assert!(e.contains("dev_accounts") && e.contains("10000"), "{e}");
        let mut g = base();
        g.genesis_time_ms = u64::MAX - 5;
        assert!(
            g.spec()
                .unwrap_err()
                .to_string()
                .contains("genesis_time_ms")
        );
        let mut g = base();
        g.accounts.push(GenesisAccount {
            address: Address([8; 20]).to_string(),
            balance: u64::MAX,
        });
        assert!(matches!(g.spec(), Err(GenesisError::SupplyOverflow)));
    }

    /// Golden value (docs/PROTOCOL.md): the config hash of `base()` with a second validator of
    /// stake 2, in both JSON forms of a validator.
    #[test]
    fn config_hash_vector() {
        let mut g = base();
        g.validators.push(GenesisValidator::Staked {
            public_key: Keypair::from_seed([2; 32]).public().to_string(),
            stake: 2,
        });
        let spec = g.spec().unwrap();
        assert_eq!(spec.validators[1].stake, 2);
        assert_eq!(
            hex::encode(spec.config_hash()),
            "cc050f5f8dc1eb62dc120e425d62c221044bda20488124dea4a43c051816ab2d"
        );
        let json = g.to_json();
        assert!(
            json.contains("\"stake\": 2") && json.contains("\"slot_ms\": 100"),
            "{json}"
        );
        assert_eq!(Genesis::from_json(&json).unwrap(), g);
        // Without slot_ms the default applies; a zero stake is refused by name.
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v.as_object_mut().unwrap().remove("slot_ms");
        let g2 = Genesis::from_json(&v.to_string()).unwrap();
        assert_eq!(g2.slot_ms, DEFAULT_SLOT_MS);
        let mut zero = g.clone();
        zero.validators[1] = GenesisValidator::Staked {
            public_key: Keypair::from_seed([2; 32]).public().to_string(),
            stake: 0,
        };
        assert!(matches!(
            zero.spec(),
            Err(GenesisError::BadStake { stake: 0, .. })
        ));
    }

    #[test]
    fn validator_keys_must_be_usable_points() {
        let mut g = base();
        // The first small y with no x on the curve.
        let not_a_point = (2u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                PublicKey(b)
            })
            .find(|k| !crypto::is_valid_point(k))
            .expect("some small y is off the curve");
        g.validators = vec![GenesisValidator::Key(not_a_point.to_string())];
        let e = g.spec().unwrap_err().to_string();
        assert!(e.contains("not a point"), "{e}");
        let mut identity = [0u8; 32];
        identity[0] = 1;
        g.validators = vec![GenesisValidator::Key(PublicKey(identity).to_string())];
        let e = g.spec().unwrap_err().to_string();
        assert!(e.contains("small order"), "{e}");
    }
}
