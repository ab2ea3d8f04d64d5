//! Detector behaviour through the public API: valid and invalid values per kind, context rules,
//! traps, normalisation, masking.

use sealpost_guard::content::{Match, canonical, mask, scan};
use sealpost_guard::{Confidence, Kind};

/// (kind, value as written, confidence) of every match.
fn found(text: &str) -> Vec<(Kind, &str, Confidence)> {
    scan(text)
        .into_iter()
        .map(|m| (m.kind, &text[m.start..m.end], m.confidence))
        .collect()
}

fn of_kind(text: &str, kind: Kind) -> Vec<&str> {
    found(text).into_iter().filter(|f| f.0 == kind).map(|f| f.1).collect()
}

fn only(text: &str) -> (Kind, &str, Confidence) {
    let f = found(text);
    assert_eq!(f.len(), 1, "{text:?}: {f:?}");
    f[0]
}

#[test]
fn nhs_number_with_context_in_every_format() {
    for v in [
        "485 777 3457",
        "485-777-3457",
        "4857773457",
        "401-023-2137",
        "999 000 0018",
        "320 123 4567",
    ] {
        let text = format!("Patient NHS number: {v}.");
        assert_eq!(only(&text), (Kind::UkNhsNumber, v, Confidence::High), "{v}");
    }
    // Scottish CHI range only with a valid DDMMYY start.
    assert_eq!(of_kind("CHI number 010 180 1238", Kind::UkNhsNumber), ["010 180 1238"]);
}

#[test]
fn nhs_number_needs_context_range_and_checksum() {
    assert!(found("Reference 485 777 3457 attached").is_empty(), "no context");
    for bad in [
        "485 777 3458",
        "4444444444",
        "0032698674",
        "943 476 5919",
        "221 395 1837",
    ] {
        let text = format!("NHS number {bad}");
        assert!(found(&text).is_empty(), "{bad}: {:?}", found(&text));
    }
    // Mixed separators or a longer run of groups is not an NHS number.
    assert!(found("NHS 485 777-3457").is_empty());
    assert!(found("NHS 485 777 3457 12").is_empty());
    assert!(found("NHS 12 485 777 3457").is_empty());
}

#[test]
fn nino_rules() {
    assert_eq!(
        only("AB 12 34 56 C"),
        (Kind::UkNino, "AB 12 34 56 C", Confidence::Medium)
    );
    assert_eq!(
        only("AB-12-34-56-C"),
        (Kind::UkNino, "AB-12-34-56-C", Confidence::Medium)
    );
    assert_eq!(
        only("NI number: ab123456c"),
        (Kind::UkNino, "ab123456c", Confidence::High)
    );
    assert_eq!(
        only("National Insurance AB123456C"),
        (Kind::UkNino, "AB123456C", Confidence::High)
    );
    assert!(found("ab 12 34 56 c").is_empty(), "lower case without context");
    for bad in [
        "QQ123456A",
        "QQ 12 34 56 A",
        "CR123456A",
        "FY123456A",
        "MW123456A",
        "NC123456A",
        "PP123456A",
        "OO123456A",
        "BG123456A",
        "GB123456A",
        "ZZ123456A",
        "AB123456E",
        "DA123456A",
        "AO123456A",
        "AB 12-34 56 C",
    ] {
        let text = format!("national insurance number {bad}");
        assert!(of_kind(&text, Kind::UkNino).is_empty(), "{bad}");
    }
}

#[test]
fn bsn_only_with_context_in_every_format() {
    for v in ["123456782", "123 456 782", "123.456.782", "1234.56.782", "111222333"] {
        assert_eq!(only(&format!("BSN: {v}")), (Kind::NlBsn, v, Confidence::High), "{v}");
        assert!(found(&format!("Ordernummer {v}")).is_empty(), "{v} without context");
    }
    // 8 digits are padded with a leading zero.
    assert_eq!(of_kind("burgerservicenummer 10000008", Kind::NlBsn), ["10000008"]);
    for bad in ["123456789", "000000000", "123 456 783", "1234.56.783"] {
        assert!(found(&format!("BSN {bad}")).is_empty(), "{bad}");
    }
}

#[test]
fn iban_alone_and_with_context() {
    for v in [
        "GB29 NWBK 6016 1331 9268 19",
        "GB29NWBK60161331926819",
        "NL91ABNA0417164300",
        "NL91 ABNA 0417 1643 00",
        "DE89 3704 0044 0532 0130 00",
        "BE68539007547034",
        "FR14 2004 1010 0505 0001 3M02 606",
    ] {
        assert_eq!(
            only(&format!("pay to {v} please")),
            (Kind::Iban, v, Confidence::Medium),
            "{v}"
        );
        assert_eq!(only(&format!("IBAN: {v}")), (Kind::Iban, v, Confidence::High), "{v}");
    }
    // Trailing text does not spoil the match (progressive shortening).
    assert_eq!(
        of_kind("GB29 NWBK 6016 1331 9268 19 2 days", Kind::Iban),
        ["GB29 NWBK 6016 1331 9268 19"]
    );
    for bad in [
        "NL91 ABNA 0417 1643 01",
        "NL91 1BNA 0417 1643 00",
        "GB29 NWBK 6016 1331 9268 1",
        "XX29NWBK60161331926819",
    ] {
        assert!(found(&format!("IBAN {bad}")).is_empty(), "{bad}");
    }
}

#[test]
fn payment_cards_only_with_context() {
    for v in [
        "4012 8888 8888 1881",
        "4012-8888-8888-1881",
        "4012888888881881",
        "2221 0000 0000 0009",
        "2720992720992729",
        "3714 496353 98431",
        "5555555555554444",
        "6011000400000000",
        "3528000700000000",
        "30569309025904",
    ] {
        assert_eq!(
            only(&format!("Card number: {v}")),
            (Kind::PaymentCard, v, Confidence::High),
            "{v}"
        );
        assert!(found(&format!("Invoice {v}")).is_empty(), "{v} without context");
    }
    for bad in ["4012 8888 8888 1882", "1748503543012", "9012 8888 8888 1881"] {
        assert!(found(&format!("credit card {bad}")).is_empty(), "{bad}");
    }
}

#[test]
fn postcodes() {
    assert_eq!(only("SW1A 1AA"), (Kind::UkPostcode, "SW1A 1AA", Confidence::Low));
    assert_eq!(
        only("Address: SW1A 1AA"),
        (Kind::UkPostcode, "SW1A 1AA", Confidence::Medium)
    );
    assert_eq!(
        only("address: sw1a 1aa"),
        (Kind::UkPostcode, "sw1a 1aa", Confidence::Medium)
    );
    assert!(found("sw1a 1aa").is_empty(), "lower case without context");
    assert_eq!(only("GIR 0AA"), (Kind::UkPostcode, "GIR 0AA", Confidence::Low));
    assert_eq!(only("1234 AB"), (Kind::NlPostcode, "1234 AB", Confidence::Low));
    assert_eq!(
        only("Adres: Dorpsstraat 1, 1234AB Ergens"),
        (Kind::NlPostcode, "1234AB", Confidence::Medium)
    );
    assert_eq!(
        only("postcode 1234 ab"),
        (Kind::NlPostcode, "1234 ab", Confidence::Medium)
    );
    for bad in [
        "0234 AB", "1234 SS", "1234 SA", "1234 SD", "1234 ab", "QA1 1AA", "M1 1CA",
    ] {
        assert!(found(bad).is_empty(), "{bad}: {:?}", found(bad));
    }
}

#[test]
fn dates_of_birth_only_right_after_dob_words() {
    for (text, v) in [
        ("DOB: 01/02/1980", "01/02/1980"),
        ("Date of birth 1-2-1980", "1-2-1980"),
        ("geboortedatum: 01.02.1980", "01.02.1980"),
        ("born 1980-02-01", "1980-02-01"),
        ("geb. 3 mrt. 1975", "3 mrt. 1975"),
        ("D.O.B. 12 March 1975", "12 March 1975"),
        ("geboren op 29 februari 2000", "29 februari 2000"),
    ] {
        assert_eq!(of_kind(text, Kind::DateOfBirth), [v], "{text}");
    }
    assert!(found("Meeting on 01/02/2024").is_empty());
    assert!(found("DOB: 31/02/1980").is_empty(), "not a calendar date");
    assert!(found("DOB: 01/02/1899").is_empty(), "before 1900");
    assert!(
        found("date of birth unknown to us; the next meeting is on Tuesday, 03/04/2024").is_empty(),
        "too far"
    );
    // The DOB word belongs to the first date only.
    assert_eq!(
        of_kind("DOB: 01/02/1980; Appointment: 03/04/2024", Kind::DateOfBirth),
        ["01/02/1980"]
    );
}

#[test]
fn passports_only_with_context() {
    for v in ["123456789", "AB1234567", "SPECI2014", "XR1234567"] {
        assert_eq!(
            only(&format!("Paspoortnummer: {v}")),
            (Kind::PassportNumber, v, Confidence::High),
            "{v}"
        );
        assert!(found(&format!("Reference {v}")).is_empty(), "{v}");
    }
    assert!(found("passport SPECO2014").is_empty(), "no letter O in NL numbers");
    assert!(found("passport abcde1234").is_empty(), "lower case NL form");
}

#[test]
fn emails() {
    assert_eq!(
        only("write to j.doe+x@example.org."),
        (Kind::EmailAddress, "j.doe+x@example.org", Confidence::Medium)
    );
    assert_eq!(only("e-mail: a@b.co"), (Kind::EmailAddress, "a@b.co", Confidence::High));
    for bad in ["a@b", "a@b.c1", "a@localhost", "@example.org", "info@presidio."] {
        assert!(found(bad).is_empty(), "{bad}");
    }
}

#[test]
fn phones() {
    for v in [
        "+44 20 7946 0018",
        "+44 (0)20 7946 0018",
        "+447700900123",
        "020 7946 0018",
        "07700 900123",
        "(020) 7946 0018",
        "+31 6 12345678",
        "+31 (0)20 123 4567",
        "06-12345678",
        "020-1234567",
        "0612345678",
        "+49 30 1234567",
        "+1 415 555 0132",
    ] {
        assert_eq!(
            only(&format!("see {v} today")),
            (Kind::PhoneNumber, v, Confidence::Medium),
            "{v}"
        );
        assert_eq!(
            only(&format!("tel. {v}")),
            (Kind::PhoneNumber, v, Confidence::High),
            "{v}"
        );
    }
    for bad in [
        "07777 777777",
        "+44 20 7946 00",
        "0 1 2 3 4 5 6 7 8 9",
        "+0 123 456 789",
    ] {
        assert!(of_kind(bad, Kind::PhoneNumber).is_empty(), "{bad}");
    }
}

#[test]
fn phone_digits_never_become_identifiers() {
    // 7700900123 passes nothing here, but 10 digits after +44 must never be read as NHS, and
    // 9 digits after +31 6 never as a BSN, whatever the context.
    // (4… is no UK number range, so nothing at all is reported.)
    assert!(found("NHS number +44 4857773457").is_empty());
    assert!(of_kind("BSN +31 123456782", Kind::NlBsn).is_empty());
    assert_eq!(of_kind("BSN +31 123456782", Kind::PhoneNumber), ["+31 123456782"]);
    assert_eq!(
        of_kind("NHS nummer: +44 7485 777345", Kind::PhoneNumber),
        ["+44 7485 777345"]
    );
}

#[test]
fn checksum_failures_report_nothing_at_all() {
    // Shapes of checksum kinds with their context, one digit off: no match of any kind.
    for text in [
        "NHS number 485 777 3458",
        "BSN 123456783",
        "paspoort en BSN 123456783",
        "IBAN NL91 ABNA 0417 1643 01",
        "Card number 4012 8888 8888 1882",
        "passport number and credit card 4012888888881882",
    ] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
    // A well-formed Dutch mobile number that is also an NHS-shaped number stays a phone number.
    assert_eq!(only("NHS, tel 0612345678").0, Kind::PhoneNumber);
}

#[test]
fn trap_order_numbers_and_timestamps() {
    for text in [
        "Order 4003 2219 87 shipped",
        "NHS order 4003 2219 87",
        "credit card ts 1748503543012",
        "Ticket 1111111111 for the NHS",
        "NHS 0000000000",
        "BSN 000000000",
        "HMRC example QQ123456A",
        "HMRC example QQ 12 34 56 A with national insurance",
    ] {
        assert!(found(text).is_empty(), "{text}: {:?}", found(text));
    }
}

#[test]
fn health_terms() {
    assert_eq!(
        only("the cancer strategy"),
        (Kind::HealthTerm, "cancer", Confidence::Low)
    );
    assert_eq!(
        only("Mrs Jones has diabetes"),
        (Kind::HealthTerm, "diabetes", Confidence::High)
    );
    assert_eq!(
        only("cliënt heeft een PSYCHOSE"),
        (Kind::HealthTerm, "PSYCHOSE", Confidence::High)
    );
    assert!(found("prediabetesx").is_empty(), "whole words only");
    let m = found("Patient NHS number 485 777 3457: chemotherapy");
    assert!(
        m.contains(&(Kind::HealthTerm, "chemotherapy", Confidence::High)),
        "{m:?}"
    );
    // An identifier counts as person evidence.
    let m = found("BSN 123456782. Opname in de ggz.");
    assert!(m.contains(&(Kind::HealthTerm, "ggz", Confidence::High)), "{m:?}");
    assert_eq!(
        of_kind("Mental health act, sectioned", Kind::HealthTerm),
        ["Mental health act", "sectioned"]
    );
}

#[test]
fn csv_lines() {
    let csv = "name: A; NHS number: 485 777 3457; DOB: 01/02/1980; phone: 07700 900123; condition: asthma\n\
               name: B; NHS number: 401-023-2137; DOB: 3 May 1975; phone: +31 6 12345678; condition: HIV";
    let kinds: Vec<Kind> = scan(csv).iter().map(|m| m.kind).collect();
    use Kind::*;
    assert_eq!(
        kinds,
        [
            UkNhsNumber,
            DateOfBirth,
            PhoneNumber,
            HealthTerm,
            UkNhsNumber,
            DateOfBirth,
            PhoneNumber,
            HealthTerm
        ]
    );
}

#[test]
fn normalised_variants_map_to_the_original() {
    let cases = [
        ("NHS number 485\u{200B}777\u{200B}3457.", "485\u{200B}777\u{200B}3457"),
        ("NHS number 485\u{00A0}777\u{00A0}3457.", "485\u{00A0}777\u{00A0}3457"),
        ("NHS number ４８５ ７７７ ３４５７.", "４８５ ７７７ ３４５７"),
        ("NHS number 485\u{2013}777\u{2013}3457.", "485\u{2013}777\u{2013}3457"),
        ("NHS number 4857\u{00AD}773457.", "4857\u{00AD}773457"),
        ("\u{FEFF}NHS number 4857773457\u{200D}", "4857773457"),
    ];
    for (text, v) in cases {
        assert_eq!(of_kind(text, Kind::UkNhsNumber), [v], "{text:?}");
    }
    let text = "IBAN：ＧＢ２９ ＮＷＢＫ ６０１６ １３３１ ９２６８ １９ é";
    assert_eq!(
        of_kind(text, Kind::Iban),
        ["ＧＢ２９ ＮＷＢＫ ６０１６ １３３１ ９２６８ １９"]
    );
    assert_eq!(
        canonical(Kind::Iban, of_kind(text, Kind::Iban)[0]),
        "GB29NWBK60161331926819"
    );
}

#[test]
fn matches_are_sorted_and_do_not_overlap() {
    let text = "Mr X, NHS 485 777 3457, IBAN GB29NWBK60161331926819, x@y.org, +44 20 7946 0018, SW1A 1AA, diabetes";
    let m: Vec<Match> = scan(text);
    assert_eq!(m.len(), 6, "{m:?}");
    assert!(m.windows(2).all(|w| w[0].end <= w[1].start));
}

#[test]
fn masks_and_canonical_forms() {
    assert_eq!(mask(Kind::UkNhsNumber, "485 777 3457"), "4** *** **57");
    assert_eq!(
        mask(Kind::Iban, "GB29 NWBK 6016 1331 9268 19"),
        "GB** **** **** **** **** 19"
    );
    assert_eq!(mask(Kind::UkNino, "AB 12 34 56 C"), "A* ** ** *6 C");
    assert_eq!(mask(Kind::EmailAddress, "jane@example.org"), "j***@example.org");
    assert_eq!(mask(Kind::HealthTerm, "diabetes"), "diabetes");
    for (kind, v) in [
        (Kind::NlBsn, "123.456.782"),
        (Kind::PaymentCard, "4012-8888-8888-1881"),
        (Kind::PhoneNumber, "+44 20 7946 0018"),
    ] {
        let m = mask(kind, v);
        let shown = m.chars().filter(|c| c.is_alphanumeric()).count();
        let total = v.chars().filter(|c| c.is_alphanumeric()).count();
        assert!(shown * 3 <= total, "{m}");
    }
    assert_eq!(
        canonical(Kind::UkNhsNumber, "485 777 3457"),
        canonical(Kind::UkNhsNumber, "485-777-3457")
    );
    assert_eq!(canonical(Kind::UkNino, "ab 12 34 56 c"), "AB123456C");
}
