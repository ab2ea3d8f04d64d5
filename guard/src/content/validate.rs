//! Validation rules for the candidate values, on canonical (compact, upper-case ASCII) input.
//!
//! Each function answers for one value; the scanner decides with context whether to report it.
//! Rules and sources: research notes §1.2 and §1.3.

/// Where an NHS-format number comes from, by its first three digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NhsRange {
    /// 400–499 and 600–799 million: England, Wales, Isle of Man.
    EnglandWales,
    /// 010–319 million with a valid DDMMYY start: Scottish CHI number.
    ScotlandChi,
    /// 320–399 million: Northern Ireland H&C number.
    NorthernIreland,
    /// 999 000 0000 – 999 999 9999: "valid but never issued" (test data).
    Test,
}

fn digits_of(s: &str) -> Option<Vec<u8>> {
    s.bytes()
        .map(|b| if b.is_ascii_digit() { Some(b - b'0') } else { None })
        .collect()
}

fn is_repdigit(d: &[u8]) -> bool {
    d.windows(2).all(|w| w[0] == w[1])
}

/// A valid DDMMYY (two-digit year, so 29 February is accepted in years divisible by 4).
fn valid_ddmmyy(d: &[u8]) -> bool {
    let day = d[0] * 10 + d[1];
    let month = d[2] * 10 + d[3];
    let year = d[4] * 10 + d[5];
    let max = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=max).contains(&day)
}

/// The NHS modulus 11 check: weights 10..2 on digits 1–9; a check value of 10 is never issued.
pub fn nhs_checksum(digits: &str) -> bool {
    let Some(d) = digits_of(digits) else { return false };
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9].iter().zip((2..=10).rev()).map(|(&x, w)| u32::from(x) * w).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == u32::from(d[9])
}

/// A valid NHS-format number (10 digits): checksum, not a repdigit, in an allocated range.
pub fn nhs_number(digits: &str) -> Option<NhsRange> {
    if !nhs_checksum(digits) {
        return None;
    }
    let d = digits_of(digits)?;
    if is_repdigit(&d) {
        return None;
    }
    let prefix = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    match prefix {
        400..=499 | 600..=799 => Some(NhsRange::EnglandWales),
        999 => Some(NhsRange::Test),
        320..=399 => Some(NhsRange::NorthernIreland),
        10..=319 if valid_ddmmyy(&d[..6]) => Some(NhsRange::ScotlandChi),
        _ => None,
    }
}

/// The BSN 11-proef (weights 9..2 and −1) on 9 digits, or 8 digits padded with a leading zero;
/// all zeros is rejected.
pub fn bsn(digits: &str) -> bool {
    let Some(mut d) = digits_of(digits) else { return false };
    if d.len() == 8 {
        d.insert(0, 0);
    }
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i32 = d[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(&x, w)| i32::from(x) * w)
        .sum::<i32>()
        - i32::from(d[8]);
    sum.rem_euclid(11) == 0
}

/// The Luhn check (ISO/IEC 7812).
pub fn luhn(digits: &str) -> bool {
    let Some(d) = digits_of(digits) else { return false };
    if d.is_empty() {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
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

/// The card lengths an issuer prefix allows, or `None` for an unknown prefix.
fn card_lengths(d: &str) -> Option<&'static [usize]> {
    let p = |n: usize| d.get(..n).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    const VISA: &[usize] = &[13, 16, 19];
    const SIXTEEN: &[usize] = &[16];
    const AMEX: &[usize] = &[15];
    const LONG: &[usize] = &[16, 17, 18, 19];
    const DINERS: &[usize] = &[14, 15, 16, 17, 18, 19];
    const MAESTRO: &[usize] = &[13, 14, 15, 16, 17, 18, 19];
    match () {
        _ if p(1) == 4 => Some(VISA),
        _ if (51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4)) => Some(SIXTEEN),
        _ if p(2) == 34 || p(2) == 37 => Some(AMEX),
        _ if p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3)) => Some(LONG),
        _ if (622_126..=622_925).contains(&p(6)) => Some(LONG),
        _ if (3528..=3589).contains(&p(4)) => Some(LONG),
        _ if (300..=305).contains(&p(3)) || p(4) == 3095 || matches!(p(2), 36 | 38 | 39) => Some(DINERS),
        _ if p(2) == 50 || (56..=69).contains(&p(2)) => Some(MAESTRO),
        // UATP (Presidio accepts the 1-prefix); 13-digit values starting with 1 are epoch
        // milliseconds and excluded by the length.
        _ if p(1) == 1 => Some(AMEX),
        _ => None,
    }
}

/// A payment card number: 13–19 digits, a known issuer prefix and length, Luhn.
pub fn payment_card(digits: &str) -> bool {
    let n = digits.len();
    if !(13..=19).contains(&n) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    card_lengths(digits).is_some_and(|l| l.contains(&n)) && luhn(digits)
}

/// IBAN length per country (ISO 13616 registry): all SEPA countries and other common ones.
pub fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AE" => 23,
        "AL" => 28,
        "AT" => 20,
        "AZ" => 28,
        "BA" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "BY" => 28,
        "CH" => 21,
        "CR" => 22,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "DO" => 28,
        "EE" => 20,
        "EG" => 29,
        "ES" => 24,
        "FI" => 18,
        "FO" => 18,
        "FR" => 27,
        "GB" => 22,
        "GE" => 22,
        "GI" => 23,
        "GL" => 18,
        "GR" => 27,
        "GT" => 28,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IQ" => 23,
        "IS" => 26,
        "IT" => 27,
        "JO" => 30,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LC" => 32,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MD" => 24,
        "ME" => 22,
        "MK" => 19,
        "MR" => 27,
        "MT" => 31,
        "MU" => 30,
        "NL" => 18,
        "NO" => 15,
        "PK" => 24,
        "PL" => 28,
        "PS" => 29,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "SA" => 24,
        "SC" => 31,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "ST" => 25,
        "SV" => 28,
        "TL" => 23,
        "TN" => 24,
        "TR" => 26,
        "UA" => 29,
        "VA" => 22,
        "VG" => 24,
        "XK" => 20,
        _ => return None,
    })
}

/// The country length and structure of an IBAN (compact, upper case), before the checksum.
pub fn iban_structure(iban: &str) -> bool {
    let b = iban.as_bytes();
    if b.len() < 5 || !b[..2].iter().all(u8::is_ascii_uppercase) || !b[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !b[4..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return false;
    }
    let Some(len) = iban_length(&iban[..2]) else {
        return false;
    };
    if b.len() != len || matches!(&iban[2..4], "00" | "01" | "99") {
        return false;
    }
    let bban = &b[4..];
    let letters = |r: std::ops::Range<usize>| bban[r].iter().all(u8::is_ascii_uppercase);
    let digits = |r: std::ops::Range<usize>| bban[r].iter().all(u8::is_ascii_digit);
    match &iban[..2] {
        "GB" => letters(0..4) && digits(4..18),
        "NL" => letters(0..4) && digits(4..14),
        "DE" | "BE" | "AT" | "PL" | "HU" | "DK" | "FI" | "NO" | "SE" | "SK" | "CZ" | "ES" | "SI" | "EE" | "LT"
        | "HR" | "RS" | "BA" | "ME" | "MK" => digits(0..bban.len()),
        "IE" => letters(0..4) && digits(4..18),
        _ => true,
    }
}

/// ISO 7064 MOD 97-10: the rearranged number mod 97 is 1.
pub fn iban_checksum(iban: &str) -> bool {
    let b = iban.as_bytes();
    if b.len() < 5 {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A valid IBAN (compact, upper case): structure and checksum.
pub fn iban(iban: &str) -> bool {
    iban_structure(iban) && iban_checksum(iban)
}

const NINO_BANNED_FIRST: &[u8] = b"DFIQUV";
const NINO_BANNED_SECOND: &[u8] = b"DFIQUVO";
const NINO_BANNED_PREFIXES: &[&str] = &[
    "BG", "GB", "KN", "NK", "NT", "TN", "ZZ", "CR", "FY", "MW", "NC", "PP", "PY", "PZ", "OO",
];

/// A UK National Insurance number (compact, upper case, 9 characters) under HMRC's letter rules.
pub fn nino(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let (l1, l2) = (b[0], b[1]);
    l1.is_ascii_uppercase()
        && l2.is_ascii_uppercase()
        && !NINO_BANNED_FIRST.contains(&l1)
        && !NINO_BANNED_SECOND.contains(&l2)
        && !NINO_BANNED_PREFIXES.contains(&&v[..2])
        && b[2..8].iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&b[8])
}

const PC_FIRST: &[u8] = b"ABCDEFGHIJKLMNOPRSTUWYZ"; // not Q V X
const PC_SECOND: &[u8] = b"ABCDEFGHKLMNOPQRSTUVWXY"; // not I J Z
const PC_THIRD: &[u8] = b"ABCDEFGHJKPSTUW";
const PC_FOURTH: &[u8] = b"ABEHMNPRVWXY";
const PC_INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ"; // not C I K M O V

/// A UK postcode (outward and inward, upper case, without the space) by BS 7666 letter rules.
pub fn uk_postcode(v: &str) -> bool {
    let b = v.as_bytes();
    if v == "GIR0AA" {
        return true;
    }
    if !(5..=7).contains(&b.len()) {
        return false;
    }
    let (out, inw) = b.split_at(b.len() - 3);
    if !(inw[0].is_ascii_digit() && PC_INWARD.contains(&inw[1]) && PC_INWARD.contains(&inw[2])) {
        return false;
    }
    let d = |c: u8| c.is_ascii_digit();
    if !PC_FIRST.contains(&out[0]) {
        return false;
    }
    match *out {
        [_, a] => d(a),
        [_, a, b] if d(a) => d(b) || PC_THIRD.contains(&b),
        [_, a, b] => PC_SECOND.contains(&a) && d(b),
        [_, a, b, c] => PC_SECOND.contains(&a) && d(b) && (d(c) || PC_FOURTH.contains(&c)),
        _ => false,
    }
}

/// A Dutch postcode (`1234AB`, compact, upper case): first digit not 0; SA, SD, SS unused.
pub fn nl_postcode(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 6
        && (b'1'..=b'9').contains(&b[0])
        && b[1..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_uppercase)
        && !matches!(&v[4..], "SA" | "SD" | "SS")
}

/// A passport number shape (compact, upper case): UK 9 digits or 2 letters + 7 digits; NL 2
/// letters + 6 letters or digits + 1 digit, never the letter O.
pub fn passport(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 9 {
        return false;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..8].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && b[8].is_ascii_digit()
        && !b.contains(&b'O')
}

/// A real calendar date with a year in 1900..=2100.
pub fn date(year: u32, month: u32, day: u32) -> bool {
    if !(1900..=2100).contains(&year) {
        return false;
    }
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let max = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=max).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs() {
        assert_eq!(nhs_number("4010232137"), Some(NhsRange::EnglandWales));
        assert_eq!(nhs_number("9990000018"), Some(NhsRange::Test));
        assert_eq!(
            nhs_number("9434765919"),
            None,
            "9xx outside the test range is unallocated"
        );
        assert_eq!(nhs_number("0101801238"), Some(NhsRange::ScotlandChi));
        assert_eq!(nhs_number("3201234567"), Some(NhsRange::NorthernIreland));
        assert_eq!(nhs_number("4010232138"), None);
        assert_eq!(nhs_number("0032698674"), None, "checksum-valid but unallocated");
        assert!(nhs_checksum("0032698674"));
        assert_eq!(nhs_number("4444444444"), None, "repdigit");
        assert!(nhs_checksum("4444444444"));
        assert_eq!(nhs_number("2213951837"), None, "CHI range with month 13");
    }

    #[test]
    fn bsn_rule() {
        assert!(bsn("111222333"));
        assert!(bsn("123456782"));
        assert!(!bsn("123456789"));
        assert!(!bsn("000000000"));
    }

    #[test]
    fn cards() {
        assert!(payment_card("4012888888881881"));
        assert!(payment_card("2221000000000009"));
        assert!(payment_card("2720992720992729"));
        assert!(payment_card("371449635398431"));
        assert!(!payment_card("1748503543012"));
        assert!(!payment_card("4012888888881882"));
    }

    #[test]
    fn ibans() {
        assert!(iban("GB29NWBK60161331926819"));
        assert!(iban("NL91ABNA0417164300"));
        assert!(iban("DE89370400440532013000"));
        assert!(!iban("NL911BNA0417164300"));
        assert!(!iban("NL91ABNA0417164301"));
    }

    #[test]
    fn ninos() {
        assert!(nino("AB123456C"));
        assert!(!nino("QQ123456A"));
        assert!(!nino("CR123456A"));
        assert!(!nino("AO123456A"));
        assert!(!nino("AB123456E"));
    }

    #[test]
    fn postcodes() {
        for ok in [
            "M11AA", "M601NW", "W1A1HQ", "CR26XH", "DN551PT", "EC1A1BB", "GIR0AA", "SW1A1AA",
        ] {
            assert!(uk_postcode(ok), "{ok}");
        }
        for bad in ["QA11AA", "VA11AA", "XA11AA", "M11CA", "M11AI", "1A11AA"] {
            assert!(!uk_postcode(bad), "{bad}");
        }
        assert!(nl_postcode("1234AB"));
        assert!(!nl_postcode("0234AB"));
        assert!(!nl_postcode("1234SS"));
    }
}
