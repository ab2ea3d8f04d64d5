//! Request extractors: the authenticated caller, and JSON bodies whose errors are problems.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::problem::ApiError;
use crate::domain::{DomainError, Principal, accounts, limits};
use crate::net::ClientIp;

/// Query parameters that would put a credential into URLs (and so into logs and histories).
const CREDENTIAL_PARAMS: [&str; 5] = ["token", "api_key", "apikey", "access_token", "key"];

/// The client's address as decided by the trusted-proxy rules (peer address otherwise).
pub fn client_ip(parts: &Parts) -> IpAddr {
    if let Some(ClientIp(ip)) = parts.extensions.get::<ClientIp>() {
        return *ip;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// The credential of `Authorization: Bearer <credential>`: exactly one such header, or none.
fn bearer(parts: &Parts) -> Option<&str> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Authed(pub Principal);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(query) = parts.uri.query() {
            let has_credential = query.split('&').any(|pair| {
                let name = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
                CREDENTIAL_PARAMS.contains(&name.as_str())
            });
            if has_credential {
                return Err(ApiError::bad_request(
                    "credential_in_url",
                    "Credentials are never accepted in the URL; send 'Authorization: Bearer sp_…' instead.",
                ));
            }
        }
        let svc = &state.services;
        let Some(token) = bearer(parts) else {
            limits::per_ip(svc, client_ip(parts)).await?;
            return Err(DomainError::Unauthenticated.into());
        };
        match accounts::authenticate(svc, token).await {
            Ok(principal) => {
                limits::per_token(svc, &principal.token_id).await?;
                Ok(Authed(principal))
            }
            Err(DomainError::Unauthenticated) => {
                limits::per_ip(svc, client_ip(parts)).await?;
                Err(DomainError::Unauthenticated.into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A JSON body; malformed or oversized bodies become problems, unknown fields are refused by
/// the request types themselves.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "Send the body as application/json.",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large("The JSON body is larger than this server accepts.")
            } else {
                ApiError::bad_request("invalid_body", "The request body could not be read.")
            }
        })?;
        let value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request("invalid_json", json_error_detail(&e)))?;
        Ok(ApiJson(value))
    }
}

/// A JSON error for the caller: serde's message without the server's Rust type names
/// (`expected struct NewMessageBody`, `expected u64`), which say nothing to a client and
/// describe the server's internals.
fn json_error_detail(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = message.rfind(" at line ").map_or(message.as_str(), |at| &message[..at]);
    let mut words = Vec::new();
    let mut tokens = message.split(' ').peekable();
    while let Some(token) = tokens.next() {
        let word = token.trim_end_matches([',', '.', ';']);
        let tail = &token[word.len()..];
        let plain = match word {
            "struct" | "enum" | "tuple" | "unit" => {
                // The Rust name that follows (and "struct" after "tuple"/"unit").
                while tokens.peek().is_some_and(|t| *t == "struct") {
                    tokens.next();
                }
                let name = tokens.next().unwrap_or("");
                let name_tail = &name[name.trim_end_matches([',', '.', ';']).len()..];
                words.push(format!(
                    "{}{name_tail}",
                    if word == "enum" {
                        "one of the allowed values"
                    } else {
                        "a JSON object"
                    }
                ));
                continue;
            }
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
            "f32" | "f64" => "a number",
            _ => {
                words.push(token.to_owned());
                continue;
            }
        };
        words.push(format!("{plain}{tail}"));
    }
    format!(
        "The JSON body is not valid: {} (line {}, column {}).",
        words.join(" "),
        e.line(),
        e.column()
    )
}

/// Path parameters; a parameter that does not parse (a non-numeric index, say) is simply a
/// resource that does not exist: 404 problem, like any unknown id.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|_| ApiError::not_found())
    }
}

/// A recipient call, carrying the recipient session from `Authorization: Bearer spa_…` if one
/// was sent. Calls without a session (link info, codes, sign-in: where guessing could happen)
/// count against the client's IP address. Calls with one do not: a download is hundreds of
/// range requests, a session is 256 random bits nobody guesses, and what it can do is limited
/// per recipient (attempts, `max_opens`).
#[derive(Clone)]
pub struct Recipient {
    /// The session token, if any.
    pub session: Option<String>,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("session", &self.session.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl FromRequestParts<AppState> for Recipient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = bearer(parts).map(str::to_owned);
        if session.is_none() {
            limits::per_ip(&state.services, client_ip(parts)).await?;
        }
        Ok(Recipient { session })
    }
}

#[cfg(test)]
mod tests {
    use super::json_error_detail;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        size: u64,
        count: i32,
    }

    fn detail(text: &str) -> String {
        json_error_detail(&serde_json::from_str::<Body>(text).unwrap_err())
    }

    #[test]
    fn json_errors_name_no_rust_types() {
        let shape = detail("\"a string\"");
        assert_eq!(
            shape,
            "The JSON body is not valid: invalid type: string \"a string\", expected a JSON object (line 1, column 10)."
        );
        let wrong = detail("{\"size\": \"ten\"}");
        assert!(wrong.contains("expected a non-negative integer"), "{wrong}");
        let negative = detail("{\"size\": 1, \"count\": 1.5}");
        assert!(negative.contains("expected an integer"), "{negative}");
        let unknown = detail("{\"state\": 1}");
        assert!(unknown.contains("unknown field `state`"), "{unknown}");
        for d in [shape, wrong, negative, unknown] {
            for leak in ["struct", "Body", "u64", "i32", " at line "] {
                assert!(!d.contains(leak), "{leak} in {d}");
            }
        }
    }
}
