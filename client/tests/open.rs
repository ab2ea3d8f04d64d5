//! Opening a message as its recipient through the SDK (`sealpost_client::open`), against a real
//! server in-process: guests by SMS code, registered recipients by password and TOTP; the checks
//! before release, the release proof, streamed attachments, file names.

mod support;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::UnwrapErr;
use reqwest::Method;
use sealpost_client::Error;
use sealpost_client::api::{ApiToken, Auth, Client, Session};
use sealpost_client::open::{
    self, OpenOptions, OpenOutcome, Prompt, ReleaseProof, check_release_proof, parse_target, printable,
    sanitize_file_name,
};
use sealpost_client::send::{Notify, Recipient, SendOptions, SendOutcome, SendRequest, Verification, send};
use sealpost_crypto::b64;
use sealpost_crypto::keyblob::{KdfParams, UserKeys};
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::primitives::ed25519_public;
use sealpost_server::clock::Clock as _;
use sealpost_server::domain::Role;
use serde_json::{Value, json};
use support::{PASSWORD, PHONE, Server, random_file, sha256_file};
use zeroize::Zeroizing;

const SENDER: &str = "alice@council.example";
const GUEST: &str = "carol@example.org";
const ACCOUNT: &str = "bob@hospital.example";
const SUBJECT: &str = "Your care plan";
const BODY: &str = "Dear Carol,\nplease find your care plan attached.\n";

// ---- a scripted person at the keyboard --------------------------------------------------------

type Answer = Box<dyn FnOnce() -> String + Send>;

/// Answers from queues, and a record of every question and notice.
#[derive(Default)]
struct Script {
    sms: Mutex<VecDeque<Answer>>,
    passwords: Mutex<VecDeque<Answer>>,
    totp: Mutex<VecDeque<Answer>>,
    asked: Mutex<Vec<String>>,
    notices: Mutex<Vec<String>>,
}

impl Script {
    fn sms(self, answer: impl FnOnce() -> String + Send + 'static) -> Self {
        self.sms.lock().unwrap().push_back(Box::new(answer));
        self
    }
    fn password(self, answer: &str) -> Self {
        let answer = answer.to_owned();
        self.passwords.lock().unwrap().push_back(Box::new(move || answer));
        self
    }
    fn totp(self, answer: impl FnOnce() -> String + Send + 'static) -> Self {
        self.totp.lock().unwrap().push_back(Box::new(answer));
        self
    }
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
    fn notices(&self) -> Vec<String> {
        self.notices.lock().unwrap().clone()
    }
    fn next(&self, queue: &Mutex<VecDeque<Answer>>, question: String) -> sealpost_client::Result<Zeroizing<String>> {
        self.asked.lock().unwrap().push(question.clone());
        let answer = queue
            .lock()
            .unwrap()
            .pop_front()
            .ok_or_else(|| Error::Invalid(format!("the script has no answer to {question}")))?;
        Ok(Zeroizing::new(answer()))
    }
}

impl Prompt for Script {
    fn sms_code(&self, hint: &str, attempts_left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
        self.next(&self.sms, format!("sms {hint} {attempts_left:?}"))
    }
    fn password(&self) -> sealpost_client::Result<Zeroizing<String>> {
        self.next(&self.passwords, "password".into())
    }
    fn totp_code(&self, attempts_left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
        self.next(&self.totp, format!("totp {attempts_left:?}"))
    }
    fn notice(&self, text: &str) {
        self.notices.lock().unwrap().push(text.to_owned());
    }
}

/// The code of SMS number `nth` (0-based) in the development outbox, waiting for it (the
/// prompt runs on a blocking thread, so it may wait).
fn outbox_code(outbox: &Path, nth: usize, digits: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(outbox).unwrap_or_default();
        if let Some(line) = text.lines().filter(|l| !l.trim().is_empty()).nth(nth) {
            let sms: Value = serde_json::from_str(line).expect("outbox line");
            return sms["text"]
                .as_str()
                .expect("SMS text")
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == digits)
                .expect("a code in the SMS")
                .to_owned();
        }
        assert!(Instant::now() < deadline, "no SMS number {nth} after 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Another code of the same length: the first digit changed.
fn wrong(code: &str) -> String {
    let first = code.as_bytes()[0];
    let changed = if first == b'9' { '0' } else { (first + 1) as char };
    format!("{changed}{}", &code[1..])
}

fn sms_code(server: &Server, nth: usize) -> impl FnOnce() -> String + Send + 'static {
    let outbox = outbox_path(server);
    let digits = server.config.access.code_digits as usize;
    move || outbox_code(&outbox, nth, digits)
}

fn wrong_sms_code(server: &Server, nth: usize) -> impl FnOnce() -> String + Send + 'static {
    let right = sms_code(server, nth);
    move || wrong(&right())
}

fn outbox_path(server: &Server) -> PathBuf {
    server.config.storage.data_dir.join("sms-outbox.jsonl")
}

// ---- sending -----------------------------------------------------------------------------------

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// A client of the test server with `token`.
fn client(server: &Server, token: String) -> Client {
    Client::new(&server.base, Some(ApiToken::new(token))).expect("client")
}

/// A sender at the council with published keys.
async fn sender(server: &Server) -> (Client, UserKeys) {
    let client = client(server, server.sender(SENDER).await);
    let keys = UserKeys::generate(&mut rng());
    client
        .put_keys(&json!({
            "x25519_pk": b64::encode(&keys.encryption_public().0),
            "ed25519_pk": b64::encode(&keys.signing_public()),
        }))
        .await
        .expect("publish the sender's keys");
    (client, keys)
}

/// Sends `attachments` to `recipient`; the outcome and the recipient's link on the test server.
async fn send_to(
    server: &Server,
    client: &Client,
    keys: &UserKeys,
    recipient: Recipient,
    attachments: Vec<PathBuf>,
) -> (SendOutcome, String) {
    let state = tempfile::tempdir().expect("state directory");
    let request = SendRequest {
        recipients: vec![recipient],
        subject: SUBJECT.into(),
        body: BODY.into(),
        attachments,
        expires: "7d".into(),
        max_opens: None,
        notify: Notify::None,
        checks: None,
    };
    let outcome = send(client, keys, &request, &SendOptions::new(state.path().to_path_buf()))
        .await
        .expect("send");
    let sent = &outcome.recipients[0];
    // The link names `server.public_url`; the test server listens elsewhere.
    let access_id = sent.access_id.clone().expect("access id");
    let link = match sent.link.as_deref().and_then(|l| l.split_once('#')) {
        Some((_, secret)) => format!("{}/r/{access_id}#{secret}", server.base),
        None => format!("{}/r/{access_id}", server.base),
    };
    (outcome, link)
}

async fn send_to_guest(server: &Server, attachments: Vec<PathBuf>) -> (Client, SendOutcome, String) {
    let (client, keys) = sender(server).await;
    let guest = Recipient {
        address: GUEST.into(),
        verification: Verification::Sms(PHONE.into()),
    };
    let (outcome, link) = send_to(server, &client, &keys, guest, attachments).await;
    (client, outcome, link)
}

fn options(out_dir: &Path) -> OpenOptions {
    OpenOptions {
        out_dir: out_dir.to_path_buf(),
        log_key: None,
    }
}

/// Files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn status(client: &Client, id: &str) -> Value {
    client.status(id).await.expect("status")
}

// ---- guests ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_opens_a_message_and_its_attachments_arrive_byte_identical() {
    let server = Server::start(|_| {}).await;
    let files = tempfile::tempdir().unwrap();
    let big = files.path().join("scan.bin");
    random_file(&big, 3 * 1024 * 1024 + 5);
    let small = files.path().join("note.txt");
    std::fs::write(&small, b"Appointment on Tuesday at 10:00.\n").unwrap();
    let (client, sent, link) = send_to_guest(&server, vec![big.clone(), small.clone()]).await;

    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("opened");
    std::fs::create_dir(&out_dir).unwrap();
    // A file already there keeps its contents.
    std::fs::write(out_dir.join("message.txt"), b"mine").unwrap();

    let target = parse_target(&link, None).expect("the link parses");
    let script = Script::default().sms(sms_code(&server, 0));
    let opened: OpenOutcome = open::open(&target, &script, &options(&out_dir))
        .await
        .expect("the guest opens the message");

    assert_eq!(script.asked(), vec!["sms •••• 0123 None".to_owned()]);
    assert_eq!(opened.message_id, sent.message_id);
    assert_eq!(opened.sender, SENDER);
    assert_eq!(opened.subject, SUBJECT);
    assert_eq!(opened.body, BODY);
    assert_eq!(opened.releases, 1);
    assert!(opened.log_index > 0);
    assert_eq!(opened.message_file, out_dir.join("message (1).txt"));
    assert_eq!(std::fs::read(out_dir.join("message.txt")).unwrap(), b"mine");
    assert_eq!(
        std::fs::read_to_string(&opened.message_file).unwrap(),
        format!("Subject: {SUBJECT}\nFrom: {SENDER}\n\n{BODY}")
    );

    assert_eq!(opened.attachments.len(), 2);
    let (a, b) = (&opened.attachments[0], &opened.attachments[1]);
    assert_eq!((a.name.as_str(), a.size), ("scan.bin", 3 * 1024 * 1024 + 5));
    assert_eq!(a.path, out_dir.join("scan.bin"));
    assert_eq!(sha256_file(&a.path), sha256_file(&big));
    assert_eq!((b.name.as_str(), b.media_type.as_str()), ("note.txt", "text/plain"));
    assert_eq!(sha256_file(&b.path), sha256_file(&small));
    assert_eq!(
        files_in(&out_dir),
        vec!["message (1).txt", "message.txt", "note.txt", "scan.bin"]
    );

    // The release is the sender's "opened", with the entry the client checked.
    let st = status(&client, &sent.message_id).await;
    assert_eq!(st["recipients"][0]["releases"], 1, "{st}");

    // A second opening is a second release; nothing already saved is overwritten. (A new code
    // can be sent once the resend wait is over.)
    server.clock.advance(31_000);
    let script = Script::default().sms(sms_code(&server, 1));
    let again = open::open(&target, &script, &options(&out_dir))
        .await
        .expect("opens again");
    assert_eq!(again.releases, 2);
    assert!(again.log_index > opened.log_index);
    assert_eq!(again.attachments[0].path, out_dir.join("scan (1).bin"));
    assert_eq!(sha256_file(&again.attachments[0].path), sha256_file(&big));
    assert_eq!(again.message_file, out_dir.join("message (2).txt"));
    server.stop().await;
}

/// A TCP proxy in front of `upstream` that, once, closes a connection after it has carried
/// `cut_after` bytes towards the client. Answers its base URL and whether it cut.
async fn cutting_proxy(upstream: &str, cut_after: usize) -> (String, Arc<AtomicBool>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let upstream: std::net::SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cut = Arc::new(AtomicBool::new(false));
    let cut_flag = Arc::clone(&cut);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let cut = Arc::clone(&cut_flag);
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let requests = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                let mut carried = 0;
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if !cut.load(Ordering::SeqCst) && carried + n > cut_after {
                        let _ = client_write.write_all(&buf[..cut_after - carried]).await;
                        cut.store(true, Ordering::SeqCst);
                        break;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    carried += n;
                }
                requests.abort();
            });
        }
    });
    (base, cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_download_resumes_where_it_stopped() {
    let server = Server::start(|_| {}).await;
    let files = tempfile::tempdir().unwrap();
    let big = files.path().join("scan.bin");
    random_file(&big, 3 * 1024 * 1024 + 5);
    let (client, sent, link) = send_to_guest(&server, vec![big.clone()]).await;
    // Only the attachment's download carries 2 MiB on one connection.
    let (proxy, cut) = cutting_proxy(&server.base, 2 * 1024 * 1024).await;
    let link = link.replacen(&server.base, &proxy, 1);
    let target = parse_target(&link, None).unwrap();
    assert_eq!(target.client.base(), proxy);
    let out = tempfile::tempdir().unwrap();
    let script = Script::default().sms(sms_code(&server, 0));
    let opened = open::open(&target, &script, &options(out.path())).await.expect("opens");
    assert!(cut.load(Ordering::SeqCst), "the proxy cut a connection");
    assert_eq!(sha256_file(&opened.attachments[0].path), sha256_file(&big));
    assert_eq!(files_in(out.path()), vec!["message.txt", "scan.bin"]);
    // The rest came by a range request: the server saw one download of it from its first byte.
    let events = client
        .get(&format!("/api/v1/messages/{}/events", sent.message_id))
        .await
        .unwrap();
    let downloads = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "ciphertext.downloaded" && e["detail"]["payload"] == 1)
        .count();
    assert_eq!(downloads, 1, "{events}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_is_asked_again_with_the_attempts_left() {
    let server = Server::start(|_| {}).await;
    let (_client, _sent, link) = send_to_guest(&server, vec![]).await;
    let out = tempfile::tempdir().unwrap();
    let target = parse_target(&link, None).unwrap();
    let script = Script::default()
        .sms(wrong_sms_code(&server, 0))
        .sms(sms_code(&server, 0));
    let opened = open::open(&target, &script, &options(out.path())).await.expect("opens");
    assert_eq!(
        script.asked(),
        vec!["sms •••• 0123 None".to_owned(), "sms •••• 0123 Some(4)".to_owned()]
    );
    assert_eq!(server.sms().len(), 1, "no second code was needed");
    assert!(opened.attachments.is_empty());
    assert_eq!(files_in(out.path()), vec!["message.txt"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_code_is_replaced_by_a_new_one() {
    let server = Server::start(|cfg| {
        cfg.access.max_failures_per_code = 1;
        cfg.access.resend_after_secs = 0;
    })
    .await;
    let (_client, _sent, link) = send_to_guest(&server, vec![]).await;
    let out = tempfile::tempdir().unwrap();
    let target = parse_target(&link, None).unwrap();
    // The server orders codes by creation time: the manual clock moves on before the new one.
    let clock = server.clock.clone();
    let first_wrong = wrong_sms_code(&server, 0);
    let script = Script::default()
        .sms(move || {
            clock.advance(1_000);
            first_wrong()
        })
        .sms(sms_code(&server, 1));
    if let Err(e) = open::open(&target, &script, &options(out.path())).await {
        panic!(
            "{e:?}: asked {:?}, told {:?}, sms {:?}",
            script.asked(),
            script.notices(),
            server.sms()
        );
    }
    assert_eq!(
        script.asked(),
        vec!["sms •••• 0123 None".to_owned(), "sms •••• 0123 None".to_owned()]
    );
    assert_eq!(server.sms().len(), 2, "a new code was sent");
    assert!(
        script.notices().iter().any(|n| n.contains("sending a new one")),
        "{:?}",
        script.notices()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_wrong_code_twice_stops_before_using_up_the_attempts() {
    let server = Server::start(|_| {}).await;
    let (_client, _sent, link) = send_to_guest(&server, vec![]).await;
    let out = tempfile::tempdir().unwrap();
    let target = parse_target(&link, None).unwrap();
    let outbox = outbox_path(&server);
    let (first, second) = (outbox.clone(), outbox);
    let script = Script::default()
        .sms(move || wrong(&outbox_code(&first, 0, 6)))
        .sms(move || wrong(&outbox_code(&second, 0, 6)));
    let err = open::open(&target, &script, &options(out.path())).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("same code"), "{err}");
    assert!(files_in(out.path()).is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_message_is_refused_before_any_code_is_sent() {
    let server = Server::start(|_| {}).await;
    let (client, sent, link) = send_to_guest(&server, vec![]).await;
    client
        .call(
            Method::POST,
            &format!("/api/v1/messages/{}/revoke", sent.message_id),
            &json!({}),
        )
        .await
        .expect("revoke");
    let out = tempfile::tempdir().unwrap();
    let target = parse_target(&link, None).unwrap();
    let script = Script::default();
    let err = open::open(&target, &script, &options(out.path())).await.unwrap_err();
    // Answered exactly as an unknown link (docs/api.md, Indistinguishability).
    assert_eq!(
        err.problem().map(|p| (p.status, p.code.as_str())),
        Some((404, "unknown_link")),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("this link cannot be opened"), "{err}");
    assert!(script.asked().is_empty());
    assert!(server.sms().is_empty(), "no code was sent");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_without_its_key_or_with_a_damaged_key_is_refused_before_any_code() {
    let server = Server::start(|_| {}).await;
    let (_client, _sent, link) = send_to_guest(&server, vec![]).await;
    let (bare, secret) = link.split_once('#').unwrap();
    let out = tempfile::tempdir().unwrap();
    let script = Script::default();

    let target = parse_target(bare, None).unwrap();
    assert!(target.link_secret.is_none());
    let err = open::open(&target, &script, &options(out.path())).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "this link lacks its key (the part after #); use the whole link"
    );

    let damaged = format!("{bare}#{}", &secret[..secret.len() - 3]);
    let target = parse_target(&damaged, None).unwrap();
    let err = open::open(&target, &script, &options(out.path())).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("damaged"), "{err}");
    assert!(
        !err.to_string().contains(&secret[..20]),
        "the key is not repeated: {err}"
    );

    assert!(script.asked().is_empty());
    assert!(server.sms().is_empty(), "no code was sent");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_does_not_verify_under_the_pinned_log_key_is_refused() {
    let server = Server::start(|_| {}).await;
    let (client, sent, link) = send_to_guest(&server, vec![]).await;
    let target = parse_target(&link, None).unwrap();
    // A key with the log's name but another public key: the checkpoint's signature fails.
    let real = client.log_key().await.expect("log key");
    let name = VerifierKey::from_vkey(&real).unwrap().name;
    let other = VerifierKey::new(&name, ed25519_public(&[9; 32])).unwrap().to_vkey();
    let out = tempfile::tempdir().unwrap();
    let script = Script::default().sms(sms_code(&server, 0));
    let err = open::open(
        &target,
        &script,
        &OpenOptions {
            out_dir: out.path().to_path_buf(),
            log_key: Some(other),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Verification(_)), "{err:?}");
    assert!(err.to_string().contains("access log"), "{err}");
    assert!(err.to_string().ends_with("the message was not opened"), "{err}");
    assert!(files_in(out.path()).is_empty(), "nothing was decrypted or saved");
    // The server did count the release.
    assert_eq!(status(&client, &sent.message_id).await["recipients"][0]["releases"], 1);

    // A log key that is not a key at all is refused before anything acts.
    let script = Script::default();
    let err = open::open(
        &target,
        &script,
        &OpenOptions {
            out_dir: out.path().to_path_buf(),
            log_key: Some("not a key".into()),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(script.asked().is_empty());
    assert_eq!(server.sms().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_release_proofs_are_refused() {
    let server = Server::start(|_| {}).await;
    let (_client, _sent, link) = send_to_guest(&server, vec![]).await;
    let target = parse_target(&link, None).unwrap();
    let api = &target.client;
    let base = format!("/api/v1/access/{}", target.access_id);
    let info: Value = api
        .json(api.request(Method::GET, &base, Auth::None).unwrap(), "info")
        .await
        .unwrap();
    let (message_id, rid) = (info["message_id"].as_str().unwrap(), info["rid"].as_str().unwrap());
    let log_key = VerifierKey::from_vkey(info["log_key"].as_str().unwrap()).unwrap();

    // Verify and release by hand.
    api.send(api.request(Method::POST, &format!("{base}/code"), Auth::None).unwrap())
        .await
        .unwrap();
    let code = server.wait_for_code(0).await;
    let grant: Value = api
        .json(
            api.request(Method::POST, &format!("{base}/verify"), Auth::None)
                .unwrap()
                .json(&json!({ "code": code })),
            "verify",
        )
        .await
        .unwrap();
    let session = Session::new(grant["session"].as_str().unwrap().to_owned());
    let released: Value = api
        .json(
            api.request(Method::POST, &format!("{base}/release"), Auth::Session(&session))
                .unwrap(),
            "release",
        )
        .await
        .unwrap();
    let proof: ReleaseProof = serde_json::from_value(released["log"].clone()).unwrap();
    assert!(!proof.proof.is_empty(), "the log holds earlier entries");

    let entry = check_release_proof(&log_key, &proof, message_id, rid).expect("the real proof verifies");
    assert_eq!(entry.index, proof.index);
    assert_eq!(entry.kind, "share.released");

    let refused = |p: &ReleaseProof, message: &str, recipient: &str| {
        let err = check_release_proof(&log_key, p, message, recipient).unwrap_err();
        assert!(matches!(err, Error::Verification(_)), "{err:?}");
        assert!(err.to_string().contains("the message was not opened"), "{err}");
    };
    let flip = |text: &str| -> String {
        let mut bytes = base64_std(text);
        bytes[0] ^= 1;
        base64_std_encode(&bytes)
    };
    let mut p = proof.clone();
    p.leaf = flip(&proof.leaf);
    refused(&p, message_id, rid);
    let mut p = proof.clone();
    p.proof[0] = flip(&proof.proof[0]);
    refused(&p, message_id, rid);
    let mut p = proof.clone();
    p.proof.pop();
    refused(&p, message_id, rid);
    let mut p = proof.clone();
    p.index += 1;
    refused(&p, message_id, rid);
    let mut p = proof.clone();
    p.checkpoint = proof.checkpoint.replacen('\n', "\n1", 1);
    refused(&p, message_id, rid);
    let mut p = proof.clone();
    p.leaf = proof.leaf.trim_end_matches('=').to_owned();
    if p.leaf != proof.leaf {
        refused(&p, message_id, rid); // not the canonical padded form
    }
    refused(&proof, "AAAAAAAAAAAAAAAAAAAAAA", rid);
    refused(&proof, message_id, "AAAAAAAAAAAAAAAAAAAAAA");
    let wrong_key = VerifierKey::new(&log_key.name, ed25519_public(&[3; 32])).unwrap();
    assert!(check_release_proof(&wrong_key, &proof, message_id, rid).is_err());
    server.stop().await;
}

fn base64_std(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn base64_std_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---- registered recipients ---------------------------------------------------------------------

/// RFC 4648 base32 without padding (the TOTP secret as the server shows it).
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_recipient_opens_with_password_and_totp() {
    let server = Server::start(|_| {}).await;
    // Bob: an account with keys, a key blob, a login key and an authenticator app.
    let bob = client(&server, server.account("hospital", ACCOUNT, &[Role::Sender]).await);
    let bob_keys = UserKeys::generate(&mut rng());
    let small = KdfParams {
        m_kib: KdfParams::MIN_M_KIB,
        t: KdfParams::MIN_T,
        p: 1,
    };
    let (blob, login) = bob_keys.seal(PASSWORD, small, &mut rng()).unwrap();
    bob.put_keys(&json!({
        "x25519_pk": blob.x25519_pk,
        "ed25519_pk": blob.ed25519_pk,
        "keyblob": blob,
        "login_key": login.to_text().as_str(),
    }))
    .await
    .expect("publish Bob's keys");
    let enrolment = bob.call(Method::POST, "/api/v1/me/totp", &json!({})).await.unwrap();
    let seed = base32_decode(enrolment["secret"].as_str().unwrap());
    let authenticator = sealpost_server::domain::totp::authenticator(&seed, ACCOUNT).unwrap();
    let now_secs = |server: &Server| (server.clock.now_ms() / 1000) as u64;
    let code = authenticator.generate(now_secs(&server)).to_string();
    bob.call(Method::POST, "/api/v1/me/totp/confirm", &json!({ "code": code }))
        .await
        .expect("confirm the authenticator");
    // The step used to confirm is spent: the next code comes 30 s later.
    server.clock.advance(30_000);

    let files = tempfile::tempdir().unwrap();
    let report = files.path().join("report.pdf");
    random_file(&report, 200_000);
    let (alice, alice_keys) = sender(&server).await;
    let registered = Recipient {
        address: ACCOUNT.into(),
        verification: Verification::Registered,
    };
    let (sent, link) = send_to(&server, &alice, &alice_keys, registered, vec![report.clone()]).await;
    assert!(!link.contains('#'));

    let right_code = authenticator.generate(now_secs(&server)).to_string();
    let wrong_code = wrong(&right_code);
    let script = Script::default()
        .password("not my password")
        .password(PASSWORD)
        .totp(move || wrong_code)
        .totp(move || right_code);
    let out = tempfile::tempdir().unwrap();
    let target = parse_target(&link, None).unwrap();
    let opened = open::open(&target, &script, &options(out.path()))
        .await
        .expect("Bob opens the message");
    assert_eq!(
        script.asked(),
        vec!["password", "password", "totp None", "totp Some(8)"]
    );
    assert!(
        script.notices().iter().any(|n| n.contains("(9 attempts left)")),
        "{:?}",
        script.notices()
    );
    assert_eq!(opened.message_id, sent.message_id);
    assert_eq!(opened.sender, SENDER);
    assert_eq!(opened.releases, 1);
    assert_eq!(opened.attachments[0].path, out.path().join("report.pdf"));
    assert_eq!(sha256_file(&opened.attachments[0].path), sha256_file(&report));

    // A registered link given with a key after # is refused before anything acts.
    let target = parse_target(&format!("{link}#AAAA"), None).unwrap();
    let err = open::open(&target, &Script::default(), &options(out.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    server.stop().await;
}

// ---- links and file names ----------------------------------------------------------------------

#[test]
fn links_parse_into_server_id_and_key() {
    let id = "Zt0v8aY3QWm1c9Lk2PpR4g";
    let secret = "q".repeat(42) + "A";
    let target = parse_target(&format!(" https://post.example/sealpost/r/{id}#{secret} "), None).unwrap();
    assert_eq!(target.client.base(), "https://post.example/sealpost");
    assert_eq!(target.access_id, id);
    assert_eq!(target.link_secret.as_deref().map(|s| s.as_str()), Some(secret.as_str()));
    let shown = format!("{target:?}");
    assert!(!shown.contains(&secret), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");

    let target = parse_target(&format!("http://127.0.0.1:8080/r/{id}"), None).unwrap();
    assert_eq!(target.client.base(), "http://127.0.0.1:8080");
    assert!(target.link_secret.is_none());

    let default = Client::new("https://sealpost.example", None).unwrap();
    let target = parse_target(id, Some(&default)).unwrap();
    assert_eq!(target.client.base(), "https://sealpost.example");
    let target = parse_target(&format!("{id}#{secret}"), Some(&default)).unwrap();
    assert!(target.link_secret.is_some());
    assert!(matches!(parse_target(id, None), Err(Error::Config(_))));

    for bad in [
        "",
        "hello",
        &format!("ftp://post.example/r/{id}#{secret}"),
        &format!("https://post.example/x/{id}#{secret}"),
        &format!("https://post.example/r/{}#{secret}", &id[1..]),
        &format!("https://user:pw@post.example/r/{id}#{secret}"),
    ] {
        let err = parse_target(bad, None).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{bad}: {err:?}");
        assert!(!err.to_string().contains(&secret), "{err}");
    }
}

#[test]
fn file_names_from_the_sender_are_sanitised() {
    let cases = [
        ("report.pdf", "report.pdf"),
        ("Scan 2024-01-05 (final).pdf", "Scan 2024-01-05 (final).pdf"),
        (".bashrc", "bashrc"),
        ("...", "attachment"),
        ("..", "attachment"),
        (".", "attachment"),
        ("", "attachment"),
        ("   ", "attachment"),
        ("name. . ", "name"),
        ("a\u{0}b\nc\u{1b}[31m.txt", "abc[31m.txt"),
        ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
        ("a:b*c?d\"e<f>g|h.txt", "a_b_c_d_e_f_g_h.txt"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Com1.log", "_Com1.log"),
        ("lpt9", "_lpt9"),
        ("console.txt", "console.txt"),
        ("café.txt", "café.txt"),
    ];
    for (given, expected) in cases {
        assert_eq!(sanitize_file_name(given), expected, "{given:?}");
    }
    for evil in [
        "../../etc/passwd",
        "..\\..\\Windows\\System32\\drivers",
        "/etc/shadow",
        "a/../../b",
        "....//....//x",
        "C:\\x",
    ] {
        let safe = sanitize_file_name(evil);
        assert!(!safe.contains('/') && !safe.contains('\\'), "{evil:?} → {safe:?}");
        assert!(!safe.contains(".."), "{evil:?} → {safe:?}");
        assert!(!safe.starts_with('.') && !safe.is_empty(), "{evil:?} → {safe:?}");
        assert_eq!(Path::new(&safe).components().count(), 1, "{evil:?} → {safe:?}");
    }
    let long = sanitize_file_name(&("x".repeat(300) + ".pdf"));
    assert!(long.len() <= 240 && long.ends_with(".pdf"), "{long}");
    let wide = sanitize_file_name(&("é".repeat(200) + ".txt"));
    assert!(
        wide.len() <= 240 && wide.ends_with(".txt") && wide.starts_with('é'),
        "{wide}"
    );
    let no_ext = sanitize_file_name(&"y".repeat(1000));
    assert_eq!(no_ext.len(), 240);
}

#[test]
fn printable_text_drops_terminal_controls() {
    assert_eq!(printable("a\u{1b}[2Jb\nc\td\u{202e}e\u{7}"), "a[2Jb\nc\tde");
}
