//! Organisations, users, API tokens and the key directory.

use sqlx::Row;

use super::{DbResult, Tx, to_i64, to_u64};

/// An organisation row.
#[derive(Debug, Clone)]
pub struct OrgRow {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Byte quota.
    pub quota_bytes: u64,
    /// Live-message quota.
    pub quota_messages: u64,
    /// Bytes reserved by live messages.
    pub used_bytes: u64,
    /// Live messages.
    pub used_messages: u64,
}

/// A user row (public keys included, key blob excluded).
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Id.
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Lower-case e-mail address.
    pub address: String,
    /// Space-separated roles.
    pub roles: String,
    /// Byte quota.
    pub quota_bytes: u64,
    /// Live-message quota.
    pub quota_messages: u64,
    /// Bytes reserved.
    pub used_bytes: u64,
    /// Live messages.
    pub used_messages: u64,
    /// Published X25519 key.
    pub x25519_pk: Option<Vec<u8>>,
    /// Published Ed25519 key.
    pub ed25519_pk: Option<Vec<u8>>,
    /// Disabled users cannot authenticate.
    pub disabled: bool,
}

/// What a valid token grants.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// Token id.
    pub token_id: String,
    /// Owner.
    pub user_id: String,
    /// Owner's organisation.
    pub org_id: String,
    /// Owner's roles.
    pub roles: String,
    /// Token scopes.
    pub scopes: String,
}

/// A token as listed (never the secret, never its hash).
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Owner's address.
    pub address: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: String,
    /// Created.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Revoked at.
    pub revoked_at: Option<i64>,
    /// Last use (minute precision).
    pub last_used_at: Option<i64>,
}

const USER_COLUMNS: &str = "id, org_id, address, roles, quota_bytes, quota_messages, used_bytes, used_messages, \
                            x25519_pk, ed25519_pk, disabled";

fn user_from_row(row: &sqlx::any::AnyRow) -> DbResult<UserRow> {
    Ok(UserRow {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        address: row.try_get("address")?,
        roles: row.try_get("roles")?,
        quota_bytes: to_u64(row.try_get("quota_bytes")?, "quota")?,
        quota_messages: to_u64(row.try_get("quota_messages")?, "quota")?,
        used_bytes: to_u64(row.try_get("used_bytes")?, "usage")?,
        used_messages: to_u64(row.try_get("used_messages")?, "usage")?,
        x25519_pk: row.try_get("x25519_pk")?,
        ed25519_pk: row.try_get("ed25519_pk")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

fn org_from_row(row: &sqlx::any::AnyRow) -> DbResult<OrgRow> {
    Ok(OrgRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        quota_bytes: to_u64(row.try_get("quota_bytes")?, "quota")?,
        quota_messages: to_u64(row.try_get("quota_messages")?, "quota")?,
        used_bytes: to_u64(row.try_get("used_bytes")?, "usage")?,
        used_messages: to_u64(row.try_get("used_messages")?, "usage")?,
    })
}

/// Inserts an organisation.
pub async fn insert_org(
    tx: &mut Tx,
    id: &str,
    name: &str,
    quota_bytes: u64,
    quota_messages: u64,
    now: i64,
) -> DbResult<()> {
    sqlx::query("INSERT INTO orgs (id, name, quota_bytes, quota_messages, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(name)
        .bind(to_i64(quota_bytes)?)
        .bind(to_i64(quota_messages)?)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An organisation by name.
pub async fn org_by_name(pool: &sqlx::AnyPool, name: &str) -> DbResult<Option<OrgRow>> {
    let row = sqlx::query(
        "SELECT id, name, quota_bytes, quota_messages, used_bytes, used_messages FROM orgs WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(org_from_row).transpose()
}

/// An organisation by id.
pub async fn org_by_id(pool: &sqlx::AnyPool, id: &str) -> DbResult<Option<OrgRow>> {
    let row =
        sqlx::query("SELECT id, name, quota_bytes, quota_messages, used_bytes, used_messages FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    row.as_ref().map(org_from_row).transpose()
}

/// Inserts a user.
#[allow(clippy::too_many_arguments)]
pub async fn insert_user(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    address: &str,
    roles: &str,
    quota_bytes: u64,
    quota_messages: u64,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO users (id, org_id, address, roles, quota_bytes, quota_messages, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(org_id)
    .bind(address)
    .bind(roles)
    .bind(to_i64(quota_bytes)?)
    .bind(to_i64(quota_messages)?)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A user by address.
pub async fn user_by_address(pool: &sqlx::AnyPool, address: &str) -> DbResult<Option<UserRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE address = $1"
    )))
    .bind(address)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// A user by id.
pub async fn user_by_id(pool: &sqlx::AnyPool, id: &str) -> DbResult<Option<UserRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Users of an organisation, by address.
pub async fn users_of_org(pool: &sqlx::AnyPool, org_id: &str) -> DbResult<Vec<UserRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 ORDER BY address"
    )))
    .bind(org_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(user_from_row).collect()
}

/// Inserts a token (its hash only).
#[allow(clippy::too_many_arguments)]
pub async fn insert_token(
    tx: &mut Tx,
    id: &str,
    user_id: &str,
    name: &str,
    token_hash: &[u8],
    scopes: &str,
    expires_at: Option<i64>,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(scopes)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Looks a token up by its hash; only live tokens of enabled users match. Read on every request,
/// so a revocation is seen by every replica at its next request.
pub async fn token_grant(pool: &sqlx::AnyPool, token_hash: &[u8], now: i64) -> DbResult<Option<TokenGrant>> {
    let row = sqlx::query(
        "SELECT t.id AS token_id, t.user_id, u.org_id, u.roles, t.scopes, t.last_used_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2) \
           AND u.disabled = 0",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let grant = TokenGrant {
        token_id: row.try_get("token_id")?,
        user_id: row.try_get("user_id")?,
        org_id: row.try_get("org_id")?,
        roles: row.try_get("roles")?,
        scopes: row.try_get("scopes")?,
    };
    // Last use at minute precision: one write per token per minute at most.
    let last: Option<i64> = row.try_get("last_used_at")?;
    if last.is_none_or(|l| now - l >= 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&grant.token_id)
            .execute(pool)
            .await?;
    }
    Ok(Some(grant))
}

/// Tokens of one organisation (all users) or of one user.
pub async fn list_tokens(pool: &sqlx::AnyPool, org_id: &str, user_id: Option<&str>) -> DbResult<Vec<TokenRow>> {
    let rows = sqlx::query(
        "SELECT t.id, t.user_id, u.address, t.name, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.last_used_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE u.org_id = $1 AND ($2 IS NULL OR t.user_id = $2) ORDER BY t.created_at, t.id",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TokenRow {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                address: row.try_get("address")?,
                name: row.try_get("name")?,
                scopes: row.try_get("scopes")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                last_used_at: row.try_get("last_used_at")?,
            })
        })
        .collect()
}

/// Revokes a token of the organisation (optionally only if owned by `user_id`); false if none matched.
pub async fn revoke_token(
    tx: &mut Tx,
    token_id: &str,
    org_id: &str,
    user_id: Option<&str>,
    now: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 \
         WHERE id = $2 AND revoked_at IS NULL AND ($4 IS NULL OR user_id = $4) \
           AND user_id IN (SELECT id FROM users WHERE org_id = $3)",
    )
    .bind(now)
    .bind(token_id)
    .bind(org_id)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Publishes a user's keys (and, for users who receive messages, their key blob and login-key hash).
pub async fn set_keys(
    tx: &mut Tx,
    user_id: &str,
    x25519_pk: &[u8],
    ed25519_pk: &[u8],
    keyblob: Option<&str>,
    login_key_hash: Option<&[u8]>,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE users SET x25519_pk = $1, ed25519_pk = $2, keyblob = $3, login_key_hash = $4, keys_updated_at = $5 \
         WHERE id = $6",
    )
    .bind(x25519_pk)
    .bind(ed25519_pk)
    .bind(keyblob)
    .bind(login_key_hash)
    .bind(now)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Reserves quota for a new message against both the organisation and the sender; false when either
/// would go over. Conditional updates, so concurrent reservations on any replica never overshoot.
pub async fn reserve_quota(tx: &mut Tx, org_id: &str, user_id: &str, bytes: u64) -> DbResult<bool> {
    let bytes = to_i64(bytes)?;
    let org = sqlx::query(
        "UPDATE orgs SET used_bytes = used_bytes + $1, used_messages = used_messages + 1 \
         WHERE id = $2 AND used_bytes + $1 <= quota_bytes AND used_messages + 1 <= quota_messages",
    )
    .bind(bytes)
    .bind(org_id)
    .execute(&mut **tx)
    .await?;
    if org.rows_affected() != 1 {
        return Ok(false);
    }
    let user = sqlx::query(
        "UPDATE users SET used_bytes = used_bytes + $1, used_messages = used_messages + 1 \
         WHERE id = $2 AND used_bytes + $1 <= quota_bytes AND used_messages + 1 <= quota_messages",
    )
    .bind(bytes)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(user.rows_affected() == 1)
}

/// Gives back a message's reservation (exactly once: guarded by the message's `released_quota` flag).
pub async fn release_quota(tx: &mut Tx, message_id: &str) -> DbResult<()> {
    let row = sqlx::query(
        "UPDATE messages SET released_quota = 1 WHERE id = $1 AND released_quota = 0 \
         RETURNING org_id, sender_id, reserved_bytes",
    )
    .bind(message_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let org_id: String = row.try_get("org_id")?;
    let sender_id: String = row.try_get("sender_id")?;
    let bytes: i64 = row.try_get("reserved_bytes")?;
    for table in ["orgs", "users"] {
        let id = if table == "orgs" { &org_id } else { &sender_id };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET used_bytes = used_bytes - $1, used_messages = used_messages - 1 WHERE id = $2"
        )))
        .bind(bytes)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Sets quotas of an organisation.
pub async fn set_org_quota(tx: &mut Tx, org_id: &str, bytes: u64, messages: u64) -> DbResult<bool> {
    let done = sqlx::query("UPDATE orgs SET quota_bytes = $1, quota_messages = $2 WHERE id = $3")
        .bind(to_i64(bytes)?)
        .bind(to_i64(messages)?)
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Key blob and login-key hash of a user, for the recipient sign-in.
pub async fn keyblob_by_address(pool: &sqlx::AnyPool, address: &str) -> DbResult<Option<(String, Vec<u8>)>> {
    let row = sqlx::query("SELECT keyblob, login_key_hash FROM users WHERE address = $1 AND disabled = 0")
        .bind(address)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let blob: Option<String> = row.try_get("keyblob")?;
    let hash: Option<Vec<u8>> = row.try_get("login_key_hash")?;
    Ok(blob.zip(hash))
}
