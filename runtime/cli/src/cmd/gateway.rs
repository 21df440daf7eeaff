//! `govchain gateway`: run a department's REST gateway and manage its API tokens
//! (`docs/design/gateway.md`).

use std::path::PathBuf;

use clap::Subcommand;
use govchain_gateway::tokens::{self, Scope};
use govchain_gateway::{GatewayConfig, store::Store};
use govchain_node::output::{emit, table};
use serde_json::json;

/// `govchain gateway …`.
#[derive(Debug, Subcommand)]
pub(crate) enum GatewayCmd {
    /// Serve the gateway of a config file (Ctrl-C stops it).
    Run {
        /// The gateway's config (gateway.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// API tokens (while the gateway is stopped: it holds its database).
    #[command(subcommand)]
    Token(TokenCmd),
}

/// `govchain gateway token …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Make a token; it is shown once.
    Create {
        /// The gateway's config.
        #[arg(long)]
        config: PathBuf,
        /// Which system or person it is for (unique).
        #[arg(long)]
        name: String,
        /// What it may do (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<Scope>,
        /// The operator whose key signs what it does (default: the department's key).
        #[arg(long, default_value = "")]
        operator: String,
        /// How long it is valid: 365d, 8h, 30m, 90s, or 0 for no expiry.
        #[arg(long, default_value = "365d", value_parser = tokens::validity)]
        valid_for: u64,
    },
    /// List the tokens (never the tokens themselves).
    List {
        /// The gateway's config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Refuse a token from now on.
    Revoke {
        /// The gateway's config.
        #[arg(long)]
        config: PathBuf,
        /// Its name.
        #[arg(long)]
        name: String,
    },
}

/// Runs a `gateway` command.
pub(crate) async fn gateway(c: GatewayCmd, json_out: bool) -> anyhow::Result<()> {
    match c {
        GatewayCmd::Run { config } => {
            let cfg = GatewayConfig::load(&config)?;
            let scheme = if cfg.tls.is_some() { "https" } else { "http" };
            let dept = cfg.department.clone();
            govchain_gateway::run(
                cfg,
                |a| eprintln!("govchain gateway of '{dept}' serving {scheme}://{a}/ (API: {scheme}://{a}/openapi.json); Ctrl-C stops it"),
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            )
            .await
        }
        GatewayCmd::Token(t) => token(t, json_out),
    }
}

fn open(config: &std::path::Path) -> anyhow::Result<(GatewayConfig, Store)> {
    let cfg = GatewayConfig::load(config)?;
    let store = Store::open(&cfg.data_dir)?;
    Ok((cfg, store))
}

fn token(t: TokenCmd, json_out: bool) -> anyhow::Result<()> {
    match t {
        TokenCmd::Create {
            config,
            name,
            scope,
            operator,
            valid_for,
        } => {
            let (cfg, store) = open(&config)?;
            if !operator.is_empty() {
                let key = cfg
                    .key_dir()
                    .join(format!("{}.{operator}.pem", cfg.department));
                anyhow::ensure!(
                    key.exists(),
                    "--operator {operator}: the gateway has no key of that operator ({} is missing)",
                    key.display()
                );
            }
            let text = tokens::create(&store, &name, &scope, &operator, valid_for)?;
            emit(json_out, &json!({"name": name, "token": text}), || {
                println!("{text}");
                eprintln!(
                    "token '{name}' made: it is shown only now; hand it to its system as `Authorization: Bearer <token>`"
                );
            });
        }
        TokenCmd::List { config } => {
            let (_, store) = open(&config)?;
            let all = store.tokens()?;
            emit(json_out, &json!({"tokens": all}), || {
                let mut tb = table(&["name", "scopes", "operator", "expires", "revoked"]);
                for t in &all {
                    tb.add_row([
                        t.name.clone(),
                        t.scopes
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        t.operator.clone(),
                        if t.expires_ms == 0 {
                            "never".into()
                        } else {
                            t.expires_ms.to_string()
                        },
                        t.revoked.to_string(),
                    ]);
                }
                println!("{tb}");
            });
        }
        TokenCmd::Revoke { config, name } => {
            let (_, store) = open(&config)?;
            tokens::revoke(&store, &name)?;
            emit(json_out, &json!({"name": name, "revoked": true}), || {
                println!("token '{name}' revoked");
            });
        }
    }
    Ok(())
}
