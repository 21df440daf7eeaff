//! `govchain gateway`: a department's systems publish, request and receive certificates
//! over REST/JSON through a service that holds the department's keys
//! (`docs/design/gateway.md`).

pub mod api;
mod certs;
pub mod chain;
pub mod config;
mod govern;
mod journal;
mod manage;
pub mod op;
mod openapi;
pub mod problem;
pub mod store;
pub mod tokens;
mod views;
pub mod webhooks;
mod work;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
pub use config::GatewayConfig;
use govchain_client::Signer;
use tokio::net::TcpListener;

/// The department's signer and its operators' from the key folder: `<dept>.pem` and
/// every `<dept>.<operator>.pem`.
fn signers(cfg: &GatewayConfig) -> anyhow::Result<BTreeMap<String, Signer>> {
    let dir = cfg.key_dir();
    let dept = &cfg.department;
    let mut out = BTreeMap::new();
    let own = dir.join(format!("{dept}.pem"));
    out.insert(
        String::new(),
        Signer::new(dept.clone(), govchain_node::keyfile::load(&own)?),
    );
    for e in std::fs::read_dir(&dir)
        .with_context(|| format!("reading the key folder {}", dir.display()))?
    {
        let name = e?.file_name().to_string_lossy().into_owned();
        let Some(operator) = name
            .strip_prefix(&format!("{dept}."))
            .and_then(|r| r.strip_suffix(".pem"))
        else {
            continue;
        };
        let key = govchain_node::keyfile::load(&dir.join(&name))?;
        out.insert(
            operator.to_string(),
            Signer::operator(dept.clone(), operator, key),
        );
    }
    Ok(out)
}

/// Starts the gateway of `cfg`: checks its keys and the network folder, resumes the
/// journal, and serves until `shutdown`. Returns the bound address through `bound`.
pub async fn run(
    cfg: GatewayConfig,
    bound: impl FnOnce(std::net::SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let genesis = govchain_node::network::network_genesis(&cfg.network.join("genesis.json"))?;
    let salt = govchain_node::network::chain_salt(&cfg.network, &genesis)?;
    let signers = signers(&cfg)?;
    let tls = match &cfg.tls {
        Some(t) => {
            let cert = std::fs::read_to_string(&t.cert)
                .with_context(|| format!("reading the gateway certificate {}", t.cert.display()))?;
            let key = govchain_node::keyfile::load_tls_key(&t.key)?;
            Some(govchain_api::HttpTls::new(&cert, &key).map_err(|why| {
                anyhow::anyhow!("[tls] ({}, {}): {why}", t.cert.display(), t.key.display())
            })?)
        }
        None => None,
    };
    let store = Arc::new(store::Store::open(&cfg.data_dir)?);
    let chain = Arc::new(chain::Chain::new(
        cfg.endpoints.clone(),
        genesis,
        salt,
        signers,
    )?);
    tokio::spawn(chain.clone().follow());
    let app = api::App::new(chain, store, &cfg);
    journal::resume(&app)?;
    tokio::spawn(webhooks::follow(app.clone()));
    tokio::spawn(webhooks::deliver(app.clone()));
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    bound(listener.local_addr()?);
    let router = api::router(app).layer(axum::middleware::from_fn(span));
    match tls {
        Some(tls) => {
            let l = govchain_api::TlsListener::new(listener, &tls)?;
            axum::serve(l, router)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }
    Ok(())
}

/// The wall clock, Unix ms (the gateway's own records; never the chain's execution).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A `tracing` span around every request.
async fn span(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let span = tracing::info_span!("gateway", method = %req.method(), path = %req.uri().path());
    next.run(req).instrument(span).await
}
