//! `sealpost check`, and the checks `sealpost send` runs before anything leaves the machine.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use sealpost_client::checks::{self, Confirmation, ConfirmedWith, History, PolicySource};
use sealpost_client::config::Profile;
use sealpost_client::error::Error;
use sealpost_guard::recipients::Contact;
use sealpost_guard::{Draft, Level, Policy, Report};
use serde::Deserialize;
use serde_json::json;

/// The draft file of `sealpost check` (schema in docs/checks.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftFile {
    from: String,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    attachments: Vec<PathBuf>,
    #[serde(default)]
    known_contacts: Option<Vec<Contact>>,
}

/// The organisation's policy for `check`: a file, else the server's (cached), else the default.
async fn policy_for_check(config_path: &Path, file: Option<&Path>) -> Result<(Policy, PolicySource), Error> {
    if let Some(file) = file {
        return Ok((checks::policy_from_file(file)?, PolicySource::File));
    }
    let profile = Profile::load_effective(config_path)?;
    match profile.client() {
        Ok(client) => checks::fetch_policy(&client, &checks::policy_cache_path()).await,
        // No server configured: the checks still work, under the default policy.
        Err(Error::Config(_)) => Ok((Policy::default(), PolicySource::Default)),
        Err(e) => Err(e),
    }
}

pub async fn check_command(
    config_path: &Path,
    draft_path: &Path,
    policy_file: Option<&Path>,
    json: bool,
) -> Result<(), Error> {
    let (text, base) = if draft_path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Invalid(format!("cannot read the draft from standard input: {e}")))?;
        (text, PathBuf::from("."))
    } else {
        let text = std::fs::read_to_string(draft_path).map_err(|e| Error::File {
            action: "read",
            path: draft_path.to_path_buf(),
            source: e,
        })?;
        let base = draft_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        (text, base)
    };
    let file: DraftFile = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("the draft is not valid JSON of the documented shape: {e}")))?;
    let attachments = file
        .attachments
        .iter()
        .map(|p| checks::read_attachment(&base.join(p)))
        .collect::<Result<Vec<_>, _>>()?;
    let draft = Draft {
        from: file.from,
        to: file.to,
        cc: file.cc,
        bcc: file.bcc,
        subject: file.subject,
        body: file.body,
        attachments,
    };
    let contacts = match file.known_contacts {
        Some(c) => c,
        None => History::load(&checks::history_path())?.contacts,
    };
    let (policy, source) = policy_for_check(config_path, policy_file).await?;
    let report = checks::check(&draft, &contacts, &policy)?;
    if json {
        let mut out = serde_json::to_value(&report).unwrap_or_default();
        out["max_level"] = json!(report.max_level());
        out["policy"] = json!(source);
        println!("{out}");
    } else {
        print_report(&report, &mut std::io::stdout());
        if report.findings.is_empty() && report.not_checked.is_empty() {
            println!("Nothing found.");
        }
    }
    match report.max_level() {
        Some(level) if level >= Level::Warning => Err(Error::Stopped(summary(&report))),
        _ => Ok(()),
    }
}

/// One sentence on what stops a send.
fn summary(report: &Report) -> String {
    let count = |level| report.findings.iter().filter(|f| f.level == level).count();
    let (errors, warnings) = (count(Level::Error), count(Level::Warning));
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) => format!("the checks found {}", plural(w, "warning")),
        (e, 0) => format!("the checks found {}", plural(e, "error")),
        (e, w) => format!("the checks found {} and {}", plural(e, "error"), plural(w, "warning")),
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Suggestion => "suggestion",
        Level::Warning => "WARNING",
        Level::Error => "ERROR",
    }
}

pub fn print_report(report: &Report, out: &mut dyn Write) {
    for f in &report.findings {
        let mut line = format!("{:<10}  {}", level_word(f.level), f.message);
        if !f.previews.is_empty() {
            line.push_str(&format!(" [{}]", f.previews.join(", ")));
        }
        let _ = writeln!(out, "{line}");
    }
    for n in &report.not_checked {
        let _ = writeln!(
            out,
            "{:<10}  {:?} was not checked: {}.",
            "note",
            n.name,
            n.reason.trim_end_matches('.')
        );
    }
}

/// What `sealpost send` does with the report: nothing on suggestions, a confirmation with a
/// reason on warnings (`--yes --reason`, or typed at the prompt), a refusal on errors.
pub fn decide(report: &Report, yes: bool, reason: Option<&str>) -> Result<Option<Confirmation>, Error> {
    match report.max_level() {
        None | Some(Level::Suggestion) => Ok(None),
        Some(Level::Error) => Err(Error::Stopped(format!(
            "{}; nothing was sent. Remove what the errors name from the draft (your organisation's policy does not allow it)",
            summary(report)
        ))),
        Some(Level::Warning) => {
            if yes {
                let reason = reason.map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| {
                    Error::Invalid("--yes needs a --reason saying why the warnings do not apply".into())
                })?;
                if reason.chars().count() > sealpost_guard::check::MAX_REASON {
                    return Err(Error::Invalid(format!(
                        "--reason is longer than {} characters",
                        sealpost_guard::check::MAX_REASON
                    )));
                }
                return Ok(Some(Confirmation {
                    how: ConfirmedWith::Flag,
                    reason: reason.to_owned(),
                }));
            }
            if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
                return Err(Error::Stopped(format!(
                    "{}; nothing was sent. Review them; to send anyway from a script, pass --yes --reason TEXT",
                    summary(report)
                )));
            }
            eprint!("Send anyway? Type why the warnings do not apply, or press Enter to cancel: ");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::Invalid(format!("cannot read the answer: {e}")))?;
            let reason = line.trim();
            if reason.is_empty() {
                return Err(Error::Stopped("cancelled at the warnings; nothing was sent".into()));
            }
            Ok(Some(Confirmation {
                how: ConfirmedWith::Prompt,
                reason: reason.to_owned(),
            }))
        }
    }
}
