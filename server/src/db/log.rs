//! The access log's storage: pending events, sequenced entries, Merkle nodes, the log key and
//! witness cosignatures. The sequencing itself (leaf text, chain, hashes) is in
//! `domain::transparency`; every function here is one statement or a small fixed set of them.

use std::collections::HashMap;

use sqlx::Row;

use super::{DbError, DbResult, Tx};

/// An event written by a change, not yet sequenced into the tree.
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// Queue id (also kept on the entry, so a writer finds its entry).
    pub id: i64,
    /// Time (Unix ms).
    pub at: i64,
    /// Organisation.
    pub org_id: Option<String>,
    /// Who.
    pub actor: String,
    /// From where (client IP), when the event came from a request.
    pub source: Option<String>,
    /// What.
    pub kind: String,
    /// Message.
    pub message_id: Option<String>,
    /// Recipient.
    pub rid: Option<String>,
    /// JSON object text.
    pub detail: Option<String>,
}

/// A sequenced entry.
#[derive(Debug, Clone)]
pub struct EntryRow {
    /// Leaf index.
    pub idx: i64,
    /// Time (Unix ms).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub kind: String,
    /// Recipient.
    pub rid: Option<String>,
    /// JSON object text.
    pub detail: Option<String>,
    /// The canonical leaf text (what is hashed).
    pub leaf: Vec<u8>,
}

/// Queues an event in the caller's transaction; returns its queue id.
pub async fn append_pending(tx: &mut Tx, row: &PendingRow) -> DbResult<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO log_pending (at, org_id, actor, source, kind, message_id, rid, detail) \
         VALUES ($1, COALESCE($2, (SELECT org_id FROM messages WHERE id = $6)), $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(row.at)
    .bind(row.org_id.as_deref())
    .bind(&row.actor)
    .bind(row.source.as_deref())
    .bind(&row.kind)
    .bind(row.message_id.as_deref())
    .bind(row.rid.as_deref())
    .bind(row.detail.as_deref())
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Whether anything waits to be sequenced.
pub async fn has_pending(pool: &sqlx::AnyPool) -> DbResult<bool> {
    let row = sqlx::query("SELECT id FROM log_pending LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Takes the sequencer's lock (the one `log_state` row, until the transaction ends) and returns
/// the tree size and frontier.
pub async fn lock_state(tx: &mut Tx) -> DbResult<(u64, Vec<u8>)> {
    let row = sqlx::query("UPDATE log_state SET size = size WHERE id = 1 RETURNING size, frontier")
        .fetch_one(&mut **tx)
        .await?;
    let size: i64 = row.try_get("size")?;
    let frontier: Vec<u8> = row.try_get("frontier")?;
    Ok((to_u64(size)?, frontier))
}

/// The oldest pending events, at most `limit`.
pub async fn take_pending(tx: &mut Tx, limit: i64) -> DbResult<Vec<PendingRow>> {
    let rows = sqlx::query(
        "SELECT id, at, org_id, actor, source, kind, message_id, rid, detail FROM log_pending ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PendingRow {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                org_id: r.try_get("org_id")?,
                actor: r.try_get("actor")?,
                source: r.try_get("source")?,
                kind: r.try_get("kind")?,
                message_id: r.try_get("message_id")?,
                rid: r.try_get("rid")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// The last sequenced entry of a message: its index and leaf hash.
pub async fn chain_head(tx: &mut Tx, message_id: &str) -> DbResult<Option<(u64, [u8; 32])>> {
    head(
        tx,
        "SELECT e.idx, n.hash FROM log_entries e JOIN log_nodes n ON n.id = e.idx \
         WHERE e.message_id = $1 ORDER BY e.idx DESC LIMIT 1",
        message_id,
    )
    .await
}

/// The last sequenced entry of an organisation: its index and leaf hash.
pub async fn org_head(tx: &mut Tx, org_id: &str) -> DbResult<Option<(u64, [u8; 32])>> {
    head(
        tx,
        "SELECT e.idx, n.hash FROM log_entries e JOIN log_nodes n ON n.id = e.idx \
         WHERE e.org_id = $1 ORDER BY e.idx DESC LIMIT 1",
        org_id,
    )
    .await
}

async fn head(tx: &mut Tx, sql: &'static str, key: &str) -> DbResult<Option<(u64, [u8; 32])>> {
    let Some(r) = sqlx::query(sql).bind(key).fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let idx: i64 = r.try_get("idx")?;
    let hash: Vec<u8> = r.try_get("hash")?;
    Ok(Some((to_u64(idx)?, to_hash(&hash)?)))
}

/// Stores one sequenced entry.
pub async fn insert_entry(tx: &mut Tx, idx: u64, pending: &PendingRow, leaf: &[u8]) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO log_entries (idx, pending_id, at, org_id, actor, source, kind, message_id, rid, detail, leaf) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(to_i64(idx)?)
    .bind(pending.id)
    .bind(pending.at)
    .bind(pending.org_id.as_deref())
    .bind(&pending.actor)
    .bind(pending.source.as_deref())
    .bind(&pending.kind)
    .bind(pending.message_id.as_deref())
    .bind(pending.rid.as_deref())
    .bind(pending.detail.as_deref())
    .bind(leaf)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `$first, $first+1, …` for `n` parameters. (sqlx's query builder writes `?` placeholders
/// under the Any driver, which PostgreSQL does not accept.)
fn placeholders(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Stores Merkle nodes (immutable once written).
pub async fn insert_nodes(tx: &mut Tx, nodes: &[(i64, [u8; 32])]) -> DbResult<()> {
    for chunk in nodes.chunks(200) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!("INSERT INTO log_nodes (id, hash) VALUES {}", values.join(", "));
        // Only generated placeholders are interpolated; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, hash) in chunk {
            query = query.bind(*id).bind(hash.to_vec());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Removes sequenced events from the queue: exactly those taken (a row with a smaller id that
/// commits later is sequenced on the next run, not lost).
pub async fn delete_pending(tx: &mut Tx, ids: &[i64]) -> DbResult<()> {
    for chunk in ids.chunks(500) {
        let sql = format!("DELETE FROM log_pending WHERE id IN ({})", placeholders(chunk.len(), 1));
        // Only generated placeholders are interpolated; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Records the new size and frontier.
pub async fn update_state(tx: &mut Tx, size: u64, frontier: &[u8]) -> DbResult<()> {
    sqlx::query("UPDATE log_state SET size = $1, frontier = $2 WHERE id = 1")
        .bind(to_i64(size)?)
        .bind(frontier)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The committed tree size and frontier.
pub async fn state(pool: &sqlx::AnyPool) -> DbResult<(u64, Vec<u8>)> {
    let row = sqlx::query("SELECT size, frontier FROM log_state WHERE id = 1")
        .fetch_one(pool)
        .await?;
    let size: i64 = row.try_get("size")?;
    Ok((to_u64(size)?, row.try_get("frontier")?))
}

/// Node hashes by key; fails if one is missing (the tree would be corrupt).
pub async fn nodes(pool: &sqlx::AnyPool, keys: &[i64]) -> DbResult<HashMap<i64, [u8; 32]>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let sql = format!(
            "SELECT id, hash FROM log_nodes WHERE id IN ({})",
            placeholders(chunk.len(), 1)
        );
        // Only generated placeholders are interpolated; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in chunk {
            query = query.bind(*key);
        }
        for row in query.fetch_all(pool).await? {
            let id: i64 = row.try_get("id")?;
            let hash: Vec<u8> = row.try_get("hash")?;
            out.insert(id, to_hash(&hash)?);
        }
    }
    if let Some(missing) = keys.iter().find(|k| !out.contains_key(k)) {
        return Err(DbError::Corrupt(format!("log node {missing} is missing")));
    }
    Ok(out)
}

/// The entry a writer queued, once sequenced.
pub async fn entry_by_pending(pool: &sqlx::AnyPool, pending_id: i64) -> DbResult<Option<(u64, Vec<u8>)>> {
    let row = sqlx::query("SELECT idx, leaf FROM log_entries WHERE pending_id = $1")
        .bind(pending_id)
        .fetch_optional(pool)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => {
            let idx: i64 = r.try_get("idx")?;
            Ok(Some((to_u64(idx)?, r.try_get("leaf")?)))
        }
    }
}

fn entry_row(r: &sqlx::any::AnyRow) -> DbResult<EntryRow> {
    Ok(EntryRow {
        idx: r.try_get("idx")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        kind: r.try_get("kind")?,
        rid: r.try_get("rid")?,
        detail: r.try_get("detail")?,
        leaf: r.try_get("leaf")?,
    })
}

/// Every sequenced entry of a message below `size`, in order.
pub async fn message_entries(pool: &sqlx::AnyPool, message_id: &str, size: u64) -> DbResult<Vec<EntryRow>> {
    let rows = sqlx::query(
        "SELECT idx, at, actor, kind, rid, detail, leaf FROM log_entries \
         WHERE message_id = $1 AND idx < $2 ORDER BY idx",
    )
    .bind(message_id)
    .bind(to_i64(size)?)
    .fetch_all(pool)
    .await?;
    rows.iter().map(entry_row).collect()
}

/// Entries of an organisation with `from <= idx < to`, in order, at most `limit`.
pub async fn org_entries(
    pool: &sqlx::AnyPool,
    org_id: &str,
    from: u64,
    to: u64,
    limit: i64,
) -> DbResult<Vec<EntryRow>> {
    let rows = sqlx::query(
        "SELECT idx, at, actor, kind, rid, detail, leaf FROM log_entries \
         WHERE org_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx LIMIT $4",
    )
    .bind(org_id)
    .bind(to_i64(from)?)
    .bind(to_i64(to)?)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(entry_row).collect()
}

/// Every leaf with `from <= idx < to`, in order (for audits of the stored tree).
pub async fn leaves(pool: &sqlx::AnyPool, from: u64, to: u64) -> DbResult<Vec<(u64, Vec<u8>)>> {
    let rows = sqlx::query("SELECT idx, leaf FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
        .bind(to_i64(from)?)
        .bind(to_i64(to)?)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let idx: i64 = r.try_get("idx")?;
            Ok((to_u64(idx)?, r.try_get("leaf")?))
        })
        .collect()
}

/// The stored log key for `origin`: public key and wrapped seed.
pub async fn load_key(pool: &sqlx::AnyPool, origin: &str) -> DbResult<Option<(Vec<u8>, Vec<u8>)>> {
    let row = sqlx::query("SELECT public_key, wrapped_seed FROM log_keys WHERE origin = $1")
        .bind(origin)
        .fetch_optional(pool)
        .await?;
    row.map(|r| Ok((r.try_get("public_key")?, r.try_get("wrapped_seed")?)))
        .transpose()
}

/// Stores a new log key unless another replica stored one first.
pub async fn insert_key(pool: &sqlx::AnyPool, origin: &str, public: &[u8], wrapped: &[u8], at: i64) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO log_keys (origin, public_key, wrapped_seed, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (origin) DO NOTHING",
    )
    .bind(origin)
    .bind(public)
    .bind(wrapped)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces a log key row's key if it still holds `old_public` (key rotation); fails otherwise.
pub async fn replace_key(tx: &mut Tx, origin: &str, old_public: &[u8], public: &[u8], wrapped: &[u8]) -> DbResult<()> {
    let done =
        sqlx::query("UPDATE log_keys SET public_key = $1, wrapped_seed = $2 WHERE origin = $3 AND public_key = $4")
            .bind(public)
            .bind(wrapped)
            .bind(origin)
            .bind(old_public)
            .execute(&mut **tx)
            .await?;
    if done.rows_affected() != 1 {
        return Err(DbError::Corrupt(format!("the log key {origin:?} changed meanwhile")));
    }
    Ok(())
}

/// Deletes a log key row (the end of a key rotation).
pub async fn delete_key(pool: &sqlx::AnyPool, origin: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM log_keys WHERE origin = $1")
        .bind(origin)
        .execute(pool)
        .await?;
    Ok(())
}

/// Stores a witness cosignature line.
pub async fn store_cosignature(pool: &sqlx::AnyPool, witness: &str, size: u64, line: &str, at: i64) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO log_cosignatures (witness, size, line, cosigned_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (witness, size) DO UPDATE SET line = excluded.line, cosigned_at = excluded.cosigned_at",
    )
    .bind(witness)
    .bind(to_i64(size)?)
    .bind(line)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The largest size a witness has cosigned for us (0 when none).
pub async fn witness_size(pool: &sqlx::AnyPool, witness: &str) -> DbResult<u64> {
    let size: Option<i64> = sqlx::query_scalar("SELECT MAX(size) FROM log_cosignatures WHERE witness = $1")
        .bind(witness)
        .fetch_one(pool)
        .await?;
    to_u64(size.unwrap_or(0))
}

/// Cosignature lines of the checkpoint of `size`, one per witness.
pub async fn cosignatures(pool: &sqlx::AnyPool, size: u64) -> DbResult<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT witness, line FROM log_cosignatures WHERE size = $1 ORDER BY witness")
        .bind(to_i64(size)?)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("witness")?, r.try_get("line")?)))
        .collect()
}

fn to_u64(v: i64) -> DbResult<u64> {
    u64::try_from(v).map_err(|_| DbError::Corrupt(format!("negative log value {v}")))
}

fn to_i64(v: u64) -> DbResult<i64> {
    i64::try_from(v).map_err(|_| DbError::Corrupt(format!("log value {v} out of range")))
}

fn to_hash(bytes: &[u8]) -> DbResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| DbError::Corrupt("a log hash is not 32 bytes".into()))
}
