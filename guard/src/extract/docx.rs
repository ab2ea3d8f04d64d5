//! DOCX: the WordprocessingML parts of the ZIP container, read as a stream of XML events.

use std::io::{self, Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::csv::{Rows, looks_like_data};
use super::{ExtractError, Limits};

/// Why a ZIP did not give DOCX text.
pub(super) enum Error {
    /// A readable ZIP without `word/document.xml` (another archive, an XLSX...).
    NotDocx,
    /// The ZIP container cannot be read at all.
    BadZip,
    Extract(ExtractError),
}

impl From<ExtractError> for Error {
    fn from(e: ExtractError) -> Self {
        Error::Extract(e)
    }
}

const DOCUMENT: &str = "word/document.xml";

/// The text of the body, then the headers, footers, footnotes, endnotes and comments.
pub(super) fn extract(bytes: &[u8], limits: &Limits) -> Result<(String, bool), Error> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| Error::BadZip)?;
    let mut parts: Vec<&str> = zip.file_names().filter(|n| is_text_part(n)).collect();
    if !parts.contains(&DOCUMENT) {
        return Err(Error::NotDocx);
    }
    parts.sort_by_key(|n| (part_rank(n), n.len(), *n));
    let parts: Vec<String> = parts.into_iter().map(str::to_owned).collect();

    let mut text = Text::new(limits.max_text);
    let mut budget = limits.max_total();
    for name in &parts {
        let entry = zip.by_name(name).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(zip::result::ZipError::PASSWORD_REQUIRED) => {
                ExtractError::Encrypted
            }
            zip::result::ZipError::UnsupportedArchive(_) => {
                ExtractError::malformed("the document uses an unsupported ZIP compression method")
            }
            _ => ExtractError::malformed("the ZIP container of the document is damaged"),
        })?;
        if entry.size() > limits.max_entry || entry.size() > budget {
            return Err(ExtractError::TooLarge.into());
        }
        let allowed = limits.max_entry.min(budget);
        let capacity = usize::try_from(entry.size().min(allowed)).unwrap_or(0);
        let mut limited = Limited {
            inner: entry,
            left: allowed,
            exceeded: false,
        };
        let mut xml = Vec::with_capacity(capacity);
        if limited.read_to_end(&mut xml).is_err() {
            return Err(match limited.exceeded {
                true => ExtractError::TooLarge,
                false => ExtractError::malformed("a compressed part of the document is damaged"),
            }
            .into());
        }
        budget -= xml.len() as u64;
        text.read_part(&xml)?;
        if text.rows.full {
            break;
        }
        text.end_part();
    }
    let full = text.rows.full;
    let mut out = text.rows.out;
    while out.ends_with('\n') {
        out.pop();
    }
    Ok((out, full))
}

fn is_text_part(name: &str) -> bool {
    part_rank(name) < 9
}

/// Reading order: body, headers, footers, footnotes, endnotes, comments.
fn part_rank(name: &str) -> u8 {
    let Some(file) = name
        .strip_prefix("word/")
        .filter(|f| !f.contains('/') && f.ends_with(".xml"))
    else {
        return 9;
    };
    let stem = &file[..file.len() - 4];
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix)
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    };
    match stem {
        "document" => 0,
        _ if numbered("header") => 1,
        _ if numbered("footer") => 2,
        "footnotes" => 3,
        "endnotes" => 4,
        "comments" => 5,
        _ => 9,
    }
}

/// A reader that fails once more than `left` bytes have come out of it.
struct Limited<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            self.exceeded = true;
            return Err(io::Error::other("decompressed size limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The text gathered so far, and where the XML reader is.
struct Text {
    rows: Rows,
    /// Inside `w:t`/`w:delText` (and DrawingML or math `t`): text to keep.
    in_text: u32,
    /// Inside `mc:Fallback` (a copy of `mc:Choice`) or `w:tabs` (tab stops, not tabs).
    skip: u32,
    tables: u32,
    table: Table,
}

/// The outermost table being read; nested tables flatten into its cells.
#[derive(Default)]
struct Table {
    in_cell: bool,
    cell: String,
    row: Vec<String>,
    row_is_header: bool,
    first: Option<(Vec<String>, bool)>,
    headers: Option<Vec<String>>,
    rows: usize,
}

impl Text {
    fn new(max_text: usize) -> Self {
        Text {
            rows: Rows {
                out: String::new(),
                max_text,
                full: false,
            },
            in_text: 0,
            skip: 0,
            tables: 0,
            table: Table::default(),
        }
    }

    fn read_part(&mut self, part: &[u8]) -> Result<(), ExtractError> {
        self.in_text = 0;
        self.skip = 0;
        self.tables = 0;
        self.table = Table::default();
        let mut reader = Reader::from_reader(part);
        let bad = |_| ExtractError::malformed("the XML of the document is not well-formed");
        loop {
            match reader.read_event().map_err(bad)? {
                Event::Start(e) => self.start(&e),
                Event::Empty(e) => {
                    self.start(&e);
                    self.end(e.local_name().as_ref());
                }
                Event::End(e) => self.end(e.local_name().as_ref()),
                Event::Text(t) if self.keeps_text() => self.push(
                    &t.decode()
                        .map_err(|_| ExtractError::malformed("the XML text is not valid UTF-8"))?,
                ),
                Event::CData(t) if self.keeps_text() => self.push(&String::from_utf8_lossy(&t)),
                Event::GeneralRef(r) if self.keeps_text() => {
                    let c = match r.resolve_char_ref().map_err(bad)? {
                        Some(c) => Some(c),
                        None => match &*r {
                            b"amp" => Some('&'),
                            b"lt" => Some('<'),
                            b"gt" => Some('>'),
                            b"quot" => Some('"'),
                            b"apos" => Some('\''),
                            _ => None,
                        },
                    };
                    if let Some(c) = c {
                        self.push(c.encode_utf8(&mut [0; 4]));
                    }
                }
                Event::Eof => return Ok(()),
                _ => {}
            }
            if self.rows.full {
                return Ok(());
            }
        }
    }

    fn keeps_text(&self) -> bool {
        self.in_text > 0 && self.skip == 0
    }

    fn start(&mut self, e: &BytesStart<'_>) {
        match e.local_name().as_ref() {
            b"t" | b"delText" => self.in_text += 1,
            b"Fallback" | b"tabs" => self.skip += 1,
            b"tbl" => {
                self.tables += 1;
                if self.tables > 1 {
                    self.space();
                }
            }
            b"tr" if self.tables == 1 => {
                self.table.row.clear();
                self.table.row_is_header = false;
            }
            b"tc" if self.tables == 1 => {
                self.table.in_cell = true;
                self.table.cell.clear();
            }
            b"tblHeader" if self.tables == 1 => {
                let off = e.attributes().flatten().any(|a| {
                    a.key.local_name().as_ref() == b"val" && matches!(a.value.as_ref(), b"0" | b"false" | b"off")
                });
                self.table.row_is_header = !off;
            }
            b"tab" if self.skip == 0 => self.push("\t"),
            b"br" | b"cr" if self.skip == 0 => self.line_break(),
            b"noBreakHyphen" if self.skip == 0 => self.push("-"),
            _ => {}
        }
    }

    fn end(&mut self, name: &[u8]) {
        match name {
            b"t" | b"delText" => self.in_text = self.in_text.saturating_sub(1),
            b"Fallback" | b"tabs" => self.skip = self.skip.saturating_sub(1),
            b"p" if self.skip == 0 => self.line_break(),
            b"tc" if self.tables > 1 => self.space(),
            b"tc" if self.tables == 1 => {
                let cell = std::mem::take(&mut self.table.cell);
                self.table.row.push(cell);
                self.table.in_cell = false;
            }
            b"tr" if self.tables == 1 => self.end_row(),
            b"tbl" => {
                self.tables = self.tables.saturating_sub(1);
                if self.tables == 0 {
                    if let Some((first, _)) = self.table.first.take() {
                        self.rows.row(&first, None);
                    }
                    self.table = Table::default();
                    self.newline();
                }
            }
            _ => {}
        }
    }

    fn end_row(&mut self) {
        let t = &mut self.table;
        let row = std::mem::take(&mut t.row);
        t.rows += 1;
        if t.rows == 1 {
            t.first = Some((row, t.row_is_header));
            return;
        }
        if let Some((first, marked)) = t.first.take() {
            let is_header = marked || is_header_row(&first);
            if is_header {
                t.headers = Some(first.iter().map(|c| super::csv::clean(c).into_owned()).collect());
            } else {
                self.newline();
                self.rows.row(&first, None);
            }
        }
        self.newline();
        self.rows.row(&row, self.table.headers.as_deref());
    }

    fn in_cell(&self) -> bool {
        self.tables >= 1 && self.table.in_cell
    }

    /// Text goes into the current table cell, or else straight to the output.
    fn push(&mut self, s: &str) {
        if self.in_cell() {
            if self.table.cell.len() < self.rows.max_text {
                self.table.cell.push_str(s);
            }
            return;
        }
        if self.rows.full {
            return;
        }
        self.rows.out.push_str(s);
        if self.rows.out.len() > self.rows.max_text {
            super::truncate(&mut self.rows.out, self.rows.max_text);
            self.rows.full = true;
        }
    }

    /// A line break: a new line, or a space inside a table cell (a row stays on one line).
    fn line_break(&mut self) {
        if self.in_cell() { self.space() } else { self.push("\n") }
    }

    /// One space between the pieces of a cell.
    fn space(&mut self) {
        if self.in_cell() && !self.table.cell.is_empty() && !self.table.cell.ends_with(char::is_whitespace) {
            self.table.cell.push(' ');
        }
    }

    /// Makes sure the output ends a line (`Rows::row` starts rows on a new line only after text).
    fn newline(&mut self) {
        if !self.rows.out.is_empty() && !self.rows.out.ends_with('\n') {
            self.push("\n");
        }
    }

    fn end_part(&mut self) {
        self.newline();
    }
}

/// A first row that names its columns: at least two filled cells, short, not mostly digits.
fn is_header_row(cells: &[String]) -> bool {
    let filled: Vec<&str> = cells.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    filled.len() >= 2 && filled.iter().all(|c| c.chars().count() <= 64) && !looks_like_data(filled.into_iter())
}
