"""redis-om object mapping (``HashModel``, ``JsonModel``) against the server, as apps use it.

Indexed fields (``Field(index=True)``: TAG for strings, NUMERIC for numbers, TEXT with
``full_text_search``, SORTABLE), ``Migrator().run()`` creating the indexes, and ``find()``
with ``==``, ``<``, ``>``, ``&``, ``|``, ``~``, ``sort_by``, ``all``, ``count``, ``first``,
``delete``, ``page`` and ``__getitem__``.

The server is chosen as in test_search.py (``ENGRAM_SEARCH_TARGET_PORT=P`` runs against a
reference already listening on P).
"""

from __future__ import annotations

from typing import List, Optional

import pytest

pytest.importorskip("redis_om")

from redis_om import EmbeddedJsonModel, Field, HashModel, JsonModel, Migrator, NotFoundError  # noqa: E402

from test_search import r, target  # noqa: E402,F401 (fixtures)


class Customer(HashModel, index=True):
    first_name: str = Field(index=True)
    last_name: str = Field(index=True)
    email: str = Field(index=True)
    age: int = Field(index=True, sortable=True)
    bio: str = Field(index=True, full_text_search=True, default="")

    class Meta:
        global_key_prefix = "omtest"
        model_key_prefix = "customer"


class Address(EmbeddedJsonModel, index=True):
    city: str = Field(index=True)
    postal_code: str = Field(index=True)


class Order(JsonModel, index=True):
    customer: str = Field(index=True)
    status: str = Field(index=True)
    total: float = Field(index=True, sortable=True)
    items: List[str] = Field(index=True)
    note: str = Field(index=True, full_text_search=True, default="")
    address: Optional[Address] = None

    class Meta:
        global_key_prefix = "omtest"
        model_key_prefix = "order"


# Every model in redis-om's registry, since Migrator().run() visits them all.
MODELS = (Customer, Address, Order)

PEOPLE = [
    # first, last, email, age, bio
    ("Ada", "Lovelace", "ada@example.com", 36, "wrote the first published program"),
    ("Alan", "Turing", "alan@example.com", 41, "defined computability with machines"),
    ("Grace", "Hopper", "grace@example.com", 85, "built the first compiler"),
    ("Edsger", "Dijkstra", "edsger@example.com", 72, "shortest path algorithm and structured programming"),
    ("Barbara", "Liskov", "barbara@example.com", 30, "data abstraction and the substitution principle"),
    ("Alan", "Kay", "kay@example.com", 55, "object oriented programming and the dynabook"),
]

ORDERS = [
    # customer, status, total, items, note, city
    ("ada", "shipped", 120.5, ["disk", "cable"], "fragile parcel, handle with care", "London"),
    ("alan", "pending", 15.0, ["cable"], "leave at the door", "Manchester"),
    ("grace", "shipped", 999.99, ["server", "disk"], "rack mounted server", "Arlington"),
    ("edsger", "cancelled", 42.0, ["book"], "customer changed mind", "Austin"),
    ("barbara", "pending", 250.0, ["server"], "urgent delivery", "Boston"),
]


@pytest.fixture
def om(target):  # noqa: F811
    """Binds the models to the server under test and creates their indexes."""
    client = target.client(decode_responses=True)
    for model in MODELS:
        model._meta.database = client
    Migrator().run()
    customers = [
        Customer(first_name=f, last_name=last, email=e, age=a, bio=b).save()
        for f, last, e, a, b in PEOPLE
    ]
    orders = [
        Order(customer=c, status=s, total=t, items=i, note=n,
              address=Address(city=city, postal_code=f"{c[:2].upper()}1")).save()
        for c, s, t, i, n, city in ORDERS
    ]
    yield client, customers, orders


def names(models) -> list:
    return sorted(m.first_name for m in models)


def test_migrator_creates_one_index_per_model(om):
    client, _, _ = om
    indexes = set(client.execute_command("FT._LIST"))
    assert {"omtest:customer:index", "omtest:order:index"} <= indexes
    info = client.ft("omtest:customer:index").info()
    assert int(info["num_docs"]) == len(PEOPLE)
    info = client.ft("omtest:order:index").info()
    assert int(info["num_docs"]) == len(ORDERS)
    # Running it again with an unchanged schema changes nothing.
    Migrator().run()
    assert int(client.ft("omtest:customer:index").info()["num_docs"]) == len(PEOPLE)


def test_hash_model_get_and_find_by_tag_equality(om):
    _, customers, _ = om
    assert Customer.get(customers[0].pk).email == "ada@example.com"
    assert names(Customer.find(Customer.first_name == "Alan").all()) == ["Alan", "Alan"]
    assert Customer.find(Customer.email == "grace@example.com").first().last_name == "Hopper"
    assert Customer.find(Customer.last_name != "Turing").count() == len(PEOPLE) - 1


def test_hash_model_numeric_comparisons(om):
    assert names(Customer.find(Customer.age < 40).all()) == ["Ada", "Barbara"]
    assert names(Customer.find(Customer.age > 70).all()) == ["Edsger", "Grace"]
    assert names(Customer.find(Customer.age >= 55).all()) == ["Alan", "Edsger", "Grace"]
    assert names(Customer.find(Customer.age <= 36).all()) == ["Ada", "Barbara"]
    assert Customer.find(Customer.age == 41).first().last_name == "Turing"


def test_hash_model_and_or_not(om):
    both = Customer.find((Customer.first_name == "Alan") & (Customer.age > 50)).all()
    assert [c.last_name for c in both] == ["Kay"]
    either = Customer.find((Customer.last_name == "Hopper") | (Customer.age < 35)).all()
    assert names(either) == ["Barbara", "Grace"]
    negated = Customer.find(~(Customer.first_name == "Alan")).all()
    assert names(negated) == ["Ada", "Barbara", "Edsger", "Grace"]
    combined = Customer.find(~(Customer.age > 40) & (Customer.first_name != "Ada")).all()
    assert names(combined) == ["Barbara"]


def test_hash_model_full_text_search(om):
    assert names(Customer.find(Customer.bio % "compiler").all()) == ["Grace"]
    # Stemmed, as RediSearch does: "programming" also finds "program".
    assert names(Customer.find(Customer.bio % "programming").all()) == ["Ada", "Alan", "Edsger"]


def test_hash_model_sort_by_and_first(om):
    ascending = Customer.find().sort_by("age").all()
    assert [c.age for c in ascending] == sorted(p[3] for p in PEOPLE)
    descending = Customer.find(Customer.age > 0).sort_by("-age").all()
    assert [c.age for c in descending] == sorted((p[3] for p in PEOPLE), reverse=True)
    assert Customer.find().sort_by("age").first().first_name == "Barbara"
    assert Customer.find().sort_by("-age").first().first_name == "Grace"
    with pytest.raises(NotFoundError):
        Customer.find(Customer.age > 1000).first()


def test_hash_model_pagination(om):
    query = Customer.find().sort_by("age")
    pages = [query.page(offset=o, limit=2) for o in (0, 2, 4)]
    ages = [c.age for page in pages for c in page]
    assert ages == sorted(p[3] for p in PEOPLE)
    assert query.page(offset=6, limit=2) == []
    # all() fetches every page transparently, whatever the batch size.
    assert len(Customer.find().all(batch_size=2)) == len(PEOPLE)
    assert Customer.find().sort_by("age")[3].first_name == "Alan"


def test_hash_model_update_and_delete(om):
    _, customers, _ = om
    ada = customers[0]
    ada.age = 37
    ada.save()
    assert Customer.find(Customer.age == 37).first().pk == ada.pk
    assert Customer.find(Customer.age == 36).count() == 0
    assert Customer.find(Customer.first_name == "Alan").delete() == 2
    assert Customer.find(Customer.first_name == "Alan").count() == 0
    assert Customer.find().count() == len(PEOPLE) - 2
    Customer.delete(ada.pk)
    with pytest.raises(NotFoundError):
        Customer.get(ada.pk)
    assert Customer.find().count() == len(PEOPLE) - 3


def test_json_model_round_trip_with_embedded_model(om):
    _, _, orders = om
    got = Order.get(orders[0].pk)
    assert got.items == ["disk", "cable"] and got.address.city == "London"
    assert got.total == pytest.approx(120.5)


def test_json_model_find_by_tag_numeric_and_list(om):
    assert sorted(o.customer for o in Order.find(Order.status == "shipped").all()) == ["ada", "grace"]
    assert sorted(o.customer for o in Order.find(Order.total > 100).all()) == ["ada", "barbara", "grace"]
    assert sorted(o.customer for o in Order.find(Order.total < 20).all()) == ["alan"]
    assert sorted(o.customer for o in Order.find(Order.items << ["server"]).all()) == ["barbara", "grace"]
    assert Order.find(Order.address.city == "Boston").first().customer == "barbara"


def test_json_model_boolean_operators_and_full_text(om):
    q = Order.find((Order.status == "pending") & (Order.total > 100))
    assert [o.customer for o in q.all()] == ["barbara"]
    q = Order.find((Order.status == "cancelled") | (Order.total > 500))
    assert sorted(o.customer for o in q.all()) == ["edsger", "grace"]
    q = Order.find(~(Order.status == "shipped"))
    assert sorted(o.customer for o in q.all()) == ["alan", "barbara", "edsger"]
    assert [o.customer for o in Order.find(Order.note % "fragile").all()] == ["ada"]


def test_json_model_sort_count_paginate_delete(om):
    by_total = Order.find().sort_by("-total").all()
    assert [o.customer for o in by_total] == ["grace", "barbara", "ada", "edsger", "alan"]
    assert Order.find(Order.status == "pending").count() == 2
    assert [o.customer for o in Order.find().sort_by("total").page(offset=1, limit=2)] == ["edsger", "ada"]
    assert Order.find().sort_by("total").first().customer == "alan"
    assert Order.find(Order.status == "cancelled").delete() == 1
    assert Order.find().count() == len(ORDERS) - 1


def test_json_model_update_reindexes(om):
    _, _, orders = om
    alan = orders[1]
    alan.update(status="shipped", total=16.5)
    assert sorted(o.customer for o in Order.find(Order.status == "shipped").all()) == ["ada", "alan", "grace"]
    assert Order.find(Order.total == 16.5).first().customer == "alan"
