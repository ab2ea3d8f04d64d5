//! Breach assessment (issue 8), without I/O.
//!
//! The server gathers the evidence (who received the key share, when, after which
//! verification, when access was revoked); this crate turns it into exposure states, an ENISA
//! severity score, a likelihood, a suggested Art. 33/34 outcome with cited reasons, and the
//! exported documents (Art. 33(5) record, draft notification, draft letter) as Markdown, HTML,
//! PDF and JSON. All times are Unix milliseconds inside and RFC 3339 UTC strings in JSON.

mod assess;
mod facts;
mod model;
mod render;

pub use assess::{assess, enisa_prefill, exposure, never_accessed, suggest};
pub use facts::{Facts, FactsError, FactsPatch};
pub use model::*;
pub use render::{
    ACCESSED, HEADING_LETTER, HEADING_LETTER_NL, HEADING_RECEIPT, HEADING_RECORD, NEVER_ACCESSED, heading_notification,
    receipt_bytes, receipt_sha256, render_html, render_json, render_markdown, render_pdf,
};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 UTC string with seconds precision (`2026-11-23T10:00:00Z`) for Unix milliseconds.
/// Times outside the representable range are clamped to the Unix epoch.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Unix milliseconds of an RFC 3339 time (any offset); `None` when it does not parse.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}
