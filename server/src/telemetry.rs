//! Logs, metrics and per-request telemetry.
//!
//! Request logging records the method, the matched route *template* (never the concrete path,
//! never the query string), the request id, the client address, the status and the latency.
//! Headers and bodies are never logged; `Authorization`, `Cookie`, `Set-Cookie` and every
//! `x-sealpost-*` header are additionally marked sensitive so that any `Debug` of them is
//! redacted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, Method, Request, Response};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::Digest;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::{SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat, MetricsConfig};
use crate::net::{BoundServer, ClientIp};

/// Counter of answered HTTP requests, labelled `method`, `route` and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "sealpost_http_requests_total";
/// Histogram of request durations in seconds (until the response head), labelled `method`
/// and `route`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "sealpost_http_request_duration_seconds";
/// The request id header, accepted from callers when well-formed and echoed in responses.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The `route` label and span field of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

const SEALPOST_HEADER_PREFIX: &str = "x-sealpost-";
const MAX_REQUEST_ID_LEN: usize = 64;
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Timeouts of the metrics listener (an internal endpoint with tiny requests).
const METRICS_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why logging or metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The log filter (from `log.level` or `RUST_LOG`) does not parse.
    #[error("invalid log filter in {source_name} ({directive:?}): {reason}")]
    Filter {
        /// `log.level` or `RUST_LOG`.
        source_name: &'static str,
        /// The directive.
        directive: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The metrics listener could not be bound.
    #[error("cannot listen for metrics on {addr}: {error}")]
    MetricsBind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The Prometheus recorder could not be installed (another global recorder exists).
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
    /// `install_metrics` was called outside a Tokio runtime.
    #[error("the metrics listener needs a Tokio runtime; call install_metrics from async code")]
    NoRuntime,
}

// ---------------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------------

/// Installs the global log subscriber: an `EnvFilter` from `cfg.level` (or `RUST_LOG` when set
/// and not empty), text or JSON lines on standard error. When a global subscriber is already
/// installed (a second call, tests) it is kept and this returns `Ok`.
pub fn init_logging(cfg: &LogConfig) -> Result<(), TelemetryError> {
    let (source_name, directive) = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => ("RUST_LOG", v),
        _ => ("log.level", cfg.level.clone()),
    };
    let filter = EnvFilter::try_new(&directive).map_err(|e| TelemetryError::Filter {
        source_name,
        directive: directive.clone(),
        reason: e.to_string(),
    })?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match cfg.format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_err() {
        tracing::debug!("a global log subscriber is already installed; keeping it");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// The process-wide recorder handle: the recorder is global and installed once.
static PROMETHEUS: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// The installed Prometheus handle, if [`install_metrics`] has run.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    PROMETHEUS.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn recorder_handle() -> Result<PrometheusHandle, TelemetryError> {
    let mut slot = PROMETHEUS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_owned()),
            DURATION_BUCKETS,
        )
        .map_err(|e| TelemetryError::Recorder(e.to_string()))?
        .install_recorder()
        .map_err(|e| TelemetryError::Recorder(e.to_string()))?;
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by method, route template and status."
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time to the response head, by method and route template."
    );
    describe_domain_metrics();
    // Histograms need periodic upkeep; a plain thread survives any runtime coming and going.
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(METRICS_UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are kept up to date on scrape only");
    }
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Installs the global Prometheus recorder (once per process; later calls reuse it) and serves
/// `GET /metrics` on `cfg.listen`, a listener of its own. Returns the bound address (port 0
/// allowed), or `None` when metrics are disabled. Must be called inside a Tokio runtime, on
/// which the listener runs.
pub fn install_metrics(cfg: &MetricsConfig) -> Result<Option<SocketAddr>, TelemetryError> {
    let Some(addr) = cfg.listen else {
        return Ok(None);
    };
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
    let bind_err = |error| TelemetryError::MetricsBind { addr, error };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let handle = recorder_handle()?;
    let server = {
        let _entered = runtime.enter();
        BoundServer::from_std(listener, METRICS_HEADER_READ_TIMEOUT, Duration::ZERO).map_err(bind_err)?
    };
    let local = server.local_addr();
    let token = cfg.token.clone().map(Arc::new);
    let app = Router::new().route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let handle = handle.clone();
            let token = token.clone();
            async move {
                if let Some(token) = token
                    && !bearer_matches(&headers, &token)
                {
                    return (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                        "a bearer token is required\n",
                    )
                        .into_response();
                }
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    );
    runtime.spawn(async move {
        if let Err(e) = server.serve(app, std::future::pending()).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    tracing::info!(%local, "serving metrics on /metrics");
    Ok(Some(local))
}

/// Whether `Authorization: Bearer <token>` matches `token` (in constant time).
fn bearer_matches(headers: &axum::http::HeaderMap, token: &crate::config::Secret) -> bool {
    use subtle::ConstantTimeEq;
    let Some(given) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let want = sha2::Sha256::digest(token.expose().as_bytes());
    let got = sha2::Sha256::digest(given.trim().as_bytes());
    bool::from(want.as_slice().ct_eq(got.as_slice()))
}

// ---------------------------------------------------------------------------------------------
// Domain events and gauges (one line at each call site)
// ---------------------------------------------------------------------------------------------

/// Share releases: `outcome` is `released`, `refused` (ended, over the open limit, no
/// session…) or `error` (a failing backend: database, blob store, log).
pub const RELEASES_TOTAL: &str = "sealpost_releases_total";
/// Wrong codes, passwords and TOTP entries, by `method`.
pub const VERIFICATION_FAILURES_TOTAL: &str = "sealpost_verification_failures_total";
/// Recipients locked after too many wrong entries.
pub const RECIPIENT_LOCKS_TOTAL: &str = "sealpost_recipient_locks_total";
/// SMS codes handed to the provider, by `outcome` (`sent`, `failed`).
pub const SMS_TOTAL: &str = "sealpost_sms_total";
/// Ciphertext bytes of upload parts stored.
pub const UPLOAD_BYTES_TOTAL: &str = "sealpost_upload_bytes_total";
/// Unix time of this replica's last sweep that finished without error.
pub const SWEEPER_LAST_SUCCESS: &str = "sealpost_sweeper_last_success_timestamp_seconds";
/// Age in seconds of the oldest expiry or scheduled revocation that is due but not yet
/// carried out (0 when none is overdue), as seen by the last sweep.
pub const SWEEPER_OVERDUE_SECONDS: &str = "sealpost_sweeper_overdue_seconds";
/// Entries in the access log's tree (its size), as seen by the last sweep.
pub const ACCESS_LOG_ENTRIES: &str = "sealpost_access_log_entries";
/// 1 while this replica is ready, 0 while it drains on shutdown.
pub const READY: &str = "sealpost_ready";

/// A share release ended with `outcome` (`released`, `refused`, `error`).
pub fn release(outcome: &'static str) {
    metrics::counter!(RELEASES_TOTAL, "outcome" => outcome).increment(1);
}

/// A wrong verification entry by `method` (`sms`, `totp`, `password`…).
pub fn verification_failed(method: &str) {
    let method = match method {
        "sms" | "totp" | "password" | "recovery_code" => method.to_owned(),
        _ => "other".to_owned(),
    };
    metrics::counter!(VERIFICATION_FAILURES_TOTAL, "method" => method).increment(1);
}

/// A recipient was locked.
pub fn recipient_locked() {
    metrics::counter!(RECIPIENT_LOCKS_TOTAL).increment(1);
}

/// An SMS code was handed to the provider (`sent`) or refused by it (`failed`).
pub fn sms(outcome: &'static str) {
    metrics::counter!(SMS_TOTAL, "outcome" => outcome).increment(1);
}

/// `bytes` of an upload part were stored.
pub fn upload_bytes(bytes: u64) {
    metrics::counter!(UPLOAD_BYTES_TOTAL).increment(bytes);
}

/// After a successful sweep at `now_ms`: the oldest overdue deadline (if any) and the log size.
pub fn sweep_succeeded(now_ms: i64, oldest_overdue_ms: Option<i64>, log_entries: u64) {
    metrics::gauge!(SWEEPER_LAST_SUCCESS).set(now_ms as f64 / 1000.0);
    let overdue = oldest_overdue_ms.map_or(0.0, |due| (now_ms - due).max(0) as f64 / 1000.0);
    metrics::gauge!(SWEEPER_OVERDUE_SECONDS).set(overdue);
    metrics::gauge!(ACCESS_LOG_ENTRIES).set(log_entries as f64);
}

/// Whether this replica is ready (false while it drains).
pub fn ready(ready: bool) {
    metrics::gauge!(READY).set(if ready { 1.0 } else { 0.0 });
}

fn describe_domain_metrics() {
    metrics::describe_counter!(RELEASES_TOTAL, "Share releases by outcome: released, refused, error.");
    metrics::describe_counter!(
        VERIFICATION_FAILURES_TOTAL,
        "Wrong codes, passwords and TOTP entries, by method."
    );
    metrics::describe_counter!(RECIPIENT_LOCKS_TOTAL, "Recipients locked after too many wrong entries.");
    metrics::describe_counter!(SMS_TOTAL, "SMS codes handed to the provider, by outcome: sent, failed.");
    metrics::describe_counter!(
        UPLOAD_BYTES_TOTAL,
        metrics::Unit::Bytes,
        "Ciphertext bytes of upload parts stored."
    );
    metrics::describe_gauge!(
        SWEEPER_LAST_SUCCESS,
        metrics::Unit::Seconds,
        "Unix time of this replica's last successful sweep."
    );
    metrics::describe_gauge!(
        SWEEPER_OVERDUE_SECONDS,
        metrics::Unit::Seconds,
        "Age of the oldest due expiry or scheduled revocation not yet carried out."
    );
    metrics::describe_gauge!(ACCESS_LOG_ENTRIES, "Entries in the access log's tree.");
    metrics::describe_gauge!(READY, "1 while this replica is ready, 0 while it drains on shutdown.");
    metrics::describe_counter!(
        "sealpost_log_entries_total",
        "Access-log entries sequenced by this replica."
    );
    metrics::describe_counter!(
        "sealpost_witness_failures_total",
        "Checkpoints a witness did not cosign."
    );
}

// ---------------------------------------------------------------------------------------------
// HTTP layers
// ---------------------------------------------------------------------------------------------

/// Adds request ids, a span and a log line per request, and the HTTP metrics to every route of
/// `router`. Call it after all routes are added; apply `net::client_ip_layer` after it (outside)
/// so that spans carry the resolved client address (the TCP peer is used otherwise).
pub fn http_layers(router: Router) -> Router {
    router.layer(middleware::from_fn(record_metrics)).layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                AUTHORIZATION,
                PROXY_AUTHORIZATION,
                COOKIE,
            ]))
            .map_request(prepare_request)
            .layer(SetRequestIdLayer::new(X_REQUEST_ID.clone(), RandomRequestId))
            .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(make_span)
                    .on_request(())
                    .on_response(on_response)
                    .on_body_chunk(())
                    .on_eos(())
                    .on_failure(()),
            )
            .layer(SetSensitiveResponseHeadersLayer::new([SET_COOKIE])),
    )
}

/// Marks `x-sealpost-*` headers sensitive and drops a malformed or repeated caller request id
/// (a fresh one is generated instead).
fn prepare_request(mut req: Request<Body>) -> Request<Body> {
    for (name, value) in req.headers_mut().iter_mut() {
        if name.as_str().starts_with(SEALPOST_HEADER_PREFIX) {
            value.set_sensitive(true);
        }
    }
    let mut ids = req.headers().get_all(&X_REQUEST_ID).iter();
    let keep = matches!((ids.next(), ids.next()), (Some(id), None) if is_valid_request_id(id));
    if !keep {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    req
}

/// A caller's request id is kept when it is 1 to 64 characters of `[A-Za-z0-9._-]`.
pub fn is_valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A new request id: 16 random bytes in hex.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Ids need uniqueness, not secrecy: fall back to the clock and a counter.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        bytes[..8].copy_from_slice(&(nanos as u64).to_be_bytes());
        bytes[8..].copy_from_slice(&count.to_be_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Copy, Debug, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&new_request_id()).ok().map(RequestId::new)
    }
}

fn route_of<B>(req: &Request<B>) -> &str {
    req.extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
}

/// Standard methods as themselves, anything else as `OTHER` (bounded label values).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn make_span(req: &Request<Body>) -> Span {
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        method = %method_label(req.method()),
        route = %route_of(req),
        request_id = %request_id,
        client_ip = tracing::field::Empty,
    );
    let client_ip = req
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
    if let Some(ip) = client_ip {
        span.record("client_ip", tracing::field::display(ip));
    }
    span
}

/// Routes of health probes: their request lines are logged at DEBUG, not INFO, so that an
/// orchestrator probing every few seconds does not fill the log.
const PROBE_ROUTES: &[&str] = &["/healthz", "/readyz"];

/// Response extension marking the answer to a health probe.
#[derive(Clone, Copy, Debug)]
struct ProbeResponse;

fn on_response(res: &Response<Body>, latency: Duration, _span: &Span) {
    let status = res.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if res.extensions().get::<ProbeResponse>().is_some() {
        tracing::debug!(status, latency_ms, "response");
    } else if res.status().is_server_error() {
        tracing::error!(status, latency_ms, "response");
    } else {
        tracing::info!(status, latency_ms, "response");
    }
}

async fn record_metrics(req: Request<Body>, next: Next) -> Response<Body> {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = route_of(&req).to_owned();
    let mut response = next.run(req).await;
    if PROBE_ROUTES.contains(&route.as_str()) {
        response.extensions_mut().insert(ProbeResponse);
    }
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(is_valid_request_id(&HeaderValue::from_str(&id).expect("header")));
        for ok in ["a", "A.b_c-9", &"x".repeat(64)] {
            assert!(is_valid_request_id(&HeaderValue::from_str(ok).expect("header")), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a\"b", &"x".repeat(65)] {
            let valid = HeaderValue::from_str(bad)
                .map(|v| is_valid_request_id(&v))
                .unwrap_or(false);
            assert!(!valid, "{bad}");
        }
    }

    #[test]
    fn init_logging_twice_is_fine() {
        let cfg = LogConfig {
            format: LogFormat::Json,
            level: "warn".to_owned(),
        };
        init_logging(&cfg).expect("first");
        init_logging(&cfg).expect("second");
        let bad = LogConfig {
            format: LogFormat::Text,
            level: "=[".to_owned(),
        };
        if std::env::var("RUST_LOG").is_err() {
            assert!(init_logging(&bad).is_err());
        }
    }
}
