//! Conformance vector of threshold custody (`conformance/vectors.json`, `checked_by` =
//! this file): a fixed key set, its secret shares and an envelope with its publisher's
//! proof must keep verifying, giving the same public key shares, the same releases for
//! the same randomness, and opening to the same data key, or certificates already on
//! chain could no longer be opened.

#[path = "../../../conformance/harness.rs"]
mod harness;

use govchain_crypto::PrivateKey;
use govchain_custody::{
    Envelope, KeySet, SecretShare, envelope_context, release_context, verify_share,
};

const FILE: &str = "runtime/custody/tests/conformance.rs";

#[test]
fn every_vector_of_this_file_is_checked() {
    harness::assert_file_covered(FILE, &["custody.threshold_key"]);
}

#[test]
fn custody_threshold_key() {
    let v = harness::vector("custody.threshold_key");
    let c = harness::fixture("custody");
    let unhex = |x: &serde_json::Value| hex::decode(x.as_str().expect("hex text")).unwrap();
    let set = KeySet::from_bytes(&unhex(&c["key_set"])).expect("the key set decodes");
    assert_eq!(set.threshold() as u64, c["threshold"].as_u64().unwrap());
    v.check("public_key", set.public_key());
    let envelope = Envelope::parse(&unhex(&c["envelope"])).expect("the envelope is valid");
    envelope
        .verify_proof(
            &unhex(&c["envelope_proof"]),
            &envelope_context(v.text("chain_id"), v.text("cert_id")),
        )
        .expect("the publisher's proof verifies");
    v.check("envelope_tag", envelope.tag());
    let requester = PrivateKey::from_pkcs8_pem(&harness::key_pem(v.text("requester")))
        .expect("the requester's key");
    let to = requester.public_key().to_sec1();
    let context = release_context(v.text("chain_id"), v.u64("request"));
    let mut opened = Vec::new();
    for (number, secret) in c["shares"].as_object().expect("shares") {
        let number: u32 = number.parse().expect("a share number");
        let share = SecretShare::from_bytes(number, &unhex(secret)).expect("the share decodes");
        let public = set.public_key_share(number).unwrap();
        assert_eq!(share.public_key_share(), public);
        v.check(&format!("public_key_share.{number}"), public);
        let released = share
            .release(&envelope, &to, &context, &[number as u8; 32])
            .unwrap();
        v.check(&format!("release.{number}"), &released);
        let verified = verify_share(&public, number, &released, &envelope, &to, &context)
            .expect("the release verifies");
        opened.push(verified.open(&requester));
    }
    for pair in [[0, 1], [1, 2], [0, 2]] {
        let two = [opened[pair[0]].clone(), opened[pair[1]].clone()];
        let key = set.combine(&two, &envelope).expect("two shares combine");
        v.check(&format!("data_key.{}+{}", pair[0] + 1, pair[1] + 1), key);
    }
    v.finish();
}
