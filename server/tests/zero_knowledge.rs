//! Zero knowledge, checked byte by byte.
//!
//! The real `sealpost-server` binary runs with debug-level logs captured, and the whole story is
//! driven over HTTP: two senders publish keys, one message goes to a registered recipient
//! (password + TOTP) and one to a guest (SMS code), with a multi-part attachment; both recipients
//! open their message; then one message is revoked. Every subject, body, file name and
//! attachment carries a unique random marker, and every secret the clients used is recorded:
//! file keys, released server shares, the guest's link secret, the password, its login key and
//! wrapping key, recipients' secret keys, signing seeds, API tokens, recipient sessions, the TOTP
//! seed and the recovery codes.
//!
//! After the server is killed, everything it wrote is scanned: every file under the data
//! directory (the SQLite database with its WAL and SHM, every object and staging file of the blob
//! store, the key files), a `pg_dump` of the database on PostgreSQL, the captured debug logs, and
//! the SMS outbox with the codes removed. No marker and no secret may appear in raw bytes, lower
//! or upper hex, base32, or standard or URL-safe base64 (padded or not, and at any of the three
//! byte alignments, so that a secret inside a larger base64 blob is found too).
//!
//! The scan cannot pass vacuously: positive controls (message ids and the phone number in the
//! database, the ciphertext in the blob store, a request id and debug lines in the log, the phone
//! in the outbox) must be found by the same scanner, and the blob store must hold at least the
//! ciphertext of the message that is not revoked. A unit test plants a secret in every encoding
//! and checks that the scanner reports each one.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
mod process;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use harness::*;
use process::*;
use sealpost_crypto::b64;
use sealpost_crypto::keyblob::{KdfParams, KdfSpec, KeyBlob, UserKeys};
use sealpost_crypto::message::{AttachmentInput, Envelope, seal_message_with};
use sealpost_crypto::recipient::{MessageId, RecipientPublicKey, RecipientSecretKey};
use sealpost_crypto::secrets::{FileKey, ServerShare, SymmetricKey};
use serde_json::{Value, json};

const PHONE: &str = "+447700900987";
/// HKDF labels of the password-derived keys (format.md §8), to recompute the wrapping key.
const BLOB_LABEL: &[u8] = b"sealpost.org/v1/keyblob";
const LOGIN_LABEL: &[u8] = b"sealpost.org/v1/login";

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).unwrap();
    hex(&bytes)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

fn marker(what: &str) -> String {
    format!("ZKMARK-{what}-{}", random_hex(12))
}

// ---------------------------------------------------------------------------------------------
// The scanner
// ---------------------------------------------------------------------------------------------

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, upper case, no padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(B32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = B32.iter().position(|&x| x == c.to_ascii_uppercase()).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Every form in which `secret` is searched for: raw, lower and upper hex, base32, standard and
/// URL-safe base64 with and without padding, and the base64 characters that `secret` determines
/// on its own when it starts at byte offset 0, 1 or 2 of a larger encoded blob (the characters
/// shared with the neighbouring bytes are dropped at both ends).
fn encodings(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        ("raw", secret.to_vec()),
        ("hex", hex(secret).into_bytes()),
        ("HEX", hex(secret).to_uppercase().into_bytes()),
        ("base32", base32(secret).into_bytes()),
        ("base64", STANDARD.encode(secret).into_bytes()),
        ("base64-nopad", STANDARD_NO_PAD.encode(secret).into_bytes()),
        ("base64url", URL_SAFE.encode(secret).into_bytes()),
        ("base64url-nopad", URL_SAFE_NO_PAD.encode(secret).into_bytes()),
    ];
    const ALIGNED: [(&str, &str); 3] = [
        ("base64@0", "base64url@0"),
        ("base64@1", "base64url@1"),
        ("base64@2", "base64url@2"),
    ];
    for (k, (std_label, url_label)) in ALIGNED.iter().enumerate() {
        let mut shifted = vec![0u8; k];
        shifted.extend_from_slice(secret);
        let start = (8 * k).div_ceil(6);
        let end = 8 * (k + secret.len()) / 6;
        for (label, engine) in [(*std_label, &STANDARD_NO_PAD), (*url_label, &URL_SAFE_NO_PAD)] {
            let text = engine.encode(&shifted);
            out.push((label, text.as_bytes()[start..end].to_vec()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(_, p)| seen.insert(p.clone()));
    out
}

/// Finds any of many byte patterns in byte strings: a two-byte prefix filter, then a comparison.
struct Scanner {
    /// (what it is, which encoding, the bytes)
    patterns: Vec<(String, &'static str, Vec<u8>)>,
    first: Vec<bool>,
    by_prefix: HashMap<[u8; 2], Vec<usize>>,
}

/// One pattern found: where, what and in which encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    source: String,
    offset: usize,
    what: String,
    encoding: &'static str,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            patterns: Vec::new(),
            first: vec![false; 1 << 16],
            by_prefix: HashMap::new(),
        }
    }

    /// Adds `secret` (at least 12 bytes, so that a chance match is impossible) in every encoding.
    fn add(&mut self, what: &str, secret: &[u8]) {
        assert!(secret.len() >= 12, "{what} is too short to scan for");
        for (encoding, bytes) in encodings(secret) {
            let key = [bytes[0], bytes[1]];
            self.first[usize::from(u16::from_be_bytes(key))] = true;
            self.by_prefix.entry(key).or_default().push(self.patterns.len());
            self.patterns.push((what.to_owned(), encoding, bytes));
        }
    }

    fn scan(&self, source: &str, data: &[u8], hits: &mut Vec<Hit>) {
        for (i, pair) in data.windows(2).enumerate() {
            let key = [pair[0], pair[1]];
            if !self.first[usize::from(u16::from_be_bytes(key))] {
                continue;
            }
            for &p in &self.by_prefix[&key] {
                let (what, encoding, bytes) = &self.patterns[p];
                if data[i..].starts_with(bytes) {
                    hits.push(Hit {
                        source: source.to_owned(),
                        offset: i,
                        what: what.clone(),
                        encoding,
                    });
                }
            }
        }
    }
}

/// Every regular file under `dir`, recursively (hidden ones, such as blob staging files, too).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            } else {
                panic!("unexpected non-regular file {}", entry.path().display());
            }
        }
    }
    out.sort();
    out
}

/// Everything the server wrote, as (source name, bytes): every file under the data directory
/// (the SMS outbox with every code removed), a `pg_dump` on PostgreSQL, and the log lines.
fn written_by_server(storage: &Storage, codes: &[String], logs: &str) -> Vec<(String, Vec<u8>)> {
    let root = storage.dir.path();
    let outbox = root.join(sealpost_server::sms::DEFAULT_OUTBOX_FILE);
    let mut sources = Vec::new();
    for path in files_under(root) {
        let mut bytes = std::fs::read(&path).unwrap();
        if path == outbox {
            let mut text = String::from_utf8(bytes).unwrap();
            for code in codes {
                text = text.replace(code.as_str(), "");
            }
            bytes = text.into_bytes();
        }
        let name = path.strip_prefix(root).unwrap().display().to_string();
        sources.push((format!("file:{name}"), bytes));
    }
    if storage.backend == Backend::Postgres {
        sources.push(("pg_dump".to_owned(), pg_dump(&storage.database_url)));
    }
    sources.push(("logs".to_owned(), logs.as_bytes().to_vec()));
    sources
}

/// A plain-format dump (schema and data) of the test database, by `pg_dump` on the `PATH` (or
/// the program named by `PG_DUMP`). Its absence fails the test: PostgreSQL runs here only when
/// it is reachable (always under CI=true), and then its contents must be scanned.
fn pg_dump(url: &str) -> Vec<u8> {
    let program = std::env::var("PG_DUMP").unwrap_or_else(|_| "pg_dump".to_owned());
    if std::process::Command::new(&program).arg("--version").output().is_err() {
        panic!(
            "{program} is needed to scan the PostgreSQL database (CI={}); install postgresql-client \
             or set PG_DUMP",
            std::env::var("CI").unwrap_or_default()
        );
    }
    let out = std::process::Command::new(&program)
        .args(["--format=plain", "--no-owner", "--no-privileges", "--dbname", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ---------------------------------------------------------------------------------------------
// The story over HTTP
// ---------------------------------------------------------------------------------------------

/// A message with markers in every field, its file key, and what was recorded about it.
struct Marked {
    built: Built,
    file_key: FileKey,
    subject: String,
    body: String,
    names: Vec<String>,
    attachments: Vec<Vec<u8>>,
    /// (what, marker) for the body and each attachment's contents.
    inner_markers: Vec<(String, String)>,
}

enum Rcpt<'a> {
    Account(&'a str, RecipientPublicKey),
    Guest(RecipientPublicKey),
}

/// Encrypts a message whose subject, body, file names and contents all carry fresh markers.
/// Each attachment is random bytes with its marker at the start, in the middle and at the end.
fn build_marked(seed: &SymmetricKey, to: &[Rcpt<'_>], sizes: &[usize], tag: &str) -> Marked {
    let subject = marker(&format!("{tag}-subject"));
    let mut inner_markers = vec![("body".to_owned(), marker(&format!("{tag}-body")))];
    let body = format!("Dear resident,\n{}\nRegards", inner_markers[0].1);
    let names: Vec<String> = (0..sizes.len())
        .map(|i| format!("{}.pdf", marker(&format!("{tag}-name{i}"))))
        .collect();
    let attachments: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let text = marker(&format!("{tag}-content{i}"));
            inner_markers.push((format!("attachment {i} marker"), text.clone()));
            let m = text.into_bytes();
            let mut data = random_bytes(size.max(3 * m.len()));
            let n = data.len();
            data[..m.len()].copy_from_slice(&m);
            data[n / 2..n / 2 + m.len()].copy_from_slice(&m);
            data[n - m.len()..].copy_from_slice(&m);
            data
        })
        .collect();
    let now = sealpost_server::clock::SystemClock.now_ms_for_tests();
    let expires = sealpost_server::clock::to_rfc3339(now + 7 * 86_400_000);
    let pks: Vec<RecipientPublicKey> = to
        .iter()
        .map(|r| match r {
            Rcpt::Account(_, pk) | Rcpt::Guest(pk) => *pk,
        })
        .collect();
    let verification: Vec<Value> = to
        .iter()
        .map(|r| match r {
            Rcpt::Account(_, pk) => json!({ "rid": pk.rid().to_text(), "verification": "totp" }),
            Rcpt::Guest(pk) => json!({ "rid": pk.rid().to_text(), "verification": "sms" }),
        })
        .collect();
    let policy = json!({ "v": 1, "expires_at": expires, "recipients": verification }).to_string();
    let inputs: Vec<AttachmentInput<'_>> = names
        .iter()
        .zip(&attachments)
        .map(|(name, data)| AttachmentInput {
            name,
            media_type: "application/pdf",
            data,
        })
        .collect();
    let file_key = FileKey::random(&mut rng());
    let msg_id = MessageId::random(&mut rng());
    let sealed = seal_message_with(
        &msg_id,
        &file_key,
        &subject,
        &body,
        &inputs,
        policy.as_bytes(),
        &pks,
        seed,
        &mut rng(),
    )
    .unwrap();
    let recipients: Vec<Value> = to
        .iter()
        .map(|r| match r {
            Rcpt::Account(address, pk) => {
                json!({ "rid": pk.rid().to_text(), "kind": "account", "address": address })
            }
            Rcpt::Guest(pk) => {
                json!({ "rid": pk.rid().to_text(), "kind": "guest", "phone": PHONE, "notify": "guest@example.org" })
            }
        })
        .collect();
    let create_body = json!({
        "id": sealed.msg_id.to_text(),
        "policy": policy,
        "header_size": sealed.header.len(),
        "payload_sizes": sealed.payloads.iter().map(Vec::len).collect::<Vec<_>>(),
        "recipients": recipients,
    });
    Marked {
        built: Built {
            sealed,
            policy,
            create_body,
        },
        file_key,
        subject,
        body,
        names,
        attachments,
        inner_markers,
    }
}

/// Creates, uploads (in parts of [`PART`]) and seals a message; returns the status.
async fn send_remote(base: &str, token: &str, built: &Built) -> Value {
    let c = reqwest::Client::new();
    let id = built.id();
    let r = c
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(token)
        .json(&built.create_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = c
        .put(format!("{base}/api/v1/messages/{id}/header"))
        .bearer_auth(token)
        .body(built.sealed.header.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for (n, payload) in built.sealed.payloads.iter().enumerate() {
        for (k, part) in payload.chunks(PART as usize).enumerate() {
            let r = put(base, token, &id, n, k, part).await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
        let r = c
            .post(format!("{base}/api/v1/messages/{id}/payloads/{n}/complete"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let r = c
        .post(format!("{base}/api/v1/messages/{id}/seal"))
        .bearer_auth(token)
        .json(&seal_body(built))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    http(method, format!("{base}{path}"), bearer, body).await
}

fn access_id_of(status: &Value, pk: &RecipientPublicKey) -> String {
    let rid = pk.rid().to_text();
    status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rid"] == rid.as_str())
        .and_then(|r| r["access_id"].as_str())
        .expect("an access id for the recipient")
        .to_owned()
}

/// With a verified session: the envelope, the release, every payload; decrypts the message and
/// checks it against what was sent. Returns the released share.
async fn open(base: &str, aid: &str, session: &str, key: &RecipientSecretKey, m: &Marked) -> [u8; 32] {
    let (s, env) = call(
        base,
        reqwest::Method::GET,
        &format!("/api/v1/access/{aid}/envelope"),
        Some(session),
        None,
    )
    .await;
    assert_eq!(s, 200, "{env}");
    let header = b64::decode(env["header"].as_str().unwrap()).unwrap();
    let sender_pk: [u8; 32] = b64::decode_array(env["sender"]["ed25519_pk"].as_str().unwrap()).unwrap();
    let envelope = Envelope::verify(
        &m.built.sealed.msg_id,
        &header,
        env["seal"].as_str().unwrap(),
        &sender_pk,
    )
    .unwrap();
    let opened = envelope.open_share(key).unwrap();
    let (s, rel) = call(
        base,
        reqwest::Method::POST,
        &format!("/api/v1/access/{aid}/release"),
        Some(session),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{rel}");
    let share: [u8; 32] = b64::decode_array(rel["share"].as_str().unwrap()).unwrap();
    let message = envelope.unlock(&opened, &ServerShare::from_bytes(share)).unwrap();
    let c = reqwest::Client::new();
    let mut payloads = Vec::new();
    for idx in 0..m.built.sealed.payloads.len() {
        let r = c
            .get(format!("{base}/api/v1/access/{aid}/payloads/{idx}"))
            .bearer_auth(session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        payloads.push(r.bytes().await.unwrap().to_vec());
    }
    let manifest = message.manifest(&payloads[0]).unwrap();
    assert_eq!(manifest.subject, m.subject);
    assert_eq!(manifest.body, m.body);
    let names: Vec<&str> = manifest.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, m.names.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, data) in m.attachments.iter().enumerate() {
        assert!(
            message.decrypt_payload(i + 1, &payloads[i + 1]).unwrap() == *data,
            "attachment {i} differs"
        );
    }
    share
}

/// The six-digit codes in the outbox, oldest first.
fn outbox_codes(storage: &Storage) -> Vec<String> {
    let path = storage.dir.path().join(sealpost_server::sms::DEFAULT_OUTBOX_FILE);
    sealpost_server::sms::read_outbox(&path)
        .unwrap()
        .iter()
        .map(|e| {
            e.text
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .expect("a six-digit code")
                .to_owned()
        })
        .collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Everything recorded on the client side that the server must never hold or write in clear.
#[derive(Default)]
struct Recorded {
    markers: Vec<(String, Vec<u8>)>,
    secrets: Vec<(String, Vec<u8>)>,
}

impl Recorded {
    fn secret(&mut self, what: &str, bytes: &[u8]) {
        self.secrets.push((what.to_owned(), bytes.to_vec()));
    }
    fn marked(&mut self, m: &Marked, tag: &str) {
        self.markers
            .push((format!("{tag} subject"), m.subject.clone().into_bytes()));
        for (what, text) in &m.inner_markers {
            self.markers.push((format!("{tag} {what}"), text.clone().into_bytes()));
        }
        for (i, name) in m.names.iter().enumerate() {
            self.markers
                .push((format!("{tag} file name {i}"), name.clone().into_bytes()));
        }
        for (i, data) in m.attachments.iter().enumerate() {
            // A window of the random content itself.
            let mid = (data.len() / 3).min(data.len() - 64);
            self.markers
                .push((format!("{tag} attachment {i} content"), data[mid..mid + 48].to_vec()));
        }
        self.secret(&format!("{tag} file key"), m.file_key.expose_secret());
    }
}

/// The whole story on every backend, then the scan of everything the server wrote. Fails when
/// any marker or client secret reaches the database, the blob store, any other file in the data
/// directory, the debug log or the SMS outbox: a plaintext manifest or attachment, a server share
/// stored unwrapped, a token, session or login key stored or logged unhashed, a request body or
/// query string in the log. Also fails when the scan would be vacuous (controls not found, no
/// debug lines, no request lines, a blob store smaller than the ciphertext).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_the_server_writes_holds_a_marker_or_a_client_secret() {
    for backend in backends().await {
        eprintln!("zero knowledge on {backend:?}");
        let storage = Storage::new(backend).await;
        let sink = Arc::new(Mutex::new(Vec::new()));
        let server = spawn_logging(&storage, "", "debug", Some(sink.clone()));
        let base = server.base.clone();
        let mut rec = Recorded::default();
        let (alice, bob) = setup(&storage, &base).await;
        for s in [&alice, &bob] {
            rec.secret(&format!("{} API token", s.address), s.token.as_bytes());
            rec.secret(&format!("{} signing seed", s.address), s.seed.expose_secret());
            rec.secret(&format!("{} secret key", s.address), s.enc.expose_secret());
        }

        // Bob becomes a registered recipient: a key blob under his password, and TOTP.
        let password = format!("ZKpass-{}", random_hex(10));
        rec.secret("bob's password", password.as_bytes());
        let keys = UserKeys {
            encryption: RecipientSecretKey::from_bytes(*bob.enc.expose_secret()),
            signing: SymmetricKey::from_bytes(*bob.seed.expose_secret()),
        };
        let params = KdfParams {
            m_kib: KdfParams::MIN_M_KIB,
            t: KdfParams::MIN_T,
            p: 1,
        };
        let (blob, login) = keys.seal(&password, params, &mut rng()).unwrap();
        rec.secret("bob's login key (at enrolment)", login.expose_secret());
        let (s, v) = call(
            &base,
            reqwest::Method::PUT,
            "/api/v1/me/keys",
            Some(&bob.token),
            Some(json!({
                "x25519_pk": b64::encode(&keys.encryption_public().0),
                "ed25519_pk": b64::encode(&keys.signing_public()),
                "keyblob": serde_json::to_value(&blob).unwrap(),
                "login_key": login.to_text().as_str(),
            })),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, enrol) = call(&base, reqwest::Method::POST, "/api/v1/me/totp", Some(&bob.token), None).await;
        assert!(s == 200 || s == 201, "{s} {enrol}");
        let uri = enrol["otpauth_uri"].as_str().unwrap();
        let app = totp_rs::Totp::from_url(uri).unwrap();
        let seed_b32 = uri
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("secret="))
            .expect("a secret in the otpauth URI");
        rec.secret("bob's TOTP seed", &base32_decode(seed_b32));
        // Confirm with the previous step's code, so that the current step is still unused for
        // the sign-in below; tried again if a step boundary fell in between.
        let mut recovery: Vec<String> = Vec::new();
        for _ in 0..3 {
            let code = app.generate(now_secs().saturating_sub(30)).to_string();
            let (s, v) = call(
                &base,
                reqwest::Method::POST,
                "/api/v1/me/totp/confirm",
                Some(&bob.token),
                Some(json!({ "code": code })),
            )
            .await;
            if s == 200 {
                recovery = serde_json::from_value(v["recovery_codes"].clone()).unwrap();
                break;
            }
        }
        assert_eq!(recovery.len(), 10, "TOTP enrolment failed");
        for (i, code) in recovery.iter().enumerate() {
            rec.secret(&format!("bob's recovery code {i}"), code.as_bytes());
            let normal = sealpost_server::domain::totp::normalise_recovery_code(code).unwrap();
            rec.secret(&format!("bob's recovery code {i} (normalised)"), normal.as_bytes());
        }

        // (a) Alice to Bob, registered. (b) Alice to a guest by SMS, a multi-part attachment.
        let bob_pk = keys.encryption_public();
        let msg_a = build_marked(&alice.seed, &[Rcpt::Account(&bob.address, bob_pk)], &[3000], "a");
        let guest = RecipientSecretKey::generate(&mut rng());
        let msg_b = build_marked(
            &alice.seed,
            &[Rcpt::Guest(guest.public())],
            &[2 * PART as usize + 4321, 777],
            "b",
        );
        assert!(
            msg_b.built.sealed.payloads[1].len() > 2 * PART as usize,
            "more than one part"
        );
        rec.marked(&msg_a, "message a");
        rec.marked(&msg_b, "message b");
        rec.secret("guest secret key", guest.expose_secret());
        let link_secret = guest.to_link_secret();
        rec.secret("guest link secret", link_secret.as_bytes());
        for (tag, m) in [("a", &msg_a), ("b", &msg_b)] {
            for share in &m.built.sealed.server_shares {
                rec.secret(
                    &format!("message {tag} server share for {}", share.rid.to_text()),
                    share.share.expose_secret(),
                );
            }
        }
        let status_a = send_remote(&base, &alice.token, &msg_a.built).await;
        let status_b = send_remote(&base, &alice.token, &msg_b.built).await;
        let aid_a = access_id_of(&status_a, &bob_pk);
        let aid_b = access_id_of(&status_b, &guest.public());
        let link_b = status_b["recipients"][0]["link"].as_str().unwrap().to_owned();
        assert!(!link_b.contains('#'), "the server never sees the link secret: {link_b}");
        let full_link = format!("{link_b}#{}", link_secret.as_str());
        rec.secret("guest full link", full_link.as_bytes());

        // The guest: the link page, a code by SMS, the code, the message.
        let r = reqwest::get(format!("{base}/r/{aid_b}")).await.unwrap();
        assert_eq!(r.status(), 200);
        let (s, v) = call(
            &base,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid_b}/code"),
            None,
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 202, "{v}");
        let code = outbox_codes(&storage).last().unwrap().clone();
        let (s, grant) = call(
            &base,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid_b}/verify"),
            None,
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!(s, 200, "{grant}");
        let guest_session = grant["session"].as_str().unwrap().to_owned();
        rec.secret("guest session", guest_session.as_bytes());
        let share_b = open(&base, &aid_b, &guest_session, &guest, &msg_b).await;
        rec.secret("message b released share", &share_b);
        assert_eq!(&share_b, msg_b.built.sealed.server_shares[0].share.expose_secret());

        // Bob: the login key derived from the prelogin parameters, then TOTP, then his key blob.
        let (s, pre) = call(
            &base,
            reqwest::Method::GET,
            &format!("/api/v1/access/{aid_a}/prelogin"),
            None,
            None,
        )
        .await;
        assert_eq!(s, 200, "{pre}");
        let kdf: KdfSpec = serde_json::from_value(pre["kdf"].clone()).unwrap();
        let derived = kdf.derive(&password).unwrap();
        let login_key = derived.login().to_text().to_string();
        rec.secret("bob's login key (at sign-in)", derived.login().expose_secret());
        let (kdf_params, salt) = kdf.params().unwrap();
        let ikm = sealpost_crypto::keyblob::argon2id(password.as_bytes(), &salt, kdf_params).unwrap();
        assert_eq!(
            *sealpost_crypto::primitives::hkdf_sha256_32(ikm.as_ref(), b"", LOGIN_LABEL),
            *derived.login().expose_secret(),
            "the recomputed password keys match the library's"
        );
        rec.secret("bob's password Argon2id output", ikm.as_ref());
        rec.secret(
            "bob's key-blob wrapping key",
            sealpost_crypto::primitives::hkdf_sha256_32(ikm.as_ref(), b"", BLOB_LABEL).as_ref(),
        );
        let (s, v) = call(
            &base,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid_a}/login"),
            None,
            Some(json!({ "login_key": login_key })),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let pw_session = v["session"].as_str().unwrap().to_owned();
        rec.secret("bob's password session", pw_session.as_bytes());
        let code = app.generate(now_secs()).to_string();
        let (s, grant) = call(
            &base,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid_a}/verify"),
            Some(&pw_session),
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!(s, 200, "{grant}");
        let bob_session = grant["session"].as_str().unwrap().to_owned();
        rec.secret("bob's session", bob_session.as_bytes());
        let (s, blob_json) = call(
            &base,
            reqwest::Method::GET,
            &format!("/api/v1/access/{aid_a}/keyblob"),
            Some(&bob_session),
            None,
        )
        .await;
        assert_eq!(s, 200, "{blob_json}");
        let blob: KeyBlob = serde_json::from_value(blob_json).unwrap();
        let (unlocked, _) = blob.open(&password).unwrap();
        let share_a = open(&base, &aid_a, &bob_session, &unlocked.encryption, &msg_a).await;
        rec.secret("message a released share", &share_a);

        // Alice revokes message a: nothing more is released.
        let (s, v) = call(
            &base,
            reqwest::Method::POST,
            &format!("/api/v1/messages/{}/revoke", msg_a.built.id()),
            Some(&alice.token),
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = call(
            &base,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid_a}/release"),
            Some(&bob_session),
            Some(json!({})),
        )
        .await;
        assert_ne!(s, 200, "released after revoke: {v}");

        // A last request with a known id: once its log line is in, the log is complete.
        let final_id = format!("zk-final-{}", random_hex(8));
        let r = reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .header("x-request-id", &final_id)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !sink.lock().unwrap().iter().any(|l| l.contains(&final_id)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the last request was never logged"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(server); // SIGKILL: nothing gets a chance to clean up.
        // The stderr reader thread holds the other reference until it reads end-of-file.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while Arc::strong_count(&sink) > 1 {
            assert!(std::time::Instant::now() < deadline, "the log reader never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let lines = sink.lock().unwrap().clone();
        let logs = lines.join("\n");
        let codes = outbox_codes(&storage);
        assert_eq!(codes.len(), 1);

        // --- Scan ---------------------------------------------------------------------------
        let sources = written_by_server(&storage, &codes, &logs);
        let mut forbidden = Scanner::new();
        for (what, bytes) in rec.markers.iter().chain(&rec.secrets) {
            forbidden.add(what, bytes);
        }
        let mut hits = Vec::new();
        for (name, bytes) in &sources {
            forbidden.scan(name, bytes, &mut hits);
        }

        // Positive controls: the scanner reads the right bytes in the right encodings.
        let mut controls = Scanner::new();
        let id_a = msg_a.built.id();
        let id_b = msg_b.built.id();
        controls.add("message id a", id_a.as_bytes());
        controls.add("message id b", id_b.as_bytes());
        controls.add("guest phone", PHONE.as_bytes());
        controls.add(
            "message b ciphertext",
            &msg_b.built.sealed.payloads[1][PART as usize + 100..PART as usize + 164],
        );
        controls.add("message b header", &msg_b.built.sealed.header[..48]);
        controls.add("final request id", final_id.as_bytes());
        let mut found = Vec::new();
        for (name, bytes) in &sources {
            controls.scan(name, bytes, &mut found);
        }
        let found_in =
            |what: &str, source: &dyn Fn(&str) -> bool| found.iter().any(|h| h.what == what && source(&h.source));
        let is_db = |s: &str| match backend {
            Backend::Sqlite => s.starts_with("file:sealpost.db"),
            Backend::Postgres => s == "pg_dump",
        };
        let is_blob = |s: &str| s.starts_with("file:blobs/");
        for what in ["message id a", "message id b", "guest phone"] {
            assert!(
                found_in(what, &is_db),
                "{what} not found in the database: the scan misses it"
            );
        }
        assert!(
            found_in("message b ciphertext", &is_blob),
            "the ciphertext is not in the blob store scan"
        );
        assert!(
            found_in("message b header", &is_blob),
            "the header is not in the blob store scan"
        );
        assert!(
            found_in("final request id", &|s: &str| s == "logs"),
            "the log scan misses the log"
        );
        assert!(
            found_in("guest phone", &|s: &str| s == "file:sms-outbox.jsonl"),
            "the outbox scan misses the outbox"
        );

        // Non-trivial inputs: the blob store holds at least message b's ciphertext, the log has
        // request lines and debug lines.
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, bytes) in &sources {
            sizes.insert(name.as_str(), bytes.len());
        }
        eprintln!("scanned {} sources:", sources.len());
        for (name, size) in &sizes {
            eprintln!("  {size:>10}  {name}");
        }
        let blob_objects: Vec<usize> = sources
            .iter()
            .filter(|(n, _)| is_blob(n) && !n.contains("/.uploads/"))
            .map(|(_, b)| b.len())
            .collect();
        let ciphertext_b =
            msg_b.built.sealed.header.len() + msg_b.built.sealed.payloads.iter().map(Vec::len).sum::<usize>();
        assert!(
            // The header and every payload of message b, at least.
            blob_objects.len() > msg_b.built.sealed.payloads.len(),
            "only {} blob objects",
            blob_objects.len()
        );
        assert!(
            blob_objects.iter().sum::<usize>() >= ciphertext_b,
            "the blob store holds less than message b's ciphertext"
        );
        if backend == Backend::Sqlite {
            assert!(
                sizes.get("file:sealpost.db").copied().unwrap_or(0) > 0,
                "no SQLite database"
            );
            assert!(
                sizes.keys().any(|n| n.starts_with("file:sealpost.db-wal")),
                "no SQLite WAL was left by the killed server"
            );
        } else {
            assert!(sizes["pg_dump"] > 10_000, "the PostgreSQL dump is tiny");
        }
        let responses = lines
            .iter()
            .filter(|l| l.contains("response") && l.contains("status="))
            .count();
        let debug = lines.iter().filter(|l| l.contains("DEBUG")).count();
        eprintln!(
            "log: {} lines, {responses} request lines, {debug} debug lines",
            lines.len()
        );
        assert!(responses >= 25, "expected a log line per request, got {responses}");
        for route in [
            "route=/api/v1/me/keys",
            "route=/api/v1/me/totp/confirm",
            "route=/api/v1/messages/{id}/seal",
            "route=/api/v1/access/{access_id}/verify",
            "route=/api/v1/access/{access_id}/login",
            "route=/api/v1/access/{access_id}/keyblob",
            "route=/api/v1/access/{access_id}/release",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(route) && l.contains("status=")),
                "no request line for {route}"
            );
        }
        assert!(debug >= 1, "no debug-level line: debug logging is not on");
        eprintln!(
            "searched for {} markers and {} secrets ({} patterns)",
            rec.markers.len(),
            rec.secrets.len(),
            forbidden.patterns.len()
        );

        assert!(
            hits.is_empty(),
            "the server wrote markers or client secrets ({} hits, the first 40):\n{}",
            hits.len(),
            hits.iter()
                .take(40)
                .map(|h| format!("  {} at {} in {}: {}", h.what, h.offset, h.source, h.encoding))
                .collect::<Vec<_>>()
                .join("\n")
        );
        storage.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// The scanner can fail
// ---------------------------------------------------------------------------------------------

/// Plants a secret in every encoding, alone and inside larger blobs at every alignment, each in
/// its own file of a nested directory, and checks that the scan reports every one of them and
/// nothing in a clean file. Catches a scanner that misses an encoding or an alignment.
#[test]
fn the_scanner_finds_a_planted_secret_in_every_encoding() {
    let secret = random_bytes(32);
    let other = random_bytes(32);
    let text_secret = format!("ZKMARK-planted-{}", random_hex(12));
    let noise = random_bytes;
    let mut plants: Vec<(String, Vec<u8>)> = Vec::new();
    for (label, s) in [("bytes", secret.clone()), ("text", text_secret.clone().into_bytes())] {
        let mut raw = noise(1000);
        raw.extend_from_slice(&s);
        raw.extend(noise(1000));
        plants.push((format!("{label}-raw"), raw));
        plants.push((format!("{label}-hex"), format!("\\x{}00ff", hex(&s)).into_bytes()));
        plants.push((
            format!("{label}-HEX"),
            format!("X'{}'", hex(&s).to_uppercase()).into_bytes(),
        ));
        plants.push((format!("{label}-base32"), base32(&s).into_bytes()));
        for (name, engine) in [
            ("base64", &STANDARD),
            ("base64-nopad", &STANDARD_NO_PAD),
            ("base64url", &URL_SAFE),
            ("base64url-nopad", &URL_SAFE_NO_PAD),
        ] {
            plants.push((
                format!("{label}-{name}"),
                format!("{{\"k\":\"{}\"}}", engine.encode(&s)).into_bytes(),
            ));
            // Inside a larger blob at every byte offset modulo 3, with neighbours on both sides.
            for k in 0..3 {
                for tail in 0..3 {
                    let mut blob = noise(30 + k);
                    blob.extend_from_slice(&s);
                    blob.extend(noise(tail));
                    plants.push((
                        format!("{label}-{name}-offset{k}-tail{tail}"),
                        engine.encode(&blob).into_bytes(),
                    ));
                }
            }
        }
    }
    assert!(plants.len() >= 2 * (4 + 4 * 10));
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, bytes)) in plants.iter().enumerate() {
        let sub = dir.path().join(format!("d{}", i % 3)).join(".hidden");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(name), bytes).unwrap();
    }
    std::fs::write(
        dir.path().join("clean"),
        [noise(4096), STANDARD.encode(&other).into_bytes()].concat(),
    )
    .unwrap();

    let mut scanner = Scanner::new();
    scanner.add("planted bytes", &secret);
    scanner.add("planted text", text_secret.as_bytes());
    let files = files_under(dir.path());
    assert_eq!(files.len(), plants.len() + 1);
    let mut hits = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        scanner.scan(&name, &std::fs::read(path).unwrap(), &mut hits);
    }
    for (name, _) in &plants {
        let what = if name.starts_with("bytes") {
            "planted bytes"
        } else {
            "planted text"
        };
        assert!(
            hits.iter().any(|h| &h.source == name && h.what == what),
            "the scanner missed the secret planted as {name}"
        );
    }
    assert!(
        !hits.iter().any(|h| h.source == "clean"),
        "a false positive in the clean file"
    );
    // A secret that was never planted is not found.
    let mut absent = Scanner::new();
    absent.add("absent", &other[..16]);
    let mut none = Vec::new();
    for path in &files {
        if path.file_name().unwrap() != "clean" {
            absent.scan("x", &std::fs::read(path).unwrap(), &mut none);
        }
    }
    assert!(none.is_empty(), "{none:?}");
}

/// The encodings agree with independent encoders on a known value; catches an encoder that
/// searches for the wrong text (which the planted test, sharing the encoder, could not see).
#[test]
fn encodings_of_a_known_value() {
    let forms: HashMap<&str, Vec<u8>> = encodings(b"Sealpost secret!").into_iter().collect();
    assert_eq!(forms["hex"], b"5365616c706f73742073656372657421");
    assert_eq!(forms["base32"], b"KNSWC3DQN5ZXIIDTMVRXEZLUEE");
    assert_eq!(forms["base64"], b"U2VhbHBvc3Qgc2VjcmV0IQ==");
    assert_eq!(base32_decode("KNSWC3DQN5ZXIIDTMVRXEZLUEE"), b"Sealpost secret!");
    // At offset 0 the last character (which shares bits with the next byte) is dropped.
    assert_eq!(forms["base64@0"], b"U2VhbHBvc3Qgc2VjcmV0I");
}
