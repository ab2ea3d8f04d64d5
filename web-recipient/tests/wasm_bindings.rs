//! The bindings the recipient page uses beyond the vectors: the streaming, seal-checked payload
//! decryptor, and the registered recipient's password keys and key blob. Run with
//! `web-recipient/run-wasm-tests.sh`; natively this file compiles to nothing.

#![cfg(target_arch = "wasm32")]

use sealpost_crypto::recipient::RecipientSecretKey;
use wasm_bindgen_test::wasm_bindgen_test;

const MESSAGE: &str = include_str!("../../crypto/tests/vectors/sealpost-v1/msg_attachment_sizes.json");
const KEYBLOB: &str = include_str!("../../crypto/tests/vectors/sealpost-v1/keyblob_nfc_nfd.json");
const WRONG_PASSWORD: &str = include_str!("../../crypto/tests/vectors/sealpost-v1/fail_keyblob_wrong_password.json");

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn str_field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is a string"))
}

struct Opened {
    envelope: sealpost_web::VerifiedEnvelope,
    message: sealpost_web::UnlockedMessage,
    payloads: Vec<Vec<u8>>,
    attachments: Vec<Vec<u8>>,
}

fn open_vector_message() -> Opened {
    let v: serde_json::Value = serde_json::from_str(MESSAGE).unwrap();
    let (inputs, outputs) = (&v["message"]["inputs"], &v["message"]["outputs"]);
    let envelope = sealpost_web::verify_envelope(
        str_field(outputs, "msg_id_text"),
        str_field(outputs, "header").as_bytes(),
        str_field(outputs, "seal"),
        &unhex(str_field(outputs, "sender_ed25519_public")),
    )
    .expect("the envelope verifies");
    let payloads: Vec<Vec<u8>> = outputs["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| sealpost_crypto::b64::decode(str_field(p, "base64")).unwrap())
        .collect();
    let attachments = inputs["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| sealpost_crypto::b64::decode(str_field(a, "data_base64")).unwrap())
        .collect();
    let secret: [u8; 32] = unhex(inputs["recipient_x25519_secrets"][0].as_str().unwrap())
        .try_into()
        .unwrap();
    let share = envelope
        .open_share(&RecipientSecretKey::from_bytes(secret).to_link_secret())
        .expect("share");
    let message = envelope
        .unlock(&share, &unhex(str_field(&outputs["recipients"][0], "server_share")))
        .expect("unlock");
    Opened {
        envelope,
        message,
        payloads,
        attachments,
    }
}

#[wasm_bindgen_test]
fn payload_stream_matches_decrypt_payload_for_any_piece_size() {
    let opened = open_vector_message();
    for (i, expected) in opened.attachments.iter().enumerate() {
        let index = i + 1;
        let payload = &opened.payloads[index];
        assert_eq!(opened.message.plaintext_length(index).ok(), Some(expected.len() as f64));
        for step in [13usize, 65_552, 4 << 20] {
            let mut stream = opened.message.payload_stream(index).expect("stream");
            assert_eq!(stream.payload_length(), payload.len() as f64);
            assert_eq!(stream.plaintext_length(), expected.len() as f64);
            let mut out = Vec::new();
            for piece in payload.chunks(step) {
                out.extend(stream.push(piece).expect("push"));
            }
            assert_eq!(stream.received(), payload.len() as f64);
            stream.finish().expect("finish");
            assert!(&out == expected, "attachment {i}, step {step}");
            assert!(out == opened.message.decrypt_payload(index, payload).unwrap());
        }
    }
    assert!(opened.message.payload_stream(opened.payloads.len()).is_err());
    assert_eq!(opened.envelope.payload_count(), opened.payloads.len());
}

#[wasm_bindgen_test]
fn payload_stream_refuses_tampering_truncation_and_extra_bytes() {
    let opened = open_vector_message();
    let last = opened.payloads.len() - 1;
    let payload = &opened.payloads[last];
    let mut flipped = payload.clone();
    flipped[payload.len() / 2] ^= 1;
    let mut stream = opened.message.payload_stream(last).unwrap();
    let failed = payload
        .chunks(4096)
        .zip(flipped.chunks(4096))
        .any(|(_, piece)| stream.push(piece).is_err());
    assert!(failed, "a flipped byte fails a push");
    assert!(stream.push(&[]).is_err(), "the stream is dead after a failure");
    assert!(stream.finish().is_err());

    let mut stream = opened.message.payload_stream(last).unwrap();
    stream.push(&payload[..payload.len() - 1]).unwrap();
    assert!(stream.finish().is_err(), "truncated");

    let mut stream = opened.message.payload_stream(last).unwrap();
    let mut extended = payload.clone();
    extended.push(0);
    assert!(stream.push(&extended).is_err(), "one byte too many");

    // Another payload's bytes (wrong nonce) fail at the first byte that differs.
    let mut stream = opened.message.payload_stream(last).unwrap();
    assert!(stream.push(&opened.payloads[last - 1][..16]).is_err());
}

#[wasm_bindgen_test]
fn password_keys_sign_in_and_open_the_key_blob_for_open_share() {
    let v: serde_json::Value = serde_json::from_str(KEYBLOB).unwrap();
    let (inputs, outputs) = (&v["keyblob"]["inputs"], &v["keyblob"]["outputs"]);
    let blob_json = str_field(outputs, "keyblob_json");
    let blob: serde_json::Value = serde_json::from_str(blob_json).unwrap();
    let kdf_json = blob["kdf"].to_string();
    let login = str_field(outputs, "login_key_base64");
    for password in [str_field(inputs, "password_nfc"), str_field(inputs, "password_nfd")] {
        assert_eq!(
            sealpost_web::derive_login_key(&kdf_json, password).ok().as_deref(),
            Some(login)
        );
        let keys = sealpost_web::derive_password_keys(&kdf_json, password).expect("derive");
        assert_eq!(keys.login_key(), login);
        let recipient = keys.open_keyblob(blob_json).expect("open");
        assert_eq!(recipient.x25519_public(), unhex(str_field(outputs, "x25519_public")));
    }
    let one_shot = sealpost_web::open_keyblob(blob_json, str_field(inputs, "password_nfc")).expect("open");
    assert_eq!(one_shot.x25519_public(), unhex(str_field(outputs, "x25519_public")));
    let wrong = sealpost_web::derive_password_keys(&kdf_json, "not the password").unwrap();
    assert!(wrong.open_keyblob(blob_json).is_err());
    assert!(sealpost_web::derive_login_key("{", "x").is_err());
    assert!(sealpost_web::derive_login_key(r#"{"alg":"argon2id"}"#, "x").is_err());
    let attempt = &serde_json::from_str::<serde_json::Value>(WRONG_PASSWORD).unwrap()["attempt"];
    assert!(sealpost_web::open_keyblob(str_field(attempt, "keyblob_json"), str_field(attempt, "password")).is_err());
}

/// A key blob's own key opens the share addressed to it, exactly as a link key does.
#[wasm_bindgen_test]
fn keys_from_a_key_blob_open_a_share() {
    use sealpost_crypto::keyblob::{KdfParams, UserKeys};
    use sealpost_crypto::message::seal_message;
    let mut rng = sealpost_web::web_rng();
    let recipient = UserKeys::generate(&mut rng);
    let sender = UserKeys::generate(&mut rng);
    let params = KdfParams {
        m_kib: KdfParams::MIN_M_KIB,
        t: KdfParams::MIN_T,
        p: 1,
    };
    let (blob, _login) = recipient.seal("pässword", params, &mut rng).unwrap();
    let blob_json = serde_json::to_string(&blob).unwrap();
    let sent = seal_message(
        "Hello",
        "Body",
        &[],
        b"{}",
        &[recipient.encryption_public()],
        &sender.signing,
        &mut rng,
    )
    .unwrap();
    let envelope = sealpost_web::verify_envelope(
        &sent.msg_id.to_text(),
        &sent.header,
        &sent.seal,
        &sender.signing_public(),
    )
    .unwrap();
    let keys = sealpost_web::derive_password_keys(&serde_json::to_string(&blob.kdf).unwrap(), "pässword")
        .unwrap()
        .open_keyblob(&blob_json)
        .unwrap();
    let share = envelope.open_share_with_keys(&keys).expect("share");
    // The id the API and the access log name the recipient by (checked against release proofs).
    assert_eq!(share.rid_text(), recipient.encryption_public().rid().to_text());
    assert_eq!(share.rid(), recipient.encryption_public().rid().0.to_vec());
    let message = envelope
        .unlock(&share, sent.server_shares[0].share.expose_secret())
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&message.manifest(&sent.payloads[0]).unwrap()).unwrap();
    assert_eq!(manifest["subject"], "Hello");
    let stranger = UserKeys::generate(&mut rng);
    let (other_blob, _) = stranger.seal("x-password", params, &mut rng).unwrap();
    let other = sealpost_web::open_keyblob(&serde_json::to_string(&other_blob).unwrap(), "x-password").unwrap();
    assert!(envelope.open_share_with_keys(&other).is_err());
}
