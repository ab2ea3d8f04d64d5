//! A real Sealpost server in-process on 127.0.0.1:0 over SQLite in a temporary directory, a
//! sender with published keys, and messages sealed with `sealpost-crypto` to guest recipients
//! (adapted from `server/tests/support/harness.rs`).
//!
//! The clock is a manual clock started at the real time, so that the browser and the server
//! agree on what "now" is and a test can still move the server's time forward.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::UnwrapErr;
use sealpost_crypto::b64;
use sealpost_crypto::message::{AttachmentInput, SealedMessage, seal_message};
use sealpost_crypto::recipient::RecipientSecretKey;
use sealpost_crypto::secrets::SymmetricKey;
use sealpost_server::clock::{Clock as _, ManualClock, SystemClock};
use sealpost_server::config::{Config, Secret};
use sealpost_server::domain::{Role, Scope, Services, accounts};
use serde_json::{Value, json};

/// The guest's phone number in every test (a UK number reserved for drama).
pub const PHONE: &str = "+447700900123";

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Random bytes.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes
}

/// SHA-256, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A running server with its own temporary data directory.
pub struct Server {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    pub services: Services,
    pub clock: ManualClock,
    pub config: Config,
    running: Option<sealpost_server::app::Spawned>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on defaults (SQLite, local blobs, the development SMS outbox) after
    /// `adjust` has changed the configuration.
    pub async fn start(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().expect("address");
        config.storage.data_dir = dir.path().to_path_buf();
        config.storage.database_url = Some(Secret::new(format!("sqlite://{}/sealpost.db", dir.path().display())));
        config.metrics.listen = None;
        config.sweeper.interval_secs = 3600;
        adjust(&mut config);
        let clock = ManualClock::new(SystemClock.now_ms());
        let services = sealpost_server::app::services(&config, Arc::new(clock.clone()))
            .await
            .expect("server services");
        let running = sealpost_server::app::spawn(config.clone(), services.clone())
            .await
            .expect("server");
        Server {
            base: running.base_url(),
            services,
            clock,
            config,
            running: Some(running),
            _dir: dir,
        }
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The development SMS outbox (`{data_dir}/sms-outbox.jsonl`).
    pub fn outbox_path(&self) -> PathBuf {
        self.config.storage.data_dir.join("sms-outbox.jsonl")
    }

    /// Every SMS in the outbox so far: `{"at","to","text"}` objects.
    pub fn sms(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.outbox_path()).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("outbox line {l:?}: {e}")))
            .collect()
    }

    /// Waits for SMS number `nth` (0-based, in the order sent) and returns its code: the run of
    /// `code_digits` digits in its text.
    pub async fn wait_for_code(&self, nth: usize, to: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let all = self.sms();
            if let Some(sms) = all.get(nth) {
                assert_eq!(sms["to"], to, "SMS {nth} went elsewhere: {sms}");
                let text = sms["text"]
                    .as_str()
                    .unwrap_or_else(|| panic!("SMS without text: {sms}"));
                return code_in(text, self.config.access.code_digits as usize)
                    .unwrap_or_else(|| panic!("no code in SMS text {text:?}"));
            }
            assert!(
                Instant::now() < deadline,
                "no SMS number {nth} in {} after 15 s (outbox holds {all:?})",
                self.outbox_path().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("server stopped cleanly");
        }
    }
}

/// The first run of exactly `digits` digits in `text`.
pub fn code_in(text: &str, digits: usize) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == digits)
        .map(str::to_owned)
}

/// A sender: a user with a `send`+`read` token and published keys.
pub struct Sender {
    pub address: String,
    pub token: String,
    pub signing_seed: SymmetricKey,
}

impl Sender {
    /// Creates the organisation, the user and a token through the domain (as the admin CLI
    /// does) and publishes the user's keys through the API.
    pub async fn create(server: &Server, address: &str) -> Self {
        let svc = &server.services;
        let org = match accounts::org_by_name(svc, "council").await {
            Ok(o) => o,
            Err(_) => accounts::create_org(svc, "council", "test")
                .await
                .expect("organisation"),
        };
        let user = accounts::create_user(svc, &org.id, address, &[Role::Sender], "test")
            .await
            .expect("user");
        let (_, token) = accounts::issue_token(
            svc,
            &user.id,
            "test",
            &[Scope::Send, Scope::Read, Scope::Keys],
            None,
            "test",
        )
        .await
        .expect("token");
        let signing_seed = SymmetricKey::from_bytes(random_bytes(32).try_into().expect("32 bytes"));
        let encryption = RecipientSecretKey::generate(&mut rng());
        let sender = Sender {
            address: user.address,
            token: token.expose().to_owned(),
            signing_seed,
        };
        let body = json!({
            "x25519_pk": b64::encode(&encryption.public().0),
            "ed25519_pk": b64::encode(&sealpost_crypto::seal::sender_public(&sender.signing_seed)),
        });
        let r = sender
            .request(reqwest::Method::PUT, server, "/api/v1/me/keys")
            .json(&body)
            .send()
            .await
            .expect("PUT keys");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        sender
    }

    /// `Authorization` header value.
    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// A request with the sender's token.
    pub fn request(&self, method: reqwest::Method, server: &Server, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, server.url(path))
            .header("authorization", self.auth())
    }

    /// `GET` of a JSON resource, expecting 200.
    pub async fn get_json(&self, server: &Server, path: &str) -> Value {
        let r = self
            .request(reqwest::Method::GET, server, path)
            .send()
            .await
            .expect("GET");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// The message status.
    pub async fn status(&self, server: &Server, id: &str) -> Value {
        self.get_json(server, &format!("/api/v1/messages/{id}")).await
    }

    /// The status of the message's only recipient.
    pub async fn recipient_status(&self, server: &Server, id: &str) -> Value {
        let status = self.status(server, id).await;
        let recipients = status["recipients"]
            .as_array()
            .unwrap_or_else(|| panic!("no recipients in {status}"));
        assert_eq!(recipients.len(), 1, "{status}");
        recipients[0].clone()
    }

    /// The kinds of the message's events, in order.
    pub async fn event_kinds(&self, server: &Server, id: &str) -> Vec<String> {
        let events = self.get_json(server, &format!("/api/v1/messages/{id}/events")).await;
        events["events"]
            .as_array()
            .unwrap_or_else(|| panic!("no events list in {events}"))
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Revokes the whole message now.
    pub async fn revoke(&self, server: &Server, id: &str) {
        let r = self
            .request(reqwest::Method::POST, server, &format!("/api/v1/messages/{id}/revoke"))
            .json(&json!({}))
            .send()
            .await
            .expect("revoke");
        let status = r.status();
        assert!(
            status.is_success(),
            "revoke: {status} {}",
            r.text().await.unwrap_or_default()
        );
    }
}

/// An attachment to send.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub media_type: String,
    pub data: Vec<u8>,
}

/// A message to one guest recipient, sealed and sent.
pub struct SentToGuest {
    /// Message id.
    pub id: String,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<Attachment>,
    /// The guest's one-message link key.
    pub link_key: RecipientSecretKey,
    /// The recipient's `access_id`, from the recipient status.
    pub access_id: String,
    /// The recipient's `link` (no fragment), from the recipient status.
    pub link: String,
    /// The status the seal call returned.
    pub status: Value,
}

impl SentToGuest {
    /// The link on the test server (`{base}/r/{access_id}`): `link` carries the configured
    /// `public_url`, which for a server on port 0 is not where it listens.
    pub fn page_url(&self, server: &Server) -> String {
        server.url(&format!("/r/{}", self.access_id))
    }

    /// The page URL with the link secret in the fragment, as the sender's client sends it.
    pub fn page_url_with_secret(&self, server: &Server) -> String {
        format!("{}#{}", self.page_url(server), self.link_key.to_link_secret().as_str())
    }
}

/// Seals `subject`, `body` and `attachments` to a new guest (SMS to `phone`), uploads the
/// message and seals it through the API.
pub async fn send_to_guest(
    server: &Server,
    sender: &Sender,
    phone: &str,
    subject: &str,
    body: &str,
    attachments: Vec<Attachment>,
) -> SentToGuest {
    let link_key = RecipientSecretKey::generate(&mut rng());
    let pk = link_key.public();
    let rid = pk.rid().to_text();
    let now = server.clock.now_ms();
    let expires = sealpost_server::clock::to_rfc3339(now + 7 * 86_400_000);
    let policy = json!({
        "v": 1,
        "expires_at": expires,
        "recipients": [{ "rid": rid, "verification": "sms" }],
    })
    .to_string();
    let inputs: Vec<AttachmentInput<'_>> = attachments
        .iter()
        .map(|a| AttachmentInput {
            name: &a.name,
            media_type: &a.media_type,
            data: &a.data,
        })
        .collect();
    let sealed = seal_message(
        subject,
        body,
        &inputs,
        policy.as_bytes(),
        &[pk],
        &sender.signing_seed,
        &mut rng(),
    )
    .expect("seal the message");
    let id = sealed.msg_id.to_text();
    let create = json!({
        "id": id,
        "policy": policy,
        "header_size": sealed.header.len(),
        "payload_sizes": sealed.payloads.iter().map(Vec::len).collect::<Vec<_>>(),
        "recipients": [{ "rid": rid, "kind": "guest", "phone": phone }],
    });
    let r = sender
        .request(reqwest::Method::POST, server, "/api/v1/messages")
        .json(&create)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201, "create: {}", r.text().await.unwrap_or_default());
    upload(server, sender, &sealed).await;
    let status = seal(server, sender, &sealed).await;
    let recipient = &status["recipients"][0];
    let access_id = recipient["access_id"]
        .as_str()
        .unwrap_or_else(|| panic!("contract: no `access_id` in the recipient status: {recipient}"))
        .to_owned();
    let link = recipient["link"]
        .as_str()
        .unwrap_or_else(|| panic!("contract: no `link` in the recipient status: {recipient}"))
        .to_owned();
    assert_eq!(
        access_id.len(),
        22,
        "contract: access_id is 22 base64url characters: {access_id:?}"
    );
    assert!(
        link.ends_with(&format!("/r/{access_id}")) && !link.contains('#'),
        "contract: link is {{public_url}}/r/{{access_id}} without fragment, got {link:?}"
    );
    SentToGuest {
        id,
        subject: subject.to_owned(),
        body: body.to_owned(),
        attachments,
        link_key,
        access_id,
        link,
        status,
    }
}

async fn upload(server: &Server, sender: &Sender, sealed: &SealedMessage) {
    let id = sealed.msg_id.to_text();
    let r = sender
        .request(reqwest::Method::PUT, server, &format!("/api/v1/messages/{id}/header"))
        .body(sealed.header.clone())
        .send()
        .await
        .expect("header");
    assert_eq!(r.status(), 200, "header: {}", r.text().await.unwrap_or_default());
    let part_size = usize::try_from(server.config.storage.part_size).expect("part size");
    for (n, payload) in sealed.payloads.iter().enumerate() {
        for (k, part) in payload.chunks(part_size).enumerate() {
            let digest = format!(
                "sha-256=:{}:",
                base64_std(&sealpost_crypto::primitives::sha256(&[part]))
            );
            let r = sender
                .request(
                    reqwest::Method::PUT,
                    server,
                    &format!("/api/v1/messages/{id}/payloads/{n}/parts/{k}"),
                )
                .header("content-digest", digest)
                .body(part.to_vec())
                .send()
                .await
                .expect("part");
            assert_eq!(r.status(), 200, "part {n}/{k}: {}", r.text().await.unwrap_or_default());
        }
        let r = sender
            .request(
                reqwest::Method::POST,
                server,
                &format!("/api/v1/messages/{id}/payloads/{n}/complete"),
            )
            .send()
            .await
            .expect("complete");
        assert_eq!(r.status(), 200, "complete {n}: {}", r.text().await.unwrap_or_default());
    }
}

async fn seal(server: &Server, sender: &Sender, sealed: &SealedMessage) -> Value {
    let shares: Vec<Value> = sealed
        .server_shares
        .iter()
        .map(|s| json!({ "rid": s.rid.to_text(), "share": b64::encode(s.share.expose_secret()) }))
        .collect();
    let r = sender
        .request(
            reqwest::Method::POST,
            server,
            &format!("/api/v1/messages/{}/seal", sealed.msg_id.to_text()),
        )
        .json(&json!({ "seal": sealed.seal, "server_shares": shares }))
        .send()
        .await
        .expect("seal");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "seal: {text}");
    serde_json::from_str(&text).expect("seal answer is JSON")
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
