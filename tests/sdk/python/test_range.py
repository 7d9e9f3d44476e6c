"""GetRange: direction, INF_MIN/INF_MAX, limits, paging over 12,000 rows, PK ordering."""

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    PutRowItem,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)

from sdk_helpers import attrs_latest, expect_error, now_ms, unique_name, versions

IGNORE = Condition(RowExistenceExpectation.IGNORE)
N_ROWS = 12000


def _batch_put(client, table, rows):
    for off in range(0, len(rows), 200):
        req = BatchWriteRowRequest()
        req.add(TableInBatchWriteRowItem(table, [PutRowItem(r, IGNORE) for r in rows[off:off + 200]]))
        res = client.batch_write_row(req)
        assert res.is_all_succeed(), [(r.index, r.error_code, r.error_message)
                                      for r in res.get_failed_of_put()]


@pytest.fixture(scope="module")
def big_table(client):
    name = unique_name("big")
    client.create_table(TableMeta(name, [("id", "INTEGER")]), TableOptions(),
                        ReservedThroughput(CapacityUnit(0, 0)))
    _batch_put(client, name, [Row([("id", i)], [("v", i), ("s", "row-%05d" % i)])
                              for i in range(N_ROWS)])
    yield name
    client.delete_table(name)


def _scan(client, table, direction, start, end, **kw):
    """Page through a range; returns (ids, pages)."""
    ids, pages = [], 0
    while start is not None:
        _, start, rows, _ = client.get_range(table, direction, start, end, **kw)
        pages += 1
        ids.extend(r.primary_key[0][1] for r in rows)
        assert pages < 1000
    return ids, pages


def test_first_page_stops_at_5000_rows(client, big_table):
    consumed, next_pk, rows, _ = client.get_range(big_table, "FORWARD", [("id", INF_MIN)],
                                                  [("id", INF_MAX)])
    assert len(rows) == 5000
    assert [r.primary_key[0][1] for r in rows] == list(range(5000))
    assert next_pk == [("id", 5000)]
    assert consumed.read >= 1
    assert attrs_latest(rows[1234]) == {"v": 1234, "s": "row-01234"}


def test_full_forward_scan_sees_every_row_once(client, big_table):
    ids, pages = _scan(client, big_table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)])
    assert ids == list(range(N_ROWS))
    assert pages >= 3


def test_backward_first_page_and_full_scan(client, big_table):
    _, next_pk, rows, _ = client.get_range(big_table, "BACKWARD", [("id", INF_MAX)],
                                           [("id", INF_MIN)])
    assert len(rows) == 5000
    assert [r.primary_key[0][1] for r in rows] == list(range(N_ROWS - 1, N_ROWS - 5001, -1))
    assert next_pk == [("id", N_ROWS - 5001)]

    ids, _ = _scan(client, big_table, "BACKWARD", [("id", INF_MAX)], [("id", INF_MIN)])
    assert ids == list(range(N_ROWS - 1, -1, -1))


def test_limit_forward_and_backward(client, big_table):
    _, next_pk, rows, _ = client.get_range(big_table, "FORWARD", [("id", 100)], [("id", INF_MAX)],
                                           limit=7)
    assert [r.primary_key[0][1] for r in rows] == list(range(100, 107))
    assert next_pk == [("id", 107)]

    _, next_pk, rows, _ = client.get_range(big_table, "BACKWARD", [("id", 100)],
                                           [("id", INF_MIN)], limit=3)
    assert [r.primary_key[0][1] for r in rows] == [100, 99, 98]
    assert next_pk == [("id", 97)]


def test_paged_scan_with_small_limit(client, big_table):
    ids, pages = _scan(client, big_table, "FORWARD", [("id", 500)], [("id", 1500)], limit=97)
    assert ids == list(range(500, 1500))
    assert pages >= 11


def test_bounded_range_start_inclusive_end_exclusive(client, big_table):
    _, next_pk, rows, _ = client.get_range(big_table, "FORWARD", [("id", 10)], [("id", 20)])
    assert [r.primary_key[0][1] for r in rows] == list(range(10, 20))
    assert next_pk is None
    _, next_pk, rows, _ = client.get_range(big_table, "BACKWARD", [("id", 20)], [("id", 10)])
    assert [r.primary_key[0][1] for r in rows] == list(range(20, 10, -1))
    assert next_pk is None


def test_range_limit_exactly_remaining(client, big_table):
    _, next_pk, rows, _ = client.get_range(big_table, "FORWARD", [("id", N_ROWS - 5)],
                                           [("id", INF_MAX)], limit=5)
    assert [r.primary_key[0][1] for r in rows] == list(range(N_ROWS - 5, N_ROWS))
    # the range may or may not be reported as exhausted, but a follow-up must be empty
    if next_pk is not None:
        _, next_pk2, rows2, _ = client.get_range(big_table, "FORWARD", next_pk, [("id", INF_MAX)])
        assert rows2 == [] and next_pk2 is None


def test_range_columns_to_get(client, big_table):
    _, _, rows, _ = client.get_range(big_table, "FORWARD", [("id", 0)], [("id", 3)],
                                     columns_to_get=["s"])
    assert [(r.primary_key, attrs_latest(r)) for r in rows] == [
        ([("id", i)], {"s": "row-%05d" % i}) for i in range(3)]


def test_range_skips_rows_without_requested_columns(client, simple_table):
    _put_rows(client, simple_table, [Row([("id", 1)], [("a", 1)]),
                                     Row([("id", 2)], [("b", 2)]),
                                     Row([("id", 3)], [("a", 3), ("b", 3)])])
    _, _, rows, _ = client.get_range(simple_table, "FORWARD", [("id", INF_MIN)],
                                     [("id", INF_MAX)], columns_to_get=["a"])
    assert [(r.primary_key[0][1], attrs_latest(r)) for r in rows] == [(1, {"a": 1}), (3, {"a": 3})]


def _put_rows(client, table, rows):
    for r in rows:
        client.put_row(table, r, IGNORE)


def test_empty_range(client, simple_table):
    consumed, next_pk, rows, _ = client.get_range(simple_table, "FORWARD", [("id", INF_MIN)],
                                                  [("id", INF_MAX)])
    assert rows == [] and next_pk is None
    assert consumed.read >= 0


def test_composite_pk_ranges(client, new_table):
    t = new_table([("g", "INTEGER"), ("s", "STRING")])
    _put_rows(client, t, [Row([("g", g), ("s", s)], [("v", "%d%s" % (g, s))])
                          for g in range(3) for s in "abc"])

    def keys(rows):
        return [(r.primary_key[0][1], r.primary_key[1][1]) for r in rows]

    _, _, rows, _ = client.get_range(t, "FORWARD", [("g", 1), ("s", INF_MIN)],
                                     [("g", 2), ("s", INF_MIN)])
    assert keys(rows) == [(1, "a"), (1, "b"), (1, "c")]
    _, _, rows, _ = client.get_range(t, "FORWARD", [("g", 0), ("s", "b")], [("g", 2), ("s", "b")])
    assert keys(rows) == [(0, "b"), (0, "c"), (1, "a"), (1, "b"), (1, "c"), (2, "a")]
    _, _, rows, _ = client.get_range(t, "BACKWARD", [("g", 2), ("s", INF_MAX)],
                                     [("g", 1), ("s", INF_MAX)])
    assert keys(rows) == [(2, "c"), (2, "b"), (2, "a")]
    _, _, rows, _ = client.get_range(t, "FORWARD", [("g", INF_MIN), ("s", INF_MIN)],
                                     [("g", INF_MAX), ("s", INF_MAX)])
    assert len(rows) == 9
    assert attrs_latest(rows[4]) == {"v": "1b"}
    # paging on a composite key returns the full next key
    _, next_pk, rows, _ = client.get_range(t, "FORWARD", [("g", INF_MIN), ("s", INF_MIN)],
                                           [("g", INF_MAX), ("s", INF_MAX)], limit=4)
    assert keys(rows) == [(0, "a"), (0, "b"), (0, "c"), (1, "a")]
    assert next_pk == [("g", 1), ("s", "b")]


def test_pk_ordering_integer_signed(client, simple_table):
    vals = [3, -1, 0, -2 ** 63, 2 ** 63 - 1, -5, 42]
    _put_rows(client, simple_table, [Row([("id", v)], [("x", 1)]) for v in vals])
    _, _, rows, _ = client.get_range(simple_table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)])
    assert [r.primary_key[0][1] for r in rows] == sorted(vals)


def test_pk_ordering_string_bytewise(client, new_table):
    t = new_table([("k", "STRING")])
    vals = ["a", "B", "中", "aa", "Z", "ü", "a0", "😀"]
    _put_rows(client, t, [Row([("k", v)], [("x", 1)]) for v in vals])
    _, _, rows, _ = client.get_range(t, "FORWARD", [("k", INF_MIN)], [("k", INF_MAX)])
    assert [r.primary_key[0][1] for r in rows] == sorted(vals, key=lambda s: s.encode("utf-8"))


def test_pk_ordering_binary_bytewise(client, new_table):
    t = new_table([("k", "BINARY")])
    vals = [b"\x01", b"\x00", b"\xff", b"\x00\x00", b"\x7f\xff", b"\x80"]
    _put_rows(client, t, [Row([("k", bytearray(v))], [("x", 1)]) for v in vals])
    _, _, rows, _ = client.get_range(t, "FORWARD", [("k", INF_MIN)], [("k", INF_MAX)])
    assert [bytes(r.primary_key[0][1]) for r in rows] == sorted(vals)


def test_range_max_version_and_time_range(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(max_version=5))
    base = now_ms() - 60000
    for i in range(2):
        for v in range(3):
            client.update_row(t, Row([("id", i)], {"put": [("c", v, base + v * 1000)]}), IGNORE)
    _, _, rows, _ = client.get_range(t, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)],
                                     max_version=2)
    assert [versions(r, "c") for r in rows] == [[(2, base + 2000), (1, base + 1000)]] * 2
    _, _, rows, _ = client.get_range(t, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)],
                                     max_version=None, time_range=(base, base + 1000))
    assert [versions(r, "c") for r in rows] == [[(0, base)]] * 2


# ----------------------------------------------------------------------------- errors

def test_forward_start_equal_end_rejected(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.get_range(simple_table, "FORWARD", [("id", 5)], [("id", 5)])


def test_forward_start_after_end_rejected(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.get_range(simple_table, "FORWARD", [("id", 10)], [("id", 5)])
    with expect_error(400, "OTSParameterInvalid"):
        client.get_range(simple_table, "FORWARD", [("id", INF_MAX)], [("id", INF_MIN)])


def test_backward_start_before_end_rejected(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.get_range(simple_table, "BACKWARD", [("id", 5)], [("id", 10)])
    with expect_error(400, "OTSParameterInvalid"):
        client.get_range(simple_table, "BACKWARD", [("id", INF_MIN)], [("id", INF_MAX)])


def test_limit_zero_rejected(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.get_range(simple_table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)], limit=0)


def test_range_pk_type_mismatch(client, simple_table):
    with expect_error(400, "OTSInvalidPK", "OTSParameterInvalid"):
        client.get_range(simple_table, "FORWARD", [("id", "a")], [("id", INF_MAX)])


def test_range_on_missing_table(client):
    with expect_error(404, "OTSObjectNotExist"):
        client.get_range(unique_name("nosuch"), "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)])
