//! TLS on a node's HTTP port: a node refuses to serve its console on a non-loopback
//! address in plain HTTP; `govchain console-cert` issues a certificate from the
//! network's CA and the node then serves only HTTPS there, with `Secure` session
//! cookies and sign-ins only from its own `https://` origin.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use govchain_integration_tests::http::{header, https, json_of, tls_connect, tls_over};
use govchain_integration_tests::{Network, NodeProcess, govchain_env};
use serde_json::json;

const PASS: &str = "console tls test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_off_loopback_is_served_over_tls_from_the_network_ca() {
    // given a network whose node1 is to serve its console on every interface
    let net = Network::init_with(1, Some(PASS)).unwrap();
    let env = [("GOVCHAIN_KEY_PASSPHRASE", PASS)];
    let port = net.base_port + 2000;
    let config = net.config(1);
    let plain = std::fs::read_to_string(&config).unwrap().replace(
        &format!("http = \"127.0.0.1:{port}\""),
        &format!("http = \"0.0.0.0:{port}\""),
    );
    assert!(plain.contains("0.0.0.0"), "{plain}");
    std::fs::write(&config, plain).unwrap();

    // when it starts without TLS there, it refuses, saying what to do
    let err = NodeProcess::start_with_env(&net, 1, &env)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a loopback address") && err.contains("govchain console-cert"),
        "{err}"
    );

    // a name that is no host name is refused and nothing is written
    let root = net.root.to_str().unwrap();
    let cert_args = |names: &[&'static str]| {
        let mut a = vec![
            "--json",
            "console-cert",
            "--network",
            root,
            "--node",
            "node1",
        ];
        for n in names {
            a.extend(["--name", *n]);
        }
        a
    };
    let bad = govchain_env(&cert_args(&["https://console.example"]), &env).unwrap_err();
    assert!(bad.to_string().contains("neither a host name"), "{bad}");
    assert!(!net.root.join("node1/tls/console.pem").exists());

    // then console-cert issues its certificate and sets it in the config
    let out: serde_json::Value =
        serde_json::from_str(&govchain_env(&cert_args(&["localhost", "127.0.0.1"]), &env).unwrap())
            .unwrap();
    assert_eq!(out["listen"], format!("0.0.0.0:{port}"));
    assert_eq!(out["urls"][0], format!("https://localhost:{port}/"));
    // run again, it renews: a new certificate and key in place of the old
    let cert_file = net.root.join("node1/tls/console.pem");
    let first = std::fs::read_to_string(&cert_file).unwrap();
    govchain_env(&cert_args(&["localhost", "127.0.0.1"]), &env).unwrap();
    assert_ne!(std::fs::read_to_string(&cert_file).unwrap(), first);
    let node = NodeProcess::start_with_env(&net, 1, &env).await.unwrap();
    let ca = std::fs::read_to_string(net.root.join("tls/ca.pem")).unwrap();

    // the console answers over TLS by both names, its certificate from the network CA
    for host in ["localhost", "127.0.0.1"] {
        let r = https(port, &ca, host, "GET", "/api/v1/info", None, None).unwrap();
        assert_eq!(json_of(&r)["node_id"], "node1", "{host}");
    }
    let metrics = https(port, &ca, "localhost", "GET", "/metrics", None, None).unwrap();
    assert_eq!(metrics.0, 200);

    // a client that trusts another CA, or asks for a name the certificate lacks, is
    // refused in the handshake
    let other = Network::init(1).unwrap();
    let other_ca = std::fs::read_to_string(other.root.join("tls/ca.pem")).unwrap();
    let e = https(
        port,
        &other_ca,
        "localhost",
        "GET",
        "/api/v1/info",
        None,
        None,
    )
    .unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    let e = https(
        port,
        &ca,
        "console.example",
        "GET",
        "/api/v1/info",
        None,
        None,
    )
    .unwrap_err();
    assert!(e.contains("certificate"), "{e}");

    unanswered_and_bounded(port, &ca).await;

    // a sign-in sets a Secure cookie; one from the plain-HTTP origin of the same host
    // is refused and opens no session
    let credential = std::fs::read_to_string(net.root.join("node1/console.credential")).unwrap();
    let body = json!({"credential": credential.trim()});
    let r = https(
        port,
        &ca,
        "localhost",
        "POST",
        "/api/v1/session",
        None,
        Some(&body),
    )
    .unwrap();
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    let cookie = header(&r, "set-cookie");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let s = tls_connect(port, &ca, "localhost").unwrap();
    let body = body.to_string();
    let head = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    let text = raw(s, &format!("{head}\r\n{body}"));
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(
        text.contains("https://localhost") && !text.to_ascii_lowercase().contains("set-cookie"),
        "{text}"
    );
    drop(node);
}

/// Sends `request` (head lines, then the rest) with `Connection: close` and returns
/// whatever comes back, as text.
fn raw(mut s: impl Read + Write, request: &str) -> String {
    let (head, rest) = request.split_once("\r\n\r\n").unwrap_or((request, ""));
    let head = head.trim_end_matches("\r\n");
    s.write_all(format!("{head}\r\nConnection: close\r\n\r\n{rest}").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Plain HTTP on the TLS port is closed unanswered; one address holding 32 connections
/// gets no more and keeps no one else out.
async fn unanswered_and_bounded(port: u16, ca: &str) {
    // plain HTTP on the port gets no answer from the console
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let head = format!("GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    let started = Instant::now();
    let text = raw(s, &head);
    assert!(!text.contains("node1"), "plain HTTP answered: {text}");
    assert!(started.elapsed() < Duration::from_secs(5), "closed at once");

    // one address that holds 32 connections without a handshake gets no more, and
    // holds up no one else
    let idle: Vec<_> = (0..32)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut more = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    more.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(more.read(&mut [0u8; 16]).unwrap(), 0, "the 33rd is closed");
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let sock = sock.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let sock = sock.into_std().unwrap();
    sock.set_nonblocking(false).unwrap();
    let other = tls_over(sock, ca, "localhost").unwrap();
    let text = raw(
        other,
        &format!("GET /api/v1/info HTTP/1.1\r\nHost: localhost:{port}\r\n"),
    );
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("node1"),
        "{text}"
    );
    // once it closes them, the address is served again
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while https(port, ca, "localhost", "GET", "/api/v1/info", None, None).is_err() {
        assert!(Instant::now() < deadline, "127.0.0.1 is not served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
