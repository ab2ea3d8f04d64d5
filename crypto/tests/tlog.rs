//! The transparency-log module `sealpost_crypto::tlog`: proofs from stored nodes against the
//! reference computations, checkpoints, cosignatures, log entries, release proofs, receipts
//! (including every one-byte change of a receipt file) and organisation exports.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::Error;
use sealpost_crypto::merkle::{self, Hash};
use sealpost_crypto::note::{self, VerifierKey};
use sealpost_crypto::primitives::ed25519_public;
use sealpost_crypto::tlog::{
    self, Checkpoint, CosignerKey, ExportHeader, LogEntry, NodeId, ProvenEntry, RecipientLabel, kinds,
};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

fn test_leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect()
}

/// Every perfect subtree of the list, level 0 = the leaves.
fn node_map(leaves: &[Hash]) -> HashMap<NodeId, Hash> {
    let mut map = HashMap::new();
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut height = 0u8;
    while !level.is_empty() {
        for (i, h) in level.iter().enumerate() {
            map.insert(
                NodeId {
                    level: height,
                    index: i as u64,
                },
                *h,
            );
        }
        level = level.chunks_exact(2).map(|p| merkle::node_hash(&p[0], &p[1])).collect();
        height += 1;
    }
    map
}

/// RFC 9162 §2.1.4.1 from all leaves.
fn reference_consistency(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if m == n {
            if !complete {
                out.push(merkle::root_of(leaves));
            }
            return;
        }
        let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m <= k {
            subproof(m, &leaves[..k], complete, out);
            out.push(merkle::root_of(&leaves[k..]));
        } else {
            subproof(m - k, &leaves[k..], false, out);
            out.push(merkle::root_of(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    subproof(m, leaves, true, &mut out);
    out
}

const LOG_SEED: [u8; 32] = [1u8; 32];
const ORIGIN: &str = "log.sealpost.example/v1";
const W1_SEED: [u8; 32] = [21u8; 32];
const W2_SEED: [u8; 32] = [22u8; 32];
const W3_SEED: [u8; 32] = [23u8; 32];
const T0: u64 = 1_795_341_600_000; // 2026-11-22T10:00:00Z

fn log_key() -> VerifierKey {
    VerifierKey::new(ORIGIN, ed25519_public(&LOG_SEED)).unwrap()
}

fn w1() -> CosignerKey {
    CosignerKey::from_seed("witness.one.example", &W1_SEED).unwrap()
}

fn w2() -> CosignerKey {
    CosignerKey::from_seed("witness.two.example", &W2_SEED).unwrap()
}

fn w3() -> CosignerKey {
    CosignerKey::from_seed("witness.three.example", &W3_SEED).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// An in-memory log that stores its nodes the way a database would: completed perfect subtrees.
#[derive(Default)]
struct TestLog {
    leaves: Vec<Vec<u8>>,
    nodes: HashMap<NodeId, Hash>,
    heads: HashMap<String, (u64, Hash)>,
    org_heads: HashMap<String, (u64, Hash)>,
}

struct Event<'a> {
    kind: &'a str,
    org: Option<&'a str>,
    actor: &'a str,
    message: Option<&'a str>,
    recipient: Option<&'a str>,
    detail: Option<&'a str>,
}

fn ev<'a>(kind: &'a str, message: Option<&'a str>, recipient: Option<&'a str>) -> Event<'a> {
    Event {
        kind,
        org: Some("org_a"),
        actor: "system",
        message,
        recipient,
        detail: None,
    }
}

impl TestLog {
    fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Appends raw entry bytes, storing the leaf and the nodes it completes.
    fn push_bytes(&mut self, bytes: Vec<u8>) -> Hash {
        let index = self.size();
        let hash = LogEntry::leaf_hash(&bytes);
        self.nodes.insert(NodeId { level: 0, index }, hash);
        for id in tlog::nodes_completed_by(index) {
            let left = self.nodes[&NodeId {
                level: id.level - 1,
                index: 2 * id.index,
            }];
            let right = self.nodes[&NodeId {
                level: id.level - 1,
                index: 2 * id.index + 1,
            }];
            self.nodes.insert(id, merkle::node_hash(&left, &right));
        }
        self.leaves.push(bytes);
        hash
    }

    /// Appends an event, chaining it to the message's previous entry.
    fn append(&mut self, e: Event<'_>) -> u64 {
        let index = self.size();
        let prev = e.message.and_then(|m| self.heads.get(m).copied());
        self.append_with_prev(e, prev);
        index
    }

    fn append_with_prev(&mut self, e: Event<'_>, prev: Option<(u64, Hash)>) -> u64 {
        let index = self.size();
        let entry = LogEntry {
            index,
            time_ms: T0 + index * 60_000,
            kind: e.kind.to_owned(),
            org: e.org.map(str::to_owned),
            actor: e.actor.to_owned(),
            source: Some("203.0.113.7".to_owned()),
            message: e.message.map(str::to_owned),
            recipient: e.recipient.map(str::to_owned),
            prev,
            org_prev: e.org.and_then(|o| self.org_heads.get(o).copied()),
            detail: e.detail.map(str::to_owned),
        };
        let hash = self.push_bytes(entry.encode().unwrap());
        if let Some(m) = e.message {
            self.heads.insert(m.to_owned(), (index, hash));
        }
        if let Some(o) = e.org {
            self.org_heads.insert(o.to_owned(), (index, hash));
        }
        index
    }

    fn root(&self) -> Hash {
        tlog::root_with(self.size(), &mut |id| self.nodes[&id])
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.to_owned(),
            size: self.size(),
            root: self.root(),
        }
    }

    fn proven(&self, index: u64, size: u64) -> ProvenEntry {
        let proof = tlog::inclusion_proof_with(index, size, &mut |id| self.nodes[&id]).unwrap();
        ProvenEntry {
            index,
            leaf: b64(&self.leaves[index as usize]),
            proof: proof.iter().map(|h| b64(h)).collect(),
        }
    }

    fn entry(&self, index: u64) -> LogEntry {
        LogEntry::parse(&self.leaves[index as usize]).unwrap()
    }
}

/// The checkpoint note signed by the log and cosigned by W1 and W2.
fn cosigned_note(cp: &Checkpoint) -> String {
    let note = cp.sign(&LOG_SEED).unwrap();
    let lines = tlog::cosign(cp, &w1().name, &W1_SEED, 1_795_341_700).unwrap()
        + &tlog::cosign(cp, &w2().name, &W2_SEED, 1_795_341_800).unwrap();
    tlog::add_signature_lines(&note, &lines).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Proofs from stored nodes
// ---------------------------------------------------------------------------------------------

#[test]
fn proofs_from_nodes_match_the_reference() {
    let all = test_leaves(70);
    let nodes = node_map(&all);
    let mut get = |id: NodeId| nodes[&id];
    assert_eq!(tlog::root_with(0, &mut get), merkle::empty_root());
    let mut checked = 0;
    for size in 1..=70u64 {
        let leaves = &all[..size as usize];
        let root = merkle::root_of(leaves);
        assert_eq!(tlog::root_with(size, &mut get), root, "root {size}");
        for index in 0..size {
            let proof = tlog::inclusion_proof_with(index, size, &mut get).unwrap();
            assert_eq!(
                proof,
                merkle::inclusion_proof(leaves, index as usize),
                "path {index} {size}"
            );
            assert!(merkle::verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &proof,
                &root
            ));
            checked += 1;
        }
        for size1 in 1..=size {
            let proof = tlog::consistency_proof_with(size1, size, &mut get).unwrap();
            assert_eq!(
                proof,
                reference_consistency(size1 as usize, leaves),
                "proof {size1} {size}"
            );
            let root1 = merkle::root_of(&all[..size1 as usize]);
            assert!(
                merkle::verify_consistency(size1, size, &root1, &root, &proof),
                "{size1} {size}"
            );
            if size1 < size {
                assert!(!merkle::verify_consistency(size1, size, &root, &root, &proof) || root1 == root);
            }
            checked += 1;
        }
        assert!(tlog::inclusion_proof_with(size, size, &mut get).is_err());
        assert!(tlog::consistency_proof_with(0, size, &mut get).is_err());
        assert!(tlog::consistency_proof_with(size + 1, size, &mut get).is_err());
    }
    assert_eq!(checked, 2 * (70 * 71 / 2));
    assert!(tlog::inclusion_proof_with(0, 0, &mut get).is_err());
    assert!(tlog::inclusion_proof_with(0, tlog::MAX_TREE_SIZE + 1, &mut get).is_err());
}

#[test]
fn nodes_stored_on_append_are_the_perfect_subtrees() {
    let mut log = TestLog::default();
    for i in 0..70u64 {
        log.push_bytes(i.to_be_bytes().to_vec());
    }
    let leaves: Vec<Hash> = log.leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
    assert_eq!(log.nodes, node_map(&leaves));
    assert_eq!(log.root(), merkle::root_of(&leaves));
}

#[test]
fn nodes_needed_is_sufficient_and_small() {
    let all = test_leaves(70);
    let nodes = node_map(&all);
    for size in 1..=70u64 {
        for index in 0..size {
            let needed = tlog::nodes_needed(|g| {
                let _ = tlog::inclusion_proof_with(index, size, g);
            });
            let mut strict = |id: NodeId| {
                assert!(needed.contains(&id), "{id:?} not announced");
                nodes[&id]
            };
            let proof = tlog::inclusion_proof_with(index, size, &mut strict).unwrap();
            assert_eq!(proof, merkle::inclusion_proof(&all[..size as usize], index as usize));
        }
        for size1 in 1..=size {
            let needed = tlog::nodes_needed(|g| {
                let _ = tlog::consistency_proof_with(size1, size, g);
                tlog::root_with(size, g);
            });
            let mut strict = |id: NodeId| {
                assert!(needed.contains(&id), "{id:?} not announced");
                nodes[&id]
            };
            let proof = tlog::consistency_proof_with(size1, size, &mut strict).unwrap();
            assert_eq!(
                tlog::root_with(size, &mut strict),
                merkle::root_of(&all[..size as usize])
            );
            assert_eq!(proof, reference_consistency(size1 as usize, &all[..size as usize]));
        }
    }

    // O(log n) at a million leaves, and only nodes that exist in that tree.
    let n = 1_000_000u64;
    let in_tree = |set: &BTreeSet<NodeId>| {
        set.iter()
            .all(|id| (u128::from(id.index) + 1) << id.level <= u128::from(n))
    };
    for index in [0, 1, 2, 4095, 500_000, 524_287, 524_288, 777_777, 999_998, 999_999] {
        let needed = tlog::nodes_needed(|g| {
            tlog::inclusion_proof_with(index, n, g).unwrap();
        });
        assert!(needed.len() <= 2 * 64, "inclusion {index}: {}", needed.len());
        assert!(in_tree(&needed));
    }
    for size1 in [1, 2, 3, 333_333, 524_288, 524_289, 999_999, 1_000_000] {
        let needed = tlog::nodes_needed(|g| {
            tlog::consistency_proof_with(size1, n, g).unwrap();
        });
        assert!(needed.len() <= 2 * 64, "consistency {size1}: {}", needed.len());
        assert!(in_tree(&needed));
    }
    let root_nodes = tlog::nodes_needed(|g| {
        tlog::root_with(n, g);
    });
    assert_eq!(root_nodes.len(), n.count_ones() as usize);
}

#[test]
fn node_keys() {
    let id = NodeId {
        level: 7,
        index: 123_456,
    };
    assert_eq!(NodeId::from_key(id.key()), id);
    assert_eq!(id.key(), (7i64 << 56) | 123_456);
    let completed = tlog::nodes_completed_by(15);
    assert_eq!(
        completed,
        (1..=4u8)
            .map(|level| NodeId {
                level,
                index: (16 >> level) - 1
            })
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Checkpoints
// ---------------------------------------------------------------------------------------------

#[test]
fn checkpoint_body_round_trip_and_strict_parse() {
    let cp = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 42,
        root: [0xab; 32],
    };
    let body = cp.body();
    assert_eq!(body, format!("{ORIGIN}\n42\n{}\n", b64(&[0xab; 32])));
    assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);
    let zero = Checkpoint { size: 0, ..cp.clone() };
    assert_eq!(Checkpoint::parse_body(&zero.body()).unwrap(), zero);

    let root = b64(&[0xab; 32]);
    // Non-canonical trailing bits: the last base64 digit of 32 bytes carries 2 zero bits.
    let zero_root = b64(&[0; 32]);
    assert!(zero_root.ends_with("AA="));
    let non_canonical = format!("{}B=", &zero_root[..42]);
    assert!(STANDARD.decode(&non_canonical).is_err());
    let bad = [
        format!("{ORIGIN}\n42\n{root}"),
        format!("{ORIGIN}\n042\n{root}\n"),
        format!("{ORIGIN}\n+42\n{root}\n"),
        format!("{ORIGIN}\n42 \n{root}\n"),
        format!("{ORIGIN}\n\n{root}\n"),
        format!("{ORIGIN}\n18446744073709551616\n{root}\n"),
        format!("\n42\n{root}\n"),
        format!("log example\n42\n{root}\n"),
        format!("log\texample\n42\n{root}\n"),
        format!("-\n42\n{root}\n"),
        format!("{ORIGIN}\n42\n{}\n", root.trim_end_matches('=')),
        format!("{ORIGIN}\n42\n{}\n", b64(&[0xab; 31])),
        format!("{ORIGIN}\n42\n{}\n", b64(&[0xab; 33])),
        format!("{ORIGIN}\n42\n{non_canonical}\n"),
        format!("{ORIGIN}\n42\n{root}\nextension line\n"),
        format!("{ORIGIN}\n42\n{root}\n\n"),
        format!("{ORIGIN}\r\n42\n{root}\n"),
    ];
    for text in &bad {
        assert!(
            matches!(Checkpoint::parse_body(text), Err(Error::Malformed(_))),
            "accepted {text:?}"
        );
    }
}

#[test]
fn checkpoint_notes() {
    let cp = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 7,
        root: [3; 32],
    };
    let note = cp.sign(&LOG_SEED).unwrap();
    assert!(note.starts_with(&format!("{}\n\u{2014} {ORIGIN} ", cp.body())));
    assert_eq!(Checkpoint::verify_note(&note, &log_key()).unwrap(), cp);
    // Cosignatures appended do not disturb the log signature.
    let cosigned = cosigned_note(&cp);
    assert_eq!(Checkpoint::verify_note(&cosigned, &log_key()).unwrap(), cp);
    // Wrong key, wrong name.
    let other = VerifierKey::new(ORIGIN, ed25519_public(&[9; 32])).unwrap();
    assert_eq!(Checkpoint::verify_note(&note, &other), Err(Error::BadSignature));
    // Origin must be the key name: sign as another name with the same seed.
    let foreign = note::sign(&cp.body(), "other.example", &LOG_SEED).unwrap();
    let other_name = VerifierKey::new("other.example", ed25519_public(&LOG_SEED)).unwrap();
    assert!(matches!(
        Checkpoint::verify_note(&foreign, &other_name),
        Err(Error::Proof(_))
    ));
    // A signed note that is not a checkpoint.
    let not_cp = note::sign("hello\n", ORIGIN, &LOG_SEED).unwrap();
    assert!(matches!(
        Checkpoint::verify_note(&not_cp, &log_key()),
        Err(Error::Malformed(_))
    ));
    // Invalid origins are refused when signing.
    for origin in ["", "a b", "a+b", "-"] {
        let bad = Checkpoint {
            origin: origin.to_owned(),
            ..cp.clone()
        };
        assert!(bad.sign(&LOG_SEED).is_err(), "{origin:?}");
    }
}

#[derive(Deserialize)]
struct SignedNoteFile {
    tests: Vec<SignedNoteCase>,
}

#[derive(Deserialize)]
struct SignedNoteCase {
    vkey: String,
    note_text: String,
    signed_note: String,
}

#[test]
fn c2sp_signed_note_example_is_compatible() {
    let path = vectors_dir().join("c2sp-signed-note/signed-note-example.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file: SignedNoteFile = serde_json::from_str(&text).unwrap();
    assert_eq!(file.tests.len(), 1);
    let case = &file.tests[0];
    let key = VerifierKey::from_vkey(&case.vkey).unwrap();
    assert_eq!(note::verify(&case.signed_note, &key).unwrap(), case.note_text);
    // The checkpoint machinery reads the note structure and verifies the signature, then
    // refuses the text because it is not a checkpoint (not because of the signature).
    assert!(matches!(
        Checkpoint::verify_note(&case.signed_note, &key),
        Err(Error::Malformed(_))
    ));
    let other = VerifierKey::new(&key.name, [9; 32]).unwrap();
    assert_eq!(
        Checkpoint::verify_note(&case.signed_note, &other),
        Err(Error::BadSignature)
    );
    // Lines appended with add_signature_lines keep the example verifying.
    let cp = Checkpoint {
        origin: "x".into(),
        size: 1,
        root: [0; 32],
    };
    let line = tlog::cosign(&cp, "witness.example", &W1_SEED, 5).unwrap();
    let extended = tlog::add_signature_lines(&case.signed_note, &line).unwrap();
    assert_eq!(note::verify(&extended, &key).unwrap(), case.note_text);
    // The example's vkey is a signed-note key (type 0x01), not a cosignature key (0x04).
    assert!(CosignerKey::from_vkey(&case.vkey).is_err());
    // But the witness key ID construction is the same with type 0x04.
    let wk = CosignerKey::new(&key.name, key.public).unwrap();
    let expected = sealpost_crypto::primitives::sha256(&[key.name.as_bytes(), b"\n", &[4], &key.public]);
    assert_eq!(wk.key_id(), expected[..4]);
    assert_ne!(wk.key_id(), key.key_id());
}

// ---------------------------------------------------------------------------------------------
// 3. Cosignatures
// ---------------------------------------------------------------------------------------------

#[test]
fn cosignatures() {
    let cp = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 10,
        root: [5; 32],
    };
    let note = cp.sign(&LOG_SEED).unwrap();
    let line = tlog::cosign(&cp, &w1().name, &W1_SEED, 1_700_000_000).unwrap();
    assert!(line.starts_with("\u{2014} witness.one.example ") && line.ends_with('\n'));
    let blob = STANDARD.decode(line.trim_end().rsplit_once(' ').unwrap().1).unwrap();
    assert_eq!(blob.len(), 76);
    assert_eq!(blob[..4], w1().key_id());
    assert_eq!(blob[4..12], 1_700_000_000u64.to_be_bytes());
    let sig: [u8; 64] = blob[12..].try_into().unwrap();
    let message = format!("cosignature/v1\ntime 1700000000\n{}", cp.body());
    sealpost_crypto::primitives::ed25519_verify(&w1().public, message.as_bytes(), &sig).unwrap();

    let cosigned = tlog::add_signature_lines(&note, &line).unwrap();
    assert_eq!(cosigned, format!("{note}{line}"));
    assert_eq!(tlog::verify_cosignature(&cosigned, &w1()), Ok(1_700_000_000));
    // Absent witness, wrong key under the same name, wrong name.
    assert_eq!(tlog::verify_cosignature(&cosigned, &w2()), Err(Error::BadSignature));
    let impostor = CosignerKey::new(&w1().name, w2().public).unwrap();
    assert_eq!(tlog::verify_cosignature(&cosigned, &impostor), Err(Error::BadSignature));
    let renamed = CosignerKey::new("witness.renamed", w1().public).unwrap();
    assert_eq!(tlog::verify_cosignature(&cosigned, &renamed), Err(Error::BadSignature));
    // Wrong time: re-encode the blob with another timestamp.
    let mut changed = blob.clone();
    changed[11] ^= 1;
    let bad_time = format!("{note}\u{2014} witness.one.example {}\n", b64(&changed));
    assert_eq!(tlog::verify_cosignature(&bad_time, &w1()), Err(Error::BadSignature));
    // Modified body: the same line on another checkpoint.
    let other_cp = Checkpoint { size: 11, ..cp.clone() };
    let moved = format!("{}{line}", other_cp.sign(&LOG_SEED).unwrap());
    assert_eq!(tlog::verify_cosignature(&moved, &w1()), Err(Error::BadSignature));
    // A truncated blob with the right key ID fails rather than being skipped.
    let short = format!("{note}\u{2014} witness.one.example {}\n", b64(&blob[..70]));
    assert_eq!(tlog::verify_cosignature(&short, &w1()), Err(Error::BadSignature));
    // Two witnesses, several times by one witness: the latest time is reported.
    let both = tlog::add_signature_lines(
        &cosigned,
        &(tlog::cosign(&cp, &w2().name, &W2_SEED, 1_700_000_100).unwrap()
            + &tlog::cosign(&cp, &w1().name, &W1_SEED, 1_700_000_200).unwrap()),
    )
    .unwrap();
    assert_eq!(tlog::verify_cosignature(&both, &w1()), Ok(1_700_000_200));
    assert_eq!(tlog::verify_cosignature(&both, &w2()), Ok(1_700_000_100));
    assert_eq!(Checkpoint::verify_note(&both, &log_key()).unwrap(), cp);

    // vkeys.
    for key in [w1(), w2(), w3()] {
        let vkey = key.to_vkey();
        assert!(vkey.starts_with(&format!("{}+", key.name)));
        assert_eq!(CosignerKey::from_vkey(&vkey).unwrap(), key);
        let mut wrong_id = vkey.clone().into_bytes();
        let pos = key.name.len() + 1;
        wrong_id[pos] = if wrong_id[pos] == b'0' { b'1' } else { b'0' };
        assert!(CosignerKey::from_vkey(std::str::from_utf8(&wrong_id).unwrap()).is_err());
    }
    assert!(CosignerKey::new("a b", [0; 32]).is_err());
    assert!(CosignerKey::new("a+b", [0; 32]).is_err());
    assert!(CosignerKey::new("", [0; 32]).is_err());

    // add_signature_lines checks structure.
    assert!(tlog::add_signature_lines(&note, "").is_err());
    assert!(tlog::add_signature_lines(&note, "not a signature\n").is_err());
    assert!(tlog::add_signature_lines(&note, line.trim_end()).is_err());
    assert!(tlog::add_signature_lines(&cp.body(), &line).is_err());
}

// ---------------------------------------------------------------------------------------------
// 4. Log entries
// ---------------------------------------------------------------------------------------------

fn full_entry() -> LogEntry {
    LogEntry {
        index: 12,
        time_ms: T0,
        kind: kinds::RELEASED.to_owned(),
        org: Some("org_a".to_owned()),
        actor: "recipient:r_1".to_owned(),
        source: Some("2001:db8::1".to_owned()),
        message: Some("m_1".to_owned()),
        recipient: Some("r_1".to_owned()),
        prev: Some((9, [7; 32])),
        org_prev: Some((11, [8; 32])),
        detail: Some(r#"{"method":"totp","ua":"Mozilla 5.0"}"#.to_owned()),
    }
}

#[test]
fn log_entry_encoding() {
    let entry = full_entry();
    let bytes = entry.encode().unwrap();
    let expected = format!(
        "sealpost/log-entry/v1\nindex 12\ntime {T0}\nkind share.released\norg org_a\nactor recipient:r_1\n\
         from 2001:db8::1\nmessage m_1\nrecipient r_1\nprev 9 {}\norg-prev 11 {}\ndetail {{\"method\":\"totp\",\"ua\":\"Mozilla 5.0\"}}\n",
        b64(&[7; 32]),
        b64(&[8; 32])
    );
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
    assert_eq!(LogEntry::parse(&bytes).unwrap(), entry);
    assert_eq!(LogEntry::leaf_hash(&bytes), merkle::leaf_hash(&bytes));

    let minimal = LogEntry {
        index: 0,
        time_ms: 0,
        kind: "user.login".to_owned(),
        org: None,
        actor: "system".to_owned(),
        source: None,
        message: None,
        recipient: None,
        prev: None,
        org_prev: None,
        detail: None,
    };
    let bytes = minimal.encode().unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        "sealpost/log-entry/v1\nindex 0\ntime 0\nkind user.login\norg -\nactor system\nfrom -\nmessage -\n\
         recipient -\nprev -\norg-prev -\ndetail -\n"
    );
    assert_eq!(LogEntry::parse(&bytes).unwrap(), minimal);
}

#[test]
fn log_entry_rejections() {
    let good = String::from_utf8(full_entry().encode().unwrap()).unwrap();
    let replace = |from: &str, to: &str| {
        assert!(good.contains(from), "{from:?}");
        good.replacen(from, to, 1)
    };
    let bad_texts = [
        replace("org org_a\n", "org org_a \n"), // trailing space
        replace("kind share.released\n", "kind share.released \n"),
        replace("actor recipient:r_1\n", "actor  recipient:r_1\n"),
        replace("org org_a\n", ""),                                           // missing line
        replace("org org_a\n", "org -\norg org_a\n"),                         // extra line
        replace("org org_a\nactor", "actor recipient:r_1\norg org_a\nactor"), // order
        replace("index 12\n", "index 012\n"),                                 // non-canonical numbers
        replace("index 12\n", "index +12\n"),
        replace("time ", "time 0"),
        replace("prev 9 ", "prev 09 "),
        replace("prev 9 ", "prev 12 "),  // prev not below index
        replace("detail {", "detail ["), // not an object
        replace("detail {\"method\":\"totp\",\"ua\":\"Mozilla 5.0\"}", "detail [1,2]"),
        replace("detail {\"method\":\"totp\",\"ua\":\"Mozilla 5.0\"}", "detail \"x\""),
        replace("detail {\"method\":\"totp\",\"ua\":\"Mozilla 5.0\"}", "detail {"),
        replace("detail {", "detail  {"),
        replace("Mozilla 5.0\"}\n", "Mozilla 5.0\"} \n"),
        replace("Mozilla 5.0\"}\n", "Mozilla 5.0\"}\t\n"),
        replace("kind share.released", "kind Share.Released"),
        replace("kind share.released", "kind -"),
        replace("org org_a", "org"),
        replace("org org_a", "org "),
        replace("message m_1", "message m 1"),
        replace("sealpost/log-entry/v1", "sealpost/log-entry/v2"),
        good.trim_end().to_owned(), // no final newline
        format!("{good}\n"),
        good.replace('\n', "\r\n"),
    ];
    for text in &bad_texts {
        assert!(LogEntry::parse(text.as_bytes()).is_err(), "accepted {text:?}");
    }
    assert!(LogEntry::parse(&[0xff, 0xfe]).is_err());

    // "-" is not a value; whitespace, control characters and length limits.
    let cases: Vec<fn(&mut LogEntry)> = vec![
        |e| e.org = Some("-".into()),
        |e| e.actor = "-".into(),
        |e| e.source = Some("-".into()),
        |e| e.message = Some("-".into()),
        |e| e.recipient = Some("-".into()),
        |e| e.detail = Some("-".into()),
        |e| e.kind = "-".into(),
        |e| e.kind = String::new(),
        |e| e.kind = "a".repeat(65),
        |e| e.org = Some(String::new()),
        |e| e.org = Some("a".repeat(129)),
        |e| e.actor = "a".repeat(257),
        |e| e.actor = "user x".into(),
        |e| e.source = Some("1.2.3.4\n".into()),
        |e| e.message = Some("m\u{0}".into()),
        |e| e.recipient = Some("r\u{a0}1".into()),
        |e| e.detail = Some(format!("{{\"a\":\"{}\"}}", "x".repeat(4090))),
        |e| e.detail = Some("{\"a\":\n1}".into()),
        |e| e.detail = Some("[]".into()),
        |e| e.prev = Some((12, [0; 32])),
    ];
    for (n, case) in cases.iter().enumerate() {
        let mut entry = full_entry();
        case(&mut entry);
        assert!(
            matches!(entry.encode(), Err(Error::InvalidArgument(_))),
            "case {n} encoded: {entry:?}"
        );
    }
    // Limits are inclusive.
    let mut entry = full_entry();
    entry.kind = "a".repeat(64);
    entry.org = Some("o".repeat(128));
    entry.actor = "a".repeat(256);
    entry.detail = Some(format!("{{\"a\":\"{}\"}}", "x".repeat(4088)));
    assert_eq!(entry.detail.as_ref().unwrap().len(), 4096);
    assert_eq!(LogEntry::parse(&entry.encode().unwrap()).unwrap(), entry);
}

// ---------------------------------------------------------------------------------------------
// A realistic log
// ---------------------------------------------------------------------------------------------

struct Scenario {
    log: TestLog,
    /// Indexes of m_1's chain.
    chain: Vec<u64>,
    recipients: Vec<RecipientLabel>,
}

fn label(rid: &str, address: &str) -> RecipientLabel {
    RecipientLabel {
        rid: rid.to_owned(),
        address: address.to_owned(),
    }
}

/// Message m_1 (recipients r_1 alice, r_2 bob, r_3 carol) interleaved with other traffic.
fn scenario() -> Scenario {
    let mut log = TestLog::default();
    let m = Some("m_1");
    let mut chain = Vec::new();
    log.append(Event {
        org: None,
        actor: "user:u_admin",
        ..ev("user.login", None, None)
    });
    chain.push(log.append(Event {
        actor: "user:u_sender",
        ..ev(kinds::CREATED, m, None)
    }));
    log.append(ev(kinds::CREATED, Some("m_2"), None));
    chain.push(log.append(Event {
        actor: "user:u_sender",
        ..ev(kinds::SEALED, m, None)
    }));
    chain.push(log.append(ev("link.created", m, Some("r_1"))));
    chain.push(log.append(ev("link.created", m, Some("r_2"))));
    log.append(Event {
        org: Some("org_b"),
        ..ev(kinds::CREATED, Some("m_9"), None)
    });
    chain.push(log.append(Event {
        detail: Some(r#"{"channel":"sms"}"#),
        ..ev("code.sent", m, Some("r_1"))
    }));
    chain.push(log.append(Event {
        actor: "recipient:r_1",
        ..ev(kinds::RELEASED, m, Some("r_1"))
    }));
    log.append(ev(kinds::SEALED, Some("m_2"), None));
    chain.push(log.append(Event {
        actor: "recipient:r_1",
        ..ev(kinds::RELEASED, m, Some("r_1"))
    }));
    chain.push(log.append(Event {
        actor: "user:u_sender",
        ..ev(kinds::RECIPIENT_REVOKED, m, Some("r_2"))
    }));
    log.append(ev(kinds::RELEASED, Some("m_2"), Some("r_7")));
    chain.push(log.append(ev(kinds::DESTROYED, m, None)));
    log.append(Event {
        org: Some("org_b"),
        ..ev(kinds::SEALED, Some("m_9"), None)
    });
    Scenario {
        log,
        chain,
        recipients: vec![
            label("r_1", "alice@example.org"),
            label("r_2", "bob@example.org"),
            label("r_3", "+15550100"),
        ],
    }
}

impl Scenario {
    fn note(&self) -> String {
        cosigned_note(&self.log.checkpoint())
    }

    fn events(&self, indexes: &[u64]) -> Vec<ProvenEntry> {
        indexes.iter().map(|&i| self.log.proven(i, self.log.size())).collect()
    }

    fn receipt(&self) -> String {
        tlog::build_receipt(
            &LOG_SEED,
            &self.note(),
            "m_1",
            T0 + 86_400_000,
            &self.recipients,
            &self.events(&self.chain),
            &[w1(), w2()],
        )
        .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Release proofs
// ---------------------------------------------------------------------------------------------

#[test]
fn release_proofs() {
    let s = scenario();
    let note = s.note();
    let size = s.log.size();
    let release = s.chain[5];
    let leaf = &s.log.leaves[release as usize];
    let proof = tlog::inclusion_proof_with(release, size, &mut |id| s.log.nodes[&id]).unwrap();
    let key = log_key();
    let entry = tlog::verify_release(&key, &note, release, leaf, &proof, "m_1", "r_1").unwrap();
    assert_eq!(entry, s.log.entry(release));

    assert!(matches!(
        tlog::verify_release(&key, &note, release, leaf, &proof, "m_1", "r_2"),
        Err(Error::Proof(_))
    ));
    assert!(matches!(
        tlog::verify_release(&key, &note, release, leaf, &proof, "m_2", "r_1"),
        Err(Error::Proof(_))
    ));
    // Another kind (the code.sent entry for r_1), with its own valid proof.
    let code = s.chain[4];
    let code_proof = tlog::inclusion_proof_with(code, size, &mut |id| s.log.nodes[&id]).unwrap();
    assert!(matches!(
        tlog::verify_release(
            &key,
            &note,
            code,
            &s.log.leaves[code as usize],
            &code_proof,
            "m_1",
            "r_1"
        ),
        Err(Error::Proof(_))
    ));
    // Broken proof, wrong index, changed leaf, wrong log key, unsigned checkpoint.
    let mut bad = proof.clone();
    bad[0][0] ^= 1;
    assert!(tlog::verify_release(&key, &note, release, leaf, &bad, "m_1", "r_1").is_err());
    assert!(tlog::verify_release(&key, &note, release, leaf, &proof[1..], "m_1", "r_1").is_err());
    assert!(tlog::verify_release(&key, &note, release + 1, leaf, &proof, "m_1", "r_1").is_err());
    let mut changed = leaf.clone();
    changed[30] ^= 1;
    assert!(tlog::verify_release(&key, &note, release, &changed, &proof, "m_1", "r_1").is_err());
    let other = VerifierKey::new(ORIGIN, ed25519_public(&[9; 32])).unwrap();
    assert!(tlog::verify_release(&other, &note, release, leaf, &proof, "m_1", "r_1").is_err());
    assert!(tlog::verify_release(&key, &s.log.checkpoint().body(), release, leaf, &proof, "m_1", "r_1").is_err());
}

// ---------------------------------------------------------------------------------------------
// 6. Receipts
// ---------------------------------------------------------------------------------------------

/// The receipt file, written independently of the crate from the documented format.
#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    statement: String,
    checkpoint: String,
    events: Vec<ProvenEntry>,
}

fn file_of(text: &str) -> File {
    serde_json::from_str(text).unwrap()
}

fn render(file: &File) -> String {
    serde_json::to_string_pretty(file).unwrap() + "\n"
}

/// Re-signs a statement text with the log key (to test the verifier's own checks).
fn forge(text: &str, statement: &str, events: Vec<ProvenEntry>) -> String {
    let mut file = file_of(text);
    file.statement = note::sign(statement, ORIGIN, &LOG_SEED).unwrap();
    file.events = events;
    render(&file)
}

fn statement_text(text: &str) -> String {
    let file = file_of(text);
    note::verify(&file.statement, &log_key()).unwrap().to_owned()
}

#[test]
fn receipt_round_trip_and_documented_format() {
    let s = scenario();
    let text = s.receipt();
    let v = tlog::verify_receipt(&text, &log_key(), &[w1(), w2()]).unwrap();
    assert_eq!(v.message_id, "m_1");
    assert_eq!(v.origin, ORIGIN);
    assert_eq!(v.size, s.log.size());
    assert_eq!(v.root_b64, b64(&s.log.root()));
    assert_eq!(v.events, s.chain.len() as u64);
    assert_eq!(
        v.witnesses,
        vec![
            ("witness.one.example".to_owned(), 1_795_341_700),
            ("witness.two.example".to_owned(), 1_795_341_800)
        ]
    );
    let time = |i: usize| s.log.entry(s.chain[i]).time_ms;
    let [r1, r2, r3] = &v.recipients[..] else {
        panic!("three recipients")
    };
    assert_eq!(
        (r1.rid.as_str(), r1.releases, r1.first_released_ms),
        ("r_1", 2, Some(time(5)))
    );
    assert_eq!((r1.revoked_ms, r1.destroyed_ms), (None, Some(time(8))));
    assert_eq!(
        (r2.releases, r2.revoked_ms, r2.destroyed_ms),
        (0, Some(time(7)), Some(time(8)))
    );
    assert_eq!(
        (r3.address.as_str(), r3.releases, r3.revoked_ms),
        ("+15550100", 0, None)
    );
    assert_eq!(r3.destroyed_ms, Some(time(8)));
    assert!(v.recipients.iter().all(|r| r.expired_ms.is_none()));
    // No witnesses required also verifies.
    assert_eq!(tlog::verify_receipt(&text, &log_key(), &[]).unwrap(), v);

    // The statement is exactly the documented text.
    let root = b64(&s.log.root());
    let mut expected = format!(
        "sealpost/receipt/v1\norigin {ORIGIN}\nmessage m_1\nissued {}\ncheckpoint {} {root}\n",
        T0 + 86_400_000,
        s.log.size()
    );
    expected += &format!("witness {} 1795341700\n", w1().to_vkey());
    expected += &format!("witness {} 1795341800\n", w2().to_vkey());
    expected += &format!(
        "recipient r_1 alice@example.org released {} 2 revoked - expired - destroyed {}\n",
        time(5),
        time(8)
    );
    expected += &format!(
        "recipient r_2 bob@example.org released - 0 revoked {} expired - destroyed {}\n",
        time(7),
        time(8)
    );
    expected += &format!(
        "recipient r_3 +15550100 released - 0 revoked - expired - destroyed {}\n",
        time(8)
    );
    for &i in &s.chain {
        expected += &format!("event {i} {}\n", b64(&LogEntry::leaf_hash(&s.log.leaves[i as usize])));
    }
    assert_eq!(statement_text(&text), expected);
    // And the file is exactly the documented JSON around it.
    let file = File {
        format: "sealpost/receipt/v1".into(),
        statement: note::sign(&expected, ORIGIN, &LOG_SEED).unwrap(),
        checkpoint: s.note(),
        events: s.events(&s.chain),
    };
    assert_eq!(render(&file), text);
    assert!(text.starts_with("{\n  \"format\": \"sealpost/receipt/v1\",\n  \"statement\": "));

    let summary = tlog::receipt_summary(&v);
    assert!(summary.contains("receipt issued 2026-11-23T10:00:00Z"), "{summary}");
    assert!(
        summary.contains("alice@example.org (r_1): released 2 times, first at 2026-11-22T10:"),
        "{summary}"
    );
    assert!(summary.contains("bob@example.org (r_2): never released"), "{summary}");
    assert!(summary.contains("; revoked at 2026-11-22T10:"), "{summary}");
    assert!(
        summary.contains("cosigned by witness.one.example at 2026-11-22T10:01:40Z"),
        "{summary}"
    );
    assert_eq!(summary.lines().count(), 4);
}

#[test]
fn every_byte_of_a_receipt_matters() {
    let s = scenario();
    let text = s.receipt();
    let key = log_key();
    let mut tried = 0;
    for index in 0..text.len() {
        for replace in [None, Some(b' ')] {
            let mut bytes = text.as_bytes().to_vec();
            match replace {
                None => bytes[index] ^= 0x01,
                Some(b) if bytes[index] != b => bytes[index] = b,
                Some(_) => continue,
            }
            let Ok(changed) = String::from_utf8(bytes) else {
                continue; // not even a string
            };
            assert!(
                tlog::verify_receipt(&changed, &key, &[]).is_err(),
                "byte {index} ({:?}) changed to {replace:?} but the receipt verified",
                text.as_bytes()[index] as char
            );
            tried += 1;
        }
    }
    assert!(tried > text.len(), "{tried} changes tried for {} bytes", text.len());
    // Truncation and extension.
    assert!(tlog::verify_receipt(&text[..text.len() - 1], &key, &[]).is_err());
    assert!(tlog::verify_receipt(&format!("{text}\n"), &key, &[]).is_err());
    assert!(tlog::verify_receipt(&format!(" {text}"), &key, &[]).is_err());
}

#[test]
fn receipt_tampering() {
    let s = scenario();
    let text = s.receipt();
    let key = log_key();
    let note = s.note();
    let labels = &s.recipients;
    let build = |events: &[ProvenEntry], witnesses: &[CosignerKey]| {
        tlog::build_receipt(&LOG_SEED, &note, "m_1", T0, labels, events, witnesses)
    };
    let all = s.events(&s.chain);

    // Dropping an event from the file.
    let mut file = file_of(&text);
    file.events.remove(3);
    assert!(tlog::verify_receipt(&render(&file), &key, &[]).is_err());
    // Reordering two events in the file.
    let mut file = file_of(&text);
    file.events.swap(2, 3);
    assert!(tlog::verify_receipt(&render(&file), &key, &[]).is_err());
    // Dropping the last event (the chain would still be intact): the statement lists it.
    let mut file = file_of(&text);
    file.events.pop();
    assert!(tlog::verify_receipt(&render(&file), &key, &[]).is_err());

    // build_receipt refuses incomplete or reordered chains.
    let mut dropped = all.clone();
    dropped.remove(3);
    assert!(build(&dropped, &[w1(), w2()]).is_err());
    let mut swapped = all.clone();
    swapped.swap(2, 3);
    assert!(build(&swapped, &[w1(), w2()]).is_err());
    assert!(
        build(&all[1..], &[w1(), w2()]).is_err(),
        "chain must start with created/sealed"
    );
    assert!(build(&[], &[w1(), w2()]).is_err());
    // An event of another message.
    let mut foreign = all.clone();
    foreign.push(s.log.proven(2, s.log.size()));
    assert!(build(&foreign, &[w1(), w2()]).is_err());
    // A recipient not listed.
    let short_labels = &labels[..1];
    assert!(tlog::build_receipt(&LOG_SEED, &note, "m_1", T0, short_labels, &all, &[w1(), w2()]).is_err());
    // Duplicate recipient ids, bad labels.
    let dup = [
        labels[0].clone(),
        labels[1].clone(),
        labels[2].clone(),
        labels[0].clone(),
    ];
    assert!(tlog::build_receipt(&LOG_SEED, &note, "m_1", T0, &dup, &all, &[w1(), w2()]).is_err());
    let spaced = [label("r_1", "alice example"), labels[1].clone(), labels[2].clone()];
    assert!(tlog::build_receipt(&LOG_SEED, &note, "m_1", T0, &spaced, &all, &[w1(), w2()]).is_err());

    // Witness lists: a cosignature not listed, a listed witness that did not cosign.
    assert!(build(&all, &[w1()]).is_err());
    assert!(build(&all, &[w1(), w2(), w3()]).is_err());
    // A missing required witness.
    assert!(tlog::verify_receipt(&text, &key, &[w3()]).is_err());
    assert!(tlog::verify_receipt(&text, &key, &[w1(), w3()]).is_err());
    assert!(tlog::verify_receipt(&text, &key, &[w2()]).is_ok());
    // A receipt over a checkpoint without cosignatures cannot satisfy a required witness.
    let bare = s.log.checkpoint().sign(&LOG_SEED).unwrap();
    let plain = tlog::build_receipt(&LOG_SEED, &bare, "m_1", T0, labels, &all, &[]).unwrap();
    assert!(tlog::verify_receipt(&plain, &key, &[]).is_ok());
    assert!(tlog::verify_receipt(&plain, &key, &[w1()]).is_err());
    // Swapping in a checkpoint note with extra cosignatures, or one without, fails.
    let mut file = file_of(&text);
    file.checkpoint = bare.clone();
    assert!(tlog::verify_receipt(&render(&file), &key, &[]).is_err());
    let mut file = file_of(&plain);
    file.checkpoint = note.clone();
    assert!(tlog::verify_receipt(&render(&file), &key, &[]).is_err());

    // A wrong seed for build, a wrong key for verify.
    assert!(tlog::build_receipt(&[9; 32], &note, "m_1", T0, labels, &all, &[w1(), w2()]).is_err());
    let other = VerifierKey::new(ORIGIN, ed25519_public(&[9; 32])).unwrap();
    assert!(tlog::verify_receipt(&text, &other, &[]).is_err());

    // The verifier's own checks, with statements the log key signs (a compromised or buggy
    // builder): a statement dropping an event and its line; a lie about the states.
    let statement = statement_text(&text);
    let dropped_line = statement
        .lines()
        .filter(|l| !l.starts_with(&format!("event {} ", s.chain[3])))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    assert_ne!(dropped_line, statement);
    assert!(matches!(
        tlog::verify_receipt(&forge(&text, &dropped_line, dropped.clone()), &key, &[]),
        Err(Error::Proof(_))
    ));
    let lie = statement.replacen("released - 0 revoked", "released - 1 revoked", 1);
    assert_ne!(lie, statement);
    assert!(matches!(
        tlog::verify_receipt(&forge(&text, &lie, all.clone()), &key, &[]),
        Err(Error::Proof(_))
    ));
    let never = statement.replacen(
        &format!("released {} 2", s.log.entry(s.chain[5]).time_ms),
        "released - 0",
        1,
    );
    assert_ne!(never, statement);
    assert!(tlog::verify_receipt(&forge(&text, &never, all.clone()), &key, &[]).is_err());
    // Dropping a recipient line (its events then name an unlisted rid), or reordering them.
    let no_r3 = statement
        .lines()
        .filter(|l| !l.starts_with("recipient r_1 "))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    assert!(tlog::verify_receipt(&forge(&text, &no_r3, all.clone()), &key, &[]).is_err());
    // The honest statement re-signed verifies (so the failures above are the checks).
    assert!(tlog::verify_receipt(&forge(&text, &statement, all.clone()), &key, &[]).is_ok());
    // A statement with a second signature line.
    let mut file = file_of(&text);
    file.statement = tlog::add_signature_lines(
        &file.statement,
        &tlog::cosign(&s.log.checkpoint(), "w", &W1_SEED, 1).unwrap(),
    )
    .unwrap();
    assert!(tlog::verify_receipt(&render(&file), &key, &[]).is_err());
}

#[test]
fn receipt_fork_fails() {
    let mut s = scenario();
    // A second entry claiming the same predecessor as the last one: a fork of m_1's chain.
    let destroyed = s.chain[8];
    let fork_prev = s.log.entry(destroyed).prev;
    let fork = s
        .log
        .append_with_prev(ev(kinds::RELEASED, Some("m_1"), Some("r_2")), fork_prev);
    let note = s.note();
    let mut forked = s.chain.clone();
    forked.push(fork);
    let events = s.events(&forked);
    assert!(tlog::build_receipt(&LOG_SEED, &note, "m_1", T0, &s.recipients, &events, &[w1(), w2()]).is_err());
    // Replacing the destroyed entry by the fork is a valid chain, though (the log signs both).
    let mut other_branch = s.chain.clone();
    *other_branch.last_mut().unwrap() = fork;
    let text = tlog::build_receipt(
        &LOG_SEED,
        &note,
        "m_1",
        T0,
        &s.recipients,
        &s.events(&other_branch),
        &[w1(), w2()],
    )
    .unwrap();
    let v = tlog::verify_receipt(&text, &log_key(), &[]).unwrap();
    // r_2 was released after its revocation: counted, not an error.
    assert_eq!(v.recipients[1].releases, 1);
    assert!(v.recipients[1].revoked_ms < v.recipients[1].first_released_ms);
    assert!(tlog::receipt_summary(&v).contains("Note: the first release came after the message was revoked"));
}

#[test]
fn receipt_state_rules() {
    let mut log = TestLog::default();
    let m = Some("m_x");
    let mut chain = vec![log.append(ev(kinds::SEALED, m, None))];
    chain.push(log.append(ev(kinds::RELEASED, m, Some("a"))));
    chain.push(log.append(ev(kinds::MESSAGE_REVOKED, m, None)));
    chain.push(log.append(ev(kinds::EXPIRED, m, None)));
    chain.push(log.append(ev(kinds::DESTROYED, m, Some("b"))));
    chain.push(log.append(ev(kinds::DESTROYED, m, None)));
    chain.push(log.append(ev(kinds::RECEIPT_ISSUED, m, None)));
    let cp = log.checkpoint();
    let note = cp.sign(&LOG_SEED).unwrap();
    let events: Vec<ProvenEntry> = chain.iter().map(|&i| log.proven(i, log.size())).collect();
    let labels = [label("a", "a@example.org"), label("b", "b@example.org")];
    let text = tlog::build_receipt(&LOG_SEED, &note, "m_x", T0, &labels, &events, &[]).unwrap();
    let v = tlog::verify_receipt(&text, &log_key(), &[]).unwrap();
    let t = |i: usize| log.entry(chain[i]).time_ms;
    let [a, b] = &v.recipients[..] else { panic!() };
    assert_eq!(
        (
            a.first_released_ms,
            a.releases,
            a.revoked_ms,
            a.expired_ms,
            a.destroyed_ms
        ),
        (Some(t(1)), 1, Some(t(2)), Some(t(3)), Some(t(5)))
    );
    assert_eq!(
        (
            b.first_released_ms,
            b.releases,
            b.revoked_ms,
            b.expired_ms,
            b.destroyed_ms
        ),
        (None, 0, Some(t(2)), Some(t(3)), Some(t(4)))
    );
    assert_eq!(v.witnesses, vec![]);
    assert!(tlog::receipt_summary(&v).contains("no witness cosignatures"));

    // Events whose recipient scope is wrong are refused.
    for (kind, recipient) in [
        (kinds::RELEASED, None),
        (kinds::RECIPIENT_REVOKED, None),
        (kinds::MESSAGE_REVOKED, Some("a")),
        (kinds::EXPIRED, Some("a")),
    ] {
        let mut log2 = TestLog::default();
        let mut chain = vec![log2.append(ev(kinds::CREATED, m, None))];
        chain.push(log2.append(ev(kind, m, recipient)));
        let note = log2.checkpoint().sign(&LOG_SEED).unwrap();
        let events: Vec<ProvenEntry> = chain.iter().map(|&i| log2.proven(i, log2.size())).collect();
        assert!(
            matches!(
                tlog::build_receipt(&LOG_SEED, &note, "m_x", T0, &labels, &events, &[]),
                Err(Error::Proof(_))
            ),
            "{kind} {recipient:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Exports
// ---------------------------------------------------------------------------------------------

fn export(s: &Scenario, org: &str, from: u64, to: u64) -> (ExportHeader, Vec<ProvenEntry>) {
    let header = ExportHeader {
        format: "sealpost/log-export/v1".into(),
        org: org.into(),
        checkpoint: s.note(),
        from,
        to,
    };
    let entries = (from..to)
        .filter(|&i| s.log.entry(i).org.as_deref() == Some(org))
        .map(|i| s.log.proven(i, s.log.size()))
        .collect();
    (header, entries)
}

fn export_text(header: &ExportHeader, entries: &[ProvenEntry]) -> String {
    let mut text = tlog::export_header_line(header);
    for e in entries {
        text += &tlog::export_line(e);
    }
    text
}

#[test]
fn exports() {
    let s = scenario();
    let key = log_key();
    let size = s.log.size();
    let (header, entries) = export(&s, "org_a", 0, size);
    let text = export_text(&header, &entries);
    assert!(text.starts_with("{\"format\":\"sealpost/log-export/v1\",\"org\":\"org_a\",\"checkpoint\":\""));
    assert!(text.lines().nth(1).unwrap().starts_with("{\"index\":1,\"leaf\":\""));
    let report = tlog::verify_export(&text, &key).unwrap();
    assert_eq!(report.org, "org_a");
    assert_eq!(report.checkpoint_size, size);
    assert_eq!(report.entries, entries.len() as u64);
    assert_eq!(report.messages, 2);
    assert_eq!((report.first_index, report.last_index), (Some(1), Some(13)));
    // org_b, a partial range that starts mid-chain, and an empty range.
    assert_eq!(
        tlog::verify_export(
            &export_text(&export(&s, "org_b", 0, size).0, &export(&s, "org_b", 0, size).1),
            &key
        )
        .unwrap()
        .entries,
        2
    );
    let (h, e) = export(&s, "org_a", 4, 10);
    assert_eq!(
        tlog::verify_export(&export_text(&h, &e), &key).unwrap().entries,
        e.len() as u64
    );
    let (h, e) = export(&s, "org_a", 5, 5);
    let report = tlog::verify_export(&export_text(&h, &e), &key).unwrap();
    assert_eq!((report.entries, report.first_index), (0, None));

    let line_of = |r: Result<tlog::ExportReport, Error>| match r {
        Err(Error::Export { line, .. }) => line,
        other => panic!("expected an export error, got {other:?}"),
    };
    // A changed leaf (a different, valid entry under the same index).
    let mut changed = entries.clone();
    let mut entry = LogEntry::parse(&STANDARD.decode(&changed[2].leaf).unwrap()).unwrap();
    entry.time_ms += 1;
    changed[2].leaf = b64(&entry.encode().unwrap());
    assert_eq!(line_of(tlog::verify_export(&export_text(&header, &changed), &key)), 4);
    // A deleted line in the middle of m_1's chain.
    let mut deleted = entries.clone();
    let pos = deleted.iter().position(|e| e.index == s.chain[5]).unwrap();
    deleted.remove(pos);
    // Reported at the very next line, whose org-prev names the deleted entry: line pos + 2.
    assert_eq!(s.log.entry(s.chain[6]).prev.unwrap().0, s.chain[5]);
    assert_eq!(deleted[pos + 1].index, s.chain[6]);
    assert_eq!(
        line_of(tlog::verify_export(&export_text(&header, &deleted), &key)),
        pos as u64 + 2
    );
    // Deleting the chain's first entry.
    let mut deleted = entries.clone();
    deleted.remove(0);
    assert!(tlog::verify_export(&export_text(&header, &deleted), &key).is_err());
    // Swapped lines.
    let mut swapped = entries.clone();
    swapped.swap(3, 4);
    assert_eq!(line_of(tlog::verify_export(&export_text(&header, &swapped), &key)), 5);
    // Wrong org in the header, an entry of another org slipped in.
    let wrong_org = ExportHeader {
        org: "org_b".into(),
        ..header.clone()
    };
    assert_eq!(
        line_of(tlog::verify_export(&export_text(&wrong_org, &entries), &key)),
        2
    );
    let mut mixed = entries.clone();
    mixed.insert(4, s.log.proven(6, size));
    assert_eq!(line_of(tlog::verify_export(&export_text(&header, &mixed), &key)), 6);
    // Bad proof, out of range, bad checkpoint, range beyond the checkpoint, non-canonical lines.
    let mut bad_proof = entries.clone();
    bad_proof[1].proof.pop();
    assert_eq!(line_of(tlog::verify_export(&export_text(&header, &bad_proof), &key)), 3);
    let narrow = ExportHeader {
        from: 2,
        ..header.clone()
    };
    assert_eq!(line_of(tlog::verify_export(&export_text(&narrow, &entries), &key)), 2);
    let beyond = ExportHeader {
        to: size + 1,
        ..header.clone()
    };
    assert_eq!(line_of(tlog::verify_export(&export_text(&beyond, &entries), &key)), 1);
    let unsigned = ExportHeader {
        checkpoint: s.log.checkpoint().sign(&[9; 32]).unwrap(),
        ..header.clone()
    };
    assert_eq!(line_of(tlog::verify_export(&export_text(&unsigned, &entries), &key)), 1);
    let other = VerifierKey::new(ORIGIN, ed25519_public(&[9; 32])).unwrap();
    assert_eq!(line_of(tlog::verify_export(&text, &other)), 1);
    let spaced = text.replacen("\"index\":", "\"index\": ", 1);
    assert_eq!(line_of(tlog::verify_export(&spaced, &key)), 2);
    assert!(tlog::verify_export(text.trim_end(), &key).is_err());
    assert!(tlog::verify_export(&format!("{text}\n"), &key).is_err());
    assert!(tlog::verify_export("", &key).is_err());
}

#[test]
fn export_fork_fails() {
    let mut s = scenario();
    let last = *s.chain.last().unwrap();
    let prev = s.log.entry(last).prev;
    s.log
        .append_with_prev(ev("link.opened", Some("m_1"), Some("r_1")), prev);
    let size = s.log.size();
    let (header, entries) = export(&s, "org_a", 0, size);
    match tlog::verify_export(&export_text(&header, &entries), &log_key()) {
        Err(Error::Export { line, reason }) => {
            assert_eq!(line, entries.len() as u64 + 1);
            assert!(reason.contains("fork"), "{reason}");
        }
        other => panic!("fork accepted: {other:?}"),
    }
    // A second chain start for a message.
    let mut s = scenario();
    s.log.append_with_prev(ev(kinds::CREATED, Some("m_1"), None), None);
    let (header, entries) = export(&s, "org_a", 0, s.log.size());
    assert!(tlog::verify_export(&export_text(&header, &entries), &log_key()).is_err());
}
