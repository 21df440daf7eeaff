//! Log entries and log ids in their protobuf form: on the wire and in the Raft log.

use openraft::{CommittedLeaderId, EntryPayload, LogId};

use super::{BlockProposal, Entry, GovRaft, pb};

pub(crate) fn log_id_to_pb(l: &LogId<u64>) -> pb::LogId {
    pb::LogId {
        term: l.leader_id.term,
        leader: l.leader_id.node_id,
        index: l.index,
    }
}

pub(crate) fn log_id_from_pb(l: &pb::LogId) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(l.term, l.leader), l.index)
}

pub(crate) fn entry_to_pb(e: &Entry) -> pb::Entry {
    use pb::entry::Payload;
    pb::Entry {
        log_id: Some(log_id_to_pb(&e.log_id)),
        payload: Some(match &e.payload {
            EntryPayload::Blank => Payload::Blank(true),
            EntryPayload::Normal(b) => Payload::Block(b.0.clone()),
            EntryPayload::Membership(m) => {
                Payload::MembershipJson(serde_json::to_string(m).expect("membership serialises"))
            }
        }),
    }
}

pub(crate) fn entry_from_pb(e: pb::Entry) -> Result<Entry, String> {
    use pb::entry::Payload;
    let log_id = e.log_id.as_ref().ok_or("entry without log id")?;
    let payload = match e.payload.ok_or("entry without payload")? {
        Payload::Blank(_) => EntryPayload::Blank,
        Payload::Block(b) => EntryPayload::Normal(BlockProposal(b)),
        Payload::MembershipJson(j) => EntryPayload::Membership(
            serde_json::from_str(&j).map_err(|e| format!("membership: {e}"))?,
        ),
    };
    Ok(openraft::Entry::<GovRaft> {
        log_id: log_id_from_pb(log_id),
        payload,
    })
}

pub(crate) fn encode_entry(e: &Entry) -> Vec<u8> {
    prost::Message::encode_to_vec(&entry_to_pb(e))
}

pub(crate) fn decode_entry(raw: &[u8]) -> Result<Entry, String> {
    let e: pb::Entry = prost::Message::decode(raw).map_err(|e| e.to_string())?;
    entry_from_pb(e)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::Membership;

    use super::*;
    use crate::raft::RaftNode;

    #[test]
    fn entries_round_trip() {
        let id = LogId::new(CommittedLeaderId::new(3, 2), 17);
        let nodes: BTreeMap<u64, RaftNode> = [(
            1,
            RaftNode {
                validator_id: "node1".into(),
                raft_addr: "127.0.0.1:1".into(),
            },
        )]
        .into();
        let members = Membership::new(vec![BTreeSet::from([1])], nodes);
        for payload in [
            EntryPayload::Blank,
            EntryPayload::Normal(BlockProposal(vec![1, 2, 3])),
            EntryPayload::Membership(members),
        ] {
            let e = openraft::Entry::<GovRaft> {
                log_id: id,
                payload,
            };
            let back = decode_entry(&encode_entry(&e)).unwrap();
            assert_eq!(format!("{e:?}"), format!("{back:?}"));
        }
        assert!(decode_entry(&[0xff, 0xff]).is_err());
    }
}
