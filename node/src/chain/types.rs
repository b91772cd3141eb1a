//! Chain data types: addresses, keys, signatures, transactions, headers and blocks, with their
//! canonical hashes. Encodings live in [`super::encoding`]; these types only compute over them.

use std::fmt;

use super::encoding;

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

/// A 20-byte account address: the last 20 bytes of keccak256(ed25519 public key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Parses `0x`-hex.
    pub fn from_hex(s: &str) -> Result<Self, TypeError> {
        parse_hex("address", s).map(Self)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

/// An ed25519 public key (32 bytes, as encoded; validity is checked when verifying).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses `0x`-hex.
    pub fn from_hex(s: &str) -> Result<Self, TypeError> {
        parse_hex("public key", s).map(Self)
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        Address(encoding::address_of(&self.0))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Default for Signature {
    fn default() -> Self {
        Self([0u8; 64])
    }
}

impl Signature {
    /// Parses `0x`-hex.
    pub fn from_hex(s: &str) -> Result<Self, TypeError> {
        parse_hex("signature", s).map(Self)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

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
    /// The bytes the sender signs: domain tag, then the unsigned body (which carries the chain id).
    pub fn signing_message(&self) -> Vec<u8> {
        encoding::tx_signing_message(self)
    }

    /// BLAKE3 of the full canonical encoding, signature included.
    pub fn hash(&self) -> Hash {
        *blake3::hash(&encoding::encode_tx(self)).as_bytes()
    }

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

impl Header {
    /// The block hash: BLAKE3 of the canonical unsigned header encoding.
    pub fn hash(&self) -> Hash {
        *blake3::hash(&encoding::encode_header_unsigned(self)).as_bytes()
    }

    /// What the producer signs: a domain tag and the header hash.
    pub fn signing_message(&self) -> Vec<u8> {
        encoding::header_signing_message(&self.hash())
    }
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
