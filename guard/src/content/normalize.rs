//! Text normalisation with an offset map back to the original.
//!
//! An all-ASCII text is scanned as it is. Otherwise each character is mapped: zero-width
//! characters and the soft hyphen disappear, Unicode spaces become a space, hyphen-like dashes
//! become `-`, and everything else goes through NFKC (full-width digits and letters become
//! ASCII). Runs that come out unchanged are copied verbatim and mapped by offset arithmetic, so
//! the map stays small for mostly-ASCII text.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

/// One piece of the normalised text and where it came from.
#[derive(Clone, Copy, Debug)]
struct Segment {
    /// Start in the normalised text.
    norm_start: usize,
    /// Span in the original text.
    orig_start: usize,
    orig_end: usize,
    /// Copied unchanged: positions map one to one.
    verbatim: bool,
}

/// The text to scan and the way back to the original offsets.
#[derive(Debug)]
pub(crate) struct Normalized<'a> {
    pub(crate) text: Cow<'a, str>,
    /// Empty when the text was used as it is (identity map).
    segments: Vec<Segment>,
}

/// Characters removed before scanning (they split values without being visible).
fn is_removed(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// A fixed replacement applied before NFKC, if any.
fn replacement(c: char) -> Option<char> {
    match c {
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => Some(' '),
        '\u{2010}'..='\u{2013}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}' => Some('-'),
        _ => None,
    }
}

impl<'a> Normalized<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        if text.is_ascii() {
            return Normalized {
                text: Cow::Borrowed(text),
                segments: Vec::new(),
            };
        }
        let mut out = String::with_capacity(text.len());
        let mut segments: Vec<Segment> = Vec::new();
        let mut verbatim_from: Option<usize> = None; // original start of the current verbatim run
        let mut verbatim_norm = 0;
        let mut iter = text.char_indices().peekable();
        let mut scratch = String::new();
        while let Some((i, c)) = iter.next() {
            let next_is_ascii = text.as_bytes().get(i + 1).is_none_or(|b| b.is_ascii());
            if c.is_ascii() && next_is_ascii {
                if verbatim_from.is_none() {
                    verbatim_from = Some(i);
                    verbatim_norm = out.len();
                }
                out.push(c);
                continue;
            }
            // A starter and the combining marks that follow it are normalised together.
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if d.is_ascii() || canonical_combining_class(d) == 0 {
                    break;
                }
                end = j + d.len_utf8();
                iter.next();
            }
            let piece = &text[i..end];
            scratch.clear();
            if is_removed(c) && end == i + c.len_utf8() {
                // nothing
            } else if let (Some(r), true) = (replacement(c), end == i + c.len_utf8()) {
                scratch.push(r);
            } else {
                scratch.extend(piece.chars().filter(|&d| !is_removed(d)).nfkc());
            }
            if scratch == piece {
                if verbatim_from.is_none() {
                    verbatim_from = Some(i);
                    verbatim_norm = out.len();
                }
                out.push_str(piece);
                continue;
            }
            if let Some(from) = verbatim_from.take() {
                segments.push(Segment {
                    norm_start: verbatim_norm,
                    orig_start: from,
                    orig_end: i,
                    verbatim: true,
                });
            }
            if !scratch.is_empty() {
                segments.push(Segment {
                    norm_start: out.len(),
                    orig_start: i,
                    orig_end: end,
                    verbatim: false,
                });
                out.push_str(&scratch);
            }
        }
        if let Some(from) = verbatim_from {
            segments.push(Segment {
                norm_start: verbatim_norm,
                orig_start: from,
                orig_end: text.len(),
                verbatim: true,
            });
        }
        Normalized {
            text: Cow::Owned(out),
            segments,
        }
    }

    /// Maps a span of the normalised text (non-empty, on char boundaries) to the original text.
    pub(crate) fn map_span(&self, start: usize, end: usize) -> (usize, usize) {
        if self.segments.is_empty() {
            return (start, end);
        }
        let seg_of = |pos: usize| {
            let idx = self.segments.partition_point(|s| s.norm_start <= pos);
            self.segments[idx.saturating_sub(1)]
        };
        let first = seg_of(start);
        let orig_start = if first.verbatim {
            first.orig_start + (start - first.norm_start)
        } else {
            first.orig_start
        };
        let last = seg_of(end.saturating_sub(1).max(start));
        let orig_end = if last.verbatim {
            last.orig_start + (end - last.norm_start)
        } else {
            last.orig_end
        };
        (orig_start, orig_end.max(orig_start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_borrowed() {
        let n = Normalized::new("abc 123");
        assert!(matches!(n.text, Cow::Borrowed(_)));
        assert_eq!(n.map_span(4, 7), (4, 7));
    }

    #[test]
    fn removes_zero_width_and_maps_back() {
        let src = "x 943\u{200B}476\u{00A0}5919 y";
        let n = Normalized::new(src);
        assert_eq!(n.text, "x 943476 5919 y");
        let (a, b) = n.map_span(2, 13);
        assert_eq!(&src[a..b], "943\u{200B}476\u{00A0}5919");
    }

    #[test]
    fn full_width_digits() {
        let src = "ＮＨＳ ９４３";
        let n = Normalized::new(src);
        assert_eq!(n.text, "NHS 943");
        let (a, b) = n.map_span(4, 7);
        assert_eq!(&src[a..b], "９４３");
        let (a, b) = n.map_span(5, 6);
        assert_eq!(&src[a..b], "４");
    }

    #[test]
    fn combining_marks_compose() {
        let src = "clie\u{0308}nt é";
        let n = Normalized::new(src);
        assert_eq!(n.text, "cliënt é");
        let (a, b) = n.map_span(0, "cliënt".len());
        assert_eq!(&src[a..b], "clie\u{0308}nt");
    }
}
