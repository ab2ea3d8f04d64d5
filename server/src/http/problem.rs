//! RFC 9457 problem details: every error answer is `application/problem+json` with a stable
//! `code`, a sentence for humans, and nothing internal (no SQL, paths or backend messages).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::DomainError;

/// An API error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    retry_after: Option<u64>,
    attempts_left: Option<u32>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts_left: Option<u32>,
}

impl ApiError {
    /// A problem with explicit fields.
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            retry_after: None,
            attempts_left: None,
        }
    }
    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request", detail)
    }
    /// 404.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "There is nothing here, or it is not yours to see.",
        )
    }
    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            "This resource does not accept this method.",
        )
    }
    /// 413.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "Payload too large", detail)
    }
    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound => ApiError::not_found(),
            DomainError::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                "Send a valid API token as 'Authorization: Bearer sp_…'.",
            ),
            DomainError::Forbidden(detail) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail),
            DomainError::Invalid { code, detail } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, "Bad request", detail)
            }
            DomainError::Conflict { code, detail } => ApiError::new(StatusCode::CONFLICT, code, "Conflict", detail),
            DomainError::Ended(state) => ApiError::new(
                StatusCode::GONE,
                "gone",
                "Gone",
                format!("The message has ended ({state}); nothing of it can be opened any more."),
            ),
            DomainError::Quota(detail) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "quota_exceeded",
                "Quota exceeded",
                detail,
            ),
            DomainError::RateLimited(secs) => ApiError {
                retry_after: Some(secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many requests",
                    format!("Too many requests; retry after {secs} seconds."),
                )
            },
            DomainError::TooLarge(detail) => ApiError::too_large(detail),
            DomainError::Locked => ApiError::new(
                StatusCode::LOCKED,
                "locked",
                "Locked",
                "Too many wrong attempts: this link is locked. Ask the sender to contact you.",
            ),
            DomainError::WrongSecret {
                code,
                detail,
                attempts_left,
            } => ApiError {
                attempts_left: Some(attempts_left),
                ..ApiError::new(StatusCode::FORBIDDEN, code, "Verification failed", detail)
            },
            DomainError::Gone(state) => ApiError::new(
                StatusCode::GONE,
                state,
                "Gone",
                match state {
                    "open_limit" => "This message has been opened as many times as its sender allowed.",
                    _ => "This message can no longer be opened.",
                },
            ),
            DomainError::Throttled {
                code,
                detail,
                retry_after,
            } => ApiError {
                retry_after,
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, "Too many requests", detail)
            },
            DomainError::DeliveryFailed(detail) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "sms_failed", "Delivery failed", detail)
            }
            DomainError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "The server cannot complete this request right now; nothing was changed that you were told about. Retry later.",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            kind: format!("https://sealpost.org/problems/{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
            attempts_left: self.attempts_left,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sealpost\""),
            );
        }
        response
    }
}
