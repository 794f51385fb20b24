//! FT.AGGREGATE cursors: the rows of a WITHCURSOR aggregation not yet read, per server
//! (node-local read state, like Redis's; never logged), dropped after their last page or
//! when idle longer than their MAXIDLE.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use engram_index::aggregate::Row;

/// Default rows per page (RediSearch's).
pub const DEFAULT_COUNT: usize = 1000;
/// Default idle time before a cursor is dropped (RediSearch's 300 s).
pub const DEFAULT_MAX_IDLE: Duration = Duration::from_secs(300);

/// One open cursor.
#[derive(Debug)]
pub struct Cursor {
    /// The index it reads.
    pub index: String,
    /// Rows not yet returned, in order.
    pub rows: std::collections::VecDeque<Row>,
    /// Rows per page.
    pub count: usize,
    max_idle: Duration,
    last_used: Instant,
}

/// Every open cursor, by id.
#[derive(Debug, Default)]
pub struct Cursors {
    open: HashMap<u64, Cursor>,
    next_id: u64,
}

impl Cursors {
    /// Opens a cursor over `rows`; its id.
    pub fn open(
        &mut self,
        index: String,
        rows: Vec<Row>,
        count: usize,
        max_idle: Option<Duration>,
    ) -> u64 {
        self.expire();
        // Ids look random in RediSearch; any nonzero, unique id will do.
        self.next_id += 1;
        let id = self.next_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1 | 1;
        let cursor = Cursor {
            index,
            rows: rows.into(),
            count: count.max(1),
            max_idle: max_idle.unwrap_or(DEFAULT_MAX_IDLE),
            last_used: crate::clock::monotonic(),
        };
        self.open.insert(id, cursor);
        id
    }

    /// The next page of cursor `id` on `index` (at most `count` rows, or the cursor's
    /// own count), and the id to read next (0 when this was the last page, which frees it).
    pub fn read(&mut self, index: &str, id: u64, count: Option<usize>) -> Option<(Vec<Row>, u64)> {
        self.expire();
        let cursor = self.open.get_mut(&id).filter(|c| c.index == index)?;
        let n = count.unwrap_or(cursor.count).max(1);
        let page: Vec<Row> = cursor.rows.drain(..n.min(cursor.rows.len())).collect();
        cursor.last_used = crate::clock::monotonic();
        if page.len() < n {
            self.open.remove(&id);
            return Some((page, 0));
        }
        Some((page, id))
    }

    /// Closes cursor `id`; false when it was not open.
    pub fn delete(&mut self, index: &str, id: u64) -> bool {
        match self.open.get(&id) {
            Some(c) if c.index == index => self.open.remove(&id).is_some(),
            _ => false,
        }
    }

    fn expire(&mut self) {
        self.open.retain(|_, c| c.last_used.elapsed() <= c.max_idle);
    }
}
