//! The client's configuration file: server URL, API token and key file, written by
//! `sealpost init` readable by its owner only.
//!
//! Location: `$SEALPOST_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/sealpost/config.toml`, else
//! `~/.config/sealpost/config.toml`. `SEALPOST_SERVER`, `SEALPOST_TOKEN` and
//! `SEALPOST_KEY_FILE` override what the file says, so that scripts and CI need no file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::{ApiToken, Client};
use crate::error::{Error, Result};

/// The configuration as stored.
#[derive(Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The server URL.
    pub server: Option<String>,
    /// The API token (`sp_…`).
    pub token: Option<Zeroizing<String>>,
    /// The key file, if not the default.
    pub key_file: Option<PathBuf>,
    /// The server's access-log key, pinned by `sealpost init` (trust on first use): receipts
    /// and release proofs are checked against it.
    pub log_key: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .field("log_key", &self.log_key)
            .finish()
    }
}

fn config_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("sealpost")
}

/// The configuration file's path.
pub fn default_path() -> PathBuf {
    std::env::var_os("SEALPOST_CLIENT_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| config_dir().join("config.toml"))
}

/// Where interrupted sends keep what they need to resume: `$XDG_STATE_HOME/sealpost/sends`,
/// else `~/.local/state/sealpost/sends` (or `$SEALPOST_STATE_DIR`).
pub fn state_dir() -> PathBuf {
    if std::env::var_os("SEALPOST_STATE_DIR").is_some() {
        return state_root();
    }
    state_root().join("sends")
}

/// The tool's state folder: `$SEALPOST_STATE_DIR`, else `$XDG_STATE_HOME/sealpost`, else
/// `~/.local/state/sealpost`. Resume files, the contact history and the policy cache live here.
pub fn state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("SEALPOST_STATE_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("sealpost")
}

impl Profile {
    /// Reads the file at `path`; a missing file is an empty profile.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::file("read", path, e)),
        };
        toml::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "{} is not a valid configuration file: {}",
                path.display(),
                e.message()
            ))
        })
    }

    /// The file's profile with the `SEALPOST_SERVER`, `SEALPOST_TOKEN` and `SEALPOST_KEY_FILE`
    /// overrides applied.
    pub fn load_effective(path: &Path) -> Result<Self> {
        let mut profile = Self::load(path)?;
        if let Some(server) = std::env::var("SEALPOST_SERVER").ok().filter(|s| !s.is_empty()) {
            profile.server = Some(server);
        }
        if let Some(token) = std::env::var("SEALPOST_TOKEN").ok().filter(|s| !s.is_empty()) {
            profile.token = Some(Zeroizing::new(token));
        }
        if let Some(file) = std::env::var_os("SEALPOST_KEY_FILE").filter(|s| !s.is_empty()) {
            profile.key_file = Some(PathBuf::from(file));
        }
        Ok(profile)
    }

    /// Writes the profile to `path` atomically, readable and writable by the owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = Zeroizing::new(toml::to_string(self).map_err(|e| Error::Config(e.to_string()))?);
        write_private(path, text.as_bytes())
    }

    /// A client of the configured server with the configured token.
    pub fn client(&self) -> Result<Client> {
        let server = self.server.as_deref().ok_or_else(|| {
            Error::Config("no server configured: run `sealpost init --server URL` or set SEALPOST_SERVER".into())
        })?;
        Client::new(server, self.token.as_ref().map(|t| ApiToken::new(t.to_string())))
    }

    /// The key file to use: the configured one, else the default of [`crate::keys`].
    pub fn key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(crate::keys::default_key_file)
    }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename), mode 0600.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::file("create the folder of", path, e))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| Error::file("create", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::file("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::file("replace", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_owner_only_and_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/config.toml");
        let profile = Profile {
            server: Some("http://127.0.0.1:8080".into()),
            token: Some(Zeroizing::new("sp_secret".into())),
            key_file: None,
            log_key: None,
        };
        profile.save(&path).expect("save");
        let back = Profile::load(&path).expect("load");
        assert_eq!(back.server.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(back.token.as_deref().map(String::as_str), Some("sp_secret"));
        assert!(
            !format!("{back:?}").contains("sp_secret"),
            "Debug must not show the token"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_broken_file_is_a_sentence() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "server = 3\n").expect("write");
        let err = Profile::load(&path).expect_err("invalid");
        assert!(err.to_string().contains("is not a valid configuration file"), "{err}");
    }
}
