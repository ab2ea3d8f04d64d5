//! PDF attachments, built here with `lopdf`: text, encryption, damage and hostile structures.
#![cfg(all(feature = "extract", panic = "unwind"))]

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, EncryptionState, EncryptionVersion, Object, Permissions, Stream, dictionary};
use sealpost_guard::extract::{ExtractError, Format, Limits, extract_text};

/// A one-page PDF drawing `lines` in Helvetica 12 pt, 20 pt apart; `extra` may add to the page.
fn pdf_with(lines: &[&str], extra: impl FnOnce(&mut Document, &mut Dictionary, &mut Vec<Operation>)) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let mut resources = dictionary! { "Font" => dictionary! { "F1" => font_id } };
    let mut ops = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 12.into()]),
    ];
    ops.push(Operation::new("Td", vec![72.into(), 720.into()]));
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            ops.push(Operation::new("Td", vec![0.into(), (-20).into()]));
        }
        ops.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
    }
    ops.push(Operation::new("ET", vec![]));
    extra(&mut doc, &mut resources, &mut ops);
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        Content { operations: ops }.encode().unwrap(),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id, "Resources" => resources,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    doc
}

fn save(doc: &mut Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn pdf(lines: &[&str]) -> Vec<u8> {
    save(&mut pdf_with(lines, |_, _, _| {}))
}

fn encrypted(user_password: &str) -> Vec<u8> {
    let mut doc = pdf_with(&["Secret 943 476 5919"], |_, _, _| {});
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal("0123456789abcdef"),
            Object::string_literal("0123456789abcdef"),
        ],
    );
    let version = EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: Permissions::all(),
    };
    let state = EncryptionState::try_from(version).unwrap();
    doc.encrypt(&state).unwrap();
    save(&mut doc)
}

#[test]
fn text_lines_come_out_in_order() {
    let bytes = pdf(&["Patient: Jane Doe", "NHS number 943 476 5919", "DOB 01/02/1980"]);
    let out = extract_text("report.pdf", &bytes, &Limits::default()).unwrap();
    assert_eq!(out.format, Format::Pdf);
    assert!(!out.truncated);
    assert_eq!(out.text, "Patient: Jane Doe\nNHS number 943 476 5919\nDOB 01/02/1980");
}

#[test]
fn compressed_content_streams_are_read() {
    let mut doc = pdf_with(&["Compressed 485 777 3456"], |_, _, ops| {
        ops.extend(std::iter::repeat_with(|| Operation::new("n", vec![])).take(100));
    });
    doc.compress();
    let bytes = save(&mut doc);
    assert!(
        !bytes.windows(10).any(|w| w == b"Compressed"),
        "the content is deflated"
    );
    assert_eq!(
        extract_text("c.pdf", &bytes, &Limits::default()).unwrap().text,
        "Compressed 485 777 3456"
    );
}

#[test]
fn a_password_protected_pdf_is_encrypted() {
    assert_eq!(
        extract_text("secret.pdf", &encrypted("secret"), &Limits::default()),
        Err(ExtractError::Encrypted)
    );
}

#[test]
fn a_pdf_with_only_an_owner_password_is_read() {
    let out = extract_text("restricted.pdf", &encrypted(""), &Limits::default()).unwrap();
    assert_eq!(out.text, "Secret 943 476 5919");
}

#[test]
fn damaged_pdfs_are_malformed_and_never_panic() {
    let good = pdf(&["Hello"]);
    let mut x: u32 = 7;
    let mut noise: Vec<u8> = b"%PDF-1.7\n".to_vec();
    noise.extend((0..4096).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (x >> 16) as u8
    }));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("header only", b"%PDF-1.4\n".to_vec()),
        ("noise", noise),
        ("first half", good[..good.len() / 2].to_vec()),
        ("no xref", good[..good.len() - good.len() / 4].to_vec()),
    ];
    for (what, bytes) in cases {
        match extract_text("x.pdf", &bytes, &Limits::default()) {
            Err(ExtractError::Malformed(_)) => {}
            // lopdf rebuilds a lost cross-reference table where it can: then the text is read.
            Ok(out) if what != "noise" && what != "header only" => assert_eq!(out.format, Format::Pdf, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn a_form_that_draws_itself_is_malformed_not_a_stack_overflow() {
    let bytes = save(&mut pdf_with(&["Loop"], |doc, resources, ops| {
        let form_id = doc.new_object_id();
        let form = Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 10.into(), 10.into()],
                "Resources" => dictionary! { "XObject" => dictionary! { "X0" => form_id } },
            },
            b"/X0 Do".to_vec(),
        );
        doc.objects.insert(form_id, Object::Stream(form));
        resources.set("XObject", dictionary! { "X0" => form_id });
        ops.push(Operation::new("Do", vec!["X0".into()]));
    }));
    assert!(matches!(
        extract_text("loop.pdf", &bytes, &Limits::default()),
        Err(ExtractError::Malformed(_))
    ));
}

#[test]
fn a_page_whose_parent_is_itself_is_malformed() {
    let mut doc = pdf_with(&["Cycle"], |_, _, _| {});
    let page_id = doc.page_iter().next().unwrap();
    let page = doc.get_dictionary_mut(page_id).unwrap();
    page.set("Parent", page_id);
    let bytes = save(&mut doc);
    assert!(matches!(
        extract_text("cycle.pdf", &bytes, &Limits::default()),
        Err(ExtractError::Malformed(_))
    ));
}

#[test]
fn a_stream_inflating_past_max_entry_is_too_large() {
    let mut doc = pdf_with(&["Bomb"], |_, _, ops| {
        // 4 MiB of no-op operators after the text.
        ops.extend(std::iter::repeat_with(|| Operation::new("q", vec![])).take(1 << 20));
        ops.extend(std::iter::repeat_with(|| Operation::new("Q", vec![])).take(1 << 20));
    });
    doc.compress();
    let bytes = save(&mut doc);
    assert!(
        bytes.len() < 64 << 10,
        "the fixture compresses well: {} bytes",
        bytes.len()
    );
    let limits = Limits {
        max_entry: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(extract_text("bomb.pdf", &bytes, &limits), Err(ExtractError::TooLarge));
}

#[test]
fn long_pdf_text_is_truncated() {
    let bytes = pdf(&["First line of text", "Second line of text"]);
    let limits = Limits {
        max_text: 10,
        ..Limits::default()
    };
    let out = extract_text("a.pdf", &bytes, &limits).unwrap();
    assert_eq!((out.text.as_str(), out.truncated), ("First line", true));
}

#[test]
fn pdf_is_found_by_content_whatever_the_name() {
    let bytes = pdf(&["Named wrongly"]);
    let out = extract_text("scan.txt", &bytes, &Limits::default()).unwrap();
    assert_eq!((out.format, out.text.as_str()), (Format::Pdf, "Named wrongly"));
}
