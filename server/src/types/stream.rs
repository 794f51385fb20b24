//! A stream: entries by ID, consumer groups and their pending lists.
//!
//! A pure data structure: no keyspace, no protocol, no clock.

/// A stream: entries by ID, consumer groups and their pending lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {}

impl Stream {
    /// Number of elements.
    pub fn len(&self) -> usize {
        0
    }

    /// Whether there are no elements (an empty collection is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        0
    }

    /// Feeds the content to `out` in a canonical order (DEBUG DIGEST, replay tests):
    /// equal values must feed equal bytes whatever their history.
    pub fn digest(&self, _out: &mut dyn FnMut(&[u8])) {}
}
