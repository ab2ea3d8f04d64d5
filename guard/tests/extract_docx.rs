//! DOCX attachments, built here with the `zip` crate: body, tables, headers and footers, notes,
//! entities, and damaged or hostile containers.
#![cfg(feature = "extract")]

use std::io::{Cursor, Write};

use sealpost_guard::extract::{ExtractError, Format, Limits, extract_text};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006""#;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

fn zip_of(parts: &[(&str, &str)], method: CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in parts {
        zip.start_file(*name, SimpleFileOptions::default().compression_method(method))
            .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A DOCX of a body (the inside of `w:body`) and further parts.
fn docx(body: &str, more: &[(&str, &str)]) -> Vec<u8> {
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W}><w:body>{body}</w:body></w:document>"#
    );
    let mut parts = vec![
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/document.xml", document.as_str()),
    ];
    parts.extend_from_slice(more);
    zip_of(&parts, CompressionMethod::Deflated)
}

fn p(text: &str) -> String {
    format!("<w:p><w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>")
}

fn row(cells: &[&str]) -> String {
    let cells: String = cells.iter().map(|c| format!("<w:tc>{}</w:tc>", p(c))).collect();
    format!("<w:tr>{cells}</w:tr>")
}

fn docx_text(bytes: &[u8]) -> String {
    let out = extract_text("letter.docx", bytes, &Limits::default()).expect("DOCX extracts");
    assert_eq!(out.format, Format::Docx);
    assert!(!out.truncated);
    out.text
}

#[test]
fn body_headers_footers_notes_and_comments_in_reading_order() {
    let body = format!(
        "{}<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr>\
         <w:r><w:t>Patient:</w:t></w:r><w:r><w:tab/><w:t>Jane Doe</w:t><w:br/><w:t>Ward 5 &lt;east&gt; &#233;&#x20AC;</w:t></w:r></w:p>\
         <w:p/>{}<w:p><w:r><w:delText>was 943 476 5919</w:delText></w:r></w:p>\
         <w:p><w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:t>in a text box</w:t></mc:Choice>\
         <mc:Fallback><w:t>fallback copy</w:t></mc:Fallback></mc:AlternateContent></w:r></w:p>",
        p("Dear Dr Smith &amp; team,"),
        p("Kind regards")
    );
    let part = |root: &str, text: &str| format!("<w:{root} {W}>{}</w:{root}>", p(text));
    let (h1, h2, f1) = (
        part("hdr", "Header one"),
        part("hdr", "Header two"),
        part("ftr", "Footer &quot;x&quot;"),
    );
    let (notes, comments) = (part("footnotes", "A footnote"), part("comments", "A comment"));
    let bytes = docx(
        &body,
        &[
            ("word/footer1.xml", &f1),
            ("word/comments.xml", &comments),
            ("word/header2.xml", &h2),
            ("word/header1.xml", &h1),
            ("word/footnotes.xml", &notes),
            ("word/styles.xml", &part("styles", "not text")),
            ("word/_rels/document.xml.rels", "<Relationships/>"),
        ],
    );
    assert_eq!(
        docx_text(&bytes),
        "Dear Dr Smith & team,\nPatient:\tJane Doe\nWard 5 <east> \u{e9}\u{20ac}\n\nKind regards\nwas 943 476 5919\n\
         in a text box\nHeader one\nHeader two\nFooter \"x\"\nA footnote\nA comment"
    );
}

#[test]
fn table_rows_are_lines_with_header_context() {
    let table = format!(
        "<w:tbl>{}{}<w:tr><w:tc>{}{}</w:tc><w:tc><w:p/></w:tc><w:tc>{}</w:tc></w:tr></w:tbl>",
        row(&["Name", "NHS number", "DOB"]),
        row(&["Jane Doe", "943 476 5919", "01/02/1980"]),
        p("John"),
        p("Roe"),
        p("03/04/1990")
    );
    let body = format!("{}{table}{}", p("Before"), p("After"));
    assert_eq!(
        docx_text(&docx(&body, &[])),
        "Before\nName: Jane Doe; NHS number: 943 476 5919; DOB: 01/02/1980\nName: John Roe; DOB: 03/04/1990\nAfter"
    );
}

#[test]
fn table_without_a_header_row_is_plain_and_a_marked_header_row_is_used() {
    let plain = format!(
        "<w:tbl>{}{}</w:tbl>",
        row(&["2023", "943 476 5919"]),
        row(&["2024", "485 777 3456"])
    );
    assert_eq!(docx_text(&docx(&plain, &[])), "2023; 943 476 5919\n2024; 485 777 3456");

    let marked = format!(
        "<w:tbl><w:tr><w:trPr><w:tblHeader/></w:trPr><w:tc>{}</w:tc><w:tc>{}</w:tc></w:tr>{}</w:tbl>",
        p("2023"),
        p("2024"),
        row(&["12", "34"])
    );
    assert_eq!(docx_text(&docx(&marked, &[])), "2023: 12; 2024: 34");

    let single = format!("<w:tbl>{}</w:tbl>", row(&["Only", "row"]));
    assert_eq!(docx_text(&docx(&single, &[])), "Only; row");
}

#[test]
fn nested_tables_flatten_into_their_cell() {
    let inner = format!("<w:tbl>{}{}</w:tbl>", row(&["a", "b"]), row(&["c", "d"]));
    let outer = format!(
        "<w:tbl>{}<w:tr><w:tc>{inner}<w:p/></w:tc><w:tc>{}</w:tc></w:tr></w:tbl>",
        row(&["Left", "Right"]),
        p("x")
    );
    assert_eq!(docx_text(&docx(&outer, &[])), "Left: a b c d; Right: x");
}

#[test]
fn a_zip_without_word_document_is_unsupported() {
    let xlsx = zip_of(&[("xl/workbook.xml", "<workbook/>")], CompressionMethod::Deflated);
    for name in ["book.xlsx", "fake.docx"] {
        let out = extract_text(name, &xlsx, &Limits::default()).unwrap();
        assert_eq!((out.format, out.text.as_str()), (Format::Unsupported, ""), "{name}");
    }
}

#[test]
fn a_truncated_docx_is_malformed() {
    let bytes = docx(&p("Hello"), &[]);
    for cut in [bytes.len() / 2, bytes.len() - 10, 30] {
        let result = extract_text("letter.docx", &bytes[..cut], &Limits::default());
        assert!(
            matches!(result, Err(ExtractError::Malformed(_))),
            "cut at {cut}: {result:?}"
        );
        // Under another name a broken ZIP is just a file that cannot be read.
        assert_eq!(
            extract_text("x.bin", &bytes[..cut], &Limits::default()).unwrap().format,
            Format::Unsupported
        );
    }
}

#[test]
fn broken_xml_is_malformed() {
    let bytes = zip_of(
        &[("word/document.xml", "<w:document><w:body><w:p></w:body>")],
        CompressionMethod::Stored,
    );
    assert!(matches!(
        extract_text("a.docx", &bytes, &Limits::default()),
        Err(ExtractError::Malformed(_))
    ));
}

#[test]
fn an_entry_inflating_past_max_entry_is_too_large() {
    let body = format!("{}{}", p("start"), " ".repeat(4 << 20));
    let bytes = docx(&body, &[]);
    assert!(
        bytes.len() < 64 << 10,
        "the fixture compresses well: {} bytes",
        bytes.len()
    );
    let limits = Limits {
        max_entry: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(extract_text("bomb.docx", &bytes, &limits), Err(ExtractError::TooLarge));
    assert_eq!(docx_text(&bytes), "start");
}

#[test]
fn an_entry_that_understates_its_size_is_still_stopped() {
    let body = format!("{}{}", p("start"), " ".repeat(4 << 20));
    let mut bytes = docx(&body, &[]);
    // Claim 1000 bytes uncompressed in the local and central headers of word/document.xml.
    let name = b"word/document.xml";
    let mut patched = 0;
    for i in 0..bytes.len() - 4 {
        let (sig, size_at, name_at) = match &bytes[i..i + 4] {
            b"PK\x03\x04" => ("local", i + 22, i + 30),
            b"PK\x01\x02" => ("central", i + 24, i + 46),
            _ => continue,
        };
        if bytes.get(name_at..name_at + name.len()) == Some(name) {
            bytes[size_at..size_at + 4].copy_from_slice(&1000u32.to_le_bytes());
            patched += 1;
            let _ = sig;
        }
    }
    assert_eq!(patched, 2);
    let limits = Limits {
        max_entry: 1 << 20,
        ..Limits::default()
    };
    let result = extract_text("bomb.docx", &bytes, &limits);
    assert!(
        matches!(result, Err(ExtractError::TooLarge | ExtractError::Malformed(_))),
        "{result:?}"
    );
}

#[test]
fn encrypted_zip_entries_are_encrypted() {
    let mut bytes = zip_of(&[("word/document.xml", "<w:document/>")], CompressionMethod::Stored);
    // Set bit 0 (encrypted) of the general-purpose flags in the local and central headers.
    for i in 0..bytes.len() - 4 {
        match &bytes[i..i + 4] {
            b"PK\x03\x04" => bytes[i + 6] |= 1,
            b"PK\x01\x02" => bytes[i + 8] |= 1,
            _ => {}
        }
    }
    assert_eq!(
        extract_text("a.docx", &bytes, &Limits::default()),
        Err(ExtractError::Encrypted)
    );
}

#[test]
fn long_documents_are_truncated() {
    let body: String = (0..1000).map(|i| p(&format!("Paragraph {i}"))).collect();
    let limits = Limits {
        max_text: 50,
        ..Limits::default()
    };
    let out = extract_text("a.docx", &docx(&body, &[]), &limits).unwrap();
    assert!(out.truncated);
    assert_eq!(out.text, "Paragraph 0\nParagraph 1\nParagraph 2\nParagraph 3\nPa");
}
