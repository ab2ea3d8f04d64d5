//! The message lifecycle: create a draft, upload header and payloads in resumable parts, seal
//! atomically, then status, list, revoke (now or later, whole or per recipient), change expiry,
//! delete — and the one release path recipients will use.
//!
//! What the server checks without any key: the header is a well-formed age header whose
//! Sealpost stanzas name this message and exactly its recipients; every part matches the SHA-256
//! the client declared; at sealing, the sender's Ed25519 seal verifies and binds this message,
//! the stored header, the stored policy and every payload's nonce and length. Chunk roots are
//! verified by recipients (format.md §7); the server never sees a key that could check them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use sealpost_crypto::b64;
use sealpost_crypto::header::Header;
use sealpost_crypto::primitives::sha256;
use sealpost_crypto::recipient::RecipientPublicKey;
use sealpost_crypto::seal::SealBody;
use sealpost_crypto::stream::{Layout, NONCE_LEN};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{DomainError, DomainResult, Principal, Role, Scope, Services};
use crate::blobs::{BlobKey, PartTag, UploadId};
use crate::clock::{from_rfc3339, to_rfc3339};
use crate::db::{DbError, accounts as users, messages as q, messages::state, ops};
use crate::ids;

/// How a recipient proves possession before its share is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientKind {
    /// A registered account, verified by TOTP.
    Account {
        /// The account's address.
        address: String,
    },
    /// A guest, verified by an SMS code to this number (E.164).
    Guest {
        /// Phone number.
        phone: String,
    },
}

/// One recipient of a new message.
#[derive(Debug, Clone)]
pub struct RecipientSpec {
    /// `rid` (base64url of 16 bytes) of the recipient's X25519 key.
    pub rid: String,
    /// Account or guest.
    pub kind: RecipientKind,
    /// Where to send the notification with the link, if anywhere.
    pub notify: Option<String>,
}

/// A new message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The sender-chosen message id (base64url of 16 random bytes).
    pub id: String,
    /// The policy exactly as the seal signs it.
    pub policy: String,
    /// Header length in bytes.
    pub header_size: u64,
    /// Payload lengths in bytes (manifest first).
    pub payload_sizes: Vec<u64>,
    /// Recipients.
    pub recipients: Vec<RecipientSpec>,
    /// What the sender's pre-send checks found (categories and counts, never values).
    pub checks: Option<sealpost_guard::SendChecks>,
}

/// The policy document (canonical JSON the sender signs through the seal).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    v: u32,
    expires_at: String,
    /// Most releases of the server share per recipient (each opening is one).
    #[serde(default)]
    max_opens: Option<u32>,
    recipients: Vec<PolicyRecipient>,
}

/// The link of a recipient, without the secret fragment.
pub fn link_of(public_url: &str, access_id: &str) -> String {
    format!("{}/r/{access_id}", public_url.trim_end_matches('/'))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRecipient {
    rid: String,
    verification: String,
}

/// A recipient as its sender sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientStatus {
    /// Recipient id.
    pub rid: String,
    /// `account` or `guest`.
    pub kind: String,
    /// `totp` or `sms`.
    pub verification: String,
    /// Account address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Last digits of the guest's phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_hint: Option<String>,
    /// Notification address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    /// `active` or `revoked`.
    pub state: String,
    /// Scheduled revocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_at: Option<String>,
    /// When revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Times the server share was released to this recipient.
    pub releases: u64,
    /// The id in the recipient's link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_id: Option<String>,
    /// The recipient's link without its secret: `{public_url}/r/{access_id}`. For a guest, the
    /// sender's client appends `#` and the link secret, which the server never sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Wrong verification entries so far.
    pub failed_attempts: u32,
    /// Locked after too many wrong entries: no code, no release.
    pub locked: bool,
}

/// A payload as its sender sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PayloadStatus {
    /// Index (0 = manifest).
    pub index: u32,
    /// Length in bytes.
    pub size: u64,
    /// Upload finished.
    pub complete: bool,
}

/// A message as its sender (or the organisation's DPO) sees it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageStatus {
    /// Id.
    pub id: String,
    /// `draft`, `sealed`, `revoked`, `expired` or `deleted` (as of now, even before the sweeper ran).
    pub state: String,
    /// Created.
    pub created_at: String,
    /// Sealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_at: Option<String>,
    /// Expiry.
    pub expires_at: String,
    /// Scheduled revocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_at: Option<String>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Header length.
    pub header_size: u64,
    /// Header uploaded.
    pub header_stored: bool,
    /// Size of every upload part but the last.
    pub part_size: u64,
    /// Payloads.
    pub payloads: Vec<PayloadStatus>,
    /// Recipients (omitted in lists).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<RecipientStatus>,
    /// The sender's pre-send check outcome, if the client ran the checks (omitted in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<sealpost_guard::SendChecks>,
    /// The incident a revoke "sent in error" opened (in that answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
}

/// One stored part.
#[derive(Debug, Clone, Serialize)]
pub struct PartStatus {
    /// Index.
    pub index: u32,
    /// Length.
    pub size: u64,
    /// SHA-256 (standard base64 with padding, as in `Content-Digest`).
    pub sha256: String,
}

/// Upload progress of one payload: what is stored, so a client can send the rest.
#[derive(Debug, Clone, Serialize)]
pub struct UploadStatus {
    /// Payload index.
    pub index: u32,
    /// Declared length.
    pub size: u64,
    /// Part size.
    pub part_size: u64,
    /// Number of parts.
    pub part_count: u32,
    /// Parts stored.
    pub parts: Vec<PartStatus>,
    /// Published.
    pub complete: bool,
}

/// One activity event.
#[derive(Debug, Clone, Serialize)]
pub struct EventInfo {
    /// Sequence.
    pub seq: i64,
    /// Time.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub kind: String,
    /// Recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// Detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The header's blob key.
pub fn header_key(id: &str) -> DomainResult<BlobKey> {
    BlobKey::new(format!("m/{id}/header")).map_err(|_| DomainError::NotFound)
}

/// A payload's blob key.
pub fn payload_key(id: &str, idx: u32) -> DomainResult<BlobKey> {
    BlobKey::new(format!("m/{id}/p/{idx}")).map_err(|_| DomainError::NotFound)
}

/// Fails closed unless the store holds the header and every payload of a message at their sealed
/// sizes: a key share is worth nothing without its ciphertext, and releasing one while the store
/// fails would count an open (and log a release) that the recipient cannot use (I7 in
/// docs/reliability.md). One metadata request per object; no bytes are read.
pub async fn ciphertext_available(svc: &Services, id: &str) -> DomainResult<()> {
    let m = q::message(svc.db.pool(), id).await?.ok_or(DomainError::NotFound)?;
    if svc.blobs.size(&header_key(id)?).await? != m.header_size {
        tracing::error!("a sealed header's stored size differs from its declared size");
        return Err(DomainError::Unavailable);
    }
    for p in q::payloads(svc.db.pool(), id).await? {
        if svc.blobs.size(&payload_key(id, p.idx)?).await? != p.size {
            tracing::error!(
                payload = p.idx,
                "a sealed payload's stored size differs from its declared size"
            );
            return Err(DomainError::Unavailable);
        }
    }
    Ok(())
}

/// A SHA-256 in the form `Content-Digest` uses: standard base64 with padding (RFC 9530).
fn digest_text(digest: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(digest)
}

fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

fn part_count(size: u64, part_size: u64) -> u32 {
    u32::try_from(size.div_ceil(part_size).max(1)).unwrap_or(u32::MAX)
}

fn expected_part_len(size: u64, part_size: u64, part: u32) -> Option<u64> {
    let start = u64::from(part).checked_mul(part_size)?;
    if start >= size {
        return None;
    }
    Some((size - start).min(part_size))
}

/// The state as of `now`: a live message past its expiry or scheduled revocation reads as
/// ended even before the sweeper has destroyed its shares.
fn effective_state(m: &q::MessageRow, now: i64) -> String {
    if m.state == state::SEALED || m.state == state::DRAFT {
        if m.revoke_at.is_some_and(|r| r <= now && r <= m.expires_at) {
            return state::REVOKED.into();
        }
        if m.expires_at <= now {
            return state::EXPIRED.into();
        }
    }
    m.state.clone()
}

/// The state of a message as of `now` (for the breach register).
pub(crate) fn effective_state_of(m: &q::MessageRow, now: i64) -> String {
    effective_state(m, now)
}

/// The status of a message, with its recipients, without an authorisation check (the caller
/// has made its own).
pub(crate) async fn status_unchecked(svc: &Services, id: &str) -> DomainResult<MessageStatus> {
    status_of(svc, id, true).await
}

fn is_live(m: &q::MessageRow, now: i64) -> bool {
    let s = effective_state(m, now);
    s == state::DRAFT || s == state::SEALED
}

/// Loads a message the caller may manage (its sender, or an admin of its organisation).
async fn owned(svc: &Services, who: &Principal, id: &str, scope: Scope) -> DomainResult<q::MessageRow> {
    who.require(scope)?;
    if !ids::is_id(id) {
        return Err(DomainError::NotFound);
    }
    let m = q::message(svc.db.pool(), id).await?.ok_or(DomainError::NotFound)?;
    let allowed = m.sender_id == who.user_id || (m.org_id == who.org_id && who.has_role(Role::Admin));
    if !allowed || m.state == state::DELETED {
        return Err(DomainError::NotFound);
    }
    Ok(m)
}

/// Loads a message the caller may read (its sender, or an admin or DPO of its organisation).
async fn readable(svc: &Services, who: &Principal, id: &str) -> DomainResult<q::MessageRow> {
    if !who.scopes.contains(&Scope::Read) && !who.scopes.contains(&Scope::Send) {
        return Err(DomainError::Forbidden("reading messages needs the read or send scope"));
    }
    if !ids::is_id(id) {
        return Err(DomainError::NotFound);
    }
    let m = q::message(svc.db.pool(), id).await?.ok_or(DomainError::NotFound)?;
    let org_reader = m.org_id == who.org_id && (who.has_role(Role::Dpo) || who.has_role(Role::Admin));
    if (m.sender_id != who.user_id && !org_reader) || m.state == state::DELETED {
        return Err(DomainError::NotFound);
    }
    Ok(m)
}

fn require_draft(m: &q::MessageRow, now: i64) -> DomainResult<()> {
    let s = effective_state(m, now);
    if s == state::DRAFT {
        Ok(())
    } else if s == state::SEALED {
        Err(DomainError::conflict(
            "already_sealed",
            "the message is sealed; its content can no longer change",
        ))
    } else {
        Err(DomainError::Ended(s))
    }
}

fn parse_policy(text: &str, now: i64, max_expiry_days: u32) -> DomainResult<(Policy, i64)> {
    let policy: Policy = serde_json::from_str(text)
        .map_err(|e| DomainError::invalid("invalid_policy", format!("the policy is not valid: {e}")))?;
    if policy.v != 1 {
        return Err(DomainError::invalid("invalid_policy", "the policy version must be 1"));
    }
    let expires_at = from_rfc3339(&policy.expires_at)
        .ok_or_else(|| DomainError::invalid("invalid_policy", "expires_at must be an RFC 3339 time"))?;
    check_expiry(expires_at, now, max_expiry_days)?;
    if policy.max_opens.is_some_and(|n| !(1..=10_000).contains(&n)) {
        return Err(DomainError::invalid(
            "invalid_policy",
            "max_opens must be between 1 and 10000",
        ));
    }
    Ok((policy, expires_at))
}

fn check_expiry(expires_at: i64, now: i64, max_expiry_days: u32) -> DomainResult<()> {
    if expires_at <= now {
        return Err(DomainError::invalid(
            "invalid_expiry",
            "the expiry must be in the future",
        ));
    }
    if expires_at > now + i64::from(max_expiry_days) * 86_400_000 {
        return Err(DomainError::invalid(
            "invalid_expiry",
            format!("the expiry must be at most {max_expiry_days} days from now"),
        ));
    }
    Ok(())
}

/// Creates a draft message and reserves its quota.
pub async fn create(svc: &Services, who: &Principal, new: NewMessage) -> DomainResult<MessageStatus> {
    who.require(Scope::Send)?;
    if !who.has_role(Role::Sender) {
        return Err(DomainError::Forbidden("sending needs the sender role"));
    }
    let limits = &svc.limits;
    let now = svc.clock.now_ms();
    if !ids::is_id(&new.id) {
        return Err(DomainError::invalid(
            "invalid_id",
            "id must be base64url of 16 random bytes (22 characters)",
        ));
    }
    if new.header_size == 0 || new.header_size > limits.max_header_bytes {
        return Err(DomainError::invalid(
            "invalid_header_size",
            format!("header_size must be between 1 and {} bytes", limits.max_header_bytes),
        ));
    }
    if new.payload_sizes.is_empty() || new.payload_sizes.len() > limits.max_payloads as usize {
        return Err(DomainError::invalid(
            "invalid_payloads",
            format!(
                "a message has between 1 and {} payloads (the manifest first)",
                limits.max_payloads
            ),
        ));
    }
    for (i, size) in new.payload_sizes.iter().enumerate() {
        if *size > limits.max_payload_bytes {
            return Err(DomainError::TooLarge(format!(
                "payload {i} is larger than the limit of {} bytes",
                limits.max_payload_bytes
            )));
        }
        if !Layout::for_payload_len(*size).is_ok_and(|l| l.is_well_formed()) {
            return Err(DomainError::invalid(
                "invalid_payloads",
                format!("payload {i} has a length no STREAM payload can have"),
            ));
        }
    }
    if new.recipients.is_empty() || new.recipients.len() > limits.max_recipients as usize {
        return Err(DomainError::invalid(
            "invalid_recipients",
            format!("a message has between 1 and {} recipients", limits.max_recipients),
        ));
    }
    let (policy, expires_at) = parse_policy(&new.policy, now, limits.max_expiry_days)?;
    let checks = match &new.checks {
        Some(c) => {
            c.validate().map_err(|e| DomainError::invalid("invalid_checks", e))?;
            Some(serde_json::to_string(c).map_err(|_| DomainError::Unavailable)?)
        }
        None => None,
    };

    // Recipients: unique rids, account keys that match, valid phones; the policy agrees.
    let mut rows = Vec::with_capacity(new.recipients.len());
    let mut seen = BTreeSet::new();
    for r in &new.recipients {
        if !ids::is_id(&r.rid) || !seen.insert(r.rid.clone()) {
            return Err(DomainError::invalid(
                "invalid_recipients",
                "every rid must be a distinct 16-byte base64url id",
            ));
        }
        let notify = r
            .notify
            .as_deref()
            .map(super::accounts::normalize_address)
            .transpose()?;
        let row = match &r.kind {
            RecipientKind::Account { address } => {
                let address = super::accounts::normalize_address(address)?;
                let user = users::user_by_address(svc.db.pool(), &address).await?;
                let pk = user
                    .as_ref()
                    .and_then(|u| if u.disabled { None } else { u.x25519_pk.clone() });
                let (Some(user), Some(pk)) = (user, pk) else {
                    return Err(DomainError::invalid(
                        "unknown_recipient",
                        "no account with published keys has this address; send to it as a guest",
                    ));
                };
                let pk: [u8; 32] = pk.try_into().map_err(|_| DomainError::Unavailable)?;
                if RecipientPublicKey(pk).rid().to_text() != r.rid {
                    return Err(DomainError::invalid(
                        "stale_recipient_key",
                        "the rid does not match the account's published key; look the key up again",
                    ));
                }
                q::NewRecipient {
                    rid: r.rid.clone(),
                    kind: "account",
                    user_id: Some(user.id),
                    phone: None,
                    notify_address: notify,
                    verification: "totp",
                    access_id: ids::new_id()?,
                }
            }
            RecipientKind::Guest { phone } => {
                let phone: String = phone.chars().filter(|c| *c != ' ').collect();
                if !is_e164(&phone) {
                    return Err(DomainError::invalid(
                        "invalid_phone",
                        "a guest's phone number must be in E.164 form, e.g. +447700900123",
                    ));
                }
                q::NewRecipient {
                    rid: r.rid.clone(),
                    kind: "guest",
                    user_id: None,
                    phone: Some(phone),
                    notify_address: notify,
                    verification: "sms",
                    access_id: ids::new_id()?,
                }
            }
        };
        rows.push(row);
    }
    let policy_map: BTreeMap<&str, &str> = policy
        .recipients
        .iter()
        .map(|p| (p.rid.as_str(), p.verification.as_str()))
        .collect();
    let agrees = policy_map.len() == policy.recipients.len()
        && policy_map.len() == rows.len()
        && rows
            .iter()
            .all(|r| policy_map.get(r.rid.as_str()) == Some(&r.verification));
    if !agrees {
        return Err(DomainError::invalid(
            "policy_mismatch",
            "the policy must list exactly the recipients, each with verification totp (account) or sms (guest)",
        ));
    }

    let reserved = new
        .payload_sizes
        .iter()
        .try_fold(new.header_size, |acc, s| acc.checked_add(*s))
        .ok_or_else(|| DomainError::TooLarge("the message is too large".into()))?;
    let mut tx = svc.db.begin_write().await?;
    if !users::reserve_quota(&mut tx, &who.org_id, &who.user_id, reserved).await? {
        return Err(DomainError::Quota(
            "the organisation's or the sender's storage or message quota would be exceeded".into(),
        ));
    }
    let inserted = q::insert_draft(
        &mut tx,
        &new.id,
        &who.org_id,
        &who.user_id,
        new.policy.as_bytes(),
        new.header_size,
        &new.payload_sizes,
        reserved,
        expires_at,
        policy.max_opens,
        checks.as_deref(),
        &rows,
        now,
    )
    .await;
    match inserted {
        Err(DbError::Duplicate) => {
            return Err(DomainError::conflict(
                "id_exists",
                "a message with this id exists; choose a new random id",
            ));
        }
        other => other?,
    }
    let mut detail = serde_json::json!({
        "recipients": rows.len(), "payloads": new.payload_sizes.len(), "bytes": reserved,
    });
    if let Some(c) = &new.checks {
        // The decision and categories enter the proof log; the sender's free-text reason stays
        // with the message (it is shown to the organisation's DPO, not published in the log).
        detail["checks"] = serde_json::json!({
            "decision": c.decision, "max_level": c.max_level, "categories": c.categories,
        });
    }
    record(&mut tx, now, who, "message.created", &new.id, None, Some(detail)).await?;
    tx.commit().await.map_err(DbError::from)?;
    status_of(svc, &new.id, true).await
}

#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut crate::db::Tx,
    now: i64,
    who: &Principal,
    kind: &str,
    message_id: &str,
    rid: Option<&str>,
    detail: Option<serde_json::Value>,
) -> DomainResult<()> {
    let actor = who.actor();
    let event = ops::Event {
        org_id: Some(&who.org_id),
        actor: &actor,
        kind,
        message_id: Some(message_id),
        rid,
        detail: detail.map(|d| d.to_string()),
    };
    ops::record(tx, now, &event).await?;
    Ok(())
}

/// Stores the header (replaceable while the message is a draft).
pub async fn put_header(svc: &Services, who: &Principal, id: &str, body: Bytes) -> DomainResult<MessageStatus> {
    let m = owned(svc, who, id, Scope::Send).await?;
    let now = svc.clock.now_ms();
    require_draft(&m, now)?;
    if body.len() as u64 != m.header_size {
        return Err(DomainError::invalid(
            "wrong_size",
            format!("the header must be exactly {} bytes, as declared", m.header_size),
        ));
    }
    check_header(svc, id, &body).await?;
    let digest = sha256(&[&body]);
    svc.blobs.put_small(&header_key(id)?, body).await?;
    let mut tx = svc.db.begin_write().await?;
    if !q::set_header(&mut tx, id, &digest).await? {
        return Err(DomainError::conflict("not_draft", "the message is no longer a draft"));
    }
    tx.commit().await.map_err(DbError::from)?;
    status_of(svc, id, true).await
}

/// The header must be a well-formed age header whose Sealpost stanzas name this message and
/// exactly its recipients.
async fn check_header(svc: &Services, id: &str, body: &[u8]) -> DomainResult<()> {
    let bad = |detail: &str| DomainError::invalid("invalid_header", detail.to_owned());
    let (header, used) = Header::parse(body).map_err(|_| bad("the header is not a well-formed age v1 header"))?;
    if used != body.len() {
        return Err(bad("the header has trailing bytes"));
    }
    let msg_id = b64::decode_url_array::<16>(id).map_err(|_| DomainError::NotFound)?;
    let mut rids = BTreeSet::new();
    for stanza in header.stanzas() {
        if stanza.args.first().map(String::as_str) != Some("sealpost.org/v1") {
            continue;
        }
        let names_message = stanza.args.get(1).and_then(|a| b64::decode_array::<16>(a).ok()) == Some(msg_id);
        let rid = stanza.args.get(2).and_then(|a| b64::decode_array::<16>(a).ok());
        match (names_message, rid) {
            (true, Some(rid)) => {
                rids.insert(b64::encode_url(&rid));
            }
            _ => return Err(bad("a Sealpost stanza does not name this message")),
        }
    }
    let expected: BTreeSet<String> = q::recipients(svc.db.pool(), id)
        .await?
        .into_iter()
        .map(|r| r.rid)
        .collect();
    if rids != expected {
        return Err(bad(
            "the header must hold one Sealpost stanza for each recipient, and no other",
        ));
    }
    Ok(())
}

async fn payload_row(svc: &Services, id: &str, idx: u32) -> DomainResult<q::PayloadRow> {
    q::payload(svc.db.pool(), id, idx).await?.ok_or(DomainError::NotFound)
}

/// What is stored of one payload.
pub async fn upload_status(svc: &Services, who: &Principal, id: &str, idx: u32) -> DomainResult<UploadStatus> {
    let _ = owned(svc, who, id, Scope::Send).await?;
    let p = payload_row(svc, id, idx).await?;
    let part_size = svc.blobs.part_size();
    let parts = q::parts(svc.db.pool(), id, idx).await?;
    Ok(UploadStatus {
        index: idx,
        size: p.size,
        part_size,
        part_count: part_count(p.size, part_size),
        parts: parts
            .into_iter()
            .map(|r| PartStatus {
                index: r.part_idx,
                size: r.size,
                sha256: digest_text(&r.sha256),
            })
            .collect(),
        complete: p.complete,
    })
}

/// The exact length part `part` of payload `idx` must have (for the handler's body limit).
pub async fn expected_part(svc: &Services, who: &Principal, id: &str, idx: u32, part: u32) -> DomainResult<u64> {
    let m = owned(svc, who, id, Scope::Send).await?;
    require_draft(&m, svc.clock.now_ms())?;
    let p = payload_row(svc, id, idx).await?;
    expected_part_len(p.size, svc.blobs.part_size(), part)
        .ok_or_else(|| DomainError::invalid("invalid_part", "the part index is beyond the payload's length"))
}

/// Stores one part after checking its length and SHA-256. Retrying a part replaces it.
pub async fn put_part(
    svc: &Services,
    who: &Principal,
    id: &str,
    idx: u32,
    part: u32,
    body: Bytes,
    declared_sha256: [u8; 32],
) -> DomainResult<PartStatus> {
    let m = owned(svc, who, id, Scope::Send).await?;
    require_draft(&m, svc.clock.now_ms())?;
    let p = payload_row(svc, id, idx).await?;
    if p.complete {
        return Err(DomainError::conflict(
            "payload_complete",
            "this payload is already complete",
        ));
    }
    let expected = expected_part_len(p.size, svc.blobs.part_size(), part)
        .ok_or_else(|| DomainError::invalid("invalid_part", "the part index is beyond the payload's length"))?;
    if body.len() as u64 != expected {
        return Err(DomainError::invalid(
            "wrong_size",
            format!("part {part} must be exactly {expected} bytes"),
        ));
    }
    let hashed = body.clone();
    let digest = tokio::task::spawn_blocking(move || sha256(&[&hashed]))
        .await
        .map_err(|_| DomainError::Unavailable)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&digest[..], &declared_sha256[..])) {
        return Err(DomainError::invalid(
            "digest_mismatch",
            "the part's SHA-256 does not match its Content-Digest; it was not stored",
        ));
    }
    let nonce = (part == 0).then(|| body[..NONCE_LEN.min(body.len())].to_vec());
    let key = payload_key(id, idx)?;
    let upload = match p.upload_id {
        Some(u) => UploadId(u),
        None => {
            let fresh = svc.blobs.begin_upload(&key).await?;
            let mut tx = svc.db.begin_write().await?;
            let winner = q::set_upload_id(&mut tx, id, idx, &fresh.0).await?;
            tx.commit().await.map_err(DbError::from)?;
            if winner != fresh.0 {
                // Another request started the upload first; ours is not needed.
                if let Err(e) = svc.blobs.abort_upload(&key, &fresh).await {
                    tracing::warn!(error = %e, "could not abort a redundant upload");
                }
            }
            UploadId(winner)
        }
    };
    let PartTag(tag) = svc.blobs.put_part(&key, &upload, part, body).await?;
    crate::failpoint::hit("part-stored-before-record");
    let mut tx = svc.db.begin_write().await?;
    if !q::put_part(&mut tx, id, idx, part, expected, &digest, &tag, nonce.as_deref()).await? {
        return Err(DomainError::conflict(
            "payload_complete",
            "the payload is complete or the message no longer a draft",
        ));
    }
    tx.commit().await.map_err(DbError::from)?;
    crate::telemetry::upload_bytes(expected);
    Ok(PartStatus {
        index: part,
        size: expected,
        sha256: digest_text(&digest),
    })
}

/// Publishes a payload once every part is stored. Idempotent.
pub async fn complete_payload(svc: &Services, who: &Principal, id: &str, idx: u32) -> DomainResult<UploadStatus> {
    let m = owned(svc, who, id, Scope::Send).await?;
    let p = payload_row(svc, id, idx).await?;
    if p.complete {
        return upload_status(svc, who, id, idx).await;
    }
    require_draft(&m, svc.clock.now_ms())?;
    let part_size = svc.blobs.part_size();
    let count = part_count(p.size, part_size);
    let parts = q::parts(svc.db.pool(), id, idx).await?;
    let present: BTreeSet<u32> = parts.iter().map(|r| r.part_idx).collect();
    let missing: Vec<u32> = (0..count).filter(|i| !present.contains(i)).collect();
    if !missing.is_empty() || parts.len() != count as usize {
        return Err(DomainError::conflict(
            "parts_missing",
            format!(
                "{} of {count} parts are missing (first missing: {})",
                missing.len(),
                missing.first().unwrap_or(&0)
            ),
        ));
    }
    let upload = UploadId(p.upload_id.ok_or(DomainError::Unavailable)?);
    let tags: Vec<PartTag> = parts.into_iter().map(|r| PartTag(r.tag)).collect();
    svc.blobs
        .complete_upload(&payload_key(id, idx)?, &upload, &tags, p.size)
        .await?;
    crate::failpoint::hit("payload-published-before-record");
    let mut tx = svc.db.begin_write().await?;
    if !q::complete_payload(&mut tx, id, idx).await? {
        return Err(DomainError::conflict("not_draft", "the message is no longer a draft"));
    }
    tx.commit().await.map_err(DbError::from)?;
    upload_status(svc, who, id, idx).await
}

/// Seals a draft: checks the sender's seal against everything stored, wraps each server share
/// under the key-encryption key, and makes the message openable — all in one transaction.
pub async fn seal(
    svc: &Services,
    who: &Principal,
    id: &str,
    seal_text: &str,
    shares: &[(String, Zeroizing<String>)],
) -> DomainResult<MessageStatus> {
    let m = owned(svc, who, id, Scope::Send).await?;
    let now = svc.clock.now_ms();
    require_draft(&m, now)?;
    let bad = |code: &'static str, detail: &str| DomainError::invalid(code, detail.to_owned());
    let header_sha = m
        .header_sha256
        .clone()
        .ok_or_else(|| DomainError::conflict("header_missing", "upload the header before sealing"))?;
    let payloads = q::payloads(svc.db.pool(), id).await?;
    if let Some(p) = payloads.iter().find(|p| !p.complete) {
        return Err(DomainError::conflict(
            "payload_incomplete",
            format!("payload {} is not complete", p.idx),
        ));
    }
    let sender = users::user_by_id(svc.db.pool(), &m.sender_id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    let sender_pk: [u8; 32] = sender
        .ed25519_pk
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| DomainError::conflict("keys_required", "the sender has no published signing key"))?;
    let body = SealBody::verify(seal_text, &sender_pk).map_err(|_| {
        bad(
            "bad_seal",
            "the seal is malformed or its signature does not verify with the sender's key",
        )
    })?;
    if body.msg_id.to_text() != id {
        return Err(bad("bad_seal", "the seal names another message"));
    }
    if body.header_sha256[..] != header_sha[..] {
        return Err(bad(
            "bad_seal",
            "the seal's header hash does not match the stored header",
        ));
    }
    if body.policy_sha256 != sha256(&[&m.policy]) {
        return Err(bad(
            "bad_seal",
            "the seal's policy hash does not match the stored policy",
        ));
    }
    if body.payloads.len() != payloads.len() {
        return Err(bad("bad_seal", "the seal lists a different number of payloads"));
    }
    for (sealed, stored) in body.payloads.iter().zip(&payloads) {
        if sealed.len != stored.size || stored.nonce.as_deref() != Some(&sealed.nonce[..]) {
            return Err(bad("bad_seal", "a payload's length or nonce differs from the seal"));
        }
    }
    let recipients = q::recipients(svc.db.pool(), id).await?;
    let msg_id = b64::decode_url_array::<16>(id).map_err(|_| DomainError::NotFound)?;
    let mut wrapped = Vec::with_capacity(shares.len());
    let mut seen = BTreeSet::new();
    for (rid, share) in shares {
        if !recipients.iter().any(|r| &r.rid == rid) || !seen.insert(rid.clone()) {
            return Err(bad(
                "share_mismatch",
                "every server share must be for a distinct recipient of this message",
            ));
        }
        let share = Zeroizing::new(
            b64::decode_array::<32>(share)
                .map_err(|_| bad("share_mismatch", "a server share must be base64 of 32 bytes"))?,
        );
        let rid_bytes = b64::decode_url_array::<16>(rid).map_err(|_| DomainError::NotFound)?;
        wrapped.push((rid.clone(), svc.kek.wrap(&msg_id, &rid_bytes, &share)?));
    }
    if seen.len() != recipients.len() {
        return Err(bad("share_mismatch", "every recipient needs exactly one server share"));
    }
    let sender = users::user_by_id(svc.db.pool(), &m.sender_id)
        .await?
        .map(|u| u.address)
        .unwrap_or_default();
    let mut tx = svc.db.begin_write().await?;
    if !q::seal(&mut tx, id, seal_text, &wrapped, now).await? {
        return Err(DomainError::conflict("not_draft", "the message is no longer a draft"));
    }
    record(&mut tx, now, who, "message.sealed", id, None, None).await?;
    super::notify::queue_for_sealed(svc, &mut tx, id, &recipients, &sender, m.expires_at, now).await?;
    crate::failpoint::hit("seal-before-commit");
    tx.commit().await.map_err(DbError::from)?;
    crate::failpoint::hit("seal-after-commit");
    status_of(svc, id, true).await
}

async fn status_of(svc: &Services, id: &str, with_recipients: bool) -> DomainResult<MessageStatus> {
    let m = q::message(svc.db.pool(), id).await?.ok_or(DomainError::NotFound)?;
    status_from(svc, m, with_recipients).await
}

async fn status_from(svc: &Services, m: q::MessageRow, with_recipients: bool) -> DomainResult<MessageStatus> {
    let now = svc.clock.now_ms();
    let payloads = q::payloads(svc.db.pool(), &m.id).await?;
    let recipients = if with_recipients {
        let mut out = Vec::new();
        for r in q::recipients(svc.db.pool(), &m.id).await? {
            let live_recipient = r.state == "active" && r.revoke_at.is_none_or(|t| t > now);
            out.push(RecipientStatus {
                phone_hint: r.phone.as_ref().map(|p| super::access::phone_hint(p)),
                state: if live_recipient && is_live(&m, now) {
                    "active".into()
                } else {
                    "revoked".into()
                },
                rid: r.rid,
                kind: r.kind,
                verification: r.verification,
                address: r.address,
                notify: r.notify_address,
                revoke_at: r.revoke_at.map(to_rfc3339),
                revoked_at: r.revoked_at.map(to_rfc3339),
                releases: r.releases,
                link: r.access_id.as_ref().map(|a| link_of(&svc.public_url.get(), a)),
                access_id: r.access_id,
                failed_attempts: r.failures,
                locked: r.locked_at.is_some(),
            });
        }
        out
    } else {
        Vec::new()
    };
    Ok(MessageStatus {
        state: effective_state(&m, now),
        created_at: to_rfc3339(m.created_at),
        sealed_at: m.sealed_at.map(to_rfc3339),
        expires_at: to_rfc3339(m.expires_at),
        revoke_at: m.revoke_at.map(to_rfc3339),
        ended_at: m.ended_at.map(to_rfc3339),
        header_size: m.header_size,
        header_stored: m.header_sha256.is_some(),
        part_size: svc.blobs.part_size(),
        payloads: payloads
            .into_iter()
            .map(|p| PayloadStatus {
                index: p.idx,
                size: p.size,
                complete: p.complete,
            })
            .collect(),
        recipients,
        checks: if with_recipients {
            m.send_checks.as_deref().and_then(|c| serde_json::from_str(c).ok())
        } else {
            None
        },
        incident_id: None,
        id: m.id,
    })
}

/// Status of one message.
pub async fn status(svc: &Services, who: &Principal, id: &str) -> DomainResult<MessageStatus> {
    let m = readable(svc, who, id).await?;
    status_from(svc, m, true).await
}

/// Whose messages a list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope {
    /// The caller's own.
    Mine,
    /// The whole organisation's (admin or DPO).
    Organisation,
}

/// A page of messages, newest first; `before` is the cursor from the previous page.
pub async fn list(
    svc: &Services,
    who: &Principal,
    scope: ListScope,
    state_filter: Option<&str>,
    before: Option<&str>,
    limit: u32,
) -> DomainResult<(Vec<MessageStatus>, Option<String>)> {
    if !who.scopes.contains(&Scope::Read) && !who.scopes.contains(&Scope::Send) {
        return Err(DomainError::Forbidden("listing messages needs the read or send scope"));
    }
    let sender = match scope {
        ListScope::Mine => Some(who.user_id.as_str()),
        ListScope::Organisation => {
            if !who.has_role(Role::Dpo) && !who.has_role(Role::Admin) {
                return Err(DomainError::Forbidden(
                    "listing the organisation's messages needs the dpo or admin role",
                ));
            }
            None
        }
    };
    if let Some(s) = state_filter
        && ![state::DRAFT, state::SEALED, state::REVOKED, state::EXPIRED].contains(&s)
    {
        return Err(DomainError::invalid(
            "invalid_state",
            "state must be draft, sealed, revoked or expired",
        ));
    }
    let limit = limit.clamp(1, 200);
    let cursor = match before {
        None => None,
        Some(text) => Some(parse_cursor(text)?),
    };
    let rows = q::list_messages(
        svc.db.pool(),
        &who.org_id,
        sender,
        state_filter,
        cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
        limit,
        svc.clock.now_ms(),
    )
    .await?;
    let next = if rows.len() == limit as usize {
        rows.last()
            .map(|m| b64::encode_url(format!("{}.{}", m.created_at, m.id).as_bytes()))
    } else {
        None
    };
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        out.push(status_from(svc, m, false).await?);
    }
    Ok((out, next))
}

fn parse_cursor(text: &str) -> DomainResult<(i64, String)> {
    let bad = || DomainError::invalid("invalid_cursor", "the cursor is not one this server issued");
    let bytes = base64_url_decode(text).ok_or_else(bad)?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    if !ids::is_id(id) {
        return Err(bad());
    }
    Ok((at, id.to_owned()))
}

fn base64_url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if text.len() > 200 {
        return None;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()
}

/// What to revoke.
#[derive(Debug, Clone, Default)]
pub struct RevokeRequest {
    /// One recipient only; None for the whole message.
    pub rid: Option<String>,
    /// When; None or a past time means now.
    pub at: Option<i64>,
    /// Sent in error: also open an incident in the breach register (with these facts, if any).
    pub sent_in_error: Option<Option<sealpost_breach::FactsPatch>>,
}

/// Revokes a message or one recipient, now (crypto-shredding in the same transaction) or at a
/// given time (the sweeper shreds then; every release checks the time meanwhile).
pub async fn revoke(svc: &Services, who: &Principal, id: &str, req: RevokeRequest) -> DomainResult<MessageStatus> {
    let m = owned(svc, who, id, Scope::Send).await?;
    let now = svc.clock.now_ms();
    let recipients = q::recipients(svc.db.pool(), id).await?;
    if let Some(rid) = &req.rid
        && !recipients.iter().any(|r| &r.rid == rid)
    {
        return Err(DomainError::NotFound);
    }
    let in_error = req.sent_in_error.as_ref();
    if in_error.is_some() && req.at.is_some_and(|t| t > now) {
        return Err(DomainError::invalid(
            "invalid_time",
            "a message sent in error is revoked now: leave out at",
        ));
    }
    if in_error.is_some() && m.sealed_at.is_none() {
        return Err(DomainError::conflict(
            "not_sent",
            "the message was never sealed, so it was never sent",
        ));
    }
    // The wrong recipients unless named: the revoked one, or all of them.
    let wrong: Vec<String> = match &req.rid {
        Some(rid) => vec![rid.clone()],
        None => recipients.iter().map(|r| r.rid.clone()).collect(),
    };
    let s = effective_state(&m, now);
    if s == state::REVOKED && req.rid.is_none() && m.state == state::REVOKED {
        let incident = open_after_revoke(svc, who, &m, in_error, &wrong, now).await?;
        let mut status = status_from(svc, m, true).await?;
        status.incident_id = incident;
        return Ok(status);
    }
    if !is_live(&m, now) {
        // Due but not yet swept: end it now as what it is.
        if m.state == state::DRAFT || m.state == state::SEALED {
            end_now(svc, id, &s, "system".into(), Some(&m.org_id)).await?;
        }
        if s == state::REVOKED && req.rid.is_none() {
            let incident = open_after_revoke(svc, who, &m, in_error, &wrong, now).await?;
            let mut status = status_of(svc, id, true).await?;
            status.incident_id = incident;
            return Ok(status);
        }
        return Err(DomainError::Ended(s));
    }
    // The fence first: once the database commits, a restore of an older backup must not undo it.
    let fence_entry = match (req.at.filter(|t| *t > now), &req.rid) {
        (Some(at), _) if at > m.expires_at => {
            return Err(DomainError::invalid(
                "invalid_time",
                "a revocation after the expiry would never happen",
            ));
        }
        (Some(at), rid) => crate::fence::Entry::RevokeAt {
            rid: rid.clone(),
            changed: now,
            at,
        },
        (None, Some(rid)) => crate::fence::Entry::RecipientRevoked(rid.clone()),
        (None, None) => crate::fence::Entry::Revoked,
    };
    super::fence::write(svc, id, &fence_entry, now).await?;
    let mut tx = svc.db.begin_write().await?;
    match (req.at.filter(|t| *t > now), &req.rid) {
        (Some(at), rid) => {
            if !q::schedule_revoke(&mut tx, id, rid.as_deref(), Some(at)).await? {
                return Err(DomainError::conflict("not_active", "the recipient is already revoked"));
            }
            let detail = serde_json::json!({ "at": to_rfc3339(at) });
            record(
                &mut tx,
                now,
                who,
                "revocation.scheduled",
                id,
                rid.as_deref(),
                Some(detail),
            )
            .await?;
        }
        (None, Some(rid)) => {
            if q::revoke_recipient(&mut tx, id, rid, now).await? {
                record(&mut tx, now, who, "recipient.revoked", id, Some(rid), None).await?;
                record(&mut tx, now, who, "share.destroyed", id, Some(rid), None).await?;
            }
        }
        (None, None) => {
            if q::end_message(&mut tx, id, state::REVOKED, now).await?.is_some() {
                queue_blob_deletions(svc, &mut tx, id, now).await?;
                users::release_quota(&mut tx, id).await?;
                record(&mut tx, now, who, "message.revoked", id, None, None).await?;
                record(&mut tx, now, who, "share.destroyed", id, None, None).await?;
            }
        }
    }
    // Sent in error: the incident opens in the same transaction as the revocation.
    let incident = match in_error {
        Some(patch) => Some(
            super::incidents::open_in_tx(
                svc,
                &mut tx,
                who,
                &m,
                super::incidents::Trigger::RevokedSentInError,
                patch.as_ref(),
                &wrong,
                now,
            )
            .await?
            .id,
        ),
        None => None,
    };
    crate::failpoint::hit("revoke-before-commit");
    tx.commit().await.map_err(DbError::from)?;
    crate::failpoint::hit("revoke-after-commit");
    let mut status = status_of(svc, id, true).await?;
    status.incident_id = incident;
    Ok(status)
}

/// Opens the incident of a revoke "sent in error" of a message that had already been revoked.
async fn open_after_revoke(
    svc: &Services,
    who: &Principal,
    m: &q::MessageRow,
    in_error: Option<&Option<sealpost_breach::FactsPatch>>,
    wrong: &[String],
    now: i64,
) -> DomainResult<Option<String>> {
    let Some(patch) = in_error else {
        return Ok(None);
    };
    let mut tx = svc.db.begin_write().await?;
    let opened = super::incidents::open_in_tx(
        svc,
        &mut tx,
        who,
        m,
        super::incidents::Trigger::RevokedSentInError,
        patch.as_ref(),
        wrong,
        now,
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(Some(opened.id))
}

/// Changes the expiry of a live message.
pub async fn set_expiry(svc: &Services, who: &Principal, id: &str, expires_at: i64) -> DomainResult<MessageStatus> {
    let m = owned(svc, who, id, Scope::Send).await?;
    let now = svc.clock.now_ms();
    if !is_live(&m, now) {
        return Err(DomainError::Ended(effective_state(&m, now)));
    }
    check_expiry(expires_at, now, svc.limits.max_expiry_days)?;
    if m.revoke_at.is_some_and(|r| r > expires_at) {
        return Err(DomainError::invalid(
            "invalid_expiry",
            "the expiry must not come before the scheduled revocation",
        ));
    }
    let entry = crate::fence::Entry::Expiry {
        changed: now,
        to: expires_at,
    };
    super::fence::write(svc, id, &entry, now).await?;
    let mut tx = svc.db.begin_write().await?;
    if !q::set_expiry(&mut tx, id, expires_at, now).await? {
        return Err(DomainError::Ended(state::EXPIRED.into()));
    }
    let detail = serde_json::json!({ "from": to_rfc3339(m.expires_at), "to": to_rfc3339(expires_at) });
    record(&mut tx, now, who, "expiry.changed", id, None, Some(detail)).await?;
    tx.commit().await.map_err(DbError::from)?;
    status_of(svc, id, true).await
}

/// Deletes a message: shares destroyed now, blobs by the sweeper, quota given back.
pub async fn delete(svc: &Services, who: &Principal, id: &str) -> DomainResult<()> {
    let _ = owned(svc, who, id, Scope::Send).await?;
    let now = svc.clock.now_ms();
    super::fence::write(svc, id, &crate::fence::Entry::Deleted, now).await?;
    let mut tx = svc.db.begin_write().await?;
    if q::end_message(&mut tx, id, state::DELETED, now).await?.is_none() {
        return Err(DomainError::NotFound);
    }
    queue_blob_deletions(svc, &mut tx, id, now).await?;
    users::release_quota(&mut tx, id).await?;
    record(&mut tx, now, who, "message.deleted", id, None, None).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// Ends a message that is due (expired, or scheduled revocation reached), as the system.
/// Returns whether this call made the change (each message is swept exactly once).
pub async fn end_now(
    svc: &Services,
    id: &str,
    new_state: &str,
    actor: String,
    org_id: Option<&str>,
) -> DomainResult<bool> {
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    let changed = q::end_message(&mut tx, id, new_state, now).await?.is_some();
    if changed {
        queue_blob_deletions(svc, &mut tx, id, now).await?;
        users::release_quota(&mut tx, id).await?;
        let kind = match new_state {
            s if s == state::REVOKED => "message.revoked",
            s if s == state::DELETED => "message.abandoned",
            _ => "message.expired",
        };
        let event = ops::Event {
            org_id,
            actor: &actor,
            kind,
            message_id: Some(id),
            rid: None,
            detail: None,
        };
        ops::record(&mut tx, now, &event).await?;
        let destroyed = ops::Event {
            kind: "share.destroyed",
            ..event
        };
        ops::record(&mut tx, now, &destroyed).await?;
    }
    tx.commit().await.map_err(DbError::from)?;
    Ok(changed)
}

/// Revokes a recipient whose scheduled revocation is due, as the system.
pub async fn revoke_recipient_now(svc: &Services, id: &str, rid: &str) -> DomainResult<bool> {
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    let changed = q::revoke_recipient(&mut tx, id, rid, now).await?;
    if changed {
        let event = ops::Event {
            org_id: None,
            actor: "system",
            kind: "recipient.revoked",
            message_id: Some(id),
            rid: Some(rid),
            detail: Some(serde_json::json!({ "scheduled": true }).to_string()),
        };
        ops::record(&mut tx, now, &event).await?;
        let destroyed = ops::Event {
            kind: "share.destroyed",
            detail: None,
            ..event
        };
        ops::record(&mut tx, now, &destroyed).await?;
    }
    tx.commit().await.map_err(DbError::from)?;
    Ok(changed)
}

pub(crate) async fn queue_blob_deletions(
    svc: &Services,
    tx: &mut crate::db::Tx,
    id: &str,
    now: i64,
) -> DomainResult<()> {
    ops::queue_deletion(tx, header_key(id)?.as_str(), None, now).await?;
    for p in q::payloads(svc.db.pool(), id).await? {
        let upload = if p.complete { None } else { p.upload_id.as_deref() };
        ops::queue_deletion(tx, payload_key(id, p.idx)?.as_str(), upload, now).await?;
    }
    Ok(())
}

/// Activity of one message.
pub async fn events(svc: &Services, who: &Principal, id: &str) -> DomainResult<Vec<EventInfo>> {
    let _ = readable(svc, who, id).await?;
    super::transparency::integrate(svc).await?;
    Ok(ops::message_events(svc.db.pool(), id)
        .await?
        .into_iter()
        .map(|e| EventInfo {
            seq: e.seq,
            at: to_rfc3339(e.at),
            actor: e.actor,
            kind: e.kind,
            rid: e.rid,
            detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
        })
        .collect())
}

/// A payload's ciphertext for its sender (to verify what is stored): total length and the
/// requested byte range as a stream.
pub async fn download_payload(
    svc: &Services,
    who: &Principal,
    id: &str,
    idx: u32,
    range: Option<(u64, Option<u64>)>,
) -> DomainResult<(
    u64,
    std::ops::Range<u64>,
    futures::stream::BoxStream<'static, Result<Bytes, crate::blobs::BlobError>>,
)> {
    let m = owned(svc, who, id, Scope::Read).await?;
    if !is_live(&m, svc.clock.now_ms()) {
        return Err(DomainError::Ended(effective_state(&m, svc.clock.now_ms())));
    }
    read_payload(svc, id, idx, range).await
}

/// The stored length of a complete payload, the requested range, and that range as a stream.
pub(crate) async fn read_payload(
    svc: &Services,
    id: &str,
    idx: u32,
    range: Option<(u64, Option<u64>)>,
) -> DomainResult<(
    u64,
    std::ops::Range<u64>,
    futures::stream::BoxStream<'static, Result<Bytes, crate::blobs::BlobError>>,
)> {
    let p = payload_row(svc, id, idx).await?;
    if !p.complete {
        return Err(DomainError::conflict(
            "payload_incomplete",
            "the payload is not complete",
        ));
    }
    let range = match range {
        None => 0..p.size,
        Some((start, end)) => {
            let end = end.map_or(p.size, |e| e.saturating_add(1).min(p.size));
            if start >= p.size || start >= end {
                return Err(DomainError::invalid(
                    "range_not_satisfiable",
                    "the range is outside the payload",
                ));
            }
            start..end
        }
    };
    let stream = svc.blobs.get_range(&payload_key(id, idx)?, range.clone()).await?;
    Ok((p.size, range, stream))
}

/// Releases one recipient's server share — the only path by which a share leaves the server.
/// The check (sealed, not expired, not revoked, share present) and the count are one
/// conditional update, and the release event commits in the same transaction before the share
/// is returned. The recipient-verification layer calls this after 2FA.
pub async fn release_share(
    svc: &Services,
    id: &str,
    rid: &str,
    detail: serde_json::Value,
) -> DomainResult<(Zeroizing<[u8; 32]>, u64, i64)> {
    if !ids::is_id(id) || !ids::is_id(rid) {
        return Err(DomainError::Ended("unavailable".into()));
    }
    let msg_id = b64::decode_url_array::<16>(id).map_err(|_| DomainError::NotFound)?;
    let rid_bytes = b64::decode_url_array::<16>(rid).map_err(|_| DomainError::NotFound)?;
    let now = svc.clock.now_ms();
    // A database restored from an old backup may still hold a share the sender destroyed since.
    super::fence::check_release(svc, id, rid, now).await?;
    let mut tx = svc.db.begin_write().await?;
    let Some((wrapped, releases)) = q::release_share(&mut tx, id, rid, now).await? else {
        return Err(DomainError::Ended("unavailable".into()));
    };
    let share = svc.kek.unwrap(&msg_id, &rid_bytes, &wrapped)?;
    let actor = format!("recipient:{rid}");
    let event = ops::Event {
        org_id: None,
        actor: &actor,
        kind: "share.released",
        message_id: Some(id),
        rid: Some(rid),
        detail: Some(detail.to_string()),
    };
    let entry = ops::record(&mut tx, now, &event).await?;
    crate::failpoint::hit("release-before-commit");
    tx.commit().await.map_err(DbError::from)?;
    crate::failpoint::hit("release-after-commit");
    Ok((share, releases, entry))
}
