//! Rotation without downtime (docs/operations.md, "Rotating keys and certificates"): the server
//! key-encryption key in four phases across replicas, and API tokens with an overlap.

#[path = "support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harness::*;
use sealpost_crypto::b64;
use sealpost_server::clock::ManualClock;
use sealpost_server::config::Config;
use sealpost_server::domain::{Role, Scope, accounts, kek, messages};

use sealpost_server::kek::{key_id, key_id_hex};

const PART: u64 = 64 * 1024;

fn write_key(dir: &Path, name: &str, key: &[u8; 32]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, b64::encode(key) + "\n").unwrap();
    path
}

fn with_keys(storage: &Storage, current: &Path, previous: &[&Path]) -> Config {
    let mut config = storage.config(PART);
    config.keys.server_kek_file = Some(current.to_owned());
    config.keys.previous_kek_files = previous.iter().map(|p| p.to_path_buf()).collect();
    config
}

async fn services(config: &Config) -> Result<sealpost_server::domain::Services, String> {
    sealpost_server::app::services(config, Arc::new(ManualClock::new(T0)))
        .await
        .map_err(|e| e.0)
}

async fn release(svc: &sealpost_server::domain::Services, id: &str, rid: &str) -> [u8; 32] {
    let (share, _, _) = messages::release_share(svc, id, rid, serde_json::json!({}))
        .await
        .unwrap_or_else(|e| panic!("release of {id}: {e:?}"));
    *share
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kek_rotation_in_four_phases_across_replicas() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let keys = tempfile::tempdir().unwrap();
        let (old_key, new_key) = ([0x11u8; 32], [0x22u8; 32]);
        let old = write_key(keys.path(), "kek-old", &old_key);
        let new = write_key(keys.path(), "kek-new", &new_key);
        let (old_id, new_id) = (key_id_hex(&key_id(&old_key)), key_id_hex(&key_id(&new_key)));

        // Before: one key. One share is stored the way servers stored it before key ids.
        let before = TestServer::start_with(with_keys(&storage, &old, &[]), ManualClock::new(T0)).await;
        let alice = actor(
            &before,
            "org",
            "alice@org.example",
            &[Role::Sender],
            &[Scope::Send],
            true,
        )
        .await;
        let bob = actor(&before, "org", "bob@org.example", &[Role::Sender], &[Scope::Read], true).await;
        let rid = bob.public().rid().to_text();
        let legacy = build(&alice, &[To::Account(&bob)], &[b"legacy"], T0, 7);
        send(&before, &alice, &legacy).await;
        let tagged = build(&alice, &[To::Account(&bob)], &[b"tagged"], T0, 7);
        send(&before, &alice, &tagged).await;
        let legacy_share = release(&before.services, &legacy.id(), &rid).await;
        let tagged_share = release(&before.services, &tagged.id(), &rid).await;
        let msg_id = b64::decode_url_array::<16>(&legacy.id()).unwrap();
        let rid_bytes = b64::decode_url_array::<16>(&rid).unwrap();
        let aad = [b"sealpost.org/v1/sshare-at-rest\0".as_slice(), &msg_id, &rid_bytes].concat();
        let nonce = [7u8; 24];
        let ct = sealpost_crypto::primitives::xchacha20poly1305_seal(&old_key, &nonce, &aad, &legacy_share);
        let old_format = [nonce.as_slice(), &ct].concat();
        sqlx::query("UPDATE recipients SET share_ct = $1 WHERE message_id = $2 AND rid = $3")
            .bind(old_format.as_slice())
            .bind(legacy.id())
            .bind(rid.as_str())
            .execute(before.services.db.pool())
            .await
            .unwrap();
        assert_eq!(release(&before.services, &legacy.id(), &rid).await, legacy_share);

        // Phase 1: a replica learns the new key, decrypt-only, while the old one stays current.
        let learning = TestServer::start_with(with_keys(&storage, &old, &[&new]), ManualClock::new(T0)).await;
        assert_eq!(learning.services.kek.current_key_id(), key_id(&old_key));

        // Phase 2: the new key becomes current on another replica; the first still serves.
        let rotated = TestServer::start_with(with_keys(&storage, &new, &[&old]), ManualClock::new(T0)).await;
        assert_eq!(release(&rotated.services, &legacy.id(), &rid).await, legacy_share);
        assert_eq!(release(&rotated.services, &tagged.id(), &rid).await, tagged_share);
        let fresh = build(&alice, &[To::Account(&bob)], &[b"fresh"], T0, 7);
        send(&rotated, &alice, &fresh).await;
        // A replica still in phase 1 opens what a phase-2 replica wrapped.
        let fresh_share = release(&learning.services, &fresh.id(), &rid).await;
        assert_eq!(release(&rotated.services, &fresh.id(), &rid).await, fresh_share);
        before.stop().await;

        // Without the old key a replica refuses to start, naming the key it lacks.
        let refused = services(&with_keys(&storage, &new, &[])).await.unwrap_err();
        assert!(refused.contains(&old_id), "{refused}");
        assert!(refused.contains("keys.previous_kek_files"), "{refused}");

        // Phase 3: re-wrap, interrupted and resumed; a further run finds nothing.
        let svc = &rotated.services;
        let todo: u64 = kek::remaining(svc).await.unwrap().iter().map(|(_, n)| n).sum();
        // Two shares and the log key are under the old key (the fresh share is not).
        assert_eq!(todo, 3);
        let first = kek::rewrap(svc, 1, Some(1)).await.unwrap();
        assert_eq!(first.rewrapped, 1);
        let rest = kek::rewrap(svc, 1, None).await.unwrap();
        assert_eq!((rest.rewrapped, rest.failed.len()), (todo - 1, 0));
        let again = kek::rewrap(svc, 500, None).await.unwrap();
        assert_eq!(again, kek::RewrapReport::default());
        let todo: u64 = kek::remaining(svc).await.unwrap().iter().map(|(_, n)| n).sum();
        assert_eq!(todo, 0);
        assert_eq!(release(&learning.services, &legacy.id(), &rid).await, legacy_share);
        learning.stop().await;
        rotated.stop().await;

        // Phase 4: the old key is removed; everything still opens, the log key too.
        let after = services(&with_keys(&storage, &new, &[])).await.unwrap();
        assert_eq!(release(&after, &legacy.id(), &rid).await, legacy_share);
        assert_eq!(release(&after, &tagged.id(), &rid).await, tagged_share);
        assert_eq!(release(&after, &fresh.id(), &rid).await, fresh_share);
        after.db.close().await;
        // A replica left with only the old key now refuses to start, naming the new one.
        let stale = services(&with_keys(&storage, &old, &[])).await.unwrap_err();
        assert!(stale.contains(&new_id), "{stale}");
        storage.cleanup().await;
    }
}

/// Rotating an API token: issue the new one, deploy it, revoke the old. Both work during the
/// overlap; after the revoke on one replica the old token is refused at the other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_rotation_with_overlap_across_replicas() {
    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let one = TestServer::start(&storage, PART).await;
        let two = TestServer::start(&storage, PART).await;
        let alice = actor(
            &one,
            "org",
            "alice@org.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            false,
        )
        .await;
        let (new_token, new_secret) = accounts::issue_token(
            &one.services,
            &alice.user_id,
            "rotated",
            &[Scope::Send, Scope::Read],
            None,
            "test",
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let status = |server: &TestServer, token: &str| {
            let req = http
                .get(server.url("/api/v1/messages"))
                .header("authorization", format!("Bearer {token}"));
            async move { req.send().await.unwrap().status().as_u16() }
        };
        // Overlap: both tokens work on both replicas.
        for server in [&one, &two] {
            assert_eq!(status(server, &alice.token).await, 200);
            assert_eq!(status(server, new_secret.expose()).await, 200);
        }
        // The operator finds the old token in the list (with its last use) and revokes it
        // through one replica, authenticated by the new token.
        let listed: serde_json::Value = http
            .get(one.url("/api/v1/tokens"))
            .header("authorization", format!("Bearer {}", new_secret.expose()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = listed
            .get("tokens")
            .unwrap_or(&listed)
            .as_array()
            .expect("a token list")
            .clone();
        assert_eq!(list.len(), 2, "{listed}");
        let old = list
            .iter()
            .find(|t| t["id"] != new_token.id.as_str())
            .expect("the old token is listed");
        assert!(
            old["last_used_at"].is_string(),
            "the old token's last use is shown: {old}"
        );
        let r = http
            .delete(one.url(&format!("/api/v1/tokens/{}", old["id"].as_str().unwrap())))
            .header("authorization", format!("Bearer {}", new_secret.expose()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        // Refused at once on both replicas; the new one goes on working.
        for server in [&two, &one] {
            assert_eq!(status(server, &alice.token).await, 401);
            assert_eq!(status(server, new_secret.expose()).await, 200);
        }
        one.stop().await;
        two.stop().await;
        storage.cleanup().await;
    }
}

/// Rotating the log key: a second key co-signs every checkpoint (same name, another key id), is
/// promoted to primary, and the old key is retired. Verifiers that know only the old key keep
/// verifying until the retirement; verifiers that know only the new one verify from the moment
/// the replicas co-sign. Receipts carry exactly the primary's signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_key_rotation_with_overlap() {
    use sealpost_crypto::note::VerifierKey;
    use sealpost_crypto::tlog::{Checkpoint, verify_receipt};
    use sealpost_server::domain::transparency;

    async fn note(server: &TestServer) -> (String, Vec<String>) {
        let info: serde_json::Value = reqwest::get(server.url("/api/v1/log"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let keys = info["log_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(info["log_key"], info["log_keys"][0]);
        (info["checkpoint"].as_str().unwrap().to_owned(), keys)
    }
    fn verifies(note: &str, vkey: &str) -> bool {
        Checkpoint::verify_note(note, &VerifierKey::from_vkey(vkey).unwrap()).is_ok()
    }
    async fn receipt_verifies(server: &TestServer, alice: &Actor, id: &str, vkey: &str) -> bool {
        let who = accounts::authenticate(&server.services, &alice.token).await.unwrap();
        let text = transparency::receipt(&server.services, &who, id).await.unwrap();
        verify_receipt(&text, &VerifierKey::from_vkey(vkey).unwrap(), &[]).is_ok()
    }

    for backend in backends().await {
        let storage = Storage::new(backend).await;
        let first = TestServer::start(&storage, PART).await;
        let alice = actor(
            &first,
            "org",
            "alice@org.example",
            &[Role::Sender],
            &[Scope::Send, Scope::Read],
            true,
        )
        .await;
        let bob = actor(&first, "org", "bob@org.example", &[Role::Sender], &[Scope::Read], true).await;
        let built = build(&alice, &[To::Account(&bob)], &[b"logged"], T0, 7);
        send(&first, &alice, &built).await;
        let (before, keys) = note(&first).await;
        let old = keys[0].clone();
        assert_eq!(keys.len(), 1);
        assert!(verifies(&before, &old));

        // Step 1: a second key; replicas started afterwards co-sign with it.
        let svc = &first.services;
        let origin = svc.log.signer.origin().to_owned();
        let new = transparency::add_second_key(&svc.db, svc.kek.as_ref(), &origin, T0)
            .await
            .unwrap();
        assert_ne!(new, old);
        assert!(
            transparency::add_second_key(&svc.db, svc.kek.as_ref(), &origin, T0)
                .await
                .is_err()
        );
        let overlap = TestServer::start(&storage, PART).await;
        let (during, keys) = note(&overlap).await;
        assert_eq!(keys, vec![old.clone(), new.clone()]);
        assert!(
            verifies(&during, &old),
            "an old verifier still verifies during the overlap"
        );
        assert!(verifies(&during, &new), "a new verifier verifies during the overlap");
        // A replica not yet restarted still signs with the old key alone: old verifiers accept it.
        assert!(verifies(&note(&first).await.0, &old));
        // Receipts stay verifiable against the primary.
        assert!(receipt_verifies(&overlap, &alice, &built.id(), &old).await);

        // Step 2: promote; both keys still sign.
        let promoted = transparency::promote_second_key(&svc.db, svc.kek.as_ref(), &origin)
            .await
            .unwrap();
        assert_eq!(promoted, new);
        let swapped = TestServer::start(&storage, PART).await;
        let (after_promote, keys) = note(&swapped).await;
        assert_eq!(keys, vec![new.clone(), old.clone()]);
        assert!(verifies(&after_promote, &old) && verifies(&after_promote, &new));
        assert!(receipt_verifies(&swapped, &alice, &built.id(), &new).await);

        // Step 3: retire the old key; only the new one signs.
        assert_eq!(transparency::retire_second_key(&svc.db, &origin).await.unwrap(), old);
        let last = TestServer::start(&storage, PART).await;
        let (after, keys) = note(&last).await;
        assert_eq!(keys, vec![new.clone()]);
        assert!(verifies(&after, &new));
        assert!(!verifies(&after, &old), "the retired key signs no more");
        // One log throughout: the new checkpoint is consistent with the one from before.
        let (a, b) = (
            Checkpoint::verify_note(&before, &VerifierKey::from_vkey(&old).unwrap()).unwrap(),
            Checkpoint::verify_note(&after, &VerifierKey::from_vkey(&new).unwrap()).unwrap(),
        );
        assert_eq!(a.origin, b.origin);
        assert!(b.size >= a.size);

        for server in [first, overlap, swapped, last] {
            server.stop().await;
        }
        storage.cleanup().await;
    }
}
