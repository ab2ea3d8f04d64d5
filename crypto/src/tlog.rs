//! The Sealpost access log as a transparency log: proofs from stored perfect-subtree nodes,
//! C2SP checkpoints and cosignatures, the log entry (leaf) format, the release proof a recipient
//! client checks, sender receipts and organisation exports.
//!
//! Everything here is sans-IO: no clock (every time is a parameter), no storage (node hashes come
//! through a getter), no network, no randomness (Ed25519 signing is deterministic).
//!
//! # Formats
//!
//! Notation: `‖` is concatenation, `\n` is the byte 0x0A, `<u64>` is a canonical decimal number
//! (ASCII digits, no sign, no leading zero unless the number is `0`), `B64(x)` is standard base64
//! **with** padding (RFC 4648 §4, canonical: a 32-byte hash is always 44 characters), as
//! c2sp.org/signed-note uses it. A *token* is a non-empty UTF-8 string with no whitespace and no
//! control character that is not exactly `-` (the "absent" marker).
//!
//! ## Tree and stored nodes
//!
//! The tree is RFC 9162 §2.1.1: `leaf = SHA-256(0x00 ‖ entry bytes)`,
//! `node = SHA-256(0x01 ‖ left ‖ right)`, the root of `[a, b)` splitting at the largest power of
//! two `k < b − a`; the empty tree's root is `SHA-256("")` (see [`crate::merkle`]). A log stores
//! only the *perfect* subtrees: [`NodeId`] `{level l, index i}` is the root of leaves
//! `[i·2^l, (i+1)·2^l)`, level 0 being the leaf hashes themselves; its storage key is the `i64`
//! `(l << 56) | i`. Appending leaf `n` completes the nodes [`nodes_completed_by`]`(n)`, each the
//! node hash of its two children one level down. Roots, inclusion proofs (RFC 9162 §2.1.3.1) and
//! consistency proofs (§2.1.4.1) are computed from those nodes alone; a non-perfect range is
//! hashed by the recursive split, so any root or proof needs O(log n) stored nodes.
//!
//! ## Checkpoint (c2sp.org/tlog-checkpoint, no extension lines)
//!
//! ```text
//! <origin>\n<size: u64>\n<B64(root hash)>\n
//! ```
//!
//! `origin` is a token (it is also the log key's signed-note name, so it cannot contain `+`). The
//! log signs the body as a c2sp.org/signed-note ([`crate::note`]) with key name = origin:
//! `body ‖ "\n" ‖ "— " ‖ origin ‖ " " ‖ B64(keyID(4) ‖ Ed25519 signature(64)) ‖ "\n"`, with
//! `keyID = SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
//!
//! ## Cosignature (c2sp.org/tlog-cosignature, Ed25519, key type 0x04)
//!
//! A witness key is a name (a token without `+`) and an Ed25519 public key;
//! `keyID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ pk)[..4]`, vkey text `name+hex(keyID)+B64(0x04 ‖ pk)`.
//! The witness appends to the log-signed checkpoint note the line
//!
//! ```text
//! — <name> B64(keyID(4) ‖ BE64(time)(8) ‖ Ed25519 signature(64))\n
//! ```
//!
//! where `time` is the cosigning time in seconds since the Unix epoch and the signature covers
//! `"cosignature/v1\ntime " ‖ <time: u64> ‖ "\n" ‖ checkpoint body`.
//!
//! ## Log entry (the leaf)
//!
//! UTF-8, exactly these twelve lines in this order, every one present, `-` for an absent value:
//!
//! ```text
//! sealpost/log-entry/v1\n
//! index <u64>\n                    leaf index of this entry
//! time <u64>\n                     milliseconds since the Unix epoch
//! kind <kind>\n                    [a-z0-9._-]{1,64}, not "-"
//! org <token|->\n                  ≤ 128 bytes
//! actor <token>\n                  ≤ 256 bytes ("user:u_x", "recipient:r_y", "system", …)
//! from <token|->\n                 source address text, ≤ 128 bytes
//! message <token|->\n              message id, ≤ 128 bytes
//! recipient <token|->\n            recipient id, ≤ 128 bytes
//! prev <u64> <B64(leaf hash)>\n    previous entry of the same message (index < this index), or "prev -\n"
//! org-prev <u64> <B64(leaf hash)>\n previous entry of the same organisation, or "org-prev -\n"
//! detail <json|->\n                a JSON object on one line, ≤ 4096 bytes
//! ```
//!
//! `detail` must parse as a JSON object, contain no control character and no leading or trailing
//! whitespace; it is otherwise stored verbatim (key order and inner spacing are the writer's).
//! A parser accepts exactly what the encoder produces and nothing else.
//!
//! ## Release proof
//!
//! A released share travels with the log-signed checkpoint note, the leaf index, the leaf bytes
//! and the inclusion proof; see [`verify_release`].
//!
//! ## Receipt
//!
//! The receipt file is `serde_json::to_string_pretty` of the object below (fields in this order,
//! no others) followed by `\n`:
//!
//! ```text
//! {"format": "sealpost/receipt/v1", "statement": <signed note>, "checkpoint": <checkpoint note>,
//!  "events": [{"index": <u64>, "leaf": B64(entry bytes), "proof": [B64(hash), …]}, …]}
//! ```
//!
//! `checkpoint` is the log-signed checkpoint note with any cosignature lines; `events` are all the
//! entries of the message's chain up to that checkpoint, in index order, each with its inclusion
//! proof against the checkpoint. `statement` is a signed note by the log key (name = origin), with
//! exactly one signature line, whose text is:
//!
//! ```text
//! sealpost/receipt/v1\n
//! origin <origin>\n
//! message <message id>\n
//! issued <u64: ms>\n
//! checkpoint <size: u64> <B64(root)>\n
//! witness <witness vkey> <time: u64>\n      one per cosignature line of the checkpoint note, in note order
//! recipient <rid> <address> released <first ms|-> <count: u64> revoked <ms|-> expired <ms|-> destroyed <ms|->\n
//!                                           one per recipient of the message
//! event <index: u64> <B64(leaf hash)>\n     one per event, in order
//! ```
//!
//! The recipient lines are derived from the events (see [`verify_receipt`] for the rules), so a
//! verifier recomputes and compares them.
//!
//! ## Organisation export
//!
//! JSON lines, each compact JSON followed by `\n`. Line 1 is the header
//! `{"format":"sealpost/log-export/v1","org":<org>,"checkpoint":<checkpoint note>,"from":<u64>,"to":<u64>}`,
//! then one `{"index":…,"leaf":…,"proof":[…]}` line per entry with `org = <org>` and
//! `from ≤ index < to`, in index order, each proof against the header's checkpoint. Every line
//! must be exactly what [`export_header_line`] / [`export_line`] produce.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::merkle::{self, Hash};
use crate::note::{self, VerifierKey};
use crate::primitives::{ed25519_public, ed25519_sign, ed25519_verify, sha256};
use crate::{Error, Result};

// =============================================================================================
// 1. Proofs from stored perfect-subtree nodes
// =============================================================================================

/// The largest tree size the proof functions accept, 2^56 leaves, so that every node index fits
/// in a [`NodeId::key`].
pub const MAX_TREE_SIZE: u64 = 1 << 56;

/// A perfect subtree: leaves `[index·2^level, (index+1)·2^level)`. Level 0 = the leaf hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height of the subtree: 0 for a leaf hash.
    pub level: u8,
    /// Position among the subtrees of that level, counted from 0 at the left.
    pub index: u64,
}

impl NodeId {
    /// Storage key: `(level << 56) | index`, as `i64`.
    ///
    /// # Panics
    ///
    /// If `index ≥ 2^56` or `level ≥ 128` (neither happens for trees of at most
    /// [`MAX_TREE_SIZE`] leaves, where `level ≤ 56`).
    pub fn key(self) -> i64 {
        assert!(
            self.index < MAX_TREE_SIZE && self.level < 128,
            "NodeId out of the storage key range"
        );
        (i64::from(self.level) << 56) | self.index as i64
    }

    /// The inverse of [`NodeId::key`]: level = the top 8 bits, index = the low 56 bits.
    pub fn from_key(key: i64) -> Self {
        let key = key as u64;
        Self {
            level: (key >> 56) as u8,
            index: key & (MAX_TREE_SIZE - 1),
        }
    }
}

/// The nodes above level 0 completed by appending leaf `leaf_index` (bottom-up order): for
/// `l = 1..` while `leaf_index + 1` is divisible by `2^l`: `NodeId { l, (leaf_index+1)/2^l − 1 }`.
/// Each one's hash is `merkle::node_hash(node(l−1, 2i), node(l−1, 2i+1))`.
pub fn nodes_completed_by(leaf_index: u64) -> Vec<NodeId> {
    let count = u128::from(leaf_index) + 1;
    (1..=64u8)
        .take_while(|&level| count % (1u128 << level) == 0)
        .map(|level| NodeId {
            level,
            index: ((count >> level) - 1) as u64,
        })
        .collect()
}

/// The largest power of two strictly smaller than `n` (`n ≥ 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of leaves `[a, b)` (`a < b`): one stored node if the range is perfect and aligned,
/// otherwise the RFC 9162 split.
fn range_hash<G: FnMut(NodeId) -> Hash + ?Sized>(a: u64, b: u64, get: &mut G) -> Hash {
    let n = b - a;
    if n.is_power_of_two() && a.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return get(NodeId {
            level: level as u8,
            index: a >> level,
        });
    }
    let k = split_point(n);
    let left = range_hash(a, a + k, get);
    let right = range_hash(a + k, b, get);
    merkle::node_hash(&left, &right)
}

/// MTH of the tree of `size` leaves (RFC 9162 §2.1.1) from perfect subtrees;
/// [`merkle::empty_root`] for 0.
///
/// `get` may be a closure (`&mut |id| …`) or a `&mut dyn FnMut(NodeId) -> Hash`, as handed out by
/// [`nodes_needed`].
pub fn root_with(size: u64, get: &mut (impl FnMut(NodeId) -> Hash + ?Sized)) -> Hash {
    if size == 0 {
        return merkle::empty_root();
    }
    range_hash(0, size, get)
}

/// RFC 9162 §2.1.3.1 `PATH(index, D[size])` from perfect subtrees. Fails if `index ≥ size` or
/// `size > MAX_TREE_SIZE`.
///
/// `get` may be a closure or a `&mut dyn FnMut(NodeId) -> Hash`; see [`nodes_needed`] for the
/// two-pass use against a database.
pub fn inclusion_proof_with(
    index: u64,
    size: u64,
    get: &mut (impl FnMut(NodeId) -> Hash + ?Sized),
) -> Result<Vec<Hash>> {
    fn path<G: FnMut(NodeId) -> Hash + ?Sized>(m: u64, a: u64, b: u64, get: &mut G, out: &mut Vec<Hash>) {
        let n = b - a;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            path(m, a, a + k, get, out);
            out.push(range_hash(a + k, b, get));
        } else {
            path(m - k, a + k, b, get, out);
            out.push(range_hash(a, a + k, get));
        }
    }
    if size > MAX_TREE_SIZE {
        return Err(Error::InvalidArgument("tree size too large"));
    }
    if index >= size {
        return Err(Error::InvalidArgument("leaf index not in the tree"));
    }
    let mut out = Vec::new();
    path(index, 0, size, get, &mut out);
    Ok(out)
}

/// RFC 9162 §2.1.4.1 `PROOF(size1, D[size2])` from perfect subtrees. Fails unless
/// `0 < size1 ≤ size2 ≤ MAX_TREE_SIZE`; `size1 == size2` gives an empty proof.
pub fn consistency_proof_with(
    size1: u64,
    size2: u64,
    get: &mut (impl FnMut(NodeId) -> Hash + ?Sized),
) -> Result<Vec<Hash>> {
    fn subproof<G: FnMut(NodeId) -> Hash + ?Sized>(
        m: u64,
        a: u64,
        b: u64,
        complete: bool,
        get: &mut G,
        out: &mut Vec<Hash>,
    ) {
        let n = b - a;
        if m == n {
            if !complete {
                out.push(range_hash(a, b, get));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            subproof(m, a, a + k, complete, get, out);
            out.push(range_hash(a + k, b, get));
        } else {
            subproof(m - k, a + k, b, false, get, out);
            out.push(range_hash(a, a + k, get));
        }
    }
    if size2 > MAX_TREE_SIZE {
        return Err(Error::InvalidArgument("tree size too large"));
    }
    if size1 == 0 || size1 > size2 {
        return Err(Error::InvalidArgument("consistency proofs need 0 < size1 <= size2"));
    }
    let mut out = Vec::new();
    subproof(size1, 0, size2, true, get, &mut out);
    Ok(out)
}

/// Which nodes a computation asks for: runs `f` with a getter that records every [`NodeId`] and
/// returns a dummy hash. The set depends only on the sizes, never on hash values, so a caller can
/// batch-fetch exactly these nodes and then run the real computation.
///
/// ```
/// use std::collections::HashMap;
/// use sealpost_crypto::merkle::Hash;
/// use sealpost_crypto::tlog::{NodeId, inclusion_proof_with, nodes_needed, root_with};
///
/// let needed = nodes_needed(|get| {
///     let _ = inclusion_proof_with(3, 10, get);
///     root_with(10, get);
/// });
/// // … one `SELECT … WHERE key IN (…)` with `needed.iter().map(|n| n.key())` …
/// let fetched: HashMap<NodeId, Hash> = needed.iter().map(|&id| (id, [id.level; 32])).collect();
/// let proof = inclusion_proof_with(3, 10, &mut |id| fetched[&id])?;
/// assert_eq!(proof.len(), 4);
/// # Ok::<(), sealpost_crypto::Error>(())
/// ```
pub fn nodes_needed(f: impl FnOnce(&mut dyn FnMut(NodeId) -> Hash)) -> BTreeSet<NodeId> {
    let mut needed = BTreeSet::new();
    let mut record = |id: NodeId| {
        needed.insert(id);
        [0u8; 32]
    };
    f(&mut record);
    needed
}

// =============================================================================================
// Shared text helpers
// =============================================================================================

/// Canonical decimal `u64`: ASCII digits, no sign, no leading zero unless exactly `0`.
fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// Canonical padded standard base64 of exactly 32 bytes.
fn decode_hash(text: &str) -> Option<Hash> {
    if text.len() != 44 {
        return None;
    }
    let hash: Hash = STANDARD.decode(text).ok()?.try_into().ok()?;
    (STANDARD.encode(hash) == text).then_some(hash)
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A token: non-empty, at most `max` bytes, no whitespace, no control character, not `-`.
fn is_token(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value != "-"
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A signed-note key name: non-empty, no whitespace, no `+`, no control character.
fn is_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The lines of `text`, each of which must end in `\n`.
fn lines_of(text: &str) -> Option<Vec<&str>> {
    let body = text.strip_suffix('\n')?;
    Some(body.split('\n').collect())
}

fn opt_text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

fn opt_u64(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn parse_opt_u64(text: &str) -> Option<Option<u64>> {
    if text == "-" {
        Some(None)
    } else {
        parse_u64(text).map(Some)
    }
}

// ---------------------------------------------------------------------------------------------
// Signed-note structure (the signature block), as `note::verify` reads it
// ---------------------------------------------------------------------------------------------

const SIG_PREFIX: &str = "\u{2014} ";
/// Most signature lines accepted on one note (as in [`crate::note`]).
const MAX_SIGNATURES: usize = 100;

/// One `— <name> <base64 blob>` line of a note's signature block.
#[derive(Debug)]
struct SignatureLine<'a> {
    name: &'a str,
    blob: Vec<u8>,
}

/// Splits a signed note into its text and its signature lines, checking the structure only.
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>)> {
    let split = note
        .rfind("\n\n")
        .ok_or(Error::Malformed("note has no signature block"))?;
    let text = &note[..split + 1];
    if text.starts_with('\n') || text.contains("\n\n") || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Malformed(
            "note text must be non-empty lines ending in a newline",
        ));
    }
    let block = lines_of(&note[split + 2..]).ok_or(Error::Malformed("note must end in a newline"))?;
    if block.len() > MAX_SIGNATURES {
        return Err(Error::Malformed("too many signatures"));
    }
    let lines = block
        .into_iter()
        .map(parse_signature_line)
        .collect::<Result<Vec<_>>>()?;
    Ok((text, lines))
}

fn parse_signature_line(line: &str) -> Result<SignatureLine<'_>> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(Error::Malformed("malformed signature line"))?;
    let (name, blob) = rest
        .split_once(' ')
        .ok_or(Error::Malformed("malformed signature line"))?;
    if !is_key_name(name) {
        return Err(Error::Malformed("invalid key name in a signature line"));
    }
    let blob = STANDARD
        .decode(blob)
        .map_err(|_| Error::Malformed("invalid base64 in a signature line"))?;
    if blob.len() < 5 {
        return Err(Error::Malformed("signature too short"));
    }
    Ok(SignatureLine { name, blob })
}

fn is_log_line(line: &SignatureLine<'_>, log_key: &VerifierKey) -> bool {
    line.name == log_key.name && line.blob[..4] == log_key.key_id()
}

// =============================================================================================
// 2. Checkpoints
// =============================================================================================

/// A log checkpoint (c2sp.org/tlog-checkpoint) without extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, also the name of the log key.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 9162 root hash of the tree.
    pub root: Hash,
}

impl Checkpoint {
    /// `"<origin>\n<size decimal>\n<base64 std padded root>\n"` (no extension lines).
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, b64(&self.root))
    }

    /// Strict parse of exactly that body: origin a token (non-empty, no whitespace or control
    /// characters, not `-`); size canonical decimal; root exactly 32 bytes in canonical padded
    /// base64; nothing else.
    pub fn parse_body(text: &str) -> Result<Self> {
        let lines = lines_of(text).ok_or(Error::Malformed("checkpoint must end in a newline"))?;
        let [origin, size, root] = lines[..] else {
            return Err(Error::Malformed("checkpoint body must be exactly three lines"));
        };
        if !is_token(origin, usize::MAX) {
            return Err(Error::Malformed("invalid checkpoint origin"));
        }
        let size = parse_u64(size).ok_or(Error::Malformed("invalid checkpoint size"))?;
        let root = decode_hash(root).ok_or(Error::Malformed("invalid checkpoint root hash"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// A signed note of the body by the log key; the key name is the origin. Fails on an origin
    /// that is not a valid checkpoint origin and key name.
    pub fn sign(&self, seed: &[u8; 32]) -> Result<String> {
        if !is_token(&self.origin, usize::MAX) || !is_key_name(&self.origin) {
            return Err(Error::InvalidArgument("invalid checkpoint origin"));
        }
        note::sign(&self.body(), &self.origin, seed)
    }

    /// Verifies a checkpoint note (which may carry further signature lines, e.g. cosignatures,
    /// which are ignored here) against the log key; the note's origin must equal
    /// `log_key.name`. Returns the parsed checkpoint.
    pub fn verify_note(note: &str, log_key: &VerifierKey) -> Result<Checkpoint> {
        split_note(note)?;
        let text = note::verify(note, log_key)?;
        let checkpoint = Self::parse_body(text)?;
        if checkpoint.origin != log_key.name {
            return Err(Error::Proof("checkpoint origin is not the log key's name"));
        }
        Ok(checkpoint)
    }
}

// =============================================================================================
// 3. Cosignatures
// =============================================================================================

const COSIGNATURE_TYPE: u8 = 0x04;
/// keyID(4) ‖ timestamp(8) ‖ signature(64).
const COSIGNATURE_BLOB_LEN: usize = 76;

/// A witness key (c2sp.org/tlog-cosignature, Ed25519): a name and an Ed25519 public key;
/// key ID = `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ pk)[..4]`; vkey text
/// `name+hex(keyID)+base64(0x04 ‖ pk)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignerKey {
    /// The witness name (no whitespace, no `+`).
    pub name: String,
    /// The Ed25519 public key.
    pub public: [u8; 32],
}

impl CosignerKey {
    /// A witness key; fails on a name the signed-note format forbids.
    pub fn new(name: &str, public: [u8; 32]) -> Result<Self> {
        if !is_key_name(name) {
            return Err(Error::Malformed("invalid key name"));
        }
        Ok(Self {
            name: name.to_owned(),
            public,
        })
    }

    /// The witness key for an Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self> {
        Self::new(name, ed25519_public(seed))
    }

    /// `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ pk)[..4]`.
    pub fn key_id(&self) -> [u8; 4] {
        let digest = sha256(&[self.name.as_bytes(), b"\n", &[COSIGNATURE_TYPE], &self.public]);
        digest[..4].try_into().expect("4 of 32 bytes")
    }

    /// The `name+hex(key ID)+base64(0x04 ‖ pk)` text form.
    pub fn to_vkey(&self) -> String {
        let hex: String = self.key_id().iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}+{}+{}",
            self.name,
            hex,
            b64(&[&[COSIGNATURE_TYPE][..], &self.public].concat())
        )
    }

    /// Parses the text form, checking the key type and that the key ID matches.
    pub fn from_vkey(text: &str) -> Result<Self> {
        // Split at the first two '+' only: the base64 key may itself contain '+'.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hex), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::Malformed("verifier key must have three '+'-separated parts"));
        };
        let key = STANDARD.decode(key).map_err(|_| Error::Malformed("invalid base64"))?;
        if key.len() != 33 || key[0] != COSIGNATURE_TYPE {
            return Err(Error::Malformed("verifier key is not an Ed25519 cosignature key"));
        }
        let vkey = Self::new(name, key[1..].try_into().expect("32 bytes"))?;
        let id_hex: String = vkey.key_id().iter().map(|b| format!("{b:02x}")).collect();
        if hex != id_hex {
            return Err(Error::Malformed("verifier key ID does not match the key"));
        }
        Ok(vkey)
    }
}

/// `"cosignature/v1\ntime <time>\n" ‖ body`.
fn cosigned_message(body: &str, time_secs: u64) -> String {
    format!("cosignature/v1\ntime {time_secs}\n{body}")
}

/// The signature line a witness adds:
/// `"— <name> base64(keyID(4) ‖ BE64(time) ‖ Ed25519 sig(64))\n"`, the signature being over
/// `"cosignature/v1\ntime <time decimal>\n" ‖ checkpoint.body()`.
pub fn cosign(checkpoint: &Checkpoint, witness_name: &str, seed: &[u8; 32], time_secs: u64) -> Result<String> {
    let body = checkpoint.body();
    Checkpoint::parse_body(&body).map_err(|_| Error::InvalidArgument("invalid checkpoint"))?;
    let key = CosignerKey::from_seed(witness_name, seed)?;
    let signature = ed25519_sign(seed, cosigned_message(&body, time_secs).as_bytes());
    let mut blob = Vec::with_capacity(COSIGNATURE_BLOB_LEN);
    blob.extend_from_slice(&key.key_id());
    blob.extend_from_slice(&time_secs.to_be_bytes());
    blob.extend_from_slice(&signature);
    Ok(format!("{SIG_PREFIX}{witness_name} {}\n", b64(&blob)))
}

/// `Some(time)` if `line` is `witness`'s and verifies over `body`, `None` if it is someone
/// else's, `Err(BadSignature)` if it is `witness`'s and does not verify.
fn check_cosignature_line(line: &SignatureLine<'_>, body: &str, witness: &CosignerKey) -> Result<Option<u64>> {
    if line.name != witness.name || line.blob[..4] != witness.key_id() {
        return Ok(None);
    }
    if line.blob.len() != COSIGNATURE_BLOB_LEN {
        return Err(Error::BadSignature);
    }
    let time = u64::from_be_bytes(line.blob[4..12].try_into().expect("8 bytes"));
    let signature: [u8; 64] = line.blob[12..].try_into().expect("64 bytes");
    ed25519_verify(&witness.public, cosigned_message(body, time).as_bytes(), &signature)?;
    Ok(Some(time))
}

/// Finds the cosignature line(s) of `witness` in a checkpoint note (matching name and key ID),
/// verifies each against the note's checkpoint body and returns the timestamp (the latest one if
/// the witness signed more than once). `Err(BadSignature)` if there is none or if one fails.
///
/// This checks the cosignature only; check the log's own signature with
/// [`Checkpoint::verify_note`].
pub fn verify_cosignature(note: &str, witness: &CosignerKey) -> Result<u64> {
    let (text, lines) = split_note(note)?;
    Checkpoint::parse_body(text)?;
    let mut latest = None;
    for line in &lines {
        if let Some(time) = check_cosignature_line(line, text, witness)? {
            latest = latest.max(Some(time));
        }
    }
    latest.ok_or(Error::BadSignature)
}

/// Appends signature lines (each a full `"— <name> <base64>\n"` line) to a signed note. Checks
/// the structure of the note and of the lines, not the signatures.
pub fn add_signature_lines(note: &str, lines: &str) -> Result<String> {
    split_note(note)?;
    let added = lines_of(lines).ok_or(Error::Malformed("signature lines must end in a newline"))?;
    for line in added {
        parse_signature_line(line)?;
    }
    let combined = format!("{note}{lines}");
    split_note(&combined)?;
    Ok(combined)
}

// =============================================================================================
// 4. Log entries
// =============================================================================================

/// First line of every log entry.
pub const ENTRY_HEADER: &str = "sealpost/log-entry/v1";

/// Event kinds the receipt logic understands (other kinds are allowed in entries).
pub mod kinds {
    /// A message record was created (its chain starts here or at [`SEALED`]).
    pub const CREATED: &str = "message.created";
    /// The sender's seal was stored (a chain may start here).
    pub const SEALED: &str = "message.sealed";
    /// A recipient's server share was released (names the recipient).
    pub const RELEASED: &str = "share.released";
    /// One recipient's access was revoked (names the recipient).
    pub const RECIPIENT_REVOKED: &str = "recipient.revoked";
    /// The whole message was revoked (names no recipient).
    pub const MESSAGE_REVOKED: &str = "message.revoked";
    /// The message expired (names no recipient).
    pub const EXPIRED: &str = "message.expired";
    /// Server share(s) destroyed: one recipient's if named, otherwise all.
    pub const DESTROYED: &str = "share.destroyed";
    /// A receipt was issued to the sender.
    pub const RECEIPT_ISSUED: &str = "receipt.issued";
}

/// Longest encoded log entry accepted by [`LogEntry::parse`].
const MAX_ENTRY_LEN: usize = 8192;
const MAX_DETAIL_LEN: usize = 4096;
const MAX_ID_LEN: usize = 128;
const MAX_ACTOR_LEN: usize = 256;
const MAX_ADDRESS_LEN: usize = 256;

/// One access-log entry, the leaf of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's own leaf index.
    pub index: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Event kind, `[a-z0-9._-]{1,64}` (see [`kinds`]).
    pub kind: String,
    /// Organisation id (token, ≤ 128 bytes).
    pub org: Option<String>,
    /// Who acted (token, ≤ 256 bytes): `"user:u_x"`, `"recipient:r_y"`, `"system"`, …
    pub actor: String,
    /// From where: IP address text (token, ≤ 128 bytes).
    pub source: Option<String>,
    /// Message id (token, ≤ 128 bytes).
    pub message: Option<String>,
    /// Recipient id (token, ≤ 128 bytes).
    pub recipient: Option<String>,
    /// The previous entry of the same message: its index (below `index`) and leaf hash.
    pub prev: Option<(u64, Hash)>,
    /// The previous entry of the same organisation: its index (below `index`) and leaf hash. It
    /// makes an organisation's export complete: no entry can be left out of the middle of it.
    pub org_prev: Option<(u64, Hash)>,
    /// A compact JSON object on one line, ≤ 4096 bytes.
    pub detail: Option<String>,
}

fn is_kind(kind: &str) -> bool {
    (1..=64).contains(&kind.len())
        && kind != "-"
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_detail(detail: &str) -> bool {
    !detail.is_empty()
        && detail.len() <= MAX_DETAIL_LEN
        && !detail.chars().any(char::is_control)
        && detail.trim() == detail
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(detail).is_ok()
}

impl LogEntry {
    /// Why the entry cannot be encoded, if it cannot.
    fn check(&self) -> Result<(), &'static str> {
        let opt_token = |value: &Option<String>, max| value.as_deref().is_none_or(|v| is_token(v, max));
        if !is_kind(&self.kind) {
            return Err("invalid entry kind");
        }
        if !opt_token(&self.org, MAX_ID_LEN) {
            return Err("invalid entry org");
        }
        if !is_token(&self.actor, MAX_ACTOR_LEN) {
            return Err("invalid entry actor");
        }
        if !opt_token(&self.source, MAX_ID_LEN) {
            return Err("invalid entry source");
        }
        if !opt_token(&self.message, MAX_ID_LEN) {
            return Err("invalid entry message id");
        }
        if !opt_token(&self.recipient, MAX_ID_LEN) {
            return Err("invalid entry recipient id");
        }
        if self.prev.is_some_and(|(index, _)| index >= self.index) {
            return Err("entry prev index must be below its own index");
        }
        if self.prev.is_some() && self.message.is_none() {
            return Err("entry prev needs a message");
        }
        if self.org_prev.is_some_and(|(index, _)| index >= self.index) {
            return Err("entry org-prev index must be below its own index");
        }
        if self.org_prev.is_some() && self.org.is_none() {
            return Err("entry org-prev needs an org");
        }
        if self.detail.as_deref().is_some_and(|d| !is_detail(d)) {
            return Err("entry detail must be a one-line JSON object of at most 4096 bytes");
        }
        Ok(())
    }

    fn render(&self) -> String {
        let link = |l: &Option<(u64, Hash)>| match l {
            Some((index, hash)) => format!("{index} {}", b64(hash)),
            None => "-".to_owned(),
        };
        let prev = link(&self.prev);
        let org_prev = link(&self.org_prev);
        format!(
            "{ENTRY_HEADER}\nindex {}\ntime {}\nkind {}\norg {}\nactor {}\nfrom {}\nmessage {}\nrecipient {}\nprev {}\norg-prev {}\ndetail {}\n",
            self.index,
            self.time_ms,
            self.kind,
            opt_text(&self.org),
            self.actor,
            opt_text(&self.source),
            opt_text(&self.message),
            opt_text(&self.recipient),
            prev,
            org_prev,
            opt_text(&self.detail),
        )
    }

    /// Canonical UTF-8 text, one field per line, every line present, `-` for `None` (see the
    /// module documentation). `Err(InvalidArgument)` for a field that breaks the rules (so `-`
    /// itself is not a valid value).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.check().map_err(Error::InvalidArgument)?;
        Ok(self.render().into_bytes())
    }

    /// Strict parse: the input must be exactly what [`LogEntry::encode`] produces for the result.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(Error::Malformed("log entry too long"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Malformed("log entry is not UTF-8"))?;
        let lines = lines_of(text).ok_or(Error::Malformed("log entry must end in a newline"))?;
        let [
            header,
            index,
            time,
            kind,
            org,
            actor,
            source,
            message,
            recipient,
            prev,
            org_prev,
            detail,
        ] = lines[..]
        else {
            return Err(Error::Malformed("log entry must have exactly twelve lines"));
        };
        if header != ENTRY_HEADER {
            return Err(Error::Malformed("not a sealpost/log-entry/v1 entry"));
        }
        fn value<'a>(line: &'a str, name: &str) -> Result<&'a str> {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or(Error::Malformed("log entry line out of order or malformed"))
        }
        let optional = |text: &str| (text != "-").then(|| text.to_owned());
        let link = |text: &str| -> Result<Option<(u64, Hash)>> {
            match text {
                "-" => Ok(None),
                text => {
                    let (index, hash) = text.split_once(' ').ok_or(Error::Malformed("malformed prev line"))?;
                    let index = parse_u64(index).ok_or(Error::Malformed("invalid prev index"))?;
                    let hash = decode_hash(hash).ok_or(Error::Malformed("invalid prev hash"))?;
                    Ok(Some((index, hash)))
                }
            }
        };
        let prev = link(value(prev, "prev")?)?;
        let org_prev = link(value(org_prev, "org-prev")?)?;
        let entry = Self {
            index: parse_u64(value(index, "index")?).ok_or(Error::Malformed("invalid entry index"))?,
            time_ms: parse_u64(value(time, "time")?).ok_or(Error::Malformed("invalid entry time"))?,
            kind: value(kind, "kind")?.to_owned(),
            org: optional(value(org, "org")?),
            actor: value(actor, "actor")?.to_owned(),
            source: optional(value(source, "from")?),
            message: optional(value(message, "message")?),
            recipient: optional(value(recipient, "recipient")?),
            prev,
            org_prev,
            detail: optional(value(detail, "detail")?),
        };
        entry.check().map_err(Error::Malformed)?;
        if entry.render().as_bytes() != bytes {
            return Err(Error::Malformed("log entry is not in canonical form"));
        }
        Ok(entry)
    }

    /// [`merkle::leaf_hash`] of the encoding.
    pub fn leaf_hash(bytes: &[u8]) -> Hash {
        merkle::leaf_hash(bytes)
    }
}

// =============================================================================================
// 5. Release proof
// =============================================================================================

/// Checks what comes with a released share: the checkpoint note verifies under `log_key`;
/// `leaf` is at `index` under that checkpoint (inclusion proof); the leaf parses, has its own
/// index `index`, kind [`kinds::RELEASED`], and names `message_id` and `recipient_id`. Returns
/// the entry.
pub fn verify_release(
    log_key: &VerifierKey,
    checkpoint_note: &str,
    index: u64,
    leaf: &[u8],
    proof: &[Hash],
    message_id: &str,
    recipient_id: &str,
) -> Result<LogEntry> {
    let checkpoint = Checkpoint::verify_note(checkpoint_note, log_key)?;
    if !merkle::verify_inclusion(
        &LogEntry::leaf_hash(leaf),
        index,
        checkpoint.size,
        proof,
        &checkpoint.root,
    ) {
        return Err(Error::Proof("inclusion proof of the release does not verify"));
    }
    let entry = LogEntry::parse(leaf)?;
    if entry.index != index {
        return Err(Error::Proof("release entry index does not match its position"));
    }
    if entry.kind != kinds::RELEASED {
        return Err(Error::Proof("entry is not a share release"));
    }
    if entry.message.as_deref() != Some(message_id) {
        return Err(Error::Proof("release entry is for another message"));
    }
    if entry.recipient.as_deref() != Some(recipient_id) {
        return Err(Error::Proof("release entry is for another recipient"));
    }
    Ok(entry)
}

// =============================================================================================
// 6. Receipts
// =============================================================================================

/// `format` of a receipt file and first line of its statement.
pub const RECEIPT_FORMAT: &str = "sealpost/receipt/v1";
/// Most inclusion-proof hashes accepted per entry (a tree of ≤ 2^56 leaves needs ≤ 56).
const MAX_PROOF_LEN: usize = 64;

/// One event with its inclusion proof against the receipt's (or export's) checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenEntry {
    /// Leaf index.
    pub index: u64,
    /// The entry bytes, standard padded base64.
    pub leaf: String,
    /// The inclusion proof hashes, standard padded base64 each.
    pub proof: Vec<String>,
}

impl ProvenEntry {
    /// The leaf bytes and proof hashes.
    fn decode(&self) -> Result<(Vec<u8>, Vec<Hash>), &'static str> {
        if self.leaf.len() > MAX_ENTRY_LEN.div_ceil(3) * 4 {
            return Err("leaf too long");
        }
        let leaf = STANDARD.decode(&self.leaf).map_err(|_| "invalid base64 leaf")?;
        if self.proof.len() > MAX_PROOF_LEN {
            return Err("inclusion proof too long");
        }
        let proof = self
            .proof
            .iter()
            .map(|h| decode_hash(h).ok_or("invalid proof hash"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((leaf, proof))
    }
}

/// A recipient of the message as the receipt names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientLabel {
    /// Recipient id, as in the log entries (token, ≤ 128 bytes).
    pub rid: String,
    /// Display address (token: no whitespace or control characters, ≤ 256 bytes).
    pub address: String,
}

/// What the log shows for one recipient, derived from the message's events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipientState {
    /// Recipient id.
    pub rid: String,
    /// Display address.
    pub address: String,
    /// Time of the first release of this recipient's server share, if any.
    pub first_released_ms: Option<u64>,
    /// Number of release events for this recipient.
    pub releases: u64,
    /// Time of the first revocation (of this recipient or of the whole message).
    pub revoked_ms: Option<u64>,
    /// Time the message expired.
    pub expired_ms: Option<u64>,
    /// Time this recipient's server share was destroyed (or all shares).
    pub destroyed_ms: Option<u64>,
}

/// The receipt file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptFile {
    format: String,
    statement: String,
    checkpoint: String,
    events: Vec<ProvenEntry>,
}

impl ReceiptFile {
    fn render(&self) -> Result<String> {
        let json =
            serde_json::to_string_pretty(self).map_err(|_| Error::InvalidArgument("receipt does not serialize"))?;
        Ok(json + "\n")
    }
}

/// The log's signed statement inside a receipt.
#[derive(Debug, PartialEq, Eq)]
struct Statement {
    origin: String,
    message: String,
    issued_ms: u64,
    size: u64,
    root: Hash,
    witnesses: Vec<(CosignerKey, u64)>,
    recipients: Vec<RecipientState>,
    events: Vec<(u64, Hash)>,
}

impl Statement {
    fn render(&self) -> String {
        let mut text = format!(
            "{RECEIPT_FORMAT}\norigin {}\nmessage {}\nissued {}\ncheckpoint {} {}\n",
            self.origin,
            self.message,
            self.issued_ms,
            self.size,
            b64(&self.root)
        );
        for (key, time) in &self.witnesses {
            text += &format!("witness {} {time}\n", key.to_vkey());
        }
        for r in &self.recipients {
            text += &format!(
                "recipient {} {} released {} {} revoked {} expired {} destroyed {}\n",
                r.rid,
                r.address,
                opt_u64(r.first_released_ms),
                r.releases,
                opt_u64(r.revoked_ms),
                opt_u64(r.expired_ms),
                opt_u64(r.destroyed_ms)
            );
        }
        for (index, hash) in &self.events {
            text += &format!("event {index} {}\n", b64(hash));
        }
        text
    }

    fn parse(text: &str) -> Result<Self> {
        const BAD: Error = Error::Malformed("malformed receipt statement");
        let lines = lines_of(text).ok_or(BAD)?;
        let (header, rest) = lines.split_first().ok_or(BAD)?;
        if *header != RECEIPT_FORMAT {
            return Err(BAD);
        }
        let mut lines = rest.iter().copied();
        let mut next_value = |name: &str| -> Result<&str> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(' '))
                .ok_or(BAD)
        };
        let origin = next_value("origin")?.to_owned();
        let message = next_value("message")?.to_owned();
        let issued_ms = parse_u64(next_value("issued")?).ok_or(BAD)?;
        let (size, root) = next_value("checkpoint")?.split_once(' ').ok_or(BAD)?;
        let size = parse_u64(size).ok_or(BAD)?;
        let root = decode_hash(root).ok_or(BAD)?;
        let mut statement = Self {
            origin,
            message,
            issued_ms,
            size,
            root,
            witnesses: Vec::new(),
            recipients: Vec::new(),
            events: Vec::new(),
        };
        for line in lines {
            let words: Vec<&str> = line.split(' ').collect();
            match words[..] {
                ["witness", vkey, time] if statement.recipients.is_empty() && statement.events.is_empty() => {
                    let key = CosignerKey::from_vkey(vkey)?;
                    statement.witnesses.push((key, parse_u64(time).ok_or(BAD)?));
                }
                [
                    "recipient",
                    rid,
                    address,
                    "released",
                    first,
                    count,
                    "revoked",
                    revoked,
                    "expired",
                    expired,
                    "destroyed",
                    destroyed,
                ] if statement.events.is_empty() => {
                    statement.recipients.push(RecipientState {
                        rid: rid.to_owned(),
                        address: address.to_owned(),
                        first_released_ms: parse_opt_u64(first).ok_or(BAD)?,
                        releases: parse_u64(count).ok_or(BAD)?,
                        revoked_ms: parse_opt_u64(revoked).ok_or(BAD)?,
                        expired_ms: parse_opt_u64(expired).ok_or(BAD)?,
                        destroyed_ms: parse_opt_u64(destroyed).ok_or(BAD)?,
                    });
                }
                ["event", index, hash] => {
                    statement
                        .events
                        .push((parse_u64(index).ok_or(BAD)?, decode_hash(hash).ok_or(BAD)?));
                }
                _ => return Err(BAD),
            }
        }
        if statement.render() != text {
            return Err(Error::Malformed("receipt statement is not in canonical form"));
        }
        Ok(statement)
    }
}

/// `(index, leaf hash)` of one event, as a statement's `event` line lists it.
type EventLine = (u64, Hash);

/// Validates the recipient labels: tokens, unique rids.
fn check_labels(recipients: &[RecipientLabel]) -> Result<(), &'static str> {
    let mut seen = HashSet::new();
    for label in recipients {
        if !is_token(&label.rid, MAX_ID_LEN) {
            return Err("invalid recipient id");
        }
        if !is_token(&label.address, MAX_ADDRESS_LEN) {
            return Err("invalid recipient address");
        }
        if !seen.insert(label.rid.as_str()) {
            return Err("duplicate recipient id");
        }
    }
    Ok(())
}

/// Checks a message's events against a checkpoint (rules 5 to 7 of [`verify_receipt`]) and
/// derives the recipient states. Returns the states and the `(index, leaf hash)` of each event.
fn check_events(
    checkpoint: &Checkpoint,
    message_id: &str,
    recipients: &[RecipientLabel],
    events: &[ProvenEntry],
) -> Result<(Vec<RecipientState>, Vec<EventLine>)> {
    let mut states: Vec<RecipientState> = recipients
        .iter()
        .map(|r| RecipientState {
            rid: r.rid.clone(),
            address: r.address.clone(),
            first_released_ms: None,
            releases: 0,
            revoked_ms: None,
            expired_ms: None,
            destroyed_ms: None,
        })
        .collect();
    if events.is_empty() {
        return Err(Error::Proof("a receipt needs the message's events"));
    }
    let mut chain: Vec<(u64, Hash)> = Vec::with_capacity(events.len());
    for event in events {
        let (leaf, proof) = event.decode().map_err(Error::Malformed)?;
        let hash = LogEntry::leaf_hash(&leaf);
        if !merkle::verify_inclusion(&hash, event.index, checkpoint.size, &proof, &checkpoint.root) {
            return Err(Error::Proof("event inclusion proof does not verify"));
        }
        let entry = LogEntry::parse(&leaf)?;
        if entry.index != event.index {
            return Err(Error::Proof("event entry index does not match its position"));
        }
        if entry.message.as_deref() != Some(message_id) {
            return Err(Error::Proof("event is for another message"));
        }
        match chain.last() {
            None => {
                if entry.prev.is_some() || !(entry.kind == kinds::CREATED || entry.kind == kinds::SEALED) {
                    return Err(Error::Proof("the first event must start the message's chain"));
                }
            }
            Some(&last) => {
                if event.index <= last.0 {
                    return Err(Error::Proof("event indexes must strictly increase"));
                }
                if entry.prev != Some(last) {
                    return Err(Error::Proof(
                        "event chain is broken (prev does not name the event before)",
                    ));
                }
            }
        }
        apply_event(&mut states, &entry)?;
        chain.push((event.index, hash));
    }
    Ok((states, chain))
}

/// Updates the recipient states for one event of the message.
fn apply_event(states: &mut [RecipientState], entry: &LogEntry) -> Result<()> {
    let target = match &entry.recipient {
        Some(rid) => Some(
            states
                .iter()
                .position(|s| &s.rid == rid)
                .ok_or(Error::Proof("event names a recipient the receipt does not list"))?,
        ),
        None => None,
    };
    let time = entry.time_ms;
    let set = |field: &mut Option<u64>| {
        field.get_or_insert(time);
    };
    match entry.kind.as_str() {
        kinds::RELEASED => {
            let state = &mut states[target.ok_or(Error::Proof("release event names no recipient"))?];
            state.releases += 1;
            set(&mut state.first_released_ms);
        }
        kinds::RECIPIENT_REVOKED => {
            let i = target.ok_or(Error::Proof("recipient revocation names no recipient"))?;
            set(&mut states[i].revoked_ms);
        }
        kinds::MESSAGE_REVOKED | kinds::EXPIRED => {
            if target.is_some() {
                return Err(Error::Proof("message-wide event names a recipient"));
            }
            for state in states.iter_mut() {
                if entry.kind == kinds::EXPIRED {
                    set(&mut state.expired_ms);
                } else {
                    set(&mut state.revoked_ms);
                }
            }
        }
        kinds::DESTROYED => match target {
            Some(i) => set(&mut states[i].destroyed_ms),
            None => states.iter_mut().for_each(|s| set(&mut s.destroyed_ms)),
        },
        _ => {}
    }
    Ok(())
}

/// The cosignatures of a checkpoint note, in note order: every signature line must be the log's
/// or a valid cosignature by one of `witnesses`.
fn cosignatures_in(note: &str, log_key: &VerifierKey, witnesses: &[CosignerKey]) -> Result<Vec<(CosignerKey, u64)>> {
    let (body, lines) = split_note(note)?;
    let mut out = Vec::new();
    for line in &lines {
        if is_log_line(line, log_key) {
            continue; // checked by Checkpoint::verify_note
        }
        let witness = witnesses
            .iter()
            .find(|w| w.name == line.name && line.blob[..4] == w.key_id())
            .ok_or(Error::Proof("checkpoint carries a signature by an unlisted key"))?;
        let time = check_cosignature_line(line, body, witness)?.expect("the line is this witness's");
        out.push((witness.clone(), time));
    }
    Ok(out)
}

/// Builds a receipt: `checkpoint_note` is the log-signed checkpoint (possibly with cosignature
/// lines appended); `events` are ALL entries of the message's chain up to that checkpoint, in
/// index order, each with its inclusion proof against that checkpoint; `recipients` lists every
/// recipient of the message; `witnesses` are the keys of the witnesses whose cosignatures are on
/// the note (each must have one, and every cosignature on the note must be by one of them). The
/// recipient states are derived from the events, never taken from the caller. Fails if the
/// checkpoint is not signed by `seed`'s key or the events do not form a valid chain (see
/// [`verify_receipt`]). Returns the receipt file text.
pub fn build_receipt(
    seed: &[u8; 32],
    checkpoint_note: &str,
    message_id: &str,
    issued_ms: u64,
    recipients: &[RecipientLabel],
    events: &[ProvenEntry],
    witnesses: &[CosignerKey],
) -> Result<String> {
    let (body, _) = split_note(checkpoint_note)?;
    let origin = Checkpoint::parse_body(body)?.origin;
    let log_key = VerifierKey::new(&origin, ed25519_public(seed))?;
    let checkpoint = Checkpoint::verify_note(checkpoint_note, &log_key)?;
    if !is_token(message_id, MAX_ID_LEN) {
        return Err(Error::InvalidArgument("invalid message id"));
    }
    check_labels(recipients).map_err(Error::InvalidArgument)?;
    let cosignatures = cosignatures_in(checkpoint_note, &log_key, witnesses)?;
    if witnesses.iter().any(|w| !cosignatures.iter().any(|(k, _)| k == w)) {
        return Err(Error::InvalidArgument(
            "a listed witness has no cosignature on the checkpoint",
        ));
    }
    let (states, chain) = check_events(&checkpoint, message_id, recipients, events)?;
    let statement = Statement {
        origin: origin.clone(),
        message: message_id.to_owned(),
        issued_ms,
        size: checkpoint.size,
        root: checkpoint.root,
        witnesses: cosignatures,
        recipients: states,
        events: chain,
    };
    let file = ReceiptFile {
        format: RECEIPT_FORMAT.to_owned(),
        statement: note::sign(&statement.render(), &origin, seed)?,
        checkpoint: checkpoint_note.to_owned(),
        events: events.to_vec(),
    };
    let text = file.render()?;
    verify_receipt(&text, &log_key, witnesses)?;
    Ok(text)
}

/// What a verified receipt shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifiedReceipt {
    /// The message the receipt is about.
    pub message_id: String,
    /// When the log issued the receipt (ms since the Unix epoch, the log's claim).
    pub issued_ms: u64,
    /// The log's origin.
    pub origin: String,
    /// Checkpoint size: the receipt speaks for the log up to this many entries.
    pub size: u64,
    /// Checkpoint root hash, standard padded base64.
    pub root_b64: String,
    /// `(witness name, cosignature time in seconds)` for every cosignature on the checkpoint (all
    /// verified), in note order.
    pub witnesses: Vec<(String, u64)>,
    /// Per recipient, in the statement's order.
    pub recipients: Vec<RecipientState>,
    /// Number of events in the message's chain.
    pub events: u64,
}

/// Offline verification of a receipt file against the pinned log key and optionally required
/// witnesses (each must have a valid cosignature; pass `&[]` for none).
///
/// Accepts only if: (1) the text is exactly the canonical serialization of the parsed file;
/// (2) the statement is a note with a single signature line, by `log_key`, and its origin is
/// `log_key.name`; (3) the checkpoint note verifies under `log_key` and matches the statement's
/// checkpoint line; (4) every other signature line on the checkpoint is a valid cosignature by a
/// witness listed in the statement, with the listed time, in order, and every required witness
/// is listed; (5) the event lines equal the events' indexes and leaf hashes, each proof verifying
/// against the checkpoint; (6) the leaves parse, name the message, carry their own index,
/// indexes strictly increase, the first event has no `prev` and is `message.created` or
/// `message.sealed`, each next one's `prev` is the one before; (7) the recipient lines equal the
/// states recomputed from the events:
///
/// * `share.released` (must name a listed recipient): `releases += 1`, `first_released_ms` =
///   time of the first such event (a release after a revocation is counted: it is evidence);
/// * `recipient.revoked` (must name one): its `revoked_ms`, if unset;
/// * `message.revoked` / `message.expired` (must name none): `revoked_ms` / `expired_ms` of every
///   recipient where unset;
/// * `share.destroyed`: `destroyed_ms` of the named recipient, or of all if none, where unset;
/// * any other kind changes nothing, but a recipient it names must be listed.
pub fn verify_receipt(
    text: &str,
    log_key: &VerifierKey,
    required_witnesses: &[CosignerKey],
) -> Result<VerifiedReceipt> {
    let file: ReceiptFile =
        serde_json::from_str(text).map_err(|_| Error::Malformed("not a sealpost/receipt/v1 file"))?;
    if file.render()? != text {
        return Err(Error::Malformed("receipt file is not in canonical form"));
    }
    if file.format != RECEIPT_FORMAT {
        return Err(Error::Malformed("not a sealpost/receipt/v1 file"));
    }
    // (2)
    let statement_text = note::verify(&file.statement, log_key)?;
    let (_, statement_lines) = split_note(&file.statement)?;
    if statement_lines.len() != 1 || !is_log_line(&statement_lines[0], log_key) {
        return Err(Error::Proof(
            "the receipt statement must carry exactly the log's signature",
        ));
    }
    let statement = Statement::parse(statement_text)?;
    if statement.origin != log_key.name {
        return Err(Error::Proof("receipt origin is not the log key's name"));
    }
    // (3)
    let checkpoint = Checkpoint::verify_note(&file.checkpoint, log_key)?;
    if checkpoint.size != statement.size || checkpoint.root != statement.root {
        return Err(Error::Proof("receipt checkpoint does not match the statement"));
    }
    // (4)
    let listed: Vec<CosignerKey> = statement.witnesses.iter().map(|(k, _)| k.clone()).collect();
    if cosignatures_in(&file.checkpoint, log_key, &listed)? != statement.witnesses {
        return Err(Error::Proof("checkpoint cosignatures do not match the statement"));
    }
    if required_witnesses.iter().any(|w| !listed.contains(w)) {
        return Err(Error::Proof("a required witness has not cosigned the checkpoint"));
    }
    // (5), (6), (7)
    let labels: Vec<RecipientLabel> = statement
        .recipients
        .iter()
        .map(|r| RecipientLabel {
            rid: r.rid.clone(),
            address: r.address.clone(),
        })
        .collect();
    check_labels(&labels).map_err(Error::Malformed)?;
    if !is_token(&statement.message, MAX_ID_LEN) {
        return Err(Error::Malformed("invalid message id in the receipt"));
    }
    let (states, chain) = check_events(&checkpoint, &statement.message, &labels, &file.events)?;
    if chain != statement.events {
        return Err(Error::Proof("receipt events do not match the statement"));
    }
    if states != statement.recipients {
        return Err(Error::Proof(
            "recipient states in the statement do not follow from the events",
        ));
    }
    Ok(VerifiedReceipt {
        message_id: statement.message,
        issued_ms: statement.issued_ms,
        origin: statement.origin,
        size: statement.size,
        root_b64: b64(&statement.root),
        witnesses: statement.witnesses.into_iter().map(|(k, t)| (k.name, t)).collect(),
        recipients: states,
        events: chain.len() as u64,
    })
}

/// `(year, month, day)` of the civil (proleptic Gregorian) date `days` after 1970-01-01
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3339 UTC text of a time in milliseconds since the Unix epoch, with `.mmm` only when the
/// milliseconds are not zero: `2026-11-22T10:00:00Z`.
fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let frac = match ms % 1000 {
        0 => String::new(),
        f => format!(".{f:03}"),
    };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{frac}Z")
}

/// A few human sentences about a verified receipt: one header line, then one line per recipient,
/// e.g. `alice@example.org: never released (as of checkpoint 42, receipt issued
/// 2026-11-22T10:00:00Z); revoked at 2026-11-22T09:00:00Z.`
pub fn receipt_summary(v: &VerifiedReceipt) -> String {
    let issued = rfc3339_ms(v.issued_ms);
    let witnesses = if v.witnesses.is_empty() {
        "no witness cosignatures".to_owned()
    } else {
        let list: Vec<String> = v
            .witnesses
            .iter()
            .map(|(name, t)| format!("{name} at {}", rfc3339_ms(t.saturating_mul(1000))))
            .collect();
        format!("cosigned by {}", list.join(", "))
    };
    let mut out = format!(
        "Message {}: {} logged event{} verified against checkpoint {} of {} ({witnesses}); receipt issued {issued}.\n",
        v.message_id,
        v.events,
        if v.events == 1 { "" } else { "s" },
        v.size,
        v.origin,
    );
    for r in &v.recipients {
        let released = match (r.releases, r.first_released_ms) {
            (0, _) | (_, None) => "never released".to_owned(),
            (1, Some(t)) => format!("released once, at {}", rfc3339_ms(t)),
            (n, Some(t)) => format!("released {n} times, first at {}", rfc3339_ms(t)),
        };
        out += &format!(
            "{} ({}): {released} (as of checkpoint {}, receipt issued {issued})",
            r.address, r.rid, v.size
        );
        let ends = [
            ("revoked", r.revoked_ms),
            ("expired", r.expired_ms),
            ("server share destroyed", r.destroyed_ms),
        ];
        for (what, time) in ends {
            if let Some(t) = time {
                out += &format!("; {what} at {}", rfc3339_ms(t));
            }
        }
        out += ".";
        if let Some(first) = r.first_released_ms {
            if let Some((what, _)) = ends.iter().find(|(_, t)| t.is_some_and(|t| t < first)) {
                out += &format!(" Note: the first release came after the message was {what}.");
            }
        }
        out += "\n";
    }
    out
}

// =============================================================================================
// 7. Organisation export
// =============================================================================================

/// `format` of an export header.
pub const EXPORT_FORMAT: &str = "sealpost/log-export/v1";

/// First line of an export:
/// `{"format":"sealpost/log-export/v1","org":"…","checkpoint":"<note>","from":a,"to":b}`; then
/// one [`ProvenEntry`] JSON object per line for every entry of that org with `a ≤ index < b`, in
/// index order, proofs against the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The organisation whose entries the export lists.
    pub org: String,
    /// The log-signed checkpoint note (cosignature lines allowed) all proofs refer to.
    pub checkpoint: String,
    /// First leaf index covered.
    pub from: u64,
    /// End (exclusive) of the covered index range; at most the checkpoint size.
    pub to: u64,
}

/// Summary of a verified export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The organisation.
    pub org: String,
    /// Size of the checkpoint the export is proven against.
    pub checkpoint_size: u64,
    /// Number of entries.
    pub entries: u64,
    /// Number of distinct message ids among them.
    pub messages: u64,
    /// Index of the first entry, if any.
    pub first_index: Option<u64>,
    /// Index of the last entry, if any.
    pub last_index: Option<u64>,
}

/// The header line: compact JSON and `\n`.
pub fn export_header_line(h: &ExportHeader) -> String {
    serde_json::to_string(h).expect("strings and integers serialize") + "\n"
}

/// One entry line: compact JSON and `\n`.
pub fn export_line(entry: &ProvenEntry) -> String {
    serde_json::to_string(entry).expect("strings and integers serialize") + "\n"
}

/// Verifies a whole export offline: the header checkpoint verifies under `log_key`,
/// `from ≤ to ≤ checkpoint size`; every line is canonical, its proof verifies, its leaf parses
/// with `leaf.index == index`; indexes strictly increase within `[from, to)`; every leaf's org is
/// the header's; and per-message chains are consistent inside the export:
///
/// * an entry whose `prev` index lies in `[from, to)` needs that entry in the export, with the
///   same message and the hash `prev` names (a missing line is detected this way);
/// * no two entries claim the same `prev`, a message has at most one chain start, and an entry's
///   `prev` must be the latest earlier entry of its message in the export (a fork otherwise).
///
/// * the organisation's chain (`org-prev`) is unbroken from the first line to the last, so no
///   entry of the organisation inside the range can be left out, moved or inserted.
///
/// This assumes, as the log guarantees, that all entries of a message carry the message's org.
/// It cannot detect entries dropped at the end of the range: the next export (or a receipt)
/// that links to them shows them.
///
/// Every error is [`Error::Export`] with the 1-based line number (line 1 = the header).
pub fn verify_export(text: &str, log_key: &VerifierKey) -> Result<ExportReport> {
    let fail = |line: usize, reason: &'static str| Error::Export {
        line: line as u64,
        reason,
    };
    let lines = lines_of(text).ok_or(fail(1, "export must be newline-terminated lines"))?;
    let header: ExportHeader = serde_json::from_str(lines[0]).map_err(|_| fail(1, "malformed export header"))?;
    if export_header_line(&header) != format!("{}\n", lines[0]) {
        return Err(fail(1, "export header is not in canonical form"));
    }
    if header.format != EXPORT_FORMAT {
        return Err(fail(1, "not a sealpost/log-export/v1 export"));
    }
    if !is_token(&header.org, MAX_ID_LEN) {
        return Err(fail(1, "invalid org"));
    }
    let checkpoint =
        Checkpoint::verify_note(&header.checkpoint, log_key).map_err(|_| fail(1, "checkpoint does not verify"))?;
    if header.from > header.to || header.to > checkpoint.size {
        return Err(fail(1, "export range is not within the checkpoint"));
    }

    // index → (leaf hash, message) of the entries seen so far.
    let mut seen: HashMap<u64, (Hash, Option<String>)> = HashMap::new();
    let mut claimed: HashSet<u64> = HashSet::new();
    // message → latest entry of it in the export.
    let mut heads: BTreeMap<String, (u64, Hash)> = BTreeMap::new();
    let mut last_index: Option<u64> = None;
    let mut first_index: Option<u64> = None;
    let mut org_head: Option<(u64, Hash)> = None;
    for (n, line) in lines.iter().enumerate().skip(1) {
        let line_no = n + 1;
        let fail = |reason| fail(line_no, reason);
        let proven: ProvenEntry = serde_json::from_str(line).map_err(|_| fail("malformed entry line"))?;
        if export_line(&proven) != format!("{line}\n") {
            return Err(fail("entry line is not in canonical form"));
        }
        if proven.index < header.from || proven.index >= header.to {
            return Err(fail("entry index outside the export range"));
        }
        if last_index.is_some_and(|last| proven.index <= last) {
            return Err(fail("entry indexes must strictly increase"));
        }
        let (leaf, proof) = proven.decode().map_err(fail)?;
        let hash = LogEntry::leaf_hash(&leaf);
        if !merkle::verify_inclusion(&hash, proven.index, checkpoint.size, &proof, &checkpoint.root) {
            return Err(fail("inclusion proof does not verify"));
        }
        let entry = LogEntry::parse(&leaf).map_err(|_| fail("leaf is not a valid log entry"))?;
        if entry.index != proven.index {
            return Err(fail("leaf index does not match its position"));
        }
        if entry.org.as_deref() != Some(header.org.as_str()) {
            return Err(fail("entry belongs to another org"));
        }
        // The organisation's own chain: the first entry points before the range (or nowhere),
        // each later one at the entry on the line above. A line left out breaks it.
        match (org_head, entry.org_prev) {
            (None, None) => {}
            (None, Some((prev_index, _))) if prev_index < header.from => {}
            (None, Some(_)) => return Err(fail("an earlier entry of the org in the range is missing")),
            (Some(head), Some(link)) if link == head => {}
            (Some(_), _) => return Err(fail("the org chain is broken: an entry is missing or out of place")),
        }
        org_head = Some((proven.index, hash));
        if let Some((prev_index, prev_hash)) = entry.prev {
            if !claimed.insert(prev_index) {
                return Err(fail("fork: two entries claim the same previous entry"));
            }
            if prev_index >= header.from {
                let (hash_seen, message_seen) = seen
                    .get(&prev_index)
                    .ok_or(fail("the previous entry of this message is missing from the export"))?;
                if *hash_seen != prev_hash {
                    return Err(fail("prev hash does not match the previous entry"));
                }
                if *message_seen != entry.message {
                    return Err(fail("prev names an entry of another message"));
                }
            }
        }
        if let Some(message) = &entry.message {
            match (heads.get(message), entry.prev) {
                (Some(_), None) => return Err(fail("fork: a second chain start for the message")),
                (Some(&(head, _)), Some((prev_index, _))) if prev_index != head => {
                    return Err(fail("fork: prev skips an entry of the message"));
                }
                _ => {}
            }
            heads.insert(message.clone(), (proven.index, hash));
        }
        seen.insert(proven.index, (hash, entry.message));
        first_index.get_or_insert(proven.index);
        last_index = Some(proven.index);
    }
    Ok(ExportReport {
        org: header.org,
        checkpoint_size: checkpoint.size,
        entries: (lines.len() - 1) as u64,
        messages: heads.len() as u64,
        first_index,
        last_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_round_trip() {
        for id in [
            NodeId { level: 0, index: 0 },
            NodeId { level: 3, index: 12345 },
            NodeId {
                level: 56,
                index: MAX_TREE_SIZE - 1,
            },
        ] {
            assert_eq!(NodeId::from_key(id.key()), id);
            assert!(id.key() >= 0);
        }
        assert_eq!(NodeId { level: 1, index: 2 }.key(), (1 << 56) | 2);
    }

    #[test]
    fn completed_nodes() {
        assert!(nodes_completed_by(0).is_empty());
        assert_eq!(nodes_completed_by(1), vec![NodeId { level: 1, index: 0 }]);
        assert!(nodes_completed_by(2).is_empty());
        assert_eq!(
            nodes_completed_by(7),
            vec![
                NodeId { level: 1, index: 3 },
                NodeId { level: 2, index: 1 },
                NodeId { level: 3, index: 0 }
            ]
        );
        assert_eq!(nodes_completed_by(u64::MAX).len(), 64);
    }

    #[test]
    fn canonical_numbers() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "00", "01", "+1", "-1", " 1", "1 ", "18446744073709551616", "1e3"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_ms(1_795_341_600_000), "2026-11-22T10:00:00Z");
        assert_eq!(rfc3339_ms(1_795_341_600_123), "2026-11-22T10:00:00.123Z");
        assert_eq!(rfc3339_ms(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(rfc3339_ms(253_402_300_799_000), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
