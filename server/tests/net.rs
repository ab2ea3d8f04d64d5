//! Serving: plain and TLS round trips, enforced timeouts, graceful shutdown, the peer and client
//! addresses, and request telemetry that never leaks credentials.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::get;
use rustls_pki_types::pem::PemObject as _;
use sealpost_server::config::{MetricsConfig, ServerConfig};
use sealpost_server::net::{self, ClientIp, NetError};
use sealpost_server::telemetry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty HTTP/2 SETTINGS frame.
const H2_EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

fn test_config() -> ServerConfig {
    ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        header_read_timeout_secs: 1,
        shutdown_grace_secs: 5,
        ..ServerConfig::default()
    }
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), NetError>>,
}

impl Running {
    async fn start(cfg: &ServerConfig, router: Router) -> Self {
        let server = net::bind(cfg).await.expect("bind");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(router, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn shutdown(mut self) -> Duration {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("serve returns")
            .expect("serve task")
            .expect("serve result");
        started.elapsed()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

fn hello_router() -> Router {
    Router::new().route("/hello", get(|| async { "hi" }))
}

/// Reads until EOF or error; returns what was read and how long it took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {limit:?}"),
            Ok(Ok(0) | Err(_)) => return (out, started.elapsed()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn raw_request(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let (bytes, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn plain_http_round_trip() {
    let server = Running::start(&test_config(), hello_router()).await;
    let response = client().get(server.url("/hello")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.text().await.expect("body"), "hi");
    server.shutdown().await;
}

#[tokio::test]
async fn plain_http2_prior_knowledge_is_detected() {
    let server = Running::start(&test_config(), hello_router()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    // The preface in two pieces: detection must wait for the rest, not guess HTTP/1.
    stream.write_all(&H2_PREFACE[..5]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(&H2_PREFACE[5..]).await.expect("write");
    stream.write_all(H2_EMPTY_SETTINGS).await.expect("write");
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(head[3], 4, "the server answers with a SETTINGS frame");
    drop(stream);
    server.shutdown().await;
}

#[tokio::test]
async fn connect_info_and_client_ip_reach_handlers() {
    let router = Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route("/client", get(|ClientIp(ip): ClientIp| async move { ip.to_string() }));

    // No trusted proxy: the forged header is ignored.
    let untrusting = Running::start(&test_config(), router.clone().layer(net::client_ip_layer(Vec::new()))).await;
    let peer = client()
        .get(untrusting.url("/peer"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(peer, "127.0.0.1");
    let ip = client()
        .get(untrusting.url("/client"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(ip, "127.0.0.1");
    untrusting.shutdown().await;

    // Loopback is a trusted proxy: the forwarded address is the client.
    let trusted = vec!["127.0.0.0/8".parse().expect("net")];
    let trusting = Running::start(&test_config(), router.layer(net::client_ip_layer(trusted))).await;
    let ip = client()
        .get(trusting.url("/client"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(ip, "203.0.113.9");
    trusting.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Timeouts and shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stalled_request_headers_are_cut_off() {
    let server = Running::start(&test_config(), hello_router()).await;

    // A partial request line, then nothing.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: loc")
        .await
        .expect("write");
    let (_, waited) = read_until_closed(&mut stream, Duration::from_secs(4)).await;
    assert!(waited >= Duration::from_millis(800), "closed too early: {waited:?}");
    assert!(waited < Duration::from_millis(2500), "closed too late: {waited:?}");

    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let (_, waited) = read_until_closed(&mut silent, Duration::from_secs(4)).await;
    assert!(
        waited < Duration::from_millis(2500),
        "silent connection kept for {waited:?}"
    );

    // A partial HTTP/2 preface, then nothing.
    let mut partial = TcpStream::connect(server.addr).await.expect("connect");
    partial.write_all(&H2_PREFACE[..10]).await.expect("write");
    let (_, waited) = read_until_closed(&mut partial, Duration::from_secs(4)).await;
    assert!(
        waited < Duration::from_millis(2500),
        "partial preface kept for {waited:?}"
    );

    // The server still works.
    let response = client().get(server.url("/hello")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let started_tx = Arc::new(Mutex::new(Some(started_tx)));
    let router = Router::new().route(
        "/slow",
        get(move || {
            let started_tx = Arc::clone(&started_tx);
            async move {
                if let Some(tx) = started_tx.lock().expect("lock").take() {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_millis(600)).await;
                "done"
            }
        }),
    );
    let server = Running::start(&test_config(), router).await;
    let url = server.url("/slow");
    let addr = server.addr;
    let request = tokio::spawn(async move { client().get(url).send().await?.text().await });
    started_rx.await.expect("the request reached the handler");

    let took = server.shutdown().await;
    assert_eq!(
        request.await.expect("task").expect("in-flight request completes"),
        "done"
    );
    assert!(
        took >= Duration::from_millis(300),
        "serve returned before the request finished: {took:?}"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test]
async fn shutdown_grace_is_bounded() {
    let router = Router::new().route(
        "/stuck",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    let cfg = ServerConfig {
        shutdown_grace_secs: 1,
        ..test_config()
    };
    let server = Running::start(&cfg, router).await;
    let url = server.url("/stuck");
    let request = tokio::spawn(async move { client().get(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = server.shutdown().await;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert!(request.await.expect("task").is_err(), "the stuck request is cut off");
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

struct TestCert {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    cert_pem: String,
}

fn test_cert() -> TestCert {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_pem = generated.cert.pem();
    let cert = write_file(dir.path(), "cert.pem", &cert_pem);
    let key = write_file(dir.path(), "key.pem", &generated.signing_key.serialize_pem());
    TestCert {
        _dir: dir,
        cert,
        key,
        cert_pem,
    }
}

fn write_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(content.as_bytes()).expect("write");
    path
}

fn tls_config(cert: &TestCert) -> ServerConfig {
    ServerConfig {
        tls_cert: Some(cert.cert.clone()),
        tls_key: Some(cert.key.clone()),
        ..test_config()
    }
}

#[tokio::test]
async fn tls_round_trip() {
    let cert = test_cert();
    let server = Running::start(&tls_config(&cert), hello_router()).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.cert_pem.as_bytes()).expect("pem")])
        .resolve("localhost", server.addr)
        .build()
        .expect("client");
    let response = client
        .get(format!("https://localhost:{}/hello", server.addr.port()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "hi");

    // Plain HTTP to the TLS port gets nowhere.
    assert!(reqwest::Client::new().get(server.url("/hello")).send().await.is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn tls_negotiates_h2_by_alpn() {
    let cert = test_cert();
    let server = Running::start(&tls_config(&cert), hello_router()).await;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("der");
    roots.add(der).expect("root");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(H2_PREFACE).await.expect("write");
    tls.write_all(H2_EMPTY_SETTINGS).await.expect("write");
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut head))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(head[3], 4, "the server answers with a SETTINGS frame");
    drop(tls);

    // A client that connects and never starts the handshake is dropped.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    let (_, waited) = read_until_closed(&mut idle, Duration::from_secs(4)).await;
    assert!(
        waited < Duration::from_millis(2500),
        "handshake not bounded: {waited:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bad_tls_files_are_reported_without_their_content() {
    let cert = test_cert();
    let dir = tempfile::tempdir().expect("tempdir");
    let key_pem = std::fs::read_to_string(&cert.key).expect("key");
    let key_body = key_pem.lines().nth(1).expect("a base64 line").to_owned();

    // Garbage instead of a certificate.
    let garbage = write_file(dir.path(), "garbage.pem", "not a certificate\n");
    let cfg = ServerConfig {
        tls_cert: Some(garbage.clone()),
        ..tls_config(&cert)
    };
    let msg = net::bind(&cfg).await.expect_err("garbage certificate").to_string();
    assert!(msg.contains("garbage.pem") && msg.contains("certificate"), "{msg}");

    // The key file holds a certificate only.
    let cfg = ServerConfig {
        tls_key: Some(cert.cert.clone()),
        ..tls_config(&cert)
    };
    let msg = net::bind(&cfg).await.expect_err("no key").to_string();
    assert!(msg.contains("cert.pem") && msg.contains("private key"), "{msg}");

    // The certificate holds the key: its content never appears in the message.
    let cfg = ServerConfig {
        tls_cert: Some(cert.key.clone()),
        ..tls_config(&cert)
    };
    let msg = net::bind(&cfg).await.expect_err("key as certificate").to_string();
    assert!(msg.contains("key.pem") && !msg.contains(&key_body), "{msg}");

    // A corrupted key section.
    let corrupted = write_file(
        dir.path(),
        "corrupt.pem",
        &key_pem.replace(&key_body, "!!!!not-base64!!!!"),
    );
    let cfg = ServerConfig {
        tls_key: Some(corrupted),
        ..tls_config(&cert)
    };
    let msg = net::bind(&cfg).await.expect_err("corrupt key").to_string();
    assert!(msg.contains("corrupt.pem") && !msg.contains(&key_body), "{msg}");

    // A key that does not belong to the certificate.
    let other = test_cert();
    let cfg = ServerConfig {
        tls_key: Some(other.key.clone()),
        ..tls_config(&cert)
    };
    let msg = net::bind(&cfg).await.expect_err("mismatched key").to_string();
    assert!(msg.contains("cert.pem") && msg.contains("key.pem"), "{msg}");

    // A missing file, and only one of the two.
    let cfg = ServerConfig {
        tls_cert: Some(dir.path().join("missing.pem")),
        ..tls_config(&cert)
    };
    let msg = net::bind(&cfg).await.expect_err("missing").to_string();
    assert!(msg.contains("missing.pem"), "{msg}");
    let cfg = ServerConfig {
        tls_key: None,
        ..tls_config(&cert)
    };
    assert!(matches!(net::bind(&cfg).await, Err(NetError::TlsIncomplete)));
}

// ---------------------------------------------------------------------------------------------
// Client address
// ---------------------------------------------------------------------------------------------

fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
    list.iter().map(|n| n.parse().expect("net")).collect()
}

fn xff(values: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for v in values {
        headers.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
    }
    headers
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn peer(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn client_ip_ignores_forwarded_headers_from_untrusted_peers() {
    let headers = xff(&["198.51.100.1, 10.0.0.1"]);
    assert_eq!(net::client_ip(peer("192.0.2.7:5000"), &headers, &[]), ip("192.0.2.7"));
    let trusted = nets(&["10.0.0.0/8"]);
    assert_eq!(
        net::client_ip(peer("192.0.2.7:5000"), &headers, &trusted),
        ip("192.0.2.7")
    );
}

#[test]
fn client_ip_behind_one_proxy() {
    let trusted = nets(&["10.0.0.1/32"]);
    let proxy = peer("10.0.0.1:4000");
    assert_eq!(
        net::client_ip(proxy, &xff(&["203.0.113.7"]), &trusted),
        ip("203.0.113.7")
    );
    // A client-forged entry to the left is not believed: the proxy appended the real one.
    assert_eq!(
        net::client_ip(proxy, &xff(&["1.1.1.1, 203.0.113.7"]), &trusted),
        ip("203.0.113.7")
    );
    assert_eq!(
        net::client_ip(proxy, &xff(&["1.1.1.1", "203.0.113.7"]), &trusted),
        ip("203.0.113.7")
    );
    // With ports.
    assert_eq!(
        net::client_ip(proxy, &xff(&["203.0.113.7:5555"]), &trusted),
        ip("203.0.113.7")
    );
    // No header: the proxy itself.
    assert_eq!(net::client_ip(proxy, &HeaderMap::new(), &trusted), ip("10.0.0.1"));
}

#[test]
fn client_ip_behind_two_proxies() {
    let trusted = nets(&["10.0.0.0/8"]);
    let inner = peer("10.0.0.2:4000");
    assert_eq!(
        net::client_ip(inner, &xff(&["1.1.1.1, 203.0.113.7, 10.0.0.1"]), &trusted),
        ip("203.0.113.7")
    );
    // The same chain split over two header lines.
    assert_eq!(
        net::client_ip(inner, &xff(&["1.1.1.1, 203.0.113.7", "10.0.0.1"]), &trusted),
        ip("203.0.113.7")
    );
    // Only proxies in the chain: the leftmost (last walked) trusted hop.
    assert_eq!(
        net::client_ip(inner, &xff(&["10.0.0.5, 10.0.0.1"]), &trusted),
        ip("10.0.0.5")
    );
}

#[test]
fn client_ip_ipv6() {
    let trusted = nets(&["::1/128", "fd00::/8"]);
    let proxy = peer("[::1]:4000");
    assert_eq!(
        net::client_ip(proxy, &xff(&["2001:db8::7"]), &trusted),
        ip("2001:db8::7")
    );
    assert_eq!(
        net::client_ip(proxy, &xff(&["[2001:db8::7]:443, fd00::1"]), &trusted),
        ip("2001:db8::7")
    );
    // An IPv4-mapped peer is matched against IPv4 ranges.
    let v4 = nets(&["10.0.0.0/8"]);
    assert_eq!(
        net::client_ip(peer("[::ffff:10.0.0.1]:4000"), &xff(&["203.0.113.7"]), &v4),
        ip("203.0.113.7")
    );
    assert_eq!(
        net::client_ip(peer("[::ffff:192.0.2.1]:4000"), &xff(&["203.0.113.7"]), &v4),
        ip("192.0.2.1")
    );
}

#[test]
fn client_ip_garbage_stops_at_the_last_trusted_hop() {
    let trusted = nets(&["10.0.0.0/8"]);
    let proxy = peer("10.0.0.2:4000");
    for garbage in ["garbage", "", " , ", "unknown", "203.0.113.7 extra", "999.1.1.1"] {
        assert_eq!(
            net::client_ip(proxy, &xff(&[garbage]), &trusted),
            ip("10.0.0.2"),
            "{garbage:?}"
        );
    }
    assert_eq!(
        net::client_ip(proxy, &xff(&["203.0.113.7, garbage"]), &trusted),
        ip("10.0.0.2")
    );
    assert_eq!(
        net::client_ip(proxy, &xff(&["203.0.113.7, garbage, 10.0.0.9"]), &trusted),
        ip("10.0.0.9")
    );
    // Garbage to the left of the client does not matter.
    assert_eq!(
        net::client_ip(proxy, &xff(&["garbage, 203.0.113.7"]), &trusted),
        ip("203.0.113.7")
    );
    // Bytes that are not text.
    let mut headers = HeaderMap::new();
    headers.append("x-forwarded-for", HeaderValue::from_bytes(b"\xff\xfe").expect("value"));
    assert_eq!(net::client_ip(proxy, &headers, &trusted), ip("10.0.0.2"));
}

// ---------------------------------------------------------------------------------------------
// Telemetry
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

fn api_router() -> Router {
    let router = Router::new().route("/api/v1/messages/{id}", get(|| async { "message" }));
    telemetry::http_layers(router).layer(net::client_ip_layer(Vec::new()))
}

/// Runs on the current-thread runtime, so the thread-local subscriber sees the server's events.
#[tokio::test]
async fn request_logs_have_ids_and_routes_but_no_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Running::start(&test_config(), api_router()).await;
    let response = raw_request(
        server.addr,
        "GET /api/v1/messages/msgid-leak?token=tok3n-leak HTTP/1.1\r\n\
         Host: localhost\r\n\
         Authorization: Bearer sp_secretvalue\r\n\
         Cookie: session=cookie-leak\r\n\
         X-Sealpost-Token: hdr-leak\r\n\
         X-Request-Id: caller-id.42\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("x-request-id: caller-id.42"),
        "{response}"
    );

    // An unacceptable caller id is replaced by a generated one.
    let response = raw_request(
        server.addr,
        "GET /api/v1/messages/other HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: bad id!\r\nConnection: close\r\n\r\n",
    )
    .await;
    let generated = response
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_owned))
        .expect("a request id in the response");
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()), "{generated}");

    // No route: labelled as unmatched, still with an id.
    let response = raw_request(
        server.addr,
        "GET /nowhere/secret-path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.shutdown().await;

    let logs = capture.text();
    assert!(logs.contains("caller-id.42"), "{logs}");
    assert!(logs.contains(&generated), "{logs}");
    assert!(logs.contains("route=/api/v1/messages/{id}"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("client_ip=127.0.0.1"), "{logs}");
    assert!(logs.contains("latency_ms="), "{logs}");
    for secret in [
        "sp_secretvalue",
        "tok3n-leak",
        "token=",
        "cookie-leak",
        "hdr-leak",
        "msgid-leak",
        "secret-path",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs:\n{logs}");
    }
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener() {
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let metrics_addr = telemetry::install_metrics(&MetricsConfig {
        listen: Some(local),
        token: None,
    })
    .expect("install")
    .expect("address");
    assert_ne!(metrics_addr.port(), 0);
    // Installing again in the same process reuses the recorder.
    let again = telemetry::install_metrics(&MetricsConfig {
        listen: Some(local),
        token: None,
    })
    .expect("second install");
    assert!(again.is_some());
    assert_eq!(
        telemetry::install_metrics(&MetricsConfig {
            listen: None,
            token: None,
        })
        .expect("disabled"),
        None
    );

    let server = Running::start(&test_config(), api_router()).await;
    let response = client()
        .get(server.url("/api/v1/messages/abc"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));

    let body = client()
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains(r#"sealpost_http_requests_total{method="GET",route="/api/v1/messages/{id}",status="200"}"#),
        "{body}"
    );
    assert!(body.contains("sealpost_http_request_duration_seconds_bucket"), "{body}");
    assert!(
        !body.contains("/api/v1/messages/abc"),
        "concrete paths are never labels"
    );
    server.shutdown().await;
}
