//! `points …`: balances, supply and a department's ledger.

use std::path::Path;

use clap::Subcommand;
use govchain_client::rpc::*;
use govchain_client::{Client, ClientError};
use govchain_node::output::{emit, table, time_ms};
use serde_json::json;

use crate::client::SignArgs;

/// Points commands.
#[derive(Debug, Subcommand)]
pub(crate) enum PointsCmd {
    /// Balances (all departments unless --dept) and the supply.
    Balance {
        /// One department.
        #[arg(long)]
        dept: Option<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// A department's points ledger: a signed read, as the department itself (the
    /// default: its key from `<home>/keys`) or the auditor (`--as supervision`).
    History {
        /// Department.
        #[arg(long)]
        dept: String,
        #[command(flatten)]
        sign: SignArgs,
        /// Entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

pub(crate) async fn points(
    endpoint: &str,
    home: &Path,
    cmd: PointsCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    let client = Client::connect(endpoint).await?;
    let mut c = client.points();
    match cmd {
        PointsCmd::Balance { dept, sign } => {
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Points/GetBalances",
                GetBalancesRequest {
                    department: dept.unwrap_or_default(),
                },
            )?;
            let r = c
                .get_balances(request)
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let p = r.params.unwrap_or_default();
            let value = json!({
                "height": r.height,
                "balances": r.balances.iter().map(|b| (b.department.clone(), json!(b.balance))).collect::<serde_json::Map<_, _>>(),
                "genesis": r.genesis, "minted": r.minted, "burned": r.burned,
                "free_reads_per_period": p.free_reads_per_period, "period_ms": p.period_ms,
                "reward_cap_per_period": p.reward_cap_per_period,
            });
            emit(json_out, &value, || {
                let mut t = table(&["department", "points"]);
                for b in &r.balances {
                    t.add_row([b.department.clone(), b.balance.to_string()]);
                }
                println!("{t}");
                println!(
                    "supply at height {}: genesis {} + minted {} - burned {} = {}",
                    r.height,
                    r.genesis,
                    r.minted,
                    r.burned,
                    r.genesis + r.minted - r.burned
                );
            });
            Ok(())
        }
        PointsCmd::History {
            dept,
            mut sign,
            after,
            limit,
        } => {
            if sign.as_dept.is_none() && sign.key.is_none() {
                sign.as_dept = Some(dept.clone());
            }
            let request = client.signed(
                &sign.signer(home)?,
                "/govchain.v1.Points/GetHistory",
                GetHistoryRequest {
                    department: dept,
                    after,
                    limit,
                },
            )?;
            let r = c
                .get_history(request)
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let value = json!({"entries": r.entries.iter().map(|e| json!({
                "seq": e.seq, "height": e.height, "time_ms": e.time_ms, "delta": e.delta, "balance": e.balance,
                "kind": e.kind, "counterparty": e.counterparty, "audit_seq": e.audit_seq, "note": e.note,
                "tx_hash": hex::encode(&e.tx_hash),
            })).collect::<Vec<_>>(), "next": r.next});
            emit(json_out, &value, || {
                let mut t = table(&[
                    "seq", "height", "time", "change", "balance", "kind", "with", "note",
                ]);
                for e in &r.entries {
                    t.add_row([
                        e.seq.to_string(),
                        e.height.to_string(),
                        time_ms(e.time_ms),
                        format!("{:+}", e.delta),
                        e.balance.to_string(),
                        e.kind.clone(),
                        e.counterparty.clone(),
                        e.note.clone(),
                    ]);
                }
                println!("{t}");
            });
            Ok(())
        }
    }
}
