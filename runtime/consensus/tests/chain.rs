//! Admission, ordering and commit through the shared chain core, on a real RocksDB store.

use std::sync::Arc;

use govchain_consensus::{ApplyError, Chain, ChainConfig, SealedBlock};
use govchain_crypto::PrivateKey;
use govchain_proof::commit::{ValidatorSet, verify_commit};
use govchain_state::genesis::{
    ChainParams, Committee, Genesis, GenesisDepartment, GenesisValidator,
};
use govchain_store::Store;
use govchain_types::{Coded, ErrorCode, ExecError, pb};

struct Fixture {
    _dir: tempfile::TempDir,
    genesis: Genesis,
    chain: Arc<Chain>,
    tax: PrivateKey,
    bank: PrivateKey,
    validator: PrivateKey,
}

fn hex_pub(k: &PrivateKey) -> String {
    hex::encode(k.public_key().to_sec1())
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (tax, bank, validator) = (
        PrivateKey::generate(),
        PrivateKey::generate(),
        PrivateKey::generate(),
    );
    let dept = |id: &str, k: &PrivateKey| GenesisDepartment {
        id: id.into(),
        name: id.into(),
        public_key: hex_pub(k),
        roles: vec![],
        operators: vec![],
    };
    let genesis = Genesis {
        chain_id: "test".into(),
        genesis_time_ms: 1_000,
        salt_commitment: hex::encode(govchain_proof::salt_commitment(&[1u8; 32])),
        departments: vec![dept("tax", &tax), dept("bank", &bank)],
        validators: vec![GenesisValidator {
            id: "node1".into(),
            department: "tax".into(),
            public_key: hex_pub(&validator),
            ..Default::default()
        }],
        committee: Committee {
            members: vec!["tax".into()],
            threshold: 1,
        },
        params: ChainParams {
            max_tx_bytes: 2048,
            max_block_txs: 100,
            ..ChainParams::default()
        },
        access: Default::default(),
        custody: None,
    };
    let chain = open(dir.path(), &genesis);
    Fixture {
        _dir: dir,
        genesis,
        chain,
        tax,
        bank,
        validator,
    }
}

fn open(dir: &std::path::Path, genesis: &Genesis) -> Arc<Chain> {
    open_synced(dir, genesis, false)
}

/// `sync`: each block's batch is fsynced.
fn open_synced(dir: &std::path::Path, genesis: &Genesis, sync: bool) -> Arc<Chain> {
    let store = Arc::new(Store::open(dir, sync).unwrap());
    Chain::open(
        store,
        genesis,
        ChainConfig {
            mempool_capacity: 1000,
            mempool_per_account: 1000,
        },
    )
    .unwrap()
}

fn tx(key: &PrivateKey, sender: &str, chain: &str, nonce: u64, anchor_key: &str) -> pb::SignedTx {
    let body = govchain_types::encode(&pb::TxBody {
        chain_id: chain.into(),
        sender: sender.into(),
        operator: String::new(),
        nonce,
        expiry_height: 0,
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::Anchor(pb::Anchor {
                key: anchor_key.into(),
                digest: vec![7; 32],
                note: String::new(),
            })),
        }),
    });
    pb::SignedTx {
        signature: key.sign(&body).to_bytes().to_vec(),
        signer_pubkey: key.public_key().to_sec1(),
        body,
    }
}

async fn submit_one(chain: &Arc<Chain>, t: pb::SignedTx) -> Result<[u8; 32], ExecError> {
    chain
        .submit(vec![t], false)
        .await
        .pop()
        .unwrap()
        .map(|(h, _)| h)
}

async fn code(chain: &Arc<Chain>, t: pb::SignedTx) -> ErrorCode {
    submit_one(chain, t).await.unwrap_err().code()
}

#[tokio::test]
async fn admission_rejects_with_stable_codes_and_writes_nothing() {
    let f = fixture();
    let c = &f.chain;
    let good = tx(&f.tax, "tax", "test", 0, "doc-1");

    let mut garbage = good.clone();
    garbage.body = vec![0xff, 0xff, 0xff];
    assert_eq!(code(c, garbage).await, ErrorCode::MalformedTx);

    assert_eq!(
        code(c, tx(&f.tax, "tax", "other-chain", 0, "d")).await,
        ErrorCode::WrongChain
    );
    assert_eq!(
        code(c, tx(&f.tax, "police", "test", 0, "d")).await,
        ErrorCode::UnknownDepartment
    );
    assert_eq!(
        code(c, tx(&f.bank, "tax", "test", 0, "d")).await,
        ErrorCode::KeyMismatch
    );

    let mut forged = good.clone();
    forged.signature[10] ^= 1;
    assert_eq!(code(c, forged).await, ErrorCode::BadSignature);

    let mut op = tx(&f.tax, "tax", "test", 0, "d");
    let mut body: pb::TxBody = govchain_types::decode("b", &op.body).unwrap();
    body.operator = "clerk".into();
    op.body = govchain_types::encode(&body);
    op.signature = f.tax.sign(&op.body).to_bytes().to_vec();
    assert_eq!(code(c, op).await, ErrorCode::UnknownOperator);

    assert_eq!(
        code(c, tx(&f.tax, "tax", "test", 5, "d")).await,
        ErrorCode::NonceGap
    );
    assert_eq!(
        code(c, tx(&f.tax, "tax", "test", 0, &"x".repeat(3000))).await,
        ErrorCode::TxTooLarge
    );

    let mut empty = tx(&f.tax, "tax", "test", 0, "d");
    let mut body: pb::TxBody = govchain_types::decode("b", &empty.body).unwrap();
    body.payload = None;
    empty.body = govchain_types::encode(&body);
    empty.signature = f.tax.sign(&empty.body).to_bytes().to_vec();
    assert_eq!(code(c, empty).await, ErrorCode::MissingPayload);

    // Nothing was admitted by any of those.
    assert_eq!(c.mempool_len(), 0);
    assert_eq!(c.next_nonce("tax", "").unwrap(), 0);

    // The good one is admitted once; the same bytes again are a duplicate.
    submit_one(c, good.clone()).await.unwrap();
    assert_eq!(code(c, good.clone()).await, ErrorCode::DuplicateTx);
    assert_eq!(c.mempool_len(), 1);

    // After it commits, replaying it is refused too (the same bytes: a duplicate;
    // another transaction with its nonce: a replayed nonce).
    let txs = c.take_pending(10);
    c.produce_block(txs, 2_000, "node1", &f.validator).unwrap();
    assert_eq!(code(c, good).await, ErrorCode::DuplicateTx);
    let same_nonce = tx(&f.tax, "tax", "test", 0, "other");
    assert_eq!(code(c, same_nonce).await, ErrorCode::NonceReplayed);

    // At height 2 a transaction that expired at height 1 is refused.
    let mut late = tx(&f.tax, "tax", "test", 1, "late");
    let mut body: pb::TxBody = govchain_types::decode("b", &late.body).unwrap();
    body.expiry_height = 1;
    late.body = govchain_types::encode(&body);
    late.signature = f.tax.sign(&late.body).to_bytes().to_vec();
    assert_eq!(code(c, late).await, ErrorCode::TxExpired);
}

/// One submission of many transactions is verified in batches (one shared inversion per
/// chunk of 32); each transaction must still get exactly the verdict it gets alone, and
/// only keys registered on chain may get a verification table.
#[tokio::test]
async fn batched_admission_gives_each_transaction_its_own_verdict() {
    let f = fixture();
    let c = &f.chain;
    let outsider = PrivateKey::generate();
    // 70 transactions: three chunks, every kind of defect in each.
    let (mut tax_nonce, mut bank_nonce) = (0, 0);
    let mut txs = Vec::new();
    let mut expected = Vec::new();
    for i in 0..70u64 {
        let (t, want) = match i % 7 {
            0 | 3 => {
                tax_nonce += 1;
                (
                    tx(&f.tax, "tax", "test", tax_nonce - 1, &format!("t{i}")),
                    None,
                )
            }
            1 => {
                bank_nonce += 1;
                (
                    tx(&f.bank, "bank", "test", bank_nonce - 1, &format!("b{i}")),
                    None,
                )
            }
            2 => {
                let mut forged = tx(&f.tax, "tax", "test", 900 + i, "forged");
                forged.signature[7] ^= 1;
                (forged, Some(ErrorCode::BadSignature))
            }
            4 => (
                tx(&outsider, "tax", "test", 900 + i, "outsider"),
                Some(ErrorCode::KeyMismatch),
            ),
            5 => {
                // r = s = 0 over a registered key: out of range, refused.
                let mut t = tx(&f.bank, "bank", "test", 900 + i, "zero");
                t.signature = [0u8; 64].to_vec();
                (t, Some(ErrorCode::BadSignature))
            }
            _ => (
                tx(&f.tax, "police", "test", 0, "unknown"),
                Some(ErrorCode::UnknownDepartment),
            ),
        };
        txs.push(t);
        expected.push(want);
    }
    let results = c.submit(txs, false).await;
    assert_eq!(results.len(), expected.len());
    for (i, (r, want)) in results.iter().zip(&expected).enumerate() {
        match (r, want) {
            (Ok(_), None) => {}
            (Err(e), Some(code)) => assert_eq!(e.code(), *code, "transaction {i}: {e}"),
            (r, want) => panic!("transaction {i}: got {:?}, want {want:?}", r.as_ref().err()),
        }
    }
    assert_eq!(c.mempool_len(), (tax_nonce + bank_nonce) as usize);
    // Tables for the two registered signers, none for the outsider. (Two chunks may
    // build the same key's table at once; one is kept, so count what is held.)
    let stats = c.key_table_stats();
    assert_eq!((stats.keys, stats.evictions), (2, 0), "{stats:?}");

    // A follower verifies the block in batches too and reaches the same state; a block
    // that carries an outsider's signature for a registered account (a Byzantine
    // proposer's choice) is verified without building a table for that key.
    let pending = c.take_pending(100);
    c.produce_block(pending, 2_000, "node1", &f.validator)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &f.genesis);
    let block1 = c.store().block(1).unwrap().unwrap();
    follower
        .apply_block(&block1, Some("node1"), vec![])
        .unwrap();
    assert_eq!(follower.tip().hash, c.tip().hash);
    let stats = follower.key_table_stats();
    assert_eq!((stats.keys, stats.evictions), (2, 0), "{stats:?}");
    let t = tx(&outsider, "tax", "test", tax_nonce, "outsider");
    let verified = govchain_state::VerifiedTx {
        hash: govchain_crypto::sm3(&t.body),
        body: govchain_types::decode("body", &t.body).unwrap(),
        tx: t,
    };
    c.produce_block(vec![verified], 2_001, "node1", &f.validator)
        .unwrap();
    let block2 = c.store().block(2).unwrap().unwrap();
    follower
        .apply_block(&block2, Some("node1"), vec![])
        .unwrap();
    assert_eq!(follower.tip().hash, c.tip().hash);
    let stats = follower.key_table_stats();
    assert_eq!(
        (stats.keys, stats.evictions),
        (2, 0),
        "no table for the outsider's key"
    );
}

#[tokio::test]
async fn a_failing_payload_fails_only_its_transaction() {
    let f = fixture();
    let c = &f.chain;
    // tax anchors doc-1 twice (the second fails: ALREADY_EXISTS), bank anchors doc-1 once.
    for t in [
        tx(&f.tax, "tax", "test", 0, "doc-1"),
        tx(&f.tax, "tax", "test", 1, "doc-1"),
        tx(&f.bank, "bank", "test", 0, "doc-1"),
    ] {
        submit_one(c, t).await.unwrap();
    }
    let txs = c.take_pending(10);
    let block = c.produce_block(txs, 5_000, "node1", &f.validator).unwrap();
    let statuses: Vec<_> = block
        .receipts
        .iter()
        .map(|r| (r.status, r.error_code))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (pb::TxStatus::Ok as i32, 0),
            (pb::TxStatus::Failed as i32, ErrorCode::AlreadyExists as u32),
            (pb::TxStatus::Ok as i32, 0),
        ]
    );
    // The failed transaction still used its nonce, so it cannot be replayed.
    assert_eq!(c.next_nonce("tax", "").unwrap(), 2);
    assert_eq!(block.sealed.header.height, 1);
    assert_eq!(block.sealed.header.tx_count, 3);
    block
        .sealed
        .verify_signature(&f.validator.public_key().to_sec1())
        .unwrap();
}

#[tokio::test]
async fn block_time_never_goes_backwards() {
    let f = fixture();
    let c = &f.chain;
    submit_one(c, tx(&f.tax, "tax", "test", 0, "a"))
        .await
        .unwrap();
    let b1 = c
        .produce_block(c.take_pending(10), 9_000, "node1", &f.validator)
        .unwrap();
    submit_one(c, tx(&f.tax, "tax", "test", 1, "b"))
        .await
        .unwrap();
    let b2 = c
        .produce_block(c.take_pending(10), 8_000, "node1", &f.validator)
        .unwrap();
    assert_eq!(b1.sealed.header.time_ms, 9_000);
    assert_eq!(b2.sealed.header.time_ms, 9_000);
    assert_eq!(b2.sealed.header.prev_hash, b1.sealed.hash.to_vec());
}

/// The engine seam a BFT engine needs: a proposal is imported (checked and executed,
/// nothing written) before it is decided, and committed only if it still extends the
/// tip. Two valid proposals for the same height (an equivocating proposer): the one
/// decided commits, the other is refused at commit and leaves no trace.
#[tokio::test]
async fn an_imported_block_writes_nothing_and_commits_only_on_the_tip() {
    // given two blocks at height 1 from the same validator, over different senders' transactions
    let f = fixture();
    let other_dir = tempfile::tempdir().unwrap();
    let other = open(other_dir.path(), &f.genesis);
    let mut proposals = vec![];
    for (leader, key, sender) in [(&f.chain, &f.tax, "tax"), (&other, &f.bank, "bank")] {
        submit_one(leader, tx(key, sender, "test", 0, "doc"))
            .await
            .unwrap();
        let built = leader
            .build_block(leader.take_pending(10), 2_000, "node1", &f.validator)
            .unwrap();
        proposals.push(govchain_types::encode(&built.block));
    }
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &f.genesis);

    // when the follower imports both, nothing is written
    let a = follower.import(&proposals[0], Some("node1")).unwrap();
    let b = follower.import(&proposals[1], Some("node1")).unwrap();
    assert_ne!(a.sealed().hash, b.sealed().hash);
    assert_eq!(follower.tip().header.height, 0);
    assert!(follower.store().block(1).unwrap().is_none());
    let b_hash = b.sealed().hash;
    let a_tx = a.sealed().block.txs[0].body.clone();

    // then the decided one commits, and the other no longer extends the tip
    let committed = follower.commit_imported(b, vec![]).unwrap();
    assert_eq!(committed.sealed.hash, b_hash);
    let refused = follower.commit_imported(a, vec![]).unwrap_err();
    assert!(
        matches!(&refused, ApplyError::Rejected(m) if m.contains("no longer extends the tip")),
        "{refused}"
    );
    assert_eq!(follower.tip().hash, b_hash);
    assert!(
        !follower
            .store()
            .has_tx(&govchain_crypto::sm3(&a_tx))
            .unwrap(),
        "nothing of the refused block was written"
    );

    // and the leader whose own built block lost commits the winner by executing it,
    // giving its own transaction back to the mempool
    let c = f
        .chain
        .apply_block(&proposals[1], Some("node1"), vec![])
        .unwrap();
    assert_eq!(c.sealed.hash, b_hash);
    assert_eq!(
        f.chain.mempool_len(),
        1,
        "tax's transaction waits for a later block"
    );
    assert_eq!(f.chain.next_nonce("tax", "").unwrap(), 1);
}

/// A leader's built block loses to another proposer's block that spends the same
/// nonce (the client resubmitted through another node): the leader's transaction can
/// never commit, so it is dropped, not given back to the mempool to fail later.
#[tokio::test]
async fn a_transaction_whose_nonce_another_block_spent_is_not_requeued() {
    let f = fixture();
    let other_dir = tempfile::tempdir().unwrap();
    let other = open(other_dir.path(), &f.genesis);
    submit_one(&f.chain, tx(&f.tax, "tax", "test", 0, "doc-a"))
        .await
        .unwrap();
    f.chain
        .build_block(f.chain.take_pending(10), 2_000, "node1", &f.validator)
        .unwrap();
    submit_one(&other, tx(&f.tax, "tax", "test", 0, "doc-b"))
        .await
        .unwrap();
    let theirs = other
        .build_block(other.take_pending(10), 2_000, "node1", &f.validator)
        .unwrap();
    f.chain
        .apply_block(
            &govchain_types::encode(&theirs.block),
            Some("node1"),
            vec![],
        )
        .unwrap();
    assert_eq!(
        f.chain.mempool_len(),
        0,
        "doc-a spent nonce 0 too: it can never commit"
    );
    assert_eq!(f.chain.next_nonce("tax", "").unwrap(), 1);
}

/// Re-signs a block with a changed header (what a faulty or malicious proposer could send).
fn resealed(
    raw: &[u8],
    key: &PrivateKey,
    change: impl FnOnce(&mut pb::BlockHeader, &mut Vec<pb::SignedTx>),
) -> Vec<u8> {
    let b = SealedBlock::decode(raw).unwrap();
    let (mut header, mut txs) = (b.header, b.block.txs);
    change(&mut header, &mut txs);
    govchain_types::encode(&SealedBlock::seal(header, txs, Some(key)).block)
}

#[tokio::test]
async fn a_follower_applies_the_leaders_blocks_and_refuses_bad_ones() {
    // given a leader that produced three blocks, and a follower from the same genesis
    let f = fixture();
    for n in 0..3u64 {
        let t = tx(&f.tax, "tax", "test", n, &format!("doc-{n}"));
        submit_one(&f.chain, t).await.unwrap();
        let txs = f.chain.take_pending(100);
        f.chain
            .produce_block(txs, 2_000 + n, "node1", &f.validator)
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &f.genesis);
    let block = |h: u64| f.chain.store().block(h).unwrap().unwrap();

    // when it applies them in order, it reaches the same tip and state
    follower
        .apply_block(&block(1), Some("node1"), vec![])
        .unwrap();
    // a replay, a gap and a stranger's signature are rejected without writing anything
    assert!(
        matches!(follower.apply_block(&block(1), Some("node1"), vec![]), Err(ApplyError::Rejected(m)) if m.contains("does not extend"))
    );
    assert!(matches!(
        follower.apply_block(&block(3), Some("node1"), vec![]),
        Err(ApplyError::Rejected(_))
    ));
    let forged = resealed(&block(2), &f.bank, |_, _| {});
    assert!(
        matches!(follower.apply_block(&forged, Some("node1"), vec![]), Err(ApplyError::Rejected(m)) if m.contains("signature"))
    );
    // a block sealed by another validator than the round's proposer is rejected
    assert!(
        matches!(follower.apply_block(&block(2), Some("node2"), vec![]), Err(ApplyError::Rejected(m)) if m.contains("the round's proposer is 'node2'"))
    );
    // a validator-signed block with a forged transaction is rejected too
    let bad_tx = resealed(&block(2), &f.validator, |_, txs| txs[0].signature[5] ^= 1);
    assert!(
        matches!(follower.apply_block(&bad_tx, Some("node1"), vec![]), Err(ApplyError::Rejected(m)) if m.contains("transaction"))
    );
    // so are blocks over the chain's transaction count or byte size
    let crowded = resealed(&block(2), &f.validator, |h, txs| {
        *txs = vec![txs[0].clone(); 101];
        h.tx_count = 101;
    });
    assert!(
        matches!(follower.apply_block(&crowded, Some("node1"), vec![]), Err(ApplyError::Rejected(m)) if m.contains("over max_block_txs 100"))
    );
    let heavy = resealed(&block(2), &f.validator, |_, txs| {
        txs[0].body.extend(vec![0; 2 << 20]);
    });
    assert!(
        matches!(follower.apply_block(&heavy, Some("node1"), vec![]), Err(ApplyError::Rejected(m)) if m.contains("over max_block_bytes 2097152"))
    );
    // a validator-signed block whose roots this node does not reproduce is divergence
    let lying = resealed(&block(2), &f.validator, |h, _| h.state_root[0] ^= 1);
    let err = follower
        .apply_block(&lying, Some("node1"), vec![])
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::Diverged(ref m) if m.contains("state root")),
        "{err}"
    );
    assert_eq!(
        follower.tip().header.height,
        1,
        "nothing written by refused blocks"
    );
    follower
        .apply_block(&block(2), Some("node1"), vec![])
        .unwrap();
    // node metadata (what decided the block) commits with the block
    follower
        .apply_block(
            &block(3),
            Some("node1"),
            vec![(b"decided/x".to_vec(), b"3".to_vec())],
        )
        .unwrap();
    assert_eq!(
        follower
            .store()
            .get(govchain_store::Column::Meta, b"decided/x")
            .unwrap(),
        Some(b"3".to_vec())
    );
    assert_eq!(follower.tip().hash, f.chain.tip().hash);
    assert_eq!(
        follower.tip().header.state_root,
        f.chain.tip().header.state_root
    );
    let r = follower
        .store()
        .receipt(&govchain_crypto::sm3(
            &tx(&f.tax, "tax", "test", 2, "doc-2").body,
        ))
        .unwrap();
    assert!(r.is_some(), "receipts are stored on the follower too");
}

/// Every solo block carries its validator's precommit as a one-of-one commit
/// certificate, stored with the block; it verifies against the validator set the header
/// commits to, and a follower refuses a header that names another set.
#[tokio::test]
async fn solo_blocks_carry_a_certificate_of_the_set_their_header_names() {
    let f = fixture();
    let set = ValidatorSet::new([("node1".to_string(), f.validator.public_key())]).unwrap();
    let genesis = SealedBlock::decode(&f.chain.store().block(0).unwrap().unwrap()).unwrap();
    assert_eq!(genesis.header.validators_hash, set.hash());
    assert!(
        genesis.block.commit.is_none(),
        "block 0 is genesis, not decided"
    );
    submit_one(&f.chain, tx(&f.tax, "tax", "test", 0, "doc-0"))
        .await
        .unwrap();
    let txs = f.chain.take_pending(100);
    f.chain
        .produce_block(txs, 2_000, "node1", &f.validator)
        .unwrap();
    let raw = f.chain.store().block(1).unwrap().unwrap();
    let stored = SealedBlock::decode(&raw).unwrap();
    assert_eq!(stored.header.validators_hash, set.hash());
    assert_eq!(stored.header.next_validators_hash, set.hash());
    let cert = stored.block.commit.clone().expect("a commit certificate");
    assert_eq!(verify_commit("test", &set, 1, &stored.hash, &cert), Ok(1));
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &f.genesis);
    let other = resealed(&raw, &f.validator, |h, _| h.validators_hash = vec![7; 32]);
    let err = follower
        .apply_block(&other, Some("node1"), vec![])
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::Diverged(ref m) if m.contains("validators hash")),
        "{err}"
    );
    follower.apply_block(&raw, Some("node1"), vec![]).unwrap();
}

/// A proposer that re-includes a committed transaction (here: a second node that took it
/// from its mempool before the block holding it arrived) makes a block every node
/// refuses; the original receipt stays as it was (security review M3).
#[tokio::test]
async fn a_block_reincluding_a_committed_transaction_is_refused() {
    let f = fixture();
    let t = tx(&f.tax, "tax", "test", 0, "doc-0");
    let dir = tempfile::tempdir().unwrap();
    let second = open(dir.path(), &f.genesis);
    submit_one(&f.chain, t.clone()).await.unwrap();
    submit_one(&second, t.clone()).await.unwrap();
    let stale = second.take_pending(100);
    let txs = f.chain.take_pending(100);
    f.chain
        .produce_block(txs, 2_000, "node1", &f.validator)
        .unwrap();
    let block1 = f.chain.store().block(1).unwrap().unwrap();
    second.apply_block(&block1, Some("node1"), vec![]).unwrap();
    let replay = second
        .build_block(stale.clone(), 3_000, "node1", &f.validator)
        .unwrap();
    let replay = govchain_types::encode(&replay.block);
    let err = f
        .chain
        .apply_block(&replay, Some("node1"), vec![])
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::Rejected(ref m) if m.contains("committed in block 1 already")),
        "{err}"
    );
    let receipt = f
        .chain
        .store()
        .receipt(&govchain_crypto::sm3(&t.body))
        .unwrap();
    let receipt: pb::Receipt = govchain_types::decode("receipt", &receipt.unwrap()).unwrap();
    assert_eq!(
        (receipt.height, receipt.status),
        (1, pb::TxStatus::Ok as i32)
    );
    assert_eq!(f.chain.tip().header.height, 1, "nothing written");
    // Twice in one block is refused the same way.
    let twice = resealed(&block1, &f.validator, |h, txs| {
        txs.push(txs[0].clone());
        h.tx_count = 2;
    });
    let dir = tempfile::tempdir().unwrap();
    let third = open(dir.path(), &f.genesis);
    let err = third
        .apply_block(&twice, Some("node1"), vec![])
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::Rejected(ref m) if m.contains("twice")),
        "{err}"
    );
}

/// A proposer takes only what fits `max_block_bytes`; the rest waits for the next
/// block, and every block it cuts is one a follower accepts.
#[tokio::test]
async fn blocks_hold_what_fits_the_chains_byte_limit() {
    let mut f = fixture();
    f.genesis.params.max_block_bytes = 2048 + 8 + 4096;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (leader, follower) = (
        open(dirs[0].path(), &f.genesis),
        open(dirs[1].path(), &f.genesis),
    );
    for n in 0..30u64 {
        submit_one(&leader, tx(&f.tax, "tax", "test", n, &format!("k{n}")))
            .await
            .unwrap();
    }
    let mut sizes = Vec::new();
    while leader.mempool_len() > 0 {
        let txs = leader.take_pending(100);
        let b = leader
            .produce_block(txs, 2_000, "node1", &f.validator)
            .unwrap();
        let raw = govchain_types::encode(&b.sealed.block);
        assert!(
            raw.len() as u64 <= f.genesis.params.max_block_bytes,
            "block {} is {} bytes",
            b.sealed.header.height,
            raw.len()
        );
        follower.apply_block(&raw, Some("node1"), vec![]).unwrap();
        sizes.push(b.sealed.header.tx_count);
    }
    assert!(
        sizes.len() > 1 && sizes.iter().sum::<u32>() == 30,
        "{sizes:?}"
    );
    assert!(sizes[0] > 1, "{sizes:?}");
    assert_eq!(follower.tip().hash, leader.tip().hash);
}

#[tokio::test]
async fn a_leader_commits_its_own_built_block_once_and_requeues_an_abandoned_one() {
    let f = fixture();
    for n in 0..2u64 {
        submit_one(&f.chain, tx(&f.tax, "tax", "test", n, &format!("d{n}")))
            .await
            .unwrap();
    }
    // a built block is not committed until the log hands it back
    let built = f
        .chain
        .build_block(f.chain.take_pending(1), 5_000, "node1", &f.validator)
        .unwrap();
    assert_eq!(f.chain.tip().header.height, 0);
    // abandoned (another proposer's block won): its transaction goes back in front of the other
    f.chain.abandon_built();
    assert_eq!(f.chain.mempool_len(), 2);
    let again = f
        .chain
        .build_block(f.chain.take_pending(1), 5_000, "node1", &f.validator)
        .unwrap();
    assert_eq!(
        again.block.txs, built.block.txs,
        "same transaction, same order"
    );
    let raw = govchain_types::encode(&again.block);
    let c = f.chain.apply_block(&raw, Some("node1"), vec![]).unwrap();
    assert_eq!(c.sealed.hash, again.hash);
    assert_eq!(f.chain.tip().header.height, 1);
    // the nonce of the committed transaction is not reused; the second one is next
    assert_eq!(f.chain.next_nonce("tax", "").unwrap(), 2);
    assert_eq!(f.chain.take_pending(10).len(), 1);
}

/// A leader builds the next block on the ones still replicating: it reads their writes
/// (here the sender's nonce), a follower executing the same blocks in order gets the same
/// roots, and abandoning a block takes the ones built on it along, in order.
#[tokio::test]
async fn a_leader_builds_on_its_uncommitted_blocks_and_abandons_them_together() {
    let f = fixture();
    let txs: Vec<pb::SignedTx> = (0..4u64)
        .map(|n| tx(&f.tax, "tax", "test", n, &format!("p{n}")))
        .collect();
    for t in &txs {
        submit_one(&f.chain, t.clone()).await.unwrap();
    }
    let build = |n: usize, time: u64| {
        f.chain
            .build_block(f.chain.take_pending(n), time, "node1", &f.validator)
            .unwrap()
    };
    let a = build(1, 5_000);
    let b = build(1, 4_000);
    assert_eq!((a.header.height, b.header.height), (1, 2));
    assert_eq!(b.header.prev_hash, a.hash.to_vec());
    assert_eq!(b.header.time_ms, 5_000, "block time never goes back");
    assert_eq!(f.chain.tip().header.height, 0, "nothing committed yet");

    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &f.genesis);
    for block in [&a, &b] {
        let raw = govchain_types::encode(&block.block);
        let here = follower.apply_block(&raw, Some("node1"), vec![]).unwrap();
        let there = f.chain.apply_block(&raw, Some("node1"), vec![]).unwrap();
        assert_eq!(here.sealed.hash, there.sealed.hash);
        assert!(
            there
                .receipts
                .iter()
                .all(|r| r.status == pb::TxStatus::Ok as i32),
            "block {} executed on its parent's writes: {:?}",
            block.header.height,
            there.receipts
        );
    }
    assert_eq!(f.chain.tip().hash, follower.tip().hash);
    assert_eq!(f.chain.next_nonce("tax", "").unwrap(), 4);

    let c = build(1, 6_000);
    let d = build(1, 6_000);
    assert_eq!(d.header.prev_hash, c.hash.to_vec());
    f.chain.abandon_built();
    f.chain.abandon_built(); // already gone: nothing happens
    assert_eq!(f.chain.mempool_len(), 2);
    let again = build(10, 6_000);
    assert_eq!(again.header.height, 3, "built on the committed tip again");
    assert_eq!(
        again.block.txs,
        [&c.block.txs[..], &d.block.txs[..]].concat()
    );
}

/// As the driver does, the leader applies its own blocks from the log on one thread while
/// it builds the next ones on another: each block built sees the ones below it either
/// among the built blocks or in the store, so it extends the block before it and a
/// follower executes it to the same roots.
#[tokio::test]
async fn blocks_built_while_the_ones_below_commit_extend_them() {
    let f = fixture();
    let n = 100u64;
    // fsync on: each commit takes a while, as on a validator
    let leader_dir = tempfile::tempdir().unwrap();
    let leader = open_synced(leader_dir.path(), &f.genesis, true);
    for i in 0..n {
        submit_one(&leader, tx(&f.tax, "tax", "test", i, &format!("p{i}")))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &f.genesis);
    let (to_log, log) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let chain = &leader;
        s.spawn(move || {
            for _ in 0..n {
                let b = chain
                    .build_block(chain.take_pending(1), 5_000, "node1", &f.validator)
                    .unwrap();
                to_log.send(govchain_types::encode(&b.block)).unwrap();
            }
        });
        for raw in log {
            let here = leader.apply_block(&raw, Some("node1"), vec![]);
            let there = follower.apply_block(&raw, Some("node1"), vec![]);
            let (here, there) = (here.unwrap(), there.unwrap());
            assert_eq!(here.sealed.hash, there.sealed.hash);
        }
    });
    assert_eq!(leader.tip().header.height, n);
    assert_eq!(follower.tip().hash, leader.tip().hash);
    assert_eq!(follower.next_nonce("tax", "").unwrap(), n);
}

/// Whether a transaction's key, nonce or expiry still hold when its block runs is for
/// execution to decide (a failed receipt), never a reason for a follower to refuse the
/// leader's block: the follower's mempool may not have held it, the leader's did.
#[tokio::test]
async fn a_follower_commits_a_leader_block_with_a_transaction_expired_on_arrival() {
    let f = fixture();
    submit_one(&f.chain, tx(&f.tax, "tax", "test", 0, "first"))
        .await
        .unwrap();
    let late = pb::TxBody {
        chain_id: "test".into(),
        sender: "tax".into(),
        operator: String::new(),
        nonce: 1,
        expiry_height: 1,
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::Anchor(pb::Anchor {
                key: "late".into(),
                digest: vec![7; 32],
                note: String::new(),
            })),
        }),
    };
    let body = govchain_types::encode(&late);
    let expiring = pb::SignedTx {
        signature: f.tax.sign(&body).to_bytes().to_vec(),
        signer_pubkey: f.tax.public_key().to_sec1(),
        body,
    };
    submit_one(&f.chain, expiring).await.unwrap();
    // block 1 takes the first; block 2 carries the second, expired by then
    f.chain
        .produce_block(f.chain.take_pending(1), 2_000, "node1", &f.validator)
        .unwrap();
    let b2 = f
        .chain
        .produce_block(f.chain.take_pending(1), 2_001, "node1", &f.validator)
        .unwrap();
    assert_eq!(b2.receipts[0].error_code, ErrorCode::TxExpired as u32);

    let dir = tempfile::tempdir().unwrap();
    let follower = open(dir.path(), &f.genesis);
    for h in 1..=2 {
        let raw = f.chain.store().block(h).unwrap().unwrap();
        follower.apply_block(&raw, Some("node1"), vec![]).unwrap();
    }
    assert_eq!(follower.tip().hash, f.chain.tip().hash);
}

/// What a node's clients submit is passed on in admission order even when the node takes
/// some of it into a block of its own first: a peer refuses a nonce ahead of the next
/// one, so passing on only what still waits left every later transaction of the account
/// refused by every peer, and only this node could propose them.
#[tokio::test]
async fn transactions_are_passed_on_in_order_even_once_taken_into_a_block() {
    let f = fixture();
    let peer_dir = tempfile::tempdir().unwrap();
    let peer = open(peer_dir.path(), &f.genesis);
    f.chain.open_outbox();
    peer.open_outbox();
    let txs: Vec<pb::SignedTx> = (0..5)
        .map(|n| tx(&f.tax, "tax", "test", n, &format!("o{n}")))
        .collect();
    for r in f.chain.submit(txs.clone(), false).await {
        r.unwrap();
    }
    // This node builds on the first two before the next pass.
    assert_eq!(f.chain.take_pending(2).len(), 2);
    let out: Vec<pb::SignedTx> = f.chain.take_outbox().into_iter().map(|(_, t)| t).collect();
    assert_eq!(out, txs, "all five, in admission order");
    assert_eq!(
        peer.admit_forwarded(out).await,
        5,
        "the peer takes all five"
    );
    assert!(f.chain.take_outbox().is_empty(), "each is passed on once");
    assert!(
        peer.take_outbox().is_empty(),
        "what came from a peer is not passed on again"
    );
    // A refused transaction is not passed on.
    assert!(
        submit_one(&f.chain, tx(&f.tax, "tax", "test", 9, "gap"))
            .await
            .is_err()
    );
    assert!(f.chain.take_outbox().is_empty());
}

/// Signature verifications a chain's admission has made with per-key tables (each
/// looks up or builds its signer's table).
fn verifications(chain: &Chain) -> u64 {
    let s = chain.key_table_stats();
    s.hits + s.builds
}

/// A transaction passed on again after a block carried it here, or while this node
/// still holds it, is a duplicate: its signatures are not verified a second time.
#[tokio::test]
async fn a_transaction_this_node_holds_or_committed_is_not_verified_again() {
    let f = fixture();
    let peer_dir = tempfile::tempdir().unwrap();
    let peer = open(peer_dir.path(), &f.genesis);
    let held = tx(&f.tax, "tax", "test", 0, "held");
    assert_eq!(peer.admit_forwarded(vec![held.clone()]).await, 1);
    let before = verifications(&peer);
    assert!(before > 0, "admission verified it with a table");
    assert_eq!(peer.admit_forwarded(vec![held]).await, 0);
    assert_eq!(verifications(&peer), before, "held: not verified again");

    // A block carries the leader's next transaction to the peer before it is passed on.
    let carried = tx(&f.bank, "bank", "test", 0, "carried");
    submit_one(&f.chain, carried.clone()).await.unwrap();
    let txs = f.chain.take_pending(10);
    f.chain
        .produce_block(txs, 2_000, "node1", &f.validator)
        .unwrap();
    let block1 = f.chain.store().block(1).unwrap().unwrap();
    peer.apply_block(&block1, Some("node1"), vec![]).unwrap();
    let after_block = verifications(&peer);
    assert!(
        after_block > before,
        "the block's transaction was verified once"
    );
    assert_eq!(peer.admit_forwarded(vec![carried.clone()]).await, 0);
    assert_eq!(
        verifications(&peer),
        after_block,
        "committed: not verified again"
    );
    let err = submit_one(&peer, carried).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::DuplicateTx, "{err}");
}
