//! Rate limits kept in the database: fixed one-minute windows shared by every replica.

use super::{DomainError, DomainResult, Services};
use crate::db::ops;

const WINDOW_MS: i64 = 60_000;

/// Counts one request against `bucket` and refuses it when the window already holds `limit`.
pub async fn check(svc: &Services, bucket: &str, limit: u32) -> DomainResult<()> {
    check_window(svc, bucket, limit, WINDOW_MS).await
}

/// Like [`check`] with a fixed window of `window_ms` (an hour, a day).
pub async fn check_window(svc: &Services, bucket: &str, limit: u32, window_ms: i64) -> DomainResult<()> {
    let now = svc.clock.now_ms();
    let window = now - now.rem_euclid(window_ms);
    let hits = ops::hit(svc.db.pool(), bucket, window).await?;
    if hits > i64::from(limit) {
        let retry_after = ((window + window_ms - now) / 1000).max(1);
        return Err(DomainError::RateLimited(u64::try_from(retry_after).unwrap_or(60)));
    }
    Ok(())
}

/// Per-token limit.
pub async fn per_token(svc: &Services, token_id: &str) -> DomainResult<()> {
    check(svc, &format!("token:{token_id}"), svc.limits.token_requests_per_minute).await
}

/// Per-client-IP limit for unauthenticated or failed requests.
pub async fn per_ip(svc: &Services, ip: std::net::IpAddr) -> DomainResult<()> {
    check(svc, &format!("ip:{ip}"), svc.limits.ip_requests_per_minute).await
}

/// Drops windows older than two days (the longest window is a day).
pub async fn prune(svc: &Services) -> DomainResult<u64> {
    Ok(ops::prune_counters(svc.db.pool(), svc.clock.now_ms() - 2 * 24 * 60 * WINDOW_MS).await?)
}
