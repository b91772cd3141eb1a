//! Property-based fuzzing (proptest, stable Rust) of every decoder that takes bytes from the
//! network or from disk: the canonical transaction, header and body encodings, RLP and state-trie
//! proofs, account values, the sync wire messages, genesis JSON and key files. Each target starts
//! from the committed corpus in `node/tests/fuzz-corpus/<target>/` (valid encodings and the
//! inputs that once broke something), then runs a bounded number of mutated and random inputs
//! (`LUXTENSOR_FUZZ_CASES`, default 3,000 per target). The property: no panic, no unbounded
//! recursion, and whatever decodes re-encodes to the same bytes where the encoding is canonical.
//! A failing input is printed by proptest; add it to the corpus when it is fixed.
//! `cargo test -p luxtensor-node --test it fuzz::write_seed_corpus -- --ignored` rewrites the seeds.

use std::path::PathBuf;

use node::chain::encoding;
use node::chain::{Address, Genesis};
use node::state::rlp;
use node::state::{Account, verify_proof};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use prost::Message;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target)
}

/// The committed corpus of `target`; a missing or empty folder fails (never skips).
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {} is missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "fuzz corpus {} is empty", dir.display());
    seeds
}

fn cases() -> u32 {
    std::env::var("LUXTENSOR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

/// A mutation of one seed: bit flips, byte overwrites, truncation, insertion, or random bytes.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    let seeds = std::sync::Arc::new(seeds);
    (
        0..n,
        prop::collection::vec((any::<u16>(), any::<u8>()), 0..8),
        0u8..5,
        prop::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(move |(i, edits, kind, random)| {
            let mut bytes = seeds[i].clone();
            match kind {
                0 => {
                    for (at, bit) in edits {
                        if !bytes.is_empty() {
                            let at = usize::from(at) % bytes.len();
                            bytes[at] ^= 1 << (bit % 8);
                        }
                    }
                }
                1 => {
                    for (at, value) in edits {
                        if !bytes.is_empty() {
                            let at = usize::from(at) % bytes.len();
                            bytes[at] = value;
                        }
                    }
                }
                2 => {
                    let keep = edits.first().map_or(0, |(a, _)| usize::from(*a));
                    bytes.truncate(keep % (bytes.len() + 1));
                }
                3 => {
                    let at = edits.first().map_or(0, |(a, _)| usize::from(*a)) % (bytes.len() + 1);
                    bytes.splice(at..at, random);
                }
                _ => bytes = random,
            }
            bytes
        })
}

/// Runs `check` on every corpus seed, then on `cases()` mutations of them.
fn fuzz(target: &str, check: impl Fn(&[u8])) {
    let seeds = corpus(target);
    for s in &seeds {
        check(s);
    }
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&mutated(seeds), |input| {
            check(&input);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("fuzz target {target}: {e}"));
}

#[test]
fn transactions() {
    fuzz("tx", |b| {
        if let Ok(tx) = encoding::decode_tx(b) {
            assert_eq!(encoding::encode_tx(&tx), b);
            let _ = tx.hash();
        }
    });
}

#[test]
fn headers() {
    fuzz("header", |b| {
        if let Ok(h) = encoding::decode_header(b) {
            assert_eq!(encoding::encode_header(&h), b);
            let _ = h.hash();
        }
    });
}

#[test]
fn bodies() {
    fuzz("body", |b| {
        if let Ok(txs) = encoding::decode_body(b) {
            assert_eq!(encoding::encode_body(&txs), b);
            let _ = node::chain::merkle::tx_root(&txs);
        }
    });
}

/// Re-encodes an RLP item.
fn reencode(item: &rlp::Item<'_>) -> Vec<u8> {
    match item {
        rlp::Item::Bytes(b) => {
            let mut out = Vec::new();
            rlp::encode_bytes(&mut out, b);
            out
        }
        rlp::Item::List(items) => {
            let payload: Vec<u8> = items.iter().flat_map(|(i, _)| reencode(i)).collect();
            rlp::encode_list(&payload)
        }
    }
}

#[test]
fn rlp_items_and_accounts() {
    fuzz("rlp", |b| {
        if let Ok(item) = rlp::decode(b) {
            assert_eq!(reencode(&item), b, "strict RLP is canonical");
        }
        if let Ok(account) = Account::decode(b) {
            assert_eq!(account.encode(), b);
        }
    });
}

#[test]
fn trie_proofs() {
    // Input: a proof as RLP list of nodes; the root is the first node's keccak.
    fuzz("proof", |b| {
        if let Ok(rlp::Item::List(nodes)) = rlp::decode(b) {
            let nodes: Vec<Vec<u8>> = nodes
                .iter()
                .filter_map(|(i, _)| i.bytes().ok().map(<[u8]>::to_vec))
                .collect();
            if let Some(first) = nodes.first() {
                let root = encoding::keccak256(first);
                for key in [[0u8; 32], [0xffu8; 32], root] {
                    let _ = verify_proof(&root, &key, &nodes);
                }
            }
        }
    });
}

#[test]
fn sync_wire_messages() {
    use node::sync::wire::{header_from_wire, status_from_wire, tx_from_wire};
    use proto::sync::v1 as w;
    fuzz("wire", |b| {
        if let Ok(m) = w::GetHeadersResponse::decode(b) {
            for h in &m.headers {
                let _ = header_from_wire(h);
            }
        }
        if let Ok(m) = w::GetBodiesResponse::decode(b) {
            for t in &m.transactions {
                let _ = tx_from_wire(t);
            }
        }
        if let Ok(m) = w::HandshakeResponse::decode(b)
            && let Some(s) = m.status
        {
            let _ = status_from_wire(s);
        }
    });
}

#[test]
fn genesis_and_key_files() {
    fuzz("json", |b| {
        let text = String::from_utf8_lossy(b);
        if let Ok(g) = Genesis::from_json(&text) {
            let _ = g.spec().map(|s| s.config_hash());
        }
        let _ = serde_json::from_str::<node::config::KeyFile>(&text);
    });
}

/// Writes the seed corpus (valid encodings of each kind). Not a test on its own.
#[test]
#[ignore = "rewrites node/tests/fuzz-corpus; run by hand"]
fn write_seed_corpus() {
    use crate::common::*;
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let v = validator(0);
    let g = genesis(std::slice::from_ref(&v), 3);
    let network = genesis_hash(&g);
    let txs: Vec<_> = (0..3)
        .map(|i| transfer(&network, &dev(i), 0, Address([i as u8; 20]), 10, 1))
        .collect();
    write("tx", "transfer", &encoding::encode_tx(&txs[0]));
    write("body", "three", &encoding::encode_body(&txs));
    write("body", "empty", &[]);
    let dir = tempfile::tempdir().unwrap();
    let ledger = node::ledger::Ledger::open(dir.path(), &g, 15_000).unwrap();
    let block = block_on(&ledger, &ledger.head().header, &v, txs.clone(), 0);
    write("header", "block1", &encoding::encode_header(&block.header));
    write(
        "rlp",
        "account",
        &Account {
            nonce: 5,
            balance: 1_000_000,
        }
        .encode(),
    );
    write(
        "rlp",
        "nested",
        &rlp::encode_list(&rlp::encode_list(&[0x80])),
    );
    // Regression: 2,000 nested lists once meant 2,000 recursive calls (now refused past 32).
    let mut deep = vec![0x80];
    for _ in 0..2_000 {
        deep = rlp::encode_list(&deep);
    }
    write("rlp", "deep", &deep);
    let root = ledger.head().header.state_root;
    let (_, proof) = ledger
        .account(&root, &dev(0).public().address(), true)
        .unwrap();
    let payload: Vec<u8> = proof
        .iter()
        .flat_map(|n| {
            let mut out = Vec::new();
            rlp::encode_bytes(&mut out, n);
            out
        })
        .collect();
    write("proof", "dev0", &rlp::encode_list(&payload));
    let wire_headers = proto::sync::v1::GetHeadersResponse {
        headers: vec![node::sync::wire::header_to_wire(&block.header)],
    };
    write("wire", "headers", &wire_headers.encode_to_vec());
    let wire_body = proto::sync::v1::GetBodiesResponse {
        block_hash: block.hash().to_vec(),
        transactions: txs.iter().map(node::sync::wire::tx_to_wire).collect(),
    };
    write("wire", "body", &wire_body.encode_to_vec());
    write("json", "genesis", g.to_json().as_bytes());
    let key = serde_json::to_string(&node::config::KeyFile::from_keypair(&v)).unwrap();
    write("json", "key", key.as_bytes());
}
