//! Sealpost's own known-answer vectors for message format v1, in
//! `crypto/tests/vectors/sealpost-v1/*.json` (layout: `crypto/tests/vectors/README.md`).
//!
//! Checks, for every committed file: (a) success vectors open to the recorded plaintexts and
//! `fail_*` vectors fail at the recorded step with the recorded error class; (b) regenerating the
//! vector from its recorded inputs gives the file byte for byte, and so does generating it from
//! scratch from its seed — this freezes the format; (c) the directory holds exactly the expected
//! files, so that none is silently skipped.
//!
//! To (re)write the files after an intended format change:
//!
//! ```text
//! SEALPOST_REGENERATE_VECTORS=1 cargo test -p sealpost-crypto --test sealpost_vectors
//! ```
//!
//! The checking logic lives in `vectors/check.rs`, shared with the wasm tests of `sealpost-web`.

#[path = "vectors/check.rs"]
mod check;

use std::path::PathBuf;

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sealpost-v1")
}

fn regenerate_requested() -> bool {
    std::env::var("SEALPOST_REGENERATE_VECTORS").is_ok_and(|v| v == "1")
}

/// Writes every vector, once per test run, when regeneration is requested; otherwise does
/// nothing. Every test calls it first, and waits for it.
fn maybe_regenerate() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if !regenerate_requested() {
            return;
        }
        let dir = vector_dir();
        std::fs::create_dir_all(&dir).expect("create the vector directory");
        for name in check::VECTOR_NAMES {
            std::fs::write(dir.join(format!("{name}.json")), check::generate(name)).expect("write a vector");
        }
    });
}

fn read_vector(name: &str) -> String {
    let path = vector_dir().join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_directory_holds_exactly_the_expected_vectors() {
    maybe_regenerate();
    let mut found: Vec<String> = std::fs::read_dir(vector_dir())
        .expect("the vector directory exists")
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .collect();
    found.sort();
    let mut expected: Vec<String> = check::VECTOR_NAMES.iter().map(|n| format!("{n}.json")).collect();
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(found.len(), 23);
    let failing = found.iter().filter(|n| n.starts_with("fail_")).count();
    assert_eq!((found.len() - failing, failing), (4, 19), "success and failure vectors");
}

#[test]
fn every_vector_behaves_and_regenerates_from_its_recorded_inputs() {
    maybe_regenerate();
    for name in check::VECTOR_NAMES {
        check::check_vector(name, &read_vector(name), true);
    }
}

#[test]
fn every_vector_regenerates_from_its_seed() {
    maybe_regenerate();
    for name in check::VECTOR_NAMES {
        check::assert_same(
            name,
            &check::generate(name),
            &read_vector(name),
            "generated from its seed",
        );
    }
}

#[test]
fn test_rng_is_sha256_in_counter_mode() {
    use rand_core::Rng;
    let seed = [7u8; 32];
    let mut rng = check::TestRng::from_seed(seed);
    let mut bytes = [0u8; 40];
    rng.fill_bytes(&mut bytes);
    let label = check::RNG_LABEL;
    let block0 = sealpost_crypto::primitives::sha256(&[label, &[0], &seed, &0u64.to_be_bytes()]);
    let block1 = sealpost_crypto::primitives::sha256(&[label, &[0], &seed, &1u64.to_be_bytes()]);
    assert_eq!(bytes[..32], block0);
    assert_eq!(bytes[32..], block1[..8]);
    assert_eq!(rng.next_u32(), u32::from_le_bytes(block1[8..12].try_into().unwrap()));
    let mut replay = check::TestRng::replay(&bytes);
    let mut again = [0u8; 40];
    replay.fill_bytes(&mut again);
    replay.assert_exhausted();
    assert_eq!(again, bytes);
}
