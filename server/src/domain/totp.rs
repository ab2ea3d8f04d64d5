//! TOTP (RFC 6238) for registered recipients: enrolment with an otpauth URI and a QR code,
//! verification with one step of skew where a step that succeeded is never accepted again,
//! and single-use recovery codes stored only as hashes.
//!
//! Parameters are the ones every authenticator app supports: HMAC-SHA-1, 30-second steps,
//! 6 digits, a 160-bit seed from the OS generator. The seed is wrapped at rest under the server
//! key-encryption key (label `totp`, bound to the user id).

use qrcode::QrCode;
use qrcode::render::svg;
use sealpost_crypto::primitives::sha256;
use serde::Serialize;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Totp};
use zeroize::Zeroizing;

use super::{DomainError, DomainResult, Principal, Services};
use crate::db::{DbError, access as q};
use crate::ids;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u8 = 6;
/// Seed length in bytes (160 bits, RFC 4226 §4's recommendation).
pub const SEED_LEN: usize = 20;
/// Recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "Sealpost";
const KEK_LABEL: &str = "totp";

/// The authenticator for `seed`, labelled with the account's address.
pub fn authenticator(seed: &[u8], account: &str) -> DomainResult<Totp> {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(seed.to_vec())
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "TOTP parameters refused");
            DomainError::Unavailable
        })
}

/// Checks `code` at `now_secs` with one step of skew either way; the matched step, if any.
/// Codes are compared as digit strings; anything but exactly six digits never matches.
pub fn check(totp: &Totp, code: &str, now_secs: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let code = code.as_str();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let origin = now_secs / STEP_SECS;
    let mut matched = None;
    // Every candidate is computed and compared, so the time taken does not say which matched.
    for step in origin.saturating_sub(1)..=origin + 1 {
        let expected = totp.generate(step * STEP_SECS).to_string();
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(step);
        }
    }
    matched
}

/// What a user needs to enrol an authenticator app.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    /// The seed in base32 (RFC 4648, no padding), for typing into an app.
    pub secret: String,
    /// `otpauth://totp/…` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
    /// Algorithm, digits, period.
    pub algorithm: &'static str,
    /// Digits per code.
    pub digits: u8,
    /// Seconds per code.
    pub period: u64,
}

/// Starts (or restarts) enrolment: a new seed, pending until a code from it is confirmed.
pub async fn begin_enrolment(svc: &Services, who: &Principal) -> DomainResult<Enrolment> {
    who.require(super::Scope::Keys)?;
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    ids::fill_random(seed.as_mut())?;
    let row = q::totp(svc.db.pool(), &who.user_id)
        .await?
        .ok_or(DomainError::NotFound)?;
    let totp = authenticator(seed.as_ref(), &row.address)?;
    let otpauth_uri = totp.to_url().map_err(|_| DomainError::Unavailable)?;
    let qr = QrCode::new(otpauth_uri.as_bytes()).map_err(|_| DomainError::Unavailable)?;
    let qr_svg = qr.render::<svg::Color<'_>>().min_dimensions(200, 200).build();
    let wrapped = svc.kek.wrap_secret(KEK_LABEL, who.user_id.as_bytes(), seed.as_ref())?;
    q::set_totp_pending(svc.db.pool(), &who.user_id, &wrapped).await?;
    Ok(Enrolment {
        secret: totp.secret().to_base32(),
        otpauth_uri,
        qr_svg,
        algorithm: "SHA1",
        digits: DIGITS,
        period: STEP_SECS,
    })
}

/// Confirms enrolment with a code from the new seed; returns the recovery codes (shown once).
pub async fn confirm_enrolment(svc: &Services, who: &Principal, code: &str) -> DomainResult<Vec<String>> {
    who.require(super::Scope::Keys)?;
    let row = q::totp(svc.db.pool(), &who.user_id)
        .await?
        .ok_or(DomainError::NotFound)?;
    let Some(pending) = row.pending else {
        return Err(DomainError::conflict(
            "no_enrolment",
            "start enrolment first (POST /api/v1/me/totp)",
        ));
    };
    let seed = svc.kek.unwrap_secret(KEK_LABEL, who.user_id.as_bytes(), &pending)?;
    let totp = authenticator(&seed, &row.address)?;
    let now = svc.clock.now_ms();
    let Some(step) = check(&totp, code, now_secs(now)) else {
        return Err(DomainError::invalid(
            "wrong_code",
            "the code does not match; check the authenticator app's clock and enter the current code",
        ));
    };
    let codes = (0..RECOVERY_CODES)
        .map(|_| new_recovery_code())
        .collect::<Result<Vec<_>, _>>()?;
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| recovery_hash(&who.user_id, c)).collect();
    let mut tx = svc.db.begin_write().await?;
    let step = i64::try_from(step).map_err(|_| DomainError::Unavailable)?;
    if !q::enable_totp(&mut tx, &who.user_id, &pending, step, &hashes, now).await? {
        return Err(DomainError::conflict(
            "no_enrolment",
            "the enrolment changed meanwhile; start again",
        ));
    }
    crate::db::ops::record(
        &mut tx,
        now,
        &crate::db::ops::Event::account(&who.org_id, &who.actor(), "totp.enrolled", None),
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(codes)
}

/// Seconds since the epoch of a millisecond time (never negative).
pub fn now_secs(now_ms: i64) -> u64 {
    u64::try_from(now_ms / 1000).unwrap_or(0)
}

/// A recovery code: 80 bits as four groups of four Crockford base32 characters.
fn new_recovery_code() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 16];
    ids::fill_random(&mut bytes)?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// Normalises a typed recovery code (case, separators, the letters Crockford maps to digits).
pub fn normalise_recovery_code(text: &str) -> Option<String> {
    let code: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == 16 && code.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(code)
}

/// The stored form of a recovery code.
pub fn recovery_hash(user_id: &str, code: &str) -> [u8; 32] {
    let normal = normalise_recovery_code(code).unwrap_or_default();
    sha256(&[
        b"sealpost.org/v1/recovery-code\0",
        user_id.as_bytes(),
        b"\0",
        normal.as_bytes(),
    ])
}

/// Unwraps a user's active seed.
pub fn seed(svc: &Services, user_id: &str, wrapped: &[u8]) -> DomainResult<Zeroizing<Vec<u8>>> {
    Ok(svc.kek.unwrap_secret(KEK_LABEL, user_id.as_bytes(), wrapped)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_have_80_bits_in_groups_and_normalise() {
        let code = new_recovery_code().unwrap();
        assert_eq!(code.len(), 19);
        assert_eq!(code.matches('-').count(), 3);
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(recovery_hash("u", &typed), recovery_hash("u", &code));
        assert_ne!(recovery_hash("u", &code), recovery_hash("v", &code));
        assert!(normalise_recovery_code("short").is_none());
    }

    #[test]
    fn check_accepts_one_step_of_skew_only() {
        let totp = authenticator(b"12345678901234567890", "a@example.org").unwrap();
        let at = 1_111_111_109u64;
        let code = totp.generate(at).to_string();
        assert_eq!(check(&totp, &code, at), Some(at / 30));
        assert_eq!(check(&totp, &code, at + 30), Some(at / 30));
        assert_eq!(check(&totp, &code, at - 30), Some(at / 30));
        assert_eq!(check(&totp, &code, at + 90), None);
        assert_eq!(check(&totp, "12345", at), None);
        assert_eq!(check(&totp, "abcdef", at), None);
    }
}
