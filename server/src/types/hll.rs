//! HyperLogLog in Redis's documented string representation, so a value written by Redis
//! (GET there, SET here) reads the same here and the other way round.
//!
//! Layout: a 16-byte header (`HYLL`, encoding byte, 3 unused bytes, 8 bytes of cached
//! cardinality, little-endian, whose top bit marks the cache invalid) followed by either
//! - dense: 16384 registers of 6 bits, register `i` at bit `6 * i`, least significant
//!   bits first (12288 bytes), or
//! - sparse: run-length opcodes `ZERO` (`00xxxxxx`: 1..=64 zero registers), `XZERO`
//!   (`01xxxxxx yyyyyyyy`: 1..=16384 zero registers) and `VAL` (`1vvvvvll`: 1..=4
//!   registers of value 1..=32).
//!
//! An element hashes with MurmurHash64A (seed `0xadc83b19`): the low 14 bits choose the
//! register, the position of the first set bit of the rest (1-based, at most 51) is the
//! candidate value. The estimate is Ertl's improved estimator ("New cardinality
//! estimation algorithms for HyperLogLog sketches", 2017) over the register histogram.
//!
//! Sparse updates edit the opcode stream in place (split the run holding the register,
//! then merge equal neighbouring `VAL`s) so the bytes, and therefore the moment the
//! sparse form outgrows `hll-sparse-max-bytes` and turns dense, follow Redis.
//!
//! Everything here is pure and deterministic: no clock, no randomness, no I/O.

/// Index bits.
pub const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Hash bits left after the index.
pub const Q: u32 = 64 - P;
/// Header size.
pub const HDR_LEN: usize = 16;
/// Bytes of dense registers.
pub const DENSE_REG_BYTES: usize = REGISTERS * 6 / 8;
/// Total length of a dense HLL.
pub const DENSE_LEN: usize = HDR_LEN + DENSE_REG_BYTES;
/// Redis's default `hll-sparse-max-bytes`.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

const MAGIC: &[u8; 4] = b"HYLL";
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
const REG_MAX: u8 = 63;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const HASH_SEED: u64 = 0xadc8_3b19;
/// Byte of the header holding the cache-invalid bit.
const CARD_MSB: usize = 15;

/// Why a string is not a usable HLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllError {
    /// Not an HLL at all (bad magic, unknown encoding, dense of the wrong length):
    /// Redis answers WRONGTYPE.
    NotHll,
    /// A sparse stream that does not describe exactly 16384 registers: INVALIDOBJ.
    Corrupted,
}

/// The two stored encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

impl Encoding {
    /// The name PFDEBUG ENCODING prints.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
        }
    }
}

/// Checks the header (and the dense length), as Redis does before any HLL command.
pub fn check(s: &[u8]) -> Result<Encoding, HllError> {
    if s.len() < HDR_LEN || &s[..4] != MAGIC {
        return Err(HllError::NotHll);
    }
    match s[4] {
        ENC_DENSE if s.len() == DENSE_LEN => Ok(Encoding::Dense),
        ENC_SPARSE => Ok(Encoding::Sparse),
        _ => Err(HllError::NotHll),
    }
}

/// MurmurHash64A (Austin Appleby), reading 8-byte blocks little-endian on every host.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = block.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// (register index, candidate value) for an element.
pub fn hash_element(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, HASH_SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The sentinel bit bounds the value at Q + 1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Register `i` of a dense register area. The byte after the area reads as 0 (Redis
/// keeps a terminator there); the mask drops it anyway.
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (b, fb) = (bit / 8, bit % 8);
    let b0 = u16::from(regs[b]);
    let b1 = u16::from(regs.get(b + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REG_MAX)) as u8
}

/// Sets register `i` of a dense register area to `v` (at most 63).
pub fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let bit = i * 6;
    let (b, fb) = (bit / 8, bit % 8);
    let v = u16::from(v & REG_MAX);
    let mask = u16::from(REG_MAX) << fb;
    regs[b] = (u16::from(regs[b]) & !mask | (v << fb)) as u8;
    if fb > 2 {
        // The register continues in the next byte (never past the end: the last
        // register starts at bit 2 of the last byte).
        let high = u16::from(REG_MAX) >> (8 - fb);
        regs[b + 1] = (u16::from(regs[b + 1]) & !high | (v >> (8 - fb))) as u8;
    }
}

/// One decoded sparse opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// Registers covered.
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    /// Bytes taken.
    fn size(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }

    /// A zero run, in the shortest opcode that holds it.
    fn zeros(n: usize) -> Op {
        if n <= ZERO_MAX_LEN {
            Op::Zero(n)
        } else {
            Op::XZero(n)
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Op::Zero(n) => out.push((n - 1) as u8),
            Op::XZero(n) => {
                let n = n - 1;
                out.push(0x40 | (n >> 8) as u8);
                out.push((n & 0xff) as u8);
            }
            Op::Val(v, n) => out.push(val_byte(v, n)),
        }
    }
}

fn val_byte(v: u8, n: usize) -> u8 {
    0x80 | ((v - 1) << 2) | (n - 1) as u8
}

/// Decodes the opcode at `pos` (`pos < s.len()`); a missing second byte of an XZERO
/// reads as 0, as Redis reads its string terminator there.
fn op_at(s: &[u8], pos: usize) -> Op {
    let b = s[pos];
    if b & 0x80 != 0 {
        Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 0x03) + 1)
    } else if b & 0x40 != 0 {
        let lo = usize::from(s.get(pos + 1).copied().unwrap_or(0));
        Op::XZero(((usize::from(b & 0x3f) << 8) | lo) + 1)
    } else {
        Op::Zero(usize::from(b & 0x3f) + 1)
    }
}

/// Iterates over the opcodes of a sparse body.
fn ops(body: &[u8]) -> impl Iterator<Item = Op> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= body.len() {
            return None;
        }
        let op = op_at(body, pos);
        pos += op.size();
        Some(op)
    })
}

/// Register histogram of a checked HLL (values 0..=63); fails on a sparse stream that
/// does not cover exactly 16384 registers.
fn histogram(s: &[u8], enc: Encoding) -> Result<[u32; 64], HllError> {
    let mut hist = [0u32; 64];
    match enc {
        Encoding::Dense => {
            for i in 0..REGISTERS {
                hist[usize::from(dense_get(&s[HDR_LEN..], i))] += 1;
            }
        }
        Encoding::Sparse => {
            let mut total = 0usize;
            for op in ops(&s[HDR_LEN..]) {
                let value = match op {
                    Op::Val(v, _) => usize::from(v),
                    _ => 0,
                };
                hist[value] += op.span() as u32;
                total += op.span();
            }
            if total != REGISTERS {
                return Err(HllError::Corrupted);
            }
        }
    }
    Ok(hist)
}

/// Ertl's improved estimator over a register histogram.
pub fn estimate(hist: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(hist[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(hist[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(hist[0]) / m);
    let alpha_inf = 0.5 / std::f64::consts::LN_2;
    (alpha_inf * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The cached cardinality, if the cache is valid.
pub fn cached_count(s: &[u8]) -> Option<u64> {
    if s[CARD_MSB] & 0x80 != 0 {
        return None;
    }
    let mut card = [0u8; 8];
    card.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(card))
}

/// Estimated cardinality of a stored HLL, ignoring the cache.
pub fn count(s: &[u8]) -> Result<u64, HllError> {
    let enc = check(s)?;
    Ok(estimate(&histogram(s, enc)?))
}

/// Registers as a plain array, for unions.
pub struct Registers(pub Box<[u8; REGISTERS]>);

impl Default for Registers {
    fn default() -> Self {
        Registers(Box::new([0u8; REGISTERS]))
    }
}

impl Registers {
    /// Raises each register to the one in `s` (a stored HLL) where that is larger.
    /// A sparse stream must cover exactly 16384 registers; a `VAL` that would run past
    /// the last register ends the walk.
    pub fn merge(&mut self, s: &[u8]) -> Result<(), HllError> {
        match check(s)? {
            Encoding::Dense => {
                for (i, r) in self.0.iter_mut().enumerate() {
                    *r = (*r).max(dense_get(&s[HDR_LEN..], i));
                }
            }
            Encoding::Sparse => {
                let mut i = 0usize;
                for op in ops(&s[HDR_LEN..]) {
                    match op {
                        Op::Zero(n) | Op::XZero(n) => i += n,
                        Op::Val(v, n) => {
                            if i + n > REGISTERS {
                                break;
                            }
                            for r in &mut self.0[i..i + n] {
                                *r = (*r).max(v);
                            }
                            i += n;
                        }
                    }
                }
                if i != REGISTERS {
                    return Err(HllError::Corrupted);
                }
            }
        }
        Ok(())
    }

    /// Estimated cardinality of the union.
    pub fn count(&self) -> u64 {
        let mut hist = [0u32; 64];
        for &r in self.0.iter() {
            hist[usize::from(r & REG_MAX)] += 1;
        }
        estimate(&hist)
    }
}

/// An HLL being modified: a copy of the stored bytes, written back once every step
/// succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hll {
    buf: Vec<u8>,
}

impl Hll {
    /// An empty sparse HLL with an invalid cache (what PFADD creates).
    pub fn new() -> Hll {
        let mut buf = Vec::with_capacity(HDR_LEN + 2);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&[ENC_SPARSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        Op::XZero(REGISTERS).encode(&mut buf);
        Hll { buf }
    }

    /// A copy of a stored value, if its header is valid.
    pub fn from_bytes(s: &[u8]) -> Result<Hll, HllError> {
        check(s)?;
        Ok(Hll { buf: s.to_vec() })
    }

    /// The bytes to store.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The current encoding.
    pub fn encoding(&self) -> Encoding {
        if self.buf[4] == ENC_DENSE {
            Encoding::Dense
        } else {
            Encoding::Sparse
        }
    }

    /// Marks the cached cardinality stale.
    pub fn invalidate_cache(&mut self) {
        self.buf[CARD_MSB] |= 0x80;
    }

    /// Adds an element; true if a register changed. `max_sparse` is
    /// `hll-sparse-max-bytes`.
    pub fn add(&mut self, element: &[u8], max_sparse: usize) -> Result<bool, HllError> {
        let (index, value) = hash_element(element);
        self.set(index, value, max_sparse)
    }

    /// Raises register `index` to `value`; true if it changed. A sparse HLL turns dense
    /// when `value` does not fit a `VAL` opcode or the update would grow it beyond
    /// `max_sparse` bytes.
    pub fn set(&mut self, index: usize, value: u8, max_sparse: usize) -> Result<bool, HllError> {
        if self.encoding() == Encoding::Sparse {
            if value <= VAL_MAX_VALUE {
                if let Some(updated) = self.sparse_set(index, value, max_sparse)? {
                    return Ok(updated);
                }
            }
            self.to_dense()?;
        }
        let regs = &mut self.buf[HDR_LEN..];
        if dense_get(regs, index) < value {
            dense_set(regs, index, value);
            return Ok(true);
        }
        Ok(false)
    }

    /// Converts a sparse HLL to dense, keeping the header; false if already dense.
    pub fn to_dense(&mut self) -> Result<bool, HllError> {
        if self.encoding() == Encoding::Dense {
            return Ok(false);
        }
        let mut dense = vec![0u8; DENSE_LEN];
        dense[..HDR_LEN].copy_from_slice(&self.buf[..HDR_LEN]);
        dense[4] = ENC_DENSE;
        let mut i = 0usize;
        for op in ops(&self.buf[HDR_LEN..]) {
            match op {
                Op::Zero(n) | Op::XZero(n) => i += n,
                Op::Val(v, n) => {
                    if i + n > REGISTERS {
                        break;
                    }
                    for r in i..i + n {
                        dense_set(&mut dense[HDR_LEN..], r, v);
                    }
                    i += n;
                }
            }
        }
        if i != REGISTERS {
            return Err(HllError::Corrupted);
        }
        self.buf = dense;
        Ok(true)
    }

    /// The sparse update: `Some(changed)`, or `None` when the HLL must turn dense first.
    fn sparse_set(
        &mut self,
        index: usize,
        value: u8,
        max_sparse: usize,
    ) -> Result<Option<bool>, HllError> {
        // Find the opcode covering `index`, and the one before it (merges start there).
        let (mut pos, mut first, mut prev) = (HDR_LEN, 0usize, None);
        let op = loop {
            if pos >= self.buf.len() {
                return Err(HllError::Corrupted);
            }
            let op = op_at(&self.buf, pos);
            if index < first + op.span() {
                if pos + op.size() > self.buf.len() {
                    // An XZERO cut short by the end of the string.
                    return Err(HllError::Corrupted);
                }
                break op;
            }
            prev = Some(pos);
            pos += op.size();
            first += op.span();
        };
        match op {
            Op::Val(old, _) if old >= value => return Ok(Some(false)),
            Op::Val(_, 1) | Op::Zero(1) => self.buf[pos] = val_byte(value, 1),
            _ => {
                // Split the run into (before, the register, after).
                let last = first + op.span() - 1;
                let mut seq = Vec::with_capacity(5);
                let run = |n: usize| match op {
                    Op::Val(old, _) => Op::Val(old, n),
                    _ => Op::zeros(n),
                };
                if index != first {
                    run(index - first).encode(&mut seq);
                }
                Op::Val(value, 1).encode(&mut seq);
                if index != last {
                    run(last - index).encode(&mut seq);
                }
                let grows = seq.len() > op.size();
                if grows && self.buf.len() + seq.len() - op.size() > max_sparse {
                    return Ok(None);
                }
                self.buf.splice(pos..pos + op.size(), seq);
            }
        }
        self.merge_vals(prev.unwrap_or(HDR_LEN));
        self.invalidate_cache();
        Ok(Some(true))
    }

    /// Merges neighbouring `VAL`s of equal value that fit one opcode, scanning up to five
    /// opcodes from `pos`.
    fn merge_vals(&mut self, mut pos: usize) {
        let mut scan = 5;
        while pos < self.buf.len() && scan > 0 {
            scan -= 1;
            let (a, b) = match op_at(&self.buf, pos) {
                Op::XZero(_) => {
                    pos += 2;
                    continue;
                }
                Op::Zero(_) => {
                    pos += 1;
                    continue;
                }
                Op::Val(v, n) => (v, n),
            };
            if pos + 1 < self.buf.len() {
                if let Op::Val(v2, n2) = op_at(&self.buf, pos + 1) {
                    if a == v2 && b + n2 <= VAL_MAX_LEN {
                        self.buf[pos + 1] = val_byte(a, b + n2);
                        self.buf.remove(pos);
                        // Try the merged run against the next one too.
                        continue;
                    }
                }
            }
            pos += 1;
        }
    }
}

impl Default for Hll {
    fn default() -> Self {
        Hll::new()
    }
}

/// The PFDEBUG DECODE text of a sparse body: `z:n` (ZERO), `Z:n` (XZERO), `v:value,n`.
pub fn decode_sparse(s: &[u8]) -> String {
    let mut out = Vec::new();
    for op in ops(&s[HDR_LEN.min(s.len())..]) {
        out.push(match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        });
    }
    out.join(" ")
}

/// All 16384 registers of a stored HLL (a sparse one must be valid).
pub fn registers(s: &[u8]) -> Result<Registers, HllError> {
    let mut regs = Registers::default();
    regs.merge(s)?;
    Ok(regs)
}

/// PFSELFTEST: register packing and estimator error on a deterministic stream.
/// Returns a description of the first failure.
pub fn self_test(seed: u64) -> Result<(), String> {
    let mut rng = crate::rng::Rng::new(seed);
    // 1. Packing: every register keeps its value without disturbing its neighbours.
    let mut regs = vec![0u8; DENSE_REG_BYTES];
    let mut expect = vec![0u8; REGISTERS];
    for _ in 0..16 {
        for (i, e) in expect.iter_mut().enumerate() {
            *e = rng.below(u64::from(REG_MAX) + 1) as u8;
            dense_set(&mut regs, i, *e);
        }
        for (i, &e) in expect.iter().enumerate() {
            let got = dense_get(&regs, i);
            if got != e {
                return Err(format!("TESTFAILED Register error at {i}: {got} != {e}"));
            }
        }
    }
    // 2. Sparse and dense agree, and the estimate stays within 5 standard errors.
    let mut sparse = Hll::new();
    let mut dense = Hll::new();
    dense.to_dense().map_err(|_| "TESTFAILED dense conversion".to_string())?;
    let std_err = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 10u64;
    for n in 1..=200_000u64 {
        let element = (n ^ seed).to_le_bytes();
        let (index, value) = hash_element(&element);
        let failed = |_| format!("TESTFAILED corrupted HLL at {n}");
        sparse.set(index, value, DEFAULT_SPARSE_MAX_BYTES).map_err(failed)?;
        dense.set(index, value, DEFAULT_SPARSE_MAX_BYTES).map_err(failed)?;
        if n == checkpoint {
            checkpoint = checkpoint * 11 / 10 + 1;
            let a = count(sparse.as_bytes()).map_err(failed)?;
            let b = count(dense.as_bytes()).map_err(failed)?;
            if a != b {
                return Err(format!("TESTFAILED sparse count {a} != dense count {b} at {n}"));
            }
            let max_err = if n < 10 { 1.0 } else { n as f64 * std_err * 5.0 };
            if (a as f64 - n as f64).abs() > max_err {
                return Err(format!("TESTFAILED estimate {a} too far from {n}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(h: &Hll) -> &[u8] {
        &h.as_bytes()[HDR_LEN..]
    }

    fn add_all(h: &mut Hll, n: std::ops::Range<u64>, max: usize) {
        for i in n {
            h.add(format!("e{i}").as_bytes(), max).unwrap();
        }
    }

    #[test]
    fn murmur_matches_known_vectors() {
        // Register/value pairs observed from Redis 7.4 (`PFADD h a b c` then DECODE:
        // "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603").
        let mut h = Hll::new();
        for e in [b"a", b"b", b"c"] {
            h.add(e, DEFAULT_SPARSE_MAX_BYTES).unwrap();
        }
        assert_eq!(decode_sparse(h.as_bytes()), "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603");
        assert_eq!(
            h.as_bytes(),
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a"
        );
        assert_eq!(count(h.as_bytes()), Ok(3));
    }

    #[test]
    fn dense_packing_round_trips() {
        let mut regs = vec![0u8; DENSE_REG_BYTES];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
        dense_set(&mut regs, 5, 0);
        assert_eq!(dense_get(&regs, 4), 4);
        assert_eq!(dense_get(&regs, 5), 0);
        assert_eq!(dense_get(&regs, 6), 6);
    }

    #[test]
    fn empty_hll_is_one_xzero_with_invalid_cache() {
        let h = Hll::new();
        assert_eq!(h.as_bytes(), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff");
        assert_eq!(check(h.as_bytes()), Ok(Encoding::Sparse));
        assert_eq!(cached_count(h.as_bytes()), None);
        assert_eq!(count(h.as_bytes()), Ok(0));
    }

    #[test]
    fn sparse_and_dense_agree_and_round_trip() {
        let mut sparse = Hll::new();
        add_all(&mut sparse, 0..300, usize::MAX);
        assert_eq!(sparse.encoding(), Encoding::Sparse);
        let mut dense = sparse.clone();
        assert_eq!(dense.to_dense(), Ok(true));
        assert_eq!(dense.as_bytes().len(), DENSE_LEN);
        assert_eq!(count(sparse.as_bytes()), count(dense.as_bytes()));
        let (a, b) = (registers(sparse.as_bytes()).unwrap(), registers(dense.as_bytes()).unwrap());
        assert_eq!(a.0, b.0);
        // The sparse body covers exactly 16384 registers, and adds to a dense copy land
        // on the same registers.
        let total: usize = ops(body_of(&sparse)).map(Op::span).sum();
        assert_eq!(total, REGISTERS);
        let mut d2 = Hll::new();
        d2.to_dense().unwrap();
        add_all(&mut d2, 0..300, usize::MAX);
        assert_eq!(d2.as_bytes()[HDR_LEN..], dense.as_bytes()[HDR_LEN..]);
    }

    #[test]
    fn sparse_keeps_equal_neighbours_merged() {
        let mut h = Hll::new();
        for i in 0..6 {
            h.set(i, 3, usize::MAX).unwrap();
        }
        assert_eq!(decode_sparse(h.as_bytes()), "v:3,4 v:3,2 Z:16378");
        h.set(10, 1, usize::MAX).unwrap();
        h.set(8, 1, usize::MAX).unwrap();
        h.set(9, 1, usize::MAX).unwrap();
        assert_eq!(decode_sparse(h.as_bytes()), "v:3,4 v:3,2 z:2 v:1,3 Z:16373");
        assert_eq!(h.set(9, 1, usize::MAX), Ok(false));
        h.set(9, 2, usize::MAX).unwrap();
        assert_eq!(decode_sparse(h.as_bytes()), "v:3,4 v:3,2 z:2 v:1,1 v:2,1 v:1,1 Z:16373");
    }

    #[test]
    fn error_within_two_percent_at_100k() {
        let mut h = Hll::new();
        add_all(&mut h, 0..100_000, DEFAULT_SPARSE_MAX_BYTES);
        assert_eq!(h.encoding(), Encoding::Dense);
        let c = count(h.as_bytes()).unwrap() as f64;
        assert!((c - 100_000.0).abs() / 100_000.0 < 0.02, "{c}");
        for n in [1u64, 10, 100, 1000, 10_000] {
            let mut h = Hll::new();
            add_all(&mut h, 0..n, DEFAULT_SPARSE_MAX_BYTES);
            let c = count(h.as_bytes()).unwrap() as f64;
            assert!((c - n as f64).abs() <= (n as f64 * 0.03).max(1.0), "{n}: {c}");
        }
    }

    #[test]
    fn sparse_turns_dense_past_the_size_limit() {
        let mut h = Hll::new();
        let mut n = 0;
        while h.encoding() == Encoding::Sparse {
            assert!(h.as_bytes().len() <= 300);
            h.add(format!("x{n}").as_bytes(), 300).unwrap();
            n += 1;
        }
        assert_eq!(h.as_bytes().len(), DENSE_LEN);
        assert!(n > 20, "{n}");
        // A value above 32 cannot be a VAL: promotion regardless of size.
        let mut h = Hll::new();
        assert_eq!(h.set(7, 40, usize::MAX), Ok(true));
        assert_eq!(h.encoding(), Encoding::Dense);
        assert_eq!(dense_get(&h.as_bytes()[HDR_LEN..], 7), 40);
    }

    #[test]
    fn merge_of_sparse_and_dense_is_the_union() {
        let mut a = Hll::new();
        add_all(&mut a, 0..500, usize::MAX);
        let mut b = Hll::new();
        b.to_dense().unwrap();
        add_all(&mut b, 250..5000, usize::MAX);
        let mut u = Registers::default();
        u.merge(a.as_bytes()).unwrap();
        u.merge(b.as_bytes()).unwrap();
        let c = u.count() as f64;
        assert!((c - 5000.0).abs() < 5000.0 * 0.03, "{c}");
        let mut all = Hll::new();
        add_all(&mut all, 0..5000, usize::MAX);
        assert_eq!(u.count(), count(all.as_bytes()).unwrap());
    }

    #[test]
    fn corruption_is_detected() {
        let mut h = Hll::new();
        add_all(&mut h, 0..3, usize::MAX);
        let mut tail = h.as_bytes().to_vec();
        tail.extend_from_slice(b"hello");
        assert_eq!(check(&tail), Ok(Encoding::Sparse));
        assert_eq!(count(&tail), Err(HllError::Corrupted));
        assert!(Registers::default().merge(&tail).is_err());
        assert_eq!(Hll::from_bytes(&tail).unwrap().to_dense(), Err(HllError::Corrupted));
        let mut magic = h.as_bytes().to_vec();
        magic[..4].copy_from_slice(b"0123");
        assert_eq!(check(&magic), Err(HllError::NotHll));
        let mut enc = h.as_bytes().to_vec();
        enc[4] = b'x';
        assert_eq!(check(&enc), Err(HllError::NotHll));
        let mut dense_short = h.as_bytes().to_vec();
        dense_short[4] = 0;
        assert_eq!(check(&dense_short), Err(HllError::NotHll));
        assert_eq!(check(b"HYL"), Err(HllError::NotHll));
        // Truncated: the registers no longer add up.
        let cut = &h.as_bytes()[..h.as_bytes().len() - 1];
        assert_eq!(count(cut), Err(HllError::Corrupted));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = crate::rng::Rng::new(42);
        let mut base = Hll::new();
        add_all(&mut base, 0..200, usize::MAX);
        for _ in 0..2000 {
            let mut s = base.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = HDR_LEN + rng.below((s.len() - HDR_LEN) as u64) as usize;
                s[at] = rng.below(256) as u8;
            }
            let _ = count(&s);
            let _ = Registers::default().merge(&s);
            let _ = decode_sparse(&s);
            if let Ok(mut h) = Hll::from_bytes(&s) {
                let _ = h.add(b"x", DEFAULT_SPARSE_MAX_BYTES);
                let _ = h.clone().to_dense();
                let _ = h.add(b"y", 40);
            }
        }
    }

    #[test]
    fn cached_count_reads_little_endian() {
        let mut h = Hll::new().into_bytes();
        h[8..16].copy_from_slice(&1234u64.to_le_bytes());
        assert_eq!(cached_count(&h), Some(1234));
    }

    #[test]
    fn self_test_passes() {
        assert_eq!(self_test(7), Ok(()));
    }
}
