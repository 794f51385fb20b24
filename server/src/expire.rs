//! Active expiry: the leader finds keys whose deadline passed and proposes their deletion
//! through the log (DESIGN.md invariant 4). Replicas never delete on their own; reads hide
//! expired keys by their own clock until the deletion arrives.
//!
//! Hash fields with a deadline (HEXPIRE) are expired the same way: the database indexes
//! hashes by their earliest field deadline, and an expiry entry naming a live hash removes
//! its due fields (`DbMut::expire_now`).

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
        if !shared.active_expire.load(std::sync::atomic::Ordering::Relaxed)
            || shared.log.is_loading()
            || shared.log.writable().is_err()
        {
            // DEBUG SET-ACTIVE-EXPIRE 0, or a replica: only the leader proposes expiries.
            continue;
        }
        // Keep proposing while whole batches come back, so a burst of expiries drains
        // quickly without one tick doing unbounded work.
        loop {
            let now_ms = crate::clock::now_ms();
            let due: Vec<(usize, Vec<bytes::Bytes>)> = {
                // Never wait here: a long script holds the keyspace, and this task shares
                // a thread with connections that must answer -BUSY meanwhile.
                let Some(ks) = shared.keyspace.try_read() else { break };
                ks.iter()
                    .map(|(i, db)| (i, db.expired_keys(now_ms, BATCH)))
                    // Hashes whose fields are due (HEXPIRE): the same entry purges them.
                    .chain(ks.iter().map(|(i, db)| (i, db.expired_hash_keys(now_ms, BATCH))))
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::keyspace::Value;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_expiry_cycle_deletes_due_keys_through_the_log() {
        let dir = std::env::temp_dir().join(format!("engram-expire-{}", std::process::id()));
        let args: Vec<String> = ["--port", "0", "--dir", dir.to_str().unwrap(), "--hz", "50"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let server = crate::start(crate::config::from_args(&args).unwrap()).await.unwrap();
        let now_ms = crate::clock::now_ms();
        {
            // More than one batch, so the drain loop runs; plus keys that must stay.
            let mut ks = server.shared.keyspace.write();
            let mut db = ks.db_mut(0);
            for i in 0..(super::BATCH * 2 + 10) {
                let key = Bytes::from(format!("k{i}"));
                db.set(key, Value::Str("v".into()), Some(now_ms + 20), "set");
            }
            db.set(Bytes::from("later"), Value::Str("v".into()), Some(now_ms + 600_000), "set");
            db.set(Bytes::from("never"), Value::Str("v".into()), None, "set");
            ks.take_events();
        }
        let deadline = crate::clock::monotonic() + std::time::Duration::from_secs(5);
        while server.shared.keyspace.read().db(0).len() > 2 {
            assert!(crate::clock::monotonic() < deadline, "keys were not actively expired");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        {
            let ks = server.shared.keyspace.read();
            assert_eq!(ks.db(0).volatile_len(), 1);
            assert!(ks.db(0).contains(b"later", crate::clock::now_ms()));
        }
        let expired = server.shared.stats.expired_keys.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(expired, (super::BATCH * 2 + 10) as u64);
        server.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
