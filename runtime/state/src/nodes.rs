//! The validator and observer set, changed by governance (`NodeChange`). A change to
//! the voting set takes effect at the next height: the block that commits it names the
//! new set in `next_validators_hash`, and the BFT engine decides the next block with it
//! (`docs/design/bft.md`, "Validator set changes").

use govchain_crypto::PublicKey;
use govchain_proof::commit::ValidatorSet;
use govchain_store::Records;
use govchain_types::event::{Event, NodeAdded, NodeRemoved};
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
    if node.custody_share != 0 || !node.custody_key.is_empty() {
        return Err(invalid(
            "node.custody_share",
            "custody shares come from the key generation of the genesis holders; a node added later holds none (resharing to new holders is not built yet)",
        )
        .into());
    }
    if node.addr.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid("node.addr", format!("'{}' is not ip:port", node.addr)).into());
    }
    Ok(format!(
        "add {} '{}' of '{}' ({})",
        kind(node),
        node.id,
        node.department,
        node.addr
    ))
}

/// Refuses to remove custody holder `id` if fewer holders than the threshold would be
/// left: no one could ever open a stored certificate again.
fn keeps_custody(o: &Overlay, id: &str) -> Result<(), ExecError> {
    let Some(keygen) = crate::keygen::state(o)? else {
        return Ok(());
    };
    let holders = crate::values(o, &tables::VALIDATOR, tables::VALIDATOR.all())?
        .into_iter()
        .filter(|v: &pb::Validator| v.custody_share != 0 && v.id != id)
        .count();
    if holders < keygen.threshold as usize {
        return Err(invalid(
            "node.id",
            format!(
                "'{id}' holds a custody share: without it {holders} holders would be left, fewer than the {} that open a data key, and no stored certificate could be read again",
                keygen.threshold
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
    if change.remove {
        o.remove(&tables::VALIDATOR, &node.id);
        events.push(
            Event::from(NodeRemoved {
                proposal,
                node: node.id.clone(),
            })
            .to_pb(),
        );
    } else {
        o.write(&tables::VALIDATOR, &node.id, node);
        events.push(
            Event::from(NodeAdded {
                proposal,
                node: node.id.clone(),
                node_kind: kind(node).to_string(),
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
