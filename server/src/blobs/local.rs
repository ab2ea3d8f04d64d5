//! The local-directory backend.
//!
//! Objects are files at the paths [`LocalFileSystem`] gives their keys (`<root>/<key>`), written
//! through it with fsync. `LocalFileSystem` has no resumable multipart API, so uploads are
//! staging files `<root>/.uploads/<key hash>-<upload id>` written part by part at offset
//! `index * part_size`, then renamed into place. Keys cannot contain `.`, so no key reaches the
//! staging directory. Reads bypass `object_store`'s 8 KiB file stream: they read
//! [`READ_CHUNK`] bytes per blocking task, one piece ahead.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use sha2::{Digest, Sha256};

use super::{BlobError, BlobKey, PartTag, READ_CHUNK, UploadId, encode_tag};

/// Name of the staging directory under the root.
const UPLOADS_DIR: &str = ".uploads";

/// Bytes of randomness in an upload id.
const UPLOAD_ID_BYTES: usize = 16;

/// Length of an upload id: base64url without padding of [`UPLOAD_ID_BYTES`].
const UPLOAD_ID_LEN: usize = 22;

/// Attempts at publishing when a concurrent delete removes the (empty) parent directory.
const PUBLISH_ATTEMPTS: usize = 8;

/// Pieces read ahead of the consumer by a range stream.
const READ_AHEAD: usize = 2;

pub(super) struct LocalBackend {
    fs: LocalFileSystem,
    root: PathBuf,
    uploads: PathBuf,
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T, F>(what: &'static str, work: F) -> Result<T, BlobError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::Unavailable(format!("{what}: blocking task failed: {e}")))?
}

fn io_error(what: &str, err: io::Error) -> BlobError {
    BlobError::Unavailable(format!("{what}: {err}"))
}

/// `NotFound` for a missing file, `Unavailable` otherwise.
fn io_error_or_not_found(what: &str, err: io::Error) -> BlobError {
    if err.kind() == ErrorKind::NotFound {
        BlobError::NotFound
    } else {
        io_error(what, err)
    }
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn fsync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => fsync_dir(parent),
        None => Ok(()),
    }
}

/// Creates `dir` and its missing ancestors, fsyncing every new directory and the first existing
/// ancestor, so the new entries survive a crash.
fn create_dirs_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut existing = Some(dir);
    while let Some(d) = existing {
        if d.exists() {
            break;
        }
        missing.push(d);
        existing = d.parent();
    }
    fs::create_dir_all(dir)?;
    for d in missing.iter().chain(existing.as_ref()) {
        fsync_dir(d)?;
    }
    Ok(())
}

impl LocalBackend {
    /// Opens (creating) the directory `dir` and its staging directory.
    pub(super) fn open(dir: &Path) -> Result<Self, BlobError> {
        create_dirs_durably(dir).map_err(|e| io_error("creating the blob directory", e))?;
        let root = fs::canonicalize(dir).map_err(|e| io_error("opening the blob directory", e))?;
        let uploads = root.join(UPLOADS_DIR);
        create_dirs_durably(&uploads).map_err(|e| io_error("creating the upload directory", e))?;
        let fs = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| BlobError::from_store("opening the blob directory", e))?
            .with_fsync(true);
        Ok(Self { fs, root, uploads })
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn object_store(&self) -> &dyn ObjectStore {
        &self.fs
    }

    /// The file of `key`, exactly where [`LocalFileSystem`] looks for it.
    fn object_path(&self, key: &BlobKey) -> Result<PathBuf, BlobError> {
        let location = ObjectPath::parse(key.as_str()).map_err(|_| BlobError::InvalidKey)?;
        let path = self
            .fs
            .path_to_filesystem(&location)
            .map_err(|_| BlobError::InvalidKey)?;
        if path.starts_with(&self.root) {
            Ok(path)
        } else {
            Err(BlobError::InvalidKey)
        }
    }

    /// The staging file of `upload` for `key`. The key's hash binds the upload to its key; a
    /// malformed upload id names no upload (`NotFound`).
    fn staging_path(&self, key: &BlobKey, upload: &UploadId) -> Result<PathBuf, BlobError> {
        let id = &upload.0;
        let well_formed =
            id.len() == UPLOAD_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(BlobError::NotFound);
        }
        let key_hash = Sha256::digest(key.as_str().as_bytes());
        let key_hash = URL_SAFE_NO_PAD.encode(&key_hash[..16]);
        Ok(self.uploads.join(format!("{key_hash}-{id}")))
    }

    pub(super) async fn begin_upload(&self, key: &BlobKey) -> Result<UploadId, BlobError> {
        let mut raw = [0u8; UPLOAD_ID_BYTES];
        getrandom::fill(&mut raw).map_err(|e| BlobError::Unavailable(format!("begin upload: randomness: {e}")))?;
        let upload = UploadId(URL_SAFE_NO_PAD.encode(raw));
        let staging = self.staging_path(key, &upload)?;
        let uploads = self.uploads.clone();
        blocking("begin upload", move || {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staging)
                .map_err(|e| io_error("begin upload", e))?;
            file.sync_all().map_err(|e| io_error("begin upload", e))?;
            fsync_dir(&uploads).map_err(|e| io_error("begin upload", e))
        })
        .await?;
        Ok(upload)
    }

    pub(super) async fn put_part(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        index: u32,
        part_size: u64,
        data: Bytes,
    ) -> Result<PartTag, BlobError> {
        let offset = u64::from(index).checked_mul(part_size).ok_or(BlobError::PartTooLarge)?;
        let staging = self.staging_path(key, upload)?;
        blocking("put part", move || {
            let file = OpenOptions::new()
                .write(true)
                .open(&staging)
                .map_err(|e| io_error_or_not_found("put part", e))?;
            file.write_all_at(&data, offset).map_err(|e| io_error("put part", e))?;
            file.sync_data().map_err(|e| io_error("put part", e))?;
            // The part's SHA-256 was checked (and is recorded) by the caller; hashing it again here
            // cost a quarter of the server's CPU per byte (docs/PERFORMANCE.md). Local parts are
            // identified by index and length alone.
            Ok(encode_tag(index, data.len() as u64, "local"))
        })
        .await
    }

    /// Publishes the staging file (its parts were checked by the caller to sum to `total_len`).
    pub(super) async fn complete_upload(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        total_len: u64,
    ) -> Result<(), BlobError> {
        let staging = self.staging_path(key, upload)?;
        let dest = self.object_path(key)?;
        let uploads = self.uploads.clone();
        blocking("complete upload", move || {
            let file = match OpenOptions::new().write(true).open(&staging) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::NotFound => return already_published(&dest, total_len),
                Err(e) => return Err(io_error("complete upload", e)),
            };
            let len = file.metadata().map_err(|e| io_error("complete upload", e))?.len();
            if len < total_len {
                return Err(BlobError::WrongSize {
                    expected: total_len,
                    found: len,
                });
            }
            if len > total_len {
                // Only the last part may have been re-put shorter; every other part was checked
                // to be exactly part_size, so the excess is stale bytes past the end.
                file.set_len(total_len).map_err(|e| io_error("complete upload", e))?;
            }
            file.sync_all().map_err(|e| io_error("complete upload", e))?;
            drop(file);
            publish(&staging, &dest)?;
            fsync_dir(&uploads).map_err(|e| io_error("complete upload", e))
        })
        .await
    }

    pub(super) async fn abort_upload(&self, key: &BlobKey, upload: &UploadId) -> Result<(), BlobError> {
        let staging = match self.staging_path(key, upload) {
            Ok(path) => path,
            Err(BlobError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        let uploads = self.uploads.clone();
        blocking("abort upload", move || match fs::remove_file(&staging) {
            Ok(()) => fsync_dir(&uploads).map_err(|e| io_error("abort upload", e)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("abort upload", e)),
        })
        .await
    }

    pub(super) async fn get_range(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let path = self.object_path(key)?;
        let want = range.clone();
        let file = blocking("get range", move || {
            let file = File::open(&path).map_err(|e| io_error_or_not_found("get range", e))?;
            let meta = file.metadata().map_err(|e| io_error("get range", e))?;
            if !meta.is_file() {
                return Err(BlobError::NotFound);
            }
            if want.start < want.end && want.end > meta.len() {
                return Err(BlobError::WrongSize {
                    expected: want.end,
                    found: meta.len(),
                });
            }
            Ok(file)
        })
        .await?;
        if range.start >= range.end {
            return Ok(stream::empty().boxed());
        }
        let file = Arc::new(file);
        let end = range.end;
        let pieces = (range.start..end).step_by(READ_CHUNK).map(move |offset| {
            // READ_CHUNK fits in u64 and the piece is at most READ_CHUNK, so these never truncate.
            let len = (end - offset).min(READ_CHUNK as u64) as usize;
            (offset, len)
        });
        let reads = stream::iter(pieces)
            .map(move |(offset, len)| {
                let file = Arc::clone(&file);
                blocking("read", move || {
                    let mut buf = vec![0u8; len];
                    file.read_exact_at(&mut buf, offset).map_err(|e| io_error("read", e))?;
                    Ok(Bytes::from(buf))
                })
            })
            .buffered(READ_AHEAD);
        Ok(end_after_error(reads))
    }

    pub(super) async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.object_path(key)?;
        let root = self.root.clone();
        blocking("delete", move || {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                // A directory (a key that is only a prefix of others) is not a blob.
                Err(_) if path.is_dir() => return Ok(()),
                Err(e) => return Err(io_error("delete", e)),
            }
            match fsync_parent(&path) {
                Ok(()) => {}
                // Another deletion (another replica's sweeper, say) removed the emptied parent
                // directory meanwhile: the entry is gone with it, and that removal is its own.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("delete", e)),
            }
            // Remove the directories the deletion left empty, up to the root. Failing to (a
            // directory still in use, or being filled concurrently) is normal.
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == root || !d.starts_with(&root) || fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn check(&self) -> Result<(), BlobError> {
        let root = self.root.clone();
        let uploads = self.uploads.clone();
        blocking("check", move || {
            for dir in [&root, &uploads] {
                let meta = fs::metadata(dir).map_err(|e| io_error("check", e))?;
                if !meta.is_dir() {
                    return Err(BlobError::Unavailable(
                        "check: the blob directory is not a directory".into(),
                    ));
                }
            }
            Ok(())
        })
        .await
    }
}

/// The staging file is gone: `Ok` if `dest` was published with `total_len` bytes (a retried
/// completion; its directory entry is synced again in case the crash came before), else the
/// upload is unknown.
fn already_published(dest: &Path, total_len: u64) -> Result<(), BlobError> {
    match fs::metadata(dest) {
        Ok(meta) if meta.is_file() && meta.len() == total_len => {
            fsync_parent(dest).map_err(|e| io_error("complete upload", e))
        }
        Ok(_) => Err(BlobError::NotFound),
        Err(e) => Err(io_error_or_not_found("complete upload", e)),
    }
}

/// Renames the synced staging file onto `dest` (replacing it), creating parent directories, and
/// syncs the directories involved.
fn publish(staging: &Path, dest: &Path) -> Result<(), BlobError> {
    let parent = dest
        .parent()
        .ok_or_else(|| BlobError::Unavailable("complete upload: destination has no parent".into()))?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        create_dirs_durably(parent).map_err(|e| io_error("complete upload", e))?;
        match fs::rename(staging, dest) {
            Ok(()) => break,
            // A concurrent delete removed the freshly created (empty) parent: create it again.
            Err(e) if e.kind() == ErrorKind::NotFound && attempts < PUBLISH_ATTEMPTS && staging.exists() => {}
            Err(e) => return Err(io_error_or_not_found("complete upload", e)),
        }
    }
    fsync_dir(parent).map_err(|e| io_error("complete upload", e))
}

/// Ends `stream` after its first error.
pub(super) fn end_after_error(
    stream: impl futures::Stream<Item = Result<Bytes, BlobError>> + Send + 'static,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    stream
        .scan(false, |failed, item| {
            let out = if *failed {
                None
            } else {
                *failed = item.is_err();
                Some(item)
            };
            futures::future::ready(out)
        })
        .boxed()
}
