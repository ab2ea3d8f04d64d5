//! The `sealpost` tool end to end against a real server on port 0: the `--json` outputs against
//! golden files (`tests/golden/*.json`, variable values replaced by placeholders; regenerate
//! with `UPDATE_GOLDEN=1`), exit codes and error sentences, and resuming a send after the tool
//! was killed mid-upload.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{PHONE, Run, Server, User, random_file, sha256_file};

const GUEST: &str = "sam@example.org";

/// Replaces what differs between runs by placeholders: ids, times, keys, the server's URL,
/// link secrets, log keys, sizes that depend on random lengths are kept (they do not).
fn normalize(value: &Value, base: &str) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match k.as_str() {
                    // Where the release landed in the log depends on how many entries came first.
                    "log_index" => (k.clone(), Value::String("<index>".into())),
                    _ => (k.clone(), normalize(v, base)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalize(v, base)).collect()),
        Value::String(s) => Value::String(normalize_str(s, base)),
        other => other.clone(),
    }
}

fn is_b64url(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn normalize_str(s: &str, base: &str) -> String {
    if let Some(rest) = s.strip_prefix(base).or_else(|| s.strip_prefix(support::PUBLIC_URL)) {
        let (path, fragment) = match rest.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (rest, None),
        };
        let path: Vec<String> = path
            .split('/')
            .map(|seg| {
                if seg.len() == 22 && is_b64url(seg) {
                    "<id>".into()
                } else {
                    seg.to_owned()
                }
            })
            .collect();
        let mut out = format!("<server>{}", path.join("/"));
        if fragment.is_some() {
            out.push_str("#<link-secret>");
        }
        return out;
    }
    if s.len() == 22 && is_b64url(s) {
        return "<id>".into();
    }
    if s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/') {
        return "<key>".into();
    }
    if time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok() {
        return "<time>".into();
    }
    if s.contains("/sealpost-log+") {
        return "<log-key>".into();
    }
    if s.starts_with("127.0.0.1:") || s.contains("/tmp") || s.contains(".tmp") {
        return "<path>".into();
    }
    s.to_owned()
}

/// Compares `value` (normalized) with `tests/golden/{name}.json`.
fn golden(name: &str, value: &Value, base: &str) {
    let actual = normalize(value, base);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&actual).expect("JSON") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("golden dir");
        std::fs::write(&path, &text).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()));
    assert_eq!(
        text,
        expected,
        "`--json` output of {name} differs from {} (UPDATE_GOLDEN=1 rewrites it after a deliberate change)",
        path.display()
    );
}

/// Runs `sealpost open LINK` with the code from the SMS outbox on standard input.
async fn open_as_guest(server: &Server, user: &User, link: &str, out: &Path, nth_sms: usize) -> Run {
    let mut cmd = user.command(&["open", link, "-o", out.to_str().expect("path"), "--json"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sealpost open");
    let code = server.wait_for_code(nth_sms).await;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{code}").expect("write the code");
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    Run::from(output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_status_list_revoke_receipt_and_verify_with_golden_json() {
    let server = Server::start(|_| {}).await;
    let token = server.sender("alice@council.example").await;
    let alice = User::new();

    let init = alice.json(&["init", "--server", &server.base, "--token", &token]).await;
    golden("init", &init, &server.base);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(alice.path("config/sealpost/config.toml"))
            .expect("config file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the configuration holds the token: owner only");
    }
    let generated = alice.json(&["keys", "generate"]).await;
    golden("keys-generate", &generated, &server.base);
    let registered = alice.json(&["keys", "register"]).await;
    golden("keys-register", &registered, &server.base);

    std::fs::write(alice.path("plan.txt"), "Care plan: review on 14 March.\n").expect("attachment");
    let sent = alice
        .json(&[
            "send",
            "--to",
            GUEST,
            "--sms",
            PHONE,
            "--subject",
            "Your care plan",
            "--body",
            "Dear Sam, see attached.",
            "--attach",
            "plan.txt",
            "--expires",
            "7d",
        ])
        .await;
    golden("send", &sent, &server.base);
    let id = sent["message_id"].as_str().expect("message id").to_owned();
    let link = server.reachable(sent["recipients"][0]["link"].as_str().expect("link"));
    assert!(link.contains('#'), "a guest's link carries its key: {link}");

    let status = alice.json(&["status", &id]).await;
    golden("status", &status, &server.base);
    let list = alice.json(&["list"]).await;
    golden("list", &list, &server.base);

    // The guest opens it with the code from the SMS.
    let opened_dir = alice.path("opened");
    let run = open_as_guest(&server, &alice, &link, &opened_dir, 0).await;
    assert_eq!(run.code, 0, "{run}");
    let opened: Value = serde_json::from_str(&run.stdout).expect("open --json");
    golden("open", &opened, &server.base);
    assert_eq!(
        std::fs::read(opened_dir.join("plan.txt")).expect("saved attachment"),
        b"Care plan: review on 14 March.\n"
    );

    let revoked = alice.json(&["revoke", &id]).await;
    assert_eq!(revoked["state"], "revoked");
    let receipt = alice
        .json(&["receipt", &id, "-o", alice.path("receipt.json").to_str().expect("path")])
        .await;
    assert_eq!(receipt["valid"], true);
    let verified = alice.json(&["verify", "receipt.json"]).await;
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["receipt"]["message_id"], id.as_str());

    // The human forms say the same in words.
    let text = alice.ok(&["verify", "receipt.json"]).await;
    assert!(text.stdout.starts_with("Receipt valid: signed by "), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistaken_send_revoked_before_opening_has_a_receipt_saying_never_opened() {
    let server = Server::start(|_| {}).await;
    let token = server.sender("alice@council.example").await;
    let alice = User::new();
    alice.setup(&server, &token).await;
    let sent = alice
        .json(&[
            "send",
            "--to",
            "wrong@example.org",
            "--sms",
            PHONE,
            "--body",
            "Not for you.",
        ])
        .await;
    let id = sent["message_id"].as_str().expect("id");
    alice.ok(&["revoke", id]).await;
    let run = alice.ok(&["receipt", id, "-o", "r.json"]).await;
    assert!(run.stdout.contains("never released"), "{run}");
    let run = alice.ok(&["verify", "r.json"]).await;
    assert!(run.stdout.contains("never released"), "{run}");
    // The link is dead, and says no more than an unknown link would (exit 6, not found).
    let link = server.reachable(sent["recipients"][0]["link"].as_str().expect("link"));
    let run = alice.run(&["open", &link]).await;
    assert_eq!(run.code, 6, "{run}");
    assert!(run.stderr.contains("this link cannot be opened"), "{run}");
    assert!(server.sms().is_empty(), "no code is sent for a revoked message");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_one_sentence_errors() {
    let server = Server::start(|c| {
        c.limits.sender_quota_bytes = 64 * 1024;
    })
    .await;
    let token = server.sender("alice@council.example").await;
    let alice = User::new();

    // No configuration.
    let run = alice.run(&["status", "q3Vx1Yc0B2mT9aXr4LkZpw"]).await;
    assert_eq!(run.code, 3, "{run}");
    assert_eq!(
        run.stderr,
        "sealpost: no server configured: run `sealpost init --server URL` or set SEALPOST_SERVER\n"
    );
    // Server unreachable: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let run = alice.run(&["init", "--server", &dead, "--token", &token]).await;
    assert_eq!(run.code, 4, "{run}");
    assert!(
        run.stderr
            .starts_with(&format!("sealpost: cannot reach the server at {dead}: ")),
        "{run}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "one sentence, no backtrace: {run}");
    // Token rejected.
    let run = alice
        .run(&[
            "init",
            "--server",
            &server.base,
            "--token",
            "sp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ])
        .await;
    assert_eq!(run.code, 5, "{run}");
    assert_eq!(
        run.stderr,
        "sealpost: the server rejected the API token (unknown, revoked or expired); check `sealpost init`\n"
    );
    // With --json the error is also an object on standard output.
    let run = alice
        .run(&[
            "init",
            "--server",
            &server.base,
            "--token",
            "sp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "--json",
        ])
        .await;
    let error: Value = serde_json::from_str(&run.stdout).expect("JSON error");
    golden("error-token", &error, &server.base);

    alice.setup(&server, &token).await;
    // Not found.
    let run = alice.run(&["status", "q3Vx1Yc0B2mT9aXr4LkZpw"]).await;
    assert_eq!(run.code, 6, "{run}");
    // Ids are base64url, so one in 32 starts with `-`: it is an id, not an option.
    for args in [
        &["status", "-kVLKJAy2nhu5soXRvwY2g", "--json"][..],
        &["revoke", "-kVLKJAy2nhu5soXRvwY2g", "--recipient", "-abc"],
        &["receipt", "-kVLKJAy2nhu5soXRvwY2g"],
        &["expire", "-kVLKJAy2nhu5soXRvwY2g", "--at", "2h"],
    ] {
        let run = alice.run(args).await;
        assert_eq!(run.code, 6, "{args:?}: {run}");
    }
    // Not an id at all: refused before any request.
    let run = alice.run(&["status", "../etc"]).await;
    assert_eq!(run.code, 3, "{run}");
    // An attachment that cannot be read.
    let run = alice
        .run(&[
            "send",
            "--to",
            GUEST,
            "--sms",
            PHONE,
            "--body",
            "x",
            "--attach",
            "missing.pdf",
        ])
        .await;
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.starts_with("sealpost: cannot read missing.pdf: "), "{run}");
    // A recipient without a verification.
    let run = alice.run(&["send", "--to", GUEST, "--body", "x"]).await;
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.contains("say how sam@example.org verifies"), "{run}");
    // The command line itself is wrong: clap's usage error, exit 2.
    let run = alice.run(&["send", "--sms", PHONE]).await;
    assert_eq!(run.code, 2, "{run}");
    // Quota reached.
    random_file(&alice.path("big.bin"), 200 * 1024);
    let run = alice
        .run(&[
            "send", "--to", GUEST, "--sms", PHONE, "--body", "x", "--attach", "big.bin",
        ])
        .await;
    assert_eq!(run.code, 8, "{run}");
    // The pre-send checks first note that the random file cannot be read; then the one sentence.
    assert!(run.stderr.contains("\"big.bin\" was not checked"), "{run}");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("sealpost: quota reached: "), "{run}");
    // A message that has ended cannot be changed.
    let sent = alice
        .json(&["send", "--to", GUEST, "--sms", PHONE, "--body", "x"])
        .await;
    let id = sent["message_id"].as_str().expect("id");
    alice.ok(&["revoke", id]).await;
    let run = alice.run(&["expire", id, "--at", "3d"]).await;
    assert_eq!(run.code, 7, "{run}");
    assert!(
        run.stderr
            .starts_with("sealpost: the message can no longer be changed or opened"),
        "{run}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_recipient_is_told_so() {
    let server = Server::start(|c| {
        c.access.max_failures_per_recipient = 2;
    })
    .await;
    let token = server.sender("alice@council.example").await;
    let alice = User::new();
    alice.setup(&server, &token).await;
    let sent = alice
        .json(&["send", "--to", GUEST, "--sms", PHONE, "--body", "x"])
        .await;
    let link = server.reachable(sent["recipients"][0]["link"].as_str().expect("link"));
    let mut cmd = alice.command(&["open", &link, "-o", "out"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let code = server.wait_for_code(0).await;
    let wrong = |shift: u32| -> String {
        code.chars()
            .map(|c| char::from_digit((c.to_digit(10).expect("digit") + shift) % 10, 10).expect("digit"))
            .collect()
    };
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{}\n{}\n{}", wrong(1), wrong(2), wrong(3)).expect("write");
    }
    let run = Run::from(
        tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("wait"),
    );
    assert_eq!(run.code, 7, "{run}");
    assert!(run.stderr.contains("locked"), "{run}");
    let run = alice.run(&["open", &link]).await;
    assert_eq!(run.code, 7, "{run}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_for_every_shell() {
    let user = User::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = user.ok(&["completions", shell]).await;
        assert!(run.stdout.contains("sealpost"), "{shell}: {run}");
        assert!(run.stdout.contains("revoke"), "{shell} completes subcommands: {run}");
    }
    let run = user.run(&["completions", "tcsh"]).await;
    assert_eq!(run.code, 2, "{run}");
}

/// `GET path` on `server` with the sender's token, as JSON.
async fn get_json(server: &Server, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
}

/// A TCP proxy that forwards at most `rate` bytes per second from client to server (0: no
/// limit), so that an upload lasts long enough to be killed half-way.
async fn throttled_proxy(target: String, rate: Arc<AtomicU64>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            let rate = rate.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut ri, mut wi) = inbound.split();
                let (mut ro, mut wo) = {
                    let (r, w) = outbound.into_split();
                    (r, w)
                };
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
                        let bytes_per_sec = rate.load(Ordering::Relaxed);
                        if let Some(micros) = (n as u64 * 1_000_000).checked_div(bytes_per_sec) {
                            tokio::time::sleep(Duration::from_micros(micros)).await;
                        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_send_resumes_and_the_message_opens_byte_identical() {
    let server = Server::start(|c| {
        c.storage.part_size = 1024 * 1024;
    })
    .await;
    let token = server.sender("alice@council.example").await;
    let alice = User::new();
    alice.setup(&server, &token).await;
    let size: u64 = 24 * 1024 * 1024 + 12_345;
    let file = alice.path("scan.bin");
    random_file(&file, size);
    let expected = sha256_file(&file);

    // First run, through a proxy slow enough (4 MiB/s) to be killed half-way. Both runs use the
    // same server URL (the proxy): a resume is found by the request's fingerprint, server included.
    let rate = Arc::new(AtomicU64::new(4 * 1024 * 1024));
    let proxy = throttled_proxy(server.base.trim_start_matches("http://").to_owned(), rate.clone()).await;
    let args = [
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
    ];
    let mut cmd = alice.command(&args);
    cmd.env("SEALPOST_SERVER", &proxy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored_before_kill = loop {
        assert!(Instant::now() < deadline, "no part was stored within 60 s");
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the first send ended ({status}) before it could be killed; the proxy is not slow enough");
        }
        let list: Value = get_json(&server, &token, "/api/v1/messages?state=draft").await;
        if let Some(id) = list["messages"][0]["id"].as_str() {
            let upload: Value = get_json(&server, &token, &format!("/api/v1/messages/{id}/payloads/1")).await;
            let parts = upload["parts"].as_array().map_or(0, Vec::len);
            if parts >= 3 {
                break parts;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().expect("kill the first send");
    let _ = child.wait();
    assert!(stored_before_kill < 25, "killed half-way");
    // What the server holds now: the second run must upload exactly the rest.
    let draft: Value = get_json(&server, &token, "/api/v1/messages?state=draft").await;
    let id = draft["messages"][0]["id"].as_str().expect("the draft").to_owned();
    let mut held = 0;
    for index in 0..2 {
        let upload: Value = get_json(&server, &token, &format!("/api/v1/messages/{id}/payloads/{index}")).await;
        held += upload["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["size"].as_u64().expect("size"))
            .sum::<u64>();
    }
    let status: Value = get_json(&server, &token, &format!("/api/v1/messages/{id}")).await;
    if status["header_stored"] == true {
        held += status["header_size"].as_u64().expect("header size");
    }

    // Second run, same command, at full speed: it resumes.
    rate.store(0, Ordering::Relaxed);
    let mut cmd = alice.command(&args);
    cmd.env("SEALPOST_SERVER", &proxy);
    let run = Run::from(
        tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run"),
    );
    assert_eq!(run.code, 0, "{run}");
    let resumed: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(resumed["resumed"], true, "{resumed}");
    let uploaded = resumed["uploaded"].as_u64().expect("uploaded");
    let total = resumed["bytes"].as_u64().expect("bytes");
    assert_eq!(
        uploaded,
        total - held,
        "only what the server lacked is sent again ({uploaded} of {total}; it held {held})"
    );
    let list: Value = alice.json(&["list"]).await;
    assert_eq!(
        list["messages"].as_array().map(Vec::len),
        Some(1),
        "one message, not two: {list}"
    );
    let state_dir = alice.path("state/sealpost/sends");
    let left = std::fs::read_dir(&state_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        left, 0,
        "the resume file (it holds the file key) is deleted once sealed"
    );

    let link = server.reachable(resumed["recipients"][0]["link"].as_str().expect("link"));
    let out = alice.path("opened");
    let run = open_as_guest(&server, &alice, &link, &out, 0).await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        sha256_file(&out.join("scan.bin")),
        expected,
        "byte-identical after the resume"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_recipients_each_verified_their_own_way_and_revoked_one_at_a_time() {
    let server = Server::start(|_| {}).await;
    let alice = User::new();
    alice
        .setup(&server, &server.sender("alice@council.example").await)
        .await;
    let bob = User::new();
    let bob_token = server
        .account(
            "hospital",
            "bob@hospital.example",
            &[sealpost_server::domain::Role::Sender],
        )
        .await;
    bob.setup(&server, &bob_token).await;

    // One guest by SMS, one account by password and TOTP; the body from standard input.
    let mut cmd = alice.command(&[
        "send",
        "--to",
        GUEST,
        "--sms",
        PHONE,
        "--to",
        "bob@hospital.example",
        "--registered",
        "--notify",
        "email",
        "--max-opens",
        "2",
        "--json",
    ]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"The minutes of Tuesday's meeting.\n").expect("body");
    }
    let run = Run::from(child.wait_with_output().expect("send"));
    assert_eq!(run.code, 0, "{run}");
    let sent: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let recipients = sent["recipients"].as_array().expect("recipients");
    assert_eq!(recipients[0]["kind"], "guest");
    assert_eq!(recipients[0]["verification"], "sms");
    assert_eq!(recipients[1]["kind"], "account");
    assert_eq!(recipients[1]["verification"], "totp");
    assert_eq!(
        recipients[1]["mailed"], true,
        "--notify email: the server mails the account's link"
    );
    assert!(
        !recipients[1]["link"].as_str().expect("link").contains('#'),
        "an account's link has no secret"
    );
    let id = sent["message_id"].as_str().expect("id");

    // Revoke Bob only, by address; Sam stays active. Then schedule Sam's revocation.
    let status = alice.json(&["revoke", id, "--recipient", "bob@hospital.example"]).await;
    let states: Vec<&str> = status["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| r["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["active", "revoked"]);
    let status = alice.json(&["revoke", id, "--recipient", GUEST, "--at", "2h"]).await;
    assert!(status["recipients"][0]["revoke_at"].is_string(), "{status}");
    let run = alice.run(&["revoke", id, "--recipient", "eve@example.org"]).await;
    assert_eq!(run.code, 3, "{run}");
    assert_eq!(
        run.stderr,
        "sealpost: eve@example.org is not a recipient of this message\n"
    );

    // Move the expiry earlier; one beyond the server's longest lifetime (90 days) is refused.
    let status = alice.json(&["expire", id, "--at", "3d"]).await;
    assert_eq!(status["state"], "sealed");
    let run = alice.run(&["expire", id, "--at", "200d"]).await;
    assert_eq!(run.code, 10, "{run}");
    assert!(run.stderr.ends_with("(invalid_expiry)\n"), "{run}");

    // Bob is not the sender: he cannot see Alice's message.
    let run = bob.run(&["status", id]).await;
    assert_eq!(run.code, 6, "{run}");
    server.stop().await;
}
