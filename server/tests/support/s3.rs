//! An S3 target for integration tests, shared by test files through
//! `#[path = "support/s3.rs"] mod s3;`.
//!
//! - `SEALPOST_TEST_S3_ENDPOINT` set: that endpoint, with `SEALPOST_TEST_S3_ACCESS_KEY_ID` /
//!   `SEALPOST_TEST_S3_SECRET_ACCESS_KEY` (default `test` / `test`) and
//!   `SEALPOST_TEST_S3_REGION` (default `us-east-1`). With `SEALPOST_TEST_S3_BUCKET`, every test
//!   uses that existing bucket under a fresh random prefix; without it, a fresh bucket is created
//!   per test with an unsigned `PUT /<bucket>` (which moto and LocalStack accept).
//! - Otherwise, when `moto_server` is on `PATH`: one moto server per test process on a free
//!   local port, stopped when the process exits, and a fresh bucket per test.
//! - Otherwise the S3 variant is skipped (one line on stderr), except with `CI=true`, where it
//!   panics: CI must run the S3 tests.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long moto may take to start answering.
const MOTO_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A bucket (and optional key prefix) on an S3-compatible endpoint, fresh for one test.
#[derive(Debug, Clone)]
pub struct S3Target {
    /// e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
    /// e.g. `us-east-1`.
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// A key prefix unique to the test, when the bucket is shared.
    pub prefix: Option<String>,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Whether the endpoint is plain HTTP.
    pub allow_http: bool,
}

impl S3Target {
    /// The `blob_url` of this target: `s3://bucket[/prefix]`.
    pub fn blob_url(&self) -> String {
        match &self.prefix {
            Some(prefix) => format!("s3://{}/{prefix}", self.bucket),
            None => format!("s3://{}", self.bucket),
        }
    }
}

/// A fresh S3 target, or `None` when no S3 server is available outside CI (see the module docs).
pub async fn s3_target() -> Option<S3Target> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = env("SEALPOST_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned());
    let name = format!("sealpost-test-{}", random_hex());
    let target = if let Some(endpoint) = env("SEALPOST_TEST_S3_ENDPOINT") {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let (bucket, prefix) = match env("SEALPOST_TEST_S3_BUCKET") {
            Some(bucket) => (bucket, Some(name)),
            None => (name, None),
        };
        S3Target {
            allow_http: endpoint.starts_with("http://"),
            endpoint,
            region,
            bucket,
            prefix,
            access_key_id: env("SEALPOST_TEST_S3_ACCESS_KEY_ID").unwrap_or_else(|| "test".to_owned()),
            secret_access_key: env("SEALPOST_TEST_S3_SECRET_ACCESS_KEY").unwrap_or_else(|| "test".to_owned()),
        }
    } else if let Some(endpoint) = moto_endpoint() {
        S3Target {
            endpoint: endpoint.to_owned(),
            region,
            bucket: name,
            prefix: None,
            access_key_id: "test".to_owned(),
            secret_access_key: "test".to_owned(),
            allow_http: true,
        }
    } else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true but no S3 test server: install moto (`pip install 'moto[server]'`) or set SEALPOST_TEST_S3_ENDPOINT"
            );
        }
        eprintln!("S3 variant skipped: no moto_server on PATH and SEALPOST_TEST_S3_ENDPOINT unset");
        return None;
    };
    if target.prefix.is_none() {
        create_bucket(&target).await;
    }
    Some(target)
}

/// Creates the target's bucket with an unsigned `PUT /<bucket>`.
async fn create_bucket(target: &S3Target) {
    let url = format!("{}/{}", target.endpoint, target.bucket);
    let response = reqwest::Client::new()
        .put(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating test bucket at {url}: {e}"));
    assert!(
        response.status().is_success(),
        "creating test bucket at {url}: HTTP {} (for a server that needs signed requests, set SEALPOST_TEST_S3_BUCKET to an existing bucket)",
        response.status()
    );
}

/// The moto server of this test process, started on first use; `None` if `moto_server` is not on
/// `PATH`.
fn moto_endpoint() -> Option<&'static str> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
        .as_ref()
        .map(|moto| moto.endpoint.as_str())
}

/// A running moto server. It is started through `sh`, which waits for end-of-file on its stdin
/// (a pipe whose only write end this process holds, in `_guard`) and then kills moto: so moto
/// stops whenever this process exits, however it exits (statics are never dropped).
struct Moto {
    endpoint: String,
    _guard: Child,
}

impl Moto {
    fn start() -> Option<Self> {
        let program = find_on_path("moto_server")?;
        let port = free_port();
        let guard = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read -r _; kill "$pid" 2>/dev/null"#)
            .arg(&program)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {addr} within {MOTO_START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Self {
            endpoint: format!("http://{addr}"),
            _guard: guard,
        })
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").port()
}

/// The executable `name` in a `PATH` directory.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// 16 random hex digits (bucket names must be lowercase).
fn random_hex() -> String {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).expect("randomness");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
