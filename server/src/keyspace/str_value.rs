//! A string value as the keyspace stores it, in 24 bytes (so a key's `Value` takes 32):
//! up to [`INLINE`] bytes inside the value itself (counters, flags, short tokens: no
//! allocation at all), up to [`COPIED`] bytes in one exact-size boxed slice, longer ones
//! as a shared `Bytes` behind a box, so replies send them without a copy.
//!
//! A reply gets a copy of a short value ([`StrValue::to_bytes`]): for a few dozen bytes
//! a copy costs less than sharing, which would give the value a reference-counted header
//! of its own, kept for good, and touch its count (a cache miss over many keys) on
//! every read.

use std::ops::Deref;

use bytes::Bytes;

use super::key::{debug_bytes, InlineBytes};

/// Longest value held inline (as a key is).
pub const INLINE: usize = super::key::INLINE;
/// Longest value held in its own boxed slice and copied when read.
pub const COPIED: usize = 64;

/// A stored string; reads as its bytes.
#[derive(Clone, Default)]
pub struct StrValue(Repr);

#[derive(Clone)]
enum Repr {
    Inline(InlineBytes),
    Copied(Box<[u8]>),
    Shared(Box<Bytes>),
}

impl StrValue {
    /// A value holding a copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        if let Some(inline) = InlineBytes::new(bytes) {
            StrValue(Repr::Inline(inline))
        } else if bytes.len() <= COPIED {
            StrValue(Repr::Copied(bytes.into()))
        } else {
            StrValue(Repr::Shared(Box::new(Bytes::copy_from_slice(bytes))))
        }
    }

    /// The bytes as a growable buffer, without a copy unless held inline (APPEND,
    /// SETRANGE and SETBIT edit a long value in place).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Copied(b) => b.into_vec(),
            Repr::Shared(b) => Vec::from(*b),
            Repr::Inline(inline) => inline.as_slice().to_vec(),
        }
    }

    /// Part of the value for a reply (GETRANGE): shared when the value is, else a copy.
    pub fn slice(&self, range: std::ops::RangeInclusive<usize>) -> Bytes {
        match &self.0 {
            Repr::Shared(b) => b.slice(range),
            _ => Bytes::copy_from_slice(&self[range]),
        }
    }

    /// The value for use outside the keyspace (a reply, a log entry): a copy when short,
    /// a shared handle otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Shared(b) => Bytes::clone(b),
            _ => Bytes::copy_from_slice(self),
        }
    }
}

/// Keeps a long `Bytes` as it is (the caller chose whether it shares a buffer).
impl From<Bytes> for StrValue {
    fn from(bytes: Bytes) -> Self {
        if bytes.len() <= COPIED {
            StrValue::new(&bytes)
        } else {
            StrValue(Repr::Shared(Box::new(bytes)))
        }
    }
}

impl From<Vec<u8>> for StrValue {
    fn from(bytes: Vec<u8>) -> Self {
        if bytes.len() <= INLINE {
            StrValue::new(&bytes)
        } else if bytes.len() <= COPIED {
            StrValue(Repr::Copied(bytes.into_boxed_slice()))
        } else {
            StrValue(Repr::Shared(Box::new(Bytes::from(bytes))))
        }
    }
}

impl From<String> for StrValue {
    fn from(text: String) -> Self {
        StrValue::from(text.into_bytes())
    }
}

impl From<&str> for StrValue {
    fn from(text: &str) -> Self {
        StrValue::new(text.as_bytes())
    }
}

impl From<&[u8]> for StrValue {
    fn from(bytes: &[u8]) -> Self {
        StrValue::new(bytes)
    }
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Inline(InlineBytes::default())
    }
}

impl Deref for StrValue {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(inline) => inline.as_slice(),
            Repr::Copied(b) => b,
            Repr::Shared(b) => b,
        }
    }
}

impl AsRef<[u8]> for StrValue {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for StrValue {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for StrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_bytes(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_24_bytes_and_reads_as_its_bytes_at_every_length() {
        assert_eq!(std::mem::size_of::<StrValue>(), 24);
        for len in [0, 1, INLINE, INLINE + 1, COPIED, COPIED + 1, 5000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for value in [
                StrValue::new(&bytes),
                StrValue::from(bytes.clone()),
                StrValue::from(Bytes::from(bytes.clone())),
            ] {
                assert_eq!(&*value, &bytes[..]);
                assert_eq!(value.to_bytes(), bytes);
                assert_eq!(value, StrValue::new(&bytes));
            }
        }
    }

    #[test]
    fn long_values_are_shared_with_replies_and_short_ones_copied() {
        let long = Bytes::from(vec![b'x'; COPIED + 1]);
        let stored = StrValue::from(long.clone());
        assert_eq!(stored.to_bytes().as_ptr(), long.as_ptr());
        let short = StrValue::from(vec![b'y'; COPIED]);
        assert_ne!(short.to_bytes().as_ptr(), short.as_ptr());
        assert!(matches!(StrValue::new(b"12345").0, Repr::Inline(_)));
    }
}
