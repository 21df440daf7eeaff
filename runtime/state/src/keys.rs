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
