//! Shared counters (rate limits), the event log and the blob-deletion queue.

use sqlx::Row;

use super::{DbResult, Tx};

/// Counts one hit in a fixed window and returns the count including it. The counter lives in the
/// database, so every replica shares it.
pub async fn hit(pool: &sqlx::AnyPool, bucket: &str, window_start: i64) -> DbResult<i64> {
    let hits: i64 = sqlx::query_scalar(
        "INSERT INTO rate_counters (bucket, window_start, hits) VALUES ($1, $2, 1) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_counters.hits + 1 RETURNING hits",
    )
    .bind(bucket)
    .bind(window_start)
    .fetch_one(pool)
    .await?;
    Ok(hits)
}

/// Drops counters of windows that ended before `before`.
pub async fn prune_counters(pool: &sqlx::AnyPool, before: i64) -> DbResult<u64> {
    Ok(sqlx::query("DELETE FROM rate_counters WHERE window_start < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
}

/// One activity event.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Organisation concerned.
    pub org_id: Option<&'a str>,
    /// Who: `user:<id>`, `token:<id>`, `system`, `admin-cli`, `recipient:<rid>`.
    pub actor: &'a str,
    /// What, e.g. `message.created`.
    pub kind: &'a str,
    /// Message concerned.
    pub message_id: Option<&'a str>,
    /// Recipient concerned.
    pub rid: Option<&'a str>,
    /// Small JSON detail; never secrets, never content.
    pub detail: Option<String>,
}

impl<'a> Event<'a> {
    /// An event about an organisation, user, token or key (no message, no recipient).
    pub fn account(org_id: &'a str, actor: &'a str, kind: &'a str, detail: Option<serde_json::Value>) -> Self {
        Event {
            org_id: Some(org_id),
            actor,
            kind,
            message_id: None,
            rid: None,
            detail: detail.map(|d| d.to_string()),
        }
    }
}

/// Appends an event in the caller's transaction, so it commits with the change it records, and
/// returns its queue id. The event enters the verifiable log (`domain::transparency`) when the
/// sequencer next runs; "from where" is the client address of the request being served.
pub async fn record(tx: &mut Tx, at: i64, event: &Event<'_>) -> DbResult<i64> {
    let probe = sealpost_crypto::tlog::LogEntry {
        index: 0,
        time_ms: u64::try_from(at).unwrap_or(0),
        kind: event.kind.to_owned(),
        org: event.org_id.map(str::to_owned),
        actor: event.actor.to_owned(),
        source: crate::context::source(),
        message: event.message_id.map(str::to_owned),
        recipient: event.rid.map(str::to_owned),
        prev: None,
        org_prev: None,
        detail: event.detail.clone(),
    };
    if probe.encode().is_err() {
        return Err(super::DbError::Corrupt(format!(
            "event {} cannot be written as a log entry",
            event.kind
        )));
    }
    let row = super::log::PendingRow {
        id: 0,
        at,
        org_id: event.org_id.map(str::to_owned),
        actor: event.actor.to_owned(),
        source: crate::context::source(),
        kind: event.kind.to_owned(),
        message_id: event.message_id.map(str::to_owned),
        rid: event.rid.map(str::to_owned),
        detail: event.detail.clone(),
    };
    super::log::append_pending(tx, &row).await
}

/// Records an event that is the whole change (a link fetched, a receipt issued…) in a write
/// transaction of its own; returns its queue id.
pub async fn record_alone(db: &super::Db, at: i64, event: &Event<'_>) -> DbResult<i64> {
    let mut tx = db.begin_write().await?;
    let id = record(&mut tx, at, event).await?;
    tx.commit().await?;
    Ok(id)
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Its index in the verifiable log.
    pub seq: i64,
    /// Time.
    pub at: i64,
    /// Actor.
    pub actor: String,
    /// Kind.
    pub kind: String,
    /// Recipient.
    pub rid: Option<String>,
    /// Detail JSON.
    pub detail: Option<String>,
}

/// Sequenced events of one message, in order.
pub async fn message_events(pool: &sqlx::AnyPool, message_id: &str) -> DbResult<Vec<EventRow>> {
    let rows = super::log::message_entries(pool, message_id, i64::MAX as u64).await?;
    Ok(rows
        .into_iter()
        .map(|e| EventRow {
            seq: e.idx,
            at: e.at,
            actor: e.actor,
            kind: e.kind,
            rid: e.rid,
            detail: e.detail,
        })
        .collect())
}

/// Queues a blob (and its unfinished upload, if any) for deletion no earlier than `not_before`.
pub async fn queue_deletion(tx: &mut Tx, blob_key: &str, upload_id: Option<&str>, not_before: i64) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO blob_deletions (blob_key, upload_id, not_before) VALUES ($1, $2, $3) \
         ON CONFLICT (blob_key) DO NOTHING",
    )
    .bind(blob_key)
    .bind(upload_id)
    .bind(not_before)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` due deletions for `lease_ms`: a claimed row is invisible to other
/// replicas until the lease runs out, so each blob is deleted by one sweeper at a time.
pub async fn claim_deletions(
    pool: &sqlx::AnyPool,
    now: i64,
    lease_ms: i64,
    limit: u32,
) -> DbResult<Vec<(String, Option<String>)>> {
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT blob_key FROM blob_deletions WHERE not_before <= $1 AND lease_until <= $1 ORDER BY not_before LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut claimed = Vec::new();
    for key in candidates {
        let row = sqlx::query(
            "UPDATE blob_deletions SET lease_until = $1, attempts = attempts + 1 \
             WHERE blob_key = $2 AND lease_until <= $3 RETURNING upload_id",
        )
        .bind(now + lease_ms)
        .bind(&key)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        if let Some(row) = row {
            claimed.push((key, row.try_get("upload_id")?));
        }
    }
    Ok(claimed)
}

/// Removes a finished deletion.
pub async fn finish_deletion(pool: &sqlx::AnyPool, blob_key: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM blob_deletions WHERE blob_key = $1")
        .bind(blob_key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Number of queued deletions (for metrics and tests).
pub async fn pending_deletions(pool: &sqlx::AnyPool) -> DbResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM blob_deletions")
        .fetch_one(pool)
        .await?)
}

/// A notification mail waiting in the outbox.
#[derive(Debug, Clone)]
pub struct MailRow {
    /// Id.
    pub id: String,
    /// Recipient address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// The message it announces.
    pub message_id: Option<String>,
    /// The recipient it is for.
    pub rid: Option<String>,
}

/// Queues a mail in the caller's transaction, so it is sent if and only if the change commits.
pub async fn enqueue_mail(
    tx: &mut Tx,
    id: &str,
    about: (&str, &str),
    recipient: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body, created_at, not_before, message_id, rid) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
    )
    .bind(id)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(now)
    .bind(about.0)
    .bind(about.1)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Leases due mails to this replica (each one to one replica at a time).
pub async fn claim_mail(pool: &sqlx::AnyPool, now: i64, lease_ms: i64, limit: u32) -> DbResult<Vec<MailRow>> {
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM mail_outbox WHERE sent_at IS NULL AND not_before <= $1 AND lease_until <= $1 \
         ORDER BY not_before LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut claimed = Vec::new();
    for id in candidates {
        let row = sqlx::query(
            "UPDATE mail_outbox SET lease_until = $1, attempts = attempts + 1 \
             WHERE id = $2 AND sent_at IS NULL AND lease_until <= $3 RETURNING recipient, subject, body, attempts, message_id, rid",
        )
        .bind(now + lease_ms)
        .bind(&id)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        if let Some(row) = row {
            claimed.push(MailRow {
                id,
                recipient: row.try_get("recipient")?,
                subject: row.try_get("subject")?,
                body: row.try_get("body")?,
                attempts: u32::try_from(row.try_get::<i64, _>("attempts")?)
                    .map_err(|_| super::DbError::Corrupt("attempts".into()))?,
                message_id: row.try_get("message_id")?,
                rid: row.try_get("rid")?,
            });
        }
    }
    Ok(claimed)
}

/// Marks a mail sent, or schedules its next attempt with the reason of the failure.
pub async fn finish_mail(tx: &mut Tx, id: &str, now: i64, retry_at: Option<(i64, &str)>) -> DbResult<()> {
    match retry_at {
        None => {
            sqlx::query("UPDATE mail_outbox SET sent_at = $1, last_error = NULL WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?
        }
        Some((at, error)) => {
            sqlx::query("UPDATE mail_outbox SET not_before = $1, lease_until = 0, last_error = $2 WHERE id = $3")
                .bind(at)
                .bind(error)
                .bind(id)
                .execute(&mut **tx)
                .await?
        }
    };
    Ok(())
}

/// The earliest deadline (expiry or scheduled revocation, of a message or of one recipient)
/// that is due at `now` but not carried out yet: the sweeper's backlog.
pub async fn oldest_overdue(pool: &sqlx::AnyPool, now: i64) -> DbResult<Option<i64>> {
    let messages: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(CASE WHEN revoke_at IS NOT NULL AND revoke_at < expires_at THEN revoke_at ELSE expires_at END) \
         FROM messages WHERE state IN ('draft', 'sealed') \
         AND (expires_at <= $1 OR (revoke_at IS NOT NULL AND revoke_at <= $1))",
    )
    .bind(now)
    .fetch_one(pool)
    .await?;
    let recipients: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(revoke_at) FROM recipients WHERE state = 'active' AND revoke_at IS NOT NULL AND revoke_at <= $1",
    )
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(match (messages, recipients) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Whether the database already holds a key wrapped under a key-encryption key (the access
/// log's signing key is the first one stored, on the first start).
pub async fn has_wrapped_keys(pool: &sqlx::AnyPool) -> DbResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_keys")
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}
