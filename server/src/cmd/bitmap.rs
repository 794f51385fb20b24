//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//!
//! Bitmaps are plain strings; bit 0 is the most significant bit of the first byte.
//! Offsets are limited by `proto-max-bulk-len` as in Redis, which is configuration, so
//! that check happens when the command runs (apply for writes), not in `Parse`.

use crate::keyspace::StrValue;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, KeyFlags, KeySpec, Parse, ReadCommand,
    WriteCommand,
};
use crate::cmd::string::{clamp_range, edit_str};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::resp::decode::parse_i64;

const RO_ACCESS: KeyFlags = KeyFlags::RO.with(KeyFlags::ACCESS);

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "setbit",
        group: Group::Bitmap,
        summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        since: "2.2.0",
        complexity: "O(1)",
        arity: 4,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE))],
        exec: write::<SetBit>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "getbit",
        group: Group::Bitmap,
        summary: "Returns a bit value by offset.",
        since: "2.2.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, RO_ACCESS)],
        exec: read::<GetBit>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitcount",
        group: Group::Bitmap,
        summary: "Counts the number of set bits (population counting) in a string.",
        since: "2.6.0",
        complexity: "O(N)",
        arity: -2,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, RO_ACCESS)],
        exec: read::<BitCount>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitpos",
        group: Group::Bitmap,
        summary: "Finds the first set (1) or clear (0) bit in a string.",
        since: "2.8.7",
        complexity: "O(N)",
        arity: -3,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, RO_ACCESS)],
        exec: read::<BitPos>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitop",
        group: Group::Bitmap,
        summary: "Performs bitwise operations on multiple strings, and stores the result.",
        since: "2.6.0",
        complexity: "O(N)",
        arity: -4,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[
            KeySpec::single(2, KeyFlags::OW.with(KeyFlags::UPDATE)),
            KeySpec::range(3, -1, 1, RO_ACCESS),
        ],
        exec: write::<BitOp>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitfield",
        group: Group::Bitmap,
        summary: "Performs arbitrary bitfield integer operations on strings.",
        since: "3.2.0",
        complexity: "O(1) for each subcommand specified",
        arity: -2,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(
            1,
            KeyFlags::RW
                .with(KeyFlags::ACCESS)
                .with(KeyFlags::UPDATE)
                .with(KeyFlags::VARIABLE_FLAGS),
        )],
        exec: write::<BitField>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bitfield_ro",
        group: Group::Bitmap,
        summary: "Performs arbitrary read-only bitfield integer operations on strings.",
        since: "6.0.0",
        complexity: "O(1) for each subcommand specified",
        arity: -2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, RO_ACCESS)],
        exec: read::<BitFieldRo>(),
        ..CommandSpec::DEFAULT
    },
];

/// `proto-max-bulk-len` as a read sees it.
fn read_max_bulk_len(cx: &ReadCtx<'_>) -> u64 {
    cx.shared.config.proto_max_bulk_len.load(Ordering::Relaxed)
}

/// A bit offset: a non-negative integer (`#n` means `n * bits` where allowed). Anything
/// else is Redis's bit offset error.
fn parse_offset(arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (mul, digits) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (i64::from(bits), &arg[1..]),
        _ => (1, arg),
    };
    parse_i64(digits)
        .and_then(|n| n.checked_mul(mul))
        .and_then(|n| u64::try_from(n).ok())
        .ok_or(CmdError::BitOffset)
}

/// Redis's limit: the byte holding the bit must be below `proto-max-bulk-len`.
fn check_offset(offset: u64, max: u64) -> Result<(), CmdError> {
    if offset >> 3 >= max {
        return Err(CmdError::BitOffset);
    }
    Ok(())
}

fn get_bit(s: &[u8], offset: u64) -> u8 {
    s.get((offset >> 3) as usize).map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

/// `SETBIT key offset value`
struct SetBit {
    key: Bytes,
    offset: u64,
    on: bool,
}

impl Parse for SetBit {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let offset = parse_offset(args.next_slice()?, None)?;
        let on = match args.next_slice()? {
            b"0" => false,
            b"1" => true,
            _ => return Err(CmdError::BitValue),
        };
        Ok(SetBit { key, offset, on })
    }
}

impl WriteCommand for SetBit {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        check_offset(self.offset, cx.max_bulk_len)?;
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let byte = (self.offset >> 3) as usize;
        let mask = 1u8 << (7 - (self.offset & 7));
        let old = match db.get_entry(&self.key, now_ms) {
            Some(e) => {
                let s = e.value.as_str()?;
                let old = s.get(byte).is_some_and(|b| b & mask != 0);
                // As Redis: an unchanged bit of a long enough string is no write.
                if byte < s.len() && old == self.on {
                    return Ok(Reply::Int(i64::from(old)));
                }
                Some(old)
            }
            None => None,
        };
        let write = |buf: &mut Vec<u8>| {
            if buf.len() <= byte {
                buf.resize(byte + 1, 0);
            }
            if self.on {
                buf[byte] |= mask;
            } else {
                buf[byte] &= !mask;
            }
        };
        match old {
            Some(_) => {
                edit_str(&mut db, &self.key, now_ms, "setbit", write);
            }
            None => {
                let mut buf = Vec::new();
                write(&mut buf);
                db.set(self.key.clone(), Value::Str(StrValue::from(buf)), None, "setbit");
            }
        }
        Ok(Reply::Int(i64::from(old.unwrap_or(false))))
    }
}

/// `GETBIT key offset`
struct GetBit {
    key: Bytes,
    offset: u64,
}

impl Parse for GetBit {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(GetBit { key: args.next_bytes()?, offset: parse_offset(args.next_slice()?, None)? })
    }
}

impl ReadCommand for GetBit {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        check_offset(self.offset, read_max_bulk_len(cx))?;
        let bit = match cx.db().get(&self.key, cx.now_ms) {
            Some(v) => get_bit(v.as_str()?, self.offset),
            None => 0,
        };
        Ok(Reply::Int(i64::from(bit)))
    }
}

/// `BYTE` or `BIT` after a range, if present; anything else is a syntax error.
fn parse_unit(args: &mut Args<'_>) -> Result<bool, CmdError> {
    if args.is_empty() {
        Ok(false)
    } else if args.eat("BIT") {
        Ok(true)
    } else if args.eat("BYTE") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// A range in bits, inclusive, from a `start end [BYTE|BIT]` pair already clamped to a
/// string of `len` bytes.
fn bit_range(start: i64, end: i64, bits: bool, len: usize) -> Option<(u64, u64)> {
    let total = if bits { len as i64 * 8 } else { len as i64 };
    let (s, e) = clamp_range(start, end, total)?;
    Some(if bits { (s as u64, e as u64) } else { (s as u64 * 8, e as u64 * 8 + 7) })
}

/// Set bits in the inclusive bit range.
fn popcount(s: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let head = 0xFFu8 >> (first & 7);
    let tail = 0xFFu8 << (7 - (last & 7));
    if fb == lb {
        return u64::from((s[fb] & head & tail).count_ones());
    }
    let middle: u64 = s[fb + 1..lb].iter().map(|b| u64::from(b.count_ones())).sum();
    u64::from((s[fb] & head).count_ones()) + middle + u64::from((s[lb] & tail).count_ones())
}

/// `BITCOUNT key [start end [BYTE | BIT]]`
struct BitCount {
    key: Bytes,
    range: Option<(i64, i64, bool)>,
}

impl Parse for BitCount {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let range = match args.remaining() {
            0 => None,
            2 | 3 => {
                let (start, end) = (args.next_i64()?, args.next_i64()?);
                Some((start, end, parse_unit(args)?))
            }
            _ => return Err(CmdError::Syntax),
        };
        Ok(BitCount { key, range })
    }
}

impl ReadCommand for BitCount {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(v) = cx.db().get(&self.key, cx.now_ms) else { return Ok(Reply::Int(0)) };
        let s = v.as_str()?;
        let range = match self.range {
            None if s.is_empty() => None,
            None => Some((0, s.len() as u64 * 8 - 1)),
            Some((start, end, bits)) => bit_range(start, end, bits, s.len()),
        };
        Ok(Reply::Int(range.map_or(0, |(a, b)| popcount(s, a, b)) as i64))
    }
}

/// `BITPOS key bit [start [end [BYTE | BIT]]]`
struct BitPos {
    key: Bytes,
    bit: u8,
    start: Option<i64>,
    end: Option<i64>,
    bits: bool,
}

impl Parse for BitPos {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let bit = match args.next_i64()? {
            0 => 0,
            1 => 1,
            _ => return Err(CmdError::BitArgument),
        };
        let mut cmd = BitPos { key, bit, start: None, end: None, bits: false };
        let rest = args.take_rest();
        if rest.len() > 3 {
            return Err(CmdError::Syntax);
        }
        // Redis's order: start, then the unit, then end.
        let int = |a: &Bytes| parse_i64(a).ok_or(CmdError::NotAnInteger);
        cmd.start = rest.first().map(int).transpose()?;
        if let Some(unit) = rest.get(2) {
            cmd.bits = parse_unit(&mut Args::new(std::slice::from_ref(unit)))?;
        }
        cmd.end = rest.get(1).map(int).transpose()?;
        Ok(cmd)
    }
}

impl ReadCommand for BitPos {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(v) = cx.db().get(&self.key, cx.now_ms) else {
            return Ok(Reply::Int(if self.bit == 1 { -1 } else { 0 }));
        };
        let s = v.as_str()?;
        let total = if self.bits { s.len() as i64 * 8 } else { s.len() as i64 };
        if total == 0 {
            return Ok(Reply::Int(-1));
        }
        let start = self.start.unwrap_or(0);
        let end = self.end.unwrap_or(total - 1);
        // Unlike BITCOUNT, no early exit for two negative indexes: start > end is -1 anyway.
        let start = if start < 0 { (total + start).max(0) } else { start };
        let end = if end < 0 { (total + end).max(0) } else { end.min(total - 1) };
        if start > end {
            return Ok(Reply::Int(-1));
        }
        let (first, last) = if self.bits {
            (start as u64, end as u64)
        } else {
            (start as u64 * 8, end as u64 * 8 + 7)
        };
        if let Some(pos) = find_bit(s, self.bit, first, last) {
            return Ok(Reply::Int(pos as i64));
        }
        // Looking for a clear bit with no explicit end: the string is as if padded with
        // zeros on the right.
        Ok(Reply::Int(if self.bit == 0 && self.end.is_none() { last as i64 + 1 } else { -1 }))
    }
}

/// The first bit equal to `bit` in the inclusive range, skipping whole bytes that cannot
/// hold one.
fn find_bit(s: &[u8], bit: u8, first: u64, last: u64) -> Option<u64> {
    let skip = if bit == 1 { 0x00 } else { 0xFF };
    let mut pos = first;
    while pos <= last {
        let byte = s[(pos >> 3) as usize];
        if pos & 7 == 0 && pos + 7 <= last && byte == skip {
            pos += 8;
            continue;
        }
        if (byte >> (7 - (pos & 7))) & 1 == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOpKind {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP AND | OR | XOR | NOT destkey key [key ...]`
struct BitOp {
    op: BitOpKind,
    dest: Bytes,
    keys: Vec<Bytes>,
}

impl Parse for BitOp {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let op = if args.eat("AND") {
            BitOpKind::And
        } else if args.eat("OR") {
            BitOpKind::Or
        } else if args.eat("XOR") {
            BitOpKind::Xor
        } else if args.eat("NOT") {
            BitOpKind::Not
        } else {
            return Err(CmdError::Syntax);
        };
        let dest = args.next_bytes()?;
        let keys = args.take_rest().to_vec();
        if op == BitOpKind::Not && keys.len() != 1 {
            return Err(CmdError::BitopNotSingle);
        }
        Ok(BitOp { op, dest, keys })
    }
}

impl WriteCommand for BitOp {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let mut sources = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            sources.push(match db.get(k, now_ms) {
                Some(v) => v.as_str()?.to_bytes(),
                None => Bytes::new(),
            });
        }
        let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
        if len == 0 {
            db.remove(&self.dest, now_ms, "del");
            return Ok(Reply::Int(0));
        }
        let byte = |s: &Bytes, i: usize| s.get(i).copied().unwrap_or(0);
        let out: Vec<u8> = (0..len)
            .map(|i| {
                let mut it = sources.iter().map(|s| byte(s, i));
                let first = it.next().unwrap_or(0);
                match self.op {
                    BitOpKind::And => it.fold(first, |a, b| a & b),
                    BitOpKind::Or => it.fold(first, |a, b| a | b),
                    BitOpKind::Xor => it.fold(first, |a, b| a ^ b),
                    BitOpKind::Not => !first,
                }
            })
            .collect();
        db.set(self.dest, Value::Str(StrValue::from(out)), None, "set");
        Ok(Reply::Int(len as i64))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation with the overflow mode in force when it appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63`.
fn parse_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(CmdError::BitfieldType),
    };
    let max = if signed { 64 } else { 63 };
    match parse_i64(&arg[1..]) {
        Some(n) if (1..=max).contains(&n) => Ok((signed, n as u32)),
        _ => Err(CmdError::BitfieldType),
    }
}

/// Parses the operation list of BITFIELD / BITFIELD_RO.
fn parse_fields(args: &mut Args<'_>) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    while !args.is_empty() {
        let more = args.remaining() - 1;
        let op = if args.peek_is("GET") && more >= 2 {
            FieldOp::Get
        } else if args.peek_is("SET") && more >= 3 {
            FieldOp::Set(0)
        } else if args.peek_is("INCRBY") && more >= 3 {
            FieldOp::IncrBy(0)
        } else if args.peek_is("OVERFLOW") && more >= 1 {
            args.next_bytes()?;
            overflow = if args.eat("WRAP") {
                Overflow::Wrap
            } else if args.eat("SAT") {
                Overflow::Sat
            } else if args.eat("FAIL") {
                Overflow::Fail
            } else {
                return Err(CmdError::BitfieldOverflowType);
            };
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        args.next_bytes()?;
        let (signed, bits) = parse_type(args.next_slice()?)?;
        let offset = parse_offset(args.next_slice()?, Some(bits))?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(args.next_i64()?),
            FieldOp::IncrBy(_) => FieldOp::IncrBy(args.next_i64()?),
        };
        fields.push(Field { op, signed, bits, offset, overflow });
    }
    Ok(fields)
}

/// Reads `bits` bits at `offset` (big-endian bit order; missing bytes read as zero).
fn read_bits(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |acc, k| (acc << 1) | u64::from(get_bit(s, offset + k)))
}

/// Writes the low `bits` bits of `value` at `offset`; the buffer is already long enough.
fn write_bits(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for k in 0..u64::from(bits) {
        let bit = (value >> (u64::from(bits) - 1 - k)) & 1;
        let pos = offset + k;
        let mask = 1u8 << (7 - (pos & 7));
        let byte = &mut s[(pos >> 3) as usize];
        if bit == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// The field's raw bits as the integer they denote.
fn to_value(raw: u64, signed: bool, bits: u32) -> i64 {
    if signed && bits < 64 {
        let shift = 64 - bits;
        ((raw << shift) as i64) >> shift
    } else {
        raw as i64
    }
}

/// `value` (already the exact result) brought into the field's range by the overflow
/// mode; `None` when FAIL refuses it. Returns the raw bits to store.
fn fit(value: i128, signed: bool, bits: u32, overflow: Overflow) -> Option<u64> {
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let v = if (min..=max).contains(&value) {
        value
    } else {
        match overflow {
            Overflow::Fail => return None,
            Overflow::Sat => value.clamp(min, max),
            Overflow::Wrap => return Some((value as u64) & mask),
        }
    };
    Some((v as u64) & mask)
}

/// Runs the operations over `buf`; returns the replies and whether anything was written.
fn run_fields(buf: &mut [u8], fields: &[Field]) -> (Vec<Reply>, bool) {
    let mut replies = Vec::with_capacity(fields.len());
    let mut changed = false;
    for f in fields {
        let old = to_value(read_bits(buf, f.offset, f.bits), f.signed, f.bits);
        match f.op {
            FieldOp::Get => replies.push(Reply::Int(old)),
            FieldOp::Set(v) => {
                // Unsigned fields take the value's two's-complement bits, as Redis does.
                let wanted = if f.signed { i128::from(v) } else { i128::from(v as u64) };
                match fit(wanted, f.signed, f.bits, f.overflow) {
                    Some(raw) => {
                        changed |= raw != read_bits(buf, f.offset, f.bits);
                        write_bits(buf, f.offset, f.bits, raw);
                        replies.push(Reply::Int(old));
                    }
                    None => replies.push(Reply::Null),
                }
            }
            FieldOp::IncrBy(by) => {
                match fit(i128::from(old) + i128::from(by), f.signed, f.bits, f.overflow) {
                    Some(raw) => {
                        write_bits(buf, f.offset, f.bits, raw);
                        changed = true;
                        replies.push(Reply::Int(to_value(raw, f.signed, f.bits)));
                    }
                    None => replies.push(Reply::Null),
                }
            }
        }
    }
    (replies, changed)
}

/// `BITFIELD key [GET type offset | [OVERFLOW WRAP | SAT | FAIL] SET type offset value |
/// [OVERFLOW WRAP | SAT | FAIL] INCRBY type offset increment ...]`
struct BitField {
    key: Bytes,
    fields: Vec<Field>,
}

impl Parse for BitField {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(BitField { key: args.next_bytes()?, fields: parse_fields(args)? })
    }
}

impl WriteCommand for BitField {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        for f in &self.fields {
            check_offset(f.offset, cx.max_bulk_len)?;
        }
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let highest = self
            .fields
            .iter()
            .filter(|f| f.op != FieldOp::Get)
            .map(|f| f.offset + u64::from(f.bits) - 1)
            .max();
        let entry = db.get_entry(&self.key, now_ms);
        let (mut buf, at, existed) = match entry {
            Some(e) => (e.value.as_str()?.to_vec(), e.expire_at_ms(), true),
            None => (Vec::new(), None, false),
        };
        let Some(highest) = highest else {
            return Ok(Reply::Array(run_fields(&mut buf, &self.fields).0));
        };
        // As Redis: the string grows to hold every written field before any runs, even
        // if FAIL then refuses the write.
        let need = (highest >> 3) as usize + 1;
        let grown = buf.len() < need;
        if grown {
            buf.resize(need, 0);
        }
        let (replies, changed) = run_fields(&mut buf, &self.fields);
        if changed || grown || !existed {
            db.set(self.key, Value::Str(StrValue::from(buf)), at, "setbit");
        }
        Ok(Reply::Array(replies))
    }
}

/// `BITFIELD_RO key [GET type offset [GET type offset ...]]`
struct BitFieldRo {
    key: Bytes,
    fields: Vec<Field>,
}

impl Parse for BitFieldRo {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let fields = parse_fields(args)?;
        if fields.iter().any(|f| f.op != FieldOp::Get) {
            return Err(CmdError::BitfieldRoGetOnly);
        }
        Ok(BitFieldRo { key, fields })
    }
}

impl ReadCommand for BitFieldRo {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let max = read_max_bulk_len(cx);
        for f in &self.fields {
            check_offset(f.offset, max)?;
        }
        let s: &[u8] = match cx.db().get(&self.key, cx.now_ms) {
            Some(v) => v.as_str()?,
            None => &[],
        };
        let replies = self
            .fields
            .iter()
            .map(|f| Reply::Int(to_value(read_bits(s, f.offset, f.bits), f.signed, f.bits)))
            .collect();
        Ok(Reply::Array(replies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_big_endian_within_bytes() {
        let s = [0b1000_0001u8, 0xFF];
        assert_eq!(get_bit(&s, 0), 1);
        assert_eq!(get_bit(&s, 1), 0);
        assert_eq!(get_bit(&s, 7), 1);
        assert_eq!(get_bit(&s, 100), 0);
        assert_eq!(read_bits(&s, 4, 8), 0b0001_1111);
        let mut buf = [0u8; 2];
        write_bits(&mut buf, 4, 8, 0xAB);
        assert_eq!(buf, [0x0A, 0xB0]);
    }

    #[test]
    fn popcount_honours_partial_bytes() {
        let s = [0xFFu8, 0xFF, 0xFF];
        assert_eq!(popcount(&s, 0, 23), 24);
        assert_eq!(popcount(&s, 3, 5), 3);
        assert_eq!(popcount(&s, 5, 17), 13);
    }

    #[test]
    fn overflow_modes_match_redis() {
        assert_eq!(fit(300, false, 8, Overflow::Wrap), Some(44));
        assert_eq!(fit(300, false, 8, Overflow::Sat), Some(255));
        assert_eq!(fit(300, false, 8, Overflow::Fail), None);
        assert_eq!(fit(-1, false, 8, Overflow::Sat), Some(0));
        assert_eq!(fit(128, true, 8, Overflow::Wrap), Some(0x80));
        assert_eq!(to_value(0x80, true, 8), -128);
        assert_eq!(fit(-200, true, 8, Overflow::Sat).map(|r| to_value(r, true, 8)), Some(-128));
        let big = i128::from(i64::MAX) + 1;
        assert_eq!(
            fit(big, true, 64, Overflow::Wrap).map(|r| to_value(r, true, 64)),
            Some(i64::MIN)
        );
    }

    #[test]
    fn offsets_accept_hash_form_only_for_bitfield() {
        assert_eq!(parse_offset(b"#2", Some(8)), Ok(16));
        assert_eq!(parse_offset(b"#2", None), Err(CmdError::BitOffset));
        assert_eq!(parse_offset(b"-1", None), Err(CmdError::BitOffset));
        assert_eq!(parse_offset(b"#99999999999999999", Some(1000)), Err(CmdError::BitOffset));
        assert_eq!(check_offset(4294967295, 512 * 1024 * 1024), Ok(()));
        assert_eq!(check_offset(4294967296, 512 * 1024 * 1024), Err(CmdError::BitOffset));
    }

    #[test]
    fn bitfield_grows_the_string_before_a_refused_write() {
        let fields = vec![Field {
            op: FieldOp::IncrBy(300),
            signed: false,
            bits: 8,
            offset: 0,
            overflow: Overflow::Fail,
        }];
        let mut buf = vec![0u8; 1];
        let (replies, changed) = run_fields(&mut buf, &fields);
        assert_eq!(replies, vec![Reply::Null]);
        assert!(!changed);
    }
}
