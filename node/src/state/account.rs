//! An account's state value: RLP([nonce, balance]) stored under keccak256(address).

use super::rlp::{self, Item, RlpError};
use crate::chain::{Address, encoding::keccak256};

/// Nonce and balance of one address. An absent account reads as the default (0, 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Number of transactions sent; the next one must carry this nonce.
    pub nonce: u64,
    /// Spendable balance.
    pub balance: u64,
}

impl Account {
    /// RLP([nonce, balance]).
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(18);
        rlp::encode_u64(&mut payload, self.nonce);
        rlp::encode_u64(&mut payload, self.balance);
        rlp::encode_list(&payload)
    }

    /// Parses RLP([nonce, balance]).
    pub fn decode(bytes: &[u8]) -> Result<Self, RlpError> {
        match rlp::decode(bytes)? {
            Item::List(items) if items.len() == 2 => Ok(Self {
                nonce: items[0].0.u64()?,
                balance: items[1].0.u64()?,
            }),
            _ => Err(RlpError::Expected("a list [nonce, balance]")),
        }
    }
}

/// The trie key of an address: keccak256(address).
pub fn account_key(address: &Address) -> [u8; 32] {
    keccak256(&address.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_rlp_of_minimal_integers() {
        assert_eq!(
            Account {
                nonce: 1,
                balance: 1024
            }
            .encode(),
            [0xc4, 0x01, 0x82, 0x04, 0x00]
        );
        assert_eq!(Account::default().encode(), [0xc2, 0x80, 0x80]);
        let a = Account {
            nonce: u64::MAX,
            balance: 7,
        };
        assert_eq!(Account::decode(&a.encode()), Ok(a));
        assert!(Account::decode(&[0xc1, 0x80]).is_err());
    }
}
