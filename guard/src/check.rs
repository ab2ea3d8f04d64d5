//! One pass over a draft: content detectors on subject, body and attachments, then the recipient
//! checks, then the organisation's policy turns every finding into a level.
//!
//! What leaves this module is a [`Report`]: kinds, counts, locations and masked previews. The
//! values themselves exist only inside [`check`] and are wiped when it returns.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasher, RandomState};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::content::{self, Match};
use crate::policy::Policy;
use crate::recipients::{self, Address, Contact, Recipients};
use crate::{Confidence, Kind, Level};

/// Most masked previews shown per finding.
const MAX_PREVIEWS: usize = 3;

/// A draft as the sender wrote it.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// The sender's address.
    pub from: String,
    /// Visible recipients.
    pub to: Vec<String>,
    /// Visible copies.
    pub cc: Vec<String>,
    /// Blind copies (not visible to each other).
    pub bcc: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Attachments, by name.
    pub attachments: Vec<Attachment>,
}

/// One attachment.
pub struct Attachment {
    /// The file name the recipient will see.
    pub name: String,
    /// The bytes, or why they were not read.
    pub content: AttachmentContent,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Content is confidential: show only its shape.
        let content = match &self.content {
            AttachmentContent::Bytes(b) => format!("{} bytes", b.len()),
            AttachmentContent::Unchecked(reason) => format!("unchecked: {reason}"),
        };
        f.debug_struct("Attachment")
            .field("content", &content)
            .finish_non_exhaustive()
    }
}

impl Clone for Attachment {
    fn clone(&self) -> Self {
        Attachment {
            name: self.name.clone(),
            content: match &self.content {
                AttachmentContent::Bytes(b) => AttachmentContent::Bytes(b.clone()),
                AttachmentContent::Unchecked(r) => AttachmentContent::Unchecked(r.clone()),
            },
        }
    }
}

/// An attachment's content as given to [`check`].
#[allow(missing_debug_implementations)] // `Attachment`'s Debug shows its shape only
pub enum AttachmentContent {
    /// The whole file.
    Bytes(Zeroizing<Vec<u8>>),
    /// Not read (too large, unreadable): the reason, one sentence.
    Unchecked(String),
}

/// Where a finding was seen, with how many matches there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Place {
    /// `subject`, `body` or `attachment`.
    pub part: Part,
    /// The attachment's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Matches in this place.
    pub count: usize,
}

/// A part of the draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The subject line.
    Subject,
    /// The body.
    Body,
    /// An attachment.
    Attachment,
}

/// One finding: a kind, its level, how many, where, and a masked preview (never a value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// Suggestion, warning or error, from the organisation's policy.
    pub level: Level,
    /// Matches (content) or recipients concerned (recipient checks).
    pub count: usize,
    /// Distinct values among the matches (content only): about the number of people concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<usize>,
    /// The highest detector confidence among the matches (content only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Where it was found (content only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Place>,
    /// Up to three masked previews, e.g. `943 *** **19` (content only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previews: Vec<String>,
    /// The recipients concerned (recipient checks only; the sender's own input).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// The known contact a recipient resembles (look-alike, namesake).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similar_to: Option<String>,
    /// One plain sentence for the sender.
    pub message: String,
}

/// An attachment that could not be checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotChecked {
    /// Its name.
    pub name: String,
    /// Why, one sentence.
    pub reason: String,
}

/// The result of checking a draft.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Findings, most serious first.
    pub findings: Vec<Finding>,
    /// Attachments whose content could not be checked (encrypted, unsupported, too large).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<NotChecked>,
}

impl Report {
    /// Whether the checked draft counts as sensitive content for the contact history: a finding
    /// that [`is_sensitive`] by its kind and confidence, or a first sensitive send to a recipient.
    /// A send of such a draft raises the recipients' `sensitive_sends`.
    pub fn is_sensitive(&self) -> bool {
        self.findings.iter().any(|f| {
            f.kind == Kind::RecipientFirstSensitive
                || (f.kind.is_content() && f.confidence.is_some_and(|c| is_sensitive(f.kind, c)))
        })
    }
}

/// The draft could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A recipient or sender address is not an address.
    #[error("{field} address {value:?} is not valid: {reason}")]
    Address {
        /// `from`, `to`, `cc` or `bcc`.
        field: &'static str,
        /// The address as given.
        value: String,
        /// Why.
        reason: String,
    },
    /// There is nobody to send to.
    #[error("the draft has no recipients")]
    NoRecipients,
}

impl Report {
    /// The most serious level, if anything was found.
    pub fn max_level(&self) -> Option<Level> {
        self.findings.iter().map(|f| f.level).max()
    }

    /// Whether sending must stop: always on an error, on a warning until the sender confirms.
    pub fn blocks(&self) -> bool {
        self.max_level().is_some_and(|l| l >= Level::Warning)
    }

    /// What travels with the message: the categories and counts, never values.
    pub fn send_checks(&self, confirmation: Option<Confirmation>) -> SendChecks {
        let mut categories = BTreeMap::new();
        for f in &self.findings {
            *categories.entry(f.kind).or_insert(0) += f.count;
        }
        let max_level = self.max_level();
        let decision = match (max_level, &confirmation) {
            (None, _) => Decision::Clean,
            (Some(Level::Suggestion), _) => Decision::Noted,
            (Some(_), _) => Decision::Confirmed,
        };
        let (confirmed_with, reason) = match confirmation {
            Some(c) if decision == Decision::Confirmed => (Some(c.how), Some(c.reason)),
            _ => (None, None),
        };
        SendChecks {
            v: 1,
            decision,
            max_level,
            categories,
            unchecked_attachments: self.not_checked.len(),
            confirmed_with,
            reason,
        }
    }
}

/// How a sender went past a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// At the prompt, or with `--yes` in a script.
    pub how: ConfirmedWith,
    /// The sender's reason (required).
    pub reason: String,
}

/// How a warning was confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmedWith {
    /// The sender answered the prompt.
    Prompt,
    /// A script passed `--yes` with `--reason`.
    Flag,
}

/// The outcome of the checks at the moment of sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing found.
    Clean,
    /// Suggestions only.
    Noted,
    /// Warnings, confirmed by the sender with a reason.
    Confirmed,
}

/// Most characters in a reason.
pub const MAX_REASON: usize = 500;

/// The pre-send check outcome that travels with the message to the server, for the breach
/// register: the decision, the most serious level, and counts per category. Never a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendChecks {
    /// Version, 1.
    pub v: u32,
    /// Clean, noted or confirmed.
    pub decision: Decision,
    /// The most serious level found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_level: Option<Level>,
    /// Matches (or recipients concerned) per kind.
    #[serde(default)]
    pub categories: BTreeMap<Kind, usize>,
    /// Attachments that could not be checked.
    #[serde(default)]
    pub unchecked_attachments: usize,
    /// How a warning was confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_with: Option<ConfirmedWith>,
    /// The sender's reason for going past a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SendChecks {
    /// Checks that the record is consistent: no error level (a draft with an error is never
    /// sent), a confirmation with a printable reason exactly when there was a warning.
    pub fn validate(&self) -> Result<(), String> {
        if self.v != 1 {
            return Err("checks.v must be 1".into());
        }
        let expected = match self.max_level {
            None => Decision::Clean,
            Some(Level::Suggestion) => Decision::Noted,
            Some(Level::Warning) => Decision::Confirmed,
            Some(Level::Error) => return Err("a draft with an error-level finding cannot be sent".into()),
        };
        if self.decision != expected {
            return Err("checks.decision does not agree with checks.max_level".into());
        }
        if self.max_level.is_some() == self.categories.is_empty() {
            return Err("checks.categories must list what was found, and only then".into());
        }
        let confirmed = self.decision == Decision::Confirmed;
        if confirmed != self.confirmed_with.is_some() || confirmed != self.reason.is_some() {
            return Err("a confirmed decision needs confirmed_with and a reason, and nothing else does".into());
        }
        if let Some(reason) = &self.reason {
            let chars = reason.chars().count();
            if reason.trim().is_empty() || chars > MAX_REASON {
                return Err(format!("checks.reason must have 1 to {MAX_REASON} characters"));
            }
            if reason.chars().any(|c| c.is_control() && c != '\n') {
                return Err("checks.reason must not contain control characters".into());
            }
        }
        if self.categories.values().any(|n| *n == 0 || *n > 1_000_000_000) {
            return Err("checks.categories counts must be between 1 and 10^9".into());
        }
        Ok(())
    }
}

/// Checks a draft against the organisation's policy and the sender's contact history.
pub fn check(draft: &Draft, contacts: &[Contact], policy: &Policy) -> Result<Report, CheckError> {
    let recipients = parse_recipients(draft)?;
    let mut report = Report::default();

    // Content: every part scanned, matches grouped by kind.
    let mut tally: BTreeMap<Kind, Tally> = BTreeMap::new();
    let key = RandomState::new().hash_one(0u8);
    let mut scan_part = |text: &str, part: Part, name: Option<&str>| {
        let matches = content::scan(text);
        let mut here: BTreeMap<Kind, usize> = BTreeMap::new();
        for m in matches.iter().filter(|m| keep(m, text, &recipients, policy)) {
            tally.entry(m.kind).or_insert_with(|| Tally::new(key)).add(m, text);
            *here.entry(m.kind).or_insert(0) += 1;
        }
        for (kind, n) in here {
            if let Some(t) = tally.get_mut(&kind) {
                *t.places.entry((part, name.map(str::to_owned))).or_insert(0) += n;
            }
        }
    };
    scan_part(&draft.subject, Part::Subject, None);
    scan_part(&draft.body, Part::Body, None);
    for a in &draft.attachments {
        match attachment_text(a) {
            Ok(text) => scan_part(&text, Part::Attachment, Some(&a.name)),
            Err(reason) => report.not_checked.push(NotChecked {
                name: a.name.clone(),
                reason,
            }),
        }
    }

    let mut sensitive = false;
    for (kind, t) in &tally {
        let Some(mut level) = policy.setting(*kind).level() else {
            continue;
        };
        if t.confidence == Confidence::Low {
            level = level.min(Level::Suggestion);
        }
        let distinct = t.values.len();
        if kind.is_person_identifier() && distinct >= policy.bulk_threshold {
            level = level.max(Level::Warning);
        }
        sensitive |= is_sensitive(*kind, t.confidence);
        report.findings.push(Finding {
            kind: *kind,
            level,
            count: t.count,
            distinct: Some(distinct),
            confidence: Some(t.confidence),
            locations: t
                .places
                .iter()
                .map(|((part, name), count)| Place {
                    part: *part,
                    name: name.clone(),
                    count: *count,
                })
                .collect(),
            previews: t.previews.clone(),
            recipients: Vec::new(),
            similar_to: None,
            message: content_message(*kind, t.count, distinct, &t.places),
        });
    }

    for r in recipients::check(&recipients, contacts, &policy.recipients, sensitive) {
        let Some(mut level) = policy.setting(r.kind).level() else {
            continue;
        };
        let escalates = matches!(
            r.kind,
            Kind::RecipientNamesake | Kind::VisibleRecipients | Kind::WebmailRecipient
        );
        if sensitive && escalates {
            level = level.max(Level::Warning);
        }
        report.findings.push(Finding {
            kind: r.kind,
            level,
            count: r.count,
            distinct: None,
            confidence: None,
            locations: Vec::new(),
            previews: Vec::new(),
            recipients: r.recipients,
            similar_to: r.similar_to,
            message: r.message,
        });
    }
    report
        .findings
        .sort_by(|a, b| b.level.cmp(&a.level).then(a.kind.cmp(&b.kind)));
    Ok(report)
}

/// What makes a message "sensitive" for the recipient checks: a person identifier the detector
/// is reasonably sure of, a date of birth, or a health term next to a person.
pub fn is_sensitive(kind: Kind, confidence: Confidence) -> bool {
    match kind {
        Kind::DateOfBirth => true,
        Kind::HealthTerm => confidence == Confidence::High,
        k => k.is_person_identifier() && confidence >= Confidence::Medium,
    }
}

fn parse_recipients(draft: &Draft) -> Result<Recipients, CheckError> {
    let parse = |field: &'static str, list: &[String]| -> Result<Vec<Address>, CheckError> {
        list.iter()
            .map(|s| {
                Address::parse(s).map_err(|e| CheckError::Address {
                    field,
                    value: s.clone(),
                    reason: e.to_string(),
                })
            })
            .collect()
    };
    let from = parse("from", std::slice::from_ref(&draft.from))?.remove(0);
    let recipients = Recipients {
        from,
        to: parse("to", &draft.to)?,
        cc: parse("cc", &draft.cc)?,
        bcc: parse("bcc", &draft.bcc)?,
    };
    if recipients.to.is_empty() && recipients.cc.is_empty() && recipients.bcc.is_empty() {
        return Err(CheckError::NoRecipients);
    }
    Ok(recipients)
}

/// Drops matches that are not third-party data: the draft's own addresses and internal domains
/// (an e-mail address), the organisation's own IBANs.
fn keep(m: &Match, text: &str, r: &Recipients, policy: &Policy) -> bool {
    let value = &text[m.start..m.end];
    match m.kind {
        Kind::EmailAddress => {
            let Ok(found) = Address::parse(value) else {
                return true;
            };
            let own = std::iter::once(&r.from)
                .chain(&r.to)
                .chain(&r.cc)
                .chain(&r.bcc)
                .any(|a| a.address == found.address);
            let domain = found.address.rsplit('@').next().unwrap_or_default();
            let found_org = recipients::registrable_domain(domain);
            let from_org = recipients::registrable_domain(r.from.address.rsplit('@').next().unwrap_or_default());
            let internal = found_org.is_some()
                && (found_org == from_org
                    || policy
                        .recipients
                        .internal_domains
                        .iter()
                        .any(|d| recipients::registrable_domain(d) == found_org));
            !own && !internal
        }
        Kind::Iban => {
            let found = Zeroizing::new(content::canonical(Kind::Iban, value));
            !policy
                .allowed_ibans
                .iter()
                .any(|allowed| content::canonical(Kind::Iban, allowed) == *found)
        }
        _ => true,
    }
}

#[cfg(feature = "extract")]
fn attachment_text(a: &Attachment) -> Result<Zeroizing<String>, String> {
    use crate::extract::{self, ExtractError, Format};
    let bytes = match &a.content {
        AttachmentContent::Bytes(b) => b,
        AttachmentContent::Unchecked(reason) => return Err(reason.clone()),
    };
    match extract::extract_text(&a.name, bytes, &extract::Limits::default()) {
        Ok(e) if e.format == Format::Unsupported => {
            Err("its format cannot be read (only text, CSV, PDF and DOCX are checked)".into())
        }
        Ok(e) if e.truncated => Err("only its beginning could be checked; the text is too long".into()),
        Ok(e) => Ok(Zeroizing::new(e.text)),
        Err(ExtractError::Encrypted) => Err("it is encrypted or password-protected".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(feature = "extract"))]
fn attachment_text(a: &Attachment) -> Result<Zeroizing<String>, String> {
    match &a.content {
        AttachmentContent::Bytes(b) => std::str::from_utf8(b)
            .map(|t| Zeroizing::new(t.to_owned()))
            .map_err(|_| "only plain-text attachments are checked in this build".into()),
        AttachmentContent::Unchecked(reason) => Err(reason.clone()),
    }
}

/// Matches of one kind, grouped. Distinct values are counted by a keyed 64-bit hash of their
/// canonical form: no value is kept.
struct Tally {
    count: usize,
    confidence: Confidence,
    key: u64,
    values: HashSet<u64>,
    places: BTreeMap<(Part, Option<String>), usize>,
    previews: Vec<String>,
}

impl Tally {
    fn new(key: u64) -> Self {
        Tally {
            count: 0,
            confidence: Confidence::Low,
            key,
            values: HashSet::new(),
            places: BTreeMap::new(),
            previews: Vec::new(),
        }
    }

    fn add(&mut self, m: &Match, text: &str) {
        let value = &text[m.start..m.end];
        self.count += 1;
        self.confidence = self.confidence.max(m.confidence);
        let canonical = Zeroizing::new(content::canonical(m.kind, value));
        // FNV-1a under a per-check random key: distinct counting, not a secret or a defence.
        let digest = canonical.bytes().fold(self.key ^ 0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        if self.values.insert(digest) && self.previews.len() < MAX_PREVIEWS {
            self.previews.push(content::mask(m.kind, value));
        }
    }
}

fn kind_name(kind: Kind, plural: bool) -> &'static str {
    match (kind, plural) {
        (Kind::UkNhsNumber, false) => "NHS number",
        (Kind::UkNhsNumber, true) => "NHS numbers",
        (Kind::UkNino, false) => "National Insurance number",
        (Kind::UkNino, true) => "National Insurance numbers",
        (Kind::NlBsn, false) => "BSN (burgerservicenummer)",
        (Kind::NlBsn, true) => "BSNs (burgerservicenummers)",
        (Kind::Iban, false) => "IBAN",
        (Kind::Iban, true) => "IBANs",
        (Kind::PaymentCard, false) => "payment card number",
        (Kind::PaymentCard, true) => "payment card numbers",
        (Kind::UkPostcode, false) => "UK postcode",
        (Kind::UkPostcode, true) => "UK postcodes",
        (Kind::NlPostcode, false) => "Dutch postcode",
        (Kind::NlPostcode, true) => "Dutch postcodes",
        (Kind::DateOfBirth, false) => "date of birth",
        (Kind::DateOfBirth, true) => "dates of birth",
        (Kind::PassportNumber, false) => "passport number",
        (Kind::PassportNumber, true) => "passport numbers",
        (Kind::EmailAddress, false) => "e-mail address of someone else",
        (Kind::EmailAddress, true) => "e-mail addresses of other people",
        (Kind::PhoneNumber, false) => "phone number",
        (Kind::PhoneNumber, true) => "phone numbers",
        (Kind::HealthTerm, false) => "health term",
        (Kind::HealthTerm, true) => "health terms",
        (_, _) => "recipient",
    }
}

fn content_message(
    kind: Kind,
    count: usize,
    distinct: usize,
    places: &BTreeMap<(Part, Option<String>), usize>,
) -> String {
    let what = if count == 1 {
        format!("1 {}", kind_name(kind, false))
    } else if distinct < count && kind != Kind::HealthTerm {
        format!("{count} {} ({distinct} different)", kind_name(kind, true))
    } else {
        format!("{count} {}", kind_name(kind, true))
    };
    let wheres: BTreeSet<String> = places
        .keys()
        .map(|(part, name)| match (part, name) {
            (Part::Subject, _) => "the subject".to_owned(),
            (Part::Body, _) => "the body".to_owned(),
            (Part::Attachment, Some(n)) => format!("{n:?}"),
            (Part::Attachment, None) => "an attachment".to_owned(),
        })
        .collect();
    let wheres: Vec<String> = wheres.into_iter().collect();
    let place = match wheres.len() {
        0 => String::new(),
        1 => wheres[0].clone(),
        n => format!("{} and {}", wheres[..n - 1].join(", "), wheres[n - 1]),
    };
    format!("The draft contains {what} in {place}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Setting;

    const NHS: [&str; 3] = ["401 023 2137", "450 557 7104", "612 345 6784"];

    fn draft(body: &str, to: &[&str]) -> Draft {
        Draft {
            from: "clerk@council.example".into(),
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            body: body.into(),
            ..Draft::default()
        }
    }

    fn known(address: &str, sensitive_sends: u32) -> Contact {
        Contact {
            address: address.into(),
            name: None,
            sends: 20,
            sensitive_sends,
        }
    }

    fn find(r: &Report, kind: Kind) -> Option<&Finding> {
        r.findings.iter().find(|f| f.kind == kind)
    }

    #[test]
    fn an_identifier_to_a_new_recipient_warns_and_to_a_known_one_notes() {
        let d = draft(&format!("NHS number {}", NHS[0]), &["sam@example.org"]);
        let r = check(&d, &[], &Policy::default()).unwrap();
        assert_eq!(find(&r, Kind::UkNhsNumber).unwrap().level, Level::Suggestion);
        assert_eq!(find(&r, Kind::RecipientFirstSensitive).unwrap().level, Level::Warning);
        assert!(r.blocks());
        let r = check(&d, &[known("sam@example.org", 2)], &Policy::default()).unwrap();
        assert!(find(&r, Kind::RecipientFirstSensitive).is_none(), "{r:?}");
        assert!(!r.blocks());
        assert_eq!(r.send_checks(None).decision, Decision::Noted);
        r.send_checks(None).validate().unwrap();
    }

    #[test]
    fn previews_are_masked_and_distinct_values_counted() {
        let body = format!("NHS number {a}; again {a}; NHS no {b}", a = NHS[0], b = NHS[1]);
        let r = check(
            &draft(&body, &["sam@example.org"]),
            &[known("sam@example.org", 1)],
            &Policy::default(),
        )
        .unwrap();
        let f = find(&r, Kind::UkNhsNumber).unwrap();
        assert_eq!((f.count, f.distinct), (3, Some(2)));
        assert_eq!(f.previews.len(), 2);
        let json = serde_json::to_string(&r).unwrap();
        for n in NHS {
            assert!(!json.contains(n) && !json.contains(&n.replace(' ', "")), "{json}");
        }
    }

    #[test]
    fn many_distinct_identifiers_are_a_list_of_people_and_warn() {
        let rows: String = NHS.iter().map(|n| format!("NHS number: {n}\n")).collect();
        let mut policy = Policy {
            bulk_threshold: 3,
            ..Policy::default()
        };
        let d = draft(&rows, &["sam@example.org"]);
        let contacts = [known("sam@example.org", 5)];
        assert_eq!(
            find(&check(&d, &contacts, &policy).unwrap(), Kind::UkNhsNumber)
                .unwrap()
                .level,
            Level::Warning
        );
        policy.bulk_threshold = 4;
        assert_eq!(
            find(&check(&d, &contacts, &policy).unwrap(), Kind::UkNhsNumber)
                .unwrap()
                .level,
            Level::Suggestion
        );
    }

    #[test]
    fn the_policy_sets_levels_and_low_confidence_stays_a_suggestion() {
        let mut policy = Policy::default();
        policy.levels.insert(Kind::UkNhsNumber, Setting::Error);
        policy.levels.insert(Kind::UkPostcode, Setting::Error);
        policy.levels.insert(Kind::PhoneNumber, Setting::Off);
        let d = draft(
            &format!("NHS number {}. Office: SW1A 1AA. Call +44 7700 900123.", NHS[0]),
            &["sam@example.org"],
        );
        let r = check(&d, &[known("sam@example.org", 1)], &policy).unwrap();
        assert_eq!(find(&r, Kind::UkNhsNumber).unwrap().level, Level::Error);
        assert_eq!(find(&r, Kind::UkPostcode).unwrap().level, Level::Suggestion, "{r:?}");
        assert!(find(&r, Kind::PhoneNumber).is_none());
        assert_eq!(r.max_level(), Some(Level::Error));
        assert!(r.send_checks(None).validate().is_err(), "an error is never sent");
    }

    #[test]
    fn own_addresses_and_own_ibans_are_not_third_party_data() {
        let body = "Reply to clerk@council.example or team@council.example, cc sam@example.org; \
                    the neighbour is pat@elsewhere.example. Pay to IBAN GB82 WEST 1234 5698 7654 32.";
        let mut policy = Policy::default();
        let r = check(&draft(body, &["sam@example.org"]), &[], &policy).unwrap();
        assert_eq!(find(&r, Kind::EmailAddress).unwrap().count, 1, "{r:?}");
        assert!(find(&r, Kind::Iban).is_some());
        policy.allowed_ibans.push("GB82WEST12345698765432".into());
        let r = check(&draft(body, &["sam@example.org"]), &[], &policy).unwrap();
        assert!(find(&r, Kind::Iban).is_none(), "{r:?}");
    }

    #[test]
    fn sensitive_content_raises_visible_lists_to_a_warning() {
        let to: Vec<String> = (1..=6).map(|i| format!("p{i}@example{i}.org")).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let contacts: Vec<Contact> = to.iter().map(|a| known(a, 3)).collect();
        let r = check(&draft("Summer newsletter.", &to), &contacts, &Policy::default()).unwrap();
        assert_eq!(find(&r, Kind::VisibleRecipients).unwrap().level, Level::Suggestion);
        let body = format!("Patient NHS number {}", NHS[0]);
        let r = check(&draft(&body, &to), &contacts, &Policy::default()).unwrap();
        assert_eq!(find(&r, Kind::VisibleRecipients).unwrap().level, Level::Warning);
    }

    #[test]
    fn unreadable_attachments_are_listed_and_counted() {
        let mut d = draft("hello", &["sam@example.org"]);
        d.attachments.push(Attachment {
            name: "scan.png".into(),
            content: AttachmentContent::Bytes(Zeroizing::new(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec())),
        });
        d.attachments.push(Attachment {
            name: "huge.iso".into(),
            content: AttachmentContent::Unchecked("it is larger than 64 MiB".into()),
        });
        let r = check(&d, &[], &Policy::default()).unwrap();
        assert_eq!(r.not_checked.len(), 2);
        assert_eq!(r.send_checks(None).unchecked_attachments, 2);
    }

    #[test]
    fn confirmed_warnings_carry_the_reason_and_validate() {
        let d = draft(&format!("NHS number {}", NHS[0]), &["sam@example.org"]);
        let r = check(&d, &[], &Policy::default()).unwrap();
        let c = r.send_checks(Some(Confirmation {
            how: ConfirmedWith::Prompt,
            reason: "Agreed with the patient".into(),
        }));
        assert_eq!(c.decision, Decision::Confirmed);
        assert_eq!(c.categories.get(&Kind::UkNhsNumber), Some(&1));
        c.validate().unwrap();
        let mut bad = c.clone();
        bad.reason = Some("x".repeat(MAX_REASON + 1));
        assert!(bad.validate().is_err());
        let unconfirmed = r.send_checks(None);
        assert!(unconfirmed.validate().is_err(), "a warning needs a confirmation");
    }

    #[test]
    fn bad_addresses_and_no_recipients_are_errors() {
        assert!(matches!(
            check(&draft("x", &["not an address"]), &[], &Policy::default()),
            Err(CheckError::Address { field: "to", .. })
        ));
        assert!(matches!(
            check(&draft("x", &[]), &[], &Policy::default()),
            Err(CheckError::NoRecipients)
        ));
    }
}
