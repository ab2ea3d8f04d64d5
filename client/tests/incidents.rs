//! `sealpost incident …` and `sealpost revoke --sent-in-error` end to end against a real server:
//! a sender revokes a message that went to the wrong guest, the organisation's DPO reads the
//! register with its countdown, sets awareness, adds an update, decides (confirming, then
//! overriding, the suggestion), records a late notification, exports all four formats (the
//! JSON export's receipt verifies with `sealpost verify`) and closes the incident; the sender
//! cannot read the register; bad input is one sentence and a non-zero exit.

mod support;

use sealpost_client::incidents::{human_time, receipt_of_json_export};
use sealpost_server::clock::{Clock as _, to_rfc3339};
use sealpost_server::domain::{Role, Scope};
use serde_json::Value;
use support::{PHONE, Run, Server, User};

const HOUR_MS: i64 = 3_600_000;
const RECORD_HEADING: &str = "Record of a personal data breach (Art. 33(5))";

/// Exactly one line on standard error, `sealpost: …`, and nothing on standard output.
fn one_sentence(run: &Run, code: i32, starts: &str) {
    assert_eq!(run.code, code, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "one sentence: {run}");
    assert!(run.stderr.starts_with(&format!("sealpost: {starts}")), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
}

async fn send_to_guest(user: &User, body: &str) -> String {
    let sent = user
        .json(&["send", "--to", "wrong@example.org", "--sms", PHONE, "--body", body])
        .await;
    sent["message_id"].as_str().expect("message id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_revoked_as_sent_in_error_goes_through_the_register() {
    let server = Server::start(|_| {}).await;
    // Whole seconds: the API's times have no fractions, so countdowns come out exact.
    server.clock.advance(1000 - server.clock.now_ms().rem_euclid(1000));
    let t0 = server.clock.now_ms();

    let alice = User::new();
    alice
        .setup(&server, &server.sender("alice@council.example").await)
        .await;
    let dpo_token = server
        .account_with(
            "council",
            "dpo@council.example",
            &[Role::Dpo],
            &[Scope::Incidents, Scope::Read],
        )
        .await;
    let dpo = User::new();
    dpo.ok(&["init", "--server", &server.base, "--token", &dpo_token]).await;

    // The DPO's settings first: the documents name the controller.
    let run = dpo
        .ok(&[
            "incident",
            "settings",
            "--controller",
            "Anytown Council",
            "--dpo-name",
            "Dee Poe",
            "--dpo-email",
            "dpo@council.example",
            "--reminder-hours",
            "24,48",
            "--reminder-email",
            "dpo@council.example",
        ])
        .await;
    assert!(run.stdout.contains("Controller:   Anytown Council\n"), "{run}");
    assert!(run.stdout.contains("Reminders:    24, 48 h after awareness\n"), "{run}");
    let settings = dpo.json(&["incident", "settings"]).await;
    assert_eq!(settings["jurisdiction"], "uk", "{settings}");
    assert_eq!(settings["dpo"]["name"], "Dee Poe", "{settings}");
    assert_eq!(settings["reminder_emails"], serde_json::json!(["dpo@council.example"]));
    let run = dpo.run(&["incident", "settings", "--reminder-hours", "24h"]).await;
    one_sentence(&run, 3, "\"24h\" is not a list of hours");
    let run = dpo.run(&["incident", "settings", "--reminder-hours", "80"]).await;
    one_sentence(&run, 10, "reminder_hours must be between 1 and 72");

    // The sender revokes: the message went to the wrong person.
    let id = send_to_guest(&alice, "Your test results are attached.").await;
    let run = alice.ok(&["revoke", &id, "--sent-in-error"]).await;
    assert!(
        run.stdout.starts_with(&format!(
            "Message {id} is revoked: nobody can open it any more.\nOpened incident "
        )),
        "{run}"
    );
    let incident = run
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("Opened incident "))
        .and_then(|l| l.split(' ').next())
        .expect("the incident id")
        .to_owned();
    let status = alice.json(&["status", &id]).await;
    assert_eq!(status["state"], "revoked", "{status}");

    // The register: one open incident, nothing ever released, a record suggested.
    let list = dpo.json(&["incident", "list"]).await;
    let items = list["incidents"].as_array().expect("incidents");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], incident.as_str());
    assert_eq!(items[0]["message_id"], id.as_str());
    assert_eq!(items[0]["state"], "open");
    assert_eq!(items[0]["cause"], "wrong_recipient");
    assert_eq!(items[0]["suggested_outcome"], "record_only");
    assert_eq!(items[0]["remaining_seconds"], 72 * 3600);
    let run = dpo.ok(&["incident", "list"]).await;
    assert!(run.stdout.starts_with("ID "), "{run}");
    assert!(
        run.stdout.contains(&incident) && run.stdout.contains("72 h 0 min left"),
        "{run}"
    );
    let run = dpo.ok(&["incident", "list", "--state", "closed"]).await;
    assert_eq!(run.stdout, "No incidents.\n");

    let deadline = human_time(&to_rfc3339(t0 + 72 * HOUR_MS));
    let run = dpo.ok(&["incident", "show", &incident]).await;
    let out = &run.stdout;
    assert!(
        out.starts_with(&format!("Incident {incident}: open (wrong recipient)\n")),
        "{run}"
    );
    assert!(
        out.contains(&format!("  Deadline {deadline} (ICO): 72 h 0 min left\n")),
        "{run}"
    );
    assert!(
        out.contains("[wrong]: never received the key (revoked before any release)\n"),
        "{run}"
    );
    assert!(
        out.contains("  Never accessed: no wrong recipient ever received the key"),
        "{run}"
    );
    assert!(
        out.contains("  Likelihood: remote\n  Suggested: record only\n"),
        "{run}"
    );
    assert!(out.contains("  Decision: not yet decided\n"), "{run}");
    let shown = dpo.json(&["incident", "show", &incident]).await;
    assert_eq!(shown["never_accessed"], true, "{shown}");
    assert_eq!(shown["exposures"][0]["wrong"], true, "{shown}");
    assert_eq!(shown["exposures"][0]["state"], "delivered_no_access", "{shown}");
    assert_eq!(shown["controller"]["name"], "Anytown Council", "{shown}");

    // Phased reporting and awareness.
    let run = dpo
        .ok(&[
            "incident",
            "update",
            &incident,
            "--note",
            "The recipient confirmed deletion by phone",
            "--subjects",
            "1",
            "--measure",
            "Message revoked",
            "--measure",
            "Recipient asked to delete the notification",
        ])
        .await;
    assert_eq!(run.stdout, format!("Added the update to incident {incident}.\n"));
    server.clock.advance(2 * HOUR_MS);
    let aware = to_rfc3339(t0 + HOUR_MS);
    let run = dpo
        .ok(&[
            "incident",
            "aware",
            &incident,
            "--at",
            &aware,
            "--reason",
            "The sender told the DPO an hour later",
        ])
        .await;
    let deadline = human_time(&to_rfc3339(t0 + 73 * HOUR_MS));
    assert_eq!(
        run.stdout,
        format!(
            "Incident {incident}: aware since {}.\n  Deadline {deadline} (ICO): 71 h 0 min left\n",
            human_time(&aware)
        )
    );
    let shown = dpo.json(&["incident", "show", &incident]).await;
    assert_eq!(shown["facts"]["approx_subjects"], 1, "{shown}");
    assert_eq!(
        shown["facts"]["measures_taken"][1],
        "Recipient asked to delete the notification"
    );
    assert_eq!(shown["aware_reason"], "The sender told the DPO an hour later");

    // Bad decisions: refused before anything is sent.
    let run = dpo
        .run(&["incident", "decide", &incident, "--outcome", "maybe", "--reason", "x"])
        .await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .starts_with("error: invalid value 'maybe' for '--outcome <OUTCOME>'"),
        "{run}"
    );
    let run = dpo
        .run(&["incident", "decide", &incident, "--outcome", "record_only"])
        .await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("--reason <TEXT>"), "{run}");
    let run = dpo
        .run(&[
            "incident",
            "decide",
            &incident,
            "--outcome",
            "record_only",
            "--reason",
            "  ",
        ])
        .await;
    one_sentence(&run, 3, "the reason is empty: say it in a few words");

    // Confirm, then override: the later decision replaces the earlier, both are kept.
    let run = dpo
        .ok(&[
            "incident",
            "decide",
            &incident,
            "--outcome",
            "record_only",
            "--reason",
            "Never accessed: the receipt proves it.",
        ])
        .await;
    assert_eq!(
        run.stdout,
        format!("Decided incident {incident}: record_only, confirming the suggestion.\n")
    );
    let decided = dpo
        .json(&[
            "incident",
            "decide",
            &incident,
            "--outcome",
            "notify_authority",
            "--reason",
            "The board wants the ICO told anyway.",
        ])
        .await;
    assert_eq!(decided["decision"]["outcome"], "notify_authority", "{decided}");
    assert_eq!(decided["decision"]["confirmed"], false, "{decided}");
    assert_eq!(decided["decision"]["reason"], "The board wants the ICO told anyway.");
    assert_eq!(decided["state"], "decided");

    // Past the deadline: the first authority notification needs the reasons for the delay.
    server.clock.advance(78 * HOUR_MS);
    let run = dpo.ok(&["incident", "show", &incident]).await;
    assert!(
        run.stdout
            .contains(&format!("  Deadline {deadline} (ICO): overdue by 7 h 0 min\n")),
        "{run}"
    );
    let run = dpo
        .run(&[
            "incident",
            "notified",
            &incident,
            "--to",
            "authority",
            "--reference",
            "ICO-123",
        ])
        .await;
    assert_eq!(run.code, 10, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(run.stderr.contains("(delay_reason_required)"), "{run}");
    let run = dpo
        .ok(&[
            "incident",
            "notified",
            &incident,
            "--to",
            "authority",
            "--reference",
            "ICO-123",
            "--delay-reason",
            "The board decided after the deadline.",
        ])
        .await;
    assert_eq!(
        run.stdout,
        format!("Recorded the notification of the supervisory authority for incident {incident}.\n")
    );

    // Exports: every format saved owner-only under its default name, or --out.
    for format in ["md", "html", "pdf", "json"] {
        let run = dpo.ok(&["incident", "export", &incident, "--format", format]).await;
        let name = format!("incident-{incident}.{format}");
        assert!(
            run.stdout
                .starts_with(&format!("Saved incident {incident} as {name} (")),
            "{run}"
        );
        let path = dpo.path(&name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!bytes.is_empty(), "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        match format {
            "md" | "html" => {
                let text = String::from_utf8(bytes).expect("UTF-8");
                assert!(text.contains(RECORD_HEADING), "{name}");
                assert!(text.contains("Draft notification to the"), "{name}");
                assert!(text.contains("Draft letter to the people affected"), "{name}");
                assert!(text.contains("Anytown Council"), "{name}");
            }
            "pdf" => assert!(bytes.starts_with(b"%PDF-"), "{name}"),
            _ => {}
        }
    }
    let out = dpo.path("exports/record.json");
    let run = dpo
        .json(&[
            "incident",
            "export",
            &incident,
            "--format",
            "json",
            "--out",
            out.to_str().expect("path"),
        ])
        .await;
    assert_eq!(run["format"], "json");
    let bytes = std::fs::read(&out).expect("the JSON export");
    let document: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(document["format"], "sealpost/incident/v1", "{document}");
    assert_eq!(document["incident_id"], incident.as_str());
    assert_eq!(document["never_accessed"], true);
    assert_eq!(document["decision"]["confirmed"], false);
    assert_eq!(document["notifications"][0]["late"], true);
    assert_eq!(document["message"]["id"], id.as_str());
    std::fs::write(
        dpo.path("receipt.json"),
        receipt_of_json_export(&bytes).expect("receipt"),
    )
    .expect("write");
    let run = dpo.ok(&["verify", "receipt.json"]).await;
    assert!(run.stdout.starts_with("Receipt valid: signed by "), "{run}");
    assert!(run.stdout.contains("never released"), "{run}");

    // Closed: no more changes.
    let run = dpo
        .ok(&["incident", "close", &incident, "--reason", "Notified and documented."])
        .await;
    assert_eq!(run.stdout, format!("Closed incident {incident}.\n"));
    let run = dpo
        .run(&["incident", "notified", &incident, "--to", "individuals"])
        .await;
    one_sentence(&run, 10, "the incident is closed");
    let closed = dpo.json(&["incident", "list", "--state", "closed"]).await;
    assert_eq!(closed["incidents"][0]["id"], incident.as_str(), "{closed}");

    // The sender does not see the register: not found, not forbidden-with-details.
    let run = alice.run(&["incident", "show", &incident]).await;
    one_sentence(&run, 6, "not found");
    let run = alice.run(&["incident", "list"]).await;
    one_sentence(&run, 5, "the API token does not allow this");
    let run = alice.run(&["incident", "show", "not-an-id"]).await;
    one_sentence(&run, 3, "\"not-an-id\" is not an incident id");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_reports_an_incident_and_learns_only_its_deadline() {
    let server = Server::start(|_| {}).await;
    server.clock.advance(1000 - server.clock.now_ms().rem_euclid(1000));
    let t0 = server.clock.now_ms();
    let alice = User::new();
    alice
        .setup(&server, &server.sender("alice@council.example").await)
        .await;
    let id = send_to_guest(&alice, "Minutes of the case conference.").await;

    let run = alice
        .ok(&[
            "incident",
            "open",
            &id,
            "--wrong",
            "wrong@example.org",
            "--category",
            "health",
            "--subjects",
            "3",
            "--description",
            "The minutes went to the wrong family.",
        ])
        .await;
    let first = run.stdout.lines().next().unwrap_or_default();
    let incident = first
        .strip_prefix("Opened incident ")
        .and_then(|l| l.strip_suffix(&format!(" about message {id}.")))
        .unwrap_or_else(|| panic!("{run}"))
        .to_owned();
    // The sender's answer has no countdown: the tool counts from its own clock.
    let deadline = format!("\n  Deadline {}: 7", human_time(&to_rfc3339(t0 + 72 * HOUR_MS)));
    assert!(
        run.stdout.contains(&deadline) && run.stdout.contains(" min left\n"),
        "{run}"
    );
    let opened = alice.json(&["incident", "open", &id, "--category", "financial"]).await;
    let mut keys: Vec<&str> = opened.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["aware_at", "deadline_at", "id"],
        "the sender learns only these: {opened}"
    );

    let dpo_token = server
        .account_with("council", "dpo@council.example", &[Role::Dpo], &[Scope::Incidents])
        .await;
    let dpo = User::new();
    dpo.ok(&["init", "--server", &server.base, "--token", &dpo_token]).await;
    let shown = dpo.json(&["incident", "show", &incident]).await;
    assert_eq!(
        shown["facts"]["data_categories"],
        serde_json::json!(["health"]),
        "{shown}"
    );
    assert_eq!(shown["facts"]["categories_source"], "sender");
    assert_eq!(shown["facts"]["approx_subjects"], 3);
    assert_eq!(shown["facts"]["description"], "The minutes went to the wrong family.");
    assert_eq!(shown["trigger"], "reported");
    assert_eq!(shown["exposures"][0]["wrong"], true, "{shown}");
    let list = dpo.json(&["incident", "list", "--state", "open"]).await;
    assert_eq!(list["incidents"].as_array().map(Vec::len), Some(2), "{list}");

    // Someone else's message: not found.
    let run = alice.run(&["incident", "open", "AAAAAAAAAAAAAAAAAAAAAA"]).await;
    one_sentence(&run, 6, "not found");
    server.stop().await;
}
