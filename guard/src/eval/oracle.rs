//! The evaluation's own validity rules and context words: an oracle written independently of the
//! detectors in `content` (nothing is imported from there), so that a bug shared by the generator
//! and the detectors cannot hide itself.
//!
//! Each `*_valid` function takes the value as written (with its separators) and answers whether
//! it is a genuine value of that kind under the rules of research §1.2. The generator produces
//! only values that pass, and traps that fail the rule of the kind they imitate.

use crate::Kind;

/// The proximity window for context words, in characters either side (Purview's 300).
pub const CONTEXT_WINDOW: usize = 300;

fn compact(value: &str, separators: &[char]) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if separators.contains(&c) {
            continue;
        }
        out.push(c);
    }
    if out.is_empty() { None } else { Some(out) }
}

fn digits_of(s: &str) -> Option<Vec<u32>> {
    s.chars()
        .map(|c| c.to_digit(10).filter(|_| c.is_ascii_digit()))
        .collect()
}

fn is_repdigit(d: &[u32]) -> bool {
    d.windows(2).all(|w| w[0] == w[1])
}

/// UK NHS number: 10 digits (separators space or dash), modulus 11 with check 10 never issued,
/// England/Wales/IoM range 400–499 or 600–799 million, no repdigits.
pub fn nhs_valid(value: &str) -> bool {
    let Some(d) = compact(value, &[' ', '-']).as_deref().and_then(digits_of) else {
        return false;
    };
    if d.len() != 10 || is_repdigit(&d) {
        return false;
    }
    let prefix = d[0] * 100 + d[1] * 10 + d[2];
    if !((400..=499).contains(&prefix) || (600..=799).contains(&prefix)) {
        return false;
    }
    nhs_check_digit(&d[..9]) == Some(d[9])
}

/// The NHS check digit of nine digits, or `None` when the remainder gives 10 (never issued).
pub(crate) fn nhs_check_digit(first9: &[u32]) -> Option<u32> {
    let sum: u32 = first9.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c),
    }
}

/// The NHS modulus 11 test alone (no range or repdigit rule) on a string of exactly 10 digits.
pub fn nhs_checksum_ok(digits: &str) -> bool {
    match digits_of(digits) {
        Some(d) if d.len() == 10 => nhs_check_digit(&d[..9]) == Some(d[9]),
        _ => false,
    }
}

/// The Luhn test on a string of digits (false for anything else or an empty string).
pub fn luhn_str(digits: &str) -> bool {
    matches!(digits_of(digits), Some(d) if !d.is_empty() && luhn_ok(&d))
}

/// UK National Insurance number under HMRC's letter rules (no checksum exists).
pub fn nino_valid(value: &str) -> bool {
    let Some(s) = compact(value, &[' ', '-']) else {
        return false;
    };
    let b = s.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let (p1, p2) = (b[0], b[1]);
    if !p1.is_ascii_uppercase() || !p2.is_ascii_uppercase() {
        return false;
    }
    if b"DFIQUV".contains(&p1) || b"DFIQUVO".contains(&p2) {
        return false;
    }
    const UNUSED: [&[u8; 2]; 7] = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
    const ADMIN: [&[u8; 2]; 4] = [b"CR", b"FY", b"MW", b"NC"];
    let prefix = [p1, p2];
    if UNUSED.iter().chain(ADMIN.iter()).any(|p| **p == prefix) {
        return false;
    }
    b[2..8].iter().all(u8::is_ascii_digit) && (b'A'..=b'D').contains(&b[8])
}

/// Dutch BSN: 9 digits (separators space or dot), 11-proef with weights 9..2 and −1, not zero.
pub fn bsn_valid(value: &str) -> bool {
    let Some(d) = compact(value, &[' ', '.']).as_deref().and_then(digits_of) else {
        return false;
    };
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i64 = d[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(&x, w)| i64::from(x) * w)
        .sum::<i64>()
        - i64::from(d[8]);
    sum.rem_euclid(11) == 0
}

/// A check of the BBAN's character classes.
type BbanShape = fn(&[u8]) -> bool;

/// Length and BBAN shape per country for the countries the generator writes.
fn iban_shape(country: &str) -> Option<(usize, BbanShape)> {
    fn letters4_digits(b: &[u8]) -> bool {
        b[..4].iter().all(u8::is_ascii_uppercase) && b[4..].iter().all(u8::is_ascii_digit)
    }
    fn all_digits(b: &[u8]) -> bool {
        b.iter().all(u8::is_ascii_digit)
    }
    fn fr(b: &[u8]) -> bool {
        b[..10].iter().all(u8::is_ascii_digit)
            && b[10..21].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && b[21..].iter().all(u8::is_ascii_digit)
    }
    Some(match country {
        "GB" => (22, letters4_digits),
        "NL" => (18, letters4_digits),
        "DE" => (22, all_digits),
        "BE" => (16, all_digits),
        "ES" => (24, all_digits),
        "FR" => (27, fr),
        _ => return None,
    })
}

/// ISO 7064 MOD 97-10 remainder of an IBAN-ordered string (letters A=10 … Z=35).
pub(crate) fn mod97(chars: impl Iterator<Item = u8>) -> Option<u32> {
    let mut r: u32 = 0;
    for c in chars {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        r = if v >= 10 { (r * 100 + v) % 97 } else { (r * 10 + v) % 97 };
    }
    Some(r)
}

/// IBAN for GB, NL, DE, BE, ES, FR: country length and BBAN shape, then MOD 97-10 equal to 1.
/// Separators: spaces only (as printed in groups of four) or none.
pub fn iban_valid(value: &str) -> bool {
    let Some(s) = compact(value, &[' ']) else {
        return false;
    };
    let b = s.as_bytes();
    if b.len() < 5 || !s.is_ascii() {
        return false;
    }
    let Some((len, shape)) = iban_shape(&s[..2]) else {
        return false;
    };
    if b.len() != len || !b[2..4].iter().all(u8::is_ascii_digit) || !shape(&b[4..]) {
        return false;
    }
    mod97(b[4..].iter().chain(&b[..4]).copied()) == Some(1)
}

/// Public test card numbers (Stripe, Adyen and similar documentation). Not a person's card.
pub const TEST_PANS: [&str; 8] = [
    "4111111111111111",
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "5105105105105100",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
];

/// The Luhn (ISO/IEC 7812) test on a digit string.
pub(crate) fn luhn_ok(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Payment card: Visa 16 digits (4…), Mastercard 16 (51–55, 2221–2720), Amex 15 (34, 37);
/// separators space or dash; Luhn; not one of the public [`TEST_PANS`].
pub fn card_valid(value: &str) -> bool {
    let Some(s) = compact(value, &[' ', '-']) else {
        return false;
    };
    let Some(d) = digits_of(&s) else {
        return false;
    };
    let prefix4 = d.iter().take(4).fold(0, |a, x| a * 10 + x);
    let issuer_ok = match d.len() {
        16 => d[0] == 4 || (5100..=5599).contains(&prefix4) || (2221..=2720).contains(&prefix4),
        15 => d[0] == 3 && (d[1] == 4 || d[1] == 7),
        _ => false,
    };
    issuer_ok && luhn_ok(&d) && !TEST_PANS.contains(&s.as_str())
}

/// UK postcode by BS 7666 letter positions (`GIR 0AA` included). Upper case, one optional space.
pub fn uk_postcode_valid(value: &str) -> bool {
    let s: Vec<u8> = value.bytes().filter(|&c| c != b' ').collect();
    if value.matches(' ').count() > 1 || value.starts_with(' ') || value.ends_with(' ') {
        return false;
    }
    if s == b"GIR0AA" {
        return true;
    }
    if s.len() < 5 || s.len() > 7 {
        return false;
    }
    let (outward, inward) = s.split_at(s.len() - 3);
    const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    if !inward[0].is_ascii_digit() || !INWARD.contains(&inward[1]) || !INWARD.contains(&inward[2]) {
        return false;
    }
    const FIRST: &[u8] = b"ABCDEFGHIJKLMNOPRSTUWYZ";
    const SECOND: &[u8] = b"ABCDEFGHKLMNOPQRSTUVWXY";
    const THIRD: &[u8] = b"ABCDEFGHJKPSTUW";
    const FOURTH: &[u8] = b"ABEHMNPRVWXY";
    let dig = |c: u8| c.is_ascii_digit();
    match outward {
        [a, b] => FIRST.contains(a) && dig(*b),
        [a, b, c] => {
            FIRST.contains(a) && ((dig(*b) && (dig(*c) || THIRD.contains(c))) || (SECOND.contains(b) && dig(*c)))
        }
        [a, b, c, d] => FIRST.contains(a) && SECOND.contains(b) && dig(*c) && (dig(*d) || FOURTH.contains(d)),
        _ => false,
    }
}

/// NL postcode: four digits not starting with 0, an optional space, two upper-case letters other
/// than SA, SD, SS.
pub fn nl_postcode_valid(value: &str) -> bool {
    let b = value.as_bytes();
    let (digits, letters) = match b.len() {
        6 => (&b[..4], &b[4..]),
        7 if b[4] == b' ' => (&b[..4], &b[5..]),
        _ => return false,
    };
    digits.iter().all(u8::is_ascii_digit)
        && digits[0] != b'0'
        && letters.iter().all(u8::is_ascii_uppercase)
        && !matches!(letters, b"SA" | b"SD" | b"SS")
}

/// English and Dutch month names as written by the generator.
pub(crate) const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const MONTHS_NL: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Parses `dd/mm/yyyy`, `dd-mm-yyyy`, `yyyy-mm-dd`, `d Month yyyy` (English or Dutch month) into
/// (year, month, day) when it is a real calendar date.
pub fn parse_date(value: &str) -> Option<(u32, u32, u32)> {
    let num = |s: &str, len: std::ops::RangeInclusive<usize>| -> Option<u32> {
        if len.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = if let [a, b, c] = value.split(' ').collect::<Vec<_>>()[..] {
        let month = MONTHS_EN.iter().chain(MONTHS_NL.iter()).position(|n| *n == b)? % 12 + 1;
        (num(c, 4..=4)?, month as u32, num(a, 1..=2)?)
    } else {
        let sep = if value.contains('/') { '/' } else { '-' };
        let parts: Vec<&str> = value.split(sep).collect();
        match parts[..] {
            [a, b, c] if a.len() == 4 && sep == '-' => (num(a, 4..=4)?, num(b, 2..=2)?, num(c, 2..=2)?),
            [a, b, c] => (num(c, 4..=4)?, num(b, 2..=2)?, num(a, 2..=2)?),
            _ => return None,
        }
    };
    (d >= 1 && d <= days_in_month(y, m)).then_some((y, m, d))
}

/// Date of birth: a real date in one of the generator's formats, born 1920–2019. (Meeting dates,
/// the traps, are drawn from 2024–2027, so the oracle can tell them apart.)
pub fn dob_valid(value: &str) -> bool {
    parse_date(value).is_some_and(|(y, _, _)| (1920..=2019).contains(&y))
}

/// Passport number: UK 9 digits, or NL 2 letters + 6 letters or digits + 1 digit, never the letter O.
pub fn passport_valid(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 9 {
        return false;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..8].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b[8].is_ascii_digit()
        && !b.contains(&b'O')
}

/// E-mail address: a simple local part, `@`, dot-separated labels, an alphabetic TLD of 2+ letters.
pub fn email_valid(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._%+-".contains(&c));
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    let tld = labels.last().copied().unwrap_or("");
    local_ok && labels_ok && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_lowercase())
}

/// UK or NL phone number, national (`0…`) or international (`+44`, `+31`) form; separators
/// space, dash and the parentheses of an area code.
pub fn phone_valid(value: &str) -> bool {
    let Some(s) = compact(value, &[' ', '-', '(', ')']) else {
        return false;
    };
    let (national, country) = if let Some(rest) = s.strip_prefix("+44") {
        (rest.to_owned(), Some(44))
    } else if let Some(rest) = s.strip_prefix("+31") {
        (rest.to_owned(), Some(31))
    } else if let Some(rest) = s.strip_prefix('0') {
        (rest.to_owned(), None)
    } else {
        return false;
    };
    if !national.bytes().all(|c| c.is_ascii_digit()) || national.starts_with('0') {
        return false;
    }
    let uk = national.len() == 10 && matches!(national.as_bytes()[0], b'1' | b'2' | b'3' | b'7' | b'8');
    let nl = national.len() == 9 && (b'1'..=b'7').contains(&national.as_bytes()[0]);
    match country {
        Some(44) => uk,
        Some(_) => nl,
        None => uk || nl,
    }
}

/// Whether `value` is a genuine value of `kind` under this oracle (health terms: always false).
pub fn valid(kind: Kind, value: &str) -> bool {
    match kind {
        Kind::UkNhsNumber => nhs_valid(value),
        Kind::UkNino => nino_valid(value),
        Kind::NlBsn => bsn_valid(value),
        Kind::Iban => iban_valid(value),
        Kind::PaymentCard => card_valid(value),
        Kind::UkPostcode => uk_postcode_valid(value),
        Kind::NlPostcode => nl_postcode_valid(value),
        Kind::DateOfBirth => dob_valid(value),
        Kind::PassportNumber => passport_valid(value),
        Kind::EmailAddress => email_valid(value),
        Kind::PhoneNumber => phone_valid(value),
        _ => false,
    }
}

/// Kinds whose bare value is not sensitive enough to alert on: a positive only WITH context.
pub fn needs_context(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::UkNhsNumber | Kind::NlBsn | Kind::PaymentCard | Kind::PassportNumber | Kind::DateOfBirth
    )
}

/// Context words that make a value "with context" (EN and NL, lower case).
pub fn context_words(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::UkNhsNumber => &["nhs", "national health service", "nhs-nummer"],
        Kind::UkNino => &["national insurance", "ni number", "ni no", "nino", "insurance number"],
        Kind::NlBsn => &[
            "bsn",
            "burgerservicenummer",
            "sofinummer",
            "sofi-nummer",
            "citizen service number",
        ],
        Kind::Iban => &[
            "iban",
            "rekeningnummer",
            "bankrekening",
            "account number",
            "bank account",
            "t.n.v",
        ],
        Kind::PaymentCard => &[
            "card",
            "credit card",
            "debit card",
            "visa",
            "mastercard",
            "amex",
            "american express",
            "creditcard",
            "creditcardnummer",
            "kaartnummer",
            "pasnummer",
            "cvv",
            "cvc",
            "expiry",
            "vervaldatum",
        ],
        Kind::PassportNumber => &[
            "passport",
            "paspoort",
            "paspoortnummer",
            "travel document",
            "reisdocument",
            "identiteitskaart",
            "id-kaart",
            "documentnummer",
        ],
        Kind::DateOfBirth => &[
            "date of birth",
            "dob",
            "d.o.b",
            "born",
            "birth date",
            "geboortedatum",
            "geb",
            "geboren",
        ],
        Kind::EmailAddress => &["email", "e-mail", "mail", "e-mailadres", "mailadres"],
        Kind::PhoneNumber => &[
            "phone",
            "tel",
            "telephone",
            "mobile",
            "call",
            "telefoon",
            "telefoonnummer",
            "mobiel",
            "bel",
            "bellen",
        ],
        Kind::UkPostcode | Kind::NlPostcode => &["postcode", "post code", "address", "adres", "woonplaats"],
        _ => &[],
    }
}

/// Weaker supporting words (Purview's wider keyword lists). A value evaluated "without context"
/// must have neither these nor [`context_words`] within the window, so that the bare stratum is
/// unambiguous whatever list a detector uses.
pub fn supporting_words(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::UkNhsNumber => &[
            "patient",
            "patiënt",
            "gp",
            "health",
            "hospital",
            "dob",
            "d.o.b",
            "date of birth",
            "born",
            "geboortedatum",
        ],
        Kind::NlBsn => &["persoonsnummer", "persoonlijk nummer", "personal number", "sofi"],
        Kind::PaymentCard => &["pay", "paid", "payment", "betaal", "betaling", "betaald", "pinpas"],
        Kind::PassportNumber => &["document", "identity", "identiteit", "id"],
        Kind::DateOfBirth => &["birthday", "verjaardag", "age", "leeftijd", "jarig", "birth"],
        _ => &[],
    }
}

/// Whether one of `words` occurs (case-insensitive, not inside a longer word) within
/// [`CONTEXT_WINDOW`] characters before `start` or after `end` (byte offsets into `text`).
pub fn words_near(text: &str, start: usize, end: usize, words: &[&str]) -> bool {
    let start = floor_boundary(text, start.min(text.len()));
    let end = floor_boundary(text, end.clamp(start, text.len()));
    let lo = text[..start]
        .char_indices()
        .rev()
        .nth(CONTEXT_WINDOW - 1)
        .map_or(0, |(i, _)| i);
    let hi = text[end..]
        .char_indices()
        .nth(CONTEXT_WINDOW)
        .map_or(text.len(), |(i, _)| end + i);
    let window = text[lo..hi].to_lowercase();
    words.iter().any(|w| contains_word(&window, w))
}

/// Whether a context word of `kind` is near the span.
pub fn has_context(kind: Kind, text: &str, start: usize, end: usize) -> bool {
    words_near(text, start, end, context_words(kind))
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn contains_word(haystack: &str, word: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    haystack.match_indices(word).any(|(i, w)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + w.len()..].chars().next();
        let edge_after = !word.ends_with(|c: char| c.is_alphanumeric()) || !is_word(after);
        !is_word(before) && edge_after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_examples() {
        assert!(
            !nhs_valid("943 476 5919"),
            "NHS Digital's example: valid checksum, 9xx test range"
        );
        assert!(nhs_checksum_ok("9434765919"));
        assert!(nhs_valid("401 023 2137"));
        assert!(nhs_valid("612-345-6784"));
        assert!(!nhs_valid("401 023 2138"));
        assert!(!nhs_valid("444 444 4444"), "repdigits pass mod 11 but are rejected");
        assert!(!nhs_valid("0032698674"), "outside the allocated ranges");
        assert!(bsn_valid("111222333"));
        assert!(bsn_valid("1234.56.782"));
        assert!(!bsn_valid("123456789"));
        assert!(iban_valid("GB29 NWBK 6016 1331 9268 19"));
        assert!(iban_valid("NL91ABNA0417164300"));
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("BE68 5390 0754 7034"));
        assert!(iban_valid("ES91 2100 0418 4502 0005 1332"));
        assert!(iban_valid("FR14 2004 1010 0505 0001 3M02 606"));
        assert!(!iban_valid("GB29 NWBK 6016 1331 9268 18"));
        assert!(card_valid("4929 1234 5678 9012") == luhn_ok(&digits_of("4929123456789012").unwrap()));
        assert!(card_valid("2720 9927 2099 2729"));
        assert!(!card_valid("4111 1111 1111 1111"), "public test PAN");
        assert!(nino_valid("AB 12 34 56 C"));
        assert!(!nino_valid("QQ 12 34 56 A"));
        assert!(!nino_valid("CR123456A"));
        assert!(uk_postcode_valid("SW1A 1AA"));
        assert!(uk_postcode_valid("EC1A 1BB"));
        assert!(uk_postcode_valid("M1 1AE"));
        assert!(!uk_postcode_valid("QA1 1AA"));
        assert!(!uk_postcode_valid("M1 1CA"));
        assert!(nl_postcode_valid("1234 AB"));
        assert!(!nl_postcode_valid("1234 SS"));
        assert!(!nl_postcode_valid("0234 AB"));
        assert!(dob_valid("29/02/2000"));
        assert!(!dob_valid("29/02/1999"));
        assert!(dob_valid("3 maart 1985"));
        assert!(dob_valid("1985-03-03"));
        assert!(!dob_valid("3 March 2025"));
        assert!(passport_valid("NW7K3F8P4"));
        assert!(!passport_valid("NO7K3F8P4"));
        assert!(phone_valid("+44 7700 900123"));
        assert!(phone_valid("06-12345678"));
        assert!(phone_valid("020 7946 0958"));
        assert!(!phone_valid("943 476 5919"));
        assert!(email_valid("a.b@example.co.uk"));
    }

    #[test]
    fn test_pans_pass_luhn_so_only_the_list_rejects_them() {
        for pan in TEST_PANS {
            assert!(luhn_ok(&digits_of(pan).unwrap()), "{pan}");
        }
    }

    #[test]
    fn context_words_respect_word_edges_and_window() {
        let text = "Her NHS number is 401 023 2137.";
        let s = text.find("401").unwrap();
        assert!(has_context(Kind::UkNhsNumber, text, s, s + 12));
        let far = format!("NHS {} 401 023 2137", "x".repeat(CONTEXT_WINDOW));
        let s = far.find("401").unwrap();
        assert!(!has_context(Kind::UkNhsNumber, &far, s, s + 12));
        assert!(!words_near("scardinal 4929", 10, 14, &["card"]));
        assert!(words_near("D.O.B. 03/04/1985", 7, 17, &["d.o.b"]));
    }
}
