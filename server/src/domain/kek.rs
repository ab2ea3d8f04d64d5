//! Rotation of the server key-encryption key (docs/operations.md, "Rotating keys and
//! certificates"): the start-up check that every key stored material names is held, and the
//! re-wrap of stored material under the current key (`sealpost-server admin kek rewrap`).
//!
//! Re-wrapping goes column by column in key order, one row per statement: a row is replaced
//! only if it still holds the wrap that was read (compare-and-set), so it runs safely while
//! replicas serve, can be stopped at any point and run again, and a second run finds nothing.

use sealpost_crypto::b64;

use super::{DomainResult, Services};
use crate::db::Db;
use crate::db::kek::{self as q, COLUMNS, Column, Kind, Wrapped};
use crate::kek::{KekError, ShareWrapper, key_id_hex};

/// Label and context of the log key's wrap (as `domain::transparency` wraps it).
const LOG_KEY_LABEL: &str = "log-key";
/// Label of TOTP seeds' wraps (as `domain::totp` wraps them).
const TOTP_LABEL: &str = "totp";

/// Refuses to go on when stored material names a key-encryption key this server lacks.
pub async fn check_stored_keys(db: &Db, kek: &dyn ShareWrapper) -> Result<(), String> {
    let ids = q::stored_key_ids(db.pool())
        .await
        .map_err(|e| format!("cannot read the stored key ids: {e}"))?;
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !kek.has_key_id(id))
        .map(|id| key_id_hex(id))
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(KekError::UnknownKey(one.clone()).to_string()),
        many => Err(KekError::UnknownKey(many.join(", ")).to_string()),
    }
}

/// How a re-wrap went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RewrapReport {
    /// Wraps replaced by wraps under the current key.
    pub rewrapped: u64,
    /// Rows that changed between read and write (released, revoked, re-enrolled): left alone.
    pub skipped: u64,
    /// Rows that no held key opens (named by table and key), left as they are.
    pub failed: Vec<String>,
}

/// Wraps not yet under the current key, per column (`status`).
pub async fn remaining(svc: &Services) -> DomainResult<Vec<(Kind, u64)>> {
    let current = svc.kek.current_key_id();
    let mut out = Vec::new();
    for c in &COLUMNS {
        out.push((c.kind, q::count_not_current(svc.db.pool(), c, &current).await?));
    }
    Ok(out)
}

/// Re-wraps everything not under the current key, `batch` rows per read, at most `limit` rows
/// in all (`None`: until done).
pub async fn rewrap(svc: &Services, batch: u32, limit: Option<u64>) -> DomainResult<RewrapReport> {
    let current = svc.kek.current_key_id();
    let batch = i64::from(batch.max(1));
    let mut report = RewrapReport::default();
    let mut done = 0u64;
    for c in &COLUMNS {
        let mut after = (String::new(), String::new());
        loop {
            let rows =
                q::not_current_after(svc.db.pool(), c, &current, (after.0.as_str(), after.1.as_str()), batch).await?;
            let Some(last) = rows.last() else { break };
            after = (last.key1.clone(), last.key2.clone());
            for row in &rows {
                if limit.is_some_and(|l| done >= l) {
                    return Ok(report);
                }
                done += 1;
                match rewrap_one(svc.kek.as_ref(), c, row) {
                    Ok(new) => {
                        if q::replace(svc.db.pool(), c, row, &new).await? {
                            report.rewrapped += 1;
                        } else {
                            report.skipped += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(kind = ?c.kind, error = %e, "a stored wrap does not open; left as it is");
                        report.failed.push(describe(c, row));
                    }
                }
            }
        }
    }
    Ok(report)
}

fn describe(c: &Column, row: &Wrapped) -> String {
    match c.kind {
        Kind::Share => format!("server share of message {} recipient {}", row.key1, row.key2),
        Kind::TotpSecret => format!("TOTP seed of user {}", row.key1),
        Kind::TotpPending => format!("pending TOTP seed of user {}", row.key1),
        Kind::LogKey => format!("log key of origin {}", row.key1),
    }
}

fn rewrap_one(kek: &dyn ShareWrapper, c: &Column, row: &Wrapped) -> Result<Vec<u8>, KekError> {
    match c.kind {
        Kind::Share => {
            let msg_id = b64::decode_url_array::<16>(&row.key1).map_err(|_| KekError::Unwrap)?;
            let rid = b64::decode_url_array::<16>(&row.key2).map_err(|_| KekError::Unwrap)?;
            let share = kek.unwrap(&msg_id, &rid, &row.wrapped)?;
            kek.wrap(&msg_id, &rid, &share)
        }
        Kind::TotpSecret | Kind::TotpPending => {
            let seed = kek.unwrap_secret(TOTP_LABEL, row.key1.as_bytes(), &row.wrapped)?;
            kek.wrap_secret(TOTP_LABEL, row.key1.as_bytes(), &seed)
        }
        Kind::LogKey => {
            let seed = kek.unwrap_secret(LOG_KEY_LABEL, row.key1.as_bytes(), &row.wrapped)?;
            kek.wrap_secret(LOG_KEY_LABEL, row.key1.as_bytes(), &seed)
        }
    }
}
