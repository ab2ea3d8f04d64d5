//! Every recipient rule other than the labelled look-alike set: internal domains, first
//! sensitive send, look-alike asymmetry over several contacts, namesakes, visible lists, webmail.

use sealpost_guard::Kind;
use sealpost_guard::recipients::{
    Address, Contact, RecipientFinding, RecipientPolicy, Recipients, WEBMAIL_DOMAINS, check, is_webmail,
};

fn a(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn list(s: &[&str]) -> Vec<Address> {
    s.iter().map(|x| a(x)).collect()
}

fn draft(from: &str, to: &[&str], cc: &[&str], bcc: &[&str]) -> Recipients {
    Recipients {
        from: a(from),
        to: list(to),
        cc: list(cc),
        bcc: list(bcc),
    }
}

fn c(address: &str, sends: u32, sensitive_sends: u32) -> Contact {
    Contact {
        address: address.to_owned(),
        name: None,
        sends,
        sensitive_sends,
    }
}

fn named(address: &str, name: &str, sends: u32) -> Contact {
    Contact {
        address: address.to_owned(),
        name: Some(name.to_owned()),
        sends,
        sensitive_sends: 0,
    }
}

fn of(findings: &[RecipientFinding], kind: Kind) -> Vec<&RecipientFinding> {
    findings.iter().filter(|f| f.kind == kind).collect()
}

fn recipients_of(findings: &[RecipientFinding], kind: Kind) -> Vec<String> {
    of(findings, kind).iter().flat_map(|f| f.recipients.clone()).collect()
}

fn one_sentence(findings: &[RecipientFinding]) {
    for f in findings {
        let m = &f.message;
        assert!(
            m.ends_with('.') && !m[..m.len() - 1].contains(". "),
            "not one sentence: {m}"
        );
    }
}

const ME: &str = "me@council.gov.uk";

// --- first send of sensitive data -------------------------------------------------------------

#[test]
fn first_sensitive_fires_per_external_recipient_without_sensitive_history() {
    let contacts = [c("old@partner.org", 10, 2), c("plain@partner.org", 10, 0)];
    let r = draft(
        ME,
        &["old@partner.org", "plain@partner.org"],
        &["new@other.org", "colleague@council.gov.uk"],
        &["hidden@else.nl", "new@other.org"],
    );
    let findings = check(&r, &contacts, &RecipientPolicy::default(), true);
    assert_eq!(
        recipients_of(&findings, Kind::RecipientFirstSensitive),
        ["plain@partner.org", "new@other.org", "hidden@else.nl"]
    );
    assert!(
        of(&findings, Kind::RecipientFirstSensitive)
            .iter()
            .all(|f| f.count == 1 && f.similar_to.is_none())
    );
    one_sentence(&findings);

    let quiet = check(&r, &contacts, &RecipientPolicy::default(), false);
    assert!(of(&quiet, Kind::RecipientFirstSensitive).is_empty());
}

#[test]
fn internal_means_same_registrable_domain_or_listed() {
    let policy = RecipientPolicy {
        internal_domains: vec!["Partner.NHS.uk".into(), "nhs.net".into(), "police.uk".into()],
        ..RecipientPolicy::default()
    };
    let r = draft(
        "me@mail.council.gov.uk",
        &[
            "a@council.gov.uk",
            "b@housing.council.gov.uk",
            "c@ward.partner.nhs.uk",
            "d@nhs.net",
            "e@kent.police.uk",
            "f@other.gov.uk",
            "g@other.nhs.uk",
        ],
        &[],
        &[],
    );
    let findings = check(&r, &[], &policy, true);
    assert_eq!(
        recipients_of(&findings, Kind::RecipientFirstSensitive),
        ["f@other.gov.uk", "g@other.nhs.uk"]
    );
}

#[test]
fn a_webmail_sender_does_not_make_other_webmail_users_internal() {
    let r = draft("me@gmail.com", &["friend@gmail.com", "me@gmail.com"], &[], &[]);
    let findings = check(&r, &[], &RecipientPolicy::default(), true);
    // The sender copying themselves is exempt; the other gmail user is external.
    assert_eq!(
        recipients_of(&findings, Kind::RecipientFirstSensitive),
        ["friend@gmail.com"]
    );
}

#[test]
fn contact_entries_merge_by_normalised_address() {
    let contacts = [c("Jane <JANE@Partner.org>", 2, 0), c("jane@partner.ORG.", 3, 1)];
    let r = draft(ME, &["jane@partner.org"], &[], &[]);
    assert!(check(&r, &contacts, &RecipientPolicy::default(), true).is_empty());
}

// --- look-alike, beyond the labelled pairs -----------------------------------------------------

#[test]
fn lookalike_domain_rules_count_sends_per_registrable_domain() {
    // A new mailbox at bristol.ac.uk is not a look-alike of bristol.gov.uk when the sender
    // already writes to someone else at bristol.ac.uk.
    let contacts = [c("info@bristol.gov.uk", 30, 0), c("registry@bristol.ac.uk", 4, 0)];
    let r = draft(ME, &["new.person@bristol.ac.uk"], &[], &[]);
    assert!(
        of(
            &check(&r, &contacts, &RecipientPolicy::default(), false),
            Kind::RecipientLookalike
        )
        .is_empty()
    );
    // Without that history it is reported.
    let r = draft(ME, &["new.person@bristol.ac.uk"], &[], &[]);
    let f = check(&r, &contacts[..1], &RecipientPolicy::default(), false);
    assert_eq!(of(&f, Kind::RecipientLookalike).len(), 1);
}

#[test]
fn lookalike_names_the_most_frequent_candidate_and_respects_min_sends() {
    let contacts = [c("j.smith@leeds.gov.uk", 5, 0), c("j.smyth@leeds.gov.uk", 50, 0)];
    let r = draft(ME, &["j.smiyth@leeds.gov.uk"], &[], &[]);
    let f = check(&r, &contacts, &RecipientPolicy::default(), false);
    let hit = of(&f, Kind::RecipientLookalike);
    assert_eq!(hit[0].similar_to.as_deref(), Some("j.smyth@leeds.gov.uk"));
    assert!(hit[0].message.contains("50 messages"), "{}", hit[0].message);

    let strict = RecipientPolicy {
        lookalike_min_sends: 51,
        ..RecipientPolicy::default()
    };
    assert!(of(&check(&r, &contacts, &strict, false), Kind::RecipientLookalike).is_empty());
}

#[test]
fn lookalike_message_shows_the_punycode_of_a_homoglyph_domain() {
    let contacts = [c("jimmy@camden.gov.uk", 25, 0)];
    let r = draft(ME, &["jimmy@xn--cmden-4ve.gov.uk"], &[], &[]);
    let f = check(&r, &contacts, &RecipientPolicy::default(), false);
    let m = &of(&f, Kind::RecipientLookalike)[0].message;
    assert!(
        m.contains("xn--cmden-4ve.gov.uk") && m.contains("jimmy@camden.gov.uk"),
        "{m}"
    );
    one_sentence(&f);
}

#[test]
fn lookalike_search_scales_through_the_indexes() {
    // 5,000 contacts: 200 colleagues at one domain (the local-part index) and 4,800 domains
    // (the domain index); 1,000 typed recipients of which exactly three are look-alikes.
    let mut contacts: Vec<Contact> = (0..200)
        .map(|i| c(&format!("colleague{i:04}@bigorg.nl"), 5, 0))
        .collect();
    contacts.extend((0..4800).map(|i| c(&format!("info@organisation{i:04}.co.uk"), 5, 0)));
    contacts.push(c("maria.gonzalez.fernandez@bigorg.nl", 9, 0));
    let mut to: Vec<String> = (0..997).map(|i| format!("someone{i}@unrelated{i}.org")).collect();
    to.push("colleague0042@bigorg.nI".replace('I', "l")); // exact: silent
    to.push("maria.gonzales.fernandes@bigorg.nl".into()); // two edits in a 24-character local part
    to.push("colleague0O43@bigorg.nl".into()); // O for 0 in a local part
    to.push("info@organisatoin1234.co.uk".into()); // transposition in a domain label
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let r = draft(ME, &[], &[], &to);
    let f = check(&r, &contacts, &RecipientPolicy::default(), false);
    let hits: Vec<(String, String)> = of(&f, Kind::RecipientLookalike)
        .iter()
        .map(|f| (f.recipients[0].clone(), f.similar_to.clone().unwrap()))
        .collect();
    assert_eq!(
        hits,
        [
            (
                "maria.gonzales.fernandes@bigorg.nl".to_owned(),
                "maria.gonzalez.fernandez@bigorg.nl".to_owned()
            ),
            (
                "colleague0O43@bigorg.nl".to_owned(),
                "colleague0043@bigorg.nl".to_owned()
            ),
            (
                "info@organisatoin1234.co.uk".to_owned(),
                "info@organisation1234.co.uk".to_owned()
            ),
        ]
    );
}

// --- namesake ----------------------------------------------------------------------------------

#[test]
fn namesake_matches_names_ignoring_case_spaces_diacritics_and_order() {
    let contacts = [
        named("jose.garcia@council.gov.uk", "José García", 40),
        named("tom@partner.org", "Tom Baker", 12),
    ];
    for typed in [
        "jose  GARCIA <jgarcia@gmail.com>",
        "\"García, José\" <jgarcia@gmail.com>",
    ] {
        let r = draft(ME, &[typed], &[], &[]);
        let f = check(&r, &contacts, &RecipientPolicy::default(), false);
        let hit = of(&f, Kind::RecipientNamesake);
        assert_eq!(hit.len(), 1, "{typed}");
        assert_eq!(hit[0].similar_to.as_deref(), Some("jose.garcia@council.gov.uk"));
        assert_eq!(hit[0].recipients, ["jgarcia@gmail.com"]);
        one_sentence(&f);
    }
}

#[test]
fn namesake_needs_a_different_address_with_far_more_sends() {
    let contacts = [
        named("tom.baker@partner.org", "Tom Baker", 40),
        named("tom.baker@school.nl", "Tom Baker", 4),
        named("t.baker@home.example.org", "Tom Baker", 0),
    ];
    let policy = RecipientPolicy::default();
    let fires = |typed: &str| {
        !of(
            &check(&draft(ME, &[typed], &[], &[]), &contacts, &policy, false),
            Kind::RecipientNamesake,
        )
        .is_empty()
    };
    assert!(!fires("Tom Baker <tom.baker@partner.org>"), "the frequent one itself");
    assert!(fires("Tom Baker <tom.baker@school.nl>"), "4 sends is far fewer than 40");
    assert!(fires("tom.baker@school.nl"), "the name comes from the contact entry");
    assert!(fires("Tom Baker <tb@new.org>"), "unknown address");
    assert!(!fires("Tom Bakker <tb@new.org>"), "another name");
    assert!(!fires("tb@new.org"), "no name at all");

    let close = [
        named("tom.baker@partner.org", "Tom Baker", 40),
        named("tom.baker@school.nl", "Tom Baker", 5),
    ];
    let r = draft(ME, &["Tom Baker <tom.baker@school.nl>"], &[], &[]);
    assert!(
        of(&check(&r, &close, &policy, false), Kind::RecipientNamesake).is_empty(),
        "5 of 40 is not far fewer"
    );
    let unsent = [named("tom.baker@partner.org", "Tom Baker", 0)];
    let r = draft(ME, &["Tom Baker <tb@new.org>"], &[], &[]);
    assert!(
        of(&check(&r, &unsent, &policy, false), Kind::RecipientNamesake).is_empty(),
        "never written to"
    );
}

// --- visible recipients ------------------------------------------------------------------------

fn visible(r: &Recipients, policy: &RecipientPolicy) -> Option<RecipientFinding> {
    let f = check(r, &[], policy, false);
    let v: Vec<_> = of(&f, Kind::VisibleRecipients).into_iter().cloned().collect();
    assert!(v.len() <= 1);
    one_sentence(&f);
    v.into_iter().next()
}

#[test]
fn visible_list_counts_external_to_and_cc_only() {
    let p = RecipientPolicy::default();
    let five = draft(ME, &["a@x.org", "b@y.org", "c@z.org"], &["d@x.org", "e@y.org"], &[]);
    let f = visible(&five, &p).expect("five visible external recipients");
    assert_eq!(f.count, 5);
    assert_eq!(f.recipients, ["a@x.org", "b@y.org", "c@z.org", "d@x.org", "e@y.org"]);
    assert!(f.message.contains("Bcc"));

    let four_plus_internal = draft(
        ME,
        &["a@x.org", "b@y.org", "x@council.gov.uk"],
        &["d@x.org", "e@y.org", "y@housing.council.gov.uk"],
        &[],
    );
    assert_eq!(visible(&four_plus_internal, &p), None);

    let bcc = draft(
        ME,
        &["a@x.org"],
        &[],
        &["b@y.org", "c@z.org", "d@x.org", "e@y.org", "f@w.org"],
    );
    assert_eq!(visible(&bcc, &p), None);

    let repeated = draft(ME, &["a@x.org", "b@y.org", "c@z.org", "d@x.org"], &["A@X.ORG"], &[]);
    assert_eq!(visible(&repeated, &p), None, "the same address twice counts once");

    let three = RecipientPolicy {
        visible_threshold: 3,
        ..RecipientPolicy::default()
    };
    assert_eq!(
        visible(&draft(ME, &["a@x.org", "b@y.org", "c@z.org"], &[], &[]), &three).map(|f| f.count),
        Some(3)
    );
    let one = RecipientPolicy {
        visible_threshold: 1,
        ..RecipientPolicy::default()
    };
    assert_eq!(
        visible(&draft(ME, &["a@x.org"], &[], &[]), &one),
        None,
        "one recipient sees nobody"
    );
}

#[test]
fn visible_list_of_private_webmail_addresses() {
    let p = RecipientPolicy::default();
    let two = draft(ME, &["anna@gmail.com"], &["bert@hotmail.co.uk"], &[]);
    let f = visible(&two, &p).expect("two private people at two webmail services");
    assert_eq!(f.count, 2);
    assert!(f.message.contains("webmail"));
    assert!(visible(&draft(ME, &["anna@gmail.com", "bert@gmail.com"], &[], &[]), &p).is_none());
    assert!(visible(&draft(ME, &["anna@gmail.com", "bert@partner.org"], &[], &[]), &p).is_none());
    assert!(visible(&draft(ME, &["anna@gmail.com"], &[], &["bert@ziggo.nl"]), &p).is_none());
}

// --- webmail -----------------------------------------------------------------------------------

#[test]
fn webmail_recipients_only_when_the_policy_asks() {
    let r = draft(
        ME,
        &["anna@gmail.com", "b@partner.org"],
        &["c@Mail.Yandex.RU"],
        &["d@ziggo.nl", "e@private.example.org"],
    );
    assert!(
        of(
            &check(&r, &[], &RecipientPolicy::default(), false),
            Kind::WebmailRecipient
        )
        .is_empty()
    );
    let p = RecipientPolicy {
        webmail: true,
        extra_webmail_domains: vec!["example.org".into()],
        ..RecipientPolicy::default()
    };
    let f = check(&r, &[], &p, false);
    assert_eq!(
        recipients_of(&f, Kind::WebmailRecipient),
        [
            "anna@gmail.com",
            "c@mail.yandex.ru",
            "d@ziggo.nl",
            "e@private.example.org"
        ]
    );
    one_sentence(&f);
    // A webmail domain the organisation lists as internal is exempt.
    let internal = RecipientPolicy {
        internal_domains: vec!["gmail.com".into()],
        ..p
    };
    assert_eq!(
        recipients_of(&check(&r, &[], &internal, false), Kind::WebmailRecipient).len(),
        3
    );
}

#[test]
fn webmail_list_covers_the_brief() {
    assert!(WEBMAIL_DOMAINS.len() >= 60);
    assert!(WEBMAIL_DOMAINS.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    let p = RecipientPolicy::default();
    for d in [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.nl",
        "live.com",
        "live.nl",
        "live.co.uk",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "gmx.co.uk",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.ru",
        "yandex.com",
        "tutanota.com",
        "hey.com",
        "fastmail.com",
        "ziggo.nl",
        "kpnmail.nl",
        "kpnplanet.nl",
        "planet.nl",
        "home.nl",
        "hetnet.nl",
        "xs4all.nl",
        "telfort.nl",
        "upcmail.nl",
        "casema.nl",
        "quicknet.nl",
        "zonnet.nl",
        "btinternet.com",
        "btopenworld.com",
        "sky.com",
        "virginmedia.com",
        "ntlworld.com",
        "talktalk.net",
        "tiscali.co.uk",
        "blueyonder.co.uk",
        "o2.co.uk",
        "orange.net",
        "GMAIL.COM.",
        "mail.gmail.com",
    ] {
        assert!(is_webmail(d, &p), "{d}");
    }
    for d in [
        "council.gov.uk",
        "nhs.net",
        "gmail.co",
        "notgmail.com",
        "com",
        "",
        "yandex",
    ] {
        assert!(!is_webmail(d, &p), "{d}");
    }
    let extra = RecipientPolicy {
        extra_webmail_domains: vec!["Freemail.Example.NL".into()],
        ..p
    };
    assert!(is_webmail("freemail.example.nl", &extra) && is_webmail("example.nl", &extra));
}

// --- output ------------------------------------------------------------------------------------

#[test]
fn findings_come_grouped_in_kind_order_and_serialise_with_schema_names() {
    let contacts = [c("jimmy@council.gov.uk", 42, 0), named("tom@partner.org", "Tom", 12)];
    let p = RecipientPolicy {
        webmail: true,
        visible_threshold: 2,
        ..RecipientPolicy::default()
    };
    let r = draft(
        "me@sender.org",
        &["Tom <tom@gmail.com>", "jimmy@counci1.gov.uk"],
        &[],
        &[],
    );
    let f = check(&r, &contacts, &p, true);
    let kinds: Vec<Kind> = f.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::RecipientFirstSensitive,
            Kind::RecipientFirstSensitive,
            Kind::RecipientLookalike,
            Kind::RecipientNamesake,
            Kind::VisibleRecipients,
            Kind::WebmailRecipient,
        ]
    );
    let json = serde_json::to_value(&f[2]).unwrap();
    assert_eq!(json["kind"], "recipient_lookalike");
    assert_eq!(json["similar_to"], "jimmy@council.gov.uk");
    assert_eq!(json["count"], 1);
}

#[test]
fn contacts_and_policy_deserialise_with_defaults() {
    let contacts: Vec<Contact> = serde_json::from_str(
        r#"[{"address":"a@x.org"},{"address":"b@x.org","name":"B","sends":4,"sensitive_sends":1}]"#,
    )
    .unwrap();
    assert_eq!(
        contacts[0],
        Contact {
            address: "a@x.org".into(),
            name: None,
            sends: 0,
            sensitive_sends: 0
        }
    );
    assert_eq!(contacts[1].sends, 4);
    let p: RecipientPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(p, RecipientPolicy::default());
    assert_eq!((p.visible_threshold, p.webmail, p.lookalike_min_sends), (5, false, 3));
    let p: RecipientPolicy = serde_json::from_str(r#"{"webmail":true}"#).unwrap();
    assert!(p.webmail && p.visible_threshold == 5);
}

#[test]
fn hand_built_and_unparsable_addresses_do_not_panic() {
    let bad = Address {
        address: "not an address".into(),
        name: Some("X".into()),
    };
    let r = Recipients {
        from: bad.clone(),
        to: vec![bad.clone(), a("a@x.org")],
        cc: vec![bad],
        bcc: vec![],
    };
    let contacts = [c("garbage", 5, 5), c("", 1, 1)];
    let f = check(
        &r,
        &contacts,
        &RecipientPolicy {
            webmail: true,
            ..RecipientPolicy::default()
        },
        true,
    );
    assert_eq!(recipients_of(&f, Kind::RecipientFirstSensitive), ["a@x.org"]);
}
