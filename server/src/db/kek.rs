//! Stored material wrapped under the server key-encryption key, for key rotation: which key
//! ids it names and, for re-wrapping, the rows not yet under the current key. Each column holds
//! fixed-size wraps, so a wrap that names its key is recognised by its length (`tagged_len`;
//! older wraps are 9 bytes shorter) and its id is bytes 2..9 (`kek::wrapped_key_id`).

use sqlx::Row;

use super::{DbError, DbResult};

/// What a wrapped column holds (and so which associated data opens it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A server share: `recipients.share_ct`, bound to (message id, rid).
    Share,
    /// A recipient's active TOTP seed: `users.totp_secret`, bound to the user id.
    TotpSecret,
    /// A TOTP seed being enrolled: `users.totp_pending`, bound to the user id.
    TotpPending,
    /// The access log's signing key: `log_keys.wrapped_seed`, bound to the origin.
    LogKey,
}

/// A column of wrapped material.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// What it holds.
    pub kind: Kind,
    table: &'static str,
    keys: &'static [&'static str],
    column: &'static str,
    /// Length of a wrap that names its key.
    pub tagged_len: usize,
}

/// Every column the key-encryption key protects.
pub const COLUMNS: [Column; 4] = [
    Column {
        kind: Kind::Share,
        table: "recipients",
        keys: &["message_id", "rid"],
        column: "share_ct",
        tagged_len: 9 + 24 + 32 + 16,
    },
    Column {
        kind: Kind::TotpSecret,
        table: "users",
        keys: &["id"],
        column: "totp_secret",
        tagged_len: 9 + 24 + 20 + 16,
    },
    Column {
        kind: Kind::TotpPending,
        table: "users",
        keys: &["id"],
        column: "totp_pending",
        tagged_len: 9 + 24 + 20 + 16,
    },
    Column {
        kind: Kind::LogKey,
        table: "log_keys",
        keys: &["origin"],
        column: "wrapped_seed",
        tagged_len: 9 + 24 + 32 + 16,
    },
];

/// A stored wrap: its row key (one or two columns; the second empty for one) and its bytes.
#[derive(Debug, Clone)]
pub struct Wrapped {
    /// First key column.
    pub key1: String,
    /// Second key column ("" when the table has one).
    pub key2: String,
    /// The wrap.
    pub wrapped: Vec<u8>,
}

/// The distinct key ids named by stored wraps (8 bytes each).
pub async fn stored_key_ids(pool: &sqlx::AnyPool) -> DbResult<Vec<Vec<u8>>> {
    let mut ids: Vec<Vec<u8>> = Vec::new();
    for c in COLUMNS {
        let sql = format!(
            "SELECT DISTINCT substr({col}, 2, 8) AS id FROM {table} WHERE {col} IS NOT NULL AND length({col}) = {len}",
            col = c.column,
            table = c.table,
            len = c.tagged_len
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
            let id: Vec<u8> = row.try_get("id")?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// `col IS NOT NULL AND it is not a wrap naming key $1`.
fn not_current(c: &Column) -> String {
    format!(
        "{col} IS NOT NULL AND (length({col}) <> {len} OR substr({col}, 2, 8) <> $1)",
        col = c.column,
        len = c.tagged_len
    )
}

/// How many wraps in the column are not under the key `current`.
pub async fn count_not_current(pool: &sqlx::AnyPool, c: &Column, current: &[u8]) -> DbResult<u64> {
    let sql = format!("SELECT COUNT(*) AS n FROM {} WHERE {}", c.table, not_current(c));
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(current)
        .fetch_one(pool)
        .await?
        .try_get("n")?;
    u64::try_from(n).map_err(|_| DbError::Corrupt(format!("negative count {n}")))
}

/// Up to `limit` wraps not under `current`, in key order after (`key1`, `key2`).
pub async fn not_current_after(
    pool: &sqlx::AnyPool,
    c: &Column,
    current: &[u8],
    after: (&str, &str),
    limit: i64,
) -> DbResult<Vec<Wrapped>> {
    let (after_sql, order) = match c.keys {
        [k1] => (format!("{k1} > $2"), (*k1).to_owned()),
        [k1, k2] => (
            format!("({k1} > $2 OR ({k1} = $2 AND {k2} > $3))"),
            format!("{k1}, {k2}"),
        ),
        _ => return Err(DbError::Corrupt("wrapped column with an unexpected key".into())),
    };
    let limit_param = c.keys.len() + 2;
    let sql = format!(
        "SELECT {order} , {col} AS wrapped FROM {table} WHERE {cond} AND {after_sql} ORDER BY {order} LIMIT ${limit_param}",
        col = c.column,
        table = c.table,
        cond = not_current(c),
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(current).bind(after.0);
    if c.keys.len() == 2 {
        query = query.bind(after.1);
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(Wrapped {
                key1: r.try_get(c.keys[0])?,
                key2: if c.keys.len() == 2 {
                    r.try_get(c.keys[1])?
                } else {
                    String::new()
                },
                wrapped: r.try_get("wrapped")?,
            })
        })
        .collect()
}

/// Replaces one wrap if it is still `old` (a row released, revoked or re-enrolled meanwhile is
/// left alone). Returns whether it was replaced.
pub async fn replace(pool: &sqlx::AnyPool, c: &Column, row: &Wrapped, new: &[u8]) -> DbResult<bool> {
    let (key_sql, next) = match c.keys {
        [k1] => (format!("{k1} = $2"), 3),
        [k1, k2] => (format!("{k1} = $2 AND {k2} = $3"), 4),
        _ => return Err(DbError::Corrupt("wrapped column with an unexpected key".into())),
    };
    let sql = format!(
        "UPDATE {table} SET {col} = $1 WHERE {key_sql} AND {col} = ${next}",
        table = c.table,
        col = c.column
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(new).bind(row.key1.as_str());
    if c.keys.len() == 2 {
        query = query.bind(row.key2.as_str());
    }
    let done = query.bind(row.wrapped.as_slice()).execute(pool).await?;
    Ok(done.rows_affected() == 1)
}
