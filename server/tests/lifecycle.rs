//! Lifecycle under concurrency and time: revoke racing releases, parallel uploads, expiry and
//! scheduled revocation swept once across two replicas, quotas and database-kept rate limits.

#[path = "support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use harness::*;
use sealpost_server::domain::{DomainError, Role, Scope, messages, sweeper};

const PART: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_racing_releases_never_releases_after_the_revoke() {
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
        let bob = actor(
            &server,
            "council",
            "bob@council.example",
            &[Role::Sender],
            &[Scope::Read],
            true,
        )
        .await;
        for round in 0..5 {
            let built = build(&alice, &[To::Account(&bob)], &[b"race"], T0, 7);
            send(&server, &alice, &built).await;
            let id = built.id();
            let rid = bob.public().rid().to_text();
            let revoked = Arc::new(AtomicBool::new(false));
            let after = Arc::new(AtomicU64::new(0));
            let ok = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (svc, id, rid, revoked, after, ok) = (
                    server.services.clone(),
                    id.clone(),
                    rid.clone(),
                    revoked.clone(),
                    after.clone(),
                    ok.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    for _ in 0..10 {
                        let revoked_before = revoked.load(Ordering::SeqCst);
                        match messages::release_share(&svc, &id, &rid, serde_json::json!({})).await {
                            Ok(_) => {
                                ok.fetch_add(1, Ordering::SeqCst);
                                if revoked_before {
                                    after.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            Err(DomainError::Ended(_)) => {}
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                }));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5 * round)).await;
            let r = reqwest::Client::new()
                .post(server.url(&format!("/api/v1/messages/{id}/revoke")))
                .header("authorization", alice.auth())
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            revoked.store(true, Ordering::SeqCst);
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(
                after.load(Ordering::SeqCst),
                0,
                "a share was released after the revoke was acknowledged"
            );
            // Every release that happened is in the record, and the counter agrees.
            sealpost_server::domain::transparency::integrate(&server.services)
                .await
                .unwrap();
            let events = sealpost_server::db::ops::message_events(server.services.db.pool(), &id)
                .await
                .unwrap();
            let released = events.iter().filter(|e| e.kind == "share.released").count() as u64;
            assert_eq!(released, ok.load(Ordering::SeqCst));
            let st = messages::status(&server.services, &principal(&server, &alice).await, &id)
                .await
                .unwrap();
            assert_eq!(st.recipients[0].releases, released);
            assert_eq!(st.state, "revoked");
        }
        server.stop().await;
        storage.cleanup().await;
    }
}

async fn principal(server: &TestServer, a: &Actor) -> sealpost_server::domain::Principal {
    sealpost_server::domain::accounts::authenticate(&server.services, &a.token)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_parallel_uploads() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = Arc::new(TestServer::start(&storage, PART).await);
        let alice = Arc::new(
            actor(
                &server,
                "council",
                "alice@council.example",
                &[Role::Sender],
                &[Scope::Send, Scope::Read],
                true,
            )
            .await,
        );
        let bob = actor(
            &server,
            "council",
            "bob@council.example",
            &[Role::Sender],
            &[Scope::Read],
            true,
        )
        .await;
        let mut tasks = Vec::new();
        let mut expected = Vec::new();
        for i in 0..12u8 {
            let data: Vec<u8> = (0..(150_000 + usize::from(i) * 1000))
                .map(|j| (j as u8).wrapping_mul(i))
                .collect();
            let built = build(&alice, &[To::Account(&bob)], &[&data], T0, 7);
            expected.push((built.id(), built.sealed.payloads[1].clone()));
            let (server, alice) = (server.clone(), alice.clone());
            tasks.push(tokio::spawn(async move {
                send(&server, &alice, &built).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let c = reqwest::Client::new();
        for (id, payload) in expected {
            let got = c
                .get(server.url(&format!("/api/v1/messages/{id}/payloads/1/content")))
                .header("authorization", alice.auth())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert!(got.as_ref() == payload.as_slice());
        }
        let me = sealpost_server::domain::accounts::me(&server.services, &principal(&server, &alice).await)
            .await
            .unwrap();
        assert_eq!(me.0.used_messages, 12);
        Arc::try_unwrap(server).ok().unwrap().stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_scheduled_revocation_are_swept_once_across_replicas() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        // A second replica on the same database and store, sharing the clock.
        let replica = TestServer::start_with(server.config.clone(), server.clock.clone()).await;
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
        let guest =
            sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let expiring = build(&alice, &[To::Account(&bob)], &[b"one day"], T0, 1);
        let scheduled = build(
            &alice,
            &[To::Account(&bob), To::Guest(guest.public(), "+31612345678")],
            &[b"later"],
            T0,
            7,
        );
        send(&server, &alice, &expiring).await;
        send(&replica, &alice, &scheduled).await;
        let c = reqwest::Client::new();
        let rid_bob = bob.public().rid().to_text();
        let rid_guest = guest.public().rid().to_text();
        // Revoke the guest in 2 hours and the whole message in 3 days.
        let at = |ms: i64| sealpost_server::clock::to_rfc3339(T0 + ms);
        for (body, expect) in [
            (
                serde_json::json!({"recipient": rid_guest, "at": at(2 * 3_600_000)}),
                200,
            ),
            (serde_json::json!({"at": at(3 * 86_400_000)}), 200),
            (serde_json::json!({"at": at(30 * 86_400_000)}), 400),
        ] {
            let r = c
                .post(server.url(&format!("/api/v1/messages/{}/revoke", scheduled.id())))
                .header("authorization", alice.auth())
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), expect, "{}", r.text().await.unwrap());
        }
        assert!(
            messages::release_share(&server.services, &scheduled.id(), &rid_guest, serde_json::json!({}))
                .await
                .is_ok()
        );

        // Past the guest's time: no release even before any sweep; then one replica sweeps it.
        server.clock.advance(2 * 3_600_000 + 1);
        assert!(matches!(
            messages::release_share(&server.services, &scheduled.id(), &rid_guest, serde_json::json!({})).await,
            Err(DomainError::Ended(_))
        ));
        assert!(
            messages::release_share(&replica.services, &scheduled.id(), &rid_bob, serde_json::json!({}))
                .await
                .is_ok()
        );
        let (a, b) = tokio::join!(
            sweeper::sweep_once(&server.services, 48),
            sweeper::sweep_once(&replica.services, 48)
        );
        assert_eq!(a.unwrap().recipients_revoked + b.unwrap().recipients_revoked, 1);

        // Past one day: the first message expired (410 for everything, state expired) — swept once.
        server.clock.advance(86_400_000);
        assert!(matches!(
            messages::release_share(&replica.services, &expiring.id(), &rid_bob, serde_json::json!({})).await,
            Err(DomainError::Ended(_))
        ));
        let st: serde_json::Value = c
            .get(replica.url(&format!("/api/v1/messages/{}", expiring.id())))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["state"], "expired");
        // Lists filter on the state as of now, before any sweep.
        for (filter, expected) in [("expired", vec![expiring.id()]), ("sealed", vec![scheduled.id()])] {
            let list: serde_json::Value = c
                .get(server.url(&format!("/api/v1/messages?state={filter}")))
                .header("authorization", alice.auth())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ids: Vec<String> = list["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids, expected, "state={filter}");
        }
        let (a, b) = tokio::join!(
            sweeper::sweep_once(&server.services, 48),
            sweeper::sweep_once(&replica.services, 48)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.ended + b.ended, 1, "each expired message is ended exactly once");
        let events = sealpost_server::db::ops::message_events(server.services.db.pool(), &expiring.id())
            .await
            .unwrap();
        assert_eq!(events.iter().filter(|e| e.kind == "message.expired").count(), 1);
        let shares: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recipients WHERE message_id = $1 AND share_ct IS NOT NULL")
                .bind(expiring.id())
                .fetch_one(server.services.db.pool())
                .await
                .unwrap();
        assert_eq!(shares, 0);

        // Past three days: the scheduled whole-message revocation.
        server.clock.advance(2 * 86_400_000);
        let (a, b) = tokio::join!(
            sweeper::sweep_once(&server.services, 48),
            sweeper::sweep_once(&replica.services, 48)
        );
        assert_eq!(a.unwrap().ended + b.unwrap().ended, 1);
        let st: serde_json::Value = c
            .get(server.url(&format!("/api/v1/messages/{}", scheduled.id())))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["state"], "revoked");
        // Changing the expiry of an ended message is refused with 410.
        let r = c
            .patch(server.url(&format!("/api/v1/messages/{}", scheduled.id())))
            .header("authorization", alice.auth())
            .json(&serde_json::json!({"expires_at": at(5 * 86_400_000)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 410);
        // Blobs of both are gone after the sweeps; quota is back to zero.
        assert_eq!(
            sealpost_server::db::ops::pending_deletions(server.services.db.pool())
                .await
                .unwrap(),
            0
        );
        let me = sealpost_server::domain::accounts::me(&server.services, &principal(&server, &alice).await)
            .await
            .unwrap();
        assert_eq!((me.0.used_bytes, me.0.used_messages), (0, 0));
        replica.stop().await;
        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_rate_limits_live_in_the_database() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let mut config = storage.config(PART);
        config.limits.sender_quota_messages = 2;
        config.limits.token_requests_per_minute = 30;
        let server = TestServer::start_with(config.clone(), sealpost_server::clock::ManualClock::new(T0)).await;
        let replica = TestServer::start_with(config, server.clock.clone()).await;
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
        let c = reqwest::Client::new();
        let mut ids = Vec::new();
        for i in 0..3 {
            let built = build(&alice, &[To::Account(&bob)], &[b"q"], T0, 7);
            let target = if i % 2 == 0 { &server } else { &replica };
            let r = c
                .post(target.url("/api/v1/messages"))
                .header("authorization", alice.auth())
                .json(&built.create_body)
                .send()
                .await
                .unwrap();
            if i < 2 {
                assert_eq!(r.status(), 201);
                ids.push(built.id());
            } else {
                assert_eq!(r.status(), 507);
                let p: serde_json::Value = r.json().await.unwrap();
                assert_eq!(p["code"], "quota_exceeded");
            }
        }
        // Deleting a draft gives its quota back.
        let r = c
            .delete(server.url(&format!("/api/v1/messages/{}", ids[0])))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = c
            .get(replica.url(&format!("/api/v1/messages/{}", ids[0])))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let built = build(&alice, &[To::Account(&bob)], &[b"q"], T0, 7);
        let r = c
            .post(replica.url("/api/v1/messages"))
            .header("authorization", alice.auth())
            .json(&built.create_body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);

        // The per-token limit is shared by both replicas: 30 per minute in total.
        let mut limited = None;
        for i in 0..40 {
            let target = if i % 2 == 0 { &server } else { &replica };
            let r = c
                .get(target.url("/api/v1/me"))
                .header("authorization", alice.auth())
                .send()
                .await
                .unwrap();
            if r.status() == 429 {
                assert!(r.headers().contains_key("retry-after"));
                limited = Some(i);
                break;
            }
        }
        let limited = limited.expect("the rate limit never applied");
        assert!(limited <= 30, "limited only after {limited} requests");
        // A new window lets the token in again.
        server.clock.advance(60_000);
        let r = c
            .get(server.url("/api/v1/me"))
            .header("authorization", alice.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        replica.stop().await;
        server.stop().await;
        storage.cleanup().await;
    }
}
