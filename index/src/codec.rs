//! A minimal little-endian byte format for persisting index state in snapshots:
//! fixed-width integers and floats, length-prefixed slices, and a CRC32C trailer that
//! [`Reader::open`] checks before anything is decoded.

/// Appends values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty buffer that starts with `magic`.
    pub fn new(magic: &[u8]) -> Self {
        let mut w = Writer { buf: Vec::new() };
        w.bytes(magic);
        w
    }

    /// A u8.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An f64 (bit pattern).
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A length-prefixed run of u32s.
    pub fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        self.buf.reserve(v.len() * 4);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// A length-prefixed run of f32s.
    pub fn f32s(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        self.buf.reserve(v.len() * 4);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// The buffer with its checksum appended.
    pub fn finish(mut self) -> Vec<u8> {
        let crc = crc32c::crc32c(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// Reads what a [`Writer`] wrote; every read fails (None) past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `data` if its checksum holds and it starts with `magic`.
    pub fn open(data: &'a [u8], magic: &[u8]) -> Option<Self> {
        let body_len = data.len().checked_sub(4)?;
        let (body, crc) = data.split_at(body_len);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return None;
        }
        let mut r = Reader { buf: body, pos: 0 };
        (r.bytes()? == magic).then_some(r)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    /// A u8.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// A u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// An f64.
    pub fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }

    fn len(&mut self, width: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        // A corrupt length must not make us allocate more than the data holds.
        (n.checked_mul(width)? <= self.buf.len() - self.pos).then_some(n)
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len(1)?;
        self.take(n)
    }

    /// A length-prefixed run of u32s.
    pub fn u32s(&mut self) -> Option<Vec<u32>> {
        let n = self.len(4)?;
        let raw = self.take(n * 4)?;
        Some(raw.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// A length-prefixed run of f32s.
    pub fn f32s(&mut self) -> Option<Vec<f32>> {
        let n = self.len(4)?;
        let raw = self.take(n * 4)?;
        Some(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// True when everything was read.
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_corruption() {
        let mut w = Writer::new(b"T1");
        w.u8(7);
        w.u32s(&[1, 2, 3]);
        w.f32s(&[0.5, -1.0]);
        w.f64(2.25);
        let data = w.finish();
        let mut r = Reader::open(&data, b"T1").unwrap();
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.u32s().unwrap(), [1, 2, 3]);
        assert_eq!(r.f32s().unwrap(), [0.5, -1.0]);
        assert_eq!(r.f64(), Some(2.25));
        assert!(r.at_end());
        let mut bad = data.clone();
        bad[5] ^= 1;
        assert!(Reader::open(&bad, b"T1").is_none());
        assert!(Reader::open(&data, b"T2").is_none());
    }
}
