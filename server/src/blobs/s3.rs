//! The S3 backend: objects and multipart uploads of `object_store`'s Amazon S3 client. An
//! upload id is S3's `UploadId`; a part's backend tag is its ETag.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

use super::local::end_after_error;
use super::{BlobError, BlobKey, PartTag, S3Options, UploadId, encode_tag, is_valid_key};

/// Directory-like prefix listed by the readiness probe (normally empty).
const PROBE_PREFIX: &str = "sealpost-readiness-probe";

pub(super) struct S3Backend {
    store: AmazonS3,
    bucket: String,
    prefix: Option<String>,
}

impl S3Backend {
    pub(super) fn new(options: &S3Options<'_>) -> Result<Self, BlobError> {
        if options.bucket.is_empty() {
            return Err(BlobError::Unavailable("S3: the bucket name is empty".into()));
        }
        let prefix = match options.prefix.map(|p| p.trim_matches('/')) {
            None | Some("") => None,
            Some(p) if is_valid_key(p) => Some(p.to_owned()),
            Some(_) => return Err(BlobError::InvalidKey),
        };
        // The `AWS_*` environment supplies what the options leave unset (session tokens,
        // web-identity or container credentials); the options win.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(options.bucket)
            .with_region(options.region)
            .with_allow_http(options.allow_http)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = options.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key_id) = options.access_key_id {
            builder = builder.with_access_key_id(key_id);
        }
        if let Some(secret) = options.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Unavailable(format!("S3 configuration: {}", store_error_kind(&e))))?;
        Ok(Self {
            store,
            bucket: options.bucket.to_owned(),
            prefix,
        })
    }

    pub(super) fn bucket(&self) -> &str {
        &self.bucket
    }

    pub(super) fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    pub(super) fn object_store(&self) -> &dyn ObjectStore {
        &self.store
    }

    pub(super) fn location(&self, key: &BlobKey) -> Result<ObjectPath, BlobError> {
        let parsed = match &self.prefix {
            Some(prefix) => ObjectPath::parse(format!("{prefix}/{}", key.as_str())),
            None => ObjectPath::parse(key.as_str()),
        };
        parsed.map_err(|_| BlobError::InvalidKey)
    }

    pub(super) async fn begin_upload(&self, key: &BlobKey) -> Result<UploadId, BlobError> {
        let location = self.location(key)?;
        let id = self
            .store
            .create_multipart(&location)
            .await
            .map_err(|e| BlobError::from_store("begin upload", e))?;
        Ok(UploadId(id))
    }

    pub(super) async fn put_part(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        index: u32,
        data: Bytes,
    ) -> Result<PartTag, BlobError> {
        let location = self.location(key)?;
        let len = data.len() as u64;
        let part_idx = usize::try_from(index).map_err(|_| BlobError::PartTooLarge)?;
        let part = self
            .store
            .put_part(&location, &upload.0, part_idx, PutPayload::from(data))
            .await
            .map_err(|e| BlobError::from_store("put part", e))?;
        Ok(encode_tag(index, len, &part.content_id))
    }

    /// Completes the upload from the parts' ETags (already checked against `total_len`), then
    /// checks the published size.
    pub(super) async fn complete_upload(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        etags: &[&str],
        total_len: u64,
    ) -> Result<(), BlobError> {
        let location = self.location(key)?;
        let parts = etags
            .iter()
            .map(|etag| PartId {
                content_id: (*etag).to_owned(),
            })
            .collect();
        match self.store.complete_multipart(&location, &upload.0, parts).await {
            Ok(_) => {
                let size = self.head_size(&location, "complete upload").await?;
                if size != total_len {
                    // Cannot happen with checked tags unless the store misbehaves; do not leave
                    // a wrong object behind.
                    if let Err(e) = self.store.delete(&location).await {
                        tracing::warn!(error = %e, "deleting a mis-sized completed upload failed");
                    }
                    return Err(BlobError::WrongSize {
                        expected: total_len,
                        found: size,
                    });
                }
                Ok(())
            }
            Err(err) => {
                // A retry after the upload was completed: the object is there with the size.
                match self.store.head(&location).await {
                    Ok(meta) if meta.size == total_len => Ok(()),
                    _ => Err(BlobError::from_store("complete upload", err)),
                }
            }
        }
    }

    pub(super) async fn abort_upload(&self, key: &BlobKey, upload: &UploadId) -> Result<(), BlobError> {
        let location = self.location(key)?;
        match self.store.abort_multipart(&location, &upload.0).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::from_store("abort upload", e)),
        }
    }

    pub(super) async fn get_range(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let location = self.location(key)?;
        if range.start >= range.end {
            self.head_size(&location, "get range").await?;
            return Ok(stream::empty().boxed());
        }
        let options = GetOptions::new().with_range(Some(GetRange::Bounded(range.clone())));
        match self.store.get_opts(&location, options).await {
            Ok(result) => {
                if result.meta.size < range.end || result.range != range {
                    return Err(BlobError::WrongSize {
                        expected: range.end,
                        found: result.meta.size,
                    });
                }
                let body = result.into_stream().map_err(|e| BlobError::from_store("read", e));
                Ok(end_after_error(body))
            }
            Err(err @ object_store::Error::NotFound { .. }) => Err(BlobError::from_store("get range", err)),
            Err(err) => {
                // A range starting past the end is refused by S3 (416): report it as a size.
                match self.store.head(&location).await {
                    Ok(meta) if meta.size < range.end => Err(BlobError::WrongSize {
                        expected: range.end,
                        found: meta.size,
                    }),
                    _ => Err(BlobError::from_store("get range", err)),
                }
            }
        }
    }

    pub(super) async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let location = self.location(key)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::from_store("delete", e)),
        }
    }

    pub(super) async fn check(&self) -> Result<(), BlobError> {
        let probe = match &self.prefix {
            Some(prefix) => ObjectPath::parse(format!("{prefix}/{PROBE_PREFIX}")),
            None => ObjectPath::parse(PROBE_PREFIX),
        }
        .map_err(|_| BlobError::InvalidKey)?;
        // Listing fails on a missing bucket or bad credentials, unlike a HEAD of a missing key.
        self.store
            .list_with_delimiter(Some(&probe))
            .await
            .map_err(|e| BlobError::Unavailable(format!("check: {e}")))?;
        Ok(())
    }

    async fn head_size(&self, location: &ObjectPath, what: &str) -> Result<u64, BlobError> {
        let meta = self
            .store
            .head(location)
            .await
            .map_err(|e| BlobError::from_store(what, e))?;
        Ok(meta.size)
    }
}

/// Describes a builder error without echoing configuration values (which may hold secrets).
fn store_error_kind(err: &object_store::Error) -> String {
    match err {
        object_store::Error::Generic { source, .. } => source.to_string(),
        _ => "invalid configuration".to_owned(),
    }
}
