//! The access gate through the executor: publish, policy, grants, revocation, points,
//! audit, bad input, and the points conservation invariant under random operations.

use std::sync::Arc;

use govchain_crypto::sm3;
use govchain_state::access::audit;
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_state::{VerifiedTx, certs, query, tables};
use govchain_store::{Records, Store};
use govchain_types::{ErrorCode, pb};
use proptest::prelude::*;

const DAY: u64 = 86_400_000;
/// 2026-11-23 00:00 UTC.
const T0: u64 = 1_795_392_000_000;
const SALT: [u8; 32] = [9; 32];

struct Net {
    chain: LocalChain,
    store: Arc<Store>,
    pending: Vec<VerifiedTx>,
}

impl Net {
    fn new() -> Self {
        let store = Store::in_memory().unwrap();
        let chain = LocalChain::nanjing(store, T0, SALT, nanjing_access()).unwrap();
        Net {
            store: chain.store.clone(),
            chain,
            pending: vec![],
        }
    }

    /// Queues a transaction for the next block.
    fn tx(&mut self, dept: &str, kind: pb::payload::Kind) {
        let tx = self.chain.tx(dept, kind);
        self.pending.push(tx);
    }

    /// Executes and commits the queued transactions as one block.
    fn block(&mut self) -> Vec<pb::Receipt> {
        let txs = std::mem::take(&mut self.pending);
        self.chain.block(&txs, 5_000).unwrap().0
    }

    /// Executes and commits the queued transactions as one block `step_ms` after the
    /// last.
    fn block_after(&mut self, step_ms: u64) -> Vec<pb::Receipt> {
        let txs = std::mem::take(&mut self.pending);
        self.chain.block(&txs, step_ms).unwrap().0
    }

    fn one(&mut self, dept: &str, kind: pb::payload::Kind) -> pb::Receipt {
        self.tx(dept, kind);
        self.block().pop().unwrap()
    }

    fn publish_payload(&self, ty: &str, number: &str, national_id: &str) -> pb::payload::Kind {
        let meta = |k: &str, v: &str| pb::Attribute {
            key: k.into(),
            value: v.into(),
        };
        let metadata = match ty {
            "property" => vec![meta("district", "鼓楼区"), meta("usage", "住宅")],
            "household" => vec![
                meta("registration_district", "320106"),
                meta("household_type", "家庭户"),
            ],
            "tax-payment" => vec![
                meta("tax_kind", "个人所得税"),
                meta("period", "2025-01..2025-12"),
            ],
            _ => vec![],
        };
        pb::payload::Kind::Publish(pb::PublishCertificate {
            cert_type: ty.into(),
            number: number.into(),
            subject_id: certs::subject_id(&SALT, national_id).unwrap().to_vec(),
            issued_on: "2024-05-01".into(),
            expires_on: String::new(),
            metadata,
            content_hash: sm3(number.as_bytes()).to_vec(),
            issuer_signature: vec![0; 64],
            ciphertext: vec![7; 100],
            key_envelope: self.chain.envelope(ty, number, &[7; 16]).0,
            key_envelope_proof: vec![],
        })
    }

    /// The last audit sequence number.
    fn audit_seq(&self) -> u64 {
        self.store.read_or_default(&tables::AUDIT_SEQ, ()).unwrap()
    }

    fn balance(&self, dept: &str) -> u64 {
        query::balances(&self.store, dept).unwrap().balances[0].balance
    }

    fn supply_holds(&self) -> bool {
        let b = query::balances(&self.store, "").unwrap();
        let sum: u64 = b.balances.iter().map(|x| x.balance).sum();
        sum == b.genesis + b.minted - b.burned
    }
}

fn request(cert: &str, purpose: &str) -> pb::payload::Kind {
    pb::payload::Kind::Request(pb::RequestAccess {
        cert_id: cert.into(),
        purpose: purpose.into(),
    })
}

/// A validator's approval of releasing its share for `requests`.
fn approve_release(requests: &[u64]) -> pb::payload::Kind {
    pb::payload::Kind::Release(pb::ReleaseShares {
        approvals: requests.to_vec(),
        releases: vec![],
    })
}

/// A validator's share for an approved `request`.
fn release(request: u64, encrypted_share: Vec<u8>) -> pb::payload::Kind {
    pb::payload::Kind::Release(pb::ReleaseShares {
        approvals: vec![],
        releases: vec![pb::ShareRelease {
            request,
            encrypted_share,
        }],
    })
}

fn attr<'a>(r: &'a pb::Receipt, kind: &str, key: &str) -> &'a str {
    let e = r
        .events
        .iter()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {r:?}"));
    &e.attributes.iter().find(|a| a.key == key).unwrap().value
}

fn ok(r: &pb::Receipt) {
    assert_eq!(r.status, pb::TxStatus::Ok as i32, "{}", r.error_message);
}

fn code(r: &pb::Receipt) -> ErrorCode {
    ErrorCode::try_from(r.error_code as i32).unwrap()
}

const ID: &str = "320102199001011232";

fn propose_policy(net: &mut Net, line: &str) {
    let r = net.one(
        "tax",
        pb::payload::Kind::Propose(pb::Proposal {
            action: Some(pb::proposal::Action::Policy(pb::PolicyChange {
                add: vec![line.into()],
                remove: vec![],
            })),
            description: "tax assessment of property transfers".into(),
            voting_period: 0,
        }),
    );
    ok(&r);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario whose steps build on each other"
)]
fn gate_decides_charges_and_audits_every_read() {
    let mut net = Net::new();
    let p = net.publish_payload("property", "苏(2024)南京市不动产权第0012345号", ID);
    let r = net.one("real-estate", p);
    ok(&r);
    let cert = attr(&r, "certificate_published", "id").to_string();
    assert_eq!(attr(&r, "certificate_published", "reward"), "1");
    assert_eq!(net.balance("real-estate"), 5_001);

    // No policy line lets tax read property: denied, audited, nothing paid.
    let r = net.one("tax", request(&cert, "tax_assessment"));
    ok(&r);
    assert_eq!(attr(&r, "access", "decision"), "deny");
    assert!(attr(&r, "access", "reason").contains("no policy line or grant"));
    assert_eq!(net.balance("tax"), 5_000);

    // The housing authority reads through its role; 5 points move to the issuer.
    let r = net.one("housing", request(&cert, "housing_eligibility"));
    assert_eq!(attr(&r, "access", "decision"), "allow", "{r:?}");
    assert_eq!(attr(&r, "access", "points"), "5");
    assert_eq!(net.balance("housing"), 4_995);
    assert_eq!(net.balance("real-estate"), 5_006);

    // Deny wins: the bank may never read household registration.
    let hh = net.publish_payload("household", "320106-2024-000881", ID);
    let r = net.one("public-security", hh);
    let household = attr(&r, "certificate_published", "id").to_string();
    let r = net.one("bank", request(&household, "mortgage_review"));
    assert_eq!(attr(&r, "access", "decision"), "deny");
    assert!(attr(&r, "access", "reason").contains("p, bank, household, read, *, deny"));

    // Governance adds a line; it applies from the block after the approval.
    propose_policy(&mut net, "p, tax, property, read, tax_assessment, allow");
    net.tx(
        "housing",
        pb::payload::Kind::Vote(pb::Vote {
            proposal_id: 1,
            approve: true,
        }),
    );
    net.tx("tax", request(&cert, "tax_assessment"));
    let rs = net.block();
    ok(&rs[0]);
    assert_eq!(attr(&rs[0], "policy_changed", "version"), "2");
    assert_eq!(
        attr(&rs[1], "access", "decision"),
        "deny",
        "same block: old policy"
    );
    let r = net.one("tax", request(&cert, "tax_assessment"));
    assert_eq!(attr(&r, "access", "decision"), "allow");

    // A grant lets civil-affairs read this one certificate; revoking it stops that.
    let r = net.one("civil-affairs", request(&cert, "household_verification"));
    assert_eq!(attr(&r, "access", "decision"), "deny");
    let r = net.one(
        "real-estate",
        pb::payload::Kind::Grant(pb::GrantAccess {
            cert_id: cert.clone(),
            grantee: "civil-affairs".into(),
            purpose: "household_verification".into(),
            until_height: 0,
            until_date: "2026-12-31".into(),
        }),
    );
    ok(&r);
    let grant: u64 = attr(&r, "grant_created", "grant").parse().unwrap();
    let r = net.one("civil-affairs", request(&cert, "household_verification"));
    assert_eq!(attr(&r, "access", "decision"), "allow");
    assert!(attr(&r, "access", "reason").contains(&format!("grant {grant}")));
    let r = net.one(
        "real-estate",
        pb::payload::Kind::Revoke(pb::Revoke {
            cert_id: cert.clone(),
            grant_id: grant,
            reason: String::new(),
        }),
    );
    ok(&r);
    let r = net.one("civil-affairs", request(&cert, "household_verification"));
    assert_eq!(attr(&r, "access", "decision"), "deny");
    assert!(attr(&r, "access", "reason").contains("revoked"));
    // The grantee follows what it lost: the revoked grant, by height, to it alone.
    let revoked_at = r.height - 1;
    let lost = |who, after| query::revoked_grants(&net.store, who, after, 10).unwrap();
    let found = lost("civil-affairs", (0, None));
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].id, found[0].revoked_height), (grant, revoked_at));
    assert_eq!(lost("civil-affairs", (revoked_at - 1, None)), found);
    assert!(lost("civil-affairs", (revoked_at, None)).is_empty());
    assert!(lost("civil-affairs", (revoked_at, Some((cert.as_str(), grant)))).is_empty());
    assert!(lost("tax", (0, None)).is_empty());

    // Too few points: denied after the policy allowed it.
    let r = net.one(
        "tax",
        pb::payload::Kind::Propose(pb::Proposal {
            action: Some(pb::proposal::Action::AdjustPoints(pb::PointsAdjustment {
                department: "tax".into(),
                delta: -4_993,
                reason: "assessment: no data shared this quarter".into(),
            })),
            description: String::new(),
            voting_period: 0,
        }),
    );
    ok(&r);
    let r = net.one(
        "housing",
        pb::payload::Kind::Vote(pb::Vote {
            proposal_id: 2,
            approve: true,
        }),
    );
    ok(&r);
    assert_eq!(net.balance("tax"), 2);
    let r = net.one("tax", request(&cert, "tax_assessment"));
    assert_eq!(attr(&r, "access", "decision"), "deny");
    assert!(attr(&r, "access", "reason").contains("insufficient points: balance 2, price 5"));

    // Revoking the certificate denies everyone, from the next transaction on.
    net.tx(
        "real-estate",
        pb::payload::Kind::Revoke(pb::Revoke {
            cert_id: cert.clone(),
            grant_id: 0,
            reason: "title transferred".into(),
        }),
    );
    net.tx("housing", request(&cert, "housing_eligibility"));
    let rs = net.block();
    ok(&rs[0]);
    assert_eq!(attr(&rs[1], "access", "decision"), "deny");
    assert!(attr(&rs[1], "access", "reason").contains("revoked at height"));

    // The audit log has every decision, queryable by subject and decision.
    let subject = certs::subject_id(&SALT, ID).unwrap().to_vec();
    let all = audit::query(
        &net.store,
        &pb::AuditQuery {
            subject_id: subject.clone(),
            ..Default::default()
        },
        1000,
    )
    .unwrap();
    assert_eq!(all.records.len(), 10);
    let denied = audit::query(
        &net.store,
        &pb::AuditQuery {
            subject_id: subject,
            decision: pb::Decision::Deny as i32,
            requester: "tax".into(),
            ..Default::default()
        },
        1000,
    )
    .unwrap();
    assert_eq!(denied.records.len(), 3);
    // A party: the records where it is the requester or the owner, in order, paged.
    let every = audit::query(&net.store, &pb::AuditQuery::default(), 1000).unwrap();
    for party in ["tax", "real-estate", "housing", "civil-affairs"] {
        let expected: Vec<u64> = every
            .records
            .iter()
            .filter(|r| r.requester == party || r.owner == party)
            .map(|r| r.seq)
            .collect();
        let (mut got, mut after) = (vec![], 0);
        loop {
            let q = pb::AuditQuery {
                party: party.into(),
                after,
                limit: 3,
                ..Default::default()
            };
            let page = audit::query(&net.store, &q, 1000).unwrap();
            got.extend(page.records.iter().map(|r| r.seq));
            if page.next == 0 {
                break;
            }
            after = page.next;
        }
        assert!(!expected.is_empty(), "{party} has records");
        assert_eq!(got, expected, "{party}");
    }
    assert!(net.supply_holds());
    let history = query::history(&net.store, "tax", 0, 100).unwrap();
    let kinds: Vec<&str> = history.entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["genesis", "read", "adjust"]);
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one table of bad inputs, each with its expected code"
)]
fn bad_input_gets_its_code_and_writes_nothing() {
    let mut net = Net::new();
    let good = net.publish_payload("property", "P-1", ID);
    ok(&net.one("real-estate", good.clone()));
    let pb::payload::Kind::Publish(base) = good else {
        unreachable!()
    };
    let chain = &net.chain;
    let with = |f: &dyn Fn(&mut pb::PublishCertificate)| {
        let mut p = base.clone();
        p.number = "P-2".into();
        p.key_envelope = chain.envelope("property", "P-2", &[7; 16]).0;
        f(&mut p);
        pb::payload::Kind::Publish(p)
    };
    let cases: Vec<(&str, pb::payload::Kind, ErrorCode)> = vec![
        (
            "real-estate",
            with(&|p| p.cert_type = "deed".into()),
            ErrorCode::UnknownCertType,
        ),
        (
            "real-estate",
            with(&|p| p.subject_id = vec![1; 18]),
            ErrorCode::InvalidSubject,
        ),
        (
            "real-estate",
            with(&|p| p.metadata.clear()),
            ErrorCode::MissingField,
        ),
        (
            "real-estate",
            with(&|p| p.number.clear()),
            ErrorCode::MissingField,
        ),
        (
            "real-estate",
            with(&|p| p.ciphertext = vec![0; 192 * 1024 + 1]),
            ErrorCode::DocumentTooLarge,
        ),
        (
            "real-estate",
            with(&|p| p.number = "P-1".into()),
            ErrorCode::DuplicateCertificate,
        ),
        (
            "real-estate",
            with(&|p| p.issued_on = "2024-02-30".into()),
            ErrorCode::InvalidArgument,
        ),
        ("tax", with(&|_| {}), ErrorCode::Unauthorized),
        (
            "real-estate",
            with(&|p| p.key_envelope = base.key_envelope.clone()),
            ErrorCode::InvalidArgument,
        ),
        (
            "real-estate",
            with(&|p| p.key_envelope.truncate(100)),
            ErrorCode::InvalidArgument,
        ),
        ("tax", release(1, vec![1; 150]), ErrorCode::Unauthorized),
        (
            "validator:node1",
            release(999, vec![1; 150]),
            ErrorCode::ReleaseRefused,
        ),
        (
            "validator:node1",
            request(&certs::cert_id("property", "P-1"), "tax_assessment"),
            ErrorCode::Unauthorized,
        ),
        (
            "tax",
            request(&certs::cert_id("property", "P-1"), "marketing"),
            ErrorCode::UnknownPurpose,
        ),
        (
            "tax",
            request("00000000000000000000000000000000", "tax_assessment"),
            ErrorCode::NotFound,
        ),
        (
            "real-estate",
            pb::payload::Kind::Grant(pb::GrantAccess {
                cert_id: certs::cert_id("property", "P-1"),
                grantee: "police".into(),
                purpose: "tax_assessment".into(),
                until_height: 100,
                until_date: String::new(),
            }),
            ErrorCode::UnknownDepartment,
        ),
        (
            "tax",
            pb::payload::Kind::Propose(pb::Proposal {
                action: Some(pb::proposal::Action::Policy(pb::PolicyChange {
                    add: vec!["p, tax, property, read, marketing, allow".into()],
                    remove: vec![],
                })),
                description: String::new(),
                voting_period: 0,
            }),
            ErrorCode::InvalidArgument,
        ),
    ];
    let snapshot = |net: &Net, column| -> Vec<(Vec<u8>, Vec<u8>)> {
        net.store
            .scan_prefix(column, Vec::new(), None)
            .map(|r| r.unwrap())
            .filter(|(k, _)| !k.starts_with(&tables::NONCE.all()))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    };
    let state_before = snapshot(&net, govchain_store::Column::State);
    let index_before = snapshot(&net, govchain_store::Column::Index);
    for (dept, kind, want) in cases {
        let r = net.one(dept, kind);
        assert_eq!(r.status, pb::TxStatus::Failed as i32);
        assert_eq!(code(&r), want, "{}", r.error_message);
        assert!(!r.error_message.is_empty());
    }
    // Apart from the used-up nonces: no certificate, grant, proposal, point, ledger or
    // audit record was written.
    assert!(snapshot(&net, govchain_store::Column::State) == state_before);
    assert!(snapshot(&net, govchain_store::Column::Index) == index_before);
}

#[derive(Debug, Clone)]
enum Op {
    Publish {
        issuer: usize,
        serial: u16,
    },
    Request {
        dept: usize,
        cert: usize,
        purpose: usize,
    },
    Adjust {
        dept: usize,
        delta: i64,
    },
    Quota {
        free_reads: u64,
    },
    NextDay,
}

const ISSUERS: [(&str, &str); 3] = [
    ("real-estate", "property"),
    ("public-security", "household"),
    ("tax", "tax-payment"),
];
const DEPTS: [&str; 7] = [
    "public-security",
    "civil-affairs",
    "real-estate",
    "tax",
    "social-security",
    "housing",
    "bank",
];
const PURPOSES: [&str; 3] = ["housing_eligibility", "mortgage_review", "tax_assessment"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, any::<u16>()).prop_map(|(issuer, serial)| Op::Publish { issuer, serial }),
        6 => (0..7usize, 0..16usize, 0..3usize).prop_map(|(dept, cert, purpose)| Op::Request { dept, cert, purpose }),
        1 => (0..7usize, -6000i64..6000).prop_map(|(dept, delta)| Op::Adjust { dept, delta }),
        1 => (0..3u64).prop_map(|free_reads| Op::Quota { free_reads }),
        1 => Just(Op::NextDay),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Sum of balances = genesis + minted − burned after every block of any sequence of
    /// publishes, reads (allowed, denied, free), adjustments and parameter changes.
    #[test]
    fn points_are_conserved(ops in prop::collection::vec(op(), 1..40)) {
        let mut net = Net::new();
        let mut published: Vec<String> = Vec::new();
        let mut proposal = 0u64;
        for chunk in ops.chunks(4) {
            let mut governance = None;
            for op in chunk {
                match op.clone() {
                    Op::Publish { issuer, serial } => {
                        let (dept, ty) = ISSUERS[issuer];
                        let p = net.publish_payload(ty, &format!("N-{serial}"), ID);
                        published.push(certs::cert_id(ty, &format!("N-{serial}")));
                        net.tx(dept, p);
                    }
                    Op::Request { dept, cert, purpose } if !published.is_empty() => {
                        let c = published[cert % published.len()].clone();
                        net.tx(DEPTS[dept], request(&c, PURPOSES[purpose]));
                    }
                    Op::Request { .. } => {}
                    Op::Adjust { dept, delta } if delta != 0 => {
                        governance = Some(pb::proposal::Action::AdjustPoints(pb::PointsAdjustment {
                            department: DEPTS[dept].into(),
                            delta,
                            reason: "assessment".into(),
                        }));
                    }
                    Op::Adjust { .. } => {}
                    Op::Quota { free_reads } => {
                        governance = Some(pb::proposal::Action::PointsParams(pb::PointsParams {
                            free_reads_per_period: free_reads,
                            period_ms: DAY,
                            reward_cap_per_period: 3,
                        }));
                    }
                    Op::NextDay => net.chain.time_ms += DAY,
                }
            }
            net.block();
            prop_assert!(net.supply_holds());
            if let Some(action) = governance {
                proposal += 1;
                net.tx("tax", pb::payload::Kind::Propose(pb::Proposal { action: Some(action), description: String::new(), voting_period: 0 }));
                net.tx("housing", pb::payload::Kind::Vote(pb::Vote { proposal_id: proposal, approve: true }));
                net.block();
                prop_assert!(net.supply_holds());
            }
        }
    }
}

fn artifact(name: &str) -> Vec<u8> {
    let p = std::path::PathBuf::from(manifest_dir())
        .join("../../contracts/artifacts")
        .join(format!("{name}.wasm"));
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-contracts.sh", p.display()))
}

fn call(contract: &str, method: &str, args: &str) -> pb::payload::Kind {
    pb::payload::Kind::Call(pb::ContractCall {
        contract: contract.into(),
        method: method.into(),
        args: args.as_bytes().to_vec(),
        gas_limit: 0,
    })
}

#[test]
fn contract_reads_go_through_the_same_gate_and_stay_paid_when_the_call_fails() {
    let mut net = Net::new();
    let r = net.one(
        "tax",
        pb::payload::Kind::Propose(pb::Proposal {
            action: Some(pb::proposal::Action::Deploy(pb::DeployContract {
                name: "registry".into(),
                code: artifact("registry"),
            })),
            description: String::new(),
            voting_period: 0,
        }),
    );
    ok(&r);
    ok(&net.one(
        "housing",
        pb::payload::Kind::Vote(pb::Vote {
            proposal_id: 1,
            approve: true,
        }),
    ));
    let p = net.publish_payload("property", "REG-1", ID);
    let cert = attr(&net.one("real-estate", p), "certificate_published", "id").to_string();
    let args =
        format!(r#"{{"id":"home-1","cert_id":"{cert}","summary":"two-bedroom flat, Gulou"}}"#);
    ok(&net.one("real-estate", call("registry", "register", &args)));

    // Allowed through the housing authority's role: the contract gets the public record.
    let r = net.one(
        "housing",
        call(
            "registry",
            "read",
            r#"{"id":"home-1","purpose":"housing_eligibility"}"#,
        ),
    );
    ok(&r);
    let view: serde_json::Value = serde_json::from_slice(&r.output).unwrap();
    assert_eq!(view["number"], "REG-1");
    assert_eq!(view["metadata"]["district"], "鼓楼区");
    assert_eq!(net.balance("housing"), 4_995);

    // The call fails after its read: the read stays paid and on record.
    let r = net.one(
        "housing",
        call(
            "registry",
            "verify",
            r#"{"id":"home-1","purpose":"housing_eligibility","expect_type":"household"}"#,
        ),
    );
    assert_eq!(code(&r), ErrorCode::ContractFailed);
    assert!(
        r.error_message.contains("not 'household'"),
        "{}",
        r.error_message
    );
    assert_eq!(net.balance("housing"), 4_990);

    // A contract cannot read more than its caller: tax has no line for property.
    let r = net.one(
        "tax",
        call(
            "registry",
            "read",
            r#"{"id":"home-1","purpose":"tax_assessment"}"#,
        ),
    );
    assert_eq!(code(&r), ErrorCode::ContractFailed);
    assert!(
        r.error_message.contains("no policy line or grant"),
        "{}",
        r.error_message
    );

    let page = audit::query(
        &net.store,
        &pb::AuditQuery {
            cert_id: cert,
            ..Default::default()
        },
        100,
    )
    .unwrap();
    let seen: Vec<(&str, &str, &str)> = page
        .records
        .iter()
        .map(|r| {
            (
                r.requester.as_str(),
                r.via.as_str(),
                if r.decision == pb::Decision::Allow as i32 {
                    "allow"
                } else {
                    "deny"
                },
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("housing", "contract:registry", "allow"),
            ("housing", "contract:registry", "allow"),
            ("tax", "contract:registry", "deny")
        ]
    );
    assert!(net.supply_holds());
}

#[test]
fn audit_export_verifies_and_detects_tampering() {
    let mut net = Net::new();
    let p = net.publish_payload("property", "EXP-1", ID);
    let cert = attr(&net.one("real-estate", p), "certificate_published", "id").to_string();
    net.tx("housing", request(&cert, "housing_eligibility"));
    net.tx("tax", request(&cert, "tax_assessment"));
    net.tx("bank", request(&cert, "mortgage_review"));
    net.block();
    let q = pb::AuditQuery {
        cert_id: cert,
        ..Default::default()
    };
    let export = audit::export(&net.store, "local", &q).unwrap();
    assert_eq!(export.proofs.len(), 3);
    let file = audit::ExportFile::from_export(&export, &q).unwrap();
    assert_eq!(file.records[1].proof.tree_size, 3);
    assert_eq!(file.verify(&net.chain.genesis.anchor()), Ok(3));
    // Any changed record, proof or header fails; so does another chain's genesis.
    let mut bad = file.clone();
    bad.records[2].record.points += 1;
    assert!(
        bad.verify(&net.chain.genesis.anchor())
            .unwrap_err()
            .contains("readable fields")
    );
    let mut bad = file.clone();
    bad.records[0].proof.path[0][0] ^= 1;
    assert!(
        bad.verify(&net.chain.genesis.anchor())
            .unwrap_err()
            .contains("inclusion proof")
    );
    let mut bad = file.clone();
    let sig = bad.headers[0].signature.clone();
    bad.headers[0].signature = format!(
        "{}{}",
        if &sig[..2] == "00" { "01" } else { "00" },
        &sig[2..]
    );
    assert!(
        bad.verify(&net.chain.genesis.anchor())
            .unwrap_err()
            .contains("does not verify")
    );
    // A changed precommit, or none: the header is no evidence.
    let mut bad = file.clone();
    let commit = bad.headers[0].commit.as_mut().unwrap();
    commit.signatures[0].signature = sig.clone();
    assert!(
        bad.verify(&net.chain.genesis.anchor())
            .unwrap_err()
            .contains("precommit signature of 'node1' does not verify")
    );
    bad.headers[0].commit = None;
    assert!(
        bad.verify(&net.chain.genesis.anchor())
            .unwrap_err()
            .contains("no commit certificate")
    );
    // Another genesis's validator: the headers name a set that is not in force there.
    let mut other = net.chain.genesis.clone();
    other.validators[0].public_key = hex::encode(
        govchain_crypto::PrivateKey::generate()
            .public_key()
            .to_sec1(),
    );
    assert!(
        file.verify(&other.anchor())
            .unwrap_err()
            .contains("other than the one in force")
    );
}

#[test]
fn a_node_local_failure_stops_the_block_instead_of_failing_a_transaction() {
    let mut net = Net::new();
    let p = net.publish_payload("property", "LOCAL-1", ID);
    let cert = attr(&net.one("real-estate", p), "certificate_published", "id").to_string();
    // A corrupt balance record on this node only (disk damage, a bug).
    net.chain.height += 1;
    net.store
        .commit_block(govchain_store::BlockCommit {
            height: net.chain.height,
            hash: [1; 32],
            block: net.store.block(net.chain.height - 1).unwrap().unwrap(),
            txs: vec![],
            state: [(tables::POINTS.key("housing"), Some(b"bad".to_vec()))]
                .into_iter()
                .collect(),
            index: vec![],
            meta: vec![],
        })
        .unwrap();
    let tx = net
        .chain
        .tx("housing", request(&cert, "housing_eligibility"));
    let err = net.chain.block(&[tx], 1_000).unwrap_err().to_string();
    assert!(
        err.contains("node-local failure")
            && err.contains("corrupt points balance: 3 bytes where u64 has 8"),
        "{err}"
    );
    // Nothing of the block was written: no audit record, no receipt.
    let page = audit::query(&net.store, &pb::AuditQuery::default(), 100).unwrap();
    assert!(page.records.is_empty());
}

fn node_change(id: &str, addr: &str, remove: bool) -> pb::payload::Kind {
    let key = govchain_crypto::PrivateKey::generate()
        .public_key()
        .to_sec1();
    node_change_with_key(id, addr, key, remove)
}

fn node_change_with_key(
    id: &str,
    addr: &str,
    public_key: Vec<u8>,
    remove: bool,
) -> pb::payload::Kind {
    pb::payload::Kind::Propose(pb::Proposal {
        action: Some(pb::proposal::Action::Node(pb::NodeChange {
            node: Some(pb::Validator {
                id: id.into(),
                department: "tax".into(),
                public_key,
                observer: false,
                addr: addr.into(),
                ..Default::default()
            }),
            remove,
            rotate_custody_key: false,
        })),
        description: "the tax bureau runs a node".into(),
        voting_period: 0,
    })
}

fn approve(net: &mut Net, id: u64) -> pb::Receipt {
    net.one(
        "housing",
        pb::payload::Kind::Vote(pb::Vote {
            proposal_id: id,
            approve: true,
        }),
    )
}

#[test]
fn nodes_join_and_leave_by_governance() {
    let mut net = Net::new();
    ok(&net.one("tax", node_change("node5", "127.0.0.1:7586", false)));
    let r = approve(&mut net, 1);
    assert_eq!(attr(&r, "node_added", "addr"), "127.0.0.1:7586");
    let v = query::validators(&net.store).unwrap();
    let n5 = v.iter().find(|v| v.id == "node5").unwrap();
    assert_eq!(n5.addr, "127.0.0.1:7586");
    let voting = v.iter().filter(|v| !v.observer).count();

    // refused when proposed: the same node, a bad address, a stranger, a key that is
    // another node's (its holder would cast two votes)
    let r = net.one("tax", node_change("node5", "127.0.0.1:7596", false));
    assert_eq!(code(&r), ErrorCode::AlreadyExists);
    let r = net.one("tax", node_change("node6", "localhost", false));
    assert_eq!(code(&r), ErrorCode::InvalidArgument);
    let r = net.one("tax", node_change("node9", "", true));
    assert_eq!(code(&r), ErrorCode::NotFound);
    let r = net.one(
        "tax",
        node_change_with_key("node6", "127.0.0.1:7596", n5.public_key.clone(), false),
    );
    assert_eq!(code(&r), ErrorCode::InvalidArgument);
    assert!(
        r.error_message.contains("the key of node 'node5'"),
        "{}",
        r.error_message
    );

    // removal; the id may be used again afterwards
    ok(&net.one("tax", node_change("node5", "", true)));
    let r = approve(&mut net, 2);
    assert_eq!(attr(&r, "node_removed", "node"), "node5");
    assert!(
        query::validators(&net.store)
            .unwrap()
            .iter()
            .all(|v| v.id != "node5")
    );

    // the last voting validator cannot be removed: the chain would stop
    let ids: Vec<String> = query::validators(&net.store)
        .unwrap()
        .into_iter()
        .filter(|v| !v.observer)
        .map(|v| v.id)
        .collect();
    assert_eq!(ids.len(), voting - 1);
    let (last, others) = ids.split_last().unwrap();
    for (proposal, id) in (3..).zip(others) {
        ok(&net.one("tax", node_change(id, "", true)));
        approve(&mut net, proposal);
    }
    let r = net.one("tax", node_change(last, "", true));
    assert_eq!(code(&r), ErrorCode::InvalidArgument);
    assert!(
        r.error_message.contains("last voting validator"),
        "{}",
        r.error_message
    );
    assert!(
        query::validators(&net.store)
            .unwrap()
            .iter()
            .any(|v| v.id == *last),
        "nothing removed"
    );
}

#[test]
fn a_key_share_that_fails_its_proof_is_refused_naming_its_validator() {
    let mut net = Net::new();
    let p = net.publish_payload("property", "P-1", ID);
    let r = net.one("real-estate", p);
    ok(&r);
    let cert = attr(&r, "certificate_published", "id").to_string();
    let ask = |net: &mut Net| -> u64 {
        let r = net.one("housing", request(&cert, "housing_eligibility"));
        ok(&r);
        attr(&r, "access", "request").parse().unwrap()
    };
    let (allowed, other) = (ask(&mut net), ask(&mut net));
    ok(&net.one("validator:node1", approve_release(&[allowed])));
    let before = net.audit_seq();
    // Bytes that are no share, and a true share made for another request: refused, the
    // validator named; nothing is stored or audited.
    let garbage = vec![1u8; govchain_custody::SHARE_LEN];
    for bad in [garbage, net.chain.released_share(other)] {
        let r = net.one("validator:node1", release(allowed, bad));
        assert_eq!(code(&r), ErrorCode::BadKeyShare);
        assert!(
            r.error_message.contains("validator node1"),
            "{}",
            r.error_message
        );
    }
    assert!(
        govchain_state::query::releases(&net.store, allowed)
            .unwrap()
            .releases
            .is_empty()
    );
    assert_eq!(net.audit_seq(), before);
    // Shares are checked in one batch: one bad share among good ones refuses the
    // transaction, naming its request; nothing of the good ones is stored.
    ok(&net.one("validator:node1", approve_release(&[other])));
    let batch = pb::payload::Kind::Release(pb::ReleaseShares {
        approvals: vec![],
        releases: vec![
            pb::ShareRelease {
                request: allowed,
                encrypted_share: net.chain.released_share(allowed),
            },
            pb::ShareRelease {
                request: other,
                encrypted_share: net.chain.released_share(allowed),
            },
        ],
    });
    let r = net.one("validator:node1", batch);
    assert_eq!(code(&r), ErrorCode::BadKeyShare);
    assert!(
        r.error_message.contains(&format!("request {other}")),
        "{}",
        r.error_message
    );
    assert_eq!(releases(&net, allowed), 0);
    // The true shares pass, together.
    let batch = pb::payload::Kind::Release(pb::ReleaseShares {
        approvals: vec![],
        releases: [allowed, other]
            .map(|request| pb::ShareRelease {
                request,
                encrypted_share: net.chain.released_share(request),
            })
            .to_vec(),
    });
    ok(&net.one("validator:node1", batch));
    assert_eq!(releases(&net, allowed) + releases(&net, other), 2);
}

/// A block's key shares are checked before its transactions run (side by side); each
/// transaction still gets the verdict it gets alone: a bad share in the same block as
/// good ones is refused, and a share delivered twice in one block is taken once.
#[test]
fn key_shares_checked_ahead_of_their_block_keep_each_transactions_verdict() {
    let mut net = Net::new();
    let cert = publish(&mut net, "P-1");
    let a = ask(&mut net, "housing", &cert, "housing_eligibility");
    let b = ask(&mut net, "housing", &cert, "housing_eligibility");
    ok(&net.one("validator:node1", approve_release(&[a, b])));
    let before = net.audit_seq();
    let (share_a, share_b) = (net.chain.released_share(a), net.chain.released_share(b));
    net.tx("validator:node1", release(a, share_a.clone()));
    net.tx("validator:node1", release(b, share_a.clone()));
    net.tx("validator:node1", release(a, share_a));
    let r = net.block();
    ok(&r[0]);
    assert_eq!(code(&r[1]), ErrorCode::BadKeyShare);
    assert!(
        r[1].error_message.contains(&format!("request {b}")),
        "{}",
        r[1].error_message
    );
    assert_eq!(code(&r[2]), ErrorCode::AlreadyExists);
    assert_eq!((releases(&net, a), releases(&net, b)), (1, 0));
    assert_eq!(net.audit_seq(), before + 1, "one key release audited");
    ok(&net.one("validator:node1", release(b, share_b)));
    assert_eq!(releases(&net, b), 1);
}

/// What is checked ahead of a block is bounded by what could deliver: a transaction in
/// bad shape (a request listed twice), one whose nonce does not follow its sender's, and
/// a second delivery of the same share are left to execution, which refuses them before
/// any proof is checked.
#[test]
fn key_shares_are_checked_ahead_only_for_transactions_that_could_deliver_them() {
    let mut net = Net::new();
    let cert = publish(&mut net, "P-1");
    let a = ask(&mut net, "housing", &cert, "housing_eligibility");
    ok(&net.one("validator:node1", approve_release(&[a])));
    let share = net.chain.released_share(a);
    let twice = pb::payload::Kind::Release(pb::ReleaseShares {
        approvals: vec![],
        releases: vec![
            pb::ShareRelease {
                request: a,
                encrypted_share: share.clone(),
            };
            2
        ],
    });
    let validator = "validator:node1";
    let bad_shape = net.chain.tx(validator, twice);
    let deliver = net.chain.tx(validator, release(a, share.clone()));
    let again = net.chain.tx(validator, release(a, share.clone()));
    let _skipped = net.chain.tx(validator, release(a, share.clone()));
    let gap = net.chain.tx(validator, release(a, share));
    let block = [bad_shape, deliver, again, gap];
    let verdicts = govchain_state::custody::check_ahead(&net.store, &[], &block);
    assert_eq!(
        verdicts.len(),
        1,
        "only the first delivery is checked ahead"
    );
    assert!(verdicts.values().all(Result::is_ok));
    let r = net.chain.block(&block, 5_000).unwrap().0;
    assert_eq!(code(&r[0]), ErrorCode::InvalidArgument);
    ok(&r[1]);
    assert_eq!(code(&r[2]), ErrorCode::AlreadyExists);
    assert_eq!(code(&r[3]), ErrorCode::NonceGap);
    assert_eq!(releases(&net, a), 1);
}

/// Publishes property title `number` as the registry; returns its id.
fn publish(net: &mut Net, number: &str) -> String {
    let p = net.publish_payload("property", number, ID);
    let r = net.one("real-estate", p);
    ok(&r);
    attr(&r, "certificate_published", "id").to_string()
}

/// `dept` asks to read `cert` for `purpose`; returns the request (allowed or not).
fn ask(net: &mut Net, dept: &str, cert: &str, purpose: &str) -> u64 {
    let r = net.one(dept, request(cert, purpose));
    ok(&r);
    attr(&r, "access", "request").parse().unwrap()
}

/// Shares released for request `r`.
fn releases(net: &Net, r: u64) -> usize {
    govchain_state::query::releases(&net.store, r)
        .map(|x| x.releases.len())
        .unwrap_or(0)
}

/// Bytes in the place of a share (refused before any proof is checked).
fn share() -> Vec<u8> {
    vec![1u8; govchain_custody::SHARE_LEN]
}

#[test]
fn key_shares_are_released_only_for_allowed_live_requests() {
    let mut net = Net::new();
    let cert = publish(&mut net, "P-1");
    let cert2 = publish(&mut net, "P-2");
    let allowed = ask(&mut net, "housing", &cert, "housing_eligibility");
    let denied = ask(&mut net, "tax", &cert, "tax_assessment");

    // The validator approves the allowed request: recorded, no share yet, no audit record.
    let before = net.audit_seq();
    let r = net.one("validator:node1", approve_release(&[allowed]));
    ok(&r);
    assert_eq!(attr(&r, "release_approved", "share"), "1");
    assert_eq!(releases(&net, allowed), 0);
    assert_eq!(net.audit_seq(), before);
    let approved_at = net.chain.height;
    // Its share follows: stored and audited.
    let r = net.one(
        "validator:node1",
        release(allowed, net.chain.released_share(allowed)),
    );
    ok(&r);
    assert_eq!(attr(&r, "key_released", "share"), "1");
    assert_eq!(attr(&r, "key_released", "requester"), "housing");
    let seq = net.audit_seq();
    let rec = audit::record(&net.store, seq).unwrap().unwrap();
    assert_eq!(rec.action, pb::AuditAction::KeyRelease as i32);
    assert_eq!((rec.request, rec.requester.as_str()), (allowed, "housing"));
    assert!(
        rec.reason.contains("released by validator node1")
            && rec
                .reason
                .contains(&format!("approved at height {approved_at}")),
        "{}",
        rec.reason
    );
    assert_eq!(releases(&net, allowed), 1);

    // Twice, a share for a request never approved, or an approval of a denied one:
    // refused.
    for again in [
        approve_release(&[allowed]),
        release(allowed, net.chain.released_share(allowed)),
    ] {
        assert_eq!(
            code(&net.one("validator:node1", again)),
            ErrorCode::AlreadyExists
        );
    }
    let r = net.one("validator:node1", release(denied, share()));
    assert_eq!(code(&r), ErrorCode::ReleaseRefused);
    assert!(
        r.error_message.contains("no committed approval"),
        "{}",
        r.error_message
    );
    let r = net.one("validator:node1", approve_release(&[denied]));
    assert_eq!(code(&r), ErrorCode::ReleaseRefused);
    assert!(r.error_message.contains("denied"), "{}", r.error_message);

    // A batch with one refused approval writes none of them; a share cannot ride in
    // the transaction that approves its release.
    let second = ask(&mut net, "housing", &cert2, "housing_eligibility");
    let approved = |net: &Net, r: u64| {
        net.store
            .contains(&tables::RELEASE_APPROVAL, (r, 1))
            .unwrap()
    };
    assert_eq!(
        code(&net.one("validator:node1", approve_release(&[second, denied]))),
        ErrorCode::ReleaseRefused
    );
    assert!(!approved(&net, second));
    let both = pb::payload::Kind::Release(pb::ReleaseShares {
        approvals: vec![second],
        releases: vec![pb::ShareRelease {
            request: second,
            encrypted_share: share(),
        }],
    });
    let r = net.one("validator:node1", both);
    assert_eq!(code(&r), ErrorCode::InvalidArgument);
    assert!(
        r.error_message.contains("listed twice"),
        "{}",
        r.error_message
    );
    assert!(!approved(&net, second));

    // A revocation between request and approval stops it.
    let r = net.one(
        "real-estate",
        pb::payload::Kind::Revoke(pb::Revoke {
            cert_id: cert2.clone(),
            grant_id: 0,
            reason: "sold".into(),
        }),
    );
    ok(&r);
    let r = net.one("validator:node1", approve_release(&[second]));
    assert_eq!(code(&r), ErrorCode::ReleaseRefused);
    assert!(r.error_message.contains("revoked"), "{}", r.error_message);
    assert!(!approved(&net, second));
}

#[test]
fn approvals_follow_the_grant_and_window_in_force_and_shares_their_approvals() {
    let mut net = Net::new();
    // A revoked grant: tax reads P-4 by the registry's grant, then loses the grant.
    let cert4 = publish(&mut net, "P-4");
    let grant = |net: &mut Net, cert: &str| -> u64 {
        let r = net.one(
            "real-estate",
            pb::payload::Kind::Grant(pb::GrantAccess {
                cert_id: cert.into(),
                grantee: "tax".into(),
                purpose: "tax_assessment".into(),
                until_height: 1_000,
                until_date: String::new(),
            }),
        );
        ok(&r);
        attr(&r, "grant_created", "grant").parse().unwrap()
    };
    let revoke_grant = |net: &mut Net, cert: &str, grant_id: u64| {
        ok(&net.one(
            "real-estate",
            pb::payload::Kind::Revoke(pb::Revoke {
                cert_id: cert.into(),
                grant_id,
                reason: "assessment done".into(),
            }),
        ));
    };
    let g = grant(&mut net, &cert4);
    let by_grant = ask(&mut net, "tax", &cert4, "tax_assessment");
    revoke_grant(&mut net, &cert4, g);
    let r = net.one("validator:node1", approve_release(&[by_grant]));
    assert_eq!(code(&r), ErrorCode::ReleaseRefused);
    assert!(
        r.error_message.contains(&format!("grant {g} was revoked")),
        "{}",
        r.error_message
    );
    // The approval is the decision point: a grant revoked after it is a revocation
    // after the read, and the approved share is still delivered.
    let cert5 = publish(&mut net, "P-5");
    let g5 = grant(&mut net, &cert5);
    let approved_read = ask(&mut net, "tax", &cert5, "tax_assessment");
    ok(&net.one("validator:node1", approve_release(&[approved_read])));
    revoke_grant(&mut net, &cert5, g5);
    ok(&net.one(
        "validator:node1",
        release(approved_read, net.chain.released_share(approved_read)),
    ));

    // So does the end of the release window (one hour of block time by default) stop
    // an approval, though not the share of an approval made within it.
    let cert3 = publish(&mut net, "P-3");
    let late = ask(&mut net, "housing", &cert3, "housing_eligibility");
    let in_time = ask(&mut net, "housing", &cert3, "housing_eligibility");
    ok(&net.one("validator:node1", approve_release(&[in_time])));
    net.tx("validator:node1", approve_release(&[late]));
    net.tx(
        "validator:node1",
        release(in_time, net.chain.released_share(in_time)),
    );
    let r = net.block_after(3_600_001);
    assert_eq!(code(&r[0]), ErrorCode::ReleaseRefused);
    assert!(
        r[0].error_message.contains("window"),
        "{}",
        r[0].error_message
    );
    ok(&r[1]);
    assert_eq!(releases(&net, late), 0);
}

fn compute_job(cert: &str, purpose: &str, method: &str) -> pb::payload::Kind {
    pb::payload::Kind::Compute(pb::ComputeJob {
        cert_id: cert.into(),
        purpose: purpose.into(),
        contract: "risk-model".into(),
        method: method.into(),
        args: br#"{"application":"NJB-PL-2026-000001","loan_amount_yuan":800000,"term_months":240,"annual_rate_bps":310}"#.to_vec(),
    })
}

/// Deploys the risk model (approved by the committee) and publishes a tax record: the
/// certificate the bank's jobs run over. Returns the model's code and the record's id.
fn risk_model_and_tax_record(net: &mut Net) -> (Vec<u8>, String) {
    let risk_model = artifact("risk_model");
    ok(&net.one(
        "tax",
        pb::payload::Kind::Propose(pb::Proposal {
            action: Some(pb::proposal::Action::Deploy(pb::DeployContract {
                name: "risk-model".into(),
                code: risk_model.clone(),
            })),
            description: String::new(),
            voting_period: 0,
        }),
    ));
    ok(&net.one(
        "housing",
        pb::payload::Kind::Vote(pb::Vote {
            proposal_id: 1,
            approve: true,
        }),
    ));
    let p = net.publish_payload("tax-payment", "TAX-1", ID);
    let cert = attr(&net.one("tax", p), "certificate_published", "id").to_string();
    (risk_model, cert)
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario whose steps build on each other"
)]
fn compute_jobs_are_gated_paid_audited_and_only_their_executor_posts_a_signed_result() {
    let mut net = Net::new();
    let (risk_model, cert) = risk_model_and_tax_record(&mut net);
    let title = net.publish_payload("property", "P-9", ID);
    let title = attr(
        &net.one("real-estate", title),
        "certificate_published",
        "id",
    )
    .to_string();

    // The bank may not read the tax record, but may have the approved model run over it.
    let r = net.one("bank", request(&cert, "credit_assessment"));
    assert_eq!(attr(&r, "access", "decision"), "deny");
    let before = (net.balance("bank"), net.balance("tax"));
    let r = net.one("bank", compute_job(&cert, "credit_assessment", "score"));
    ok(&r);
    assert_eq!(attr(&r, "access", "decision"), "allow");
    assert_eq!(attr(&r, "compute_requested", "executor"), "node1");
    let job: u64 = attr(&r, "access", "request").parse().unwrap();
    assert_eq!(
        (net.balance("bank"), net.balance("tax")),
        (before.0 - 3, before.1 + 3)
    );
    // The ledgers say what was paid for: a compute job, not a read.
    let last = |dept: &str| {
        let h = query::history(&net.store, dept, 0, 100).unwrap();
        let e = h.entries.last().unwrap().clone();
        (e.kind, e.delta, e.counterparty)
    };
    assert_eq!(last("bank"), ("compute".to_string(), -3, "tax".to_string()));
    assert_eq!(last("tax"), ("earn".to_string(), 3, "bank".to_string()));
    let rec = audit::record(&net.store, job).unwrap().unwrap();
    assert_eq!(rec.action, pb::AuditAction::Compute as i32);
    assert_eq!(rec.via, "contract:risk-model");
    let kept = query::releases(&net.store, job).unwrap().request;
    assert_eq!(kept.requester, "bank");
    assert_eq!(
        kept.requester_key,
        net.chain.key("validator:node1").public_key().to_sec1(),
        "key shares go to the executor, never to the bank"
    );

    // Without a compute line, for a job the contract lacks, or over a certificate whose
    // owner runs no node: refused, nothing kept.
    let r = net.one("bank", compute_job(&cert, "mortgage_review", "score"));
    assert_eq!(attr(&r, "access", "decision"), "deny");
    assert!(query::releases(&net.store, attr(&r, "access", "request").parse().unwrap()).is_err());
    let r = net.one("bank", compute_job(&cert, "credit_assessment", "steal"));
    assert_eq!(code(&r), ErrorCode::NotFound);
    assert!(
        r.error_message.contains("jobs: score"),
        "{}",
        r.error_message
    );
    let r = net.one("bank", compute_job(&title, "credit_assessment", "score"));
    assert_eq!(code(&r), ErrorCode::InvalidArgument);
    assert!(
        r.error_message.contains("runs no validator node"),
        "{}",
        r.error_message
    );

    // The result: bound to the approved code and the certified document, signed by the
    // executor's key, posted once, by the executor only.
    let output = br#"{"score":801,"band":"A"}"#.to_vec();
    let result = |code_hash: Vec<u8>, input_hash: Vec<u8>| pb::ComputeResult {
        request: job,
        output: output.clone(),
        failed: false,
        gas_used: 1_234,
        input_hash,
        code_hash,
        signature: vec![],
        output_hash: govchain_state::compute::output_commitment(&[7; 32], b"approved").to_vec(),
        state_height: 7,
    };
    let content = sm3(b"TAX-1").to_vec();
    let signed = |net: &Net, key: &str, mut r: pb::ComputeResult| {
        let d = govchain_state::compute::result_digest("local", &r);
        r.signature = net.chain.key(key).sign(&d).to_bytes().to_vec();
        pb::payload::Kind::Result(r)
    };
    let good = result(sm3(&risk_model).to_vec(), content.clone());
    let r = net.one(
        "validator:node1",
        signed(
            &net,
            "validator:node1",
            result(vec![1; 32], content.clone()),
        ),
    );
    assert_eq!(code(&r), ErrorCode::InvalidArgument);
    assert!(r.error_message.contains("code_hash"), "{}", r.error_message);
    let r = net.one(
        "validator:node1",
        signed(
            &net,
            "validator:node1",
            result(sm3(&risk_model).to_vec(), vec![2; 32]),
        ),
    );
    assert!(
        r.error_message.contains("input_hash"),
        "{}",
        r.error_message
    );
    let r = net.one("validator:node1", signed(&net, "bank", good.clone()));
    assert!(r.error_message.contains("signature"), "{}", r.error_message);
    let r = net.one("tax", signed(&net, "validator:node1", good.clone()));
    assert_eq!(code(&r), ErrorCode::Unauthorized);
    assert!(
        govchain_state::query::releases(&net.store, job)
            .unwrap()
            .result
            .is_none()
    );
    let r = net.one(
        "validator:node1",
        signed(&net, "validator:node1", good.clone()),
    );
    ok(&r);
    assert_eq!(attr(&r, "compute_result", "status"), "ok");
    let stored = query::releases(&net.store, job).unwrap().result.unwrap();
    assert_eq!(
        (stored.executor.as_str(), stored.result.unwrap().output),
        ("node1", output)
    );
    let seq = net.audit_seq();
    let rec = audit::record(&net.store, seq).unwrap().unwrap();
    assert_eq!(
        (rec.action, rec.request),
        (pb::AuditAction::ComputeResult as i32, job)
    );
    let r = net.one("validator:node1", signed(&net, "validator:node1", good));
    assert_eq!(code(&r), ErrorCode::AlreadyExists);

    // Three jobs per department and citizen in a 30-day period: enough for an
    // application, too few to probe the model's answers for the data.
    for _ in 0..2 {
        ok(&net.one("bank", compute_job(&cert, "credit_assessment", "score")));
    }
    let r = net.one("bank", compute_job(&cert, "credit_assessment", "score"));
    assert_eq!(code(&r), ErrorCode::InvalidArgument);
    assert!(
        r.error_message.contains("the most it may (3)"),
        "{}",
        r.error_message
    );
    net.block_after(30 * DAY);
    ok(&net.one("bank", compute_job(&cert, "credit_assessment", "score")));
}

/// The package folder, as cargo says when it runs this test (not as compiled: a shared
/// target folder may hold a binary built in another checkout).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("tests run under cargo")
}

/// A job budget is the citizen's, not a certificate's: another tax record of the same
/// citizen does not open a new one (a bank could otherwise probe through each of them),
/// a new day does not either, and a refusal writes no counter, payment or audit record.
#[test]
fn a_job_budget_is_per_citizen_and_period() {
    let mut net = Net::new();
    let (_, cert) = risk_model_and_tax_record(&mut net);
    let p = net.publish_payload("tax-payment", "TAX-2", ID);
    let other = attr(&net.one("tax", p), "certificate_published", "id").to_string();
    let used_up = |r: &pb::Receipt| {
        code(r) == ErrorCode::InvalidArgument && r.error_message.contains("the most it may (3)")
    };
    for _ in 0..3 {
        ok(&net.one("bank", compute_job(&cert, "credit_assessment", "score")));
    }
    assert!(used_up(
        &net.one("bank", compute_job(&other, "credit_assessment", "score"))
    ));
    net.block_after(DAY);
    let audit_before = net.audit_seq();
    let bank = net.balance("bank");
    assert!(used_up(
        &net.one("bank", compute_job(&cert, "credit_assessment", "score"))
    ));
    assert_eq!((net.audit_seq(), net.balance("bank")), (audit_before, bank));
    // Another department has a budget of its own (the policy lets only the bank run
    // the model, so it is refused by the gate, not by the budget).
    let r = net.one("housing", compute_job(&other, "credit_assessment", "score"));
    assert!(!used_up(&r), "{}", r.error_message);
}
