//! Conformance vectors of what a verifier outside the node computes
//! (`conformance/vectors.json`, `checked_by` = this file): subject ids, signed-read
//! bytes, an audit export file made by the current node, and the bytes of consensus
//! votes, proposals and validator sets with a commit certificate.

#[path = "../../../conformance/harness.rs"]
mod harness;

use govchain_crypto::PrivateKey;
use govchain_proof::commit::{ValidatorSet, proposal_bytes, verify_commit, vote_bytes};
use govchain_proof::{ExportFile, TrustAnchor, signed_read, subject_id};
use govchain_types::pb;

const FILE: &str = "runtime/proof/tests/conformance.rs";

/// The fixed key `name` of the vector file.
fn key(name: &str) -> PrivateKey {
    PrivateKey::from_pkcs8_pem(&harness::key_pem(name))
        .unwrap_or_else(|e| panic!("fixed key '{name}': {e}"))
}

#[test]
fn every_vector_of_this_file_is_checked() {
    harness::assert_file_covered(
        FILE,
        &[
            "subject.id",
            "signed_read.bytes",
            "audit.export_file",
            "commit.certificate",
        ],
    );
}

#[test]
fn subject_ids() {
    let v = harness::vector("subject.id");
    let salt = v.bytes("salt");
    for (i, id) in v
        .input("national_ids")
        .as_array()
        .expect("ids")
        .iter()
        .enumerate()
    {
        let id = id.as_str().expect("text");
        let subject = subject_id(&salt, id).unwrap_or_else(|e| panic!("{id}: {e}"));
        v.check(&format!("subject_id.{i}"), subject);
    }
    v.check("salt_commitment", govchain_proof::salt_commitment(&salt));
    v.finish();
}

#[test]
fn signed_read_bytes() {
    let v = harness::vector("signed_read.bytes");
    let nonce = v.bytes("nonce");
    let to = signed_read::ReadTo {
        chain_id: v.text("chain_id"),
        audience: v.text("audience"),
        path: v.text("path"),
        time_ms: v.u64("time_ms"),
        nonce: &nonce,
    };
    let bytes = signed_read::signing_bytes(&to, &v.bytes("request"));
    v.check("signing_bytes", &bytes);
    let k = key(v.text("key"));
    let sig = k.sign(&bytes);
    v.check("signature", sig.to_bytes());
    k.public_key().verify(&bytes, &sig).unwrap();
    v.finish();
}

#[test]
fn audit_export_file() {
    let v = harness::vector("audit.export_file");
    let anchor = TrustAnchor::from_genesis_json(&harness::genesis_json()).unwrap();
    let file: ExportFile = serde_json::from_value(v.input("file").clone())
        .expect("the export file reads as an ExportFile");
    let checked = file.verify(&anchor).unwrap_or_else(|e| {
        panic!("conformance vector 'audit.export_file' no longer verifies: {e}")
    });
    v.check_text("records_verified", &checked.to_string());
    // Each record's leaf is SM3(0x00 || encoding): a changed byte fails the proof.
    let mut tampered = file.clone();
    let mut bytes = hex::decode(&tampered.records[0].encoded).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    tampered.records[0].encoded = hex::encode(bytes);
    assert!(tampered.verify(&anchor).is_err());
    v.finish();
}

#[test]
fn commit_certificate() {
    let v = harness::vector("commit.certificate");
    let (chain, height, hash) = (v.text("chain_id"), v.u64("height"), v.bytes("block_hash"));
    let round = v.u64("round") as u32;
    let names = ["node1", "node2", "node3"];
    let set = ValidatorSet::new(names.map(|n| (n.to_string(), key(n).public_key()))).unwrap();
    v.check("validator_set", govchain_types::encode(&set.to_pb()));
    v.check("validators_hash", set.hash());
    v.check(
        "proposal_bytes",
        proposal_bytes(chain, height, round, None, &hash, "node1"),
    );
    let mut cert = pb::CommitCertificate {
        height,
        round,
        block_hash: hash.clone(),
        signatures: vec![],
    };
    for n in names {
        let bytes = vote_bytes(chain, height, round, pb::VoteKind::Precommit, &hash, n);
        let signature = key(n).sign(&bytes).to_bytes().to_vec();
        if n == "node1" {
            v.check("precommit_bytes.node1", &bytes);
            v.check("precommit_signature.node1", &signature);
        }
        cert.signatures.push(pb::CommitSignature {
            validator: n.into(),
            signature,
        });
    }
    v.check("certificate", govchain_types::encode(&cert));
    assert_eq!(verify_commit(chain, &set, height, &hash, &cert), Ok(3));
    cert.signatures.truncate(2);
    assert!(verify_commit(chain, &set, height, &hash, &cert).is_err());
    v.finish();
}
