//! The pre-send checks through the `sealpost` tool: `sealpost check` on draft files (kinds,
//! levels, masked previews, exit codes, bad drafts), and `sealpost send` stopping on warnings and
//! errors until confirmed, with the outcome stored on the server and the history updated.

mod support;

use serde_json::{Value, json};
use support::{Server, User};

/// Valid NHS numbers in the England range (mod 11), written as people write them.
const NHS_A: &str = "401 023 2137";
const NHS_B: &str = "450 557 7104";

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn write_draft(user: &User, name: &str, draft: &Value) -> String {
    let path = user.path(name);
    std::fs::write(&path, serde_json::to_vec_pretty(draft).unwrap()).unwrap();
    path.display().to_string()
}

fn kinds(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {report}"))
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn finding<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_kinds_levels_and_exit_codes_without_any_server() {
    let user = User::new();
    std::fs::write(
        user.path("patients.csv"),
        format!("Name,NHS number,DOB\nA. Patient,{NHS_B},01/02/1980\nB. Patient,{NHS_A},03/04/1975\n"),
    )
    .unwrap();
    let body = format!("Dear colleague,\nPlease see the referral. NHS number: {NHS_A}.\nKind regards");
    let draft = json!({
        "from": "clerk@council.example",
        "to": ["Sam Smith <sam@example.org>"],
        "subject": "Referral",
        "body": body,
        "attachments": ["patients.csv"],
    });
    let path = write_draft(&user, "draft.json", &draft);

    // A first send of sensitive data to sam: a warning, so exit 11 — and the report is printed.
    let run = user.run(&["check", "--json", &path]).await;
    assert_eq!(run.code, 11, "{run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    assert!(report.get("error").is_none(), "{report}");
    assert_eq!(report["max_level"], "warning");
    assert_eq!(report["policy"], "default");
    let found = kinds(&report);
    assert!(
        found.contains(&("recipient_first_sensitive".into(), "warning".into())),
        "{found:?}"
    );
    let nhs = finding(&report, "uk_nhs_number");
    assert_eq!(nhs["count"], 3, "{nhs}");
    assert_eq!(nhs["distinct"], 2, "{nhs}");
    let places = nhs["locations"].as_array().unwrap();
    assert!(places.iter().any(|p| p["part"] == "body" && p["count"] == 1), "{nhs}");
    assert!(
        places
            .iter()
            .any(|p| p["part"] == "attachment" && p["name"] == "patients.csv" && p["count"] == 2),
        "{nhs}"
    );
    finding(&report, "date_of_birth");
    // No value in any output: only masked previews.
    for value in [NHS_A, NHS_B, "4010232137", "4505577104", "01/02/1980"] {
        assert!(
            !run.stdout.contains(value) && !run.stderr.contains(value),
            "{value} leaked:\n{run}"
        );
    }

    // The same draft to someone who has had sensitive data before: suggestions only, exit 0.
    let mut known = draft.clone();
    known["known_contacts"] =
        json!([{"address": "sam@example.org", "name": "Sam Smith", "sends": 12, "sensitive_sends": 4}]);
    let path = write_draft(&user, "known.json", &known);
    let run = user.run(&["check", "--json", &path]).await;
    assert_eq!(run.code, 0, "{run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["max_level"], "suggestion", "{report}");

    // The human output says the same in sentences.
    let run = user.run(&["check", &path]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("NHS numbers"), "{run}");

    // A look-alike of a frequent contact's domain.
    let typo = json!({
        "from": "clerk@council.example",
        "to": ["jimmy@counci1-social.example"],
        "body": "Minutes attached.",
        "known_contacts": [{"address": "jimmy@council-social.example", "sends": 40, "sensitive_sends": 10}],
    });
    let run = user
        .run(&["check", "--json", &write_draft(&user, "typo.json", &typo)])
        .await;
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    let f = finding(&report, "recipient_lookalike");
    assert_eq!(f["similar_to"], "jimmy@council-social.example", "{f}");
    assert_eq!(run.code, 11, "{run}");

    // Six private people visible to each other.
    let newsletter = json!({
        "from": "clerk@council.example",
        "to": (1..=6).map(|i| format!("person{i}@example{i}.org")).collect::<Vec<_>>(),
        "body": "Our summer newsletter.",
    });
    let run = user
        .run(&["check", "--json", &write_draft(&user, "newsletter.json", &newsletter)])
        .await;
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    assert_eq!(finding(&report, "visible_recipients")["count"], 6, "{report}");

    // An organisation policy file can make NHS numbers an error.
    std::fs::write(user.path("strict.json"), r#"{"levels":{"uk_nhs_number":"error"}}"#).unwrap();
    let run = user
        .run(&[
            "check",
            "--json",
            "--policy",
            &user.path("strict.json").display().to_string(),
            &path,
        ])
        .await;
    assert_eq!(run.code, 11, "{run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(finding(&report, "uk_nhs_number")["level"], "error");
    assert_eq!(report["policy"], "file");

    // Bad drafts: one sentence, exit 3, no panic.
    std::fs::write(user.path("broken.json"), "{\"from\": ").unwrap();
    let run = user
        .run(&["check", &user.path("broken.json").display().to_string()])
        .await;
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.starts_with("sealpost: the draft is not valid JSON"), "{run}");
    let missing = json!({"from": "a@b.example", "to": ["c@d.example"], "attachments": ["nope.pdf"]});
    let run = user
        .run(&["check", &write_draft(&user, "missing.json", &missing)])
        .await;
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.contains("nope.pdf"), "{run}");
    let bad_address = json!({"from": "a@b.example", "to": ["not an address"]});
    let run = user
        .run(&["check", "--json", &write_draft(&user, "bad.json", &bad_address)])
        .await;
    assert_eq!(run.code, 3, "{run}");
    let err: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "invalid", "{err}");
    let nobody = json!({"from": "a@b.example", "body": "hello"});
    let run = user.run(&["check", &write_draft(&user, "nobody.json", &nobody)]).await;
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.contains("no recipients"), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_stops_on_warnings_until_confirmed_and_the_outcome_travels() {
    let server = Server::start(|_| {}).await;
    let token = server.sender("clerk@council.example").await;
    let user = User::new();
    user.setup(&server, &token).await;
    let body = format!("Referral for the patient, NHS number {NHS_A}.");
    let send = |extra: &[&str]| {
        let mut args = vec![
            "send",
            "--to",
            "sam@example.org",
            "--sms",
            support::PHONE,
            "--body",
            &body,
            "--subject",
            "Referral",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };

    // First sensitive send to sam: stopped before anything is uploaded.
    let args = send(&[]);
    let run = user.run(&refs(&args)).await;
    assert_eq!(run.code, 11, "{run}");
    assert!(run.stderr.contains("--yes --reason"), "{run}");
    assert!(run.stderr.contains("WARNING"), "{run}");
    assert!(!run.stderr.contains(NHS_A), "{run}");
    let list = user.json(&["list"]).await;
    assert_eq!(list["messages"].as_array().map(Vec::len), Some(0), "{list}");

    // --yes without --reason is a usage error.
    let args = send(&["--yes"]);
    let run = user.run(&refs(&args)).await;
    assert_eq!(run.code, 2, "{run}");

    // Confirmed with a reason: sent, and the outcome is on the server.
    let args = send(&["--yes", "--reason", "Referral agreed with the patient", "--json"]);
    let run = user.run(&refs(&args)).await;
    assert_eq!(run.code, 0, "{run}");
    let sent: Value = serde_json::from_str(&run.stdout).unwrap();
    let id = sent["message_id"].as_str().unwrap().to_owned();
    assert!(sent["checks"]["findings"].is_array(), "{sent}");
    let status = user.json(&["status", &id]).await;
    let checks = &status["checks"];
    assert_eq!(checks["decision"], "confirmed", "{status}");
    assert_eq!(checks["confirmed_with"], "flag", "{status}");
    assert_eq!(checks["reason"], "Referral agreed with the patient", "{status}");
    assert_eq!(checks["categories"]["uk_nhs_number"], 1, "{status}");
    assert_eq!(checks["categories"]["recipient_first_sensitive"], 1, "{status}");
    assert!(!status.to_string().contains("4010232137"), "{status}");

    // The history now knows sam received sensitive data: the next such send only notes it.
    let history: Value =
        serde_json::from_str(&std::fs::read_to_string(user.path("state/sealpost/contacts.json")).unwrap()).unwrap();
    let sam = history["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "sam@example.org")
        .unwrap();
    assert_eq!(
        (sam["sends"].as_u64(), sam["sensitive_sends"].as_u64()),
        (Some(1), Some(1)),
        "{history}"
    );
    let args = send(&["--print-id"]);
    let run = user.run(&refs(&args)).await;
    assert_eq!(run.code, 0, "{run}");
    let id2 = run.stdout.trim().to_owned();
    let status = user.json(&["status", &id2]).await;
    assert_eq!(status["checks"]["decision"], "noted", "{status}");

    // The organisation makes NHS numbers an error: no confirmation helps.
    use sealpost_server::domain::{Role, Scope};
    let admin_token = server
        .account_with("council", "admin@council.example", &[Role::Admin], &[Scope::Admin])
        .await;
    let r = reqwest::Client::new()
        .put(server.url("/api/v1/policy"))
        .bearer_auth(&admin_token)
        .json(&json!({"levels": {"uk_nhs_number": "error"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let args = send(&["--yes", "--reason", "I am sure"]);
    let run = user.run(&refs(&args)).await;
    assert_eq!(run.code, 11, "{run}");
    assert!(run.stderr.contains("ERROR"), "{run}");
    server.stop().await;
}
