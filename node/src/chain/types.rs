//! Chain data types: addresses, keys, signatures, transactions, headers and blocks. Plain data:
//! their canonical encodings, hashes and signing messages are defined in [`super::encoding`], which
//! builds on this module (never the other way round).

use std::fmt;

/// A 32-byte hash (BLAKE3 for blocks and transactions, keccak256 in the state trie).
pub type Hash = [u8; 32];

/// The all-zero hash: the parent of nothing.
pub const ZERO_HASH: Hash = [0u8; 32];

/// A malformed value: wrong length or not hex.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    /// Not valid hex (with or without `0x`).
    #[error("{what}: not valid hex: {detail}")]
    Hex {
        /// What was being parsed.
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// Decoded to the wrong number of bytes.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        /// What was being parsed.
        what: &'static str,
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Parses `0x`-prefixed (or bare) hex into exactly `N` bytes.
pub fn parse_hex<const N: usize>(what: &'static str, s: &str) -> Result<[u8; N], TypeError> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| TypeError::Hex {
        what,
        detail: e.to_string(),
    })?;
    to_array(what, &bytes)
}

/// Copies a slice into exactly `N` bytes.
pub fn to_array<const N: usize>(what: &'static str, bytes: &[u8]) -> Result<[u8; N], TypeError> {
    bytes.try_into().map_err(|_| TypeError::Length {
        what,
        expected: N,
        got: bytes.len(),
    })
}

/// `0x`-prefixed lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Declares a fixed-size byte newtype shown as `0x`-hex (`Display` and `Debug`) and parsed from it.
macro_rules! hex_newtype {
    ($(#[$meta:meta])* $name:ident, $len:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Parses `0x`-hex (or bare hex) of exactly the right length.
            pub fn from_hex(s: &str) -> Result<Self, TypeError> {
                parse_hex($what, s).map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self([0u8; $len])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&to_hex(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

hex_newtype!(
    /// A 20-byte account address: the last 20 bytes of keccak256(ed25519 public key).
    Address, 20, "address"
);
hex_newtype!(
    /// An ed25519 public key (32 bytes, as encoded; validity is checked when verifying).
    PublicKey, 32, "public key"
);
hex_newtype!(
    /// An ed25519 signature (64 bytes).
    Signature, 64, "signature"
);

/// A signed transfer of `amount` from the sender to `recipient`, paying `fee` to the producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Chain the signature is bound to.
    pub chain_id: u64,
    /// Sender's public key; the sender's address derives from it.
    pub sender: PublicKey,
    /// Must equal the sender's account nonce when executed.
    pub nonce: u64,
    /// Recipient address.
    pub recipient: Address,
    /// Amount moved.
    pub amount: u64,
    /// Fee credited to the block producer.
    pub fee: u64,
    /// Sender's signature over [`Transaction::signing_message`].
    pub signature: Signature,
}

impl Transaction {
    /// The sender's address.
    pub fn sender_address(&self) -> Address {
        self.sender.address()
    }

    /// amount + fee, or `None` on overflow.
    pub fn total_cost(&self) -> Option<u64> {
        self.amount.checked_add(self.fee)
    }
}

/// A signed block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Chain id.
    pub chain_id: u64,
    /// Height; genesis is 0.
    pub height: u64,
    /// Hash of the parent header.
    pub parent_hash: Hash,
    /// Milliseconds since the Unix epoch; strictly increasing along the chain.
    pub timestamp_ms: u64,
    /// Binary Merkle root of the transaction hashes.
    pub tx_root: Hash,
    /// Number of transactions in the body.
    pub tx_count: u32,
    /// State root after executing the block.
    pub state_root: Hash,
    /// The producer's public key.
    pub producer: PublicKey,
    /// The producer's signature over [`Header::signing_message`].
    pub signature: Signature,
}

/// A header and its transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Transactions in execution order.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The block hash (its header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
}

/// Two signed headers of one validator for one slot: proof that it equivocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The slot.
    pub slot: u64,
    /// The validator.
    pub producer: PublicKey,
    /// The two headers, lower hash first.
    pub headers: [Header; 2],
}
