//! Signed transfers from dev accounts, written from `docs/PROTOCOL.md` alone (this crate never
//! links the node): dev account `i`'s key seed is `BLAKE3("LUXTENSOR/DEV/V1" ‖ chain_id u64 ‖ i
//! u32)`, an address is `keccak256(public key)[12..32]`, and a transfer signs
//! `"LUXTENSOR/TX/V2" ‖ genesis_hash ‖ body` with ed25519, where the 84-byte body is `chain_id u64
//! ‖ sender [32] ‖ nonce u64 ‖ recipient [20] ‖ amount u64 ‖ fee u64` and the hash is BLAKE3 of
//! `body ‖ signature`. The runner's load uses it; the protocol document's golden transfer pins it.

use proto::node::v1 as api;
use sha3::Digest;

/// The signing domain of a transfer.
const TX_DOMAIN: &[u8] = b"LUXTENSOR/TX/V2";

/// A bad hex value from a node.
#[derive(Debug, thiserror::Error)]
#[error("{what} is not {len} bytes of 0x-hex: {value:?}")]
pub struct HexError {
    /// Which value.
    pub what: &'static str,
    /// Expected length in bytes.
    pub len: usize,
    /// What was given.
    pub value: String,
}

/// Parses `0x`-hex of exactly `N` bytes.
pub fn parse_hex<const N: usize>(what: &'static str, value: &str) -> Result<[u8; N], HexError> {
    let err = || HexError {
        what,
        len: N,
        value: value.to_string(),
    };
    let bytes = hex::decode(value.strip_prefix("0x").unwrap_or(value)).map_err(|_| err())?;
    bytes.try_into().map_err(|_| err())
}

fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// A key that signs transfers.
#[derive(Clone)]
pub struct Signer {
    key: ed25519_consensus::SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.address())
    }
}

impl Signer {
    /// The key with this 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: ed25519_consensus::SigningKey::from(seed),
        }
    }

    /// Dev account `index` of chain `chain_id` (public keys: testnets only).
    pub fn dev(chain_id: u64, index: u32) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"LUXTENSOR/DEV/V1");
        h.update(&chain_id.to_be_bytes());
        h.update(&index.to_be_bytes());
        Self::from_seed(*h.finalize().as_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verification_key().to_bytes()
    }

    /// The address, `0x`-hex.
    pub fn address(&self) -> String {
        to_hex(&address_of(&self.public_key()))
    }

    /// A signed transfer for the network whose genesis hash is `genesis_hash`.
    pub fn transfer(&self, genesis_hash: &[u8; 32], t: &Transfer) -> api::Transaction {
        let sender = self.public_key();
        let mut body = Vec::with_capacity(84);
        body.extend_from_slice(&t.chain_id.to_be_bytes());
        body.extend_from_slice(&sender);
        body.extend_from_slice(&t.nonce.to_be_bytes());
        body.extend_from_slice(&t.recipient);
        body.extend_from_slice(&t.amount.to_be_bytes());
        body.extend_from_slice(&t.fee.to_be_bytes());
        let mut message = Vec::with_capacity(TX_DOMAIN.len() + 32 + body.len());
        message.extend_from_slice(TX_DOMAIN);
        message.extend_from_slice(genesis_hash);
        message.extend_from_slice(&body);
        let signature = self.key.sign(&message).to_bytes();
        let mut encoding = body;
        encoding.extend_from_slice(&signature);
        api::Transaction {
            hash: to_hex(blake3::hash(&encoding).as_bytes()),
            chain_id: t.chain_id,
            sender_public_key: to_hex(&sender),
            sender: self.address(),
            nonce: t.nonce,
            recipient: to_hex(&t.recipient),
            amount: t.amount,
            fee: t.fee,
            signature: to_hex(&signature),
        }
    }
}

/// What a transfer moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Chain id.
    pub chain_id: u64,
    /// The sender's next nonce.
    pub nonce: u64,
    /// Recipient address.
    pub recipient: [u8; 20],
    /// Amount.
    pub amount: u64,
    /// Fee to the producer.
    pub fee: u64,
}

/// `keccak256(public_key)[12..32]`.
pub fn address_of(public_key: &[u8; 32]) -> [u8; 20] {
    let digest = sha3::Keccak256::digest(public_key);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[12..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The golden transfer of `docs/PROTOCOL.md` ("Golden values").
    #[test]
    fn protocol_golden_transfer() {
        let s = Signer::from_seed([0x01; 32]);
        assert_eq!(s.address(), "0x97b1c813eae702332ba3eaa1625f942c5472626d");
        let tx = s.transfer(
            &[0x77; 32],
            &Transfer {
                chain_id: 7777,
                nonce: 5,
                recipient: [0xaa; 20],
                amount: 1000,
                fee: 3,
            },
        );
        assert_eq!(
            tx.hash,
            "0x79a027fc2c40e1a4cbbabad8bc8ac869dafe5d2f624fcbd9342eedbdf4f1c852"
        );
        assert_eq!(tx.sender, s.address());
    }

    #[test]
    fn hex_lengths_are_checked() {
        assert!(parse_hex::<2>("x", "0x0102").is_ok());
        let e = parse_hex::<2>("genesis hash", "0x01").unwrap_err();
        assert!(e.to_string().contains("genesis hash"), "{e}");
        assert!(parse_hex::<2>("x", "zz").is_err());
    }
}
