//! Property tests: checksum error detection, format invariance, normalisation, no panics.

use proptest::prelude::*;
use sealpost_guard::Kind;
use sealpost_guard::content::{scan, validate};

/// A valid NHS number in the England/Wales 4xx range from 8 free digits (None if check is 10).
fn nhs_from(tail: &[u8]) -> Option<String> {
    let mut d = vec![4u8];
    d.extend_from_slice(tail);
    let sum: u32 = d.iter().zip((2..=10).rev()).map(|(&x, w)| u32::from(x) * w).sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return None,
        c => c,
    };
    d.push(check as u8);
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    (validate::nhs_number(&s).is_some()).then_some(s)
}

/// A valid BSN from 8 free digits (None when no last digit fits).
fn bsn_from(head: &[u8]) -> Option<String> {
    let sum: i32 = head.iter().zip((2..=9).rev()).map(|(&x, w)| i32::from(x) * w).sum();
    let last = sum.rem_euclid(11);
    if last > 9 || head.iter().all(|&x| x == 0) {
        return None;
    }
    let mut s: String = head.iter().map(|x| char::from(b'0' + x)).collect();
    s.push(char::from(b'0' + last as u8));
    Some(s)
}

fn variants(s: &str) -> Vec<String> {
    s.chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            (0..10).filter(move |&x| x != d).map(move |x| {
                let mut v: Vec<char> = s.chars().collect();
                v[i] = char::from_digit(x, 10).unwrap();
                v.into_iter().collect::<String>()
            })
        })
        .collect()
}

fn transpositions(s: &str) -> Vec<String> {
    let v: Vec<char> = s.chars().collect();
    (0..v.len() - 1)
        .filter(|&i| v[i] != v[i + 1])
        .map(|i| {
            let mut w = v.clone();
            w.swap(i, i + 1);
            w.into_iter().collect()
        })
        .collect()
}

fn kinds(text: &str) -> Vec<Kind> {
    scan(text).into_iter().map(|m| m.kind).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nhs_substitutions_and_transpositions_fail(tail in proptest::collection::vec(0u8..10, 8)) {
        let Some(nhs) = nhs_from(&tail) else { return Ok(()) };
        prop_assert_eq!(kinds(&format!("NHS number {nhs}")), vec![Kind::UkNhsNumber]);
        for bad in variants(&nhs).into_iter().chain(transpositions(&nhs)) {
            prop_assert!(!validate::nhs_checksum(&bad), "{}", bad);
            // Nothing, except that a well-formed Dutch national number (0 + 9 digits) stays a
            // phone number: the documented exception.
            let k = kinds(&format!("NHS number {bad}"));
            let phone_ok = bad.starts_with('0') && k == vec![Kind::PhoneNumber];
            prop_assert!(k.is_empty() || phone_ok, "{} {:?}", bad, k);
        }
    }

    #[test]
    fn bsn_substitutions_and_transpositions_fail(head in proptest::collection::vec(0u8..10, 8)) {
        let Some(bsn) = bsn_from(&head) else { return Ok(()) };
        prop_assert!(validate::bsn(&bsn));
        for bad in variants(&bsn).into_iter().chain(transpositions(&bsn)) {
            prop_assert!(!validate::bsn(&bad), "{}", bad);
            prop_assert!(kinds(&format!("BSN {bad}")).is_empty(), "{}", bad);
        }
    }

    #[test]
    fn formatted_and_compact_agree(tail in proptest::collection::vec(0u8..10, 8), head in proptest::collection::vec(0u8..10, 9)) {
        if let Some(n) = nhs_from(&tail) {
            let (a, b, c) = (&n[..3], &n[3..6], &n[6..]);
            for f in [n.clone(), format!("{a} {b} {c}"), format!("{a}-{b}-{c}")] {
                prop_assert_eq!(kinds(&format!("NHS no: {f}")), vec![Kind::UkNhsNumber], "{}", f);
            }
        }
        let digits: String = head.iter().map(|x| char::from(b'0' + x)).collect();
        let valid = validate::bsn(&digits);
        let (a, b, c) = (&digits[..3], &digits[3..6], &digits[6..]);
        for f in [digits.clone(), format!("{a} {b} {c}"), format!("{a}.{b}.{c}"), format!("{}.{}.{}", &digits[..4], &digits[4..6], &digits[6..])] {
            let found = kinds(&format!("BSN: {f}")).contains(&Kind::NlBsn);
            prop_assert_eq!(found, valid, "{}", f);
        }
    }

    #[test]
    fn unicode_variants_point_into_the_original(tail in proptest::collection::vec(0u8..10, 8), which in 0usize..4) {
        let Some(n) = nhs_from(&tail) else { return Ok(()) };
        let (a, b, c) = (&n[..3], &n[3..6], &n[6..]);
        let full: String = n.chars().map(|ch| char::from_u32(ch as u32 - '0' as u32 + 0xFF10).unwrap()).collect();
        let value = match which {
            0 => format!("{a}\u{200B}{b}\u{2060}{c}"),
            1 => format!("{a}\u{00A0}{b}\u{00A0}{c}"),
            2 => full,
            _ => format!("{a}\u{2013}{b}\u{2013}{c}"),
        };
        let text = format!("NHS nummer: {value} ✓");
        let m = scan(&text);
        prop_assert_eq!(m.len(), 1);
        prop_assert_eq!(&text[m[0].start..m[0].end], value.as_str());
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        check_spans(&s)?;
    }

    #[test]
    fn digit_heavy_text_never_panics(s in "[0-9 +()./@A-Za-z\u{00A0}\u{200B}０-９-]{0,120}") {
        check_spans(&s)?;
        check_spans(&format!("NHS BSN IBAN card passport DOB tel {s}"))?;
    }
}

fn check_spans(s: &str) -> Result<(), TestCaseError> {
    let m = scan(s);
    for w in m.windows(2) {
        prop_assert!(w[0].end <= w[1].start);
    }
    for x in &m {
        prop_assert!(x.start < x.end && x.end <= s.len());
        prop_assert!(s.is_char_boundary(x.start) && s.is_char_boundary(x.end));
        let v = &s[x.start..x.end];
        let _ = sealpost_guard::content::mask(x.kind, v);
        let _ = sealpost_guard::content::canonical(x.kind, v);
    }
    Ok(())
}
