//! Applies transfers to the state at a parent root: nonce and balance rules, the fee to the
//! producer, and the resulting state root with the trie nodes to persist. Accounts touched by a
//! block are cached and written to the trie once each, at commit.

use std::collections::BTreeMap;

use super::account::{Account, account_key};
use super::trie::{NewNodes, NodeStore, Trie, TrieError};
use crate::chain::{Address, Hash, Transaction};

/// Why a transaction cannot execute.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExecError {
    /// The nonce is not the sender's next nonce.
    #[error("nonce {got} is {} (account nonce is {expected})", if got < expected { "too low" } else { "too high" })]
    BadNonce {
        /// The account's nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// amount + fee exceeds the balance.
    #[error("insufficient balance: {available} available, {needed} needed")]
    InsufficientBalance {
        /// amount + fee.
        needed: u64,
        /// Sender balance.
        available: u64,
    },
    /// A balance or nonce would overflow 64 bits.
    #[error("arithmetic overflow")]
    Overflow,
    /// The state could not be read.
    #[error(transparent)]
    Trie(#[from] TrieError),
}

/// A transaction that failed inside a block, by position.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("transaction {index}: {error}")]
pub struct BlockExecError {
    /// Position in the block.
    pub index: usize,
    /// Why.
    pub error: ExecError,
}

/// The sender's rules: the transaction's nonce is the account's, and the balance covers
/// amount + fee (which must not overflow). Returns amount + fee.
fn sender_pays(tx: &Transaction, sender: &Account) -> Result<u64, ExecError> {
    if tx.nonce != sender.nonce {
        return Err(ExecError::BadNonce {
            expected: sender.nonce,
            got: tx.nonce,
        });
    }
    let needed = tx.total_cost().ok_or(ExecError::Overflow)?;
    if sender.balance < needed {
        return Err(ExecError::InsufficientBalance {
            needed,
            available: sender.balance,
        });
    }
    Ok(needed)
}

/// State transition of one block over the state at a parent root.
pub struct Executor<'s, S: NodeStore + ?Sized> {
    trie: Trie<'s, S>,
    accounts: BTreeMap<Address, (Account, bool)>,
}

impl<'s, S: NodeStore + ?Sized> Executor<'s, S> {
    /// Starts from the state whose root is `root`.
    pub fn new(store: &'s S, root: Hash) -> Self {
        Self {
            trie: Trie::at(store, root),
            accounts: BTreeMap::new(),
        }
    }

    /// The account as it stands in this execution.
    pub fn account(&mut self, address: &Address) -> Result<Account, TrieError> {
        if let Some((account, _)) = self.accounts.get(address) {
            return Ok(*account);
        }
        let account = match self.trie.get(&account_key(address))? {
            Some(bytes) => Account::decode(&bytes).map_err(|error| TrieError::Rlp {
                hash: format!("account {address}"),
                error,
            })?,
            None => Account::default(),
        };
        self.accounts.insert(*address, (account, false));
        Ok(account)
    }

    fn set(&mut self, address: Address, account: Account) {
        self.accounts.insert(address, (account, true));
    }

    /// Sets an account outright (genesis).
    pub fn set_account(&mut self, address: Address, account: Account) {
        self.set(address, account);
    }

    /// Executes one transfer; on error nothing changes.
    pub fn apply(&mut self, tx: &Transaction, producer: &Address) -> Result<(), ExecError> {
        let from = tx.sender_address();
        let mut sender = self.account(&from)?;
        let needed = sender_pays(tx, &sender)?;
        // Check every credit before changing anything.
        let mut recipient = if tx.recipient == from {
            sender
        } else {
            self.account(&tx.recipient)?
        };
        let mut fee_to = if *producer == from {
            sender
        } else if *producer == tx.recipient {
            recipient
        } else {
            self.account(producer)?
        };
        sender.balance -= needed;
        sender.nonce = sender.nonce.checked_add(1).ok_or(ExecError::Overflow)?;
        if tx.recipient == from {
            recipient = sender;
        }
        recipient.balance = recipient
            .balance
            .checked_add(tx.amount)
            .ok_or(ExecError::Overflow)?;
        if *producer == from {
            fee_to = if tx.recipient == from {
                recipient
            } else {
                sender
            };
        } else if *producer == tx.recipient {
            fee_to = recipient;
        }
        fee_to.balance = fee_to
            .balance
            .checked_add(tx.fee)
            .ok_or(ExecError::Overflow)?;
        // Write back in an order where later writes carry every change to a shared account.
        if tx.recipient == from {
            sender = recipient;
        }
        if *producer == from {
            sender = fee_to;
            if tx.recipient == from {
                recipient = fee_to;
            }
        }
        if *producer == tx.recipient {
            recipient = fee_to;
        }
        self.set(from, sender);
        self.set(tx.recipient, recipient);
        if *producer != from && *producer != tx.recipient {
            self.set(*producer, fee_to);
        }
        Ok(())
    }

    /// Executes one transfer without crediting its fee to anyone (the fee is still debited): what
    /// a mempool checks before it knows which validator will include the transaction. On error
    /// nothing changes.
    pub fn apply_unpaid(&mut self, tx: &Transaction) -> Result<(), ExecError> {
        let from = tx.sender_address();
        let mut sender = self.account(&from)?;
        let needed = sender_pays(tx, &sender)?;
        let nonce = sender.nonce.checked_add(1).ok_or(ExecError::Overflow)?;
        if tx.recipient == from {
            // Debit then credit of one account: it ends `fee` lower, which cannot overflow.
            sender.balance = sender.balance - needed + tx.amount;
            sender.nonce = nonce;
            self.set(from, sender);
            return Ok(());
        }
        let mut recipient = self.account(&tx.recipient)?;
        recipient.balance = recipient
            .balance
            .checked_add(tx.amount)
            .ok_or(ExecError::Overflow)?;
        sender.balance -= needed;
        sender.nonce = nonce;
        self.set(from, sender);
        self.set(tx.recipient, recipient);
        Ok(())
    }

    /// Executes every transaction of a block in order; the first failure fails the block.
    pub fn apply_block(
        &mut self,
        txs: &[Transaction],
        producer: &Address,
    ) -> Result<(), BlockExecError> {
        for (index, tx) in txs.iter().enumerate() {
            self.apply(tx, producer)
                .map_err(|error| BlockExecError { index, error })?;
        }
        Ok(())
    }

    /// Writes changed accounts to the trie; returns the new root and the nodes to persist.
    pub fn commit(mut self) -> Result<(Hash, NewNodes), TrieError> {
        for (address, (account, dirty)) in std::mem::take(&mut self.accounts) {
            if dirty {
                self.trie.insert(&account_key(&address), account.encode())?;
            }
        }
        Ok(self.trie.commit())
    }
}
