//! The organisation's pre-send check policy (JSON text, validated by the domain).

use sqlx::Row;

use super::{DbResult, Tx};

/// A stored policy.
#[derive(Debug, Clone)]
pub struct PolicyRow {
    /// The policy document.
    pub policy: String,
    /// When it was last changed.
    pub updated_at: i64,
    /// Who changed it.
    pub updated_by: String,
}

/// The policy of an organisation, if one was set.
pub async fn get(pool: &sqlx::AnyPool, org_id: &str) -> DbResult<Option<PolicyRow>> {
    let row = sqlx::query("SELECT policy, updated_at, updated_by FROM org_policies WHERE org_id = $1")
        .bind(org_id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(PolicyRow {
            policy: r.try_get("policy")?,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by")?,
        })
    })
    .transpose()
}

/// Sets (or replaces) an organisation's policy.
pub async fn put(tx: &mut Tx, org_id: &str, policy: &str, now: i64, actor: &str) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO org_policies (org_id, policy, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(org_id)
    .bind(policy)
    .bind(now)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
