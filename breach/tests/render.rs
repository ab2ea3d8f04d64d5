//! Every export carries the headings, the Art. 33(3) fields, the deadline, the never-accessed
//! statement and the receipt.

use lopdf::{Document, Object};
use sealpost_breach::*;
use serde_json::json;

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const HOUR: i64 = 3_600_000;

fn evidence(rid: &str, wrong: bool, released: Option<i64>, revoked: Option<i64>) -> RecipientEvidence {
    RecipientEvidence {
        rid: rid.into(),
        label: if wrong {
            "•••• 0123".into()
        } else {
            format!("{rid}@example.org")
        },
        wrong,
        releases: released
            .map(|at| Release {
                at,
                verification: Verification::Sms,
                log_index: Some(42),
            })
            .into_iter()
            .collect(),
        revoked_at: revoked,
        log_complete: true,
    }
}

/// A document as the server would build it.
fn document(
    jurisdiction: Jurisdiction,
    facts: Facts,
    evidence: &[RecipientEvidence],
    generated: i64,
) -> IncidentDocument {
    let exposures: Vec<Exposure> = evidence.iter().map(exposure).collect();
    let (enisa, overridden, suggestion) = assess(&facts, &exposures);
    let profile = jurisdiction.profile();
    IncidentDocument {
        format: "sealpost/incident/v1".into(),
        incident_id: "inc_01J9ZK".into(),
        controller: Controller {
            name: "Anytown Clinic".into(),
            dpo: Contact {
                name: "Dana Pryce".into(),
                email: "dpo@anytown.example".into(),
                phone: Some("+44 20 7946 0000".into()),
            },
        },
        jurisdiction,
        authority: profile.authority.into(),
        deadline_hours: profile.deadline_hours,
        message: MessageSummary {
            id: "msg_7Q2".into(),
            sent_at: Some(rfc3339(T0 - HOUR)),
            state: "revoked".into(),
            recipients: u32::try_from(evidence.len()).unwrap(),
            revoked_at: Some(rfc3339(T0)),
            checks_decision: Some("warned".into()),
        },
        trigger: "revoked_sent_in_error".into(),
        opened_by: "user:alice".into(),
        detected_at: rfc3339(T0),
        aware_at: rfc3339(T0),
        aware_reason: None,
        deadline_at: rfc3339(T0 + 72 * HOUR),
        never_accessed: never_accessed(&facts, &exposures),
        facts,
        exposures: exposures.iter().map(Exposure::view).collect(),
        enisa: enisa.view(overridden),
        suggestion,
        decision: None,
        notifications: vec![],
        updates: vec![UpdateRecord {
            seq: 1,
            at: rfc3339(T0),
            actor: "user:alice".into(),
            kind: "incident.opened".into(),
            note: Some("opened on revoke".into()),
            changes: json!({"approx_subjects": 1}),
        }],
        receipt: Receipt::from_text(&receipt_text()).unwrap(),
        generated_at: rfc3339(generated),
    }
}

/// An issued receipt's text: keys in the issuer's order (not sorted), a final newline.
fn receipt_text() -> String {
    let v = json!({
        "format": "sealpost/receipt/v1",
        "message_id": "msg_7Q2",
        "events": [{"kind": "share.released", "index": 42}, {"kind": "message.revoked"}],
        "note": "</script><script>alert(1)</script>",
        "signature": "a".repeat(300),
    });
    // Built by hand so that the key order is the issuer's, whatever serde_json's map order is.
    let events = serde_json::to_string_pretty(&v["events"])
        .unwrap()
        .replace('\n', "\n  ");
    format!(
        "{{\n  \"format\": \"sealpost/receipt/v1\",\n  \"message_id\": \"msg_7Q2\",\n  \"events\": {events},\n  \
         \"note\": {},\n  \"signature\": \"{}\"\n}}\n",
        serde_json::to_string(&v["note"]).unwrap(),
        "a".repeat(300)
    )
}

fn health_facts() -> Facts {
    Facts {
        description: "Letter with <script>alert('x')</script> sent to the wrong patient.".into(),
        wrong_recipients: vec!["r2".into()],
        data_categories: vec![DataCategory::Health, DataCategory::NationalId],
        categories_source: Some("pre_send_checks".into()),
        subject_categories: vec!["patients".into()],
        vulnerable: true,
        approx_subjects: Some(1),
        approx_records: Some(2),
        likely_consequences: "Distress; disclosure of a diagnosis to a neighbour.".into(),
        measures_taken: vec!["Access revoked at 10:00".into()],
        measures_proposed: vec!["Address check before sending".into()],
        lessons_learned: "Use the address book.".into(),
        ..Default::default()
    }
}

fn never_opened() -> IncidentDocument {
    document(
        Jurisdiction::Uk,
        health_facts(),
        &[
            evidence("r1", false, Some(T0 - HOUR / 2), None),
            evidence("r2", true, None, Some(T0)),
        ],
        T0 + HOUR,
    )
}

fn opened() -> IncidentDocument {
    document(
        Jurisdiction::Uk,
        health_facts(),
        &[evidence("r2", true, Some(T0 - HOUR / 2), Some(T0))],
        T0 + HOUR,
    )
}

const AUTHORITY_HEADING: &str = "Draft notification to the Information Commissioner's Office (ICO)";

/// Strings every textual export must contain.
fn required(doc: &IncidentDocument) -> Vec<String> {
    let mut v: Vec<String> = [
        HEADING_RECORD,
        HEADING_LETTER,
        HEADING_RECEIPT,
        "(a) Nature of the breach",
        "(a) Categories of data subjects",
        "(a) Approximate number of data subjects",
        "(a) Categories of personal data records",
        "(a) Approximate number of personal data records",
        "(b) Data protection officer",
        "(c) Likely consequences",
        "(d) Measures taken or proposed",
        "Dana Pryce",
        "dpo@anytown.example",
        "Access revoked at 10:00",
        "Address check before sending",
        "Distress",
        "2026-11-26T10:00:00Z", // deadline
        "2026-11-23T10:00:00Z", // aware
        "sealpost verify receipt.json",
        "not yet decided",
        "incident.opened",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.push(heading_notification(&doc.authority));
    v.push(doc.authority.clone());
    v.push(doc.jurisdiction.profile().channel.to_owned());
    v.push(doc.suggestion.outcome.as_str().to_owned());
    v.push(receipt_sha256(doc));
    v
}

#[test]
fn markdown_has_headings_and_fields() {
    for doc in [never_opened(), opened()] {
        let md = render_markdown(&doc);
        assert!(md.contains(&format!("## {HEADING_RECORD}")), "{md}");
        assert!(md.contains(&format!("## {AUTHORITY_HEADING}")));
        assert!(md.contains(&format!("## {HEADING_LETTER}")));
        for s in required(&doc) {
            assert!(md.contains(&s), "markdown lacks {s:?}");
        }
        // User text is escaped; the receipt's own "<script>" only appears inside the code fence.
        assert!(md.contains("&lt;script&gt;alert('x')&lt;/script&gt;"));
        assert!(!md.contains("<script>alert('x')"), "raw HTML in markdown");
    }
    let md = render_markdown(&never_opened());
    assert!(md.contains(NEVER_ACCESSED));
    assert!(md.contains("record_only"));
    let md = render_markdown(&opened());
    assert!(md.contains(ACCESSED));
    assert!(!md.contains(NEVER_ACCESSED));
    assert!(md.contains("notify_authority"));
}

#[test]
fn json_is_the_document() {
    let doc = opened();
    let text = render_json(&doc);
    let back: IncidentDocument = serde_json::from_str(&text).unwrap();
    assert_eq!(back, doc);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["deadline_at"], "2026-11-26T10:00:00Z");
    assert_eq!(v["facts"]["cause"], "wrong_recipient");
    assert_eq!(v["suggestion"]["outcome"], "notify_authority");
    assert_eq!(v["enisa"]["band"], "very_high");
    assert_eq!(v["exposures"][0]["state"], "accessed_verified");
    assert_eq!(v["exposures"][0]["first_release_verification"], "sms");
    assert_eq!(v["never_accessed"], false);
    assert_eq!(v["receipt"]["message_id"], "msg_7Q2");
}

#[test]
fn html_is_escaped_and_self_contained() {
    let doc = never_opened();
    let html = render_html(&doc);
    for s in required(&doc) {
        let escaped = s.replace('&', "&amp;").replace('\'', "&#39;").replace('<', "&lt;");
        assert!(html.contains(&escaped), "html lacks {s:?}");
    }
    assert!(html.contains(NEVER_ACCESSED));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));
    // The only script element is the JSON data block, whose payload cannot close it.
    assert_eq!(html.matches("<script").count(), 1);
    assert_eq!(html.matches("</script>").count(), 1);
    assert!(html.contains("<script type=\"application/json\" id=\"sealpost-receipt\">"));
    let start = html.find("id=\"sealpost-receipt\">").unwrap() + "id=\"sealpost-receipt\">".len();
    let end = html.rfind("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(data, doc.receipt.value());
    assert!(html.contains("<pre id=\"receipt\">"));
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
    for external in ["http://", "https://", "src=", "<link", "@import"] {
        assert!(!html.contains(external), "external resource {external}");
    }
}

fn embedded_receipt(pdf: &Document) -> Vec<u8> {
    let catalog = pdf.catalog().unwrap();
    let names = catalog.get(b"Names").unwrap().as_dict().unwrap();
    let files = names.get(b"EmbeddedFiles").unwrap().as_dict().unwrap();
    let arr = files.get(b"Names").unwrap().as_array().unwrap();
    assert_eq!(arr[0].as_str().unwrap(), b"receipt.json");
    let spec = pdf.get_dictionary(arr[1].as_reference().unwrap()).unwrap();
    let af = catalog.get(b"AF").unwrap().as_array().unwrap();
    assert_eq!(af[0], arr[1]);
    let ef = spec.get(b"EF").unwrap().as_dict().unwrap();
    let stream = pdf
        .get_object(ef.get(b"F").unwrap().as_reference().unwrap())
        .unwrap()
        .as_stream()
        .unwrap();
    match stream.dict.get(b"Type").unwrap() {
        Object::Name(n) => assert_eq!(n, b"EmbeddedFile"),
        other => panic!("{other:?}"),
    }
    stream.decompressed_content().unwrap_or_else(|_| stream.content.clone())
}

fn pdf_text(pdf: &Document) -> String {
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    pdf.extract_text(&pages).unwrap()
}

#[test]
fn pdf_parses_with_receipt_attached_and_headings() {
    let doc = opened();
    let bytes = render_pdf(&doc);
    assert!(bytes.starts_with(b"%PDF-1.7"));
    let pdf = Document::load_mem(&bytes).unwrap();
    assert!(pdf.get_pages().len() >= 2, "several pages expected");
    assert_eq!(embedded_receipt(&pdf), receipt_bytes(&doc));
    // Byte for byte the issued text: the canonical form `sealpost verify` insists on.
    assert_eq!(receipt_bytes(&doc), receipt_text().into_bytes());
    let text = pdf_text(&pdf);
    for s in [
        HEADING_RECORD,
        AUTHORITY_HEADING,
        HEADING_LETTER,
        HEADING_RECEIPT,
        ACCESSED,
        "(a) Nature of the breach",
        "(b) Data protection officer or other contact point",
        "(c) Likely consequences",
        "(d) Measures taken or proposed",
        "2026-11-26T10:00:00Z",
        "ICO personal data breach report form (online)",
        "sealpost verify receipt.json",
    ] {
        let flat = text.replace('\n', " ");
        assert!(flat.contains(s), "pdf text lacks {s:?}");
    }
    assert!(text.contains(&receipt_sha256(&doc)));
    // The masked phone's bullets fall back to ASCII.
    assert!(text.contains("**** 0123"));
}

#[test]
fn pdf_never_accessed_statement() {
    let doc = never_opened();
    let pdf = Document::load_mem(&render_pdf(&doc)).unwrap();
    let text = pdf_text(&pdf).replace('\n', " ");
    assert!(text.contains("No wrong recipient ever received the key"), "{text}");
}

#[test]
fn nl_has_the_ap_and_a_dutch_letter() {
    let doc = document(
        Jurisdiction::Nl,
        health_facts(),
        &[evidence("r2", true, None, Some(T0))],
        T0 + HOUR,
    );
    for out in [render_markdown(&doc), render_html(&doc)] {
        assert!(out.contains("Draft notification to the Autoriteit Persoonsgegevens (AP)"));
        assert!(out.contains("Meldformulier datalekken"));
        assert!(out.contains(HEADING_LETTER));
        assert!(out.contains(HEADING_LETTER_NL));
    }
    let uk = render_markdown(&never_opened());
    assert!(!uk.contains(HEADING_LETTER_NL));
    let pdf = Document::load_mem(&render_pdf(&doc)).unwrap();
    assert!(pdf_text(&pdf).contains(HEADING_LETTER_NL));
}

#[test]
fn delay_reason_field_only_after_the_deadline() {
    let on_time = opened();
    assert!(!render_markdown(&on_time).contains("Reasons for the delay (Art. 33(1))"));
    let mut late = document(
        Jurisdiction::Uk,
        health_facts(),
        &[evidence("r2", true, Some(T0 - HOUR / 2), Some(T0))],
        T0 + 80 * HOUR,
    );
    assert!(render_markdown(&late).contains("Reasons for the delay (Art. 33(1))"));
    late.notifications.push(NotificationRecord {
        to: "authority".into(),
        at: rfc3339(T0 + 79 * HOUR),
        reference: Some("ICO-123".into()),
        phase: 1,
        summary: "initial report".into(),
        late: true,
        delay_reason: Some("the DPO was unreachable over the weekend".into()),
    });
    let md = render_markdown(&late);
    assert!(md.contains("Reasons for the delay (Art. 33(1)):** the DPO was unreachable"));
    assert!(md.contains("ICO-123"));
    assert!(md.contains("2 (additional information, Art. 33(4))"));
}

#[test]
fn decision_is_shown() {
    let mut doc = opened();
    doc.decision = Some(Decision {
        outcome: Outcome::NotifyAuthority,
        confirmed: true,
        reason: "Confirmed after review with the caldicott guardian.".into(),
        decided_by: "user:dpo".into(),
        decided_at: rfc3339(T0 + 2 * HOUR),
    });
    let md = render_markdown(&doc);
    assert!(!md.contains("not yet decided"));
    assert!(md.contains("confirms the suggestion"));
    assert!(md.contains("caldicott guardian"));
}
