//! Conformance vectors of the primitives every signed or hashed encoding is built on
//! (`conformance/vectors.json`, `checked_by` = this file): the fixed keys,
//! an SM2 signature, the RFC 9162 Merkle tree with SM3 and the SM4-GCM sealed layout.

#[path = "../../../conformance/harness.rs"]
mod harness;

use govchain_crypto::fastverify::PreparedKey;
use govchain_crypto::merkle::{self, MerkleTree};
use govchain_crypto::sm4gcm::{self, DataKey};
use govchain_crypto::{PrivateKey, PublicKey, verify_sec1};

const FILE: &str = "runtime/crypto/tests/conformance.rs";

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
            "sm2.fixed_keys",
            "sm2.signature",
            "merkle.sm3",
            "sm4gcm.sealed",
        ],
    );
}

#[test]
fn sm2_fixed_keys() {
    let v = harness::vector("sm2.fixed_keys");
    for name in harness::key_names() {
        let public = key(name).public_key();
        v.check(&format!("{name}.public_sec1"), public.to_sec1());
        v.check_text(&format!("{name}.fingerprint"), &public.fingerprint());
    }
    v.finish();
}

#[test]
fn sm2_signature() {
    let v = harness::vector("sm2.signature");
    let k = key(v.text("key"));
    let msg = v.text("message").as_bytes();
    let sig = k.sign(msg);
    v.check("signature", sig.to_bytes());
    // It verifies through every verifier the node has.
    let public: PublicKey = k.public_key();
    public.verify(msg, &sig).expect("generic verification");
    verify_sec1(&public.to_sec1(), msg, &sig.to_bytes()).expect("verify_sec1 (contracts)");
    PreparedKey::new(&public)
        .verify(msg, &sig)
        .expect("prepared-table verification (admission)");
    assert!(public.verify(b"another message", &sig).is_err());
    v.finish();
}

#[test]
fn merkle_sm3() {
    let v = harness::vector("merkle.sm3");
    let leaves: Vec<&str> = v
        .input("leaves")
        .as_array()
        .expect("leaves")
        .iter()
        .map(|l| l.as_str().expect("a leaf is text"))
        .collect();
    let a = merkle::leaf_hash(leaves[0].as_bytes());
    let b = merkle::leaf_hash(leaves[1].as_bytes());
    v.check("leaf_hash.0", a);
    v.check("node_hash.0_1", merkle::node_hash(&a, &b));
    for n in [0, 1, 2, 3, 5] {
        v.check(&format!("root.{n}"), merkle::root(&leaves[..n]));
    }
    let tree = MerkleTree::new(&leaves);
    assert_eq!(tree.root(), merkle::root(&leaves));
    let index = v.u64("proof_leaf") as usize;
    let proof = tree.proof(index).expect("leaf in the tree");
    v.check("proof.path", proof.path.concat());
    merkle::verify_inclusion(&tree.root(), leaves[index].as_bytes(), &proof)
        .expect("the proof verifies");
    v.finish();
}

#[test]
fn sm4gcm_sealed() {
    let v = harness::vector("sm4gcm.sealed");
    let key = DataKey::from_bytes(&v.bytes("key")).unwrap();
    let aad = v.text("aad").as_bytes();
    let plaintext = v.text("plaintext").as_bytes();
    let sealed = sm4gcm::seal_with_nonce(&key, &v.array("nonce"), plaintext, aad);
    v.check("sealed", &sealed);
    assert_eq!(sm4gcm::open(&key, &sealed, aad).unwrap(), plaintext);
    assert!(sm4gcm::open(&key, &sealed, b"other aad").is_err());
    v.finish();
}
