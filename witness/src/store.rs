//! Durable state: the latest cosigned size and root hash of each log, in one JSON file replaced
//! atomically, and the append-only evidence file.
//!
//! The state file maps each origin to its latest cosigned checkpoint:
//!
//! ```json
//! {"sealpost.example/access-log":{"size":20,"root":"<standard base64 with padding>"}}
//! ```
//!
//! It is written to a temporary file in the same directory, which is fsynced, renamed over the
//! old file, and then the directory is fsynced, so that after a crash the file holds either the
//! old or the new state, and a cosignature is never returned for a state that could be lost.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::merkle::Hash;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The latest checkpoint cosigned for one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
}

/// One log in the state file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredLog {
    size: u64,
    root: String,
}

/// Reads the state file; `None` if it does not exist.
pub(crate) fn load(path: &Path) -> Result<Option<BTreeMap<String, Known>>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot read the state file {}: {e}",
                path.display()
            )));
        }
    };
    let stored: BTreeMap<String, StoredLog> = serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("the state file {} is not valid: {e}", path.display())))?;
    let mut logs = BTreeMap::new();
    for (origin, log) in stored {
        let root = STANDARD
            .decode(&log.root)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| {
                Error::Config(format!(
                    "the state file {} holds a root hash for {origin:?} that is not the base64 of 32 bytes",
                    path.display()
                ))
            })?;
        logs.insert(origin, Known { size: log.size, root });
    }
    Ok(Some(logs))
}

/// The state file's contents for `logs`.
pub(crate) fn serialize(logs: &BTreeMap<String, Known>) -> Result<Vec<u8>, Error> {
    let stored: BTreeMap<&str, StoredLog> = logs
        .iter()
        .map(|(origin, known)| {
            (
                origin.as_str(),
                StoredLog {
                    size: known.size,
                    root: STANDARD.encode(known.root),
                },
            )
        })
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&stored).map_err(|e| Error::Storage(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Replaces the file at `path` with `contents` durably (blocking): temporary file in the same
/// directory, fsync, rename, fsync of the directory.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let storage = |what: &str, e: io::Error| Error::Storage(format!("{what} {}: {e}", path.display()));
    let temporary = temporary_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(storage("cannot write the temporary file for", e));
    }
    if let Err(e) = std::fs::rename(&temporary, path) {
        let _ = std::fs::remove_file(&temporary);
        return Err(storage("cannot replace", e));
    }
    sync_parent(path).map_err(|e| storage("cannot sync the directory of", e))
}

/// `<path>.tmp`, beside the file so that the rename is atomic.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Fsyncs the directory holding `path`, making a rename or a creation in it durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Appends one line to the evidence file (blocking), creating it if needed, and fsyncs it.
pub(crate) fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let existed = path.exists();
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_data()?;
    if !existed {
        sync_parent(path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(load(&path).unwrap(), None);
        let mut logs = BTreeMap::new();
        logs.insert("a.example/log".to_owned(), Known { size: 7, root: [9; 32] });
        logs.insert("b.example/log".to_owned(), Known { size: 0, root: [0; 32] });
        write_atomically(&path, &serialize(&logs).unwrap()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(logs.clone()));
        assert!(!temporary_path(&path).exists());
        logs.clear();
        write_atomically(&path, &serialize(&logs).unwrap()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(logs));

        for bad in [
            "",
            "[]",
            r#"{"a":{"size":1}}"#,
            r#"{"a":{"size":-1,"root":"AAAA"}}"#,
            r#"{"a":{"size":1,"root":"AAAA"}}"#,
            r#"{"a":{"size":1,"root":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=","x":1}}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(matches!(load(&path), Err(Error::Config(_))), "accepted {bad:?}");
        }
    }

    #[test]
    fn evidence_lines_are_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evidence.jsonl");
        append_line(&path, "{\"a\":1}").unwrap();
        append_line(&path, "{\"a\":2}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    }
}
