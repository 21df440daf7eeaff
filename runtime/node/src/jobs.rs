//! A validator's job runner (compute-to-data, `docs/design/compute.md`): follows the
//! committed compute jobs this validator executes (it runs a node of the certificate's
//! issuing department), collects the key shares validators released to it, opens the
//! document, runs the job's approved `job_<method>` read-only in the contract VM, and
//! posts only the result, signed with the validator key. The document never leaves this
//! process and is wiped after the run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use govchain_consensus::Chain;
use govchain_crypto::PrivateKey;
use govchain_custody::{Envelope, KeySet};
use govchain_state::compute::{self, MAX_OUTPUT};
use govchain_state::contracts::certificate_view;
use govchain_state::custody::{self, DEFAULT_RELEASE_WINDOW_MS};
use govchain_state::{BlockContext, Overlay, certs, keys};
use govchain_types::{TxError, pb};
use serde_json::json;

use crate::follower::{Follower, Round, transact};
use crate::opener::{open_document, verify_shares};

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

impl Follower for JobRunner {
    type Work = pb::ComputeResult;
    const NAME: &'static str = "job runner";

    fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    fn cursor_file(&self) -> &Path {
        &self.cursor_file
    }

    /// Runs every job of this validator, from `cursor` on, whose key shares are in.
    fn scan(&self, cursor: u64) -> Result<Round<pb::ComputeResult>, TxError> {
        let o = Overlay::new(self.chain.store().clone());
        let mut round = Round {
            work: vec![],
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
                        Ok(Some(result)) => round.work.push(result),
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
            if round.work.len() == MAX_PER_ROUND {
                break;
            }
        }
        Ok(round)
    }

    async fn submit(&self, results: Vec<pb::ComputeResult>) {
        let n = results.len();
        let payloads = results.into_iter().map(pb::payload::Kind::Result).collect();
        let done = transact(
            Self::NAME,
            &self.chain,
            &self.validator_id,
            &self.key,
            payloads,
        )
        .await;
        tracing::info!(posted = done.len(), of = n, "posted compute job results");
    }
}

impl JobRunner {
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
}
