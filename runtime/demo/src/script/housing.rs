//! Scenario 1, housing purchase eligibility (购房资格证明): seven departments attest,
//! the `housing-eligibility` contract reads through the gate and decides; the housing
//! authority issues the e-certificate, and the bank reads and opens it.

use anyhow::{Context, bail, ensure};
use govchain_client::shares::Releases;
use govchain_node::output::{receipt_error, table};
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use serde_json::{Value, json};

use super::{Citizen, Script, access, mask};
use crate::driver::Driver;

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

/// One certificate as the scenario writes it: issuer, type, holder, number, issue date,
/// metadata, document, and what the demo's table calls it.
type Spec<'a> = (
    &'a str,
    &'a str,
    &'a Citizen,
    String,
    &'a str,
    Vec<(&'a str, String)>,
    Value,
    &'a str,
);

impl<D: Driver> Script<D> {
    /// Scenario 1; returns the id of 张伟's tax payment certificate (scenario 2 runs
    /// over it).
    pub(super) async fn housing_eligibility(&mut self) -> anyhow::Result<String> {
        self.say("\n== 1. Housing purchase eligibility (购房资格证明): apply once, seven departments attest ==");
        let zhang = self.citizen("张伟", "320106", "19880314", 131)?;
        let li = self.citizen("李娜", "320104", "19900722", 262)?;
        let chen = self.citizen("陈静", "341102", "19950908", 384)?;
        let ids = self.publish_certificates(&zhang, &li, &chen).await?;
        let before = self.d.balances().await?;
        let run = self.d.run();
        let app_a = format!("NJZF-2026-{:06}", run * 10 + 1);
        let app_b = format!("NJZF-2026-{:06}", run * 10 + 2);
        for (app, who, district) in [(&app_a, &zhang, "320106"), (&app_b, &chen, "320113")] {
            let args = json!({"application": app, "subject_id": who.subject, "district": district});
            self.call_ok("housing", "housing-eligibility", "open", args)
                .await?;
        }
        let decision = self.application_a(&ids, &zhang, &li, &app_a).await?;
        let decision_b = self.application_b(&ids, &zhang, &chen, &app_b).await?;
        let after = self.d.balances().await?;
        self.say("Points: housing paid for every read (also those of the refused decisions: a read is paid and audited when made); the owners earned them:");
        let depts = [
            "housing",
            "public-security",
            "civil-affairs",
            "real-estate",
            "tax",
            "social-security",
            "bank",
        ];
        self.show(self.points_table(&before, &after, &depts));
        let spent = before["housing"].saturating_sub(after["housing"]);
        ensure!(spent > 0, "housing paid nothing for its reads");
        self.report.insert("housing_eligibility".into(), json!({
            "application": app_a, "decision": decision, "refused_application": app_b, "refused_decision": decision_b, "housing_points_spent": spent,
        }));
        self.report
            .insert("tax_certificate".into(), json!(ids.z_tax));
        Ok(ids.z_tax)
    }

    /// The ten certificates of the three citizens, published in one batch.
    async fn publish_certificates(
        &mut self,
        zhang: &Citizen,
        li: &Citizen,
        chen: &Citizen,
    ) -> anyhow::Result<Ids> {
        let run = self.d.run();
        let specs: Vec<Spec> = couple(zhang, li, run)
            .into_iter()
            .chain(non_local(chen, run))
            .collect();
        let mut ids = Vec::new();
        let mut out = Vec::new();
        let mut t = table(&["citizen (ID hashed on chain)", "certificate", "issuer"]);
        for (issuer, ty, who, number, issued, meta, doc, what) in specs {
            let (id, tx) =
                self.certificate(issuer, ty, &who.national_id, number, issued, &meta, doc)?;
            ids.push(id);
            out.push(tx);
            t.add_row([
                format!("{} {}", who.name, mask(&who.national_id)),
                what.to_string(),
                issuer.to_string(),
            ]);
        }
        self.batch(out, "departments publish the citizens' certificates")
            .await?;
        self.say("Each department publishes its own certificates, SM4-encrypted, keys in threshold custody:");
        self.show(t);
        let mut ids = ids.into_iter();
        let mut next = || ids.next().expect("ten certificates");
        Ok(Ids {
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
        })
    }

    /// `dept` attests `attestation` for `app`; its receipt, which must succeed.
    async fn attest(
        &mut self,
        dept: &str,
        app: &str,
        attestation: &Value,
    ) -> anyhow::Result<pb::Receipt> {
        let args = json!({"application": app, "attestation": attestation});
        let r = self
            .call(dept, "housing-eligibility", "attest", args)
            .await?;
        if let Some(e) = receipt_error(&r) {
            bail!("{dept}'s attestation for {app} failed: {e}");
        }
        Ok(r.receipt)
    }

    /// 张伟's application: seven attestations, the decision, the eligibility certificate,
    /// and the bank's read of it, opened with the key shares released to it. Returns
    /// the decision.
    async fn application_a(
        &mut self,
        ids: &Ids,
        zhang: &Citizen,
        li: &Citizen,
        app: &str,
    ) -> anyhow::Result<Value> {
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
        let mut t = table(&["department", "attests (signed by itself)", "height"]);
        for (dept, att) in attestations {
            let r = self.attest(dept, app, &att).await?;
            t.add_row([dept.to_string(), summary(&att), r.height.to_string()]);
        }
        self.say(&format!("{} ({}) applies once at the housing authority's window ({app}); each department attests its own part:", zhang.name, mask(&zhang.national_id)));
        self.show(t);
        let args = json!({"application": app});
        let decision = self
            .call_ok("housing", "housing-eligibility", "decide", args)
            .await?;
        ensure!(
            decision["eligible"] == true && decision["homes_allowed"] == 1,
            "application {app}: expected eligible for 1 more home, got {decision}"
        );
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let number = text(&decision["certificate"]["number"]);
        let valid_until = text(&decision["certificate"]["valid_until"]);
        self.say(&format!(
            "The contract read {} certificates through the gate (as housing, purpose housing_eligibility, paid and audited) and decided: ELIGIBLE for {} more home in 鼓楼区 under {} — certificate {number}, valid until {valid_until}.",
            decision["audit_seqs"].as_array().map_or(0, Vec::len),
            decision["homes_allowed"],
            text(&decision["rules_document"]),
        ));
        // The housing authority issues the e-certificate the contract decided; a lender
        // may read it for a mortgage review.
        let (eligibility, tx) = self.certificate(
            "housing",
            "housing-eligibility",
            &zhang.national_id,
            number.clone(),
            &text(&decision["decided_on"]),
            &[("district", "320106".into()), ("homes_allowed", decision["homes_allowed"].to_string())],
            json!({"number": number, "holder": zhang.name, "spouse": li.name, "district": "鼓楼区",
                   "homes_allowed": decision["homes_allowed"], "valid_until": valid_until,
                   "application": app, "rules": decision["rules_document"], "basis_audit_records": decision["audit_seqs"]}),
        )?;
        self.ok(&tx.0, tx.1, "housing issues the eligibility certificate")
            .await?;
        self.bank_reads(&eligibility, &number).await?;
        Ok(decision)
    }

    /// The bank reads the eligibility certificate `id` (number `number`) for a mortgage
    /// review, waits for the key shares released to it and opens the document, checked
    /// against genesis.
    async fn bank_reads(&mut self, id: &str, number: &str) -> anyhow::Result<()> {
        let read = Kind::Request(pb::RequestAccess {
            cert_id: id.into(),
            purpose: "mortgage_review".into(),
        });
        let r = self
            .ok("bank", read, "bank reads the eligibility certificate")
            .await?;
        let a = access(&r)?;
        ensure!(
            a.allowed(),
            "the bank may read the eligibility certificate for a mortgage review: {}",
            a.reason
        );
        let (request, reason) = (a.request, a.reason.clone());
        self.d
            .released(&[request], "custodian releases the bank's key share")
            .await?;
        let response = self.d.releases(request).await?;
        let p = self.d.parties();
        let opened =
            Releases::verify(response, request, &p.signers["bank"], &p.trust)?.open(&p.trust)?;
        let doc: Value = serde_json::from_slice(&opened.document)
            .context("the eligibility certificate's document is not JSON")?;
        ensure!(
            doc["number"] == number,
            "the bank opened another document than certificate {number}: {doc}"
        );
        self.report.insert(
            "mortgage_review".into(),
            json!({"request": request, "certificate": number, "opened_with": opened.combined}),
        );
        self.say(&format!(
            "The housing authority issues {number} as an e-certificate (SM4-encrypted, signed); the bank reads it for its mortgage review: ALLOWED ({reason}). It opens the document with {} key share(s) released to it by {} (checked against genesis: custody key set, SM3 content hash, the issuer's SM2 signature): {} may buy {} more home in {} until {}.",
            opened.combined.len(),
            opened.combined.join(", "),
            doc["holder"].as_str().unwrap_or_default(),
            doc["homes_allowed"],
            doc["district"].as_str().unwrap_or_default(),
            doc["valid_until"].as_str().unwrap_or_default(),
        ));
        Ok(())
    }

    /// 陈静's application: six attestations, two refusals (a missing and a
    /// contradictory attestation), the corrections and a reasoned NOT ELIGIBLE. Returns
    /// the decision.
    async fn application_b(
        &mut self,
        ids: &Ids,
        zhang: &Citizen,
        chen: &Citizen,
        app: &str,
    ) -> anyhow::Result<Value> {
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
            self.attest(dept, app, &att).await?;
        }
        let mut t = table(&["step", "outcome"]);
        let refused = self.refusal(app).await?;
        ensure!(
            refused.contains("bank"),
            "expected a refusal naming the bank, got: {refused}"
        );
        t.add_row(["decide without the bank's attestation".to_string(), refused]);
        let no_loans = json!({"kind": "outstanding_loans", "certificates": [], "count": 0});
        self.attest("bank", app, &no_loans).await?;
        let refused = self.refusal(app).await?;
        ensure!(
            refused.contains("civil-affairs"),
            "expected a refusal naming civil-affairs, got: {refused}"
        );
        t.add_row(["bank attests no loans; decide again".to_string(), refused]);
        let single =
            json!({"kind": "marital_status", "certificate": ids.c_marriage, "status": "single"});
        self.attest("civil-affairs", app, &single).await?;
        let args = json!({"application": app});
        let decision = self
            .call_ok("housing", "housing-eligibility", "decide", args)
            .await?;
        ensure!(
            decision["eligible"] == false,
            "application {app}: expected ineligible, got {decision}"
        );
        let reasons: Vec<&str> = decision["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        t.add_row([
            "civil-affairs corrects to 'single'; decide".to_string(),
            format!("NOT ELIGIBLE: {}", reasons.join("; ")),
        ]);
        self.say(&format!(
            "{} ({app}, non-local) shows the refusals:",
            chen.name
        ));
        self.show(t);
        Ok(decision)
    }

    /// Why the housing authority's `decide` of `app` fails; an error if it succeeds.
    async fn refusal(&mut self, app: &str) -> anyhow::Result<String> {
        let args = json!({"application": app});
        let r = self
            .call("housing", "housing-eligibility", "decide", args)
            .await?;
        let e = receipt_error(&r)
            .with_context(|| format!("deciding {app} should have been refused"))?;
        Ok(e.split_once("failed: ")
            .map_or(e.clone(), |(_, m)| m.to_string()))
    }
}

/// 张伟's and 李娜's certificates (application A); `run` makes the numbers unique.
fn couple<'a>(zhang: &'a Citizen, li: &'a Citizen, run: u64) -> Vec<Spec<'a>> {
    let ym = |m: u32| month_back("2026-10", m);
    let months = |n: u32| -> Vec<Value> {
        (0..n).rev().map(|i| json!({"month": ym(i), "taxable_income": format!("{}.00", 21_500 + (i % 3) * 400), "tax_paid": format!("{}.00", 640 + (i % 3) * 40)})).collect()
    };
    let z_tax_number = format!("苏税证〔2026〕第{:012}号", 320_106_000_000 + run);
    vec![
        (
            "public-security",
            "household",
            zhang,
            format!("宁公户〔2026〕{run:06}01号"),
            "2026-03-02",
            vec![
                ("registration_district", "320106".into()),
                ("household_type", "family".into()),
            ],
            json!({"name": zhang.name, "address": "南京市鼓楼区中山北路 208 号 3 栋 502 室", "relation": "户主", "registered_since": "2012-09-01"}),
            "household registration 户籍 (鼓楼区)",
        ),
        (
            "civil-affairs",
            "marriage",
            zhang,
            format!("J320106-2016-{run:06}"),
            "2016-05-20",
            vec![
                ("registration_office", "南京市鼓楼区民政局婚姻登记处".into()),
                ("record_kind", "marriage".into()),
            ],
            json!({"spouses": [zhang.name, li.name], "registered_on": "2016-05-20"}),
            "marriage record 婚姻登记 (with 李娜)",
        ),
        (
            "real-estate",
            "property",
            li,
            format!("苏(2019)南京市不动产权第{:07}号", 87_421 + run),
            "2019-08-16",
            vec![
                ("district", "秦淮区".into()),
                ("usage", "住宅".into()),
                ("ownership", "joint".into()),
            ],
            json!({"location": "南京市秦淮区龙蟠中路 329 号 6 幢 1101 室", "area_m2": "98.62", "holders": [li.name, zhang.name]}),
            "property title 不动产权证 (秦淮区, joint)",
        ),
        (
            "bank",
            "mortgage",
            li,
            format!("NJB-HL-2019-{run:06}"),
            "2019-09-01",
            vec![("loan_kind", "商业".into())],
            json!({"borrower": li.name, "outstanding_yuan": "1036500.00", "term_months": 360}),
            "mortgage statement 房贷记录",
        ),
        // The document carries the monthly records the bank's model reads in scenario 2
        // (on the tax bureau's node only).
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
            "tax payments 完税证明 (36 months)",
        ),
        (
            "social-security",
            "social-insurance",
            zhang,
            format!("宁社保证〔2026〕{run:08}号"),
            "2026-11-03",
            vec![
                ("insurance_kind", "养老".into()),
                ("period", "2023-11..2026-10".into()),
            ],
            json!({"insured": zhang.name, "employer": "南京新华软件科技有限公司", "months_paid": 36}),
            "social insurance 社保缴费 (36 months)",
        ),
    ]
}

/// 陈静's certificates (application B); `run` makes the numbers unique.
fn non_local(chen: &Citizen, run: u64) -> Vec<Spec<'_>> {
    vec![
        (
            "public-security",
            "household",
            chen,
            format!("宁公户〔2026〕{run:06}02号"),
            "2026-04-11",
            vec![
                ("registration_district", "341102".into()),
                ("household_type", "family".into()),
            ],
            json!({"name": chen.name, "address": "安徽省滁州市琅琊区南谯北路 66 号", "residence_permit": "南京市居住证 3201062024xxxx"}),
            "household registration (滁州, non-local)",
        ),
        (
            "civil-affairs",
            "marriage",
            chen,
            format!("N320106-2026-{run:06}"),
            "2026-10-12",
            vec![
                ("registration_office", "南京市鼓楼区民政局婚姻登记处".into()),
                ("record_kind", "no-record".into()),
            ],
            json!({"name": chen.name, "statement": "无婚姻登记记录"}),
            "no-marriage-record certificate",
        ),
        (
            "tax",
            "tax-payment",
            chen,
            format!("苏税证〔2026〕第{:012}号", 320_106_500_000 + run),
            "2026-11-02",
            vec![
                ("tax_kind", "个人所得税".into()),
                ("period", "2025-09..2026-10".into()),
            ],
            json!({"taxpayer": chen.name, "period": "2025-09..2026-10", "records": 14}),
            "tax payments (14 months)",
        ),
        (
            "social-security",
            "social-insurance",
            chen,
            format!("宁社保证〔2026〕{:08}号", 50_000_000 + run),
            "2026-11-03",
            vec![
                ("insurance_kind", "养老".into()),
                ("period", "2025-09..2026-10".into()),
            ],
            json!({"insured": chen.name, "months_paid": 14}),
            "social insurance (14 months)",
        ),
    ]
}

/// The purchase rules the housing authority attests.
fn rules() -> Value {
    json!({"kind": "purchase_rules", "rules_document": "宁房规〔2025〕2号", "local_max_homes": 2, "nonlocal_max_homes": 1, "nonlocal_min_months": 24})
}

/// The month `back` months before `from` (YYYY-MM).
fn month_back(from: &str, back: u32) -> String {
    let (y, m) = from.split_once('-').expect("YYYY-MM");
    let total = y.parse::<u32>().expect("year") * 12 + m.parse::<u32>().expect("month") - 1 - back;
    format!("{}-{:02}", total / 12, total % 12 + 1)
}

/// One line saying what an attestation states.
fn summary(a: &Value) -> String {
    match a["kind"].as_str().unwrap_or_default() {
        "household" => format!(
            "household registered in {} (local: {})",
            a["registration_district"].as_str().unwrap_or(""),
            a["local"]
        ),
        "marital_status" => format!("marital status: {}", a["status"].as_str().unwrap_or("")),
        "homes_owned" => format!("family owns {} home(s)", a["count"]),
        "tax_record" => format!(
            "{} months of income tax paid in Nanjing",
            a["months_paid_last_36"]
        ),
        "social_insurance" => format!(
            "{} months of social insurance paid",
            a["months_paid_last_36"]
        ),
        "purchase_rules" => format!(
            "rules {}: local ≤ {} homes, non-local ≤ {} with {} months",
            a["rules_document"].as_str().unwrap_or(""),
            a["local_max_homes"],
            a["nonlocal_max_homes"],
            a["nonlocal_min_months"]
        ),
        "outstanding_loans" => format!("{} outstanding housing loan(s)", a["count"]),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_count_back() {
        assert_eq!(month_back("2026-10", 0), "2026-10");
        assert_eq!(month_back("2026-10", 10), "2025-12");
        assert_eq!(month_back("2026-10", 35), "2023-11");
    }
}
