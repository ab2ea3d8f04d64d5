//! The shared vocabulary: jurisdictions, evidence, exposure, ENISA inputs, the suggestion and
//! the exported incident document.

use serde::{Deserialize, Serialize};

use crate::facts::Facts;
use crate::rfc3339;

/// Where the controller reports: the UK ICO or the Dutch AP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jurisdiction {
    #[default]
    Uk,
    Nl,
}

/// The rules of one jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub authority: &'static str,
    pub law: &'static str,
    pub deadline_hours: u32,
    pub channel: &'static str,
    pub phased_reporting: &'static str,
}

static UK: Profile = Profile {
    authority: "Information Commissioner's Office (ICO)",
    law: "UK GDPR Art. 33 and 34",
    deadline_hours: 72,
    channel: "ICO personal data breach report form (online)",
    phased_reporting: "Report what is known within 72 hours through the online form; send additional information later by email to the ICO, quoting the case reference (UK GDPR Art. 33(4)).",
};

static NL: Profile = Profile {
    authority: "Autoriteit Persoonsgegevens (AP)",
    law: "AVG (GDPR) art. 33 en 34",
    deadline_hours: 72,
    channel: "Meldformulier datalekken (only channel)",
    phased_reporting: "Report what is known within 72 hours through the Meldformulier datalekken; supplement, change or withdraw the report later in the same form (\"aanvullen, aanpassen of intrekken\", AVG art. 33(4)).",
};

impl Jurisdiction {
    /// The authority, law, deadline and channel of this jurisdiction.
    pub fn profile(self) -> &'static Profile {
        match self {
            Jurisdiction::Uk => &UK,
            Jurisdiction::Nl => &NL,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Jurisdiction::Uk => "uk",
            Jurisdiction::Nl => "nl",
        }
    }

    pub fn parse(s: &str) -> Option<Jurisdiction> {
        match s {
            "uk" => Some(Jurisdiction::Uk),
            "nl" => Some(Jurisdiction::Nl),
            _ => None,
        }
    }
}

/// How the breach happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    #[default]
    WrongRecipient,
    VisibleRecipients,
    WrongAttachment,
    Other,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::WrongRecipient => "wrong_recipient",
            Cause::VisibleRecipients => "visible_recipients",
            Cause::WrongAttachment => "wrong_attachment",
            Cause::Other => "other",
        }
    }

    /// Plain-language description.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::WrongRecipient => "message sent to the wrong recipient",
            Cause::VisibleRecipients => "recipients visible to each other",
            Cause::WrongAttachment => "wrong attachment sent",
            Cause::Other => "other cause",
        }
    }
}

/// The kind of breach (a breach may be several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nature {
    Confidentiality,
    Integrity,
    Availability,
}

impl Nature {
    pub fn as_str(self) -> &'static str {
        match self {
            Nature::Confidentiality => "confidentiality",
            Nature::Integrity => "integrity",
            Nature::Availability => "availability",
        }
    }
}

/// Categories of personal data, each with its ENISA DPC base score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCategory {
    Contact,
    Identifier,
    NationalId,
    Behavioural,
    Financial,
    Health,
    SpecialCategory,
    Criminal,
}

impl DataCategory {
    /// Maps a pre-send check kind (guard `SendChecks.categories` key) to a data category;
    /// recipient checks are not data categories.
    pub fn from_check_kind(kind: &str) -> Option<DataCategory> {
        Some(match kind {
            "uk_nhs_number" | "uk_nino" | "nl_bsn" => DataCategory::NationalId,
            "iban" | "payment_card" => DataCategory::Financial,
            "uk_postcode" | "nl_postcode" | "email_address" | "phone_number" => DataCategory::Contact,
            "date_of_birth" | "passport_number" => DataCategory::Identifier,
            "health_term" => DataCategory::Health,
            _ => return None,
        })
    }

    /// ENISA DPC score for this category (national identifiers include +1 for identity fraud).
    pub fn dpc(self) -> u8 {
        match self {
            DataCategory::Contact | DataCategory::Identifier => 1,
            DataCategory::NationalId | DataCategory::Behavioural => 2,
            DataCategory::Financial => 3,
            DataCategory::Health | DataCategory::SpecialCategory | DataCategory::Criminal => 4,
        }
    }

    /// Art. 9 or Art. 10 data.
    pub fn is_special(self) -> bool {
        matches!(
            self,
            DataCategory::Health | DataCategory::SpecialCategory | DataCategory::Criminal
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::Contact => "contact",
            DataCategory::Identifier => "identifier",
            DataCategory::NationalId => "national_id",
            DataCategory::Behavioural => "behavioural",
            DataCategory::Financial => "financial",
            DataCategory::Health => "health",
            DataCategory::SpecialCategory => "special_category",
            DataCategory::Criminal => "criminal",
        }
    }

    /// Plain-language description.
    pub fn describe(self) -> &'static str {
        match self {
            DataCategory::Contact => "contact details (name, address, email, phone, postcode)",
            DataCategory::Identifier => "identifiers (date of birth, passport number)",
            DataCategory::NationalId => "national identification numbers (NHS number, National Insurance number, BSN)",
            DataCategory::Behavioural => "behavioural data (location, habits)",
            DataCategory::Financial => "financial data (bank account, payment card)",
            DataCategory::Health => "health data (special category, Art. 9)",
            DataCategory::SpecialCategory => {
                "other special category data (Art. 9: e.g. political opinions, religion, sex life)"
            }
            DataCategory::Criminal => "criminal offence data (Art. 10)",
        }
    }
}

/// How a recipient proved itself before a key-share release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    Sms,
    Totp,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Sms => "sms",
            Verification::Totp => "totp",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Verification::Sms => "SMS code",
            Verification::Totp => "authenticator app (TOTP)",
        }
    }
}

/// One key-share release to a recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub at: i64,
    pub verification: Verification,
    pub log_index: Option<u64>,
}

/// What the server's events say about one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientEvidence {
    pub rid: String,
    pub label: String,
    pub wrong: bool,
    pub releases: Vec<Release>,
    pub revoked_at: Option<i64>,
    pub log_complete: bool,
}

/// Exposure of one recipient, from the access proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExposureState {
    DeliveredNoAccess,
    AccessedVerified,
    Unknown,
}

impl ExposureState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExposureState::DeliveredNoAccess => "delivered_no_access",
            ExposureState::AccessedVerified => "accessed_verified",
            ExposureState::Unknown => "unknown",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ExposureState::DeliveredNoAccess => "never received the key (no access possible)",
            ExposureState::AccessedVerified => "received the key after verification (accessed)",
            ExposureState::Unknown => "unknown (the access log is incomplete)",
        }
    }

    /// The likelihood this state implies (research §4.2).
    pub fn likelihood(self) -> Likelihood {
        match self {
            ExposureState::DeliveredNoAccess => Likelihood::Remote,
            ExposureState::AccessedVerified => Likelihood::Likely,
            ExposureState::Unknown => Likelihood::VeryLikely,
        }
    }
}

/// Likelihood that the breach materialises for the people affected. Ordered: worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Likelihood {
    Remote,
    Likely,
    VeryLikely,
}

impl Likelihood {
    pub fn as_str(self) -> &'static str {
        match self {
            Likelihood::Remote => "remote",
            Likelihood::Likely => "likely",
            Likelihood::VeryLikely => "very_likely",
        }
    }
}

/// Exposure of one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    pub rid: String,
    pub label: String,
    pub wrong: bool,
    pub state: ExposureState,
    pub first_release_at: Option<i64>,
    pub first_release_verification: Option<Verification>,
    pub releases: u32,
    pub revoked_at: Option<i64>,
    pub revoked_before_release: bool,
}

/// [`Exposure`] with RFC 3339 times, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposureView {
    pub rid: String,
    pub label: String,
    pub wrong: bool,
    pub state: ExposureState,
    pub first_release_at: Option<String>,
    pub first_release_verification: Option<Verification>,
    pub releases: u32,
    pub revoked_at: Option<String>,
    pub revoked_before_release: bool,
}

impl Exposure {
    pub fn view(&self) -> ExposureView {
        ExposureView {
            rid: self.rid.clone(),
            label: self.label.clone(),
            wrong: self.wrong,
            state: self.state,
            first_release_at: self.first_release_at.map(rfc3339),
            first_release_verification: self.first_release_verification,
            releases: self.releases,
            revoked_at: self.revoked_at.map(rfc3339),
            revoked_before_release: self.revoked_before_release,
        }
    }
}

/// ENISA ease of identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ease {
    Negligible,
    Limited,
    Significant,
    Maximum,
}

impl Ease {
    /// EI in quarters (1..=4).
    pub fn quarters(self) -> u32 {
        match self {
            Ease::Negligible => 1,
            Ease::Limited => 2,
            Ease::Significant => 3,
            Ease::Maximum => 4,
        }
    }

    pub fn value(self) -> f64 {
        f64::from(self.quarters()) / 4.0
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ease::Negligible => "negligible",
            Ease::Limited => "limited",
            Ease::Significant => "significant",
            Ease::Maximum => "maximum",
        }
    }
}

/// One ENISA circumstances-of-breach loss element: 0, +0.25 or +0.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CbLevel {
    #[default]
    None,
    Limited,
    Wide,
}

impl CbLevel {
    /// Quarters added to the score (0, 1 or 2).
    pub fn quarters(self) -> u32 {
        match self {
            CbLevel::None => 0,
            CbLevel::Limited => 1,
            CbLevel::Wide => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CbLevel::None => "none",
            CbLevel::Limited => "limited",
            CbLevel::Wide => "wide",
        }
    }
}

/// ENISA circumstances of breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Circumstances {
    pub confidentiality: CbLevel,
    pub integrity: CbLevel,
    pub availability: CbLevel,
    pub malicious: bool,
}

impl Circumstances {
    /// CB in quarters: each loss element 0/1/2, malicious intent 2.
    pub fn quarters(&self) -> u32 {
        self.confidentiality.quarters()
            + self.integrity.quarters()
            + self.availability.quarters()
            + if self.malicious { 2 } else { 0 }
    }

    pub fn value(&self) -> f64 {
        f64::from(self.quarters()) / 4.0
    }
}

/// ENISA severity band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Low,
    Medium,
    High,
    VeryHigh,
}

impl Band {
    /// Band of a score given in quarters: Low < 2, Medium < 3, High < 4, VeryHigh >= 4.
    pub fn from_quarters(q: u32) -> Band {
        match q {
            0..=7 => Band::Low,
            8..=11 => Band::Medium,
            12..=15 => Band::High,
            _ => Band::VeryHigh,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
            Band::VeryHigh => "very_high",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Band::Low => "Low",
            Band::Medium => "Medium",
            Band::High => "High",
            Band::VeryHigh => "Very high",
        }
    }
}

/// ENISA severity inputs: SE = DPC x EI + CB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enisa {
    pub dpc: u8,
    pub dpc_basis: String,
    pub ei: Ease,
    pub cb: Circumstances,
}

impl Enisa {
    /// SE x 4, exact: dpc x ei_q + cb_q.
    pub fn score_quarters(&self) -> u32 {
        u32::from(self.dpc.clamp(1, 4)) * self.ei.quarters() + self.cb.quarters()
    }

    pub fn score(&self) -> f64 {
        f64::from(self.score_quarters()) / 4.0
    }

    pub fn band(&self) -> Band {
        Band::from_quarters(self.score_quarters())
    }

    pub fn view(&self, overridden: bool) -> EnisaView {
        EnisaView {
            dpc: self.dpc,
            dpc_basis: self.dpc_basis.clone(),
            ei: self.ei,
            ei_value: self.ei.value(),
            cb: self.cb,
            cb_value: self.cb.value(),
            score: self.score(),
            band: self.band(),
            overridden,
        }
    }
}

/// [`Enisa`] with its computed values, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnisaView {
    pub dpc: u8,
    pub dpc_basis: String,
    pub ei: Ease,
    pub ei_value: f64,
    pub cb: Circumstances,
    pub cb_value: f64,
    pub score: f64,
    pub band: Band,
    pub overridden: bool,
}

/// The DPO's override of the prefilled ENISA inputs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnisaOverride {
    pub dpc: Option<u8>,
    pub ei: Option<Ease>,
    pub cb: Option<Circumstances>,
}

/// What to do about the breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    RecordOnly,
    NotifyAuthority,
    NotifyAuthorityAndIndividuals,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::RecordOnly => "record_only",
            Outcome::NotifyAuthority => "notify_authority",
            Outcome::NotifyAuthorityAndIndividuals => "notify_authority_and_individuals",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "record_only" => Some(Outcome::RecordOnly),
            "notify_authority" => Some(Outcome::NotifyAuthority),
            "notify_authority_and_individuals" => Some(Outcome::NotifyAuthorityAndIndividuals),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Outcome::RecordOnly => "record only (document the breach, no notification)",
            Outcome::NotifyAuthority => "notify the supervisory authority within the deadline",
            Outcome::NotifyAuthorityAndIndividuals => "notify the supervisory authority and inform the people affected",
        }
    }
}

/// The suggested outcome with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub outcome: Outcome,
    pub likelihood: Likelihood,
    pub band: Band,
    pub reasons: Vec<String>,
    pub art34_exception: Option<String>,
}

/// The data controller and its contact point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Controller {
    pub name: String,
    pub dpo: Contact,
}

/// A contact (the DPO).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
}

/// The message the incident is about.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageSummary {
    pub id: String,
    pub sent_at: Option<String>,
    pub state: String,
    pub recipients: u32,
    pub revoked_at: Option<String>,
    pub checks_decision: Option<String>,
}

/// The DPO's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub confirmed: bool,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: String,
}

/// A notification made to the authority or the individuals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub to: String,
    pub at: String,
    pub reference: Option<String>,
    pub phase: u32,
    pub summary: String,
    pub late: bool,
    pub delay_reason: Option<String>,
}

/// One change to the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRecord {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub note: Option<String>,
    pub changes: serde_json::Value,
}

/// The whole incident as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDocument {
    pub format: String,
    pub incident_id: String,
    pub controller: Controller,
    pub jurisdiction: Jurisdiction,
    pub authority: String,
    pub deadline_hours: u32,
    pub message: MessageSummary,
    pub trigger: String,
    pub opened_by: String,
    pub detected_at: String,
    pub aware_at: String,
    pub aware_reason: Option<String>,
    pub deadline_at: String,
    pub facts: Facts,
    pub exposures: Vec<ExposureView>,
    pub never_accessed: bool,
    pub enisa: EnisaView,
    pub suggestion: Suggestion,
    pub decision: Option<Decision>,
    pub notifications: Vec<NotificationRecord>,
    pub updates: Vec<UpdateRecord>,
    pub receipt: Receipt,
    pub generated_at: String,
}

/// The signed message receipt, kept as the exact text the server issued: its canonical form,
/// which `sealpost verify` requires byte for byte. A parsed-and-reserialised JSON value would not
/// keep it (object keys could be reordered), so the text travels verbatim into every export.
#[derive(Debug, Clone)]
pub struct Receipt(Box<serde_json::value::RawValue>);

impl Receipt {
    /// From the issued receipt text (trailing whitespace is not part of the JSON value).
    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text.trim_end().to_owned()).map(Receipt)
    }
    /// No receipt (views that do not carry one): JSON `null`.
    pub fn null() -> Self {
        Receipt(serde_json::value::RawValue::NULL.to_owned())
    }
    /// The receipt's JSON text, exactly as issued (without the final newline).
    pub fn text(&self) -> &str {
        self.0.get()
    }
    /// The receipt as a JSON value (for reading fields; not for writing it out again).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.text()).unwrap_or(serde_json::Value::Null)
    }
}

impl PartialEq for Receipt {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Serialize for Receipt {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Receipt {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(Receipt)
    }
}

/// The format tag of [`IncidentDocument`].
pub const DOCUMENT_FORMAT: &str = "sealpost/incident/v1";
