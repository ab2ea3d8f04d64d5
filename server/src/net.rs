//! Serving HTTP(S): the listener, TLS, an accept loop whose header-read and handshake timeouts
//! are really enforced, graceful shutdown, and the client address behind trusted proxies.
//!
//! ```no_run
//! # async fn demo(cfg: &sealpost_server::config::ServerConfig, router: axum::Router) -> Result<(), sealpost_server::net::NetError> {
//! use sealpost_server::net;
//! let router = router.layer(net::client_ip_layer(cfg.trusted_proxies.clone()));
//! let server = net::bind(cfg).await?;
//! println!("listening on {}", server.local_addr());
//! server.serve(router, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::HeaderName;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::{Layer, Service, ServiceExt};

use crate::config::{MAX_DURATION_SECS, ServerConfig};

/// The HTTP/2 connection preface; anything else is HTTP/1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Pause after an accept error that is not the peer's fault (EMFILE, ENOBUFS…).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// HTTP/2 keep-alive pings detect dead peers.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the server could not start or keep serving. Messages name files but never contain key
/// material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        error: io::Error,
    },
    /// Only one of `tls_cert` and `tls_key` is configured.
    #[error("server.tls_cert and server.tls_key must be set together")]
    TlsIncomplete,
    /// The certificate chain file is unreadable or holds no usable certificate.
    #[error("TLS certificate file {}: {reason}", path.display())]
    TlsCert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The private key file is unreadable or holds no usable key.
    #[error("TLS private key file {}: {reason}", path.display())]
    TlsKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate and key were read but do not form a usable TLS configuration.
    #[error("TLS certificate {} with key {}: {reason}", cert.display(), key.display())]
    TlsConfig {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls refused.
        reason: String,
    },
    /// The bound socket's address could not be read.
    #[error("cannot read the listener's local address: {0}")]
    LocalAddr(io::Error),
}

/// A bound listener, ready to [`serve`](BoundServer::serve).
pub struct BoundServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    shutdown_grace: Duration,
    /// The reloadable certificate behind `tls`, and how often its files are checked.
    cert_files: Option<(Arc<CertFiles>, Duration)>,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("header_read_timeout", &self.header_read_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

/// Loads TLS (when `tls_cert` and `tls_key` are set) and binds `cfg.listen`.
pub async fn bind(cfg: &ServerConfig) -> Result<BoundServer, NetError> {
    let (tls, cert_files) = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => {
            let (config, files) = tls_server_config(CertFiles::load(cert, key)?)?;
            (
                Some(TlsAcceptor::from(Arc::new(config))),
                Some((files, TLS_RELOAD_INTERVAL)),
            )
        }
        (None, None) => (None, None),
        _ => return Err(NetError::TlsIncomplete),
    };
    let listener = TcpListener::bind(cfg.listen).await.map_err(|error| NetError::Bind {
        addr: cfg.listen,
        error,
    })?;
    let local_addr = listener.local_addr().map_err(NetError::LocalAddr)?;
    Ok(BoundServer {
        listener,
        local_addr,
        tls,
        header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs.clamp(1, MAX_DURATION_SECS)),
        shutdown_grace: Duration::from_secs(cfg.shutdown_grace_secs.min(MAX_DURATION_SECS)),
        cert_files,
    })
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, ALPN h2 and http/1.1) from
/// PEM files.
pub fn tls_config(cert_path: &Path, key_path: &Path) -> Result<rustls::ServerConfig, NetError> {
    Ok(tls_server_config(CertFiles::load(cert_path, key_path)?)?.0)
}

/// The configuration and the reloadable certificate it serves.
fn tls_server_config(files: Arc<CertFiles>) -> Result<(rustls::ServerConfig, Arc<CertFiles>), NetError> {
    let config_err = |reason: String| NetError::TlsConfig {
        cert: files.cert_path.clone(),
        key: files.key_path.clone(),
        reason,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(files.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, files))
}

/// Reads a certificate chain and its private key from PEM files and checks that they match.
fn certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, NetError> {
    let cert_err = |reason: String| NetError::TlsCert {
        path: cert_path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| cert_err(pem_reason(&e, "certificate")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(pem_reason(&e, "certificate")))?;
    if certs.is_empty() {
        return Err(cert_err(
            "contains no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| NetError::TlsKey {
        path: key_path.to_owned(),
        reason: pem_reason(&e, "private key"),
    })?;
    CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider()).map_err(|e| NetError::TlsConfig {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        reason: e.to_string(),
    })
}

/// How often the certificate and key files are checked for a change.
pub const TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// What identifies one version of a file: modification time, length, inode (a Kubernetes
/// secret volume swaps a symlink, which changes the inode).
type FileStamp = Option<(std::time::SystemTime, u64, u64)>;

fn file_stamp(path: &Path) -> FileStamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// The served certificate and key, reloaded from their files without a restart: when the files
/// change (checked every [`TLS_RELOAD_INTERVAL`]) and on SIGHUP. A new pair that does not load
/// or does not match is refused with a log line and the current one stays in service. New
/// handshakes get the new certificate; connections already open keep theirs.
#[derive(Debug)]
pub struct CertFiles {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: std::sync::RwLock<Arc<CertifiedKey>>,
    /// The stamps of the last pair tried (loaded or refused), so a bad pair is reported once.
    tried: std::sync::Mutex<(FileStamp, FileStamp)>,
}

impl CertFiles {
    /// Loads the pair; a bad pair is an error.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, NetError> {
        let stamps = (file_stamp(cert_path), file_stamp(key_path));
        let key = certified_key(cert_path, key_path)?;
        Ok(Arc::new(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: std::sync::RwLock::new(Arc::new(key)),
            tried: std::sync::Mutex::new(stamps),
        }))
    }

    /// Reloads the pair if its files changed since the last try (always, when `force`).
    /// Returns whether a new pair is now served; a bad pair leaves the current one in place.
    pub fn reload(&self, force: bool) -> Result<bool, NetError> {
        let stamps = (file_stamp(&self.cert_path), file_stamp(&self.key_path));
        {
            let mut tried = self.tried.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !force && *tried == stamps {
                return Ok(false);
            }
            *tried = stamps;
        }
        let key = certified_key(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(key);
        Ok(true)
    }

    /// Reloads as [`CertFiles::reload`] does and logs the outcome.
    fn reload_logged(&self, force: bool) {
        match self.reload(force) {
            Ok(true) => tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded"),
            Ok(false) => {}
            Err(e) => tracing::error!(
                error = %e,
                "the new TLS certificate or key was refused; the current one stays in service"
            ),
        }
    }

    /// Watches the files every `interval` and on SIGHUP until the task is aborted.
    pub fn watch(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS files are still checked periodically");
                    None
                }
            };
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                let force = tokio::select! {
                    _ = tick.tick() => false,
                    Some(()) = async {
                        match hangup.as_mut() {
                            Some(h) => h.recv().await,
                            None => std::future::pending().await,
                        }
                    } => true,
                };
                if force {
                    tracing::info!("SIGHUP: reloading the TLS certificate and key");
                }
                self.reload_logged(force);
            }
        })
    }
}

impl rustls::server::ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Describes a PEM error without quoting the file's content.
fn pem_reason(e: &rustls_pki_types::pem::Error, what: &str) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(io) => format!("cannot be read: {io}"),
        Error::NoItemsFound => format!("contains no PEM {what}"),
        Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_owned(),
        Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        Error::Base64Decode(_) => "a PEM section is not valid base64".to_owned(),
        Error::SectionTooLarge => "a PEM section is too large".to_owned(),
        _ => format!("is not a valid PEM {what}"),
    }
}

impl BoundServer {
    /// Wraps an already bound, non-blocking standard listener (plain HTTP). Must be called
    /// inside a Tokio runtime.
    pub fn from_std(
        listener: std::net::TcpListener,
        header_read_timeout: Duration,
        shutdown_grace: Duration,
    ) -> io::Result<Self> {
        let listener = TcpListener::from_std(listener)?;
        let local_addr = listener.local_addr()?;
        let max = Duration::from_secs(MAX_DURATION_SECS);
        Ok(Self {
            listener,
            local_addr,
            tls: None,
            header_read_timeout: header_read_timeout.clamp(Duration::from_millis(1), max),
            shutdown_grace: shutdown_grace.min(max),
            cert_files: None,
        })
    }

    /// Checks the TLS certificate and key files for a change every `interval` instead of every
    /// [`TLS_RELOAD_INTERVAL`] (tests).
    pub fn with_tls_reload_interval(mut self, interval: Duration) -> Self {
        if let Some((_, every)) = &mut self.cert_files {
            *every = interval.max(Duration::from_millis(10));
        }
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves `router` until `shutdown` completes, then stops accepting, lets in-flight
    /// connections finish for up to `shutdown_grace_secs`, closes the rest and returns.
    ///
    /// Every request carries `ConnectInfo<SocketAddr>` (the TCP peer) in its extensions. A
    /// client must complete the TLS handshake and send its first bytes within
    /// `header_read_timeout_secs`, and each request's headers within the same time.
    pub async fn serve(
        self,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NetError> {
        let BoundServer {
            listener,
            local_addr,
            tls,
            header_read_timeout,
            shutdown_grace,
            cert_files,
        } = self;
        let _reloader = match cert_files {
            Some((files, every)) => AbortOnDrop(files.watch(every)),
            // Without TLS there is nothing to reload, but SIGHUP (`systemctl reload`) must not
            // end the process, which is its default action.
            None => AbortOnDrop(tokio::spawn(ignore_hangups())),
        };
        let builder = Arc::new(http_builder(header_read_timeout));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(%local_addr, tls = tls.is_some(), "listening");
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(done) = connections.join_next(), if !connections.is_empty() => log_join(done),
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let conn = Connection {
                            peer,
                            tls: tls.clone(),
                            builder: Arc::clone(&builder),
                            router: router.clone(),
                            header_read_timeout,
                            stop: stop_rx.clone(),
                        };
                        connections.spawn(conn.run(stream));
                    }
                    Err(e) if is_peer_error(&e) => tracing::debug!(error = %e, "accept: connection failed"),
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed; retrying shortly");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => {}
                        }
                    }
                },
            }
        }
        drop(listener);
        let open = connections.len();
        tracing::info!(
            open_connections = open,
            grace_secs = shutdown_grace.as_secs(),
            "shutting down"
        );
        stop_tx.send_replace(true);
        let drained = tokio::time::timeout(shutdown_grace, async {
            while let Some(done) = connections.join_next().await {
                log_join(done);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                "shutdown grace period elapsed; closing the remaining connections"
            );
            connections.shutdown().await;
        }
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if done.is_err_and(|e| e.is_panic()) {
        tracing::error!("a connection task panicked");
    }
}

/// Errors of one failed incoming connection, as opposed to the listener's resources.
fn is_peer_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn http_builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper disables header_read_timeout silently without a timer: set one.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_KEEP_ALIVE_INTERVAL))
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    builder
}

/// One accepted connection.
struct Connection {
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    header_read_timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        // The handshake and the first bytes share one deadline; hyper's own timer covers the
        // request headers after that.
        let deadline = Instant::now() + self.header_read_timeout;
        let mut stop = self.stop.clone();
        match self.tls.take() {
            None => {
                let opened = tokio::select! {
                    opened = tokio::time::timeout_at(deadline, Rewind::read_first_bytes(stream)) => opened,
                    () = stopped(&mut stop) => return,
                };
                match opened {
                    Ok(Ok(Some(io))) => self.serve_http(io).await,
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "connection failed"),
                    Err(_) => tracing::debug!(peer = %self.peer, "no request before header_read_timeout"),
                }
            }
            Some(acceptor) => {
                let opened = tokio::select! {
                    opened = tokio::time::timeout_at(deadline, async {
                        let tls = acceptor.accept(stream).await?;
                        Rewind::read_first_bytes(tls).await
                    }) => opened,
                    () = stopped(&mut stop) => return,
                };
                match opened {
                    Ok(Ok(Some(io))) => self.serve_http(io).await,
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
                }
            }
        }
    }

    async fn serve_http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let service = self.router.map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        let mut conn = std::pin::pin!(conn);
        let mut stop = self.stop;
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection closed with an error");
        }
    }
}

/// Completes when shutdown has been signalled (or the server is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: it is not `Send`.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// A stream with the bytes already read from it put back in front.
struct Rewind<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> Rewind<S> {
    /// Reads until the bytes are known not to be (or to be) the HTTP/2 preface, so that the
    /// protocol detection that follows never waits on the client. `None` on a clean EOF.
    async fn read_first_bytes(mut inner: S) -> io::Result<Option<Self>> {
        let mut buf = vec![0u8; H2_PREFACE.len()];
        let mut filled = 0;
        while filled < buf.len() {
            let n = inner.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
            if buf[..filled] != H2_PREFACE[..filled] {
                break;
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        buf.truncate(filled);
        Ok(Some(Self {
            prefix: buf,
            pos: 0,
            inner,
        }))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() && buf.remaining() > 0 {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// ---------------------------------------------------------------------------------------------
// Client address
// ---------------------------------------------------------------------------------------------

/// The client's address: the TCP peer, or the address a trusted proxy forwarded. Inserted into
/// request extensions by [`client_ip_layer`]; also an extractor.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<ClientIp>().copied().ok_or_else(|| {
            tracing::error!("ClientIp requested but client_ip_layer is not installed");
            (StatusCode::INTERNAL_SERVER_ERROR, "client address unavailable")
        })
    }
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address of a request from `peer`.
///
/// When `peer` is not one of the `trusted` proxies, it is the answer and forwarded headers are
/// ignored entirely (anyone can send them). Otherwise `X-Forwarded-For` (all instances, comma
/// lists) is walked from the right, each hop having been appended by the proxy before it:
/// addresses of trusted proxies are skipped and the first other address is the client. A
/// malformed entry stops the walk at the last trusted hop, and so does the end of the list.
/// IPv4-mapped IPv6 addresses count as IPv4.
///
/// Only `X-Forwarded-For` is read, not RFC 7239 `Forwarded`: a proxy that sets one of them
/// usually passes a client's forged copy of the other through, so believing both would let
/// clients choose their address.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer_ip = peer.ip().to_canonical();
    if !is_trusted(&peer_ip) {
        return peer_ip;
    }
    let mut last_trusted = peer_ip;
    for value in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = value.to_str() else { return last_trusted };
        for entry in text.rsplit(',') {
            match parse_hop(entry.trim()) {
                Some(ip) if is_trusted(&ip) => last_trusted = ip,
                Some(ip) => return ip,
                None => return last_trusted,
            }
        }
    }
    last_trusted
}

/// One `X-Forwarded-For` entry: an address, optionally bracketed (IPv6) and with a port.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<Ipv6Addr>().ok().map(|ip| IpAddr::V6(ip).to_canonical())
}

/// A layer that inserts [`ClientIp`] into every request that has `ConnectInfo<SocketAddr>`
/// (as [`BoundServer::serve`] provides). Apply it outside (after) `telemetry::http_layers`, so
/// that request spans carry the resolved address.
pub fn client_ip_layer(trusted: Vec<ipnet::IpNet>) -> ClientIpLayer {
    ClientIpLayer {
        trusted: trusted.into(),
    }
}

/// See [`client_ip_layer`].
#[derive(Clone, Debug)]
pub struct ClientIpLayer {
    trusted: Arc<[ipnet::IpNet]>,
}

impl<S> Layer<S> for ClientIpLayer {
    type Service = ClientIpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientIpService {
            inner,
            trusted: Arc::clone(&self.trusted),
        }
    }
}

/// The service of [`ClientIpLayer`].
#[derive(Clone, Debug)]
pub struct ClientIpService<S> {
    inner: S,
    trusted: Arc<[ipnet::IpNet]>,
}

impl<S, B> Service<Request<B>> for ClientIpService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
            let ip = client_ip(peer, req.headers(), &self.trusted);
            req.extensions_mut().insert(ClientIp(ip));
        }
        self.inner.call(req)
    }
}

/// Receives SIGHUP and only logs it (the server terminates no TLS, so nothing reloads).
async fn ignore_hangups() {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: nothing to reload (the server terminates no TLS)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_parse() {
        assert_eq!(parse_hop("1.2.3.4"), Some("1.2.3.4".parse().expect("ip")));
        assert_eq!(parse_hop("1.2.3.4:80"), Some("1.2.3.4".parse().expect("ip")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some("2001:db8::1".parse().expect("ip")));
        assert_eq!(parse_hop("[2001:db8::1]"), Some("2001:db8::1".parse().expect("ip")));
        assert_eq!(parse_hop("::ffff:10.0.0.1"), Some("10.0.0.1".parse().expect("ip")));
        for bad in ["", "unknown", "1.2.3", "_hidden", "[1.2.3.4]", "fe80::1%eth0"] {
            assert_eq!(parse_hop(bad), None, "{bad}");
        }
    }
}
