//! ENISA arithmetic, exposure states, facts validation and the three issue fixtures.

use sealpost_breach::*;

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z

fn enisa(dpc: u8, ei: Ease, c: CbLevel, i: CbLevel, a: CbLevel, malicious: bool) -> Enisa {
    Enisa {
        dpc,
        dpc_basis: String::new(),
        ei,
        cb: Circumstances {
            confidentiality: c,
            integrity: i,
            availability: a,
            malicious,
        },
    }
}

#[test]
fn rfc3339_round_trip() {
    assert_eq!(rfc3339(T0), "2026-11-23T10:00:00Z");
    assert_eq!(rfc3339(T0 + 999), "2026-11-23T10:00:00Z");
    assert_eq!(parse_rfc3339("2026-11-23T10:00:00Z"), Some(T0));
    assert_eq!(parse_rfc3339("2026-11-23T11:00:00+01:00"), Some(T0));
    assert_eq!(parse_rfc3339("yesterday"), None);
}

#[test]
fn enisa_each_scale_point() {
    use CbLevel::*;
    // EI scale points with DPC 1 and 4.
    for (ei, q) in [
        (Ease::Negligible, 1),
        (Ease::Limited, 2),
        (Ease::Significant, 3),
        (Ease::Maximum, 4),
    ] {
        assert_eq!(enisa(1, ei, None, None, None, false).score_quarters(), q);
        assert_eq!(enisa(4, ei, None, None, None, false).score_quarters(), 4 * q);
    }
    // DPC scale points.
    for d in 1..=4u8 {
        let e = enisa(d, Ease::Maximum, None, None, None, false);
        assert_eq!(e.score(), f64::from(d));
    }
    // CB elements: 0 / 0.25 / 0.5 each, malicious 0.5.
    assert_eq!(enisa(1, Ease::Negligible, Limited, None, None, false).score(), 0.5);
    assert_eq!(enisa(1, Ease::Negligible, Wide, None, None, false).score(), 0.75);
    assert_eq!(enisa(1, Ease::Negligible, None, Limited, None, false).score(), 0.5);
    assert_eq!(enisa(1, Ease::Negligible, None, None, Wide, false).score(), 0.75);
    assert_eq!(enisa(1, Ease::Negligible, None, None, None, true).score(), 0.75);
    assert_eq!(enisa(4, Ease::Maximum, Wide, Wide, Wide, true).score(), 6.0);
    let v = enisa(3, Ease::Significant, Limited, None, None, false).view(true);
    assert_eq!(v.ei_value, 0.75);
    assert_eq!(v.cb_value, 0.25);
    assert_eq!(v.score, 2.5);
    assert_eq!(v.band, Band::Medium);
    assert!(v.overridden);
}

#[test]
fn enisa_band_boundaries() {
    use CbLevel::*;
    // 1.75 (DPC 1 x 1 + 0.75) is Low; 2.0 is Medium.
    assert_eq!(enisa(1, Ease::Maximum, Wide, Limited, None, false).score(), 1.75);
    assert_eq!(enisa(1, Ease::Maximum, Wide, Limited, None, false).band(), Band::Low);
    assert_eq!(enisa(1, Ease::Maximum, Wide, Wide, None, false).score(), 2.0);
    assert_eq!(enisa(1, Ease::Maximum, Wide, Wide, None, false).band(), Band::Medium);
    assert_eq!(
        enisa(1, Ease::Maximum, Limited, Limited, Limited, false).band(),
        Band::Low
    );
    assert_eq!(enisa(2, Ease::Maximum, None, None, None, false).band(), Band::Medium);
    // 2.75 Medium, 3.0 High.
    assert_eq!(enisa(2, Ease::Maximum, Wide, Limited, None, false).band(), Band::Medium);
    assert_eq!(enisa(3, Ease::Maximum, None, None, None, false).band(), Band::High);
    // 3.75 High, 4.0 Very high.
    assert_eq!(enisa(3, Ease::Maximum, Wide, Limited, None, false).band(), Band::High);
    assert_eq!(enisa(4, Ease::Maximum, None, None, None, false).band(), Band::VeryHigh);
    assert_eq!(
        enisa(4, Ease::Significant, Limited, None, None, false).band(),
        Band::High
    );
    for q in 0..40 {
        let expected = match q {
            0..8 => Band::Low,
            8..12 => Band::Medium,
            12..16 => Band::High,
            _ => Band::VeryHigh,
        };
        assert_eq!(Band::from_quarters(q), expected, "{q}");
    }
}

fn evidence(rid: &str, wrong: bool, releases: &[(i64, Verification)], revoked: Option<i64>) -> RecipientEvidence {
    RecipientEvidence {
        rid: rid.into(),
        label: format!("{rid}@example.org"),
        wrong,
        releases: releases
            .iter()
            .map(|&(at, verification)| Release {
                at,
                verification,
                log_index: Some(7),
            })
            .collect(),
        revoked_at: revoked,
        log_complete: true,
    }
}

#[test]
fn exposure_states() {
    let none = exposure(&evidence("a", true, &[], Some(T0)));
    assert_eq!(none.state, ExposureState::DeliveredNoAccess);
    assert!(none.revoked_before_release);
    assert_eq!(none.state.likelihood(), Likelihood::Remote);

    let opened = exposure(&evidence(
        "b",
        true,
        &[(T0 + 5000, Verification::Totp), (T0 + 1000, Verification::Sms)],
        Some(T0 + 9000),
    ));
    assert_eq!(opened.state, ExposureState::AccessedVerified);
    assert_eq!(opened.first_release_at, Some(T0 + 1000));
    assert_eq!(opened.first_release_verification, Some(Verification::Sms));
    assert_eq!(opened.releases, 2);
    assert!(!opened.revoked_before_release);
    assert_eq!(opened.state.likelihood(), Likelihood::Likely);
    let view = opened.view();
    assert_eq!(view.first_release_at.as_deref(), Some("2026-11-23T10:00:01Z"));
    assert_eq!(view.revoked_at.as_deref(), Some("2026-11-23T10:00:09Z"));

    let mut gap = evidence("c", true, &[], Some(T0));
    gap.log_complete = false;
    let gap = exposure(&gap);
    assert_eq!(gap.state, ExposureState::Unknown);
    assert!(!gap.revoked_before_release);
    assert_eq!(gap.state.likelihood(), Likelihood::VeryLikely);

    let never_revoked = exposure(&evidence("d", true, &[], None));
    assert_eq!(never_revoked.state, ExposureState::DeliveredNoAccess);
    assert!(!never_revoked.revoked_before_release);
}

#[test]
fn data_categories_from_check_kinds() {
    assert_eq!(
        DataCategory::from_check_kind("uk_nhs_number"),
        Some(DataCategory::NationalId)
    );
    assert_eq!(DataCategory::from_check_kind("nl_bsn"), Some(DataCategory::NationalId));
    assert_eq!(DataCategory::from_check_kind("iban"), Some(DataCategory::Financial));
    assert_eq!(
        DataCategory::from_check_kind("nl_postcode"),
        Some(DataCategory::Contact)
    );
    assert_eq!(
        DataCategory::from_check_kind("passport_number"),
        Some(DataCategory::Identifier)
    );
    assert_eq!(DataCategory::from_check_kind("health_term"), Some(DataCategory::Health));
    assert_eq!(DataCategory::from_check_kind("visible_recipients"), None);
    assert_eq!(DataCategory::from_check_kind("recipient_new_domain"), None);
}

#[test]
fn facts_validation_and_patch() {
    let mut f = Facts::default();
    assert_eq!(f.cause, Cause::WrongRecipient);
    assert_eq!(f.nature, vec![Nature::Confidentiality]);
    assert!(f.validate().is_ok());

    f.description = "x".repeat(4001);
    let err = f.validate().unwrap_err();
    assert_eq!(err.to_string(), "description is longer than 4000 characters");
    f.description = "x".repeat(4000);
    assert!(f.validate().is_ok());

    f.subject_categories = vec!["y".repeat(201)];
    assert!(f.validate().is_err());
    f.subject_categories = vec!["patients".into(); 51];
    assert!(f.validate().is_err());
    f.subject_categories = vec!["patients".into()];
    assert!(f.validate().is_ok());

    f.enisa_override = Some(EnisaOverride {
        dpc: Some(5),
        ..Default::default()
    });
    assert_eq!(f.validate().unwrap_err(), FactsError::BadDpc);
    f.enisa_override = Some(EnisaOverride {
        dpc: Some(0),
        ..Default::default()
    });
    assert!(f.validate().is_err());
    f.enisa_override = Some(EnisaOverride {
        dpc: Some(4),
        ..Default::default()
    });
    assert!(f.validate().is_ok());

    f.categories_source = Some("guess".into());
    assert_eq!(f.validate().unwrap_err(), FactsError::BadSource);
    f.categories_source = Some("sender".into());
    f.nature = vec![];
    assert_eq!(f.validate().unwrap_err(), FactsError::NoNature);
    f.nature = vec![Nature::Confidentiality];

    let patch: FactsPatch = serde_json::from_value(serde_json::json!({
        "approx_subjects": 3,
        "measures_taken": ["revoked"],
        "enisa_override": {}
    }))
    .unwrap();
    f.measures_taken = vec!["old".into(), "older".into()];
    f.apply(&patch);
    assert_eq!(f.approx_subjects, Some(3));
    assert_eq!(f.measures_taken, vec!["revoked".to_owned()]);
    assert_eq!(f.enisa_override, None);
    assert_eq!(f.description.len(), 4000, "fields not given are kept");

    assert!(serde_json::from_value::<FactsPatch>(serde_json::json!({"nonsense": 1})).is_err());
    assert!(serde_json::from_value::<Facts>(serde_json::json!({"cause": "visible_recipients"})).is_ok());
    assert!(serde_json::from_value::<Facts>(serde_json::json!({"cause": "meteor"})).is_err());
}

#[test]
fn override_applies_over_the_prefill() {
    let mut f = Facts {
        data_categories: vec![DataCategory::Contact],
        ..Default::default()
    };
    let ex = vec![exposure(&evidence("a", true, &[(T0, Verification::Sms)], None))];
    let (e, overridden, s) = assess(&f, &ex);
    assert!(!overridden);
    assert_eq!(e.dpc, 1);
    assert_eq!(e.ei, Ease::Maximum);
    assert_eq!(e.cb.confidentiality, CbLevel::Limited);
    assert_eq!(s.band, Band::Low);
    assert_eq!(s.outcome, Outcome::RecordOnly);
    assert!(s.reasons.iter().any(|r| r.contains("consider notifying")));

    f.enisa_override = Some(EnisaOverride {
        dpc: Some(3),
        ..Default::default()
    });
    let (e, overridden, s) = assess(&f, &ex);
    assert!(overridden);
    assert_eq!(e.dpc, 3);
    assert!(e.dpc_basis.starts_with("set by the DPO: 3"));
    assert_eq!(s.band, Band::High);
    assert_eq!(s.outcome, Outcome::NotifyAuthority);
}

#[test]
fn unknown_exposure_is_very_likely() {
    let f = Facts {
        data_categories: vec![DataCategory::Financial],
        ..Default::default()
    };
    let mut ev = evidence("a", true, &[], Some(T0));
    ev.log_complete = false;
    let ex = vec![exposure(&ev)];
    assert!(!never_accessed(&f, &ex));
    let (e, _, s) = assess(&f, &ex);
    assert_eq!(e.cb.confidentiality, CbLevel::Wide);
    assert_eq!(s.likelihood, Likelihood::VeryLikely);
    assert_eq!(s.outcome, Outcome::NotifyAuthority);
}

/// Fixture 1: one wrong recipient, revoked before any release, health data.
#[test]
fn fixture_wrong_recipient_revoked_before_opening() {
    let f = Facts {
        description: "Clinic letter sent to the wrong patient; revoked within minutes.".into(),
        wrong_recipients: vec!["r2".into()],
        data_categories: vec![DataCategory::Health],
        ..Default::default()
    };
    let ex = vec![
        exposure(&evidence("r1", false, &[(T0 + 60_000, Verification::Sms)], None)),
        exposure(&evidence("r2", true, &[], Some(T0 + 120_000))),
    ];
    assert!(never_accessed(&f, &ex));
    let (e, _, s) = assess(&f, &ex);
    assert_eq!(e.cb.confidentiality, CbLevel::None);
    assert_eq!(s.likelihood, Likelihood::Remote);
    assert_eq!(s.outcome, Outcome::RecordOnly);
    assert!(s.art34_exception.as_deref().unwrap().contains("Art. 34(3)(a)"));
    assert!(s.reasons.iter().any(|r| r.contains("Art. 33(5)")));
    assert!(s.reasons.iter().all(|r| r.ends_with(").") || r.ends_with(')')));
}

/// Fixture 2: misdirected health message (NHS number, vulnerable patient) released once after
/// SMS verification, then revoked.
#[test]
fn fixture_misdirected_health_message_opened() {
    let f = Facts {
        wrong_recipients: vec!["r1".into()],
        data_categories: vec![DataCategory::NationalId, DataCategory::Health],
        categories_source: Some("pre_send_checks".into()),
        subject_categories: vec!["patients".into()],
        vulnerable: true,
        approx_subjects: Some(1),
        ..Default::default()
    };
    let ex = vec![exposure(&evidence(
        "r1",
        true,
        &[(T0 + 3_600_000, Verification::Sms)],
        Some(T0 + 7_200_000),
    ))];
    assert!(!never_accessed(&f, &ex));
    let (e, overridden, s) = assess(&f, &ex);
    assert!(!overridden);
    assert_eq!(e.dpc, 4);
    assert!(e.dpc_basis.contains("vulnerable"), "{}", e.dpc_basis);
    assert!(e.dpc_basis.contains("health"), "{}", e.dpc_basis);
    assert_eq!(e.ei, Ease::Maximum);
    assert_eq!(e.cb.confidentiality, CbLevel::Limited);
    assert_eq!(e.score_quarters(), 17);
    assert_eq!(s.band, Band::VeryHigh);
    assert_eq!(s.likelihood, Likelihood::Likely);
    assert_eq!(s.outcome, Outcome::NotifyAuthority);
    assert!(s.reasons.iter().any(|r| r.contains("Art. 34") && r.contains("assess")));
    assert_eq!(s.art34_exception, None);
}

/// Fixture 3: sexual-health clinic newsletter, 780 recipients visible in To, 600 opened.
#[test]
fn fixture_newsletter_visible_recipients() {
    let f = Facts {
        cause: Cause::VisibleRecipients,
        data_categories: vec![DataCategory::Health, DataCategory::Contact],
        subject_categories: vec!["clinic patients".into()],
        approx_subjects: Some(780),
        ..Default::default()
    };
    let ex: Vec<Exposure> = (0..780)
        .map(|i| {
            let releases: &[(i64, Verification)] = if i < 600 {
                &[(T0 + i64::from(i) * 1000, Verification::Sms)]
            } else {
                &[]
            };
            exposure(&evidence(&format!("r{i}"), false, releases, None))
        })
        .collect();
    assert!(!never_accessed(&f, &ex));
    let (e, _, s) = assess(&f, &ex);
    assert_eq!(e.dpc, 4);
    assert_eq!(e.ei, Ease::Maximum);
    assert_eq!(e.cb.confidentiality, CbLevel::Wide);
    assert_eq!(e.score(), 4.5);
    assert_eq!(s.band, Band::VeryHigh);
    assert_eq!(s.likelihood, Likelihood::Likely);
    assert_eq!(s.outcome, Outcome::NotifyAuthorityAndIndividuals);
    assert!(
        s.reasons
            .iter()
            .any(|r| r.contains("PVV Overijssel") && r.contains("HIV Scotland"))
    );
}

#[test]
fn jurisdiction_profiles() {
    let uk = Jurisdiction::Uk.profile();
    assert_eq!(uk.authority, "Information Commissioner's Office (ICO)");
    assert_eq!(uk.deadline_hours, 72);
    let nl = Jurisdiction::Nl.profile();
    assert_eq!(nl.authority, "Autoriteit Persoonsgegevens (AP)");
    assert!(nl.channel.starts_with("Meldformulier datalekken"));
    assert_eq!(Jurisdiction::default(), Jurisdiction::Uk);
    assert_eq!(serde_json::to_string(&Jurisdiction::Nl).unwrap(), "\"nl\"");
    assert_eq!(
        serde_json::to_string(&Outcome::NotifyAuthorityAndIndividuals).unwrap(),
        "\"notify_authority_and_individuals\""
    );
}
