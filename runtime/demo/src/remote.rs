//! The scenarios against a running node, over gRPC, as departments and the supervisor
//! would run them: keys from the network folder, every answer checked against its
//! genesis, the node's own custodians and job runner doing their part.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use govchain_client::rpc::*;
use govchain_client::{Client, ClientError, Entropy, Receipt};
use govchain_node::network::{
    CUSTODY_KEY_WAIT, connect_checked, export_audit, signer, trust, wait_for_result,
};
use govchain_node::output::receipt_error;
use govchain_state::access::audit::ExportFile;
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use indicatif::ProgressBar;

use crate::driver::{Driver, Parties};

/// How long the demo waits for a batch to commit, or for a node's custodians or job
/// runner.
const WAIT: Duration = Duration::from_secs(300);

/// The submissions of one `SubmitTxs` call.
const CHUNK: usize = 500;

/// A node, driven over gRPC.
pub(crate) struct Remote {
    client: Client,
    parties: Parties,
    run: u64,
}

impl Remote {
    /// Connects to the node at `endpoint`, checked against the network folder `home`
    /// (its genesis and the departments' key files).
    pub(crate) async fn connect(endpoint: &str, home: &Path) -> anyhow::Result<Self> {
        let (client, genesis) = connect_checked(endpoint, home).await?;
        let mut signers = BTreeMap::new();
        for d in &genesis.departments {
            signers.insert(d.id.clone(), signer(home, Some(&d.id), None, None)?);
        }
        // Read as the auditor, whose key every demo network has.
        let reader = anyhow::Context::context(
            signers.get("supervision"),
            "the demo needs the 'supervision' department (the auditor)",
        )?;
        let trust = trust(&client, reader, &genesis, CUSTODY_KEY_WAIT).await?;
        Ok(Remote {
            run: client.status().height,
            parties: Parties {
                salt: govchain_node::network::chain_salt(home, &genesis)?,
                trust,
                genesis,
                signers,
                sealing: Entropy::Os,
            },
            client,
        })
    }
}

impl Remote {
    /// `message` as a read of `path` signed by the supervision department (the auditor):
    /// the demo narrates what a supervisor sees.
    fn supervised<M: prost::Message>(
        &self,
        path: &str,
        message: M,
    ) -> anyhow::Result<tonic::Request<M>> {
        Ok(self
            .client
            .signed(&self.parties.signers["supervision"], path, message)?)
    }
}

impl Driver for Remote {
    fn parties(&self) -> &Parties {
        &self.parties
    }

    fn run(&self) -> u64 {
        self.run
    }

    async fn send(&mut self, dept: &str, payload: Kind, _step: &str) -> anyhow::Result<Receipt> {
        Ok(self
            .client
            .submit(&self.parties.signers[dept], payload)
            .await?)
    }

    async fn batch(
        &mut self,
        items: Vec<(String, Kind)>,
        step: &str,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Receipt>> {
        let mut txs = Vec::with_capacity(items.len());
        for (dept, payload) in items {
            let signer = &self.parties.signers[&dept];
            let nonce = self.client.next_nonce(signer).await?;
            txs.push(signer.sign(self.client.chain_id(), nonce, payload));
        }
        let mut chain = self.client.chain();
        let mut hashes = Vec::new();
        for chunk in txs.chunks(CHUNK) {
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
                        "{step}: a transaction was not admitted: {} ({})",
                        e.message,
                        e.code
                    );
                }
                hashes.push(s.tx_hash);
            }
        }
        let mut receipts = Vec::with_capacity(hashes.len());
        let deadline = Instant::now() + WAIT;
        for h in hashes {
            let receipt = loop {
                let req = self.client.signed(
                    &self.parties.signers["supervision"],
                    "/govchain.v1.Chain/GetTx",
                    GetTxRequest {
                        tx_hash: h.clone(),
                        prove: false,
                    },
                )?;
                if let Ok(r) = chain.get_tx(req).await
                    && let Some(r) = r.into_inner().receipt
                {
                    break r;
                }
                ensure!(
                    Instant::now() < deadline,
                    "{step}: transactions not committed within {} s",
                    WAIT.as_secs()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            if let Some(e) = receipt_error(&receipt) {
                bail!("{step} failed: {e}");
            }
            bar.inc(1);
            receipts.push(Receipt::new(h, receipt)?);
        }
        Ok(receipts)
    }

    async fn balances(&mut self) -> anyhow::Result<BTreeMap<String, u64>> {
        let r = self
            .client
            .points()
            .get_balances(self.supervised(
                "/govchain.v1.Points/GetBalances",
                GetBalancesRequest {
                    department: String::new(),
                },
            )?)
            .await
            .map_err(ClientError::from)?
            .into_inner();
        Ok(r.balances
            .into_iter()
            .map(|b| (b.department, b.balance))
            .collect())
    }

    async fn proposal(&mut self, id: u64) -> anyhow::Result<pb::ProposalRecord> {
        Ok(self
            .client
            .governance()
            .get_proposal(self.supervised(
                "/govchain.v1.Governance/GetProposal",
                GetProposalRequest { id },
            )?)
            .await
            .map_err(ClientError::from)?
            .into_inner())
    }

    async fn contract(&mut self, name: &str) -> anyhow::Result<Option<pb::ContractRecord>> {
        let r = self
            .client
            .contracts()
            .get_contract(self.supervised(
                "/govchain.v1.Contracts/GetContract",
                GetContractRequest { name: name.into() },
            )?)
            .await;
        match r.map_err(ClientError::from) {
            Ok(c) => Ok(Some(c.into_inner())),
            Err(e) if e.code() == Some(govchain_types::ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn policy(&mut self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .client
            .certificates()
            .get_policy(
                self.supervised("/govchain.v1.Certificates/GetPolicy", GetPolicyRequest {})?,
            )
            .await
            .map_err(ClientError::from)?
            .into_inner()
            .lines)
    }

    async fn released(&mut self, requests: &[u64], _step: &str) -> anyhow::Result<()> {
        let threshold = self.parties.trust.custody.threshold();
        let deadline = Instant::now() + WAIT;
        for &request in requests {
            while self.releases(request).await?.releases.len() < threshold {
                ensure!(
                    Instant::now() < deadline,
                    "request {request}: fewer than {threshold} key shares released within {} s",
                    WAIT.as_secs()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    async fn job_done(&mut self, request: u64, _step: &str) -> anyhow::Result<()> {
        let supervisor = &self.parties.signers["supervision"];
        wait_for_result(&self.client, supervisor, request, WAIT).await?;
        Ok(())
    }

    async fn releases(&mut self, request: u64) -> anyhow::Result<GetReleasesResponse> {
        let req = self.supervised(
            "/govchain.v1.Certificates/GetReleases",
            GetReleasesRequest { request },
        )?;
        Ok(self
            .client
            .certificates()
            .get_releases(req)
            .await
            .map_err(ClientError::from)?
            .into_inner())
    }

    async fn audit_query(&mut self, q: AuditQuery) -> anyhow::Result<AuditPage> {
        let req = self.supervised("/govchain.v1.Audit/Query", q)?;
        Ok(self
            .client
            .audit()
            .query(req)
            .await
            .map_err(ClientError::from)?
            .into_inner())
    }

    async fn audit_export(&mut self, q: AuditQuery) -> anyhow::Result<(AuditExport, ExportFile)> {
        export_audit(&self.client, &self.parties.signers["supervision"], q).await
    }
}
