//! A commit certificate checks out with OpenSSL 3 from the validator keys alone, and a
//! precommit OpenSSL signs counts in one (docs/design/bft.md: an outside party needs
//! nothing of ours to check what decided a block).
//!
//! Requires `openssl` on `PATH`; FAILS (never skips) without it.

use std::path::Path;
use std::process::{Command, Output};

use govchain_crypto::{DEFAULT_DIST_ID, PrivateKey, Signature};
use govchain_proof::commit::{ValidatorSet, verify_commit, vote_bytes};
use govchain_types::pb;

const CHAIN: &str = "openssl-check";

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}): these checks need OpenSSL 3 on PATH")
        })
}

fn distid() -> String {
    format!("distid:{DEFAULT_DIST_ID}")
}

/// Whether OpenSSL accepts `sig` (raw r‖s) by `key`'s public key over `msg`.
fn openssl_verifies(dir: &Path, key: &PrivateKey, msg: &[u8], sig: &[u8]) -> bool {
    std::fs::write(dir.join("pub.pem"), key.public_key().to_spki_pem()).unwrap();
    std::fs::write(dir.join("msg"), msg).unwrap();
    let der = Signature::from_slice(sig).unwrap().to_der();
    std::fs::write(dir.join("sig"), der).unwrap();
    let d = distid();
    let out = openssl(
        dir,
        &[
            "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3",
            "-pkeyopt", &d, "-in", "msg", "-sigfile", "sig",
        ],
    );
    out.status.success()
}

/// OpenSSL's SM2 signature (raw r‖s) with `key` over `msg`.
fn openssl_sign(dir: &Path, key: &PrivateKey, msg: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("key.pem"), key.to_pkcs8_pem()).unwrap();
    std::fs::write(dir.join("msg"), msg).unwrap();
    let d = distid();
    let out = openssl(
        dir,
        &[
            "pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-digest", "sm3", "-pkeyopt", &d,
            "-in", "msg", "-out", "sig",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = std::fs::read(dir.join("sig")).unwrap();
    Signature::from_der(&der).unwrap().to_bytes().to_vec()
}

#[test]
fn a_commit_certificate_checks_out_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<(String, PrivateKey)> = (1..=4)
        .map(|i| (format!("node{i}"), PrivateKey::generate()))
        .collect();
    let set = ValidatorSet::new(keys.iter().map(|(id, k)| (id.clone(), k.public_key()))).unwrap();
    let (height, round, hash) = (12, 0, [0x5a; 32]);
    let mut cert = pb::CommitCertificate {
        height,
        round,
        block_hash: hash.to_vec(),
        signatures: vec![],
    };
    for (id, key) in &keys[1..] {
        let bytes = vote_bytes(CHAIN, height, round, pb::VoteKind::Precommit, &hash, id);
        // node4's precommit is OpenSSL's; the others are ours, checked by OpenSSL.
        let signature = if id == "node4" {
            openssl_sign(dir.path(), key, &bytes)
        } else {
            let s = key.sign(&bytes).to_bytes().to_vec();
            assert!(openssl_verifies(dir.path(), key, &bytes, &s), "{id}");
            s
        };
        cert.signatures.push(pb::CommitSignature {
            validator: id.clone(),
            signature,
        });
    }
    assert_eq!(verify_commit(CHAIN, &set, height, &hash, &cert), Ok(3));
    // The same precommit does not check out for another block, in OpenSSL either.
    let (id, key) = &keys[1];
    let other = vote_bytes(
        CHAIN,
        height,
        round,
        pb::VoteKind::Precommit,
        &[0x5b; 32],
        id,
    );
    assert!(!openssl_verifies(
        dir.path(),
        key,
        &other,
        &cert.signatures[0].signature
    ));
}
