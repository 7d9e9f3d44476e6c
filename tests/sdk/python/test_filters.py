"""Column filters on GetRow, GetRange and BatchGetRow."""

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    LogicalOperator,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    BatchWriteRowRequest,
    TableOptions,
)

from sdk_helpers import attrs_latest, now_ms

CT = ComparatorType
LO = LogicalOperator
IGNORE = Condition(RowExistenceExpectation.IGNORE)


def _scc(col, val, cmp=CT.EQUAL, **kw):
    return SingleColumnCondition(col, val, cmp, **kw)


def _composite(op, *subs):
    c = CompositeColumnCondition(op)
    for s in subs:
        c.add_sub_condition(s)
    return c


@pytest.fixture
def twenty(client, simple_table):
    """Rows id 0..19: v=id, tag='even'/'odd'; rows with id % 5 == 0 have no 'tag'."""
    items = []
    for i in range(20):
        cols = [("v", i)]
        if i % 5 != 0:
            cols.append(("tag", "even" if i % 2 == 0 else "odd"))
        items.append(PutRowItem(Row([("id", i)], cols), IGNORE))
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, items))
    assert client.batch_write_row(req).is_all_succeed()
    return simple_table


def _scan_ids(client, table, column_filter, **kw):
    ids = []
    start = [("id", INF_MIN)]
    while start is not None:
        _, start, rows, _ = client.get_range(table, "FORWARD", start, [("id", INF_MAX)],
                                             column_filter=column_filter, **kw)
        ids.extend(r.primary_key[0][1] for r in rows)
    return ids


def test_get_row_single_filter(client, twenty):
    _, row, _ = client.get_row(twenty, [("id", 7)], column_filter=_scc("v", 7))
    assert row is not None and attrs_latest(row)["v"] == 7
    _, row, _ = client.get_row(twenty, [("id", 7)], column_filter=_scc("v", 8))
    assert row is None
    _, row, _ = client.get_row(twenty, [("id", 7)], column_filter=_scc("v", 5, CT.GREATER_THAN))
    assert row is not None


def test_get_row_filter_pass_if_missing(client, twenty):
    # row 5 has no 'tag'
    _, row, _ = client.get_row(twenty, [("id", 5)],
                               column_filter=_scc("tag", "odd", pass_if_missing=True))
    assert row is not None
    _, row, _ = client.get_row(twenty, [("id", 5)],
                               column_filter=_scc("tag", "odd", pass_if_missing=False))
    assert row is None


def test_range_single_filter(client, twenty):
    assert _scan_ids(client, twenty, _scc("v", 15, CT.GREATER_EQUAL)) == [15, 16, 17, 18, 19]
    assert _scan_ids(client, twenty, _scc("v", 3, CT.LESS_THAN)) == [0, 1, 2]
    assert _scan_ids(client, twenty, _scc("v", 4, CT.NOT_EQUAL)) == [i for i in range(20) if i != 4]


def test_range_filter_missing_column(client, twenty):
    # pass_if_missing=True (default): rows without 'tag' pass
    assert _scan_ids(client, twenty, _scc("tag", "even")) == [0, 2, 4, 5, 6, 8, 10, 12, 14, 15,
                                                              16, 18]
    assert _scan_ids(client, twenty, _scc("tag", "even", pass_if_missing=False)) == [
        2, 4, 6, 8, 12, 14, 16, 18]


def test_range_composite_and(client, twenty):
    f = _composite(LO.AND, _scc("v", 10, CT.GREATER_EQUAL),
                   _scc("tag", "even", pass_if_missing=False))
    assert _scan_ids(client, twenty, f) == [12, 14, 16, 18]


def test_range_composite_or(client, twenty):
    f = _composite(LO.OR, _scc("v", 2, CT.LESS_THAN), _scc("v", 17, CT.GREATER_THAN))
    assert _scan_ids(client, twenty, f) == [0, 1, 18, 19]


def test_range_composite_not(client, twenty):
    f = _composite(LO.NOT, _scc("v", 3, CT.GREATER_EQUAL))
    assert _scan_ids(client, twenty, f) == [0, 1, 2]


def test_range_composite_nested(client, twenty):
    f = _composite(
        LO.AND,
        _composite(LO.OR, _scc("tag", "odd", pass_if_missing=False), _scc("v", 0)),
        _composite(LO.NOT, _scc("v", 10, CT.GREATER_THAN)))
    assert _scan_ids(client, twenty, f) == [0, 1, 3, 7, 9]


def test_range_filter_with_limit_pages(client, twenty):
    # filtered-out rows still count as scanned; paging must still reach every match once
    f = _scc("v", 15, CT.GREATER_EQUAL)
    ids = _scan_ids(client, twenty, f, limit=3)
    assert ids == [15, 16, 17, 18, 19]


def test_range_filter_backward(client, twenty):
    f = _scc("tag", "odd", pass_if_missing=False)
    got = []
    start = [("id", INF_MAX)]
    while start is not None:
        _, start, rows, _ = client.get_range(twenty, "BACKWARD", start, [("id", INF_MIN)],
                                             column_filter=f)
        got.extend(r.primary_key[0][1] for r in rows)
    assert got == [19, 17, 13, 11, 9, 7, 3, 1]


def test_batch_get_with_filter(client, twenty):
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(twenty, [[("id", 2)], [("id", 3)], [("id", 4)]],
                                   column_filter=_scc("tag", "even"), max_version=1))
    res = client.batch_get_row(req).get_result_by_table(twenty)
    assert [r.is_ok for r in res] == [True, True, True]
    assert res[0].row is not None and attrs_latest(res[0].row)["v"] == 2
    assert res[1].row is None
    assert res[2].row is not None and attrs_latest(res[2].row)["v"] == 4


def test_filter_latest_version_only(client, new_table):
    table = new_table([("id", "INTEGER")], TableOptions(max_version=3))
    pk = [("id", 1)]
    base = now_ms() - 10000
    client.update_row(table, Row(pk, {"put": [("v", 5, base)]}), IGNORE)
    client.update_row(table, Row(pk, {"put": [("v", 1, base + 1000)]}), IGNORE)

    _, row, _ = client.get_row(table, pk, column_filter=_scc("v", 5, latest_version_only=True))
    assert row is None
    _, row, _ = client.get_row(table, pk, column_filter=_scc("v", 5, latest_version_only=False))
    assert row is not None
    assert attrs_latest(row) == {"v": 1}

    _, _, rows, _ = client.get_range(table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)],
                                     column_filter=_scc("v", 5, latest_version_only=False))
    assert [r.primary_key for r in rows] == [pk]
    _, _, rows, _ = client.get_range(table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)],
                                     column_filter=_scc("v", 5, latest_version_only=True))
    assert rows == []
