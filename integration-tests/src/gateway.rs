//! Gateway processes for the tests: a config per department, `govchain gateway run`,
//! API tokens, calls with a token and an idempotency key, problem details.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{Answer, call, json_of};
use crate::{Network, free_port, govchain, govchain_bin};

/// A gateway process.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    /// Its HTTP port.
    pub port: u16,
    /// Its config file (its log beside it, `.log`).
    pub config: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `<root>/<dept>-gateway.toml` for `dept` on a free port with `endpoints`.
pub fn gateway_config(net: &Network, dept: &str, endpoints: &[String]) -> (PathBuf, u16) {
    let port = free_port();
    let config = net.root.join(format!("{dept}-gateway.toml"));
    let text = format!(
        "department = \"{dept}\"\nnetwork = \".\"\nendpoints = {endpoints:?}\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{dept}-gateway\"\nmax_body_bytes = 65536\n"
    );
    std::fs::write(&config, text).unwrap();
    (config, port)
}

/// Starts the gateway of `config` and waits for its port.
pub async fn start(config: &Path, port: u16) -> Gateway {
    let log = std::fs::File::create(config.with_extension("log")).unwrap();
    let child = Command::new(govchain_bin())
        .args(["gateway", "run", "--config", config.to_str().unwrap()])
        .env("GOVCHAIN_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "gateway did not start: {}",
            std::fs::read_to_string(config.with_extension("log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Gateway {
        child,
        port,
        config: config.to_path_buf(),
    }
}

/// A token of the gateway of `config`.
pub fn token(config: &Path, name: &str, scopes: &str) -> String {
    let out = govchain(&[
        "--json",
        "gateway",
        "token",
        "create",
        "--config",
        config.to_str().unwrap(),
        "--name",
        name,
        "--scope",
        scopes,
    ])
    .unwrap();
    serde_json::from_str::<Value>(&out).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A call with `token` (and an idempotency key), JSON `body`.
pub fn api(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    let body = body.map(Value::to_string);
    call(
        port,
        method,
        path,
        &headers,
        body.as_deref().map(str::as_bytes),
    )
}

/// The stable name of a problem-details answer (its content type checked).
pub fn problem(r: &Answer) -> String {
    let ct =
        r.1.iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str());
    assert_eq!(
        ct,
        Some("application/problem+json"),
        "{}",
        String::from_utf8_lossy(&r.2)
    );
    json_of(r)["name"].as_str().unwrap().to_string()
}

/// Runs `cmd` in the repository's root with `env`; its stdout (a panic with its output
/// if it fails).
pub fn run(cmd: &[&str], env: &[(&str, &str)]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .current_dir(&root)
        .env("PYTHONPATH", root.join("clients/python"))
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// An example's last line of output, as JSON.
pub fn example(cmd: &[&str], env: &[(&str, &str)]) -> Value {
    let text = run(cmd, env);
    serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A webhook's receiver for the tests: an HTTP/1.1 server on a port of 127.0.0.1 that
/// records every request (headers lower-cased, body) and answers the statuses it is
/// given in turn, then 200.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// Its port.
    pub port: u16,
    got: std::sync::Arc<std::sync::Mutex<Vec<Hook>>>,
}

/// A request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Headers, names lower-cased.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
    /// The status it was answered.
    pub answered: u16,
}

impl Hook {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

impl Receiver {
    /// Listens on `port` (0: a free one), answering `statuses` first.
    pub fn start(port: u16, statuses: &[u16]) -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Hook>::new()));
        let mut statuses: std::collections::VecDeque<u16> = statuses.iter().copied().collect();
        let log = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut headers = std::collections::BTreeMap::new();
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_lowercase(), v.trim().to_string());
                    }
                }
                let len = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let answered = statuses.pop_front().unwrap_or(200);
                log.lock().unwrap().push(Hook {
                    headers,
                    body,
                    answered,
                });
                let _ = write!(
                    conn,
                    "HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, got }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/govchain", self.port)
    }

    /// What it got so far.
    pub fn got(&self) -> Vec<Hook> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 60 s) until a request it answered 2xx carries an event that
    /// `pick` accepts; that request.
    pub async fn wait_for(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Hook {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(h) = self
                .got()
                .into_iter()
                .find(|h| (200..300).contains(&h.answered) && pick(&h.json()))
            {
                return h;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} delivered; got {:?}",
                self.got().iter().map(Hook::json).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
