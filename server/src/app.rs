//! Wiring: configuration in, a running server out.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::blobs::BlobStore;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Db;
use crate::domain::{Services, sweeper};
use crate::http::{AppState, router};
use crate::kek::{LocalKek, ShareWrapper};

/// A start-up failure, as a sentence for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// Most parts held in memory at once (each up to `part_size`).
const PARTS_IN_FLIGHT: usize = 16;
/// Longest single attempt to connect to the database at start.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded setup creates its SQLite file on first start. If the file is gone while the
/// blob directory beside it still holds ciphertext, this is not a first start but a lost
/// database: starting on an empty one would answer every existing message as unknown and hand
/// out fresh ids next to orphaned data. Refuse, and say what to do.
fn refuse_lost_database(config: &Config) -> Result<(), StartError> {
    let storage = &config.storage;
    if storage.database_url.is_some() || storage.blob_url.is_some() {
        return Ok(());
    }
    let file = storage.data_dir.join("sealpost.db");
    let blobs = storage.data_dir.join("blobs");
    if file.exists() || !holds_a_file(&blobs) {
        return Ok(());
    }
    Err(StartError(format!(
        "the database file {} is missing, but {} holds stored messages: refusing to start on an \
         empty database beside them. Restore the database file from your backup (docs/operations.md, \
         Backups and restore), or move the data directory away to start afresh",
        file.display(),
        blobs.display()
    )))
}

/// Whether `dir` (recursively) contains at least one regular file.
fn holds_a_file(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| match e.file_type() {
        Ok(t) if t.is_file() => true,
        Ok(t) if t.is_dir() => holds_a_file(&e.path()),
        _ => false,
    })
}

/// Opens the database (and migrates it), the blob store and the key-encryption key.
pub async fn services(config: &Config, clock: Arc<dyn Clock>) -> Result<Services, StartError> {
    let storage = &config.storage;
    std::fs::create_dir_all(&storage.data_dir).map_err(|e| {
        StartError(format!(
            "cannot create the data directory {}: {e}",
            storage.data_dir.display()
        ))
    })?;
    refuse_lost_database(config)?;
    let db = connect_with_retry(config).await?;
    db.migrate()
        .await
        .map_err(|e| StartError(format!("cannot migrate the database: {e}")))?;
    let blobs = BlobStore::from_config(storage)
        .await
        .map_err(|e| StartError(format!("cannot open the blob store: {e}")))?;
    let fence = crate::fence::Fence::from_config(storage)
        .map_err(|e| StartError(format!("cannot open the revocation fence: {e}")))?;
    if storage.fence_url.is_none() && storage.blob_url.as_deref().is_some_and(|u| u.starts_with("s3://")) {
        tracing::warn!(
            fence = fence.location(),
            "the revocation fence is a local directory while blobs are in S3: set storage.fence_url to a location every replica shares"
        );
    }
    let kek: Arc<dyn ShareWrapper> = Arc::new(
        match &config.keys.server_kek {
            Some(text) => LocalKek::from_text(text),
            None => LocalKek::from_file(&config.server_kek_file(), may_create_kek(config, &db).await?),
        }
        .and_then(|kek| kek.with_previous_files(&config.keys.previous_kek_files))
        .map_err(|e| StartError(e.to_string()))?,
    );
    crate::domain::kek::check_stored_keys(&db, kek.as_ref())
        .await
        .map_err(StartError)?;
    if config.sms.provider == crate::sms::SmsProvider::Outbox {
        tracing::warn!(
            outbox = %config.sms.outbox_path(&storage.data_dir).display(),
            "SMS codes are written to the development outbox, not sent; set [sms] provider = \"twilio\" in production"
        );
    }
    let sms = crate::sms::build(&config.sms, &storage.data_dir)
        .map_err(|e| StartError(format!("cannot set up SMS delivery: {e}")))?;
    let mailer = if config.mail.enabled {
        Some(Arc::new(
            crate::mail::Mailer::new(&config.mail).map_err(|e| StartError(format!("cannot set up mail: {e}")))?,
        ))
    } else {
        None
    };
    let signer = crate::domain::transparency::load_signer(&db, kek.as_ref(), &config.log_origin(), clock.now_ms())
        .await
        .map_err(|e| StartError(format!("cannot load the access-log key: {e}")))?;
    let log =
        crate::domain::transparency::transparency(signer, &config.transparency.witnesses, Duration::from_secs(10))
            .map_err(StartError)?;
    Ok(Services {
        db,
        blobs,
        fence,
        kek,
        clock,
        limits: Arc::new(config.limits.clone()),
        part_permits: Arc::new(tokio::sync::Semaphore::new(PARTS_IN_FLIGHT)),
        access: Arc::new(config.access.clone()),
        sms,
        public_url: crate::domain::PublicUrl::new(&config.server.public_url),
        mailer,
        log: Arc::new(log),
        webhooks: crate::domain::incidents::webhook_client(),
    })
}

/// Connects to the database, retrying a connection failure with backoff (a log line per
/// attempt) for up to `storage.connect_timeout_secs`: in a rolling start the database may come
/// up after the replicas. A bad URL or an unsafe setting fails at once.
async fn connect_with_retry(config: &Config) -> Result<Db, StartError> {
    let storage = &config.storage;
    let limit = Duration::from_secs(storage.connect_timeout_secs);
    let deadline = tokio::time::Instant::now() + limit;
    let mut delays = crate::lifecycle::retry_delays();
    let url = config.database_url();
    for attempt in 1u32.. {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        // sqlx itself keeps retrying a refused connection until its own acquire timeout; bound
        // each attempt so that every few seconds says how it went.
        let outcome = tokio::time::timeout(
            remaining.clamp(Duration::from_secs(1), ATTEMPT_TIMEOUT),
            Db::connect(&url, storage.database_max_connections),
        )
        .await;
        let error = match outcome {
            Ok(Ok(db)) => return Ok(db),
            Ok(Err(e @ crate::db::DbError::Sqlx(_))) => e.to_string(),
            Ok(Err(e)) => return Err(StartError(format!("cannot open the database: {e}"))),
            Err(_) => "the connection attempt timed out".to_owned(),
        };
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        if tokio::time::Instant::now() + delay >= deadline {
            return Err(StartError(format!(
                "cannot open the database after {attempt} attempt(s) in {} s (storage.connect_timeout_secs): {error}",
                storage.connect_timeout_secs
            )));
        }
        tracing::warn!(attempt, error = %error, retry_in_ms = delay.as_millis() as u64, "cannot reach the database yet; retrying");
        tokio::time::sleep(delay).await;
    }
    unreachable!("the attempt counter never ends")
}

/// Whether an absent key-encryption key file may be created now. Never when the database
/// already holds keys wrapped under a KEK (the file is missing or mis-mounted: a new key could
/// not open them). On a database without keys (the first start): when the file is the embedded
/// default `<data_dir>/server-kek` (the zero-configuration quick start), or when an explicit
/// `keys.server_kek_file` comes with `keys.create_kek = true`.
async fn may_create_kek(config: &Config, db: &Db) -> Result<bool, StartError> {
    let path = config.server_kek_file();
    if path.exists() {
        return Ok(false);
    }
    let has_keys = crate::db::ops::has_wrapped_keys(db.pool())
        .await
        .map_err(|e| StartError(format!("cannot read the database: {e}")))?;
    if has_keys {
        return Err(StartError(format!(
            "the key-encryption key file {} does not exist, but the database already holds keys wrapped under a \
             key-encryption key; mount the key the other replicas use there (keys.server_kek_file) rather than \
             starting with a new one",
            path.display()
        )));
    }
    if config.keys.server_kek_file.is_some() && !config.keys.create_kek {
        return Err(StartError(format!(
            "the key-encryption key file {} does not exist; mount the shared key there, or set keys.create_kek = true \
             (SEALPOST_KEYS_CREATE_KEK=true) to create it on this first start",
            path.display()
        )));
    }
    tracing::warn!(file = %path.display(), "creating a new server key-encryption key; back it up");
    Ok(true)
}

/// Opens everything with the system clock.
pub async fn services_with_system_clock(config: &Config) -> Result<Services, StartError> {
    services(config, Arc::new(SystemClock)).await
}

/// The router for these services.
pub fn app_router(services: Services, config: Arc<Config>) -> axum::Router {
    router(AppState { services, config })
}

/// Runs the server until `shutdown` resolves: binds, starts the sweeper and metrics, serves.
/// `on_bound` receives the bound API address (useful with port 0).
pub async fn serve(
    config: Config,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(std::net::SocketAddr),
) -> Result<(), StartError> {
    let config = Arc::new(config);
    // A database restored from a backup must not serve what was revoked since: re-apply the
    // fence before the listener exists (docs/operations.md, "Backups and restore").
    crate::domain::fence::apply(&services)
        .await
        .map_err(|e| StartError(format!("cannot re-apply the revocation fence: {e}")))?;
    let bound = crate::net::bind(&config.server)
        .await
        .map_err(|e| StartError(e.to_string()))?;
    let addr = bound.local_addr();
    let metrics = crate::telemetry::install_metrics(&config.metrics).map_err(|e| StartError(e.to_string()))?;
    if let Some(m) = metrics {
        tracing::info!(%m, "metrics listening");
    }
    let draining = crate::lifecycle::Draining::default();
    let delay = Duration::from_secs(config.server.shutdown_delay_secs.min(crate::config::MAX_DURATION_SECS));
    let shutdown = {
        let draining = draining.clone();
        async move {
            shutdown.await;
            draining.start();
            crate::telemetry::ready(false);
            crate::lifecycle::sd_notify("STOPPING=1");
            if !delay.is_zero() {
                tracing::info!(
                    delay_secs = delay.as_secs(),
                    "shutting down: /readyz answers 503; still serving until the delay ends"
                );
                tokio::time::sleep(delay).await;
            }
        }
    };
    let sweeper = tokio::spawn(sweeper::run(
        services.clone(),
        Duration::from_secs(config.sweeper.interval_secs),
        config.sweeper.abandon_after_hours,
    ));
    tracing::info!(%addr, tls = config.server.tls_cert.is_some(), blobs = services.blobs.backend_name(), "serving");
    services.public_url.bound(addr);
    on_bound(addr);
    crate::telemetry::ready(true);
    crate::lifecycle::sd_notify("READY=1");
    let router = app_router(services.clone(), config.clone()).layer(axum::Extension(draining));
    let result = bound.serve(router, shutdown).await;
    sweeper.abort();
    services.db.close().await;
    result.map_err(|e| StartError(e.to_string()))
}

/// A server serving in the background of this process, as tests, benchmarks and embedders
/// start one: [`spawn`] binds (port 0 works), [`Spawned::stop`] shuts it down gracefully.
#[derive(Debug)]
pub struct Spawned {
    /// The bound API address.
    pub addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), StartError>>>,
}

impl Spawned {
    /// `http://{addr}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) -> Result<(), StartError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| StartError(format!("the server task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

/// Runs [`serve`] on a background task and returns once the API address is bound.
/// [`Spawned::stop`] is an embedder's programmatic stop with no load balancer to wait for, so
/// `server.shutdown_delay_secs` is ignored here.
pub async fn spawn(config: Config, services: Services) -> Result<Spawned, StartError> {
    let mut config = config;
    config.server.shutdown_delay_secs = 0;
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let mut task = tokio::spawn(serve(
        config,
        services,
        async move {
            let _ = shutdown_rx.await;
        },
        move |addr| {
            let _ = addr_tx.send(addr);
        },
    ));
    match addr_rx.await {
        Ok(addr) => Ok(Spawned {
            addr,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        }),
        // It never bound: the task says why.
        Err(_) => match (&mut task).await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(StartError("the server stopped before it was bound".into())),
            Err(e) => Err(StartError(format!("the server task failed: {e}"))),
        },
    }
}
