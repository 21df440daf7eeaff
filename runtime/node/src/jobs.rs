//! A validator's job runner (compute-to-data, `docs/design/compute.md`): follows the
//! committed compute jobs this validator executes (it runs a node of the certificate's
//! issuing department), collects the key shares validators released to it, opens the
//! document, runs the job's approved `job_<method>` read-only in the contract VM, and
//! posts only the result, signed with the validator key. The document never leaves this
//! process and is wiped after the run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use govchain_consensus::Chain;
use govchain_crypto::PrivateKey;
use govchain_custody::{Envelope, KeySet};
use govchain_state::compute::{self, MAX_OUTPUT};
use govchain_state::contracts::certificate_view;
use govchain_state::custody::{self, DEFAULT_RELEASE_WINDOW_MS};
use govchain_state::{BlockContext, Overlay, certs, keys};
use govchain_types::{TxError, pb};
use serde_json::json;
use tokio::sync::watch;

use crate::client::Signer;
use crate::opener::{open_document, verify_shares};

/// How long a posted result may take to commit before the next round retries.
const COMMIT_WAIT: Duration = Duration::from_secs(15);
/// Rounds also run on this tick.
const TICK: Duration = Duration::from_secs(2);
/// Most results posted per round.
const MAX_PER_ROUND: usize = 64;

/// A validator's job runner.
#[derive(Debug)]
pub(crate) struct JobRunner {
    pub(crate) chain: Arc<Chain>,
    pub(crate) validator_id: String,
    pub(crate) key: PrivateKey,
    /// File keeping the first request not yet settled (a restart resumes there).
    pub(crate) cursor_file: PathBuf,
}

#[derive(Debug, Default)]
struct Round {
    results: Vec<pb::ComputeResult>,
    cursor: u64,
}

impl JobRunner {
    /// Runs until `stop` turns true.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let signer = Signer {
            department: custody::validator_account(&self.validator_id),
            operator: String::new(),
            key: self.key.clone(),
        };
        let this = Arc::new(self);
        let mut commits = this.chain.subscribe();
        let mut cursor = crate::custodian::load_cursor(&this.cursor_file);
        loop {
            let scan = {
                let this = this.clone();
                tokio::task::spawn_blocking(move || this.scan(cursor)).await
            };
            match scan {
                Ok(Ok(round)) => {
                    if round.cursor != cursor {
                        cursor = round.cursor;
                        crate::custodian::save_cursor(&this.cursor_file, cursor);
                    }
                    if !round.results.is_empty() && !*stop.borrow() {
                        this.submit(&signer, round.results).await;
                        continue;
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "job scan failed; retrying"),
                Err(e) => tracing::error!(error = %e, "job scan panicked; retrying"),
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = commits.recv() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Runs every job of this validator, from `cursor` on, whose key shares are in.
    fn scan(&self, cursor: u64) -> Result<Round, TxError> {
        let o = Overlay::new(self.chain.store().clone());
        let mut round = Round {
            results: vec![],
            cursor,
        };
        let Some(custody) = custody::key_set(&o)? else {
            return Ok(round);
        };
        let set = KeySet::from_bytes(&custody.public_key_set)
            .map_err(|e| TxError::Internal(format!("custody key set: {e}")))?;
        let window = match custody.release_window_ms {
            0 => DEFAULT_RELEASE_WINDOW_MS,
            w => w,
        };
        let tip = self.chain.tip().header;
        let mut settled_so_far = true;
        let mut after = cursor.checked_sub(1).map(keys::access_request);
        while let Some((k, v)) = o
            .next(keys::ACCESS_REQUESTS, after.as_deref())
            .map_err(|e| TxError::Internal(e.to_string()))?
        {
            after = Some(k);
            let req: pb::AccessRequest = govchain_types::decode("access request", &v)?;
            let mine = req
                .job
                .as_ref()
                .is_some_and(|j| j.executor == self.validator_id);
            let settled = !mine
                || compute::result(&o, req.seq)?.is_some()
                || {
                    let expired = tip.time_ms > req.time_ms.saturating_add(window);
                    match self.try_run(&o, &tip, &set, &req, expired) {
                        Ok(Some(result)) => round.results.push(result),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(request = req.seq, error = %e, "cannot run a compute job yet")
                        }
                    }
                    false
                };
            if settled && settled_so_far {
                round.cursor = req.seq + 1;
            } else {
                settled_so_far = false;
            }
            if round.results.len() == MAX_PER_ROUND {
                break;
            }
        }
        Ok(round)
    }

    /// The result of job `req` if it can be run (or can no longer be), `None` while its
    /// key shares are still coming.
    fn try_run(
        &self,
        o: &Overlay,
        tip: &pb::BlockHeader,
        set: &KeySet,
        req: &pb::AccessRequest,
        expired: bool,
    ) -> Result<Option<pb::ComputeResult>, TxError> {
        let _span = tracing::info_span!("compute_job", request = req.seq).entered();
        let job = req.job.clone().unwrap_or_default();
        let cert = certs::get(o, &req.cert_id)?;
        let envelope = Envelope::parse(&cert.key_envelope)
            .map_err(|e| TxError::Internal(format!("certificate {}: {e}", cert.id)))?;
        let releases = custody::releases(o, req.seq)?;
        let (_, good) = verify_shares(set, &envelope, &releases, &self.key, &self.validator_id);
        let mut result = pb::ComputeResult {
            request: req.seq,
            code_hash: job.code_hash.clone(),
            ..Default::default()
        };
        if good.len() < set.threshold() {
            if !expired {
                return Ok(None);
            }
            result.error = format!(
                "only {} valid key share(s) of the {} needed were released within the request's window",
                good.len(),
                set.threshold()
            );
            return Ok(Some(self.sign(result)));
        }
        let doc = match open_document(set, &good, &envelope, &cert) {
            Ok(d) => zeroize::Zeroizing::new(d),
            Err(e) => {
                result.error = format!("{e:#}");
                return Ok(Some(self.sign(result)));
            }
        };
        result.input_hash = cert.content_hash.clone();
        let input = (|| -> Result<Vec<u8>, String> {
            let document: serde_json::Value = serde_json::from_slice(&doc)
                .map_err(|e| format!("the certificate's document is not JSON: {e}"))?;
            let args: serde_json::Value = if job.args.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&job.args)
                    .map_err(|e| format!("the job's arguments are not JSON: {e}"))?
            };
            let view: serde_json::Value =
                serde_json::from_slice(&certificate_view(&cert, req.seq)).expect("view is JSON");
            Ok(
                json!({"args": args, "certificate": view, "document": document})
                    .to_string()
                    .into_bytes(),
            )
        })();
        let input = match input {
            Ok(i) => zeroize::Zeroizing::new(i),
            Err(e) => {
                result.error = e;
                return Ok(Some(self.sign(result)));
            }
        };
        let ctx = BlockContext {
            height: tip.height,
            time_ms: tip.time_ms,
            proposer: String::new(),
        };
        let (outcome, gas) = self.chain.executor().run_job(&ctx, req, input.to_vec())?;
        result.gas_used = gas;
        match outcome {
            Ok(out) if out.len() > MAX_OUTPUT => {
                result.error = format!(
                    "the job's output of {} bytes exceeds {MAX_OUTPUT}",
                    out.len()
                );
            }
            Ok(out) if out.is_empty() => result.error = "the job returned nothing".into(),
            Ok(out) => result.output = out,
            Err(e) => result.error = e.chars().take(compute::MAX_ERROR / 4).collect(),
        }
        tracing::info!(contract = %job.contract, method = %job.method, gas, ok = result.error.is_empty(), "ran a compute job");
        Ok(Some(self.sign(result)))
    }

    fn sign(&self, mut r: pb::ComputeResult) -> pb::ComputeResult {
        let digest = compute::result_digest(self.chain.chain_id(), &r);
        r.signature = self.key.sign(&digest).to_bytes().to_vec();
        r
    }

    async fn submit(&self, signer: &Signer, results: Vec<pb::ComputeResult>) {
        let nonce = match self.chain.next_nonce(&signer.department, "") {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "job runner: no nonce");
                return;
            }
        };
        let txs = results
            .into_iter()
            .zip(nonce..)
            .map(|(r, n)| signer.sign(self.chain.chain_id(), n, pb::payload::Kind::Result(r)))
            .collect();
        for submitted in self.chain.submit(txs, true).await {
            let receiver = match submitted {
                Ok((_, Some(r))) => r,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "job result not admitted");
                    tokio::time::sleep(TICK).await;
                    return;
                }
            };
            match tokio::time::timeout(COMMIT_WAIT, receiver).await {
                Ok(Ok(r)) if r.status == pb::TxStatus::Ok as i32 => {
                    tracing::info!(height = r.height, "posted a compute job result")
                }
                Ok(Ok(r)) => {
                    tracing::warn!(error = %r.error_message, "job result refused; the next round re-checks")
                }
                _ => tracing::warn!("job result not committed in time; the next round re-checks"),
            }
        }
    }
}
