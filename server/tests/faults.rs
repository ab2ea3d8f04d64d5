//! Fault injection on the real binary (docs/reliability.md): the server is killed (SIGKILL, or
//! an abort at a named crash point of `server/src/failpoint.rs`, which is the same to the
//! storage underneath) mid-release and mid-revoke, then restarted on the same storage; the blob
//! store fails (its directory replaced, a write that hits ENOSPC); the database becomes
//! unreachable (PostgreSQL behind a proxy that is cut; SQLite write-locked by another process,
//! or unusable at start). Every case runs on SQLite and on PostgreSQL (`backends()`).
//!
//! What is checked is what a client and an auditor can see: HTTP answers, the message's log
//! entries (`GET /api/v1/messages/{id}/events`, which sequences the log first), release proofs
//! against the published log key, and the signed receipt.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use harness::*;
use process::*;
use sealpost_crypto::b64;
use sealpost_crypto::merkle;
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::recipient::RecipientSecretKey;
use sealpost_crypto::tlog;
use serde_json::{Value, json};

// ------------------------------------------------------------------ helpers

/// One HTTP answer: status, JSON body (or the text as a JSON string), content type.
struct Answer {
    status: u16,
    body: Value,
    content_type: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap()
}

/// A request; `Err` when the server died before answering.
async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> reqwest::Result<Answer> {
    let mut req = client().request(method, format!("{base}{path}"));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await?;
    Ok(Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        content_type,
    })
}

async fn get(base: &str, path: &str, bearer: Option<&str>) -> Answer {
    call(base, reqwest::Method::GET, path, bearer, None).await.unwrap()
}

async fn post(base: &str, path: &str, bearer: Option<&str>, body: Value) -> reqwest::Result<Answer> {
    call(base, reqwest::Method::POST, path, bearer, Some(body)).await
}

/// A 503 problem that says nothing about what is behind the server.
fn assert_refused(a: &Answer, what: &str, storage: &Storage) {
    assert_eq!(a.status, 503, "{what}: {}", a.body);
    assert!(
        a.content_type.starts_with("application/problem+json"),
        "{what}: content type {}",
        a.content_type
    );
    assert_eq!(a.body["status"], 503, "{what}: {}", a.body);
    let text = a.body.to_string().to_lowercase();
    let dir = storage.dir.path().display().to_string().to_lowercase();
    for internal in [
        dir.as_str(),
        "sqlx",
        "sqlite",
        "postgres",
        "os error",
        "no space",
        "not a directory",
        "blob store",
        "database error",
        "connection",
        "127.0.0.1",
    ] {
        assert!(
            !text.contains(internal),
            "{what}: the problem leaks {internal:?}: {text}"
        );
    }
}

/// A message sent to one guest (SMS verification), sealed.
struct Sent {
    built: Built,
    id: String,
    rid: String,
    access_id: String,
}

async fn create(base: &str, token: &str, built: &Built) {
    let a = post(base, "/api/v1/messages", Some(token), built.create_body.clone())
        .await
        .unwrap();
    assert_eq!(a.status, 201, "{}", a.body);
}

async fn put_header(base: &str, token: &str, built: &Built) {
    let r = client()
        .put(format!("{base}/api/v1/messages/{}/header", built.id()))
        .bearer_auth(token)
        .body(built.sealed.header.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn complete(base: &str, token: &str, id: &str, n: usize) -> Answer {
    post(
        base,
        &format!("/api/v1/messages/{id}/payloads/{n}/complete"),
        Some(token),
        json!({}),
    )
    .await
    .unwrap()
}

async fn upload_everything(base: &str, token: &str, built: &Built) {
    put_header(base, token, built).await;
    let id = built.id();
    for (n, payload) in built.sealed.payloads.iter().enumerate() {
        for (k, part) in payload.chunks(PART as usize).enumerate() {
            assert_eq!(put(base, token, &id, n, k, part).await.unwrap().status(), 200);
        }
        let a = complete(base, token, &id, n).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
}

async fn send_guest(base: &str, alice: &Sender, phone: &str, data: &[u8], max_opens: Option<u32>) -> Sent {
    let link_key = RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let built = build_limited(
        &as_actor(alice),
        &[To::Guest(link_key.public(), phone)],
        &[data],
        sealpost_server::clock::SystemClock.now_ms_for_tests(),
        7,
        max_opens,
    );
    create(base, &alice.token, &built).await;
    upload_everything(base, &alice.token, &built).await;
    let id = built.id();
    let a = post(
        base,
        &format!("/api/v1/messages/{id}/seal"),
        Some(&alice.token),
        seal_body(&built),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let r = &a.body["recipients"][0];
    Sent {
        id,
        rid: r["rid"].as_str().unwrap().to_owned(),
        access_id: r["access_id"].as_str().unwrap().to_owned(),
        built,
    }
}

/// The code of the newest text message in the development outbox of `storage`.
fn last_code(storage: &Storage) -> String {
    let path = sealpost_server::config::Config::default()
        .sms
        .outbox_path(storage.dir.path());
    let entries = sealpost_server::sms::read_outbox(&path).unwrap();
    entries
        .last()
        .expect("a text message")
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit code")
        .to_owned()
}

/// A verified recipient session for `m`.
async fn session(base: &str, storage: &Storage, m: &Sent) -> String {
    let a = post(base, &format!("/api/v1/access/{}/code", m.access_id), None, json!({}))
        .await
        .unwrap();
    assert_eq!(a.status, 202, "{}", a.body);
    let code = last_code(storage);
    let a = post(
        base,
        &format!("/api/v1/access/{}/verify", m.access_id),
        None,
        json!({ "code": code }),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["session"].as_str().unwrap().to_owned()
}

async fn release(base: &str, m: &Sent, session: &str) -> reqwest::Result<Answer> {
    post(
        base,
        &format!("/api/v1/access/{}/release", m.access_id),
        Some(session),
        json!({}),
    )
    .await
}

/// The message's log entries (kinds), sequenced.
async fn event_kinds(base: &str, token: &str, id: &str) -> Vec<String> {
    let a = get(base, &format!("/api/v1/messages/{id}/events"), Some(token)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

async fn status(base: &str, token: &str, id: &str) -> Value {
    let a = get(base, &format!("/api/v1/messages/{id}"), Some(token)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

/// The link's state, or `unknown_link` for a link that has ended (answered like an unknown id).
async fn link_state(base: &str, m: &Sent) -> String {
    let a = get(base, &format!("/api/v1/access/{}", m.access_id), None).await;
    match a.status {
        200 => a.body["state"].as_str().unwrap().to_owned(),
        404 => a.body["code"].as_str().unwrap().to_owned(),
        _ => panic!("link info: {} {}", a.status, a.body),
    }
}

async fn log_key(base: &str) -> VerifierKey {
    let r = client()
        .get(format!("{base}/.well-known/sealpost/log-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    VerifierKey::from_vkey(r.text().await.unwrap().trim()).unwrap()
}

/// Checks a 200 release as the recipient's client must: the share is the one sealed, and the
/// proof shows its `share.released` entry in a checkpoint signed by the published log key.
fn check_release(key: &VerifierKey, m: &Sent, a: &Answer) {
    assert_eq!(a.status, 200, "{}", a.body);
    let log = &a.body["log"];
    let leaf = STANDARD.decode(log["leaf"].as_str().unwrap()).unwrap();
    let proof: Vec<merkle::Hash> = log["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let entry = tlog::verify_release(
        key,
        log["checkpoint"].as_str().unwrap(),
        log["index"].as_u64().unwrap(),
        &leaf,
        &proof,
        &m.id,
        &m.rid,
    )
    .expect("a share came without a valid proof that its release is in the log");
    assert_eq!(entry.kind, tlog::kinds::RELEASED);
    let share: [u8; 32] = b64::decode_array(a.body["share"].as_str().unwrap()).unwrap();
    assert_eq!(&share, m.built.sealed.server_shares[0].share.expose_secret());
}

/// Waits (polling, bounded) until `/readyz` says ready.
async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = client().get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not become ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Spawns from inside the async runtime without starving it (the child's start-up is read
/// synchronously).
fn start(storage: &Storage, failpoints: &str) -> Proc {
    tokio::task::block_in_place(|| spawn(storage, failpoints))
}

// ------------------------------------------------------------------ mid-release

/// Kills the server inside the release at each of its crash points: after the `share.released`
/// entry is appended but before the transaction commits, after the commit, and after the entry
/// is sequenced and proven but before the answer. Would catch: a share leaving without its entry
/// (no entry for a 200), an entry or a count surviving a rolled-back release, a count that
/// disagrees with the log after restarts (open limit off by one), a recipient unable to retry a
/// release that never committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_release_returns_a_share_only_with_its_log_entry() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = start(&storage, "");
        let (alice, _) = setup(&storage, &server.base).await;
        let key = log_key(&server.base).await;
        // Three opens allowed: each crash either spends one (committed) or none.
        let m = send_guest(&server.base, &alice, "+447700900201", b"release letter", Some(3)).await;
        let s = session(&server.base, &storage, &m).await;
        drop(server);

        // 1. Entry appended, transaction not committed: nothing happened.
        let server = start(&storage, "release-before-commit");
        assert!(
            release(&server.base, &m, &s).await.is_err(),
            "the server should have died"
        );
        drop(server);
        let server = start(&storage, "release-after-commit");
        let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
        assert_eq!(count(&kinds, "share.released"), 0, "{kinds:?}");
        assert_eq!(
            status(&server.base, &alice.token, &m.id).await["recipients"][0]["releases"],
            0
        );
        assert_eq!(link_state(&server.base, &m).await, "active");

        // 2. The recipient retries with the same session; this time the release commits, and
        //    the server dies before the share leaves.
        assert!(
            release(&server.base, &m, &s).await.is_err(),
            "the server should have died"
        );
        drop(server);
        let server = start(&storage, "release-after-proof");
        let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
        assert_eq!(count(&kinds, "share.released"), 1, "{kinds:?}");
        assert_eq!(
            status(&server.base, &alice.token, &m.id).await["recipients"][0]["releases"],
            1
        );

        // 3. Sequenced and proven, killed before the answer.
        assert!(
            release(&server.base, &m, &s).await.is_err(),
            "the server should have died"
        );
        drop(server);
        let server = start(&storage, "");
        let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
        assert_eq!(count(&kinds, "share.released"), 2, "{kinds:?}");
        assert_eq!(
            status(&server.base, &alice.token, &m.id).await["recipients"][0]["releases"],
            2
        );

        // 4. A release that completes: the share comes with the proof of its entry.
        let a = release(&server.base, &m, &s).await.unwrap();
        check_release(&key, &m, &a);
        assert_eq!(a.body["releases"], 3);

        // The limit counts exactly the committed releases, crashes included.
        let a = release(&server.base, &m, &s).await.unwrap();
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (410, Some("open_limit")),
            "{}",
            a.body
        );
        let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
        assert_eq!(count(&kinds, "share.released"), 3, "{kinds:?}");
        assert_eq!(
            status(&server.base, &alice.token, &m.id).await["recipients"][0]["releases"],
            3
        );
        // The signed receipt agrees.
        let r = client()
            .get(format!("{}/api/v1/messages/{}/receipt", server.base, m.id))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let receipt = tlog::verify_receipt(&r.text().await.unwrap(), &key, &[]).expect("receipt verifies");
        assert_eq!(receipt.recipients[0].releases, 3);
        drop(server);
        storage.cleanup().await;
    }
}

// ------------------------------------------------------------------ mid-revoke

/// Kills the server inside the revoke (before and after its commit) and right after a revoke
/// was acknowledged. Would catch: a revoke killed before its commit that neither takes effect
/// from its revocation-fence entry nor stays undone (status lying about the true state), a
/// non-idempotent retried revoke (a second `message.revoked`), and above all any release after
/// an acknowledged revoke, by a session verified before it, after one restart or several.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_revoke_never_releases_after_the_revoke() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = start(&storage, "");
        let (alice, _) = setup(&storage, &server.base).await;
        let m1 = send_guest(&server.base, &alice, "+447700900202", b"first", None).await;
        let m2 = send_guest(&server.base, &alice, "+447700900203", b"second", None).await;
        let m3 = send_guest(&server.base, &alice, "+447700900204", b"third", None).await;
        // Sessions verified before the revokes.
        let s1 = session(&server.base, &storage, &m1).await;
        let s2 = session(&server.base, &storage, &m2).await;
        let s3 = session(&server.base, &storage, &m3).await;
        drop(server);
        let revoke = |base: String, id: String, token: String| async move {
            post(&base, &format!("/api/v1/messages/{id}/revoke"), Some(&token), json!({})).await
        };

        // 1. Killed before the commit: no answer. The revocation-fence entry was written
        //    first, so the restarted server completes the revoke before it serves (fail-safe:
        //    it only revokes what the sender asked to revoke), exactly once, releasing nothing.
        let server = start(&storage, "revoke-before-commit");
        assert!(
            revoke(server.base.clone(), m1.id.clone(), alice.token.clone())
                .await
                .is_err()
        );
        drop(server);
        let server = start(&storage, "revoke-after-commit");
        assert_eq!(status(&server.base, &alice.token, &m1.id).await["state"], "revoked");
        assert_eq!(link_state(&server.base, &m1).await, "unknown_link");
        let a = release(&server.base, &m1, &s1).await.unwrap();
        assert!(
            matches!(a.status, 401 | 404),
            "released after a fenced revoke: {}",
            a.body
        );
        let kinds = event_kinds(&server.base, &alice.token, &m1.id).await;
        assert_eq!(count(&kinds, "message.revoked"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "share.released"), 0, "{kinds:?}");

        // 2. Killed after the commit, before the answer: the status tells the truth.
        assert!(
            revoke(server.base.clone(), m3.id.clone(), alice.token.clone())
                .await
                .is_err()
        );
        drop(server);
        let server = start(&storage, "");
        assert_eq!(status(&server.base, &alice.token, &m3.id).await["state"], "revoked");
        assert_eq!(link_state(&server.base, &m3).await, "unknown_link");
        let a = release(&server.base, &m3, &s3).await.unwrap();
        assert!(
            matches!(a.status, 401 | 404),
            "released after a committed revoke: {}",
            a.body
        );
        // A retried revoke is idempotent.
        let a = revoke(server.base.clone(), m3.id.clone(), alice.token.clone())
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["state"], "revoked");
        let kinds = event_kinds(&server.base, &alice.token, &m3.id).await;
        assert_eq!(count(&kinds, "message.revoked"), 1, "{kinds:?}");
        assert_eq!(count(&kinds, "share.released"), 0, "{kinds:?}");

        // 3. Acknowledged, then SIGKILL at once; then restart, twice.
        let a = revoke(server.base.clone(), m2.id.clone(), alice.token.clone())
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        let mut server = server;
        server.child.kill().unwrap();
        drop(server);
        for _ in 0..2 {
            let server = start(&storage, "");
            assert_eq!(status(&server.base, &alice.token, &m2.id).await["state"], "revoked");
            let a = release(&server.base, &m2, &s2).await.unwrap();
            assert!(
                matches!(a.status, 401 | 404),
                "released after an acknowledged revoke: {}",
                a.body
            );
            let kinds = event_kinds(&server.base, &alice.token, &m2.id).await;
            assert_eq!(count(&kinds, "share.released"), 0, "{kinds:?}");
            assert_eq!(count(&kinds, "message.revoked"), 1, "{kinds:?}");
            assert_eq!(
                status(&server.base, &alice.token, &m2.id).await["recipients"][0]["releases"],
                0
            );
            drop(server); // SIGKILL again
        }
        storage.cleanup().await;
    }
}

// ------------------------------------------------------------------ counters across a kill

async fn wrong_code(base: &str, m: &Sent, right: &str) -> Answer {
    let wrong = if right == "000000" { "000001" } else { "000000" };
    let a = post(
        base,
        &format!("/api/v1/access/{}/verify", m.access_id),
        None,
        json!({ "code": wrong }),
    )
    .await
    .unwrap();
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (403, Some("wrong_code")),
        "{}",
        a.body
    );
    a
}

/// Wrong codes and a sent SMS, then SIGKILL and restart. Would catch: a failure count or an SMS
/// throttle kept in memory (or in an uncommitted transaction), so that a crash — or a
/// deliberate crash-loop — hands a guesser fresh attempts or a fresh code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_failures_and_sms_throttles_survive_a_kill() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = start(&storage, "");
        let (alice, _) = setup(&storage, &server.base).await;
        let m = send_guest(&server.base, &alice, "+447700900207", b"counted", None).await;
        let a = post(
            &server.base,
            &format!("/api/v1/access/{}/code", m.access_id),
            None,
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 202, "{}", a.body);
        let code = last_code(&storage);
        let first = wrong_code(&server.base, &m, &code).await.body["attempts_left"]
            .as_u64()
            .unwrap();
        let second = wrong_code(&server.base, &m, &code).await.body["attempts_left"]
            .as_u64()
            .unwrap();
        assert_eq!(second, first - 1);
        drop(server); // SIGKILL

        let server = start(&storage, "");
        // The resend throttle (30 s by default) still holds: no fresh code after a crash.
        let a = post(
            &server.base,
            &format!("/api/v1/access/{}/code", m.access_id),
            None,
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (429, Some("resend_too_soon")),
            "{}",
            a.body
        );
        // The count goes on from where it was.
        let third = wrong_code(&server.base, &m, &code).await.body["attempts_left"]
            .as_u64()
            .unwrap();
        assert_eq!(third, second - 1, "a crash reset the failure count");
        let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
        assert_eq!(count(&kinds, "verification.failed"), 3, "{kinds:?}");
        // The right code still works once.
        let a = post(
            &server.base,
            &format!("/api/v1/access/{}/verify", m.access_id),
            None,
            json!({ "code": code }),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        drop(server);
        storage.cleanup().await;
    }
}

// ------------------------------------------------------------------ blob store failing

fn parts_recorded(v: &Value) -> Vec<u64> {
    v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect()
}

/// The only staging file of an upload in progress.
fn staging_file(blobs: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(blobs.join(".uploads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// The local blob directory is replaced by a regular file mid-upload (this works as root,
/// where `chmod 000` would not block anything), then a part's write hits ENOSPC (the staging
/// file made a link to `/dev/full`: a real "no space left on device" from the write). Would
/// catch: an internal error text or a 500/2xx for the sender, a part recorded that was not
/// stored, a recipient answered with anything but 503 (or the failure counted as an open or
/// logged as a download), and a store that does not recover once the directory is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_blob_store_is_a_clear_refusal_and_nothing_half_written_shows() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = start(&storage, "");
        let base = server.base.clone();
        let (alice, _) = setup(&storage, &base).await;
        // A sealed message whose recipient has a verified session.
        let m = send_guest(&base, &alice, "+447700900204", b"sealed before the failure", None).await;
        let s = session(&base, &storage, &m).await;
        // A draft with a two-part payload; part 0 stored.
        let link_key = RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let data: Vec<u8> = (0..(PART as usize + 4096)).map(|i| (i * 13 % 256) as u8).collect();
        let draft = build(
            &as_actor(&alice),
            &[To::Guest(link_key.public(), "+447700900205")],
            &[&data],
            sealpost_server::clock::SystemClock.now_ms_for_tests(),
            7,
        );
        let did = draft.id();
        create(&base, &alice.token, &draft).await;
        put_header(&base, &alice.token, &draft).await;
        let parts: Vec<&[u8]> = draft.sealed.payloads[1].chunks(PART as usize).collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            put(&base, &alice.token, &did, 1, 0, parts[0]).await.unwrap().status(),
            200
        );
        let upload_status = |base: String, id: String, token: String| async move {
            let a = get(&base, &format!("/api/v1/messages/{id}/payloads/1"), Some(&token)).await;
            assert_eq!(a.status, 200, "{}", a.body);
            a.body
        };

        // 1. The blob directory is replaced by a regular file.
        let blobs = storage.dir.path().join("blobs");
        let aside = storage.dir.path().join("blobs-away");
        std::fs::rename(&blobs, &aside).unwrap();
        std::fs::write(&blobs, b"not a directory").unwrap();

        let r = put(&base, &alice.token, &did, 1, 1, parts[1]).await.unwrap();
        let a = Answer {
            status: r.status().as_u16(),
            content_type: r.headers()["content-type"].to_str().unwrap().to_owned(),
            body: r.json().await.unwrap(),
        };
        assert_refused(&a, "part upload to a broken store", &storage);
        assert_eq!(
            parts_recorded(&upload_status(base.clone(), did.clone(), alice.token.clone()).await),
            vec![0],
            "a part was recorded that was not stored"
        );
        let a = get(&base, "/readyz", None).await;
        assert_eq!(
            (a.status, a.body["blob_store"].as_str()),
            (503, Some("unavailable")),
            "{}",
            a.body
        );
        assert_eq!(a.body["database"], "ok");
        // The recipient: the envelope (header) and the payloads cannot be read → 503, and
        // nothing is counted or logged as opened or downloaded.
        let a = get(&base, &format!("/api/v1/access/{}/envelope", m.access_id), Some(&s)).await;
        assert_refused(&a, "envelope from a broken store", &storage);
        let a = get(&base, &format!("/api/v1/access/{}/payloads/1", m.access_id), Some(&s)).await;
        assert_refused(&a, "payload from a broken store", &storage);
        // A client that skips the envelope and asks for the share directly is refused too: a
        // share without readable ciphertext would count an open the recipient cannot use.
        let a = release(&base, &m, &s).await.unwrap();
        assert_refused(&a, "release from a broken store", &storage);
        let kinds = event_kinds(&base, &alice.token, &m.id).await;
        assert_eq!(count(&kinds, "share.released"), 0, "{kinds:?}");
        assert_eq!(count(&kinds, "ciphertext.downloaded"), 0, "{kinds:?}");
        assert_eq!(status(&base, &alice.token, &m.id).await["recipients"][0]["releases"], 0);
        // The sender's message is still a draft with its stored part; the sealed one is intact.
        assert_eq!(status(&base, &alice.token, &did).await["state"], "draft");
        assert_eq!(status(&base, &alice.token, &m.id).await["state"], "sealed");

        // The directory comes back.
        std::fs::remove_file(&blobs).unwrap();
        std::fs::rename(&aside, &blobs).unwrap();

        // 2. Disk full: the part's write fails with ENOSPC.
        let staging = staging_file(&blobs);
        let saved = storage.dir.path().join("staging-saved");
        std::fs::rename(&staging, &saved).unwrap();
        std::os::unix::fs::symlink("/dev/full", &staging).unwrap();
        let r = put(&base, &alice.token, &did, 1, 1, parts[1]).await.unwrap();
        let a = Answer {
            status: r.status().as_u16(),
            content_type: r.headers()["content-type"].to_str().unwrap().to_owned(),
            body: r.json().await.unwrap(),
        };
        assert_refused(&a, "part upload to a full disk", &storage);
        assert_eq!(
            parts_recorded(&upload_status(base.clone(), did.clone(), alice.token.clone()).await),
            vec![0]
        );
        // Space is freed: the upload resumes where it stopped and the message seals whole.
        std::fs::remove_file(&staging).unwrap();
        std::fs::rename(&saved, &staging).unwrap();
        wait_ready(&base).await;
        assert_eq!(
            put(&base, &alice.token, &did, 1, 1, parts[1]).await.unwrap().status(),
            200
        );
        let a = complete(&base, &alice.token, &did, 1).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(
            put(&base, &alice.token, &did, 0, 0, &draft.sealed.payloads[0])
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(complete(&base, &alice.token, &did, 0).await.status, 200);
        let a = post(
            &base,
            &format!("/api/v1/messages/{did}/seal"),
            Some(&alice.token),
            seal_body(&draft),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        let stored = client()
            .get(format!("{base}/api/v1/messages/{did}/payloads/1/content"))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            stored.as_ref() == draft.sealed.payloads[1].as_slice(),
            "the stored ciphertext differs after the failures"
        );
        // The recipient opens normally now, once.
        let a = get(&base, &format!("/api/v1/access/{}/envelope", m.access_id), Some(&s)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let a = release(&base, &m, &s).await.unwrap();
        check_release(&log_key(&base).await, &m, &a);
        assert_eq!(a.body["releases"], 1);
        drop(server);
        storage.cleanup().await;
    }
}

// ------------------------------------------------------------------ database unreachable

/// A TCP proxy on its own thread and runtime (so that the test's blocking calls never starve
/// it): forwards to `target` while up; `cut` drops every open connection and closes new ones at
/// once; `resume` forwards again, on the same port.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (u, c) = (up.clone(), conns.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let accepted = tokio::select! {
                        _ = &mut stopped => break,
                        a = listener.accept() => a,
                    };
                    let Ok((mut inbound, _)) = accepted else { continue };
                    if !u.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    c.lock().unwrap().push(task.abort_handle());
                    if !u.load(Ordering::SeqCst) {
                        task.abort();
                    }
                }
                for h in c.lock().unwrap().drain(..) {
                    h.abort();
                }
            });
        });
        Proxy {
            addr,
            up,
            conns,
            stop: Some(stop),
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn resume(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn pg_addr(url: &str) -> (SocketAddr, String) {
    let rest = url.split_once('@').map_or(url.split_once("://").unwrap().1, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap();
    let addr: SocketAddr = match hostport.parse() {
        Ok(a) => a,
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&hostport)
            .unwrap()
            .next()
            .unwrap(),
    };
    (addr, hostport.to_owned())
}

/// Everything asked of a server whose database is gone must be refused, or (SQLite, reads
/// still possible) answered truthfully — never "not found", "revoked" or "expired" for a live
/// message, never a share.
async fn ask_while_down(base: &str, storage: &Storage, alice: &Sender, m: &Sent, s: &str, reads_work: bool) {
    let (info_path, status_path) = (
        format!("/api/v1/access/{}", m.access_id),
        format!("/api/v1/messages/{}", m.id),
    );
    let revoke_path = format!("{status_path}/revoke");
    let (info, st, rel, rev) = tokio::join!(
        call(base, reqwest::Method::GET, &info_path, None, None),
        call(base, reqwest::Method::GET, &status_path, Some(&alice.token), None),
        release(base, m, s),
        post(base, &revoke_path, Some(&alice.token), json!({})),
    );
    let (info, st, rel, rev) = (info.unwrap(), st.unwrap(), rel.unwrap(), rev.unwrap());
    if info.status == 200 && reads_work {
        assert_eq!(info.body["state"], "active", "{}", info.body);
    } else {
        assert_refused(&info, "link info without a database", storage);
    }
    if st.status == 200 && reads_work {
        assert_eq!(st.body["state"], "sealed", "{}", st.body);
    } else {
        assert_refused(&st, "status without a database", storage);
    }
    assert_refused(&rel, "release without a database", storage);
    assert_refused(&rev, "revoke without a database", storage);
}

/// PostgreSQL behind a proxy that is cut (every connection dropped, new ones closed), then
/// resumed; SQLite write-locked by another process past its busy timeout, then released, and
/// a SQLite database path that cannot be opened at start. Would catch: a 404/410 or a share
/// while the database is gone (a guess), internals in the problem, a readiness probe that
/// stays green, a refused revoke that took effect anyway, a server that does not recover by
/// itself, a server that starts on a database it cannot open or that does not make commits
/// durable (PostgreSQL `synchronous_commit = off`), and one that starts on a new
/// empty SQLite file when its database file is lost but the blobs beside it remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_refused_not_guessed() {
    for backend in backends().await {
        let mut storage = Storage::new(backend).await;
        let server = start(&storage, "");
        let (alice, _) = setup(&storage, &server.base).await;
        let m = send_guest(&server.base, &alice, "+447700900206", b"database outage", None).await;
        let s = session(&server.base, &storage, &m).await;
        drop(server);

        match backend {
            Backend::Postgres => {
                let direct = storage.database_url.clone();
                let (target, hostport) = pg_addr(&direct);
                let proxy = Proxy::start(target);
                storage.database_url = direct.replacen(&hostport, &proxy.addr.to_string(), 1);
                let server = start(&storage, "");
                wait_ready(&server.base).await;
                proxy.cut();
                let a = get(&server.base, "/readyz", None).await;
                assert_eq!(
                    (a.status, a.body["database"].as_str()),
                    (503, Some("unavailable")),
                    "{}",
                    a.body
                );
                ask_while_down(&server.base, &storage, &alice, &m, &s, false).await;
                proxy.resume();
                wait_ready(&server.base).await;
                // Recovered by itself: the refused revoke did not happen, the release does.
                assert_eq!(link_state(&server.base, &m).await, "active");
                let a = release(&server.base, &m, &s).await.unwrap();
                check_release(&log_key(&server.base).await, &m, &a);
                assert_eq!(a.body["releases"], 1);
                let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
                assert_eq!(count(&kinds, "share.released"), 1, "{kinds:?}");
                assert_eq!(count(&kinds, "message.revoked"), 0, "{kinds:?}");
                drop(server);
                drop(proxy);
                storage.database_url = direct;

                // A database that would not make commits durable: the server refuses to start
                // (an acknowledged send must survive a crash of the database host).
                use sqlx::{Connection, Executor};
                let mut admin = sqlx::PgConnection::connect(&storage.database_url).await.unwrap();
                let name: String = sqlx::query_scalar("SELECT current_database()")
                    .fetch_one(&mut admin)
                    .await
                    .unwrap();
                let set = |v: &str| format!("ALTER DATABASE \"{name}\" SET synchronous_commit = {v}");
                admin.execute(sqlx::AssertSqlSafe(set("off"))).await.unwrap();
                let stderr = tokio::task::block_in_place(|| assert_refuses_to_start(&storage));
                assert!(stderr.contains("synchronous_commit is off"), "{stderr}");
                admin.execute(sqlx::AssertSqlSafe(set("DEFAULT"))).await.unwrap();
                admin.close().await.unwrap();
            }
            Backend::Sqlite => {
                // Another process holds the write lock longer than the busy timeout (15 s).
                let server = start(&storage, "");
                use sqlx::{Connection, Executor};
                let mut holder = sqlx::AnyConnection::connect(&storage.database_url).await.unwrap();
                holder.execute("BEGIN IMMEDIATE").await.unwrap();
                ask_while_down(&server.base, &storage, &alice, &m, &s, true).await;
                holder.execute("ROLLBACK").await.unwrap();
                holder.close().await.unwrap();
                assert_eq!(link_state(&server.base, &m).await, "active");
                let a = release(&server.base, &m, &s).await.unwrap();
                check_release(&log_key(&server.base).await, &m, &a);
                assert_eq!(a.body["releases"], 1);
                let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
                assert_eq!(count(&kinds, "share.released"), 1, "{kinds:?}");
                assert_eq!(count(&kinds, "message.revoked"), 0, "{kinds:?}");
                drop(server);

                // The database path cannot be opened at start: the server refuses to start.
                let db = storage.dir.path().join("sealpost.db");
                let aside = storage.dir.path().join("sealpost.db.away");
                std::fs::rename(&db, &aside).unwrap();
                std::fs::create_dir(&db).unwrap();
                tokio::task::block_in_place(|| assert_refuses_to_start(&storage));
                std::fs::remove_dir(&db).unwrap();

                // The database file is lost while the blobs beside it remain (embedded
                // defaults: no explicit URL): not a first start, so the server refuses rather
                // than starting on an empty database next to stored messages.
                let mut defaults = command(&storage);
                defaults.env_remove("SEALPOST_STORAGE_DATABASE_URL");
                let stderr = tokio::task::block_in_place(|| assert_command_refuses(defaults));
                assert!(stderr.contains("is missing"), "{stderr}");
                assert!(!db.exists(), "a database file was created beside the blobs");

                std::fs::rename(&aside, &db).unwrap();
                let server = start(&storage, "");
                let kinds = event_kinds(&server.base, &alice.token, &m.id).await;
                assert_eq!(count(&kinds, "share.released"), 1, "{kinds:?}");
                drop(server);
            }
        }
        storage.cleanup().await;
    }
}

/// The server must exit with an error, never start listening.
fn assert_refuses_to_start(storage: &Storage) -> String {
    assert_command_refuses(command(storage))
}

/// Runs `serve` with `cmd` and expects it to exit non-zero without listening; its stderr.
fn assert_command_refuses(mut cmd: std::process::Command) -> String {
    let mut child = cmd
        .arg("serve")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server kept running on a database it cannot open");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    stderr
}
