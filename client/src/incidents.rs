//! The breach register (`/api/v1/incidents…`, see `docs/breach.md`): open an incident about a
//! message sent in error, read and update it, set when the organisation became aware, record the
//! DPO's decision and the notifications made, close it, export the record, and the
//! organisation's breach settings.
//!
//! Answers are the API's JSON as [`Value`]s; facts are sent as the API's `FactsPatch` object
//! (only the fields given change). Reading and changing the register needs the `dpo` or `admin`
//! role and a token with the `incidents` scope; the sender of a message may open an incident
//! about it (and gets only its id and deadline back).
//!
//! ```no_run
//! # async fn demo(client: sealpost_client::api::Client) -> sealpost_client::Result<()> {
//! use sealpost_client::incidents;
//!
//! // The message went to the wrong person: revoke it and open an incident in one step.
//! let status = incidents::revoke_sent_in_error(&client, "q3Vx1Yc0B2mT9aXr4LkZpw", None, None).await?;
//! let id = status["incident_id"].as_str().unwrap_or_default().to_owned();
//! // The DPO reads the assessment, decides and exports the Art. 33(5) record.
//! let incident = incidents::show(&client, &id).await?;
//! println!("suggested: {}", incident["suggestion"]["outcome"]);
//! incidents::decide(&client, &id, "record_only", "Never accessed: the receipt proves it.").await?;
//! let pdf = incidents::export(&client, &id, "pdf").await?;
//! incidents::save_export(std::path::Path::new("incident.pdf"), &pdf)?;
//! # Ok(()) }
//! ```

use std::path::Path;

use reqwest::Method;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::{Auth, Client, encode_segment};
use crate::error::{Error, Result};
use crate::messages;
use crate::send::{parse_expiry, rfc3339};

/// The decisions a DPO can take.
pub const OUTCOMES: &[&str] = &["record_only", "notify_authority", "notify_authority_and_individuals"];
/// The formats of an export, with their file extension.
pub const FORMATS: &[&str] = &["md", "html", "pdf", "json"];
/// The longest free text the API keeps (descriptions, reasons, notes).
pub const MAX_TEXT: usize = 4000;

/// Message ids and incident ids are 16 bytes of base64url: 22 characters.
fn is_id(id: &str) -> bool {
    id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_id(id: &str, what: &str) -> Result<()> {
    if is_id(id) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{id:?} is not {what} (22 characters, as `sealpost incident list` prints them)"
        )))
    }
}

fn incident_path(id: &str, rest: &str) -> Result<String> {
    check_id(id, "an incident id")?;
    Ok(format!("/api/v1/incidents/{}{rest}", encode_segment(id)))
}

/// A required free text: not blank, at most [`MAX_TEXT`] characters.
pub fn required_text(text: &str, what: &str) -> Result<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Error::Invalid(format!("the {what} is empty: say it in a few words")));
    }
    if trimmed.chars().count() > MAX_TEXT {
        return Err(Error::Invalid(format!(
            "the {what} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Which recipients were wrong: each given as an address or a recipient id (rid). Addresses
/// are looked up in the message's status (which the sender can read); rids are taken as given.
pub async fn wrong_rids(client: &Client, message_id: &str, wrong: &[String]) -> Result<Vec<String>> {
    let mut rids = Vec::with_capacity(wrong.len());
    let mut status = None;
    for who in wrong {
        if is_id(who.trim()) {
            rids.push(who.trim().to_owned());
            continue;
        }
        if status.is_none() {
            status = Some(messages::status(client, message_id).await?);
        }
        rids.push(messages::recipient_rid(status.as_ref().unwrap_or(&Value::Null), who)?);
    }
    Ok(rids)
}

/// `POST /api/v1/incidents`: opens an incident about `message_id` with the facts known now
/// (`facts`: a `FactsPatch` object, may be empty). The DPO gets the whole incident back; the
/// sender only `{"id","deadline_at","aware_at"}`.
pub async fn open(client: &Client, message_id: &str, facts: &Value) -> Result<Value> {
    check_id(message_id, "a message id")?;
    client
        .call(
            Method::POST,
            "/api/v1/incidents",
            &json!({ "message_id": message_id, "facts": facts }),
        )
        .await
}

/// `POST /api/v1/messages/{id}/revoke` with `"sent_in_error": true`: revokes the whole message
/// (or one recipient: address or rid) now and opens an incident in the same step. Answers the
/// message's status, with `incident_id`.
pub async fn revoke_sent_in_error(
    client: &Client,
    message_id: &str,
    recipient: Option<&str>,
    facts: Option<&Value>,
) -> Result<Value> {
    check_id(message_id, "a message id")?;
    let mut body = Map::new();
    if let Some(who) = recipient {
        let rid = messages::recipient_rid(&messages::status(client, message_id).await?, who)?;
        body.insert("recipient".into(), rid.into());
    }
    body.insert("sent_in_error".into(), true.into());
    if let Some(facts) = facts {
        body.insert("incident".into(), facts.clone());
    }
    client
        .call(
            Method::POST,
            &format!("/api/v1/messages/{}/revoke", encode_segment(message_id)),
            &Value::Object(body),
        )
        .await
}

/// `GET /api/v1/incidents[?state=…]`: the register, `{"incidents":[…]}`.
pub async fn list(client: &Client, state: Option<&str>) -> Result<Value> {
    let mut request = client.request(Method::GET, "/api/v1/incidents", Auth::Token)?;
    if let Some(state) = state {
        request = request.query(&[("state", state)]);
    }
    client.json(request, "/api/v1/incidents").await
}

/// `GET /api/v1/incidents/{id}`: the whole incident, with its countdown (`remaining_seconds`).
pub async fn show(client: &Client, id: &str) -> Result<Value> {
    client.get(&incident_path(id, "")?).await
}

/// `POST /api/v1/incidents/{id}/updates`: a phased addition (Art. 33(4)): a note and the facts
/// that changed; the assessment is recomputed, and the earlier state kept.
pub async fn update(client: &Client, id: &str, note: &str, facts: &Value) -> Result<Value> {
    let path = incident_path(id, "/updates")?;
    let note = required_text(note, "note")?;
    client
        .call(Method::POST, &path, &json!({ "note": note, "facts": facts }))
        .await
}

/// `PUT /api/v1/incidents/{id}/awareness`: when the organisation became aware (RFC 3339), and
/// why that time; the deadline moves with it.
pub async fn set_awareness(client: &Client, id: &str, aware_at: &str, reason: &str) -> Result<Value> {
    let path = incident_path(id, "/awareness")?;
    let reason = required_text(reason, "reason")?;
    client
        .call(Method::PUT, &path, &json!({ "aware_at": aware_at, "reason": reason }))
        .await
}

/// `POST /api/v1/incidents/{id}/decision`: the DPO confirms or overrides the suggested outcome
/// (one of [`OUTCOMES`]), always with a reason.
pub async fn decide(client: &Client, id: &str, outcome: &str, reason: &str) -> Result<Value> {
    let path = incident_path(id, "/decision")?;
    if !OUTCOMES.contains(&outcome) {
        return Err(Error::Invalid(format!(
            "{outcome:?} is not an outcome: give record_only, notify_authority or notify_authority_and_individuals"
        )));
    }
    let reason = required_text(reason, "reason")?;
    client
        .call(Method::POST, &path, &json!({ "outcome": outcome, "reason": reason }))
        .await
}

/// A notification made (to the supervisory authority or to the people affected).
#[derive(Debug, Clone, Default)]
pub struct Notification {
    /// `authority` or `individuals`.
    pub to: String,
    /// The authority's case reference.
    pub reference: Option<String>,
    /// What was sent, in a few words.
    pub summary: Option<String>,
    /// Why it came after the deadline (required for the first late authority notification).
    pub delay_reason: Option<String>,
}

/// `POST /api/v1/incidents/{id}/notifications`.
pub async fn notified(client: &Client, id: &str, notification: &Notification) -> Result<Value> {
    let path = incident_path(id, "/notifications")?;
    if !matches!(notification.to.as_str(), "authority" | "individuals") {
        return Err(Error::Invalid(format!(
            "{:?} is not whom a notification goes to: give authority or individuals",
            notification.to
        )));
    }
    let mut body = Map::new();
    body.insert("to".into(), notification.to.clone().into());
    for (key, value) in [
        ("reference", &notification.reference),
        ("summary", &notification.summary),
        ("delay_reason", &notification.delay_reason),
    ] {
        if let Some(value) = value {
            body.insert(key.into(), value.clone().into());
        }
    }
    client.call(Method::POST, &path, &Value::Object(body)).await
}

/// `POST /api/v1/incidents/{id}/close` (after a decision), with a reason.
pub async fn close(client: &Client, id: &str, reason: &str) -> Result<Value> {
    let path = incident_path(id, "/close")?;
    let reason = required_text(reason, "reason")?;
    client.call(Method::POST, &path, &json!({ "reason": reason })).await
}

/// `GET /api/v1/incidents/{id}/export?format=…`: the record, draft notification and draft
/// letter with the message receipt, as the exact bytes of the document (`md`, `html`, `pdf` or
/// `json`).
pub async fn export(client: &Client, id: &str, format: &str) -> Result<Vec<u8>> {
    let path = incident_path(id, "/export")?;
    if !FORMATS.contains(&format) {
        return Err(Error::Invalid(format!(
            "{format:?} is not an export format: give md, html, pdf or json"
        )));
    }
    let request = client
        .request(Method::GET, &path, Auth::Token)?
        .query(&[("format", format)]);
    let response = client.send(request).await?;
    let bytes = response.bytes().await.map_err(|e| client.unreachable(&e))?;
    Ok(bytes.to_vec())
}

/// Saves an export atomically, readable only by its owner.
pub fn save_export(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::config::write_private(path, bytes)
}

/// A receipt file (`sealpost/receipt/v1`), fields in their canonical order.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptFile {
    format: String,
    statement: String,
    checkpoint: String,
    events: Vec<ReceiptEvent>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptEvent {
    index: u64,
    leaf: String,
    proof: Vec<String>,
}

/// The message receipt a JSON export carries, as the receipt file `sealpost receipt` saves
/// (canonical form: the fields in their order, pretty-printed), ready for `sealpost verify`.
/// The server embeds the issued text verbatim; reading it through the typed receipt and
/// writing it again yields the canonical form even from an export a tool has re-indented.
pub fn receipt_of_json_export(bytes: &[u8]) -> Result<String> {
    let bad = |reason: String| Error::Protocol {
        what: "the JSON export".into(),
        reason,
    };
    let document: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if !document["receipt"].is_object() {
        return Err(bad("no receipt in it".into()));
    }
    let receipt: ReceiptFile =
        serde_json::from_value(document["receipt"].clone()).map_err(|e| bad(format!("its receipt: {e}")))?;
    let text = serde_json::to_string_pretty(&receipt).map_err(|e| bad(e.to_string()))?;
    Ok(text + "\n")
}

/// `GET /api/v1/breach-settings`.
pub async fn settings(client: &Client) -> Result<Value> {
    client.get("/api/v1/breach-settings").await
}

/// `PUT /api/v1/breach-settings` (the whole settings object).
pub async fn put_settings(client: &Client, settings: &Value) -> Result<Value> {
    client.call(Method::PUT, "/api/v1/breach-settings", settings).await
}

/// When the organisation became aware, as given on the command line: an RFC 3339 time, `now`,
/// or a duration before now (`3h ago`, `2d ago`). (The server refuses a time in its future.)
pub fn parse_aware_at(text: &str, now: OffsetDateTime) -> Result<String> {
    let text = text.trim();
    let bad = || {
        Error::Invalid(format!(
            "{text:?} is not a time: give one like 2026-11-23T10:00:00Z, now, or a duration before now like 3h ago"
        ))
    };
    let at = if text == "now" {
        now
    } else if let Some(duration) = text.strip_suffix("ago") {
        let later = parse_expiry(duration.trim(), now).map_err(|_| bad())?;
        now - (later - now)
    } else {
        OffsetDateTime::parse(text, &Rfc3339).map_err(|_| bad())?
    };
    Ok(rfc3339(at))
}

/// An API time (RFC 3339) as people read it: `2026-11-26 10:00 UTC`; other text unchanged.
pub fn human_time(text: &str) -> String {
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(at) => {
            let at = at.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        Err(_) => text.to_owned(),
    }
}

/// The countdown to a deadline: `47 h 12 min left`, `overdue by 3 h 5 min`.
pub fn countdown(remaining_seconds: i64) -> String {
    let span = |seconds: i64| {
        let minutes = seconds / 60;
        let (h, m) = (minutes / 60, minutes % 60);
        if h > 0 {
            format!("{h} h {m} min")
        } else {
            format!("{m} min")
        }
    };
    if remaining_seconds >= 0 {
        format!("{} left", span(remaining_seconds))
    } else {
        format!("overdue by {}", span(remaining_seconds.saturating_neg()))
    }
}

/// The short name of the authority (`ICO`, `AP`): the part in parentheses, else the whole.
pub fn authority_short(authority: &str) -> &str {
    authority
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(short, _)| short)
        .filter(|s| !s.is_empty())
        .unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_left_and_overdue() {
        assert_eq!(countdown(47 * 3600 + 12 * 60 + 59), "47 h 12 min left");
        assert_eq!(countdown(59), "0 min left");
        assert_eq!(countdown(-(3 * 3600 + 5 * 60)), "overdue by 3 h 5 min");
        assert_eq!(countdown(-600), "overdue by 10 min");
    }

    #[test]
    fn times_for_people() {
        assert_eq!(human_time("2026-11-26T10:00:00Z"), "2026-11-26 10:00 UTC");
        assert_eq!(human_time("2026-11-26T11:30:00+01:00"), "2026-11-26 10:30 UTC");
        assert_eq!(human_time("soon"), "soon");
        assert_eq!(authority_short("Information Commissioner's Office (ICO)"), "ICO");
        assert_eq!(authority_short("Autoriteit Persoonsgegevens (AP)"), "AP");
        assert_eq!(authority_short("The regulator"), "The regulator");
    }

    #[test]
    fn awareness_times() {
        let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).expect("time");
        assert_eq!(parse_aware_at("now", now).expect("now"), rfc3339(now));
        assert_eq!(
            parse_aware_at("3h ago", now).expect("ago"),
            rfc3339(now - time::Duration::hours(3))
        );
        assert_eq!(
            parse_aware_at("2030-01-31T12:00:00Z", now).expect("rfc3339"),
            "2030-01-31T12:00:00Z"
        );
        assert!(parse_aware_at("yesterday", now).is_err());
    }

    #[test]
    fn reasons_are_required_and_bounded() {
        assert_eq!(required_text("  because  ", "reason").expect("ok"), "because");
        assert_eq!(
            required_text(" \n", "reason").expect_err("blank").to_string(),
            "the reason is empty: say it in a few words"
        );
        assert!(required_text(&"x".repeat(MAX_TEXT + 1), "note").is_err());
    }

    #[test]
    fn the_receipt_of_a_json_export_in_canonical_order() {
        let doc = json!({"format": "sealpost/incident/v1", "receipt": {
            "events": [{"proof": ["cA=="], "leaf": "bA==", "index": 3}],
            "checkpoint": "c", "statement": "s", "format": "sealpost/receipt/v1",
        }});
        let receipt = receipt_of_json_export(doc.to_string().as_bytes()).expect("receipt");
        assert_eq!(
            receipt,
            "{\n  \"format\": \"sealpost/receipt/v1\",\n  \"statement\": \"s\",\n  \"checkpoint\": \"c\",\n  \
             \"events\": [\n    {\n      \"index\": 3,\n      \"leaf\": \"bA==\",\n      \"proof\": [\n        \
             \"cA==\"\n      ]\n    }\n  ]\n}\n"
        );
        assert!(receipt_of_json_export(b"{}").is_err());
        assert!(receipt_of_json_export(b"not json").is_err());
    }
}
