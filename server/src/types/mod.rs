//! Value types with their own encodings, as pure data structures: no keyspace, no
//! protocol, no clock.

pub mod hash;
pub mod hll;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;

/// A packed collection's buffer: exactly as long as its content, as a listpack is
/// reallocated to its size on every change. A boxed slice rather than a `Vec` so the
/// collection, and with it every key's `Value`, is 8 bytes smaller; a change that stays
/// within the allocator's size class reallocates in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackedBuf(Box<[u8]>);

impl PackedBuf {
    /// Changes the content through a `Vec`, then gives back any spare room. Callers
    /// reserve exactly what they add, so growing asks the allocator for no more.
    fn edit<R>(&mut self, change: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut buf = std::mem::take(&mut self.0).into_vec();
        let result = change(&mut buf);
        self.0 = buf.into_boxed_slice();
        result
    }
}

impl From<Vec<u8>> for PackedBuf {
    fn from(buf: Vec<u8>) -> Self {
        PackedBuf(buf.into_boxed_slice())
    }
}

impl std::ops::Deref for PackedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for PackedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}
