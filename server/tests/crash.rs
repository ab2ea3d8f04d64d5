//! Crash tests: the server process is killed (SIGKILL, or an abort at a named crash point,
//! which is the same to the storage underneath) mid-upload and mid-seal, then restarted on the
//! same storage. Acknowledged parts survive, the upload resumes, quotas are exact, and a
//! half-sealed message is never openable.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
mod process;

use harness::*;
use process::*;
use sealpost_crypto::b64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_upload_resumes_and_quotas_stay_exact() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = spawn(&storage, "");
        let (alice, bob) = setup(&storage, &server.base).await;
        let a = as_actor(&alice);
        let b = as_actor(&bob);
        let data: Vec<u8> = (0..(12 * 1024 * 1024 + 333)).map(|i| (i * 7 % 256) as u8).collect();
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
            .post(format!("{}/api/v1/messages", server.base))
            .bearer_auth(&alice.token)
            .json(&built.create_body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let reserved =
            built.sealed.header.len() as u64 + built.sealed.payloads.iter().map(|p| p.len() as u64).sum::<u64>();
        let payload = &built.sealed.payloads[1];
        let parts: Vec<&[u8]> = payload.chunks(PART as usize).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            put(&server.base, &alice.token, &id, 1, 0, parts[0])
                .await
                .unwrap()
                .status(),
            200
        );

        // Part 1 is being streamed when the server is killed.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
        let url = format!("{}/api/v1/messages/{id}/payloads/1/parts/1", server.base);
        let pending = tokio::spawn(
            c.put(url)
                .bearer_auth(&alice.token)
                .header("content-digest", digest(parts[1]))
                .header("content-length", parts[1].len())
                .body(body)
                .send(),
        );
        tx.send(Ok(parts[1][..PART as usize / 2].to_vec())).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(server); // SIGKILL
        drop(tx);
        let _ = pending.await;

        // Restart: part 0 is there, part 1 is not; the rest uploads and the message seals.
        let server = spawn(&storage, "");
        let st: serde_json::Value = c
            .get(format!("{}/api/v1/messages/{id}/payloads/1", server.base))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored: Vec<u64> = st["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["index"].as_u64().unwrap())
            .collect();
        assert_eq!(stored, vec![0]);
        assert_eq!(usage(&server.base, &alice.token).await, (reserved, 1));

        // A crash between storing a part and recording it: the part is simply not recorded.
        drop(server);
        let server = spawn(&storage, "part-stored-before-record");
        assert!(put(&server.base, &alice.token, &id, 1, 1, parts[1]).await.is_err());
        drop(server);
        let server = spawn(&storage, "");
        let st: serde_json::Value = c
            .get(format!("{}/api/v1/messages/{id}/payloads/1", server.base))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["parts"].as_array().unwrap().len(), 1);
        for (k, part) in parts.iter().enumerate().skip(1) {
            assert_eq!(
                put(&server.base, &alice.token, &id, 1, k, part).await.unwrap().status(),
                200
            );
        }
        // A crash between publishing the object and recording it: completing again succeeds.
        drop(server);
        let server = spawn(&storage, "payload-published-before-record");
        assert!(
            c.post(format!("{}/api/v1/messages/{id}/payloads/1/complete", server.base))
                .bearer_auth(&alice.token)
                .send()
                .await
                .is_err()
        );
        drop(server);
        let server = spawn(&storage, "");
        let r = c
            .post(format!("{}/api/v1/messages/{id}/payloads/1/complete", server.base))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = c
            .put(format!("{}/api/v1/messages/{id}/header", server.base))
            .bearer_auth(&alice.token)
            .body(built.sealed.header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            put(&server.base, &alice.token, &id, 0, 0, &built.sealed.payloads[0])
                .await
                .unwrap()
                .status(),
            200
        );
        let r = c
            .post(format!("{}/api/v1/messages/{id}/payloads/0/complete", server.base))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .post(format!("{}/api/v1/messages/{id}/seal", server.base))
            .bearer_auth(&alice.token)
            .json(&seal_body(&built))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let got = c
            .get(format!("{}/api/v1/messages/{id}/payloads/1/content", server.base))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            got.as_ref() == payload.as_slice(),
            "stored ciphertext differs after crashes"
        );
        assert_eq!(usage(&server.base, &alice.token).await, (reserved, 1));
        drop(server);
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_seal_is_never_half_sealed() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = spawn(&storage, "");
        let (alice, bob) = setup(&storage, &server.base).await;
        let a = as_actor(&alice);
        let b = as_actor(&bob);
        let guest =
            sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let built = build(
            &a,
            &[To::Account(&b), To::Guest(guest.public(), "+447700900123")],
            &[b"attachment"],
            sealpost_server::clock::SystemClock.now_ms_for_tests(),
            7,
        );
        let id = built.id();
        let c = reqwest::Client::new();
        let r = c
            .post(format!("{}/api/v1/messages", server.base))
            .bearer_auth(&alice.token)
            .json(&built.create_body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        drop(server);
        // Upload everything, then die inside the seal transaction, before its commit.
        let server = spawn(&storage, "seal-before-commit");
        let harness_server = RemoteServer {
            base: server.base.clone(),
            part: PART,
        };
        harness_server.upload(&a, &built).await;
        let r = c
            .post(format!("{}/api/v1/messages/{id}/seal", server.base))
            .bearer_auth(&alice.token)
            .json(&seal_body(&built))
            .send()
            .await;
        assert!(r.is_err(), "the server should have died");
        drop(server);

        // After restart: still a draft, no share stored, nothing releasable.
        let config = storage.config(PART);
        let svc = sealpost_server::app::services_with_system_clock(&config).await.unwrap();
        let shares: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recipients WHERE share_ct IS NOT NULL")
            .fetch_one(svc.db.pool())
            .await
            .unwrap();
        assert_eq!(shares, 0, "a share was stored without the seal committing");
        let state: String = sqlx::query_scalar("SELECT state FROM messages WHERE id = $1")
            .bind(&id)
            .fetch_one(svc.db.pool())
            .await
            .unwrap();
        assert_eq!(state, "draft");
        for rid in [b.public().rid().to_text(), guest.public().rid().to_text()] {
            assert!(
                sealpost_server::domain::messages::release_share(&svc, &id, &rid, serde_json::json!({}))
                    .await
                    .is_err()
            );
        }
        svc.db.close().await;

        // Die right after the commit: the seal is complete and durable.
        let server = spawn(&storage, "seal-after-commit");
        let r = c
            .post(format!("{}/api/v1/messages/{id}/seal", server.base))
            .bearer_auth(&alice.token)
            .json(&seal_body(&built))
            .send()
            .await;
        assert!(r.is_err());
        drop(server);
        let server = spawn(&storage, "");
        let st: serde_json::Value = c
            .get(format!("{}/api/v1/messages/{id}", server.base))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["state"], "sealed");
        drop(server);
        let svc = sealpost_server::app::services_with_system_clock(&config).await.unwrap();
        let shares: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recipients WHERE share_ct IS NOT NULL")
            .fetch_one(svc.db.pool())
            .await
            .unwrap();
        assert_eq!(shares, 2);
        let rid = b.public().rid().to_text();
        let share = sealpost_server::domain::messages::release_share(&svc, &id, &rid, serde_json::json!({}))
            .await
            .unwrap();
        let expected = built
            .sealed
            .server_shares
            .iter()
            .find(|s| s.rid.to_text() == rid)
            .unwrap();
        assert_eq!(&*share.0, expected.share.expose_secret());
        svc.db.close().await;
        storage.cleanup().await;
    }
}

/// Uploads through a server in another process.
struct RemoteServer {
    base: String,
    part: u64,
}

impl RemoteServer {
    async fn upload(&self, sender: &Actor, built: &Built) {
        let c = reqwest::Client::new();
        let id = built.id();
        let r = c
            .put(format!("{}/api/v1/messages/{id}/header", self.base))
            .bearer_auth(&sender.token)
            .body(built.sealed.header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        for (n, payload) in built.sealed.payloads.iter().enumerate() {
            for (k, part) in payload.chunks(self.part as usize).enumerate() {
                assert_eq!(
                    put(&self.base, &sender.token, &id, n, k, part).await.unwrap().status(),
                    200
                );
            }
            let r = c
                .post(format!("{}/api/v1/messages/{id}/payloads/{n}/complete", self.base))
                .bearer_auth(&sender.token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Runs a whole send with debug logging and scans every log line for secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_tokens_shares_or_keys() {
    let storage = Storage::new(Backend::Sqlite).await;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = spawn_logging(&storage, "", "debug", Some(lines.clone()));
    let (alice, bob) = setup(&storage, &server.base).await;
    let a = as_actor(&alice);
    let b = as_actor(&bob);
    let built = build(
        &a,
        &[To::Account(&b)],
        &[b"secret attachment"],
        sealpost_server::clock::SystemClock.now_ms_for_tests(),
        7,
    );
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/api/v1/messages", server.base))
        .bearer_auth(&alice.token)
        .json(&built.create_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    RemoteServer {
        base: server.base.clone(),
        part: PART,
    }
    .upload(&a, &built)
    .await;
    let r = c
        .post(format!("{}/api/v1/messages/{}/seal", server.base, built.id()))
        .bearer_auth(&alice.token)
        .json(&seal_body(&built))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Failed authentication with a token-shaped value, and a token in the query string.
    let r = c
        .get(format!("{}/api/v1/me?token={}", server.base, alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth("sp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(server);
    let lines = lines.lock().unwrap().clone();
    assert!(lines.len() > 10, "expected request logs, got {lines:?}");
    let text = lines.join("\n");
    let mut secrets = vec![
        alice.token.clone(),
        bob.token.clone(),
        "sp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ];
    for s in &built.sealed.server_shares {
        secrets.push(b64::encode(s.share.expose_secret()));
    }
    let kek = std::fs::read_to_string(storage.dir.path().join("server-kek")).unwrap();
    secrets.push(kek.trim().to_owned());
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret appeared in the log");
    }
    assert!(
        text.contains("/api/v1/messages/{id}/seal"),
        "request lines name the route template"
    );
    storage.cleanup().await;
}
