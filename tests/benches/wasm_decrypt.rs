//! Decryption throughput of the recipient page's WebAssembly build in headless Chromium, against
//! the native build of the same code, in the same run (docs/PERFORMANCE.md, "Recipient page:
//! wasm decryption in Chromium").
//!
//! ```text
//! cargo bench -p sealpost-tests --bench wasm_decrypt                 # 256 MiB, 5 runs per case
//! SEALPOST_BENCH_SIZE_MIB=32 SEALPOST_BENCH_REPS=2 cargo bench -p sealpost-tests --bench wasm_decrypt
//! ```
//!
//! Options (or environment variables): `--mib N` (`SEALPOST_BENCH_SIZE_MIB`, default 256),
//! `--reps N` (`SEALPOST_BENCH_REPS`, default 5), `--no-server` (`SEALPOST_BENCH_SERVER=0`: skip
//! the case through the real server), `--bundle DIR` (`SEALPOST_BENCH_BUNDLE`, default
//! `web-recipient/dist/assets`: the directory holding `sealpost_web.js` and
//! `sealpost_web_bg.wasm`), `--compare DIR` (`SEALPOST_BENCH_COMPARE`: a second bundle directory,
//! timed as one more in-memory case in the same run, for example a build with other compiler
//! flags), `--profile` (after the timed runs, one more in-memory pass per bundle under the DevTools
//! CPU profiler, printing the functions with the most self time). The case through the real
//! server always uses the bundle embedded in the server (the committed `web-recipient/dist`).
//! Needs `chromium` and `chromedriver` (or `CHROMIUM` / `CHROMEDRIVER`); without them it says
//! `skipped` and succeeds. Run outside `cargo bench` (for example by `cargo test --benches`) it
//! does nothing.
//!
//! One attachment of N MiB of random bytes is sealed in-process to one guest recipient with
//! `sealpost_crypto::message::seal_message`. The recipient's path to the file key (seal check,
//! link key, server share: `Envelope::verify`, `open_share`, `unlock`) is never timed. The timed
//! cases, each on the same payload bytes except the last:
//!
//! - **native, streaming, 1 thread**: `UnlockedMessage::payload_stream` fed 4 MiB pieces, then
//!   `finish`, each piece's plaintext in a fresh `Vec` that is dropped. This is the Rust code
//!   behind the page's `PayloadStream.push`, on one thread as wasm runs: the reference.
//! - **native, whole payload, all cores**: `UnlockedMessage::decrypt_payload` (rayon).
//! - **wasm, in memory**: a fresh page of the bench's own server loads the bundle's
//!   `sealpost_web.js` and `sealpost_web_bg.wasm`, fetches the whole payload into an
//!   `ArrayBuffer` (not timed), unlocks (not timed), then times with `performance.now()`
//!   `payload_stream` + `push` of 4 MiB `subarray`s + `finish`, dropping the plaintext. It then
//!   times a second pass in the same page (the wasm code is warm by then). With `--compare`, the
//!   same again with the second bundle.
//! - **wasm, from the server**: a real Sealpost server in-process (SQLite, local blobs) holds the
//!   same plaintext sealed to a guest; the bench verifies by SMS code through the API, and the
//!   real recipient page (`/r/{access_id}`, no fragment, so it stops before its own flow) runs the
//!   page's own loop: 4 MiB `Range` requests to `/api/v1/access/{access_id}/payloads/1`, one ahead
//!   of the decryptor. Network included.
//!
//! Every repetition reloads the page. One untimed warm-up repetition comes first; the cases
//! rotate their order from one repetition to the next. Rates are MiB of plaintext per second.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fantoccini::wd::TimeoutConfiguration;
use rand_core::UnwrapErr;
use sealpost_crypto::b64;
use sealpost_crypto::message::{AttachmentInput, Envelope, SealedMessage, UnlockedMessage, seal_message};
use sealpost_crypto::recipient::RecipientSecretKey;
use sealpost_crypto::secrets::SymmetricKey;
use serde_json::{Value, json};
use support::browser::{Binaries, Browser};
use support::server::{Attachment, PHONE, Sender, Server, random_bytes, send_to_guest};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

/// The bench's page and script (served by the bench's own server; the script is also injected
/// into the real recipient page).
const BENCH_HTML: &str = include_str!("wasm_decrypt/bench.html");
const BENCH_JS: &str = include_str!("wasm_decrypt/bench.js");

/// The piece size: what the page fetches per range request (`RANGE_BYTES` in app.js).
const PIECE: usize = 4 << 20;
const MIB: f64 = (1u64 << 20) as f64;

/// Whether the chacha20 crate was built with its runtime-detected AVX-512 backend
/// (`--cfg chacha20_avx512`, set for the whole build in `.cargo/config.toml`).
#[allow(unexpected_cfgs)]
const CHACHA20_AVX512: bool = cfg!(chacha20_avx512);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip the long run then.
    if !args.iter().any(|a| a == "--bench") {
        println!("wasm_decrypt: not run outside `cargo bench`");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wasm_decrypt: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    mib: usize,
    reps: usize,
    server: bool,
    bundle: PathBuf,
    compare: Option<PathBuf>,
    profile: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut options = Self {
            mib: env("SEALPOST_BENCH_SIZE_MIB")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(256),
            reps: env("SEALPOST_BENCH_REPS").map(|v| v.parse()).transpose()?.unwrap_or(5),
            server: env("SEALPOST_BENCH_SERVER").is_none_or(|v| v != "0"),
            bundle: env("SEALPOST_BENCH_BUNDLE")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("web-recipient/dist/assets")),
            compare: env("SEALPOST_BENCH_COMPARE").map(PathBuf::from),
            profile: false,
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--mib" => options.mib = value()?.parse()?,
                "--reps" => options.reps = value()?.parse()?,
                "--bundle" => options.bundle = PathBuf::from(value()?),
                "--compare" => options.compare = Some(PathBuf::from(value()?)),
                "--no-server" => options.server = false,
                "--profile" => options.profile = true,
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if options.mib == 0 || options.reps == 0 {
            return Err("--mib and --reps must be at least 1".into());
        }
        Ok(options)
    }
}

/// The timed cases, in their order of the first repetition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    NativeStream,
    NativeWhole,
    WasmMemory,
    WasmCompare,
    WasmServer,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::NativeStream => "native, streaming 4 MiB pieces, 1 thread",
            Case::NativeWhole => "native, whole payload (decrypt_payload), all cores",
            Case::WasmMemory => "wasm in Chromium, streaming 4 MiB pieces, ciphertext in memory",
            Case::WasmCompare => "the same, second bundle (--compare)",
            Case::WasmServer => "wasm in Chromium, 4 MiB range requests to the real server + streaming",
        }
    }
}

/// What one repetition measured, in seconds (`None`: not run).
#[derive(Debug, Default, Clone)]
struct Rep {
    native_stream: Option<f64>,
    native_whole: Option<f64>,
    wasm_memory: Option<f64>,
    /// The second pass in the same page.
    wasm_memory_warm: Option<f64>,
    wasm_fetch: Option<f64>,
    /// The same two passes with the second bundle.
    wasm_compare: Option<f64>,
    wasm_compare_warm: Option<f64>,
    wasm_server: Option<f64>,
    /// Σ `push` and Σ waiting for a range, inside `wasm_server`.
    wasm_server_push: Option<f64>,
    wasm_server_wait: Option<f64>,
}

/// Everything the native side and the pages need about the sealed message.
struct Sealed {
    plaintext_len: usize,
    head: String,
    tail: String,
    message: SealedMessage,
    unlocked: UnlockedMessage,
    /// For `bench.js` `unlock`: standard base64 as the access API sends it.
    material: Value,
}

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

fn seal(plaintext: &[u8]) -> Result<Sealed> {
    let sender = SymmetricKey::from_bytes(random_bytes(32).try_into().map_err(|_| "32 bytes")?);
    let sender_public = sealpost_crypto::seal::sender_public(&sender);
    let link = RecipientSecretKey::generate(&mut rng());
    let input = AttachmentInput {
        name: "bench.bin",
        media_type: "application/octet-stream",
        data: plaintext,
    };
    let message = seal_message("bench", "", &[input], b"{}", &[link.public()], &sender, &mut rng())?;
    // The recipient's path to the file key, as the page takes it (never timed).
    let envelope = Envelope::verify(&message.msg_id, &message.header, &message.seal, &sender_public)?;
    let share = envelope.open_share(&link)?;
    let server_share = &message.server_shares[0].share;
    let unlocked = envelope.unlock(&share, server_share)?;
    let material = json!({
        "msg_id": message.msg_id.to_text(),
        "header": b64::encode(&message.header),
        "seal": message.seal,
        "sender_public": b64::encode(&sender_public),
        "link_secret": link.to_link_secret().as_str(),
        "server_share": b64::encode(server_share.expose_secret()),
    });
    Ok(Sealed {
        plaintext_len: plaintext.len(),
        head: hex::encode(&plaintext[..32.min(plaintext.len())]),
        tail: hex::encode(&plaintext[plaintext.len().saturating_sub(32)..]),
        message,
        unlocked,
        material,
    })
}

/// The CPU model and the CPU features the native crypto backends look for at run time (Linux).
fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let has: Vec<&str> = ["avx2", "avx512f", "avx512vl", "sha_ni"]
        .into_iter()
        .filter(|f| flags.split_whitespace().any(|x| x == *f))
        .collect();
    format!(
        "CPU {:?} ({} logical CPUs), with {}",
        field("model name"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        has.join(" ")
    )
}

/// The reference: the page's streaming decryptor in native code, one thread.
fn native_stream(sealed: &Sealed) -> Result<f64> {
    let payload = &sealed.message.payloads[1];
    let start = Instant::now();
    let mut stream = sealed.unlocked.payload_stream(1)?;
    let mut plaintext = 0usize;
    for piece in payload.chunks(PIECE) {
        // As the binding does: a fresh output vector per piece, handed over and dropped.
        let mut out = Vec::with_capacity(piece.len());
        stream.push(piece, &mut out)?;
        plaintext += out.len();
        black_box(out);
    }
    stream.finish()?;
    let secs = start.elapsed().as_secs_f64();
    if plaintext != sealed.plaintext_len {
        return Err(format!("native stream gave {plaintext} bytes, not {}", sealed.plaintext_len).into());
    }
    Ok(secs)
}

/// The crate's whole-payload decryption (parallel with rayon).
fn native_whole(sealed: &Sealed) -> Result<f64> {
    let payload = &sealed.message.payloads[1];
    let start = Instant::now();
    let out = sealed.unlocked.decrypt_payload(1, payload)?;
    let secs = start.elapsed().as_secs_f64();
    if out.len() != sealed.plaintext_len || hex::encode(&out[..32.min(out.len())]) != sealed.head {
        return Err("native whole-payload decryption differs".into());
    }
    drop(black_box(out));
    Ok(secs)
}

// ---------------------------------------------------------------------------------------------
// The bench's own server: the page, the script, the bundle and the payload.

struct Site {
    base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

fn file(bytes: Bytes, content_type: &'static str, cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

async fn serve_site(bundle: &Path, compare: Option<&Path>, payload: Bytes) -> Result<Site> {
    let read = |bundle: &Path, name: &str| -> Result<Bytes> {
        let path = bundle.join(name);
        std::fs::read(&path)
            .map(Bytes::from)
            .map_err(|e| format!("{}: {e} (build the bundle: web-recipient/build.sh)", path.display()).into())
    };
    // As the server sends the bundle's assets (server/src/http/page.rs): cached as immutable.
    const IMMUTABLE: &str = "public, max-age=31536000, immutable";
    let mut app = Router::new().route(
        "/payload",
        get(move || async move { file(payload, "application/octet-stream", "no-store") }),
    );
    // The page, the script and a bundle under `/`, and the second bundle under `/alt/`.
    for (prefix, dir) in [("", Some(bundle)), ("/alt", compare)] {
        let Some(dir) = dir else { continue };
        let js = read(dir, "sealpost_web.js")?;
        let wasm = read(dir, "sealpost_web_bg.wasm")?;
        app = app
            .route(
                &format!("{prefix}/bench.html"),
                get(|| async {
                    file(
                        Bytes::from_static(BENCH_HTML.as_bytes()),
                        "text/html; charset=utf-8",
                        "no-store",
                    )
                }),
            )
            .route(
                &format!("{prefix}/bench.js"),
                get(|| async { file(Bytes::from_static(BENCH_JS.as_bytes()), "text/javascript", "no-store") }),
            )
            .route(
                &format!("{prefix}/sealpost_web.js"),
                get(move || async move { file(js, "text/javascript", IMMUTABLE) }),
            )
            .route(
                &format!("{prefix}/sealpost_web_bg.wasm"),
                get(move || async move { file(wasm, "application/wasm", IMMUTABLE) }),
            );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Site {
        base,
        shutdown: Some(tx),
    })
}

// ---------------------------------------------------------------------------------------------
// The real server: the same plaintext sealed to a guest, a verified session, the envelope and
// the released server share through the access API.

struct Real {
    server: Server,
    page_url: String,
    payload_url: String,
    session: String,
    material: Value,
}

async fn real_server(plaintext: Vec<u8>) -> Result<Real> {
    let server = Server::start(|config| {
        // Every range is a request: the default 300 per minute and IP would throttle the runs.
        config.limits.ip_requests_per_minute = 1_000_000;
        config.limits.token_requests_per_minute = 1_000_000;
    })
    .await;
    let sender = Sender::create(&server, "bench@council.example").await;
    let attachment = Attachment {
        name: "bench.bin".into(),
        media_type: "application/octet-stream".into(),
        data: plaintext,
    };
    let sent = send_to_guest(&server, &sender, PHONE, "bench", "", vec![attachment]).await;
    let http = reqwest::Client::new();
    let api = |path: &str| server.url(&format!("/api/v1/access/{}{path}", sent.access_id));
    let r = http.post(api("/code")).send().await?;
    if r.status() != 202 {
        return Err(format!("code: {} {}", r.status(), r.text().await?).into());
    }
    let code = server.wait_for_code(0, PHONE).await;
    let r = http.post(api("/verify")).json(&json!({ "code": code })).send().await?;
    if !r.status().is_success() {
        return Err(format!("verify: {} {}", r.status(), r.text().await?).into());
    }
    let grant: Value = r.json().await?;
    let session = grant["session"].as_str().ok_or("verify: no session")?.to_owned();
    let bearer = format!("Bearer {session}");
    let env: Value = http
        .get(api("/envelope"))
        .header("authorization", &bearer)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let released: Value = http
        .post(api("/release"))
        .header("authorization", &bearer)
        .json(&json!({}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let material = json!({
        "msg_id": env["message_id"],
        "header": env["header"],
        "seal": env["seal"],
        "sender_public": env["sender"]["ed25519_pk"],
        "link_secret": sent.link_key.to_link_secret().as_str(),
        "server_share": released["share"],
    });
    Ok(Real {
        page_url: sent.page_url(&server),
        payload_url: api("/payloads/1"),
        session,
        material,
        server,
    })
}

// ---------------------------------------------------------------------------------------------
// The browser side.

async fn execute_async(browser: &Browser, kind: &str, args: Value) -> Result<Value> {
    let script = "const done = arguments[arguments.length - 1];
                  window.sealpostBench.run(arguments[0], arguments[1], done);";
    let answer = browser.client.execute_async(script, vec![json!(kind), args]).await?;
    if let Some(error) = answer.get("error") {
        return Err(format!("{kind}: the page failed: {}", error.as_str().unwrap_or_default()).into());
    }
    answer
        .get("ok")
        .cloned()
        .ok_or_else(|| format!("{kind}: unexpected answer {answer}").into())
}

fn check_output(what: &str, result: &Value, sealed: &Sealed) -> Result<()> {
    let len = result["plaintext_len"].as_u64().unwrap_or(0);
    if len != sealed.plaintext_len as u64
        || result["head_hex"] != sealed.head.as_str()
        || result["tail_hex"] != sealed.tail.as_str()
    {
        return Err(format!(
            "{what}: the wasm output differs from the plaintext ({len} bytes, head {}, tail {})",
            result["head_hex"], result["tail_hex"]
        )
        .into());
    }
    Ok(())
}

fn ms(v: &Value) -> Result<f64> {
    v.as_f64()
        .map(|ms| ms / 1000.0)
        .ok_or_else(|| format!("not a number: {v}").into())
}

/// The in-memory case with the bundle under `prefix` (`""`, or `"/alt"` for `--compare`); returns
/// the seconds of the first and the second pass.
async fn wasm_memory(
    browser: &Browser,
    site: &Site,
    prefix: &str,
    sealed: &Sealed,
    rep: &mut Rep,
) -> Result<(f64, f64)> {
    browser.goto(&format!("{}{prefix}/bench.html", site.base)).await;
    let result = execute_async(
        browser,
        "memory",
        json!({
            "wasm_url": format!("{}{prefix}/sealpost_web_bg.wasm", site.base),
            "payload_url": format!("{}/payload", site.base),
            "material": sealed.material,
            "index": 1,
            "piece": PIECE,
            "passes": 2,
        }),
    )
    .await?;
    let passes = result["passes"].as_array().ok_or("no passes")?;
    for pass in passes {
        check_output("wasm in memory", pass, sealed)?;
    }
    rep.wasm_fetch = Some(ms(&result["fetch_ms"])?);
    Ok((ms(&passes[0]["ms"])?, ms(&passes[1]["ms"])?))
}

async fn wasm_server(browser: &Browser, real: &Real, sealed: &Sealed, rep: &mut Rep) -> Result<()> {
    // The recipient page itself, without the fragment: it loads the bundle and stops at "this
    // link is incomplete" before its own flow. The bench script runs the page's loop in it.
    browser.goto(&real.page_url).await;
    browser.client.execute(BENCH_JS, vec![]).await?;
    let result = execute_async(
        browser,
        "server",
        json!({
            "url": real.payload_url,
            "session": real.session,
            "material": real.material,
            "index": 1,
            "piece": PIECE,
        }),
    )
    .await?;
    check_output("wasm from the server", &result, sealed)?;
    rep.wasm_server = Some(ms(&result["ms"])?);
    rep.wasm_server_push = Some(ms(&result["push_ms"])?);
    rep.wasm_server_wait = Some(ms(&result["wait_ms"])?);
    Ok(())
}

/// `--profile`: one more in-memory pass under the DevTools CPU profiler (sampling every 100 µs);
/// prints the functions with the most self time. Not part of the timed runs.
async fn profile(browser: &Browser, site: &Site, prefix: &str, name: &str, sealed: &Sealed) -> Result<()> {
    browser.goto(&format!("{}{prefix}/bench.html", site.base)).await;
    browser.cdp("Profiler.enable", json!({})).await?;
    browser
        .cdp("Profiler.setSamplingInterval", json!({ "interval": 100 }))
        .await?;
    browser.cdp("Profiler.start", json!({})).await?;
    let result = execute_async(
        browser,
        "memory",
        json!({
            "wasm_url": format!("{}{prefix}/sealpost_web_bg.wasm", site.base),
            "payload_url": format!("{}/payload", site.base),
            "material": sealed.material,
            "index": 1,
            "piece": PIECE,
            "passes": 1,
        }),
    )
    .await;
    let stopped = browser.cdp("Profiler.stop", json!({})).await?;
    browser.cdp("Profiler.disable", json!({})).await?;
    let result = result?;
    // Self samples per function: `samples` lists the leaf node of every sample.
    let nodes = stopped["profile"]["nodes"].as_array().ok_or("no profile nodes")?;
    let mut names = std::collections::HashMap::new();
    for node in nodes {
        let frame = &node["callFrame"];
        let function = frame["functionName"].as_str().unwrap_or_default();
        let label = match (function, frame["url"].as_str().unwrap_or_default()) {
            ("", "") => "(anonymous)".to_owned(),
            ("", url) => format!("(anonymous) {}", url.rsplit('/').next().unwrap_or(url)),
            (f, _) => f.to_owned(),
        };
        names.insert(node["id"].as_u64().unwrap_or(0), label);
    }
    let mut counts = std::collections::HashMap::<&str, u64>::new();
    let samples = stopped["profile"]["samples"].as_array().ok_or("no samples")?;
    for id in samples {
        let label = names.get(&id.as_u64().unwrap_or(0)).map_or("?", String::as_str);
        *counts.entry(label).or_default() += 1;
    }
    let total = samples.len().max(1) as f64;
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    println!();
    println!(
        "Profile of one in-memory pass, {name} (the pass took {:.0} ms; {} samples over the whole script, \
         fetch and set-up included; share of samples by self time):",
        ms(&result["passes"][0]["ms"])? * 1000.0,
        samples.len()
    );
    for (label, count) in counts.iter().take(16) {
        println!("  {:5.1} %  {label}", *count as f64 * 100.0 / total);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The run and the report.

fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let bins = match Binaries::find() {
        Ok(bins) => bins,
        Err(why) => {
            println!("wasm_decrypt: skipped: {why} (install `chromium` and `chromium-driver`)");
            return Ok(());
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let size = options.mib << 20;
    println!(
        "wasm_decrypt: {} MiB plaintext, {} runs per case after one warm-up run, 4 MiB pieces",
        options.mib, options.reps
    );
    println!(
        "  native: chacha20 AVX-512 backend compiled in: {CHACHA20_AVX512}; {}",
        cpu()
    );
    let wasm_path = options.bundle.join("sealpost_web_bg.wasm");
    let wasm_bytes = std::fs::read(&wasm_path).map_err(|e| format!("{}: {e}", wasm_path.display()))?;
    println!(
        "  wasm: {} ({} bytes, sha256 {})",
        wasm_path.display(),
        wasm_bytes.len(),
        &support::server::sha256_hex(&wasm_bytes)[..16]
    );
    drop(wasm_bytes);
    if let Some(dir) = &options.compare {
        let path = dir.join("sealpost_web_bg.wasm");
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        println!(
            "  second wasm (--compare): {} ({} bytes, sha256 {})",
            path.display(),
            bytes.len(),
            &support::server::sha256_hex(&bytes)[..16]
        );
    }

    let plaintext = random_bytes(size);
    let t = Instant::now();
    let sealed = seal(&plaintext)?;
    println!(
        "  sealed {} bytes of payload in {:.2} s",
        sealed.message.payloads[1].len(),
        t.elapsed().as_secs_f64()
    );
    let payload = Bytes::from(sealed.message.payloads[1].clone());

    let mut cases = vec![Case::NativeStream, Case::NativeWhole, Case::WasmMemory];
    if options.compare.is_some() {
        cases.push(Case::WasmCompare);
    }
    if options.server {
        cases.push(Case::WasmServer);
    }
    let reps = runtime.block_on(async {
        let site = serve_site(&options.bundle, options.compare.as_deref(), payload).await?;
        let real = if options.server {
            let t = Instant::now();
            let real = real_server(plaintext).await?;
            println!(
                "  real server: {} (message uploaded and verified in {:.1} s)",
                real.server.base,
                t.elapsed().as_secs_f64()
            );
            Some(real)
        } else {
            drop(plaintext);
            None
        };
        let browser = Browser::start("wasm_decrypt", &bins).await;
        let timeouts = TimeoutConfiguration::new(Some(Duration::from_secs(900)), Some(Duration::from_secs(120)), None);
        browser.client.update_timeouts(timeouts).await?;
        browser.goto(&format!("{}/bench.html", site.base)).await;
        let agent = browser.js("return navigator.userAgent;", vec![]).await;
        println!("  browser: {}", agent.as_str().unwrap_or("?"));
        let mut outcome = measure(&options, &cases, &sealed, &browser, &site, real.as_ref()).await;
        if options.profile && outcome.is_ok() {
            for (name, prefix) in [
                ("bundle", Some("")),
                ("second bundle", options.compare.as_ref().map(|_| "/alt")),
            ] {
                let Some(prefix) = prefix else { continue };
                if let Err(e) = profile(&browser, &site, prefix, name, &sealed).await {
                    outcome = Err(e);
                }
            }
        }
        browser.close().await;
        if let Some(real) = real {
            real.server.stop().await;
        }
        let mut site = site;
        if let Some(tx) = site.shutdown.take() {
            let _ = tx.send(());
        }
        outcome
    })?;
    report(&options, &reps, sealed.plaintext_len);
    Ok(())
}

async fn measure(
    options: &Options,
    cases: &[Case],
    sealed: &Sealed,
    browser: &Browser,
    site: &Site,
    real: Option<&Real>,
) -> Result<Vec<Rep>> {
    let mut reps = Vec::new();
    for index in 0..=options.reps {
        let mut rep = Rep::default();
        let mut order = cases.to_vec();
        order.rotate_left(index % cases.len());
        for case in order {
            match case {
                // The native cases are synchronous and CPU-bound: run them where the runtime
                // allows blocking, with the browser idle.
                Case::NativeStream => rep.native_stream = Some(tokio::task::block_in_place(|| native_stream(sealed))?),
                Case::NativeWhole => rep.native_whole = Some(tokio::task::block_in_place(|| native_whole(sealed))?),
                Case::WasmMemory => {
                    let (first, second) = wasm_memory(browser, site, "", sealed, &mut rep).await?;
                    rep.wasm_memory = Some(first);
                    rep.wasm_memory_warm = Some(second);
                }
                Case::WasmCompare => {
                    let (first, second) = wasm_memory(browser, site, "/alt", sealed, &mut rep).await?;
                    rep.wasm_compare = Some(first);
                    rep.wasm_compare_warm = Some(second);
                }
                Case::WasmServer => {
                    if let Some(real) = real {
                        wasm_server(browser, real, sealed, &mut rep).await?;
                    }
                }
            }
        }
        let label = if index == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {index}")
        };
        let rate = |secs: Option<f64>| {
            secs.map_or_else(
                || "-".to_owned(),
                |s| format!("{:.1}", sealed.plaintext_len as f64 / MIB / s),
            )
        };
        println!(
            "  {label:>7}: MiB/s native stream {} | native whole {} | wasm memory {} (2nd pass {}; fetch {}) | second bundle {} (2nd pass {}) | wasm server {} (Σ push {:.2} s, Σ wait {:.2} s)",
            rate(rep.native_stream),
            rate(rep.native_whole),
            rate(rep.wasm_memory),
            rate(rep.wasm_memory_warm),
            rate(rep.wasm_fetch),
            rate(rep.wasm_compare),
            rate(rep.wasm_compare_warm),
            rate(rep.wasm_server),
            rep.wasm_server_push.unwrap_or(0.0),
            rep.wasm_server_wait.unwrap_or(0.0),
        );
        if index > 0 {
            reps.push(rep);
        }
    }
    Ok(reps)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// `median (min–max)` of the rates, and the median rate.
fn rates(reps: &[Rep], pick: impl Fn(&Rep) -> Option<f64>, bytes: usize) -> Option<(String, f64, Vec<f64>)> {
    let per_run: Vec<f64> = reps
        .iter()
        .map(|r| pick(r).map(|s| bytes as f64 / MIB / s))
        .collect::<Option<_>>()?;
    let mut sorted = per_run.clone();
    let med = median(&mut sorted);
    let text = format!("{med:.1} ({:.1}–{:.1})", sorted[0], sorted[sorted.len() - 1]);
    Some((text, med, per_run))
}

/// Picks one case's seconds out of a repetition.
type Pick = fn(&Rep) -> Option<f64>;

fn report(options: &Options, reps: &[Rep], bytes: usize) {
    println!();
    println!(
        "Decrypt {} MiB ({bytes} bytes of plaintext), {} runs per case, MiB/s of plaintext:",
        options.mib, options.reps
    );
    println!();
    println!("| case | MiB/s median (min–max) | × native streaming (medians) | × native streaming per run |");
    println!("|---|---|---|---|");
    let Some((_, reference, reference_runs)) = rates(reps, |r| r.native_stream, bytes) else {
        return;
    };
    let rows: [(&str, Pick); 7] = [
        (Case::NativeStream.label(), |r| r.native_stream),
        (Case::NativeWhole.label(), |r| r.native_whole),
        (Case::WasmMemory.label(), |r| r.wasm_memory),
        ("wasm, same page, second pass (warm code)", |r| r.wasm_memory_warm),
        (Case::WasmCompare.label(), |r| r.wasm_compare),
        ("second bundle, same page, second pass", |r| r.wasm_compare_warm),
        (Case::WasmServer.label(), |r| r.wasm_server),
    ];
    for (label, pick) in rows {
        let Some((text, med, runs)) = rates(reps, pick, bytes) else {
            continue;
        };
        let mut ratios: Vec<f64> = runs.iter().zip(&reference_runs).map(|(a, b)| a / b).collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "| {label} | {text} | {:.3} | {:.3}–{:.3} |",
            med / reference,
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
    if let Some((text, _, _)) = rates(reps, |r| r.wasm_fetch, bytes) {
        println!();
        println!("Untimed set-up, for information: fetch of the whole payload into the page {text} MiB/s.");
    }
    let mut push: Vec<f64> = reps.iter().filter_map(|r| r.wasm_server_push).collect();
    let mut wait: Vec<f64> = reps.iter().filter_map(|r| r.wasm_server_wait).collect();
    if !push.is_empty() {
        println!(
            "From the server: Σ push {:.2} s and Σ waiting for a range {:.2} s per run (medians).",
            median(&mut push),
            median(&mut wait)
        );
    }
}
