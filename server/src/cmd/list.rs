//! Lists: LPUSH/RPUSH and the rest of the list family, including the blocking pops
//! (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP).
//!
//! Blocking commands are ordinary writes: when a key has something to serve they behave
//! as their non-blocking form; when none has, they change nothing and reply
//! [`Reply::Blocked`] naming the keys to wait on (the connection re-runs the command when
//! one of them changes, or gives the timeout reply). Inside MULTI/EXEC they answer at
//! once, as Redis does: a null array, or a null bulk for BLMOVE/BRPOPLPUSH.
//!
//! Events, as Redis's keyspace notifications: `lpush`/`rpush`, `lpop`/`rpop`, `linsert`,
//! `lset`, `lrem`, `ltrim`; a command that empties a list deletes the key (`del` after
//! the command's event). LMOVE records the push on the destination, then the pop on the
//! source.
//!
//! Elements are stored as copies of the request bytes, so a stored list never pins a
//! request buffer.

use bytes::Bytes;

use crate::cmd::args::parse_f64;
use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, FindKeys, Flags, Group, KeyFlags, KeySpec,
    Parse, ReadCommand, WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::{DbMut, Value};
use crate::reply::{BlockedOn, Reply};
use crate::resp::decode::parse_i64;
use crate::types::list::{resolve_index, resolve_range, End, List};

const RW_INSERT: KeyFlags = KeyFlags::RW.with(KeyFlags::INSERT);
const RW_POP: KeyFlags = KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE);
const RO_ACCESS: KeyFlags = KeyFlags::RO.with(KeyFlags::ACCESS);
const PUSH_COMPLEXITY: &str = "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";
const MPOP_COMPLEXITY: &str =
    "O(N+M) where N is the number of provided keys and M is the number of elements returned.";
const MOVE_KEYS: &[KeySpec] = &[KeySpec::single(1, RW_POP), KeySpec::single(2, RW_INSERT)];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "lpush",
        group: Group::List,
        summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        since: "1.0.0",
        complexity: PUSH_COMPLEXITY,
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, RW_INSERT)],
        exec: write::<Push<true, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "rpush",
        group: Group::List,
        summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        since: "1.0.0",
        complexity: PUSH_COMPLEXITY,
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, RW_INSERT)],
        exec: write::<Push<false, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lpushx",
        group: Group::List,
        summary: "Prepends one or more elements to a list only when the list exists.",
        since: "2.2.0",
        complexity: PUSH_COMPLEXITY,
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, RW_INSERT)],
        exec: write::<Push<true, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "rpushx",
        group: Group::List,
        summary: "Appends an element to a list only when the list exists.",
        since: "2.2.0",
        complexity: PUSH_COMPLEXITY,
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::FAST),
        keys: &[KeySpec::single(1, RW_INSERT)],
        exec: write::<Push<false, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lpop",
        group: Group::List,
        summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of elements returned",
        arity: -2,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(1, RW_POP)],
        exec: write::<Pop<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "rpop",
        group: Group::List,
        summary: "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of elements returned",
        arity: -2,
        flags: Flags::WRITE.with(Flags::FAST),
        keys: &[KeySpec::single(1, RW_POP)],
        exec: write::<Pop<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "llen",
        group: Group::List,
        summary: "Returns the length of a list.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO)],
        exec: read::<LLen>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lrange",
        group: Group::List,
        summary: "Returns a range of elements from a list.",
        since: "1.0.0",
        complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
        arity: 4,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, RO_ACCESS)],
        exec: read::<LRange>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lindex",
        group: Group::List,
        summary: "Returns an element from a list by its index.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
        arity: 3,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, RO_ACCESS)],
        exec: read::<LIndex>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lset",
        group: Group::List,
        summary: "Sets the value of an element in a list by its index.",
        since: "1.0.0",
        complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
        arity: 4,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::UPDATE))],
        exec: write::<LSet>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "linsert",
        group: Group::List,
        summary: "Inserts an element before or after another element in a list.",
        since: "2.2.0",
        complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
        arity: 5,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(1, RW_INSERT)],
        exec: write::<LInsert>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lrem",
        group: Group::List,
        summary: "Removes elements from a list. Deletes the list if the last element was removed.",
        since: "1.0.0",
        complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
        arity: 4,
        flags: Flags::WRITE,
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))],
        exec: write::<LRem>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "ltrim",
        group: Group::List,
        summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of elements to be removed by the operation.",
        arity: 4,
        flags: Flags::WRITE,
        keys: &[KeySpec::single(1, KeyFlags::RW.with(KeyFlags::DELETE))],
        exec: write::<LTrim>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lpos",
        group: Group::List,
        summary: "Returns the index of matching elements in a list.",
        since: "6.0.6",
        complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
        arity: -3,
        flags: Flags::READONLY,
        keys: &[KeySpec::single(1, RO_ACCESS)],
        exec: read::<LPos>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lmove",
        group: Group::List,
        summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        since: "6.2.0",
        complexity: "O(1)",
        arity: 5,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: MOVE_KEYS,
        exec: write::<LMove<false, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "rpoplpush",
        group: Group::List,
        summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        since: "1.2.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: MOVE_KEYS,
        exec: write::<LMove<true, false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lmpop",
        group: Group::List,
        summary: "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        since: "7.0.0",
        complexity: MPOP_COMPLEXITY,
        arity: -4,
        flags: Flags::WRITE,
        keys: &[KeySpec {
            begin: BeginSearch::Index(1),
            find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 },
            flags: RW_POP,
        }],
        exec: write::<LMPop<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "blpop",
        group: Group::List,
        summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::BLOCKING),
        keys: &[KeySpec::range(1, -2, 1, RW_POP)],
        exec: write::<BPop<true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "brpop",
        group: Group::List,
        summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        arity: -3,
        flags: Flags::WRITE.with(Flags::BLOCKING),
        keys: &[KeySpec::range(1, -2, 1, RW_POP)],
        exec: write::<BPop<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "blmove",
        group: Group::List,
        summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        since: "6.2.0",
        complexity: "O(1)",
        arity: 6,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::BLOCKING),
        keys: MOVE_KEYS,
        exec: write::<LMove<false, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "brpoplpush",
        group: Group::List,
        summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.2.0",
        complexity: "O(1)",
        arity: 4,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::BLOCKING),
        keys: MOVE_KEYS,
        exec: write::<LMove<true, true>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "blmpop",
        group: Group::List,
        summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "7.0.0",
        complexity: MPOP_COMPLEXITY,
        arity: -5,
        flags: Flags::WRITE.with(Flags::BLOCKING),
        keys: &[KeySpec {
            begin: BeginSearch::Index(2),
            find: FindKeys::Keynum { key_num_idx: 0, first_key: 1, step: 1 },
            flags: RW_POP,
        }],
        exec: write::<LMPop<true>>(),
        ..CommandSpec::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------
// Shared helpers

/// The list at `key` for a read, or WRONGTYPE; `None` if absent.
fn read_list<'a>(cx: &'a ReadCtx<'_>, key: &[u8]) -> Result<Option<&'a List>, CmdError> {
    match cx.db().get(key, cx.now_ms) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The list at `key` during apply, or WRONGTYPE; `None` if absent.
fn list_at<'a>(
    db: &'a mut DbMut<'_>,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a List>, CmdError> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Runs `f` on the list at `key`, recording `event`. Call only after every check passed;
/// `None` if `key` does not hold a list (callers checked).
fn edit<R>(
    db: &mut DbMut<'_>,
    key: &Bytes,
    now_ms: u64,
    event: &'static str,
    f: impl FnOnce(&mut List) -> R,
) -> Option<R> {
    match db.value_mut(key, now_ms, event)? {
        Value::List(l) => Some(f(l)),
        _ => None,
    }
}

/// Deletes `key` (event `del`) if it holds an empty list: lists are never stored empty.
fn drop_if_empty(db: &mut DbMut<'_>, key: &Bytes, now_ms: u64) {
    if matches!(db.get(key, now_ms), Some(Value::List(l)) if l.is_empty()) {
        db.remove(key, now_ms, "del");
    }
}

/// Pushes `values` at `end` of the list at `key`, creating it if absent (type checked by
/// the caller). Returns the new length.
fn push_all(db: &mut DbMut<'_>, key: &Bytes, now_ms: u64, end: End, values: &[Bytes]) -> usize {
    let event = push_event(end);
    let push = |l: &mut List| {
        for v in values {
            l.push(end, v);
        }
        l.len()
    };
    if let Some(len) = edit(db, key, now_ms, event, push) {
        return len;
    }
    let mut list = List::new();
    let len = push(&mut list);
    db.set(key.clone(), Value::List(list), None, event);
    len
}

/// Pops up to `count` elements from `end` of the list at `key` (which exists and is a
/// list), deleting the key if it empties.
fn pop_many(db: &mut DbMut<'_>, key: &Bytes, now_ms: u64, end: End, count: usize) -> Vec<Bytes> {
    let popped = edit(db, key, now_ms, pop_event(end), |l| {
        let n = count.min(l.len());
        (0..n).filter_map(|_| l.pop(end)).collect()
    })
    .unwrap_or_default();
    drop_if_empty(db, key, now_ms);
    popped
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

const fn end_of(left: bool) -> End {
    if left {
        End::Left
    } else {
        End::Right
    }
}

/// `LEFT` or `RIGHT`, else a syntax error.
fn parse_end(args: &mut Args<'_>) -> Result<End, CmdError> {
    if args.eat("LEFT") {
        Ok(End::Left)
    } else if args.eat("RIGHT") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The largest timeout deadline, in Unix milliseconds, that cannot overflow. Redis adds
/// the timeout to its clock and refuses a sum past `i64::MAX`; parsing must not read the
/// clock (it runs again in apply), so the clock is bounded instead by 2^42 ms (the year
/// 2109).
const MAX_TIMEOUT_MS: f64 = (i64::MAX - (1i64 << 42)) as f64;

/// A blocking command's timeout in seconds (a double, as Redis 6+), as whole
/// milliseconds rounded up; 0 waits forever.
fn parse_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    let secs = parse_f64(arg).or_else(|| parse_hex_float(arg)).ok_or(CmdError::TimeoutNotFloat)?;
    let ms = secs * 1000.0;
    if ms > MAX_TIMEOUT_MS {
        return Err(CmdError::TimeoutOutOfRange);
    }
    let ms = ms.ceil();
    if ms < 0.0 {
        return Err(CmdError::TimeoutNegative);
    }
    Ok(ms as u64)
}

/// A C99 hexadecimal float (`0x1F`, `-0x1.8p3`), which Redis's `strtold` accepts.
fn parse_hex_float(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))?;
    let (mantissa, exponent) = match rest.find(['p', 'P']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int_part.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let value = value * 2f64.powi(exponent);
    Some(if negative { -value } else { value })
}

/// What a blocking command does when nothing can be served: wait on `keys`, or (inside
/// MULTI/EXEC) answer `immediate` at once. A timeout always answers a null array.
fn block(keys: Vec<Bytes>, timeout_ms: u64, may_block: bool, immediate: Reply) -> Reply {
    if !may_block {
        return immediate;
    }
    BlockedOn {
        keys,
        timeout_ms,
        on_timeout: Box::new(Reply::NullArray),
        retry: None,
        wants: "list",
        on_nokey: false,
    }
    .reply(true)
}

// ---------------------------------------------------------------------------------------
// Pushes and pops

/// `LPUSH key element [element ...]`, `RPUSH ...`, and the `X` forms that push only into
/// an existing list.
struct Push<const LEFT: bool, const EXISTING: bool> {
    key: Bytes,
    values: Vec<Bytes>,
}

impl<const LEFT: bool, const EXISTING: bool> Parse for Push<LEFT, EXISTING> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Push { key: args.next_bytes()?, values: args.take_rest().to_vec() })
    }
}

impl<const LEFT: bool, const EXISTING: bool> WriteCommand for Push<LEFT, EXISTING> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        if list_at(&mut db, &self.key, now_ms)?.is_none() && EXISTING {
            return Ok(Reply::Int(0));
        }
        let len = push_all(&mut db, &self.key, now_ms, end_of(LEFT), &self.values);
        Ok(Reply::Int(len as i64))
    }
}

/// `LPOP key [count]` and `RPOP key [count]`
struct Pop<const LEFT: bool> {
    key: Bytes,
    count: Option<usize>,
}

impl<const LEFT: bool> Parse for Pop<LEFT> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        if args.remaining() > 1 {
            // Redis declares `-2` but accepts at most one count.
            return Err(CmdError::WrongArity(if LEFT { "lpop" } else { "rpop" }.into()));
        }
        let count = match args.is_empty() {
            true => None,
            false => Some(args.next_usize().map_err(|_| CmdError::NotPositive)?),
        };
        Ok(Pop { key, count })
    }
}

impl<const LEFT: bool> WriteCommand for Pop<LEFT> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        if list_at(&mut db, &self.key, now_ms)?.is_none() {
            return Ok(if self.count.is_some() { Reply::NullArray } else { Reply::Null });
        }
        match self.count {
            Some(0) => Ok(Reply::Array(Vec::new())),
            Some(n) => Ok(Reply::bulks(pop_many(&mut db, &self.key, now_ms, end_of(LEFT), n))),
            None => {
                let mut popped = pop_many(&mut db, &self.key, now_ms, end_of(LEFT), 1);
                Ok(popped.pop().map_or(Reply::Null, Reply::Bulk))
            }
        }
    }
}

/// `BLPOP key [key ...] timeout` and `BRPOP key [key ...] timeout`
struct BPop<const LEFT: bool> {
    keys: Vec<Bytes>,
    timeout_ms: u64,
}

impl<const LEFT: bool> Parse for BPop<LEFT> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let rest = args.take_rest();
        let (timeout, keys) = rest.split_last().ok_or(CmdError::Syntax)?;
        Ok(BPop { keys: keys.to_vec(), timeout_ms: parse_timeout(timeout)? })
    }
}

impl<const LEFT: bool> WriteCommand for BPop<LEFT> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let may_block = cx.may_block;
        let mut db = cx.db();
        // Keys are tried in order: the first non-empty list serves, a wrong type before it
        // is an error, later keys are not looked at.
        for key in &self.keys {
            if list_at(&mut db, key, now_ms)?.is_some() {
                let popped = pop_many(&mut db, key, now_ms, end_of(LEFT), 1);
                let value = popped.into_iter().next().unwrap_or_default();
                return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(value)]));
            }
        }
        Ok(block(self.keys, self.timeout_ms, may_block, Reply::NullArray))
    }
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]` and
/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`
struct LMPop<const BLOCKING: bool> {
    timeout_ms: u64,
    keys: Vec<Bytes>,
    end: End,
    count: usize,
}

impl<const BLOCKING: bool> Parse for LMPop<BLOCKING> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let timeout_ms = if BLOCKING { parse_timeout(args.next_slice()?)? } else { 0 };
        let numkeys =
            args.next_i64().ok().filter(|n| *n > 0).ok_or(CmdError::NumkeysNotPositive)?;
        // The keys and the direction must all be there.
        if numkeys as u64 >= args.remaining() as u64 {
            return Err(CmdError::Syntax);
        }
        let keys = (0..numkeys).map(|_| args.next_bytes()).collect::<Result<Vec<_>, _>>()?;
        let end = parse_end(args)?;
        let mut count = None;
        while !args.is_empty() {
            if count.is_none() && args.eat("COUNT") {
                let n =
                    args.next_i64().ok().filter(|n| *n > 0).ok_or(CmdError::CountNotPositive)?;
                count = Some(n as usize);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(LMPop { timeout_ms, keys, end, count: count.unwrap_or(1) })
    }
}

impl<const BLOCKING: bool> WriteCommand for LMPop<BLOCKING> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let may_block = cx.may_block;
        let mut db = cx.db();
        for key in &self.keys {
            if list_at(&mut db, key, now_ms)?.is_some() {
                let popped = pop_many(&mut db, key, now_ms, self.end, self.count);
                return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::bulks(popped)]));
            }
        }
        if BLOCKING {
            return Ok(block(self.keys, self.timeout_ms, may_block, Reply::NullArray));
        }
        Ok(Reply::NullArray)
    }
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`, `RPOPLPUSH source destination`,
/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout` and
/// `BRPOPLPUSH source destination timeout`
struct LMove<const RPOPLPUSH: bool, const BLOCKING: bool> {
    source: Bytes,
    destination: Bytes,
    from: End,
    to: End,
    timeout_ms: u64,
}

impl<const RPOPLPUSH: bool, const BLOCKING: bool> Parse for LMove<RPOPLPUSH, BLOCKING> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let source = args.next_bytes()?;
        let destination = args.next_bytes()?;
        let (from, to) =
            if RPOPLPUSH { (End::Right, End::Left) } else { (parse_end(args)?, parse_end(args)?) };
        let timeout_ms = if BLOCKING { parse_timeout(args.next_slice()?)? } else { 0 };
        Ok(LMove { source, destination, from, to, timeout_ms })
    }
}

impl<const RPOPLPUSH: bool, const BLOCKING: bool> WriteCommand for LMove<RPOPLPUSH, BLOCKING> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let may_block = cx.may_block;
        let mut db = cx.db();
        let value = match list_at(&mut db, &self.source, now_ms)? {
            None if BLOCKING => {
                return Ok(block(vec![self.source], self.timeout_ms, may_block, Reply::Null))
            }
            None => return Ok(Reply::Null),
            Some(l) => {
                let at = match self.from {
                    End::Left => 0,
                    End::Right => l.len().saturating_sub(1),
                };
                l.get(at).map(Bytes::copy_from_slice).unwrap_or_default()
            }
        };
        list_at(&mut db, &self.destination, now_ms)?;
        // Push first, then pop: Redis's event order (push on the destination, then pop on
        // the source). On a non-empty list the two commute, so a rotation (source ==
        // destination) ends the same as pop-then-push would.
        push_all(&mut db, &self.destination, now_ms, self.to, std::slice::from_ref(&value));
        edit(&mut db, &self.source, now_ms, pop_event(self.from), |l| l.pop(self.from));
        drop_if_empty(&mut db, &self.source, now_ms);
        Ok(Reply::Bulk(value))
    }
}

// ---------------------------------------------------------------------------------------
// Reads

/// `LLEN key`
struct LLen {
    key: Bytes,
}

impl Parse for LLen {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(LLen { key: args.next_bytes()? })
    }
}

impl ReadCommand for LLen {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        Ok(Reply::Int(read_list(cx, &self.key)?.map_or(0, List::len) as i64))
    }
}

/// `LRANGE key start stop`
struct LRange {
    key: Bytes,
    start: i64,
    stop: i64,
}

impl Parse for LRange {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(LRange { key: args.next_bytes()?, start: args.next_i64()?, stop: args.next_i64()? })
    }
}

impl ReadCommand for LRange {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(list) = read_list(cx, &self.key)? else { return Ok(Reply::Array(Vec::new())) };
        Ok(match resolve_range(self.start, self.stop, list.len()) {
            Some((start, end)) => {
                Reply::Array(list.range(start, end - 1).map(Reply::bulk).collect())
            }
            None => Reply::Array(Vec::new()),
        })
    }
}

/// `LINDEX key index`
struct LIndex {
    key: Bytes,
    /// Reported only once the key is known to be a list (Redis looks the key up first).
    index: Result<i64, CmdError>,
}

impl Parse for LIndex {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(LIndex { key: args.next_bytes()?, index: args.next_i64() })
    }
}

impl ReadCommand for LIndex {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(list) = read_list(cx, &self.key)? else { return Ok(Reply::Null) };
        Ok(resolve_index(self.index?, list.len())
            .and_then(|i| list.get(i))
            .map_or(Reply::Null, Reply::bulk))
    }
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
struct LPos {
    key: Bytes,
    element: Bytes,
    rank: i64,
    count: Option<usize>,
    max_len: usize,
}

impl Parse for LPos {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let element = args.next_bytes()?;
        let (mut rank, mut count, mut max_len) = (1, None, 0);
        // Each option is checked as it is read; a repeated option overrides.
        while !args.is_empty() {
            if args.eat("RANK") {
                rank = args.next_i64()?;
                if rank == i64::MIN {
                    return Err(CmdError::LongOutOfRange);
                }
                if rank == 0 {
                    return Err(CmdError::LposRankZero);
                }
            } else if args.eat("COUNT") {
                let n = args.next_slice()?;
                count = Some(non_negative(n).ok_or(CmdError::LposCountNegative)?);
            } else if args.eat("MAXLEN") {
                let n = args.next_slice()?;
                max_len = non_negative(n).ok_or(CmdError::LposMaxlenNegative)?;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(LPos { key, element, rank, count, max_len })
    }
}

/// A non-negative integer argument (Redis reports a malformed one as negative).
fn non_negative(arg: &[u8]) -> Option<usize> {
    parse_i64(arg).and_then(|n| usize::try_from(n).ok())
}

impl ReadCommand for LPos {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let Some(list) = read_list(cx, &self.key)? else {
            return Ok(if self.count.is_some() { Reply::Array(Vec::new()) } else { Reply::Null });
        };
        let len = list.len();
        let scan = if self.max_len == 0 { len } else { self.max_len.min(len) };
        let wanted = match self.count {
            None => 1,
            Some(0) => usize::MAX,
            Some(n) => n,
        };
        let skip = (self.rank.unsigned_abs() - 1) as usize;
        let element = &self.element[..];
        let matches: Vec<usize> = if self.rank > 0 {
            list.iter()
                .take(scan)
                .enumerate()
                .filter(|(_, e)| e[..] == *element)
                .map(|(i, _)| i)
                .skip(skip)
                .take(wanted)
                .collect()
        } else {
            list.iter()
                .rev()
                .take(scan)
                .enumerate()
                .filter(|(_, e)| e[..] == *element)
                .map(|(i, _)| len - 1 - i)
                .skip(skip)
                .take(wanted)
                .collect()
        };
        Ok(match self.count {
            Some(_) => Reply::Array(matches.into_iter().map(|i| Reply::Int(i as i64)).collect()),
            None => matches.first().map_or(Reply::Null, |i| Reply::Int(*i as i64)),
        })
    }
}

// ---------------------------------------------------------------------------------------
// In-place edits

/// `LSET key index element`
struct LSet {
    key: Bytes,
    /// Reported after the key checks (WRONGTYPE, no such key), as Redis orders them.
    index: Result<i64, CmdError>,
    element: Bytes,
}

impl Parse for LSet {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(LSet { key: args.next_bytes()?, index: args.next_i64(), element: args.next_bytes()? })
    }
}

impl WriteCommand for LSet {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let list = list_at(&mut db, &self.key, now_ms)?.ok_or(CmdError::NoSuchKey)?;
        let at = resolve_index(self.index?, list.len()).ok_or(CmdError::IndexOutOfRange)?;
        edit(&mut db, &self.key, now_ms, "lset", |l| l.set(at, &self.element));
        Ok(Reply::ok())
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`
struct LInsert {
    key: Bytes,
    after: bool,
    pivot: Bytes,
    element: Bytes,
}

impl Parse for LInsert {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let after = if args.eat("AFTER") {
            true
        } else if args.eat("BEFORE") {
            false
        } else {
            return Err(CmdError::Syntax);
        };
        Ok(LInsert { key, after, pivot: args.next_bytes()?, element: args.next_bytes()? })
    }
}

impl WriteCommand for LInsert {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let Some(list) = list_at(&mut db, &self.key, now_ms)? else { return Ok(Reply::Int(0)) };
        if !list.iter().any(|e| *e == self.pivot) {
            return Ok(Reply::Int(-1));
        }
        let len = edit(&mut db, &self.key, now_ms, "linsert", |l| {
            l.insert(&self.pivot, self.after, &self.element)
        })
        .flatten()
        .unwrap_or(0);
        Ok(Reply::Int(len as i64))
    }
}

/// `LREM key count element`
struct LRem {
    key: Bytes,
    count: i64,
    element: Bytes,
}

impl Parse for LRem {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(LRem { key: args.next_bytes()?, count: args.next_i64()?, element: args.next_bytes()? })
    }
}

impl WriteCommand for LRem {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let Some(list) = list_at(&mut db, &self.key, now_ms)? else { return Ok(Reply::Int(0)) };
        if !list.iter().any(|e| *e == self.element) {
            return Ok(Reply::Int(0));
        }
        let removed =
            edit(&mut db, &self.key, now_ms, "lrem", |l| l.remove(&self.element, self.count))
                .unwrap_or(0);
        drop_if_empty(&mut db, &self.key, now_ms);
        Ok(Reply::Int(removed as i64))
    }
}

/// `LTRIM key start stop`
struct LTrim {
    key: Bytes,
    start: i64,
    stop: i64,
}

impl Parse for LTrim {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(LTrim { key: args.next_bytes()?, start: args.next_i64()?, stop: args.next_i64()? })
    }
}

impl WriteCommand for LTrim {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let Some(list) = list_at(&mut db, &self.key, now_ms)? else { return Ok(Reply::ok()) };
        let (start, end) = resolve_range(self.start, self.stop, list.len()).unwrap_or((0, 0));
        edit(&mut db, &self.key, now_ms, "ltrim", |l| l.retain_range(start, end));
        drop_if_empty(&mut db, &self.key, now_ms);
        Ok(Reply::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Exec;
    use crate::keyspace::{KeyEvent, Keyspace};

    const NOW: u64 = 1_000_000;

    /// Checks and applies one write, as the log would (`may_block` as given).
    fn apply(ks: &mut Keyspace, may_block: bool, argv: &[&str]) -> Reply {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::from(a.to_string())).collect();
        let (spec, _, skip) = match crate::cmd::resolve(&argv) {
            Ok(r) => r,
            Err(e) => return Reply::Error(e),
        };
        let Exec::Write(fns) = spec.exec else { panic!("{:?} is not a write", argv[0]) };
        if let Err(e) = (fns.check)(&mut Args::new(&argv[skip..])) {
            return Reply::Error(e);
        }
        let mut cx = ApplyCtx {
            ks,
            db: 0,
            now_ms: NOW,
            seed: 1,
            index: 1,
            max_bulk_len: u64::MAX,
            hll_sparse_max_bytes: 3000,
            stream_node_max_entries: 100,
            stream_node_max_bytes: 4096,
            may_block,
            shared: None,
            in_script: false,
        };
        (fns.apply)(&mut Args::new(&argv[skip..]), &mut cx).unwrap_or_else(Reply::Error)
    }

    fn run(ks: &mut Keyspace, argv: &[&str]) -> Reply {
        apply(ks, true, argv)
    }

    fn events(ks: &mut Keyspace) -> Vec<(String, &'static str)> {
        ks.take_events()
            .into_iter()
            .map(|KeyEvent { key, event, .. }| (String::from_utf8(key.to_vec()).unwrap(), event))
            .collect()
    }

    fn ev(list: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        list.iter().map(|(k, e)| (k.to_string(), *e)).collect()
    }

    fn contents(ks: &Keyspace, key: &str) -> Option<Vec<String>> {
        match ks.db(0).get(key.as_bytes(), NOW) {
            Some(Value::List(l)) => {
                Some(l.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()).collect())
            }
            _ => None,
        }
    }

    #[test]
    fn pushes_pops_and_emptying_record_redis_events() {
        let mut ks = Keyspace::new(1);
        assert_eq!(run(&mut ks, &["RPUSH", "l", "a", "b"]), Reply::Int(2));
        assert_eq!(run(&mut ks, &["LPUSH", "l", "z"]), Reply::Int(3));
        assert_eq!(run(&mut ks, &["LPUSHX", "nol", "z"]), Reply::Int(0));
        assert_eq!(
            run(&mut ks, &["RPOP", "l", "5"]),
            Reply::Array(vec![Reply::bulk("b"), Reply::bulk("a"), Reply::bulk("z")])
        );
        assert_eq!(
            events(&mut ks),
            ev(&[("l", "rpush"), ("l", "lpush"), ("l", "rpop"), ("l", "del")])
        );
        assert_eq!(contents(&ks, "l"), None);
    }

    #[test]
    fn lmove_pushes_on_the_destination_then_pops_the_source() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, &["RPUSH", "src", "a"]);
        ks.take_events();
        assert_eq!(run(&mut ks, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), Reply::bulk("a"));
        assert_eq!(events(&mut ks), ev(&[("dst", "rpush"), ("src", "lpop"), ("src", "del")]));
        assert_eq!(contents(&ks, "dst"), Some(vec!["a".into()]));
        run(&mut ks, &["RPUSH", "dst", "b", "c"]);
        assert_eq!(run(&mut ks, &["RPOPLPUSH", "dst", "dst"]), Reply::bulk("c"));
        assert_eq!(contents(&ks, "dst"), Some(vec!["c".into(), "a".into(), "b".into()]));
    }

    #[test]
    fn edits_record_their_events_only_when_something_changed() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, &["RPUSH", "l", "a", "b", "a"]);
        ks.take_events();
        assert_eq!(run(&mut ks, &["LINSERT", "l", "BEFORE", "zz", "x"]), Reply::Int(-1));
        assert_eq!(run(&mut ks, &["LREM", "l", "0", "zz"]), Reply::Int(0));
        assert!(events(&mut ks).is_empty());
        assert_eq!(run(&mut ks, &["LINSERT", "l", "AFTER", "b", "x"]), Reply::Int(4));
        assert_eq!(run(&mut ks, &["LSET", "l", "-1", "y"]), Reply::ok());
        assert_eq!(run(&mut ks, &["LREM", "l", "-1", "a"]), Reply::Int(1));
        assert_eq!(run(&mut ks, &["LTRIM", "l", "5", "10"]), Reply::ok());
        assert_eq!(
            events(&mut ks),
            ev(&[("l", "linsert"), ("l", "lset"), ("l", "lrem"), ("l", "ltrim"), ("l", "del")])
        );
    }

    #[test]
    fn errors_change_nothing_and_record_no_events() {
        let mut ks = Keyspace::new(1);
        run(&mut ks, &["SET", "s", "x"]);
        run(&mut ks, &["RPUSH", "l", "a"]);
        ks.take_events();
        let cases: &[(&[&str], CmdError)] = &[
            (&["LPUSH", "s", "a"], CmdError::WrongType),
            (&["LMOVE", "l", "s", "LEFT", "LEFT"], CmdError::WrongType),
            (&["LSET", "l", "3", "x"], CmdError::IndexOutOfRange),
            (&["LSET", "nol", "0", "x"], CmdError::NoSuchKey),
            (&["LPOP", "l", "-1"], CmdError::NotPositive),
            (&["BLPOP", "l", "s", "-1"], CmdError::TimeoutNegative),
            (&["BLPOP", "nol", "s", "0"], CmdError::WrongType),
            (&["LMPOP", "2", "l", "LEFT"], CmdError::Syntax),
            (&["LMPOP", "0", "l", "LEFT"], CmdError::NumkeysNotPositive),
            (&["LMPOP", "1", "l", "LEFT", "COUNT", "0"], CmdError::CountNotPositive),
            (&["LINSERT", "l", "MIDDLE", "a", "b"], CmdError::Syntax),
        ];
        for (argv, err) in cases {
            assert_eq!(run(&mut ks, argv), Reply::Error(err.clone()), "{argv:?}");
            assert!(ks.take_events().is_empty(), "{argv:?}");
        }
        assert_eq!(contents(&ks, "l"), Some(vec!["a".into()]));
    }

    #[test]
    fn blocking_commands_block_on_their_keys_or_answer_at_once_in_multi() {
        let mut ks = Keyspace::new(1);
        let blocked = |keys: &[&str], timeout_ms| {
            Reply::Blocked(Box::new(BlockedOn {
                keys: keys.iter().map(|k| Bytes::from(k.to_string())).collect(),
                timeout_ms,
                on_timeout: Box::new(Reply::NullArray),
                retry: None,
                wants: "list",
                on_nokey: false,
            }))
        };
        assert_eq!(run(&mut ks, &["BLPOP", "a", "b", "1.5"]), blocked(&["a", "b"], 1500));
        assert_eq!(run(&mut ks, &["BLMPOP", "0.0001", "1", "a", "LEFT"]), blocked(&["a"], 1));
        assert_eq!(run(&mut ks, &["BLMOVE", "a", "d", "LEFT", "LEFT", "0"]), blocked(&["a"], 0));
        assert_eq!(apply(&mut ks, false, &["BRPOPLPUSH", "a", "d", "0"]), Reply::Null);
        assert_eq!(apply(&mut ks, false, &["BRPOP", "a", "0"]), Reply::NullArray);
        assert!(ks.take_events().is_empty());
        run(&mut ks, &["RPUSH", "b", "x", "y"]);
        assert_eq!(
            run(&mut ks, &["BRPOP", "a", "b", "0"]),
            Reply::Array(vec![Reply::bulk("b"), Reply::bulk("y")])
        );
    }

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"0.0001"), Ok(1));
        assert_eq!(parse_timeout(b"-0.0001"), Ok(0), "rounds up to zero: waits forever");
        assert_eq!(parse_timeout(b"2"), Ok(2000));
        assert_eq!(parse_timeout(b"0x10"), Ok(16000));
        assert_eq!(parse_timeout(b"-1"), Err(CmdError::TimeoutNegative));
        assert_eq!(parse_timeout(b"x"), Err(CmdError::TimeoutNotFloat));
        assert_eq!(parse_timeout(b"nan"), Err(CmdError::TimeoutNotFloat));
        assert_eq!(parse_timeout(b"inf"), Err(CmdError::TimeoutOutOfRange));
        assert_eq!(parse_timeout(b"0x7FFFFFFFFFFFFF"), Err(CmdError::TimeoutOutOfRange));
    }
}
