//! Writes the seed corpora of the fuzz targets to `fuzz/seeds/<target>/`: small valid
//! inputs, so that each fuzzer starts from messages, transactions, contracts and
//! sequences that get past the first checks.
//!
//! `cargo +nightly run --example seeds` in `fuzz/` (after a change to the protos, the
//! contract interface or the operation encoding); the files are committed.

use std::path::Path;

use govchain_fuzz::gate::{Op, Step};
use govchain_fuzz::{consensus, network, wasm};
use govchain_types::pb;
use prost::Message;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for (target, seeds) in [
        ("decode_network", decode_network()),
        ("admission", admission()),
        ("wasm_prepare", wasm_prepare()),
        ("gate_sequence", gate_sequence()),
    ] {
        let dir = root.join(target);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes)?;
        }
        println!("{}: {} seeds", dir.display(), seeds.len());
    }
    Ok(())
}

/// A named seed file.
type Seed = (String, Vec<u8>);

/// A body of chain `local` (the fuzz targets' `LocalChain`) from `sender`.
fn body(sender: &str, nonce: u64, kind: pb::payload::Kind) -> pb::TxBody {
    pb::TxBody {
        chain_id: "local".into(),
        sender: sender.into(),
        operator: String::new(),
        nonce,
        expiry_height: 0,
        payload: Some(pb::Payload { kind: Some(kind) }),
    }
}

fn request(cert_id: &str, purpose: &str) -> pb::payload::Kind {
    pb::payload::Kind::Request(pb::RequestAccess {
        cert_id: cert_id.into(),
        purpose: purpose.into(),
    })
}

fn publish() -> pb::payload::Kind {
    pb::payload::Kind::Publish(pb::PublishCertificate {
        cert_type: "property".into(),
        number: "N-1".into(),
        subject_id: vec![1; 32],
        issued_on: "2024-05-01".into(),
        expires_on: String::new(),
        metadata: vec![pb::Attribute {
            key: "district".into(),
            value: "v".into(),
        }],
        content_hash: vec![2; 32],
        issuer_signature: vec![3; 64],
        ciphertext: vec![4; 64],
        key_envelope: vec![5; 108],
        key_envelope_proof: vec![6; 64],
    })
}

/// A transaction with a placeholder key and signature (the fuzzers re-sign bodies).
fn signed(body: &pb::TxBody) -> pb::SignedTx {
    let mut signer_pubkey = vec![4];
    signer_pubkey.extend_from_slice(&[7; 64]);
    pb::SignedTx {
        body: body.encode_to_vec(),
        signer_pubkey,
        signature: vec![9; 64],
    }
}

fn header(height: u64) -> pb::BlockHeader {
    pb::BlockHeader {
        chain_id: "local".into(),
        height,
        prev_hash: vec![1; 32],
        time_ms: 1_795_392_000_000,
        proposer: "node1".into(),
        tx_root: vec![2; 32],
        state_root: vec![3; 32],
        receipts_root: vec![4; 32],
        audit_root: vec![5; 32],
        tx_count: 1,
        audit_count: 1,
        validators_hash: vec![8; 32],
        next_validators_hash: vec![8; 32],
    }
}

/// A commit certificate of one precommit for the block `height`.
fn commit(height: u64) -> pb::CommitCertificate {
    pb::CommitCertificate {
        height,
        round: 0,
        block_hash: vec![9; 32],
        signatures: vec![pb::CommitSignature {
            validator: "node1".into(),
            signature: vec![6; 64],
        }],
    }
}

fn block() -> pb::Block {
    pb::Block {
        header: header(7).encode_to_vec(),
        signature: vec![6; 64],
        txs: vec![signed(&body("tax", 2, request("c1", "tax_assessment")))],
        commit: Some(commit(7)),
    }
}

fn decode_network() -> Vec<Seed> {
    let tx = signed(&body("housing", 2, request("c1", "housing_eligibility")));
    let mut messages: Vec<(&str, Vec<u8>)> = vec![
        ("SignedTx", tx.encode_to_vec()),
        ("TxBody", body("real-estate", 0, publish()).encode_to_vec()),
        ("Block", block().encode_to_vec()),
        ("BlockHeader", header(1).encode_to_vec()),
        (
            "SubmitTxRequest",
            pb::SubmitTxRequest {
                tx: Some(tx.clone()),
                wait: true,
            }
            .encode_to_vec(),
        ),
        (
            "SubmitTxsRequest",
            pb::SubmitTxsRequest {
                txs: vec![tx.clone(), tx.clone()],
            }
            .encode_to_vec(),
        ),
        (
            "GetBlockRequest",
            pb::GetBlockRequest {
                at: Some(pb::get_block_request::At::Height(3)),
            }
            .encode_to_vec(),
        ),
        (
            "GetNonceRequest",
            pb::GetNonceRequest {
                department: "tax".into(),
                operator: "clerk".into(),
            }
            .encode_to_vec(),
        ),
        (
            "QueryRequest",
            pb::QueryRequest {
                contract: "counter".into(),
                method: "get".into(),
                args: b"{}".to_vec(),
                gas_limit: 1_000_000,
            }
            .encode_to_vec(),
        ),
        (
            "ListCertificatesRequest",
            pb::ListCertificatesRequest {
                subject_id: vec![1; 32],
                issuer: "real-estate".into(),
                cert_type: "property".into(),
                after: "c0".into(),
                limit: 10,
            }
            .encode_to_vec(),
        ),
        (
            "AuditQuery",
            pb::AuditQuery {
                requester: "housing".into(),
                decision: pb::Decision::Allow as i32,
                from_ms: 1,
                to_ms: 2,
                limit: 5,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "ErrorDetail",
            pb::ErrorDetail {
                code: pb::ErrorCode::BadSignature as i32,
                message: "bad signature".into(),
            }
            .encode_to_vec(),
        ),
        (
            "AuditExport",
            pb::AuditExport {
                chain_id: "local".into(),
                proofs: vec![pb::AuditProof {
                    record: pb::AuditRecord {
                        seq: 1,
                        requester: "housing".into(),
                        cert_id: "c1".into(),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                    height: 1,
                    leaf_index: 0,
                    path: vec![vec![1; 32]],
                }],
                headers: vec![pb::SignedHeader {
                    header: header(1).encode_to_vec(),
                    signature: vec![6; 64],
                    commit: Some(commit(1)),
                }],
                next: 0,
                set_changes: vec![],
            }
            .encode_to_vec(),
        ),
    ];
    messages.extend(consensus_messages(&tx));
    messages
        .into_iter()
        .map(|(name, bytes)| {
            let selector = network::selector(name).expect("a message of the table");
            let mut input = vec![selector];
            input.extend(bytes);
            (name.replace('.', "-"), input)
        })
        .collect()
}

/// The consensus peer messages of the seeds, by name.
fn consensus_messages(tx: &pb::SignedTx) -> Vec<(&'static str, Vec<u8>)> {
    use consensus::message::Kind;
    let vote = pb::SignedVote {
        vote: Some(pb::ConsensusVote {
            chain_id: "govchain-nanjing".into(),
            height: 1,
            round: 0,
            kind: pb::VoteKind::Prevote as i32,
            block_hash: vec![4; 32],
            validator: "node1".into(),
        }),
        signature: vec![5; 64],
    };
    let proposal = pb::SignedBlockProposal {
        proposal: Some(pb::BlockProposal {
            height: 1,
            round: 0,
            block_hash: vec![4; 32],
            valid_round: None,
            proposer: "node2".into(),
        }),
        signature: vec![5; 64],
    };
    let batch = consensus::Batch {
        messages: [
            Kind::Vote(vote),
            Kind::Proposal(proposal),
            Kind::Block(consensus::ProposedBlock {
                height: 1,
                round: 0,
                block: block().encode_to_vec(),
            }),
            Kind::Tip(consensus::Tip { height: 2 }),
        ]
        .into_iter()
        .map(|k| consensus::Message { kind: Some(k) })
        .collect(),
    };
    vec![
        ("consensus.Batch", batch.encode_to_vec()),
        (
            "consensus.ForwardRequest",
            consensus::ForwardRequest {
                txs: vec![tx.encode_to_vec()],
            }
            .encode_to_vec(),
        ),
        (
            "consensus.GetBlocksResponse",
            consensus::GetBlocksResponse {
                blocks: vec![block().encode_to_vec()],
            }
            .encode_to_vec(),
        ),
        (
            "consensus.RoundCertificate",
            consensus::RoundCertificate {
                height: 1,
                round: 2,
                kind: consensus::RoundCertificateKind::Skip as i32,
                signatures: vec![consensus::RoundSignature {
                    validator: "node3".into(),
                    kind: pb::VoteKind::Precommit as i32,
                    block_hash: vec![],
                    signature: vec![5; 64],
                }],
            }
            .encode_to_vec(),
        ),
    ]
}

fn admission() -> Vec<Seed> {
    let mut expired = body("tax", 2, request("c1", "tax_assessment"));
    expired.expiry_height = 1;
    let mut operator = body("housing", 2, request("c1", "housing_eligibility"));
    operator.operator = "clerk".into();
    let mut wrong_chain = body("bank", 3, request("c1", "mortgage_review"));
    wrong_chain.chain_id = "other".into();
    let raw = [
        (
            "request",
            body("housing", 2, request("c1", "housing_eligibility")),
        ),
        ("publish", body("real-estate", 2, publish())),
        (
            "anchor",
            body(
                "validator:node1",
                5,
                pb::payload::Kind::Anchor(pb::Anchor {
                    key: "doc-1".into(),
                    digest: vec![1; 32],
                    note: "note".into(),
                }),
            ),
        ),
        ("replayed", body("civil-affairs", 0, request("c1", "p"))),
        ("expired", expired),
        ("operator", operator),
        ("wrong-chain", wrong_chain),
    ];
    let mut seeds: Vec<Seed> = raw
        .into_iter()
        .map(|(name, b)| {
            let mut input = vec![0];
            input.extend(signed(&b).encode_to_vec());
            (format!("raw-{name}"), input)
        })
        .collect();
    // Structured cases: the bytes `arbitrary` builds a transaction and a change from.
    for (i, fill) in [0u8, 1, 2, 3, 5, 8, 13, 21, 34, 55].into_iter().enumerate() {
        let mut input = vec![1];
        input.extend((0..96u8).map(|j| fill.wrapping_mul(j).wrapping_add(fill)));
        seeds.push((format!("case-{i}"), input));
    }
    seeds
}

fn wasm_prepare() -> Vec<Seed> {
    let raw = |code: Vec<u8>| [vec![0], code].concat();
    let smith = |mode: u8, seed: u8| {
        let mut input = vec![mode];
        input.extend((0..512u32).map(|j| (j as u8).wrapping_mul(seed).rotate_left(3) ^ seed));
        input
    };
    vec![
        ("contract".into(), raw(wasm::sample_contract())),
        ("entry-points-only".into(), raw(wasm::entry_exports())),
        ("imports-only".into(), raw(wasm::host_imports())),
        ("smith-contract-1".into(), smith(1, 1)),
        ("smith-contract-2".into(), smith(1, 77)),
        ("smith-any-1".into(), smith(2, 5)),
        ("smith-any-2".into(), smith(2, 201)),
    ]
}

fn gate_sequence() -> Vec<Seed> {
    // Indices of the 'nanjing' preset, in id order. Departments: 0 bank, 1 civil-affairs,
    // 2 housing, 3 public-security, 4 real-estate, 5 social-security, 6 supervision,
    // 7 tax. Types: 0 household, 4 property. Purposes: 1 household_verification,
    // 2 housing_eligibility, 3 mortgage_review, 5 social_insurance_verification,
    // 6 tax_assessment, 7 not registered.
    let end = |step| Op::EndBlock(step);
    let req = |sender, cert, purpose| Op::Request {
        sender,
        cert,
        purpose,
    };
    let grant_and_revoke = vec![
        Op::Publish {
            issuer: 4,
            cert_type: 4,
            number: 1,
            expires: None,
        },
        end(Step::Seconds),
        req(2, 0, 2),
        req(7, 0, 6),
        req(4, 0, 2),
        Op::Grant {
            sender: 4,
            cert: 0,
            grantee: 1,
            purpose: 1,
            until_height: 0,
            until: Some(30),
        },
        end(Step::Seconds),
        req(1, 0, 1),
        Op::Revoke {
            sender: 4,
            cert: 0,
            grant: Some(0),
        },
        end(Step::Hour),
        req(1, 0, 1),
        Op::Revoke {
            sender: 4,
            cert: 0,
            grant: None,
        },
        end(Step::Day),
        req(2, 0, 2),
    ];
    let expiry = vec![
        Op::Publish {
            issuer: 3,
            cert_type: 0,
            number: 2,
            expires: Some(3),
        },
        end(Step::Day),
        req(0, 0, 3),
        req(5, 0, 5),
        Op::Grant {
            sender: 3,
            cert: 0,
            grantee: 2,
            purpose: 6,
            until_height: 4,
            until: None,
        },
        end(Step::Day),
        req(2, 0, 6),
        end(Step::Day),
        req(5, 0, 5),
        req(2, 0, 6),
    ];
    let refused = vec![
        Op::Publish {
            issuer: 0,
            cert_type: 4,
            number: 3,
            expires: None,
        },
        Op::Publish {
            issuer: 4,
            cert_type: 4,
            number: 3,
            expires: None,
        },
        Op::Publish {
            issuer: 4,
            cert_type: 4,
            number: 3,
            expires: None,
        },
        Op::Grant {
            sender: 7,
            cert: 1,
            grantee: 2,
            purpose: 2,
            until_height: 0,
            until: None,
        },
        Op::Revoke {
            sender: 7,
            cert: 1,
            grant: None,
        },
        req(2, 1, 7),
        req(2, 9, 2),
        end(Step::Seconds),
    ];
    [
        ("grant-and-revoke", grant_and_revoke),
        ("expiry", expiry),
        ("refused", refused),
    ]
    .into_iter()
    .map(|(name, ops)| (name.into(), ops.into_iter().flat_map(Op::encode).collect()))
    .collect()
}
