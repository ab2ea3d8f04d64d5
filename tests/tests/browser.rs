//! End-to-end tests of the recipient page (issue 4) in headless Chromium, driven over WebDriver,
//! against a real server in-process. The page's DOM ids, routes and headers are those of the
//! recipient-access contract. Without `chromium` and `chromedriver` the browser tests print
//! `skipped: …` (and fail under `CI=true`).
//!
//! A failing browser test keeps `target/browser-failures/<test>.png|.html|.txt`.

mod support;

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::{Browser, STATE_TIMEOUT, failure_file, try_with_browser, with_browser};
use support::server::{Attachment, PHONE, Sender, SentToGuest, Server, random_bytes, send_to_guest, sha256_hex};

/// The contract's Content-Security-Policy of page responses.
const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; worker-src 'self'; manifest-src 'none'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

const SENDER: &str = "alice@council.example";
/// Text meant to be shown as text: markup in it must stay characters.
const SUBJECT: &str = "Your care plan — review on 14 March <b>not bold</b>";
const BODY: &str = "Dear Sam,\n\nPlease find your care plan attached.\n  Indented line & <script>alert(1)</script>\n\nKind regards,\nAlice";
/// Size of the binary attachment: 3 MiB + 5 bytes, not a multiple of the 64 KiB chunk.
const BINARY_LEN: usize = 3 * 1024 * 1024 + 5;

fn attachments() -> Vec<Attachment> {
    let letter: String = (0..120)
        .map(|i| format!("Line {i:03}: the quick brown fox jumps over the lazy dog.\n"))
        .collect();
    vec![
        Attachment {
            name: "letter.txt".into(),
            media_type: "text/plain".into(),
            data: letter.into_bytes(),
        },
        Attachment {
            name: "scan.bin".into(),
            media_type: "application/octet-stream".into(),
            data: random_bytes(BINARY_LEN),
        },
    ]
}

async fn sent_message(server: &Server) -> (Sender, SentToGuest) {
    let sender = Sender::create(server, SENDER).await;
    let sent = send_to_guest(server, &sender, PHONE, SUBJECT, BODY, attachments()).await;
    (sender, sent)
}

/// A wrong code for `right`: every digit moved by one.
fn wrong_code(right: &str, round: u32) -> String {
    right
        .chars()
        .map(|c| {
            let d = c.to_digit(10).expect("a digit");
            char::from_digit((d + 1 + round % 9) % 10, 10).expect("a digit")
        })
        .collect()
}

/// Opens the link with its secret and asks for a code; returns the code from the SMS outbox.
async fn open_and_request_code(b: &Browser, server: &Server, sent: &SentToGuest) -> String {
    let secret = sent.link_key.to_link_secret();
    b.goto(&sent.page_url_with_secret(server)).await;
    b.wait_for_state("verify", STATE_TIMEOUT).await;
    let href = b.href().await;
    assert!(
        !href.contains('#') && !href.contains(secret.as_str()),
        "the link secret must leave location.href once read; href is {href}"
    );
    assert_eq!(href, sent.page_url(server), "the page URL without its fragment");
    assert!(server.sms().is_empty(), "no SMS before the recipient asks for one");
    b.click("send-code").await;
    b.wait_for_state("code-sent", STATE_TIMEOUT).await;
    server.wait_for_code(0, PHONE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_starts_a_browser_loads_a_page_and_downloads() {
    let server = Server::start(|_| {}).await;
    with_browser("harness_starts_a_browser_loads_a_page_and_downloads", async |b| {
        b.goto(&server.url("/healthz")).await;
        let text = b.js("return document.body.textContent;", vec![]).await;
        assert!(text.as_str().is_some_and(|t| !t.is_empty()), "/healthz body: {text}");
        let record = b.record().await;
        assert!(record.is_object(), "the init script runs in every document: {record}");
        // A download the harness must see finish: a blob saved through a link, like the page's
        // fallback save.
        let data = random_bytes(300_000);
        let expect = sha256_hex(&data);
        b.js(
            "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
             const a = document.createElement('a');
             a.href = URL.createObjectURL(new Blob([bytes], {type: 'application/octet-stream'}));
             a.download = 'probe.bin';
             document.body.appendChild(a);
             a.click();",
            vec![json!(base64_std(&data))],
        )
        .await;
        let path = b.wait_for_download(Duration::from_secs(30)).await;
        assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("probe.bin"));
        assert_eq!(sha256_hex(&std::fs::read(&path).expect("downloaded file")), expect);
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_keeps_a_screenshot_and_the_page_when_a_test_fails() {
    const TEST: &str = "harness_keeps_a_screenshot_and_the_page_when_a_test_fails";
    let png = failure_file(TEST, "png");
    let html = failure_file(TEST, "html");
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&html);
    let server = Server::start(|_| {}).await;
    let outcome = try_with_browser(TEST, async |b| {
        b.goto(&server.url("/healthz")).await;
        panic!("deliberate failure: checks that the harness keeps the failure files");
    })
    .await;
    server.stop().await;
    let Some(outcome) = outcome else { return };
    assert!(outcome.is_err(), "the body panicked");
    let shot = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(shot.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is a PNG", png.display());
    let source = std::fs::read_to_string(&html).unwrap_or_else(|e| panic!("{}: {e}", html.display()));
    assert!(source.contains("<html"), "{} is the page source", html.display());
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&html);
    let _ = std::fs::remove_file(failure_file(TEST, "txt"));
}

/// The CSP check is not vacuous: an inline script on the page is refused, and the harness sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_sees_a_csp_violation() {
    let server = Server::start(|_| {}).await;
    let page = server.url(&format!("/r/{}", sealpost_crypto::b64::encode_url(&random_bytes(16))));
    with_browser("harness_sees_a_csp_violation", async |b| {
        b.goto(&page).await;
        let (before, _) = b.csp_violations().await;
        assert!(before.is_empty(), "{before:#?}");
        b.js(
            "const s = document.createElement('script'); s.textContent = 'window.inlineRan = true;';
             document.head.appendChild(s);",
            vec![],
        )
        .await;
        let ran = b.js("return window.inlineRan === true;", vec![]).await;
        assert_eq!(ran, json!(false), "the page's CSP refuses inline scripts");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (found, readable) = b.csp_violations().await;
            let from_console = found.iter().any(|v| v.get("message").is_some());
            let from_page = found.iter().any(|v| v.get("directive").is_some());
            if from_page && (from_console || !readable) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the refused inline script was not seen (page report {from_page}, console {from_console}, \
                 console readable {readable}): {found:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    server.stop().await;
}

/// (a) The whole guest flow: code by SMS, message shown as text, the 3 MiB attachment saved
/// byte for byte, the secret gone from the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_opens_the_message_and_saves_the_attachment() {
    let server = Server::start(|_| {}).await;
    let (sender, sent) = sent_message(&server).await;
    with_browser("guest_opens_the_message_and_saves_the_attachment", async |b| {
        let code = open_and_request_code(b, &server, &sent).await;
        b.fill("code", &code).await;
        b.click("verify").await;
        b.wait_for_state("opened", Duration::from_secs(60)).await;

        let shown_sender = b.text("sender").await;
        assert!(shown_sender.contains(SENDER), "#sender shows {shown_sender:?}");
        assert_eq!(b.text("subject").await.trim(), SUBJECT);
        assert_eq!(b.text("body").await, BODY, "#body is the manifest body, as text");
        let markup = b
            .js(
                "return ['subject','body'].map(id => document.getElementById(id).children.length);",
                vec![],
            )
            .await;
        assert_eq!(markup, json!([0, 0]), "subject and body are text, never markup");

        let listed = b
            .js(
                "return [...document.querySelectorAll('#attachments li[data-index]')].map(li => ({
                   index: li.dataset.index,
                   name: li.querySelector('.name') && li.querySelector('.name').textContent,
                   size: li.querySelector('.size') && li.querySelector('.size').textContent,
                   save: !!li.querySelector('button.save')
                 }));",
                vec![],
            )
            .await;
        let listed = listed.as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = listed
            .iter()
            .filter_map(|l| l["name"].as_str())
            .map(str::trim)
            .collect();
        assert_eq!(names, ["letter.txt", "scan.bin"], "attachments listed: {listed:#?}");
        assert!(
            listed.iter().all(|l| l["save"] == true),
            "a save button each: {listed:#?}"
        );

        // Save the binary attachment with a real click (a user gesture, as for a person).
        let scan = &sent.attachments[1];
        let index = listed
            .iter()
            .find(|l| l["name"].as_str().map(str::trim) == Some(scan.name.as_str()))
            .and_then(|l| l["index"].as_str())
            .unwrap_or_else(|| panic!("no data-index on the item of {}: {listed:#?}", scan.name))
            .to_owned();
        b.client
            .find(Locator::Css(&format!(
                "#attachments li[data-index=\"{index}\"] button.save"
            )))
            .await
            .unwrap_or_else(|e| panic!("save button of {}: {e}", scan.name))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click save of {}: {e}", scan.name));
        let path = b.wait_for_download(Duration::from_secs(120)).await;
        let saved = std::fs::read(&path).expect("the downloaded file");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(scan.name.as_str()),
            "saved under the attachment's name"
        );
        assert_eq!(saved.len(), scan.data.len(), "saved size");
        assert_eq!(sha256_hex(&saved), sha256_hex(&scan.data), "saved bytes (SHA-256)");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let done = b
                .js(
                    "const e = document.getElementById('save-status'); return e && e.dataset.done;",
                    vec![],
                )
                .await;
            if done == json!("true") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "#save-status[data-done] is {done} 30 s after the file was saved\n{}",
                b.diagnostics().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The link secret stays in the browser: not in the URL, not in any request.
        let secret = sent.link_key.to_link_secret();
        let record = b.record().await;
        let leaked: Vec<&Value> = record["fetches"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["url"].as_str().is_some_and(|u| u.contains(secret.as_str())))
            .collect();
        assert!(leaked.is_empty(), "requests carrying the link secret: {leaked:#?}");
        assert_eq!(server.sms().len(), 1, "one SMS for one code");
        let href = b.href().await;
        assert!(!href.contains('#'), "no fragment in {href}");
        b.assert_no_csp_violations().await;

        let recipient = sender.recipient_status(&server, &sent.id).await;
        assert_eq!(recipient["releases"], 1, "one release: {recipient}");
    })
    .await;
    server.stop().await;
}

/// (b) Wrong codes up to the per-recipient limit lock the recipient: the page says so and the
/// sender sees `locked: true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_the_recipient() {
    // One code tolerates as many wrong entries as the recipient, so one SMS reaches the limit.
    const LIMIT: u32 = 5;
    let server = Server::start(|c| {
        c.access.max_failures_per_recipient = LIMIT;
        c.access.max_failures_per_code = LIMIT;
    })
    .await;
    let (sender, sent) = sent_message(&server).await;
    let ran = with_browser("wrong_codes_lock_the_recipient", async |b| {
        let code = open_and_request_code(b, &server, &sent).await;
        for round in 0..LIMIT {
            let before = b.fetches("POST", "/verify").await.len();
            b.fill("code", &wrong_code(&code, round)).await;
            b.click("verify").await;
            // Wait for the page's own request to come back before judging the state.
            let deadline = std::time::Instant::now() + STATE_TIMEOUT;
            loop {
                let done = b.fetches("POST", "/verify").await;
                if done.len() > before && done.last().is_some_and(|f| f.get("status").is_some()) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "verify attempt {round} never answered\n{}",
                    b.diagnostics().await
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if round + 1 < LIMIT {
                b.wait_for_state("wrong-code", STATE_TIMEOUT).await;
            }
        }
        b.wait_for_state("locked", STATE_TIMEOUT).await;
        b.assert_no_csp_violations().await;
    })
    .await;
    if !ran {
        server.stop().await;
        return;
    }

    let recipient = sender.recipient_status(&server, &sent.id).await;
    assert_eq!(recipient["locked"], true, "the sender sees the lock: {recipient}");
    assert_eq!(recipient["releases"], 0, "{recipient}");
    // Locked is locked: even the right code no longer opens it.
    let http = reqwest::Client::new();
    let code = server.wait_for_code(0, PHONE).await;
    let r = http
        .post(server.url(&format!("/api/v1/access/{}/verify", sent.access_id)))
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("verify");
    let status = r.status();
    let problem: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 423, "the right code after the lock: {problem}");
    assert_eq!(problem["code"], "locked", "{problem}");
    server.stop().await;
}

/// Wraps the page's `fetch` (after the harness's recorder) to change what the server says, per
/// access id: `drop` removes `log` from the release answer, `no-proof` empties its inclusion
/// proof, `leaf` rewrites the logged entry to name another recipient, `key:<vkey>` replaces the
/// link info's `log_key`, `no-key` removes it.
const TAMPER_SCRIPT: &str = r#"(() => {
  const modes = __MODES__;
  const original = window.fetch;
  window.fetch = async function (input, init) {
    const response = await original.apply(this, arguments);
    const url = new URL(typeof input === 'string' ? input : (input && input.url) || String(input), location.href);
    const method = ((init && init.method) || 'GET').toUpperCase();
    const m = /\/api\/v1\/access\/([^/]+)(\/release)?$/.exec(url.pathname);
    const mode = m && modes[decodeURIComponent(m[1])];
    if (!mode || !response.ok || method !== (m[2] ? 'POST' : 'GET')) {
      return response;
    }
    const body = await response.json();
    if (m[2] && mode === 'drop') {
      delete body.log;
    } else if (m[2] && mode === 'no-proof') {
      body.log.proof = [];
    } else if (m[2] && mode === 'leaf') {
      body.log.leaf = btoa(atob(body.log.leaf).replace(/\nrecipient [^\n]*\n/, '\nrecipient r_someone_else\n'));
    } else if (!m[2] && mode.startsWith('key:')) {
      body.log_key = mode.slice(4);
    } else if (!m[2] && mode === 'no-key') {
      delete body.log_key;
    }
    return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
  };
})();"#;

/// Log before release: the page uses a released share only with a valid proof that the release
/// is in the access log, checked against the log key pinned from the link info. A release
/// answer without `log`, with an empty proof or a changed entry, or a proof under another key
/// than the pinned one, ends the page with an error; nothing of the message is fetched or shown.
/// A link info without a log key stops the page before anything is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_without_a_valid_log_proof_is_refused() {
    let server = Server::start(|_| {}).await;
    let sender = Sender::create(&server, SENDER).await;
    let small = || {
        vec![Attachment {
            name: "note.txt".into(),
            media_type: "text/plain".into(),
            data: b"a small attachment\n".to_vec(),
        }]
    };
    let other_key = sealpost_crypto::note::VerifierKey::new(
        "log.elsewhere.example",
        sealpost_crypto::primitives::ed25519_public(&[42; 32]),
    )
    .expect("key")
    .to_vkey();
    let modes = [
        "drop".to_owned(),
        "no-proof".to_owned(),
        "leaf".to_owned(),
        format!("key:{other_key}"),
    ];
    let mut sent = Vec::new();
    for _ in 0..modes.len() + 1 {
        sent.push(send_to_guest(&server, &sender, PHONE, SUBJECT, BODY, small()).await);
    }
    let mut table = serde_json::Map::new();
    for (mode, s) in modes.iter().zip(&sent) {
        table.insert(s.access_id.clone(), json!(mode));
    }
    let no_key = sent.last().expect("a message");
    table.insert(no_key.access_id.clone(), json!("no-key"));
    let script = TAMPER_SCRIPT.replace("__MODES__", &Value::Object(table).to_string());

    let ran = with_browser("a_release_without_a_valid_log_proof_is_refused", async |b| {
        b.cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": script }))
            .await
            .expect("install the tampering script");
        for (n, (mode, s)) in modes.iter().zip(&sent).enumerate() {
            b.goto(&s.page_url_with_secret(&server)).await;
            b.wait_for_state("verify", STATE_TIMEOUT).await;
            b.click("send-code").await;
            b.wait_for_state("code-sent", STATE_TIMEOUT).await;
            let code = server.wait_for_code(n, PHONE).await;
            b.fill("code", &code).await;
            b.click("verify").await;
            b.wait_for_state("error", Duration::from_secs(60)).await;
            let text = b.text("ended-text").await;
            assert!(
                text.contains("did not prove that this opening was recorded"),
                "{mode}: #ended-text is {text:?}"
            );
            assert_eq!(
                b.fetches("POST", "/release").await.len(),
                1,
                "{mode}: one release asked for"
            );
            let payloads = b.fetches("GET", "/payloads/").await;
            assert!(
                payloads.is_empty(),
                "{mode}: payloads fetched after a refused release: {payloads:?}"
            );
            assert_eq!(b.text("subject").await.trim(), "", "{mode}: nothing shown");
            assert_eq!(b.text("body").await.trim(), "", "{mode}: nothing shown");
            b.assert_no_csp_violations().await;
            // The server did release (and log) the share: the page refused to use it.
            let recipient = sender.recipient_status(&server, &s.id).await;
            assert_eq!(recipient["releases"], 1, "{mode}: {recipient}");
        }

        b.goto(&no_key.page_url_with_secret(&server)).await;
        b.wait_for_state("error", STATE_TIMEOUT).await;
        let text = b.text("ended-text").await;
        assert!(
            text.contains("valid key for its access log"),
            "no-key: #ended-text is {text:?}"
        );
        assert!(b.fetches("POST", "/code").await.is_empty(), "no-key: no code asked for");
    })
    .await;
    if ran {
        assert_eq!(
            server.sms().len(),
            modes.len(),
            "one SMS per tampered release, none without a log key"
        );
        let recipient = sender.recipient_status(&server, &no_key.id).await;
        assert_eq!(recipient["releases"], 0, "no-key: {recipient}");
    }
    server.stop().await;
}

/// (c) A revoked link and an access id nobody was given show the same `unknown` page: the
/// server answers an ended link exactly like an unknown one (docs/api.md, Indistinguishability).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_unknown_links_say_so() {
    let server = Server::start(|_| {}).await;
    let (sender, sent) = sent_message(&server).await;
    sender.revoke(&server, &sent.id).await;
    let unknown = sealpost_crypto::b64::encode_url(&random_bytes(16));
    with_browser("revoked_and_unknown_links_say_so", async |b| {
        b.goto(&sent.page_url_with_secret(&server)).await;
        b.wait_for_state("unknown", STATE_TIMEOUT).await;
        b.assert_no_csp_violations().await;

        b.goto(&format!(
            "{}#{}",
            server.url(&format!("/r/{unknown}")),
            sent.link_key.to_link_secret().as_str()
        ))
        .await;
        b.wait_for_state("unknown", STATE_TIMEOUT).await;
        b.assert_no_csp_violations().await;
    })
    .await;
    assert!(server.sms().is_empty(), "no SMS for a revoked or unknown link");
    server.stop().await;
}

/// (d) A link scanner's `GET` and `HEAD` get the page and change nothing: no SMS, no release,
/// only a `link.fetched` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_fetching_the_link_changes_nothing() {
    let server = Server::start(|_| {}).await;
    let (sender, sent) = sent_message(&server).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = sent.page_url(&server);

    let get = http.get(&url).send().await.expect("GET");
    assert_eq!(get.status(), 200, "GET {url}");
    let content_type = header(&get, "content-type");
    assert!(
        content_type.starts_with("text/html"),
        "GET content-type {content_type:?}"
    );
    let page = get.bytes().await.expect("page");
    assert!(!page.is_empty(), "the page has a body");

    let head = http.head(&url).send().await.expect("HEAD");
    assert_eq!(head.status(), 200, "HEAD {url}");
    assert!(header(&head, "content-type").starts_with("text/html"));

    // Every id gets the same bytes, even one that does not exist.
    let unknown = server.url(&format!("/r/{}", sealpost_crypto::b64::encode_url(&random_bytes(16))));
    let other = http.get(&unknown).send().await.expect("GET unknown");
    assert_eq!(other.status(), 200, "GET {unknown}");
    assert_eq!(other.bytes().await.expect("page"), page, "identical page for every id");

    assert!(
        server.sms().is_empty(),
        "a GET of the link sent an SMS: {:?}",
        server.sms()
    );
    let recipient = sender.recipient_status(&server, &sent.id).await;
    assert_eq!(recipient["releases"], 0, "{recipient}");
    assert_ne!(recipient["locked"], true, "{recipient}");
    let access: Value = http
        .get(server.url(&format!("/api/v1/access/{}", sent.access_id)))
        .send()
        .await
        .expect("access state")
        .json()
        .await
        .expect("access state JSON");
    assert_eq!(access["state"], "active", "{access}");
    let kinds = sender.event_kinds(&server, &sent.id).await;
    assert!(kinds.iter().any(|k| k == "link.fetched"), "events: {kinds:?}");
    assert!(!kinds.iter().any(|k| k == "share.released"), "events: {kinds:?}");
    server.stop().await;
}

/// (e) The page's responses carry the contract's security headers, and the browser reports no
/// CSP violation while the page loads and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_headers_and_no_csp_violations() {
    let server = Server::start(|_| {}).await;
    let (_sender, sent) = sent_message(&server).await;
    let http = reqwest::Client::new();

    let r = http.get(sent.page_url(&server)).send().await.expect("GET page");
    assert_eq!(r.status(), 200);
    assert_eq!(
        directives(&header(&r, "content-security-policy")),
        directives(CSP),
        "CSP"
    );
    assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "cross-origin-opener-policy"), "same-origin");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "permissions-policy"), "interest-cohort=()");
    let html = r.text().await.expect("page");

    // Assets the page names (scripts, stylesheet, the wasm module), and the wasm module by its
    // contract name.
    let mut assets: Vec<String> = asset_paths(&html);
    assets.push("/r/assets/sealpost_web_bg.wasm".into());
    assets.sort();
    assets.dedup();
    for path in &assets {
        let r = http.get(server.url(path)).send().await.expect("GET asset");
        assert_eq!(r.status(), 200, "GET {path}");
        let cache = header(&r, "cache-control");
        assert!(
            cache.contains("immutable") && cache.contains("max-age=31536000"),
            "{path}: Cache-Control {cache:?}"
        );
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        let ct = header(&r, "content-type");
        let file = path.split('?').next().unwrap_or(path);
        let want = match file.rsplit('.').next() {
            Some("wasm") => "application/wasm",
            Some("js") => "javascript",
            Some("css") => "text/css",
            _ => "",
        };
        assert!(ct.contains(want), "{path}: Content-Type {ct:?}");
    }
    let sw = http.get(server.url("/r/sw.js")).send().await.expect("GET sw.js");
    assert_eq!(sw.status(), 200, "GET /r/sw.js");
    assert!(header(&sw, "content-type").contains("javascript"), "sw.js content type");

    with_browser("page_headers_and_no_csp_violations", async |b| {
        b.goto(&sent.page_url_with_secret(&server)).await;
        b.wait_for_state("verify", STATE_TIMEOUT).await;
        let console_read = b.assert_no_csp_violations().await;
        if !console_read {
            eprintln!("note: console check skipped; goog:loggingPrefs browser logs not available");
        }
    })
    .await;
    server.stop().await;
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// CSP directives, order-insensitive, whitespace-normalised.
fn directives(csp: &str) -> Vec<String> {
    let mut d: Vec<String> = csp
        .split(';')
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty())
        .collect();
    d.sort();
    d
}

/// `src`, `href` and `content` attributes naming `/r/assets/…` (also relative), query kept.
fn asset_paths(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\"", "content=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let Some(end) = rest.find('"') else { continue };
            let value = &rest[..end];
            let path = if let Some(p) = value.strip_prefix("/r/assets/") {
                format!("/r/assets/{p}")
            } else if let Some(p) = value
                .strip_prefix("assets/")
                .or_else(|| value.strip_prefix("./assets/"))
            {
                format!("/r/assets/{p}")
            } else {
                continue;
            };
            out.push(path);
        }
    }
    out
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
