//! Canonical byte encodings of everything hashed or signed. These are ours, fixed-width and
//! big-endian, independent of protobuf: a received value is decoded, then re-encoded here before
//! any hash is computed, so two encodings of the same value can never hash differently.
//! `docs/PROTOCOL.md` gives the same layouts in prose. The hash and signing-message methods of the
//! chain types are defined here, next to the encodings they hash.

use sha3::{Digest, Keccak256};

use super::types::{Address, Block, Hash, Header, PublicKey, Signature, Transaction};

/// Domain tag prefixed to a transaction's signing message (then the genesis hash, then the body).
pub const TX_DOMAIN: &[u8] = b"LUXTENSOR/TX/V2";
/// Domain tag prefixed to a header hash before the producer signs it.
pub const HEADER_DOMAIN: &[u8] = b"LUXTENSOR/HEADER/V1";
/// Domain tag of the genesis configuration hash.
pub const GENESIS_DOMAIN: &[u8] = b"LUXTENSOR/GENESIS/V2";

/// Length of an unsigned transaction body.
pub const TX_BODY_LEN: usize = 8 + 32 + 8 + 20 + 8 + 8;
/// Length of a full transaction encoding.
pub const TX_LEN: usize = TX_BODY_LEN + 64;
/// Length of an unsigned header encoding.
pub const HEADER_UNSIGNED_LEN: usize = 8 + 8 + 32 + 8 + 32 + 4 + 32 + 32;
/// Length of a full header encoding.
pub const HEADER_LEN: usize = HEADER_UNSIGNED_LEN + 64;

/// A stored encoding that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Wrong total length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        /// What was being decoded.
        what: &'static str,
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// keccak256.
pub fn keccak256(data: &[u8]) -> Hash {
    Keccak256::digest(data).into()
}

/// Address bytes of a public key: keccak256(key)[12..32].
pub fn address_of(public_key: &[u8; 32]) -> [u8; 20] {
    let digest = keccak256(public_key);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[12..]);
    out
}

impl PublicKey {
    /// The account address of this key.
    pub fn address(&self) -> Address {
        Address(address_of(&self.0))
    }
}

impl Transaction {
    /// The bytes the sender signs on the network whose genesis hash is `genesis_hash`: domain
    /// tag, genesis hash, then the unsigned body. Binding the genesis hash means a transaction
    /// signed for one network is invalid on every other, even one sharing chain id and keys.
    pub fn signing_message(&self, genesis_hash: &Hash) -> Vec<u8> {
        tx_signing_message(self, genesis_hash)
    }

    /// BLAKE3 of the full canonical encoding, signature included.
    pub fn hash(&self) -> Hash {
        *blake3::hash(&encode_tx(self)).as_bytes()
    }
}

impl Header {
    /// The block hash: BLAKE3 of the canonical unsigned header encoding.
    pub fn hash(&self) -> Hash {
        *blake3::hash(&encode_header_unsigned(self)).as_bytes()
    }

    /// What the producer signs: a domain tag and the header hash.
    pub fn signing_message(&self) -> Vec<u8> {
        header_signing_message(&self.hash())
    }
}

fn put_tx_body(out: &mut Vec<u8>, tx: &Transaction) {
    out.extend_from_slice(&tx.chain_id.to_be_bytes());
    out.extend_from_slice(&tx.sender.0);
    out.extend_from_slice(&tx.nonce.to_be_bytes());
    out.extend_from_slice(&tx.recipient.0);
    out.extend_from_slice(&tx.amount.to_be_bytes());
    out.extend_from_slice(&tx.fee.to_be_bytes());
}

/// `TX_DOMAIN || genesis_hash || chain_id || sender || nonce || recipient || amount || fee`.
pub fn tx_signing_message(tx: &Transaction, genesis_hash: &Hash) -> Vec<u8> {
    let mut out = Vec::with_capacity(TX_DOMAIN.len() + 32 + TX_BODY_LEN);
    out.extend_from_slice(TX_DOMAIN);
    out.extend_from_slice(genesis_hash);
    put_tx_body(&mut out, tx);
    out
}

/// The full transaction encoding: body then signature ([`TX_LEN`] bytes).
pub fn encode_tx(tx: &Transaction) -> Vec<u8> {
    let mut out = Vec::with_capacity(TX_LEN);
    put_tx_body(&mut out, tx);
    out.extend_from_slice(&tx.signature.0);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.bytes.split_at(N);
        self.bytes = rest;
        head.try_into().expect("length checked by caller")
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }
}

fn check_len(what: &'static str, bytes: &[u8], expected: usize) -> Result<(), DecodeError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(DecodeError::Length {
            what,
            expected,
            got: bytes.len(),
        })
    }
}

/// Decodes [`encode_tx`]'s output.
pub fn decode_tx(bytes: &[u8]) -> Result<Transaction, DecodeError> {
    check_len("transaction", bytes, TX_LEN)?;
    let mut r = Reader { bytes };
    Ok(Transaction {
        chain_id: r.u64(),
        sender: PublicKey(r.take()),
        nonce: r.u64(),
        recipient: Address(r.take()),
        amount: r.u64(),
        fee: r.u64(),
        signature: Signature(r.take()),
    })
}

/// `chain_id || height || parent || timestamp || tx_root || tx_count || state_root || producer`.
pub fn encode_header_unsigned(h: &Header) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&h.chain_id.to_be_bytes());
    out.extend_from_slice(&h.height.to_be_bytes());
    out.extend_from_slice(&h.parent_hash);
    out.extend_from_slice(&h.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&h.tx_root);
    out.extend_from_slice(&h.tx_count.to_be_bytes());
    out.extend_from_slice(&h.state_root);
    out.extend_from_slice(&h.producer.0);
    out
}

/// The unsigned encoding followed by the signature ([`HEADER_LEN`] bytes); what storage keeps.
pub fn encode_header(h: &Header) -> Vec<u8> {
    let mut out = encode_header_unsigned(h);
    out.extend_from_slice(&h.signature.0);
    out
}

/// Decodes [`encode_header`]'s output.
pub fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    check_len("header", bytes, HEADER_LEN)?;
    let mut r = Reader { bytes };
    Ok(Header {
        chain_id: r.u64(),
        height: r.u64(),
        parent_hash: r.take(),
        timestamp_ms: r.u64(),
        tx_root: r.take(),
        tx_count: r.u32(),
        state_root: r.take(),
        producer: PublicKey(r.take()),
        signature: Signature(r.take()),
    })
}

/// `HEADER_DOMAIN || header_hash`: what a producer signs.
pub fn header_signing_message(hash: &Hash) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_DOMAIN.len() + 32);
    out.extend_from_slice(HEADER_DOMAIN);
    out.extend_from_slice(hash);
    out
}

/// A body: the concatenated transaction encodings.
pub fn encode_body(txs: &[Transaction]) -> Vec<u8> {
    let mut out = Vec::with_capacity(txs.len() * TX_LEN);
    for tx in txs {
        out.extend_from_slice(&encode_tx(tx));
    }
    out
}

/// Decodes [`encode_body`]'s output.
pub fn decode_body(bytes: &[u8]) -> Result<Vec<Transaction>, DecodeError> {
    if !bytes.len().is_multiple_of(TX_LEN) {
        return Err(DecodeError::Length {
            what: "body",
            expected: bytes.len() / TX_LEN * TX_LEN,
            got: bytes.len(),
        });
    }
    bytes.chunks_exact(TX_LEN).map(decode_tx).collect()
}

/// Re-assembles a block from its stored parts.
pub fn decode_block(header: &[u8], body: &[u8]) -> Result<Block, DecodeError> {
    Ok(Block {
        header: decode_header(header)?,
        transactions: decode_body(body)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::crypto::{self, Keypair};

    fn sample_tx() -> Transaction {
        let kp = Keypair::from_seed([1u8; 32]);
        let mut tx = Transaction {
            chain_id: 7777,
            sender: kp.public(),
            nonce: 5,
            recipient: Address([0xaa; 20]),
            amount: 1000,
            fee: 3,
            signature: Signature::default(),
        };
        tx.signature = kp.sign(&tx.signing_message(&GOLDEN_GENESIS));
        tx
    }

    /// The genesis hash the golden transaction is signed for.
    const GOLDEN_GENESIS: Hash = [0x77; 32];

    fn sample_header() -> Header {
        let kp = Keypair::from_seed([2u8; 32]);
        let mut h = Header {
            chain_id: 7777,
            height: 42,
            parent_hash: [0x11; 32],
            timestamp_ms: 1_700_000_000_000,
            tx_root: [0x22; 32],
            tx_count: 3,
            state_root: [0x33; 32],
            producer: kp.public(),
            signature: Signature::default(),
        };
        h.signature = kp.sign(&h.signing_message());
        h
    }

    #[test]
    fn transaction_layout_is_fixed_big_endian() {
        let tx = sample_tx();
        let expected_body = [
            "0000000000001e61".to_string(),
            hex::encode(tx.sender.0),
            "0000000000000005".into(),
            "aa".repeat(20),
            "00000000000003e8".into(),
            "0000000000000003".into(),
        ]
        .concat();
        let encoded = encode_tx(&tx);
        assert_eq!(encoded.len(), TX_LEN);
        assert_eq!(hex::encode(&encoded[..TX_BODY_LEN]), expected_body);
        assert_eq!(&encoded[TX_BODY_LEN..], &tx.signature.0);
        assert_eq!(
            tx_signing_message(&tx, &GOLDEN_GENESIS),
            [TX_DOMAIN, &GOLDEN_GENESIS, &encoded[..TX_BODY_LEN]].concat()
        );
        assert_eq!(decode_tx(&encoded), Ok(tx.clone()));
        assert_eq!(tx.hash(), *blake3::hash(&encoded).as_bytes());
    }

    #[test]
    fn header_layout_is_fixed_big_endian() {
        let h = sample_header();
        let expected = [
            "0000000000001e61".to_string(),
            "000000000000002a".into(),
            "11".repeat(32),
            "0000018bcfe56800".into(),
            "22".repeat(32),
            "00000003".into(),
            "33".repeat(32),
            hex::encode(h.producer.0),
        ]
        .concat();
        assert_eq!(hex::encode(encode_header_unsigned(&h)), expected);
        assert_eq!(
            h.hash(),
            *blake3::hash(&hex::decode(&expected).unwrap()).as_bytes()
        );
        assert_eq!(decode_header(&encode_header(&h)), Ok(h.clone()));
        assert_eq!(h.signing_message(), [HEADER_DOMAIN, &h.hash()[..]].concat());
        assert!(crypto::verify(&h.producer, &h.signing_message(), &h.signature).is_ok());
    }

    #[test]
    fn golden_hashes() {
        // Pinned: a peer implementation can check its encoder against these (docs/PROTOCOL.md).
        assert_eq!(hex::encode(sample_tx().hash()), GOLDEN_TX_HASH);
        assert_eq!(hex::encode(sample_header().hash()), GOLDEN_HEADER_HASH);
        assert_eq!(
            hex::encode(address_of(&Keypair::from_seed([1u8; 32]).public().0)),
            GOLDEN_ADDRESS
        );
    }

    const GOLDEN_TX_HASH: &str = "79a027fc2c40e1a4cbbabad8bc8ac869dafe5d2f624fcbd9342eedbdf4f1c852";
    const GOLDEN_HEADER_HASH: &str =
        "5ca109e86c5afd32b266b947b904de8041cc43413734c6780421f71f124e154b";
    const GOLDEN_ADDRESS: &str = "97b1c813eae702332ba3eaa1625f942c5472626d";

    #[test]
    fn wrong_lengths_are_rejected() {
        assert!(decode_tx(&[0u8; TX_LEN - 1]).is_err());
        assert!(decode_header(&[0u8; HEADER_LEN + 1]).is_err());
        assert!(decode_body(&[0u8; TX_LEN + 3]).is_err());
        assert_eq!(decode_body(&[]), Ok(vec![]));
    }
}
