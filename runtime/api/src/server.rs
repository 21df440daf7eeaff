//! Assembles and runs the gRPC server and the metrics HTTP server.

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use govchain_consensus::Chain;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::rpc::audit_server::AuditServer;
use crate::rpc::certificates_server::CertificatesServer;
use crate::rpc::chain_server::ChainServer;
use crate::rpc::contracts_server::ContractsServer;
use crate::rpc::governance_server::GovernanceServer;
use crate::rpc::points_server::PointsServer;
use crate::services::access::{AuditService, CertificatesService, PointsService};
use crate::services::chain::ChainService;
use crate::services::contracts::{ContractsService, GovernanceService};

/// What the servers need besides the chain.
#[derive(Debug)]
pub struct ServeConfig {
    /// Bound gRPC listener.
    pub grpc: TcpListener,
    /// Bound metrics/health HTTP listener, if enabled.
    pub http: Option<TcpListener>,
    /// TLS on the HTTP port (required by the node on a non-loopback address).
    pub http_tls: Option<crate::https::HttpTls>,
    /// This node's id, reported by GetStatus.
    pub node_id: String,
    /// Consensus mode name, reported by GetStatus.
    pub consensus: String,
    /// The BFT engine's health (none on a solo node), reported by GetStatus and the
    /// metrics.
    pub bft: Option<Arc<govchain_consensus::bft::Health>>,
    /// The supervisor console on the HTTP port.
    pub console: crate::console::ConsoleConfig,
    /// What one call may cost.
    pub limits: crate::ApiLimits,
}

/// Largest gRPC message accepted (a full SubmitTxs batch).
const MAX_MESSAGE: usize = 64 << 20;

/// Serves gRPC (and metrics, when configured) until `shutdown` completes.
pub async fn serve(
    chain: Arc<Chain>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let metrics = Metrics::new();
    let auth = Arc::new(crate::auth::Authenticator::new(
        chain.clone(),
        config.node_id.clone(),
        config.limits.bad_signatures,
    ));
    let http_port = config
        .http
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(0, |a| a.port());
    spawn_commit_metrics(chain.clone(), metrics.clone());
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ChainServer<ChainService>>().await;
    let contracts = ContractsServer::new(ContractsService {
        chain: chain.clone(),
        query_gas: config.limits.clone(),
        slots: crate::limits::QuerySlots::new(config.limits.max_queries),
        auth: auth.clone(),
    });
    let governance = GovernanceServer::new(GovernanceService {
        chain: chain.clone(),
        auth: auth.clone(),
    });
    let certificates = CertificatesServer::new(CertificatesService {
        chain: chain.clone(),
        max_scan: config.limits.max_scan,
        auth: auth.clone(),
    })
    .max_encoding_message_size(MAX_MESSAGE);
    let points = PointsServer::new(PointsService {
        chain: chain.clone(),
        auth: auth.clone(),
    });
    let audit = AuditServer::new(AuditService {
        chain: chain.clone(),
        auth: auth.clone(),
    })
    .max_encoding_message_size(MAX_MESSAGE);
    let service = ChainService {
        chain: chain.clone(),
        metrics: metrics.clone(),
        node_id: config.node_id,
        consensus: config.consensus,
        bft: config.bft.clone(),
        auth: auth.clone(),
        limits: config.limits.clone(),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(http) = config.http {
        let mut stop = stop_rx.clone();
        let m = metrics.clone();
        let bft = config.bft;
        let node = axum::Router::new()
            .route(
                "/metrics",
                get(move || async move {
                    if let Some(h) = &bft {
                        m.observe_bft(&h.view());
                    }
                    m.encode()
                }),
            )
            .route("/healthz", get(|| async { "ok" }));
        let tls = config.http_tls;
        // The console's Host check covers /metrics and /healthz as well.
        let app =
            crate::console::router(auth.clone(), config.console, http_port, tls.is_some(), node)
                .layer(axum::middleware::from_fn(http_span))
                // Sign-in attempts are counted per address.
                .into_make_service_with_connect_info::<crate::https::Peer>();
        let stopped = async move {
            let _ = stop.changed().await;
        };
        match tls {
            Some(tls) => {
                let listener = crate::https::TlsListener::new(http, &tls)
                    .expect("a bound listener has an address");
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await;
                });
            }
            None => {
                tokio::spawn(async move {
                    let _ = axum::serve(http, app).with_graceful_shutdown(stopped).await;
                });
            }
        }
    }
    let result = tonic::transport::Server::builder()
        .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
        .add_service(health_service)
        .add_service(
            ChainServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        )
        .add_service(contracts)
        .add_service(governance)
        .add_service(certificates)
        .add_service(points)
        .add_service(audit)
        .serve_with_incoming_shutdown(govchain_consensus::accept_nodelay(config.grpc), shutdown)
        .await;
    let _ = stop_tx.send(true);
    result
}

/// A `tracing` span around every HTTP request (as `trace_fn` gives each gRPC call).
async fn http_span(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path());
    next.run(req).instrument(span).await
}

fn spawn_commit_metrics(chain: Arc<Chain>, metrics: Arc<Metrics>) {
    let mut commits = chain.subscribe();
    metrics.height.set(chain.tip().header.height as i64);
    tokio::spawn(async move {
        loop {
            match commits.recv().await {
                Ok(b) => {
                    let n = b.sealed.header.tx_count as u64;
                    metrics.blocks.inc();
                    metrics.txs_committed.inc_by(n);
                    metrics.block_txs.observe(n as f64);
                    metrics.height.set(b.sealed.header.height as i64);
                    metrics
                        .audit_records
                        .inc_by(b.sealed.header.audit_count as u64);
                    metrics.mempool.set(chain.mempool_len() as i64);
                    let tables = chain.key_table_stats();
                    metrics.verify_table_keys.set(tables.keys as i64);
                    metrics.verify_table_bytes.set(tables.bytes as i64);
                    let m = &metrics;
                    m.verify_table_builds
                        .inc_by(tables.builds.saturating_sub(m.verify_table_builds.get()));
                    m.verify_table_evictions.inc_by(
                        tables
                            .evictions
                            .saturating_sub(m.verify_table_evictions.get()),
                    );
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
}
