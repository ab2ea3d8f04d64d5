//! A sender's messages after sending: status, list, revocation (whole message or one
//! recipient, now or later), expiry, and the signed receipt.
//!
//! ```no_run
//! # async fn demo(client: sealpost_client::api::Client) -> sealpost_client::Result<()> {
//! use sealpost_client::messages;
//!
//! // A mistaken send: revoke it, then keep the receipt that shows whether it was opened.
//! messages::revoke(&client, "q3Vx1Yc0B2mT9aXr4LkZpw", None, None).await?;
//! let receipt = messages::receipt(&client, "q3Vx1Yc0B2mT9aXr4LkZpw").await?;
//! std::fs::write("receipt.json", &receipt).expect("write");
//! # Ok(()) }
//! ```

use serde_json::Value;
use time::OffsetDateTime;

use crate::api::Client;
use crate::error::{Error, Result};
use crate::send::{parse_expiry, rfc3339};

/// Message ids and link ids are 16 bytes of base64url: 22 characters.
fn check_id(id: &str) -> Result<()> {
    if id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{id:?} is not a message id (22 characters, as `sealpost send` and `sealpost list` print them)"
        )))
    }
}

/// A message's status (the API's `MessageStatus`, recipients included).
pub async fn status(client: &Client, id: &str) -> Result<Value> {
    check_id(id)?;
    client.status(id).await
}

/// Which messages to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only messages in this state (`draft`, `sealed`, `revoked`, `expired`).
    pub state: Option<String>,
    /// At most this many (the server caps a page).
    pub limit: Option<u32>,
    /// The whole organisation's messages (admins and DPOs).
    pub organisation: bool,
    /// The cursor of the next page (`next` of the previous answer).
    pub before: Option<String>,
}

/// One page of messages, newest first (the API's `MessageList`).
pub async fn list(client: &Client, query: &ListQuery) -> Result<Value> {
    let mut q = Vec::new();
    if let Some(state) = &query.state {
        q.push(("state", state.clone()));
    }
    if let Some(limit) = query.limit {
        q.push(("limit", limit.to_string()));
    }
    if query.organisation {
        q.push(("scope", "organisation".to_owned()));
    }
    if let Some(before) = &query.before {
        q.push(("before", before.clone()));
    }
    client.list(&q).await
}

/// The rid of the recipient `who` names in `status`: its rid, its account address or the
/// address given for a guest (`notify`), case-insensitively.
pub fn recipient_rid(status: &Value, who: &str) -> Result<String> {
    let recipients = status["recipients"].as_array().cloned().unwrap_or_default();
    let wanted = who.trim().to_lowercase();
    let found: Vec<&Value> = recipients
        .iter()
        .filter(|r| {
            r["rid"].as_str() == Some(who.trim())
                || r["address"].as_str().is_some_and(|a| a.to_lowercase() == wanted)
                || r["notify"].as_str().is_some_and(|a| a.to_lowercase() == wanted)
        })
        .collect();
    match found.as_slice() {
        [one] => one["rid"].as_str().map(str::to_owned).ok_or_else(|| Error::Protocol {
            what: "message status".into(),
            reason: "a recipient without rid".into(),
        }),
        [] => Err(Error::Invalid(format!("{who} is not a recipient of this message"))),
        _ => Err(Error::Invalid(format!(
            "{who} names several recipients of this message; give the recipient id (rid) instead"
        ))),
    }
}

/// A time given on the command line: RFC 3339, `now`, or a duration from now (`2h`, `7d`).
pub fn parse_time(text: &str, now: OffsetDateTime) -> Result<String> {
    if text.trim() == "now" {
        return Ok(rfc3339(now));
    }
    parse_expiry(text, now).map(rfc3339).map_err(|_| {
        Error::Invalid(format!(
            "{text:?} is not a time: give one like 2030-01-31T12:00:00Z, now, or a duration like 2h or 7d"
        ))
    })
}

/// Revokes the whole message, or one recipient (`recipient`: address or rid), now or at `at`
/// (see [`parse_time`]). Answers the message's status.
pub async fn revoke(client: &Client, id: &str, recipient: Option<&str>, at: Option<&str>) -> Result<Value> {
    check_id(id)?;
    let rid = match recipient {
        Some(who) => Some(recipient_rid(&client.status(id).await?, who)?),
        None => None,
    };
    let at = at.map(|t| parse_time(t, OffsetDateTime::now_utc())).transpose()?;
    client.revoke(id, rid.as_deref(), at.as_deref()).await
}

/// Moves the expiry of a live message (see [`parse_time`]). Answers the message's status.
pub async fn expire(client: &Client, id: &str, at: &str) -> Result<Value> {
    check_id(id)?;
    let at = parse_time(at, OffsetDateTime::now_utc())?;
    client.set_expiry(id, &at).await
}

/// The message's signed receipt: the exact bytes to keep (verify them offline with
/// [`crate::proofs::verify_receipt_file`]).
pub async fn receipt(client: &Client, id: &str) -> Result<Vec<u8>> {
    check_id(id)?;
    client.receipt(id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recipients_by_address_rid_or_guest_address() {
        let status = json!({"recipients": [
            {"rid": "AAAAAAAAAAAAAAAAAAAAAA", "kind": "account", "address": "bob@hospital.example"},
            {"rid": "BBBBBBBBBBBBBBBBBBBBBB", "kind": "guest", "notify": "sam@example.org"},
        ]});
        assert_eq!(
            recipient_rid(&status, "Bob@Hospital.example").expect("bob"),
            "AAAAAAAAAAAAAAAAAAAAAA"
        );
        assert_eq!(
            recipient_rid(&status, "sam@example.org").expect("sam"),
            "BBBBBBBBBBBBBBBBBBBBBB"
        );
        assert_eq!(
            recipient_rid(&status, "BBBBBBBBBBBBBBBBBBBBBB").expect("rid"),
            "BBBBBBBBBBBBBBBBBBBBBB"
        );
        let err = recipient_rid(&status, "eve@example.org").expect_err("unknown");
        assert_eq!(err.to_string(), "eve@example.org is not a recipient of this message");
    }

    #[test]
    fn ids_are_checked_before_a_request() {
        assert!(check_id("q3Vx1Yc0B2mT9aXr4LkZpw").is_ok());
        assert!(check_id("../../etc/passwd").is_err());
        assert!(check_id("short").is_err());
    }

    #[test]
    fn times_now_durations_and_rfc3339() {
        let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).expect("time");
        assert_eq!(parse_time("now", now).expect("now"), rfc3339(now));
        assert_eq!(
            parse_time("2h", now).expect("2h"),
            rfc3339(now + time::Duration::hours(2))
        );
        assert!(parse_time("tomorrow", now).is_err());
    }
}
