//! Pre-send checks on the sender's machine: the [`sealpost_guard`] detectors and recipient rules,
//! applied under the organisation's policy (fetched from the server, cached locally) with the
//! sender's own contact history (a local owner-only file).
//!
//! Nothing found here is sent anywhere: the server receives only [`SendChecks`] — the decision,
//! the most serious level and counts per category.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sealpost_client::error::Error> {
//! use sealpost_client::checks::{self, History};
//! use sealpost_guard::Draft;
//!
//! let draft = Draft {
//!     from: "me@council.example".into(),
//!     bcc: vec!["sam@example.org".into()],
//!     subject: "Referral".into(),
//!     body: "NHS number 943 476 5919".into(),
//!     ..Draft::default()
//! };
//! let history = History::load(&checks::history_path())?;
//! let report = checks::check(&draft, &history.contacts, &sealpost_guard::Policy::default())?;
//! for f in &report.findings {
//!     println!("{:?} {}", f.level, f.message);
//! }
//! # Ok(()) }
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use sealpost_guard::recipients::Contact;
use sealpost_guard::{Attachment, AttachmentContent, Draft, Policy, Report};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::Client;
use crate::config::write_private;
use crate::error::{Error, Result};

pub use sealpost_guard::{Confirmation, ConfirmedWith, SendChecks};

/// Attachments larger than this are not read for checking (they are reported as not checked):
/// the check holds a file in memory (PDF and DOCX cannot be read in pieces), and `sealpost send`
/// must keep its memory independent of the size of what it sends.
pub const MAX_CHECKED_ATTACHMENT: u64 = 64 << 20;

const HISTORY_VERSION: u32 = 1;

/// The sender's contact history: `contacts.json` in the state folder.
pub fn history_path() -> PathBuf {
    crate::config::state_root().join("contacts.json")
}

/// The last policy fetched from the server: `policy.json` in the state folder.
pub fn policy_cache_path() -> PathBuf {
    crate::config::state_root().join("policy.json")
}

/// Who this sender has sent to, how often, and how often with sensitive content. Kept on this
/// machine only (owner-only file); the look-alike and first-sensitive-send rules read it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// Format version, 1.
    pub v: u32,
    /// One entry per address (lower case).
    pub contacts: Vec<Contact>,
}

impl History {
    /// Reads the history; a missing file is an empty history.
    pub fn load(path: &Path) -> Result<History> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
            Err(e) => return Err(Error::file("read", path, e)),
        };
        let history: History = serde_json::from_str(&text).map_err(|e| {
            Error::Invalid(format!(
                "the contact history {} is damaged ({e}); move it away to start a new one",
                path.display()
            ))
        })?;
        if history.v != HISTORY_VERSION {
            return Err(Error::Invalid(format!(
                "the contact history {} has version {}, which this sealpost does not read",
                path.display(),
                history.v
            )));
        }
        Ok(history)
    }

    /// Writes the history atomically, owner-only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut out = self.clone();
        out.v = HISTORY_VERSION;
        let text = serde_json::to_vec_pretty(&out).map_err(|e| Error::Invalid(e.to_string()))?;
        write_private(path, &text)
    }

    /// Counts one message to each of `addresses`; `sensitive` when the checks found sensitive
    /// content in it.
    pub fn record_send<'a>(&mut self, addresses: impl IntoIterator<Item = &'a str>, sensitive: bool) {
        for address in addresses {
            let address = address.trim().to_lowercase();
            let entry = match self.contacts.iter_mut().position(|c| c.address == address) {
                Some(i) => &mut self.contacts[i],
                None => {
                    self.contacts.push(Contact {
                        address,
                        name: None,
                        sends: 0,
                        sensitive_sends: 0,
                    });
                    self.contacts.last_mut().expect("just pushed")
                }
            };
            entry.sends = entry.sends.saturating_add(1);
            if sensitive {
                entry.sensitive_sends = entry.sensitive_sends.saturating_add(1);
            }
        }
    }
}

/// Where the policy in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicySource {
    /// Fetched from the server just now.
    Server,
    /// The server could not be reached; the last copy fetched from it.
    Cache,
    /// The built-in default (no server configured, or none reachable and nothing cached).
    Default,
    /// A file given on the command line.
    File,
}

#[derive(Serialize, Deserialize)]
struct PolicyCache {
    server: String,
    policy: Policy,
}

#[derive(Deserialize)]
struct PolicyAnswer {
    policy: Policy,
}

/// The organisation's policy: from the server (and cached), else the cached copy when the server
/// cannot be reached, else the default.
pub async fn fetch_policy(client: &Client, cache: &Path) -> Result<(Policy, PolicySource)> {
    let answer: Result<PolicyAnswer> = async {
        let request = client.request(reqwest::Method::GET, "/api/v1/policy", crate::api::Auth::Token)?;
        client.json(request, "the policy").await
    }
    .await;
    match answer {
        Ok(answer) => {
            answer.policy.validate().map_err(|e| Error::Protocol {
                what: "the policy".into(),
                reason: e.to_string(),
            })?;
            let copy = PolicyCache {
                server: client.base().to_owned(),
                policy: answer.policy.clone(),
            };
            // The cache is a convenience: failing to write it does not stop a check.
            if let Ok(text) = serde_json::to_vec_pretty(&copy) {
                let _ = write_private(cache, &text);
            }
            Ok((answer.policy, PolicySource::Server))
        }
        Err(e) if e.is_transient() => match cached_policy(cache, client.base()) {
            Some(policy) => Ok((policy, PolicySource::Cache)),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

fn cached_policy(cache: &Path, server: &str) -> Option<Policy> {
    let text = std::fs::read_to_string(cache).ok()?;
    let copy: PolicyCache = serde_json::from_str(&text).ok()?;
    (copy.server == server && copy.policy.validate().is_ok()).then_some(copy.policy)
}

/// Reads a policy document from a file (JSON, as `PUT /api/v1/policy` takes it).
pub fn policy_from_file(path: &Path) -> Result<Policy> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::file("read", path, e))?;
    Policy::from_json(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Reads an attachment for checking: the whole file up to [`MAX_CHECKED_ATTACHMENT`], else it is
/// reported as not checked.
pub fn read_attachment(path: &Path) -> Result<Attachment> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let file = std::fs::File::open(path).map_err(|e| Error::file("read", path, e))?;
    let size = file.metadata().map_err(|e| Error::file("read", path, e))?.len();
    if size > MAX_CHECKED_ATTACHMENT {
        return Ok(Attachment {
            name,
            content: AttachmentContent::Unchecked(format!(
                "it is larger than {} MiB, the most that is read for checking",
                MAX_CHECKED_ATTACHMENT >> 20
            )),
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(size as usize));
    file.take(MAX_CHECKED_ATTACHMENT)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::file("read", path, e))?;
    Ok(Attachment {
        name,
        content: AttachmentContent::Bytes(bytes),
    })
}

/// Runs the checks.
pub fn check(draft: &Draft, contacts: &[Contact], policy: &Policy) -> Result<Report> {
    sealpost_guard::check(draft, contacts, policy).map_err(|e| Error::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_counts_sends_and_round_trips_owner_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state/contacts.json");
        let mut h = History::load(&path).expect("missing is empty");
        assert!(h.contacts.is_empty());
        h.record_send(["Sam@Example.org", "kim@example.org"], false);
        h.record_send(["sam@example.org"], true);
        h.save(&path).expect("save");
        let back = History::load(&path).expect("load");
        let sam = back
            .contacts
            .iter()
            .find(|c| c.address == "sam@example.org")
            .expect("sam");
        assert_eq!((sam.sends, sam.sensitive_sends), (2, 1));
        let kim = back
            .contacts
            .iter()
            .find(|c| c.address == "kim@example.org")
            .expect("kim");
        assert_eq!((kim.sends, kim.sensitive_sends), (1, 0));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::write(&path, "{not json").expect("write");
        let err = History::load(&path).expect_err("damaged");
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
