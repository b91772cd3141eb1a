//! The genesis configuration: chain id, genesis time, the validator set and initial balances,
//! read from JSON. Its canonical encoding is hashed into block 0's `parent_hash`, so the genesis
//! block hash commits to every field and identifies the network. Dev accounts are key pairs derived
//! from public seeds, for testnets only: anyone can sign for them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::crypto::Keypair;
use super::encoding::GENESIS_DOMAIN;
use super::merkle::EMPTY_TX_ROOT;
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
    /// A validator listed twice.
    #[error("validator {0} is listed twice")]
    DuplicateValidator(PublicKey),
    /// An account listed twice.
    #[error("account {0} is listed twice")]
    DuplicateAccount(Address),
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

/// The genesis file, as stored on disk (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id; every transaction and header carries it.
    pub chain_id: u64,
    /// Timestamp of block 0 in milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Validator public keys (0x-hex); the producer of height h is `validators[h % len]`.
    pub validators: Vec<String>,
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
    /// Validators in schedule order.
    pub validators: Vec<PublicKey>,
    /// Initial balances, sorted by address.
    pub accounts: Vec<(Address, u64)>,
    /// Number of dev accounts.
    pub dev_accounts: u32,
}

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
        let mut validators = Vec::new();
        let mut seen = BTreeSet::new();
        for v in &self.validators {
            let key = PublicKey::from_hex(v).map_err(|e| GenesisError::Field {
                field: "validators",
                detail: e.to_string(),
            })?;
            if !seen.insert(key) {
                return Err(GenesisError::DuplicateValidator(key));
            }
            validators.push(key);
        }
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
        accounts.sort();
        Ok(GenesisSpec {
            chain_id: self.chain_id,
            genesis_time_ms: self.genesis_time_ms,
            validators,
            accounts,
            dev_accounts: self.dev_accounts,
        })
    }
}

impl GenesisSpec {
    /// BLAKE3 of `GENESIS_DOMAIN || chain_id || time || n_validators(u32) || validators ||
    /// n_accounts(u32) || (address || balance)* sorted by address || dev_accounts(u32)`.
    pub fn config_hash(&self) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(GENESIS_DOMAIN);
        h.update(&self.chain_id.to_be_bytes());
        h.update(&self.genesis_time_ms.to_be_bytes());
        h.update(&(self.validators.len() as u32).to_be_bytes());
        for v in &self.validators {
            h.update(&v.0);
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

    /// Dev key pairs 0..dev_accounts.
    pub fn dev_keypairs(&self) -> Vec<Keypair> {
        (0..self.dev_accounts)
            .map(|i| dev_keypair(self.chain_id, i))
            .collect()
    }
}
