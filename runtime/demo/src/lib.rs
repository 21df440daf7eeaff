//! `govchain demo`: the three government scenarios end to end, on an embedded
//! one-validator chain (run by the tax bureau, so its node executes compute jobs over tax
//! records) or on a running network (`--endpoint`, with its folder as `--home`).
//!
//! 1. Housing purchase eligibility (购房资格证明): seven departments attest, the
//!    `housing-eligibility` contract reads through the gate and decides.
//! 2. Compute-to-data: the bank's `risk-model` runs on the tax bureau's node over a tax
//!    payment certificate the bank may not read; the bank gets a signed score.
//! 3. Sharing incentive: the tax bureau reads property titles (`tax-assessment`) until
//!    its points run out, publishes its own records, earns from their reads, reads again.
//!
//! Every step checks what it expects; any surprise ends the demo with an error (non-zero
//! exit). The audit trail of the scenarios' citizens is exported with proofs and
//! verified against the validator keys in genesis.

#[cfg(test)]
mod golden;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use govchain_client::event::{Access, ComputeRequested, ProposalCreated};
use govchain_client::rpc::*;
use govchain_client::seal::seal_certificate;
use govchain_client::{Client, ClientError, Entropy, Receipt, Signer};
use govchain_crypto::sm3;
use govchain_node::network::connect_checked;
use govchain_node::network::custody_key_set;
use govchain_node::network::export_audit;
use govchain_node::network::signer;
use govchain_node::output::receipt_error;
use govchain_node::output::table;
use govchain_state::{Genesis, certs};
use govchain_types::pb;
use serde_json::{Value, json};

/// Options of `govchain demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The built contracts (`scripts/build-contracts.sh` writes them).
    #[arg(long, default_value = "contracts/artifacts")]
    pub(crate) contracts: PathBuf,
    /// After the demo, keep the embedded chain serving gRPC on this port so you can
    /// explore it with the other commands, and the supervisor console (and metrics) on
    /// this port + 2000 (Ctrl-C stops it).
    #[arg(long)]
    pub(crate) serve: Option<u16>,
}

const CONTRACTS: [(&str, &str); 3] = [
    ("housing-eligibility", "housing_eligibility.wasm"),
    ("risk-model", "risk_model.wasm"),
    ("tax-assessment", "tax_assessment.wasm"),
];
const TAX_READS_PROPERTY: &str = "p, tax, property, read, tax_assessment, allow";

/// `govchain demo`.
pub async fn run(
    endpoint: Option<&str>,
    home: &Path,
    args: DemoArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let code: Vec<(&str, Vec<u8>)> = CONTRACTS
        .iter()
        .map(|(name, file)| {
            let p = args.contracts.join(file);
            std::fs::read(&p)
                .with_context(|| format!("reading {} (build the contracts with scripts/build-contracts.sh, or pass --contracts)", p.display()))
                .map(|c| (*name, c))
        })
        .collect::<anyhow::Result<_>>()?;
    let embedded = match endpoint {
        Some(_) => None,
        None => {
            let port = args.serve.unwrap_or(0);
            let node = govchain_node::embedded::Embedded::start_with(
                |out| govchain_node::init::InitOptions {
                    out,
                    validators: 1,
                    observers: 0,
                    threshold: None,
                    preset: "nanjing".into(),
                    chain_id: "govchain-demo".into(),
                    plain_keys: true,
                    base_port: 7545,
                    block_interval_ms: 50,
                    operated_by: vec!["tax".into()],
                    initial_points: None,
                },
                true,
                format!("127.0.0.1:{port}").parse()?,
                args.serve
                    .map(|p| format!("127.0.0.1:{}", p.saturating_add(2000)).parse())
                    .transpose()?,
            )
            .await?;
            Some(node)
        }
    };
    let (endpoint, home) = match &embedded {
        Some(e) => (e.endpoint.clone(), e.home.clone()),
        None => (endpoint.unwrap_or_default().to_string(), home.to_path_buf()),
    };
    let mut d = Demo::connect(&endpoint, &home, json_out).await?;
    d.intro(embedded.is_some());
    d.deploy(&code).await?;
    d.housing_eligibility().await?;
    d.compute_to_data().await?;
    d.sharing_incentive().await?;
    d.audit_trail().await?;
    d.say("\nAll three scenarios behaved as expected.");
    let console = embedded.as_ref().and_then(|e| e.node.http).map(|a| {
        json!({
            "url": format!("http://{a}/"),
            "credential_file": home.join("node1").join(govchain_node::init::CONSOLE_CREDENTIAL),
            "key_dir": home.join("keys"),
        })
    });
    if let Some(c) = &console {
        d.report.insert("console".into(), c.clone());
    }
    d.report.insert(
        "citizens".into(),
        json!(d.citizens.iter().map(|c| json!({"name": c.name, "national_id": c.national_id, "subject_id": c.subject})).collect::<Vec<_>>()),
    );
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Object(d.report))?
        );
    }
    if let (Some(e), Some(_)) = (embedded, args.serve) {
        if let Some(c) = &console {
            eprintln!(
                "\nSupervisor console: {} — sign in with the credential in {} (the supervision bureau), or with a department key file from {}.",
                c["url"].as_str().unwrap_or_default(),
                c["credential_file"].as_str().unwrap_or_default(),
                c["key_dir"].as_str().unwrap_or_default(),
            );
        }
        eprintln!(
            "\nThe demo chain keeps running on {} (network folder {}). In another terminal, e.g.:\n  govchain --endpoint {0} --home {1} audit query --requester bank --as supervision\n  govchain --endpoint {0} --home {1} points balance\n  govchain --endpoint {0} --home {1} contract list\nCtrl-C stops it; its folder is deleted then.",
            e.endpoint,
            e.home.display()
        );
        e.node.run_until_signal().await?;
    }
    Ok(())
}

/// A citizen of the scenarios: the national ID stays here; only its salted hash goes on
/// chain.
#[derive(Debug, Clone)]
struct Citizen {
    name: &'static str,
    national_id: String,
    subject: String,
}

struct Demo {
    client: Client,
    genesis: Genesis,
    custody: govchain_custody::KeySet,
    signers: BTreeMap<String, Signer>,
    /// Makes this run's numbers unique, so the demo can run again on the same network.
    run: u64,
    json: bool,
    report: serde_json::Map<String, Value>,
    citizens: Vec<Citizen>,
}

impl Demo {
    async fn connect(endpoint: &str, home: &Path, json: bool) -> anyhow::Result<Self> {
        let (client, genesis) = connect_checked(endpoint, home).await?;
        let mut signers = BTreeMap::new();
        for d in &genesis.departments {
            signers.insert(d.id.clone(), signer(home, Some(&d.id), None, None)?);
        }
        Ok(Demo {
            custody: custody_key_set(home)?,
            run: client.status().height,
            client,
            genesis,
            signers,
            json,
            report: serde_json::Map::new(),
            citizens: vec![],
        })
    }

    fn say(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    fn show(&self, t: comfy_table::Table) {
        if !self.json {
            println!("{t}");
        }
    }

    fn intro(&self, embedded: bool) {
        let g = &self.genesis;
        let custody = g.custody.as_ref().map_or(0, |c| c.threshold);
        let nodes: Vec<String> = g
            .validators
            .iter()
            .filter(|v| !v.observer)
            .map(|v| format!("{} ({})", v.id, v.department))
            .collect();
        self.say(&format!(
            "govchain demo on chain '{}'{}: validators {}; data keys open with {custody} of {} custody shares.",
            g.chain_id,
            if embedded { " (embedded, run by the tax bureau)" } else { "" },
            nodes.join(", "),
            nodes.len()
        ));
    }

    fn citizen(
        &mut self,
        name: &'static str,
        area: &str,
        birth: &str,
        seq: u32,
    ) -> anyhow::Result<Citizen> {
        let national_id = national_id(area, birth, seq);
        let subject = hex::encode(certs::subject_id(&self.genesis.salt(), &national_id)?);
        let c = Citizen {
            name,
            national_id,
            subject,
        };
        self.citizens.push(c.clone());
        Ok(c)
    }

    /// Submits one transaction and waits for its receipt (which may be a failure).
    async fn send(&mut self, dept: &str, payload: pb::payload::Kind) -> anyhow::Result<Receipt> {
        Ok(self.client.submit(&self.signers[dept], payload).await?)
    }

    /// [`Demo::send`], failing unless the transaction succeeded.
    async fn ok(
        &mut self,
        dept: &str,
        payload: pb::payload::Kind,
        what: &str,
    ) -> anyhow::Result<Receipt> {
        let r = self.send(dept, payload).await?;
        if let Some(e) = receipt_error(&r) {
            bail!("{what} failed: {e}");
        }
        Ok(r)
    }

    /// Submits many transactions at once and waits until every one is committed and
    /// succeeded.
    async fn batch(
        &mut self,
        items: Vec<(String, pb::payload::Kind)>,
        what: &str,
    ) -> anyhow::Result<Vec<Receipt>> {
        let mut txs = Vec::with_capacity(items.len());
        let channel = self.client.channel();
        let mut chain = self.client.chain();
        for (dept, payload) in items {
            let signer = &self.signers[&dept];
            let nonce = self.client.nonces().next(&channel, signer).await?;
            txs.push(signer.sign(self.client.chain_id(), nonce, payload));
        }
        let bar = (!self.json).then(|| govchain_node::output::progress(txs.len() as u64, what));
        let mut hashes = Vec::new();
        for chunk in txs.chunks(500) {
            let r = chain
                .submit_txs(SubmitTxsRequest {
                    txs: chunk.to_vec(),
                })
                .await
                .map_err(ClientError::from)?
                .into_inner();
            for s in r.results {
                if let Some(e) = s.error.filter(|e| e.code != 0) {
                    self.client.nonces().clear();
                    bail!(
                        "{what}: a transaction was not admitted: {} ({})",
                        e.message,
                        e.code
                    );
                }
                hashes.push(s.tx_hash);
            }
        }
        let mut receipts = Vec::with_capacity(hashes.len());
        let deadline = Instant::now() + Duration::from_secs(300);
        for h in hashes {
            let receipt = loop {
                if let Ok(r) = chain.get_tx(GetTxRequest { tx_hash: h.clone() }).await
                    && let Some(r) = r.into_inner().receipt
                {
                    break r;
                }
                ensure!(
                    Instant::now() < deadline,
                    "{what}: transactions not committed within 300 s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            if let Some(e) = receipt_error(&receipt) {
                bail!("{what} failed: {e}");
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
            receipts.push(Receipt::new(h, receipt)?);
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(receipts)
    }

    async fn call(
        &mut self,
        dept: &str,
        contract: &str,
        method: &str,
        args: Value,
    ) -> anyhow::Result<Receipt> {
        self.send(
            dept,
            pb::payload::Kind::Call(pb::ContractCall {
                contract: contract.into(),
                method: method.into(),
                args: args.to_string().into_bytes(),
                gas_limit: 1_000_000_000,
            }),
        )
        .await
    }

    async fn call_ok(
        &mut self,
        dept: &str,
        contract: &str,
        method: &str,
        args: Value,
    ) -> anyhow::Result<Value> {
        let r = self.call(dept, contract, method, args).await?;
        if let Some(e) = receipt_error(&r) {
            bail!("{dept} calling {contract}.{method} failed: {e}");
        }
        Ok(serde_json::from_slice(&r.output)?)
    }

    async fn balances(&mut self) -> anyhow::Result<BTreeMap<String, u64>> {
        let r = self
            .client
            .points()
            .get_balances(GetBalancesRequest {
                department: String::new(),
            })
            .await
            .map_err(ClientError::from)?
            .into_inner();
        Ok(r.balances
            .into_iter()
            .map(|b| (b.department, b.balance))
            .collect())
    }

    fn points_table(
        &self,
        before: &BTreeMap<String, u64>,
        after: &BTreeMap<String, u64>,
        depts: &[&str],
    ) -> comfy_table::Table {
        let mut t = table(&["department", "points before", "points after", "change"]);
        for d in depts {
            let (b, a) = (
                before.get(*d).copied().unwrap_or(0),
                after.get(*d).copied().unwrap_or(0),
            );
            t.add_row([
                d.to_string(),
                b.to_string(),
                a.to_string(),
                format!("{:+}", a as i64 - b as i64),
            ]);
        }
        t
    }

    /// A certificate of `issuer`, sealed for publishing, and its id.
    #[allow(clippy::too_many_arguments)]
    fn certificate(
        &self,
        issuer: &str,
        cert_type: &str,
        citizen: &Citizen,
        number: String,
        issued_on: &str,
        metadata: &[(&str, String)],
        doc: Value,
    ) -> (String, pb::payload::Kind) {
        let p = seal_certificate(
            &self.genesis.chain_id,
            &self.custody,
            &self.signers[issuer].key,
            pb::PublishCertificate {
                cert_type: cert_type.into(),
                subject_id: certs::subject_id(&self.genesis.salt(), &citizen.national_id)
                    .expect("valid id")
                    .to_vec(),
                issued_on: issued_on.into(),
                metadata: metadata
                    .iter()
                    .map(|(k, v)| pb::Attribute {
                        key: k.to_string(),
                        value: v.clone(),
                    })
                    .collect(),
                number,
                ..Default::default()
            },
            doc.to_string().as_bytes(),
            &Entropy::Os,
        );
        (
            certs::cert_id(&p.cert_type, &p.number),
            pb::payload::Kind::Publish(p),
        )
    }

    /// Proposes `action` as `proposer` and has other committee members approve it until
    /// it is applied. Returns the approvers.
    async fn govern(
        &mut self,
        proposer: &str,
        action: pb::proposal::Action,
        description: &str,
    ) -> anyhow::Result<Vec<String>> {
        let r = self
            .ok(
                proposer,
                pb::payload::Kind::Propose(pb::Proposal {
                    action: Some(action),
                    description: description.into(),
                    voting_period: 0,
                }),
                description,
            )
            .await?;
        let id = r.event::<ProposalCreated>().context("no proposal id")?.id;
        let mut gov = self.client.governance();
        let members = self.genesis.committee.members.clone();
        for m in members.iter().filter(|m| *m != proposer) {
            let p = gov
                .get_proposal(GetProposalRequest { id })
                .await
                .map_err(ClientError::from)?
                .into_inner();
            if p.status != pb::ProposalStatus::Open as i32 {
                break;
            }
            self.ok(
                m,
                pb::payload::Kind::Vote(pb::Vote {
                    proposal_id: id,
                    approve: true,
                }),
                "approval",
            )
            .await?;
        }
        let p = gov
            .get_proposal(GetProposalRequest { id })
            .await
            .map_err(ClientError::from)?
            .into_inner();
        ensure!(
            p.status == pb::ProposalStatus::Approved as i32,
            "proposal {id} ({description}) was not approved"
        );
        Ok(p.approvals)
    }

    async fn deploy(&mut self, code: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
        self.say("\n== Contracts, approved by the management committee before they run ==");
        let mut t = table(&["contract", "SM3 code hash", "version", "approved by"]);
        let mut contracts = self.client.contracts();
        for (name, wasm) in code {
            let hash = sm3(wasm);
            let deployed = contracts
                .get_contract(GetContractRequest {
                    name: name.to_string(),
                })
                .await;
            let approvers = match deployed {
                Ok(c) if c.get_ref().code_hash == hash => c.into_inner().approvers,
                _ => {
                    let action = pb::proposal::Action::Deploy(pb::DeployContract {
                        name: name.to_string(),
                        code: wasm.clone(),
                    });
                    self.govern("housing", action, &format!("deploy {name}"))
                        .await?
                }
            };
            let c = contracts
                .get_contract(GetContractRequest {
                    name: name.to_string(),
                })
                .await
                .map_err(ClientError::from)?
                .into_inner();
            ensure!(
                c.code_hash == hash,
                "{name}: the deployed code is not the built artifact"
            );
            t.add_row([
                name.to_string(),
                hex::encode(&hash[..8]) + "…",
                c.version.to_string(),
                approvers.join(", "),
            ]);
        }
        self.show(t);
        Ok(())
    }

    #[expect(
        clippy::too_many_lines,
        reason = "a scenario's steps in the order the demo narrates them; it moves onto the client crate"
    )]
    async fn housing_eligibility(&mut self) -> anyhow::Result<()> {
        self.say("\n== 1. Housing purchase eligibility (购房资格证明): apply once, seven departments attest ==");
        let run = self.run;
        let zhang = self.citizen("张伟", "320106", "19880314", 131)?;
        let li = self.citizen("李娜", "320104", "19900722", 262)?;
        let chen = self.citizen("陈静", "341102", "19950908", 384)?;
        let ym = |m: u32| month_back("2026-10", m);
        let months = |n: u32| -> Vec<Value> {
            (0..n).rev().map(|i| json!({"month": ym(i), "taxable_income": format!("{}.00", 21_500 + (i % 3) * 400), "tax_paid": format!("{}.00", 640 + (i % 3) * 40)})).collect()
        };
        let cert = |issuer: &str,
                    ty: &str,
                    who: &Citizen,
                    number: String,
                    issued: &str,
                    meta: &[(&str, String)],
                    doc: Value,
                    out: &mut Vec<(String, pb::payload::Kind)>| {
            let (id, p) = self.certificate(issuer, ty, who, number, issued, meta, doc);
            out.push((issuer.to_string(), p));
            id
        };
        let mut out = Vec::new();
        let z_household = cert(
            "public-security",
            "household",
            &zhang,
            format!("宁公户〔2026〕{run:06}01号"),
            "2026-03-02",
            &[
                ("registration_district", "320106".into()),
                ("household_type", "family".into()),
            ],
            json!({"name": zhang.name, "address": "南京市鼓楼区中山北路 208 号 3 栋 502 室", "relation": "户主", "registered_since": "2012-09-01"}),
            &mut out,
        );
        let z_marriage = cert(
            "civil-affairs",
            "marriage",
            &zhang,
            format!("J320106-2016-{run:06}"),
            "2016-05-20",
            &[
                ("registration_office", "南京市鼓楼区民政局婚姻登记处".into()),
                ("record_kind", "marriage".into()),
            ],
            json!({"spouses": [zhang.name, li.name], "registered_on": "2016-05-20"}),
            &mut out,
        );
        let l_title = cert(
            "real-estate",
            "property",
            &li,
            format!("苏(2019)南京市不动产权第{:07}号", 87_421 + run),
            "2019-08-16",
            &[
                ("district", "秦淮区".into()),
                ("usage", "住宅".into()),
                ("ownership", "joint".into()),
            ],
            json!({"location": "南京市秦淮区龙蟠中路 329 号 6 幢 1101 室", "area_m2": "98.62", "holders": [li.name, zhang.name]}),
            &mut out,
        );
        let l_loan = cert(
            "bank",
            "mortgage",
            &li,
            format!("NJB-HL-2019-{run:06}"),
            "2019-09-01",
            &[("loan_kind", "商业".into())],
            json!({"borrower": li.name, "outstanding_yuan": "1036500.00", "term_months": 360}),
            &mut out,
        );
        // The tax certificate's document carries the monthly records the bank's model
        // reads in scenario 2 (on the tax bureau's node only).
        let z_tax_number = format!("苏税证〔2026〕第{:012}号", 320_106_000_000 + run);
        let z_tax = cert(
            "tax",
            "tax-payment",
            &zhang,
            z_tax_number.clone(),
            "2026-11-02",
            &[
                ("tax_kind", "个人所得税".into()),
                ("period", "2023-11..2026-10".into()),
            ],
            json!({"number": z_tax_number, "taxpayer": zhang.name, "tax_kind": "个人所得税",
                   "withholding_agent": "南京新华软件科技有限公司", "period": "2023-11..2026-10", "records": months(36)}),
            &mut out,
        );
        let z_social = cert(
            "social-security",
            "social-insurance",
            &zhang,
            format!("宁社保证〔2026〕{run:08}号"),
            "2026-11-03",
            &[
                ("insurance_kind", "养老".into()),
                ("period", "2023-11..2026-10".into()),
            ],
            json!({"insured": zhang.name, "employer": "南京新华软件科技有限公司", "months_paid": 36}),
            &mut out,
        );
        let c_household = cert(
            "public-security",
            "household",
            &chen,
            format!("宁公户〔2026〕{run:06}02号"),
            "2026-04-11",
            &[
                ("registration_district", "341102".into()),
                ("household_type", "family".into()),
            ],
            json!({"name": chen.name, "address": "安徽省滁州市琅琊区南谯北路 66 号", "residence_permit": "南京市居住证 3201062024xxxx"}),
            &mut out,
        );
        let c_marriage = cert(
            "civil-affairs",
            "marriage",
            &chen,
            format!("N320106-2026-{run:06}"),
            "2026-10-12",
            &[
                ("registration_office", "南京市鼓楼区民政局婚姻登记处".into()),
                ("record_kind", "no-record".into()),
            ],
            json!({"name": chen.name, "statement": "无婚姻登记记录"}),
            &mut out,
        );
        let c_tax = cert(
            "tax",
            "tax-payment",
            &chen,
            format!("苏税证〔2026〕第{:012}号", 320_106_500_000 + run),
            "2026-11-02",
            &[
                ("tax_kind", "个人所得税".into()),
                ("period", "2025-09..2026-10".into()),
            ],
            json!({"taxpayer": chen.name, "period": "2025-09..2026-10", "records": 14}),
            &mut out,
        );
        let c_social = cert(
            "social-security",
            "social-insurance",
            &chen,
            format!("宁社保证〔2026〕{:08}号", 50_000_000 + run),
            "2026-11-03",
            &[
                ("insurance_kind", "养老".into()),
                ("period", "2025-09..2026-10".into()),
            ],
            json!({"insured": chen.name, "months_paid": 14}),
            &mut out,
        );
        self.batch(out, "departments publish the citizens' certificates")
            .await?;
        let mut t = table(&["citizen (ID hashed on chain)", "certificate", "issuer"]);
        for (who, what, issuer) in [
            (
                &zhang,
                "household registration 户籍 (鼓楼区)",
                "public-security",
            ),
            (
                &zhang,
                "marriage record 婚姻登记 (with 李娜)",
                "civil-affairs",
            ),
            (
                &li,
                "property title 不动产权证 (秦淮区, joint)",
                "real-estate",
            ),
            (&zhang, "tax payments 完税证明 (36 months)", "tax"),
            (
                &zhang,
                "social insurance 社保缴费 (36 months)",
                "social-security",
            ),
            (&li, "mortgage statement 房贷记录", "bank"),
            (
                &chen,
                "household registration (滁州, non-local)",
                "public-security",
            ),
            (&chen, "no-marriage-record certificate", "civil-affairs"),
            (&chen, "tax payments (14 months)", "tax"),
            (&chen, "social insurance (14 months)", "social-security"),
        ] {
            t.add_row([
                format!("{} {}", who.name, mask(&who.national_id)),
                what.to_string(),
                issuer.to_string(),
            ]);
        }
        self.say("Each department publishes its own certificates, SM4-encrypted, keys in threshold custody:");
        self.show(t);

        let before = self.balances().await?;
        let app_a = format!("NJZF-2026-{:06}", run * 10 + 1);
        let app_b = format!("NJZF-2026-{:06}", run * 10 + 2);
        for (app, who, district) in [(&app_a, &zhang, "320106"), (&app_b, &chen, "320113")] {
            self.call_ok(
                "housing",
                "housing-eligibility",
                "open",
                json!({"application": app, "subject_id": who.subject, "district": district}),
            )
            .await?;
        }
        let rules = json!({"kind": "purchase_rules", "rules_document": "宁房规〔2025〕2号", "local_max_homes": 2, "nonlocal_max_homes": 1, "nonlocal_min_months": 24});
        let attest_a: Vec<(&str, Value)> = vec![
            (
                "public-security",
                json!({"kind": "household", "certificate": z_household, "registration_district": "320106", "local": true}),
            ),
            (
                "civil-affairs",
                json!({"kind": "marital_status", "certificate": z_marriage, "status": "married", "spouse_subject_id": li.subject}),
            ),
            (
                "real-estate",
                json!({"kind": "homes_owned", "certificates": [l_title], "count": 1}),
            ),
            (
                "tax",
                json!({"kind": "tax_record", "certificate": z_tax, "months_paid_last_36": 36}),
            ),
            (
                "social-security",
                json!({"kind": "social_insurance", "certificate": z_social, "months_paid_last_36": 36}),
            ),
            ("housing", rules.clone()),
            (
                "bank",
                json!({"kind": "outstanding_loans", "certificates": [l_loan], "count": 1}),
            ),
        ];
        let mut t = table(&["department", "attests (signed by itself)", "height"]);
        for (dept, att) in attest_a {
            let r = self
                .call(
                    dept,
                    "housing-eligibility",
                    "attest",
                    json!({"application": app_a, "attestation": att}),
                )
                .await?;
            if let Some(e) = receipt_error(&r) {
                bail!("{dept}'s attestation failed: {e}");
            }
            t.add_row([dept.to_string(), summary(&att), r.height.to_string()]);
        }
        self.say(&format!("{} ({}) applies once at the housing authority's window ({app_a}); each department attests its own part:", zhang.name, mask(&zhang.national_id)));
        self.show(t);
        let decision = self
            .call_ok(
                "housing",
                "housing-eligibility",
                "decide",
                json!({"application": app_a}),
            )
            .await?;
        ensure!(
            decision["eligible"] == true && decision["homes_allowed"] == 1,
            "application {app_a}: expected eligible for 1 more home, got {decision}"
        );
        let number = decision["certificate"]["number"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.say(&format!(
            "The contract read {} certificates through the gate (as housing, purpose housing_eligibility, paid and audited) and decided: ELIGIBLE for {} more home in 鼓楼区 under {} — certificate {number}, valid until {}.",
            decision["audit_seqs"].as_array().map_or(0, Vec::len),
            decision["homes_allowed"],
            decision["rules_document"].as_str().unwrap_or_default(),
            decision["certificate"]["valid_until"].as_str().unwrap_or_default()
        ));

        // The housing authority issues the e-certificate the contract decided; a lender may
        // read it for a mortgage review.
        let valid_until = decision["certificate"]["valid_until"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (eligibility, p) = self.certificate(
            "housing",
            "housing-eligibility",
            &zhang,
            number.clone(),
            decision["decided_on"].as_str().unwrap_or_default(),
            &[
                ("district", "320106".into()),
                ("homes_allowed", decision["homes_allowed"].to_string()),
            ],
            json!({"number": number, "holder": zhang.name, "spouse": li.name, "district": "鼓楼区",
                   "homes_allowed": decision["homes_allowed"], "valid_until": valid_until,
                   "application": app_a, "rules": decision["rules_document"], "basis_audit_records": decision["audit_seqs"]}),
        );
        self.ok("housing", p, "issuing the eligibility certificate")
            .await?;
        let r = self
            .ok(
                "bank",
                pb::payload::Kind::Request(pb::RequestAccess {
                    cert_id: eligibility,
                    purpose: "mortgage_review".into(),
                }),
                "the bank's read of the eligibility certificate",
            )
            .await?;
        ensure!(
            access(&r)?.allowed(),
            "the bank may read the eligibility certificate for a mortgage review: {:?}",
            access(&r)?.reason
        );
        self.say(&format!(
            "The housing authority issues {number} as an e-certificate (SM4-encrypted, signed); the bank reads it for its mortgage review: ALLOWED ({}).",
            access(&r)?.reason.clone()
        ));

        // Application B: a missing attestation, then a contradictory one, then the rules.
        let attest_b: Vec<(&str, Value)> = vec![
            (
                "public-security",
                json!({"kind": "household", "certificate": c_household, "registration_district": "341102", "local": false}),
            ),
            (
                "civil-affairs",
                json!({"kind": "marital_status", "certificate": c_marriage, "status": "married", "spouse_subject_id": zhang.subject}),
            ),
            (
                "real-estate",
                json!({"kind": "homes_owned", "certificates": [], "count": 0}),
            ),
            (
                "tax",
                json!({"kind": "tax_record", "certificate": c_tax, "months_paid_last_36": 14}),
            ),
            (
                "social-security",
                json!({"kind": "social_insurance", "certificate": c_social, "months_paid_last_36": 14}),
            ),
            ("housing", rules),
        ];
        for (dept, att) in attest_b {
            self.call_ok(
                dept,
                "housing-eligibility",
                "attest",
                json!({"application": app_b, "attestation": att}),
            )
            .await?;
        }
        let mut t = table(&["step", "outcome"]);
        let refused = self.refusal("housing", &app_b).await?;
        ensure!(
            refused.contains("bank"),
            "expected a refusal naming the bank, got: {refused}"
        );
        t.add_row(["decide without the bank's attestation".to_string(), refused]);
        self.call_ok("bank", "housing-eligibility", "attest", json!({"application": app_b, "attestation": {"kind": "outstanding_loans", "certificates": [], "count": 0}})).await?;
        let refused = self.refusal("housing", &app_b).await?;
        ensure!(
            refused.contains("civil-affairs"),
            "expected a refusal naming civil-affairs, got: {refused}"
        );
        t.add_row(["bank attests no loans; decide again".to_string(), refused]);
        self.call_ok("civil-affairs", "housing-eligibility", "attest", json!({"application": app_b, "attestation": {"kind": "marital_status", "certificate": c_marriage, "status": "single"}})).await?;
        let decision_b = self
            .call_ok(
                "housing",
                "housing-eligibility",
                "decide",
                json!({"application": app_b}),
            )
            .await?;
        ensure!(
            decision_b["eligible"] == false,
            "application {app_b}: expected ineligible, got {decision_b}"
        );
        let reasons: Vec<String> = decision_b["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        t.add_row([
            "civil-affairs corrects to 'single'; decide".to_string(),
            format!("NOT ELIGIBLE: {}", reasons.join("; ")),
        ]);
        self.say(&format!(
            "{} ({app_b}, non-local) shows the refusals:",
            chen.name
        ));
        self.show(t);
        let after = self.balances().await?;
        self.say("Points: housing paid for every read (also those of the refused decisions: a read is paid and audited when made); the owners earned them:");
        self.show(self.points_table(
            &before,
            &after,
            &[
                "housing",
                "public-security",
                "civil-affairs",
                "real-estate",
                "tax",
                "social-security",
                "bank",
            ],
        ));
        let spent = before["housing"].saturating_sub(after["housing"]);
        ensure!(spent > 0, "housing paid nothing for its reads");
        self.report.insert("housing_eligibility".into(), json!({
            "application": app_a, "decision": decision, "refused_application": app_b, "refused_decision": decision_b, "housing_points_spent": spent,
        }));
        self.report.insert("tax_certificate".into(), json!(z_tax));
        Ok(())
    }

    /// The error of a `decide` that must fail.
    async fn refusal(&mut self, dept: &str, app: &str) -> anyhow::Result<String> {
        let r = self
            .call(
                dept,
                "housing-eligibility",
                "decide",
                json!({"application": app}),
            )
            .await?;
        let e = receipt_error(&r)
            .with_context(|| format!("deciding {app} should have been refused"))?;
        Ok(e.split_once("failed: ")
            .map_or(e.clone(), |(_, m)| m.to_string()))
    }

    #[expect(
        clippy::too_many_lines,
        reason = "a scenario's steps in the order the demo narrates them; it moves onto the client crate"
    )]
    async fn compute_to_data(&mut self) -> anyhow::Result<()> {
        self.say("\n== 2. Compute-to-data: the bank's risk model runs where the tax data lives ==");
        let cert = self.report["tax_certificate"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let zhang = self.citizens[0].clone();
        let before = self.balances().await?;
        let mut t = table(&["step", "who", "outcome"]);
        let r = self
            .ok(
                "bank",
                pb::payload::Kind::Request(pb::RequestAccess {
                    cert_id: cert.clone(),
                    purpose: "credit_assessment".into(),
                }),
                "the bank's read",
            )
            .await?;
        let decision = access(&r)?.decision.clone();
        ensure!(
            decision == "deny",
            "the bank must not read tax records directly, but the gate said {decision}"
        );
        t.add_row([
            "read the tax payment certificate".into(),
            "bank".into(),
            format!("DENIED: {}", access(&r)?.reason.clone()),
        ]);
        let application = format!("NJB-PL-2026-{:06}", self.run + 1873);
        let args = json!({"application": application, "loan_amount_yuan": 1_200_000, "term_months": 360, "annual_rate_bps": 310});
        let r = self
            .ok(
                "bank",
                pb::payload::Kind::Compute(pb::ComputeJob {
                    cert_id: cert.clone(),
                    purpose: "credit_assessment".into(),
                    contract: "risk-model".into(),
                    method: "score".into(),
                    args: args.to_string().into_bytes(),
                }),
                "the compute job request",
            )
            .await?;
        ensure!(
            access(&r)?.allowed(),
            "compute job denied: {:?}",
            access(&r)?.reason
        );
        let request = access(&r)?.request;
        let executor = r
            .event::<ComputeRequested>()
            .context("no executor")?
            .executor
            .clone();
        t.add_row([
            "ask for risk-model.score over it".into(),
            "bank".into(),
            format!(
                "ALLOWED as job {request} ({}); runs on {executor}",
                access(&r)?.reason.clone()
            ),
        ]);
        let started = Instant::now();
        let r = govchain_node::network::await_result(
            &self.client,
            &self.genesis,
            request,
            Duration::from_secs(90),
            &self.signers["bank"].key,
        )
        .await?;
        let (r, plain) = r;
        let result = r.result.clone().unwrap_or_default();
        let shares: Vec<String> = r.releases.iter().map(|s| s.validator.clone()).collect();
        ensure!(
            r.releases.iter().all(|s| self.signers["bank"]
                .key
                .decrypt(&s.encrypted_share)
                .is_err()),
            "a key share of job {request} opens with the bank's key"
        );
        let owner_node = self
            .genesis
            .validators
            .iter()
            .find(|v| v.id == result.executor)
            .map(|v| v.department.as_str());
        ensure!(
            owner_node == Some("tax"),
            "job {request} ran on {}, which is not a node of the tax bureau",
            result.executor
        );
        t.add_row([
            "release key shares to the executor".into(),
            shares.join(", "),
            format!(
                "{} share(s), each SM2-encrypted to {executor}'s key (checked: none opens with the bank's)",
                shares.len()
            ),
        ]);
        let res = result.result.clone().unwrap_or_default();
        ensure!(
            !res.failed,
            "job {request} failed on {executor}: {}",
            String::from_utf8_lossy(&plain)
        );
        let deployed = self
            .client
            .contracts()
            .get_contract(GetContractRequest {
                name: "risk-model".into(),
            })
            .await
            .map_err(ClientError::from)?
            .into_inner();
        ensure!(
            res.code_hash == deployed.code_hash,
            "the job ran other code than the approved risk model"
        );
        let score: Value = serde_json::from_slice(&plain)?;
        let text = score.to_string();
        // Nothing of the record may come back: no monthly income or tax figure (21500,
        // 21900, 22300; 640, 680, 720), no name, no national ID.
        let secrets = (0..3u32)
            .flat_map(|k| [21_500 + k * 400, 640 + k * 40])
            .map(|v| v.to_string())
            .chain([zhang.name.to_string(), zhang.national_id.clone()]);
        for secret in secrets {
            ensure!(
                !text.contains(&secret),
                "the job's result leaks '{secret}' from the tax record: {text}"
            );
        }
        t.add_row([
            "run the model, post only the result".into(),
            result.executor.clone(),
            format!(
                "score {} band {} → {}; {} gas; encrypted to the bank, SM2-signed by {} (verified against genesis)",
                score["score"],
                score["band"].as_str().unwrap_or(""),
                score["recommendation"].as_str().unwrap_or(""),
                res.gas_used,
                result.executor
            ),
        ]);
        self.show(t);
        self.say(&format!(
            "The bank learns {} (income stability '{}', debt-to-income {}) and never the 36 monthly incomes; the tax bureau's node decrypted them in memory and wiped them after the run ({:.1} s from request to signed result).",
            score["recommendation"].as_str().unwrap_or(""),
            score["income_stability"].as_str().unwrap_or(""),
            score["dti_band"].as_str().unwrap_or(""),
            started.elapsed().as_secs_f64()
        ));
        let after = self.balances().await?;
        self.show(self.points_table(&before, &after, &["bank", "tax"]));
        ensure!(
            after["bank"] < before["bank"],
            "the compute job was not paid"
        );
        self.report.insert("compute_to_data".into(), json!({"request": request, "executor": result.executor, "result": score, "released_by": shares}));
        Ok(())
    }

    #[expect(
        clippy::too_many_lines,
        reason = "a scenario's steps in the order the demo narrates them; it moves onto the client crate"
    )]
    async fn sharing_incentive(&mut self) -> anyhow::Result<()> {
        self.say("\n== 3. Sharing incentive: the tax bureau reads until its points run out, then shares ==");
        let policy = self
            .client
            .certificates()
            .get_policy(GetPolicyRequest {})
            .await
            .map_err(ClientError::from)?
            .into_inner();
        if !policy.lines.iter().any(|l| l == TAX_READS_PROPERTY) {
            let approvers = self
                .govern(
                    "tax",
                    pb::proposal::Action::Policy(pb::PolicyChange {
                        add: vec![TAX_READS_PROPERTY.into()],
                        remove: vec![],
                    }),
                    "let the tax bureau read property titles for deed-tax assessment",
                )
                .await?;
            self.say(&format!(
                "The committee approves '{TAX_READS_PROPERTY}' ({}).",
                approvers.join(", ")
            ));
        }
        let start = self.balances().await?;
        let price = 5;
        let reads_needed = start["tax"] / price + 1;
        ensure!(
            reads_needed <= 20_000,
            "the tax bureau holds {} points: too many to spend in a demo",
            start["tax"]
        );
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
        for i in 0..reads_needed + 9 {
            let (code, district) = districts[i as usize % districts.len()];
            let birth = format!("19{}{:02}{:02}", 60 + i % 40, 1 + i % 12, 1 + i % 28);
            let owner = Citizen {
                name: "",
                national_id: national_id(code, &birth, (i % 999) as u32 + 1),
                subject: String::new(),
            };
            let usage = if i % 10 == 7 { "商业" } else { "住宅" };
            let number = format!(
                "苏(2026)南京市不动产权第{:07}号",
                1_000_000 + self.run * 100_000 + i
            );
            let (id, p) = self.certificate("real-estate", "property", &owner, number, "2026-06-18",
                &[("district", district.into()), ("usage", usage.into()), ("ownership", "sole".into())],
                json!({"location": format!("南京市{district}某路 {} 号", 10 + i % 300), "area_m2": format!("{}.{:02}", 60 + i % 120, i % 100)}));
            publish.push(("real-estate".to_string(), p));
            titles.push((id, 60 + i % 120));
            owners.push(owner);
        }
        self.batch(publish, "real-estate publishes property titles")
            .await?;
        self.say(&format!("The registry publishes {} property titles; the tax bureau holds {} points, {price} per title read.", titles.len(), start["tax"]));
        let mut done = 0usize;
        let mut denied = None;
        let bar = (!self.json)
            .then(|| govchain_node::output::progress(titles.len() as u64, "tax assesses deed tax"));
        while denied.is_none() && done < titles.len() {
            let transfers: Vec<Value> = titles[done..(done + 100).min(titles.len())]
                .iter()
                .enumerate()
                .map(|(k, (id, area))| json!({"certificate": id, "declared_price_yuan": 1_850_000 + (k as u64 % 7) * 130_000, "area_m2_centi": area * 100 + 46, "buyer_first_home": k % 3 != 0}))
                .collect();
            let report = self
                .call_ok(
                    "tax",
                    "tax-assessment",
                    "assess",
                    json!({"transfers": transfers}),
                )
                .await?;
            let n = report["assessed"].as_array().map_or(0, Vec::len);
            done += n;
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
            if !report["denied"].is_null() {
                denied = Some(report["denied"].clone());
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let denied = denied.context("the tax bureau never ran out of points")?;
        let out_of_points = self.balances().await?;
        let blocked = denied["certificate"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let reason = self.last_denial("tax", &blocked).await?;
        ensure!(
            reason.contains("insufficient points"),
            "expected an insufficient-points denial, got: {reason}"
        );
        let mut t = table(&["phase", "tax", "real-estate", "housing", "what happened"]);
        let row =
            |t: &mut comfy_table::Table, phase: &str, b: &BTreeMap<String, u64>, what: String| {
                t.add_row([
                    phase.to_string(),
                    b["tax"].to_string(),
                    b["real-estate"].to_string(),
                    b["housing"].to_string(),
                    what,
                ]);
            };
        row(&mut t, "start", &start, String::new());
        row(
            &mut t,
            "assessing",
            &out_of_points,
            format!("{done} titles read and assessed, then DENIED: {reason}"),
        );
        // The tax bureau shares: it publishes payment certificates of the same citizens,
        // and the housing authority reads them for eligibility reviews.
        let shared = 120;
        let mut publish = Vec::new();
        let mut tax_certs = Vec::new();
        for (i, owner) in owners.iter().take(shared).enumerate() {
            let (id, p) = self.certificate(
                "tax",
                "tax-payment",
                owner,
                format!(
                    "苏税证〔2026〕第{:012}号",
                    320_000_000_000 + self.run * 1_000 + i as u64
                ),
                "2026-11-05",
                &[
                    ("tax_kind", "个人所得税".into()),
                    ("period", "2024-11..2026-10".into()),
                ],
                json!({"period": "2024-11..2026-10", "months": 24}),
            );
            publish.push(("tax".to_string(), p));
            tax_certs.push(id);
        }
        self.batch(publish, "tax publishes tax payment certificates")
            .await?;
        let published = self.balances().await?;
        row(
            &mut t,
            "publishing",
            &published,
            format!("{shared} tax payment certificates published (publish reward, capped per day)"),
        );
        let reads = tax_certs
            .iter()
            .map(|id| {
                (
                    "housing".to_string(),
                    pb::payload::Kind::Request(pb::RequestAccess {
                        cert_id: id.clone(),
                        purpose: "housing_eligibility".into(),
                    }),
                )
            })
            .collect();
        let receipts = self
            .batch(reads, "housing reads them for eligibility reviews")
            .await?;
        ensure!(
            receipts
                .iter()
                .all(|r| access(r).is_ok_and(Access::allowed)),
            "housing's reads of tax certificates were not all allowed"
        );
        let earned = self.balances().await?;
        row(
            &mut t,
            "shared",
            &earned,
            format!("housing read them {shared} times (3 points each, to tax)"),
        );
        let retry = self
            .call_ok("tax", "tax-assessment", "assess", json!({"transfers": [{"certificate": blocked, "declared_price_yuan": 2_360_000, "area_m2_centi": 8_946, "buyer_first_home": true}]}))
            .await?;
        ensure!(
            retry["denied"].is_null(),
            "the tax bureau is still denied after earning points: {retry}"
        );
        let end = self.balances().await?;
        row(
            &mut t,
            "reading again",
            &end,
            format!(
                "the denied title is read and assessed: deed tax {} yuan",
                retry["total_tax_due_fen"].as_u64().unwrap_or(0) / 100
            ),
        );
        self.show(t);
        ensure!(
            earned["tax"] > out_of_points["tax"] + price,
            "the tax bureau earned nothing from sharing"
        );
        self.report.insert("sharing_incentive".into(), json!({
            "titles_assessed": done, "denied": reason, "shared_certificates": shared,
            "tax_points": {"start": start["tax"], "out_of_points": out_of_points["tax"], "after_sharing": earned["tax"], "end": end["tax"]},
        }));
        Ok(())
    }

    /// The reason of `dept`'s last denied read of `cert`, from the audit log.
    async fn last_denial(&mut self, dept: &str, cert: &str) -> anyhow::Result<String> {
        let q = AuditQuery {
            requester: dept.into(),
            cert_id: cert.into(),
            decision: pb::Decision::Deny as i32,
            limit: 1000,
            ..Default::default()
        };
        let req =
            self.client
                .signed(&self.signers["supervision"], "/govchain.v1.Audit/Query", q)?;
        let page = self
            .client
            .audit()
            .query(req)
            .await
            .map_err(ClientError::from)?
            .into_inner();
        Ok(page
            .records
            .last()
            .map(|r| r.reason.clone())
            .unwrap_or_default())
    }

    async fn audit_trail(&mut self) -> anyhow::Result<()> {
        self.say("\n== The audit trail, as the supervisor (大数据管理局) sees and checks it ==");
        let mut t = table(&[
            "seq",
            "height",
            "citizen",
            "requester",
            "owner",
            "certificate",
            "purpose",
            "action",
            "decision",
            "points",
        ]);
        let mut total = 0;
        let mut headers = 0;
        for who in self.citizens.clone().iter().take(3) {
            let q = AuditQuery {
                subject_id: hex::decode(&who.subject)?,
                limit: 10_000,
                ..Default::default()
            };
            let (export, file) =
                export_audit(&self.client, &self.signers["supervision"], q).await?;
            let n = file
                .verify(&self.genesis.anchor())
                .map_err(|e| anyhow::anyhow!("{}'s audit records do not verify: {e}", who.name))?;
            ensure!(n > 0, "no audit records for {}", who.name);
            total += n;
            headers += file.headers.len();
            for r in &export.proofs {
                let r: pb::AuditRecord = govchain_types::decode("audit record", &r.record)?;
                let action = match govchain_state::access::audit::action_name(r.action) {
                    "read" if !r.via.is_empty() => "read via contract",
                    "key_release" => "key share",
                    "compute" => "compute job",
                    "compute_result" => "job result",
                    other => other,
                };
                t.add_row([
                    r.seq.to_string(),
                    r.height.to_string(),
                    who.name.to_string(),
                    r.requester.clone(),
                    r.owner.clone(),
                    r.cert_type.clone(),
                    r.purpose.clone(),
                    action.to_string(),
                    if r.decision == pb::Decision::Allow as i32 {
                        "allow"
                    } else {
                        "DENY"
                    }
                    .to_string(),
                    r.points.to_string(),
                ]);
            }
        }
        self.show(t);
        self.say(&format!(
            "{total} records exported with Merkle inclusion proofs and checked against {headers} block headers signed by validators registered in genesis (SM3 + SM2): nothing is taken on the node's word."
        ));
        self.report.insert(
            "audit".into(),
            json!({"records_verified": total, "headers": headers}),
        );
        Ok(())
    }
}

/// The gate's decision in a receipt.
fn access(r: &Receipt) -> anyhow::Result<&Access> {
    r.event::<Access>()
        .context("the receipt holds no gate decision")
}

/// A national ID (GB 11643) from area code, birth date and sequence, with its check digit.
pub(crate) fn national_id(area: &str, birth: &str, seq: u32) -> String {
    let body = format!("{area}{birth}{:03}", seq % 1000);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// `320106********1316`: enough to tell people apart on screen.
fn mask(id: &str) -> String {
    format!("{}********{}", &id[..6], &id[14..])
}

/// The month `back` months before `from` (YYYY-MM).
pub(crate) fn month_back(from: &str, back: u32) -> String {
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
    fn generated_ids_pass_the_chain_check_and_months_count_back() {
        for (area, birth, seq) in [
            ("320106", "19880314", 131),
            ("341102", "19950908", 384),
            ("320115", "19991228", 999),
        ] {
            let id = national_id(area, birth, seq);
            assert!(certs::subject_id(&[0u8; 32], &id).is_ok(), "{id}");
        }
        assert_eq!(month_back("2026-10", 0), "2026-10");
        assert_eq!(month_back("2026-10", 10), "2025-12");
        assert_eq!(month_back("2026-10", 35), "2023-11");
        assert_eq!(mask("320106198803141316"), "320106********1316");
    }
}
