//! The age header parser on arbitrary bytes: never panics; whatever it accepts re-encodes to
//! exactly the bytes it consumed, and every accepted stanza satisfies the grammar.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_crypto::header::{Header, Stanza};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, used)) = Header::parse(data) {
        assert_eq!(header.as_bytes(), &data[..used]);
        for stanza in header.stanzas() {
            // Accepted stanzas are buildable: non-empty printable arguments.
            assert!(Stanza::new(stanza.args.clone(), stanza.body.clone()).is_ok());
        }
        let (again, used_again) = Header::parse(header.as_bytes()).expect("re-parse of accepted header");
        assert_eq!(used_again, used);
        assert_eq!(again, header);
    }
});
