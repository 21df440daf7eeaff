//! Which key an account signs with: the one lookup every signature is checked against,
//! in transactions (admission and again at execution, `registered_key_in`) and in
//! signed reads ([`read_signer`]).

use govchain_store::{Records, Store};
use govchain_types::{ExecError, TxError, pb};

use crate::internal;
use crate::tables::{DEPARTMENT, VALIDATOR};

/// Prefix of a validator's transaction account.
pub const VALIDATOR_ACCOUNT: &str = "validator:";

/// Who sends a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account<'a> {
    /// A department (its own key or one of its operators').
    Department(&'a str),
    /// A validator, `validator:<id>`, signing with its block key: it sends key-share
    /// releases and compute results only.
    Validator(&'a str),
}

impl<'a> Account<'a> {
    /// The account a transaction's sender names.
    pub fn parse(sender: &'a str) -> Self {
        match sender.strip_prefix(VALIDATOR_ACCOUNT) {
            Some(id) => Account::Validator(id),
            None => Account::Department(sender),
        }
    }
}

/// The transaction account of validator `id`.
pub fn validator_account(id: &str) -> String {
    format!("{VALIDATOR_ACCOUNT}{id}")
}

/// The SEC1 public key registered for an account in committed state: a department, one
/// of its operators, or a validator (`validator:<id>`, its block-signing key).
pub(crate) fn registered_key_in(
    records: &impl Records,
    dept: &str,
    operator: &str,
) -> std::result::Result<Vec<u8>, ExecError> {
    if let Account::Validator(id) = Account::parse(dept) {
        let v = records
            .read(&VALIDATOR, id)
            .map_err(internal)?
            .filter(|_| operator.is_empty())
            .ok_or_else(|| TxError::UnknownDepartment {
                department: dept.to_string(),
            })?;
        return Ok(v.public_key);
    }
    department_in(records, dept, operator).map(|(_, key)| key)
}

/// A department's record and the SEC1 public key it (`operator` empty) or one of its
/// operators has registered, read from `records`: the lookup every signature by a department
/// is checked against, in transactions ([`registered_key_in`]) and in signed reads.
fn department_in(
    records: &impl Records,
    dept: &str,
    operator: &str,
) -> std::result::Result<(pb::Department, Vec<u8>), ExecError> {
    let d = records
        .read(&DEPARTMENT, dept)
        .map_err(internal)?
        .ok_or_else(|| TxError::UnknownDepartment {
            department: dept.to_string(),
        })?;
    let key = if operator.is_empty() {
        d.public_key.clone()
    } else {
        d.operators
            .iter()
            .find(|o| o.id == operator)
            .map(|o| o.public_key.clone())
            .ok_or_else(|| TxError::UnknownOperator {
                department: dept.to_string(),
                operator: operator.to_string(),
            })?
    };
    Ok((d, key))
}

/// Whom a signed read (an `x-govchain-auth` header) of `account` must be signed by, from
/// committed state: a department's record (`None` for a validator's account, which
/// holds no roles) and the key the department (`operator` empty), its operator or the
/// validator (`validator:<id>`, its block key) registered.
///
/// # Errors
/// [`TxError::UnknownDepartment`], [`TxError::UnknownOperator`], or an internal error
/// reading the store.
pub fn read_signer(
    store: &Store,
    account: &str,
    operator: &str,
) -> std::result::Result<(Option<pb::Department>, Vec<u8>), ExecError> {
    if let Account::Validator(_) = Account::parse(account) {
        return registered_key_in(store, account, operator).map(|key| (None, key));
    }
    department_in(store, account, operator).map(|(d, key)| (Some(d), key))
}
