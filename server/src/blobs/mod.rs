//! The blob store: message headers (small) and payloads (ciphertext of any size) over
//! [`object_store`], either a local directory or any S3-compatible store.
//!
//! Guarantees:
//! - **Durability**: a call that returns `Ok` has its effect on stable storage (local files and
//!   their directories are fsynced; S3 acknowledges only stored data).
//! - **Constant memory** in the blob size: uploads arrive part by part (each at most
//!   [`BlobStore::part_size`] bytes), reads are streams of about [`READ_CHUNK`] bytes.
//! - **Resumable uploads whose state lives outside the process**: an upload is named by an
//!   [`UploadId`] and its parts by [`PartTag`]s, all plain strings the caller persists in the
//!   database; any replica, or the same one after a restart, continues the upload with them.
//!
//! Part tags are self-describing (`<index>.<length>.<backend tag>`), so that
//! [`BlobStore::complete_upload`] can check the part list (order, sizes, total) before it
//! publishes anything, identically on both backends.

mod local;
mod s3;

use std::fmt;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::StorageConfig;

use self::local::LocalBackend;
use self::s3::S3Backend;

/// Size of the pieces [`BlobStore::get_range`] yields from a local directory.
pub const READ_CHUNK: usize = 1024 * 1024;

/// Most parts one upload may have (S3's limit); part indexes are `0..MAX_PARTS`.
pub const MAX_PARTS: u32 = 10_000;

/// Longest [`BlobKey`], in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// Smallest part size S3 accepts for every part but the last.
pub const MIN_S3_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Largest part size S3 accepts.
pub const MAX_S3_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The blob, or the upload, does not exist.
    #[error("blob not found")]
    NotFound,
    /// The key (or an S3 prefix) is not a valid [`BlobKey`].
    #[error("invalid blob key")]
    InvalidKey,
    /// The part is longer than the part size, or its index is `MAX_PARTS` or more.
    #[error("part too large, or part index out of range")]
    PartTooLarge,
    /// A size does not match: the total length of an upload, a blob larger than the caller's
    /// limit (`expected` is the limit), or a range ending past the blob (`expected` is the end).
    #[error("wrong blob size: expected {expected} bytes, found {found}")]
    WrongSize {
        /// The size the caller stated (or the limit it set).
        expected: u64,
        /// The size the store has.
        found: u64,
    },
    /// The part list given to `complete_upload` is malformed, out of order, or has a part other
    /// than the last whose length is not the part size.
    #[error("invalid part list: {0}")]
    InvalidParts(&'static str),
    /// The backend failed or is misconfigured; the text is for logs only (never credentials).
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

impl BlobError {
    /// Maps an `object_store` error: not-found stays not-found, the rest is a backend failure.
    pub(crate) fn from_store(context: &str, err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::Unavailable(format!("{context}: {other}")),
        }
    }
}

/// A validated blob key: 1 to [`MAX_KEY_LEN`] characters of `[A-Za-z0-9_-]` and `/`, with no
/// leading or trailing `/` and no empty segment. (Dots are not allowed at all, so there are no
/// `.` or `..` segments either.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// Validates `key`.
    pub fn new(key: impl Into<String>) -> Result<Self, BlobError> {
        let key = key.into();
        if is_valid_key(&key) {
            Ok(Self(key))
        } else {
            Err(BlobError::InvalidKey)
        }
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BlobKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whether `key` satisfies the [`BlobKey`] rules (also used for S3 prefixes).
fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'/')
        && key.split('/').all(|segment| !segment.is_empty())
}

/// An upload in progress; opaque, persisted by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(pub String);

/// One stored part of an upload; opaque, persisted by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartTag(pub String);

/// A part tag taken apart.
#[derive(Debug)]
struct ParsedTag<'a> {
    index: u32,
    len: u64,
    inner: &'a str,
}

fn encode_tag(index: u32, len: u64, inner: &str) -> PartTag {
    PartTag(format!("{index}.{len}.{inner}"))
}

fn parse_tag(tag: &PartTag) -> Option<ParsedTag<'_>> {
    let mut fields = tag.0.splitn(3, '.');
    let index = fields.next()?.parse().ok()?;
    let len = fields.next()?.parse().ok()?;
    let inner = fields.next()?;
    Some(ParsedTag { index, len, inner })
}

/// Checks a part list: tags well-formed, indexes `0..n` in order, every part but the last exactly
/// `part_size` bytes, the last at most that, and the lengths summing to `total_len`.
fn check_parts(parts: &[PartTag], part_size: u64, total_len: u64) -> Result<Vec<ParsedTag<'_>>, BlobError> {
    if parts.len() > MAX_PARTS as usize {
        return Err(BlobError::InvalidParts("more than MAX_PARTS parts"));
    }
    let mut parsed = Vec::with_capacity(parts.len());
    let mut sum: u64 = 0;
    for (position, tag) in parts.iter().enumerate() {
        let part = parse_tag(tag).ok_or(BlobError::InvalidParts("malformed part tag"))?;
        if usize::try_from(part.index).ok() != Some(position) {
            return Err(BlobError::InvalidParts("parts out of order"));
        }
        let last = position + 1 == parts.len();
        if part.len > part_size || (!last && part.len != part_size) {
            return Err(BlobError::InvalidParts(
                "a part other than the last is not part_size bytes",
            ));
        }
        sum = sum.saturating_add(part.len);
        parsed.push(part);
    }
    if sum != total_len {
        return Err(BlobError::WrongSize {
            expected: total_len,
            found: sum,
        });
    }
    Ok(parsed)
}

/// Checks `put_part`'s arguments against the part limits.
fn check_part(index: u32, len: usize, part_size: u64) -> Result<(), BlobError> {
    if index >= MAX_PARTS || u64::try_from(len).map_or(true, |len| len > part_size) {
        return Err(BlobError::PartTooLarge);
    }
    Ok(())
}

/// The blob store. Cheap to clone (one `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    part_size: u64,
}

enum Backend {
    Local(LocalBackend),
    S3(S3Backend),
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("BlobStore");
        d.field("backend", &self.backend_name());
        match &self.inner.backend {
            Backend::Local(local) => d.field("dir", &local.root()),
            Backend::S3(s3) => d.field("bucket", &s3.bucket()).field("prefix", &s3.prefix()),
        };
        d.field("part_size", &self.inner.part_size).finish()
    }
}

/// Parameters of an S3 store (see [`BlobStore::s3`]).
#[derive(Clone, Default)]
pub struct S3Options<'a> {
    /// Bucket name.
    pub bucket: &'a str,
    /// Optional key prefix inside the bucket (same rules as a [`BlobKey`]; surrounding `/` are
    /// ignored).
    pub prefix: Option<&'a str>,
    /// Endpoint of an S3-compatible store (MinIO, moto, Ceph…); `None` for AWS.
    pub endpoint: Option<&'a str>,
    /// Region, e.g. `us-east-1`.
    pub region: &'a str,
    /// Access key id; `None` to take credentials from the `AWS_*` environment (web identity,
    /// container or instance credentials).
    pub access_key_id: Option<&'a str>,
    /// Secret access key.
    pub secret_access_key: Option<&'a str>,
    /// Allow a plain-HTTP endpoint (test servers only).
    pub allow_http: bool,
}

impl fmt::Debug for S3Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl BlobStore {
    /// Builds the store from configuration: `blob_url` `None` is the local directory
    /// `<data_dir>/blobs` (created); `file:///abs/path` is that directory (created);
    /// `s3://bucket[/prefix]` is S3 with the endpoint, region, credentials and `allow_http` of
    /// the configuration.
    pub async fn from_config(cfg: &StorageConfig) -> Result<Self, BlobError> {
        let part_size = cfg.part_size;
        match cfg.blob_url.as_deref() {
            None => {
                let dir = cfg.data_dir.join("blobs");
                tokio::task::spawn_blocking(move || Self::local(&dir, part_size))
                    .await
                    .map_err(|e| BlobError::Unavailable(format!("opening the blob directory: {e}")))?
            }
            Some(url) => {
                if let Some(path) = url.strip_prefix("file://") {
                    if !path.starts_with('/') {
                        return Err(BlobError::Unavailable(
                            "blob_url: a file:// URL needs an absolute path (file:///dir)".into(),
                        ));
                    }
                    let dir = std::path::PathBuf::from(path);
                    tokio::task::spawn_blocking(move || Self::local(&dir, part_size))
                        .await
                        .map_err(|e| BlobError::Unavailable(format!("opening the blob directory: {e}")))?
                } else if let Some(rest) = url.strip_prefix("s3://") {
                    let (bucket, prefix) = match rest.split_once('/') {
                        Some((bucket, prefix)) => (bucket, Some(prefix)),
                        None => (rest, None),
                    };
                    let access_key_id = cfg.s3_access_key_id.as_ref().map(|s| s.expose());
                    let secret_access_key = cfg.s3_secret_access_key.as_ref().map(|s| s.expose());
                    Self::s3(
                        &S3Options {
                            bucket,
                            prefix,
                            endpoint: cfg.s3_endpoint.as_deref(),
                            region: &cfg.s3_region,
                            access_key_id,
                            secret_access_key,
                            allow_http: cfg.s3_allow_http,
                        },
                        part_size,
                    )
                } else {
                    Err(BlobError::Unavailable(
                        "blob_url: unsupported scheme (expected file:///dir or s3://bucket[/prefix])".into(),
                    ))
                }
            }
        }
    }

    /// A store in the local directory `dir` (created if missing); `part_size` at least 1.
    ///
    /// Blocks on the file system briefly (creating and syncing directories).
    pub fn local(dir: &FsPath, part_size: u64) -> Result<Self, BlobError> {
        if part_size == 0 {
            return Err(BlobError::Unavailable("part_size must be at least 1 byte".into()));
        }
        Ok(Self::with_backend(Backend::Local(LocalBackend::open(dir)?), part_size))
    }

    /// A store in an S3 bucket; `part_size` between [`MIN_S3_PART_SIZE`] and
    /// [`MAX_S3_PART_SIZE`]. No request is made here (see [`BlobStore::check`]).
    pub fn s3(options: &S3Options<'_>, part_size: u64) -> Result<Self, BlobError> {
        if !(MIN_S3_PART_SIZE..=MAX_S3_PART_SIZE).contains(&part_size) {
            return Err(BlobError::Unavailable(format!(
                "part_size must be between {MIN_S3_PART_SIZE} and {MAX_S3_PART_SIZE} bytes for S3"
            )));
        }
        Ok(Self::with_backend(Backend::S3(S3Backend::new(options)?), part_size))
    }

    fn with_backend(backend: Backend, part_size: u64) -> Self {
        Self {
            inner: Arc::new(Inner { backend, part_size }),
        }
    }

    /// Size of every part but the last (the last is at most this).
    pub fn part_size(&self) -> u64 {
        self.inner.part_size
    }

    /// `"local"` or `"s3"`.
    pub fn backend_name(&self) -> &'static str {
        match self.inner.backend {
            Backend::Local(_) => "local",
            Backend::S3(_) => "s3",
        }
    }

    fn object_store(&self) -> &dyn ObjectStore {
        match &self.inner.backend {
            Backend::Local(local) => local.object_store(),
            Backend::S3(s3) => s3.object_store(),
        }
    }

    fn location(&self, key: &BlobKey) -> Result<ObjectPath, BlobError> {
        match &self.inner.backend {
            Backend::Local(_) => ObjectPath::parse(key.as_str()).map_err(|_| BlobError::InvalidKey),
            Backend::S3(s3) => s3.location(key),
        }
    }

    /// Creates or replaces the blob `key` with `data` in one request; durable when it returns.
    pub async fn put_small(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError> {
        let location = self.location(key)?;
        self.object_store()
            .put(&location, PutPayload::from(data))
            .await
            .map_err(|e| BlobError::from_store("put", e))?;
        Ok(())
    }

    /// Reads the whole blob `key`, refusing (with [`BlobError::WrongSize`], `expected` being the
    /// limit) one longer than `max_len` bytes before reading it.
    pub async fn get_small(&self, key: &BlobKey, max_len: u64) -> Result<Bytes, BlobError> {
        let location = self.location(key)?;
        let result = self
            .object_store()
            .get(&location)
            .await
            .map_err(|e| BlobError::from_store("get", e))?;
        let size = result.meta.size;
        if size > max_len {
            return Err(BlobError::WrongSize {
                expected: max_len,
                found: size,
            });
        }
        let data = result.bytes().await.map_err(|e| BlobError::from_store("get", e))?;
        if data.len() as u64 != size {
            return Err(BlobError::Unavailable("get: the blob changed while being read".into()));
        }
        Ok(data)
    }

    /// Starts a resumable upload of `key`. Nothing is visible at `key` until
    /// [`BlobStore::complete_upload`].
    pub async fn begin_upload(&self, key: &BlobKey) -> Result<UploadId, BlobError> {
        match &self.inner.backend {
            Backend::Local(local) => local.begin_upload(key).await,
            Backend::S3(s3) => s3.begin_upload(key).await,
        }
    }

    /// Stores part `index` (0-based) of an upload; durable when it returns. `data.len()` must be
    /// the part size except for the last part (the caller knows which one that is); longer parts
    /// and indexes of [`MAX_PARTS`] or more are [`BlobError::PartTooLarge`]. Putting the same
    /// index again replaces the part (idempotent retry); parts may arrive in any order and from
    /// any replica. An unknown (completed, aborted) upload is [`BlobError::NotFound`].
    pub async fn put_part(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        index: u32,
        data: Bytes,
    ) -> Result<PartTag, BlobError> {
        check_part(index, data.len(), self.inner.part_size)?;
        match &self.inner.backend {
            Backend::Local(local) => local.put_part(key, upload, index, self.inner.part_size, data).await,
            Backend::S3(s3) => s3.put_part(key, upload, index, data).await,
        }
    }

    /// Publishes `key` from `parts` (the tags of parts `0..n`, in order), checking that they add
    /// up to `total_len` bytes ([`BlobError::WrongSize`] otherwise, with the upload left intact).
    /// Durable when it returns. Idempotent: if the upload is gone but `key` exists with
    /// `total_len` bytes (a retry after a crash between publishing and the caller's
    /// bookkeeping), returns `Ok`.
    ///
    /// The caller must not put parts of the same upload while completing it.
    pub async fn complete_upload(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        parts: &[PartTag],
        total_len: u64,
    ) -> Result<(), BlobError> {
        let parsed = check_parts(parts, self.inner.part_size, total_len)?;
        match &self.inner.backend {
            Backend::Local(local) => local.complete_upload(key, upload, total_len).await,
            Backend::S3(s3) => {
                let inner: Vec<&str> = parsed.iter().map(|p| p.inner).collect();
                s3.complete_upload(key, upload, &inner, total_len).await
            }
        }
    }

    /// Discards an upload and its parts; `Ok` if it is already gone.
    pub async fn abort_upload(&self, key: &BlobKey, upload: &UploadId) -> Result<(), BlobError> {
        match &self.inner.backend {
            Backend::Local(local) => local.abort_upload(key, upload).await,
            Backend::S3(s3) => s3.abort_upload(key, upload).await,
        }
    }

    /// The size of blob `key` in bytes.
    pub async fn size(&self, key: &BlobKey) -> Result<u64, BlobError> {
        let location = self.location(key)?;
        let meta = self
            .object_store()
            .head(&location)
            .await
            .map_err(|e| BlobError::from_store("head", e))?;
        Ok(meta.size)
    }

    /// Streams bytes `[range.start, range.end)` of blob `key`: from a local directory in pieces
    /// of [`READ_CHUNK`] bytes (the last shorter), from S3 as they arrive. Errors after the
    /// stream started are stream items (and end the stream). A range ending past the blob is
    /// [`BlobError::WrongSize`] (`expected` = `range.end`); an empty range (`start >= end`) gives
    /// an empty stream once the blob is known to exist.
    pub async fn get_range(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        match &self.inner.backend {
            Backend::Local(local) => local.get_range(key, range).await,
            Backend::S3(s3) => s3.get_range(key, range).await,
        }
    }

    /// Deletes blob `key`; durable when it returns; `Ok` if it is absent.
    pub async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match &self.inner.backend {
            Backend::Local(local) => local.delete(key).await,
            Backend::S3(s3) => s3.delete(key).await,
        }
    }

    /// Readiness probe: `Ok` when the store answers (the local directories exist; the bucket
    /// can be listed).
    pub async fn check(&self) -> Result<(), BlobError> {
        match &self.inner.backend {
            Backend::Local(local) => local.check().await,
            Backend::S3(s3) => s3.check().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for good in ["a", "a/b", "msg/0123-abc_DEF/payload-1", &"x".repeat(MAX_KEY_LEN)] {
            assert!(BlobKey::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            ".",
            "..",
            "a/./b",
            "a/../b",
            "a.b",
            "a b",
            "a\\b",
            "é",
            "a#1",
            &"x".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(matches!(BlobKey::new(bad), Err(BlobError::InvalidKey)), "{bad:?}");
        }
    }

    #[test]
    fn tags_round_trip_and_part_checks() {
        let tag = encode_tag(7, 42, "\"etag.with.dots\"");
        let parsed = parse_tag(&tag).unwrap();
        assert_eq!((parsed.index, parsed.len, parsed.inner), (7, 42, "\"etag.with.dots\""));
        assert!(parse_tag(&PartTag("x.1.a".into())).is_none());
        assert!(parse_tag(&PartTag("1.2".into())).is_none());

        let parts = [encode_tag(0, 10, "a"), encode_tag(1, 10, "b"), encode_tag(2, 3, "c")];
        assert_eq!(check_parts(&parts, 10, 23).unwrap().len(), 3);
        assert!(matches!(
            check_parts(&parts, 10, 24),
            Err(BlobError::WrongSize {
                expected: 24,
                found: 23
            })
        ));
        let swapped = [parts[1].clone(), parts[0].clone(), parts[2].clone()];
        assert!(matches!(check_parts(&swapped, 10, 23), Err(BlobError::InvalidParts(_))));
        let short_middle = [encode_tag(0, 10, "a"), encode_tag(1, 9, "b"), encode_tag(2, 3, "c")];
        assert!(matches!(
            check_parts(&short_middle, 10, 22),
            Err(BlobError::InvalidParts(_))
        ));
        assert!(check_parts(&[], 10, 0).unwrap().is_empty());

        assert!(check_part(0, 10, 10).is_ok());
        assert!(matches!(check_part(0, 11, 10), Err(BlobError::PartTooLarge)));
        assert!(matches!(check_part(MAX_PARTS, 1, 10), Err(BlobError::PartTooLarge)));
    }
}
