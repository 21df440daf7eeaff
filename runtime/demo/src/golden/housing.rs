//! The demo's contract deployment and scenario 1, housing purchase eligibility
//! (`demo.rs`: `deploy`, `housing_eligibility`), transaction for transaction.

use govchain_client::event::{Access, ProposalCreated};
use govchain_crypto::sm3;
use govchain_node::output::receipt_error;
use govchain_state::governance;
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use serde_json::{Value, json};

use super::harness::{Citizen, Net, event};
use crate::month_back;

/// The demo's contracts and their artifacts.
const CONTRACTS: [(&str, &str); 3] = [
    ("housing-eligibility", "housing_eligibility.wasm"),
    ("risk-model", "risk_model.wasm"),
    ("tax-assessment", "tax_assessment.wasm"),
];

/// The built contracts (`scripts/build-contracts.sh`).
pub(super) fn contracts() -> Vec<(&'static str, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/artifacts");
    CONTRACTS
        .iter()
        .map(|(name, file)| {
            let p = dir.join(file);
            let code = std::fs::read(&p).unwrap_or_else(|e| {
                panic!(
                    "reading {}: {e} (build the contracts with scripts/build-contracts.sh)",
                    p.display()
                )
            });
            (*name, code)
        })
        .collect()
}

/// Proposes `action` as `proposer`; the other committee members approve it, in genesis
/// order, while it is open. Returns the approvers.
pub(super) async fn govern(
    net: &mut Net,
    proposer: &str,
    action: pb::proposal::Action,
    description: &str,
) -> Vec<String> {
    let proposal = Kind::Propose(pb::Proposal {
        action: Some(action),
        description: description.into(),
        voting_period: 0,
    });
    let r = net
        .ok(
            proposer,
            proposal,
            &format!("{proposer} proposes: {description}"),
        )
        .await;
    let id = event::<ProposalCreated>(&r).expect("a proposal").id;
    let status = |net: &Net| {
        govchain_state::query::proposals(net.chain.store())
            .expect("proposals")
            .into_iter()
            .find(|p| p.id == id)
            .expect("the proposal")
    };
    let members = net.genesis.committee.members.clone();
    for m in members.iter().filter(|m| *m != proposer) {
        if status(net).status != pb::ProposalStatus::Open as i32 {
            break;
        }
        let vote = Kind::Vote(pb::Vote {
            proposal_id: id,
            approve: true,
        });
        net.ok(m, vote, &format!("{m} approves proposal {id}"))
            .await;
    }
    let p = status(net);
    assert_eq!(
        p.status,
        pb::ProposalStatus::Approved as i32,
        "proposal {id} ({description}) was not approved"
    );
    p.approvals
}

/// The committee approves the three contracts (the housing authority proposes each).
pub(super) async fn deploy(net: &mut Net, code: &[(&str, Vec<u8>)]) {
    for (name, wasm) in code {
        let action = pb::proposal::Action::Deploy(pb::DeployContract {
            name: name.to_string(),
            code: wasm.clone(),
        });
        govern(net, "housing", action, &format!("deploy {name}")).await;
        let o = govchain_state::Overlay::new(net.chain.store().clone());
        let c = governance::contract(&o, name).expect("the deployed contract");
        assert_eq!(
            c.code_hash,
            sm3(wasm),
            "{name}: the deployed code is not the built artifact"
        );
    }
}

/// Scenario 1; returns the id of 张伟's tax payment certificate (scenario 2 runs over it).
pub(super) async fn housing_eligibility(net: &mut Net) -> String {
    let zhang = net.citizen("张伟", "320106", "19880314", 131);
    let li = net.citizen("李娜", "320104", "19900722", 262);
    let chen = net.citizen("陈静", "341102", "19950908", 384);
    let ids = publish_certificates(net, &zhang, &li, &chen).await;
    let before = net.balances();
    let (app_a, app_b) = ("NJZF-2026-000001", "NJZF-2026-000002");
    for (app, who, district) in [(app_a, &zhang, "320106"), (app_b, &chen, "320113")] {
        net.call_ok(
            "housing",
            "housing-eligibility",
            "open",
            json!({"application": app, "subject_id": who.subject, "district": district}),
        )
        .await;
    }
    application_a(net, &ids, &zhang, &li, app_a).await;
    application_b(net, &ids, &zhang, app_b).await;
    let after = net.balances();
    assert!(
        after["housing"] < before["housing"],
        "housing paid nothing for its reads"
    );
    ids.z_tax
}

/// The certificates scenario 1 cites.
struct Ids {
    z_household: String,
    z_marriage: String,
    l_title: String,
    l_loan: String,
    z_tax: String,
    z_social: String,
    c_household: String,
    c_marriage: String,
    c_tax: String,
    c_social: String,
}

/// One certificate as the demo writes it: issuer, type, holder, number, issue date,
/// metadata and document.
type Spec<'a> = (
    &'a str,
    &'a str,
    &'a Citizen,
    String,
    &'a str,
    Vec<(&'a str, String)>,
    Value,
);

/// 张伟's and 李娜's certificates (application A).
fn couple<'a>(zhang: &'a Citizen, li: &'a Citizen) -> Vec<Spec<'a>> {
    let ym = |m: u32| month_back("2026-10", m);
    let months = |n: u32| -> Vec<Value> {
        (0..n).rev().map(|i| json!({"month": ym(i), "taxable_income": format!("{}.00", 21_500 + (i % 3) * 400), "tax_paid": format!("{}.00", 640 + (i % 3) * 40)})).collect()
    };
    let z_tax_number = format!("苏税证〔2026〕第{:012}号", 320_106_000_000u64);
    vec![
        (
            "public-security",
            "household",
            zhang,
            "宁公户〔2026〕00000001号".into(),
            "2026-03-02",
            vec![
                ("registration_district", "320106".into()),
                ("household_type", "family".into()),
            ],
            json!({"name": zhang.name, "address": "南京市鼓楼区中山北路 208 号 3 栋 502 室", "relation": "户主", "registered_since": "2012-09-01"}),
        ),
        (
            "civil-affairs",
            "marriage",
            zhang,
            "J320106-2016-000000".into(),
            "2016-05-20",
            vec![
                ("registration_office", "南京市鼓楼区民政局婚姻登记处".into()),
                ("record_kind", "marriage".into()),
            ],
            json!({"spouses": [zhang.name, li.name], "registered_on": "2016-05-20"}),
        ),
        (
            "real-estate",
            "property",
            li,
            format!("苏(2019)南京市不动产权第{:07}号", 87_421),
            "2019-08-16",
            vec![
                ("district", "秦淮区".into()),
                ("usage", "住宅".into()),
                ("ownership", "joint".into()),
            ],
            json!({"location": "南京市秦淮区龙蟠中路 329 号 6 幢 1101 室", "area_m2": "98.62", "holders": [li.name, zhang.name]}),
        ),
        (
            "bank",
            "mortgage",
            li,
            "NJB-HL-2019-000000".into(),
            "2019-09-01",
            vec![("loan_kind", "商业".into())],
            json!({"borrower": li.name, "outstanding_yuan": "1036500.00", "term_months": 360}),
        ),
        // The document carries the monthly records the bank's model reads in scenario 2.
        (
            "tax",
            "tax-payment",
            zhang,
            z_tax_number.clone(),
            "2026-11-02",
            vec![
                ("tax_kind", "个人所得税".into()),
                ("period", "2023-11..2026-10".into()),
            ],
            json!({"number": z_tax_number, "taxpayer": zhang.name, "tax_kind": "个人所得税",
                   "withholding_agent": "南京新华软件科技有限公司", "period": "2023-11..2026-10", "records": months(36)}),
        ),
        (
            "social-security",
            "social-insurance",
            zhang,
            "宁社保证〔2026〕00000000号".into(),
            "2026-11-03",
            vec![
                ("insurance_kind", "养老".into()),
                ("period", "2023-11..2026-10".into()),
            ],
            json!({"insured": zhang.name, "employer": "南京新华软件科技有限公司", "months_paid": 36}),
        ),
    ]
}

/// 陈静's certificates (application B).
fn non_local(chen: &Citizen) -> Vec<Spec<'_>> {
    vec![
        (
            "public-security",
            "household",
            chen,
            "宁公户〔2026〕00000002号".into(),
            "2026-04-11",
            vec![
                ("registration_district", "341102".into()),
                ("household_type", "family".into()),
            ],
            json!({"name": chen.name, "address": "安徽省滁州市琅琊区南谯北路 66 号", "residence_permit": "南京市居住证 3201062024xxxx"}),
        ),
        (
            "civil-affairs",
            "marriage",
            chen,
            "N320106-2026-000000".into(),
            "2026-10-12",
            vec![
                ("registration_office", "南京市鼓楼区民政局婚姻登记处".into()),
                ("record_kind", "no-record".into()),
            ],
            json!({"name": chen.name, "statement": "无婚姻登记记录"}),
        ),
        (
            "tax",
            "tax-payment",
            chen,
            format!("苏税证〔2026〕第{:012}号", 320_106_500_000u64),
            "2026-11-02",
            vec![
                ("tax_kind", "个人所得税".into()),
                ("period", "2025-09..2026-10".into()),
            ],
            json!({"taxpayer": chen.name, "period": "2025-09..2026-10", "records": 14}),
        ),
        (
            "social-security",
            "social-insurance",
            chen,
            format!("宁社保证〔2026〕{:08}号", 50_000_000),
            "2026-11-03",
            vec![
                ("insurance_kind", "养老".into()),
                ("period", "2025-09..2026-10".into()),
            ],
            json!({"insured": chen.name, "months_paid": 14}),
        ),
    ]
}

/// The ten certificates of the three citizens, published in one batch.
async fn publish_certificates(net: &mut Net, zhang: &Citizen, li: &Citizen, chen: &Citizen) -> Ids {
    let specs = couple(zhang, li).into_iter().chain(non_local(chen));
    let mut ids = Vec::new();
    let mut out = Vec::new();
    for (issuer, ty, who, number, issued, meta, doc) in specs {
        let (id, tx) = net.certificate(issuer, ty, &who.national_id, number, issued, &meta, doc);
        ids.push(id);
        out.push(tx);
    }
    net.batch("departments publish the citizens' certificates", out)
        .await;
    let mut ids = ids.into_iter();
    let mut next = || ids.next().expect("ten certificates");
    Ids {
        z_household: next(),
        z_marriage: next(),
        l_title: next(),
        l_loan: next(),
        z_tax: next(),
        z_social: next(),
        c_household: next(),
        c_marriage: next(),
        c_tax: next(),
        c_social: next(),
    }
}

/// The purchase rules the housing authority attests.
fn rules() -> Value {
    json!({"kind": "purchase_rules", "rules_document": "宁房规〔2025〕2号", "local_max_homes": 2, "nonlocal_max_homes": 1, "nonlocal_min_months": 24})
}

/// `dept` attests `attestation` for `app`, which must succeed.
async fn attest(net: &mut Net, dept: &str, app: &str, attestation: Value) {
    let args = json!({"application": app, "attestation": attestation});
    net.call_ok(dept, "housing-eligibility", "attest", args)
        .await;
}

/// 张伟's application: seven attestations, the decision, the eligibility certificate,
/// the bank's read of it and the key share released for that read.
async fn application_a(net: &mut Net, ids: &Ids, zhang: &Citizen, li: &Citizen, app: &str) {
    let attestations = [
        (
            "public-security",
            json!({"kind": "household", "certificate": ids.z_household, "registration_district": "320106", "local": true}),
        ),
        (
            "civil-affairs",
            json!({"kind": "marital_status", "certificate": ids.z_marriage, "status": "married", "spouse_subject_id": li.subject}),
        ),
        (
            "real-estate",
            json!({"kind": "homes_owned", "certificates": [ids.l_title], "count": 1}),
        ),
        (
            "tax",
            json!({"kind": "tax_record", "certificate": ids.z_tax, "months_paid_last_36": 36}),
        ),
        (
            "social-security",
            json!({"kind": "social_insurance", "certificate": ids.z_social, "months_paid_last_36": 36}),
        ),
        ("housing", rules()),
        (
            "bank",
            json!({"kind": "outstanding_loans", "certificates": [ids.l_loan], "count": 1}),
        ),
    ];
    for (dept, att) in attestations {
        attest(net, dept, app, att).await;
    }
    let decision = net
        .call_ok(
            "housing",
            "housing-eligibility",
            "decide",
            json!({"application": app}),
        )
        .await;
    assert!(
        decision["eligible"] == true && decision["homes_allowed"] == 1,
        "application {app}: expected eligible for 1 more home, got {decision}"
    );
    let number = decision["certificate"]["number"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let valid_until = decision["certificate"]["valid_until"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (eligibility, tx) = net.certificate(
        "housing",
        "housing-eligibility",
        &zhang.national_id,
        number.clone(),
        decision["decided_on"].as_str().unwrap_or_default(),
        &[("district", "320106".into()), ("homes_allowed", decision["homes_allowed"].to_string())],
        json!({"number": number, "holder": zhang.name, "spouse": li.name, "district": "鼓楼区",
               "homes_allowed": decision["homes_allowed"], "valid_until": valid_until,
               "application": app, "rules": decision["rules_document"], "basis_audit_records": decision["audit_seqs"]}),
    );
    net.ok(&tx.0, tx.1, "housing issues the eligibility certificate")
        .await;
    let read = Kind::Request(pb::RequestAccess {
        cert_id: eligibility,
        purpose: "mortgage_review".into(),
    });
    let r = net
        .ok("bank", read, "bank reads the eligibility certificate")
        .await;
    let access = event::<Access>(&r).expect("a gate decision");
    assert!(
        access.allowed(),
        "the bank may read the eligibility certificate for a mortgage review: {}",
        access.reason
    );
    let released = net
        .custodian_round("custodian releases the bank's key share")
        .await;
    assert_eq!(released, 1, "one key share for the bank's read");
}

/// 陈静's application: six attestations, two refusals (a missing and a contradictory
/// attestation), the corrections and a reasoned NOT ELIGIBLE.
async fn application_b(net: &mut Net, ids: &Ids, zhang: &Citizen, app: &str) {
    let attestations = [
        (
            "public-security",
            json!({"kind": "household", "certificate": ids.c_household, "registration_district": "341102", "local": false}),
        ),
        (
            "civil-affairs",
            json!({"kind": "marital_status", "certificate": ids.c_marriage, "status": "married", "spouse_subject_id": zhang.subject}),
        ),
        (
            "real-estate",
            json!({"kind": "homes_owned", "certificates": [], "count": 0}),
        ),
        (
            "tax",
            json!({"kind": "tax_record", "certificate": ids.c_tax, "months_paid_last_36": 14}),
        ),
        (
            "social-security",
            json!({"kind": "social_insurance", "certificate": ids.c_social, "months_paid_last_36": 14}),
        ),
        ("housing", rules()),
    ];
    for (dept, att) in attestations {
        attest(net, dept, app, att).await;
    }
    let refused = refusal(net, app).await;
    assert!(
        refused.contains("bank"),
        "expected a refusal naming the bank, got: {refused}"
    );
    attest(
        net,
        "bank",
        app,
        json!({"kind": "outstanding_loans", "certificates": [], "count": 0}),
    )
    .await;
    let refused = refusal(net, app).await;
    assert!(
        refused.contains("civil-affairs"),
        "expected a refusal naming civil-affairs, got: {refused}"
    );
    let single =
        json!({"kind": "marital_status", "certificate": ids.c_marriage, "status": "single"});
    attest(net, "civil-affairs", app, single).await;
    let decision = net
        .call_ok(
            "housing",
            "housing-eligibility",
            "decide",
            json!({"application": app}),
        )
        .await;
    assert!(
        decision["eligible"] == false,
        "application {app}: expected ineligible, got {decision}"
    );
}

/// The error of a `decide` that must fail.
async fn refusal(net: &mut Net, app: &str) -> String {
    let r = net
        .call(
            "housing",
            "housing-eligibility",
            "decide",
            json!({"application": app}),
        )
        .await;
    receipt_error(&r).unwrap_or_else(|| panic!("deciding {app} should have been refused"))
}
