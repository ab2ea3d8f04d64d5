//! Test harness: a real server on 127.0.0.1:0 over SQLite (always) or a fresh PostgreSQL
//! database (when reachable; required when CI=true), with a manual clock, plus helpers that
//! build real Sealpost messages with `sealpost-crypto`.
#![allow(dead_code)]

use std::sync::Arc;

use rand_core::UnwrapErr;
use sealpost_crypto::b64;
use sealpost_crypto::message::{AttachmentInput, SealedMessage, seal_message};
use sealpost_crypto::recipient::{RecipientPublicKey, RecipientSecretKey};
use sealpost_crypto::secrets::SymmetricKey;
use sealpost_server::clock::ManualClock;
use sealpost_server::config::{Config, Secret};
use sealpost_server::domain::{Role, Scope, Services, accounts};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Start of the manual clock: 2026-11-01T00:00:00Z.
pub const T0: i64 = 1_793_491_200_000;

fn pg_admin_url() -> String {
    std::env::var("SEALPOST_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "postgres".into());
        format!("postgres://{user}@127.0.0.1:5432/test")
    })
}

/// SQLite always; PostgreSQL when reachable (and always under CI=true, where it must be).
pub async fn backends() -> Vec<Backend> {
    sqlx::any::install_default_drivers();
    let reachable = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(&pg_admin_url()).await.is_ok()
    })
    .await
    .unwrap_or(false);
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !reachable {
        assert!(!ci, "CI=true but PostgreSQL is not reachable at {}", pg_admin_url());
        eprintln!("note: PostgreSQL not reachable; running the SQLite variant only");
        return vec![Backend::Sqlite];
    }
    vec![Backend::Sqlite, Backend::Postgres]
}

/// A fresh PostgreSQL database; dropped by [`drop_pg_database`].
pub async fn create_pg_database() -> (String, String) {
    use sqlx::{Connection, Executor};
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name = format!("sp_test_{}", hex(&bytes));
    let mut conn = sqlx::AnyConnection::connect(&pg_admin_url()).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let base = pg_admin_url();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    (name, url)
}

/// Drops a test database.
pub async fn drop_pg_database(name: &str) {
    use sqlx::{Connection, Executor};
    if let Ok(mut conn) = sqlx::AnyConnection::connect(&pg_admin_url()).await {
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Storage for one test: a temporary directory and a database URL.
pub struct Storage {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pg_name: Option<String>,
}

impl Storage {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg_name) = match backend {
            Backend::Sqlite => (format!("sqlite://{}/sealpost.db", dir.path().display()), None),
            Backend::Postgres => {
                let (name, url) = create_pg_database().await;
                (url, Some(name))
            }
        };
        Storage {
            backend,
            dir,
            database_url,
            pg_name,
        }
    }

    /// A configuration on this storage: port 0, no metrics listener, small parts.
    pub fn config(&self, part_size: u64) -> Config {
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        // Port 0: the server fills in the bound port of its links.
        config.server.public_url = "http://127.0.0.1:0".into();
        config.storage.data_dir = self.dir.path().to_path_buf();
        config.storage.database_url = Some(Secret::new(self.database_url.clone()));
        config.storage.part_size = part_size;
        config.metrics.listen = None;
        config.sweeper.interval_secs = 3600;
        config
    }

    pub async fn cleanup(self) {
        if let Some(name) = &self.pg_name {
            drop_pg_database(name).await;
        }
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub services: Services,
    pub clock: ManualClock,
    pub config: Config,
    running: Option<sealpost_server::app::Spawned>,
}

impl TestServer {
    /// Starts a replica on `storage` with `config`.
    pub async fn start_with(config: Config, clock: ManualClock) -> Self {
        let services = sealpost_server::app::services(&config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let running = sealpost_server::app::spawn(config.clone(), services.clone())
            .await
            .unwrap();
        TestServer {
            base: running.base_url(),
            services,
            clock,
            config,
            running: Some(running),
        }
    }

    pub async fn start(storage: &Storage, part_size: u64) -> Self {
        Self::start_with(storage.config(part_size), ManualClock::new(T0)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop().await;
        }
    }
}

/// A user with a token and keys.
pub struct Actor {
    pub address: String,
    pub org_id: String,
    pub user_id: String,
    pub token: String,
    pub signing_seed: SymmetricKey,
    pub encryption: RecipientSecretKey,
}

impl Actor {
    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
    pub fn public(&self) -> RecipientPublicKey {
        self.encryption.public()
    }
}

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Creates an organisation (if new) and a user with a token of `scopes`, through the domain
/// (as the admin CLI does), and publishes keys through the API when `publish` is set.
pub async fn actor(
    server: &TestServer,
    org: &str,
    address: &str,
    roles: &[Role],
    scopes: &[Scope],
    publish: bool,
) -> Actor {
    let svc = &server.services;
    let org = match accounts::org_by_name(svc, org).await {
        Ok(o) => o,
        Err(_) => accounts::create_org(svc, org, "test").await.unwrap(),
    };
    let user = accounts::create_user(svc, &org.id, address, roles, "test")
        .await
        .unwrap();
    let mut all = scopes.to_vec();
    if publish && !all.contains(&Scope::Keys) {
        all.push(Scope::Keys);
    }
    let (_, token) = accounts::issue_token(svc, &user.id, "test", &all, None, "test")
        .await
        .unwrap();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let signing_seed = SymmetricKey::from_bytes(seed);
    let encryption = RecipientSecretKey::generate(&mut rng());
    let a = Actor {
        address: user.address,
        org_id: org.id,
        user_id: user.id,
        token: token.expose().to_owned(),
        signing_seed,
        encryption,
    };
    if publish {
        let body = serde_json::json!({
            "x25519_pk": b64::encode(&a.public().0),
            "ed25519_pk": b64::encode(&sealpost_crypto::seal::sender_public(&a.signing_seed)),
        });
        let r = reqwest::Client::new()
            .put(server.url("/api/v1/me/keys"))
            .header("authorization", a.auth())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    a
}

/// A message ready to upload.
pub struct Built {
    pub sealed: SealedMessage,
    pub policy: String,
    pub create_body: serde_json::Value,
}

impl Built {
    pub fn id(&self) -> String {
        self.sealed.msg_id.to_text()
    }
}

/// A recipient of a built message.
pub enum To<'a> {
    Account(&'a Actor),
    Guest(RecipientPublicKey, &'a str),
}

/// Encrypts a message from `sender` to `to` with attachments, expiring `days` after T0-relative `now`.
pub fn build(sender: &Actor, to: &[To<'_>], attachments: &[&[u8]], now_ms: i64, days: i64) -> Built {
    build_limited(sender, to, attachments, now_ms, days, None)
}

/// [`build`] with an open limit per recipient in the policy.
pub fn build_limited(
    sender: &Actor,
    to: &[To<'_>],
    attachments: &[&[u8]],
    now_ms: i64,
    days: i64,
    max_opens: Option<u32>,
) -> Built {
    let expires = sealpost_server::clock::to_rfc3339(now_ms + days * 86_400_000);
    let pks: Vec<RecipientPublicKey> = to
        .iter()
        .map(|t| match t {
            To::Account(a) => a.public(),
            To::Guest(pk, _) => *pk,
        })
        .collect();
    let verification: Vec<serde_json::Value> = to
        .iter()
        .zip(&pks)
        .map(|(t, pk)| {
            let v = match t {
                To::Account(_) => "totp",
                To::Guest(..) => "sms",
            };
            serde_json::json!({ "rid": pk.rid().to_text(), "verification": v })
        })
        .collect();
    let mut policy = serde_json::json!({ "v": 1, "expires_at": expires, "recipients": verification });
    if let Some(n) = max_opens {
        policy["max_opens"] = n.into();
    }
    let policy = policy.to_string();
    let inputs: Vec<AttachmentInput<'_>> = attachments
        .iter()
        .enumerate()
        .map(|(i, data)| AttachmentInput {
            name: if i == 0 { "a.bin" } else { "b.bin" },
            media_type: "application/octet-stream",
            data,
        })
        .collect();
    let sealed = seal_message(
        "subject",
        "body",
        &inputs,
        policy.as_bytes(),
        &pks,
        &sender.signing_seed,
        &mut rng(),
    )
    .unwrap();
    let recipients: Vec<serde_json::Value> = to
        .iter()
        .zip(&pks)
        .map(|(t, pk)| match t {
            To::Account(a) => serde_json::json!({ "rid": pk.rid().to_text(), "kind": "account", "address": a.address }),
            To::Guest(_, phone) => serde_json::json!({ "rid": pk.rid().to_text(), "kind": "guest", "phone": phone, "notify": "guest@example.org" }),
        })
        .collect();
    let create_body = serde_json::json!({
        "id": sealed.msg_id.to_text(),
        "policy": policy,
        "header_size": sealed.header.len(),
        "payload_sizes": sealed.payloads.iter().map(Vec::len).collect::<Vec<_>>(),
        "recipients": recipients,
    });
    Built {
        sealed,
        policy,
        create_body,
    }
}

/// `Content-Digest` of a part.
pub fn digest(part: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        base64_std(&sealpost_crypto::primitives::sha256(&[part]))
    )
}

pub fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Uploads and seals a built message through the API; returns the final status JSON.
pub async fn send(server: &TestServer, sender: &Actor, built: &Built) -> serde_json::Value {
    let c = reqwest::Client::new();

    let r = c
        .post(server.url("/api/v1/messages"))
        .header("authorization", sender.auth())
        .json(&built.create_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    upload_all(server, sender, built).await;
    seal(server, sender, built).await
}

/// Uploads header and every part of every payload, then completes each payload.
pub async fn upload_all(server: &TestServer, sender: &Actor, built: &Built) {
    let c = reqwest::Client::new();
    let id = built.id();
    let r = c
        .put(server.url(&format!("/api/v1/messages/{id}/header")))
        .header("authorization", sender.auth())
        .body(built.sealed.header.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let part_size = server.config.storage.part_size as usize;
    for (n, payload) in built.sealed.payloads.iter().enumerate() {
        for (k, part) in payload.chunks(part_size).enumerate() {
            put_part(server, sender, &id, n, k, part).await;
        }
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/payloads/{n}/complete")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

pub async fn put_part(server: &TestServer, sender: &Actor, id: &str, n: usize, k: usize, part: &[u8]) {
    let r = reqwest::Client::new()
        .put(server.url(&format!("/api/v1/messages/{id}/payloads/{n}/parts/{k}")))
        .header("authorization", sender.auth())
        .header("content-digest", digest(part))
        .body(part.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The seal request body.
pub fn seal_body(built: &Built) -> serde_json::Value {
    let shares: Vec<serde_json::Value> = built
        .sealed
        .server_shares
        .iter()
        .map(|s| serde_json::json!({ "rid": s.rid.to_text(), "share": b64::encode(s.share.expose_secret()) }))
        .collect();
    serde_json::json!({ "seal": built.sealed.seal, "server_shares": shares })
}

pub async fn seal(server: &TestServer, sender: &Actor, built: &Built) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(server.url(&format!("/api/v1/messages/{}/seal", built.id())))
        .header("authorization", sender.auth())
        .json(&seal_body(built))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// One HTTP call with an optional bearer credential and JSON body: the status and the body as
/// JSON, or as a JSON string when it is not JSON (so that a failing assertion shows it).
pub async fn http(
    method: reqwest::Method,
    url: String,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
