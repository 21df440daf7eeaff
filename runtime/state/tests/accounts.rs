//! The account → key lookup of signed reads (`access::accounts::department_signer`): the key a
//! department or its operator registered; validator accounts, which sign transactions,
//! cannot sign reads.

use govchain_state::access::accounts::department_signer;
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_types::{Coded, ErrorCode, ExecError};

#[test]
fn signed_reads_are_checked_against_the_department_key_and_never_a_validator_key() {
    let chain = LocalChain::nanjing(
        govchain_store::Store::in_memory().unwrap(),
        1_795_392_000_000,
        [9; 32],
        nanjing_access(),
    )
    .unwrap();
    let (record, key) = department_signer(&chain.store, "tax", "").unwrap();
    assert_eq!(record.id, "tax");
    assert_eq!(key, chain.key("tax").public_key().to_sec1());

    let code = |e: ExecError| e.code();
    assert_eq!(
        code(department_signer(&chain.store, "tax", "clerk-7").unwrap_err()),
        ErrorCode::UnknownOperator
    );
    assert_eq!(
        code(department_signer(&chain.store, "no-such-dept", "").unwrap_err()),
        ErrorCode::UnknownDepartment
    );
    // node1 signs its key-share releases as `validator:node1` with the tax bureau's key;
    // that account is no department, so no read can be signed in its name.
    assert_eq!(
        code(department_signer(&chain.store, "validator:node1", "").unwrap_err()),
        ErrorCode::UnknownDepartment
    );
}
