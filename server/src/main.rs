//! `sealpost-server`: serve, migrate, print the configuration, and administer organisations,
//! users and API tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sealpost_server::config::{Config, ConfigOverrides, LogFormat};
use sealpost_server::domain::{Role, Scope, accounts, transparency};
use sealpost_server::{app, telemetry};

/// The Sealpost server: stores ciphertext only and releases server shares after verification.
#[derive(Debug, Parser)]
#[command(name = "sealpost-server", version, about)]
struct Cli {
    /// TOML configuration file (defaults, then this file, then SEALPOST_* variables, then flags);
    /// also SEALPOST_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8080.
    #[arg(long, global = true)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory for the embedded defaults (SQLite file, blob directory, key file).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite:… or postgres://…
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Blob store URL: file:///dir or s3://bucket
    #[arg(long, global = true)]
    blob_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true)]
    log_format: Option<String>,
    /// Log level or filter, e.g. info or sealpost_server=debug,info.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// The URL clients and recipients use; links are built from it.
    #[arg(long, global = true)]
    public_url: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key the server terminates TLS.
    #[arg(long, global = true)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, global = true)]
    tls_key: Option<PathBuf>,
    /// Metrics listen address, e.g. 127.0.0.1:9464.
    #[arg(long, global = true, conflicts_with = "no_metrics")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// No metrics listener.
    #[arg(long, global = true)]
    no_metrics: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Probe the running server (GET /healthz, or /readyz with --ready) on server.listen, as a
    /// container health check: exit 0 when it answers 2xx, 1 otherwise.
    Healthcheck {
        /// Probe /readyz (database and blob store reachable, not shutting down) instead of /healthz.
        #[arg(long)]
        ready: bool,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Organisations, users and tokens.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the commented default configuration (or, with --effective, the one in force, secrets redacted).
    Print {
        /// Print the effective configuration instead of the defaults.
        #[arg(long)]
        effective: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The access log.
    #[command(subcommand)]
    Log(LogAdminCommand),
    /// The server key-encryption key (rotation).
    #[command(subcommand)]
    Kek(KekAdminCommand),
    /// The revocation fence (docs/operations.md, "Backups and restore").
    #[command(subcommand)]
    Fence(FenceAdminCommand),
}

#[derive(Debug, Subcommand)]
enum KekAdminCommand {
    /// Print the current key's id, the other keys held, and how many stored wraps are not yet
    /// under the current key.
    Status,
    /// Re-wrap every stored wrap (server shares, TOTP seeds, the log key) under the current key.
    /// Safe while replicas serve; stop it at any time and run it again. Exit 1 if some wrap
    /// opens with no key held.
    Rewrap {
        /// Rows read per batch.
        #[arg(long, default_value_t = 500)]
        batch: u32,
        /// Stop after this many rows (default: until done).
        #[arg(long)]
        limit: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum FenceAdminCommand {
    /// Re-apply every revocation, deletion and expiry change in the fence that the database
    /// does not reflect (every replica also does this at start-up, before it serves).
    Apply,
}

#[derive(Debug, Subcommand)]
enum LogAdminCommand {
    /// Recompute the tree from the stored entries and compare it with the stored nodes and,
    /// given one, with a checkpoint issued earlier (detects deleted, changed or reordered
    /// entries). Exit 1 when the log does not match.
    Audit {
        /// A checkpoint note saved earlier (e.g. from /.well-known/sealpost/checkpoint or a witness).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print the log's verifier key (as published at /.well-known/sealpost/log-key).
    Key,
    /// Log key rotation, step 1: create a second key that co-signs every checkpoint once the
    /// replicas restart. Prints its vkey, to publish out of band.
    AddKey,
    /// Log key rotation, step 2: make the second key the primary (the old one goes on
    /// co-signing). Restart the replicas afterwards.
    PromoteKey,
    /// Log key rotation, step 3: delete the second key; checkpoints are then signed by the
    /// primary alone. Restart the replicas afterwards.
    RetireKey,
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation.
    Create {
        /// Its unique name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user in an organisation.
    Create(UserCreate),
}

#[derive(Debug, Args)]
struct UserCreate {
    /// Organisation name.
    #[arg(long)]
    org: String,
    /// E-mail address.
    #[arg(long)]
    address: String,
    /// Roles: sender, admin, dpo (repeat or comma-separate).
    #[arg(long = "role", value_delimiter = ',', required = true)]
    roles: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue an API token for a user; the token is printed once.
    Create(TokenCreate),
    /// List a user's or an organisation's tokens.
    List {
        /// Organisation name.
        #[arg(long)]
        org: String,
    },
    /// Revoke a token by id.
    Revoke {
        /// Organisation name.
        #[arg(long)]
        org: String,
        /// Token id.
        id: String,
    },
}

#[derive(Debug, Args)]
struct TokenCreate {
    /// The user's address.
    #[arg(long)]
    user: String,
    /// A label.
    #[arg(long, default_value = "cli")]
    name: String,
    /// Scopes: send, read, keys, admin, incidents (repeat or comma-separate).
    #[arg(long = "scope", value_delimiter = ',', default_value = "send,read,keys")]
    scopes: Vec<String>,
    /// Days until it expires (default: never).
    #[arg(long)]
    expires_in_days: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sealpost-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sealpost-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let log_format = match cli.log_format.as_deref() {
        None => None,
        Some("text") => Some(LogFormat::Text),
        Some("json") => Some(LogFormat::Json),
        Some(other) => return Err(format!("--log-format must be text or json, not {other:?}")),
    };
    let overrides = ConfigOverrides {
        listen: cli.listen,
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone().map(sealpost_server::config::Secret::new),
        blob_url: cli.blob_url.clone(),
        log_format,
        log_level: cli.log_level.clone(),
        public_url: cli.public_url.clone(),
        tls_cert: cli.tls_cert.clone(),
        tls_key: cli.tls_key.clone(),
        metrics_listen: cli.metrics_listen,
        no_metrics: cli.no_metrics,
    };
    let env = sealpost_server::config::process_env().map_err(|e| e.to_string())?;
    let file = cli.config.clone().or_else(|| {
        env.iter()
            .find(|(k, _)| k == sealpost_server::config::CONFIG_FILE_ENV)
            .map(|(_, v)| PathBuf::from(v))
    });
    sealpost_server::config::load(file.as_deref(), env, &overrides).map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::Config(ConfigCommand::Print { effective: false }) = &cli.command {
        print!("{}", sealpost_server::config::default_toml());
        return Ok(());
    }
    let config = load_config(&cli)?;
    telemetry::init_logging(&config.log).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Config(ConfigCommand::Print { .. }) => {
            print!("{}", config.effective_toml());
            Ok(())
        }
        Command::Serve => {
            let services = app::services_with_system_clock(&config)
                .await
                .map_err(|e| e.to_string())?;
            app::serve(config, services, shutdown_signal(), |addr| {
                eprintln!("sealpost-server: listening on {addr}");
            })
            .await
            .map_err(|e| e.to_string())
        }
        Command::Healthcheck { ready, timeout_secs } => {
            sealpost_server::lifecycle::healthcheck(&config, ready, std::time::Duration::from_secs(timeout_secs.max(1)))
                .await
        }
        Command::Migrate => {
            app::services_with_system_clock(&config)
                .await
                .map_err(|e| e.to_string())?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin(admin) => {
            let svc = app::services_with_system_clock(&config)
                .await
                .map_err(|e| e.to_string())?;
            let result = run_admin(&svc, admin).await;
            svc.db.close().await;
            result
        }
    }
}

async fn run_admin(svc: &sealpost_server::domain::Services, command: AdminCommand) -> Result<(), String> {
    let err = |e: sealpost_server::domain::DomainError| e.to_string();
    let actor = "admin-cli";
    match command {
        AdminCommand::Org(OrgCommand::Create { name }) => {
            let org = accounts::create_org(svc, &name, actor).await.map_err(err)?;
            println!("{}", serde_json::to_string_pretty(&org).unwrap_or_default());
        }
        AdminCommand::User(UserCommand::Create(u)) => {
            let org = accounts::org_by_name(svc, &u.org)
                .await
                .map_err(|_| format!("no organisation named {:?}", u.org))?;
            let roles = u
                .roles
                .iter()
                .map(|r| Role::parse(r.trim()).ok_or_else(|| format!("unknown role {r:?}: use sender, admin or dpo")))
                .collect::<Result<Vec<_>, _>>()?;
            let user = accounts::create_user(svc, &org.id, &u.address, &roles, actor)
                .await
                .map_err(err)?;
            println!("{}", serde_json::to_string_pretty(&user).unwrap_or_default());
        }
        AdminCommand::Token(TokenCommand::Create(t)) => {
            let user = accounts::user_by_address(svc, &t.user)
                .await
                .map_err(|_| format!("no user {:?}", t.user))?;
            let scopes = t
                .scopes
                .iter()
                .map(|s| {
                    Scope::parse(s.trim())
                        .ok_or_else(|| format!("unknown scope {s:?}: use send, read, keys, admin or incidents"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (info, secret) = accounts::issue_token(svc, &user.id, &t.name, &scopes, t.expires_in_days, actor)
                .await
                .map_err(err)?;
            eprintln!(
                "token {} for {} (scopes: {}); it is shown only now:",
                info.id,
                info.user,
                info.scopes.join(" ")
            );
            println!("{}", secret.expose());
        }
        AdminCommand::Token(TokenCommand::List { org }) => {
            let org = accounts::org_by_name(svc, &org)
                .await
                .map_err(|_| format!("no organisation named {org:?}"))?;
            let tokens = sealpost_server::db::accounts::list_tokens(svc.db.pool(), &org.id, None)
                .await
                .map_err(|e| e.to_string())?;
            for t in tokens {
                let state = if t.revoked_at.is_some() { "revoked" } else { "active" };
                let last_used = t
                    .last_used_at
                    .map_or_else(|| "never used".to_owned(), sealpost_server::clock::to_rfc3339);
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.id, t.address, t.name, t.scopes, state, last_used
                );
            }
        }
        AdminCommand::Fence(FenceAdminCommand::Apply) => {
            let r = sealpost_server::domain::fence::apply(svc).await.map_err(err)?;
            println!(
                "revocation fence at {}: {} messages, {} changes re-applied",
                svc.fence.location(),
                r.messages,
                r.applied
            );
        }
        AdminCommand::Log(LogAdminCommand::Key) => println!("{}", svc.log.signer.vkey()),
        AdminCommand::Log(LogAdminCommand::AddKey) => {
            let vkey =
                transparency::add_second_key(&svc.db, svc.kek.as_ref(), svc.log.signer.origin(), svc.clock.now_ms())
                    .await?;
            println!("{vkey}");
        }
        AdminCommand::Log(LogAdminCommand::PromoteKey) => {
            let vkey = transparency::promote_second_key(&svc.db, svc.kek.as_ref(), svc.log.signer.origin()).await?;
            println!("{vkey}");
        }
        AdminCommand::Log(LogAdminCommand::RetireKey) => {
            let vkey = transparency::retire_second_key(&svc.db, svc.log.signer.origin()).await?;
            println!("retired {vkey}");
        }
        AdminCommand::Kek(KekAdminCommand::Status) => {
            let current = sealpost_server::kek::key_id_hex(&svc.kek.current_key_id());
            println!("current key {current}");
            let mut total = 0;
            for (kind, n) in sealpost_server::domain::kek::remaining(svc).await.map_err(err)? {
                println!("{kind:?}: {n} not under the current key");
                total += n;
            }
            println!("{total} to re-wrap");
        }
        AdminCommand::Kek(KekAdminCommand::Rewrap { batch, limit }) => {
            let report = sealpost_server::domain::kek::rewrap(svc, batch, limit)
                .await
                .map_err(err)?;
            println!(
                "re-wrapped {}, skipped {} (changed meanwhile), failed {}",
                report.rewrapped,
                report.skipped,
                report.failed.len()
            );
            if !report.failed.is_empty() {
                return Err(format!(
                    "{} stored wraps open with no key held, e.g. the {}",
                    report.failed.len(),
                    report.failed[0]
                ));
            }
        }
        AdminCommand::Log(LogAdminCommand::Audit { checkpoint }) => {
            let (size, root) = match checkpoint {
                Some(path) => {
                    let note =
                        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    let cp = sealpost_crypto::tlog::Checkpoint::verify_note(&note, svc.log.signer.verifier())
                        .map_err(|_| format!("{} is not a checkpoint signed by this log's key", path.display()))?;
                    (cp.size, Some(cp.root))
                }
                None => (transparency::integrate(svc).await.map_err(err)?, None),
            };
            let checked = transparency::audit(svc, size, root).await.map_err(err)?;
            match root {
                Some(_) => println!("log intact: its first {checked} entries hash to the checkpoint's root"),
                None => println!("log intact: {checked} entries match the stored tree"),
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { org, id }) => {
            let org = accounts::org_by_name(svc, &org)
                .await
                .map_err(|_| format!("no organisation named {org:?}"))?;
            accounts::revoke_token_inner(svc, &org.id, None, &id, actor)
                .await
                .map_err(err)?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, before the listener binds
/// and `READY=1` is sent, so a signal that arrives at any moment after that is seen (even one the
/// process inherited as ignored, as background jobs of a shell do with SIGINT).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let install = |kind: SignalKind, name: &str| {
        signal(kind)
            .inspect_err(
                |e| tracing::warn!(error = %e, "cannot handle {name}; it will not shut the server down gracefully"),
            )
            .ok()
    };
    let interrupt = install(SignalKind::interrupt(), "SIGINT");
    let terminate = install(SignalKind::terminate(), "SIGTERM");
    async fn recv(s: Option<Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    async move {
        tokio::select! {
            () = recv(interrupt) => tracing::info!(signal = "SIGINT", "shutting down"),
            () = recv(terminate) => tracing::info!(signal = "SIGTERM", "shutting down"),
        }
    }
}
