//! Conformance vectors of blocks (`conformance/vectors.json`, `checked_by` = this file):
//! a sealed block's header encoding, hash, signature and block encoding; the genesis
//! block of the genesis fixture; and blocks 1 and 2 of that chain: the validators'
//! custody key generation, then fixed transactions at a fixed time, down to every
//! transaction hash and receipt, with the audit export of its records.

#[path = "../../../conformance/harness.rs"]
mod harness;
use harness::{num, text, unhex};

use std::sync::Arc;

use govchain_consensus::{Chain, ChainConfig, SealedBlock};
use govchain_crypto::PrivateKey;
use govchain_proof::commit::vote_bytes;
use govchain_state::access::audit;
use govchain_state::{Genesis, certs};
use govchain_store::Store;
use govchain_types::pb;
use serde_json::Value;

const FILE: &str = "runtime/consensus/tests/conformance.rs";

/// The fixed key `name` of the vector file.
fn key(name: &str) -> PrivateKey {
    PrivateKey::from_pkcs8_pem(&harness::key_pem(name))
        .unwrap_or_else(|e| panic!("fixed key '{name}': {e}"))
}

#[test]
fn every_vector_of_this_file_is_checked() {
    harness::assert_file_covered(
        FILE,
        &["block.seal", "chain.genesis_block", "chain.block_one"],
    );
}

#[test]
fn block_seal() {
    let v = harness::vector("block.seal");
    let h = v.input("header");
    let header = pb::BlockHeader {
        chain_id: text(h, "chain_id"),
        height: num(h, "height"),
        prev_hash: unhex(h, "prev_hash"),
        time_ms: num(h, "time_ms"),
        proposer: text(h, "proposer"),
        tx_root: unhex(h, "tx_root"),
        state_root: unhex(h, "state_root"),
        receipts_root: unhex(h, "receipts_root"),
        audit_root: unhex(h, "audit_root"),
        tx_count: num(h, "tx_count") as u32,
        audit_count: num(h, "audit_count") as u32,
        validators_hash: unhex(h, "validators_hash"),
        next_validators_hash: unhex(h, "next_validators_hash"),
    };
    let txs = v
        .input("txs")
        .as_array()
        .expect("txs")
        .iter()
        .map(|t| pb::SignedTx {
            body: unhex(t, "body"),
            signer_pubkey: unhex(t, "signer_pubkey"),
            signature: unhex(t, "signature"),
        })
        .collect();
    let proposer = key(v.text("proposer_key"));
    let sealed = SealedBlock::seal(header, txs, Some(&proposer));
    v.check("header", &sealed.block.header);
    v.check("hash", sealed.hash);
    v.check("signature", &sealed.block.signature);
    let block = govchain_types::encode(&sealed.block);
    v.check("block", &block);
    let back = SealedBlock::decode(&block).unwrap();
    assert_eq!(back.hash, sealed.hash);
    back.verify_signature(&proposer.public_key().to_sec1())
        .expect("the proposer's signature verifies");
    v.finish();
}

fn genesis() -> Genesis {
    Genesis::from_json(&harness::genesis_json()).expect("the genesis fixture is valid")
}

fn open(dir: &std::path::Path, genesis: &Genesis) -> Arc<Chain> {
    let store = Arc::new(Store::open(dir, false).unwrap());
    Chain::open(
        store,
        genesis,
        ChainConfig {
            mempool_capacity: 100,
            mempool_per_account: 100,
        },
    )
    .unwrap()
}

#[test]
fn chain_genesis_block() {
    let v = harness::vector("chain.genesis_block");
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let chain = open(dir.path(), &g);
    let raw = chain.store().block(0).unwrap().expect("block 0");
    let sealed = SealedBlock::decode(&raw).unwrap();
    v.check("header", &sealed.block.header);
    v.check("hash", sealed.hash);
    v.check("block", &raw);
    assert_eq!(chain.tip().hash, sealed.hash);
    assert_eq!(sealed.header.prev_hash, g.hash().to_vec());
    v.finish();
}

/// The payload of a transaction of the `chain.block_one` vector.
fn payload(chain_id: &str, t: &Value) -> pb::payload::Kind {
    match t["kind"].as_str() {
        Some("publish") => {
            let p = &t["publish"];
            let mut publish = pb::PublishCertificate {
                cert_type: text(p, "cert_type"),
                number: text(p, "number"),
                subject_id: unhex(p, "subject_id"),
                issued_on: text(p, "issued_on"),
                expires_on: text(p, "expires_on"),
                metadata: p["metadata"]
                    .as_array()
                    .expect("metadata")
                    .iter()
                    .map(|m| pb::Attribute {
                        key: text(m, "key"),
                        value: text(m, "value"),
                    })
                    .collect(),
                content_hash: unhex(p, "content_hash"),
                issuer_signature: vec![],
                ciphertext: unhex(p, "ciphertext"),
                key_envelope: unhex(p, "key_envelope"),
                key_envelope_proof: unhex(p, "key_envelope_proof"),
            };
            publish.issuer_signature = key(&text(t, "key"))
                .sign(&certs::signing_bytes(chain_id, &publish))
                .to_bytes()
                .to_vec();
            pb::payload::Kind::Publish(publish)
        }
        Some("request") => pb::payload::Kind::Request(pb::RequestAccess {
            cert_id: text(&t["request"], "cert_id"),
            purpose: text(&t["request"], "purpose"),
        }),
        k => panic!("transaction kind {k:?}"),
    }
}

/// Decides `txs` as the next block at `time_ms`, built by `proposer` and decided by the
/// precommits of the fixture's three validators, as a BFT network decides it.
async fn decide(
    chain: &Arc<Chain>,
    chain_id: &str,
    txs: Vec<pb::SignedTx>,
    time_ms: u64,
    proposer: &str,
) -> (Vec<[u8; 32]>, Arc<govchain_consensus::CommittedBlock>) {
    let n = txs.len();
    let mut hashes = vec![];
    for (i, admitted) in chain.submit(txs, false).await.into_iter().enumerate() {
        let (hash, _) = admitted.unwrap_or_else(|e| panic!("transaction {i} refused: {e}"));
        hashes.push(hash);
    }
    let pending = chain.take_pending(n);
    assert_eq!(pending.len(), n);
    let height = chain.tip().header.height + 1;
    let built = chain
        .build_block(pending, time_ms, proposer, &key(proposer))
        .unwrap();
    let imported = chain
        .import(&govchain_types::encode(&built.block), None)
        .unwrap();
    let signatures = ["node1", "node2", "node3"]
        .map(|n| pb::CommitSignature {
            validator: n.into(),
            signature: key(n)
                .sign(&vote_bytes(
                    chain_id,
                    height,
                    0,
                    pb::VoteKind::Precommit,
                    &built.hash,
                    n,
                ))
                .to_bytes()
                .to_vec(),
        })
        .to_vec();
    let certificate = pb::CommitCertificate {
        height,
        round: 0,
        block_hash: built.hash.to_vec(),
        signatures,
    };
    let committed = chain.commit_decided(imported, certificate).unwrap();
    for (i, r) in committed.receipts.iter().enumerate() {
        assert_eq!(
            r.status,
            pb::TxStatus::Ok as i32,
            "transaction {i} fails: {r:?}"
        );
    }
    (hashes, committed)
}

/// Block 1: the three validators generate the custody key (2 of 3), each dealing from
/// its fixed custody key, then each reporting no complaint.
fn keygen_txs(g: &Genesis) -> Vec<pb::SignedTx> {
    use govchain_custody::keygen;
    let custody = |n: usize| key(&format!("custody{n}"));
    let holders: Vec<(u32, Vec<u8>)> = (1..=3u32)
        .map(|n| (n, custody(n as usize).public_key().to_sec1()))
        .collect();
    let step = |s| {
        pb::payload::Kind::Keygen(pb::CustodyKeygen {
            round: 1,
            step: Some(s),
        })
    };
    let mut steps = vec![];
    for n in 1..=3 {
        let d = keygen::deal(
            &custody(n),
            &g.chain_id,
            1,
            2,
            keygen::Dealt::Fresh,
            &holders,
        )
        .unwrap();
        steps.push((
            n,
            0,
            step(pb::custody_keygen::Step::Deal(pb::KeygenDeal {
                commitments: d.commitments,
                sub_shares: d.sub_shares,
            })),
        ));
    }
    for n in 1..=3 {
        steps.push((
            n,
            1,
            step(pb::custody_keygen::Step::Complaints(
                pb::KeygenComplaints::default(),
            )),
        ));
    }
    steps
        .into_iter()
        .map(|(n, nonce, payload)| {
            let body = govchain_types::encode(&pb::TxBody {
                chain_id: g.chain_id.clone(),
                sender: govchain_state::access::accounts::validator_account(&format!("node{n}")),
                operator: String::new(),
                nonce,
                expiry_height: 0,
                payload: Some(pb::Payload {
                    kind: Some(payload),
                }),
            });
            let k = key(&format!("node{n}"));
            pb::SignedTx {
                signature: k.sign(&body).to_bytes().to_vec(),
                signer_pubkey: k.public_key().to_sec1(),
                body,
            }
        })
        .collect()
}

#[tokio::test]
async fn chain_block_one() {
    let v = harness::vector("chain.block_one");
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let chain = open(dir.path(), &g);
    let time_ms = v.u64("time_ms");
    let (_, keygen) = decide(
        &chain,
        &g.chain_id,
        keygen_txs(&g),
        time_ms - 1_000,
        "node1",
    )
    .await;
    v.check("keygen.hash", keygen.sealed.hash);
    v.check(
        "keygen.key_set",
        govchain_state::custody::key_set(&govchain_state::Overlay::new(chain.store().clone()))
            .unwrap()
            .unwrap()
            .public_key_set,
    );
    let txs: Vec<pb::SignedTx> = v
        .input("txs")
        .as_array()
        .expect("txs")
        .iter()
        .map(|t| {
            let body = govchain_types::encode(&pb::TxBody {
                chain_id: g.chain_id.clone(),
                sender: text(t, "sender"),
                operator: String::new(),
                nonce: num(t, "nonce"),
                expiry_height: 0,
                payload: Some(pb::Payload {
                    kind: Some(payload(&g.chain_id, t)),
                }),
            });
            let k = key(&text(t, "key"));
            pb::SignedTx {
                signature: k.sign(&body).to_bytes().to_vec(),
                signer_pubkey: k.public_key().to_sec1(),
                body,
            }
        })
        .collect();
    let proposer = v.text("proposer").to_string();
    let (hashes, committed) = decide(&chain, &g.chain_id, txs, time_ms, &proposer).await;
    for (i, hash) in hashes.iter().enumerate() {
        v.check(&format!("tx_hash.{i}"), hash);
    }
    for (i, r) in committed.receipts.iter().enumerate() {
        v.check(&format!("receipt.{i}"), govchain_types::encode(r));
    }
    let sealed = &committed.sealed;
    v.check("header", &sealed.block.header);
    v.check("hash", sealed.hash);
    v.check("block", govchain_types::encode(&sealed.block));
    v.finish();

    // `govchain audit export` of every record: the file `audit.export_file` pins (and
    // that the proof crate verifies against the genesis fixture).
    let q = pb::AuditQuery::default();
    let export = audit::export(chain.store(), &g.chain_id, &q).unwrap();
    let file = audit::ExportFile::from_export(&export, &q).unwrap();
    let produced = serde_json::to_string_pretty(&file).unwrap();
    let pinned = harness::vector("audit.export_file").input("file");
    assert!(
        serde_json::to_value(&file).unwrap() == *pinned,
        "conformance vector 'audit.export_file': the export of block 2 differs from the pinned file; produced:\n{produced}"
    );
    assert_eq!(file.verify(&g.anchor()).unwrap(), 2);
}
