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

/// Opens the database (and migrates it), the blob store and the key-encryption key.
pub async fn services(config: &Config, clock: Arc<dyn Clock>) -> Result<Services, StartError> {
    let storage = &config.storage;
    std::fs::create_dir_all(&storage.data_dir).map_err(|e| {
        StartError(format!(
            "cannot create the data directory {}: {e}",
            storage.data_dir.display()
        ))
    })?;
    let db = Db::connect(&config.database_url(), storage.database_max_connections)
        .await
        .map_err(|e| StartError(format!("cannot open the database: {e}")))?;
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
            None => LocalKek::from_file(&config.server_kek_file(), true),
        }
        .map_err(|e| StartError(e.to_string()))?,
    );
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
    let sweeper = tokio::spawn(sweeper::run(
        services.clone(),
        Duration::from_secs(config.sweeper.interval_secs),
        config.sweeper.abandon_after_hours,
    ));
    tracing::info!(%addr, tls = config.server.tls_cert.is_some(), blobs = services.blobs.backend_name(), "serving");
    services.public_url.bound(addr);
    on_bound(addr);
    let result = bound
        .serve(app_router(services.clone(), config.clone()), shutdown)
        .await;
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
pub async fn spawn(config: Config, services: Services) -> Result<Spawned, StartError> {
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
