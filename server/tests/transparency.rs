//! The verifiable access log end to end: releases come with proofs, receipts verify offline,
//! tampering with stored entries is caught, parallel releases through two replicas form one
//! consistent log, exports verify — on SQLite, and on PostgreSQL when it is reachable.

#[path = "support/harness.rs"]
mod harness;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use harness::*;
use sealpost_crypto::merkle;
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::recipient::RecipientSecretKey;
use sealpost_crypto::tlog::{self, Checkpoint};
use sealpost_server::clock::Clock;
use sealpost_server::domain::{DomainError, Role, Scope, transparency};
use serde_json::{Value, json};

const PART: u64 = 64 * 1024;
const PHONE: &str = "+447700900123";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(server: &TestServer, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = client().post(server.url(path)).json(&body);
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get_text(server: &TestServer, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut req = client().get(server.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn log_key(server: &TestServer) -> VerifierKey {
    let (s, text) = get_text(server, "/.well-known/sealpost/log-key", None).await;
    assert_eq!(s, 200, "{text}");
    VerifierKey::from_vkey(text.trim()).unwrap()
}

struct Guest {
    id: String,
    rid: String,
    access_id: String,
}

async fn send_to_guest(server: &TestServer, alice: &Actor) -> Guest {
    let link_key = RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let built = build(
        alice,
        &[To::Guest(link_key.public(), PHONE)],
        &[b"discharge letter".as_slice()],
        server.clock.now_ms(),
        7,
    );
    let status = send(server, alice, &built).await;
    let r = &status["recipients"][0];
    Guest {
        id: built.id(),
        rid: r["rid"].as_str().unwrap().to_owned(),
        access_id: r["access_id"].as_str().unwrap().to_owned(),
    }
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

async fn session(server: &TestServer, g: &Guest) -> String {
    let (s, v) = post(server, &format!("/api/v1/access/{}/code", g.access_id), None, json!({})).await;
    assert_eq!(s, 202, "{v}");
    let code = last_code(server);
    let (s, v) = post(
        server,
        &format!("/api/v1/access/{}/verify", g.access_id),
        None,
        json!({ "code": code }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["session"].as_str().unwrap().to_owned()
}

/// Releases and checks the proof exactly as a recipient's client must; returns the checkpoint.
async fn release_checked(server: &TestServer, key: &VerifierKey, g: &Guest, session: &str) -> Checkpoint {
    let (s, v) = post(
        server,
        &format!("/api/v1/access/{}/release", g.access_id),
        Some(session),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let log = &v["log"];
    let leaf = STANDARD.decode(log["leaf"].as_str().unwrap()).unwrap();
    let proof: Vec<merkle::Hash> = log["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let note = log["checkpoint"].as_str().unwrap();
    let index = log["index"].as_u64().unwrap();
    let entry = tlog::verify_release(key, note, index, &leaf, &proof, &g.id, &g.rid).expect("release proof");
    assert_eq!(entry.kind, tlog::kinds::RELEASED);
    assert!(entry.source.is_some(), "the entry says from where");
    // The same proof does not pass for another recipient or with a changed leaf.
    assert!(tlog::verify_release(key, note, index, &leaf, &proof, &g.id, "AAAAAAAAAAAAAAAAAAAAAA").is_err());
    let mut bad = leaf.clone();
    bad[40] ^= 1;
    assert!(tlog::verify_release(key, note, index, &bad, &proof, &g.id, &g.rid).is_err());
    Checkpoint::verify_note(note, key).unwrap()
}

async fn sender(server: &TestServer) -> Actor {
    actor(
        server,
        "gp-practice",
        "alice@gp.example",
        &[Role::Sender],
        &[Scope::Send, Scope::Read],
        true,
    )
    .await
}

async fn receipt(server: &TestServer, who: &Actor, id: &str) -> String {
    let (s, text) = get_text(server, &format!("/api/v1/messages/{id}/receipt"), Some(&who.auth())).await;
    assert_eq!(s, 200, "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_carry_proofs_and_receipts_verify_offline() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let key = log_key(&server).await;
        let alice = sender(&server).await;

        // The published checkpoint verifies under the published key.
        let (s, note) = get_text(&server, "/.well-known/sealpost/checkpoint", None).await;
        assert_eq!(s, 200);
        let first = Checkpoint::verify_note(&note, &key).unwrap();

        // An opened message: two releases.
        let opened = send_to_guest(&server, &alice).await;
        let s1 = session(&server, &opened).await;
        let c1 = release_checked(&server, &key, &opened, &s1).await;
        let c2 = release_checked(&server, &key, &opened, &s1).await;
        assert!(c2.size > c1.size && c1.size > first.size);

        // Consistency between the checkpoints the client saw.
        let (s, v) = get_text(
            &server,
            &format!("/api/v1/log/consistency?from={}&to={}", c1.size, c2.size),
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let v: Value = serde_json::from_str(&v).unwrap();
        let proof: Vec<merkle::Hash> = v["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect();
        assert!(merkle::verify_consistency(c1.size, c2.size, &c1.root, &c2.root, &proof));

        let text = receipt(&server, &alice, &opened.id).await;
        let verified = tlog::verify_receipt(&text, &key, &[]).expect("receipt verifies");
        assert_eq!(verified.message_id, opened.id);
        let r = &verified.recipients[0];
        assert_eq!(r.rid, opened.rid);
        assert_eq!(r.releases, 2);
        assert!(r.first_released_ms.is_some());
        assert!(r.revoked_ms.is_none());

        // A mistaken send, revoked before anyone opened it.
        let wrong = send_to_guest(&server, &alice).await;
        let (s, v) = post(
            &server,
            &format!("/api/v1/messages/{}/revoke", wrong.id),
            Some(&alice.token),
            json!({}),
        )
        .await;
        assert!(s == 200 || s == 204, "{s} {v}");
        let text = receipt(&server, &alice, &wrong.id).await;
        let verified = tlog::verify_receipt(&text, &key, &[]).expect("receipt verifies");
        let r = &verified.recipients[0];
        assert_eq!(r.releases, 0, "never released");
        assert!(r.first_released_ms.is_none());
        assert!(r.revoked_ms.is_some() && r.destroyed_ms.is_some());
        let summary = tlog::receipt_summary(&verified);
        assert!(summary.contains("never"), "{summary}");

        // One changed byte anywhere fails (the crypto tests flip every byte; here a few).
        for at in [10, text.len() / 3, text.len() / 2, text.len() - 20] {
            let mut bytes = text.clone().into_bytes();
            bytes[at] ^= 0x01;
            if let Ok(changed) = String::from_utf8(bytes) {
                assert!(tlog::verify_receipt(&changed, &key, &[]).is_err(), "byte {at}");
            }
        }
        // Another log key does not verify it.
        let other = VerifierKey::new(&key.name, [7u8; 32]).unwrap();
        assert!(tlog::verify_receipt(&text, &other, &[]).is_err());

        // Someone else's message: no receipt.
        let bob = actor(
            &server,
            "other-org",
            "bob@other.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            false,
        )
        .await;
        let (s, _) = get_text(
            &server,
            &format!("/api/v1/messages/{}/receipt", wrong.id),
            Some(&bob.auth()),
        )
        .await;
        assert_eq!(s, 404);

        // The events API lists the log's entries, the receipt's issue included.
        let (_, v) = get_text(
            &server,
            &format!("/api/v1/messages/{}/events", wrong.id),
            Some(&alice.auth()),
        )
        .await;
        let v: Value = serde_json::from_str(&v).unwrap();
        let kinds: Vec<&str> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        for k in [
            "message.created",
            "message.sealed",
            "message.revoked",
            "share.destroyed",
            "receipt.issued",
        ] {
            assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
        }

        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_stored_entries_is_detected_against_an_earlier_checkpoint() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let svc = &server.services;
        let key = log_key(&server).await;
        let alice = sender(&server).await;
        for _ in 0..3 {
            let g = send_to_guest(&server, &alice).await;
            let s = session(&server, &g).await;
            release_checked(&server, &key, &g, &s).await;
        }
        let signed = transparency::checkpoint(svc).await.unwrap();
        let cp = Checkpoint::verify_note(&signed.note, &key).unwrap();
        assert!(cp.size > 10);
        assert_eq!(transparency::audit(svc, cp.size, Some(cp.root)).await.unwrap(), cp.size);
        let pool = svc.db.pool();
        let leaf_of = |idx: i64| async move {
            let leaf: Vec<u8> = sqlx::query_scalar("SELECT leaf FROM log_entries WHERE idx = $1")
                .bind(idx)
                .fetch_one(pool)
                .await
                .unwrap();
            leaf
        };
        let set_leaf = |idx: i64, leaf: Vec<u8>| async move {
            sqlx::query("UPDATE log_entries SET leaf = $1 WHERE idx = $2")
                .bind(leaf)
                .bind(idx)
                .execute(pool)
                .await
                .unwrap();
        };
        let tampered = |r: Result<u64, DomainError>| {
            matches!(
                r,
                Err(DomainError::Conflict {
                    code: "log_tampered",
                    ..
                })
            )
        };

        // Changed: a release rewritten as a failed verification.
        let victim = 5i64;
        let original = leaf_of(victim).await;
        let text = String::from_utf8(original.clone()).unwrap();
        let kind_line = text.lines().find(|l| l.starts_with("kind ")).unwrap().to_owned();
        set_leaf(
            victim,
            text.replace(&kind_line, "kind verification.failed").into_bytes(),
        )
        .await;
        assert!(tampered(transparency::audit(svc, cp.size, Some(cp.root)).await));
        // The operator's command says so too, against the checkpoint saved earlier.
        let saved = storage.dir.path().join("checkpoint.txt");
        std::fs::write(&saved, &signed.note).unwrap();
        let (code, out, err) = admin_audit(&storage, &saved);
        assert_eq!(code, 1, "{out}");
        assert!(err.contains("do not hash to the checkpoint's root"), "{err}");
        set_leaf(victim, original.clone()).await;
        assert!(transparency::audit(svc, cp.size, Some(cp.root)).await.is_ok());
        let (code, out, err) = admin_audit(&storage, &saved);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("log intact"), "{out}");

        // Reordered: two entries swapped.
        let other = leaf_of(victim + 1).await;
        set_leaf(victim, other.clone()).await;
        set_leaf(victim + 1, original.clone()).await;
        assert!(tampered(transparency::audit(svc, cp.size, Some(cp.root)).await));
        set_leaf(victim, original.clone()).await;
        set_leaf(victim + 1, other).await;

        // Deleted.
        let row = sqlx::query("SELECT pending_id, at, actor, kind FROM log_entries WHERE idx = $1")
            .bind(victim)
            .fetch_one(pool)
            .await
            .unwrap();
        use sqlx::Row;
        let (pending_id, at, actor, kind): (i64, i64, String, String) =
            (row.get("pending_id"), row.get("at"), row.get("actor"), row.get("kind"));
        sqlx::query("DELETE FROM log_entries WHERE idx = $1")
            .bind(victim)
            .execute(pool)
            .await
            .unwrap();
        assert!(tampered(transparency::audit(svc, cp.size, Some(cp.root)).await));
        // An export checked against the earlier checkpoint misses it too: the org's entries no
        // longer hash into the chain (the next entry of the message points at the deleted one).
        sqlx::query("INSERT INTO log_entries (idx, pending_id, at, actor, kind, leaf) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(victim)
            .bind(pending_id)
            .bind(at)
            .bind(actor)
            .bind(kind)
            .bind(original.clone())
            .execute(pool)
            .await
            .unwrap();
        assert!(transparency::audit(svc, cp.size, Some(cp.root)).await.is_ok());

        // Rewriting the stored tree to match a changed entry leaves a history the earlier
        // checkpoint refutes: the recomputed root differs from the checkpoint's.
        let mut forged = original.clone();
        let pos = forged.len() - 3;
        forged[pos] ^= 1;
        set_leaf(victim, forged).await;
        let r = transparency::audit(svc, cp.size, Some(cp.root)).await;
        assert!(tampered(r));
        set_leaf(victim, original).await;

        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_releases_through_two_replicas_form_one_consistent_log() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let a = TestServer::start(&storage, PART).await;
        let b = TestServer::start_with(storage.config(PART), a.clock.clone()).await;
        let key = log_key(&a).await;
        assert_eq!(key, log_key(&b).await, "replicas share one log key");
        let alice = sender(&a).await;
        let g = send_to_guest(&a, &alice).await;
        let s = session(&a, &g).await;
        let mut tasks = Vec::new();
        for i in 0..24 {
            let server = if i % 2 == 0 { &a } else { &b };
            tasks.push(release_checked(server, &key, &g, &s));
        }
        let checkpoints = futures::future::join_all(tasks).await;
        // Every pair of checkpoints handed out is consistent.
        let latest = transparency::checkpoint(&a.services).await.unwrap().checkpoint;
        for c in &checkpoints {
            let proof = transparency::consistency(&b.services, c.size, latest.size)
                .await
                .unwrap();
            assert!(merkle::verify_consistency(
                c.size,
                latest.size,
                &c.root,
                &latest.root,
                &proof
            ));
        }
        let sizes: std::collections::BTreeSet<u64> = checkpoints.iter().map(|c| c.size).collect();
        assert!(sizes.len() > 1);
        assert!(
            transparency::audit(&a.services, latest.size, Some(latest.root))
                .await
                .is_ok()
        );
        // And the receipt counts all of them.
        let text = receipt(&b, &alice, &g.id).await;
        let verified = tlog::verify_receipt(&text, &key, &[]).unwrap();
        assert_eq!(verified.recipients[0].releases, 24);
        a.stop().await;
        b.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_export_their_organisation_and_the_export_verifies() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let key = log_key(&server).await;
        let alice = sender(&server).await;
        let admin = actor(
            &server,
            "gp-practice",
            "dpo@gp.example",
            &[Role::Admin],
            &[Scope::Read, Scope::Admin],
            false,
        )
        .await;
        let outsider = actor(
            &server,
            "other-org",
            "eve@other.example",
            &[Role::Admin],
            &[Scope::Read, Scope::Admin],
            false,
        )
        .await;
        let g = send_to_guest(&server, &alice).await;
        let s = session(&server, &g).await;
        release_checked(&server, &key, &g, &s).await;

        let (st, body) = get_text(&server, "/api/v1/log/export", Some(&alice.auth())).await;
        assert_eq!(st, 403, "{body}");
        let (st, body) = get_text(&server, "/api/v1/log/export", Some(&admin.auth())).await;
        assert_eq!(st, 200, "{body}");
        let report = tlog::verify_export(&body, &key).expect("export verifies");
        assert_eq!(report.org, admin.org_id);
        assert!(report.entries >= 8, "{report:?}");
        // Account activity is in it, the other organisation's is not.
        let kinds: Vec<String> = body
            .lines()
            .skip(1)
            .map(|l| {
                let e: tlog::ProvenEntry = serde_json::from_str(l).unwrap();
                tlog::LogEntry::parse(&STANDARD.decode(e.leaf).unwrap()).unwrap().kind
            })
            .collect();
        for k in [
            "user.created",
            "token.created",
            "keys.published",
            "message.sealed",
            "share.released",
        ] {
            assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
        }
        let (_, other) = get_text(&server, "/api/v1/log/export", Some(&outsider.auth())).await;
        assert!(!other.contains(&g.id));

        // A changed line or a dropped line fails the check.
        let lines: Vec<&str> = body.lines().collect();
        let dropped: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert!(tlog::verify_export(&dropped, &key).is_err() || lines.len() < 3);
        let swapped = {
            let mut l = lines.clone();
            l.swap(1, 2);
            l.iter().map(|x| format!("{x}\n")).collect::<String>()
        };
        assert!(tlog::verify_export(&swapped, &key).is_err());
        server.stop().await;
        storage.cleanup().await;
    }
}

fn witness_in_process(
    dir: &std::path::Path,
    log_key: &VerifierKey,
) -> (std::sync::Arc<sealpost_witness::Witness>, tlog::CosignerKey) {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let config = sealpost_witness::Config {
        name: "witness.example/w1".into(),
        seed: zeroize::Zeroizing::new(seed),
        logs: vec![log_key.clone()],
        state_path: dir.join("witness-state.json"),
        evidence_path: dir.join("witness-evidence.jsonl"),
    };
    let witness = std::sync::Arc::new(
        sealpost_witness::Witness::open(config, std::sync::Arc::new(sealpost_witness::SystemClock)).unwrap(),
    );
    let key = witness.cosigner_key().clone();
    (witness, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_receipts_and_catches_an_inconsistent_checkpoint() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let first = TestServer::start(&storage, PART).await;
        let key = log_key(&first).await;
        first.stop().await;

        let witness_dir = tempfile::tempdir().unwrap();
        let (witness, wkey) = witness_in_process(witness_dir.path(), &key);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let witness_url = format!("http://{}", listener.local_addr().unwrap());
        let router = sealpost_witness::router(witness.clone());
        let serving = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let mut config = storage.config(PART);
        config.transparency.witnesses = vec![format!("{witness_url} {}", wkey.to_vkey())];
        let server = TestServer::start_with(config, harness_clock()).await;
        let alice = sender(&server).await;
        let g = send_to_guest(&server, &alice).await;
        let s = session(&server, &g).await;
        release_checked(&server, &key, &g, &s).await;

        // The receipt carries the witness's cosignature, and a verifier that requires the
        // witness accepts it; one that requires another witness does not.
        let text = receipt(&server, &alice, &g.id).await;
        let verified = tlog::verify_receipt(&text, &key, std::slice::from_ref(&wkey)).expect("witnessed receipt");
        assert_eq!(verified.witnesses.len(), 1);
        assert_eq!(verified.witnesses[0].0, wkey.name);
        let stranger = tlog::CosignerKey::from_seed("witness.example/w2", &[9u8; 32]).unwrap();
        assert!(tlog::verify_receipt(&text, &key, &[stranger]).is_err());
        // The published checkpoint shows the cosignature too.
        let (_, note) = get_text(&server, "/.well-known/sealpost/checkpoint", None).await;
        assert!(tlog::verify_cosignature(&note, &wkey).is_ok(), "{note}");

        // More activity; the witness follows (the sweeper's tick pushes the newest checkpoint).
        release_checked(&server, &key, &g, &s).await;
        transparency::tick(&server.services).await.unwrap();
        let known = witness.known(&key.name).await.expect("the witness knows the log");
        let latest = transparency::checkpoint(&server.services).await.unwrap().checkpoint;
        assert_eq!(known.size, latest.size);

        // A log that signs a checkpoint inconsistent with what the witness saw — a rewritten
        // history at a larger size — is refused, and the witness keeps the evidence.
        let forged = Checkpoint {
            origin: key.name.clone(),
            size: latest.size + 3,
            root: [0x42; 32],
        };
        let forged_note = server.services.log.signer.sign(&forged).unwrap();
        let proof = transparency::consistency(&server.services, latest.size - 1, latest.size)
            .await
            .unwrap();
        let body = sealpost_witness::request_body(latest.size, &proof, &forged_note);
        let r = client()
            .post(format!("{witness_url}/add-checkpoint"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{}", r.text().await.unwrap());
        let evidence = std::fs::read_to_string(witness_dir.path().join("witness-evidence.jsonl")).unwrap();
        assert!(
            evidence.contains(&forged_note.lines().nth(2).unwrap().to_string()),
            "{evidence}"
        );
        // A fork at the same size is refused as well.
        let fork = Checkpoint {
            origin: key.name.clone(),
            size: latest.size,
            root: [0x43; 32],
        };
        let fork_note = server.services.log.signer.sign(&fork).unwrap();
        let r = client()
            .post(format!("{witness_url}/add-checkpoint"))
            .body(sealpost_witness::request_body(latest.size, &[], &fork_note))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 409 || r.status() == 422, "{}", r.status());
        assert_eq!(
            witness.known(&key.name).await.unwrap().size,
            latest.size,
            "state unchanged"
        );

        serving.abort();
        server.stop().await;
        storage.cleanup().await;
    }
}

fn harness_clock() -> sealpost_server::clock::ManualClock {
    sealpost_server::clock::ManualClock::new(T0)
}

/// `sealpost-server admin log audit --checkpoint FILE` on the test's storage.
fn admin_audit(storage: &Storage, checkpoint: &std::path::Path) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sealpost-server"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEALPOST_STORAGE_DATA_DIR", storage.dir.path())
        .env("SEALPOST_STORAGE_DATABASE_URL", &storage.database_url)
        .env("SEALPOST_SERVER_PUBLIC_URL", "http://127.0.0.1:0")
        .env("SEALPOST_LOG_LEVEL", "warn")
        .args(["admin", "log", "audit", "--checkpoint"])
        .arg(checkpoint)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
