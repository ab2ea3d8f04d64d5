//! `sealpost verify` and `sealpost log verify-export`: offline checks through the real binary —
//! exit codes, the JSON schema, one-sentence errors.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::merkle::{self, Hash};
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::primitives::ed25519_public;
use sealpost_crypto::tlog::{self, Checkpoint, LogEntry, ProvenEntry, RecipientLabel, kinds};

const SEED: [u8; 32] = [11; 32];
const ORIGIN: &str = "sealpost.example/log";
const T0: u64 = 1_795_000_000_000;

struct Log {
    leaves: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
}

impl Log {
    fn append(&mut self, kind: &str, message: Option<&str>, recipient: Option<&str>) {
        let index = self.leaves.len() as u64;
        let link = |pred: &dyn Fn(&LogEntry) -> bool| {
            (0..self.leaves.len())
                .rev()
                .find(|&i| pred(&LogEntry::parse(&self.leaves[i]).unwrap()))
                .map(|i| (i as u64, self.hashes[i]))
        };
        let prev = message.and_then(|m| link(&|e| e.message.as_deref() == Some(m)));
        let org_prev = link(&|e| e.org.as_deref() == Some("org_a"));
        let entry = LogEntry {
            index,
            time_ms: T0 + index * 1000,
            kind: kind.to_owned(),
            org: Some("org_a".to_owned()),
            actor: "user:u_1".to_owned(),
            source: Some("192.0.2.1".to_owned()),
            message: message.map(str::to_owned),
            recipient: recipient.map(str::to_owned),
            prev,
            org_prev,
            detail: None,
        };
        let bytes = entry.encode().unwrap();
        self.hashes.push(merkle::leaf_hash(&bytes));
        self.leaves.push(bytes);
    }

    fn proven(&self, index: usize) -> ProvenEntry {
        ProvenEntry {
            index: index as u64,
            leaf: STANDARD.encode(&self.leaves[index]),
            proof: merkle::inclusion_proof(&self.hashes, index)
                .iter()
                .map(|h| STANDARD.encode(h))
                .collect(),
        }
    }

    fn checkpoint_note(&self) -> String {
        Checkpoint {
            origin: ORIGIN.to_owned(),
            size: self.leaves.len() as u64,
            root: merkle::root_of(&self.hashes),
        }
        .sign(&SEED)
        .unwrap()
    }
}

fn vkey() -> String {
    VerifierKey::new(ORIGIN, ed25519_public(&SEED)).unwrap().to_vkey()
}

fn fixture() -> (Log, String) {
    let mut log = Log {
        leaves: Vec::new(),
        hashes: Vec::new(),
    };
    log.append("token.created", None, None);
    log.append(kinds::CREATED, Some("m_1"), None);
    log.append(kinds::SEALED, Some("m_1"), None);
    log.append("link.fetched", Some("m_1"), Some("r_1"));
    log.append(kinds::RELEASED, Some("m_1"), Some("r_1"));
    log.append(kinds::CREATED, Some("m_2"), None);
    log.append(kinds::SEALED, Some("m_2"), None);
    log.append(kinds::MESSAGE_REVOKED, Some("m_2"), None);
    log.append(kinds::DESTROYED, Some("m_2"), None);
    log.append(kinds::RECEIPT_ISSUED, Some("m_2"), None);
    let events: Vec<ProvenEntry> = [5, 6, 7, 8, 9].iter().map(|&i| log.proven(i)).collect();
    let receipt = tlog::build_receipt(
        &SEED,
        &log.checkpoint_note(),
        "m_2",
        T0 + 20_000,
        &[RecipientLabel {
            rid: "r_2".into(),
            address: "wrong@person.example".into(),
        }],
        &events,
        &[],
    )
    .unwrap();
    (log, receipt)
}

fn sealpost(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sealpost"))
        .args(args)
        .env_remove("SEALPOST_LOG_KEY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_receipt_verifies_offline_and_a_changed_byte_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_, receipt) = fixture();
    let path = dir.path().join("receipt.json");
    std::fs::write(&path, &receipt).unwrap();
    let file = path.to_str().unwrap();
    let key = vkey();

    let (code, out, err) = sealpost(&["verify", file, "--log-key", &key]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Receipt valid: signed by sealpost.example/log"),
        "{out}"
    );
    assert!(out.contains("wrong@person.example") && out.contains("never"), "{out}");

    // --json: the documented schema.
    let (code, out, _) = sealpost(&["verify", file, "--log-key", &key, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    let r = &v["receipt"];
    assert_eq!(r["message_id"], "m_2");
    assert_eq!(r["size"], 10);
    assert_eq!(r["events"], 5);
    let rec = &r["recipients"][0];
    assert_eq!(rec["rid"], "r_2");
    assert_eq!(rec["releases"], 0);
    assert!(rec["first_released_ms"].is_null());
    assert_eq!(rec["revoked_ms"], T0 + 7000);
    assert_eq!(rec["destroyed_ms"], T0 + 8000);
    let mut fields: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "events",
            "issued_ms",
            "message_id",
            "origin",
            "recipients",
            "root_b64",
            "size",
            "witnesses"
        ]
    );

    // One byte changed: not valid, exit 1, one sentence.
    let mut bytes = receipt.clone().into_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let (code, out, err) = sealpost(&["verify", file, "--log-key", &key]);
    assert_eq!(code, 1, "{out}");
    assert!(err.starts_with("sealpost: the receipt is NOT valid"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // The key from the environment; a wrong key; no key; a key that is not one; no file.
    std::fs::write(&path, &receipt).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sealpost"))
        .args(["verify", file])
        .env("SEALPOST_LOG_KEY", &key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let other = VerifierKey::new(ORIGIN, ed25519_public(&[12; 32])).unwrap().to_vkey();
    assert_eq!(sealpost(&["verify", file, "--log-key", &other]).0, 1);
    let (code, _, err) = sealpost(&["verify", file]);
    assert_eq!(code, 1);
    assert!(err.contains("no log key"), "{err}");
    let (code, _, err) = sealpost(&["verify", file, "--log-key", "nonsense"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a valid log key"), "{err}");
    let (code, _, err) = sealpost(&["verify", "/nonexistent/receipt.json", "--log-key", &key]);
    assert_eq!(code, 1);
    assert!(err.starts_with("sealpost: cannot read"), "{err}");
    // A witness the receipt does not carry.
    let witness = tlog::CosignerKey::from_seed("witness.example/w", &[3; 32])
        .unwrap()
        .to_vkey();
    assert_eq!(
        sealpost(&["verify", file, "--log-key", &key, "--witness", &witness]).0,
        1
    );
    // Usage errors exit 2.
    assert_eq!(sealpost(&["verify"]).0, 2);
}

#[test]
fn an_export_verifies_and_a_dropped_line_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = fixture();
    let header = tlog::export_header_line(&tlog::ExportHeader {
        format: tlog::EXPORT_FORMAT.into(),
        org: "org_a".into(),
        checkpoint: log.checkpoint_note(),
        from: 0,
        to: 10,
    });
    let lines: Vec<String> = (0..10).map(|i| tlog::export_line(&log.proven(i))).collect();
    let path = dir.path().join("export.jsonl");
    std::fs::write(&path, format!("{header}{}", lines.concat())).unwrap();
    let file = path.to_str().unwrap();
    let key = vkey();
    let (code, out, err) = sealpost(&["log", "verify-export", file, "--log-key", &key]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Export valid: 10 entries of organisation org_a (2 messages)"),
        "{out}"
    );
    let (code, out, _) = sealpost(&["log", "verify-export", file, "--log-key", &key, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["export"]["entries"], 10);
    assert_eq!(v["export"]["checkpoint_size"], 10);

    // Leaving out an account event (no message chain) is caught by the organisation's chain.
    let mut dropped = lines.clone();
    dropped.remove(0);
    std::fs::write(&path, format!("{header}{}", dropped.concat())).unwrap();
    let (code, _, err) = sealpost(&["log", "verify-export", file, "--log-key", &key]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("sealpost: the export is NOT valid: log export line 2"),
        "{err}"
    );
}
