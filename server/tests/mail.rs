//! Notification mail against a minimal SMTP relay written here: plain SMTP, STARTTLS and implicit
//! TLS (a self-signed `localhost` certificate given to the mailer as `ca_file`), AUTH PLAIN, the
//! envelope, the headers and the body; refusals and failures as `MailError`s without the password.

#[path = "support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sealpost_server::config::Secret;
use sealpost_server::mail::{self, MailConfig, MailError, MailTls, Mailer};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const USER: &str = "sealpost-relay";
const PASSWORD: &str = "hunter2-relay-password";
const FROM: &str = "no-reply@sealpost.invalid";
const TO: &str = "resident@example.net";
const LINK: &str = "https://sealpost.example.org/r/01J9Z8Q4N6W7X3Y2#k=abcdefghijklmnopqrstuvwxyz0123456789-_";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    StartTls,
    ImplicitTls,
}

#[derive(Clone)]
struct Relay {
    mode: Mode,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    reject_rcpt: bool,
}

/// What the relay saw on one connection.
#[derive(Debug, Default, Clone)]
struct Transcript {
    ehlo: usize,
    /// Whether MAIL FROM came over TLS.
    mail_over_tls: bool,
    auth: Option<(String, String)>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    data: Option<String>,
    quit: bool,
    tls_failed: bool,
}

/// A self-signed certificate for `localhost`: (PEM file in `dir`, acceptor).
fn tls_material(dir: &std::path::Path) -> (std::path::PathBuf, tokio_rustls::TlsAcceptor) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let pem_path = dir.join("relay-ca.pem");
    std::fs::write(&pem_path, generated.cert.pem()).expect("write pem");
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .expect("server config");
    (pem_path, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Starts the relay on 127.0.0.1:0; every connection's transcript arrives on the channel.
async fn start(relay: Relay) -> (u16, mpsc::UnboundedReceiver<Transcript>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let relay = relay.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let transcript = connection(socket, &relay).await;
                let _ = tx.send(transcript);
            });
        }
    });
    (port, rx)
}

async fn connection(socket: TcpStream, relay: &Relay) -> Transcript {
    let mut t = Transcript::default();
    match relay.mode {
        Mode::Plain => {
            let _ = session(socket, relay, &mut t, true, false).await;
        }
        Mode::ImplicitTls => match relay.acceptor.as_ref().expect("acceptor").accept(socket).await {
            Ok(tls) => {
                let _ = session(tls, relay, &mut t, true, true).await;
            }
            Err(_) => t.tls_failed = true,
        },
        Mode::StartTls => {
            if let Ok(Some(plain)) = session(socket, relay, &mut t, true, false).await {
                match relay.acceptor.as_ref().expect("acceptor").accept(plain).await {
                    Ok(tls) => {
                        let _ = session(tls, relay, &mut t, false, true).await;
                    }
                    Err(_) => t.tls_failed = true,
                }
            }
        }
    }
    t
}

/// Speaks SMTP on `stream` until QUIT or EOF; returns the stream when the client asked for
/// STARTTLS (so that the caller upgrades it).
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    relay: &Relay,
    t: &mut Transcript,
    greet: bool,
    tls: bool,
) -> std::io::Result<Option<S>> {
    let mut stream = BufReader::new(stream);
    if greet {
        stream.write_all(b"220 localhost ESMTP test relay\r\n").await?;
        stream.flush().await?;
    }
    loop {
        let Some(line) = read_line(&mut stream).await? else {
            return Ok(None);
        };
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" => {
                t.ehlo += 1;
                let mut r = String::from("250-localhost greets you\r\n250-AUTH PLAIN LOGIN\r\n");
                if relay.mode == Mode::StartTls && !tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 8BITMIME\r\n");
                r
            }
            "STARTTLS" if relay.mode == Mode::StartTls && !tls => {
                stream.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                stream.flush().await?;
                return Ok(Some(stream.into_inner()));
            }
            "AUTH" => {
                let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    "504 5.5.4 only PLAIN here\r\n".to_owned()
                } else {
                    let encoded = if initial.is_empty() {
                        stream.write_all(b"334 \r\n").await?;
                        stream.flush().await?;
                        read_line(&mut stream).await?.unwrap_or_default()
                    } else {
                        initial.to_owned()
                    };
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(encoded.trim())
                        .unwrap_or_default();
                    let parts: Vec<String> = decoded
                        .split(|b| *b == 0)
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect();
                    if parts.len() == 3 {
                        t.auth = Some((parts[1].clone(), parts[2].clone()));
                        "235 2.7.0 Authentication successful\r\n".to_owned()
                    } else {
                        "501 5.5.2 malformed AUTH PLAIN\r\n".to_owned()
                    }
                }
            }
            "MAIL" => {
                t.mail_from = Some(angle(arg));
                t.mail_over_tls = tls;
                "250 2.1.0 Ok\r\n".to_owned()
            }
            "RCPT" if relay.reject_rcpt => format!(
                "550 5.1.1 <{}>: Recipient address rejected: User unknown\r\n",
                angle(arg)
            ),
            "RCPT" => {
                t.rcpt_to.push(angle(arg));
                "250 2.1.5 Ok\r\n".to_owned()
            }
            "DATA" => {
                stream.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                stream.flush().await?;
                let mut data = String::new();
                loop {
                    let Some(line) = read_line(&mut stream).await? else {
                        return Ok(None);
                    };
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                }
                t.data = Some(data);
                "250 2.0.0 Ok: queued as TEST123\r\n".to_owned()
            }
            "RSET" | "NOOP" => "250 2.0.0 Ok\r\n".to_owned(),
            "QUIT" => {
                t.quit = true;
                stream.write_all(b"221 2.0.0 Bye\r\n").await?;
                stream.flush().await?;
                return Ok(None);
            }
            _ => "502 5.5.2 Error: command not recognized\r\n".to_owned(),
        };
        stream.write_all(reply.as_bytes()).await?;
        stream.flush().await?;
    }
}

/// One CRLF-terminated line without its terminator; `None` at EOF.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *stream).take(64 * 1024).read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// `FROM:<a@b> SIZE=1` → `a@b`.
fn angle(arg: &str) -> String {
    match (arg.find('<'), arg.find('>')) {
        (Some(start), Some(end)) if start < end => arg[start + 1..end].to_owned(),
        _ => arg.to_owned(),
    }
}

/// Headers (unfolded) and the decoded body of a message.
fn parse_message(data: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = data.split_once("\r\n\r\n").expect("header/body separator");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let headers: Vec<(String, String)> = unfolded
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let encoding = header(&headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64"),
            )
            .expect("utf-8")
        }
        "quoted-printable" => decode_quoted_printable(body),
        _ => body.to_owned(),
    };
    (headers, body.replace("\r\n", "\n"))
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn decode_quoted_printable(body: &str) -> String {
    let bytes = body.replace("=\r\n", "").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("qp hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

fn config(port: u16, tls: MailTls, ca_file: Option<std::path::PathBuf>) -> MailConfig {
    MailConfig {
        enabled: true,
        host: "localhost".to_owned(),
        port,
        tls,
        username: Some(USER.to_owned()),
        password: Some(Secret::new(PASSWORD.to_owned())),
        from: format!("Sealpost <{FROM}>"),
        timeout_secs: 5,
        ca_file,
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Transcript>) -> Transcript {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the relay saw a connection")
        .expect("transcript")
}

fn assert_no_password(error: &MailError) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
}

/// Sends the notification through a relay in `mode` and checks everything the relay saw.
async fn round_trip(mode: Mode, tls: MailTls) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_file, acceptor) = tls_material(dir.path());
    let (port, mut rx) = start(Relay {
        mode,
        acceptor: Some(acceptor),
        reject_rcpt: false,
    })
    .await;
    let ca_file = (mode != Mode::Plain).then_some(ca_file);
    let mailer = Mailer::new(&config(port, tls, ca_file)).expect("mailer");
    assert!(!format!("{mailer:?}").contains(PASSWORD));

    let (subject, body) = mail::notification(LINK, "Kent County Council", "1 July 2025, 12:00 UTC");
    mailer.send(TO, &subject, &body).await.expect("sent");

    let t = next(&mut rx).await;
    assert!(!t.tls_failed);
    assert_eq!(t.mail_over_tls, mode != Mode::Plain, "{t:?}");
    assert_eq!(t.ehlo, if mode == Mode::StartTls { 2 } else { 1 }, "{t:?}");
    assert_eq!(t.auth, Some((USER.to_owned(), PASSWORD.to_owned())));
    assert_eq!(t.mail_from.as_deref(), Some(FROM));
    assert_eq!(t.rcpt_to, [TO]);
    assert!(t.quit, "{t:?}");

    let (headers, text) = parse_message(t.data.as_deref().expect("DATA"));
    assert_eq!(
        header(&headers, "subject").as_deref(),
        Some("You have a secure message from Kent County Council")
    );
    assert_eq!(
        header(&headers, "from").as_deref(),
        Some("Sealpost <no-reply@sealpost.invalid>")
    );
    assert_eq!(header(&headers, "to").as_deref(), Some(TO));
    let content_type = header(&headers, "content-type")
        .expect("content type")
        .to_ascii_lowercase();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("utf-8"),
        "{content_type}"
    );
    assert!(text.contains(LINK), "{text}");
    assert!(text.contains("1 July 2025, 12:00 UTC"), "{text}");
    assert!(text.contains("code"), "{text}");
    // lettre ends DATA with CRLF . CRLF after the body's own final line break.
    assert_eq!(text.trim_end(), body.trim_end());
}

#[tokio::test]
async fn plain_smtp_with_auth() {
    round_trip(Mode::Plain, MailTls::None).await;
}

#[tokio::test]
async fn starttls() {
    round_trip(Mode::StartTls, MailTls::Starttls).await;
}

#[tokio::test]
async fn implicit_tls() {
    round_trip(Mode::ImplicitTls, MailTls::Tls).await;
}

#[tokio::test]
async fn utf8_body_survives_transfer_encoding() {
    let (port, mut rx) = start(Relay {
        mode: Mode::Plain,
        acceptor: None,
        reject_rcpt: false,
    })
    .await;
    let mailer = Mailer::new(&config(port, MailTls::None, None)).expect("mailer");
    let (subject, body) = mail::notification(LINK, "Conseil Général – Écoles", "1 juillet 2025");
    mailer.send(TO, &subject, &body).await.expect("sent");
    let t = next(&mut rx).await;
    let (_, text) = parse_message(t.data.as_deref().expect("DATA"));
    assert_eq!(text.trim_end(), body.trim_end());
    assert!(text.contains("Conseil Général – Écoles") && text.contains(LINK));
}

#[tokio::test]
async fn recipient_refused_by_relay() {
    let (port, mut rx) = start(Relay {
        mode: Mode::Plain,
        acceptor: None,
        reject_rcpt: true,
    })
    .await;
    let mailer = Mailer::new(&config(port, MailTls::None, None)).expect("mailer");
    let error = mailer.send(TO, "subject", "body").await.expect_err("refused");
    match &error {
        MailError::Rejected { code, message } => {
            assert_eq!(*code, 550);
            assert!(message.contains("User unknown"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let shown = error.to_string();
    assert!(shown.contains("rejected") && shown.contains("550"), "{shown}");
    assert_no_password(&error);
    let t = next(&mut rx).await;
    assert!(t.data.is_none());
}

#[tokio::test]
async fn untrusted_certificate_is_a_tls_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca_file, acceptor) = tls_material(dir.path());
    let (port, mut rx) = start(Relay {
        mode: Mode::StartTls,
        acceptor: Some(acceptor),
        reject_rcpt: false,
    })
    .await;
    // No ca_file: the self-signed certificate is not trusted.
    let mailer = Mailer::new(&config(port, MailTls::Starttls, None)).expect("mailer");
    let error = mailer.send(TO, "subject", "body").await.expect_err("untrusted");
    assert!(matches!(error, MailError::Tls(_)), "{error:?}");
    assert_no_password(&error);
    let t = next(&mut rx).await;
    assert!(t.auth.is_none(), "credentials must not be sent before TLS: {t:?}");
}

#[tokio::test]
async fn starttls_required_but_not_offered() {
    let (port, mut rx) = start(Relay {
        mode: Mode::Plain,
        acceptor: None,
        reject_rcpt: false,
    })
    .await;
    let mailer = Mailer::new(&config(port, MailTls::Starttls, None)).expect("mailer");
    let error = mailer.send(TO, "subject", "body").await.expect_err("no STARTTLS");
    assert_no_password(&error);
    let t = next(&mut rx).await;
    assert!(t.auth.is_none() && t.mail_from.is_none(), "{t:?}");
}

#[tokio::test]
async fn relay_down_is_a_connection_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut cfg = config(port, MailTls::None, None);
    cfg.host = "127.0.0.1".to_owned();
    let mailer = Mailer::new(&cfg).expect("mailer");
    let error = mailer.send(TO, "subject", "body").await.expect_err("down");
    assert!(matches!(error, MailError::Connection(_)), "{error:?}");
    assert_no_password(&error);
}

#[tokio::test]
async fn invalid_recipient_address() {
    let mailer = Mailer::new(&config(25, MailTls::None, None)).expect("mailer");
    let error = mailer
        .send("not an address", "subject", "body")
        .await
        .expect_err("invalid");
    assert!(matches!(error, MailError::InvalidAddress(_)), "{error:?}");
    assert!(error.to_string().contains("not a valid e-mail address"), "{error}");
}

#[test]
fn config_is_validated() {
    let good = config(587, MailTls::Starttls, None);
    assert!(Mailer::new(&good).is_ok());
    let bad_from = MailConfig {
        from: "nobody".to_owned(),
        ..good.clone()
    };
    assert!(matches!(Mailer::new(&bad_from), Err(MailError::InvalidAddress(_))));
    let no_password = MailConfig {
        password: None,
        ..good.clone()
    };
    assert!(matches!(Mailer::new(&no_password), Err(MailError::Config(_))));
    let missing_ca = MailConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..good.clone()
    };
    let error = Mailer::new(&missing_ca).expect_err("missing ca file");
    assert!(matches!(error, MailError::Config(_)), "{error:?}");
    let empty_host = MailConfig {
        host: " ".to_owned(),
        ..good
    };
    assert!(matches!(Mailer::new(&empty_host), Err(MailError::Config(_))));
}

#[test]
fn config_defaults_and_serde() {
    let defaults = MailConfig::default();
    assert!(!defaults.enabled);
    assert_eq!(
        (defaults.port, defaults.tls, defaults.timeout_secs),
        (587, MailTls::Starttls, 30)
    );
    assert_eq!(defaults.from, "Sealpost <no-reply@sealpost.invalid>");

    let parsed: MailConfig = toml::from_str(
        "enabled = true\nhost = \"smtp.example.org\"\nport = 465\ntls = \"tls\"\nusername = \"u\"\npassword = \"pw-secret\"\n",
    )
    .expect("parse");
    assert_eq!(parsed.tls, MailTls::Tls);
    assert_eq!(parsed.password.as_ref().map(Secret::expose), Some("pw-secret"));
    assert_eq!(parsed.timeout_secs, 30);
    let printed = toml::to_string(&parsed).expect("print");
    assert!(
        !printed.contains("pw-secret") && printed.contains("<redacted>"),
        "{printed}"
    );
    assert!(toml::from_str::<MailConfig>("tls = \"ssl\"\n").is_err());
    assert!(toml::from_str::<MailConfig>("hots = \"x\"\n").is_err());
}

#[test]
fn notification_text() {
    let (subject, body) = mail::notification(LINK, "St Mary's Surgery", "2025-07-01 12:00 UTC");
    assert_eq!(subject, "You have a secure message from St Mary's Surgery");
    assert!(body.starts_with("You have a secure message from St Mary's Surgery."));
    assert!(
        body.lines().any(|l| l == LINK),
        "the link stands on its own line: {body}"
    );
    assert!(
        body.contains("code") && body.contains("expires at 2025-07-01 12:00 UTC"),
        "{body}"
    );

    // A sender name cannot add lines (or headers).
    let (subject, body) = mail::notification(LINK, "Evil\r\nBcc: victim@example.org\n\nFake", "soon");
    assert!(!subject.contains('\n') && !subject.contains('\r'), "{subject:?}");
    assert!(
        body.starts_with("You have a secure message from Evil Bcc: victim@example.org Fake."),
        "{body}"
    );
}

/// Sealing a message queues a notification for a registered recipient with a notification
/// address (in the sealing transaction); the sweeper delivers it through the relay; the link
/// in it is the recipient's. Guests get none: their link's secret never reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealing_queues_a_notification_that_the_sweeper_delivers() {
    use harness::*;
    use sealpost_server::domain::{Role, Scope, sweeper};
    let (port, mut rx) = start(Relay {
        mode: Mode::Plain,
        acceptor: None,
        reject_rcpt: false,
    })
    .await;
    let storage = Storage::new(Backend::Sqlite).await;
    let mut cfg = storage.config(64 * 1024);
    cfg.mail = config(port, MailTls::None, None);
    let server = TestServer::start_with(cfg, sealpost_server::clock::ManualClock::new(T0)).await;
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
    let guest = sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let mut built = build(
        &alice,
        &[To::Account(&bob), To::Guest(guest.public(), "+447700900123")],
        &[b"x"],
        T0,
        7,
    );
    built.create_body["recipients"][0]["notify"] = "bob.notify@council.example".into();
    let status = send(&server, &alice, &built).await;
    let link = status["recipients"][0]["link"].as_str().unwrap().to_owned();

    let report = sweeper::sweep_once(&server.services, 48).await.unwrap();
    assert_eq!(report.mails_sent, 1, "{report:?}");
    let t = next(&mut rx).await;
    assert_eq!(t.rcpt_to, ["bob.notify@council.example"]);
    let (_, text) = parse_message(t.data.as_deref().expect("DATA"));
    assert!(text.contains(&link), "{text}");
    assert!(text.contains("alice@council.example"), "{text}");
    // Sent once: the next sweep finds nothing to send.
    assert_eq!(sweeper::sweep_once(&server.services, 48).await.unwrap().mails_sent, 0);
    server.stop().await;
    storage.cleanup().await;
}
