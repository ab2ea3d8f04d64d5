//! Test support for the SDK and the `sealpost` tool: a real Sealpost server in-process on
//! 127.0.0.1:0 over SQLite in a temporary directory (with the development SMS outbox), an
//! account with an API token, and the `sealpost` binary run with its own configuration and
//! state directories (adapted from `tests/tests/support/server.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealpost_server::clock::{Clock as _, ManualClock, SystemClock};
use sealpost_server::config::{Config, Secret};
use sealpost_server::domain::{Role, Scope, Services, accounts};
use serde_json::Value;

/// A UK number reserved for drama.
pub const PHONE: &str = "+447700900123";
/// The public URL of test servers (links start with it).
pub const PUBLIC_URL: &str = "https://sealpost.test";
/// The password of every test key file.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server with its own temporary data directory.
pub struct Server {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    pub services: Services,
    pub clock: ManualClock,
    pub config: Config,
    running: Option<sealpost_server::app::Spawned>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on the embedded defaults after `adjust` changed the configuration.
    pub async fn start(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().expect("address");
        config.storage.data_dir = dir.path().to_path_buf();
        config.storage.database_url = Some(Secret::new(format!("sqlite://{}/sealpost.db", dir.path().display())));
        config.metrics.listen = None;
        config.sweeper.interval_secs = 3600;
        // Links carry the public URL, which a server on port 0 cannot know before it binds;
        // tests reach links through [`Server::reachable`].
        config.server.public_url = PUBLIC_URL.into();
        adjust(&mut config);
        let clock = ManualClock::new(SystemClock.now_ms());
        let services = sealpost_server::app::services(&config, Arc::new(clock.clone()))
            .await
            .expect("server services");
        let running = sealpost_server::app::spawn(config.clone(), services.clone())
            .await
            .expect("server");
        Server {
            base: running.base_url(),
            services,
            clock,
            config,
            running: Some(running),
            _dir: dir,
        }
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A link as the server prints it (`https://sealpost.test/r/…`), at this server's address.
    pub fn reachable(&self, link: &str) -> String {
        match link.strip_prefix(PUBLIC_URL) {
            Some(rest) => format!("{}{rest}", self.base),
            None => link.to_owned(),
        }
    }

    /// Every SMS in the development outbox so far: `{"at","to","text"}` objects.
    pub fn sms(&self) -> Vec<Value> {
        let path = self.config.storage.data_dir.join("sms-outbox.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("outbox line {l:?}: {e}")))
            .collect()
    }

    /// Waits for SMS number `nth` (0-based) and returns its code.
    pub async fn wait_for_code(&self, nth: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(sms) = self.sms().get(nth) {
                let text = sms["text"].as_str().expect("SMS text");
                return text
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|run| run.len() == self.config.access.code_digits as usize)
                    .expect("a code in the SMS")
                    .to_owned();
            }
            assert!(Instant::now() < deadline, "no SMS number {nth} after 15 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates (once) organisation `org` and a user with `roles`, and returns a token with
    /// `send`, `read` and `keys`.
    pub async fn account(&self, org: &str, address: &str, roles: &[Role]) -> String {
        self.account_with(org, address, roles, &[Scope::Send, Scope::Read, Scope::Keys])
            .await
    }

    /// Creates (once) organisation `org` and a user with `roles`, and returns a token with
    /// `scopes`.
    pub async fn account_with(&self, org: &str, address: &str, roles: &[Role], scopes: &[Scope]) -> String {
        let svc = &self.services;
        let org = match accounts::org_by_name(svc, org).await {
            Ok(o) => o,
            Err(_) => accounts::create_org(svc, org, "test").await.expect("organisation"),
        };
        let user = accounts::create_user(svc, &org.id, address, roles, "test")
            .await
            .expect("user");
        let (_, token) = accounts::issue_token(svc, &user.id, "test", scopes, None, "test")
            .await
            .expect("token");
        token.expose().to_owned()
    }

    /// A sender account at the council.
    pub async fn sender(&self, address: &str) -> String {
        self.account("council", address, &[Role::Sender]).await
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("server stopped cleanly");
        }
    }
}

/// A user of the `sealpost` tool: their own HOME-like directory with configuration, key file
/// and resume state, and the environment the tool reads.
pub struct User {
    pub dir: tempfile::TempDir,
}

impl User {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `sealpost` command with this user's environment (no terminal: stdin is null).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sealpost"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("SEALPOST_PASSWORD", PASSWORD)
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs `sealpost args…` to the end (off the async runtime).
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run sealpost");
        Run::from(output)
    }

    /// Runs and expects success.
    pub async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.code, 0, "sealpost {args:?} failed:\n{run}");
        run
    }

    /// Runs with `--json` appended and expects success; the parsed output.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let run = self.ok(&all).await;
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("sealpost {all:?}: not JSON ({e}):\n{run}"))
    }

    /// `init` against `server` with `token`, then a key file, registered.
    pub async fn setup(&self, server: &Server, token: &str) {
        self.ok(&["init", "--server", &server.base, "--token", token]).await;
        self.ok(&["keys", "generate"]).await;
        self.ok(&["keys", "register"]).await;
    }
}

/// The result of one run of the tool.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Random bytes.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes
}

/// Writes `len` random bytes to `path`, in pieces.
pub fn random_file(path: &Path, len: u64) {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut left = len;
    let mut piece = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        getrandom::fill(&mut piece[..n]).expect("OS randomness");
        file.write_all(&piece[..n]).expect("write");
        left -= n as u64;
    }
    file.flush().expect("flush");
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
