//! The verifiable access log (docs/format.md, "Access log"): sequencing, signed checkpoints,
//! proofs, witnesses, receipts and exports.
//!
//! Every change records its events in `log_pending` inside its own transaction
//! (`db::ops::record`). The sequencer ([`integrate`]) moves them, in queue order and one replica
//! at a time (it holds the `log_state` row), into an RFC 6962 tree: each entry gets the next
//! index, its canonical leaf text (`sealpost_crypto::tlog::LogEntry`) with a link to the
//! previous entry of the same message, and the hashes of every perfect subtree it completes are
//! stored. Roots and proofs for any size are then computed from O(log n) stored nodes.
//!
//! Checkpoints are signed on demand for the committed size; Ed25519 signatures are
//! deterministic and the stored tree only grows, so every replica signs the same note for a
//! size and no two signed checkpoints can be inconsistent.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::merkle::{self, Hash};
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::tlog::{self, Checkpoint, CosignerKey, LogEntry, NodeId, ProvenEntry, RecipientLabel};
use zeroize::Zeroizing;

use super::{DomainError, DomainResult, Principal, Role, Scope, Services, messages};
use crate::db::log as q;
use crate::db::{Db, DbError, ops};
use crate::kek::ShareWrapper;

/// Events sequenced per transaction.
const BATCH: i64 = 500;
/// Most entries in one export page.
pub const EXPORT_PAGE: u64 = 20_000;
const KEY_LABEL: &str = "log-key";

/// The log's signing key, shared by every replica (stored wrapped in the database), and during
/// a key rotation a second key that co-signs every checkpoint (docs/format.md, "Rotating the log
/// key").
pub struct LogSigner {
    seed: Zeroizing<[u8; 32]>,
    key: VerifierKey,
    second: Option<(Zeroizing<[u8; 32]>, VerifierKey)>,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("vkey", &self.key.to_vkey())
            .field("second", &self.second.as_ref().map(|(_, k)| k.to_vkey()))
            .finish()
    }
}

impl LogSigner {
    /// A signer from a seed (tests, tools).
    pub fn from_seed(origin: &str, seed: [u8; 32]) -> Result<Self, String> {
        let public = sealpost_crypto::primitives::ed25519_public(&seed);
        let key = VerifierKey::new(origin, public).map_err(|_| format!("{origin:?} is not a valid log name"))?;
        Ok(Self {
            seed: Zeroizing::new(seed),
            key,
            second: None,
        })
    }

    /// Adds a second key (same name, the origin) that co-signs every checkpoint.
    pub fn with_second(mut self, seed: [u8; 32]) -> Result<Self, String> {
        let public = sealpost_crypto::primitives::ed25519_public(&seed);
        let key = VerifierKey::new(self.origin(), public).map_err(|_| "invalid second log key".to_owned())?;
        self.second = Some((Zeroizing::new(seed), key));
        Ok(self)
    }

    /// Every verifier key checkpoints are signed with: the primary first, then the second key
    /// during a rotation.
    pub fn vkeys(&self) -> Vec<String> {
        std::iter::once(self.key.to_vkey())
            .chain(self.second.as_ref().map(|(_, k)| k.to_vkey()))
            .collect()
    }

    /// The origin (key name).
    pub fn origin(&self) -> &str {
        &self.key.name
    }

    /// The verifier key.
    pub fn verifier(&self) -> &VerifierKey {
        &self.key
    }

    /// The published `name+id+key` text.
    pub fn vkey(&self) -> String {
        self.key.to_vkey()
    }

    /// Signs a checkpoint note. The log signs only checkpoints of its stored tree ([`checkpoint`]);
    /// this is public for tools and tests that must show what a misbehaving log could sign.
    /// During a rotation the note carries the second key's signature too (same key name,
    /// another key id): a verifier that knows either key accepts it.
    pub fn sign(&self, checkpoint: &Checkpoint) -> DomainResult<String> {
        let note = self.sign_primary(checkpoint)?;
        let Some((seed, _)) = &self.second else {
            return Ok(note);
        };
        let failed = |e: sealpost_crypto::Error| {
            tracing::error!(error = %e, "cannot sign a checkpoint");
            DomainError::Unavailable
        };
        let other = checkpoint.sign(seed).map_err(failed)?;
        let line = other.rfind("\n\n").map_or("", |at| &other[at + 2..]);
        tlog::add_signature_lines(&note, line).map_err(failed)
    }

    /// A checkpoint note signed by the primary key only (receipts and exports, whose verifiers
    /// accept exactly the log's signature and witness cosignatures on their checkpoint).
    pub fn sign_primary(&self, checkpoint: &Checkpoint) -> DomainResult<String> {
        checkpoint.sign(&self.seed).map_err(|e| {
            tracing::error!(error = %e, "cannot sign a checkpoint");
            DomainError::Unavailable
        })
    }
}

/// The `log_keys` row of the second key of `origin` (origins contain no whitespace, so it never
/// names a log). Its wrap is bound to this text, as the primary's is bound to the origin.
pub fn second_key_row(origin: &str) -> String {
    format!("{origin} second")
}

/// Loads the log key for `origin`, creating it on first start (a race between replicas leaves
/// exactly one key: the insert does nothing when another replica stored one first).
pub async fn load_signer(db: &Db, kek: &dyn ShareWrapper, origin: &str, now: i64) -> Result<LogSigner, String> {
    let context = origin.as_bytes();
    if q::load_key(db.pool(), origin)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|_| "the OS random generator failed".to_owned())?;
        let signer = LogSigner::from_seed(origin, *seed)?;
        let wrapped = kek
            .wrap_secret(KEY_LABEL, context, seed.as_ref())
            .map_err(|e| e.to_string())?;
        q::insert_key(db.pool(), origin, &signer.key.public, &wrapped, now)
            .await
            .map_err(|e| e.to_string())?;
    }
    let (public, wrapped) = q::load_key(db.pool(), origin)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the log key vanished after it was stored".to_owned())?;
    let seed = kek
        .unwrap_secret(KEY_LABEL, context, &wrapped)
        .map_err(|_| "the stored log key does not open with this server key-encryption key".to_owned())?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| "the stored log key has the wrong length".to_owned())?;
    let signer = LogSigner::from_seed(origin, seed)?;
    if signer.key.public.as_slice() != public.as_slice() {
        return Err("the stored log key does not match its public key".into());
    }
    let row = second_key_row(origin);
    match q::load_key(db.pool(), &row).await.map_err(|e| e.to_string())? {
        None => Ok(signer),
        Some((public, wrapped)) => {
            let seed = kek
                .unwrap_secret(KEY_LABEL, row.as_bytes(), &wrapped)
                .map_err(|e| format!("the second log key does not open: {e}"))?;
            let seed: [u8; 32] = seed
                .as_slice()
                .try_into()
                .map_err(|_| "the second log key has the wrong length".to_owned())?;
            let signer = signer.with_second(seed)?;
            if signer.second.as_ref().map(|(_, k)| k.public.as_slice()) != Some(public.as_slice()) {
                return Err("the second log key does not match its public key".into());
            }
            Ok(signer)
        }
    }
}

/// Starts a log key rotation: stores a new key as the second key of `origin`, which every
/// replica started afterwards uses to co-sign checkpoints. Returns its vkey.
pub async fn add_second_key(db: &Db, kek: &dyn ShareWrapper, origin: &str, now: i64) -> Result<String, String> {
    let row = second_key_row(origin);
    if q::load_key(db.pool(), &row).await.map_err(|e| e.to_string())?.is_some() {
        return Err("a second log key already exists: promote or retire it first".into());
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|_| "the OS random generator failed".to_owned())?;
    let key = LogSigner::from_seed(origin, *seed)?;
    let wrapped = kek
        .wrap_secret(KEY_LABEL, row.as_bytes(), seed.as_ref())
        .map_err(|e| e.to_string())?;
    q::insert_key(db.pool(), &row, &key.key.public, &wrapped, now)
        .await
        .map_err(|e| e.to_string())?;
    let stored = q::load_key(db.pool(), &row).await.map_err(|e| e.to_string())?;
    if stored.is_none_or(|(public, _)| public.as_slice() != key.key.public.as_slice()) {
        return Err("another second log key was added at the same time".into());
    }
    Ok(key.vkey())
}

/// Swaps the primary and the second key of `origin` (both go on signing checkpoints). Returns
/// the new primary's vkey.
pub async fn promote_second_key(db: &Db, kek: &dyn ShareWrapper, origin: &str) -> Result<String, String> {
    let row = second_key_row(origin);
    let open = |name: &str, wrapped: &[u8]| -> Result<Zeroizing<Vec<u8>>, String> {
        kek.unwrap_secret(KEY_LABEL, name.as_bytes(), wrapped)
            .map_err(|e| format!("the log key {name:?} does not open: {e}"))
    };
    let (primary_pk, primary_wrapped) = q::load_key(db.pool(), origin)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("there is no log key to rotate")?;
    let (second_pk, second_wrapped) = q::load_key(db.pool(), &row)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("there is no second log key: add one first (admin log add-key)")?;
    let primary_seed = open(origin, &primary_wrapped)?;
    let second_seed = open(&row, &second_wrapped)?;
    let new_primary = kek
        .wrap_secret(KEY_LABEL, origin.as_bytes(), &second_seed)
        .map_err(|e| e.to_string())?;
    let new_second = kek
        .wrap_secret(KEY_LABEL, row.as_bytes(), &primary_seed)
        .map_err(|e| e.to_string())?;
    let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
    q::replace_key(&mut tx, origin, &primary_pk, &second_pk, &new_primary)
        .await
        .map_err(|e| e.to_string())?;
    q::replace_key(&mut tx, &row, &second_pk, &primary_pk, &new_second)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    let public: [u8; 32] = second_pk
        .as_slice()
        .try_into()
        .map_err(|_| "the second log key has the wrong length".to_owned())?;
    Ok(VerifierKey::new(origin, public).map_err(|e| e.to_string())?.to_vkey())
}

/// Ends a rotation: deletes the second key (its seed is gone; what it signed still verifies
/// against its public key). Returns its vkey.
pub async fn retire_second_key(db: &Db, origin: &str) -> Result<String, String> {
    let row = second_key_row(origin);
    let (public, _) = q::load_key(db.pool(), &row)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("there is no second log key to retire")?;
    q::delete_key(db.pool(), &row).await.map_err(|e| e.to_string())?;
    let public: [u8; 32] = public
        .as_slice()
        .try_into()
        .map_err(|_| "the second log key has the wrong length".to_owned())?;
    Ok(VerifierKey::new(origin, public).map_err(|e| e.to_string())?.to_vkey())
}

/// A witness the log pushes its checkpoints to.
#[derive(Debug, Clone)]
pub struct Witness {
    /// Base URL (the protocol path `add-checkpoint` is appended).
    pub url: String,
    /// Its cosigning key.
    pub key: CosignerKey,
}

impl Witness {
    /// Parses `"<URL> <vkey>"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split_whitespace();
        let (Some(url), Some(vkey), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("witness {text:?} must be \"<URL> <vkey>\""));
        };
        let key = CosignerKey::from_vkey(vkey).map_err(|_| format!("witness key {vkey:?} is not a cosigner vkey"))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            key,
        })
    }
}

/// The log's configuration at run time.
#[derive(Debug)]
pub struct Transparency {
    /// The signing key.
    pub signer: LogSigner,
    /// Witnesses.
    pub witnesses: Vec<Witness>,
    /// HTTP client for witnesses.
    pub client: reqwest::Client,
    /// Group commit for this process's callers of [`integrate`].
    sequencer: Sequencer,
}

/// Group commit for the sequencer within one process. Replicas are ordered by the `log_state`
/// row lock in the database; this only spares a replica's concurrent callers from each running
/// a pass of their own (each holding a pool connection while it queues on that lock): a caller
/// whose entries a pass that began after its call has already taken returns at once. It decides
/// nothing else and holds nothing that must survive the process.
#[derive(Debug, Default)]
struct Sequencer {
    /// Passes begun so far in this process, numbered from 1.
    begun: std::sync::atomic::AtomicU64,
    /// The number of the last pass that completed, and the committed size it left.
    finished: tokio::sync::Mutex<(u64, u64)>,
}

/// A checkpoint and its signed note (with whatever cosignatures are stored for its size).
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note.
    pub note: String,
}

/// What comes with a released share: the release entry and its proof.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseProof {
    /// Leaf index.
    pub index: u64,
    /// The leaf text, base64.
    pub leaf: String,
    /// Inclusion proof hashes, base64.
    pub proof: Vec<String>,
    /// The checkpoint note the proof is against.
    pub checkpoint: String,
}

fn storage(e: DbError) -> DomainError {
    DomainError::from(e)
}

fn root_of_frontier(frontier: &[u8]) -> DomainResult<Hash> {
    let stack = parse_frontier(frontier)?;
    let mut iter = stack.iter().rev();
    let Some(last) = iter.next() else {
        return Ok(merkle::empty_root());
    };
    let mut root = *last;
    for left in iter {
        root = merkle::node_hash(left, &root);
    }
    Ok(root)
}

fn parse_frontier(frontier: &[u8]) -> DomainResult<Vec<Hash>> {
    if !frontier.len().is_multiple_of(32) {
        return Err(storage(DbError::Corrupt("log frontier length".into())));
    }
    Ok(frontier
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunk"))
        .collect())
}

/// Sequences everything pending into the tree; returns the committed size. Everything committed
/// to the queue before the call is in the tree when it returns.
pub async fn integrate(svc: &Services) -> DomainResult<u64> {
    use std::sync::atomic::Ordering;
    let seq = &svc.log.sequencer;
    // The caller's events are committed by now, so any pass that begins after this load takes
    // them: a pass runs until it finds the queue empty (or emptied by another replica's pass,
    // which it waits for on the row lock).
    let begun = seq.begun.load(Ordering::Acquire);
    let mut finished = seq.finished.lock().await;
    if finished.0 > begun {
        return Ok(finished.1);
    }
    let pass = seq.begun.fetch_add(1, Ordering::AcqRel) + 1;
    let size = integrate_pass(svc).await?;
    *finished = (pass, size);
    Ok(size)
}

/// One sequencing pass: batches of pending events under the `log_state` row lock until the queue
/// is empty.
async fn integrate_pass(svc: &Services) -> DomainResult<u64> {
    loop {
        if !q::has_pending(svc.db.pool()).await? {
            return Ok(q::state(svc.db.pool()).await?.0);
        }
        let mut tx = svc.db.begin_write().await?;
        let (size, frontier) = q::lock_state(&mut tx).await?;
        let pending = q::take_pending(&mut tx, BATCH).await?;
        if pending.is_empty() {
            tx.commit().await.map_err(DbError::from)?;
            return Ok(size);
        }
        let mut stack = parse_frontier(&frontier)?;
        let mut heads: HashMap<String, (u64, Hash)> = HashMap::new();
        let mut org_heads: HashMap<String, (u64, Hash)> = HashMap::new();
        let mut nodes: Vec<(i64, Hash)> = Vec::with_capacity(pending.len() * 2);
        let mut index = size;
        for p in &pending {
            let prev = match &p.message_id {
                Some(m) => match heads.get(m) {
                    Some(head) => Some(*head),
                    None => q::chain_head(&mut tx, m).await?,
                },
                None => None,
            };
            let org_prev = match &p.org_id {
                Some(o) => match org_heads.get(o) {
                    Some(head) => Some(*head),
                    None => q::org_head(&mut tx, o).await?,
                },
                None => None,
            };
            let entry = LogEntry {
                index,
                time_ms: u64::try_from(p.at).unwrap_or(0),
                kind: p.kind.clone(),
                org: p.org_id.clone(),
                actor: p.actor.clone(),
                source: p.source.clone(),
                message: p.message_id.clone(),
                recipient: p.rid.clone(),
                prev,
                org_prev,
                detail: p.detail.clone(),
            };
            let leaf = entry.encode().map_err(|e| {
                tracing::error!(error = %e, kind = %p.kind, pending = p.id, "an event cannot be encoded as a log entry");
                DomainError::Unavailable
            })?;
            let leaf_hash = LogEntry::leaf_hash(&leaf);
            q::insert_entry(&mut tx, index, p, &leaf).await?;
            nodes.push((NodeId { level: 0, index }.key(), leaf_hash));
            let mut hash = leaf_hash;
            for id in tlog::nodes_completed_by(index) {
                let left = stack
                    .pop()
                    .ok_or_else(|| storage(DbError::Corrupt("log frontier too short".into())))?;
                hash = merkle::node_hash(&left, &hash);
                nodes.push((id.key(), hash));
            }
            stack.push(hash);
            if let Some(m) = &p.message_id {
                heads.insert(m.clone(), (index, leaf_hash));
            }
            if let Some(o) = &p.org_id {
                org_heads.insert(o.clone(), (index, leaf_hash));
            }
            index += 1;
        }
        q::insert_nodes(&mut tx, &nodes).await?;
        let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
        q::delete_pending(&mut tx, &ids).await?;
        q::update_state(&mut tx, index, &stack.concat()).await?;
        tx.commit().await.map_err(DbError::from)?;
        metrics::counter!("sealpost_log_entries_total").increment(pending.len() as u64);
        if (pending.len() as i64) < BATCH {
            return Ok(index);
        }
    }
}

/// The checkpoint of the committed tree, signed, with the cosignatures stored for its size.
pub async fn checkpoint(svc: &Services) -> DomainResult<SignedCheckpoint> {
    integrate(svc).await?;
    let (size, frontier) = q::state(svc.db.pool()).await?;
    let checkpoint = Checkpoint {
        origin: svc.log.signer.origin().to_owned(),
        size,
        root: root_of_frontier(&frontier)?,
    };
    let note = with_cosignatures(svc, &checkpoint, svc.log.signer.sign(&checkpoint)?).await?;
    Ok(SignedCheckpoint { checkpoint, note })
}

/// The checkpoint signed by the primary key only, with its stored cosignatures.
async fn primary_note(svc: &Services, checkpoint: &Checkpoint) -> DomainResult<String> {
    with_cosignatures(svc, checkpoint, svc.log.signer.sign_primary(checkpoint)?).await
}

async fn with_cosignatures(svc: &Services, checkpoint: &Checkpoint, note: String) -> DomainResult<String> {
    let mut lines = String::new();
    for (name, line) in q::cosignatures(svc.db.pool(), checkpoint.size).await? {
        if svc.log.witnesses.iter().any(|w| w.key.name == name) {
            lines.push_str(&line);
        }
    }
    if lines.is_empty() {
        return Ok(note);
    }
    tlog::add_signature_lines(&note, &lines).map_err(|e| {
        tracing::error!(error = %e, "a stored cosignature line is malformed");
        DomainError::Unavailable
    })
}

/// Runs a proof computation over stored nodes: asks which nodes it needs (that depends only on
/// the sizes), fetches them in one query, then computes.
async fn with_nodes<T>(svc: &Services, f: impl Fn(&mut dyn FnMut(NodeId) -> Hash) -> T) -> DomainResult<T> {
    let needed = tlog::nodes_needed(|g| {
        let _ = f(g);
    });
    let keys: Vec<i64> = needed.iter().map(|id| id.key()).collect();
    let map = q::nodes(svc.db.pool(), &keys).await?;
    let mut get = |id: NodeId| map.get(&id.key()).copied().unwrap_or([0u8; 32]);
    Ok(f(&mut get))
}

fn b64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

/// The inclusion proof of entry `index` in the tree of `size` (both committed).
pub async fn inclusion(svc: &Services, index: u64, size: u64) -> DomainResult<Vec<Hash>> {
    let committed = q::state(svc.db.pool()).await?.0;
    if size > committed || index >= size {
        return Err(DomainError::invalid(
            "bad_proof_request",
            format!("index must be below size, and size at most the log size {committed}"),
        ));
    }
    with_nodes(svc, |g| tlog::inclusion_proof_with(index, size, &mut *g))
        .await?
        .map_err(|_| DomainError::Unavailable)
}

/// The consistency proof between two committed sizes.
pub async fn consistency(svc: &Services, from: u64, to: u64) -> DomainResult<Vec<Hash>> {
    let committed = q::state(svc.db.pool()).await?.0;
    if from == 0 || from > to || to > committed {
        return Err(DomainError::invalid(
            "bad_proof_request",
            format!("need 0 < from <= to <= the log size {committed}"),
        ));
    }
    with_nodes(svc, |g| tlog::consistency_proof_with(from, to, &mut *g))
        .await?
        .map_err(|_| DomainError::Unavailable)
}

/// The root of a committed size (for auditors comparing a checkpoint they hold).
pub async fn root_at(svc: &Services, size: u64) -> DomainResult<Hash> {
    let committed = q::state(svc.db.pool()).await?.0;
    if size > committed {
        return Err(DomainError::invalid(
            "bad_proof_request",
            format!("size must be at most the log size {committed}"),
        ));
    }
    with_nodes(svc, |g| tlog::root_with(size, &mut *g)).await
}

/// The proof that goes with a share: the entry written by the releasing transaction (queue id
/// `pending_id`), sequenced, with its inclusion proof and a signed checkpoint.
pub async fn release_proof(svc: &Services, pending_id: i64) -> DomainResult<ReleaseProof> {
    let signed = checkpoint(svc).await?;
    let (index, leaf) = q::entry_by_pending(svc.db.pool(), pending_id).await?.ok_or_else(|| {
        tracing::error!(pending_id, "a release entry was not sequenced");
        DomainError::Unavailable
    })?;
    let size = signed.checkpoint.size;
    let proof = with_nodes(svc, |g| tlog::inclusion_proof_with(index, size, &mut *g))
        .await?
        .map_err(|_| DomainError::Unavailable)?;
    Ok(ReleaseProof {
        index,
        leaf: STANDARD.encode(&leaf),
        proof: b64_hashes(&proof),
        checkpoint: signed.note,
    })
}

/// Pushes the current checkpoint to every witness (c2sp.org/tlog-witness) and stores their
/// cosignatures; returns the checkpoint with them. A witness that fails is logged and skipped.
pub async fn witnessed_checkpoint(svc: &Services) -> DomainResult<SignedCheckpoint> {
    let signed = checkpoint(svc).await?;
    if svc.log.witnesses.is_empty() {
        return Ok(signed);
    }
    let bare = svc.log.signer.sign(&signed.checkpoint)?;
    for w in &svc.log.witnesses {
        if let Err(e) = push(svc, w, &signed.checkpoint, &bare).await {
            tracing::warn!(witness = %w.key.name, url = %w.url, error = %e, "witness did not cosign");
            metrics::counter!("sealpost_witness_failures_total").increment(1);
        }
    }
    let note = with_cosignatures(svc, &signed.checkpoint, bare).await?;
    Ok(SignedCheckpoint {
        checkpoint: signed.checkpoint,
        note,
    })
}

async fn push(svc: &Services, w: &Witness, checkpoint: &Checkpoint, note: &str) -> Result<(), String> {
    let size = checkpoint.size;
    if size == 0 {
        return Ok(());
    }
    let mut old = q::witness_size(svc.db.pool(), &w.key.name)
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..3 {
        if old > size {
            return Err(format!("the witness has seen size {old}, newer than {size}"));
        }
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            consistency(svc, old, size).await.map_err(|e| e.to_string())?
        };
        let mut body = format!("old {old}\n");
        for h in &proof {
            body.push_str(&STANDARD.encode(h));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(note);
        let response = svc
            .log
            .client
            .post(format!("{}/add-checkpoint", w.url))
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        match status.as_u16() {
            200 => {
                let cosigned = tlog::add_signature_lines(note, &text).map_err(|e| e.to_string())?;
                tlog::verify_cosignature(&cosigned, &w.key)
                    .map_err(|_| "its cosignature does not verify".to_owned())?;
                let line = text
                    .lines()
                    .find(|l| l.starts_with(&format!("\u{2014} {} ", w.key.name)))
                    .ok_or("no cosignature line under its name")?;
                q::store_cosignature(
                    svc.db.pool(),
                    &w.key.name,
                    size,
                    &format!("{line}\n"),
                    svc.clock.now_ms(),
                )
                .await
                .map_err(|e| e.to_string())?;
                return Ok(());
            }
            409 => {
                old = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("409 with an unreadable size {text:?}"))?;
            }
            code => return Err(format!("HTTP {code}: {}", text.trim())),
        }
    }
    Err("the witness kept changing its size".into())
}

/// Stored entries with their inclusion proofs against the tree of `size`, from one batched
/// fetch of the nodes all the proofs need.
async fn prove_all(svc: &Services, entries: &[q::EntryRow], size: u64) -> DomainResult<Vec<ProvenEntry>> {
    let indexes: Vec<u64> = entries.iter().map(|e| e.idx as u64).collect();
    let proofs = with_nodes(svc, |g| {
        indexes
            .iter()
            .map(|&i| tlog::inclusion_proof_with(i, size, &mut *g))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?
    .map_err(|_| DomainError::Unavailable)?;
    Ok(entries
        .iter()
        .zip(proofs)
        .map(|(e, proof)| ProvenEntry {
            index: e.idx as u64,
            leaf: STANDARD.encode(&e.leaf),
            proof: b64_hashes(&proof),
        })
        .collect())
}

/// Who may read a message's receipt: whoever may read its status (its sender, an admin or a
/// DPO of the organisation).
pub async fn receipt(svc: &Services, who: &Principal, message_id: &str) -> DomainResult<String> {
    who.require(Scope::Read)?;
    let status = messages::status(svc, who, message_id).await?;
    build_receipt(svc, who, message_id, status).await
}

/// The receipt embedded in a breach-register export: the register has checked that the caller
/// is a DPO or admin of the message's organisation.
pub(crate) async fn receipt_for_register(svc: &Services, who: &Principal, message_id: &str) -> DomainResult<String> {
    let status = messages::status_unchecked(svc, message_id).await?;
    build_receipt(svc, who, message_id, status).await
}

async fn build_receipt(
    svc: &Services,
    who: &Principal,
    message_id: &str,
    status: messages::MessageStatus,
) -> DomainResult<String> {
    let now = svc.clock.now_ms();
    let actor = who.actor();
    ops::record_alone(
        &svc.db,
        now,
        &ops::Event {
            org_id: Some(&who.org_id),
            actor: &actor,
            kind: tlog::kinds::RECEIPT_ISSUED,
            message_id: Some(message_id),
            rid: None,
            detail: None,
        },
    )
    .await?;
    let signed = witnessed_checkpoint(svc).await?;
    let size = signed.checkpoint.size;
    let entries = q::message_entries(svc.db.pool(), message_id, size).await?;
    let events = prove_all(svc, &entries, size).await?;
    let labels: Vec<RecipientLabel> = status
        .recipients
        .iter()
        .map(|r| RecipientLabel {
            rid: r.rid.clone(),
            address: label(r),
        })
        .collect();
    // Receipt verifiers accept exactly the log's signature and cosignatures on the checkpoint.
    let note = primary_note(svc, &signed.checkpoint).await?;
    let witnesses: Vec<CosignerKey> = svc
        .log
        .witnesses
        .iter()
        .filter(|w| tlog::verify_cosignature(&note, &w.key).is_ok())
        .map(|w| w.key.clone())
        .collect();
    tlog::build_receipt(
        &svc.log.signer.seed,
        &note,
        message_id,
        u64::try_from(now).unwrap_or(0),
        &labels,
        &events,
        &witnesses,
    )
    .map_err(|e| {
        tracing::error!(error = %e, message = %message_id, "cannot build a receipt");
        DomainError::Unavailable
    })
}

/// How a recipient is named on a receipt: the address, or the masked phone of a guest.
fn label(r: &messages::RecipientStatus) -> String {
    let text = r
        .address
        .clone()
        .or_else(|| r.phone_hint.clone())
        .unwrap_or_else(|| r.rid.clone());
    let clean: String = text
        .chars()
        .map(|c| if c.is_whitespace() || c.is_control() { '_' } else { c })
        .collect();
    if clean.is_empty() { r.rid.clone() } else { clean }
}

/// An organisation's log range as JSON lines with proofs (docs/format.md, "Export"); admins and
/// DPOs only. At most [`EXPORT_PAGE`] entries: the header's `to` says where the page ends.
pub async fn export(svc: &Services, who: &Principal, from: u64, to: Option<u64>) -> DomainResult<String> {
    who.require(Scope::Read)?;
    if !(who.has_role(Role::Admin) || who.has_role(Role::Dpo)) {
        return Err(DomainError::Forbidden("exporting the log needs the admin or dpo role"));
    }
    let now = svc.clock.now_ms();
    let actor = who.actor();
    ops::record_alone(
        &svc.db,
        now,
        &ops::Event::account(
            &who.org_id,
            &actor,
            "log.exported",
            Some(serde_json::json!({ "from": from, "to": to })),
        ),
    )
    .await?;
    let signed = witnessed_checkpoint(svc).await?;
    let size = signed.checkpoint.size;
    let mut end = to.unwrap_or(size).min(size);
    if from > end {
        return Err(DomainError::invalid("bad_range", format!("from must be at most {end}")));
    }
    let entries = q::org_entries(svc.db.pool(), &who.org_id, from, end, EXPORT_PAGE as i64).await?;
    if entries.len() as u64 == EXPORT_PAGE
        && let Some(last) = entries.last()
    {
        end = last.idx as u64 + 1;
    }
    let proven = prove_all(svc, &entries, size).await?;
    let mut out = tlog::export_header_line(&tlog::ExportHeader {
        format: "sealpost/log-export/v1".into(),
        org: who.org_id.clone(),
        checkpoint: signed.note,
        from,
        to: end,
    });
    for entry in &proven {
        out.push_str(&tlog::export_line(entry));
    }
    Ok(out)
}

/// Recomputes the tree from the stored leaves below `size` and compares it with the stored
/// nodes and with `expected` (a root from a checkpoint issued earlier): detects a deleted,
/// changed or reordered entry. Returns the number of entries checked.
pub async fn audit(svc: &Services, size: u64, expected: Option<Hash>) -> DomainResult<u64> {
    let mut builder = merkle::RootBuilder::new();
    let mut next = 0u64;
    while next < size {
        let page = q::leaves(svc.db.pool(), next, size.min(next + 10_000)).await?;
        if page.is_empty() {
            break;
        }
        for (idx, leaf) in page {
            if idx != next {
                return Err(DomainError::Conflict {
                    code: "log_tampered",
                    detail: format!("entry {next} is missing"),
                });
            }
            let entry = LogEntry::parse(&leaf).map_err(|_| DomainError::Conflict {
                code: "log_tampered",
                detail: format!("entry {idx} is not a canonical log entry"),
            })?;
            if entry.index != idx {
                return Err(DomainError::Conflict {
                    code: "log_tampered",
                    detail: format!("entry {idx} says it is entry {}", entry.index),
                });
            }
            builder.push(LogEntry::leaf_hash(&leaf));
            next += 1;
        }
    }
    if next != size {
        return Err(DomainError::Conflict {
            code: "log_tampered",
            detail: format!("the log holds {next} entries, not {size}"),
        });
    }
    let root = builder.root();
    if let Some(expected) = expected
        && root != expected
    {
        return Err(DomainError::Conflict {
            code: "log_tampered",
            detail: format!("the entries below {size} do not hash to the checkpoint's root"),
        });
    }
    let stored = root_at(svc, size).await?;
    if stored != root {
        return Err(DomainError::Conflict {
            code: "log_tampered",
            detail: format!("the stored tree of size {size} does not match its entries"),
        });
    }
    Ok(size)
}

/// The sweeper's part: sequence what is pending and keep witnesses up to date.
pub async fn tick(svc: &Services) -> DomainResult<()> {
    if svc.log.witnesses.is_empty() {
        integrate(svc).await?;
    } else {
        witnessed_checkpoint(svc).await?;
    }
    Ok(())
}

/// Builds the run-time log state from configuration.
pub fn transparency(signer: LogSigner, witnesses: &[String], timeout: Duration) -> Result<Transparency, String> {
    let witnesses = witnesses
        .iter()
        .map(|w| Witness::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build the witness HTTP client: {e}"))?;
    Ok(Transparency {
        signer,
        witnesses,
        client,
        sequencer: Sequencer::default(),
    })
}
