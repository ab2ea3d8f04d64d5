//! The seal and signed-note parsers on arbitrary text: never panic; an accepted seal body
//! re-serialises to exactly its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_crypto::note::{self, VerifierKey};
use sealpost_crypto::seal::SealBody;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(body) = SealBody::from_text(text) {
        assert_eq!(body.to_text(), text);
    }
    let key = VerifierKey::new("sealpost.org/sender", [2; 32]).expect("valid name");
    let _ = note::verify(text, &key);
    let _ = VerifierKey::from_vkey(text);
});
