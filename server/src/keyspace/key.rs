//! A key as the keyspace stores it. Most keys are short (`user:1234`, `session:ab12cd`):
//! up to [`INLINE`] bytes sit inside the table's entry itself, with no allocation of
//! their own; longer ones get one exact-size boxed slice. Against a `Bytes` handle (32
//! bytes, plus an allocation of at least 16) that is 24 to 40 bytes less per key, and a
//! lookup compares a short key without another cache miss.
//!
//! A stored key never shares memory with anything outside the keyspace: a request's
//! buffer is not pinned by a key kept from it, and handing a key out
//! ([`Key::to_bytes`]) copies it, which for the sizes keys have costs less than the
//! reference count that sharing would touch.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// Longest key held inline: the rest of 24 bytes after the variant's tag and the length.
pub const INLINE: usize = 22;

/// Up to [`INLINE`] bytes held in place (keys here, short strings in `StrValue`): with
/// an enum's tag beside it, 24 bytes.
#[derive(Clone, Copy, Default)]
pub(super) struct InlineBytes {
    len: u8,
    bytes: [u8; INLINE],
}

impl InlineBytes {
    /// A copy of `bytes`, if they fit.
    pub(super) fn new(bytes: &[u8]) -> Option<Self> {
        let mut inline = InlineBytes { len: u8::try_from(bytes.len()).ok()?, bytes: [0; INLINE] };
        inline.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(inline)
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Writes stored bytes as `Bytes` does (escaped text), for `Debug`.
pub(super) fn debug_bytes(bytes: &[u8], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "{:?}", Bytes::copy_from_slice(bytes))
}

/// A stored key; reads as its bytes.
#[derive(Clone)]
pub struct Key(Repr);

#[derive(Clone)]
enum Repr {
    Inline(InlineBytes),
    Boxed(Box<[u8]>),
}

impl Key {
    /// A key holding a copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        match InlineBytes::new(bytes) {
            Some(inline) => Key(Repr::Inline(inline)),
            None => Key(Repr::Boxed(bytes.into())),
        }
    }

    /// A copy for use outside the keyspace (a reply, an event, a log entry).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(inline) => inline.as_slice(),
            Repr::Boxed(b) => b,
        }
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<&[u8]> for Key {
    fn from(bytes: &[u8]) -> Self {
        Key::new(bytes)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

/// Hashes as the bytes do, so a map keyed by `Key` is looked up with a `&[u8]`.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_bytes(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_takes_24_bytes_and_short_ones_no_allocation() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        assert!(matches!(Key::new(&[7; INLINE]).0, Repr::Inline(_)));
        assert!(matches!(Key::new(&[7; INLINE + 1]).0, Repr::Boxed(_)));
    }

    #[test]
    fn reads_hashes_and_orders_as_its_bytes_at_every_length() {
        use std::hash::BuildHasher;
        let hasher = std::collections::hash_map::RandomState::new();
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 200] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let key = Key::new(&bytes);
            assert_eq!(&*key, &bytes[..]);
            assert_eq!(key.to_bytes(), bytes);
            assert_eq!(hasher.hash_one(&key), hasher.hash_one(&bytes[..]));
            let longer = Key::new(&[&bytes[..], b"\0"].concat());
            assert!(key < longer && key != longer);
        }
    }
}
