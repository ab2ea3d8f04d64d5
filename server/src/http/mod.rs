//! The HTTP API (`/api/v1`, JSON, problem+json errors) and the health endpoints.

pub mod access;
pub mod api;
pub mod dpo_page;
pub mod extract;
pub mod incidents;
pub mod log;
pub mod page;
pub mod problem;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::config::Config;
use crate::domain::Services;
use problem::ApiError;

/// The OpenAPI document, served at `/api/v1/openapi.json` (kept in `docs/openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// State shared by handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Domain services.
    pub services: Services,
    /// Configuration.
    pub config: Arc<Config>,
}

/// Every route, as (method, path template), in the order of the router — the OpenAPI test
/// checks the document against this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/me"),
    ("put", "/api/v1/me/keys"),
    ("get", "/api/v1/policy"),
    ("put", "/api/v1/policy"),
    ("get", "/api/v1/directory/{address}"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/messages"),
    ("post", "/api/v1/messages"),
    ("get", "/api/v1/messages/{id}"),
    ("patch", "/api/v1/messages/{id}"),
    ("delete", "/api/v1/messages/{id}"),
    ("put", "/api/v1/messages/{id}/header"),
    ("get", "/api/v1/messages/{id}/payloads/{index}"),
    ("put", "/api/v1/messages/{id}/payloads/{index}/parts/{part}"),
    ("post", "/api/v1/messages/{id}/payloads/{index}/complete"),
    ("get", "/api/v1/messages/{id}/payloads/{index}/content"),
    ("post", "/api/v1/messages/{id}/seal"),
    ("post", "/api/v1/messages/{id}/revoke"),
    ("get", "/api/v1/messages/{id}/events"),
    ("post", "/api/v1/messages/{id}/recipients/{rid}/unlock"),
    ("post", "/api/v1/me/totp"),
    ("post", "/api/v1/me/totp/confirm"),
    ("get", "/api/v1/access/{access_id}"),
    ("post", "/api/v1/access/{access_id}/code"),
    ("post", "/api/v1/access/{access_id}/verify"),
    ("get", "/api/v1/access/{access_id}/prelogin"),
    ("post", "/api/v1/access/{access_id}/login"),
    ("get", "/api/v1/access/{access_id}/envelope"),
    ("get", "/api/v1/access/{access_id}/keyblob"),
    ("post", "/api/v1/access/{access_id}/release"),
    ("get", "/api/v1/access/{access_id}/payloads/{index}"),
    ("get", "/api/v1/messages/{id}/receipt"),
    ("get", "/api/v1/breach-settings"),
    ("put", "/api/v1/breach-settings"),
    ("get", "/api/v1/incidents"),
    ("post", "/api/v1/incidents"),
    ("get", "/api/v1/incidents/{id}"),
    ("post", "/api/v1/incidents/{id}/updates"),
    ("put", "/api/v1/incidents/{id}/awareness"),
    ("post", "/api/v1/incidents/{id}/decision"),
    ("post", "/api/v1/incidents/{id}/notifications"),
    ("post", "/api/v1/incidents/{id}/close"),
    ("get", "/api/v1/incidents/{id}/export"),
    ("get", "/api/v1/log"),
    ("get", "/api/v1/log/inclusion"),
    ("get", "/api/v1/log/consistency"),
    ("get", "/api/v1/log/export"),
    ("get", "/.well-known/sealpost/checkpoint"),
    ("get", "/.well-known/sealpost/log-key"),
];

/// Headers on every answer: no sniffing, no caching, no referrers, no framing, no scripts.
async fn security_headers(tls: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status() == axum::http::StatusCode::REQUEST_TIMEOUT
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        response = ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "Request timeout",
            "The request took longer than this server allows; for uploads, send smaller parts or retry.",
        )
        .into_response();
    }
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The recipient page sets its own (still strict) policy and caching; everything else gets
    // a policy that forbids everything, and no caching.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}

/// Builds the application router (without the transport layers, which `net` adds).
pub fn router(state: AppState) -> Router {
    use api::*;
    let json_limit = state.config.server.max_json_bytes;
    let timeout = Duration::from_secs(state.config.server.request_timeout_secs);
    let api = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/keys", put(put_keys))
        .route("/api/v1/policy", get(get_policy).put(put_policy))
        .route("/api/v1/directory/{address}", get(directory))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/messages", get(list_messages).post(create_message))
        .route(
            "/api/v1/messages/{id}",
            get(message_status).patch(patch_message).delete(delete_message),
        )
        .route("/api/v1/messages/{id}/header", put(put_header))
        .route("/api/v1/messages/{id}/payloads/{index}", get(upload_status))
        .route("/api/v1/messages/{id}/payloads/{index}/parts/{part}", put(put_part))
        .route(
            "/api/v1/messages/{id}/payloads/{index}/complete",
            post(complete_payload),
        )
        .route("/api/v1/messages/{id}/payloads/{index}/content", get(payload_content))
        .route("/api/v1/messages/{id}/seal", post(seal))
        .route("/api/v1/messages/{id}/revoke", post(revoke))
        .route("/api/v1/messages/{id}/events", get(events))
        .route("/api/v1/messages/{id}/recipients/{rid}/unlock", post(unlock_recipient))
        .route("/api/v1/me/totp", post(totp_begin))
        .route("/api/v1/me/totp/confirm", post(totp_confirm))
        .route("/api/v1/access/{access_id}", get(access::info))
        .route("/api/v1/access/{access_id}/code", post(access::send_code))
        .route("/api/v1/access/{access_id}/verify", post(access::verify))
        .route("/api/v1/access/{access_id}/prelogin", get(access::prelogin))
        .route("/api/v1/access/{access_id}/login", post(access::login))
        .route("/api/v1/access/{access_id}/envelope", get(access::envelope))
        .route("/api/v1/access/{access_id}/keyblob", get(access::keyblob))
        .route("/api/v1/access/{access_id}/release", post(access::release))
        .route("/api/v1/access/{access_id}/payloads/{index}", get(access::payload))
        .route("/api/v1/messages/{id}/receipt", get(log::receipt))
        .route(
            "/api/v1/breach-settings",
            get(incidents::get_settings).put(incidents::put_settings),
        )
        .route("/api/v1/incidents", get(incidents::list).post(incidents::open))
        .route("/api/v1/incidents/{id}", get(incidents::show))
        .route("/api/v1/incidents/{id}/updates", post(incidents::update))
        .route("/api/v1/incidents/{id}/awareness", put(incidents::awareness))
        .route("/api/v1/incidents/{id}/decision", post(incidents::decide))
        .route("/api/v1/incidents/{id}/notifications", post(incidents::notify))
        .route("/api/v1/incidents/{id}/close", post(incidents::close))
        .route("/api/v1/incidents/{id}/export", get(incidents::export))
        .route("/api/v1/log", get(log::info))
        .route("/api/v1/log/inclusion", get(log::inclusion))
        .route("/api/v1/log/consistency", get(log::consistency))
        .route("/api/v1/log/export", get(log::export))
        .route("/.well-known/sealpost/checkpoint", get(log::checkpoint))
        .route("/.well-known/sealpost/log-key", get(log::log_key))
        .route("/r/{access_id}", get(access::link_page))
        .merge(page::static_routes())
        .merge(dpo_page::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(json_limit))
        .with_state(state.clone());
    let trusted = state.config.server.trusted_proxies.clone();
    let tls = state.config.server.tls_cert.is_some();
    // The timeout is inside the header layer, so that its 408 becomes a problem too.
    let router = api
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            security_headers(tls, req, next)
        }));
    let router = crate::telemetry::http_layers(router).layer(axum::middleware::from_fn(with_source));
    router.layer(crate::net::client_ip_layer(trusted))
}

/// Makes the client address the "from where" of every log entry the request writes.
async fn with_source(req: Request, next: Next) -> Response {
    let source = req
        .extensions()
        .get::<crate::net::ClientIp>()
        .map(|ip| ip.0.to_string());
    crate::context::with_source(source, next.run(req)).await
}
