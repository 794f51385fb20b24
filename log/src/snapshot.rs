//! Snapshot files: the whole state as of one log index, so the log before it can go.
//!
//! A snapshot is a compacted log: the state machine freezes its state and hands over the
//! requests that recreate it; they are framed here. File `{index:020}.snap`, written as
//! `.snap.tmp`, fsynced and renamed, so a crash never leaves a half snapshot under the
//! real name. Layout, little-endian: a 40-byte header (magic `ENGRAMSN`, version u32,
//! reserved u32, index u64, created unix ms u64, CRC32C of those 32 bytes u32, 4 zero
//! bytes), then records `len u32 | crc32c(payload) u32 | payload`, then a trailer
//! `u32::MAX | crc32c(count) u32 | count u64` that proves the file is complete. The format
//! is frozen (golden test below).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

/// First bytes of every snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"ENGRAMSN";
/// Snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Bytes before the first record.
pub const HEADER_LEN: usize = 40;
const TRAILER_MARK: u32 = u32::MAX;

/// The file name of the snapshot at `index`.
pub fn snapshot_name(index: u64) -> String {
    format!("{index:020}.snap")
}

/// The index named by a snapshot file name, if it is one.
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".snap")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn encode_header(index: u64, created_ms: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(SNAPSHOT_MAGIC);
    h[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&index.to_le_bytes());
    h[24..32].copy_from_slice(&created_ms.to_le_bytes());
    let crc = crc32c::crc32c(&h[..32]);
    h[32..36].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Writes a snapshot: records go to a temp file, which becomes the snapshot only once
/// complete and durable.
pub struct SnapshotWriter {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    count: u64,
    scratch: Vec<u8>,
    /// Bytes written so far.
    pub bytes: u64,
}

impl SnapshotWriter {
    /// Starts the snapshot of the state at `index` in `dir`.
    pub fn create(dir: &Path, index: u64, created_ms: u64) -> io::Result<Self> {
        let path = dir.join(snapshot_name(index));
        let tmp = dir.join(format!("{}.tmp", snapshot_name(index)));
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        out.write_all(&encode_header(index, created_ms))?;
        Ok(Self {
            out,
            tmp,
            path,
            dir: dir.to_path_buf(),
            count: 0,
            scratch: Vec::new(),
            bytes: HEADER_LEN as u64,
        })
    }

    /// Appends one record; `payload` writes it.
    pub fn record(&mut self, payload: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        self.scratch.clear();
        payload(&mut self.scratch);
        let crc = crc32c::crc32c(&self.scratch);
        self.out.write_all(&(self.scratch.len() as u32).to_le_bytes())?;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&self.scratch)?;
        self.count += 1;
        self.bytes += 8 + self.scratch.len() as u64;
        Ok(())
    }

    /// Writes the trailer, fsyncs, and renames into place; returns the final path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        let count = self.count.to_le_bytes();
        self.out.write_all(&TRAILER_MARK.to_le_bytes())?;
        self.out.write_all(&crc32c::crc32c(&count).to_le_bytes())?;
        self.out.write_all(&count)?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&self.tmp, &self.path)?;
        crate::segment::sync_dir(&self.dir)?;
        Ok(self.path)
    }
}

/// Why a snapshot could not be read: where, and what was wrong.
#[derive(Debug)]
pub struct SnapshotError {
    /// Byte offset of the problem.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
}

/// Reads a snapshot record by record.
pub struct SnapshotReader {
    input: io::BufReader<File>,
    /// The log index the snapshot is the state of.
    pub index: u64,
    /// When it was made (unix ms).
    pub created_ms: u64,
    offset: u64,
    count: u64,
}

impl SnapshotReader {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<Self, SnapshotError> {
        let file =
            File::open(path).map_err(|e| SnapshotError { offset: 0, reason: e.to_string() })?;
        let mut input = io::BufReader::with_capacity(1 << 20, file);
        let mut h = [0u8; HEADER_LEN];
        input
            .read_exact(&mut h)
            .map_err(|_| SnapshotError { offset: 0, reason: "header truncated".into() })?;
        let bad = |reason: &str| SnapshotError { offset: 0, reason: reason.into() };
        if &h[..8] != SNAPSHOT_MAGIC {
            return Err(bad("not an engram snapshot (bad magic)"));
        }
        let crc = u32::from_le_bytes([h[32], h[33], h[34], h[35]]);
        if crc32c::crc32c(&h[..32]) != crc {
            return Err(bad("header checksum mismatch"));
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != SNAPSHOT_VERSION {
            return Err(bad(&format!("unknown snapshot format version {version}")));
        }
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            u64::from_le_bytes(b)
        };
        Ok(Self {
            input,
            index: word(16),
            created_ms: word(24),
            offset: HEADER_LEN as u64,
            count: 0,
        })
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, or None after a valid trailer.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, SnapshotError> {
        let at = self.offset;
        let fail = |reason: &str| SnapshotError { offset: at, reason: reason.into() };
        let mut head = [0u8; 8];
        self.input.read_exact(&mut head).map_err(|_| fail("truncated (no trailer)"))?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == TRAILER_MARK {
            let mut count = [0u8; 8];
            self.input.read_exact(&mut count).map_err(|_| fail("truncated trailer"))?;
            if crc32c::crc32c(&count) != crc || u64::from_le_bytes(count) != self.count {
                return Err(fail("trailer does not match the records read"));
            }
            let mut rest = [0u8; 1];
            if self.input.read(&mut rest).map_err(|e| fail(&e.to_string()))? != 0 {
                return Err(fail("bytes after the trailer"));
            }
            return Ok(None);
        }
        let mut payload = BytesMut::zeroed(len as usize);
        self.input.read_exact(&mut payload).map_err(|_| fail("truncated record"))?;
        if crc32c::crc32c(&payload) != crc {
            return Err(fail("record checksum mismatch"));
        }
        self.offset += 8 + u64::from(len);
        self.count += 1;
        Ok(Some(payload.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("engram-log-snap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, records: &[&[u8]]) -> PathBuf {
        let mut w = SnapshotWriter::create(dir, 9, 1234).unwrap();
        for r in records {
            w.record(|out| out.extend_from_slice(r)).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn snapshot_format_is_frozen() {
        let dir = temp_dir("golden");
        let path = write(&dir, &[b"xy"]);
        let data = std::fs::read(&path).unwrap();
        let expected: Vec<u8> = [
            b"ENGRAMSN".as_slice(),
            &1u32.to_le_bytes(),
            &0u32.to_le_bytes(),
            &9u64.to_le_bytes(),
            &1234u64.to_le_bytes(),
            &0x3363_4b2du32.to_le_bytes(),
            &[0, 0, 0, 0],
            &2u32.to_le_bytes(),
            &crc32c::crc32c(b"xy").to_le_bytes(),
            b"xy",
            &u32::MAX.to_le_bytes(),
            &crc32c::crc32c(&1u64.to_le_bytes()).to_le_bytes(),
            &1u64.to_le_bytes(),
        ]
        .concat();
        assert_eq!(data, expected, "{data:02x?}");
        assert!(!dir.join(format!("{}.tmp", snapshot_name(9))).exists());
        let mut r = SnapshotReader::open(&path).unwrap();
        assert_eq!((r.index, r.created_ms), (9, 1234));
        assert_eq!(r.next_record().unwrap(), Some(Bytes::from_static(b"xy")));
        assert!(r.next_record().unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_or_incomplete_snapshots_are_refused_with_the_offset() {
        let dir = temp_dir("damage");
        let path = write(&dir, &[b"one", b"two"]);
        let data = std::fs::read(&path).unwrap();
        // Cut before the trailer.
        std::fs::write(&path, &data[..data.len() - 16]).unwrap();
        let mut r = SnapshotReader::open(&path).unwrap();
        assert!(r.next_record().unwrap().is_some());
        assert!(r.next_record().unwrap().is_some());
        let e = r.next_record().unwrap_err();
        assert_eq!(e.offset, (HEADER_LEN + 11 + 11) as u64);
        // A flipped payload byte.
        let mut flipped = data.clone();
        flipped[HEADER_LEN + 8 + 11] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let mut r = SnapshotReader::open(&path).unwrap();
        assert!(r.next_record().unwrap().is_some());
        let e = r.next_record().unwrap_err();
        assert_eq!(
            (e.offset, e.reason.as_str()),
            ((HEADER_LEN + 11) as u64, "record checksum mismatch")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
