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


def test_array_index_insert_pop_trim(r):
    j = r.json()
    j.set("arr", "$", {"a": [1, 2, 3, 1, "x"], "b": {"a": [1]}, "t": True})
    assert j.arrindex("arr", "$.a", 1) == [0]
    assert j.arrindex("arr", "$.a", 1, 1) == [3]
    assert j.arrindex("arr", "$.a", 1, 1, 3) == [-1]
    assert j.arrindex("arr", "$..a", "x") == [4, -1]
    assert j.arrindex("arr", ".a", 3) == 2
    assert j.arrindex("arr", "$.t", 1) == [None]
    assert j.arrinsert("arr", "$.a", 0, "first", 0) == [7]
    assert j.arrinsert("arr", ".a", -1, {"o": 1}) == 8
    assert j.arrinsert("arr", "$..a", 1, None) == [9, 2]
    assert j.get("arr", "$.a") == [["first", None, 0, 1, 2, 3, 1, {"o": 1}, "x"]]
    assert j.arrpop("arr", "$.a") == ['"x"']
    # redis-py decodes a legacy path's popped JSON, not a `$` path's (except null).
    assert j.arrpop("arr", ".a", 0) == "first"
    assert j.arrpop("arr", "$..a", 100) == ['{"o":1}', None]
    assert j.arrpop("arr", "$.t") == [None]
    assert j.arrtrim("arr", "$.a", 1, 3) == [3]
    assert j.arrtrim("arr", ".a", 0, 0) == 1
    assert j.arrtrim("arr", "$.b.a", 1, 0) == [0]
    assert j.get("arr") == {"a": [0], "b": {"a": []}, "t": True}
    assert j.arrpop("arr", "$.b.a") == [None]


def test_array_command_errors(r):
    j = r.json()
    j.set("arr", "$", {"a": [1], "t": True})
    r.set("str", "v")
    with pytest.raises(redis.ResponseError, match="index out of bounds"):
        j.arrinsert("arr", ".a", 5, 1)
    with pytest.raises(redis.ResponseError, match=r"Path '\$.t' does not exist or not an array"):
        j.arrpop("arr", ".t")
    with pytest.raises(redis.ResponseError, match="expected array but found boolean"):
        j.arrindex("arr", ".t", 1)
    with pytest.raises(redis.ResponseError, match=r"Path '\.zz' does not exist"):
        j.arrindex("missing", ".zz", 1)
    with pytest.raises(redis.ResponseError, match="doesn't exist"):
        j.arrpop("missing")
    with pytest.raises(redis.ResponseError, match="doesn't exist"):
        j.arrtrim("missing", "$", 0, 1)
    with pytest.raises(redis.ResponseError, match="Couldn't parse as integer"):
        r.execute_command("JSON.ARRTRIM", "arr", "$.a", "x", "1")
    with pytest.raises(redis.ResponseError, match="Existing key has wrong Redis type"):
        j.arrinsert("str", "$", 0, 1)
    assert j.get("arr") == {"a": [1], "t": True}


def test_clear_toggle_merge(r):
    j = r.json()
    j.set("e", "$", {"a": [1], "o": {"x": 1}, "n": 2.5, "s": "str", "t": False, "in": {"t": True}})
    assert j.toggle("e", "$.t") == [1]
    assert j.toggle("e", "$..t") == [0, 0]
    assert j.toggle("e", "$.s") == [None]
    assert j.clear("e", "$.a") == 1
    assert j.clear("e", "$.*") == 3
    assert j.get("e") == {"a": [], "o": {}, "n": 0, "s": "str", "t": False, "in": {}}
    assert j.clear("e") == 1
    assert j.get("e") == {}
    with pytest.raises(redis.ResponseError, match="doesn't exist"):
        j.clear("missing")
    with pytest.raises(redis.ResponseError, match="doesn't exist"):
        j.toggle("missing", "$")
    j.set("m", "$", {"a": {"b": 1, "c": [1, 2]}, "d": "x"})
    assert j.merge("m", "$", {"a": {"b": None, "e": {"f": None, "g": 1}}, "h": [None]}) is True
    assert j.get("m") == {"a": {"c": [1, 2], "e": {"g": 1}}, "d": "x", "h": [None]}
    # Where nothing matched the patch is set as given, nulls included.
    assert j.merge("m", "$.new", {"p": None, "r": 2}) is True
    assert j.merge("m", "$..g", 3) is True
    assert j.get("m", "$.new", "$.a.e") == {"$.new": [{"p": None, "r": 2}], "$.a.e": [{"g": 3}]}
    assert j.merge("m", "$.x.y", 1) is None
    # A new key too; merging the same patch again then removes the nulls (the last member
    # moves into the removed one's place, as in RedisJSON).
    assert j.merge("fresh", "$", {"a": None, "b": {"c": None}, "d": 1}) is True
    assert j.get("fresh") == {"a": None, "b": {"c": None}, "d": 1}
    assert j.merge("fresh", "$", {"a": None, "b": {"c": None}, "d": 1}) is True
    assert j.get("fresh") == {"d": 1, "b": {}}
    with pytest.raises(redis.ResponseError, match="new objects must be created at the root"):
        j.merge("missing", "$.a", 1)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("JSON.MERGE", "m", "$", "1", "extra")


def test_legacy_toggle_replies_text(engram, engram3):
    # The reply is the bulk string "true" / "false"; redis-py turns it into a bool.
    for c in (engram, engram3):
        c.json().set("t", "$", {"t": False})
        assert c.execute_command("JSON.TOGGLE", "t", ".t") is True
        assert c.json().toggle("t", ".t") is False


def test_resp_and_debug(r):
    j = r.json()
    j.set("rs", "$", {"a": [1, -2, 3.5, "x", True, None], "o": {"k": {}}})
    resp3 = r.connection_pool.connection_kwargs.get("protocol") == 3
    # A double is a bulk string in RESP2 and a RESP3 double.
    assert j.resp("rs", ".a") == ["[", 1, -2, 3.5 if resp3 else "3.5", "x", "true", None]
    assert j.resp("rs", "$.o") == [["{", "k", ["{"]]]
    assert j.resp("missing") is None
    assert j.debug("MEMORY", "rs", "$.o") == [129]
    assert j.debug("MEMORY", "rs", ".o") == 129
    assert j.debug("MEMORY", "missing", "$") == []
    assert j.debug("MEMORY", "missing", ".") == 0
    assert j.debug("HELP") == ["MEMORY <key> [path] - reports memory usage", "HELP                - this message"]
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("JSON.DEBUG", "FOO")
