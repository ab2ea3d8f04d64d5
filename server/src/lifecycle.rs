//! Living under an orchestrator: readiness drain on shutdown, systemd's `sd_notify`, the
//! `healthcheck` probe and patience with a database that is not up yet.
//!
//! None of this is correctness state: it is about one process's life (is it draining, has it
//! told systemd it is ready), so it lives in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::Config;

/// Set once shutdown has begun: `/readyz` answers 503 from then on, while the listener keeps
/// serving for `server.shutdown_delay_secs` so that load balancers stop routing here first.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Marks the process as draining.
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Sends `state` (e.g. `READY=1`, `STOPPING=1`) to the service manager when `NOTIFY_SOCKET`
/// names one (systemd `Type=notify`); does nothing otherwise. A failure is logged, never fatal.
pub fn sd_notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = notify_to(&socket, state) {
        tracing::warn!(error = %e, state, "cannot notify the service manager");
    } else {
        tracing::debug!(state, "notified the service manager");
    }
}

#[cfg(unix)]
fn notify_to(socket: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let bytes = socket.as_bytes();
    let sock = UnixDatagram::unbound()?;
    match bytes.first() {
        // An abstract socket (Linux): "@name".
        #[cfg(target_os = "linux")]
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&bytes[1..])?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        }
        Some(b'/') => {
            sock.send_to(state.as_bytes(), std::path::Path::new(socket))?;
        }
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "NOTIFY_SOCKET is neither an absolute path nor an abstract socket name",
            ));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn notify_to(_socket: &std::ffi::OsStr, _state: &str) -> std::io::Result<()> {
    Ok(())
}

/// The URL `sealpost-server healthcheck` probes: `/healthz` (or `/readyz` when `ready`) on
/// `server.listen`, over HTTPS when the server terminates TLS, and on the loopback address when
/// it listens on all addresses (`0.0.0.0`, `::`).
pub fn probe_url(config: &Config, ready: bool) -> String {
    let mut addr = config.server.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if config.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let path = if ready { "/readyz" } else { "/healthz" };
    format!("{scheme}://{addr}{path}")
}

/// Probes the server as a container health check or an exec probe does: `Ok` on a 2xx answer
/// within `timeout`, otherwise a sentence saying what went wrong.
///
/// With TLS the certificate is not verified: the probe talks to this very process over the
/// loopback address (where the certificate's name cannot match) and sends nothing secret.
pub async fn healthcheck(config: &Config, ready: bool, timeout: Duration) -> Result<(), String> {
    let url = probe_url(config, ready);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .tls_danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url} did not answer: {}", error_chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        Err(format!("{url} answered {status}: {}", body.trim()))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Delays between connection attempts to the database at start: 0.5 s doubling to 5 s.
pub fn retry_delays() -> impl Iterator<Item = Duration> {
    let mut next = Duration::from_millis(500);
    std::iter::from_fn(move || {
        let current = next;
        next = (next * 2).min(Duration::from_secs(5));
        Some(current)
    })
}
