//! Sensitive-content detectors.
//!
//! [`scan`] finds NHS numbers, NINOs, BSNs, IBANs, payment cards, UK and NL postcodes, dates of
//! birth, passport numbers, e-mail addresses, UK/NL (and other E.164) phone numbers and health
//! terms in one text. Each value is validated (checksum, allocated ranges, letter rules) and
//! weighed with English and Dutch context words found within 300 characters, on Purview's three
//! levels. Kinds with a weak checksum or none (NHS, BSN, card, passport, date of birth) are only
//! reported with context; a value that has the shape of a checksum kind but fails the checksum is
//! reported as nothing at all (see `scan.rs` for the one exception: well-formed `0…` phone
//! numbers).
//!
//! Text is normalised first (zero-width characters and soft hyphens removed, Unicode spaces and
//! dashes unified, NFKC for full-width forms), but spans always point into the original text.
//!
//! ```
//! use sealpost_guard::content::{mask, scan};
//! use sealpost_guard::{Confidence, Kind};
//!
//! let text = "Patient NHS number: 485 777 3457";
//! let found = scan(text);
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].kind, Kind::UkNhsNumber);
//! assert_eq!(found[0].confidence, Confidence::High);
//! let value = &text[found[0].start..found[0].end];
//! assert_eq!(mask(Kind::UkNhsNumber, value), "4** *** **57");
//! ```

mod keywords;
mod normalize;
mod scan;
pub mod validate;

pub use keywords::HEALTH_TERMS;

use crate::{Confidence, Kind};

use normalize::Normalized;

/// One detected value: its kind, its byte span in the scanned text, and how sure we are.
/// The span lets the caller mask or count; the value itself is never stored elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub kind: Kind,
    /// Byte offsets into the text given to [`scan`] (`text[start..end]` is the value as written).
    pub start: usize,
    pub end: usize,
    pub confidence: Confidence,
    /// A context word (or other supporting evidence) was found within the window.
    pub context: bool,
}

/// Scans one text (subject, body, or an attachment's extracted text). Matches are sorted by
/// start and never overlap.
pub fn scan(text: &str) -> Vec<Match> {
    let norm = Normalized::new(text);
    scan::scan_normalized(&norm.text)
        .into_iter()
        .filter_map(|c| {
            let kind = c.kind?;
            let (start, end) = norm.map_span(c.start, c.end);
            Some(Match {
                kind,
                start,
                end,
                confidence: c.confidence,
                context: c.context,
            })
        })
        .collect()
}

/// How many leading characters a preview may keep for this kind.
fn mask_prefix(kind: Kind) -> usize {
    match kind {
        Kind::Iban | Kind::UkNino | Kind::PassportNumber | Kind::UkPostcode | Kind::NlPostcode => 2,
        Kind::PhoneNumber => 2,
        Kind::DateOfBirth => 0,
        _ => 3,
    }
}

/// A masked preview of a value, e.g. `9** *** **19` for an NHS number: enough for the sender to
/// find it in the draft, not enough to recover it. At most the first 3 and the last 2 letters or
/// digits are kept, and never more than a third of them; separators are kept. An e-mail address
/// keeps its first character and its domain; a health term (a word, not a value) is shown as is.
pub fn mask(kind: Kind, value: &str) -> String {
    match kind {
        Kind::HealthTerm => return value.to_string(),
        Kind::EmailAddress => {
            if let Some((local, domain)) = value.rsplit_once('@') {
                let first: String = local.chars().take(1).collect();
                return format!("{first}***@{domain}");
            }
        }
        _ => {}
    }
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let budget = total / 3;
    let suffix = budget.min(2);
    let prefix = mask_prefix(kind).min(budget - suffix);
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if !c.is_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen <= prefix || seen > total - suffix {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The canonical form of a value, for counting distinct values (never for output): separators
/// removed, upper case; a BSN padded to 9 digits, a phone number in `+CC…` form, a date of birth
/// as `YYYY-MM-DD`.
pub fn canonical(kind: Kind, value: &str) -> String {
    let norm = Normalized::new(value);
    let v: &str = &norm.text;
    let alnum = || -> String {
        v.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect()
    };
    match kind {
        Kind::EmailAddress => v
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect(),
        Kind::HealthTerm => v.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase(),
        Kind::NlBsn => {
            let d = alnum();
            if d.len() == 8 { format!("0{d}") } else { d }
        }
        Kind::PhoneNumber => {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            if v.trim_start().starts_with('+') {
                for cc in ["44", "31"] {
                    if let Some(rest) = digits.strip_prefix(cc).and_then(|r| r.strip_prefix('0')) {
                        return format!("+{cc}{rest}");
                    }
                }
                format!("+{digits}")
            } else if let Some(rest) = digits.strip_prefix('0') {
                let cc = if digits.len() == 11 { "44" } else { "31" };
                format!("+{cc}{rest}")
            } else {
                digits
            }
        }
        Kind::DateOfBirth => canonical_date(v).unwrap_or_else(alnum),
        _ => alnum(),
    }
}

fn canonical_date(v: &str) -> Option<String> {
    let parts: Vec<&str> = v
        .split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect();
    let [a, b, c] = parts[..] else { return None };
    let num = |s: &str| s.parse::<u32>().ok();
    let (y, m, d) = if a.len() == 4 {
        (num(a)?, num(b)?, num(c)?)
    } else {
        (num(c)?, num(b).or_else(|| scan::month(b))?, num(a)?)
    };
    validate::date(y, m, d).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_at_most_a_third() {
        assert_eq!(mask(Kind::UkNhsNumber, "943 476 5919"), "9** *** **19");
        assert_eq!(
            mask(Kind::Iban, "GB29 NWBK 6016 1331 9268 19"),
            "GB** **** **** **** **** 19"
        );
        assert_eq!(mask(Kind::EmailAddress, "john@example.org"), "j***@example.org");
        assert_eq!(mask(Kind::HealthTerm, "diabetes"), "diabetes");
        assert_eq!(mask(Kind::PaymentCard, "4012 8888 8888 1881"), "401* **** **** **81");
        assert_eq!(mask(Kind::NlBsn, "1"), "*");
        assert_eq!(mask(Kind::NlBsn, ""), "");
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical(Kind::UkNhsNumber, "943-476-5919"), "9434765919");
        assert_eq!(canonical(Kind::NlBsn, "1234.56.782"), "123456782");
        assert_eq!(canonical(Kind::NlBsn, "12345674"), "012345674");
        assert_eq!(
            canonical(Kind::Iban, "gb29 nwbk 6016 1331 9268 19"),
            "GB29NWBK60161331926819"
        );
        assert_eq!(canonical(Kind::PhoneNumber, "+44 (0)20 7946 0018"), "+442079460018");
        assert_eq!(canonical(Kind::PhoneNumber, "020 7946 0018"), "+442079460018");
        assert_eq!(canonical(Kind::PhoneNumber, "06-12345678"), "+31612345678");
        assert_eq!(canonical(Kind::DateOfBirth, "1 Feb 1980"), "1980-02-01");
        assert_eq!(canonical(Kind::DateOfBirth, "01/02/1980"), "1980-02-01");
        assert_eq!(canonical(Kind::DateOfBirth, "1980-02-01"), "1980-02-01");
        assert_eq!(canonical(Kind::UkNhsNumber, "９４３ ４７６ ５９１９"), "9434765919");
    }
}
