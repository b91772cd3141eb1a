//! The transactions root: a binary Merkle tree over transaction hashes with BLAKE3.
//! Leaves are `BLAKE3(0x00 || tx_hash)`, inner nodes `BLAKE3(0x01 || left || right)`; a node
//! without a sibling on its level is carried up unchanged (never duplicated, so two different
//! lists cannot share a root). The root of the empty list is 32 zero bytes.

use super::types::{Hash, Transaction, ZERO_HASH};

/// Root of the empty transaction list.
pub const EMPTY_TX_ROOT: Hash = ZERO_HASH;

/// The Merkle root of `hashes` (transaction hashes in block order).
pub fn merkle_root(hashes: &[Hash]) -> Hash {
    if hashes.is_empty() {
        return EMPTY_TX_ROOT;
    }
    let mut level: Vec<Hash> = hashes
        .iter()
        .map(|h| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&[0x00]);
            hasher.update(h);
            *hasher.finalize().as_bytes()
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => {
                    let mut hasher = blake3::Hasher::new();
                    hasher.update(&[0x01]);
                    hasher.update(l);
                    hasher.update(r);
                    *hasher.finalize().as_bytes()
                }
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
    }
    level[0]
}

/// The transactions root of a block body.
pub fn tx_root(txs: &[Transaction]) -> Hash {
    let hashes: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
    merkle_root(&hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(h: &Hash) -> Hash {
        let mut v = vec![0u8];
        v.extend_from_slice(h);
        *blake3::hash(&v).as_bytes()
    }

    fn node(l: &Hash, r: &Hash) -> Hash {
        let mut v = vec![1u8];
        v.extend_from_slice(l);
        v.extend_from_slice(r);
        *blake3::hash(&v).as_bytes()
    }

    #[test]
    fn shapes_follow_the_documented_rule() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        assert_eq!(merkle_root(&[]), [0u8; 32]);
        assert_eq!(merkle_root(&[a]), leaf(&a));
        assert_eq!(merkle_root(&[a, b]), node(&leaf(&a), &leaf(&b)));
        // Odd node carried up: root(a,b,c) = node(node(a,b), c).
        assert_eq!(
            merkle_root(&[a, b, c]),
            node(&node(&leaf(&a), &leaf(&b)), &leaf(&c))
        );
        // No duplication: [a,b,c] and [a,b,c,c] differ.
        assert_ne!(merkle_root(&[a, b, c]), merkle_root(&[a, b, c, c]));
    }

    #[test]
    fn golden_root() {
        // Pinned so that a change to the rule is a visible, deliberate change.
        let hashes: Vec<Hash> = (0u8..5).map(|i| [i; 32]).collect();
        assert_eq!(
            hex::encode(merkle_root(&hashes)),
            hex::encode(node(
                &node(
                    &node(&leaf(&hashes[0]), &leaf(&hashes[1])),
                    &node(&leaf(&hashes[2]), &leaf(&hashes[3]))
                ),
                &leaf(&hashes[4])
            ))
        );
    }
}
