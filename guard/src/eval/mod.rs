//! An honest, repeatable evaluation of the content detectors (research §5).
//!
//! - [`generate`] writes labelled synthetic drafts (English and Dutch) from templates in the
//!   registers Sealpost's users write, with valid identifiers computed by algorithm, bare and
//!   in-context variants, and labelled hard negatives ([`Trap`]s). Templates, not samples, are
//!   split into [`Split::Dev`] (for tuning) and [`Split::Test`] (held out).
//! - [`evaluate`] runs a scan function over the samples and scores it span by span, per kind and
//!   per stratum, with Wilson 95 % intervals ([`Report`]); [`Report::meets_goal`] checks the
//!   project's targets.
//! - [`presidio`] reads the presidio-research JSON datasets (not shipped: licence).
//! - [`oracle`] holds the evaluation's own validity rules, written independently of `content`.
//!
//! The data is synthetic: printing values from it (the worst errors) is fine. Nothing here is
//! used by the detectors at run time.

mod generate;
mod metrics;
pub mod oracle;
pub mod presidio;
mod rng;
mod templates;
mod values;

pub use generate::generate;
pub use metrics::{
    Cell, Confusion, Counts, Example, GOAL_KINDS, GOAL_MIN_POSITIVES, GOAL_PRECISION, GOAL_RECALL, IOU_THRESHOLD,
    NoContext, Options, Report, Row, Stratum, TrapCount, evaluate, evaluate_with, wilson,
};

use crate::Kind;
use serde::{Deserialize, Serialize};

/// The language of a draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    En,
    Nl,
}

/// The split a draft belongs to, decided by its template: `Test` templates are held out and
/// must never be used to tune rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Dev,
    Test,
}

/// One labelled value: `text[start..end]` is the value exactly as written (byte offsets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// A context word of the kind ([`oracle::context_words`]) is within 300 characters.
    pub context: bool,
}

impl Label {
    /// Whether a detector is expected to fire: always, except for the context-only kinds
    /// ([`oracle::needs_context`]) without context, where firing is counted apart.
    pub fn expected(&self) -> bool {
        self.context || !oracle::needs_context(self.kind)
    }
}

/// What a hard negative is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrapKind {
    /// An in-range NHS number with one digit off, next to NHS context.
    NhsBadChecksum,
    /// A BSN with one digit off, next to BSN context.
    BsnBadChecksum,
    /// An IBAN with one digit off, next to IBAN context.
    IbanBadChecksum,
    /// A card number with one digit off, next to card context.
    CardBadChecksum,
    /// `111 111 1111` and friends (they pass modulus 11), next to NHS context.
    NhsRepdigit,
    /// HMRC's documentation example `QQ 12 34 56 A`, next to NINO context.
    NinoExample,
    /// HMRC administrative prefixes (CR, FY, MW, NC) and never-used prefixes (BG, GB, TN, ZZ, D…, F…).
    NinoAdminPrefix,
    /// 10-digit epoch seconds (the shape of an NHS number).
    EpochSeconds,
    /// 13-digit epoch milliseconds beginning with 1.
    EpochMillis,
    /// Order, invoice and case references that fail every checksum.
    OrderNumber,
    /// A phone number whose national part passes the NHS or BSN rules (`+44 7…`, `+31 6…`),
    /// near identifier words. It is also labelled as a phone number.
    PhoneLikeIdentifier,
    /// A public test card number (4111 1111 1111 1111 …). Alerting on it is a policy choice
    /// (research §1.2 row 5): listed, not counted as a false positive.
    TestCard,
    /// A real date that is not a date of birth (meetings, letters, appointments).
    MeetingDate,
}

impl TrapKind {
    /// Every trap kind, in declaration order.
    pub const ALL: [TrapKind; 13] = [
        TrapKind::NhsBadChecksum,
        TrapKind::BsnBadChecksum,
        TrapKind::IbanBadChecksum,
        TrapKind::CardBadChecksum,
        TrapKind::NhsRepdigit,
        TrapKind::NinoExample,
        TrapKind::NinoAdminPrefix,
        TrapKind::EpochSeconds,
        TrapKind::EpochMillis,
        TrapKind::OrderNumber,
        TrapKind::PhoneLikeIdentifier,
        TrapKind::TestCard,
        TrapKind::MeetingDate,
    ];

    /// The serialised name, e.g. `nhs_bad_checksum`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrapKind::NhsBadChecksum => "nhs_bad_checksum",
            TrapKind::BsnBadChecksum => "bsn_bad_checksum",
            TrapKind::IbanBadChecksum => "iban_bad_checksum",
            TrapKind::CardBadChecksum => "card_bad_checksum",
            TrapKind::NhsRepdigit => "nhs_repdigit",
            TrapKind::NinoExample => "nino_example",
            TrapKind::NinoAdminPrefix => "nino_admin_prefix",
            TrapKind::EpochSeconds => "epoch_seconds",
            TrapKind::EpochMillis => "epoch_millis",
            TrapKind::OrderNumber => "order_number",
            TrapKind::PhoneLikeIdentifier => "phone_like_identifier",
            TrapKind::TestCard => "test_card",
            TrapKind::MeetingDate => "meeting_date",
        }
    }

    /// A number whose checksum fails: the goal allows no alert of any kind on it.
    pub fn is_checksum_invalid(self) -> bool {
        matches!(
            self,
            TrapKind::NhsBadChecksum | TrapKind::BsnBadChecksum | TrapKind::IbanBadChecksum | TrapKind::CardBadChecksum
        )
    }

    /// Whether an alert on this trap counts as a false positive (all but [`TrapKind::TestCard`]).
    pub fn counts_as_false_positive(self) -> bool {
        self != TrapKind::TestCard
    }

    /// The kinds this trap imitates: its value fails the [`oracle`] rule of each of them.
    pub fn imitates(self) -> &'static [Kind] {
        match self {
            TrapKind::NhsBadChecksum | TrapKind::NhsRepdigit | TrapKind::EpochSeconds => &[Kind::UkNhsNumber],
            TrapKind::BsnBadChecksum => &[Kind::NlBsn],
            TrapKind::IbanBadChecksum => &[Kind::Iban],
            TrapKind::CardBadChecksum | TrapKind::EpochMillis | TrapKind::TestCard => &[Kind::PaymentCard],
            TrapKind::NinoExample | TrapKind::NinoAdminPrefix => &[Kind::UkNino],
            TrapKind::OrderNumber => &[Kind::UkNhsNumber, Kind::NlBsn, Kind::PaymentCard],
            TrapKind::PhoneLikeIdentifier => &[Kind::UkNhsNumber, Kind::NlBsn],
            TrapKind::MeetingDate => &[Kind::DateOfBirth],
        }
    }
}

/// One hard negative: `text[start..end]` is the trap value (byte offsets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trap {
    pub what: TrapKind,
    pub start: usize,
    pub end: usize,
}

/// One labelled draft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Position in the generated set (or in the loaded file).
    pub id: usize,
    /// The template it was written from (`presidio:<n>` for presidio-research samples).
    pub template_id: String,
    pub lang: Lang,
    pub split: Split,
    pub text: String,
    pub labels: Vec<Label>,
    pub traps: Vec<Trap>,
}

/// A template's identifier, language and split (the templates themselves stay private).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateInfo {
    pub id: &'static str,
    pub lang: Lang,
    pub split: Split,
}

/// Every template the generator uses.
pub fn templates() -> Vec<TemplateInfo> {
    templates::TEMPLATES
        .iter()
        .map(|t| TemplateInfo {
            id: t.id,
            lang: t.lang,
            split: t.split,
        })
        .collect()
}
