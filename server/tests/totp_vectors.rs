//! RFC 6238 Appendix B vectors (`shared/vectors/rfc6238`, see `shared/vectors/SOURCES.md`)
//! through totp-rs as the server configures it, and the server's own six-digit check
//! (one step of skew, exact digits) against the same table.

use std::path::Path;

use sealpost_server::domain::totp;
use serde_json::Value;
use totp_rs::Algorithm;

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/rfc6238/rfc6238-totp.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn seed(v: &Value, mode: &str) -> Vec<u8> {
    hex::decode(v["seeds_hex"][mode].as_str().unwrap()).unwrap()
}

#[test]
fn rfc6238_appendix_b_with_totp_rs() {
    let v = vectors();
    let digits = v["digits"].as_u64().unwrap() as u8;
    let step = v["step"].as_u64().unwrap();
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 18, "six times, three algorithms");
    for t in tests {
        let mode = t["mode"].as_str().unwrap();
        let algorithm = match mode {
            "SHA1" => Algorithm::SHA1,
            "SHA256" => Algorithm::SHA256,
            "SHA512" => Algorithm::SHA512,
            other => panic!("unknown mode {other}"),
        };
        let auth = totp_rs::Builder::new()
            .with_algorithm(algorithm)
            .with_digits(digits)
            .with_step_duration(step)
            .with_secret(seed(&v, mode))
            .build_noncompliant();
        let time = t["time"].as_u64().unwrap();
        assert_eq!(
            auth.generate(time).to_string(),
            t["totp"].as_str().unwrap(),
            "{mode} at {time}"
        );
    }
}

#[test]
fn the_servers_six_digit_check_agrees_with_the_sha1_table() {
    let v = vectors();
    let auth = totp::authenticator(&seed(&v, "SHA1"), "vectors@example.org").unwrap();
    for t in v["tests"].as_array().unwrap().iter().filter(|t| t["mode"] == "SHA1") {
        let time = t["time"].as_u64().unwrap();
        let eight = t["totp"].as_str().unwrap();
        // Dynamic truncation mod 10^6 is the last six digits of the mod 10^8 value.
        let six = &eight[2..];
        assert_eq!(totp::check(&auth, six, time), Some(time / 30), "at {time}");
        assert_eq!(totp::check(&auth, six, time + 30), Some(time / 30), "one step late");
        assert_eq!(totp::check(&auth, six, time + 60), None, "two steps late");
        assert_eq!(totp::check(&auth, eight, time), None, "eight digits are not six");
    }
}
