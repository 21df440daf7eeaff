//! Conformance vectors of what a verifier outside the node computes
//! (`conformance/vectors.json`, `checked_by` = this file): subject ids, signed-read
//! bytes and an audit export file made by the current node.

#[path = "../../../conformance/harness.rs"]
mod harness;

use govchain_crypto::PrivateKey;
use govchain_proof::{ExportFile, TrustAnchor, signed_read, subject_id};

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
        &["subject.id", "signed_read.bytes", "audit.export_file"],
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
    v.finish();
}

#[test]
fn signed_read_bytes() {
    let v = harness::vector("signed_read.bytes");
    let bytes = signed_read::signing_bytes(
        v.text("chain_id"),
        v.text("path"),
        v.u64("time_ms"),
        &v.bytes("request"),
    );
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
