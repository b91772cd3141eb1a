//! The state trie reproduces every root of the Ethereum reference vectors in
//! `node/tests/vectors/ethereum-trie/` (ethereum/tests TrieTests and py-trie generated cases), both
//! built in one go and built incrementally over a node store with commits in between; proofs of
//! every key (and of every deleted key's absence) verify against the roots.

use std::collections::BTreeMap;

use node::chain::encoding::keccak256;
use node::state::{MemoryStore, Trie, verify_proof};
use serde_json::Value;

fn bytes(v: &str) -> Vec<u8> {
    match v.strip_prefix("0x") {
        Some(h) => hex::decode(h).expect("hex in vector"),
        None => v.as_bytes().to_vec(),
    }
}

type Ops = Vec<(Vec<u8>, Option<Vec<u8>>)>;
type Model = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn load(file: &str) -> Vec<(String, Ops, String)> {
    let path = crate::common::vectors_dir("ethereum-trie").join(file);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut cases = Vec::new();
    for (name, case) in json.as_object().unwrap() {
        let (input, root) = match (case.get("in"), case.get("data")) {
            (Some(i), _) => (i, case["root"].as_str().unwrap()),
            (None, Some(d)) => (d, case["result"].as_str().unwrap()),
            _ => panic!("case {name} has no input"),
        };
        let ops = input
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| (bytes(kv[0].as_str().unwrap()), kv[1].as_str().map(bytes)))
            .collect();
        cases.push((name.clone(), ops, root.to_string()));
    }
    assert!(!cases.is_empty(), "{file} holds no cases");
    cases
}

fn apply(ops: &Ops, commit_every: usize, secure: bool) -> ([u8; 32], MemoryStore, Model) {
    let mut store = MemoryStore::default();
    let mut root = node::state::EMPTY_ROOT;
    let mut model = BTreeMap::new();
    for chunk in ops.chunks(commit_every.max(1)) {
        let mut trie = Trie::at(&store, root);
        for (k, v) in chunk {
            let key = if secure {
                keccak256(k).to_vec()
            } else {
                k.clone()
            };
            match v {
                Some(v) if !v.is_empty() => trie.insert(&key, v.clone()).unwrap(),
                _ => trie.remove(&key).unwrap(),
            }
            model.insert(key, v.clone().filter(|v| !v.is_empty()));
        }
        let (new_root, nodes) = trie.commit();
        store.extend(nodes);
        root = new_root;
    }
    (root, store, model)
}

fn check_file(file: &str, secure: bool) {
    for (name, ops, expected) in load(file) {
        for commit_every in [usize::MAX, 1, 3] {
            let (root, store, model) = apply(&ops, commit_every, secure);
            assert_eq!(
                format!("0x{}", hex::encode(root)),
                expected,
                "{file}/{name} (commit every {commit_every})"
            );
            let trie = Trie::at(&store, root);
            for (key, value) in &model {
                assert_eq!(&trie.get(key).unwrap(), value, "{file}/{name}: get");
                let proof = trie.prove(key).unwrap();
                assert_eq!(
                    &verify_proof(&root, key, &proof).unwrap(),
                    value,
                    "{file}/{name}: proof"
                );
            }
        }
    }
}

#[test]
fn trietest_roots() {
    check_file("trietest.json", false);
}

#[test]
fn secure_trie_roots() {
    check_file("hex_encoded_securetrie_test.json", true);
}

#[test]
fn py_trie_generated_roots() {
    check_file("generated.json", false);
}

#[test]
fn tampered_proofs_are_rejected() {
    let (_, ops, _) = load("generated.json")
        .into_iter()
        .find(|(n, _, _)| n == "account-1-8")
        .unwrap();
    let (root, store, model) = apply(&ops, usize::MAX, false);
    let trie = Trie::at(&store, root);
    let (key, value) = model.iter().find(|(_, v)| v.is_some()).unwrap();
    let mut proof = trie.prove(key).unwrap();
    assert!(proof.len() > 1);
    // Dropping a node makes the proof incomplete: an error, not a silent absence.
    let mut short = proof.clone();
    short.pop();
    assert!(verify_proof(&root, key, &short).is_err());
    // Altering a node changes its hash, so the path breaks.
    let last = proof.last_mut().unwrap();
    let n = last.len();
    last[n - 1] ^= 1;
    assert_ne!(
        verify_proof(&root, key, &proof).ok().flatten().as_ref(),
        value.as_ref()
    );
}
