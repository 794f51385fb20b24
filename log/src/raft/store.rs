//! The raft log on disk: one write-ahead file of CRC-checked records (entries, the
//! committed id, purge marks), mirrored in memory until purged, and the vote in a file of
//! its own, replaced atomically.
//!
//! Appends are written at once and made durable by a flusher thread that `fdatasync`s
//! once for every append queued meanwhile (group commit): raft learns an entry is
//! durable only through that callback, so a follower acknowledges nothing it could lose.
//! A vote is synced before `save_vote` returns, as raft requires, and lives apart from
//! the log so that no truncation can take it back (a node that forgot its vote could vote
//! twice in a term). Truncating the uncommitted tail cuts the file and writes the
//! committed and purge marks again (they may have followed the cut). After a purge that leaves most of the file dead,
//! the live records are rewritten into a fresh file, renamed over the old one.
//!
//! Record: `len u32 | crc32c(payload) u32 | payload` (little-endian), the payload a
//! postcard-encoded [`Record`]. A damaged record ends the log: what follows it was never
//! acknowledged by this node unless a later record parses, which is reported loudly.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use super::Types;

const WAL_NAME: &str = "raft.wal";
const VOTE_NAME: &str = "raft.vote";
/// Rewrite the file once this many bytes are dead and they are most of it.
const COMPACT_DEAD_BYTES: u64 = 32 << 20;

#[derive(Serialize, Deserialize)]
enum Record {
    Entry(EntryOf<Types>),
    Vote(VoteOf<Types>),
    Committed(Option<LogIdOf<Types>>),
    Purged(LogIdOf<Types>),
}

struct Wal {
    file: Arc<File>,
    path: PathBuf,
    len: u64,
    /// Live entries and the file offset of each one's record.
    entries: BTreeMap<u64, (EntryOf<Types>, u64)>,
    vote: Option<VoteOf<Types>>,
    committed: Option<LogIdOf<Types>>,
    purged: Option<LogIdOf<Types>>,
    /// Bytes before the first live entry that only old records occupy.
    dead: u64,
}

struct Flusher {
    pending: Mutex<Vec<IOFlushed<Types>>>,
    wake: Condvar,
    stop: AtomicBool,
}

/// The raft log storage of one node; clones share it (the reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    wal: Arc<Mutex<Wal>>,
    flusher: Arc<Flusher>,
    /// No fdatasync (`durability none`): appends count as durable once written.
    unsynced: Arc<AtomicBool>,
    on_append: Option<super::AppendHook>,
    /// Why this node's log can take no more writes (a failed write or fsync), if so.
    poison: Arc<Mutex<Option<String>>>,
    /// Whether `poison` is set (checked on every write without the lock).
    poisoned: Arc<AtomicBool>,
    /// An injected failure for the next write or fsync (`crate::Fault` as u8; 0: none).
    fault: Arc<std::sync::atomic::AtomicU8>,
}

fn encode(record: &Record, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = postcard::to_stdvec(record).map_err(io::Error::other)?;
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

impl Wal {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        (&*self.file).write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn append_marks(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        encode(&Record::Committed(self.committed), &mut buf)?;
        if let Some(purged) = self.purged {
            encode(&Record::Purged(purged), &mut buf)?;
        }
        self.write(&buf)
    }

    /// Writes the live records into a new file and renames it over the old one.
    fn compact(&mut self) -> io::Result<()> {
        let tmp = self.path.with_extension("wal.tmp");
        let mut buf = Vec::new();
        let mut entries = BTreeMap::new();
        for (index, (entry, _)) in &self.entries {
            let offset = buf.len() as u64;
            encode(&Record::Entry(entry.clone()), &mut buf)?;
            entries.insert(*index, (entry.clone(), offset));
        }
        let mut file = File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            crate::segment::sync_dir(dir)?;
        }
        let file = OpenOptions::new().append(true).open(&self.path)?;
        self.file = Arc::new(file);
        self.len = buf.len() as u64;
        self.entries = entries;
        self.dead = 0;
        self.append_marks()?;
        self.file.sync_data()?;
        tracing::info!(bytes = self.len, "raft log compacted");
        Ok(())
    }
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, reading back what a previous run left.
    pub fn open(
        dir: &Path,
        unsynced: bool,
        on_append: Option<super::AppendHook>,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(WAL_NAME);
        let mut data = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut data)?;
        }
        let mut wal = Wal {
            file: Arc::new(OpenOptions::new().create(true).append(true).open(&path)?),
            path: path.clone(),
            len: 0,
            entries: BTreeMap::new(),
            vote: None,
            committed: None,
            purged: None,
            dead: 0,
        };
        let mut offset = 0usize;
        while offset < data.len() {
            match read_record(&data[offset..]) {
                Some((record, used)) => {
                    match record {
                        Record::Entry(entry) => {
                            let index = entry.index();
                            // A later entry at an index replaces what was truncated.
                            let _ = wal.entries.split_off(&index);
                            wal.entries.insert(index, (entry, offset as u64));
                        }
                        Record::Vote(vote) => wal.vote = Some(vote),
                        Record::Committed(committed) => wal.committed = committed,
                        Record::Purged(purged) => {
                            wal.entries = wal.entries.split_off(&(purged.index() + 1));
                            wal.purged = Some(purged);
                        }
                    }
                    offset += used;
                }
                None => {
                    let later = (offset + 1..data.len()).any(|o| read_record(&data[o..]).is_some());
                    if later {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "{}: corrupt at offset {offset}: a damaged record is followed by valid ones; refusing to start (restore the file, or move it away to resync this replica from its peers)",
                                path.display()
                            ),
                        ));
                    }
                    tracing::warn!(path = %path.display(), offset, dropped = data.len() - offset, "raft log: torn tail cut off");
                    wal.file.set_len(offset as u64)?;
                    wal.file.sync_data()?;
                    break;
                }
            }
        }
        wal.len = offset as u64;
        let vote_path = dir.join(VOTE_NAME);
        if vote_path.exists() {
            let data = std::fs::read(&vote_path)?;
            match read_record(&data) {
                Some((Record::Vote(vote), _)) => wal.vote = Some(vote),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: damaged vote file; refusing to start (a node that forgets its vote could vote twice)", vote_path.display()),
                    ))
                }
            }
        }
        wal.dead = wal.entries.values().next().map_or(wal.len, |(_, o)| *o);
        tracing::info!(
            path = %path.display(),
            entries = wal.entries.len(),
            first = wal.entries.keys().next().copied(),
            last = wal.entries.keys().next_back().copied(),
            "raft log opened"
        );
        let flusher = Arc::new(Flusher {
            pending: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let store = Self {
            wal: Arc::new(Mutex::new(wal)),
            flusher,
            unsynced: Arc::new(AtomicBool::new(unsynced)),
            on_append,
            poison: Arc::default(),
            poisoned: Arc::default(),
            fault: Arc::default(),
        };
        let flushing = store.clone();
        std::thread::Builder::new()
            .name("engram-raft-fsync".into())
            .spawn(move || flushing.flush_loop())?;
        Ok(store)
    }

    /// Stops the flusher thread (after completing what it has).
    pub fn close(&self) {
        self.flusher.stop.store(true, Ordering::Release);
        self.flusher.wake.notify_one();
    }

    /// Bytes of log from the first entry kept (in memory and on disk) to the end.
    pub fn live_bytes(&self) -> u64 {
        let wal = self.wal.lock();
        wal.len.saturating_sub(wal.dead)
    }

    /// Why the log refuses writes (a write or fsync failed), if it does.
    pub fn poisoned(&self) -> Option<String> {
        if !self.poisoned.load(Ordering::Acquire) {
            return None;
        }
        self.poison.lock().clone()
    }

    /// Makes the next write or fsync fail as on a full disk (tests).
    pub fn inject_fault(&self, fault: crate::Fault) {
        self.fault.store(fault as u8, Ordering::Release);
    }

    fn take_fault(&self, fault: crate::Fault) -> io::Result<()> {
        let injected =
            self.fault.compare_exchange(fault as u8, 0, Ordering::AcqRel, Ordering::Relaxed);
        match injected {
            Ok(_) => Err(io::Error::from_raw_os_error(28)),
            Err(_) => Ok(()),
        }
    }

    /// Records the first failure; the node takes no more writes until restarted.
    fn poison(&self, what: &str, error: &io::Error) -> io::Error {
        let mut poison = self.poison.lock();
        if poison.is_none() {
            let reason = format!("Errors writing to the log ({what}): {error}");
            tracing::error!(%reason, "raft log poisoned: refusing writes until restart; reads keep working");
            *poison = Some(reason);
            self.poisoned.store(true, Ordering::Release);
        }
        io::Error::new(error.kind(), error.to_string())
    }

    /// Whether appends skip fdatasync.
    pub fn set_unsynced(&self, unsynced: bool) {
        self.unsynced.store(unsynced, Ordering::Relaxed);
    }

    /// Group commit: every callback queued before an fdatasync starts is covered by it.
    fn flush_loop(self) {
        loop {
            let batch = {
                let mut pending = self.flusher.pending.lock();
                while pending.is_empty() && !self.flusher.stop.load(Ordering::Acquire) {
                    self.flusher.wake.wait(&mut pending);
                }
                if pending.is_empty() {
                    return;
                }
                std::mem::take(&mut *pending)
            };
            let file = self.wal.lock().file.clone();
            let result = self
                .take_fault(crate::Fault::Fsync)
                .and_then(|()| file.sync_data())
                .map_err(|e| self.poison("fsync", &e));
            for callback in batch {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                callback.io_completed(r);
            }
        }
    }

    /// Entries with their index in `range`, from memory.
    fn entries<RB: RangeBounds<u64>>(&self, range: RB) -> Vec<EntryOf<Types>> {
        self.wal.lock().entries.range(range).map(|(_, (e, _))| e.clone()).collect()
    }
}

fn read_record(data: &[u8]) -> Option<(Record, usize)> {
    let len = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?);
    let payload = data.get(8..8 + len)?;
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    let record = postcard::from_bytes(payload).ok()?;
    Some((record, 8 + len))
}

impl RaftLogReader<Types> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<Types>>, io::Error> {
        Ok(self.entries(range))
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<Types>>, io::Error> {
        Ok(self.wal.lock().vote)
    }
}

impl RaftLogStorage<Types> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<Types>, io::Error> {
        let wal = self.wal.lock();
        let last = wal.entries.values().next_back().map(|(e, _)| e.log_id()).or(wal.purged);
        Ok(LogState { last_purged_log_id: wal.purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<Types>) -> Result<(), io::Error> {
        let mut wal = self.wal.lock();
        let mut buf = Vec::new();
        encode(&Record::Vote(*vote), &mut buf)?;
        let path = wal.path.with_file_name(VOTE_NAME);
        let tmp = path.with_extension("vote.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_data()?;
        std::fs::rename(&tmp, &path)?;
        if let Some(dir) = path.parent() {
            crate::segment::sync_dir(dir)?;
        }
        wal.vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<Types>>) -> Result<(), io::Error> {
        let mut wal = self.wal.lock();
        let mut buf = Vec::new();
        encode(&Record::Committed(committed), &mut buf)?;
        wal.write(&buf)?;
        wal.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<Types>>, io::Error> {
        Ok(self.wal.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<Types>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<Types>> + OptionalSend,
    {
        {
            let mut wal = self.wal.lock();
            let mut buf = Vec::new();
            let base = wal.len;
            let mut placed = Vec::new();
            for entry in entries {
                let offset = base + buf.len() as u64;
                encode(&Record::Entry(entry.clone()), &mut buf)?;
                placed.push((entry, offset));
            }
            if let Some(reason) = self.poisoned() {
                return Err(io::Error::other(reason));
            }
            self.take_fault(crate::Fault::Write)
                .and_then(|()| wal.write(&buf))
                .map_err(|e| self.poison("write", &e))?;
            if let Some(hook) = &self.on_append {
                for (entry, _) in &placed {
                    if let openraft::EntryPayload::Normal(payload) = &entry.payload {
                        (hook.0)(&payload.0);
                    }
                }
            }
            for (entry, offset) in placed {
                wal.entries.insert(entry.index(), (entry, offset));
            }
        }
        if self.unsynced.load(Ordering::Relaxed) {
            callback.io_completed(Ok(()));
        } else {
            self.flusher.pending.lock().push(callback);
            self.flusher.wake.notify_one();
        }
        Ok(())
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<Types>>,
    ) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index() + 1);
        let mut wal = self.wal.lock();
        let cut = wal.entries.range(from..).next().map(|(_, (_, offset))| *offset);
        let Some(cut) = cut else { return Ok(()) };
        tracing::info!(from, "raft log: uncommitted tail truncated");
        let _ = wal.entries.split_off(&from);
        wal.file.set_len(cut)?;
        wal.len = cut;
        wal.append_marks()?;
        wal.file.sync_data()?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<Types>) -> Result<(), io::Error> {
        let mut wal = self.wal.lock();
        let mut buf = Vec::new();
        encode(&Record::Purged(log_id), &mut buf)?;
        wal.write(&buf)?;
        wal.entries = wal.entries.split_off(&(log_id.index() + 1));
        wal.purged = Some(log_id);
        wal.dead = wal.entries.values().next().map_or(wal.len, |(_, o)| *o);
        if wal.dead >= COMPACT_DEAD_BYTES && wal.dead * 2 >= wal.len {
            wal.compact()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openraft::testing::blank_ent;
    use openraft::Vote;

    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("engram-raft-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    async fn append(store: &mut LogStore, entries: Vec<EntryOf<Types>>) {
        let (tx, rx) = <Types as openraft::type_config::TypeConfigExt>::oneshot();
        let callback = IOFlushed::<Types>::signal(tx);
        store.append(entries, callback).await.unwrap();
        rx.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_vote_survives_truncation_and_a_torn_tail_is_cut() {
        let d = dir("vote");
        let mut store = LogStore::open(&d, false, None).unwrap();
        append(&mut store, (1..=10).map(|i| blank_ent::<Types>(1, 1, i)).collect()).await;
        let vote = Vote::new(3, 2);
        store.save_vote(&vote).await.unwrap();
        store.truncate_after(Some(blank_ent::<Types>(1, 1, 5).log_id)).await.unwrap();
        append(&mut store, vec![blank_ent::<Types>(3, 2, 6)]).await;
        store.close();
        // A half-written record at the end, as a crash mid-write leaves it.
        let wal = d.join(WAL_NAME);
        let mut f = OpenOptions::new().append(true).open(&wal).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let mut store = LogStore::open(&d, false, None).unwrap();
        assert_eq!(store.read_vote().await.unwrap(), Some(vote));
        let entries = store.try_get_log_entries(0..100).await.unwrap();
        let ids: Vec<(u64, u64)> =
            entries.iter().map(|e| (e.log_id.leader_id.term, e.index())).collect();
        assert_eq!(ids, [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (3, 6)]);
        store.close();
        // Damage in the middle (a valid record follows) refuses to open.
        let mut data = std::fs::read(&wal).unwrap();
        data[10] ^= 0xff;
        std::fs::write(&wal, data).unwrap();
        let err = LogStore::open(&d, false, None).err().unwrap();
        assert!(err.to_string().contains("corrupt at offset 0"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
