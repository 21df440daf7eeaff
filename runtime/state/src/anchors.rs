//! Anchors: a department records the SM3 digest of a document under a key of its own.

use govchain_store::Records;
use govchain_types::event::{Anchor, Event};
use govchain_types::{ExecError, TxError, pb};

use crate::{BlockContext, Overlay, VerifiedTx, internal, tables};

/// Anchors a document digest under the sender's key: a record that a department held
/// exactly these bytes at this height, without the bytes.
pub(crate) fn anchor(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    a: &pb::Anchor,
    events: &mut Vec<pb::Event>,
) -> std::result::Result<(), ExecError> {
    if a.key.is_empty() || a.key.len() > 128 || !a.key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TxError::InvalidArgument {
            field: "anchor.key",
            reason: "must be 1 to 128 printable ASCII characters without spaces".into(),
        }
        .into());
    }
    if a.digest.len() != 32 {
        return Err(TxError::InvalidArgument {
            field: "anchor.digest",
            reason: format!("must be a 32-byte SM3 digest, got {} bytes", a.digest.len()),
        }
        .into());
    }
    if a.note.len() > 256 {
        return Err(TxError::InvalidArgument {
            field: "anchor.note",
            reason: format!("at most 256 bytes, got {}", a.note.len()),
        }
        .into());
    }
    let key = (tx.body.sender.as_str(), a.key.as_str());
    if o.contains(&tables::ANCHOR, key).map_err(internal)? {
        return Err(TxError::AlreadyExists {
            what: format!("anchor '{}' of '{}'", a.key, tx.body.sender),
        }
        .into());
    }
    let rec = pb::AnchorRecord {
        department: tx.body.sender.clone(),
        key: a.key.clone(),
        digest: a.digest.clone(),
        note: a.note.clone(),
        height: ctx.height,
        tx_hash: tx.hash.to_vec(),
    };
    o.write(&tables::ANCHOR, key, &rec);
    events.push(
        Event::from(Anchor {
            department: tx.body.sender.clone(),
            key: a.key.clone(),
            digest: hex::encode(&a.digest),
        })
        .to_pb(),
    );
    Ok(())
}
