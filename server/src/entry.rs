//! The log entry: what the server proposes and what apply consumes.
//!
//! The log stores argv (as an AOF does) plus the leader's clock, so apply is a pure
//! function of (state, entry). The encoding starts with a version byte and its tags are
//! append-only: an old log must stay readable forever.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Encoding version written first in every entry.
pub const ENTRY_VERSION: u8 = 1;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A client write: `argv` applied in database `db` at the leader's time `now_ms`.
    Write { db: u32, now_ms: u64, argv: Vec<Bytes> },
    /// The leader's expiry decision: delete these keys if their deadline passed by `now_ms`.
    Expire { db: u32, now_ms: u64, keys: Vec<Bytes> },
}

const TAG_WRITE: u8 = 1;
const TAG_EXPIRE: u8 = 2;

/// Why an entry could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unknown entry version {0}")]
    Version(u8),
    #[error("unknown entry tag {0}")]
    Tag(u8),
    #[error("entry truncated")]
    Truncated,
}

impl Request {
    /// The bytes stored in the log.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u8(ENTRY_VERSION);
        let (tag, db, now_ms, items) = match self {
            Request::Write { db, now_ms, argv } => (TAG_WRITE, db, now_ms, argv),
            Request::Expire { db, now_ms, keys } => (TAG_EXPIRE, db, now_ms, keys),
        };
        out.put_u8(tag);
        out.put_u32_le(*db);
        out.put_u64_le(*now_ms);
        out.put_u32_le(items.len() as u32);
        for item in items {
            out.put_u32_le(item.len() as u32);
            out.put_slice(item);
        }
        out.freeze()
    }

    /// Decodes what [`Request::encode`] wrote (any version this build knows).
    pub fn decode(mut input: Bytes) -> Result<Self, DecodeError> {
        let need = |input: &Bytes, n: usize| {
            if input.remaining() < n {
                Err(DecodeError::Truncated)
            } else {
                Ok(())
            }
        };
        need(&input, 2 + 4 + 8 + 4)?;
        let version = input.get_u8();
        if version != ENTRY_VERSION {
            return Err(DecodeError::Version(version));
        }
        let tag = input.get_u8();
        let db = input.get_u32_le();
        let now_ms = input.get_u64_le();
        let count = input.get_u32_le() as usize;
        let mut items = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            need(&input, 4)?;
            let len = input.get_u32_le() as usize;
            need(&input, len)?;
            items.push(input.split_to(len));
        }
        match tag {
            TAG_WRITE => Ok(Request::Write { db, now_ms, argv: items }),
            TAG_EXPIRE => Ok(Request::Expire { db, now_ms, keys: items }),
            other => Err(DecodeError::Tag(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_encoding_is_frozen() {
        let entry = Request::Write {
            db: 2,
            now_ms: 1_700_000_000_000,
            argv: vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                Bytes::from_static(b"v"),
            ],
        };
        let encoded = entry.encode();
        let hex: String = encoded.iter().map(|b| format!("{b:02x}")).collect();
        // Version 1, tag 1, db, now_ms, argc, then len-prefixed args. Never change this.
        assert_eq!(
            hex,
            "0101020000000068e5cf8b01000003000000030000005345540100000\
             06b0100000076"
        );
        assert_eq!(Request::decode(encoded).unwrap(), entry);
    }

    #[test]
    fn truncated_or_unknown_entries_are_refused() {
        let bytes = Request::Expire { db: 0, now_ms: 1, keys: vec![Bytes::from("k")] }.encode();
        assert_eq!(Request::decode(bytes.slice(..bytes.len() - 1)), Err(DecodeError::Truncated));
        let mut v = bytes.to_vec();
        v[0] = 9;
        assert_eq!(Request::decode(Bytes::from(v)), Err(DecodeError::Version(9)));
    }
}
