//! Organisations, users, API tokens and the key directory.

use sealpost_crypto::b64;
use sealpost_crypto::keyblob::KeyBlob;
use sealpost_crypto::primitives::sha256;
use serde::Serialize;

use super::{DomainError, DomainResult, Principal, Role, Scope, Services, parse_roles, parse_scopes};
use crate::config::Secret;
use crate::db::{DbError, accounts as q, ops};
use crate::ids;

/// An organisation as shown.
#[derive(Debug, Clone, Serialize)]
pub struct OrgInfo {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Byte quota and usage.
    pub quota_bytes: u64,
    /// Bytes in use.
    pub used_bytes: u64,
    /// Message quota.
    pub quota_messages: u64,
    /// Live messages.
    pub used_messages: u64,
}

/// A user as shown.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    /// Id.
    pub id: String,
    /// Organisation id.
    pub org_id: String,
    /// Address.
    pub address: String,
    /// Roles.
    pub roles: Vec<&'static str>,
    /// Byte quota.
    pub quota_bytes: u64,
    /// Bytes in use.
    pub used_bytes: u64,
    /// Message quota.
    pub quota_messages: u64,
    /// Live messages.
    pub used_messages: u64,
    /// Whether the user has published keys.
    pub has_keys: bool,
}

/// A token as listed (the secret is shown once, at creation, and never again).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Id.
    pub id: String,
    /// Owner address.
    pub user: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<&'static str>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: Option<String>,
    /// Revoked (RFC 3339).
    pub revoked_at: Option<String>,
    /// Last use, minute precision (RFC 3339).
    pub last_used_at: Option<String>,
}

/// A user's public keys, as the directory answers.
#[derive(Debug, Clone, Serialize)]
pub struct PublicKeys {
    /// Address.
    pub address: String,
    /// X25519 public key, base64.
    pub x25519_pk: String,
    /// Ed25519 public key, base64.
    pub ed25519_pk: String,
}

/// Normalises an e-mail address: trimmed, lower case, one `@`, no spaces or controls, ≤ 254 bytes.
pub fn normalize_address(text: &str) -> DomainResult<String> {
    let a = text.trim().to_lowercase();
    let ok = a.len() <= 254
        && a.split('@').count() == 2
        && a.split('@').all(|p| !p.is_empty())
        && a.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !is_invisible_format(c))
        && a.rsplit('@')
            .next()
            .is_some_and(|d| d.contains('.') || d == "localhost");
    if ok {
        Ok(a)
    } else {
        Err(DomainError::invalid(
            "invalid_address",
            "the address is not a valid e-mail address",
        ))
    }
}

fn user_info(u: q::UserRow) -> UserInfo {
    UserInfo {
        has_keys: u.x25519_pk.is_some(),
        roles: parse_roles(&u.roles).into_iter().map(Role::as_str).collect(),
        id: u.id,
        org_id: u.org_id,
        address: u.address,
        quota_bytes: u.quota_bytes,
        used_bytes: u.used_bytes,
        quota_messages: u.quota_messages,
        used_messages: u.used_messages,
    }
}

fn org_info(o: q::OrgRow) -> OrgInfo {
    OrgInfo {
        id: o.id,
        name: o.name,
        quota_bytes: o.quota_bytes,
        used_bytes: o.used_bytes,
        quota_messages: o.quota_messages,
        used_messages: o.used_messages,
    }
}

/// Creates an organisation (operator CLI).
pub async fn create_org(svc: &Services, name: &str, actor: &str) -> DomainResult<OrgInfo> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "invalid_name",
            "the organisation name must be 1–200 printable characters",
        ));
    }
    let id = ids::new_id()?;
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    match q::insert_org(
        &mut tx,
        &id,
        name,
        svc.limits.org_quota_bytes,
        svc.limits.org_quota_messages,
        now,
    )
    .await
    {
        Err(DbError::Duplicate) => {
            return Err(DomainError::conflict(
                "org_exists",
                "an organisation with this name already exists",
            ));
        }
        other => other?,
    }
    ops::record(&mut tx, now, &ops::Event::account(&id, actor, "org.created", None)).await?;
    tx.commit().await.map_err(DbError::from)?;
    let org = q::org_by_id(svc.db.pool(), &id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    Ok(org_info(org))
}

/// An organisation by name (operator CLI).
pub async fn org_by_name(svc: &Services, name: &str) -> DomainResult<OrgInfo> {
    q::org_by_name(svc.db.pool(), name.trim())
        .await?
        .map(org_info)
        .ok_or(DomainError::NotFound)
}

/// Creates a user in `org_id`.
pub async fn create_user(
    svc: &Services,
    org_id: &str,
    address: &str,
    roles: &[Role],
    actor: &str,
) -> DomainResult<UserInfo> {
    let address = normalize_address(address)?;
    if roles.is_empty() {
        return Err(DomainError::invalid("invalid_roles", "a user needs at least one role"));
    }
    let mut role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    role_names.sort_unstable();
    role_names.dedup();
    let id = ids::new_id()?;
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    let inserted = q::insert_user(
        &mut tx,
        &id,
        org_id,
        &address,
        &role_names.join(" "),
        svc.limits.sender_quota_bytes,
        svc.limits.sender_quota_messages,
        now,
    )
    .await;
    match inserted {
        Err(DbError::Duplicate) => {
            return Err(DomainError::conflict(
                "user_exists",
                "a user with this address already exists",
            ));
        }
        other => other?,
    }
    ops::record(
        &mut tx,
        now,
        &ops::Event::account(
            org_id,
            actor,
            "user.created",
            Some(serde_json::json!({ "user": id, "roles": role_names })),
        ),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    let user = q::user_by_id(svc.db.pool(), &id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    Ok(user_info(user))
}

/// Users of the caller's organisation (admin or DPO).
pub async fn list_users(svc: &Services, who: &Principal) -> DomainResult<Vec<UserInfo>> {
    who.require(Scope::Read)?;
    if !who.has_role(Role::Admin) && !who.has_role(Role::Dpo) {
        return Err(DomainError::Forbidden("listing users needs the admin or dpo role"));
    }
    Ok(q::users_of_org(svc.db.pool(), &who.org_id)
        .await?
        .into_iter()
        .map(user_info)
        .collect())
}

/// Creates a user in the caller's organisation (admin).
pub async fn create_user_as(svc: &Services, who: &Principal, address: &str, roles: &[Role]) -> DomainResult<UserInfo> {
    who.require(Scope::Admin)?;
    create_user(svc, &who.org_id, address, roles, &who.actor()).await
}

/// A user by address, for the operator CLI.
pub async fn user_by_address(svc: &Services, address: &str) -> DomainResult<UserInfo> {
    let address = normalize_address(address)?;
    q::user_by_address(svc.db.pool(), &address)
        .await?
        .map(user_info)
        .ok_or(DomainError::NotFound)
}

/// Issues a token for `user_id`. The secret is returned once and stored only as a hash.
pub async fn issue_token(
    svc: &Services,
    user_id: &str,
    name: &str,
    scopes: &[Scope],
    expires_in_days: Option<u32>,
    actor: &str,
) -> DomainResult<(TokenInfo, Secret)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "invalid_name",
            "the token name must be 1–100 printable characters",
        ));
    }
    if scopes.is_empty() {
        return Err(DomainError::invalid(
            "invalid_scopes",
            "a token needs at least one scope",
        ));
    }
    let user = q::user_by_id(svc.db.pool(), user_id)
        .await?
        .ok_or(DomainError::NotFound)?;
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let now = svc.clock.now_ms();
    let expires_at = match expires_in_days {
        Some(0) => {
            return Err(DomainError::invalid(
                "invalid_expiry",
                "expires_in_days must be at least 1",
            ));
        }
        Some(d) if d > 3650 => {
            return Err(DomainError::invalid(
                "invalid_expiry",
                "expires_in_days must be at most 3650",
            ));
        }
        Some(d) => Some(now + i64::from(d) * 86_400_000),
        None => None,
    };
    let id = ids::new_id()?;
    let (secret, hash) = ids::new_token()?;
    let mut tx = svc.db.begin_write().await?;
    q::insert_token(&mut tx, &id, &user.id, name, &hash, &names.join(" "), expires_at, now).await?;
    ops::record(
        &mut tx,
        now,
        &ops::Event::account(
            &user.org_id,
            actor,
            "token.created",
            Some(serde_json::json!({ "token": id, "user": user.id, "scopes": names })),
        ),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    let info = TokenInfo {
        id,
        user: user.address,
        name: name.to_owned(),
        scopes: names
            .iter()
            .filter_map(|s| Scope::parse(s))
            .map(Scope::as_str)
            .collect(),
        created_at: crate::clock::to_rfc3339(now),
        expires_at: expires_at.map(crate::clock::to_rfc3339),
        revoked_at: None,
        last_used_at: None,
    };
    Ok((info, secret))
}

/// Issues a token through the API: for oneself, or (admin) for any user of the organisation.
pub async fn issue_token_as(
    svc: &Services,
    who: &Principal,
    for_address: Option<&str>,
    name: &str,
    scopes: &[Scope],
    expires_in_days: Option<u32>,
) -> DomainResult<(TokenInfo, Secret)> {
    let user_id = match for_address {
        Some(address) => {
            who.require(Scope::Admin)?;
            let address = normalize_address(address)?;
            let user = q::user_by_address(svc.db.pool(), &address).await?;
            match user {
                Some(u) if u.org_id == who.org_id => u.id,
                _ => return Err(DomainError::NotFound),
            }
        }
        None => {
            // A token can mint tokens for its own user only with the admin scope (no escalation).
            who.require(Scope::Admin)?;
            who.user_id.clone()
        }
    };
    issue_token(svc, &user_id, name, scopes, expires_in_days, &who.actor()).await
}

/// Authenticates a bearer token; checked against the database on every request.
pub async fn authenticate(svc: &Services, bearer: &str) -> DomainResult<Principal> {
    if !bearer.starts_with(ids::TOKEN_PREFIX) || bearer.len() != ids::TOKEN_PREFIX.len() + 43 {
        return Err(DomainError::Unauthenticated);
    }
    let hash = ids::token_hash(bearer);
    let grant = q::token_grant(svc.db.pool(), &hash, svc.clock.now_ms())
        .await?
        .ok_or(DomainError::Unauthenticated)?;
    Ok(Principal {
        token_id: grant.token_id,
        user_id: grant.user_id,
        org_id: grant.org_id,
        roles: parse_roles(&grant.roles),
        scopes: parse_scopes(&grant.scopes),
    })
}

/// Tokens the caller may see: all of the organisation's for admins, else their own.
pub async fn list_tokens(svc: &Services, who: &Principal) -> DomainResult<Vec<TokenInfo>> {
    let only = if who.has_role(Role::Admin) && who.scopes.contains(&Scope::Admin) {
        None
    } else {
        Some(who.user_id.as_str())
    };
    let rows = q::list_tokens(svc.db.pool(), &who.org_id, only).await?;
    Ok(rows
        .into_iter()
        .map(|t| TokenInfo {
            scopes: parse_scopes(&t.scopes).into_iter().map(Scope::as_str).collect(),
            id: t.id,
            user: t.address,
            name: t.name,
            created_at: crate::clock::to_rfc3339(t.created_at),
            expires_at: t.expires_at.map(crate::clock::to_rfc3339),
            revoked_at: t.revoked_at.map(crate::clock::to_rfc3339),
            last_used_at: t.last_used_at.map(crate::clock::to_rfc3339),
        })
        .collect())
}

/// Revokes a token: one's own, or (admin) any of the organisation's. Effective at every
/// replica's next request, since tokens are checked in the database each time.
pub async fn revoke_token(svc: &Services, who: &Principal, token_id: &str) -> DomainResult<()> {
    let only = if who.has_role(Role::Admin) && who.scopes.contains(&Scope::Admin) {
        None
    } else {
        Some(who.user_id.as_str())
    };
    revoke_token_inner(svc, &who.org_id, only, token_id, &who.actor()).await
}

/// Revokes a token of an organisation (operator CLI or API).
pub async fn revoke_token_inner(
    svc: &Services,
    org_id: &str,
    only_user: Option<&str>,
    token_id: &str,
    actor: &str,
) -> DomainResult<()> {
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    if !q::revoke_token(&mut tx, token_id, org_id, only_user, now).await? {
        return Err(DomainError::NotFound);
    }
    ops::record(
        &mut tx,
        now,
        &ops::Event::account(
            org_id,
            actor,
            "token.revoked",
            Some(serde_json::json!({ "token": token_id })),
        ),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// The caller and their organisation.
pub async fn me(svc: &Services, who: &Principal) -> DomainResult<(UserInfo, OrgInfo)> {
    let user = q::user_by_id(svc.db.pool(), &who.user_id)
        .await?
        .ok_or(DomainError::Unauthenticated)?;
    let org = q::org_by_id(svc.db.pool(), &who.org_id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    Ok((user_info(user), org_info(org)))
}

/// Keys a user publishes.
#[derive(Debug)]
pub struct KeysUpload<'a> {
    /// X25519 public key, base64.
    pub x25519_pk: &'a str,
    /// Ed25519 public key, base64.
    pub ed25519_pk: &'a str,
    /// The password-protected private-key blob (JSON), for users who open messages in a browser.
    pub keyblob: Option<&'a serde_json::Value>,
    /// The login key derived from the password (base64); the server keeps only a hash.
    pub login_key: Option<&'a Secret>,
}

/// The stored form of a login key. The login key is already the output of Argon2id (format.md
/// §8), so a plain domain-separated SHA-256 keeps it as hard to guess as the password allows.
pub fn login_key_hash(login_key: &[u8; 32]) -> [u8; 32] {
    sha256(&[b"sealpost.org/v1/login-key-hash\0", login_key])
}

/// Publishes (or replaces) the caller's keys.
pub async fn publish_keys(svc: &Services, who: &Principal, keys: &KeysUpload<'_>) -> DomainResult<PublicKeys> {
    who.require(Scope::Keys)?;
    let x = b64::decode_array::<32>(keys.x25519_pk)
        .map_err(|_| DomainError::invalid("invalid_key", "x25519_pk must be base64 of 32 bytes"))?;
    let e = b64::decode_array::<32>(keys.ed25519_pk)
        .map_err(|_| DomainError::invalid("invalid_key", "ed25519_pk must be base64 of 32 bytes"))?;
    if x == [0u8; 32] || e == [0u8; 32] {
        return Err(DomainError::invalid("invalid_key", "public keys must not be all zeros"));
    }
    let (blob_text, login_hash) = match (keys.keyblob, keys.login_key) {
        (None, None) => (None, None),
        (Some(blob), Some(login)) => {
            let parsed: KeyBlob = serde_json::from_value(blob.clone())
                .map_err(|_| DomainError::invalid("invalid_keyblob", "keyblob is not a valid Sealpost key blob"))?;
            if parsed.v != 1 || parsed.kdf.params().is_err() {
                return Err(DomainError::invalid(
                    "invalid_keyblob",
                    "keyblob has an unsupported version or key-derivation parameters outside the allowed range",
                ));
            }
            if parsed.x25519_pk != keys.x25519_pk || parsed.ed25519_pk != keys.ed25519_pk {
                return Err(DomainError::invalid(
                    "invalid_keyblob",
                    "keyblob is for other public keys",
                ));
            }
            let login = b64::decode_array::<32>(login.expose())
                .map_err(|_| DomainError::invalid("invalid_login_key", "login_key must be base64 of 32 bytes"))?;
            let text = serde_json::to_string(&parsed).map_err(|_| DomainError::Unavailable)?;
            (Some(text), Some(login_key_hash(&login)))
        }
        _ => {
            return Err(DomainError::invalid(
                "invalid_keyblob",
                "keyblob and login_key must be given together",
            ));
        }
    };
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    q::set_keys(
        &mut tx,
        &who.user_id,
        &x,
        &e,
        blob_text.as_deref(),
        login_hash.as_ref().map(|h| h.as_slice()),
        now,
    )
    .await?;
    let actor = who.actor();
    ops::record(
        &mut tx,
        now,
        &ops::Event::account(
            &who.org_id,
            &actor,
            "keys.published",
            Some(serde_json::json!({ "x25519_pk": keys.x25519_pk, "ed25519_pk": keys.ed25519_pk })),
        ),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    let user = q::user_by_id(svc.db.pool(), &who.user_id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    Ok(PublicKeys {
        address: user.address,
        x25519_pk: keys.x25519_pk.to_owned(),
        ed25519_pk: keys.ed25519_pk.to_owned(),
    })
}

/// Looks up a user's public keys by address (any authenticated sender).
pub async fn lookup_keys(svc: &Services, who: &Principal, address: &str) -> DomainResult<PublicKeys> {
    if !who.scopes.contains(&Scope::Send) && !who.scopes.contains(&Scope::Read) {
        return Err(DomainError::Forbidden("looking up keys needs the send or read scope"));
    }
    let address = normalize_address(address)?;
    let user = q::user_by_address(svc.db.pool(), &address)
        .await?
        .ok_or(DomainError::NotFound)?;
    match (user.x25519_pk, user.ed25519_pk, user.disabled) {
        (Some(x), Some(e), false) => Ok(PublicKeys {
            address: user.address,
            x25519_pk: b64::encode(&x),
            ed25519_pk: b64::encode(&e),
        }),
        _ => Err(DomainError::NotFound),
    }
}

/// Invisible formatting characters (soft hyphen, bidi marks and overrides, zero-width characters,
/// word joiners, BOM): an address holding one displays like another address.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}
