//! The golden test's chain: the demo's network (the 'nanjing' departments, one validator
//! run by the tax bureau, 1-of-1 custody) with every key, the salt, the custody key set,
//! the clock and the randomness fixed, driven one block at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use govchain_client::event::{Event, SystemEvent};
use govchain_client::rpc::GetReleasesResponse;
use govchain_client::seal::seal_certificate;
use govchain_client::{Entropy, Signer};
use govchain_consensus::{Chain, ChainConfig, CommittedBlock};
use govchain_crypto::{PrivateKey, sm3};
use govchain_custody::KeySet;
use govchain_node::custodian::{Custodian, release_payloads};
use govchain_node::follower::Follower;
use govchain_node::jobs::JobRunner;
use govchain_node::output::receipt_error;
use govchain_state::genesis::{
    ChainParams, Committee, Genesis, GenesisCustody, GenesisValidator, nanjing, nanjing_access,
};
use govchain_state::{access, certs, query};
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use serde_json::Value;

/// The demo's chain id (`govchain demo` runs `init --chain-id govchain-demo`).
const CHAIN_ID: &str = "govchain-demo";
/// Genesis time: 2026-11-16 09:00 in Nanjing (01:00 UTC).
const GENESIS_TIME_MS: u64 = 1_794_790_800_000;
/// Block time step.
const STEP_MS: u64 = 1_000;
/// The validator, run by the tax bureau (`init --operated-by tax`).
pub(super) const VALIDATOR: &str = "node1";

/// 32 fixed bytes named by `what`.
fn fixed(what: &str) -> [u8; 32] {
    sm3(format!("govchain golden scenarios: {what}").as_bytes())
}

/// A citizen of the scenarios; only the salted hash of the ID goes on chain.
#[derive(Debug, Clone)]
pub(super) struct Citizen {
    pub(super) name: &'static str,
    pub(super) national_id: String,
    /// The subject id, hex.
    pub(super) subject: String,
}

/// The chain and everything that signs on it.
pub(super) struct Net {
    pub(super) chain: Arc<Chain>,
    pub(super) genesis: Genesis,
    keys: BTreeMap<String, PrivateKey>,
    validator_key: PrivateKey,
    custody: KeySet,
    custodian: Custodian,
    custodian_cursor: u64,
    jobs: JobRunner,
    jobs_cursor: u64,
    /// The departments' randomness (sealing certificates).
    sealing: Entropy,
    nonces: BTreeMap<String, u64>,
    time_ms: u64,
    /// The pinned lines so far.
    pub(super) lines: Vec<String>,
    /// The scenarios' citizens, in the order the demo meets them.
    pub(super) citizens: Vec<Citizen>,
    _dir: tempfile::TempDir,
}

/// The genesis `govchain init` writes for the demo (one validator run by the tax bureau,
/// custody 1 of 1, the preset's committee and access), with the given keys.
fn demo_genesis(
    keys: &BTreeMap<String, PrivateKey>,
    validator: &PrivateKey,
    set: &KeySet,
) -> Genesis {
    let hex_pub = |k: &PrivateKey| hex::encode(k.public_key().to_sec1());
    let committee = nanjing().committee();
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: GENESIS_TIME_MS,
        chain_salt: hex::encode(fixed("chain salt")),
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
            public_key_set: hex::encode(set.to_bytes()),
            release_window_ms: access::release::DEFAULT_RELEASE_WINDOW_MS,
        }),
    };
    genesis.validate().expect("the demo genesis is valid");
    genesis
}

impl Net {
    /// A fresh chain in a temporary folder.
    pub(super) fn new() -> Self {
        let key = |what: &str| PrivateKey::from_bytes(&fixed(what)).expect("a valid scalar");
        let keys: BTreeMap<String, PrivateKey> = nanjing()
            .departments
            .iter()
            .map(|d| (d.id.to_string(), key(&format!("department {}", d.id))))
            .collect();
        let validator_key = key("validator node1");
        let (set, mut shares) =
            govchain_custody::deal_seeded(1, 1, fixed("custody")).expect("1 of 1");
        let genesis = demo_genesis(&keys, &validator_key, &set);
        let dir = tempfile::tempdir().expect("temporary folder");
        let store =
            Arc::new(govchain_store::Store::open(&dir.path().join("db"), false).expect("store"));
        let config = ChainConfig {
            mempool_capacity: 100_000,
        };
        let chain = Chain::open(store, &genesis, config).expect("chain");
        let custodian = Custodian {
            chain: chain.clone(),
            validator_id: VALIDATOR.into(),
            key: validator_key.clone(),
            share: shares.remove(0),
            cursor_file: dir.path().join("custody.cursor"),
            shares: Default::default(),
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
        Net {
            chain,
            genesis,
            keys,
            validator_key,
            custody: set,
            custodian,
            custodian_cursor: 0,
            jobs,
            jobs_cursor: 0,
            sealing: Entropy::seeded(b"departments"),
            nonces: BTreeMap::new(),
            time_ms: GENESIS_TIME_MS,
            lines: vec![],
            citizens: vec![],
            _dir: dir,
        }
    }

    /// `dept`'s signing key.
    pub(super) fn key(&self, dept: &str) -> &PrivateKey {
        &self.keys[dept]
    }

    /// A citizen (kept in [`Net::citizens`]), as the demo makes them.
    pub(super) fn citizen(
        &mut self,
        name: &'static str,
        area: &str,
        birth: &str,
        seq: u32,
    ) -> Citizen {
        let national_id = crate::national_id(area, birth, seq);
        let c = Citizen {
            name,
            subject: hex::encode(self.subject(&national_id)),
            national_id,
        };
        self.citizens.push(c.clone());
        c
    }

    /// The subject id of a national ID under the chain salt.
    pub(super) fn subject(&self, national_id: &str) -> [u8; 32] {
        certs::subject_id(&self.genesis.salt(), national_id).expect("a valid national ID")
    }

    /// A certificate of `issuer`, sealed for publishing (as the demo's `certificate`),
    /// and its id.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn certificate(
        &self,
        issuer: &str,
        cert_type: &str,
        national_id: &str,
        number: String,
        issued_on: &str,
        metadata: &[(&str, String)],
        doc: Value,
    ) -> (String, (String, Kind)) {
        let p = seal_certificate(
            &self.genesis.chain_id,
            &self.custody,
            &self.keys[issuer],
            pb::PublishCertificate {
                cert_type: cert_type.into(),
                subject_id: self.subject(national_id).to_vec(),
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
            &self.sealing,
        );
        (
            certs::cert_id(&p.cert_type, &p.number),
            (issuer.to_string(), Kind::Publish(p)),
        )
    }

    fn next_nonce(&mut self, account: &str) -> u64 {
        let n = self.nonces.entry(account.to_string()).or_default();
        *n += 1;
        *n - 1
    }

    /// Signs `txs` (sender, payload) with consecutive nonces per sender, as the demo's
    /// client does, and commits them as the next block named `step`. Panics if one is
    /// not admitted; returns the receipts (which may be failures).
    pub(super) async fn block(&mut self, step: &str, txs: Vec<(String, Kind)>) -> Vec<pb::Receipt> {
        let signed = txs
            .into_iter()
            .map(|(dept, payload)| {
                let signer = Signer::new(dept.clone(), self.keys[&dept].clone());
                let nonce = self.next_nonce(&dept);
                signer.sign(&self.genesis.chain_id, nonce, payload)
            })
            .collect();
        self.commit(step, signed).await
    }

    /// Admits `signed` through the chain's admission (SM2 verification included) and
    /// commits exactly those transactions as the next block.
    async fn commit(&mut self, step: &str, signed: Vec<pb::SignedTx>) -> Vec<pb::Receipt> {
        let n = signed.len();
        for r in self.chain.submit(signed, false).await {
            if let Err(e) = r {
                panic!("{step}: a transaction was not admitted: {e}");
            }
        }
        let txs = self.chain.take_pending(usize::MAX);
        assert_eq!(
            txs.len(),
            n,
            "{step}: the block does not take every transaction"
        );
        self.time_ms += STEP_MS;
        let b = self
            .chain
            .produce_block(txs, self.time_ms, VALIDATOR, &self.validator_key)
            .unwrap_or_else(|e| panic!("{step}: block not produced: {e}"));
        self.pin(step, &b);
        b.receipts.clone()
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

    /// One transaction in a block of its own, which must succeed.
    pub(super) async fn ok(&mut self, dept: &str, payload: Kind, step: &str) -> pb::Receipt {
        let r = self.send(dept, payload, step).await;
        if let Some(e) = receipt_error(&r) {
            panic!("{step} failed: {e}");
        }
        r
    }

    /// One transaction in a block of its own (its receipt may be a failure).
    pub(super) async fn send(&mut self, dept: &str, payload: Kind, step: &str) -> pb::Receipt {
        let mut r = self.block(step, vec![(dept.to_string(), payload)]).await;
        r.remove(0)
    }

    /// A batch in blocks of at most [`super::BATCH`], each of which must succeed.
    pub(super) async fn batch(
        &mut self,
        step: &str,
        items: Vec<(String, Kind)>,
    ) -> Vec<pb::Receipt> {
        let mut out = Vec::with_capacity(items.len());
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<_> = items.by_ref().take(super::BATCH).collect();
            for r in self.block(step, chunk).await {
                if let Some(e) = receipt_error(&r) {
                    panic!("{step} failed: {e}");
                }
                out.push(r);
            }
        }
        out
    }

    /// A contract call as the demo makes it (gas limit 10⁹).
    pub(super) async fn call(
        &mut self,
        dept: &str,
        contract: &str,
        method: &str,
        args: Value,
    ) -> pb::Receipt {
        let payload = Kind::Call(pb::ContractCall {
            contract: contract.into(),
            method: method.into(),
            args: args.to_string().into_bytes(),
            gas_limit: 1_000_000_000,
        });
        self.send(dept, payload, &format!("{dept} {contract}.{method}"))
            .await
    }

    /// [`Net::call`], which must succeed; its output.
    pub(super) async fn call_ok(
        &mut self,
        dept: &str,
        contract: &str,
        method: &str,
        args: Value,
    ) -> Value {
        let r = self.call(dept, contract, method, args).await;
        if let Some(e) = receipt_error(&r) {
            panic!("{dept} calling {contract}.{method} failed: {e}");
        }
        serde_json::from_slice(&r.output).expect("the call's output is JSON")
    }

    /// Every department's points.
    pub(super) fn balances(&self) -> BTreeMap<String, u64> {
        query::balances(self.chain.store(), "")
            .expect("balances")
            .balances
            .into_iter()
            .map(|b| (b.department, b.balance))
            .collect()
    }

    /// The custodian's scan after the last block (as the node runs it after each
    /// commit); its releases, if any, form the next block. Returns how many shares it
    /// released.
    pub(super) async fn custodian_round(&mut self, step: &str) -> usize {
        let round = self
            .custodian
            .scan(self.custodian_cursor, &BTreeSet::new())
            .expect("the custodian's scan");
        self.custodian_cursor = round.cursor;
        let n = round.work.len();
        if n > 0 {
            self.validator_block(step, release_payloads(round.work))
                .await;
        }
        n
    }

    /// The job runner's scan after the last block; its results, if any, form the next
    /// block. Returns how many it posted.
    pub(super) async fn job_round(&mut self, step: &str) -> usize {
        let round = self
            .jobs
            .scan(self.jobs_cursor, &BTreeSet::new())
            .expect("the job runner's scan");
        self.jobs_cursor = round.cursor;
        let n = round.work.len();
        if n > 0 {
            let payloads = round.work.into_iter().map(Kind::Result).collect();
            self.validator_block(step, payloads).await;
        }
        n
    }

    /// The validator's transactions (as `follower::transact` signs them), as one block
    /// in which every one must succeed.
    async fn validator_block(&mut self, step: &str, payloads: Vec<Kind>) {
        let signer = Signer::new(
            access::accounts::validator_account(VALIDATOR),
            self.validator_key.clone(),
        );
        let signed = payloads
            .into_iter()
            .map(|p| {
                let nonce = self.next_nonce(&signer.department);
                signer.sign(&self.genesis.chain_id, nonce, p)
            })
            .collect();
        for r in self.commit(step, signed).await {
            if let Some(e) = receipt_error(&r) {
                panic!("{step} failed: {e}");
            }
        }
    }

    /// What `GetReleases` answers for `request`.
    pub(super) fn releases(&self, request: u64) -> GetReleasesResponse {
        let r = query::releases(self.chain.store(), request).expect("releases");
        GetReleasesResponse {
            request: Some(r.request),
            releases: r.releases,
            certificate: Some(r.certificate),
            custody: r.custody,
            holders: r.holders,
            tip_time_ms: self.chain.tip().header.time_ms,
            result: r.result,
        }
    }
}

/// The first event of type `T` in a receipt.
pub(super) fn event<T: SystemEvent + Clone>(r: &pb::Receipt) -> Option<T> {
    r.events
        .iter()
        .filter_map(|e| Event::parse(e).ok())
        .find_map(|e| T::of(&e).cloned())
}
