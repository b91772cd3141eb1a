//! The node library's layers depend one way: `chain ← state ← storage ← ledger ← mempool ←
//! producer ← sync ← rpc ← config ← node`, with `cli` at the edge. This reads every source file of a layer and fails when it names
//! a module above it (`crate::rpc` inside `sync`, say), and when `chain/types.rs` names
//! `encoding` (encodings build on the types, not the reverse). Test modules inside a file are
//! checked too, except where a layer's tests build a whole chain with the producer.

use std::path::{Path, PathBuf};

/// Layers from the bottom up; each may use only the ones before it.
const ORDER: [&str; 10] = [
    "chain", "state", "storage", "ledger", "mempool", "producer", "sync", "rpc", "config", "node",
];
/// Modules at the binary's edge: nothing in `ORDER` may use them.
const EDGE: [&str; 1] = ["cli"];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files of a layer: `src/<layer>.rs` and everything under `src/<layer>/`.
fn files(layer: &str) -> Vec<PathBuf> {
    let mut out = vec![src().join(format!("{layer}.rs"))];
    let mut dirs = vec![src().join(layer)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.retain(|p| p.is_file());
    out
}

/// First path segments after every `crate::` (including each item of `crate::{a, b::c}`).
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

/// The code of a file without its `#[cfg(test)] mod tests { … }` block (tests may build fixtures
/// from higher layers, e.g. the sync engine's tests produce a chain).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

fn violations(layer: &str, allowed: &[&str]) -> Vec<String> {
    let forbidden: Vec<&str> = ORDER
        .iter()
        .chain(EDGE.iter())
        .filter(|m| **m != layer && !allowed.contains(m))
        .copied()
        .collect();
    let mut found = Vec::new();
    for file in files(layer) {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in crate_paths(without_tests(&text)) {
            if forbidden.contains(&name.as_str()) {
                found.push(format!(
                    "{} names crate::{name}",
                    file.strip_prefix(src()).unwrap_or(&file).display()
                ));
            }
        }
    }
    found
}

#[test]
fn every_layer_depends_only_on_the_layers_below_it() {
    let mut found = Vec::new();
    for (i, layer) in ORDER.iter().enumerate() {
        found.extend(violations(layer, &ORDER[..i]));
    }
    assert!(found.is_empty(), "layering violated:\n{}", found.join("\n"));
}

#[test]
fn sync_never_names_rpc() {
    assert!(files("sync").len() > 5, "the sync layer's files are found");
    let found: Vec<String> = violations("sync", &ORDER[..6])
        .into_iter()
        .filter(|v| v.contains("crate::rpc"))
        .collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn chain_types_do_not_name_their_encodings() {
    let types = std::fs::read_to_string(src().join("chain/types.rs")).unwrap();
    let code: String = types
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    assert!(
        !code.contains("encoding"),
        "chain/types.rs names encoding: the encodings build on the types, not the reverse"
    );
}

#[test]
fn the_checker_sees_grouped_and_nested_paths() {
    let paths = crate_paths("use crate::{ledger::Ledger, rpc};\nlet x = crate::sync::wire::X;");
    assert_eq!(paths, ["ledger", "rpc", "sync"]);
    assert!(Path::new(&src()).join("lib.rs").is_file());
}
