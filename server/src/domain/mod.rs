//! The domain: accounts, the message lifecycle, limits and the sweeper. Handlers call these
//! functions; they hold no SQL and no cryptography of their own.

pub mod access;
pub mod accounts;
pub mod fence;
pub mod incidents;
pub mod kek;
pub mod limits;
pub mod messages;
pub mod notify;
pub mod policy;
pub mod sweeper;
pub mod totp;
pub mod transparency;

use std::sync::Arc;

use crate::blobs::{BlobError, BlobStore};
use crate::clock::Clock;
use crate::config::{AccessConfig, LimitsConfig};
use crate::db::{Db, DbError};
use crate::kek::{KekError, ShareWrapper};
use crate::sms::SmsSender;

/// Everything a domain operation may need; cheap to clone.
#[derive(Debug, Clone)]
pub struct Services {
    /// The database.
    pub db: Db,
    /// The blob store.
    pub blobs: BlobStore,
    /// The revocation fence (outside the backup set).
    pub fence: crate::fence::Fence,
    /// Wraps server shares at rest.
    pub kek: Arc<dyn ShareWrapper>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Limits and quotas.
    pub limits: Arc<LimitsConfig>,
    /// Bounds the memory held by part uploads in flight (each holds up to one part).
    pub part_permits: Arc<tokio::sync::Semaphore>,
    /// Recipient verification settings.
    pub access: Arc<AccessConfig>,
    /// Delivers SMS codes.
    pub sms: Arc<dyn SmsSender>,
    /// Base URL of links (`server.public_url`).
    pub public_url: PublicUrl,
    /// The SMTP relay for notification mail, when `[mail] enabled`.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// The verifiable access log: its key and witnesses.
    pub log: Arc<transparency::Transparency>,
    /// Posts breach-register reminders to the organisations' webhooks.
    pub webhooks: reqwest::Client,
}

/// The base URL of links. With a listener on port 0 (tests, ephemeral instances) and no
/// explicit `public_url`, the port becomes known only after binding: [`PublicUrl::bound`].
#[derive(Debug, Clone)]
pub struct PublicUrl(Arc<std::sync::RwLock<Arc<str>>>);

impl PublicUrl {
    /// From the configured value.
    pub fn new(url: &str) -> Self {
        Self(Arc::new(std::sync::RwLock::new(Arc::from(url.trim_end_matches('/')))))
    }

    /// The current value, without a trailing slash.
    pub fn get(&self) -> Arc<str> {
        self.0.read().map_or_else(|e| e.into_inner().clone(), |g| g.clone())
    }

    /// Fills in the bound port when the URL names port 0 (`http://127.0.0.1:0`).
    pub fn bound(&self, addr: std::net::SocketAddr) {
        let current = self.get();
        if let Some(base) = current.strip_suffix(":0") {
            let url: Arc<str> = Arc::from(format!("{base}:{}", addr.port()));
            match self.0.write() {
                Ok(mut g) => *g = url,
                Err(e) => *e.into_inner() = url,
            }
        }
    }
}

/// A domain failure, with a stable code. Variants carry only what may be shown to the caller;
/// backend details go to the log at the point of failure.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No such thing, or not the caller's to see (indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// Missing or invalid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated, but the role or scope does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request is malformed or breaks a rule.
    #[error("{detail}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// A sentence for the caller.
        detail: String,
    },
    /// The request conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// A sentence for the caller.
        detail: String,
    },
    /// The message has ended (revoked, expired or deleted) — shown to its sender only.
    #[error("the message has ended ({0})")]
    Ended(String),
    /// A quota would be exceeded.
    #[error("{0}")]
    Quota(String),
    /// Too many requests; retry after this many seconds.
    #[error("rate limit exceeded")]
    RateLimited(u64),
    /// The body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// A backend (database, blob store, key) is failing; the caller may retry.
    #[error("temporarily unavailable")]
    Unavailable,
    /// A recipient locked after too many wrong entries.
    #[error("locked after too many wrong attempts")]
    Locked,
    /// A wrong code, password or TOTP; `attempts_left` before the lock.
    #[error("{detail}")]
    WrongSecret {
        /// Stable code: `wrong_code`, `wrong_password`, `code_expired`.
        code: &'static str,
        /// A sentence for the caller.
        detail: &'static str,
        /// Entries left before the recipient is locked.
        attempts_left: u32,
    },
    /// A recipient's message can no longer be opened: `revoked`, `expired` or `unavailable`.
    #[error("this message can no longer be opened ({0})")]
    Gone(&'static str),
    /// A limit that is not the general rate limit: resend throttling, SMS caps, open limits.
    #[error("{detail}")]
    Throttled {
        /// Stable code.
        code: &'static str,
        /// A sentence for the caller.
        detail: String,
        /// Seconds until a retry may succeed, if known.
        retry_after: Option<u64>,
    },
    /// An outside delivery service (SMS provider) failed; nothing was sent.
    #[error("{0}")]
    DeliveryFailed(String),
}

impl DomainError {
    /// An invalid-request error.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        DomainError::Invalid {
            code,
            detail: detail.into(),
        }
    }
    /// A conflict error.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        DomainError::Conflict {
            code,
            detail: detail.into(),
        }
    }
}

impl From<DbError> for DomainError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database failure");
        DomainError::Unavailable
    }
}

impl From<BlobError> for DomainError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => {
                tracing::error!("blob missing from the store");
                DomainError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "blob store failure");
                DomainError::Unavailable
            }
        }
    }
}

impl From<KekError> for DomainError {
    fn from(e: KekError) -> Self {
        tracing::error!(error = %e, "key-encryption key failure");
        DomainError::Unavailable
    }
}

impl From<getrandom::Error> for DomainError {
    fn from(_: getrandom::Error) -> Self {
        tracing::error!("OS random generator failure");
        DomainError::Unavailable
    }
}

/// Result alias for this layer.
pub type DomainResult<T> = Result<T, DomainError>;

/// Roles a user may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends messages and manages their own.
    Sender,
    /// Manages users and tokens of the organisation.
    Admin,
    /// Data-protection officer: reads every message's status and activity in the organisation.
    Dpo,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sender => "sender",
            Role::Admin => "admin",
            Role::Dpo => "dpo",
        }
    }
    /// Parses a stored or requested name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sender" => Some(Role::Sender),
            "admin" => Some(Role::Admin),
            "dpo" => Some(Role::Dpo),
            _ => None,
        }
    }
}

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Create, upload and seal messages; revoke, change, delete own messages.
    Send,
    /// Read status, lists and activity.
    Read,
    /// Publish the user's own keys.
    Keys,
    /// Manage users and tokens (needs the admin role too).
    Admin,
    /// Read and manage the breach register (needs the dpo or admin role too).
    Incidents,
}

impl Scope {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Keys => "keys",
            Scope::Admin => "admin",
            Scope::Incidents => "incidents",
        }
    }
    /// Parses a name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "send" => Some(Scope::Send),
            "read" => Some(Scope::Read),
            "keys" => Some(Scope::Keys),
            "admin" => Some(Scope::Admin),
            "incidents" => Some(Scope::Incidents),
            _ => None,
        }
    }
    /// All scopes.
    pub const ALL: [Scope; 5] = [Scope::Send, Scope::Read, Scope::Keys, Scope::Admin, Scope::Incidents];
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Token used.
    pub token_id: String,
    /// User.
    pub user_id: String,
    /// Organisation.
    pub org_id: String,
    /// Roles of the user.
    pub roles: Vec<Role>,
    /// Scopes of the token.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Requires a scope (and, for admin work, the admin role).
    pub fn require(&self, scope: Scope) -> DomainResult<()> {
        if !self.scopes.contains(&scope) {
            return Err(DomainError::Forbidden(
                "the token does not carry the scope this operation needs",
            ));
        }
        if scope == Scope::Admin && !self.has_role(Role::Admin) {
            return Err(DomainError::Forbidden("this operation needs the admin role"));
        }
        Ok(())
    }
    /// Whether the user holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    /// The actor string recorded in events.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }
}

/// Parses a space-separated list of roles.
pub fn parse_roles(text: &str) -> Vec<Role> {
    text.split_whitespace().filter_map(Role::parse).collect()
}

/// Parses a space-separated list of scopes.
pub fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}
