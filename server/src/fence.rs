//! The revocation fence: an append-only record, kept **outside the backup set**, of every
//! revocation, deletion and change of expiry or scheduled revocation a sender was told had
//! happened. A database restored from an old backup does not know about them; the fence does,
//! so the server re-applies them at start-up ([`crate::domain::fence::apply`]) and refuses a
//! release the fence forbids even before that ([`crate::domain::fence::check_release`]).
//!
//! The fence is a directory (default `<data_dir>/fence`, or `storage.fence_url =
//! "file:///dir"`) or an S3 prefix (`storage.fence_url = "s3://bucket[/prefix]"`, with the
//! endpoint and credentials of `[storage]`), shared by every replica. Every entry is one small
//! immutable object whose **name carries all of it**, so a listing is enough to read the fence
//! and two replicas (or a retry) writing the same entry write the same name:
//!
//! | name                                   | meaning                                           |
//! |----------------------------------------|---------------------------------------------------|
//! | `<message>/revoked`                    | the whole message was revoked                     |
//! | `<message>/deleted`                    | the message was deleted                           |
//! | `<message>/r/<rid>/revoked`            | this recipient was revoked                        |
//! | `<message>/expiry/<changed>-<to>`      | at `<changed>` (ms) the expiry was set to `<to>`  |
//! | `<message>/revoke_at/<changed>-<at>`   | at `<changed>` a revocation was scheduled at `<at>` |
//! | `<message>/r/<rid>/revoke_at/<changed>-<at>` | the same for one recipient                  |
//!
//! The body is a short JSON document for people reading the directory; nothing reads it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::StorageConfig;

/// A fence failure: the fence cannot be read or written. The text is for logs only.
#[derive(Debug, thiserror::Error)]
#[error("revocation fence unavailable: {0}")]
pub struct FenceError(pub String);

/// What one fence entry says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// The whole message was revoked.
    Revoked,
    /// The message was deleted.
    Deleted,
    /// One recipient was revoked.
    RecipientRevoked(String),
    /// The expiry was set to `to` at `changed` (ms since the epoch).
    Expiry {
        /// When the change was made.
        changed: i64,
        /// The new expiry.
        to: i64,
    },
    /// A revocation of the message (`rid` None) or of one recipient was scheduled at `at`.
    RevokeAt {
        /// The recipient, or None for the whole message.
        rid: Option<String>,
        /// When the change was made.
        changed: i64,
        /// When the revocation takes effect.
        at: i64,
    },
}

impl Entry {
    /// The object name of this entry, relative to the fence root.
    fn name(&self, message_id: &str) -> String {
        match self {
            Entry::Revoked => format!("{message_id}/revoked"),
            Entry::Deleted => format!("{message_id}/deleted"),
            Entry::RecipientRevoked(rid) => format!("{message_id}/r/{rid}/revoked"),
            Entry::Expiry { changed, to } => format!("{message_id}/expiry/{changed}-{to}"),
            Entry::RevokeAt { rid: None, changed, at } => format!("{message_id}/revoke_at/{changed}-{at}"),
            Entry::RevokeAt {
                rid: Some(rid),
                changed,
                at,
            } => format!("{message_id}/r/{rid}/revoke_at/{changed}-{at}"),
        }
    }

    /// Parses a name relative to the fence root into (message id, entry).
    fn parse(name: &str) -> Option<(String, Entry)> {
        let parts: Vec<&str> = name.split('/').collect();
        let times = |s: &str| -> Option<(i64, i64)> {
            let (a, b) = s.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        let id_ok = |s: &str| crate::ids::is_id(s);
        let entry = match parts.as_slice() {
            [_, "revoked"] => Entry::Revoked,
            [_, "deleted"] => Entry::Deleted,
            [_, "r", rid, "revoked"] if id_ok(rid) => Entry::RecipientRevoked((*rid).to_owned()),
            [_, "expiry", t] => {
                let (changed, to) = times(t)?;
                Entry::Expiry { changed, to }
            }
            [_, "revoke_at", t] => {
                let (changed, at) = times(t)?;
                Entry::RevokeAt { rid: None, changed, at }
            }
            [_, "r", rid, "revoke_at", t] if id_ok(rid) => {
                let (changed, at) = times(t)?;
                Entry::RevokeAt {
                    rid: Some((*rid).to_owned()),
                    changed,
                    at,
                }
            }
            _ => return None,
        };
        let m = parts.first()?;
        id_ok(m).then(|| ((*m).to_owned(), entry))
    }
}

/// The fence store. Cheap to clone.
#[derive(Clone)]
pub struct Fence {
    store: Arc<dyn ObjectStore>,
    prefix: Option<String>,
    describe: String,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence").field("at", &self.describe).finish()
    }
}

impl Fence {
    /// From configuration: `storage.fence_url` (`file:///dir` or `s3://bucket[/prefix]`), or
    /// the directory `<data_dir>/fence`.
    pub fn from_config(cfg: &StorageConfig) -> Result<Self, FenceError> {
        match cfg.fence_url.as_deref() {
            None => Self::local(&cfg.data_dir.join("fence")),
            Some(url) => {
                if let Some(path) = url.strip_prefix("file://") {
                    if !path.starts_with('/') {
                        return Err(FenceError(
                            "fence_url: a file:// URL needs an absolute path (file:///dir)".into(),
                        ));
                    }
                    Self::local(Path::new(path))
                } else if let Some(rest) = url.strip_prefix("s3://") {
                    let (bucket, prefix) = match rest.split_once('/') {
                        Some((bucket, prefix)) => (bucket, Some(prefix.trim_matches('/'))),
                        None => (rest, None),
                    };
                    if bucket.is_empty() {
                        return Err(FenceError("fence_url: the bucket name is empty".into()));
                    }
                    let mut builder = AmazonS3Builder::from_env()
                        .with_bucket_name(bucket)
                        .with_region(&cfg.s3_region)
                        .with_allow_http(cfg.s3_allow_http)
                        .with_virtual_hosted_style_request(false);
                    if let Some(endpoint) = &cfg.s3_endpoint {
                        builder = builder.with_endpoint(endpoint);
                    }
                    if let Some(id) = &cfg.s3_access_key_id {
                        builder = builder.with_access_key_id(id.expose());
                    }
                    if let Some(secret) = &cfg.s3_secret_access_key {
                        builder = builder.with_secret_access_key(secret.expose());
                    }
                    let store = builder
                        .build()
                        .map_err(|_| FenceError("fence_url: invalid S3 configuration".into()))?;
                    Ok(Self {
                        store: Arc::new(store),
                        prefix: prefix.filter(|p| !p.is_empty()).map(str::to_owned),
                        describe: url.to_owned(),
                    })
                } else {
                    Err(FenceError(
                        "fence_url: unsupported scheme (expected file:///dir or s3://bucket[/prefix])".into(),
                    ))
                }
            }
        }
    }

    /// A fence in the local directory `dir` (created).
    pub fn local(dir: &Path) -> Result<Self, FenceError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| FenceError(format!("cannot create the fence directory {}: {e}", dir.display())))?;
        let root: PathBuf = std::fs::canonicalize(dir)
            .map_err(|e| FenceError(format!("cannot open the fence directory {}: {e}", dir.display())))?;
        let fs = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| FenceError(format!("cannot open the fence directory: {e}")))?
            .with_fsync(true);
        Ok(Self {
            store: Arc::new(fs),
            prefix: None,
            describe: format!("file://{}", root.display()),
        })
    }

    /// Where the fence is (for logs).
    pub fn location(&self) -> &str {
        &self.describe
    }

    fn path(&self, name: &str) -> Result<ObjectPath, FenceError> {
        let full = match &self.prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.to_owned(),
        };
        ObjectPath::parse(full).map_err(|_| FenceError("invalid fence entry name".into()))
    }

    fn relative<'a>(&self, location: &'a str) -> Option<&'a str> {
        match &self.prefix {
            Some(p) => location.strip_prefix(p.as_str())?.strip_prefix('/'),
            None => Some(location),
        }
    }

    /// Writes one entry durably (the call returns once the store has it). Idempotent.
    pub async fn write(&self, message_id: &str, entry: &Entry, now: i64) -> Result<(), FenceError> {
        let location = self.path(&entry.name(message_id))?;
        let body = serde_json::json!({
            "v": 1,
            "message": message_id,
            "entry": format!("{entry:?}"),
            "written_at": crate::clock::to_rfc3339(now),
        })
        .to_string();
        self.store
            .put(&location, PutPayload::from(body.into_bytes()))
            .await
            .map_err(|e| FenceError(format!("write: {e}")))?;
        Ok(())
    }

    /// The entries of one message (one listing request).
    pub async fn for_message(&self, message_id: &str) -> Result<Vec<Entry>, FenceError> {
        Ok(self
            .list(Some(message_id))
            .await?
            .remove(message_id)
            .unwrap_or_default())
    }

    /// Every entry, by message.
    pub async fn all(&self) -> Result<BTreeMap<String, Vec<Entry>>, FenceError> {
        self.list(None).await
    }

    async fn list(&self, under: Option<&str>) -> Result<BTreeMap<String, Vec<Entry>>, FenceError> {
        let prefix = match (&self.prefix, under) {
            (None, None) => None,
            (Some(p), None) => Some(ObjectPath::parse(p).map_err(|_| FenceError("invalid fence prefix".into()))?),
            (_, Some(m)) => Some(self.path(m)?),
        };
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| FenceError(format!("list: {e}")))?;
        let mut out: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        for meta in objects {
            let location = meta.location.to_string();
            let Some(name) = self.relative(&location) else { continue };
            match Entry::parse(name) {
                Some((m, entry)) => out.entry(m).or_default().push(entry),
                None => tracing::warn!(name, "ignoring an object in the fence that is not a fence entry"),
            }
        }
        for entries in out.values_mut() {
            entries.sort();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "AAAAAAAAAAAAAAAAAAAAAA";
    // 22 characters of canonical base64url: the last one carries 2 bits, so it must be A, Q, g or w.
    const R: &str = "BBBBBBBBBBBBBBBBBBBBBA";

    #[test]
    fn names_round_trip() {
        for e in [
            Entry::Revoked,
            Entry::Deleted,
            Entry::RecipientRevoked(R.into()),
            Entry::Expiry { changed: 5, to: 9 },
            Entry::RevokeAt {
                rid: None,
                changed: 1,
                at: 2,
            },
            Entry::RevokeAt {
                rid: Some(R.into()),
                changed: 3,
                at: 4,
            },
        ] {
            assert_eq!(Entry::parse(&e.name(M)), Some((M.to_owned(), e)));
        }
        assert_eq!(Entry::parse("x/revoked"), None);
        assert_eq!(Entry::parse(&format!("{M}/expiry/1")), None);
        assert_eq!(Entry::parse(&format!("{M}/other")), None);
    }

    #[tokio::test]
    async fn a_local_fence_lists_what_was_written_and_writes_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let fence = Fence::local(&dir.path().join("f")).unwrap();
        assert!(fence.for_message(M).await.unwrap().is_empty());
        assert!(fence.all().await.unwrap().is_empty());
        fence.write(M, &Entry::Revoked, 1).await.unwrap();
        fence.write(M, &Entry::Revoked, 2).await.unwrap();
        fence.write(M, &Entry::RecipientRevoked(R.into()), 2).await.unwrap();
        assert_eq!(
            fence.for_message(M).await.unwrap(),
            vec![Entry::Revoked, Entry::RecipientRevoked(R.into())]
        );
        assert_eq!(fence.all().await.unwrap().len(), 1);
        assert!(fence.for_message(R).await.unwrap().is_empty());
    }
}
