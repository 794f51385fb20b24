//! Segment files: the log on disk.
//!
//! A segment is named after the index of its first record (`{first:020}.seg`) and holds
//! consecutive records. Its 32-byte header is the magic `ENGRAMWL`, the format version
//! (u32), a reserved u32, the first index (u64) and a CRC32C of those 24 bytes, padded to
//! 32. Each record is `payload_len u32 | crc32c u32 | index u64 | payload`, the CRC
//! covering the index and the payload, all integers little-endian. The format is frozen
//! (golden test below): a log written by this version must be readable by every later one.
//!
//! Reading tells a torn tail from corruption: a crash can only leave the *end* of the last
//! segment incomplete (it was never fsynced, so never acknowledged), and that is cut off.
//! A bad record anywhere else, or one followed by a valid record, is damage to
//! acknowledged data: recovery refuses to start and names the file and offset.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// First bytes of every segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"ENGRAMWL";
/// Segment format version.
pub const SEGMENT_VERSION: u32 = 1;
/// Bytes before the first record.
pub const HEADER_LEN: usize = 32;
/// Bytes before each record's payload.
pub const RECORD_HEADER_LEN: usize = 16;

/// The file name of the segment starting at `first_index`.
pub fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}.seg")
}

/// The first index named by a segment file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header of a segment starting at `first_index`.
pub fn encode_header(first_index: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The first index a header declares, or why it is not a valid header.
pub fn decode_header(h: &[u8]) -> Result<u64, String> {
    if h.len() < HEADER_LEN {
        return Err(format!("segment header truncated ({} of {HEADER_LEN} bytes)", h.len()));
    }
    if &h[..8] != SEGMENT_MAGIC {
        return Err("not an engram log segment (bad magic)".into());
    }
    let crc = u32::from_le_bytes([h[24], h[25], h[26], h[27]]);
    if crc32c::crc32c(&h[..24]) != crc {
        return Err("segment header checksum mismatch".into());
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != SEGMENT_VERSION {
        return Err(format!("unknown segment format version {version}"));
    }
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[16..24]);
    Ok(u64::from_le_bytes(first))
}

/// Appends one record to `buf`; `payload` writes the payload after the header.
pub fn append_record(buf: &mut Vec<u8>, index: u64, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; 8]);
    buf.extend_from_slice(&index.to_le_bytes());
    payload(buf);
    let len = (buf.len() - start - RECORD_HEADER_LEN) as u32;
    let crc = crc32c::crc32c(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// How reading a segment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belonged to a valid record.
    Clean,
    /// The last segment ends in an incomplete or damaged record with nothing valid after
    /// it: a write the crash interrupted. Valid data ends at `offset`.
    TornTail {
        /// Where valid data ends.
        offset: u64,
        /// What was wrong there.
        reason: String,
    },
    /// Damage before valid data: acknowledged records may be affected.
    Corrupt {
        /// Where the damage starts.
        offset: u64,
        /// What was wrong there.
        reason: String,
    },
}

/// The records of one segment and how reading ended.
pub struct Scan {
    /// The index its header declares.
    pub first_index: u64,
    /// (index, payload) of every valid record, in order.
    pub records: Vec<(u64, Bytes)>,
    /// How reading ended.
    pub end: ScanEnd,
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Checks the record at `pos`: Ok((index, payload range end)) or why not.
fn check_record(data: &[u8], pos: usize) -> Result<(u64, usize), &'static str> {
    if data.len() - pos < RECORD_HEADER_LEN {
        return Err("truncated record header");
    }
    let len = u32_at(data, pos) as usize;
    let crc = u32_at(data, pos + 4);
    let end = pos + RECORD_HEADER_LEN + len;
    if end > data.len() {
        return Err("truncated record");
    }
    if crc32c::crc32c(&data[pos + 8..end]) != crc {
        return Err("record checksum mismatch");
    }
    Ok((u64_at(data, pos + 8), end))
}

/// Whether a valid record with an index in `(after, after + 2^20]` starts anywhere past
/// `from`: the sign that damage at `from` is not just an interrupted final write.
fn valid_record_after(data: &[u8], from: usize, after: u64) -> bool {
    (from + 1..data.len().saturating_sub(RECORD_HEADER_LEN - 1)).any(|pos| {
        let index = u64_at(data, pos + 8);
        index > after
            && index <= after + (1 << 20)
            && check_record(data, pos).is_ok_and(|(i, _)| i == index)
    })
}

/// Reads every record of a segment (`data` is the whole file); `is_last` says whether a
/// bad ending may be a torn tail.
pub fn scan(data: &Bytes, is_last: bool) -> Result<Scan, String> {
    let first_index = decode_header(data)?;
    let mut records = Vec::new();
    let mut pos = HEADER_LEN;
    let mut expected = first_index;
    let end = loop {
        if pos == data.len() {
            break ScanEnd::Clean;
        }
        let bad = match check_record(data, pos) {
            Ok((index, _)) if index != expected => {
                Some(format!("record index {index} where {expected} was expected"))
            }
            Ok((index, end)) => {
                records.push((index, data.slice(pos + RECORD_HEADER_LEN..end)));
                expected += 1;
                pos = end;
                None
            }
            Err(reason) => Some(reason.to_string()),
        };
        if let Some(reason) = bad {
            let offset = pos as u64;
            break if is_last && !valid_record_after(data, pos, expected.saturating_sub(1)) {
                ScanEnd::TornTail { offset, reason }
            } else {
                ScanEnd::Corrupt { offset, reason }
            };
        }
    };
    Ok(Scan { first_index, records, end })
}

/// Fsyncs a directory so a created, renamed or removed file's entry is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment being appended to (owned by the log's writer thread).
pub struct SegmentWriter {
    dir: PathBuf,
    file: File,
    /// Bytes in the file.
    pub size: u64,
    /// Index of its first record.
    pub first_index: u64,
}

impl SegmentWriter {
    /// Creates a new, empty segment starting at `first_index`, durably.
    pub fn create(dir: &Path, first_index: u64) -> io::Result<Self> {
        let path = dir.join(segment_name(first_index));
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
        file.write_all(&encode_header(first_index))?;
        file.sync_all()?;
        sync_dir(dir)?;
        Ok(Self { dir: dir.to_path_buf(), file, size: HEADER_LEN as u64, first_index })
    }

    /// Reopens an existing segment for appending after its first `valid_len` bytes
    /// (cutting off a torn tail).
    pub fn reopen(dir: &Path, first_index: u64, valid_len: u64) -> io::Result<Self> {
        let path = dir.join(segment_name(first_index));
        let file = OpenOptions::new().write(true).open(&path)?;
        if file.metadata()?.len() != valid_len {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        let mut writer = Self { dir: dir.to_path_buf(), file, size: valid_len, first_index };
        writer.seek_end()?;
        Ok(writer)
    }

    fn seek_end(&mut self) -> io::Result<()> {
        use std::io::Seek;
        self.file.seek(io::SeekFrom::Start(self.size))?;
        Ok(())
    }

    /// Appends already-framed records.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_all(bytes) {
            // Leave no partial batch behind us: the next write must start on a record
            // boundary, and recovery would otherwise see damage before valid records.
            let _ = self.file.set_len(self.size);
            let _ = self.seek_end();
            return Err(e);
        }
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// `fdatasync`: every byte written so far is on disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut data = encode_header(first).to_vec();
        for (i, p) in payloads.iter().enumerate() {
            append_record(&mut data, first + i as u64, |out| out.extend_from_slice(p));
        }
        data
    }

    #[test]
    fn segment_format_is_frozen() {
        // Golden bytes: a segment written by this version must be readable forever.
        let data = segment(7, &[b"ab"]);
        let expected: Vec<u8> = [
            b"ENGRAMWL".as_slice(),
            &1u32.to_le_bytes(),
            &0u32.to_le_bytes(),
            &7u64.to_le_bytes(),
            &0xbb2d_838au32.to_le_bytes(),
            &[0, 0, 0, 0],
            &2u32.to_le_bytes(),
            &0x8b65_2116u32.to_le_bytes(),
            &7u64.to_le_bytes(),
            b"ab",
        ]
        .concat();
        assert_eq!(data, expected, "{data:02x?}");
        let scan = scan(&Bytes::from(data), true).unwrap();
        assert_eq!(scan.first_index, 7);
        assert_eq!(scan.records, vec![(7, Bytes::from_static(b"ab"))]);
        assert_eq!(scan.end, ScanEnd::Clean);
    }

    #[test]
    fn a_cut_last_record_is_a_torn_tail() {
        let data = segment(1, &[b"one", b"two", b"three"]);
        let whole = data.len();
        for cut in [whole - 1, whole - 5, whole - 10, whole - 20] {
            let scan = scan(&Bytes::from(data[..cut].to_vec()), true).unwrap();
            assert_eq!(scan.records.len(), 2, "cut at {cut}");
            assert!(
                matches!(scan.end, ScanEnd::TornTail { offset, .. } if offset == (whole - 21) as u64),
                "{:?}",
                scan.end
            );
        }
        // Zeros after the last record (a preallocated or unsynced page) are a torn tail too.
        let mut zeros = data.clone();
        zeros.extend_from_slice(&[0u8; 100]);
        let scan = scan(&Bytes::from(zeros), true).unwrap();
        assert_eq!(scan.records.len(), 3);
        assert!(matches!(scan.end, ScanEnd::TornTail { .. }));
    }

    #[test]
    fn damage_before_valid_records_is_corruption() {
        let mut data = segment(1, &[b"one", b"two", b"three"]);
        let second = HEADER_LEN + RECORD_HEADER_LEN + 3;
        data[second + RECORD_HEADER_LEN] ^= 0xff;
        let scan = scan(&Bytes::from(data.clone()), true).unwrap();
        assert_eq!(scan.records.len(), 1);
        assert_eq!(
            scan.end,
            ScanEnd::Corrupt { offset: second as u64, reason: "record checksum mismatch".into() }
        );
        // The same damage at the very end of a segment that is not the last one.
        let mut not_last = segment(1, &[b"one", b"two"]);
        let at = not_last.len() - 1;
        not_last[at] ^= 1;
        let scan = super::scan(&Bytes::from(not_last), false).unwrap();
        assert!(matches!(scan.end, ScanEnd::Corrupt { .. }));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("00000000000000000042.snap"), None);
    }
}
