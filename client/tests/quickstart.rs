//! The README's quickstart, run exactly as written, so that it cannot drift from the product.
//!
//! The test takes every ```sh block between `<!-- quickstart:start` and `<!-- quickstart:end -->`
//! in README.md and runs them, in order, as one bash script (`set -euo pipefail`) in an empty
//! temporary directory with an empty HOME. It changes only what a test must:
//!
//! - the `cargo build` line is skipped: `cargo test` has built both programs already, and
//!   `$PWD/target/release` reads as the directory of the programs this test was built with;
//! - the server listens on a free port instead of 8080 (`SEALPOST_SERVER_LISTEN`, and every
//!   `127.0.0.1:8080` in the commands);
//! - the browser step ("click **Send me a code**") is done with one `curl` POST, as the page does;
//! - the code that `sealpost open` asks for is typed from the SMS outbox, like a person would.
//!
//! The server binary comes from the same target directory: `cargo test --workspace` (the
//! README's test command) builds it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn quickstart_blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README.md");
    let start = readme
        .find("<!-- quickstart:start")
        .expect("README has a quickstart:start marker");
    let end = readme
        .find("<!-- quickstart:end -->")
        .expect("README has a quickstart:end marker");
    let section = &readme[start..end];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("```").expect("a closed code block");
        blocks.push(body[..close].to_owned());
        rest = &body[close + 3..];
    }
    assert!(blocks.len() >= 3, "the quickstart has its command blocks");
    blocks
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn the_readme_quickstart_runs_as_written() {
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_sealpost"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let server_bin = bin_dir.join("sealpost-server");
    assert!(
        server_bin.exists(),
        "{} is missing: run the workspace's tests (`cargo test --workspace`, as ./scripts/test.sh does), which build it",
        server_bin.display()
    );
    let port = free_port();
    let address = format!("127.0.0.1:{port}");

    let mut script = String::from("set -euo pipefail\n");
    for block in quickstart_blocks() {
        if block.contains("sms-outbox.jsonl") {
            // The browser: open the link and click "Send me a code".
            script.push_str(&format!(
                "access_id=$(grep -o '/r/[A-Za-z0-9_-]*#' sent.txt | head -n 1 | cut -c4-25)\n\
                 curl -fsS -X POST \"http://{address}/api/v1/access/$access_id/code\" > /dev/null\n"
            ));
        }
        for line in block.lines() {
            if line.trim_start().starts_with("cargo build") {
                continue;
            }
            let line = line
                .replace("$PWD/target/release", &bin_dir.display().to_string())
                .replace("127.0.0.1:8080", &address);
            script.push_str(&line);
            script.push('\n');
        }
    }

    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("SEALPOST_SERVER_LISTEN", &address)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().expect("bash");
    let pgid = child.id();
    // Kill whatever is left (the background server) when the test ends, even by a panic.
    struct Reaper(u32);
    impl Drop for Reaper {
        fn drop(&mut self) {
            // `--`: a negative number after it is a process group, not an option.
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", self.0)])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    let _reaper = Reaper(pgid);

    // Type the code once the outbox has it.
    let outbox = dir.path().join("sealpost-data/sms-outbox.jsonl");
    let mut stdin = child.stdin.take().expect("stdin");
    let deadline = Instant::now() + Duration::from_secs(600);
    let code = loop {
        if let Ok(text) = std::fs::read_to_string(&outbox)
            && let Some(line) = text.lines().last()
        {
            let sms: serde_json::Value = serde_json::from_str(line).expect("an outbox line");
            let text = sms["text"].as_str().expect("SMS text").to_owned();
            break text
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == 6)
                .expect("a code")
                .to_owned();
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            let output = child.wait_with_output().expect("output");
            panic!(
                "the quickstart ended ({status}) before any SMS was sent\n--- stdout\n{}--- stderr\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(Instant::now() < deadline, "no SMS after 10 minutes");
        std::thread::sleep(Duration::from_millis(100));
    };
    writeln!(stdin, "{code}").expect("type the code");
    drop(stdin);

    let output = child.wait_with_output().expect("the quickstart");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let report = format!(
        "--- stdout\n{stdout}--- stderr\n{stderr}--- server.log (last 40 lines)\n{}",
        {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        }
    );
    assert!(
        output.status.success(),
        "the quickstart failed ({})\n{report}",
        output.status
    );

    // What the reader is promised along the way.
    assert!(stdout.contains("Sent message "), "the send prints its id\n{report}");
    assert!(
        stdout.contains("Subject: Your care plan"),
        "the message opens in the terminal\n{report}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("opened/plan.txt")).expect("the opened attachment"),
        "Care plan: next review on 14 March.\n"
    );
    assert!(
        stdout.contains("never released"),
        "the receipt shows the wrong send was never opened\n{report}"
    );
    assert!(
        stdout.contains("Receipt valid: signed by "),
        "the receipt verifies offline\n{report}"
    );
}
