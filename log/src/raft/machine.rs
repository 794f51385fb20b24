//! The state machine side of raft: committed entries go to the [`StateMachine`] the
//! single-node log also feeds (same applier, same applied index), and snapshots are the
//! same compacted-log files ([`crate::snapshot`]) with raft's metadata as record zero.
//!
//! A snapshot is built from a frozen state (copy on write, no pause), written on a
//! blocking thread, and is the only one kept. Installing one from the leader empties the
//! state machine and applies the snapshot's requests.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use parking_lot::Mutex;

use super::{Response, Types};
use crate::snapshot::{SnapshotReader, SnapshotWriter};
use crate::{unix_ms, Codec, Inner, StateMachine, REPLAY_BATCH};

/// A snapshot on disk, named by its path (the network streams the file).
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    /// The file.
    pub path: PathBuf,
}

/// What raft knows of the applied state.
#[derive(Clone, Default)]
pub(crate) struct Applied {
    pub last: Option<LogIdOf<Types>>,
    pub membership: StoredMembershipOf<Types>,
}

/// The raft state machine adapter; clones share everything.
pub struct Machine<SM: StateMachine> {
    pub(crate) inner: Arc<Inner<SM>>,
    pub(crate) applied: Arc<Mutex<Applied>>,
    pub(crate) dir: PathBuf,
}

impl<SM: StateMachine> Clone for Machine<SM> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), applied: self.applied.clone(), dir: self.dir.clone() }
    }
}

fn snapshot_path(dir: &Path) -> Option<PathBuf> {
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(crate::snapshot::parse_snapshot_name) else {
            continue;
        };
        if newest.as_ref().is_none_or(|(i, _)| index >= *i) {
            newest = Some((index, entry.path()));
        }
    }
    newest.map(|(_, p)| p)
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn snapshot_error(e: crate::snapshot::SnapshotError) -> io::Error {
    invalid(format!("offset {}: {}", e.offset, e.reason))
}

fn read_meta(reader: &mut SnapshotReader) -> io::Result<SnapshotMetaOf<Types>> {
    let first =
        reader.next_record().map_err(snapshot_error)?.ok_or_else(|| invalid("empty snapshot"))?;
    postcard::from_bytes(&first).map_err(invalid)
}

impl<SM: StateMachine> Machine<SM> {
    /// Loads the newest snapshot in `dir` (if any) into the state machine. Blocking.
    pub(crate) fn open(inner: Arc<Inner<SM>>, dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let machine = Self { inner, applied: Arc::new(Mutex::new(Applied::default())), dir };
        if let Some(path) = snapshot_path(&machine.dir) {
            machine.load(&path)?;
        }
        Ok(machine)
    }

    /// Empties the state machine and applies the snapshot at `path`.
    fn load(&self, path: &Path) -> io::Result<SnapshotMetaOf<Types>> {
        let started = crate::monotonic();
        let mut reader = SnapshotReader::open(path).map_err(snapshot_error)?;
        let meta = read_meta(&mut reader)?;
        let index = meta.last_log_id.map_or(0, |id| id.index());
        let load = &self.inner.load;
        load.total_bytes.store(std::fs::metadata(path).map_or(0, |m| m.len()), Ordering::Relaxed);
        load.loaded_bytes.store(0, Ordering::Relaxed);
        tracing::info!(path = %path.display(), index, "loading a snapshot");
        let mut applier = self.inner.applier.lock();
        applier.sm.reset();
        let mut batch = Vec::with_capacity(REPLAY_BATCH);
        let mut count = 0u64;
        while let Some(record) = reader.next_record().map_err(snapshot_error)? {
            batch.push((index, SM::Request::decode_from(record).map_err(invalid)?));
            if batch.len() == REPLAY_BATCH {
                count += batch.len() as u64;
                applier.sm.apply_batch(std::mem::take(&mut batch));
                load.loaded_bytes.store(reader.offset(), Ordering::Relaxed);
                crate::report_load_progress(load);
            }
        }
        count += batch.len() as u64;
        if !batch.is_empty() {
            applier.sm.apply_batch(batch);
        }
        applier.applied = index;
        self.inner.applied.store(index, Ordering::Release);
        load.loaded_bytes.store(load.total_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        *self.applied.lock() =
            Applied { last: meta.last_log_id, membership: meta.last_membership.clone() };
        self.inner.snapshots.index.store(index, Ordering::Relaxed);
        tracing::info!(
            path = %path.display(),
            index,
            requests = count,
            secs = started.elapsed().as_secs_f64(),
            "snapshot loaded"
        );
        Ok(meta)
    }

    fn remove_other_snapshots(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path != keep {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

impl<SM: StateMachine> RaftSnapshotBuilder<Types> for Machine<SM> {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<Types, SnapshotFile>, io::Error> {
        let status = &self.inner.snapshots;
        status.in_progress.store(true, Ordering::Release);
        status.started_unix.store(unix_ms() / 1000, Ordering::Relaxed);
        let (meta, requests) = {
            let mut applier = self.inner.applier.lock();
            let applied = self.applied.lock().clone();
            let meta = SnapshotMetaOf::<Types> {
                last_log_id: applied.last,
                last_membership: applied.membership,
            };
            (meta, applier.sm.freeze())
        };
        let index = meta.last_log_id.map_or(0, |id| id.index());
        let dir = self.dir.clone();
        let encoded_meta = postcard::to_stdvec(&meta).map_err(io::Error::other)?;
        let started = crate::monotonic();
        let written = tokio::task::spawn_blocking(move || -> io::Result<PathBuf> {
            let mut writer = SnapshotWriter::create(&dir, index, unix_ms())?;
            writer.record(|out| out.extend_from_slice(&encoded_meta))?;
            for request in requests {
                writer.record(|out| request.encode_into(out))?;
            }
            writer.finish()
        })
        .await
        .map_err(io::Error::other);
        status.in_progress.store(false, Ordering::Release);
        let path = match written.and_then(|r| r) {
            Ok(path) => path,
            Err(e) => {
                status.last_failed.store(true, Ordering::Relaxed);
                tracing::error!(error = %e, "raft snapshot failed");
                return Err(e);
            }
        };
        self.remove_other_snapshots(&path);
        status.last_failed.store(false, Ordering::Relaxed);
        status.last_save_unix.store(unix_ms() / 1000, Ordering::Relaxed);
        status.last_duration_secs.store(started.elapsed().as_secs(), Ordering::Relaxed);
        status.index.store(index, Ordering::Relaxed);
        self.inner.stats.bytes_since_snapshot.store(0, Ordering::Relaxed);
        tracing::info!(index, secs = started.elapsed().as_secs_f64(), "raft snapshot written");
        Ok(SnapshotOf::<Types, SnapshotFile> { meta, snapshot: SnapshotFile { path } })
    }
}

impl<SM: StateMachine> RaftStateMachine<Types> for Machine<SM> {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<Types>>, StoredMembershipOf<Types>), io::Error> {
        let applied = self.applied.lock().clone();
        Ok((applied.last, applied.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<Types>, io::Error>> + Unpin + OptionalSend,
    {
        let mut batch = Vec::new();
        let mut responders = Vec::new();
        let mut last = None;
        let mut membership = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            last = Some(log_id);
            match entry.payload {
                EntryPayload::Normal(payload) => {
                    let request = SM::Request::decode_from(payload.0).map_err(invalid)?;
                    batch.push((log_id.index(), request));
                    responders.push(responder);
                }
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembershipOf::<Types>::new(Some(log_id), m));
                    if let Some(r) = responder {
                        r.send(Response::empty());
                    }
                }
                EntryPayload::Blank => {
                    if let Some(r) = responder {
                        r.send(Response::empty());
                    }
                }
            }
        }
        let Some(last) = last else { return Ok(()) };
        let mut applier = self.inner.applier.lock();
        // Apply is CPU work that may take long (a busy script runs until SCRIPT KILL):
        // it must not hold a runtime worker, whose queued tasks (raft's own, client
        // connections) could then not run.
        let responses = if batch.is_empty() {
            Vec::new()
        } else {
            tokio::task::block_in_place(|| applier.sm.apply_batch(batch))
        };
        applier.applied = last.index();
        self.inner.applied.store(last.index(), Ordering::Release);
        {
            let mut applied = self.applied.lock();
            applied.last = Some(last);
            if let Some(m) = membership {
                applied.membership = m;
            }
        }
        drop(applier);
        for (response, responder) in responses.into_iter().zip(responders) {
            if let Some(r) = responder {
                r.send(Response::new(response));
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<Types>,
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        let index = meta.last_log_id.map_or(0, |id| id.index());
        let target = self.dir.join(crate::snapshot::snapshot_name(index));
        std::fs::rename(&snapshot.path, &target)?;
        crate::segment::sync_dir(&self.dir)?;
        let machine = self.clone();
        let loaded = {
            let target = target.clone();
            tokio::task::spawn_blocking(move || machine.load(&target))
                .await
                .map_err(io::Error::other)??
        };
        self.remove_other_snapshots(&target);
        tracing::info!(index, last = ?loaded.last_log_id, "snapshot from the leader installed");
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<Types, SnapshotFile>>, io::Error> {
        let Some(path) = snapshot_path(&self.dir) else { return Ok(None) };
        let mut reader = SnapshotReader::open(&path).map_err(snapshot_error)?;
        let meta = read_meta(&mut reader)?;
        Ok(Some(SnapshotOf::<Types, SnapshotFile> { meta, snapshot: SnapshotFile { path } }))
    }
}
