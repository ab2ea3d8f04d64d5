//! The incident facts entered by the sender or the DPO, their phased updates and validation.

use serde::{Deserialize, Serialize};

use crate::model::{Cause, DataCategory, EnisaOverride, Nature};

/// Longest free-text field (description, consequences, lessons learned), in characters.
pub const MAX_TEXT: usize = 4000;
/// Longest list item (subject category), in characters.
pub const MAX_ITEM: usize = 200;
/// Longest measure, in characters.
pub const MAX_MEASURE: usize = 1000;
/// Most items in one list.
pub const MAX_ITEMS: usize = 50;
/// Most wrong recipients named.
pub const MAX_RECIPIENTS: usize = 1000;

/// The incident facts. Every field is optional in JSON; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Facts {
    pub cause: Cause,
    pub nature: Vec<Nature>,
    pub description: String,
    pub wrong_recipients: Vec<String>,
    pub data_categories: Vec<DataCategory>,
    pub categories_source: Option<String>,
    pub subject_categories: Vec<String>,
    pub vulnerable: bool,
    pub approx_subjects: Option<u64>,
    pub approx_records: Option<u64>,
    pub likely_consequences: String,
    pub measures_taken: Vec<String>,
    pub measures_proposed: Vec<String>,
    pub lessons_learned: String,
    pub enisa_override: Option<EnisaOverride>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            cause: Cause::WrongRecipient,
            nature: vec![Nature::Confidentiality],
            description: String::new(),
            wrong_recipients: Vec::new(),
            data_categories: Vec::new(),
            categories_source: None,
            subject_categories: Vec::new(),
            vulnerable: false,
            approx_subjects: None,
            approx_records: None,
            likely_consequences: String::new(),
            measures_taken: Vec::new(),
            measures_proposed: Vec::new(),
            lessons_learned: String::new(),
            enisa_override: None,
        }
    }
}

/// A phased update: a field given replaces the old value (lists are replaced, not appended).
/// An `enisa_override` with no field set removes the override.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FactsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nature: Option<Vec<Nature>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrong_recipients: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_categories: Option<Vec<DataCategory>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_categories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_subjects: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx_records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likely_consequences: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measures_taken: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measures_proposed: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lessons_learned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enisa_override: Option<EnisaOverride>,
}

impl FactsPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &FactsPatch::default()
    }
}

/// Why facts were refused. Display is one plain sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} has more than {max} items")]
    TooMany { field: &'static str, max: usize },
    #[error("an item of {field} is empty or longer than {max} characters")]
    BadItem { field: &'static str, max: usize },
    #[error("nature must name at least one of confidentiality, integrity or availability")]
    NoNature,
    #[error("categories_source must be pre_send_checks, sender or dpo")]
    BadSource,
    #[error("the ENISA override dpc must be between 1 and 4")]
    BadDpc,
    #[error("{field} must not contain control characters")]
    ControlCharacters { field: &'static str },
}

fn text(field: &'static str, s: &str, max: usize) -> Result<(), FactsError> {
    if s.chars().count() > max {
        return Err(FactsError::TooLong { field, max });
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(FactsError::ControlCharacters { field });
    }
    Ok(())
}

fn list(field: &'static str, items: &[String], count: usize, max: usize) -> Result<(), FactsError> {
    if items.len() > count {
        return Err(FactsError::TooMany { field, max: count });
    }
    for item in items {
        if item.trim().is_empty() || item.chars().count() > max {
            return Err(FactsError::BadItem { field, max });
        }
        text(field, item, max)?;
    }
    Ok(())
}

impl Facts {
    /// Merges a phased update: every field given replaces the old value.
    pub fn apply(&mut self, p: &FactsPatch) {
        if let Some(v) = p.cause {
            self.cause = v;
        }
        if let Some(v) = &p.nature {
            self.nature = v.clone();
        }
        if let Some(v) = &p.description {
            self.description = v.clone();
        }
        if let Some(v) = &p.wrong_recipients {
            self.wrong_recipients = v.clone();
        }
        if let Some(v) = &p.data_categories {
            self.data_categories = v.clone();
        }
        if let Some(v) = &p.categories_source {
            self.categories_source = Some(v.clone());
        }
        if let Some(v) = &p.subject_categories {
            self.subject_categories = v.clone();
        }
        if let Some(v) = p.vulnerable {
            self.vulnerable = v;
        }
        if let Some(v) = p.approx_subjects {
            self.approx_subjects = Some(v);
        }
        if let Some(v) = p.approx_records {
            self.approx_records = Some(v);
        }
        if let Some(v) = &p.likely_consequences {
            self.likely_consequences = v.clone();
        }
        if let Some(v) = &p.measures_taken {
            self.measures_taken = v.clone();
        }
        if let Some(v) = &p.measures_proposed {
            self.measures_proposed = v.clone();
        }
        if let Some(v) = &p.lessons_learned {
            self.lessons_learned = v.clone();
        }
        if let Some(v) = &p.enisa_override {
            self.enisa_override = if v == &EnisaOverride::default() {
                None
            } else {
                Some(v.clone())
            };
        }
    }

    /// Checks lengths, counts and ranges.
    pub fn validate(&self) -> Result<(), FactsError> {
        if self.nature.is_empty() {
            return Err(FactsError::NoNature);
        }
        if self.nature.len() > 3 {
            return Err(FactsError::TooMany {
                field: "nature",
                max: 3,
            });
        }
        text("description", &self.description, MAX_TEXT)?;
        list("wrong_recipients", &self.wrong_recipients, MAX_RECIPIENTS, MAX_ITEM)?;
        if self.data_categories.len() > 16 {
            return Err(FactsError::TooMany {
                field: "data_categories",
                max: 16,
            });
        }
        if let Some(s) = &self.categories_source {
            if !matches!(s.as_str(), "pre_send_checks" | "sender" | "dpo") {
                return Err(FactsError::BadSource);
            }
        }
        list("subject_categories", &self.subject_categories, MAX_ITEMS, MAX_ITEM)?;
        text("likely_consequences", &self.likely_consequences, MAX_TEXT)?;
        list("measures_taken", &self.measures_taken, MAX_ITEMS, MAX_MEASURE)?;
        list("measures_proposed", &self.measures_proposed, MAX_ITEMS, MAX_MEASURE)?;
        text("lessons_learned", &self.lessons_learned, MAX_TEXT)?;
        if let Some(o) = &self.enisa_override {
            if let Some(d) = o.dpc {
                if !(1..=4).contains(&d) {
                    return Err(FactsError::BadDpc);
                }
            }
        }
        Ok(())
    }

    /// Data categories without duplicates, in a stable order.
    pub fn categories(&self) -> Vec<DataCategory> {
        let mut v = self.data_categories.clone();
        v.sort();
        v.dedup();
        v
    }
}
