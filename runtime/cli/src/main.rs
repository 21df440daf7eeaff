//! `govchain`: the node and its command-line client.
//!
//! Node commands (`dev`, `node`, `init`) run or prepare a node; client commands talk to a
//! running node over gRPC (`--endpoint`) and print tables, or JSON with `--json`.

mod client;
mod cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// govchain: a permissioned chain for government departments to share e-certificates.
#[derive(Debug, Parser)]
#[command(name = "govchain", version, about, long_about = None)]
struct Cli {
    /// gRPC endpoint of a node.
    #[arg(long, global = true, env = "GOVCHAIN_ENDPOINT")]
    endpoint: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Network folder holding `keys/<department>.pem` for `--as`.
    #[arg(
        long,
        global = true,
        env = "GOVCHAIN_HOME",
        default_value = ".govchain-dev"
    )]
    home: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a development node: one validator, the 'nanjing' departments, plain keys,
    /// data under --home (default ./.govchain-dev), gRPC on 127.0.0.1:7545.
    Dev {
        /// Delete the development chain first and start from a new genesis.
        #[arg(long)]
        reset: bool,
        /// gRPC port (metrics are served on this port + 2000).
        #[arg(long, default_value_t = 7545)]
        port: u16,
    },
    /// Run a node from its configuration file.
    Node {
        /// The node's config.toml (written by `govchain init`).
        #[arg(long)]
        config: PathBuf,
    },
    /// Write a new network folder: genesis, department and validator keys, node configs.
    Init(govchain_node::init::InitOptions),
    /// Prepare a node to add to a running network (keys, TLS certificate, config)
    /// and print the governance proposal that adds it.
    InitNode(govchain_node::init::InitNodeOptions),
    /// Issue a node's console certificate from the network's CA (TLS on its HTTP port,
    /// required on a non-loopback address) and set it in the node's config.
    ConsoleCert(govchain_node::console_cert::ConsoleCertOptions),
    /// Chain id, height and tip of a node; signed (--as), also its departments,
    /// validators, mempool, evidence and the engine's health.
    Status(client::SignArgs),
    /// Generate and inspect SM2 key files.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    /// Look up a transaction and its receipt.
    #[command(subcommand)]
    Tx(cmd::chain::TxCmd),
    /// Look up a block.
    #[command(subcommand)]
    Block(cmd::chain::BlockCmd),
    /// Deploy (by governance), call, query and verify contracts.
    #[command(subcommand)]
    Contract(cmd::contract::ContractCmd),
    /// Governance: proposals and committee votes.
    #[command(subcommand)]
    Gov(cmd::gov::GovCmd),
    /// E-certificates: publish, list, request access, grant, revoke.
    #[command(subcommand)]
    Cert(cmd::cert::CertCmd),
    /// Compute-to-data: run an approved contract's job over a certificate on its owner's
    /// node and get only the signed result.
    #[command(subcommand)]
    Compute(cmd::compute::ComputeCmd),
    /// Credit points: balances and ledgers.
    #[command(subcommand)]
    Points(cmd::points::PointsCmd),
    /// Threshold custody of data keys: the validators' key generation.
    #[command(subcommand)]
    Custody(cmd::custody::CustodyCmd),
    /// The audit log: query, export with proofs, verify.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// A department's REST gateway for its own systems, and its API tokens.
    #[command(subcommand)]
    Gateway(cmd::gateway::GatewayCmd),
    /// Anchor a document's SM3 digest on chain (存证) and wait for the receipt.
    Anchor {
        /// Id of the record within the department's namespace.
        #[arg(long)]
        id: String,
        /// The document to hash.
        #[arg(long, conflicts_with = "digest")]
        file: Option<PathBuf>,
        /// Or the SM3 digest itself, hex.
        #[arg(long)]
        digest: Option<String>,
        /// A note stored with the digest.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        sign: client::SignArgs,
    },
    /// Measure committed throughput and latency against the raw SM2 verify rate.
    Bench(govchain_bench::BenchArgs),
    /// Run the three government scenarios end to end (housing eligibility, compute-to-data,
    /// sharing incentive) on an embedded chain, or on `--endpoint` with `--home`.
    Demo(govchain_demo::DemoArgs),
}

fn init_tracing(node: bool) {
    // Malachite narrates every vote at info: only its warnings and errors.
    let default = if node {
        "info,arc_malachitebft_core_consensus=warn,arc_malachitebft_core_driver=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GOVCHAIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours for a terminal only: a log written to a file or a journal stays plain text.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let serves = matches!(
        cli.command,
        Command::Dev { .. }
            | Command::Node { .. }
            | Command::Gateway(cmd::gateway::GatewayCmd::Run { .. })
    );
    let embeds_chain = matches!(cli.command, Command::Bench(_) | Command::Demo(_));
    if !serves && !embeds_chain {
        // A CLI command piped into `head` ends quietly when the pipe closes, as Unix tools
        // do, instead of panicking in `println!`. Whatever runs a chain (a node, or the
        // one the bench and the demo embed) keeps Rust's default, SIGPIPE ignored: a
        // closed stdout or log pipe must not kill it in the middle of a block.
        // SAFETY: called before any thread is spawned; SIG_DFL is a valid disposition.
        #[allow(unsafe_code)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL)
        };
    }
    init_tracing(serves);
    // Contracts run on these threads (blocks are built and applied in spawn_blocking):
    // their stacks are large enough for the deepest call a contract may make.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(govchain_vm::CALL_STACK)
        .on_thread_start(govchain_vm::declare_call_stack)
        .build()
        .expect("tokio runtime");
    match rt.block_on(dispatch(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let endpoint = cli
        .endpoint
        .clone()
        .unwrap_or_else(|| client::DEFAULT_ENDPOINT.to_string());
    match cli.command {
        Command::Dev { reset, port } => cmd::node::dev(&cli.home, reset, port).await,
        Command::Node { config } => cmd::node::node(&config).await,
        Command::Init(opts) => cmd::node::init(&opts, cli.json),
        Command::InitNode(opts) => cmd::node::init_node(&opts, cli.json),
        Command::ConsoleCert(opts) => cmd::node::console_cert(&opts, cli.json),
        Command::Status(sign) => cmd::chain::status(&endpoint, &cli.home, &sign, cli.json).await,
        Command::Keys(k) => cmd::keys::run(k, &endpoint, &cli.home, cli.json).await,
        Command::Tx(t) => cmd::chain::tx(&endpoint, &cli.home, t, cli.json).await,
        Command::Block(b) => cmd::chain::block(&endpoint, &cli.home, b, cli.json).await,
        Command::Contract(c) => cmd::contract::contract(&endpoint, &cli.home, c, cli.json).await,
        Command::Gov(g) => cmd::gov::gov(&endpoint, &cli.home, g, cli.json).await,
        Command::Cert(c) => cmd::cert::cert(&endpoint, &cli.home, c, cli.json).await,
        Command::Compute(c) => cmd::compute::compute(&endpoint, &cli.home, c, cli.json).await,
        Command::Points(p) => cmd::points::points(&endpoint, &cli.home, p, cli.json).await,
        Command::Custody(c) => cmd::custody::custody(&endpoint, &cli.home, c, cli.json).await,
        Command::Audit(a) => cmd::audit::audit(&endpoint, &cli.home, a, cli.json).await,
        Command::Gateway(g) => cmd::gateway::gateway(g, cli.json).await,
        Command::Anchor {
            id,
            file,
            digest,
            note,
            sign,
        } => {
            let payload = cmd::chain::anchor_payload(id, file, digest, note)?;
            cmd::chain::transact(&endpoint, &cli.home, &sign, payload, cli.json)
                .await
                .map(drop)
        }
        Command::Demo(args) => {
            govchain_demo::run(cli.endpoint.as_deref(), &cli.home, args, cli.json).await
        }
        Command::Bench(args) => {
            govchain_bench::run(cli.endpoint.as_deref(), &cli.home, args, cli.json).await
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
