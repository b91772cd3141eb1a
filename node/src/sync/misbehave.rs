//! The misbehaviour switch for testnets: a node started with `--misbehave <mode>` serves corrupt
//! data on its sync service so tests can prove that honest nodes reject it. Corruption happens on
//! the way out; what the node itself stores never changes, except that an equivocating validator
//! signs a second block for its own height (and serves it to every other peer that asks).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::chain::crypto::Keypair;
use crate::chain::merkle::EMPTY_TX_ROOT;
use crate::chain::{Address, Block, ChainRules, Header, Transaction};

/// How the node misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Misbehave {
    /// Headers carry a corrupted producer signature.
    BadSignature,
    /// Headers point at a wrong parent.
    BrokenLink,
    /// A transaction in each body is altered (the tx root no longer matches).
    TamperedTx,
    /// Headers claim a wrong state root (re-signed when the node has a validator key).
    WrongStateRoot,
    /// Claims a height 100 blocks above its head and serves nothing.
    Withhold,
    /// Sends the first message of a stream, then stalls.
    Stall,
    /// Serves real data, one stream message every [`DRIP_INTERVAL`] (just under the default
    /// 5 s stall timeout): the cheap way to slow a syncing node down.
    Drip,
    /// As a validator, serves a second, validly signed block for its own head height to every
    /// other peer (by order of first contact).
    Equivocate,
}

/// Gap between two stream messages of a dripping node.
pub const DRIP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(4500);

/// Height a withholding node claims above its real head.
pub const WITHHOLD_CLAIM: u64 = 100;

/// Applies a misbehaviour to outgoing data.
#[derive(Debug)]
pub struct Corruptor {
    mode: Misbehave,
    key: Option<Keypair>,
    groups: Mutex<HashMap<String, bool>>,
}

impl Corruptor {
    /// A corruptor for `mode`, re-signing with `key` where the mode needs it.
    pub fn new(mode: Misbehave, key: Option<Keypair>) -> Self {
        Self {
            mode,
            key,
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Misbehave {
        self.mode
    }

    fn resign(&self, header: &mut Header) {
        if let Some(key) = &self.key
            && key.public() == header.producer
        {
            header.signature = key.sign(&header.signing_message());
        }
    }

    /// Corrupts headers about to be served.
    pub fn headers(&self, headers: &mut [Header]) {
        let n = headers.len();
        for (i, h) in headers.iter_mut().enumerate() {
            match self.mode {
                Misbehave::BadSignature => h.signature.0[0] ^= 0x01,
                Misbehave::BrokenLink if i > 0 || n == 1 => {
                    h.parent_hash[0] ^= 0xff;
                    self.resign(h);
                }
                Misbehave::WrongStateRoot => {
                    h.state_root[31] ^= 0x01;
                    self.resign(h);
                }
                _ => {}
            }
        }
    }

    /// Corrupts a body about to be served.
    pub fn body(&self, txs: &mut Vec<Transaction>, chain_id: u64, genesis_hash: &[u8; 32]) {
        if self.mode != Misbehave::TamperedTx {
            return;
        }
        match txs.first_mut() {
            Some(tx) => tx.amount = tx.amount.wrapping_add(1),
            None => {
                let key = Keypair::from_seed([0x42; 32]);
                let mut tx = Transaction {
                    chain_id,
                    sender: key.public(),
                    nonce: 0,
                    recipient: Address([0x42; 20]),
                    amount: 1,
                    fee: 0,
                    signature: Default::default(),
                };
                tx.signature = key.sign(&tx.signing_message(genesis_hash));
                txs.push(tx);
            }
        }
    }

    /// True when the peer `node_id` is served the equivocating branch (every second new peer).
    pub fn is_alternate(&self, node_id: &str) -> bool {
        if self.mode != Misbehave::Equivocate {
            return false;
        }
        let mut groups = self.groups.lock().expect("groups lock");
        let next = groups.len() % 2 == 1;
        *groups.entry(node_id.to_string()).or_insert(next)
    }

    /// The second block an equivocating validator signs for the slot of `block`: same parent,
    /// one millisecond later or earlier within the slot, no transactions (so its state root is
    /// the parent's). `None` when the block is not this node's own or the slot is one
    /// millisecond long.
    pub fn alternate(
        &self,
        rules: &ChainRules,
        block: &Header,
        parent_state_root: [u8; 32],
    ) -> Option<Block> {
        let key = self.key.as_ref()?;
        if key.public() != block.producer || block.height == 0 {
            return None;
        }
        let slot = rules.slot(block);
        let timestamp_ms = [block.timestamp_ms + 1, block.timestamp_ms.saturating_sub(1)]
            .into_iter()
            .find(|t| rules.schedule.slot_of(*t) == slot && *t != block.timestamp_ms)?;
        let mut header = Header {
            timestamp_ms,
            tx_root: EMPTY_TX_ROOT,
            tx_count: 0,
            state_root: parent_state_root,
            ..block.clone()
        };
        header.signature = key.sign(&header.signing_message());
        Some(Block {
            header,
            transactions: Vec::new(),
        })
    }
}
