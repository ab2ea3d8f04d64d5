//! The witness against an in-memory log: the state machine directly, the HTTP routes in-process,
//! and the real binary (CLI, restart with the same state file).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::merkle::{self, Hash};
use sealpost_crypto::note::{self, VerifierKey};
use sealpost_crypto::primitives::ed25519_public;
use sealpost_crypto::tlog::{self, Checkpoint, NodeId};
use sealpost_witness::{Clock, Config, Error, Known, Witness, request_body, router};
use tower::ServiceExt;
use zeroize::Zeroizing;

const ORIGIN: &str = "sealpost.test/access-log";
const LOG_SEED: [u8; 32] = [7; 32];
const OTHER_ORIGIN: &str = "other.test/log";
const OTHER_SEED: [u8; 32] = [9; 32];
const ROGUE_SEED: [u8; 32] = [8; 32];
const WITNESS_NAME: &str = "witness.test/w1";
const WITNESS_SEED: [u8; 32] = [3; 32];

// ---------------------------------------------------------------------------------------------
// An in-memory log
// ---------------------------------------------------------------------------------------------

/// Leaves `leaf_hash(i.to_be_bytes())`; a fork replaces the leaves from `fork_at` on.
#[derive(Clone)]
struct TestLog {
    origin: &'static str,
    seed: [u8; 32],
    leaves: Vec<Hash>,
}

impl TestLog {
    fn honest(size: u64) -> Self {
        Self::forked(size, size)
    }

    /// Identical to the honest log for the first `fork_at` leaves, different after.
    fn forked(size: u64, fork_at: u64) -> Self {
        let leaves = (0..size)
            .map(|i| {
                if i < fork_at {
                    merkle::leaf_hash(&i.to_be_bytes())
                } else {
                    merkle::leaf_hash(&(i + 1_000_000).to_be_bytes())
                }
            })
            .collect();
        Self {
            origin: ORIGIN,
            seed: LOG_SEED,
            leaves,
        }
    }

    fn root(&self, size: u64) -> Hash {
        merkle::root_of(&self.leaves[..size as usize])
    }

    /// The consistency proof from `from` to `to` (empty from 0), by the crypto crate's prover,
    /// checked against the reference implementation below.
    fn proof(&self, from: u64, to: u64) -> Vec<Hash> {
        if from == 0 {
            return Vec::new();
        }
        let leaves = &self.leaves;
        let mut get = |id: NodeId| {
            let start = (id.index << id.level) as usize;
            merkle::root_of(&leaves[start..start + (1usize << id.level)])
        };
        let proof = tlog::consistency_proof_with(from, to, &mut get).unwrap();
        assert_eq!(proof, reference_proof(from as usize, &leaves[..to as usize]));
        proof
    }

    fn checkpoint(&self, size: u64) -> String {
        Checkpoint {
            origin: self.origin.to_owned(),
            size,
            root: self.root(size),
        }
        .sign(&self.seed)
        .unwrap()
    }

    /// A well-formed request moving the witness from `old` to `size`.
    fn request(&self, old: u64, size: u64) -> String {
        request_body(old, &self.proof(old, size), &self.checkpoint(size))
    }

    fn key(&self) -> VerifierKey {
        VerifierKey::new(self.origin, ed25519_public(&self.seed)).unwrap()
    }
}

/// RFC 6962 §2.1.2 `PROOF(m, D[n])`, straight from the definition.
fn reference_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if complete {
                Vec::new()
            } else {
                vec![merkle::root_of(leaves)]
            };
        }
        let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m <= k {
            let mut proof = subproof(m, &leaves[..k], complete);
            proof.push(merkle::root_of(&leaves[k..]));
            proof
        } else {
            let mut proof = subproof(m - k, &leaves[k..], false);
            proof.push(merkle::root_of(&leaves[..k]));
            proof
        }
    }
    subproof(m, leaves, true)
}

#[test]
fn reference_proofs_verify() {
    let log = TestLog::honest(33);
    for n in 1..=33 {
        for m in 1..=n {
            assert!(merkle::verify_consistency(
                m,
                n,
                &log.root(m),
                &log.root(n),
                &log.proof(m, n)
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A witness on a temporary directory
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_secs(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<TestClock>,
    witness: Arc<Witness>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TestClock(AtomicU64::new(1_700_000_000)));
        let witness = open(dir.path(), clock.clone());
        Self { dir, clock, witness }
    }

    fn reopen(&mut self) {
        self.witness = open(self.dir.path(), self.clock.clone());
    }

    fn evidence(&self) -> Vec<serde_json::Value> {
        match std::fs::read_to_string(self.dir.path().join("evidence.jsonl")) {
            Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn known(&self) -> Option<Known> {
        self.witness.known(ORIGIN).await
    }

    /// Sends the request and checks that the cosignature verifies for `size`; returns its time.
    async fn cosigned(&self, log: &TestLog, old: u64, size: u64) -> u64 {
        let lines = self
            .witness
            .add_checkpoint(&log.request(old, size))
            .await
            .unwrap_or_else(|e| panic!("{old} -> {size}: {e}"));
        assert!(lines.starts_with(&format!("\u{2014} {WITNESS_NAME} ")) && lines.ends_with('\n'));
        assert_eq!(lines.lines().count(), 1);
        let note = tlog::add_signature_lines(&log.checkpoint(size), &lines).unwrap();
        Checkpoint::verify_note(&note, &log.key()).unwrap();
        tlog::verify_cosignature(&note, self.witness.cosigner_key()).unwrap()
    }
}

fn open(dir: &Path, clock: Arc<TestClock>) -> Arc<Witness> {
    let config = Config {
        name: WITNESS_NAME.to_owned(),
        seed: Zeroizing::new(WITNESS_SEED),
        logs: vec![
            TestLog::honest(0).key(),
            VerifierKey::new(OTHER_ORIGIN, ed25519_public(&OTHER_SEED)).unwrap(),
        ],
        state_path: dir.join("state.json"),
        evidence_path: dir.join("evidence.jsonl"),
    };
    Arc::new(Witness::open(config, clock).unwrap())
}

fn known(log: &TestLog, size: u64) -> Option<Known> {
    Some(Known {
        size,
        root: log.root(size),
    })
}

// ---------------------------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn first_contact_then_growth_with_proofs() {
    let f = Fixture::new();
    let log = TestLog::honest(40);
    assert_eq!(f.known().await, None);

    assert_eq!(f.cosigned(&log, 0, 5).await, 1_700_000_000);
    assert_eq!(f.known().await, known(&log, 5));
    f.clock.0.store(1_700_000_010, Ordering::SeqCst);
    assert_eq!(f.cosigned(&log, 5, 9).await, 1_700_000_010);
    // The same checkpoint again is cosigned again, with a new timestamp.
    f.clock.0.store(1_700_000_020, Ordering::SeqCst);
    assert_eq!(f.cosigned(&log, 9, 9).await, 1_700_000_020);
    assert_eq!(f.known().await, known(&log, 9));
    assert_eq!(f.cosigned(&log, 9, 20).await, 1_700_000_020);
    assert_eq!(f.known().await, known(&log, 20));
    // Power-of-two and one-leaf steps.
    assert_eq!(f.cosigned(&log, 20, 32).await, 1_700_000_020);
    assert_eq!(f.cosigned(&log, 32, 33).await, 1_700_000_020);
    assert_eq!(f.known().await, known(&log, 33));
    assert!(f.evidence().is_empty());

    // Another log has its own state.
    let other = TestLog {
        origin: OTHER_ORIGIN,
        seed: OTHER_SEED,
        ..TestLog::honest(3)
    };
    f.witness.add_checkpoint(&other.request(0, 3)).await.unwrap();
    assert_eq!(f.witness.known(OTHER_ORIGIN).await.map(|k| k.size), Some(3));
    assert_eq!(f.known().await, known(&log, 33));
    let status = f.witness.status().await;
    assert_eq!(status.vkey, f.witness.vkey());
    assert_eq!(
        status
            .logs
            .iter()
            .map(|l| (l.origin.as_str(), l.size))
            .collect::<Vec<_>>(),
        [(OTHER_ORIGIN, 3), (ORIGIN, 33)]
    );
}

#[tokio::test]
async fn first_contact_accepts_any_size_but_no_proof() {
    let f = Fixture::new();
    let log = TestLog::honest(9);
    let with_proof = request_body(0, &[log.root(1)], &log.checkpoint(9));
    assert!(matches!(
        f.witness.add_checkpoint(&with_proof).await,
        Err(Error::Malformed(_))
    ));
    assert_eq!(f.known().await, None);
    // The empty tree, then anything.
    f.cosigned(&log, 0, 0).await;
    assert_eq!(f.known().await, known(&log, 0));
    f.cosigned(&log, 0, 9).await;
    assert_eq!(f.known().await, known(&log, 9));
}

#[tokio::test]
async fn wrong_old_size_is_a_conflict_with_the_known_size() {
    let f = Fixture::new();
    let log = TestLog::honest(20);
    match f.witness.add_checkpoint(&log.request(3, 9)).await {
        Err(Error::OldSizeMismatch { known: 0 }) => {}
        other => panic!("{other:?}"),
    }
    f.cosigned(&log, 0, 5).await;
    for old in [0, 3, 6, 9] {
        match f.witness.add_checkpoint(&log.request(old, 9)).await {
            Err(Error::OldSizeMismatch { known: 5 }) => {}
            other => panic!("old {old}: {other:?}"),
        }
    }
    assert_eq!(f.known().await, known(&log, 5));
    // The log retries with the size it was told.
    f.cosigned(&log, 5, 9).await;
    assert!(f.evidence().is_empty());
}

#[tokio::test]
async fn signatures_are_checked_against_the_configured_log_keys() {
    let f = Fixture::new();
    let log = TestLog::honest(9);
    f.cosigned(&log, 0, 5).await;

    let unknown = TestLog {
        origin: "unknown.test/log",
        ..log.clone()
    };
    match f.witness.add_checkpoint(&unknown.request(5, 9)).await {
        Err(Error::UnknownOrigin(origin)) => assert_eq!(origin, "unknown.test/log"),
        other => panic!("{other:?}"),
    }
    // The right name, another key.
    let rogue = TestLog {
        seed: ROGUE_SEED,
        ..log.clone()
    };
    assert!(matches!(
        f.witness.add_checkpoint(&rogue.request(5, 9)).await,
        Err(Error::BadSignature)
    ));
    // A signed checkpoint whose size was changed afterwards.
    let tampered = log
        .request(5, 9)
        .replacen(&format!("{ORIGIN}\n9\n"), &format!("{ORIGIN}\n8\n"), 1);
    assert!(matches!(
        f.witness.add_checkpoint(&tampered).await,
        Err(Error::BadSignature)
    ));
    // No signature by the log at all.
    let checkpoint = log.checkpoint(9);
    let stripped = &checkpoint[..checkpoint.rfind("\n\n").unwrap() + 2];
    let foreign = note::sign(
        &Checkpoint {
            origin: ORIGIN.into(),
            size: 9,
            root: log.root(9),
        }
        .body(),
        "someone.else",
        &ROGUE_SEED,
    )
    .unwrap();
    let foreign_only = format!("{stripped}{}", &foreign[foreign.rfind("\n\n").unwrap() + 2..]);
    assert!(matches!(
        f.witness
            .add_checkpoint(&request_body(5, &log.proof(5, 9), &foreign_only))
            .await,
        Err(Error::BadSignature)
    ));
    // A note signed by the log key that is not a checkpoint.
    let not_a_checkpoint = note::sign(&format!("{ORIGIN}\nnine\n"), ORIGIN, &LOG_SEED).unwrap();
    assert!(matches!(
        f.witness.add_checkpoint(&request_body(5, &[], &not_a_checkpoint)).await,
        Err(Error::Malformed(_))
    ));
    assert_eq!(f.known().await, known(&log, 5));
    assert!(f.evidence().is_empty());
    // Other signatures beside the log's are ignored.
    let cosigned = format!("{checkpoint}{}", &foreign[foreign.rfind("\n\n").unwrap() + 2..]);
    f.witness
        .add_checkpoint(&request_body(5, &log.proof(5, 9), &cosigned))
        .await
        .unwrap();
    assert_eq!(f.known().await, known(&log, 9));
}

#[tokio::test]
async fn a_fork_at_the_same_size_is_refused_and_recorded() {
    let f = Fixture::new();
    let honest = TestLog::honest(20);
    let fork = TestLog::forked(20, 5);
    f.cosigned(&honest, 0, 5).await;
    f.cosigned(&honest, 5, 9).await;

    f.clock.0.store(1_700_000_100, Ordering::SeqCst);
    let request = fork.request(9, 9);
    match f.witness.add_checkpoint(&request).await {
        Err(Error::RootMismatch { known: 9 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f.known().await, known(&honest, 9));
    let evidence = f.evidence();
    assert_eq!(evidence.len(), 1);
    let e = &evidence[0];
    assert_eq!(e["time"], 1_700_000_100);
    assert_eq!(e["origin"], ORIGIN);
    assert_eq!(e["known_size"], 9);
    assert_eq!(e["known_root"], STANDARD.encode(honest.root(9)));
    assert_eq!(e["offered_checkpoint_note"], fork.checkpoint(9));
    assert_eq!(e["old"], 9);
    assert_eq!(e["proof"], serde_json::json!([]));
    assert!(e["reason"].as_str().unwrap().contains("different root"));

    // The same forked checkpoint with a wrong old size: still a conflict, recorded only once.
    match f.witness.add_checkpoint(&fork.request(5, 9)).await {
        Err(Error::OldSizeMismatch { known: 9 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f.evidence().len(), 1);

    // The honest log goes on.
    f.cosigned(&honest, 9, 20).await;
    assert_eq!(f.known().await, known(&honest, 20));
}

#[tokio::test]
async fn a_larger_tree_that_does_not_extend_the_known_one_is_refused_and_recorded() {
    let f = Fixture::new();
    let honest = TestLog::honest(20);
    let fork = TestLog::forked(20, 5);
    f.cosigned(&honest, 0, 9).await;

    // The fork's own proof from 9 to 12: valid in the fork, not from the recorded root.
    let request = fork.request(9, 12);
    assert!(matches!(
        f.witness.add_checkpoint(&request).await,
        Err(Error::Inconsistent(_))
    ));
    // A forged proof: hashes of the right shape that prove nothing.
    let forged = request_body(9, &[[1; 32], [2; 32], [3; 32]], &fork.checkpoint(12));
    assert!(matches!(
        f.witness.add_checkpoint(&forged).await,
        Err(Error::Inconsistent(_))
    ));
    // The honest checkpoint with a truncated or an empty proof.
    let mut short = honest.proof(9, 12);
    short.pop();
    for proof in [short, Vec::new()] {
        let body = request_body(9, &proof, &honest.checkpoint(12));
        assert!(matches!(
            f.witness.add_checkpoint(&body).await,
            Err(Error::Inconsistent(_))
        ));
    }
    // A proof offered at the same size.
    let body = request_body(9, &[honest.root(9)], &honest.checkpoint(9));
    assert!(matches!(
        f.witness.add_checkpoint(&body).await,
        Err(Error::Inconsistent(_))
    ));
    assert_eq!(f.known().await, known(&honest, 9));

    let evidence = f.evidence();
    // The fork's checkpoint once (deduplicated), the honest checkpoint with bad proofs once.
    assert_eq!(evidence.len(), 2, "{evidence:#?}");
    assert_eq!(evidence[0]["offered_checkpoint_note"], fork.checkpoint(12));
    assert_eq!(evidence[0]["old"], 9);
    assert_eq!(evidence[0]["known_size"], 9);
    assert_eq!(
        evidence[0]["proof"],
        serde_json::json!(fork.proof(9, 12).iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>())
    );
    assert!(evidence[0]["reason"].as_str().unwrap().contains("does not verify"));
    assert_eq!(evidence[1]["offered_checkpoint_note"], honest.checkpoint(12));

    // A later honest push still works.
    f.cosigned(&honest, 9, 12).await;
    assert_eq!(f.known().await, known(&honest, 12));
}

#[tokio::test]
async fn a_smaller_tree_is_refused_without_evidence() {
    let f = Fixture::new();
    let log = TestLog::honest(20);
    f.cosigned(&log, 0, 9).await;
    // Claiming the known size as old: the old size is above the checkpoint's.
    let shrink = request_body(9, &[], &log.checkpoint(5));
    assert!(matches!(
        f.witness.add_checkpoint(&shrink).await,
        Err(Error::Malformed(_))
    ));
    // Claiming the smaller size as old: a conflict.
    match f.witness.add_checkpoint(&log.request(5, 5)).await {
        Err(Error::OldSizeMismatch { known: 9 }) => {}
        other => panic!("{other:?}"),
    }
    match f.witness.add_checkpoint(&log.request(0, 5)).await {
        Err(Error::OldSizeMismatch { known: 9 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f.known().await, known(&log, 9));
    // An older checkpoint of the same history is stale, not a contradiction (replicas race).
    assert!(f.evidence().is_empty());
    f.cosigned(&log, 9, 20).await;
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let f = Fixture::new();
    let log = TestLog::honest(9);
    f.cosigned(&log, 0, 5).await;
    let checkpoint = log.checkpoint(9);
    let proof: String = log.proof(5, 9).iter().map(|h| STANDARD.encode(h) + "\n").collect();
    let unpadded: String = log
        .proof(5, 9)
        .iter()
        .map(|h| STANDARD.encode(h).trim_end_matches('=').to_owned() + "\n")
        .collect();
    for body in [
        String::new(),
        checkpoint.clone(),
        format!("old 5\n{proof}{checkpoint}"),
        format!("old 05\n{proof}\n{checkpoint}"),
        format!("old five\n{proof}\n{checkpoint}"),
        format!("new 5\n{proof}\n{checkpoint}"),
        format!("old 5\n{unpadded}\n{checkpoint}"),
        format!("old 5\r\n{proof}\n{checkpoint}"),
        format!("old 5\n{proof}\n"),
        format!("old 5\n{proof}\n{}", checkpoint.trim_end()),
        format!(
            "old 5\n{proof}\n{}",
            checkpoint.replace(&format!("\n\n\u{2014} {ORIGIN}"), "\n\n- x")
        ),
        format!(
            "old 5\n{}\n{checkpoint}",
            format!("{}\n", STANDARD.encode([0u8; 32])).repeat(65)
        ),
        // The old size above the checkpoint's size.
        format!("old 10\n{proof}\n{checkpoint}"),
    ] {
        match f.witness.add_checkpoint(&body).await {
            Err(Error::Malformed(_)) => {}
            other => panic!("{body:?}: {other:?}"),
        }
    }
    assert_eq!(f.known().await, known(&log, 5));
    assert!(f.evidence().is_empty());
}

#[tokio::test]
async fn the_state_survives_reopening_and_a_failed_write_changes_nothing() {
    let mut f = Fixture::new();
    let log = TestLog::honest(20);
    f.cosigned(&log, 0, 9).await;
    f.reopen();
    assert_eq!(f.known().await, known(&log, 9));
    match f.witness.add_checkpoint(&log.request(0, 20)).await {
        Err(Error::OldSizeMismatch { known: 9 }) => {}
        other => panic!("{other:?}"),
    }
    // Make the state file's directory unwritable in the crudest way: replace the file by a
    // directory, so the rename fails.
    let state = f.dir.path().join("state.json");
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("x"), b"x").unwrap();
    assert!(matches!(
        f.witness.add_checkpoint(&log.request(9, 20)).await,
        Err(Error::Storage(_))
    ));
    assert_eq!(f.known().await, known(&log, 9));
    std::fs::remove_dir_all(&state).unwrap();
    f.cosigned(&log, 9, 20).await;
    f.reopen();
    assert_eq!(f.known().await, known(&log, 20));

    // A corrupt state file stops the witness from starting rather than resetting it.
    std::fs::write(&state, "{\"sealpost.test/access-log\":{\"size\":3}}").unwrap();
    let config = Config {
        name: WITNESS_NAME.to_owned(),
        seed: Zeroizing::new(WITNESS_SEED),
        logs: vec![log.key()],
        state_path: state,
        evidence_path: f.dir.path().join("evidence.jsonl"),
    };
    assert!(matches!(Witness::open(config, f.clock.clone()), Err(Error::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_are_serialised() {
    let f = Fixture::new();
    let log = TestLog::honest(30);
    f.cosigned(&log, 0, 9).await;
    // Every request is valid against the state at size 9; only one may win.
    let tasks: Vec<_> = (10..=30)
        .map(|size| {
            let witness = f.witness.clone();
            let body = log.request(9, size);
            tokio::spawn(async move { (size, witness.add_checkpoint(&body).await) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (size, Ok(_)) => winners.push(size),
            (_, Err(Error::OldSizeMismatch { known })) => conflicts.push(known),
            (size, Err(e)) => panic!("{size}: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(conflicts.len(), 20);
    assert!(conflicts.iter().all(|&k| k == winners[0]));
    assert_eq!(f.known().await, known(&log, winners[0]));
}

// ---------------------------------------------------------------------------------------------
// HTTP, in-process
// ---------------------------------------------------------------------------------------------

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn call(witness: &Arc<Witness>, method: &str, path: &str, body: Vec<u8>) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body))
        .unwrap();
    let response = router(witness.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn http_status_codes() {
    let f = Fixture::new();
    let w = &f.witness;
    let log = TestLog::honest(20);
    let post = |body: String| call(w, "POST", "/add-checkpoint", body.into_bytes());

    let ok = post(log.request(0, 5)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.content_type.starts_with("text/plain"));
    let note = tlog::add_signature_lines(&log.checkpoint(5), &ok.body).unwrap();
    tlog::verify_cosignature(&note, w.cosigner_key()).unwrap();

    let conflict = post(log.request(0, 9)).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.content_type, "text/x.tlog.size");
    assert_eq!(conflict.body, "5\n");

    let fork = post(TestLog::forked(20, 2).request(5, 5)).await;
    assert_eq!(
        (fork.status, fork.content_type.as_str()),
        (StatusCode::CONFLICT, "text/x.tlog.size")
    );
    assert_eq!(fork.body, "5\n");

    let rogue = TestLog {
        seed: ROGUE_SEED,
        ..log.clone()
    };
    assert_eq!(post(rogue.request(5, 9)).await.status, StatusCode::FORBIDDEN);
    let unknown = TestLog {
        origin: "unknown.test/log",
        ..log.clone()
    };
    assert_eq!(post(unknown.request(5, 9)).await.status, StatusCode::NOT_FOUND);
    let bad_proof = request_body(5, &[[0; 32]; 3], &log.checkpoint(9));
    assert_eq!(post(bad_proof).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(post("old 5\n".into()).await.status, StatusCode::BAD_REQUEST);
    let not_utf8 = call(w, "POST", "/add-checkpoint", vec![b'o', b'l', b'd', b' ', 0xff]).await;
    assert_eq!(not_utf8.status, StatusCode::BAD_REQUEST);
    let huge = format!("old 5\n{}", "A".repeat(sealpost_witness::MAX_BODY_BYTES));
    assert_eq!(post(huge).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        call(w, "GET", "/add-checkpoint", Vec::new()).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(post(log.request(5, 9)).await.status, StatusCode::OK);

    let vkey = call(w, "GET", "/vkey", Vec::new()).await;
    assert_eq!(vkey.body, format!("{}\n", w.vkey()));
    assert!(vkey.body.starts_with(&format!("{WITNESS_NAME}+")));
    for path in ["/", "/health"] {
        let health = call(w, "GET", path, Vec::new()).await;
        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(health.content_type, "application/json");
        let status: serde_json::Value = serde_json::from_str(&health.body).unwrap();
        assert_eq!(status["vkey"], w.vkey());
        assert_eq!(status["name"], WITNESS_NAME);
        let logs = status["logs"].as_array().unwrap();
        let ours = logs.iter().find(|l| l["origin"] == ORIGIN).unwrap();
        assert_eq!(ours["size"], 9);
        assert_eq!(ours["root"], STANDARD.encode(log.root(9)));
        assert_eq!(ours["keys"], serde_json::json!([log.key().to_vkey()]));
        let other = logs.iter().find(|l| l["origin"] == OTHER_ORIGIN).unwrap();
        assert_eq!((other["size"].as_u64(), other["root"].is_null()), (Some(0), true));
    }
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sealpost-witness"))
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Output {
    let output = binary().args(args).output().unwrap();
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A failure: exit 1 and one sentence on stderr, no panic.
fn assert_fails(output: &Output, needle: &str) {
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(output.stderr.starts_with("sealpost-witness: "), "{}", output.stderr);
    assert!(output.stderr.contains(needle), "{}", output.stderr);
    assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
}

/// A running `sealpost-witness serve`, killed on drop if still running.
struct Server {
    child: Child,
    address: String,
    stderr: PathBuf,
}

impl Server {
    fn start(dir: &Path, key_file: &Path, log_keys: &[String]) -> Self {
        let stderr = dir.join(format!("stderr-{}.log", std::process::id()));
        let mut command = binary();
        command
            .args(["serve", "--name", WITNESS_NAME, "--key-file"])
            .arg(key_file)
            .arg("--state")
            .arg(dir.join("state.json"))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for key in log_keys {
            command.args(["--log", key]);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(address) = line.trim_end().strip_prefix("listening on http://") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no listening line: {line:?}; {}",
                std::fs::read_to_string(&stderr).unwrap()
            );
        };
        Self {
            address: address.to_owned(),
            child,
            stderr,
        }
    }

    /// One HTTP/1.1 exchange on a fresh connection.
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let mut content_type = String::new();
        for line in lines {
            let (name, value) = line.split_once(": ").unwrap();
            assert!(!name.eq_ignore_ascii_case("transfer-encoding"), "chunked reply");
            if name.eq_ignore_ascii_case("content-type") {
                content_type = value.to_owned();
            }
        }
        (status, content_type, body.to_owned())
    }

    /// SIGTERM, then the exit status: a graceful shutdown exits 0.
    #[cfg(unix)]
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{status}: {}",
            std::fs::read_to_string(&self.stderr).unwrap()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn keygen_and_vkey() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("witness.key");
    let key_path = key_file.to_str().unwrap();
    let generated = run(&["keygen", "--name", WITNESS_NAME, "--key-file", key_path]);
    assert_eq!(generated.code, Some(0), "{}", generated.stderr);
    let vkey = generated.stdout.trim_end().to_owned();
    assert!(vkey.starts_with(&format!("{WITNESS_NAME}+")));
    let seed: [u8; 32] = std::fs::read(&key_file).unwrap().try_into().unwrap();
    assert_eq!(
        tlog::CosignerKey::from_seed(WITNESS_NAME, &seed).unwrap().to_vkey(),
        vkey
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let printed = run(&["vkey", "--name", WITNESS_NAME, "--key-file", key_path]);
    assert_eq!((printed.code, printed.stdout.trim_end()), (Some(0), vkey.as_str()));

    // Never overwrites.
    let again = run(&["keygen", "--name", WITNESS_NAME, "--key-file", key_path]);
    assert_fails(&again, "already exists");
    assert_eq!(std::fs::read(&key_file).unwrap(), seed);

    // Bad inputs: one sentence, exit 1; usage errors exit 2.
    let missing = dir.path().join("missing.key");
    assert_fails(
        &run(&["vkey", "--name", WITNESS_NAME, "--key-file", missing.to_str().unwrap()]),
        "cannot read the key file",
    );
    let short = dir.path().join("short.key");
    std::fs::write(&short, [1u8; 31]).unwrap();
    assert_fails(
        &run(&["vkey", "--name", WITNESS_NAME, "--key-file", short.to_str().unwrap()]),
        "exactly 32 bytes",
    );
    assert_fails(
        &run(&["vkey", "--name", "bad name", "--key-file", key_path]),
        "witness name",
    );
    let state = dir.path().join("state.json");
    assert_fails(
        &run(&[
            "serve",
            "--name",
            WITNESS_NAME,
            "--key-file",
            key_path,
            "--state",
            state.to_str().unwrap(),
            "--log",
            "not-a-vkey",
        ]),
        "is not a log key",
    );
    let no_log = run(&[
        "serve",
        "--name",
        WITNESS_NAME,
        "--key-file",
        key_path,
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(no_log.code, Some(2), "{}", no_log.stderr);
    assert_eq!(run(&["keygen"]).code, Some(2));
}

#[cfg(unix)]
#[test]
fn the_binary_serves_and_keeps_its_state_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("witness.key");
    let generated = run(&[
        "keygen",
        "--name",
        WITNESS_NAME,
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(generated.code, Some(0), "{}", generated.stderr);
    let witness_vkey = generated.stdout.trim_end().to_owned();
    let witness_key = tlog::CosignerKey::from_vkey(&witness_vkey).unwrap();
    let log = TestLog::honest(20);
    let log_keys = [log.key().to_vkey()];

    let server = Server::start(dir.path(), &key_file, &log_keys);
    assert_eq!(
        server.http("GET", "/vkey", ""),
        (200, "text/plain; charset=utf-8".into(), format!("{witness_vkey}\n"))
    );
    let (status, _, lines) = server.http("POST", "/add-checkpoint", &log.request(0, 5));
    assert_eq!(status, 200, "{lines}");
    let note = tlog::add_signature_lines(&log.checkpoint(5), &lines).unwrap();
    tlog::verify_cosignature(&note, &witness_key).unwrap();
    assert_eq!(server.http("POST", "/add-checkpoint", &log.request(5, 9)).0, 200);
    server.terminate();

    let server = Server::start(dir.path(), &key_file, &log_keys);
    let (status, content_type, body) = server.http("GET", "/health", "");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["logs"][0]["size"], 9);
    assert_eq!(health["logs"][0]["root"], STANDARD.encode(log.root(9)));
    assert_eq!(
        server.http("POST", "/add-checkpoint", &log.request(0, 20)),
        (409, "text/x.tlog.size".into(), "9\n".into())
    );
    let (status, _, lines) = server.http("POST", "/add-checkpoint", &log.request(9, 20));
    assert_eq!(status, 200, "{lines}");
    let note = tlog::add_signature_lines(&log.checkpoint(20), &lines).unwrap();
    tlog::verify_cosignature(&note, &witness_key).unwrap();

    // A fork goes to the default evidence file beside the state file.
    let fork = TestLog::forked(20, 3);
    assert_eq!(server.http("POST", "/add-checkpoint", &fork.request(20, 20)).0, 409);
    server.terminate();
    let evidence = std::fs::read_to_string(dir.path().join("state.json.evidence.jsonl")).unwrap();
    assert_eq!(evidence.lines().count(), 1);
}
