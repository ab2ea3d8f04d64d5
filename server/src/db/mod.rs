//! The database: one SQL dialect subset over SQLite (embedded default) and PostgreSQL (replicas).
//!
//! Every statement here is plain SQL with `$n` parameters, which both sqlx drivers accept, and
//! every time is a Unix-millisecond integer, so the same text runs on both backends. Migrations
//! are same-named twins in `migrations/sqlite` and `migrations/postgres`, embedded at build time
//! and applied at start.
//!
//! Write transactions start with [`Db::begin_write`], which on SQLite takes the write lock up
//! front (`BEGIN IMMEDIATE`) so that a read-then-write transaction can never fail on a lock
//! upgrade; on PostgreSQL every decision that must be atomic is one conditional `UPDATE`.

pub mod access;
pub mod accounts;
pub mod incidents;
pub mod kek;
pub mod log;
pub mod messages;
pub mod ops;
pub mod policy;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::config::Secret;

/// A database failure. The text is for logs only and never reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness constraint was violated (duplicate id, address, name…).
    #[error("duplicate key")]
    Duplicate,
    /// The database refused a setting that durability depends on.
    #[error("unsafe database setting: {0}")]
    UnsafeSetting(String),
    /// The URL is not one this server accepts.
    #[error("unsupported database URL: {0}")]
    BadUrl(String),
    /// A stored value is not what the schema promises.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error (connection, I/O, timeout…).
    #[error("database error: {0}")]
    Sqlx(sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(ref d) = e
            && d.is_unique_violation()
        {
            return DbError::Duplicate;
        }
        DbError::Sqlx(e)
    }
}

/// Result alias for this layer.
pub type DbResult<T> = Result<T, DbError>;

/// Which SQL engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in WAL mode with `synchronous=FULL`.
    Sqlite,
    /// PostgreSQL with `synchronous_commit` on.
    Postgres,
}

/// A connection pool plus the backend it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// A write transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Connects, applies the durability settings and checks that they took effect.
    pub async fn connect(url: &Secret, max_connections: u32) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let text = url.expose();
        let backend = if text.starts_with("sqlite:") {
            Backend::Sqlite
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::BadUrl("the scheme must be sqlite: or postgres://".into()));
        };
        let url_text = match backend {
            Backend::Sqlite => sqlite_url_with_create(text),
            Backend::Postgres => text.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url_text)
            .map_err(|_| DbError::BadUrl("the database URL could not be parsed".into()))?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                // journal_mode is persistent; the others are per connection.
                pool_options
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 15000").await?;
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool_options.connect_with(options).await?,
        };
        let db = Db { pool, backend };
        db.check_durability().await?;
        Ok(db)
    }

    /// Reads back the settings durability depends on and refuses to run without them.
    async fn check_durability(&self) -> DbResult<()> {
        match self.backend {
            Backend::Sqlite => {
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&self.pool).await?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(DbError::UnsafeSetting(format!(
                        "SQLite journal_mode is {mode}, expected wal"
                    )));
                }
                let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&self.pool).await?;
                // 2 = FULL, 3 = EXTRA.
                if sync < 2 {
                    return Err(DbError::UnsafeSetting(format!(
                        "SQLite synchronous is {sync}, expected FULL (2) or EXTRA (3)"
                    )));
                }
            }
            Backend::Postgres => {
                let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(&self.pool)
                    .await?;
                if sync.eq_ignore_ascii_case("off") {
                    return Err(DbError::UnsafeSetting(
                        "PostgreSQL synchronous_commit is off: acknowledged sends could be lost".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies pending migrations (idempotent; safe to run from several replicas at once).
    pub async fn migrate(&self) -> DbResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction (on SQLite it holds the write lock from the start).
    pub async fn begin_write(&self) -> DbResult<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Readiness: one round trip.
    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` to a SQLite URL so that the file is created on first start.
fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Converts a stored integer to an unsigned count, refusing negative values.
pub(crate) fn to_u64(value: i64, what: &str) -> DbResult<u64> {
    u64::try_from(value).map_err(|_| DbError::Corrupt(format!("negative {what}")))
}

/// Converts an unsigned count for storage, refusing values beyond `i64::MAX`.
pub(crate) fn to_i64(value: u64) -> DbResult<i64> {
    i64::try_from(value).map_err(|_| DbError::Corrupt("value out of range".into()))
}
