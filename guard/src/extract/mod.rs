//! Text from attachments, for the content checks.
//!
//! [`extract_text`] turns an attachment into plain text that the detectors can scan: plain text in
//! UTF-8, UTF-16 or Windows-1252; CSV and TSV as one `header: value; header: value` line per row, so
//! that every cell keeps the context of its column; the text of a DOCX (body, tables, headers,
//! footers, notes and comments); and the text of a PDF. Anything else (images, archives, legacy
//! Office files) comes back as [`Format::Unsupported`] with no text: the caller says that the file
//! could not be checked.
//!
//! The format is found from the content first (`%PDF-`, a ZIP holding `word/document.xml`, an OLE
//! compound file, well-known binary signatures), then from the file name's extension, then by
//! sniffing the bytes for text. Bad input never panics: it gives an [`ExtractError`] whose message
//! says what is wrong with the file, never what is in it.
//!
//! ```
//! use sealpost_guard::extract::{extract_text, Format, Limits};
//!
//! let csv = "NHS number,DOB\n943 476 5919,01/02/1980\n";
//! let out = extract_text("patients.csv", csv.as_bytes(), &Limits::default()).unwrap();
//! assert_eq!(out.format, Format::Csv);
//! assert_eq!(out.text, "NHS number: 943 476 5919; DOB: 01/02/1980");
//! ```

mod csv;
mod docx;
mod pdf;
mod text;

use std::fmt;

use serde::{Deserialize, Serialize};

/// Bounds on the work one attachment may cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes; a larger one is [`ExtractError::TooLarge`].
    pub max_input: u64,
    /// Longest text returned, in bytes; longer text is cut (at a character boundary) and marked
    /// [`Extracted::truncated`].
    pub max_text: usize,
    /// Largest compressed part once decompressed, in bytes: a ZIP entry of a DOCX, or a stream of a
    /// PDF. The parts read from one file together may decompress to at most four times this.
    /// Beyond either bound the file is [`ExtractError::TooLarge`] (a "zip bomb").
    pub max_entry: u64,
}

impl Default for Limits {
    /// 256 MiB of input, 64 MiB of text, 256 MiB per decompressed part.
    fn default() -> Self {
        Limits {
            max_input: 256 << 20,
            max_text: 64 << 20,
            max_entry: 256 << 20,
        }
    }
}

impl Limits {
    /// What the decompressed parts of one file may add up to.
    fn max_total(&self) -> u64 {
        self.max_entry.saturating_mul(4)
    }
}

/// The kind of file an attachment was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Plain text (UTF-8, UTF-16 with or without a byte-order mark, or Windows-1252).
    Text,
    /// Comma-, semicolon- or tab-separated values.
    Csv,
    /// A PDF document.
    Pdf,
    /// A Word document (Office Open XML).
    Docx,
    /// Not a format read here (an image, an archive, a legacy Office file, an executable...), or
    /// a PDF in a build that cannot read PDFs safely (see [`extract_text`]); the text is empty.
    Unsupported,
}

/// The text of an attachment.
///
/// `Debug` shows the format and the length only, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Extracted {
    /// What the attachment was read as.
    pub format: Format,
    /// Its text; empty for [`Format::Unsupported`].
    pub text: String,
    /// The text was cut at [`Limits::max_text`] bytes.
    pub truncated: bool,
}

impl fmt::Debug for Extracted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extracted")
            .field("format", &self.format)
            .field("text_len", &self.text.len())
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// Why an attachment's text could not be read. Messages describe the file, never its content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The file is encrypted or password-protected (a PDF with a user password, an encrypted Office
    /// file, a DOCX with encrypted ZIP entries).
    #[error("the file is encrypted or password-protected")]
    Encrypted,
    /// The file claims a format but its structure is broken; the sentence says where.
    #[error("the file is damaged: {0}")]
    Malformed(String),
    /// The file, or one of its compressed parts once decompressed, is larger than [`Limits`] allow.
    #[error("the file is too large to check")]
    TooLarge,
}

impl ExtractError {
    fn malformed(why: &str) -> Self {
        ExtractError::Malformed(why.to_owned())
    }
}

/// Reads the text of an attachment named `file_name` (only its extension is used).
///
/// An empty file is empty [`Format::Text`]. PDFs are read only where a panic can be caught
/// (`panic = "unwind"`, the default on native targets): on `wasm32-unknown-unknown`, whose panics
/// abort, a PDF is [`Format::Unsupported`].
pub fn extract_text(file_name: &str, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    if bytes.len() as u64 > limits.max_input {
        return Err(ExtractError::TooLarge);
    }
    if bytes.is_empty() {
        return Ok(Extracted {
            format: Format::Text,
            text: String::new(),
            truncated: false,
        });
    }
    let ext = extension(file_name);
    let unsupported = Ok(Extracted {
        format: Format::Unsupported,
        text: String::new(),
        truncated: false,
    });
    let done = |format, (text, truncated)| {
        Ok(Extracted {
            format,
            text,
            truncated,
        })
    };
    match sniff(bytes) {
        Sniffed::Pdf => match pdf::extract(bytes, limits)? {
            Some(out) => done(Format::Pdf, out),
            None => unsupported,
        },
        Sniffed::Zip => match docx::extract(bytes, limits) {
            Ok(out) => done(Format::Docx, out),
            Err(docx::Error::NotDocx) => unsupported,
            Err(docx::Error::BadZip) if ext.as_deref() == Some("docx") => {
                Err(ExtractError::malformed("the ZIP container of the document is damaged"))
            }
            Err(docx::Error::BadZip) => unsupported,
            Err(docx::Error::Extract(e)) => Err(e),
        },
        Sniffed::Ole if is_encrypted_ooxml(bytes) => Err(ExtractError::Encrypted),
        Sniffed::Ole | Sniffed::Binary => unsupported,
        Sniffed::Unknown => {
            let Some(decoded) = text::decode(bytes, limits.max_text) else {
                return unsupported;
            };
            match ext.as_deref() {
                Some("csv") => done(Format::Csv, csv::to_lines(&decoded.0, None, limits.max_text, decoded.1)),
                Some("tsv") => done(
                    Format::Csv,
                    csv::to_lines(&decoded.0, Some(b'\t'), limits.max_text, decoded.1),
                ),
                _ => done(Format::Text, decoded),
            }
        }
    }
}

/// What the first bytes say.
enum Sniffed {
    Pdf,
    Zip,
    Ole,
    Binary,
    Unknown,
}

fn sniff(bytes: &[u8]) -> Sniffed {
    let head = &bytes[..bytes.len().min(1024)];
    if memchr::memmem::find(head, b"%PDF-").is_some() {
        return Sniffed::Pdf;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Sniffed::Ole;
    }
    const SIGNATURES: &[&[u8]] = &[
        b"\x89PNG\r\n\x1a\n",
        b"\xFF\xD8\xFF", // JPEG
        b"GIF87a",
        b"GIF89a",
        b"II*\0", // TIFF
        b"MM\0*",
        b"\x1F\x8B", // gzip
        b"7z\xBC\xAF\x27\x1C",
        b"Rar!\x1A\x07",
        b"\xFD7zXZ\0",       // xz
        b"\x28\xB5\x2F\xFD", // zstd
        b"\x7FELF",
        b"\0asm",            // WebAssembly
        b"\xCA\xFE\xBA\xBE", // Java class, Mach-O fat
        b"\xCF\xFA\xED\xFE", // Mach-O
        b"OggS",
        b"fLaC",
        b"ID3", // MP3
    ];
    let riff_media = head.starts_with(b"RIFF") && head.len() >= 12; // WAV, AVI, WebP
    let iso_media = head.len() >= 12 && &head[4..8] == b"ftyp"; // MP4, MOV, HEIC
    if riff_media || iso_media || SIGNATURES.iter().any(|s| head.starts_with(s)) {
        return Sniffed::Binary;
    }
    Sniffed::Unknown
}

/// An encrypted Office Open XML file is an OLE compound file holding the streams `EncryptionInfo`
/// and `EncryptedPackage` (MS-OFFCRYPTO §2.3.4); their names are stored in UTF-16LE.
fn is_encrypted_ooxml(bytes: &[u8]) -> bool {
    let utf16 = |s: &str| s.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
    memchr::memmem::find(bytes, &utf16("EncryptedPackage")).is_some()
        && memchr::memmem::find(bytes, &utf16("EncryptionInfo")).is_some()
}

/// The lower-case extension of a file name (which may carry a path).
fn extension(file_name: &str) -> Option<String> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let (_, ext) = base.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

/// Cuts `s` to at most `max` bytes at a character boundary; true if it cut.
fn truncate(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

/// The part of `s` that fits in `max` bytes, cut at a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
