//! `sealpost`: the command-line tool. It parses arguments, calls the SDK and prints; errors are
//! one plain sentence on standard error and a non-zero exit code, never a backtrace.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sealpost_client::keys::{self, KeyFileError, PublicKeys};
use sealpost_client::proofs;
use sealpost_crypto::keyblob::KdfParams;
use sealpost_crypto::tlog;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "sealpost", version, about = "Send and open Sealpost secure messages.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage your own keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check a message receipt offline against the published log key.
    ///
    /// Exit code 0: the receipt is authentic and its proofs hold; 1: it is not (or cannot be read).
    Verify {
        /// The receipt file (from `GET /api/v1/messages/{id}/receipt`).
        file: PathBuf,
        /// The access log's key, as published at /.well-known/sealpost/log-key [default: $SEALPOST_LOG_KEY].
        #[arg(long)]
        log_key: Option<String>,
        /// A witness whose cosignature the receipt must carry (repeatable).
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with the access log.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Subcommand)]
enum LogCommand {
    /// Check an organisation's log export (JSON lines with proofs) offline.
    VerifyExport {
        /// The export file (from `GET /api/v1/log/export`).
        file: PathBuf,
        /// The access log's key [default: $SEALPOST_LOG_KEY].
        #[arg(long)]
        log_key: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a new key pair and store it encrypted under a password.
    Generate {
        /// Where to write the key file [default: $SEALPOST_KEY_FILE or ~/.config/sealpost/keys.json].
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Read the password from this file (first line) instead of prompting.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the public keys of a key file (no password needed).
    Show {
        /// The key file [default: $SEALPOST_KEY_FILE or ~/.config/sealpost/keys.json].
        #[arg(long, short)]
        file: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sealpost: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Keys(KeysCommand::Generate {
            out,
            password_file,
            force,
            json,
        }) => {
            let path = out.unwrap_or_else(keys::default_key_file);
            if path.exists() && !force {
                return Err(KeyFileError::Exists(path).to_string());
            }
            let password = new_password(password_file)?;
            let public = keys::generate(&path, &password, KdfParams::DEFAULT, force).map_err(|e| e.to_string())?;
            print_public(&public, &path, json, "Generated a new key pair")
        }
        Command::Verify {
            file,
            log_key,
            witnesses,
            json,
        } => {
            let key = proofs::log_key(log_key.as_deref()).map_err(|e| e.to_string())?;
            let witnesses = proofs::witness_keys(&witnesses).map_err(|e| e.to_string())?;
            let verified = proofs::verify_receipt_file(&file, &key, &witnesses).map_err(|e| e.to_string())?;
            if json {
                let value = serde_json::json!({ "valid": true, "receipt": verified });
                println!("{value}");
            } else {
                println!(
                    "Receipt valid: signed by {} and proven against checkpoint {}.",
                    key.name, verified.size
                );
                print!("{}", tlog::receipt_summary(&verified));
            }
            Ok(())
        }
        Command::Log(LogCommand::VerifyExport { file, log_key, json }) => {
            let key = proofs::log_key(log_key.as_deref()).map_err(|e| e.to_string())?;
            let report = proofs::verify_export_file(&file, &key).map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::json!({ "valid": true, "export": report }));
            } else {
                println!(
                    "Export valid: {} entries of organisation {} ({} messages), proven against checkpoint {}.",
                    report.entries, report.org, report.messages, report.checkpoint_size
                );
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Show { file, json }) => {
            let path = file.unwrap_or_else(keys::default_key_file);
            let blob = keys::read(&path).map_err(|e| e.to_string())?;
            let public = PublicKeys::of_blob(&blob).map_err(|e| e.to_string())?;
            print_public(&public, &path, json, "Key file")
        }
    }
}

fn print_public(public: &PublicKeys, path: &std::path::Path, json: bool, title: &str) -> Result<(), String> {
    if json {
        let value = serde_json::json!({
            "key_file": path.display().to_string(),
            "encryption_key": public.encryption_key,
            "signing_key": public.signing_key,
            "recipient_id": public.recipient_id,
        });
        println!("{value}");
    } else {
        println!("{title}: {}", path.display());
        println!("  encryption key (X25519): {}", public.encryption_key);
        println!("  signing key (Ed25519):   {}", public.signing_key);
        println!("  recipient id:            {}", public.recipient_id);
    }
    Ok(())
}

/// A new password: from a file, from `SEALPOST_PASSWORD`, or typed twice at the terminal.
fn new_password(file: Option<PathBuf>) -> Result<Zeroizing<String>, String> {
    if let Some(file) = file {
        let text =
            Zeroizing::new(std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?);
        let line = text.lines().next().unwrap_or_default();
        return Ok(Zeroizing::new(line.to_owned()));
    }
    if let Ok(password) = std::env::var("SEALPOST_PASSWORD") {
        return Ok(Zeroizing::new(password));
    }
    if !std::io::stdin().is_terminal() {
        return Err("no password: run in a terminal, or pass --password-file, or set SEALPOST_PASSWORD".into());
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("New password for the key file: ")
            .map_err(|e| format!("cannot read the password: {e}"))?,
    );
    let second = Zeroizing::new(
        rpassword::prompt_password("Repeat the password: ").map_err(|e| format!("cannot read the password: {e}"))?,
    );
    if first != second {
        return Err("the two passwords differ".into());
    }
    Ok(first)
}
