//! Opening a message as its recipient: the same steps as the recipient page in the browser
//! (`web-recipient/www/app.js`), natively.
//!
//! # How an opening runs
//!
//! 1. **The link's information** (`GET /api/v1/access/{id}`, no side effect): a link that has
//!    ended (revoked, expired, deleted: the server answers 404 `unknown_link`, as for a link
//!    that never existed) or is locked stops here, before any code is sent. So do local
//!    problems: a guest's link without its key (the part after `#`), a log key that does not
//!    parse, an output folder that cannot be written.
//! 2. **Verification.** A guest gets an SMS code and types it ([`Prompt::sms_code`]); a wrong
//!    code is asked again while the server allows, a void code is replaced by a new one. A
//!    registered recipient gives their password ([`Prompt::password`]): the client derives the
//!    login key with Argon2id (off the async runtime) and signs in, then gives the authenticator
//!    code ([`Prompt::totp_code`]), and finally opens their key blob with the same derived keys.
//!    The password never leaves this machine.
//! 3. **The envelope** is checked before anything is released (format.md §9): the sender's seal,
//!    the message id the link names, the header the seal binds, the policy, and this
//!    recipient's share of the header, whose recipient id must be the link's.
//! 4. **The release** (`POST …/release`, which counts as one opening) comes with the proof that
//!    it is in the server's access log. The proof is checked against the pinned log key
//!    ([`OpenOptions::log_key`], else the key the link's information announces) **before** the
//!    released share is used ([`check_release_proof`]); a release without a valid proof is
//!    refused and the message is not decrypted.
//! 5. **The contents**: the manifest (subject, body, file names) is decrypted in memory and saved
//!    as `message.txt`; each attachment is streamed from the server through the decryptor into
//!    a temporary file in the output folder, in memory that does not depend on its size, and
//!    renamed to its final name only once its last chunk and its chunk root verified. An
//!    interrupted download resumes with a range request.
//!
//! File names come from the sender and are sanitised ([`sanitize_file_name`]); an existing file
//! is never overwritten (`report (1).pdf`, `report (2).pdf`, …). Saved files are readable by
//! their owner only (on Unix).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> sealpost_client::Result<()> {
//! use sealpost_client::open::{OpenOptions, Prompt, open, parse_target};
//! use zeroize::Zeroizing;
//!
//! /// Answers from wherever the application gets them (a form, a queue, a test).
//! struct Answers;
//! impl Prompt for Answers {
//!     fn sms_code(&self, _hint: &str, _left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
//!         Ok(Zeroizing::new("123456".into()))
//!     }
//!     fn password(&self) -> sealpost_client::Result<Zeroizing<String>> {
//!         Ok(Zeroizing::new(String::new()))
//!     }
//!     fn totp_code(&self, _left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
//!         Ok(Zeroizing::new(String::new()))
//!     }
//! }
//!
//! let target = parse_target("https://sealpost.example/r/Zt0vQ3m9Xc1aB7yK2pLqWw#…", None)?;
//! let options = OpenOptions { out_dir: "opened".into(), log_key: None };
//! let opened = open(&target, &Answers, &options).await?;
//! println!("{}: {} attachment(s)", opened.subject, opened.attachments.len());
//! # Ok(()) }
//! ```

use std::fs;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf as _, Bytes};
use futures::StreamExt as _;
use reqwest::{Method, StatusCode};
use sealpost_crypto::b64;
use sealpost_crypto::keyblob::{KdfSpec, KeyBlob, PasswordKeys, UserKeys};
use sealpost_crypto::message::{Envelope, UnlockedMessage};
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::recipient::{MessageId, RecipientSecretKey};
use sealpost_crypto::secrets::ServerShare;
use sealpost_crypto::tlog::{self, LogEntry};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::{Auth, Client, Session, encode_segment};
use crate::error::{Error, Problem, Result};
use crate::payload_io::{PayloadIoError, decrypt_message_payload};

/// Asks the person at the keyboard; the CLI implements it (terminal prompts, or lines from stdin).
///
/// The methods may block (they are called off the async worker threads where the runtime
/// allows it). An error ends the opening with that error.
pub trait Prompt: Send + Sync {
    /// The SMS code sent to `hint` (like "•••• 0123"). `attempts_left`: Some(n) after a wrong entry.
    fn sms_code(&self, hint: &str, attempts_left: Option<u64>) -> Result<Zeroizing<String>>;
    /// The recipient's Sealpost password (registered recipients).
    fn password(&self) -> Result<Zeroizing<String>>;
    /// The authenticator (TOTP) code or a recovery code (registered recipients).
    fn totp_code(&self, attempts_left: Option<u64>) -> Result<Zeroizing<String>>;
    /// Something the person should know while the opening goes on, as one sentence: a wrong
    /// password, a wait before a new code can be sent, a sign-in that timed out. The default
    /// ignores it.
    fn notice(&self, _text: &str) {}
}

/// How to open a message.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Directory to save the message text and attachments into (created if missing).
    pub out_dir: PathBuf,
    /// A log key (vkey text) to pin instead of the one the link's info announces.
    pub log_key: Option<String>,
}

/// A parsed link: the server, the link id and, for a guest, the guest's key.
pub struct Target {
    /// A client of the server the link points to (recipient calls never send its API token).
    pub client: Client,
    /// The link id (`access_id`, 22 characters of base64url).
    pub access_id: String,
    /// The guest's one-message key: the part of the link after `#`. Secret; not in `Debug`.
    pub link_secret: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server", &self.client.base())
            .field("access_id", &self.access_id)
            .field("link_secret", &self.link_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What an opening saved and learnt.
#[derive(Debug, Clone, Serialize)]
pub struct OpenOutcome {
    /// The message id.
    pub message_id: String,
    /// The sender's address, as the envelope names it.
    pub sender: String,
    /// The subject (sender's text; see [`printable`] before showing it on a terminal).
    pub subject: String,
    /// The body (sender's text; see [`printable`] before showing it on a terminal).
    pub body: String,
    /// Releases to this recipient so far, this opening included.
    pub releases: u64,
    /// The index of this release's entry in the server's access log.
    pub log_index: u64,
    /// The saved text: `out_dir/message.txt` (or `message (1).txt`, …), holding
    /// `Subject: …\nFrom: …\n\n` and the body.
    pub message_file: PathBuf,
    /// The attachments, in the order of the message.
    pub attachments: Vec<SavedAttachment>,
}

/// One saved attachment.
#[derive(Debug, Clone, Serialize)]
pub struct SavedAttachment {
    /// The file name as the sender gave it (unsanitised; see [`printable`]).
    pub name: String,
    /// Where it was saved (its name sanitised, and numbered if the name was taken).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The media type the sender gave.
    pub media_type: String,
}

/// The release proof as the server sends it with a share (`log` of `POST …/release`;
/// format.md §14.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseProof {
    /// The index of the `share.released` entry in the access log.
    pub index: u64,
    /// The entry's bytes, standard base64 with padding.
    pub leaf: String,
    /// The inclusion proof, leaf to root: hashes in standard base64 with padding.
    pub proof: Vec<String>,
    /// The signed checkpoint the proof is against.
    pub checkpoint: String,
}

// ---- limits ------------------------------------------------------------------------------------

/// Codes requested after the first one (void codes replaced) before giving up.
const MAX_NEW_CODES: u32 = 5;
/// Answers refused locally (not a code at all) before giving up.
const MAX_MALFORMED: u32 = 3;
/// Longest wait for a new code that the SDK sits out by itself.
const MAX_RESEND_WAIT_SECS: u64 = 120;
/// Fresh sign-ins after the password-stage session ended during the TOTP step.
const MAX_RELOGINS: u32 = 2;
/// Longest TOTP or recovery code accepted.
const MAX_TOTP_LEN: usize = 64;
/// Resumptions of one interrupted attachment download.
const DOWNLOAD_RETRIES: u32 = 3;
/// Pieces of ciphertext in flight between the network and the decryptor.
const PIPE_PIECES: usize = 8;
/// Most inclusion-proof hashes accepted: a log of at most 2^56 entries needs at most 56.
const MAX_PROOF_HASHES: usize = 64;
/// Longest base64 leaf accepted (a log entry is at most 8192 bytes).
const MAX_LEAF_B64: usize = 8192usize.div_ceil(3) * 4;
/// Largest manifest payload accepted: the largest manifest plaintext, plus generous room for the
/// nonce and one 16-byte tag per 64 KiB chunk.
const MAX_MANIFEST_PAYLOAD: u64 = (sealpost_crypto::manifest::MAX_MANIFEST_LEN + (1 << 16)) as u64;
/// Longest saved file name, in bytes of UTF-8 (leaves room for " (99)" within 255).
const NAME_LIMIT: usize = 240;

// ---- the link --------------------------------------------------------------------------------

/// Parses a link as given: `https://host[:port][/prefix]/r/{access_id}#{secret}` (guests; the
/// part after `#` is the guest's key) or without fragment (registered recipients), or a bare
/// access id (22 chars base64url, optionally followed by `#secret`) used with `default_server`.
///
/// Errors never repeat the link's key.
pub fn parse_target(target: &str, default_server: Option<&Client>) -> Result<Target> {
    let target = target.trim();
    let (before, fragment) = match target.split_once('#') {
        Some((before, fragment)) => (before.trim(), Some(fragment.trim())),
        None => (target, None),
    };
    let link_secret = fragment.filter(|f| !f.is_empty()).map(|f| Zeroizing::new(f.to_owned()));
    if is_access_id(before) {
        let client = default_server.cloned().ok_or_else(|| {
            Error::Config(
                "a link id alone needs a server: give the whole link (https://…/r/…), or set the server with `sealpost init`"
                    .into(),
            )
        })?;
        return Ok(Target {
            client,
            access_id: before.to_owned(),
            link_secret,
        });
    }
    let not_a_link = || Error::Invalid("this is not a Sealpost link (like https://sealpost.example/r/…#…)".into());
    let url = reqwest::Url::parse(before).map_err(|_| not_a_link())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(not_a_link());
    }
    let (prefix, id) = url.path().rsplit_once("/r/").ok_or_else(not_a_link)?;
    let id = id.strip_suffix('/').unwrap_or(id);
    if !is_access_id(id) {
        return Err(Error::Invalid(
            "the link's id (the part after /r/) is damaged; copy the whole link again".into(),
        ));
    }
    let base = format!("{}{}", url.origin().ascii_serialization(), prefix);
    let client = match default_server {
        Some(client) if client.base() == base => client.clone(),
        _ => Client::new(&base, None)?,
    };
    Ok(Target {
        client,
        access_id: id.to_owned(),
        link_secret,
    })
}

/// Whether `text` is a canonical link id: 16 bytes in unpadded base64url.
fn is_access_id(text: &str) -> bool {
    text.len() == 22 && b64::decode_url_array::<16>(text).is_ok()
}

/// The recipient calls of one link.
struct Link<'a> {
    client: &'a Client,
    path: String,
}

impl Link<'_> {
    fn path(&self, tail: &str) -> String {
        format!("{}{tail}", self.path)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, tail: &str, auth: Auth<'_>, what: &str) -> Result<T> {
        let request = self.client.request(Method::GET, &self.path(tail), auth)?;
        self.client.json(request, what).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        tail: &str,
        auth: Auth<'_>,
        body: Option<&(impl Serialize + ?Sized)>,
        what: &str,
    ) -> Result<T> {
        let mut request = self.client.request(Method::POST, &self.path(tail), auth)?;
        if let Some(body) = body {
            request = request.json(body);
        }
        self.client.json(request, what).await
    }
}

/// `GET /api/v1/access/{id}`.
#[derive(Deserialize)]
struct LinkInfo {
    message_id: String,
    rid: String,
    state: String,
    verification: String,
    #[serde(default)]
    phone_hint: Option<String>,
    #[serde(default)]
    code_digits: Option<u32>,
    log_key: String,
}

/// `POST …/code`.
#[derive(Deserialize)]
struct CodeSent {
    #[serde(default)]
    sent_to: Option<String>,
}

/// `POST …/verify` and `POST …/login`.
#[derive(Deserialize)]
struct Grant {
    session: Zeroizing<String>,
    stage: String,
}

#[derive(Serialize)]
struct CodeBody<'a> {
    code: &'a str,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    login_key: &'a str,
}

/// `GET …/prelogin`.
#[derive(Deserialize)]
struct Prelogin {
    kdf: KdfSpec,
}

/// `GET …/envelope`.
#[derive(Deserialize)]
struct EnvelopeAnswer {
    message_id: String,
    sender: SenderAnswer,
    seal: String,
    policy: String,
    header: String,
}

#[derive(Deserialize)]
struct SenderAnswer {
    address: String,
    ed25519_pk: String,
}

/// `POST …/release`.
#[derive(Deserialize)]
struct Released {
    share: Zeroizing<String>,
    releases: u64,
    log: ReleaseProof,
}

/// How this recipient gets the key of their share.
enum KeySource {
    /// A guest: the key is in the link.
    Guest(RecipientSecretKey),
    /// A registered recipient: the key is in their key blob, opened with their password.
    Registered,
}

// ---- opening -----------------------------------------------------------------------------------

/// Opens the message: verification (SMS code, or password + TOTP), envelope checks, release with
/// its log proof checked BEFORE the share is used, then the manifest and every attachment
/// decrypted to `out_dir`. See the module documentation for the steps.
///
/// A successful release counts as one opening even if saving fails afterwards; everything that
/// can be checked locally is checked before it.
pub async fn open(target: &Target, prompt: &dyn Prompt, options: &OpenOptions) -> Result<OpenOutcome> {
    let link = Link {
        client: &target.client,
        path: format!("/api/v1/access/{}", encode_segment(&target.access_id)),
    };
    let info: LinkInfo = link.get("", Auth::None, "the link information").await?;
    check_state(&info)?;

    // Everything local, before anything acts (a code sent, an attempt counted, a release).
    let method = match (info.verification.as_str(), &target.link_secret) {
        ("sms", Some(secret)) => KeySource::Guest(RecipientSecretKey::from_link_secret(secret).map_err(|_| {
            Error::Invalid(
                "the key after # in this link is damaged; use the whole link exactly as you received it".into(),
            )
        })?),
        ("sms", None) => {
            return Err(Error::Invalid(
                "this link lacks its key (the part after #); use the whole link".into(),
            ));
        }
        ("totp", None) => KeySource::Registered,
        ("totp", Some(_)) => {
            return Err(Error::Invalid(
                "this link is for a Sealpost account holder, whose key comes from their password, yet it carries a key after #; check that it is the link you were sent"
                    .into(),
            ));
        }
        (other, _) => {
            return Err(Error::Protocol {
                what: "the link information".into(),
                reason: format!("unknown verification method {other:?}"),
            });
        }
    };
    let log_key = pinned_log_key(options.log_key.as_deref(), &info.log_key)?;
    let msg_id = MessageId::from_text(&info.message_id).map_err(|_| Error::Protocol {
        what: "the link information".into(),
        reason: "its message id is not valid".into(),
    })?;
    fs::create_dir_all(&options.out_dir).map_err(|e| Error::file("create the folder", &options.out_dir, e))?;
    let (probe, file) = TempFile::create(&options.out_dir)?;
    drop(file);
    drop(probe);

    // Verification, and the key of this recipient's share.
    let (session, key) = match method {
        KeySource::Guest(key) => (verify_sms(&link, &info, prompt).await?, key),
        KeySource::Registered => {
            let (session, password_keys) = verify_registered(&link, prompt).await?;
            let blob: KeyBlob = link.get("/keyblob", Auth::Session(&session), "the key blob").await?;
            let keys = blob.open_with(&password_keys).map_err(|_| {
                Error::Verification(
                    "your key blob on the server does not open with your password; the message was not opened".into(),
                )
            })?;
            drop(password_keys);
            let UserKeys { encryption, .. } = keys;
            (session, encryption)
        }
    };
    let guest = target.link_secret.is_some();

    // The envelope, checked before the release.
    let env: EnvelopeAnswer = link.get("/envelope", Auth::Session(&session), "the envelope").await?;
    if env.message_id != info.message_id {
        return Err(Error::Verification(
            "the server sent another message than the one this link names; it was not opened".into(),
        ));
    }
    let header = b64::decode(&env.header).map_err(|_| Error::Protocol {
        what: "the envelope".into(),
        reason: "its header is not base64".into(),
    })?;
    let sender_pk = b64::decode_array::<32>(&env.sender.ed25519_pk).map_err(|_| Error::Protocol {
        what: "the envelope".into(),
        reason: "the sender's key is not 32 bytes of base64".into(),
    })?;
    let envelope = Envelope::verify(&msg_id, &header, &env.seal, &sender_pk).map_err(|_| {
        Error::Verification(
            "the message failed its integrity check (the sender's seal does not match it), so it is not exactly what the sender sent; it was not opened"
                .into(),
        )
    })?;
    if !envelope.policy_matches(env.policy.as_bytes()) {
        return Err(Error::Verification(
            "the message's settings were changed after the sender sealed it; it was not opened".into(),
        ));
    }
    let share = envelope.open_share(&key).map_err(|_| {
        Error::Verification(if guest {
            "this message was not encrypted to this link's key; check that you used the whole link you were sent".into()
        } else {
            "this message was not encrypted to your account's key; it was not opened".into()
        })
    })?;
    drop(key);
    if share.rid().to_text() != info.rid {
        return Err(Error::Verification(
            "the key that opens this message belongs to another recipient than this link; it was not opened".into(),
        ));
    }

    // The release: this is the opening. Its proof is checked before the share is touched.
    let released: Released = link
        .post("/release", Auth::Session(&session), None::<&()>, "the release")
        .await?;
    let entry = check_release_proof(&log_key, &released.log, &info.message_id, &info.rid)?;
    let server_share = {
        let bytes = Zeroizing::new(b64::decode(&released.share).unwrap_or_default());
        ServerShare::try_from_slice(&bytes).map_err(|_| Error::Protocol {
            what: "the release".into(),
            reason: "the share is not 32 bytes of base64".into(),
        })?
    };
    let message = envelope.unlock(&share, &server_share).map_err(|_| {
        Error::Verification(
            "the message could not be decrypted with the key the server released; tell the sender".into(),
        )
    })?;
    drop((server_share, share, released.share));
    let message = Arc::new(message);

    // The manifest, in memory (at most the sealed length), then the text.
    let manifest_len = message.payload_digest(0).map_err(integrity("its contents list"))?.len;
    if manifest_len > MAX_MANIFEST_PAYLOAD {
        return Err(integrity("its contents list is larger than any allowed")(
            sealpost_crypto::Error::DecryptionFailed,
        ));
    }
    let manifest_bytes = download_whole(&link, &session, 0, manifest_len).await?;
    let manifest = message
        .manifest(&manifest_bytes)
        .map_err(integrity("its contents list"))?;
    let text = message_text(&manifest.subject, &env.sender.address, &manifest.body);
    let message_file = save_bytes(&options.out_dir, "message.txt", text.as_bytes())?;

    // Every attachment, streamed.
    let mut attachments = Vec::with_capacity(manifest.attachments.len());
    for (i, attachment) in manifest.attachments.iter().enumerate() {
        let name = sanitize_file_name(&attachment.name);
        let (temp, file) = TempFile::create(&options.out_dir)?;
        let size = download_attachment(&link, &session, &message, i + 1, file, &temp.path, &name).await?;
        let path = temp.commit(&options.out_dir, &name)?;
        attachments.push(SavedAttachment {
            name: attachment.name.clone(),
            path,
            size,
            media_type: attachment.media_type.clone(),
        });
    }

    Ok(OpenOutcome {
        message_id: info.message_id,
        sender: env.sender.address,
        subject: manifest.subject,
        body: manifest.body,
        releases: released.releases,
        log_index: entry.index,
        message_file,
        attachments,
    })
}

/// A link that is not `active` ends here, in the words of the matching server problem.
fn check_state(info: &LinkInfo) -> Result<()> {
    let (status, code, detail) = match info.state.as_str() {
        "active" => return Ok(()),
        "locked" => (423, "locked", "This link is locked after too many wrong entries."),
        other => {
            return Err(Error::Protocol {
                what: "the link information".into(),
                reason: format!("unknown link state {other:?}"),
            });
        }
    };
    Err(Error::Api(Problem {
        status,
        code: code.into(),
        detail: detail.into(),
        attempts_left: None,
        retry_after: None,
    }))
}

/// The log key release proofs are checked against: the one given, else the link's.
fn pinned_log_key(given: Option<&str>, announced: &str) -> Result<VerifierKey> {
    match given {
        Some(text) => VerifierKey::from_vkey(text.trim()).map_err(|_| {
            Error::Invalid("the log key given is not a valid verifier key (like name+1a2b3c4d+AbC…=)".into())
        }),
        None => VerifierKey::from_vkey(announced.trim()).map_err(|_| Error::Protocol {
            what: "the link information".into(),
            reason: "its log key is not a valid verifier key".into(),
        }),
    }
}

fn integrity(what: &'static str) -> impl Fn(sealpost_crypto::Error) -> Error {
    move |_| {
        Error::Verification(format!(
            "the message failed its integrity check ({what}), so it is not exactly what the sender sent; tell the sender"
        ))
    }
}

fn expect_stage(grant: Grant, stage: &str) -> Result<Session> {
    if grant.stage != stage {
        return Err(Error::Protocol {
            what: "the verification".into(),
            reason: format!("expected a session at stage {stage:?}, got {:?}", grant.stage),
        });
    }
    let mut session = grant.session;
    Ok(Session::new(std::mem::take(&mut *session)))
}

/// Runs a prompt, off the async worker thread when the runtime allows it.
fn ask<T>(question: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(question)
        }
        _ => question(),
    }
}

fn same(a: &Option<Zeroizing<String>>, b: &str) -> bool {
    a.as_deref().is_some_and(|a| a.as_str() == b)
}

// ---- guests: an SMS code ---------------------------------------------------------------------

async fn verify_sms(link: &Link<'_>, info: &LinkInfo, prompt: &dyn Prompt) -> Result<Session> {
    let digits = info.code_digits.unwrap_or(6) as usize;
    let mut hint = info.phone_hint.clone().unwrap_or_else(|| "your phone".to_owned());
    if let Some(sent_to) = request_code(link, prompt, true).await? {
        hint = sent_to;
    }
    let mut attempts_left = None;
    let mut refused: Option<Zeroizing<String>> = None;
    let mut malformed = 0;
    let mut new_codes = 0;
    loop {
        let answer = ask(|| prompt.sms_code(&hint, attempts_left))?;
        let code: Zeroizing<String> = Zeroizing::new(answer.chars().filter(|c| !matches!(c, ' ' | '-')).collect());
        if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
            malformed += 1;
            let sentence = format!("that is not the {digits}-digit code from the text message");
            if malformed >= MAX_MALFORMED {
                return Err(Error::Invalid(sentence));
            }
            prompt.notice(&format!("{}{}.", sentence[..1].to_uppercase(), &sentence[1..]));
            continue;
        }
        if same(&refused, &code) {
            return Err(Error::Invalid(
                "the same code was given again after the server refused it; stopping so as not to use up the attempts left".into(),
            ));
        }
        match link
            .post::<Grant>("/verify", Auth::None, Some(&CodeBody { code: &code }), "the code check")
            .await
        {
            Ok(grant) => return expect_stage(grant, "verified"),
            Err(Error::Api(p)) if p.code == "wrong_code" && p.attempts_left.is_some_and(|n| n > 0) => {
                attempts_left = p.attempts_left;
                refused = Some(code);
            }
            Err(Error::Api(p)) if matches!(p.code.as_str(), "wrong_code" | "no_code" | "code_expired") => {
                // This code is void: ask for another.
                new_codes += 1;
                if new_codes > MAX_NEW_CODES {
                    return Err(Error::Api(p));
                }
                prompt.notice("That code can no longer be used; sending a new one.");
                if let Some(sent_to) = request_code(link, prompt, false).await? {
                    hint = sent_to;
                }
                attempts_left = None;
                refused = None;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Asks the server to send a code. `None`: a code sent a moment ago stands (first request only).
async fn request_code(link: &Link<'_>, prompt: &dyn Prompt, first: bool) -> Result<Option<String>> {
    let mut waited = false;
    loop {
        match link
            .post::<CodeSent>("/code", Auth::None, None::<&()>, "the code request")
            .await
        {
            Ok(sent) => return Ok(sent.sent_to),
            Err(Error::Api(p)) if p.code == "resend_too_soon" => {
                if first {
                    prompt.notice("A code was sent a moment ago; enter that one.");
                    return Ok(None);
                }
                let wait = p.retry_after.unwrap_or(30);
                if waited || wait > MAX_RESEND_WAIT_SECS {
                    return Err(Error::Api(p));
                }
                prompt.notice(&format!("A new code can be sent in {wait} s; waiting."));
                tokio::time::sleep(Duration::from_secs(wait)).await;
                waited = true;
            }
            Err(e) => return Err(e),
        }
    }
}

// ---- registered recipients: password, then TOTP --------------------------------------------

async fn verify_registered(link: &Link<'_>, prompt: &dyn Prompt) -> Result<(Session, PasswordKeys)> {
    let pre: Prelogin = link.get("/prelogin", Auth::None, "the sign-in settings").await?;
    pre.kdf.params().map_err(|e| {
        Error::Verification(format!(
            "the server asks for password-hashing settings this client refuses ({e}); the message was not opened"
        ))
    })?;
    let mut refused: Option<Zeroizing<String>> = None;
    let (keys, mut password_session) = loop {
        let password = ask(|| prompt.password())?;
        if password.is_empty() {
            return Err(Error::Invalid("the password is empty".into()));
        }
        if same(&refused, &password) {
            return Err(Error::Invalid(
                "the same password was given again after the server refused it; stopping so as not to use up the attempts left".into(),
            ));
        }
        let keys = derive_password_keys(pre.kdf.clone(), password.clone()).await?;
        match login(link, &keys).await {
            Ok(session) => break (keys, session),
            Err(Error::Api(p)) if p.code == "wrong_password" && p.attempts_left.is_some_and(|n| n > 0) => {
                prompt.notice(&format!("{}.", Error::Api(p)));
                refused = Some(password);
            }
            Err(e) => return Err(e),
        }
    };

    let mut attempts_left = None;
    let mut refused: Option<Zeroizing<String>> = None;
    let mut malformed = 0;
    let mut relogins = 0;
    loop {
        let answer = ask(|| prompt.totp_code(attempts_left))?;
        let code = Zeroizing::new(answer.trim().to_owned());
        if code.is_empty() || code.len() > MAX_TOTP_LEN {
            malformed += 1;
            if malformed >= MAX_MALFORMED {
                return Err(Error::Invalid(
                    "that is not a code from your authenticator app or a recovery code".into(),
                ));
            }
            prompt.notice("Enter the code your authenticator app shows now, or a recovery code.");
            continue;
        }
        if same(&refused, &code) {
            return Err(Error::Invalid(
                "the same code was given again after the server refused it; stopping so as not to use up the attempts left".into(),
            ));
        }
        match link
            .post::<Grant>(
                "/verify",
                Auth::Session(&password_session),
                Some(&CodeBody { code: &code }),
                "the code check",
            )
            .await
        {
            Ok(grant) => return Ok((expect_stage(grant, "verified")?, keys)),
            Err(Error::Api(p)) if p.code == "wrong_code" && p.attempts_left.is_some_and(|n| n > 0) => {
                attempts_left = p.attempts_left;
                refused = Some(code);
            }
            Err(Error::Api(p)) if p.status == 401 && relogins < MAX_RELOGINS => {
                // The password-stage session ended: sign in again with the keys already derived.
                relogins += 1;
                prompt.notice("Your sign-in timed out; signing in again.");
                password_session = login(link, &keys).await?;
                refused = None;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Argon2id takes a while: off the async runtime.
async fn derive_password_keys(kdf: KdfSpec, password: Zeroizing<String>) -> Result<PasswordKeys> {
    tokio::task::spawn_blocking(move || kdf.derive(&password))
        .await
        .map_err(|e| Error::Invalid(format!("the password could not be processed: {e}")))?
        .map_err(|e| match e {
            sealpost_crypto::Error::InvalidArgument(_) => Error::Invalid("the password is empty".into()),
            other => Error::Verification(format!(
                "the server asks for password-hashing settings this client refuses ({other}); the message was not opened"
            )),
        })
}

async fn login(link: &Link<'_>, keys: &PasswordKeys) -> Result<Session> {
    let login_key = keys.login().to_text();
    let grant: Grant = link
        .post(
            "/login",
            Auth::None,
            Some(&LoginBody { login_key: &login_key }),
            "the sign-in",
        )
        .await?;
    expect_stage(grant, "password")
}

// ---- the release proof -------------------------------------------------------------------------

/// Checks the proof that comes with a released share (format.md §14.6) against the pinned log
/// key: the checkpoint is signed by `log_key`, the leaf is in its tree at `proof.index`, and the
/// leaf is the `share.released` entry of `message_id` and `rid`. Returns the entry. Any failure
/// is an [`Error::Verification`]; the share must then not be used.
pub fn check_release_proof(
    log_key: &VerifierKey,
    proof: &ReleaseProof,
    message_id: &str,
    rid: &str,
) -> Result<LogEntry> {
    let refused = |why: &str| {
        Error::Verification(format!(
            "the server's release is not in its access log as the log key {} requires ({why}); the message was not opened",
            log_key.name
        ))
    };
    if proof.leaf.len() > MAX_LEAF_B64 {
        return Err(refused("the log entry is too long"));
    }
    if proof.proof.len() > MAX_PROOF_HASHES {
        return Err(refused("the inclusion proof is too long"));
    }
    let leaf = decode_padded(&proof.leaf).ok_or_else(|| refused("the log entry is not valid base64"))?;
    let hashes = proof
        .proof
        .iter()
        .map(|h| decode_padded(h).and_then(|h| <[u8; 32]>::try_from(h).ok()))
        .collect::<Option<Vec<[u8; 32]>>>()
        .ok_or_else(|| refused("an inclusion proof hash is not 32 bytes of base64"))?;
    tlog::verify_release(log_key, &proof.checkpoint, proof.index, &leaf, &hashes, message_id, rid)
        .map_err(|e| refused(&e.to_string()))
}

/// Canonical standard base64 with padding, as the access log writes it.
fn decode_padded(text: &str) -> Option<Vec<u8>> {
    let bytes = b64::decode(text.trim_end_matches('=')).ok()?;
    let mut canonical = b64::encode(&bytes);
    while !canonical.len().is_multiple_of(4) {
        canonical.push('=');
    }
    (canonical == text).then_some(bytes)
}

// ---- downloads ---------------------------------------------------------------------------------

/// A whole payload in memory, refusing more than `max_len` bytes.
async fn download_whole(link: &Link<'_>, session: &Session, index: usize, max_len: u64) -> Result<Vec<u8>> {
    let client = link.client;
    let request = client.request(
        Method::GET,
        &link.path(&format!("/payloads/{index}")),
        Auth::Session(session),
    )?;
    let mut response = client.send(request).await?;
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| client.unreachable(&e))? {
        if out.len() as u64 + chunk.len() as u64 > max_len {
            return Err(Error::Verification(
                "the message failed its integrity check (its contents list is longer than the sender sealed), so it is not exactly what the sender sent; tell the sender".into(),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Streams payload `index` from the server through the decryptor into `file`. The network side
/// runs as a task feeding a small bounded pipe; the decryptor runs on a blocking thread. A
/// network failure travels down the pipe as the read error, carrying the SDK's error.
async fn download_attachment(
    link: &Link<'_>,
    session: &Session,
    message: &Arc<UnlockedMessage>,
    index: usize,
    file: fs::File,
    temp_path: &Path,
    name: &str,
) -> Result<u64> {
    let total = message
        .payload_digest(index)
        .map_err(integrity("its contents list"))?
        .len;
    let (tx, rx) = tokio::sync::mpsc::channel(PIPE_PIECES);
    let _pump = AbortOnDrop(tokio::spawn(pump(
        link.client.clone(),
        link.path(&format!("/payloads/{index}")),
        session.clone(),
        total,
        tx,
    )));
    let message = Arc::clone(message);
    let decrypted = tokio::task::spawn_blocking(move || {
        let mut file = file;
        let reader = PipeReader {
            rx,
            current: Bytes::new(),
        };
        let len = decrypt_message_payload(&message, index, reader, &mut file)?;
        file.sync_all().map_err(PayloadIoError::Write)?;
        Ok::<u64, PayloadIoError>(len)
    })
    .await
    .map_err(|e| Error::Invalid(format!("decrypting {name:?} stopped: {e}")))?;
    decrypted.map_err(|e| match e {
        PayloadIoError::Write(source) => Error::file("write", temp_path, source),
        PayloadIoError::Read(source) => match source.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(error)) => *error,
            Some(Err(other)) => Error::Protocol {
                what: format!("the download of {name:?}"),
                reason: other.to_string(),
            },
            None => Error::Protocol {
                what: format!("the download of {name:?}"),
                reason: "it could not be read".into(),
            },
        },
        _ => Error::Verification(format!(
            "the attachment {name:?} failed its integrity check, so it is not exactly what the sender sent; it was not saved"
        )),
    })
}

/// Aborts a task when dropped (the opening was abandoned or the decryptor stopped): the pipe
/// then ends and the decryptor thread stops too.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Feeds the ciphertext of one payload (`total` bytes) into the pipe, resuming with a range
/// request after a broken connection. Ends when the body ended, the decryptor stopped reading,
/// or the download failed for good (the pipe then carries the error).
async fn pump(
    client: Client,
    path: String,
    session: Session,
    total: u64,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) {
    let mut delivered: u64 = 0;
    let mut failures = 0;
    loop {
        let failure = match feed(&client, &path, &session, &mut delivered, &tx).await {
            Ok(()) => return,
            Err(failure) => failure,
        };
        if delivered >= total {
            return; // everything arrived: the decryptor decides
        }
        failures += 1;
        if !failure.is_transient() || failures > DOWNLOAD_RETRIES {
            let _ = tx.send(Err(io::Error::other(failure))).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(500 << failures)).await;
    }
}

/// One request of [`pump`], from byte `delivered` on. `Ok` when the body ended or the decryptor
/// stopped reading.
async fn feed(
    client: &Client,
    path: &str,
    session: &Session,
    delivered: &mut u64,
    tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) -> Result<()> {
    let mut request = client.request(Method::GET, path, Auth::Session(session))?;
    if *delivered > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={delivered}-"));
    }
    let response = client.send(request).await?;
    let mut skip = 0;
    if *delivered > 0 {
        if response.status() != StatusCode::PARTIAL_CONTENT {
            // The whole payload again: skip what the decryptor already has.
            skip = *delivered;
        } else if range_start(&response) != Some(*delivered) {
            return Err(Error::Protocol {
                what: "a resumed download".into(),
                reason: "the server answered another range than asked".into(),
            });
        }
    }
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let mut bytes = piece.map_err(|e| client.unreachable(&e))?;
        if skip > 0 {
            let n = skip.min(bytes.len() as u64);
            bytes.advance(n as usize);
            skip -= n;
            if bytes.is_empty() {
                continue;
            }
        }
        *delivered += bytes.len() as u64;
        if tx.send(Ok(bytes)).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The first byte of a `Content-Range: bytes start-end/total` answer.
fn range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// The decryptor's side of the pipe: a blocking `Read` over the pieces the pump sends.
struct PipeReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

// ---- saving ------------------------------------------------------------------------------------

/// The text saved as `message.txt`: the subject and sender on one line each (control characters
/// replaced, so neither can add lines), a blank line, then the body.
fn message_text(subject: &str, sender: &str, body: &str) -> String {
    let line = |s: &str| -> String { s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect() };
    let mut text = format!("Subject: {}\nFrom: {}\n\n{body}", line(subject), line(sender));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Writes `bytes` to a new file named `name` (or `name (1)`, …) in `dir`, atomically.
fn save_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let (temp, mut file) = TempFile::create(dir)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::file("write", &temp.path, e))?;
    drop(file);
    temp.commit(dir, name)
}

/// A temporary file in the output folder, removed unless committed.
struct TempFile {
    path: PathBuf,
    committed: bool,
}

impl TempFile {
    fn create(dir: &Path) -> Result<(Self, fs::File)> {
        let mut last = None;
        for _ in 0..8 {
            let mut id = [0u8; 8];
            getrandom::fill(&mut id).map_err(|e| Error::Invalid(format!("no randomness from the system: {e}")))?;
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            let path = dir.join(format!(".sealpost-{hex}.part"));
            match new_file(&path) {
                Ok(file) => return Ok((Self { path, committed: false }, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((path, e)),
                Err(e) => return Err(Error::file("create a file in", dir, e)),
            }
        }
        let (path, e) = last.expect("at least one try");
        Err(Error::file("create", path, e))
    }

    /// Moves the file to `name` in `dir`, numbered if the name is taken; never overwrites.
    fn commit(mut self, dir: &Path, name: &str) -> Result<PathBuf> {
        let target = reserve_name(dir, name)?;
        if let Err(e) = fs::rename(&self.path, &target) {
            let _ = fs::remove_file(&target);
            return Err(Error::file("save", target, e));
        }
        self.committed = true;
        Ok(target)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A new file, owner-only on Unix; fails if it exists.
fn new_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Claims the first free name among `name`, `stem (1).ext`, `stem (2).ext`, … by creating it
/// empty (the caller then renames its file over it): no existing file is ever replaced.
fn reserve_name(dir: &Path, name: &str) -> Result<PathBuf> {
    for n in 0..10_000u32 {
        let candidate = dir.join(numbered(name, n));
        match new_file(&candidate) {
            Ok(_) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::file("create", candidate, e)),
        }
    }
    Err(Error::Invalid(format!(
        "{} already holds too many files named like {name:?}",
        dir.display()
    )))
}

/// `name` for 0, else `stem (n).ext` (the extension is what follows the last dot, if any).
fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

/// A file name safe to save under, from the sender's (format.md §6): no path separators,
/// control or bidirectional-formatting characters, characters Windows refuses, runs of dots
/// (`..` becomes `.`), leading or trailing dots and spaces (so no hidden files), or reserved
/// device names; at most 240 bytes of UTF-8, keeping a short extension; `attachment` if nothing
/// is left. The rules of the recipient page (`web-recipient/www/download.js`), with runs of dots
/// collapsed as well and without Unicode normalisation.
pub fn sanitize_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .map(|c| {
            if matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    // Runs of dots become one: no `..` anywhere, even where it would be harmless.
    let mut collapsed = String::with_capacity(cleaned.len());
    for c in cleaned.chars() {
        if !(c == '.' && collapsed.ends_with('.')) {
            collapsed.push(c);
        }
    }
    let trim = |c: char| c.is_whitespace() || c == '.';
    let mut s = collapsed.trim_matches(trim).to_owned();
    let stem = s.split('.').next().unwrap_or("").trim();
    if is_reserved_device(stem) {
        s.insert(0, '_');
    }
    if s.len() > NAME_LIMIT {
        let ext = match s.rfind('.') {
            Some(dot) if dot > 0 && s[dot..].chars().count() <= 16 && s.len() - dot < NAME_LIMIT => s[dot..].to_owned(),
            _ => String::new(),
        };
        let stem_part = &s[..s.len() - ext.len()];
        let mut cut = NAME_LIMIT - ext.len();
        while !stem_part.is_char_boundary(cut) {
            cut -= 1;
        }
        let stem = stem_part[..cut].trim_end_matches(trim);
        s = format!("{}{ext}", if stem.is_empty() { "attachment" } else { stem });
    }
    if s.is_empty() { "attachment".to_owned() } else { s }
}

/// Characters that reorder or hide text (the `Trojan Source` set, plus the byte-order mark).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Windows device names, which no file can be called (with any extension).
fn is_reserved_device(stem: &str) -> bool {
    let lower = stem.to_lowercase();
    if matches!(
        lower.as_str(),
        "con" | "prn" | "aux" | "nul" | "conin$" | "conout$" | "clock$"
    ) {
        return true;
    }
    let mut chars = lower.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: Vec<char> = chars.collect();
    (prefix == "com" || prefix == "lpt") && rest.len() == 1 && matches!(rest[0], '0'..='9' | '¹' | '²' | '³')
}

/// The sender's text made safe to print on a terminal: control characters other than line
/// breaks and tabs, and bidirectional-formatting characters, are removed (they could move the
/// cursor, recolour or hide text).
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|&c| (c == '\n' || c == '\t' || !c.is_control()) && !is_bidi_control(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered("report.pdf", 0), "report.pdf");
        assert_eq!(numbered("report.pdf", 1), "report (1).pdf");
        assert_eq!(numbered("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(numbered("README", 3), "README (3)");
    }

    #[test]
    fn reserved_names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"first").unwrap();
        let second = save_bytes(dir.path(), "a.txt", b"second").unwrap();
        let third = save_bytes(dir.path(), "a.txt", b"third").unwrap();
        assert_eq!(second, dir.path().join("a (1).txt"));
        assert_eq!(third, dir.path().join("a (2).txt"));
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"first");
        assert_eq!(fs::read(second).unwrap(), b"second");
        assert_eq!(fs::read(third).unwrap(), b"third");
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 3, "no temporary file is left: {left:?}");
    }

    #[test]
    fn message_text_lines_cannot_be_forged() {
        let text = message_text("Hi\nFrom: boss@example", "a@b.example", "body");
        assert_eq!(text, "Subject: Hi From: boss@example\nFrom: a@b.example\n\nbody\n");
    }

    #[test]
    fn padded_base64_must_be_canonical() {
        assert_eq!(decode_padded("YQ=="), Some(b"a".to_vec()));
        assert_eq!(decode_padded("YQ"), None);
        assert_eq!(decode_padded("YR=="), None);
    }
}
