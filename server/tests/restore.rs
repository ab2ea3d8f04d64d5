//! Backup and restore: a database and blob store restored from a backup taken before a
//! revocation, a recipient revocation, a deletion, an expiry shortening or a scheduled
//! revocation never opens those messages again (the revocation fence, kept outside the backup
//! set, is re-applied at start-up and checked by every release), while untouched messages
//! still open; a revocation whose fence entry cannot be written is not acknowledged. On SQLite
//! (files copied with the server stopped) and on PostgreSQL (`pg_dump`, then `psql` into the
//! emptied database) when it is reachable.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/s3.rs"]
mod s3;

use std::path::Path;

use harness::*;
use sealpost_crypto::recipient::RecipientSecretKey;
use sealpost_server::clock::{Clock, ManualClock};
use sealpost_server::domain::{DomainError, Role, Scope};
use serde_json::{Value, json};

const PART: u64 = 64 * 1024;
const HOUR: i64 = 3_600_000;

/// One recipient's link.
struct Link {
    rid: String,
    access_id: String,
    phone: String,
}

/// A message sent to guests.
struct Sent {
    id: String,
    links: Vec<Link>,
}

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    http(method, server.url(path), bearer, body).await
}

async fn send_to(server: &TestServer, alice: &Actor, phones: &[String]) -> Sent {
    let keys: Vec<RecipientSecretKey> = phones
        .iter()
        .map(|_| RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)))
        .collect();
    let to: Vec<To<'_>> = keys
        .iter()
        .zip(phones)
        .map(|(k, p)| To::Guest(k.public(), p.as_str()))
        .collect();
    let built = build(alice, &to, &[b"letter"], server.clock.now_ms(), 7);
    let status = send(server, alice, &built).await;
    let links = status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let rid = r["rid"].as_str().unwrap().to_owned();
            let phone = phones[keys.iter().position(|k| k.public().rid().to_text() == rid).unwrap()].clone();
            Link {
                rid,
                access_id: r["access_id"].as_str().unwrap().to_owned(),
                phone,
            }
        })
        .collect();
    Sent { id: built.id(), links }
}

/// The newest code sent to `phone`.
fn code_for(server: &TestServer, phone: &str) -> String {
    let path = server.config.sms.outbox_path(&server.config.storage.data_dir);
    let entries = sealpost_server::sms::read_outbox(&path).unwrap();
    entries
        .iter()
        .rev()
        .find(|e| e.to == phone)
        .expect("a text message to this number")
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit code")
        .to_owned()
}

async fn verified_session(server: &TestServer, link: &Link) -> String {
    let (s, v) = call(
        server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/code", link.access_id),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let code = code_for(server, &link.phone);
    let (s, v) = call(
        server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/verify", link.access_id),
        None,
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["session"].as_str().unwrap().to_owned()
}

async fn release(server: &TestServer, link: &Link, session: &str) -> (u16, Value) {
    call(
        server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/release", link.access_id),
        Some(session),
        Some(json!({})),
    )
    .await
}

async fn link_state(server: &TestServer, link: &Link) -> String {
    let (s, v) = call(
        server,
        reqwest::Method::GET,
        &format!("/api/v1/access/{}", link.access_id),
        None,
        None,
    )
    .await;
    // An ended link answers as an unknown one (docs/api.md, Indistinguishability).
    match s {
        200 => v["state"].as_str().unwrap().to_owned(),
        404 => v["code"].as_str().unwrap().to_owned(),
        _ => panic!("link info: {s} {v}"),
    }
}

/// Every log entry of a message (sequenced first), as (kind, rid, detail).
async fn log_of(server: &TestServer, id: &str) -> Vec<(String, Option<String>, Option<String>)> {
    sealpost_server::domain::transparency::integrate(&server.services)
        .await
        .unwrap();
    sealpost_server::db::ops::message_events(server.services.db.pool(), id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.rid, e.detail))
        .collect()
}

fn count(log: &[(String, Option<String>, Option<String>)], kind: &str) -> usize {
    log.iter().filter(|(k, _, _)| k == kind).count()
}

fn from_fence(log: &[(String, Option<String>, Option<String>)], kind: &str) -> usize {
    log.iter()
        .filter(|(k, _, d)| k == kind && d.as_deref().is_some_and(|d| d.contains("\"restore_fence\"")))
        .count()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Whether `tool` runs; a missing tool skips locally and fails under CI=true.
fn have(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "CI=true but {tool} is not installed (apt-get install postgresql-client)"
        );
        eprintln!("note: {tool} not found; skipping the PostgreSQL backup and restore");
    }
    ok
}

fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Takes a backup of the database and the blob store (the server is stopped) into `to`.
fn backup(storage: &Storage, to: &Path) {
    let data = storage.dir.path();
    copy_dir(&data.join("blobs"), &to.join("blobs"));
    match storage.backend {
        Backend::Sqlite => {
            for entry in std::fs::read_dir(data).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("sealpost.db") {
                    std::fs::copy(entry.path(), to.join(&name)).unwrap();
                }
            }
        }
        Backend::Postgres => run(std::process::Command::new("pg_dump")
            .args(["--no-owner", "--no-privileges", "-f"])
            .arg(to.join("dump.sql"))
            .arg(&storage.database_url)),
    }
}

/// Restores the database and the blob store from `from` — and nothing else: the fence stays.
fn restore(storage: &Storage, from: &Path) {
    let data = storage.dir.path();
    std::fs::remove_dir_all(data.join("blobs")).unwrap();
    copy_dir(&from.join("blobs"), &data.join("blobs"));
    match storage.backend {
        Backend::Sqlite => {
            for entry in std::fs::read_dir(data).unwrap() {
                let entry = entry.unwrap();
                if entry.file_name().to_string_lossy().starts_with("sealpost.db") {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("sealpost.db") {
                    std::fs::copy(entry.path(), data.join(&name)).unwrap();
                }
            }
        }
        Backend::Postgres => {
            run(std::process::Command::new("psql")
                .args([
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-q",
                    "-c",
                    "DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
                ])
                .arg(&storage.database_url));
            run(std::process::Command::new("psql")
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
                .arg(from.join("dump.sql"))
                .arg(&storage.database_url));
        }
    }
}

fn config(storage: &Storage) -> sealpost_server::config::Config {
    let mut config = storage.config(PART);
    // Sessions verified before the backup must still be valid after it and three hours of
    // clock, so that a refusal is the fence's doing and not an expired session's.
    config.access.session_minutes = 600;
    config.access.resend_after_secs = 0;
    config
}

async fn sender(server: &TestServer) -> Actor {
    actor(
        server,
        "restore-org",
        "alice@restore.example",
        &[Role::Sender],
        &[Scope::Send, Scope::Read],
        true,
    )
    .await
}

fn phone(n: usize) -> String {
    format!("+4477009003{n:02}")
}

/// Would catch: a restore that resurrects a revoked message, a revoked recipient, a deleted
/// message, a shortened expiry or a scheduled revocation made after the backup; a release path
/// that trusts the restored rows before the fence is re-applied; an expired message whose
/// restored row still says "sealed" opening after its expiry; a fence that blocks what it
/// should not (the untouched message and the other recipient still open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_never_brings_back_what_was_revoked_deleted_or_expired_since() {
    for backend in backends().await {
        if backend == Backend::Postgres && !(have("pg_dump") && have("psql")) {
            continue;
        }
        let storage = Storage::new(backend).await;
        let clock = ManualClock::new(T0);
        let server = TestServer::start_with(config(&storage), clock.clone()).await;
        let alice = sender(&server).await;
        let revoked = send_to(&server, &alice, &[phone(1)]).await;
        let one_revoked = send_to(&server, &alice, &[phone(2), phone(3)]).await;
        let deleted = send_to(&server, &alice, &[phone(4)]).await;
        let shortened = send_to(&server, &alice, &[phone(5)]).await;
        let scheduled = send_to(&server, &alice, &[phone(6)]).await;
        let expiring = send_to(&server, &alice, &[phone(7)]).await;
        let untouched = send_to(&server, &alice, &[phone(8)]).await;
        // Expiry two hours ahead, already in the backup: the restored row says "sealed".
        let (s, v) = call(
            &server,
            reqwest::Method::PATCH,
            &format!("/api/v1/messages/{}", expiring.id),
            Some(&alice.token),
            Some(json!({ "expires_at": sealpost_server::clock::to_rfc3339(T0 + 2 * HOUR) })),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        // Every recipient verifies before the backup: the sessions come back with it.
        let mut sessions = std::collections::HashMap::new();
        for m in [
            &revoked,
            &one_revoked,
            &deleted,
            &shortened,
            &scheduled,
            &expiring,
            &untouched,
        ] {
            for link in &m.links {
                sessions.insert(link.access_id.clone(), verified_session(&server, link).await);
            }
        }
        server.stop().await;

        let saved = tempfile::tempdir().unwrap();
        backup(&storage, saved.path());

        // After the backup: revoke one message, one recipient of another, delete a third,
        // shorten a fourth's expiry, schedule a revocation of a fifth.
        let server = TestServer::start_with(config(&storage), clock.clone()).await;
        let post = |id: &str, body: Value| {
            let path = format!("/api/v1/messages/{id}/revoke");
            let server = &server;
            let token = alice.token.clone();
            async move { call(server, reqwest::Method::POST, &path, Some(&token), Some(body)).await }
        };
        let (s, v) = post(&revoked.id, json!({})).await;
        assert_eq!((s, v["state"].as_str()), (200, Some("revoked")), "{v}");
        let (s, v) = post(&one_revoked.id, json!({ "recipient": one_revoked.links[0].rid })).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = call(
            &server,
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{}", deleted.id),
            Some(&alice.token),
            None,
        )
        .await;
        assert!(s == 200 || s == 204, "{s} {v}");
        let (s, v) = call(
            &server,
            reqwest::Method::PATCH,
            &format!("/api/v1/messages/{}", shortened.id),
            Some(&alice.token),
            Some(json!({ "expires_at": sealpost_server::clock::to_rfc3339(T0 + 2 * HOUR) })),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = post(
            &scheduled.id,
            json!({ "at": sealpost_server::clock::to_rfc3339(T0 + 2 * HOUR) }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        server.stop().await;

        // Restore the database and the blob store from the backup (the fence is not part of it).
        restore(&storage, saved.path());

        // Before any start-up re-applied the fence, the release path itself refuses.
        let services = sealpost_server::app::services(&config(&storage), std::sync::Arc::new(clock.clone()))
            .await
            .unwrap();
        let raw = sealpost_server::db::messages::message(services.db.pool(), &revoked.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(raw.state, "sealed", "the restored row predates the revocation");
        for (m, link) in [(&revoked, &revoked.links[0]), (&one_revoked, &one_revoked.links[0])] {
            let r = sealpost_server::domain::messages::release_share(&services, &m.id, &link.rid, json!({})).await;
            assert!(
                matches!(&r, Err(DomainError::Ended(why)) if why == "revoked"),
                "{:?}",
                r.map(|x| x.1)
            );
        }
        services.db.close().await;

        // Start: the fence is re-applied before the server serves.
        let server = TestServer::start_with(config(&storage), clock.clone()).await;
        // Ended links (revoked, expired, deleted) answer every recipient call as unknown ones.
        let refused = async |m: &Sent, link: &Link| {
            let state = link_state(&server, link).await;
            assert_eq!(state, "unknown_link", "{}: link state", m.id);
            let (s, v) = release(&server, link, &sessions[&link.access_id]).await;
            assert_eq!(s, 404, "{}: released after the restore: {v}", m.id);
            assert_eq!(v["code"], "unknown_link", "{v}");
            let (s, v) = call(
                &server,
                reqwest::Method::POST,
                &format!("/api/v1/access/{}/code", link.access_id),
                None,
                Some(json!({})),
            )
            .await;
            assert_eq!((s, v["code"].as_str()), (404, Some("unknown_link")), "{v}");
        };
        refused(&revoked, &revoked.links[0]).await;
        refused(&one_revoked, &one_revoked.links[0]).await;
        refused(&deleted, &deleted.links[0]).await;
        // The other recipient of the partly revoked message, and the untouched message, open.
        let (s, v) = release(
            &server,
            &one_revoked.links[1],
            &sessions[&one_revoked.links[1].access_id],
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = release(&server, &untouched.links[0], &sessions[&untouched.links[0].access_id]).await;
        assert_eq!(s, 200, "{v}");
        // The shortened expiry and the scheduled revocation are back in the database.
        let (_, status) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/messages/{}", shortened.id),
            Some(&alice.token),
            None,
        )
        .await;
        assert_eq!(
            status["expires_at"],
            sealpost_server::clock::to_rfc3339(T0 + 2 * HOUR),
            "{status}"
        );
        let (_, status) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/messages/{}", scheduled.id),
            Some(&alice.token),
            None,
        )
        .await;
        assert_eq!(
            status["revoke_at"],
            sealpost_server::clock::to_rfc3339(T0 + 2 * HOUR),
            "{status}"
        );

        // Three hours on (the sweeper has not run since the start): the expiry and the
        // schedules are due; the restored rows of `expiring` still say "sealed".
        clock.advance(3 * HOUR);
        let raw = sealpost_server::db::messages::message(server.services.db.pool(), &expiring.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(raw.state, "sealed");
        refused(&shortened, &shortened.links[0]).await;
        refused(&scheduled, &scheduled.links[0]).await;
        refused(&expiring, &expiring.links[0]).await;
        let (s, v) = release(&server, &untouched.links[0], &sessions[&untouched.links[0].access_id]).await;
        assert_eq!(s, 200, "{v}");

        // Nothing was released for the ended messages; the fence's re-application is logged.
        for m in [&revoked, &deleted, &shortened, &scheduled, &expiring] {
            let log = log_of(&server, &m.id).await;
            assert_eq!(count(&log, "share.released"), 0, "{log:?}");
        }
        let log = log_of(&server, &one_revoked.id).await;
        assert_eq!(
            log.iter()
                .filter(|(k, r, _)| k == "share.released" && r.as_deref() == Some(&one_revoked.links[0].rid))
                .count(),
            0
        );
        assert_eq!(from_fence(&log, "recipient.revoked"), 1, "{log:?}");
        assert_eq!(from_fence(&log_of(&server, &revoked.id).await, "message.revoked"), 1);
        assert_eq!(from_fence(&log_of(&server, &deleted.id).await, "message.deleted"), 1);
        assert_eq!(from_fence(&log_of(&server, &shortened.id).await, "expiry.changed"), 1);
        assert_eq!(
            from_fence(&log_of(&server, &scheduled.id).await, "revocation.scheduled"),
            1
        );
        assert_eq!(from_fence(&log_of(&server, &untouched.id).await, "message.revoked"), 0);

        // A second start finds the database in line with the fence: nothing applied twice.
        server.stop().await;
        let server = TestServer::start_with(config(&storage), clock.clone()).await;
        let report = sealpost_server::domain::fence::apply(&server.services).await.unwrap();
        assert_eq!(report.applied, 0, "{report:?}");
        assert_eq!(from_fence(&log_of(&server, &revoked.id).await, "message.revoked"), 1);
        server.stop().await;
        storage.cleanup().await;
    }
}

/// Would catch: a revocation, deletion or expiry change acknowledged without its fence entry
/// (a later restore would undo it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_fence_entry_cannot_be_written_is_not_acknowledged() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start_with(config(&storage), ManualClock::new(T0)).await;
        let alice = sender(&server).await;
        let m = send_to(&server, &alice, &[phone(9)]).await;
        // The fence directory becomes a file: every write to it fails.
        let fence = storage.dir.path().join("fence");
        let aside = storage.dir.path().join("fence-aside");
        std::fs::rename(&fence, &aside).unwrap();
        std::fs::write(&fence, b"not a directory").unwrap();

        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/messages/{}/revoke", m.id),
            Some(&alice.token),
            Some(json!({})),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (503, Some("unavailable")), "{v}");
        let (s, v) = call(
            &server,
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{}", m.id),
            Some(&alice.token),
            None,
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (503, Some("unavailable")), "{v}");
        let (s, v) = call(
            &server,
            reqwest::Method::PATCH,
            &format!("/api/v1/messages/{}", m.id),
            Some(&alice.token),
            Some(json!({ "expires_at": sealpost_server::clock::to_rfc3339(T0 + HOUR) })),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (503, Some("unavailable")), "{v}");
        let (_, status) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/messages/{}", m.id),
            Some(&alice.token),
            None,
        )
        .await;
        assert_eq!(status["state"], "sealed", "{status}");
        let log = log_of(&server, &m.id).await;
        assert_eq!(
            count(&log, "message.revoked") + count(&log, "message.deleted") + count(&log, "expiry.changed"),
            0
        );

        // The fence is back: the revocation goes through and is in the fence.
        std::fs::remove_file(&fence).unwrap();
        std::fs::rename(&aside, &fence).unwrap();
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/messages/{}/revoke", m.id),
            Some(&alice.token),
            Some(json!({})),
        )
        .await;
        assert_eq!((s, v["state"].as_str()), (200, Some("revoked")), "{v}");
        assert!(fence.join(&m.id).join("revoked").is_file());
        server.stop().await;
        storage.cleanup().await;
    }
}

/// Would catch: a fence on S3 (the replicated setup) that is not written, not read back by the
/// release check, or not listed in full by the start-up re-application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_on_s3_is_written_checked_and_reapplied() {
    let Some(target) = s3::s3_target().await else { return };
    let storage = Storage::new(Backend::Sqlite).await;
    let mut cfg = config(&storage);
    cfg.storage.fence_url = Some(format!("{}/fence", target.blob_url()));
    cfg.storage.s3_endpoint = Some(target.endpoint.clone());
    cfg.storage.s3_region = target.region.clone();
    cfg.storage.s3_access_key_id = Some(sealpost_server::config::Secret::new(target.access_key_id.clone()));
    cfg.storage.s3_secret_access_key = Some(sealpost_server::config::Secret::new(target.secret_access_key.clone()));
    cfg.storage.s3_allow_http = target.allow_http;
    let clock = ManualClock::new(T0);
    let server = TestServer::start_with(cfg.clone(), clock.clone()).await;
    let alice = sender(&server).await;
    let m = send_to(&server, &alice, &[phone(10), phone(11)]).await;
    let session = verified_session(&server, &m.links[1]).await;
    server.stop().await;
    let saved = tempfile::tempdir().unwrap();
    backup(&storage, saved.path());

    let server = TestServer::start_with(cfg.clone(), clock.clone()).await;
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/messages/{}/revoke", m.id),
        Some(&alice.token),
        Some(json!({ "recipient": m.links[1].rid })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        !cfg.storage.data_dir.join("fence").exists(),
        "the fence went to the local directory"
    );
    let fence = sealpost_server::fence::Fence::from_config(&cfg.storage).unwrap();
    assert_eq!(
        fence.for_message(&m.id).await.unwrap(),
        vec![sealpost_server::fence::Entry::RecipientRevoked(m.links[1].rid.clone())]
    );
    server.stop().await;

    restore(&storage, saved.path());
    let server = TestServer::start_with(cfg.clone(), clock.clone()).await;
    let (s, v) = release(&server, &m.links[1], &session).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("unknown_link")), "{v}");
    assert_eq!(from_fence(&log_of(&server, &m.id).await, "recipient.revoked"), 1);
    server.stop().await;
    storage.cleanup().await;
}
