"""Conditional writes: row existence expectations and column conditions."""

import pytest
from tablestore import (
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    LogicalOperator,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableOptions,
)

from sdk_helpers import attrs_latest, expect_error, now_ms

IGNORE = RowExistenceExpectation.IGNORE
EXPECT_EXIST = RowExistenceExpectation.EXPECT_EXIST
EXPECT_NOT_EXIST = RowExistenceExpectation.EXPECT_NOT_EXIST
CT = ComparatorType
LO = LogicalOperator


def _get(client, table, pk, **kw):
    return client.get_row(table, pk, **kw)[1]


# ----------------------------------------------------------------------------- row existence

def test_put_expect_not_exist(client, simple_table):
    pk = [("id", 1)]
    client.put_row(simple_table, Row(pk, [("v", "first")]), Condition(EXPECT_NOT_EXIST))
    with expect_error(403, "OTSConditionCheckFail"):
        client.put_row(simple_table, Row(pk, [("v", "second")]), Condition(EXPECT_NOT_EXIST))
    assert attrs_latest(_get(client, simple_table, pk)) == {"v": "first"}


def test_expect_exist_on_missing_row_fails(client, simple_table):
    pk = [("id", 2)]
    with expect_error(403, "OTSConditionCheckFail"):
        client.put_row(simple_table, Row(pk, [("v", 1)]), Condition(EXPECT_EXIST))
    with expect_error(403, "OTSConditionCheckFail"):
        client.update_row(simple_table, Row(pk, {"put": [("v", 1)]}), Condition(EXPECT_EXIST))
    with expect_error(403, "OTSConditionCheckFail"):
        client.delete_row(simple_table, Row(pk), Condition(EXPECT_EXIST))
    assert _get(client, simple_table, pk) is None


def test_expect_exist_on_existing_row_succeeds(client, simple_table):
    pk = [("id", 3)]
    client.put_row(simple_table, Row(pk, [("v", 1)]), Condition(IGNORE))
    client.put_row(simple_table, Row(pk, [("v", 2)]), Condition(EXPECT_EXIST))
    assert attrs_latest(_get(client, simple_table, pk)) == {"v": 2}
    client.update_row(simple_table, Row(pk, {"put": [("w", 3)]}), Condition(EXPECT_EXIST))
    assert attrs_latest(_get(client, simple_table, pk)) == {"v": 2, "w": 3}
    client.delete_row(simple_table, Row(pk), Condition(EXPECT_EXIST))
    assert _get(client, simple_table, pk) is None


def test_update_expect_not_exist(client, simple_table):
    pk = [("id", 4)]
    client.update_row(simple_table, Row(pk, {"put": [("v", 1)]}), Condition(EXPECT_NOT_EXIST))
    with expect_error(403, "OTSConditionCheckFail"):
        client.update_row(simple_table, Row(pk, {"put": [("v", 2)]}), Condition(EXPECT_NOT_EXIST))
    assert attrs_latest(_get(client, simple_table, pk)) == {"v": 1}


def test_pk_only_row_exists_for_conditions(client, simple_table):
    pk = [("id", 5)]
    client.put_row(simple_table, Row(pk, []), Condition(IGNORE))
    with expect_error(403, "OTSConditionCheckFail"):
        client.put_row(simple_table, Row(pk, [("v", 1)]), Condition(EXPECT_NOT_EXIST))
    client.update_row(simple_table, Row(pk, {"put": [("v", 1)]}), Condition(EXPECT_EXIST))


def test_deleted_row_no_longer_exists_for_conditions(client, simple_table):
    pk = [("id", 6)]
    client.put_row(simple_table, Row(pk, [("v", 1)]), Condition(IGNORE))
    client.delete_row(simple_table, Row(pk), Condition(IGNORE))
    with expect_error(403, "OTSConditionCheckFail"):
        client.update_row(simple_table, Row(pk, {"put": [("v", 2)]}), Condition(EXPECT_EXIST))
    client.put_row(simple_table, Row(pk, [("v", 3)]), Condition(EXPECT_NOT_EXIST))
    assert attrs_latest(_get(client, simple_table, pk)) == {"v": 3}


# ----------------------------------------------------------------------------- column conditions

@pytest.fixture
def fruit(client, simple_table):
    pk = [("id", 100)]
    client.put_row(simple_table, Row(pk, [
        ("price", 100), ("name", "apple"), ("ratio", 1.5), ("fresh", True),
        ("code", bytearray(b"\x01\x02")),
    ]), Condition(IGNORE))
    return simple_table, pk


SINGLE_CASES = [
    ("price", 100, CT.EQUAL, True),
    ("price", 99, CT.EQUAL, False),
    ("price", 99, CT.NOT_EQUAL, True),
    ("price", 100, CT.NOT_EQUAL, False),
    ("price", 99, CT.GREATER_THAN, True),
    ("price", 100, CT.GREATER_THAN, False),
    ("price", 100, CT.GREATER_EQUAL, True),
    ("price", 101, CT.GREATER_EQUAL, False),
    ("price", 101, CT.LESS_THAN, True),
    ("price", 100, CT.LESS_THAN, False),
    ("price", 100, CT.LESS_EQUAL, True),
    ("price", 99, CT.LESS_EQUAL, False),
    ("price", -2 ** 63, CT.GREATER_THAN, True),
    ("name", "apple", CT.EQUAL, True),
    ("name", "aardvark", CT.GREATER_THAN, True),
    ("name", "banana", CT.LESS_THAN, True),
    ("name", "b", CT.GREATER_EQUAL, False),
    ("ratio", 1.5, CT.EQUAL, True),
    ("ratio", 1.0, CT.GREATER_THAN, True),
    ("ratio", 2.0, CT.GREATER_THAN, False),
    ("fresh", True, CT.EQUAL, True),
    ("fresh", False, CT.EQUAL, False),
    ("code", bytearray(b"\x01\x02"), CT.EQUAL, True),
    ("code", bytearray(b"\x01\x03"), CT.LESS_THAN, True),
    ("code", bytearray(b"\x01"), CT.LESS_EQUAL, False),
]


@pytest.mark.parametrize("column,value,comparator,passes", SINGLE_CASES)
def test_single_column_condition_on_update(client, fruit, column, value, comparator, passes):
    table, pk = fruit
    cond = Condition(IGNORE, SingleColumnCondition(column, value, comparator))
    change = Row(pk, {"put": [("touched", 1)]})
    if passes:
        client.update_row(table, change, cond)
        assert attrs_latest(_get(client, table, pk)).get("touched") == 1
    else:
        with expect_error(403, "OTSConditionCheckFail"):
            client.update_row(table, change, cond)
        assert "touched" not in attrs_latest(_get(client, table, pk))


def test_column_condition_on_put_and_delete(client, fruit):
    table, pk = fruit
    failing = Condition(EXPECT_EXIST, SingleColumnCondition("price", 1, CT.EQUAL))
    with expect_error(403, "OTSConditionCheckFail"):
        client.put_row(table, Row(pk, [("price", 1)]), failing)
    with expect_error(403, "OTSConditionCheckFail"):
        client.delete_row(table, Row(pk), failing)
    assert attrs_latest(_get(client, table, pk))["price"] == 100

    client.put_row(table, Row(pk, [("price", 1)]),
                   Condition(EXPECT_EXIST, SingleColumnCondition("price", 100, CT.EQUAL)))
    assert attrs_latest(_get(client, table, pk)) == {"price": 1}
    client.delete_row(table, Row(pk), Condition(EXPECT_EXIST,
                                                SingleColumnCondition("price", 1, CT.EQUAL)))
    assert _get(client, table, pk) is None


def _composite(op, *subs):
    c = CompositeColumnCondition(op)
    for s in subs:
        c.add_sub_condition(s)
    return c


def _scc(col, val, cmp=CT.EQUAL, **kw):
    return SingleColumnCondition(col, val, cmp, **kw)


COMPOSITE_CASES = [
    ("and_true", lambda: _composite(LO.AND, _scc("price", 100), _scc("name", "apple")), True),
    ("and_false", lambda: _composite(LO.AND, _scc("price", 100), _scc("name", "pear")), False),
    ("or_true", lambda: _composite(LO.OR, _scc("price", 1), _scc("name", "apple")), True),
    ("or_false", lambda: _composite(LO.OR, _scc("price", 1), _scc("name", "pear")), False),
    ("not_true", lambda: _composite(LO.NOT, _scc("price", 1)), True),
    ("not_false", lambda: _composite(LO.NOT, _scc("price", 100)), False),
    ("nested_true", lambda: _composite(
        LO.AND,
        _composite(LO.OR, _scc("price", 1), _scc("ratio", 1.0, CT.GREATER_THAN)),
        _composite(LO.NOT, _scc("name", "pear")),
        _scc("fresh", True)), True),
    ("nested_false", lambda: _composite(
        LO.OR,
        _composite(LO.AND, _scc("price", 100), _scc("fresh", False)),
        _composite(LO.NOT, _composite(LO.OR, _scc("name", "apple"), _scc("price", 5)))), False),
]


@pytest.mark.parametrize("label,make,passes", COMPOSITE_CASES, ids=[c[0] for c in COMPOSITE_CASES])
def test_composite_column_condition(client, fruit, label, make, passes):
    table, pk = fruit
    cond = Condition(EXPECT_EXIST, make())
    change = Row(pk, {"put": [("touched", label)]})
    if passes:
        client.update_row(table, change, cond)
        assert attrs_latest(_get(client, table, pk)).get("touched") == label
    else:
        with expect_error(403, "OTSConditionCheckFail"):
            client.update_row(table, change, cond)
        assert "touched" not in attrs_latest(_get(client, table, pk))


def test_pass_if_missing(client, fruit):
    table, pk = fruit
    client.update_row(table, Row(pk, {"put": [("a", 1)]}),
                      Condition(IGNORE, _scc("absent", 5, pass_if_missing=True)))
    with expect_error(403, "OTSConditionCheckFail"):
        client.update_row(table, Row(pk, {"put": [("b", 1)]}),
                          Condition(IGNORE, _scc("absent", 5, pass_if_missing=False)))
    got = attrs_latest(_get(client, table, pk))
    assert got["a"] == 1 and "b" not in got


def test_column_condition_on_missing_row(client, simple_table):
    pk = [("id", 200)]
    # every column of a missing row is missing -> governed by pass_if_missing
    with expect_error(403, "OTSConditionCheckFail"):
        client.put_row(simple_table, Row(pk, [("v", 1)]),
                       Condition(IGNORE, _scc("v", 1, pass_if_missing=False)))
    assert _get(client, simple_table, pk) is None
    client.put_row(simple_table, Row(pk, [("v", 1)]),
                   Condition(IGNORE, _scc("v", 1, pass_if_missing=True)))
    assert attrs_latest(_get(client, simple_table, pk)) == {"v": 1}


def test_condition_latest_version_only(client, new_table):
    table = new_table([("id", "INTEGER")], TableOptions(max_version=3))
    pk = [("id", 1)]
    base = now_ms() - 10000
    client.update_row(table, Row(pk, {"put": [("v", 5, base)]}), Condition(IGNORE))
    client.update_row(table, Row(pk, {"put": [("v", 1, base + 1000)]}), Condition(IGNORE))

    with expect_error(403, "OTSConditionCheckFail"):
        client.update_row(table, Row(pk, {"put": [("x", "latest")]}),
                          Condition(IGNORE, _scc("v", 5, latest_version_only=True)))
    client.update_row(table, Row(pk, {"put": [("x", "any")]}),
                      Condition(IGNORE, _scc("v", 5, latest_version_only=False)))
    assert attrs_latest(_get(client, table, pk))["x"] == "any"
