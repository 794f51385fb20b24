//! Indexing the keys that existed before FT.CREATE (or FT.ALTER, or a SWAPDB): a scan of
//! database 0, one hash slot at a time, in short turns under the keyspace write guard
//! so that writes and reads keep flowing while a large index builds.
//!
//! Postings are derived state, so the scan runs outside the log: a key the scan has not
//! reached yet and that changes meanwhile is indexed by the change, and indexed again
//! (idempotently) when the scan reaches it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;

use super::SearchState;
use crate::keyspace::{Db, Keyspace};

/// How long one turn holds the write guard.
const TURN: Duration = Duration::from_millis(5);

impl SearchState {
    /// Scans slot tables for every index still backfilling until `budget` runs out;
    /// true when work remains.
    pub fn backfill_step(&mut self, db0: &Db, now_ms: u64, budget: Duration) -> bool {
        let started = crate::clock::monotonic();
        let tables = crate::keyspace::db::SLOTS;
        for (name, index) in self.indexes.iter_mut() {
            while let Some(table) = index.backfill {
                if table >= tables {
                    index.backfill = None;
                    tracing::info!(index = %name, docs = index.index.num_docs(), "search index backfill done");
                    break;
                }
                let keys: Vec<bytes::Bytes> = db0
                    .slot_keys(table)
                    .filter(|(key, _)| index.def.matches_key(key))
                    .map(|(key, _)| key.to_bytes())
                    .collect();
                for key in keys {
                    index.reindex(db0, &key, now_ms);
                }
                index.backfill = Some(table + 1);
                if (table + 1) % 1024 == 0 {
                    tracing::info!(
                        index = %name,
                        percent = (table + 1) * 100 / tables.max(1),
                        docs = index.index.num_docs(),
                        "search index backfill"
                    );
                }
                if started.elapsed() >= budget {
                    return true;
                }
            }
        }
        false
    }
}

/// Runs backfills in the background for as long as the keyspace exists.
pub fn spawn(keyspace: &Arc<RwLock<Keyspace>>) {
    let keyspace: Weak<RwLock<Keyspace>> = Arc::downgrade(keyspace);
    let spawned = std::thread::Builder::new().name("search-backfill".into()).spawn(move || loop {
        let Some(keyspace) = keyspace.upgrade() else { return };
        let pending = keyspace.try_read().is_some_and(|ks| ks.search.backfilling());
        if pending {
            let mut ks = keyspace.write();
            let now_ms = crate::clock::now_ms();
            let (db0, search) = ks.search_parts();
            search.backfill_step(db0, now_ms, TURN);
            drop(ks);
            drop(keyspace);
            // Let waiting writers and readers in between turns.
            std::thread::sleep(Duration::from_micros(500));
        } else {
            drop(keyspace);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the search backfill thread");
    }
}
