//! Notification mail: a durable outbox filled in the transaction that seals a message, drained
//! by every replica's sweeper through the configured SMTP relay, with retries.
//!
//! The server mails only links it can build completely: those of registered recipients, who
//! open with their own key. A guest's link carries the guest's private key in its fragment; the
//! server never sees it, so a guest's link goes back to the sender (whose client delivers it).

use super::{DomainResult, Services};
use crate::clock::to_rfc3339;
use crate::db::{Tx, messages::RecipientRow, ops};
use crate::ids;

/// Attempts before a mail is given up (with an event-free log line).
const MAX_ATTEMPTS: u32 = 8;
const BATCH: u32 = 50;

/// Queues the notifications of a message being sealed, in the sealing transaction.
pub async fn queue_for_sealed(
    svc: &Services,
    tx: &mut Tx,
    message_id: &str,
    recipients: &[RecipientRow],
    sender: &str,
    expires_at: i64,
    now: i64,
) -> DomainResult<u32> {
    if svc.mailer.is_none() {
        return Ok(0);
    }
    let mut queued = 0;
    for r in recipients {
        let (Some(to), Some(access_id), "account") = (&r.notify_address, &r.access_id, r.kind.as_str()) else {
            continue;
        };
        let link = super::messages::link_of(&svc.public_url.get(), access_id);
        let (subject, body) = crate::mail::notification(&link, sender, &to_rfc3339(expires_at));
        ops::enqueue_mail(tx, &ids::new_id()?, (message_id, &r.rid), to, &subject, &body, now).await?;
        queued += 1;
    }
    Ok(queued)
}

/// Sends due mails; failures are retried with exponential backoff (1 min doubling, 8 tries).
pub async fn deliver_due(svc: &Services) -> DomainResult<u32> {
    let Some(mailer) = &svc.mailer else { return Ok(0) };
    let now = svc.clock.now_ms();
    let mut sent = 0;
    for mail in ops::claim_mail(svc.db.pool(), now, 300_000, BATCH).await? {
        match mailer.send(&mail.recipient, &mail.subject, &mail.body).await {
            Ok(()) => {
                let mut tx = svc.db.begin_write().await?;
                ops::finish_mail(&mut tx, &mail.id, now, None).await?;
                let event = ops::Event {
                    org_id: None,
                    actor: "system",
                    kind: "notification.sent",
                    message_id: mail.message_id.as_deref(),
                    rid: mail.rid.as_deref(),
                    detail: Some(serde_json::json!({ "channel": "email" }).to_string()),
                };
                ops::record(&mut tx, now, &event).await?;
                tx.commit().await.map_err(crate::db::DbError::from)?;
                sent += 1;
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(error = %error, attempts = mail.attempts, "notification mail failed");
                let retry_at = if mail.attempts >= MAX_ATTEMPTS {
                    i64::MAX
                } else {
                    now + 60_000 * (1i64 << mail.attempts.saturating_sub(1).min(10))
                };
                let mut tx = svc.db.begin_write().await?;
                ops::finish_mail(&mut tx, &mail.id, now, Some((retry_at, &error))).await?;
                tx.commit().await.map_err(crate::db::DbError::from)?;
            }
        }
    }
    Ok(sent)
}
