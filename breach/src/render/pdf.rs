//! PDF export through lopdf: A4, the standard Helvetica and Courier fonts (WinAnsi encoding),
//! wrapped text over as many pages as needed, and the receipt attached as `receipt.json`
//! (catalog /Names /EmbeddedFiles and /AF) with its SHA-256 printed in the text.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, StringFormat, dictionary};

use super::{Block, blocks, receipt_bytes};
use crate::model::IncidentDocument;

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const TOP: f32 = PAGE_H - MARGIN;
const BOTTOM: f32 = MARGIN + 20.0;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn name(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Mono => "F3",
        }
    }
}

/// WinAnsi bytes for text: ASCII and Latin-1 as they are, common typographic characters as
/// ASCII fallbacks, anything else as `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' '..='~' => out.push(c as u8),
            '\u{a0}'..='\u{ff}' => out.push(u8::try_from(u32::from(c)).unwrap_or(b'?')),
            '\t' => out.push(b' '),
            '\u{2022}' | '\u{2023}' | '\u{25cf}' => out.push(b'*'),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push(b'-'),
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => out.push(b'\''),
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => out.push(b'"'),
            '\u{2026}' => out.extend_from_slice(b"..."),
            '\u{20ac}' => out.extend_from_slice(b"EUR"),
            '\u{2192}' => out.extend_from_slice(b"->"),
            _ => out.push(b'?'),
        }
    }
    out
}

/// Helvetica advance widths (1/1000 em) for ASCII 32..=126.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556,
    556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334,
    260, 334, 584,
];

fn width(bytes: &[u8], font: Font, size: f32) -> f32 {
    let units: u32 = bytes
        .iter()
        .map(|&b| match font {
            Font::Mono => 600,
            // Bold glyphs are a little wider; 8% covers Helvetica-Bold.
            _ => {
                let w = if (32..=126).contains(&b) {
                    u32::from(HELVETICA[usize::from(b - 32)])
                } else {
                    667
                };
                if font == Font::Bold { w * 108 / 100 } else { w }
            }
        })
        .sum();
    units as f32 * size / 1000.0
}

/// Splits text into lines that fit `max` points, breaking words longer than a line.
fn wrap(text: &str, font: Font, size: f32, max: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line: Vec<u8> = Vec::new();
        for word in para.split(' ') {
            let word = win_ansi(word);
            let mut candidate = line.clone();
            if !candidate.is_empty() {
                candidate.push(b' ');
            }
            candidate.extend_from_slice(&word);
            if width(&candidate, font, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: break it by characters when it is too long.
            for &b in &word {
                line.push(b);
                if width(&line, font, size) > max && line.len() > 1 {
                    let last = line.pop().unwrap_or(b' ');
                    lines.push(std::mem::replace(&mut line, vec![last]));
                }
            }
        }
        lines.push(line);
    }
    lines
}

struct Writer {
    pages: Vec<Vec<Operation>>,
    y: f32,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    fn space(&mut self, pts: f32) {
        self.y -= pts;
    }

    fn line(&mut self, bytes: Vec<u8>, font: Font, size: f32, indent: f32) {
        let lead = size * 1.35;
        if self.y - lead < BOTTOM {
            self.pages.push(Vec::new());
            self.y = TOP;
        }
        self.y -= lead;
        let ops = self.pages.last_mut().expect("a page always exists");
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec![font.name().into(), size.into()]));
        ops.push(Operation::new("Td", vec![(MARGIN + indent).into(), self.y.into()]));
        ops.push(Operation::new("Tj", vec![Object::String(bytes, StringFormat::Literal)]));
        ops.push(Operation::new("ET", vec![]));
    }

    fn text(&mut self, text: &str, font: Font, size: f32, indent: f32) {
        for l in wrap(text, font, size, WIDTH - indent) {
            self.line(l, font, size, indent);
        }
    }

    /// Keeps a heading with at least a few lines of what follows.
    fn keep(&mut self, pts: f32) {
        if self.y - pts < BOTTOM {
            self.pages.push(Vec::new());
            self.y = TOP;
        }
    }
}

/// The incident as a PDF document.
pub fn render_pdf(doc: &IncidentDocument) -> Vec<u8> {
    let mut w = Writer::new();
    for block in blocks(doc) {
        match block {
            Block::Title(t) => {
                w.text(&t, Font::Bold, 16.0, 0.0);
                w.space(6.0);
            }
            Block::Heading(t) => {
                w.space(10.0);
                w.keep(80.0);
                w.text(&t, Font::Bold, 12.5, 0.0);
                w.space(4.0);
            }
            Block::Sub(t) => {
                w.space(6.0);
                w.keep(50.0);
                w.text(&t, Font::Bold, 11.0, 0.0);
            }
            Block::Para(t) => {
                w.text(&t, Font::Regular, 9.5, 0.0);
                w.space(4.0);
            }
            Block::Field(k, v) => {
                w.keep(30.0);
                w.text(&k, Font::Bold, 9.5, 0.0);
                if !v.is_empty() {
                    w.text(&v, Font::Regular, 9.5, 12.0);
                }
                w.space(2.0);
            }
            Block::List(items) => {
                for i in items {
                    let lines = wrap(&i, Font::Regular, 9.5, WIDTH - 24.0);
                    for (n, l) in lines.into_iter().enumerate() {
                        let mut bytes = if n == 0 { b"- ".to_vec() } else { b"  ".to_vec() };
                        bytes.extend_from_slice(&l);
                        w.line(bytes, Font::Regular, 9.5, 12.0);
                    }
                }
                w.space(3.0);
            }
            Block::Pre(t) => {
                for l in wrap_mono(&t, 7.5) {
                    w.line(l, Font::Mono, 7.5, 0.0);
                }
            }
        }
    }
    assemble(doc, w.pages).unwrap_or_default()
}

/// Monospaced lines broken at the width, keeping leading spaces.
fn wrap_mono(text: &str, size: f32) -> Vec<Vec<u8>> {
    let per_line = ((WIDTH / (0.6 * size)) as usize).max(20);
    let mut out = Vec::new();
    for line in text.lines() {
        let bytes = win_ansi(line);
        if bytes.is_empty() {
            out.push(Vec::new());
        }
        for chunk in bytes.chunks(per_line) {
            out.push(chunk.to_vec());
        }
    }
    out
}

fn assemble(doc: &IncidentDocument, pages: Vec<Vec<Operation>>) -> Result<Vec<u8>, lopdf::Error> {
    let mut pdf = Document::with_version("1.7");
    let pages_id = pdf.new_object_id();
    let font = |pdf: &mut Document, base: &str| {
        pdf.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => Object::Name(base.as_bytes().to_vec()),
            "Encoding" => "WinAnsiEncoding",
        })
    };
    let f1 = font(&mut pdf, "Helvetica");
    let f2 = font(&mut pdf, "Helvetica-Bold");
    let f3 = font(&mut pdf, "Courier");
    let resources = pdf.add_object(dictionary! {
        "Font" => dictionary! { "F1" => f1, "F2" => f2, "F3" => f3 },
    });
    let total = pages.len();
    let mut kids = Vec::with_capacity(total);
    for (n, mut ops) in pages.into_iter().enumerate() {
        let footer = win_ansi(&format!("Incident {} - page {} of {}", doc.incident_id, n + 1, total));
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec!["F1".into(), 8.into()]));
        ops.push(Operation::new("Td", vec![MARGIN.into(), (MARGIN - 10.0).into()]));
        ops.push(Operation::new(
            "Tj",
            vec![Object::String(footer, StringFormat::Literal)],
        ));
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops }.encode()?;
        let content_id = pdf.add_object(Stream::new(dictionary! {}, content));
        let page = pdf.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(Object::Reference(page));
    }
    pdf.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => i64::try_from(total).unwrap_or(1),
            "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), PAGE_W.into(), PAGE_H.into()],
        }),
    );

    // The receipt as an embedded file.
    let receipt = receipt_bytes(doc);
    let size = i64::try_from(receipt.len()).unwrap_or(0);
    let file = pdf.add_object(Stream::new(
        dictionary! {
            "Type" => "EmbeddedFile",
            "Subtype" => Object::Name(b"application/json".to_vec()),
            "Params" => dictionary! { "Size" => size },
        },
        receipt,
    ));
    let literal = |s: &str| Object::String(s.as_bytes().to_vec(), StringFormat::Literal);
    let spec = pdf.add_object(dictionary! {
        "Type" => "Filespec",
        "F" => literal("receipt.json"),
        "UF" => literal("receipt.json"),
        "Desc" => literal("Signed message receipt: verify with sealpost verify receipt.json"),
        "AFRelationship" => "Supplement",
        "EF" => dictionary! { "F" => file, "UF" => file },
    });
    let catalog = pdf.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
        "Names" => dictionary! {
            "EmbeddedFiles" => dictionary! {
                "Names" => vec![literal("receipt.json"), Object::Reference(spec)],
            },
        },
        "AF" => vec![Object::Reference(spec)],
        "PageMode" => "UseAttachments",
    });
    let info = pdf.add_object(dictionary! {
        "Title" => Object::String(win_ansi(&format!("Personal data breach {}", doc.incident_id)), StringFormat::Literal),
        "Producer" => literal("Sealpost"),
    });
    pdf.trailer.set("Root", catalog);
    pdf.trailer.set("Info", info);
    let mut out = Vec::new();
    pdf.save_to(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_ansi_maps_typography_to_ascii() {
        assert_eq!(win_ansi("•••• 0123 — “x” é"), b"**** 0123 - \"x\" \xe9".to_vec());
    }

    #[test]
    fn wrap_respects_the_width_and_breaks_long_words() {
        let long = "x".repeat(400);
        let lines = wrap(&format!("a b {long}"), Font::Regular, 10.0, 100.0);
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(width(l, Font::Regular, 10.0) <= 100.0, "{l:?}");
        }
        let joined: usize = lines.iter().map(Vec::len).sum();
        assert!(joined >= 402);
    }
}
