//! TLS certificate rotation without a restart: the server reloads its certificate and key when
//! the files change; new connections get the new certificate, open ones keep theirs, and a bad
//! new pair is refused while the current one stays in service.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use sealpost_server::config::ServerConfig;
use sealpost_server::net::{self, CertFiles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

struct Pair {
    cert_pem: String,
    key_pem: String,
}

fn pair() -> Pair {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    Pair {
        cert_pem: generated.cert.pem(),
        key_pem: generated.signing_key.serialize_pem(),
    }
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("der").to_vec()
}

/// Replaces a file the way deployment tools do: write aside, then rename over it.
fn replace(path: &Path, content: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, content).expect("write");
    std::fs::rename(&aside, path).expect("rename");
}

async fn connect(addr: SocketAddr, trusted: &[&Pair]) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for p in trusted {
        roots.add(CertificateDer::from(der(&p.cert_pem))).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake")
}

fn served_cert(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().expect("certificates")[0].to_vec()
}

/// One keep-alive request on an open connection.
async fn hello(tls: &mut TlsStream<TcpStream>) {
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"hi") {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
}

/// Connects until the served certificate is `want` (the reload is periodic).
async fn wait_for(addr: SocketAddr, trusted: &[&Pair], want: &Pair) {
    for _ in 0..200 {
        if served_cert(&connect(addr, trusted).await) == der(&want.cert_pem) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the new certificate was not served within 10 s");
}

#[tokio::test]
async fn certificate_is_reloaded_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (pair(), pair(), pair());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &a.cert_pem).expect("write");
    std::fs::write(&key, &a.key_pem).expect("write");
    let cfg = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        ..ServerConfig::default()
    };
    let server = net::bind(&cfg)
        .await
        .expect("bind")
        .with_tls_reload_interval(Duration::from_millis(20));
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(
        server.serve(Router::new().route("/hello", get(|| async { "hi" })), async move {
            let _ = stopped.await;
        }),
    );
    let trusted = [&a, &b, &c];

    let mut open = connect(addr, &trusted).await;
    assert_eq!(served_cert(&open), der(&a.cert_pem));
    hello(&mut open).await;

    // Rotate to B: key first, then certificate (the mismatched moment in between is refused).
    replace(&key, &b.key_pem);
    replace(&cert, &b.cert_pem);
    wait_for(addr, &trusted, &b).await;
    // The connection opened before goes on, with its certificate.
    hello(&mut open).await;
    assert_eq!(served_cert(&open), der(&a.cert_pem));

    // A bad pair (C's certificate with B's key) is refused; B stays in service.
    replace(&cert, &c.cert_pem);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fresh = connect(addr, &trusted).await;
    assert_eq!(served_cert(&fresh), der(&b.cert_pem));
    hello(&mut fresh).await;
    // So is garbage.
    replace(&cert, "not a certificate");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served_cert(&connect(addr, &trusted).await), der(&b.cert_pem));
    // Completing the pair puts C in service.
    replace(&cert, &c.cert_pem);
    replace(&key, &c.key_pem);
    wait_for(addr, &trusted, &c).await;
    hello(&mut open).await;

    let _ = stop.send(());
    task.await.expect("join").expect("serve");
}

#[test]
fn reload_refuses_a_mismatched_pair_and_keeps_the_current_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (pair(), pair());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &a.cert_pem).expect("write");
    std::fs::write(&key, &a.key_pem).expect("write");
    let files = CertFiles::load(&cert, &key).expect("load");
    assert!(
        !files.reload(false).expect("unchanged"),
        "unchanged files are not reloaded"
    );
    replace(&cert, &b.cert_pem);
    let err = files.reload(false).expect_err("mismatched pair");
    assert!(!err.to_string().contains("BEGIN"), "no file content in {err}");
    // Not retried until the files change again (one log line per bad pair).
    assert!(!files.reload(false).expect("already tried"));
    replace(&key, &b.key_pem);
    assert!(files.reload(false).expect("good pair"));
    assert!(files.reload(true).expect("forced"));
}
