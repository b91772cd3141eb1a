//! The pure chain core: types, canonical encoding, hashing, signatures, the transaction Merkle
//! root, genesis and the consensus validation rules. Nothing here does I/O or knows about RocksDB,
//! gRPC or the clock; callers pass the current time in. Everything a peer implementation needs to
//! agree with us on is in this module and documented in `docs/PROTOCOL.md`.

pub mod crypto;
pub mod encoding;
pub mod genesis;
pub mod merkle;
pub mod schedule;
pub mod types;
pub mod validation;

pub use genesis::{Genesis, GenesisAccount, GenesisError};
pub use types::{Address, Block, Hash, Header, PublicKey, Signature, Transaction, TypeError};
pub use validation::{ChainRules, ValidationError};
