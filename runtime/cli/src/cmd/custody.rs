//! `custody status`: the validators' custody key generation (docs/design/threshold-sm2.md),
//! its round and phase, who has dealt, complained and answered, and the key once made.

use clap::Subcommand;
use govchain_client::rpc::*;
use govchain_client::{Client, ClientError};
use govchain_node::output::{emit, table};
use serde_json::json;

/// Custody commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CustodyCmd {
    /// Key generation: round, phase, each holder's steps, and the key once generated.
    Status,
}

fn phase(p: i32) -> &'static str {
    govchain_state::keygen::phase_name(KeygenPhase::try_from(p).unwrap_or_default())
}

pub(crate) async fn custody(endpoint: &str, cmd: CustodyCmd, json_out: bool) -> anyhow::Result<()> {
    let CustodyCmd::Status = cmd;
    let r = Client::connect(endpoint)
        .await?
        .certificates()
        .get_keygen(GetKeygenRequest {})
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let Some(st) = r.state.clone() else {
        anyhow::bail!("this chain has no custody (genesis `custody`)");
    };
    let holders: Vec<serde_json::Value> = st
        .holders
        .iter()
        .map(|&n| {
            let deal = r.deals.iter().find(|d| d.dealer == n);
            let complaints = r.complaints.iter().find(|c| c.holder == n);
            json!({
                "share": n,
                "validator": deal.map(|d| d.validator.clone()),
                "dealt_at": deal.map(|d| d.height),
                "complained_against": complaints.map(|c| c.against.clone()),
                "answered": r.answers.iter().filter(|a| a.dealer == n).map(|a| a.holder).collect::<Vec<_>>(),
            })
        })
        .collect();
    let value = json!({
        "round": st.round,
        "phase": phase(st.phase),
        "threshold": st.threshold,
        "phase_opened_ms": st.phase_time_ms,
        "phase_ms": st.phase_ms,
        "tip_time_ms": r.tip_time_ms,
        "holders": holders,
        "public_key": r.custody.as_ref().map(|c| hex::encode(&c.public_key_set[..65.min(c.public_key_set.len())])),
        "generated_at": r.custody.as_ref().map(|c| c.height),
        "qualified": r.custody.as_ref().map(|c| c.qualified.clone()),
    });
    emit(json_out, &value, || {
        let mut t = table(&["share", "dealt", "complained against", "answered"]);
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
                match (&h["validator"], &h["dealt_at"]) {
                    (serde_json::Value::String(v), at) => format!("{v} at {at}"),
                    _ => "-".into(),
                },
                list(&h["complained_against"]),
                list(&h["answered"]),
            ]);
        }
        println!("{t}");
        match &r.custody {
            Some(c) => println!(
                "custody key generated in round {} at height {} by dealers {:?}: {} of {} shares open a data key",
                c.round,
                c.height,
                c.qualified,
                c.threshold,
                st.holders.len()
            ),
            None => println!(
                "round {}, {} phase{}: {} of {} holders needed",
                st.round,
                phase(st.phase),
                if st.phase_time_ms == 0 {
                    String::new()
                } else {
                    format!(", open until block time {}", st.phase_time_ms + st.phase_ms)
                },
                st.threshold,
                st.holders.len()
            ),
        }
    });
    Ok(())
}
