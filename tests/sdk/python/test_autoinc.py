"""AUTO_INCREMENT primary key columns."""

import pytest
from tablestore import (
    PK_AUTO_INCR,
    BatchWriteRowRequest,
    ComparatorType,
    Condition,
    PutRowItem,
    ReturnType,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchWriteRowItem,
)

from sdk_helpers import attrs_latest, expect_error

IGNORE = Condition(RowExistenceExpectation.IGNORE)


@pytest.fixture
def auto_table(new_table):
    return new_table([("part", "STRING"), ("seq", "INTEGER", PK_AUTO_INCR)], prefix="ai")


def test_put_returns_generated_pk(client, auto_table):
    _, ret = client.put_row(auto_table, Row([("part", "p1"), ("seq", PK_AUTO_INCR)], [("v", "a")]),
                            IGNORE, ReturnType.RT_PK)
    assert ret is not None
    assert [c[0] for c in ret.primary_key] == ["part", "seq"]
    assert ret.primary_key[0][1] == "p1"
    seq = ret.primary_key[1][1]
    assert type(seq) is int
    _, row, _ = client.get_row(auto_table, ret.primary_key)
    assert row.primary_key == ret.primary_key
    assert attrs_latest(row) == {"v": "a"}


def test_consecutive_values_strictly_increase(client, auto_table):
    seqs = []
    for i in range(10):
        _, ret = client.put_row(auto_table, Row([("part", "same"), ("seq", PK_AUTO_INCR)],
                                                [("i", i)]), IGNORE, ReturnType.RT_PK)
        seqs.append(ret.primary_key[1][1])
    assert all(b > a for a, b in zip(seqs, seqs[1:])), seqs
    assert len(set(seqs)) == 10
    # every generated row exists and holds its own data
    for i, s in enumerate(seqs):
        _, row, _ = client.get_row(auto_table, [("part", "same"), ("seq", s)])
        assert attrs_latest(row) == {"i": i}


def test_values_unique_across_partitions(client, auto_table):
    got = []
    for p in ["a", "b", "a", "c", "b"]:
        _, ret = client.put_row(auto_table, Row([("part", p), ("seq", PK_AUTO_INCR)], [("x", 1)]),
                                IGNORE, ReturnType.RT_PK)
        got.append((p, ret.primary_key[1][1]))
    assert len(set(got)) == 5
    a_vals = [s for p, s in got if p == "a"]
    assert a_vals[1] > a_vals[0]


def test_put_without_return_type_returns_nothing(client, auto_table):
    _, ret = client.put_row(auto_table, Row([("part", "n"), ("seq", PK_AUTO_INCR)], [("x", 1)]),
                            IGNORE)
    assert ret is None


def test_batch_write_auto_increment_return_pk(client, auto_table):
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(auto_table, [
        PutRowItem(Row([("part", "b"), ("seq", PK_AUTO_INCR)], [("i", i)]), IGNORE,
                   ReturnType.RT_PK) for i in range(5)]))
    res = client.batch_write_row(req)
    assert res.is_all_succeed()
    pks = [r.row.primary_key for r in res.get_put_by_table(auto_table)]
    seqs = [pk[1][1] for pk in pks]
    assert all(pk[0] == ("part", "b") for pk in pks)
    assert len(set(seqs)) == 5
    for i, pk in enumerate(pks):
        _, row, _ = client.get_row(auto_table, pk)
        assert attrs_latest(row) == {"i": i}


def test_auto_increment_placeholder_in_read_rejected(client, auto_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.get_row(auto_table, [("part", "x"), ("seq", PK_AUTO_INCR)])


def test_auto_increment_placeholder_in_delete_rejected(client, auto_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.delete_row(auto_table, Row([("part", "x"), ("seq", PK_AUTO_INCR)]), IGNORE)


def test_auto_increment_with_existence_condition_rejected(client, auto_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(auto_table, Row([("part", "x"), ("seq", PK_AUTO_INCR)], [("v", 1)]),
                       Condition(RowExistenceExpectation.EXPECT_NOT_EXIST), ReturnType.RT_PK)


def test_auto_increment_with_column_condition_rejected(client, auto_table):
    cond = Condition(RowExistenceExpectation.IGNORE,
                     SingleColumnCondition("v", 1, ComparatorType.EQUAL))
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(auto_table, Row([("part", "x"), ("seq", PK_AUTO_INCR)], [("v", 1)]), cond)


def test_auto_increment_placeholder_on_normal_column_rejected(client, new_table):
    t = new_table([("part", "STRING"), ("seq", "INTEGER")])
    with expect_error(400, "OTSInvalidPK", "OTSParameterInvalid"):
        client.put_row(t, Row([("part", "x"), ("seq", PK_AUTO_INCR)], [("v", 1)]), IGNORE,
                       ReturnType.RT_PK)
