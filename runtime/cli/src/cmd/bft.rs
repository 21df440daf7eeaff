//! The BFT engine's health, as `govchain status` shows it: the height and round the node
//! is at, how many rounds its decisions took, and whether each peer answers.

use govchain_client::rpc::BftHealth;
use govchain_node::output::{table, time_ms};
use serde_json::{Value, json};

/// The status report's `bft` object (null on a solo node).
pub(super) fn status_json(h: Option<&BftHealth>) -> Value {
    let Some(h) = h else {
        return Value::Null;
    };
    json!({
        "height": h.height,
        "round": h.round,
        "decided": h.decided,
        "extra_rounds": h.extra_rounds,
        "last_decided_round": h.last_decided_round,
        "resumed_entries": h.resumed_entries,
        "peers": h.peers.iter().map(|p| json!({
            "id": p.id, "addr": p.addr, "reachable": p.reachable, "since_ms": p.since_ms,
            "error": p.error, "height": p.height,
        })).collect::<Vec<_>>(),
    })
}

/// The status report's consensus lines and peer table.
pub(super) fn print_status(h: Option<&BftHealth>) {
    let Some(h) = h else {
        return;
    };
    println!(
        "consensus: deciding height {} in round {}; {} height(s) decided since start, {} round(s) beyond the first (the last in round {}){}",
        h.height,
        h.round,
        h.decided,
        h.extra_rounds,
        h.last_decided_round,
        if h.resumed_entries > 0 {
            format!(
                "; resumed from {} write-ahead log entries",
                h.resumed_entries
            )
        } else {
            String::new()
        }
    );
    let mut t = table(&[
        "peer",
        "address",
        "reachable",
        "since",
        "seen at height",
        "error",
    ]);
    for p in &h.peers {
        t.add_row([
            p.id.clone(),
            p.addr.clone(),
            match p.reachable {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "not tried",
            }
            .into(),
            if p.since_ms == 0 {
                "-".into()
            } else {
                time_ms(p.since_ms)
            },
            p.height.to_string(),
            p.error.clone(),
        ]);
    }
    println!("{t}");
}
