//! Messages, their payloads and upload parts, recipients and server shares.
//!
//! The decisions that must be atomic across replicas — sealing, revoking, releasing a share,
//! expiring — are each one conditional statement inside one transaction; the state they check
//! and the state they change are the same rows.

use sqlx::Row;

use super::{DbResult, Tx, to_i64, to_u64};

/// Lifecycle states, as stored.
pub mod state {
    /// Created, uploads in progress; never openable.
    pub const DRAFT: &str = "draft";
    /// Every blob and share stored; openable by its recipients until it ends.
    pub const SEALED: &str = "sealed";
    /// Revoked by its sender; shares destroyed.
    pub const REVOKED: &str = "revoked";
    /// Past its expiry; shares destroyed.
    pub const EXPIRED: &str = "expired";
    /// Deleted by its sender (or abandoned before sealing); shares destroyed.
    pub const DELETED: &str = "deleted";
}

/// A message row.
#[derive(Debug, Clone)]
pub struct MessageRow {
    /// Message id (base64url of the 16-byte `msg_id`).
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Sender.
    pub sender_id: String,
    /// One of [`state`].
    pub state: String,
    /// The sender's policy bytes.
    pub policy: Vec<u8>,
    /// Declared header size.
    pub header_size: u64,
    /// SHA-256 of the stored header, once uploaded.
    pub header_sha256: Option<Vec<u8>>,
    /// Number of payloads.
    pub payload_count: u32,
    /// Bytes reserved against quotas.
    pub reserved_bytes: u64,
    /// The signed seal, once sealed.
    pub seal: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Sealed.
    pub sealed_at: Option<i64>,
    /// Expiry.
    pub expires_at: i64,
    /// Scheduled revocation.
    pub revoke_at: Option<i64>,
    /// When it was revoked, expired or deleted.
    pub ended_at: Option<i64>,
    /// The sender's pre-send check outcome (JSON), if the client ran the checks.
    pub send_checks: Option<String>,
}

/// A payload row.
#[derive(Debug, Clone)]
pub struct PayloadRow {
    /// Index (0 = manifest).
    pub idx: u32,
    /// Declared size.
    pub size: u64,
    /// Blob-store upload id while uploading.
    pub upload_id: Option<String>,
    /// First 16 bytes (the STREAM nonce), recorded with part 0.
    pub nonce: Option<Vec<u8>>,
    /// Published.
    pub complete: bool,
}

/// A stored upload part.
#[derive(Debug, Clone)]
pub struct PartRow {
    /// Part index.
    pub part_idx: u32,
    /// Length.
    pub size: u64,
    /// SHA-256 the client declared and the server verified.
    pub sha256: Vec<u8>,
    /// Blob-store tag.
    pub tag: String,
}

/// A recipient row (without the share).
#[derive(Debug, Clone)]
pub struct RecipientRow {
    /// Recipient id (base64url).
    pub rid: String,
    /// Order given by the sender.
    pub position: u32,
    /// `account` or `guest`.
    pub kind: String,
    /// Account user, for `account`.
    pub user_id: Option<String>,
    /// The account user's address, for `account`.
    pub address: Option<String>,
    /// Phone number (E.164), for `guest`.
    pub phone: Option<String>,
    /// Notification address.
    pub notify_address: Option<String>,
    /// `totp` or `sms`.
    pub verification: String,
    /// `active` or `revoked`.
    pub state: String,
    /// Whether the server share is still stored.
    pub has_share: bool,
    /// Scheduled revocation.
    pub revoke_at: Option<i64>,
    /// Revoked at.
    pub revoked_at: Option<i64>,
    /// Releases of the share so far.
    pub releases: u64,
    /// The id in the recipient's link.
    pub access_id: Option<String>,
    /// Wrong verification entries so far.
    pub failures: u32,
    /// When the recipient was locked by too many wrong entries.
    pub locked_at: Option<i64>,
}

/// A new recipient.
#[derive(Debug, Clone)]
pub struct NewRecipient {
    /// Recipient id (base64url).
    pub rid: String,
    /// `account` or `guest`.
    pub kind: &'static str,
    /// Account user.
    pub user_id: Option<String>,
    /// Phone (E.164).
    pub phone: Option<String>,
    /// Notification address.
    pub notify_address: Option<String>,
    /// `totp` or `sms`.
    pub verification: &'static str,
    /// The id in the recipient's link (random, unique).
    pub access_id: String,
}

const MESSAGE_COLUMNS: &str = "id, org_id, sender_id, state, policy, header_size, header_sha256, payload_count, \
     reserved_bytes, seal, created_at, sealed_at, expires_at, revoke_at, ended_at, send_checks";

fn message_from_row(row: &sqlx::any::AnyRow) -> DbResult<MessageRow> {
    Ok(MessageRow {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        sender_id: row.try_get("sender_id")?,
        state: row.try_get("state")?,
        policy: row.try_get("policy")?,
        header_size: to_u64(row.try_get("header_size")?, "header size")?,
        header_sha256: row.try_get("header_sha256")?,
        payload_count: u32::try_from(row.try_get::<i64, _>("payload_count")?)
            .map_err(|_| super::DbError::Corrupt("payload count".into()))?,
        reserved_bytes: to_u64(row.try_get("reserved_bytes")?, "reserved bytes")?,
        seal: row.try_get("seal")?,
        created_at: row.try_get("created_at")?,
        sealed_at: row.try_get("sealed_at")?,
        expires_at: row.try_get("expires_at")?,
        revoke_at: row.try_get("revoke_at")?,
        ended_at: row.try_get("ended_at")?,
        send_checks: row.try_get("send_checks")?,
    })
}

fn u32_of(row: &sqlx::any::AnyRow, column: &str) -> DbResult<u32> {
    u32::try_from(row.try_get::<i64, _>(column)?).map_err(|_| super::DbError::Corrupt(column.into()))
}

/// Inserts a draft message with its payload declarations and recipients.
#[allow(clippy::too_many_arguments)]
pub async fn insert_draft(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    sender_id: &str,
    policy: &[u8],
    header_size: u64,
    payload_sizes: &[u64],
    reserved_bytes: u64,
    expires_at: i64,
    max_opens: Option<u32>,
    send_checks: Option<&str>,
    recipients: &[NewRecipient],
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO messages (id, org_id, sender_id, state, policy, header_size, payload_count, reserved_bytes, \
         created_at, expires_at, max_opens, send_checks) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(org_id)
    .bind(sender_id)
    .bind(state::DRAFT)
    .bind(policy)
    .bind(to_i64(header_size)?)
    .bind(payload_sizes.len() as i64)
    .bind(to_i64(reserved_bytes)?)
    .bind(now)
    .bind(expires_at)
    .bind(max_opens.map(i64::from))
    .bind(send_checks)
    .execute(&mut **tx)
    .await?;
    for (idx, size) in payload_sizes.iter().enumerate() {
        sqlx::query("INSERT INTO payloads (message_id, idx, size) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(idx as i64)
            .bind(to_i64(*size)?)
            .execute(&mut **tx)
            .await?;
    }
    for (position, r) in recipients.iter().enumerate() {
        sqlx::query(
            "INSERT INTO recipients (message_id, rid, position, kind, user_id, phone, notify_address, verification, \
             state, access_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9)",
        )
        .bind(id)
        .bind(&r.rid)
        .bind(position as i64)
        .bind(r.kind)
        .bind(r.user_id.as_deref())
        .bind(r.phone.as_deref())
        .bind(r.notify_address.as_deref())
        .bind(r.verification)
        .bind(&r.access_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A message by id.
pub async fn message(pool: &sqlx::AnyPool, id: &str) -> DbResult<Option<MessageRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(message_from_row).transpose()
}

/// A page of messages, newest first, of one sender or (when `sender_id` is None) of one organisation.
/// `before` is a keyset cursor `(created_at, id)`. The state filter applies to the state as of
/// `now` (a sealed message past its expiry counts as expired before the sweeper has run).
pub async fn list_messages(
    pool: &sqlx::AnyPool,
    org_id: &str,
    sender_id: Option<&str>,
    state_filter: Option<&str>,
    before: Option<(i64, &str)>,
    limit: u32,
    now: i64,
) -> DbResult<Vec<MessageRow>> {
    let (before_at, before_id) = before.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages \
         WHERE org_id = $1 AND ($2 IS NULL OR sender_id = $2) AND ($3 IS NULL OR (CASE WHEN state IN ('draft', 'sealed') AND revoke_at IS NOT NULL \
           AND revoke_at <= $7 AND revoke_at <= expires_at THEN 'revoked' \
           WHEN state IN ('draft', 'sealed') AND expires_at <= $7 THEN 'expired' ELSE state END) = $3) \
           AND state <> 'deleted' \
           AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5)) \
         ORDER BY created_at DESC, id DESC LIMIT $6"
    )))
    .bind(org_id)
    .bind(sender_id)
    .bind(state_filter)
    .bind(before_at)
    .bind(before_id)
    .bind(i64::from(limit))
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter().map(message_from_row).collect()
}

/// Payload rows of a message, in order.
pub async fn payloads(pool: &sqlx::AnyPool, message_id: &str) -> DbResult<Vec<PayloadRow>> {
    let rows =
        sqlx::query("SELECT idx, size, upload_id, nonce, complete FROM payloads WHERE message_id = $1 ORDER BY idx")
            .bind(message_id)
            .fetch_all(pool)
            .await?;
    rows.iter().map(payload_from_row).collect()
}

fn payload_from_row(row: &sqlx::any::AnyRow) -> DbResult<PayloadRow> {
    Ok(PayloadRow {
        idx: u32_of(row, "idx")?,
        size: to_u64(row.try_get("size")?, "size")?,
        upload_id: row.try_get("upload_id")?,
        nonce: row.try_get("nonce")?,
        complete: row.try_get::<i64, _>("complete")? != 0,
    })
}

/// One payload row.
pub async fn payload(pool: &sqlx::AnyPool, message_id: &str, idx: u32) -> DbResult<Option<PayloadRow>> {
    let row =
        sqlx::query("SELECT idx, size, upload_id, nonce, complete FROM payloads WHERE message_id = $1 AND idx = $2")
            .bind(message_id)
            .bind(i64::from(idx))
            .fetch_optional(pool)
            .await?;
    row.as_ref().map(payload_from_row).transpose()
}

/// Stored parts of one payload, in order.
pub async fn parts(pool: &sqlx::AnyPool, message_id: &str, payload_idx: u32) -> DbResult<Vec<PartRow>> {
    let rows = sqlx::query(
        "SELECT part_idx, size, sha256, tag FROM payload_parts WHERE message_id = $1 AND payload_idx = $2 \
         ORDER BY part_idx",
    )
    .bind(message_id)
    .bind(i64::from(payload_idx))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PartRow {
                part_idx: u32_of(row, "part_idx")?,
                size: to_u64(row.try_get("size")?, "size")?,
                sha256: row.try_get("sha256")?,
                tag: row.try_get("tag")?,
            })
        })
        .collect()
}

/// Records the blob-store upload id of a payload, unless one is already recorded (a concurrent
/// request won); returns the upload id that is recorded.
pub async fn set_upload_id(tx: &mut Tx, message_id: &str, idx: u32, upload_id: &str) -> DbResult<String> {
    sqlx::query("UPDATE payloads SET upload_id = $1 WHERE message_id = $2 AND idx = $3 AND upload_id IS NULL")
        .bind(upload_id)
        .bind(message_id)
        .bind(i64::from(idx))
        .execute(&mut **tx)
        .await?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT upload_id FROM payloads WHERE message_id = $1 AND idx = $2")
            .bind(message_id)
            .bind(i64::from(idx))
            .fetch_one(&mut **tx)
            .await?;
    stored.ok_or_else(|| super::DbError::Corrupt("upload id vanished".into()))
}

/// Records (or replaces) a stored part, only while the message is a draft and the payload is open.
#[allow(clippy::too_many_arguments)]
pub async fn put_part(
    tx: &mut Tx,
    message_id: &str,
    payload_idx: u32,
    part_idx: u32,
    size: u64,
    sha256: &[u8],
    tag: &str,
    nonce: Option<&[u8]>,
) -> DbResult<bool> {
    // Lock the payload row first (and check it is still open).
    let open = sqlx::query(
        "UPDATE payloads SET nonce = COALESCE($1, nonce) WHERE message_id = $2 AND idx = $3 AND complete = 0 \
         AND EXISTS (SELECT 1 FROM messages WHERE id = $2 AND state = 'draft')",
    )
    .bind(nonce)
    .bind(message_id)
    .bind(i64::from(payload_idx))
    .execute(&mut **tx)
    .await?;
    if open.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO payload_parts (message_id, payload_idx, part_idx, size, sha256, tag) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (message_id, payload_idx, part_idx) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, \
         tag = excluded.tag",
    )
    .bind(message_id)
    .bind(i64::from(payload_idx))
    .bind(i64::from(part_idx))
    .bind(to_i64(size)?)
    .bind(sha256)
    .bind(tag)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Marks a payload published.
pub async fn complete_payload(tx: &mut Tx, message_id: &str, idx: u32) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE payloads SET complete = 1 WHERE message_id = $1 AND idx = $2 \
         AND EXISTS (SELECT 1 FROM messages WHERE id = $1 AND state = 'draft')",
    )
    .bind(message_id)
    .bind(i64::from(idx))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the header digest (header blob stored), only on drafts.
pub async fn set_header(tx: &mut Tx, message_id: &str, sha256: &[u8]) -> DbResult<bool> {
    let done = sqlx::query("UPDATE messages SET header_sha256 = $1 WHERE id = $2 AND state = 'draft'")
        .bind(sha256)
        .bind(message_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Recipients of a message, in the sender's order.
pub async fn recipients(pool: &sqlx::AnyPool, message_id: &str) -> DbResult<Vec<RecipientRow>> {
    let rows = sqlx::query(
        "SELECT r.rid, r.position, r.kind, r.user_id, u.address, r.phone, r.notify_address, r.verification, r.state, \
         CASE WHEN r.share_ct IS NULL THEN 0 ELSE 1 END AS has_share, r.revoke_at, r.revoked_at, r.releases, \
         r.access_id, r.failures, r.locked_at \
         FROM recipients r LEFT JOIN users u ON u.id = r.user_id WHERE r.message_id = $1 ORDER BY r.position",
    )
    .bind(message_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RecipientRow {
                rid: row.try_get("rid")?,
                position: u32_of(row, "position")?,
                kind: row.try_get("kind")?,
                user_id: row.try_get("user_id")?,
                address: row.try_get("address")?,
                phone: row.try_get("phone")?,
                notify_address: row.try_get("notify_address")?,
                verification: row.try_get("verification")?,
                state: row.try_get("state")?,
                has_share: row.try_get::<i64, _>("has_share")? != 0,
                revoke_at: row.try_get("revoke_at")?,
                revoked_at: row.try_get("revoked_at")?,
                releases: to_u64(row.try_get("releases")?, "releases")?,
                access_id: row.try_get("access_id")?,
                failures: u32_of(row, "failures")?,
                locked_at: row.try_get("locked_at")?,
            })
        })
        .collect()
}

/// Seals a draft: stores every recipient's wrapped share and flips the state, all or nothing.
/// Returns false (and changes nothing) if the message is no longer a draft.
pub async fn seal(tx: &mut Tx, message_id: &str, seal: &str, shares: &[(String, Vec<u8>)], now: i64) -> DbResult<bool> {
    let flipped = sqlx::query(
        "UPDATE messages SET state = 'sealed', seal = $1, sealed_at = $2 WHERE id = $3 AND state = 'draft'",
    )
    .bind(seal)
    .bind(now)
    .bind(message_id)
    .execute(&mut **tx)
    .await?;
    if flipped.rows_affected() != 1 {
        return Ok(false);
    }
    for (rid, share_ct) in shares {
        let stored = sqlx::query("UPDATE recipients SET share_ct = $1 WHERE message_id = $2 AND rid = $3")
            .bind(share_ct.as_slice())
            .bind(message_id)
            .bind(rid)
            .execute(&mut **tx)
            .await?;
        if stored.rows_affected() != 1 {
            return Err(super::DbError::Corrupt("share for an unknown recipient".into()));
        }
    }
    Ok(true)
}

/// Ends a message (revoked, expired or deleted) and destroys every share, in the caller's
/// transaction. Returns the state it left, or None if nothing changed. Live messages (draft,
/// sealed) may end in any way; revoked or expired ones may still be deleted.
pub async fn end_message(tx: &mut Tx, message_id: &str, new_state: &str, now: i64) -> DbResult<Option<&'static str>> {
    let mut from: Vec<&'static str> = vec![state::SEALED, state::DRAFT];
    if new_state == state::DELETED {
        from.extend([state::REVOKED, state::EXPIRED]);
    }
    for previous in from {
        let done = sqlx::query(
            "UPDATE messages SET state = $1, ended_at = COALESCE(ended_at, $2) WHERE id = $3 AND state = $4",
        )
        .bind(new_state)
        .bind(now)
        .bind(message_id)
        .bind(previous)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 1 {
            shred_all(tx, message_id, now).await?;
            return Ok(Some(previous));
        }
    }
    Ok(None)
}

async fn shred_all(tx: &mut Tx, message_id: &str, now: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE recipients SET share_ct = NULL, state = 'revoked', revoked_at = COALESCE(revoked_at, $1) \
         WHERE message_id = $2",
    )
    .bind(now)
    .bind(message_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes one recipient now (destroying its share). False if it was not active or the message is not live.
pub async fn revoke_recipient(tx: &mut Tx, message_id: &str, rid: &str, now: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE recipients SET share_ct = NULL, state = 'revoked', revoked_at = $1 \
         WHERE message_id = $2 AND rid = $3 AND state = 'active'",
    )
    .bind(now)
    .bind(message_id)
    .bind(rid)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Schedules (or clears) a revocation of the message or of one recipient.
pub async fn schedule_revoke(tx: &mut Tx, message_id: &str, rid: Option<&str>, at: Option<i64>) -> DbResult<bool> {
    let done = match rid {
        None => {
            sqlx::query("UPDATE messages SET revoke_at = $1 WHERE id = $2 AND state IN ('draft', 'sealed')")
                .bind(at)
                .bind(message_id)
                .execute(&mut **tx)
                .await?
        }
        Some(rid) => {
            sqlx::query(
                "UPDATE recipients SET revoke_at = $1 WHERE message_id = $2 AND rid = $3 AND state = 'active' \
                 AND EXISTS (SELECT 1 FROM messages WHERE id = $2 AND state IN ('draft', 'sealed'))",
            )
            .bind(at)
            .bind(message_id)
            .bind(rid)
            .execute(&mut **tx)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Changes the expiry of a live message.
pub async fn set_expiry(tx: &mut Tx, message_id: &str, expires_at: i64, now: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE messages SET expires_at = $1 WHERE id = $2 AND state IN ('draft', 'sealed') AND expires_at > $3",
    )
    .bind(expires_at)
    .bind(message_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Brings a live message's expiry forward to `to` if it is later (the revocation fence
/// re-applying a shortened expiry). Whether it changed anything.
pub async fn shorten_expiry(tx: &mut Tx, message_id: &str, to: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE messages SET expires_at = $1 WHERE id = $2 AND state IN ('draft', 'sealed') AND expires_at > $1",
    )
    .bind(to)
    .bind(message_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Brings a scheduled revocation of a live message (`rid` None) or of an active recipient
/// forward to `at`, or sets it when there is none (the revocation fence re-applying a
/// schedule). Whether it changed anything.
pub async fn advance_revoke(tx: &mut Tx, message_id: &str, rid: Option<&str>, at: i64) -> DbResult<bool> {
    let done = match rid {
        None => {
            sqlx::query(
                "UPDATE messages SET revoke_at = $1 WHERE id = $2 AND state IN ('draft', 'sealed') \
                 AND (revoke_at IS NULL OR revoke_at > $1)",
            )
            .bind(at)
            .bind(message_id)
            .execute(&mut **tx)
            .await?
        }
        Some(rid) => {
            sqlx::query(
                "UPDATE recipients SET revoke_at = $1 WHERE message_id = $2 AND rid = $3 AND state = 'active' \
                 AND (revoke_at IS NULL OR revoke_at > $1)",
            )
            .bind(at)
            .bind(message_id)
            .bind(rid)
            .execute(&mut **tx)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Releases one recipient's wrapped server share: one conditional update that checks every
/// condition (message sealed, not expired, not due for revocation; recipient active, share
/// present, not due for revocation) and counts the release. None when any condition fails.
pub async fn release_share(tx: &mut Tx, message_id: &str, rid: &str, now: i64) -> DbResult<Option<(Vec<u8>, u64)>> {
    let row = sqlx::query(
        "UPDATE recipients SET releases = releases + 1 \
         WHERE message_id = $1 AND rid = $2 AND state = 'active' AND share_ct IS NOT NULL AND locked_at IS NULL \
           AND (revoke_at IS NULL OR revoke_at > $3) \
           AND EXISTS (SELECT 1 FROM messages m WHERE m.id = $1 AND m.state = 'sealed' AND m.expires_at > $3 \
                       AND (m.revoke_at IS NULL OR m.revoke_at > $3) \
                       AND (m.max_opens IS NULL OR recipients.releases < m.max_opens)) \
         RETURNING share_ct, releases",
    )
    .bind(message_id)
    .bind(rid)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let share: Option<Vec<u8>> = row.try_get("share_ct")?;
    let releases = to_u64(row.try_get("releases")?, "releases")?;
    Ok(share.map(|s| (s, releases)))
}

/// Ids of live messages that are due to end (expired or scheduled revocation reached), oldest first.
pub async fn due_messages(pool: &sqlx::AnyPool, now: i64, limit: u32) -> DbResult<Vec<(String, &'static str)>> {
    let rows = sqlx::query(
        "SELECT id, CASE WHEN revoke_at IS NOT NULL AND revoke_at <= $1 AND revoke_at <= expires_at \
         THEN 'revoked' ELSE 'expired' END AS next_state FROM messages \
         WHERE state IN ('draft', 'sealed') AND (expires_at <= $1 OR (revoke_at IS NOT NULL AND revoke_at <= $1)) \
         ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let next: String = row.try_get("next_state")?;
            Ok((
                id,
                if next == "revoked" {
                    state::REVOKED
                } else {
                    state::EXPIRED
                },
            ))
        })
        .collect()
}

/// Recipients whose scheduled revocation is due, on live messages.
pub async fn due_recipients(pool: &sqlx::AnyPool, now: i64, limit: u32) -> DbResult<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT message_id, rid FROM recipients WHERE state = 'active' AND revoke_at IS NOT NULL AND revoke_at <= $1 \
         LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("message_id")?, row.try_get("rid")?)))
        .collect()
}

/// Drafts created before `cutoff` (abandoned uploads).
pub async fn abandoned_drafts(pool: &sqlx::AnyPool, cutoff: i64, limit: u32) -> DbResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM messages WHERE state = 'draft' AND created_at < $1 LIMIT $2")
            .bind(cutoff)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?,
    )
}
