//! Key releases per second and their latency under 200 concurrent recipients: one replica alone,
//! one replica behind nginx, and two replicas behind nginx (round-robin), in the same run, on one
//! PostgreSQL database. Not a test: it prints a table (docs/PERFORMANCE.md, "Key releases across
//! replicas").
//!
//! Every recipient has their own message and link, asks for an SMS code (development outbox),
//! verifies it, and then, all at once, each posts `release` `ROUNDS` times in a row; only the
//! release calls are timed. The same sessions are used against every topology (sessions live in
//! the database, so any replica honours them).
//!
//! ```text
//! cargo bench -p sealpost-server --bench release_ha
//! ```
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (as the tests: `SEALPOST_TEST_POSTGRES_URL` or db `test`)
//! and nginx (`nginx` on PATH or in /usr/sbin). `SEALPOST_BENCH_RECIPIENTS` and
//! `SEALPOST_BENCH_ROUNDS` change the load (defaults 200 and 10). Blobs go to a local directory
//! both replicas share: a release never reads a blob.

#[path = "../tests/support/harness.rs"]
#[allow(unused_imports)]
mod harness;
#[path = "../tests/support/nginx.rs"]
mod nginx;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use harness::{Actor, To, build, create_pg_database, digest, drop_pg_database, seal_body};
use nginx::{Balancing, Nginx, find_program, free_port};
use sealpost_crypto::b64;
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server_command(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealpost-server"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd
}

fn admin(env: &[(String, String)], args: &[&str]) -> String {
    let out = server_command(env).arg("admin").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts a replica; its base URL once it listens.
fn replica(env: &[(String, String)]) -> (Proc, String) {
    let mut child = server_command(env)
        .arg("serve")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the replica exited before listening").unwrap();
        if let Some(addr) = line.strip_prefix("sealpost-server: listening on ") {
            break addr.trim().to_owned();
        }
        eprintln!("[replica] {line}");
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("[replica] {line}");
        }
    });
    (Proc(child), format!("http://{addr}"))
}

async fn ok(req: reqwest::RequestBuilder, want: u16) -> Value {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, want, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Sends one message to one guest at `phone`; its link id.
async fn send_one(c: &reqwest::Client, base: &str, sender: &Actor, phone: &str) -> String {
    let key = sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(getrandom::SysRng));
    let built = build(
        sender,
        &[To::Guest(key.public(), phone)],
        &[b"letter"],
        sealpost_server::clock::SystemClock.now_ms_for_tests(),
        7,
    );
    let id = built.id();
    let auth = sender.auth();
    ok(
        c.post(format!("{base}/api/v1/messages"))
            .header("authorization", &auth)
            .json(&built.create_body),
        201,
    )
    .await;
    ok(
        c.put(format!("{base}/api/v1/messages/{id}/header"))
            .header("authorization", &auth)
            .body(built.sealed.header.clone()),
        200,
    )
    .await;
    for (n, payload) in built.sealed.payloads.iter().enumerate() {
        ok(
            c.put(format!("{base}/api/v1/messages/{id}/payloads/{n}/parts/0"))
                .header("authorization", &auth)
                .header("content-digest", digest(payload))
                .body(payload.clone()),
            200,
        )
        .await;
        ok(
            c.post(format!("{base}/api/v1/messages/{id}/payloads/{n}/complete"))
                .header("authorization", &auth),
            200,
        )
        .await;
    }
    let sealed = ok(
        c.post(format!("{base}/api/v1/messages/{id}/seal"))
            .header("authorization", &auth)
            .json(&seal_body(&built)),
        200,
    )
    .await;
    sealed["recipients"][0]["access_id"].as_str().unwrap().to_owned()
}

struct Row {
    name: &'static str,
    releases: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: usize,
}

impl Row {
    fn rate(&self) -> f64 {
        self.releases as f64 / self.secs
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Every recipient at once, each releasing `rounds` times in a row through `base`.
async fn measure(name: &'static str, base: &str, links: &[(String, String)], rounds: usize) -> Row {
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().unwrap();
    // Warm-up: one release each (connections, caches), untimed.
    run(&client, base, links, 1).await;
    let start = Instant::now();
    let (mut latencies, errors) = run(&client, base, links, rounds).await;
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Row {
        name,
        releases: latencies.len(),
        secs,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        errors,
    }
}

async fn run(client: &reqwest::Client, base: &str, links: &[(String, String)], rounds: usize) -> (Vec<f64>, usize) {
    let tasks: Vec<_> = links
        .iter()
        .map(|(access_id, session)| {
            let client = client.clone();
            let url = format!("{base}/api/v1/access/{access_id}/release");
            let session = session.clone();
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(rounds);
                let mut errors = 0;
                for _ in 0..rounds {
                    let t = Instant::now();
                    let r = client.post(&url).bearer_auth(&session).json(&json!({})).send().await;
                    let good = match r {
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if good {
                        out.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        errors += 1;
                    }
                }
                (out, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    (all, errors)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip the long run then.
    if !std::env::args().skip(1).any(|a| a == "--bench") {
        println!("release_ha: not run outside `cargo bench`");
        return;
    }
    let recipients = env_usize("SEALPOST_BENCH_RECIPIENTS", 200);
    let rounds = env_usize("SEALPOST_BENCH_ROUNDS", 10);
    let Some(nginx_program) = find_program("nginx") else {
        eprintln!("release_ha: nginx not found (apt-get install nginx); nothing measured");
        return;
    };
    sqlx::any::install_default_drivers();
    let (db_name, database_url) = create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut kek = [0u8; 32];
    getrandom::fill(&mut kek).unwrap();
    let env: Vec<(String, String)> = [
        ("SEALPOST_STORAGE_DATABASE_URL", database_url.clone()),
        ("SEALPOST_STORAGE_DATA_DIR", data.display().to_string()),
        ("SEALPOST_KEYS_SERVER_KEK", b64::encode(&kek)),
        ("SEALPOST_SERVER_LISTEN", "127.0.0.1:0".into()),
        ("SEALPOST_SERVER_TRUSTED_PROXIES", "127.0.0.1/32".into()),
        ("SEALPOST_METRICS_LISTEN", String::new()),
        ("SEALPOST_ACCESS_SMS_PER_ORG_PER_DAY", "1000000".into()),
        ("SEALPOST_LIMITS_IP_REQUESTS_PER_MINUTE", "100000000".into()),
        ("SEALPOST_LIMITS_TOKEN_REQUESTS_PER_MINUTE", "100000000".into()),
        ("SEALPOST_LOG_LEVEL", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let (_a, a) = replica(&env);
    let (_b, b) = replica(&env);
    let host = |base: &str| base.trim_start_matches("http://").to_owned();
    let start_nginx = |name: &str, upstreams: &[String]| {
        Nginx::start(
            &nginx_program,
            &dir.path().join(name),
            free_port(),
            upstreams,
            Balancing::Throughput,
        )
    };
    let mut n1 = start_nginx("nginx-one", &[host(&a)]);
    let mut n2 = start_nginx("nginx-two", &[host(&a), host(&b)]);
    n1.wait_ready().await;
    n2.wait_ready().await;
    let (nginx_one, nginx_two) = (n1.base.clone(), n2.base.clone());

    admin(&env, &["org", "create", "council"]);
    admin(
        &env,
        &[
            "user",
            "create",
            "--org",
            "council",
            "--address",
            "alice@council.example",
            "--role",
            "sender",
        ],
    );
    let token = admin(
        &env,
        &[
            "token",
            "create",
            "--user",
            "alice@council.example",
            "--scope",
            "send,read,keys",
        ],
    )
    .trim()
    .to_owned();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let alice = Actor {
        address: "alice@council.example".into(),
        org_id: String::new(),
        user_id: String::new(),
        token,
        signing_seed: sealpost_crypto::secrets::SymmetricKey::from_bytes(seed),
        encryption: sealpost_crypto::recipient::RecipientSecretKey::generate(&mut rand_core::UnwrapErr(
            getrandom::SysRng,
        )),
    };
    let c = reqwest::Client::new();
    ok(
        c.put(format!("{a}/api/v1/me/keys"))
            .header("authorization", alice.auth())
            .json(&json!({
                "x25519_pk": b64::encode(&alice.public().0),
                "ed25519_pk": b64::encode(&sealpost_crypto::seal::sender_public(&alice.signing_seed)),
            })),
        200,
    )
    .await;

    eprintln!("release_ha: sending {recipients} messages, one guest each …");
    let alice = Arc::new(alice);
    let phones: Vec<String> = (0..recipients).map(|i| format!("+4477009{i:05}")).collect();
    let mut links = Vec::new();
    for chunk in phones.chunks(8) {
        let sends = chunk.iter().map(|p| {
            let (c, a, alice) = (c.clone(), a.clone(), alice.clone());
            let p = p.clone();
            async move { (send_one(&c, &a, &alice, &p).await, p) }
        });
        links.extend(futures::future::join_all(sends).await);
    }
    eprintln!("release_ha: codes and sessions …");
    for (access_id, _) in &links {
        ok(
            c.post(format!("{a}/api/v1/access/{access_id}/code")).json(&json!({})),
            202,
        )
        .await;
    }
    let outbox = sealpost_server::sms::read_outbox(data.join("sms-outbox.jsonl")).unwrap();
    let mut sessions = Vec::new();
    for (access_id, phone) in &links {
        let text = &outbox.iter().rev().find(|e| &e.to == phone).expect("an SMS").text;
        let code = text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap();
        let v = ok(
            c.post(format!("{a}/api/v1/access/{access_id}/verify"))
                .json(&json!({ "code": code })),
            200,
        )
        .await;
        sessions.push((access_id.clone(), v["session"].as_str().unwrap().to_owned()));
    }

    eprintln!("release_ha: {recipients} recipients × {rounds} releases per topology …");
    let mut rows = Vec::new();
    // Interleaved, twice, so that a drift (tree size, cache) does not favour one topology.
    for _ in 0..2 {
        rows.push(measure("one replica, direct", &a, &sessions, rounds).await);
        rows.push(measure("one replica behind nginx", &nginx_one, &sessions, rounds).await);
        rows.push(measure("two replicas behind nginx", &nginx_two, &sessions, rounds).await);
    }

    println!();
    println!(
        "{recipients} concurrent recipients, {rounds} releases each per run; PostgreSQL; {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<28} {:>9} {:>8} {:>12} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "topology", "releases", "secs", "releases/s", "p50 ms", "p99 ms", "max ms", "errors", "vs direct"
    );
    for (i, r) in rows.iter().enumerate() {
        // Against the direct single replica of the same pass.
        let base_rate = rows[i - i % 3].rate();
        println!(
            "{:<28} {:>9} {:>8.2} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>7} {:>8.2}×",
            r.name,
            r.releases,
            r.secs,
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.errors,
            r.rate() / base_rate
        );
    }
    drop_pg_database(&db_name).await;
}
