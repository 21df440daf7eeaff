//! The audit log: one record per gate decision, indexed for supervisors' queries, with
//! an SM3 Merkle root per block in the header and inclusion proofs that anyone can check
//! against the signed headers with nothing but the genesis file.
//!
//! Records and indexes live in the store's `index` column (written in the block's
//! atomic batch); they are never pruned by the node.

use std::collections::BTreeMap;

use govchain_crypto::merkle::{self, MerkleTree};
use govchain_store::{Records, Store};
use govchain_types::{ExecError, Hash, decode, pb};

use crate::access::gate::Via;
use crate::tables::{AUDIT, AUDIT_BLOCK, AUDIT_BY, AUDIT_SEQ, AUDIT_TIME, AuditSpan, SET_CHANGE};
use crate::{BlockContext, Overlay, internal};

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
    let encoded: Vec<Vec<u8>> = records.iter().map(|r| AUDIT.encode_value(r)).collect();
    let root = merkle::root(&encoded);
    let mut out = Vec::with_capacity(records.len() * 7 + 1);
    if let Some(first) = records.first() {
        let span = AuditSpan {
            first: first.seq,
            count: records.len() as u32,
        };
        out.push(AUDIT_BLOCK.entry(height, &span));
    }
    for (r, bytes) in records.iter().zip(encoded) {
        let s = r.seq;
        let decision = if r.decision == pb::Decision::Allow as i32 {
            "allow"
        } else {
            "deny"
        };
        out.push((AUDIT.key(s), bytes));
        let subject = hex::encode(&r.subject_id);
        for by in [
            ('r', r.requester.as_str()),
            ('o', r.owner.as_str()),
            ('s', subject.as_str()),
            ('c', r.cert_id.as_str()),
            ('d', decision),
        ] {
            out.push(AUDIT_BY.entry((by, s), &()));
        }
        out.push(AUDIT_TIME.entry((r.time_ms, s), &()));
    }
    (root, out)
}

/// The sequence number the next audit record gets.
pub(crate) fn next_seq(o: &Overlay) -> Result<u64, ExecError> {
    Ok(o.read_or_default(&AUDIT_SEQ, ()).map_err(internal)? + 1)
}

/// Appends `record` to the block's audit log, numbered [`next_seq`] (a record built
/// before carries that number or 0) and placed after the block's records so far. Sticky:
/// a decision that was made stays on record even if its transaction fails afterwards.
pub(crate) fn append(
    o: &mut Overlay,
    mut record: pb::AuditRecord,
) -> Result<pb::AuditRecord, ExecError> {
    let seq = next_seq(o)?;
    debug_assert!(
        record.seq == 0 || record.seq == seq,
        "an audit record numbered out of turn"
    );
    record.seq = seq;
    record.block_index = o.audit().len() as u32;
    o.write_sticky(&AUDIT_SEQ, (), &seq);
    o.push_audit(record.clone());
    Ok(record)
}

/// The audit record of something done for kept request `req` on certificate `cert` by
/// transaction `tx_hash` in block `ctx` (a key release, a compute job's result), for
/// [`append`].
pub(crate) fn follow_up(
    ctx: &BlockContext,
    tx_hash: &[u8],
    req: &pb::AccessRequest,
    cert: &pb::Certificate,
    action: pb::AuditAction,
    reason: String,
) -> pb::AuditRecord {
    pb::AuditRecord {
        seq: 0,
        height: ctx.height,
        tx_hash: tx_hash.to_vec(),
        time_ms: ctx.time_ms,
        requester: req.requester.clone(),
        operator: req.operator.clone(),
        owner: cert.issuer.clone(),
        subject_id: cert.subject_id.clone(),
        cert_id: cert.id.clone(),
        cert_type: cert.cert_type.clone(),
        purpose: req.purpose.clone(),
        decision: pb::Decision::Allow as i32,
        reason,
        points: 0,
        via: req
            .job
            .as_ref()
            .map_or(Via::Direct, |j| Via::Contract(&j.contract))
            .label(),
        block_index: 0,
        grant_id: req.grant_id,
        action: action as i32,
        request: req.seq,
    }
}

/// One audit record by sequence number.
pub fn record(store: &Store, seq: u64) -> Result<Option<pb::AuditRecord>, ExecError> {
    store.read(&AUDIT, seq).map_err(internal)
}

/// Who is looking at audit records: `None` sees every record (the auditor role); a
/// department sees the records where it is the requester or the owner. This is the one
/// visibility rule: the gRPC services, the console and the supervision views apply it.
pub type Scope<'a> = Option<&'a str>;

/// Whether `scope` may see `r`.
pub fn visible(scope: Scope<'_>, r: &pb::AuditRecord) -> bool {
    scope.is_none_or(|d| r.requester == d || r.owner == d)
}

/// `q` as `scope` may run it: unchanged when it names the department as requester,
/// owner or party (or for an auditor); narrowed to the department's own records when it
/// names no department; `None` when it names only others.
pub fn scope_query(scope: Scope<'_>, mut q: pb::AuditQuery) -> Option<pb::AuditQuery> {
    let Some(me) = scope else { return Some(q) };
    if q.requester == me || q.owner == me || q.party == me {
        return Some(q);
    }
    if q.requester.is_empty() && q.owner.is_empty() && q.party.is_empty() {
        q.party = me.to_string();
        return Some(q);
    }
    None
}

fn matches(q: &pb::AuditQuery, r: &pb::AuditRecord) -> bool {
    (q.requester.is_empty() || q.requester == r.requester)
        && (q.owner.is_empty() || q.owner == r.owner)
        && (q.subject_id.is_empty() || q.subject_id == r.subject_id)
        && (q.cert_id.is_empty() || q.cert_id == r.cert_id)
        && (q.decision == 0 || q.decision == r.decision)
        && (q.purpose.is_empty() || q.purpose == r.purpose)
        && (q.party.is_empty() || q.party == r.requester || q.party == r.owner)
        && (q.from_ms == 0 || r.time_ms >= q.from_ms)
}

/// The first audit sequence number at or after block time `from_ms`; `None` if no
/// record is that recent. Sequence numbers grow with block time, so a time range is a
/// sequence range.
fn first_seq_at(store: &Store, from_ms: u64) -> Result<Option<u64>, ExecError> {
    let from = AUDIT_TIME.key((from_ms, 0));
    store
        .scan(&AUDIT_TIME, AUDIT_TIME.all(), Some(from))
        .next()
        .map(|first| Ok(first.map_err(internal)?.0.1))
        .transpose()
}

/// Calls `f` with every record of block times `from_ms..=to_ms`, in sequence order,
/// examining at most `max` records; returns whether the period was covered to its end.
pub fn for_each_in_period(
    store: &Store,
    from_ms: u64,
    to_ms: u64,
    max: u64,
    mut f: impl FnMut(pb::AuditRecord),
) -> Result<bool, ExecError> {
    let Some(start) = first_seq_at(store, from_ms)? else {
        return Ok(true);
    };
    let records = store.scan(&AUDIT, AUDIT.all(), Some(AUDIT.key(start)));
    for (scanned, item) in records.enumerate() {
        let (_, r) = item.map_err(internal)?;
        if r.time_ms > to_ms {
            return Ok(true);
        }
        if scanned as u64 == max {
            return Ok(false);
        }
        f(r);
    }
    Ok(true)
}

/// Records matching every filter of `q`, in sequence order, one page of at most `max`.
pub fn query(store: &Store, q: &pb::AuditQuery, max: u32) -> Result<pb::AuditPage, ExecError> {
    let limit = match q.limit {
        0 => DEFAULT_LIMIT.min(max),
        n => n.min(max),
    } as usize;
    let Some(mut start) = q.after.checked_add(1) else {
        return Ok(pb::AuditPage::default());
    };
    if q.from_ms > 0 {
        match first_seq_at(store, q.from_ms)? {
            Some(first) => start = start.max(first),
            None => return Ok(pb::AuditPage::default()),
        }
    }
    // Drive the scan by the most selective index given; a party alone drives it by the
    // merge of its requester and owner indexes.
    let decision = match q.decision {
        d if d == pb::Decision::Allow as i32 => "allow",
        d if d == pb::Decision::Deny as i32 => "deny",
        _ => "",
    };
    let subject = hex::encode(&q.subject_id);
    let driver = [
        ('c', q.cert_id.as_str()),
        ('s', subject.as_str()),
        ('r', q.requester.as_str()),
        ('o', q.owner.as_str()),
    ]
    .into_iter()
    .find(|(_, v)| !v.is_empty());
    let by = match driver {
        Some(d) => vec![d],
        None if !q.party.is_empty() => vec![('r', q.party.as_str()), ('o', q.party.as_str())],
        None if !decision.is_empty() => vec![('d', decision)],
        None => vec![],
    };
    let found: Box<dyn Iterator<Item = Result<(u64, pb::AuditRecord), ExecError>>> =
        if by.is_empty() {
            // The whole log.
            Box::new(
                store
                    .scan(&AUDIT, AUDIT.all(), Some(AUDIT.key(start)))
                    .map(|r| r.map_err(internal)),
            )
        } else {
            Box::new(merged_seqs(store, &by, start).map(|seq| {
                let seq = seq?;
                let r = record(store, seq)?
                    .ok_or_else(|| internal(format!("audit index names missing record {seq}")))?;
                Ok((seq, r))
            }))
        };
    let mut page = pb::AuditPage::default();
    for item in found {
        let (seq, r) = item?;
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

/// The sequences under each of the audit indexes `by` (kind, value) from sequence
/// `start` on, merged in sequence order, each sequence once.
fn merged_seqs<'a>(
    store: &'a Store,
    by: &[(char, &str)],
    start: u64,
) -> impl Iterator<Item = Result<u64, ExecError>> + 'a {
    let mut scans: Vec<_> = by
        .iter()
        .map(|&by| {
            store
                .scan(
                    &AUDIT_BY,
                    AUDIT_BY.within(by),
                    Some(AUDIT_BY.key((by, start))),
                )
                .map(|r| r.map(|((_, seq), ())| seq).map_err(internal))
                .peekable()
        })
        .collect();
    std::iter::from_fn(move || {
        // An error comes first; otherwise the smallest next sequence of every scan.
        let mut next: Option<u64> = None;
        for scan in &mut scans {
            match scan.peek() {
                Some(Err(_)) => return scan.next(),
                Some(Ok(seq)) => next = Some(next.map_or(*seq, |n| n.min(*seq))),
                None => {}
            }
        }
        let next = next?;
        let mut out = None;
        for scan in &mut scans {
            if matches!(scan.peek(), Some(Ok(seq)) if *seq == next) {
                out = scan.next();
            }
        }
        out
    })
}

/// The records of one block, in leaf order.
fn block_records(store: &Store, height: u64) -> Result<Vec<Vec<u8>>, ExecError> {
    let span = store
        .read(&AUDIT_BLOCK, height)
        .map_err(internal)?
        .ok_or_else(|| internal(format!("block {height} has no audit records")))?;
    (span.first..span.first + u64::from(span.count))
        .map(|s| {
            store
                .read_raw(&AUDIT, s)
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
) -> Result<pb::AuditExport, ExecError> {
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
            out.headers
                .push(signed_header(stored_block(store, r.height)?));
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
    if let Some(top) = out.proofs.iter().map(|p| p.height).max() {
        out.set_changes = set_changes_below(store, top)?;
    }
    Ok(out)
}

/// Every change of the voting validator set below height `top`, with the signed header
/// that commits to it: what a verifier holding only genesis needs to check a header at
/// `top`.
pub(crate) fn set_changes_below(
    store: &Store,
    top: u64,
) -> Result<Vec<pb::ValidatorSetChange>, ExecError> {
    let mut out = vec![];
    for entry in store.scan(&SET_CHANGE, SET_CHANGE.all(), None) {
        let (height, next) = entry.map_err(internal)?;
        if height >= top {
            break;
        }
        out.push(pb::ValidatorSetChange {
            header: Some(signed_header(stored_block(store, height)?)),
            next: Some(next),
        });
    }
    Ok(out)
}

/// Committed block `height`.
pub(crate) fn stored_block(store: &Store, height: u64) -> Result<pb::Block, ExecError> {
    let raw = store
        .block(height)
        .map_err(internal)?
        .ok_or_else(|| internal(format!("block {height} missing")))?;
    decode("block", &raw).map_err(internal)
}

/// A block's header as exports carry it: with its proposer's signature and certificate.
pub(crate) fn signed_header(block: pb::Block) -> pb::SignedHeader {
    pb::SignedHeader {
        header: block.header,
        signature: block.signature,
        commit: block.commit,
    }
}

pub use govchain_proof::{
    CSV_HEADER, EXPORT_FORMAT, ExportFile, ExportedHeader, ExportedRecord, ExportedSetChange,
    RecordView, action_name,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn q(requester: &str, owner: &str, party: &str) -> pb::AuditQuery {
        pb::AuditQuery {
            requester: requester.into(),
            owner: owner.into(),
            party: party.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_department_sees_only_its_own_side_and_an_auditor_everything() {
        let r = pb::AuditRecord {
            requester: "tax".into(),
            owner: "real-estate".into(),
            ..Default::default()
        };
        assert!(visible(None, &r));
        assert!(visible(Some("tax"), &r) && visible(Some("real-estate"), &r));
        assert!(!visible(Some("bank"), &r));

        // Naming itself on any side: as asked. Naming no one: its own records.
        for asked in [
            q("bank", "", ""),
            q("", "bank", "tax"),
            q("tax", "", "bank"),
        ] {
            assert_eq!(scope_query(Some("bank"), asked.clone()), Some(asked));
        }
        assert_eq!(
            scope_query(Some("bank"), q("", "", "")),
            Some(q("", "", "bank"))
        );
        // Naming only others: refused, however the sides are combined.
        for others in [
            q("tax", "", ""),
            q("", "tax", ""),
            q("", "", "tax"),
            q("a", "b", "c"),
        ] {
            assert_eq!(scope_query(Some("bank"), others), None);
        }
        assert_eq!(scope_query(None, q("tax", "", "")), Some(q("tax", "", "")));
    }
}
