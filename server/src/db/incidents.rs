//! The breach register: incidents, their append-only entries, reminder rows and the per
//! organisation breach settings. SQL only; the domain decides.
//!
//! Every change to an incident is one conditional `UPDATE … WHERE version = $n` (optimistic
//! concurrency), so two DPOs editing at once cannot overwrite each other, on either backend.

use sqlx::Row;

use super::{DbResult, Tx};

/// Incident states, as stored.
pub mod state {
    /// Being assessed.
    pub const OPEN: &str = "open";
    /// The DPO decided the outcome.
    pub const DECIDED: &str = "decided";
    /// Closed with a reason.
    pub const CLOSED: &str = "closed";
}

/// Reminder states, as stored.
pub mod reminder {
    /// Waiting for its time (or a retry).
    pub const PENDING: &str = "pending";
    /// Delivered.
    pub const SENT: &str = "sent";
    /// No longer needed (authority notified, record-only decision, incident closed).
    pub const CANCELLED: &str = "cancelled";
    /// Given up after every attempt failed, or nowhere to deliver it.
    pub const FAILED: &str = "failed";
}

/// An incident row.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    /// Id.
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// The message concerned.
    pub message_id: String,
    /// `revoked_sent_in_error` or `reported`.
    pub trigger: String,
    /// `uk` or `nl`, fixed when the incident is opened.
    pub jurisdiction: String,
    /// One of [`state`].
    pub state: String,
    /// When the incident was opened.
    pub detected_at: i64,
    /// When the organisation became aware.
    pub aware_at: i64,
    /// Who set the awareness time.
    pub aware_by: String,
    /// Why the awareness time was moved, if it was.
    pub aware_reason: Option<String>,
    /// `aware_at` + the jurisdiction's deadline.
    pub deadline_at: i64,
    /// The facts (JSON).
    pub facts: String,
    /// The DPO decision (JSON), if made.
    pub decision: Option<String>,
    /// Who opened it.
    pub created_by: String,
    /// Last change.
    pub updated_at: i64,
    /// Bumped by every change.
    pub version: i64,
}

const COLUMNS: &str = "id, org_id, message_id, trigger, jurisdiction, state, detected_at, aware_at, aware_by, \
                       aware_reason, deadline_at, facts, decision, created_by, updated_at, version";

fn incident_row(r: &sqlx::any::AnyRow) -> DbResult<IncidentRow> {
    Ok(IncidentRow {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        message_id: r.try_get("message_id")?,
        trigger: r.try_get("trigger")?,
        jurisdiction: r.try_get("jurisdiction")?,
        state: r.try_get("state")?,
        detected_at: r.try_get("detected_at")?,
        aware_at: r.try_get("aware_at")?,
        aware_by: r.try_get("aware_by")?,
        aware_reason: r.try_get("aware_reason")?,
        deadline_at: r.try_get("deadline_at")?,
        facts: r.try_get("facts")?,
        decision: r.try_get("decision")?,
        created_by: r.try_get("created_by")?,
        updated_at: r.try_get("updated_at")?,
        version: r.try_get("version")?,
    })
}

/// Inserts a new incident (version 1).
pub async fn insert(tx: &mut Tx, row: &IncidentRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO incidents (id, org_id, message_id, trigger, jurisdiction, state, detected_at, aware_at, \
         aware_by, aware_reason, deadline_at, facts, decision, created_by, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&row.id)
    .bind(&row.org_id)
    .bind(&row.message_id)
    .bind(&row.trigger)
    .bind(&row.jurisdiction)
    .bind(&row.state)
    .bind(row.detected_at)
    .bind(row.aware_at)
    .bind(&row.aware_by)
    .bind(&row.aware_reason)
    .bind(row.deadline_at)
    .bind(&row.facts)
    .bind(&row.decision)
    .bind(&row.created_by)
    .bind(row.updated_at)
    .bind(row.version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One incident.
pub async fn get(pool: &sqlx::AnyPool, id: &str) -> DbResult<Option<IncidentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM incidents WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(incident_row).transpose()
}

/// An organisation's incidents, newest first, optionally in one state.
pub async fn list(pool: &sqlx::AnyPool, org_id: &str, state: Option<&str>, limit: u32) -> DbResult<Vec<IncidentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM incidents WHERE org_id = $1 AND ($2 = '' OR state = $2) \
         ORDER BY detected_at DESC, id DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(state.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(incident_row).collect()
}

/// Writes the changeable fields of `row` if the stored version is still `row.version - 1`;
/// false when someone else changed the incident first.
pub async fn update(tx: &mut Tx, row: &IncidentRow) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET state = $1, aware_at = $2, aware_by = $3, aware_reason = $4, deadline_at = $5, \
         facts = $6, decision = $7, updated_at = $8, version = $9 WHERE id = $10 AND version = $11",
    )
    .bind(&row.state)
    .bind(row.aware_at)
    .bind(&row.aware_by)
    .bind(&row.aware_reason)
    .bind(row.deadline_at)
    .bind(&row.facts)
    .bind(&row.decision)
    .bind(row.updated_at)
    .bind(row.version)
    .bind(&row.id)
    .bind(row.version - 1)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One entry of an incident's history.
#[derive(Debug, Clone)]
pub struct EntryRow {
    /// 1, 2, … per incident.
    pub seq: i64,
    /// When.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What: `opened`, `updated`, `awareness_set`, `decided`, `notified`, `closed`.
    pub kind: String,
    /// The note given with it.
    pub note: Option<String>,
    /// The change (JSON).
    pub body: String,
}

/// Appends an entry (the caller has just bumped the incident's version in the same
/// transaction, which serialises writers); returns its sequence number.
pub async fn append_entry(
    tx: &mut Tx,
    incident_id: &str,
    at: i64,
    actor: &str,
    kind: &str,
    note: Option<&str>,
    body: &str,
) -> DbResult<i64> {
    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM incident_entries WHERE incident_id = $1")
        .bind(incident_id)
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO incident_entries (incident_id, seq, at, actor, kind, note, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(incident_id)
    .bind(seq)
    .bind(at)
    .bind(actor)
    .bind(kind)
    .bind(note)
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(seq)
}

/// Every entry of an incident, in order.
pub async fn entries(pool: &sqlx::AnyPool, incident_id: &str) -> DbResult<Vec<EntryRow>> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, kind, note, body FROM incident_entries WHERE incident_id = $1 ORDER BY seq",
    )
    .bind(incident_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EntryRow {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                kind: r.try_get("kind")?,
                note: r.try_get("note")?,
                body: r.try_get("body")?,
            })
        })
        .collect()
}

/// A reminder row.
#[derive(Debug, Clone)]
pub struct ReminderRow {
    /// Incident.
    pub incident_id: String,
    /// Hours after awareness.
    pub hours: i64,
    /// When it is due.
    pub due_at: i64,
    /// One of [`reminder`].
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was delivered.
    pub sent_at: Option<i64>,
    /// Channels already delivered (`email`, `webhook`, comma-separated).
    pub delivered: String,
}

fn reminder_row(r: &sqlx::any::AnyRow) -> DbResult<ReminderRow> {
    Ok(ReminderRow {
        incident_id: r.try_get("incident_id")?,
        hours: r.try_get("hours")?,
        due_at: r.try_get("due_at")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        sent_at: r.try_get("sent_at")?,
        delivered: r.try_get("delivered")?,
    })
}

/// Replaces the reminders not yet delivered with reminders at `hours` after `aware_at`
/// (delivered ones are kept as history).
pub async fn schedule_reminders(tx: &mut Tx, incident_id: &str, aware_at: i64, hours: &[u32]) -> DbResult<()> {
    sqlx::query("DELETE FROM incident_reminders WHERE incident_id = $1 AND state <> $2")
        .bind(incident_id)
        .bind(reminder::SENT)
        .execute(&mut **tx)
        .await?;
    for h in hours {
        let due = aware_at.saturating_add(i64::from(*h) * 3_600_000);
        sqlx::query(
            "INSERT INTO incident_reminders (incident_id, hours, due_at, state, attempts, next_try_at, claimed_until) \
             VALUES ($1, $2, $3, $4, 0, $3, 0) ON CONFLICT (incident_id, hours) DO NOTHING",
        )
        .bind(incident_id)
        .bind(i64::from(*h))
        .bind(due)
        .bind(reminder::PENDING)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Stops every reminder still pending.
pub async fn cancel_reminders(tx: &mut Tx, incident_id: &str) -> DbResult<()> {
    sqlx::query("UPDATE incident_reminders SET state = $1 WHERE incident_id = $2 AND state = $3")
        .bind(reminder::CANCELLED)
        .bind(incident_id)
        .bind(reminder::PENDING)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Schedules again, from `aware_at`, the reminder points of `hours` that are still to come (due
/// after `now`) and are not pending or sent already: cancelled points come back with their due
/// time recomputed; points whose time passed stay as they are.
pub async fn reinstate_reminders(
    tx: &mut Tx,
    incident_id: &str,
    aware_at: i64,
    hours: &[u32],
    now: i64,
) -> DbResult<()> {
    for h in hours {
        let due = aware_at.saturating_add(i64::from(*h) * 3_600_000);
        if due <= now {
            continue;
        }
        sqlx::query(
            "INSERT INTO incident_reminders (incident_id, hours, due_at, state, attempts, next_try_at, claimed_until) \
             VALUES ($1, $2, $3, $4, 0, $3, 0) \
             ON CONFLICT (incident_id, hours) DO UPDATE SET state = excluded.state, due_at = excluded.due_at, \
             attempts = 0, next_try_at = excluded.due_at, claimed_until = 0 \
             WHERE incident_reminders.state = $5",
        )
        .bind(incident_id)
        .bind(i64::from(*h))
        .bind(due)
        .bind(reminder::PENDING)
        .bind(reminder::CANCELLED)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// An incident's reminders, by hour.
pub async fn reminders(pool: &sqlx::AnyPool, incident_id: &str) -> DbResult<Vec<ReminderRow>> {
    let rows = sqlx::query(
        "SELECT incident_id, hours, due_at, state, attempts, sent_at, delivered FROM incident_reminders \
         WHERE incident_id = $1 ORDER BY hours",
    )
    .bind(incident_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(reminder_row).collect()
}

/// Leases due reminders to this replica: each one to one sweeper at a time (a conditional
/// update on the lease), returned with `attempts` counting this one.
pub async fn claim_reminders(pool: &sqlx::AnyPool, now: i64, lease_ms: i64, limit: u32) -> DbResult<Vec<ReminderRow>> {
    let candidates = sqlx::query(
        "SELECT incident_id, hours FROM incident_reminders WHERE state = $1 AND next_try_at <= $2 \
         AND claimed_until <= $2 ORDER BY next_try_at LIMIT $3",
    )
    .bind(reminder::PENDING)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut claimed = Vec::new();
    for c in candidates {
        let incident_id: String = c.try_get("incident_id")?;
        let hours: i64 = c.try_get("hours")?;
        let row = sqlx::query(
            "UPDATE incident_reminders SET claimed_until = $1, attempts = attempts + 1 \
             WHERE incident_id = $2 AND hours = $3 AND state = $4 AND next_try_at <= $5 AND claimed_until <= $5 \
             RETURNING incident_id, hours, due_at, state, attempts, sent_at, delivered",
        )
        .bind(now + lease_ms)
        .bind(&incident_id)
        .bind(hours)
        .bind(reminder::PENDING)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        if let Some(row) = row {
            claimed.push(reminder_row(&row)?);
        }
    }
    Ok(claimed)
}

/// Marks a claimed reminder delivered (only while it is still pending).
pub async fn reminder_sent(tx: &mut Tx, incident_id: &str, hours: i64, now: i64, delivered: &str) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE incident_reminders SET state = $1, sent_at = $2, delivered = $3, last_error = NULL \
         WHERE incident_id = $4 AND hours = $5 AND state = $6",
    )
    .bind(reminder::SENT)
    .bind(now)
    .bind(delivered)
    .bind(incident_id)
    .bind(hours)
    .bind(reminder::PENDING)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Schedules the next attempt of a claimed reminder (or gives it up with `give_up`), keeping
/// the channels already delivered.
pub async fn reminder_retry(
    pool: &sqlx::AnyPool,
    incident_id: &str,
    hours: i64,
    next_try_at: i64,
    delivered: &str,
    error: &str,
    give_up: bool,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE incident_reminders SET next_try_at = $1, claimed_until = 0, delivered = $2, last_error = $3, \
         state = $4 WHERE incident_id = $5 AND hours = $6 AND state = $7",
    )
    .bind(next_try_at)
    .bind(delivered)
    .bind(error)
    .bind(if give_up { reminder::FAILED } else { reminder::PENDING })
    .bind(incident_id)
    .bind(hours)
    .bind(reminder::PENDING)
    .execute(pool)
    .await?;
    Ok(())
}

/// A stored settings document.
#[derive(Debug, Clone)]
pub struct SettingsRow {
    /// The settings (JSON, validated by the domain; the webhook secret included).
    pub settings: String,
    /// Last change.
    pub updated_at: i64,
    /// Who changed it.
    pub updated_by: String,
}

/// The breach settings of an organisation, if set.
pub async fn settings(pool: &sqlx::AnyPool, org_id: &str) -> DbResult<Option<SettingsRow>> {
    let row = sqlx::query("SELECT settings, updated_at, updated_by FROM breach_settings WHERE org_id = $1")
        .bind(org_id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(SettingsRow {
            settings: r.try_get("settings")?,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by")?,
        })
    })
    .transpose()
}

/// Sets (or replaces) an organisation's breach settings.
pub async fn put_settings(tx: &mut Tx, org_id: &str, settings: &str, now: i64, actor: &str) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO breach_settings (org_id, settings, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(org_id)
    .bind(settings)
    .bind(now)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
