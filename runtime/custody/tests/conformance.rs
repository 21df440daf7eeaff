//! Conformance vector of threshold custody (`conformance/vectors.json`, `checked_by` =
//! this file): a fixed key set, its secret shares and an envelope made by the current
//! code must keep giving the same decryption shares and opening to the same data key,
//! or certificates already on chain could no longer be opened.

#[path = "../../../conformance/harness.rs"]
mod harness;

use govchain_custody::{Envelope, KeySet, SecretShare};

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
    let envelope_bytes = unhex(&c["envelope"]);
    let envelope = Envelope::parse(&envelope_bytes).expect("the envelope is valid");
    v.check("envelope_tag", Envelope::tag(&envelope_bytes));
    let mut verified = Vec::new();
    for (number, secret) in c["shares"].as_object().expect("shares") {
        let number: u32 = number.parse().expect("a share number");
        let share = SecretShare::from_bytes(number, &unhex(secret)).expect("the share decodes");
        assert_eq!(share.public_key_share(), set.public_key_share(number));
        v.check(
            &format!("public_key_share.{number}"),
            set.public_key_share(number),
        );
        let d = share.decryption_share(&envelope);
        v.check(&format!("decryption_share.{number}"), d);
        verified.push(
            set.verify_share(number, &d, &envelope)
                .expect("the share verifies"),
        );
    }
    for pair in [[0, 1], [1, 2], [0, 2]] {
        let two = [verified[pair[0]].clone(), verified[pair[1]].clone()];
        let key = set.combine(&two, &envelope).expect("two shares combine");
        v.check(&format!("data_key.{}+{}", pair[0] + 1, pair[1] + 1), key);
    }
    v.finish();
}
