//! End-to-end scenarios live in `tests/`; this library is empty until the containerized testnet lands.
