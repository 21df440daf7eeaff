//! Every table of the chain's state and index columns: its prefix, key and value. The
//! bytes of a key or value are written here and in the store's codecs, nowhere else;
//! the rest of the crate reads and writes records through these tables
//! ([`govchain_store::Records::read`] on the executor's [`crate::Overlay`] or the store).
//!
//! All replicated state lives in the `state` column (covered by the state root); audit
//! records, their indexes and the points ledgers live in the `index` column, written
//! with their block and committed by the header's audit root.

use govchain_store::Column::{Index, State};
use govchain_store::Table;
use govchain_store::table::{
    AnyTable, Bytes, Cat, Hash32, Hex, I64, Id, Json, Proto, Raw, Seg, Single, Tag, Text, U32, U64,
    Unit, Utf8, ValueCodec,
};
use govchain_types::pb;

use crate::ChainParams;
use crate::genesis::Committee;

/// Department record, by id.
pub const DEPARTMENT: Table<Id, Proto<pb::Department>> = Table::new("department", State, b"d/");
/// Validator record, by id.
pub const VALIDATOR: Table<Id, Proto<pb::Validator>> = Table::new("validator", State, b"v/");
/// A key an account signed with before a rotation or replacement: ((department,
/// operator), the height from which it is refused).
pub const KEY_HISTORY: Table<Seg<Seg<Id, Id>, U64>, Proto<pb::RetiredKey>> =
    Table::new("retired key", State, b"kh/");
/// Every retired key (by SM3 of its SEC1 bytes) and the account it was retired from:
/// a retired key is never registered again.
pub const RETIRED_KEY: Table<Hash32, Utf8> = Table::new("retired key index", State, b"rk/");
/// Next nonce of an account: (department, operator); the department's own key uses an
/// empty operator.
pub const NONCE: Table<Seg<Id, Id>, U64> = Table::new("nonce", State, b"n/");
/// Anchored document digest: (department, key).
pub const ANCHOR: Table<Seg<Id, Text>, Proto<pb::AnchorRecord>> =
    Table::new("anchor", State, b"a/");

/// Chain parameters.
pub const PARAMS: Table<Single, Json<ChainParams>> = Table::new("chain params", State, b"c/params");
/// Chain id.
pub const CHAIN_ID: Table<Single, Utf8> = Table::new("chain id", State, b"c/chain_id");
/// Management committee.
pub const COMMITTEE: Table<Single, Json<Committee>> =
    Table::new("committee", State, b"c/committee");

/// A contract's own storage: (contract, the contract's key bytes).
pub const CONTRACT_DATA: Table<Seg<Id, Raw>, Bytes> = Table::new("contract data", State, b"k/");
/// Deployed contract, by name.
pub const CONTRACT: Table<Id, Proto<pb::ContractRecord>> = Table::new("contract", State, b"x/");
/// Prepared (instrumented) code, by the SM3 hash of the code as submitted.
pub const CODE: Table<Hash32, Bytes> = Table::new("code", State, b"code/");
/// Entry points of prepared code: `[calls, queries, jobs]` (`[calls, queries]` before
/// compute jobs existed).
pub const CODE_ENTRIES: Table<Hash32, Json<Vec<Vec<String>>>> =
    Table::new("code entries", State, b"codemeta/");

/// Proposal, by id.
pub const PROPOSAL: Table<U64, Proto<pb::ProposalRecord>> = Table::new("proposal", State, b"p/");
/// Next proposal id.
pub const NEXT_PROPOSAL: Table<Single, U64> =
    Table::new("next proposal", State, b"c/next_proposal");

/// Certificate type, by id.
pub const CERT_TYPE: Table<Id, Proto<pb::CertType>> = Table::new("certificate type", State, b"ct/");
/// Registered purpose, by id.
pub const PURPOSE: Table<Id, Proto<pb::Purpose>> = Table::new("purpose", State, b"pu/");
/// Certificate, by id.
pub const CERTIFICATE: Table<Id, Proto<pb::Certificate>> =
    Table::new("certificate", State, b"cert/");
/// Certificates of a subject: (subject id, written in hex; certificate id).
pub const CERT_BY_SUBJECT: Table<Seg<Hex, Id>, Unit> =
    Table::new("certificate by subject", State, b"cs/");
/// Certificates of an issuer: (issuer, certificate id).
pub const CERT_BY_ISSUER: Table<Seg<Id, Id>, Unit> =
    Table::new("certificate by issuer", State, b"ci/");
/// A grant's key: (certificate id, grant id).
pub type GrantKey = Seg<Id, U64>;
/// Grant, by [`GrantKey`].
pub const GRANT: Table<GrantKey, Proto<pb::Grant>> = Table::new("grant", State, b"g/");
/// A revoked grant, by its grantee: (grantee, (height revoked at, (certificate id, grant
/// id))), so a grantee follows what it lost in order.
pub const GRANT_REVOKED: Table<Seg<Id, Seg<U64, GrantKey>>, Unit> =
    Table::new("revoked grant by grantee", State, b"gr/");

/// The first key of [`GRANT_REVOKED`] for `grantee` at `height` or above.
pub fn revoked_from(grantee: &str, height: u64) -> Vec<u8> {
    let mut k = GRANT_REVOKED.within(grantee);
    <U64 as govchain_store::KeyCodec>::encode(height, &mut k);
    k
}
/// Next grant id.
pub const NEXT_GRANT: Table<Single, U64> = Table::new("next grant", State, b"c/next_grant");
/// A key envelope in use, by the envelope's random point U: the certificate holding it.
pub const ENVELOPE: Table<Raw, Utf8> = Table::new("key envelope", State, b"ke/");

/// Casbin model text.
pub const POLICY_MODEL: Table<Single, Utf8> = Table::new("policy model", State, b"c/policy_model");
/// Policy version, bumped by every approved policy change.
pub const POLICY_VERSION: Table<Single, U64> =
    Table::new("policy version", State, b"c/policy_version");
/// Policy line, by its canonical text.
pub const POLICY_LINE: Table<Text, Unit> = Table::new("policy line", State, b"pol/");

/// Points balance of a department.
pub const POINTS: Table<Id, U64> = Table::new("points balance", State, b"pt/");
/// Points allocated at genesis.
pub const POINTS_GENESIS: Table<Single, U64> =
    Table::new("points at genesis", State, b"c/points_genesis");
/// Points minted since genesis.
pub const POINTS_MINTED: Table<Single, U64> =
    Table::new("points minted", State, b"c/points_minted");
/// Points burned since genesis.
pub const POINTS_BURNED: Table<Single, U64> =
    Table::new("points burned", State, b"c/points_burned");
/// Points parameters.
pub const POINTS_PARAMS: Table<Single, Proto<pb::PointsParams>> =
    Table::new("points params", State, b"c/points_params");
/// Last points-ledger sequence number.
pub const POINTS_SEQ: Table<Single, U64> = Table::new("points sequence", State, b"c/points_seq");
/// Free reads a department used in a period: (department, period).
pub const FREE_READS: Table<Seg<Id, U64>, U64> = Table::new("free reads", State, b"pq/");
/// Publish rewards a department earned in a period: (department, period).
pub const REWARDS: Table<Seg<Id, U64>, U64> = Table::new("rewards", State, b"pr/");
/// Last audit sequence number.
pub const AUDIT_SEQ: Table<Single, U64> = Table::new("audit sequence", State, b"c/audit_seq");

/// The validators' custody key set, from key generation.
pub const CUSTODY: Table<Single, Proto<pb::CustodyKeySet>> =
    Table::new("custody key set", State, b"c/custody");
/// The custody key generation: round, phase and parameters.
pub const KEYGEN: Table<Single, Proto<pb::KeygenState>> =
    Table::new("key generation", State, b"c/keygen");
/// A dealing of key generation: (round, dealer's share number).
pub const KEYGEN_DEAL: Table<Seg<U64, U32>, Proto<pb::KeygenDealRecord>> =
    Table::new("key generation dealing", State, b"kd/");
/// A holder's complaints in key generation: (round, holder's share number).
pub const KEYGEN_COMPLAINT: Table<Seg<U64, U32>, Proto<pb::KeygenComplaintRecord>> =
    Table::new("key generation complaints", State, b"kc/");
/// A dealer's answer to a complaint: (round, (dealer, holder)).
pub const KEYGEN_ANSWER: Table<Seg<U64, Seg<U32, U32>>, Proto<pb::KeygenAnswerRecord>> =
    Table::new("key generation answer", State, b"ka/");
/// An allowed direct access request kept for key release, by sequence.
pub const ACCESS_REQUEST: Table<U64, Proto<pb::AccessRequest>> =
    Table::new("access request", State, b"rq/");
/// A validator's committed approval of a release: (request, share index).
pub const RELEASE_APPROVAL: Table<Seg<U64, U32>, Proto<pb::ReleaseApproval>> =
    Table::new("release approval", State, b"ra/");
/// A released key share: (request, share index).
pub const RELEASE: Table<Seg<U64, U32>, Proto<pb::ReleasedShare>> =
    Table::new("released share", State, b"rl/");
/// A compute job's posted result, by request.
pub const JOB_RESULT: Table<U64, Proto<pb::JobResult>> = Table::new("job result", State, b"jr/");
/// Compute jobs of a department over one citizen's certificates in one period of
/// [`crate::compute::JOB_PERIOD_DAYS`] China Standard Time days: ((department, subject id
/// hex), block date ÷ period).
pub const JOB_QUOTA: Table<Seg<Seg<Id, Id>, I64>, U64> = Table::new("job quota", State, b"jq/");
/// Where in consensus a validator signed twice: height ‖ round ‖ step tag (`p` prevote,
/// `c` precommit, `o` proposal).
pub type ConsensusStep = Cat<U64, Cat<U32, Tag>>;
/// A validator's recorded equivocation: (validator, step).
pub const EVIDENCE: Table<Seg<Id, ConsensusStep>, Proto<pb::EvidenceRecord>> =
    Table::new("evidence", State, b"ev/");

/// The voting validator set after a block that changed it, by that block's height
/// (`index` column): the set changes an audit export carries for light verifiers.
pub const SET_CHANGE: Table<U64, Proto<pb::ValidatorSet>> =
    Table::new("validator set change", Index, b"vs/");
/// Audit record, by sequence (`index` column).
pub const AUDIT: Table<U64, Proto<pb::AuditRecord>> = Table::new("audit record", Index, b"au/");
/// An audit secondary index: ((kind, value), sequence), where kind is `r` requester,
/// `o` owner, `s` subject (hex), `c` certificate, `d` decision (`index` column).
pub const AUDIT_BY: Table<Seg<Seg<Tag, Id>, U64>, Unit> = Table::new("audit index", Index, b"ax/");
/// Audit records by time: (time in ms, sequence) (`index` column).
pub const AUDIT_TIME: Table<Cat<U64, U64>, Unit> = Table::new("audit by time", Index, b"at/");
/// The audit records of a block, by height: the first's sequence and their count
/// (`index` column).
pub const AUDIT_BLOCK: Table<U64, AuditSpan> = Table::new("audit span", Index, b"ah/");
/// Points ledger entry: (department, sequence) (`index` column).
pub const POINTS_ENTRY: Table<Seg<Id, U64>, Proto<pb::PointsEntry>> =
    Table::new("points entry", Index, b"ph/");

/// Every table, for the prefix check.
pub const ALL: &[&dyn AnyTable] = &[
    &DEPARTMENT,
    &VALIDATOR,
    &KEY_HISTORY,
    &RETIRED_KEY,
    &NONCE,
    &ANCHOR,
    &PARAMS,
    &CHAIN_ID,
    &COMMITTEE,
    &CONTRACT_DATA,
    &CONTRACT,
    &CODE,
    &CODE_ENTRIES,
    &PROPOSAL,
    &NEXT_PROPOSAL,
    &CERT_TYPE,
    &PURPOSE,
    &CERTIFICATE,
    &CERT_BY_SUBJECT,
    &CERT_BY_ISSUER,
    &GRANT,
    &GRANT_REVOKED,
    &NEXT_GRANT,
    &ENVELOPE,
    &POLICY_MODEL,
    &POLICY_VERSION,
    &POLICY_LINE,
    &POINTS,
    &POINTS_GENESIS,
    &POINTS_MINTED,
    &POINTS_BURNED,
    &POINTS_PARAMS,
    &POINTS_SEQ,
    &FREE_READS,
    &REWARDS,
    &AUDIT_SEQ,
    &CUSTODY,
    &KEYGEN,
    &KEYGEN_DEAL,
    &KEYGEN_COMPLAINT,
    &KEYGEN_ANSWER,
    &ACCESS_REQUEST,
    &RELEASE_APPROVAL,
    &RELEASE,
    &JOB_RESULT,
    &JOB_QUOTA,
    &EVIDENCE,
    &SET_CHANGE,
    &AUDIT,
    &AUDIT_BY,
    &AUDIT_TIME,
    &AUDIT_BLOCK,
    &POINTS_ENTRY,
];

/// The audit records of one block: the first's sequence and their count
/// (`seq u64 BE || count u32 BE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSpan {
    /// Sequence of the block's first record.
    pub first: u64,
    /// Number of records.
    pub count: u32,
}

impl ValueCodec for AuditSpan {
    type Value = AuditSpan;
    fn encode(v: &AuditSpan) -> Vec<u8> {
        let mut out = v.first.to_be_bytes().to_vec();
        out.extend_from_slice(&v.count.to_be_bytes());
        out
    }
    fn decode(bytes: &[u8]) -> Result<AuditSpan, String> {
        let (first, count) = bytes
            .split_first_chunk::<8>()
            .and_then(|(f, rest)| {
                Some((
                    u64::from_be_bytes(*f),
                    u32::from_be_bytes(rest.try_into().ok()?),
                ))
            })
            .ok_or_else(|| format!("{} bytes where an audit span has 12", bytes.len()))?;
        Ok(AuditSpan { first, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_prefix_free() {
        govchain_store::table::check_prefix_free(ALL).unwrap();
        let mut names: Vec<_> = ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn keys_keep_their_layout() {
        // The state root covers these bytes (the conformance vectors pin whole blocks).
        assert_eq!(NONCE.key(("tax", "")), b"n/tax/");
        assert_eq!(GRANT.key(("c1", 2)), b"g/c1/\0\0\0\0\0\0\0\x02");
        assert_eq!(
            GRANT_REVOKED.key(("tax", (3, ("c1", 2)))),
            b"gr/tax/\0\0\0\0\0\0\0\x03/c1/\0\0\0\0\0\0\0\x02"
        );
        assert!(GRANT_REVOKED.key(("tax", (3, ("c1", 2)))) >= revoked_from("tax", 3));
        assert!(GRANT_REVOKED.key(("tax", (3, ("c1", 2)))) < revoked_from("tax", 4));
        assert_eq!(CERT_BY_SUBJECT.key((&[0xab], "c1")), b"cs/ab/c1");
        assert_eq!(
            JOB_QUOTA.key((("bank", "ab01"), -1)),
            b"jq/bank/ab01/\xff\xff\xff\xff\xff\xff\xff\xff"
        );
        assert_eq!(RELEASE.within(7), b"rl/\0\0\0\0\0\0\0\x07/");
        assert_eq!(AUDIT_BY.within(('s', "ab")), b"ax/s/ab/");
        let span = AuditSpan { first: 9, count: 3 };
        assert_eq!(
            AUDIT_BLOCK
                .decode_value(&AUDIT_BLOCK.encode_value(&span))
                .unwrap(),
            span
        );
        assert!(AUDIT_BLOCK.decode_value(&[0; 11]).is_err());
    }
}
