//! Scenario 3, the sharing incentive: the tax bureau reads property titles through
//! `tax-assessment` until its points run out, publishes its own certificates, earns
//! from their reads, and reads again.

use std::collections::BTreeMap;

use anyhow::{Context, ensure};
use govchain_client::event::Access;
use govchain_node::output::table;
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use serde_json::{Value, json};

use super::{Script, national_id};
use crate::driver::Driver;

/// The policy line the scenario has governance add.
const TAX_READS_PROPERTY: &str = "p, tax, property, read, tax_assessment, allow";

/// Points per property title read.
const PRICE: u64 = 5;

/// Tax certificates the tax bureau shares.
const SHARED: usize = 120;

/// Titles per `tax-assessment.assess` call.
const PER_CALL: usize = 100;

impl<D: Driver> Script<D> {
    /// Scenario 3.
    pub(super) async fn sharing_incentive(&mut self) -> anyhow::Result<()> {
        self.say("\n== 3. Sharing incentive: the tax bureau reads until its points run out, then shares ==");
        if !self
            .d
            .policy()
            .await?
            .iter()
            .any(|l| l == TAX_READS_PROPERTY)
        {
            let change = pb::proposal::Action::Policy(pb::PolicyChange {
                add: vec![TAX_READS_PROPERTY.into()],
                remove: vec![],
            });
            let description = "let the tax bureau read property titles for deed-tax assessment";
            let approvers = self.govern("tax", change, description).await?;
            self.say(&format!(
                "The committee approves '{TAX_READS_PROPERTY}' ({}).",
                approvers.join(", ")
            ));
        }
        let start = self.d.balances().await?;
        let reads_needed = start["tax"] / PRICE + 1;
        ensure!(
            reads_needed <= 20_000,
            "the tax bureau holds {} points: too many to spend in a demo",
            start["tax"]
        );
        let (owners, titles) = self.publish_titles(reads_needed + 9).await?;
        self.say(&format!("The registry publishes {} property titles; the tax bureau holds {} points, {PRICE} per title read.", titles.len(), start["tax"]));
        let (done, blocked) = self.assess_until_denied(&titles).await?;
        let out_of_points = self.d.balances().await?;
        let reason = self.last_denial("tax", &blocked).await?;
        ensure!(
            reason.contains("insufficient points"),
            "expected an insufficient-points denial, got: {reason}"
        );
        let mut t = table(&["phase", "tax", "real-estate", "housing", "what happened"]);
        let row = |t: &mut comfy_table::Table, phase: &str, b: &BTreeMap<String, u64>, what| {
            t.add_row([
                phase.to_string(),
                b["tax"].to_string(),
                b["real-estate"].to_string(),
                b["housing"].to_string(),
                what,
            ]);
        };
        row(&mut t, "start", &start, String::new());
        let what = format!("{done} titles read and assessed, then DENIED: {reason}");
        row(&mut t, "assessing", &out_of_points, what);
        // The tax bureau shares: payment certificates of the same citizens, which the
        // housing authority reads for eligibility reviews.
        let tax_certs = self.publish_tax_certificates(&owners).await?;
        let published = self.d.balances().await?;
        let what =
            format!("{SHARED} tax payment certificates published (publish reward, capped per day)");
        row(&mut t, "publishing", &published, what);
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
        let receipts = self
            .batch(reads, "housing reads them for eligibility reviews")
            .await?;
        let requests = receipts
            .iter()
            .map(|r| match r.event::<Access>() {
                Some(a) if a.allowed() => Ok(a.request),
                _ => anyhow::bail!("housing's reads of tax certificates were not all allowed"),
            })
            .collect::<anyhow::Result<Vec<u64>>>()?;
        let earned = self.d.balances().await?;
        let what = format!("housing read them {SHARED} times (3 points each, to tax)");
        row(&mut t, "shared", &earned, what);
        self.d
            .released(&requests, "custodian releases housing's key shares")
            .await?;
        let retry = json!({"transfers": [{"certificate": blocked, "declared_price_yuan": 2_360_000, "area_m2_centi": 8_946, "buyer_first_home": true}]});
        let retry = self
            .call_ok("tax", "tax-assessment", "assess", retry)
            .await?;
        ensure!(
            retry["denied"].is_null(),
            "the tax bureau is still denied after earning points: {retry}"
        );
        let end = self.d.balances().await?;
        let what = format!(
            "the denied title is read and assessed: deed tax {} yuan",
            retry["total_tax_due_fen"].as_u64().unwrap_or(0) / 100
        );
        row(&mut t, "reading again", &end, what);
        self.show(t);
        ensure!(
            earned["tax"] > out_of_points["tax"] + PRICE,
            "the tax bureau earned nothing from sharing"
        );
        self.report.insert("sharing_incentive".into(), json!({
            "titles_assessed": done, "denied": reason, "shared_certificates": SHARED,
            "tax_points": {"start": start["tax"], "out_of_points": out_of_points["tax"], "after_sharing": earned["tax"], "end": end["tax"]},
        }));
        Ok(())
    }

    /// The registry publishes `n` property titles; returns their owners' national IDs
    /// and the titles' ids with their areas.
    async fn publish_titles(
        &mut self,
        n: u64,
    ) -> anyhow::Result<(Vec<String>, Vec<(String, u64)>)> {
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
        let run = self.d.run();
        let mut owners = Vec::new();
        let mut publish = Vec::new();
        let mut titles = Vec::new();
        for i in 0..n {
            let (code, district) = districts[i as usize % districts.len()];
            let birth = format!("19{}{:02}{:02}", 60 + i % 40, 1 + i % 12, 1 + i % 28);
            let owner = national_id(code, &birth, (i % 999) as u32 + 1);
            let usage = if i % 10 == 7 { "商业" } else { "住宅" };
            let (id, tx) = self.certificate(
                "real-estate",
                "property",
                &owner,
                format!("苏(2026)南京市不动产权第{:07}号", 1_000_000 + run * 100_000 + i),
                "2026-06-18",
                &[("district", district.into()), ("usage", usage.into()), ("ownership", "sole".into())],
                json!({"location": format!("南京市{district}某路 {} 号", 10 + i % 300), "area_m2": format!("{}.{:02}", 60 + i % 120, i % 100)}),
            )?;
            publish.push(tx);
            titles.push((id, 60 + i % 120));
            owners.push(owner);
        }
        self.batch(publish, "real-estate publishes property titles")
            .await?;
        Ok((owners, titles))
    }

    /// `tax-assessment.assess` over [`PER_CALL`] titles a call until a read is denied;
    /// returns how many were assessed and the denied certificate.
    async fn assess_until_denied(
        &mut self,
        titles: &[(String, u64)],
    ) -> anyhow::Result<(usize, String)> {
        let bar = self.progress(titles.len(), "tax assesses deed tax");
        let mut done = 0usize;
        let mut denied = None;
        while denied.is_none() && done < titles.len() {
            let transfers: Vec<Value> = titles[done..(done + PER_CALL).min(titles.len())]
                .iter()
                .enumerate()
                .map(|(k, (id, area))| json!({"certificate": id, "declared_price_yuan": 1_850_000 + (k as u64 % 7) * 130_000, "area_m2_centi": area * 100 + 46, "buyer_first_home": k % 3 != 0}))
                .collect();
            let args = json!({"transfers": transfers});
            let report = self
                .call_ok("tax", "tax-assessment", "assess", args)
                .await?;
            let n = report["assessed"].as_array().map_or(0, Vec::len);
            done += n;
            bar.inc(n as u64);
            if !report["denied"].is_null() {
                denied = report["denied"]["certificate"].as_str().map(str::to_string);
            }
        }
        bar.finish_and_clear();
        let denied = denied.context("the tax bureau never ran out of points")?;
        Ok((done, denied))
    }

    /// The tax bureau publishes [`SHARED`] tax payment certificates of `owners`; their
    /// ids.
    async fn publish_tax_certificates(&mut self, owners: &[String]) -> anyhow::Result<Vec<String>> {
        let run = self.d.run();
        let mut publish = Vec::new();
        let mut ids = Vec::new();
        for (i, owner) in owners.iter().take(SHARED).enumerate() {
            let (id, tx) = self.certificate(
                "tax",
                "tax-payment",
                owner,
                format!(
                    "苏税证〔2026〕第{:012}号",
                    320_000_000_000 + run * 1_000 + i as u64
                ),
                "2026-11-05",
                &[
                    ("tax_kind", "个人所得税".into()),
                    ("period", "2024-11..2026-10".into()),
                ],
                json!({"period": "2024-11..2026-10", "months": 24}),
            )?;
            publish.push(tx);
            ids.push(id);
        }
        self.batch(publish, "tax publishes tax payment certificates")
            .await?;
        Ok(ids)
    }

    /// The reason of `dept`'s last denied read of `cert`, from the audit log.
    async fn last_denial(&mut self, dept: &str, cert: &str) -> anyhow::Result<String> {
        let q = pb::AuditQuery {
            requester: dept.into(),
            cert_id: cert.into(),
            decision: pb::Decision::Deny as i32,
            limit: 1000,
            ..Default::default()
        };
        let page = self.d.audit_query(q).await?;
        Ok(page
            .records
            .last()
            .map(|r| r.reason.clone())
            .unwrap_or_default())
    }
}
