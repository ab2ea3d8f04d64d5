//! The DPO's breach-register page (`/dpo/`) in headless Chromium against a real server: a
//! message revoked as sent in error shows up in the register with a running countdown; the DPO
//! signs in with a token (a sender's token gets a plain error), opens the incident, sees that it
//! was never accessed and what is suggested, overrides the suggestion with a reason, and the
//! decision is stored as an override; an export downloads through the token. Without
//! `chromium` and `chromedriver` the browser part prints `skipped: …` (fails under `CI=true`).

#[path = "support/incidents.rs"]
mod incidents;
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::browser::{Browser, STATE_TIMEOUT, with_browser};
use support::server::{PHONE, Sender, Server, send_to_guest};

/// The page's Content-Security-Policy.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const OVERRIDE_REASON: &str = "The recipient is a journalist <b>not bold</b>: tell the ICO anyway.";

/// Waits until `#id`'s text satisfies `ok`; the last text seen.
async fn wait_for_text(b: &Browser, id: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = b.text(id).await;
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "#{id} is {text:?}\n{}",
            b.diagnostics().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `47:12:03 left` as seconds.
fn seconds_left(text: &str) -> u64 {
    let span = text
        .strip_suffix(" left")
        .unwrap_or_else(|| panic!("{text:?} is not a countdown"));
    let parts: Vec<u64> = span
        .split(':')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("{text:?} is not a countdown")))
        .collect();
    assert_eq!(parts.len(), 3, "{text:?}");
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dpo_overrides_the_suggestion_for_a_message_sent_in_error() {
    let server = Server::start(|_| {}).await;
    let sender = Sender::create(&server, "alice@council.example").await;
    let sent = send_to_guest(&server, &sender, PHONE, "Results", "Not for you.", Vec::new()).await;
    let incident = incidents::revoke_sent_in_error(&server, &sender, &sent.id).await;
    let dpo = incidents::dpo_token(&server, "dpo@council.example").await;

    // The page's headers, browser or not.
    let http = reqwest::Client::new();
    for path in ["/dpo/", "/dpo/app.js", "/dpo/style.css"] {
        let r = http.get(server.url(path)).send().await.expect("GET");
        assert_eq!(r.status(), 200, "{path}");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-security-policy"), CSP, "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        let cache = if path == "/dpo/" { "no-store" } else { "no-cache" };
        assert_eq!(header("cache-control"), cache, "{path}");
    }

    with_browser(
        "the_dpo_overrides_the_suggestion_for_a_message_sent_in_error",
        async |b| {
            b.goto(&server.url("/dpo/")).await;
            b.wait_for_state("signed-out", STATE_TIMEOUT).await;

            // A sender's token cannot read the register: a plain error, back at sign-in.
            b.fill("token", &sender.token).await;
            b.click("sign-in").await;
            b.wait_for_state("signed-out-error", STATE_TIMEOUT).await;
            assert_eq!(
                b.text("sign-in-error").await,
                "This token cannot read the breach register: it needs the dpo or admin role and the incidents scope."
            );
            let stored = b
                .js("return sessionStorage.length + localStorage.length;", vec![])
                .await;
            assert_eq!(stored, json!(0), "a refused token is not kept");

            // The DPO's token: the register with a running countdown.
            b.fill("token", &dpo).await;
            b.click("sign-in").await;
            b.wait_for_state("list", STATE_TIMEOUT).await;
            let kept = b
                .js(
                    "return [sessionStorage.getItem('sealpost-dpo-token') === arguments[0], localStorage.length, \
                 document.getElementById('token').value];",
                    vec![json!(dpo)],
                )
                .await;
            assert_eq!(kept, json!([true, 0, ""]), "the token is in sessionStorage only");
            let countdown = format!("countdown-{incident}");
            let first = b.text(&countdown).await;
            let left = seconds_left(&first);
            assert!((71 * 3600..=72 * 3600).contains(&left), "{first:?}");
            let later = wait_for_text(b, &countdown, |t| t != first).await;
            assert!(
                seconds_left(&later) < left,
                "the countdown runs down: {first:?} then {later:?}"
            );
            let row = b
            .js(
                "return [...document.querySelectorAll('#incident-' + arguments[0] + ' td')].map(td => td.textContent);",
                vec![json!(incident)],
            )
            .await;
            assert_eq!(row[0], json!(incident), "{row}");
            assert_eq!(row[1], json!("wrong recipient"), "{row}");
            assert_eq!(row[2], json!("open"), "{row}");
            assert_eq!(row[3], json!("Record only (no notification)"), "{row}");
            assert_eq!(row[4], json!("not yet decided"), "{row}");

            // The incident: never accessed, record only suggested and preselected.
            b.click(&format!("open-{incident}")).await;
            b.wait_for_state("detail", STATE_TIMEOUT).await;
            assert!(b.href().await.ends_with(&format!("/dpo/#/incidents/{incident}")));
            assert_eq!(b.text("incident-id").await, incident);
            let never = b.text("never-accessed").await;
            assert!(
                never.starts_with("Never accessed: no wrong recipient ever received the key."),
                "{never}"
            );
            assert_eq!(b.text("likelihood").await, "remote");
            assert_eq!(b.text("suggested-outcome").await, "Record only (no notification)");
            let exposure = b
                .js(
                    "return [...document.querySelectorAll('#exposure-rows td')].map(td => td.textContent);",
                    vec![],
                )
                .await;
            assert_eq!(exposure[1], json!("yes"), "{exposure}");
            assert_eq!(
                exposure[2],
                json!("never received the key (revoked before any release)"),
                "{exposure}"
            );
            assert!(
                !b.text("suggestion-reasons").await.is_empty(),
                "the suggestion gives its reasons"
            );
            let preselected = b
                .js("return document.getElementById('decision-outcome').value;", vec![])
                .await;
            assert_eq!(preselected, json!("record_only"));
            assert!(b.text("detail-countdown").await.ends_with(" left"));

            // Override without a reason: refused in the page, nothing sent.
            b.element("decision-outcome")
                .await
                .select_by_value("notify_authority")
                .await
                .expect("select");
            b.click("decide").await;
            let refused = b.text("decision-status").await;
            assert!(refused.starts_with("Give a reason"), "{refused:?}");
            assert!(b.fetches("POST", "/decision").await.is_empty());

            b.fill("decision-reason", OVERRIDE_REASON).await;
            b.click("decide").await;
            b.wait_for_state("saved", STATE_TIMEOUT).await;
            assert_eq!(
                b.text("decision-status").await,
                "Decision saved: Notify the supervisory authority (overrides the suggestion)."
            );
            let current = b.text("decision-current").await;
            assert!(
                current.ends_with(&format!(": {OVERRIDE_REASON}")),
                "shown as text: {current:?}"
            );
            let markup = b
                .js(
                    "return document.getElementById('decision-current').children.length;",
                    vec![],
                )
                .await;
            assert_eq!(markup, json!(0), "the reason stays text");

            // Stored as an override, with the reason.
            let stored = incidents::incident(&server, &dpo, &incident).await;
            assert_eq!(stored["decision"]["outcome"], "notify_authority", "{stored}");
            assert_eq!(stored["decision"]["confirmed"], false, "{stored}");
            assert_eq!(stored["decision"]["reason"], OVERRIDE_REASON, "{stored}");
            assert_eq!(stored["state"], "decided", "{stored}");

            // An export, fetched with the token and saved through a blob URL.
            b.click("export-json").await;
            let path = b.wait_for_download(Duration::from_secs(30)).await;
            assert_eq!(
                path.file_name().and_then(|n| n.to_str()),
                Some(format!("incident-{incident}.json").as_str())
            );
            let document: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).expect("the export")).expect("JSON");
            assert_eq!(document["incident_id"], incident.as_str());
            assert_eq!(document["decision"]["reason"], OVERRIDE_REASON);
            assert!(document["receipt"].is_object(), "the export carries the receipt");

            b.assert_no_csp_violations().await;

            // Signing out forgets the token.
            b.click("sign-out").await;
            b.wait_for_state("signed-out", STATE_TIMEOUT).await;
            let stored = b.js("return sessionStorage.length;", vec![]).await;
            assert_eq!(stored, json!(0));
        },
    )
    .await;
    server.stop().await;
}
