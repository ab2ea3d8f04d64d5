//! The local key file: a user's private keys, encrypted under their password as a
//! [`KeyBlob`] (the same blob the server stores for registered users), written with owner-only
//! permissions.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand_core::UnwrapErr;
use sealpost_crypto::b64;
use sealpost_crypto::keyblob::{KdfParams, KeyBlob, UserKeys};

/// Errors of the key-file operations, each with a message fit to show a person.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The key file exists and overwriting was not asked for.
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// The key file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The key file is not a Sealpost key blob.
    #[error("{0} is not a Sealpost key file")]
    NotAKeyFile(PathBuf),
    /// The password did not open the key file.
    #[error("the password does not open this key file")]
    WrongPassword,
    /// The password was refused before use.
    #[error("{0}")]
    BadPassword(&'static str),
    /// A cryptographic operation refused its input.
    #[error("key operation failed: {0}")]
    Crypto(#[from] sealpost_crypto::Error),
}

/// Public facts about a key file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicKeys {
    /// X25519 public key (base64), to which messages are encrypted.
    pub encryption_key: String,
    /// Ed25519 public key (base64), which verifies this user's seals.
    pub signing_key: String,
    /// The recipient id derived from the encryption key (URL-safe base64).
    pub recipient_id: String,
}

impl PublicKeys {
    /// The public keys stated in a blob (the blob binds them; opening it verifies them).
    pub fn of_blob(blob: &KeyBlob) -> Result<Self, KeyFileError> {
        let encryption: [u8; 32] = b64::decode_array(&blob.x25519_pk)?;
        Ok(Self {
            encryption_key: blob.x25519_pk.clone(),
            signing_key: blob.ed25519_pk.clone(),
            recipient_id: sealpost_crypto::recipient::RecipientPublicKey(encryption)
                .rid()
                .to_text(),
        })
    }
}

/// Shortest password accepted for a new key file.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The default key file: `$SEALPOST_KEY_FILE`, else `$XDG_CONFIG_HOME/sealpost/keys.json`, else
/// `~/.config/sealpost/keys.json`.
pub fn default_key_file() -> PathBuf {
    if let Some(path) = std::env::var_os("SEALPOST_KEY_FILE") {
        return PathBuf::from(path);
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    config.join("sealpost").join("keys.json")
}

/// Generates fresh keys, encrypts them under `password` and writes the key file.
pub fn generate(path: &Path, password: &str, params: KdfParams, force: bool) -> Result<PublicKeys, KeyFileError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(KeyFileError::BadPassword(
            "the password must have at least 10 characters",
        ));
    }
    if path.exists() && !force {
        return Err(KeyFileError::Exists(path.to_owned()));
    }
    let mut rng = UnwrapErr(getrandom::SysRng);
    let keys = UserKeys::generate(&mut rng);
    let (blob, _login) = keys.seal(password, params, &mut rng)?;
    write_private(path, &serde_json::to_vec_pretty(&blob).expect("a key blob serialises"))?;
    PublicKeys::of_blob(&blob)
}

/// Reads a key file without opening it.
pub fn read(path: &Path) -> Result<KeyBlob, KeyFileError> {
    let bytes = fs::read(path).map_err(|source| KeyFileError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|_| KeyFileError::NotAKeyFile(path.to_owned()))
}

/// Opens a key file with its password.
pub fn open(path: &Path, password: &str) -> Result<UserKeys, KeyFileError> {
    let blob = read(path)?;
    match blob.open(password) {
        Ok((keys, _login)) => Ok(keys),
        Err(sealpost_crypto::Error::DecryptionFailed) => Err(KeyFileError::WrongPassword),
        Err(other) => Err(other.into()),
    }
}

/// Publishes the key file's public keys for the token's user (`PUT /api/v1/me/keys`), with
/// the password-protected blob and the login key derived from the password, so that the same
/// account can also open messages sent to it in a browser. Opening the blob first proves the
/// password is right; the password itself never leaves this machine.
pub async fn register(client: &crate::api::Client, path: &Path, password: &str) -> crate::Result<serde_json::Value> {
    let blob = read(path)?;
    let (_keys, login) = {
        let blob = blob.clone();
        let password = zeroize::Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || blob.open(&password))
            .await
            .map_err(|e| crate::Error::Invalid(format!("key derivation stopped: {e}")))?
            .map_err(|e| match e {
                sealpost_crypto::Error::DecryptionFailed => KeyFileError::WrongPassword,
                other => KeyFileError::Crypto(other),
            })?
    };
    let body = serde_json::json!({
        "x25519_pk": blob.x25519_pk,
        "ed25519_pk": blob.ed25519_pk,
        "keyblob": blob,
        "login_key": login.to_text().as_str(),
    });
    client.put_keys(&body).await
}

/// Opens a key file with its password, off the async runtime (Argon2id takes a while).
pub async fn open_async(path: &Path, password: &str) -> crate::Result<UserKeys> {
    let path = path.to_owned();
    let password = zeroize::Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || open(&path, &password))
        .await
        .map_err(|e| crate::Error::Invalid(format!("key derivation stopped: {e}")))?
        .map_err(crate::Error::from)
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename), readable by the owner
/// only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let io = |action, source| KeyFileError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| io("create the folder of", e))?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| io("create", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", e))?;
    fs::rename(&tmp, path).map_err(|e| io("replace", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        m_kib: KdfParams::MIN_M_KIB,
        t: 2,
        p: 1,
    };

    #[test]
    fn generate_then_open_with_the_right_password_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/keys.json");
        let public = generate(&path, "correct horse battery", FAST, false).expect("generate");
        let keys = open(&path, "correct horse battery").expect("open");
        assert_eq!(b64::encode(&keys.encryption_public().0), public.encryption_key);
        assert!(matches!(
            open(&path, "wrong password!!"),
            Err(KeyFileError::WrongPassword)
        ));
        assert!(matches!(
            generate(&path, "another password", FAST, false),
            Err(KeyFileError::Exists(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_short_passwords_and_foreign_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.json");
        assert!(matches!(
            generate(&path, "short", FAST, false),
            Err(KeyFileError::BadPassword(_))
        ));
        fs::write(&path, b"{\"hello\": 1}").expect("write");
        assert!(matches!(read(&path), Err(KeyFileError::NotAKeyFile(_))));
    }
}
