//! `verify_release` and `check_log_key`, the bindings behind "log before release": the page uses
//! a released server share only if the release is proven to be in the access log. A tiny log is
//! built here with `sealpost-crypto` (entries, Merkle tree, signed checkpoint) and the binding is
//! checked on the true proof and on every way it can be wrong. Run with
//! `web-recipient/run-wasm-tests.sh`; natively this file compiles to nothing.

#![cfg(target_arch = "wasm32")]

use sealpost_crypto::merkle::{self, Hash};
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::primitives::ed25519_public;
use sealpost_crypto::tlog::{self, Checkpoint, LogEntry, kinds};
use wasm_bindgen_test::wasm_bindgen_test;

const ORIGIN: &str = "log.sealpost.example/access";
const SEED: [u8; 32] = [7; 32];
const MESSAGE: &str = "m_0123456789abcdef";
const RID: &str = "r_fedcba9876543210";

/// Standard base64 with padding, as the server sends it.
fn b64(bytes: &[u8]) -> String {
    let mut text = sealpost_crypto::b64::encode(bytes);
    while !text.len().is_multiple_of(4) {
        text.push('=');
    }
    text
}

fn entry(index: u64, kind: &str, message: Option<&str>, recipient: Option<&str>) -> Vec<u8> {
    LogEntry {
        index,
        time_ms: 1_795_341_600_000 + index,
        kind: kind.to_owned(),
        org: Some("o_test".to_owned()),
        actor: recipient.map_or_else(|| "system".to_owned(), |r| format!("recipient:{r}")),
        source: Some("192.0.2.7".to_owned()),
        message: message.map(str::to_owned),
        recipient: recipient.map(str::to_owned),
        prev: None,
        org_prev: None,
        detail: Some(r#"{"n":1}"#.to_owned()),
    }
    .encode()
    .expect("a valid entry")
}

/// What the release endpoint answers in `log`, plus the key and ids the page compares with.
#[derive(Clone)]
struct Release {
    log_key: String,
    checkpoint: String,
    index: f64,
    leaf: String,
    proof: Vec<String>,
}

impl Release {
    fn verify(&self, message_id: &str, rid: &str) -> Result<(), String> {
        sealpost_web::verify_release(
            &self.log_key,
            &self.checkpoint,
            self.index,
            &self.leaf,
            self.proof.clone(),
            message_id,
            rid,
        )
        // The error's message: the first line of the JavaScript `Error`'s debug text.
        .map_err(|e| {
            let text = format!("{:?}", wasm_bindgen::JsValue::from(e));
            let text = text.strip_prefix("JsValue(Error: ").unwrap_or(&text);
            text.split('\n').next().unwrap_or_default().to_owned()
        })
    }
}

/// A log of six entries whose entry 3 releases `RID`'s share of `MESSAGE`; entry 4 releases
/// another recipient's share of the same message.
fn log() -> (Vec<Vec<u8>>, Release) {
    let leaves: Vec<Vec<u8>> = vec![
        entry(0, kinds::CREATED, Some(MESSAGE), None),
        entry(1, kinds::SEALED, Some(MESSAGE), None),
        entry(2, "link.fetched", Some(MESSAGE), Some(RID)),
        entry(3, kinds::RELEASED, Some(MESSAGE), Some(RID)),
        entry(4, kinds::RELEASED, Some(MESSAGE), Some("r_other")),
        entry(5, kinds::CREATED, Some("m_other"), None),
    ];
    let hashes: Vec<Hash> = leaves.iter().map(|l| LogEntry::leaf_hash(l)).collect();
    let checkpoint = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: hashes.len() as u64,
        root: merkle::root_of(&hashes),
    }
    .sign(&SEED)
    .expect("checkpoint note");
    let log_key = VerifierKey::new(ORIGIN, ed25519_public(&SEED)).unwrap().to_vkey();
    let release = Release {
        log_key,
        checkpoint,
        index: 3.0,
        leaf: b64(&leaves[3]),
        proof: merkle::inclusion_proof(&hashes, 3).iter().map(|h| b64(h)).collect(),
    };
    (leaves, release)
}

fn refused(release: &Release, message_id: &str, rid: &str, why: &str) {
    assert!(release.verify(message_id, rid).is_err(), "accepted: {why}");
}

/// Refused, with `reason` in the error's message.
fn refused_for(release: &Release, message_id: &str, rid: &str, why: &str, reason: &str) {
    match release.verify(message_id, rid) {
        Ok(()) => panic!("accepted: {why}"),
        Err(message) => assert!(message.contains(reason), "{why}: {message:?} does not say {reason:?}"),
    }
}

#[wasm_bindgen_test]
fn a_logged_release_verifies() {
    let (_, release) = log();
    assert_eq!(release.verify(MESSAGE, RID), Ok(()));
    sealpost_web::check_log_key(&release.log_key).expect("the log key parses");
    // Extra signature lines (a witness's cosignature) do not get in the way.
    let body = release.checkpoint.split("\n\n").next().unwrap().to_owned() + "\n";
    let cosignature = tlog::cosign(
        &Checkpoint::parse_body(&body).unwrap(),
        "witness.example",
        &[5; 32],
        1_795_341_601,
    )
    .expect("cosignature line");
    let mut cosigned = release.clone();
    cosigned.checkpoint = tlog::add_signature_lines(&release.checkpoint, &cosignature).unwrap();
    assert_eq!(cosigned.verify(MESSAGE, RID), Ok(()));
}

#[wasm_bindgen_test]
fn a_release_without_a_proof_is_refused() {
    let (_, release) = log();
    let mut none = release.clone();
    none.proof.clear();
    refused_for(&none, MESSAGE, RID, "no inclusion proof", "inclusion proof");
    let mut short = release.clone();
    short.proof.pop();
    refused(&short, MESSAGE, RID, "a proof missing its last hash");
    let mut long = release.clone();
    long.proof.push(long.proof[0].clone());
    refused(&long, MESSAGE, RID, "a proof with an extra hash");
    let mut bare = release.clone();
    bare.checkpoint = "".to_owned();
    refused(&bare, MESSAGE, RID, "no checkpoint");
    let mut huge = release.clone();
    huge.proof = vec![release.proof[0].clone(); 65];
    refused_for(&huge, MESSAGE, RID, "65 proof hashes", "too long");
}

#[wasm_bindgen_test]
fn a_release_of_another_message_recipient_or_entry_is_refused() {
    let (leaves, release) = log();
    refused_for(&release, MESSAGE, "r_other", "another recipient", "recipient");
    refused_for(&release, "m_other", RID, "another message", "message");
    refused_for(&release, MESSAGE, "", "an empty recipient id", "recipient");
    // A true proof of another recipient's release of the same message.
    let hashes: Vec<Hash> = leaves.iter().map(|l| LogEntry::leaf_hash(l)).collect();
    let mut other = release.clone();
    other.index = 4.0;
    other.leaf = b64(&leaves[4]);
    other.proof = merkle::inclusion_proof(&hashes, 4).iter().map(|h| b64(h)).collect();
    assert_eq!(other.verify(MESSAGE, "r_other"), Ok(()));
    refused_for(&other, MESSAGE, RID, "the release of another recipient", "recipient");
    // A true proof of an entry that is not a release (the link was only fetched).
    let mut fetched = release.clone();
    fetched.index = 2.0;
    fetched.leaf = b64(&leaves[2]);
    fetched.proof = merkle::inclusion_proof(&hashes, 2).iter().map(|h| b64(h)).collect();
    refused_for(&fetched, MESSAGE, RID, "a link.fetched entry", "release");
}

#[wasm_bindgen_test]
fn a_tampered_leaf_proof_index_or_checkpoint_is_refused() {
    let (leaves, release) = log();
    // Every byte of the leaf flipped, one at a time.
    for i in 0..leaves[3].len() {
        let mut leaf = leaves[3].clone();
        leaf[i] ^= 1;
        let mut tampered = release.clone();
        tampered.leaf = b64(&leaf);
        refused_for(
            &tampered,
            MESSAGE,
            RID,
            &format!("leaf byte {i} flipped"),
            "inclusion proof",
        );
    }
    // A leaf rewritten to name this recipient, with the old proof.
    let forged = entry(4, kinds::RELEASED, Some(MESSAGE), Some(RID));
    let mut rewritten = release.clone();
    rewritten.index = 4.0;
    rewritten.leaf = b64(&forged);
    refused(&rewritten, MESSAGE, RID, "a forged leaf");
    // A proof hash changed.
    let mut hash = release.clone();
    hash.proof[1] = b64(&[0u8; 32]);
    refused(&hash, MESSAGE, RID, "a proof hash changed");
    // Wrong, fractional, negative or non-finite indexes.
    for index in [2.0, 4.0, 3.5, -3.0, f64::NAN, f64::INFINITY, 9_007_199_254_740_992.0] {
        let mut moved = release.clone();
        moved.index = index;
        refused(&moved, MESSAGE, RID, &format!("index {index}"));
    }
    // The checkpoint's size or root changed (the signature no longer covers it).
    let mut size = release.clone();
    size.checkpoint = size.checkpoint.replacen("\n6\n", "\n7\n", 1);
    assert_ne!(size.checkpoint, release.checkpoint);
    refused(&size, MESSAGE, RID, "checkpoint size changed");
    let mut unsigned = release.clone();
    unsigned.checkpoint = unsigned.checkpoint.split("\n\n").next().unwrap().to_owned() + "\n";
    refused(&unsigned, MESSAGE, RID, "checkpoint body without its signature");
    // Malformed base64: unpadded, URL-safe alphabet, spaces.
    let mut unpadded = release.clone();
    unpadded.leaf = release.leaf.trim_end_matches('=').to_owned();
    if unpadded.leaf != release.leaf {
        refused(&unpadded, MESSAGE, RID, "unpadded leaf");
    }
    let mut unpadded_hash = release.clone();
    unpadded_hash.proof[0] = release.proof[0].trim_end_matches('=').to_owned();
    refused(&unpadded_hash, MESSAGE, RID, "unpadded proof hash");
    let mut spaced = release.clone();
    spaced.leaf = format!(" {}", release.leaf);
    refused(&spaced, MESSAGE, RID, "leaf with a space");
    let mut short_hash = release.clone();
    short_hash.proof[0] = b64(&[1u8; 31]);
    refused(&short_hash, MESSAGE, RID, "a 31-byte proof hash");
}

#[wasm_bindgen_test]
fn a_release_under_another_key_is_refused() {
    let (_, release) = log();
    // Another key with the same name.
    let mut other_key = release.clone();
    other_key.log_key = VerifierKey::new(ORIGIN, ed25519_public(&[8; 32])).unwrap().to_vkey();
    refused(&other_key, MESSAGE, RID, "another key of the same name");
    // The same public key under another name (the origin must be the key's name).
    let mut renamed = release.clone();
    renamed.log_key = VerifierKey::new("log.other.example", ed25519_public(&SEED))
        .unwrap()
        .to_vkey();
    refused(&renamed, MESSAGE, RID, "the key under another name");
    // A whole log signed by another key, checked against the pinned one.
    let mut resigned = release.clone();
    let body = release.checkpoint.split("\n\n").next().unwrap().to_owned() + "\n";
    resigned.checkpoint = sealpost_crypto::note::sign(&body, ORIGIN, &[9; 32]).unwrap();
    refused(&resigned, MESSAGE, RID, "a checkpoint signed by another key");
    // No key or a malformed one.
    for bad in [
        "",
        "log.sealpost.example",
        "x+00000000+AAAA",
        &release.log_key[..release.log_key.len() - 2],
    ] {
        let mut broken = release.clone();
        broken.log_key = bad.to_owned();
        refused(&broken, MESSAGE, RID, &format!("log key {bad:?}"));
        assert!(sealpost_web::check_log_key(bad).is_err(), "check_log_key({bad:?})");
    }
}
