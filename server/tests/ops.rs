//! Operating the server under an orchestrator, with the real binary where signals, exit codes
//! and logs matter: the `healthcheck` subcommand (plain, TLS, wildcard listener), the readiness
//! drain on SIGTERM with an upload in flight, sd_notify, the key-encryption-key start rules,
//! patience with an unreachable database, probe request lines at DEBUG, and the Prometheus
//! metrics after a story (with the scrape token) — on SQLite, and on PostgreSQL when reachable.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
mod process;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::*;
use process::*;
use sealpost_crypto::recipient::RecipientSecretKey;
use sealpost_server::clock::{Clock, ManualClock};
use sealpost_server::domain::{Role, Scope};
use serde_json::{Value, json};

/// A server process with extra environment; `addr` is what it printed as bound.
struct Server {
    child: Child,
    addr: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit (at most `limit`), returning its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not exit within {limit:?}");
    }

    fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

fn start(storage: &Storage, level: &str, env: &[(&str, String)]) -> Server {
    spawn(serve_command(storage, level, env))
}

fn serve_command(storage: &Storage, level: &str, env: &[(&str, String)]) -> Command {
    let mut cmd = command(storage);
    cmd.arg("serve").env("SEALPOST_LOG_LEVEL", level);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `cmd` run through `sh` with SIGINT ignored, which the exec'd program inherits (as a
/// background job of a non-interactive shell does).
fn with_sigint_ignored(cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh.arg("-c")
        .arg("trap '' INT; exec \"$0\" \"$@\"")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    sh
}

fn spawn(mut cmd: Command) -> Server {
    let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = match lines.next() {
            Some(line) => line.unwrap(),
            None => panic!("server exited before listening: {seen:?}"),
        };
        seen.push(line.clone());
        if let Some(addr) = line.strip_prefix("sealpost-server: listening on ") {
            break addr.trim().to_owned();
        }
    };
    let sink = Arc::new(Mutex::new(seen));
    let keep = sink.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            keep.lock().unwrap().push(line);
        }
    });
    Server {
        child,
        addr,
        lines: sink,
    }
}

/// Runs a `sealpost-server` subcommand on `storage` with extra environment.
fn run(storage: &Storage, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = command(storage);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// healthcheck
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_probes_the_listener_plain_tls_and_wildcard() {
    let storage = Storage::new(Backend::Sqlite).await;
    // Listening on all addresses: the probe goes to the loopback address.
    let server = start(&storage, "warn", &[("SEALPOST_SERVER_LISTEN", "0.0.0.0:0".into())]);
    assert!(server.addr.starts_with("0.0.0.0:"), "{}", server.addr);
    let listen = [("SEALPOST_SERVER_LISTEN", server.addr.clone())];
    for args in [&["healthcheck"][..], &["healthcheck", "--ready"]] {
        let out = run(&storage, args, &listen);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    drop(server);
    // Nothing listening: exit 1 with a sentence naming the URL.
    let out = run(&storage, &["healthcheck"], &listen);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.contains("/healthz did not answer"), "{text}");
    assert!(text.lines().count() <= 2, "{text}");

    // The server terminates TLS: the probe speaks HTTPS; a plain probe fails.
    let generated = rcgen::generate_simple_self_signed(vec!["sealpost.example".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let tls = [
        ("SEALPOST_SERVER_TLS_CERT", cert.display().to_string()),
        ("SEALPOST_SERVER_TLS_KEY", key.display().to_string()),
    ];
    let server = start(&storage, "warn", &tls);
    let mut env = tls.to_vec();
    env.push(("SEALPOST_SERVER_LISTEN", server.addr.clone()));
    let out = run(&storage, &["healthcheck", "--ready"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &storage,
        &["healthcheck"],
        &[("SEALPOST_SERVER_LISTEN", server.addr.clone())],
    );
    assert_eq!(out.status.code(), Some(1), "plain HTTP against TLS must fail");
    drop(server);
    storage.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// SIGTERM: not ready at once, still serving, in-flight requests finish, exit 0
// ---------------------------------------------------------------------------------------------

fn stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readyz_503_finishes_the_upload_and_exits_0() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let mut server = start(&storage, "info", &[("SEALPOST_SERVER_SHUTDOWN_DELAY_SECS", "2".into())]);
        let base = server.base();
        let (alice, bob) = setup(&storage, &base).await;
        let a = as_actor(&alice);
        let b = as_actor(&bob);
        let data: Vec<u8> = (0..(PART as usize + 1000)).map(|i| (i * 13 % 256) as u8).collect();
        let built = build(
            &a,
            &[To::Account(&b)],
            &[&data],
            sealpost_server::clock::SystemClock.now_ms_for_tests(),
            7,
        );
        let id = built.id();
        let c = reqwest::Client::new();
        let r = c
            .post(format!("{base}/api/v1/messages"))
            .bearer_auth(&alice.token)
            .json(&built.create_body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let part = built.sealed.payloads[1][..PART as usize].to_vec();
        assert_eq!(c.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);

        // A part upload is streaming when SIGTERM arrives.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        let pending = tokio::spawn(
            c.put(format!("{base}/api/v1/messages/{id}/payloads/1/parts/0"))
                .bearer_auth(&alice.token)
                .header("content-digest", digest(&part))
                .header("content-length", part.len())
                .body(reqwest::Body::wrap_stream(stream_from(rx)))
                .send(),
        );
        let half = part.len() / 2;
        tx.send(Ok(part[..half].to_vec())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.signal("TERM");

        // Not ready at once, while still serving (new connections included).
        let mut saw_503 = false;
        for _ in 0..20 {
            let r = reqwest::Client::new()
                .get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap();
            if r.status() == 503 {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["status"], "shutting_down", "{v}");
                saw_503 = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(saw_503, "readyz never turned 503 after SIGTERM");
        let r = reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "healthz keeps answering during the delay");

        // The upload in flight finishes after the listener has closed.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            reqwest::Client::new()
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_err(),
            "the listener is still open after the delay"
        );
        tx.send(Ok(part[half..].to_vec())).await.unwrap();
        drop(tx);
        let r = pending.await.unwrap().unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0), "{:?}", server.log());
        let log = server.log().join("\n");
        assert!(log.contains("/readyz answers 503"), "{log}");

        // The part really is stored: a restarted replica lists it.
        let server = start(&storage, "warn", &[]);
        let st: Value = c
            .get(format!("{}/api/v1/messages/{id}/payloads/1", server.base()))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["parts"].as_array().unwrap().len(), 1, "{st}");
        drop(server);
        storage.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// sd_notify
// ---------------------------------------------------------------------------------------------

/// A `NOTIFY_SOCKET` for one server: the datagram socket the test reads.
struct Notify {
    socket: std::os::unix::net::UnixDatagram,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Notify {
    fn new() -> Notify {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Notify {
            socket,
            path,
            _dir: dir,
        }
    }

    fn env(&self) -> (&'static str, String) {
        ("NOTIFY_SOCKET", self.path.display().to_string())
    }

    /// The next message (at most 30 s away) is `want`.
    fn expect(&self, want: &str) {
        let mut buf = [0u8; 256];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {want} within 30 s: {e}"));
        assert_eq!(String::from_utf8_lossy(&buf[..n]), want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sd_notify_says_ready_after_binding_and_stopping_on_sigterm() {
    let storage = Storage::new(Backend::Sqlite).await;
    let notify = Notify::new();
    let mut server = start(
        &storage,
        "warn",
        &[notify.env(), ("SEALPOST_SERVER_SHUTDOWN_DELAY_SECS", "0".into())],
    );
    notify.expect("READY=1");
    // Ready means bound and migrated: the API answers right away.
    let r = reqwest::get(format!("{}/readyz", server.base())).await.unwrap();
    assert_eq!(r.status(), 200);
    // `systemctl reload` sends SIGHUP (the unit's ExecReload): without TLS nothing reloads, and
    // the process must not take the signal's default action (exit).
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "SIGHUP ended the server");
    let r = reqwest::get(format!("{}/readyz", server.base())).await.unwrap();
    assert_eq!(r.status(), 200);
    server.signal("TERM");
    notify.expect("STOPPING=1");
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0));
    storage.cleanup().await;
}

/// Ctrl-C in a terminal stops the server the same way as SIGTERM, also when the server was
/// started with SIGINT ignored (a background job of a shell, as under `nohup cmd &`): it takes
/// the signal over before it says it is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_like_sigterm() {
    let storage = Storage::new(Backend::Sqlite).await;
    let notify = Notify::new();
    let env = [notify.env(), ("SEALPOST_SERVER_SHUTDOWN_DELAY_SECS", "3".into())];
    let mut server = spawn(with_sigint_ignored(&serve_command(&storage, "info", &env)));
    notify.expect("READY=1");
    // At once after READY=1: the handler must already be in place.
    server.signal("INT");
    notify.expect("STOPPING=1");
    // The drain still applies: not ready, but serving, for shutdown_delay_secs.
    let r = reqwest::get(format!("{}/readyz", server.base())).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0));
    let log = server.log().join("\n");
    assert!(log.contains("SIGINT"), "the log names the signal:\n{log}");
    storage.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// The key-encryption key is never silently replaced
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_kek_file_is_created_only_on_a_first_start_and_when_allowed() {
    for backend in backends().await {
        // Quick start: nothing configured, a fresh database: the default file is created.
        let storage = Storage::new(backend).await;
        let default_kek = storage.dir.path().join("server-kek");
        let out = run(&storage, &["migrate"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(default_kek.exists());
        // The default file disappears (a lost volume): the database has keys, so no new one.
        let saved = std::fs::read(&default_kek).unwrap();
        std::fs::remove_file(&default_kek).unwrap();
        let out = run(&storage, &["migrate"], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("already holds keys wrapped under a key-encryption key"),
            "{}",
            stderr(&out)
        );
        assert!(!default_kek.exists(), "a new key was created");
        std::fs::write(&default_kek, &saved).unwrap();
        let out = run(&storage, &["migrate"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));

        // An explicit file that is absent: refused, even with create_kek, on a database with keys.
        let secrets = tempfile::tempdir().unwrap();
        let mounted = secrets.path().join("server-kek");
        let explicit = [("SEALPOST_KEYS_SERVER_KEK_FILE", mounted.display().to_string())];
        let mut allowed = explicit.to_vec();
        allowed.push(("SEALPOST_KEYS_CREATE_KEK", "true".into()));
        for env in [&explicit[..], &allowed[..]] {
            let out = run(&storage, &["migrate"], env);
            assert_eq!(out.status.code(), Some(1), "{env:?}");
            assert!(!mounted.exists(), "{env:?}: a new key was created");
        }
        storage.cleanup().await;

        // A fresh database and an explicit file that is absent: only with create_kek.
        let storage = Storage::new(backend).await;
        let out = run(&storage, &["migrate"], &explicit);
        assert_eq!(out.status.code(), Some(1));
        let text = stderr(&out);
        assert!(
            text.contains("does not exist") && text.contains("keys.create_kek"),
            "{text}"
        );
        assert!(!mounted.exists());
        let out = run(&storage, &["migrate"], &allowed);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(mounted.exists());
        assert!(!storage.dir.path().join("server-kek").exists());
        // From now on the file exists and is simply used.
        let out = run(&storage, &["migrate"], &explicit);
        assert!(out.status.success(), "{}", stderr(&out));
        storage.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// An unreachable database at start
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_retried_then_a_plain_sentence_and_exit_1() {
    let storage = Storage::new(Backend::Sqlite).await;
    let port = free_port();
    let start = Instant::now();
    let out = run(
        &storage,
        &["serve"],
        &[
            (
                "SEALPOST_STORAGE_DATABASE_URL",
                format!("postgres://sealpost@127.0.0.1:{port}/sealpost"),
            ),
            ("SEALPOST_STORAGE_CONNECT_TIMEOUT_SECS", "8".into()),
        ],
    );
    let elapsed = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    let retries = text.lines().filter(|l| l.contains("retrying")).count();
    assert!(retries >= 1, "a log line per failed attempt expected: {text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sealpost-server: cannot open the database after ")
            && last.contains("attempt(s) in 8 s")
            && last.contains("connect_timeout_secs"),
        "{text}"
    );
    assert!(
        elapsed >= Duration::from_secs(5),
        "gave up long before the timeout: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(60), "kept retrying: {elapsed:?}");
    storage.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Probe request lines at DEBUG
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_are_logged_at_debug_other_requests_at_info() {
    let storage = Storage::new(Backend::Sqlite).await;
    for level in ["info", "debug"] {
        let server = start(&storage, level, &[]);
        let c = reqwest::Client::new();
        for path in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
            assert_eq!(
                c.get(format!("{}{path}", server.base())).send().await.unwrap().status(),
                200
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let log = server.log();
        let lines = |route: &str| {
            log.iter()
                .filter(|l| l.contains(&format!("route={route}")) && l.contains("response"))
                .count()
        };
        assert!(lines("/api/v1/openapi.json") >= 1, "{log:#?}");
        let probes = lines("/healthz") + lines("/readyz");
        match level {
            "info" => assert_eq!(probes, 0, "{log:#?}"),
            // The same lines are there at DEBUG: the filter above really looks at them.
            _ => assert!(lines("/healthz") >= 1 && lines("/readyz") >= 1, "{log:#?}"),
        }
        drop(server);
    }
    storage.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

const PHONE: &str = "+447700900123";
const TOKEN: &str = "scrape-me-0123456789";

async fn scrape(addr: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("http://{addr}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the series `name` (with its labels, e.g. `x{outcome="sent"}`), 0 if absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    session: Option<&str>,
    body: Value,
) -> (u16, Value) {
    http(method, server.url(path), session, Some(body)).await
}

fn last_code(server: &TestServer) -> String {
    let path = server.config.sms.outbox_path(&server.config.storage.data_dir);
    let text = sealpost_server::sms::read_outbox(&path)
        .unwrap()
        .last()
        .unwrap()
        .text
        .clone();
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned()
}

async fn guest_message(server: &TestServer, alice: &Actor) -> String {
    let link_key = RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let built = build(
        alice,
        &[To::Guest(link_key.public(), PHONE)],
        &[&[7u8; 100_000]],
        server.clock.now_ms(),
        7,
    );
    let status = send(server, alice, &built).await;
    status["recipients"][0]["access_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_a_story_and_need_the_token() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let mut config = storage.config(64 * 1024);
        let port = free_port();
        let metrics_addr = format!("127.0.0.1:{port}");
        config.metrics.listen = Some(metrics_addr.parse().unwrap());
        config.metrics.token = Some(sealpost_server::config::Secret::new(TOKEN.to_owned()));
        config.access.max_failures_per_recipient = 2;
        config.access.resend_after_secs = 0;
        let server = TestServer::start_with(config, ManualClock::new(T0)).await;

        // The token is required.
        assert_eq!(scrape(&metrics_addr, None).await.0, 401);
        assert_eq!(scrape(&metrics_addr, Some("wrong")).await.0, 401);
        let (s, before) = scrape(&metrics_addr, Some(TOKEN)).await;
        assert_eq!(s, 200);

        let alice = actor(
            &server,
            "gp-practice",
            "alice@gp.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            true,
        )
        .await;
        // A release after one wrong code.
        let aid = guest_message(&server, &alice).await;
        let post = reqwest::Method::POST;
        assert_eq!(
            call(
                &server,
                post.clone(),
                &format!("/api/v1/access/{aid}/code"),
                None,
                json!({})
            )
            .await
            .0,
            202
        );
        let code = last_code(&server);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        let verify = format!("/api/v1/access/{aid}/verify");
        assert_eq!(
            call(&server, post.clone(), &verify, None, json!({ "code": wrong }))
                .await
                .0,
            403
        );
        let (s, v) = call(&server, post.clone(), &verify, None, json!({ "code": code })).await;
        assert_eq!(s, 200, "{v}");
        let session = v["session"].as_str().unwrap().to_owned();
        let release = format!("/api/v1/access/{aid}/release");
        let (s, v) = call(&server, post.clone(), &release, Some(&session), json!({})).await;
        assert_eq!(s, 200, "{v}");
        let (s, _) = call(&server, post.clone(), &release, Some("spa_forged"), json!({})).await;
        assert_eq!(s, 401);
        // A lock: two wrong codes on another message.
        let aid2 = guest_message(&server, &alice).await;
        assert_eq!(
            call(
                &server,
                post.clone(),
                &format!("/api/v1/access/{aid2}/code"),
                None,
                json!({})
            )
            .await
            .0,
            202
        );
        let code = last_code(&server);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        let verify = format!("/api/v1/access/{aid2}/verify");
        assert_eq!(
            call(&server, post.clone(), &verify, None, json!({ "code": wrong }))
                .await
                .0,
            403
        );
        assert_eq!(
            call(&server, post.clone(), &verify, None, json!({ "code": wrong }))
                .await
                .0,
            423
        );

        // The sweeper: a message that is past its expiry is overdue until a sweep ends it.
        server.clock.advance(8 * 86_400_000);
        let now = server.clock.now_ms();
        let overdue = sealpost_server::db::ops::oldest_overdue(server.services.db.pool(), now)
            .await
            .unwrap();
        assert!(overdue.is_some_and(|due| due < now), "{overdue:?}");
        sealpost_server::domain::sweeper::sweep_once(&server.services, 48)
            .await
            .unwrap();
        assert_eq!(
            sealpost_server::db::ops::oldest_overdue(server.services.db.pool(), now)
                .await
                .unwrap(),
            None
        );

        let (_, after) = scrape(&metrics_addr, Some(TOKEN)).await;
        let moved = |series: &str| value(&after, series) - value(&before, series);
        assert!(moved("sealpost_releases_total{outcome=\"released\"}") >= 1.0, "{after}");
        assert!(moved("sealpost_releases_total{outcome=\"refused\"}") >= 1.0, "{after}");
        assert!(
            moved("sealpost_verification_failures_total{method=\"sms\"}") >= 3.0,
            "{after}"
        );
        assert!(moved("sealpost_recipient_locks_total") >= 1.0, "{after}");
        assert!(moved("sealpost_sms_total{outcome=\"sent\"}") >= 2.0, "{after}");
        assert!(moved("sealpost_upload_bytes_total") >= 200_000.0, "{after}");
        // Gauges from the sweep above (other tests' sweeps in this process may follow it).
        assert!(
            value(&after, "sealpost_sweeper_last_success_timestamp_seconds") > 0.0,
            "{after}"
        );
        assert!(value(&after, "sealpost_access_log_entries") >= 1.0, "{after}");
        assert!(after.contains("sealpost_sweeper_overdue_seconds "), "{after}");
        assert_eq!(value(&after, "sealpost_ready"), 1.0, "{after}");
        server.stop().await;
        storage.cleanup().await;
    }

    // A failing SMS provider counts as a failure.
    let storage = Storage::new(Backend::Sqlite).await;
    let mut config = storage.config(64 * 1024);
    config.sms.provider = sealpost_server::sms::SmsProvider::Twilio;
    config.sms.base_url = format!("http://127.0.0.1:{}", free_port());
    config.sms.account_sid = Some("AC123".into());
    config.sms.auth_token = Some(sealpost_server::config::Secret::new("secret".to_owned()));
    config.sms.sender_id = Some("Sealpost".into());
    config.sms.max_attempts = 1;
    config.sms.retry_base_ms = 10;
    let server = TestServer::start_with(config, ManualClock::new(T0)).await;
    let handle = sealpost_server::telemetry::metrics_handle().expect("installed above");
    let before = value(&handle.render(), "sealpost_sms_total{outcome=\"failed\"}");
    let alice = actor(
        &server,
        "gp",
        "alice@gp.example",
        &[Role::Sender],
        &[Scope::Send, Scope::Read],
        true,
    )
    .await;
    let aid = guest_message(&server, &alice).await;
    let (s, _) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{aid}/code"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(s, 503);
    assert_eq!(
        value(&handle.render(), "sealpost_sms_total{outcome=\"failed\"}") - before,
        1.0
    );
    server.stop().await;
    storage.cleanup().await;
}

#[test]
fn the_alert_rules_file_is_valid_yaml_with_groups_and_rules() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/alerts.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    // No YAML parser among the dependencies: check the structure Prometheus needs line by line.
    assert!(text.lines().any(|l| l == "groups:"), "no top-level groups");
    let alerts: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 8, "{alerts:?}");
    assert_eq!(
        text.lines().filter(|l| l.trim_start().starts_with("expr:")).count(),
        alerts.len(),
        "every alert needs one expr"
    );
    assert!(!text.contains('\t'), "YAML forbids tabs for indentation");
    // Every metric named in an expression is one the server exports (or Prometheus' `up`).
    let known = [
        "up",
        "sealpost_http_requests_total",
        "sealpost_http_request_duration_seconds_bucket",
        "sealpost_releases_total",
        "sealpost_verification_failures_total",
        "sealpost_recipient_locks_total",
        "sealpost_sms_total",
        "sealpost_upload_bytes_total",
        "sealpost_sweeper_last_success_timestamp_seconds",
        "sealpost_sweeper_overdue_seconds",
        "sealpost_access_log_entries",
        "sealpost_ready",
        "sealpost_witness_failures_total",
        "sealpost_log_entries_total",
    ];
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("sealpost_") {
            assert!(known.contains(&word), "unknown metric {word} in alerts.yml");
        }
    }
}

/// Every `ConfigOverrides` field has its flag, and a flag wins over the environment; a bad flag
/// value is a sentence and a non-zero exit, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_flags_win_over_the_environment() {
    let storage = Storage::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let environment = [
        (
            "SEALPOST_SERVER_PUBLIC_URL",
            "http://from-the-environment.example".to_owned(),
        ),
        ("SEALPOST_LOG_LEVEL", "warn".to_owned()),
    ];
    let effective = |flags: &[&str]| {
        let mut args = vec!["config", "print", "--effective"];
        args.extend_from_slice(flags);
        run(&storage, &args, &environment)
    };
    let out = effective(&[
        "--public-url",
        "https://send.example.org",
        "--log-level",
        "sealpost_server=debug,info",
        "--metrics-listen",
        "127.0.0.1:9999",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let toml = String::from_utf8(out.stdout).unwrap();
    for line in [
        "public_url = \"https://send.example.org\"".to_owned(),
        "level = \"sealpost_server=debug,info\"".to_owned(),
        "listen = \"127.0.0.1:9999\"".to_owned(),
        format!("tls_cert = {:?}", cert.display().to_string()),
        format!("tls_key = {:?}", key.display().to_string()),
    ] {
        assert!(toml.lines().any(|l| l == line), "{line} missing from:\n{toml}");
    }
    let out = effective(&["--no-metrics"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let toml = String::from_utf8(out.stdout).unwrap();
    assert!(toml.lines().any(|l| l == "listen = \"off\""), "{toml}");
    assert!(
        toml.lines()
            .any(|l| l == "public_url = \"http://from-the-environment.example\"")
    );

    for (flags, code, says) in [
        (&["--metrics-listen", "1.2.3"][..], 2, "invalid value '1.2.3'"),
        (
            &["--metrics-listen", "127.0.0.1:1", "--no-metrics"][..],
            2,
            "cannot be used with",
        ),
        (
            &["--public-url", "ftp://x"][..],
            1,
            "server.public_url must start with http:// or https://",
        ),
        (
            &["--log-level", "not a level["][..],
            1,
            "log.level is not a valid filter directive",
        ),
        (
            &["--tls-cert", "cert.pem"][..],
            1,
            "server.tls_cert is set but server.tls_key is not",
        ),
    ] {
        let out = effective(flags);
        assert_eq!(out.status.code(), Some(code), "{flags:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{flags:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{flags:?}: {}", stderr(&out));
    }
    storage.cleanup().await;
}

#[test]
fn the_new_settings_come_from_the_environment_and_files() {
    use sealpost_server::config::{self, ConfigOverrides};
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("metrics-token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let defaults = config::load(None, env(&[]), &ConfigOverrides::default()).unwrap();
    assert_eq!(defaults.server.shutdown_delay_secs, 5);
    assert_eq!(defaults.storage.connect_timeout_secs, 30);
    assert!(!defaults.keys.create_kek);
    assert!(defaults.metrics.token.is_none());
    let c = config::load(
        None,
        env(&[
            ("SEALPOST_SERVER_SHUTDOWN_DELAY_SECS", "0"),
            ("SEALPOST_STORAGE_CONNECT_TIMEOUT_SECS", "7"),
            ("SEALPOST_KEYS_CREATE_KEK", "true"),
            ("SEALPOST_METRICS_TOKEN_FILE", token.to_str().unwrap()),
        ]),
        &ConfigOverrides::default(),
    )
    .unwrap();
    assert_eq!(c.server.shutdown_delay_secs, 0);
    assert_eq!(c.storage.connect_timeout_secs, 7);
    assert!(c.keys.create_kek);
    assert_eq!(c.metrics.token.as_ref().map(|t| t.expose()), Some("s3cret-token"));
    assert!(!c.effective_toml().contains("s3cret-token"));
    // The probe's URL: loopback for a wildcard listener, https with TLS.
    let mut c = defaults.clone();
    c.server.listen = "0.0.0.0:8080".parse().unwrap();
    assert_eq!(
        sealpost_server::lifecycle::probe_url(&c, false),
        "http://127.0.0.1:8080/healthz"
    );
    c.server.listen = "[::]:8443".parse().unwrap();
    c.server.tls_cert = Some("/x/cert.pem".into());
    assert_eq!(
        sealpost_server::lifecycle::probe_url(&c, true),
        "https://[::1]:8443/readyz"
    );
}
