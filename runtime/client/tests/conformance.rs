//! Conformance vectors of what a department's client computes (`conformance/vectors.json`,
//! `checked_by` = this file): its signed transactions, the issuer's sealing of a
//! certificate, and the requester's opening of released shares and documents.

#[path = "../../../conformance/harness.rs"]
mod harness;
use harness::{text, unhex};

use govchain_client::seal::seal_certificate;
use govchain_client::shares::{open_document, verify_shares};
use govchain_client::{Entropy, Signer};
use govchain_crypto::PrivateKey;
use govchain_crypto::threshold::DecryptionShare;
use govchain_custody::{Envelope, KeySet, SecretShare, release_context};
use govchain_proof::certificate::cert_id;
use govchain_types::pb;
use serde_json::Value;

const FILE: &str = "runtime/client/tests/conformance.rs";

/// The fixed key `name` of the vector file.
fn key(name: &str) -> PrivateKey {
    PrivateKey::from_pkcs8_pem(&harness::key_pem(name))
        .unwrap_or_else(|e| panic!("fixed key '{name}': {e}"))
}

/// The custody fixture: key set, envelope, and the opened decryption share of each of
/// `numbers`, released to `to` for request 2 on the fixture's chain.
fn custody(numbers: &[u32], to: &PrivateKey) -> (KeySet, Envelope, Vec<DecryptionShare>) {
    let c = harness::fixture("custody");
    let set = KeySet::from_bytes(&unhex(c, "key_set")).unwrap();
    let envelope = Envelope::parse(&unhex(c, "envelope")).unwrap();
    let recipient = to.public_key().to_sec1();
    let context = release_context("conformance", 2);
    let shares = numbers
        .iter()
        .map(|n| {
            let secret = unhex(&c["shares"], &n.to_string());
            let share = SecretShare::from_bytes(*n, &secret).unwrap();
            let released = share
                .release(&envelope, &recipient, &context, &[0; 32])
                .unwrap();
            set.verify_share(*n, &released, &envelope, &recipient, &context)
                .unwrap()
                .open(to)
        })
        .collect();
    (set, envelope, shares)
}

fn publish(p: &Value) -> pb::PublishCertificate {
    pb::PublishCertificate {
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
        ..Default::default()
    }
}

#[test]
fn every_vector_of_this_file_is_checked() {
    harness::assert_file_covered(
        FILE,
        &[
            "tx.signed",
            "cert.seal_certificate",
            "cert.document_open",
            "custody.share_open",
        ],
    );
}

#[test]
fn tx_signed() {
    let v = harness::vector("tx.signed");
    let signer = Signer::operator(v.text("sender"), v.text("operator"), key(v.text("key")));
    let a = v.input("anchor");
    let tx = signer.sign(
        v.text("chain_id"),
        v.u64("nonce"),
        pb::payload::Kind::Anchor(pb::Anchor {
            key: text(a, "key"),
            digest: unhex(a, "digest"),
            note: text(a, "note"),
        }),
    );
    v.check("body", &tx.body);
    v.check("tx_hash", govchain_crypto::sm3(&tx.body));
    v.check("signature", &tx.signature);
    v.check("signed_tx", govchain_types::encode(&tx));
    v.finish();
}

#[test]
fn cert_seal_certificate() {
    let v = harness::vector("cert.seal_certificate");
    let reader = key("bank");
    let (set, _, _) = custody(&[], &reader);
    let doc = v.text("document").as_bytes();
    let issuer = key(v.text("issuer_key"));
    let p = seal_certificate(
        v.text("chain_id"),
        &set,
        &issuer,
        publish(v.input("publish")),
        doc,
        &Entropy::Os,
    );
    // The data key, nonce and envelope are fresh each time, and so the content hash
    // keyed by that data key; the issuer's signature binds them to the certificate.
    let signed = govchain_crypto::Signature::from_slice(&p.issuer_signature).is_ok_and(|sig| {
        issuer
            .public_key()
            .verify(
                &govchain_proof::certificate::signing_bytes(v.text("chain_id"), &p),
                &sig,
            )
            .is_ok()
    });
    v.check_text(
        "issuer_signature",
        if signed {
            "verifies"
        } else {
            "does not verify"
        },
    );
    // The envelope's proof is made for this certificate on this chain.
    let envelope = Envelope::parse(&p.key_envelope).unwrap();
    let id = cert_id(&p.cert_type, &p.number);
    envelope
        .verify_proof(
            &p.key_envelope_proof,
            &govchain_custody::envelope_context(v.text("chain_id"), &id),
        )
        .unwrap();
    // The document opens with two custody shares, bound to its certificate id.
    let c = harness::fixture("custody");
    let to = reader.public_key().to_sec1();
    let context = release_context(v.text("chain_id"), 1);
    let good: Vec<DecryptionShare> = [1u32, 3]
        .iter()
        .map(|n| {
            let share = SecretShare::from_bytes(*n, &unhex(&c["shares"], &n.to_string()));
            let released = share
                .unwrap()
                .release(&envelope, &to, &context, &[0; 32])
                .unwrap();
            set.verify_share(*n, &released, &envelope, &to, &context)
                .unwrap()
                .open(&reader)
        })
        .collect();
    let mut cert = pb::Certificate {
        id: cert_id(&p.cert_type, &p.number),
        content_hash: p.content_hash.clone(),
        ciphertext: p.ciphertext.clone(),
        ..Default::default()
    };
    assert_eq!(*open_document(&set, &good, &envelope, &cert).unwrap(), doc);
    cert.id = cert_id(&p.cert_type, "another number");
    assert!(open_document(&set, &good, &envelope, &cert).is_err());
    v.finish();
}

#[test]
fn cert_document_open() {
    let v = harness::vector("cert.document_open");
    let (set, envelope, good) = custody(&[2, 3], &key("bank"));
    let cert = pb::Certificate {
        id: cert_id(v.text("cert_type"), v.text("number")),
        content_hash: v.bytes("content_hash"),
        ciphertext: v.bytes("ciphertext"),
        ..Default::default()
    };
    let doc = open_document(&set, &good, &envelope, &cert)
        .unwrap_or_else(|e| panic!("conformance vector 'cert.document_open': {e:#}"));
    v.check("document", &doc);
    v.finish();
}

#[test]
fn custody_share_open() {
    let v = harness::vector("custody.share_open");
    let requester = v.text("requester");
    let (set, envelope, mut good) = custody(&[1], &key(requester));
    let r = v.input("release");
    let release = pb::ReleasedShare {
        request: r["request"].as_u64().unwrap(),
        share: r["share"].as_u64().unwrap() as u32,
        validator: text(r, "validator"),
        encrypted_share: unhex(r, "encrypted_share"),
        height: r["height"].as_u64().unwrap(),
        tx_hash: unhex(r, "tx_hash"),
        key_round: 0,
    };
    let request = pb::AccessRequest {
        seq: release.request,
        requester: requester.into(),
        requester_key: key(requester).public_key().to_sec1(),
        ..Default::default()
    };
    let (views, opened) = verify_shares(
        &set,
        v.text("chain_id"),
        &envelope,
        &request,
        &[release],
        &key(requester),
        requester,
    );
    v.check_text("status", &views[0].status);
    assert_eq!(opened.len(), 1, "the released share verifies and opens");
    good.extend(opened);
    v.check("data_key", set.combine(&good, &envelope).unwrap());
    v.finish();
}
