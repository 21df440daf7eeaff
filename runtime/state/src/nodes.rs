//! The validator and observer set, changed by governance (`NodeChange`). A change to
//! the voting set takes effect at the next height: the block that commits it names the
//! new set in `next_validators_hash`, and the BFT engine decides the next block with it
//! (`docs/design/bft.md`, "Validator set changes").

use govchain_crypto::PublicKey;
use govchain_proof::commit::ValidatorSet;
use govchain_store::Records;
use govchain_types::event::{Event, KeyRotated, NodeAdded, NodeRemoved};
use govchain_types::{ExecError, TxError, pb, validate_dept_id};

use crate::overlay::Overlay;
use crate::{internal, tables};

fn invalid(field: &'static str, reason: impl Into<String>) -> TxError {
    TxError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

use crate::compute::validator as load;

/// Checks a node change against the committed set; returns its one-line summary.
pub(crate) fn validate(o: &Overlay, change: &pb::NodeChange) -> Result<String, ExecError> {
    let node = change.node.as_ref().ok_or_else(|| TxError::MissingField {
        field: "node.node".into(),
    })?;
    if change.rotate_custody_key {
        return validate_rotation(o, node);
    }
    if change.remove {
        let Some(existing) = load(o, &node.id)? else {
            return Err(TxError::NotFound {
                what: format!("validator '{}'", node.id),
            }
            .into());
        };
        if !existing.observer && voting_set(o)?.len() == 1 {
            return Err(invalid(
                "node.id",
                format!(
                    "'{}' is the last voting validator: the chain would stop",
                    node.id
                ),
            )
            .into());
        }
        if existing.custody_share != 0 {
            keeps_custody(o, &node.id)?;
            return Ok(format!(
                "remove {} '{}', custody holder {}: the other holders reshare the custody key among themselves",
                kind(&existing),
                node.id,
                existing.custody_share
            ));
        }
        return Ok(format!("remove {} '{}'", kind(&existing), node.id));
    }
    validate_dept_id(&node.id).map_err(|why| invalid("node.id", why))?;
    if load(o, &node.id)?.is_some() {
        return Err(TxError::AlreadyExists {
            what: format!("validator '{}'", node.id),
        }
        .into());
    }
    if !o
        .contains(&tables::DEPARTMENT, &node.department)
        .map_err(internal)?
    {
        return Err(TxError::UnknownDepartment {
            department: node.department.clone(),
        }
        .into());
    }
    PublicKey::from_sec1(&node.public_key)
        .map_err(|e| invalid("node.public_key", format!("not an SM2 public key: {e}")))?;
    let nodes: Vec<pb::Validator> = crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?;
    if let Some(holder) = nodes.iter().find(|v| v.public_key == node.public_key) {
        // One key, two ids: its holder would cast two votes.
        return Err(invalid(
            "node.public_key",
            format!("it is the key of node '{}' already", holder.id),
        )
        .into());
    }
    if node.custody_share != 0 {
        return Err(invalid(
            "node.custody_share",
            "the chain numbers a new custody holder; leave it 0 and give its custody key",
        )
        .into());
    }
    if node.addr.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid("node.addr", format!("'{}' is not ip:port", node.addr)).into());
    }
    let summary = format!(
        "add {} '{}' of '{}' ({})",
        kind(node),
        node.id,
        node.department,
        node.addr
    );
    if node.custody_key.is_empty() {
        return Ok(summary);
    }
    let number = new_holder(o, node, &nodes)?;
    Ok(format!(
        "{summary} as custody holder {number}: the current holders reshare the custody key to it"
    ))
}

/// Checks the rotation of custody holder `node.id`'s custody key to `node.custody_key`.
fn validate_rotation(o: &Overlay, node: &pb::Validator) -> Result<String, ExecError> {
    let existing = load(o, &node.id)?.ok_or_else(|| TxError::NotFound {
        what: format!("validator '{}'", node.id),
    })?;
    if existing.custody_share == 0 {
        return Err(invalid("node.id", format!("'{}' holds no custody share", node.id)).into());
    }
    let nodes: Vec<pb::Validator> = crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?;
    let mut rotated = existing.clone();
    rotated.custody_key = node.custody_key.clone();
    check_custody_key(&rotated, &nodes)?;
    settled_key_set(o)?;
    Ok(format!(
        "rotate the custody key of '{}', custody holder {}: the holders reshare, its new share under the new key",
        node.id, existing.custody_share
    ))
}

/// Checks a holder's custody key: an SM2 point, not its signing key, no validator's
/// custody key (its own current one included).
fn check_custody_key(node: &pb::Validator, nodes: &[pb::Validator]) -> Result<(), ExecError> {
    let field = "node.custody_key";
    PublicKey::from_sec1(&node.custody_key)
        .map_err(|e| invalid(field, format!("not an SM2 public key: {e}")))?;
    if node.custody_key == node.public_key {
        return Err(invalid(field, "it is the node's signing key: use a key of its own").into());
    }
    if let Some(v) = nodes.iter().find(|v| v.custody_key == node.custody_key) {
        return Err(invalid(
            field,
            format!("it is the custody key of node '{}' already", v.id),
        )
        .into());
    }
    Ok(())
}

/// Checks node `node`'s custody key and returns the share number it would hold: the
/// next never used.
fn new_holder(
    o: &Overlay,
    node: &pb::Validator,
    nodes: &[pb::Validator],
) -> Result<u32, ExecError> {
    let field = "node.custody_key";
    if node.observer {
        return Err(invalid(field, "an observer holds no custody share").into());
    }
    check_custody_key(node, nodes)?;
    let set = settled_key_set(o)?;
    let used = crate::keygen::set_holders(&set)
        .into_iter()
        .chain(nodes.iter().map(|v| v.custody_share))
        .max()
        .unwrap_or(0);
    Ok((set.public_shares.len() as u32).max(used) + 1)
}

/// The key set in force when no key generation or resharing round runs: custody
/// holders change only then.
fn settled_key_set(o: &Overlay) -> Result<pb::CustodyKeySet, ExecError> {
    let field = "node.custody_key";
    let Some(st) = crate::keygen::state(o)? else {
        return Err(invalid(field, "this chain has no custody (genesis `custody`)").into());
    };
    let set = crate::custody::key_set(o)?;
    match set {
        Some(set) if st.phase() == pb::KeygenPhase::KeygenDone => Ok(set),
        _ => Err(invalid(
            field,
            format!(
                "custody holders change only between rounds: round {} of {} is in its {} phase; propose again when `govchain custody status` shows it done",
                st.round,
                if st.dealers.is_empty() { "key generation" } else { "resharing" },
                crate::keygen::phase_name(st.phase())
            ),
        )
        .into()),
    }
}

/// Refuses to remove custody holder `id` if fewer holders than the threshold would be
/// left: no one could ever open a stored certificate again.
fn keeps_custody(o: &Overlay, id: &str) -> Result<(), ExecError> {
    let set = settled_key_set(o).map_err(|e| match e {
        ExecError::Tx(TxError::InvalidArgument { reason, .. }) => invalid("node.id", reason).into(),
        e => e,
    })?;
    let holders = crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?
        .into_iter()
        .filter(|v: &pb::Validator| v.custody_share != 0 && v.id != id)
        .count();
    if holders < set.threshold as usize {
        return Err(invalid(
            "node.id",
            format!(
                "'{id}' holds a custody share: without it {holders} holders would be left, fewer than the {} that open a data key, and no stored certificate could be read again",
                set.threshold
            ),
        )
        .into());
    }
    Ok(())
}

fn kind(v: &pb::Validator) -> &'static str {
    if v.observer { "observer" } else { "validator" }
}

/// Applies an approved node change.
pub(crate) fn apply(
    o: &mut Overlay,
    proposal: u64,
    change: &pb::NodeChange,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    validate(o, change)?;
    let node = change.node.as_ref().expect("validated");
    if change.rotate_custody_key {
        let mut v = load(o, &node.id)?.ok_or_else(|| internal("validated validator missing"))?;
        v.custody_key = node.custody_key.clone();
        o.write(&tables::VALIDATOR, &node.id, &v);
        let holders = crate::keygen::set_holders(&settled_key_set(o)?);
        crate::keygen::reshare(o, holders.clone(), holders)?;
        events.push(
            Event::from(KeyRotated {
                department: crate::access::accounts::validator_account(&node.id),
                operator: "custody".into(),
                proposal,
                change: "replaced".into(),
            })
            .to_pb(),
        );
        return Ok(());
    }
    if change.remove {
        if let Some(leaver) = load(o, &node.id)?.filter(|v| v.custody_share != 0) {
            let set = settled_key_set(o)?;
            let holders: Vec<u32> = crate::keygen::set_holders(&set)
                .into_iter()
                .filter(|&n| n != leaver.custody_share)
                .collect();
            crate::keygen::reshare(o, holders.clone(), holders)?;
        }
        o.remove(&tables::VALIDATOR, &node.id);
        events.push(
            Event::from(NodeRemoved {
                proposal,
                node: node.id.clone(),
            })
            .to_pb(),
        );
    } else {
        let mut node = node.clone();
        if !node.custody_key.is_empty() {
            let nodes: Vec<pb::Validator> =
                crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?;
            node.custody_share = new_holder(o, &node, &nodes)?;
            let dealers = crate::keygen::set_holders(&settled_key_set(o)?);
            let mut holders = dealers.clone();
            holders.push(node.custody_share);
            crate::keygen::reshare(o, dealers, holders)?;
        }
        o.write(&tables::VALIDATOR, &node.id, &node);
        events.push(
            Event::from(NodeAdded {
                proposal,
                node: node.id.clone(),
                node_kind: kind(&node).to_string(),
                addr: node.addr.clone(),
            })
            .to_pb(),
        );
    }
    Ok(())
}

/// The voting validators (observers left out) in `o`: the set whose commit certificate
/// decides a block executed on this state.
pub fn voting_set(o: &Overlay) -> Result<ValidatorSet, ExecError> {
    let voting = crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?
        .into_iter()
        .filter(|v: &pb::Validator| !v.observer)
        .map(|v| {
            PublicKey::from_sec1(&v.public_key)
                .map(|key| (v.id.clone(), key))
                .map_err(|e| internal(format!("the key of validator '{}': {e}", v.id)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ValidatorSet::new(voting).map_err(internal)
}
