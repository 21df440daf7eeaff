//! `govchain bench --kind gate`: access-gate decisions per second (policy + points +
//! audit record, executed in blocks and committed to RocksDB) and audit query latency
//! over the records it made.
//!
//! Transactions are built already admitted (their SM2 signatures are what `--kind chain`
//! measures), so the figure is the gate's own cost inside block execution: the casbin
//! check, grants, the points transfer, the audit record with its indexes and Merkle root,
//! and the atomic commit.

use std::time::{Duration, Instant};

use govchain_crypto::sm3;
use govchain_node::output::progress;
use govchain_node::output::{emit, table};
use govchain_state::VerifiedTx;
use govchain_state::access::audit;
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_types::pb;
use serde_json::json;

use crate::{BenchArgs, percentile};

const SUBJECTS: usize = 2_000;

/// Executes and commits one block; fails if any transaction failed.
fn block(chain: &mut LocalChain, txs: &[VerifiedTx]) -> anyhow::Result<(Duration, Duration)> {
    let (receipts, t) = chain.block(txs, 1_000)?;
    if let Some(r) = receipts
        .iter()
        .find(|r| r.status != pb::TxStatus::Ok as i32)
    {
        anyhow::bail!("bench transaction failed: {}", r.error_message);
    }
    let requests = txs
        .iter()
        .filter(|t| {
            matches!(
                t.body.payload.as_ref().and_then(|p| p.kind.as_ref()),
                Some(pb::payload::Kind::Request(_))
            )
        })
        .count();
    let decisions = receipts
        .iter()
        .filter(|r| r.events.iter().any(|e| e.kind == "access"))
        .count();
    anyhow::ensure!(
        decisions == requests,
        "every request must leave one gate decision"
    );
    Ok((t.execute, t.commit))
}

/// Deterministic pseudo-random numbers (SplitMix64) for a repeatable workload.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn subject(i: usize) -> [u8; 32] {
    sm3(format!("citizen-{i}").as_bytes())
}

#[expect(
    clippy::too_many_lines,
    reason = "one benchmark's setup, runs and report in sequence"
)]
pub(crate) fn run(args: &BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let records = args.txs;
    let per_block = args.batch.max(1);
    let dir = tempfile::tempdir()?;
    let mut access = nanjing_access();
    access.initial_points = 1_000_000_000_000;
    access
        .policy
        .push("p, tax, property, read, tax_assessment, allow".into());
    let mut b = LocalChain::nanjing(
        govchain_store::Store::open(dir.path(), !args.no_sync)?,
        1_795_392_000_000,
        [1; 32],
        access,
    )?;
    let first_time = b.time_ms;
    let store = b.store.clone();

    // One property deed per citizen, published by the registry.
    let mut certs_ids = Vec::with_capacity(SUBJECTS);
    for chunk in (0..SUBJECTS).collect::<Vec<_>>().chunks(1_000) {
        let txs: Vec<VerifiedTx> = chunk
            .iter()
            .map(|&i| {
                let (id, tx) =
                    b.property_title(&format!("苏(2024)南京市不动产权第{i:07}号"), subject(i));
                certs_ids.push(id);
                tx
            })
            .collect();
        block(&mut b, &txs)?;
    }

    // Requests: allowed by role (housing, bank), by a line (tax), denied (civil-affairs).
    let who = [
        ("housing", "housing_eligibility"),
        ("bank", "mortgage_review"),
        ("tax", "tax_assessment"),
        ("civil-affairs", "tax_assessment"),
    ];
    let bar = if json_out {
        indicatif::ProgressBar::hidden()
    } else {
        progress(records as u64, "decisions")
    };
    let (mut exec_time, mut commit_time) = (Duration::ZERO, Duration::ZERO);
    let mut made = 0usize;
    let mut i = 0u64;
    while made < records {
        let n = per_block.min(records - made);
        let txs: Vec<VerifiedTx> = (0..n)
            .map(|_| {
                i += 1;
                let (dept, purpose) = who[(mix(i) % 4) as usize];
                let cert = &certs_ids[(mix(i ^ 0xA5A5) % SUBJECTS as u64) as usize];
                b.tx(
                    dept,
                    pb::payload::Kind::Request(pb::RequestAccess {
                        cert_id: cert.clone(),
                        purpose: purpose.into(),
                    }),
                )
            })
            .collect();
        let (e, c) = block(&mut b, &txs)?;
        exec_time += e;
        commit_time += c;
        made += n;
        bar.set_position(made as u64);
    }
    bar.finish_and_clear();
    let total = exec_time + commit_time;
    let per_sec = records as f64 / total.as_secs_f64();

    // Audit queries over what was made.
    let last_time = b.time_ms;
    type Query<'a> = (&'a str, Box<dyn Fn(u64) -> pb::AuditQuery + 'a>);
    let queries: Vec<Query> = vec![
        (
            "by subject (one citizen)",
            Box::new(|k| pb::AuditQuery {
                subject_id: subject((mix(k) % SUBJECTS as u64) as usize).to_vec(),
                ..Default::default()
            }),
        ),
        (
            "by certificate",
            Box::new(|k| pb::AuditQuery {
                cert_id: certs_ids[(mix(k) % SUBJECTS as u64) as usize].clone(),
                ..Default::default()
            }),
        ),
        (
            "by requester, page of 100",
            Box::new(|k| pb::AuditQuery {
                requester: who[(k % 4) as usize].0.into(),
                after: mix(k) % records as u64,
                ..Default::default()
            }),
        ),
        (
            "a department's own (requester or owner), page of 100",
            Box::new(|k| pb::AuditQuery {
                party: who[(k % 4) as usize].0.into(),
                after: mix(k) % records as u64,
                ..Default::default()
            }),
        ),
        (
            "denials of a requester",
            Box::new(|k| pb::AuditQuery {
                requester: "civil-affairs".into(),
                decision: pb::Decision::Deny as i32,
                after: mix(k) % records as u64,
                ..Default::default()
            }),
        ),
        (
            "time window of 10 s",
            Box::new(move |k| {
                let from = first_time + 1_000 + mix(k) % (last_time - first_time).max(1);
                pb::AuditQuery {
                    from_ms: from,
                    to_ms: from + 10_000,
                    ..Default::default()
                }
            }),
        ),
        (
            "subject + requester",
            Box::new(|k| pb::AuditQuery {
                subject_id: subject((mix(k) % SUBJECTS as u64) as usize).to_vec(),
                requester: "housing".into(),
                ..Default::default()
            }),
        ),
    ];
    let mut rows = Vec::new();
    for (name, q) in &queries {
        let mut times = Vec::with_capacity(200);
        let mut found = 0usize;
        for k in 0..200u64 {
            let query = q(k);
            let t = Instant::now();
            let page = audit::query(&store, &query, audit::MAX_QUERY)?;
            times.push(t.elapsed());
            found += page.records.len();
        }
        times.sort();
        rows.push((
            *name,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            found / 200,
        ));
    }
    let value = json!({
        "kind": "gate",
        "records": records,
        "per_block": per_block,
        "sync": !args.no_sync,
        "decisions_per_sec": per_sec,
        "execute_secs": exec_time.as_secs_f64(),
        "commit_secs": commit_time.as_secs_f64(),
        "queries": rows.iter().map(|(n, p50, p99, avg)| json!({
            "query": n, "p50_us": p50.as_micros(), "p99_us": p99.as_micros(), "records_per_page": avg,
        })).collect::<Vec<_>>(),
    });
    emit(json_out, &value, || {
        println!(
            "{records} gate decisions (policy + points + audit record) in blocks of {per_block}, fsync {}:",
            if args.no_sync { "off" } else { "on" }
        );
        println!(
            "  {per_sec:.0} decisions/s (execute {:.2} s + commit {:.2} s)",
            exec_time.as_secs_f64(),
            commit_time.as_secs_f64()
        );
        let mut t = table(&[
            "audit query over the records above",
            "p50",
            "p99",
            "records/page",
        ]);
        for (n, p50, p99, avg) in &rows {
            t.add_row([
                n.to_string(),
                format!("{p50:.2?}"),
                format!("{p99:.2?}"),
                avg.to_string(),
            ]);
        }
        println!("{t}");
    });
    Ok(())
}
