//! The organisation's pre-send check policy (`/api/v1/policy`) and the check outcome that travels
//! with a message, on SQLite and (when reachable) PostgreSQL.

#[path = "support/harness.rs"]
mod harness;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::*;
use sealpost_crypto::tlog;
use sealpost_server::clock::Clock;
use sealpost_server::domain::{Role, Scope};
use serde_json::{Value, json};

const PART: u64 = 64 * 1024;

async fn call(
    server: &TestServer,
    who: &Actor,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    http(method, server.url(path), Some(&who.token), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_set_the_policy_and_every_member_reads_it() {
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
        let sender = actor(
            &server,
            "council",
            "clerk@council.example",
            &[Role::Sender],
            &[Scope::Send],
            false,
        )
        .await;
        let other = actor(
            &server,
            "hospital",
            "clerk@hospital.example",
            &[Role::Sender],
            &[Scope::Send],
            false,
        )
        .await;

        // Until an admin sets one, the built-in default, every field filled in.
        let (status, view) = call(&server, &sender, reqwest::Method::GET, "/api/v1/policy", None).await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["default"], true);
        assert_eq!(view["policy"]["bulk_threshold"], 10);
        assert_eq!(view["policy"]["recipients"]["visible_threshold"], 5);

        // A sender may not change it; nonsense is refused with a clear problem.
        let doc = json!({"levels": {"uk_nhs_number": "warning", "email_address": "off"}, "allowed_ibans": ["GB33BUKB20201555555555"]});
        let (status, body) = call(
            &server,
            &sender,
            reqwest::Method::PUT,
            "/api/v1/policy",
            Some(doc.clone()),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        for (bad, needle) in [
            (json!({"levels": {"nhs": "warning"}}), "nhs"),
            (json!({"bulk_threshold": 0}), "bulk_threshold"),
            (json!({"colour": "red"}), "colour"),
            (json!({"recipients": {"visible_threshold": 1}}), "visible_threshold"),
        ] {
            let (status, body) = call(&server, &admin, reqwest::Method::PUT, "/api/v1/policy", Some(bad)).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["code"], "invalid_policy", "{body}");
            assert!(body["detail"].as_str().unwrap().contains(needle), "{body}");
        }

        let (status, body) = call(&server, &admin, reqwest::Method::PUT, "/api/v1/policy", Some(doc)).await;
        assert_eq!(status, 200, "{body}");
        let (_, view) = call(&server, &sender, reqwest::Method::GET, "/api/v1/policy", None).await;
        assert_eq!(view["default"], false);
        assert_eq!(view["policy"]["levels"]["uk_nhs_number"], "warning");
        assert_eq!(view["policy"]["levels"]["email_address"], "off");
        assert_eq!(view["policy"]["allowed_ibans"][0], "GB33BUKB20201555555555");
        assert!(view["updated_at"].is_string());

        // Another organisation still has the default.
        let (_, view) = call(&server, &other, reqwest::Method::GET, "/api/v1/policy", None).await;
        assert_eq!(view["default"], true);

        // The change is an event of the organisation, in the proof log.
        let export = reqwest::Client::new()
            .get(server.url("/api/v1/log/export"))
            .header("authorization", admin.auth())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let kinds: Vec<String> = export
            .lines()
            .skip(1)
            .map(|l| {
                let e: tlog::ProvenEntry = serde_json::from_str(l).unwrap();
                tlog::LogEntry::parse(&STANDARD.decode(e.leaf).unwrap()).unwrap().kind
            })
            .collect();
        assert!(kinds.iter().any(|k| k == "policy.updated"), "{kinds:?}");
        server.stop().await;
        storage.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_outcome_travels_with_the_message() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let server = TestServer::start(&storage, PART).await;
        let sender = actor(
            &server,
            "council",
            "clerk@council.example",
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
        let now = server.clock.now_ms();

        let checks = json!({
            "v": 1, "decision": "confirmed", "max_level": "warning",
            "categories": {"uk_nhs_number": 3, "recipient_first_sensitive": 1},
            "unchecked_attachments": 0, "confirmed_with": "flag",
            "reason": "Referral agreed with the patient by phone",
        });
        // Inconsistent records are refused before anything is stored.
        for (bad, why) in [
            (
                json!({"v": 1, "decision": "confirmed", "max_level": "warning", "categories": {"uk_nhs_number": 1}}),
                "no reason",
            ),
            (
                json!({"v": 1, "decision": "noted", "max_level": "error", "categories": {"payment_card": 1}}),
                "error level",
            ),
            (
                json!({"v": 1, "decision": "clean", "max_level": "warning", "categories": {"iban": 1}}),
                "wrong decision",
            ),
            (
                json!({"v": 1, "decision": "clean", "categories": {"nhs": 1}}),
                "unknown kind",
            ),
            (json!({"v": 2, "decision": "clean"}), "version"),
            (
                json!({"v": 1, "decision": "confirmed", "max_level": "warning", "categories": {"iban": 1},
                    "confirmed_with": "flag", "reason": "x".repeat(501)}),
                "long reason",
            ),
            (
                json!({"v": 1, "decision": "clean", "value": "943 476 5919"}),
                "extra field",
            ),
        ] {
            let mut built = build(&sender, &[To::Account(&bob)], &[b"x"], now, 7);
            built.create_body["checks"] = bad;
            let (status, body) = call(
                &server,
                &sender,
                reqwest::Method::POST,
                "/api/v1/messages",
                Some(built.create_body),
            )
            .await;
            assert_eq!(status, 400, "{why}: {body}");
        }

        let mut built = build(&sender, &[To::Account(&bob)], &[b"referral"], now, 7);
        built.create_body["checks"] = checks.clone();
        let status = send(&server, &sender, &built).await;
        assert_eq!(status["checks"], checks, "{status}");
        let id = built.id();
        let (_, got) = call(
            &server,
            &sender,
            reqwest::Method::GET,
            &format!("/api/v1/messages/{id}"),
            None,
        )
        .await;
        assert_eq!(got["checks"], checks);
        // Lists stay small: no checks there.
        let (_, list) = call(&server, &sender, reqwest::Method::GET, "/api/v1/messages", None).await;
        assert!(list["messages"][0].get("checks").is_none(), "{list}");

        // The decision and categories (not the reason) are in the proof log.
        let (_, events) = call(
            &server,
            &sender,
            reqwest::Method::GET,
            &format!("/api/v1/messages/{id}/events"),
            None,
        )
        .await;
        let created = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "message.created")
            .expect("created event")
            .clone();
        let detail: Value = match &created["detail"] {
            Value::String(s) => serde_json::from_str(s).unwrap(),
            other => other.clone(),
        };
        assert_eq!(detail["checks"]["decision"], "confirmed", "{created}");
        assert_eq!(detail["checks"]["categories"]["uk_nhs_number"], 3, "{created}");
        assert!(!created.to_string().contains("patient by phone"), "{created}");

        // Without checks (an integration that runs none), the message has no record.
        let built = build(&sender, &[To::Account(&bob)], &[b"y"], now, 7);
        let status = send(&server, &sender, &built).await;
        assert!(status.get("checks").is_none(), "{status}");
        server.stop().await;
        storage.cleanup().await;
    }
}
