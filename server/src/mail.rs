//! Notification mail over SMTP.
//!
//! A [`Mailer`] sends plain-text UTF-8 notifications through one relay, with STARTTLS (the
//! default), implicit TLS or no TLS, optional AUTH, and an optional extra root certificate for a
//! private relay. A notification ([`notification`]) says who sent a secure message and where to
//! open it; it never carries any of the message's content.
//!
//! The relay password is a [`Secret`]: it is never logged and never part of an error.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sealpost_server::mail::MailError> {
//! use sealpost_server::mail::{notification, MailConfig, Mailer};
//! let config = MailConfig { enabled: true, host: "smtp.example.org".into(), ..MailConfig::default() };
//! let mailer = Mailer::new(&config)?;
//! let (subject, body) = notification("https://sealpost.example.org/r/abc", "Kent County Council", "2025-07-01 12:00 UTC");
//! mailer.send("resident@example.net", &subject, &body).await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// The longest relay reply kept in a [`MailError::Rejected`].
const MAX_REPLY_CHARS: usize = 300;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain SMTP (a relay on the same host only).
    None,
    /// STARTTLS, required (port 587; the default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[mail]`: the SMTP relay for notification mail.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// Whether notifications are mailed at all. Default false.
    pub enabled: bool,
    /// The relay's host name (also the name checked in its certificate). Default `localhost`.
    pub host: String,
    /// The relay's port. Default 587.
    pub port: u16,
    /// `none`, `starttls` (default) or `tls`.
    pub tls: MailTls,
    /// User name for SMTP AUTH (PLAIN or LOGIN); no AUTH when absent.
    pub username: Option<String>,
    /// Password for SMTP AUTH. Serialised as `<redacted>`.
    #[serde(with = "crate::sms::secret_serde")]
    pub password: Option<Secret>,
    /// The `From` of every notification. Default `Sealpost <no-reply@sealpost.invalid>`.
    pub from: String,
    /// Time allowed for each step of the SMTP conversation. Default 30 s.
    pub timeout_secs: u64,
    /// An extra trusted root certificate (PEM) for a private relay, on top of the system roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "localhost".to_owned(),
            port: 587,
            tls: MailTls::Starttls,
            username: None,
            password: None,
            from: "Sealpost <no-reply@sealpost.invalid>".to_owned(),
            timeout_secs: 30,
            ca_file: None,
        }
    }
}

/// Why a mail was not sent. The texts never contain the relay password.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address (recipient or `from`) is not a valid e-mail address.
    #[error("{0:?} is not a valid e-mail address")]
    InvalidAddress(String),
    /// The mail configuration is not usable.
    #[error("the mail configuration is not usable: {0}")]
    Config(String),
    /// The relay could not be reached, or the conversation broke off.
    #[error("the connection to the mail relay failed: {0}")]
    Connection(String),
    /// The relay answered with an SMTP error (4xx transient, 5xx permanent).
    #[error("the mail relay rejected the message with SMTP code {code}: {message}")]
    Rejected {
        /// The SMTP reply code, e.g. 550.
        code: u16,
        /// The relay's reply text.
        message: String,
    },
    /// TLS with the relay failed (handshake, untrusted or mismatched certificate).
    #[error("TLS with the mail relay failed: {0}")]
    Tls(String),
}

/// Sends notification mail through the configured relay.
///
/// Each [`Mailer::send`] opens its own connection (no pool), so a relay restart never leaves a
/// broken connection behind. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    tls: MailTls,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Builds the transport from `config` (it does not connect, and ignores `enabled`: the
    /// caller decides whether to mail at all).
    ///
    /// Fails on an invalid `from`, an empty host, a zero timeout, a password without a user name
    /// (or the reverse), or an unreadable or invalid `ca_file`.
    pub fn new(config: &MailConfig) -> Result<Mailer, MailError> {
        let host = config.host.trim();
        if host.is_empty() {
            return Err(MailError::Config("mail.host is empty".to_owned()));
        }
        if config.timeout_secs == 0 {
            return Err(MailError::Config("mail.timeout_secs must be at least 1".to_owned()));
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailError::InvalidAddress(config.from.clone()))?;

        let tls = match config.tls {
            MailTls::None => {
                if config.ca_file.is_some() {
                    return Err(MailError::Config(
                        "mail.ca_file needs mail.tls = \"starttls\" or \"tls\"".to_owned(),
                    ));
                }
                Tls::None
            }
            MailTls::Starttls => Tls::Required(tls_parameters(host, config)?),
            MailTls::Tls => Tls::Wrapper(tls_parameters(host, config)?),
        };

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.timeout_secs)));
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                if config.tls == MailTls::None {
                    tracing::warn!(
                        host,
                        "mail relay credentials are sent without TLS (mail.tls = \"none\")"
                    );
                }
                builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(MailError::Config(
                    "mail.username is set but mail.password is not".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(MailError::Config(
                    "mail.password is set but mail.username is not".to_owned(),
                ));
            }
        }

        Ok(Mailer {
            transport: builder.build(),
            from,
            host: host.to_owned(),
            port: config.port,
            tls: config.tls,
        })
    }

    /// Sends one plain-text UTF-8 mail to `to` (`user@example.org` or `Name <user@example.org>`).
    pub async fn send(&self, to: &str, subject: &str, text_body: &str) -> Result<(), MailError> {
        let recipient: Mailbox = to
            .trim()
            .parse()
            .map_err(|_| MailError::InvalidAddress(to.to_owned()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text_body.to_owned())
            .map_err(|e| MailError::Config(format!("the mail cannot be built ({e})")))?;
        match self.transport.send(message).await {
            Ok(response) => {
                tracing::debug!(host = %self.host, code = %response.code(), "notification mail accepted by the relay");
                Ok(())
            }
            Err(e) => {
                let error = map_smtp_error(&e, &self.host, self.port);
                tracing::warn!(host = %self.host, port = self.port, error = %error, "notification mail not sent");
                Err(error)
            }
        }
    }
}

/// TLS parameters for `host`, with `ca_file` added to the system roots.
fn tls_parameters(host: &str, config: &MailConfig) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| MailError::Config(format!("mail.ca_file {} cannot be read ({e})", path.display())))?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| {
            MailError::Config(format!(
                "mail.ca_file {} is not a PEM certificate ({e})",
                path.display()
            ))
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| MailError::Tls(format!("the TLS settings cannot be built ({e})")))
}

/// Turns lettre's error into a [`MailError`] (lettre never puts credentials in its errors).
fn map_smtp_error(e: &lettre::transport::smtp::Error, host: &str, port: u16) -> MailError {
    if let Some(code) = e.status() {
        let message: String = std::error::Error::source(e)
            .map(ToString::to_string)
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_REPLY_CHARS)
            .collect();
        let code = code.to_string().parse().unwrap_or(0);
        return MailError::Rejected {
            code,
            message: message.trim().to_owned(),
        };
    }
    if e.is_tls() || caused_by_tls(e) {
        return MailError::Tls(format!("{host}:{port}: {}", innermost(e)));
    }
    let what = if e.is_timeout() { "timed out" } else { "failed" };
    MailError::Connection(format!("{host}:{port} {what}: {}", innermost(e)))
}

/// Whether a rustls error is somewhere in the chain (lettre reports a failed handshake, e.g. an
/// untrusted certificate, as a connection error wrapping an I/O error wrapping the rustls error).
fn caused_by_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.is::<rustls::Error>() {
            return true;
        }
        let wrapped = err.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
        if wrapped.is_some_and(|inner| inner.is::<rustls::Error>()) {
            return true;
        }
        current = err.source();
    }
    false
}

/// The most specific message in an error chain (e.g. "invalid peer certificate: UnknownIssuer").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// The subject and plain-text body of the notification that a secure message from `sender` is
/// waiting at `link`, and that the link expires at `expires`. No message content, ever.
pub fn notification(link: &str, sender: &str, expires: &str) -> (String, String) {
    let sender = one_line(sender);
    let expires = one_line(expires);
    let link = one_line(link);
    let subject = format!("You have a secure message from {sender}");
    let body = format!(
        "You have a secure message from {sender}.\n\
         \n\
         Open it here:\n\
         {link}\n\
         \n\
         You will need a one-time code to open it; the link expires at {expires}.\n\
         \n\
         This mail does not contain the message itself. If you were not expecting it, you can ignore it.\n"
    );
    (subject, body)
}

/// `s` on one line: control characters (line breaks included) become spaces, runs of spaces one.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
