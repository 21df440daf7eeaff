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
