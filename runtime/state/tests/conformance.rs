//! Conformance vectors of the state machine's signed and hashed encodings
//! (`conformance/vectors.json`, `checked_by` = this file): certificate ids, content
//! hashes and signing bytes, the compute result digest, the state root step, audit record encodings and roots, the genesis hash and genesis state root.

#[path = "../../../conformance/harness.rs"]
mod harness;
use harness::{num, text, unhex};

use std::sync::Arc;

use govchain_crypto::PrivateKey;
use govchain_state::access::audit;
use govchain_state::executor::next_state_root;
use govchain_state::{Executor, Genesis, StateWrites, certs, compute};
use govchain_types::pb;
use serde_json::Value;

const FILE: &str = "runtime/state/tests/conformance.rs";

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
            "cert.id",
            "cert.content_hash",
            "cert.signing_bytes",
            "compute.result_digest",
            "state.root_step",
            "audit.block_entries",
            "genesis.hash",
            "genesis.state_root",
        ],
    );
}

#[test]
fn cert_id() {
    let v = harness::vector("cert.id");
    v.check_text(
        "cert_id",
        &certs::cert_id(v.text("cert_type"), v.text("number")),
    );
    v.finish();
}

#[test]
fn cert_content_hash() {
    let v = harness::vector("cert.content_hash");
    v.check(
        "content_hash",
        certs::content_hash(&v.bytes("data_key"), v.text("document").as_bytes()),
    );
    v.finish();
}

#[test]
fn cert_signing_bytes() {
    let v = harness::vector("cert.signing_bytes");
    let p = v.input("publish");
    let publish = pb::PublishCertificate {
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
        issuer_signature: unhex(p, "issuer_signature"),
        ciphertext: unhex(p, "ciphertext"),
        key_envelope: unhex(p, "key_envelope"),
        key_envelope_proof: vec![],
    };
    let bytes = certs::signing_bytes(v.text("chain_id"), &publish);
    v.check("signing_bytes", &bytes);
    let issuer = key(v.text("issuer_key"));
    let sig = issuer.sign(&bytes);
    v.check("issuer_signature", sig.to_bytes());
    issuer.public_key().verify(&bytes, &sig).unwrap();
    v.finish();
}

#[test]
fn compute_result_digest() {
    let v = harness::vector("compute.result_digest");
    let r = v.input("result");
    let result = pb::ComputeResult {
        request: num(r, "request"),
        output: unhex(r, "output"),
        failed: r["failed"].as_bool().expect("failed"),
        gas_used: num(r, "gas_used"),
        input_hash: unhex(r, "input_hash"),
        code_hash: unhex(r, "code_hash"),
        signature: unhex(r, "signature"),
        output_hash: unhex(r, "output_hash"),
        state_height: num(r, "state_height"),
    };
    let digest = compute::result_digest(v.text("chain_id"), &result);
    v.check("digest", digest);
    // The executor signs the 32-byte digest as its message.
    let executor = key(v.text("executor_key"));
    let sig = executor.sign(&digest);
    v.check("executor_signature", sig.to_bytes());
    executor.public_key().verify(&digest, &sig).unwrap();
    v.finish();
}

#[test]
fn state_root_step() {
    let v = harness::vector("state.root_step");
    let writes: StateWrites = v
        .input("writes")
        .as_array()
        .expect("writes")
        .iter()
        .map(|w| {
            let value = (!w["value"].is_null()).then(|| unhex(w, "value"));
            (unhex(w, "key"), value)
        })
        .collect();
    let root = next_state_root(&v.array("prev_root"), &writes);
    v.check("root", root);
    v.check(
        "root_after_empty_block",
        next_state_root(&root, &StateWrites::new()),
    );
    v.finish();
}

fn audit_record(r: &Value) -> pb::AuditRecord {
    pb::AuditRecord {
        seq: num(r, "seq"),
        height: num(r, "height"),
        tx_hash: unhex(r, "tx_hash"),
        time_ms: num(r, "time_ms"),
        requester: text(r, "requester"),
        operator: text(r, "operator"),
        owner: text(r, "owner"),
        subject_id: unhex(r, "subject_id"),
        cert_id: text(r, "cert_id"),
        cert_type: text(r, "cert_type"),
        purpose: text(r, "purpose"),
        decision: match r["decision"].as_str() {
            Some("allow") => pb::Decision::Allow as i32,
            Some("deny") => pb::Decision::Deny as i32,
            d => panic!("decision {d:?}"),
        },
        reason: text(r, "reason"),
        points: num(r, "points"),
        via: text(r, "via"),
        block_index: num(r, "block_index") as u32,
        grant_id: num(r, "grant_id"),
        action: pb::AuditAction::from_str_name(r["action"].as_str().expect("action"))
            .expect("an AuditAction name") as i32,
        request: num(r, "request"),
    }
}

#[test]
fn audit_block_entries() {
    let v = harness::vector("audit.block_entries");
    let records: Vec<pb::AuditRecord> = v
        .input("records")
        .as_array()
        .expect("records")
        .iter()
        .map(audit_record)
        .collect();
    let (root, index) = audit::block_entries(v.u64("height"), &records);
    v.check("audit_root", root);
    for (i, r) in records.iter().enumerate() {
        let encoded = govchain_types::encode(r);
        v.check(&format!("record.{i}"), &encoded);
        // The store keeps exactly these bytes; exports and proofs hand them out.
        assert!(index.iter().any(|(_, value)| *value == encoded));
    }
    v.finish();
}

fn genesis() -> Genesis {
    Genesis::from_json(&harness::genesis_json()).expect("the genesis fixture is valid")
}

#[test]
fn genesis_hash() {
    let v = harness::vector("genesis.hash");
    v.check("hash", genesis().hash());
    v.finish();
}

#[test]
fn genesis_state_root() {
    let v = harness::vector("genesis.state_root");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(govchain_store::Store::open(dir.path(), false).unwrap());
    let exec = Executor::new(store)
        .unwrap()
        .execute_genesis(&genesis())
        .unwrap();
    v.check("state_root", exec.state_root);
    v.check("tx_root", exec.tx_root);
    v.check("receipts_root", exec.receipts_root);
    v.check("audit_root", exec.audit_root);
    v.finish();
}
