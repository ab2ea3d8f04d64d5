//! Renders templates into labelled samples.

use super::oracle;
use super::rng::SplitMix64;
use super::templates::{TEMPLATES, Template};
use super::values as v;
use super::{Label, Lang, Sample, Trap, TrapKind};
use crate::Kind;

/// How a slot was asked for in the template; kept for the generator's own checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    Bare,
    Context,
}

/// Context phrases per kind and language; `{}` is where the value goes.
fn phrases(kind: Kind, lang: Lang) -> &'static [&'static str] {
    match (kind, lang) {
        (Kind::UkNhsNumber, Lang::En) => &[
            "NHS number: {}",
            "NHS No. {}",
            "NHS no {}",
            "NHS number {}",
            "{} (NHS number)",
            "NHS: {}",
        ],
        (Kind::UkNhsNumber, Lang::Nl) => &["NHS-nummer {}", "NHS-nummer: {}", "Brits NHS-nummer {}"],
        (Kind::UkNino, _) => &[
            "National Insurance number: {}",
            "NI number {}",
            "NI No. {}",
            "NINO {}",
            "{} (National Insurance)",
        ],
        (Kind::NlBsn, Lang::En) => &[
            "BSN {}",
            "Dutch BSN: {}",
            "citizen service number (BSN) {}",
            "BSN number {}",
        ],
        (Kind::NlBsn, Lang::Nl) => &[
            "BSN {}",
            "BSN: {}",
            "burgerservicenummer {}",
            "BSN-nummer {}",
            "sofinummer {}",
            "{} (BSN)",
        ],
        (Kind::Iban, Lang::En) => &["IBAN {}", "IBAN: {}", "account number (IBAN) {}", "bank account {}"],
        (Kind::Iban, Lang::Nl) => &["IBAN {}", "rekeningnummer {}", "IBAN: {}", "bankrekening {}"],
        (Kind::PaymentCard, Lang::En) => &[
            "card number {}",
            "card no. {}",
            "credit card {}",
            "debit card: {}",
            "card {}",
            "{} (credit card)",
        ],
        (Kind::PaymentCard, Lang::Nl) => &[
            "creditcardnummer {}",
            "kaartnummer {}",
            "creditcard {}",
            "creditcard: {}",
            "{} (creditcard)",
        ],
        (Kind::DateOfBirth, Lang::En) => &[
            "D.O.B. {}",
            "DOB: {}",
            "date of birth {}",
            "born {}",
            "Date of birth: {}",
        ],
        (Kind::DateOfBirth, Lang::Nl) => &["geboortedatum {}", "geb. {}", "geboren op {}", "Geboortedatum: {}"],
        (Kind::PassportNumber, Lang::En) => &[
            "passport no. {}",
            "passport number {}",
            "UK passport {}",
            "passport: {}",
            "{} (passport)",
        ],
        (Kind::PassportNumber, Lang::Nl) => &[
            "paspoortnummer {}",
            "paspoort nr. {}",
            "paspoort, documentnummer {}",
            "ID-kaart {}",
            "paspoort {}",
        ],
        (Kind::EmailAddress, Lang::En) => &["email {}", "e-mail: {}", "email: {}"],
        (Kind::EmailAddress, Lang::Nl) => &["e-mail {}", "e-mailadres: {}", "mail: {}"],
        (Kind::PhoneNumber, Lang::En) => &["tel. {}", "phone {}", "mobile: {}", "telephone {}"],
        (Kind::PhoneNumber, Lang::Nl) => &["tel. {}", "telefoon {}", "mobiel: {}", "telefoonnummer {}"],
        _ => &["postcode {}"],
    }
}

struct Render<'a> {
    rng: &'a mut SplitMix64,
    lang: Lang,
    text: String,
    labels: Vec<Label>,
    intents: Vec<Intent>,
    traps: Vec<Trap>,
}

impl Render<'_> {
    fn push_value(&mut self, kind: Kind, value: &str, intent: Intent, trap: Option<TrapKind>, label: bool) {
        let phrase = match intent {
            Intent::Context => *self.rng.pick(phrases(kind, self.lang)),
            Intent::Bare => "{}",
        };
        let (before, after) = phrase.split_once("{}").unwrap_or((phrase, ""));
        self.text.push_str(before);
        let start = self.text.len();
        self.text.push_str(value);
        let end = self.text.len();
        self.text.push_str(after);
        if label {
            self.labels.push(Label {
                kind,
                start,
                end,
                context: false,
            });
            self.intents.push(intent);
        }
        if let Some(what) = trap {
            self.traps.push(Trap { what, start, end });
        }
    }

    fn push_trap(&mut self, what: TrapKind, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.traps.push(Trap {
            what,
            start,
            end: self.text.len(),
        });
    }

    /// Renders one placeholder; `false` for an unknown one.
    fn placeholder(&mut self, token: &str) -> bool {
        let lang = self.lang;
        let (name, variant) = token.split_once(':').unwrap_or((token, ""));
        let filler = match name {
            "name" => Some(v::full_name(self.rng, lang)),
            "first" => Some(v::first_name(self.rng, lang)),
            "surname" => Some(v::surname(self.rng, lang)),
            "street" => Some(v::street(self.rng, lang)),
            "town" => Some(v::town(self.rng, lang)),
            "org" => Some(v::organisation(self.rng, lang)),
            "amount" => Some(v::amount(self.rng, lang)),
            "time" => Some(v::time(self.rng)),
            "expiry" => Some(v::expiry(self.rng)),
            _ => None,
        };
        if let Some(text) = filler {
            self.text.push_str(&text);
            return true;
        }
        let trap = match name {
            "date" => Some((TrapKind::MeetingDate, v::meeting_date(self.rng, lang))),
            "order" => Some((TrapKind::OrderNumber, v::order_number(self.rng))),
            "epoch" => Some((TrapKind::EpochSeconds, v::epoch_seconds(self.rng))),
            "epochms" => Some((TrapKind::EpochMillis, v::epoch_millis(self.rng))),
            _ => None,
        };
        if let Some((what, value)) = trap {
            self.push_trap(what, &value);
            return true;
        }
        let kind = match name {
            "nhs" => Kind::UkNhsNumber,
            "nino" => Kind::UkNino,
            "bsn" => Kind::NlBsn,
            "iban" => Kind::Iban,
            "card" => Kind::PaymentCard,
            "ukpc" => Kind::UkPostcode,
            "nlpc" => Kind::NlPostcode,
            "dob" => Kind::DateOfBirth,
            "passport" => Kind::PassportNumber,
            "email" => Kind::EmailAddress,
            "phone" => Kind::PhoneNumber,
            _ => return false,
        };
        // One in ten context slots of a checksummed kind becomes a typo: a checksum-invalid trap.
        let typo = variant == "ctx"
            && matches!(kind, Kind::UkNhsNumber | Kind::NlBsn | Kind::Iban | Kind::PaymentCard)
            && self.rng.chance(1, 10);
        let variant = if typo { "bad" } else { variant };
        let intent = if variant.is_empty() {
            Intent::Bare
        } else {
            Intent::Context
        };
        let bad = |k: Kind| match k {
            Kind::UkNhsNumber => TrapKind::NhsBadChecksum,
            Kind::NlBsn => TrapKind::BsnBadChecksum,
            Kind::Iban => TrapKind::IbanBadChecksum,
            _ => TrapKind::CardBadChecksum,
        };
        let (value, trap, label) = match (kind, variant) {
            (_, "" | "ctx") => (self.valid_value(kind), None, true),
            (Kind::UkNhsNumber, "bad") => (v::nhs_bad(self.rng), Some(bad(kind)), false),
            (Kind::NlBsn, "bad") => (v::bsn_bad(self.rng), Some(bad(kind)), false),
            (Kind::Iban, "bad") => (v::iban_bad(self.rng, lang), Some(bad(kind)), false),
            (Kind::PaymentCard, "bad") => (v::card_bad(self.rng), Some(bad(kind)), false),
            (Kind::UkNhsNumber, "rep") => (v::nhs_repdigit(self.rng), Some(TrapKind::NhsRepdigit), false),
            (Kind::UkNino, "qq") => (v::nino_example(self.rng), Some(TrapKind::NinoExample), false),
            (Kind::UkNino, "admin") => (v::nino_admin(self.rng), Some(TrapKind::NinoAdminPrefix), false),
            (Kind::PaymentCard, "test") => (v::card_test(self.rng), Some(TrapKind::TestCard), false),
            (Kind::Iban, "doc") => (v::iban_documentation(self.rng), None, true),
            (Kind::PhoneNumber, "trap") => {
                let value = v::phone_like_identifier(self.rng, lang);
                self.push_value(kind, &value, Intent::Bare, Some(TrapKind::PhoneLikeIdentifier), true);
                return true;
            }
            _ => return false,
        };
        self.push_value(kind, &value, intent, trap, label);
        true
    }

    fn valid_value(&mut self, kind: Kind) -> String {
        let (rng, lang) = (&mut *self.rng, self.lang);
        match kind {
            Kind::UkNhsNumber => v::nhs(rng),
            Kind::UkNino => v::nino(rng),
            Kind::NlBsn => v::bsn(rng),
            Kind::Iban => v::iban(rng, lang),
            Kind::PaymentCard => v::card(rng),
            Kind::UkPostcode => v::uk_postcode(rng),
            Kind::NlPostcode => v::nl_postcode(rng),
            Kind::DateOfBirth => v::date_of_birth(rng, lang),
            Kind::PassportNumber => v::passport(rng, lang),
            Kind::EmailAddress => v::email(rng, lang),
            _ => v::phone(rng, lang),
        }
    }
}

/// Renders one template with the given PRNG. Returns the sample and, per label, the intent of
/// its slot. Unknown placeholders are written through unchanged (a unit test forbids them).
pub(crate) fn render(template: &Template, rng: &mut SplitMix64, id: usize) -> (Sample, Vec<Intent>) {
    let mut r = Render {
        rng,
        lang: template.lang,
        text: String::with_capacity(template.text.len() + 256),
        labels: Vec::new(),
        intents: Vec::new(),
        traps: Vec::new(),
    };
    let mut rest = template.text;
    while let Some(open) = rest.find('{') {
        r.text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if r.placeholder(&after[..close]) => rest = &after[close + 1..],
            _ => {
                r.text.push('{');
                rest = after;
            }
        }
    }
    r.text.push_str(rest);
    let Render {
        text,
        mut labels,
        intents,
        traps,
        ..
    } = r;
    for label in &mut labels {
        label.context = oracle::has_context(label.kind, &text, label.start, label.end);
    }
    let sample = Sample {
        id,
        template_id: template.id.to_owned(),
        lang: template.lang,
        split: template.split,
        text,
        labels,
        traps,
    };
    (sample, intents)
}

/// The PRNG of sample `i` under `seed`: independent of `n`, so a longer run extends a shorter one.
pub(crate) fn sample_rng(seed: u64, i: usize) -> SplitMix64 {
    let mut mix = SplitMix64::new(seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    SplitMix64::new(mix.next_u64())
}

/// Generates `n` labelled drafts from `seed`. Templates are used in turn (sample `i` uses
/// template `i mod T`), so every template, and so each split, gets an equal share.
pub fn generate(seed: u64, n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| {
            let template = &TEMPLATES[i % TEMPLATES.len()];
            render(template, &mut sample_rng(seed, i), i).0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Split;

    #[test]
    fn every_placeholder_is_known() {
        for (i, t) in TEMPLATES.iter().enumerate() {
            let (s, _) = render(t, &mut sample_rng(1, i), i);
            assert!(!s.text.contains('{'), "{}: unknown placeholder in {:?}", t.id, s.text);
        }
    }

    #[test]
    fn template_ids_are_unique_and_both_splits_cover_both_languages() {
        let mut ids: Vec<&str> = TEMPLATES.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TEMPLATES.len());
        assert!(TEMPLATES.len() >= 40);
        for split in [Split::Dev, Split::Test] {
            for lang in [Lang::En, Lang::Nl] {
                assert!(
                    TEMPLATES.iter().any(|t| t.split == split && t.lang == lang),
                    "{split:?} {lang:?}"
                );
            }
        }
    }

    /// A context slot really has a context word near it; a bare slot of a context-only kind has
    /// neither a context word nor a supporting word within the window.
    #[test]
    fn slot_intent_matches_the_oracle_context() {
        for i in 0..TEMPLATES.len() * 30 {
            let t = &TEMPLATES[i % TEMPLATES.len()];
            let (s, intents) = render(t, &mut sample_rng(99, i), i);
            for (label, intent) in s.labels.iter().zip(&intents) {
                let value = &s.text[label.start..label.end];
                match intent {
                    Intent::Context => assert!(label.context, "{}: {value} lost its context", t.id),
                    Intent::Bare if oracle::needs_context(label.kind) => {
                        let words = oracle::supporting_words(label.kind);
                        let near = oracle::words_near(&s.text, label.start, label.end, words);
                        assert!(
                            !label.context && !near,
                            "{}: bare {value} has context in {:?}",
                            t.id,
                            s.text
                        );
                    }
                    Intent::Bare => {}
                }
            }
        }
    }
}
