//! Governance-approved deployment and contract calls through the chain core, with the
//! real contracts from contracts/ (built by scripts/build-contracts.sh).

use std::path::PathBuf;
use std::sync::Arc;

use govchain_consensus::{Chain, ChainConfig, CommittedBlock};
use govchain_crypto::PrivateKey;
use govchain_state::genesis::{
    ChainParams, Committee, Genesis, GenesisDepartment, GenesisValidator,
};
use govchain_state::tables;
use govchain_store::Records;
use govchain_store::Store;
use govchain_types::{ErrorCode, pb};

struct Net {
    _dir: tempfile::TempDir,
    chain: Arc<Chain>,
    keys: Vec<(String, PrivateKey)>,
    nonces: std::collections::HashMap<String, u64>,
    validator: PrivateKey,
    time: u64,
}

fn artifact(name: &str) -> Vec<u8> {
    let p = PathBuf::from(manifest_dir())
        .join("../../contracts/artifacts")
        .join(format!("{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the contracts with scripts/build-contracts.sh",
            p.display()
        )
    })
}

impl Net {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<(String, PrivateKey)> = ["tax", "housing", "bank"]
            .iter()
            .map(|d| (d.to_string(), PrivateKey::generate()))
            .collect();
        let validator = PrivateKey::generate();
        let hex_pub = |k: &PrivateKey| hex::encode(k.public_key().to_sec1());
        let genesis = Genesis {
            chain_id: "t".into(),
            genesis_time_ms: 1_000,
            salt_commitment: hex::encode(govchain_proof::salt_commitment(&[3u8; 32])),
            departments: keys
                .iter()
                .map(|(id, k)| GenesisDepartment {
                    id: id.clone(),
                    name: id.clone(),
                    public_key: hex_pub(k),
                    roles: vec![],
                    operators: vec![],
                })
                .collect(),
            validators: vec![GenesisValidator {
                id: "node1".into(),
                department: "tax".into(),
                public_key: hex_pub(&validator),
                ..Default::default()
            }],
            // tax and housing are the committee; both must approve. The bank is not a member.
            committee: Committee {
                members: vec!["tax".into(), "housing".into()],
                threshold: 2,
            },
            params: ChainParams::default(),
            access: Default::default(),
            custody: None,
        };
        let store = Arc::new(Store::open(dir.path(), false).unwrap());
        let chain = Chain::open(
            store,
            &genesis,
            ChainConfig {
                mempool_capacity: 100,
                mempool_per_account: 100,
            },
        )
        .unwrap();
        Net {
            _dir: dir,
            chain,
            keys,
            nonces: Default::default(),
            validator,
            time: 2_000,
        }
    }

    /// Submits one transaction as `dept` and commits it in its own block.
    async fn run(&mut self, dept: &str, payload: pb::payload::Kind) -> pb::Receipt {
        let key = &self.keys.iter().find(|(d, _)| d == dept).unwrap().1;
        let nonce = self.nonces.entry(dept.to_string()).or_insert(0);
        let body = govchain_types::encode(&pb::TxBody {
            chain_id: "t".into(),
            sender: dept.into(),
            operator: String::new(),
            nonce: *nonce,
            expiry_height: 0,
            payload: Some(pb::Payload {
                kind: Some(payload),
            }),
        });
        *nonce += 1;
        let tx = pb::SignedTx {
            signature: key.sign(&body).to_bytes().to_vec(),
            signer_pubkey: key.public_key().to_sec1(),
            body,
        };
        self.chain
            .submit(vec![tx], false)
            .await
            .pop()
            .unwrap()
            .unwrap();
        self.time += 1_000;
        let b: Arc<CommittedBlock> = self
            .chain
            .produce_block(
                self.chain.take_pending(10),
                self.time,
                "node1",
                &self.validator,
            )
            .unwrap();
        b.receipts[0].clone()
    }
}

fn deploy(name: &str, code: Vec<u8>) -> pb::payload::Kind {
    pb::payload::Kind::Propose(pb::Proposal {
        action: Some(pb::proposal::Action::Deploy(pb::DeployContract {
            name: name.into(),
            code,
        })),
        description: format!("deploy {name}"),
        voting_period: 0,
    })
}

fn vote(id: u64, approve: bool) -> pb::payload::Kind {
    pb::payload::Kind::Vote(pb::Vote {
        proposal_id: id,
        approve,
    })
}

fn call(contract: &str, method: &str, args: &str, gas: u64) -> pb::payload::Kind {
    pb::payload::Kind::Call(pb::ContractCall {
        contract: contract.into(),
        method: method.into(),
        args: args.as_bytes().to_vec(),
        gas_limit: gas,
    })
}

fn ok(r: &pb::Receipt) {
    assert_eq!(
        r.status,
        pb::TxStatus::Ok as i32,
        "{}: {}",
        r.error_code,
        r.error_message
    );
}

fn failed(r: &pb::Receipt, code: ErrorCode) {
    assert_eq!(
        (r.status, r.error_code),
        (pb::TxStatus::Failed as i32, code as u32),
        "{}",
        r.error_message
    );
}

fn event<'a>(r: &'a pb::Receipt, kind: &str) -> &'a pb::Event {
    r.events
        .iter()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {:?}", r.events))
}

#[tokio::test]
async fn code_runs_only_after_k_of_n_approvals() {
    let mut net = Net::new();
    // A non-member cannot propose.
    failed(
        &net.run("bank", deploy("counter", artifact("counter")))
            .await,
        ErrorCode::Unauthorized,
    );
    // tax proposes (its proposal counts as its approval): 1 of 2, still open.
    let r = net.run("tax", deploy("counter", artifact("counter"))).await;
    ok(&r);
    assert_eq!(event(&r, "proposal_created").attributes[0].value, "1");
    // Not callable before approval.
    failed(
        &net.run("tax", call("counter", "increment", r#"{"by":2}"#, 0))
            .await,
        ErrorCode::NotFound,
    );
    // No department votes twice.
    failed(
        &net.run("tax", vote(1, true)).await,
        ErrorCode::AlreadyExists,
    );
    // housing approves: deployed.
    let r = net.run("housing", vote(1, true)).await;
    ok(&r);
    assert_eq!(event(&r, "contract_deployed").attributes[1].value, "1");
    failed(
        &net.run("housing", vote(1, true)).await,
        ErrorCode::ProposalClosed,
    );
    // Now any department may call it.
    let r = net
        .run("bank", call("counter", "increment", r#"{"by":2}"#, 0))
        .await;
    ok(&r);
    assert_eq!(r.output, b"2");
    assert!(r.gas_used > 0);
    assert_eq!(event(&r, "incremented").attributes[0].value, "counter");
    let r = net
        .run("tax", call("counter", "increment", r#"{"by":5}"#, 0))
        .await;
    assert_eq!(r.output, b"7");
    failed(
        &net.run("tax", call("counter", "nope", "", 0)).await,
        ErrorCode::NotFound,
    );
    failed(
        &net.run("tax", call("counter", "increment", r#"{"by":0}"#, 0))
            .await,
        ErrorCode::ContractFailed,
    );
}

#[tokio::test]
async fn rejected_code_and_rejected_proposals() {
    let mut net = Net::new();
    failed(
        &net.run("tax", deploy("junk", b"\0asm garbage".to_vec()))
            .await,
        ErrorCode::CodeRejected,
    );
    ok(&net.run("tax", deploy("counter", artifact("counter"))).await);
    let r = net.run("housing", vote(1, false)).await;
    ok(&r);
    event(&r, "proposal_rejected");
    failed(
        &net.run("tax", call("counter", "increment", r#"{"by":1}"#, 0))
            .await,
        ErrorCode::NotFound,
    );
}

#[tokio::test]
async fn every_attack_fails_only_its_transaction() {
    let mut net = Net::new();
    ok(&net.run("tax", deploy("abuse", artifact("abuse"))).await);
    ok(&net.run("housing", vote(1, true)).await);
    let marker = ("abuse", &b"marker"[..]);
    for (method, code) in [
        ("infinite_loop", ErrorCode::OutOfGas),
        ("memory_bomb", ErrorCode::ContractFailed),
        ("deep_recursion", ErrorCode::ContractFailed),
        ("out_of_bounds", ErrorCode::ContractFailed),
        ("huge_argument", ErrorCode::ContractFailed),
        // 1 KiB values until refused: stopped at params.max_tx_write_bytes (1 MiB), not
        // at the host's 4,096 writes (4 MiB held in every node's memory).
        ("storage_flood", ErrorCode::WriteLimit),
        ("panic", ErrorCode::ContractFailed),
    ] {
        let before = net.chain.tip().header.height;
        let r = net
            .run("bank", call("abuse", method, "", 200_000_000))
            .await;
        assert_eq!(
            (r.status, r.error_code),
            (pb::TxStatus::Failed as i32, code as u32),
            "{method}: {}",
            r.error_message
        );
        // The block was produced, and the call's writes were discarded.
        assert_eq!(net.chain.tip().header.height, before + 1, "{method}");
        assert_eq!(
            net.chain
                .store()
                .read(&tables::CONTRACT_DATA, marker)
                .unwrap(),
            None,
            "{method} left its marker"
        );
    }
    // The node goes on: a normal transaction still works.
    ok(&net
        .run(
            "bank",
            pb::payload::Kind::Anchor(pb::Anchor {
                key: "after".into(),
                digest: vec![1; 32],
                note: String::new(),
            }),
        )
        .await);
}

fn anchor(key: &str) -> pb::payload::Kind {
    pb::payload::Kind::Anchor(pb::Anchor {
        key: key.into(),
        digest: vec![9; 32],
        note: String::new(),
    })
}

#[tokio::test]
async fn proposals_expire_and_upgrades_keep_state() {
    let mut net = Net::new();
    // A proposal with a 2-block voting period, left alone for 3 blocks, expires.
    let r = net
        .run(
            "tax",
            pb::payload::Kind::Propose(pb::Proposal {
                action: Some(pb::proposal::Action::Deploy(pb::DeployContract {
                    name: "counter".into(),
                    code: artifact("counter"),
                })),
                description: "too slow".into(),
                voting_period: 2,
            }),
        )
        .await;
    ok(&r);
    for i in 0..3 {
        ok(&net.run("bank", anchor(&format!("filler-{i}"))).await);
    }
    let r = net.run("housing", vote(1, true)).await;
    ok(&r);
    event(&r, "proposal_expired");
    failed(
        &net.run("housing", vote(1, true)).await,
        ErrorCode::ProposalClosed,
    );
    failed(
        &net.run("tax", call("counter", "increment", r#"{"by":1}"#, 0))
            .await,
        ErrorCode::NotFound,
    );

    // Deploy version 1 and use it.
    ok(&net.run("tax", deploy("counter", artifact("counter"))).await);
    ok(&net.run("housing", vote(2, true)).await);
    assert_eq!(
        net.run("bank", call("counter", "increment", r#"{"by":3}"#, 0))
            .await
            .output,
        b"3"
    );
    // Upgrade the same name to other code: version 2, new code hash, the same storage.
    ok(&net
        .run("housing", deploy("counter", artifact("bench")))
        .await);
    let r = net.run("tax", vote(3, true)).await;
    assert_eq!(event(&r, "contract_deployed").attributes[1].value, "2");
    failed(
        &net.run("bank", call("counter", "increment", r#"{"by":1}"#, 0))
            .await,
        ErrorCode::NotFound,
    );
    ok(&net.run("bank", call("counter", "write10", "", 0)).await);
    let count = ("counter", &b"count"[..]);
    assert_eq!(
        net.chain
            .store()
            .read(&tables::CONTRACT_DATA, count)
            .unwrap()
            .as_deref(),
        Some(&b"3"[..]),
        "storage survives the upgrade"
    );
}

/// The package folder, as cargo says when it runs this test (not as compiled: a shared
/// target folder may hold a binary built in another checkout).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("tests run under cargo")
}
