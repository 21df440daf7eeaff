//! Threshold custody of data keys on four real validator processes (3 of 4 shares open a
//! key): the requester decrypts while one validator is down; another department cannot
//! use the shares; a share that fails its proof (another key's, another request's,
//! another recipient's) is refused by execution, naming its validator; two shares do not
//! open a key; a revocation committed between request and approval stops the release, both
//! in the validators' custodians and in execution, and a share without a committed approval
//! is refused; every release is an audit record.

use std::path::Path;

use govchain_crypto::PrivateKey;
use govchain_integration_tests::{Network, NodeProcess, Submit, cli_json, custody_share};
use govchain_types::pb;
use serde_json::Value;

const CITIZEN: &str = "320102199001011232";

fn deed(root: &Path, name: &str, number: &str) -> String {
    let path = root.join(name);
    std::fs::write(
        &path,
        serde_json::json!({
            "number": number,
            "issued_on": "2024-05-01",
            "metadata": {"district": "鼓楼区", "usage": "住宅", "ownership": "单独所有"},
            "holders": ["张三"],
            "location": "南京市鼓楼区中山北路 100 号 3 幢 502 室",
            "area_m2": 89.46,
        })
        .to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// Submits validator `id`'s approval of its release for `request` (`share` empty), or
/// its share for it (a released share's bytes), and returns the receipt.
async fn post_release(
    net: &Network,
    endpoint: &str,
    id: &str,
    request: u64,
    share: Vec<u8>,
) -> pb::Receipt {
    let tx = if share.is_empty() {
        pb::ReleaseShares {
            approvals: vec![request],
            releases: vec![],
        }
    } else {
        pb::ReleaseShares {
            approvals: vec![],
            releases: vec![pb::ShareRelease {
                request,
                encrypted_share: share,
            }],
        }
    };
    net.validator_signer(id)
        .submit(endpoint, pb::payload::Kind::Release(tx))
        .await
        .unwrap()
}

/// Share `share`'s release for `request` to `to`, made as a custodian makes it.
fn released(
    share: &govchain_custody::SecretShare,
    envelope: &govchain_custody::Envelope,
    chain_id: &str,
    request: u64,
    to: &PrivateKey,
) -> Vec<u8> {
    share
        .release(
            envelope,
            &to.public_key().to_sec1(),
            &govchain_custody::release_context(chain_id, request),
            &govchain_crypto::random_seed(),
        )
        .unwrap()
}

/// A certificate's key envelope, from the node.
async fn envelope_of(net: &Network, endpoint: &str, cert: &str) -> govchain_custody::Envelope {
    let auditor = govchain_integration_tests::Auditor::of(net, endpoint).await;
    let c = auditor
        .client
        .certificates()
        .get_certificate(auditor.signed(
            "/govchain.v1.Certificates/GetCertificate",
            govchain_client::rpc::GetCertificateRequest { id: cert.into() },
        ))
        .await
        .unwrap()
        .into_inner();
    govchain_custody::Envelope::parse(&c.key_envelope).unwrap()
}

fn statuses(fetched: &Value) -> Vec<(String, String)> {
    fetched["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["validator"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against one set of node processes (starting them is the cost)"
)]
async fn three_of_four_validators_release_keys_only_to_the_requester() {
    // given four validators holding 3-of-4 custody shares, and two property deeds
    let net = Network::init_bft(4, 0).unwrap();
    let genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(net.root.join("genesis.json")).unwrap())
            .unwrap();
    assert_eq!(genesis["custody"]["threshold"], 3);
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(Some(NodeProcess::start(&net, i).await.unwrap()));
    }
    let endpoint = net.endpoint(1);
    let cli = |args: &[&str]| cli_json(&endpoint, &net.root, args, &[]);
    let deed_a = deed(&net.root, "a.json", "苏(2024)南京市不动产权第0000001号");
    let deed_b = deed(&net.root, "b.json", "苏(2024)南京市不动产权第0000002号");
    let publish = |file: &str| {
        let r = cli(&[
            "cert",
            "publish",
            "--type",
            "property",
            "--subject",
            CITIZEN,
            "--file",
            file,
            "--as",
            "real-estate",
        ])
        .unwrap();
        r["events"][0]["attributes"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let cert_a = publish(&deed_a);
    let cert_b = publish(&deed_b);
    // Nothing readable left the publisher: no data-key file, no key in the record.
    assert!(!net.root.join("data-keys").exists());
    let request = |cert: &str| -> u64 {
        let r = cli(&[
            "cert",
            "request",
            cert,
            "--purpose",
            "housing_eligibility",
            "--as",
            "housing",
        ])
        .unwrap();
        assert_eq!(r["decision"], "allow", "{r}");
        r["request"].as_u64().unwrap()
    };
    let fetch = |request: u64, out: &str, dept: &str, wait: &str| {
        cli(&[
            "cert",
            "fetch",
            &request.to_string(),
            "--out",
            net.root.join(out).to_str().unwrap(),
            "--as",
            dept,
            "--wait",
            wait,
        ])
    };

    // when one validator is down and housing asks for deed A
    nodes[3].take().unwrap().kill9();
    let r1 = request(&cert_a);
    // then the three others release, and housing decrypts it, hash and signature checked
    let got = fetch(r1, "a-out.json", "housing", "30").unwrap();
    assert_eq!(
        std::fs::read(net.root.join("a-out.json")).unwrap(),
        std::fs::read(&deed_a).unwrap()
    );
    assert_eq!(got["combined"].as_array().unwrap().len(), 3, "{got}");
    assert!(got["issuer_signature_ok"].as_bool().unwrap());
    let ok: Vec<_> = statuses(&got)
        .into_iter()
        .filter(|(_, s)| s == "ok")
        .map(|(v, _)| v)
        .collect();
    assert_eq!(ok, ["node1", "node2", "node3"]);

    // and another department is not answered the request's releases at all, and the
    // auditor, who is, cannot use the shares: they are encrypted to housing
    let e = fetch(r1, "stolen.json", "bank", "2")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("UNAUTHORIZED") && e.contains("releases answer the requester"),
        "{e}"
    );
    let e = fetch(r1, "stolen.json", "supervision", "2")
        .unwrap_err()
        .to_string();
    assert!(e.contains("0 valid decryption share(s), 3 needed"), "{e}");
    assert!(e.contains("not yours"), "{e}");
    assert!(!net.root.join("stolen.json").exists());

    // when the down validator's account approves its release and then posts a share that
    // does not verify (a share of another key set, correctly made for housing and this
    // request)
    let chain_id = genesis["chain_id"].as_str().unwrap();
    let housing_key = net.signer("housing").key;
    let (_, foreign) = govchain_custody::deal(4, 3).unwrap();
    let envelope = envelope_of(&net, &endpoint, &cert_a).await;
    let approval = post_release(&net, &endpoint, "node4", r1, vec![]).await;
    assert_eq!(approval.status, pb::TxStatus::Ok as i32, "{approval:?}");
    let bad = released(&foreign[3], &envelope, chain_id, r1, &housing_key);
    let receipt = post_release(&net, &endpoint, "node4", r1, bad).await;
    // then execution refuses it, naming the validator, and stores nothing
    assert_eq!(receipt.status, pb::TxStatus::Failed as i32, "{receipt:?}");
    assert_eq!(
        receipt.error_code,
        pb::ErrorCode::BadKeyShare as u32,
        "{receipt:?}"
    );
    assert!(
        receipt.error_message.contains("validator node4"),
        "{receipt:?}"
    );
    // nor does node4's true share pass for another request, or another recipient
    let good4 = custody_share(&net, &endpoint, "node4", 4).await.unwrap();
    let replayed = released(&good4, &envelope, chain_id, r1 + 100, &housing_key);
    let to_bank = released(&good4, &envelope, chain_id, r1, &net.signer("bank").key);
    for share in [replayed, to_bank] {
        let receipt = post_release(&net, &endpoint, "node4", r1, share).await;
        assert_eq!(
            receipt.error_code,
            pb::ErrorCode::BadKeyShare as u32,
            "{receipt:?}"
        );
    }
    let got = fetch(r1, "a-again.json", "housing", "30").unwrap();
    let st = statuses(&got);
    assert!(st.iter().all(|(v, s)| v != "node4" && s == "ok"), "{st:?}");
    assert_eq!(got["combined"].as_array().unwrap().len(), 3);

    // when node3 runs without its share file (node4 still down): only two can release
    let key3 = net.root.join("node3/custody.key");
    let aside = net.root.join("node3-custody.key");
    nodes[2].take().unwrap().kill9();
    std::fs::rename(&key3, &aside).unwrap();
    nodes[2] = Some(NodeProcess::start(&net, 3).await.unwrap());
    let r2 = request(&cert_a);
    let r3 = request(&cert_b);
    // then two shares do not open the key
    let e = fetch(r2, "a-two.json", "housing", "8")
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 valid decryption share(s), 3 needed"), "{e}");
    assert!(!net.root.join("a-two.json").exists());

    // when the registry revokes deed B before node3 gets its share back
    cli(&[
        "cert",
        "revoke",
        &cert_b,
        "--reason",
        "sold",
        "--as",
        "real-estate",
    ])
    .unwrap();
    nodes[2].take().unwrap().kill9();
    std::fs::rename(&aside, &key3).unwrap();
    let node3 = NodeProcess::start(&net, 3).await.unwrap();
    // then node3 catches up on request 2 (still valid) and housing decrypts it
    fetch(r2, "a-three.json", "housing", "30").unwrap();
    // but node3 releases nothing for the revoked deed B
    let e = fetch(r3, "b-out.json", "housing", "5")
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 valid decryption share(s), 3 needed"), "{e}");
    assert!(
        node3.log_text().contains("not releasing a key share"),
        "{}",
        node3.log_text()
    );
    // and execution refuses another validator's approval for it, and a correct share
    // without an approval
    let envelope_b = envelope_of(&net, &endpoint, &cert_b).await;
    let share = released(&good4, &envelope_b, chain_id, r3, &housing_key);
    for (posted, why) in [(vec![], "revoked"), (share, "no committed approval")] {
        let receipt = post_release(&net, &endpoint, "node4", r3, posted).await;
        assert_eq!(receipt.status, pb::TxStatus::Failed as i32);
        assert_eq!(
            receipt.error_code,
            pb::ErrorCode::ReleaseRefused as u32,
            "{receipt:?}"
        );
        assert!(receipt.error_message.contains(why), "{receipt:?}");
    }

    // and every release is on the audit record, beside the reads
    let audit = cli(&[
        "audit",
        "query",
        "--requester",
        "housing",
        "--limit",
        "1000",
        "--as",
        "supervision",
    ])
    .unwrap();
    let records = audit["records"].as_array().unwrap();
    let releases_of = |r: u64| {
        records
            .iter()
            .filter(|x| x["action"] == "key_release" && x["request"] == r)
            .count()
    };
    assert_eq!(
        releases_of(r1),
        3,
        "three custodians; the refused shares left no record"
    );
    assert_eq!(releases_of(r2), 3);
    assert_eq!(releases_of(r3), 2);
    drop(node3);
}

/// Edits the network's genesis before any node starts: each key generation phase waits
/// `ms` for holders that have not acted.
fn set_keygen_phase(net: &Network, ms: u64) {
    let path = net.root.join("genesis.json");
    let mut g: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    g["custody"]["keygen_phase_ms"] = ms.into();
    std::fs::write(&path, serde_json::to_string_pretty(&g).unwrap()).unwrap();
}

/// Node4's part, played by the test: a dealing whose sub-share to holder 1 does not
/// match its commitments, no complaint of its own once the complaint phase opens, and no
/// answer.
async fn deal_badly_as_node4(
    net: &Network,
    endpoint: &str,
    chain_id: &str,
    holders: &[(u32, Vec<u8>)],
) {
    use govchain_custody::keygen;
    use pb::custody_keygen::Step;
    let pem = std::fs::read_to_string(net.root.join("node4/custody.key")).unwrap();
    let node4_key = PrivateKey::from_pem_any(&pem, None).unwrap();
    let mut bad = keygen::deal(&node4_key, chain_id, 1, 3, keygen::Dealt::Fresh, holders).unwrap();
    bad.sub_shares[0] = govchain_crypto::PublicKey::from_sec1(&holders[0].1)
        .unwrap()
        .encrypt(&[7; 32]);
    let step = |s| {
        pb::payload::Kind::Keygen(pb::CustodyKeygen {
            round: 1,
            step: Some(s),
        })
    };
    let node4 = net.validator_signer("node4");
    let r = node4
        .submit(
            endpoint,
            step(Step::Deal(pb::KeygenDeal {
                commitments: bad.commitments,
                sub_shares: bad.sub_shares,
            })),
        )
        .await
        .unwrap();
    assert_eq!(r.status, pb::TxStatus::Ok as i32, "{r:?}");
    loop {
        let s = govchain_integration_tests::keygen_status(net, endpoint)
            .await
            .unwrap();
        if s.state.unwrap().phase() != pb::KeygenPhase::KeygenDeal {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let r = node4
        .submit(
            endpoint,
            step(Step::Complaints(pb::KeygenComplaints::default())),
        )
        .await
        .unwrap();
    assert_eq!(r.status, pb::TxStatus::Ok as i32, "{r:?}");
}

/// A node cannot serve another key set than `generated`, nor the right one without its
/// proof: the client's check refuses a forged key set, an uncertified header and another
/// receipt.
async fn forged_key_sets_are_refused(
    net: &Network,
    endpoint: &str,
    genesis: &Value,
    generated: &[u8],
) {
    let auditor = govchain_integration_tests::Auditor::of(net, endpoint).await;
    let proof = auditor
        .client
        .certificates()
        .get_custody_key(auditor.signed(
            "/govchain.v1.Certificates/GetCustodyKey",
            govchain_client::rpc::GetCustodyKeyRequest {},
        ))
        .await
        .unwrap()
        .into_inner();
    let anchor = govchain_proof::TrustAnchor::from_genesis_json(&genesis.to_string()).unwrap();
    let verify = |p: &pb::CustodyKeyProof| govchain_proof::custody::verify_key_set(&anchor, p);
    assert_eq!(verify(&proof).unwrap().public_key_set, generated);
    let mut forged = proof.clone();
    forged.custody.as_mut().unwrap().public_key_set =
        govchain_custody::deal(4, 3).unwrap().0.to_bytes();
    assert!(verify(&forged).unwrap_err().contains("differs"));
    let mut uncertified = proof.clone();
    uncertified.header.as_mut().unwrap().commit = None;
    assert!(
        verify(&uncertified)
            .unwrap_err()
            .contains("no commit certificate")
    );
    let mut other_receipt = proof;
    *other_receipt.receipt.last_mut().unwrap() ^= 1;
    assert!(verify(&other_receipt).unwrap_err().contains("not in block"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_generation_completes_without_a_dealer_whose_sub_share_is_bad() {
    // given four validators, of which node4 (driven by this test) deals a sub-share to
    // holder 1 that does not match its commitments, and never answers the complaint
    let net = Network::init_bft(4, 0).unwrap();
    set_keygen_phase(&net, 8_000);
    let genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(net.root.join("genesis.json")).unwrap())
            .unwrap();
    let chain_id = genesis["chain_id"].as_str().unwrap().to_string();
    let holders: Vec<(u32, Vec<u8>)> = genesis["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let key = hex::decode(v["custody_key"].as_str().unwrap()).unwrap();
            (v["custody_share"].as_u64().unwrap() as u32, key)
        })
        .collect();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        nodes.push(Some(NodeProcess::start(&net, i).await.unwrap()));
    }
    let endpoint = net.endpoint(1);
    deal_badly_as_node4(&net, &endpoint, &chain_id, &holders).await;

    // then node1 complains against node4, the answer phase runs out, and the three
    // honest dealers make the key
    let s = govchain_integration_tests::wait_for_custody_key(
        &net,
        &endpoint,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    let custody = s.custody.clone().unwrap();
    assert_eq!(custody.qualified, [1, 2, 3], "{s:?}");
    let complaint = s.complaints.iter().find(|c| c.holder == 1).unwrap();
    assert_eq!(complaint.against, [4]);
    assert!(s.answers.is_empty());
    forged_key_sets_are_refused(&net, &endpoint, &genesis, &custody.public_key_set).await;
    let status = cli_json(
        &endpoint,
        &net.root,
        &["custody", "status", "--as", "supervision"],
        &[],
    )
    .unwrap();
    assert_eq!(status["phase"], "done", "{status}");
    assert_eq!(
        status["qualified"],
        serde_json::json!([1, 2, 3]),
        "{status}"
    );
    // no node's folder holds a share: each holds its custody key only
    for i in 1..=4 {
        let text = std::fs::read_to_string(net.root.join(format!("node{i}/custody.key"))).unwrap();
        assert!(
            text.contains("PRIVATE KEY") && !text.contains("SHARE"),
            "{text}"
        );
    }

    // when node4 starts (a holder still, though not a dealer) and node1 goes down
    nodes.push(Some(NodeProcess::start(&net, 4).await.unwrap()));
    let endpoint = net.endpoint(2);
    let cli = |args: &[&str]| cli_json(&endpoint, &net.root, args, &[]);
    let file = deed(&net.root, "d.json", "苏(2024)南京市不动产权第0000009号");
    let published = cli(&[
        "cert",
        "publish",
        "--type",
        "property",
        "--subject",
        CITIZEN,
        "--file",
        &file,
        "--as",
        "real-estate",
    ])
    .unwrap();
    let cert = published["events"][0]["attributes"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    nodes[0].take().unwrap().kill9();
    let r = cli(&[
        "cert",
        "request",
        &cert,
        "--purpose",
        "housing_eligibility",
        "--as",
        "housing",
    ])
    .unwrap();
    let request = r["request"].as_u64().unwrap().to_string();
    // then nodes 2, 3 and 4 release, and their shares of the generated key open it
    let out = net.root.join("d-out.json");
    let got = cli(&[
        "cert",
        "fetch",
        &request,
        "--out",
        out.to_str().unwrap(),
        "--as",
        "housing",
        "--wait",
        "30",
    ])
    .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());
    let combined: Vec<&str> = got["combined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(combined, ["node2", "node3", "node4"], "{got}");
}
