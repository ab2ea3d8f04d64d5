//! The blob store against the local backend (always) and S3 (moto, or `SEALPOST_TEST_S3_*`).

#[path = "support/s3.rs"]
mod s3;

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use futures::TryStreamExt;
use sealpost_server::blobs::{BlobError, BlobKey, BlobStore, MAX_PARTS, PartTag, S3Options, UploadId};
use sealpost_server::config::{Secret, StorageConfig};
use tempfile::TempDir;

/// Local part size: small and odd, so tests are fast and offsets unaligned.
const LOCAL_PART: u64 = 4099;
/// S3 part size: S3's minimum.
const S3_PART: u64 = 5 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Local,
    S3,
}

/// Where a test's blobs live; `open` builds a new store on the same place (a "restart").
enum Place {
    Local(TempDir),
    S3(s3::S3Target),
}

struct Fixture {
    place: Place,
    store: BlobStore,
}

impl Fixture {
    async fn new(kind: Kind) -> Option<Self> {
        let place = match kind {
            Kind::Local => Place::Local(tempfile::tempdir().unwrap()),
            Kind::S3 => Place::S3(s3::s3_target().await?),
        };
        let store = open(&place);
        Some(Self { place, store })
    }

    fn open(&self) -> BlobStore {
        open(&self.place)
    }

    fn part_size(&self) -> u64 {
        self.store.part_size()
    }

    /// Whether using an unknown (aborted, completed, other key's) upload is checked to be
    /// `NotFound`. S3 answers 404 `NoSuchUpload` there, but moto 5.2 answers 500 (which the
    /// client also retries for seconds), so the S3 variant only checks that it fails elsewhere.
    fn gone_uploads_are_not_found(&self) -> bool {
        matches!(self.place, Place::Local(_))
    }
}

fn open(place: &Place) -> BlobStore {
    match place {
        Place::Local(dir) => BlobStore::local(dir.path(), LOCAL_PART).unwrap(),
        Place::S3(t) => BlobStore::s3(
            &S3Options {
                bucket: &t.bucket,
                prefix: t.prefix.as_deref(),
                endpoint: Some(&t.endpoint),
                region: &t.region,
                access_key_id: Some(&t.access_key_id),
                secret_access_key: Some(&t.secret_access_key),
                allow_http: t.allow_http,
            },
            S3_PART,
        )
        .unwrap(),
    }
}

/// Runs `$name(fixture)` as two tests, `$name::local` and `$name::s3`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() {
                let fixture = super::Fixture::new(super::Kind::Local).await.unwrap();
                super::$name(fixture).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() {
                if let Some(fixture) = super::Fixture::new(super::Kind::S3).await {
                    super::$name(fixture).await;
                }
            }
        }
    )*};
}

both_backends!(
    small_blobs,
    multipart_out_of_order_with_retry,
    resume_after_restart,
    complete_is_idempotent,
    wrong_total_len,
    ranges,
    abort_removes_upload,
    part_limits,
    empty_upload,
    check_and_describe,
);

fn key(s: &str) -> BlobKey {
    BlobKey::new(s).unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
fn data(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// Length of a three-part upload: two full parts and a short last one.
fn three_part_len(part_size: u64) -> usize {
    (2 * part_size + part_size / 3) as usize
}

fn part(all: &Bytes, part_size: u64, index: u32) -> Bytes {
    let ps = part_size as usize;
    let start = index as usize * ps;
    all.slice(start..(start + ps).min(all.len()))
}

async fn read_range(store: &BlobStore, key: &BlobKey, range: Range<u64>) -> Result<Vec<u8>, BlobError> {
    let pieces: Vec<Bytes> = store.get_range(key, range).await?.try_collect().await?;
    Ok(pieces.concat())
}

async fn read_all(store: &BlobStore, key: &BlobKey) -> Vec<u8> {
    let size = store.size(key).await.unwrap();
    read_range(store, key, 0..size).await.unwrap()
}

/// Uploads `all` in parts in the given order and returns the tags in index order.
async fn upload_parts(store: &BlobStore, key: &BlobKey, upload: &UploadId, all: &Bytes, order: &[u32]) -> Vec<PartTag> {
    let ps = store.part_size();
    let mut tags = vec![None; order.len()];
    for &i in order {
        tags[i as usize] = Some(store.put_part(key, upload, i, part(all, ps, i)).await.unwrap());
    }
    tags.into_iter().map(Option::unwrap).collect()
}

async fn small_blobs(f: Fixture) {
    let store = &f.store;
    let k = key("msg/m1/header");
    store.put_small(&k, Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(store.get_small(&k, 1024).await.unwrap(), "hello");
    assert_eq!(store.size(&k).await.unwrap(), 5);
    store.put_small(&k, Bytes::from_static(b"goodbye!")).await.unwrap();
    assert_eq!(store.get_small(&k, 8).await.unwrap(), "goodbye!");
    assert!(matches!(
        store.get_small(&k, 7).await,
        Err(BlobError::WrongSize { expected: 7, found: 8 })
    ));

    let empty = key("msg/m1/empty");
    store.put_small(&empty, Bytes::new()).await.unwrap();
    assert_eq!(store.get_small(&empty, 0).await.unwrap(), "");

    store.delete(&k).await.unwrap();
    assert!(matches!(store.get_small(&k, 1024).await, Err(BlobError::NotFound)));
    assert!(matches!(store.size(&k).await, Err(BlobError::NotFound)));
    assert!(matches!(store.get_range(&k, 0..1).await, Err(BlobError::NotFound)));
    store.delete(&k).await.unwrap(); // absent: still Ok
    store.delete(&empty).await.unwrap();
    assert!(matches!(
        store.get_small(&key("never/written"), 10).await,
        Err(BlobError::NotFound)
    ));

    // The emptied directories are gone (local), so a key that was a directory can be a blob.
    store.put_small(&key("msg/m1"), Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(store.get_small(&key("msg/m1"), 1).await.unwrap(), "x");
}

async fn multipart_out_of_order_with_retry(f: Fixture) {
    let store = &f.store;
    let ps = f.part_size();
    let all = data(three_part_len(ps), 1);
    let k = key("msg/m2/payload-0");
    let upload = store.begin_upload(&k).await.unwrap();
    assert!(
        matches!(store.size(&k).await, Err(BlobError::NotFound)),
        "nothing visible before completion"
    );

    let tag2 = store.put_part(&k, &upload, 2, part(&all, ps, 2)).await.unwrap();
    let tag0 = store.put_part(&k, &upload, 0, part(&all, ps, 0)).await.unwrap();
    // Part 1 first goes in wrong (say, a client retried after corrupting its buffer), then again.
    let garbage = data(ps as usize, 99);
    let _stale = store.put_part(&k, &upload, 1, garbage).await.unwrap();
    let tag1 = store.put_part(&k, &upload, 1, part(&all, ps, 1)).await.unwrap();
    // And a plain retry of the last part with the same bytes.
    let tag2 = {
        let again = store.put_part(&k, &upload, 2, part(&all, ps, 2)).await.unwrap();
        assert_eq!(
            again.0.split('.').take(2).collect::<Vec<_>>(),
            tag2.0.split('.').take(2).collect::<Vec<_>>()
        );
        again
    };

    store
        .complete_upload(&k, &upload, &[tag0, tag1, tag2], all.len() as u64)
        .await
        .unwrap();
    assert_eq!(store.size(&k).await.unwrap(), all.len() as u64);
    assert!(read_all(store, &k).await == all[..], "streamed bytes differ");
    // The object is where object_store's own reads find it.
    assert!(
        store.get_small(&k, u64::MAX).await.unwrap() == all,
        "get_small bytes differ"
    );
}

async fn resume_after_restart(f: Fixture) {
    let ps = f.part_size();
    let all = data(three_part_len(ps), 2);
    let k = key("msg/m3/payload-1");
    // What the caller persists in its database.
    let (upload_id, mut tags): (String, Vec<Option<String>>) = {
        let first = f.open();
        let upload = first.begin_upload(&k).await.unwrap();
        let t0 = first.put_part(&k, &upload, 0, part(&all, ps, 0)).await.unwrap();
        let t2 = first.put_part(&k, &upload, 2, part(&all, ps, 2)).await.unwrap();
        (upload.0, vec![Some(t0.0), None, Some(t2.0)])
    }; // the first server is gone

    let second = f.open();
    let upload = UploadId(upload_id);
    tags[1] = Some(second.put_part(&k, &upload, 1, part(&all, ps, 1)).await.unwrap().0);
    let tags: Vec<PartTag> = tags.into_iter().map(|t| PartTag(t.unwrap())).collect();
    second
        .complete_upload(&k, &upload, &tags, all.len() as u64)
        .await
        .unwrap();
    let Fixture { place, store } = f;
    drop((store, second));
    assert!(read_all(&open(&place), &k).await == all[..]);
}

async fn complete_is_idempotent(f: Fixture) {
    let store = &f.store;
    let all = data(three_part_len(f.part_size()), 3);
    let k = key("msg/m4/payload-0");
    let upload = store.begin_upload(&k).await.unwrap();
    let tags = upload_parts(store, &k, &upload, &all, &[0, 1, 2]).await;
    let len = all.len() as u64;
    store.complete_upload(&k, &upload, &tags, len).await.unwrap();
    // A retry (same process, or another replica after a crash) succeeds.
    store.complete_upload(&k, &upload, &tags, len).await.unwrap();
    f.open().complete_upload(&k, &upload, &tags, len).await.unwrap();
    assert!(read_all(store, &k).await == all[..]);
    if f.gone_uploads_are_not_found() {
        // Parts of a completed upload are refused.
        assert!(matches!(
            store.put_part(&k, &upload, 0, part(&all, f.part_size(), 0)).await,
            Err(BlobError::NotFound)
        ));
    }
    // And an abort afterwards leaves the object alone.
    store.abort_upload(&k, &upload).await.unwrap();
    assert_eq!(store.size(&k).await.unwrap(), len);
}

async fn wrong_total_len(f: Fixture) {
    let store = &f.store;
    let all = data(three_part_len(f.part_size()), 4);
    let len = all.len() as u64;
    let k = key("msg/m5/payload-0");
    let upload = store.begin_upload(&k).await.unwrap();
    let tags = upload_parts(store, &k, &upload, &all, &[1, 0, 2]).await;

    for wrong in [len + 1, len - 1, 0] {
        match store.complete_upload(&k, &upload, &tags, wrong).await {
            Err(BlobError::WrongSize { expected, found }) => assert_eq!((expected, found), (wrong, len)),
            other => panic!("complete with total_len {wrong}: {other:?}"),
        }
    }
    let swapped = [tags[1].clone(), tags[0].clone(), tags[2].clone()];
    assert!(matches!(
        store.complete_upload(&k, &upload, &swapped, len).await,
        Err(BlobError::InvalidParts(_))
    ));
    let missing_middle = [tags[0].clone(), tags[2].clone()];
    assert!(matches!(
        store.complete_upload(&k, &upload, &missing_middle, len).await,
        Err(BlobError::InvalidParts(_))
    ));
    assert!(matches!(
        store
            .complete_upload(&k, &upload, &[PartTag("nonsense".into())], len)
            .await,
        Err(BlobError::InvalidParts(_))
    ));
    assert!(
        matches!(store.size(&k).await, Err(BlobError::NotFound)),
        "nothing published"
    );

    // The upload is intact: the right length completes it.
    store.complete_upload(&k, &upload, &tags, len).await.unwrap();
    assert!(read_all(store, &k).await == all[..]);
}

async fn ranges(f: Fixture) {
    let store = &f.store;
    let ps = f.part_size();
    let all = data(three_part_len(ps), 5);
    let len = all.len() as u64;
    let k = key("msg/m6/payload-0");
    let upload = store.begin_upload(&k).await.unwrap();
    let tags = upload_parts(store, &k, &upload, &all, &[0, 1, 2]).await;
    store.complete_upload(&k, &upload, &tags, len).await.unwrap();

    let cases = [
        0..len,
        0..1,
        0..ps,
        ps - 1..ps + 1,
        ps / 2..2 * ps + 7,
        len / 2..len / 2 + 1000,
        len - 1..len,
        len - 100..len,
        0..0,
        777..777,
        len..len,
    ];
    for range in cases {
        let got = read_range(store, &k, range.clone()).await.unwrap();
        assert!(
            got == all[range.start as usize..range.end as usize],
            "range {range:?} differs"
        );
    }
    for beyond in [len - 1..len + 1, len + 5..len + 10] {
        match store.get_range(&k, beyond.clone()).await {
            Err(BlobError::WrongSize { expected, found }) => assert_eq!((expected, found), (beyond.end, len)),
            Err(e) => panic!("range {beyond:?}: {e:?}"),
            Ok(_) => panic!("range {beyond:?}: accepted"),
        }
    }
}

async fn abort_removes_upload(f: Fixture) {
    let store = &f.store;
    let ps = f.part_size();
    let all = data(three_part_len(ps), 6);
    let k = key("msg/m7/payload-0");
    let upload = store.begin_upload(&k).await.unwrap();
    let tag0 = store.put_part(&k, &upload, 0, part(&all, ps, 0)).await.unwrap();
    if let Place::Local(dir) = &f.place {
        assert_eq!(staging_files(dir.path()), 1);
    }
    store.abort_upload(&k, &upload).await.unwrap();
    if let Place::Local(dir) = &f.place {
        assert_eq!(staging_files(dir.path()), 0, "staging file left behind");
    }
    if f.gone_uploads_are_not_found() {
        assert!(matches!(
            store.put_part(&k, &upload, 1, part(&all, ps, 1)).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.complete_upload(&k, &upload, &[tag0], ps).await,
            Err(BlobError::NotFound)
        ));
    }
    assert!(matches!(store.size(&k).await, Err(BlobError::NotFound)));
    store.abort_upload(&k, &upload).await.unwrap(); // already gone: Ok
    // An upload id that never existed.
    store.abort_upload(&k, &UploadId("bogus".into())).await.unwrap();
}

fn staging_files(root: &Path) -> usize {
    std::fs::read_dir(root.join(".uploads")).unwrap().count()
}

async fn part_limits(f: Fixture) {
    let store = &f.store;
    let ps = f.part_size();
    let k = key("msg/m8/payload-0");
    let upload = store.begin_upload(&k).await.unwrap();
    assert!(matches!(
        store.put_part(&k, &upload, 0, data(ps as usize + 1, 7)).await,
        Err(BlobError::PartTooLarge)
    ));
    assert!(matches!(
        store.put_part(&k, &upload, MAX_PARTS, data(10, 7)).await,
        Err(BlobError::PartTooLarge)
    ));
    if f.gone_uploads_are_not_found() {
        // Parts are bound to their key.
        let other = key("msg/m8/payload-1");
        assert!(matches!(
            store.put_part(&other, &upload, 0, data(10, 7)).await,
            Err(BlobError::NotFound)
        ));
    }
    store.abort_upload(&k, &upload).await.unwrap();
}

async fn empty_upload(f: Fixture) {
    let store = &f.store;
    let k = key("msg/m9/payload-0");
    let upload = store.begin_upload(&k).await.unwrap();
    store.complete_upload(&k, &upload, &[], 0).await.unwrap();
    assert_eq!(store.size(&k).await.unwrap(), 0);
    assert!(read_range(store, &k, 0..0).await.unwrap().is_empty());
    assert_eq!(store.get_small(&k, 0).await.unwrap(), "");

    // A single short part.
    let k = key("msg/m9/payload-1");
    let upload = store.begin_upload(&k).await.unwrap();
    let tag = store
        .put_part(&k, &upload, 0, Bytes::from_static(b"tiny"))
        .await
        .unwrap();
    store.complete_upload(&k, &upload, &[tag], 4).await.unwrap();
    assert_eq!(store.get_small(&k, 4).await.unwrap(), "tiny");
}

async fn check_and_describe(f: Fixture) {
    let store = &f.store;
    store.check().await.unwrap();
    let debug = format!("{store:?}");
    match &f.place {
        Place::Local(_) => assert_eq!(store.backend_name(), "local"),
        Place::S3(t) => {
            assert_eq!(store.backend_name(), "s3");
            assert!(debug.contains(&t.bucket), "{debug}");
        }
    }
    assert!(debug.contains(store.backend_name()), "{debug}");
    let clone = store.clone();
    clone
        .put_small(&key("probe/one"), Bytes::from_static(b"1"))
        .await
        .unwrap();
    assert_eq!(store.get_small(&key("probe/one"), 1).await.unwrap(), "1");
}

#[test]
fn key_validation() {
    for good in ["a", "A-z_0/9", "msg/0123/payload-17", &"k".repeat(256)] {
        assert_eq!(BlobKey::new(good).unwrap().as_str(), good);
    }
    for bad in [
        "",
        "/a",
        "a/",
        "a//b",
        ".",
        "..",
        "a/../b",
        "./a",
        "a/.",
        "a.txt",
        "a b",
        "a%2f",
        "ü",
        "a\0b",
        &"k".repeat(257),
    ] {
        assert!(
            matches!(BlobKey::new(bad), Err(BlobError::InvalidKey)),
            "{bad:?} accepted"
        );
    }
}

fn storage_config(data_dir: &Path, blob_url: Option<String>) -> StorageConfig {
    StorageConfig {
        data_dir: data_dir.to_path_buf(),
        database_url: None,
        database_max_connections: 4,
        blob_url,
        s3_endpoint: None,
        s3_region: "us-east-1".to_owned(),
        s3_access_key_id: None,
        s3_secret_access_key: None,
        s3_allow_http: false,
        part_size: 8 * 1024 * 1024,
        connect_timeout_secs: 30,
        fence_url: None,
    }
}

#[tokio::test]
async fn from_config_local() {
    let data_dir = tempfile::tempdir().unwrap();
    let store = BlobStore::from_config(&storage_config(data_dir.path(), None))
        .await
        .unwrap();
    assert_eq!((store.backend_name(), store.part_size()), ("local", 8 * 1024 * 1024));
    store.put_small(&key("a/b"), Bytes::from_static(b"hi")).await.unwrap();
    assert_eq!(std::fs::read(data_dir.path().join("blobs/a/b")).unwrap(), b"hi");

    let dir = data_dir.path().join("elsewhere/blobs");
    let url = format!("file://{}", dir.display());
    let store = BlobStore::from_config(&storage_config(data_dir.path(), Some(url)))
        .await
        .unwrap();
    store.put_small(&key("c"), Bytes::from_static(b"there")).await.unwrap();
    assert_eq!(std::fs::read(dir.join("c")).unwrap(), b"there");

    for bad in ["file://relative/dir", "ftp://host/x", "blobs"] {
        let result = BlobStore::from_config(&storage_config(data_dir.path(), Some(bad.to_owned()))).await;
        assert!(matches!(result, Err(BlobError::Unavailable(_))), "{bad} accepted");
    }
}

#[tokio::test]
async fn from_config_s3() {
    let Some(t) = s3::s3_target().await else { return };
    let data_dir = tempfile::tempdir().unwrap();
    let mut cfg = storage_config(data_dir.path(), Some(format!("{}/some/prefix", t.blob_url())));
    cfg.s3_endpoint = Some(t.endpoint.clone());
    cfg.s3_region = t.region.clone();
    cfg.s3_access_key_id = Some(Secret::new(t.access_key_id.clone()));
    cfg.s3_secret_access_key = Some(Secret::new(t.secret_access_key.clone()));
    cfg.s3_allow_http = t.allow_http;
    let store = BlobStore::from_config(&cfg).await.unwrap();
    assert_eq!(store.backend_name(), "s3");
    store.check().await.unwrap();
    store.put_small(&key("h"), Bytes::from_static(b"header")).await.unwrap();
    assert_eq!(store.get_small(&key("h"), 100).await.unwrap(), "header");

    // The prefix is applied: without it the key is not there.
    let mut plain = cfg.clone();
    plain.blob_url = Some(t.blob_url());
    let unprefixed = BlobStore::from_config(&plain).await.unwrap();
    assert!(matches!(unprefixed.size(&key("h")).await, Err(BlobError::NotFound)));
    assert_eq!(unprefixed.size(&key("some/prefix/h")).await.unwrap(), 6);

    // S3 needs parts of at least 5 MiB.
    let mut small_parts = cfg.clone();
    small_parts.part_size = 1024;
    assert!(BlobStore::from_config(&small_parts).await.is_err());

    // A missing bucket fails the readiness probe.
    if t.prefix.is_none() {
        let mut missing = cfg.clone();
        missing.blob_url = Some(format!("s3://{}-missing", t.bucket));
        let store = BlobStore::from_config(&missing).await.unwrap();
        assert!(store.check().await.is_err());
    }
}

/// Local reads come in 1 MiB pieces (not object_store's 8 KiB), at page-cache speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_large_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path(), 8 * MIB as u64).unwrap();
    let all = data(20 * MIB + 12345, 8);
    let k = key("big/payload");
    store.put_small(&k, all.clone()).await.unwrap();

    let pieces: Vec<Bytes> = store
        .get_range(&k, 0..all.len() as u64)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pieces.len(), 21);
    assert!(pieces[..20].iter().all(|p| p.len() == MIB));
    assert_eq!(pieces[20].len(), 12345);
    assert!(pieces.concat() == all[..]);

    let range = MIB as u64 - 3..3 * MIB as u64 + 5;
    let got = read_range(&store, &k, range.clone()).await.unwrap();
    assert!(got == all[range.start as usize..range.end as usize]);

    let rounds = 5;
    let started = Instant::now();
    for _ in 0..rounds {
        let mut stream = store.get_range(&k, 0..all.len() as u64).await.unwrap();
        let mut total = 0;
        while let Some(piece) = stream.try_next().await.unwrap() {
            total += piece.len();
        }
        assert_eq!(total, all.len());
    }
    let rate = (rounds * all.len()) as f64 / started.elapsed().as_secs_f64() / 1e9;
    eprintln!("local_large_read: {rate:.2} GB/s from page cache");
}

/// Two sweepers deleting sibling blobs at once (one empties the directory the other's parent
/// fsync needs) both succeed, and nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_concurrent_sibling_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path(), 8 * MIB as u64).unwrap();
    for round in 0..3000 {
        let a = key(&format!("m/r{round}/header"));
        let b = key(&format!("m/r{round}/p/1"));
        store.put_small(&a, data(10, 1)).await.unwrap();
        store.put_small(&b, data(10, 2)).await.unwrap();
        let (s1, s2) = (store.clone(), store.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { s1.delete(&a).await }),
            tokio::spawn(async move { s2.delete(&b).await })
        );
        ra.unwrap().unwrap();
        rb.unwrap().unwrap();
        assert!(!dir.path().join(format!("m/r{round}")).exists());
    }
}
