//! Recipient access over HTTP: the link, SMS codes, TOTP with password, sessions and release —
//! on SQLite, and on PostgreSQL when it is reachable.

#[path = "support/harness.rs"]
mod harness;

use harness::*;
use sealpost_crypto::b64;
use sealpost_crypto::keyblob::{KdfParams, KdfSpec, UserKeys};
use sealpost_crypto::message::Envelope;
use sealpost_crypto::recipient::{MessageId, RecipientSecretKey};
use sealpost_crypto::secrets::{ServerShare, SymmetricKey};
use sealpost_server::clock::{Clock, ManualClock};
use sealpost_server::domain::{Role, Scope};
use serde_json::{Value, json};

const PART: u64 = 64 * 1024;
const PHONE: &str = "+447700900123";

struct Guest {
    built: Built,
    link_key: RecipientSecretKey,
    access_id: String,
    link: String,
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

async fn send_to_guest(server: &TestServer, alice: &Actor, attachment: &[u8]) -> Guest {
    send_to_guest_limited(server, alice, attachment, None).await
}

async fn send_to_guest_limited(server: &TestServer, alice: &Actor, attachment: &[u8], max_opens: Option<u32>) -> Guest {
    let link_key = RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let built = build_limited(
        alice,
        &[To::Guest(link_key.public(), PHONE)],
        &[attachment],
        server.clock.now_ms(),
        7,
        max_opens,
    );
    let status = send(server, alice, &built).await;
    let r = &status["recipients"][0];
    Guest {
        access_id: r["access_id"].as_str().unwrap().to_owned(),
        link: r["link"].as_str().unwrap().to_owned(),
        built,
        link_key,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    http(method, server.url(path), session, body).await
}

fn outbox(server: &TestServer) -> Vec<sealpost_server::sms::OutboxEntry> {
    let path = server.config.sms.outbox_path(&server.config.storage.data_dir);
    sealpost_server::sms::read_outbox(&path).unwrap_or_default()
}

/// The code in the newest text message.
fn last_code(server: &TestServer) -> String {
    let text = outbox(server).last().expect("a text message").text.clone();
    let digits: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit code")
        .to_owned();
    digits
}

async fn events(server: &TestServer, alice: &Actor, id: &str) -> Vec<String> {
    let r = client()
        .get(server.url(&format!("/api/v1/messages/{id}/events")))
        .header("authorization", alice.auth())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn recipient_status(server: &TestServer, alice: &Actor, id: &str) -> Value {
    let r = client()
        .get(server.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", alice.auth())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    v["recipients"][0].clone()
}

async fn verified_session(server: &TestServer, g: &Guest) -> String {
    let (s, v) = call(
        server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/code", g.access_id),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let code = last_code(server);
    let (s, v) = call(
        server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/verify", g.access_id),
        None,
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["session"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_opens_with_an_sms_code_and_scanners_change_nothing() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let alice = sender(&server).await;
        let attachment: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let g = send_to_guest(&server, &alice, &attachment).await;
        let id = g.built.id();
        assert!(g.link.ends_with(&format!("/r/{}", g.access_id)), "{}", g.link);

        // A scanner: GET and HEAD of the link, GET of the link's info. Nothing acts.
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let r = client().request(method.clone(), &g.link).send().await.unwrap();
            assert_eq!(r.status(), 200, "{method}");
            assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        }
        let (s, info) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/access/{}", g.access_id),
            None,
            None,
        )
        .await;
        assert_eq!(s, 200, "{info}");
        assert_eq!(info["state"], "active");
        assert_eq!(info["verification"], "sms");
        assert_eq!(info["phone_hint"], "•••• 0123");
        assert_eq!(info["message_id"], id);
        assert!(outbox(&server).is_empty(), "a GET sent a code");
        let kinds = events(&server, &alice, &id).await;
        assert_eq!(kinds.iter().filter(|k| *k == "link.fetched").count(), 2, "{kinds:?}");
        assert!(
            !kinds.iter().any(|k| k.starts_with("share.") || k.starts_with("code.")),
            "{kinds:?}"
        );
        assert_eq!(recipient_status(&server, &alice, &id).await["releases"], 0);

        // Nothing without a session.
        for path in ["envelope", "payloads/0"] {
            let (s, _) = call(
                &server,
                reqwest::Method::GET,
                &format!("/api/v1/access/{}/{path}", g.access_id),
                None,
                None,
            )
            .await;
            assert_eq!(s, 401, "{path}");
        }
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{}/release", g.access_id),
            Some("spa_forged"),
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 401, "{v}");

        // A code, a wrong entry, then the right one.
        let (s, sent) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{}/code", g.access_id),
            None,
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 202, "{sent}");
        assert_eq!(sent["sent_to"], "•••• 0123");
        let entries = outbox(&server);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].to, PHONE);
        let code = last_code(&server);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{}/verify", g.access_id),
            None,
            Some(json!({ "code": wrong })),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (403, Some("wrong_code")), "{v}");
        assert_eq!(v["attempts_left"], 4);
        let (s, grant) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{}/verify", g.access_id),
            None,
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!(s, 200, "{grant}");
        let session = grant["session"].as_str().unwrap().to_owned();
        assert!(session.starts_with("spa_"));
        // The code is accepted once.
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{}/verify", g.access_id),
            None,
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (409, Some("no_code")), "{v}");

        // Envelope, release, payloads — then decrypt exactly as the page does.
        let (s, env) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/access/{}/envelope", g.access_id),
            Some(&session),
            None,
        )
        .await;
        assert_eq!(s, 200, "{env}");
        assert_eq!(env["sender"]["address"], "alice@gp.example");
        let header = b64::decode(env["header"].as_str().unwrap()).unwrap();
        let sender_pk: [u8; 32] = b64::decode_array(env["sender"]["ed25519_pk"].as_str().unwrap()).unwrap();
        let envelope = Envelope::verify(
            &MessageId::from_text(&id).unwrap(),
            &header,
            env["seal"].as_str().unwrap(),
            &sender_pk,
        )
        .unwrap();
        assert!(envelope.policy_matches(env["policy"].as_str().unwrap().as_bytes()));
        let opened = envelope.open_share(&g.link_key).unwrap();
        assert_eq!(
            recipient_status(&server, &alice, &id).await["releases"],
            0,
            "reading the envelope is not opening"
        );
        let (s, rel) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{}/release", g.access_id),
            Some(&session),
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 200, "{rel}");
        assert_eq!(rel["releases"], 1);
        let share: [u8; 32] = b64::decode_array(rel["share"].as_str().unwrap()).unwrap();
        let message = envelope.unlock(&opened, &ServerShare::from_bytes(share)).unwrap();
        let get = |idx: usize, range: Option<&str>| {
            let mut req = client()
                .get(server.url(&format!("/api/v1/access/{}/payloads/{idx}", g.access_id)))
                .header("authorization", format!("Bearer {session}"));
            if let Some(r) = range {
                req = req.header("range", r);
            }
            req.send()
        };
        let manifest_bytes = get(0, None).await.unwrap().bytes().await.unwrap();
        let manifest = message.manifest(&manifest_bytes).unwrap();
        assert_eq!(manifest.subject, "subject");
        let r = get(1, Some("bytes=100-")).await.unwrap();
        assert_eq!(r.status(), 206);
        let tail = r.bytes().await.unwrap();
        let head = get(1, Some("bytes=0-99")).await.unwrap().bytes().await.unwrap();
        let whole = [head.as_ref(), tail.as_ref()].concat();
        assert_eq!(whole, g.built.sealed.payloads[1]);
        assert_eq!(message.decrypt_payload(1, &whole).unwrap(), attachment);

        // A long download is many range requests: a session is not held to the per-IP limit
        // of unauthenticated calls (300 a minute by default).
        let limit = server.config.limits.ip_requests_per_minute as usize;
        for k in 0..limit + 20 {
            let r = get(1, Some(&format!("bytes={k}-{k}"))).await.unwrap();
            assert_eq!(r.status(), 206, "range request {k}");
        }

        let status = recipient_status(&server, &alice, &id).await;
        assert_eq!(status["releases"], 1);
        assert_eq!(status["failed_attempts"], 1);
        assert_eq!(status["locked"], false);
        let kinds = events(&server, &alice, &id).await;
        for k in [
            "code.sent",
            "verification.failed",
            "verification.passed",
            "share.released",
        ] {
            assert!(kinds.iter().any(|e| e == k), "{k} missing from {kinds:?}");
        }
        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_expire_resends_are_throttled_and_failures_lock_across_codes() {
    let storage = Storage::new(Backend::Sqlite).await;
    let mut config = storage.config(PART);
    config.access.max_failures_per_code = 3;
    config.access.max_failures_per_recipient = 5;
    let server = TestServer::start_with(config, ManualClock::new(T0)).await;
    let alice = sender(&server).await;
    let g = send_to_guest(&server, &alice, b"x").await;
    let id = g.built.id();
    let code_path = format!("/api/v1/access/{}/code", g.access_id);
    let verify_path = format!("/api/v1/access/{}/verify", g.access_id);

    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &verify_path,
        None,
        Some(json!({ "code": "123456" })),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("no_code")), "{v}");
    assert_eq!(
        call(&server, reqwest::Method::POST, &code_path, None, Some(json!({})))
            .await
            .0,
        202
    );
    let (s, v) = call(&server, reqwest::Method::POST, &code_path, None, Some(json!({}))).await;
    assert_eq!((s, v["code"].as_str()), (429, Some("resend_too_soon")), "{v}");

    // A code expires after ten minutes.
    let first = last_code(&server);
    server.clock.advance(10 * 60_000 + 1);
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &verify_path,
        None,
        Some(json!({ "code": first })),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("code_expired")), "{v}");

    // Three wrong entries void a code; a new code does not reset the recipient's count.
    assert_eq!(
        call(&server, reqwest::Method::POST, &code_path, None, Some(json!({})))
            .await
            .0,
        202
    );
    let code = last_code(&server);
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for left in [2, 1] {
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &verify_path,
            None,
            Some(json!({ "code": wrong })),
        )
        .await;
        assert_eq!((s, v["attempts_left"].as_u64()), (403, Some(left)), "{v}");
    }
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &verify_path,
        None,
        Some(json!({ "code": wrong })),
    )
    .await;
    assert_eq!((s, v["attempts_left"].as_u64()), (403, Some(0)), "{v}");
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &verify_path,
        None,
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("no_code")),
        "a void code must not verify: {v}"
    );
    server.clock.advance(31_000);
    assert_eq!(
        call(&server, reqwest::Method::POST, &code_path, None, Some(json!({})))
            .await
            .0,
        202
    );
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &verify_path,
        None,
        Some(json!({ "code": wrong })),
    )
    .await;
    assert_eq!((s, v["attempts_left"].as_u64()), (403, Some(1)), "{v}");
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &verify_path,
        None,
        Some(json!({ "code": wrong })),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (423, Some("locked")), "{v}");

    // Locked: the right code, new codes and the info all say so; the sender sees it.
    let (s, _) = call(&server, reqwest::Method::POST, &code_path, None, Some(json!({}))).await;
    assert_eq!(s, 423);
    let (_, info) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/v1/access/{}", g.access_id),
        None,
        None,
    )
    .await;
    assert_eq!(info["state"], "locked");
    let status = recipient_status(&server, &alice, &id).await;
    assert_eq!(
        (status["locked"].as_bool(), status["failed_attempts"].as_u64()),
        (Some(true), Some(5))
    );
    assert!(
        events(&server, &alice, &id)
            .await
            .iter()
            .any(|k| k == "recipient.locked")
    );

    // The sender checks with the recipient and lifts the lock; the count starts again.
    let rid = status["rid"].as_str().unwrap();
    let r = client()
        .post(server.url(&format!("/api/v1/messages/{id}/recipients/{rid}/unlock")))
        .header("authorization", alice.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(
        (
            after["recipients"][0]["locked"].as_bool(),
            after["recipients"][0]["failed_attempts"].as_u64()
        ),
        (Some(false), Some(0))
    );
    server.clock.advance(31_000);
    let session = verified_session(&server, &g).await;
    assert!(session.starts_with("spa_"));
    assert!(
        events(&server, &alice, &id)
            .await
            .iter()
            .any(|k| k == "recipient.unlocked")
    );
    // Nobody else may lift it.
    let mallory = actor(
        &server,
        "other-org",
        "mallory@other.example",
        &[Role::Sender],
        &[Scope::Send],
        true,
    )
    .await;
    let r = client()
        .post(server.url(&format!("/api/v1/messages/{id}/recipients/{rid}/unlock")))
        .header("authorization", mallory.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    server.stop().await;
    storage.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_ends_sessions_and_sms_caps_hold() {
    let storage = Storage::new(Backend::Sqlite).await;
    let mut config = storage.config(PART);
    config.access.resend_after_secs = 0;
    config.access.sms_per_number_per_hour = 2;
    let server = TestServer::start_with(config, ManualClock::new(T0)).await;
    let alice = sender(&server).await;
    let g = send_to_guest(&server, &alice, b"x").await;
    let session = verified_session(&server, &g).await;
    // The number's hourly cap, across messages.
    let g2 = send_to_guest(&server, &alice, b"y").await;
    assert_eq!(
        call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{}/code", g2.access_id),
            None,
            Some(json!({}))
        )
        .await
        .0,
        202
    );
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/code", g2.access_id),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (429, Some("sms_limit")), "{v}");
    assert_eq!(outbox(&server).len(), 2);

    // The sender revokes: the session opens nothing any more.
    let r = client()
        .post(server.url(&format!("/api/v1/messages/{}/revoke", g.built.id())))
        .header("authorization", alice.auth())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (method, path) in [
        (reqwest::Method::POST, "release"),
        (reqwest::Method::GET, "envelope"),
        (reqwest::Method::GET, "payloads/1"),
    ] {
        let body = (method == reqwest::Method::POST).then(|| json!({}));
        let (s, v) = call(
            &server,
            method,
            &format!("/api/v1/access/{}/{path}", g.access_id),
            Some(&session),
            body,
        )
        .await;
        // An ended link answers exactly as an unknown one (docs/api.md, Indistinguishability).
        assert_eq!((s, v["code"].as_str()), (404, Some("unknown_link")), "{path}: {v}");
    }
    let (s, info) = call(
        &server,
        reqwest::Method::GET,
        &format!("/api/v1/access/{}", g.access_id),
        None,
        None,
    )
    .await;
    assert_eq!((s, info["code"].as_str()), (404, Some("unknown_link")), "{info}");
    // An open limit: the second release is refused, and says why. (An hour later: the
    // number's SMS cap is per hour.)
    server.clock.advance(3_600_000);
    let g3 = send_to_guest_limited(&server, &alice, b"once", Some(1)).await;
    let session = verified_session(&server, &g3).await;
    let release = format!("/api/v1/access/{}/release", g3.access_id);
    assert_eq!(
        call(
            &server,
            reqwest::Method::POST,
            &release,
            Some(&session),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &release,
        Some(&session),
        Some(json!({})),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (410, Some("open_limit")), "{v}");

    let (s, v) = call(
        &server,
        reqwest::Method::GET,
        "/api/v1/access/AAAAAAAAAAAAAAAAAAAAAA",
        None,
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("unknown_link")), "{v}");
    // A page for an unknown link is the same page (the page asks the API).
    let r = client()
        .get(server.url("/r/AAAAAAAAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
    storage.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_recipient_signs_in_with_password_then_totp_once() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let alice = sender(&server).await;
        let bob = actor(
            &server,
            "hospital",
            "bob@hospital.example",
            &[Role::Sender],
            &[Scope::Read, Scope::Keys],
            false,
        )
        .await;
        let keys = UserKeys {
            encryption: RecipientSecretKey::from_bytes(*bob.encryption.expose_secret()),
            signing: SymmetricKey::from_bytes(*bob.signing_seed.expose_secret()),
        };
        let params = KdfParams {
            m_kib: KdfParams::MIN_M_KIB,
            t: KdfParams::MIN_T,
            p: 1,
        };
        let (blob, login) = keys
            .seal("correct horse", params, &mut rand_core::UnwrapErr(getrandom::SysRng))
            .unwrap();
        let r = client()
            .put(server.url("/api/v1/me/keys"))
            .header("authorization", bob.auth())
            .json(&json!({
                "x25519_pk": b64::encode(&keys.encryption_public().0),
                "ed25519_pk": b64::encode(&keys.signing_public()),
                "keyblob": serde_json::to_value(&blob).unwrap(),
                "login_key": login.to_text().as_str(),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

        // Enrol an authenticator app.
        let r = client()
            .post(server.url("/api/v1/me/totp"))
            .header("authorization", bob.auth())
            .send()
            .await
            .unwrap();
        let enrol: Value = r.json().await.unwrap();
        assert!(
            enrol["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/Sealpost:bob%40hospital.example?"),
            "{enrol}"
        );
        assert!(enrol["qr_svg"].as_str().unwrap().starts_with("<?xml"));
        let app = totp_rs::Totp::from_url(enrol["otpauth_uri"].as_str().unwrap()).unwrap();
        let now_secs = |s: &TestServer| (s.clock.now_ms() / 1000) as u64;
        let code = app.generate(now_secs(&server)).to_string();
        let r = client()
            .post(server.url("/api/v1/me/totp/confirm"))
            .header("authorization", bob.auth())
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        let confirmed: Value = r.json().await.unwrap();
        let recovery: Vec<String> = serde_json::from_value(confirmed["recovery_codes"].clone()).unwrap();
        assert_eq!(recovery.len(), 10);

        let built = build(&alice, &[To::Account(&bob)], &[b"for bob"], server.clock.now_ms(), 7);
        let status = send(&server, &alice, &built).await;
        let aid = status["recipients"][0]["access_id"].as_str().unwrap().to_owned();
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid}/code"),
            None,
            Some(json!({})),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (409, Some("wrong_method")), "{v}");

        // The client derives the login key from the prelogin parameters.
        let (s, pre) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/access/{aid}/prelogin"),
            None,
            None,
        )
        .await;
        assert_eq!(s, 200, "{pre}");
        assert!(pre.get("ct").is_none() && pre["kdf"].get("salt").is_some(), "{pre}");
        let kdf: KdfSpec = serde_json::from_value(pre["kdf"].clone()).unwrap();
        let wrong_key = kdf.derive("wrong horse").unwrap();
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid}/login"),
            None,
            Some(json!({ "login_key": wrong_key.login().to_text().as_str() })),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (403, Some("wrong_password")), "{v}");
        let login = |key: String| {
            let server = &server;
            let aid = aid.clone();
            async move {
                let (s, v) = call(
                    server,
                    reqwest::Method::POST,
                    &format!("/api/v1/access/{aid}/login"),
                    None,
                    Some(json!({ "login_key": key })),
                )
                .await;
                assert_eq!(s, 200, "{v}");
                assert_eq!(v["stage"], "password");
                v["session"].as_str().unwrap().to_owned()
            }
        };
        let right = kdf.derive("correct horse").unwrap().login().to_text().to_string();
        let pw_session = login(right.clone()).await;
        // A password session opens nothing by itself.
        let (s, _) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/access/{aid}/envelope"),
            Some(&pw_session),
            None,
        )
        .await;
        assert_eq!(s, 401);
        // The code used at enrolment is spent: the next step's code works, once.
        server.clock.advance(30_000);
        let code = app.generate(now_secs(&server)).to_string();
        let (s, grant) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid}/verify"),
            Some(&pw_session),
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!(s, 200, "{grant}");
        let session = grant["session"].as_str().unwrap().to_owned();
        let pw_session = login(right.clone()).await;
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid}/verify"),
            Some(&pw_session),
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (403, Some("wrong_code")),
            "a TOTP code replayed: {v}"
        );
        // A recovery code works once.
        let (s, v) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid}/verify"),
            Some(&pw_session),
            Some(json!({ "code": recovery[0].to_lowercase() })),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let pw_session = login(right).await;
        let (s, _) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid}/verify"),
            Some(&pw_session),
            Some(json!({ "code": recovery[0] })),
        )
        .await;
        assert_eq!(s, 403);

        // The key blob comes after verification; it opens with the password; the message opens.
        let (s, blob_json) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/access/{aid}/keyblob"),
            Some(&session),
            None,
        )
        .await;
        assert_eq!(s, 200, "{blob_json}");
        let blob: sealpost_crypto::keyblob::KeyBlob = serde_json::from_value(blob_json).unwrap();
        let (unlocked, _) = blob.open("correct horse").unwrap();
        let (_, env) = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/access/{aid}/envelope"),
            Some(&session),
            None,
        )
        .await;
        let header = b64::decode(env["header"].as_str().unwrap()).unwrap();
        let sender_pk: [u8; 32] = b64::decode_array(env["sender"]["ed25519_pk"].as_str().unwrap()).unwrap();
        let envelope =
            Envelope::verify(&built.sealed.msg_id, &header, env["seal"].as_str().unwrap(), &sender_pk).unwrap();
        let opened = envelope.open_share(&unlocked.encryption).unwrap();
        let (s, rel) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/access/{aid}/release"),
            Some(&session),
            Some(json!({})),
        )
        .await;
        assert_eq!(s, 200, "{rel}");
        let share: [u8; 32] = b64::decode_array(rel["share"].as_str().unwrap()).unwrap();
        let message = envelope.unlock(&opened, &ServerShare::from_bytes(share)).unwrap();
        assert_eq!(
            message.decrypt_payload(1, &built.sealed.payloads[1]).unwrap(),
            b"for bob"
        );
        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sms_provider_is_a_clear_error_and_leaves_no_code() {
    let storage = Storage::new(Backend::Sqlite).await;
    let mut config = storage.config(PART);
    // A Twilio-compatible provider on a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.sms.provider = sealpost_server::sms::SmsProvider::Twilio;
    config.sms.base_url = format!("http://127.0.0.1:{port}");
    config.sms.account_sid = Some("AC123".into());
    config.sms.auth_token = Some(sealpost_server::config::Secret::new("secret".to_owned()));
    config.sms.sender_id = Some("Sealpost".into());
    config.sms.max_attempts = 2;
    config.sms.retry_base_ms = 10;
    config.access.resend_after_secs = 0;
    let server = TestServer::start_with(config, ManualClock::new(T0)).await;
    let alice = sender(&server).await;
    let g = send_to_guest(&server, &alice, b"x").await;
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/code", g.access_id),
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (503, Some("sms_failed")), "{v}");
    assert!(!v.to_string().contains("secret"), "{v}");
    let (s, v) = call(
        &server,
        reqwest::Method::POST,
        &format!("/api/v1/access/{}/verify", g.access_id),
        None,
        Some(json!({ "code": "123456" })),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("no_code")),
        "an unsent code must not be verifiable: {v}"
    );
    server.stop().await;
    storage.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_session_count_against_the_ip_limit() {
    let storage = Storage::new(Backend::Sqlite).await;
    let mut config = storage.config(PART);
    config.limits.ip_requests_per_minute = 5;
    let server = TestServer::start_with(config, ManualClock::new(T0)).await;
    let path = "/api/v1/access/AAAAAAAAAAAAAAAAAAAAAA";
    for _ in 0..5 {
        assert_eq!(call(&server, reqwest::Method::GET, path, None, None).await.0, 404);
    }
    let (s, v) = call(&server, reqwest::Method::GET, path, None, None).await;
    assert_eq!((s, v["code"].as_str()), (429, Some("rate_limited")), "{v}");
    let r = client()
        .get(server.url("/r/AAAAAAAAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "link fetches count too");
    server.stop().await;
    storage.cleanup().await;
}
