//! The demo's script: contract deployment by governance, then the three scenarios and
//! the audit trail, step by step, each step checking what it expects. It runs on any
//! [`Driver`]: `govchain demo` narrates it against a node, and the golden test replays
//! it, silent, on an in-process chain and pins every block it writes.

mod audit;
mod compute;
mod housing;
mod sharing;

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use govchain_client::Receipt;
use govchain_client::event::{Access, ProposalCreated};
use govchain_client::seal::seal_certificate;
use govchain_crypto::sm3;
use govchain_node::output::{receipt_error, table};
use govchain_state::certs;
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use indicatif::ProgressBar;
use serde_json::Value;

use crate::driver::Driver;

/// The contracts the scenarios use, and their artifacts' file names.
pub(crate) const CONTRACTS: [(&str, &str); 3] = [
    ("housing-eligibility", "housing_eligibility.wasm"),
    ("risk-model", "risk_model.wasm"),
    ("tax-assessment", "tax_assessment.wasm"),
];

/// Gas limit of the scenarios' contract calls.
const GAS_LIMIT: u64 = 1_000_000_000;

/// A citizen of the scenarios: the national ID stays off chain; only its salted hash
/// (the subject id) goes on it.
#[derive(Debug, Clone)]
pub(crate) struct Citizen {
    pub(crate) name: &'static str,
    pub(crate) national_id: String,
    /// The subject id, hex.
    pub(crate) subject: String,
}

/// The script on a chain `d`, narrating (unless `quiet`) and collecting the report
/// `govchain demo --json` prints.
pub(crate) struct Script<D> {
    pub(crate) d: D,
    quiet: bool,
    pub(crate) report: serde_json::Map<String, Value>,
    /// The scenarios' citizens, in the order they appear.
    pub(crate) citizens: Vec<Citizen>,
}

impl<D: Driver> Script<D> {
    pub(crate) fn new(d: D, quiet: bool) -> Self {
        Script {
            d,
            quiet,
            report: serde_json::Map::new(),
            citizens: vec![],
        }
    }

    /// The whole script: deployment of `code` (name, wasm), the three scenarios and the
    /// audit trail.
    pub(crate) async fn all(&mut self, code: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
        self.deploy(code).await?;
        let tax_certificate = self.housing_eligibility().await?;
        self.compute_to_data(&tax_certificate).await?;
        self.sharing_incentive().await?;
        self.audit_trail().await
    }

    pub(crate) fn say(&self, text: &str) {
        if !self.quiet {
            println!("{text}");
        }
    }

    fn show(&self, t: comfy_table::Table) {
        if !self.quiet {
            println!("{t}");
        }
    }

    /// A progress bar over `len` steps (hidden when quiet).
    fn progress(&self, len: usize, what: &str) -> ProgressBar {
        if self.quiet {
            ProgressBar::hidden()
        } else {
            govchain_node::output::progress(len as u64, what)
        }
    }

    fn citizen(
        &mut self,
        name: &'static str,
        area: &str,
        birth: &str,
        seq: u32,
    ) -> anyhow::Result<Citizen> {
        let national_id = national_id(area, birth, seq);
        let subject = hex::encode(certs::subject_id(&self.d.parties().salt, &national_id)?);
        let c = Citizen {
            name,
            national_id,
            subject,
        };
        self.citizens.push(c.clone());
        Ok(c)
    }

    /// A certificate of `issuer` about the holder of `national_id`, sealed for
    /// publishing (SM4-encrypted, its key enveloped to the custody key set, signed by
    /// the issuer): its id and the transaction (sender, payload).
    #[expect(
        clippy::too_many_arguments,
        reason = "a certificate's fields, named at each call"
    )]
    fn certificate(
        &self,
        issuer: &str,
        cert_type: &str,
        national_id: &str,
        number: String,
        issued_on: &str,
        metadata: &[(&str, String)],
        doc: Value,
    ) -> anyhow::Result<(String, (String, Kind))> {
        let p = self.d.parties();
        let subject = certs::subject_id(&p.salt, national_id)?;
        let sealed = seal_certificate(
            &p.genesis.chain_id,
            &p.trust.custody,
            &p.signers[issuer].key,
            pb::PublishCertificate {
                cert_type: cert_type.into(),
                subject_id: subject.to_vec(),
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
            &p.sealing,
        );
        Ok((
            certs::cert_id(&sealed.cert_type, &sealed.number),
            (issuer.to_string(), Kind::Publish(sealed)),
        ))
    }

    /// One transaction, which must succeed.
    async fn ok(&mut self, dept: &str, payload: Kind, step: &str) -> anyhow::Result<Receipt> {
        let r = self.d.send(dept, payload, step).await?;
        if let Some(e) = receipt_error(&r) {
            bail!("{step} failed: {e}");
        }
        Ok(r)
    }

    /// A batch, which must succeed, with a progress bar.
    async fn batch(
        &mut self,
        items: Vec<(String, Kind)>,
        step: &str,
    ) -> anyhow::Result<Vec<Receipt>> {
        let bar = self.progress(items.len(), step);
        let r = self.d.batch(items, step, &bar).await;
        bar.finish_and_clear();
        r
    }

    /// A contract call (its receipt may be a failure).
    async fn call(
        &mut self,
        dept: &str,
        contract: &str,
        method: &str,
        args: Value,
    ) -> anyhow::Result<Receipt> {
        let payload = Kind::Call(pb::ContractCall {
            contract: contract.into(),
            method: method.into(),
            args: args.to_string().into_bytes(),
            gas_limit: GAS_LIMIT,
        });
        let step = format!("{dept} {contract}.{method}");
        self.d.send(dept, payload, &step).await
    }

    /// [`Script::call`], which must succeed; its output.
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
        serde_json::from_slice(&r.output).context("the call's output is not JSON")
    }

    /// Proposes `action` as `proposer`; the other committee members approve it, in
    /// genesis order, while it is open. Returns the approvers.
    async fn govern(
        &mut self,
        proposer: &str,
        action: pb::proposal::Action,
        description: &str,
    ) -> anyhow::Result<Vec<String>> {
        let proposal = Kind::Propose(pb::Proposal {
            action: Some(action),
            description: description.into(),
            voting_period: 0,
        });
        let step = format!("{proposer} proposes: {description}");
        let r = self.ok(proposer, proposal, &step).await?;
        let id = r.event::<ProposalCreated>().context("no proposal id")?.id;
        let members = self.d.parties().genesis.committee.members.clone();
        for m in members.iter().filter(|m| *m != proposer) {
            if self.d.proposal(id).await?.status != pb::ProposalStatus::Open as i32 {
                break;
            }
            let vote = Kind::Vote(pb::Vote {
                proposal_id: id,
                approve: true,
            });
            self.ok(m, vote, &format!("{m} approves proposal {id}"))
                .await?;
        }
        let p = self.d.proposal(id).await?;
        ensure!(
            p.status == pb::ProposalStatus::Approved as i32,
            "proposal {id} ({description}) was not approved"
        );
        Ok(p.approvals)
    }

    /// The committee approves each contract of `code` not yet deployed with that code
    /// (the housing authority proposes it).
    async fn deploy(&mut self, code: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
        self.say("\n== Contracts, approved by the management committee before they run ==");
        let mut t = table(&["contract", "SM3 code hash", "version", "approved by"]);
        for (name, wasm) in code {
            let hash = sm3(wasm);
            let deployed = self.d.contract(name).await?;
            if deployed.is_none_or(|c| c.code_hash != hash) {
                let action = pb::proposal::Action::Deploy(pb::DeployContract {
                    name: name.to_string(),
                    code: wasm.clone(),
                });
                self.govern("housing", action, &format!("deploy {name}"))
                    .await?;
            }
            let c = self.d.contract(name).await?.context("not deployed")?;
            ensure!(
                c.code_hash == hash,
                "{name}: the deployed code is not the built artifact"
            );
            t.add_row([
                name.to_string(),
                hex::encode(&hash[..8]) + "…",
                c.version.to_string(),
                c.approvers.join(", "),
            ]);
        }
        self.show(t);
        Ok(())
    }

    /// A table of the points of `depts` before and after.
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
}

/// The gate's decision in a receipt.
fn access(r: &Receipt) -> anyhow::Result<&Access> {
    r.event::<Access>()
        .context("the receipt holds no gate decision")
}

/// A national ID (GB 11643) from area code, birth date and sequence, with its check digit.
fn national_id(area: &str, birth: &str, seq: u32) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_pass_the_chain_check() {
        for (area, birth, seq) in [
            ("320106", "19880314", 131),
            ("341102", "19950908", 384),
            ("320115", "19991228", 999),
        ] {
            let id = national_id(area, birth, seq);
            assert!(certs::subject_id(&[0u8; 32], &id).is_ok(), "{id}");
        }
        assert_eq!(mask("320106198803141316"), "320106********1316");
    }
}
