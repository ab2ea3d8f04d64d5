//! Upload and download throughput of the server over loopback, against references measured in
//! the same run, and the server's peak memory for a small and a large upload.
//!
//! ```text
//! cargo bench -p sealpost-server --bench transfer                          # 2 GiB, 3 runs per case
//! SEALPOST_BENCH_GIB=0.25 SEALPOST_BENCH_REPS=1 SEALPOST_BENCH_MEM_GIB=0.5 \
//!     cargo bench -p sealpost-server --bench transfer                      # quick check
//! ```
//!
//! Options (environment, or flags after `--`): `SEALPOST_BENCH_GIB` / `--gib` (payload size,
//! default 2), `SEALPOST_BENCH_REPS` / `--reps` (default 3), `SEALPOST_BENCH_MEM_GIB` /
//! `--mem-gib` (the large memory run, default 4) and `SEALPOST_BENCH_DIR` / `--dir` (default a
//! new directory under the system temp dir; it needs about 3 × the payload size, and the memory
//! run's size). Everything the bench writes is removed at the end.
//!
//! The source is one file of random bytes, exactly as long as the STREAM payload of
//! `SEALPOST_BENCH_GIB` GiB of plaintext, in the same directory (so the same file system) as the
//! server's data directory. The cases, each timed from the first byte to the end:
//!
//! - **References.** `dd bs=1M conv=fdatasync` of the source into a new file in the data directory
//!   (the durable disk write); `curl -T` and a reqwest upload (1 MiB reads) into a trivial axum
//!   sink that drains the body (the loopback HTTP upload). The sink runs on its own thread and
//!   Tokio runtime (2 workers) in this process, and also serves the source file (GET, 1 MiB
//!   reads), downloaded with curl and reqwest; `dd of=/dev/null` reads it from the page cache.
//! - **Sealpost upload.** The real `sealpost-server serve` binary on SQLite, one child process.
//!   Payload 1 of a new draft, in `part_size` parts (8 MiB): one reader thread per request in
//!   flight reads each part and computes its SHA-256 for `Content-Digest`, one part ahead; 1, 2
//!   or 4 `PUT`s in flight through one reqwest client; then `complete`. Creating the draft and
//!   putting its header come before the timer starts.
//! - **Diagnostics.** The same part uploads into the sink: same client, same reads and hashing,
//!   same parts; only the server differs. And the server's storage pattern without HTTP or
//!   hashing: a `pwrite` and an `fdatasync` per 8 MiB part into a new file, as the local blob
//!   backend does, from 1 or 2 threads.
//! - **Sealpost download.** `GET …/payloads/1/content` of a 2 GiB payload, read with reqwest's
//!   `bytes_stream` and with `curl -o /dev/null`.
//!
//! Before every case the previous case's output is deleted (a Sealpost upload's draft through
//! `DELETE`, then its blob file, since the sweeper is off) and `sync` runs. The order of the cases
//! rotates from one repetition to the next. The server's peak memory (`VmHWM`) is read from
//! `/proc/<pid>/status` of fresh server processes, after a 100 MiB upload and after a large one.
//! Results and their discussion: `docs/PERFORMANCE.md`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, put};
use bytes::Bytes;
use futures::StreamExt;
use sealpost_crypto::b64;
use sealpost_crypto::message::{AttachmentInput, seal_message};
use sealpost_crypto::recipient::{RecipientPublicKey, RecipientSecretKey};
use sealpost_crypto::secrets::SymmetricKey;
use sealpost_crypto::stream::Layout;
use sha2::{Digest, Sha256};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// The server's default part size.
const PART_SIZE: u64 = 8 * MIB;
/// Size of the reads of the whole-file reqwest upload and of the sink's GET.
const READ_SIZE: usize = 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip the long run then.
    if !args.iter().any(|a| a == "--bench") {
        println!("transfer: not run outside `cargo bench`");
        return ExitCode::SUCCESS;
    }
    let result = Options::parse(&args).and_then(|options| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(run(options))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("transfer: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    gib: f64,
    reps: usize,
    mem_gib: f64,
    dir: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        let mut options = Self {
            gib: env("SEALPOST_BENCH_GIB").map(|v| v.parse()).transpose()?.unwrap_or(2.0),
            reps: env("SEALPOST_BENCH_REPS").map(|v| v.parse()).transpose()?.unwrap_or(3),
            mem_gib: env("SEALPOST_BENCH_MEM_GIB")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(4.0),
            dir: env("SEALPOST_BENCH_DIR").map(PathBuf::from),
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--gib" => options.gib = value()?.parse()?,
                "--reps" => options.reps = value()?.parse()?,
                "--mem-gib" => options.mem_gib = value()?.parse()?,
                "--dir" => options.dir = Some(PathBuf::from(value()?)),
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if !(options.gib >= 0.05 && options.mem_gib >= 0.05) || options.reps == 0 {
            return Err("--gib and --mem-gib must be at least 0.05 and --reps at least 1".into());
        }
        Ok(options)
    }
}

/// The STREAM payload length of `gib` GiB of plaintext.
fn payload_len(gib: f64) -> u64 {
    Layout::for_plaintext((gib * GIB as f64) as u64).payload_len()
}

// ---------------------------------------------------------------------------------------------
// Small process and /proc helpers.

fn sh(program: &str, args: &[&str]) -> Result<std::process::Output> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(format!("{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(out)
}

fn sync() -> Result<()> {
    sh("sync", &[]).map(|_| ())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn clock_ticks() -> f64 {
    sh("getconf", &["CLK_TCK"])
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a process (`pid` or `"self"`).
fn cpu_seconds(pid: &str, ticks: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').ok_or("malformed /proc/pid/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime field 14, stime field 15.
    let utime: f64 = fields.get(11).ok_or("short /proc/pid/stat")?.parse()?;
    let stime: f64 = fields.get(12).ok_or("short /proc/pid/stat")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// Peak resident set (`VmHWM`) of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .ok_or("no VmHWM")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

// ---------------------------------------------------------------------------------------------
// The trivial sink: PUT /discard drains the body; GET /file streams the source in 1 MiB reads.

fn start_sink(source: PathBuf) -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new().name("sink".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sink-worker")
            .enable_all()
            .build()
            .expect("sink runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("sink listener");
            let app = axum::Router::new()
                .route("/discard", put(discard))
                .route("/file", get(serve_file))
                .with_state(Arc::new(source));
            axum::serve(listener, app).await.expect("sink server");
        });
    })?;
    Ok(addr)
}

async fn discard(body: Body) -> String {
    let mut stream = body.into_data_stream();
    let mut n: u64 = 0;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(bytes) => n += bytes.len() as u64,
            Err(_) => return "error".into(),
        }
    }
    n.to_string()
}

async fn serve_file(State(path): State<Arc<PathBuf>>) -> axum::response::Response {
    let file = match File::open(path.as_path()) {
        Ok(f) => f,
        Err(_) => return axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    std::thread::spawn(move || {
        let mut offset = 0;
        while offset < len {
            let n = (len - offset).min(READ_SIZE as u64) as usize;
            let mut buf = vec![0u8; n];
            let item = file.read_exact_at(&mut buf, offset).map(|()| Bytes::from(buf));
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
            offset += n as u64;
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = axum::response::Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_LENGTH, len.into());
    response
}

// ---------------------------------------------------------------------------------------------
// The Sealpost server: a child process on a data directory, and the admin CLI.

struct Server {
    child: Child,
    base: String,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_command(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealpost-server"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEALPOST_STORAGE_DATA_DIR", data)
        .env("SEALPOST_STORAGE_PART_SIZE", PART_SIZE.to_string())
        .env("SEALPOST_SERVER_LISTEN", "127.0.0.1:0")
        .env("SEALPOST_METRICS_LISTEN", "127.0.0.1:0")
        .env("SEALPOST_LOG_LEVEL", "warn")
        .env("SEALPOST_LIMITS_MAX_PAYLOAD_BYTES", (64 * GIB).to_string())
        // Each part is a request: the default 600 per minute would throttle 2 GiB uploads.
        .env("SEALPOST_LIMITS_TOKEN_REQUESTS_PER_MINUTE", "1000000")
        // The bench deletes its drafts' blobs itself, between cases.
        .env("SEALPOST_SWEEPER_INTERVAL_SECS", "86400");
    cmd
}

impl Server {
    fn spawn(data: &Path) -> Result<Self> {
        use std::io::BufRead;
        std::fs::create_dir_all(data)?;
        let mut child = server_command(data)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let base = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                return Err(format!("the server exited before listening: {seen:?}").into());
            };
            let line = line?;
            if let Some(addr) = line.strip_prefix("sealpost-server: listening on ") {
                break format!("http://{}", addr.trim());
            }
            seen.push(line);
        };
        // Keep draining stderr so the server never blocks on a full pipe; show its warnings.
        std::thread::spawn(move || {
            for line in lines.map_while(std::result::Result::ok) {
                eprintln!("  [server] {line}");
            }
        });
        Ok(Self {
            child,
            base,
            data: data.to_path_buf(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn admin(&self, args: &[&str]) -> Result<String> {
        let out = server_command(&self.data)
            .arg("admin")
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(format!("admin {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A user with a token and published keys.
struct Actor {
    address: String,
    token: String,
    seed: SymmetricKey,
    public: RecipientPublicKey,
}

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// Creates the organisation, a sender and a recipient with published keys.
async fn setup(server: &Server, client: &reqwest::Client) -> Result<(Actor, Actor)> {
    server.admin(&["org", "create", "bench"])?;
    let mut actors = Vec::new();
    for address in ["sender@bench.example", "recipient@bench.example"] {
        server.admin(&[
            "user",
            "create",
            "--org",
            "bench",
            "--address",
            address,
            "--role",
            "sender",
        ])?;
        let token = server
            .admin(&["token", "create", "--user", address, "--scope", "send,read,keys"])?
            .trim()
            .to_owned();
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        let seed = SymmetricKey::from_bytes(seed);
        let public = RecipientSecretKey::generate(&mut rng()).public();
        let body = serde_json::json!({
            "x25519_pk": b64::encode(&public.0),
            "ed25519_pk": b64::encode(&sealpost_crypto::seal::sender_public(&seed)),
        });
        let r = client
            .put(server.url("/api/v1/me/keys"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        if r.status() != 200 {
            return Err(format!("publishing keys: {} {}", r.status(), r.text().await?).into());
        }
        actors.push(Actor {
            address: address.into(),
            token,
            seed,
            public,
        });
    }
    let recipient = actors.pop().ok_or("no recipient")?;
    let sender = actors.pop().ok_or("no sender")?;
    Ok((sender, recipient))
}

/// Creates a draft whose payload 1 is `len` bytes and puts its (real) header; returns its id.
/// A small real message is sealed only for its header and manifest length: the bench uploads
/// arbitrary bytes as payload 1, which the server stores without decrypting.
async fn create_draft(
    server: &Server,
    client: &reqwest::Client,
    sender: &Actor,
    to: &Actor,
    len: u64,
) -> Result<String> {
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let expires = sealpost_server::clock::to_rfc3339(now_ms + 7 * 86_400_000);
    let rid = to.public.rid().to_text();
    let policy = serde_json::json!({
        "v": 1, "expires_at": expires, "recipients": [{ "rid": rid, "verification": "totp" }],
    })
    .to_string();
    let attachment = AttachmentInput {
        name: "a.bin",
        media_type: "application/octet-stream",
        data: b"x",
    };
    let sealed = seal_message(
        "bench",
        "bench",
        &[attachment],
        policy.as_bytes(),
        &[to.public],
        &sender.seed,
        &mut rng(),
    )?;
    let id = sealed.msg_id.to_text();
    let body = serde_json::json!({
        "id": id,
        "policy": policy,
        "header_size": sealed.header.len(),
        "payload_sizes": [sealed.payloads[0].len(), len],
        "recipients": [{ "rid": rid, "kind": "account", "address": to.address }],
    });
    let r = client
        .post(server.url("/api/v1/messages"))
        .bearer_auth(&sender.token)
        .json(&body)
        .send()
        .await?;
    if r.status() != 201 {
        return Err(format!("create: {} {}", r.status(), r.text().await?).into());
    }
    let r = client
        .put(server.url(&format!("/api/v1/messages/{id}/header")))
        .bearer_auth(&sender.token)
        .body(sealed.header)
        .send()
        .await?;
    if r.status() != 200 {
        return Err(format!("header: {} {}", r.status(), r.text().await?).into());
    }
    Ok(id)
}

/// Deletes a draft through the API, then its payload file (the sweeper is off).
async fn delete_draft(server: &Server, client: &reqwest::Client, sender: &Actor, id: &str) -> Result<()> {
    let r = client
        .delete(server.url(&format!("/api/v1/messages/{id}")))
        .bearer_auth(&sender.token)
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("delete: {} {}", r.status(), r.text().await?).into());
    }
    let dir = server.data.join("blobs").join("m").join(id);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Part uploads: reader threads read and hash parts; `inflight` PUTs at a time.

/// Where the part uploads go.
enum Target<'a> {
    /// Payload 1 of a Sealpost draft.
    Sealpost {
        server: &'a Server,
        token: &'a str,
        id: &'a str,
    },
    /// The sink's `/discard`.
    Sink(SocketAddr),
}

#[derive(Debug, Default, Clone, Copy)]
struct PartTimes {
    /// Wall time from the first read to the last response (and `complete`).
    wall: f64,
    /// Reading the parts from the page cache (summed over the reader threads).
    read: f64,
    /// SHA-256 of the parts (summed over the reader threads).
    hash: f64,
    /// Sum over requests of the time from sending a PUT to its response.
    put: f64,
    /// `POST …/complete`.
    complete: f64,
    /// CPU seconds of the server process over the upload (Sealpost only).
    server_cpu: f64,
    /// CPU seconds of this process over the upload (client; the idle sink runtime included).
    client_cpu: f64,
    /// Storage diagnostic only: `pwrite` calls, summed over the threads.
    write: f64,
    /// Storage diagnostic only: `fdatasync` calls (and the final `sync_all`), summed.
    sync: f64,
}

/// The server's storage work for one upload, replicated in this process (a diagnostic, no
/// HTTP, no hashing): a new staging file synced at the start, then for each part a `pwrite` at
/// `k × part_size` and an `fdatasync`, as `LocalBackend::put_part` does; `threads` parts at a
/// time (thread i takes parts i, i + threads, …); `sync_all` at the end, as `complete_upload`.
fn store_parts(source: &Path, out: &Path, total: u64, threads: usize) -> Result<PartTimes> {
    let staging = File::options().write(true).create_new(true).open(out)?;
    staging.sync_all()?;
    let staging = Arc::new(staging);
    let parts = total.div_ceil(PART_SIZE);
    let start = Instant::now();
    let mut workers = Vec::new();
    for first in 0..threads as u64 {
        let staging = Arc::clone(&staging);
        let source = File::open(source)?;
        workers.push(std::thread::spawn(move || -> Result<(f64, f64, f64)> {
            let (mut read, mut write, mut sync) = (0.0, 0.0, 0.0);
            for k in (first..parts).step_by(threads) {
                let len = (total - k * PART_SIZE).min(PART_SIZE) as usize;
                let t = Instant::now();
                let mut buf = vec![0u8; len];
                source.read_exact_at(&mut buf, k * PART_SIZE)?;
                read += t.elapsed().as_secs_f64();
                let t = Instant::now();
                staging.write_all_at(&buf, k * PART_SIZE)?;
                write += t.elapsed().as_secs_f64();
                let t = Instant::now();
                staging.sync_data()?;
                sync += t.elapsed().as_secs_f64();
            }
            Ok((read, write, sync))
        }));
    }
    let mut times = PartTimes::default();
    for worker in workers {
        let (r, w, s) = worker.join().map_err(|_| "a storage thread panicked")??;
        times.read += r;
        times.write += w;
        times.sync += s;
    }
    let t = Instant::now();
    staging.sync_all()?;
    times.sync += t.elapsed().as_secs_f64();
    times.wall = start.elapsed().as_secs_f64();
    Ok(times)
}

/// Uploads `total` bytes in `PART_SIZE` parts from `source` (wrapping round it when `total` is
/// larger than the file), with `inflight` requests in flight.
async fn upload_parts(
    client: &reqwest::Client,
    target: &Target<'_>,
    source: &Path,
    total: u64,
    inflight: usize,
    ticks: f64,
) -> Result<PartTimes> {
    let source_len = std::fs::metadata(source)?.len();
    let parts = total.div_ceil(PART_SIZE);
    // Parts beyond the source's end wrap round to its start (memory runs only).
    let wrap = (source_len / PART_SIZE) * PART_SIZE;
    let offset_of = move |k: u64| {
        if total <= source_len {
            k * PART_SIZE
        } else {
            (k * PART_SIZE) % wrap
        }
    };
    if total > source_len && wrap == 0 {
        return Err("the source is shorter than one part".into());
    }
    let server_cpu0 = match target {
        Target::Sealpost { server, .. } => cpu_seconds(&server.pid().to_string(), ticks)?,
        Target::Sink(_) => 0.0,
    };
    let client_cpu0 = cpu_seconds("self", ticks)?;
    let start = Instant::now();

    // One reader thread per request in flight, each one part ahead: thread i reads and hashes
    // parts i, i + inflight, …, so the client's hashing runs on as many cores as requests.
    let (tx, rx) = tokio::sync::mpsc::channel::<(u64, Bytes, String)>(inflight);
    let mut readers = Vec::new();
    for first in 0..inflight as u64 {
        let path = source.to_path_buf();
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || -> Result<(f64, f64)> {
            let file = File::open(path)?;
            let (mut read, mut hash) = (0.0, 0.0);
            for k in (first..parts).step_by(inflight) {
                let len = (total - k * PART_SIZE).min(PART_SIZE) as usize;
                let t = Instant::now();
                let mut buf = vec![0u8; len];
                file.read_exact_at(&mut buf, offset_of(k))?;
                read += t.elapsed().as_secs_f64();
                let t = Instant::now();
                let digest = Sha256::digest(&buf);
                hash += t.elapsed().as_secs_f64();
                use base64::Engine as _;
                let header = format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(digest));
                if tx.blocking_send((k, Bytes::from(buf), header)).is_err() {
                    break;
                }
            }
            Ok((read, hash))
        }));
    }
    drop(tx);

    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..inflight {
        let rx = Arc::clone(&rx);
        let client = client.clone();
        let (url_base, token) = match target {
            Target::Sealpost { server, token, id } => (
                server.url(&format!("/api/v1/messages/{id}/payloads/1/parts/")),
                Some(token.to_string()),
            ),
            Target::Sink(addr) => (format!("http://{addr}/discard?part="), None),
        };
        workers.push(tokio::spawn(async move {
            let mut put = 0.0;
            loop {
                let next = rx.lock().await.recv().await;
                let Some((k, body, digest)) = next else { break };
                let len = body.len();
                let t = Instant::now();
                let mut request = client
                    .put(format!("{url_base}{k}"))
                    .header("content-digest", digest)
                    .body(body);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await?;
                let status = response.status();
                let text = response.text().await?;
                put += t.elapsed().as_secs_f64();
                if status != 200 {
                    return Err(Error::from(format!("part {k}: {status} {text}")));
                }
                if token.is_none() && text != len.to_string() {
                    return Err(format!("the sink received {text} bytes of part {k} ({len} sent)").into());
                }
            }
            Ok::<f64, Error>(put)
        }));
    }
    let mut put = 0.0;
    let mut failure = None;
    for worker in workers {
        match worker.await? {
            Ok(t) => put += t,
            Err(e) => failure = Some(e),
        }
    }
    drop(rx);
    let (mut read, mut hash) = (0.0, 0.0);
    for reader in readers {
        let (r, h) = reader.join().map_err(|_| "a reader thread panicked")??;
        read += r;
        hash += h;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let mut complete = 0.0;
    if let Target::Sealpost { server, token, id } = target {
        let t = Instant::now();
        let r = client
            .post(server.url(&format!("/api/v1/messages/{id}/payloads/1/complete")))
            .bearer_auth(token)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        complete = t.elapsed().as_secs_f64();
        if status != 200 {
            return Err(format!("complete: {status} {text}").into());
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let server_cpu = match target {
        Target::Sealpost { server, .. } => cpu_seconds(&server.pid().to_string(), ticks)? - server_cpu0,
        Target::Sink(_) => 0.0,
    };
    let client_cpu = cpu_seconds("self", ticks)? - client_cpu0;
    Ok(PartTimes {
        wall,
        read,
        hash,
        put,
        complete,
        server_cpu,
        client_cpu,
        ..PartTimes::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Whole-file transfers: dd, curl, reqwest.

/// Wall seconds of a command that must succeed; returns its stdout too.
fn timed(program: &str, args: &[&str]) -> Result<(f64, String)> {
    let start = Instant::now();
    let out = sh(program, args)?;
    Ok((
        start.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// `curl` with `-w '\n%{http_code} %{size_upload} %{size_download}'`; checks the status and
/// the byte count.
fn curl(args: &[&str], expect_bytes: u64, upload: bool) -> Result<f64> {
    let mut all = vec!["-sS", "-w", "\n%{http_code} %{size_upload} %{size_download}"];
    all.extend_from_slice(args);
    let (secs, out) = timed("curl", &all)?;
    let last = out.lines().last().unwrap_or_default();
    let mut fields = last.split_whitespace();
    let code = fields.next().unwrap_or_default();
    let up: f64 = fields.next().unwrap_or("0").parse()?;
    let down: f64 = fields.next().unwrap_or("0").parse()?;
    let moved = if upload { up } else { down };
    if code != "200" || moved as u64 != expect_bytes {
        return Err(
            format!("curl {args:?}: status {code}, {moved} bytes moved, {expect_bytes} expected: {out}").into(),
        );
    }
    Ok(secs)
}

async fn reqwest_put_file(client: &reqwest::Client, url: &str, source: &Path) -> Result<f64> {
    let len = std::fs::metadata(source)?.len();
    let start = Instant::now();
    let file = tokio::fs::File::open(source).await?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, READ_SIZE));
    let r = client.put(url).header("content-length", len).body(body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    let secs = start.elapsed().as_secs_f64();
    if status != 200 || text != len.to_string() {
        return Err(format!("reqwest upload: {status} {text}").into());
    }
    Ok(secs)
}

/// Downloads `url` with reqwest's `bytes_stream`, discarding it; checks the length. Optionally
/// hashes what arrives (correctness check only, never timed).
async fn reqwest_get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    expect: u64,
    hash: bool,
) -> Result<(f64, [u8; 32])> {
    let start = Instant::now();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    if response.status() != 200 {
        return Err(format!("GET {url}: {}", response.status()).into());
    }
    let mut stream = response.bytes_stream();
    let mut n: u64 = 0;
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
        if hash {
            hasher.update(&chunk);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if n != expect {
        return Err(format!("GET {url}: {n} bytes, {expect} expected").into());
    }
    Ok((secs, hasher.finalize().into()))
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report.

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    })
}

fn rate_cell(rates: &[f64]) -> String {
    let (lo, hi) = min_max(rates);
    format!("{:.2} ({:.2}–{:.2})", median(rates), lo, hi)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    DdWrite,
    CurlSinkPut,
    ReqwestSinkPut,
    PartsSink(usize),
    StoreOnly(usize),
    SealpostPut(usize),
    SealpostGetReqwest,
    SealpostGetCurl,
    SinkGetReqwest,
    SinkGetCurl,
    DdRead,
}

impl Case {
    fn label(self) -> String {
        match self {
            Case::DdWrite => "A. `dd bs=1M conv=fdatasync` → new file in the data dir".into(),
            Case::CurlSinkPut => "B. `curl -T` → sink (drains the body)".into(),
            Case::ReqwestSinkPut => "B. reqwest, 1 MiB reads → sink".into(),
            Case::PartsSink(n) => format!("diag. reqwest, 8 MiB parts + SHA-256, {n} in flight → sink"),
            Case::StoreOnly(n) => {
                format!("diag. storage only: `pwrite` + `fdatasync` per 8 MiB part, {n} thread(s), no HTTP")
            }
            Case::SealpostPut(n) => format!("**Sealpost upload**, 8 MiB parts, {n} in flight, + complete"),
            Case::SealpostGetReqwest => "**Sealpost download**, reqwest `bytes_stream`".into(),
            Case::SealpostGetCurl => "**Sealpost download**, `curl -o /dev/null`".into(),
            Case::SinkGetReqwest => "sink GET (1 MiB reads), reqwest".into(),
            Case::SinkGetCurl => "sink GET (1 MiB reads), `curl -o /dev/null`".into(),
            Case::DdRead => "`dd if=src of=/dev/null bs=1M` (page cache)".into(),
        }
    }
}

struct Ctx {
    client: reqwest::Client,
    sink: SocketAddr,
    source: PathBuf,
    len: u64,
    ticks: f64,
    server: Server,
    sender: Actor,
    to: Actor,
    /// A completed draft for the downloads.
    download_id: String,
}

/// Runs one case; returns its wall seconds and, for part uploads, the phase times.
async fn run_case(ctx: &Ctx, case: Case) -> Result<(f64, Option<PartTimes>)> {
    let src = ctx.source.to_str().ok_or("non-UTF-8 path")?;
    let sink_put = format!("http://{}/discard", ctx.sink);
    let sink_get = format!("http://{}/file", ctx.sink);
    let content = ctx
        .server
        .url(&format!("/api/v1/messages/{}/payloads/1/content", ctx.download_id));
    sync()?;
    let result = match case {
        Case::StoreOnly(n) => {
            let out = ctx.server.data.join("store.bin");
            let (source, total, path) = (ctx.source.clone(), ctx.len, out.clone());
            let times = tokio::task::spawn_blocking(move || store_parts(&source, &path, total, n)).await??;
            std::fs::remove_file(&out)?;
            (times.wall, Some(times))
        }
        Case::DdWrite => {
            let out = ctx.server.data.join("dd.bin");
            let of = format!("of={}", out.display());
            let (secs, _) = timed(
                "dd",
                &[&format!("if={src}"), &of, "bs=1M", "conv=fdatasync", "status=none"],
            )?;
            if std::fs::metadata(&out)?.len() != ctx.len {
                return Err("dd wrote the wrong length".into());
            }
            std::fs::remove_file(&out)?;
            (secs, None)
        }
        Case::CurlSinkPut => (curl(&["-H", "Expect:", "-T", src, &sink_put], ctx.len, true)?, None),
        Case::ReqwestSinkPut => (reqwest_put_file(&ctx.client, &sink_put, &ctx.source).await?, None),
        Case::PartsSink(n) => {
            let times = upload_parts(&ctx.client, &Target::Sink(ctx.sink), &ctx.source, ctx.len, n, ctx.ticks).await?;
            (times.wall, Some(times))
        }
        Case::SealpostPut(n) => {
            let id = create_draft(&ctx.server, &ctx.client, &ctx.sender, &ctx.to, ctx.len).await?;
            let target = Target::Sealpost {
                server: &ctx.server,
                token: &ctx.sender.token,
                id: &id,
            };
            let times = upload_parts(&ctx.client, &target, &ctx.source, ctx.len, n, ctx.ticks).await?;
            delete_draft(&ctx.server, &ctx.client, &ctx.sender, &id).await?;
            (times.wall, Some(times))
        }
        Case::SealpostGetReqwest => (
            reqwest_get(&ctx.client, &content, Some(&ctx.sender.token), ctx.len, false)
                .await?
                .0,
            None,
        ),
        Case::SealpostGetCurl => {
            let auth = format!("Authorization: Bearer {}", ctx.sender.token);
            (curl(&["-H", &auth, "-o", "/dev/null", &content], ctx.len, false)?, None)
        }
        Case::SinkGetReqwest => (reqwest_get(&ctx.client, &sink_get, None, ctx.len, false).await?.0, None),
        Case::SinkGetCurl => (curl(&["-o", "/dev/null", &sink_get], ctx.len, false)?, None),
        Case::DdRead => (
            timed("dd", &[&format!("if={src}"), "of=/dev/null", "bs=1M", "status=none"])?.0,
            None,
        ),
    };
    Ok(result)
}

/// Writes `len` random bytes to `path` in 1 MiB pieces; returns their SHA-256.
fn write_random_file(path: &Path, len: u64) -> Result<[u8; 32]> {
    let mut file = std::io::BufWriter::with_capacity(READ_SIZE, File::create(path)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_SIZE];
    let mut left = len;
    while left > 0 {
        let n = left.min(READ_SIZE as u64) as usize;
        getrandom::fill(&mut buf[..n]).map_err(|e| e.to_string())?;
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(hasher.finalize().into())
}

struct MemoryRow {
    size: u64,
    after_setup: u64,
    after_upload: u64,
    after_download: u64,
    upload_gbps: f64,
}

/// A fresh server: set-up, one upload of `len` bytes (2 parts in flight), one download; the
/// server's `VmHWM` after each step.
async fn memory_run(client: &reqwest::Client, root: &Path, source: &Path, len: u64, ticks: f64) -> Result<MemoryRow> {
    let data = root.join(format!("mem-{len}"));
    let row = {
        let server = Server::spawn(&data)?;
        let (sender, to) = setup(&server, client).await?;
        let after_setup = vm_hwm_kib(server.pid())?;
        let id = create_draft(&server, client, &sender, &to, len).await?;
        sync()?;
        let target = Target::Sealpost {
            server: &server,
            token: &sender.token,
            id: &id,
        };
        let times = upload_parts(client, &target, source, len, 2, ticks).await?;
        let after_upload = vm_hwm_kib(server.pid())?;
        let url = server.url(&format!("/api/v1/messages/{id}/payloads/1/content"));
        reqwest_get(client, &url, Some(&sender.token), len, false).await?;
        let after_download = vm_hwm_kib(server.pid())?;
        MemoryRow {
            size: len,
            after_setup,
            after_upload,
            after_download,
            upload_gbps: len as f64 / times.wall / 1e9,
        }
    };
    std::fs::remove_dir_all(&data)?;
    sync()?;
    Ok(row)
}

async fn run(options: Options) -> Result<()> {
    let parent = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let root = tempfile::Builder::new()
        .prefix("sealpost-transfer-")
        .tempdir_in(&parent)?;
    let result = run_in(&options, root.path()).await;
    root.close()?;
    sync()?;
    result
}

async fn run_in(options: &Options, root: &Path) -> Result<()> {
    let ticks = clock_ticks();
    let len = payload_len(options.gib);
    let parts = len.div_ceil(PART_SIZE);
    println!(
        "transfer: {} in {}",
        env!("CARGO_BIN_EXE_sealpost-server"),
        root.display()
    );
    println!(
        "payload: {len} bytes ({:.3} GB; STREAM payload of {} GiB plaintext), {parts} parts of {} MiB; {} runs per case",
        len as f64 / 1e9,
        options.gib,
        PART_SIZE / MIB,
        options.reps
    );
    println!("load average at start: {}", load_average());

    let source = root.join("src.bin");
    let t = Instant::now();
    let source_sha = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || write_random_file(&source, len)).await??
    };
    println!("source written in {:.1} s", t.elapsed().as_secs_f64());
    sync()?;

    let sink = start_sink(source.clone())?;
    let client = reqwest::Client::new();
    let server = Server::spawn(&root.join("data"))?;
    let (sender, to) = setup(&server, &client).await?;

    // Set-up, untimed: the draft the downloads read, checked byte for byte (by hash) on the way
    // back. This also warms the server and the data directory.
    let download_id = create_draft(&server, &client, &sender, &to, len).await?;
    let target = Target::Sealpost {
        server: &server,
        token: &sender.token,
        id: &download_id,
    };
    let warm = upload_parts(&client, &target, &source, len, 2, ticks).await?;
    let url = server.url(&format!("/api/v1/messages/{download_id}/payloads/1/content"));
    let (_, got) = reqwest_get(&client, &url, Some(&sender.token), len, true).await?;
    if got != source_sha {
        return Err("the downloaded payload differs from the source".into());
    }
    println!(
        "set-up upload (untimed): {:.2} GB/s; download matches the source",
        len as f64 / warm.wall / 1e9
    );

    let ctx = Ctx {
        client,
        sink,
        source,
        len,
        ticks,
        server,
        sender,
        to,
        download_id,
    };
    let uploads = [
        Case::DdWrite,
        Case::CurlSinkPut,
        Case::ReqwestSinkPut,
        Case::PartsSink(1),
        Case::PartsSink(2),
        Case::StoreOnly(1),
        Case::StoreOnly(2),
        Case::SealpostPut(1),
        Case::SealpostPut(2),
        Case::SealpostPut(4),
    ];
    let downloads = [
        Case::SealpostGetReqwest,
        Case::SealpostGetCurl,
        Case::SinkGetReqwest,
        Case::SinkGetCurl,
        Case::DdRead,
    ];
    let all: Vec<Case> = uploads.iter().chain(&downloads).copied().collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    let mut phases: Vec<Vec<PartTimes>> = vec![Vec::new(); all.len()];
    for rep in 0..options.reps {
        for group in [&uploads[..], &downloads[..]] {
            for i in 0..group.len() {
                let case = group[(i + rep) % group.len()];
                let (secs, times) = run_case(&ctx, case).await?;
                let index = all.iter().position(|c| *c == case).ok_or("unknown case")?;
                let gbps = len as f64 / secs / 1e9;
                println!(
                    "  rep {} {:<70} {:6.3} s  {:.2} GB/s  (load {})",
                    rep + 1,
                    case.label(),
                    secs,
                    gbps,
                    load_average()
                );
                rates[index].push(gbps);
                if let Some(t) = times {
                    phases[index].push(t);
                }
            }
        }
    }
    let main_hwm = vm_hwm_kib(ctx.server.pid())?;
    let server_cpu_total = cpu_seconds(&ctx.server.pid().to_string(), ticks)?;
    println!("load average after the timed cases: {}", load_average());

    // Memory: fresh servers, so each high-water mark belongs to one upload.
    let mut memory = Vec::new();
    for size in [payload_len(100.0 / 1024.0), payload_len(options.mem_gib)] {
        memory.push(memory_run(&ctx.client, root, &ctx.source, size, ticks).await?);
    }

    // The report.
    let rate = |case: Case| &rates[all.iter().position(|c| *c == case).unwrap_or(0)];
    let med = |case: Case| median(rate(case));
    let dd = med(Case::DdWrite);
    let (sink_case, sink_best) = if med(Case::ReqwestSinkPut) >= med(Case::CurlSinkPut) {
        (Case::ReqwestSinkPut, med(Case::ReqwestSinkPut))
    } else {
        (Case::CurlSinkPut, med(Case::CurlSinkPut))
    };
    let (limit_case, raw_limit) = if dd <= sink_best {
        (Case::DdWrite, dd)
    } else {
        (sink_case, sink_best)
    };
    // Per-run ratios pair runs of the same repetition.
    let per_run = |case: Case, reference: Case| {
        let r: Vec<f64> = rate(case).iter().zip(rate(reference)).map(|(a, b)| a / b).collect();
        let (lo, hi) = min_max(&r);
        format!("{lo:.2}–{hi:.2}")
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Upload ({:.3} GB, {} runs per case)\n",
        len as f64 / 1e9,
        options.reps
    );
    let _ = writeln!(
        out,
        "Raw limit = min(dd, best sink upload) = {raw_limit:.2} GB/s ({}).\n",
        limit_case.label()
    );
    let _ = writeln!(out, "| case | GB/s median (min–max) | × raw limit (medians) |");
    // No per-run ratios here: the first new-file write of a run is often 3-5x slower than the
    // others (docs/PERFORMANCE.md), so pairing runs would mostly show that.
    let _ = writeln!(out, "|---|---|---|");
    for case in uploads {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} |",
            case.label(),
            rate_cell(rate(case)),
            med(case) / raw_limit
        );
    }
    let _ = writeln!(
        out,
        "\n### Download ({:.3} GB, {} runs per case)\n",
        len as f64 / 1e9,
        options.reps
    );
    let _ = writeln!(
        out,
        "| case | GB/s median (min–max) | reference | × reference (medians) | × reference per run |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (case, reference) in [
        (Case::SealpostGetReqwest, Some(Case::SinkGetReqwest)),
        (Case::SealpostGetCurl, Some(Case::SinkGetCurl)),
        (Case::SinkGetReqwest, None),
        (Case::SinkGetCurl, None),
        (Case::DdRead, None),
    ] {
        let (name, ratio, runs) = match reference {
            Some(r) => (
                "sink, same client".to_owned(),
                format!("{:.2}", med(case) / med(r)),
                per_run(case, r),
            ),
            None => ("—".to_owned(), String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {name} | {ratio} | {runs} |",
            case.label(),
            rate_cell(rate(case))
        );
    }
    let _ = writeln!(
        out,
        "\n### Where the part uploads spend their time (medians over the runs, seconds)\n"
    );
    let _ = writeln!(
        out,
        "| case | wall | client read | client SHA-256 | Σ PUT latency | complete | server CPU | bench-process CPU |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for case in [
        Case::PartsSink(1),
        Case::PartsSink(2),
        Case::SealpostPut(1),
        Case::SealpostPut(2),
        Case::SealpostPut(4),
    ] {
        let p = &phases[all.iter().position(|c| *c == case).unwrap_or(0)];
        let m = |f: fn(&PartTimes) -> f64| median(&p.iter().map(f).collect::<Vec<_>>());
        let server_cpu = if matches!(case, Case::SealpostPut(_)) {
            format!("{:.2}", m(|t| t.server_cpu))
        } else {
            "—".into()
        };
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {server_cpu} | {:.2} |",
            case.label(),
            m(|t| t.wall),
            m(|t| t.read),
            m(|t| t.hash),
            m(|t| t.put),
            m(|t| t.complete),
            m(|t| t.client_cpu),
        );
    }
    let _ = writeln!(
        out,
        "\n| storage diagnostic | wall | read source | Σ `pwrite` | Σ `fdatasync` + final `sync_all` |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for case in [Case::StoreOnly(1), Case::StoreOnly(2)] {
        let p = &phases[all.iter().position(|c| *c == case).unwrap_or(0)];
        let m = |f: fn(&PartTimes) -> f64| median(&p.iter().map(f).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            case.label(),
            m(|t| t.wall),
            m(|t| t.read),
            m(|t| t.write),
            m(|t| t.sync),
        );
    }
    let _ = writeln!(
        out,
        "\n### Server peak memory (`VmHWM`, fresh server per row; 2 parts in flight)\n"
    );
    let _ = writeln!(
        out,
        "| upload | after set-up | after the upload | after downloading it | upload GB/s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for row in &memory {
        let _ = writeln!(
            out,
            "| {:.0} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} |",
            row.size as f64 / MIB as f64,
            row.after_setup as f64 / 1024.0,
            row.after_upload as f64 / 1024.0,
            row.after_download as f64 / 1024.0,
            row.upload_gbps
        );
    }
    let _ = writeln!(
        out,
        "\nThe server of the timed cases: VmHWM {:.1} MiB after all of them; {:.1} CPU-s in total.",
        main_hwm as f64 / 1024.0,
        server_cpu_total
    );
    let best = [Case::SealpostPut(1), Case::SealpostPut(2), Case::SealpostPut(4)]
        .into_iter()
        .map(med)
        .fold(0.0, f64::max);
    let goal = 0.8 * raw_limit;
    let _ = writeln!(
        out,
        "\nGoal: Sealpost upload ≥ 80 % of the raw limit ({goal:.2} GB/s). Best Sealpost upload median: {best:.2} GB/s = {:.0} % of the raw limit: {}.",
        100.0 * best / raw_limit,
        if best >= goal { "MET" } else { "NOT MET" }
    );
    let _ = writeln!(out, "Load average at the end: {}", load_average());
    println!("{out}");
    Ok(())
}
