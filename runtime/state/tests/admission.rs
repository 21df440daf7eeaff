//! Admission in batches: each transaction gets the verdict it gets alone, whatever its
//! neighbours' signatures are.

use govchain_crypto::{PrivateKey, sm3};
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_types::{Coded, ErrorCode, pb};

/// `dept`'s transaction with its next nonce, signed with its key.
fn signed(chain: &mut LocalChain, dept: &str, kind: pb::payload::Kind) -> pb::SignedTx {
    let mut tx = chain.tx(dept, kind).tx;
    tx.signature = chain.key(dept).sign(&tx.body).to_bytes().to_vec();
    tx
}

/// The 'nanjing' departments' chain, in memory.
fn nanjing() -> LocalChain {
    LocalChain::nanjing(
        govchain_store::Store::in_memory().unwrap(),
        1_795_392_000_000,
        [9; 32],
        nanjing_access(),
    )
    .unwrap()
}

/// Signs `p` as its issuer does, over its signing bytes on chain `chain_id`.
fn sign_as_issuer(p: &mut pb::PublishCertificate, chain_id: &str, issuer: &PrivateKey) {
    p.issuer_signature = issuer
        .sign(&govchain_state::certs::signing_bytes(chain_id, p))
        .to_bytes()
        .to_vec();
}

fn request(cert_id: &str) -> pb::payload::Kind {
    pb::payload::Kind::Request(pb::RequestAccess {
        cert_id: cert_id.into(),
        purpose: "housing_eligibility".into(),
    })
}

/// Found by the `admission` fuzz target (`fuzz/regressions/admission/
/// check-batch-admits-forged`): a publish carries two signatures (its body's and its
/// issuer's). When its body signature failed, the batch's verdict of its issuer
/// signature was left behind and became the next transaction's, so a transaction signed
/// over other bytes was admitted, and the valid one after it refused.
#[test]
fn a_failed_signature_does_not_pass_its_verdicts_to_the_next_transaction() {
    let mut chain = nanjing();
    let admission = chain.executor.admission().unwrap();
    // A publish whose issuer signature is valid and whose body signature is not.
    let issuer = chain.key("real-estate").clone();
    let mut p = pb::PublishCertificate {
        cert_type: "property".into(),
        number: "NJ-FORGE-1".into(),
        subject_id: sm3(b"someone").to_vec(),
        issued_on: "2024-05-01".into(),
        metadata: vec![
            pb::Attribute {
                key: "district".into(),
                value: "鼓楼区".into(),
            },
            pb::Attribute {
                key: "usage".into(),
                value: "住宅".into(),
            },
        ],
        content_hash: sm3(b"document").to_vec(),
        ciphertext: vec![0; 64],
        ..Default::default()
    };
    (p.key_envelope, p.key_envelope_proof) = chain.envelope("property", "NJ-FORGE-1", &[7; 16]);
    sign_as_issuer(&mut p, admission.chain_id(), &issuer);
    let mut publish = signed(&mut chain, "real-estate", pb::payload::Kind::Publish(p));
    publish.signature[10] ^= 1;
    // Housing's request, signed by housing's key over other bytes.
    let mut forged = signed(&mut chain, "housing", request("c1"));
    forged.signature = chain
        .key("housing")
        .sign(b"other bytes")
        .to_bytes()
        .to_vec();
    let valid = signed(&mut chain, "bank", request("c2"));

    let alone: Vec<_> = [&publish, &forged, &valid]
        .iter()
        .map(|t| {
            admission
                .check((*t).clone(), 1)
                .map(|v| v.hash)
                .map_err(|e| e.code())
        })
        .collect();
    assert_eq!(
        alone,
        [
            Err(ErrorCode::BadSignature),
            Err(ErrorCode::BadSignature),
            Ok(sm3(&valid.body))
        ]
    );
    let batch: Vec<_> = admission
        .check_batch(vec![publish.clone(), forged.clone(), valid.clone()], 1)
        .into_iter()
        .map(|r| r.map(|v| v.hash).map_err(|e| e.code()))
        .collect();
    assert_eq!(batch, alone, "a verdict changed in a batch");
    let batch: Vec<_> = admission
        .verify_batch(vec![publish, forged, valid])
        .into_iter()
        .map(|r| r.map(|v| v.hash).map_err(|e| e.code()))
        .collect();
    assert_eq!(batch, alone, "a verdict changed in a verify batch");
}

/// A certificate's key envelope must come with its publisher's proof, made for that very
/// certificate: an envelope copied from another certificate (or a re-randomised one,
/// whose proof no one can make) would get shares that open another issuer's key.
#[test]
fn an_envelope_without_its_publishers_proof_for_this_certificate_is_refused() {
    let mut chain = nanjing();
    let admission = chain.executor.admission().unwrap();
    let issuer = chain.key("real-estate").clone();
    let publish = |chain: &mut LocalChain, envelope: (Vec<u8>, Vec<u8>)| {
        let mut p = pb::PublishCertificate {
            cert_type: "property".into(),
            number: "NJ-1".into(),
            subject_id: sm3(b"someone").to_vec(),
            issued_on: "2024-05-01".into(),
            content_hash: sm3(b"document").to_vec(),
            ciphertext: vec![0; 64],
            key_envelope: envelope.0,
            key_envelope_proof: envelope.1,
            ..Default::default()
        };
        sign_as_issuer(&mut p, admission.chain_id(), &issuer);
        let tx = signed(chain, "real-estate", pb::payload::Kind::Publish(p));
        admission
            .check(tx, 1)
            .map(|_| ())
            .map_err(|e| (e.code(), e.to_string()))
    };
    let own = chain.envelope("property", "NJ-1", &[7; 16]);
    let (env, proof) = own.clone();
    let others = chain.envelope("property", "NJ-2", &[7; 16]);
    let cases = [
        ("no proof", (env.clone(), vec![])),
        (
            "another certificate's proof",
            (env.clone(), others.1.clone()),
        ),
        ("another certificate's envelope", (others.0, proof.clone())),
        (
            "a flipped proof bit",
            (env, {
                let mut p = proof;
                p[5] ^= 1;
                p
            }),
        ),
    ];
    for (what, envelope) in cases {
        let (code, message) = publish(&mut chain, envelope).unwrap_err();
        assert_eq!(code, ErrorCode::InvalidArgument, "{what}: {message}");
        assert!(message.contains("key_envelope"), "{what}: {message}");
    }
    publish(&mut chain, own).unwrap();
}
