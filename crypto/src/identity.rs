//! Unwrapping the file key from a header: the [`Identity`] abstraction shared by the Sealpost
//! stanza and the plain age X25519 stanza.

use crate::header::{Header, Stanza};
use crate::secrets::FileKey;
use crate::{Error, Result};

/// Something that may be able to unwrap the file key from one stanza.
pub trait Identity {
    /// `None` if the stanza is not addressed to this identity (unknown type, other recipient);
    /// `Some(Err(_))` if it is of this identity's type but malformed, or addressed to it and
    /// fails to open; `Some(Ok(_))` with the file key otherwise.
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>>;
}

/// Finds the file key in `header` for `identity`, then verifies the header MAC with it, before
/// any payload is touched.
pub fn unwrap_file_key(header: &Header, identity: &dyn Identity) -> Result<FileKey> {
    let file_key = find_file_key(header, identity)?;
    header.verify_mac(&file_key)?;
    Ok(file_key)
}

/// Finds the file key without checking the MAC. Callers must call [`Header::verify_mac`] before
/// using the key; [`unwrap_file_key`] does both.
pub fn find_file_key(header: &Header, identity: &dyn Identity) -> Result<FileKey> {
    for stanza in header.stanzas() {
        if let Some(result) = identity.unwrap_stanza(stanza) {
            return result;
        }
    }
    Err(Error::NoMatch)
}
