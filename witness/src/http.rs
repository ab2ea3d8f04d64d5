//! The HTTP interface of c2sp.org/tlog-witness, plus two read-only endpoints for operators.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};

use crate::{Error, Witness};

/// The largest add-checkpoint body accepted (larger ones get 413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const TEXT: &str = "text/plain; charset=utf-8";
/// The media type of the 409 body, as c2sp.org/tlog-witness requires.
const TLOG_SIZE: &str = "text/x.tlog.size";

/// The witness's routes: `POST /add-checkpoint`, `GET /` and `GET /health` (JSON status),
/// `GET /vkey`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/", get(health))
        .route("/health", get(health))
        .route("/vkey", get(vkey))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return refusal(&Error::Malformed("the body is not UTF-8"));
    };
    // Run to completion even if the client goes away: the check, the write and the cosignature
    // belong together.
    let task = tokio::spawn(async move { witness.add_checkpoint(&text).await });
    match task.await {
        Ok(Ok(cosignature)) => (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], cosignature).into_response(),
        Ok(Err(e)) => refusal(&e),
        Err(e) => {
            tracing::error!(error = %e, "the add-checkpoint task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, TEXT)],
                "internal error\n",
            )
                .into_response()
        }
    }
}

/// The response for a refused request: the size for 409, a short reason otherwise (none for
/// the witness's own failures, which are logged instead).
fn refusal(error: &Error) -> Response {
    let status = error.status();
    match error {
        Error::OldSizeMismatch { known } | Error::RootMismatch { known } => {
            tracing::info!(%error, "add-checkpoint refused");
            (status, [(header::CONTENT_TYPE, TLOG_SIZE)], format!("{known}\n")).into_response()
        }
        _ if status.is_server_error() => {
            tracing::error!(%error, "add-checkpoint failed");
            (status, [(header::CONTENT_TYPE, TEXT)], "internal error\n").into_response()
        }
        _ => {
            tracing::info!(%error, "add-checkpoint refused");
            (status, [(header::CONTENT_TYPE, TEXT)], format!("{error}\n")).into_response()
        }
    }
}

async fn health(State(witness): State<Arc<Witness>>) -> Json<crate::Status> {
    Json(witness.status().await)
}

async fn vkey(State(witness): State<Arc<Witness>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, TEXT)],
        format!("{}\n", witness.vkey()),
    )
        .into_response()
}
