//! `govchain console-cert`: TLS for a node's HTTP port (the console, `/metrics`,
//! `/healthz`), so that it may listen on a non-loopback address. The certificate comes
//! from the network's CA (`<network>/tls/ca.key`) and names the hosts browsers use; the
//! node's config gets `[api.console_tls]`, the listen address and those names as
//! `api.console_hosts` (the console answers no other Host).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::{ConsoleTls, NodeConfig};
use crate::{keyfile, tls};

/// Options of `govchain console-cert`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleCertOptions {
    /// The network folder `govchain init` wrote (genesis.json, tls/ca.key).
    #[arg(long)]
    pub network: PathBuf,
    /// The node (its folder in the network folder).
    #[arg(long)]
    pub node: String,
    /// A host name or IP address browsers reach the console by (repeat for several).
    #[arg(long = "name", required = true)]
    pub names: Vec<String>,
    /// The HTTP listen address to set (`api.http`); default: keep the config's port and
    /// listen on every interface (IPv6 as well if a name is an IPv6 address).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Write the key unencrypted (development only).
    #[arg(long)]
    pub plain_keys: bool,
}

/// What `console-cert` wrote.
#[derive(Debug)]
pub struct ConsoleCert {
    /// The certificate.
    pub cert: PathBuf,
    /// The node's config, updated.
    pub config: PathBuf,
    /// The HTTP listen address set.
    pub listen: SocketAddr,
    /// The console's URLs, one per name.
    pub urls: Vec<String>,
    /// The CA certificate browsers must trust.
    pub ca: PathBuf,
}

/// Certificate and key file names in the node's `tls/` folder.
const CERT_FILE: &str = "tls/console.pem";
const KEY_FILE: &str = "tls/console.key";

/// Issues the certificate and updates the node's config. Checks everything before
/// writing; an existing certificate is replaced (renewal).
pub fn console_cert(o: &ConsoleCertOptions) -> anyhow::Result<ConsoleCert> {
    let dir = o.network.join(&o.node);
    let config = dir.join("config.toml");
    let text = std::fs::read_to_string(&config).with_context(|| {
        format!(
            "reading {} (is '{}' a node of this network?)",
            config.display(),
            o.node
        )
    })?;
    // The file as written (relative paths kept), not as loaded.
    let mut cfg: NodeConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    let names = check_names(&o.names)?;
    // Every interface, IPv6 too when a name is an IPv6 address.
    let any: IpAddr = if names
        .iter()
        .any(|n| n.parse::<std::net::Ipv6Addr>().is_ok())
    {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    };
    let listen = match (o.listen, cfg.api.http) {
        (Some(a), _) => a,
        (None, Some(a)) => SocketAddr::new(any, a.port()),
        (None, None) => bail!(
            "{} has no api.http address: give --listen <ip:port>",
            config.display()
        ),
    };
    let (genesis, ca_key) = crate::init::network_ca(&o.network)?;
    let passphrase = if o.plain_keys {
        None
    } else {
        keyfile::owner_passphrase(
            &o.node,
            Some(&keyfile::passphrase(
                "passphrase for the console key: ",
                true,
            )?),
        )
    };
    let (cert, key) = tls::issue_console(&ca_key, &genesis.chain_id, &o.node, &names)?;
    let cert_path = dir.join(CERT_FILE);
    cfg.api.http = Some(listen);
    cfg.api.console_tls = Some(ConsoleTls {
        cert: CERT_FILE.into(),
        key: KEY_FILE.into(),
    });
    for n in names.iter().filter(|n| n.parse::<IpAddr>().is_err()) {
        if !cfg
            .api
            .console_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(n))
        {
            cfg.api.console_hosts.push(n.clone());
        }
    }
    // Each file is written beside its place, then all are moved in: a failure leaves
    // the node as it was, and a renewal replaces the old certificate and key.
    let key_path = dir.join(KEY_FILE);
    let staged = |p: &Path| PathBuf::from(format!("{}.new", p.display()));
    for p in [&key_path, &cert_path, &config] {
        let _ = std::fs::remove_file(staged(p));
    }
    keyfile::save_tls_key(&staged(&key_path), &key, passphrase.as_deref())?;
    for (p, text) in [(&cert_path, cert), (&config, cfg.to_toml())] {
        std::fs::write(staged(p), text)
            .with_context(|| format!("writing {}", staged(p).display()))?;
    }
    for p in [&key_path, &cert_path, &config] {
        std::fs::rename(staged(p), p).with_context(|| format!("replacing {}", p.display()))?;
    }
    let urls = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{}/", listen.port()),
            _ => format!("https://{n}:{}/", listen.port()),
        })
        .collect();
    Ok(ConsoleCert {
        cert: cert_path,
        config,
        listen,
        urls,
        ca: o.network.join("tls/ca.pem"),
    })
}

/// The names, lower case: each a DNS name or an IP address (no port, no wildcard).
fn check_names(names: &[String]) -> anyhow::Result<Vec<String>> {
    names
        .iter()
        .map(|n| {
            let n = n.trim().to_ascii_lowercase();
            let dns = !n.is_empty()
                && n.len() <= 253
                && n.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            match n.parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() => bail!(
                    "--name {n}: name an address browsers connect to, not the unspecified address"
                ),
                Ok(_) => Ok(n),
                Err(_) if dns => Ok(n),
                Err(_) => bail!(
                    "--name '{n}' is neither a host name (letters, digits, '-' and '.') nor an IP address; give no port or scheme"
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_host_names_or_addresses() {
        assert_eq!(
            check_names(&["Console.Tax.Gov".into(), "10.0.0.5".into(), "::1".into()]).unwrap(),
            ["console.tax.gov", "10.0.0.5", "::1"]
        );
        for bad in [
            "",
            "https://x",
            "x:443",
            "*.gov",
            "0.0.0.0",
            "a..b",
            "-a.gov",
        ] {
            assert!(check_names(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
