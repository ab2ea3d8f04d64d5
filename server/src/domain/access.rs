//! Recipient access: what happens between a recipient opening their link and the server
//! releasing its share.
//!
//! - Reading a link (`info`) and fetching the page never send a code, never count as an
//!   attempt and never count as opened: mail scanners fetch every link. Only POSTs act.
//! - Guests prove possession of their phone with a one-time code: digits from the OS generator,
//!   valid `access.code_minutes`, accepted once, stored only as a salted hash, bound to this
//!   link. Wrong entries count per code and per recipient; at the recipient limit the recipient
//!   is locked and the sender sees it. A new code never resets the recipient's count; resends
//!   are throttled and SMS are capped per recipient, message, number and organisation.
//! - Registered recipients sign in with the login key derived from their password in the client,
//!   then pass TOTP (or spend a recovery code).
//! - Verification gives a short-lived session for this one link. Release is one conditional
//!   update with its event in the same transaction ([`super::messages::release_share`]).

use bytes::Bytes;
use sealpost_crypto::b64;
use sealpost_crypto::primitives::sha256;
use serde::Serialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{DomainError, DomainResult, Services, limits, messages, totp};
use crate::clock::to_rfc3339;
use crate::db::access::{self as q, AccessRow, CodeRow};
use crate::db::{DbError, accounts as users, messages as mq, ops};
use crate::ids;

/// Prefix of a recipient session token.
pub const SESSION_PREFIX: &str = "spa_";
const STAGE_PASSWORD: &str = "password";
const STAGE_VERIFIED: &str = "verified";
const HOUR_MS: i64 = 3_600_000;
/// A verified session never outlives this, however busy.
const SESSION_MAX_MS: i64 = 12 * HOUR_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// What anybody holding the link may learn before verification.
#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    /// The link id.
    pub access_id: String,
    /// The message (the header names it; the page checks it).
    pub message_id: String,
    /// The recipient id.
    pub rid: String,
    /// `active` or `locked`: a link that has ended is answered as unknown.
    pub state: &'static str,
    /// `sms` or `totp`.
    pub verification: String,
    /// The last digits of the guest's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_hint: Option<String>,
    /// Expiry.
    pub expires_at: String,
    /// Digits of an SMS code.
    pub code_digits: u32,
    /// The access log's verifier key (C2SP vkey) that release proofs are checked against.
    pub log_key: String,
}

/// A code was sent.
#[derive(Debug, Clone, Serialize)]
pub struct CodeSent {
    /// The number it went to, masked.
    pub sent_to: String,
    /// When it stops working.
    pub expires_at: String,
    /// When another code may be requested.
    pub resend_after: String,
}

/// A session for one link.
#[derive(Serialize)]
pub struct SessionGrant {
    /// `spa_…`; send as `Authorization: Bearer`.
    pub session: String,
    /// `password` (registered recipients, before TOTP) or `verified`.
    pub stage: &'static str,
    /// When it ends.
    pub expires_at: String,
}

impl std::fmt::Debug for SessionGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionGrant")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// Everything a verified recipient needs to check and open the message.
#[derive(Debug, Clone, Serialize)]
pub struct EnvelopeInfo {
    /// Message id.
    pub message_id: String,
    /// Who sent it, with the key that signed the seal.
    pub sender: SenderInfo,
    /// The seal (a signed note).
    pub seal: String,
    /// The policy as sealed.
    pub policy: String,
    /// The header, standard base64.
    pub header: String,
    /// Payloads: index and stored size.
    pub payloads: Vec<PayloadInfo>,
    /// Expiry.
    pub expires_at: String,
}

/// The sender of a message.
#[derive(Debug, Clone, Serialize)]
pub struct SenderInfo {
    /// Address.
    pub address: String,
    /// Ed25519 public key, standard base64.
    pub ed25519_pk: String,
}

/// One payload of a message.
#[derive(Debug, Clone, Serialize)]
pub struct PayloadInfo {
    /// Index (0 = manifest).
    pub index: u32,
    /// Length in bytes.
    pub size: u64,
}

/// A released server share.
#[derive(Serialize)]
pub struct Released {
    /// The 32-byte server share, standard base64.
    pub share: String,
    /// Releases to this recipient so far, this one included.
    pub releases: u64,
    /// The release's log entry with its inclusion proof and a signed checkpoint: the client
    /// checks it against the published log key before it uses the share.
    pub log: super::transparency::ReleaseProof,
}

impl std::fmt::Debug for Released {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Released")
            .field("releases", &self.releases)
            .finish_non_exhaustive()
    }
}

/// The state of a link at `now`.
fn link_state(row: &AccessRow, now: i64) -> &'static str {
    let m = row.message_state.as_str();
    if m == mq::state::DELETED || m == mq::state::DRAFT {
        return "unavailable";
    }
    if m == mq::state::REVOKED
        || row.message_revoke_at.is_some_and(|t| t <= now && t <= row.expires_at)
        || row.recipient_state != "active"
        || row.recipient_revoke_at.is_some_and(|t| t <= now)
    {
        return "revoked";
    }
    if m == mq::state::EXPIRED || row.expires_at <= now {
        return "expired";
    }
    if !row.has_share {
        return "unavailable";
    }
    if row.locked_at.is_some() {
        return "locked";
    }
    "active"
}

/// Fails unless the link can still be verified and opened. A link that has ended (revoked,
/// expired, deleted, never sealed) answers exactly like a link that never existed: whoever
/// holds an access id learns nothing from it once it has ended (docs/api.md,
/// "Indistinguishability").
fn require_open(row: &AccessRow, now: i64) -> DomainResult<()> {
    match link_state(row, now) {
        "active" => Ok(()),
        "locked" => Err(DomainError::Locked),
        _ => Err(DomainError::NotFound),
    }
}

/// Like [`require_open`], but a locked link is still shown (as `locked`): the recipient needs
/// to learn that the sender must act.
fn require_open_or_locked(row: &AccessRow, now: i64) -> DomainResult<()> {
    match require_open(row, now) {
        Err(DomainError::Locked) => Ok(()),
        other => other,
    }
}

async fn load(svc: &Services, access_id: &str) -> DomainResult<AccessRow> {
    if !ids::is_id(access_id) {
        return Err(DomainError::NotFound);
    }
    q::by_access_id(svc.db.pool(), access_id)
        .await?
        .ok_or(DomainError::NotFound)
}

/// The last four digits of a number, the rest masked: what the sender and the link show.
pub fn phone_hint(phone: &str) -> String {
    let tail: String = phone
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("•••• {tail}")
}

fn actor(row: &AccessRow) -> String {
    format!("recipient:{}", row.rid)
}

async fn record(
    tx: &mut crate::db::Tx,
    now: i64,
    row: &AccessRow,
    kind: &str,
    detail: serde_json::Value,
) -> DomainResult<()> {
    let actor = actor(row);
    ops::record(tx, now, &event(row, &actor, kind, &detail)).await?;
    Ok(())
}

/// [`record`] for an event that is the whole change, in its own transaction.
async fn record_alone(
    svc: &Services,
    now: i64,
    row: &AccessRow,
    kind: &str,
    detail: serde_json::Value,
) -> DomainResult<()> {
    let actor = actor(row);
    ops::record_alone(&svc.db, now, &event(row, &actor, kind, &detail)).await?;
    Ok(())
}

fn event<'a>(row: &'a AccessRow, actor: &'a str, kind: &'a str, detail: &serde_json::Value) -> ops::Event<'a> {
    ops::Event {
        org_id: Some(&row.org_id),
        actor,
        kind,
        message_id: Some(&row.message_id),
        rid: Some(&row.rid),
        detail: Some(detail.to_string()),
    }
}

/// What the link shows before verification. No side effect.
pub async fn info(svc: &Services, access_id: &str) -> DomainResult<LinkInfo> {
    let row = load(svc, access_id).await?;
    let now = svc.clock.now_ms();
    require_open_or_locked(&row, now)?;
    Ok(LinkInfo {
        state: link_state(&row, now),
        phone_hint: row.phone.as_deref().map(phone_hint),
        access_id: row.access_id,
        message_id: row.message_id,
        rid: row.rid,
        verification: row.verification,
        expires_at: to_rfc3339(row.expires_at),
        code_digits: svc.access.code_digits,
        log_key: svc.log.signer.vkey(),
    })
}

/// Logs that the link's page was fetched (a GET or HEAD: a person, or a mail scanner). It
/// changes nothing else; failures are logged and ignored, the page is served regardless. A
/// link that has ended is not logged: the write would make its page measurably slower than an
/// unknown id's, and so tell the two apart.
pub async fn link_fetched(svc: &Services, access_id: &str, method: &str) {
    let Ok(row) = load(svc, access_id).await else { return };
    let now = svc.clock.now_ms();
    if require_open_or_locked(&row, now).is_err() {
        return;
    }
    let result = record_alone(svc, now, &row, "link.fetched", serde_json::json!({ "method": method })).await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not log a link fetch");
    }
}

/// A uniformly random code of `digits` decimal digits from the OS generator.
fn new_code(digits: u32) -> Result<Zeroizing<String>, getrandom::Error> {
    let modulus = 10u64.pow(digits);
    // Rejection sampling: accept only values below the largest multiple of the modulus.
    let zone = u64::MAX - (u64::MAX % modulus);
    loop {
        let mut bytes = [0u8; 8];
        ids::fill_random(&mut bytes)?;
        let v = u64::from_le_bytes(bytes);
        if v < zone {
            return Ok(Zeroizing::new(format!(
                "{:0width$}",
                v % modulus,
                width = digits as usize
            )));
        }
    }
}

fn code_hash(access_id: &str, salt: &[u8], code: &str) -> [u8; 32] {
    sha256(&[
        b"sealpost.org/v1/sms-code\0",
        access_id.as_bytes(),
        b"\0",
        salt,
        code.as_bytes(),
    ])
}

/// The host of `public_url`, for the SMS's origin-bound line (WebOTP: `@host #code`).
fn public_host(public_url: &str) -> Option<&str> {
    let rest = public_url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

async fn check_window(svc: &Services, bucket: String, limit: u32, window_ms: i64, what: &str) -> DomainResult<()> {
    match limits::check_window(svc, &bucket, limit, window_ms).await {
        Err(DomainError::RateLimited(secs)) => Err(DomainError::Throttled {
            code: "sms_limit",
            detail: format!("Too many codes {what}; try again later."),
            retry_after: Some(secs),
        }),
        other => other,
    }
}

/// Sends a new code to a guest's phone.
pub async fn send_code(svc: &Services, access_id: &str) -> DomainResult<CodeSent> {
    let row = load(svc, access_id).await?;
    let now = svc.clock.now_ms();
    require_open(&row, now)?;
    let (Some(phone), "sms") = (row.phone.clone(), row.verification.as_str()) else {
        return Err(DomainError::conflict(
            "wrong_method",
            "this recipient signs in with a password and an authenticator app, not an SMS code",
        ));
    };
    let cfg = &svc.access;
    let resend_ms = i64::try_from(cfg.resend_after_secs * 1000).unwrap_or(i64::MAX);
    if let Some(last) = q::latest_code(svc.db.pool(), access_id).await?
        && last.created_at + resend_ms > now
    {
        let wait = u64::try_from((last.created_at + resend_ms - now + 999) / 1000).unwrap_or(1);
        return Err(DomainError::Throttled {
            code: "resend_too_soon",
            detail: format!("A code was sent moments ago; you can ask for another in {wait} seconds."),
            retry_after: Some(wait),
        });
    }
    check_window(
        svc,
        format!("sms:rcpt:{access_id}"),
        cfg.sms_per_recipient_per_hour,
        HOUR_MS,
        "for this link",
    )
    .await?;
    check_window(
        svc,
        format!("sms:msg:{}", row.message_id),
        cfg.sms_per_message_per_hour,
        HOUR_MS,
        "for this message",
    )
    .await?;
    check_window(
        svc,
        format!("sms:num:{phone}"),
        cfg.sms_per_number_per_hour,
        HOUR_MS,
        "to this number",
    )
    .await?;
    check_window(
        svc,
        format!("sms:org:{}", row.org_id),
        cfg.sms_per_org_per_day,
        DAY_MS,
        "from this organisation today",
    )
    .await?;

    let code = new_code(cfg.code_digits)?;
    let mut salt = [0u8; 16];
    ids::fill_random(&mut salt)?;
    let expires_at = now + i64::try_from(cfg.code_minutes * 60_000).unwrap_or(i64::MAX);
    let stored = CodeRow {
        id: ids::new_id()?,
        code_hash: code_hash(access_id, &salt, &code).to_vec(),
        salt: salt.to_vec(),
        created_at: now,
        expires_at,
        failures: 0,
        used_at: None,
    };
    let hint = phone_hint(&phone);
    // The code is stored before it is sent, so a code that reaches a phone always verifies.
    let mut tx = svc.db.begin_write().await?;
    q::insert_code(&mut tx, access_id, &stored).await?;
    record(&mut tx, now, &row, "code.sent", serde_json::json!({ "to": hint })).await?;
    tx.commit().await.map_err(DbError::from)?;

    let mut text = format!(
        "Your Sealpost code is {}. It expires in {} minutes. Never share it: nobody from Sealpost will ask for it.",
        code.as_str(),
        cfg.code_minutes
    );
    if let Some(host) = public_host(&svc.public_url.get()) {
        text.push_str(&format!("\n\n@{host} #{}", code.as_str()));
    }
    let text = Zeroizing::new(text);
    if let Err(e) = svc.sms.send(&phone, &text).await {
        crate::telemetry::sms("failed");
        tracing::warn!(error = %e, "SMS delivery failed");
        q::delete_code(svc.db.pool(), &stored.id).await?;
        return Err(DomainError::DeliveryFailed(
            "The text message could not be sent. Try again in a minute.".into(),
        ));
    }
    crate::telemetry::sms("sent");
    Ok(CodeSent {
        sent_to: hint,
        expires_at: to_rfc3339(expires_at),
        resend_after: to_rfc3339(now + resend_ms),
    })
}

fn session_hash(token: &str) -> [u8; 32] {
    sha256(&[b"sealpost.org/v1/access-session\0", token.as_bytes()])
}

async fn new_session(
    svc: &Services,
    tx: &mut crate::db::Tx,
    access_id: &str,
    stage: &'static str,
    now: i64,
) -> DomainResult<SessionGrant> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    ids::fill_random(bytes.as_mut())?;
    let token = format!("{SESSION_PREFIX}{}", b64::encode_url(bytes.as_ref()));
    let expires_at = now + i64::try_from(svc.access.session_minutes * 60_000).unwrap_or(i64::MAX);
    q::insert_session(tx, &session_hash(&token), access_id, stage, now, expires_at).await?;
    Ok(SessionGrant {
        session: token,
        stage,
        expires_at: to_rfc3339(expires_at),
    })
}

/// Records a wrong entry; returns the error to answer with.
async fn wrong(
    svc: &Services,
    row: &AccessRow,
    code_id: Option<&str>,
    code: &'static str,
    detail: &'static str,
    method: &str,
) -> DomainResult<DomainError> {
    let now = svc.clock.now_ms();
    let cfg = &svc.access;
    let mut tx = svc.db.begin_write().await?;
    let code_left = match code_id {
        Some(id) => cfg
            .max_failures_per_code
            .saturating_sub(q::code_failure(&mut tx, id).await?),
        None => u32::MAX,
    };
    let failures = q::add_failure(&mut tx, &row.message_id, &row.rid, cfg.max_failures_per_recipient, now).await?;
    record(
        &mut tx,
        now,
        row,
        "verification.failed",
        serde_json::json!({ "method": method, "failures": failures }),
    )
    .await?;
    let locked = failures >= cfg.max_failures_per_recipient;
    if locked && row.locked_at.is_none() {
        record(
            &mut tx,
            now,
            row,
            "recipient.locked",
            serde_json::json!({ "failures": failures }),
        )
        .await?;
    }
    tx.commit().await.map_err(DbError::from)?;
    crate::telemetry::verification_failed(method);
    if locked && row.locked_at.is_none() {
        crate::telemetry::recipient_locked();
    }
    if locked {
        return Ok(DomainError::Locked);
    }
    Ok(DomainError::WrongSecret {
        code,
        detail,
        attempts_left: code_left.min(cfg.max_failures_per_recipient - failures),
    })
}

/// Verifies a guest's SMS code, or a registered recipient's TOTP or recovery code (then
/// `password_session` must be the session their password sign-in gave).
pub async fn verify(
    svc: &Services,
    access_id: &str,
    password_session: Option<&str>,
    code: &str,
) -> DomainResult<SessionGrant> {
    let row = load(svc, access_id).await?;
    let now = svc.clock.now_ms();
    require_open(&row, now)?;
    if row.verification == "totp" {
        return verify_totp(svc, &row, password_session, code).await;
    }
    let Some(stored) = q::latest_code(svc.db.pool(), access_id).await? else {
        return Err(DomainError::conflict("no_code", "Ask for a code first."));
    };
    if stored.used_at.is_some() || stored.failures >= svc.access.max_failures_per_code {
        return Err(DomainError::conflict(
            "no_code",
            "This code can no longer be used; ask for a new one.",
        ));
    }
    if stored.expires_at <= now {
        return Err(DomainError::WrongSecret {
            code: "code_expired",
            detail: "This code has expired; ask for a new one.",
            attempts_left: svc.access.max_failures_per_recipient.saturating_sub(row.failures),
        });
    }
    let typed: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let matches = typed.len() == svc.access.code_digits as usize
        && typed.bytes().all(|b| b.is_ascii_digit())
        && bool::from(code_hash(access_id, &stored.salt, &typed).ct_eq(stored.code_hash.as_slice()));
    if !matches {
        return Err(wrong(
            svc,
            &row,
            Some(&stored.id),
            "wrong_code",
            "That code is not right. Check the text message and try again.",
            "sms",
        )
        .await?);
    }
    let mut tx = svc.db.begin_write().await?;
    if !q::use_code(&mut tx, &stored.id, now, svc.access.max_failures_per_code).await? {
        return Err(DomainError::conflict(
            "no_code",
            "This code can no longer be used; ask for a new one.",
        ));
    }
    record(
        &mut tx,
        now,
        &row,
        "verification.passed",
        serde_json::json!({ "method": "sms" }),
    )
    .await?;
    let grant = new_session(svc, &mut tx, access_id, STAGE_VERIFIED, now).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(grant)
}

async fn verify_totp(
    svc: &Services,
    row: &AccessRow,
    password_session: Option<&str>,
    code: &str,
) -> DomainResult<SessionGrant> {
    let now = svc.clock.now_ms();
    let token = password_session.ok_or(DomainError::Unauthenticated)?;
    let hash = session_hash(token);
    match q::session(svc.db.pool(), &hash, now).await? {
        Some((aid, stage)) if aid == row.access_id && stage == STAGE_PASSWORD => {}
        _ => return Err(DomainError::Unauthenticated),
    }
    let user_id = row.user_id.as_deref().ok_or(DomainError::Unavailable)?;
    let t = q::totp(svc.db.pool(), user_id).await?.ok_or(DomainError::NotFound)?;
    let Some(wrapped) = t.secret else {
        return Err(DomainError::conflict(
            "totp_not_enrolled",
            "This account has no authenticator app enrolled; enrol one first.",
        ));
    };
    let seed = totp::seed(svc, user_id, &wrapped)?;
    let authenticator = totp::authenticator(&seed, &t.address)?;
    let mut tx = svc.db.begin_write().await?;
    let method = if let Some(step) = totp::check(&authenticator, code, totp::now_secs(now)) {
        let step = i64::try_from(step).map_err(|_| DomainError::Unavailable)?;
        q::accept_totp_step(&mut tx, user_id, step).await?.then_some("totp")
    } else if totp::normalise_recovery_code(code).is_some() {
        q::use_recovery_code(&mut tx, user_id, &totp::recovery_hash(user_id, code), now)
            .await?
            .then_some("recovery_code")
    } else {
        None
    };
    let Some(method) = method else {
        drop(tx);
        return Err(wrong(
            svc,
            row,
            None,
            "wrong_code",
            "That code is not right (a code is accepted once). Wait for the next code and try again.",
            "totp",
        )
        .await?);
    };
    q::delete_session(&mut tx, &hash).await?;
    record(
        &mut tx,
        now,
        row,
        "verification.passed",
        serde_json::json!({ "method": method }),
    )
    .await?;
    let grant = new_session(svc, &mut tx, &row.access_id, STAGE_VERIFIED, now).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(grant)
}

fn registered_user(row: &AccessRow) -> DomainResult<&str> {
    match (row.verification.as_str(), row.user_id.as_deref()) {
        ("totp", Some(user)) => Ok(user),
        _ => Err(DomainError::conflict(
            "wrong_method",
            "this recipient verifies with an SMS code, not a password",
        )),
    }
}

/// The key-derivation parameters of a registered recipient's key blob (not the blob: that
/// comes only after verification, so the link alone allows no offline password guessing).
pub async fn prelogin(svc: &Services, access_id: &str) -> DomainResult<serde_json::Value> {
    let row = load(svc, access_id).await?;
    require_open(&row, svc.clock.now_ms())?;
    let user = registered_user(&row)?;
    let t = q::totp(svc.db.pool(), user).await?.ok_or(DomainError::NotFound)?;
    let blob: serde_json::Value = t
        .keyblob
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .ok_or(DomainError::NotFound)?;
    let kdf = blob.get("kdf").cloned().ok_or(DomainError::Unavailable)?;
    Ok(serde_json::json!({ "kdf": kdf }))
}

/// Signs a registered recipient in with the login key derived from their password.
pub async fn login(svc: &Services, access_id: &str, login_key_b64: &str) -> DomainResult<SessionGrant> {
    let row = load(svc, access_id).await?;
    let now = svc.clock.now_ms();
    require_open(&row, now)?;
    let user = registered_user(&row)?.to_owned();
    let login_key = Zeroizing::new(
        b64::decode_array::<32>(login_key_b64.trim())
            .map_err(|_| DomainError::invalid("invalid_login_key", "login_key must be standard base64 of 32 bytes"))?,
    );
    let t = q::totp(svc.db.pool(), &user).await?.ok_or(DomainError::NotFound)?;
    if t.secret.is_none() {
        return Err(DomainError::conflict(
            "totp_not_enrolled",
            "This account has no authenticator app enrolled; enrol one first.",
        ));
    }
    let expected = t.login_key_hash.unwrap_or_default();
    let given = super::accounts::login_key_hash(&login_key);
    if !bool::from(given.as_slice().ct_eq(expected.as_slice())) {
        return Err(wrong(
            svc,
            &row,
            None,
            "wrong_password",
            "The password is not right.",
            "password",
        )
        .await?);
    }
    let mut tx = svc.db.begin_write().await?;
    record(&mut tx, now, &row, "login.passed", serde_json::json!({})).await?;
    let grant = new_session(svc, &mut tx, access_id, STAGE_PASSWORD, now).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(grant)
}

/// The link of a verified session, or `Unauthenticated`.
async fn authorised(svc: &Services, access_id: &str, session: Option<&str>) -> DomainResult<AccessRow> {
    let row = load(svc, access_id).await?;
    let now = svc.clock.now_ms();
    // An ended link answers as unknown whatever the caller sends, so that a session call
    // cannot tell an ended link from one that never existed.
    require_open_or_locked(&row, now)?;
    let token = session.ok_or(DomainError::Unauthenticated)?;
    let hash = session_hash(token);
    match q::session(svc.db.pool(), &hash, now).await? {
        Some((aid, stage)) if aid == access_id && stage == STAGE_VERIFIED => {}
        _ => return Err(DomainError::Unauthenticated),
    }
    require_open(&row, now)?;
    // Use keeps a session alive (a long download is many range requests), up to a hard cap.
    let idle = i64::try_from(svc.access.session_minutes * 60_000).unwrap_or(i64::MAX);
    q::touch_session(svc.db.pool(), &hash, now, idle, SESSION_MAX_MS).await?;
    Ok(row)
}

/// The sealed envelope: seal, policy, header, payload sizes and the sender's signing key.
pub async fn envelope(svc: &Services, access_id: &str, session: Option<&str>) -> DomainResult<EnvelopeInfo> {
    let row = authorised(svc, access_id, session).await?;
    let pool = svc.db.pool();
    let m = mq::message(pool, &row.message_id).await?.ok_or(DomainError::NotFound)?;
    let seal = m.seal.clone().ok_or(DomainError::NotFound)?;
    let sender = users::user_by_id(pool, &row.sender_id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    let ed25519_pk = sender.ed25519_pk.as_deref().ok_or(DomainError::Unavailable)?;
    let header = svc
        .blobs
        .get_small(&messages::header_key(&row.message_id)?, m.header_size)
        .await?;
    let payloads = mq::payloads(pool, &row.message_id)
        .await?
        .into_iter()
        .map(|p| PayloadInfo {
            index: p.idx,
            size: p.size,
        })
        .collect();
    Ok(EnvelopeInfo {
        message_id: row.message_id,
        sender: SenderInfo {
            address: sender.address,
            ed25519_pk: b64::encode(ed25519_pk),
        },
        seal,
        policy: String::from_utf8_lossy(&m.policy).into_owned(),
        header: b64::encode(&header),
        payloads,
        expires_at: to_rfc3339(m.expires_at),
    })
}

/// A registered recipient's key blob, after verification.
pub async fn keyblob(svc: &Services, access_id: &str, session: Option<&str>) -> DomainResult<serde_json::Value> {
    let row = authorised(svc, access_id, session).await?;
    let user = registered_user(&row)?;
    let t = q::totp(svc.db.pool(), user).await?.ok_or(DomainError::NotFound)?;
    t.keyblob
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .ok_or(DomainError::NotFound)
}

/// Releases this recipient's server share: the act that counts as "opened".
pub async fn release(svc: &Services, access_id: &str, session: Option<&str>) -> DomainResult<Released> {
    let result = release_inner(svc, access_id, session).await;
    crate::telemetry::release(match &result {
        Ok(_) => "released",
        Err(DomainError::Unavailable) => "error",
        Err(_) => "refused",
    });
    result
}

async fn release_inner(svc: &Services, access_id: &str, session: Option<&str>) -> DomainResult<Released> {
    let row = authorised(svc, access_id, session).await?;
    messages::ciphertext_available(svc, &row.message_id).await?;
    let detail = serde_json::json!({ "method": row.verification, "access_id": row.access_id });
    match messages::release_share(svc, &row.message_id, &row.rid, detail).await {
        Ok((share, releases, entry)) => {
            // The entry committed with the release; sequence it and prove it before the share
            // leaves: no proof, no share.
            let log = super::transparency::release_proof(svc, entry).await?;
            crate::failpoint::hit("release-after-proof");
            Ok(Released {
                share: b64::encode(share.as_ref()),
                releases,
                log,
            })
        }
        Err(DomainError::Ended(_)) => {
            // Say why: the state may have changed since the check above.
            let now = svc.clock.now_ms();
            let fresh = load(svc, access_id).await?;
            require_open(&fresh, now)?;
            if fresh.max_opens.is_some_and(|max| fresh.releases >= u64::from(max)) {
                return Err(DomainError::Gone("open_limit"));
            }
            // Ended, or the revocation fence refused what the database does not show yet: an
            // ended link answers as an unknown one.
            Err(DomainError::NotFound)
        }
        Err(other) => Err(other),
    }
}

/// A byte range of a payload's ciphertext, for a verified recipient.
pub async fn download(
    svc: &Services,
    access_id: &str,
    session: Option<&str>,
    idx: u32,
    range: Option<(u64, Option<u64>)>,
) -> DomainResult<(
    u64,
    std::ops::Range<u64>,
    futures::stream::BoxStream<'static, Result<Bytes, crate::blobs::BlobError>>,
)> {
    let row = authorised(svc, access_id, session).await?;
    let found = messages::read_payload(svc, &row.message_id, idx, range)
        .await
        .map_err(|e| match e {
            DomainError::NotFound => {
                DomainError::invalid("no_such_payload", "the message has no payload with this index")
            }
            other => other,
        })?;
    if range.is_none_or(|(start, _)| start == 0) {
        // One entry per download from the start, not one per range request of it.
        let now = svc.clock.now_ms();
        record_alone(
            svc,
            now,
            &row,
            "ciphertext.downloaded",
            serde_json::json!({ "payload": idx }),
        )
        .await?;
    }
    Ok(found)
}

/// The sender (or an admin of the organisation) lifts a recipient's lock after satisfying
/// themselves that the recipient is who they say: the failure count starts again from zero.
pub async fn unlock(
    svc: &Services,
    who: &super::Principal,
    message_id: &str,
    rid: &str,
) -> DomainResult<messages::MessageStatus> {
    let status = messages::status(svc, who, message_id).await?;
    who.require(super::Scope::Send)?;
    if !status.recipients.iter().any(|r| r.rid == rid) {
        return Err(DomainError::NotFound);
    }
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    q::unlock(&mut tx, message_id, rid).await?;
    let actor = who.actor();
    ops::record(
        &mut tx,
        now,
        &ops::Event {
            org_id: Some(&who.org_id),
            actor: &actor,
            kind: "recipient.unlocked",
            message_id: Some(message_id),
            rid: Some(rid),
            detail: None,
        },
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    messages::status(svc, who, message_id).await
}

/// Drops expired sessions and codes.
pub async fn prune(svc: &Services) -> DomainResult<u64> {
    let now = svc.clock.now_ms();
    Ok(q::prune(svc.db.pool(), now, now - DAY_MS).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_requested_digits_and_vary() {
        let a = new_code(6).unwrap();
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(new_code(10).unwrap().len(), 10);
        let distinct: std::collections::BTreeSet<String> = (0..50).map(|_| new_code(6).unwrap().to_string()).collect();
        assert!(distinct.len() > 40);
    }

    #[test]
    fn code_hash_binds_link_and_salt() {
        let h = code_hash("a", b"salt", "123456");
        assert_ne!(h, code_hash("b", b"salt", "123456"));
        assert_ne!(h, code_hash("a", b"pepper", "123456"));
        assert_ne!(h, code_hash("a", b"salt", "123457"));
    }

    #[test]
    fn hints_and_hosts() {
        assert_eq!(phone_hint("+447700900123"), "•••• 0123");
        assert_eq!(public_host("https://sealpost.example:8443/x"), Some("sealpost.example"));
        assert_eq!(public_host("nonsense"), None);
    }
}
