"""Seeded random JSON.* command sequences for the differential test against RedisJSON 2.8.

Random documents (nested objects and arrays over a small pool of member names, integers,
floats, strings, booleans, nulls) go into a few keys, then every JSON command runs on them
with legacy (``.a``, ``a``, ``..a``) and ``$`` paths (wildcards, recursive descent, slices,
filters), sometimes with bad arguments, on missing keys or on a key of another type. A
``JSON.GET`` of a whole document now and then compares the state, not only the replies.

Left out on purpose:
- recursive descent for JSON.SET, MSET, ARRINSERT, ARRPOP, ARRTRIM and MERGE (when a
  change replaces or moves a match that contains a later one, e.g. ``JSON.ARRINSERT k
  $..* -2 1`` or ``JSON.MSET k $..arr 1``, RedisJSON 2.8 crashes the server);
- ``JSON.GET`` with several ``$`` paths in RESP3 (RedisJSON builds that map in hash order);
- ``JSON.DEBUG MEMORY`` except right after the document was set whole (RedisJSON reports
  the capacity its containers grew to, which Engram does not model).

Left out unless ``ENGRAM_DIFF_STRICT=1`` (known differences, reported; each would hide
every other mismatch of the same command, since a run reports one per command):
- ``$..[?(...)]`` (RedisJSON returns each match of a filter under recursive descent
  twice, Engram once);
- the syntax error text of a filter with a missing operand (``$[?(@.a>)]``);
- JSON.MERGE with a filter path over an object's members (RedisJSON replies nil);
- JSON.SET NX with a non-static path that matches (RedisJSON: ``Err wrong static path``);
- JSON.MSET naming the same key and a new path twice (RedisJSON keeps the first value).
"""

from __future__ import annotations

import json
import os
import random
from typing import List

try:
    from .gen import B, Op
except ImportError:  # pragma: no cover
    from gen import B, Op  # type: ignore

JKEYS = [b"j0", b"j1", b"j2"]
NAMES = ["a", "b", "c", "arr", "o", "n", "s", "t", "k-1"]
STRINGS = ["", "x", "hello", "caf\u00e9", "a\"b", "1"]
NUMBERS = [0, 1, -1, 2, 7, 100, 384, -8388608, 2**40, 9223372036854775807, 1.5, -0.5, 0.1,
           1.0, 1e300, 2.5e-7, 0.0]


def scalar(r: random.Random):
    x = r.random()
    if x < 0.35:
        return r.choice(NUMBERS)
    if x < 0.6:
        return r.choice(STRINGS)
    if x < 0.8:
        return r.choice([True, False])
    return None


def value(r: random.Random, depth: int = 0):
    x = r.random()
    if depth >= 3 or x < 0.45:
        return scalar(r)
    if x < 0.72:
        return [value(r, depth + 1) for _ in range(r.randint(0, 4))]
    return {r.choice(NAMES): value(r, depth + 1) for _ in range(r.randint(0, 4))}


def document(r: random.Random):
    doc = {n: value(r, 1) for n in r.sample(NAMES, r.randint(2, 6))}
    if r.random() < 0.5:
        doc["arr"] = [value(r, 2) for _ in range(r.randint(0, 5))]
    if r.random() < 0.3:
        doc["t"] = r.choice([True, False])
    return doc


def text(v) -> bytes:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()

LEGACY = [".", ".a", "a", ".b", ".arr", ".arr[0]", ".arr[-1]", ".o", ".o.a", ".n", ".s", ".t",
          "..a", "..t", "..arr", ".c.b", "['k-1']", ".k-1", ".zz", ".arr[9]"]
DOLLAR = ["$", "$.a", "$.b", "$.arr", "$.arr[0]", "$.arr[-1]", "$.arr[*]", "$.arr[0:2]",
          "$.o", "$.o.a", "$.n", "$.s", "$.t", "$.*", "$..*", "$..a", "$..t", "$..arr", "$..[0]",
          "$.c.b", "$['k-1']", "$.zz", "$.a,b", "$[?(@.t==true)]",
          "$.arr[?(@==1)]", "$..o.*"]
BAD_PATHS = ["$[", ".a[", "$.a..", "a["]
STRICT = os.environ.get("ENGRAM_DIFF_STRICT") == "1"
if STRICT:
    DOLLAR += ["$..[?(@>1)]", "$..[?(@.t==true)]"]
    BAD_PATHS += ["$[?(@.a>)]"]


def path(r: random.Random) -> bytes:
    x = r.random()
    if x < 0.02:
        return r.choice(BAD_PATHS).encode()
    if x < 0.45:
        return r.choice(LEGACY).encode()
    return r.choice(DOLLAR).encode()


def jkey(r: random.Random) -> bytes:
    x = r.random()
    if x < 0.04:
        return b"str"  # a string key: "Existing key has wrong Redis type"
    if x < 0.08:
        return b"missing"
    return r.choice(JKEYS)


def json_arg(r: random.Random) -> bytes:
    if r.random() < 0.03:
        return r.choice([b"bad", b"{", b"", b"1 2", b"[1,]"])
    return text(value(r, 1))


def integer(r: random.Random, lo: int = -6, hi: int = 6) -> bytes:
    if r.random() < 0.04:
        return r.choice([b"x", b"1.5", b"01", b"", b"-0", b"9223372036854775808"])
    return str(r.randint(lo, hi)).encode()


def number(r: random.Random) -> bytes:
    if r.random() < 0.04:
        return r.choice([b"x", b"\"1\"", b"1e400"])
    return str(r.choice([1, 2, -3, 0, 1.5, -0.25, 10, 0.1])).encode()


def set_whole(r: random.Random) -> List[Op]:
    k = r.choice(JKEYS)
    ops: List[Op] = [B("JSON.SET", k, "$" if r.random() < 0.5 else ".", text(document(r)))]
    if r.random() < 0.3:
        # Only on a freshly set document does RedisJSON's estimate not depend on history.
        ops.append(B("JSON.DEBUG", "MEMORY", k, r.choice([b"$", b"$.*", b".", b"$..*", b".arr"])))
    return ops


def flat(p: bytes) -> bytes:
    """``p`` without recursive descent, whose matches may nest: RedisJSON 2.8 crashes when
    SET, MSET, ARRINSERT, ARRPOP, ARRTRIM or MERGE change a match containing a later one."""
    return p.replace(b"..", b".") if p.startswith(b"$") else p.replace(b"..", b".").lstrip(b".") or b"."


def g_json(r: random.Random) -> List[Op]:
    k, p = jkey(r), path(r)
    x = r.randrange(33)
    if 20 <= x <= 24 or x in (3, 7, 27, 28):
        p = flat(p)
    if x < 3:
        return set_whole(r)
    if x == 3:
        cond = r.choice([[], [], ["NX"], ["XX"]])
        if cond == ["NX"] and not STRICT and (b"*" in p or b".." in p or b"?" in p or b":" in p):
            cond = []
        return [B("JSON.SET", k, p, json_arg(r), cond)]
    if x == 4:
        return [B("JSON.GET", k)]
    if x == 5:
        return [B("JSON.GET", k, p)]
    if x == 6:
        return [B("JSON.MGET", JKEYS[: r.randint(1, 3)], b"missing", p)]
    if x == 7:
        k2 = r.choice([x for x in JKEYS if x != k] if not STRICT else JKEYS)
        return [B("JSON.MSET", k, p, json_arg(r), k2, p, json_arg(r))]
    if x == 8:
        return [B(r.choice(["JSON.DEL", "JSON.FORGET"]), k, p)]
    if x == 9:
        return [B("JSON.TYPE", k, p)]
    if x in (10, 11):
        return [B(r.choice(["JSON.NUMINCRBY", "JSON.NUMMULTBY"]), k, p, number(r))]
    if x == 12:
        return [B("JSON.STRAPPEND", k, p, text(r.choice(STRINGS)) if r.random() < 0.95 else b"x")]
    if x == 13:
        return [B("JSON.STRLEN", k, p)]
    if x == 14:
        return [B("JSON.ARRAPPEND", k, p, [json_arg(r) for _ in range(r.randint(1, 3))])]
    if x == 15:
        return [B("JSON.ARRLEN", k, p)]
    if x == 16:
        return [B("JSON.OBJKEYS", k, p)]
    if x == 17:
        return [B("JSON.OBJLEN", k, p)]
    if x in (18, 19):
        extra = [integer(r)] if r.random() < 0.5 else []
        if extra and r.random() < 0.5:
            extra.append(integer(r))
        return [B("JSON.ARRINDEX", k, p, json_arg(r), extra)]
    if x in (20, 21):
        index = integer(r, -4, 4)
        if not STRICT and any(c in p for c in (b"*", b"?", b",", b":")):
            index = b"0"  # in bounds for every array: see KNOWN in test_json_differential.py
        return [B("JSON.ARRINSERT", k, p, index, [json_arg(r) for _ in range(r.randint(1, 2))])]
    if x in (22, 23):
        extra = [] if r.random() < 0.3 else [integer(r)]
        return [B("JSON.ARRPOP", k, p, extra)]
    if x == 24:
        return [B("JSON.ARRTRIM", k, p, integer(r), integer(r))]
    if x == 25:
        return [B("JSON.CLEAR", k, p)]
    if x == 26:
        return [B("JSON.TOGGLE", k, p)]
    if x in (27, 28):
        patch = value(r, 1) if r.random() < 0.4 else {n: value(r, 2) for n in r.sample(NAMES, r.randint(1, 3))}
        arg = text(patch) if r.random() < 0.97 else b"bad"
        if b"?" in p and not STRICT:
            p = b"$.o"
        return [B("JSON.MERGE", k, p, arg)]
    if x == 29:
        return [B("JSON.RESP", k, p)]
    if x == 30:
        return [B("JSON.DEBUG", r.choice([b"HELP", b"MEMORY", b"nope"]), b"missing")]
    if x == 31:
        # A damaged command: too few or too many arguments.
        op = r.choice([B("JSON.ARRINDEX", k, p), B("JSON.ARRTRIM", k, p, 0), B("JSON.TOGGLE", k),
                       B("JSON.MERGE", k, p, "1", "extra"), B("JSON.ARRINSERT", k, p, 0),
                       B("JSON.CLEAR"), B("JSON.RESP"), B("JSON.ARRPOP")])
        return [op]
    return [B("JSON.GET", r.choice(JKEYS))]


def json_sequence(seed: int, length: int) -> List[Op]:
    r = random.Random(f"json:{seed}")
    out: List[Op] = [B("SET", "str", "v")]
    for k in JKEYS:
        out.append(B("JSON.SET", k, "$", text(document(r))))
    while len(out) < length:
        out.extend(g_json(r))
    # The final state of every document.
    out.extend(B("JSON.GET", k) for k in JKEYS)
    return out
