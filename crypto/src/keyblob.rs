//! Password-protected private keys and the login key (zero-knowledge towards the server).
//!
//! ```text
//! pw       = NFC(password) as UTF-8                      (RFC 8265 OpaqueString normalisation)
//! ikm      = Argon2id v1.3(pw, salt(16), m, t, p, 32 bytes)
//! wrap_key = HKDF-SHA256(ikm, salt = "", info = "sealpost.org/v1/keyblob")
//! login    = HKDF-SHA256(ikm, salt = "", info = "sealpost.org/v1/login")
//! aad      = "sealpost.org/v1/keyblob" ‖ 0x00 ‖ x25519_pk ‖ ed25519_pk ‖ BE32(m) ‖ BE32(t) ‖ BE32(p) ‖ salt
//! ct       = XChaCha20-Poly1305(wrap_key, nonce(24), aad, x25519_sk ‖ ed25519_seed)
//! ```
//!
//! The server stores the blob and a hash of `login`; it never sees the password, `ikm` or
//! `wrap_key`, and `login` reveals nothing about `wrap_key` (independent HKDF outputs).

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, Zeroizing};

use crate::primitives::{ed25519_public, hkdf_sha256_32, x25519_base, xchacha20poly1305_open, xchacha20poly1305_seal};
use crate::recipient::{RecipientPublicKey, RecipientSecretKey};
use crate::secrets::SymmetricKey;
use crate::{Error, Result, b64};

const BLOB_LABEL: &[u8] = b"sealpost.org/v1/keyblob";
const LOGIN_LABEL: &[u8] = b"sealpost.org/v1/login";

/// Argon2id cost parameters, stored with every blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };
    /// The floor (OWASP): 19 MiB and 2 passes.
    pub const MIN_M_KIB: u32 = 19 * 1024;
    /// Fewest passes accepted.
    pub const MIN_T: u32 = 2;
    /// The cap, so a server cannot make clients burn memory: 1 GiB.
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// Most passes accepted.
    pub const MAX_T: u32 = 10;
    /// Most lanes accepted.
    pub const MAX_P: u32 = 16;

    /// Refuses parameters below the floor or above the cap.
    pub fn check(&self) -> Result<()> {
        if self.m_kib < Self::MIN_M_KIB || self.t < Self::MIN_T {
            return Err(Error::KdfParameters("below the minimum of m = 19 MiB, t = 2"));
        }
        if self.m_kib > Self::MAX_M_KIB || self.t > Self::MAX_T || self.p == 0 || self.p > Self::MAX_P {
            return Err(Error::KdfParameters("above the cap of m = 1 GiB, t = 10, p = 16"));
        }
        if self.m_kib < 8 * self.p {
            return Err(Error::KdfParameters("memory must be at least 8 KiB per lane"));
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The two keys derived from a password.
pub struct PasswordKeys {
    wrap: SymmetricKey,
    login: LoginKey,
}

impl core::fmt::Debug for PasswordKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PasswordKeys(<redacted>)")
    }
}

impl PasswordKeys {
    /// Runs Argon2id over the normalised password and splits the result with HKDF.
    pub fn derive(password: &str, salt: &[u8; 16], params: KdfParams) -> Result<Self> {
        params.check()?;
        if password.is_empty() {
            return Err(Error::InvalidArgument("empty password"));
        }
        let normalised: Zeroizing<String> = Zeroizing::new(password.nfc().collect());
        let ikm = argon2id(normalised.as_bytes(), salt, params)?;
        Ok(Self {
            wrap: SymmetricKey::from_bytes(*hkdf_sha256_32(ikm.as_ref(), b"", BLOB_LABEL)),
            login: LoginKey(SymmetricKey::from_bytes(*hkdf_sha256_32(
                ikm.as_ref(),
                b"",
                LOGIN_LABEL,
            ))),
        })
    }

    /// The login key, which the client sends to the server.
    pub fn login(&self) -> &LoginKey {
        &self.login
    }
}

/// Raw Argon2id v1.3 with a 32-byte output, as the format uses it.
pub fn argon2id(password: &[u8], salt: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|_| Error::KdfParameters("rejected by Argon2"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, salt, out.as_mut())
        .map_err(|_| Error::KdfParameters("rejected by Argon2"))?;
    Ok(out)
}

/// The password-derived login key. The server keeps only a hash of it (format.md §8).
pub struct LoginKey(SymmetricKey);

impl core::fmt::Debug for LoginKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LoginKey(<redacted>)")
    }
}

impl LoginKey {
    /// Standard base64, for the login request body.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(b64::encode(self.0.expose_secret()))
    }

    /// The raw key.
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

/// A user's two private keys: X25519 for receiving, Ed25519 for signing seals.
pub struct UserKeys {
    /// The X25519 key messages are encrypted to.
    pub encryption: RecipientSecretKey,
    /// The Ed25519 seed that signs the sender's seals.
    pub signing: SymmetricKey,
}

impl core::fmt::Debug for UserKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UserKeys")
            .field("encryption", &self.encryption.public())
            .finish_non_exhaustive()
    }
}

impl UserKeys {
    /// Fresh random keys.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self {
            encryption: RecipientSecretKey::generate(rng),
            signing: SymmetricKey::random(rng),
        }
    }

    /// The public encryption key.
    pub fn encryption_public(&self) -> RecipientPublicKey {
        self.encryption.public()
    }

    /// The public signing key.
    pub fn signing_public(&self) -> [u8; 32] {
        ed25519_public(self.signing.expose_secret())
    }

    /// Encrypts the keys under a password; returns the blob and the login key for registration.
    pub fn seal(&self, password: &str, params: KdfParams, rng: &mut impl CryptoRng) -> Result<(KeyBlob, LoginKey)> {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let keys = PasswordKeys::derive(password, &salt, params)?;
        let x25519_pk = self.encryption_public().0;
        let ed25519_pk = self.signing_public();
        let aad = blob_aad(&x25519_pk, &ed25519_pk, &params, &salt);
        let mut plaintext = Zeroizing::new([0u8; 64]);
        plaintext[..32].copy_from_slice(self.encryption.expose_secret());
        plaintext[32..].copy_from_slice(self.signing.expose_secret());
        let ct = xchacha20poly1305_seal(keys.wrap.expose_secret(), &nonce, &aad, plaintext.as_ref());
        let blob = KeyBlob {
            v: 1,
            kdf: KdfSpec {
                alg: "argon2id".into(),
                version: 0x13,
                m_kib: params.m_kib,
                t: params.t,
                p: params.p,
                salt: b64::encode(&salt),
            },
            x25519_pk: b64::encode(&x25519_pk),
            ed25519_pk: b64::encode(&ed25519_pk),
            nonce: b64::encode(&nonce),
            ct: b64::encode(&ct),
        };
        Ok((blob, keys.login))
    }
}

fn blob_aad(x25519_pk: &[u8; 32], ed25519_pk: &[u8; 32], params: &KdfParams, salt: &[u8; 16]) -> Vec<u8> {
    [
        BLOB_LABEL,
        &[0],
        x25519_pk,
        ed25519_pk,
        &params.m_kib.to_be_bytes(),
        &params.t.to_be_bytes(),
        &params.p.to_be_bytes(),
        salt,
    ]
    .concat()
}

/// The Argon2id description stored in a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfSpec {
    /// Always `argon2id`.
    pub alg: String,
    /// Argon2 version, 0x13 (19).
    pub version: u32,
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// 16-byte random salt, base64.
    pub salt: String,
}

impl KdfSpec {
    /// The checked parameters and salt.
    pub fn params(&self) -> Result<(KdfParams, [u8; 16])> {
        if self.alg != "argon2id" || self.version != 0x13 {
            return Err(Error::KdfParameters("only Argon2id v1.3 is supported"));
        }
        let params = KdfParams {
            m_kib: self.m_kib,
            t: self.t,
            p: self.p,
        };
        params.check()?;
        Ok((params, b64::decode_array(&self.salt)?))
    }

    /// Derives both password keys from this KDF description alone (the `prelogin` answer), so a
    /// client can sign in with [`PasswordKeys::login`] and later open the blob with
    /// [`KeyBlob::open_with`] at the cost of one Argon2id run.
    pub fn derive(&self, password: &str) -> Result<PasswordKeys> {
        let (params, salt) = self.params()?;
        PasswordKeys::derive(password, &salt, params)
    }
}

/// A user's private keys encrypted under their password; opaque to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBlob {
    /// Format version, 1.
    pub v: u32,
    /// How the password is stretched.
    pub kdf: KdfSpec,
    /// X25519 public key, base64.
    pub x25519_pk: String,
    /// Ed25519 public key, base64.
    pub ed25519_pk: String,
    /// 24-byte XChaCha20 nonce, base64.
    pub nonce: String,
    /// Encrypted `x25519_sk ‖ ed25519_seed` with its tag (80 bytes), base64.
    pub ct: String,
}

impl KeyBlob {
    /// Derives the password keys and opens the blob; checks that the secrets match the public
    /// keys. A wrong password is [`Error::DecryptionFailed`].
    pub fn open(&self, password: &str) -> Result<(UserKeys, LoginKey)> {
        if self.v != 1 {
            return Err(Error::Malformed("unsupported key blob version"));
        }
        let keys = self.kdf.derive(password)?;
        Ok((self.open_with(&keys)?, keys.login))
    }

    /// Opens the blob with password keys already derived (by [`KdfSpec::derive`], from the same
    /// KDF description). Keys derived with another salt or other parameters fail with
    /// [`Error::DecryptionFailed`], since both are bound into the AAD and the wrap key.
    pub fn open_with(&self, keys: &PasswordKeys) -> Result<UserKeys> {
        if self.v != 1 {
            return Err(Error::Malformed("unsupported key blob version"));
        }
        let (params, salt) = self.kdf.params()?;
        let x25519_pk: [u8; 32] = b64::decode_array(&self.x25519_pk)?;
        let ed25519_pk: [u8; 32] = b64::decode_array(&self.ed25519_pk)?;
        let nonce: [u8; 24] = b64::decode_array(&self.nonce)?;
        let ct: [u8; 80] = b64::decode_array(&self.ct)?;
        let aad = blob_aad(&x25519_pk, &ed25519_pk, &params, &salt);
        let plaintext = xchacha20poly1305_open(keys.wrap.expose_secret(), &nonce, &aad, &ct)?;
        let mut x_sk: [u8; 32] = plaintext[..32].try_into().expect("64-byte plaintext");
        let signing = SymmetricKey::try_from_slice(&plaintext[32..])?;
        let encryption = RecipientSecretKey::from_bytes(x_sk);
        x_sk.zeroize();
        if x25519_base(encryption.expose_secret()) != x25519_pk || ed25519_public(signing.expose_secret()) != ed25519_pk
        {
            return Err(Error::DecryptionFailed);
        }
        Ok(UserKeys { encryption, signing })
    }

    /// The login key alone (for signing in before the blob is needed).
    pub fn login_key(&self, password: &str) -> Result<LoginKey> {
        let (params, salt) = self.kdf.params()?;
        Ok(PasswordKeys::derive(password, &salt, params)?.login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_derived_from_the_kdf_alone_sign_in_and_open_the_blob() {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let params = KdfParams {
            m_kib: KdfParams::MIN_M_KIB,
            t: KdfParams::MIN_T,
            p: 1,
        };
        let user = UserKeys::generate(&mut rng);
        let (blob, login) = user.seal("correct horse", params, &mut rng).unwrap();
        let keys = blob.kdf.derive("correct horse").unwrap();
        assert_eq!(keys.login().expose_secret(), login.expose_secret());
        let opened = blob.open_with(&keys).unwrap();
        assert_eq!(opened.encryption_public(), user.encryption_public());
        assert_eq!(opened.signing_public(), user.signing_public());
        // A wrong password, or keys derived under another salt, do not open it.
        let wrong = blob.kdf.derive("correct horsf").unwrap();
        assert_eq!(blob.open_with(&wrong).err(), Some(Error::DecryptionFailed));
        let mut other_salt = blob.kdf.clone();
        other_salt.salt = b64::encode(&[7u8; 16]);
        let other = other_salt.derive("correct horse").unwrap();
        assert_eq!(blob.open_with(&other).err(), Some(Error::DecryptionFailed));
        assert!(blob.kdf.derive("").is_err());
    }
}
