//! Plain HTTP/1.1 exchanges with a node's HTTP port (the console API), for the tests:
//! each request on its own connection, the Host header chosen; over TLS too.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;
use tokio_rustls::rustls;

/// An answer: (status, headers lower-cased, body).
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 exchange: (status, headers lower-cased, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    http_to(
        port,
        &format!("127.0.0.1:{port}"),
        method,
        path,
        cookie,
        body,
    )
}

/// [`http`] naming `host` in the Host header (and, on other methods than GET, in
/// the Origin header, as a browser on the console's page does).
pub fn http_to(
    port: u16,
    host: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let origin = format!("http://{host}");
    exchange(s, host, &origin, method, path, cookie, body)
}

/// One plain HTTP/1.1 exchange with `127.0.0.1:port` carrying `headers` and a raw
/// `body` (the gateway's API: a token, an idempotency key, JSON that may be malformed).
pub fn call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    // A server may answer (413) and close before reading all of a large body.
    let _ = s.write_all(&bytes);
    read_answer(s)
}

/// [`http`] sent from a page of `origin` (the Origin header a browser sends).
pub fn http_from(
    port: u16,
    origin: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let host = format!("127.0.0.1:{port}");
    exchange(s, &host, origin, method, path, None, body)
}

/// One HTTPS exchange with a console at `127.0.0.1:port` whose certificate must chain to
/// the CA `ca_pem` and name `host` (which the Host and Origin headers name too).
pub fn https(
    port: u16,
    ca_pem: &str,
    host: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let mut s = tls_connect(port, ca_pem, host)?;
    // The handshake is done before anything is sent, so a refused certificate is an
    // error here rather than a panic in the exchange.
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).map_err(|e| e.to_string())?;
    }
    let origin = format!("https://{host}:{port}");
    Ok(exchange(
        s,
        &format!("{host}:{port}"),
        &origin,
        method,
        path,
        cookie,
        body,
    ))
}

/// A TLS client connection to `127.0.0.1:port`, trusting only `ca_pem`, for `host`.
pub fn tls_connect(
    port: u16,
    ca_pem: &str,
    host: &str,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tls_over(sock, ca_pem, host)
}

/// A TLS client connection over `sock`, trusting only `ca_pem`, for `host`.
pub fn tls_over(
    sock: TcpStream,
    ca_pem: &str,
    host: &str,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| e.to_string())?;
    Ok(rustls::StreamOwned::new(conn, sock))
}

fn exchange(
    mut s: impl Read + Write,
    host: &str,
    origin: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if method != "GET" {
        req.push_str(&format!("Origin: {origin}\r\n"));
    }
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    read_answer(s)
}

/// Reads an answer until the server closes.
fn read_answer(mut s: impl Read) -> Answer {
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify after Connection: close.
    if let Err(e) = s.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "reading the answer: {e}");
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + n]);
        b = &b[end + 2 + n + 2..];
    }
}

/// The body as JSON (a panic naming the status and body if it is not).
pub fn json_of(r: &Answer) -> Value {
    serde_json::from_slice(&r.2).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}): {}",
            r.0,
            String::from_utf8_lossy(&r.2)
        )
    })
}

/// The value of header `name` (lower case); a panic if there is none.
pub fn header<'a>(r: &'a Answer, name: &str) -> &'a str {
    r.1.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// The `name=value` of the session cookie an answer sets.
pub fn session_cookie(r: &Answer) -> String {
    header(r, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// The body of a key sign-in to the console on `127.0.0.1:port`: `key` (of `department`,
/// `operator`) signs a fresh challenge of the node, naming the node (or `audience`) and
/// the page's `origin`, as the console's page does.
pub fn key_sign_in(
    port: u16,
    key: &govchain_crypto::PrivateKey,
    department: &str,
    operator: &str,
    audience: Option<&str>,
    origin: &str,
) -> Value {
    use govchain_proof::signed_read::{ReadTo, signing_bytes};
    let ch = json_of(&http(port, "POST", "/api/v1/session/challenge", None, None));
    let challenge = hex::decode(ch["challenge"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let to = ReadTo {
        chain_id: ch["chain_id"].as_str().unwrap(),
        audience: audience.unwrap_or_else(|| ch["node_id"].as_str().unwrap()),
        path: ch["path"].as_str().unwrap(),
        time_ms: now,
        nonce: &challenge,
    };
    let sig = key.sign(&signing_bytes(&to, origin.as_bytes()));
    serde_json::json!({"department": department, "operator": operator,
        "challenge": ch["challenge"], "time_ms": now, "signature": hex::encode(sig.to_bytes())})
}
