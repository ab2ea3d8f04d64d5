//! Whole-file throughput against `rage`, in the same run: encrypt and decrypt a 1 GiB file with
//! `rage` and with `sealpost_client::payload_io` (one core, and all cores), writing to a file
//! and to `/dev/null`; check that each side decrypts the other's output; and show that peak
//! memory does not grow with the file size.
//!
//! ```text
//! cargo bench -p sealpost-client --bench file_throughput                 # 1 GiB, 5 runs per case
//! cargo bench -p sealpost-client --bench file_throughput -- --mib 64 --reps 2      # quick run
//! ```
//!
//! Options (or environment variables): `--mib N` (`SEALPOST_BENCH_MIB`, default 1024),
//! `--reps N` (`SEALPOST_BENCH_REPS`, default 5), `--dir PATH` (`SEALPOST_BENCH_DIR`, default a
//! new directory under the system temp dir; it needs about 4 × the file size).
//!
//! Every timed case is a separate process started and timed the same way: `rage` itself, or this
//! binary re-executed as `child encrypt|decrypt …`, which runs one `payload_io` call in a rayon
//! pool of the requested size and prints its peak resident set (`VmHWM` of `/proc/self/status`)
//! just before it exits. "1 core" rows run under `taskset -c 1` with a one-thread pool, so the
//! reader thread, the crypto and the writes all share one CPU, as `rage` does. Output files are
//! deleted and `sync` is run before every case, so each write creates a new file and no
//! writeback of an earlier case runs during the next one. The order of the cases rotates from one
//! repetition to the next. Results and their discussion: `docs/PERFORMANCE.md`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use sealpost_client::payload_io;
use sealpost_crypto::age_x25519::X25519Identity;
use sealpost_crypto::header::Header;
use sealpost_crypto::identity::unwrap_file_key;
use sealpost_crypto::seal::PayloadDigest;
use sealpost_crypto::secrets::FileKey;

type Error = Box<dyn std::error::Error>;
type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether the chacha20 crate was built with its runtime-detected AVX-512 backend
/// (`--cfg chacha20_avx512`, set for the whole build in `.cargo/config.toml`).
#[allow(unexpected_cfgs)]
const CHACHA20_AVX512: bool = cfg!(chacha20_avx512);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child(&args[1..]),
        // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip the long run then.
        _ if !args.iter().any(|a| a == "--bench") => {
            println!("file_throughput: not run outside `cargo bench`");
            Ok(())
        }
        _ => parent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("file_throughput: {err}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The child: one encryption or decryption, then its peak memory.

/// `child encrypt|decrypt <sealpost|age> <threads, 0 = one per CPU> <key file> <in> <out> [digest]`
fn child(args: &[String]) -> Result<()> {
    let [op, mode, threads, key, input, output, rest @ ..] = args else {
        return Err("usage: child encrypt|decrypt sealpost|age THREADS KEY IN OUT [DIGEST]".into());
    };
    let identity = read_identity(Path::new(key))?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.parse()?).build()?;
    let mut input = File::open(input)?;
    let mut output = File::create(output)?;
    let report = match (op.as_str(), mode.as_str()) {
        ("encrypt", mode) => {
            let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
            let file_key = FileKey::random(&mut rng);
            let stanza = identity.recipient().wrap(&file_key, &mut rng)?;
            output.write_all(Header::new(vec![stanza], &file_key)?.as_bytes())?;
            let mut nonce = [0u8; 16];
            getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
            let len = input.metadata()?.len();
            if mode == "age" {
                let written = pool.install(|| payload_io::encrypt_age_payload(&file_key, nonce, len, input, output))?;
                format!("payload {written}")
            } else {
                let digest = pool.install(|| payload_io::encrypt_payload(&file_key, nonce, len, input, output))?;
                format!("digest {}", digest_to_text(&digest))
            }
        }
        ("decrypt", mode) => {
            let (file_key, payload_len) = open_age_header(&mut input, &identity)?;
            let plaintext = if mode == "age" {
                pool.install(|| payload_io::decrypt_age_payload(&file_key, payload_len, input, output))?
            } else {
                let digest = digest_from_text(rest.first().ok_or("decrypt sealpost needs the digest")?)?;
                if digest.len != payload_len {
                    return Err("the payload length differs from the digest".into());
                }
                pool.install(|| payload_io::decrypt_payload(&file_key, &digest, input, output))?
            };
            format!("plaintext {plaintext}")
        }
        _ => return Err(format!("unknown child operation {op}").into()),
    };
    println!("{report}");
    println!("vmhwm_kib {}", peak_rss_kib()?);
    Ok(())
}

/// Reads the age header at the start of `input`, unwraps the file key with `identity` (checking
/// the header MAC), leaves `input` at the payload and returns the key and the payload length.
fn open_age_header(input: &mut File, identity: &X25519Identity) -> Result<(FileKey, u64)> {
    let file_len = input.metadata()?.len();
    let mut prefix = vec![0u8; 64 * 1024];
    let mut filled = 0;
    while filled < prefix.len() {
        match input.read(&mut prefix[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    let (header, used) = Header::parse(&prefix[..filled])?;
    let file_key = unwrap_file_key(&header, identity)?;
    input.seek(SeekFrom::Start(used as u64))?;
    Ok((file_key, file_len - used as u64))
}

/// The `AGE-SECRET-KEY-1…` line of a key file written by `rage-keygen`.
fn read_identity(path: &Path) -> Result<X25519Identity> {
    use bech32::primitives::decode::CheckedHrpstring;
    let text = std::fs::read_to_string(path)?;
    let line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .ok_or("no AGE-SECRET-KEY-1 line in the key file")?;
    let checked = CheckedHrpstring::new::<bech32::Bech32>(line)?;
    let secret: [u8; 32] = checked
        .byte_iter()
        .collect::<Vec<u8>>()
        .try_into()
        .map_err(|_| "the age secret key is not 32 bytes")?;
    Ok(X25519Identity::from_secret(secret))
}

/// The `# public key: age1…` line of a key file written by `rage-keygen`.
fn read_recipient(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)?;
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .ok_or("no public key line in the key file")?;
    Ok(key.trim().to_owned())
}

/// This process's peak resident set size so far, in KiB.
fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex<const N: usize>(text: &str) -> Result<[u8; N]> {
    if text.len() != 2 * N {
        return Err("hex field of the wrong length".into());
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

fn digest_to_text(digest: &PayloadDigest) -> String {
    format!("{}:{}:{}", hex(&digest.nonce), digest.len, hex(&digest.chunk_root))
}

fn digest_from_text(text: &str) -> Result<PayloadDigest> {
    let mut parts = text.split(':');
    let (Some(nonce), Some(len), Some(root), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("a digest is NONCE:LEN:ROOT".into());
    };
    Ok(PayloadDigest {
        nonce: unhex(nonce)?,
        len: len.parse()?,
        chunk_root: unhex(root)?,
    })
}

// ---------------------------------------------------------------------------------------------
// The parent: set-up, correctness checks, timed cases, memory, report.

struct Options {
    mib: u64,
    reps: usize,
    dir: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        let mut options = Self {
            mib: env("SEALPOST_BENCH_MIB")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(1024),
            reps: env("SEALPOST_BENCH_REPS").map(|v| v.parse()).transpose()?.unwrap_or(5),
            dir: env("SEALPOST_BENCH_DIR").map(PathBuf::from),
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--mib" => options.mib = value()?.parse()?,
                "--reps" => options.reps = value()?.parse()?,
                "--dir" => options.dir = Some(PathBuf::from(value()?)),
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if options.mib < 4 || options.reps == 0 {
            return Err("--mib must be at least 4 and --reps at least 1".into());
        }
        Ok(options)
    }
}

/// Where the tools are.
struct Tools {
    rage: PathBuf,
    rage_keygen: PathBuf,
    taskset: Option<PathBuf>,
    gnu_time: Option<PathBuf>,
    this: PathBuf,
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(home_cargo)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

impl Tools {
    fn find() -> Result<Self> {
        let (Some(rage), Some(rage_keygen)) = (find_program("rage"), find_program("rage-keygen")) else {
            return Err(
                "rage was not found on PATH or in ~/.cargo/bin; install it with `cargo install --locked rage`".into(),
            );
        };
        Ok(Self {
            rage,
            rage_keygen,
            taskset: find_program("taskset"),
            gnu_time: Some(PathBuf::from("/usr/bin/time")).filter(|p| p.is_file()),
            this: std::env::current_exe()?,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Encrypt,
    Decrypt,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Rage,
    /// `payload_io` with the chunk root (the Sealpost SDK path).
    Sealpost,
    /// `payload_io` without the chunk root (a plain age file: the same work as rage).
    Age,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cores {
    /// Not restricted (rage is single-threaded anyway).
    Free,
    /// `taskset -c 1` and a one-thread pool.
    One,
    /// The default pool: one thread per CPU.
    All,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sink {
    File,
    Null,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    op: Op,
    tool: Tool,
    cores: Cores,
    sink: Sink,
}

impl Case {
    fn label(&self) -> String {
        let tool = match (self.tool, self.op) {
            (Tool::Rage, Op::Encrypt) => "rage -r",
            (Tool::Rage, Op::Decrypt) => "rage -d",
            (Tool::Sealpost, _) => "sealpost (chunk root)",
            (Tool::Age, _) => "sealpost age-only (no root)",
        };
        let cores = match (self.tool, self.cores) {
            (Tool::Rage, Cores::One) => ", taskset 1 CPU",
            (_, Cores::One) => ", 1 core",
            (_, Cores::All) => ", all cores",
            (_, Cores::Free) => "",
        };
        format!("{tool}{cores}")
    }
}

/// The files of a run.
struct Files {
    key: PathBuf,
    recipient: String,
    plaintext: PathBuf,
    small: PathBuf,
    rage_encrypted: PathBuf,
    ours_encrypted: PathBuf,
    ours_digest: String,
    out: PathBuf,
}

const NULL: &str = "/dev/null";

fn command(tools: &Tools, files: &Files, case: &Case, input: &Path, out: &Path) -> Command {
    let pinned = case.cores == Cores::One && tools.taskset.is_some();
    let mut cmd = match (&tools.taskset, pinned) {
        (Some(taskset), true) => {
            let mut c = Command::new(taskset);
            c.arg("-c").arg("1");
            c
        }
        _ => Command::new(match case.tool {
            Tool::Rage => &tools.rage,
            _ => &tools.this,
        }),
    };
    if pinned {
        cmd.arg(match case.tool {
            Tool::Rage => &tools.rage,
            _ => &tools.this,
        });
    }
    match case.tool {
        Tool::Rage => {
            match case.op {
                Op::Encrypt => cmd.arg("-r").arg(&files.recipient),
                Op::Decrypt => cmd.arg("-d").arg("-i").arg(&files.key),
            };
            cmd.arg("-o").arg(out).arg(input);
        }
        Tool::Sealpost | Tool::Age => {
            let threads = if case.cores == Cores::One { "1" } else { "0" };
            cmd.arg("child")
                .arg(if case.op == Op::Encrypt { "encrypt" } else { "decrypt" })
                .arg(if case.tool == Tool::Age { "age" } else { "sealpost" })
                .arg(threads)
                .arg(&files.key)
                .arg(input)
                .arg(out);
            if case.op == Op::Decrypt && case.tool == Tool::Sealpost {
                cmd.arg(&files.ours_digest);
            }
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// The input a case reads: the plaintext, or an encrypted file of the right kind.
fn input_of<'a>(files: &'a Files, case: &Case, plaintext: &'a Path) -> &'a Path {
    match (case.op, case.tool) {
        (Op::Encrypt, _) => plaintext,
        (Op::Decrypt, Tool::Sealpost) => &files.ours_encrypted,
        // rage decrypts its own file; the age-only path decrypts rage's file too.
        (Op::Decrypt, _) => &files.rage_encrypted,
    }
}

struct Sample {
    seconds: f64,
    /// User + system CPU time of the process (from GNU time, when installed).
    cpu_seconds: Option<f64>,
    /// Peak resident set: the child's own VmHWM, or GNU time's maxrss for rage.
    peak_kib: Option<u64>,
}

const TIME_FORMAT: &str = "cpu_user %U\\ncpu_sys %S\\nmaxrss_kib %M";

/// `cmd` run under `/usr/bin/time` (when installed), which reports CPU time and peak memory on
/// standard error.
fn with_gnu_time(tools: &Tools, cmd: Command) -> Command {
    match &tools.gnu_time {
        Some(time) => {
            let mut timed = Command::new(time);
            timed
                .arg("-f")
                .arg(TIME_FORMAT)
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .stdin(Stdio::null());
            timed
        }
        None => cmd,
    }
}

fn sync() -> Result<()> {
    let status = Command::new("sync").status()?;
    if !status.success() {
        return Err("sync failed".into());
    }
    Ok(())
}

/// Runs one case once: deletes the output file and syncs, then times the process.
fn run_case(tools: &Tools, files: &Files, case: &Case) -> Result<Sample> {
    let out = match case.sink {
        Sink::File => files.out.as_path(),
        Sink::Null => Path::new(NULL),
    };
    if case.sink == Sink::File {
        remove_if_present(out)?;
    }
    sync()?;
    let mut cmd = with_gnu_time(
        tools,
        command(tools, files, case, input_of(files, case, &files.plaintext), out),
    );
    let start = Instant::now();
    let output = cmd.output()?;
    let seconds = start.elapsed().as_secs_f64();
    check_exit(&cmd, &output)?;
    let field = |stream: &[u8], name: &str| -> Result<Option<f64>> {
        Ok(parse_field(stream, name).map(|v| v.trim().parse()).transpose()?)
    };
    let cpu_seconds = match (field(&output.stderr, "cpu_user")?, field(&output.stderr, "cpu_sys")?) {
        (Some(user), Some(sys)) => Some(user + sys),
        _ => None,
    };
    let peak_kib = field(&output.stdout, "vmhwm_kib")?.or(field(&output.stderr, "maxrss_kib")?);
    Ok(Sample {
        seconds,
        cpu_seconds,
        peak_kib: peak_kib.map(|k| k as u64),
    })
}

fn check_exit(cmd: &Command, output: &std::process::Output) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{:?} failed ({}): {}",
        cmd,
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )
    .into())
}

fn parse_field(stdout: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(stdout).lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(' '))
            .map(str::to_owned)
    })
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err.into()),
        _ => Ok(()),
    }
}

/// A file of `len` pseudo-random bytes (xorshift64: incompressible enough, and much faster than
/// the OS RNG).
fn write_random_file(path: &Path, len: u64) -> Result<()> {
    let mut file = io::BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ len;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(())
}

fn files_equal(a: &Path, b: &Path) -> Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Runs a command to completion (untimed), failing on a non-zero exit.
fn run_untimed(mut cmd: Command) -> Result<std::process::Output> {
    let output = cmd.output()?;
    check_exit(&cmd, &output)?;
    Ok(output)
}

/// Produces both encrypted inputs and checks interoperability in both directions.
fn prepare_and_check(tools: &Tools, files: &mut Files) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let enc = |tool| Case {
        op: Op::Encrypt,
        tool,
        cores: Cores::All,
        sink: Sink::File,
    };
    let dec = |tool| Case {
        op: Op::Decrypt,
        tool,
        cores: Cores::All,
        sink: Sink::File,
    };
    run_untimed(command(
        tools,
        files,
        &enc(Tool::Rage),
        &files.plaintext,
        &files.rage_encrypted,
    ))?;
    let output = run_untimed(command(
        tools,
        files,
        &enc(Tool::Sealpost),
        &files.plaintext,
        &files.ours_encrypted,
    ))?;
    files.ours_digest = parse_field(&output.stdout, "digest").ok_or("the encrypting child printed no digest")?;

    let check = |what: &str, case: &Case, input: &Path, notes: &mut Vec<String>| -> Result<()> {
        let decrypted = files.out.with_extension("check");
        run_untimed(command(tools, files, case, input, &decrypted))?;
        if !files_equal(&decrypted, &files.plaintext)? {
            return Err(format!("{what}: the decrypted file differs from the plaintext").into());
        }
        std::fs::remove_file(&decrypted)?;
        notes.push(format!("ok: {what}"));
        Ok(())
    };
    check(
        "`rage -d` decrypts sealpost's output (an age file with an X25519 stanza)",
        &dec(Tool::Rage),
        &files.ours_encrypted,
        &mut notes,
    )?;
    check(
        "sealpost's age-only decryption decrypts rage's output",
        &dec(Tool::Age),
        &files.rage_encrypted,
        &mut notes,
    )?;
    check(
        "sealpost decrypts its own output and the chunk root matches",
        &dec(Tool::Sealpost),
        &files.ours_encrypted,
        &mut notes,
    )?;
    Ok(notes)
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

fn min_max(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let avx512 = info.lines().any(|l| l.starts_with("flags") && l.contains(" avx512vl"));
    format!("{model}, AVX-512VL {}", if avx512 { "yes" } else { "no" })
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for op in [Op::Encrypt, Op::Decrypt] {
        for sink in [Sink::File, Sink::Null] {
            cases.push(Case {
                op,
                tool: Tool::Rage,
                cores: Cores::Free,
                sink,
            });
            for cores in [Cores::One, Cores::All] {
                cases.push(Case {
                    op,
                    tool: Tool::Sealpost,
                    cores,
                    sink,
                });
            }
        }
        cases.push(Case {
            op,
            tool: Tool::Rage,
            cores: Cores::One,
            sink: Sink::Null,
        });
        for cores in [Cores::One, Cores::All] {
            cases.push(Case {
                op,
                tool: Tool::Age,
                cores,
                sink: Sink::Null,
            });
        }
    }
    cases
}

fn parent(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let tools = Tools::find()?;
    let temp = match &options.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::Builder::new().prefix("sealpost-bench-").tempdir_in(dir)?
        }
        None => tempfile::Builder::new().prefix("sealpost-bench-").tempdir()?,
    };
    let dir = temp.path();
    let len = options.mib << 20;
    let small_len = len / 4;
    let gb = len as f64 / 1e9;

    println!(
        "file_throughput: {} MiB, {} runs per case, in {}",
        options.mib,
        options.reps,
        dir.display()
    );
    println!(
        "machine: {} CPUs, {}; chacha20 AVX-512 backend compiled in: {}; load average at start: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_model(),
        if CHACHA20_AVX512 { "yes" } else { "no" },
        load_average()
    );
    if tools.taskset.is_none() {
        println!("note: taskset not found: \"1 core\" rows use a one-thread pool but are not pinned");
    }

    let key = dir.join("key.txt");
    run_untimed({
        let mut c = Command::new(&tools.rage_keygen);
        c.arg("-o").arg(&key);
        c
    })?;
    let mut files = Files {
        recipient: read_recipient(&key)?,
        key,
        plaintext: dir.join("plain.bin"),
        small: dir.join("plain-small.bin"),
        rage_encrypted: dir.join("rage.age"),
        ours_encrypted: dir.join("sealpost.age"),
        ours_digest: String::new(),
        out: dir.join("out.bin"),
    };
    write_random_file(&files.plaintext, len)?;
    write_random_file(&files.small, small_len)?;
    sync()?;

    for note in prepare_and_check(&tools, &mut files)? {
        println!("{note}");
    }

    // Timed cases, rotating the order each repetition.
    let cases = cases();
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    let started = Instant::now();
    for rep in 0..options.reps {
        for k in 0..cases.len() {
            let i = (k + rep * 5) % cases.len();
            samples[i].push(run_case(&tools, &files, &cases[i])?);
        }
        eprintln!(
            "  repetition {}/{} done ({:.0} s, load {})",
            rep + 1,
            options.reps,
            started.elapsed().as_secs_f64(),
            load_average()
        );
    }

    print_table(&cases, &samples, gb, options.reps);
    print_runs(&cases, &samples, gb);
    memory(&tools, &mut files, len, small_len)?;
    println!("load average at the end: {}", load_average());
    Ok(())
}

/// Every run, in the order the repetitions ran: wall GB/s and, in brackets, GB per CPU-second.
fn print_runs(cases: &[Case], samples: &[Vec<Sample>], gb: f64) {
    println!();
    println!("EVERY RUN (GB/s [GB/CPU-s])");
    for (case, runs) in cases.iter().zip(samples) {
        let runs: Vec<String> = runs
            .iter()
            .map(|s| match s.cpu_seconds {
                Some(cpu) => format!("{:.3} [{:.3}]", gb / s.seconds, gb / cpu),
                None => format!("{:.3}", gb / s.seconds),
            })
            .collect();
        let op = if case.op == Op::Encrypt { "encrypt" } else { "decrypt" };
        let sink = if case.sink == Sink::File { "new file" } else { NULL };
        println!("{op} {} → {sink}: {}", case.label(), runs.join(", "));
    }
}

fn print_table(cases: &[Case], samples: &[Vec<Sample>], gb: f64, reps: usize) {
    let rates = |i: usize| -> Vec<f64> { samples[i].iter().map(|s| gb / s.seconds).collect() };
    let reference = |op: Op, sink: Sink| {
        cases
            .iter()
            .position(|c| c.op == op && c.tool == Tool::Rage && c.cores == Cores::Free && c.sink == sink)
    };
    for op in [Op::Encrypt, Op::Decrypt] {
        println!();
        println!(
            "{} {:.3} GB of plaintext. GB/s = 10^9 plaintext bytes per second of wall time, median (min–max) of {reps} runs;\n\
             × rage = ratio of the medians to rage's with the same output, per run = range of the run-by-run ratios;\n\
             GB/CPU-s = plaintext per second of the process's user + system CPU time (median); RSS = peak resident set (max)",
            if op == Op::Encrypt { "ENCRYPT" } else { "DECRYPT" },
            gb
        );
        println!(
            "{:<42} {:<9} {:>22} {:>9} {:>11} {:>10} {:>8}",
            "case", "output", "GB/s", "× rage", "per run", "GB/CPU-s", "RSS MiB"
        );
        for sink in [Sink::File, Sink::Null] {
            let rage = reference(op, sink).map(rates);
            for (i, case) in cases.iter().enumerate() {
                if case.op != op || case.sink != sink {
                    continue;
                }
                let mut values = rates(i);
                let (lo, hi) = min_max(&values);
                let med = median(&mut values);
                let (ratio, paired) = match &rage {
                    Some(rage) => {
                        let mut rage_sorted = rage.clone();
                        let rage_median = median(&mut rage_sorted);
                        let paired: Vec<f64> = rates(i).iter().zip(rage).map(|(o, r)| o / r).collect();
                        let (plo, phi) = min_max(&paired);
                        (format!("{:.2}", med / rage_median), format!("{plo:.2}–{phi:.2}"))
                    }
                    None => ("–".into(), "–".into()),
                };
                let peak = samples[i]
                    .iter()
                    .filter_map(|s| s.peak_kib)
                    .max()
                    .map(|k| format!("{:.1}", k as f64 / 1024.0))
                    .unwrap_or_else(|| "–".into());
                let mut per_cpu: Vec<f64> = samples[i]
                    .iter()
                    .filter_map(|s| s.cpu_seconds)
                    .map(|c| gb / c)
                    .collect();
                let per_cpu = if per_cpu.is_empty() {
                    "–".to_owned()
                } else {
                    format!("{:.3}", median(&mut per_cpu))
                };
                println!(
                    "{:<42} {:<9} {:>22} {:>9} {:>11} {:>10} {:>8}",
                    case.label(),
                    if sink == Sink::File { "new file" } else { NULL },
                    format!("{med:.3} ({lo:.3}–{hi:.3})"),
                    ratio,
                    paired,
                    per_cpu,
                    peak
                );
            }
        }
    }
}

/// Peak resident memory of our encryption and decryption (all cores, to /dev/null) at two file
/// sizes, and of rage under `/usr/bin/time` when it is installed. Three runs each; the maximum.
fn memory(tools: &Tools, files: &mut Files, len: u64, small_len: u64) -> Result<()> {
    println!();
    println!("PEAK MEMORY (max VmHWM / maxrss over 3 runs, MiB; output to /dev/null, all cores)");
    println!("{:<28} {:>14} {:>14}", "case", mib_label(small_len), mib_label(len));
    // Encrypted copies of the small file for the decryption rows.
    let small_rage = files.rage_encrypted.with_extension("small.age");
    let small_ours = files.ours_encrypted.with_extension("small.age");
    let enc = |tool| Case {
        op: Op::Encrypt,
        tool,
        cores: Cores::All,
        sink: Sink::File,
    };
    run_untimed(command(tools, files, &enc(Tool::Rage), &files.small, &small_rage))?;
    let output = run_untimed(command(tools, files, &enc(Tool::Sealpost), &files.small, &small_ours))?;
    let small_digest = parse_field(&output.stdout, "digest").ok_or("no digest")?;
    let big_digest = files.ours_digest.clone();

    for (op, tool) in [
        (Op::Encrypt, Tool::Sealpost),
        (Op::Decrypt, Tool::Sealpost),
        (Op::Encrypt, Tool::Rage),
        (Op::Decrypt, Tool::Rage),
    ] {
        if tool == Tool::Rage && tools.gnu_time.is_none() {
            continue;
        }
        let case = Case {
            op,
            tool,
            cores: Cores::All,
            sink: Sink::Null,
        };
        let mut cells = Vec::new();
        for small in [true, false] {
            let plaintext = if small { &files.small } else { &files.plaintext };
            let (rage_in, ours_in, digest) = if small {
                (&small_rage, &small_ours, &small_digest)
            } else {
                (&files.rage_encrypted, &files.ours_encrypted, &big_digest)
            };
            files.ours_digest = digest.clone();
            let input = match (op, tool) {
                (Op::Encrypt, _) => plaintext.clone(),
                (Op::Decrypt, Tool::Rage) => rage_in.clone(),
                (Op::Decrypt, _) => ours_in.clone(),
            };
            let mut peak = 0u64;
            for _ in 0..3 {
                let cmd = command(tools, files, &case, &input, Path::new(NULL));
                peak = peak.max(match (tool, &tools.gnu_time) {
                    (Tool::Rage, Some(time)) => {
                        let mut timed = Command::new(time);
                        timed
                            .arg("-f")
                            .arg("maxrss_kib %M")
                            .arg(cmd.get_program())
                            .args(cmd.get_args());
                        let output = run_untimed(timed)?;
                        parse_field(&output.stderr, "maxrss_kib").ok_or("no maxrss")?.parse()?
                    }
                    _ => {
                        let output = run_untimed(cmd)?;
                        parse_field(&output.stdout, "vmhwm_kib").ok_or("no vmhwm")?.parse()?
                    }
                });
            }
            cells.push(format!("{:.1}", peak as f64 / 1024.0));
        }
        let label = match (tool, op) {
            (Tool::Rage, Op::Encrypt) => "rage -r (GNU time maxrss)",
            (Tool::Rage, Op::Decrypt) => "rage -d (GNU time maxrss)",
            (_, Op::Encrypt) => "sealpost encrypt (VmHWM)",
            (_, Op::Decrypt) => "sealpost decrypt (VmHWM)",
        };
        println!("{:<28} {:>14} {:>14}", label, cells[0], cells[1]);
    }
    files.ours_digest = big_digest;
    Ok(())
}

fn mib_label(len: u64) -> String {
    format!("{} MiB file", len >> 20)
}
