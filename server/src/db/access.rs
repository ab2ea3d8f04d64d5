//! Recipient access: links, one-time codes, sessions, failure counts and locks, TOTP enrolment
//! and recovery codes. Every decision that must hold across replicas is one conditional
//! statement here (a code is used once, a TOTP step is accepted once, a lock is set once).

use sqlx::Row;

use super::{DbError, DbResult, Tx};

/// A recipient reached through its link, with what the access checks need.
#[derive(Debug, Clone)]
pub struct AccessRow {
    /// The link id.
    pub access_id: String,
    /// Message.
    pub message_id: String,
    /// Recipient id.
    pub rid: String,
    /// Sending organisation.
    pub org_id: String,
    /// `account` or `guest`.
    pub kind: String,
    /// `sms` or `totp`.
    pub verification: String,
    /// Guest phone (E.164).
    pub phone: Option<String>,
    /// Account recipient.
    pub user_id: Option<String>,
    /// `active` or `revoked`.
    pub recipient_state: String,
    /// Scheduled revocation of this recipient.
    pub recipient_revoke_at: Option<i64>,
    /// Whether the server share is still stored.
    pub has_share: bool,
    /// Wrong entries so far.
    pub failures: u32,
    /// Locked at.
    pub locked_at: Option<i64>,
    /// Releases so far.
    pub releases: u64,
    /// Message state (`draft`, `sealed`, `revoked`, `expired`, `deleted`).
    pub message_state: String,
    /// Message expiry.
    pub expires_at: i64,
    /// Scheduled revocation of the message.
    pub message_revoke_at: Option<i64>,
    /// Open limit per recipient.
    pub max_opens: Option<u32>,
    /// The sender's user id.
    pub sender_id: String,
}

fn u32_of(row: &sqlx::any::AnyRow, column: &str) -> DbResult<u32> {
    u32::try_from(row.try_get::<i64, _>(column)?).map_err(|_| DbError::Corrupt(column.into()))
}

/// The recipient behind a link id.
pub async fn by_access_id(pool: &sqlx::AnyPool, access_id: &str) -> DbResult<Option<AccessRow>> {
    let row = sqlx::query(
        "SELECT r.access_id, r.message_id, r.rid, m.org_id, r.kind, r.verification, r.phone, r.user_id, \
         r.state AS recipient_state, r.revoke_at AS recipient_revoke_at, \
         CASE WHEN r.share_ct IS NULL THEN 0 ELSE 1 END AS has_share, r.failures, r.locked_at, r.releases, \
         m.state AS message_state, m.expires_at, m.revoke_at AS message_revoke_at, m.max_opens, m.sender_id \
         FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.access_id = $1",
    )
    .bind(access_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(AccessRow {
        access_id: row.try_get("access_id")?,
        message_id: row.try_get("message_id")?,
        rid: row.try_get("rid")?,
        org_id: row.try_get("org_id")?,
        kind: row.try_get("kind")?,
        verification: row.try_get("verification")?,
        phone: row.try_get("phone")?,
        user_id: row.try_get("user_id")?,
        recipient_state: row.try_get("recipient_state")?,
        recipient_revoke_at: row.try_get("recipient_revoke_at")?,
        has_share: row.try_get::<i64, _>("has_share")? != 0,
        failures: u32_of(&row, "failures")?,
        locked_at: row.try_get("locked_at")?,
        releases: super::to_u64(row.try_get("releases")?, "releases")?,
        message_state: row.try_get("message_state")?,
        expires_at: row.try_get("expires_at")?,
        message_revoke_at: row.try_get("message_revoke_at")?,
        max_opens: row
            .try_get::<Option<i64>, _>("max_opens")?
            .map(|v| u32::try_from(v).map_err(|_| DbError::Corrupt("max_opens".into())))
            .transpose()?,
        sender_id: row.try_get("sender_id")?,
    }))
}

/// Counts one wrong entry against a recipient and locks it when the count reaches `limit`.
/// Returns the count after this entry.
pub async fn add_failure(tx: &mut Tx, message_id: &str, rid: &str, limit: u32, now: i64) -> DbResult<u32> {
    let failures: i64 = sqlx::query_scalar(
        "UPDATE recipients SET failures = failures + 1, \
         locked_at = CASE WHEN locked_at IS NULL AND failures + 1 >= $1 THEN $2 ELSE locked_at END \
         WHERE message_id = $3 AND rid = $4 RETURNING failures",
    )
    .bind(i64::from(limit))
    .bind(now)
    .bind(message_id)
    .bind(rid)
    .fetch_one(&mut **tx)
    .await?;
    u32::try_from(failures).map_err(|_| DbError::Corrupt("failures".into()))
}

/// Clears a recipient's lock and failure count (the sender's decision).
pub async fn unlock(tx: &mut Tx, message_id: &str, rid: &str) -> DbResult<bool> {
    Ok(
        sqlx::query("UPDATE recipients SET failures = 0, locked_at = NULL WHERE message_id = $1 AND rid = $2")
            .bind(message_id)
            .bind(rid)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A one-time code as stored (hashed).
#[derive(Debug, Clone)]
pub struct CodeRow {
    /// Id.
    pub id: String,
    /// Per-code salt of the hash.
    pub salt: Vec<u8>,
    /// `SHA-256(label ‖ access id ‖ salt ‖ code)`.
    pub code_hash: Vec<u8>,
    /// Issued at.
    pub created_at: i64,
    /// Valid until.
    pub expires_at: i64,
    /// Wrong entries against this code.
    pub failures: u32,
    /// Accepted at (once).
    pub used_at: Option<i64>,
}

/// The newest code issued for a link, used or not.
pub async fn latest_code(pool: &sqlx::AnyPool, access_id: &str) -> DbResult<Option<CodeRow>> {
    let row = sqlx::query(
        "SELECT id, salt, code_hash, created_at, expires_at, failures, used_at FROM access_codes \
         WHERE access_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(access_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(CodeRow {
        id: row.try_get("id")?,
        salt: row.try_get("salt")?,
        code_hash: row.try_get("code_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        failures: u32_of(&row, "failures")?,
        used_at: row.try_get("used_at")?,
    }))
}

/// Stores a new code and voids every earlier unused one of the same link.
pub async fn insert_code(tx: &mut Tx, access_id: &str, code: &CodeRow) -> DbResult<()> {
    sqlx::query("UPDATE access_codes SET used_at = $1 WHERE access_id = $2 AND used_at IS NULL")
        .bind(code.created_at)
        .bind(access_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO access_codes (id, access_id, salt, code_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&code.id)
    .bind(access_id)
    .bind(&code.salt)
    .bind(&code.code_hash)
    .bind(code.created_at)
    .bind(code.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes a code whose delivery failed, so that it neither counts nor throttles.
pub async fn delete_code(pool: &sqlx::AnyPool, id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM access_codes WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Marks a code used — once: false if it was already used, expired or void.
pub async fn use_code(tx: &mut Tx, id: &str, now: i64, max_failures: u32) -> DbResult<bool> {
    Ok(sqlx::query(
        "UPDATE access_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1 \
         AND failures < $3",
    )
    .bind(now)
    .bind(id)
    .bind(i64::from(max_failures))
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Counts a wrong entry against a code; returns its failures after this one.
pub async fn code_failure(tx: &mut Tx, id: &str) -> DbResult<u32> {
    let failures: i64 =
        sqlx::query_scalar("UPDATE access_codes SET failures = failures + 1 WHERE id = $1 RETURNING failures")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
    u32::try_from(failures).map_err(|_| DbError::Corrupt("failures".into()))
}

/// Stores a session (its token's hash).
pub async fn insert_session(
    tx: &mut Tx,
    token_hash: &[u8; 32],
    access_id: &str,
    stage: &str,
    now: i64,
    expires_at: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO access_sessions (token_hash, access_id, stage, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash.as_slice())
    .bind(access_id)
    .bind(stage)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The link and stage of a live session.
pub async fn session(pool: &sqlx::AnyPool, token_hash: &[u8; 32], now: i64) -> DbResult<Option<(String, String)>> {
    let row = sqlx::query("SELECT access_id, stage FROM access_sessions WHERE token_hash = $1 AND expires_at > $2")
        .bind(token_hash.as_slice())
        .bind(now)
        .fetch_optional(pool)
        .await?;
    row.map(|r| Ok((r.try_get("access_id")?, r.try_get("stage")?)))
        .transpose()
}

/// Extends a session by `idle_ms` from `now`, never past `max_ms` after its creation.
pub async fn touch_session(
    pool: &sqlx::AnyPool,
    token_hash: &[u8; 32],
    now: i64,
    idle_ms: i64,
    max_ms: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE access_sessions SET expires_at = CASE WHEN created_at + $1 < $2 THEN created_at + $1 ELSE $2 END \
         WHERE token_hash = $3 AND expires_at < $2",
    )
    .bind(max_ms)
    .bind(now.saturating_add(idle_ms))
    .bind(token_hash.as_slice())
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends a session (a password-stage session is spent by the verification that follows it).
pub async fn delete_session(tx: &mut Tx, token_hash: &[u8; 32]) -> DbResult<()> {
    sqlx::query("DELETE FROM access_sessions WHERE token_hash = $1")
        .bind(token_hash.as_slice())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops expired sessions and codes older than `codes_before`.
pub async fn prune(pool: &sqlx::AnyPool, now: i64, codes_before: i64) -> DbResult<u64> {
    let sessions = sqlx::query("DELETE FROM access_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
    let codes = sqlx::query("DELETE FROM access_codes WHERE expires_at <= $1")
        .bind(codes_before)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(sessions + codes)
}

/// TOTP state of a user.
#[derive(Debug, Clone, Default)]
pub struct TotpRow {
    /// The active seed (wrapped).
    pub secret: Option<Vec<u8>>,
    /// A seed awaiting confirmation (wrapped).
    pub pending: Option<Vec<u8>>,
    /// The last step accepted.
    pub last_step: Option<i64>,
    /// The user's login-key hash, for the password step.
    pub login_key_hash: Option<Vec<u8>>,
    /// The user's key blob.
    pub keyblob: Option<String>,
    /// Address, for the otpauth label.
    pub address: String,
}

/// The TOTP state and login material of a user.
pub async fn totp(pool: &sqlx::AnyPool, user_id: &str) -> DbResult<Option<TotpRow>> {
    let row = sqlx::query(
        "SELECT totp_secret, totp_pending, totp_last_step, login_key_hash, keyblob, address FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TotpRow {
        secret: row.try_get("totp_secret")?,
        pending: row.try_get("totp_pending")?,
        last_step: row.try_get("totp_last_step")?,
        login_key_hash: row.try_get("login_key_hash")?,
        keyblob: row.try_get("keyblob")?,
        address: row.try_get("address")?,
    }))
}

/// Stores a pending seed (replacing any earlier pending one).
pub async fn set_totp_pending(pool: &sqlx::AnyPool, user_id: &str, wrapped: &[u8]) -> DbResult<()> {
    sqlx::query("UPDATE users SET totp_pending = $1 WHERE id = $2")
        .bind(wrapped)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Makes the pending seed active (if it is still the one confirmed), accepting `step`, and
/// replaces the recovery codes.
pub async fn enable_totp(
    tx: &mut Tx,
    user_id: &str,
    pending: &[u8],
    step: i64,
    recovery_hashes: &[[u8; 32]],
    now: i64,
) -> DbResult<bool> {
    let flipped = sqlx::query(
        "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $1, totp_enabled_at = $2 \
         WHERE id = $3 AND totp_pending = $4",
    )
    .bind(step)
    .bind(now)
    .bind(user_id)
    .bind(pending)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !flipped {
        return Ok(false);
    }
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for hash in recovery_hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(hash.as_slice())
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(true)
}

/// Accepts TOTP step `step` for a user — once, and never a step at or before the last accepted.
pub async fn accept_totp_step(tx: &mut Tx, user_id: &str, step: i64) -> DbResult<bool> {
    Ok(sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_secret IS NOT NULL \
         AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Spends a recovery code — once.
pub async fn use_recovery_code(tx: &mut Tx, user_id: &str, hash: &[u8; 32], now: i64) -> DbResult<bool> {
    Ok(
        sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now)
            .bind(user_id)
            .bind(hash.as_slice())
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Recovery codes left unused.
pub async fn recovery_codes_left(pool: &sqlx::AnyPool, user_id: &str) -> DbResult<u32> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .fetch_one(pool)
        .await?;
    u32::try_from(n).map_err(|_| DbError::Corrupt("recovery code count".into()))
}
