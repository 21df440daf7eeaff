//! Key lifecycle of departments, operators and validators (`docs/design/keys.md`): a
//! department rotates its own key or an operator's, or revokes an operator
//! ([`pb::RotateKey`]), an operator rotates its own; governance replaces a lost or
//! compromised key, or revokes an operator ([`pb::KeyReplacement`]), and replaces a
//! validator's block-signing key (its account `validator:<id>`): the voting set changes
//! at the next height, as for any validator set change.
//!
//! From the block that commits a change the old key is refused (admission and execution
//! compare every signature with the key registered now); it is kept under `kh/` with the
//! height it stopped at, so a signature in an earlier block is still attributable to the
//! key then in force. A new key proves it is held by whoever registers it (its signature
//! over [`govchain_types::key_rotation_message`]), is no account's key, and was never
//! retired: a compromised key cannot come back.

use govchain_crypto::{PublicKey, Signature, sm3};
use govchain_store::Records;
use govchain_types::event::{Event, KeyRotated};
use govchain_types::{ExecError, TxError, account_label, key_rotation_message, pb};

use crate::access::accounts::Account;
use crate::{BlockContext, Overlay, VerifiedTx, internal, tables};

fn invalid(field: &'static str, reason: impl Into<String>) -> ExecError {
    TxError::InvalidArgument {
        field,
        reason: reason.into(),
    }
    .into()
}

/// A key change to apply: whose key, the new one (and its proof), and why.
pub(crate) struct KeyChange<'a> {
    pub(crate) department: &'a str,
    pub(crate) operator: &'a str,
    /// Empty only to revoke an operator.
    pub(crate) public_key: &'a [u8],
    pub(crate) proof: &'a [u8],
    /// The approving proposal, or 0 for the account's own rotation.
    pub(crate) proposal: u64,
}

impl KeyChange<'_> {
    fn account(&self) -> String {
        account_label(self.department, self.operator)
    }

    fn kind(&self) -> &'static str {
        match (self.proposal, self.public_key.is_empty()) {
            (_, true) => "revoked",
            (0, false) => "rotated",
            (_, false) => "replaced",
        }
    }
}

/// Executes a department's or operator's own [`pb::RotateKey`].
pub(crate) fn rotate(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    r: &pb::RotateKey,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let Account::Department(department) = Account::parse(&tx.body.sender) else {
        return Err(TxError::Unauthorized {
            who: tx.body.sender.clone(),
            action: "rotate keys (a validator's key changes by governance)",
        }
        .into());
    };
    let signer = tx.body.operator.as_str();
    if !signer.is_empty() && signer != r.operator {
        return Err(TxError::Unauthorized {
            who: tx.account(),
            action: "rotate a key other than its own (an operator rotates only its own key; the department's key rotates any of its operators')",
        }
        .into());
    }
    // Without a new key the department revokes one of its operators (a member of staff
    // who left); an operator cannot revoke itself, and a department keeps a key.
    if r.public_key.is_empty() && (r.operator.is_empty() || !signer.is_empty()) {
        return Err(TxError::MissingField {
            field: "rotate_key.public_key".into(),
        }
        .into());
    }
    let change = KeyChange {
        department,
        operator: &r.operator,
        public_key: &r.public_key,
        proof: &r.proof,
        proposal: 0,
    };
    apply(o, ctx, &tx.hash, &change, events)
}

/// Checks a key change against state: the account exists, and the new key is a valid,
/// proven, unused and never retired key. Returns the proposal's one-line summary.
pub(crate) fn validate(o: &Overlay, c: &KeyChange<'_>) -> Result<String, ExecError> {
    let current = current_key(o, c)?;
    if c.public_key.is_empty() {
        if c.operator.is_empty() {
            return Err(invalid(
                "public_key",
                "a department must keep a key: name its new key (only an operator can be revoked)",
            ));
        }
        return Ok(format!("revoke operator '{}'", c.account()));
    }
    let key = PublicKey::from_sec1(c.public_key)
        .map_err(|e| invalid("public_key", format!("not an SM2 public key: {e}")))?;
    let chain_id = o
        .read(&tables::CHAIN_ID, ())
        .map_err(internal)?
        .unwrap_or_default();
    let message = key_rotation_message(&chain_id, c.department, c.operator, c.public_key);
    Signature::from_slice(c.proof)
        .and_then(|sig| key.verify(&message, &sig))
        .map_err(|_| {
            invalid(
                "proof",
                format!(
                    "not the new key's signature over its registration for '{}' on this chain: whoever registers a key must hold it",
                    c.account()
                ),
            )
        })?;
    if c.public_key == current.as_slice() {
        return Err(invalid("public_key", "it is the key in force already"));
    }
    if let Some(owner) = holder(o, c.public_key)? {
        return Err(invalid(
            "public_key",
            format!("it is the key of '{owner}': one key signs for one account"),
        ));
    }
    if let Some(owner) = o
        .read(&tables::RETIRED_KEY, &sm3(c.public_key))
        .map_err(internal)?
    {
        return Err(invalid(
            "public_key",
            format!("it was retired from '{owner}': a retired key is never registered again"),
        ));
    }
    Ok(format!("replace the key of '{}'", c.account()))
}

/// The key account `c` signs with now.
fn current_key(o: &Overlay, c: &KeyChange<'_>) -> Result<Vec<u8>, ExecError> {
    if let Account::Validator(id) = Account::parse(c.department) {
        let v = crate::compute::validator(o, id)?.ok_or_else(|| TxError::NotFound {
            what: format!("validator '{id}'"),
        })?;
        if !c.operator.is_empty() {
            return Err(invalid("operator", "a validator has no operators"));
        }
        if c.public_key.is_empty() {
            return Err(invalid(
                "public_key",
                "a validator keeps a key: remove the validator with `gov propose remove-validator`",
            ));
        }
        return Ok(v.public_key);
    }
    let dept = o
        .read(&tables::DEPARTMENT, c.department)
        .map_err(internal)?
        .ok_or_else(|| TxError::UnknownDepartment {
            department: c.department.to_string(),
        })?;
    if c.operator.is_empty() {
        return Ok(dept.public_key);
    }
    dept.operators
        .into_iter()
        .find(|op| op.id == c.operator)
        .map(|op| op.public_key)
        .ok_or_else(|| {
            TxError::UnknownOperator {
                department: c.department.to_string(),
                operator: c.operator.to_string(),
            }
            .into()
        })
}

/// The account (department, operator or validator) that signs with `key` now, if any.
fn holder(o: &Overlay, key: &[u8]) -> Result<Option<String>, ExecError> {
    let departments: Vec<pb::Department> =
        crate::values(o, &tables::DEPARTMENT, tables::DEPARTMENT.all())?;
    for d in &departments {
        if d.public_key == key {
            return Ok(Some(d.id.clone()));
        }
        if let Some(op) = d.operators.iter().find(|op| op.public_key == key) {
            return Ok(Some(account_label(&d.id, &op.id)));
        }
    }
    let validators: Vec<pb::Validator> =
        crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?;
    Ok(validators
        .into_iter()
        .find(|v| v.public_key == key)
        .map(|v| crate::access::accounts::validator_account(&v.id)))
}

/// Applies a key change (validated again against the state it applies to): the new key
/// (or the operator's removal) in the department record, the old key kept in `kh/` and
/// indexed in `rk/`.
pub(crate) fn apply(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx_hash: &[u8],
    c: &KeyChange<'_>,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    validate(o, c)?;
    let old = match Account::parse(c.department) {
        Account::Validator(id) => {
            let mut v = crate::compute::validator(o, id)?
                .ok_or_else(|| internal("validated validator missing"))?;
            let old = std::mem::replace(&mut v.public_key, c.public_key.to_vec());
            o.write(&tables::VALIDATOR, id, &v);
            old
        }
        Account::Department(_) => replace_department_key(o, c)?,
    };
    let reason = match c.proposal {
        0 => c.kind().to_string(),
        n => format!("{} by proposal {n}", c.kind()),
    };
    o.write(
        &tables::KEY_HISTORY,
        ((c.department, c.operator), ctx.height),
        &pb::RetiredKey {
            public_key: old.clone(),
            until_height: ctx.height,
            tx_hash: tx_hash.to_vec(),
            reason,
        },
    );
    o.write(&tables::RETIRED_KEY, &sm3(&old), &c.account());
    events.push(
        Event::from(KeyRotated {
            department: c.department.to_string(),
            operator: c.operator.to_string(),
            proposal: c.proposal,
            change: c.kind().to_string(),
        })
        .to_pb(),
    );
    Ok(())
}

/// Puts `c`'s new key (or an operator's removal) in the department record; returns the
/// key it replaces.
fn replace_department_key(o: &mut Overlay, c: &KeyChange<'_>) -> Result<Vec<u8>, ExecError> {
    let mut dept = o
        .read(&tables::DEPARTMENT, c.department)
        .map_err(internal)?
        .ok_or_else(|| internal("validated department missing"))?;
    let old = if c.operator.is_empty() {
        std::mem::replace(&mut dept.public_key, c.public_key.to_vec())
    } else {
        let at = dept
            .operators
            .iter()
            .position(|op| op.id == c.operator)
            .ok_or_else(|| internal("validated operator missing"))?;
        if c.public_key.is_empty() {
            dept.operators.remove(at).public_key
        } else {
            std::mem::replace(&mut dept.operators[at].public_key, c.public_key.to_vec())
        }
    };
    o.write(&tables::DEPARTMENT, c.department, &dept);
    Ok(old)
}

/// The keys `department` (or its `operator`) signed with before, oldest first.
pub fn history(
    store: &std::sync::Arc<govchain_store::Store>,
    department: &str,
    operator: &str,
) -> Result<Vec<pb::RetiredKey>, ExecError> {
    let o = Overlay::new(store.clone());
    crate::values(
        &o,
        &tables::KEY_HISTORY,
        tables::KEY_HISTORY.within((department, operator)),
    )
}

#[cfg(test)]
mod validator_tests;

#[cfg(test)]
mod tests {
    use govchain_crypto::PrivateKey;
    use govchain_store::Store;
    use govchain_types::ErrorCode;

    use super::*;
    use crate::genesis::nanjing_access;
    use crate::local::LocalChain;

    /// The local chain's id.
    const CHAIN: &str = "local";

    fn chain() -> LocalChain {
        LocalChain::nanjing(
            Store::in_memory().unwrap(),
            1_780_000_000_000,
            [4; 32],
            nanjing_access(),
        )
        .unwrap()
    }

    fn one(c: &mut LocalChain, account: &str, kind: pb::payload::Kind) -> pb::Receipt {
        let tx = c.tx(account, kind);
        c.block(&[tx], 1_000).unwrap().0.pop().unwrap()
    }

    fn ok(r: &pb::Receipt) {
        assert_eq!(r.status, pb::TxStatus::Ok as i32, "{}", r.error_message);
    }

    fn code(r: &pb::Receipt) -> ErrorCode {
        ErrorCode::try_from(r.error_code as i32).unwrap()
    }

    /// `account`'s rotation to `new` (operator from the account label), with the proof
    /// `prover` makes for `(department, operator)`.
    fn rotation(
        department: &str,
        operator: &str,
        new: &PrivateKey,
        prover: &PrivateKey,
    ) -> pb::payload::Kind {
        let public_key = new.public_key().to_sec1();
        let m = key_rotation_message(CHAIN, department, operator, &public_key);
        pb::payload::Kind::RotateKey(pb::RotateKey {
            operator: operator.into(),
            public_key,
            proof: prover.sign(&m).to_bytes().to_vec(),
        })
    }

    fn anchor(key: &str) -> pb::payload::Kind {
        pb::payload::Kind::Anchor(pb::Anchor {
            key: key.into(),
            digest: vec![7; 32],
            note: String::new(),
        })
    }

    fn registered(c: &LocalChain, account: &str) -> Vec<u8> {
        let (d, op) = account.split_once('/').unwrap_or((account, ""));
        crate::access::accounts::registered_key_in(&*c.store, d, op).unwrap()
    }

    #[test]
    fn a_rotated_key_is_refused_from_its_block_on_and_kept_in_history() {
        let mut c = chain();
        let old = c.key("tax").clone();
        let new = PrivateKey::generate();
        let r = one(&mut c, "tax", rotation("tax", "", &new, &new));
        ok(&r);
        assert!(r.events.iter().any(|e| e.kind == "key_rotated"));
        let height = c.height;
        assert_eq!(registered(&c, "tax"), new.public_key().to_sec1());
        // The old key signs nothing more.
        let r = one(&mut c, "tax", anchor("after"));
        assert_eq!(code(&r), ErrorCode::KeyMismatch);
        c.unsend("tax");
        c.set_key("tax", new);
        let r = one(&mut c, "tax", anchor("after"));
        ok(&r);
        // History says which key signed below which height.
        let h = history(&c.store, "tax", "").unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].public_key, old.public_key().to_sec1());
        assert_eq!(
            (h[0].until_height, h[0].reason.as_str()),
            (height, "rotated")
        );
    }

    #[test]
    fn a_key_is_registered_only_with_its_holders_proof_for_this_account() {
        let mut c = chain();
        let before = registered(&c, "tax");
        let before_key = c.key("tax").clone();
        let new = PrivateKey::generate();
        let other = PrivateKey::generate();
        let bank = c.key("bank").clone();
        for (kind, why) in [
            // No proof, or one by another key.
            (rotation("tax", "", &new, &other), "proof"),
            // A proof made for another account.
            (rotation("housing", "", &new, &new), "proof"),
            // Another department's key (the bank's own proof cannot be had; even with
            // it, one key signs for one account).
            (rotation("tax", "", &bank, &bank), "key of 'bank'"),
            // The key in force.
            (rotation("tax", "", &before_key, &before_key), "in force"),
        ] {
            let r = one(&mut c, "tax", kind);
            assert_eq!(code(&r), ErrorCode::InvalidArgument, "{}", r.error_message);
            assert!(r.error_message.contains(why), "{why}: {}", r.error_message);
            assert_eq!(registered(&c, "tax"), before, "nothing changed");
        }
        assert!(history(&c.store, "tax", "").unwrap().is_empty());
    }

    #[test]
    fn a_retired_key_never_comes_back() {
        let mut c = chain();
        let first = c.key("bank").clone();
        let second = PrivateKey::generate();
        let r = one(&mut c, "bank", rotation("bank", "", &second, &second));
        ok(&r);
        c.set_key("bank", second);
        // Back to the first key (whose holder can prove it): refused, for the bank and
        // for anyone else.
        let r = one(&mut c, "bank", rotation("bank", "", &first, &first));
        assert!(
            r.error_message.contains("retired from 'bank'"),
            "{}",
            r.error_message
        );
        let r = one(&mut c, "housing", rotation("housing", "", &first, &first));
        assert!(
            r.error_message.contains("retired from 'bank'"),
            "{}",
            r.error_message
        );
    }

    #[test]
    fn an_operator_rotates_only_its_own_key_and_a_validator_none() {
        let mut c = chain();
        let new = PrivateKey::generate();
        // The clerk cannot replace its department's key...
        let r = one(&mut c, "tax/clerk", rotation("tax", "", &new, &new));
        assert_eq!(code(&r), ErrorCode::Unauthorized);
        assert_ne!(registered(&c, "tax"), new.public_key().to_sec1());
        // ...but its own, and the department can replace its clerk's.
        let r = one(&mut c, "tax/clerk", rotation("tax", "clerk", &new, &new));
        ok(&r);
        assert_eq!(registered(&c, "tax/clerk"), new.public_key().to_sec1());
        let newer = PrivateKey::generate();
        let r = one(&mut c, "tax", rotation("tax", "clerk", &newer, &newer));
        ok(&r);
        assert_eq!(history(&c.store, "tax", "clerk").unwrap().len(), 2);
        let r = one(&mut c, "validator:node1", rotation("tax", "", &new, &new));
        assert_eq!(code(&r), ErrorCode::Unauthorized);
        // A clerk cannot revoke itself; its department can, and its key is refused then.
        let revoke = || {
            pb::payload::Kind::RotateKey(pb::RotateKey {
                operator: "clerk".into(),
                ..Default::default()
            })
        };
        c.set_key("tax/clerk", newer);
        let r = one(&mut c, "tax/clerk", revoke());
        assert_eq!(code(&r), ErrorCode::MissingField);
        ok(&one(&mut c, "tax", revoke()));
        let r = one(&mut c, "tax/clerk", anchor("z"));
        assert_eq!(code(&r), ErrorCode::UnknownOperator);
        assert_eq!(
            history(&c.store, "tax", "clerk").unwrap()[2].reason,
            "revoked"
        );
    }

    /// Governance replaces a department's key it lost, and revokes an operator.
    #[test]
    fn governance_replaces_a_lost_key_and_revokes_an_operator() {
        let mut c = chain();
        let new = PrivateKey::generate();
        let propose = |r: pb::KeyReplacement| {
            pb::payload::Kind::Propose(pb::Proposal {
                action: Some(pb::proposal::Action::ReplaceKey(r)),
                description: String::new(),
                voting_period: 0,
            })
        };
        let public_key = new.public_key().to_sec1();
        let m = key_rotation_message(CHAIN, "bank", "", &public_key);
        let replace = propose(pb::KeyReplacement {
            department: "bank".into(),
            operator: String::new(),
            public_key,
            proof: new.sign(&m).to_bytes().to_vec(),
        });
        let revoke = propose(pb::KeyReplacement {
            department: "bank".into(),
            operator: "clerk".into(),
            public_key: vec![],
            proof: vec![],
        });
        // A department cannot be left without a key.
        let keyless = propose(pb::KeyReplacement {
            department: "bank".into(),
            ..Default::default()
        });
        let r = one(&mut c, "tax", keyless);
        assert_eq!(code(&r), ErrorCode::InvalidArgument, "{}", r.error_message);
        for (id, p) in [(1, replace), (2, revoke)] {
            let r = one(&mut c, "tax", p);
            ok(&r);
            let vote = pb::payload::Kind::Vote(pb::Vote {
                proposal_id: id,
                approve: true,
            });
            let r = one(&mut c, "housing", vote);
            ok(&r);
            assert!(r.events.iter().any(|e| e.kind == "key_rotated"), "{r:?}");
        }
        assert_eq!(registered(&c, "bank"), new.public_key().to_sec1());
        let r = one(&mut c, "bank", anchor("x"));
        assert_eq!(code(&r), ErrorCode::KeyMismatch);
        let r = one(&mut c, "bank/clerk", anchor("y"));
        assert_eq!(code(&r), ErrorCode::UnknownOperator);
        let h = history(&c.store, "bank", "clerk").unwrap();
        assert_eq!(h[0].reason, "revoked by proposal 2");
    }
}
