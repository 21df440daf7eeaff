//! `audit …`: querying, exporting and verifying the audit trail.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_client::ClientError;
use govchain_client::rpc::*;
use govchain_node::network::{connect_checked, export_audit, network_genesis, subject_of};
use govchain_node::output::{emit, table, time_ms};
use govchain_state::access::audit::{ExportFile, RecordView};
use govchain_state::certs;
use govchain_types::pb;
use serde_json::json;

use crate::client::SignArgs;

/// Filters of audit queries and exports.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AuditFilter {
    /// The holder's national ID.
    #[arg(long)]
    subject: Option<String>,
    /// Requesting department.
    #[arg(long)]
    requester: Option<String>,
    /// Owning (issuing) department.
    #[arg(long)]
    owner: Option<String>,
    /// A department as requester or owner (a department asking without --requester or
    /// --owner gets this for itself).
    #[arg(long)]
    party: Option<String>,
    /// Certificate id.
    #[arg(long)]
    cert: Option<String>,
    /// Purpose.
    #[arg(long)]
    purpose: Option<String>,
    /// First day, YYYY-MM-DD (China Standard Time).
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD (China Standard Time).
    #[arg(long)]
    to: Option<String>,
    /// allow or deny.
    #[arg(long, value_parser = ["allow", "deny"])]
    decision: Option<String>,
    /// Records after this sequence number.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Most records (query: at most 1000; export: at most 10000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// Audit commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Gate decisions matching every filter given, oldest first.
    Query {
        #[command(flatten)]
        filter: AuditFilter,
        /// Print CSV (instead of a table or JSON).
        #[arg(long)]
        csv: bool,
        /// Who asks (the read is signed): an auditor sees every record, a department
        /// only those where it is the requester or the owner.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Write matching records with inclusion proofs and the certified headers (and
    /// validator set changes) they are checked against to a file.
    Export {
        #[command(flatten)]
        filter: AuditFilter,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Who asks (as for `audit query`).
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Check an export against the validators' keys of a genesis file, trusting nothing
    /// else.
    Verify {
        /// The export file.
        file: PathBuf,
        /// Genesis file (default: `<home>/genesis.json`).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
}

/// Unix ms at the start (or end) of a China Standard Time day.
fn day_ms(date: &str, end: bool) -> anyhow::Result<u64> {
    let days = certs::parse_date(date).map_err(anyhow::Error::msg)?;
    if days < 1 {
        bail!("{date}: dates start at 1970-01-02");
    }
    let start = (days * 86_400 - 8 * 3600) * 1000;
    Ok((if end { start + 86_400_000 - 1 } else { start }) as u64)
}

fn audit_query(home: &Path, f: &AuditFilter) -> anyhow::Result<AuditQuery> {
    Ok(AuditQuery {
        requester: f.requester.clone().unwrap_or_default(),
        owner: f.owner.clone().unwrap_or_default(),
        party: f.party.clone().unwrap_or_default(),
        subject_id: match &f.subject {
            Some(s) => subject_of(home, s)?,
            None => vec![],
        },
        cert_id: f.cert.clone().unwrap_or_default(),
        purpose: f.purpose.clone().unwrap_or_default(),
        decision: match f.decision.as_deref() {
            Some("allow") => pb::Decision::Allow as i32,
            Some("deny") => pb::Decision::Deny as i32,
            _ => 0,
        },
        from_ms: f
            .from
            .as_deref()
            .map(|d| day_ms(d, false))
            .transpose()?
            .unwrap_or(0),
        to_ms: f
            .to
            .as_deref()
            .map(|d| day_ms(d, true))
            .transpose()?
            .unwrap_or(0),
        after: f.after,
        limit: f.limit,
    })
}

pub(crate) async fn audit(
    endpoint: &str,
    home: &Path,
    cmd: AuditCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Query { filter, csv, sign } => {
            let q = audit_query(home, &filter)?;
            let (client, _) = connect_checked(endpoint, home).await?;
            let request = client.signed(&sign.signer(home)?, "/govchain.v1.Audit/Query", q)?;
            let page = client
                .audit()
                .query(request)
                .await
                .map_err(ClientError::from)?
                .into_inner();
            let rows: Vec<RecordView> = page.records.iter().map(RecordView::from).collect();
            if csv {
                println!("{}", govchain_state::access::audit::CSV_HEADER);
                for r in &rows {
                    println!("{}", r.csv_row());
                }
                return Ok(());
            }
            let value = json!({"records": rows, "next": page.next, "scanned": page.scanned});
            emit(json_out, &value, || {
                let mut t = table(&[
                    "seq",
                    "time",
                    "requester",
                    "owner",
                    "certificate",
                    "purpose",
                    "decision",
                    "points",
                    "reason",
                ]);
                for r in &rows {
                    let via = if r.via.is_empty() {
                        String::new()
                    } else {
                        format!(" via {}", r.via)
                    };
                    t.add_row([
                        r.seq.to_string(),
                        time_ms(r.time_ms),
                        format!("{}{via}", r.requester),
                        r.owner.clone(),
                        format!(
                            "{} {}",
                            r.cert_type,
                            r.cert_id.chars().take(12).collect::<String>()
                        ),
                        r.purpose.clone(),
                        match r.action.as_str() {
                            "key_release" => "KEY SHARE".into(),
                            "compute_result" => "JOB RESULT".into(),
                            "compute" => format!("COMPUTE {}", r.decision.to_uppercase()),
                            _ => r.decision.to_uppercase(),
                        },
                        r.points.to_string(),
                        r.reason.clone(),
                    ]);
                }
                println!("{t}");
                if page.next != 0 {
                    println!("more: --after {}", page.next);
                }
            });
            Ok(())
        }
        AuditCmd::Export { filter, out, sign } => {
            let q = audit_query(home, &filter)?;
            let (client, _) = connect_checked(endpoint, home).await?;
            let (export, file) = export_audit(&client, &sign.signer(home)?, q).await?;
            std::fs::write(&out, serde_json::to_vec_pretty(&file)?)
                .with_context(|| format!("writing {}", out.display()))?;
            let value = json!({"file": out, "records": file.records.len(), "headers": file.headers.len(), "set_changes": file.set_changes.len(), "next": export.next});
            emit(json_out, &value, || {
                println!(
                    "wrote {} records with inclusion proofs and {} headers with their commit certificates to {}",
                    file.records.len(),
                    file.headers.len(),
                    out.display()
                );
                if export.next != 0 {
                    println!("more: --after {}", export.next);
                }
            });
            Ok(())
        }
        AuditCmd::Verify { file, genesis } => {
            let genesis_path = genesis.unwrap_or_else(|| home.join("genesis.json"));
            let genesis = network_genesis(&genesis_path)?;
            let export: ExportFile = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            )
            .with_context(|| format!("{} is not an audit export", file.display()))?;
            match export.verify(&genesis.anchor()) {
                Ok(n) => {
                    let value = json!({"verified": true, "records": n, "headers": export.headers.len(), "set_changes": export.set_changes.len(), "chain_id": genesis.chain_id});
                    emit(json_out, &value, || {
                        println!(
                            "OK: {n} records verified against {} headers, each decided by more than 2/3 of the validators in force at its height (walked from genesis {} through {} set changes; chain {})",
                            export.headers.len(),
                            genesis_path.display(),
                            export.set_changes.len(),
                            genesis.chain_id
                        );
                    });
                    Ok(())
                }
                Err(e) => {
                    if json_out {
                        println!("{}", json!({"verified": false, "error": e}));
                    }
                    bail!("verification FAILED: {e}")
                }
            }
        }
    }
}
