//! The organisation's pre-send check policy: admins set it, every sender's client fetches and
//! applies it (the checks run on the sender's machine; the server never sees content).

use sealpost_guard::Policy;
use serde::Serialize;

use super::{DomainError, DomainResult, Principal, Role, Scope, Services};
use crate::clock::to_rfc3339;
use crate::db::{DbError, ops, policy as q};

/// Largest policy document accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// The policy in force for an organisation.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    /// The policy document (every field present, defaults filled in).
    pub policy: Policy,
    /// When an admin last set it; absent while the built-in default applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Whether this is the built-in default.
    pub default: bool,
}

/// The policy of the caller's organisation (any authenticated member).
pub async fn get(svc: &Services, who: &Principal) -> DomainResult<PolicyView> {
    match q::get(svc.db.pool(), &who.org_id).await? {
        Some(row) => {
            // Stored policies were validated on the way in; a row that no longer parses is a
            // server fault, never a reason to hand senders a weaker default.
            let policy = Policy::from_json(&row.policy).map_err(|_| DomainError::Unavailable)?;
            Ok(PolicyView {
                policy,
                updated_at: Some(to_rfc3339(row.updated_at)),
                default: false,
            })
        }
        None => Ok(PolicyView {
            policy: Policy::default(),
            updated_at: None,
            default: true,
        }),
    }
}

/// Replaces the organisation's policy (admin role and admin scope). The change is an event in
/// the proof log.
pub async fn put(svc: &Services, who: &Principal, document: &str) -> DomainResult<PolicyView> {
    who.require(Scope::Admin)?;
    if !who.has_role(Role::Admin) {
        return Err(DomainError::Forbidden("changing the policy needs the admin role"));
    }
    if document.len() > MAX_POLICY_BYTES {
        return Err(DomainError::TooLarge(format!(
            "a policy is at most {MAX_POLICY_BYTES} bytes"
        )));
    }
    let policy = Policy::from_json(document).map_err(|e| DomainError::invalid("invalid_policy", e.to_string()))?;
    // Stored in canonical form: every field, defaults filled in.
    let canonical = serde_json::to_string(&policy).map_err(|_| DomainError::Unavailable)?;
    let now = svc.clock.now_ms();
    let actor = who.actor();
    let mut tx = svc.db.begin_write().await?;
    q::put(&mut tx, &who.org_id, &canonical, now, &actor).await?;
    let digest = sealpost_crypto::b64::encode_url(&sealpost_crypto::primitives::sha256(&[canonical.as_bytes()]));
    ops::record(
        &mut tx,
        now,
        &ops::Event::account(
            &who.org_id,
            &actor,
            "policy.updated",
            Some(serde_json::json!({ "sha256": digest })),
        ),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(PolicyView {
        policy,
        updated_at: Some(to_rfc3339(now)),
        default: false,
    })
}
