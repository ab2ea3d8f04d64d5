//! CSV and TSV (RFC 4180 quoting) as one `header: value; header: value` line per row.

use std::borrow::Cow;

/// Rewrites CSV text as one line per data row, each non-empty cell prefixed with its column's
/// header, or plainly if the first row looks like data. `delimiter` forces one (TSV); otherwise
/// it is sniffed among `,`, `;` and tab. `truncated` carries over a cut made while decoding.
pub(super) fn to_lines(text: &str, delimiter: Option<u8>, max_text: usize, truncated: bool) -> (String, bool) {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(text));
    let mut parser = Parser {
        s: text,
        pos: 0,
        delimiter,
    };
    let mut out = Rows {
        out: String::with_capacity(text.len().min(max_text)),
        max_text,
        full: false,
    };
    let mut first = Vec::new();
    if !parser.record(&mut first) {
        return (String::new(), truncated);
    }
    let headers: Option<Vec<String>> = if looks_like_data(first.iter().map(|c| c.as_ref())) {
        out.row(&first, None);
        None
    } else {
        Some(first.iter().map(|c| clean(c).into_owned()).collect())
    };
    let mut row = Vec::new();
    let mut data_rows = 0usize;
    while !out.full && parser.record(&mut row) {
        out.row(&row, headers.as_deref());
        data_rows += 1;
    }
    if data_rows == 0 && headers.is_some() {
        // A header row alone: its cells are still text to check.
        out.row(&first, None);
    }
    let full = out.full;
    (out.out, truncated || full)
}

/// Most non-empty cells are mostly digits (dates, numbers): a data row, not headers.
pub(super) fn looks_like_data<'a>(cells: impl Iterator<Item = &'a str>) -> bool {
    let (mut filled, mut numeric) = (0usize, 0usize);
    for cell in cells {
        let (mut digits, mut other) = (0usize, 0usize);
        for c in cell.chars().filter(|c| !c.is_whitespace()) {
            if c.is_ascii_digit() {
                digits += 1;
            } else {
                other += 1;
            }
        }
        if digits + other == 0 {
            continue;
        }
        filled += 1;
        numeric += usize::from(digits > other);
    }
    filled > 0 && numeric * 2 >= filled
}

/// A cell trimmed, with line breaks inside it made spaces so that a row stays on one line.
pub(super) fn clean(cell: &str) -> Cow<'_, str> {
    let cell = cell.trim();
    if memchr::memchr2(b'\n', b'\r', cell.as_bytes()).is_some() {
        Cow::Owned(cell.replace("\r\n", " ").replace(['\n', '\r'], " "))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The output, bounded by `max_text`.
pub(super) struct Rows {
    pub(super) out: String,
    pub(super) max_text: usize,
    /// The bound was reached and the output cut.
    pub(super) full: bool,
}

impl Rows {
    /// Appends one row as a line; empty cells are left out, and so is a row with none left.
    pub(super) fn row<S: AsRef<str>>(&mut self, cells: &[S], headers: Option<&[String]>) {
        if self.full {
            return;
        }
        let start = self.out.len();
        let mut any = false;
        for (i, cell) in cells.iter().enumerate() {
            let cell = clean(cell.as_ref());
            if cell.is_empty() {
                continue;
            }
            if any {
                self.out.push_str("; ");
            } else if start > 0 && !self.out.ends_with('\n') {
                self.out.push('\n');
            }
            any = true;
            if let Some(header) = headers.and_then(|h| h.get(i)).filter(|h| !h.is_empty()) {
                self.out.push_str(header);
                self.out.push_str(": ");
            }
            self.out.push_str(&cell);
        }
        if self.out.len() > self.max_text {
            super::truncate(&mut self.out, self.max_text);
            self.full = true;
        }
    }
}

/// Picks the delimiter that splits the first records into the same, largest number of fields.
fn sniff_delimiter(text: &str) -> u8 {
    let mut best = (b',', (0usize, 0usize));
    for delimiter in [b',', b';', b'\t'] {
        let mut parser = Parser {
            s: &text[..super::prefix(text, 64 * 1024).len()],
            pos: 0,
            delimiter,
        };
        let mut record = Vec::new();
        let mut first = 0;
        let mut agreeing = 0;
        for n in 0..20 {
            if !parser.record(&mut record) {
                break;
            }
            if n == 0 {
                first = record.len();
            }
            agreeing += usize::from(record.len() == first);
        }
        let score = if first > 1 { (agreeing, first) } else { (0, 0) };
        if score > best.1 {
            best = (delimiter, score);
        }
    }
    best.0
}

/// An RFC 4180 reader that is lenient with stray quotes and takes CR, LF or CRLF as a line end.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
    delimiter: u8,
}

impl<'a> Parser<'a> {
    /// Reads the next record into `fields`; false at the end of the text.
    fn record(&mut self, fields: &mut Vec<Cow<'a, str>>) -> bool {
        fields.clear();
        let b = self.s.as_bytes();
        if self.pos >= b.len() {
            return false;
        }
        loop {
            let field = if b.get(self.pos) == Some(&b'"') {
                self.quoted()
            } else {
                self.plain()
            };
            fields.push(field);
            match b.get(self.pos) {
                None => return true,
                Some(&c) if c == self.delimiter => self.pos += 1,
                Some(b'\r') => {
                    self.pos += 1;
                    if b.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                    return true;
                }
                Some(_) => {
                    // '\n' (plain() and quoted() stop only at a delimiter or a line end).
                    self.pos += 1;
                    return true;
                }
            }
        }
    }

    /// An unquoted field, up to the next delimiter or line end.
    fn plain(&mut self) -> Cow<'a, str> {
        let b = self.s.as_bytes();
        let start = self.pos;
        let end = memchr::memchr3(self.delimiter, b'\n', b'\r', &b[start..]).map_or(b.len(), |i| start + i);
        self.pos = end;
        Cow::Borrowed(&self.s[start..end])
    }

    /// A quoted field: `""` is a quote; line ends inside are kept. Text after the closing quote
    /// and before the next delimiter is kept too, as a lenient reader would.
    fn quoted(&mut self) -> Cow<'a, str> {
        let b = self.s.as_bytes();
        self.pos += 1;
        let mut start = self.pos;
        let mut owned: Option<String> = None;
        let field;
        loop {
            match memchr::memchr(b'"', &b[self.pos..]) {
                None => {
                    self.pos = b.len();
                    field = &self.s[start..];
                    break;
                }
                Some(i) => {
                    let q = self.pos + i;
                    if b.get(q + 1) == Some(&b'"') {
                        owned.get_or_insert_with(String::new).push_str(&self.s[start..=q]);
                        self.pos = q + 2;
                        start = self.pos;
                    } else {
                        field = &self.s[start..q];
                        self.pos = q + 1;
                        break;
                    }
                }
            }
        }
        let rest = self.plain();
        match owned {
            None if rest.is_empty() => Cow::Borrowed(field),
            owned => {
                let mut o = owned.unwrap_or_default();
                o.push_str(field);
                o.push_str(&rest);
                Cow::Owned(o)
            }
        }
    }
}
