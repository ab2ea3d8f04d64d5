//! Sending a message: everything is encrypted here, on the sender's machine, and streamed to
//! the server part by part in memory that does not depend on the size of the attachments.
//!
//! # How a send runs
//!
//! 1. Recipient keys: accounts from the key directory; each guest gets a fresh one-message
//!    X25519 key whose secret goes only into the guest's link (its fragment).
//! 2. A fresh message id, file key and header ([`sealpost_crypto::recipient::seal_header`]),
//!    a fresh nonce per payload, and the policy text. These are written to a **resume file**
//!    (see below) before the server hears of the message.
//! 3. `POST /messages` (the draft), `PUT …/header`, then each payload: the manifest (subject,
//!    body, file names), then every attachment, read from its file, encrypted in batches of
//!    chunks across the CPU cores ([`crate::payload_io`]) and cut into the server's parts. Up
//!    to [`SendOptions::parallel_uploads`] parts are uploaded at once while the next ones are
//!    encrypted; a failed part is retried with backoff. A payload is completed once all its
//!    parts are stored.
//! 4. The seal: the sender's Ed25519 signature over the header hash, the policy hash and each
//!    payload's nonce, length and chunk root, sent with one server share per recipient.
//!
//! # Resuming
//!
//! The resume file is named after a fingerprint of the request (server, recipients, subject,
//! body, expiry, and each attachment's path, size and modification time). Running the same
//! command again finds it, asks the server which parts it already holds, re-encrypts (the same
//! key and nonces give the same bytes), uploads only the missing parts and seals. Changing an
//! attachment changes the fingerprint, so a modified file is never mixed with parts of the old
//! one. The file holds the message's file key, server shares and guest link secrets, so it is
//! written owner-only and deleted as soon as the message is sealed (or has ended).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> sealpost_client::Result<()> {
//! use sealpost_client::api::{ApiToken, Client};
//! use sealpost_client::send::{Notify, Recipient, SendOptions, SendRequest, Verification, send};
//!
//! let client = Client::new("https://sealpost.example", Some(ApiToken::new("sp_…".into())))?;
//! let keys = sealpost_client::keys::open_async("keys.json".as_ref(), "the key file's password").await?;
//! let request = SendRequest {
//!     recipients: vec![Recipient {
//!         address: "sam@example.org".into(),
//!         verification: Verification::Sms("+447700900123".into()),
//!     }],
//!     subject: "Your care plan".into(),
//!     body: "Dear Sam, your care plan is attached.".into(),
//!     attachments: vec!["plan.pdf".into()],
//!     expires: "7d".into(),
//!     max_opens: None,
//!     notify: Notify::None,
//!     checks: None,
//! };
//! let outcome = send(&client, &keys, &request, &SendOptions::new(sealpost_client::config::state_dir())).await?;
//! for r in &outcome.recipients {
//!     println!("{}: {}", r.address, r.link.as_deref().unwrap_or("-"));
//! }
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand_core::{Rng as _, UnwrapErr};
use reqwest::Method;
use sealpost_crypto::b64;
use sealpost_crypto::keyblob::UserKeys;
use sealpost_crypto::manifest::{AttachmentInfo, Manifest};
use sealpost_crypto::primitives::sha256;
use sealpost_crypto::recipient::{MessageId, RecipientPublicKey, RecipientSecretKey, seal_header};
use sealpost_crypto::seal::{PayloadDigest, SealBody};
use sealpost_crypto::secrets::FileKey;
use sealpost_crypto::stream::{Layout, NONCE_LEN};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::api::{Auth, Client, encode_segment};
use crate::error::{Error, Result};

/// How one recipient proves who they are before the server releases its share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// A guest: an SMS code to this E.164 number.
    Sms(String),
    /// A registered user with published keys: password, then TOTP.
    Registered,
}

/// One recipient of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// E-mail address (a registered user's account address, or the guest's address).
    pub address: String,
    /// How the recipient verifies.
    pub verification: Verification,
}

/// Whether the server mails the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// Registered recipients get their link by mail from the server (when it has mail
    /// enabled). A guest's link holds the guest's key, which the server never sees: the sender
    /// delivers it (the outcome lists it).
    Email,
    /// Nobody is mailed; the sender delivers every link.
    #[default]
    None,
}

/// A message to send.
#[derive(Debug, Clone, Serialize)]
pub struct SendRequest {
    /// Recipients, each with their own verification (at least one).
    pub recipients: Vec<Recipient>,
    /// The subject (encrypted in the manifest; the server never sees it).
    pub subject: String,
    /// The body text (encrypted in the manifest).
    pub body: String,
    /// Files to attach, any size.
    pub attachments: Vec<PathBuf>,
    /// When the message expires: an RFC 3339 time or a duration from now (`7d`, `12h`, `30m`).
    pub expires: String,
    /// At most this many openings per recipient.
    pub max_opens: Option<u32>,
    /// Whether the server mails links.
    pub notify: Notify,
    /// What the pre-send checks found and how the sender decided ([`crate::checks`]); travels
    /// with the message for the organisation's breach register. Categories and counts only.
    pub checks: Option<sealpost_guard::SendChecks>,
}

/// Reports upload progress in bytes of ciphertext; called from several tasks.
pub trait Progress: Send + Sync {
    /// The total number of bytes this send uploads (all payloads).
    fn start(&self, total: u64);
    /// `bytes` more are stored on the server (or were found there already).
    fn advance(&self, bytes: u64);
    /// The upload is over (success or not).
    fn finish(&self);
}

/// How to send.
#[derive(Clone)]
pub struct SendOptions {
    /// Where resume files live ([`crate::config::state_dir`]).
    pub state_dir: PathBuf,
    /// Parts uploaded at the same time (default 3).
    pub parallel_uploads: usize,
    /// Tries per part before the send gives up (default 6; backoff 0.5 s doubling).
    pub attempts: u32,
    /// Progress reports, if wanted.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for SendOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOptions")
            .field("state_dir", &self.state_dir)
            .field("parallel_uploads", &self.parallel_uploads)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl SendOptions {
    /// Defaults, with resume files in `state_dir`.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            parallel_uploads: 3,
            attempts: 6,
            progress: None,
        }
    }
}

/// One recipient of a sent message, as the sender needs it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SentRecipient {
    /// The address given.
    pub address: String,
    /// `account` or `guest`.
    pub kind: String,
    /// `totp` or `sms`.
    pub verification: String,
    /// The recipient id.
    pub rid: String,
    /// The link id.
    pub access_id: Option<String>,
    /// The link to deliver. A guest's link carries the guest's key after `#`: deliver it
    /// yourself, over a channel other than the SMS.
    pub link: Option<String>,
    /// Whether the link was handed to the server to mail (`--notify email`, account recipients
    /// only); the server sends it when it has mail enabled.
    pub mailed: bool,
}

/// What a finished send reports.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SendOutcome {
    /// The message id.
    pub message_id: String,
    /// The message's state (`sealed`).
    pub state: String,
    /// The expiry.
    pub expires_at: String,
    /// Whether this run resumed an interrupted one.
    pub resumed: bool,
    /// Ciphertext bytes stored on the server (header and payloads).
    pub bytes: u64,
    /// Ciphertext bytes this run uploaded (less than `bytes` after a resume).
    pub uploaded: u64,
    /// The recipients and their links.
    pub recipients: Vec<SentRecipient>,
}

/// The resume file's contents. Secret: written 0600, deleted once sealed.
#[derive(Serialize, Deserialize)]
struct SendState {
    v: u32,
    fingerprint: String,
    message_id: String,
    /// The file key (base64).
    file_key: Zeroizing<String>,
    /// The age header (base64).
    header: String,
    /// The policy text exactly as sealed.
    policy: String,
    /// The body of `POST /messages`.
    create: Value,
    /// One nonce per payload, manifest first (base64).
    nonces: Vec<String>,
    /// Each payload's plaintext length (manifest first).
    plaintext_lens: Vec<u64>,
    /// Server shares: (rid, base64 share).
    shares: Vec<(String, Zeroizing<String>)>,
    /// Recipients in order, with their rid and, for guests, the link secret.
    recipients: Vec<StateRecipient>,
    /// Attachments as fingerprinted: path, name, media type.
    attachments: Vec<StateAttachment>,
    /// Digests of payloads already completed on the server.
    digests: Vec<Option<StateDigest>>,
    /// The manifest plaintext (base64; small, holds subject and body).
    manifest: Zeroizing<String>,
    notify: Notify,
}

#[derive(Serialize, Deserialize)]
struct StateRecipient {
    address: String,
    kind: String,
    rid: String,
    link_secret: Option<Zeroizing<String>>,
}

#[derive(Serialize, Deserialize, Clone)]
struct StateAttachment {
    path: PathBuf,
    name: String,
    media_type: String,
    size: u64,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct StateDigest {
    len: u64,
    chunk_root: [u8; 32],
}

const STATE_VERSION: u32 = 1;

/// Sends a message: encrypts locally, uploads, seals. See the module documentation.
///
/// `keys` are the sender's own keys (their signing key signs the seal; it must be the one
/// published for the token's user).
pub async fn send(
    client: &Client,
    keys: &UserKeys,
    request: &SendRequest,
    options: &SendOptions,
) -> Result<SendOutcome> {
    validate(request)?;
    let attachments = describe_attachments(&request.attachments)?;
    let fingerprint = fingerprint(client, request, &attachments);
    let state_path = options.state_dir.join(format!("{fingerprint}.json"));

    let (mut state, resumed) = match load_state(&state_path, &fingerprint)? {
        Some(state) => match client.status(&state.message_id).await {
            Ok(status) => match status["state"].as_str() {
                Some("draft") => (state, true),
                Some("sealed") => {
                    let outcome = outcome(client, &state, &status, true, 0, 0);
                    remove_state(&state_path);
                    return outcome;
                }
                Some(other) => {
                    remove_state(&state_path);
                    return Err(Error::Invalid(format!(
                        "the interrupted send of message {} can no longer be finished: the message is {other}; run the command again to send a new message",
                        state.message_id
                    )));
                }
                None => {
                    return Err(Error::Protocol {
                        what: "message status".into(),
                        reason: "no state".into(),
                    });
                }
            },
            // Never created (killed before the server answered), or deleted since: start over
            // with the same keys is fine only if it was never created; a fresh state is safe in
            // both cases.
            Err(Error::Api(p)) if p.status == 404 => {
                (fresh_state(client, request, &attachments, &fingerprint).await?, false)
            }
            Err(e) => return Err(e),
        },
        None => (fresh_state(client, request, &attachments, &fingerprint).await?, false),
    };
    save_state(&state_path, &state)?;

    let id = state.message_id.clone();
    if !resumed {
        create_draft(client, &state).await?;
    }
    let status = client.status(&id).await?;
    let part_size = status["part_size"]
        .as_u64()
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::Protocol {
            what: "message status".into(),
            reason: "no part_size".into(),
        })?;

    let header = b64::decode(&state.header).map_err(|_| corrupt(&state_path))?;
    let payload_lens: Vec<u64> = state
        .plaintext_lens
        .iter()
        .map(|&n| Layout::for_plaintext(n).payload_len())
        .collect();
    let total: u64 = header.len() as u64 + payload_lens.iter().sum::<u64>();
    let counters = Counters::default();
    if let Some(p) = &options.progress {
        p.start(total);
    }
    let result = upload_everything(
        client,
        &mut state,
        &state_path,
        &status,
        &header,
        part_size,
        options,
        &counters,
    )
    .await;
    if let Some(p) = &options.progress {
        p.finish();
    }
    let digests = result?;

    let body = SealBody {
        msg_id: MessageId::from_text(&id).map_err(|_| corrupt(&state_path))?,
        header_sha256: sha256(&[&header]),
        policy_sha256: sha256(&[state.policy.as_bytes()]),
        payloads: digests,
    };
    let seal = body
        .sign(&keys.signing)
        .map_err(|e| Error::Verification(format!("cannot sign the seal: {e}")))?;
    let shares: Vec<Value> = state
        .shares
        .iter()
        .map(|(rid, share)| json!({ "rid": rid, "share": share.as_str() }))
        .collect();
    let sealed = client
        .call(
            Method::POST,
            &format!("/api/v1/messages/{}/seal", encode_segment(&id)),
            &json!({ "seal": seal, "server_shares": shares }),
        )
        .await;
    let status = match sealed {
        Ok(status) => status,
        // Sealed by an earlier run whose answer was lost.
        Err(Error::Api(p)) if p.code == "already_sealed" => client.status(&id).await?,
        Err(Error::Api(p)) if p.code == "bad_seal" => {
            return Err(Error::Invalid(format!(
                "the server refused the seal ({}); is the key file the one published for this account? Run `sealpost keys register`",
                p.detail.trim_end_matches('.')
            )));
        }
        Err(e) => return Err(e),
    };
    let outcome = outcome(
        client,
        &state,
        &status,
        resumed,
        total,
        counters.uploaded.load(Ordering::Relaxed),
    );
    remove_state(&state_path);
    outcome
}

fn corrupt(path: &Path) -> Error {
    Error::Config(format!(
        "the resume file {} is damaged; delete it to start the send afresh",
        path.display()
    ))
}

fn validate(request: &SendRequest) -> Result<()> {
    if request.recipients.is_empty() {
        return Err(Error::Invalid("no recipient: give at least one --to".into()));
    }
    for r in &request.recipients {
        if !r.address.contains('@') || r.address.starts_with('@') || r.address.ends_with('@') {
            return Err(Error::Invalid(format!("{:?} is not an e-mail address", r.address)));
        }
        if let Verification::Sms(phone) = &r.verification {
            let digits: String = phone.chars().filter(|c| !c.is_whitespace()).collect();
            let ok = digits.starts_with('+')
                && (9..=16).contains(&digits.len())
                && digits[1..].chars().all(|c| c.is_ascii_digit());
            if !ok {
                return Err(Error::Invalid(format!(
                    "{phone:?} is not a phone number in international form (like +447700900123)"
                )));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in &request.recipients {
        if !seen.insert(r.address.to_lowercase()) {
            return Err(Error::Invalid(format!("{} is given twice", r.address)));
        }
    }
    Ok(())
}

fn describe_attachments(paths: &[PathBuf]) -> Result<Vec<(StateAttachment, i128)>> {
    paths
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).map_err(|e| Error::file("read", path, e))?;
            if !meta.is_file() {
                return Err(Error::Invalid(format!("{} is not a file", path.display())));
            }
            // Readable at all? Better to say so now than after the upload has started.
            std::fs::File::open(path).map_err(|e| Error::file("read", path, e))?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "attachment".into());
            Ok((
                StateAttachment {
                    path: absolute,
                    media_type: media_type(&name).into(),
                    name,
                    size: meta.len(),
                },
                mtime,
            ))
        })
        .collect()
}

/// The media type for a file name, by extension (the recipient page uses it to show files).
pub fn media_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "text" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "zip" => "application/zip",
        "eml" => "message/rfc822",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "dcm" => "application/dicom",
        _ => "application/octet-stream",
    }
}

fn fingerprint(client: &Client, request: &SendRequest, attachments: &[(StateAttachment, i128)]) -> String {
    let files: Vec<Value> = attachments
        .iter()
        .map(|(a, mtime)| json!([a.path, a.size, mtime.to_string()]))
        .collect();
    let canonical = json!({
        "server": client.base(),
        "recipients": request.recipients,
        "subject": request.subject,
        "body_sha256": hex_of(&sha256(&[request.body.as_bytes()])),
        "expires": request.expires,
        "max_opens": request.max_opens,
        "notify": request.notify,
        "files": files,
    });
    hex_of(&sha256(&[canonical.to_string().as_bytes()]))[..32].to_owned()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `--expires`: an RFC 3339 time, or `N` followed by `d`, `h` or `m` from `now`.
pub fn parse_expiry(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let bad = || {
        Error::Invalid(format!(
            "{text:?} is not an expiry: give a duration like 7d, 12h or 30m, or a time like 2030-01-31T12:00:00Z"
        ))
    };
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" | "min" => n.checked_mul(60),
        "w" => n.checked_mul(7 * 86_400),
        _ => None,
    }
    .filter(|&s| s > 0 && s <= 10 * 365 * 86_400)
    .ok_or_else(bad)?;
    Ok(now + time::Duration::seconds(seconds))
}

/// Formats a time as the API writes it (RFC 3339, UTC, whole seconds).
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

async fn fresh_state(
    client: &Client,
    request: &SendRequest,
    attachments: &[(StateAttachment, i128)],
    fingerprint: &str,
) -> Result<SendState> {
    let mut rng = UnwrapErr(getrandom::SysRng);
    let expires_at = parse_expiry(&request.expires, OffsetDateTime::now_utc())?;

    // Recipient keys.
    let mut keys = Vec::with_capacity(request.recipients.len());
    let mut recipients = Vec::with_capacity(request.recipients.len());
    let mut create_recipients = Vec::new();
    for r in &request.recipients {
        let (pk, kind, link_secret) = match &r.verification {
            Verification::Registered => {
                let entry = match client.directory(&r.address).await {
                    Ok(entry) => entry,
                    Err(Error::Api(p)) if p.status == 404 => {
                        return Err(Error::Invalid(format!(
                            "{} has no Sealpost account with published keys; send with --sms NUMBER instead",
                            r.address
                        )));
                    }
                    Err(e) => return Err(e),
                };
                let pk: [u8; 32] = entry["x25519_pk"]
                    .as_str()
                    .and_then(|k| b64::decode_array(k).ok())
                    .ok_or_else(|| Error::Protocol {
                        what: format!("the directory entry of {}", r.address),
                        reason: "no valid x25519_pk".into(),
                    })?;
                (RecipientPublicKey(pk), "account", None)
            }
            Verification::Sms(_) => {
                let secret = RecipientSecretKey::generate(&mut rng);
                (secret.public(), "guest", Some(secret.to_link_secret()))
            }
        };
        let rid = pk.rid().to_text();
        let mut entry = json!({ "rid": rid, "kind": kind });
        match &r.verification {
            Verification::Registered => {
                entry["address"] = r.address.clone().into();
                if request.notify == Notify::Email {
                    entry["notify"] = r.address.clone().into();
                }
            }
            Verification::Sms(phone) => {
                entry["phone"] = phone.chars().filter(|c| !c.is_whitespace()).collect::<String>().into();
                // Shown to the sender (status, revoke --recipient); never mailed by the server.
                entry["notify"] = r.address.clone().into();
            }
        }
        create_recipients.push(entry);
        keys.push(pk);
        recipients.push(StateRecipient {
            address: r.address.clone(),
            kind: kind.into(),
            rid,
            link_secret,
        });
    }

    let msg_id = MessageId::random(&mut rng);
    let file_key = FileKey::random(&mut rng);
    let (header, shares) = seal_header(&file_key, &msg_id, &keys, Vec::new(), &mut rng)
        .map_err(|e| Error::Invalid(format!("cannot encrypt to these recipients: {e}")))?;

    let mut policy = json!({
        "v": 1,
        "expires_at": rfc3339(expires_at),
        "recipients": request.recipients.iter().zip(&recipients).map(|(r, s)| json!({
            "rid": s.rid,
            "verification": match r.verification { Verification::Sms(_) => "sms", Verification::Registered => "totp" },
        })).collect::<Vec<_>>(),
    });
    if let Some(n) = request.max_opens {
        policy["max_opens"] = n.into();
    }
    let policy = policy.to_string();

    let manifest = Manifest::new(
        request.subject.clone(),
        request.body.clone(),
        attachments
            .iter()
            .map(|(a, _)| AttachmentInfo {
                name: a.name.clone(),
                size: a.size,
                media_type: a.media_type.clone(),
            })
            .collect(),
    );
    let manifest_plaintext = Zeroizing::new(
        manifest
            .encode()
            .map_err(|e| Error::Invalid(format!("the subject or body cannot be sent: {e}")))?,
    );
    let mut plaintext_lens = vec![manifest_plaintext.len() as u64];
    plaintext_lens.extend(attachments.iter().map(|(a, _)| a.size));
    let nonces: Vec<String> = plaintext_lens
        .iter()
        .map(|_| {
            let mut nonce = [0u8; NONCE_LEN];
            rng.fill_bytes(&mut nonce);
            b64::encode(&nonce)
        })
        .collect();
    let payload_sizes: Vec<u64> = plaintext_lens
        .iter()
        .map(|&n| Layout::for_plaintext(n).payload_len())
        .collect();
    let mut create = json!({
        "id": msg_id.to_text(),
        "policy": policy,
        "header_size": header.as_bytes().len(),
        "payload_sizes": payload_sizes,
        "recipients": create_recipients,
    });
    if let Some(checks) = &request.checks {
        create["checks"] = json!(checks);
    }
    Ok(SendState {
        v: STATE_VERSION,
        fingerprint: fingerprint.to_owned(),
        message_id: msg_id.to_text(),
        file_key: Zeroizing::new(b64::encode(file_key.expose_secret())),
        header: b64::encode(header.as_bytes()),
        policy,
        create,
        digests: vec![None; nonces.len()],
        nonces,
        plaintext_lens,
        shares: shares
            .iter()
            .map(|s| (s.rid.to_text(), Zeroizing::new(b64::encode(s.share.expose_secret()))))
            .collect(),
        recipients,
        attachments: attachments.iter().map(|(a, _)| a.clone()).collect(),
        manifest: Zeroizing::new(b64::encode(&manifest_plaintext)),
        notify: request.notify,
    })
}

async fn create_draft(client: &Client, state: &SendState) -> Result<()> {
    match client.call(Method::POST, "/api/v1/messages", &state.create).await {
        Ok(_) => Ok(()),
        // Created by the interrupted run.
        Err(Error::Api(p)) if p.code == "id_exists" => Ok(()),
        Err(Error::Api(p)) if p.code == "unknown_recipient" || p.code == "stale_recipient_key" => {
            Err(Error::Invalid(format!("a recipient cannot be used: {}", p.detail)))
        }
        Err(e) => Err(e),
    }
}

fn load_state(path: &Path, fingerprint: &str) -> Result<Option<SendState>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::file("read", path, e)),
    };
    let state: SendState = serde_json::from_slice(&bytes).map_err(|_| corrupt(path))?;
    if state.v != STATE_VERSION || state.fingerprint != fingerprint {
        return Err(corrupt(path));
    }
    Ok(Some(state))
}

fn save_state(path: &Path, state: &SendState) -> Result<()> {
    let bytes = Zeroizing::new(serde_json::to_vec(state).map_err(|e| Error::Config(e.to_string()))?);
    crate::config::write_private(path, &bytes)
}

fn remove_state(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[derive(Default)]
struct Counters {
    uploaded: AtomicU64,
}

#[allow(clippy::too_many_arguments)]
async fn upload_everything(
    client: &Client,
    state: &mut SendState,
    state_path: &Path,
    status: &Value,
    header: &[u8],
    part_size: u64,
    options: &SendOptions,
    counters: &Counters,
) -> Result<Vec<PayloadDigest>> {
    let id = state.message_id.clone();
    let advance = |n: u64| {
        if let Some(p) = &options.progress {
            p.advance(n);
        }
    };
    if status["header_stored"].as_bool() == Some(true) {
        advance(header.len() as u64);
    } else {
        let path = format!("/api/v1/messages/{}/header", encode_segment(&id));
        let body = Bytes::copy_from_slice(header);
        with_retries(options.attempts, || async {
            client
                .send(
                    client
                        .request(Method::PUT, &path, Auth::Token)?
                        .header("content-type", "application/octet-stream")
                        .body(body.clone()),
                )
                .await
                .map(drop)
        })
        .await?;
        counters.uploaded.fetch_add(header.len() as u64, Ordering::Relaxed);
        advance(header.len() as u64);
    }

    let file_key = FileKey::from_bytes(b64::decode_array(&state.file_key).map_err(|_| corrupt(state_path))?);
    let mut digests = Vec::with_capacity(state.nonces.len());
    for index in 0..state.nonces.len() {
        let nonce: [u8; NONCE_LEN] = b64::decode_array(&state.nonces[index]).map_err(|_| corrupt(state_path))?;
        let plaintext_len = state.plaintext_lens[index];
        let payload_len = Layout::for_plaintext(plaintext_len).payload_len();
        let upload = client
            .get(&format!("/api/v1/messages/{}/payloads/{index}", encode_segment(&id)))
            .await?;
        let complete = upload["complete"].as_bool() == Some(true);
        if complete && let Some(d) = state.digests[index] {
            advance(payload_len);
            digests.push(PayloadDigest {
                nonce,
                len: d.len,
                chunk_root: d.chunk_root,
            });
            continue;
        }
        let stored: std::collections::HashMap<u64, (u64, String)> = upload["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p["index"].as_u64()?,
                    (
                        p["size"].as_u64()?,
                        p["sha256"].as_str()?.trim_end_matches('=').to_owned(),
                    ),
                ))
            })
            .collect();
        let source = if index == 0 {
            Source::Memory(Zeroizing::new(
                b64::decode(&state.manifest).map_err(|_| corrupt(state_path))?,
            ))
        } else {
            Source::File(state.attachments[index - 1].path.clone())
        };
        let digest = upload_payload(
            client,
            &id,
            index,
            &file_key,
            nonce,
            plaintext_len,
            source,
            part_size,
            if complete { None } else { Some(stored) },
            options,
            counters,
        )
        .await?;
        if !complete {
            let path = format!("/api/v1/messages/{}/payloads/{index}/complete", encode_segment(&id));
            with_retries(options.attempts, || async {
                match client.send(client.request(Method::POST, &path, Auth::Token)?).await {
                    Ok(_) => Ok(()),
                    Err(Error::Api(p)) if p.code == "payload_complete" => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        }
        state.digests[index] = Some(StateDigest {
            len: digest.len,
            chunk_root: digest.chunk_root,
        });
        save_state(state_path, state)?;
        digests.push(digest);
    }
    Ok(digests)
}

enum Source {
    Memory(Zeroizing<Vec<u8>>),
    File(PathBuf),
}

/// Encrypts one payload and uploads the parts the server lacks (`stored`: what it holds;
/// `None`: it holds everything, only the digest is wanted).
#[allow(clippy::too_many_arguments)]
async fn upload_payload(
    client: &Client,
    id: &str,
    index: usize,
    file_key: &FileKey,
    nonce: [u8; NONCE_LEN],
    plaintext_len: u64,
    source: Source,
    part_size: u64,
    stored: Option<std::collections::HashMap<u64, (u64, String)>>,
    options: &SendOptions,
    counters: &Counters,
) -> Result<PayloadDigest> {
    let workers = options.parallel_uploads.max(1);
    let (tx, mut rx) = mpsc::channel::<(u64, Bytes)>(workers);
    let file_key = FileKey::from_bytes(*file_key.expose_secret());
    let path_for_errors = match &source {
        Source::File(p) => Some(p.clone()),
        Source::Memory(_) => None,
    };
    let producer = tokio::task::spawn_blocking(move || -> Result<PayloadDigest> {
        let mut writer = PartWriter {
            tx,
            part_size: part_size as usize,
            current: Vec::with_capacity(part_size as usize),
            next_index: 0,
        };
        let result = match source {
            Source::Memory(bytes) => crate::payload_io::encrypt_payload(
                &file_key,
                nonce,
                plaintext_len,
                std::io::Cursor::new(bytes.as_slice()),
                &mut writer,
            ),
            Source::File(path) => {
                let file = std::fs::File::open(&path).map_err(|e| Error::file("read", &path, e))?;
                crate::payload_io::encrypt_payload(&file_key, nonce, plaintext_len, file, &mut writer)
            }
        };
        let digest = result?;
        writer
            .finish()
            .map_err(|e| Error::Payload(crate::payload_io::PayloadIoError::Write(e)))?;
        Ok(digest)
    });

    let mut tasks = tokio::task::JoinSet::new();
    let mut first_error: Option<Error> = None;
    let path_prefix = format!("/api/v1/messages/{}/payloads/{index}/parts", encode_segment(id));
    while let Some((part, bytes)) = rx.recv().await {
        let len = bytes.len() as u64;
        let already = stored.as_ref().is_none_or(|s| {
            s.get(&part).is_some_and(|(size, sha)| {
                *size == len && *sha == b64::encode(&sha2::Sha256::digest(&bytes)).trim_end_matches('=')
            })
        });
        if already {
            if let Some(p) = &options.progress {
                p.advance(len);
            }
            continue;
        }
        while tasks.len() >= workers {
            if let Some(joined) = tasks.join_next().await {
                match flatten(joined) {
                    Ok(len) => {
                        counters.uploaded.fetch_add(len, Ordering::Relaxed);
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if first_error.is_some() {
            break;
        }
        let client = client.clone();
        let path = format!("{path_prefix}/{part}");
        let attempts = options.attempts;
        let progress = options.progress.clone();
        tasks.spawn(async move {
            let digest = format!("sha-256=:{}:", b64_padded(&sha2::Sha256::digest(&bytes)));
            with_retries(attempts, || async {
                client
                    .send(
                        client
                            .request(Method::PUT, &path, Auth::Token)?
                            .header("content-type", "application/octet-stream")
                            .header("content-digest", &digest)
                            .body(bytes.clone()),
                    )
                    .await
                    .map(drop)
            })
            .await?;
            if let Some(p) = progress {
                p.advance(len);
            }
            Ok::<u64, Error>(len)
        });
    }
    // Stop the producer if uploads failed (it sees the channel closed).
    drop(rx);
    while let Some(joined) = tasks.join_next().await {
        match flatten(joined) {
            Ok(len) => {
                counters.uploaded.fetch_add(len, Ordering::Relaxed);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let produced = producer
        .await
        .map_err(|e| Error::Invalid(format!("encryption stopped: {e}")))?;
    if let Some(e) = first_error {
        return Err(e);
    }
    match produced {
        Ok(digest) => Ok(digest),
        Err(Error::Payload(crate::payload_io::PayloadIoError::Read(e))) => {
            Err(Error::file("read", path_for_errors.unwrap_or_default(), e))
        }
        Err(Error::Payload(
            crate::payload_io::PayloadIoError::InputTooShort { .. }
            | crate::payload_io::PayloadIoError::InputTooLong { .. },
        )) => Err(Error::Invalid(format!(
            "{} changed while it was being sent; run the command again to send the new version",
            path_for_errors.unwrap_or_default().display()
        ))),
        Err(e) => Err(e),
    }
}

fn flatten(joined: std::result::Result<Result<u64>, tokio::task::JoinError>) -> Result<u64> {
    joined.map_err(|e| Error::Invalid(format!("an upload task stopped: {e}")))?
}

fn b64_padded(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs `op` up to `attempts` times while it fails transiently, waiting 0.5 s, 1 s, 2 s, …
/// (or the server's `Retry-After`) in between.
pub(crate) async fn with_retries<F, Fut, T>(attempts: u32, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut wait = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < attempts.max(1) => {
                let pause = e
                    .problem()
                    .and_then(|p| p.retry_after)
                    .map(Duration::from_secs)
                    .unwrap_or(wait)
                    .min(Duration::from_secs(30));
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A `Write` that cuts the payload into the server's parts and hands each to the uploader.
struct PartWriter {
    tx: mpsc::Sender<(u64, Bytes)>,
    part_size: usize,
    current: Vec<u8>,
    next_index: u64,
}

impl PartWriter {
    fn ship(&mut self) -> std::io::Result<()> {
        let part = std::mem::replace(&mut self.current, Vec::with_capacity(self.part_size));
        self.tx
            .blocking_send((self.next_index, Bytes::from(part)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))?;
        self.next_index += 1;
        Ok(())
    }
}

impl std::io::Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.part_size - self.current.len();
        let n = room.min(buf.len());
        self.current.extend_from_slice(&buf[..n]);
        if self.current.len() == self.part_size {
            self.ship()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl PartWriter {
    /// Ships the last, short part (or the only one), once the whole payload is written.
    fn finish(mut self) -> std::io::Result<()> {
        if !self.current.is_empty() || self.next_index == 0 {
            self.ship()?;
        }
        Ok(())
    }
}

/// The outcome, from the state and a status of the sealed message.
fn outcome(
    client: &Client,
    state: &SendState,
    status: &Value,
    resumed: bool,
    total: u64,
    uploaded: u64,
) -> Result<SendOutcome> {
    let by_rid: std::collections::HashMap<&str, &Value> = status["recipients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["rid"].as_str()?, r)))
        .collect();
    let recipients = state
        .recipients
        .iter()
        .map(|r| {
            let s = by_rid.get(r.rid.as_str());
            let access_id = s.and_then(|s| s["access_id"].as_str()).map(str::to_owned);
            let base_link = s
                .and_then(|s| s["link"].as_str())
                .map(str::to_owned)
                .or_else(|| access_id.as_ref().map(|a| client.url(&format!("/r/{a}"))));
            let link = base_link.map(|l| match &r.link_secret {
                Some(secret) => format!("{l}#{}", secret.as_str()),
                None => l,
            });
            SentRecipient {
                address: r.address.clone(),
                kind: r.kind.clone(),
                verification: if r.kind == "guest" { "sms".into() } else { "totp".into() },
                rid: r.rid.clone(),
                access_id,
                link,
                mailed: r.kind == "account" && state.notify == Notify::Email,
            }
        })
        .collect();
    Ok(SendOutcome {
        message_id: state.message_id.clone(),
        state: status["state"].as_str().unwrap_or("sealed").to_owned(),
        expires_at: status["expires_at"].as_str().unwrap_or_default().to_owned(),
        resumed,
        bytes: total,
        uploaded,
        recipients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_durations_and_times() {
        let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).expect("time");
        assert_eq!(parse_expiry("7d", now).expect("7d"), now + time::Duration::days(7));
        assert_eq!(parse_expiry("12h", now).expect("12h"), now + time::Duration::hours(12));
        assert_eq!(
            parse_expiry("30m", now).expect("30m"),
            now + time::Duration::minutes(30)
        );
        assert_eq!(
            rfc3339(parse_expiry("2030-01-31T12:00:00Z", now).expect("time")),
            "2030-01-31T12:00:00Z"
        );
        for bad in ["", "7", "d", "7y", "-1d", "0d", "soon"] {
            assert!(parse_expiry(bad, now).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_part_writer_cuts_exact_parts() {
        let (tx, mut rx) = mpsc::channel(16);
        {
            let mut w = PartWriter {
                tx,
                part_size: 10,
                current: Vec::new(),
                next_index: 0,
            };
            std::io::Write::write_all(&mut w, &[7u8; 25]).expect("write");
            w.finish().expect("finish");
        }
        let mut parts = Vec::new();
        while let Ok(p) = rx.try_recv() {
            parts.push((p.0, p.1.len()));
        }
        assert_eq!(parts, vec![(0, 10), (1, 10), (2, 5)]);
    }

    #[test]
    fn recipients_are_checked_before_anything_is_sent() {
        let request = |address: &str, phone: &str| SendRequest {
            recipients: vec![Recipient {
                address: address.into(),
                verification: Verification::Sms(phone.into()),
            }],
            subject: String::new(),
            body: String::new(),
            attachments: vec![],
            expires: "7d".into(),
            max_opens: None,
            notify: Notify::None,
            checks: None,
        };
        assert!(validate(&request("sam@example.org", "+447700900123")).is_ok());
        assert!(validate(&request("sam", "+447700900123")).is_err());
        assert!(validate(&request("sam@example.org", "07700 900123")).is_err());
    }
}
