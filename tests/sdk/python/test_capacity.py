"""Consumed capacity units, counted as the service counts them: one unit per 4 KB (4096
bytes) of data, rounded up, at least one. A row's data is its primary key column names
and values plus its attribute column names and values (8 bytes for an INTEGER or
DOUBLE, 1 for a BOOLEAN); cell timestamps are not counted."""

from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    Condition,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableOptions,
)

from sdk_helpers import now_ms

IGNORE = Condition(RowExistenceExpectation.IGNORE)


def _row_of(pk, size):
    """A row of `pk` whose data is `size` bytes: one STRING column 'col0' filling the rest."""
    key_bytes = sum(len(name) + (8 if isinstance(value, int) else len(value)) for name, value in pk)
    return Row(pk, [("col0", "X" * (size - key_bytes - len("col0")))])


def test_a_4090_byte_row_costs_one_unit_to_write_and_to_read(client, simple_table):
    pk = [("id", 1)]
    consumed, _ = client.put_row(simple_table, _row_of(pk, 4090), IGNORE)
    assert (consumed.read, consumed.write) == (0, 1)
    consumed, row, _ = client.get_row(simple_table, pk)
    assert row is not None
    assert (consumed.read, consumed.write) == (1, 0)
    # As in the service's own test: an update of that size costs one write unit.
    consumed, _ = client.update_row(simple_table, Row(pk, {"put": _row_of(pk, 4090).attribute_columns}),
                                    IGNORE)
    assert (consumed.read, consumed.write) == (0, 1)


def test_a_row_over_4096_bytes_costs_two_units(client, simple_table):
    pk = [("id", 2)]
    client.put_row(simple_table, _row_of(pk, 4096), IGNORE)
    assert client.get_row(simple_table, pk)[0].read == 1
    consumed, _ = client.put_row(simple_table, _row_of(pk, 4097), IGNORE)
    assert consumed.write == 2
    assert client.get_row(simple_table, pk)[0].read == 2


def test_every_version_read_counts_and_timestamps_do_not(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(max_version=3))
    pk = [("id", 1)]
    base = now_ms() - 10000
    # Three versions of 1,360 bytes each (name 4 + value 1,356), plus the key's 10 bytes.
    for i in range(3):
        client.update_row(t, Row(pk, {"put": [("col0", "X" * 1356, base + i)]}), IGNORE)
    assert client.get_row(t, pk, max_version=3)[0].read == 1  # 10 + 3 * 1360 = 4090
    client.update_row(t, Row(pk, {"put": [("col1", "Y" * 3)]}), IGNORE)  # + 7 bytes: 4097
    assert client.get_row(t, pk, max_version=3)[0].read == 2
    assert client.get_row(t, pk, max_version=1)[0].read == 1


def test_missing_row_and_batch_get_cost_one_unit_each(client, simple_table):
    client.put_row(simple_table, _row_of([("id", 1)], 4090), IGNORE)
    assert client.get_row(simple_table, [("id", 404)])[0].read == 1
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(simple_table, [[("id", 1)], [("id", 404)]], max_version=1))
    hit, miss = client.batch_get_row(req).get_result_by_table(simple_table)
    assert hit.row is not None and miss.row is None
    assert (hit.consumed.read, miss.consumed.read) == (1, 1)


def test_range_counts_the_data_of_the_rows_it_reads(client, simple_table):
    # Ten rows of 409 bytes: 4,090 together, one unit.
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(simple_table, [
        PutRowItem(_row_of([("id", i)], 409), IGNORE) for i in range(10)]))
    res = client.batch_write_row(req)
    assert [r.consumed.write for r in res.get_put_by_table(simple_table)] == [1] * 10
    consumed, next_pk, rows, _ = client.get_range(simple_table, "FORWARD", [("id", INF_MIN)],
                                                  [("id", INF_MAX)])
    assert len(rows) == 10 and next_pk is None
    assert (consumed.read, consumed.write) == (1, 0)
    # One more row, of 19 bytes (key 10, "c" 1, an INTEGER 8), takes it past 4096.
    client.put_row(simple_table, Row([("id", 10)], [("c", 1)]), IGNORE)
    consumed, _, rows, _ = client.get_range(simple_table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)])
    assert len(rows) == 11
    assert consumed.read == 2
