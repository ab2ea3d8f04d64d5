//! Parsing one address as a sender types it (`jane@x.org`, `Jane Doe <jane@x.org>`,
//! `"Doe, Jane" <jane@x.org>`) and normalising its domain (UTS #46 IDNA, decoded to Unicode).

use idna::AsciiDenyList;
use idna::uts46::{DnsLength, Hyphens, Uts46};
use serde::Serialize;

/// The longest address accepted, in bytes of its ASCII (punycode) form (RFC 5321 path limit).
pub const MAX_ADDRESS_LEN: usize = 254;

/// The longest input accepted by [`Address::parse`], display name included, in bytes.
const MAX_INPUT_LEN: usize = 1024;

/// Why a typed address was refused. Each message is one sentence and does not repeat the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("The address is empty.")]
    Empty,
    #[error("The address contains a control character such as a tab or a line break.")]
    ControlCharacter,
    #[error("The address is longer than 254 characters.")]
    TooLong,
    #[error("The address has an unmatched '<' or '>' around it.")]
    Unbalanced,
    #[error("The address contains a space.")]
    Whitespace,
    #[error("The address has no '@' between the name of the mailbox and the domain.")]
    MissingAt,
    #[error("The address has nothing before the '@'.")]
    EmptyLocalPart,
    #[error("The address has nothing after the '@'.")]
    EmptyDomain,
    #[error("The part before the '@' contains a character that is not allowed there without quotes.")]
    InvalidLocalPart,
    #[error("The part after the '@' is not a valid domain name.")]
    InvalidDomain,
}

/// One recipient (or sender) address, normalised for comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Address {
    /// `local@domain`: trimmed, the local part as typed, the domain lower-cased, UTS #46-mapped
    /// and decoded from punycode to Unicode (`jane@xn--bcher-kva.example` → `jane@bücher.example`).
    pub address: String,
    /// The display name, unquoted and trimmed (`"Doe, Jane" <…>` → `Doe, Jane`), if one was given.
    pub name: Option<String>,
}

impl Address {
    /// Parses `jane@x.org`, `Jane Doe <jane@x.org>` or `"Doe, Jane" <jane@x.org>`.
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        if s.chars().any(char::is_control) {
            return Err(AddressError::ControlCharacter);
        }
        let t = s.trim();
        if t.is_empty() {
            return Err(AddressError::Empty);
        }
        if t.len() > MAX_INPUT_LEN {
            return Err(AddressError::TooLong);
        }
        let (name, spec) = match t.strip_suffix('>') {
            Some(inner) => {
                let open = inner.rfind('<').ok_or(AddressError::Unbalanced)?;
                (display_name(&inner[..open]), inner[open + 1..].trim())
            }
            None => (None, t),
        };
        if spec.contains(['<', '>']) {
            return Err(AddressError::Unbalanced);
        }
        let spec = parse_spec(spec)?;
        Ok(Address {
            address: spec.address,
            name,
        })
    }

    /// The part before the last `@` (empty if there is none).
    pub fn local_part(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(l, _)| l)
    }

    /// The normalised (Unicode) domain after the last `@` (empty if there is none).
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// The address with its domain in ASCII (punycode) form, as it goes on the wire; `None` if
    /// the address does not parse (only possible for a hand-built [`Address`]).
    pub fn to_ascii(&self) -> Option<String> {
        parse_spec(&self.address)
            .ok()
            .map(|s| format!("{}@{}", s.local, s.ascii_domain))
    }
}

/// A parsed `local@domain`.
#[derive(Debug)]
pub(crate) struct Spec {
    pub local: String,
    /// Unicode form, lower-cased.
    pub domain: String,
    pub ascii_domain: String,
    /// `local@domain` (Unicode domain).
    pub address: String,
}

fn display_name(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let name = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(quoted) => {
            let mut out = String::with_capacity(quoted.len());
            let mut escaped = false;
            for c in quoted.chars() {
                if escaped || c != '\\' {
                    out.push(c);
                    escaped = false;
                } else {
                    escaped = true;
                }
            }
            out
        }
        None => raw.to_owned(),
    };
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Characters that RFC 5322 allows in a local part only inside quotes.
const LOCAL_SPECIALS: &[char] = &['(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '"'];

/// Parses the bare `local@domain` part.
pub(crate) fn parse_spec(spec: &str) -> Result<Spec, AddressError> {
    if spec.chars().any(char::is_control) {
        return Err(AddressError::ControlCharacter);
    }
    if spec.is_empty() {
        return Err(AddressError::Empty);
    }
    if spec.len() > MAX_ADDRESS_LEN {
        return Err(AddressError::TooLong);
    }
    if spec.chars().any(char::is_whitespace) {
        return Err(AddressError::Whitespace);
    }
    let (local, domain) = spec.rsplit_once('@').ok_or(AddressError::MissingAt)?;
    if local.is_empty() {
        return Err(AddressError::EmptyLocalPart);
    }
    if domain.is_empty() {
        return Err(AddressError::EmptyDomain);
    }
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    if !quoted && local.contains(LOCAL_SPECIALS) {
        return Err(AddressError::InvalidLocalPart);
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let ascii_domain = domain_to_ascii(domain).ok_or(AddressError::InvalidDomain)?;
    if local.len() + 1 + ascii_domain.len() > MAX_ADDRESS_LEN {
        return Err(AddressError::TooLong);
    }
    let unicode = ascii_to_unicode(&ascii_domain).ok_or(AddressError::InvalidDomain)?;
    Ok(Spec {
        local: local.to_owned(),
        address: format!("{local}@{unicode}"),
        domain: unicode,
        ascii_domain,
    })
}

/// UTS #46 to-ASCII with the STD3 (letters, digits, hyphen) rules and DNS length checks.
fn domain_to_ascii(domain: &str) -> Option<String> {
    if domain.is_empty() || domain.starts_with('[') {
        return None;
    }
    Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Allow,
            DnsLength::Verify,
        )
        .ok()
        .map(|c| c.into_owned())
}

fn ascii_to_unicode(ascii: &str) -> Option<String> {
    let (unicode, result) = Uts46::new().to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    result.ok().map(|()| unicode.into_owned())
}

/// A domain as typed (any case, punycode or Unicode, optional trailing dot) in the normalised
/// Unicode form used for comparison; `None` if it is not a valid domain name.
pub(crate) fn normalise_domain(domain: &str) -> Option<String> {
    let d = domain.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    ascii_to_unicode(&domain_to_ascii(d)?)
}
