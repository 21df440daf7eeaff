//! The genesis document: who is on the chain at height 0 and under which parameters.
//!
//! Genesis is a JSON file written by `govchain init` and shared by every node. Its hash
//! (SM3 of its canonical JSON encoding, see [`Genesis::hash`]) is the `prev_hash` of
//! block 0, so nodes started from different genesis files can never agree on a block.

use govchain_crypto::{PublicKey, sm3};
use govchain_types::{pb, validate_dept_id, validate_name};
use serde::{Deserialize, Serialize};

use crate::access::policy::PolicyLine;
use crate::{Overlay, Result, StateError, tables};

/// Parameters every node must agree on (consensus rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    /// Largest accepted encoded `SignedTx`, bytes.
    pub max_tx_bytes: u64,
    /// Most transactions in one block.
    pub max_block_txs: u32,
    /// Largest encrypted certificate document, bytes.
    #[serde(default = "default_max_document")]
    pub max_document_bytes: u64,
    /// Largest encoded block, bytes: a proposal must reach every validator well within
    /// the propose timeout (3 s), so 2 MiB suits links of about 10 Mbit/s and up. Left out of the document when it is the default, so genesis
    /// files written before it existed keep their hash.
    #[serde(
        default = "default_max_block_bytes",
        skip_serializing_if = "is_default_max_block_bytes"
    )]
    pub max_block_bytes: u64,
    /// Most bytes of state one contract transaction may write (keys and values; a
    /// removal counts its key). Past it the call fails with WRITE_LIMIT and nothing of
    /// it is kept. Left out of the document when it is the default.
    #[serde(
        default = "default_max_tx_write_bytes",
        skip_serializing_if = "is_default_max_tx_write_bytes"
    )]
    pub max_tx_write_bytes: u64,
}

fn default_max_document() -> u64 {
    192 * 1024
}

fn default_max_tx_write_bytes() -> u64 {
    1 << 20
}

fn is_default_max_tx_write_bytes(v: &u64) -> bool {
    *v == default_max_tx_write_bytes()
}

fn default_max_block_bytes() -> u64 {
    2 << 20
}

fn is_default_max_block_bytes(v: &u64) -> bool {
    *v == default_max_block_bytes()
}

/// Room in a block for its header, the proposer's signature and the encoding around
/// its transactions' lengths; [`ChainParams::block_tx_bytes`] leaves it.
const BLOCK_OVERHEAD: u64 = 4096;

/// Smallest `max_tx_write_bytes`: a contract can always write one value of the largest
/// size the host takes, with its key.
const MIN_TX_WRITE_BYTES: u64 =
    (govchain_abi::limits::MAX_VALUE + govchain_abi::limits::MAX_KEY) as u64;

/// Largest `max_block_bytes`: well inside the 64 MiB message limit between nodes.
const MAX_BLOCK_BYTES_LIMIT: u64 = 32 << 20;

impl ChainParams {
    /// Bytes of transactions (each counted as encoded in a block, length prefix
    /// included) a proposer may put in one block so that it stays within
    /// `max_block_bytes`.
    pub fn block_tx_bytes(&self) -> u64 {
        self.max_block_bytes.saturating_sub(BLOCK_OVERHEAD)
    }
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            max_tx_bytes: 256 * 1024,
            max_block_txs: 10_000,
            max_document_bytes: default_max_document(),
            max_block_bytes: default_max_block_bytes(),
            max_tx_write_bytes: default_max_tx_write_bytes(),
        }
    }
}

/// A metadata field of a certificate type at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisField {
    /// Field name.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// Whether every certificate must carry it.
    #[serde(default)]
    pub required: bool,
}

/// A certificate type at genesis (see `pb::CertType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisCertType {
    /// Id.
    pub id: String,
    /// English name.
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// Departments that issue it.
    pub issuers: Vec<String>,
    /// Metadata fields.
    #[serde(default)]
    pub fields: Vec<GenesisField>,
    /// Points a reader pays the issuer.
    pub price: u64,
    /// Points minted per certificate published.
    pub publish_reward: u64,
}

impl GenesisCertType {
    /// As held in state.
    pub fn to_pb(&self) -> pb::CertType {
        pb::CertType {
            id: self.id.clone(),
            name: self.name.clone(),
            name_zh: self.name_zh.clone(),
            issuers: self.issuers.clone(),
            fields: self
                .fields
                .iter()
                .map(|f| pb::MetadataField {
                    name: f.name.clone(),
                    description: f.description.clone(),
                    required: f.required,
                })
                .collect(),
            price: self.price,
            publish_reward: self.publish_reward,
        }
    }
}

/// A purpose at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisPurpose {
    /// Id.
    pub id: String,
    /// Description.
    pub description: String,
    /// Legal basis.
    #[serde(default)]
    pub legal_basis: String,
}

/// The access gate at genesis: certificate types, purposes, the casbin policy and the
/// points every department starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessGenesis {
    /// Certificate types.
    #[serde(default)]
    pub cert_types: Vec<GenesisCertType>,
    /// Purposes.
    #[serde(default)]
    pub purposes: Vec<GenesisPurpose>,
    /// Casbin model text.
    pub policy_model: String,
    /// Policy lines (`p, ...` and `g, ...`).
    #[serde(default)]
    pub policy: Vec<String>,
    /// Points allocated to every department.
    #[serde(default)]
    pub initial_points: u64,
    /// Free reads per department per period.
    #[serde(default)]
    pub free_reads_per_period: u64,
    /// Period length, ms of block time.
    pub period_ms: u64,
    /// Cap of publish rewards per department per period.
    #[serde(default)]
    pub reward_cap_per_period: u64,
}

impl Default for AccessGenesis {
    fn default() -> Self {
        AccessGenesis {
            cert_types: vec![],
            purposes: vec![],
            policy_model: crate::access::policy::MODEL.to_string(),
            policy: vec![],
            initial_points: 0,
            free_reads_per_period: 0,
            period_ms: 86_400_000,
            reward_cap_per_period: 0,
        }
    }
}

/// A department at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDepartment {
    /// Stable id, e.g. `tax`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
    /// Roles, e.g. `issuer`, `committee`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Operators allowed to sign for the department.
    #[serde(default)]
    pub operators: Vec<GenesisOperator>,
}

/// An operator at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOperator {
    /// Operator id, unique within its department.
    pub id: String,
    /// Name.
    pub name: String,
    /// SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
}

/// A validator (or observer) node at genesis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Validator (node) id, e.g. `node1`.
    pub id: String,
    /// Department that runs it.
    pub department: String,
    /// SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
    /// An observer replicates the chain but neither votes nor proposes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observer: bool,
    /// ip:port where its peers reach the node (node-to-node traffic, mutual TLS); empty
    /// for a lone validator, which no one calls.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// Custody share number (1..=n) this validator holds; 0 (omitted) for none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub custody_share: u32,
    /// A custody holder's SM2 encryption key (SEC1 uncompressed, hex): key generation
    /// sends its sub-shares encrypted to it. Apart from its signing key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub custody_key: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Threshold custody of certificate data keys (`docs/design/custody.md`): its
/// parameters. The key itself is generated by the holders on chain
/// (`docs/design/threshold-sm2.md`); genesis holds no key and no one's share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisCustody {
    /// Shares needed to open a data key (t of n).
    pub threshold: u32,
    /// How long after a request (block time, ms) validators may release shares for it.
    #[serde(default = "default_release_window")]
    pub release_window_ms: u64,
    /// How long (block time, ms) each phase of key generation waits for holders that
    /// have not acted.
    #[serde(default = "default_keygen_phase")]
    pub keygen_phase_ms: u64,
}

fn default_release_window() -> u64 {
    crate::access::release::DEFAULT_RELEASE_WINDOW_MS
}

/// Default time each key generation phase waits for absent holders.
pub const DEFAULT_KEYGEN_PHASE_MS: u64 = 30_000;

fn default_keygen_phase() -> u64 {
    DEFAULT_KEYGEN_PHASE_MS
}

/// The management committee that approves governance proposals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Committee {
    /// Member department ids.
    pub members: Vec<String>,
    /// Approvals needed (k of n).
    pub threshold: u32,
}

/// The genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id every transaction must name.
    pub chain_id: String,
    /// Time of block 0, Unix milliseconds.
    pub genesis_time_ms: u64,
    /// The commitment to the chain salt of subject ids (`subject_id = SM3(salt ||
    /// national id)`), 32 bytes hex: `SM3("govchain-salt-v1\0" || salt)`
    /// (`govchain_proof::salt_commitment`). The salt itself is a consortium secret in
    /// its own file (`chain.salt`), never in the genesis, which verifiers outside the
    /// consortium may hold.
    pub salt_commitment: String,
    /// Departments.
    pub departments: Vec<GenesisDepartment>,
    /// Validators.
    pub validators: Vec<GenesisValidator>,
    /// Management committee.
    pub committee: Committee,
    /// Consensus parameters.
    #[serde(default)]
    pub params: ChainParams,
    /// Certificate types, purposes, policy and points.
    #[serde(default)]
    pub access: AccessGenesis,
    /// Threshold custody of data keys; without it certificates cannot be published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custody: Option<GenesisCustody>,
}

fn key_from_hex(what: &str, hex_key: &str) -> Result<PublicKey> {
    let bytes = hex::decode(hex_key)
        .map_err(|e| StateError::Genesis(format!("{what}: public key is not hex: {e}")))?;
    PublicKey::from_sec1(&bytes)
        .map_err(|e| StateError::Genesis(format!("{what}: bad SM2 public key: {e}")))
}

impl Genesis {
    /// Parses and validates a genesis JSON document.
    pub fn from_json(json: &str) -> Result<Self> {
        if json.contains("\"chain_salt\"") {
            return Err(StateError::Genesis(
                "this genesis holds its chain salt in the clear (a format before salt_commitment): write the network anew with `govchain init` (`govchain dev --reset` for a development chain)".into(),
            ));
        }
        let g: Genesis =
            serde_json::from_str(json).map_err(|e| StateError::Genesis(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// Pretty JSON, as written to `genesis.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serialises")
    }

    /// What a verifier trusts of this genesis: chain id, validator keys.
    pub fn anchor(&self) -> govchain_proof::TrustAnchor {
        govchain_proof::TrustAnchor {
            chain_id: self.chain_id.clone(),
            validators: self
                .validators
                .iter()
                .map(|v| govchain_proof::AnchorValidator {
                    id: v.id.clone(),
                    public_key: v.public_key.clone(),
                    observer: v.observer,
                })
                .collect(),
        }
    }

    /// SM3 of the canonical (compact, field-ordered) JSON encoding.
    pub fn hash(&self) -> [u8; 32] {
        sm3(&serde_json::to_vec(self).expect("genesis serialises"))
    }

    /// Checks ids, keys, references and the committee threshold.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(StateError::Genesis(m));
        if self.chain_id.is_empty() || self.chain_id.len() > 64 {
            return err("chain_id must be 1 to 64 characters".into());
        }
        match hex::decode(&self.salt_commitment) {
            Ok(s) if s.len() == 32 => {}
            _ => return err("salt_commitment must be 32 bytes of hex".into()),
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.departments {
            if let Err(why) = validate_dept_id(&d.id) {
                return err(format!("department id '{}' {why}", d.id));
            }
            if !seen.insert(d.id.as_str()) {
                return err(format!("department '{}' listed twice", d.id));
            }
            key_from_hex(&format!("department '{}'", d.id), &d.public_key)?;
            let mut ops = std::collections::BTreeSet::new();
            for o in &d.operators {
                if let Err(why) = validate_dept_id(&o.id) {
                    return err(format!("operator id '{}/{}' {why}", d.id, o.id));
                }
                if !ops.insert(o.id.as_str()) {
                    return err(format!("operator '{}/{}' listed twice", d.id, o.id));
                }
                key_from_hex(&format!("operator '{}/{}'", d.id, o.id), &o.public_key)?;
            }
        }
        if self.validators.is_empty() {
            return err("at least one validator is required".into());
        }
        if self.validators.iter().all(|v| v.observer) {
            return err("at least one validator must not be an observer".into());
        }
        let mut vids = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for v in &self.validators {
            if !v.addr.is_empty() && v.addr.parse::<std::net::SocketAddr>().is_err() {
                return err(format!(
                    "validator '{}': addr '{}' is not ip:port",
                    v.id, v.addr
                ));
            }
            if !keys.insert(v.public_key.to_ascii_lowercase()) {
                // One key, two ids: its holder would cast two votes.
                return err(format!(
                    "validator '{}': its key is another validator's",
                    v.id
                ));
            }
            if let Err(why) = validate_dept_id(&v.id) {
                return err(format!("validator id '{}' {why}", v.id));
            }
            if !vids.insert(v.id.as_str()) {
                return err(format!("validator '{}' listed twice", v.id));
            }
            if !seen.contains(v.department.as_str()) {
                return err(format!(
                    "validator '{}' names unknown department '{}'",
                    v.id, v.department
                ));
            }
            key_from_hex(&format!("validator '{}'", v.id), &v.public_key)?;
        }
        for m in &self.committee.members {
            if !seen.contains(m.as_str()) {
                return err(format!("committee member '{m}' is not a department"));
            }
        }
        let n = self.committee.members.len() as u32;
        if self.committee.threshold == 0 || self.committee.threshold > n {
            return err(format!(
                "committee threshold {} must be between 1 and {n}",
                self.committee.threshold
            ));
        }
        let p = &self.params;
        if p.max_block_txs == 0 || p.max_tx_bytes < 512 {
            return err("params: max_block_txs must be > 0 and max_tx_bytes >= 512".into());
        }
        let least = p.max_tx_bytes.saturating_add(8 + BLOCK_OVERHEAD);
        if !(least..=MAX_BLOCK_BYTES_LIMIT).contains(&p.max_block_bytes) {
            return err(format!(
                "params: max_block_bytes is {}; it must be from {least} (the largest \
                 transaction and a block's overhead) to {MAX_BLOCK_BYTES_LIMIT}",
                p.max_block_bytes
            ));
        }
        if p.max_tx_write_bytes < MIN_TX_WRITE_BYTES {
            return err(format!(
                "params: max_tx_write_bytes is {}; it must be at least {MIN_TX_WRITE_BYTES}                  (one largest contract value and its key)",
                p.max_tx_write_bytes
            ));
        }
        self.validate_custody()?;
        self.validate_access(&seen)
    }

    fn validate_custody(&self) -> Result<()> {
        let err = |m: String| Err(StateError::Genesis(m));
        let holders: Vec<&GenesisValidator> = self
            .validators
            .iter()
            .filter(|v| v.custody_share != 0)
            .collect();
        let Some(c) = &self.custody else {
            if let Some(v) = holders.first() {
                return err(format!(
                    "validator '{}' has custody share {} but genesis has no custody section",
                    v.id, v.custody_share
                ));
            }
            return Ok(());
        };
        if let Some(v) = self
            .validators
            .iter()
            .find(|v| v.custody_share == 0 && !v.custody_key.is_empty())
        {
            return err(format!(
                "validator '{}' has a custody key but no custody share",
                v.id
            ));
        }
        if c.threshold == 0 {
            return err("custody.threshold must be at least 1".into());
        }
        let mut numbers = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for v in &holders {
            if v.observer {
                return err(format!("observer '{}' cannot hold a custody share", v.id));
            }
            if v.custody_share as usize > govchain_custody::MAX_HOLDERS
                || !numbers.insert(v.custody_share)
            {
                return err(format!(
                    "validator '{}': custody share {} is out of range or held twice",
                    v.id, v.custody_share
                ));
            }
            let key = key_from_hex(&format!("validator '{}' custody_key", v.id), &v.custody_key)?;
            if !keys.insert(key.to_sec1()) || v.custody_key == v.public_key {
                return err(format!(
                    "validator '{}': its custody key must be its own, and not its signing key",
                    v.id
                ));
            }
        }
        if numbers.iter().copied().ne(1..=holders.len() as u32) {
            return err(format!(
                "custody share numbers must be 1 to {} without gaps",
                holders.len()
            ));
        }
        if holders.len() < c.threshold as usize {
            return err(format!(
                "custody needs {} shares but only {} validators hold one",
                c.threshold,
                holders.len()
            ));
        }
        if c.release_window_ms < 60_000 {
            return err("custody.release_window_ms must be at least one minute".into());
        }
        if c.keygen_phase_ms < 1_000 {
            return err("custody.keygen_phase_ms must be at least one second".into());
        }
        Ok(())
    }

    fn validate_access(&self, departments: &std::collections::BTreeSet<&str>) -> Result<()> {
        let a = &self.access;
        let err = |m: String| Err(StateError::Genesis(m));
        let mut types = std::collections::BTreeSet::new();
        for t in &a.cert_types {
            if let Err(why) = validate_name(&t.id) {
                return err(format!("certificate type '{}' {why}", t.id));
            }
            if !types.insert(t.id.as_str()) {
                return err(format!("certificate type '{}' listed twice", t.id));
            }
            if let Some(d) = t.issuers.iter().find(|d| !departments.contains(d.as_str())) {
                return err(format!(
                    "certificate type '{}' names unknown issuer '{d}'",
                    t.id
                ));
            }
        }
        let mut purposes = std::collections::BTreeSet::new();
        for p in &a.purposes {
            if let Err(why) = validate_name(&p.id) {
                return err(format!("purpose '{}' {why}", p.id));
            }
            if !purposes.insert(p.id.as_str()) {
                return err(format!("purpose '{}' listed twice", p.id));
            }
        }
        for line in &a.policy {
            let l =
                PolicyLine::parse(line).map_err(|e| StateError::Genesis(format!("policy {e}")))?;
            let sub = &l.fields[0];
            if !sub.starts_with(crate::access::policy::ROLE_PREFIX)
                && !departments.contains(sub.as_str())
            {
                return err(format!("policy '{line}' names unknown department '{sub}'"));
            }
            if l.ptype == "p" {
                if l.fields[1] != "*" && !types.contains(l.fields[1].as_str()) {
                    return err(format!("policy '{line}' names unknown certificate type"));
                }
                if l.fields[3] != "*" && !purposes.contains(l.fields[3].as_str()) {
                    return err(format!("policy '{line}' names unknown purpose"));
                }
            }
        }
        if a.period_ms < 3_600_000 {
            return err("access.period_ms must be at least one hour".into());
        }
        Ok(())
    }

    /// `salt` (hex, from a `chain.salt` file) if it is the salt this genesis commits to.
    ///
    /// # Errors
    /// [`StateError::Genesis`] naming what is wrong.
    pub fn check_salt(&self, salt: &str) -> Result<Vec<u8>> {
        govchain_proof::parse_salt(salt, &self.salt_commitment).map_err(StateError::Genesis)
    }

    /// Writes the genesis records into an empty overlay.
    pub fn apply(&self, o: &mut Overlay) -> Result<()> {
        o.write(&tables::CHAIN_ID, (), &self.chain_id);
        o.write(&tables::PARAMS, (), &self.params);
        o.write(&tables::COMMITTEE, (), &self.committee);
        for d in &self.departments {
            let rec = pb::Department {
                id: d.id.clone(),
                name: d.name.clone(),
                public_key: hex::decode(&d.public_key).expect("validated"),
                roles: d.roles.clone(),
                operators: d
                    .operators
                    .iter()
                    .map(|op| pb::Operator {
                        id: op.id.clone(),
                        name: op.name.clone(),
                        public_key: hex::decode(&op.public_key).expect("validated"),
                    })
                    .collect(),
            };
            o.write(&tables::DEPARTMENT, &d.id, &rec);
        }
        for v in &self.validators {
            let rec = pb::Validator {
                id: v.id.clone(),
                department: v.department.clone(),
                public_key: hex::decode(&v.public_key).expect("validated"),
                observer: v.observer,
                addr: v.addr.clone(),
                custody_share: v.custody_share,
                custody_key: hex::decode(&v.custody_key).expect("validated"),
            };
            o.write(&tables::VALIDATOR, &v.id, &rec);
        }
        if let Some(c) = &self.custody {
            let mut holders: Vec<u32> = self
                .validators
                .iter()
                .map(|v| v.custody_share)
                .filter(|&n| n != 0)
                .collect();
            holders.sort_unstable();
            let rec = pb::KeygenState {
                round: 1,
                phase: pb::KeygenPhase::KeygenDeal as i32,
                phase_time_ms: 0,
                threshold: c.threshold,
                phase_ms: c.keygen_phase_ms,
                release_window_ms: c.release_window_ms,
                holders,
                dealers: vec![],
            };
            o.write(&tables::KEYGEN, (), &rec);
        }
        self.apply_access(o)?;
        o.commit_tx();
        Ok(())
    }

    fn apply_access(&self, o: &mut Overlay) -> Result<()> {
        let a = &self.access;
        for t in &a.cert_types {
            o.write(&tables::CERT_TYPE, &t.id, &t.to_pb());
        }
        for p in &a.purposes {
            let rec = pb::Purpose {
                id: p.id.clone(),
                description: p.description.clone(),
                legal_basis: p.legal_basis.clone(),
            };
            o.write(&tables::PURPOSE, &p.id, &rec);
        }
        o.write(&tables::POLICY_MODEL, (), &a.policy_model);
        o.write(&tables::POLICY_VERSION, (), &1);
        for line in &a.policy {
            let l = PolicyLine::parse(line).map_err(StateError::Genesis)?;
            o.write(&tables::POLICY_LINE, &l.canonical(), &());
        }
        let params = pb::PointsParams {
            free_reads_per_period: a.free_reads_per_period,
            period_ms: a.period_ms,
            reward_cap_per_period: a.reward_cap_per_period,
        };
        o.write(&tables::POINTS_PARAMS, (), &params);
        let ctx = crate::BlockContext {
            height: 0,
            time_ms: self.genesis_time_ms,
            proposer: String::new(),
        };
        for d in &self.departments {
            crate::access::points::allocate(o, &ctx, &d.id, a.initial_points)
                .map_err(|e| StateError::Genesis(e.to_string()))?;
        }
        // The casbin model must load with the policy.
        crate::access::policy::Policy::load(o)?;
        Ok(())
    }
}

/// A department of a preset: id, English name, Chinese name, roles.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetDepartment {
    /// Id.
    pub id: String,
    /// English name.
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// Roles: `committee` (governance), `issuer`, `auditor`.
    pub roles: Vec<String>,
}

impl PresetDepartment {
    /// Its genesis record with `public_key` (SEC1 hex); the name in both languages.
    pub fn genesis(&self, public_key: String) -> GenesisDepartment {
        GenesisDepartment {
            id: self.id.clone(),
            name: format!("{} ({})", self.name, self.name_zh),
            public_key,
            roles: self.roles.clone(),
            operators: vec![],
        }
    }
}

/// A preset: sample departments and the access gate a chain starts with
/// (`policies/presets/<name>.toml`, with the casbin model and policy lines of
/// `policies/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// Departments, in the file's order.
    pub departments: Vec<PresetDepartment>,
    /// Certificate types, purposes, policy and points.
    pub access: AccessGenesis,
}

/// The preset file: everything but the casbin model and policy lines.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    departments: Vec<PresetDepartment>,
    access: PresetAccess,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetAccess {
    #[serde(default)]
    cert_types: Vec<GenesisCertType>,
    #[serde(default)]
    purposes: Vec<GenesisPurpose>,
    initial_points: u64,
    free_reads_per_period: u64,
    period_ms: u64,
    reward_cap_per_period: u64,
}

/// Presets by name, with their files' text.
const PRESETS: &[(&str, &str)] = &[(
    "nanjing",
    include_str!("../../../policies/presets/nanjing.toml"),
)];

impl Preset {
    /// The departments with the `committee` role: the management committee.
    pub fn committee(&self) -> Vec<String> {
        self.departments
            .iter()
            .filter(|d| d.roles.iter().any(|r| r == "committee"))
            .map(|d| d.id.clone())
            .collect()
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let file: PresetFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let a = file.access;
        let policy = crate::access::policy::parse_csv(crate::access::policy::NANJING_POLICY)?
            .iter()
            .map(PolicyLine::canonical)
            .collect();
        Ok(Preset {
            departments: file.departments,
            access: AccessGenesis {
                cert_types: a.cert_types,
                purposes: a.purposes,
                policy_model: crate::access::policy::MODEL.to_string(),
                policy,
                initial_points: a.initial_points,
                free_reads_per_period: a.free_reads_per_period,
                period_ms: a.period_ms,
                reward_cap_per_period: a.reward_cap_per_period,
            },
        })
    }
}

/// Looks up a preset by name.
pub fn preset(name: &str) -> Option<&'static Preset> {
    static PARSED: std::sync::LazyLock<Vec<(&str, Preset)>> = std::sync::LazyLock::new(|| {
        PRESETS
            .iter()
            .map(|(name, text)| {
                let p = Preset::parse(text)
                    .unwrap_or_else(|e| panic!("policies/presets/{name}.toml: {e}"));
                (*name, p)
            })
            .collect()
    });
    PARSED.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
}

/// The 'nanjing' preset: the seven departments of the housing-purchase eligibility
/// workflow (购房资格证明) of a municipal government chain, and the supervisor that audits
/// data sharing (role `auditor`: it may query every audit record).
pub fn nanjing() -> &'static Preset {
    preset("nanjing").expect("the nanjing preset is built in")
}

/// The access gate of the 'nanjing' preset: its certificate types, purposes,
/// `policies/policy.csv`, and 5,000 points per department (1,000 property reads at 5
/// points each).
pub fn nanjing_access() -> AccessGenesis {
    nanjing().access.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_crypto::PrivateKey;

    #[test]
    fn every_preset_parses_into_a_valid_genesis() {
        for (name, _) in PRESETS {
            let p = preset(name).unwrap();
            let mut g = sample();
            g.departments = p
                .departments
                .iter()
                .map(|d| d.genesis(hex::encode(PrivateKey::generate().public_key().to_sec1())))
                .collect();
            g.committee = Committee {
                threshold: 1,
                members: p.committee(),
            };
            g.access = p.access.clone();
            g.validate()
                .unwrap_or_else(|e| panic!("preset {name}: {e}"));
        }
        let n = nanjing();
        assert_eq!((n.departments.len(), n.access.cert_types.len()), (8, 7));
        assert_eq!(n.committee().len(), 6);
        assert!(Preset::parse("departments = []\n[access]\nperiod_ms = 1\nbogus = 2\n").is_err());
    }

    pub(crate) fn sample() -> Genesis {
        let key = || hex::encode(PrivateKey::generate().public_key().to_sec1());
        Genesis {
            chain_id: "test-chain".into(),
            genesis_time_ms: 1_700_000_000_000,
            salt_commitment: hex::encode(govchain_proof::salt_commitment(&[7u8; 32])),
            departments: nanjing()
                .departments
                .iter()
                .map(|d| d.genesis(key()))
                .collect(),
            validators: vec![GenesisValidator {
                id: "node1".into(),
                department: "public-security".into(),
                public_key: key(),
                ..Default::default()
            }],
            committee: Committee {
                members: vec!["tax".into(), "housing".into()],
                threshold: 2,
            },
            params: ChainParams::default(),
            access: nanjing_access(),
            custody: None,
        }
    }

    #[test]
    fn roundtrip_and_hash() {
        let g = sample();
        let back = Genesis::from_json(&g.to_json()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.hash(), g.hash());
    }

    #[test]
    fn rejects_bad_documents() {
        let mut g = sample();
        g.committee.threshold = 3;
        assert!(g.validate().unwrap_err().to_string().contains("threshold"));
        let mut g = sample();
        g.validators[0].department = "nobody".into();
        assert!(
            g.validate()
                .unwrap_err()
                .to_string()
                .contains("unknown department")
        );
        let mut g = sample();
        g.departments[1].id = g.departments[0].id.clone();
        assert!(g.validate().unwrap_err().to_string().contains("twice"));
        let mut g = sample();
        g.departments[0].public_key = "04abcd".into();
        assert!(g.validate().unwrap_err().to_string().contains("public key"));
        assert!(Genesis::from_json("{\"chain_id\": 1}").is_err());
        for bytes in [256 * 1024, 64 << 20] {
            let mut g = sample();
            g.params.max_block_bytes = bytes;
            let e = g.validate().unwrap_err().to_string();
            assert!(e.contains("max_block_bytes is"), "{e}");
        }
    }

    /// A document from before `max_block_bytes` existed reads as the default and keeps
    /// its hash; any other value is part of the document.
    #[test]
    fn the_block_byte_limit_keeps_older_documents_hash() {
        let g = sample();
        let json = serde_json::to_string(&g).unwrap();
        assert!(!json.contains("max_block_bytes"));
        let back = Genesis::from_json(&json).unwrap();
        assert_eq!(back.params.max_block_bytes, 2 << 20);
        assert_eq!(back.hash(), g.hash());
        let mut other = sample();
        other.params.max_block_bytes = 1 << 20;
        assert!(
            serde_json::to_string(&other)
                .unwrap()
                .contains("\"max_block_bytes\":1048576")
        );
        assert_ne!(other.hash(), g.hash());
    }
}
