//! The verifiable access log (`domain::transparency`): appends per second, and proof sizes and
//! times at one million entries, against references measured in the same run.
//!
//! ```text
//! cargo bench -p sealpost-server --bench access_log                               # 1M entries
//! SEALPOST_BENCH_LOG_ENTRIES=20000 cargo bench -p sealpost-server --bench access_log   # quick check
//! ```
//!
//! Options (environment, or flags after `--`):
//!
//! - `SEALPOST_BENCH_LOG_ENTRIES` / `--entries`: the size the log is filled to for the proofs
//!   (default 1 000 000);
//! - `SEALPOST_BENCH_LOG_APPENDS` / `--appends`: events per append case (default entries / 200,
//!   between 100 and 5 000);
//! - `SEALPOST_BENCH_LOG_BATCH` / `--batch`: pending events per batched integration, also the
//!   chunk of the fill (default entries / 10, between 1 000 and 100 000);
//! - `SEALPOST_BENCH_LOG_PROOFS` / `--proofs`: random indexes and sizes per proof operation
//!   (default 1 000);
//! - `SEALPOST_BENCH_REPS` / `--reps`: runs of the append cases (default 3);
//! - `SEALPOST_BENCH_POSTGRES=0` / `--no-postgres`: skip PostgreSQL even when it is reachable;
//! - `SEALPOST_BENCH_LOG_PG_ENTRIES` / `--pg-entries`: also fill a fresh PostgreSQL log to this
//!   size and measure its proofs (default 0: SQLite only);
//! - `SEALPOST_BENCH_DIR` / `--dir`: where the SQLite databases go (default the system temp dir).
//!
//! PostgreSQL is used when `SEALPOST_TEST_POSTGRES_URL` (or `postgres://$PGUSER|$USER@127.0.0.1:5432/test`,
//! as in the server's test harness) answers: the bench creates a scratch database there and drops
//! it at the end. Everything runs in-process on `sealpost_server::app::services`, with the
//! server's own durability settings (SQLite WAL with `synchronous=FULL`; PostgreSQL
//! `synchronous_commit` on). The cases:
//!
//! - **Appends, one event per write transaction**, on a fresh database per backend, `R` runs of
//!   `APPENDS` events per case. The cases take turns in blocks of 500 events (the order rotating),
//!   so that all three see the same disk latency:
//!   - reference: the same row inserted into a plain table (`bench_plain`, the columns of
//!     `log_pending`, no log) in its own `begin_write` transaction;
//!   - `db::ops::record` in its own transaction, then `transparency::integrate` of the block (one
//!     sequencer transaction of 500), timed separately and combined;
//!   - `ops::record` and `integrate` after every event, as a share release does.
//! - **Batched**: the same rows in transactions of 10 000 (plain table, and `ops::record`), then
//!   one `integrate` of all of them.
//! - **At `ENTRIES` entries** (a fresh SQLite database): the fill time; proof sizes; the server's
//!   time per inclusion proof, consistency proof, checkpoint and release proof (against a
//!   primary-key `SELECT` of one entry); the client's time per `merkle::verify_inclusion`,
//!   `verify_consistency` and `tlog::verify_release` (against one SHA-256 of a leaf); a full
//!   `transparency::audit`; the database size; and the append cases again, once, on that log.
//!
//! On PostgreSQL the sequencer's deletes leave dead rows in `log_pending`; the bench runs
//! `VACUUM (ANALYZE) log_pending` (untimed) before each run's cases and between the chunks of a
//! fill, as autovacuum would between bursts, and reports what a checkpoint costs before the last
//! vacuum.
//!
//! The events imitate the server's: 256 messages in flight, six events each (created, sealed,
//! notification sent, code sent, share released, ciphertext downloaded), eight organisations,
//! a client address on request events, so every entry links to the previous one of its message
//! and of its organisation. Every proof produced is verified; a failure ends the bench.
//! Results and their discussion: `docs/PERFORMANCE.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::b64;
use sealpost_crypto::merkle::{self, Hash};
use sealpost_crypto::tlog::{self, LogEntry};
use sealpost_server::clock::SystemClock;
use sealpost_server::config::{Config, Secret};
use sealpost_server::db::{Backend, Tx, ops};
use sealpost_server::domain::{Services, transparency};
use sha2::{Digest, Sha256};
use sqlx::Row;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

/// Events in flight at once (messages whose events interleave).
const IN_FLIGHT: u64 = 256;
/// Events per message.
const STEPS: u64 = 6;
/// Organisations.
const ORGS: u64 = 8;
/// Events per turn of each one-per-transaction append case (the sequencer's batch, so the
/// integration after a turn is one sequencer transaction).
const APPEND_BLOCK: u64 = 500;
/// Events per transaction in the batched cases and the fill.
const BULK_TX: usize = 10_000;
/// Passes over the sample for the client-side timings (each pass times `proofs` calls).
const CLIENT_PASSES: usize = 30;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: skip the long run then.
    if !args.iter().any(|a| a == "--bench") {
        println!("access_log: not run outside `cargo bench`");
        return ExitCode::SUCCESS;
    }
    // The domain logs the cause of an `Unavailable` error; show errors only.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .init();
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
            eprintln!("access_log: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Options {
    entries: u64,
    appends: u64,
    batch: u64,
    proofs: usize,
    reps: usize,
    postgres: bool,
    pg_entries: u64,
    dir: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        fn env<T: std::str::FromStr>(name: &str) -> Result<Option<T>>
        where
            T::Err: std::error::Error + Send + Sync + 'static,
        {
            Ok(std::env::var(name).ok().map(|v| v.trim().parse()).transpose()?)
        }
        let mut entries: u64 = env("SEALPOST_BENCH_LOG_ENTRIES")?.unwrap_or(1_000_000);
        let mut appends: Option<u64> = env("SEALPOST_BENCH_LOG_APPENDS")?;
        let mut batch: Option<u64> = env("SEALPOST_BENCH_LOG_BATCH")?;
        let mut proofs: usize = env("SEALPOST_BENCH_LOG_PROOFS")?.unwrap_or(1_000);
        let mut reps: usize = env("SEALPOST_BENCH_REPS")?.unwrap_or(3);
        let mut postgres = std::env::var("SEALPOST_BENCH_POSTGRES").map_or(true, |v| v.trim() != "0");
        let mut pg_entries: u64 = env("SEALPOST_BENCH_LOG_PG_ENTRIES")?.unwrap_or(0);
        let mut dir = std::env::var("SEALPOST_BENCH_DIR").ok().map(PathBuf::from);
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--entries" => entries = value()?.parse()?,
                "--appends" => appends = Some(value()?.parse()?),
                "--batch" => batch = Some(value()?.parse()?),
                "--proofs" => proofs = value()?.parse()?,
                "--reps" => reps = value()?.parse()?,
                "--no-postgres" => postgres = false,
                "--pg-entries" => pg_entries = value()?.parse()?,
                "--dir" => dir = Some(PathBuf::from(value()?)),
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        let appends = appends.unwrap_or((entries / 200).clamp(100, 5_000));
        let batch = batch.unwrap_or((entries / 10).clamp(1_000, 100_000));
        if entries < 1_000 || appends == 0 || batch == 0 || proofs == 0 || reps == 0 {
            return Err(
                "--entries must be at least 1000, and --appends, --batch, --proofs and --reps at least 1".into(),
            );
        }
        Ok(Self {
            entries,
            appends,
            batch,
            proofs,
            reps,
            postgres,
            pg_entries,
            dir,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers: random numbers, statistics, the machine.

/// splitmix64: a fixed, reproducible sequence of indexes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
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

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// `12,345 (12,000–12,900)` for rates.
fn rate_cell(rates: &[f64]) -> String {
    let (lo, hi) = min_max(rates);
    format!("{} ({}–{})", thousands(median(rates)), thousands(lo), thousands(hi))
}

/// A rate with thousands separators: `12,345`.
fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn us(seconds: f64) -> String {
    let v = seconds * 1e6;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Events like the server's.

/// One event, owned.
#[derive(Debug, Clone)]
struct Ev {
    org: String,
    actor: String,
    kind: &'static str,
    message: String,
    rid: Option<String>,
    detail: Option<String>,
    source: Option<String>,
}

/// A 22-character id (as `ids::new_id` makes), derived from a tag and a number.
fn id(tag: &str, n: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    hasher.update(n.to_le_bytes());
    b64::encode_url(&hasher.finalize()[..16])
}

/// The events of a database, numbered from 0: message `m` gets events `STEPS` apart in
/// `IN_FLIGHT` interleaved streams.
#[derive(Debug, Default)]
struct Events {
    next: u64,
}

impl Events {
    fn event(g: u64) -> Ev {
        let slot = g % IN_FLIGHT;
        let round = g / IN_FLIGHT;
        let msg = (round / STEPS) * IN_FLIGHT + slot;
        let step = round % STEPS;
        let org_n = msg % ORGS;
        let org = id("org", org_n);
        let user = format!("user:{}", id("user", org_n * 16 + (msg / ORGS) % 16));
        let rid = id("rid", msg);
        let recipient = format!("recipient:{rid}");
        let user_ip = Some(format!("198.51.100.{}", msg % 250 + 1));
        let recipient_ip = Some(format!("203.0.113.{}", (msg * 7) % 250 + 1));
        let message = id("msg", msg);
        let (kind, actor, rid, detail, source) = match step {
            0 => (
                tlog::kinds::CREATED,
                user,
                None,
                Some(format!(
                    "{{\"bytes\":{},\"payloads\":2,\"recipients\":1}}",
                    1_048_576 + msg % 65_536
                )),
                user_ip,
            ),
            1 => (tlog::kinds::SEALED, user, None, None, user_ip),
            2 => (
                "notification.sent",
                "system".to_owned(),
                Some(rid),
                Some("{\"channel\":\"email\"}".to_owned()),
                None,
            ),
            3 => (
                "code.sent",
                recipient,
                Some(rid),
                Some(format!("{{\"to\":\"+41*******{:02}\"}}", msg % 100)),
                recipient_ip,
            ),
            4 => (
                tlog::kinds::RELEASED,
                recipient,
                Some(rid),
                Some(format!(
                    "{{\"access_id\":\"{}\",\"method\":\"sms\"}}",
                    id("access", msg)
                )),
                recipient_ip,
            ),
            _ => (
                "ciphertext.downloaded",
                recipient,
                Some(rid),
                Some("{\"payload\":1}".to_owned()),
                recipient_ip,
            ),
        };
        Ev {
            org,
            actor,
            kind,
            message,
            rid,
            detail,
            source,
        }
    }

    fn take(&mut self, n: u64) -> Vec<Ev> {
        let out = (self.next..self.next + n).map(Self::event).collect();
        self.next += n;
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Databases.

fn config(dir: &Path, database_url: &str) -> Result<Config> {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse()?;
    config.server.public_url = "http://127.0.0.1:0".into();
    config.storage.data_dir = dir.to_path_buf();
    config.storage.database_url = Some(Secret::new(database_url.to_owned()));
    config.metrics.listen = None;
    config.transparency.origin = Some("bench.example/sealpost-log".into());
    Ok(config)
}

async fn open(dir: &Path, database_url: &str) -> Result<Services> {
    std::fs::create_dir_all(dir)?;
    let services = sealpost_server::app::services(&config(dir, database_url)?, Arc::new(SystemClock)).await?;
    let create = match services.db.backend() {
        Backend::Sqlite => {
            "CREATE TABLE bench_plain (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, org_id TEXT, \
             actor TEXT NOT NULL, source TEXT, kind TEXT NOT NULL, message_id TEXT, rid TEXT, detail TEXT)"
        }
        Backend::Postgres => {
            "CREATE TABLE bench_plain (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, \
             org_id TEXT, actor TEXT NOT NULL, source TEXT, kind TEXT NOT NULL, message_id TEXT, rid TEXT, detail TEXT)"
        }
    };
    sqlx::query(create).execute(services.db.pool()).await?;
    Ok(services)
}

fn pg_admin_url() -> String {
    std::env::var("SEALPOST_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "postgres".into());
        format!("postgres://{user}@127.0.0.1:5432/test")
    })
}

async fn pg_reachable() -> bool {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    tokio::time::timeout(std::time::Duration::from_secs(3), async {
        sqlx::AnyConnection::connect(&pg_admin_url()).await.is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A scratch PostgreSQL database: (name, URL).
async fn create_pg_database() -> Result<(String, String)> {
    use sqlx::{Connection, Executor};
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    let name = format!("sp_bench_{}", hex::encode(bytes));
    let admin = pg_admin_url();
    let mut conn = sqlx::AnyConnection::connect(&admin).await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let base = admin.rsplit_once('/').ok_or("the PostgreSQL URL has no database")?.0;
    Ok((name.clone(), format!("{base}/{name}")))
}

async fn drop_pg_database(name: &str) {
    use sqlx::{Connection, Executor};
    if let Ok(mut conn) = sqlx::AnyConnection::connect(&pg_admin_url()).await {
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
    }
}

/// `ops::record` of one event in the caller's transaction, with its client address as the
/// request's origin (as the HTTP middleware sets it).
async fn record(tx: &mut Tx, ev: &Ev, at: i64) -> Result<i64> {
    let event = ops::Event {
        org_id: Some(&ev.org),
        actor: &ev.actor,
        kind: ev.kind,
        message_id: Some(&ev.message),
        rid: ev.rid.as_deref(),
        detail: ev.detail.clone(),
    };
    Ok(sealpost_server::context::with_source(ev.source.clone(), ops::record(tx, at, &event)).await?)
}

/// The reference: the same row into a table without any log.
async fn plain_insert(tx: &mut Tx, ev: &Ev, at: i64) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO bench_plain (at, org_id, actor, source, kind, message_id, rid, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(at)
    .bind(&ev.org)
    .bind(&ev.actor)
    .bind(ev.source.as_deref())
    .bind(ev.kind)
    .bind(&ev.message)
    .bind(ev.rid.as_deref())
    .bind(ev.detail.as_deref())
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

async fn committed_size(svc: &Services) -> Result<u64> {
    Ok(sealpost_server::db::log::state(svc.db.pool()).await?.0)
}

/// PostgreSQL: `VACUUM (ANALYZE) log_pending`. The sequencer deletes every row it takes; until a
/// vacuum, the dead rows stay in the table and `has_pending`'s `SELECT … LIMIT 1` reads past them.
/// Autovacuum would do this in the background, but it is off on the test server. SQLite: nothing
/// (a delete frees its b-tree pages at once).
async fn vacuum_pending(svc: &Services) -> Result<()> {
    if svc.db.backend() == Backend::Postgres {
        sqlx::raw_sql("VACUUM (ANALYZE) log_pending")
            .execute(svc.db.pool())
            .await?;
    }
    Ok(())
}

async fn integrate(svc: &Services, expect: u64) -> Result<()> {
    let size = transparency::integrate(svc).await?;
    if size != expect {
        return Err(format!("the log has {size} entries after integrating, {expect} expected").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Part 1: appends.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppendCase {
    Plain,
    RecordThenIntegrate,
    RecordIntegrateEach,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BulkCase {
    Plain,
    RecordThenIntegrate,
}

#[derive(Debug, Default)]
struct Appends {
    plain: Vec<f64>,
    record: Vec<f64>,
    integrate: Vec<f64>,
    combined: Vec<f64>,
    each: Vec<f64>,
    bulk_plain: Vec<f64>,
    bulk_record: Vec<f64>,
    bulk_integrate: Vec<f64>,
    log_size_before: u64,
    log_size_after: u64,
}

async fn append_cases(
    svc: &Services,
    events: &mut Events,
    n: u64,
    batch: u64,
    reps: usize,
    label: &str,
) -> Result<Appends> {
    let mut out = Appends {
        log_size_before: committed_size(svc).await?,
        ..Appends::default()
    };
    let cases = [
        AppendCase::Plain,
        AppendCase::RecordThenIntegrate,
        AppendCase::RecordIntegrateEach,
    ];
    let bulk = [BulkCase::Plain, BulkCase::RecordThenIntegrate];
    for rep in 0..reps {
        vacuum_pending(svc).await?;
        // The three cases take turns in blocks, so that they share the machine's slow and fast
        // moments (a commit waits for the disk, whose latency drifts).
        let (mut plain, mut rec, mut int, mut each) = (0.0, 0.0, 0.0, 0.0);
        let mut done = 0;
        let mut block = 0;
        while done < n {
            let m = APPEND_BLOCK.min(n - done);
            for i in 0..cases.len() {
                let case = cases[(i + block + rep) % cases.len()];
                let evs = events.take(m);
                let size = committed_size(svc).await?;
                match case {
                    AppendCase::Plain => {
                        let t = Instant::now();
                        for ev in &evs {
                            let mut tx = svc.db.begin_write().await?;
                            plain_insert(&mut tx, ev, svc.clock.now_ms()).await?;
                            tx.commit().await?;
                        }
                        plain += t.elapsed().as_secs_f64();
                    }
                    AppendCase::RecordThenIntegrate => {
                        let t = Instant::now();
                        for ev in &evs {
                            let mut tx = svc.db.begin_write().await?;
                            record(&mut tx, ev, svc.clock.now_ms()).await?;
                            tx.commit().await?;
                        }
                        rec += t.elapsed().as_secs_f64();
                        let t = Instant::now();
                        integrate(svc, size + m).await?;
                        int += t.elapsed().as_secs_f64();
                    }
                    AppendCase::RecordIntegrateEach => {
                        let t = Instant::now();
                        for (k, ev) in evs.iter().enumerate() {
                            let mut tx = svc.db.begin_write().await?;
                            record(&mut tx, ev, svc.clock.now_ms()).await?;
                            tx.commit().await?;
                            integrate(svc, size + k as u64 + 1).await?;
                        }
                        each += t.elapsed().as_secs_f64();
                    }
                }
            }
            done += m;
            block += 1;
        }
        let rate = |secs: f64| n as f64 / secs;
        out.plain.push(rate(plain));
        out.record.push(rate(rec));
        out.integrate.push(rate(int));
        out.combined.push(rate(rec + int));
        out.each.push(rate(each));
        println!(
            "  {label} rep {}: plain insert {:.0} rows/s; ops::record {:.0} events/s, integrate {:.0} entries/s, \
             combined {:.0} events/s; record + integrate per event {:.0} events/s (load {})",
            rep + 1,
            rate(plain),
            rate(rec),
            rate(int),
            rate(rec + int),
            rate(each),
            load_average()
        );
        if batch == 0 {
            continue;
        }
        vacuum_pending(svc).await?;
        for i in 0..bulk.len() {
            let case = bulk[(i + rep) % bulk.len()];
            let evs = events.take(batch);
            let size = committed_size(svc).await?;
            match case {
                BulkCase::Plain => {
                    let t = Instant::now();
                    for chunk in evs.chunks(BULK_TX) {
                        let mut tx = svc.db.begin_write().await?;
                        let at = svc.clock.now_ms();
                        for ev in chunk {
                            plain_insert(&mut tx, ev, at).await?;
                        }
                        tx.commit().await?;
                    }
                    let secs = t.elapsed().as_secs_f64();
                    out.bulk_plain.push(batch as f64 / secs);
                    println!(
                        "  {label} rep {} plain insert, {BULK_TX} per tx: {:.0} rows/s",
                        rep + 1,
                        batch as f64 / secs
                    );
                }
                BulkCase::RecordThenIntegrate => {
                    let rec = record_bulk(svc, &evs).await?;
                    let t = Instant::now();
                    integrate(svc, size + batch).await?;
                    let int = t.elapsed().as_secs_f64();
                    out.bulk_record.push(batch as f64 / rec);
                    out.bulk_integrate.push(batch as f64 / int);
                    println!(
                        "  {label} rep {} ops::record, {BULK_TX} per tx: {:.0} events/s; integrate {batch}: {:.0} entries/s",
                        rep + 1,
                        batch as f64 / rec,
                        batch as f64 / int
                    );
                }
            }
        }
    }
    out.log_size_after = committed_size(svc).await?;
    Ok(out)
}

/// `ops::record` of `evs` in transactions of [`BULK_TX`]; returns the seconds taken.
async fn record_bulk(svc: &Services, evs: &[Ev]) -> Result<f64> {
    let t = Instant::now();
    for chunk in evs.chunks(BULK_TX) {
        let mut tx = svc.db.begin_write().await?;
        let at = svc.clock.now_ms();
        for ev in chunk {
            record(&mut tx, ev, at).await?;
        }
        tx.commit().await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn report_appends(out: &mut String, title: &str, a: &Appends, n: u64, batch: u64) {
    let per_run = |values: &[f64], reference: &[f64]| {
        if values.len() < 2 {
            return String::new();
        }
        let r: Vec<f64> = values.iter().zip(reference).map(|(x, y)| x / y).collect();
        let (lo, hi) = min_max(&r);
        format!("{lo:.2}–{hi:.2}")
    };
    let plain = median(&a.plain);
    let _ = writeln!(
        out,
        "\n### {title}: appends, {n} events per case, {} run{} (log size {} → {})\n",
        a.plain.len(),
        if a.plain.len() == 1 { "" } else { "s" },
        a.log_size_before,
        a.log_size_after
    );
    let _ = writeln!(
        out,
        "| case, one event per write transaction | per s, median (min–max) | × plain insert (medians) | × plain insert per run |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let rows: [(&str, &[f64]); 5] = [
        (
            "reference: plain `INSERT` into `bench_plain`, 1 per tx (rows/s)",
            &a.plain,
        ),
        ("`ops::record`, 1 per tx (events/s)", &a.record),
        ("`integrate` after each block of 500 (entries/s)", &a.integrate),
        (
            "**record, then integrate per block of 500: combined (events/s)**",
            &a.combined,
        ),
        ("**record + `integrate` after each event (events/s)**", &a.each),
    ];
    for (name, values) in rows {
        let ratio = median(values) / plain;
        let _ = writeln!(
            out,
            "| {name} | {} | {ratio:.2} | {} |",
            rate_cell(values),
            per_run(values, &a.plain)
        );
    }
    if a.bulk_plain.is_empty() {
        return;
    }
    let bulk = median(&a.bulk_plain);
    let _ = writeln!(
        out,
        "\n| batched: {batch} events, {BULK_TX} per transaction | per s, median (min–max) | × plain bulk insert (medians) | × plain bulk insert per run |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let rows: [(&str, &[f64]); 3] = [
        ("reference: plain `INSERT`, 10 000 per tx (rows/s)", &a.bulk_plain),
        ("`ops::record`, 10 000 per tx (events/s)", &a.bulk_record),
        ("**`integrate` of all pending (entries/s)**", &a.bulk_integrate),
    ];
    for (name, values) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.2} | {} |",
            rate_cell(values),
            median(values) / bulk,
            per_run(values, &a.bulk_plain)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Part 2: a large log.

#[derive(Debug, Default)]
struct Fill {
    /// Log size before and after.
    from: u64,
    to: u64,
    record_secs: f64,
    integrate_secs: f64,
    /// entries/s of each chunk's integration.
    chunk_rates: Vec<f64>,
}

async fn fill(svc: &Services, events: &mut Events, entries: u64, chunk: u64) -> Result<Fill> {
    let mut size = committed_size(svc).await?;
    let mut f = Fill {
        from: size,
        to: entries.max(size),
        ..Fill::default()
    };
    while size < entries {
        let n = chunk.min(entries - size);
        if size > f.from {
            // Between chunks, as autovacuum would between bursts (PostgreSQL only; untimed).
            vacuum_pending(svc).await?;
        }
        let evs = events.take(n);
        let rec = record_bulk(svc, &evs).await?;
        let t = Instant::now();
        integrate(svc, size + n).await?;
        let int = t.elapsed().as_secs_f64();
        size += n;
        f.record_secs += rec;
        f.integrate_secs += int;
        f.chunk_rates.push(n as f64 / int);
        println!(
            "  fill: {size} entries; this chunk: record {:.0} events/s, integrate {:.0} entries/s (load {})",
            n as f64 / rec,
            n as f64 / int,
            load_average()
        );
    }
    Ok(f)
}

/// Individually timed calls: mean, median, p99 (seconds).
#[derive(Debug, Clone, Copy)]
struct Lat {
    mean: f64,
    p50: f64,
    p99: f64,
    n: usize,
}

impl Lat {
    fn of(samples: &[f64]) -> Self {
        Self {
            mean: mean(samples),
            p50: median(samples),
            p99: percentile(samples, 0.99),
            n: samples.len(),
        }
    }
}

/// Client timings: the per-call time of each pass over the sample; median (min–max).
#[derive(Debug, Clone, Copy)]
struct PassLat {
    median: f64,
    min: f64,
    max: f64,
    calls: usize,
}

fn passes(calls: usize, mut pass: impl FnMut() -> Result<()>) -> Result<PassLat> {
    let mut per_call = Vec::with_capacity(CLIENT_PASSES);
    pass()?; // warm-up
    for _ in 0..CLIENT_PASSES {
        let t = Instant::now();
        pass()?;
        per_call.push(t.elapsed().as_secs_f64() / calls as f64);
    }
    let (min, max) = min_max(&per_call);
    Ok(PassLat {
        median: median(&per_call),
        min,
        max,
        calls,
    })
}

#[derive(Debug)]
struct SizeRow {
    what: String,
    hashes: String,
    bytes: String,
    wire: String,
    nodes: String,
}

#[derive(Debug, Default)]
struct Large {
    backend: &'static str,
    entries: u64,
    fill: Fill,
    avg_leaf: f64,
    sizes: Vec<SizeRow>,
    release_json: (f64, usize, usize),
    server: Vec<(String, Lat)>,
    client: Vec<(String, PassLat)>,
    audit_secs: f64,
    /// PostgreSQL: the size of the (empty) `log_pending` after the fill, and checkpoint times
    /// before the vacuum.
    pre_vacuum: Option<(i64, Lat)>,
    storage: Vec<(String, u64)>,
    storage_notes: Vec<String>,
}

/// A release proof as the recipient's client holds it, decoded.
#[derive(Debug)]
struct Release {
    index: u64,
    leaf: Vec<u8>,
    proof: Vec<Hash>,
    note: String,
    message: String,
    rid: String,
}

fn b64_json_len(hashes: &[Hash]) -> usize {
    // ["<44 chars>","…"]: 44 + 2 quotes per hash, commas between, brackets.
    if hashes.is_empty() {
        2
    } else {
        hashes.len() * 46 + hashes.len() - 1 + 2
    }
}

fn nodes_read(f: impl FnOnce(&mut dyn FnMut(tlog::NodeId) -> Hash)) -> usize {
    tlog::nodes_needed(f).len()
}

async fn large(
    svc: &Services,
    events: &mut Events,
    opts: &Options,
    entries: u64,
    db_file: Option<&Path>,
) -> Result<Large> {
    let backend = match svc.db.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let mut out = Large {
        backend,
        entries,
        ..Large::default()
    };
    let t = Instant::now();
    out.fill = fill(svc, events, entries, opts.batch).await?;
    println!(
        "  {backend}: filled to {entries} entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let pool = svc.db.pool();
    let size = committed_size(svc).await?;
    let mut rng = Rng(0x5EA1_9057);
    let p = opts.proofs;

    // PostgreSQL: the last chunk's drained pending rows are still dead in the table. Time
    // checkpoints (which run the sequencer's `has_pending` first) before and after the vacuum.
    if svc.db.backend() == Backend::Postgres {
        let dead: i64 = sqlx::query_scalar("SELECT pg_relation_size('log_pending')")
            .fetch_one(pool)
            .await?;
        let mut samples = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            transparency::checkpoint(svc).await?;
            samples.push(t.elapsed().as_secs_f64());
        }
        out.pre_vacuum = Some((dead, Lat::of(&samples)));
        vacuum_pending(svc).await?;
    }

    // The signed checkpoint the proofs are against.
    let signed = transparency::checkpoint(svc).await?;
    let root = signed.checkpoint.root;
    if signed.checkpoint.size != size {
        return Err("the checkpoint is not of the committed size".into());
    }
    let leaf_bytes: i64 = sqlx::query_scalar("SELECT CAST(SUM(LENGTH(leaf)) AS BIGINT) FROM log_entries")
        .fetch_one(pool)
        .await?;
    out.avg_leaf = leaf_bytes as f64 / size as f64;

    // Server reference: a primary-key SELECT of one entry's leaf (which the client checks below).
    let indexes: Vec<u64> = (0..p).map(|_| rng.range(0, size)).collect();
    let mut leaves: Vec<Vec<u8>> = Vec::with_capacity(p);
    let mut samples = Vec::with_capacity(p);
    for &i in &indexes {
        let t = Instant::now();
        let leaf: Vec<u8> = sqlx::query_scalar("SELECT leaf FROM log_entries WHERE idx = $1")
            .bind(i as i64)
            .fetch_one(pool)
            .await?;
        samples.push(t.elapsed().as_secs_f64());
        leaves.push(leaf);
    }
    out.server.push((
        "reference: primary-key `SELECT leaf … WHERE idx = $1`".into(),
        Lat::of(&samples),
    ));

    // Inclusion proofs at random indexes.
    let mut proofs = Vec::with_capacity(p);
    let mut samples = Vec::with_capacity(p);
    for &i in &indexes {
        let t = Instant::now();
        let proof = transparency::inclusion(svc, i, size).await?;
        samples.push(t.elapsed().as_secs_f64());
        proofs.push(proof);
    }
    out.server
        .push(("`transparency::inclusion(index, size)`".into(), Lat::of(&samples)));
    let leaf_hashes: Vec<Hash> = leaves.iter().map(|l| LogEntry::leaf_hash(l)).collect();
    for ((h, &i), proof) in leaf_hashes.iter().zip(&indexes).zip(&proofs) {
        if !merkle::verify_inclusion(h, i, size, proof, &root) {
            return Err(format!("the inclusion proof of {i} does not verify").into());
        }
    }

    // Consistency proofs from random earlier sizes, and those sizes' roots.
    let froms: Vec<u64> = (0..p).map(|_| rng.range(1, size)).collect();
    let mut cons = Vec::with_capacity(p);
    let mut roots = Vec::with_capacity(p);
    let (mut s_cons, mut s_root) = (Vec::with_capacity(p), Vec::with_capacity(p));
    for &from in &froms {
        let t = Instant::now();
        let proof = transparency::consistency(svc, from, size).await?;
        s_cons.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let r = transparency::root_at(svc, from).await?;
        s_root.push(t.elapsed().as_secs_f64());
        if !merkle::verify_consistency(from, size, &r, &root, &proof) {
            return Err(format!("the consistency proof {from} → {size} does not verify").into());
        }
        cons.push(proof);
        roots.push(r);
    }
    out.server
        .push(("`transparency::consistency(from, size)`".into(), Lat::of(&s_cons)));
    out.server
        .push(("`transparency::root_at(from)`".into(), Lat::of(&s_root)));

    // Checkpoints (integrate with nothing pending, read the state, sign).
    let mut samples = Vec::with_capacity(p.min(200));
    for _ in 0..p.min(200) {
        let t = Instant::now();
        let c = transparency::checkpoint(svc).await?;
        samples.push(t.elapsed().as_secs_f64());
        if c.checkpoint.size != size {
            return Err("the log grew during the proofs".into());
        }
    }
    out.server
        .push(("`transparency::checkpoint()` (signs)".into(), Lat::of(&samples)));

    // Release proofs, as a share release returns them: the next share.released entry at or after
    // a random index.
    let mut releases = Vec::new();
    let mut samples = Vec::new();
    for _ in 0..p.min(500) {
        let start = rng.range(0, size);
        let row = sqlx::query(
            "SELECT idx, pending_id, message_id, rid FROM log_entries WHERE idx >= $1 AND kind = $2 ORDER BY idx LIMIT 1",
        )
        .bind(start as i64)
        .bind(tlog::kinds::RELEASED)
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else { continue };
        let pending_id: i64 = row.try_get("pending_id")?;
        let message: String = row.try_get("message_id")?;
        let rid: String = row.try_get("rid")?;
        let t = Instant::now();
        let proof = transparency::release_proof(svc, pending_id).await?;
        samples.push(t.elapsed().as_secs_f64());
        releases.push((proof, message, rid));
    }
    if releases.is_empty() {
        return Err("no share.released entry found".into());
    }
    out.server
        .push(("`transparency::release_proof(pending_id)`".into(), Lat::of(&samples)));
    let json_lens: Vec<f64> = releases
        .iter()
        .map(|(r, _, _)| serde_json::to_string(r).map(|s| s.len() as f64))
        .collect::<Result<_, _>>()?;
    let (lo, hi) = min_max(&json_lens);
    out.release_json = (mean(&json_lens), lo as usize, hi as usize);

    // Proof sizes.
    let mut fixed = vec![0, 1, size / 2, size - 1];
    fixed.dedup();
    for i in fixed {
        let proof = transparency::inclusion(svc, i, size).await?;
        out.sizes.push(SizeRow {
            what: format!("inclusion of index {i}"),
            hashes: proof.len().to_string(),
            bytes: (proof.len() * 32).to_string(),
            wire: b64_json_len(&proof).to_string(),
            nodes: nodes_read(|g| {
                let _ = tlog::inclusion_proof_with(i, size, g);
            })
            .to_string(),
        });
    }
    let lens: Vec<f64> = proofs.iter().map(|p| p.len() as f64).collect();
    let nodes: Vec<f64> = indexes
        .iter()
        .map(|&i| {
            nodes_read(|g| {
                let _ = tlog::inclusion_proof_with(i, size, g);
            }) as f64
        })
        .collect();
    let range = |v: &[f64], scale: f64| {
        let (lo, hi) = min_max(v);
        format!("{:.0}–{:.0} (mean {:.1})", lo * scale, hi * scale, mean(v) * scale)
    };
    out.sizes.push(SizeRow {
        what: format!("inclusion, {p} random indexes"),
        hashes: range(&lens, 1.0),
        bytes: range(&lens, 32.0),
        wire: range(&proofs.iter().map(|p| b64_json_len(p) as f64).collect::<Vec<_>>(), 1.0),
        nodes: range(&nodes, 1.0),
    });
    for from in [1, size / 2] {
        let proof = transparency::consistency(svc, from, size).await?;
        out.sizes.push(SizeRow {
            what: format!("consistency {from} → {size}"),
            hashes: proof.len().to_string(),
            bytes: (proof.len() * 32).to_string(),
            wire: b64_json_len(&proof).to_string(),
            nodes: nodes_read(|g| {
                let _ = tlog::consistency_proof_with(from, size, g);
            })
            .to_string(),
        });
    }
    let clens: Vec<f64> = cons.iter().map(|p| p.len() as f64).collect();
    let cnodes: Vec<f64> = froms
        .iter()
        .map(|&from| {
            nodes_read(|g| {
                let _ = tlog::consistency_proof_with(from, size, g);
            }) as f64
        })
        .collect();
    out.sizes.push(SizeRow {
        what: format!("consistency, {p} random sizes → {size}"),
        hashes: range(&clens, 1.0),
        bytes: range(&clens, 32.0),
        wire: range(&cons.iter().map(|p| b64_json_len(p) as f64).collect::<Vec<_>>(), 1.0),
        nodes: range(&cnodes, 1.0),
    });

    // Client side: timed in passes over the samples.
    let leaf_pass = passes(p, || {
        for l in &leaves {
            std::hint::black_box(LogEntry::leaf_hash(std::hint::black_box(l)));
        }
        Ok(())
    })?;
    out.client.push((
        format!(
            "reference: SHA-256 leaf hash of one entry (mean {:.0} bytes)",
            leaves.iter().map(Vec::len).sum::<usize>() as f64 / leaves.len() as f64
        ),
        leaf_pass,
    ));
    let a = [7u8; 32];
    out.client.push((
        "one node hash (`merkle::node_hash`, 65 bytes)".into(),
        passes(p, || {
            for _ in 0..p {
                std::hint::black_box(merkle::node_hash(std::hint::black_box(&a), std::hint::black_box(&a)));
            }
            Ok(())
        })?,
    ));
    out.client.push((
        "`merkle::verify_inclusion` (leaf hash given)".into(),
        passes(p, || {
            for ((h, &i), proof) in leaf_hashes.iter().zip(&indexes).zip(&proofs) {
                if !merkle::verify_inclusion(std::hint::black_box(h), i, size, proof, &root) {
                    return Err("inclusion".into());
                }
            }
            Ok(())
        })?,
    ));
    out.client.push((
        "leaf hash + `merkle::verify_inclusion`".into(),
        passes(p, || {
            for ((l, &i), proof) in leaves.iter().zip(&indexes).zip(&proofs) {
                let h = LogEntry::leaf_hash(std::hint::black_box(l));
                if !merkle::verify_inclusion(&h, i, size, proof, &root) {
                    return Err("inclusion".into());
                }
            }
            Ok(())
        })?,
    ));
    out.client.push((
        "`merkle::verify_consistency`".into(),
        passes(p, || {
            for ((&from, r), proof) in froms.iter().zip(&roots).zip(&cons) {
                if !merkle::verify_consistency(from, size, std::hint::black_box(r), &root, proof) {
                    return Err("consistency".into());
                }
            }
            Ok(())
        })?,
    ));
    let key = svc.log.signer.verifier().clone();
    let decoded: Vec<Release> = releases
        .iter()
        .map(|(r, message, rid)| -> Result<_> {
            let proof = r
                .proof
                .iter()
                .map(|h| -> Result<Hash> { Ok(STANDARD.decode(h)?.as_slice().try_into()?) })
                .collect::<Result<Vec<_>>>()?;
            Ok(Release {
                index: r.index,
                leaf: STANDARD.decode(&r.leaf)?,
                proof,
                note: r.checkpoint.clone(),
                message: message.clone(),
                rid: rid.clone(),
            })
        })
        .collect::<Result<_>>()?;
    out.client.push((
        "`tlog::verify_release` (note signature, inclusion, leaf parse)".into(),
        passes(decoded.len(), || {
            for r in &decoded {
                tlog::verify_release(&key, &r.note, r.index, &r.leaf, &r.proof, &r.message, &r.rid)?;
            }
            Ok(())
        })?,
    ));

    // A full audit: every leaf parsed and hashed, the root recomputed and compared.
    let t = Instant::now();
    let checked = transparency::audit(svc, size, Some(root)).await?;
    out.audit_secs = t.elapsed().as_secs_f64();
    if checked != size {
        return Err("the audit checked a different number of entries".into());
    }

    // Storage.
    match svc.db.backend() {
        Backend::Sqlite => {
            let path = db_file.ok_or("no SQLite file")?;
            let wal = PathBuf::from(format!("{}-wal", path.display()));
            let shm = PathBuf::from(format!("{}-shm", path.display()));
            let (db_len, wal_len, shm_len) = (file_len(path), file_len(&wal), file_len(&shm));
            out.storage.push(("database file".into(), db_len));
            out.storage.push(("WAL file".into(), wal_len));
            out.storage.push(("**database + WAL**".into(), db_len + wal_len));
            out.storage_notes.push(format!("-shm file: {shm_len} bytes"));
            let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(pool).await?;
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(pool).await?;
            let stat =
                sqlx::query("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY SUM(pgsize) DESC")
                    .fetch_all(pool)
                    .await;
            match stat {
                Ok(rows) => {
                    for row in &rows {
                        let name: String = row.try_get("name")?;
                        let bytes: i64 = row.try_get("bytes")?;
                        // The log's tables and indexes; the server's other (empty) tables are a
                        // page or two each.
                        if bytes >= 64 * 1024 {
                            out.storage.push((format!("of which `{name}` (dbstat)"), bytes as u64));
                        }
                    }
                }
                Err(e) => out.storage_notes.push(format!("dbstat unavailable: {e}")),
            }
            out.storage.push((
                "of which free pages (the drained `log_pending`)".into(),
                (free * page_size) as u64,
            ));
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
            out.storage.push((
                "database + WAL after `PRAGMA wal_checkpoint(TRUNCATE)`".into(),
                file_len(path) + file_len(&wal),
            ));
        }
        Backend::Postgres => {
            let total: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(pool)
                .await?;
            out.storage
                .push(("**database** (`pg_database_size`)".into(), total as u64));
            for table in ["log_entries", "log_nodes", "log_pending"] {
                let bytes: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT pg_total_relation_size('{table}')")))
                        .fetch_one(pool)
                        .await?;
                out.storage
                    .push((format!("of which `{table}` with indexes and TOAST"), bytes as u64));
            }
        }
    }
    Ok(out)
}

fn report_large(out: &mut String, l: &Large) {
    let n = l.entries as f64;
    let f = &l.fill;
    let filled = (f.to - f.from) as f64;
    let _ = writeln!(out, "\n### {}: a log of {} entries\n", l.backend, l.entries);
    let (lo, hi) = min_max(&f.chunk_rates);
    let _ = writeln!(
        out,
        "Fill from {} to {} entries: {:.1} s in all. `ops::record` in transactions of {BULK_TX}: {:.1} s ({} events/s); `integrate` in chunks: {:.1} s ({} entries/s; per chunk {}–{}, first {}, last {}).",
        f.from,
        f.to,
        f.record_secs + f.integrate_secs,
        f.record_secs,
        thousands(filled / f.record_secs),
        f.integrate_secs,
        thousands(filled / f.integrate_secs),
        thousands(lo),
        thousands(hi),
        thousands(f.chunk_rates.first().copied().unwrap_or(0.0)),
        thousands(f.chunk_rates.last().copied().unwrap_or(0.0)),
    );
    let _ = writeln!(out, "Mean leaf (entry text): {:.0} bytes.", l.avg_leaf);
    let _ = writeln!(
        out,
        "\n| proof at size {} | hashes | bytes (32 per hash) | bytes as a JSON array of base64 | stored nodes read |",
        l.entries
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for r in &l.sizes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.what, r.hashes, r.bytes, r.wire, r.nodes
        );
    }
    let (m, lo, hi) = l.release_json;
    let _ = writeln!(
        out,
        "\nA release proof as JSON (`ReleaseProof`: index, leaf, proof, signed checkpoint note): {m:.0} bytes mean ({lo}–{hi})."
    );
    let reference = l.server.first().map(|(_, lat)| lat.mean).unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "\n| server side, each call timed | calls | mean µs | median µs | p99 µs | × PK `SELECT` (means) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (name, lat) in &l.server {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {:.1} |",
            lat.n,
            us(lat.mean),
            us(lat.p50),
            us(lat.p99),
            lat.mean / reference
        );
    }
    if let Some((dead, lat)) = l.pre_vacuum {
        let _ = writeln!(
            out,
            "\nBefore `VACUUM log_pending`, with the dead rows of the last chunk ({:.1} MB of heap, no live row): `checkpoint()` {} µs mean, {} µs median over {} calls ({:.1}× the PK `SELECT`). The table above is after the vacuum.",
            dead as f64 / 1e6,
            us(lat.mean),
            us(lat.p50),
            lat.n,
            lat.mean / reference
        );
    }
    let reference = l.client.first().map(|(_, lat)| lat.median).unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "\n| client side, {CLIENT_PASSES} passes over the sample | calls per pass | µs per call, median of passes (min–max) | × leaf SHA-256 (medians) |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for (name, lat) in &l.client {
        let _ = writeln!(
            out,
            "| {name} | {} | {} ({}–{}) | {:.1} |",
            lat.calls,
            us(lat.median),
            us(lat.min),
            us(lat.max),
            lat.median / reference
        );
    }
    let leaf_sha = reference;
    let _ = writeln!(
        out,
        "\nFull `transparency::audit` of {} entries: {:.1} s ({} entries/s); {:.1}× the time of {} leaf SHA-256 hashes alone.",
        l.entries,
        l.audit_secs,
        thousands(n / l.audit_secs),
        l.audit_secs / (n * leaf_sha),
        l.entries
    );
    let _ = writeln!(
        out,
        "\n| storage at {} entries | bytes | MB | bytes per entry |",
        l.entries
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for (name, bytes) in &l.storage {
        let _ = writeln!(
            out,
            "| {name} | {bytes} | {:.1} | {:.0} |",
            *bytes as f64 / 1e6,
            *bytes as f64 / n
        );
    }
    for note in &l.storage_notes {
        let _ = writeln!(out, "\n{note}");
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

async fn run(options: Options) -> Result<()> {
    let parent = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let root = tempfile::Builder::new()
        .prefix("sealpost-access-log-")
        .tempdir_in(&parent)?;
    let result = run_in(&options, root.path()).await;
    root.close()?;
    result
}

async fn run_in(options: &Options, root: &Path) -> Result<()> {
    println!("access_log: {options:?} in {}", root.display());
    println!("load average at start: {}", load_average());
    let started = Instant::now();
    let mut report = String::new();

    // Part 1 on SQLite: a fresh database.
    let dir = root.join("appends-sqlite");
    let svc = open(&dir, &format!("sqlite://{}/sealpost.db", dir.display())).await?;
    let mut events = Events::default();
    let a = append_cases(
        &svc,
        &mut events,
        options.appends,
        options.batch,
        options.reps,
        "SQLite",
    )
    .await?;
    svc.db.close().await;
    report_appends(&mut report, "SQLite", &a, options.appends, options.batch);

    // Part 1 on PostgreSQL, when reachable.
    let pg = options.postgres && pg_reachable().await;
    if pg {
        let (name, url) = create_pg_database().await?;
        let result = async {
            let svc = open(&root.join("appends-postgres"), &url).await?;
            let mut events = Events::default();
            let a = append_cases(
                &svc,
                &mut events,
                options.appends,
                options.batch,
                options.reps,
                "PostgreSQL",
            )
            .await;
            svc.db.close().await;
            a
        }
        .await;
        drop_pg_database(&name).await;
        report_appends(&mut report, "PostgreSQL", &result?, options.appends, options.batch);
        let autovacuum: String = {
            use sqlx::Connection;
            let mut conn = sqlx::AnyConnection::connect(&pg_admin_url()).await?;
            sqlx::query_scalar("SHOW autovacuum").fetch_one(&mut conn).await?
        };
        let _ = writeln!(
            report,
            "\nPostgreSQL autovacuum: {autovacuum}. The bench runs `VACUUM (ANALYZE) log_pending` (untimed) before each run's cases and between the chunks of a fill."
        );
        if options.pg_entries > 0 {
            let (name, url) = create_pg_database().await?;
            let result = async {
                let svc = open(&root.join("large-postgres"), &url).await?;
                let mut events = Events::default();
                let l = large(&svc, &mut events, options, options.pg_entries, None).await;
                svc.db.close().await;
                l
            }
            .await;
            drop_pg_database(&name).await;
            report_large(&mut report, &result?);
        }
    } else {
        println!(
            "PostgreSQL not used (unreachable at {}, or SEALPOST_BENCH_POSTGRES=0)",
            pg_admin_url()
        );
        let _ = writeln!(report, "\nPostgreSQL: not run.");
    }

    // Part 2 on SQLite: a fresh database filled to `entries`.
    let dir = root.join("large-sqlite");
    let file = dir.join("sealpost.db");
    let svc = open(&dir, &format!("sqlite://{}", file.display())).await?;
    let mut events = Events::default();
    let l = large(&svc, &mut events, options, options.entries, Some(&file)).await?;
    report_large(&mut report, &l);
    // The append cases once more, on the large log.
    let a = append_cases(&svc, &mut events, options.appends, 0, 1, "SQLite at size").await?;
    svc.db.close().await;
    report_appends(
        &mut report,
        &format!("SQLite, on the log of {} entries", options.entries),
        &a,
        options.appends,
        0,
    );

    let _ = writeln!(
        report,
        "\nTotal {:.0} s. Load average at the end: {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    println!("{report}");
    Ok(())
}
