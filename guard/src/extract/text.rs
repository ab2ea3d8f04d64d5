//! Plain text: byte-order marks, UTF-8, UTF-16 and the Windows-1252 fallback.

use super::prefix;

/// Decodes `bytes` as text, or `None` if they look binary. The text is cut at `max_text` bytes; the
/// flag says whether it was.
pub(super) fn decode(bytes: &[u8], max_text: usize) -> Option<(String, bool)> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return Some(cut(String::from_utf8_lossy(rest).into_owned(), max_text));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return Some(utf16(rest, u16::from_le_bytes, max_text));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return Some(utf16(rest, u16::from_be_bytes, max_text));
    }
    if memchr::memchr(0, bytes).is_some() {
        return match utf16_without_bom(bytes) {
            Some(true) => Some(utf16(bytes, u16::from_le_bytes, max_text)),
            Some(false) => Some(utf16(bytes, u16::from_be_bytes, max_text)),
            None => None,
        };
    }
    if control_bytes(bytes) > bytes.len() / 100 {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let kept = prefix(s, max_text);
            Some((kept.to_owned(), kept.len() < s.len()))
        }
        Err(_) => Some(windows_1252(bytes, max_text)),
    }
}

fn cut(mut s: String, max_text: usize) -> (String, bool) {
    let truncated = super::truncate(&mut s, max_text);
    (s, truncated)
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16, max_text: usize) -> (String, bool) {
    let units = bytes.chunks_exact(2).map(|p| unit([p[0], p[1]]));
    let mut out = String::with_capacity(bytes.len().min(max_text.saturating_add(4)));
    for c in char::decode_utf16(units) {
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        if out.len() > max_text {
            return cut(out, max_text);
        }
    }
    (out, false)
}

/// UTF-16 text of mostly Latin script has a zero in every other byte: `Some(true)` for
/// little-endian, `Some(false)` for big-endian, `None` if the zeros say neither.
fn utf16_without_bom(bytes: &[u8]) -> Option<bool> {
    let sample = &bytes[..bytes.len().min(64 * 1024) & !1];
    let pairs = sample.len() / 2;
    if pairs < 2 || !bytes.len().is_multiple_of(2) {
        return None;
    }
    let (mut even, mut odd) = (0, 0);
    for p in sample.chunks_exact(2) {
        even += usize::from(p[0] == 0);
        odd += usize::from(p[1] == 0);
    }
    let mostly = |n: usize| n * 10 >= pairs * 7;
    let rarely = |n: usize| n * 20 <= pairs;
    if mostly(odd) && rarely(even) {
        Some(true)
    } else if mostly(even) && rarely(odd) {
        Some(false)
    } else {
        None
    }
}

/// Bytes that do not occur in text: C0 controls other than tab, line feed, form feed, carriage
/// return and escape; DEL; and the five bytes Windows-1252 leaves undefined.
const fn is_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F | 0x81 | 0x8D | 0x8F | 0x90 | 0x9D)
}

static CONTROL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_control(i as u8);
        i += 1;
    }
    t
};

fn control_bytes(bytes: &[u8]) -> usize {
    bytes.iter().map(|&b| usize::from(CONTROL[usize::from(b)])).sum()
}

/// Windows-1252 0x80..=0x9F; the undefined bytes map to the C1 controls of the same value, as in
/// the WHATWG encoding standard.
const W1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
    '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
    '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
    '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Decodes Windows-1252 (a superset of the printable part of ISO 8859-1).
fn windows_1252(bytes: &[u8], max_text: usize) -> (String, bool) {
    let mut out = String::with_capacity(
        bytes
            .len()
            .saturating_add(bytes.len() / 4)
            .min(max_text.saturating_add(4)),
    );
    for &b in bytes {
        let c = match b {
            0x80..=0x9F => W1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        };
        out.push(c);
        if out.len() > max_text {
            return cut(out, max_text);
        }
    }
    (out, false)
}
