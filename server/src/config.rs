//! Configuration: defaults, then a TOML file, then `SEALPOST_*` environment variables, then flags.
//!
//! CONTRACT (owned by the config helper): the field names and types below are used by the rest
//! of the server; loading, layering, validation and `config print` live here.
//!
//! # Sources, lowest precedence first
//!
//! 1. The documented defaults ([`Config::default`], [`Config::default_for`]).
//! 2. A TOML file with the sections `[server] [storage] [keys] [limits] [sweeper] [access] [sms] [mail] [log] [metrics]`
//!    and the field names as keys. Unknown sections and keys are errors.
//! 3. Environment variables `SEALPOST_<SECTION>_<FIELD>` in upper case (`SEALPOST_SERVER_LISTEN`,
//!    `SEALPOST_STORAGE_DATABASE_URL`, …), and the conventional `DATABASE_URL` below
//!    `SEALPOST_STORAGE_DATABASE_URL`. Lists are comma-separated; an empty value unsets an
//!    optional key. Unknown `SEALPOST_*` variables are errors, so that a typo is never ignored.
//! 4. Command-line flags ([`ConfigOverrides`]).
//!
//! Every secret with a `_file` variant (see [`default_toml`]) may be read from a file instead:
//! `<field>_file = "/path"` in TOML, `SEALPOST_<SECTION>_<FIELD>_FILE` in the environment; the
//! content loses one trailing newline. Giving a value and a file in the same source is an error.
//! (`keys.server_kek` is the exception: `keys.server_kek_file` is its own field, the key file.)
//!
//! Relative paths resolve against the current directory. The defaults derived from `data_dir`
//! (database, blob directory, key file) and from `listen` (`public_url`) are computed after all
//! sources are layered, so moving `data_dir` moves all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A secret string (token, key, password): redacted in `Debug`, never `Display`, zeroized on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(zeroize::Zeroizing::new(value))
    }
    /// The secret value; call sites must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[storage]`
    pub storage: StorageConfig,
    /// `[keys]`
    pub keys: KeysConfig,
    /// `[limits]`
    pub limits: LimitsConfig,
    /// `[sweeper]`
    pub sweeper: SweeperConfig,
    /// `[access]`
    pub access: AccessConfig,
    /// `[sms]`
    pub sms: crate::sms::SmsConfig,
    /// `[mail]`
    pub mail: crate::mail::MailConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[metrics]`
    pub metrics: MetricsConfig,
    /// `[transparency]`
    pub transparency: TransparencyConfig,
}

/// `[server]`: listeners, TLS, proxies, timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Default 127.0.0.1:8080.
    pub listen: SocketAddr,
    /// Base URL used to build links (never taken from the Host header). Default `http://<listen>`.
    pub public_url: String,
    /// PEM certificate chain; TLS is on when both this and `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed. Default empty.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Time allowed to read a request's headers. Default 30 s.
    pub header_read_timeout_secs: u64,
    /// Time allowed for a whole request (bodies of one upload part included). Default 300 s.
    pub request_timeout_secs: u64,
    /// Largest JSON request body. Default 1 MiB.
    pub max_json_bytes: usize,
    /// Time given to in-flight requests on shutdown. Default 30 s.
    pub shutdown_grace_secs: u64,
    /// On SIGTERM/SIGINT, seconds during which `/readyz` answers 503 while the listener still
    /// serves, before it closes. Default 5 s.
    pub shutdown_delay_secs: u64,
}

/// `[storage]`: database and blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Default `./sealpost-data`.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/sealpost.db`. Also `DATABASE_URL`.
    /// A secret because PostgreSQL URLs may carry a password.
    pub database_url: Option<Secret>,
    /// Database connections per replica. Default 16.
    pub database_max_connections: u32,
    /// `file:///abs/dir` or `s3://bucket`; default a local directory `<data_dir>/blobs`.
    pub blob_url: Option<String>,
    /// The revocation fence, kept outside the backup set: `file:///abs/dir` or
    /// `s3://bucket[/prefix]`; default the directory `<data_dir>/fence`.
    pub fence_url: Option<String>,
    /// S3 endpoint for S3-compatible stores (MinIO, moto, Ceph…).
    pub s3_endpoint: Option<String>,
    /// S3 region. Default `us-east-1`.
    pub s3_region: String,
    /// S3 access key id.
    pub s3_access_key_id: Option<Secret>,
    /// S3 secret access key.
    pub s3_secret_access_key: Option<Secret>,
    /// Allow plain-HTTP S3 endpoints (test servers). Default false.
    pub s3_allow_http: bool,
    /// Size of every upload part but the last. Default 8 MiB; at least 5 MiB (S3's minimum).
    pub part_size: u64,
    /// Seconds to keep retrying the database at start before giving up. Default 30.
    pub connect_timeout_secs: u64,
}

/// `[keys]`: the server key-encryption key that wraps server shares at rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysConfig {
    /// File holding 32 random bytes, base64; default `<data_dir>/server-kek`, created 0600 on first start.
    pub server_kek_file: Option<PathBuf>,
    /// The key itself (base64 of 32 bytes), e.g. from `SEALPOST_KEYS_SERVER_KEK`; wins over the file.
    pub server_kek: Option<Secret>,
    /// Allow creating an explicitly configured `server_kek_file` that is absent, on a database
    /// that holds no key yet. Default false (a missing explicit file stops the start).
    pub create_kek: bool,
    /// Files of earlier (or not yet current) keys, used only to unwrap during a rotation.
    pub previous_kek_files: Vec<PathBuf>,
}

/// `[limits]`: sizes, quotas, rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Largest header blob. Default 1 MiB.
    pub max_header_bytes: u64,
    /// Largest payload (one attachment's ciphertext). Default 64 GiB.
    pub max_payload_bytes: u64,
    /// Most payloads per message (manifest included). Default 1000.
    pub max_payloads: u32,
    /// Most recipients per message. Default 500.
    pub max_recipients: u32,
    /// Default per-organisation quota of stored bytes. Default 1 TiB.
    pub org_quota_bytes: u64,
    /// Default per-organisation quota of live messages. Default 1 000 000.
    pub org_quota_messages: u64,
    /// Default per-sender quota of stored bytes. Default 100 GiB.
    pub sender_quota_bytes: u64,
    /// Default per-sender quota of live messages. Default 100 000.
    pub sender_quota_messages: u64,
    /// API requests per token per minute. Default 6000 (each upload part is a request).
    pub token_requests_per_minute: u32,
    /// Unauthenticated requests per client IP per minute. Default 300.
    pub ip_requests_per_minute: u32,
    /// Longest expiry a sender may set, in days. Default 90.
    pub max_expiry_days: u32,
}

/// `[transparency]`: the verifiable access log, its name and its witnesses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransparencyConfig {
    /// The log's name: the origin line of every checkpoint and the name of its key. Default: the
    /// host of `server.public_url` followed by `/sealpost-log`. Never change it once receipts exist.
    pub origin: Option<String>,
    /// Witnesses the log pushes its checkpoints to, each `"<URL> <witness vkey>"`.
    pub witnesses: Vec<String>,
}

/// `[sweeper]`: background work every replica runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweeperConfig {
    /// Seconds between sweeps. Default 30.
    pub interval_secs: u64,
    /// Unsealed messages older than this are abandoned and deleted. Default 48 h.
    pub abandon_after_hours: u64,
}

/// `[access]`: recipient verification — codes, attempts, sessions and SMS caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// Digits of an SMS code (6 to 10). Default 6.
    pub code_digits: u32,
    /// Minutes an SMS code stays valid. Default 10.
    pub code_minutes: u64,
    /// Wrong entries one code tolerates before it is void. Default 5.
    pub max_failures_per_code: u32,
    /// Wrong entries (codes, passwords, TOTP) before the recipient is locked. Default 10.
    pub max_failures_per_recipient: u32,
    /// Seconds before another code may be sent to the same recipient. Default 30.
    pub resend_after_secs: u64,
    /// Minutes a verified session lasts. Default 15.
    pub session_minutes: u64,
    /// SMS per recipient per hour. Default 5.
    pub sms_per_recipient_per_hour: u32,
    /// SMS per message (all its recipients) per hour. Default 20.
    pub sms_per_message_per_hour: u32,
    /// SMS per destination number per hour, across messages. Default 5.
    pub sms_per_number_per_hour: u32,
    /// SMS per organisation per day. Default 1000.
    pub sms_per_org_per_day: u32,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `text` or `json`. Default text.
    pub format: LogFormat,
    /// An `EnvFilter` directive. Default `info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Prometheus listener, separate from the API. Default 127.0.0.1:9464; `None` disables it.
    pub listen: Option<SocketAddr>,
    /// Bearer token a scraper must send (`Authorization: Bearer …`); `None`: no token.
    pub token: Option<Secret>,
}

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// S3's smallest part size (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest part size.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// Upper bound of every `*_secs` setting (one year), so that deadlines never overflow.
pub const MAX_DURATION_SECS: u64 = 365 * 24 * 3600;

/// Environment variable that the command line may use to name the configuration file; it is
/// not a configuration key, so [`load`] tolerates it.
pub const CONFIG_FILE_ENV: &str = "SEALPOST_CONFIG";

const ENV_PREFIX: &str = "SEALPOST_";
/// `SEALPOST_*` variables of the other Sealpost tools (client, test vectors, benchmarks) that
/// may be set in the same shell; the server ignores them rather than refusing to start.
const FOREIGN_ENV: &[&str] = &[
    "SEALPOST_PASSWORD",
    "SEALPOST_KEY_FILE",
    "SEALPOST_SERVER",
    "SEALPOST_TOKEN",
    "SEALPOST_LOG_KEY",
    "SEALPOST_STATE_DIR",
    "SEALPOST_CLIENT_CONFIG",
    "SEALPOST_REGENERATE_VECTORS",
    "SEALPOST_FAILPOINTS",
];
const FOREIGN_ENV_PREFIXES: &[&str] = &["SEALPOST_BENCH_"];
/// The conventional database variable, below `SEALPOST_STORAGE_DATABASE_URL`.
const DATABASE_URL_ENV: &str = "DATABASE_URL";

const SECTIONS: &[&str] = &[
    "server",
    "storage",
    "keys",
    "limits",
    "sweeper",
    "access",
    "sms",
    "mail",
    "log",
    "metrics",
    "transparency",
];
const REDACTED: &str = "<redacted>";

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

impl Default for ServerConfig {
    fn default() -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], 8080));
        Self {
            listen,
            public_url: format!("http://{listen}"),
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            header_read_timeout_secs: 30,
            request_timeout_secs: 300,
            max_json_bytes: MIB as usize,
            shutdown_grace_secs: 30,
            shutdown_delay_secs: 5,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./sealpost-data"),
            database_url: None,
            database_max_connections: 16,
            blob_url: None,
            fence_url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            part_size: 8 * MIB,
            connect_timeout_secs: 30,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: MIB,
            max_payload_bytes: 64 * GIB,
            max_payloads: 1000,
            max_recipients: 500,
            org_quota_bytes: TIB,
            org_quota_messages: 1_000_000,
            sender_quota_bytes: 100 * GIB,
            sender_quota_messages: 100_000,
            token_requests_per_minute: 6000,
            ip_requests_per_minute: 300,
            max_expiry_days: 90,
        }
    }
}

impl Default for SweeperConfig {
    fn default() -> Self {
        Self {
            interval_secs: 30,
            abandon_after_hours: 48,
        }
    }
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            code_digits: 6,
            code_minutes: 10,
            max_failures_per_code: 5,
            max_failures_per_recipient: 10,
            resend_after_secs: 30,
            session_minutes: 15,
            sms_per_recipient_per_hour: 5,
            sms_per_message_per_hour: 20,
            sms_per_number_per_hour: 5,
            sms_per_org_per_day: 1000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            token: None,
        }
    }
}

impl LogFormat {
    /// The configuration spelling: `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogFormat {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(ConfigError::Invalid(format!(
                "log format must be \"text\" or \"json\", got {s:?}"
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and overrides
// ---------------------------------------------------------------------------------------------

/// Why the configuration could not be loaded. Messages name files, keys and variables but
/// never contain a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file (the configuration file or a secret's `_file`) could not be read.
    #[error("cannot read {what} {}: {error}", path.display())]
    Read {
        /// What the file was for.
        what: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("{}: invalid TOML at line {line}, column {column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What is wrong (without the offending text, which might be a secret).
        message: String,
    },
    /// A key, variable or flag is unknown or has an unusable value; the text is a sentence.
    #[error("{0}")]
    Invalid(String),
    /// The layered configuration is inconsistent; one sentence per problem.
    #[error("invalid configuration: {}", .0.join("; "))]
    Validation(Vec<String>),
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// `server.listen`.
    pub listen: Option<SocketAddr>,
    /// `server.public_url`.
    pub public_url: Option<String>,
    /// `server.tls_cert`.
    pub tls_cert: Option<PathBuf>,
    /// `server.tls_key`.
    pub tls_key: Option<PathBuf>,
    /// `storage.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// `storage.database_url`.
    pub database_url: Option<Secret>,
    /// `storage.blob_url`.
    pub blob_url: Option<String>,
    /// `log.format`.
    pub log_format: Option<LogFormat>,
    /// `log.level`.
    pub log_level: Option<String>,
    /// `metrics.listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Turns the metrics listener off (wins over `metrics_listen`).
    pub no_metrics: bool,
}

// ---------------------------------------------------------------------------------------------
// The key table: one entry per configuration key, used by the TOML and environment layers,
// by `config print` and by `--effective`.
// ---------------------------------------------------------------------------------------------

/// A value as it arrives from a source.
#[derive(Clone, Copy)]
enum Raw<'a> {
    /// From the TOML file.
    Toml(&'a toml::Value),
    /// From the environment or a secret file: always text.
    Text(&'a str),
}

/// A value as it is printed.
enum Shown {
    Str(String),
    Int(u64),
    Bool(bool),
    List(Vec<String>),
    Redacted,
}

type Getter = fn(&Config) -> Option<Shown>;
type Setter = fn(&mut Config, Raw<'_>) -> Result<(), String>;

struct Key {
    section: &'static str,
    name: &'static str,
    /// The one-line comment printed above the key.
    doc: &'static str,
    /// Printed (commented out) when the key has no default value of its own.
    example: Option<&'static str>,
    /// A secret: never printed, never echoed in errors.
    secret: bool,
    /// The secret may come from `<name>_file`.
    file_variant: bool,
    /// The key's default is derived from other keys after layering.
    derived: Option<Getter>,
    /// The configured value (secrets as [`Shown::Redacted`]).
    get: Getter,
    set: Setter,
}

impl Key {
    fn full_name(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }
    fn env_name(&self) -> String {
        format!("{ENV_PREFIX}{}_{}", self.section, self.name).to_ascii_uppercase()
    }
}

const fn key(section: &'static str, name: &'static str, doc: &'static str, get: Getter, set: Setter) -> Key {
    Key {
        section,
        name,
        doc,
        example: None,
        secret: false,
        file_variant: false,
        derived: None,
        get,
        set,
    }
}

impl Key {
    const fn example(mut self, example: &'static str) -> Self {
        self.example = Some(example);
        self
    }
    const fn secret(mut self, file_variant: bool) -> Self {
        self.secret = true;
        self.file_variant = file_variant;
        self
    }
    const fn derived(mut self, derived: Getter) -> Self {
        self.derived = Some(derived);
        self
    }
}

/// A numeric key: its getter and setter from the field path.
macro_rules! num {
    ($section:literal, $name:literal, $doc:literal, $want:ident, $($field:ident).+) => {
        key($section, $name, $doc, |c| shown_int(c.$($field).+), |c, r| {
            c.$($field).+ = $want(r)?;
            Ok(())
        })
    };
}

fn shown_int(v: impl Into<u64>) -> Option<Shown> {
    Some(Shown::Int(v.into()))
}
fn shown_str(s: &str) -> Option<Shown> {
    Some(Shown::Str(s.to_owned()))
}
fn shown_path(p: &Path) -> Option<Shown> {
    Some(Shown::Str(p.display().to_string()))
}
fn shown_secret(s: &Option<Secret>) -> Option<Shown> {
    s.as_ref().map(|_| Shown::Redacted)
}

static KEYS: &[Key] = &[
    // [server]
    key(
        "server",
        "listen",
        "Address and port of the API listener.",
        |c| shown_str(&c.server.listen.to_string()),
        |c, r| {
            c.server.listen = parse_addr(&want_str(r)?)?;
            Ok(())
        },
    ),
    key(
        "server",
        "public_url",
        "Base URL of the links the server builds (never the Host header). Default: http(s)://<listen>.",
        |c| shown_str(&c.server.public_url),
        |c, r| {
            c.server.public_url = want_str(r)?;
            Ok(())
        },
    )
    .example("\"https://sealpost.example.com\"")
    .derived(|c| shown_str(&c.server.public_url)),
    key(
        "server",
        "tls_cert",
        "PEM certificate chain; TLS is on when tls_cert and tls_key are both set.",
        |c| c.server.tls_cert.as_deref().and_then(shown_path),
        |c, r| {
            c.server.tls_cert = want_opt_str(r)?.map(PathBuf::from);
            Ok(())
        },
    )
    .example("\"/etc/sealpost/tls/fullchain.pem\""),
    key(
        "server",
        "tls_key",
        "PEM private key of the certificate.",
        |c| c.server.tls_key.as_deref().and_then(shown_path),
        |c, r| {
            c.server.tls_key = want_opt_str(r)?.map(PathBuf::from);
            Ok(())
        },
    )
    .example("\"/etc/sealpost/tls/privkey.pem\""),
    key(
        "server",
        "trusted_proxies",
        "Reverse proxies (IPs or CIDR ranges) whose X-Forwarded-For headers are believed.",
        |c| {
            Some(Shown::List(
                c.server.trusted_proxies.iter().map(ToString::to_string).collect(),
            ))
        },
        |c, r| {
            c.server.trusted_proxies = parse_nets(&want_list(r)?)?;
            Ok(())
        },
    ),
    num!(
        "server",
        "header_read_timeout_secs",
        "Seconds a client has to send a request's headers (and to finish a TLS handshake).",
        want_u64,
        server.header_read_timeout_secs
    ),
    num!(
        "server",
        "request_timeout_secs",
        "Seconds allowed for a whole request, the body of one upload part included.",
        want_u64,
        server.request_timeout_secs
    ),
    key(
        "server",
        "max_json_bytes",
        "Largest JSON request body, in bytes (1 MiB).",
        |c| Some(Shown::Int(c.server.max_json_bytes as u64)),
        |c, r| {
            c.server.max_json_bytes = usize::try_from(want_u64(r)?).map_err(|_| "is too large".to_owned())?;
            Ok(())
        },
    ),
    num!(
        "server",
        "shutdown_grace_secs",
        "Seconds given to in-flight requests on shutdown.",
        want_u64,
        server.shutdown_grace_secs
    ),
    num!(
        "server",
        "shutdown_delay_secs",
        "On SIGTERM, seconds /readyz answers 503 while still serving, before the listener closes.",
        want_u64,
        server.shutdown_delay_secs
    ),
    // [storage]
    key(
        "storage",
        "data_dir",
        "Directory of the embedded database, the local blob store and the key file.",
        |c| shown_path(&c.storage.data_dir),
        |c, r| {
            let dir = want_str(r)?;
            if dir.is_empty() {
                return Err("must not be empty".to_owned());
            }
            c.storage.data_dir = PathBuf::from(dir);
            Ok(())
        },
    ),
    key(
        "storage",
        "database_url",
        "sqlite:… or postgres://… (may hold a password). Default: sqlite://<data_dir>/sealpost.db.",
        |c| shown_secret(&c.storage.database_url),
        |c, r| {
            c.storage.database_url = want_opt_secret(r)?;
            Ok(())
        },
    )
    .example("\"postgres://sealpost:password@db.example.com/sealpost\"")
    .secret(true)
    .derived(|c| Some(Shown::Str(c.derived_database_url()))),
    num!(
        "storage",
        "database_max_connections",
        "Database connections per replica.",
        want_u32,
        storage.database_max_connections
    ),
    key(
        "storage",
        "blob_url",
        "file:///absolute/dir or s3://bucket[/prefix]. Default: the directory <data_dir>/blobs.",
        |c| c.storage.blob_url.as_deref().and_then(shown_str),
        |c, r| {
            c.storage.blob_url = want_opt_str(r)?;
            Ok(())
        },
    )
    .example("\"s3://sealpost-blobs\"")
    .derived(|c| {
        Some(Shown::Str(format!(
            "file://{}",
            absolute(&c.storage.data_dir).join("blobs").display()
        )))
    }),
    key(
        "storage",
        "fence_url",
        "The revocation fence, never restored from a backup: file:///absolute/dir or s3://bucket[/prefix], shared by all replicas. Default: the directory <data_dir>/fence.",
        |c| c.storage.fence_url.as_deref().and_then(shown_str),
        |c, r| {
            c.storage.fence_url = want_opt_str(r)?;
            Ok(())
        },
    )
    .example("\"s3://sealpost-fence\"")
    .derived(|c| {
        Some(Shown::Str(format!(
            "file://{}",
            absolute(&c.storage.data_dir).join("fence").display()
        )))
    }),
    key(
        "storage",
        "s3_endpoint",
        "Endpoint of an S3-compatible store (MinIO, Ceph…); unset for AWS.",
        |c| c.storage.s3_endpoint.as_deref().and_then(shown_str),
        |c, r| {
            c.storage.s3_endpoint = want_opt_str(r)?;
            Ok(())
        },
    )
    .example("\"https://minio.example.com:9000\""),
    key(
        "storage",
        "s3_region",
        "S3 region.",
        |c| shown_str(&c.storage.s3_region),
        |c, r| {
            c.storage.s3_region = want_str(r)?;
            Ok(())
        },
    ),
    key(
        "storage",
        "s3_access_key_id",
        "S3 access key id; unset to use the environment's AWS credentials.",
        |c| shown_secret(&c.storage.s3_access_key_id),
        |c, r| {
            c.storage.s3_access_key_id = want_opt_secret(r)?;
            Ok(())
        },
    )
    .example("\"<access key id>\"")
    .secret(true),
    key(
        "storage",
        "s3_secret_access_key",
        "S3 secret access key.",
        |c| shown_secret(&c.storage.s3_secret_access_key),
        |c, r| {
            c.storage.s3_secret_access_key = want_opt_secret(r)?;
            Ok(())
        },
    )
    .example("\"<secret access key>\"")
    .secret(true),
    key(
        "storage",
        "s3_allow_http",
        "Allow a plain-HTTP s3_endpoint (test servers only).",
        |c| Some(Shown::Bool(c.storage.s3_allow_http)),
        |c, r| {
            c.storage.s3_allow_http = want_bool(r)?;
            Ok(())
        },
    ),
    num!(
        "storage",
        "part_size",
        "Size in bytes of every upload part but the last (8 MiB); between 5 MiB and 5 GiB.",
        want_u64,
        storage.part_size
    ),
    num!(
        "storage",
        "connect_timeout_secs",
        "Seconds to keep retrying an unreachable database at start before giving up.",
        want_u64,
        storage.connect_timeout_secs
    ),
    // [keys]
    key(
        "keys",
        "server_kek_file",
        "File of the key-encryption key (base64), created 0600 if absent. Default: <data_dir>/server-kek.",
        |c| c.keys.server_kek_file.as_deref().and_then(shown_path),
        |c, r| {
            c.keys.server_kek_file = want_opt_str(r)?.map(PathBuf::from);
            Ok(())
        },
    )
    .example("\"/var/lib/sealpost/server-kek\"")
    .derived(|c| shown_path(&c.server_kek_file())),
    key(
        "keys",
        "server_kek",
        "The key-encryption key itself (base64 of 32 bytes); wins over server_kek_file.",
        |c| shown_secret(&c.keys.server_kek),
        |c, r| {
            c.keys.server_kek = want_opt_secret(r)?;
            Ok(())
        },
    )
    .example("\"<base64 of 32 random bytes>\"")
    .secret(false),
    key(
        "keys",
        "create_kek",
        "Create an explicitly set server_kek_file that is absent, when the database holds no key yet (first start).",
        |c| Some(Shown::Bool(c.keys.create_kek)),
        |c, r| {
            c.keys.create_kek = want_bool(r)?;
            Ok(())
        },
    ),
    key(
        "keys",
        "previous_kek_files",
        "Files of other key-encryption keys that only unwrap (key rotation); each must exist.",
        |c| {
            Some(Shown::List(
                c.keys
                    .previous_kek_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            ))
        },
        |c, r| {
            c.keys.previous_kek_files = want_list(r)?.into_iter().map(PathBuf::from).collect();
            Ok(())
        },
    ),
    // [limits]
    num!(
        "limits",
        "max_header_bytes",
        "Largest header blob, in bytes (1 MiB).",
        want_u64,
        limits.max_header_bytes
    ),
    num!(
        "limits",
        "max_payload_bytes",
        "Largest payload (one attachment's ciphertext), in bytes (64 GiB).",
        want_u64,
        limits.max_payload_bytes
    ),
    num!(
        "limits",
        "max_payloads",
        "Most payloads per message, the manifest included.",
        want_u32,
        limits.max_payloads
    ),
    num!(
        "limits",
        "max_recipients",
        "Most recipients per message.",
        want_u32,
        limits.max_recipients
    ),
    num!(
        "limits",
        "org_quota_bytes",
        "Default quota of stored bytes per organisation (1 TiB).",
        want_u64,
        limits.org_quota_bytes
    ),
    num!(
        "limits",
        "org_quota_messages",
        "Default quota of live messages per organisation.",
        want_u64,
        limits.org_quota_messages
    ),
    num!(
        "limits",
        "sender_quota_bytes",
        "Default quota of stored bytes per sender (100 GiB).",
        want_u64,
        limits.sender_quota_bytes
    ),
    num!(
        "limits",
        "sender_quota_messages",
        "Default quota of live messages per sender.",
        want_u64,
        limits.sender_quota_messages
    ),
    num!(
        "limits",
        "token_requests_per_minute",
        "API requests per token per minute (6000). Each upload part is a request: 6000 parts of 8 MiB a minute is about 800 MB/s per token.",
        want_u32,
        limits.token_requests_per_minute
    ),
    num!(
        "limits",
        "ip_requests_per_minute",
        "Unauthenticated requests per client IP per minute.",
        want_u32,
        limits.ip_requests_per_minute
    ),
    num!(
        "limits",
        "max_expiry_days",
        "Longest expiry a sender may set, in days.",
        want_u32,
        limits.max_expiry_days
    ),
    // [sweeper]
    num!(
        "sweeper",
        "interval_secs",
        "Seconds between sweeps.",
        want_u64,
        sweeper.interval_secs
    ),
    num!(
        "sweeper",
        "abandon_after_hours",
        "Hours after which an unsealed message is abandoned and deleted.",
        want_u64,
        sweeper.abandon_after_hours
    ),
    // [access]
    num!(
        "access",
        "code_digits",
        "Digits of an SMS code (6 to 10).",
        want_u32,
        access.code_digits
    ),
    num!(
        "access",
        "code_minutes",
        "Minutes an SMS code stays valid.",
        want_u64,
        access.code_minutes
    ),
    num!(
        "access",
        "max_failures_per_code",
        "Wrong entries one SMS code tolerates before it is void.",
        want_u32,
        access.max_failures_per_code
    ),
    num!(
        "access",
        "max_failures_per_recipient",
        "Wrong entries (codes, passwords, TOTP) before a recipient is locked; the sender sees the lock.",
        want_u32,
        access.max_failures_per_recipient
    ),
    num!(
        "access",
        "resend_after_secs",
        "Seconds before another code may be sent to the same recipient.",
        want_u64,
        access.resend_after_secs
    ),
    num!(
        "access",
        "session_minutes",
        "Minutes a verified recipient session lasts.",
        want_u64,
        access.session_minutes
    ),
    num!(
        "access",
        "sms_per_recipient_per_hour",
        "SMS per recipient per hour (against SMS pumping).",
        want_u32,
        access.sms_per_recipient_per_hour
    ),
    num!(
        "access",
        "sms_per_message_per_hour",
        "SMS per message per hour, all its recipients together.",
        want_u32,
        access.sms_per_message_per_hour
    ),
    num!(
        "access",
        "sms_per_number_per_hour",
        "SMS per destination number per hour, across messages.",
        want_u32,
        access.sms_per_number_per_hour
    ),
    num!(
        "access",
        "sms_per_org_per_day",
        "SMS per sending organisation per day.",
        want_u32,
        access.sms_per_org_per_day
    ),
    // [sms]
    key(
        "sms",
        "provider",
        "outbox (development: codes go to a file and the log) or twilio (the Twilio Messages API).",
        |c| {
            shown_str(match c.sms.provider {
                crate::sms::SmsProvider::Outbox => "outbox",
                crate::sms::SmsProvider::Twilio => "twilio",
            })
        },
        |c, r| {
            c.sms.provider = match want_str(r)?.trim().to_ascii_lowercase().as_str() {
                "outbox" => crate::sms::SmsProvider::Outbox,
                "twilio" => crate::sms::SmsProvider::Twilio,
                other => return Err(format!("must be \"outbox\" or \"twilio\", got {other:?}")),
            };
            Ok(())
        },
    ),
    key(
        "sms",
        "outbox_file",
        "The development outbox (JSON lines). Default: <data_dir>/sms-outbox.jsonl.",
        |c| c.sms.outbox_file.as_deref().and_then(shown_path),
        |c, r| {
            c.sms.outbox_file = want_opt_str(r)?.map(PathBuf::from);
            Ok(())
        },
    )
    .example("\"/var/lib/sealpost/sms-outbox.jsonl\"")
    .derived(|c| shown_path(&c.sms.outbox_path(&c.storage.data_dir))),
    key(
        "sms",
        "base_url",
        "Base URL of the Twilio-compatible Messages API.",
        |c| shown_str(&c.sms.base_url),
        |c, r| {
            c.sms.base_url = want_str(r)?;
            Ok(())
        },
    ),
    key(
        "sms",
        "account_sid",
        "Twilio account SID (AC…).",
        |c| c.sms.account_sid.as_deref().and_then(shown_str),
        |c, r| {
            c.sms.account_sid = want_opt_str(r)?;
            Ok(())
        },
    )
    .example("\"AC0123456789abcdef0123456789abcdef\""),
    key(
        "sms",
        "auth_token",
        "Twilio auth token.",
        |c| shown_secret(&c.sms.auth_token),
        |c, r| {
            c.sms.auth_token = want_opt_secret(r)?;
            Ok(())
        },
    )
    .example("\"<auth token>\"")
    .secret(true),
    key(
        "sms",
        "sender_id",
        "The sender: a number, an alphanumeric sender id or a messaging service SID.",
        |c| c.sms.sender_id.as_deref().and_then(shown_str),
        |c, r| {
            c.sms.sender_id = want_opt_str(r)?;
            Ok(())
        },
    )
    .example("\"Sealpost\""),
    num!(
        "sms",
        "max_attempts",
        "Attempts per text message, the first included.",
        want_u32,
        sms.max_attempts
    ),
    num!(
        "sms",
        "retry_base_ms",
        "Milliseconds before the first retry (doubled each time).",
        want_u64,
        sms.retry_base_ms
    ),
    num!(
        "sms",
        "timeout_secs",
        "Seconds allowed for one request to the provider.",
        want_u64,
        sms.timeout_secs
    ),
    // [mail]
    key(
        "mail",
        "enabled",
        "Send notification mail (links of registered recipients) through the relay below.",
        |c| Some(Shown::Bool(c.mail.enabled)),
        |c, r| {
            c.mail.enabled = want_bool(r)?;
            Ok(())
        },
    ),
    key(
        "mail",
        "host",
        "SMTP relay host.",
        |c| shown_str(&c.mail.host),
        |c, r| {
            c.mail.host = want_str(r)?;
            Ok(())
        },
    ),
    key(
        "mail",
        "port",
        "SMTP relay port (587 STARTTLS, 465 TLS).",
        |c| shown_int(c.mail.port),
        |c, r| {
            c.mail.port = u16::try_from(want_u32(r)?).map_err(|_| "must be a port number (1-65535)".to_owned())?;
            Ok(())
        },
    ),
    key(
        "mail",
        "tls",
        "starttls (default), tls (from the first byte) or none (a relay on the same host only).",
        |c| {
            shown_str(match c.mail.tls {
                crate::mail::MailTls::None => "none",
                crate::mail::MailTls::Starttls => "starttls",
                crate::mail::MailTls::Tls => "tls",
            })
        },
        |c, r| {
            c.mail.tls = match want_str(r)?.trim().to_ascii_lowercase().as_str() {
                "none" => crate::mail::MailTls::None,
                "starttls" => crate::mail::MailTls::Starttls,
                "tls" => crate::mail::MailTls::Tls,
                other => return Err(format!("must be \"starttls\", \"tls\" or \"none\", got {other:?}")),
            };
            Ok(())
        },
    ),
    key(
        "mail",
        "username",
        "SMTP user name.",
        |c| c.mail.username.as_deref().and_then(shown_str),
        |c, r| {
            c.mail.username = want_opt_str(r)?;
            Ok(())
        },
    )
    .example("\"sealpost\""),
    key(
        "mail",
        "password",
        "SMTP password.",
        |c| shown_secret(&c.mail.password),
        |c, r| {
            c.mail.password = want_opt_secret(r)?;
            Ok(())
        },
    )
    .example("\"<password>\"")
    .secret(true),
    key(
        "mail",
        "from",
        "The From address of notification mail.",
        |c| shown_str(&c.mail.from),
        |c, r| {
            c.mail.from = want_str(r)?;
            Ok(())
        },
    ),
    num!(
        "mail",
        "timeout_secs",
        "Seconds allowed for one SMTP conversation.",
        want_u64,
        mail.timeout_secs
    ),
    key(
        "mail",
        "ca_file",
        "Extra root certificate (PEM) for a relay with a private CA.",
        |c| c.mail.ca_file.as_deref().and_then(shown_path),
        |c, r| {
            c.mail.ca_file = want_opt_str(r)?.map(PathBuf::from);
            Ok(())
        },
    )
    .example("\"/etc/sealpost/relay-ca.pem\""),
    // [log]
    key(
        "log",
        "format",
        "\"text\" or \"json\" (one object per line).",
        |c| shown_str(c.log.format.as_str()),
        |c, r| {
            let text = want_str(r)?;
            c.log.format = match text.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(format!("must be \"text\" or \"json\", got {text:?}")),
            };
            Ok(())
        },
    ),
    key(
        "log",
        "level",
        "Filter directive such as \"info,sealpost_server=debug\"; RUST_LOG wins when set.",
        |c| shown_str(&c.log.level),
        |c, r| {
            c.log.level = want_str(r)?;
            Ok(())
        },
    ),
    // [transparency]
    key(
        "transparency",
        "origin",
        "Name of the access log (checkpoint origin and key name); default <public_url host>/sealpost-log.",
        |c| c.transparency.origin.as_deref().and_then(shown_str),
        |c, r| {
            c.transparency.origin = want_opt_str(r)?;
            Ok(())
        },
    )
    .example("\"sealpost.example.org/log\""),
    key(
        "transparency",
        "witnesses",
        "Witnesses that cosign the log's checkpoints, each \"<URL> <witness vkey>\".",
        |c| Some(Shown::List(c.transparency.witnesses.clone())),
        |c, r| {
            c.transparency.witnesses = want_list(r)?;
            Ok(())
        },
    ),
    // [metrics]
    key(
        "metrics",
        "listen",
        "Prometheus listener (GET /metrics), separate from the API; \"off\" disables it.",
        |c| {
            Some(Shown::Str(
                c.metrics.listen.map_or_else(|| "off".to_owned(), |a| a.to_string()),
            ))
        },
        |c, r| {
            let text = want_str(r)?;
            let text = text.trim();
            c.metrics.listen = if text.is_empty() || text.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(parse_addr(text)?)
            };
            Ok(())
        },
    ),
    key(
        "metrics",
        "token",
        "Bearer token the scraper must send to /metrics; unset: none (keep the listener private).",
        |c| shown_secret(&c.metrics.token),
        |c, r| {
            c.metrics.token = want_opt_secret(r)?;
            Ok(())
        },
    )
    .example("\"<random token>\"")
    .secret(true),
];

// ---------------------------------------------------------------------------------------------
// Value conversion (messages are completed with the key or variable by the caller)
// ---------------------------------------------------------------------------------------------

fn toml_type(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

fn want_str(r: Raw<'_>) -> Result<String, String> {
    match r {
        Raw::Text(s) => Ok(s.to_owned()),
        Raw::Toml(toml::Value::String(s)) => Ok(s.clone()),
        Raw::Toml(v) => Err(format!("expected a string, got {}", toml_type(v))),
    }
}

/// An optional string: the empty string unsets it.
fn want_opt_str(r: Raw<'_>) -> Result<Option<String>, String> {
    let s = want_str(r)?;
    Ok(if s.is_empty() { None } else { Some(s) })
}

fn want_opt_secret(r: Raw<'_>) -> Result<Option<Secret>, String> {
    match r {
        Raw::Text(s) => Ok(if s.is_empty() {
            None
        } else {
            Some(Secret::new(s.to_owned()))
        }),
        Raw::Toml(toml::Value::String(s)) => Ok(if s.is_empty() {
            None
        } else {
            Some(Secret::new(s.clone()))
        }),
        Raw::Toml(v) => Err(format!("expected a string, got {}", toml_type(v))),
    }
}

fn want_u64(r: Raw<'_>) -> Result<u64, String> {
    match r {
        Raw::Text(s) => {
            let t = s.trim();
            t.parse::<u64>()
                .map_err(|_| format!("expected a non-negative integer, got {t:?}"))
        }
        Raw::Toml(toml::Value::Integer(i)) => {
            u64::try_from(*i).map_err(|_| format!("expected a non-negative integer, got {i}"))
        }
        Raw::Toml(v) => Err(format!("expected a non-negative integer, got {}", toml_type(v))),
    }
}

fn want_u32(r: Raw<'_>) -> Result<u32, String> {
    let v = want_u64(r)?;
    u32::try_from(v).map_err(|_| format!("must be at most {}, got {v}", u32::MAX))
}

fn want_bool(r: Raw<'_>) -> Result<bool, String> {
    match r {
        Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("expected true or false, got {:?}", s.trim())),
        },
        Raw::Toml(toml::Value::Boolean(b)) => Ok(*b),
        Raw::Toml(v) => Err(format!("expected true or false, got {}", toml_type(v))),
    }
}

/// A list: a TOML array of strings, or comma-separated text.
fn want_list(r: Raw<'_>) -> Result<Vec<String>, String> {
    match r {
        Raw::Text(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Raw::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "expected an array of strings, found {} in it",
                    toml_type(other)
                )),
            })
            .collect(),
        Raw::Toml(v) => Err(format!("expected an array of strings, got {}", toml_type(v))),
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.trim()
        .parse::<SocketAddr>()
        .map_err(|_| format!("expected an IP address and port such as \"127.0.0.1:8080\" or \"[::1]:8080\", got {s:?}"))
}

/// CIDR ranges; a bare address is a single-host range.
fn parse_nets(items: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    items
        .iter()
        .map(|item| {
            let t = item.trim();
            t.parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("expected IP addresses or CIDR ranges such as \"10.0.0.0/8\", got {t:?}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Layering
// ---------------------------------------------------------------------------------------------

/// Where a value came from, for messages.
enum Origin<'a> {
    File(&'a Path),
    Env(&'a str),
}

impl Origin<'_> {
    fn describe(&self, key: &Key) -> String {
        match self {
            Origin::File(path) => format!("{}: {}", path.display(), key.full_name()),
            Origin::Env(var) => (*var).to_owned(),
        }
    }
}

/// Defaults plus the record of which keys were set explicitly.
struct Layers {
    cfg: Config,
    explicit: BTreeSet<(&'static str, &'static str)>,
}

impl Layers {
    fn new() -> Self {
        Self {
            cfg: Config::default(),
            explicit: BTreeSet::new(),
        }
    }

    fn apply(&mut self, key: &'static Key, raw: Raw<'_>, origin: &Origin<'_>) -> Result<(), ConfigError> {
        (key.set)(&mut self.cfg, raw)
            .map_err(|why| ConfigError::Invalid(format!("{}: {why}", origin.describe(key))))?;
        self.explicit.insert((key.section, key.name));
        Ok(())
    }

    fn apply_secret_file(&mut self, key: &'static Key, file: &Path, origin: &Origin<'_>) -> Result<(), ConfigError> {
        let content = read_secret_file(file, key)?;
        self.apply(key, Raw::Text(content.expose()), origin)
    }

    fn apply_toml(&mut self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = e.span().map_or((0, 0), |span| line_column(text, span.start));
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let origin = Origin::File(path);
        for (section, body) in &table {
            if !SECTIONS.contains(&section.as_str()) {
                let hint = suggest(section, SECTIONS.iter().copied()).map(|s| format!(" (did you mean [{s}]?)"));
                let what = if body.is_table() { "section" } else { "top-level key" };
                return Err(ConfigError::Invalid(format!(
                    "{}: unknown {what} `{section}`{}; the sections are {}",
                    path.display(),
                    hint.unwrap_or_default(),
                    SECTIONS.iter().map(|s| format!("[{s}]")).collect::<Vec<_>>().join(" ")
                )));
            }
            let toml::Value::Table(body) = body else {
                return Err(ConfigError::Invalid(format!(
                    "{}: `{section}` must be a [{section}] section",
                    path.display()
                )));
            };
            let mut files: BTreeMap<&str, (&'static Key, &toml::Value)> = BTreeMap::new();
            let mut values: BTreeMap<&str, (&'static Key, &toml::Value)> = BTreeMap::new();
            for (name, value) in body {
                if let Some(key) = find_key(section, name) {
                    values.insert(key.name, (key, value));
                } else if let Some(key) = name
                    .strip_suffix("_file")
                    .and_then(|base| find_key(section, base))
                    .filter(|k| k.file_variant)
                {
                    files.insert(key.name, (key, value));
                } else {
                    let candidates = keys_of(section).flat_map(|k| {
                        let file = k.file_variant.then(|| format!("{}_file", k.name));
                        std::iter::once(k.name.to_owned()).chain(file)
                    });
                    let hint = suggest(name, candidates).map(|s| format!(" (did you mean `{s}`?)"));
                    return Err(ConfigError::Invalid(format!(
                        "{}: unknown key `{section}.{name}`{}",
                        path.display(),
                        hint.unwrap_or_default()
                    )));
                }
            }
            for (name, (key, value)) in &values {
                if files.contains_key(name) {
                    return Err(ConfigError::Invalid(format!(
                        "{}: both `{}` and `{}_file` are set; give the secret or the file that holds it, not both",
                        path.display(),
                        key.full_name(),
                        key.full_name()
                    )));
                }
                self.apply(key, Raw::Toml(value), &origin)?;
            }
            for (key, value) in files.values() {
                let toml::Value::String(file) = value else {
                    return Err(ConfigError::Invalid(format!(
                        "{}: {}_file: expected a file name (a string), got {}",
                        path.display(),
                        key.full_name(),
                        toml_type(value)
                    )));
                };
                self.apply_secret_file(key, Path::new(file), &origin)?;
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
        let mut database_url = None;
        let mut values: BTreeMap<String, (&'static Key, String)> = BTreeMap::new();
        let mut files: BTreeMap<String, (&'static Key, String)> = BTreeMap::new();
        let mut unknown = Vec::new();
        let env_names: Vec<(String, &'static Key)> = KEYS.iter().map(|k| (k.env_name(), k)).collect();
        for (name, value) in env {
            if name == DATABASE_URL_ENV {
                database_url = Some(Secret::new(value));
                continue;
            }
            if !name.starts_with(ENV_PREFIX) || is_foreign_env(&name) {
                continue;
            }
            if let Some((_, key)) = env_names.iter().find(|(n, _)| *n == name) {
                values.insert(name, (key, value));
            } else if let Some((_, key)) = name
                .strip_suffix("_FILE")
                .and_then(|base| env_names.iter().find(|(n, k)| n == base && k.file_variant))
            {
                files.insert(name, (key, value));
            } else {
                unknown.push(name);
            }
        }
        if !unknown.is_empty() {
            unknown.sort();
            let candidates = env_names.iter().flat_map(|(n, k)| {
                let file = k.file_variant.then(|| format!("{n}_FILE"));
                std::iter::once(n.clone()).chain(file)
            });
            let candidates: Vec<String> = candidates.collect();
            let described: Vec<String> = unknown
                .iter()
                .map(|name| match suggest(name, candidates.iter().cloned()) {
                    Some(s) => format!("{name} (did you mean {s}?)"),
                    None => name.clone(),
                })
                .collect();
            return Err(ConfigError::Invalid(format!(
                "unknown environment variable{} {}; server settings are named \
                 SEALPOST_<SECTION>_<KEY> (see `sealpost-server config print`)",
                if described.len() == 1 { "" } else { "s" },
                described.join(", ")
            )));
        }
        if let Some(url) = database_url {
            let key = find_key("storage", "database_url").ok_or_else(internal_key_error)?;
            self.apply(key, Raw::Text(url.expose()), &Origin::Env(DATABASE_URL_ENV))?;
        }
        for (name, (key, value)) in &values {
            let file_var = format!("{name}_FILE");
            if files.contains_key(&file_var) {
                return Err(ConfigError::Invalid(format!(
                    "both {name} and {file_var} are set; give the secret or the file that holds it, not both"
                )));
            }
            self.apply(key, Raw::Text(value), &Origin::Env(name))?;
        }
        for (name, (key, file)) in &files {
            if file.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{name} is set but empty; it must name a file"
                )));
            }
            self.apply_secret_file(key, Path::new(file), &Origin::Env(name))?;
        }
        Ok(())
    }

    fn apply_overrides(&mut self, flags: &ConfigOverrides) {
        let c = &mut self.cfg;
        let mut mark = |section: &'static str, name: &'static str| {
            self.explicit.insert((section, name));
        };
        if let Some(v) = flags.listen {
            c.server.listen = v;
            mark("server", "listen");
        }
        if let Some(v) = &flags.public_url {
            c.server.public_url = v.clone();
            mark("server", "public_url");
        }
        if let Some(v) = &flags.tls_cert {
            c.server.tls_cert = Some(v.clone());
            mark("server", "tls_cert");
        }
        if let Some(v) = &flags.tls_key {
            c.server.tls_key = Some(v.clone());
            mark("server", "tls_key");
        }
        if let Some(v) = &flags.data_dir {
            c.storage.data_dir = v.clone();
            mark("storage", "data_dir");
        }
        if let Some(v) = &flags.database_url {
            c.storage.database_url = Some(v.clone());
            mark("storage", "database_url");
        }
        if let Some(v) = &flags.blob_url {
            c.storage.blob_url = Some(v.clone());
            mark("storage", "blob_url");
        }
        if let Some(v) = flags.log_format {
            c.log.format = v;
            mark("log", "format");
        }
        if let Some(v) = &flags.log_level {
            c.log.level = v.clone();
            mark("log", "level");
        }
        if let Some(v) = flags.metrics_listen {
            c.metrics.listen = Some(v);
            mark("metrics", "listen");
        }
        if flags.no_metrics {
            c.metrics.listen = None;
            mark("metrics", "listen");
        }
    }

    /// Computes the defaults that depend on other keys.
    fn finish(self) -> Config {
        let mut cfg = self.cfg;
        if !self.explicit.contains(&("server", "public_url")) {
            cfg.server.public_url = derived_public_url(&cfg.server);
        }
        cfg
    }
}

fn internal_key_error() -> ConfigError {
    ConfigError::Invalid("internal error: a configuration key is missing from the key table".to_owned())
}

fn find_key(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.section == section && k.name == name)
}

fn keys_of(section: &str) -> impl Iterator<Item = &'static Key> + '_ {
    KEYS.iter().filter(move |k| k.section == section)
}

fn is_foreign_env(name: &str) -> bool {
    name == CONFIG_FILE_ENV || FOREIGN_ENV.contains(&name) || FOREIGN_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Reads a secret from a file, dropping one trailing newline.
fn read_secret_file(path: &Path, key: &Key) -> Result<Secret, ConfigError> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|error| ConfigError::Read {
        what: format!("the secret file of {}", key.full_name()),
        path: path.to_owned(),
        error,
    })?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        ConfigError::Invalid(format!(
            "{}: the secret file for {} is not valid UTF-8",
            path.display(),
            key.full_name()
        ))
    })?;
    let text = text
        .strip_suffix('\n')
        .map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
    if text.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{}: the secret file for {} is empty",
            path.display(),
            key.full_name()
        )));
    }
    Ok(Secret::new(text.to_owned()))
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The closest candidate within a small edit distance, for "did you mean" hints.
fn suggest(word: &str, candidates: impl IntoIterator<Item = impl AsRef<str>>) -> Option<String> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&word, &c.as_ref().to_ascii_lowercase()),
                c.as_ref().to_owned(),
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn derived_public_url(server: &ServerConfig) -> String {
    let scheme = if server.tls_cert.is_some() && server.tls_key.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", server.listen)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Percent-encodes a path for a URL: everything but unreserved characters and `/`.
fn encode_url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------------

/// Loads the configuration: defaults, then `file` (TOML), then `env` (`SEALPOST_*` and
/// `DATABASE_URL`), then `flags`; resolves relative paths against the current directory,
/// computes the derived defaults and validates the result.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &ConfigOverrides,
) -> Result<Config, ConfigError> {
    let mut layers = Layers::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            what: "the configuration file".to_owned(),
            path: path.to_owned(),
            error,
        })?;
        layers.apply_toml(&text, path)?;
    }
    layers.apply_env(env)?;
    layers.apply_overrides(flags);
    let mut cfg = layers.finish();
    cfg.make_paths_absolute()?;
    cfg.validate()?;
    Ok(cfg)
}

/// The process environment as `load` wants it: every variable with a UTF-8 name and value.
/// A `SEALPOST_*` or `DATABASE_URL` variable that is not UTF-8 is an error rather than
/// silently skipped.
pub fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let relevant = name.starts_with(ENV_PREFIX) || name == DATABASE_URL_ENV;
        match value.into_string() {
            Ok(value) => out.push((name.to_owned(), value)),
            Err(_) if relevant => {
                return Err(ConfigError::Invalid(format!(
                    "environment variable {name} is not valid UTF-8"
                )));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// The commented default configuration printed by `sealpost-server config print`: every key
/// with its default value and a one-line comment; keys without a default of their own (secrets,
/// derived values) appear as commented-out examples. Parsing it gives exactly
/// [`Config::default`].
pub fn default_toml() -> String {
    render(&Config::default(), false)
}

impl Config {
    /// The defaults, with `data_dir` in place of `./sealpost-data`.
    pub fn default_for(data_dir: impl Into<PathBuf>) -> Self {
        let mut cfg = Self::default();
        cfg.storage.data_dir = data_dir.into();
        cfg
    }

    /// Parses a TOML configuration on top of the defaults, without the environment or flags,
    /// and validates it. Relative paths are kept as written.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let mut layers = Layers::new();
        layers.apply_toml(text, Path::new("<config>"))?;
        let cfg = layers.finish();
        cfg.validate()?;
        Ok(cfg)
    }

    /// The effective configuration as TOML for `config print --effective`: derived defaults
    /// resolved, secrets shown as `"<redacted>"`.
    pub fn effective_toml(&self) -> String {
        render(self, true)
    }

    /// The database URL: `storage.database_url`, or `sqlite://<data_dir>/sealpost.db`.
    pub fn database_url(&self) -> Secret {
        match &self.storage.database_url {
            Some(url) => url.clone(),
            None => Secret::new(self.derived_database_url()),
        }
    }

    fn derived_database_url(&self) -> String {
        let file = absolute(&self.storage.data_dir).join("sealpost.db");
        format!("sqlite://{}", encode_url_path(&file.to_string_lossy()))
    }

    /// The key-encryption key file: `keys.server_kek_file`, or `<data_dir>/server-kek`.
    pub fn server_kek_file(&self) -> PathBuf {
        match &self.keys.server_kek_file {
            Some(path) => path.clone(),
            None => self.storage.data_dir.join("server-kek"),
        }
    }

    /// The access log's origin: `transparency.origin`, or `<public_url host>/sealpost-log`.
    pub fn log_origin(&self) -> String {
        if let Some(origin) = &self.transparency.origin {
            return origin.clone();
        }
        let url = &self.server.public_url;
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        };
        let host = if host.is_empty() { "localhost" } else { host };
        format!("{host}/sealpost-log")
    }

    /// Whether TLS is configured (both certificate and key).
    pub fn tls_enabled(&self) -> bool {
        self.server.tls_cert.is_some() && self.server.tls_key.is_some()
    }

    fn make_paths_absolute(&mut self) -> Result<(), ConfigError> {
        fn abs(path: &mut PathBuf, key: &str) -> Result<(), ConfigError> {
            if path.is_relative() {
                *path = std::path::absolute(&*path).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "{key}: cannot resolve the relative path {} against the current directory: {e}",
                        path.display()
                    ))
                })?;
            }
            Ok(())
        }
        abs(&mut self.storage.data_dir, "storage.data_dir")?;
        if let Some(p) = &mut self.server.tls_cert {
            abs(p, "server.tls_cert")?;
        }
        if let Some(p) = &mut self.server.tls_key {
            abs(p, "server.tls_key")?;
        }
        if let Some(p) = &mut self.keys.server_kek_file {
            abs(p, "keys.server_kek_file")?;
        }
        for p in &mut self.keys.previous_kek_files {
            abs(p, "keys.previous_kek_files")?;
        }
        Ok(())
    }

    /// Checks the whole configuration; the error lists every problem found, one sentence each.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems: Vec<String> = Vec::new();
        let mut check = |ok: bool, problem: String| {
            if !ok {
                problems.push(problem);
            }
        };
        let origin = self.log_origin();
        check(
            !origin.is_empty() && !origin.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+'),
            format!("transparency.origin must be one word without '+', got {origin:?}"),
        );
        for w in &self.transparency.witnesses {
            let parts: Vec<&str> = w.split_whitespace().collect();
            check(
                parts.len() == 2
                    && (parts[0].starts_with("http://") || parts[0].starts_with("https://"))
                    && sealpost_crypto::tlog::CosignerKey::from_vkey(parts[1]).is_ok(),
                format!("transparency.witnesses entries must be \"<http(s) URL> <witness vkey>\", got {w:?}"),
            );
        }
        let s = &self.server;
        match (&s.tls_cert, &s.tls_key) {
            (Some(_), None) => check(
                false,
                "server.tls_cert is set but server.tls_key is not; TLS needs both".into(),
            ),
            (None, Some(_)) => check(
                false,
                "server.tls_key is set but server.tls_cert is not; TLS needs both".into(),
            ),
            _ => {}
        }
        for (name, value, allow_zero) in [
            ("server.header_read_timeout_secs", s.header_read_timeout_secs, false),
            ("server.request_timeout_secs", s.request_timeout_secs, false),
            ("server.shutdown_grace_secs", s.shutdown_grace_secs, true),
            ("server.shutdown_delay_secs", s.shutdown_delay_secs, true),
            ("storage.connect_timeout_secs", self.storage.connect_timeout_secs, true),
            ("sweeper.interval_secs", self.sweeper.interval_secs, false),
        ] {
            check(allow_zero || value > 0, format!("{name} must be positive, got 0"));
            check(
                value <= MAX_DURATION_SECS,
                format!("{name} must be at most {MAX_DURATION_SECS} (one year), got {value}"),
            );
        }
        let a = &self.access;
        check(
            (6..=10).contains(&a.code_digits),
            format!("access.code_digits must be between 6 and 10, got {}", a.code_digits),
        );
        for (name, value) in [
            ("access.code_minutes", a.code_minutes),
            ("access.session_minutes", a.session_minutes),
        ] {
            check(
                (1..=24 * 60).contains(&value),
                format!("{name} must be between 1 and 1440, got {value}"),
            );
        }
        check(
            a.resend_after_secs <= 3600,
            format!(
                "access.resend_after_secs must be at most 3600, got {}",
                a.resend_after_secs
            ),
        );
        for (name, value) in [
            ("access.max_failures_per_code", a.max_failures_per_code),
            ("access.max_failures_per_recipient", a.max_failures_per_recipient),
            ("access.sms_per_recipient_per_hour", a.sms_per_recipient_per_hour),
            ("access.sms_per_message_per_hour", a.sms_per_message_per_hour),
            ("access.sms_per_number_per_hour", a.sms_per_number_per_hour),
            ("access.sms_per_org_per_day", a.sms_per_org_per_day),
        ] {
            check(value >= 1, format!("{name} must be at least 1, got 0"));
        }
        check(
            s.max_json_bytes > 0,
            "server.max_json_bytes must be positive, got 0".into(),
        );
        if let Err(why) = check_public_url(&s.public_url) {
            check(false, format!("server.public_url {why}"));
        }

        let st = &self.storage;
        check(
            st.database_max_connections > 0,
            "storage.database_max_connections must be at least 1, got 0".into(),
        );
        if let Some(url) = &st.database_url {
            let u = url.expose();
            let ok = u.starts_with("sqlite:") || u.starts_with("postgres://") || u.starts_with("postgresql://");
            check(
                ok,
                "storage.database_url must start with sqlite: or postgres:// (or postgresql://)".into(),
            );
        }
        let needs_utf8_dir = st.database_url.is_none();
        check(
            !needs_utf8_dir || st.data_dir.to_str().is_some(),
            format!(
                "storage.data_dir must be valid UTF-8 to derive the default database URL, got {}",
                st.data_dir.display()
            ),
        );
        if let Some(url) = &st.blob_url {
            let ok = match (url.strip_prefix("file://"), url.strip_prefix("s3://")) {
                (Some(path), _) => path.starts_with('/') && path.len() > 1,
                (_, Some(rest)) => rest.split('/').next().is_some_and(|bucket| !bucket.is_empty()),
                _ => false,
            };
            check(
                ok,
                format!("storage.blob_url must be file:///absolute/directory or s3://bucket[/prefix], got {url:?}"),
            );
        }
        if let Some(url) = &st.fence_url {
            let ok = match (url.strip_prefix("file://"), url.strip_prefix("s3://")) {
                (Some(path), _) => path.starts_with('/') && path.len() > 1,
                (_, Some(rest)) => rest.split('/').next().is_some_and(|bucket| !bucket.is_empty()),
                _ => false,
            };
            check(
                ok,
                format!("storage.fence_url must be file:///absolute/directory or s3://bucket[/prefix], got {url:?}"),
            );
        }
        if let Some(endpoint) = &st.s3_endpoint {
            let http = endpoint.starts_with("http://");
            check(
                http || endpoint.starts_with("https://"),
                format!("storage.s3_endpoint must be an http:// or https:// URL, got {endpoint:?}"),
            );
            check(
                !http || st.s3_allow_http,
                "storage.s3_endpoint is plain http:// but storage.s3_allow_http is false".into(),
            );
        }
        check(
            !st.s3_region.trim().is_empty(),
            "storage.s3_region must not be empty".into(),
        );
        check(
            st.part_size >= MIN_PART_SIZE,
            format!(
                "storage.part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum part size), got {}",
                st.part_size
            ),
        );
        check(
            st.part_size <= MAX_PART_SIZE,
            format!(
                "storage.part_size must be at most {MAX_PART_SIZE} bytes (S3's maximum part size), got {}",
                st.part_size
            ),
        );

        let l = &self.limits;
        for (name, value) in [
            ("limits.max_header_bytes", l.max_header_bytes),
            ("limits.max_payload_bytes", l.max_payload_bytes),
            ("limits.max_payloads", l.max_payloads.into()),
            ("limits.max_recipients", l.max_recipients.into()),
            ("limits.token_requests_per_minute", l.token_requests_per_minute.into()),
            ("limits.ip_requests_per_minute", l.ip_requests_per_minute.into()),
            ("limits.max_expiry_days", l.max_expiry_days.into()),
        ] {
            check(value > 0, format!("{name} must be at least 1, got 0"));
        }
        check(
            self.sweeper.abandon_after_hours > 0,
            "sweeper.abandon_after_hours must be positive, got 0".into(),
        );
        check(
            self.sweeper.abandon_after_hours <= MAX_DURATION_SECS / 3600,
            format!(
                "sweeper.abandon_after_hours must be at most {} (one year), got {}",
                MAX_DURATION_SECS / 3600,
                self.sweeper.abandon_after_hours
            ),
        );
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            check(
                false,
                format!(
                    "log.level is not a valid filter directive ({e}), got {:?}",
                    self.log.level
                ),
            );
        }
        if let Some(metrics) = self.metrics.listen {
            check(
                metrics != s.listen || metrics.port() == 0,
                format!("metrics.listen must differ from server.listen, both are {metrics}"),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Validation(problems))
        }
    }
}

/// `Ok` for an absolute http(s) URL with a host and no query or fragment.
fn check_public_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("must start with http:// or https://, got {url:?}"))?;
    if url.contains('#') || url.contains('?') {
        return Err(format!("must not have a query or fragment, got {url:?}"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("must not contain spaces, got {url:?}"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("must name a host (and no user name), got {url:?}"));
    }
    url.parse::<axum::http::Uri>()
        .map_err(|_| format!("is not a valid URL, got {url:?}"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const HEADER: &str = "\
# Sealpost server configuration.
#
# Precedence, lowest first: the defaults shown here, this file, environment variables
# SEALPOST_<SECTION>_<KEY> (e.g. SEALPOST_SERVER_LISTEN; DATABASE_URL is read too, below
# SEALPOST_STORAGE_DATABASE_URL; lists are comma-separated), then command-line flags.
# A secret shown below with a `<key>_file` example may be read from a file instead:
# `<key>_file = \"/path\"` here or SEALPOST_<SECTION>_<KEY>_FILE (one trailing newline is
# dropped). Relative paths are resolved against the current directory; an empty string unsets
# an optional key.
";

fn render(cfg: &Config, effective: bool) -> String {
    let mut out = String::new();
    if effective {
        out.push_str("# Effective Sealpost server configuration; secrets are redacted.\n");
    } else {
        out.push_str(HEADER);
    }
    for section in SECTIONS {
        out.push_str(&format!("\n[{section}]\n"));
        for key in keys_of(section) {
            out.push_str(&format!("# {}\n", key.doc));
            let value = if effective {
                (key.get)(cfg).or_else(|| key.derived.and_then(|d| d(cfg)))
            } else if key.derived.is_some() {
                None
            } else {
                (key.get)(cfg)
            };
            match value {
                Some(v) => out.push_str(&format!("{} = {}\n", key.name, render_value(&v))),
                None if effective => out.push_str(&format!("# {} is not set\n", key.name)),
                None => {
                    let example = key.example.unwrap_or("\"\"");
                    out.push_str(&format!("# {} = {example}\n", key.name));
                    if key.file_variant {
                        out.push_str(&format!(
                            "# {}_file = \"/run/secrets/sealpost-{}\"\n",
                            key.name,
                            key.name.replace('_', "-")
                        ));
                    }
                }
            }
        }
    }
    out
}

fn render_value(v: &Shown) -> String {
    match v {
        Shown::Str(s) => toml_string(s),
        Shown::Int(i) => i.to_string(),
        Shown::Bool(b) => b.to_string(),
        Shown::List(items) => {
            format!(
                "[{}]",
                items.iter().map(|s| toml_string(s)).collect::<Vec<_>>().join(", ")
            )
        }
        Shown::Redacted => toml_string(REDACTED),
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_unique_env_name_and_valid_doc() {
        let mut names = BTreeSet::new();
        for key in KEYS {
            assert!(names.insert(key.env_name()), "duplicate {}", key.env_name());
            assert!(!key.doc.contains('\n'), "{} doc must be one line", key.full_name());
            assert!(SECTIONS.contains(&key.section));
            assert_eq!(key.file_variant, key.file_variant && key.secret);
        }
    }

    #[test]
    fn edit_distance_and_suggestions() {
        assert_eq!(edit_distance("listen", "listn"), 1);
        assert_eq!(suggest("lisen", ["listen", "public_url"]), Some("listen".to_owned()));
        assert_eq!(suggest("zzzzzzzzz", ["listen"]), None);
    }

    #[test]
    fn toml_strings_escape() {
        assert_eq!(toml_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        let parsed: toml::Table = format!("k = {}", toml_string("x\u{1}\"y")).parse().expect("valid TOML");
        assert_eq!(parsed["k"].as_str(), Some("x\u{1}\"y"));
    }

    #[test]
    fn url_paths_are_encoded() {
        assert_eq!(encode_url_path("/a b/c?d#e%"), "/a%20b/c%3Fd%23e%25");
    }
}
