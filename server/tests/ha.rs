//! Two real `sealpost-server` processes on one PostgreSQL database and one S3-compatible store
//! (moto), behind nginx balancing round-robin, and the whole story through the balancer: send
//! with the `sealpost` CLI, open as a guest with the SDK, revoke. Along the way: requests
//! alternate between the replicas; one replica is SIGKILLed in the middle of a multi-part upload
//! and the upload finishes through the other; a revoke acknowledged by one replica is refused at
//! the other at once; code-attempt limits and SMS caps hold across both; each expired message is
//! swept exactly once; the proof log stays one consistent log.
//!
//! Needs `nginx` (Debian package `nginx`), PostgreSQL on 127.0.0.1:5432 and `moto_server` (or
//! `SEALPOST_TEST_S3_ENDPOINT`, see `support/s3.rs`); without one of them the test says so on
//! stderr and passes, except with `CI=true`, where it fails.
//!
//! The CLI is the client package's binary, which Cargo does not hand to this package's tests:
//! the test runs the `sealpost` built next to `sealpost-server` in the same target directory.
//! `cargo test --workspace` builds both before running any test; to run this test alone, build
//! the CLI first:
//!
//! ```text
//! cargo build -p sealpost-client --bin sealpost && cargo test -p sealpost-server --test ha
//! ```

#[path = "support/harness.rs"]
mod harness;
#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/s3.rs"]
mod s3;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use harness::{Backend, backends, create_pg_database, drop_pg_database};
use nginx::{Balancing, Nginx, find_program, free_port};
use sealpost_crypto::merkle;
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::tlog::{self, Checkpoint};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The whole test's time bound (it builds nothing; on a loaded 2-core machine it takes well under
/// a minute).
const BOUND: Duration = Duration::from_secs(300);
const PART: u64 = 5 * 1024 * 1024;
/// Wrong codes a recipient may make before the link locks (`access.max_failures_per_recipient`).
const CODE_LIMIT: usize = 6;
/// Codes sent per link per hour (`access.sms_per_recipient_per_hour`).
const SMS_CAP: usize = 4;
const PHONE: &str = "+447700900123";
const GUEST: &str = "sam@example.org";
const PASSWORD: &str = "correct horse battery staple";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (loudly) outside CI; fails under `CI=true`.
fn missing(what: &str) {
    assert!(!ci(), "CI=true but {what}");
    eprintln!("ha test SKIPPED: {what}");
}

/// The `sealpost` CLI built into the same target directory as this package's server binary.
fn cli_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_BIN_EXE_sealpost-server")).with_file_name("sealpost");
    path.is_file().then_some(path)
}

/// `len` random bytes in the server's base64 (standard alphabet, no padding).
fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    sealpost_crypto::b64::encode(&bytes)
}

// ---- the deployment ------------------------------------------------------------------------

/// Everything both replicas share, as the environment of `sealpost-server`.
struct Deployment {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    outbox: PathBuf,
    database_url: String,
}

impl Deployment {
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealpost-server"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    fn admin(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .env("SEALPOST_STORAGE_DATA_DIR", self.dir.path().join("admin"))
            .arg("admin")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Starts replica `name` on `port` (0: any); returns once it listens.
    fn replica(&self, name: &str, port: u16, metrics_port: u16) -> Replica {
        let data = self.dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let mut child = self
            .command()
            .arg("serve")
            .env("SEALPOST_STORAGE_DATA_DIR", &data)
            .env("SEALPOST_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .env("SEALPOST_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        let addr = loop {
            let Some(line) = lines.next() else {
                panic!("replica {name} exited before listening: {seen:#?}");
            };
            let line = line.unwrap();
            if let Some(addr) = line.strip_prefix("sealpost-server: listening on ") {
                break addr.trim().to_owned();
            }
            seen.push(line);
        };
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[replica] {line}");
            }
        });
        Replica {
            child,
            base: format!("http://{addr}"),
            port: addr.rsplit(':').next().unwrap().parse().unwrap(),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        }
    }

    fn outbox(&self) -> Vec<sealpost_server::sms::OutboxEntry> {
        sealpost_server::sms::read_outbox(&self.outbox).unwrap_or_default()
    }

    /// Waits for SMS number `nth` (0-based) and returns its code.
    fn wait_for_code(&self, nth: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(sms) = self.outbox().get(nth) {
                return sms
                    .text
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .expect("a six-digit code")
                    .to_owned();
            }
            assert!(Instant::now() < deadline, "no SMS number {nth} after 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

struct Replica {
    child: Child,
    base: String,
    port: u16,
    metrics: String,
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// `sealpost_http_requests_total`, summed over the series whose labels contain `filter`.
    async fn requests(&self, filter: &str) -> u64 {
        let text = reqwest::get(&self.metrics).await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with("sealpost_http_requests_total{") && l.contains(filter))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
            .sum()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---- the sender's CLI ------------------------------------------------------------------------

struct Cli {
    program: PathBuf,
    dir: tempfile::TempDir,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("SEALPOST_PASSWORD", PASSWORD)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut cmd = self.command(args);
        cmd.arg("--json");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "sealpost {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `sealpost send` of a short note to the guest; (message id, link).
    async fn send_note(&self, subject: &str) -> (String, String) {
        let sent = self
            .json(&[
                "send",
                "--to",
                GUEST,
                "--sms",
                PHONE,
                "--subject",
                subject,
                "--body",
                "See you.",
            ])
            .await;
        (
            sent["message_id"].as_str().unwrap().to_owned(),
            sent["recipients"][0]["link"].as_str().unwrap().to_owned(),
        )
    }
}

fn access_id(link: &str) -> String {
    let path = link.split('#').next().unwrap();
    path.rsplit('/').next().unwrap().to_owned()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

/// A TCP proxy forwarding at most `rate` bytes per second from client to server, so that a send
/// lasts long enough to kill a replica half-way.
async fn throttled_proxy(target: String, rate: u64) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut ri, mut wi) = inbound.split();
                let (mut ro, mut wo) = outbound.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match ri.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if wo.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_micros(n as u64 * 1_000_000 / rate)).await;
                    }
                    let _ = wo.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut ro, &mut wi).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    format!("http://{addr}")
}

// ---- HTTP helpers ----------------------------------------------------------------------------

async fn call(method: reqwest::Method, url: String, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
    harness::http(method, url, bearer, body).await
}

async fn get(url: String, bearer: Option<&str>) -> (u16, Value) {
    call(reqwest::Method::GET, url, bearer, None).await
}

async fn post(url: String, bearer: Option<&str>, body: Value) -> (u16, Value) {
    call(reqwest::Method::POST, url, bearer, Some(body)).await
}

fn hashes(v: &Value) -> Vec<merkle::Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

async fn checkpoint(replica: &Replica, key: &VerifierKey) -> Checkpoint {
    let note = reqwest::get(replica.url("/.well-known/sealpost/checkpoint"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Checkpoint::verify_note(&note, key).expect("a checkpoint signed by the log key")
}

async fn assert_consistent(from: &Checkpoint, to: &Checkpoint, asked: &Replica) {
    assert!(from.size <= to.size);
    let (s, v) = get(
        asked.url(&format!("/api/v1/log/consistency?from={}&to={}", from.size, to.size)),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        merkle::verify_consistency(from.size, to.size, &from.root, &to.root, &hashes(&v["proof"])),
        "checkpoints of size {} and {} are not consistent",
        from.size,
        to.size
    );
}

/// The SDK's prompt: the code from the development SMS outbox.
struct OutboxPrompt<'a> {
    deployment: &'a Deployment,
    nth: usize,
}

impl sealpost_client::open::Prompt for OutboxPrompt<'_> {
    fn sms_code(&self, _hint: &str, _attempts_left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
        Ok(Zeroizing::new(self.deployment.wait_for_code(self.nth)))
    }
    fn password(&self) -> sealpost_client::Result<Zeroizing<String>> {
        Err(sealpost_client::Error::Invalid("a guest has no password".into()))
    }
    fn totp_code(&self, _attempts_left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
        Err(sealpost_client::Error::Invalid("a guest has no authenticator".into()))
    }
}

// ---- the test --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx_run_the_whole_story() {
    let Some(nginx) = find_program("nginx") else {
        return missing("nginx is not installed (apt-get install nginx)");
    };
    let Some(cli) = cli_binary() else {
        return missing(
            "the sealpost CLI is not built next to sealpost-server (cargo build -p sealpost-client --bin sealpost)",
        );
    };
    if !backends().await.contains(&Backend::Postgres) {
        return missing("PostgreSQL is not reachable on 127.0.0.1:5432");
    }
    let Some(s3) = s3::s3_target().await else {
        return; // s3_target said why (and panics under CI=true)
    };
    let (db_name, database_url) = create_pg_database().await;
    let result = tokio::time::timeout(BOUND, story(nginx, cli, s3, database_url)).await;
    drop_pg_database(&db_name).await;
    result.unwrap_or_else(|_| panic!("the story did not finish within {BOUND:?}"));
}

async fn story(nginx_program: PathBuf, cli_program: PathBuf, s3: s3::S3Target, database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("sms-outbox.jsonl");
    let nginx_port = free_port();
    let public = format!("http://127.0.0.1:{nginx_port}");
    let env: Vec<(String, String)> = [
        ("SEALPOST_STORAGE_DATABASE_URL", database_url.clone()),
        ("SEALPOST_STORAGE_BLOB_URL", s3.blob_url()),
        ("SEALPOST_STORAGE_S3_ENDPOINT", s3.endpoint.clone()),
        ("SEALPOST_STORAGE_S3_REGION", s3.region.clone()),
        ("SEALPOST_STORAGE_S3_ACCESS_KEY_ID", s3.access_key_id.clone()),
        ("SEALPOST_STORAGE_S3_SECRET_ACCESS_KEY", s3.secret_access_key.clone()),
        ("SEALPOST_STORAGE_S3_ALLOW_HTTP", s3.allow_http.to_string()),
        ("SEALPOST_STORAGE_PART_SIZE", PART.to_string()),
        // One key-encryption key for both (it unwraps the shared log key and the shares).
        ("SEALPOST_KEYS_SERVER_KEK", random_b64(32)),
        ("SEALPOST_SERVER_PUBLIC_URL", public.clone()),
        ("SEALPOST_SERVER_TRUSTED_PROXIES", "127.0.0.1/32".into()),
        ("SEALPOST_SMS_OUTBOX_FILE", outbox.display().to_string()),
        ("SEALPOST_SWEEPER_INTERVAL_SECS", "1".into()),
        ("SEALPOST_ACCESS_MAX_FAILURES_PER_CODE", "1000".into()),
        ("SEALPOST_ACCESS_MAX_FAILURES_PER_RECIPIENT", CODE_LIMIT.to_string()),
        ("SEALPOST_ACCESS_RESEND_AFTER_SECS", "0".into()),
        ("SEALPOST_ACCESS_SMS_PER_RECIPIENT_PER_HOUR", SMS_CAP.to_string()),
        ("SEALPOST_ACCESS_SMS_PER_MESSAGE_PER_HOUR", "1000".into()),
        ("SEALPOST_ACCESS_SMS_PER_NUMBER_PER_HOUR", "1000".into()),
        ("SEALPOST_ACCESS_SMS_PER_ORG_PER_DAY", "100000".into()),
        ("SEALPOST_LIMITS_IP_REQUESTS_PER_MINUTE", "100000".into()),
        ("SEALPOST_LIMITS_TOKEN_REQUESTS_PER_MINUTE", "100000".into()),
        ("SEALPOST_LOG_LEVEL", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let deployment = Deployment {
        dir,
        env,
        outbox,
        database_url,
    };

    // Replica a migrates the fresh database; b starts on the migrated one.
    let a = deployment.replica("a", 0, free_port());
    let mut b = deployment.replica("b", 0, free_port());
    let mut nginx = Nginx::start(
        &nginx_program,
        &deployment.dir.path().join("nginx"),
        nginx_port,
        &[format!("127.0.0.1:{}", a.port), format!("127.0.0.1:{}", b.port)],
        Balancing::Failover,
    );
    nginx.wait_ready().await;

    deployment.admin(&["org", "create", "council"]);
    deployment.admin(&[
        "user",
        "create",
        "--org",
        "council",
        "--address",
        "alice@council.example",
        "--role",
        "sender",
    ]);
    let token = deployment
        .admin(&[
            "token",
            "create",
            "--user",
            "alice@council.example",
            "--scope",
            "send,read,keys",
        ])
        .trim()
        .to_owned();
    let alice = Cli {
        program: cli_program,
        dir: tempfile::tempdir().unwrap(),
    };
    alice.json(&["init", "--server", &nginx.base, "--token", &token]).await;
    alice.json(&["keys", "generate"]).await;
    alice.json(&["keys", "register"]).await;

    // 1. Requests through nginx alternate between the replicas.
    let mut served_by = Vec::new();
    for _ in 0..8 {
        let before = (a.requests("").await, b.requests("").await);
        let (s, v) = get(format!("{}/api/v1/me", nginx.base), Some(&token)).await;
        assert_eq!(s, 200, "{v}");
        let after = (a.requests("").await, b.requests("").await);
        served_by.push(match (after.0 - before.0, after.1 - before.1) {
            (1, 0) => 'a',
            (0, 1) => 'b',
            other => panic!("one request counted {other:?} times"),
        });
    }
    eprintln!("served by: {served_by:?}");
    assert!(
        served_by.windows(2).all(|w| w[0] != w[1]),
        "round-robin alternates: {served_by:?}"
    );

    // 2. A multi-part send through nginx; replica b is SIGKILLed half-way; it finishes through a.
    let size = 40 * 1024 * 1024 + 4321;
    let mut data = vec![0u8; size];
    getrandom::fill(&mut data).unwrap();
    std::fs::write(alice.dir.path().join("scan.bin"), &data).unwrap();
    let proxy = throttled_proxy(nginx.base.trim_start_matches("http://").to_owned(), 8 * 1024 * 1024).await;
    let parts_route = "/api/v1/messages/{id}/payloads/{index}/parts/{part}";
    let mut send = alice.command(&[
        "send",
        "--to",
        GUEST,
        "--sms",
        PHONE,
        "--subject",
        "Scan",
        "--body",
        "Attached.",
        "--attach",
        "scan.bin",
        "--json",
    ]);
    send.env("SEALPOST_SERVER", &proxy)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let send = send.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (a_parts_at_kill, b_parts_at_kill) = loop {
        assert!(Instant::now() < deadline, "b never stored a part within 90 s");
        let (a_parts, b_parts) = (
            a.requests(&format!("route=\"{parts_route}\",status=\"200\"")).await,
            b.requests(&format!("route=\"{parts_route}\",status=\"200\"")).await,
        );
        if a_parts >= 1 && b_parts >= 1 {
            b.kill();
            break (a_parts, b_parts);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let out = tokio::task::spawn_blocking(move || send.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "the send did not survive the loss of a replica:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    let story_id = sent["message_id"].as_str().unwrap().to_owned();
    let story_link = sent["recipients"][0]["link"].as_str().unwrap().to_owned();
    let parts_total = size.div_ceil(PART as usize) as u64;
    let a_parts = a.requests(&format!("route=\"{parts_route}\",status=\"200\"")).await;
    eprintln!(
        "parts stored: a {a_parts_at_kill} and b {b_parts_at_kill} before the kill, a {a_parts} in all (of {parts_total} and a manifest)"
    );
    assert!(a_parts > a_parts_at_kill, "a took over the upload after b was killed");
    let nginx_errors = nginx.error_log();
    assert!(
        nginx_errors.contains("upstream") || nginx_errors.contains("connect()"),
        "nginx noticed the dead replica:\n{nginx_errors}"
    );
    let (s, st) = get(a.url(&format!("/api/v1/messages/{story_id}")), Some(&token)).await;
    assert_eq!((s, st["state"].as_str()), (200, Some("sealed")), "{st}");

    // b comes back on its port; nginx sends it traffic again after fail_timeout.
    let b_port = b.port;
    drop(b);
    let b = deployment.replica("b", b_port, free_port());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let b_before = b.requests("").await;
    for _ in 0..4 {
        let (s, _) = get(format!("{}/api/v1/me", nginx.base), Some(&token)).await;
        assert_eq!(s, 200);
    }
    assert!(
        b.requests("").await > b_before,
        "the restarted replica is back in rotation"
    );

    // 3. The guest opens it through nginx with the SDK: SMS code, verify, release, decrypt.
    let sms_before = deployment.outbox().len();
    let target = sealpost_client::open::parse_target(&story_link, None).unwrap();
    let out_dir = deployment.dir.path().join("opened");
    let opened = sealpost_client::open::open(
        &target,
        &OutboxPrompt {
            deployment: &deployment,
            nth: sms_before,
        },
        &sealpost_client::open::OpenOptions {
            out_dir: out_dir.clone(),
            log_key: None,
        },
    )
    .await
    .expect("the guest opens the message");
    assert_eq!(opened.message_id, story_id);
    assert_eq!(opened.attachments.len(), 1);
    let got = std::fs::read(&opened.attachments[0].path).unwrap();
    assert!(
        sha256_hex(&got) == sha256_hex(&data),
        "the attachment is byte-identical"
    );
    drop(got);
    let story_release_index = opened.log_index;

    // 4. A revoke acknowledged by a is refused by b at once (and the other way round).
    let key = VerifierKey::from_vkey(
        reqwest::get(a.url("/.well-known/sealpost/log-key"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .trim(),
    )
    .unwrap();
    let mut releases = Vec::new(); // (message id, rid, index, leaf)
    for (revoker, other) in [(&a, &b), (&b, &a)] {
        let (id, link) = alice.send_note("Revoke me").await;
        let acc = access_id(&link);
        let n = deployment.outbox().len();
        let (s, v) = post(other.url(&format!("/api/v1/access/{acc}/code")), None, json!({})).await;
        assert_eq!(s, 202, "{v}");
        let code = deployment.wait_for_code(n);
        let (s, v) = post(
            revoker.url(&format!("/api/v1/access/{acc}/verify")),
            None,
            json!({ "code": code }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let session = v["session"].as_str().unwrap().to_owned();
        let release = format!("/api/v1/access/{acc}/release");
        let (s, v) = post(other.url(&release), Some(&session), json!({})).await;
        assert_eq!(s, 200, "release before the revoke: {v}");
        let leaf = STANDARD.decode(v["log"]["leaf"].as_str().unwrap()).unwrap();
        let index = v["log"]["index"].as_u64().unwrap();
        let (_, status) = get(revoker.url(&format!("/api/v1/messages/{id}")), Some(&token)).await;
        let rid = status["recipients"][0]["rid"].as_str().unwrap().to_owned();
        tlog::verify_release(
            &key,
            v["log"]["checkpoint"].as_str().unwrap(),
            index,
            &leaf,
            &hashes(&v["log"]["proof"]),
            &id,
            &rid,
        )
        .expect("release proof");
        releases.push((id.clone(), rid, index, leaf));

        let (s, v) = post(
            revoker.url(&format!("/api/v1/messages/{id}/revoke")),
            Some(&token),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = post(other.url(&release), Some(&session), json!({})).await;
        assert!(
            (400..500).contains(&s),
            "a release after the revoke at the other replica: {s} {v}"
        );
        let (s, v) = post(revoker.url(&release), Some(&session), json!({})).await;
        assert!((400..500).contains(&s), "{s} {v}");
    }

    // 5. Wrong codes spread over both replicas lock the link at the limit.
    let (id, link) = alice.send_note("Guess").await;
    let acc = access_id(&link);
    let n = deployment.outbox().len();
    let (s, v) = post(a.url(&format!("/api/v1/access/{acc}/code")), None, json!({})).await;
    assert_eq!(s, 202, "{v}");
    let code = deployment.wait_for_code(n);
    let wrong = if code == "999999" { "999998" } else { "999999" };
    let mut answers = Vec::new();
    for i in 0..CODE_LIMIT + 3 {
        let replica = if i % 2 == 0 { &b } else { &a };
        let (s, v) = post(
            replica.url(&format!("/api/v1/access/{acc}/verify")),
            None,
            json!({ "code": wrong }),
        )
        .await;
        answers.push((s, v["code"].as_str().unwrap_or_default().to_owned()));
    }
    let expected: Vec<(u16, String)> = (0..CODE_LIMIT + 3)
        .map(|i| {
            if i + 1 < CODE_LIMIT {
                (403, "wrong_code".to_owned())
            } else {
                (423, "locked".to_owned())
            }
        })
        .collect();
    assert_eq!(answers, expected, "one failure count across both replicas");
    for replica in [&a, &b] {
        let (s, v) = post(
            replica.url(&format!("/api/v1/access/{acc}/verify")),
            None,
            json!({ "code": code }),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (423, Some("locked")),
            "even the right code: {v}"
        );
    }
    let (_, st) = get(a.url(&format!("/api/v1/messages/{id}")), Some(&token)).await;
    assert_eq!(st["recipients"][0]["locked"], true, "{st}");

    // 6. Code requests spread over both replicas stop at the SMS cap.
    let (_, link) = alice.send_note("Codes").await;
    let acc = access_id(&link);
    let before = deployment.outbox().len();
    let mut statuses = Vec::new();
    for i in 0..SMS_CAP + 4 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let (s, _) = post(replica.url(&format!("/api/v1/access/{acc}/code")), None, json!({})).await;
        statuses.push(s);
    }
    let expected: Vec<u16> = (0..SMS_CAP + 4).map(|i| if i < SMS_CAP { 202 } else { 429 }).collect();
    assert_eq!(statuses, expected, "one SMS cap across both replicas");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(deployment.outbox().len() - before, SMS_CAP, "texts actually sent");

    // 7. Messages past their expiry are swept exactly once, by whichever replica gets there.
    let mut expiring = Vec::new();
    for i in 0..4 {
        expiring.push(alice.send_note(&format!("Expiring {i}")).await.0);
    }
    {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&deployment.database_url).await.unwrap();
        let past = sealpost_server::clock::SystemClock.now_ms_for_tests() - 1000;
        for id in &expiring {
            let done = sqlx::query("UPDATE messages SET expires_at = $1 WHERE id = $2")
                .bind(past)
                .bind(id)
                .execute(&mut db)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
        }
        db.close().await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &expiring {
        loop {
            let (_, events) = get(a.url(&format!("/api/v1/messages/{id}/events")), Some(&token)).await;
            if events["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == tlog::kinds::EXPIRED)
            {
                break;
            }
            assert!(Instant::now() < deadline, "{id} not swept within 30 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Several more sweeps on each replica, then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in &expiring {
        for replica in [&a, &b] {
            let (s, events) = get(replica.url(&format!("/api/v1/messages/{id}/events")), Some(&token)).await;
            assert_eq!(s, 200, "{events}");
            let expired = events["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == tlog::kinds::EXPIRED)
                .count();
            assert_eq!(expired, 1, "{id}: {events}");
            let (_, st) = get(replica.url(&format!("/api/v1/messages/{id}")), Some(&token)).await;
            assert_eq!(st["state"], "expired");
        }
    }

    // 8. The story ends: the sender revokes through nginx; neither replica sends a code for it.
    let revoked = alice.json(&["revoke", &story_id]).await;
    assert_eq!(revoked["state"], "revoked", "{revoked}");
    let acc = access_id(&story_link);
    for replica in [&a, &b] {
        let (s, v) = post(replica.url(&format!("/api/v1/access/{acc}/code")), None, json!({})).await;
        assert!(
            (400..500).contains(&s) && s != 429,
            "a code for a revoked message: {s} {v}"
        );
    }

    // 9. One consistent log: checkpoints from both replicas verify under the one key, are
    // consistent with each other, and include the story's releases.
    let key_b = reqwest::get(b.url("/.well-known/sealpost/log-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(key.to_vkey(), key_b.trim(), "one log key");
    // Sequencing runs with the sweeper; wait until both sign a checkpoint covering the releases.
    let wanted = releases.iter().map(|r| r.2).chain([story_release_index]).max().unwrap() + 1;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (ca, cb) = loop {
        let (ca, cb) = (checkpoint(&a, &key).await, checkpoint(&b, &key).await);
        if ca.size >= wanted && cb.size >= wanted {
            break (ca, cb);
        }
        assert!(Instant::now() < deadline, "the log did not reach size {wanted}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (small, large) = if ca.size <= cb.size { (&ca, &cb) } else { (&cb, &ca) };
    if small.size == large.size {
        assert_eq!(small.root, large.root, "same size, same root");
    }
    assert_consistent(small, large, &a).await;
    assert_consistent(small, large, &b).await;
    for (id, rid, index, leaf) in &releases {
        let (s, v) = get(
            b.url(&format!("/api/v1/log/inclusion?index={index}&size={}", large.size)),
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert!(
            merkle::verify_inclusion(
                &merkle::leaf_hash(leaf),
                *index,
                large.size,
                &hashes(&v["proof"]),
                &large.root
            ),
            "the release of {id} to {rid} is in the log"
        );
    }
    for id in [&story_id, &releases[0].0, &releases[1].0] {
        let replica = if id == &story_id { &b } else { &a };
        let (s, text) = {
            let r = reqwest::Client::new()
                .get(replica.url(&format!("/api/v1/messages/{id}/receipt")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        };
        assert_eq!(s, 200, "{text}");
        let receipt = tlog::verify_receipt(&text, &key, &[]).expect("receipt verifies");
        assert_eq!(receipt.recipients[0].releases, 1, "{id}");
        assert!(receipt.recipients[0].revoked_ms.is_some(), "{id}");
        let root: merkle::Hash = STANDARD.decode(&receipt.root_b64).unwrap().try_into().unwrap();
        let at = Checkpoint {
            origin: key.name.clone(),
            size: receipt.size,
            root,
        };
        let latest = checkpoint(&a, &key).await;
        assert_consistent(&at, &latest, &b).await;
    }

    drop(nginx);
    drop(a);
    drop(b);
}
