//! The server as a separate process, for the tests that kill it (SIGKILL or an abort at a named
//! crash point) or read what it logs: spawned from the built `sealpost-server` binary on
//! 127.0.0.1:0 over a test [`Storage`], with accounts made through its `admin` subcommand.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::harness::*;
use sealpost_crypto::b64;

pub const PART: u64 = 5 * 1024 * 1024;

pub struct Proc {
    pub child: Child,
    pub base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn command(storage: &Storage) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealpost-server"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEALPOST_STORAGE_DATA_DIR", storage.dir.path())
        .env("SEALPOST_STORAGE_DATABASE_URL", &storage.database_url)
        .env("SEALPOST_STORAGE_PART_SIZE", PART.to_string())
        .env("SEALPOST_SERVER_LISTEN", "127.0.0.1:0")
        .env("SEALPOST_METRICS_LISTEN", "127.0.0.1:0")
        .env("SEALPOST_LOG_LEVEL", "warn");
    cmd
}

pub fn admin(storage: &Storage, args: &[&str]) -> String {
    let out = command(storage).arg("admin").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn spawn(storage: &Storage, failpoints: &str) -> Proc {
    spawn_logging(storage, failpoints, "warn", None)
}

pub fn spawn_logging(
    storage: &Storage,
    failpoints: &str,
    level: &str,
    sink: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
) -> Proc {
    let mut child = command(storage)
        .arg("serve")
        .env("SEALPOST_LOG_LEVEL", level)
        .env("SEALPOST_FAILPOINTS", failpoints)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let base = loop {
        let line = match lines.next() {
            Some(line) => line.unwrap(),
            None => panic!("server exited before listening: {seen:?}"),
        };
        seen.push(line.clone());
        if let Some(addr) = line.strip_prefix("sealpost-server: listening on ") {
            break format!("http://{}", addr.trim());
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some(sink) = &sink {
                sink.lock().unwrap().push(line);
            }
        }
    });
    Proc { child, base }
}

pub struct Sender {
    pub token: String,
    pub seed: sealpost_crypto::secrets::SymmetricKey,
    pub enc: sealpost_crypto::recipient::RecipientSecretKey,
    pub address: String,
}

pub async fn setup(storage: &Storage, base: &str) -> (Sender, Sender) {
    admin(storage, &["org", "create", "council"]);
    let mut out = Vec::new();
    for address in ["alice@council.example", "bob@council.example"] {
        admin(
            storage,
            &[
                "user",
                "create",
                "--org",
                "council",
                "--address",
                address,
                "--role",
                "sender",
            ],
        );
        let token = admin(
            storage,
            &["token", "create", "--user", address, "--scope", "send,read,keys"],
        )
        .trim()
        .to_owned();
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let s = Sender {
            token,
            seed: sealpost_crypto::secrets::SymmetricKey::from_bytes(seed),
            enc: sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)),
            address: address.into(),
        };
        let body = serde_json::json!({
            "x25519_pk": b64::encode(&s.enc.public().0),
            "ed25519_pk": b64::encode(&sealpost_crypto::seal::sender_public(&s.seed)),
        });
        let r = reqwest::Client::new()
            .put(format!("{base}/api/v1/me/keys"))
            .bearer_auth(&s.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        out.push(s);
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

pub fn as_actor(s: &Sender) -> Actor {
    Actor {
        address: s.address.clone(),
        org_id: String::new(),
        user_id: String::new(),
        token: s.token.clone(),
        signing_seed: sealpost_crypto::secrets::SymmetricKey::from_bytes(*s.seed.expose_secret()),
        encryption: sealpost_crypto::recipient::RecipientSecretKey::from_bytes(*s.enc.expose_secret()),
    }
}

pub async fn put(
    base: &str,
    token: &str,
    id: &str,
    n: usize,
    k: usize,
    part: &[u8],
) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .put(format!("{base}/api/v1/messages/{id}/payloads/{n}/parts/{k}"))
        .bearer_auth(token)
        .header("content-digest", digest(part))
        .body(part.to_vec())
        .send()
        .await
}

pub async fn usage(base: &str, token: &str) -> (u64, u64) {
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        me["user"]["used_bytes"].as_u64().unwrap(),
        me["user"]["used_messages"].as_u64().unwrap(),
    )
}
