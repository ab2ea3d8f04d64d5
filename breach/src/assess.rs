//! From evidence to exposure, ENISA severity, likelihood and the suggested outcome
//! (research dlp-breach.md §3.5 and §4.2–4.4).

use crate::facts::Facts;
use crate::model::{
    Band, Cause, CbLevel, Circumstances, DataCategory, Ease, Enisa, EnisaOverride, Exposure, ExposureState, Likelihood,
    Nature, Outcome, RecipientEvidence, Suggestion,
};

/// Exposure of one recipient from its evidence.
pub fn exposure(e: &RecipientEvidence) -> Exposure {
    let first = e.releases.iter().min_by_key(|r| r.at);
    let state = if !e.releases.is_empty() {
        ExposureState::AccessedVerified
    } else if !e.log_complete {
        ExposureState::Unknown
    } else {
        ExposureState::DeliveredNoAccess
    };
    Exposure {
        rid: e.rid.clone(),
        label: e.label.clone(),
        wrong: e.wrong,
        state,
        first_release_at: first.map(|r| r.at),
        first_release_verification: first.map(|r| r.verification),
        releases: u32::try_from(e.releases.len()).unwrap_or(u32::MAX),
        revoked_at: e.revoked_at,
        revoked_before_release: e.revoked_at.is_some() && e.releases.is_empty() && e.log_complete,
    }
}

/// The recipients whose exposure counts: every recipient when the recipient list itself was
/// disclosed (or nobody is named as wrong), otherwise the wrong ones.
fn relevant<'a>(facts: &Facts, exposures: &'a [Exposure]) -> Vec<&'a Exposure> {
    let is_wrong = |e: &Exposure| e.wrong || facts.wrong_recipients.iter().any(|r| r == &e.rid);
    if facts.cause == Cause::VisibleRecipients || !exposures.iter().any(is_wrong) {
        exposures.iter().collect()
    } else {
        exposures.iter().filter(|e| is_wrong(e)).collect()
    }
}

/// True when no wrong recipient (for visible recipients: no recipient) ever received the key,
/// with a complete access log. False when there is no evidence at all.
pub fn never_accessed(facts: &Facts, exposures: &[Exposure]) -> bool {
    let r = relevant(facts, exposures);
    !r.is_empty() && r.iter().all(|e| e.state == ExposureState::DeliveredNoAccess)
}

/// Worst likelihood over the relevant recipients; no evidence counts as unknown.
fn likelihood(facts: &Facts, exposures: &[Exposure]) -> Likelihood {
    relevant(facts, exposures)
        .iter()
        .map(|e| e.state.likelihood())
        .max()
        .unwrap_or(Likelihood::VeryLikely)
}

/// ENISA inputs prefilled from the facts and the access proof (research §4.4).
pub fn enisa_prefill(facts: &Facts, exposures: &[Exposure]) -> Enisa {
    let cats = facts.categories();
    // DPC: the highest category, then +1 for vulnerable people.
    let mut steps = Vec::new();
    let mut dpc = match cats.iter().copied().max_by_key(|c| c.dpc()) {
        None => {
            steps.push("no category known: simple data assumed (1)".to_owned());
            1
        }
        Some(top) => {
            let listed: Vec<String> = cats.iter().map(|c| format!("{} {}", c.as_str(), c.dpc())).collect();
            steps.push(format!("categories: {}", listed.join(", ")));
            if top == DataCategory::NationalId {
                steps.push("national identifier: simple data 1, +1 for identity-fraud potential = 2".to_owned());
            }
            steps.push(format!("highest: {} ({})", top.as_str(), top.dpc()));
            top.dpc()
        }
    };
    if facts.vulnerable {
        if dpc >= 4 {
            steps.push("vulnerable people: +1, capped at 4".to_owned());
        } else {
            dpc += 1;
            steps.push(format!("vulnerable people: +1 = {dpc}"));
        }
    }
    let dpc_basis = format!("{}; DPC = {dpc}", steps.join("; "));

    // EI: names or national identifiers sent to a wrong person (or a visible list) identify
    // people directly.
    let named = cats
        .iter()
        .any(|c| matches!(c, DataCategory::Contact | DataCategory::NationalId));
    let direct = matches!(facts.cause, Cause::WrongRecipient | Cause::VisibleRecipients);
    let ei = if facts.cause == Cause::VisibleRecipients || (named && direct) {
        Ease::Maximum
    } else if cats
        .iter()
        .any(|c| matches!(c, DataCategory::Identifier | DataCategory::NationalId))
    {
        Ease::Significant
    } else {
        Ease::Limited
    };

    // CB confidentiality from the exposures.
    let r = relevant(facts, exposures);
    let accessed = r.iter().filter(|e| e.state == ExposureState::AccessedVerified).count();
    let unknown = r.iter().any(|e| e.state == ExposureState::Unknown) || r.is_empty();
    let confidentiality = if !facts.nature.contains(&Nature::Confidentiality) && !unknown {
        CbLevel::None
    } else if unknown || (facts.cause == Cause::VisibleRecipients && accessed >= 2) {
        CbLevel::Wide
    } else if accessed > 0 {
        CbLevel::Limited
    } else {
        CbLevel::None
    };
    let loss = |n: Nature| {
        if facts.nature.contains(&n) {
            CbLevel::Limited
        } else {
            CbLevel::None
        }
    };
    Enisa {
        dpc,
        dpc_basis,
        ei,
        cb: Circumstances {
            confidentiality,
            integrity: loss(Nature::Integrity),
            availability: loss(Nature::Availability),
            malicious: false,
        },
    }
}

fn is_overridden(o: &Option<EnisaOverride>) -> bool {
    o.as_ref().is_some_and(|o| o != &EnisaOverride::default())
}

/// The prefill with the DPO's override applied, whether it was overridden, and the suggestion.
pub fn assess(facts: &Facts, exposures: &[Exposure]) -> (Enisa, bool, Suggestion) {
    let mut enisa = enisa_prefill(facts, exposures);
    let overridden = is_overridden(&facts.enisa_override);
    if let Some(o) = facts.enisa_override.as_ref().filter(|_| overridden) {
        if let Some(d) = o.dpc {
            let d = d.clamp(1, 4);
            enisa.dpc_basis = format!("set by the DPO: {d} (prefill: {})", enisa.dpc_basis);
            enisa.dpc = d;
        }
        if let Some(ei) = o.ei {
            enisa.ei = ei;
        }
        if let Some(cb) = o.cb {
            enisa.cb = cb;
        }
    }
    let s = suggest(facts, exposures, &enisa);
    (enisa, overridden, s)
}

/// The suggested outcome (decision table of research §4.4); the DPO confirms or overrides it.
pub fn suggest(facts: &Facts, exposures: &[Exposure], enisa: &Enisa) -> Suggestion {
    let likelihood = likelihood(facts, exposures);
    let band = enisa.band();
    let special = facts.categories().iter().any(|c| c.is_special());
    let high = band >= Band::High;
    let subjects = facts.approx_subjects.unwrap_or(1);
    let r = relevant(facts, exposures);
    let accessed = r.iter().filter(|e| e.state == ExposureState::AccessedVerified).count();
    let unknown = r.iter().filter(|e| e.state == ExposureState::Unknown).count();

    let mut reasons = vec![format!(
        "ENISA severity SE = DPC {} x EI {:.2} + CB {:.2} = {:.2} ({}); severity measures the impact if the data are exposed, not whether they were (ENISA 2013 methodology).",
        enisa.dpc,
        enisa.ei.value(),
        enisa.cb.value(),
        enisa.score(),
        band.describe()
    )];
    let mut art34_exception = None;
    let mut outcome;
    match likelihood {
        Likelihood::Remote => {
            outcome = Outcome::RecordOnly;
            reasons.push(
                "No wrong recipient ever received the key: the data are unintelligible without the key and access was revoked before any release, so the breach is unlikely to result in a risk and need not be notified (Art. 33(1); Art. 34(3)(a), (b)).".to_owned(),
            );
            art34_exception = Some(
                "Art. 34(3)(a): the message is end-to-end encrypted and unintelligible without the key; Art. 34(3)(b): access was revoked before any key release, as the receipt proves.".to_owned(),
            );
        }
        Likelihood::Likely => {
            reasons.push(format!(
                "{accessed} recipient(s) who should not have seen the message received the key after verification, so the content was accessed (Art. 33(1))."
            ));
            match band {
                Band::Low => {
                    outcome = Outcome::RecordOnly;
                    reasons.push(
                        "The severity is low: recording the breach may be enough, but consider notifying the authority if the recipient cannot be trusted to delete it (Art. 33(1); Malta IDPC guidance on misdirected email).".to_owned(),
                    );
                }
                Band::Medium => {
                    outcome = Outcome::NotifyAuthority;
                    reasons.push(
                        "The breach is not unlikely to result in a risk: notify the authority within the deadline; a deletion promise from the recipient is not proof (Art. 33(1); UODO DKN.5131.7.2020).".to_owned(),
                    );
                }
                Band::High | Band::VeryHigh => {
                    outcome = Outcome::NotifyAuthority;
                    reasons.push(
                        "The severity is high and the content was accessed: notify the authority within the deadline (Art. 33(1)).".to_owned(),
                    );
                    if facts.cause == Cause::VisibleRecipients || (subjects > 1 && special) {
                        outcome = Outcome::NotifyAuthorityAndIndividuals;
                        reasons.push(
                            "Special category data of several people were disclosed, a high risk: inform the people affected without undue delay (Art. 34(1)).".to_owned(),
                        );
                    } else {
                        reasons.push(
                            "Assess whether the breach is likely to result in a high risk to the person affected and whether to inform the individuals (Art. 34(1); Art. 34 assessment).".to_owned(),
                        );
                    }
                }
            }
        }
        Likelihood::VeryLikely => {
            reasons.push(format!(
                "The access log is incomplete for {unknown} recipient(s): without proof of non-access it is treated as accessed by an unknown person (Art. 33(1); EDPB Guidelines 9/2022)."
            ));
            if high {
                outcome = Outcome::NotifyAuthorityAndIndividuals;
                reasons.push(
                    "The severity is high and access cannot be ruled out: notify the authority and inform the people affected, unless an exception applies (Art. 33(1); Art. 34(1), (3)).".to_owned(),
                );
            } else {
                outcome = Outcome::NotifyAuthority;
                reasons.push(
                    "Access cannot be ruled out: notify the authority within the deadline (Art. 33(1)).".to_owned(),
                );
            }
        }
    }
    if facts.cause == Cause::VisibleRecipients && special && likelihood >= Likelihood::Likely {
        reasons.push(
            "The visible recipient list reveals membership of a group tied to special category data: at least notify the authority (Art. 9; Art. 33(1); AP PVV Overijssel 2021; ICO HIV Scotland 2021).".to_owned(),
        );
        outcome = outcome.max(Outcome::NotifyAuthority);
        if high {
            outcome = Outcome::NotifyAuthorityAndIndividuals;
        }
    }
    reasons.push("The breach is documented in the register whatever the outcome (Art. 33(5)).".to_owned());
    Suggestion {
        outcome,
        likelihood,
        band,
        reasons,
        art34_exception,
    }
}
