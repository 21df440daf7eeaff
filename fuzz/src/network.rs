//! Every protobuf message a node decodes from a client or a peer, and the check each
//! gets in `decode_network`.
//!
//! Bytes that decode as a message must re-encode to bytes of the length prost announces,
//! which decode to an equal message and re-encode to the same bytes (the encoding is
//! canonical: transaction bodies and block headers are hashed and signed as encoded).
//! The encoded messages a message carries get the same check, because the node decodes
//! them too: a transaction's body, a block's header and transactions, the block of a
//! proposal and those of a catch-up answer, the transactions a peer passes on, the
//! headers and records of an audit export.

use std::fmt::Debug;

use govchain_types::pb;
use prost::Message;

use crate::consensus;

/// A message a node accepts, and the check of an input as that message.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The protobuf message name.
    pub name: &'static str,
    /// Decodes an input as this message and checks it; panics on a broken invariant.
    pub check: fn(&[u8]),
}

/// The messages, in selector order: an input's first byte (modulo the length) picks one.
/// Append new messages at the end, so that saved corpora keep their meaning.
pub const KINDS: &[Kind] = &[
    // Transactions and blocks, wherever they arrive.
    Kind {
        name: "SignedTx",
        check: |b| {
            if let Some(tx) = round_trip::<pb::SignedTx>(b) {
                signed_tx(&tx);
            }
        },
    },
    Kind {
        name: "TxBody",
        check: plain::<pb::TxBody>,
    },
    Kind {
        name: "Block",
        check: |b| {
            if let Some(block) = round_trip::<pb::Block>(b) {
                self::block(&block);
            }
        },
    },
    Kind {
        name: "BlockHeader",
        check: plain::<pb::BlockHeader>,
    },
    // Chain service (client requests).
    Kind {
        name: "SubmitTxRequest",
        check: |b| {
            if let Some(tx) = round_trip::<pb::SubmitTxRequest>(b).and_then(|r| r.tx) {
                signed_tx(&tx);
            }
        },
    },
    Kind {
        name: "SubmitTxsRequest",
        check: |b| {
            for tx in round_trip::<pb::SubmitTxsRequest>(b).map_or_else(Vec::new, |r| r.txs) {
                signed_tx(&tx);
            }
        },
    },
    Kind {
        name: "GetTxRequest",
        check: plain::<pb::GetTxRequest>,
    },
    Kind {
        name: "GetBlockRequest",
        check: plain::<pb::GetBlockRequest>,
    },
    Kind {
        name: "GetStatusRequest",
        check: plain::<pb::GetStatusRequest>,
    },
    Kind {
        name: "GetNonceRequest",
        check: plain::<pb::GetNonceRequest>,
    },
    Kind {
        name: "StreamBlocksRequest",
        check: plain::<pb::StreamBlocksRequest>,
    },
    // Contracts and Governance services.
    Kind {
        name: "ListContractsRequest",
        check: plain::<pb::ListContractsRequest>,
    },
    Kind {
        name: "GetContractRequest",
        check: plain::<pb::GetContractRequest>,
    },
    Kind {
        name: "QueryRequest",
        check: plain::<pb::QueryRequest>,
    },
    Kind {
        name: "ListProposalsRequest",
        check: plain::<pb::ListProposalsRequest>,
    },
    Kind {
        name: "GetProposalRequest",
        check: plain::<pb::GetProposalRequest>,
    },
    // Certificates, Points and Audit services.
    Kind {
        name: "GetReleasesRequest",
        check: plain::<pb::GetReleasesRequest>,
    },
    Kind {
        name: "GetCertificateRequest",
        check: plain::<pb::GetCertificateRequest>,
    },
    Kind {
        name: "ListCertificatesRequest",
        check: plain::<pb::ListCertificatesRequest>,
    },
    Kind {
        name: "ListGrantsRequest",
        check: plain::<pb::ListGrantsRequest>,
    },
    Kind {
        name: "ListCertTypesRequest",
        check: plain::<pb::ListCertTypesRequest>,
    },
    Kind {
        name: "ListPurposesRequest",
        check: plain::<pb::ListPurposesRequest>,
    },
    Kind {
        name: "GetPolicyRequest",
        check: plain::<pb::GetPolicyRequest>,
    },
    Kind {
        name: "GetBalancesRequest",
        check: plain::<pb::GetBalancesRequest>,
    },
    Kind {
        name: "GetHistoryRequest",
        check: plain::<pb::GetHistoryRequest>,
    },
    Kind {
        name: "AuditQuery",
        check: plain::<pb::AuditQuery>,
    },
    // Consensus service (peers). These seven selectors were the removed raft
    // service's: saved corpora of those inputs now reach these messages.
    Kind {
        name: "consensus.Batch",
        check: |b| {
            let messages = round_trip::<consensus::Batch>(b).map_or_else(Vec::new, |r| r.messages);
            for m in messages {
                if let Some(consensus::message::Kind::Block(p)) = m.kind
                    && let Some(b) = round_trip::<pb::Block>(&p.block)
                {
                    block(&b);
                }
            }
        },
    },
    Kind {
        name: "consensus.ForwardRequest",
        check: |b| {
            for raw in round_trip::<consensus::ForwardRequest>(b).map_or_else(Vec::new, |r| r.txs) {
                if let Some(tx) = round_trip::<pb::SignedTx>(&raw) {
                    signed_tx(&tx);
                }
            }
        },
    },
    Kind {
        name: "consensus.ForwardResponse",
        check: plain::<consensus::ForwardResponse>,
    },
    Kind {
        name: "consensus.GetBlocksRequest",
        check: plain::<consensus::GetBlocksRequest>,
    },
    Kind {
        name: "consensus.GetBlocksResponse",
        check: |b| {
            for raw in
                round_trip::<consensus::GetBlocksResponse>(b).map_or_else(Vec::new, |r| r.blocks)
            {
                if let Some(b) = round_trip::<pb::Block>(&raw) {
                    block(&b);
                }
            }
        },
    },
    Kind {
        name: "consensus.PolkaCertificate",
        check: plain::<consensus::PolkaCertificate>,
    },
    Kind {
        name: "consensus.RoundCertificate",
        check: plain::<consensus::RoundCertificate>,
    },
    // What a client decodes from a node: error details and audit exports, which it
    // verifies on its own.
    Kind {
        name: "ErrorDetail",
        check: plain::<pb::ErrorDetail>,
    },
    Kind {
        name: "AuditExport",
        check: |b| {
            let Some(export) = round_trip::<pb::AuditExport>(b) else {
                return;
            };
            for h in &export.headers {
                round_trip::<pb::BlockHeader>(&h.header);
            }
            for p in &export.proofs {
                round_trip::<pb::AuditRecord>(&p.record);
            }
        },
    },
];

/// The kind an input's first byte selects.
pub fn kind(selector: u8) -> &'static Kind {
    &KINDS[usize::from(selector) % KINDS.len()]
}

/// The first byte that selects the message `name`, if it is in [`KINDS`].
pub fn selector(name: &str) -> Option<u8> {
    KINDS
        .iter()
        .position(|k| k.name == name)
        .and_then(|i| u8::try_from(i).ok())
}

/// Decodes `bytes` as `M`; when they decode, checks that the message's encoding has the
/// announced length, decodes to an equal message and is canonical. Returns the message.
pub fn round_trip<M: Message + Default + PartialEq + Debug>(bytes: &[u8]) -> Option<M> {
    let m = M::decode(bytes).ok()?;
    let name = std::any::type_name::<M>();
    let encoded = m.encode_to_vec();
    assert_eq!(
        encoded.len(),
        m.encoded_len(),
        "{name}: encoded_len is not the length"
    );
    let again = M::decode(encoded.as_slice())
        .unwrap_or_else(|e| panic!("{name} does not decode its own encoding: {e}"));
    assert_eq!(again, m, "{name}: re-encoding changed the message");
    assert_eq!(
        again.encode_to_vec(),
        encoded,
        "{name}: encoding is not canonical"
    );
    Some(m)
}

/// [`round_trip`] of a message that carries no encoded message.
fn plain<M: Message + Default + PartialEq + Debug>(bytes: &[u8]) {
    round_trip::<M>(bytes);
}

/// The body a transaction carries (admission decodes it).
fn signed_tx(tx: &pb::SignedTx) {
    round_trip::<pb::TxBody>(&tx.body);
}

/// The header and transactions a block carries (import decodes them).
fn block(b: &pb::Block) {
    round_trip::<pb::BlockHeader>(&b.header);
    for tx in &b.txs {
        signed_tx(tx);
    }
}
