"""Differential test for vector search: one deterministic ``FT.*`` command stream (FLAT
indexes over HASH and JSON documents with small seeded vectors, exact KNN under every metric,
hybrid filters, VECTOR_RANGE, text / tag / numeric queries, SORTBY, LIMIT, RETURN,
aggregations, cursors, aliases, FT.ALTER, keyspace changes between queries, FT.INFO, and
error cases) goes to engram-server and to the reference (RediSearch 2.10), in RESP2 and in
RESP3, and every reply must match.

Runs only when ``ENGRAM_SEARCH_DIFF_PORT`` names a running reference (redis-stack; it is
FLUSHALLed): ``ENGRAM_SEARCH_DIFF_PORT=16410 python -m pytest python/tests/test_search_diff.py``.
Engram is the per-test engram-server. ``python tests/test_search_diff.py --ref P --other Q``
(from python/) compares two running servers; ``--ref P --other P`` checks that the stream is
deterministic on one server.

What is normalised (on both sides alike), and why:
- distances and scores: RediSearch computes them in float32 and prints 12 significant digits,
  so the last digits depend on summation order; they compare with a relative tolerance;
- cursor ids are random: only zero / non-zero is compared, and FT.CURSOR uses each side's id;
- FT._LIST, FT.TAGVALS and TOLIST have no defined order: sorted;
- a document's fields without RETURN come in the hash's own field order: sorted by name;
- queries without SORTBY or KNN rank ties by internal document id: compared as a set (they
  never use LIMIT);
- FT.INFO: only the fields clients read (see INFO_FIELDS); sizes, timings and counters of
  internal structures differ by design.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import pytest

try:
    from differential.resp import RespConn, show
except ImportError:  # pragma: no cover (run as a script from python/)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
    from differential.resp import RespConn, show  # type: ignore

DIFF_PORT = int(os.environ.get("ENGRAM_SEARCH_DIFF_PORT", "0") or 0)
SEED = 20240611
DIM = 4
INFO_FIELDS = (b"index_name", b"index_options", b"index_definition", b"attributes", b"num_docs",
               b"hash_indexing_failures", b"indexing", b"percent_indexed")
CURSOR = object()  # in an op's args: the cursor id this side returned last


@dataclass
class Op:
    args: list
    approx: bool = False  # float replies compare with a tolerance
    unordered: bool = False  # result documents / rows compare as a multiset
    fields_unordered: bool = False  # each document's field pairs compare sorted
    sort_lists: bool = False  # every nested list is sorted (FT._LIST, TAGVALS, TOLIST)
    info: bool = False  # FT.INFO: only INFO_FIELDS
    cursor: bool = False  # reply carries a cursor id
    wait_indexed: Optional[str] = None  # not compared: poll FT.INFO until done
    note: str = ""

    def label(self) -> str:
        parts = []
        for a in self.args:
            if a is CURSOR:
                parts.append("<cursor>")
            elif isinstance(a, bytes) and (not a.isascii() or any(c < 32 or c == 127 for c in a)):
                parts.append(f"<{len(a)} bytes>")
            else:
                parts.append(a.decode("latin1") if isinstance(a, bytes) else str(a))
        return " ".join(parts) if not self.wait_indexed else f"(wait for {self.wait_indexed})"


# -- the stream -------------------------------------------------------------------------


class Rng:
    """A tiny fixed LCG, so the stream does not depend on Python's or numpy's generators."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFFFFFF

    def next(self) -> int:
        self.state = (self.state * 0x5DEECE66D + 0xB) & 0xFFFFFFFFFFFF
        return self.state >> 16

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * (self.next() / float(1 << 32))

    def choice(self, seq):
        return seq[self.next() % len(seq)]


def f32(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def round_f32(values: Sequence[float]) -> List[float]:
    return list(struct.unpack(f"<{len(values)}f", f32(values)))


COLORS = ["red", "blue", "green", "black"]
THINGS = ["apple", "shirt", "car", "phone", "lamp"]
TAGS = ["a", "b", "c", "d"]


def documents(rng: Rng, n: int, prefix: str) -> list:
    docs = []
    for i in range(n):
        vec = round_f32([round(rng.uniform(-1, 1), 3) for _ in range(DIM)])
        tags = sorted({rng.choice(TAGS) for _ in range(1 + rng.next() % 2)})
        docs.append({
            "key": f"{prefix}{i}",
            "title": f"{rng.choice(COLORS)} {rng.choice(THINGS)}",
            "tags": tags,
            "price": 5 + (i * 37) % 200,  # distinct for i < 200: SORTBY price has no ties
            "v": vec,
        })
    return docs


def distances(metric: str, q: Sequence[float], v: Sequence[float]) -> float:
    if metric == "L2":
        return sum((a - b) ** 2 for a, b in zip(q, v))
    dot = sum(a * b for a, b in zip(q, v))
    if metric == "IP":
        return 1 - dot
    nq = sum(a * a for a in q) ** 0.5
    nv = sum(b * b for b in v) ** 0.5
    return 1 - dot / (nq * nv)


def well_separated(docs: list, queries: list) -> bool:
    """No two documents are within float32 noise of each other from any query (exact KNN order)."""
    for metric in ("L2", "IP", "COSINE"):
        for q in queries:
            ds = sorted(distances(metric, q, d["v"]) for d in docs)
            if any(b - a < 1e-4 for a, b in zip(ds, ds[1:])):
                return False
    return True


def build_stream() -> list:
    seed = SEED
    while True:  # deterministic: the first seed whose data has no near-ties
        rng = Rng(seed)
        hdocs = documents(rng, 40, "h:")
        jdocs = documents(rng, 16, "j:")
        queries = [round_f32([round(rng.uniform(-1, 1), 3) for _ in range(DIM)]) for _ in range(3)]
        if well_separated(hdocs, queries) and well_separated(jdocs, queries):
            break
        seed += 1

    ops: List[Op] = []

    def op(*args, **kw):
        ops.append(Op(list(args), **kw))

    vec_field = lambda name, metric: [name, "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(DIM),  # noqa: E731
                                      "DISTANCE_METRIC", metric]
    op("FT.CREATE", "hf", "ON", "HASH", "PREFIX", "1", "h:", "SCHEMA", "title", "TEXT", "tags", "TAG",
       "price", "NUMERIC", "SORTABLE", *vec_field("v", "L2"), *vec_field("vc", "COSINE"),
       *vec_field("vi", "IP"))
    op("FT.CREATE", "jf", "ON", "JSON", "PREFIX", "1", "j:", "SCHEMA", "$.title", "AS", "title", "TEXT",
       "$.tags[*]", "AS", "tags", "TAG", "$.price", "AS", "price", "NUMERIC", "SORTABLE",
       "$.v", "AS", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2")
    op("FT.CREATE", "hf", "ON", "HASH", "SCHEMA", "x", "TEXT")  # already exists
    for d in hdocs:
        op("HSET", d["key"], "title", d["title"], "tags", ",".join(d["tags"]), "price", str(d["price"]),
           "v", f32(d["v"]), "vc", f32(d["v"]), "vi", f32(d["v"]))
    for d in jdocs:
        op("JSON.SET", d["key"], "$", json.dumps({"title": d["title"], "tags": d["tags"], "price": d["price"],
                                                  "v": d["v"]}))
    op("HSET", "other:1", "title", "red apple", "price", "1")  # outside every prefix
    op("FT._LIST", sort_lists=True)
    op("FT.INFO", "hf", info=True)
    op("FT.INFO", "jf", info=True)

    def queries_for(index: str, metrics: Sequence[tuple]):
        for qi, q in enumerate(queries):
            blob = f32(q)
            for field_name, _ in metrics:
                for k in (1, 3, 7):
                    op("FT.SEARCH", index, f"*=>[KNN {k} @{field_name} $q AS dist]", "PARAMS", "2", "q", blob,
                       "SORTBY", "dist", "RETURN", "2", "dist", "price", "DIALECT", "2", approx=True)
            f = metrics[0][0]
            op("FT.SEARCH", index, f"*=>[KNN 5 @{f} $q AS dist]", "PARAMS", "2", "q", blob, "SORTBY", "dist",
               "NOCONTENT", "DIALECT", "2")
            op("FT.SEARCH", index, f"*=>[KNN 10 @{f} $q AS dist]", "PARAMS", "2", "q", blob, "SORTBY", "dist",
               "LIMIT", "2", "3", "RETURN", "1", "title", "DIALECT", "2")
            op("FT.SEARCH", index, f"*=>[KNN 4 @{f} $q AS dist]", "PARAMS", "2", "q", blob, "SORTBY", "dist",
               "DESC", "RETURN", "1", "dist", "DIALECT", "2", approx=True)
            op("FT.SEARCH", index, f"*=>[KNN $K @{f} $q AS dist]", "PARAMS", "4", "q", blob, "K", "2",
               "SORTBY", "dist", "RETURN", "1", "title", "DIALECT", "2")
            if index == "hf":
                op("FT.SEARCH", index, f"*=>[KNN 2 @{f} $q AS dist]", "PARAMS", "2", "q", blob, "SORTBY",
                   "dist", "DIALECT", "2", approx=True, fields_unordered=True)
            for pre in ("@tags:{a}", "@tags:{a | b}", "@price:[20 120]", "(@tags:{c} @price:[(30 +inf])",
                        "(-@tags:{d})", "@title:red", "@title:(car | phone)", "@tags:{zzz}"):
                op("FT.SEARCH", index, f"({pre})=>[KNN 4 @{f} $q AS dist]", "PARAMS", "2", "q", blob,
                   "SORTBY", "dist", "RETURN", "2", "dist", "tags", "DIALECT", "2", approx=True)
            if qi == 0:
                for radius in ("0.5", "1.2", "3"):
                    op("FT.SEARCH", index, f"@{f}:[VECTOR_RANGE {radius} $q]=>{{$YIELD_DISTANCE_AS: d}}",
                       "PARAMS", "2", "q", blob, "SORTBY", "d", "RETURN", "1", "d", "LIMIT", "0", "100",
                       "DIALECT", "2", approx=True)
                op("FT.SEARCH", index, f"@tags:{{b}} @{f}:[VECTOR_RANGE 2 $q]", "PARAMS", "2", "q", blob,
                   "SORTBY", "price", "NOCONTENT", "LIMIT", "0", "100", "DIALECT", "2")

    def filters_for(index: str):
        for q in ("@tags:{a}", "@tags:{b | c}", "@tags:{A}", "@price:[50 150]", "@price:[(50 (150]",
                  "@price:[-inf 40]", "@title:red", "red", "@title:(apple | lamp)", "@title:red -@tags:{a}",
                  "@title:nothing", "*"):
            op("FT.SEARCH", index, q, "SORTBY", "price", "RETURN", "2", "title", "price", "LIMIT", "0", "100",
               "DIALECT", "2")
            op("FT.SEARCH", index, q, "NOCONTENT", "LIMIT", "0", "100", "DIALECT", "2", unordered=True)
        op("FT.SEARCH", index, "*", "SORTBY", "price", "DESC", "LIMIT", "3", "4", "RETURN", "1", "price",
           "DIALECT", "2")
        op("FT.SEARCH", index, "@tags:{a}", "LIMIT", "0", "0", "DIALECT", "2")
        op("FT.SEARCH", index, "@tags:{c}", "SORTBY", "price", "ASC", "NOCONTENT", "LIMIT", "1", "2")
        op("FT.SEARCH", index, "@tags:{a}", "SORTBY", "price", "RETURN", "3", "price", "AS", "cost",
           "LIMIT", "0", "100", "DIALECT", "2")

    def aggregates_for(index: str):
        op("FT.AGGREGATE", index, "*", "GROUPBY", "1", "@tags", "REDUCE", "COUNT", "0", "AS", "n",
           "REDUCE", "SUM", "1", "@price", "AS", "total", "REDUCE", "MIN", "1", "@price", "AS", "lo",
           "REDUCE", "MAX", "1", "@price", "AS", "hi", "REDUCE", "AVG", "1", "@price", "AS", "avg",
           "REDUCE", "COUNT_DISTINCT", "1", "@title", "AS", "titles", "SORTBY", "2", "@tags", "ASC",
           "DIALECT", "2")
        op("FT.AGGREGATE", index, "@price:[0 100]", "GROUPBY", "1", "@tags", "REDUCE", "TOLIST", "1", "@price",
           "AS", "prices", "SORTBY", "2", "@tags", "ASC", "DIALECT", "2", sort_lists=True)
        op("FT.AGGREGATE", index, "*", "GROUPBY", "0", "REDUCE", "COUNT", "0", "AS", "n", "REDUCE", "AVG", "1",
           "@price", "AS", "avg", "DIALECT", "2")
        op("FT.AGGREGATE", index, "*", "LOAD", "2", "@title", "@price", "APPLY", "@price * 2", "AS", "double",
           "FILTER", "@double > 100", "SORTBY", "4", "@price", "DESC", "@title", "ASC", "LIMIT", "2", "5",
           "DIALECT", "2")
        op("FT.AGGREGATE", index, "@tags:{a}", "LOAD", "1", "@title", "APPLY", "upper(@title)", "AS", "t",
           "GROUPBY", "1", "@t", "REDUCE", "COUNT", "0", "AS", "n", "SORTBY", "4", "@n", "DESC", "@t", "ASC",
           "DIALECT", "2")
        op("FT.AGGREGATE", index, "*", "LOAD", "1", "@price", "SORTBY", "2", "@price", "ASC", "MAX", "3",
           "DIALECT", "2")
        op("FT.AGGREGATE", index, "*=>[KNN 5 @v $q AS dist]", "PARAMS", "2", "q", f32(queries[1]), "LOAD", "2",
           "@price", "@dist", "SORTBY", "2", "@dist", "ASC", "DIALECT", "2", approx=True)
        # Cursors: read the whole result, then read past the end, then a deleted cursor.
        op("FT.AGGREGATE", index, "*", "LOAD", "1", "@price", "SORTBY", "2", "@price", "ASC", "MAX", "100",
           "WITHCURSOR", "COUNT", "6", "DIALECT", "2", cursor=True)
        for _ in range(2):
            op("FT.CURSOR", "READ", index, CURSOR, "COUNT", "6", cursor=True)
        op("FT.CURSOR", "DEL", index, CURSOR)
        op("FT.CURSOR", "READ", index, CURSOR)

    queries_for("hf", [("v", "L2"), ("vc", "COSINE"), ("vi", "IP")])
    queries_for("jf", [("v", "L2")])
    filters_for("hf")
    filters_for("jf")
    aggregates_for("hf")
    aggregates_for("jf")
    op("FT.TAGVALS", "hf", "tags", sort_lists=True)
    op("FT.TAGVALS", "jf", "tags", sort_lists=True)

    # Keyspace changes, then the same questions again.
    q0 = f32(queries[0])
    knn_q = ["*=>[KNN 6 @v $q AS dist]", "PARAMS", "2", "q", q0, "SORTBY", "dist", "RETURN", "2", "dist", "title",
             "DIALECT", "2"]
    nearest = sorted(hdocs, key=lambda d: distances("L2", queries[0], d["v"]))
    op("FT.SEARCH", "hf", *knn_q, approx=True)
    op("DEL", nearest[0]["key"])
    op("HSET", nearest[1]["key"], "v", f32([9, 9, 9, 9]))
    op("HSET", "h:new", "title", "new lamp", "tags", "a", "price", "999", "v", f32(queries[0]))
    op("HDEL", nearest[2]["key"], "v")
    op("RENAME", nearest[3]["key"], "moved:1")
    op("RENAME", "other:1", "h:renamed")
    op("HSET", "h:bad", "title", "bad vector", "v", f32([1, 2, 3]))
    op("HSET", "h:badnum", "title", "bad number", "price", "cheap")
    op("FT.SEARCH", "hf", *knn_q, approx=True)
    op("FT.SEARCH", "hf", "@title:(new | bad | red)", "NOCONTENT", "LIMIT", "0", "100", unordered=True)
    op("FT.INFO", "hf", info=True)
    jn = sorted(jdocs, key=lambda d: distances("L2", queries[0], d["v"]))
    op("JSON.SET", jn[0]["key"], "$.v", json.dumps([5, 5, 5, 5]))
    op("JSON.SET", jn[1]["key"], "$.tags", json.dumps(["zzz"]))
    op("JSON.DEL", jn[2]["key"], "$")
    op("JSON.SET", "j:bad", "$", json.dumps({"title": "bad", "tags": ["a"], "price": 1, "v": [1, 2]}))
    op("FT.SEARCH", "jf", "*=>[KNN 6 @v $q AS dist]", "PARAMS", "2", "q", q0, "SORTBY", "dist", "RETURN", "2",
       "dist", "tags", "DIALECT", "2", approx=True)
    op("FT.SEARCH", "jf", "@tags:{zzz}", "NOCONTENT")
    op("FT.INFO", "jf", info=True)

    # Schema changes and aliases.
    op("FT.ALTER", "hf", "SCHEMA", "ADD", "color", "TAG")
    op("HSET", "h:new", "color", "pink")
    op("FT.SEARCH", "hf", "@color:{pink}", "NOCONTENT")
    op("FT.ALIASADD", "al", "hf")
    op("FT.SEARCH", "al", "@tags:{a}", "SORTBY", "price", "NOCONTENT", "LIMIT", "0", "3")
    op("FT.ALIASUPDATE", "al", "jf")
    op("FT.SEARCH", "al", "@tags:{a}", "SORTBY", "price", "NOCONTENT", "LIMIT", "0", "3")
    op("FT.ALIASDEL", "al")
    op("FT.ALIASDEL", "al")
    op("FT.SEARCH", "al", "*")

    # An index over existing keys (backfill), then dropping indexes.
    op("FT.CREATE", "bf", "ON", "HASH", "PREFIX", "1", "h:", "SCHEMA", "price", "NUMERIC", "SORTABLE",
       *vec_field("v", "L2"))
    ops.append(Op([], wait_indexed="bf"))
    op("FT.SEARCH", "bf", "*=>[KNN 3 @v $q AS dist]", "PARAMS", "2", "q", q0, "SORTBY", "dist", "RETURN", "1",
       "dist", "DIALECT", "2", approx=True)
    op("FT.INFO", "bf", info=True)
    op("FT._LIST", sort_lists=True)
    op("FT.DROPINDEX", "bf", "DD")
    op("KEYS", "h:*", sort_lists=True)
    op("FT.DROPINDEX", "jf")
    op("DBSIZE")
    op("FT._LIST", sort_lists=True)

    # Errors.
    short = f32(queries[0][:2])
    for args in (
        ["FT.SEARCH", "nope", "*"],
        ["FT.INFO", "nope"],
        ["FT.DROPINDEX", "nope"],
        ["FT.SEARCH", "hf", "*=>[KNN 3 @v $q AS dist]", "PARAMS", "2", "q", short, "DIALECT", "2"],
        ["FT.SEARCH", "hf", "*=>[KNN 3 @v $q AS dist]", "DIALECT", "2"],
        ["FT.SEARCH", "hf", "*=>[KNN 3 @v $q AS dist]", "PARAMS", "2", "q", q0],
        ["FT.SEARCH", "hf", "@tags:{a", "DIALECT", "2"],
        ["FT.SEARCH", "hf", "@price:[x 1]", "DIALECT", "2"],
        ["FT.SEARCH", "hf", "*", "LIMIT", "0"],
        ["FT.SEARCH", "hf", "*", "SORTBY", "nope"],
        ["FT.SEARCH", "hf", "*", "BOGUS"],
        ["FT.AGGREGATE", "hf", "*", "GROUPBY", "1", "@nope"],
        ["FT.AGGREGATE", "hf", "*", "GROUPBY", "1", "@tags", "REDUCE", "NOPE", "0"],
        ["FT.CREATE", "e1", "ON", "HASH", "SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "0",
         "DISTANCE_METRIC", "L2"],
        ["FT.CREATE", "e1", "ON", "HASH", "SCHEMA", "v", "VECTOR", "HNSW", "4", "TYPE", "FLOAT32",
         "DISTANCE_METRIC", "L2"],
        ["FT.CREATE", "e1", "ON", "HASH", "SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2",
         "DISTANCE_METRIC", "MANHATTAN"],
        ["FT.TAGVALS", "hf", "price"],
        ["FT.ALTER", "hf", "SCHEMA", "ADD", "tags", "TAG"],
    ):
        op(*args)
    op("FLUSHALL")
    op("FT._LIST")
    return ops


# -- running and comparing --------------------------------------------------------------


def _cursor_of(reply) -> Optional[int]:
    if reply[0] == "array" and len(reply[1]) == 2 and reply[1][1][0] == "int":
        return reply[1][1][1]
    return None


def _pairs(r) -> Optional[list]:
    if r[0] == "map":
        return r[1]
    if r[0] == "array" and len(r[1]) % 2 == 0:
        return [(r[1][i], r[1][i + 1]) for i in range(0, len(r[1]), 2)]
    return None


def _is_float(b: bytes) -> bool:
    try:
        float(b)
        return True
    except ValueError:
        return False


def _search_stride(args: list) -> int:
    upper = [a.upper() if isinstance(a, bytes) else str(a).upper().encode() for a in args]
    stride = 1
    if b"NOCONTENT" not in upper:
        stride += 1
    if b"WITHSCORES" in upper:
        stride += 1
    if b"WITHSORTKEYS" in upper:
        stride += 1
    return stride


def normalise(op: Op, reply):
    name = str(op.args[0]).upper() if op.args else ""
    if op.cursor:
        cid = _cursor_of(reply)
        if cid is not None:
            reply = ("array", [reply[1][0], ("cursor", cid != 0)])
    if op.info:
        pairs = _pairs(reply)
        if pairs is not None:
            reply = ("info", [(k, v) for k, v in pairs if k[0] in ("bulk", "simple") and k[1] in INFO_FIELDS])
    if op.sort_lists:
        reply = _sort_lists(reply)
    if name == "FT.SEARCH" and reply[0] == "array" and reply[1] and reply[1][0][0] == "int":
        stride = _search_stride(op.args)
        docs = [reply[1][i:i + stride] for i in range(1, len(reply[1]), stride)]
        if op.fields_unordered:
            docs = [d[:-1] + [_sorted_pairs(d[-1])] for d in docs]
        if op.unordered:
            docs = sorted(docs, key=repr)
        reply = ("search2", reply[1][0], docs)
    elif name in ("FT.SEARCH", "FT.AGGREGATE") and reply[0] == "map":
        items = []
        for k, v in reply[1]:
            if k[1] == b"results" and v[0] == "array":
                rows = v[1]
                if op.fields_unordered:
                    rows = [("map", [(rk, _sorted_pairs(rv) if rk[1] == b"extra_attributes" else rv)
                                     for rk, rv in row[1]]) if row[0] == "map" else row for row in rows]
                if op.unordered:
                    rows = sorted(rows, key=repr)
                v = ("array", rows)
            items.append((k, v))
        reply = ("map", items)
    return reply


def _sorted_pairs(r):
    pairs = _pairs(r)
    if pairs is None:
        return r
    return (r[0] + "-sorted", sorted(pairs, key=repr))


def _sort_lists(r):
    tag = r[0]
    if tag in ("array", "set"):
        items = [_sort_lists(x) for x in r[1]]
        if all(x[0] in ("bulk", "simple", "int") for x in items):
            items = sorted(items, key=lambda x: (x[0] == "int", x[1]))
            tag = "list"  # RESP3 sends FT._LIST / TAGVALS as a set, RESP2 as an array
        return (tag, items)
    if tag == "map":
        return ("map", [(k, _sort_lists(v)) for k, v in r[1]])
    return r


def same(a, b, approx: bool) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        if approx and len(a) == 2 and len(b) == 2 and a[0] in ("bulk", "double") and a[0] == b[0] \
                and isinstance(a[1], bytes) and isinstance(b[1], bytes) and _is_float(a[1]) and _is_float(b[1]):
            x, y = float(a[1]), float(b[1])
            return x == y or abs(x - y) <= 1e-6 + 1e-5 * max(abs(x), abs(y))
        return len(a) == len(b) and all(same(x, y, approx) for x, y in zip(a, b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, approx) for x, y in zip(a, b))
    return a == b


def render(r) -> str:
    if isinstance(r, tuple) and r and r[0] in ("search2", "info", "cursor") or \
            isinstance(r, tuple) and r and isinstance(r[0], str) and r[0].endswith("-sorted"):
        return repr(r)
    try:
        return show(r)
    except Exception:
        return repr(r)


def wait_indexed(conn: RespConn, index: str, timeout: float = 10.0) -> None:
    """Polls FT.INFO until the index reports it has finished; gives up quietly on a reply it
    cannot read (the comparisons that follow show what went wrong)."""
    deadline = time.monotonic() + timeout
    while True:
        pairs = _pairs(conn.call(["FT.INFO", index])) or []
        info = {k[1]: v for k, v in pairs if k[0] in ("bulk", "simple")}
        pct, busy = info.get(b"percent_indexed"), info.get(b"indexing")
        if pct is None or busy is None or pct[0] not in ("bulk", "double") or not _is_float(pct[1]):
            return
        if float(pct[1]) == 1.0 and busy == ("int", 0):
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{index} did not finish indexing within {timeout} s")
        time.sleep(0.01)


def run_stream(port: int, protocol: int, ops: List[Op]) -> list:
    conn = RespConn(port, protocol=protocol)
    try:
        conn.call(["FLUSHALL"])
        out = []
        cursor = 0
        for op in ops:
            if op.wait_indexed:
                wait_indexed(conn, op.wait_indexed)
                out.append(None)
                continue
            args = [str(cursor) if a is CURSOR else a for a in op.args]
            reply = conn.call(args)
            if op.cursor:
                cid = _cursor_of(reply)
                if cid is not None:
                    cursor = cid
            out.append(normalise(op, reply))
        conn.call(["FLUSHALL"])
        return out
    finally:
        conn.close()


@dataclass
class Mismatch:
    protocol: int
    index: int
    op: Op
    ref: object
    other: object

    def render(self) -> str:
        return (f"RESP{self.protocol} #{self.index}: {self.op.label()}\n"
                f"  reference: {render(self.ref)}\n  engram:    {render(self.other)}")


@dataclass
class Outcome:
    commands: int = 0
    mismatches: List[Mismatch] = field(default_factory=list)


def compare(ref_port: int, other_port: int, protocols: Sequence[int] = (2, 3)) -> Outcome:
    ops = build_stream()
    res = Outcome()
    for proto in protocols:
        ref = run_stream(ref_port, proto, ops)
        other = run_stream(other_port, proto, ops)
        res.commands += len(ops)
        for i, (op, a, b) in enumerate(zip(ops, ref, other)):
            if not same(a, b, op.approx):
                res.mismatches.append(Mismatch(proto, i, op, a, b))
    return res


@pytest.fixture
def diff_ports(request):
    if not DIFF_PORT:
        pytest.skip("set ENGRAM_SEARCH_DIFF_PORT to a running reference (redis-stack) to run the search diff")
    from test_search import has_search

    port = request.getfixturevalue("engram_server").port
    if not has_search(port):
        pytest.skip("engram-server has no FT.* commands yet (FT._LIST is an unknown command)")
    return DIFF_PORT, port


@pytest.mark.timeout(120)
def test_search_replies_match_the_reference(diff_ports):
    ref_port, engram_port = diff_ports
    res = compare(ref_port, engram_port)
    assert res.commands > 0
    if res.mismatches:
        shown = "\n\n".join(m.render() for m in res.mismatches[:40])
        more = len(res.mismatches) - 40
        pytest.fail(f"{len(res.mismatches)} of {res.commands} replies differ from the reference:\n{shown}"
                    + (f"\n... and {more} more" if more > 0 else ""))


def test_stream_is_deterministic_and_well_formed():
    """The stream itself (no server): fixed, no near-tied distances, every op printable."""
    a, b = build_stream(), build_stream()
    assert [o.args for o in a] == [o.args for o in b]
    assert len(a) > 300
    assert all(o.label() for o in a)


def main(argv: Optional[List[str]] = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", type=int, required=True, help="reference port")
    p.add_argument("--other", type=int, required=True, help="port of the server under test")
    p.add_argument("--protocol", type=int, action="append", choices=[2, 3])
    p.add_argument("--dump", action="store_true", help="print every op and the reference reply")
    args = p.parse_args(argv)
    if args.dump:
        ops = build_stream()
        for proto in args.protocol or (2, 3):
            for i, (op, rep) in enumerate(zip(ops, run_stream(args.ref, proto, ops))):
                print(f"RESP{proto} #{i} {op.label()}\n    {render(rep)}")
        return 0
    res = compare(args.ref, args.other, args.protocol or (2, 3))
    print(f"== search diff: {res.commands} commands, {len(res.mismatches)} mismatches")
    for m in res.mismatches:
        print(m.render(), flush=True)
    return 1 if res.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
