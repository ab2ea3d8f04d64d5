//! presidio-research labelled datasets (`generated_small.json`, `synth_dataset_v2.json`).
//!
//! The files are not in the repository (some values may be CC BY-SA, see
//! `/work/shared/dlp/SOURCES.md`); the evaluation command reads them from a directory given on
//! the command line. Positions in the files are Python character offsets; they are converted to
//! byte offsets here. Entity types are mapped: `CREDIT_CARD` → payment_card, `IBAN_CODE` → iban,
//! `EMAIL_ADDRESS` → email_address, `PHONE_NUMBER` → phone_number; other types are counted and
//! ignored, and only these four kinds are scored ([`KINDS`]).

use super::oracle;
use super::{Label, Lang, Sample, Split};
use crate::Kind;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The two presidio-research files the command looks for in its directory.
pub const FILES: [&str; 2] = [
    "presidio-research_generated_small.json",
    "presidio-research_synth_dataset_v2.json",
];

/// The kinds presidio-research labels that we score.
pub const KINDS: [Kind; 4] = [Kind::PaymentCard, Kind::Iban, Kind::EmailAddress, Kind::PhoneNumber];

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{name} is not a presidio-research dataset: {source}")]
    Json { name: String, source: serde_json::Error },
    #[error("{name}, sample {sample}: span {start}..{end} lies outside the text")]
    Span {
        name: String,
        sample: usize,
        start: usize,
        end: usize,
    },
}

#[derive(Deserialize)]
struct RawSample {
    full_text: String,
    spans: Vec<RawSpan>,
    #[serde(default)]
    template_id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawSpan {
    entity_type: String,
    entity_value: String,
    start_position: usize,
    end_position: usize,
}

/// A loaded dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The file name it came from.
    pub name: String,
    /// English, split `Test` (external data, written by others), labels for [`KINDS`] only.
    pub samples: Vec<Sample>,
    /// Spans kept, per kind.
    pub mapped: BTreeMap<Kind, usize>,
    /// Spans ignored, per presidio entity type.
    pub ignored: BTreeMap<String, usize>,
    /// Kept spans whose `entity_value` differs from the text at its positions (positions win).
    pub misaligned: usize,
}

fn map_type(entity_type: &str) -> Option<Kind> {
    match entity_type {
        "CREDIT_CARD" => Some(Kind::PaymentCard),
        "IBAN_CODE" => Some(Kind::Iban),
        "EMAIL_ADDRESS" => Some(Kind::EmailAddress),
        "PHONE_NUMBER" => Some(Kind::PhoneNumber),
        _ => None,
    }
}

/// Byte offset of character offset `chars` in `text`, `None` past the end.
fn byte_offset(text: &str, chars: usize) -> Option<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .nth(chars)
}

/// Parses one presidio-research JSON file (`name` is used in messages and sample ids).
pub fn parse(name: &str, json: &str) -> Result<Dataset, LoadError> {
    let raw: Vec<RawSample> = serde_json::from_str(json).map_err(|source| LoadError::Json {
        name: name.to_owned(),
        source,
    })?;
    let mut data = Dataset {
        name: name.to_owned(),
        samples: Vec::with_capacity(raw.len()),
        mapped: BTreeMap::new(),
        ignored: BTreeMap::new(),
        misaligned: 0,
    };
    for (id, r) in raw.into_iter().enumerate() {
        let mut labels = Vec::new();
        for span in &r.spans {
            let Some(kind) = map_type(&span.entity_type) else {
                *data.ignored.entry(span.entity_type.clone()).or_default() += 1;
                continue;
            };
            let bad = || LoadError::Span {
                name: name.to_owned(),
                sample: id,
                start: span.start_position,
                end: span.end_position,
            };
            let start = byte_offset(&r.full_text, span.start_position).ok_or_else(bad)?;
            let end = byte_offset(&r.full_text, span.end_position).ok_or_else(bad)?;
            if end < start {
                return Err(bad());
            }
            if r.full_text[start..end] != span.entity_value {
                data.misaligned += 1;
            }
            *data.mapped.entry(kind).or_default() += 1;
            let context = oracle::has_context(kind, &r.full_text, start, end);
            labels.push(Label {
                kind,
                start,
                end,
                context,
            });
        }
        labels.sort_by_key(|l| (l.start, l.end));
        let template = match &r.template_id {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => "?".to_owned(),
        };
        data.samples.push(Sample {
            id,
            template_id: format!("presidio:{template}"),
            lang: Lang::En,
            split: Split::Test,
            text: r.full_text,
            labels,
            traps: Vec::new(),
        });
    }
    Ok(data)
}

/// Reads and parses one file (not on wasm: the library does no file access there).
#[cfg(not(target_family = "wasm"))]
pub fn load(path: &std::path::Path) -> Result<Dataset, LoadError> {
    let json = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    parse(&name, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_offsets_become_byte_offsets_and_types_are_mapped() {
        let json = r#"[{"full_text": "Zoë’s card 4111111111111111, mail zoe@example.com",
            "masked": "", "template_id": 3, "metadata": null,
            "spans": [
              {"entity_type": "PERSON", "entity_value": "Zoë", "start_position": 0, "end_position": 3},
              {"entity_type": "CREDIT_CARD", "entity_value": "4111111111111111", "start_position": 11, "end_position": 27},
              {"entity_type": "EMAIL_ADDRESS", "entity_value": "zoe@example.com", "start_position": 34, "end_position": 49}
            ]}]"#;
        let d = parse("t.json", json).unwrap();
        let s = &d.samples[0];
        assert_eq!(s.labels.len(), 2);
        assert_eq!(&s.text[s.labels[0].start..s.labels[0].end], "4111111111111111");
        assert_eq!(&s.text[s.labels[1].start..s.labels[1].end], "zoe@example.com");
        assert!(s.labels[0].context, "\"card\" is near");
        assert_eq!(d.ignored.get("PERSON"), Some(&1));
        assert_eq!(d.misaligned, 0);
        assert_eq!(s.template_id, "presidio:3");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(parse("x", "{"), Err(LoadError::Json { .. })));
        assert!(matches!(
            parse("x", r#"[{"full_text": 1}]"#),
            Err(LoadError::Json { .. })
        ));
        let far = r#"[{"full_text": "abc", "spans": [{"entity_type": "IBAN_CODE", "entity_value": "x",
            "start_position": 2, "end_position": 9}]}]"#;
        assert!(matches!(parse("x", far), Err(LoadError::Span { .. })));
    }
}
