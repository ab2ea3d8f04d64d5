//! The breach register (issue 8) on SQLite and (when reachable) PostgreSQL, with fixtures modelled
//! on ICO cases: a wrong recipient revoked before opening, a misdirected health message opened
//! before the revoke, and a newsletter with 780 recipients visible in To. Each asserts the
//! suggested outcome, the deadline and every export format; plus who may see and change the
//! register, its events in the proof log, and reminders by webhook and by mail.

#[path = "support/harness.rs"]
mod harness;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::*;
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::recipient::RecipientSecretKey;
use sealpost_crypto::tlog;
use sealpost_server::clock::{Clock, ManualClock, from_rfc3339};
use sealpost_server::config::Config;
use sealpost_server::domain::{Role, Scope, sweeper};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

const PART: u64 = 64 * 1024;
const HOUR: i64 = 3_600_000;
const RECORD: &str = "Record of a personal data breach (Art. 33(5))";
const LETTER: &str = "Draft letter to the people affected";
const NEVER: &str = "No wrong recipient ever received the key";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn call(
    server: &TestServer,
    who: &Actor,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    http(method, server.url(path), Some(&who.token), body).await
}

async fn get(server: &TestServer, who: &Actor, path: &str) -> (u16, Value) {
    call(server, who, reqwest::Method::GET, path, None).await
}

async fn post(server: &TestServer, who: &Actor, path: &str, body: Value) -> (u16, Value) {
    call(server, who, reqwest::Method::POST, path, Some(body)).await
}

/// The people of one test: a sender, the DPO, an admin (of "council"), a DPO of another
/// organisation, and a registered recipient elsewhere.
struct People {
    sender: Actor,
    dpo: Actor,
    admin: Actor,
    other_dpo: Actor,
    bob: Actor,
}

async fn people(server: &TestServer) -> People {
    let sender = actor(
        server,
        "council",
        "clerk@council.example",
        &[Role::Sender],
        &[Scope::Send, Scope::Read],
        true,
    )
    .await;
    let dpo = actor(
        server,
        "council",
        "dpo@council.example",
        &[Role::Dpo],
        &[Scope::Incidents, Scope::Read],
        false,
    )
    .await;
    let admin = actor(
        server,
        "council",
        "admin@council.example",
        &[Role::Admin],
        &[Scope::Incidents, Scope::Admin, Scope::Read],
        false,
    )
    .await;
    let other_dpo = actor(
        server,
        "hospital",
        "dpo@hospital.example",
        &[Role::Dpo],
        &[Scope::Incidents, Scope::Read],
        false,
    )
    .await;
    let bob = actor(
        server,
        "hospital",
        "bob@hospital.example",
        &[Role::Sender],
        &[Scope::Read],
        true,
    )
    .await;
    People {
        sender,
        dpo,
        admin,
        other_dpo,
        bob,
    }
}

async fn log_key(server: &TestServer) -> VerifierKey {
    let text = client()
        .get(server.url("/.well-known/sealpost/log-key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    VerifierKey::from_vkey(text.trim()).unwrap()
}

fn ms(text: &Value) -> i64 {
    from_rfc3339(text.as_str().unwrap_or_else(|| panic!("a time: {text}"))).unwrap()
}

/// The sms code in the newest text message.
fn last_code(server: &TestServer) -> String {
    let path = server.config.sms.outbox_path(&server.config.storage.data_dir);
    let text = sealpost_server::sms::read_outbox(&path)
        .unwrap()
        .last()
        .expect("a text message")
        .text
        .clone();
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit code")
        .to_owned()
}

/// A guest opens: SMS code, verification, release of the server share.
async fn guest_opens(server: &TestServer, access_id: &str) {
    let c = client();
    let r = c
        .post(server.url(&format!("/api/v1/access/{access_id}/code")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let code = last_code(server);
    let r = c
        .post(server.url(&format!("/api/v1/access/{access_id}/verify")))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let session = v["session"].as_str().unwrap().to_owned();
    let r = c
        .post(server.url(&format!("/api/v1/access/{access_id}/release")))
        .header("authorization", format!("Bearer {session}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Fetches an export: status, content type, disposition, bytes.
async fn export(server: &TestServer, who: &Actor, id: &str, format: &str) -> (u16, String, String, Vec<u8>) {
    let r = client()
        .get(server.url(&format!("/api/v1/incidents/{id}/export?format={format}")))
        .header("authorization", who.auth())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    (status, ct, cd, r.bytes().await.unwrap().to_vec())
}

/// The receipt as embedded in an export, written out as a file: it is the issued receipt,
/// byte for byte (its canonical form), so `sealpost verify` accepts it.
fn receipt_file(json_export: &str) -> String {
    let doc: sealpost_breach::IncidentDocument =
        serde_json::from_str(json_export).expect("the JSON export is a document");
    String::from_utf8(sealpost_breach::receipt_bytes(&doc)).expect("UTF-8")
}

/// Every export format: headings, the Art. 33(3) fields, the receipt; returns the JSON export.
async fn check_exports(server: &TestServer, dpo: &Actor, id: &str, authority: &str, never: bool) -> Value {
    let key = log_key(server).await;
    let mut texts = Vec::new();
    for (format, ct) in [
        ("md", "text/markdown"),
        ("html", "text/html"),
        ("json", "application/json"),
    ] {
        let (status, content_type, disposition, bytes) = export(server, dpo, id, format).await;
        assert_eq!(status, 200, "{format}: {}", String::from_utf8_lossy(&bytes));
        assert!(content_type.starts_with(ct), "{content_type}");
        assert_eq!(disposition, format!("attachment; filename=\"incident-{id}.{format}\""));
        let mut text = String::from_utf8(bytes).unwrap();
        if format == "html" {
            text = text
                .replace("&#39;", "'")
                .replace("&#x27;", "'")
                .replace("&apos;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&");
        }
        if format == "json" {
            texts.push(text);
            continue;
        }
        for needle in [
            RECORD,
            &format!("Draft notification to the {authority}") as &str,
            LETTER,
            "Message receipt",
        ] {
            assert!(text.contains(needle), "{format} lacks {needle:?}");
        }
        {
            assert_eq!(text.contains(NEVER), never, "{format}: never-accessed statement");
            for field in [
                "(a) Nature of the breach",
                "(a) Approximate number of data subjects",
                "(a) Categories of personal data records",
                "(b) Data protection officer",
                "(c) Likely consequences",
                "(d) Measures taken or proposed",
            ] {
                assert!(text.contains(field), "{format} lacks {field}");
            }
        }
        texts.push(text);
    }
    let html = &texts[1];
    assert!(html.contains("id=\"receipt\"") && html.contains("id=\"sealpost-receipt\""));
    let doc: Value = serde_json::from_str(&texts[2]).unwrap();
    assert_eq!(doc["format"], "sealpost/incident/v1");
    assert_eq!(doc["incident_id"], id);
    assert_eq!(doc["never_accessed"], never);
    // The Art. 33(3) fields, as data.
    for field in [
        "cause",
        "nature",
        "data_categories",
        "subject_categories",
        "approx_subjects",
        "likely_consequences",
        "measures_taken",
        "measures_proposed",
    ] {
        assert!(doc["facts"].get(field).is_some(), "facts.{field}");
    }
    for field in [
        "exposures",
        "enisa",
        "suggestion",
        "decision",
        "notifications",
        "updates",
        "deadline_at",
        "aware_at",
        "controller",
    ] {
        assert!(doc.get(field).is_some(), "{field}");
    }
    assert!(doc["authority"].as_str().unwrap().contains(authority));
    let verified = tlog::verify_receipt(&receipt_file(&texts[2]), &key, &[]).expect("the receipt verifies");
    assert_eq!(verified.message_id, doc["message"]["id"].as_str().unwrap());

    let (status, content_type, _, pdf) = export(server, dpo, id, "pdf").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/pdf");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let raw = String::from_utf8_lossy(&pdf);
    assert!(raw.contains("receipt.json"), "the receipt is an embedded file");
    assert!(raw.contains("EmbeddedFiles"));

    let (status, body) = get(server, dpo, &format!("/api/v1/incidents/{id}/export?format=docx")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_format");
    doc
}

/// Kinds of the organisation's events in the proof log.
async fn org_kinds(server: &TestServer, reader: &Actor) -> Vec<String> {
    let export = client()
        .get(server.url("/api/v1/log/export"))
        .header("authorization", reader.auth())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    export
        .lines()
        .skip(1)
        .map(|l| {
            let e: tlog::ProvenEntry = serde_json::from_str(l).unwrap();
            let entry = tlog::LogEntry::parse(&STANDARD.decode(e.leaf).unwrap()).unwrap();
            if entry.kind.starts_with("incident.") {
                let detail: Value = serde_json::from_str(entry.detail.as_deref().unwrap()).unwrap();
                assert!(
                    detail["incident"].is_string() && detail["sha256"].is_string(),
                    "{detail}"
                );
            }
            entry.kind
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_recipient_revoked_before_opening_is_record_only() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let p = people(&server).await;
        let now = server.clock.now_ms();
        let built = build(&p.sender, &[To::Account(&p.bob)], &[b"council tax letter"], now, 7);
        send(&server, &p.sender, &built).await;
        let id = built.id();
        let rid = p.bob.public().rid().to_text();

        // Revoked "sent in error" before anyone opened it: the incident opens with the revoke.
        server.clock.advance(10 * 60_000);
        let (status, body) = post(
            &server,
            &p.sender,
            &format!("/api/v1/messages/{id}/revoke"),
            json!({ "sent_in_error": true, "incident": { "description": "Letter addressed to the wrong Bob" } }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "revoked");
        let incident = body["incident_id"].as_str().expect("incident_id").to_owned();

        // The sender cannot read the register; another organisation cannot either.
        for who in [&p.sender, &p.other_dpo, &p.bob] {
            let (status, body) = get(&server, who, &format!("/api/v1/incidents/{incident}")).await;
            assert_eq!(status, 404, "{body}");
        }
        let (status, _) = get(&server, &p.sender, "/api/v1/incidents").await;
        assert_eq!(status, 403);

        let (status, v) = get(&server, &p.dpo, &format!("/api/v1/incidents/{incident}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["id"], incident.as_str());
        assert_eq!(v["state"], "open");
        assert_eq!(v["trigger"], "revoked_sent_in_error");
        assert_eq!(v["suggestion"]["outcome"], "record_only", "{v}");
        assert_eq!(v["suggestion"]["likelihood"], "remote");
        assert_eq!(v["never_accessed"], true);
        assert_eq!(v["facts"]["wrong_recipients"], json!([rid]));
        assert_eq!(v["facts"]["description"], "Letter addressed to the wrong Bob");
        assert_eq!(v["exposures"][0]["state"], "delivered_no_access");
        assert_eq!(v["exposures"][0]["revoked_before_release"], true);
        assert_eq!(v["exposures"][0]["label"], "bob@hospital.example");
        assert_eq!(ms(&v["aware_at"]), server.clock.now_ms());
        assert_eq!(ms(&v["deadline_at"]), ms(&v["aware_at"]) + 72 * HOUR);
        assert_eq!(v["remaining_seconds"], 72 * 3600);
        assert_eq!(v["overdue"], false);
        assert_eq!(v["version"], 1);
        assert!(v.get("receipt").is_none());
        assert_eq!(v["reminders"], json!([]), "no reminder points configured");
        assert_eq!(v["jurisdiction"], "uk");

        let doc = check_exports(
            &server,
            &p.dpo,
            &incident,
            "Information Commissioner's Office (ICO)",
            true,
        )
        .await;
        assert_eq!(doc["suggestion"]["outcome"], "record_only");
        assert_eq!(ms(&doc["deadline_at"]), ms(&doc["aware_at"]) + 72 * HOUR);
        assert!(doc["decision"].is_null());

        // The admin reads but does not decide; the DPO decides, then it can be closed.
        let (status, _) = get(&server, &p.admin, &format!("/api/v1/incidents/{incident}")).await;
        assert_eq!(status, 200);
        let decide = json!({ "outcome": "record_only", "reason": "Never accessed: the receipt proves it." });
        let path = format!("/api/v1/incidents/{incident}/decision");
        let (status, body) = post(&server, &p.admin, &path, decide.clone()).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = post(&server, &p.other_dpo, &path, decide.clone()).await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = post(
            &server,
            &p.dpo,
            &path,
            json!({ "outcome": "record_only", "reason": "  " }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = post(&server, &p.dpo, &path, json!({ "outcome": "ignore", "reason": "x" })).await;
        assert_eq!(status, 400, "{body}");
        let close = format!("/api/v1/incidents/{incident}/close");
        let (status, body) = post(&server, &p.dpo, &close, json!({ "reason": "done" })).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "not_decided");
        let (status, v) = post(&server, &p.dpo, &path, decide).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["decision"]["outcome"], "record_only");
        assert_eq!(v["decision"]["confirmed"], true);
        assert_eq!(v["state"], "decided");
        // A stale version is a conflict.
        let (status, body) = post(&server, &p.dpo, &close, json!({ "reason": "done", "version": 1 })).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "version_conflict");
        let (status, v) = post(
            &server,
            &p.dpo,
            &close,
            json!({ "reason": "Documented.", "version": v["version"] }),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["state"], "closed");
        let (status, list) = get(&server, &p.dpo, "/api/v1/incidents?state=closed").await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["incidents"][0]["id"], incident.as_str());
        assert_eq!(list["incidents"][0]["suggested_outcome"], "record_only");
        assert_eq!(list["incidents"][0]["decided_outcome"], "record_only");
        let (_, list) = get(&server, &p.dpo, "/api/v1/incidents?state=open").await;
        assert_eq!(list["incidents"], json!([]));

        let kinds = org_kinds(&server, &p.dpo).await;
        for kind in [
            "incident.opened",
            "incident.decided",
            "incident.closed",
            "incident.exported",
        ] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
        }
        server.stop().await;
        storage.cleanup().await;
    }
}

/// A webhook receiver: every request's signature header and body.
async fn webhook_receiver() -> (String, mpsc::UnboundedReceiver<(String, String)>) {
    use axum::http::HeaderMap;
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let signature = headers
                    .get("sealpost-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

/// A minimal SMTP relay: each delivered mail's recipients and data.
async fn smtp_relay() -> (u16, mpsc::UnboundedReceiver<(Vec<String>, String)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(socket);
                let _ = stream.write_all(b"220 localhost ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_owned();
                    let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply = match verb.as_str() {
                        "EHLO" | "HELO" => "250-localhost\r\n250 8BITMIME\r\n".to_owned(),
                        "RCPT" => {
                            let addr = cmd.split(['<', '>']).nth(1).unwrap_or_default().to_owned();
                            rcpt.push(addr);
                            "250 Ok\r\n".to_owned()
                        }
                        "DATA" => {
                            let _ = stream.write_all(b"354 go on\r\n").await;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line.trim_end() == "." {
                                    break;
                                }
                                data.push_str(&line);
                            }
                            let _ = tx.send((std::mem::take(&mut rcpt), data));
                            "250 Ok: queued\r\n".to_owned()
                        }
                        "QUIT" => {
                            let _ = stream.write_all(b"221 Bye\r\n").await;
                            return;
                        }
                        _ => "250 Ok\r\n".to_owned(),
                    };
                    let _ = stream.write_all(reply.as_bytes()).await;
                }
            });
        }
    });
    (port, rx)
}

fn mail_config(config: &mut Config, port: u16) {
    config.mail = sealpost_server::mail::MailConfig {
        enabled: true,
        host: "localhost".to_owned(),
        port,
        tls: sealpost_server::mail::MailTls::None,
        username: None,
        password: None,
        from: "Sealpost <no-reply@sealpost.invalid>".to_owned(),
        timeout_secs: 5,
        ca_file: None,
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misdirected_health_message_opened_before_the_revoke_needs_notifying() {
    for backend in backends().await {
        let (hook_url, mut hooks) = webhook_receiver().await;
        let (smtp_port, mut mails) = smtp_relay().await;
        let storage = Storage::new(backend).await;
        let mut config = storage.config(PART);
        mail_config(&mut config, smtp_port);
        let server = TestServer::start_with(config, ManualClock::new(T0)).await;
        let p = people(&server).await;
        const SECRET: &str = "whsec_0123456789abcdef";

        // Settings: who may, what is valid, the secret never shown.
        let settings = json!({
            "jurisdiction": "uk",
            "controller": "Anytown Council",
            "dpo": { "name": "Dana Protector", "email": "dpo@council.example", "phone": "+44 20 7946 0000" },
            "reminder_hours": [24, 48, 60, 70],
            "reminder_emails": ["dpo@council.example"],
            "webhook": { "url": hook_url, "secret": SECRET },
        });
        let (status, body) = call(
            &server,
            &p.sender,
            reqwest::Method::PUT,
            "/api/v1/breach-settings",
            Some(settings.clone()),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        let (status, view) = get(&server, &p.dpo, "/api/v1/breach-settings").await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["default"], true);
        assert_eq!(view["jurisdiction"], "uk");
        for (bad, needle) in [
            (json!({ "reminder_hours": [48, 24] }), "sorted"),
            (json!({ "reminder_hours": [0] }), "between"),
            (json!({ "reminder_hours": [73] }), "between"),
            (json!({ "reminder_emails": ["not an address"] }), "reminder_emails"),
            (
                json!({ "webhook": { "url": "ftp://x.example/", "secret": SECRET } }),
                "http",
            ),
            (
                json!({ "webhook": { "url": "https://x.example/", "secret": "short" } }),
                "secret",
            ),
            (json!({ "jurisdiction": "fr" }), "`fr`"),
        ] {
            let (status, body) = call(
                &server,
                &p.dpo,
                reqwest::Method::PUT,
                "/api/v1/breach-settings",
                Some(bad),
            )
            .await;
            assert_eq!(status, 400, "{body}");
            assert!(
                body["detail"].as_str().unwrap_or_default().contains(needle),
                "{needle}: {body}"
            );
        }
        let (status, view) = call(
            &server,
            &p.dpo,
            reqwest::Method::PUT,
            "/api/v1/breach-settings",
            Some(settings),
        )
        .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["webhook"], json!({ "url": hook_url, "secret_set": true }));
        assert!(!view.to_string().contains(SECRET));
        assert_eq!(view["controller"], "Anytown Council");
        assert_eq!(view["reminder_hours"], json!([24, 48, 60, 70]));

        // A referral with NHS numbers and health terms, to the wrong number; opened after SMS.
        let now = server.clock.now_ms();
        let guest = RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
        let mut built = build(
            &p.sender,
            &[To::Guest(guest.public(), "+447700900123")],
            &[b"referral letter"],
            now,
            7,
        );
        built.create_body["checks"] = json!({
            "v": 1, "decision": "confirmed", "max_level": "warning",
            "categories": { "uk_nhs_number": 2, "health_term": 5 },
            "unchecked_attachments": 0, "confirmed_with": "flag", "reason": "Referral to the clinic",
        });
        let status = send(&server, &p.sender, &built).await;
        let id = built.id();
        let rid = guest.public().rid().to_text();
        let access_id = status["recipients"][0]["access_id"].as_str().unwrap().to_owned();
        server.clock.advance(30 * 60_000);
        guest_opens(&server, &access_id).await;
        server.clock.advance(30 * 60_000);
        let (status, body) = post(
            &server,
            &p.sender,
            &format!("/api/v1/messages/{id}/revoke"),
            json!({ "recipient": rid, "sent_in_error": true }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let incident = body["incident_id"].as_str().expect("incident_id").to_owned();
        let aware = server.clock.now_ms();

        let path = format!("/api/v1/incidents/{incident}");
        let (status, v) = get(&server, &p.dpo, &path).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["facts"]["data_categories"], json!(["national_id", "health"]), "{v}");
        assert_eq!(v["facts"]["categories_source"], "pre_send_checks");
        assert_eq!(v["facts"]["wrong_recipients"], json!([rid]));
        assert_eq!(v["exposures"][0]["state"], "accessed_verified", "{v}");
        assert_eq!(v["exposures"][0]["first_release_verification"], "sms");
        assert_eq!(v["exposures"][0]["label"], "•••• 0123");
        assert_eq!(v["exposures"][0]["revoked_before_release"], false);
        assert_eq!(v["never_accessed"], false);
        assert_eq!(v["message"]["checks_decision"], "confirmed");
        assert_eq!(v["suggestion"]["likelihood"], "likely");
        assert_eq!(v["suggestion"]["outcome"], "notify_authority", "{v}");
        assert_eq!(v["enisa"]["dpc"], 4);
        assert_eq!(ms(&v["aware_at"]), aware);
        assert_eq!(ms(&v["deadline_at"]), aware + 72 * HOUR);
        assert_eq!(v["controller"]["name"], "Anytown Council");
        assert_eq!(v["controller"]["dpo"]["email"], "dpo@council.example");
        let hours: Vec<i64> = v["reminders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["hours"].as_i64().unwrap())
            .collect();
        assert_eq!(hours, [24, 48, 60, 70]);
        for r in v["reminders"].as_array().unwrap() {
            assert_eq!(ms(&r["due_at"]), aware + r["hours"].as_i64().unwrap() * HOUR);
            assert_eq!(r["state"], "pending");
        }

        // Phased reporting: an update with a note, merged and kept.
        let (status, v) = post(
            &server,
            &p.dpo,
            &format!("{path}/updates"),
            json!({ "note": "Spoke to the recipient; letter deleted.", "facts": {
                "approx_subjects": 1, "vulnerable": true, "subject_categories": ["patients"],
                "likely_consequences": "Distress; disclosure of a health condition.",
                "measures_taken": ["Access revoked", "Recipient asked to delete"] } }),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["facts"]["approx_subjects"], 1);
        assert_eq!(v["facts"]["data_categories"], json!(["national_id", "health"]));
        let (status, body) = post(
            &server,
            &p.dpo,
            &format!("{path}/updates"),
            json!({ "facts": { "colour": "red" } }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = post(
            &server,
            &p.dpo,
            &format!("{path}/updates"),
            json!({ "facts": { "wrong_recipients": ["AAAAAAAAAAAAAAAAAAAAAA"] } }),
        )
        .await;
        assert_eq!(status, 400, "{body}");

        // A first, record-only decision stops the reminders.
        let decision = format!("{path}/decision");
        let states = |v: &Value| -> Vec<String> {
            v["reminders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["state"].as_str().unwrap().to_owned())
                .collect()
        };
        let (status, v) = post(
            &server,
            &p.dpo,
            &decision,
            json!({ "outcome": "record_only", "reason": "At first: we believed nobody read it." }),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert!(
            !states(&v).is_empty() && states(&v).iter().all(|s| s == "cancelled"),
            "{v}"
        );

        // Awareness: a reason, not in the future, not before the message was sent.
        let awareness = format!("{path}/awareness");
        for bad in [
            json!({ "aware_at": sealpost_server::clock::to_rfc3339(aware + HOUR), "reason": "later" }),
            json!({ "aware_at": sealpost_server::clock::to_rfc3339(now - HOUR), "reason": "before" }),
            json!({ "aware_at": sealpost_server::clock::to_rfc3339(aware), "reason": "" }),
        ] {
            let (status, body) = call(&server, &p.dpo, reqwest::Method::PUT, &awareness, Some(bad)).await;
            assert_eq!(status, 400, "{body}");
        }
        let new_aware = aware - 20 * 60_000;
        let (status, v) = call(
            &server,
            &p.dpo,
            reqwest::Method::PUT,
            &awareness,
            Some(json!({ "aware_at": sealpost_server::clock::to_rfc3339(new_aware), "reason": "The recipient phoned the surgery first." })),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(ms(&v["deadline_at"]), new_aware + 72 * HOUR);
        // Still record-only: the reminders stay stopped.
        assert!(states(&v).iter().all(|s| s == "cancelled"), "{v}");
        assert_eq!(v["aware_reason"], "The recipient phoned the surgery first.");

        // The DPO confirms, then overrides with a reason; all decisions stay in the history.
        let (status, body) = post(
            &server,
            &p.admin,
            &decision,
            json!({ "outcome": "notify_authority", "reason": "x" }),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        let (status, v) = post(
            &server,
            &p.dpo,
            &decision,
            json!({ "outcome": "notify_authority", "reason": "Health data of a patient was opened." }),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["decision"]["confirmed"], true);
        // Overriding record-only brings the reminders back, counted from the new awareness.
        assert!(
            !states(&v).is_empty() && states(&v).iter().all(|s| s == "pending"),
            "{v}"
        );
        assert_eq!(ms(&v["reminders"][0]["due_at"]), new_aware + 24 * HOUR);
        let (status, v) = post(
            &server,
            &p.dpo,
            &decision,
            json!({ "outcome": "notify_authority_and_individuals", "reason": "The patient is vulnerable; we tell her." }),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["decision"]["outcome"], "notify_authority_and_individuals");
        assert_eq!(v["decision"]["confirmed"], false);
        let decided = v["updates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["kind"] == "decided")
            .count();
        assert_eq!(decided, 3);

        // The 24-hour reminder: a signed webhook and a mail, once.
        server
            .clock
            .advance(new_aware + 24 * HOUR + 60_000 - server.clock.now_ms());
        let report = sweeper::sweep_once(&server.services, 48).await.unwrap();
        assert_eq!(report.reminders_sent, 1, "{report:?}");
        let (signature, body) = tokio::time::timeout(std::time::Duration::from_secs(10), hooks.recv())
            .await
            .unwrap()
            .unwrap();
        let (t, v1) = signature
            .strip_prefix("t=")
            .and_then(|s| s.split_once(",v1="))
            .expect("t=…,v1=…");
        let expected = sealpost_crypto::primitives::hmac_sha256(SECRET.as_bytes(), format!("{t}.{body}").as_bytes());
        assert_eq!(v1, hex(&expected), "signature");
        assert_eq!(t.parse::<i64>().unwrap(), server.clock.now_ms() / 1000);
        let payload: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(payload["type"], "incident.reminder");
        assert_eq!(payload["incident_id"], incident.as_str());
        assert_eq!(payload["hours"], 24);
        assert_eq!(payload["remaining_seconds"], 48 * 3600 - 60);
        let (rcpt, data) = tokio::time::timeout(std::time::Duration::from_secs(10), mails.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rcpt, ["dpo@council.example"]);
        let data = data.replace("=\r\n", "");
        assert!(data.contains(&format!("/dpo/#/incidents/{incident}")), "{data}");
        assert!(data.contains("Breach register"), "{data}");
        assert_eq!(
            sweeper::sweep_once(&server.services, 48).await.unwrap().reminders_sent,
            0
        );
        let (_, v) = get(&server, &p.dpo, &path).await;
        assert_eq!(v["reminders"][0]["state"], "sent");
        assert!(v["reminders"][0]["sent_at"].is_string());
        assert_eq!(v["reminders"][1]["state"], "pending");

        // Past the deadline: the first authority notification needs the reasons for the delay.
        server.clock.advance(new_aware + 73 * HOUR - server.clock.now_ms());
        let (_, v) = get(&server, &p.dpo, &path).await;
        assert_eq!(v["overdue"], true);
        assert_eq!(v["remaining_seconds"], -3600);
        let notifications = format!("{path}/notifications");
        let (status, body) = post(
            &server,
            &p.dpo,
            &notifications,
            json!({ "to": "authority", "reference": "IC-12345-A1B2" }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "delay_reason_required");
        let (status, body) = post(&server, &p.dpo, &notifications, json!({ "to": "regulator" })).await;
        assert_eq!(status, 400, "{body}");
        let (status, v) = post(
            &server,
            &p.dpo,
            &notifications,
            json!({ "to": "authority", "reference": "IC-12345-A1B2", "summary": "Initial report",
                    "delay_reason": "The DPO was told of the breach late." }),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["notifications"][0]["phase"], 1);
        assert_eq!(v["notifications"][0]["late"], true);
        let (status, v) = post(
            &server,
            &p.dpo,
            &notifications,
            json!({ "to": "authority", "reference": "IC-12345-A1B2", "summary": "Recipient confirmed deletion" }),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["notifications"][1]["phase"], 2);
        // Reminders stop after the authority notification.
        assert!(
            v["reminders"].as_array().unwrap()[1..]
                .iter()
                .all(|r| r["state"] == "cancelled"),
            "{v}"
        );

        let doc = check_exports(
            &server,
            &p.dpo,
            &incident,
            "Information Commissioner's Office (ICO)",
            false,
        )
        .await;
        assert_eq!(doc["suggestion"]["outcome"], "notify_authority");
        assert_eq!(doc["decision"]["outcome"], "notify_authority_and_individuals");
        assert_eq!(ms(&doc["deadline_at"]), new_aware + 72 * HOUR);
        assert_eq!(doc["notifications"].as_array().unwrap().len(), 2);
        let (_, _, _, md) = export(&server, &p.dpo, &incident, "md").await;
        let md = String::from_utf8(md).unwrap();
        assert!(md.contains("Reasons for the delay"), "late notification");
        assert!(md.contains("IC-12345-A1B2"));

        let kinds = org_kinds(&server, &p.dpo).await;
        for kind in [
            "breach_settings.updated",
            "incident.opened",
            "incident.updated",
            "incident.awareness_set",
            "incident.decided",
            "incident.notified",
            "incident.reminder_sent",
            "incident.exported",
        ] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
        }
        server.stop().await;
        storage.cleanup().await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsletter_with_780_visible_recipients_informs_the_individuals() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let mut config = storage.config(PART);
        config.limits.max_recipients = 1000;
        config.limits.max_header_bytes = 4 * 1024 * 1024;
        let server = TestServer::start_with(config, ManualClock::new(T0)).await;
        let p = people(&server).await;
        let keys: Vec<RecipientSecretKey> = (0..780)
            .map(|_| RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)))
            .collect();
        let phones: Vec<String> = (0..780).map(|i| format!("+4477009{i:05}")).collect();
        let to: Vec<To<'_>> = keys
            .iter()
            .zip(&phones)
            .map(|(k, phone)| To::Guest(k.public(), phone))
            .collect();
        let built = build(
            &p.sender,
            &to,
            &[b"HIV support group newsletter"],
            server.clock.now_ms(),
            7,
        );
        let status = send(&server, &p.sender, &built).await;
        let id = built.id();
        // Some of them open it.
        for i in [0, 1, 2] {
            let access_id = status["recipients"][i]["access_id"].as_str().unwrap().to_owned();
            guest_opens(&server, &access_id).await;
        }
        server.clock.advance(2 * HOUR);

        // The sender reports it and learns only the id and the deadline.
        let (status, opened) = post(
            &server,
            &p.sender,
            "/api/v1/incidents",
            json!({ "message_id": id, "facts": {
                "cause": "visible_recipients",
                "description": "Newsletter sent with every member's address visible in To.",
                "data_categories": ["health", "contact"],
                "subject_categories": ["members of an HIV support group"],
                "approx_subjects": 780 } }),
        )
        .await;
        assert_eq!(status, 201, "{opened}");
        let mut keys_seen: Vec<&str> = opened.as_object().unwrap().keys().map(String::as_str).collect();
        keys_seen.sort_unstable();
        assert_eq!(keys_seen, ["aware_at", "deadline_at", "id"]);
        let incident = opened["id"].as_str().unwrap().to_owned();
        assert_eq!(ms(&opened["deadline_at"]), ms(&opened["aware_at"]) + 72 * HOUR);
        // Someone else's message cannot be reported (indistinguishable from none).
        let (status, body) = post(&server, &p.other_dpo, "/api/v1/incidents", json!({ "message_id": id })).await;
        assert_eq!(status, 404, "{body}");

        let (status, v) = get(&server, &p.dpo, &format!("/api/v1/incidents/{incident}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["trigger"], "reported");
        assert_eq!(v["facts"]["categories_source"], "sender");
        assert_eq!(v["message"]["recipients"], 780);
        let accessed = v["exposures"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["state"] == "accessed_verified")
            .count();
        assert_eq!(accessed, 3);
        assert_eq!(v["never_accessed"], false);
        assert_eq!(
            v["suggestion"]["outcome"], "notify_authority_and_individuals",
            "{}",
            v["suggestion"]
        );
        assert_eq!(v["enisa"]["band"], "very_high");
        assert_eq!(ms(&v["deadline_at"]), server.clock.now_ms() + 72 * HOUR);

        let doc = check_exports(
            &server,
            &p.dpo,
            &incident,
            "Information Commissioner's Office (ICO)",
            false,
        )
        .await;
        assert_eq!(doc["suggestion"]["outcome"], "notify_authority_and_individuals");
        assert_eq!(doc["facts"]["approx_subjects"], 780);
        let (_, _, _, md) = export(&server, &p.dpo, &incident, "md").await;
        assert!(String::from_utf8(md).unwrap().contains("780"));

        // NL: the AP and its deadline rules, for incidents opened after the change.
        let (status, view) = call(
            &server,
            &p.admin,
            reqwest::Method::PUT,
            "/api/v1/breach-settings",
            Some(json!({ "jurisdiction": "nl" })),
        )
        .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["authority"], "Autoriteit Persoonsgegevens (AP)");
        let (status, v) = post(&server, &p.dpo, "/api/v1/incidents", json!({ "message_id": id })).await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["jurisdiction"], "nl");
        assert_eq!(v["authority"], "Autoriteit Persoonsgegevens (AP)");
        server.stop().await;
        storage.cleanup().await;
    }
}
