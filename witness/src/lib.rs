//! # sealpost-witness
//!
//! A transparency-log witness, c2sp.org/tlog-witness with c2sp.org/tlog-cosignature (Ed25519,
//! `cosignature/v1`), run as a process of its own beside the Sealpost server.
//!
//! The server keeps an RFC 6962 Merkle log of access events and signs C2SP checkpoints with its
//! log key. It pushes each new checkpoint here with a consistency proof from the size this
//! witness last cosigned; the witness checks the log's signature and the proof, records the new
//! size and root durably, and only then returns a timestamped cosignature. Two checkpoints of a
//! log that cannot both be true (a fork at the same size, a tree that does not extend the
//! recorded one) are refused, and what the log offered is appended to an evidence file. A
//! smaller checkpoint is refused too, but is not evidence: it may be an older view of the same
//! history (replicas race); a rollback shows once the log grows again.
//!
//! [`Witness`] is the state machine, usable without HTTP; [`router`] serves it:
//!
//! | request | response |
//! |---|---|
//! | `POST /add-checkpoint` | 200 cosignature line; 400 malformed; 403 bad signature; 404 unknown origin; 409 (`text/x.tlog.size`) wrong old size or fork; 413 body over 64 KiB; 422 proof does not verify |
//! | `GET /`, `GET /health` | JSON: witness name and vkey, each log's latest cosigned size and root |
//! | `GET /vkey` | the witness's verifier key |

mod error;
mod http;
pub mod request;
mod store;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::merkle::{self, Hash};
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::tlog::{self, Checkpoint, CosignerKey};
use serde::Serialize;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

pub use error::{AddError, Error};
pub use http::{MAX_BODY_BYTES, router};
pub use request::AddRequest;
pub use store::Known;

/// Distinct pieces of evidence remembered to avoid writing the same one twice; past this the
/// memory is cleared (the file may then repeat an entry, it never misses one).
const EVIDENCE_MEMORY: usize = 4096;

/// A source of wall-clock time, injectable so that tests can fix it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }
}

/// What a witness is started with.
pub struct Config {
    /// The witness's name, the key name of its cosignatures (a schema-less URL, by convention).
    pub name: String,
    /// The witness's Ed25519 seed.
    pub seed: Zeroizing<[u8; 32]>,
    /// The trusted log keys; a checkpoint's origin must be the name of one of them. Several keys
    /// with the same name are all trusted for that origin.
    pub logs: Vec<VerifierKey>,
    /// The state file.
    pub state_path: PathBuf,
    /// The evidence file (JSON lines, appended).
    pub evidence_path: PathBuf,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("seed", &"<redacted>")
            .field("logs", &self.logs)
            .field("state_path", &self.state_path)
            .field("evidence_path", &self.evidence_path)
            .finish()
    }
}

/// The latest cosigned checkpoint of one log, as `GET /health` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogStatus {
    /// The log's origin.
    pub origin: String,
    /// The trusted keys of the log, as vkeys (empty if the state file remembers a log that is
    /// no longer configured).
    pub keys: Vec<String>,
    /// The size of the latest cosigned checkpoint (0: none yet).
    pub size: u64,
    /// Its root hash, standard base64; `None` before the first checkpoint.
    pub root: Option<String>,
}

/// The witness's identity and what it has cosigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The witness's name.
    pub name: String,
    /// The witness's verifier key (signature type 0x04, `cosignature/v1`).
    pub vkey: String,
    /// Every configured or remembered log, by origin.
    pub logs: Vec<LogStatus>,
}

/// Why the evidence file records an offered checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    /// Same size as the recorded checkpoint, another root hash: two views of one tree.
    Fork,
    /// Larger, but the consistency proof from the recorded checkpoint does not verify.
    BadProof,
}

impl Misbehaviour {
    fn reason(self) -> &'static str {
        match self {
            Self::Fork => "same size as the latest cosigned checkpoint, different root hash",
            Self::BadProof => "the consistency proof from the latest cosigned checkpoint does not verify",
        }
    }
}

/// One line of the evidence file.
#[derive(Debug, Serialize)]
struct Evidence<'a> {
    time: u64,
    reason: &'static str,
    origin: &'a str,
    known_size: u64,
    known_root: String,
    offered_checkpoint_note: &'a str,
    old: u64,
    proof: Vec<String>,
}

/// What is guarded by the lock: the check, the write and the cosignature of one request happen
/// while it is held, so two requests can never both advance from the same state.
#[derive(Debug)]
struct State {
    logs: BTreeMap<String, Known>,
    /// (origin, recorded size, recorded root, offered note text) already written as evidence.
    evidence_seen: HashSet<(String, u64, Hash, String)>,
}

/// A witness: its key, the logs it trusts, and the latest checkpoint it cosigned for each.
pub struct Witness {
    name: String,
    seed: Zeroizing<[u8; 32]>,
    key: CosignerKey,
    logs: BTreeMap<String, Vec<VerifierKey>>,
    state_path: PathBuf,
    evidence_path: PathBuf,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("logs", &self.logs)
            .field("state_path", &self.state_path)
            .field("evidence_path", &self.evidence_path)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// Opens a witness: checks the name and keys, and reads the state file, creating it (empty)
    /// if it does not exist so that an unwritable location fails now rather than at the first
    /// checkpoint.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let key = CosignerKey::from_seed(&config.name, &config.seed)
            .map_err(|e| Error::Config(format!("{:?} cannot be the witness name: {e}", config.name)))?;
        if config.logs.is_empty() {
            return Err(Error::Config("at least one log key is needed".into()));
        }
        let mut logs: BTreeMap<String, Vec<VerifierKey>> = BTreeMap::new();
        for log in config.logs {
            let keys = logs.entry(log.name.clone()).or_default();
            if !keys.contains(&log) {
                keys.push(log);
            }
        }
        let state = match store::load(&config.state_path)? {
            Some(state) => state,
            None => {
                let empty = BTreeMap::new();
                store::write_atomically(&config.state_path, &store::serialize(&empty)?)
                    .map_err(|e| Error::Config(format!("cannot create the state file: {e}")))?;
                empty
            }
        };
        Ok(Self {
            name: config.name,
            seed: config.seed,
            key,
            logs,
            state_path: config.state_path,
            evidence_path: config.evidence_path,
            clock,
            state: Mutex::new(State {
                logs: state,
                evidence_seen: HashSet::new(),
            }),
        })
    }

    /// The witness's public key.
    pub fn cosigner_key(&self) -> &CosignerKey {
        &self.key
    }

    /// The witness's verifier key text.
    pub fn vkey(&self) -> String {
        self.key.to_vkey()
    }

    /// The latest checkpoint cosigned for `origin`, if any.
    pub async fn known(&self, origin: &str) -> Option<Known> {
        self.state.lock().await.logs.get(origin).copied()
    }

    /// The witness's identity and, for every configured or remembered log, its latest cosigned
    /// checkpoint.
    pub async fn status(&self) -> Status {
        let state = self.state.lock().await;
        let origins: std::collections::BTreeSet<&String> = self.logs.keys().chain(state.logs.keys()).collect();
        let logs = origins
            .into_iter()
            .map(|origin| {
                let known = state.logs.get(origin);
                LogStatus {
                    origin: origin.clone(),
                    keys: self
                        .logs
                        .get(origin)
                        .map(|keys| keys.iter().map(VerifierKey::to_vkey).collect())
                        .unwrap_or_default(),
                    size: known.map_or(0, |k| k.size),
                    root: known.map(|k| STANDARD.encode(k.root)),
                }
            })
            .collect();
        Status {
            name: self.name.clone(),
            vkey: self.vkey(),
            logs,
        }
    }

    /// Handles one add-checkpoint request body (c2sp.org/tlog-witness) and returns the
    /// cosignature line(s), after the new checkpoint is recorded durably.
    ///
    /// In order: the framing (else [`Error::Malformed`]); the origin (else
    /// [`Error::UnknownOrigin`]); the log's signature (else [`Error::BadSignature`]); then, under
    /// the lock: the old size is at most the checkpoint's size (else [`Error::Malformed`]) and is
    /// the size recorded for the log (else [`Error::OldSizeMismatch`]); the proof is empty from
    /// size 0; at the recorded size the root is the recorded one (else [`Error::RootMismatch`]);
    /// beyond it the consistency proof verifies (else [`Error::Inconsistent`]). A checkpoint that
    /// contradicts the recorded one (same size and another root, or a proof that does not
    /// verify) is appended to the evidence file and logged as a warning, whatever the
    /// old size said. The state is unchanged by any refusal.
    ///
    /// Dropping the future part-way is safe but may leave the state file ahead of the answer; the
    /// HTTP layer runs it to completion in a task of its own.
    pub async fn add_checkpoint(&self, request: &str) -> Result<String, Error> {
        let request = AddRequest::parse(request)?;
        let note = request.checkpoint;
        let origin = note
            .split_once('\n')
            .map(|(origin, _)| origin)
            .ok_or(Error::Malformed("the checkpoint has no origin line"))?;
        let keys = self
            .logs
            .get(origin)
            .ok_or_else(|| Error::UnknownOrigin(origin.to_owned()))?;
        let checkpoint = verify_checkpoint(note, keys)?;
        if checkpoint.origin != origin {
            return Err(Error::Malformed("the checkpoint's origin is not its first line"));
        }
        if checkpoint.size == 0 && checkpoint.root != merkle::empty_root() {
            return Err(Error::Inconsistent("an empty tree has the root SHA-256(\"\")"));
        }

        let mut state = self.state.lock().await;
        let known = state.logs.get(origin).copied();
        let known_size = known.map_or(0, |k| k.size);

        if let Some(known) = known {
            // A smaller checkpoint is refused (409 below) but is not evidence by itself: replicas
            // of an honest log race, and an older checkpoint of the same history is consistent.
            // A rollback shows once the log grows again: its next checkpoint cannot be proven to
            // extend the recorded tree (BadProof), or equals its size with another root (Fork).
            let contradiction =
                (checkpoint.size == known.size && checkpoint.root != known.root).then_some(Misbehaviour::Fork);
            if let Some(kind) = contradiction {
                self.record_evidence(&mut state, kind, known, &request, origin).await;
            }
        }

        if request.old > checkpoint.size {
            return Err(Error::Malformed("the old size is larger than the checkpoint's size"));
        }
        if request.old != known_size {
            return Err(Error::OldSizeMismatch { known: known_size });
        }
        let advance = if request.old == 0 {
            // First contact (or a log last seen empty): nothing to check against.
            if !request.proof.is_empty() {
                return Err(Error::Malformed("the proof must be empty when the old size is 0"));
            }
            known.is_none_or(|k| k != Known::from(&checkpoint))
        } else if let Some(known) = known.filter(|k| k.size == checkpoint.size) {
            if checkpoint.root != known.root {
                return Err(Error::RootMismatch { known: known.size });
            }
            if !request.proof.is_empty() {
                return Err(Error::Inconsistent("the proof between two trees of one size is empty"));
            }
            false
        } else {
            let Some(known) = known else {
                // old == known_size > 0 implies a record.
                return Err(Error::OldSizeMismatch { known: known_size });
            };
            if !merkle::verify_consistency(
                known.size,
                checkpoint.size,
                &known.root,
                &checkpoint.root,
                &request.proof,
            ) {
                self.record_evidence(&mut state, Misbehaviour::BadProof, known, &request, origin)
                    .await;
                return Err(Error::Inconsistent(
                    "it does not prove the checkpoint extends the recorded tree",
                ));
            }
            true
        };

        if advance {
            let mut next = state.logs.clone();
            next.insert(origin.to_owned(), Known::from(&checkpoint));
            let contents = store::serialize(&next)?;
            let path = self.state_path.clone();
            tokio::task::spawn_blocking(move || store::write_atomically(&path, &contents))
                .await
                .map_err(|e| Error::Storage(format!("the writer task failed: {e}")))??;
            state.logs = next;
            tracing::info!(origin, size = checkpoint.size, "recorded a new checkpoint");
        }
        let time = self.clock.now_secs();
        tlog::cosign(&checkpoint, &self.name, &self.seed, time).map_err(Error::Signing)
    }

    /// Appends what the log offered to the evidence file (once per offered checkpoint and
    /// recorded state) and logs a warning. A failure to write is logged, not returned: the
    /// request is refused all the same.
    async fn record_evidence(
        &self,
        state: &mut State,
        kind: Misbehaviour,
        known: Known,
        request: &AddRequest<'_>,
        origin: &str,
    ) {
        let text = request
            .checkpoint
            .rfind("\n\n")
            .map_or(request.checkpoint, |split| &request.checkpoint[..=split]);
        tracing::warn!(
            origin,
            known_size = known.size,
            known_root = %STANDARD.encode(known.root),
            old = request.old,
            reason = kind.reason(),
            checkpoint = text,
            "refused a checkpoint that contradicts the latest cosigned one"
        );
        let seen = (origin.to_owned(), known.size, known.root, text.to_owned());
        if state.evidence_seen.contains(&seen) {
            return;
        }
        let evidence = Evidence {
            time: self.clock.now_secs(),
            reason: kind.reason(),
            origin,
            known_size: known.size,
            known_root: STANDARD.encode(known.root),
            offered_checkpoint_note: request.checkpoint,
            old: request.old,
            proof: request.proof.iter().map(|h| STANDARD.encode(h)).collect(),
        };
        let line = match serde_json::to_string(&evidence) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise evidence");
                return;
            }
        };
        let path = self.evidence_path.clone();
        match tokio::task::spawn_blocking(move || store::append_line(&path, &line)).await {
            Ok(Ok(())) => {
                if state.evidence_seen.len() >= EVIDENCE_MEMORY {
                    state.evidence_seen.clear();
                }
                state.evidence_seen.insert(seen);
            }
            Ok(Err(e)) => {
                tracing::error!(path = %self.evidence_path.display(), error = %e, "cannot write evidence")
            }
            Err(e) => tracing::error!(error = %e, "the evidence writer task failed"),
        }
    }
}

impl From<&Checkpoint> for Known {
    fn from(checkpoint: &Checkpoint) -> Self {
        Self {
            size: checkpoint.size,
            root: checkpoint.root,
        }
    }
}

/// Verifies the note against the log's trusted keys: accepted if one of them verifies it.
fn verify_checkpoint(note: &str, keys: &[VerifierKey]) -> Result<Checkpoint, Error> {
    let mut malformed = None;
    for key in keys {
        match Checkpoint::verify_note(note, key) {
            Ok(checkpoint) => return Ok(checkpoint),
            Err(sealpost_crypto::Error::Malformed(reason)) => malformed = Some(reason),
            Err(_) => {}
        }
    }
    Err(malformed.map_or(Error::BadSignature, Error::Malformed))
}

/// The body of an add-checkpoint request, as a log sends it.
pub fn request_body(old: u64, proof: &[Hash], checkpoint_note: &str) -> String {
    request::encode(old, proof, checkpoint_note)
}
