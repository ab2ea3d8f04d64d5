//! The HTTP client of the `/api/v1` API: one [`Client`] per server, requests with the API
//! token or a recipient session, and every error answer turned into an [`Error`] that says
//! what happened in one sentence (the server's problem details, RFC 9457).
//!
//! ```no_run
//! # async fn demo() -> sealpost_client::Result<()> {
//! use sealpost_client::api::{ApiToken, Client};
//!
//! let client = Client::new("http://127.0.0.1:8080", Some(ApiToken::new("sp_…".into())))?;
//! let me = client.me().await?;
//! println!("signed in as {}", me["user"]["address"]);
//! # Ok(()) }
//! ```

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, Problem, Result};

/// An API token (`sp_…`). Redacted in `Debug`, no `Display`, wiped on drop.
#[derive(Clone)]
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    /// Wraps a token.
    pub fn new(token: String) -> Self {
        Self(Zeroizing::new(token))
    }
    /// The token; call sites must not print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// A recipient session (`spa_…`), as `verify` and `login` answer it. Redacted like a token.
#[derive(Clone)]
pub struct Session(Zeroizing<String>);

impl Session {
    /// Wraps a session.
    pub fn new(session: String) -> Self {
        Self(Zeroizing::new(session))
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(<redacted>)")
    }
}

/// Which credential a request carries.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// None (public calls, a link's info).
    None,
    /// The client's API token.
    Token,
    /// A recipient session.
    Session(&'a Session),
}

/// A client of one Sealpost server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<ApiToken>,
}

impl Client {
    /// A client of the server at `server` (`https://…`, or `http://` for a local server),
    /// authenticating with `token` where the API needs one.
    pub fn new(server: &str, token: Option<ApiToken>) -> Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| {
            Error::Config(format!(
                "{server:?} is not a server URL (like https://sealpost.example)"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::Config(format!(
                "{server:?} is not a server URL (like https://sealpost.example)"
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("sealpost/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Error::Config(format!("cannot set up HTTPS: {e}")))?;
        Ok(Self { http, base, token })
    }

    /// The server URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request builder for `path` with the chosen credential.
    pub fn request(&self, method: Method, path: &str, auth: Auth<'_>) -> Result<RequestBuilder> {
        let builder = self.http.request(method, self.url(path));
        Ok(match auth {
            Auth::None => builder,
            Auth::Token => {
                let token = self
                    .token
                    .as_ref()
                    .ok_or_else(|| Error::Config("no API token: run `sealpost init` or set SEALPOST_TOKEN".into()))?;
                builder.bearer_auth(token.expose())
            }
            Auth::Session(session) => builder.bearer_auth(session.0.as_str()),
        })
    }

    /// Sends a request; a non-success answer becomes [`Error::Api`].
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(problem_of(response).await)
    }

    /// A JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, request: RequestBuilder, what: &str) -> Result<T> {
        let response = self.send(request).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    /// `GET path` with the API token, as JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.json(self.request(Method::GET, path, Auth::Token)?, path).await
    }

    /// `method path` with the API token and a JSON body, answering JSON.
    pub async fn call(&self, method: Method, path: &str, body: &Value) -> Result<Value> {
        self.json(self.request(method, path, Auth::Token)?.json(body), path)
            .await
    }

    pub(crate) fn unreachable(&self, e: &reqwest::Error) -> Error {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        Error::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    // ---- the sender's account -------------------------------------------------------------

    /// `GET /api/v1/me`: the user, organisation and token scopes.
    pub async fn me(&self) -> Result<Value> {
        self.get("/api/v1/me").await
    }

    /// `PUT /api/v1/me/keys`: publishes public keys, and optionally the key blob and login key.
    pub async fn put_keys(&self, body: &Value) -> Result<Value> {
        self.call(Method::PUT, "/api/v1/me/keys", body).await
    }

    /// `GET /api/v1/directory/{address}`: a user's published keys.
    pub async fn directory(&self, address: &str) -> Result<Value> {
        self.get(&format!("/api/v1/directory/{}", encode_segment(address)))
            .await
    }

    // ---- messages -------------------------------------------------------------------------

    /// `GET /api/v1/messages/{id}`: a message's status.
    pub async fn status(&self, id: &str) -> Result<Value> {
        self.get(&format!("/api/v1/messages/{}", encode_segment(id))).await
    }

    /// `GET /api/v1/messages?…`: one page of messages, newest first.
    pub async fn list(&self, query: &[(&str, String)]) -> Result<Value> {
        let request = self.request(Method::GET, "/api/v1/messages", Auth::Token)?.query(query);
        self.json(request, "/api/v1/messages").await
    }

    /// `POST /api/v1/messages/{id}/revoke`: the whole message, or one recipient (`rid`), now or
    /// at `at` (RFC 3339).
    pub async fn revoke(&self, id: &str, rid: Option<&str>, at: Option<&str>) -> Result<Value> {
        let mut body = serde_json::Map::new();
        if let Some(rid) = rid {
            body.insert("recipient".into(), rid.into());
        }
        if let Some(at) = at {
            body.insert("at".into(), at.into());
        }
        self.call(
            Method::POST,
            &format!("/api/v1/messages/{}/revoke", encode_segment(id)),
            &Value::Object(body),
        )
        .await
    }

    /// `PATCH /api/v1/messages/{id}`: moves the expiry.
    pub async fn set_expiry(&self, id: &str, expires_at: &str) -> Result<Value> {
        self.call(
            Method::PATCH,
            &format!("/api/v1/messages/{}", encode_segment(id)),
            &serde_json::json!({ "expires_at": expires_at }),
        )
        .await
    }

    /// `GET /api/v1/messages/{id}/receipt`: the signed receipt, as the exact bytes to keep.
    pub async fn receipt(&self, id: &str) -> Result<Vec<u8>> {
        let path = format!("/api/v1/messages/{}/receipt", encode_segment(id));
        let response = self.send(self.request(Method::GET, &path, Auth::Token)?).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok(bytes.to_vec())
    }

    /// `GET /.well-known/sealpost/log-key`: the log's verifier key, as the server publishes it.
    pub async fn log_key(&self) -> Result<String> {
        let response = self
            .send(self.request(Method::GET, "/.well-known/sealpost/log-key", Auth::None)?)
            .await?;
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        Ok(text.trim().to_owned())
    }
}

/// Percent-encodes one path segment (addresses hold `@` and `+`).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads an error answer into a [`Problem`]; an answer that is not problem+json still gets a
/// sentence (its status), never its body.
async fn problem_of(response: Response) -> Error {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let reason = status.canonical_reason().unwrap_or("error");
    let code = body["code"].as_str().map(str::to_owned).unwrap_or_else(|| {
        if status == StatusCode::UNAUTHORIZED {
            "unauthenticated".into()
        } else {
            format!("http_{}", status.as_u16())
        }
    });
    let detail = body["detail"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the server answered {} {reason}", status.as_u16()));
    Error::Api(Problem {
        status: status.as_u16(),
        code,
        detail,
        attempts_left: body["attempts_left"].as_u64(),
        retry_after,
    })
}
