//! `sealpost`: the command-line tool. It parses arguments, calls the SDK and prints; errors are
//! one plain sentence on standard error (and, with `--json`, a JSON object on standard output)
//! and a documented non-zero exit code, never a backtrace. See `docs/cli.md`.

mod check_cmd;
mod incident_cmd;

use std::io::{BufRead as _, IsTerminal, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, CommandFactory, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use sealpost_client::checks::{self, History};
use sealpost_client::config::{self, Profile};
use sealpost_client::error::{Error, exit};
use sealpost_client::incidents;
use sealpost_client::keys::{self, KeyFileError, PublicKeys};
use sealpost_client::messages::{self, ListQuery};
use sealpost_client::open::{self, OpenOptions, Prompt};
use sealpost_client::proofs;
use sealpost_client::send::{self, Notify, Progress, Recipient, SendOptions, SendRequest, Verification};
use sealpost_crypto::keyblob::KdfParams;
use sealpost_crypto::tlog;
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "sealpost",
    version,
    about = "Send and open Sealpost secure messages. Everything is encrypted on this machine.",
    after_help = "Exit codes: 0 ok, 1 failed, 2 wrong command line, 3 local problem (configuration, file, key file), \
                  4 server unreachable or failing, 5 token rejected or not allowed, 6 not found, \
                  7 revoked/expired/locked/open limit, 8 quota or rate limit, 9 wrong code or password, \
                  10 refused as invalid by the server, 11 stopped by the pre-send checks. See docs/cli.md."
)]
struct Cli {
    /// Print the result as one JSON object (schemas in docs/cli.md).
    #[arg(long, global = true)]
    json: bool,
    /// The configuration file [default: $SEALPOST_CLIENT_CONFIG or ~/.config/sealpost/config.toml].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Save the server URL and your API token (owner-only file), and pin the server's log key.
    Init {
        /// The server, e.g. https://sealpost.example.
        #[arg(long)]
        server: String,
        /// Your API token (sp_…) [default: $SEALPOST_TOKEN; read from standard input when `-`].
        #[arg(long)]
        token: Option<String>,
        /// Your key file, if not the default.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Manage your own keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Encrypt a message and its attachments here and send them.
    ///
    /// Each --to is followed by how that recipient verifies: --sms NUMBER (a guest, by SMS
    /// code) or --registered (a Sealpost account: password and authenticator). Running the same
    /// command again after an interruption resumes the upload.
    #[command(
        after_help = "Example:\n  sealpost send --to sam@example.org --sms +447700900123 \\\n       --subject 'Your care plan' --body-file letter.txt --attach plan.pdf --expires 7d"
    )]
    Send(SendArgs),
    /// Check a draft for sensitive content and recipient mistakes, on this machine only.
    ///
    /// DRAFT is a JSON file (or - for standard input): {"from", "to": [...], "cc": [...],
    /// "bcc": [...], "subject", "body", "attachments": [paths, relative to the draft file],
    /// "known_contacts": [{"address", "name", "sends", "sensitive_sends"}]} (known_contacts
    /// replaces the local history). Exit code 0 when nothing reaches warning, 11 otherwise.
    #[command(after_help = "Example:\n  sealpost check --json draft.json\nSchema and rules: docs/checks.md.")]
    Check {
        /// The draft (JSON), or - for standard input.
        draft: PathBuf,
        /// Apply this policy file instead of the organisation's (JSON, as the server stores it).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Show a message's state, recipients, links and openings.
    Status {
        /// The message id.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// List your messages, newest first.
    List {
        /// Only messages in this state.
        #[arg(long, value_parser = ["draft", "sealed", "revoked", "expired"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The whole organisation's messages (admins and DPOs).
        #[arg(long)]
        organisation: bool,
    },
    /// Revoke a message (or one recipient), now or at a time: nobody can open it afterwards.
    Revoke {
        /// The message id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Only this recipient (address or recipient id).
        #[arg(long, allow_hyphen_values = true)]
        recipient: Option<String>,
        /// When: an RFC 3339 time or a duration from now (2h, 7d) [default: now].
        #[arg(long)]
        at: Option<String>,
        /// It went to the wrong person: revoke now and open an incident for the DPO (prints its id).
        #[arg(long, conflicts_with = "at")]
        sent_in_error: bool,
    },
    /// Move a message's expiry, earlier or later.
    Expire {
        /// The message id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// The new expiry: an RFC 3339 time, `now`, or a duration from now (2h, 7d).
        #[arg(long)]
        at: String,
    },
    /// Download a message's signed receipt and check it against the pinned log key.
    Receipt {
        /// The message id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Where to save the receipt [default: receipt-<id>.json].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Check a message receipt offline against the published log key.
    ///
    /// Exit code 0: the receipt is authentic and its proofs hold; 1: it is not (or cannot be read).
    Verify {
        /// The receipt file (from `sealpost receipt`).
        file: PathBuf,
        /// The access log's key [default: $SEALPOST_LOG_KEY, else the key `sealpost init` pinned].
        #[arg(long)]
        log_key: Option<String>,
        /// A witness whose cosignature the receipt must carry (repeatable).
        #[arg(long = "witness")]
        witnesses: Vec<String>,
    },
    /// Open a message sent to you: a guest's link (SMS code) or a registered recipient's link
    /// or link id (password and authenticator code).
    ///
    /// Codes are prompted for on the terminal, or read one per line from standard input.
    Open {
        /// The link (with its #… part for guests), or a link id on the configured server.
        #[arg(allow_hyphen_values = true)]
        link: String,
        /// Save the message and its attachments here.
        #[arg(long, short, default_value = ".")]
        out: PathBuf,
        /// Pin this log key instead of the one the link announces.
        #[arg(long)]
        log_key: Option<String>,
    },
    /// Work with the access log.
    #[command(subcommand)]
    Log(LogCommand),
    /// The breach register: incidents about messages sent in error (DPO and admins; a sender
    /// may open one about their own message).
    #[command(subcommand)]
    Incident(incident_cmd::IncidentCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args)]
struct SendArgs {
    /// A recipient's address; follow it with --sms or --registered (repeatable).
    #[arg(long, required = true, action = ArgAction::Append)]
    to: Vec<String>,
    /// The preceding --to is a guest verified by an SMS code to this number (E.164).
    #[arg(long, action = ArgAction::Append, value_name = "NUMBER")]
    sms: Vec<String>,
    /// The preceding --to is a Sealpost account (password and authenticator code).
    #[arg(long, action = ArgAction::Count)]
    registered: u8,
    /// The subject (encrypted; the server never sees it).
    #[arg(long, default_value = "")]
    subject: String,
    /// The message text [default: --body-file, else standard input when it is not a terminal].
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the message text from this file.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Attach a file of any size (repeatable).
    #[arg(long = "attach", value_name = "FILE")]
    attachments: Vec<PathBuf>,
    /// When the message expires: a duration (7d, 12h) or an RFC 3339 time.
    #[arg(long, default_value = "7d")]
    expires: String,
    /// At most this many openings per recipient.
    #[arg(long)]
    max_opens: Option<u32>,
    /// Whether the server mails links to registered recipients (guest links are yours to deliver).
    #[arg(long, value_enum, default_value_t = NotifyArg::None)]
    notify: NotifyArg,
    /// Read the key file's password from this file [default: $SEALPOST_PASSWORD, else a prompt].
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Parts uploaded at the same time.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    parallel: u16,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Print only the message id (for scripts).
    #[arg(long, conflicts_with = "json")]
    print_id: bool,
    /// Send even though the pre-send checks found warnings (needs --reason); errors always stop.
    #[arg(long, requires = "reason")]
    yes: bool,
    /// Why the warnings do not apply (kept with the message for the organisation's DPO).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum NotifyArg {
    Email,
    None,
}

#[derive(Subcommand)]
enum LogCommand {
    /// Check an organisation's log export (JSON lines with proofs) offline.
    VerifyExport {
        /// The export file (from `GET /api/v1/log/export`).
        file: PathBuf,
        /// The access log's key [default: $SEALPOST_LOG_KEY, else the pinned key].
        #[arg(long)]
        log_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a new key pair and store it encrypted under a password.
    Generate {
        /// Where to write the key file [default: the configured one, $SEALPOST_KEY_FILE or ~/.config/sealpost/keys.json].
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Read the password from this file (first line) instead of prompting.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// Show the public keys of a key file (no password needed).
    Show {
        /// The key file [default: the configured one].
        #[arg(long, short)]
        file: Option<PathBuf>,
    },
    /// Publish your public keys (and the password-protected key file, for opening messages in
    /// a browser) for your account.
    Register {
        /// The key file [default: the configured one].
        #[arg(long, short)]
        file: Option<PathBuf>,
        /// Read the password from this file (first line) instead of prompting.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let json = cli.json;
    // `check --json` prints its report, findings or not; the exit code tells the outcome.
    let report_printed = matches!(cli.command, Command::Check { .. }) && json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sealpost: cannot start: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            result = run(cli, &matches) => result,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sealpost: {e}");
            if json && !(report_printed && matches!(e, Error::Stopped(_))) {
                let mut error = json!({ "kind": e.kind(), "message": e.to_string(), "exit_code": e.exit_code() });
                if let Some(p) = e.problem() {
                    error["problem"] = serde_json::to_value(p).unwrap_or(Value::Null);
                }
                println!("{}", json!({ "error": error }));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<(), Error> {
    let config_path = cli.config.clone().unwrap_or_else(config::default_path);
    let json = cli.json;
    match cli.command {
        Command::Init {
            server,
            token,
            key_file,
        } => init(&config_path, &server, token, key_file, json).await,
        Command::Keys(command) => keys_command(&config_path, command, json).await,
        Command::Send(args) => {
            let recipients = match matches.subcommand() {
                Some(("send", send)) => recipients_from_args(send)?,
                _ => Vec::new(),
            };
            send_command(&config_path, args, recipients, json).await
        }
        Command::Check { draft, policy } => {
            check_cmd::check_command(&config_path, &draft, policy.as_deref(), json).await
        }
        Command::Status { id } => {
            let profile = Profile::load_effective(&config_path)?;
            let status = messages::status(&profile.client()?, &id).await?;
            if json {
                println!("{status}");
            } else {
                print_status(&status);
            }
            Ok(())
        }
        Command::List {
            state,
            limit,
            organisation,
        } => {
            let profile = Profile::load_effective(&config_path)?;
            let query = ListQuery {
                state,
                limit: Some(limit),
                organisation,
                before: None,
            };
            let page = messages::list(&profile.client()?, &query).await?;
            if json {
                println!("{page}");
            } else {
                print_list(&page);
            }
            Ok(())
        }
        Command::Revoke {
            id,
            recipient,
            at: _,
            sent_in_error: true,
        } => {
            let profile = Profile::load_effective(&config_path)?;
            let status = incidents::revoke_sent_in_error(&profile.client()?, &id, recipient.as_deref(), None).await?;
            if json {
                println!("{status}");
            } else {
                let what = match &recipient {
                    Some(r) => format!("Recipient {r} of message {id}"),
                    None => format!("Message {id}"),
                };
                println!("{what} is revoked: nobody can open it any more.");
                match status["incident_id"].as_str() {
                    Some(incident) => {
                        println!("Opened incident {incident} for your DPO: the record and its deadline start now.")
                    }
                    None => println!("The server did not say which incident it opened; tell your DPO."),
                }
                print_status(&status);
            }
            Ok(())
        }
        Command::Revoke { id, recipient, at, .. } => {
            let profile = Profile::load_effective(&config_path)?;
            let status = messages::revoke(&profile.client()?, &id, recipient.as_deref(), at.as_deref()).await?;
            if json {
                println!("{status}");
            } else {
                let what = match &recipient {
                    Some(r) => format!("Recipient {r} of message {id}"),
                    None => format!("Message {id}"),
                };
                match &at {
                    Some(at) if at != "now" => {
                        println!("{what} will be revoked at {}.", scheduled(&status, &recipient))
                    }
                    _ => println!("{what} is revoked: nobody can open it any more."),
                }
                print_status(&status);
            }
            Ok(())
        }
        Command::Expire { id, at } => {
            let profile = Profile::load_effective(&config_path)?;
            let status = messages::expire(&profile.client()?, &id, &at).await?;
            if json {
                println!("{status}");
            } else {
                println!(
                    "Message {id} now expires at {}.",
                    status["expires_at"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        Command::Receipt { id, out } => receipt_command(&config_path, &id, out, json).await,
        Command::Verify {
            file,
            log_key,
            witnesses,
        } => {
            let profile = Profile::load_effective(&config_path)?;
            let key = proofs::pinned_log_key(log_key.as_deref(), profile.log_key.as_deref())?;
            let witnesses = proofs::witness_keys(&witnesses)?;
            let verified = proofs::verify_receipt_file(&file, &key, &witnesses)?;
            if json {
                println!("{}", json!({ "valid": true, "receipt": verified }));
            } else {
                println!(
                    "Receipt valid: signed by {} and proven against checkpoint {}.",
                    key.name, verified.size
                );
                print!("{}", tlog::receipt_summary(&verified));
            }
            Ok(())
        }
        Command::Open { link, out, log_key } => open_command(&config_path, &link, out, log_key, json).await,
        Command::Log(LogCommand::VerifyExport { file, log_key }) => {
            let profile = Profile::load_effective(&config_path)?;
            let key = proofs::pinned_log_key(log_key.as_deref(), profile.log_key.as_deref())?;
            let report = proofs::verify_export_file(&file, &key)?;
            if json {
                println!("{}", json!({ "valid": true, "export": report }));
            } else {
                println!(
                    "Export valid: {} entries of organisation {} ({} messages), proven against checkpoint {}.",
                    report.entries, report.org, report.messages, report.checkpoint_size
                );
            }
            Ok(())
        }
        Command::Incident(command) => incident_cmd::incident_command(&config_path, command, json).await,
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut out = std::io::stdout();
            clap_complete::generate(shell, &mut command, "sealpost", &mut out);
            Ok(())
        }
    }
}

async fn init(
    path: &Path,
    server: &str,
    token: Option<String>,
    key_file: Option<PathBuf>,
    json: bool,
) -> Result<(), Error> {
    let token = match token.as_deref() {
        Some("-") => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::Config(format!("cannot read the token from standard input: {e}")))?;
            Zeroizing::new(line.trim().to_owned())
        }
        Some(t) => Zeroizing::new(t.to_owned()),
        None => Zeroizing::new(std::env::var("SEALPOST_TOKEN").map_err(|_| {
            Error::Config(
                "no token: pass --token sp_… (or - to read it from standard input), or set SEALPOST_TOKEN".into(),
            )
        })?),
    };
    if !token.starts_with("sp_") {
        return Err(Error::Config(
            "that is not an API token (they start with sp_); ask your administrator for one".into(),
        ));
    }
    let mut profile = Profile::load(path)?;
    profile.server = Some(server.trim_end_matches('/').to_owned());
    profile.token = Some(token);
    if key_file.is_some() {
        profile.key_file = key_file.map(|p| std::path::absolute(&p).unwrap_or(p));
    }
    let client = profile.client()?;
    // Check the token now rather than at the first send.
    let me = client.me().await?;
    let log_key = client.log_key().await?;
    proofs::pinned_log_key(Some(&log_key), None)?;
    profile.log_key = Some(log_key.clone());
    profile.save(path)?;
    let address = me["user"]["address"].as_str().unwrap_or_default();
    if json {
        println!(
            "{}",
            json!({
                "config_file": path.display().to_string(),
                "server": client.base(),
                "user": address,
                "organisation": me["organisation"]["name"],
                "scopes": me["token_scopes"],
                "log_key": log_key,
            })
        );
    } else {
        println!("Saved {} (readable only by you).", path.display());
        println!("  server:  {}", client.base());
        println!("  user:    {address}");
        println!("  log key: {log_key} (pinned: receipts are checked against it)");
    }
    Ok(())
}

async fn keys_command(config_path: &Path, command: KeysCommand, json: bool) -> Result<(), Error> {
    let profile = Profile::load_effective(config_path)?;
    match command {
        KeysCommand::Generate {
            out,
            password_file,
            force,
        } => {
            let path = out.unwrap_or_else(|| profile.key_file());
            if path.exists() && !force {
                return Err(KeyFileError::Exists(path).into());
            }
            let password = new_password(password_file)?;
            let public = tokio::task::spawn_blocking({
                let path = path.clone();
                move || keys::generate(&path, &password, KdfParams::DEFAULT, force)
            })
            .await
            .map_err(|e| Error::Invalid(format!("key generation stopped: {e}")))??;
            print_public(&public, &path, json, "Generated a new key pair");
            Ok(())
        }
        KeysCommand::Show { file } => {
            let path = file.unwrap_or_else(|| profile.key_file());
            let blob = keys::read(&path)?;
            let public = PublicKeys::of_blob(&blob)?;
            print_public(&public, &path, json, "Key file");
            Ok(())
        }
        KeysCommand::Register { file, password_file } => {
            let path = file.unwrap_or_else(|| profile.key_file());
            let client = profile.client()?;
            keys::read(&path)?;
            let password = existing_password(password_file)?;
            let published = keys::register(&client, &path, &password).await?;
            if json {
                println!(
                    "{}",
                    json!({ "key_file": path.display().to_string(), "published": published })
                );
            } else {
                println!(
                    "Published the keys of {} for {}.",
                    path.display(),
                    published["address"].as_str().unwrap_or("your account")
                );
            }
            Ok(())
        }
    }
}

/// Pairs each --to with the --sms or --registered that follows it, by position on the command
/// line.
fn recipients_from_args(send: &clap::ArgMatches) -> Result<Vec<Recipient>, Error> {
    let mut items: Vec<(usize, &str, Option<String>)> = Vec::new();
    for (name, flag) in [("to", "to"), ("sms", "sms")] {
        if let (Some(indices), Some(values)) = (send.indices_of(name), send.get_many::<String>(name)) {
            for (i, v) in indices.zip(values) {
                items.push((i, flag, Some(v.clone())));
            }
        }
    }
    let given = send.value_source("registered") == Some(clap::parser::ValueSource::CommandLine);
    if let Some(indices) = send.indices_of("registered").filter(|_| given) {
        for i in indices {
            items.push((i, "registered", None));
        }
    }
    items.sort_by_key(|(i, ..)| *i);
    let mut recipients: Vec<(String, Option<Verification>)> = Vec::new();
    for (_, flag, value) in items {
        match flag {
            "to" => recipients.push((value.unwrap_or_default(), None)),
            _ => {
                let Some((address, verification)) = recipients.last_mut() else {
                    return Err(Error::Invalid(format!("--{flag} must follow the --to it belongs to")));
                };
                if verification.is_some() {
                    return Err(Error::Invalid(format!(
                        "{address} has two verifications; give one --sms or --registered after each --to"
                    )));
                }
                *verification = Some(match value {
                    Some(number) => Verification::Sms(number),
                    None => Verification::Registered,
                });
            }
        }
    }
    recipients
        .into_iter()
        .map(|(address, verification)| {
            verification
                .map(|verification| Recipient {
                    address: address.clone(),
                    verification,
                })
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "say how {address} verifies: --sms NUMBER (a guest, by SMS code) or --registered (a Sealpost account)"
                    ))
                })
        })
        .collect()
}

async fn send_command(config_path: &Path, args: SendArgs, recipients: Vec<Recipient>, json: bool) -> Result<(), Error> {
    debug_assert_eq!(recipients.len(), args.to.len());
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone(),
        (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| Error::File {
            action: "read",
            path: file.clone(),
            source: e,
        })?,
        (None, None) if !std::io::stdin().is_terminal() => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::Invalid(format!("cannot read the message text from standard input: {e}")))?;
            text
        }
        (None, None) => String::new(),
    };
    let profile = Profile::load_effective(config_path)?;
    let client = profile.client()?;
    let key_file = profile.key_file();
    keys::read(&key_file)?;
    // The checks run first: nothing is encrypted or uploaded if they stop the send.
    let (policy, _) = checks::fetch_policy(&client, &checks::policy_cache_path()).await?;
    let me = client.me().await?;
    let from = me["user"]["address"].as_str().unwrap_or_default().to_owned();
    let draft = sealpost_guard::Draft {
        from,
        // Recipients of a Sealpost message never see each other: every one is a blind copy.
        bcc: recipients.iter().map(|r| r.address.clone()).collect(),
        subject: args.subject.clone(),
        body: body.clone(),
        attachments: args
            .attachments
            .iter()
            .map(|p| checks::read_attachment(p))
            .collect::<Result<Vec<_>, _>>()?,
        ..sealpost_guard::Draft::default()
    };
    let history_path = checks::history_path();
    let mut history = History::load(&history_path)?;
    let report = checks::check(&draft, &history.contacts, &policy)?;
    drop(draft);
    if !args.quiet || report.blocks() {
        check_cmd::print_report(&report, &mut std::io::stderr());
    }
    let confirmation = check_cmd::decide(&report, args.yes, args.reason.as_deref())?;
    let send_checks = report.send_checks(confirmation);
    send_checks.validate().map_err(Error::Invalid)?;
    let sensitive = report.is_sensitive();

    let password = existing_password(args.password_file.clone())?;
    let user_keys = keys::open_async(&key_file, &password).await?;
    let request = SendRequest {
        recipients,
        subject: args.subject.clone(),
        body,
        attachments: args.attachments.clone(),
        expires: args.expires.clone(),
        max_opens: args.max_opens,
        notify: match args.notify {
            NotifyArg::Email => Notify::Email,
            NotifyArg::None => Notify::None,
        },
        checks: Some(send_checks),
    };
    let mut options = SendOptions::new(config::state_dir());
    options.parallel_uploads = args.parallel as usize;
    let show_progress = !args.quiet && !json && !args.print_id && std::io::stderr().is_terminal();
    let bar = show_progress.then(|| Arc::new(Bar::new()));
    if let Some(bar) = &bar {
        options.progress = Some(bar.clone() as Arc<dyn Progress>);
    }
    let outcome = send::send(&client, &user_keys, &request, &options).await?;
    history.record_send(request.recipients.iter().map(|r| r.address.as_str()), sensitive);
    if let Err(e) = history.save(&history_path) {
        eprintln!("sealpost: the message was sent, but the contact history was not updated: {e}");
    }
    if json {
        let mut out = serde_json::to_value(&outcome).unwrap_or_default();
        out["checks"] = serde_json::to_value(&report).unwrap_or_default();
        println!("{out}");
        return Ok(());
    }
    if args.print_id {
        println!("{}", outcome.message_id);
        return Ok(());
    }
    println!(
        "Sent message {}{} (expires {}).",
        outcome.message_id,
        if outcome.resumed { ", resumed" } else { "" },
        outcome.expires_at
    );
    for r in &outcome.recipients {
        let how = if r.kind == "guest" {
            "SMS code"
        } else {
            "password + authenticator"
        };
        println!("  {} ({how}):", r.address);
        match (&r.link, r.mailed) {
            (Some(link), true) => println!("    {link}   (mailed by the server)"),
            (Some(link), false) if r.kind == "guest" => {
                println!("    {link}");
                println!("    Deliver this link yourself, not by SMS: the part after # is the recipient's key.");
            }
            (Some(link), false) => println!("    {link}"),
            (None, _) => println!("    (no link)"),
        }
    }
    Ok(())
}

async fn receipt_command(config_path: &Path, id: &str, out: Option<PathBuf>, json: bool) -> Result<(), Error> {
    let profile = Profile::load_effective(config_path)?;
    let client = profile.client()?;
    let bytes = messages::receipt(&client, id).await?;
    let path = out.unwrap_or_else(|| PathBuf::from(format!("receipt-{id}.json")));
    std::fs::write(&path, &bytes).map_err(|e| Error::File {
        action: "write",
        path: path.clone(),
        source: e,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Protocol {
        what: "the receipt".into(),
        reason: "not UTF-8".into(),
    })?;
    let key = proofs::pinned_log_key(None, profile.log_key.as_deref())?;
    let verified = proofs::verify_receipt_text(&text, &key, &[])?;
    if json {
        println!(
            "{}",
            json!({ "file": path.display().to_string(), "valid": true, "receipt": verified })
        );
    } else {
        println!(
            "Saved the receipt to {}; it is valid (signed by {}).",
            path.display(),
            key.name
        );
        print!("{}", tlog::receipt_summary(&verified));
        println!("Check it anywhere, offline: sealpost verify {}", path.display());
    }
    Ok(())
}

async fn open_command(
    config_path: &Path,
    link: &str,
    out: PathBuf,
    log_key: Option<String>,
    json: bool,
) -> Result<(), Error> {
    let profile = Profile::load_effective(config_path)?;
    let default_client = profile.client().ok();
    let target = open::parse_target(link, default_client.as_ref())?;
    // A key pinned by `sealpost init` for this same server is preferred to the link's word.
    let log_key = log_key.or_else(|| {
        (default_client.as_ref().map(|c| c.base()) == Some(target.client.base()))
            .then(|| profile.log_key.clone())
            .flatten()
    });
    let options = OpenOptions { out_dir: out, log_key };
    let prompt = CliPrompt::new();
    let opened = open::open(&target, &prompt, &options).await?;
    if json {
        println!("{}", serde_json::to_string(&opened).unwrap_or_default());
        return Ok(());
    }
    // The sender's words may hold terminal escape sequences: print them as text only.
    println!("From:    {}", open::printable(&opened.sender));
    println!("Subject: {}", open::printable(&opened.subject));
    println!();
    println!("{}", open::printable(&opened.body));
    println!();
    println!("Saved the message to {}", opened.message_file.display());
    for a in &opened.attachments {
        println!(
            "Saved {} ({} bytes) to {}",
            open::printable(&a.name),
            a.size,
            a.path.display()
        );
    }
    Ok(())
}

/// Prompts on the terminal, or reads answers one per line from standard input.
struct CliPrompt {
    terminal: bool,
}

impl CliPrompt {
    fn new() -> Self {
        Self {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    fn ask(&self, question: &str, secret: bool) -> Result<Zeroizing<String>, Error> {
        if self.terminal {
            if secret {
                return rpassword::prompt_password(question)
                    .map(Zeroizing::new)
                    .map_err(|e| Error::Invalid(format!("cannot read the answer: {e}")));
            }
            eprint!("{question}");
            let _ = std::io::stderr().flush();
        }
        // Standard input is buffered once for the process, so answers given ahead of their
        // questions (piped) are not lost between calls.
        let mut line = Zeroizing::new(String::new());
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Err(Error::Invalid(format!(
                "no answer to {:?}: standard input ended",
                question.trim().trim_end_matches(':')
            ))),
            Ok(_) => Ok(Zeroizing::new(line.trim().to_owned())),
            Err(e) => Err(Error::Invalid(format!("cannot read the answer: {e}"))),
        }
    }
}

impl Prompt for CliPrompt {
    fn sms_code(&self, hint: &str, attempts_left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
        let note = attempts_left
            .map(|n| format!(" ({n} attempts left)"))
            .unwrap_or_default();
        self.ask(&format!("Code sent by SMS to {hint}{note}: "), false)
    }

    fn password(&self) -> sealpost_client::Result<Zeroizing<String>> {
        if let Ok(password) = std::env::var("SEALPOST_PASSWORD") {
            return Ok(Zeroizing::new(password));
        }
        self.ask("Your Sealpost password: ", true)
    }

    fn totp_code(&self, attempts_left: Option<u64>) -> sealpost_client::Result<Zeroizing<String>> {
        let note = attempts_left
            .map(|n| format!(" ({n} attempts left)"))
            .unwrap_or_default();
        self.ask(&format!("Authenticator code{note}: "), false)
    }

    fn notice(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// The progress bar of long uploads (standard error, only on a terminal).
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn scheduled(status: &Value, recipient: &Option<String>) -> String {
    let at = match recipient {
        None => status["revoke_at"].as_str(),
        Some(who) => messages::recipient_rid(status, who).ok().and_then(|rid| {
            status["recipients"]
                .as_array()?
                .iter()
                .find(|r| r["rid"].as_str() == Some(rid.as_str()))?["revoke_at"]
                .as_str()
        }),
    };
    at.unwrap_or("the time given").to_owned()
}

fn print_status(status: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    println!("Message {}: {}", s(&status["id"]), s(&status["state"]));
    println!(
        "  created {}, expires {}",
        s(&status["created_at"]),
        s(&status["expires_at"])
    );
    if let Some(at) = status["revoke_at"].as_str() {
        println!("  revocation scheduled at {at}");
    }
    if let Some(at) = status["ended_at"].as_str() {
        println!("  ended at {at}");
    }
    for r in status["recipients"].as_array().into_iter().flatten() {
        let who = r["address"]
            .as_str()
            .or_else(|| r["notify"].as_str())
            .unwrap_or("guest");
        let phone = r["phone_hint"].as_str().map(|p| format!(" {p}")).unwrap_or_default();
        let lock = if r["locked"].as_bool() == Some(true) {
            ", LOCKED (sealpost can unlock via the API)"
        } else {
            ""
        };
        println!(
            "  {who}{phone} [{}]: {}, opened {} time(s), {} wrong entries{lock}",
            s(&r["verification"]),
            s(&r["state"]),
            r["releases"].as_u64().unwrap_or(0),
            r["failed_attempts"].as_u64().unwrap_or(0),
        );
        if let Some(link) = r["link"].as_str() {
            println!("    {link}");
        }
    }
}

fn print_list(page: &Value) {
    let messages = page["messages"].as_array().cloned().unwrap_or_default();
    if messages.is_empty() {
        println!("No messages.");
        return;
    }
    println!("{:<22}  {:<8}  {:<20}  {:<20}", "ID", "STATE", "CREATED", "EXPIRES");
    for m in &messages {
        println!(
            "{:<22}  {:<8}  {:<20}  {:<20}",
            m["id"].as_str().unwrap_or("-"),
            m["state"].as_str().unwrap_or("-"),
            m["created_at"].as_str().unwrap_or("-"),
            m["expires_at"].as_str().unwrap_or("-"),
        );
    }
    if !page["next"].is_null() {
        println!("(more: raise --limit)");
    }
}

fn print_public(public: &PublicKeys, path: &Path, json: bool, title: &str) {
    if json {
        let value = json!({
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
}

fn password_from_file(file: &Path) -> Result<Zeroizing<String>, Error> {
    let text = Zeroizing::new(std::fs::read_to_string(file).map_err(|e| Error::File {
        action: "read",
        path: file.to_owned(),
        source: e,
    })?);
    Ok(Zeroizing::new(text.lines().next().unwrap_or_default().to_owned()))
}

/// The key file's password: from a file, from `SEALPOST_PASSWORD`, or typed at the terminal.
fn existing_password(file: Option<PathBuf>) -> Result<Zeroizing<String>, Error> {
    if let Some(file) = file {
        return password_from_file(&file);
    }
    if let Ok(password) = std::env::var("SEALPOST_PASSWORD") {
        return Ok(Zeroizing::new(password));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Config(
            "no password for the key file: run in a terminal, or pass --password-file, or set SEALPOST_PASSWORD".into(),
        ));
    }
    rpassword::prompt_password("Password of your key file: ")
        .map(Zeroizing::new)
        .map_err(|e| Error::Config(format!("cannot read the password: {e}")))
}

/// A new password: from a file, from `SEALPOST_PASSWORD`, or typed twice at the terminal.
fn new_password(file: Option<PathBuf>) -> Result<Zeroizing<String>, Error> {
    if file.is_some() || std::env::var("SEALPOST_PASSWORD").is_ok() || !std::io::stdin().is_terminal() {
        return existing_password(file);
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("New password for the key file: ")
            .map_err(|e| Error::Config(format!("cannot read the password: {e}")))?,
    );
    let second = Zeroizing::new(
        rpassword::prompt_password("Repeat the password: ")
            .map_err(|e| Error::Config(format!("cannot read the password: {e}")))?,
    );
    if first != second {
        return Err(Error::Config("the two passwords differ".into()));
    }
    Ok(first)
}
