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
    /// Names it also answers to (`api.console_hosts`, lower case, with their port).
    names: Vec<String>,
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Guard {
    /// A console listening on `port`, answering also to `names` (`host` or `host:port`).
    pub(crate) fn new(port: u16, names: &[String]) -> Self {
        let with_port = |n: &String| {
            let n = n.to_ascii_lowercase();
            if n.contains(':') {
                n
            } else {
                format!("{n}:{port}")
            }
        };
        Guard {
            port,
            names: names.iter().map(with_port).collect(),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request with Host header `host` is for this console: an IP address (a
    /// browser that is given one names no site) or `localhost` with the console's port,
    /// or one of the configured names.
    fn host_ok(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) if !n.ends_with(':') && !n.is_empty() => {
                (n.to_string(), p.parse::<u16>().ok())
            }
            _ => (host.clone(), Some(80)),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let literal = name.parse::<IpAddr>().is_ok() || name == "localhost";
        (literal && port == Some(self.port)) || self.names.contains(&host)
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
    if !g.host_ok(host) {
        return ApiError(status(
            ErrorCode::Unauthorized,
            format!(
                "this console answers requests for its own address (an IP address or localhost with port {}) or a name in api.console_hosts; not for '{host}'",
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
    let peer = req.extensions().get::<ConnectInfo<Peer>>();
    if let (true, Some(ConnectInfo(Peer(peer)))) = (signing_in, peer)
        && let Err(e) = g.attempt(peer.ip())
    {
        return ApiError(e).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_nodes_own_names_pass() {
        let g = Guard::new(9545, &["console.gov.example".into(), "proxy:443".into()]);
        for ok in [
            "127.0.0.1:9545",
            "10.1.2.3:9545",
            "[::1]:9545",
            "localhost:9545",
            "console.gov.example:9545",
            "CONSOLE.gov.example:9545",
            "proxy:443",
        ] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:9545",
            "127.0.0.1:9546",
            "localhost",
            "",
            "console.gov.example:80",
            "proxy",
        ] {
            assert!(!g.host_ok(bad), "{bad}");
        }
    }

    #[test]
    fn sign_in_attempts_are_bounded_per_address() {
        let g = Guard::new(9545, &[]);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..SIGN_IN_ATTEMPTS {
            g.attempt(a).unwrap();
        }
        let e = g.attempt(a).unwrap_err();
        assert!(e.message().contains("sign-in requests"), "{}", e.message());
        g.attempt(b).unwrap();
    }
}
