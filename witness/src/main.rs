//! `sealpost-witness`: generate the witness key, print its verifier key, and serve
//! c2sp.org/tlog-witness for the configured logs.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::tlog::CosignerKey;
use sealpost_witness::{Config, Error, SystemClock, Witness, router};
use zeroize::Zeroizing;

/// A transparency-log witness for the Sealpost access log (c2sp.org/tlog-witness).
#[derive(Debug, Parser)]
#[command(name = "sealpost-witness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a witness key (a 32-byte seed, mode 0600) and print its verifier key.
    Keygen(KeyArgs),
    /// Print the verifier key of an existing witness key.
    Vkey(KeyArgs),
    /// Serve add-checkpoint requests until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// The witness name, the key name of its cosignatures (e.g. witness.example.org/w1).
    #[arg(long)]
    name: String,
    /// The file holding the 32-byte seed.
    #[arg(long)]
    key_file: PathBuf,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// A trusted log key as a vkey (name+id+key); the log's origin is its name. Repeatable.
    #[arg(long = "log", value_name = "VKEY", required = true)]
    logs: Vec<String>,
    /// The state file: the latest cosigned size and root of each log.
    #[arg(long)]
    state: PathBuf,
    /// The evidence file (default: <state>.evidence.jsonl).
    #[arg(long)]
    evidence: Option<PathBuf>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7380")]
    listen: SocketAddr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen(&args),
        Command::Vkey(args) => load_key(&args).map(|(key, _)| println!("{}", key.to_vkey())),
        Command::Serve(args) => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sealpost-witness: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cosigner_key(name: &str, seed: &[u8; 32]) -> Result<CosignerKey, Error> {
    CosignerKey::from_seed(name, seed).map_err(|e| Error::Config(format!("{name:?} cannot be the witness name: {e}")))
}

fn keygen(args: &KeyArgs) -> Result<(), Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| Error::Config(format!("the system random generator failed: {e}")))?;
    let key = cosigner_key(&args.name, &seed)?;
    write_new_secret(&args.key_file, seed.as_ref())?;
    println!("{}", key.to_vkey());
    Ok(())
}

/// Creates `path` with mode 0600 (never replacing a file) and writes `bytes` durably; a file
/// left half-written is removed.
fn write_new_secret(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Config(format!(
                "the key file {} already exists; refusing to overwrite it",
                path.display()
            ))
        } else {
            Error::Config(format!("cannot create the key file {}: {e}", path.display()))
        }
    })?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(Error::Config(format!(
            "cannot write the key file {}: {e}",
            path.display()
        )));
    }
    // Best effort: make the new directory entry durable too.
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(directory) = std::fs::File::open(directory) {
        let _ = directory.sync_all();
    }
    Ok(())
}

fn load_key(args: &KeyArgs) -> Result<(CosignerKey, Zeroizing<[u8; 32]>), Error> {
    let path = &args.key_file;
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| Error::Config(format!("cannot read the key file {}: {e}", path.display())))?,
    );
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        Error::Config(format!(
            "the key file {} must hold exactly 32 bytes, not {}",
            path.display(),
            bytes.len()
        ))
    })?;
    let seed = Zeroizing::new(seed);
    Ok((cosigner_key(&args.name, &seed)?, seed))
}

fn serve(args: ServeArgs) -> Result<(), Error> {
    let (_, seed) = load_key(&args.key)?;
    let logs = args
        .logs
        .iter()
        .map(|text| {
            VerifierKey::from_vkey(text).map_err(|e| Error::Config(format!("--log {text:?} is not a log key: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let evidence_path = args.evidence.unwrap_or_else(|| {
        let mut path = args.state.as_os_str().to_owned();
        path.push(".evidence.jsonl");
        PathBuf::from(path)
    });
    let config = Config {
        name: args.key.name,
        seed,
        logs,
        state_path: args.state,
        evidence_path,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let witness = Arc::new(Witness::open(config, Arc::new(SystemClock))?);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("cannot read the listening address: {e}")))?;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on http://{address}").and_then(|()| stdout.flush());
        drop(stdout);
        tracing::info!(vkey = %witness.vkey(), %address, "witness serving");
        axum::serve(listener, router(witness))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| Error::Config(format!("the server failed: {e}")))
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
