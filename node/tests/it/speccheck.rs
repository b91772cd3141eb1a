//! ed25519 edge cases (`node/tests/vectors/ed25519-speccheck/cases.json`, from
//! novifinancial/ed25519-speccheck) pin our single acceptance rule, ZIP 215: cofactored
//! verification, canonical S required, any decodable encoding of A and R accepted. Each case's
//! verdict is stated below and must be the same through every verification path: single, batch
//! (alone and mixed into a batch of valid signatures) and parallel.

use node::chain::crypto::{Keypair, VerifyItem, verify, verify_batch, verify_parallel};
use node::chain::{PublicKey, Signature};
use serde_json::Value;

/// Expected verdict per case, in file order, with the reason under ZIP 215.
const EXPECTED: [(bool, &str); 10] = [
    (
        true,
        "S = 0 with small-order A and R: no small-order rejection, cofactored equation holds",
    ),
    (
        true,
        "small-order A, mixed-order R: cofactored equation holds",
    ),
    (
        true,
        "mixed-order A, small-order R: cofactored equation holds",
    ),
    (
        true,
        "mixed-order A and R: both the cofactored and cofactorless equations hold",
    ),
    (
        true,
        "mixed-order A and R: only the cofactored equation holds, which is the one we use",
    ),
    (
        true,
        "mixed-order A, R of order L: cofactored equation holds (8h not pre-reduced)",
    ),
    (false, "S > L: non-canonical scalar"),
    (false, "S >> L: non-canonical scalar"),
    (
        false,
        "non-canonical R, valid only if the challenge hashed R re-encoded: we hash R as sent",
    ),
    (
        true,
        "non-canonical R, valid when the challenge hashes R as sent: decodable, so accepted",
    ),
];

fn cases() -> Vec<(PublicKey, Vec<u8>, Signature)> {
    let path = crate::common::vectors_dir("ed25519-speccheck").join("cases.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let h = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
            (
                PublicKey(h("pub_key").try_into().unwrap()),
                h("message"),
                Signature(h("signature").try_into().unwrap()),
            )
        })
        .collect()
}

fn items(cases: &[(PublicKey, Vec<u8>, Signature)]) -> Vec<VerifyItem<'_>> {
    cases.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect()
}

#[test]
fn single_path_verdicts() {
    let cases = cases();
    assert_eq!(cases.len(), EXPECTED.len());
    for (i, ((k, m, s), (expected, why))) in cases.iter().zip(EXPECTED).enumerate() {
        assert_eq!(verify(k, m, s).is_ok(), expected, "case {i}: {why}");
    }
}

#[test]
fn batch_and_parallel_paths_agree_with_single() {
    let cases = cases();
    let honest: Vec<(PublicKey, Vec<u8>, Signature)> = (0..100u8)
        .map(|i| {
            let kp = Keypair::from_seed([i; 32]);
            let msg = vec![i; 40];
            (kp.public(), msg.clone(), kp.sign(&msg))
        })
        .collect();
    for (i, (case, (expected, why))) in cases.iter().zip(EXPECTED).enumerate() {
        let alone = std::slice::from_ref(case);
        assert_eq!(
            verify_batch(&items(alone)).is_ok(),
            expected,
            "case {i} alone in a batch: {why}"
        );
        // Mixed into a batch of valid signatures, at several positions.
        for pos in [0, 37, 100] {
            let mut mixed = honest.clone();
            mixed.insert(pos, case.clone());
            let refs = items(&mixed);
            let batch = verify_batch(&refs);
            assert_eq!(
                batch.is_ok(),
                expected,
                "case {i} at {pos} in a batch: {why}"
            );
            if let Err(f) = batch {
                assert_eq!(f.index, pos, "case {i}: the batch names the bad signature");
            }
            for threads in [1, 2, 4] {
                let par = verify_parallel(&refs, threads);
                assert_eq!(
                    par.is_ok(),
                    expected,
                    "case {i} at {pos}, {threads} threads: {why}"
                );
                if let Err(f) = par {
                    assert_eq!(f.index, pos);
                }
            }
        }
    }
    // All edge cases together: the batch fails exactly as the singles do, naming the first bad one.
    let all = items(&cases);
    let first_bad = EXPECTED.iter().position(|(ok, _)| !ok).unwrap();
    assert_eq!(verify_batch(&all).unwrap_err().index, first_bad);
    let valid: Vec<_> = cases
        .iter()
        .zip(EXPECTED)
        .filter(|(_, (ok, _))| *ok)
        .map(|(c, _)| c.clone())
        .collect();
    assert!(
        verify_batch(&items(&valid)).is_ok(),
        "every accepted case also passes as one batch"
    );
}
