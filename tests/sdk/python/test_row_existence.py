"""Which rows an UpdateRow leaves: an update that leaves no attribute column leaves no row.

An UpdateRow of only deletes on a missing row writes no row; one that deletes the last
column of a row removes the row. GetRow, BatchGetRow, GetRange and row-existence
conditions all agree. A PutRow of only the primary key still stores a row (test_rows.py).
"""

from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    Condition,
    Row,
    RowExistenceExpectation,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    UpdateRowItem,
)

from sdk_helpers import attrs_latest, expect_error, now_ms

IGNORE = Condition(RowExistenceExpectation.IGNORE)
EXPECT_EXIST = Condition(RowExistenceExpectation.EXPECT_EXIST)
EXPECT_NOT_EXIST = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)


def _get(client, table, pk):
    return client.get_row(table, pk, max_version=1)[1]


def _range_ids(client, table):
    _, next_pk, rows, _ = client.get_range(table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)],
                                           max_version=1)
    assert next_pk is None
    return [row.primary_key[0][1] for row in rows]


def _batch_get(client, table, pk):
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(table, [pk], max_version=1))
    (result,) = client.batch_get_row(req).get_result_by_table(table)
    assert result.is_ok
    return result.row


def test_update_of_only_deletes_on_missing_row_writes_no_row(client, simple_table):
    pk = [("id", 1)]
    client.update_row(simple_table, Row(pk, {"delete_all": ["a", "b"]}), IGNORE)
    client.update_row(simple_table, Row(pk, {"delete": [("c", None, now_ms() - 1000)]}), IGNORE)
    assert _get(client, simple_table, pk) is None
    assert _batch_get(client, simple_table, pk) is None
    assert _range_ids(client, simple_table) == []
    # The row does not exist for conditions either.
    with expect_error(403, "OTSConditionCheckFail"):
        client.update_row(simple_table, Row(pk, {"delete_all": ["a"]}), EXPECT_EXIST)
    client.put_row(simple_table, Row(pk, [("a", 1)]), EXPECT_NOT_EXIST)
    assert attrs_latest(_get(client, simple_table, pk)) == {"a": 1}


def test_batch_update_of_only_deletes_on_missing_row_writes_no_row(client, simple_table):
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, [
        UpdateRowItem(Row([("id", 2)], {"delete_all": ["a"]}), IGNORE),
        UpdateRowItem(Row([("id", 3)], {"delete_all": ["a" + str(i) for i in range(128)]}), IGNORE),
        UpdateRowItem(Row([("id", 4)], {"put": [("kept", True)], "delete_all": ["a"]}), IGNORE),
    ]))
    res = client.batch_write_row(req)
    assert res.is_all_succeed()
    assert [r.index for r in res.get_update_by_table(simple_table)] == [0, 1, 2]
    assert _get(client, simple_table, [("id", 2)]) is None
    assert _get(client, simple_table, [("id", 3)]) is None
    # An update that also puts a column creates its row.
    assert attrs_latest(_get(client, simple_table, [("id", 4)])) == {"kept": True}
    assert _range_ids(client, simple_table) == [4]


def test_deleting_the_last_column_removes_the_row(client, simple_table):
    pk = [("id", 5)]
    client.put_row(simple_table, Row(pk, [("a", 1), ("b", "two")]), IGNORE)
    client.put_row(simple_table, Row([("id", 6)], [("a", 1)]), IGNORE)
    client.update_row(simple_table, Row(pk, {"delete_all": ["a"]}), EXPECT_EXIST)
    assert attrs_latest(_get(client, simple_table, pk)) == {"b": "two"}
    client.update_row(simple_table, Row(pk, {"delete_all": ["b"]}), EXPECT_EXIST)
    assert _get(client, simple_table, pk) is None
    assert _batch_get(client, simple_table, pk) is None
    assert _range_ids(client, simple_table) == [6]
    with expect_error(403, "OTSConditionCheckFail"):
        client.update_row(simple_table, Row(pk, {"put": [("c", 1)]}), EXPECT_EXIST)
    client.put_row(simple_table, Row(pk, [("c", 3)]), EXPECT_NOT_EXIST)
    assert attrs_latest(_get(client, simple_table, pk)) == {"c": 3}


def test_deleting_the_last_version_removes_the_row(client, simple_table):
    pk = [("id", 7)]
    ts = now_ms() - 5000
    client.put_row(simple_table, Row(pk, [("v", "only", ts)]), IGNORE)
    client.update_row(simple_table, Row(pk, {"delete": [("v", None, ts)]}), IGNORE)
    assert _get(client, simple_table, pk) is None
    assert _range_ids(client, simple_table) == []
