//! Endpoint tests against a real server on 127.0.0.1:0, on SQLite and (when reachable) PostgreSQL.

#[path = "support/harness.rs"]
mod harness;

use harness::*;
use sealpost_server::domain::{DomainError, Role, Scope, messages};

const PART: u64 = 64 * 1024;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn problem(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ct.as_deref(), Some("application/problem+json"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["code"].is_string() && body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    let text = body.to_string().to_lowercase();
    for leak in [
        "sqlx",
        "sqlite",
        "postgres",
        "select ",
        "/tmp",
        "panicked",
        "object_store",
    ] {
        assert!(!text.contains(leak), "problem leaks internals ({leak}): {body}");
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_lifecycle_end_to_end() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let sender = actor(
            &server,
            "council",
            "Alice@Council.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            true,
        )
        .await;
        let bob = actor(
            &server,
            "hospital",
            "bob@hospital.example",
            &[Role::Sender],
            &[Scope::Read],
            true,
        )
        .await;
        let c = client();

        // Key directory.
        let r = c
            .get(server.url("/api/v1/directory/BOB@hospital.example"))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let keys: serde_json::Value = r.json().await.unwrap();
        assert_eq!(keys["x25519_pk"], sealpost_crypto::b64::encode(&bob.public().0));

        // A message with a 200 KiB attachment (4 parts of 64 KiB) to an account and a guest.
        let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
        let guest =
            sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let built = build(
            &sender,
            &[To::Account(&bob), To::Guest(guest.public(), "+44 7700 900123")],
            &[&big, b"small"],
            T0,
            7,
        );
        let id = built.id();
        let r = c
            .post(server.url("/api/v1/messages"))
            .header("authorization", sender.auth())
            .json(&built.create_body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["location"], format!("/api/v1/messages/{id}"));
        let created: serde_json::Value = r.json().await.unwrap();
        assert_eq!(created["state"], "draft");
        assert_eq!(created["part_size"], PART);

        // Sealing before uploads is refused.
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/seal")))
            .header("authorization", sender.auth())
            .json(&seal_body(&built))
            .send()
            .await
            .unwrap();
        let (s, body) = problem(r).await;
        assert_eq!((s, body["code"].as_str().unwrap()), (409, "header_missing"));

        // Header, then payload 1 part by part with a simulated interruption: parts 0 and 2 first.
        let r = c
            .put(server.url(&format!("/api/v1/messages/{id}/header")))
            .header("authorization", sender.auth())
            .body(built.sealed.header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let payload = &built.sealed.payloads[1];
        let parts: Vec<&[u8]> = payload.chunks(PART as usize).collect();
        assert_eq!(parts.len(), 4);
        put_part(&server, &sender, &id, 1, 0, parts[0]).await;
        put_part(&server, &sender, &id, 1, 2, parts[2]).await;
        // Completing with parts missing names them.
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/payloads/1/complete")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        let (s, body) = problem(r).await;
        assert_eq!((s, body["code"].as_str().unwrap()), (409, "parts_missing"));
        // Resume: ask what is stored, send the rest.
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}/payloads/1")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        let st: serde_json::Value = r.json().await.unwrap();
        let stored: Vec<u64> = st["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["index"].as_u64().unwrap())
            .collect();
        assert_eq!(stored, vec![0, 2]);
        assert_eq!(st["part_count"], 4);
        assert_eq!(
            st["parts"][1]["sha256"],
            base64_std(&sealpost_crypto::primitives::sha256(&[parts[2]]))
        );
        for k in [1usize, 3] {
            put_part(&server, &sender, &id, 1, k, parts[k]).await;
        }
        // A retried part replaces itself.
        put_part(&server, &sender, &id, 1, 3, parts[3]).await;
        for n in [1usize] {
            let r = c
                .post(server.url(&format!("/api/v1/messages/{id}/payloads/{n}/complete")))
                .header("authorization", sender.auth())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        for n in [0usize, 2] {
            for (k, part) in built.sealed.payloads[n].chunks(PART as usize).enumerate() {
                put_part(&server, &sender, &id, n, k, part).await;
            }
            let r = c
                .post(server.url(&format!("/api/v1/messages/{id}/payloads/{n}/complete")))
                .header("authorization", sender.auth())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        // Complete is idempotent.
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/payloads/2/complete")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        // Not openable before sealing.
        let rid_bob = bob.public().rid().to_text();
        assert!(matches!(
            messages::release_share(&server.services, &id, &rid_bob, serde_json::json!({})).await,
            Err(DomainError::Ended(_))
        ));

        let sealed = seal(&server, &sender, &built).await;
        assert_eq!(sealed["state"], "sealed");
        assert_eq!(sealed["recipients"][0]["address"], "bob@hospital.example");
        assert_eq!(sealed["recipients"][1]["phone_hint"], "•••• 0123");
        assert!(sealed["recipients"][1].get("phone").is_none());
        // Sealing twice is a conflict.
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/seal")))
            .header("authorization", sender.auth())
            .json(&seal_body(&built))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 409);

        // The stored ciphertext is byte-identical, whole and by range.
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}/payloads/1/content")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), payload.as_slice());
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}/payloads/1/content")))
            .header("authorization", sender.auth())
            .header("range", "bytes=70000-140000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes 70000-140000/{}", payload.len())
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), &payload[70000..=140000]);

        // The server share released through the domain path is the one the sender made.
        let share = messages::release_share(&server.services, &id, &rid_bob, serde_json::json!({"test": true}))
            .await
            .unwrap();
        let expected = built
            .sealed
            .server_shares
            .iter()
            .find(|s| s.rid.to_text() == rid_bob)
            .unwrap();
        assert_eq!(&*share.0, expected.share.expose_secret());

        // Status, list, events.
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        let st: serde_json::Value = r.json().await.unwrap();
        assert_eq!(st["recipients"][0]["releases"], 1);
        let r = c
            .get(server.url("/api/v1/messages?limit=10"))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        let list: serde_json::Value = r.json().await.unwrap();
        assert_eq!(list["messages"][0]["id"], id);
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}/events")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        let ev: serde_json::Value = r.json().await.unwrap();
        let kinds: Vec<&str> = ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["message.created", "message.sealed", "share.released"]);

        // Change the expiry, then revoke one recipient, then the whole message.
        let new_expiry = sealpost_server::clock::to_rfc3339(T0 + 3 * 86_400_000);
        let r = c
            .patch(server.url(&format!("/api/v1/messages/{id}")))
            .header("authorization", sender.auth())
            .json(&serde_json::json!({"expires_at": new_expiry}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rid_guest = guest.public().rid().to_text();
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/revoke")))
            .header("authorization", sender.auth())
            .json(&serde_json::json!({"recipient": rid_guest}))
            .send()
            .await
            .unwrap();
        let st: serde_json::Value = r.json().await.unwrap();
        assert_eq!(st["recipients"][1]["state"], "revoked");
        assert_eq!(st["state"], "sealed");
        assert!(matches!(
            messages::release_share(&server.services, &id, &rid_guest, serde_json::json!({})).await,
            Err(DomainError::Ended(_))
        ));
        assert!(
            messages::release_share(&server.services, &id, &rid_bob, serde_json::json!({}))
                .await
                .is_ok()
        );
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/revoke")))
            .header("authorization", sender.auth())
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let st: serde_json::Value = r.json().await.unwrap();
        assert_eq!(st["state"], "revoked");
        assert!(matches!(
            messages::release_share(&server.services, &id, &rid_bob, serde_json::json!({})).await,
            Err(DomainError::Ended(_))
        ));
        // Revoking again is idempotent; the ciphertext is gone for the sender too.
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/revoke")))
            .header("authorization", sender.auth())
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}/payloads/1/content")))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 410);

        // Crypto-shredding happened in the revoke transaction: no share is stored any more.
        let remaining: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recipients WHERE share_ct IS NOT NULL")
            .fetch_one(server.services.db.pool())
            .await
            .unwrap();
        assert_eq!(remaining, 0);
        // The sweeper deletes the blobs afterwards.
        let report = sealpost_server::domain::sweeper::sweep_once(&server.services, 48)
            .await
            .unwrap();
        assert_eq!(report.blobs_deleted, 4);
        let key = messages::payload_key(&id, 1).unwrap();
        assert!(server.services.blobs.size(&key).await.is_err());

        // Quota given back.
        let r = c
            .get(server.url("/api/v1/me"))
            .header("authorization", sender.auth())
            .send()
            .await
            .unwrap();
        let me: serde_json::Value = r.json().await.unwrap();
        assert_eq!(me["user"]["used_bytes"], 0);
        assert_eq!(me["organisation"]["used_messages"], 0);

        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_problems() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let sender = actor(
            &server,
            "council",
            "alice@council.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            true,
        )
        .await;
        let bob = actor(
            &server,
            "council",
            "bob@council.example",
            &[Role::Sender],
            &[Scope::Read],
            true,
        )
        .await;
        let c = client();
        let auth = sender.auth();
        let post = |body: serde_json::Value| {
            c.post(server.url("/api/v1/messages"))
                .header("authorization", auth.clone())
                .json(&body)
                .send()
        };
        let built = build(&sender, &[To::Account(&bob)], &[b"x"], T0, 7);
        let mut cases: Vec<(serde_json::Value, u16, &str)> = Vec::new();
        let mut b = built.create_body.clone();
        b["state"] = "sealed".into();
        cases.push((b, 400, "invalid_json"));
        let mut b = built.create_body.clone();
        b["id"] = "short".into();
        cases.push((b, 400, "invalid_id"));
        let mut b = built.create_body.clone();
        b["payload_sizes"] = serde_json::json!([17]);
        cases.push((b, 400, "invalid_payloads"));
        let mut b = built.create_body.clone();
        b["header_size"] = serde_json::json!(10_000_000);
        cases.push((b, 400, "invalid_header_size"));
        let mut b = built.create_body.clone();
        b["policy"] = "{\"v\":1}".into();
        cases.push((b, 400, "invalid_policy"));
        let mut b = built.create_body.clone();
        b["recipients"][0]["address"] = "nobody@nowhere.example".into();
        cases.push((b, 400, "unknown_recipient"));
        let past = build(&sender, &[To::Account(&bob)], &[b"x"], T0, -1);
        cases.push((past.create_body.clone(), 400, "invalid_expiry"));
        let far = build(&sender, &[To::Account(&bob)], &[b"x"], T0, 400);
        cases.push((far.create_body.clone(), 400, "invalid_expiry"));
        let guest =
            sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let bad_phone = build(&sender, &[To::Guest(guest.public(), "07700 900123")], &[b"x"], T0, 7);
        cases.push((bad_phone.create_body.clone(), 400, "invalid_phone"));
        for (body, status, code) in cases {
            let (s, p) = problem(post(body).await.unwrap()).await;
            assert_eq!((s, p["code"].as_str().unwrap()), (status, code), "{p}");
        }
        // Not JSON at all; wrong media type.
        let r = c
            .post(server.url("/api/v1/messages"))
            .header("authorization", auth.clone())
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "invalid_json");
        let r = c
            .post(server.url("/api/v1/messages"))
            .header("authorization", auth.clone())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 415);

        // A valid draft, then bad uploads.
        let r = post(built.create_body.clone()).await.unwrap();
        assert_eq!(r.status(), 201);
        let id = built.id();
        let r = post(built.create_body.clone()).await.unwrap();
        assert_eq!(problem(r).await.1["code"], "id_exists");
        // Header of the wrong size, then not an age header, then one for another message.
        let r = c
            .put(server.url(&format!("/api/v1/messages/{id}/header")))
            .header("authorization", auth.clone())
            .body(vec![b'a'; 3])
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "wrong_size");
        let r = c
            .put(server.url(&format!("/api/v1/messages/{id}/header")))
            .header("authorization", auth.clone())
            .body(vec![b'a'; built.sealed.header.len()])
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "invalid_header");
        let other = build(&sender, &[To::Account(&bob)], &[b"x"], T0, 7);
        if other.sealed.header.len() == built.sealed.header.len() {
            let r = c
                .put(server.url(&format!("/api/v1/messages/{id}/header")))
                .header("authorization", auth.clone())
                .body(other.sealed.header.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(problem(r).await.1["code"], "invalid_header");
        }
        // Part without digest, with a wrong digest, too long, beyond the payload.
        let part = &built.sealed.payloads[0];
        let url = server.url(&format!("/api/v1/messages/{id}/payloads/0/parts/0"));
        let r = c
            .put(&url)
            .header("authorization", auth.clone())
            .body(part.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "digest_required");
        let r = c
            .put(&url)
            .header("authorization", auth.clone())
            .header("content-digest", digest(b"other"))
            .body(part.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "digest_mismatch");
        let mut longer = part.clone();
        longer.push(0);
        let r = c
            .put(&url)
            .header("authorization", auth.clone())
            .header("content-digest", digest(&longer))
            .body(longer)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 413);
        let r = c
            .put(server.url(&format!("/api/v1/messages/{id}/payloads/0/parts/1")))
            .header("authorization", auth.clone())
            .header("content-digest", digest(part))
            .body(part.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "invalid_part");
        let r = c
            .put(server.url(&format!("/api/v1/messages/{id}/payloads/9/parts/0")))
            .header("authorization", auth.clone())
            .header("content-digest", digest(part))
            .body(part.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 404);

        // A seal signed by someone else, or over another policy, is refused.
        upload_all(&server, &sender, &built).await;
        let forged = build(&bob, &[To::Account(&bob)], &[b"x"], T0, 7);
        let mut body = seal_body(&built);
        body["seal"] = forged.sealed.seal.clone().into();
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/seal")))
            .header("authorization", auth.clone())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "bad_seal");
        let mut body = seal_body(&built);
        body["server_shares"] = serde_json::json!([]);
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/seal")))
            .header("authorization", auth.clone())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "share_mismatch");
        // Still a draft, still not openable.
        let rid = bob.public().rid().to_text();
        assert!(
            messages::release_share(&server.services, &id, &rid, serde_json::json!({}))
                .await
                .is_err()
        );

        // Unknown routes and methods.
        let r = c.get(server.url("/api/v1/nothing")).send().await.unwrap();
        assert_eq!(problem(r).await.0, 404);
        let r = c
            .put(server.url("/api/v1/messages"))
            .header("authorization", auth.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 405);
        // Response headers.
        let r = c.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.headers().contains_key("x-request-id"));
        let r = c.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);

        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let alice = actor(
            &server,
            "council",
            "alice@council.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            true,
        )
        .await;
        let carol = actor(
            &server,
            "council",
            "carol@council.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            true,
        )
        .await;
        let dpo = actor(
            &server,
            "council",
            "dpo@council.example",
            &[Role::Dpo],
            &[Scope::Read],
            false,
        )
        .await;
        let mallory = actor(
            &server,
            "other",
            "mallory@other.example",
            &[Role::Sender, Role::Admin, Role::Dpo],
            &[Scope::Send, Scope::Read, Scope::Admin],
            true,
        )
        .await;
        let readonly = actor(
            &server,
            "council",
            "reader@council.example",
            &[Role::Sender],
            &[Scope::Read],
            false,
        )
        .await;
        let built = build(&alice, &[To::Account(&carol)], &[b"hello"], T0, 7);
        send(&server, &alice, &built).await;
        let id = built.id();
        let c = client();
        // Foreign and unknown ids for every route, and revoked or expired tokens, are compared
        // in security.rs::authorization_matrix_covers_every_route (docs/security-tests.md §1).
        // The DPO of the same organisation reads, but cannot change.
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}")))
            .header("authorization", dpo.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = c
            .get(server.url("/api/v1/messages?scope=organisation"))
            .header("authorization", dpo.auth())
            .send()
            .await
            .unwrap();
        let list: serde_json::Value = r.json().await.unwrap();
        assert_eq!(list["messages"].as_array().unwrap().len(), 1);
        let r = c
            .post(server.url(&format!("/api/v1/messages/{id}/revoke")))
            .header("authorization", dpo.auth())
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 403);
        // A sender cannot list the organisation; a read-only token cannot send.
        let r = c
            .get(server.url("/api/v1/messages?scope=organisation"))
            .header("authorization", carol.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 403);
        let b2 = build(&readonly, &[To::Account(&carol)], &[b"x"], T0, 7);
        let r = c
            .post(server.url("/api/v1/messages"))
            .header("authorization", readonly.auth())
            .json(&b2.create_body)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 403);
        // Only admins manage tokens of others; nobody mints tokens without the admin scope.
        let r = c
            .post(server.url("/api/v1/tokens"))
            .header("authorization", alice.auth())
            .json(&serde_json::json!({"name":"x","scopes":["send"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 403);
        let r = c
            .post(server.url("/api/v1/tokens"))
            .header("authorization", mallory.auth())
            .json(&serde_json::json!({"name":"x","scopes":["send"],"user":"alice@council.example"}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 404);
        // Missing, malformed, duplicated and URL credentials.
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 401);
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}")))
            .header("authorization", "Bearer sp_notavalidtoken")
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 401);
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}")))
            .header("authorization", alice.auth())
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 401);
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}?token={}", alice.token)))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "credential_in_url");
        let r = c
            .get(server.url(&format!("/api/v1/messages/{id}")))
            .header("authorization", format!("bearer  {}", alice.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "scheme is case-insensitive");
        // A revoked token is refused at the next request (on any replica: a second one here).
        let second = TestServer::start_with(server.config.clone(), server.clock.clone()).await;
        let r = c
            .get(server.url("/api/v1/tokens"))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap();
        let tokens: serde_json::Value = r.json().await.unwrap();
        let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_owned();
        assert!(
            tokens.to_string().find(&alice.token).is_none(),
            "tokens are never listed"
        );
        let r = c
            .delete(second.url(&format!("/api/v1/tokens/{token_id}")))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        for s in [&server, &second] {
            let r = c
                .get(s.url(&format!("/api/v1/messages/{id}")))
                .header("authorization", alice.auth())
                .send()
                .await
                .unwrap();
            assert_eq!(problem(r).await.0, 401);
        }
        // Recipient-side: a release for another message's recipient never works.
        let rid = carol.public().rid().to_text();
        assert!(
            messages::release_share(&server.services, "AAAAAAAAAAAAAAAAAAAAAA", &rid, serde_json::json!({}))
                .await
                .is_err()
        );
        second.stop().await;
        server.stop().await;
        storage.cleanup().await;
    }
}

#[path = "support/s3.rs"]
mod s3;

/// The same lifecycle with payloads in an S3-compatible store (multipart uploads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_s3_multipart() {
    let Some(target) = s3::s3_target().await else { return };
    let storage = Storage::new(Backend::Sqlite).await;
    let part = 5 * 1024 * 1024;
    let mut config = storage.config(part);
    config.storage.blob_url = Some(target.blob_url());
    config.storage.s3_endpoint = Some(target.endpoint.clone());
    config.storage.s3_region = target.region.clone();
    config.storage.s3_access_key_id = Some(sealpost_server::config::Secret::new(target.access_key_id.clone()));
    config.storage.s3_secret_access_key = Some(sealpost_server::config::Secret::new(target.secret_access_key.clone()));
    config.storage.s3_allow_http = target.allow_http;
    let server = TestServer::start_with(config, sealpost_server::clock::ManualClock::new(T0)).await;
    assert_eq!(server.services.blobs.backend_name(), "s3");
    let alice = actor(
        &server,
        "council",
        "alice@council.example",
        &[Role::Sender],
        &[Scope::Send, Scope::Read],
        true,
    )
    .await;
    let bob = actor(
        &server,
        "council",
        "bob@council.example",
        &[Role::Sender],
        &[Scope::Read],
        true,
    )
    .await;
    let data: Vec<u8> = (0..(11 * 1024 * 1024 + 5)).map(|i| (i % 253) as u8).collect();
    let built = build(&alice, &[To::Account(&bob)], &[&data], T0, 7);
    let st = send(&server, &alice, &built).await;
    assert_eq!(st["state"], "sealed");
    let id = built.id();
    let got = client()
        .get(server.url(&format!("/api/v1/messages/{id}/payloads/1/content")))
        .header("authorization", alice.auth())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == built.sealed.payloads[1].as_slice());
    let r = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .delete(server.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", alice.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let report = sealpost_server::domain::sweeper::sweep_once(&server.services, 48)
        .await
        .unwrap();
    assert_eq!(report.blobs_deleted, 3);
    assert!(
        server
            .services
            .blobs
            .size(&messages::payload_key(&id, 1).unwrap())
            .await
            .is_err()
    );
    server.stop().await;
    storage.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_users_and_tokens_over_the_api() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let admin = actor(
            &server,
            "council",
            "admin@council.example",
            &[Role::Admin],
            &[Scope::Admin, Scope::Read],
            false,
        )
        .await;
        let c = client();
        // Create a sender, list users, mint a token for the sender, use it.
        let r = c
            .post(server.url("/api/v1/users"))
            .header("authorization", admin.auth())
            .json(&serde_json::json!({"address": "New.Sender@Council.example", "roles": ["sender"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let user: serde_json::Value = r.json().await.unwrap();
        assert_eq!(user["address"], "new.sender@council.example");
        let r = c
            .post(server.url("/api/v1/users"))
            .header("authorization", admin.auth())
            .json(&serde_json::json!({"address": "new.sender@council.example", "roles": ["sender"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "user_exists");
        let r = c
            .post(server.url("/api/v1/users"))
            .header("authorization", admin.auth())
            .json(&serde_json::json!({"address": "x@council.example", "roles": ["root"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "invalid_roles");
        let r = c
            .post(server.url("/api/v1/users"))
            .header("authorization", admin.auth())
            .json(&serde_json::json!({"address": "not an address", "roles": ["sender"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.1["code"], "invalid_address");
        let r = c
            .get(server.url("/api/v1/users"))
            .header("authorization", admin.auth())
            .send()
            .await
            .unwrap();
        let users: serde_json::Value = r.json().await.unwrap();
        assert_eq!(users["users"].as_array().unwrap().len(), 2);
        let r = c.post(server.url("/api/v1/tokens")).header("authorization", admin.auth()).json(&serde_json::json!({"name": "laptop", "scopes": ["send", "read", "keys"], "user": "new.sender@council.example", "expires_in_days": 30})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let minted: serde_json::Value = r.json().await.unwrap();
        let token = minted["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("sp_") && token.len() == 46);
        assert!(minted["info"]["expires_at"].is_string());
        let r = c
            .get(server.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let me: serde_json::Value = r.json().await.unwrap();
        assert_eq!(me["user"]["address"], "new.sender@council.example");
        assert_eq!(me["token_scopes"], serde_json::json!(["keys", "read", "send"]));
        // The new sender cannot administer; the admin sees and revokes the token.
        let r = c
            .get(server.url("/api/v1/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 403);
        let r = c
            .get(server.url("/api/v1/tokens"))
            .header("authorization", admin.auth())
            .send()
            .await
            .unwrap();
        let tokens: serde_json::Value = r.json().await.unwrap();
        let listed = tokens["tokens"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(!tokens.to_string().contains(&token));
        let id = listed.iter().find(|t| t["name"] == "laptop").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = c
            .delete(server.url(&format!("/api/v1/tokens/{id}")))
            .header("authorization", admin.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = c
            .delete(server.url(&format!("/api/v1/tokens/{id}")))
            .header("authorization", admin.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 404);
        let r = c
            .get(server.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 401);
        // Key publication: a key blob must match the keys; the directory answers only for keys.
        let r = c
            .get(server.url("/api/v1/directory/new.sender@council.example"))
            .header("authorization", admin.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(problem(r).await.0, 404);
        server.stop().await;
        storage.cleanup().await;
    }
}

#[test]
fn migrations_are_same_named_twins() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite,
        names("postgres"),
        "every migration needs its twin, with the same name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_key_blobs_are_published_and_checked() {
    use sealpost_crypto::keyblob::{KdfParams, UserKeys};
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let user = actor(
            &server,
            "hospital",
            "ward@hospital.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Keys],
            false,
        )
        .await;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let keys = UserKeys::generate(&mut rng);
        let params = KdfParams {
            m_kib: KdfParams::MIN_M_KIB,
            t: KdfParams::MIN_T,
            p: 1,
        };
        let (blob, login) = keys.seal("correct horse battery staple", params, &mut rng).unwrap();
        let x = sealpost_crypto::b64::encode(&keys.encryption_public().0);
        let e = sealpost_crypto::b64::encode(&keys.signing_public());
        let c = client();
        let put = |body: serde_json::Value| {
            c.put(server.url("/api/v1/me/keys"))
                .header("authorization", user.auth())
                .json(&body)
                .send()
        };
        // Blob without login key; blob for other keys; weak parameters.
        let (s, p) = problem(
            put(serde_json::json!({"x25519_pk": x, "ed25519_pk": e, "keyblob": blob}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((s, p["code"].as_str().unwrap()), (400, "invalid_keyblob"));
        let other = sealpost_crypto::b64::encode(&[9u8; 32]);
        let (_, p) = problem(put(serde_json::json!({"x25519_pk": other, "ed25519_pk": e, "keyblob": blob, "login_key": login.to_text().as_str()})).await.unwrap()).await;
        assert_eq!(p["code"], "invalid_keyblob");
        let mut weak = serde_json::to_value(&blob).unwrap();
        weak["kdf"]["t"] = 1.into();
        let (_, p) = problem(put(serde_json::json!({"x25519_pk": x, "ed25519_pk": e, "keyblob": weak, "login_key": login.to_text().as_str()})).await.unwrap()).await;
        assert_eq!(p["code"], "invalid_keyblob");
        let (_, p) = problem(
            put(serde_json::json!({"x25519_pk": "short", "ed25519_pk": e}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(p["code"], "invalid_key");
        // The real thing.
        let r = put(serde_json::json!({"x25519_pk": x, "ed25519_pk": e, "keyblob": blob, "login_key": login.to_text().as_str()})).await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let (stored_blob, hash) =
            sealpost_server::db::accounts::keyblob_by_address(server.services.db.pool(), "ward@hospital.example")
                .await
                .unwrap()
                .unwrap();
        let login_bytes: [u8; 32] = sealpost_crypto::b64::decode_array(login.to_text().as_str()).unwrap();
        assert_eq!(
            hash,
            sealpost_server::domain::accounts::login_key_hash(&login_bytes).to_vec()
        );
        assert!(
            !stored_blob.contains(login.to_text().as_str()),
            "the login key itself is never stored"
        );
        let r = c
            .get(server.url("/api/v1/directory/ward@hospital.example"))
            .header("authorization", user.auth())
            .send()
            .await
            .unwrap();
        let found: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (
                found["x25519_pk"].as_str().unwrap(),
                found["ed25519_pk"].as_str().unwrap()
            ),
            (x.as_str(), e.as_str())
        );
        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_times_out_with_a_problem() {
    let storage = Storage::new(Backend::Sqlite).await;
    let mut config = storage.config(PART);
    config.server.request_timeout_secs = 1;
    let server = TestServer::start_with(config, sealpost_server::clock::ManualClock::new(T0)).await;
    let alice = actor(
        &server,
        "council",
        "alice@council.example",
        &[Role::Sender],
        &[Scope::Send, Scope::Read],
        true,
    )
    .await;
    let bob = actor(
        &server,
        "council",
        "bob@council.example",
        &[Role::Sender],
        &[Scope::Read],
        true,
    )
    .await;
    let data = vec![7u8; 100_000];
    let built = build(&alice, &[To::Account(&bob)], &[&data], T0, 7);
    let r = client()
        .post(server.url("/api/v1/messages"))
        .header("authorization", alice.auth())
        .json(&built.create_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let part = built.sealed.payloads[1][..PART as usize].to_vec();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(part[..1000].to_vec())).await.unwrap();
    let mut rx = rx;
    let body = reqwest::Body::wrap_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let r = client()
        .put(server.url(&format!("/api/v1/messages/{}/payloads/1/parts/0", built.id())))
        .header("authorization", alice.auth())
        .header("content-digest", digest(&part))
        .header("content-length", part.len())
        .body(body)
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!((s, p["code"].as_str().unwrap()), (408, "request_timeout"));
    drop(tx);
    server.stop().await;
}
