//! Layout of state keys. One prefix per record kind; ids never contain `/`.

/// Department record: `d/{dept}` → `pb::Department`.
pub fn department(id: &str) -> Vec<u8> {
    format!("d/{id}").into_bytes()
}

/// Prefix of all department records.
pub const DEPARTMENTS: &[u8] = b"d/";

/// Validator record: `v/{id}` → `pb::Validator`.
pub fn validator(id: &str) -> Vec<u8> {
    format!("v/{id}").into_bytes()
}

/// Prefix of all validator records.
pub const VALIDATORS: &[u8] = b"v/";

/// A raft node id taken by a node: `rid/{id}` (u64 BE) → node id. Never deleted, so an
/// id is not given to a second node after its first was removed.
pub fn raft_id(id: u64) -> Vec<u8> {
    let mut k = b"rid/".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Next nonce of an account: `n/{dept}/{operator}` → u64 BE. The department's own key
/// uses an empty operator.
pub fn nonce(dept: &str, operator: &str) -> Vec<u8> {
    format!("n/{dept}/{operator}").into_bytes()
}

/// Anchored document digest: `a/{dept}/{key}` → `pb::AnchorRecord`.
pub fn anchor(dept: &str, key: &str) -> Vec<u8> {
    format!("a/{dept}/{key}").into_bytes()
}

/// Chain parameters (JSON of [`crate::ChainParams`]).
pub const PARAMS: &[u8] = b"c/params";
/// Chain id (UTF-8).
pub const CHAIN_ID: &[u8] = b"c/chain_id";
/// Management committee (JSON of [`crate::genesis::Committee`]).
pub const COMMITTEE: &[u8] = b"c/committee";
/// Chain salt used to derive subject ids (32 bytes).
pub const CHAIN_SALT: &[u8] = b"c/salt";

/// A contract's own storage: `k/{contract}/` followed by the contract's key bytes.
pub fn contract_data(contract: &str, key: &[u8]) -> Vec<u8> {
    let mut k = format!("k/{contract}/").into_bytes();
    k.extend_from_slice(key);
    k
}

/// Deployed contract: `x/{name}` → `pb::ContractRecord`.
pub fn contract(name: &str) -> Vec<u8> {
    format!("x/{name}").into_bytes()
}

/// Prefix of all contract records.
pub const CONTRACTS: &[u8] = b"x/";

/// Prepared (instrumented) code by the SM3 hash of the code as submitted.
pub fn code(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = b"code/".to_vec();
    k.extend_from_slice(hash);
    k
}

/// Entry points of prepared code (JSON `[calls, queries]`).
pub fn code_entries(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = b"codemeta/".to_vec();
    k.extend_from_slice(hash);
    k
}

/// Proposal: `p/{id u64 BE}` → `pb::ProposalRecord`.
pub fn proposal(id: u64) -> Vec<u8> {
    let mut k = b"p/".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Prefix of all proposals.
pub const PROPOSALS: &[u8] = b"p/";

/// Next proposal id (u64 BE).
pub const NEXT_PROPOSAL: &[u8] = b"c/next_proposal";

/// Certificate type: `ct/{id}` → `pb::CertType`.
pub fn cert_type(id: &str) -> Vec<u8> {
    format!("ct/{id}").into_bytes()
}

/// Prefix of all certificate types.
pub const CERT_TYPES: &[u8] = b"ct/";

/// Registered purpose: `pu/{id}` → `pb::Purpose`.
pub fn purpose(id: &str) -> Vec<u8> {
    format!("pu/{id}").into_bytes()
}

/// Prefix of all purposes.
pub const PURPOSES: &[u8] = b"pu/";

/// Certificate: `cert/{id}` → `pb::Certificate`.
pub fn certificate(id: &str) -> Vec<u8> {
    format!("cert/{id}").into_bytes()
}

/// Certificates of a subject: `cs/{subject hex}/{cert id}` → empty.
pub fn cert_by_subject(subject: &[u8], cert_id: &str) -> Vec<u8> {
    format!("cs/{}/{cert_id}", hex::encode(subject)).into_bytes()
}

/// Prefix of a subject's certificates.
pub fn certs_of_subject(subject: &[u8]) -> Vec<u8> {
    format!("cs/{}/", hex::encode(subject)).into_bytes()
}

/// Certificates of an issuer: `ci/{issuer}/{cert id}` → empty.
pub fn cert_by_issuer(issuer: &str, cert_id: &str) -> Vec<u8> {
    format!("ci/{issuer}/{cert_id}").into_bytes()
}

/// Prefix of an issuer's certificates.
pub fn certs_of_issuer(issuer: &str) -> Vec<u8> {
    format!("ci/{issuer}/").into_bytes()
}

/// Grant: `g/{cert id}/{grant id u64 BE}` → `pb::Grant`.
pub fn grant(cert_id: &str, id: u64) -> Vec<u8> {
    let mut k = format!("g/{cert_id}/").into_bytes();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Prefix of a certificate's grants.
pub fn grants_of(cert_id: &str) -> Vec<u8> {
    format!("g/{cert_id}/").into_bytes()
}

/// Next grant id (u64 BE).
pub const NEXT_GRANT: &[u8] = b"c/next_grant";

/// Casbin model text (UTF-8).
pub const POLICY_MODEL: &[u8] = b"c/policy_model";
/// Policy version (u64 BE), bumped by every approved policy change.
pub const POLICY_VERSION: &[u8] = b"c/policy_version";

/// Policy line: `pol/{canonical line}` → empty.
pub fn policy_line(line: &str) -> Vec<u8> {
    format!("pol/{line}").into_bytes()
}

/// Prefix of all policy lines.
pub const POLICY_LINES: &[u8] = b"pol/";

/// Points balance of a department: `pt/{dept}` → u64 BE.
pub fn points(dept: &str) -> Vec<u8> {
    format!("pt/{dept}").into_bytes()
}

/// Points allocated at genesis (u64 BE).
pub const POINTS_GENESIS: &[u8] = b"c/points_genesis";
/// Points minted since genesis (u64 BE).
pub const POINTS_MINTED: &[u8] = b"c/points_minted";
/// Points burned since genesis (u64 BE).
pub const POINTS_BURNED: &[u8] = b"c/points_burned";
/// Points parameters (`pb::PointsParams`).
pub const POINTS_PARAMS: &[u8] = b"c/points_params";
/// Last points-ledger sequence number (u64 BE).
pub const POINTS_SEQ: &[u8] = b"c/points_seq";
/// Last audit sequence number (u64 BE).
pub const AUDIT_SEQ: &[u8] = b"c/audit_seq";

/// Free reads used by a department in a period: `pq/{dept}/{period u64 BE}` → u64 BE.
pub fn free_reads(dept: &str, period: u64) -> Vec<u8> {
    let mut k = format!("pq/{dept}/").into_bytes();
    k.extend_from_slice(&period.to_be_bytes());
    k
}

/// Publish rewards earned by a department in a period: `pr/{dept}/{period}` → u64 BE.
pub fn rewards(dept: &str, period: u64) -> Vec<u8> {
    let mut k = format!("pr/{dept}/").into_bytes();
    k.extend_from_slice(&period.to_be_bytes());
    k
}

/// Reads a u64 BE counter (absent = 0).
pub fn counter(raw: Option<Vec<u8>>) -> std::result::Result<u64, govchain_types::TxError> {
    match raw {
        None => Ok(0),
        Some(v) => v
            .as_slice()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| govchain_types::TxError::Internal("corrupt counter".into())),
    }
}

/// Keys of the `index` column: derived from execution, written with the block, never
/// part of the state root (the audit records are committed by the header's audit root).
pub mod index {
    /// Audit record by sequence: `au/{seq BE}` → `pb::AuditRecord`.
    pub fn audit(seq: u64) -> Vec<u8> {
        let mut k = b"au/".to_vec();
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// Prefix of all audit records.
    pub const AUDIT: &[u8] = b"au/";

    /// An audit secondary index: `ax/{kind}/{value}/{seq BE}` → empty, where kind is
    /// `r` requester, `o` owner, `s` subject (hex), `c` certificate, `d` decision.
    pub fn audit_by(kind: char, value: &str, seq: u64) -> Vec<u8> {
        let mut k = audit_by_prefix(kind, value);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// Prefix of one audit secondary index value.
    pub fn audit_by_prefix(kind: char, value: &str) -> Vec<u8> {
        format!("ax/{kind}/{value}/").into_bytes()
    }

    /// Audit records by time: `at/{time_ms BE}{seq BE}` → empty.
    pub fn audit_time(time_ms: u64, seq: u64) -> Vec<u8> {
        let mut k = b"at/".to_vec();
        k.extend_from_slice(&time_ms.to_be_bytes());
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// Prefix of the time index.
    pub const AUDIT_TIME: &[u8] = b"at/";

    /// First audit sequence and count of a block: `ah/{height BE}` → seq BE || u32 BE.
    pub fn audit_block(height: u64) -> Vec<u8> {
        let mut k = b"ah/".to_vec();
        k.extend_from_slice(&height.to_be_bytes());
        k
    }

    /// Points ledger entry: `ph/{dept}/{seq BE}` → `pb::PointsEntry`.
    pub fn points_entry(dept: &str, seq: u64) -> Vec<u8> {
        let mut k = points_of(dept);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// Prefix of a department's points ledger.
    pub fn points_of(dept: &str) -> Vec<u8> {
        format!("ph/{dept}/").into_bytes()
    }
}

/// The validators' custody key set (`pb::CustodyKeySet`), from genesis.
pub const CUSTODY: &[u8] = b"c/custody";

/// An allowed direct access request: `rq/{seq u64 BE}` → `pb::AccessRequest`.
pub fn access_request(seq: u64) -> Vec<u8> {
    let mut k = b"rq/".to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Prefix of all access requests kept for key release.
pub const ACCESS_REQUESTS: &[u8] = b"rq/";

/// A released key share: `rl/{request u64 BE}/{share u32 BE}` → `pb::ReleasedShare`.
pub fn release(request: u64, share: u32) -> Vec<u8> {
    let mut k = releases_of(request);
    k.extend_from_slice(&share.to_be_bytes());
    k
}

/// Prefix of a request's released shares.
pub fn releases_of(request: u64) -> Vec<u8> {
    let mut k = b"rl/".to_vec();
    k.extend_from_slice(&request.to_be_bytes());
    k.push(b'/');
    k
}

/// A key envelope in use: `ke/{the envelope's random point U}` → certificate id.
pub fn envelope(tag: &[u8]) -> Vec<u8> {
    let mut k = b"ke/".to_vec();
    k.extend_from_slice(tag);
    k
}

/// A compute job's posted result: `jr/{request u64 BE}` → `pb::JobResult`.
pub fn job_result(request: u64) -> Vec<u8> {
    let mut k = b"jr/".to_vec();
    k.extend_from_slice(&request.to_be_bytes());
    k
}

/// Compute jobs of a department over a certificate on one China Standard Time day
/// ([`crate::certs::block_date`]): `jq/{department}/{cert id}/{day i64 BE}` → count.
pub fn job_quota(department: &str, cert_id: &str, day: i64) -> Vec<u8> {
    let mut k = format!("jq/{department}/{cert_id}/").into_bytes();
    k.extend_from_slice(&day.to_be_bytes());
    k
}
