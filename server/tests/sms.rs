//! SMS providers: the Twilio client against a local Twilio-compatible receiver (retries, refusals,
//! unreachable provider, secrets kept out of errors) and the development outbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sealpost_server::config::Secret;
use sealpost_server::sms::{self, SmsConfig, SmsError, SmsProvider};

const SID: &str = "AC123";
const TOKEN: &str = "secret";
const FROM: &str = "+15005550006";
const TO: &str = "+447700900123";
const TEXT: &str = "Your Sealpost code is 481516";

/// What the receiver answers, in turn; the last answer repeats.
#[derive(Clone)]
struct Script(Vec<(StatusCode, &'static str)>);

#[derive(Clone)]
struct Receiver {
    script: Script,
    /// `Retry-After` sent with every 429.
    retry_after: Option<&'static str>,
    requests: Arc<AtomicUsize>,
    /// Problems with the requests seen (method, path, auth, content type, fields).
    problems: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn messages(
    State(rx): State<Receiver>,
    method: Method,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let n = rx.requests.fetch_add(1, Ordering::SeqCst);
    let mut problems = Vec::new();
    if method != Method::POST {
        problems.push(format!("method {method}"));
    }
    if account != SID {
        problems.push(format!("account {account}"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        problems.push(format!("content type {content_type}"));
    }
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    let authorised = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(expected_auth.as_str());
    for (field, value) in [("To", TO), ("From", FROM), ("Body", TEXT)] {
        if form.get(field).map(String::as_str) != Some(value) {
            problems.push(format!("field {field} = {:?}", form.get(field)));
        }
    }
    if form.len() != 3 {
        problems.push(format!("{} fields", form.len()));
    }
    rx.problems.lock().expect("lock").extend(problems);
    if !authorised {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
        )
            .into_response();
    }
    let script = &rx.script.0;
    let (status, body) = script[n.min(script.len() - 1)];
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let (StatusCode::TOO_MANY_REQUESTS, Some(wait)) = (status, rx.retry_after) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static(wait));
    }
    response
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let url = reqwest::Url::parse(&format!("http://form.invalid/?{}", String::from_utf8_lossy(body))).expect("form");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Starts a receiver on 127.0.0.1:0 and returns its base URL.
async fn start(script: Script) -> (String, Receiver) {
    start_with_retry_after(script, None).await
}

async fn start_with_retry_after(script: Script, retry_after: Option<&'static str>) -> (String, Receiver) {
    let rx = Receiver {
        script,
        retry_after,
        requests: Arc::new(AtomicUsize::new(0)),
        problems: Arc::new(std::sync::Mutex::new(Vec::new())),
    };
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            axum::routing::post(messages),
        )
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

fn twilio_config(base_url: &str) -> SmsConfig {
    SmsConfig {
        provider: SmsProvider::Twilio,
        base_url: base_url.to_owned(),
        account_sid: Some(SID.to_owned()),
        auth_token: Some(Secret::new(TOKEN.to_owned())),
        sender_id: Some(FROM.to_owned()),
        max_attempts: 3,
        retry_base_ms: 10,
        timeout_secs: 5,
        ..SmsConfig::default()
    }
}

const CREATED: (StatusCode, &str) = (StatusCode::CREATED, r#"{"sid":"SM0123456789abcdef","status":"queued"}"#);

fn assert_no_secrets(error: &SmsError) {
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(TOKEN), "token in {shown}");
        assert!(!shown.contains(TEXT) && !shown.contains("481516"), "text in {shown}");
    }
}

#[tokio::test]
async fn twilio_success() {
    let (url, rx) = start(Script(vec![CREATED])).await;
    let sender = sms::build(&twilio_config(&url), std::path::Path::new("/nonexistent")).expect("build");
    let receipt = sender.send(TO, TEXT).await.expect("send");
    assert_eq!(receipt.provider_id, "SM0123456789abcdef");
    assert_eq!(rx.requests.load(Ordering::SeqCst), 1);
    assert_eq!(*rx.problems.lock().expect("lock"), Vec::<String>::new());
    // The Debug form of the sender hides the token.
    assert!(!format!("{sender:?}").contains(TOKEN));
}

#[tokio::test]
async fn twilio_base_url_with_trailing_slash() {
    let (url, rx) = start(Script(vec![CREATED])).await;
    let sender = sms::build(&twilio_config(&format!("{url}/")), std::path::Path::new(".")).expect("build");
    sender.send(TO, TEXT).await.expect("send");
    assert_eq!(rx.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn twilio_retries_server_errors() {
    let failure = (StatusCode::INTERNAL_SERVER_ERROR, r#"{"message":"oops"}"#);
    let (url, rx) = start(Script(vec![failure, failure, CREATED])).await;
    let sender = sms::build(&twilio_config(&url), std::path::Path::new(".")).expect("build");
    let receipt = sender.send(TO, TEXT).await.expect("send after retries");
    assert_eq!(receipt.provider_id, "SM0123456789abcdef");
    assert_eq!(rx.requests.load(Ordering::SeqCst), 3);
    assert_eq!(*rx.problems.lock().expect("lock"), Vec::<String>::new());
}

#[tokio::test]
async fn twilio_retries_too_many_requests_then_gives_up() {
    let busy = (StatusCode::TOO_MANY_REQUESTS, r#"{"message":"Too Many Requests"}"#);
    let (url, rx) = start(Script(vec![busy])).await;
    let sender = sms::build(&twilio_config(&url), std::path::Path::new(".")).expect("build");
    let error = sender.send(TO, TEXT).await.expect_err("always busy");
    assert!(matches!(error, SmsError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("429"), "{error}");
    assert_eq!(rx.requests.load(Ordering::SeqCst), 3);
    assert_no_secrets(&error);
}

#[tokio::test]
async fn twilio_honours_a_short_retry_after() {
    let busy = (StatusCode::TOO_MANY_REQUESTS, r#"{"message":"Too Many Requests"}"#);
    let (url, rx) = start_with_retry_after(Script(vec![busy, CREATED]), Some("1")).await;
    let sender = sms::build(&twilio_config(&url), std::path::Path::new(".")).expect("build");
    let started = std::time::Instant::now();
    sender.send(TO, TEXT).await.expect("send after waiting");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rx.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn twilio_gives_up_on_a_long_retry_after() {
    let busy = (StatusCode::TOO_MANY_REQUESTS, r#"{"message":"Too Many Requests"}"#);
    let (url, rx) = start_with_retry_after(Script(vec![busy, CREATED]), Some("3600")).await;
    let sender = sms::build(&twilio_config(&url), std::path::Path::new(".")).expect("build");
    let error = sender.send(TO, TEXT).await.expect_err("not waiting an hour");
    assert!(matches!(error, SmsError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("3600"), "{error}");
    assert_eq!(rx.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn twilio_bad_request_is_rejected_without_retry() {
    let bad = (
        StatusCode::BAD_REQUEST,
        r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}"#,
    );
    let (url, rx) = start(Script(vec![bad, CREATED])).await;
    let sender = sms::build(&twilio_config(&url), std::path::Path::new(".")).expect("build");
    let error = sender.send(TO, TEXT).await.expect_err("rejected");
    match &error {
        SmsError::Rejected { status, message } => {
            assert_eq!(*status, 400);
            assert_eq!(message, "The 'To' number is not a valid phone number.");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(rx.requests.load(Ordering::SeqCst), 1);
    assert_no_secrets(&error);
}

#[tokio::test]
async fn twilio_provider_echo_of_text_is_redacted() {
    let echo = (
        StatusCode::BAD_REQUEST,
        r#"{"message":"Body 'Your Sealpost code is 481516' refused"}"#,
    );
    let (url, _rx) = start(Script(vec![echo])).await;
    let sender = sms::build(&twilio_config(&url), std::path::Path::new(".")).expect("build");
    let error = sender.send(TO, TEXT).await.expect_err("rejected");
    assert!(matches!(error, SmsError::Rejected { status: 400, .. }), "{error:?}");
    assert_no_secrets(&error);
}

#[tokio::test]
async fn twilio_wrong_credentials_are_rejected() {
    let (url, rx) = start(Script(vec![CREATED])).await;
    let mut config = twilio_config(&url);
    config.auth_token = Some(Secret::new("not-the-token".to_owned()));
    let sender = sms::build(&config, std::path::Path::new(".")).expect("build");
    let error = sender.send(TO, TEXT).await.expect_err("unauthorised");
    match &error {
        SmsError::Rejected { status, message } => {
            assert_eq!(*status, 401);
            assert_eq!(message, "Authenticate");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(rx.requests.load(Ordering::SeqCst), 1);
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("not-the-token") && !shown.contains(TEXT), "{shown}");
}

#[tokio::test]
async fn twilio_unreachable_is_unavailable_after_max_attempts() {
    // A port that was just free: bind, note, drop.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut config = twilio_config(&format!("http://127.0.0.1:{port}"));
    config.max_attempts = 2;
    let sender = sms::build(&config, std::path::Path::new(".")).expect("build");
    let error = sender.send(TO, TEXT).await.expect_err("unreachable");
    assert!(matches!(error, SmsError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("after 2 attempts"), "{error}");
    assert_no_secrets(&error);
}

#[tokio::test]
async fn twilio_timeout_is_retried_then_unavailable() {
    // A listener that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let mut config = twilio_config(&format!("http://{addr}"));
    config.timeout_secs = 1;
    config.max_attempts = 2;
    let sender = sms::build(&config, std::path::Path::new(".")).expect("build");
    let error = sender.send(TO, TEXT).await.expect_err("timed out");
    assert!(matches!(error, SmsError::Unavailable(_)), "{error:?}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_no_secrets(&error);
}

#[test]
fn twilio_config_is_validated() {
    let dir = std::path::Path::new(".");
    let complete = twilio_config("https://api.twilio.com");
    assert!(sms::build(&complete, dir).is_ok());
    for (missing, key) in [
        (
            SmsConfig {
                account_sid: None,
                ..complete.clone()
            },
            "account_sid",
        ),
        (
            SmsConfig {
                auth_token: None,
                ..complete.clone()
            },
            "auth_token",
        ),
        (
            SmsConfig {
                sender_id: Some(" ".to_owned()),
                ..complete.clone()
            },
            "sender_id",
        ),
    ] {
        let error = sms::build(&missing, dir).expect_err("incomplete");
        assert!(matches!(error, SmsError::Config(_)), "{error:?}");
        assert!(error.to_string().contains(key), "{error}");
    }
    let bad_url = SmsConfig {
        base_url: "ftp://example.org".to_owned(),
        ..complete.clone()
    };
    assert!(matches!(sms::build(&bad_url, dir), Err(SmsError::Config(_))));
    let no_attempts = SmsConfig {
        max_attempts: 0,
        ..complete
    };
    assert!(matches!(sms::build(&no_attempts, dir), Err(SmsError::Config(_))));
}

#[test]
fn config_defaults_and_serde() {
    let config = SmsConfig::default();
    assert_eq!(config.provider, SmsProvider::Outbox);
    assert_eq!(config.base_url, "https://api.twilio.com");
    assert_eq!(
        (config.max_attempts, config.retry_base_ms, config.timeout_secs),
        (3, 500, 10)
    );
    assert_eq!(
        config.outbox_path(std::path::Path::new("/data")),
        std::path::Path::new("/data/sms-outbox.jsonl")
    );

    let parsed: SmsConfig = toml::from_str(
        "provider = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"tok\"\nsender_id = \"Sealpost\"\n",
    )
    .expect("parse");
    assert_eq!(parsed.provider, SmsProvider::Twilio);
    assert_eq!(parsed.auth_token.as_ref().map(Secret::expose), Some("tok"));
    assert_eq!(parsed.max_attempts, 3);
    let printed = toml::to_string(&parsed).expect("print");
    assert!(!printed.contains("tok\""), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");

    assert!(toml::from_str::<SmsConfig>("provider = \"outbox\"\ntypo = 1\n").is_err());
    assert!(toml::from_str::<SmsConfig>("provider = \"carrier-pigeon\"\n").is_err());
}

#[tokio::test]
async fn outbox_concurrent_sends_are_whole_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("nested").join("data");
    let sender = sms::build(&SmsConfig::default(), &data_dir).expect("build");
    let path = data_dir.join("sms-outbox.jsonl");
    assert_eq!(sms::read_outbox(&path).expect("missing outbox is empty"), Vec::new());

    let (a, b) = tokio::join!(
        sender.send("+447700900001", "Your Sealpost code is 111111"),
        sender.send("+447700900002", "Your Sealpost code is 222222 – «ünïcode»\n2nd line"),
    );
    assert_ne!(a.expect("a").provider_id, b.expect("b").provider_id);

    let raw = std::fs::read_to_string(&path).expect("outbox");
    assert_eq!(raw.lines().count(), 2, "{raw}");
    assert!(raw.ends_with('\n'));
    for line in raw.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        let object = value.as_object().expect("object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["at", "text", "to"]);
        let at = object["at"].as_str().expect("at");
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    }

    let mut entries = sms::read_outbox(&path).expect("read");
    entries.sort_by(|x, y| x.to.cmp(&y.to));
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].to, "+447700900001");
    assert_eq!(entries[0].text, "Your Sealpost code is 111111");
    assert_eq!(entries[1].to, "+447700900002");
    assert_eq!(entries[1].text, "Your Sealpost code is 222222 – «ünïcode»\n2nd line");
}

#[tokio::test]
async fn outbox_many_concurrent_sends_and_configured_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("custom").join("outbox.jsonl");
    let config = SmsConfig {
        outbox_file: Some(file.clone()),
        ..SmsConfig::default()
    };
    let sender = sms::build(&config, std::path::Path::new("/nonexistent")).expect("build");
    let sends = (0..50).map(|i| {
        let sender = sender.clone();
        tokio::spawn(async move { sender.send(&format!("+4477009{i:05}"), &"x".repeat(5000)).await })
    });
    for send in futures::future::join_all(sends).await {
        send.expect("join").expect("send");
    }
    let entries = sms::read_outbox(&file).expect("read");
    assert_eq!(entries.len(), 50);
    assert!(entries.iter().all(|e| e.text.len() == 5000));
}

#[test]
fn read_outbox_rejects_garbage_but_tolerates_a_cut_last_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let good = r#"{"at":"2025-01-01T00:00:00Z","to":"+1","text":"a"}"#;
    std::fs::write(&path, format!("{good}\n{{\"at\":\"2025")).expect("write");
    assert_eq!(sms::read_outbox(&path).expect("read").len(), 1);
    std::fs::write(&path, format!("not json\n{good}\n")).expect("write");
    let error = sms::read_outbox(&path).expect_err("garbage");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}
