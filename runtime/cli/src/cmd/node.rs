//! `dev`, `node` and `init`.

use std::path::Path;

use anyhow::Context;
use govchain_node::config::NodeConfig;
use govchain_node::init::{InitOptions, init as write_network};
use govchain_node::output::{emit, kv, table};
use govchain_node::run;
use serde_json::json;

/// `govchain dev`: creates the development network on first use, then runs its node.
pub(crate) async fn dev(home: &Path, reset: bool, port: u16) -> anyhow::Result<()> {
    if reset && home.exists() {
        std::fs::remove_dir_all(home).with_context(|| format!("removing {}", home.display()))?;
    }
    let config = home.join("node1").join("config.toml");
    if !config.exists() {
        let report = write_network(&InitOptions {
            out: home.to_path_buf(),
            validators: 1,
            observers: 0,
            threshold: None,
            preset: "nanjing".into(),
            chain_id: "govchain-dev".into(),
            plain_keys: true,
            base_port: port,
            block_interval_ms: 100,
            operated_by: vec![],
            initial_points: None,
            supervisors: vec![govchain_node::init::DEFAULT_SUPERVISOR.into()],
        })?;
        eprintln!(
            "created a development chain in {} with {} departments; its keys in {} are NOT encrypted (development only)",
            home.display(),
            report.genesis.departments.len(),
            report.key_dir.display()
        );
    }
    node(&config).await
}

/// `govchain node --config FILE`.
pub(crate) async fn node(config: &Path) -> anyhow::Result<()> {
    let cfg = NodeConfig::load(config)?;
    let handle = run::start(&cfg).await?;
    eprintln!(
        "govchain node '{}' serving gRPC on {} (metrics: {}); Ctrl-C stops it",
        cfg.node_id,
        handle.grpc,
        handle.http.map_or("off".into(), |a| format!(
            "{}://{a}/metrics",
            if cfg.api.console_tls.is_some() {
                "https"
            } else {
                "http"
            }
        ))
    );
    handle.run_until_signal().await
}

/// `govchain init-node`.
pub(crate) fn init_node(
    opts: &govchain_node::init::InitNodeOptions,
    json: bool,
) -> anyhow::Result<()> {
    let n = govchain_node::init::init_node(opts)?;
    let proposal = format!(
        "govchain gov propose add-validator --id {} --department {} --public-key {} --addr {}{}{} --as <committee member>",
        opts.id,
        opts.department,
        n.public_key,
        n.addr,
        if opts.observer { " --observer" } else { "" },
        n.custody_key
            .as_ref()
            .map_or_else(String::new, |k| format!(" [--custody-key {k}]"))
    );
    let value = json!({
        "config": n.config, "public_key": n.public_key, "addr": n.addr,
        "observer": opts.observer, "custody_key": n.custody_key, "proposal": proposal,
    });
    emit(json, &value, || {
        println!(
            "{}",
            kv(&[
                ("config", n.config.display().to_string()),
                ("address", n.addr.clone()),
                ("public key", n.public_key.clone()),
                (
                    "custody key",
                    n.custody_key.clone().unwrap_or_else(|| "-".into()),
                ),
            ])
        );
        println!(
            "start it with `govchain node --config {}`, then propose:\n  {proposal}",
            n.config.display()
        );
    });
    Ok(())
}

/// `govchain console-cert`.
pub(crate) fn console_cert(
    opts: &govchain_node::console_cert::ConsoleCertOptions,
    json: bool,
) -> anyhow::Result<()> {
    let c = govchain_node::console_cert::console_cert(opts)?;
    let value = json!({
        "certificate": c.cert, "config": c.config, "listen": c.listen.to_string(),
        "urls": c.urls, "ca": c.ca,
    });
    emit(json, &value, || {
        println!(
            "{}",
            kv(&[
                ("certificate", c.cert.display().to_string()),
                ("config", c.config.display().to_string()),
                ("listen", c.listen.to_string()),
                ("console", c.urls.join(" ")),
            ])
        );
        println!(
            "restart the node to serve HTTPS; browsers trust it once the network CA {} is installed (or replace the files with a certificate from your own CA)",
            c.ca.display()
        );
    });
    Ok(())
}

/// What the network's ordering engine tolerates, in words.
fn ordering(opts: &InitOptions) -> String {
    let n = opts.validators;
    if n + opts.observers == 1 {
        return "solo: one validator decides every block (development and demos)".into();
    }
    let f = n.saturating_sub(1) / 3;
    let advice = if f == 0 {
        "; use 4 validators to tolerate 1"
    } else {
        ""
    };
    format!(
        "bft: {n} validators tolerate {f} faulty ones, whatever they do (n = 3f + 1: 4 tolerate 1, 7 tolerate 2){advice}; every block carries the SM2 precommits of more than 2/3 of them"
    )
}

/// `govchain init`.
pub(crate) fn init(opts: &InitOptions, json: bool) -> anyhow::Result<()> {
    let r = write_network(opts)?;
    let ordering = ordering(opts);
    let value = json!({
        "ordering": ordering,
        "chain_id": r.genesis.chain_id,
        "genesis": opts.out.join("genesis.json"),
        "genesis_hash": hex::encode(r.genesis.hash()),
        "departments": r.genesis.departments.iter().map(|d| json!({"id": d.id, "name": d.name})).collect::<Vec<_>>(),
        "validators": r.genesis.validators.iter().map(|v| json!({"id": v.id, "department": v.department, "custody_share": v.custody_share})).collect::<Vec<_>>(),
        "custody_threshold": r.genesis.custody.as_ref().map(|c| c.threshold),
        "configs": r.configs,
        "keys": r.key_dir,
        "encrypted_keys": !opts.plain_keys,
    });
    emit(json, &value, || {
        println!(
            "{}",
            kv(&[
                ("chain id", r.genesis.chain_id.clone()),
                (
                    "genesis",
                    opts.out.join("genesis.json").display().to_string()
                ),
                ("genesis hash", hex::encode(r.genesis.hash())),
                ("ordering", ordering.clone()),
                ("department keys", r.key_dir.display().to_string()),
                (
                    "key files",
                    if opts.plain_keys {
                        "plain (development only)".into()
                    } else {
                        "encrypted PKCS#8".into()
                    }
                ),
                (
                    "committee",
                    format!(
                        "{} of {}",
                        r.genesis.committee.threshold,
                        r.genesis.committee.members.join(", ")
                    )
                ),
                (
                    "key custody",
                    r.genesis.custody.as_ref().map_or_else(String::new, |c| {
                        format!(
                            "{} of {} validator shares open a data key; the validators generate the custody key on chain when they start (no file holds a share). Give each node folder to its operator only",
                            c.threshold,
                            r.genesis.validators.iter().filter(|v| v.custody_share != 0).count()
                        )
                    })
                ),
            ])
        );
        let mut t = table(&["validator", "department", "custody share", "config"]);
        for (v, c) in r.genesis.validators.iter().zip(&r.configs) {
            t.add_row([
                v.id.clone(),
                v.department.clone(),
                match v.custody_share {
                    0 => "-".into(),
                    n => format!("{n} (custody.key)"),
                },
                c.display().to_string(),
            ]);
        }
        println!("{t}");
        println!("start each node with: govchain node --config <config>");
    });
    Ok(())
}
