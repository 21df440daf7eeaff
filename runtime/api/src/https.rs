//! TLS on the node's HTTP port (the console, `/metrics`, `/healthz`): a console a browser
//! reaches over the network must not hand its session cookie, the chain salt or audit
//! records to anyone on the path. The node refuses a non-loopback HTTP address without
//! it (`api.console_tls`); `govchain console-cert` issues the certificate from the
//! network's CA.
//!
//! Handshakes run on their own tasks, a bounded number at once and each within a time
//! limit; one address holds at most 32 connections, the port at most 1,024 (more wait),
//! and a connection that carries nothing for a minute is closed: a client that opens
//! connections and never finishes a handshake, or never sends a request, ties up a
//! bounded share of the port and no file descriptors beyond it.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

/// Handshakes in progress at once; more wait for a slot.
const MAX_HANDSHAKES: usize = 256;
/// How long a client has to finish its handshake.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// Connections open at once (handshaking or established); more wait in the backlog.
const MAX_CONNECTIONS: usize = 1024;
/// Connections one address may hold open at once; more are closed at once.
const MAX_PER_ADDRESS: usize = 32;
/// How long a connection may go without a byte either way before it is closed.
const IDLE_TIME: Duration = Duration::from_secs(60);

/// The TLS settings of the HTTP port.
#[derive(Clone)]
pub struct HttpTls(Arc<ServerConfig>);

impl std::fmt::Debug for HttpTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpTls")
    }
}

impl HttpTls {
    /// TLS 1.2/1.3 (ring's suites) with the certificate chain `cert_pem` and its key
    /// `key_pem`; an error names what is wrong with them.
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<Self, String> {
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
        if certs.is_empty() {
            return Err("the certificate file holds no CERTIFICATE".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| format!("the key file holds no private key: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("the key does not fit the certificate: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(HttpTls(Arc::new(config)))
    }
}

/// Connections that finished their TLS handshake, for `axum::serve`.
pub struct TlsListener {
    done: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("local", &self.local)
            .finish()
    }
}

impl TlsListener {
    /// Accepts on `tcp` and runs each handshake on its own task until the listener is
    /// dropped.
    pub fn new(tcp: TcpListener, tls: &HttpTls) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, done) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.0.clone());
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let per_address = PerAddress::default();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = async {
                        let slot = open.clone().acquire_owned().await.ok()?;
                        Some((slot, tcp.accept().await))
                    } => a,
                    () = tx.closed() => return,
                };
                let Some((slot, accepted)) = accepted else {
                    return;
                };
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!("accepting an HTTPS connection: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(mine) = per_address.enter(peer.ip()) else {
                    tracing::debug!(%peer, "{MAX_PER_ADDRESS} connections from this address: closed");
                    continue;
                };
                let (acceptor, tx, handshakes) = (acceptor.clone(), tx.clone(), handshakes.clone());
                tokio::spawn(async move {
                    let Ok(_turn) = handshakes.acquire_owned().await else {
                        return;
                    };
                    match tokio::time::timeout(HANDSHAKE_TIME, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let conn = Conn {
                                stream,
                                idle: Box::pin(tokio::time::sleep(IDLE_TIME)),
                                _slots: (slot, mine),
                            };
                            let _ = tx.send((conn, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { done, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.done.recv().await {
            Some(c) => c,
            // The accept task ended (its runtime is shutting down).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Open connections per client address.
#[derive(Clone, Default)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl PerAddress {
    /// Counts a connection from `ip`, or `None` if it holds [`MAX_PER_ADDRESS`] already.
    fn enter(&self, ip: IpAddr) -> Option<AddressSlot> {
        let mut m = self.0.lock();
        let n = m.entry(ip).or_default();
        if *n >= MAX_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

/// One connection of an address, counted until dropped.
struct AddressSlot(PerAddress, IpAddr);

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock();
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// An established TLS connection: closed after [`IDLE_TIME`] without a byte either
/// way; holds its places in the connection counts until it closes.
pub struct Conn {
    stream: TlsStream<TcpStream>,
    idle: Pin<Box<tokio::time::Sleep>>,
    _slots: (OwnedSemaphorePermit, AddressSlot),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conn")
    }
}

impl Conn {
    fn touch(&mut self) {
        self.idle
            .as_mut()
            .reset(tokio::time::Instant::now() + IDLE_TIME);
    }

    /// `Pending` from the stream, unless the connection has been idle too long.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "idle connection",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Where a console request came from and the address it reached, whichever listener
/// took it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
}

impl Peer {
    fn of(remote: SocketAddr, socket: &TcpStream) -> Self {
        Peer {
            remote,
            // Unknown, it matches no Host.
            local: socket
                .local_addr()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        }
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(s: axum::serve::IncomingStream<'_, TcpListener>) -> Self {
        Peer::of(*s.remote_addr(), s.io())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        Peer::of(*s.remote_addr(), s.io().stream.get_ref().0)
    }
}
