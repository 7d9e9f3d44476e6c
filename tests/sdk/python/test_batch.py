"""BatchGetRow / BatchWriteRow."""

from tablestore import (
    BatchGetRowRequest,
    BatchWriteRowRequest,
    ComparatorType,
    Condition,
    DeleteRowItem,
    PutRowItem,
    ReturnType,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    UpdateRowItem,
)

from sdk_helpers import attrs_latest, expect_error, unique_name

IGNORE = Condition(RowExistenceExpectation.IGNORE)
EXPECT_EXIST = Condition(RowExistenceExpectation.EXPECT_EXIST)
EXPECT_NOT_EXIST = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)


def _get(client, table, pk):
    return client.get_row(table, pk, max_version=1)[1]


def test_batch_write_mixed_two_tables(client, new_table):
    t1 = new_table([("id", "INTEGER")])
    t2 = new_table([("k", "STRING")])
    client.put_row(t1, Row([("id", 2)], [("a", "to-update"), ("n", 1)]), IGNORE)
    client.put_row(t1, Row([("id", 3)], [("a", "to-delete")]), IGNORE)
    client.put_row(t2, Row([("k", "old")], [("x", 1)]), IGNORE)

    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(t1, [
        PutRowItem(Row([("id", 1)], [("a", "put"), ("d", 2.5)]), IGNORE),
        UpdateRowItem(Row([("id", 2)], {"put": [("b", True)], "increment": [("n", 41)],
                                        "delete_all": ["a"]}), EXPECT_EXIST),
        DeleteRowItem(Row([("id", 3)]), EXPECT_EXIST),
    ]))
    req.add(TableInBatchWriteRowItem(t2, [
        PutRowItem(Row([("k", "new")], [("y", bytearray(b"\x00\x01"))]), EXPECT_NOT_EXIST),
        DeleteRowItem(Row([("k", "old")]), IGNORE),
    ]))
    res = client.batch_write_row(req)
    assert res.is_all_succeed()

    puts = res.get_put_by_table(t1)
    assert len(puts) == 1 and puts[0].is_ok and puts[0].index == 0
    assert puts[0].consumed.write >= 1
    upd = res.get_update_by_table(t1)
    assert len(upd) == 1 and upd[0].is_ok and upd[0].index == 1
    dels = res.get_delete_by_table(t1)
    assert len(dels) == 1 and dels[0].is_ok and dels[0].index == 2
    assert [r.index for r in res.get_put_by_table(t2)] == [0]
    assert [r.index for r in res.get_delete_by_table(t2)] == [1]

    assert attrs_latest(_get(client, t1, [("id", 1)])) == {"a": "put", "d": 2.5}
    assert attrs_latest(_get(client, t1, [("id", 2)])) == {"b": True, "n": 42}
    assert _get(client, t1, [("id", 3)]) is None
    assert attrs_latest(_get(client, t2, [("k", "new")])) == {"y": bytearray(b"\x00\x01")}
    assert _get(client, t2, [("k", "old")]) is None


def test_batch_write_per_row_condition_failure(client, simple_table):
    client.put_row(simple_table, Row([("id", 10)], [("v", "exists")]), IGNORE)
    rows = [
        PutRowItem(Row([("id", 1)], [("v", 1)]), IGNORE),
        PutRowItem(Row([("id", 10)], [("v", "overwritten")]), EXPECT_NOT_EXIST),  # fails
        UpdateRowItem(Row([("id", 11)], {"put": [("v", 2)]}), EXPECT_EXIST),        # fails
        PutRowItem(Row([("id", 2)], [("v", 3)]), IGNORE),
        UpdateRowItem(Row([("id", 10)], {"put": [("w", 4)]}),
                      Condition(RowExistenceExpectation.EXPECT_EXIST,
                                SingleColumnCondition("v", "nope", ComparatorType.EQUAL))),  # fails
        DeleteRowItem(Row([("id", 12)]), IGNORE),
    ]
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, rows))
    res = client.batch_write_row(req)
    assert not res.is_all_succeed()

    puts = res.get_put_by_table(simple_table)
    assert [(r.index, r.is_ok) for r in puts] == [(0, True), (1, False), (3, True)]
    assert puts[1].error_code == "OTSConditionCheckFail"
    assert puts[1].error_message
    upds = res.get_update_by_table(simple_table)
    assert [(r.index, r.is_ok) for r in upds] == [(2, False), (4, False)]
    assert [r.error_code for r in upds] == ["OTSConditionCheckFail", "OTSConditionCheckFail"]
    dels = res.get_delete_by_table(simple_table)
    assert [(r.index, r.is_ok) for r in dels] == [(5, True)]

    assert attrs_latest(_get(client, simple_table, [("id", 1)])) == {"v": 1}
    assert attrs_latest(_get(client, simple_table, [("id", 2)])) == {"v": 3}
    assert attrs_latest(_get(client, simple_table, [("id", 10)])) == {"v": "exists"}
    assert _get(client, simple_table, [("id", 11)]) is None


def test_batch_write_return_pk(client, new_table):
    t = new_table([("a", "STRING"), ("b", "INTEGER")])
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(t, [
        PutRowItem(Row([("a", "x"), ("b", 1)], [("c", 1)]), IGNORE, ReturnType.RT_PK),
        PutRowItem(Row([("a", "y"), ("b", 2)], [("c", 2)]), IGNORE, ReturnType.RT_PK),
    ]))
    res = client.batch_write_row(req)
    puts = res.get_put_by_table(t)
    assert [r.row.primary_key for r in puts] == [[("a", "x"), ("b", 1)], [("a", "y"), ("b", 2)]]


def test_batch_write_200_rows_ok_201_rejected(client, simple_table):
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, [
        PutRowItem(Row([("id", i)], [("v", i)]), IGNORE) for i in range(200)]))
    res = client.batch_write_row(req)
    assert res.is_all_succeed()
    assert len(res.get_put_by_table(simple_table)) == 200

    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, [
        PutRowItem(Row([("id", 1000 + i)], [("v", i)]), IGNORE) for i in range(201)]))
    with expect_error(400, "OTSParameterInvalid"):
        client.batch_write_row(req)
    # nothing from the rejected batch was written
    assert _get(client, simple_table, [("id", 1000)]) is None
    assert _get(client, simple_table, [("id", 1200)]) is None


def test_batch_write_201_rows_across_tables_rejected(client, new_table):
    t1 = new_table([("id", "INTEGER")])
    t2 = new_table([("id", "INTEGER")])
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(t1, [PutRowItem(Row([("id", i)], [("v", i)]), IGNORE)
                                          for i in range(100)]))
    req.add(TableInBatchWriteRowItem(t2, [PutRowItem(Row([("id", i)], [("v", i)]), IGNORE)
                                          for i in range(101)]))
    with expect_error(400, "OTSParameterInvalid"):
        client.batch_write_row(req)


def test_batch_write_missing_table(client, simple_table):
    missing = unique_name("nosuch")
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(missing, [PutRowItem(Row([("id", 1)], [("v", 1)]), IGNORE)]))
    try:
        res = client.batch_write_row(req)
    except Exception as e:  # whole-request failure is acceptable, but it must be a 404
        from tablestore import OTSServiceError
        assert isinstance(e, OTSServiceError), e
        assert (e.get_http_status(), e.get_error_code()) == (404, "OTSObjectNotExist")
        return
    rows = res.get_put_by_table(missing)
    assert len(rows) == 1 and not rows[0].is_ok
    assert rows[0].error_code == "OTSObjectNotExist"


def test_batch_get_hits_misses_and_missing_table(client, new_table):
    t1 = new_table([("id", "INTEGER")])
    t2 = new_table([("k", "STRING")])
    missing = unique_name("nosuch")
    client.put_row(t1, Row([("id", 1)], [("a", 1), ("b", "x")]), IGNORE)
    client.put_row(t1, Row([("id", 3)], [("a", 3)]), IGNORE)
    client.put_row(t2, Row([("k", "z")], [("c", 1.25)]), IGNORE)

    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(t1, [[("id", 1)], [("id", 2)], [("id", 3)]], max_version=1))
    req.add(TableInBatchGetRowItem(t2, [[("k", "z")], [("k", "a")]], columns_to_get=["c"],
                                   max_version=1))
    req.add(TableInBatchGetRowItem(missing, [[("id", 1)]], max_version=1))
    res = client.batch_get_row(req)

    r1 = res.get_result_by_table(t1)
    assert [r.is_ok for r in r1] == [True, True, True]
    assert r1[0].row.primary_key == [("id", 1)]
    assert attrs_latest(r1[0].row) == {"a": 1, "b": "x"}
    assert r1[1].row is None
    assert r1[2].row.primary_key == [("id", 3)]
    assert attrs_latest(r1[2].row) == {"a": 3}
    assert all(r.consumed.read >= 1 for r in r1)

    r2 = res.get_result_by_table(t2)
    assert [r.is_ok for r in r2] == [True, True]
    assert attrs_latest(r2[0].row) == {"c": 1.25}
    assert r2[1].row is None

    r3 = res.get_result_by_table(missing)
    assert len(r3) == 1
    assert r3[0].is_ok is False
    assert r3[0].error_code == "OTSObjectNotExist"
    assert r3[0].error_message


def test_batch_get_over_100_rows_rejected(client, simple_table):
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(simple_table, [[("id", i)] for i in range(101)], max_version=1))
    with expect_error(400, "OTSParameterInvalid"):
        client.batch_get_row(req)
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(simple_table, [[("id", i)] for i in range(100)], max_version=1))
    res = client.batch_get_row(req).get_result_by_table(simple_table)
    assert len(res) == 100 and all(r.is_ok for r in res)


def test_batch_get_preserves_request_order(client, simple_table):
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, [
        PutRowItem(Row([("id", i)], [("v", i * 10)]), IGNORE) for i in range(20)]))
    assert client.batch_write_row(req).is_all_succeed()
    order = [13, 2, 19, 500, 0, 7]
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(simple_table, [[("id", i)] for i in order], max_version=1))
    res = client.batch_get_row(req).get_result_by_table(simple_table)
    got = [None if r.row is None else (r.row.primary_key[0][1], attrs_latest(r.row)["v"])
           for r in res]
    assert got == [(13, 130), (2, 20), (19, 190), None, (0, 0), (7, 70)]


def test_batch_get_pk_mismatch(client, simple_table):
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(simple_table, [[("id", "not-an-int")]], max_version=1))
    try:
        res = client.batch_get_row(req)
    except Exception as e:
        from tablestore import OTSServiceError
        assert isinstance(e, OTSServiceError), e
        assert e.get_http_status() == 400
        assert e.get_error_code() in ("OTSInvalidPK", "OTSParameterInvalid")
        return
    rows = res.get_result_by_table(simple_table)
    assert len(rows) == 1 and rows[0].is_ok is False
    assert rows[0].error_code in ("OTSInvalidPK", "OTSParameterInvalid")


def test_batch_write_table_without_rows_rejected(client, simple_table):
    client.put_row(simple_table, Row([("id", 1)], [("v", 1)]), IGNORE)
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, []))
    with expect_error(400, "OTSParameterInvalid") as ei:
        client.batch_write_row(req)
    assert ei.value.get_error_message() == "No operation is specified for table: '%s'." % simple_table
    # Also beside a table that has rows: the request fails whole, nothing is written.
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, [DeleteRowItem(Row([("id", 1)]), IGNORE)]))
    other = unique_name("none")
    req.add(TableInBatchWriteRowItem(other, []))
    with expect_error(400, "OTSParameterInvalid") as ei:
        client.batch_write_row(req)
    assert ei.value.get_error_message() == "No operation is specified for table: '%s'." % other
    assert attrs_latest(_get(client, simple_table, [("id", 1)])) == {"v": 1}


def test_batch_write_without_tables_rejected(client):
    with expect_error(400, "OTSParameterInvalid") as ei:
        client.batch_write_row(BatchWriteRowRequest())
    assert ei.value.get_error_message() == "No row is specified in BatchWriteRow."


def test_batch_get_table_without_rows_is_an_empty_result(client, new_table):
    t1 = new_table([("id", "INTEGER")])
    t2 = new_table([("id", "INTEGER")])
    client.put_row(t2, Row([("id", 1)], [("v", "one")]), IGNORE)
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(t1, [], max_version=1))
    res = client.batch_get_row(req)
    assert res.is_all_succeed()
    assert res.get_result_by_table(t1) == []
    # Beside a table with rows, each gets its own result.
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(t1, [], max_version=1))
    req.add(TableInBatchGetRowItem(t2, [[("id", 1)]], max_version=1))
    res = client.batch_get_row(req)
    assert res.get_result_by_table(t1) == []
    (hit,) = res.get_result_by_table(t2)
    assert hit.is_ok and attrs_latest(hit.row) == {"v": "one"}


def test_batch_get_without_tables_rejected(client):
    with expect_error(400, "OTSParameterInvalid") as ei:
        client.batch_get_row(BatchGetRowRequest())
    assert ei.value.get_error_message() == "No row specified in the request of BatchGetRow."
