//! The files every node of a manifest's network mounts: `genesis.json` and the validators' key
//! files. A validator's key is its `key` file when the manifest names one (read, kept as is), or
//! derived from the network's `key_seed` and the node's name: seed =
//! `BLAKE3("LUXTENSOR/TESTNET-KEY/V1" ‖ key_seed ‖ 0x00 ‖ name)`, so regenerating gives the same
//! keys. These are testnet keys: whoever has the manifest can sign for them.

use std::path::Path;

use node::chain::crypto::Keypair;
use node::chain::genesis::{GenesisAccount, GenesisValidator, dev_keypair};
use node::chain::{Genesis, PublicKey};
use node::config::KeyFile;

use testkit::manifest::{Manifest, ManifestError, Role};

/// A generated file: its path relative to the repository root, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Relative path.
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// The key of validator `name` derived from `seed`.
pub fn derived_key(seed: &str, name: &str) -> Keypair {
    let mut h = blake3::Hasher::new();
    h.update(b"LUXTENSOR/TESTNET-KEY/V1");
    h.update(seed.as_bytes());
    h.update(&[0]);
    h.update(name.as_bytes());
    Keypair::from_seed(*h.finalize().as_bytes())
}

/// The genesis and the derived key files of `m` (key files the manifest names are read from
/// `root`/`network.files` and not rewritten).
pub fn network_files(m: &Manifest, root: &Path) -> Result<(Genesis, Vec<Output>), ManifestError> {
    let dir = root.join(&m.network.files);
    let mut outputs = Vec::new();
    let mut validators = Vec::new();
    let mut seen: Vec<(PublicKey, String)> = Vec::new();
    for node in m.nodes.iter().filter(|n| n.role == Role::Validator) {
        let key = match &node.key {
            Some(file) => {
                node::config::read_key(&dir.join(file)).map_err(|e| ManifestError::Field {
                    field: format!("node.{}.key", node.name),
                    problem: e.to_string(),
                })?
            }
            None => {
                let key = derived_key(&m.network.key_seed, &node.name);
                let text = serde_json::to_string_pretty(&KeyFile::from_keypair(&key))
                    .expect("key file serializes");
                outputs.push(Output {
                    path: format!("{}/{}.key.json", m.network.files, node.name),
                    bytes: format!("{text}\n").into_bytes(),
                });
                key
            }
        };
        if let Some((_, other)) = seen.iter().find(|(k, _)| *k == key.public()) {
            return Err(ManifestError::Field {
                field: format!("node.{}.key", node.name),
                problem: format!("the same public key as validator {other}"),
            });
        }
        seen.push((key.public(), node.name.clone()));
        let public_key = key.public().to_string();
        validators.push(match node.stake.unwrap_or(1) {
            1 => GenesisValidator::Key(public_key),
            stake => GenesisValidator::Staked { public_key, stake },
        });
    }
    let n = &m.network;
    let genesis = Genesis {
        chain_id: n.chain_id,
        genesis_time_ms: n.genesis_time_ms,
        slot_ms: n.slot_ms,
        validators,
        accounts: (0..n.dev_accounts)
            .map(|i| GenesisAccount {
                address: dev_keypair(n.chain_id, i).public().address().to_string(),
                balance: n.dev_balance,
            })
            .collect(),
        dev_accounts: n.dev_accounts,
    };
    genesis.spec().map_err(|e| ManifestError::Field {
        field: "network".into(),
        problem: format!("the genesis it gives is invalid: {e}"),
    })?;
    outputs.push(Output {
        path: format!("{}/genesis.json", n.files),
        bytes: format!("{}\n", genesis.to_json()).into_bytes(),
    });
    Ok((genesis, outputs))
}
