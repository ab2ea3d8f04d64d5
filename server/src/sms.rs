//! SMS delivery of one-time codes.
//!
//! Two providers sit behind one narrow trait, [`SmsSender`]:
//!
//! - [`OutboxSender`], the default and the development provider: every message becomes one JSON
//!   line in a local file (`<data_dir>/sms-outbox.jsonl` unless configured), readable with
//!   [`read_outbox`]. Nothing leaves the machine.
//! - [`TwilioSender`], a client of the Twilio Messages API (or anything compatible with it), with
//!   retries and exponential backoff on network errors, 429 and 5xx.
//!
//! A message text carries a one-time code: it is never logged and never part of an error. The
//! outbox provider writes it to its file, whose whole purpose is to show it to a developer, and
//! logs only that it did (neither the code nor the phone number: logs travel further than files).
//! The provider's auth token is a [`Secret`] and is never logged either.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sealpost_server::sms::SmsError> {
//! use sealpost_server::sms::{build, SmsConfig};
//! let sender = build(&SmsConfig::default(), std::path::Path::new("./sealpost-data"))?;
//! let receipt = sender.send("+447700900123", "Your Sealpost code is 123456").await?;
//! println!("queued as {}", receipt.provider_id);
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use crate::config::Secret;

/// The file name of the development outbox inside the data directory.
pub const DEFAULT_OUTBOX_FILE: &str = "sms-outbox.jsonl";

/// The default base URL of the Twilio API.
pub const DEFAULT_TWILIO_BASE_URL: &str = "https://api.twilio.com";

/// The longest `Retry-After` (on a 429) that is waited for; a longer one ends the attempts.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The longest provider message kept in a [`SmsError::Rejected`].
const MAX_PROVIDER_MESSAGE_CHARS: usize = 300;

/// Something that delivers a text message to a phone number.
///
/// Stored as `Arc<dyn SmsSender>`; implementations must never log the text (it holds a one-time
/// code), the development [`OutboxSender`] excepted.
pub trait SmsSender: Send + Sync + std::fmt::Debug {
    /// Sends `text` to `to` (E.164, e.g. `+447700900123`).
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> BoxFuture<'a, Result<SmsReceipt, SmsError>>;
}

/// The provider's acknowledgement of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The provider's identifier of the message (Twilio's `sid`, or an outbox sequence id).
    pub provider_id: String,
}

/// Why a message was not sent. The texts never contain the auth token or the message text.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider refused the message (a 4xx other than 429); retrying would not help.
    #[error("the SMS provider refused the message (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The provider's explanation (Twilio's `message` field), or a generic sentence.
        message: String,
    },
    /// The provider could not be reached or kept failing (network, timeouts, 429, 5xx), or the
    /// development outbox could not be written.
    #[error("the SMS provider is unavailable: {0}")]
    Unavailable(String),
    /// The SMS configuration is incomplete or invalid.
    #[error("the SMS configuration is not usable: {0}")]
    Config(String),
}

/// Which provider delivers messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    /// Append to a local JSON-lines file (development; the default).
    #[default]
    Outbox,
    /// The Twilio Messages API, or a compatible one at `base_url`.
    Twilio,
}

/// `[sms]`: how one-time codes are delivered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `outbox` (default) or `twilio`.
    pub provider: SmsProvider,
    /// The outbox file; default `<data_dir>/sms-outbox.jsonl` (see [`SmsConfig::outbox_path`]).
    pub outbox_file: Option<PathBuf>,
    /// Base URL of the Messages API. Default `https://api.twilio.com`.
    pub base_url: String,
    /// Twilio account SID (`AC…`); required for `twilio`.
    pub account_sid: Option<String>,
    /// Twilio auth token; required for `twilio`. Serialised as `<redacted>`.
    #[serde(with = "secret_serde")]
    pub auth_token: Option<Secret>,
    /// The sender: a phone number, an alphanumeric sender id, or a messaging service SID;
    /// required for `twilio`.
    pub sender_id: Option<String>,
    /// Attempts per message, the first included. Default 3.
    pub max_attempts: u32,
    /// Delay before the first retry, doubled for each further one. Default 500 ms.
    pub retry_base_ms: u64,
    /// Time allowed for one HTTP request. Default 10 s.
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: SmsProvider::Outbox,
            outbox_file: None,
            base_url: DEFAULT_TWILIO_BASE_URL.to_owned(),
            account_sid: None,
            auth_token: None,
            sender_id: None,
            max_attempts: 3,
            retry_base_ms: 500,
            timeout_secs: 10,
        }
    }
}

impl SmsConfig {
    /// The outbox file: `outbox_file`, or `<data_dir>/sms-outbox.jsonl`.
    pub fn outbox_path(&self, data_dir: &Path) -> PathBuf {
        self.outbox_file
            .clone()
            .unwrap_or_else(|| data_dir.join(DEFAULT_OUTBOX_FILE))
    }
}

/// Builds the configured provider. `data_dir` places the default outbox file.
///
/// Fails with [`SmsError::Config`] when `twilio` lacks its account SID, auth token or sender id,
/// or when a number is out of range.
pub fn build(config: &SmsConfig, data_dir: &Path) -> Result<Arc<dyn SmsSender>, SmsError> {
    match config.provider {
        SmsProvider::Outbox => Ok(Arc::new(OutboxSender::new(config.outbox_path(data_dir)))),
        SmsProvider::Twilio => Ok(Arc::new(TwilioSender::new(config)?)),
    }
}

/// Serde for `Option<Secret>`: read as a plain string, written as `<redacted>`.
pub(crate) mod secret_serde {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use crate::config::Secret;

    /// What a present secret serialises to.
    pub(crate) const REDACTED: &str = "<redacted>";

    pub(crate) fn serialize<S: Serializer>(value: &Option<Secret>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(_) => serializer.serialize_some(REDACTED),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(Secret::new))
    }
}

// ---------------------------------------------------------------------------------------------
// Outbox (development)
// ---------------------------------------------------------------------------------------------

/// One message in the development outbox: one JSON line `{"at":…,"to":…,"text":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct OutboxEntry {
    /// When it was written, RFC 3339 in UTC.
    pub at: String,
    /// The recipient's number.
    pub to: String,
    /// The whole text, one-time code included.
    pub text: String,
}

/// The development provider: appends every message to a JSON-lines file and logs it.
///
/// Sends through one outbox are serialised by a lock, so concurrent sends never interleave;
/// each line is also a single write to a file opened in append mode, so that several processes
/// sharing the file in development append whole lines.
#[derive(Debug)]
pub struct OutboxSender {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
    sequence: AtomicU64,
}

impl OutboxSender {
    /// An outbox writing to `path` (created on the first send, parent directories included).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: tokio::sync::Mutex::new(()),
            sequence: AtomicU64::new(0),
        }
    }

    /// The outbox file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn append(&self, to: &str, text: &str) -> Result<SmsReceipt, SmsError> {
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| SmsError::Unavailable(format!("the current time cannot be formatted ({e})")))?;
        let entry = OutboxEntry {
            at,
            to: to.to_owned(),
            text: text.to_owned(),
        };
        let mut line = serde_json::to_vec(&entry)
            .map_err(|e| SmsError::Unavailable(format!("the outbox entry cannot be encoded ({e})")))?;
        line.push(b'\n');

        let outbox_error = |what: &str, e: io::Error| {
            SmsError::Unavailable(format!("the SMS outbox {} cannot be {what} ({e})", self.path.display()))
        };
        let guard = self.lock.lock().await;
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| outbox_error("created", e))?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| outbox_error("opened", e))?;
        file.write_all(&line).await.map_err(|e| outbox_error("written", e))?;
        file.flush().await.map_err(|e| outbox_error("written", e))?;
        drop(guard);

        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            outbox = %self.path.display(),
            "SMS written to the development outbox"
        );
        Ok(SmsReceipt {
            provider_id: format!("outbox-{}-{sequence}", std::process::id()),
        })
    }
}

impl SmsSender for OutboxSender {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> BoxFuture<'a, Result<SmsReceipt, SmsError>> {
        Box::pin(self.append(to, text))
    }
}

/// Reads every message of an outbox file, oldest first. A missing file is an empty outbox.
///
/// A line that is not a well-formed entry is an [`io::ErrorKind::InvalidData`] error, except an
/// unterminated last line (a write cut short), which is skipped.
pub fn read_outbox(path: impl AsRef<Path>) -> io::Result<Vec<OutboxEntry>> {
    let content = match std::fs::read_to_string(path.as_ref()) {
        Ok(content) => content,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let complete = content.ends_with('\n');
    let lines: Vec<&str> = content.lines().collect();
    let mut entries = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<OutboxEntry>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if !complete && index + 1 == lines.len() => {}
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {} of the SMS outbox is not a message ({e})", index + 1),
                ));
            }
        }
    }
    Ok(entries)
}

// ---------------------------------------------------------------------------------------------
// Twilio
// ---------------------------------------------------------------------------------------------

/// A client of the Twilio Messages API:
/// `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json` with HTTP Basic auth
/// (account SID, auth token) and the form fields `To`, `From`, `Body`.
///
/// Connect errors, timeouts, 429 and 5xx are retried up to `max_attempts` times in all, after
/// `retry_base_ms`, then twice that, and so on (plus up to a quarter of jitter); a 429's
/// `Retry-After` is honoured when it is at most 30 s. Other 4xx answers are
/// [`SmsError::Rejected`] at once.
pub struct TwilioSender {
    client: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: Secret,
    sender_id: String,
    max_attempts: u32,
    retry_base: Duration,
}

impl std::fmt::Debug for TwilioSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSender")
            .field("url", &self.url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &self.auth_token)
            .field("sender_id", &self.sender_id)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base", &self.retry_base)
            .finish_non_exhaustive()
    }
}

/// The outcome of one failed attempt.
enum AttemptError {
    /// Worth another attempt, after at least the given delay if any.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Final.
    Fatal(SmsError),
}

/// The fields of a Twilio answer that matter here.
#[derive(Deserialize)]
struct TwilioAnswer {
    sid: Option<String>,
    message: Option<String>,
}

impl TwilioSender {
    /// Builds the client from the `twilio` fields of `config`.
    pub fn new(config: &SmsConfig) -> Result<Self, SmsError> {
        fn required<'a>(value: Option<&'a str>, key: &str) -> Result<&'a str, SmsError> {
            match value.map(str::trim) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(SmsError::Config(format!("sms.provider = \"twilio\" needs sms.{key}"))),
            }
        }
        let account_sid = required(config.account_sid.as_deref(), "account_sid")?;
        let auth_token = required(config.auth_token.as_ref().map(Secret::expose), "auth_token")?;
        let sender_id = required(config.sender_id.as_deref(), "sender_id")?;
        if !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(SmsError::Config(
                "sms.account_sid must be letters and digits only".to_owned(),
            ));
        }
        if config.max_attempts == 0 {
            return Err(SmsError::Config("sms.max_attempts must be at least 1".to_owned()));
        }
        if config.timeout_secs == 0 {
            return Err(SmsError::Config("sms.timeout_secs must be at least 1".to_owned()));
        }
        let base_url = config.base_url.trim().trim_end_matches('/');
        let parsed =
            reqwest::Url::parse(base_url).map_err(|e| SmsError::Config(format!("sms.base_url is not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(SmsError::Config("sms.base_url must be an http or https URL".to_owned()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(SmsError::Config(
                "sms.base_url must not carry credentials; use sms.account_sid and sms.auth_token".to_owned(),
            ));
        }
        let timeout = Duration::from_secs(config.timeout_secs);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sealpost-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SmsError::Config(format!("the HTTP client cannot be built ({e})")))?;
        Ok(Self {
            client,
            url: format!("{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"),
            account_sid: account_sid.to_owned(),
            auth_token: Secret::new(auth_token.to_owned()),
            sender_id: sender_id.to_owned(),
            max_attempts: config.max_attempts,
            retry_base: Duration::from_millis(config.retry_base_ms),
        })
    }

    async fn send_with_retries(&self, to: &str, text: &str) -> Result<SmsReceipt, SmsError> {
        let mut attempt = 1;
        loop {
            let (reason, retry_after) = match self.attempt(to, text).await {
                Ok(receipt) => return Ok(receipt),
                Err(AttemptError::Fatal(e)) => return Err(e),
                Err(AttemptError::Retry { reason, retry_after }) => (reason, retry_after),
            };
            if attempt >= self.max_attempts {
                let tries = if attempt == 1 { "attempt" } else { "attempts" };
                return Err(SmsError::Unavailable(format!("{reason} (after {attempt} {tries})")));
            }
            let delay = match retry_after {
                Some(wait) if wait > MAX_RETRY_AFTER => {
                    return Err(SmsError::Unavailable(format!(
                        "{reason}; the provider asked to wait {} s before retrying",
                        wait.as_secs()
                    )));
                }
                Some(wait) => wait.max(self.backoff(attempt)),
                None => self.backoff(attempt),
            };
            tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, %reason, "SMS attempt failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The delay after failed attempt number `attempt` (1-based): base × 2^(attempt−1), plus up
    /// to a quarter of jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        let delay = self.retry_base.saturating_mul(factor);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = delay.mul_f64(f64::from(nanos % 1000) / 4000.0);
        delay.saturating_add(jitter)
    }

    async fn attempt(&self, to: &str, text: &str) -> Result<SmsReceipt, AttemptError> {
        let response = self
            .client
            .post(&self.url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("To", to), ("From", self.sender_id.as_str()), ("Body", text)])
            .send()
            .await
            .map_err(|e| AttemptError::Retry {
                reason: describe_transport_error(&e),
                retry_after: None,
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await;

        if status.is_success() {
            let body = body.map_err(|e| {
                AttemptError::Fatal(SmsError::Unavailable(format!(
                    "the provider accepted the message but its answer could not be read ({})",
                    describe_transport_error(&e)
                )))
            })?;
            // The message is queued: not retried from here on, so that it is never sent twice.
            let sid = serde_json::from_slice::<TwilioAnswer>(&body).ok().and_then(|a| a.sid);
            return match sid {
                Some(sid) if !sid.is_empty() => Ok(SmsReceipt { provider_id: sid }),
                _ => Err(AttemptError::Fatal(SmsError::Unavailable(format!(
                    "the provider accepted the message (HTTP {}) but its answer has no message sid",
                    status.as_u16()
                )))),
            };
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(AttemptError::Retry {
                reason: format!("the provider answered HTTP {}", status.as_u16()),
                retry_after: retry_after.filter(|_| status == reqwest::StatusCode::TOO_MANY_REQUESTS),
            });
        }
        let provider_message = body
            .ok()
            .and_then(|b| serde_json::from_slice::<TwilioAnswer>(&b).ok())
            .and_then(|a| a.message)
            .map(|m| self.scrub(&m, text))
            .filter(|m| !m.is_empty());
        let message = provider_message.unwrap_or_else(|| match status.canonical_reason() {
            Some(reason) => format!("{reason}."),
            None => "no reason given.".to_owned(),
        });
        Err(AttemptError::Fatal(SmsError::Rejected {
            status: status.as_u16(),
            message,
        }))
    }

    /// A provider message made safe for errors and logs: one line, bounded, and without the auth
    /// token or the message text even if the provider echoed them.
    fn scrub(&self, message: &str, text: &str) -> String {
        let mut clean: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_PROVIDER_MESSAGE_CHARS)
            .collect();
        for secret in [self.auth_token.expose(), text] {
            if !secret.is_empty() {
                clean = clean.replace(secret, "<redacted>");
            }
        }
        clean.trim().to_owned()
    }
}

impl SmsSender for TwilioSender {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> BoxFuture<'a, Result<SmsReceipt, SmsError>> {
        Box::pin(self.send_with_retries(to, text))
    }
}

/// A sentence for a request that got no HTTP answer (the URL, which holds only the account SID,
/// is left out too).
fn describe_transport_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "the request to the provider timed out"
    } else if e.is_connect() {
        "the provider could not be reached"
    } else {
        "the request to the provider failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({detail})")
    }
}
