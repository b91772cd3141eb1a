//! Helpers shared by the node's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `../shared/vectors/<name>` beside the repository (override with `LUXTENSOR_VECTORS`). Panics
/// with a clear message when missing: these tests never skip.
pub fn vectors_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("LUXTENSOR_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let dir = base.join(name);
    assert!(dir.is_dir(), "test vectors not found at {} (set LUXTENSOR_VECTORS to the shared/vectors folder)", dir.display());
    dir
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

use node::chain::crypto::Keypair;
use node::chain::genesis::{GenesisAccount, dev_keypair};
use node::chain::{Address, Block, Genesis, Header, Transaction, merkle};
use node::ledger::Ledger;
use node::state::Executor;

pub const CHAIN_ID: u64 = 7777;
pub const DEV_BALANCE: u64 = 1_000_000;

/// Validator key `i` of the test networks.
pub fn validator(i: u8) -> Keypair {
    Keypair::from_seed([0xa0 + i; 32])
}

/// A genesis with the given validators and `dev` funded dev accounts, timed in the past.
pub fn genesis(validators: &[Keypair], dev: u32) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID,
        genesis_time_ms: 1_700_000_000_000,
        validators: validators.iter().map(|k| k.public().to_string()).collect(),
        accounts: (0..dev)
            .map(|i| GenesisAccount { address: dev_keypair(CHAIN_ID, i).public().address().to_string(), balance: DEV_BALANCE })
            .collect(),
        dev_accounts: dev,
    }
}

/// Dev account `i`.
pub fn dev(i: u32) -> Keypair {
    dev_keypair(CHAIN_ID, i)
}

/// A signed transfer.
pub fn transfer(from: &Keypair, nonce: u64, to: Address, amount: u64, fee: u64) -> Transaction {
    let mut tx = Transaction { chain_id: CHAIN_ID, sender: from.public(), nonce, recipient: to, amount, fee, signature: Default::default() };
    tx.signature = from.sign(&tx.signing_message());
    tx
}

/// A valid next block on `parent` (executed to get its state root), signed by `key`.
pub fn block_on(ledger: &Ledger, parent: &Header, key: &Keypair, txs: Vec<Transaction>, ts_bump: u64) -> Block {
    let mut exec = Executor::new(ledger.store(), parent.state_root);
    exec.apply_block(&txs, &key.public().address()).expect("test transactions execute");
    let (state_root, _) = exec.commit().unwrap();
    let mut header = Header {
        chain_id: CHAIN_ID,
        height: parent.height + 1,
        parent_hash: parent.hash(),
        timestamp_ms: parent.timestamp_ms + 1 + ts_bump,
        tx_root: merkle::tx_root(&txs),
        tx_count: txs.len() as u32,
        state_root,
        producer: key.public(),
        signature: Default::default(),
    };
    sign(&mut header, key);
    Block { header, transactions: txs }
}

/// Re-signs a header.
pub fn sign(header: &mut Header, key: &Keypair) {
    header.signature = key.sign(&header.signing_message());
}
