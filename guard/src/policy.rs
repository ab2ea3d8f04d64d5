//! The organisation's policy: which level each kind of finding gets, and the thresholds of the
//! recipient checks. The server stores and serves it (`GET /api/v1/policy`); the client applies it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recipients::RecipientPolicy;
use crate::{Kind, Level};

/// What a kind of finding becomes: nothing, or a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Not reported.
    Off,
    /// Shown; never stops a send.
    Suggestion,
    /// Stops a send until the sender confirms with a reason.
    Warning,
    /// Always stops a send.
    Error,
}

impl Setting {
    /// The level, or `None` for [`Setting::Off`].
    pub fn level(self) -> Option<Level> {
        match self {
            Setting::Off => None,
            Setting::Suggestion => Some(Level::Suggestion),
            Setting::Warning => Some(Level::Warning),
            Setting::Error => Some(Level::Error),
        }
    }
}

/// Most entries in any list of a policy, and most characters in one entry.
pub const MAX_LIST: usize = 1000;
const MAX_ENTRY: usize = 254;

/// The organisation's policy. Every field has a default, so `{}` is the default policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Level per kind; kinds not listed keep their default ([`Policy::default_setting`]).
    pub levels: BTreeMap<Kind, Setting>,
    /// This many distinct person identifiers (NHS, NINO, BSN, IBAN, card, passport numbers)
    /// in one message raise each of those findings to at least a warning: a list of people.
    pub bulk_threshold: usize,
    /// Recipient checks: visible-list threshold, internal domains, webmail, look-alike history.
    pub recipients: RecipientPolicy,
    /// The organisation's own IBANs (on invoices and payment instructions): never reported.
    pub allowed_ibans: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            levels: BTreeMap::new(),
            bulk_threshold: 10,
            recipients: RecipientPolicy::default(),
            allowed_ibans: Vec::new(),
        }
    }
}

/// Why a policy was refused, in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl Policy {
    /// The built-in level of a kind: identifiers inform, payment cards and recipient mistakes
    /// that are likely to leak warn (see `docs/checks.md`).
    pub fn default_setting(kind: Kind) -> Setting {
        match kind {
            Kind::PaymentCard | Kind::RecipientFirstSensitive | Kind::RecipientLookalike => Setting::Warning,
            _ => Setting::Suggestion,
        }
    }

    /// The setting in force for a kind.
    pub fn setting(&self, kind: Kind) -> Setting {
        self.levels
            .get(&kind)
            .copied()
            .unwrap_or_else(|| Policy::default_setting(kind))
    }

    /// Parses and validates a policy document (JSON).
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy =
            serde_json::from_str(text).map_err(|e| PolicyError(format!("the policy is not valid: {e}")))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks bounds: a policy is small, and its thresholds make sense.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.bulk_threshold == 0 {
            return Err(PolicyError("bulk_threshold must be at least 1".into()));
        }
        if self.recipients.visible_threshold < 2 {
            return Err(PolicyError("recipients.visible_threshold must be at least 2".into()));
        }
        let lists = [
            ("recipients.internal_domains", &self.recipients.internal_domains),
            (
                "recipients.extra_webmail_domains",
                &self.recipients.extra_webmail_domains,
            ),
            ("allowed_ibans", &self.allowed_ibans),
        ];
        for (name, list) in lists {
            if list.len() > MAX_LIST {
                return Err(PolicyError(format!("{name} has more than {MAX_LIST} entries")));
            }
            if let Some(bad) = list
                .iter()
                .find(|e| e.is_empty() || e.len() > MAX_ENTRY || e.chars().any(char::is_control))
            {
                let shown: String = bad.chars().filter(|c| !c.is_control()).take(40).collect();
                return Err(PolicyError(format!(
                    "{name} has an empty, overlong or unprintable entry ({shown:?})"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_is_the_default_policy() {
        let p = Policy::from_json("{}").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.setting(Kind::UkNhsNumber), Setting::Suggestion);
        assert_eq!(p.setting(Kind::RecipientLookalike), Setting::Warning);
    }

    #[test]
    fn levels_override_defaults_and_unknown_fields_are_refused() {
        let p = Policy::from_json(r#"{"levels":{"uk_nhs_number":"error","email_address":"off"}}"#).unwrap();
        assert_eq!(p.setting(Kind::UkNhsNumber), Setting::Error);
        assert_eq!(p.setting(Kind::EmailAddress), Setting::Off);
        assert_eq!(p.setting(Kind::NlBsn), Setting::Suggestion);
        assert!(Policy::from_json(r#"{"levels":{"nhs":"error"}}"#).is_err());
        assert!(Policy::from_json(r#"{"level":{}}"#).is_err());
        assert!(Policy::from_json(r#"{"bulk_threshold":0}"#).is_err());
        assert!(Policy::from_json(r#"{"allowed_ibans":[""]}"#).is_err());
    }
}
