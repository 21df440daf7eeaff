//! What the scenarios need of a chain, behind one trait, so that one script
//! (`script/`) is both the demo and its golden test: `govchain demo` drives a node over
//! gRPC ([`crate::remote::Remote`]), and the golden test replays the same script on an
//! in-process chain with everything fixed, one block per step (`golden/replay.rs`).
//!
//! A step's name (`step`) is what the golden file calls the block it becomes; a node
//! forms its own blocks and ignores it.

use std::collections::BTreeMap;

use govchain_client::rpc::GetReleasesResponse;
use govchain_client::shares::Trust;
use govchain_client::{Entropy, Receipt, Signer};
use govchain_state::Genesis;
use govchain_state::access::audit::ExportFile;
use govchain_types::pb;
use govchain_types::pb::payload::Kind;
use indicatif::ProgressBar;

/// Who takes part: the network's genesis (the trust anchor), each department's signer
/// and the randomness departments seal certificates with.
pub(crate) struct Parties {
    /// The network's genesis.
    pub(crate) genesis: Genesis,
    /// The chain salt the departments hash national ids with (`chain.salt`).
    pub(crate) salt: Vec<u8>,
    /// What genesis says a requester may trust (custody key set, issuers' keys).
    pub(crate) trust: Trust,
    /// Every department's signer, by department id.
    pub(crate) signers: BTreeMap<String, Signer>,
    /// The departments' randomness for sealing certificates.
    pub(crate) sealing: Entropy,
}

/// A chain the scenarios run on.
pub(crate) trait Driver {
    /// Who takes part.
    fn parties(&self) -> &Parties;

    /// Makes this run's certificate and application numbers unique on the chain, so the
    /// demo can run again on the same network (0 on a fresh chain).
    fn run(&self) -> u64;

    /// Submits one transaction of `dept` and waits for its receipt, which may be a
    /// failure.
    async fn send(&mut self, dept: &str, payload: Kind, step: &str) -> anyhow::Result<Receipt>;

    /// Submits `items` (department, payload) at once and waits until every one is
    /// committed; fails unless every one succeeded. `bar` counts committed ones.
    async fn batch(
        &mut self,
        items: Vec<(String, Kind)>,
        step: &str,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Receipt>>;

    /// Every department's points.
    async fn balances(&mut self) -> anyhow::Result<BTreeMap<String, u64>>;

    /// Governance proposal `id`.
    async fn proposal(&mut self, id: u64) -> anyhow::Result<pb::ProposalRecord>;

    /// The deployed contract `name`, if any.
    async fn contract(&mut self, name: &str) -> anyhow::Result<Option<pb::ContractRecord>>;

    /// The access policy's lines.
    async fn policy(&mut self) -> anyhow::Result<Vec<String>>;

    /// Waits until a threshold of custodians released key shares for every one of the
    /// allowed `requests` (on a replay: the custodian's scan, whose releases form the
    /// next block, `step`, and cover exactly `requests`).
    async fn released(&mut self, requests: &[u64], step: &str) -> anyhow::Result<()>;

    /// Waits until the executor of compute job `request` posted its result (on a
    /// replay: the job runner's scan, whose result forms the next block, `step`).
    async fn job_done(&mut self, request: u64, step: &str) -> anyhow::Result<()>;

    /// What `GetReleases` answers for `request`.
    async fn releases(&mut self, request: u64) -> anyhow::Result<GetReleasesResponse>;

    /// The supervisor's audit query.
    async fn audit_query(&mut self, q: pb::AuditQuery) -> anyhow::Result<pb::AuditPage>;

    /// The supervisor's audit export with proofs.
    async fn audit_export(
        &mut self,
        q: pb::AuditQuery,
    ) -> anyhow::Result<(pb::AuditExport, ExportFile)>;
}
