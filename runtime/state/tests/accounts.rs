//! The account → key lookup of signed reads (`access::accounts::read_signer`): the key a
//! department or its operator registered, or a validator's block key for its own
//! account (which holds no department record, so no roles).

use govchain_state::access::accounts::read_signer;
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_types::{Coded, ErrorCode, ExecError};

#[test]
fn signed_reads_are_checked_against_the_registered_key_of_the_account_named() {
    let chain = LocalChain::nanjing(
        govchain_store::Store::in_memory().unwrap(),
        1_795_392_000_000,
        [9; 32],
        nanjing_access(),
    )
    .unwrap();
    let (record, key) = read_signer(&chain.store, "tax", "").unwrap();
    assert_eq!(record.unwrap().id, "tax");
    assert_eq!(key, chain.key("tax").public_key().to_sec1());

    let code = |e: ExecError| e.code();
    assert_eq!(
        code(read_signer(&chain.store, "tax", "clerk-7").unwrap_err()),
        ErrorCode::UnknownOperator
    );
    assert_eq!(
        code(read_signer(&chain.store, "no-such-dept", "").unwrap_err()),
        ErrorCode::UnknownDepartment
    );
    // node1's account (`validator:node1`) signs with node1's block key and is no
    // department: no record, so no role and no department's scope.
    let (record, key) = read_signer(&chain.store, "validator:node1", "").unwrap();
    assert!(record.is_none());
    let node1 = govchain_state::query::validators(&chain.store).unwrap();
    assert_eq!(key, node1[0].public_key);
    assert_eq!(
        code(read_signer(&chain.store, "validator:node9", "").unwrap_err()),
        ErrorCode::UnknownDepartment
    );
    assert_eq!(
        code(read_signer(&chain.store, "validator:node1", "clerk").unwrap_err()),
        ErrorCode::UnknownDepartment
    );
}
