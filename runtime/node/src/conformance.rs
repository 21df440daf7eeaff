//! The fixtures of `conformance/vectors.json` that the node's own vector needs: the job
//! runner's signed result is checked in `jobs.rs` (its sealing is private there).

#[path = "../../../conformance/harness.rs"]
pub(crate) mod harness;

use govchain_crypto::PrivateKey;
use govchain_state::Genesis;

/// The fixed key `name` of the vector file.
pub(crate) fn key(name: &str) -> PrivateKey {
    PrivateKey::from_pkcs8_pem(&harness::key_pem(name))
        .unwrap_or_else(|e| panic!("fixed key '{name}': {e}"))
}

/// The genesis fixture.
pub(crate) fn genesis() -> Genesis {
    Genesis::from_json(&harness::genesis_json()).expect("the genesis fixture is valid")
}
