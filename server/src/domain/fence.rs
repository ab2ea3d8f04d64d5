//! What the revocation fence ([`crate::fence`]) means for the domain:
//!
//! - [`write`]: a revocation, deletion or change of expiry or scheduled revocation is written to
//!   the fence **before** its database transaction commits; if the fence cannot be written the
//!   change is refused (nothing is acknowledged). A fence entry left by a commit that then
//!   failed only revokes what the sender asked to revoke: it takes effect at the next release
//!   attempt or start-up.
//! - [`check_release`]: every release lists the message's fence entries first (one listing) and
//!   refuses what they forbid, whatever the database says.
//! - [`apply`]: at start-up, before the listener exists, every entry the database does not
//!   reflect is re-applied (a restored or rolled-back database), with log entries whose detail
//!   is `{"source":"restore_fence"}`.

use super::{DomainError, DomainResult, Services, messages};
use crate::clock::to_rfc3339;
use crate::db::{DbError, accounts as users, messages as q, messages::state, ops};
use crate::fence::Entry;

/// The detail of every log entry the fence re-applies.
pub const SOURCE_DETAIL: &str = r#"{"source":"restore_fence"}"#;

/// Writes `entry` for message `id` durably, or refuses the change.
pub(crate) async fn write(svc: &Services, id: &str, entry: &Entry, now: i64) -> DomainResult<()> {
    svc.fence.write(id, entry, now).await.map_err(|e| {
        tracing::error!(error = %e, "cannot write the revocation fence; the change is refused");
        metrics::counter!("sealpost_fence_write_failures_total").increment(1);
        DomainError::Unavailable
    })
}

/// Why the fence forbids releasing recipient `rid`'s share at `now`, if it does.
fn forbids(entries: &[Entry], rid: &str, now: i64) -> Option<&'static str> {
    if entries.contains(&Entry::Deleted) {
        return Some("unavailable");
    }
    if entries.contains(&Entry::Revoked) || entries.contains(&Entry::RecipientRevoked(rid.to_owned())) {
        return Some("revoked");
    }
    if latest_revoke_at(entries, None).is_some_and(|at| at <= now)
        || latest_revoke_at(entries, Some(rid)).is_some_and(|at| at <= now)
    {
        return Some("revoked");
    }
    if latest_expiry(entries).is_some_and(|to| to <= now) {
        return Some("expired");
    }
    None
}

/// The expiry set by the most recent change (the earliest expiry on a tie).
fn latest_expiry(entries: &[Entry]) -> Option<i64> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Expiry { changed, to } => Some((*changed, std::cmp::Reverse(*to))),
            _ => None,
        })
        .max()
        .map(|(_, to)| to.0)
}

/// The scheduled revocation set by the most recent change, for the message or one recipient.
fn latest_revoke_at(entries: &[Entry], rid: Option<&str>) -> Option<i64> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::RevokeAt { rid: r, changed, at } if r.as_deref() == rid => Some((*changed, std::cmp::Reverse(*at))),
            _ => None,
        })
        .max()
        .map(|(_, at)| at.0)
}

/// Refuses a release the fence forbids, as the release's own conditions do
/// ([`DomainError::Ended`] with `revoked`, `expired` or `unavailable`). Fails closed: a fence that cannot be read releases nothing.
pub(crate) async fn check_release(svc: &Services, id: &str, rid: &str, now: i64) -> DomainResult<()> {
    let entries = svc.fence.for_message(id).await.map_err(|e| {
        tracing::error!(error = %e, "cannot read the revocation fence; the release is refused");
        DomainError::Unavailable
    })?;
    match forbids(&entries, rid, now) {
        None => Ok(()),
        // Not re-applied here: a revoke in flight writes its entry before it commits, and its
        // own transaction records it (with its actor); start-up re-applies what is left.
        Some(why) => Err(DomainError::Ended(why.into())),
    }
}

/// What [`apply`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyReport {
    /// Messages with fence entries.
    pub messages: u64,
    /// Changes made to the database (each with its log entries).
    pub applied: u64,
}

/// Re-applies every fence entry the database does not reflect. Idempotent; safe with several
/// replicas starting at once (every change is a conditional update).
pub async fn apply(svc: &Services) -> DomainResult<ApplyReport> {
    let all = svc.fence.all().await.map_err(|e| {
        tracing::error!(error = %e, fence = svc.fence.location(), "cannot read the revocation fence");
        DomainError::Unavailable
    })?;
    let mut report = ApplyReport {
        messages: all.len() as u64,
        ..ApplyReport::default()
    };
    for (id, entries) in &all {
        report.applied += apply_message(svc, id, entries).await?;
    }
    if report.applied > 0 {
        tracing::warn!(
            applied = report.applied,
            messages = report.messages,
            fence = svc.fence.location(),
            "the database was behind the revocation fence and has been brought in line: it was \
             restored from a backup or rolled back (or a change failed after its fence entry was \
             written); the revocations, deletions and expiry changes it lacked are re-applied"
        );
    } else {
        tracing::info!(
            messages = report.messages,
            fence = svc.fence.location(),
            "revocation fence checked: the database reflects it"
        );
    }
    metrics::counter!("sealpost_fence_reapplied_total").increment(report.applied);
    Ok(report)
}

async fn log(
    tx: &mut crate::db::Tx,
    now: i64,
    org_id: &str,
    id: &str,
    kind: &str,
    rid: Option<&str>,
    detail: String,
) -> Result<(), DbError> {
    let event = ops::Event {
        org_id: Some(org_id),
        actor: "system",
        kind,
        message_id: Some(id),
        rid,
        detail: Some(detail),
    };
    ops::record(tx, now, &event).await.map(|_| ())
}

/// Re-applies one message's entries in one transaction; returns the number of changes.
async fn apply_message(svc: &Services, id: &str, entries: &[Entry]) -> DomainResult<u64> {
    let pool = svc.db.pool();
    // A message the database never had (a backup older than the message) cannot be released.
    let Some(m) = q::message(pool, id).await? else {
        return Ok(0);
    };
    let recipients = q::recipients(pool, id).await?;
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    let mut applied = 0u64;
    let ended = if entries.contains(&Entry::Deleted) {
        Some((state::DELETED, "message.deleted"))
    } else if entries.contains(&Entry::Revoked) {
        Some((state::REVOKED, "message.revoked"))
    } else {
        None
    };
    if let Some((new_state, kind)) = ended
        && q::end_message(&mut tx, id, new_state, now).await?.is_some()
    {
        messages::queue_blob_deletions(svc, &mut tx, id, now).await?;
        users::release_quota(&mut tx, id).await?;
        log(&mut tx, now, &m.org_id, id, kind, None, SOURCE_DETAIL.into()).await?;
        log(
            &mut tx,
            now,
            &m.org_id,
            id,
            "share.destroyed",
            None,
            SOURCE_DETAIL.into(),
        )
        .await?;
        applied += 1;
    }
    for entry in entries {
        if let Entry::RecipientRevoked(rid) = entry
            && q::revoke_recipient(&mut tx, id, rid, now).await?
        {
            log(
                &mut tx,
                now,
                &m.org_id,
                id,
                "recipient.revoked",
                Some(rid),
                SOURCE_DETAIL.into(),
            )
            .await?;
            log(
                &mut tx,
                now,
                &m.org_id,
                id,
                "share.destroyed",
                Some(rid),
                SOURCE_DETAIL.into(),
            )
            .await?;
            applied += 1;
        }
    }
    if let Some(to) = latest_expiry(entries)
        && m.expires_at > to
        && q::shorten_expiry(&mut tx, id, to).await?
    {
        let detail = serde_json::json!({
            "from": to_rfc3339(m.expires_at),
            "to": to_rfc3339(to),
            "source": "restore_fence",
        });
        log(&mut tx, now, &m.org_id, id, "expiry.changed", None, detail.to_string()).await?;
        applied += 1;
    }
    let mut schedules: Vec<Option<&str>> = vec![None];
    schedules.extend(recipients.iter().map(|r| Some(r.rid.as_str())));
    for rid in schedules {
        if let Some(at) = latest_revoke_at(entries, rid)
            && q::advance_revoke(&mut tx, id, rid, at).await?
        {
            let detail = serde_json::json!({ "at": to_rfc3339(at), "source": "restore_fence" });
            log(
                &mut tx,
                now,
                &m.org_id,
                id,
                "revocation.scheduled",
                rid,
                detail.to_string(),
            )
            .await?;
            applied += 1;
        }
    }
    tx.commit().await.map_err(DbError::from)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "BBBBBBBBBBBBBBBBBBBBBB";

    #[test]
    fn the_latest_change_wins_and_what_is_due_forbids() {
        let e = vec![
            Entry::Expiry { changed: 1, to: 100 },
            Entry::Expiry { changed: 2, to: 300 },
            Entry::RevokeAt {
                rid: Some(R.into()),
                changed: 1,
                at: 50,
            },
            Entry::RevokeAt {
                rid: Some(R.into()),
                changed: 3,
                at: 80,
            },
        ];
        assert_eq!(latest_expiry(&e), Some(300));
        assert_eq!(latest_revoke_at(&e, Some(R)), Some(80));
        assert_eq!(latest_revoke_at(&e, None), None);
        assert_eq!(forbids(&e, R, 79), None);
        assert_eq!(forbids(&e, R, 80), Some("revoked"));
        assert_eq!(forbids(&e, "other", 299), None);
        assert_eq!(forbids(&e, "other", 300), Some("expired"));
        assert_eq!(forbids(&[Entry::RecipientRevoked(R.into())], R, 0), Some("revoked"));
        assert_eq!(forbids(&[Entry::RecipientRevoked(R.into())], "other", 0), None);
        assert_eq!(forbids(&[Entry::Revoked], "other", 0), Some("revoked"));
        assert_eq!(forbids(&[Entry::Deleted, Entry::Revoked], R, 0), Some("unavailable"));
    }
}
