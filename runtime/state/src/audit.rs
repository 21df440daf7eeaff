//! The audit log: one record per gate decision, indexed for supervisors' queries, with
//! an SM3 Merkle root per block in the header and inclusion proofs that anyone can check
//! against the signed headers with nothing but the genesis file.
//!
//! Records and indexes live in the store's `index` column (written in the block's
//! atomic batch); they are never pruned by the node.

use std::collections::BTreeMap;

use govchain_crypto::merkle::{self, InclusionProof, MerkleTree};
use govchain_crypto::{PublicKey, Signature};
use govchain_store::{Column, Store};
use govchain_types::{Hash, TxError, decode, pb};
use serde::{Deserialize, Serialize};

use crate::internal;
use crate::{Genesis, keys::index};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest query page.
pub const MAX_QUERY: u32 = 1000;
/// Largest export.
pub const MAX_EXPORT: u32 = 10_000;
/// Most records one page examines before returning (the client continues from `next`).
pub const MAX_SCAN: u64 = 100_000;

/// A key and value of the store's `index` column.
pub type IndexEntry = (Vec<u8>, Vec<u8>);

/// The block's audit root and the index entries of its records.
pub fn block_entries(height: u64, records: &[pb::AuditRecord]) -> (Hash, Vec<IndexEntry>) {
    let encoded: Vec<Vec<u8>> = records.iter().map(govchain_types::encode).collect();
    let root = merkle::root(&encoded);
    let mut out = Vec::with_capacity(records.len() * 7 + 1);
    if let Some(first) = records.first() {
        let mut v = first.seq.to_be_bytes().to_vec();
        v.extend_from_slice(&(records.len() as u32).to_be_bytes());
        out.push((index::audit_block(height), v));
    }
    for (r, bytes) in records.iter().zip(encoded) {
        let s = r.seq;
        let decision = if r.decision == pb::Decision::Allow as i32 {
            "allow"
        } else {
            "deny"
        };
        out.push((index::audit(s), bytes));
        out.push((index::audit_by('r', &r.requester, s), vec![]));
        out.push((index::audit_by('o', &r.owner, s), vec![]));
        out.push((index::audit_by('s', &hex::encode(&r.subject_id), s), vec![]));
        out.push((index::audit_by('c', &r.cert_id, s), vec![]));
        out.push((index::audit_by('d', decision, s), vec![]));
        out.push((index::audit_time(r.time_ms, s), vec![]));
    }
    (root, out)
}

fn seq_of(key: &[u8]) -> u64 {
    u64::from_be_bytes(key[key.len() - 8..].try_into().expect("8 bytes"))
}

/// One audit record by sequence number.
pub fn record(store: &Store, seq: u64) -> Result<Option<pb::AuditRecord>, TxError> {
    store
        .get(Column::Index, &index::audit(seq))
        .map_err(internal)?
        .map(|raw| decode("audit record", &raw))
        .transpose()
}

fn matches(q: &pb::AuditQuery, r: &pb::AuditRecord) -> bool {
    (q.requester.is_empty() || q.requester == r.requester)
        && (q.owner.is_empty() || q.owner == r.owner)
        && (q.subject_id.is_empty() || q.subject_id == r.subject_id)
        && (q.cert_id.is_empty() || q.cert_id == r.cert_id)
        && (q.decision == 0 || q.decision == r.decision)
        && (q.from_ms == 0 || r.time_ms >= q.from_ms)
}

/// Records matching every filter of `q`, in sequence order, one page of at most `max`.
pub fn query(store: &Store, q: &pb::AuditQuery, max: u32) -> Result<pb::AuditPage, TxError> {
    let limit = match q.limit {
        0 => DEFAULT_LIMIT.min(max),
        n => n.min(max),
    } as usize;
    // Sequence numbers grow with block time, so a time range is a sequence range.
    let Some(mut start) = q.after.checked_add(1) else {
        return Ok(pb::AuditPage::default());
    };
    if q.from_ms > 0 {
        let from = index::audit_time(q.from_ms, 0);
        if let Some(first) = store
            .scan_prefix(Column::Index, index::AUDIT_TIME, Some(&from))
            .next()
        {
            start = start.max(seq_of(&first.map_err(internal)?.0));
        } else {
            return Ok(pb::AuditPage::default());
        }
    }
    // Drive the scan by the most selective index given.
    let decision = match q.decision {
        d if d == pb::Decision::Allow as i32 => "allow",
        d if d == pb::Decision::Deny as i32 => "deny",
        _ => "",
    };
    let subject = hex::encode(&q.subject_id);
    let prefix = [
        ('c', q.cert_id.as_str()),
        ('s', subject.as_str()),
        ('r', q.requester.as_str()),
        ('o', q.owner.as_str()),
        ('d', decision),
    ]
    .into_iter()
    .find(|(_, v)| !v.is_empty())
    .map_or_else(
        || index::AUDIT.to_vec(),
        |(k, v)| index::audit_by_prefix(k, v),
    );
    let mut from_key = prefix.clone();
    from_key.extend_from_slice(&start.to_be_bytes());
    let mut page = pb::AuditPage::default();
    for item in store.scan_prefix(Column::Index, &prefix, Some(&from_key)) {
        let (k, v) = item.map_err(internal)?;
        let seq = seq_of(&k);
        let r: pb::AuditRecord = if prefix == index::AUDIT {
            decode("audit record", &v)?
        } else {
            record(store, seq)?
                .ok_or_else(|| internal(format!("audit index names missing record {seq}")))?
        };
        page.scanned += 1;
        if q.to_ms != 0 && r.time_ms > q.to_ms {
            return Ok(page);
        }
        if matches(q, &r) {
            page.records.push(r);
            if page.records.len() == limit {
                page.next = seq;
                return Ok(page);
            }
        }
        if page.scanned >= MAX_SCAN {
            page.next = seq;
            return Ok(page);
        }
    }
    Ok(page)
}

/// The records of one block, in leaf order.
fn block_records(store: &Store, height: u64) -> Result<Vec<Vec<u8>>, TxError> {
    let raw = store
        .get(Column::Index, &index::audit_block(height))
        .map_err(internal)?
        .ok_or_else(|| internal(format!("block {height} has no audit records")))?;
    let first = u64::from_be_bytes(raw[..8].try_into().map_err(internal)?);
    let count = u32::from_be_bytes(raw[8..12].try_into().map_err(internal)?) as u64;
    (first..first + count)
        .map(|s| {
            store
                .get(Column::Index, &index::audit(s))
                .map_err(internal)?
                .ok_or_else(|| internal(format!("audit record {s} missing")))
        })
        .collect()
}

/// Matching records with their inclusion proofs and the signed headers of their blocks.
pub fn export(
    store: &Store,
    chain_id: &str,
    q: &pb::AuditQuery,
) -> Result<pb::AuditExport, TxError> {
    let page = query(store, q, MAX_EXPORT)?;
    let mut trees: BTreeMap<u64, MerkleTree> = BTreeMap::new();
    let mut out = pb::AuditExport {
        chain_id: chain_id.to_string(),
        next: page.next,
        ..Default::default()
    };
    for r in page.records {
        if let std::collections::btree_map::Entry::Vacant(slot) = trees.entry(r.height) {
            slot.insert(MerkleTree::new(&block_records(store, r.height)?));
            let raw = store
                .block(r.height)
                .map_err(internal)?
                .ok_or_else(|| internal(format!("block {} missing", r.height)))?;
            let block: pb::Block = decode("block", &raw)?;
            out.headers.push(pb::SignedHeader {
                header: block.header,
                signature: block.signature,
            });
        }
        let proof = trees[&r.height]
            .proof(r.block_index as usize)
            .ok_or_else(|| internal(format!("record {} is not in its block's tree", r.seq)))?;
        out.proofs.push(pb::AuditProof {
            record: govchain_types::encode(&r),
            height: r.height,
            leaf_index: r.block_index,
            path: proof.path.iter().map(|h| h.to_vec()).collect(),
        });
    }
    Ok(out)
}

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

/// A signed block header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedHeader {
    /// Height.
    pub height: u64,
    /// The header's protobuf encoding, hex (what the proposer signed).
    pub header: String,
    /// Proposer's SM2 signature, raw r || s, hex.
    pub signature: String,
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
    /// Headers the proofs are checked against.
    pub headers: Vec<ExportedHeader>,
}

/// Format tag of [`ExportFile`].
pub const EXPORT_FORMAT: &str = "govchain-audit-export/v1";

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
            ("subject_id", hex::encode(&q.subject_id)),
            ("cert_id", q.cert_id.clone()),
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
            headers.push(ExportedHeader {
                height: header.height,
                header: hex::encode(&h.header),
                signature: hex::encode(&h.signature),
            });
        }
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
        })
    }

    /// Checks every record against the signed headers, trusting only the validator keys
    /// and chain id of `genesis`: each header's signature by its proposer, each record's
    /// readable fields against its encoding, and each encoding's inclusion proof against
    /// its header's audit root and audit count. Returns the number of records checked.
    pub fn verify(&self, genesis: &Genesis) -> Result<usize, String> {
        if self.format != EXPORT_FORMAT {
            return Err(format!("unknown format '{}'", self.format));
        }
        if self.chain_id != genesis.chain_id {
            return Err(format!(
                "export is of chain '{}', genesis is of '{}'",
                self.chain_id, genesis.chain_id
            ));
        }
        let mut roots: BTreeMap<u64, (Hash, u64)> = BTreeMap::new();
        for h in &self.headers {
            let bytes = hex::decode(&h.header).map_err(|e| format!("header {}: {e}", h.height))?;
            let header: pb::BlockHeader =
                decode("block header", &bytes).map_err(|e| format!("header {}: {e}", h.height))?;
            if header.height != h.height || header.chain_id != genesis.chain_id {
                return Err(format!(
                    "header {}: height or chain id does not match",
                    h.height
                ));
            }
            let v = genesis
                .validators
                .iter()
                .find(|v| v.id == header.proposer)
                .ok_or_else(|| {
                    format!(
                        "header {}: proposer '{}' is not a genesis validator",
                        h.height, header.proposer
                    )
                })?;
            let key = PublicKey::from_sec1(&hex::decode(&v.public_key).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let sig = hex::decode(&h.signature)
                .ok()
                .and_then(|s| Signature::from_slice(&s).ok())
                .ok_or_else(|| format!("header {}: signature is not 64 bytes of hex", h.height))?;
            key.verify(&bytes, &sig).map_err(|_| {
                format!(
                    "header {}: signature of '{}' does not verify",
                    h.height, header.proposer
                )
            })?;
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
