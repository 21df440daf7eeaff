//! The gateway's configuration file (`gateway.toml`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A gateway's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The department the gateway acts for.
    pub department: String,
    /// The department's copy of the network folder (`genesis.json`, `chain.salt`),
    /// relative to this file: the trust anchor every answer is checked against.
    pub network: PathBuf,
    /// The key folder: `<department>.pem` and each operator's
    /// `<department>.<operator>.pem`, relative to this file; default `<network>/keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<PathBuf>,
    /// gRPC endpoints of the nodes to use, in order of preference: a call that cannot
    /// reach one goes to the next.
    pub endpoints: Vec<String>,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// The gateway's database (tokens, idempotency records, the journal), relative to
    /// this file.
    pub data_dir: PathBuf,
    /// TLS: required unless `listen` is a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Largest request body accepted, bytes (a document travels base64-encoded in it).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How webhook deliveries are tried.
    #[serde(default)]
    pub webhooks: Webhooks,
}

/// How webhook deliveries are tried (`[webhooks]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webhooks {
    /// Wait before the first retry of a failed delivery, ms; each next wait doubles, up
    /// to an hour.
    pub first_retry_ms: u64,
    /// Attempts before a delivery is marked failed (it can be retried by hand then).
    pub max_attempts: u32,
    /// How long a receiver has to answer, ms.
    pub timeout_ms: u64,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks {
            first_retry_ms: 10_000,
            max_attempts: 12,
            timeout_ms: 10_000,
        }
    }
}

/// The gateway's certificate and key (the department's, from its own CA).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain (PEM), relative to the config file.
    pub cert: PathBuf,
    /// Its private key (PEM; sealed ones open with the key passphrase).
    pub key: PathBuf,
}

fn default_max_body() -> usize {
    16 << 20
}

impl GatewayConfig {
    /// Reads `path` and resolves its relative paths against its folder.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading gateway config {}", path.display()))?;
        let mut c: GatewayConfig = toml::from_str(&text)
            .with_context(|| format!("parsing gateway config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut paths = vec![&mut c.network, &mut c.data_dir];
        paths.extend(c.keys.as_mut());
        if let Some(t) = c.tls.as_mut() {
            paths.extend([&mut t.cert, &mut t.key]);
        }
        for p in paths {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        c.check().with_context(|| format!("{}", path.display()))?;
        Ok(c)
    }

    fn check(&self) -> anyhow::Result<()> {
        govchain_types::validate_dept_id(&self.department)
            .map_err(|why| anyhow::anyhow!("department '{}' {why}", self.department))?;
        let w = &self.webhooks;
        if w.max_attempts == 0 || w.timeout_ms == 0 || w.first_retry_ms < 100 {
            bail!(
                "[webhooks]: max_attempts and timeout_ms must be above 0, first_retry_ms at least 100"
            );
        }
        if self.endpoints.is_empty() {
            bail!("endpoints: name at least one node's gRPC endpoint");
        }
        if !self.listen.ip().is_loopback() && self.tls.is_none() {
            bail!(
                "listen {} is not a loopback address, and the gateway carries documents and tokens: give it [tls] cert and key (the department's certificate), or listen on 127.0.0.1",
                self.listen
            );
        }
        Ok(())
    }

    /// The key folder.
    pub fn key_dir(&self) -> PathBuf {
        self.keys
            .clone()
            .unwrap_or_else(|| self.network.join("keys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<GatewayConfig> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gateway.toml");
        std::fs::write(&p, text).unwrap();
        GatewayConfig::load(&p)
    }

    const BASE: &str = "department = \"housing\"\nnetwork = \"net\"\nendpoints = [\"127.0.0.1:7545\"]\ndata_dir = \"data\"\n";

    #[test]
    fn paths_resolve_and_plain_http_stays_on_loopback() {
        let c = load(&format!("{BASE}listen = \"127.0.0.1:8545\"\n")).unwrap();
        assert!(c.network.is_absolute() && c.key_dir().ends_with("net/keys"));
        let e = load(&format!("{BASE}listen = \"0.0.0.0:8545\"\n")).unwrap_err();
        assert!(format!("{e:#}").contains("not a loopback address"), "{e:#}");
        let e = load(&format!("{BASE}listen = \"127.0.0.1:8545\"\nextra = 1\n")).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field"), "{e:#}");
    }
}
