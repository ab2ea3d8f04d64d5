//! Plain-text attachments and format detection: encodings, binary files, limits, odd inputs.
#![cfg(feature = "extract")]

use sealpost_guard::extract::{ExtractError, Extracted, Format, Limits, extract_text};

fn extract(name: &str, bytes: &[u8]) -> Extracted {
    extract_text(name, bytes, &Limits::default()).expect("extracts")
}

fn text(name: &str, bytes: &[u8]) -> String {
    let out = extract(name, bytes);
    assert_eq!(out.format, Format::Text, "{name}");
    assert!(!out.truncated);
    out.text
}

fn utf16(s: &str, le: bool) -> Vec<u8> {
    s.encode_utf16()
        .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
        .collect()
}

#[test]
fn utf8_text_is_returned_as_is() {
    let s = "Patient: Zoë Ångström\nNHS 943 476 5919\r\n";
    assert_eq!(text("note.txt", s.as_bytes()), s);
    assert_eq!(text("no-extension", s.as_bytes()), s);
    assert_eq!(text("note.md", b"\xEF\xBB\xBFwith BOM"), "with BOM");
}

#[test]
fn utf16_is_decoded_with_or_without_a_byte_order_mark() {
    let s = "DOB 01/02/1980 \u{e9}\u{20ac}";
    let mut le = vec![0xFF, 0xFE];
    le.extend(utf16(s, true));
    assert_eq!(text("a.txt", &le), s);
    let mut be = vec![0xFE, 0xFF];
    be.extend(utf16(s, false));
    assert_eq!(text("a.txt", &be), s);
    assert_eq!(
        text("export.log", &utf16("Name: Jane Doe, ward 5", true)),
        "Name: Jane Doe, ward 5"
    );
    assert_eq!(
        text("export.log", &utf16("Name: Jane Doe, ward 5", false)),
        "Name: Jane Doe, ward 5"
    );
}

#[test]
fn latin1_and_windows_1252_text_is_decoded() {
    assert_eq!(
        text("a.txt", b"Caf\xe9 cr\xe8me \x80 5, \x93quoted\x94"),
        "Caf\u{e9} cr\u{e8}me \u{20ac} 5, \u{201c}quoted\u{201d}"
    );
}

#[test]
fn binary_files_are_unsupported_with_no_text() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let elf = b"\x7FELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0";
    let gzip = b"\x1f\x8b\x08\0\0\0\0\0\0\x03abc";
    // Pseudo-random bytes (a linear congruential generator), as a compressed file looks.
    let mut x: u32 = 12345;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    for (name, bytes) in [
        ("image.png", &png[..]),
        ("image.txt", &png[..]),
        ("a.out", &elf[..]),
        ("a.csv", &gzip[..]),
        ("noise.bin", &random[..]),
        ("noise.pdf", &random[..]),
        ("noise.docx", &random[..]),
    ] {
        let out = extract(name, bytes);
        assert_eq!(out.format, Format::Unsupported, "{name}");
        assert!(out.text.is_empty(), "{name}");
    }
}

#[test]
fn ole_files_are_unsupported_unless_they_hold_an_encrypted_office_package() {
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(512, 0);
    assert_eq!(extract("old.doc", &ole).format, Format::Unsupported);
    ole.extend(utf16("EncryptionInfo", true));
    ole.resize(640, 0);
    ole.extend(utf16("EncryptedPackage", true));
    assert_eq!(
        extract_text("secret.docx", &ole, &Limits::default()),
        Err(ExtractError::Encrypted)
    );
}

#[test]
fn empty_files_are_empty_text() {
    for name in ["empty.txt", "empty.pdf", "empty.docx", "empty.csv", ""] {
        let out = extract(name, b"");
        assert_eq!(
            (out.format, out.text.as_str(), out.truncated),
            (Format::Text, "", false),
            "{name}"
        );
    }
}

#[test]
fn input_over_max_input_is_too_large() {
    let limits = Limits {
        max_input: 10,
        ..Limits::default()
    };
    assert_eq!(
        extract_text("a.txt", b"01234567890", &limits),
        Err(ExtractError::TooLarge)
    );
    assert_eq!(
        extract_text("a.txt", b"0123456789", &limits).unwrap().text,
        "0123456789"
    );
}

#[test]
fn text_is_cut_at_a_character_boundary() {
    let limits = Limits {
        max_text: 3,
        ..Limits::default()
    };
    let out = extract_text("a.txt", "\u{e9}\u{e9}\u{e9}".as_bytes(), &limits).unwrap();
    assert_eq!((out.text.as_str(), out.truncated), ("\u{e9}", true));
    let out = extract_text("a.txt", b"caf\xe9 au lait", &limits).unwrap();
    assert_eq!((out.text.as_str(), out.truncated), ("caf", true));
    let mut le = vec![0xFF, 0xFE];
    le.extend(utf16("abcdef", true));
    let out = extract_text("a.txt", &le, &limits).unwrap();
    assert_eq!((out.text.as_str(), out.truncated), ("abc", true));
}

#[test]
fn debug_output_never_shows_the_text() {
    let out = extract("a.txt", b"NHS 943 476 5919");
    let debug = format!("{out:?}");
    assert!(!debug.contains("943"), "{debug}");
    assert!(debug.contains("text_len: 16"), "{debug}");
}

#[test]
fn formats_serialise_in_snake_case() {
    let names: Vec<String> = [
        Format::Text,
        Format::Csv,
        Format::Pdf,
        Format::Docx,
        Format::Unsupported,
    ]
    .iter()
    .map(|f| serde_json::to_string(f).unwrap())
    .collect();
    assert_eq!(names, ["\"text\"", "\"csv\"", "\"pdf\"", "\"docx\"", "\"unsupported\""]);
}
