//! The golden test of the demo: it runs the demo's own script (`script/`: contract
//! deployment by governance, housing eligibility, compute-to-data, the sharing
//! incentive, the audit trail) on an in-process chain with fixed keys, chain salt,
//! custody key set, clock and randomness (`replay.rs`), and pins every block (height,
//! hash, state root, audit root and count, SM3 of its transaction hashes and of its
//! encoded receipts), every exported audit trail and the secondary indexes in
//! `runtime/demo/tests/golden/scenarios.txt`. Any change to what the scenarios write
//! on chain, byte for byte, fails it, naming the first block that differs.
//!
//! After an intended change, re-pin with
//! `GOVCHAIN_BLESS=1 cargo test -p govchain-demo golden` and review the diff of the file.
//!
//! The chain is the node's own core (`govchain_consensus::Chain`: admission with SM2
//! verification, execution, sealing, commit), driven one block per step: where the
//! demo sends one transaction and waits, one block; where it sends a batch, one block
//! per batch (of at most 500). The validator's key-share custodian and job runner
//! (`custodian.rs`, `jobs.rs`) run their scans, with seeded randomness, where the
//! script waits for them, and their transactions form the next block.

mod replay;

use std::path::PathBuf;

use replay::Replay;

use crate::script::{CONTRACTS, Script};

/// The pinned lines, checked into the repository.
fn golden_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/scenarios.txt")
}

/// The header of the golden file.
const HEADER: &str = "\
# Golden record of the three demo scenarios (runtime/demo/src/golden/): one line per
# block (height, step, block hash, state root, audit root/count, SM3 of the block's
# transaction hashes and of its encoded receipts), after one per contract artifact
# deployed (contracts/artifacts) and before one per exported audit trail (by subject)
# and one for the secondary indexes (points ledgers, audit and certificate indexes).
# Written by the test, never by hand. After an intended change, re-pin with
#   GOVCHAIN_BLESS=1 cargo test -p govchain-demo golden
# and review the diff.
";

/// The demo's contracts, built (`scripts/build-contracts.sh`).
fn contracts() -> Vec<(&'static str, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/artifacts");
    CONTRACTS
        .iter()
        .map(|(name, file)| {
            let p = dir.join(file);
            let code = std::fs::read(&p).unwrap_or_else(|e| {
                panic!(
                    "reading {}: {e} (build the contracts with scripts/build-contracts.sh)",
                    p.display()
                )
            });
            (*name, code)
        })
        .collect()
}

/// Runs the demo's script on a fresh chain and returns the pinned lines.
fn run_scenarios() -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let code = contracts();
    let mut script = Script::new(Replay::new(), true);
    for (name, wasm) in &code {
        let hash = hex::encode(govchain_crypto::sm3(wasm));
        script
            .d
            .lines
            .push(format!("contract {name} bytes={} sm3={hash}", wasm.len()));
    }
    if let Err(e) = rt.block_on(async {
        script.d.generate_key().await?;
        script.all(&code).await
    }) {
        panic!("the demo's script failed on the replay: {e:#}");
    }
    let index = index_line(&script.d);
    let mut lines = script.d.lines;
    lines.push(index);
    lines
}

/// The secondary indexes execution wrote (points ledgers, audit and certificate
/// indexes), which no root covers: their entry count and an SM3 over every entry in key
/// order.
fn index_line(net: &Replay) -> String {
    let mut hash = Vec::new();
    let mut entries = 0;
    for kv in net
        .chain
        .store()
        .scan_prefix(govchain_store::Column::Index, Vec::new(), None)
    {
        let (k, v) = kv.expect("reading the index column");
        for part in [&k, &v] {
            hash.extend_from_slice(&(part.len() as u64).to_be_bytes());
            hash.extend_from_slice(part);
        }
        entries += 1;
    }
    format!(
        "index entries={entries} sm3={}",
        hex::encode(govchain_crypto::sm3(&hash))
    )
}

/// The first difference between the golden file's `text` and the `actual` lines, with
/// its line number in the file and the fields that differ.
fn first_difference(text: &str, actual: &[String]) -> Option<String> {
    let expected: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    let n = expected.len().max(actual.len());
    let i = (0..n).find(|&i| expected.get(i).map(|e| e.1) != actual.get(i).map(String::as_str))?;
    let line = expected.get(i).map_or(text.lines().count() + 1, |e| e.0);
    let want = expected.get(i).map_or("(none)", |e| e.1);
    let got = actual.get(i).map_or("(none)", String::as_str);
    let fields = |l: &str| -> Vec<String> { l.split(' ').map(str::to_string).collect() };
    let (w, g) = (fields(want), fields(got));
    let differing: Vec<&str> = w
        .iter()
        .zip(&g)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.split('=').next().unwrap_or(a))
        .collect();
    let hint = if want.starts_with("contract ") || got.starts_with("contract ") {
        "\nThe contract artifacts differ from the pinned ones: build them with scripts/build-contracts.sh (its pinned toolchain), or re-pin if their sources changed on purpose."
    } else {
        ""
    };
    Some(format!(
        "first difference at line {line} of the golden file (fields: {}):\n  expected: {want}\n  actual:   {got}{hint}",
        differing.join(", ")
    ))
}

/// The demo's scenarios write exactly the pinned bytes, and twice the same.
///
/// Compares every block (and audit trail) with `tests/golden/scenarios.txt` and names
/// the first that differs. `GOVCHAIN_BLESS=1` rewrites the file instead (then review
/// its diff). Two runs, each on a fresh store, must also agree with each other.
#[test]
fn golden_scenarios_pin_every_block() {
    let runs: Vec<Vec<String>> = std::thread::scope(|s| {
        let a = s.spawn(run_scenarios);
        let b = s.spawn(run_scenarios);
        [a, b]
            .into_iter()
            .map(|h| h.join().expect("a scenario run panicked"))
            .collect()
    });
    let (first, second) = (&runs[0], &runs[1]);
    if let Some(i) = (0..first.len().max(second.len())).find(|&i| first.get(i) != second.get(i)) {
        panic!(
            "two runs on fresh stores differ (the replay is not deterministic) at pinned line {}:\n  first:  {}\n  second: {}",
            i + 1,
            first.get(i).map_or("(none)", String::as_str),
            second.get(i).map_or("(none)", String::as_str)
        );
    }
    let path = golden_file();
    if std::env::var_os("GOVCHAIN_BLESS").is_some_and(|v| v == "1") {
        let mut text = HEADER.to_string();
        for l in first {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("golden folder");
        std::fs::write(&path, text).expect("writing the golden file");
        eprintln!("blessed {} ({} lines)", path.display(), first.len());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e} (write it with GOVCHAIN_BLESS=1 cargo test -p govchain-demo golden)",
            path.display()
        )
    });
    if let Some(diff) = first_difference(&text, first) {
        panic!(
            "the scenarios no longer write the pinned bytes ({}): {diff}\nIf the change is intended: GOVCHAIN_BLESS=1 cargo test -p govchain-demo golden, and review the diff.",
            path.display()
        );
    }
}
