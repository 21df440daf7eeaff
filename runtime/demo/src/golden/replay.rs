//! The golden test's chain: the demo's network (the 'nanjing' departments, one validator
//! run by the tax bureau, 1-of-1 custody) with every key, the salt, the clock and the
//! randomness fixed, driven one block per step of the script. Its first block is the
//! validator's custody key generation (its dealing is derived from its fixed custody
//! key, so the key it generates is fixed too).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use govchain_client::rpc::GetReleasesResponse;
use govchain_client::{Entropy, Receipt, Signer};
use govchain_consensus::{Chain, ChainConfig, CommittedBlock};
use govchain_crypto::{PrivateKey, sm3};
use govchain_custody::keygen;
use govchain_node::custodian::{Custodian, Step, release_payloads};
use govchain_node::follower::Follower;
use govchain_node::jobs::JobRunner;
use govchain_node::output::receipt_error;
use govchain_state::access::audit::ExportFile;
use govchain_state::genesis::{
    ChainParams, Committee, Genesis, GenesisCustody, GenesisValidator, nanjing, nanjing_access,
};
use govchain_state::{access, query};
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use indicatif::ProgressBar;

use crate::driver::{Driver, Parties};

/// The demo's chain id (`govchain demo` runs `init --chain-id govchain-demo`).
const CHAIN_ID: &str = "govchain-demo";
/// Genesis time: 2026-11-16 09:00 in Nanjing (01:00 UTC).
const GENESIS_TIME_MS: u64 = 1_794_790_800_000;
/// Block time step.
const STEP_MS: u64 = 1_000;
/// Most transactions per block when the script submits a batch (as the demo submits
/// them, [`crate::remote`]).
const BATCH: usize = 500;
/// The validator, run by the tax bureau (`init --operated-by tax`).
const VALIDATOR: &str = "node1";

/// 32 fixed bytes named by `what`.
fn fixed(what: &str) -> [u8; 32] {
    sm3(format!("govchain golden scenarios: {what}").as_bytes())
}

/// The in-process chain, and the validator's custodian and job runner.
pub(super) struct Replay {
    pub(super) chain: Arc<Chain>,
    parties: Parties,
    validator_key: PrivateKey,
    /// The validator's dealing, until its key generation block.
    deal: keygen::Deal,
    custodian: Custodian,
    custodian_cursor: u64,
    jobs: JobRunner,
    jobs_cursor: u64,
    nonces: BTreeMap<String, u64>,
    time_ms: u64,
    /// The pinned lines so far.
    pub(super) lines: Vec<String>,
    _dir: tempfile::TempDir,
}

/// The genesis `govchain init` writes for the demo (one validator run by the tax bureau,
/// custody 1 of 1, the preset's committee and access), with the given keys.
fn demo_genesis(
    keys: &BTreeMap<String, PrivateKey>,
    validator: &PrivateKey,
    custody_key: &PrivateKey,
) -> Genesis {
    let hex_pub = |k: &PrivateKey| hex::encode(k.public_key().to_sec1());
    let committee = nanjing().committee();
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: GENESIS_TIME_MS,
        salt_commitment: hex::encode(govchain_proof::salt_commitment(&fixed("chain salt"))),
        departments: nanjing()
            .departments
            .iter()
            .map(|d| d.genesis(hex_pub(&keys[&d.id])))
            .collect(),
        validators: vec![GenesisValidator {
            id: VALIDATOR.into(),
            department: "tax".into(),
            public_key: hex_pub(validator),
            custody_share: 1,
            custody_key: hex_pub(custody_key),
            ..Default::default()
        }],
        committee: Committee {
            threshold: committee.len() as u32 / 2 + 1,
            members: committee,
        },
        params: ChainParams::default(),
        access: nanjing_access(),
        custody: Some(GenesisCustody {
            threshold: 1,
            release_window_ms: access::release::DEFAULT_RELEASE_WINDOW_MS,
            keygen_phase_ms: govchain_state::genesis::DEFAULT_KEYGEN_PHASE_MS,
        }),
    };
    genesis.validate().expect("the demo genesis is valid");
    genesis
}

impl Replay {
    /// A fresh chain in a temporary folder.
    pub(super) fn new() -> Self {
        let key = |what: &str| PrivateKey::from_bytes(&fixed(what)).expect("a valid scalar");
        let keys: BTreeMap<String, PrivateKey> = nanjing()
            .departments
            .iter()
            .map(|d| (d.id.to_string(), key(&format!("department {}", d.id))))
            .collect();
        let validator_key = key("validator node1");
        let custody_key = key("custody key node1");
        let genesis = demo_genesis(&keys, &validator_key, &custody_key);
        // What the key generation block makes: the validator's dealing, derived from its
        // custody key, is the whole key (1 of 1); `generate_key` checks the chain agrees.
        let holders = [(1, custody_key.public_key().to_sec1())];
        let deal = keygen::deal(&custody_key, CHAIN_ID, 1, 1, keygen::Dealt::Fresh, &holders)
            .expect("a dealing");
        let set = keygen::key_set(&[&deal.commitments]).expect("a key set");
        let sub = keygen::open_sub_share(&custody_key, 1, &deal.commitments, &deal.sub_shares[0])
            .expect("its own sub-share");
        let share = keygen::share(1, &[(1, &sub[..])], false).expect("a share");
        let dir = tempfile::tempdir().expect("temporary folder");
        let store =
            Arc::new(govchain_store::Store::open(&dir.path().join("db"), false).expect("store"));
        let config = ChainConfig {
            mempool_capacity: 100_000,
            mempool_per_account: 100_000,
        };
        let chain = Chain::open(store, &genesis, config).expect("chain");
        let custodian = Custodian {
            chain: chain.clone(),
            validator_id: VALIDATOR.into(),
            key: govchain_crypto::signer::in_memory(validator_key.clone()),
            share,
            round: 1,
            cursor_file: dir.path().join("custody.cursor"),
            entropy: Entropy::seeded(b"validator node1 custodian"),
        };
        let jobs = JobRunner {
            chain: chain.clone(),
            validator_id: VALIDATOR.into(),
            key: validator_key.clone(),
            cursor_file: dir.path().join("jobs.cursor"),
            attempts: Default::default(),
            entropy: Entropy::seeded(b"validator node1 job runner"),
        };
        let trust =
            govchain_node::network::trust_with(&genesis, set).expect("the demo genesis' trust");
        let signers = keys
            .into_iter()
            .map(|(dept, key)| (dept.clone(), Signer::new(dept, key)))
            .collect();
        Replay {
            chain,
            parties: Parties {
                genesis,
                salt: fixed("chain salt").to_vec(),
                trust,
                signers,
                sealing: Entropy::seeded(b"departments"),
            },
            validator_key,
            deal,
            custodian,
            custodian_cursor: 0,
            jobs,
            jobs_cursor: 0,
            nonces: BTreeMap::new(),
            time_ms: GENESIS_TIME_MS,
            lines: vec![],
            _dir: dir,
        }
    }

    /// The validator's key generation, as its node runs it: the dealing and its empty
    /// complaints in the first block. The key set the chain stores must be the one the
    /// parties trust, proven from genesis as a node proves it to a client.
    pub(super) async fn generate_key(&mut self) -> anyhow::Result<()> {
        let step = |step| {
            Kind::Keygen(pb::CustodyKeygen {
                round: 1,
                step: Some(step),
            })
        };
        let deal = pb::KeygenDeal {
            commitments: self.deal.commitments.clone(),
            sub_shares: self.deal.sub_shares.clone(),
        };
        self.validator_block(
            "custody key generation",
            vec![
                step(pb::custody_keygen::Step::Deal(deal)),
                step(pb::custody_keygen::Step::Complaints(
                    pb::KeygenComplaints::default(),
                )),
            ],
        )
        .await?;
        let proof = govchain_state::keygen::key_proof(self.chain.store(), CHAIN_ID)?
            .context("no custody key after key generation")?;
        let anchor =
            govchain_proof::TrustAnchor::from_genesis_json(&self.parties.genesis.to_json())
                .map_err(anyhow::Error::msg)?;
        let proven =
            govchain_proof::custody::verify_key_set(&anchor, &proof).map_err(anyhow::Error::msg)?;
        ensure!(
            proven.public_key_set == self.parties.trust.custody.to_bytes(),
            "the chain generated another custody key than the validator's dealing"
        );
        Ok(())
    }

    fn next_nonce(&mut self, account: &str) -> u64 {
        let n = self.nonces.entry(account.to_string()).or_default();
        *n += 1;
        *n - 1
    }

    /// Signs `txs` (sender, payload) with consecutive nonces per sender, as the demo's
    /// client does, and commits them as the next block named `step`.
    async fn block(
        &mut self,
        step: &str,
        txs: Vec<(String, Kind)>,
    ) -> anyhow::Result<Vec<Receipt>> {
        let signed = txs
            .into_iter()
            .map(|(dept, payload)| {
                let nonce = self.next_nonce(&dept);
                self.parties.signers[&dept].sign(CHAIN_ID, nonce, payload)
            })
            .collect();
        self.commit(step, signed).await
    }

    /// Admits `signed` through the chain's admission (SM2 verification included) and
    /// commits exactly those transactions as the next block; fails if one is not
    /// admitted. The receipts may be failures.
    async fn commit(
        &mut self,
        step: &str,
        signed: Vec<pb::SignedTx>,
    ) -> anyhow::Result<Vec<Receipt>> {
        let n = signed.len();
        for r in self.chain.submit(signed, false).await {
            if let Err(e) = r {
                bail!("{step}: a transaction was not admitted: {e}");
            }
        }
        let txs = self.chain.take_pending(usize::MAX);
        ensure!(
            txs.len() == n,
            "{step}: the block does not take every transaction"
        );
        self.time_ms += STEP_MS;
        let b = self
            .chain
            .produce_block(txs, self.time_ms, VALIDATOR, &self.validator_key)
            .with_context(|| format!("{step}: block not produced"))?;
        self.pin(step, &b);
        b.receipts
            .iter()
            .map(|r| Ok(Receipt::new(r.tx_hash.clone(), r.clone())?))
            .collect()
    }

    /// One line for block `b`.
    fn pin(&mut self, step: &str, b: &CommittedBlock) {
        let h = &b.sealed.header;
        let mut txs = Vec::new();
        let mut receipts = Vec::new();
        for r in &b.receipts {
            txs.extend_from_slice(&r.tx_hash);
            receipts.extend_from_slice(&govchain_types::encode(r));
        }
        self.lines.push(format!(
            "{} {} txs={} block={} state={} audit={}/{} tx_hashes={} receipts={}",
            h.height,
            step.replace(' ', "_"),
            h.tx_count,
            hex::encode(b.sealed.hash),
            hex::encode(&h.state_root),
            hex::encode(&h.audit_root),
            h.audit_count,
            hex::encode(sm3(&txs)),
            hex::encode(sm3(&receipts)),
        ));
    }

    /// The validator's transactions (as `follower::transact` signs them), as one block
    /// in which every one must succeed.
    async fn validator_block(&mut self, step: &str, payloads: Vec<Kind>) -> anyhow::Result<()> {
        let signer = Signer::new(
            access::accounts::validator_account(VALIDATOR),
            self.validator_key.clone(),
        );
        let signed = payloads
            .into_iter()
            .map(|p| {
                let nonce = self.next_nonce(&signer.department);
                signer.sign(CHAIN_ID, nonce, p)
            })
            .collect();
        for r in self.commit(step, signed).await? {
            if let Some(e) = receipt_error(&r) {
                bail!("{step} failed: {e}");
            }
        }
        Ok(())
    }
}

impl Driver for Replay {
    fn parties(&self) -> &Parties {
        &self.parties
    }

    fn run(&self) -> u64 {
        0
    }

    async fn send(&mut self, dept: &str, payload: Kind, step: &str) -> anyhow::Result<Receipt> {
        let mut r = self.block(step, vec![(dept.to_string(), payload)]).await?;
        Ok(r.remove(0))
    }

    /// One block per [`BATCH`] transactions.
    async fn batch(
        &mut self,
        items: Vec<(String, Kind)>,
        step: &str,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Receipt>> {
        let mut out = Vec::with_capacity(items.len());
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<_> = items.by_ref().take(BATCH).collect();
            for r in self.block(step, chunk).await? {
                if let Some(e) = receipt_error(&r) {
                    bail!("{step} failed: {e}");
                }
                bar.inc(1);
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn balances(&mut self) -> anyhow::Result<BTreeMap<String, u64>> {
        Ok(query::balances(self.chain.store(), "")?
            .balances
            .into_iter()
            .map(|b| (b.department, b.balance))
            .collect())
    }

    async fn proposal(&mut self, id: u64) -> anyhow::Result<pb::ProposalRecord> {
        query::proposals(self.chain.store())?
            .into_iter()
            .find(|p| p.id == id)
            .with_context(|| format!("proposal {id} not found"))
    }

    async fn contract(&mut self, name: &str) -> anyhow::Result<Option<pb::ContractRecord>> {
        Ok(query::contracts(self.chain.store())?
            .into_iter()
            .find(|c| c.name == name))
    }

    async fn policy(&mut self) -> anyhow::Result<Vec<String>> {
        Ok(query::policy(self.chain.store())?.lines)
    }

    /// The custodian's two scans after the last block (as the node runs one after each
    /// commit): its approvals form the next block, its shares the one after, and both
    /// must be for exactly `requests`.
    async fn released(&mut self, requests: &[u64], step: &str) -> anyhow::Result<()> {
        let mut wanted = requests.to_vec();
        wanted.sort_unstable();
        for (what, approving) in [("approves", true), ("releases shares", false)] {
            let round = self
                .custodian
                .scan(self.custodian_cursor, &BTreeSet::new())?;
            self.custodian_cursor = round.cursor;
            let mut got: Vec<u64> = round
                .work
                .iter()
                .filter(|w| matches!(w, Step::Approve(_)) == approving)
                .map(Step::request)
                .collect();
            got.sort_unstable();
            ensure!(
                got == wanted && round.work.len() == wanted.len(),
                "{step}: the custodian {what} for requests {got:?} (of {} steps), not {wanted:?}",
                round.work.len()
            );
            self.validator_block(step, release_payloads(round.work))
                .await?;
        }
        Ok(())
    }

    /// The job runner's scan after the last block; its result forms the next block and
    /// must be job `request`'s.
    async fn job_done(&mut self, request: u64, step: &str) -> anyhow::Result<()> {
        let round = self.jobs.scan(self.jobs_cursor, &BTreeSet::new())?;
        self.jobs_cursor = round.cursor;
        let posted: Vec<u64> = round.work.iter().map(|r| r.request).collect();
        ensure!(
            posted == [request],
            "{step}: the job runner posts results for jobs {posted:?}, not [{request}]"
        );
        let payloads = round.work.into_iter().map(Kind::Result).collect();
        self.validator_block(step, payloads).await
    }

    async fn releases(&mut self, request: u64) -> anyhow::Result<GetReleasesResponse> {
        let r = query::releases(self.chain.store(), request)?;
        Ok(r.into_response(self.chain.tip().header.time_ms))
    }

    async fn audit_query(&mut self, q: pb::AuditQuery) -> anyhow::Result<pb::AuditPage> {
        Ok(access::audit::query(self.chain.store(), &q, 10_000)?)
    }

    /// Pins one line per export: its subject, records, headers and SM3.
    async fn audit_export(
        &mut self,
        q: pb::AuditQuery,
    ) -> anyhow::Result<(pb::AuditExport, ExportFile)> {
        let export = access::audit::export(self.chain.store(), CHAIN_ID, &q)?;
        let file = ExportFile::from_export(&export, &q).map_err(anyhow::Error::msg)?;
        let records = file
            .verify(&self.parties.genesis.anchor())
            .map_err(anyhow::Error::msg)?;
        self.lines.push(format!(
            "audit {} records={records} headers={} export={}",
            hex::encode(&q.subject_id),
            file.headers.len(),
            hex::encode(sm3(&govchain_types::encode(&export)))
        ));
        Ok((export, file))
    }
}
