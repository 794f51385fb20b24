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
    /// The leader's expiry decision: delete these keys if their deadline passed by `now_ms`
    /// (a live hash instead loses the fields whose deadline passed: HEXPIRE).
    Expire { db: u32, now_ms: u64, keys: Vec<Bytes> },
    /// MULTI/EXEC: `cmds` applied atomically starting in database `db`, unless a watched
    /// key's version (log index of its last change; 0 = absent) differs from `watched`.
    Exec { db: u32, now_ms: u64, watched: Vec<Watched>, cmds: Vec<Vec<Bytes>> },
    /// The script the entry at `index` ran was killed (or abandoned) on the leader before
    /// it wrote: replicas stop or skip it too (a shard's replicas run scripts in apply).
    ScriptAborted { now_ms: u64, index: u64 },
}

/// A key WATCHed by the client, with the version it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub db: u32,
    pub key: Bytes,
    pub version: u64,
}

const TAG_WRITE: u8 = 1;
const TAG_EXPIRE: u8 = 2;
const TAG_EXEC: u8 = 3;
const TAG_SCRIPT_ABORTED: u8 = 4;

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

fn put_items(out: &mut impl BufMut, items: &[Bytes]) {
    out.put_u32_le(items.len() as u32);
    for item in items {
        put_item(out, item);
    }
}

fn put_item(out: &mut impl BufMut, item: &[u8]) {
    out.put_u32_le(item.len() as u32);
    out.put_slice(item);
}

fn need(input: &Bytes, n: usize) -> Result<(), DecodeError> {
    if input.remaining() < n {
        Err(DecodeError::Truncated)
    } else {
        Ok(())
    }
}

fn get_u32(input: &mut Bytes) -> Result<u32, DecodeError> {
    need(input, 4)?;
    Ok(input.get_u32_le())
}

fn get_u64(input: &mut Bytes) -> Result<u64, DecodeError> {
    need(input, 8)?;
    Ok(input.get_u64_le())
}

fn get_item(input: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = get_u32(input)? as usize;
    need(input, len)?;
    Ok(input.split_to(len))
}

fn get_items(input: &mut Bytes) -> Result<Vec<Bytes>, DecodeError> {
    let count = get_u32(input)? as usize;
    // Never trust a count for the allocation: each item needs at least 4 bytes.
    let mut items = Vec::with_capacity(count.min(input.remaining() / 4));
    for _ in 0..count {
        items.push(get_item(input)?);
    }
    Ok(items)
}

impl Request {
    /// The bytes stored in the log: version, tag, db, now_ms, then the tag's body.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_to(&mut out);
        out.freeze()
    }

    /// The leader time the entry carries.
    pub fn now_ms(&self) -> u64 {
        match self {
            Request::Write { now_ms, .. }
            | Request::Expire { now_ms, .. }
            | Request::Exec { now_ms, .. }
            | Request::ScriptAborted { now_ms, .. } => *now_ms,
        }
    }

    /// Appends the stored form to `out` (the log frames it in place).
    pub fn encode_to(&self, out: &mut impl BufMut) {
        out.put_u8(ENTRY_VERSION);
        match self {
            Request::Write { db, now_ms, argv } => {
                out.put_u8(TAG_WRITE);
                out.put_u32_le(*db);
                out.put_u64_le(*now_ms);
                put_items(out, argv);
            }
            Request::Expire { db, now_ms, keys } => {
                out.put_u8(TAG_EXPIRE);
                out.put_u32_le(*db);
                out.put_u64_le(*now_ms);
                put_items(out, keys);
            }
            Request::Exec { db, now_ms, watched, cmds } => {
                out.put_u8(TAG_EXEC);
                out.put_u32_le(*db);
                out.put_u64_le(*now_ms);
                out.put_u32_le(watched.len() as u32);
                for w in watched {
                    out.put_u32_le(w.db);
                    put_item(out, &w.key);
                    out.put_u64_le(w.version);
                }
                out.put_u32_le(cmds.len() as u32);
                for argv in cmds {
                    put_items(out, argv);
                }
            }
            Request::ScriptAborted { now_ms, index } => {
                out.put_u8(TAG_SCRIPT_ABORTED);
                out.put_u32_le(0);
                out.put_u64_le(*now_ms);
                out.put_u64_le(*index);
            }
        }
    }

    /// Decodes what [`Request::encode`] wrote (any version this build knows).
    pub fn decode(mut input: Bytes) -> Result<Self, DecodeError> {
        need(&input, 2)?;
        let version = input.get_u8();
        if version != ENTRY_VERSION {
            return Err(DecodeError::Version(version));
        }
        let tag = input.get_u8();
        let db = get_u32(&mut input)?;
        let now_ms = get_u64(&mut input)?;
        let request = match tag {
            TAG_WRITE => Request::Write { db, now_ms, argv: get_items(&mut input)? },
            TAG_EXPIRE => Request::Expire { db, now_ms, keys: get_items(&mut input)? },
            TAG_EXEC => {
                let n = get_u32(&mut input)? as usize;
                let mut watched = Vec::with_capacity(n.min(input.remaining() / 16));
                for _ in 0..n {
                    let wdb = get_u32(&mut input)?;
                    let key = get_item(&mut input)?;
                    watched.push(Watched { db: wdb, key, version: get_u64(&mut input)? });
                }
                let n = get_u32(&mut input)? as usize;
                let mut cmds = Vec::with_capacity(n.min(input.remaining() / 4));
                for _ in 0..n {
                    cmds.push(get_items(&mut input)?);
                }
                Request::Exec { db, now_ms, watched, cmds }
            }
            TAG_SCRIPT_ABORTED => Request::ScriptAborted { now_ms, index: get_u64(&mut input)? },
            other => return Err(DecodeError::Tag(other)),
        };
        Ok(request)
    }
}

impl engram_log::Codec for Request {
    fn encode_into(&self, out: &mut Vec<u8>) {
        self.encode_to(out);
    }

    fn decode_from(bytes: Bytes) -> Result<Self, String> {
        // Recovery hands out slices of a whole segment read at once; a stored value that
        // kept such a slice would pin the segment (64 MB) for as long as it lives. An
        // allocation per entry pins only the entry, as a client's write does.
        Request::decode(Bytes::copy_from_slice(&bytes)).map_err(|e| e.to_string())
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
    fn exec_entries_round_trip() {
        let entry = Request::Exec {
            db: 1,
            now_ms: 5,
            watched: vec![Watched { db: 0, key: Bytes::from("w"), version: 9 }],
            cmds: vec![
                vec![Bytes::from("SET"), Bytes::from("a"), Bytes::from("1")],
                vec![Bytes::from("GET"), Bytes::from("a")],
            ],
        };
        assert_eq!(Request::decode(entry.encode()).unwrap(), entry);
    }

    #[test]
    fn script_aborted_entries_round_trip() {
        let entry = Request::ScriptAborted { now_ms: 7, index: 42 };
        let encoded = entry.encode();
        let hex: String = encoded.iter().map(|b| format!("{b:02x}")).collect();
        // Version 1, tag 4, db 0, now_ms, index. Never change this.
        assert_eq!(hex, "01040000000007000000000000002a00000000000000");
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
