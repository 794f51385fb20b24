"""JSON documents through redis-py's ``r.json()``, as applications use them (RESP2 and
RESP3), plus the keyspace integration clients rely on (TYPE, TTL, MODULE LIST)."""

from __future__ import annotations

import pytest
import redis
from redis.commands.json.path import Path


@pytest.fixture
def engram3(engram_server):
    client = redis.Redis(host="127.0.0.1", port=engram_server.port, decode_responses=True, protocol=3)
    yield client
    client.close()


@pytest.fixture(params=[2, 3])
def r(request, engram, engram3):
    return engram if request.param == 2 else engram3


DOC = {"name": "ada", "age": 36, "tags": ["math", "code"], "addr": {"city": "London", "zip": None}}


def test_set_get_round_trips_documents(r):
    j = r.json()
    assert j.set("user:1", Path.root_path(), DOC) is True
    assert j.get("user:1") == DOC
    assert j.get("user:1", "$.name") == ["ada"]
    assert j.get("user:1", ".age") == 36
    assert j.get("user:1", "$..city", "$.age") == {"$..city": ["London"], "$.age": [36]}
    assert j.get("missing") is None
    assert j.set("user:1", "$.age", 37, xx=True) is True
    assert j.set("user:1", "$.nope", 1, xx=True) is None
    assert j.set("user:1", "$", {}, nx=True) is None
    assert j.mget(["user:1", "missing"], "$.age") == [[37], None]
    assert j.mset([("user:2", "$", {"a": 1}), ("user:1", "$.age", 38)]) is True
    assert j.get("user:2") == {"a": 1} and j.get("user:1", "$.age") == [38]


def test_numbers_keep_integer_and_float_kinds(r):
    j = r.json()
    j.set("n", "$", {"i": 1, "f": 1.5, "s": "x"})
    assert j.numincrby("n", "$.i", 2) == [3]
    assert j.numincrby("n", "$.f", 1) == [2.5]
    assert j.nummultby("n", "$.i", 2) == [6]
    assert j.numincrby("n", "$.*", 1) == [7, 3.5, None]
    assert j.get("n") == {"i": 7, "f": 3.5, "s": "x"}
    assert j.type("n", "$.i") == ["integer"] or j.type("n", "$.i") == [["integer"]]


def test_strings_arrays_objects(r):
    j = r.json()
    j.set("d", "$", {"s": "ab", "a": [1], "o": {"x": 1, "y": 2}})
    assert j.strappend("d", "cd", "$.s") == [4]
    assert j.strlen("d", "$.s") == [4]
    assert j.arrappend("d", "$.a", 2, "three") == [3]
    assert j.arrlen("d", "$.a") == [3]
    assert j.objkeys("d", "$.o") == [["x", "y"]]
    assert j.objlen("d", "$.o") == [2]
    assert j.get("d", "$.a") == [[1, 2, "three"]]
    assert j.delete("d", "$.o.x") == 1
    assert j.forget("d", "$.a[0]") == 1
    assert j.get("d") == {"s": "abcd", "a": [2, "three"], "o": {"y": 2}}
    assert j.delete("d") == 1
    assert r.exists("d") == 0


def test_errors_match_redisjson(engram):
    j = engram.json()
    j.set("d", "$", {"a": 1})
    engram.set("s", "v")
    with pytest.raises(redis.ResponseError, match="Existing key has wrong Redis type"):
        j.get("s")
    with pytest.raises(redis.ResponseError, match="new objects must be created at the root"):
        j.set("new", "$.a", 1)
    with pytest.raises(redis.ResponseError, match=r"Path '\$.zz' does not exist"):
        j.get("d", ".zz")
    with pytest.raises(redis.ResponseError, match="doesn't exist"):
        j.numincrby("missing", "$", 1)
    with pytest.raises(redis.ResponseError, match="expected string but found integer"):
        j.strlen("d", ".a")
    with pytest.raises(redis.ResponseError, match="expected value at line 1 column 1"):
        engram.execute_command("JSON.SET", "d", "$", "x")
    assert j.get("d") == {"a": 1}


def test_type_and_legacy_paths_in_both_protocols(engram, engram3):
    engram.json().set("t", "$", {"a": [1], "b": 1.5})
    assert engram.execute_command("JSON.TYPE", "t", ".a") == "array"
    assert engram3.execute_command("JSON.TYPE", "t", ".a") == ["array"]
    assert engram.execute_command("JSON.TYPE", "t", "$.*") == ["array", "number"]
    assert engram3.execute_command("JSON.TYPE", "t", "$.*") == [["array", "number"]]
    assert engram.execute_command("JSON.NUMINCRBY", "t", ".b", "1") == 2.5
    assert engram3.execute_command("JSON.NUMINCRBY", "t", ".b", "1") == [3.5]


def test_keyspace_integration(engram):
    j = engram.json()
    j.set("k", "$", {"a": 1})
    assert engram.type("k") == "ReJSON-RL"
    assert engram.expire("k", 100) is True
    j.set("k", "$.a", 2)
    assert engram.ttl("k") == 100
    assert engram.rename("k", "k2") is True
    assert engram.copy("k2", "k3") is True
    assert sorted(engram.scan(0, _type="ReJSON-RL", count=100)[1]) == ["k2", "k3"]
    assert engram.memory_usage("k2") > 0
    with engram.pipeline(transaction=True) as p:
        p.json().set("t", "$", [1])
        p.json().arrappend("t", "$", 2)
        p.json().get("t")
        assert p.execute() == [True, [2], [1, 2]]


def test_module_list_reports_rejson(engram):
    modules = engram.module_list()
    names = [m.get("name", m.get(b"name")) for m in modules]
    assert "ReJSON" in names or b"ReJSON" in names
    rejson = modules[names.index("ReJSON") if "ReJSON" in names else names.index(b"ReJSON")]
    assert int(rejson.get("ver", rejson.get(b"ver"))) >= 20600


def test_documents_survive_a_crash(engram_server):
    r = redis.Redis(host="127.0.0.1", port=engram_server.port, decode_responses=True)
    r.json().set("crash", "$", {"f": 0.1, "big": 1.7976931348623157e308, "s": "é"})
    r.expire("crash", 1000)
    r.close()
    engram_server.crash()
    engram_server.restart()
    r = redis.Redis(host="127.0.0.1", port=engram_server.port, decode_responses=True)
    assert r.json().get("crash") == {"f": 0.1, "big": 1.7976931348623157e308, "s": "é"}
    assert 0 < r.ttl("crash") <= 1000
    r.close()
