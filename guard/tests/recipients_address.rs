//! Address parsing, IDNA normalisation and the Public Suffix List split.

use sealpost_guard::recipients::{Address, AddressError, registrable_domain};

fn one_sentence(m: &str) {
    assert!(m.starts_with(|c: char| c.is_uppercase()), "{m}");
    assert!(
        m.ends_with('.') && !m[..m.len() - 1].contains(". "),
        "not one sentence: {m}"
    );
}

#[test]
fn parses_the_three_usual_forms() {
    let a = Address::parse("jane@x.org").unwrap();
    assert_eq!((a.address.as_str(), a.name.as_deref()), ("jane@x.org", None));

    let a = Address::parse("  Jane Doe <jane@x.org> ").unwrap();
    assert_eq!(
        (a.address.as_str(), a.name.as_deref()),
        ("jane@x.org", Some("Jane Doe"))
    );

    let a = Address::parse("\"Doe, Jane\" <jane@x.org>").unwrap();
    assert_eq!(
        (a.address.as_str(), a.name.as_deref()),
        ("jane@x.org", Some("Doe, Jane"))
    );

    let a = Address::parse(r#""Jane \"JD\" Doe" < jane@x.org >"#).unwrap();
    assert_eq!(
        (a.address.as_str(), a.name.as_deref()),
        ("jane@x.org", Some("Jane \"JD\" Doe"))
    );

    let a = Address::parse("<jane@x.org>").unwrap();
    assert_eq!((a.address.as_str(), a.name), ("jane@x.org", None));
    let a = Address::parse("\"\" <jane@x.org>").unwrap();
    assert_eq!(a.name, None);
}

#[test]
fn domain_is_lower_cased_and_local_part_kept() {
    let a = Address::parse("Jane.Doe@Council.GOV.UK.").unwrap();
    assert_eq!(a.address, "Jane.Doe@council.gov.uk");
    assert_eq!(a.local_part(), "Jane.Doe");
    assert_eq!(a.domain(), "council.gov.uk");
}

#[test]
fn idna_is_decoded_for_comparison_and_encoded_for_the_wire() {
    let a = Address::parse("jan@XN--BCHER-KVA.nl").unwrap();
    assert_eq!(a.address, "jan@bücher.nl");
    assert_eq!(a.to_ascii().as_deref(), Some("jan@xn--bcher-kva.nl"));
    let b = Address::parse("jan@Bücher.NL").unwrap();
    assert_eq!(b.address, a.address);
    // A Cyrillic look-alike stays distinguishable from the Latin name.
    let c = Address::parse("jimmy@xn--cmden-4ve.gov.uk").unwrap();
    assert_eq!(c.address, "jimmy@c\u{430}mden.gov.uk");
    assert_ne!(c.address, "jimmy@camden.gov.uk");
    // Unicode local parts (SMTPUTF8) are accepted as typed.
    assert_eq!(
        Address::parse("jürgen@example.de").unwrap().address,
        "jürgen@example.de"
    );
}

#[test]
fn refuses_bad_input_with_one_sentence() {
    let long_local = format!("{}@x.org", "a".repeat(250));
    let cases: &[(&str, AddressError)] = &[
        ("", AddressError::Empty),
        ("   ", AddressError::Empty),
        ("jane@x.org\n", AddressError::ControlCharacter),
        ("Jane\t<jane@x.org>", AddressError::ControlCharacter),
        ("jane\u{0}@x.org", AddressError::ControlCharacter),
        ("jane.x.org", AddressError::MissingAt),
        ("Jane Doe", AddressError::Whitespace),
        ("@x.org", AddressError::EmptyLocalPart),
        ("jane@", AddressError::EmptyDomain),
        ("jane doe@x.org", AddressError::Whitespace),
        ("jane@x .org", AddressError::Whitespace),
        ("Jane <jane@x.org", AddressError::Unbalanced),
        ("Jane jane@x.org>", AddressError::Unbalanced),
        ("<jane@x.org> extra", AddressError::Unbalanced),
        ("jane@x@y.org", AddressError::InvalidLocalPart),
        ("ja,ne@x.org", AddressError::InvalidLocalPart),
        ("jane@ex_ample.org", AddressError::InvalidDomain),
        ("jane@a..org", AddressError::InvalidDomain),
        ("jane@xn--a.org", AddressError::InvalidDomain),
        ("jane@[192.0.2.1]", AddressError::InvalidDomain),
        ("jane@x!.org", AddressError::InvalidDomain),
        (&long_local, AddressError::TooLong),
    ];
    for (input, want) in cases {
        let got = Address::parse(input);
        assert_eq!(got, Err(*want), "{input:?}");
        one_sentence(&want.to_string());
    }
}

#[test]
fn length_limit_is_254_on_the_wire_form() {
    let domain = format!("{}.{}.org", "b".repeat(60), "c".repeat(60)); // 126 characters
    let ok = format!("{}@{domain}", "a".repeat(254 - 1 - domain.len()));
    assert_eq!(ok.len(), 254);
    assert!(Address::parse(&ok).is_ok());
    let too_long = format!("a{ok}");
    assert_eq!(Address::parse(&too_long), Err(AddressError::TooLong));
    // 247 bytes typed, but 265 once the domain is in punycode (176 bytes of UTF-8, 194 of ASCII).
    let label = format!("{}ü", "a".repeat(55));
    let unicode_domain = format!("{label}.{label}.{label}.nl");
    let typed = format!("{}@{unicode_domain}", "a".repeat(70));
    assert_eq!(typed.len(), 247);
    assert_eq!(Address::parse(&typed), Err(AddressError::TooLong));
    assert!(Address::parse(&typed[20..]).is_ok());
}

#[test]
fn never_panics_on_odd_input() {
    for s in [
        "<>",
        "<",
        ">",
        "\"",
        "\"<@>",
        "<@>",
        "@",
        "@@",
        "a@.",
        ".@.",
        "\u{200b}@x.org",
        "a@\u{fffd}.org",
        "é@É.É",
    ] {
        let _ = Address::parse(s);
    }
}

#[test]
fn registrable_domains_follow_the_public_suffix_list() {
    let cases: &[(&str, Option<&str>)] = &[
        ("council.gov.uk", Some("council.gov.uk")),
        ("mail.council.gov.uk", Some("council.gov.uk")),
        ("gov.uk", None),
        ("x.nhs.uk", Some("x.nhs.uk")),
        ("mail.x.nhs.uk", Some("x.nhs.uk")),
        ("nhs.uk", None),
        ("nhs.net", Some("nhs.net")),
        ("mail.nhs.net", Some("nhs.net")),
        ("co.uk", None),
        ("example.co.uk", Some("example.co.uk")),
        ("www.bristol.ac.uk", Some("bristol.ac.uk")),
        ("nl", None),
        ("a.b.example.nl", Some("example.nl")),
        ("Mail.Example.NL.", Some("example.nl")),
        ("xn--bcher-kva.nl", Some("bücher.nl")),
        ("www.bücher.nl", Some("bücher.nl")),
        ("localhost", None),
        ("", None),
        ("ex_ample.nl", None),
    ];
    for (domain, want) in cases {
        assert_eq!(registrable_domain(domain).as_deref(), *want, "{domain}");
    }
}
