//! The add-checkpoint request body of c2sp.org/tlog-witness:
//!
//! ```text
//! old <size>                 decimal, no leading zeroes
//! <proof hash, base64>       zero or more lines, standard base64 with padding
//! <empty line>
//! <checkpoint note>          body, empty line, signature lines
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealpost_crypto::merkle::Hash;

use crate::Error;

/// Most consistency-proof lines accepted. A client sends at most 63 (a proof between two trees
/// of at most 2^64 leaves is never longer); one more is tolerated.
pub const MAX_PROOF_LINES: usize = 64;

/// A parsed add-checkpoint request; the checkpoint is still unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRequest<'a> {
    /// The size of the latest checkpoint the log believes the witness has cosigned (0: none).
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint note, signature lines included.
    pub checkpoint: &'a str,
}

impl<'a> AddRequest<'a> {
    /// Parses a request body. Only the framing is checked here; the note is checked by the
    /// witness.
    pub fn parse(body: &'a str) -> Result<Self, Error> {
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or(Error::Malformed("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|line| line.strip_prefix("old "))
            .ok_or(Error::Malformed("the first line must be \"old <size>\""))?;
        let old = parse_size(old)?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(Error::Malformed("more than 64 consistency proof lines"));
            }
            proof.push(decode_hash(line)?);
        }
        if checkpoint.is_empty() {
            return Err(Error::Malformed("no checkpoint after the empty line"));
        }
        Ok(Self { old, proof, checkpoint })
    }

    /// The request body, as a log sends it.
    pub fn encode(&self) -> String {
        encode(self.old, &self.proof, self.checkpoint)
    }
}

/// The body of an add-checkpoint request: `old`, the proof lines, an empty line and the
/// checkpoint note (which ends in a newline).
pub fn encode(old: u64, proof: &[Hash], checkpoint: &str) -> String {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&STANDARD.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(checkpoint);
    body
}

/// An ASCII decimal with no leading zeroes (unless it is `0`).
fn parse_size(text: &str) -> Result<u64, Error> {
    const MESSAGE: &str = "the old size must be a decimal number without leading zeroes";
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return Err(Error::Malformed(MESSAGE));
    }
    text.parse().map_err(|_| Error::Malformed(MESSAGE))
}

/// One proof line: canonical standard base64 (padded) of exactly 32 bytes.
fn decode_hash(line: &str) -> Result<Hash, Error> {
    STANDARD
        .decode(line)
        .ok()
        .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
        .ok_or(Error::Malformed("a proof line is not the base64 of a 32-byte hash"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str =
        "example.org/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.org/log sig\n";

    #[test]
    fn round_trip() {
        let request = AddRequest {
            old: 20_852_014,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: NOTE,
        };
        let body = request.encode();
        assert!(body.starts_with("old 20852014\nAQEB"));
        assert_eq!(AddRequest::parse(&body).unwrap(), request);
        let empty = encode(0, &[], NOTE);
        assert_eq!(empty, format!("old 0\n\n{NOTE}"));
        assert_eq!(AddRequest::parse(&empty).unwrap().proof, Vec::<Hash>::new());
    }

    #[test]
    fn malformed_bodies() {
        let hash = STANDARD.encode([7u8; 32]);
        let too_many: String = (0..=MAX_PROOF_LINES).map(|_| format!("{hash}\n")).collect();
        for body in [
            String::new(),
            "old 1\n".to_owned(),
            format!("\n\n{NOTE}"),
            format!("old\n\n{NOTE}"),
            format!("old \n\n{NOTE}"),
            format!("old 01\n\n{NOTE}"),
            format!("old -1\n\n{NOTE}"),
            format!("old +1\n\n{NOTE}"),
            format!("old 1 \n\n{NOTE}"),
            format!("Old 1\n\n{NOTE}"),
            format!("old 18446744073709551616\n\n{NOTE}"),
            format!("old 1\r\n\n{NOTE}"),
            format!("old 1\n{}\n\n{NOTE}", &hash[..hash.len() - 1]),
            format!("old 1\n{}\n\n{NOTE}", STANDARD.encode([7u8; 31])),
            format!("old 1\n{hash}\r\n\n{NOTE}"),
            format!("old 1\n{too_many}\n{NOTE}"),
            "old 1\n\n".to_owned(),
        ] {
            assert!(
                matches!(AddRequest::parse(&body), Err(Error::Malformed(_))),
                "accepted {body:?}"
            );
        }
        let max: String = (0..MAX_PROOF_LINES).map(|_| format!("{hash}\n")).collect();
        assert_eq!(
            AddRequest::parse(&format!("old 1\n{max}\n{NOTE}")).unwrap().proof.len(),
            MAX_PROOF_LINES
        );
        assert_eq!(
            AddRequest::parse(&format!("old 18446744073709551615\n\n{NOTE}"))
                .unwrap()
                .old,
            u64::MAX
        );
    }
}
