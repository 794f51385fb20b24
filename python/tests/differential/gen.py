"""Seeded random command generators, one per command family.

Every generator is a function ``gen(r: random.Random) -> Op``; an ``Op`` is a list of
arguments (one command) or a ``Scan`` (a full SCAN-style iteration whose union of results
is compared). Keys come from a small pool so commands collide, and every family now and
then touches a key of another type (WRONGTYPE paths). ``mutate`` damages a command
(wrong arity, bad numbers) for the error family.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Union


@dataclass
class Scan:
    """``SCAN 0 ...`` (or ``SSCAN key 0 ...``) iterated until the cursor is 0 again."""

    args: List[bytes]  # the command with the cursor replaced by b"{cursor}"
    pairs: bool = False  # HSCAN/ZSCAN: the items are field/value pairs

    def __repr__(self) -> str:
        return "Scan(" + " ".join(a.decode("latin1") for a in self.args) + ")"


Op = Union[List[bytes], Scan]

KEYS = [b"k0", b"k1", b"k2", b"k3"]
# Lex ranges are only specified when all scores are equal: these keys only ever get score 0.
LEXKEYS = [b"l0", b"l1"]
MEMBERS = [b"a", b"b", b"c", b"d", b"e", b"", b"1", b"2", b"10", b"-3", b"\x00\xff", b"caf\xc3\xa9"]
VALUES = [
    b"", b"0", b"1", b"-1", b"10", b"3.5", b"-0.5", b"abc", b"hello world", b"\x00\xff\r\n",
    b"9223372036854775807", b"-9223372036854775808", b" 1", b"1e3", b"inf", b"nan", b"007",
    b"12345678901234567890", b"x" * 70,
]
BAD_NUMBERS = [b"abc", b"", b"1.5", b"9223372036854775808", b"-9223372036854775809", b"1e3",
               b" 1", b"0x10", b"nan", b"inf", b"--1", b"+1"]


def B(*args) -> List[bytes]:
    out = []
    for a in args:
        if isinstance(a, bytes):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(B(*a))
        else:
            out.append(str(a).encode())
    return out


def key(r: random.Random) -> bytes:
    return r.choice(KEYS)


def member(r: random.Random) -> bytes:
    if r.random() < 0.05:
        return bytes(r.randrange(256) for _ in range(r.randrange(1, 5)))
    return r.choice(MEMBERS)


def value(r: random.Random) -> bytes:
    x = r.random()
    if x < 0.1:
        return bytes(r.randrange(256) for _ in range(r.randrange(0, 8)))
    if x < 0.3:
        return str(r.randint(-1000, 1000)).encode()
    return r.choice(VALUES)


def integer(r: random.Random, lo: int = -10, hi: int = 10) -> bytes:
    if r.random() < 0.03:
        return r.choice(BAD_NUMBERS)
    return str(r.randint(lo, hi)).encode()


def some(r: random.Random, f: Callable, lo: int = 1, hi: int = 4) -> List[bytes]:
    return [f(r) for _ in range(r.randint(lo, hi))]


def long_ttl(r: random.Random, unit: str = "s") -> bytes:
    """TTLs are long (or non-positive) so that nothing expires between the two servers."""
    if r.random() < 0.1:
        return r.choice([b"0", b"-5", b"abc", b"9223372036854775807"])
    s = r.randint(100, 100000)
    return str(s * 1000 if unit == "ms" else s).encode()


def abs_time(r: random.Random, unit: str = "s") -> bytes:
    import time

    now = time.time()
    x = r.random()
    t = now - r.randint(10, 1000) if x < 0.2 else now + r.randint(100, 100000)
    if x > 0.95:
        return r.choice([b"abc", b"-1", b"0"])
    return str(int(t * 1000) if unit == "ms" else int(t)).encode()


def foreign(r: random.Random) -> List[bytes]:
    """A write of a random type, so that keys change type under other families."""
    k = key(r)
    return r.choice([
        lambda: B("SET", k, value(r)),
        lambda: B("SADD", k, some(r, member)),
        lambda: B("RPUSH", k, some(r, member)),
        lambda: B("HSET", k, member(r), value(r)),
        lambda: B("ZADD", k, r.randint(0, 5), member(r)),
        lambda: B("DEL", k),
        lambda: B("XADD", k, f"{r.randint(1, 50)}-{r.randint(0, 3)}", "f", value(r)),
    ])()


# -- strings ----------------------------------------------------------------------------


def g_strings(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(30)
    if c == 0:
        opts = []
        if r.random() < 0.3:
            opts += r.choice([["NX"], ["XX"]])
        if r.random() < 0.3:
            opts += r.choice([["EX", long_ttl(r)], ["PX", long_ttl(r, "ms")], ["EXAT", abs_time(r)],
                              ["PXAT", abs_time(r, "ms")], ["KEEPTTL"]])
        if r.random() < 0.2:
            opts.append("GET")
        r.shuffle(opts)
        return B("SET", k, value(r), opts)
    if c == 1:
        return B("GET", k)
    if c == 2:
        return B("GETSET", k, value(r))
    if c == 3:
        return B("GETDEL", k)
    if c == 4:
        opt = r.choice([[], ["PERSIST"], ["EX", long_ttl(r)], ["PX", long_ttl(r, "ms")],
                        ["EXAT", abs_time(r)], ["PXAT", abs_time(r, "ms")]])
        return B("GETEX", k, opt)
    if c == 5:
        return B("SETNX", k, value(r))
    if c == 6:
        return B(r.choice(["SETEX", "PSETEX"]), k, long_ttl(r), value(r))
    if c == 7:
        return B("MSET", [[key(r), value(r)] for _ in range(r.randint(1, 3))])
    if c == 8:
        return B("MSETNX", [[key(r), value(r)] for _ in range(r.randint(1, 3))])
    if c == 9:
        return B("MGET", some(r, key))
    if c == 10:
        return B("APPEND", k, value(r))
    if c == 11:
        return B("STRLEN", k)
    if c in (12, 13):
        return B(r.choice(["INCR", "DECR"]), k)
    if c in (14, 15):
        n = r.choice([integer(r, -100, 100), b"9223372036854775807", b"-9223372036854775808"])
        return B(r.choice(["INCRBY", "DECRBY"]), k, n)
    if c == 16:
        return B("INCRBYFLOAT", k, r.choice([b"1.5", b"-0.1", b"10", b"1e3", b"abc", b"inf", b"0.0001",
                                             b"3.0e-2", b"5.0000000000000001", b"-7"]))
    if c == 17:
        return B(r.choice(["GETRANGE", "SUBSTR"]), k, integer(r, -12, 12), integer(r, -12, 12))
    if c == 18:
        return B("SETRANGE", k, integer(r, 0, 20), value(r))
    if c == 19:
        opts = r.choice([[], ["LEN"], ["IDX"], ["IDX", "MINMATCHLEN", r.randint(0, 3)],
                         ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", 1, "WITHMATCHLEN"]])
        return B("LCS", k, key(r), opts)
    if c == 20:
        return B("SET", k, r.choice([b"ohmytext", b"mynewtext", b"1234", b"abcabc"]))
    if c == 21:
        return B("OBJECT", "ENCODING", k)
    if c == 22:
        return B("TYPE", k)
    if c == 23:
        return B("SET", k, str(r.randint(-5, 5)).encode())
    if c == 24:
        return foreign(r)
    if c == 25:
        return B("EXISTS", some(r, key))
    if c == 26:
        return B("TTL", k)
    return B("GET", k)


# -- keys and expiry -------------------------------------------------------------------


def g_keys(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(32)
    cond = r.choice([[], [], ["NX"], ["XX"], ["GT"], ["LT"]])
    if c < 5:
        return foreign(r)
    if c == 5:
        return B(r.choice(["DEL", "UNLINK"]), some(r, key))
    if c == 6:
        return B("EXISTS", some(r, key))
    if c == 7:
        return B("TYPE", k)
    if c == 8:
        return B("EXPIRE", k, long_ttl(r), cond)
    if c == 9:
        return B("PEXPIRE", k, long_ttl(r, "ms"), cond)
    if c == 10:
        return B("EXPIREAT", k, abs_time(r), cond)
    if c == 11:
        return B("PEXPIREAT", k, abs_time(r, "ms"), cond)
    if c in (12, 13):
        return B(r.choice(["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]), k)
    if c == 14:
        return B("PERSIST", k)
    if c == 15:
        return B("RENAME", k, key(r))
    if c == 16:
        return B("RENAMENX", k, key(r))
    if c == 17:
        return B("COPY", k, key(r), r.choice([[], ["REPLACE"], ["DB", 1], ["DB", 0, "REPLACE"], ["DB", "x"]]))
    if c == 18:
        return B("KEYS", r.choice([b"*", b"k*", b"k[0-1]", b"k?", b"*2", b"[^k]*", b"k[!1]", b"\\k0"]))
    if c == 19:
        opts = []
        if r.random() < 0.5:
            opts += ["MATCH", r.choice([b"*", b"k*", b"k[12]", b"x*"])]
        if r.random() < 0.5:
            opts += ["COUNT", r.randint(1, 10)]
        if r.random() < 0.4:
            opts += ["TYPE", r.choice(["string", "set", "list", "hash", "zset", "stream", "nosuch"])]
        return Scan(B("SCAN", "{cursor}", opts))
    if c == 20:
        return B("DBSIZE")
    if c == 21:
        return B("OBJECT", "ENCODING", k)
    if c == 22:
        return B("TOUCH", some(r, key))
    if c == 23:
        return B("RANDOMKEY")
    if c == 24:
        return B("MOVE", k, r.choice([1, 0, "x", 99]))
    if c == 25:
        return B("SET", k, value(r), "EX", long_ttl(r))
    if c == 26:
        return B("SETEX", k, long_ttl(r), value(r))
    if c == 27:
        return B("EXPIRE", k, r.choice([b"-1", b"0", b"9223372036854775807", b"922337203685477580"]))
    if c == 28:
        return B("PEXPIREAT", k, r.choice([b"1", b"-100", b"9223372036854775807"]))
    if c == 29:
        return B("GETEX", k, r.choice([["PERSIST"], ["EX", long_ttl(r)]]))
    return B("OBJECT", "ENCODING", k)


# -- bitmaps -----------------------------------------------------------------------------


def g_bitmaps(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(20)
    if c < 4:
        return B("SETBIT", k, integer(r, 0, 100), r.choice([b"0", b"1", b"1", b"2", b"x"]))
    if c == 4:
        return B("GETBIT", k, integer(r, 0, 120))
    if c in (5, 6):
        opt = r.choice([[], [integer(r, -5, 10), integer(r, -5, 10)],
                        [integer(r, -5, 10), integer(r, -5, 10), r.choice(["BYTE", "BIT"])],
                        [integer(r, -80, 80), integer(r, -80, 80), "BIT"], [1]])
        return B("BITCOUNT", k, opt)
    if c in (7, 8):
        opt = r.choice([[], [integer(r, -5, 10)], [integer(r, -5, 10), integer(r, -5, 10)],
                        [integer(r, -80, 80), integer(r, -80, 80), r.choice(["BYTE", "BIT"])]])
        return B("BITPOS", k, r.choice([b"0", b"1", b"1", b"2"]), opt)
    if c == 9:
        op = r.choice(["AND", "OR", "XOR", "NOT", "NOT", "DIFF", "and"])
        n = 1 if op == "NOT" and r.random() < 0.8 else r.randint(1, 3)
        return B("BITOP", op, key(r), [key(r) for _ in range(n)])
    if c in (10, 11, 12):
        parts: list = []
        for _ in range(r.randint(1, 3)):
            t = r.choice(["i8", "u8", "i16", "u4", "i5", "u1", "i64", "u63", "u64", "i65", "x8"])
            off = r.choice([str(r.randint(0, 40)), f"#{r.randint(0, 4)}", "-1"])
            x = r.randrange(4)
            if x == 0:
                parts += ["GET", t, off]
            elif x == 1:
                parts += ["SET", t, off, r.randint(-300, 300)]
            elif x == 2:
                parts += ["INCRBY", t, off, r.randint(-300, 300)]
            else:
                parts += ["OVERFLOW", r.choice(["WRAP", "SAT", "FAIL", "BAD"])]
        return B("BITFIELD", k, parts)
    if c == 13:
        return B("BITFIELD_RO", k, "GET", r.choice(["u8", "i8", "u16"]), r.randint(0, 40))
    if c == 14:
        return B("SET", k, r.choice([b"\xff\xf0\x00", b"foobar", b"\x00\x00", b"\x80", b""]))
    if c == 15:
        return B("GET", k)
    if c == 16:
        return B("STRLEN", k)
    if c == 17:
        return foreign(r)
    return B("SETBIT", k, integer(r, 0, 30), 1)


# -- lists -------------------------------------------------------------------------------


def g_lists(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(26)
    if c < 4:
        return B(r.choice(["LPUSH", "RPUSH"]), k, some(r, member))
    if c == 4:
        return B(r.choice(["LPUSHX", "RPUSHX"]), k, some(r, member))
    if c in (5, 6):
        return B(r.choice(["LPOP", "RPOP"]), k, r.choice([[], [integer(r, -1, 5)]]))
    if c == 7:
        return B("LLEN", k)
    if c in (8, 9):
        return B("LRANGE", k, integer(r, -8, 8), integer(r, -8, 8))
    if c == 10:
        return B("LINDEX", k, integer(r, -6, 6))
    if c == 11:
        return B("LSET", k, integer(r, -6, 6), member(r))
    if c == 12:
        return B("LINSERT", k, r.choice(["BEFORE", "AFTER", "MIDDLE"]), member(r), member(r))
    if c == 13:
        return B("LREM", k, integer(r, -3, 3), member(r))
    if c == 14:
        return B("LTRIM", k, integer(r, -6, 6), integer(r, -6, 6))
    if c == 15:
        opts = []
        if r.random() < 0.5:
            opts += ["RANK", r.choice([1, 2, -1, -2, 0, "x"])]
        if r.random() < 0.5:
            opts += ["COUNT", r.choice([0, 1, 2, -1])]
        if r.random() < 0.3:
            opts += ["MAXLEN", r.choice([0, 1, 3, -1])]
        return B("LPOS", k, member(r), opts)
    if c == 16:
        return B("LMOVE", k, key(r), r.choice(["LEFT", "RIGHT"]), r.choice(["LEFT", "RIGHT", "UP"]))
    if c == 17:
        return B("RPOPLPUSH", k, key(r))
    if c == 18:
        ks = some(r, key, 1, 3)
        return B("LMPOP", len(ks), ks, r.choice(["LEFT", "RIGHT"]),
                 r.choice([[], ["COUNT", r.choice([1, 2, 5, 0, -1])]]))
    if c == 19:
        return B("OBJECT", "ENCODING", k)
    if c == 20:
        return foreign(r)
    if c == 21:
        return B("SORT", k, r.choice([[], ["ALPHA"], ["DESC", "ALPHA"], ["LIMIT", 0, 2, "ALPHA"]]))
    return B("RPUSH", k, some(r, member, 1, 8))


# -- hashes ------------------------------------------------------------------------------


def g_hashes(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(30)
    if c < 4:
        return B("HSET", k, [[member(r), value(r)] for _ in range(r.randint(1, 3))])
    if c == 4:
        return B("HMSET", k, member(r), value(r))
    if c == 5:
        return B("HSETNX", k, member(r), value(r))
    if c in (6, 7):
        return B("HGET", k, member(r))
    if c == 8:
        return B("HMGET", k, some(r, member))
    if c == 9:
        return B("HDEL", k, some(r, member))
    if c == 10:
        return B("HEXISTS", k, member(r))
    if c == 11:
        return B("HLEN", k)
    if c == 12:
        return B("HSTRLEN", k, member(r))
    if c == 13:
        return B("HINCRBY", k, member(r), r.choice([integer(r, -100, 100), b"9223372036854775807"]))
    if c == 14:
        return B("HINCRBYFLOAT", k, member(r), r.choice([b"1.5", b"-2", b"1e2", b"abc", b"0.1", b"inf"]))
    if c == 15:
        return B(r.choice(["HKEYS", "HVALS", "HGETALL"]), k)
    if c == 16:
        return B("HRANDFIELD", k, r.choice([[], [integer(r, -5, 5)], [integer(r, -5, 5), "WITHVALUES"]]))
    if c == 17:
        opts = []
        if r.random() < 0.4:
            opts += ["MATCH", r.choice([b"*", b"a*", b"[ab]", b"1*"])]
        if r.random() < 0.4:
            opts += ["COUNT", r.randint(1, 5)]
        if r.random() < 0.2:
            opts += ["NOVALUES"]
        return Scan(B("HSCAN", k, "{cursor}", opts), pairs="NOVALUES" not in [o for o in opts if isinstance(o, str)])
    if c in (18, 19):
        cmd, unit = r.choice([("HEXPIRE", "s"), ("HPEXPIRE", "ms")])
        fs = some(r, member, 1, 3)
        return B(cmd, k, long_ttl(r, unit), r.choice([[], ["NX"], ["XX"], ["GT"], ["LT"]]), "FIELDS", len(fs), fs)
    if c == 20:
        cmd, unit = r.choice([("HEXPIREAT", "s"), ("HPEXPIREAT", "ms")])
        fs = some(r, member, 1, 3)
        return B(cmd, k, abs_time(r, unit), "FIELDS", len(fs), fs)
    if c == 21:
        fs = some(r, member, 1, 3)
        n = len(fs) if r.random() < 0.9 else len(fs) + 1
        return B(r.choice(["HTTL", "HPTTL", "HEXPIRETIME", "HPEXPIRETIME", "HPERSIST"]), k, "FIELDS", n, fs)
    if c == 22:
        return B("OBJECT", "ENCODING", k)
    if c == 23:
        return foreign(r)
    if c == 24:
        return B("HSET", k, member(r), b"v" * r.choice([1, 65, 10]))
    return B("HGET", k, member(r))


# -- sets --------------------------------------------------------------------------------


def g_sets(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(30)
    if c < 5:
        return B("SADD", k, some(r, member, 1, 5))
    if c == 5:
        return B("SADD", k, [str(r.randint(-20, 600)) for _ in range(r.randint(1, 6))])
    if c == 6:
        return B("SREM", k, some(r, member))
    if c == 7:
        return B("SISMEMBER", k, member(r))
    if c == 8:
        return B("SMISMEMBER", k, some(r, member))
    if c == 9:
        return B("SCARD", k)
    if c in (10, 11):
        return B("SMEMBERS", k)
    if c == 12:
        return B("SMOVE", k, key(r), member(r))
    if c == 13:
        return B(r.choice(["SINTER", "SUNION", "SDIFF"]), some(r, key, 1, 3))
    if c == 14:
        return B(r.choice(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), key(r), some(r, key, 1, 3))
    if c == 15:
        ks = some(r, key, 1, 3)
        return B("SINTERCARD", len(ks), ks, r.choice([[], ["LIMIT", r.choice([0, 1, 2, -1])]]))
    if c == 16:
        return B("SPOP", k, r.choice([[], [integer(r, 0, 5)], [100]]))
    if c == 17:
        return B("SRANDMEMBER", k, r.choice([[], [integer(r, -5, 5)], [100]]))
    if c == 18:
        opts = []
        if r.random() < 0.4:
            opts += ["MATCH", r.choice([b"*", b"a*", b"[ab]", b"1*"])]
        if r.random() < 0.4:
            opts += ["COUNT", r.randint(1, 5)]
        return Scan(B("SSCAN", k, "{cursor}", opts))
    if c == 19:
        return B("OBJECT", "ENCODING", k)
    if c == 20:
        return foreign(r)
    if c == 21:
        return B("SORT", k, r.choice([["ALPHA"], ["DESC", "ALPHA"], [], ["LIMIT", 1, 2, "ALPHA"]]))
    return B("SADD", k, member(r))


# -- sorted sets -------------------------------------------------------------------------

SCORES = [b"0", b"1", b"-1", b"2.5", b"+inf", b"-inf", b"inf", b"1e2", b"3", b"0.1", b"-0"]


def score(r: random.Random) -> bytes:
    x = r.random()
    if x < 0.03:
        return r.choice([b"nan", b"abc", b""])
    if x < 0.5:
        return r.choice(SCORES)
    return str(r.randint(-5, 5)).encode()


def score_bound(r: random.Random) -> bytes:
    x = r.random()
    if x < 0.03:
        return r.choice([b"abc", b"((1", b"[1"])
    b = r.choice([b"-inf", b"+inf", b"inf", b"0", b"1", b"2.5", b"-1", b"3", b"5"])
    return b"(" + b if r.random() < 0.3 else b


def lex_bound(r: random.Random) -> bytes:
    x = r.random()
    if x < 0.2:
        return r.choice([b"-", b"+"])
    if x < 0.23:
        return r.choice([b"a", b"", b"{b"])
    return r.choice([b"[", b"("]) + r.choice([b"a", b"b", b"c", b"", b"1", b"d"])


def g_zsets(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(44)
    ws = r.choice([[], [], ["WITHSCORES"]])
    if c < 4:
        opts = []
        if r.random() < 0.3:
            opts += r.choice([["NX"], ["XX"], ["GT"], ["LT"], ["NX", "GT"], ["XX", "LT"]])
        if r.random() < 0.2:
            opts.append("CH")
        if r.random() < 0.1:
            opts.append("INCR")
            return B("ZADD", k, opts, score(r), member(r))
        return B("ZADD", k, opts, [[score(r), member(r)] for _ in range(r.randint(1, 4))])
    if c == 4:
        return B("ZADD", k, [[r.randint(0, 3), m] for m in [b"a", b"b", b"c", b"d", b"e"][: r.randint(1, 5)]])
    if c == 5:
        return B("ZINCRBY", k, score(r), member(r))
    if c == 6:
        return B("ZREM", k, some(r, member))
    if c == 7:
        return B("ZSCORE", k, member(r))
    if c == 8:
        return B("ZMSCORE", k, some(r, member))
    if c == 9:
        return B("ZCARD", k)
    if c == 10:
        return B("ZCOUNT", k, score_bound(r), score_bound(r))
    if c == 11:
        return B("ZLEXCOUNT", r.choice(LEXKEYS), lex_bound(r), lex_bound(r))
    if c in (12, 13, 14):
        mode = r.choice(["", "BYSCORE", "BYLEX"])
        rev = ["REV"] if r.random() < 0.3 else []
        lim = ["LIMIT", integer(r, 0, 3), integer(r, -1, 4)] if r.random() < 0.3 else []
        if mode == "":
            a, b = integer(r, -6, 6), integer(r, -6, 6)
            if lim and r.random() < 0.7:
                lim = []
        elif mode == "BYSCORE":
            a, b = score_bound(r), score_bound(r)
        else:
            a, b = lex_bound(r), lex_bound(r)
            k = r.choice(LEXKEYS)
            if r.random() < 0.9:
                ws = []
        return B("ZRANGE", k, a, b, [mode] if mode else [], rev, lim, ws)
    if c == 15:
        lim = ["LIMIT", integer(r, 0, 3), integer(r, -1, 4)] if r.random() < 0.3 else []
        return B(r.choice(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]), k, score_bound(r), score_bound(r), ws, lim)
    if c == 16:
        lim = ["LIMIT", integer(r, 0, 3), integer(r, -1, 4)] if r.random() < 0.3 else []
        return B(r.choice(["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), r.choice(LEXKEYS), lex_bound(r), lex_bound(r), lim)
    if c == 17:
        return B("ZREVRANGE", k, integer(r, -6, 6), integer(r, -6, 6), ws)
    if c == 18:
        return B(r.choice(["ZRANK", "ZREVRANK"]), k, member(r), r.choice([[], ["WITHSCORE"]]))
    if c == 19:
        return B("ZREMRANGEBYSCORE", k, score_bound(r), score_bound(r))
    if c == 20:
        return B("ZREMRANGEBYRANK", k, integer(r, -5, 5), integer(r, -5, 5))
    if c == 21:
        return B("ZREMRANGEBYLEX", r.choice(LEXKEYS), lex_bound(r), lex_bound(r))
    if c in (22, 23):
        ks = some(r, key, 1, 3)
        opts = []
        if r.random() < 0.4:
            opts += ["WEIGHTS", [r.choice([b"1", b"2", b"-1", b"0.5", b"inf", b"0"]) for _ in ks]]
        if r.random() < 0.4:
            opts += ["AGGREGATE", r.choice(["SUM", "MIN", "MAX"])]
        cmd = r.choice(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZUNION", "ZINTER", "ZDIFF"])
        if cmd.startswith("ZDIFF"):
            opts = []
        if cmd.endswith("STORE"):
            return B(cmd, key(r), len(ks), ks, opts)
        return B(cmd, len(ks), ks, opts, ws)
    if c == 24:
        ks = some(r, key, 1, 3)
        return B("ZINTERCARD", len(ks), ks, r.choice([[], ["LIMIT", r.choice([0, 1, 2])]]))
    if c in (25, 26):
        return B(r.choice(["ZPOPMIN", "ZPOPMAX"]), k, r.choice([[], [integer(r, -1, 4)]]))
    if c == 27:
        ks = some(r, key, 1, 3)
        return B("ZMPOP", len(ks), ks, r.choice(["MIN", "MAX"]), r.choice([[], ["COUNT", r.choice([1, 2, 10, 0])]]))
    if c == 28:
        if r.random() < 0.3:
            return B("ZRANGESTORE", r.choice(LEXKEYS), r.choice(LEXKEYS), lex_bound(r), lex_bound(r), "BYLEX",
                     r.choice([[], ["REV"]]))
        mode = r.choice([[integer(r, -4, 4), integer(r, -4, 4)], [score_bound(r), score_bound(r), "BYSCORE"]])
        return B("ZRANGESTORE", key(r), k, mode, r.choice([[], ["REV"]]))
    if c == 29:
        return B("ZRANDMEMBER", k, r.choice([[], [integer(r, -5, 5)], [integer(r, -5, 5), "WITHSCORES"], [50]]))
    if c == 30:
        opts = []
        if r.random() < 0.4:
            opts += ["MATCH", r.choice([b"*", b"a*", b"[ab]"])]
        if r.random() < 0.4:
            opts += ["COUNT", r.randint(1, 5)]
        return Scan(B("ZSCAN", k, "{cursor}", opts), pairs=True)
    if c == 31:
        return B("OBJECT", "ENCODING", k)
    if c == 32:
        return foreign(r)
    if c in (34, 35, 36):
        return B("ZADD", r.choice(LEXKEYS), [[b"0", m] for m in some(r, member, 1, 4)])
    if c == 37:
        return B(r.choice(["ZREM", "ZSCORE"]), r.choice(LEXKEYS), member(r))
    if c == 38:
        return B("ZPOPMIN", r.choice(LEXKEYS))
    if c == 39:
        return B("ZRANGE", r.choice(LEXKEYS), 0, -1)
    return B("ZRANGE", k, 0, -1, "WITHSCORES")


# -- streams -----------------------------------------------------------------------------


def stream_id(r: random.Random, lo: int = 0) -> bytes:
    x = r.random()
    if x < 0.1:
        return r.choice([b"0", b"0-0", b"-", b"+", b"abc", b"1-x", b"18446744073709551615-18446744073709551615"])
    ms = r.randint(lo, 30)
    return f"{ms}-{r.randint(0, 3)}".encode() if r.random() < 0.7 else str(ms).encode()


def g_streams(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(34)
    grp = r.choice([b"g1", b"g2"])
    cons = r.choice([b"c1", b"c2"])
    if c < 6:
        trim = []
        if r.random() < 0.15:
            trim = r.choice([["MAXLEN", r.randint(0, 5)], ["MAXLEN", "=", r.randint(0, 5)], ["MINID", stream_id(r)],
                             ["MAXLEN", "~", r.randint(0, 5)], ["MAXLEN", 2, "LIMIT", 5]])
        nomk = ["NOMKSTREAM"] if r.random() < 0.1 else []
        if r.random() < 0.1:
            sid = f"{r.randint(0, 40)}-*".encode()
        else:
            sid = stream_id(r)
        return B("XADD", k, nomk, trim, sid, [[member(r) or b"f", value(r)] for _ in range(r.randint(1, 2))])
    if c in (6, 7):
        cnt = ["COUNT", r.choice([0, 1, 2, 5, -1])] if r.random() < 0.3 else []
        return B(r.choice(["XRANGE", "XREVRANGE"]), k, stream_id(r), stream_id(r), cnt)
    if c == 8:
        return B("XRANGE", k, "-", "+")
    if c == 9:
        return B("XLEN", k)
    if c == 10:
        return B("XDEL", k, some(r, stream_id, 1, 3))
    if c == 11:
        return B("XTRIM", k, r.choice([["MAXLEN", r.randint(0, 6)], ["MINID", stream_id(r)], ["MAXLEN", "~", 1],
                                       ["MINID", "=", stream_id(r)], ["MAXLEN", -1]]))
    if c == 12:
        ks = some(r, key, 1, 2)
        return B("XREAD", r.choice([[], ["COUNT", r.randint(1, 3)]]), "STREAMS", ks, [stream_id(r) for _ in ks])
    if c in (13, 14):
        return B("XGROUP", "CREATE", k, grp, r.choice([b"0", b"$", stream_id(r)]),
                 r.choice([[], ["MKSTREAM"], ["ENTRIESREAD", r.randint(0, 5)]]))
    if c == 15:
        return B("XGROUP", r.choice(["DESTROY", "SETID"]), k, grp, [] if r.random() < 0.5 else [stream_id(r)])
    if c == 16:
        return B("XGROUP", r.choice(["CREATECONSUMER", "DELCONSUMER"]), k, grp, cons)
    if c in (17, 18, 19):
        ks = [k] if r.random() < 0.8 else some(r, key, 1, 2)
        return B("XREADGROUP", "GROUP", grp, cons, r.choice([[], ["COUNT", r.randint(1, 3)]]),
                 r.choice([[], ["NOACK"]]) if r.random() < 0.2 else [], "STREAMS", ks,
                 [r.choice([b">", b">", b"0", stream_id(r)]) for _ in ks])
    if c == 20:
        return B("XACK", k, grp, some(r, stream_id, 1, 3))
    if c == 21:
        return B("XPENDING", k, grp)
    if c == 22:
        return B("XPENDING", k, grp, r.choice([[], ["IDLE", 0]]), "-", "+", r.randint(1, 5), r.choice([[], [cons]]))
    if c == 23:
        return B("XCLAIM", k, grp, cons, 0, some(r, stream_id, 1, 3), r.choice([[], ["JUSTID"]]))
    if c == 24:
        return B("XAUTOCLAIM", k, grp, cons, 0, stream_id(r), r.choice([[], ["COUNT", r.randint(1, 3)]]),
                 r.choice([[], ["JUSTID"]]))
    if c == 25:
        return B("XINFO", "STREAM", k)
    if c == 26:
        return B("XINFO", "GROUPS", k)
    if c == 27:
        return B("XINFO", "CONSUMERS", k, grp)
    if c == 28:
        return B("XSETID", k, stream_id(r, 10), r.choice([[], ["ENTRIESADDED", r.randint(0, 20)],
                                                         ["ENTRIESADDED", 20, "MAXDELETEDID", stream_id(r)]]))
    if c == 29:
        return foreign(r)
    if c == 30:
        return B("TYPE", k)
    if c == 31:
        return B("XINFO", "STREAM", k, "FULL")
    return B("XADD", k, f"{r.randint(1, 60)}-{r.randint(0, 2)}", "f", value(r))


# -- geo ---------------------------------------------------------------------------------

PLACES = [
    (b"Palermo", 13.361389, 38.115556), (b"Catania", 15.087269, 37.502669),
    (b"Rome", 12.496366, 41.902782), (b"Paris", 2.352222, 48.856613), (b"edge", 180, 85.05112878),
    (b"south", -179.9, -85.05), (b"zero", 0, 0), (b"near", 13.5, 38.0),
]


def g_geo(r: random.Random) -> Op:
    k = key(r)
    c = r.randrange(20)
    unit = r.choice(["m", "km", "mi", "ft", "KM", "yd"])
    if c < 4:
        items = []
        for _ in range(r.randint(1, 3)):
            name, lon, lat = r.choice(PLACES)
            if r.random() < 0.2:
                lon, lat = round(r.uniform(-180, 180), 6), round(r.uniform(-85, 85), 6)
            if r.random() < 0.03:
                lat = 89.0
            items += [lon, lat, name]
        return B("GEOADD", k, r.choice([[], [], ["NX"], ["XX"], ["CH"]]), items)
    if c == 4:
        return B("GEOPOS", k, [p[0] for p in r.sample(PLACES, 3)])
    if c == 5:
        return B("GEODIST", k, r.choice(PLACES)[0], r.choice(PLACES)[0], r.choice([[], [unit]]))
    if c == 6:
        return B("GEOHASH", k, [p[0] for p in r.sample(PLACES, 2)])
    if c in (7, 8, 9, 10):
        frm = r.choice([["FROMMEMBER", r.choice(PLACES)[0]], ["FROMLONLAT", 15, 37], ["FROMLONLAT", 2.3, 48.8]])
        by = r.choice([["BYRADIUS", r.choice([10, 200, 1000, 5000]), unit],
                       ["BYBOX", r.choice([100, 400, 3000]), r.choice([100, 400, 3000]), unit]])
        opts = []
        if r.random() < 0.6:
            opts.append(r.choice(["ASC", "DESC"]))
        if r.random() < 0.3:
            opts += ["COUNT", r.randint(1, 3)]
        with_ = [w for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] if r.random() < 0.3]
        if r.random() < 0.3:
            return B("GEOSEARCHSTORE", key(r), k, frm, by, opts, r.choice([[], ["STOREDIST"]]))
        return B("GEOSEARCH", k, frm, by, opts, with_)
    if c == 11:
        opts = [w for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] if r.random() < 0.3]
        if r.random() < 0.5:
            opts.append(r.choice(["ASC", "DESC"]))
        return B("GEORADIUS", k, 15, 37, r.choice([200, 1000]), unit, opts)
    if c == 12:
        opts = [w for w in ["WITHCOORD", "WITHDIST"] if r.random() < 0.3]
        if r.random() < 0.5:
            opts.append(r.choice(["ASC", "DESC"]))
        return B("GEORADIUSBYMEMBER", k, r.choice(PLACES)[0], r.choice([100, 1000, 3000]), unit, opts)
    if c == 13:
        return B("ZRANGE", k, 0, -1, "WITHSCORES")
    if c == 14:
        return foreign(r)
    return B("GEOPOS", k, r.choice(PLACES)[0], "nosuch")


# -- SORT --------------------------------------------------------------------------------


def g_sort(r: random.Random) -> Op:
    c = r.randrange(14)
    if c < 3:
        return B(r.choice(["RPUSH", "SADD"]), r.choice([b"k0", b"k1"]),
                 [r.choice([b"3", b"1", b"2", b"10", b"-1", b"1.5", b"a", b"b", b"c", b"0"]) for _ in range(r.randint(1, 5))])
    if c == 3:
        return B("ZADD", r.choice([b"k0", b"k1"]), r.randint(0, 5), r.choice([b"3", b"1", b"a", b"b", b"10"]))
    if c < 6:
        return B("SET", b"w_" + r.choice([b"1", b"2", b"3", b"10", b"a", b"b"]), r.choice([b"5", b"1", b"x", b"-2", b"3.5"]))
    if c == 6:
        return B("HSET", b"h_" + r.choice([b"1", b"2", b"3", b"a"]), "f", r.choice([b"5", b"1", b"x"]))
    if c == 7:
        return B("DEL", r.choice([b"k0", b"k1", b"w_1", b"k2"]))
    opts: list = []
    if r.random() < 0.4:
        opts += ["BY", r.choice([b"w_*", b"h_*->f", b"nosort", b"nokey", b"w_*->", b"*"])]
    if r.random() < 0.3:
        opts += ["LIMIT", r.randint(-1, 3), r.randint(-1, 4)]
    for _ in range(r.choice([0, 0, 1, 2])):
        opts += ["GET", r.choice([b"#", b"w_*", b"h_*->f", b"nokey*"])]
    if r.random() < 0.3:
        opts.append(r.choice(["ASC", "DESC"]))
    if r.random() < 0.5:
        opts.append("ALPHA")
    if r.random() < 0.2:
        if "ALPHA" in opts and "BY" in opts:
            opts.remove("ALPHA")  # ALPHA ties between missing BY weights are unspecified
        opts += ["STORE", b"k2"]
    k = r.choice([b"k0", b"k1", b"k2", b"w_1"])
    return B(r.choice(["SORT", "SORT", "SORT_RO"]), k, opts)


# -- MULTI/EXEC --------------------------------------------------------------------------


def g_multi(r: random.Random) -> List[Op]:
    """A whole transaction block (several ops)."""
    fams = [g_strings, g_hashes, g_sets, g_zsets, g_keys, g_bitmaps]
    out: List[Op] = []
    if r.random() < 0.3:
        out.append(B("WATCH", some(r, key, 1, 2)))
        if r.random() < 0.5:
            out.append(r.choice(fams)(r))
    out.append(B("MULTI"))
    for _ in range(r.randint(0, 5)):
        op = r.choice(fams)(r)
        if isinstance(op, Scan) or op[0] in (b"SPOP", b"RANDOMKEY"):
            continue
        if r.random() < 0.1:
            op = mutate(r, op)
        out.append(op)
    if r.random() < 0.05:
        out.append(B("MULTI"))
    if r.random() < 0.05:
        out.append(B("WATCH", "k0"))
    out.append(B(r.choice(["EXEC", "EXEC", "EXEC", "DISCARD"])))
    return out


# -- errors ------------------------------------------------------------------------------


def mutate(r: random.Random, op: List[bytes]) -> List[bytes]:
    op = list(op)
    x = r.randrange(5)
    if x == 0 and len(op) > 1:
        del op[r.randrange(1, len(op)) if r.random() < 0.5 else len(op) - 1:]
    elif x == 1:
        op.append(r.choice([b"extra", b"1", b"WITHSCORES", b"COUNT"]))
    elif x == 2 and len(op) > 2:
        op[r.randrange(2, len(op))] = r.choice(BAD_NUMBERS)
    elif x == 3:
        op[0] = op[0].lower() if r.random() < 0.5 else op[0] + b"x"
    else:
        op = op[:1]
    return op


def g_errors(r: random.Random) -> Op:
    fam = r.choice([g_strings, g_keys, g_bitmaps, g_hashes, g_sets, g_zsets, g_streams, g_geo, g_sort])
    op = fam(r)
    if isinstance(op, Scan) or r.random() < 0.3:
        return op
    return mutate(r, op)


FAMILIES: Dict[str, Callable] = {
    "strings": g_strings,
    "keys": g_keys,
    "bitmaps": g_bitmaps,
    "lists": g_lists,
    "hashes": g_hashes,
    "sets": g_sets,
    "zsets": g_zsets,
    "streams": g_streams,
    "geo": g_geo,
    "sort": g_sort,
    "multi": g_multi,
    "errors": g_errors,
}


def sequence(family: str, seed: int, length: int) -> List[Op]:
    r = random.Random(f"{family}:{seed}")
    gen = FAMILIES[family]
    out: List[Op] = []
    while len(out) < length:
        op = gen(r)
        if family == "multi":
            out.extend(op)
        else:
            out.append(op)
    return out
