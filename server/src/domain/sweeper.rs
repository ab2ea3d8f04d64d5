//! Background work every replica runs: ending due messages (expiry, scheduled revocation),
//! revoking due recipients, abandoning stale drafts, deleting queued blobs, pruning counters.
//!
//! Each step claims its work with a conditional update, so with any number of replicas each
//! message is ended once and each blob deleted by one sweeper at a time; a crash between steps
//! leaves the work queued in the database for the next sweep.

use std::time::Duration;

use super::{DomainResult, Services, limits, messages};
use crate::blobs::{BlobError, BlobKey, UploadId};
use crate::db::{messages as q, ops};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Messages ended (expired or revoked on schedule).
    pub ended: u64,
    /// Recipients revoked on schedule.
    pub recipients_revoked: u64,
    /// Drafts abandoned.
    pub abandoned: u64,
    /// Blobs deleted.
    pub blobs_deleted: u64,
    /// Notification mails sent.
    pub mails_sent: u32,
    /// Breach-register reminders delivered.
    pub reminders_sent: u32,
}

const BATCH: u32 = 200;

/// One sweep.
pub async fn sweep_once(svc: &Services, abandon_after_hours: u64) -> DomainResult<SweepReport> {
    let mut report = SweepReport::default();
    let now = svc.clock.now_ms();
    for (id, next) in q::due_messages(svc.db.pool(), now, BATCH).await? {
        let org = q::message(svc.db.pool(), &id).await?.map(|m| m.org_id);
        if messages::end_now(svc, &id, next, "system".into(), org.as_deref()).await? {
            report.ended += 1;
        }
    }
    for (id, rid) in q::due_recipients(svc.db.pool(), now, BATCH).await? {
        if messages::revoke_recipient_now(svc, &id, &rid).await? {
            report.recipients_revoked += 1;
        }
    }
    let cutoff = now - i64::try_from(abandon_after_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    for id in q::abandoned_drafts(svc.db.pool(), cutoff, BATCH).await? {
        let org = q::message(svc.db.pool(), &id).await?.map(|m| m.org_id);
        if messages::end_now(svc, &id, q::state::DELETED, "system".into(), org.as_deref()).await? {
            report.abandoned += 1;
        }
    }
    for (key, upload) in ops::claim_deletions(svc.db.pool(), now, 300_000, BATCH).await? {
        match delete_blob(svc, &key, upload).await {
            Ok(()) => {
                ops::finish_deletion(svc.db.pool(), &key).await?;
                report.blobs_deleted += 1;
            }
            Err(e) => tracing::warn!(error = %e, "blob deletion failed; it stays queued"),
        }
    }
    limits::prune(svc).await?;
    super::access::prune(svc).await?;
    report.mails_sent = super::notify::deliver_due(svc).await?;
    report.reminders_sent = super::incidents::deliver_reminders(svc).await?;
    super::transparency::tick(svc).await?;
    metrics::counter!("sealpost_sweeper_messages_ended_total").increment(report.ended);
    metrics::counter!("sealpost_sweeper_blobs_deleted_total").increment(report.blobs_deleted);
    let now = svc.clock.now_ms();
    let overdue = ops::oldest_overdue(svc.db.pool(), now).await?;
    let (log_size, _) = crate::db::log::state(svc.db.pool()).await?;
    crate::telemetry::sweep_succeeded(now, overdue, log_size);
    Ok(report)
}

async fn delete_blob(svc: &Services, key: &str, upload: Option<String>) -> Result<(), BlobError> {
    let key = BlobKey::new(key.to_owned())?;
    if let Some(upload) = upload {
        svc.blobs.abort_upload(&key, &UploadId(upload)).await?;
    }
    svc.blobs.delete(&key).await
}

/// Runs sweeps forever at `interval` (until the task is dropped).
pub async fn run(svc: Services, interval: Duration, abandon_after_hours: u64) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match sweep_once(&svc, abandon_after_hours).await {
            Ok(r) if r != SweepReport::default() => tracing::info!(?r, "sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
        }
    }
}
