//! `custody status`: the validators' custody key generation or resharing
//! (docs/design/threshold-sm2.md), its round and phase, who has dealt, complained and
//! answered, and the key set in force.

use clap::Subcommand;
use govchain_client::rpc::*;
use govchain_client::{Client, ClientError};
use govchain_node::output::{emit, table};
use serde_json::json;

use crate::client::SignArgs;

/// Custody commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CustodyCmd {
    /// Key generation: round, phase, each holder's steps, and the key once generated.
    Status {
        #[command(flatten)]
        sign: SignArgs,
    },
}

fn phase(p: i32) -> &'static str {
    govchain_state::keygen::phase_name(KeygenPhase::try_from(p).unwrap_or_default())
}

pub(crate) async fn custody(
    endpoint: &str,
    home: &std::path::Path,
    cmd: CustodyCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    let CustodyCmd::Status { sign } = cmd;
    let client = Client::connect(endpoint).await?;
    let request = sign.read(
        home,
        &client,
        "/govchain.v1.Certificates/GetKeygen",
        GetKeygenRequest {},
    )?;
    let r = client
        .certificates()
        .get_keygen(request)
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let Some(st) = r.state.clone() else {
        anyhow::bail!("this chain has no custody (genesis `custody`)");
    };
    let dealers = govchain_state::keygen::dealers(&st);
    let mut numbers: Vec<u32> = dealers.iter().chain(&st.holders).copied().collect();
    numbers.sort_unstable();
    numbers.dedup();
    let resharing = !st.dealers.is_empty();
    let holders: Vec<serde_json::Value> = numbers
        .iter()
        .map(|&n| {
            let deal = r.deals.iter().find(|d| d.dealer == n);
            let complaints = r.complaints.iter().find(|c| c.holder == n);
            json!({
                "share": n,
                "role": match (dealers.contains(&n), st.holders.contains(&n)) {
                    (true, true) => "deals, receives",
                    (true, false) => "deals",
                    _ => "receives",
                },
                "validator": deal.map(|d| d.validator.clone()),
                "dealt_at": deal.map(|d| d.height),
                "complained_against": complaints.map(|c| c.against.clone()),
                "answered": r.answers.iter().filter(|a| a.dealer == n).map(|a| a.holder).collect::<Vec<_>>(),
            })
        })
        .collect();
    let value = json!({
        "kind": if resharing { "resharing" } else { "key generation" },
        "round": st.round,
        "phase": phase(st.phase),
        "threshold": st.threshold,
        "phase_opened_ms": st.phase_time_ms,
        "phase_ms": st.phase_ms,
        "tip_time_ms": r.tip_time_ms,
        "holders": holders,
        "public_key": r.custody.as_ref().map(|c| hex::encode(&c.public_key_set[..65.min(c.public_key_set.len())])),
        "key_round": r.custody.as_ref().map(|c| c.round),
        "generated_at": r.custody.as_ref().map(|c| c.height),
        "qualified": r.custody.as_ref().map(|c| c.qualified.clone()),
        "key_holders": r.custody.as_ref().map(govchain_state::keygen::set_holders),
    });
    emit(json_out, &value, || {
        let mut t = table(&["share", "role", "dealt", "complained against", "answered"]);
        for h in &holders {
            let list = |v: &serde_json::Value| match v.as_array() {
                Some(a) if !a.is_empty() => a
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(_) => "none".into(),
                None => "-".into(),
            };
            t.add_row([
                h["share"].to_string(),
                h["role"].as_str().unwrap_or_default().to_string(),
                match (&h["validator"], &h["dealt_at"]) {
                    (serde_json::Value::String(v), at) => format!("{v} at {at}"),
                    _ => "-".into(),
                },
                list(&h["complained_against"]),
                list(&h["answered"]),
            ]);
        }
        println!("{t}");
        if let Some(c) = &r.custody {
            println!(
                "custody key set of round {} ({} at height {} by dealers {:?}): {} of holders {:?} open a data key",
                c.round,
                if c.reshared { "reshared" } else { "generated" },
                c.height,
                c.qualified,
                c.threshold,
                govchain_state::keygen::set_holders(c)
            );
        }
        if st.phase != KeygenPhase::KeygenDone as i32 {
            println!(
                "{} round {}, {} phase{}: holders {:?} deal to {:?}, {} needed{}",
                if resharing {
                    "resharing"
                } else {
                    "key generation"
                },
                st.round,
                phase(st.phase),
                if st.phase_time_ms == 0 {
                    String::new()
                } else {
                    format!(", open until block time {}", st.phase_time_ms + st.phase_ms)
                },
                dealers,
                st.holders,
                st.threshold,
                if r.custody.is_some() {
                    "; the key set above stays in force until it ends"
                } else {
                    ""
                }
            );
        }
    });
    Ok(())
}
