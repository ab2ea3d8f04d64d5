//! Recipient handlers: the link page and `/api/v1/access/{access_id}/…`. No API token here:
//! a recipient proves possession with an SMS code or password + TOTP and then carries a
//! short-lived session (`Authorization: Bearer spa_…`) for this one link.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::api::{ciphertext_response, parse_range, range_error};
use super::extract::{ApiJson, ApiPath, Recipient};
use super::page;
use super::problem::ApiError;
use crate::domain::{DomainError, access};

type ApiResult<T> = Result<T, ApiError>;

/// Maps a domain failure of a recipient call: an unknown or ended link and a missing session
/// get recipient-worded answers. One wording for every link that cannot be opened, so that the
/// answer does not tell an ended link from one that never existed.
fn problem(e: DomainError) -> ApiError {
    match e {
        DomainError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_link",
            "Unknown link",
            "This link cannot be opened: it is not known here, or its message was withdrawn or has expired. Check that it was copied completely; otherwise ask the sender.",
        ),
        DomainError::Unauthenticated => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Verification required",
            "Verify first; then send the session as 'Authorization: Bearer spa_…'.",
        ),
        other => other.into(),
    }
}

/// `GET|HEAD /r/{access_id}`: the page. The same bytes for every link; it never acts, never
/// counts as an attempt or an opening. A fetch of a known link is logged as `link.fetched`.
pub async fn link_page(
    State(state): State<AppState>,
    _: Recipient,
    method: Method,
    ApiPath(access_id): ApiPath<String>,
) -> Response {
    access::link_fetched(&state.services, &access_id, method.as_str()).await;
    page::index_response(method == Method::HEAD)
}

/// `GET /api/v1/access/{access_id}`: what the link shows before verification.
pub async fn info(
    State(state): State<AppState>,
    _: Recipient,
    ApiPath(access_id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(access::info(&state.services, &access_id).await.map_err(problem)?).into_response())
}

/// `POST /api/v1/access/{access_id}/code`: send a code by SMS.
pub async fn send_code(
    State(state): State<AppState>,
    _: Recipient,
    ApiPath(access_id): ApiPath<String>,
) -> ApiResult<Response> {
    let sent = access::send_code(&state.services, &access_id).await.map_err(problem)?;
    Ok((StatusCode::ACCEPTED, Json(sent)).into_response())
}

/// Body of `POST …/verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    code: String,
}

/// `POST /api/v1/access/{access_id}/verify`: an SMS code, or TOTP / a recovery code after the
/// password step.
pub async fn verify(
    State(state): State<AppState>,
    recipient: Recipient,
    ApiPath(access_id): ApiPath<String>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> ApiResult<Response> {
    let grant = access::verify(&state.services, &access_id, recipient.session.as_deref(), &body.code)
        .await
        .map_err(problem)?;
    Ok(Json(grant).into_response())
}

/// `GET /api/v1/access/{access_id}/prelogin`: the key-derivation parameters for the password.
pub async fn prelogin(
    State(state): State<AppState>,
    _: Recipient,
    ApiPath(access_id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(access::prelogin(&state.services, &access_id).await.map_err(problem)?).into_response())
}

/// Body of `POST …/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    login_key: String,
}

/// `POST /api/v1/access/{access_id}/login`: the password step of a registered recipient.
pub async fn login(
    State(state): State<AppState>,
    _: Recipient,
    ApiPath(access_id): ApiPath<String>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let login_key = zeroize::Zeroizing::new(body.login_key);
    let grant = access::login(&state.services, &access_id, &login_key)
        .await
        .map_err(problem)?;
    Ok(Json(grant).into_response())
}

/// `GET /api/v1/access/{access_id}/envelope`: seal, header, policy, sizes, sender key.
pub async fn envelope(
    State(state): State<AppState>,
    recipient: Recipient,
    ApiPath(access_id): ApiPath<String>,
) -> ApiResult<Response> {
    let env = access::envelope(&state.services, &access_id, recipient.session.as_deref())
        .await
        .map_err(problem)?;
    Ok(Json(env).into_response())
}

/// `GET /api/v1/access/{access_id}/keyblob`: a registered recipient's key blob.
pub async fn keyblob(
    State(state): State<AppState>,
    recipient: Recipient,
    ApiPath(access_id): ApiPath<String>,
) -> ApiResult<Response> {
    let blob = access::keyblob(&state.services, &access_id, recipient.session.as_deref())
        .await
        .map_err(problem)?;
    Ok(Json(blob).into_response())
}

/// `POST /api/v1/access/{access_id}/release`: the server share (logged before it is sent).
pub async fn release(
    State(state): State<AppState>,
    recipient: Recipient,
    ApiPath(access_id): ApiPath<String>,
) -> ApiResult<Response> {
    let released = access::release(&state.services, &access_id, recipient.session.as_deref())
        .await
        .map_err(problem)?;
    Ok(Json(released).into_response())
}

/// `GET /api/v1/access/{access_id}/payloads/{index}`: ciphertext, with `Range` support.
pub async fn payload(
    State(state): State<AppState>,
    recipient: Recipient,
    ApiPath((access_id, index)): ApiPath<(String, u32)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = parse_range(&headers)?;
    let (total, served, stream) =
        access::download(&state.services, &access_id, recipient.session.as_deref(), index, range)
            .await
            .map_err(|e| match e {
                DomainError::Invalid {
                    code: "range_not_satisfiable",
                    detail,
                } => range_error(detail),
                other => problem(other),
            })?;
    Ok(ciphertext_response(total, served, stream, range.is_some()))
}
