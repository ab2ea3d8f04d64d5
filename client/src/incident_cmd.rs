//! `sealpost incident …`: the breach register from the command line (see `docs/cli.md` and
//! `docs/breach.md`). The commands parse, call [`sealpost_client::incidents`] and print; with
//! `--json` they print the API's answer as one JSON object.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use sealpost_client::config::Profile;
use sealpost_client::error::Error;
use sealpost_client::incidents::{self, Notification, authority_short, countdown, human_time};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The data categories the API knows (ENISA's data-processing context).
const CATEGORIES: [&str; 8] = [
    "contact",
    "identifier",
    "national_id",
    "behavioural",
    "financial",
    "health",
    "special_category",
    "criminal",
];

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// Open an incident about a message (sent to the wrong person, or with the wrong content).
    ///
    /// The sender of the message, or the organisation's DPO or admin, may open one. The data
    /// categories default to what the pre-send checks found.
    Open {
        /// The message id.
        #[arg(allow_hyphen_values = true)]
        message_id: String,
        /// A recipient who should not have received it: address or recipient id (repeatable)
        /// [default: every recipient].
        #[arg(long, allow_hyphen_values = true, value_name = "RECIPIENT")]
        wrong: Vec<String>,
        /// A category of the personal data in the message (repeatable).
        #[arg(long, value_parser = CATEGORIES, value_name = "CATEGORY")]
        category: Vec<String>,
        /// About how many people the data is about.
        #[arg(long, value_name = "N")]
        subjects: Option<u64>,
        /// What happened, in a few sentences.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// List the organisation's incidents with their deadlines (DPO and admins).
    List {
        /// Only incidents in this state.
        #[arg(long, value_parser = ["open", "decided", "closed"])]
        state: Option<String>,
    },
    /// Show an incident: exposure per recipient, assessment, suggested outcome and deadline.
    Show {
        /// The incident id.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Add what is known now (phased reporting, Art. 33(4)); earlier facts are kept.
    Update {
        /// The incident id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// What this update is about (kept with it).
        #[arg(long, value_name = "TEXT")]
        note: String,
        /// About how many people the data is about.
        #[arg(long, value_name = "N")]
        subjects: Option<u64>,
        /// About how many records are concerned.
        #[arg(long, value_name = "N")]
        records: Option<u64>,
        /// The likely consequences for the people affected.
        #[arg(long, value_name = "TEXT")]
        consequences: Option<String>,
        /// A measure taken (repeatable; replaces the list).
        #[arg(long, value_name = "TEXT")]
        measure: Vec<String>,
        /// A category of the personal data (repeatable; replaces the list).
        #[arg(long, value_parser = CATEGORIES, value_name = "CATEGORY")]
        category: Vec<String>,
    },
    /// Set when the organisation became aware of the breach; the deadline counts from it.
    Aware {
        /// The incident id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// When: an RFC 3339 time, `now`, or a duration before now (`3h ago`).
        #[arg(long, value_name = "TIME")]
        at: String,
        /// Why this time (kept in the record).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Confirm or override the suggested outcome, with a reason (DPO only).
    Decide {
        /// The incident id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// The decision.
        #[arg(long, value_enum)]
        outcome: Outcome,
        /// Why (kept in the record).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Record a notification made to the supervisory authority or to the people affected.
    Notified {
        /// The incident id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Whom it went to.
        #[arg(long, value_parser = ["authority", "individuals"])]
        to: String,
        /// The authority's case reference.
        #[arg(long, value_name = "REF")]
        reference: Option<String>,
        /// What was sent, in a few words.
        #[arg(long, value_name = "TEXT")]
        summary: Option<String>,
        /// Why it came after the deadline (needed for a late first notification).
        #[arg(long, value_name = "TEXT")]
        delay_reason: Option<String>,
    },
    /// Close an incident after its decision.
    Close {
        /// The incident id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Why it can be closed.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Save the Art. 33(5) record, draft notification and draft letter, with the message receipt.
    Export {
        /// The incident id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// The format.
        #[arg(long, value_parser = ["md", "html", "pdf", "json"])]
        format: String,
        /// Where to save it [default: incident-<id>.<format>].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Show the organisation's breach settings, or change those given.
    Settings(SettingsArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Outcome {
    /// Document it in the register only.
    #[value(name = "record_only")]
    RecordOnly,
    /// Notify the supervisory authority within the deadline.
    #[value(name = "notify_authority")]
    NotifyAuthority,
    /// Notify the authority and inform the people affected (Art. 34).
    #[value(name = "notify_authority_and_individuals")]
    NotifyAuthorityAndIndividuals,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::RecordOnly => "record_only",
            Outcome::NotifyAuthority => "notify_authority",
            Outcome::NotifyAuthorityAndIndividuals => "notify_authority_and_individuals",
        }
    }
}

#[derive(clap::Args)]
pub struct SettingsArgs {
    /// The supervisory authority's rules: uk (ICO) or nl (Autoriteit Persoonsgegevens).
    #[arg(long, value_parser = ["uk", "nl"])]
    jurisdiction: Option<String>,
    /// The controller's name, as the records and notifications give it.
    #[arg(long, value_name = "NAME")]
    controller: Option<String>,
    /// The DPO's name.
    #[arg(long, value_name = "NAME")]
    dpo_name: Option<String>,
    /// The DPO's email address.
    #[arg(long, value_name = "EMAIL")]
    dpo_email: Option<String>,
    /// The DPO's phone number.
    #[arg(long, value_name = "PHONE")]
    dpo_phone: Option<String>,
    /// Hours after awareness at which reminders go out, e.g. 24,48,60,70 (`none` for none).
    #[arg(long, value_name = "HOURS")]
    reminder_hours: Option<String>,
    /// An address reminders are mailed to (repeatable; replaces the list).
    #[arg(long, value_name = "EMAIL")]
    reminder_email: Vec<String>,
    /// Where reminders are posted (signed with the secret); `none` removes the webhook.
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// A file whose first line is the webhook's signing secret (16 characters or more).
    #[arg(long, value_name = "FILE", requires = "webhook_url")]
    webhook_secret_file: Option<PathBuf>,
}

impl SettingsArgs {
    fn is_empty(&self) -> bool {
        self.jurisdiction.is_none()
            && self.controller.is_none()
            && self.dpo_name.is_none()
            && self.dpo_email.is_none()
            && self.dpo_phone.is_none()
            && self.reminder_hours.is_none()
            && self.reminder_email.is_empty()
            && self.webhook_url.is_none()
    }
}

pub async fn incident_command(config_path: &Path, command: IncidentCommand, json: bool) -> Result<(), Error> {
    let profile = Profile::load_effective(config_path)?;
    let client = profile.client()?;
    match command {
        IncidentCommand::Open {
            message_id,
            wrong,
            category,
            subjects,
            description,
        } => {
            let mut facts = Map::new();
            if !wrong.is_empty() {
                let rids = incidents::wrong_rids(&client, &message_id, &wrong).await?;
                facts.insert("wrong_recipients".into(), json!(rids));
            }
            if !category.is_empty() {
                facts.insert("data_categories".into(), json!(category));
                facts.insert("categories_source".into(), json!("sender"));
            }
            if let Some(n) = subjects {
                facts.insert("approx_subjects".into(), json!(n));
            }
            if let Some(text) = description {
                facts.insert(
                    "description".into(),
                    json!(incidents::required_text(&text, "description")?),
                );
            }
            let opened = incidents::open(&client, &message_id, &Value::Object(facts)).await?;
            if json {
                println!("{opened}");
            } else {
                let id = text(&opened, "id")
                    .or_else(|| text(&opened, "incident_id"))
                    .unwrap_or("?");
                println!("Opened incident {id} about message {message_id}.");
                println!("  {}", deadline_line(&opened));
                println!("Your DPO assesses it; they can see it with: sealpost incident show {id}");
            }
            Ok(())
        }
        IncidentCommand::List { state } => {
            let list = incidents::list(&client, state.as_deref()).await?;
            if json {
                println!("{list}");
            } else {
                print_list(&list);
            }
            Ok(())
        }
        IncidentCommand::Show { id } => {
            let incident = incidents::show(&client, &id).await?;
            if json {
                println!("{incident}");
            } else {
                print_incident(&incident);
            }
            Ok(())
        }
        IncidentCommand::Update {
            id,
            note,
            subjects,
            records,
            consequences,
            measure,
            category,
        } => {
            let mut facts = Map::new();
            if let Some(n) = subjects {
                facts.insert("approx_subjects".into(), json!(n));
            }
            if let Some(n) = records {
                facts.insert("approx_records".into(), json!(n));
            }
            if let Some(text) = consequences {
                facts.insert("likely_consequences".into(), json!(text));
            }
            if !measure.is_empty() {
                facts.insert("measures_taken".into(), json!(measure));
            }
            if !category.is_empty() {
                facts.insert("data_categories".into(), json!(category));
                facts.insert("categories_source".into(), json!("dpo"));
            }
            let incident = incidents::update(&client, &id, &note, &Value::Object(facts)).await?;
            done(json, &incident, &format!("Added the update to incident {id}."))
        }
        IncidentCommand::Aware { id, at, reason } => {
            let at = incidents::parse_aware_at(&at, OffsetDateTime::now_utc())?;
            let incident = incidents::set_awareness(&client, &id, &at, &reason).await?;
            done(
                json,
                &incident,
                &format!(
                    "Incident {id}: aware since {}.\n  {}",
                    human_time(&at),
                    deadline_line(&incident)
                ),
            )
        }
        IncidentCommand::Decide { id, outcome, reason } => {
            let incident = incidents::decide(&client, &id, outcome.as_str(), &reason).await?;
            let how = match incident["decision"]["confirmed"].as_bool() {
                Some(true) => "confirming the suggestion",
                Some(false) => "overriding the suggestion",
                None => "",
            };
            let sentence = if how.is_empty() {
                format!("Decided incident {id}: {}.", outcome.as_str())
            } else {
                format!("Decided incident {id}: {}, {how}.", outcome.as_str())
            };
            done(json, &incident, &sentence)
        }
        IncidentCommand::Notified {
            id,
            to,
            reference,
            summary,
            delay_reason,
        } => {
            let notification = Notification {
                to: to.clone(),
                reference,
                summary,
                delay_reason,
            };
            let incident = incidents::notified(&client, &id, &notification).await?;
            let whom = if to == "authority" {
                "the supervisory authority"
            } else {
                "the people affected"
            };
            done(
                json,
                &incident,
                &format!("Recorded the notification of {whom} for incident {id}."),
            )
        }
        IncidentCommand::Close { id, reason } => {
            let incident = incidents::close(&client, &id, &reason).await?;
            done(json, &incident, &format!("Closed incident {id}."))
        }
        IncidentCommand::Export { id, format, out } => {
            let bytes = incidents::export(&client, &id, &format).await?;
            let path = out.unwrap_or_else(|| PathBuf::from(format!("incident-{id}.{format}")));
            incidents::save_export(&path, &bytes)?;
            if json {
                println!(
                    "{}",
                    json!({ "file": path.display().to_string(), "format": format, "bytes": bytes.len() })
                );
            } else {
                println!("Saved incident {id} as {} ({} bytes).", path.display(), bytes.len());
            }
            Ok(())
        }
        IncidentCommand::Settings(args) => {
            let current = incidents::settings(&client).await?;
            let settings = if args.is_empty() {
                current
            } else {
                let wanted = changed_settings(&current, &args)?;
                incidents::put_settings(&client, &wanted).await?
            };
            if json {
                println!("{settings}");
            } else {
                print_settings(&settings);
            }
            Ok(())
        }
    }
}

fn done(json: bool, value: &Value, sentence: &str) -> Result<(), Error> {
    if json {
        println!("{value}");
    } else {
        println!("{sentence}");
    }
    Ok(())
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value[key].as_str()
}

/// Seconds to the deadline: the server's count, else from `deadline_at` and this clock.
fn remaining_seconds(incident: &Value) -> Option<i64> {
    incident["remaining_seconds"].as_i64().or_else(|| {
        let deadline = OffsetDateTime::parse(incident["deadline_at"].as_str()?, &Rfc3339).ok()?;
        Some((deadline - OffsetDateTime::now_utc()).whole_seconds())
    })
}

/// `Deadline 2026-11-26 10:00 UTC (ICO): 47 h 12 min left`.
fn deadline_line(incident: &Value) -> String {
    let deadline = text(incident, "deadline_at")
        .map(human_time)
        .unwrap_or_else(|| "unknown".into());
    let authority = text(incident, "authority")
        .map(|a| format!(" ({})", authority_short(a)))
        .unwrap_or_default();
    match remaining_seconds(incident) {
        Some(s) => format!("Deadline {deadline}{authority}: {}", countdown(s)),
        None => format!("Deadline {deadline}{authority}"),
    }
}

fn words(value: &Value) -> String {
    value.as_str().unwrap_or("-").replace('_', " ")
}

fn print_list(list: &Value) {
    let items = list["incidents"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("No incidents.");
        return;
    }
    println!(
        "{:<22}  {:<7}  {:<18}  {:<24}  {:<32}  DECIDED",
        "ID", "STATE", "CAUSE", "DEADLINE", "SUGGESTED"
    );
    for i in &items {
        let deadline = match (i["state"].as_str(), remaining_seconds(i)) {
            (Some("closed"), _) => "closed".to_owned(),
            (_, Some(s)) => countdown(s),
            (_, None) => "-".to_owned(),
        };
        let suggested = i["suggested_outcome"]
            .as_str()
            .or_else(|| i["suggestion"]["outcome"].as_str())
            .or_else(|| i["suggested"].as_str())
            .unwrap_or("-");
        let decided = i["decided_outcome"]
            .as_str()
            .or_else(|| i["decision"]["outcome"].as_str())
            .or_else(|| i["decided"].as_str())
            .unwrap_or("-");
        println!(
            "{:<22}  {:<7}  {:<18}  {:<24}  {:<32}  {decided}",
            i["id"].as_str().unwrap_or("-"),
            i["state"].as_str().unwrap_or("-"),
            i["cause"].as_str().unwrap_or("-"),
            deadline,
            suggested,
        );
    }
}

fn print_incident(i: &Value) {
    let id = text(i, "incident_id").or_else(|| text(i, "id")).unwrap_or("-");
    let facts = &i["facts"];
    println!(
        "Incident {id}: {} ({})",
        text(i, "state").unwrap_or("open"),
        words(&facts["cause"])
    );
    let message = &i["message"];
    print!("  Message {}", message["id"].as_str().unwrap_or("-"));
    if let Some(at) = message["sent_at"].as_str() {
        print!(", sent {}", human_time(at));
    }
    if let Some(at) = message["revoked_at"].as_str() {
        print!(", revoked {}", human_time(at));
    }
    println!();
    if let Some(at) = text(i, "detected_at") {
        println!("  Detected {}", human_time(at));
    }
    if let Some(at) = text(i, "aware_at") {
        match text(i, "aware_reason") {
            Some(reason) => println!("  Aware since {} ({reason})", human_time(at)),
            None => println!("  Aware since {}", human_time(at)),
        }
    }
    if text(i, "state") == Some("closed") {
        println!(
            "  Deadline {} (closed)",
            text(i, "deadline_at").map(human_time).unwrap_or_default()
        );
    } else {
        println!("  {}", deadline_line(i));
    }
    if let Some(d) = facts["description"].as_str().filter(|d| !d.is_empty()) {
        println!("  What happened: {d}");
    }
    let categories: Vec<String> = facts["data_categories"]
        .as_array()
        .into_iter()
        .flatten()
        .map(words)
        .collect();
    if !categories.is_empty() {
        println!("  Data: {}", categories.join(", "));
    }
    if let Some(n) = facts["approx_subjects"].as_u64() {
        println!("  People affected: about {n}");
    }
    println!("  Recipients:");
    for e in i["exposures"].as_array().into_iter().flatten() {
        let wrong = if e["wrong"].as_bool() == Some(true) {
            " [wrong]"
        } else {
            ""
        };
        let state = match e["state"].as_str() {
            Some("delivered_no_access") if e["revoked_before_release"].as_bool() == Some(true) => {
                "never received the key (revoked before any release)".to_owned()
            }
            Some("delivered_no_access") => "never received the key".to_owned(),
            Some("accessed_verified") => format!(
                "received the key at {} after {} verification ({} release(s))",
                e["first_release_at"].as_str().map(human_time).unwrap_or_default(),
                e["first_release_verification"].as_str().unwrap_or("-").to_uppercase(),
                e["releases"].as_u64().unwrap_or(0)
            ),
            Some("unknown") => "unknown (the access log is incomplete)".to_owned(),
            _ => "-".to_owned(),
        };
        println!("    {}{wrong}: {state}", e["label"].as_str().unwrap_or("-"));
    }
    if i["never_accessed"].as_bool() == Some(true) {
        println!("  Never accessed: no wrong recipient ever received the key (the receipt proves it).");
    } else {
        println!("  Accessed: a wrong recipient received the key.");
    }
    let enisa = &i["enisa"];
    if enisa.is_object() {
        println!(
            "  ENISA severity: DPC {} x EI {} + CB {} = {} ({}){}",
            enisa["dpc"],
            enisa["ei_value"],
            enisa["cb_value"],
            enisa["score"],
            words(&enisa["band"]),
            if enisa["overridden"].as_bool() == Some(true) {
                ", overridden"
            } else {
                ""
            }
        );
    }
    let suggestion = &i["suggestion"];
    println!("  Likelihood: {}", words(&suggestion["likelihood"]));
    println!("  Suggested: {}", words(&suggestion["outcome"]));
    for reason in suggestion["reasons"].as_array().into_iter().flatten() {
        println!("    - {}", reason.as_str().unwrap_or_default());
    }
    let decision = &i["decision"];
    if decision.is_object() {
        println!(
            "  Decision: {} ({}) by {} at {}: {}",
            words(&decision["outcome"]),
            if decision["confirmed"].as_bool() == Some(true) {
                "confirms the suggestion"
            } else {
                "overrides the suggestion"
            },
            decision["decided_by"].as_str().unwrap_or("-"),
            decision["decided_at"].as_str().map(human_time).unwrap_or_default(),
            decision["reason"].as_str().unwrap_or_default()
        );
    } else {
        println!("  Decision: not yet decided");
    }
    for n in i["notifications"].as_array().into_iter().flatten() {
        println!(
            "  Notified {} at {} (phase {}{}){}",
            n["to"].as_str().unwrap_or("-"),
            n["at"].as_str().map(human_time).unwrap_or_default(),
            n["phase"],
            if n["late"].as_bool() == Some(true) {
                ", late"
            } else {
                ""
            },
            n["reference"].as_str().map(|r| format!(": {r}")).unwrap_or_default()
        );
    }
    let updates = i["updates"].as_array().map(Vec::len).unwrap_or(0);
    println!("  {updates} change(s) recorded; export the record with: sealpost incident export {id} --format pdf");
}

fn print_settings(s: &Value) {
    println!("Jurisdiction: {}", s["jurisdiction"].as_str().unwrap_or("uk"));
    println!("Controller:   {}", s["controller"].as_str().unwrap_or("-"));
    let dpo = &s["dpo"];
    println!(
        "DPO:          {} <{}> {}",
        dpo["name"].as_str().unwrap_or("-"),
        dpo["email"].as_str().unwrap_or("-"),
        dpo["phone"].as_str().unwrap_or("")
    );
    let hours: Vec<String> = s["reminder_hours"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h.to_string())
        .collect();
    println!(
        "Reminders:    {}",
        if hours.is_empty() {
            "none".to_owned()
        } else {
            format!("{} h after awareness", hours.join(", "))
        }
    );
    let emails: Vec<&str> = s["reminder_emails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "  by email:   {}",
        if emails.is_empty() {
            "-".to_owned()
        } else {
            emails.join(", ")
        }
    );
    match s["webhook"]["url"].as_str() {
        Some(url) => println!("  by webhook: {url}"),
        None => println!("  by webhook: -"),
    }
}

/// The settings to store: the current ones with what the flags change.
fn changed_settings(current: &Value, args: &SettingsArgs) -> Result<Value, Error> {
    let mut s = Map::new();
    // Only what `PUT` takes: the view adds authority, deadline_hours, mail_enabled, default….
    for key in ["jurisdiction", "controller", "dpo", "reminder_hours", "reminder_emails"] {
        if !current[key].is_null() {
            s.insert(key.into(), current[key].clone());
        }
    }
    if let Some(j) = &args.jurisdiction {
        s.insert("jurisdiction".into(), json!(j));
    }
    if let Some(c) = &args.controller {
        s.insert("controller".into(), json!(c));
    }
    if args.dpo_name.is_some() || args.dpo_email.is_some() || args.dpo_phone.is_some() {
        let mut dpo = current["dpo"].as_object().cloned().unwrap_or_default();
        for (key, value) in [
            ("name", &args.dpo_name),
            ("email", &args.dpo_email),
            ("phone", &args.dpo_phone),
        ] {
            if let Some(value) = value {
                dpo.insert(key.into(), json!(value));
            }
        }
        s.insert("dpo".into(), Value::Object(dpo));
    }
    if let Some(hours) = &args.reminder_hours {
        s.insert("reminder_hours".into(), json!(parse_hours(hours)?));
    }
    if !args.reminder_email.is_empty() {
        s.insert("reminder_emails".into(), json!(args.reminder_email));
    }
    match (&args.webhook_url, &args.webhook_secret_file) {
        (Some(url), _) if url == "none" => {
            s.insert("webhook".into(), Value::Null);
        }
        (Some(url), Some(file)) => {
            let secret = std::fs::read_to_string(file).map_err(|e| Error::File {
                action: "read",
                path: file.clone(),
                source: e,
            })?;
            let secret = secret.lines().next().unwrap_or_default().trim().to_owned();
            s.insert("webhook".into(), json!({ "url": url, "secret": secret }));
        }
        (Some(_), None) => {
            return Err(Error::Invalid(
                "a webhook needs its signing secret: add --webhook-secret-file FILE".into(),
            ));
        }
        // Unchanged: the URL alone, and the server keeps the secret it never shows.
        (None, _) => {
            if let Some(url) = current["webhook"]["url"].as_str() {
                s.insert("webhook".into(), json!({ "url": url }));
            }
        }
    }
    Ok(Value::Object(s))
}

/// `24,48,60,70` (or `none`) as a list of hours.
fn parse_hours(text: &str) -> Result<Vec<u32>, Error> {
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|h| {
            h.trim().parse::<u32>().map_err(|_| {
                Error::Invalid(format!(
                    "{text:?} is not a list of hours: give whole hours separated by commas, like 24,48,60,70"
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_hours() {
        assert_eq!(parse_hours("24, 48,60,70").expect("hours"), [24, 48, 60, 70]);
        assert!(parse_hours("none").expect("none").is_empty());
        let err = parse_hours("24h").expect_err("bad");
        assert_eq!(
            err.to_string(),
            "\"24h\" is not a list of hours: give whole hours separated by commas, like 24,48,60,70"
        );
    }

    #[test]
    fn the_deadline_line_names_the_authority_and_the_countdown() {
        let incident = json!({
            "deadline_at": "2026-11-26T10:00:00Z",
            "authority": "Information Commissioner's Office (ICO)",
            "remaining_seconds": 47 * 3600 + 12 * 60 + 3,
        });
        assert_eq!(
            deadline_line(&incident),
            "Deadline 2026-11-26 10:00 UTC (ICO): 47 h 12 min left"
        );
        let overdue = json!({"deadline_at": "2026-11-26T10:00:00Z", "remaining_seconds": -(3 * 3600 + 5 * 60)});
        assert_eq!(
            deadline_line(&overdue),
            "Deadline 2026-11-26 10:00 UTC: overdue by 3 h 5 min"
        );
    }
}
