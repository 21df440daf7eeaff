//! Cross-checks against the `openssl` command-line tool (OpenSSL 3).
//!
//! These tests require `openssl` on `PATH` and FAIL (never skip) without it.

use std::path::Path;
use std::process::{Command, Output};

use govchain_crypto::{CryptoError, DEFAULT_DIST_ID, PrivateKey, PublicKey, Signature};
use tempfile::TempDir;

/// Run `openssl args...` in `dir`, returning its output whatever the exit
/// status. Panics with an explanation if the binary cannot be started.
fn run_openssl(dir: &Path, args: &[&str]) -> Output {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run the `openssl` binary ({e}); these interoperability tests need \
             OpenSSL 3 on PATH (Debian: apt-get install -y openssl)"
        ),
    }
}

/// Run `openssl args...` in `dir` and require success; returns stdout.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = run_openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn tempdir() -> TempDir {
    let dir = tempfile::tempdir().expect("create temp dir");
    let version = String::from_utf8(openssl(dir.path(), &["version"])).unwrap();
    assert!(
        version.starts_with("OpenSSL 3."),
        "these tests need OpenSSL 3 (SM2 with distid, SM3), found: {version}"
    );
    dir
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn read_string(dir: &Path, name: &str) -> String {
    String::from_utf8(read(dir, name)).unwrap()
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), data).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

fn distid_opt() -> String {
    format!("distid:{DEFAULT_DIST_ID}")
}

/// `openssl pkeyutl -verify` of `sig_file` over `msg_file` with `pub_file`.
fn openssl_verify(dir: &Path, pub_file: &str, msg_file: &str, sig_file: &str) -> Output {
    let distid = distid_opt();
    run_openssl(
        dir,
        &[
            "pkeyutl", "-verify", "-pubin", "-inkey", pub_file, "-rawin", "-digest", "sm3",
            "-pkeyopt", &distid, "-in", msg_file, "-sigfile", sig_file,
        ],
    )
}

fn messages() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"abc".to_vec(),
        b"{\"from\":\"dept-1\",\"to\":\"dept-2\",\"amount\":100}".to_vec(),
        (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect(),
    ]
}

#[test]
fn openssl_generated_key_loads() {
    let dir = tempdir();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "SM2", "-out", "key.pem"]);
    openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);

    let key = PrivateKey::from_pkcs8_pem(&read_string(d, "key.pem")).unwrap();
    let public = PublicKey::from_spki_pem(&read_string(d, "pub.pem")).unwrap();
    assert_eq!(key.public_key(), public);
    // Our SPKI encoding is byte-identical to OpenSSL's.
    assert_eq!(public.to_spki_pem(), read_string(d, "pub.pem"));

    // The SEC1 form OpenSSL writes for SM2 keys ("SM2 PRIVATE KEY").
    openssl(d, &["ec", "-in", "key.pem", "-out", "sec1.pem"]);
    let sec1 = PrivateKey::from_pem_any(&read_string(d, "sec1.pem"), None).unwrap();
    assert_eq!(sec1.public_key(), public);

    // OpenSSL reads our unencrypted PKCS#8 back to the same key.
    write(d, "ours.pem", key.to_pkcs8_pem());
    let pub_again = openssl(d, &["pkey", "-in", "ours.pem", "-pubout"]);
    assert_eq!(String::from_utf8(pub_again).unwrap(), public.to_spki_pem());
}

#[test]
fn govchain_signature_verifies_with_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let key = PrivateKey::generate();
    write(d, "pub.pem", key.public_key().to_spki_pem());

    for (i, msg) in messages().iter().enumerate() {
        let sig = key.sign(msg);
        write(d, "msg", msg);
        write(d, "sig.der", sig.to_der());
        let out = openssl_verify(d, "pub.pem", "msg", "sig.der");
        assert!(
            out.status.success(),
            "message {i}: OpenSSL rejected our signature:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"));

        // OpenSSL must reject it over a different message.
        let mut other = msg.clone();
        other.push(b'!');
        write(d, "other", &other);
        let out = openssl_verify(d, "pub.pem", "other", "sig.der");
        assert!(
            !out.status.success(),
            "message {i}: OpenSSL accepted a forged message"
        );
    }
}

#[test]
fn openssl_signature_verifies_with_govchain() {
    let dir = tempdir();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "SM2", "-out", "key.pem"]);
    openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let public = PublicKey::from_spki_pem(&read_string(d, "pub.pem")).unwrap();
    let prepared = govchain_crypto::fastverify::PreparedKey::new(&public);
    let distid = distid_opt();

    for (i, msg) in messages().iter().enumerate() {
        write(d, "msg", msg);
        openssl(
            d,
            &[
                "pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-digest", "sm3", "-pkeyopt",
                &distid, "-in", "msg", "-out", "sig.der",
            ],
        );
        let sig = Signature::from_der(&read(d, "sig.der")).unwrap();
        public
            .verify(msg, &sig)
            .unwrap_or_else(|e| panic!("message {i}: OpenSSL signature rejected: {e}"));
        // Raw form and SEC1 convenience path agree.
        govchain_crypto::verify_sec1(&public.to_sec1(), msg, &sig.to_bytes()).unwrap();
        assert_eq!(Signature::from_der(&sig.to_der()).unwrap(), sig);

        // The per-key table verifier, alone and in a batch, agrees.
        prepared
            .verify(msg, &sig)
            .unwrap_or_else(|e| panic!("message {i}: table verifier rejected OpenSSL's: {e}"));

        let mut other = msg.clone();
        other.push(b'!');
        assert_eq!(public.verify(&other, &sig), Err(CryptoError::BadSignature));
        assert_eq!(
            prepared.verify(&other, &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            govchain_crypto::fastverify::verify_batch(&[
                (&prepared, &msg[..], &sig),
                (&prepared, &other[..], &sig)
            ]),
            [true, false]
        );
    }
}

#[test]
fn signature_with_another_distid_does_not_verify() {
    // Guards against silently using a different user ID than OpenSSL's
    // `distid:1234567812345678`.
    let dir = tempdir();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "SM2", "-out", "key.pem"]);
    openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let public = PublicKey::from_spki_pem(&read_string(d, "pub.pem")).unwrap();
    write(d, "msg", b"hello");
    openssl(
        d,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:alice@example.gov",
            "-in",
            "msg",
            "-out",
            "sig.der",
        ],
    );
    let sig = Signature::from_der(&read(d, "sig.der")).unwrap();
    assert_eq!(
        public.verify(b"hello", &sig),
        Err(CryptoError::BadSignature)
    );
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "every encrypted PKCS#8 variant against openssl in one place"
)]
fn encrypted_pkcs8_interoperates() {
    let dir = tempdir();
    let d = dir.path();
    let pass = "gov passphrase 2024";
    let passin = format!("pass:{pass}");

    // (a) OpenSSL reads what we write.
    let key = PrivateKey::generate();
    write(
        d,
        "ours-enc.pem",
        key.to_pkcs8_encrypted_pem(pass.as_bytes()).unwrap(),
    );
    let pub_pem = openssl(
        d,
        &["pkey", "-in", "ours-enc.pem", "-passin", &passin, "-pubout"],
    );
    assert_eq!(
        String::from_utf8(pub_pem).unwrap(),
        key.public_key().to_spki_pem()
    );
    let wrong = run_openssl(
        d,
        &[
            "pkey",
            "-in",
            "ours-enc.pem",
            "-passin",
            "pass:wrong",
            "-pubout",
        ],
    );
    assert!(
        !wrong.status.success(),
        "OpenSSL decrypted our key with a wrong passphrase"
    );

    // (b) We read what OpenSSL writes, with its default PBES2 choices and a
    // few explicit ones.
    let pass_opt = format!("pass:{pass}");
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "SM2",
            "-aes-256-cbc",
            "-pass",
            &pass_opt,
            "-out",
            "gen-enc.pem",
        ],
    );
    openssl(
        d,
        &[
            "pkey",
            "-in",
            "gen-enc.pem",
            "-passin",
            &passin,
            "-pubout",
            "-out",
            "gen-pub.pem",
        ],
    );
    let expected = PublicKey::from_spki_pem(&read_string(d, "gen-pub.pem")).unwrap();
    let loaded =
        PrivateKey::from_pkcs8_encrypted_pem(&read_string(d, "gen-enc.pem"), pass.as_bytes())
            .unwrap();
    assert_eq!(loaded.public_key(), expected);
    assert_eq!(
        PrivateKey::from_pkcs8_encrypted_pem(&read_string(d, "gen-enc.pem"), b"wrong").unwrap_err(),
        CryptoError::KeyDecryptionFailed
    );
    assert_eq!(
        PrivateKey::from_pem_any(&read_string(d, "gen-enc.pem"), None).unwrap_err(),
        CryptoError::PassphraseRequired
    );

    openssl(d, &["genpkey", "-algorithm", "SM2", "-out", "plain.pem"]);
    let plain = PrivateKey::from_pkcs8_pem(&read_string(d, "plain.pem")).unwrap();
    let variants: &[(&str, &[&str])] = &[
        ("default-v2", &["-v2", "aes-256-cbc"]),
        (
            "aes128-sha512",
            &["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA512"],
        ),
        ("scrypt", &["-scrypt"]),
    ];
    for (name, extra) in variants {
        let file = format!("{name}.pem");
        let mut args = vec![
            "pkcs8",
            "-topk8",
            "-in",
            "plain.pem",
            "-passout",
            &pass_opt,
            "-out",
            &file,
        ];
        args.extend_from_slice(extra);
        openssl(d, &args);
        let loaded = PrivateKey::from_pem_any(&read_string(d, &file), Some(pass.as_bytes()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.public_key(), plain.public_key(), "{name}");
    }

    // Schemes we do not support are reported as such, not as a bad passphrase.
    let unsupported: &[(&str, &[&str])] = &[
        ("sm4-cbc", &["-v2", "sm4-cbc"]),
        (
            "sha1-prf",
            &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"],
        ),
    ];
    for (name, extra) in unsupported {
        let file = format!("{name}.pem");
        let mut args = vec![
            "pkcs8",
            "-topk8",
            "-in",
            "plain.pem",
            "-passout",
            &pass_opt,
            "-out",
            &file,
        ];
        args.extend_from_slice(extra);
        openssl(d, &args);
        let err = PrivateKey::from_pkcs8_encrypted_pem(&read_string(d, &file), pass.as_bytes())
            .unwrap_err();
        assert!(
            matches!(err, CryptoError::UnsupportedKeyEncryption { .. }),
            "{name}: expected UnsupportedKeyEncryption, got {err:?}"
        );
    }
}

#[test]
fn sm3_matches_openssl_dgst() {
    let dir = tempdir();
    let d = dir.path();
    for (i, msg) in messages().iter().enumerate() {
        write(d, "msg", msg);
        let out = openssl(d, &["dgst", "-sm3", "-binary", "msg"]);
        assert_eq!(out, govchain_crypto::sm3(msg).to_vec(), "message {i}");
    }
}

/// HMAC-SM3 (the keyed content hash of a certificate) is OpenSSL's, for keys of the data
/// key's size and beyond the block size, and messages split into parts anywhere.
#[test]
fn hmac_sm3_matches_openssl_mac() {
    let dir = tempdir();
    let d = dir.path();
    for key in [vec![0x5Cu8; 16], (0u8..=99).collect::<Vec<u8>>()] {
        for (i, msg) in messages().iter().enumerate() {
            write(d, "msg", msg);
            let mac = format!("hexkey:{}", hex::encode(&key));
            let out = openssl(
                d,
                &[
                    "mac", "-digest", "SM3", "-macopt", &mac, "-binary", "-in", "msg", "HMAC",
                ],
            );
            let (a, b) = msg.split_at(msg.len() / 3);
            assert_eq!(
                out,
                govchain_crypto::hmac_sm3(&key, &[a, b]).to_vec(),
                "message {i}"
            );
        }
    }
}

/// SM2 encryption both ways: what we encrypt, `openssl pkeyutl -decrypt` opens; what
/// `openssl pkeyutl -encrypt` makes, we open (custody shares travel this way).
#[test]
fn sm2_encryption_interoperates_with_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let key = PrivateKey::generate();
    write(d, "key.pem", key.to_pkcs8_pem());
    write(d, "pub.pem", key.public_key().to_spki_pem());
    let share = [0xA5u8; 48];

    write(d, "ours.der", key.public_key().encrypt(&share));
    let opened = openssl(
        d,
        &[
            "pkeyutl", "-decrypt", "-inkey", "key.pem", "-in", "ours.der",
        ],
    );
    assert_eq!(opened, share);

    write(d, "plain.bin", share);
    openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-in",
            "plain.bin",
            "-out",
            "theirs.der",
        ],
    );
    let theirs = read(d, "theirs.der");
    assert_eq!(key.decrypt(&theirs).unwrap(), share);
    // Another key cannot open it, and neither can anyone after a flipped bit.
    assert!(PrivateKey::generate().decrypt(&theirs).is_err());
    let mut bent = theirs.clone();
    let last = bent.len() - 1;
    bent[last] ^= 1;
    assert!(key.decrypt(&bent).is_err());
}

/// Threshold custody: an envelope `openssl pkeyutl -encrypt` makes to the custody public
/// key opens from any threshold of holders' decryption shares (and not from fewer).
#[test]
fn an_openssl_envelope_opens_from_threshold_shares() {
    use govchain_crypto::threshold::{Envelope, deal, open};
    let dir = tempdir();
    let d = dir.path();
    let (public, holders) = deal(4, 3).unwrap();
    write(
        d,
        "custody.pem",
        PublicKey::from_sec1(&public).unwrap().to_spki_pem(),
    );
    write(d, "key.bin", b"0123456789abcdef");
    openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "custody.pem",
            "-in",
            "key.bin",
            "-out",
            "envelope.der",
        ],
    );
    let env = Envelope::parse(&read(d, "envelope.der")).unwrap();
    let bank = PrivateKey::generate();
    let to = bank.public_key().to_sec1();
    let shares: Vec<_> = holders[1..]
        .iter()
        .map(|h| {
            let r = h
                .release(&env, &to, b"request 1", &[h.index() as u8; 32])
                .unwrap();
            r.verify(&h.public(), &env, &to, b"request 1").unwrap();
            r.decrypt(&bank)
        })
        .collect();
    assert_eq!(open(&env, &shares, 3).unwrap(), b"0123456789abcdef");
    assert!(open(&env, &shares[..2], 3).is_err());
}

/// The other way: an envelope govchain seals (with its proof beside it) is a plain
/// GM/T 0009 SM2 ciphertext that `openssl pkeyutl -decrypt` opens with the whole key
/// (a 1-of-1 sharing, whose one share is the key).
#[test]
fn openssl_opens_a_govchain_envelope() {
    use govchain_crypto::threshold::{Envelope, deal};
    let dir = tempdir();
    let d = dir.path();
    let (public, holders) = deal(1, 1).unwrap();
    let whole = PrivateKey::from_bytes(&holders[0].to_bytes()).unwrap();
    write(d, "custody.key", whole.to_pkcs8_pem().as_bytes());
    let (der, _) = Envelope::seal(&public, b"0123456789abcdef", b"cert", &[5; 32]).unwrap();
    write(d, "envelope.der", &der);
    openssl(
        d,
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            "custody.key",
            "-in",
            "envelope.der",
            "-out",
            "key.bin",
        ],
    );
    assert_eq!(read(d, "key.bin"), b"0123456789abcdef");
}
