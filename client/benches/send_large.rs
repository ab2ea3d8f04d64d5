//! `sealpost send` of a large file to a local server, end to end, against the machine's raw limit
//! measured in the same run on the same file; and the client's peak memory at two file sizes.
//!
//! ```text
//! cargo bench -p sealpost-client --bench send_large                      # 2 GiB, 3 runs per case
//! SEALPOST_BENCH_GIB=0.25 SEALPOST_BENCH_RUNS=1 SEALPOST_BENCH_MEM_GIB=0.5 \
//!     cargo bench -p sealpost-client --bench send_large                  # quick check
//! ```
//!
//! Options (environment, or flags after `--`): `SEALPOST_BENCH_GIB` / `--gib` (the timed file,
//! default 2), `SEALPOST_BENCH_RUNS` / `--runs` (default 3), `SEALPOST_BENCH_SMALL_MIB` /
//! `--small-mib` and `SEALPOST_BENCH_MEM_GIB` / `--mem-gib` (the two memory runs, default 100 MiB
//! and 4 GiB; the large one is skipped when less than 20 GiB is free) and `SEALPOST_BENCH_DIR` /
//! `--dir` (default a new directory under cargo's `target/tmp`, on the same file system as the
//! target dir). Everything the bench writes is removed at the end.
//!
//! What runs:
//!
//! - **A real Sealpost server in this process** (`sealpost_server::app::serve` on 127.0.0.1:0, its
//!   own multi-threaded Tokio runtime with the default worker count, as the `sealpost-server`
//!   binary has), over SQLite and the local blob directory, in the bench directory. The only
//!   settings changed from the defaults: the per-token request rate (every 8 MiB part is a
//!   request), no metrics listener, and the sweeper runs only when the bench calls it.
//! - **The `sealpost` binary as a child process**, with its own `HOME`, `XDG_CONFIG_HOME` and
//!   `XDG_STATE_HOME`: `init`, `keys generate`, `keys register`, then for every timed send
//!   `sealpost send --to … --sms … --subject … --body … --attach FILE --json`, under
//!   `/usr/bin/time` for its CPU time and peak RSS. The time is the wall time of the process.
//! - **Reference A: loopback upload and storage.** `curl -sS -H 'Expect:' -T FILE` to a minimal
//!   HTTP/1.1 sink in this process (std `TcpListener`, one thread). It writes the body in 1 MiB
//!   writes to a new file in the bench directory, then `sync_all`, then answers 200.
//! - **Reference B: the disk.** `dd if=FILE of=NEW bs=1M conv=fdatasync`.
//! - **Memory.** `sealpost send` of a 1 KiB file (the fixed cost), a 100 MiB and a 4 GiB file,
//!   `--runs` times each, under `/usr/bin/time` (`%M`, peak RSS).
//!
//! The raw limit is the slower of the two references. Before every timed step the previous
//! step's output is deleted (a sent message through `DELETE /api/v1/messages/{id}` and one sweep,
//! which deletes its blobs) and `sync` runs. The order of curl, dd and send rotates from one run
//! to the next. One untimed round of all three comes first. Results and their discussion:
//! `docs/PERFORMANCE.md`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use sealpost_server::clock::SystemClock;
use sealpost_server::config::{Config, Secret};
use sealpost_server::domain::{Role, Scope, Services, accounts, sweeper};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
const PASSWORD: &str = "correct horse battery staple";
const TIME: &str = "/usr/bin/time";
/// Below this much free space the large memory run is skipped.
const MEM_RUN_MIN_FREE: u64 = 20 * GIB;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip the long run then.
    if !args.iter().any(|a| a == "--bench") {
        println!("send_large: not run outside `cargo bench`");
        return ExitCode::SUCCESS;
    }
    match Options::parse(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("send_large: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    gib: f64,
    runs: usize,
    small_mib: u64,
    mem_gib: f64,
    dir: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        let mut options = Self {
            gib: env("SEALPOST_BENCH_GIB").map(|v| v.parse()).transpose()?.unwrap_or(2.0),
            runs: env("SEALPOST_BENCH_RUNS").map(|v| v.parse()).transpose()?.unwrap_or(3),
            small_mib: env("SEALPOST_BENCH_SMALL_MIB")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(100),
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
                "--runs" => options.runs = value()?.parse()?,
                "--small-mib" => options.small_mib = value()?.parse()?,
                "--mem-gib" => options.mem_gib = value()?.parse()?,
                "--dir" => options.dir = Some(PathBuf::from(value()?)),
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if !(options.gib >= 0.01 && options.mem_gib >= 0.01) || options.runs == 0 || options.small_mib == 0 {
            return Err("--gib and --mem-gib must be at least 0.01, --runs and --small-mib at least 1".into());
        }
        Ok(options)
    }
}

// ---------------------------------------------------------------------------------------------
// Small process, file and /proc helpers.

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

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into())
}

fn clock_ticks() -> f64 {
    sh("getconf", &["CLK_TCK"])
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of this process (the in-process server and the sink).
fn own_cpu_seconds(ticks: f64) -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let rest = stat.rsplit_once(')').ok_or("malformed /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: utime is field 14 and stime field 15 of the whole line.
    let utime: f64 = fields.get(11).ok_or("short /proc/self/stat")?.parse()?;
    let stime: f64 = fields.get(12).ok_or("short /proc/self/stat")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// Peak resident set (`VmHWM`) of this process, in KiB.
fn own_vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .ok_or("no VmHWM")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// Free bytes on the file system holding `dir` (`df -Pk`).
fn free_bytes(dir: &Path) -> Result<u64> {
    let out = sh("df", &["-Pk", &dir.to_string_lossy()])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1).ok_or("df printed no data line")?;
    let kib: u64 = line.split_whitespace().nth(3).ok_or("short df line")?.parse()?;
    Ok(kib * 1024)
}

/// The file system type and device of `dir` (`df -PT`), for the report.
fn file_system(dir: &Path) -> String {
    sh("df", &["-PT", &dir.to_string_lossy()])
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text.lines().nth(1)?.to_owned();
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(format!("{} ({}) mounted on {}", f.first()?, f.get(1)?, f.get(6)?))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Writes `len` random bytes to a new file at `path`, in 1 MiB pieces.
fn write_random_file(path: &Path, len: u64) -> Result<()> {
    let mut file = std::fs::File::create(path)?;
    let mut piece = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB) as usize;
        getrandom::fill(&mut piece[..n]).map_err(|e| e.to_string())?;
        file.write_all(&piece[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Total size of the regular files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// One timed child process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Wall time of the child, from spawn to exit, measured here.
    seconds: f64,
    /// The child's user + system CPU seconds (GNU time `%U + %S`).
    cpu: f64,
    /// The child's system CPU seconds (GNU time `%S`).
    sys: f64,
    /// The child's minor page faults (GNU time `%R`).
    minor_faults: u64,
    /// The child's peak resident set in KiB (GNU time `%M`).
    peak_kib: u64,
    /// CPU seconds of this process (server or sink) during the child.
    own_cpu: f64,
}

/// Runs `cmd` under `/usr/bin/time`, timed; fails if it fails. Returns its stdout and the sample.
fn timed(cmd: &Command, stats: &Path, ticks: f64) -> Result<(String, Sample)> {
    let mut timed = Command::new(TIME);
    timed
        .arg("-o")
        .arg(stats)
        .arg("-f")
        .arg("%U %S %M %R")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let mut cleared = false;
    for (key, value) in cmd.get_envs() {
        // The send commands start from an empty environment (see `User::command`).
        if !cleared {
            timed.env_clear();
            cleared = true;
        }
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    let own_before = own_cpu_seconds(ticks)?;
    let started = Instant::now();
    let out = timed.output()?;
    let seconds = started.elapsed().as_secs_f64();
    let own_cpu = own_cpu_seconds(ticks)? - own_before;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{:?} {:?} failed ({}):\n--- stdout\n{stdout}--- stderr\n{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = std::fs::read_to_string(stats)?;
    let last = text.lines().last().ok_or("GNU time wrote nothing")?;
    let f: Vec<&str> = last.split_whitespace().collect();
    let [user, sys, peak, minor] = f[..] else {
        return Err(format!("unexpected GNU time output {text:?}").into());
    };
    Ok((
        stdout,
        Sample {
            seconds,
            cpu: user.parse::<f64>()? + sys.parse::<f64>()?,
            sys: sys.parse()?,
            minor_faults: minor.parse()?,
            peak_kib: peak.parse()?,
            own_cpu,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// The upload sink: a minimal HTTP/1.1 server for `curl -T`. Each `PUT /{name}` with a
// Content-Length is written to `{dir}/{name}` (a new file) in 1 MiB writes, then `sync_all`,
// then answered with `200` and `received {n}`.

fn start_sink(dir: PathBuf) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new().name("sink".into()).spawn(move || {
        for stream in listener.incoming() {
            let result = stream.map_err(Error::from).and_then(|s| sink_one(s, &dir));
            if let Err(e) = result {
                eprintln!("send_large: sink: {e}");
            }
        }
    })?;
    Ok(addr)
}

fn sink_one(stream: TcpStream, dir: &Path) -> Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
    let mut writer = stream;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = None;
    let mut expect_continue = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err("connection closed in the request head".into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse::<u64>()?);
            } else if name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let name = target.trim_start_matches('/');
    let respond = |w: &mut TcpStream, status: &str, body: &str| -> Result<()> {
        write!(
            w,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        w.flush()?;
        Ok(())
    };
    let Some(len) = content_length.filter(|_| method == "PUT") else {
        return respond(&mut writer, "411 Length Required", "PUT with a Content-Length only\n");
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
        return respond(&mut writer, "400 Bad Request", "bad name\n");
    }
    if expect_continue {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut file = std::fs::File::create_new(dir.join(name))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        // Fill up to 1 MiB (or what is left), then one write.
        let want = left.min(MIB) as usize;
        let mut filled = 0;
        while filled < want {
            match reader.read(&mut buf[filled..want])? {
                0 => return Err(format!("the body ended after {} of {len} bytes", len - left + filled as u64).into()),
                n => filled += n,
            }
        }
        file.write_all(&buf[..filled])?;
        left -= filled as u64;
    }
    file.sync_all()?;
    respond(&mut writer, "200 OK", &format!("received {len}\n"))
}

// ---------------------------------------------------------------------------------------------
// The in-process Sealpost server.

struct Server {
    base: String,
    services: Services,
    data_dir: PathBuf,
    running: sealpost_server::app::Spawned,
}

async fn start_server(data_dir: &Path) -> Result<Server> {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse()?;
    config.storage.data_dir = data_dir.to_path_buf();
    config.storage.database_url = Some(Secret::new(format!("sqlite://{}/sealpost.db", data_dir.display())));
    config.metrics.listen = None;
    // The bench sweeps itself, after each delete.
    config.sweeper.interval_secs = 24 * 3600;
    // Every 8 MiB part is a request: 600 per minute would throttle back-to-back 2 GiB sends.
    config.limits.token_requests_per_minute = 1_000_000;
    // The defaults (64 GiB per payload, 100 GiB per sender, 1 TiB per organisation) already
    // accept a 4 GiB send; make sure they stay above what the bench sends.
    config.limits.max_payload_bytes = config.limits.max_payload_bytes.max(64 * GIB);
    config.limits.sender_quota_bytes = config.limits.sender_quota_bytes.max(100 * GIB);
    config.limits.org_quota_bytes = config.limits.org_quota_bytes.max(100 * GIB);
    let services = sealpost_server::app::services(&config, Arc::new(SystemClock)).await?;
    let running = sealpost_server::app::spawn(config, services.clone()).await?;
    Ok(Server {
        base: running.base_url(),
        services,
        data_dir: data_dir.to_path_buf(),
        running,
    })
}

impl Server {
    /// An organisation, a sender and a token with `send`, `read` and `keys`.
    async fn token(&self) -> Result<String> {
        let svc = &self.services;
        let org = accounts::create_org(svc, "bench", "bench").await?;
        let user = accounts::create_user(svc, &org.id, "sender@example.org", &[Role::Sender], "bench").await?;
        let (_, token) = accounts::issue_token(
            svc,
            &user.id,
            "bench",
            &[Scope::Send, Scope::Read, Scope::Keys],
            None,
            "bench",
        )
        .await?;
        Ok(token.expose().to_owned())
    }

    /// Deletes a sent message through the API, then sweeps once so its blobs go too.
    async fn delete(&self, token: &str, id: &str) -> Result<()> {
        let r = reqwest::Client::new()
            .delete(format!("{}/api/v1/messages/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(format!("DELETE message {id}: {} {}", r.status(), r.text().await?).into());
        }
        sweeper::sweep_once(&self.services, 48).await?;
        Ok(())
    }

    async fn stop(self) {
        if let Err(e) = self.running.stop().await {
            eprintln!("send_large: server: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The `sealpost` tool.

struct User {
    home: PathBuf,
}

impl User {
    /// A `sealpost` command with this user's environment only.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealpost"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("XDG_STATE_HOME", self.home.join("state"))
            .env("SEALPOST_PASSWORD", PASSWORD)
            .current_dir(&self.home)
            .stdin(Stdio::null());
        cmd
    }

    fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output()?;
        if !out.status.success() {
            return Err(format!(
                "sealpost {args:?} failed ({}):\n--- stdout\n{}--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn send_command(&self, file: &Path) -> Command {
        let file = file.to_string_lossy();
        self.command(&[
            "send",
            "--to",
            "guest@example.org",
            "--sms",
            "+447700900123",
            "--subject",
            "send_large bench",
            "--body",
            "A large attachment.",
            "--attach",
            &file,
            "--json",
        ])
    }

    /// Removes the resume state, so that every send starts from nothing.
    fn forget_sends(&self) -> Result<()> {
        let dir = self.home.join("state").join("sealpost").join("sends");
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }
}

/// What `sealpost send --json` reported.
struct Sent {
    message_id: String,
    json: serde_json::Value,
}

fn parse_sent(stdout: &str, file_len: u64) -> Result<Sent> {
    let json: serde_json::Value =
        serde_json::from_str(stdout.trim()).map_err(|e| format!("send printed no JSON object ({e}): {stdout:?}"))?;
    let message_id = json["message_id"]
        .as_str()
        .ok_or_else(|| format!("no message_id in {json}"))?
        .to_owned();
    if let Some(bytes) = json["bytes"].as_u64()
        && bytes < file_len
    {
        return Err(format!("send reported {bytes} bytes for a {file_len}-byte file: {json}").into());
    }
    Ok(Sent { message_id, json })
}

// ---------------------------------------------------------------------------------------------
// The run.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Curl,
    Dd,
    Send,
}

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::Curl => "A. `curl -T` → sink (1 MiB writes, `sync_all`)",
            Step::Dd => "B. `dd bs=1M conv=fdatasync` → new file",
            Step::Send => "**`sealpost send`** (whole process)",
        }
    }
}

struct Ctx<'a> {
    rt: &'a tokio::runtime::Runtime,
    server: &'a Server,
    user: &'a User,
    token: &'a str,
    sink: SocketAddr,
    dir: &'a Path,
    ticks: f64,
    stats: PathBuf,
}

impl Ctx<'_> {
    /// One timed step on `file`, then its output deleted and `sync`.
    fn step(&self, step: Step, file: &Path, len: u64) -> Result<(Sample, Option<Sent>)> {
        let out = self.dir.join("out.bin");
        remove_if_exists(&out)?;
        sync()?;
        let (sample, sent) = match step {
            Step::Curl => {
                let url = format!("http://{}/out.bin", self.sink);
                let mut cmd = Command::new("curl");
                cmd.args(["-sS", "--fail", "-H", "Expect:", "-T"]).arg(file).arg(&url);
                let (stdout, sample) = timed(&cmd, &self.stats, self.ticks)?;
                if stdout.trim() != format!("received {len}") {
                    return Err(format!("the sink answered {stdout:?} for {len} bytes").into());
                }
                (sample, None)
            }
            Step::Dd => {
                let mut cmd = Command::new("dd");
                cmd.arg(format!("if={}", file.display()))
                    .arg(format!("of={}", out.display()))
                    .args(["bs=1M", "conv=fdatasync", "status=none"]);
                (timed(&cmd, &self.stats, self.ticks)?.1, None)
            }
            Step::Send => {
                self.user.forget_sends()?;
                let (stdout, sample) = timed(&self.user.send_command(file), &self.stats, self.ticks)?;
                (sample, Some(parse_sent(&stdout, len)?))
            }
        };
        match (step, &sent) {
            (Step::Send, Some(sent)) => {
                let stored = bytes_under(&self.server.data_dir.join("blobs"));
                if stored < len {
                    return Err(format!("after the send the server stores {stored} bytes, less than {len}").into());
                }
                self.rt.block_on(self.server.delete(self.token, &sent.message_id))?;
                let left = bytes_under(&self.server.data_dir.join("blobs"));
                if left > MIB {
                    eprintln!(
                        "  note: {left} bytes left in the blob directory after deleting {}",
                        sent.message_id
                    );
                }
            }
            _ => {
                let written = std::fs::metadata(&out)?.len();
                if written != len {
                    return Err(format!("{step:?} wrote {written} bytes, not {len}").into());
                }
                std::fs::remove_file(&out)?;
            }
        }
        sync()?;
        Ok((sample, sent))
    }
}

fn run(options: Options) -> Result<()> {
    if !Path::new(TIME).exists() {
        return Err(format!("{TIME} (GNU time) is needed for the CPU time and peak memory").into());
    }
    sh("curl", &["--version"]).map_err(|e| format!("curl is needed: {e}"))?;
    let base = match &options.dir {
        Some(dir) => dir.clone(),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    };
    std::fs::create_dir_all(&base)?;
    let temp = tempfile::Builder::new().prefix("send_large-").tempdir_in(&base)?;
    let dir = temp.path();
    let len = (options.gib * GIB as f64) as u64;
    let small_len = options.small_mib * MIB;
    let mem_len = (options.mem_gib * GIB as f64) as u64;
    let free = free_bytes(dir)?;
    if free < 4 * len + GIB {
        return Err(format!(
            "{} GiB free in {}; the run needs about {} GiB",
            free / GIB,
            dir.display(),
            (4 * len) / GIB + 1
        )
        .into());
    }
    let ticks = clock_ticks();

    println!(
        "send_large: {:.3} GB file ({} MiB), {} runs, in {}",
        len as f64 / 1e9,
        len / MIB,
        options.runs,
        dir.display()
    );
    println!(
        "machine: {} CPUs, {}; file system: {}; {} GiB free; load average at start: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_model(),
        file_system(dir),
        free / GIB,
        load_average()
    );

    // The server gets its own runtime, as the server binary does (default worker count).
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let data_dir = dir.join("server");
    let server = rt.block_on(start_server(&data_dir))?;
    let token = rt.block_on(server.token())?;
    let sink_dir = dir.join("sink");
    std::fs::create_dir_all(&sink_dir)?;
    let sink = start_sink(sink_dir.clone())?;
    let user = User { home: dir.join("home") };
    std::fs::create_dir_all(&user.home)?;
    println!(
        "server: {} (in this process), data in {}; sink: http://{sink}",
        server.base,
        data_dir.display()
    );

    // Can the tool send yet? Without `send`, the references still run.
    let can_send = match user
        .command(&["send", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {
            user.ok(&["init", "--server", &server.base, "--token", &token])?;
            user.ok(&["keys", "generate"])?;
            user.ok(&["keys", "register"])?;
            true
        }
        _ => {
            println!("NOTE: `sealpost send --help` fails: this build has no `send`; only the references run");
            false
        }
    };

    let file = dir.join("source.bin");
    let started = Instant::now();
    write_random_file(&file, len)?;
    sync()?;
    eprintln!(
        "  wrote the {len}-byte source in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let ctx = Ctx {
        rt: &rt,
        server: &server,
        user: &user,
        token: &token,
        sink,
        dir: &sink_dir,
        ticks,
        stats: dir.join("time.txt"),
    };
    let mut steps = vec![Step::Curl, Step::Dd];
    if can_send {
        steps.push(Step::Send);
    }

    // One untimed round: warms the page cache, the file system and the server's database.
    for &step in &steps {
        let (sample, sent) = ctx.step(step, &file, len)?;
        eprintln!("  warm-up {step:?}: {:.2} s", sample.seconds);
        if let Some(sent) = sent {
            println!("send --json of the warm-up: {}", sent.json);
        }
    }

    let mut samples: Vec<Vec<Sample>> = steps.iter().map(|_| Vec::new()).collect();
    let started = Instant::now();
    for run in 0..options.runs {
        for k in 0..steps.len() {
            let i = (k + run) % steps.len();
            samples[i].push(ctx.step(steps[i], &file, len)?.0);
        }
        eprintln!(
            "  run {}/{} done ({:.0} s, load {})",
            run + 1,
            options.runs,
            started.elapsed().as_secs_f64(),
            load_average()
        );
    }
    print_table(&steps, &samples, len);
    print_runs(&steps, &samples, len);
    std::fs::remove_file(&file)?;

    if can_send {
        memory(&ctx, dir, small_len, mem_len, options.runs)?;
    }
    println!(
        "this process (server + sink) peak RSS (VmHWM) at the end: {:.1} MiB",
        own_vm_hwm_kib()? as f64 / 1024.0
    );
    println!("load average at the end: {}", load_average());
    rt.block_on(server.stop());
    drop(temp);
    Ok(())
}

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

fn cell(values: &[f64], digits: usize) -> String {
    let (lo, hi) = min_max(values);
    format!("{:.digits$} ({lo:.digits$}–{hi:.digits$})", median(values))
}

fn print_table(steps: &[Step], samples: &[Vec<Sample>], len: u64) {
    let gb = len as f64 / 1e9;
    let rates = |i: usize| -> Vec<f64> { samples[i].iter().map(|s| gb / s.seconds).collect() };
    let runs = samples[0].len();
    // The raw limit: the slower reference, by medians and run by run.
    let curl = rates(0);
    let dd = rates(1);
    let raw_median = median(&curl).min(median(&dd));
    let raw_per_run: Vec<f64> = curl.iter().zip(&dd).map(|(c, d)| c.min(*d)).collect();
    println!();
    println!(
        "SEND {gb:.3} GB. GB/s = 10^9 file bytes per second of wall time, median (min–max) of {runs} runs.\n\
         raw limit = min(curl, dd) of the medians = {raw_median:.3} GB/s (curl {:.3}, dd {:.3}); \
         × raw = ratio of the medians; per run = range of each run's ratio to min(curl, dd) of that run.\n\
         child CPU-s = user + sys of the timed process; server CPU-s = this process (the in-process \
         server, or the sink for curl) during the step; RSS = the child's peak.",
        median(&curl),
        median(&dd)
    );
    println!();
    println!("| case | GB/s | × raw | per run | wall s | child CPU-s | server CPU-s | child RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, step) in steps.iter().enumerate() {
        let r = rates(i);
        let per_run: Vec<f64> = r.iter().zip(&raw_per_run).map(|(x, raw)| x / raw).collect();
        let (plo, phi) = min_max(&per_run);
        let secs: Vec<f64> = samples[i].iter().map(|s| s.seconds).collect();
        let cpu: Vec<f64> = samples[i].iter().map(|s| s.cpu).collect();
        let own: Vec<f64> = samples[i].iter().map(|s| s.own_cpu).collect();
        let rss = samples[i].iter().map(|s| s.peak_kib).max().unwrap_or(0) as f64 / 1024.0;
        let server = if *step == Step::Dd {
            "–".to_owned()
        } else {
            cell(&own, 2)
        };
        println!(
            "| {} | {} | {:.2} | {plo:.2}–{phi:.2} | {} | {} | {server} | {rss:.1} |",
            step.label(),
            cell(&r, 3),
            median(&r) / raw_median,
            cell(&secs, 2),
            cell(&cpu, 2),
        );
    }
}

/// Every run, in the order the runs went: GB/s [child CPU-s (of which sys), minor page faults,
/// server CPU-s].
fn print_runs(steps: &[Step], samples: &[Vec<Sample>], len: u64) {
    let gb = len as f64 / 1e9;
    println!();
    println!("EVERY RUN (GB/s [child CPU-s (of which sys), child minor faults / server CPU-s])");
    for (step, runs) in steps.iter().zip(samples) {
        let runs: Vec<String> = runs
            .iter()
            .map(|s| {
                format!(
                    "{:.3} [{:.2} ({:.2}), {} / {:.2}]",
                    gb / s.seconds,
                    s.cpu,
                    s.sys,
                    s.minor_faults,
                    s.own_cpu
                )
            })
            .collect();
        println!("{:?}: {}", step, runs.join(", "));
    }
}

/// Peak RSS of `sealpost send` for a 1 KiB file (the fixed cost: process start, unlocking the
/// key file, the API calls), a small and a large file (`runs` sends each, the maximum).
fn memory(ctx: &Ctx, dir: &Path, small_len: u64, mem_len: u64, runs: usize) -> Result<()> {
    println!();
    println!(
        "PEAK MEMORY of `sealpost send` (GNU time %M, max (min–max) over {runs} sends each); wall time and GB/s: median (min–max)"
    );
    println!();
    println!("| file | peak RSS MiB | wall s | GB/s | child CPU-s | server CPU-s |");
    println!("|---|---|---|---|---|---|");
    let mut peaks = Vec::new();
    for size in [1024, small_len, mem_len] {
        let label = if size < MIB {
            format!("{} KiB", size / 1024)
        } else {
            format!("{} MiB", size / MIB)
        };
        let free = free_bytes(dir)?;
        if size == mem_len && free < MEM_RUN_MIN_FREE {
            println!(
                "| {label} | skipped: {:.1} GiB free, less than {} GiB | | | | |",
                free as f64 / GIB as f64,
                MEM_RUN_MIN_FREE / GIB
            );
            continue;
        }
        let file = dir.join(format!("mem-{size}.bin"));
        write_random_file(&file, size)?;
        sync()?;
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(ctx.step(Step::Send, &file, size)?.0);
        }
        std::fs::remove_file(&file)?;
        let rss: Vec<f64> = samples.iter().map(|s| s.peak_kib as f64 / 1024.0).collect();
        let secs: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
        let rates: Vec<f64> = samples.iter().map(|s| size as f64 / 1e9 / s.seconds).collect();
        let cpu: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
        let own: Vec<f64> = samples.iter().map(|s| s.own_cpu).collect();
        let (lo, hi) = min_max(&rss);
        let rate = if size < MIB { "–".to_owned() } else { cell(&rates, 3) };
        println!(
            "| {label} | {hi:.1} ({lo:.1}–{hi:.1}) | {} | {rate} | {} | {} |",
            cell(&secs, 2),
            cell(&cpu, 2),
            cell(&own, 2)
        );
        if size >= MIB {
            peaks.push(hi);
        }
    }
    if let [small, large] = peaks[..] {
        println!();
        println!(
            "peak RSS ratio {} MiB / {} MiB file: {:.2} (file size ratio {:.1})",
            mem_len / MIB,
            small_len / MIB,
            large / small,
            mem_len as f64 / small_len as f64
        );
    }
    Ok(())
}
