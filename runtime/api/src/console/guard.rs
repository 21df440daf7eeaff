//! What the console checks before any route: that the request names this node by one of
//! its own host names (a page of another site that reaches the node through DNS
//! rebinding names that site, and gets nothing), and that sign-in attempts from one
//! address stay within a rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use govchain_types::ErrorCode;
use parking_lot::Mutex;
use tonic::Status;

use super::ApiError;
use crate::error::status;
use crate::https::Peer;

/// Sign-in requests (challenges and answers) one address may make per window.
const SIGN_IN_ATTEMPTS: u32 = 20;
/// The window they are counted in.
const WINDOW: Duration = Duration::from_secs(60);

/// The console's host names and sign-in counts.
#[derive(Debug)]
pub(crate) struct Guard {
    /// The port the console listens on (a Host naming an IP address must name it).
    port: u16,
    /// Served over TLS: a Host without a port means 443, else 80.
    tls: bool,
    /// Names it also answers to (`api.console_hosts`, lower case), each with the port it
    /// must be named with, or `None`: the console's port, or none (a TLS proxy or the
    /// console itself on the scheme's default port).
    names: Vec<(String, Option<u16>)>,
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// A Host header as (name without brackets, port if named), lower case.
fn split_host(host: &str) -> (String, Option<u16>) {
    let host = host.to_ascii_lowercase();
    let (name, port) = match host.rsplit_once(':') {
        // An IPv6 address without brackets has colons but names no port.
        Some((n, p)) if !n.is_empty() && (!n.contains(':') || n.ends_with(']')) => {
            (n.to_string(), Some(p.parse::<u16>().unwrap_or(0)))
        }
        _ => (host.clone(), None),
    };
    let name = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    (name, port)
}

impl Guard {
    /// A console listening on `port` (over TLS if `tls`), answering also to `names`
    /// (`host` or `host:port`).
    pub(crate) fn new(port: u16, tls: bool, names: &[String]) -> Self {
        Guard {
            port,
            tls,
            names: names.iter().map(|n| split_host(n)).collect(),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request with Host header `host`, on a connection that arrived at
    /// `local`, is for this console: the address it arrived at (`localhost` if that is
    /// a loopback address) with the console's port, or one of the configured names. An
    /// IP address is not enough: another server's address names another site, whose
    /// page could otherwise get a sign-in signature this node takes.
    fn host_ok(&self, host: &str, local: IpAddr) -> bool {
        let (name, port) = split_host(host);
        let default = if self.tls { 443 } else { 80 };
        let literal = match name.parse::<IpAddr>() {
            Ok(ip) => ip == local || ip.to_canonical() == local.to_canonical(),
            Err(_) => name == "localhost" && local.is_loopback(),
        };
        if literal && port.unwrap_or(default) == self.port {
            return true;
        }
        self.names.iter().any(|(n, p)| {
            *n == name
                && match p {
                    Some(p) => port.unwrap_or(default) == *p,
                    None => port.is_none() || port == Some(self.port),
                }
        })
    }

    /// Counts a sign-in request from `ip`; refuses past the rate.
    fn attempt(&self, ip: IpAddr) -> Result<(), Status> {
        let mut m = self.attempts.lock();
        if m.len() > 10_000 {
            m.retain(|_, (since, _)| since.elapsed() < WINDOW);
        }
        let e = m.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        if e.1 > SIGN_IN_ATTEMPTS {
            return Err(status(
                ErrorCode::Busy,
                format!(
                    "more than {SIGN_IN_ATTEMPTS} sign-in requests from {ip} within a minute; retry in {} s",
                    WINDOW.saturating_sub(e.0.elapsed()).as_secs() + 1
                ),
            ));
        }
        Ok(())
    }
}

/// The middleware: the Host check on every console request, the rate on sign-in.
pub(crate) async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<Peer>>().copied() else {
        return ApiError(status(ErrorCode::Internal, "no connection info")).into_response();
    };
    if !g.host_ok(host, peer.local.ip()) {
        return ApiError(status(
            ErrorCode::Unauthorized,
            format!(
                "this console answers requests for the address they reach ({} with port {}) or a name in api.console_hosts; not for '{host}'",
                peer.local.ip(),
                g.port
            ),
        ))
        .into_response();
    }
    let signing_in = req.method() == Method::POST
        && matches!(
            req.uri().path(),
            "/api/v1/session" | "/api/v1/session/challenge"
        );
    if signing_in && let Err(e) = g.attempt(peer.remote.ip()) {
        return ApiError(e).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_nodes_own_names_pass() {
        let names = ["console.gov.example".into(), "proxy:8443".into()];
        let g = Guard::new(9545, false, &names);
        let lo = IpAddr::from([127, 0, 0, 1]);
        for ok in [
            "127.0.0.1:9545",
            "localhost:9545",
            "console.gov.example:9545",
            "CONSOLE.gov.example:9545",
            // a TLS proxy on the default port keeps the browser's Host
            "console.gov.example",
            "proxy:8443",
        ] {
            assert!(g.host_ok(ok, lo), "{ok}");
        }
        for bad in [
            "evil.example:9545",
            "127.0.0.1:9546",
            "localhost",
            "",
            "console.gov.example:80",
            "proxy",
            // another machine's address names another site
            "10.1.2.3:9545",
            "[::1]:9545",
        ] {
            assert!(!g.host_ok(bad, lo), "{bad}");
        }
        // the address a connection arrived at, not any
        let here = IpAddr::from([10, 1, 2, 3]);
        assert!(g.host_ok("10.1.2.3:9545", here));
        assert!(!g.host_ok("localhost:9545", here));
        assert!(!g.host_ok("10.9.9.9:9545", here));
        let v6: IpAddr = "fd00::5".parse().unwrap();
        assert!(g.host_ok("[fd00::5]:9545", v6));
        assert!(!g.host_ok("[fd00::6]:9545", v6));
    }

    #[test]
    fn a_host_without_a_port_names_the_schemes_default() {
        let here = IpAddr::from([10, 1, 2, 3]);
        let tls = Guard::new(443, true, &["console.gov.example".into()]);
        assert!(tls.host_ok("10.1.2.3", here));
        assert!(tls.host_ok("console.gov.example", here));
        assert!(tls.host_ok("console.gov.example:443", here));
        assert!(!Guard::new(443, false, &[]).host_ok("10.1.2.3", here));
    }

    #[test]
    fn sign_in_attempts_are_bounded_per_address() {
        let g = Guard::new(9545, false, &[]);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..SIGN_IN_ATTEMPTS {
            g.attempt(a).unwrap();
        }
        let e = g.attempt(a).unwrap_err();
        assert!(e.message().contains("sign-in requests"), "{}", e.message());
        g.attempt(b).unwrap();
    }
}
