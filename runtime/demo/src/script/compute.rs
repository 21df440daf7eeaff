//! Scenario 2, compute-to-data: the bank may not read 张伟's tax payment certificate, but
//! its approved `risk-model` runs over it on the tax bureau's validator, which posts
//! only the signed score, encrypted to the bank.

use std::time::Instant;

use anyhow::{Context, ensure};
use govchain_client::event::ComputeRequested;
use govchain_node::network::check_result;
use govchain_node::output::table;
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use serde_json::{Value, json};

use super::{Script, access};
use crate::driver::Driver;

impl<D: Driver> Script<D> {
    /// Scenario 2 over the tax certificate `cert`.
    pub(super) async fn compute_to_data(&mut self, cert: &str) -> anyhow::Result<()> {
        self.say("\n== 2. Compute-to-data: the bank's risk model runs where the tax data lives ==");
        let before = self.d.balances().await?;
        let mut t = table(&["step", "who", "outcome"]);
        let read = Kind::Request(pb::RequestAccess {
            cert_id: cert.into(),
            purpose: "credit_assessment".into(),
        });
        let r = self
            .ok("bank", read, "bank reads the tax certificate")
            .await?;
        let denied = access(&r)?;
        ensure!(
            !denied.allowed(),
            "the bank must not read tax records directly, but the gate said {}",
            denied.decision
        );
        t.add_row([
            "read the tax payment certificate".into(),
            "bank".into(),
            format!("DENIED: {}", denied.reason),
        ]);
        let application = format!("NJB-PL-2026-{:06}", self.d.run() + 1873);
        let args = json!({"application": application, "loan_amount_yuan": 1_200_000, "term_months": 360, "annual_rate_bps": 310});
        let job = Kind::Compute(pb::ComputeJob {
            cert_id: cert.into(),
            purpose: "credit_assessment".into(),
            contract: "risk-model".into(),
            method: "score".into(),
            args: args.to_string().into_bytes(),
        });
        let r = self
            .ok("bank", job, "bank asks for risk-model.score")
            .await?;
        let allowed = access(&r)?;
        ensure!(allowed.allowed(), "compute job denied: {}", allowed.reason);
        let request = allowed.request;
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
                allowed.reason
            ),
        ]);
        let started = Instant::now();
        self.d
            .released(&[request], "custodian releases the job's key share")
            .await?;
        self.d
            .job_done(request, "job runner posts the result")
            .await?;
        let elapsed = started.elapsed();
        let score = self.check_job(request, &executor, &mut t).await?;
        self.show(t);
        self.say(&format!(
            "The bank learns {} (income stability '{}', debt-to-income {}) and never the 36 monthly incomes; the tax bureau's node decrypted them in memory and wiped them after the run ({:.1} s from request to signed result).",
            score["recommendation"].as_str().unwrap_or(""),
            score["income_stability"].as_str().unwrap_or(""),
            score["dti_band"].as_str().unwrap_or(""),
            elapsed.as_secs_f64()
        ));
        let after = self.d.balances().await?;
        self.show(self.points_table(&before, &after, &["bank", "tax"]));
        ensure!(
            after["bank"] < before["bank"],
            "the compute job was not paid"
        );
        Ok(())
    }

    /// Checks job `request`'s posted result against genesis alone (`check_result`: the
    /// executor's SM2 signature, the approved code, the certificate), that no released
    /// share opens with the bank's key, that it ran on a node of the tax bureau and that
    /// nothing of the tax record comes back; the score.
    async fn check_job(
        &mut self,
        request: u64,
        executor: &str,
        t: &mut comfy_table::Table,
    ) -> anyhow::Result<Value> {
        let r = self.d.releases(request).await?;
        let deployed = self
            .d
            .contract("risk-model")
            .await?
            .context("risk-model is not deployed")?;
        let p = self.d.parties();
        let bank = &p.signers["bank"].key;
        let plain = check_result(&p.genesis, request, &r, bank)?;
        let shares: Vec<String> = r.releases.iter().map(|s| s.validator.clone()).collect();
        ensure!(
            r.releases
                .iter()
                .all(|s| bank.decrypt(&s.encrypted_share).is_err()),
            "a key share of job {request} opens with the bank's key"
        );
        let result = r.result.clone().unwrap_or_default();
        let owner = p
            .genesis
            .validators
            .iter()
            .find(|v| v.id == result.executor);
        ensure!(
            owner.is_some_and(|v| v.department == "tax"),
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
        let res = result.result.unwrap_or_default();
        ensure!(
            !res.failed,
            "job {request} failed on {executor}: {}",
            String::from_utf8_lossy(&plain)
        );
        ensure!(
            res.code_hash == deployed.code_hash,
            "the job ran other code than the approved risk model"
        );
        let score: Value = serde_json::from_slice(&plain).context("the score is not JSON")?;
        let text = score.to_string();
        // Nothing of the record may come back: no monthly income or tax figure (21500,
        // 21900, 22300; 640, 680, 720), no name, no national ID.
        let zhang = &self.citizens[0];
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
                "band {} → {}; {} gas; encrypted to the bank, SM2-signed by {} (verified against genesis)",
                score["band"].as_str().unwrap_or(""),
                score["recommendation"].as_str().unwrap_or(""),
                res.gas_used,
                result.executor
            ),
        ]);
        self.report.insert("compute_to_data".into(), json!({"request": request, "executor": result.executor, "result": score, "released_by": shares}));
        Ok(score)
    }
}
