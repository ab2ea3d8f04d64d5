//! The access log over HTTP: the published checkpoint and key, proofs, receipts and exports.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::AppState;
use super::extract::{ApiPath, Authed};
use super::problem::ApiError;
use crate::domain::{limits, transparency};
use crate::net::ClientIp;

type ApiResult<T> = Result<T, ApiError>;

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET /.well-known/sealpost/checkpoint`: the latest signed checkpoint (C2SP tlog-checkpoint),
/// with the witness cosignatures stored for its size.
pub async fn checkpoint(State(state): State<AppState>, ClientIp(ip): ClientIp) -> ApiResult<Response> {
    limits::per_ip(&state.services, ip).await?;
    let signed = transparency::checkpoint(&state.services).await?;
    Ok(text(signed.note))
}

/// `GET /.well-known/sealpost/log-key`: the log's verifier key (C2SP vkey), one line.
pub async fn log_key(State(state): State<AppState>) -> Response {
    text(format!("{}\n", state.services.log.signer.vkey()))
}

/// `GET /api/v1/log`: origin, key, size and witnesses.
pub async fn info(State(state): State<AppState>, ClientIp(ip): ClientIp) -> ApiResult<Response> {
    limits::per_ip(&state.services, ip).await?;
    let signed = transparency::checkpoint(&state.services).await?;
    let log = &state.services.log;
    Ok(Json(serde_json::json!({
        "origin": log.signer.origin(),
        "log_key": log.signer.vkey(),
        "log_keys": log.signer.vkeys(),
        "size": signed.checkpoint.size,
        "root": STANDARD.encode(signed.checkpoint.root),
        "checkpoint": signed.note,
        "witnesses": log.witnesses.iter().map(|w| w.key.to_vkey()).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Query of an inclusion proof.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    index: u64,
    size: u64,
}

/// `GET /api/v1/log/inclusion?index=&size=`.
pub async fn inclusion(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    query: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    limits::per_ip(&state.services, ip).await?;
    let Query(q) = query.map_err(|_| ApiError::bad_request("invalid_query", "give index and size as integers"))?;
    let proof = transparency::inclusion(&state.services, q.index, q.size).await?;
    Ok(Json(serde_json::json!({
        "index": q.index,
        "size": q.size,
        "proof": proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Query of a consistency proof.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

/// `GET /api/v1/log/consistency?from=&to=`.
pub async fn consistency(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    limits::per_ip(&state.services, ip).await?;
    let Query(q) = query.map_err(|_| ApiError::bad_request("invalid_query", "give from and to as integers"))?;
    let proof = transparency::consistency(&state.services, q.from, q.to).await?;
    Ok(Json(serde_json::json!({
        "from": q.from,
        "to": q.to,
        "proof": proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET /api/v1/messages/{id}/receipt`: the signed, self-contained receipt (a file).
pub async fn receipt(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let receipt = transparency::receipt(&state.services, &who, &id).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], receipt).into_response())
}

/// Query of an export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    from: Option<u64>,
    to: Option<u64>,
}

/// `GET /api/v1/log/export?from=&to=`: the organisation's entries as JSON lines with proofs.
pub async fn export(
    State(state): State<AppState>,
    Authed(who): Authed,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|_| ApiError::bad_request("invalid_query", "from and to are integers"))?;
    let body = transparency::export(&state.services, &who, q.from.unwrap_or(0), q.to).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
