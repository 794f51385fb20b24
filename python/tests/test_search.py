"""Vector search (``FT.*``) through redis-py's ``r.ft()``, as applications use it.

HASH and JSON indexes with TEXT / TAG / NUMERIC / VECTOR fields, KNN (FLAT and HNSW, every
metric), hybrid filters, VECTOR_RANGE, SORTBY / LIMIT / RETURN / NOCONTENT, FT.INFO as
redisvl reads it, aliases, FT.ALTER, FT.TAGVALS, FT.AGGREGATE with reducers and cursors,
keyspace integration (writes, deletes, expiry, RENAME, FLUSHALL, backfill, indexing
failures), RESP3, pipelines, and the exact error texts.

Every expectation was taken from the reference (Redis 7.4 + RediSearch 2.10 + RedisJSON 2.8).
To check the tests themselves against it, point them at a dedicated instance (it is
FLUSHALLed before and after every test)::

    ENGRAM_SEARCH_TARGET_PORT=16410 python -m pytest python/tests/test_search.py

Without the variable every test starts its own engram-server. Until that server has any
``FT.*`` command the whole module is skipped with one clear reason (see ``target``); once
``FT._LIST`` exists, every missing behaviour is a failure.

Determinism: exact orderings are asserted on FLAT indexes only (brute force); on HNSW only
what is guaranteed on tiny data (the nearest neighbour among 20 well-separated vectors).
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Sequence

import pytest
import redis

np = pytest.importorskip("numpy")

from redis.commands.search import reducers  # noqa: E402
from redis.commands.search.aggregation import AggregateRequest, Asc, Cursor, Desc  # noqa: E402
from redis.commands.search.field import NumericField, TagField, TextField, VectorField  # noqa: E402
from redis.commands.search.index_definition import IndexDefinition, IndexType  # noqa: E402
from redis.commands.search.query import Query  # noqa: E402

from differential.resp import RespConn  # noqa: E402

TARGET_PORT = int(os.environ.get("ENGRAM_SEARCH_TARGET_PORT", "0") or 0)
ON_REFERENCE = TARGET_PORT != 0


# -- fixtures ---------------------------------------------------------------------------


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
    """Polls ``predicate`` until it returns something truthy; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def has_search(port: int) -> bool:
    c = redis.Redis(host="127.0.0.1", port=port)
    try:
        c.execute_command("FT._LIST")
        return True
    except redis.ResponseError as e:
        if "unknown command" in str(e).lower():
            return False
        raise
    finally:
        c.close()


class Target:
    """The server under test: a fresh engram-server, or the reference when requested."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._closers: list = []

    def client(self, **kwargs) -> redis.Redis:
        c = redis.Redis(host="127.0.0.1", port=self.port, **kwargs)
        self._closers.append(c)
        return c

    def raw(self, protocol: int = 2) -> RespConn:
        """A raw connection that keeps exact error texts and wire types."""
        c = RespConn(self.port, protocol=protocol)
        self._closers.append(c)
        return c

    def close(self) -> None:
        for c in self._closers:
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture
def target(request):
    if ON_REFERENCE:
        port = TARGET_PORT
        redis.Redis(host="127.0.0.1", port=port).flushall()
    else:
        port = request.getfixturevalue("engram_server").port
        if not has_search(port):
            pytest.skip("engram-server has no FT.* commands yet (FT._LIST is an unknown command)")
    t = Target(port)
    yield t
    t.close()
    if ON_REFERENCE:
        redis.Redis(host="127.0.0.1", port=port).flushall()


@pytest.fixture
def r(target) -> redis.Redis:
    return target.client(decode_responses=True)


@pytest.fixture
def r3(target) -> redis.Redis:
    return target.client(decode_responses=True, protocol=3)


@pytest.fixture
def raw(target) -> Callable[..., RespConn]:
    return target.raw


# -- data -------------------------------------------------------------------------------


def f32(*values: float) -> bytes:
    return np.array(values, dtype=np.float32).tobytes()


# (key, title, tags, price, vector): distances from (1, 0) are distinct under every metric,
# so FLAT KNN orderings are exact.
PRODUCTS = [
    ("p:1", "red apple", "fruit,red", 10, (1.0, 0.0)),
    ("p:2", "green apple", "fruit,green", 20, (0.9, 0.1)),
    ("p:3", "red shirt", "cloth,red", 30, (0.0, 1.0)),
    ("p:4", "blue shirt", "cloth,blue", 40, (0.1, 0.9)),
    ("p:5", "blue car", "car,blue", 500, (-1.0, 0.0)),
    ("p:6", "red car", "car,red", 700, (-0.9, -0.1)),
]
QUERY = (1.0, 0.0)


def expected_distance(metric: str, a: Sequence[float], b: Sequence[float]) -> float:
    x, y = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    if metric == "L2":  # RediSearch reports the squared euclidean distance
        return float(((x - y) ** 2).sum())
    if metric == "IP":
        return float(1.0 - x @ y)
    return float(1.0 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def by_distance(metric: str, query=QUERY) -> list:
    return sorted(PRODUCTS, key=lambda p: expected_distance(metric, query, p[4]))


def product_schema(algorithm: str = "FLAT", metric: str = "L2", **vector_extra):
    return [
        TextField("title"),
        TagField("tags"),
        NumericField("price", sortable=True),
        VectorField("v", algorithm, {"TYPE": "FLOAT32", "DIM": 2, "DISTANCE_METRIC": metric, **vector_extra}),
    ]


def load_products(r: redis.Redis, rows=PRODUCTS) -> None:
    for key, title, tags, price, v in rows:
        r.hset(key, mapping={"title": title, "tags": tags, "price": price, "v": f32(*v)})


def make_products(r: redis.Redis, name: str = "idx", algorithm: str = "FLAT", metric: str = "L2",
                  before: bool = False) -> None:
    """Creates the products index; documents are written after creation unless ``before``."""
    if before:
        load_products(r)
    r.ft(name).create_index(
        product_schema(algorithm, metric),
        definition=IndexDefinition(prefix=["p:"], index_type=IndexType.HASH),
    )
    if before:
        wait_indexed(r, name)
    else:
        load_products(r)


def info(r: redis.Redis, name: str = "idx") -> dict:
    return r.ft(name).info()


def wait_indexed(r: redis.Redis, name: str = "idx", timeout: float = 10.0) -> dict:
    def done():
        i = info(r, name)
        return i if float(i["percent_indexed"]) == 1.0 and int(i["indexing"]) == 0 else None

    return wait_for(done, timeout, f"{name} to finish indexing")


def knn(k: int, field: str = "v", alias: str = "score", prefilter: str = "*") -> Query:
    return Query(f"{prefilter}=>[KNN {k} @{field} $vec AS {alias}]").sort_by(alias).dialect(2)


def ids(res) -> list:
    return [d.id for d in res.docs]


def sorted_ids(r: redis.Redis, query: str, name: str = "idx", **params) -> list:
    """Matching keys in key order (the set of matches, whatever the engine's order)."""
    res = r.ft(name).search(Query(query).no_content().paging(0, 1000).dialect(2),
                            query_params=params or None)
    return sorted(ids(res))


def error_text(conn: RespConn, *args) -> str:
    reply = conn.call(args)
    assert reply[0] == "err", f"expected an error from {args!r}, got {reply!r}"
    return reply[1].decode()


# -- KNN --------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_flat_knn_orders_by_exact_distance(r, metric):
    make_products(r, metric=metric)
    q = knn(3).return_fields("score", "title", "price").paging(0, 3)
    res = r.ft("idx").search(q, query_params={"vec": f32(*QUERY)})
    want = by_distance(metric)[:3]
    assert res.total == 3
    assert ids(res) == [p[0] for p in want]
    for doc, p in zip(res.docs, want):
        assert float(doc.score) == pytest.approx(expected_distance(metric, QUERY, p[4]), abs=1e-5)
        assert doc.title == p[1] and doc.price == str(p[3])
        assert "v" not in doc.__dict__ and "tags" not in doc.__dict__


def test_knn_without_return_gives_every_field_and_the_score(r):
    make_products(r)
    res = r.ft("idx").search(knn(1), query_params={"vec": f32(*QUERY)})
    (doc,) = res.docs
    assert doc.id == "p:1"
    assert float(doc.score) == 0.0
    assert (doc.title, doc.tags, doc.price) == ("red apple", "fruit,red", "10")
    assert "v" in doc.__dict__


def test_knn_k_larger_than_the_index_returns_everything(r):
    make_products(r)
    res = r.ft("idx").search(knn(50).paging(0, 50).no_content(), query_params={"vec": f32(*QUERY)})
    assert res.total == len(PRODUCTS)
    assert ids(res) == [p[0] for p in by_distance("L2")]


def test_knn_paging_and_descending_sort(r):
    make_products(r)
    vec = {"vec": f32(*QUERY)}
    page = r.ft("idx").search(knn(5).paging(2, 2).no_content(), query_params=vec)
    assert page.total == 5
    assert ids(page) == [p[0] for p in by_distance("L2")[2:4]]
    desc = Query("*=>[KNN 3 @v $vec AS score]").sort_by("score", asc=False).no_content().dialect(2)
    assert ids(r.ft("idx").search(desc, query_params=vec)) == [p[0] for p in by_distance("L2")[:3]][::-1]


def test_knn_k_and_ef_runtime_as_parameters(r):
    make_products(r, algorithm="HNSW")
    q = Query("*=>[KNN $K @v $vec EF_RUNTIME $EF AS dist]").sort_by("dist").return_fields("dist").dialect(2)
    res = r.ft("idx").search(q, query_params={"K": 2, "EF": 50, "vec": f32(*QUERY)})
    assert ids(res) == ["p:1", "p:2"]


def test_hnsw_finds_the_exact_nearest_neighbour(r):
    rng = np.random.default_rng(7)
    data = rng.normal(size=(20, 8)).astype(np.float32)
    r.ft("h").create_index(
        [VectorField("v", "HNSW", {"TYPE": "FLOAT32", "DIM": 8, "DISTANCE_METRIC": "L2",
                                   "M": 8, "EF_CONSTRUCTION": 64, "EF_RUNTIME": 20})],
        definition=IndexDefinition(prefix=["h:"]),
    )
    for i, v in enumerate(data):
        r.hset(f"h:{i}", mapping={"v": v.tobytes(), "n": i})
    for target_row in (0, 7, 19):
        probe = (data[target_row] + 0.01).astype(np.float32)
        res = r.ft("h").search(knn(1).return_fields("score"), query_params={"vec": probe.tobytes()})
        assert ids(res) == [f"h:{target_row}"]
        assert float(res.docs[0].score) == pytest.approx(8 * 0.01**2, rel=1e-2)


def test_hybrid_tag_and_numeric_prefilter(r):
    make_products(r)
    vec = {"vec": f32(*QUERY)}
    res = r.ft("idx").search(knn(3, prefilter="(@tags:{red|blue} @price:[20 600])").no_content(),
                             query_params=vec)
    # red or blue, price 20..600: p:3 (30), p:4 (40), p:5 (500); ordered by distance.
    assert ids(res) == ["p:4", "p:3", "p:5"]
    res = r.ft("idx").search(knn(10, prefilter="@tags:{car}").no_content(), query_params=vec)
    assert ids(res) == ["p:6", "p:5"]
    res = r.ft("idx").search(knn(2, prefilter="(-@tags:{fruit})").no_content(), query_params=vec)
    assert ids(res) == ["p:4", "p:3"]
    res = r.ft("idx").search(knn(2, prefilter="@title:shirt").no_content(), query_params=vec)
    assert ids(res) == ["p:4", "p:3"]
    res = r.ft("idx").search(knn(3, prefilter="@tags:{nothing}").no_content(), query_params=vec)
    assert res.total == 0 and res.docs == []


def test_vector_range_with_yielded_distance(r):
    make_products(r)
    q = (Query("@v:[VECTOR_RANGE $radius $vec]=>{$YIELD_DISTANCE_AS: dist}")
         .sort_by("dist").return_fields("dist").dialect(2))
    res = r.ft("idx").search(q, query_params={"radius": 1.7, "vec": f32(*QUERY)})
    assert ids(res) == ["p:1", "p:2", "p:4"]
    assert [float(d.dist) for d in res.docs] == pytest.approx([0.0, 0.02, 1.62], abs=1e-5)
    hybrid = Query("@tags:{cloth} @v:[VECTOR_RANGE 1.7 $vec]").no_content().dialect(2)
    assert ids(r.ft("idx").search(hybrid, query_params={"vec": f32(*QUERY)})) == ["p:4"]


# -- filters, text, sorting -------------------------------------------------------------


def test_tag_numeric_and_text_queries(r):
    make_products(r)
    assert sorted_ids(r, "@tags:{red}") == ["p:1", "p:3", "p:6"]
    assert sorted_ids(r, "@tags:{RED}") == ["p:1", "p:3", "p:6"]  # not case-sensitive
    assert sorted_ids(r, "@tags:{green | blue}") == ["p:2", "p:4", "p:5"]
    assert sorted_ids(r, "@price:[20 40]") == ["p:2", "p:3", "p:4"]
    assert sorted_ids(r, "@price:[(20 40]") == ["p:3", "p:4"]
    assert sorted_ids(r, "@price:[500 +inf]") == ["p:5", "p:6"]
    assert sorted_ids(r, "@price:[-inf (20]") == ["p:1"]
    assert sorted_ids(r, "@title:apple") == ["p:1", "p:2"]
    assert sorted_ids(r, "apple") == ["p:1", "p:2"]
    assert sorted_ids(r, "@title:red @tags:{car}") == ["p:6"]
    assert sorted_ids(r, "@title:(apple | car)") == ["p:1", "p:2", "p:5", "p:6"]
    assert sorted_ids(r, "@tags:{red} -@title:car") == ["p:1", "p:3"]
    assert sorted_ids(r, "*") == [p[0] for p in PRODUCTS]
    assert sorted_ids(r, "@title:nothing") == []


def test_sortby_limit_return_and_nocontent(r):
    make_products(r)
    ft = r.ft("idx")
    res = ft.search(Query("*").sort_by("price", asc=False).paging(0, 3).return_fields("price").dialect(2))
    assert res.total == 6
    assert [(d.id, d.price) for d in res.docs] == [("p:6", "700"), ("p:5", "500"), ("p:4", "40")]
    res = ft.search(Query("@tags:{red}").sort_by("price").paging(1, 5).return_fields("title").dialect(2))
    assert res.total == 3
    assert [(d.id, d.title) for d in res.docs] == [("p:3", "red shirt"), ("p:6", "red car")]
    res = ft.search(Query("*").sort_by("price").no_content().paging(0, 2).dialect(2))
    assert ids(res) == ["p:1", "p:2"]
    assert res.docs[0].__dict__.keys() == {"id", "payload"}
    count_only = ft.search(Query("@tags:{red}").paging(0, 0).dialect(2))
    assert count_only.total == 3 and count_only.docs == []


def test_return_with_as_renames_a_field(r):
    make_products(r)
    res = r.execute_command("FT.SEARCH", "idx", "@tags:{fruit}", "SORTBY", "price", "RETURN", "3",
                            "title", "AS", "name", "DIALECT", "2")
    assert res == [2, "p:1", ["name", "red apple"], "p:2", ["name", "green apple"]]


def test_withscores_shape(r):
    make_products(r)
    res = r.execute_command("FT.SEARCH", "idx", "@tags:{cloth}", "WITHSCORES", "NOCONTENT",
                            "SORTBY", "price", "DIALECT", "2")
    assert res[0] == 2 and res[1::2] == ["p:3", "p:4"]
    for score in res[2::2]:
        float(score)


def test_tag_separator_case_sensitivity_and_tagvals(r):
    r.ft("t").create_index(
        [TagField("cs", case_sensitive=True), TagField("ci", separator=";")],
        definition=IndexDefinition(prefix=["t:"]),
    )
    r.hset("t:1", mapping={"cs": "Foo", "ci": "Foo;bAR"})
    r.hset("t:2", mapping={"cs": "foo", "ci": "baz"})
    r.hset("other:1", mapping={"cs": "foo", "ci": "baz"})  # outside the prefix
    assert sorted(r.ft("t").tagvals("cs")) == ["Foo", "foo"]
    assert sorted(r.ft("t").tagvals("ci")) == ["bar", "baz", "foo"]
    assert sorted_ids(r, "@cs:{foo}", "t") == ["t:2"]
    assert sorted_ids(r, "@cs:{Foo}", "t") == ["t:1"]
    assert sorted_ids(r, "@ci:{FOO}", "t") == ["t:1"]
    assert sorted_ids(r, "@ci:{bar | baz}", "t") == ["t:1", "t:2"]


def test_tag_values_with_spaces_and_punctuation(r):
    r.ft("t").create_index([TagField("city")], definition=IndexDefinition(prefix=["c:"]))
    r.hset("c:1", "city", "New York")
    r.hset("c:2", "city", "san-francisco")
    assert sorted_ids(r, "@city:{New York}", "t") == ["c:1"]
    assert sorted_ids(r, r"@city:{san\-francisco}", "t") == ["c:2"]
    assert sorted_ids(r, "@city:{$c}", "t", c="new york") == ["c:1"]


# -- JSON -------------------------------------------------------------------------------


def make_json_products(r: redis.Redis, metric: str = "COSINE") -> None:
    r.ft("j").create_index(
        [
            TextField("$.title", as_name="title"),
            TagField("$.tags[*]", as_name="tags"),
            NumericField("$.price", as_name="price", sortable=True),
            VectorField("$.v", "FLAT", {"TYPE": "FLOAT32", "DIM": 2, "DISTANCE_METRIC": metric}, as_name="v"),
        ],
        definition=IndexDefinition(prefix=["jp:"], index_type=IndexType.JSON),
    )
    for key, title, tags, price, v in PRODUCTS:
        r.json().set("j" + key, "$", {"title": title, "tags": tags.split(","), "price": price, "v": list(v)})


def test_json_index_knn_with_aliases(r):
    make_json_products(r)
    q = knn(3).return_fields("score", "title", "price").paging(0, 3)
    res = r.ft("j").search(q, query_params={"vec": f32(*QUERY)})
    want = by_distance("COSINE")[:3]
    assert ids(res) == ["j" + p[0] for p in want]
    assert [d.title for d in res.docs] == [p[1] for p in want]
    assert [float(d.score) for d in res.docs] == pytest.approx(
        [expected_distance("COSINE", QUERY, p[4]) for p in want], abs=1e-5)


def test_json_filters_and_whole_document(r):
    make_json_products(r)
    res = r.ft("j").search(knn(2, prefilter="(@tags:{red} @price:[0 100])"), query_params={"vec": f32(*QUERY)})
    assert ids(res) == ["jp:1", "jp:3"]
    doc = json.loads(res.docs[0].json)  # redis-py renames "$" to "json"
    assert doc == {"title": "red apple", "tags": ["fruit", "red"], "price": 10, "v": [1.0, 0.0]}
    res = r.ft("j").search(Query("@title:shirt").sort_by("price").return_field("$.price", as_field="p").dialect(2))
    assert [(d.id, d.p) for d in res.docs] == [("jp:3", "30"), ("jp:4", "40")]


def test_json_update_delete_and_bad_vector(r):
    make_json_products(r)
    r.json().set("jp:1", "$.tags", ["gone"])
    assert sorted_ids(r, "@tags:{fruit}", "j") == ["jp:2"]
    r.json().set("jp:9", "$", {"title": "bad", "tags": ["x"], "price": 1, "v": [1, 2, 3]})
    assert int(info(r, "j")["hash_indexing_failures"]) == 1
    assert sorted_ids(r, "@tags:{x}", "j") == []
    r.delete("jp:2")
    assert int(info(r, "j")["hash_indexing_failures"]) == 1
    r.json().delete("jp:4", "$.tags")
    assert int(info(r, "j")["hash_indexing_failures"]) == 1
    # RediSearch counts a JSON.DEL of the whole document as a failure to index it.
    r.json().delete("jp:3", "$")
    assert int(info(r, "j")["hash_indexing_failures"]) == 2
    assert sorted_ids(r, "*", "j") == ["jp:1", "jp:4", "jp:5", "jp:6"]


# -- FT.INFO, FT._LIST, DROPINDEX, ALTER, aliases ---------------------------------------


def test_info_reports_what_redisvl_reads(r):
    r.ft("idx").create_index(
        product_schema("HNSW", "COSINE", M=8, EF_CONSTRUCTION=100),
        definition=IndexDefinition(prefix=["p:", "q:"], index_type=IndexType.HASH),
    )
    load_products(r)
    i = wait_indexed(r)
    assert i["index_name"] == "idx"
    assert i["index_options"] == []
    assert i["index_definition"] == ["key_type", "HASH", "prefixes", ["p:", "q:"], "default_score", "1"]
    assert i["attributes"] == [
        ["identifier", "title", "attribute", "title", "type", "TEXT", "WEIGHT", "1"],
        ["identifier", "tags", "attribute", "tags", "type", "TAG", "SEPARATOR", ","],
        ["identifier", "price", "attribute", "price", "type", "NUMERIC", "SORTABLE", "UNF"],
        ["identifier", "v", "attribute", "v", "type", "VECTOR", "algorithm", "HNSW", "data_type", "FLOAT32",
         "dim", 2, "distance_metric", "COSINE", "M", 8, "ef_construction", 100],
    ]
    assert i["num_docs"] == 6
    assert i["hash_indexing_failures"] == 0
    assert i["indexing"] == 0
    assert i["percent_indexed"] == "1"
    for name in ("max_doc_id", "num_terms", "num_records", "inverted_sz_mb", "vector_index_sz_mb",
                 "total_indexing_time", "number_of_uses", "gc_stats", "cursor_stats", "dialect_stats",
                 "Index Errors", "field statistics"):
        assert name in i, name
    assert float(i["vector_index_sz_mb"]) > 0
    assert i["Index Errors"] == ["indexing failures", 0, "last indexing error", "N/A",
                                 "last indexing error key", "N/A"]


def test_info_field_list_order(r):
    make_products(r, algorithm="HNSW")
    names = list(info(r).keys())
    assert names == [
        "index_name", "index_options", "index_definition", "attributes", "num_docs", "max_doc_id",
        "num_terms", "num_records", "inverted_sz_mb", "vector_index_sz_mb", "total_inverted_index_blocks",
        "offset_vectors_sz_mb", "doc_table_size_mb", "sortable_values_size_mb", "key_table_size_mb",
        "tag_overhead_sz_mb", "text_overhead_sz_mb", "total_index_memory_sz_mb", "geoshapes_sz_mb",
        "records_per_doc_avg", "bytes_per_record_avg", "offsets_per_term_avg",
        "offset_bits_per_record_avg", "hash_indexing_failures", "total_indexing_time", "indexing",
        "percent_indexed", "number_of_uses", "cleaning", "gc_stats", "cursor_stats", "dialect_stats",
        "Index Errors", "field statistics",
    ]


def test_info_for_json_and_flat(r):
    make_json_products(r, metric="IP")
    i = info(r, "j")
    assert i["index_definition"][:4] == ["key_type", "JSON", "prefixes", ["jp:"]]
    assert i["attributes"] == [
        ["identifier", "$.title", "attribute", "title", "type", "TEXT", "WEIGHT", "1"],
        ["identifier", "$.tags[*]", "attribute", "tags", "type", "TAG", "SEPARATOR", ","],
        ["identifier", "$.price", "attribute", "price", "type", "NUMERIC", "SORTABLE", "UNF"],
        ["identifier", "$.v", "attribute", "v", "type", "VECTOR", "algorithm", "FLAT", "data_type", "FLOAT32",
         "dim", 2, "distance_metric", "IP"],
    ]
    assert i["num_docs"] == 6


def test_info_in_resp3_is_a_map(r3):
    make_products(r3, algorithm="HNSW")
    i = r3.ft("idx").info()
    assert i["index_name"] == "idx"
    assert i["index_definition"] == {"key_type": "HASH", "prefixes": ["p:"], "default_score": 1.0}
    assert i["attributes"][3] == {
        "identifier": "v", "attribute": "v", "type": "VECTOR", "algorithm": "HNSW", "data_type": "FLOAT32",
        "dim": 2, "distance_metric": "L2", "M": 16, "ef_construction": 200, "flags": [],
    }
    assert i["attributes"][:3] == [
        {"identifier": "title", "attribute": "title", "type": "TEXT", "WEIGHT": 1.0, "flags": []},
        {"identifier": "tags", "attribute": "tags", "type": "TAG", "SEPARATOR": ",", "flags": []},
        {"identifier": "price", "attribute": "price", "type": "NUMERIC", "flags": ["SORTABLE", "UNF"]},
    ]
    assert i["num_docs"] == 6 and i["hash_indexing_failures"] == 0
    assert i["percent_indexed"] == 1.0 and i["indexing"] == 0


def test_list_and_dropindex_keeps_or_deletes_documents(r):
    make_products(r)
    r.ft("other").create_index([NumericField("price")], definition=IndexDefinition(prefix=["p:"]))
    assert sorted(r.execute_command("FT._LIST")) == ["idx", "other"]
    assert r.ft("other").dropindex() == "OK"
    assert r.execute_command("FT._LIST") == ["idx"]
    assert r.exists(*[p[0] for p in PRODUCTS]) == 6
    wait_indexed(r)
    assert r.ft("idx").dropindex(delete_documents=True) == "OK"
    assert r.execute_command("FT._LIST") == []
    assert r.exists(*[p[0] for p in PRODUCTS]) == 0


def test_dropindex_dd_deletes_only_indexed_keys(r):
    r.set("p:string", "not a hash")
    r.hset("q:1", "price", 1)
    make_products(r, before=True)
    r.execute_command("FT.DROPINDEX", "idx", "DD")
    assert sorted(r.keys("*")) == ["p:string", "q:1"]


def test_alter_schema_add_indexes_new_writes(r):
    make_products(r)
    assert r.ft("idx").alter_schema_add([TagField("color")]) == "OK"
    r.hset("p:7", mapping={"title": "pink hat", "price": 5, "color": "pink"})
    assert sorted_ids(r, "@color:{pink}") == ["p:7"]
    attrs = info(r)["attributes"]
    assert attrs[-1] == ["identifier", "color", "attribute", "color", "type", "TAG", "SEPARATOR", ","]
    r.execute_command("FT.ALTER", "idx", "SCHEMA", "ADD", "w", "VECTOR", "FLAT", "6",
                      "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2")
    r.hset("p:8", mapping={"w": f32(3, 4)})
    res = r.ft("idx").search(knn(1, field="w").no_content(), query_params={"vec": f32(0, 0)})
    assert ids(res) == ["p:8"]


def test_alter_schema_add_rescans_existing_documents(r):
    make_products(r)
    r.hset("p:1", "color", "pink")
    r.ft("idx").alter_schema_add([TagField("color")])
    wait_for(lambda: sorted_ids(r, "@color:{pink}") == ["p:1"], what="FT.ALTER to index existing keys")


def test_aliases(r):
    make_products(r)
    r.ft("idx2").create_index([NumericField("price")], definition=IndexDefinition(prefix=["p:1"]))
    wait_indexed(r, "idx2")  # p:1 existed before idx2: it is backfilled
    ft = r.ft("al")
    assert r.ft("idx").aliasadd("al") == "OK"
    assert ft.search(Query("*").no_content().paging(0, 0)).total == 6
    assert info(r, "al")["index_name"] == "idx"
    assert r.ft("idx2").aliasupdate("al") == "OK"
    assert ft.search(Query("*").no_content().paging(0, 0)).total == 1
    assert r.ft().aliasdel("al") == "OK"
    with pytest.raises(redis.ResponseError, match="al: no such index"):
        ft.search("*")


# -- aggregation ------------------------------------------------------------------------


def rows(res) -> list:
    return [dict(zip(row[::2], row[1::2])) for row in res.rows]


def test_aggregate_groupby_reducers(r):
    make_products(r)
    req = (AggregateRequest("*")
           .load("@tags")
           .apply(kind="substr(@tags, 0, 3)")
           .group_by("@kind",
                     reducers.count().alias("n"),
                     reducers.sum("@price").alias("total"),
                     reducers.avg("@price").alias("avg"),
                     reducers.min("@price").alias("lo"),
                     reducers.max("@price").alias("hi"),
                     reducers.count_distinct("@title").alias("titles"),
                     reducers.tolist("@title").alias("names"))
           .sort_by(Desc("@total"))
           .dialect(2))
    got = rows(r.ft("idx").aggregate(req))
    for row in got:
        row["names"] = sorted(row["names"])
    assert got == [
        {"kind": "car", "n": "2", "total": "1200", "avg": "600", "lo": "500", "hi": "700", "titles": "2",
         "names": ["blue car", "red car"]},
        {"kind": "clo", "n": "2", "total": "70", "avg": "35", "lo": "30", "hi": "40", "titles": "2",
         "names": ["blue shirt", "red shirt"]},
        {"kind": "fru", "n": "2", "total": "30", "avg": "15", "lo": "10", "hi": "20", "titles": "2",
         "names": ["green apple", "red apple"]},
    ]


def test_aggregate_apply_filter_sort_limit(r):
    make_products(r)
    req = (AggregateRequest("@price:[0 600]")
           .load("@title", "@price")
           .apply(double="@price * 2")
           .filter("@double > 30")
           .sort_by(Asc("@price"))
           .limit(1, 2)
           .dialect(2))
    res = r.ft("idx").aggregate(req)
    assert rows(res) == [
        {"title": "red shirt", "price": "30", "double": "60"},
        {"title": "blue shirt", "price": "40", "double": "80"},
    ]


def test_aggregate_groupby_count_sorted_and_max(r):
    make_products(r)
    res = r.execute_command("FT.AGGREGATE", "idx", "@tags:{red}", "GROUPBY", "1", "@tags",
                            "REDUCE", "COUNT", "0", "AS", "n", "SORTBY", "2", "@tags", "ASC")
    assert res == [3, ["tags", "car,red", "n", "1"], ["tags", "cloth,red", "n", "1"],
                   ["tags", "fruit,red", "n", "1"]]
    res = r.execute_command("FT.AGGREGATE", "idx", "*", "LOAD", "1", "@price", "SORTBY", "2", "@price",
                            "DESC", "MAX", "2")
    assert res[1:] == [["price", "700"], ["price", "500"]]


def test_aggregate_over_a_knn_query(r):
    make_products(r)
    res = r.execute_command("FT.AGGREGATE", "idx", "*=>[KNN 3 @v $vec AS dist]", "PARAMS", "2", "vec",
                            f32(*QUERY), "LOAD", "2", "@title", "@dist", "SORTBY", "2", "@dist", "ASC",
                            "DIALECT", "2")
    got = [dict(zip(row[::2], row[1::2])) for row in res[1:]]
    assert [row["title"] for row in got] == ["red apple", "green apple", "blue shirt"]
    assert [float(row["dist"]) for row in got] == pytest.approx([0.0, 0.02, 1.62], abs=1e-5)


def test_aggregate_cursor_reads_every_row_once(r):
    r.ft("c").create_index([NumericField("n", sortable=True)], definition=IndexDefinition(prefix=["c:"]))
    for i in range(25):
        r.hset(f"c:{i}", "n", i)
    ft = r.ft("c")
    res = ft.aggregate(AggregateRequest("*").load("@n").sort_by(Asc("@n"), max=100).cursor(count=10))
    seen = [int(row[1]) for row in res.rows]
    assert len(seen) == 10 and res.cursor.cid != 0
    while res.cursor.cid != 0:
        res = ft.aggregate(Cursor(res.cursor.cid))
        seen += [int(row[1]) for row in res.rows]
    assert seen == list(range(25))


def test_cursor_read_count_and_delete(r, raw):
    r.ft("c").create_index([NumericField("n", sortable=True)], definition=IndexDefinition(prefix=["c:"]))
    for i in range(7):
        r.hset(f"c:{i}", "n", i)
    first = r.execute_command("FT.AGGREGATE", "c", "*", "LOAD", "1", "@n", "SORTBY", "2", "@n", "ASC",
                              "WITHCURSOR", "COUNT", "3")
    (page, cid) = first
    assert page[1:] == [["n", "0"], ["n", "1"], ["n", "2"]] and cid > 0
    more = r.execute_command("FT.CURSOR", "READ", "c", cid, "COUNT", "2")
    # Pages after the first report 0 results in total; the same id continues.
    assert more == [[0, ["n", "3"], ["n", "4"]], cid]
    assert r.execute_command("FT.CURSOR", "DEL", "c", cid) == "OK"
    conn = raw()
    assert error_text(conn, "FT.CURSOR", "READ", "c", str(cid)) == "Cursor not found"
    assert error_text(conn, "FT.CURSOR", "DEL", "c", str(cid)) == "Cursor does not exist"


def test_cursor_ends_with_id_zero(r):
    r.ft("c").create_index([NumericField("n", sortable=True)], definition=IndexDefinition(prefix=["c:"]))
    for i in range(4):
        r.hset(f"c:{i}", "n", i)
    page, cid = r.execute_command("FT.AGGREGATE", "c", "*", "LOAD", "1", "@n", "SORTBY", "2", "@n", "ASC",
                                  "WITHCURSOR", "COUNT", "3")
    assert len(page) == 4
    page, cid2 = r.execute_command("FT.CURSOR", "READ", "c", cid)
    assert page[1:] == [["n", "3"]] and cid2 == 0
    with pytest.raises(redis.ResponseError, match="^Cursor not found$"):
        r.execute_command("FT.CURSOR", "READ", "c", cid)


def test_cursor_drained_exactly_needs_one_more_empty_read(r):
    r.ft("c").create_index([NumericField("n", sortable=True)], definition=IndexDefinition(prefix=["c:"]))
    for i in range(6):
        r.hset(f"c:{i}", "n", i)
    page, cid = r.execute_command("FT.AGGREGATE", "c", "*", "LOAD", "1", "@n", "SORTBY", "2", "@n", "ASC",
                                  "WITHCURSOR", "COUNT", "3")
    assert page == [6, ["n", "0"], ["n", "1"], ["n", "2"]]
    assert r.execute_command("FT.CURSOR", "READ", "c", cid) == [[0, ["n", "3"], ["n", "4"], ["n", "5"]], cid]
    assert r.execute_command("FT.CURSOR", "READ", "c", cid) == [[0], 0]


# -- keyspace integration ---------------------------------------------------------------


def test_documents_written_after_create_are_searchable_at_once(r):
    make_products(r)
    vec = {"vec": f32(*QUERY)}
    r.hset("p:7", mapping={"title": "white apple", "tags": "fruit", "price": 15, "v": f32(0.95, 0.0)})
    assert ids(r.ft("idx").search(knn(2).no_content(), query_params=vec)) == ["p:1", "p:7"]
    r.hset("p:7", "v", f32(-5, -5))  # update moves it away
    assert ids(r.ft("idx").search(knn(2).no_content(), query_params=vec)) == ["p:1", "p:2"]
    r.hset("p:1", "tags", "cloth")  # a tag change is seen by the filter
    assert sorted_ids(r, "@tags:{fruit}") == ["p:2", "p:7"]
    r.delete("p:2")
    assert ids(r.ft("idx").search(knn(2).no_content(), query_params=vec)) == ["p:1", "p:4"]
    r.hdel("p:1", "v")  # without its vector it is still a document, but not a KNN hit
    assert ids(r.ft("idx").search(knn(2).no_content(), query_params=vec)) == ["p:4", "p:3"]
    assert "p:1" in sorted_ids(r, "@tags:{cloth}")
    r.unlink("p:3", "p:4")
    assert ids(r.ft("idx").search(knn(2).no_content(), query_params=vec)) == ["p:6", "p:5"]
    assert int(info(r)["num_docs"]) == 4


def test_expired_documents_disappear(r):
    make_products(r)
    r.pexpire("p:1", 30)
    wait_for(lambda: "p:1" not in sorted_ids(r, "*"), what="the expired document to leave the index")
    res = r.ft("idx").search(knn(1).no_content(), query_params={"vec": f32(*QUERY)})
    assert ids(res) == ["p:2"]


def test_rename_moves_documents_in_and_out(r):
    make_products(r)
    r.rename("p:1", "x:1")
    assert "p:1" not in sorted_ids(r, "*")
    r.rename("x:1", "p:9")
    assert sorted_ids(r, "@tags:{fruit}") == ["p:2", "p:9"]
    res = r.ft("idx").search(knn(1).no_content(), query_params={"vec": f32(*QUERY)})
    assert ids(res) == ["p:9"]


def test_non_hash_key_and_other_prefixes_are_ignored(r):
    make_products(r)
    r.set("p:str", "x")
    r.hset("other:1", mapping={"title": "red apple", "price": 1})
    r.json().set("p:json", "$", {"title": "red apple"})
    assert sorted_ids(r, "@title:apple") == ["p:1", "p:2"]


def test_flushall_drops_the_indexes(r, raw):
    make_products(r)
    r.flushall()
    assert r.execute_command("FT._LIST") == []
    assert error_text(raw(), "FT.SEARCH", "idx", "*") == "idx: no such index"


def test_create_backfills_existing_keys(r):
    for i in range(300):
        r.hset(f"b:{i}", mapping={"n": i, "tag": "even" if i % 2 == 0 else "odd",
                                  "v": f32(float(i), 0.0)})
    r.ft("b").create_index(
        [NumericField("n", sortable=True), TagField("tag"),
         VectorField("v", "FLAT", {"TYPE": "FLOAT32", "DIM": 2, "DISTANCE_METRIC": "L2"})],
        definition=IndexDefinition(prefix=["b:"]),
    )
    i = wait_indexed(r, "b")
    assert i["num_docs"] == 300 and i["hash_indexing_failures"] == 0
    assert r.ft("b").search(Query("@tag:{even}").paging(0, 0).dialect(2)).total == 150
    res = r.ft("b").search(knn(3).no_content(), query_params={"vec": f32(100.2, 0)})
    assert ids(res) == ["b:100", "b:101", "b:99"]


def test_bad_documents_count_as_failures_and_writes_succeed(r):
    make_products(r)
    assert r.hset("p:bad", mapping={"title": "short vector", "v": f32(1, 2, 3)}) == 2
    assert r.hset("p:nan", mapping={"title": "bad price", "price": "cheap", "v": f32(1, 0)}) == 3
    i = info(r)
    assert i["hash_indexing_failures"] == 2
    assert i["num_docs"] == 6
    assert r.hget("p:bad", "title") == "short vector"
    assert sorted_ids(r, "@title:short") == []
    res = r.ft("idx").search(knn(10).no_content(), query_params={"vec": f32(*QUERY)})
    assert "p:bad" not in ids(res) and "p:nan" not in ids(res)
    # Fixing the document indexes it.
    r.hset("p:bad", "v", f32(1, 0))
    assert sorted_ids(r, "@title:short") == ["p:bad"]


def test_resp3_search_through_redis_py(r3):
    make_products(r3)
    q = knn(2).return_fields("score", "title")
    res = r3.ft("idx").search(q, query_params={"vec": f32(*QUERY)})
    assert res["total_results"] == 2
    assert res["attributes"] == [] and res["warning"] == [] and res["format"] == "STRING"
    assert [d["id"] for d in res["results"]] == ["p:1", "p:2"]
    first = res["results"][0]
    assert first["extra_attributes"]["title"] == "red apple"
    assert float(first["extra_attributes"]["score"]) == 0.0
    assert first["values"] == []
    nocontent = r3.ft("idx").search(Query("@tags:{red}").sort_by("price").no_content().dialect(2))
    assert nocontent["results"] == [{"id": "p:1", "values": []}, {"id": "p:3", "values": []},
                                    {"id": "p:6", "values": []}]
    agg = r3.ft("idx").aggregate(AggregateRequest("*").group_by("@tags", reducers.count().alias("n"))
                                 .sort_by(Asc("@tags"), max=2).dialect(2))
    assert agg["total_results"] >= 2
    assert [row["extra_attributes"] for row in agg["results"]] == [
        {"tags": "car,blue", "n": "1"}, {"tags": "car,red", "n": "1"}]


def test_pipeline_writes_and_searches(r):
    make_products(r)
    pipe = r.pipeline(transaction=False)
    pipe.hset("p:7", mapping={"title": "pipe dream", "tags": "fruit", "price": 1, "v": f32(1, 0.01)})
    pipe.ft("idx").search(knn(2).no_content(), query_params={"vec": f32(*QUERY)})
    pipe.execute_command("FT.SEARCH", "idx", "@tags:{fruit}", "NOCONTENT", "SORTBY", "price")
    out = pipe.execute()
    assert out[0] == 4
    assert out[1] == [2, b"p:1", b"p:7"]  # r.ft().search in a pipeline is never decoded
    assert out[2] == [3, "p:7", "p:1", "p:2"]
    tx = r.pipeline(transaction=True)
    tx.delete("p:7")
    tx.execute_command("FT.SEARCH", "idx", "@tags:{fruit}", "NOCONTENT", "SORTBY", "price")
    assert tx.execute() == [1, [2, "p:1", "p:2"]]


def test_binary_client_gets_vectors_back(target):
    rb = target.client()
    make_products(rb)
    res = rb.execute_command("FT.SEARCH", "idx", "@tags:{fruit}", "SORTBY", "price", "RETURN", "1", "v")
    assert res == [2, b"p:1", [b"v", f32(1, 0)], b"p:2", [b"v", f32(0.9, 0.1)]]


# -- errors (exact texts) ---------------------------------------------------------------

VEC_SCHEMA = ["SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2",
              "t", "TAG", "n", "NUMERIC"]


def bad_create(*vector_args: str) -> list:
    return ["FT.CREATE", "bad", "ON", "HASH", "SCHEMA", "v", "VECTOR", *vector_args]


CREATE_ERRORS = [
    (bad_create("HNSW", "6", "TYPE", "FLOAT32", "DIM", "0", "DISTANCE_METRIC", "L2"),
     "Bad arguments for vector similarity HNSW index dim: Value is outside acceptable bounds"),
    (bad_create("HNSW", "6", "TYPE", "FLOAT32", "DIM", "abc", "DISTANCE_METRIC", "L2"),
     "Bad arguments for vector similarity HNSW index dim: Could not convert argument to expected type"),
    (bad_create("FLAT", "6", "TYPE", "FLOAT32", "DIM", "-3", "DISTANCE_METRIC", "L2"),
     "Bad arguments for vector similarity FLAT index dim: Value is outside acceptable bounds"),
    (bad_create("HNSW", "4", "TYPE", "FLOAT32", "DISTANCE_METRIC", "L2"),
     "Missing mandatory parameter: cannot create HNSW index without specifying DIM argument"),
    (bad_create("FLAT", "4", "TYPE", "FLOAT32", "DIM", "2"),
     "Missing mandatory parameter: cannot create FLAT index without specifying DISTANCE_METRIC argument"),
    (bad_create("FLAT", "4", "DIM", "2", "DISTANCE_METRIC", "L2"),
     "Missing mandatory parameter: cannot create FLAT index without specifying TYPE argument"),
    (bad_create("HNSW", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "FOO"),
     "Bad arguments for vector similarity HNSW index metric: Unknown argument"),
    (bad_create("FOO", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "L2"),
     "Bad arguments for vector similarity algorithm: Unknown argument"),
    (bad_create("FLAT", "6", "TYPE", "FLOAT99", "DIM", "2", "DISTANCE_METRIC", "L2"),
     "Bad arguments for vector similarity FLAT index type: Unknown argument"),
    (["FT.CREATE", "bad", "ON", "HASH", "SCHEMA", "v", "FOO"], "Invalid field type for field `v`"),
    (["FT.CREATE", "bad", "ON", "FOO", "SCHEMA", "v", "TEXT"], "Invalid rule type: FOO"),
    (["FT.CREATE", "bad", "ON", "HASH", "SCHEMA", "a", "TEXT", "a", "TAG"], "Duplicate field in schema - a"),
    (["FT.CREATE", "bad", "SCHEMA"], "ERR wrong number of arguments for 'FT.CREATE' command"),
]


@pytest.mark.parametrize("args,text", CREATE_ERRORS, ids=[t for _, t in CREATE_ERRORS])
def test_create_errors(raw, args, text):
    conn = raw()
    assert error_text(conn, *args) == text
    assert conn.call(["FT._LIST"]) in (("array", []), ("set", []))


def test_create_twice_is_an_error(raw):
    conn = raw()
    assert conn.call(["FT.CREATE", "idx", "ON", "HASH", *VEC_SCHEMA]) == ("simple", b"OK")
    assert error_text(conn, "FT.CREATE", "idx", "ON", "HASH", *VEC_SCHEMA) == "Index already exists"


def query_errors():
    v2, v1 = f32(0.1, 0), f32(0.1)
    knn_q = "*=>[KNN 3 @v $vec AS score]"
    return [
        (["FT.SEARCH", "nope", "*"], "nope: no such index"),
        (["FT.AGGREGATE", "nope", "*"], "nope: no such index"),
        (["FT.INFO", "nope"], "Unknown index name"),
        (["FT.DROPINDEX", "nope"], "Unknown Index name"),
        (["FT.TAGVALS", "nope", "t"], "Unknown Index name"),
        (["FT.ALTER", "nope", "SCHEMA", "ADD", "z", "TAG"], "Unknown index name"),
        (["FT.SEARCH", "vi", knn_q, "PARAMS", "2", "vec", v1, "DIALECT", "2"],
         "Error parsing vector similarity query: query vector blob size (4) does not match index's expected "
         "size (8)."),
        (["FT.SEARCH", "vi", knn_q, "DIALECT", "2"], "No such parameter `vec`"),
        (["FT.SEARCH", "vi", knn_q, "PARAMS", "3", "vec", v2, "DIALECT", "2"],
         "Parameters must be specified in PARAM VALUE pairs"),
        (["FT.SEARCH", "vi", knn_q, "PARAMS", "2", "vec", v2], "Syntax error at offset 1 near >["),
        (["FT.SEARCH", "vi", "*=>[KNN 3 @v $vec AS score", "PARAMS", "2", "vec", v2, "DIALECT", "2"],
         "Syntax error at offset 21 near score"),
        (["FT.SEARCH", "vi", "*=>[KNN x @v $vec AS score]", "PARAMS", "2", "vec", v2, "DIALECT", "2"],
         "Syntax error at offset 8 near x"),
        (["FT.SEARCH", "vi", "@t:{x", "DIALECT", "2"], "Syntax error at offset 4 near x"),
        (["FT.SEARCH", "vi", "@n:[a b]", "DIALECT", "2"], "Syntax error at offset 6 near b"),
        (["FT.SEARCH", "vi", "@n:[1 2", "DIALECT", "2"], "Syntax error at offset 6 near 2"),
        (["FT.SEARCH", "vi", "*", "LIMIT", "0"], "LIMIT requires two arguments"),
        (["FT.SEARCH", "vi", "*", "LIMIT", "a", "b"], "LIMIT needs two numeric arguments"),
        (["FT.SEARCH", "vi", "*", "SORTBY", "nope"], "Property `nope` not loaded nor in schema"),
        (["FT.SEARCH", "vi", "*", "RETURN", "3", "a"], "Bad arguments for RETURN: Expected an argument, but none "
         "provided"),
        (["FT.SEARCH", "vi", "*", "DIALECT", "9"], "DIALECT requires a non negative integer >=1 and <= 4"),
        (["FT.SEARCH", "vi", "*", "FOO"], "Unknown argument `FOO` at position 1 for <main>"),
        (["FT.SEARCH", "vi"], "No query string provided"),
        (["FT.AGGREGATE", "vi", "*", "GROUPBY", "1", "@nope"], "No such property `nope`"),
        (["FT.AGGREGATE", "vi", "*", "GROUPBY", "1", "@t", "REDUCE", "FOO", "0"], "No such reducer: FOO"),
        (["FT.AGGREGATE", "vi", "*", "SORTBY", "2", "@n"],
         "Bad arguments for SORTBY: Expected an argument, but none provided"),
        (["FT.CURSOR", "READ", "vi", "123"], "Cursor not found"),
        (["FT.CURSOR", "DEL", "vi", "123"], "Cursor does not exist"),
        (["FT.ALIASADD", "al", "nope"], "Unknown index name (or name is an alias itself)"),
        (["FT.ALIASUPDATE", "al", "nope"], "Unknown index name (or name is an alias itself)"),
        (["FT.ALIASDEL", "nope"], "Alias does not exist"),
        (["FT.TAGVALS", "vi", "n"], "Not a tag field"),
        (["FT.TAGVALS", "vi", "nope"], "No such field"),
        (["FT.ALTER", "vi", "SCHEMA", "ADD", "t", "TAG"], "Duplicate field in schema - t"),
        (["FT.ALTER", "vi", "ADD", "w", "TAG"], "ALTER must be followed by SCHEMA"),
        (["FT.ALTER", "vi", "SCHEMA", "FOO", "w", "TAG"], "Unknown action passed to ALTER SCHEMA"),
        (["FT.INFO"], "ERR wrong number of arguments for 'FT.INFO' command"),
        (["FT.SEARCH", "vi", "@v:[VECTOR_RANGE 5 $vec]", "PARAMS", "2", "vec", v2, "DIALECT", "1"],
         "Syntax error at offset 4 near VECTOR_RANGE"),
    ]


QUERY_ERRORS = query_errors()


@pytest.mark.parametrize("protocol", [2, 3])
def test_query_and_admin_errors(r, raw, protocol):
    r.execute_command("FT.CREATE", "vi", "ON", "HASH", "PREFIX", "1", "d:", *VEC_SCHEMA)
    r.hset("d:1", mapping={"v": f32(1, 2), "t": "x", "n": 3})
    conn = raw(protocol)
    failures = []
    for args, text in QUERY_ERRORS:
        reply = conn.call(args)
        if reply != ("err", text.encode()):
            failures.append(f"{args[:3]!r}: expected {text!r}, got {reply!r}")
    assert not failures, "\n".join(failures)


def test_alias_errors(raw, r):
    r.execute_command("FT.CREATE", "vi", "ON", "HASH", *VEC_SCHEMA)
    conn = raw()
    assert conn.call(["FT.ALIASADD", "al", "vi"]) == ("simple", b"OK")
    assert error_text(conn, "FT.ALIASADD", "al", "vi") == "Alias already exists"


def test_unknown_fields_in_a_query_match_nothing(r):
    """RediSearch 2.10 answers an unknown field with an empty result, not an error."""
    r.execute_command("FT.CREATE", "vi", "ON", "HASH", "PREFIX", "1", "d:", *VEC_SCHEMA)
    r.hset("d:1", mapping={"v": f32(1, 2), "t": "x", "n": 3})
    for q in ("@nope:{x}", "@nope:[1 2]", "@nope:hello", "*=>[KNN 3 @nope $vec AS s]", "*=>[KNN 3 @t $vec AS s]"):
        res = r.execute_command("FT.SEARCH", "vi", q, "PARAMS", "2", "vec", f32(0, 0), "DIALECT", "2")
        assert res == [0], q


def test_errors_through_redis_py(r):
    make_products(r)
    with pytest.raises(redis.ResponseError, match="^Index already exists$"):
        make_products(r)
    with pytest.raises(redis.ResponseError, match=r"^Unknown index name$"):
        r.ft("nope").info()
    with pytest.raises(redis.ResponseError, match=r"query vector blob size \(12\) does not match"):
        r.ft("idx").search(knn(1), query_params={"vec": f32(1, 2, 3)})
