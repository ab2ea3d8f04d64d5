//! Context words (English and Dutch), person cues and the health-term dictionary, found in one
//! Aho-Corasick pass per text and looked up by binary search.
//!
//! Sources of the lists: Purview's keyword lists and Presidio's context words as quoted in the
//! research notes (§1.2), plus Dutch equivalents.

use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};

/// Bit flags: what a keyword is evidence for.
pub(crate) mod flag {
    pub const NHS: u16 = 1 << 0;
    pub const NINO: u16 = 1 << 1;
    pub const BSN: u16 = 1 << 2;
    pub const IBAN: u16 = 1 << 3;
    pub const CARD: u16 = 1 << 4;
    pub const POSTCODE: u16 = 1 << 5;
    pub const DOB: u16 = 1 << 6;
    pub const PASSPORT: u16 = 1 << 7;
    pub const EMAIL: u16 = 1 << 8;
    pub const PHONE: u16 = 1 << 9;
    /// A word pointing at a person (patient, Mr, mevr., her...).
    pub const PERSON: u16 = 1 << 10;
    /// A health term (reported itself).
    pub const HEALTH: u16 = 1 << 11;
}

const NHS_WORDS: &[&str] = &[
    "national health service",
    "nhs",
    "nhs no",
    "nhs no.",
    "nhs number",
    "nhs-nummer",
    "nhs nummer",
    "nhsnummer",
    "health services authority",
    "health authority",
    "patient id",
    "patient identification",
    "patient no",
    "patient no.",
    "patient number",
    "patiëntnummer",
    "patientnummer",
    "gp",
    "dob",
    "d.o.b",
    "d.o.b.",
    "date of birth",
    "birth date",
    "chi number",
    "chi no",
    "community health index",
    "health and care number",
    "h&c number",
];

const NINO_WORDS: &[&str] = &[
    "national insurance",
    "national insurance number",
    "national insurance no",
    "national insurance contributions",
    "protection act",
    "insurance",
    "social security number",
    "insurance application",
    "medical application",
    "social insurance",
    "medical attention",
    "social security",
    "great britain",
    "ni number",
    "ni no",
    "ni no.",
    "ni #",
    "ni#",
    "insurance#",
    "insurancenumber",
    "nationalinsurance#",
    "nationalinsurancenumber",
    "nino",
    "national insurance-nummer",
    "brits sofinummer",
];

const BSN_WORDS: &[&str] = &[
    "bsn",
    "bsn#",
    "bsn-nummer",
    "bsn nummer",
    "bsnnummer",
    "burgerservicenummer",
    "burgerservicenr",
    "burger service nummer",
    "citizen service number",
    "person number",
    "personal number",
    "personal numeric code",
    "person-related number",
    "persoonlijk nummer",
    "persoonlijke numerieke code",
    "persoonsgebonden",
    "persoonsnummer",
    "sociaal-fiscaal nummer",
    "social-fiscal number",
    "sofi",
    "sofinummer",
    "sofinr",
    "uniek identificatienummer",
    "uniek identiteitsnummer",
    "unique identification number",
    "unique identity number",
    "uniqueidentityno#",
];

const IBAN_WORDS: &[&str] = &[
    "iban",
    "bank",
    "bank account",
    "bank details",
    "account number",
    "account no",
    "sort code",
    "transaction",
    "bic",
    "swift",
    "rekeningnummer",
    "rekening",
    "bankrekening",
    "bankrekeningnummer",
    "t.n.v.",
    "tnv",
    "ten name van",
];

const CARD_WORDS: &[&str] = &[
    "credit",
    "card",
    "credit card",
    "debit card",
    "card number",
    "card no",
    "cardholder",
    "card holder",
    "card verification",
    "cc",
    "cvv",
    "cvv2",
    "cvc",
    "cvc2",
    "security code",
    "expiry",
    "expiry date",
    "expiration",
    "expiration date",
    "exp date",
    "valid thru",
    "visa",
    "mastercard",
    "amex",
    "american express",
    "discover",
    "jcb",
    "diners",
    "diners club",
    "maestro",
    "instapayment",
    "creditcard",
    "creditcardnummer",
    "kaartnummer",
    "pasnummer",
    "betaalpas",
    "bankpas",
    "vervaldatum",
];

const POSTCODE_WORDS: &[&str] = &[
    "postcode",
    "post code",
    "postal code",
    "zip",
    "zip code",
    "address",
    "home address",
    "delivery",
    "mailing",
    "shipping",
    "correspondence",
    "adres",
    "woonadres",
    "woonplaats",
    "huisnummer",
    "straat",
];

/// DOB words: evidence for a date of birth when they come shortly before it.
const DOB_WORDS: &[&str] = &[
    "dob",
    "d.o.b",
    "d.o.b.",
    "date of birth",
    "birth date",
    "birthdate",
    "birthday",
    "born",
    "born on",
    "geboortedatum",
    "geb.",
    "geb",
    "geb.datum",
    "gebdat",
    "geboren",
    "geboren op",
];

const PASSPORT_WORDS: &[&str] = &[
    "passport",
    "passports",
    "passport no",
    "passport no.",
    "passport number",
    "passport#",
    "passport #",
    "travel document",
    "uk passport",
    "british passport",
    "her majesty",
    "his majesty",
    "hm passport",
    "hmpo",
    "paspoort",
    "paspoorten",
    "paspoortnummer",
    "paspoortnummers",
    "paspoort nummer",
    "paspoort nr",
    "paspoortnr",
    "documentnummer",
    "document number",
    "id-kaart",
    "id kaart",
    "identiteitskaart",
    "identiteitsbewijs",
    "reisdocument",
    "identity card",
    "id card",
];

const EMAIL_WORDS: &[&str] = &[
    "email",
    "e-mail",
    "email address",
    "e-mail address",
    "mail",
    "e-mailadres",
    "emailadres",
    "mailadres",
];

const PHONE_WORDS: &[&str] = &[
    "phone",
    "phone number",
    "telephone",
    "tel",
    "tel.",
    "tel:",
    "mob",
    "mob.",
    "mobile",
    "cell",
    "cellphone",
    "call",
    "contact number",
    "fax",
    "telefoon",
    "telefoonnummer",
    "telefoonnr",
    "tel.nr",
    "telnr",
    "mobiel",
    "mobiele nummer",
    "gsm",
    "bel",
    "bellen",
];

const PERSON_WORDS: &[&str] = &[
    "patient",
    "patients",
    "patient's",
    "patiënt",
    "patiënte",
    "patiënten",
    "client",
    "clients",
    "client's",
    "cliënt",
    "cliënte",
    "cliënten",
    "mr",
    "mr.",
    "mrs",
    "mrs.",
    "ms",
    "ms.",
    "miss",
    "dr",
    "dr.",
    "dhr",
    "dhr.",
    "mevr",
    "mevr.",
    "mevrouw",
    "meneer",
    "de heer",
    "his",
    "her",
    "him",
    "hem",
    "haar",
    "service user",
    "resident",
    "pupil",
    "son",
    "daughter",
    "zoon",
    "dochter",
];

/// Health terms (UK GDPR Art. 9 special category): diseases, conditions, drug classes, mental
/// health, treatments; English then Dutch.
pub const HEALTH_TERMS: &[&str] = &[
    // English: conditions and diseases
    "diabetes",
    "diabetic",
    "hiv",
    "aids",
    "hepatitis",
    "cancer",
    "tumour",
    "tumor",
    "leukaemia",
    "leukemia",
    "lymphoma",
    "melanoma",
    "carcinoma",
    "metastatic",
    "asthma",
    "copd",
    "epilepsy",
    "seizure",
    "seizures",
    "stroke",
    "heart failure",
    "heart attack",
    "myocardial infarction",
    "angina",
    "hypertension",
    "arthritis",
    "multiple sclerosis",
    "parkinson's",
    "parkinson",
    "alzheimer's",
    "alzheimer",
    "dementia",
    "tuberculosis",
    "chlamydia",
    "gonorrhoea",
    "syphilis",
    "herpes",
    "sexually transmitted",
    "std",
    "sti",
    "covid-19",
    "long covid",
    "cystic fibrosis",
    "sickle cell",
    "crohn's",
    "colitis",
    "coeliac",
    "kidney failure",
    "dialysis",
    "cirrhosis",
    "obesity",
    "anorexia",
    "bulimia",
    "eating disorder",
    "autism",
    "autistic",
    "adhd",
    "learning disability",
    "disability",
    "disabled",
    "blind",
    "deaf",
    "impairment",
    "miscarriage",
    "pregnancy",
    "pregnant",
    "termination",
    "abortion",
    "ivf",
    "infertility",
    // mental health
    "mental health",
    "mental illness",
    "depression",
    "depressed",
    "anxiety",
    "panic attacks",
    "bipolar",
    "schizophrenia",
    "schizophrenic",
    "psychosis",
    "psychotic",
    "ptsd",
    "ocd",
    "personality disorder",
    "self-harm",
    "self harm",
    "suicidal",
    "suicide attempt",
    "overdose",
    "sectioned",
    "mental health act",
    "addiction",
    "alcoholism",
    "substance misuse",
    "drug misuse",
    // treatments and drugs
    "chemotherapy",
    "radiotherapy",
    "immunotherapy",
    "surgery",
    "mastectomy",
    "hysterectomy",
    "transplant",
    "antidepressant",
    "antidepressants",
    "antipsychotic",
    "antipsychotics",
    "antiretroviral",
    "antiretrovirals",
    "prep",
    "methadone",
    "buprenorphine",
    "insulin",
    "metformin",
    "lithium",
    "clozapine",
    "olanzapine",
    "sertraline",
    "fluoxetine",
    "citalopram",
    "diazepam",
    "morphine",
    "opioid",
    "opioids",
    "benzodiazepine",
    "benzodiazepines",
    "chemo",
    "diagnosis",
    "diagnosed",
    "prognosis",
    "medication",
    "prescription",
    "prescribed",
    "psychiatrist",
    "psychiatric",
    "psychologist",
    "oncology",
    "oncologist",
    "hiv positive",
    "gender dysphoria",
    "palliative",
    "terminally ill",
    "hospice",
    "rehab",
    "detox",
    // Dutch
    "diabetes mellitus",
    "suikerziekte",
    "kanker",
    "tumor",
    "leukemie",
    "longkanker",
    "borstkanker",
    "astma",
    "epilepsie",
    "beroerte",
    "hartfalen",
    "hartinfarct",
    "hoge bloeddruk",
    "reuma",
    "artrose",
    "dementie",
    "alzheimer",
    "tuberculose",
    "soa",
    "zwangerschap",
    "zwanger",
    "zwangerschapsafbreking",
    "abortus",
    "miskraam",
    "onvruchtbaarheid",
    "nierfalen",
    "nierdialyse",
    "obesitas",
    "eetstoornis",
    "autisme",
    "verstandelijke beperking",
    "beperking",
    "handicap",
    "ggz",
    "geestelijke gezondheidszorg",
    "depressie",
    "depressief",
    "angststoornis",
    "paniekaanvallen",
    "bipolaire stoornis",
    "schizofrenie",
    "psychose",
    "psychotisch",
    "persoonlijkheidsstoornis",
    "zelfbeschadiging",
    "suïcidaal",
    "suïcidepoging",
    "zelfmoordpoging",
    "verslaving",
    "verslaafd",
    "alcoholisme",
    "chemokuur",
    "chemotherapie",
    "bestraling",
    "radiotherapie",
    "operatie",
    "transplantatie",
    "antidepressiva",
    "antipsychotica",
    "medicatie",
    "medicijnen",
    "insuline",
    "diagnose",
    "gediagnosticeerd",
    "prognose",
    "huisarts",
    "psychiater",
    "psycholoog",
    "opname",
    "opgenomen",
    "ziekenhuisopname",
    "gedwongen opname",
    "crisisopname",
    "behandeling",
    "behandelplan",
    "recept",
    "palliatieve zorg",
    "hospice",
    "oncologie",
    "ziekte",
    "ziek",
    "arbeidsongeschikt",
    "wlz",
    "jeugdzorg",
];

/// One keyword occurrence in the scanned (normalised) text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub start: usize,
    pub end: usize,
    pub flags: u16,
}

struct Dictionary {
    /// Overlapping (standard) semantics: every keyword ending at a position is reported there.
    dfa: DFA,
    flags: Vec<u16>,
    lens: Vec<usize>,
}

fn dictionary() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(|| {
        let lists: [(&[&str], u16); 11] = [
            (NHS_WORDS, flag::NHS),
            (NINO_WORDS, flag::NINO),
            (BSN_WORDS, flag::BSN),
            (IBAN_WORDS, flag::IBAN),
            (CARD_WORDS, flag::CARD),
            (POSTCODE_WORDS, flag::POSTCODE),
            (DOB_WORDS, flag::DOB),
            (PASSPORT_WORDS, flag::PASSPORT),
            (EMAIL_WORDS, flag::EMAIL),
            (PHONE_WORDS, flag::PHONE),
            (PERSON_WORDS, flag::PERSON),
        ];
        let mut patterns: Vec<String> = Vec::new();
        let mut flags: Vec<u16> = Vec::new();
        let mut add = |word: &str, f: u16| {
            let w = word.to_lowercase();
            match patterns.iter().position(|p| *p == w) {
                Some(i) => flags[i] |= f,
                None => {
                    patterns.push(w);
                    flags.push(f);
                }
            }
        };
        for (list, f) in lists {
            for w in list {
                add(w, f);
            }
        }
        for w in HEALTH_TERMS {
            add(w, flag::HEALTH);
        }
        // Upper-case variants of non-ASCII words (the automaton folds ASCII case only).
        let extra: Vec<(String, u16)> = patterns
            .iter()
            .zip(&flags)
            .filter(|(p, _)| !p.is_ascii())
            .map(|(p, f)| (p.to_uppercase(), *f))
            .collect();
        for (p, f) in extra {
            patterns.push(p);
            flags.push(f);
        }
        let lens = patterns.iter().map(String::len).collect();
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&patterns)
            .expect("the keyword automaton is built from fixed, valid patterns");
        Dictionary { dfa, flags, lens }
    })
}

fn char_before(text: &str, i: usize) -> Option<char> {
    text.get(..i).and_then(|s| s.chars().next_back())
}

fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|s| s.chars().next())
}

/// Every keyword in `text` at word boundaries, ordered by start. Context words may overlap (so
/// "patient number" is also "patient"); health terms do not (the longest leftmost one wins).
pub(crate) fn find_hits(text: &str) -> Vec<Hit> {
    let dict = dictionary();
    let dfa = &dict.dfa;
    let bytes = text.as_bytes();
    let mut hits = Vec::new();
    let Ok(mut sid) = dfa.start_state(Anchored::No) else {
        return hits;
    };
    for (i, &byte) in bytes.iter().enumerate() {
        sid = dfa.next_state(Anchored::No, sid, byte);
        if !dfa.is_special(sid) || !dfa.is_match(sid) {
            continue;
        }
        let e = i + 1;
        // A keyword that ends with punctuation needs no boundary after it.
        let ends_word = bytes[i].is_ascii_alphanumeric() || bytes[i] >= 0x80;
        if ends_word && char_at(text, e).is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        for k in 0..dfa.match_len(sid) {
            let pid = dfa.match_pattern(sid, k).as_usize();
            let s = e - dict.lens[pid];
            let starts_word = bytes[s].is_ascii_alphanumeric() || bytes[s] >= 0x80;
            if starts_word && char_before(text, s).is_some_and(|c| c.is_alphanumeric()) {
                continue;
            }
            hits.push(Hit {
                start: s,
                end: e,
                flags: dict.flags[pid],
            });
        }
    }
    hits.sort_unstable_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    // Health terms: leftmost-longest, without overlaps.
    let mut health_end = 0;
    for h in &mut hits {
        if h.flags & flag::HEALTH != 0 {
            if h.start < health_end {
                h.flags &= !flag::HEALTH;
            } else {
                health_end = h.end;
            }
        }
    }
    hits.retain(|h| h.flags != 0);
    hits
}

/// Keyword positions of one kind of evidence, sorted, for window look-ups.
#[derive(Debug, Default)]
pub(crate) struct Positions(Vec<(usize, usize)>);

impl Positions {
    pub(crate) fn from_hits(hits: &[Hit], mask: u16) -> Self {
        Positions(
            hits.iter()
                .filter(|h| h.flags & mask != 0)
                .map(|h| (h.start, h.end))
                .collect(),
        )
    }

    pub(crate) fn push(&mut self, start: usize, end: usize) {
        self.0.push((start, end));
    }

    pub(crate) fn sort(&mut self) {
        self.0.sort_unstable();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A keyword overlaps `[start - window, end + window)`.
    pub(crate) fn near(&self, start: usize, end: usize, window: usize) -> bool {
        let lo = start.saturating_sub(window);
        let hi = end.saturating_add(window);
        // Ends are not sorted when positions were pushed out of order; starts are, and a keyword
        // is at most 64 bytes long.
        let from = self.0.partition_point(|&(s, _)| s + 64 < lo);
        self.0[from..]
            .iter()
            .take_while(|&&(s, _)| s < hi)
            .any(|&(_, e)| e > lo)
    }

    /// The gap in bytes between `[start, end)` and the nearest keyword within `window` of it
    /// (0 when one overlaps it), or `None` when there is none.
    pub(crate) fn distance(&self, start: usize, end: usize, window: usize) -> Option<usize> {
        let lo = start.saturating_sub(window);
        let hi = end.saturating_add(window);
        let from = self.0.partition_point(|&(s, _)| s + 64 < lo);
        self.0[from..]
            .iter()
            .take_while(|&&(s, _)| s < hi)
            .filter(|&&(_, e)| e > lo)
            .map(|&(s, e)| {
                if e <= start {
                    start - e
                } else {
                    // 0 when the keyword overlaps the span.
                    s.saturating_sub(end)
                }
            })
            .min()
    }

    /// The last keyword ending at or before `pos` and no more than `max_gap` bytes before it.
    pub(crate) fn last_before(&self, pos: usize, max_gap: usize) -> Option<(usize, usize)> {
        let idx = self.0.partition_point(|&(s, _)| s < pos);
        self.0[..idx]
            .iter()
            .rev()
            .take(4)
            .find(|&&(_, e)| e <= pos && pos - e <= max_gap)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_150_health_terms() {
        assert!(HEALTH_TERMS.len() >= 150, "{}", HEALTH_TERMS.len());
    }

    #[test]
    fn whole_words_only() {
        let hits = find_hits("Diabetesfoo and DIABETES, nhs-nummer; bankrekening");
        let words: Vec<_> = hits.iter().map(|h| h.start).collect();
        // "nhs-nummer" is also "nhs"; "bankrekening" is not "bank".
        assert_eq!(words, [16, 26, 26, 38], "{hits:?}");
    }

    #[test]
    fn non_ascii_upper_case() {
        let hits = find_hits("CLIËNT met PSYCHOSE");
        assert!(hits.iter().any(|h| h.flags & flag::PERSON != 0));
        assert!(hits.iter().any(|h| h.flags & flag::HEALTH != 0));
    }

    #[test]
    fn window_lookup() {
        let mut p = Positions::default();
        p.push(10, 13);
        p.push(1000, 1003);
        assert!(p.near(300, 310, 300));
        assert!(!p.near(320, 330, 300));
        assert!(p.near(1310, 1320, 310));
        assert_eq!(p.last_before(30, 40), Some((10, 13)));
        assert_eq!(p.last_before(60, 40), None);
    }
}
