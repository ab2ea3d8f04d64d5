//! The age v1 header: grammar, canonical encoding and header MAC (C2SP age §"Header").
//!
//! ```text
//! age-encryption.org/v1\n
//! -> ARG ARG ...\n            (one or more stanzas; ARG = 1*VCHAR)
//! BASE64 BODY\n               (full lines of exactly 64 columns, then one line of 0..=63)
//! --- BASE64(HMAC-SHA256)\n
//! ```
//!
//! Parsing is strict: LF only, canonical unpadded base64, no empty arguments, no over-long or
//! extra short body lines. The MAC covers every byte up to and including `---`.

use crate::primitives::{hkdf_sha256_32, hmac_sha256, hmac_sha256_verify};
use crate::secrets::FileKey;
use crate::{Error, Result, b64};

/// The version line, without its line feed.
pub const VERSION_LINE: &str = "age-encryption.org/v1";
const STANZA_PREFIX: &[u8] = b"-> ";
const MAC_PREFIX: &[u8] = b"---";
const COLUMNS: usize = 64;

/// One recipient stanza: its arguments (the first is the type) and its decoded body.
#[derive(Clone, PartialEq, Eq)]
pub struct Stanza {
    /// Arguments; `args[0]` is the stanza type. Never empty.
    pub args: Vec<String>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl core::fmt::Debug for Stanza {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Bodies are ciphertext, but there is no reason to print them.
        f.debug_struct("Stanza")
            .field("args", &self.args)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Stanza {
    /// A stanza; fails if an argument is empty or has a byte outside `%x21-7E`.
    pub fn new(args: Vec<String>, body: Vec<u8>) -> Result<Self> {
        if args.is_empty() {
            return Err(Error::InvalidArgument("a stanza needs at least one argument"));
        }
        if !args.iter().all(|arg| is_valid_arg(arg.as_bytes())) {
            return Err(Error::InvalidArgument(
                "stanza arguments must be non-empty printable ASCII",
            ));
        }
        Ok(Self { args, body })
    }

    /// The stanza type (its first argument).
    pub fn kind(&self) -> &str {
        &self.args[0]
    }
}

/// A parsed or freshly built header, keeping its exact encoding for the MAC.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    stanzas: Vec<Stanza>,
    encoded: Vec<u8>,
    /// Length of the MAC input: everything up to and including `---`.
    mac_input_len: usize,
    mac: [u8; 32],
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header")
            .field("stanzas", &self.stanzas)
            .field("len", &self.encoded.len())
            .finish()
    }
}

impl Header {
    /// Builds the header for `stanzas` and authenticates it with `file_key`.
    pub fn new(stanzas: Vec<Stanza>, file_key: &FileKey) -> Result<Self> {
        if stanzas.is_empty() {
            return Err(Error::InvalidArgument("a header needs at least one stanza"));
        }
        let mut encoded = Vec::with_capacity(64 + stanzas.len() * 200);
        encoded.extend_from_slice(VERSION_LINE.as_bytes());
        encoded.push(b'\n');
        for stanza in &stanzas {
            encoded.extend_from_slice(STANZA_PREFIX);
            for (i, arg) in stanza.args.iter().enumerate() {
                if !is_valid_arg(arg.as_bytes()) {
                    return Err(Error::InvalidArgument(
                        "stanza arguments must be non-empty printable ASCII",
                    ));
                }
                if i > 0 {
                    encoded.push(b' ');
                }
                encoded.extend_from_slice(arg.as_bytes());
            }
            encoded.push(b'\n');
            let body = b64::encode(&stanza.body);
            let mut lines = body.as_bytes().chunks(COLUMNS).peekable();
            while let Some(line) = lines.next() {
                encoded.extend_from_slice(line);
                encoded.push(b'\n');
                if lines.peek().is_none() && line.len() == COLUMNS {
                    encoded.push(b'\n'); // a body always ends with a short (here empty) line
                }
            }
            if body.is_empty() {
                encoded.push(b'\n');
            }
        }
        encoded.extend_from_slice(MAC_PREFIX);
        let mac_input_len = encoded.len();
        let mac = hmac_sha256(mac_key(file_key).as_ref(), &encoded);
        encoded.push(b' ');
        encoded.extend_from_slice(b64::encode(&mac).as_bytes());
        encoded.push(b'\n');
        Ok(Self {
            stanzas,
            encoded,
            mac_input_len,
            mac,
        })
    }

    /// Parses a header at the start of `input`; returns it and the number of bytes it took.
    /// Anything that is not exactly the grammar is [`Error::Malformed`]; a header cut short too.
    pub fn parse(input: &[u8]) -> Result<(Self, usize)> {
        let mut lines = Lines { input, pos: 0 };
        if lines.next()? != VERSION_LINE.as_bytes() {
            return Err(Error::Malformed("unsupported version line"));
        }
        let mut stanzas = Vec::new();
        loop {
            let line_start = lines.pos;
            let line = lines.next()?;
            if let Some(rest) = line.strip_prefix(STANZA_PREFIX) {
                stanzas.push(parse_stanza(rest, &mut lines)?);
            } else if let Some(rest) = line.strip_prefix(MAC_PREFIX) {
                let mac_text = rest
                    .strip_prefix(b" ")
                    .ok_or(Error::Malformed("MAC line without a space"))?;
                let mac_text = core::str::from_utf8(mac_text).map_err(|_| Error::Malformed("MAC is not ASCII"))?;
                let mac = b64::decode_array::<32>(mac_text)?;
                if stanzas.is_empty() {
                    return Err(Error::Malformed("header without stanzas"));
                }
                let header = Self {
                    stanzas,
                    encoded: input[..lines.pos].to_vec(),
                    mac_input_len: line_start + MAC_PREFIX.len(),
                    mac,
                };
                return Ok((header, lines.pos));
            } else {
                return Err(Error::Malformed("expected a stanza or the MAC line"));
            }
        }
    }

    /// The stanzas, in order.
    pub fn stanzas(&self) -> &[Stanza] {
        &self.stanzas
    }

    /// The exact encoding, MAC line included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// Checks the header MAC under `file_key`, in constant time.
    pub fn verify_mac(&self, file_key: &FileKey) -> Result<()> {
        hmac_sha256_verify(
            mac_key(file_key).as_ref(),
            &self.encoded[..self.mac_input_len],
            &self.mac,
        )
    }
}

fn mac_key(file_key: &FileKey) -> zeroize::Zeroizing<[u8; 32]> {
    hkdf_sha256_32(file_key.expose_secret(), b"", b"header")
}

fn is_valid_arg(arg: &[u8]) -> bool {
    !arg.is_empty() && arg.iter().all(|b| (0x21..=0x7e).contains(b))
}

fn parse_stanza(arg_line: &[u8], lines: &mut Lines<'_>) -> Result<Stanza> {
    let mut args = Vec::new();
    for arg in arg_line.split(|&b| b == b' ') {
        if !is_valid_arg(arg) {
            return Err(Error::Malformed("invalid stanza argument"));
        }
        args.push(String::from_utf8(arg.to_vec()).expect("printable ASCII is UTF-8"));
    }
    let mut body_text = Vec::new();
    loop {
        let line = lines.next()?;
        if line.len() > COLUMNS {
            return Err(Error::Malformed("stanza body line longer than 64 columns"));
        }
        body_text.extend_from_slice(line);
        if line.len() < COLUMNS {
            break;
        }
    }
    let body_text = core::str::from_utf8(&body_text).map_err(|_| Error::Malformed("stanza body is not ASCII"))?;
    let body = b64::decode(body_text)?;
    Ok(Stanza { args, body })
}

struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    /// The next line without its LF. A missing LF means the header was cut short.
    fn next(&mut self) -> Result<&'a [u8]> {
        let rest = &self.input[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(Error::Malformed("header is incomplete"))?;
        let line = &rest[..end];
        if line.iter().any(|&b| !(0x20..=0x7e).contains(&b)) {
            return Err(Error::Malformed("header line has a byte outside printable ASCII"));
        }
        self.pos += end + 1;
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(args: &[&str], body_len: usize) -> Stanza {
        Stanza::new(args.iter().map(|s| s.to_string()).collect(), vec![0xa5; body_len]).unwrap()
    }

    #[test]
    fn round_trips_every_body_length_around_line_boundaries() {
        let key = FileKey::from_bytes([9; 16]);
        for len in [0, 1, 47, 48, 49, 95, 96, 97, 200] {
            let header = Header::new(vec![stanza(&["t", "a"], len), stanza(&["x"], 3)], &key).unwrap();
            let mut input = header.as_bytes().to_vec();
            input.extend_from_slice(b"payload");
            let (parsed, used) = Header::parse(&input).unwrap();
            assert_eq!(used, header.as_bytes().len());
            assert_eq!(parsed, header, "body length {len}");
            parsed.verify_mac(&key).unwrap();
            assert_eq!(
                parsed.verify_mac(&FileKey::from_bytes([8; 16])),
                Err(Error::DecryptionFailed)
            );
        }
    }

    #[test]
    fn rejects_bad_arguments_when_building() {
        assert!(Stanza::new(vec![], vec![]).is_err());
        assert!(Stanza::new(vec!["a b".into()], vec![]).is_err());
        assert!(Stanza::new(vec!["".into()], vec![]).is_err());
    }

    #[test]
    fn rejects_truncation_at_every_position() {
        let key = FileKey::from_bytes([1; 16]);
        let header = Header::new(vec![stanza(&["t"], 70)], &key).unwrap();
        for cut in 0..header.as_bytes().len() {
            assert!(Header::parse(&header.as_bytes()[..cut]).is_err(), "cut at {cut}");
        }
    }
}
