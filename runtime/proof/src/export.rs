//! The audit export file (`govchain audit export` writes it, `govchain audit verify`
//! and the console's browser verifier check it): records, their exact encodings and
//! RFC 9162 inclusion proofs (SM3), and the headers the proofs are checked against, each
//! with its commit certificate, with the validator set changes that lead to them from
//! genesis ([`crate::light`]).

use std::collections::BTreeMap;

use govchain_crypto::merkle::{self, InclusionProof};
use govchain_types::{Hash, decode, pb};
use serde::{Deserialize, Serialize};

use crate::TrustAnchor;
use crate::light::{ExportedHeader, ExportedSetChange, SetWalk};

/// An audit record as a supervisor reads it (JSON and CSV rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    /// Sequence number (also the request id).
    pub seq: u64,
    /// Block height.
    pub height: u64,
    /// Block time, Unix ms.
    pub time_ms: u64,
    /// Transaction hash, hex.
    pub tx_hash: String,
    /// Requesting department.
    pub requester: String,
    /// Operator, if one signed.
    pub operator: String,
    /// Owner (issuer) department.
    pub owner: String,
    /// Subject id, hex.
    pub subject_id: String,
    /// Certificate id.
    pub cert_id: String,
    /// Certificate type.
    pub cert_type: String,
    /// Purpose.
    pub purpose: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// Why.
    pub reason: String,
    /// Points moved.
    pub points: u64,
    /// `contract:<name>` for a read inside a contract.
    pub via: String,
    /// Grant that allowed it (0: none).
    pub grant_id: u64,
    /// See [`action_name`].
    #[serde(default = "read_action")]
    pub action: String,
    /// For a key release: the request it was for.
    #[serde(default)]
    pub request: u64,
}

/// `read` (a gate decision on a read), `key_release` (a validator released a key
/// share), `compute` (a gate decision on a compute job) or `compute_result` (a job's
/// executor posted its result).
pub fn action_name(action: i32) -> &'static str {
    match pb::AuditAction::try_from(action) {
        Ok(pb::AuditAction::KeyRelease) => "key_release",
        Ok(pb::AuditAction::Compute) => "compute",
        Ok(pb::AuditAction::ComputeResult) => "compute_result",
        _ => "read",
    }
}

fn read_action() -> String {
    "read".into()
}

impl From<&pb::AuditRecord> for RecordView {
    fn from(r: &pb::AuditRecord) -> Self {
        RecordView {
            seq: r.seq,
            height: r.height,
            time_ms: r.time_ms,
            tx_hash: hex::encode(&r.tx_hash),
            requester: r.requester.clone(),
            operator: r.operator.clone(),
            owner: r.owner.clone(),
            subject_id: hex::encode(&r.subject_id),
            cert_id: r.cert_id.clone(),
            cert_type: r.cert_type.clone(),
            purpose: r.purpose.clone(),
            decision: if r.decision == pb::Decision::Allow as i32 {
                "allow"
            } else {
                "deny"
            }
            .into(),
            reason: r.reason.clone(),
            points: r.points,
            via: r.via.clone(),
            grant_id: r.grant_id,
            action: action_name(r.action).into(),
            request: r.request,
        }
    }
}

/// One exported record: what it says, its exact encoding and its proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedRecord {
    /// The record, readable.
    pub record: RecordView,
    /// The record's protobuf encoding, hex: the Merkle leaf is SM3(0x00 || these bytes).
    pub encoded: String,
    /// Inclusion proof in the audit tree of block `record.height`.
    pub proof: InclusionProof,
}

/// The file `govchain audit export` writes and `govchain audit verify` checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFile {
    /// Always `govchain-audit-export/v1`.
    pub format: String,
    /// Chain id.
    pub chain_id: String,
    /// The filters of the query that selected the records (for the reader; the proofs
    /// show each record authentic, not that the set is complete).
    pub query: BTreeMap<String, String>,
    /// The records.
    pub records: Vec<ExportedRecord>,
    /// Headers the proofs are checked against, each with its commit certificate.
    pub headers: Vec<ExportedHeader>,
    /// Every change of the voting validator set below the highest header, in height
    /// order: what a verifier holding only genesis needs to know the set in force at
    /// each header.
    #[serde(default)]
    pub set_changes: Vec<ExportedSetChange>,
}

/// Format tag of [`ExportFile`].
pub const EXPORT_FORMAT: &str = "govchain-audit-export/v2";

impl ExportFile {
    /// Builds the file from an export answer, filling in each proof's tree size from its
    /// header.
    pub fn from_export(e: &pb::AuditExport, q: &pb::AuditQuery) -> Result<Self, String> {
        let decision = match q.decision {
            d if d == pb::Decision::Allow as i32 => "allow",
            d if d == pb::Decision::Deny as i32 => "deny",
            _ => "",
        };
        let query: BTreeMap<String, String> = [
            ("requester", q.requester.clone()),
            ("owner", q.owner.clone()),
            ("party", q.party.clone()),
            ("subject_id", hex::encode(&q.subject_id)),
            ("cert_id", q.cert_id.clone()),
            ("purpose", q.purpose.clone()),
            ("decision", decision.to_string()),
            (
                "from_ms",
                if q.from_ms == 0 {
                    String::new()
                } else {
                    q.from_ms.to_string()
                },
            ),
            (
                "to_ms",
                if q.to_ms == 0 {
                    String::new()
                } else {
                    q.to_ms.to_string()
                },
            ),
            (
                "after",
                if q.after == 0 {
                    String::new()
                } else {
                    q.after.to_string()
                },
            ),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut sizes = BTreeMap::new();
        let mut headers = Vec::new();
        for h in &e.headers {
            let header: pb::BlockHeader =
                decode("block header", &h.header).map_err(|e| e.to_string())?;
            sizes.insert(header.height, header.audit_count as u64);
            headers.push(ExportedHeader::from_pb(h)?);
        }
        let set_changes = e
            .set_changes
            .iter()
            .map(ExportedSetChange::from_pb)
            .collect::<Result<_, String>>()?;
        let records = e
            .proofs
            .iter()
            .map(|p| {
                let r: pb::AuditRecord =
                    decode("audit record", &p.record).map_err(|e| e.to_string())?;
                let path = p
                    .path
                    .iter()
                    .map(|h| {
                        h.as_slice()
                            .try_into()
                            .map_err(|_| "path hash is not 32 bytes".to_string())
                    })
                    .collect::<Result<Vec<Hash>, String>>()?;
                Ok(ExportedRecord {
                    record: RecordView::from(&r),
                    encoded: hex::encode(&p.record),
                    proof: InclusionProof {
                        leaf_index: p.leaf_index as u64,
                        tree_size: *sizes.get(&p.height).ok_or("proof without its header")?,
                        path,
                    },
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(ExportFile {
            format: EXPORT_FORMAT.into(),
            chain_id: e.chain_id.clone(),
            query,
            records,
            headers,
            set_changes,
        })
    }

    /// Checks every record against the headers, trusting only the chain id and the
    /// validators of `genesis` (a [`TrustAnchor`] read from the genesis document): the
    /// validator set in force is walked from genesis through the set changes, each
    /// header must carry a commit certificate of that set (light verification,
    /// [`SetWalk`]), each record's readable fields must match its encoding, and each
    /// encoding's inclusion proof its header's audit root and audit count. Returns the
    /// number of records checked.
    pub fn verify(&self, genesis: &TrustAnchor) -> Result<usize, String> {
        if self.format == "govchain-audit-export/v1" {
            return Err(
                "format govchain-audit-export/v1 predates commit certificates: export the records again with this version".into(),
            );
        }
        if self.format != EXPORT_FORMAT {
            return Err(format!("unknown format '{}'", self.format));
        }
        if self.chain_id != genesis.chain_id {
            return Err(format!(
                "export is of chain '{}', genesis is of '{}'",
                self.chain_id, genesis.chain_id
            ));
        }
        let mut walk = SetWalk::from_genesis(genesis)?;
        for change in &self.set_changes {
            walk.apply(change)?;
        }
        let mut roots: BTreeMap<u64, (Hash, u64)> = BTreeMap::new();
        for h in &self.headers {
            let header = walk.check(h)?;
            let root: Hash = header
                .audit_root
                .as_slice()
                .try_into()
                .map_err(|_| format!("header {}: audit root is not 32 bytes", h.height))?;
            roots.insert(h.height, (root, header.audit_count as u64));
        }
        for r in &self.records {
            let seq = r.record.seq;
            let bytes = hex::decode(&r.encoded).map_err(|e| format!("record {seq}: {e}"))?;
            let decoded: pb::AuditRecord =
                decode("audit record", &bytes).map_err(|e| format!("record {seq}: {e}"))?;
            if RecordView::from(&decoded) != r.record {
                return Err(format!(
                    "record {seq}: the readable fields differ from the signed encoding"
                ));
            }
            let (root, size) = roots
                .get(&decoded.height)
                .ok_or_else(|| format!("record {seq}: no header for height {}", decoded.height))?;
            if r.proof.tree_size != *size || r.proof.leaf_index != decoded.block_index as u64 {
                return Err(format!(
                    "record {seq}: proof position {}/{} does not match the header's audit count {size}",
                    r.proof.leaf_index, r.proof.tree_size
                ));
            }
            merkle::verify_inclusion(root, &bytes, &r.proof)
                .map_err(|e| format!("record {seq}: inclusion proof fails: {e}"))?;
        }
        Ok(self.records.len())
    }
}

/// Columns of the CSV form of audit records (`govchain audit query --csv`, the console's
/// CSV export).
pub const CSV_HEADER: &str = "seq,height,time_ms,requester,operator,owner,subject_id,cert_id,cert_type,purpose,decision,reason,points,via,grant_id,tx_hash,action,request";

impl RecordView {
    /// The record as one CSV row in the columns of [`CSV_HEADER`] (RFC 4180 quoting).
    pub fn csv_row(&self) -> String {
        let fields = [
            self.seq.to_string(),
            self.height.to_string(),
            self.time_ms.to_string(),
            self.requester.clone(),
            self.operator.clone(),
            self.owner.clone(),
            self.subject_id.clone(),
            self.cert_id.clone(),
            self.cert_type.clone(),
            self.purpose.clone(),
            self.decision.clone(),
            self.reason.clone(),
            self.points.to_string(),
            self.via.clone(),
            self.grant_id.to_string(),
            self.tx_hash.clone(),
            self.action.clone(),
            self.request.to_string(),
        ];
        fields
            .iter()
            .map(|f| csv_field(f))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
