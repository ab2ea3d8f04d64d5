//! Checks a draft before it leaves the sender's machine.
//!
//! Two families of checks run here, never on the server (which must not see content):
//! - **content** ([`content`]): sensitive identifiers (NHS number, NINO, BSN, IBAN, payment card,
//!   passport, date of birth, postcodes, e-mail addresses, phone numbers, health terms), each with
//!   its validation rule and English and Dutch context words;
//! - **recipients** ([`recipients`]): a first send of sensitive data, a look-alike of a frequent
//!   contact, a namesake, a long visible To/Cc list, a free-webmail address.
//!
//! Values found never leave the process: a [`Finding`] carries the kind, the count, where it was
//! found and a masked preview only.

pub mod check;
pub mod content;
pub mod eval;
#[cfg(feature = "extract")]
pub mod extract;
pub mod policy;
pub mod recipients;

pub use check::{
    Attachment, AttachmentContent, CheckError, Confirmation, ConfirmedWith, Decision, Draft, Finding, NotChecked,
    Report, SendChecks, check,
};
pub use policy::{Policy, Setting};

use serde::{Deserialize, Serialize};

/// What a finding is about. The serialised names are the public schema (`docs/checks.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    UkNhsNumber,
    UkNino,
    NlBsn,
    Iban,
    PaymentCard,
    UkPostcode,
    NlPostcode,
    DateOfBirth,
    PassportNumber,
    EmailAddress,
    PhoneNumber,
    HealthTerm,
    RecipientFirstSensitive,
    RecipientLookalike,
    RecipientNamesake,
    VisibleRecipients,
    WebmailRecipient,
}

impl Kind {
    /// Every kind, in schema order.
    pub const ALL: [Kind; 17] = [
        Kind::UkNhsNumber,
        Kind::UkNino,
        Kind::NlBsn,
        Kind::Iban,
        Kind::PaymentCard,
        Kind::UkPostcode,
        Kind::NlPostcode,
        Kind::DateOfBirth,
        Kind::PassportNumber,
        Kind::EmailAddress,
        Kind::PhoneNumber,
        Kind::HealthTerm,
        Kind::RecipientFirstSensitive,
        Kind::RecipientLookalike,
        Kind::RecipientNamesake,
        Kind::VisibleRecipients,
        Kind::WebmailRecipient,
    ];

    /// The schema name, e.g. `uk_nhs_number`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UkNhsNumber => "uk_nhs_number",
            Kind::UkNino => "uk_nino",
            Kind::NlBsn => "nl_bsn",
            Kind::Iban => "iban",
            Kind::PaymentCard => "payment_card",
            Kind::UkPostcode => "uk_postcode",
            Kind::NlPostcode => "nl_postcode",
            Kind::DateOfBirth => "date_of_birth",
            Kind::PassportNumber => "passport_number",
            Kind::EmailAddress => "email_address",
            Kind::PhoneNumber => "phone_number",
            Kind::HealthTerm => "health_term",
            Kind::RecipientFirstSensitive => "recipient_first_sensitive",
            Kind::RecipientLookalike => "recipient_lookalike",
            Kind::RecipientNamesake => "recipient_namesake",
            Kind::VisibleRecipients => "visible_recipients",
            Kind::WebmailRecipient => "webmail_recipient",
        }
    }

    /// Parses a schema name.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A content kind (found in text) rather than a recipient kind.
    pub fn is_content(self) -> bool {
        (self as usize) <= (Kind::HealthTerm as usize)
    }

    /// An identifier of a person: the kinds that make content "sensitive" for the recipient checks.
    pub fn is_person_identifier(self) -> bool {
        matches!(
            self,
            Kind::UkNhsNumber | Kind::UkNino | Kind::NlBsn | Kind::Iban | Kind::PaymentCard | Kind::PassportNumber
        )
    }
}

/// How sure a detector is, on Purview's three levels (low 65, medium 75, high 85).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    #[default]
    Low,
    Medium,
    High,
}

/// What the sender is shown, ordered: a suggestion informs, a warning stops until the sender
/// confirms, an error always stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Suggestion,
    Warning,
    Error,
}
