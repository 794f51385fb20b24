"""redisvl (``SearchIndex``, ``VectorQuery``, ``FilterQuery``, ``RangeQuery``, ``CountQuery``)
against the server, with HASH and JSON storage, as RAG and recommendation code uses it.

The server is chosen as in test_search.py: ``ENGRAM_SEARCH_TARGET_PORT=P`` runs everything
against a reference already listening on P (FLUSHALLed around every test); otherwise each
test starts an engram-server, and the module is skipped while it has no ``FT.*``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("redisvl")

from redisvl.index import SearchIndex  # noqa: E402
from redisvl.query import CountQuery, FilterQuery, RangeQuery, VectorQuery  # noqa: E402
from redisvl.query.filter import Num, Tag, Text  # noqa: E402

from test_search import r, target, wait_for  # noqa: E402,F401 (fixtures)

# (user, job, credit_score, age, embedding): cosine distances from QUERY are distinct.
USERS = [
    ("john", "engineer", "high", 18, (0.1, 0.1, 0.5)),
    ("mary", "doctor", "low", 14, (0.1, 0.2, 0.5)),
    ("joe", "dentist", "medium", 35, (0.9, 0.9, 0.1)),
    ("tyler", "engineer", "high", 100, (0.1, 0.3, 0.5)),
    ("tim", "dermatologist", "high", 12, (0.7, 0.6, 0.1)),
    ("taimur", "CEO", "low", 15, (0.9, 0.8, 0.2)),
]
QUERY = (0.1, 0.1, 0.5)


def cosine(a, b) -> float:
    a, b = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def nearest(rows=USERS, query=QUERY) -> list:
    return sorted(rows, key=lambda u: cosine(query, u[4]))


def schema(storage: str, algorithm: str = "flat", name: str = "users") -> dict:
    path = (lambda f: f"$.{f}") if storage == "json" else (lambda f: None)

    def field(name: str, ftype: str, **extra) -> dict:
        out = {"name": name, "type": ftype, **extra}
        if path(name):
            out["path"] = path(name)
        return out

    return {
        "index": {"name": name, "prefix": f"{name}_doc", "storage_type": storage},
        "fields": [
            field("user", "tag"),
            field("credit_score", "tag"),
            field("job", "text"),
            field("age", "numeric"),
            field("user_embedding", "vector", attrs={
                "dims": 3, "distance_metric": "cosine", "algorithm": algorithm, "datatype": "float32"}),
        ],
    }


def records(storage: str) -> list:
    out = []
    for user, job, credit, age, emb in USERS:
        vec = list(emb) if storage == "json" else np.array(emb, dtype=np.float32).tobytes()
        out.append({"user": user, "job": job, "credit_score": credit, "age": age, "user_embedding": vec})
    return out


@pytest.fixture(params=["hash", "json"])
def storage(request) -> str:
    return request.param


@pytest.fixture
def index(r, storage):  # noqa: F811
    idx = SearchIndex.from_dict(schema(storage), redis_client=r)
    idx.create(overwrite=True)
    keys = idx.load(records(storage), id_field="user")
    assert keys == [f"users_doc:{u[0]}" for u in USERS]
    return idx


def vector_query(**kwargs) -> VectorQuery:
    kwargs.setdefault("return_fields", ["user", "job", "age", "credit_score", "vector_distance"])
    return VectorQuery(vector=list(QUERY), vector_field_name="user_embedding", **kwargs)


def test_create_load_and_vector_query(index):
    results = index.query(vector_query(num_results=3))
    want = nearest()[:3]
    assert [res["user"] for res in results] == [u[0] for u in want]
    assert [res["id"] for res in results] == [f"users_doc:{u[0]}" for u in want]
    assert [float(res["vector_distance"]) for res in results] == pytest.approx(
        [cosine(QUERY, u[4]) for u in want], abs=1e-5)
    assert results[0]["job"] == "engineer" and results[0]["age"] == "18"


def test_vector_query_with_filters(index):
    high = index.query(vector_query(filter_expression=Tag("credit_score") == "high"))
    assert [res["user"] for res in high] == [u[0] for u in nearest() if u[2] == "high"]
    adults = index.query(vector_query(filter_expression=(Num("age") >= 18) & (Tag("credit_score") != "low")))
    assert [res["user"] for res in adults] == [u[0] for u in nearest() if u[3] >= 18 and u[2] != "low"]
    engineers = index.query(vector_query(filter_expression=Text("job") == "engineer", num_results=1))
    assert [res["user"] for res in engineers] == ["john"]
    either = index.query(vector_query(filter_expression=Tag("user") == ["tim", "taimur"]))
    assert [res["user"] for res in either] == [u[0] for u in nearest() if u[0] in ("tim", "taimur")]
    nobody = index.query(vector_query(filter_expression=Num("age") > 1000))
    assert nobody == []


def test_filter_query_and_count_query(index):
    q = FilterQuery(return_fields=["user", "age"], filter_expression=Num("age").between(14, 35),
                    sort_by="age", num_results=10)
    got = index.query(q)
    assert [(res["user"], res["age"]) for res in got] == [("mary", "14"), ("taimur", "15"),
                                                         ("john", "18"), ("joe", "35")]
    assert index.query(CountQuery(filter_expression=Tag("credit_score") == "high")) == 3
    assert index.query(CountQuery(filter_expression=Text("job") % "engineer")) == 2
    assert index.query(CountQuery()) == len(USERS)


def test_range_query(index):
    q = RangeQuery(vector=list(QUERY), vector_field_name="user_embedding", return_fields=["user"],
                   distance_threshold=0.1, num_results=10)
    got = index.query(q)
    within = [u for u in nearest() if cosine(QUERY, u[4]) <= 0.1]
    assert sorted(res["user"] for res in got) == sorted(u[0] for u in within)
    assert {res["user"] for res in got} == {"john", "mary", "tyler"}


def test_updates_and_deletes_are_seen(index, storage):
    extra = {"user": "zed", "job": "pilot", "credit_score": "high", "age": 40,
             "user_embedding": [0.1, 0.1, 0.5] if storage == "json"
             else np.array([0.1, 0.1, 0.5], dtype=np.float32).tobytes()}
    index.load([extra], id_field="user")
    assert index.query(CountQuery(filter_expression=Tag("credit_score") == "high")) == 4
    zed = index.query(FilterQuery(return_fields=["job"], filter_expression=Tag("user") == "zed"))
    assert [res["job"] for res in zed] == ["pilot"]
    index.drop_keys(["users_doc:zed", "users_doc:john"])
    assert index.query(CountQuery()) == len(USERS) - 1
    top = index.query(vector_query(num_results=1))
    assert top[0]["user"] == "mary"


def test_info_and_delete(index, r, storage):  # noqa: F811
    info = index.info()
    assert info["index_name"] == "users"
    assert int(info["num_docs"]) == len(USERS)
    assert float(info["percent_indexed"]) == 1.0
    assert int(info["hash_indexing_failures"]) == 0
    assert index.exists()
    assert "users" in index.listall()
    index.delete(drop=True)
    assert not index.exists()
    assert r.keys("users_doc:*") == []


def test_delete_keeps_documents_without_drop(index, r):  # noqa: F811
    index.delete(drop=False)
    assert not index.exists()
    assert len(r.keys("users_doc:*")) == len(USERS)


def test_create_overwrite_reindexes_existing_documents(index, r, storage):  # noqa: F811
    again = SearchIndex.from_dict(schema(storage), redis_client=r)
    again.create(overwrite=True)

    def all_back():
        return again.query(CountQuery()) == len(USERS)

    wait_for(all_back, what="the recreated index to backfill")
    assert again.query(vector_query(num_results=1))[0]["user"] == "john"


def test_hnsw_nearest_neighbour(r, storage):  # noqa: F811
    idx = SearchIndex.from_dict(schema(storage, algorithm="hnsw", name="users_hnsw"), redis_client=r)
    idx.create(overwrite=True)
    rng = np.random.default_rng(3)
    rows = []
    for i in range(20):
        v = rng.normal(size=3).astype(np.float32)
        rows.append({"user": f"u{i}", "job": "x", "credit_score": "high", "age": i,
                     "user_embedding": v.tolist() if storage == "json" else v.tobytes()})
    idx.load(rows, id_field="user")
    probe = np.array(rows[11]["user_embedding"] if storage == "json"
                     else np.frombuffer(rows[11]["user_embedding"], dtype=np.float32))
    q = VectorQuery(vector=(probe * 1.01).tolist(), vector_field_name="user_embedding",
                    return_fields=["user"], num_results=1)
    assert [res["user"] for res in idx.query(q)] == ["u11"]


def test_paginate_visits_every_document(index):
    q = FilterQuery(return_fields=["user", "age"], filter_expression=Num("age") >= 0, sort_by="age")
    seen = [res["user"] for page in index.paginate(q, page_size=4) for res in page]
    assert seen == [u[0] for u in sorted(USERS, key=lambda u: u[3])]


def rvl(target, *args: str) -> dict:  # noqa: F811
    """Runs the ``rvl`` command-line tool against the server and parses its ``--json`` output."""
    code = "import sys; from redisvl.cli.runner import main; sys.argv[0] = 'rvl'; sys.exit(main())"
    out = subprocess.run([sys.executable, "-c", code, *args, "--url", f"redis://127.0.0.1:{target.port}",
                          "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_rvl_cli_index_info_stats_and_listall(target, r):  # noqa: F811
    idx = SearchIndex.from_dict(schema("hash"), redis_client=r)
    idx.create(overwrite=True)
    idx.load(records("hash"), id_field="user")
    info = rvl(target, "index", "info", "-i", "users")
    assert info["index_information"] == {"index_name": "users", "storage_type": "HASH",
                                         "prefixes": ["users_doc"], "index_options": [], "indexing": 0}
    assert info["index_fields"][-1] == {
        "name": "user_embedding", "attribute": "user_embedding", "type": "VECTOR",
        "field_options": {"algorithm": "FLAT", "data_type": "FLOAT32", "dim": 3, "distance_metric": "COSINE"}}
    assert [f["type"] for f in info["index_fields"]] == ["TAG", "TAG", "TEXT", "NUMERIC", "VECTOR"]
    stats = rvl(target, "stats", "-i", "users")
    assert stats["num_docs"] == len(USERS)
    assert stats["percent_indexed"] == "1" and stats["hash_indexing_failures"] == 0
    assert rvl(target, "index", "listall") == {"indices": ["users"]}
