//! Secret byte strings: no `Display`, a redacted `Debug`, zeroized on drop, compared in constant
//! time.

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

macro_rules! secret_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps bytes that the caller already holds.
            pub fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Wraps a slice of exactly [`Self::LEN`] bytes.
            pub fn try_from_slice(bytes: &[u8]) -> crate::Result<Self> {
                let array: [u8; $len] = bytes
                    .try_into()
                    .map_err(|_| crate::Error::Malformed(concat!(stringify!($name), " has the wrong length")))?;
                Ok(Self(array))
            }

            /// Fresh random bytes from a cryptographic RNG.
            pub fn random(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
                let mut bytes = [0u8; $len];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The secret bytes. Every call site is a place where the secret leaves its wrapper.
            pub fn expose_secret(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl Eq for $name {}
    };
}

secret_bytes!(
    /// The 16-byte age file key from which the header MAC key and every payload key derive.
    FileKey,
    16
);
secret_bytes!(
    /// A recipient's share `rshare_i`; travels HPKE-sealed to the recipient inside the header.
    RecipientShare,
    32
);
secret_bytes!(
    /// The server's share `sshare_i`; held only by the server and released after verification.
    /// Destroying it makes the message unopenable for that recipient.
    ServerShare,
    32
);
secret_bytes!(
    /// A 32-byte symmetric key (KEKs, payload keys, key-blob wrap keys, login keys).
    SymmetricKey,
    32
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = FileKey::from_bytes([0x41; 16]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "FileKey(<redacted>)");
        assert!(!shown.contains("41"));
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(ServerShare::from_bytes([1; 32]), ServerShare::from_bytes([1; 32]));
        assert_ne!(ServerShare::from_bytes([1; 32]), ServerShare::from_bytes([2; 32]));
    }
}
