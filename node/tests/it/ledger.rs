//! The ledger over real RocksDB in a temp dir: valid blocks extend the chain; every kind of invalid
//! block is rejected with a precise error and leaves nothing stored; fork choice reorganizes to the
//! longer (or, at equal height, lower-hash) branch, undoing the loser's transactions; a data
//! directory refuses another genesis.

use crate::common::*;
use node::chain::ValidationError;
use node::chain::crypto::CryptoError;
use node::ledger::{ImportError, ImportOutcome, Ledger, LedgerError, now_ms};
use node::state::executor::ExecError;

type Case = (
    &'static str,
    node::chain::Block,
    Box<dyn Fn(&ImportError) -> bool>,
);

fn open(dir: &std::path::Path, validators: &[node::chain::crypto::Keypair]) -> Ledger {
    Ledger::open(dir, &genesis(validators, 5), 15_000).unwrap()
}

fn balance(ledger: &Ledger, who: &node::chain::crypto::Keypair) -> (u64, u64) {
    let root = ledger.head().header.state_root;
    let a = ledger
        .account(&root, &who.public().address(), false)
        .unwrap()
        .0
        .unwrap_or_default();
    (a.balance, a.nonce)
}

#[test]
fn valid_blocks_extend_and_invalid_ones_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = validator(0);
    let ledger = open(dir.path(), std::slice::from_ref(&v));
    let g = ledger.head().header;
    let b1 = block_on(
        &ledger,
        &g,
        &v,
        vec![transfer(
            &ledger.genesis_hash(),
            &dev(0),
            0,
            dev(1).public().address(),
            100,
            2,
        )],
        0,
    );
    assert_eq!(
        ledger.import_block(&b1, now_ms()).unwrap(),
        ImportOutcome::Extended
    );
    assert_eq!(ledger.head().header.height, 1);
    assert_eq!(balance(&ledger, &dev(0)), (DEV_BALANCE - 102, 1));
    assert_eq!(balance(&ledger, &dev(1)), (DEV_BALANCE + 100, 0));
    assert_eq!(balance(&ledger, &v).0, 2, "fee goes to the producer");
    assert_eq!(
        ledger.import_block(&b1, now_ms()).unwrap(),
        ImportOutcome::AlreadyKnown
    );

    let head = ledger.head().header;
    let good_tx = || {
        transfer(
            &ledger.genesis_hash(),
            &dev(0),
            1,
            dev(2).public().address(),
            10,
            1,
        )
    };
    let mut cases: Vec<Case> = Vec::new();

    let mut b = block_on(&ledger, &head, &v, vec![good_tx()], 0);
    b.header.signature.0[3] ^= 1;
    cases.push((
        "bad producer signature",
        b,
        Box::new(|e| {
            matches!(
                e,
                ImportError::Invalid(ValidationError::BadHeaderSignature {
                    error: CryptoError::BadSignature,
                    ..
                })
            )
        }),
    ));

    let intruder = validator(9);
    let b = block_on(&ledger, &head, &intruder, vec![], 0);
    cases.push((
        "unscheduled producer",
        b,
        Box::new(|e| {
            matches!(
                e,
                ImportError::Invalid(ValidationError::WrongProducer { .. })
            )
        }),
    ));

    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    b.header.parent_hash[0] ^= 1;
    sign(&mut b.header, &v);
    cases.push((
        "unknown parent",
        b,
        Box::new(|e| matches!(e, ImportError::UnknownParent(_))),
    ));

    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    b.header.timestamp_ms = head.timestamp_ms;
    sign(&mut b.header, &v);
    cases.push((
        "timestamp not increasing",
        b,
        Box::new(|e| {
            matches!(
                e,
                ImportError::Invalid(ValidationError::TimestampNotIncreasing { .. })
            )
        }),
    ));

    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    b.header.timestamp_ms = now_ms() + 60_000;
    sign(&mut b.header, &v);
    cases.push((
        "timestamp in the future",
        b,
        Box::new(|e| {
            matches!(
                e,
                ImportError::Invalid(ValidationError::TimestampInFuture { .. })
            )
        }),
    ));

    let mut b = block_on(&ledger, &head, &v, vec![good_tx()], 0);
    b.transactions[0].amount += 1;
    cases.push((
        "tampered transaction",
        b,
        Box::new(|e| {
            matches!(
                e,
                ImportError::Invalid(ValidationError::TxRootMismatch { .. })
            )
        }),
    ));

    let mut b = block_on(&ledger, &head, &v, vec![good_tx()], 0);
    b.transactions[0].amount += 1;
    b.header.tx_root = node::chain::merkle::tx_root(&b.transactions);
    sign(&mut b.header, &v);
    cases.push((
        "transaction signature",
        b,
        Box::new(|e| {
            matches!(
                e,
                ImportError::Invalid(ValidationError::BadTxSignature { index: 0, .. })
            )
        }),
    ));

    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    b.header.state_root[0] ^= 1;
    sign(&mut b.header, &v);
    cases.push((
        "wrong state root",
        b,
        Box::new(|e| matches!(e, ImportError::StateRootMismatch { .. })),
    ));

    let wrong_nonce = transfer(
        &ledger.genesis_hash(),
        &dev(0),
        5,
        dev(2).public().address(),
        10,
        1,
    );
    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    b.transactions = vec![wrong_nonce];
    b.header.tx_root = node::chain::merkle::tx_root(&b.transactions);
    b.header.tx_count = 1;
    sign(&mut b.header, &v);
    cases.push(("nonce too high", b, Box::new(|e| matches!(e, ImportError::Execution(x) if x.error == ExecError::BadNonce { expected: 1, got: 5 }))));

    let replay = b1.transactions[0].clone();
    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    b.transactions = vec![replay];
    b.header.tx_root = node::chain::merkle::tx_root(&b.transactions);
    b.header.tx_count = 1;
    sign(&mut b.header, &v);
    cases.push(("replayed transaction (nonce too low)", b, Box::new(|e| matches!(e, ImportError::Execution(x) if x.error == ExecError::BadNonce { expected: 1, got: 0 }))));

    let broke = transfer(
        &ledger.genesis_hash(),
        &dev(3),
        0,
        dev(2).public().address(),
        DEV_BALANCE,
        1,
    );
    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    b.transactions = vec![broke];
    b.header.tx_root = node::chain::merkle::tx_root(&b.transactions);
    b.header.tx_count = 1;
    sign(&mut b.header, &v);
    cases.push(("insufficient balance", b, Box::new(|e| matches!(e, ImportError::Execution(x) if matches!(x.error, ExecError::InsufficientBalance { .. })))));

    let mut b = block_on(&ledger, &head, &v, vec![], 0);
    let mut foreign = good_tx();
    foreign.chain_id = 1;
    foreign.signature = dev(0).sign(&foreign.signing_message(&ledger.genesis_hash()));
    b.transactions = vec![foreign];
    b.header.tx_root = node::chain::merkle::tx_root(&b.transactions);
    b.header.tx_count = 1;
    sign(&mut b.header, &v);
    cases.push((
        "transaction for another chain",
        b,
        Box::new(|e| {
            matches!(
                e,
                ImportError::Invalid(ValidationError::TxWrongChain { .. })
            )
        }),
    ));

    for (what, block, expected) in cases {
        let err = ledger.import_block(&block, now_ms()).expect_err(what);
        assert!(expected(&err), "{what}: unexpected error {err}");
        assert!(
            ledger.store().header(&block.hash()).unwrap().is_none(),
            "{what}: nothing stored"
        );
        assert_eq!(ledger.head().header.height, 1, "{what}: head unchanged");
    }
    assert_eq!(ledger.verify_chain(0, 1).unwrap().fault, None);
}

#[test]
fn fork_choice_prefers_longer_then_lower_hash_and_undoes_the_loser() {
    let dir = tempfile::tempdir().unwrap();
    let v = validator(0);
    // Three validators, blocks by one of them: nothing becomes final, every fork is open.
    let ledger = open(dir.path(), &[v.clone(), validator(1), validator(2)]);
    let g = ledger.head().header;
    let pay = transfer(
        &ledger.genesis_hash(),
        &dev(0),
        0,
        dev(1).public().address(),
        500,
        5,
    );
    // Two blocks for height 1 signed by the same validator (equivocation).
    let with_tx = block_on(&ledger, &g, &v, vec![pay.clone()], 0);
    let empty = block_on(&ledger, &g, &v, vec![], 7);
    let (low, high) = if with_tx.hash() < empty.hash() {
        (&with_tx, &empty)
    } else {
        (&empty, &with_tx)
    };
    assert_eq!(
        ledger.import_block(high, now_ms()).unwrap(),
        ImportOutcome::Extended
    );
    assert_eq!(
        ledger.import_block(low, now_ms()).unwrap(),
        ImportOutcome::Reorganized {
            ancestor: 0,
            dropped: 1
        },
        "equal height: the lower hash wins"
    );
    assert_eq!(ledger.head().hash, low.hash());
    // Extending the losing block makes its branch longer: it wins back.
    let child = block_on(&ledger, &high.header, &v, vec![], 0);
    assert_eq!(
        ledger.import_block(&child, now_ms()).unwrap(),
        ImportOutcome::Reorganized {
            ancestor: 0,
            dropped: 1
        }
    );
    assert_eq!(ledger.head().hash, child.hash());
    assert_eq!(ledger.store().canonical_hash(1).unwrap(), Some(high.hash()));
    let tx_on_canonical = ledger.transaction(&pay.hash()).unwrap().is_some();
    let expected_b0 = if std::ptr::eq(high, &with_tx) {
        DEV_BALANCE - 505
    } else {
        DEV_BALANCE
    };
    assert_eq!(
        balance(&ledger, &dev(0)).0,
        expected_b0,
        "balances reflect only the canonical branch"
    );
    assert_eq!(
        tx_on_canonical,
        std::ptr::eq(high, &with_tx),
        "tx index follows the canonical branch"
    );
    assert_eq!(ledger.verify_chain(0, 2).unwrap().fault, None);
    // A shorter side branch does not move the head.
    let side = block_on(&ledger, &g, &v, vec![], 20);
    assert_eq!(
        ledger.import_block(&side, now_ms()).unwrap(),
        ImportOutcome::SideChain
    );
    assert_eq!(ledger.head().hash, child.hash());
}

#[test]
fn a_data_directory_refuses_another_genesis_and_reopens_at_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let v = validator(0);
    let head = {
        let ledger = open(dir.path(), std::slice::from_ref(&v));
        let g = ledger.head().header;
        let b = block_on(&ledger, &g, &v, vec![], 0);
        ledger.import_block(&b, now_ms()).unwrap();
        ledger.head()
    };
    let reopened = open(dir.path(), std::slice::from_ref(&v));
    assert_eq!(reopened.head(), head);
    drop(reopened);
    let other = Ledger::open(dir.path(), &genesis(&[validator(1)], 5), 15_000);
    assert!(
        matches!(other, Err(LedgerError::GenesisMismatch { .. })),
        "{other:?}"
    );
}

#[test]
fn the_presigned_path_still_checks_everything_but_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let v = validator(0);
    let ledger = open(dir.path(), std::slice::from_ref(&v));
    let g = ledger.head().header;
    let tx = transfer(
        &ledger.genesis_hash(),
        &dev(0),
        0,
        dev(1).public().address(),
        10,
        1,
    );
    let mut tampered = block_on(&ledger, &g, &v, vec![tx.clone()], 0);
    tampered.transactions[0].amount += 1;
    let err = ledger
        .import_verified_block(&tampered, now_ms())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Invalid(ValidationError::TxRootMismatch { .. })
        ),
        "{err}"
    );
    let mut wrong_root = block_on(&ledger, &g, &v, vec![tx.clone()], 0);
    wrong_root.header.state_root[0] ^= 1;
    sign(&mut wrong_root.header, &v);
    assert!(matches!(
        ledger.import_verified_block(&wrong_root, now_ms()),
        Err(ImportError::StateRootMismatch { .. })
    ));
    let good = block_on(&ledger, &g, &v, vec![tx], 0);
    assert_eq!(
        ledger.import_verified_block(&good, now_ms()).unwrap(),
        ImportOutcome::Extended
    );
    assert_eq!(ledger.verify_chain(0, 1).unwrap().fault, None);
}
