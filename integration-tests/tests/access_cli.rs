//! The access gate end to end on a real node process through the CLI: publish, an
//! allowed read, points moved, a policy denial, a denial for lack of points, revocation,
//! the audit query, an exported proof bundle that verifies, and one changed byte that
//! makes verification fail.

use govchain_integration_tests::{Network, NodeProcess, cli_json, event_attr};
use serde_json::Value;

const CITIZEN: &str = "320102199001011232";

fn access(receipt: &Value) -> (&str, &str) {
    (
        receipt["decision"].as_str().unwrap(),
        receipt["reason"].as_str().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario against one node process (starting it is the cost)"
)]
async fn publish_read_pay_deny_revoke_audit_and_verify() {
    // given a node of the 'nanjing' network and a property deed
    let net = Network::init(1).unwrap();
    let node = NodeProcess::start(&net, 1).await.unwrap();
    let cli = |args: &[&str]| cli_json(&node.endpoint, &net.root, args, &[]);
    let deed = net.root.join("deed.json");
    std::fs::write(
        &deed,
        serde_json::json!({
            "number": "苏(2024)南京市不动产权第0012345号",
            "issued_on": "2024-05-01",
            "metadata": {"district": "鼓楼区", "usage": "住宅", "ownership": "共同共有"},
            "holders": ["张三", "李四"],
            "location": "南京市鼓楼区中山北路 100 号 3 幢 502 室",
            "area_m2": 89.46,
        })
        .to_string(),
    )
    .unwrap();
    let deed = deed.to_str().unwrap();

    // when the registry publishes it
    let r = cli(&[
        "cert",
        "publish",
        "--type",
        "property",
        "--subject",
        CITIZEN,
        "--file",
        deed,
        "--as",
        "real-estate",
    ])
    .unwrap();
    let cert = event_attr(&r, "certificate_published", "id").to_string();
    let listed = cli(&["cert", "list", "--subject", CITIZEN, "--as", "housing"]).unwrap();
    assert_eq!(listed["certificates"][0]["id"], cert.as_str());
    assert_eq!(listed["certificates"][0]["metadata"]["district"], "鼓楼区");
    // the national ID never reaches the chain or the node's log
    assert!(!node.log_text().contains(CITIZEN));
    let shown = cli(&["cert", "show", &cert, "--as", "real-estate"]).unwrap();
    assert!(
        !shown.to_string().contains("张三"),
        "the document is encrypted"
    );
    // a certificate's record answers its issuer, its grantees, the nodes' departments
    // and the auditor: the bank (none of them) is refused it, with the same answer as
    // for a certificate that does not exist, and cannot list another issuer's
    // certificates (every subject id on the chain, for a dictionary attack)
    let refused = |args: &[&str]| {
        let e = cli(args).unwrap_err().to_string();
        assert!(e.contains("UNAUTHORIZED"), "{args:?}: {e}");
        assert!(
            !e.contains(&shown["subject_id"].as_str().unwrap()[..16]),
            "{e}"
        );
        e.replace(&cert, "<id>")
    };
    assert_eq!(
        refused(&["cert", "show", &cert, "--as", "bank"]),
        refused(&["cert", "show", "property-NOSUCH", "--as", "bank"])
            .replace("property-NOSUCH", "<id>")
    );
    refused(&["cert", "list", "--issuer", "real-estate", "--as", "bank"]);
    refused(&["cert", "list", "--type", "property", "--as", "bank"]);
    let own = cli(&[
        "cert",
        "list",
        "--issuer",
        "real-estate",
        "--as",
        "real-estate",
    ])
    .unwrap();
    assert_eq!(own["certificates"][0]["id"], cert.as_str());
    let all = cli(&["cert", "list", "--type", "property", "--as", "supervision"]).unwrap();
    assert_eq!(all["certificates"][0]["id"], cert.as_str());

    // then the housing authority reads it for eligibility review, paying the registry
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
    assert_eq!(access(&r).0, "allow", "{r}");
    assert_eq!(r["points"], 5);
    // its key shares answer housing, the registry and the auditor; the tax bureau is
    // refused in the words a request number that was never allowed gets (request
    // numbers are sequential: no telling which reads were allowed)
    let request = r["request"].as_u64().unwrap().to_string();
    let out = net.root.join("never-written.json");
    let fetch = |n: &str| {
        cli(&[
            "cert",
            "fetch",
            n,
            "--out",
            out.to_str().unwrap(),
            "--wait",
            "0",
            "--as",
            "tax",
        ])
        .unwrap_err()
        .to_string()
        .split_once("error: ")
        .map(|(_, e)| e.replace(&format!("request {n} "), "request <n> "))
        .unwrap()
    };
    let refused = fetch(&request);
    assert!(refused.contains("UNAUTHORIZED"), "{refused}");
    assert_eq!(refused, fetch("999999"));
    assert!(!out.exists());
    let b = cli(&["points", "balance", "--as", "housing"]).unwrap();
    assert_eq!(b["balances"]["housing"], 4_995);
    assert_eq!(
        b["balances"]["real-estate"], 5_006,
        "5 paid + 1 publish reward"
    );

    // the tax bureau has no policy line for property: denied, and on record
    let r = cli(&[
        "cert",
        "request",
        &cert,
        "--purpose",
        "tax_assessment",
        "--as",
        "tax",
    ])
    .unwrap();
    assert_eq!(access(&r).0, "deny");
    assert!(access(&r).1.contains("no policy line"), "{r}");

    // the bank's points are cut by governance (4 of 6 committee approvals): too few to read
    let r = cli(&[
        "gov",
        "propose",
        "points-adjust",
        "--dept",
        "bank",
        "--delta",
        "-4998",
        "--reason",
        "2026 Q3 assessment: no data shared",
        "--as",
        "tax",
    ])
    .unwrap();
    let id = event_attr(&r, "proposal_created", "id").to_string();
    for dept in ["housing", "public-security", "civil-affairs"] {
        cli(&["gov", "approve", &id, "--as", dept]).unwrap();
    }
    let r = cli(&[
        "cert",
        "request",
        &cert,
        "--purpose",
        "mortgage_review",
        "--as",
        "bank",
    ])
    .unwrap();
    assert_eq!(access(&r).0, "deny");
    assert!(
        access(&r)
            .1
            .contains("insufficient points: balance 2, price 5"),
        "{r}"
    );
    let h = cli(&["points", "history", "--dept", "bank"]).unwrap();
    assert_eq!(h["entries"][1]["delta"], -4998);
    // a ledger is a signed read of the department itself or the auditor
    let e = cli(&["points", "history", "--dept", "bank", "--as", "tax"]).unwrap_err();
    assert!(e.to_string().contains("UNAUTHORIZED"), "{e}");
    let h = cli(&["points", "history", "--dept", "bank", "--as", "supervision"]).unwrap();
    assert_eq!(h["entries"][1]["delta"], -4998);

    // a certificate's grants are the owner's and the auditor's to list, a grantee's own
    // to the grantee, nothing to anyone else (a signed read)
    cli(&[
        "cert",
        "grant",
        &cert,
        "--to",
        "bank",
        "--purpose",
        "mortgage_review",
        "--until",
        "2099-12-31",
        "--as",
        "real-estate",
    ])
    .unwrap();
    let grants = |who: &str| {
        cli(&["cert", "grants", &cert, "--as", who])
            .map(|g| g.as_array().unwrap().len())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        ["real-estate", "supervision", "bank"].map(|w| grants(w).unwrap()),
        [1, 1, 1]
    );
    // the tax bureau is party to nothing of it: refused, in the words a certificate
    // that does not exist gets (a listing of grants is no existence oracle either)
    let refusal = grants("tax").unwrap_err();
    assert!(refusal.contains("UNAUTHORIZED"), "{refusal}");
    let missing = cli(&["cert", "grants", "property-NOSUCH", "--as", "tax"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        refusal.replace(&cert, "<id>"),
        missing.replace("property-NOSUCH", "<id>")
    );

    // the registry revokes the deed: later reads are denied and audited
    cli(&[
        "cert",
        "revoke",
        &cert,
        "--reason",
        "title transferred",
        "--as",
        "real-estate",
    ])
    .unwrap();
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
    assert_eq!(access(&r).0, "deny");
    assert!(access(&r).1.contains("revoked"));

    // bad input: a clear code each, nothing written
    let bad = |args: &[&str], code: &str| {
        let e = cli(args).unwrap_err().to_string();
        assert!(e.contains(code), "{args:?}: {e}");
    };
    // without the network's chain salt, or with another network's, no subject id is
    // computed: a clear error, and nothing sent
    let salt_file = net.root.join("chain.salt");
    let salt = std::fs::read_to_string(&salt_file).unwrap();
    let by_subject = ["cert", "list", "--subject", CITIZEN, "--as", "housing"];
    std::fs::remove_file(&salt_file).unwrap();
    bad(&by_subject, "chain.salt");
    std::fs::write(&salt_file, hex::encode([9u8; 32])).unwrap();
    bad(&by_subject, "not the one the genesis commits to");
    std::fs::write(&salt_file, &salt).unwrap();
    assert!(
        !std::fs::read_to_string(net.root.join("genesis.json"))
            .unwrap()
            .contains(salt.trim())
    );
    bad(
        &[
            "cert",
            "publish",
            "--type",
            "property",
            "--subject",
            "320102199001011234",
            "--file",
            deed,
            "--as",
            "real-estate",
        ],
        "INVALID_SUBJECT",
    );
    bad(
        &[
            "cert",
            "publish",
            "--type",
            "deed",
            "--subject",
            CITIZEN,
            "--file",
            deed,
            "--number",
            "X-1",
            "--as",
            "real-estate",
        ],
        "UNKNOWN_CERT_TYPE",
    );
    bad(
        &[
            "cert",
            "publish",
            "--type",
            "property",
            "--subject",
            CITIZEN,
            "--file",
            deed,
            "--as",
            "real-estate",
        ],
        "DUPLICATE_CERTIFICATE",
    );
    bad(
        &[
            "cert",
            "request",
            &cert,
            "--purpose",
            "marketing",
            "--as",
            "tax",
        ],
        "UNKNOWN_PURPOSE",
    );

    // the supervisor sees the citizen's whole audit trail, allowed and denied, in order
    let q = cli(&[
        "audit",
        "query",
        "--subject",
        CITIZEN,
        "--as",
        "supervision",
    ])
    .unwrap();
    let records = q["records"].as_array().unwrap();
    // the single validator (1 of 1 custody) released its key share for the allowed read,
    // to housing, on the record too
    let releases: Vec<(&str, u64)> = records
        .iter()
        .filter(|r| r["action"] == "key_release")
        .map(|r| {
            (
                r["requester"].as_str().unwrap(),
                r["request"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(releases, [("housing", records[0]["seq"].as_u64().unwrap())]);
    let rows: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r["action"] == "read")
        .map(|r| {
            (
                r["requester"].as_str().unwrap(),
                r["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("housing", "allow"),
            ("tax", "deny"),
            ("bank", "deny"),
            ("housing", "deny")
        ]
    );
    let denied = cli(&[
        "audit",
        "query",
        "--subject",
        CITIZEN,
        "--decision",
        "deny",
        "--requester",
        "housing",
        "--as",
        "housing",
    ])
    .unwrap();
    assert_eq!(denied["records"].as_array().unwrap().len(), 1);
    // separation of duties: a department sees only its own records (all of them when it
    // names no department), and another department's alone are refused
    let mine = cli(&["audit", "query", "--subject", CITIZEN, "--as", "tax"]).unwrap();
    let mine = mine["records"].as_array().unwrap();
    assert!(!mine.is_empty());
    assert!(
        mine.iter()
            .all(|r| r["requester"] == "tax" || r["owner"] == "tax"),
        "{mine:?}"
    );
    let e = cli(&["audit", "query", "--requester", "housing", "--as", "tax"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("UNAUTHORIZED") && e.contains("--requester tax"),
        "{e}"
    );
    let own = cli(&["audit", "query", "--requester", "tax", "--as", "tax"]).unwrap();
    assert_eq!(own["records"].as_array().unwrap().len(), 1);
    // an unsigned read is refused by the node itself
    let mut raw = govchain_client::AuditClient::connect(node.endpoint.clone())
        .await
        .unwrap();
    let status = raw
        .query(govchain_client::rpc::AuditQuery::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(status.message().contains("UNAUTHENTICATED"), "{status:?}");
    let csv = govchain_integration_tests::govchain(&[
        "--endpoint",
        &node.endpoint,
        "--home",
        net.root.to_str().unwrap(),
        "audit",
        "query",
        "--owner",
        "real-estate",
        "--csv",
        "--as",
        "real-estate",
    ])
    .unwrap();
    // header, four decisions and the key release
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert_eq!(csv.matches(",key_release,").count(), 1, "{csv}");
    assert!(csv.starts_with("seq,height,time_ms,requester"));

    // the export verifies against genesis alone, and one changed byte breaks it
    let out = net.root.join("audit.json");
    let out_s = out.to_str().unwrap();
    let e = cli(&[
        "audit",
        "export",
        "--subject",
        CITIZEN,
        "--out",
        out_s,
        "--as",
        "supervision",
    ])
    .unwrap();
    // four decisions and the key release, each with its proof
    assert_eq!(e["records"], 5);
    let v = cli(&["audit", "verify", out_s]).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["records"], 5);
    let original = std::fs::read_to_string(&out).unwrap();
    let file: Value = serde_json::from_str(&original).unwrap();
    let encoded = file["records"][1]["encoded"].as_str().unwrap();
    let header = file["headers"][0]["signature"].as_str().unwrap();
    let flip = |s: &str| {
        let last = s.chars().last().unwrap();
        format!(
            "{}{}",
            &s[..s.len() - 1],
            if last == '0' { '1' } else { '0' }
        )
    };
    for (from, to) in [
        (
            "\"decision\": \"deny\"".to_string(),
            "\"decision\": \"allow\"".to_string(),
        ),
        (encoded.to_string(), flip(encoded)),
        (header.to_string(), flip(header)),
    ] {
        assert!(original.contains(&from), "{from}");
        std::fs::write(&out, original.replacen(&from, &to, 1)).unwrap();
        let err = cli(&["audit", "verify", out_s]).unwrap_err().to_string();
        assert!(err.contains("verification FAILED"), "{err}");
    }
}
