//! Active expiry: the leader finds keys whose deadline passed and proposes their deletion
//! through the log (DESIGN.md invariant 4). Replicas never delete on their own; reads hide
//! expired keys by their own clock until the deletion arrives.

use std::sync::Arc;
use std::time::Duration;

use crate::entry::Request;
use crate::state::Shared;

/// Keys deleted per proposal.
const BATCH: usize = 256;

/// Runs until shutdown, proposing deletions of expired keys every `1000 / hz` ms.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let hz = shared.config.get_i64("hz").clamp(1, 500) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1000 / hz)) => {}
            _ = shutdown.changed() => return,
        }
        // Keep proposing while whole batches come back, so a burst of expiries drains
        // quickly without one tick doing unbounded work.
        loop {
            let now_ms = crate::clock::now_ms();
            let due: Vec<(usize, Vec<bytes::Bytes>)> = {
                let ks = shared.keyspace.read();
                ks.iter()
                    .map(|(i, db)| (i, db.expired_keys(now_ms, BATCH)))
                    .filter(|(_, keys)| !keys.is_empty())
                    .collect()
            };
            if due.is_empty() {
                break;
            }
            let mut full = false;
            for (db, keys) in due {
                full |= keys.len() == BATCH;
                let request = Request::Expire { db: db as u32, now_ms, keys };
                match shared.log.propose(request).await {
                    // Wait for it, so the next scan does not propose the same keys again.
                    Ok(rx) => {
                        let _ = rx.await;
                    }
                    Err(_) => return,
                }
            }
            if !full {
                break;
            }
        }
    }
}
