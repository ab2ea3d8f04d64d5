//! Exports of an incident document. Markdown, HTML and PDF share one layout ([`Block`]s built
//! by [`blocks`]), so the three carry the same headings and fields; JSON is the document itself.

mod html;
mod markdown;
mod pdf;

use sha2::{Digest, Sha256};

use crate::model::{Cause, DataCategory, IncidentDocument, Jurisdiction, Outcome};
use crate::parse_rfc3339;

pub use html::render_html;
pub use markdown::render_markdown;
pub use pdf::render_pdf;

/// Heading of the Art. 33(5) record.
pub const HEADING_RECORD: &str = "Record of a personal data breach (Art. 33(5))";
/// Heading of the draft letter.
pub const HEADING_LETTER: &str = "Draft letter to the people affected";
/// Heading of the Dutch draft letter (NL only).
pub const HEADING_LETTER_NL: &str = "Conceptbrief aan de betrokkenen";
/// Heading of the receipt section.
pub const HEADING_RECEIPT: &str = "Message receipt";
/// Heading of the draft notification, which names the authority.
pub fn heading_notification(authority: &str) -> String {
    format!("Draft notification to the {authority}")
}
/// Statement when no wrong recipient got the key.
pub const NEVER_ACCESSED: &str =
    "No wrong recipient ever received the key: the receipt proves the message was never accessed.";
/// Statement otherwise.
pub const ACCESSED: &str = "At least one wrong recipient received the key, or the access log is incomplete: the receipt does not prove that the message was never accessed.";

/// The JSON export: the document, pretty-printed.
pub fn render_json(doc: &IncidentDocument) -> String {
    serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".to_owned())
}

/// The receipt as embedded in exports (`receipt.json`): the issued text, byte for byte.
pub fn receipt_bytes(doc: &IncidentDocument) -> Vec<u8> {
    let mut v = doc.receipt.text().as_bytes().to_vec();
    v.push(b'\n');
    v
}

/// Hex SHA-256 of [`receipt_bytes`].
pub fn receipt_sha256(doc: &IncidentDocument) -> String {
    Sha256::digest(receipt_bytes(doc))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One piece of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    Title(String),
    Heading(String),
    Sub(String),
    Para(String),
    Field(String, String),
    List(Vec<String>),
    Pre(String),
}

fn or<'a>(s: &'a str, none: &'a str) -> &'a str {
    if s.trim().is_empty() { none } else { s }
}

fn opt(s: &Option<String>, none: &str) -> String {
    s.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or(none).to_owned()
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "not yet known".to_owned(), |n| n.to_string())
}

fn list_or(items: &[String], none: &str) -> Block {
    if items.is_empty() {
        Block::List(vec![none.to_owned()])
    } else {
        Block::List(items.to_vec())
    }
}

/// Whether the first authority notification is (or would now be) after the deadline.
fn late(doc: &IncidentDocument) -> bool {
    if let Some(n) = doc.notifications.iter().find(|n| n.to == "authority") {
        return n.late;
    }
    match (parse_rfc3339(&doc.generated_at), parse_rfc3339(&doc.deadline_at)) {
        (Some(now), Some(deadline)) => now > deadline,
        _ => false,
    }
}

fn categories_text(doc: &IncidentDocument) -> Vec<String> {
    let mut cats = doc.facts.data_categories.clone();
    cats.sort();
    cats.dedup();
    cats.iter().map(|c| c.describe().to_owned()).collect()
}

/// The layout shared by Markdown, HTML and PDF.
pub(crate) fn blocks(doc: &IncidentDocument) -> Vec<Block> {
    let f = &doc.facts;
    let profile = doc.jurisdiction.profile();
    let dpo = &doc.controller.dpo;
    let dpo_line = format!(
        "{}, {}{}",
        or(&dpo.name, "(DPO name not set)"),
        or(&dpo.email, "(DPO email not set)"),
        dpo.phone
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| format!(", {p}"))
            .unwrap_or_default()
    );
    let statement = if doc.never_accessed { NEVER_ACCESSED } else { ACCESSED };
    let natures: Vec<&str> = f.nature.iter().map(|n| n.as_str()).collect();
    let cats = categories_text(doc);
    let mut b = vec![
        Block::Title(format!("Personal data breach {}", doc.incident_id)),
        Block::Field("Incident".into(), doc.incident_id.clone()),
        Block::Field("Controller".into(), doc.controller.name.clone()),
        Block::Field("Data protection officer".into(), dpo_line.clone()),
        Block::Field(
            "Jurisdiction".into(),
            format!("{} ({}), {}", doc.authority, doc.jurisdiction.as_str(), profile.law),
        ),
        Block::Field("Generated".into(), doc.generated_at.clone()),
        Block::Field("Format".into(), doc.format.clone()),
        // 1. The record.
        Block::Heading(HEADING_RECORD.into()),
        Block::Sub("Facts".into()),
        Block::Field("What happened".into(), or(&f.description, "(not yet described)").into()),
        Block::Field("Cause".into(), f.cause.describe().into()),
        Block::Field("Nature".into(), natures.join(", ")),
        Block::Field(
            "Message".into(),
            format!(
                "{} (state {}, {} recipient(s), pre-send checks: {})",
                doc.message.id,
                or(&doc.message.state, "unknown"),
                doc.message.recipients,
                opt(&doc.message.checks_decision, "none")
            ),
        ),
        Block::Field("Occurred (message sent)".into(), opt(&doc.message.sent_at, "unknown")),
        Block::Field(
            "Detected".into(),
            format!(
                "{} (trigger {}, opened by {})",
                doc.detected_at, doc.trigger, doc.opened_by
            ),
        ),
        Block::Field(
            "Became aware".into(),
            match &doc.aware_reason {
                Some(r) if !r.trim().is_empty() => format!("{} (reason: {r})", doc.aware_at),
                _ => doc.aware_at.clone(),
            },
        ),
        Block::Field("Message revoked".into(), opt(&doc.message.revoked_at, "not revoked")),
        Block::Field("Recipients and exposure".into(), String::new()),
    ];
    let exposures: Vec<String> = doc
        .exposures
        .iter()
        .map(|e| {
            let mut s = format!(
                "{} ({}): {}",
                e.label,
                if e.wrong {
                    "wrong recipient"
                } else {
                    "intended recipient"
                },
                e.state.describe()
            );
            if let Some(at) = &e.first_release_at {
                s.push_str(&format!(
                    "; first key release {at} after {} verification; {} release(s)",
                    e.first_release_verification.map_or("unknown", |v| v.describe()),
                    e.releases
                ));
            }
            match &e.revoked_at {
                Some(at) => s.push_str(&format!("; revoked {at}")),
                None => s.push_str("; not revoked"),
            }
            if e.revoked_before_release {
                s.push_str("; revoked before any release");
            }
            s
        })
        .collect();
    b.push(list_or(&exposures, "no recipient evidence"));
    b.push(Block::Para(statement.into()));
    b.push(Block::Sub("Effects".into()));
    b.push(Block::Field(
        "Data categories".into(),
        format!("source: {}", opt(&f.categories_source, "not stated")),
    ));
    b.push(list_or(&cats, "not yet known"));
    b.push(Block::Field(
        "Categories of people".into(),
        if f.subject_categories.is_empty() {
            "not yet known".into()
        } else {
            f.subject_categories.join(", ")
        },
    ));
    b.push(Block::Field(
        "Vulnerable people".into(),
        if f.vulnerable { "yes" } else { "no" }.into(),
    ));
    b.push(Block::Field(
        "People affected (approx.)".into(),
        count(f.approx_subjects),
    ));
    b.push(Block::Field(
        "Records affected (approx.)".into(),
        count(f.approx_records),
    ));
    b.push(Block::Field(
        "Likely consequences".into(),
        or(&f.likely_consequences, "not yet assessed").into(),
    ));
    b.push(Block::Sub("Remedial action".into()));
    b.push(Block::Field("Measures taken".into(), String::new()));
    b.push(list_or(&f.measures_taken, "none recorded"));
    b.push(Block::Field("Measures proposed".into(), String::new()));
    b.push(list_or(&f.measures_proposed, "none recorded"));
    b.push(Block::Field(
        "Lessons learned".into(),
        or(&f.lessons_learned, "not yet recorded").into(),
    ));
    b.push(Block::Sub("Assessment".into()));
    let e = &doc.enisa;
    b.push(Block::Field(
        "ENISA severity".into(),
        format!(
            "SE = DPC x EI + CB = {} x {:.2} + {:.2} = {:.2}, band {}{}",
            e.dpc,
            e.ei_value,
            e.cb_value,
            e.score,
            e.band.describe(),
            if e.overridden {
                " (inputs overridden by the DPO)"
            } else {
                " (prefilled)"
            }
        ),
    ));
    b.push(Block::Field("DPC basis".into(), e.dpc_basis.clone()));
    b.push(Block::Field(
        "Ease of identification".into(),
        format!("{} ({:.2})", e.ei.as_str(), e.ei_value),
    ));
    b.push(Block::Field(
        "Circumstances".into(),
        format!(
            "confidentiality {}, integrity {}, availability {}, malicious intent {}",
            e.cb.confidentiality.as_str(),
            e.cb.integrity.as_str(),
            e.cb.availability.as_str(),
            if e.cb.malicious { "yes" } else { "no" }
        ),
    ));
    let s = &doc.suggestion;
    b.push(Block::Field(
        "Likelihood (from the access proof)".into(),
        s.likelihood.as_str().into(),
    ));
    b.push(Block::Field(
        "Suggested outcome".into(),
        format!("{}: {}", s.outcome.as_str(), s.outcome.describe()),
    ));
    b.push(Block::Field("Reasons".into(), String::new()));
    b.push(Block::List(s.reasons.clone()));
    if let Some(x) = &s.art34_exception {
        b.push(Block::Field("Art. 34(3) exception".into(), x.clone()));
    }
    b.push(Block::Field(
        "DPO decision".into(),
        match &doc.decision {
            None => "not yet decided".into(),
            Some(d) => format!(
                "{} ({}), by {} at {}. Reason: {}",
                d.outcome.as_str(),
                if d.confirmed {
                    "confirms the suggestion"
                } else {
                    "overrides the suggestion"
                },
                d.decided_by,
                d.decided_at,
                d.reason
            ),
        },
    ));
    b.push(Block::Sub("Deadline".into()));
    b.push(Block::Field(
        "Deadline".into(),
        format!(
            "{} ({} clock hours after awareness at {}, nights and weekends included)",
            doc.deadline_at, doc.deadline_hours, doc.aware_at
        ),
    ));
    b.push(Block::Field(
        "Authority".into(),
        format!("{}, through the {}", doc.authority, profile.channel),
    ));
    b.push(Block::Sub("Notifications made".into()));
    let notes: Vec<String> = doc
        .notifications
        .iter()
        .map(|n| {
            format!(
                "{} to the {}, phase {}, reference {}{}: {}{}",
                n.at,
                n.to,
                n.phase,
                n.reference.as_deref().unwrap_or("none"),
                if n.late { " (after the deadline)" } else { "" },
                n.summary,
                n.delay_reason
                    .as_deref()
                    .map(|r| format!(" Reasons for the delay: {r}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    b.push(list_or(&notes, "none"));
    b.push(Block::Sub("Updates".into()));
    let updates: Vec<String> = doc
        .updates
        .iter()
        .map(|u| {
            let changes = if u.changes.is_null() {
                String::new()
            } else {
                format!(" Changes: {}", serde_json::to_string(&u.changes).unwrap_or_default())
            };
            format!(
                "#{} {} {} by {}{}{}",
                u.seq,
                u.at,
                u.kind,
                u.actor,
                u.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default(),
                changes
            )
        })
        .collect();
    b.push(list_or(&updates, "none"));

    // 2. The draft notification, Art. 33(3).
    let phase = doc.notifications.iter().filter(|n| n.to == "authority").count() + 1;
    b.push(Block::Heading(heading_notification(&doc.authority)));
    b.push(Block::Para(format!(
        "Send through the {}. Describe the data; do not include the personal data itself. {}",
        profile.channel, profile.phased_reporting
    )));
    b.push(Block::Field("Channel".into(), profile.channel.into()));
    b.push(Block::Field(
        "Phase".into(),
        if phase == 1 {
            "1 (initial notification; further information may follow in phases, Art. 33(4))".into()
        } else {
            format!("{phase} (additional information, Art. 33(4))")
        },
    ));
    b.push(Block::Field("Controller".into(), doc.controller.name.clone()));
    b.push(Block::Field(
        "(a) Nature of the breach".into(),
        format!(
            "{}; {} breach. {} Became aware {}; detected {}. {}",
            f.cause.describe(),
            natures.join(", "),
            or(&f.description, "(not yet described)"),
            doc.aware_at,
            doc.detected_at,
            statement
        ),
    ));
    b.push(Block::Field(
        "(a) Categories of data subjects".into(),
        if f.subject_categories.is_empty() {
            "not yet known".into()
        } else {
            f.subject_categories.join(", ")
        },
    ));
    b.push(Block::Field(
        "(a) Approximate number of data subjects".into(),
        count(f.approx_subjects),
    ));
    b.push(Block::Field(
        "(a) Categories of personal data records".into(),
        if cats.is_empty() {
            "not yet known".into()
        } else {
            cats.join("; ")
        },
    ));
    b.push(Block::Field(
        "(a) Approximate number of personal data records".into(),
        count(f.approx_records),
    ));
    b.push(Block::Field(
        "(b) Data protection officer or other contact point".into(),
        dpo_line.clone(),
    ));
    b.push(Block::Field(
        "(c) Likely consequences".into(),
        or(&f.likely_consequences, "not yet assessed").into(),
    ));
    let mut measures: Vec<String> = f.measures_taken.iter().map(|m| format!("Taken: {m}")).collect();
    measures.extend(f.measures_proposed.iter().map(|m| format!("Proposed: {m}")));
    b.push(Block::Field("(d) Measures taken or proposed".into(), String::new()));
    b.push(list_or(&measures, "none recorded yet"));
    b.push(Block::Field("Deadline".into(), doc.deadline_at.clone()));
    if late(doc) {
        let reason = doc
            .notifications
            .iter()
            .find(|n| n.to == "authority")
            .and_then(|n| n.delay_reason.clone())
            .unwrap_or_else(|| "[to be completed: this notification is made after the deadline]".into());
        b.push(Block::Field("Reasons for the delay (Art. 33(1))".into(), reason));
    }

    // 3. The letter, Art. 34(2).
    b.push(Block::Heading(HEADING_LETTER.into()));
    letter_en(doc, &mut b, &dpo_line);
    if doc.jurisdiction == Jurisdiction::Nl {
        b.push(Block::Heading(HEADING_LETTER_NL.into()));
        letter_nl(doc, &mut b, &dpo_line);
    }

    // The receipt.
    b.push(Block::Heading(HEADING_RECEIPT.into()));
    b.push(Block::Para(format!(
        "The signed receipt of message {} from the transparency log: it shows every key release and the revocation. Save it as receipt.json and check it with: sealpost verify receipt.json",
        doc.message.id
    )));
    b.push(Block::Field("SHA-256 of receipt.json".into(), receipt_sha256(doc)));
    b.push(Block::Pre(String::from_utf8_lossy(&receipt_bytes(doc)).into_owned()));
    b
}

fn advice(cats: &[DataCategory]) -> Vec<String> {
    let mut v = vec![
        "Be careful with unexpected emails, calls or letters that mention this incident or ask for personal details; we will never ask for passwords or codes.".to_owned(),
    ];
    if cats.contains(&DataCategory::Financial) {
        v.push("Check your bank and card statements and tell your bank about anything unusual.".into());
    }
    if cats
        .iter()
        .any(|c| matches!(c, DataCategory::NationalId | DataCategory::Identifier))
    {
        v.push("Watch for signs of identity fraud, such as post about accounts you did not open.".into());
    }
    if cats.iter().any(|c| c.is_special()) {
        v.push("If you are worried about who may know about your health or other sensitive matters, contact us and we will talk it through with you.".into());
    }
    v.push("You can complain to the supervisory authority if you are unhappy with how we handled your data.".into());
    v
}

fn letter_en(doc: &IncidentDocument, b: &mut Vec<Block>, dpo_line: &str) {
    let f = &doc.facts;
    let cats = categories_text(doc);
    if doc.suggestion.outcome != Outcome::NotifyAuthorityAndIndividuals {
        b.push(Block::Para(
            "Note for the DPO: informing the people affected is required only when the breach is likely to result in a high risk to them (Art. 34(1)); the current suggestion does not require it. Keep this draft with the record.".into(),
        ));
    }
    b.push(Block::Para("Dear [name],".into()));
    let what = match f.cause {
        Cause::WrongRecipient => "a secure message containing information about you was sent to the wrong person",
        Cause::VisibleRecipients => {
            "a message was sent to a group of people in a way that let each recipient see who else received it"
        }
        Cause::WrongAttachment => {
            "a secure message included an attachment with information about you that was meant for someone else"
        }
        Cause::Other => "an incident affected information we hold about you",
    };
    b.push(Block::Sub("What happened".into()));
    b.push(Block::Para(format!(
        "We are writing to tell you that {what}. We found out on {}. {}",
        doc.aware_at,
        or(&f.description, "")
    )));
    b.push(Block::Sub("What information was involved".into()));
    b.push(list_or(
        &cats,
        "We are still establishing which information was involved.",
    ));
    b.push(Block::Sub("What this may mean for you".into()));
    let meaning = if doc.never_accessed {
        "The message was protected by encryption and we withdrew access before it was opened, so the person who received it by mistake could not read it."
            .to_owned()
    } else {
        or(
            &f.likely_consequences,
            "The person who received the information may have read it. We are assessing what this could mean for you.",
        )
        .to_owned()
    };
    b.push(Block::Para(meaning));
    b.push(Block::Sub("What we have done".into()));
    let mut done = f.measures_taken.clone();
    done.extend(f.measures_proposed.iter().map(|m| format!("We will: {m}")));
    b.push(list_or(&done, "We withdrew access to the message as soon as we knew."));
    b.push(Block::Sub("What you can do".into()));
    let mut sorted = f.data_categories.clone();
    sorted.sort();
    sorted.dedup();
    b.push(Block::List(advice(&sorted)));
    b.push(Block::Sub("Who to contact".into()));
    b.push(Block::Para(format!(
        "Our data protection officer can answer your questions: {dpo_line}. We are sorry this happened. {}",
        doc.controller.name
    )));
}

fn letter_nl(doc: &IncidentDocument, b: &mut Vec<Block>, dpo_line: &str) {
    let f = &doc.facts;
    b.push(Block::Para("Beste [naam],".into()));
    let what = match f.cause {
        Cause::WrongRecipient => "een beveiligd bericht met gegevens over u naar de verkeerde persoon is gestuurd",
        Cause::VisibleRecipients => {
            "een bericht zo naar een groep mensen is gestuurd dat iedere ontvanger kon zien wie het nog meer kreeg"
        }
        Cause::WrongAttachment => {
            "een beveiligd bericht een bijlage met gegevens over u bevatte die voor iemand anders bedoeld was"
        }
        Cause::Other => "er een incident is geweest met gegevens die wij over u bewaren",
    };
    b.push(Block::Sub("Wat is er gebeurd".into()));
    b.push(Block::Para(format!(
        "Wij laten u weten dat {what}. Wij ontdekten dit op {}.",
        doc.aware_at
    )));
    b.push(Block::Sub("Om welke gegevens gaat het".into()));
    let cats: Vec<String> = f
        .data_categories
        .iter()
        .map(|c| {
            match c {
                DataCategory::Contact => "contactgegevens (naam, adres, e-mail, telefoon, postcode)",
                DataCategory::Identifier => "identificerende gegevens (geboortedatum, paspoortnummer)",
                DataCategory::NationalId => "een nationaal identificatienummer (zoals het BSN)",
                DataCategory::Behavioural => "gegevens over gedrag of locatie",
                DataCategory::Financial => "financiele gegevens (rekening- of kaartnummer)",
                DataCategory::Health => "gezondheidsgegevens (bijzonder persoonsgegeven)",
                DataCategory::SpecialCategory => "andere bijzondere persoonsgegevens",
                DataCategory::Criminal => "strafrechtelijke gegevens",
            }
            .to_owned()
        })
        .collect();
    b.push(list_or(&cats, "Wij zoeken nog uit om welke gegevens het gaat."));
    b.push(Block::Sub("Wat betekent dit voor u".into()));
    b.push(Block::Para(if doc.never_accessed {
        "Het bericht was versleuteld en wij hebben de toegang ingetrokken voordat het werd geopend; de verkeerde ontvanger kon het dus niet lezen.".into()
    } else {
        "De verkeerde ontvanger heeft de gegevens mogelijk gelezen. Wij onderzoeken wat dit voor u kan betekenen.".into()
    }));
    b.push(Block::Sub("Wat hebben wij gedaan".into()));
    b.push(list_or(
        &f.measures_taken,
        "Wij hebben de toegang tot het bericht ingetrokken zodra wij het wisten.",
    ));
    b.push(Block::Sub("Wat kunt u doen".into()));
    b.push(Block::List(vec![
        "Wees alert op onverwachte e-mails, telefoontjes of brieven die naar dit incident verwijzen of om gegevens vragen.".into(),
        "U kunt een klacht indienen bij de Autoriteit Persoonsgegevens.".into(),
    ]));
    b.push(Block::Sub("Contact".into()));
    b.push(Block::Para(format!(
        "Onze functionaris gegevensbescherming beantwoordt graag uw vragen: {dpo_line}. Het spijt ons dat dit is gebeurd. {}",
        doc.controller.name
    )));
}
