//! The demo's scenario 2 (compute-to-data), scenario 3 (the sharing incentive) and the
//! audit trail (`demo.rs`: `compute_to_data`, `sharing_incentive`, `audit_trail`).

use govchain_client::event::{Access, ComputeRequested};
use govchain_crypto::sm3;
use govchain_state::access::audit::ExportFile;
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use serde_json::{Value, json};

use super::harness::{Citizen, Net, VALIDATOR, event};
use super::housing::govern;

const TAX_READS_PROPERTY: &str = "p, tax, property, read, tax_assessment, allow";

/// Scenario 2: the bank may not read 张伟's tax certificate `cert`, but its approved
/// `risk-model` runs over it on the tax bureau's validator, which posts only the signed,
/// encrypted score.
pub(super) async fn compute_to_data(net: &mut Net, cert: &str) {
    let zhang = net.citizens[0].clone();
    let before = net.balances();
    let read = Kind::Request(pb::RequestAccess {
        cert_id: cert.into(),
        purpose: "credit_assessment".into(),
    });
    let r = net.ok("bank", read, "bank reads the tax certificate").await;
    assert!(
        !event::<Access>(&r).expect("a gate decision").allowed(),
        "the bank must not read tax records directly"
    );
    let args = json!({"application": "NJB-PL-2026-001873", "loan_amount_yuan": 1_200_000, "term_months": 360, "annual_rate_bps": 310});
    let job = Kind::Compute(pb::ComputeJob {
        cert_id: cert.into(),
        purpose: "credit_assessment".into(),
        contract: "risk-model".into(),
        method: "score".into(),
        args: args.to_string().into_bytes(),
    });
    let r = net.ok("bank", job, "bank asks for risk-model.score").await;
    let access = event::<Access>(&r).expect("a gate decision");
    assert!(access.allowed(), "compute job denied: {}", access.reason);
    let request = access.request;
    assert_eq!(
        event::<ComputeRequested>(&r).map(|e| e.executor),
        Some(VALIDATOR.to_string())
    );
    let shares = net
        .custodian_round("custodian releases the job's key share")
        .await;
    assert_eq!(shares, 1, "one key share for the job, to its executor");
    let posted = net.job_round("job runner posts the result").await;
    assert_eq!(posted, 1, "the job runner posts one result");
    check_job(net, request, &zhang);
    let after = net.balances();
    assert!(
        after["bank"] < before["bank"],
        "the compute job was not paid"
    );
}

/// What the demo checks of the job's result (`await_result` and after).
fn check_job(net: &Net, request: u64, zhang: &Citizen) {
    let bank = net.key("bank").clone();
    let r = net.releases(request);
    let plain = govchain_node::network::check_result(&net.genesis, request, &r, &bank)
        .unwrap_or_else(|e| panic!("job {request}'s result: {e:#}"));
    assert!(
        r.releases
            .iter()
            .all(|s| bank.decrypt(&s.encrypted_share).is_err()),
        "a key share of job {request} opens with the bank's key"
    );
    let result = r.result.clone().unwrap_or_default();
    let owner = net
        .genesis
        .validators
        .iter()
        .find(|v| v.id == result.executor);
    assert_eq!(
        owner.map(|v| v.department.as_str()),
        Some("tax"),
        "the job ran off the tax bureau's node"
    );
    let res = result.result.unwrap_or_default();
    assert!(
        !res.failed,
        "job {request} failed: {}",
        String::from_utf8_lossy(&plain)
    );
    let o = govchain_state::Overlay::new(net.chain.store().clone());
    let deployed = govchain_state::governance::contract(&o, "risk-model").expect("risk-model");
    assert_eq!(
        res.code_hash, deployed.code_hash,
        "the job ran other code than the approved model"
    );
    let score: Value = serde_json::from_slice(&plain).expect("the score is JSON");
    let text = score.to_string();
    // No monthly income or tax figure, no name, no national ID.
    let secrets = (0..3u32)
        .flat_map(|k| [21_500 + k * 400, 640 + k * 40])
        .map(|v| v.to_string())
        .chain([zhang.name.to_string(), zhang.national_id.clone()]);
    for secret in secrets {
        assert!(
            !text.contains(&secret),
            "the job's result leaks '{secret}': {text}"
        );
    }
}

/// Scenario 3: the tax bureau reads property titles through `tax-assessment` until its
/// points run out, publishes its own certificates, earns from their reads, reads again.
pub(super) async fn sharing_incentive(net: &mut Net) {
    let policy = govchain_state::query::policy(net.chain.store()).expect("policy");
    if !policy.lines.iter().any(|l| l == TAX_READS_PROPERTY) {
        let change = pb::proposal::Action::Policy(pb::PolicyChange {
            add: vec![TAX_READS_PROPERTY.into()],
            remove: vec![],
        });
        let description = "let the tax bureau read property titles for deed-tax assessment";
        govern(net, "tax", change, description).await;
    }
    let start = net.balances();
    let price = 5;
    let reads_needed = start["tax"] / price + 1;
    assert!(
        reads_needed <= 20_000,
        "the tax bureau holds too many points: {}",
        start["tax"]
    );
    let (owners, titles) = publish_titles(net, reads_needed + 9).await;
    let blocked = assess_until_denied(net, &titles).await;
    let out_of_points = net.balances();
    let reason = last_denial(net, "tax", &blocked);
    assert!(
        reason.contains("insufficient points"),
        "expected an insufficient-points denial, got: {reason}"
    );
    // The tax bureau shares: payment certificates of the same citizens, which the
    // housing authority reads for eligibility reviews.
    let mut publish = Vec::new();
    let mut tax_certs = Vec::new();
    for (i, owner) in owners.iter().take(120).enumerate() {
        let (id, tx) = net.certificate(
            "tax",
            "tax-payment",
            owner,
            format!("苏税证〔2026〕第{:012}号", 320_000_000_000 + i as u64),
            "2026-11-05",
            &[
                ("tax_kind", "个人所得税".into()),
                ("period", "2024-11..2026-10".into()),
            ],
            json!({"period": "2024-11..2026-10", "months": 24}),
        );
        publish.push(tx);
        tax_certs.push(id);
    }
    net.batch("tax publishes tax payment certificates", publish)
        .await;
    let reads = tax_certs
        .iter()
        .map(|id| {
            let read = Kind::Request(pb::RequestAccess {
                cert_id: id.clone(),
                purpose: "housing_eligibility".into(),
            });
            ("housing".to_string(), read)
        })
        .collect();
    let receipts = net
        .batch("housing reads them for eligibility reviews", reads)
        .await;
    assert!(
        receipts
            .iter()
            .all(|r| event::<Access>(r).is_some_and(|a| a.allowed())),
        "housing's reads of tax certificates were not all allowed"
    );
    let earned = net.balances();
    let released = net
        .custodian_round("custodian releases housing's key shares")
        .await;
    assert_eq!(released, 120, "a key share for each of housing's reads");
    let retry = json!({"transfers": [{"certificate": blocked, "declared_price_yuan": 2_360_000, "area_m2_centi": 8_946, "buyer_first_home": true}]});
    let retry = net.call_ok("tax", "tax-assessment", "assess", retry).await;
    assert!(
        retry["denied"].is_null(),
        "the tax bureau is still denied after earning points: {retry}"
    );
    assert!(
        earned["tax"] > out_of_points["tax"] + price,
        "the tax bureau earned nothing from sharing"
    );
}

/// The registry publishes `n` property titles (in batches); returns their owners'
/// national IDs and the titles with their areas.
async fn publish_titles(net: &mut Net, n: u64) -> (Vec<String>, Vec<(String, u64)>) {
    let districts = [
        ("320102", "玄武区"),
        ("320104", "秦淮区"),
        ("320105", "建邺区"),
        ("320106", "鼓楼区"),
        ("320111", "浦口区"),
        ("320113", "栖霞区"),
        ("320114", "雨花台区"),
        ("320115", "江宁区"),
    ];
    let mut owners = Vec::new();
    let mut publish = Vec::new();
    let mut titles = Vec::new();
    for i in 0..n {
        let (code, district) = districts[i as usize % districts.len()];
        let birth = format!("19{}{:02}{:02}", 60 + i % 40, 1 + i % 12, 1 + i % 28);
        let owner = crate::national_id(code, &birth, (i % 999) as u32 + 1);
        let usage = if i % 10 == 7 { "商业" } else { "住宅" };
        let (id, tx) = net.certificate(
            "real-estate",
            "property",
            &owner,
            format!("苏(2026)南京市不动产权第{:07}号", 1_000_000 + i),
            "2026-06-18",
            &[("district", district.into()), ("usage", usage.into()), ("ownership", "sole".into())],
            json!({"location": format!("南京市{district}某路 {} 号", 10 + i % 300), "area_m2": format!("{}.{:02}", 60 + i % 120, i % 100)}),
        );
        publish.push(tx);
        titles.push((id, 60 + i % 120));
        owners.push(owner);
    }
    net.batch("real-estate publishes property titles", publish)
        .await;
    (owners, titles)
}

/// `tax-assessment.assess` over 100 titles a call until a read is denied; returns the
/// denied certificate.
async fn assess_until_denied(net: &mut Net, titles: &[(String, u64)]) -> String {
    let mut done = 0usize;
    while done < titles.len() {
        let transfers: Vec<Value> = titles[done..(done + 100).min(titles.len())]
            .iter()
            .enumerate()
            .map(|(k, (id, area))| json!({"certificate": id, "declared_price_yuan": 1_850_000 + (k as u64 % 7) * 130_000, "area_m2_centi": area * 100 + 46, "buyer_first_home": k % 3 != 0}))
            .collect();
        let report = net
            .call_ok(
                "tax",
                "tax-assessment",
                "assess",
                json!({"transfers": transfers}),
            )
            .await;
        done += report["assessed"].as_array().map_or(0, Vec::len);
        if !report["denied"].is_null() {
            return report["denied"]["certificate"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
    }
    panic!("the tax bureau never ran out of points");
}

/// The reason of `dept`'s last denied read of `cert`, from the audit log.
fn last_denial(net: &Net, dept: &str, cert: &str) -> String {
    let q = pb::AuditQuery {
        requester: dept.into(),
        cert_id: cert.into(),
        decision: pb::Decision::Deny as i32,
        limit: 1000,
        ..Default::default()
    };
    let page =
        govchain_state::access::audit::query(net.chain.store(), &q, 10_000).expect("audit query");
    page.records
        .last()
        .map(|r| r.reason.clone())
        .unwrap_or_default()
}

/// The audit trail of the first three citizens, exported with proofs and verified
/// against genesis alone; one pinned line per citizen.
pub(super) fn audit_trail(net: &mut Net) {
    for who in net.citizens.clone().iter().take(3) {
        let q = pb::AuditQuery {
            subject_id: hex::decode(&who.subject).expect("hex"),
            limit: 10_000,
            ..Default::default()
        };
        let export =
            govchain_state::access::audit::export(net.chain.store(), &net.genesis.chain_id, &q)
                .expect("audit export");
        let file = ExportFile::from_export(&export, &q).expect("an export file");
        let n = file
            .verify(&net.genesis.anchor())
            .unwrap_or_else(|e| panic!("{}'s audit records do not verify: {e}", who.name));
        assert!(n > 0, "no audit records for {}", who.name);
        net.lines.push(format!(
            "audit {} records={n} headers={} export={}",
            who.subject,
            file.headers.len(),
            hex::encode(sm3(&govchain_types::encode(&export)))
        ));
    }
}
