//! The index of key deadlines that active expiry scans: keys grouped by the ~1 s
//! window their deadline falls in. Moving a key's deadline (EXPIRE, SET EX on a
//! volatile key) costs two hash operations and a lookup among the few windows, where
//! an ordered set of (deadline, key) cost two tree walks comparing keys byte by byte.
//! Only the leader's expiry reads it, through [`DeadlineIndex::due`]: which due keys
//! come first does not matter, each is expired by its own recorded deadline.

use std::collections::BTreeMap;

use bytes::Bytes;
use hashbrown::HashMap;

use super::Key;

/// Deadlines in one window are ~1 s apart at most (2^10 ms).
const WINDOW_SHIFT: u32 = 10;

/// (window -> key -> exact deadline) for every key with a TTL.
#[derive(Debug, Default, Clone)]
pub struct DeadlineIndex {
    windows: BTreeMap<u64, HashMap<Key, u64>>,
    len: usize,
}

impl DeadlineIndex {
    /// Indexes `key` under deadline `at` (the caller removed any previous deadline).
    pub fn insert(&mut self, at: u64, key: Key) {
        if self.windows.entry(at >> WINDOW_SHIFT).or_default().insert(key, at).is_none() {
            self.len += 1;
        }
    }

    /// Removes `key`, indexed under deadline `at`.
    pub fn remove(&mut self, at: u64, key: &[u8]) {
        let window = at >> WINDOW_SHIFT;
        let Some(keys) = self.windows.get_mut(&window) else { return };
        if keys.remove(key).is_some() {
            self.len -= 1;
        }
        if keys.is_empty() {
            self.windows.remove(&window);
        }
    }

    /// Moves `key` from deadline `from` to `to`: in place when both fall in one window
    /// (a key whose TTL is refreshed often, as session stores do), else its copy moves
    /// from one window to the other.
    pub fn reschedule(&mut self, from: u64, to: u64, key: &[u8]) {
        let window = from >> WINDOW_SHIFT;
        let Some(keys) = self.windows.get_mut(&window) else {
            return self.insert(to, Key::new(key));
        };
        if window == to >> WINDOW_SHIFT {
            if let Some(at) = keys.get_mut(key) {
                *at = to;
                return;
            }
        }
        let handle = keys.remove_entry(key).map(|(k, _)| k);
        if keys.is_empty() {
            self.windows.remove(&window);
        }
        if handle.is_some() {
            self.len -= 1;
        }
        self.insert(to, handle.unwrap_or_else(|| Key::new(key)));
    }

    /// Number of keys indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Up to `limit` keys whose deadline is at or before `now_ms`.
    pub fn due(&self, now_ms: u64, limit: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        for keys in self.windows.range(..=now_ms >> WINDOW_SHIFT).map(|(_, keys)| keys) {
            for (key, &at) in keys {
                if out.len() == limit {
                    return out;
                }
                if at <= now_ms {
                    out.push(key.to_bytes());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_are_exactly_those_past_their_deadline() {
        let mut index = DeadlineIndex::default();
        let key = |i: u64| Bytes::from(format!("k{i}"));
        for i in 0..5000u64 {
            index.insert(1_000_000 + i * 7, Key::new(&key(i)));
        }
        assert_eq!(index.len(), 5000);
        // Move half of them far away, as EXPIRE does: remove under the old deadline.
        for i in (0..5000u64).step_by(2) {
            index.remove(1_000_000 + i * 7, &key(i));
            index.insert(9_000_000 + i, Key::new(&key(i)));
        }
        assert_eq!(index.len(), 5000);
        let now = 1_000_000 + 700;
        let mut due = index.due(now, usize::MAX);
        due.sort();
        let mut expected: Vec<Bytes> = (0..=100u64).filter(|i| i % 2 == 1).map(key).collect();
        expected.sort();
        assert_eq!(due, expected);
        assert_eq!(index.due(now, 3).len(), 3, "the limit holds");
        for i in 0..5000u64 {
            let at = if i % 2 == 0 { 9_000_000 + i } else { 1_000_000 + i * 7 };
            index.remove(at, &key(i));
        }
        assert!(index.is_empty() && index.windows.is_empty());
    }

    #[test]
    fn rescheduling_within_and_across_windows_keeps_one_exact_deadline() {
        let mut index = DeadlineIndex::default();
        let key = Bytes::from_static(b"session");
        index.insert(10_000, Key::new(&key));
        index.reschedule(10_000, 10_001, &key); // same window: updated in place
        assert_eq!(index.len(), 1);
        assert!(index.due(10_000, 10).is_empty(), "the new deadline, not the old one");
        assert_eq!(index.due(10_001, 10), vec![key.clone()]);
        index.reschedule(10_001, 50_000, &key); // another window
        assert_eq!(index.len(), 1);
        assert!(index.due(49_999, 10).is_empty());
        assert_eq!(index.due(50_000, 10), vec![key.clone()]);
        index.remove(50_000, &key);
        assert!(index.is_empty() && index.windows.is_empty());
    }
}
