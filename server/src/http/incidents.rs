//! Handlers of the breach register (`/api/v1/incidents`, `/api/v1/breach-settings`): parse,
//! call `domain::incidents`, map the result.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sealpost_breach::{FactsPatch, Outcome};
use serde::Deserialize;

use super::AppState;
use super::extract::{ApiJson, ApiPath, Authed};
use super::problem::ApiError;
use crate::domain::incidents::{self, BreachSettings, ExportFormat, NewNotification};

type ApiResult<T> = Result<T, ApiError>;

/// `GET /api/v1/breach-settings`.
pub async fn get_settings(State(state): State<AppState>, Authed(who): Authed) -> ApiResult<Response> {
    Ok(Json(incidents::get_settings(&state.services, &who).await?).into_response())
}

/// `PUT /api/v1/breach-settings`.
pub async fn put_settings(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<BreachSettings>,
) -> ApiResult<Response> {
    Ok(Json(incidents::put_settings(&state.services, &who, body).await?).into_response())
}

/// Body of `POST /api/v1/incidents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    message_id: String,
    #[serde(default)]
    facts: Option<FactsPatch>,
}

/// `POST /api/v1/incidents`: 201 with the incident (DPO/admin) or its id and deadline (sender).
pub async fn open(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiJson(body): ApiJson<OpenBody>,
) -> ApiResult<Response> {
    let view = incidents::open(&state.services, &who, &body.message_id, body.facts.as_ref()).await?;
    let mut response = (StatusCode::CREATED, Json(&view)).into_response();
    if let Some(id) = view["id"].as_str()
        && let Ok(v) = HeaderValue::from_str(&format!("/api/v1/incidents/{id}"))
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    state: Option<String>,
}

/// `GET /api/v1/incidents`.
pub async fn list(
    State(state): State<AppState>,
    Authed(who): Authed,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|_| ApiError::bad_request("invalid_query", "the only query parameter is state"))?;
    let items = incidents::list(&state.services, &who, q.state.as_deref()).await?;
    Ok(Json(serde_json::json!({ "incidents": items })).into_response())
}

/// `GET /api/v1/incidents/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(Json(incidents::view(&state.services, &who, &id).await?).into_response())
}

/// Body of `POST /api/v1/incidents/{id}/updates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    facts: Option<FactsPatch>,
    #[serde(default)]
    version: Option<i64>,
}

/// `POST /api/v1/incidents/{id}/updates`.
pub async fn update(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> ApiResult<Response> {
    let view = incidents::update(
        &state.services,
        &who,
        &id,
        body.note.as_deref(),
        body.facts.as_ref(),
        body.version,
    )
    .await?;
    Ok(Json(view).into_response())
}

/// Body of `PUT /api/v1/incidents/{id}/awareness`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwarenessBody {
    aware_at: String,
    reason: String,
    #[serde(default)]
    version: Option<i64>,
}

/// `PUT /api/v1/incidents/{id}/awareness`.
pub async fn awareness(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AwarenessBody>,
) -> ApiResult<Response> {
    let at = incidents::parse_time(&body.aware_at)
        .ok_or_else(|| ApiError::bad_request("invalid_awareness", "aware_at must be an RFC 3339 time"))?;
    let view = incidents::set_awareness(&state.services, &who, &id, at, &body.reason, body.version).await?;
    Ok(Json(view).into_response())
}

/// Body of `POST /api/v1/incidents/{id}/decision`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    outcome: String,
    reason: String,
    #[serde(default)]
    version: Option<i64>,
}

/// `POST /api/v1/incidents/{id}/decision`.
pub async fn decide(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<Response> {
    let outcome = Outcome::parse(&body.outcome).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_outcome",
            "outcome is record_only, notify_authority or notify_authority_and_individuals",
        )
    })?;
    let view = incidents::decide(&state.services, &who, &id, outcome, &body.reason, body.version).await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/incidents/{id}/notifications`.
pub async fn notify(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewNotification>,
) -> ApiResult<Response> {
    let view = incidents::notify(&state.services, &who, &id, &body).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Body of `POST /api/v1/incidents/{id}/close`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    reason: String,
    #[serde(default)]
    version: Option<i64>,
}

/// `POST /api/v1/incidents/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CloseBody>,
) -> ApiResult<Response> {
    let view = incidents::close(&state.services, &who, &id, &body.reason, body.version).await?;
    Ok(Json(view).into_response())
}

/// Query of `GET /api/v1/incidents/{id}/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default)]
    format: Option<String>,
}

/// `GET /api/v1/incidents/{id}/export?format=md|html|pdf|json`: a download.
pub async fn export(
    State(state): State<AppState>,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let bad = || ApiError::bad_request("invalid_format", "format is md, html, pdf or json");
    let Query(q) = query.map_err(|_| bad())?;
    let format = ExportFormat::parse(q.format.as_deref().unwrap_or("json")).ok_or_else(bad)?;
    let bytes = incidents::export(&state.services, &who, &id, format).await?;
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    // The id is base64url (checked by the domain), so the file name needs no quoting.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"incident-{id}.{}\"",
        format.extension()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
