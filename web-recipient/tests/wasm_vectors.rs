//! Sealpost's own known-answer vectors (`crypto/tests/vectors/sealpost-v1/`), checked inside
//! WebAssembly (wasm32-unknown-unknown, in node) with the same logic as the native tests, and the
//! bindings of this crate exercised on them.
//!
//! Run with `web-recipient/run-wasm-tests.sh`, i.e.
//! `cargo test -p sealpost-web --target wasm32-unknown-unknown` with `wasm-bindgen-test-runner`
//! as the runner (set in `.cargo/config.toml`). Natively this file compiles to nothing.

#![cfg(target_arch = "wasm32")]

#[path = "../../crypto/tests/vectors/check.rs"]
mod check;

use sealpost_crypto::recipient::RecipientSecretKey;
use wasm_bindgen_test::wasm_bindgen_test;

macro_rules! vectors {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../crypto/tests/vectors/sealpost-v1/", $name, ".json")))),*]
    };
}

/// Every committed vector, compiled in.
const VECTORS: &[(&str, &str)] = vectors![
    "msg_one_recipient",
    "msg_three_recipients",
    "msg_attachment_sizes",
    "keyblob_nfc_nfd",
    "fail_wrong_server_share",
    "fail_server_share_of_other_recipient",
    "fail_not_a_recipient",
    "fail_msg_id_swapped",
    "fail_stanza_body_79_bytes",
    "fail_stanza_body_81_bytes",
    "fail_header_mac_flipped",
    "fail_header_extra_byte",
    "fail_seal_signature_flipped",
    "fail_seal_signed_by_other_key",
    "fail_seal_names_other_header",
    "fail_payload_chunk_swapped",
    "fail_payload_truncated",
    "fail_payload_appended",
    "fail_payload_empty_final_chunk",
    "fail_manifest_size_mismatch",
    "fail_keyblob_wrong_password",
    "fail_keyblob_m_below_floor",
    "fail_keyblob_m_above_cap",
];

fn vector(name: &str) -> &'static str {
    VECTORS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
        .1
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(vector(name)).expect("vector JSON")
}

fn hex_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    check::unhex(v[key].as_str().expect("hex string"))
}

fn b64_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    sealpost_crypto::b64::decode(v[key].as_str().expect("base64 string")).expect("base64")
}

#[wasm_bindgen_test]
fn the_compiled_in_list_is_the_full_list() {
    let names: Vec<&str> = VECTORS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, check::VECTOR_NAMES);
    assert_eq!(names.len(), 23);
}

#[wasm_bindgen_test]
fn message_vectors_behave_and_regenerate() {
    for (name, contents) in VECTORS {
        if !name.contains("keyblob") {
            check::check_vector(name, contents, true);
        }
    }
}

/// Key blobs cost Argon2id runs at 19 MiB (a few dozen here); fast enough to do in full, including
/// re-sealing through `UserKeys::seal` with both password forms.
#[wasm_bindgen_test]
fn keyblob_vectors_behave_and_regenerate() {
    for (name, contents) in VECTORS {
        if name.contains("keyblob") {
            check::check_vector(name, contents, true);
        }
    }
}

#[wasm_bindgen_test]
fn web_crypto_is_the_entropy_source() {
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    getrandom::fill(&mut a).expect("getRandomValues");
    getrandom::fill(&mut b).expect("getRandomValues");
    assert_ne!(a, b);
    use rand_core::Rng;
    assert_ne!(sealpost_web::web_rng().next_u64(), 0);
}

#[wasm_bindgen_test]
fn bindings_open_a_message_from_the_vectors() {
    for name in ["msg_three_recipients", "msg_attachment_sizes"] {
        let v = json(name);
        let inputs = &v["message"]["inputs"];
        let outputs = &v["message"]["outputs"];
        let envelope = sealpost_web::verify_envelope(
            outputs["msg_id_text"].as_str().unwrap(),
            outputs["header"].as_str().unwrap().as_bytes(),
            outputs["seal"].as_str().unwrap(),
            &hex_field(outputs, "sender_ed25519_public"),
        )
        .unwrap_or_else(|_| panic!("{name}: the envelope verifies"));
        let payloads: Vec<Vec<u8>> = outputs["payloads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| b64_field(p, "base64"))
            .collect();
        assert_eq!(envelope.payload_count(), payloads.len());
        for (i, payload) in payloads.iter().enumerate() {
            assert_eq!(envelope.payload_length(i).ok(), Some(payload.len() as f64));
        }
        assert!(envelope.policy_matches(&hex_field(inputs, "policy_hex")));
        assert!(!envelope.policy_matches(b"{}"));
        let secrets = inputs["recipient_x25519_secrets"].as_array().unwrap();
        for (r, recipient) in outputs["recipients"].as_array().unwrap().iter().enumerate() {
            let secret: [u8; 32] = check::unhex(secrets[r].as_str().unwrap()).try_into().unwrap();
            let link_secret = RecipientSecretKey::from_bytes(secret).to_link_secret();
            let share = envelope
                .open_share(&link_secret)
                .unwrap_or_else(|_| panic!("{name}: recipient {r} opens its share"));
            assert_eq!(share.rid(), hex_field(recipient, "rid"));
            let message = envelope
                .unlock(&share, &hex_field(recipient, "server_share"))
                .unwrap_or_else(|_| panic!("{name}: recipient {r} unlocks"));
            assert_eq!(message.payload_count(), payloads.len());
            let manifest: serde_json::Value =
                serde_json::from_str(&message.manifest(&payloads[0]).expect("manifest")).unwrap();
            assert_eq!(manifest["subject"], inputs["subject"]);
            assert_eq!(manifest["body"], inputs["body"]);
            for (i, attachment) in inputs["attachments"].as_array().unwrap().iter().enumerate() {
                assert_eq!(manifest["attachments"][i]["size"], attachment["size"]);
                let plaintext = message.decrypt_payload(i + 1, &payloads[i + 1]).expect("attachment");
                assert!(
                    plaintext == b64_field(attachment, "data_base64"),
                    "{name}: attachment {i}"
                );
            }
            // A wrong server share (another recipient's, or a flipped one) does not unlock.
            let mut wrong = hex_field(recipient, "server_share");
            wrong[0] ^= 1;
            assert!(envelope.unlock(&share, &wrong).is_err());
            assert!(envelope.unlock(&share, &wrong[..31]).is_err());
        }
        assert!(message_fails_on_tampered_payload(&envelope, inputs, outputs, &payloads));
    }
}

fn message_fails_on_tampered_payload(
    envelope: &sealpost_web::VerifiedEnvelope,
    inputs: &serde_json::Value,
    outputs: &serde_json::Value,
    payloads: &[Vec<u8>],
) -> bool {
    let secret: [u8; 32] = check::unhex(inputs["recipient_x25519_secrets"][0].as_str().unwrap())
        .try_into()
        .unwrap();
    let share = envelope
        .open_share(&RecipientSecretKey::from_bytes(secret).to_link_secret())
        .expect("share");
    let message = envelope
        .unlock(&share, &hex_field(&outputs["recipients"][0], "server_share"))
        .expect("unlock");
    let last = payloads.len() - 1;
    let mut tampered = payloads[last].clone();
    *tampered.last_mut().unwrap() ^= 0x80;
    message.decrypt_payload(last, &tampered).is_err() && message.decrypt_payload(last, &payloads[0]).is_err()
}

#[wasm_bindgen_test]
fn bindings_refuse_the_failure_vectors() {
    for name in [
        "fail_seal_signature_flipped",
        "fail_seal_signed_by_other_key",
        "fail_header_extra_byte",
    ] {
        let attempt = &json(name)["attempt"];
        let result = sealpost_web::verify_envelope(
            attempt["msg_id_text"].as_str().unwrap(),
            &b64_field(attempt, "header_base64"),
            attempt["seal"].as_str().unwrap(),
            &hex_field(attempt, "sender_ed25519_public"),
        );
        assert!(result.is_err(), "{name}");
    }
    assert!(sealpost_web::verify_envelope("not an id", b"", "", &[0; 32]).is_err());
}

#[wasm_bindgen_test]
fn bindings_unlock_the_keyblob_vector() {
    let v = json("keyblob_nfc_nfd");
    let inputs = &v["keyblob"]["inputs"];
    let outputs = &v["keyblob"]["outputs"];
    let blob = outputs["keyblob_json"].as_str().unwrap();
    let keys = sealpost_web::unlock_keyblob(blob, inputs["password_nfd"].as_str().unwrap()).expect("NFD password");
    assert_eq!(keys.x25519_public(), hex_field(outputs, "x25519_public"));
    assert_eq!(keys.ed25519_public(), hex_field(outputs, "ed25519_public"));
    let wrong = &json("fail_keyblob_wrong_password")["attempt"];
    assert!(
        sealpost_web::unlock_keyblob(
            wrong["keyblob_json"].as_str().unwrap(),
            wrong["password"].as_str().unwrap()
        )
        .is_err()
    );
    let above_cap = &json("fail_keyblob_m_above_cap")["attempt"];
    assert!(sealpost_web::unlock_keyblob(above_cap["keyblob_json"].as_str().unwrap(), "x").is_err());
    assert!(sealpost_web::unlock_keyblob("{", "x").is_err());
}
