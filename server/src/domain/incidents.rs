//! The breach register (issue 8): incidents about messages sent in error, assessed from the
//! access proof (who received the key share, when, after which verification), with the ENISA
//! severity, a suggested Art. 33/34 outcome that the DPO confirms or overrides, the deadline
//! counted from awareness, durable reminders, phased notifications and the exported documents.
//!
//! Only the organisation's DPOs and admins (with the `incidents` scope) see the register; the
//! sender of a message may open an incident about it and learns only its id and deadline. Every
//! change writes the incident (optimistic `version`), an append-only entry and its event in the
//! proof log in one transaction. Exposures and the assessment are not stored: they are
//! recomputed from the message's logged events on every read, so they always match the receipt.

use std::collections::BTreeSet;

use sealpost_breach::{
    self as breach, Contact, Controller, DataCategory, Decision, Exposure, Facts, FactsPatch, IncidentDocument,
    Jurisdiction, MessageSummary, NotificationRecord, Outcome, RecipientEvidence, Release, UpdateRecord, Verification,
};
use serde::{Deserialize, Serialize};

use super::{DomainError, DomainResult, Principal, Role, Scope, Services};
use crate::clock::{from_rfc3339, to_rfc3339};
use crate::db::{DbError, Tx, accounts as orgs, incidents as q, messages as mq, ops};
use crate::ids;

/// Longest free text (reasons, notes, summaries).
pub const MAX_TEXT: usize = 4000;
/// Most reminder points.
pub const MAX_REMINDERS: usize = 10;
/// Most reminder e-mail addresses.
pub const MAX_REMINDER_EMAILS: usize = 10;
/// Shortest webhook secret.
pub const MIN_WEBHOOK_SECRET: usize = 16;
/// Attempts before a reminder is given up.
const MAX_REMINDER_ATTEMPTS: i64 = 8;
const REMINDER_BATCH: u32 = 50;

// ------------------------------------------------------------------ settings

/// The webhook reminders are posted to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http(s)://…`.
    pub url: String,
    /// The HMAC key of the `Sealpost-Signature` header; never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The DPO's contact, as set in the settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpoContact {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// An organisation's breach settings (the stored document, and the body of `PUT`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreachSettings {
    /// `uk` (ICO) or `nl` (AP).
    #[serde(default)]
    pub jurisdiction: Jurisdiction,
    /// The controller's name on the documents (default: the organisation's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The DPO contact on the documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo: Option<DpoContact>,
    /// Hours after awareness at which reminders go out (sorted, unique, 1..=deadline).
    #[serde(default)]
    pub reminder_hours: Vec<u32>,
    /// Where reminder mail goes.
    #[serde(default)]
    pub reminder_emails: Vec<String>,
    /// Where reminders are posted.
    #[serde(default)]
    pub webhook: Option<Webhook>,
}

/// The webhook as shown: never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookView {
    /// URL.
    pub url: String,
    /// Whether a secret is stored.
    pub secret_set: bool,
}

/// The settings as shown.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    /// `uk` or `nl`.
    pub jurisdiction: Jurisdiction,
    /// The authority of the jurisdiction.
    pub authority: &'static str,
    /// Hours from awareness to the notification deadline.
    pub deadline_hours: u32,
    /// The controller's name on the documents.
    pub controller: String,
    /// The DPO contact.
    pub dpo: Option<DpoContact>,
    /// Reminder points (hours after awareness).
    pub reminder_hours: Vec<u32>,
    /// Reminder mail addresses.
    pub reminder_emails: Vec<String>,
    /// The webhook, without its secret.
    pub webhook: Option<WebhookView>,
    /// Whether reminder mail can be sent (`[mail] enabled`).
    pub mail_enabled: bool,
    /// Last change; absent while the defaults apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Whether these are the defaults.
    pub default: bool,
}

fn can_read_register(who: &Principal) -> bool {
    who.scopes.contains(&Scope::Incidents) && (who.has_role(Role::Dpo) || who.has_role(Role::Admin))
}

fn require_register(who: &Principal) -> DomainResult<()> {
    if can_read_register(who) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "the breach register needs the dpo or admin role and the incidents scope",
        ))
    }
}

async fn load_settings(svc: &Services, org_id: &str) -> DomainResult<(BreachSettings, Option<i64>)> {
    match q::settings(svc.db.pool(), org_id).await? {
        Some(row) => {
            let s = serde_json::from_str(&row.settings).map_err(|e| {
                tracing::error!(error = %e, "stored breach settings do not parse");
                DomainError::Unavailable
            })?;
            Ok((s, Some(row.updated_at)))
        }
        None => Ok((BreachSettings::default(), None)),
    }
}

async fn org_name(svc: &Services, org_id: &str) -> DomainResult<String> {
    Ok(orgs::org_by_id(svc.db.pool(), org_id)
        .await?
        .map_or_else(|| org_id.to_owned(), |o| o.name))
}

async fn settings_view(
    svc: &Services,
    org_id: &str,
    s: &BreachSettings,
    updated_at: Option<i64>,
) -> DomainResult<SettingsView> {
    let profile = s.jurisdiction.profile();
    let controller = match &s.controller {
        Some(c) => c.clone(),
        None => org_name(svc, org_id).await?,
    };
    Ok(SettingsView {
        jurisdiction: s.jurisdiction,
        authority: profile.authority,
        deadline_hours: profile.deadline_hours,
        controller,
        dpo: s.dpo.clone(),
        reminder_hours: s.reminder_hours.clone(),
        reminder_emails: s.reminder_emails.clone(),
        webhook: s.webhook.as_ref().map(|w| WebhookView {
            url: w.url.clone(),
            secret_set: w.secret.as_deref().is_some_and(|x| !x.is_empty()),
        }),
        mail_enabled: svc.mailer.is_some(),
        updated_at: updated_at.map(to_rfc3339),
        default: updated_at.is_none(),
    })
}

/// The breach settings of the caller's organisation (dpo or admin, `incidents` scope).
pub async fn get_settings(svc: &Services, who: &Principal) -> DomainResult<SettingsView> {
    require_register(who)?;
    let (s, at) = load_settings(svc, &who.org_id).await?;
    settings_view(svc, &who.org_id, &s, at).await
}

fn short_text(field: &str, text: &str, max: usize) -> DomainResult<()> {
    if text.chars().count() > max || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::invalid(
            "invalid_settings",
            format!("{field} must be at most {max} characters of text"),
        ));
    }
    Ok(())
}

fn validate_settings(s: &mut BreachSettings, stored: &BreachSettings) -> DomainResult<()> {
    let bad = |d: String| DomainError::invalid("invalid_settings", d);
    let deadline = s.jurisdiction.profile().deadline_hours;
    if s.reminder_hours.len() > MAX_REMINDERS {
        return Err(bad(format!("at most {MAX_REMINDERS} reminder_hours")));
    }
    if s.reminder_hours.iter().any(|h| !(1..=deadline).contains(h)) {
        return Err(bad(format!("reminder_hours must be between 1 and {deadline}")));
    }
    if s.reminder_hours.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("reminder_hours must be sorted and unique".into()));
    }
    if s.reminder_emails.len() > MAX_REMINDER_EMAILS {
        return Err(bad(format!("at most {MAX_REMINDER_EMAILS} reminder_emails")));
    }
    let mut emails = Vec::with_capacity(s.reminder_emails.len());
    for e in &s.reminder_emails {
        let a = super::accounts::normalize_address(e)
            .map_err(|_| bad(format!("reminder_emails: {e:?} is not a valid e-mail address")))?;
        if !emails.contains(&a) {
            emails.push(a);
        }
    }
    s.reminder_emails = emails;
    if let Some(c) = &s.controller {
        if c.trim().is_empty() {
            return Err(bad("controller must not be empty".into()));
        }
        short_text("controller", c, 200)?;
    }
    if let Some(d) = &mut s.dpo {
        short_text("dpo.name", &d.name, 200)?;
        if d.name.trim().is_empty() {
            return Err(bad("dpo.name must not be empty".into()));
        }
        d.email = super::accounts::normalize_address(&d.email)
            .map_err(|_| bad("dpo.email is not a valid e-mail address".into()))?;
        if let Some(p) = &d.phone {
            short_text("dpo.phone", p, 40)?;
        }
    }
    if let Some(w) = &mut s.webhook {
        let url = reqwest::Url::parse(w.url.trim()).map_err(|_| bad("webhook.url is not a URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad("webhook.url must be an http or https URL".into()));
        }
        if !url.username().is_empty() || url.password().is_some() || w.url.len() > 2000 {
            return Err(bad(
                "webhook.url must not carry credentials and be at most 2000 characters".into(),
            ));
        }
        w.url = url.to_string();
        match &w.secret {
            Some(secret) => {
                if secret.chars().count() < MIN_WEBHOOK_SECRET || secret.len() > 512 {
                    return Err(bad(format!(
                        "webhook.secret must be between {MIN_WEBHOOK_SECRET} and 512 characters"
                    )));
                }
            }
            // Keep the stored secret when the page (which never sees it) saves other fields.
            None => match stored.webhook.as_ref().and_then(|old| old.secret.clone()) {
                Some(old) => w.secret = Some(old),
                None => return Err(bad("webhook.secret is required".into())),
            },
        }
    }
    Ok(())
}

/// Replaces the breach settings (admin role and admin scope, or a DPO or admin with the
/// `incidents` scope). The change is an event in the proof log.
pub async fn put_settings(svc: &Services, who: &Principal, mut s: BreachSettings) -> DomainResult<SettingsView> {
    let admin = who.has_role(Role::Admin) && who.scopes.contains(&Scope::Admin);
    if !admin && !can_read_register(who) {
        return Err(DomainError::Forbidden(
            "changing the breach settings needs the admin role and scope, or the dpo role and the incidents scope",
        ));
    }
    let (stored, _) = load_settings(svc, &who.org_id).await?;
    validate_settings(&mut s, &stored)?;
    let text = serde_json::to_string(&s).map_err(|_| DomainError::Unavailable)?;
    let now = svc.clock.now_ms();
    let actor = who.actor();
    let mut tx = svc.db.begin_write().await?;
    q::put_settings(&mut tx, &who.org_id, &text, now, &actor).await?;
    let detail = serde_json::json!({ "sha256": digest(&text) });
    ops::record(
        &mut tx,
        now,
        &ops::Event::account(&who.org_id, &actor, "breach_settings.updated", Some(detail)),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    settings_view(svc, &who.org_id, &s, Some(now)).await
}

fn digest(text: &str) -> String {
    sealpost_crypto::b64::encode_url(&sealpost_crypto::primitives::sha256(&[text.as_bytes()]))
}

// ------------------------------------------------------------------ incidents

/// What opened an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `POST /messages/{id}/revoke` with `sent_in_error`.
    RevokedSentInError,
    /// `POST /incidents`.
    Reported,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::RevokedSentInError => "revoked_sent_in_error",
            Trigger::Reported => "reported",
        }
    }
}

/// What the opener of an incident learns: its id and deadline (the sender sees only this).
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    /// Incident id.
    pub id: String,
    /// When the organisation became aware.
    pub aware_at: String,
    /// The notification deadline.
    pub deadline_at: String,
}

fn invalid_facts(e: impl std::fmt::Display) -> DomainError {
    DomainError::invalid("invalid_facts", e.to_string())
}

fn hours_ms(hours: u32) -> i64 {
    i64::from(hours) * 3_600_000
}

fn check_text(code: &'static str, field: &str, text: &str, required: bool) -> DomainResult<()> {
    if required && text.trim().is_empty() {
        return Err(DomainError::invalid(code, format!("{field} is required")));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(DomainError::invalid(
            code,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

/// The pre-send check kinds of a message, as data categories.
fn categories_from_checks(m: &mq::MessageRow) -> Vec<DataCategory> {
    let Some(text) = &m.send_checks else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut out: Vec<DataCategory> = value["categories"]
        .as_object()
        .map(|o| o.keys().filter_map(|k| DataCategory::from_check_kind(k)).collect())
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// Builds the facts of a new incident: the patch over the defaults, wrong recipients checked
/// against the message (default `default_wrong`), data categories from the pre-send checks
/// unless given.
fn initial_facts(
    m: &mq::MessageRow,
    recipients: &[mq::RecipientRow],
    patch: Option<&FactsPatch>,
    default_wrong: &[String],
) -> DomainResult<Facts> {
    let mut facts = Facts::default();
    if let Some(p) = patch {
        facts.apply(p);
    }
    if facts.wrong_recipients.is_empty() {
        facts.wrong_recipients = default_wrong.to_vec();
    }
    check_wrong(&facts, recipients)?;
    if facts.data_categories.is_empty() {
        let from_checks = categories_from_checks(m);
        if !from_checks.is_empty() {
            facts.data_categories = from_checks;
            facts.categories_source = Some("pre_send_checks".into());
        }
    } else if facts.categories_source.is_none() {
        facts.categories_source = Some("sender".into());
    }
    facts.validate().map_err(invalid_facts)?;
    Ok(facts)
}

fn check_wrong(facts: &Facts, recipients: &[mq::RecipientRow]) -> DomainResult<()> {
    for rid in &facts.wrong_recipients {
        if !recipients.iter().any(|r| &r.rid == rid) {
            return Err(DomainError::invalid(
                "invalid_facts",
                "wrong_recipients must name recipients (rid) of the message",
            ));
        }
    }
    Ok(())
}

/// Opens an incident inside the caller's transaction (the revoke that reports the mistake, or
/// a report of its own). The caller has checked that `who` may do this for `m`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open_in_tx(
    svc: &Services,
    tx: &mut Tx,
    who: &Principal,
    m: &mq::MessageRow,
    trigger: Trigger,
    patch: Option<&FactsPatch>,
    default_wrong: &[String],
    now: i64,
) -> DomainResult<Opened> {
    let recipients = mq::recipients(svc.db.pool(), &m.id).await?;
    let facts = initial_facts(m, &recipients, patch, default_wrong)?;
    let (settings, _) = load_settings(svc, &m.org_id).await?;
    let jurisdiction = settings.jurisdiction;
    let deadline_at = now + hours_ms(jurisdiction.profile().deadline_hours);
    let facts_text = serde_json::to_string(&facts).map_err(|_| DomainError::Unavailable)?;
    let actor = who.actor();
    let row = q::IncidentRow {
        id: ids::new_id()?,
        org_id: m.org_id.clone(),
        message_id: m.id.clone(),
        trigger: trigger.as_str().into(),
        jurisdiction: jurisdiction.as_str().into(),
        state: q::state::OPEN.into(),
        detected_at: now,
        aware_at: now,
        aware_by: actor.clone(),
        aware_reason: None,
        deadline_at,
        facts: facts_text,
        decision: None,
        created_by: actor.clone(),
        updated_at: now,
        version: 1,
    };
    q::insert(tx, &row).await?;
    let body = serde_json::json!({
        "trigger": row.trigger,
        "jurisdiction": row.jurisdiction,
        "aware_at": to_rfc3339(now),
        "deadline_at": to_rfc3339(deadline_at),
        "facts": facts,
    });
    entry_and_event(tx, &row, now, &actor, "opened", None, &body).await?;
    q::schedule_reminders(tx, &row.id, now, &settings.reminder_hours).await?;
    Ok(Opened {
        id: row.id,
        aware_at: to_rfc3339(now),
        deadline_at: to_rfc3339(deadline_at),
    })
}

/// Appends the history entry and the proof-log event of a change (same transaction).
async fn entry_and_event(
    tx: &mut Tx,
    row: &q::IncidentRow,
    now: i64,
    actor: &str,
    kind: &str,
    note: Option<&str>,
    body: &serde_json::Value,
) -> DomainResult<()> {
    let text = body.to_string();
    q::append_entry(tx, &row.id, now, actor, kind, note, &text).await?;
    let event_kind = match kind {
        "opened" => "incident.opened",
        "updated" => "incident.updated",
        "awareness_set" => "incident.awareness_set",
        "decided" => "incident.decided",
        "notified" => "incident.notified",
        _ => "incident.closed",
    };
    let detail = serde_json::json!({ "incident": row.id, "sha256": digest(&text) });
    ops::record(
        tx,
        now,
        &ops::Event::account(&row.org_id, actor, event_kind, Some(detail)),
    )
    .await?;
    Ok(())
}

/// Whether the caller may open an incident about `m`: its sender (send scope), or a DPO or
/// admin of its organisation (incidents scope).
fn may_open(who: &Principal, m: &mq::MessageRow) -> bool {
    let sender = m.sender_id == who.user_id && who.scopes.contains(&Scope::Send);
    let register = m.org_id == who.org_id && can_read_register(who);
    sender || register
}

/// `POST /incidents`: reports an incident about a sent message.
pub async fn open(
    svc: &Services,
    who: &Principal,
    message_id: &str,
    patch: Option<&FactsPatch>,
) -> DomainResult<serde_json::Value> {
    if !ids::is_id(message_id) {
        return Err(DomainError::NotFound);
    }
    let m = mq::message(svc.db.pool(), message_id)
        .await?
        .ok_or(DomainError::NotFound)?;
    if !may_open(who, &m) {
        return Err(DomainError::NotFound);
    }
    if m.sealed_at.is_none() {
        return Err(DomainError::conflict(
            "not_sent",
            "the message was never sealed, so it was never sent",
        ));
    }
    let now = svc.clock.now_ms();
    let mut tx = svc.db.begin_write().await?;
    let opened = open_in_tx(svc, &mut tx, who, &m, Trigger::Reported, patch, &[], now).await?;
    tx.commit().await.map_err(DbError::from)?;
    if can_read_register(who) && m.org_id == who.org_id {
        view(svc, who, &opened.id).await
    } else {
        serde_json::to_value(&opened).map_err(|_| DomainError::Unavailable)
    }
}

/// Loads an incident of the caller's register; anything else is 404.
async fn load(svc: &Services, who: &Principal, id: &str) -> DomainResult<q::IncidentRow> {
    if !ids::is_id(id) {
        return Err(DomainError::NotFound);
    }
    let row = q::get(svc.db.pool(), id).await?.ok_or(DomainError::NotFound)?;
    if row.org_id != who.org_id || !can_read_register(who) {
        return Err(DomainError::NotFound);
    }
    Ok(row)
}

fn parse_facts(row: &q::IncidentRow) -> DomainResult<Facts> {
    serde_json::from_str(&row.facts).map_err(|e| {
        tracing::error!(error = %e, incident = %row.id, "stored incident facts do not parse");
        DomainError::Unavailable
    })
}

fn parse_decision(row: &q::IncidentRow) -> DomainResult<Option<Decision>> {
    row.decision
        .as_deref()
        .map(|d| {
            serde_json::from_str(d).map_err(|e| {
                tracing::error!(error = %e, incident = %row.id, "stored incident decision does not parse");
                DomainError::Unavailable
            })
        })
        .transpose()
}

fn jurisdiction_of(row: &q::IncidentRow) -> Jurisdiction {
    Jurisdiction::parse(&row.jurisdiction).unwrap_or_default()
}

/// The evidence of every recipient, from the message's sequenced events.
async fn evidence(
    svc: &Services,
    m: &mq::MessageRow,
    recipients: &[mq::RecipientRow],
    facts: &Facts,
) -> DomainResult<Vec<RecipientEvidence>> {
    super::transparency::integrate(svc).await?;
    let events = ops::message_events(svc.db.pool(), &m.id).await?;
    let created = events.iter().any(|e| e.kind == "message.created");
    let message_end = match m.state.as_str() {
        s if s == mq::state::REVOKED || s == mq::state::EXPIRED || s == mq::state::DELETED => m.ended_at,
        _ => None,
    };
    Ok(recipients
        .iter()
        .map(|r| {
            let releases: Vec<Release> = events
                .iter()
                .filter(|e| e.kind == "share.released" && e.rid.as_deref() == Some(r.rid.as_str()))
                .map(|e| {
                    let method = e
                        .detail
                        .as_deref()
                        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                        .and_then(|d| d["method"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| r.verification.clone());
                    Release {
                        at: e.at,
                        verification: if method == "totp" {
                            Verification::Totp
                        } else {
                            Verification::Sms
                        },
                        log_index: u64::try_from(e.seq).ok(),
                    }
                })
                .collect();
            let revoked_at = match (r.revoked_at, message_end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let label = r
                .address
                .clone()
                .or_else(|| r.phone.as_deref().map(super::access::phone_hint))
                .unwrap_or_else(|| r.rid.clone());
            RecipientEvidence {
                rid: r.rid.clone(),
                label,
                wrong: facts.wrong_recipients.contains(&r.rid),
                log_complete: created && releases.len() as u64 >= r.releases,
                releases,
                revoked_at,
            }
        })
        .collect())
}

/// The assessment: exposures, ENISA (prefill with the DPO's override), suggestion.
fn assess(facts: &Facts, evidence: &[RecipientEvidence]) -> (Vec<Exposure>, breach::Enisa, bool, breach::Suggestion) {
    let exposures: Vec<Exposure> = evidence.iter().map(breach::exposure).collect();
    let (enisa, overridden, suggestion) = breach::assess(facts, &exposures);
    (exposures, enisa, overridden, suggestion)
}

/// Everything about one incident, computed now.
struct Computed {
    doc: IncidentDocument,
    row: q::IncidentRow,
    suggestion: Outcome,
}

async fn compute(svc: &Services, row: q::IncidentRow, receipt: breach::Receipt) -> DomainResult<Computed> {
    let now = svc.clock.now_ms();
    let facts = parse_facts(&row)?;
    let m = mq::message(svc.db.pool(), &row.message_id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    let recipients = mq::recipients(svc.db.pool(), &m.id).await?;
    let ev = evidence(svc, &m, &recipients, &facts).await?;
    let (exposures, enisa, overridden, suggestion) = assess(&facts, &ev);
    let (settings, _) = load_settings(svc, &row.org_id).await?;
    let jurisdiction = jurisdiction_of(&row);
    let profile = jurisdiction.profile();
    let controller = Controller {
        name: match &settings.controller {
            Some(c) => c.clone(),
            None => org_name(svc, &row.org_id).await?,
        },
        dpo: settings
            .dpo
            .as_ref()
            .map(|d| Contact {
                name: d.name.clone(),
                email: d.email.clone(),
                phone: d.phone.clone(),
            })
            .unwrap_or_default(),
    };
    let entries = q::entries(svc.db.pool(), &row.id).await?;
    let mut notifications = Vec::new();
    let mut updates = Vec::with_capacity(entries.len());
    for e in entries {
        let changes: serde_json::Value = serde_json::from_str(&e.body).unwrap_or(serde_json::Value::Null);
        if e.kind == "notified"
            && let Ok(n) = serde_json::from_value::<NotificationRecord>(changes["notification"].clone())
        {
            notifications.push(n);
        }
        updates.push(UpdateRecord {
            seq: u64::try_from(e.seq).unwrap_or(0),
            at: to_rfc3339(e.at),
            actor: e.actor,
            kind: e.kind,
            note: e.note,
            changes,
        });
    }
    let checks_decision = m
        .send_checks
        .as_deref()
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|c| c["decision"].as_str().map(str::to_owned));
    let message = MessageSummary {
        id: m.id.clone(),
        sent_at: m.sealed_at.map(to_rfc3339),
        state: super::messages::effective_state_of(&m, now),
        recipients: u32::try_from(recipients.len()).unwrap_or(u32::MAX),
        revoked_at: if m.state == mq::state::REVOKED {
            m.ended_at.map(to_rfc3339)
        } else {
            None
        },
        checks_decision,
    };
    let doc = IncidentDocument {
        format: breach::DOCUMENT_FORMAT.into(),
        incident_id: row.id.clone(),
        controller,
        jurisdiction,
        authority: profile.authority.into(),
        deadline_hours: profile.deadline_hours,
        message,
        trigger: row.trigger.clone(),
        opened_by: row.created_by.clone(),
        detected_at: to_rfc3339(row.detected_at),
        aware_at: to_rfc3339(row.aware_at),
        aware_reason: row.aware_reason.clone(),
        deadline_at: to_rfc3339(row.deadline_at),
        never_accessed: breach::never_accessed(&facts, &exposures),
        exposures: exposures.iter().map(Exposure::view).collect(),
        enisa: enisa.view(overridden),
        suggestion: suggestion.clone(),
        decision: parse_decision(&row)?,
        notifications,
        updates,
        facts,
        receipt,
        generated_at: to_rfc3339(now),
    };
    Ok(Computed {
        doc,
        row,
        suggestion: suggestion.outcome,
    })
}

/// A reminder as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ReminderView {
    /// Hours after awareness.
    pub hours: i64,
    /// When it is due.
    pub due_at: String,
    /// `pending`, `sent`, `cancelled` or `failed`.
    pub state: String,
    /// When it went out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
}

fn remaining_seconds(deadline_at: i64, now: i64) -> i64 {
    (deadline_at - now).div_euclid(1000)
}

async fn view_of(svc: &Services, c: Computed) -> DomainResult<serde_json::Value> {
    let now = svc.clock.now_ms();
    let reminders: Vec<ReminderView> = q::reminders(svc.db.pool(), &c.row.id)
        .await?
        .into_iter()
        .map(|r| ReminderView {
            hours: r.hours,
            due_at: to_rfc3339(r.due_at),
            state: r.state,
            sent_at: r.sent_at.map(to_rfc3339),
        })
        .collect();
    let mut value = serde_json::to_value(&c.doc).map_err(|_| DomainError::Unavailable)?;
    if let Some(o) = value.as_object_mut() {
        o.remove("receipt");
        o.insert("id".into(), c.row.id.clone().into());
        o.insert("message_id".into(), c.row.message_id.clone().into());
        o.insert("state".into(), c.row.state.clone().into());
        o.insert(
            "remaining_seconds".into(),
            remaining_seconds(c.row.deadline_at, now).into(),
        );
        o.insert("overdue".into(), (now > c.row.deadline_at).into());
        o.insert(
            "reminders".into(),
            serde_json::to_value(reminders).map_err(|_| DomainError::Unavailable)?,
        );
        o.insert("version".into(), c.row.version.into());
    }
    Ok(value)
}

/// `GET /incidents/{id}`: the incident document (without the receipt), the countdown, the
/// reminders and the version to send with changes.
pub async fn view(svc: &Services, who: &Principal, id: &str) -> DomainResult<serde_json::Value> {
    let row = load(svc, who, id).await?;
    let c = compute(svc, row, breach::Receipt::null()).await?;
    view_of(svc, c).await
}

/// One line of the register.
#[derive(Debug, Clone, Serialize)]
pub struct ListItem {
    /// Id.
    pub id: String,
    /// The message.
    pub message_id: String,
    /// `open`, `decided` or `closed`.
    pub state: String,
    /// Cause.
    pub cause: breach::Cause,
    /// Awareness.
    pub aware_at: String,
    /// Deadline.
    pub deadline_at: String,
    /// Seconds left (negative when overdue).
    pub remaining_seconds: i64,
    /// Past the deadline.
    pub overdue: bool,
    /// The suggested outcome, now.
    pub suggested_outcome: Outcome,
    /// The DPO's decision, if made.
    pub decided_outcome: Option<Outcome>,
}

/// `GET /incidents`: the organisation's register, newest first.
pub async fn list(svc: &Services, who: &Principal, state: Option<&str>) -> DomainResult<Vec<ListItem>> {
    require_register(who)?;
    if let Some(s) = state
        && ![q::state::OPEN, q::state::DECIDED, q::state::CLOSED].contains(&s)
    {
        return Err(DomainError::invalid(
            "invalid_state",
            "state must be open, decided or closed",
        ));
    }
    let now = svc.clock.now_ms();
    let rows = q::list(svc.db.pool(), &who.org_id, state, 200).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let c = compute(svc, row, breach::Receipt::null()).await?;
        out.push(ListItem {
            id: c.row.id.clone(),
            message_id: c.row.message_id.clone(),
            state: c.row.state.clone(),
            cause: c.doc.facts.cause,
            aware_at: c.doc.aware_at.clone(),
            deadline_at: c.doc.deadline_at.clone(),
            remaining_seconds: remaining_seconds(c.row.deadline_at, now),
            overdue: now > c.row.deadline_at,
            suggested_outcome: c.suggestion,
            decided_outcome: c.doc.decision.as_ref().map(|d| d.outcome),
        });
    }
    Ok(out)
}

fn check_version(row: &q::IncidentRow, expected: Option<i64>) -> DomainResult<()> {
    match expected {
        Some(v) if v != row.version => Err(DomainError::conflict(
            "version_conflict",
            format!(
                "the incident changed since version {v} (now {}); reload it and try again",
                row.version
            ),
        )),
        _ => Ok(()),
    }
}

fn require_not_closed(row: &q::IncidentRow) -> DomainResult<()> {
    if row.state == q::state::CLOSED {
        return Err(DomainError::conflict("closed", "the incident is closed"));
    }
    Ok(())
}

/// Writes a changed incident with its entry and event; 409 if someone changed it meanwhile.
async fn commit_change(
    mut tx: Tx,
    row: &mut q::IncidentRow,
    who: &Principal,
    kind: &str,
    note: Option<&str>,
    body: &serde_json::Value,
    now: i64,
) -> DomainResult<()> {
    row.version += 1;
    row.updated_at = now;
    if !q::update(&mut tx, row).await? {
        return Err(DomainError::conflict(
            "version_conflict",
            "the incident changed meanwhile; reload it and try again",
        ));
    }
    entry_and_event(&mut tx, row, now, &who.actor(), kind, note, body).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// Whether reminders still make sense: no authority notification yet, not decided record-only,
/// not closed.
async fn reminders_wanted(svc: &Services, row: &q::IncidentRow) -> DomainResult<bool> {
    if row.state == q::state::CLOSED {
        return Ok(false);
    }
    if parse_decision(row)?.is_some_and(|d| d.outcome == Outcome::RecordOnly) {
        return Ok(false);
    }
    let notified = q::entries(svc.db.pool(), &row.id)
        .await?
        .iter()
        .any(|e| e.kind == "notified" && e.body.contains("\"to\":\"authority\""));
    Ok(!notified)
}

/// `POST /incidents/{id}/updates`: phased reporting — a patch of the facts and a note, kept as
/// an entry; the assessment follows from the new facts.
pub async fn update(
    svc: &Services,
    who: &Principal,
    id: &str,
    note: Option<&str>,
    patch: Option<&FactsPatch>,
    version: Option<i64>,
) -> DomainResult<serde_json::Value> {
    let mut row = load(svc, who, id).await?;
    check_version(&row, version)?;
    require_not_closed(&row)?;
    if let Some(n) = note {
        check_text("invalid_note", "note", n, false)?;
    }
    if note.is_none_or(|n| n.trim().is_empty()) && patch.is_none() {
        return Err(DomainError::invalid(
            "invalid_update",
            "an update needs a note or facts",
        ));
    }
    let mut facts = parse_facts(&row)?;
    if let Some(p) = patch {
        let before_categories = facts.data_categories.clone();
        facts.apply(p);
        if facts.data_categories != before_categories && p.categories_source.is_none() {
            facts.categories_source = Some(if who.has_role(Role::Dpo) { "dpo" } else { "sender" }.into());
        }
        let recipients = mq::recipients(svc.db.pool(), &row.message_id).await?;
        check_wrong(&facts, &recipients)?;
        facts.validate().map_err(invalid_facts)?;
    }
    row.facts = serde_json::to_string(&facts).map_err(|_| DomainError::Unavailable)?;
    let now = svc.clock.now_ms();
    let body = serde_json::json!({ "facts": patch });
    let tx = svc.db.begin_write().await?;
    commit_change(
        tx,
        &mut row,
        who,
        "updated",
        note.filter(|n| !n.trim().is_empty()),
        &body,
        now,
    )
    .await?;
    view(svc, who, id).await
}

/// `PUT /incidents/{id}/awareness`: moves the time of awareness (with a reason); the deadline
/// and the reminders follow.
pub async fn set_awareness(
    svc: &Services,
    who: &Principal,
    id: &str,
    aware_at: i64,
    reason: &str,
    version: Option<i64>,
) -> DomainResult<serde_json::Value> {
    let mut row = load(svc, who, id).await?;
    check_version(&row, version)?;
    require_not_closed(&row)?;
    check_text("invalid_reason", "reason", reason, true)?;
    let now = svc.clock.now_ms();
    if aware_at > now {
        return Err(DomainError::invalid(
            "invalid_awareness",
            "aware_at must not be in the future",
        ));
    }
    let m = mq::message(svc.db.pool(), &row.message_id)
        .await?
        .ok_or(DomainError::Unavailable)?;
    if aware_at < m.sealed_at.unwrap_or(m.created_at) {
        return Err(DomainError::invalid(
            "invalid_awareness",
            "aware_at must not be before the message was sent",
        ));
    }
    let profile = jurisdiction_of(&row).profile();
    let wanted = reminders_wanted(svc, &row).await?;
    let before = (row.aware_at, row.deadline_at);
    row.aware_at = aware_at;
    row.aware_by = who.actor();
    row.aware_reason = Some(reason.to_owned());
    row.deadline_at = aware_at + hours_ms(profile.deadline_hours);
    let body = serde_json::json!({
        "aware_at": { "from": to_rfc3339(before.0), "to": to_rfc3339(aware_at) },
        "deadline_at": { "from": to_rfc3339(before.1), "to": to_rfc3339(row.deadline_at) },
        "reason": reason,
    });
    let mut tx = svc.db.begin_write().await?;
    if wanted {
        let (settings, _) = load_settings(svc, &row.org_id).await?;
        q::schedule_reminders(&mut tx, &row.id, aware_at, &settings.reminder_hours).await?;
    }
    commit_change(tx, &mut row, who, "awareness_set", Some(reason), &body, now).await?;
    view(svc, who, id).await
}

/// `POST /incidents/{id}/decision`: the DPO confirms or overrides the suggested outcome, with a
/// written reason (DPO role only). A later decision replaces it; the history keeps both.
pub async fn decide(
    svc: &Services,
    who: &Principal,
    id: &str,
    outcome: Outcome,
    reason: &str,
    version: Option<i64>,
) -> DomainResult<serde_json::Value> {
    let row = load(svc, who, id).await?;
    if !who.has_role(Role::Dpo) {
        return Err(DomainError::Forbidden("deciding needs the dpo role"));
    }
    check_version(&row, version)?;
    require_not_closed(&row)?;
    check_text("invalid_reason", "reason", reason, true)?;
    let now = svc.clock.now_ms();
    let c = compute(svc, row, breach::Receipt::null()).await?;
    let mut row = c.row;
    let was_record_only = parse_decision(&row)?.is_some_and(|d| d.outcome == Outcome::RecordOnly);
    let decision = Decision {
        outcome,
        confirmed: outcome == c.suggestion,
        reason: reason.to_owned(),
        decided_by: who.actor(),
        decided_at: to_rfc3339(now),
    };
    row.decision = Some(serde_json::to_string(&decision).map_err(|_| DomainError::Unavailable)?);
    row.state = q::state::DECIDED.into();
    let body = serde_json::json!({ "decision": decision, "suggested": c.suggestion });
    // Overriding a record-only decision brings back the reminders it stopped (those still to come),
    // unless the authority has been notified meanwhile.
    let reinstate = if was_record_only && outcome != Outcome::RecordOnly && reminders_wanted(svc, &row).await? {
        Some(load_settings(svc, &row.org_id).await?.0.reminder_hours)
    } else {
        None
    };
    let mut tx = svc.db.begin_write().await?;
    if outcome == Outcome::RecordOnly {
        q::cancel_reminders(&mut tx, &row.id).await?;
    } else if let Some(hours) = reinstate {
        q::reinstate_reminders(&mut tx, &row.id, row.aware_at, &hours, now).await?;
    }
    commit_change(tx, &mut row, who, "decided", Some(reason), &body, now).await?;
    view(svc, who, id).await
}

/// A notification to record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    /// `authority` or `individuals`.
    pub to: String,
    /// The authority's case reference.
    #[serde(default)]
    pub reference: Option<String>,
    /// What was reported.
    #[serde(default)]
    pub summary: Option<String>,
    /// Why the notification is late (Art. 33(1)); required for the first late authority one.
    #[serde(default)]
    pub delay_reason: Option<String>,
    /// The version the caller saw.
    #[serde(default)]
    pub version: Option<i64>,
}

/// `POST /incidents/{id}/notifications`: records a notification made (phased: each authority
/// notification is the next phase). Reminders stop after the first authority notification.
pub async fn notify(svc: &Services, who: &Principal, id: &str, n: &NewNotification) -> DomainResult<serde_json::Value> {
    let mut row = load(svc, who, id).await?;
    check_version(&row, n.version)?;
    require_not_closed(&row)?;
    if n.to != "authority" && n.to != "individuals" {
        return Err(DomainError::invalid(
            "invalid_notification",
            "to must be authority or individuals",
        ));
    }
    if let Some(r) = &n.reference {
        if r.chars().count() > 200 {
            return Err(DomainError::invalid(
                "invalid_notification",
                "reference is longer than 200 characters",
            ));
        }
    }
    check_text(
        "invalid_notification",
        "summary",
        n.summary.as_deref().unwrap_or(""),
        false,
    )?;
    check_text(
        "invalid_notification",
        "delay_reason",
        n.delay_reason.as_deref().unwrap_or(""),
        false,
    )?;
    let now = svc.clock.now_ms();
    let earlier: Vec<NotificationRecord> = q::entries(svc.db.pool(), &row.id)
        .await?
        .iter()
        .filter(|e| e.kind == "notified")
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.body).ok())
        .filter_map(|b| serde_json::from_value(b["notification"].clone()).ok())
        .collect();
    let same = earlier.iter().filter(|e| e.to == n.to).count();
    let late = now > row.deadline_at;
    let delay_reason = n.delay_reason.clone().filter(|d| !d.trim().is_empty());
    if n.to == "authority" && same == 0 && late && delay_reason.is_none() {
        return Err(DomainError::invalid(
            "delay_reason_required",
            "the deadline has passed: give the reasons for the delay (Art. 33(1)) in delay_reason",
        ));
    }
    let record = NotificationRecord {
        to: n.to.clone(),
        at: to_rfc3339(now),
        reference: n.reference.clone().filter(|r| !r.trim().is_empty()),
        phase: u32::try_from(same + 1).unwrap_or(u32::MAX),
        summary: n.summary.clone().unwrap_or_default(),
        late,
        delay_reason,
    };
    let body = serde_json::json!({ "notification": record });
    let mut tx = svc.db.begin_write().await?;
    if n.to == "authority" {
        q::cancel_reminders(&mut tx, &row.id).await?;
    }
    commit_change(tx, &mut row, who, "notified", None, &body, now).await?;
    view(svc, who, id).await
}

/// `POST /incidents/{id}/close`: closes a decided incident with a reason; reminders stop.
pub async fn close(
    svc: &Services,
    who: &Principal,
    id: &str,
    reason: &str,
    version: Option<i64>,
) -> DomainResult<serde_json::Value> {
    let mut row = load(svc, who, id).await?;
    check_version(&row, version)?;
    require_not_closed(&row)?;
    check_text("invalid_reason", "reason", reason, true)?;
    if row.decision.is_none() {
        return Err(DomainError::conflict(
            "not_decided",
            "an incident is closed only after the DPO's decision",
        ));
    }
    let now = svc.clock.now_ms();
    row.state = q::state::CLOSED.into();
    let body = serde_json::json!({ "reason": reason });
    let mut tx = svc.db.begin_write().await?;
    q::cancel_reminders(&mut tx, &row.id).await?;
    commit_change(tx, &mut row, who, "closed", Some(reason), &body, now).await?;
    view(svc, who, id).await
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Markdown.
    Markdown,
    /// HTML.
    Html,
    /// PDF.
    Pdf,
    /// JSON.
    Json,
}

impl ExportFormat {
    /// Parses `md`, `html`, `pdf` or `json`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "md" | "markdown" => Some(ExportFormat::Markdown),
            "html" => Some(ExportFormat::Html),
            "pdf" => Some(ExportFormat::Pdf),
            "json" => Some(ExportFormat::Json),
            _ => None,
        }
    }
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Markdown => "md",
            ExportFormat::Html => "html",
            ExportFormat::Pdf => "pdf",
            ExportFormat::Json => "json",
        }
    }
    /// Media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Markdown => "text/markdown; charset=utf-8",
            ExportFormat::Html => "text/html; charset=utf-8",
            ExportFormat::Pdf => "application/pdf",
            ExportFormat::Json => "application/json",
        }
    }
}

/// `GET /incidents/{id}/export`: the record, the draft notification and the draft letter,
/// rendered, with a fresh receipt of the message embedded. The export is an event.
pub async fn export(svc: &Services, who: &Principal, id: &str, format: ExportFormat) -> DomainResult<Vec<u8>> {
    let row = load(svc, who, id).await?;
    let receipt_text = super::transparency::receipt_for_register(svc, who, &row.message_id).await?;
    let receipt = breach::Receipt::from_text(&receipt_text).map_err(|e| {
        tracing::error!(error = %e, "a receipt is not JSON");
        DomainError::Unavailable
    })?;
    let c = compute(svc, row, receipt).await?;
    let bytes = match format {
        ExportFormat::Markdown => breach::render_markdown(&c.doc).into_bytes(),
        ExportFormat::Html => breach::render_html(&c.doc).into_bytes(),
        ExportFormat::Pdf => breach::render_pdf(&c.doc),
        ExportFormat::Json => breach::render_json(&c.doc).into_bytes(),
    };
    let now = svc.clock.now_ms();
    let actor = who.actor();
    let detail = serde_json::json!({
        "incident": c.row.id,
        "format": format.extension(),
        "sha256": sealpost_crypto::b64::encode_url(&sealpost_crypto::primitives::sha256(&[&bytes])),
    });
    ops::record_alone(
        &svc.db,
        now,
        &ops::Event::account(&c.row.org_id, &actor, "incident.exported", Some(detail)),
    )
    .await?;
    Ok(bytes)
}

// ------------------------------------------------------------------ reminders

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Sealpost-Signature` header value of a webhook body: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn webhook_signature(secret: &str, unix: i64, body: &str) -> String {
    let mac = sealpost_crypto::primitives::hmac_sha256(secret.as_bytes(), format!("{unix}.{body}").as_bytes());
    format!("t={unix},v1={}", hex(&mac))
}

/// Builds the HTTP client reminders are posted with (no redirects, bounded time).
pub fn webhook_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sealpost-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Delivers due reminders (mail and/or webhook); each channel is retried with backoff (1 min
/// doubling, 8 tries) until it succeeds. Returns the reminders completed.
pub async fn deliver_reminders(svc: &Services) -> DomainResult<u32> {
    let now = svc.clock.now_ms();
    let mut done = 0;
    for r in q::claim_reminders(svc.db.pool(), now, 300_000, REMINDER_BATCH).await? {
        if deliver_one(svc, &r, now).await? {
            done += 1;
        }
    }
    Ok(done)
}

async fn deliver_one(svc: &Services, r: &q::ReminderRow, now: i64) -> DomainResult<bool> {
    let Some(row) = q::get(svc.db.pool(), &r.incident_id).await? else {
        return Ok(false);
    };
    if row.state == q::state::CLOSED {
        let mut tx = svc.db.begin_write().await?;
        q::cancel_reminders(&mut tx, &row.id).await?;
        tx.commit().await.map_err(DbError::from)?;
        return Ok(false);
    }
    let (settings, _) = load_settings(svc, &row.org_id).await?;
    let mailer = svc.mailer.as_ref().filter(|_| !settings.reminder_emails.is_empty());
    let webhook = settings
        .webhook
        .as_ref()
        .and_then(|w| w.secret.as_ref().map(|s| (w.url.as_str(), s.as_str())));
    if mailer.is_none() && webhook.is_none() {
        q::reminder_retry(
            svc.db.pool(),
            &r.incident_id,
            r.hours,
            i64::MAX,
            &r.delivered,
            "no reminder target configured",
            true,
        )
        .await?;
        return Ok(false);
    }
    let mut delivered: BTreeSet<String> = r
        .delivered
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let remaining = remaining_seconds(row.deadline_at, now);
    let deadline = to_rfc3339(row.deadline_at);
    let payload = serde_json::json!({
        "type": "incident.reminder",
        "incident_id": row.id,
        "deadline_at": deadline,
        "remaining_seconds": remaining,
        "hours": r.hours,
    })
    .to_string();
    let mut errors = Vec::new();
    if let Some(mailer) = mailer
        && !delivered.contains("email")
    {
        let link = format!("{}/dpo/#/incidents/{}", svc.public_url.get(), row.id);
        let (subject, body) = reminder_mail(&row.id, &deadline, remaining, r.hours, &link);
        let mut all = true;
        for to in &settings.reminder_emails {
            if let Err(e) = mailer.send(to, &subject, &body).await {
                errors.push(format!("email: {e}"));
                all = false;
            }
        }
        if all {
            delivered.insert("email".into());
        }
    }
    if let Some((url, secret)) = webhook
        && !delivered.contains("webhook")
    {
        let unix = now.div_euclid(1000);
        let signature = webhook_signature(secret, unix, &payload);
        let result = svc
            .webhooks
            .post(url)
            .header("content-type", "application/json")
            .header("sealpost-signature", signature)
            .body(payload.clone())
            .send()
            .await;
        match result {
            Ok(resp) if resp.status().is_success() => {
                delivered.insert("webhook".into());
            }
            Ok(resp) => errors.push(format!("webhook: HTTP {}", resp.status().as_u16())),
            Err(e) => errors.push(format!("webhook: {}", e.without_url())),
        }
    }
    let delivered_text = delivered.iter().cloned().collect::<Vec<_>>().join(",");
    if errors.is_empty() {
        let mut tx = svc.db.begin_write().await?;
        if q::reminder_sent(&mut tx, &row.id, r.hours, now, &delivered_text).await? {
            let detail = serde_json::json!({
                "incident": row.id,
                "hours": r.hours,
                "channels": delivered.iter().collect::<Vec<_>>(),
                "sha256": digest(&payload),
            });
            ops::record(
                &mut tx,
                now,
                &ops::Event::account(&row.org_id, "system", "incident.reminder_sent", Some(detail)),
            )
            .await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(true)
    } else {
        let error = errors.join("; ");
        tracing::warn!(error = %error, attempts = r.attempts, incident = %row.id, "incident reminder failed");
        let give_up = r.attempts >= MAX_REMINDER_ATTEMPTS;
        let next = now + 60_000 * (1i64 << (r.attempts.saturating_sub(1)).clamp(0, 10));
        q::reminder_retry(svc.db.pool(), &row.id, r.hours, next, &delivered_text, &error, give_up).await?;
        Ok(false)
    }
}

/// The reminder mail: subject and plain-text body.
pub fn reminder_mail(
    incident_id: &str,
    deadline: &str,
    remaining_seconds: i64,
    hours: i64,
    link: &str,
) -> (String, String) {
    let (subject, when) = if remaining_seconds >= 0 {
        let h = remaining_seconds / 3600;
        let m = (remaining_seconds % 3600) / 60;
        (
            format!("Breach register: {h} h left to decide on incident {incident_id}"),
            format!("{h} h {m} min left"),
        )
    } else {
        let over = -remaining_seconds;
        (
            format!("Breach register: incident {incident_id} is past its deadline"),
            format!("overdue by {} h {} min", over / 3600, (over % 3600) / 60),
        )
    };
    let body = format!(
        "Reminder ({hours} h after awareness) for incident {incident_id} in the breach register.\n\n\
         Notification deadline: {deadline} ({when}).\n\n\
         Assess the incident, record the decision with its reason, and record any notification:\n{link}\n\n\
         You receive this because your address is a reminder address in the organisation's breach settings.\n"
    );
    (subject, body)
}

/// Parses an RFC 3339 time for the handlers.
pub fn parse_time(text: &str) -> Option<i64> {
    from_rfc3339(text)
}
