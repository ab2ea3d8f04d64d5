//! Handlers: parse the request, call the domain, map the result. No SQL, no cryptography.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::AppState;
use super::extract::{ApiJson, ApiPath, Authed};
use super::problem::ApiError;
use crate::clock::from_rfc3339;
use crate::config::Secret;
use crate::domain::messages::{self, ListScope, NewMessage, RecipientKind, RecipientSpec, RevokeRequest};
use crate::domain::{Role, Scope, accounts, policy, totp};

type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------- health

/// `GET /healthz`: the process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database and the blob store answer, and the process is not shutting
/// down (from SIGTERM on it answers 503 `shutting_down` at once).
pub async fn readyz(
    State(state): State<AppState>,
    draining: Option<axum::Extension<crate::lifecycle::Draining>>,
) -> Response {
    let draining = draining.is_some_and(|d| d.is_draining());
    let db = state.services.db.ping().await;
    let blobs = state.services.blobs.check().await;
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database");
    }
    if let Err(e) = &blobs {
        tracing::warn!(error = %e, "readiness: blob store");
    }
    let ready = db.is_ok() && blobs.is_ok() && !draining;
    let body = serde_json::json!({
        "status": if draining { "shutting_down" } else if ready { "ready" } else { "not_ready" },
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "blob_store": if blobs.is_ok() { "ok" } else { "unavailable" },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}

// ---------------------------------------------------------------- accounts

/// `GET /api/v1/me`.
pub async fn me(State(state): State<AppState>, Authed(who): Authed) -> ApiResult<Response> {
    let (user, org) = accounts::me(&state.services, &who).await?;
    let scopes: Vec<&str> = who.scopes.iter().map(|s| s.as_str()).collect();
    Ok(Json(serde_json::json!({ "user": user, "organisation": org, "token_scopes": scopes })).into_response())
}

/// `POST /api/v1/messages/{id}/recipients/{rid}/unlock`: lift a recipient's lock.
pub async fn unlock_recipient(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath((id, rid)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(crate::domain::access::unlock(&state.services, &who, &id, &rid).await?).into_response())
}

/// `POST /api/v1/me/totp`: start enrolling an authenticator app (a new seed, pending).
pub async fn totp_begin(State(state): State<AppState>, Authed(who): Authed) -> ApiResult<Response> {
    Ok(Json(totp::begin_enrolment(&state.services, &who).await?).into_response())
}

/// Body of `POST /api/v1/me/totp/confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmBody {
    code: String,
}

/// `POST /api/v1/me/totp/confirm`: a code from the new seed; answers the recovery codes, once.
pub async fn totp_confirm(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<TotpConfirmBody>,
) -> ApiResult<Response> {
    let codes = totp::confirm_enrolment(&state.services, &who, &body.code).await?;
    Ok(Json(serde_json::json!({ "enabled": true, "recovery_codes": codes })).into_response())
}

/// Body of `PUT /api/v1/me/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysBody {
    x25519_pk: String,
    ed25519_pk: String,
    #[serde(default)]
    keyblob: Option<serde_json::Value>,
    #[serde(default)]
    login_key: Option<String>,
}

/// `PUT /api/v1/me/keys`.
pub async fn put_keys(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<KeysBody>,
) -> ApiResult<Response> {
    let login = body.login_key.map(Secret::new);
    let upload = accounts::KeysUpload {
        x25519_pk: &body.x25519_pk,
        ed25519_pk: &body.ed25519_pk,
        keyblob: body.keyblob.as_ref(),
        login_key: login.as_ref(),
    };
    Ok(Json(accounts::publish_keys(&state.services, &who, &upload).await?).into_response())
}

/// `GET /api/v1/directory/{address}`.
pub async fn directory(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(address): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(accounts::lookup_keys(&state.services, &who, &address).await?).into_response())
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    address: String,
    roles: Vec<String>,
}

fn parse_roles(names: &[String]) -> ApiResult<Vec<Role>> {
    names
        .iter()
        .map(|n| {
            Role::parse(n).ok_or_else(|| ApiError::bad_request("invalid_roles", "roles are sender, admin and dpo"))
        })
        .collect()
}

/// `POST /api/v1/users`.
pub async fn create_user(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<NewUserBody>,
) -> ApiResult<Response> {
    let roles = parse_roles(&body.roles)?;
    let user = accounts::create_user_as(&state.services, &who, &body.address, &roles).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// `GET /api/v1/users`.
pub async fn list_users(State(state): State<AppState>, Authed(who): Authed) -> ApiResult<Response> {
    let users = accounts::list_users(&state.services, &who).await?;
    Ok(Json(serde_json::json!({ "users": users })).into_response())
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /api/v1/tokens`: the secret is in this answer only.
pub async fn create_token(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> ApiResult<Response> {
    let scopes = body
        .scopes
        .iter()
        .map(|s| {
            Scope::parse(s).ok_or_else(|| {
                ApiError::bad_request("invalid_scopes", "scopes are send, read, keys, admin and incidents")
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let (info, secret) = accounts::issue_token_as(
        &state.services,
        &who,
        body.user.as_deref(),
        &body.name,
        &scopes,
        body.expires_in_days,
    )
    .await?;
    let body = serde_json::json!({ "token": secret.expose(), "info": info });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/tokens`.
pub async fn list_tokens(State(state): State<AppState>, Authed(who): Authed) -> ApiResult<Response> {
    let tokens = accounts::list_tokens(&state.services, &who).await?;
    Ok(Json(serde_json::json!({ "tokens": tokens })).into_response())
}

/// `DELETE /api/v1/tokens/{id}`.
pub async fn revoke_token(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    accounts::revoke_token(&state.services, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- messages

/// One recipient in `POST /api/v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientBody {
    rid: String,
    kind: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    notify: Option<String>,
}

/// Body of `POST /api/v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessageBody {
    id: String,
    policy: String,
    header_size: u64,
    payload_sizes: Vec<u64>,
    recipients: Vec<RecipientBody>,
    #[serde(default)]
    checks: Option<sealpost_guard::SendChecks>,
}

/// `POST /api/v1/messages`.
pub async fn create_message(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<NewMessageBody>,
) -> ApiResult<Response> {
    let recipients = body
        .recipients
        .into_iter()
        .map(|r| {
            let kind = match (r.kind.as_str(), r.address, r.phone) {
                ("account", Some(address), None) => RecipientKind::Account { address },
                ("guest", None, Some(phone)) => RecipientKind::Guest { phone },
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_recipients",
                        "each recipient is {\"kind\":\"account\",\"address\":…} or {\"kind\":\"guest\",\"phone\":…}",
                    ));
                }
            };
            Ok(RecipientSpec {
                rid: r.rid,
                kind,
                notify: r.notify,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let new = NewMessage {
        id: body.id,
        policy: body.policy,
        header_size: body.header_size,
        payload_sizes: body.payload_sizes,
        recipients,
        checks: body.checks,
    };
    let status = messages::create(&state.services, &who, new).await?;
    let location = format!("/api/v1/messages/{}", status.id);
    let mut response = (StatusCode::CREATED, Json(status)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Query of `GET /api/v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    scope: Option<String>,
}

/// `GET /api/v1/messages`.
pub async fn list_messages(
    State(state): State<AppState>,
    Authed(who): Authed,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|_| {
        ApiError::bad_request(
            "invalid_query",
            "query parameters are state, before, limit and scope (mine|organisation)",
        )
    })?;
    let scope = match q.scope.as_deref() {
        None | Some("mine") => ListScope::Mine,
        Some("organisation") | Some("organization") => ListScope::Organisation,
        Some(_) => return Err(ApiError::bad_request("invalid_query", "scope is mine or organisation")),
    };
    let (items, next) = messages::list(
        &state.services,
        &who,
        scope,
        q.state.as_deref(),
        q.before.as_deref(),
        q.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(serde_json::json!({ "messages": items, "next": next })).into_response())
}

/// `GET /api/v1/messages/{id}`.
pub async fn message_status(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(messages::status(&state.services, &who, &id).await?).into_response())
}

/// Body of `PATCH /api/v1/messages/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    expires_at: String,
}

/// `PATCH /api/v1/messages/{id}`: change the expiry.
pub async fn patch_message(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> ApiResult<Response> {
    let at = from_rfc3339(&body.expires_at)
        .ok_or_else(|| ApiError::bad_request("invalid_expiry", "expires_at must be an RFC 3339 time"))?;
    Ok(Json(messages::set_expiry(&state.services, &who, &id, at).await?).into_response())
}

/// `DELETE /api/v1/messages/{id}`.
pub async fn delete_message(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    messages::delete(&state.services, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn read_body(body: Body, limit: u64) -> ApiResult<axum::body::Bytes> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    axum::body::to_bytes(body, limit.saturating_add(1)).await.map_err(|_| {
        ApiError::too_large("The body is longer than declared, or the connection broke while it was being read.")
    })
}

/// `PUT /api/v1/messages/{id}/header` (application/octet-stream).
pub async fn put_header(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    request: Request,
) -> ApiResult<Response> {
    let limit = state.services.limits.max_header_bytes;
    let bytes = read_body(request.into_body(), limit).await?;
    if bytes.len() as u64 > limit {
        return Err(ApiError::too_large("The header is larger than this server accepts."));
    }
    Ok(Json(messages::put_header(&state.services, &who, &id, bytes).await?).into_response())
}

/// `GET /api/v1/messages/{id}/payloads/{index}`: what is stored, to resume an upload.
pub async fn upload_status(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath((id, index)): ApiPath<(String, u32)>,
) -> ApiResult<Response> {
    Ok(Json(messages::upload_status(&state.services, &who, &id, index).await?).into_response())
}

/// Parses `Content-Digest: sha-256=:<base64>:` (RFC 9530).
fn content_digest(headers: &HeaderMap) -> ApiResult<[u8; 32]> {
    let missing = || {
        ApiError::bad_request(
            "digest_required",
            "Send the part's SHA-256 as 'Content-Digest: sha-256=:<base64>:' (RFC 9530).",
        )
    };
    let value = headers
        .get("content-digest")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    for item in value.split(',') {
        let Some((alg, rest)) = item.trim().split_once('=') else {
            continue;
        };
        if !alg.trim().eq_ignore_ascii_case("sha-256") {
            continue;
        }
        let inner = rest
            .trim()
            .strip_prefix(':')
            .and_then(|r| r.strip_suffix(':'))
            .ok_or_else(missing)?;
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(inner)
            .map_err(|_| missing())?;
        return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| missing());
    }
    Err(missing())
}

/// `PUT /api/v1/messages/{id}/payloads/{index}/parts/{part}` (application/octet-stream).
pub async fn put_part(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath((id, index, part)): ApiPath<(String, u32, u32)>,
    request: Request,
) -> ApiResult<Response> {
    let svc = &state.services;
    let digest = content_digest(request.headers())?;
    let expected = messages::expected_part(svc, &who, &id, index, part).await?;
    // Bound the memory of parts in flight: each holds up to one part.
    let _permit = svc
        .part_permits
        .acquire()
        .await
        .map_err(|_| ApiError::from(crate::domain::DomainError::Unavailable))?;
    let bytes = read_body(request.into_body(), expected).await?;
    if bytes.len() as u64 > expected {
        return Err(ApiError::too_large(format!(
            "Part {part} must be exactly {expected} bytes."
        )));
    }
    let stored = messages::put_part(svc, &who, &id, index, part, bytes, digest).await?;
    Ok(Json(stored).into_response())
}

/// `POST /api/v1/messages/{id}/payloads/{index}/complete`.
pub async fn complete_payload(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath((id, index)): ApiPath<(String, u32)>,
) -> ApiResult<Response> {
    Ok(Json(messages::complete_payload(&state.services, &who, &id, index).await?).into_response())
}

/// 416 with the domain's sentence.
pub(crate) fn range_error(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        "Range not satisfiable",
        detail,
    )
}

/// Parses a single `Range: bytes=a-b` / `bytes=a-`.
pub(crate) fn parse_range(headers: &HeaderMap) -> ApiResult<Option<(u64, Option<u64>)>> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            "Range not satisfiable",
            "Only one range of the form bytes=start-[end] is supported.",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let spec = text.strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse::<u64>().map_err(|_| bad())?),
    };
    if end.is_some_and(|e| e < start) {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

/// `GET /api/v1/messages/{id}/payloads/{index}/content`: the stored ciphertext, for its sender.
pub async fn payload_content(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath((id, index)): ApiPath<(String, u32)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = parse_range(&headers)?;
    let (total, served, stream) = messages::download_payload(&state.services, &who, &id, index, range)
        .await
        .map_err(|e| match e {
            crate::domain::DomainError::Invalid {
                code: "range_not_satisfiable",
                detail,
            } => range_error(detail),
            other => other.into(),
        })?;
    Ok(ciphertext_response(total, served, stream, range.is_some()))
}

/// A payload's ciphertext (or a range of it) as a streamed `application/octet-stream` answer.
pub(crate) fn ciphertext_response(
    total: u64,
    served: std::ops::Range<u64>,
    stream: futures::stream::BoxStream<'static, Result<bytes::Bytes, crate::blobs::BlobError>>,
    ranged: bool,
) -> Response {
    let body = Body::from_stream(futures::StreamExt::map(stream, |item| {
        item.map_err(|e| {
            tracing::error!(error = %e, "blob stream failed mid-response");
            std::io::Error::other("blob stream failed")
        })
    }));
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&(served.end - served.start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if ranged {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!("bytes {}-{}/{}", served.start, served.end - 1, total);
        if let Ok(v) = HeaderValue::from_str(&cr) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
}

/// One server share in the seal request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    rid: String,
    share: String,
}

/// Body of `POST /api/v1/messages/{id}/seal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealBody {
    seal: String,
    server_shares: Vec<ShareBody>,
}

/// `POST /api/v1/messages/{id}/seal`.
pub async fn seal(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SealBody>,
) -> ApiResult<Response> {
    let shares: Vec<(String, Zeroizing<String>)> = body
        .server_shares
        .into_iter()
        .map(|s| (s.rid, Zeroizing::new(s.share)))
        .collect();
    Ok(Json(messages::seal(&state.services, &who, &id, &body.seal, &shares).await?).into_response())
}

/// Body of `POST /api/v1/messages/{id}/revoke`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    at: Option<String>,
    /// Sent in error: also open an incident in the breach register.
    #[serde(default)]
    sent_in_error: bool,
    /// The incident's facts (with `sent_in_error` only).
    #[serde(default)]
    incident: Option<sealpost_breach::FactsPatch>,
}

/// `POST /api/v1/messages/{id}/revoke`: whole message or one recipient, now or at a time.
pub async fn revoke(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> ApiResult<Response> {
    let at = match body.at.as_deref() {
        None => None,
        Some(t) => {
            Some(from_rfc3339(t).ok_or_else(|| ApiError::bad_request("invalid_time", "at must be an RFC 3339 time"))?)
        }
    };
    if body.incident.is_some() && !body.sent_in_error {
        return Err(ApiError::bad_request(
            "invalid_revoke",
            "incident facts go with \"sent_in_error\": true",
        ));
    }
    let req = RevokeRequest {
        rid: body.recipient,
        at,
        sent_in_error: body.sent_in_error.then_some(body.incident),
    };
    Ok(Json(messages::revoke(&state.services, &who, &id, req).await?).into_response())
}

/// `GET /api/v1/messages/{id}/events`.
pub async fn events(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let events = messages::events(&state.services, &who, &id).await?;
    Ok(Json(serde_json::json!({ "events": events })).into_response())
}

/// `GET /api/v1/policy`: the organisation's pre-send check policy (any member).
pub async fn get_policy(State(state): State<AppState>, Authed(who): Authed) -> ApiResult<Json<policy::PolicyView>> {
    Ok(Json(policy::get(&state.services, &who).await?))
}

/// `PUT /api/v1/policy`: replaces it (admin).
pub async fn put_policy(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<policy::PolicyView>> {
    Ok(Json(policy::put(&state.services, &who, &body.to_string()).await?))
}
