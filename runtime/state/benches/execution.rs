//! Micro-benchmarks of execution (`cargo bench -p govchain-state`; figures in
//! docs/performance.md): access-gate decisions in committed blocks, contract calls through
//! the real runtime and host, and the store's atomic block commit.
//!
//! The contract benchmarks load `contracts/artifacts/bench.wasm`, which
//! `scripts/build-contracts.sh` builds (the test command runs it first).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use govchain_crypto::sm3;
use govchain_state::VerifiedTx;
use govchain_state::genesis::nanjing_access;
use govchain_state::local::{CallBench, LocalChain};
use govchain_store::{BlockCommit, Store};
use govchain_types::pb;

const CERTS: usize = 100;
const PER_BLOCK: usize = 100;

/// A chain with `CERTS` property titles and readers rich enough never to run out.
fn chain(dir: &std::path::Path) -> (LocalChain, Vec<String>) {
    let mut access = nanjing_access();
    access.initial_points = 1_000_000_000_000;
    let store = govchain_store::Store::open(dir, false).unwrap();
    let mut c = LocalChain::nanjing(store, 1_795_392_000_000, [1; 32], access).unwrap();
    let mut ids = Vec::new();
    let txs: Vec<VerifiedTx> = (0..CERTS)
        .map(|i| {
            let (id, tx) = c.property_title(
                &format!("苏(2024)南京市不动产权第{i:07}号"),
                sm3(format!("citizen {i}").as_bytes()),
            );
            ids.push(id);
            tx
        })
        .collect();
    let (receipts, _) = c.block(&txs, 1_000).unwrap();
    assert!(receipts.iter().all(|r| r.status == pb::TxStatus::Ok as i32));
    (c, ids)
}

fn gate(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (mut chain, ids) = chain(dir.path());
    let mut k = 0usize;
    c.bench_function(
        "gate: one read in a block of 100 (execute + commit, no fsync)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(PER_BLOCK);
                    let txs: Vec<VerifiedTx> = (0..n)
                        .map(|_| {
                            k += 1;
                            let (who, purpose) = if k.is_multiple_of(2) {
                                ("housing", "housing_eligibility")
                            } else {
                                ("bank", "mortgage_review")
                            };
                            chain.tx(
                                who,
                                pb::payload::Kind::Request(pb::RequestAccess {
                                    cert_id: ids[k % CERTS].clone(),
                                    purpose: purpose.into(),
                                }),
                            )
                        })
                        .collect();
                    let t = Instant::now();
                    chain.block(&txs, 1_000).unwrap();
                    total += t.elapsed();
                    left -= n;
                }
                total
            })
        },
    );
}

fn contract(c: &mut Criterion) {
    // As cargo says when it runs this bench (a shared target folder may hold a binary
    // built in another checkout).
    let path = format!(
        "{}/../../contracts/artifacts/bench.wasm",
        std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")
    );
    let code = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (build it with scripts/build-contracts.sh)"));
    let dir = tempfile::tempdir().unwrap();
    let (chain, ids) = chain(dir.path());
    let read = serde_json::to_vec(&serde_json::json!({
        "cert_id": ids[0], "purpose": "housing_eligibility",
    }))
    .unwrap();
    let mut bench = CallBench::new(&chain, &code, "housing").unwrap();
    let mut call = |method: &str, input: &[u8], gated: bool| {
        bench.call(method, input, gated).unwrap();
    };
    c.bench_function("contract: empty call (instantiate + call)", |b| {
        b.iter(|| call("noop", b"", false))
    });
    c.bench_function(
        "contract: call reading a certificate through the gate",
        |b| b.iter(|| call("read", &read, true)),
    );
}

fn store(c: &mut Criterion) {
    for sync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), sync).unwrap());
        let mut height = 0u64;
        let name = format!(
            "store: commit a block of 100 state writes + 100 receipts (fsync {})",
            if sync { "on" } else { "off" }
        );
        c.bench_function(&name, |b| {
            b.iter(|| {
                let state: BTreeMap<Vec<u8>, Option<Vec<u8>>> = (0..100u64)
                    .map(|i| {
                        (
                            format!("bench/{height}/{i}").into_bytes(),
                            Some(vec![1u8; 120]),
                        )
                    })
                    .collect();
                store
                    .commit_block(BlockCommit {
                        height,
                        hash: sm3(&height.to_be_bytes()),
                        block: vec![0; 2_000],
                        txs: (0..100u64)
                            .map(|i| (sm3(&(height * 1_000 + i).to_be_bytes()), vec![2; 80]))
                            .collect(),
                        state,
                        index: vec![],
                        meta: vec![],
                    })
                    .unwrap();
                height += 1;
            })
        });
    }
}

/// The access request an allowed read's receipt names.
fn request_of(r: &pb::Receipt) -> u64 {
    let e = r
        .events
        .iter()
        .find(|e| e.kind == "access")
        .expect("an access event");
    let a = e
        .attributes
        .iter()
        .find(|a| a.key == "request")
        .expect("its request");
    a.value.parse().unwrap()
}

/// What a validator's custodian posts once its approvals committed: one `ReleaseShares`
/// of `PER_BLOCK` shares for allowed reads, executed and committed (each share's proof,
/// the release records and one audit record per share; the approvals are not timed).
fn release(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (mut chain, ids) = chain(dir.path());
    let mut k = 0usize;
    c.bench_function(
        "custody: one share in a release of 100 (execute + commit, no fsync)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(PER_BLOCK);
                    let reads: Vec<VerifiedTx> = (0..n)
                        .map(|_| {
                            k += 1;
                            chain.tx(
                                "housing",
                                pb::payload::Kind::Request(pb::RequestAccess {
                                    cert_id: ids[k % CERTS].clone(),
                                    purpose: "housing_eligibility".into(),
                                }),
                            )
                        })
                        .collect();
                    let (receipts, _) = chain.block(&reads, 1_000).unwrap();
                    let requests: Vec<u64> = receipts.iter().map(request_of).collect();
                    let approve = chain.tx(
                        "validator:node1",
                        pb::payload::Kind::Release(pb::ReleaseShares {
                            approvals: requests.clone(),
                            releases: vec![],
                        }),
                    );
                    let (r, _) = chain.block(&[approve], 1_000).unwrap();
                    assert_eq!(
                        r[0].status,
                        pb::TxStatus::Ok as i32,
                        "{}",
                        r[0].error_message
                    );
                    let releases = requests
                        .iter()
                        .map(|&request| pb::ShareRelease {
                            request,
                            encrypted_share: chain.released_share(request),
                        })
                        .collect();
                    let tx = chain.tx(
                        "validator:node1",
                        pb::payload::Kind::Release(pb::ReleaseShares {
                            approvals: vec![],
                            releases,
                        }),
                    );
                    let t = Instant::now();
                    let (r, _) = chain.block(&[tx], 1_000).unwrap();
                    total += t.elapsed();
                    assert_eq!(
                        r[0].status,
                        pb::TxStatus::Ok as i32,
                        "{}",
                        r[0].error_message
                    );
                    left -= n;
                }
                total
            })
        },
    );
}

criterion_group!(benches, gate, release, contract, store);
criterion_main!(benches);
