//! The CLI against a real node of a network with encrypted key files.

use govchain_integration_tests::{Network, NodeProcess, cli_json, event_attr};

const PASS: &str = "test passphrase 2026";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_round_trip_with_encrypted_keys() {
    // given a network whose key files are encrypted
    let net = Network::init_with(1, Some(PASS)).unwrap();
    let key = std::fs::read_to_string(net.root.join("keys/tax.pem")).unwrap();
    assert!(
        key.contains("ENCRYPTED PRIVATE KEY"),
        "init must encrypt key files"
    );

    // then the node refuses to start without the passphrase, and starts with it
    assert!(NodeProcess::start(&net, 1).await.is_err());
    let node = NodeProcess::start_with_env(&net, 1, &[("GOVCHAIN_KEY_PASSPHRASE", PASS)])
        .await
        .unwrap();
    let env = [("GOVCHAIN_KEY_PASSPHRASE", PASS)];
    let cli = |args: &[&str]| cli_json(&node.endpoint, &net.root, args, &env);

    // when the CLI reads status and anchors a digest as the tax bureau
    let status = cli(&["status", "--as", "tax"]).unwrap();
    assert_eq!(status["chain_id"], "it-chain");
    assert_eq!(status["departments"].as_array().unwrap().len(), 8);
    // (unsigned, the node names the chain and nothing of its members)
    let outsider = cli(&["status"]).unwrap();
    assert_eq!(outsider["chain_id"], "it-chain");
    assert_eq!(outsider["departments"].as_array().unwrap().len(), 0);
    let digest = hex::encode(govchain_crypto::sm3(b"tax record 2026-0001"));
    let receipt = cli(&[
        "anchor",
        "--id",
        "tax-2026-0001",
        "--digest",
        &digest,
        "--as",
        "tax",
    ])
    .unwrap();
    assert_eq!(receipt["status"], "OK");

    // then the transaction and its block are there, signed by the tax bureau's key
    let hash = receipt["tx_hash"].as_str().unwrap().to_string();
    let tx = cli(&["tx", "get", &hash, "--as", "tax"]).unwrap();
    assert_eq!(tx["sender"], "tax");
    assert_eq!(tx["payload"]["digest"], digest.as_str());
    assert_eq!(tx["receipt_proven_from_genesis"], true, "{tx}");
    // signed to expire: included within 600 blocks of the height the CLI saw, or never
    let (height, expiry) = (
        tx["height"].as_u64().unwrap(),
        tx["expiry_height"].as_u64().unwrap(),
    );
    assert!(
        (height..height + 600).contains(&expiry),
        "expiry {expiry} at height {height}"
    );
    // blocks in full, and others' transactions, only to node operators and the auditor
    for refused in [
        cli(&["block", "get", "latest", "--as", "housing"]),
        cli(&["tx", "get", &hash, "--as", "housing"]),
    ] {
        let e = refused.unwrap_err().to_string();
        assert!(e.contains("UNAUTHORIZED"), "{e}");
    }
    assert_eq!(
        cli(&["tx", "get", &hash, "--as", "supervision"]).unwrap()["sender"],
        "tax"
    );
    let block = cli(&["block", "get", "latest", "--as", "supervision"]).unwrap();
    assert_eq!(block["transactions"][0]["tx_hash"], hash.as_str());
    assert_eq!(block["proposer"], "node1");

    // and bad input gets a clear error, not a panic
    let dup = cli(&[
        "anchor",
        "--id",
        "tax-2026-0001",
        "--digest",
        &digest,
        "--as",
        "tax",
    ])
    .unwrap_err()
    .to_string();
    assert!(dup.contains("ALREADY_EXISTS"), "{dup}");
    let short = cli(&["anchor", "--id", "x", "--digest", "abcd", "--as", "tax"])
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("INVALID_ARGUMENT") && short.contains("32-byte"),
        "{short}"
    );
    let missing = cli(&["tx", "get", &"0".repeat(64), "--as", "tax"])
        .unwrap_err()
        .to_string();
    assert!(missing.contains("TX_NOT_FOUND"), "{missing}");
    let unknown = cli(&["anchor", "--id", "y", "--digest", &digest, "--as", "police"])
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("no key for 'police'"), "{unknown}");
}

/// A node of another network (same chain id, other genesis) cannot pass for this one:
/// the CLI refuses it before signing anything for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_a_node_of_another_genesis() {
    let ours = Network::init(1).unwrap();
    let theirs = Network::init(1).unwrap();
    let node = NodeProcess::start(&theirs, 1).await.unwrap();
    let e = cli_json(
        &node.endpoint,
        &ours.root,
        &["audit", "query", "--as", "supervision"],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not 'it-chain' of genesis"), "{e}");
    assert!(
        !node.log_text().contains("Audit/Query"),
        "a signed read reached the node"
    );
}

/// Keys rotate and are replaced, against a real node with encrypted key files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_and_the_committee_replaces_a_lost_one() {
    let net = Network::init_with(1, Some(PASS)).unwrap();
    let env = [("GOVCHAIN_KEY_PASSPHRASE", PASS)];
    let node = NodeProcess::start_with_env(&net, 1, &env).await.unwrap();
    let cli = |args: &[&str]| cli_json(&node.endpoint, &net.root, args, &env);

    // when the housing bureau rotates its key (the new file encrypted too)
    let rotated = cli(&["keys", "rotate", "--as", "housing", "--encrypt"]).unwrap();
    let key_file = net.root.join("keys/housing.pem");
    let retired = rotated["retired_key_file"].as_str().unwrap().to_string();
    assert!(
        std::fs::read_to_string(&key_file)
            .unwrap()
            .contains("ENCRYPTED PRIVATE KEY")
    );
    assert!(!net.root.join("keys/housing.pem.next").exists());
    // then its new key signs, and the old one is refused
    let digest2 = hex::encode(govchain_crypto::sm3(b"housing record"));
    let anchor = |extra: &[&str]| {
        let mut args = vec![
            "anchor",
            "--id",
            "housing-1",
            "--digest",
            &digest2,
            "--as",
            "housing",
        ];
        args.extend_from_slice(extra);
        cli(&args)
    };
    // (refused at its first signed read, the nonce, before any transaction)
    let old = anchor(&["--key", &retired]).unwrap_err().to_string();
    assert!(
        old.contains("BAD_SIGNATURE") && old.contains("registered now"),
        "{old}"
    );
    assert_eq!(anchor(&[]).unwrap()["status"], "OK");
    // and the old key is in the rotation's history
    let tx = cli(&[
        "tx",
        "get",
        rotated["tx_hash"].as_str().unwrap(),
        "--as",
        "supervision",
    ])
    .unwrap();
    assert_eq!(tx["payload"]["type"], "rotate_key");

    // when the bank loses its key, and the committee replaces it with one only the bank
    // holds (the bank proves it; the committee never sees the private key)
    let new_bank = net.root.join("bank-new.pem");
    let new_bank = new_bank.to_str().unwrap();
    cli(&["keys", "gen", "--out", new_bank, "--encrypt"]).unwrap();
    let proof = cli(&["keys", "prove", "--key", new_bank, "--department", "bank"]).unwrap();
    let r = cli(&[
        "gov",
        "propose",
        "replace-key",
        "--department",
        "bank",
        "--public-key",
        proof["public_key"].as_str().unwrap(),
        "--proof",
        proof["proof"].as_str().unwrap(),
        "--as",
        "tax",
    ])
    .unwrap();
    let id = event_attr(&r, "proposal_created", "id").to_string();
    for dept in ["housing", "public-security", "civil-affairs"] {
        cli(&["gov", "approve", &id, "--as", dept]).unwrap();
    }
    // then the bank's old key is refused and the new one signs
    let digest3 = hex::encode(govchain_crypto::sm3(b"bank record"));
    let bank_anchor = |extra: &[&str]| {
        let mut args = vec![
            "anchor", "--id", "bank-1", "--digest", &digest3, "--as", "bank",
        ];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let old = bank_anchor(&[]).unwrap_err().to_string();
    assert!(
        old.contains("BAD_SIGNATURE") && old.contains("registered now"),
        "{old}"
    );
    assert_eq!(bank_anchor(&["--key", new_bank]).unwrap()["status"], "OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_run_with_every_key_file_sealed_under_its_owners_passphrase() {
    // given two validators whose key files, custody keys, CA and TLS keys are sealed,
    // node2's and the tax bureau's under passphrases of their own
    let own = [
        ("GOVCHAIN_KEY_PASSPHRASE_NODE2", "node2's own"),
        ("GOVCHAIN_KEY_PASSPHRASE_TAX", "the tax bureau's own"),
    ];
    let net = Network::init_with_env(2, Some(PASS), &own).unwrap();
    let open = |file: &str, pass: &str| {
        let pem = std::fs::read_to_string(net.root.join(file)).unwrap();
        govchain_crypto::PrivateKey::from_pem_any(&pem, Some(pass.as_bytes())).is_ok()
    };
    assert!(open("node1/custody.key", PASS) && open("keys/bank.pem", PASS));
    assert!(open("node2/custody.key", "node2's own") && !open("node2/custody.key", PASS));
    assert!(open("keys/tax.pem", "the tax bureau's own") && !open("keys/tax.pem", PASS));
    for file in ["node1/validator.pem", "node1/custody.key"] {
        let text = std::fs::read_to_string(net.root.join(file)).unwrap();
        assert!(text.contains("ENCRYPTED PRIVATE KEY"), "{file}: {text}");
    }
    for file in ["tls/ca.key", "node1/tls/node.key", "node2/tls/node.key"] {
        let text = std::fs::read_to_string(net.root.join(file)).unwrap();
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED GOVCHAIN TLS KEY-----"),
            "{file}"
        );
        assert!(
            !text.contains("PRIVATE KEY"),
            "{file}: the key in the clear"
        );
    }
    // then with the passphrase they open their TLS keys, reach each other over mutual
    // TLS, decide blocks, and generate the custody key with their sealed custody keys
    let env = [("GOVCHAIN_KEY_PASSPHRASE", PASS)];
    let _n1 = NodeProcess::start_with_env(&net, 1, &env).await.unwrap();
    assert!(NodeProcess::start_with_env(&net, 2, &env).await.is_err());
    let env2 = [("GOVCHAIN_KEY_PASSPHRASE", "node2's own")];
    let _n2 = NodeProcess::start_with_env(&net, 2, &env2).await.unwrap();
    let s = govchain_integration_tests::wait_for_custody_key(
        &net,
        &net.endpoint(1),
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(s.custody.unwrap().qualified, [1, 2]);
}
