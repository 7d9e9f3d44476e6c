"""Single-row APIs: PutRow / GetRow / UpdateRow / DeleteRow, value types, versions, reads."""

import math

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    Condition,
    DeleteRowItem,
    ReturnType,
    Row,
    RowExistenceExpectation,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableOptions,
    UpdateRowItem,
)

from sdk_helpers import attrs_latest, expect_error, now_ms, unique_name, versions

IGNORE = Condition(RowExistenceExpectation.IGNORE)

ROUND_TRIP_VALUES = [
    ("s_empty", ""),
    ("s_ascii", "hello world"),
    ("s_unicode", "中文ü😀"),
    ("s_long", "x" * 10000),
    ("bin", bytearray(b"\x00\xff\x01binary\x7f\x80")),
    ("bin_empty", bytearray(b"")),
    ("b_true", True),
    ("b_false", False),
    ("i_min", -2 ** 63),
    ("i_max", 2 ** 63 - 1),
    ("i_zero", 0),
    ("i_neg", -1),
    ("d_zero", 0.0),
    ("d_negzero", -0.0),
    ("d_big", 1e308),
    ("d_tiny", 5e-324),
    ("d_pi", 3.141592653589793),
    ("d_neg", -2.5),
]


def _same_value(expected, got):
    if isinstance(expected, bool):
        return type(got) is bool and got == expected
    if isinstance(expected, float):
        return (type(got) is float and got == expected
                and math.copysign(1.0, got) == math.copysign(1.0, expected))
    if isinstance(expected, bytearray):
        return isinstance(got, (bytes, bytearray)) and bytes(got) == bytes(expected)
    if isinstance(expected, int):
        return type(got) is int and got == expected
    return type(got) is type(expected) and got == expected


def test_put_get_every_value_type(client, simple_table):
    pk = [("id", 1)]
    consumed, ret = client.put_row(simple_table, Row(pk, ROUND_TRIP_VALUES), IGNORE)
    assert ret is None  # no return_type requested
    assert consumed.write >= 1

    consumed, row, _ = client.get_row(simple_table, pk)
    assert consumed.read >= 1
    assert row is not None
    assert row.primary_key == pk
    got = attrs_latest(row)
    assert set(got) == {n for n, _ in ROUND_TRIP_VALUES}
    for name, value in ROUND_TRIP_VALUES:
        assert _same_value(value, got[name]), "%s: sent %r got %r" % (name, value, got[name])


def test_python_bytes_are_sent_as_string(client, simple_table):
    # Python 3 `bytes` is encoded as VT_STRING by the SDK; it must come back as that string.
    client.put_row(simple_table, Row([("id", 1)], [("c", b"abc")]), IGNORE)
    _, row, _ = client.get_row(simple_table, [("id", 1)])
    assert attrs_latest(row) == {"c": "abc"}


def test_attribute_columns_sorted_by_name(client, simple_table):
    client.put_row(simple_table, Row([("id", 7)], [("zeta", 1), ("alpha", 2), ("mid", 3),
                                                   ("Beta", 4), ("_u", 5)]), IGNORE)
    _, row, _ = client.get_row(simple_table, [("id", 7)])
    assert [c[0] for c in row.attribute_columns] == sorted(["zeta", "alpha", "mid", "Beta", "_u"])


def test_primary_key_value_types_roundtrip(client, new_table):
    t = new_table([("s", "STRING"), ("i", "INTEGER"), ("b", "BINARY")])
    keys = [
        [("s", "中文ü😀"), ("i", -2 ** 63), ("b", bytearray(b"\x00\xff"))],
        [("s", "plain"), ("i", 2 ** 63 - 1), ("b", bytearray(b"\xff" * 1024))],
        [("s", "x" * 1024), ("i", 0), ("b", bytearray(b"\x00"))],
    ]
    for n, pk in enumerate(keys):
        client.put_row(t, Row(pk, [("n", n)]), IGNORE)
    for n, pk in enumerate(keys):
        _, row, _ = client.get_row(t, pk)
        assert row is not None, pk
        got_pk = row.primary_key
        assert [c[0] for c in got_pk] == ["s", "i", "b"]
        assert got_pk[0][1] == pk[0][1] and type(got_pk[0][1]) is str
        assert got_pk[1][1] == pk[1][1] and type(got_pk[1][1]) is int
        assert bytes(got_pk[2][1]) == bytes(pk[2][1])
        assert attrs_latest(row) == {"n": n}


def test_get_missing_row_returns_none(client, simple_table):
    consumed, row, _ = client.get_row(simple_table, [("id", 424242)])
    assert row is None
    assert consumed.read >= 1


def test_put_replaces_whole_row(client, simple_table):
    pk = [("id", 2)]
    client.put_row(simple_table, Row(pk, [("a", 1), ("b", "two")]), IGNORE)
    client.put_row(simple_table, Row(pk, [("c", 3.5)]), IGNORE)
    _, row, _ = client.get_row(simple_table, pk, max_version=10)
    assert attrs_latest(row) == {"c": 3.5}
    assert len(row.attribute_columns) == 1


def test_pk_only_put_creates_row(client, simple_table):
    client.put_row(simple_table, Row([("id", 3)], []), IGNORE)
    _, row, _ = client.get_row(simple_table, [("id", 3)])
    assert row is not None
    assert row.primary_key == [("id", 3)]
    assert row.attribute_columns == []


def test_server_assigns_timestamps(client, simple_table):
    before = now_ms()
    client.put_row(simple_table, Row([("id", 4)], [("a", 1)]), IGNORE)
    after = now_ms()
    _, row, _ = client.get_row(simple_table, [("id", 4)])
    ts = row.attribute_columns[0][2]
    assert before - 5000 <= ts <= after + 5000


def test_put_with_return_type_pk(client, new_table):
    t = new_table([("a", "STRING"), ("b", "INTEGER")])
    pk = [("a", "k"), ("b", 9)]
    _, ret = client.put_row(t, Row(pk, [("c", 1)]), IGNORE, ReturnType.RT_PK)
    assert ret is not None
    assert ret.primary_key == pk


def test_update_row_operations(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(max_version=5))
    pk = [("id", 1)]
    base = now_ms() - 10000
    client.put_row(t, Row(pk, [("keep", "k"), ("gone", "g"), ("n", 10), ("v", "old", base)]),
                   IGNORE)
    client.update_row(t, Row(pk, {"put": [("v", "new", base + 1000)]}), IGNORE)
    _, row, _ = client.get_row(t, pk, max_version=5)
    assert versions(row, "v") == [("new", base + 1000), ("old", base)]

    consumed, ret = client.update_row(t, Row(pk, {
        "put": [("added", "yes"), ("keep", "k2")],
        "delete": [("v", None, base)],
        "delete_all": ["gone"],
        "increment": [("n", 5), ("fresh_counter", 3)],
    }), IGNORE)
    assert ret is None
    assert consumed.write >= 1

    _, row, _ = client.get_row(t, pk, max_version=5)
    assert attrs_latest(row) == {"keep": "k2", "added": "yes", "n": 15, "fresh_counter": 3,
                                 "v": "new"}
    assert versions(row, "v") == [("new", base + 1000)]
    assert versions(row, "gone") == []


def test_update_creates_missing_row(client, simple_table):
    pk = [("id", 55)]
    client.update_row(simple_table, Row(pk, {"put": [("a", "x")]}), IGNORE)
    _, row, _ = client.get_row(simple_table, pk)
    assert attrs_latest(row) == {"a": "x"}


def test_increment_accumulates_and_is_int64(client, simple_table):
    pk = [("id", 8)]
    for _ in range(5):
        client.update_row(simple_table, Row(pk, {"increment": [("cnt", 2)]}), IGNORE)
    client.update_row(simple_table, Row(pk, {"increment": [("cnt", -3)]}), IGNORE)
    _, row, _ = client.get_row(simple_table, pk)
    assert attrs_latest(row) == {"cnt": 7}


def test_increment_non_integer_column_rejected(client, simple_table):
    pk = [("id", 9)]
    client.put_row(simple_table, Row(pk, [("s", "text")]), IGNORE)
    with expect_error(400, "OTSParameterInvalid"):
        client.update_row(simple_table, Row(pk, {"increment": [("s", 1)]}), IGNORE)
    _, row, _ = client.get_row(simple_table, pk)
    assert attrs_latest(row) == {"s": "text"}


def test_delete_row(client, simple_table):
    pk = [("id", 10)]
    client.put_row(simple_table, Row(pk, [("a", 1)]), IGNORE)
    consumed, ret = client.delete_row(simple_table, Row(pk), IGNORE)
    assert ret is None
    assert consumed.write >= 1
    _, row, _ = client.get_row(simple_table, pk)
    assert row is None
    # deleting a row that does not exist with IGNORE succeeds
    client.delete_row(simple_table, Row(pk), IGNORE)
    client.delete_row(simple_table, Row([("id", 99999)]), IGNORE)


def test_delete_then_put_does_not_resurrect_old_columns(client, simple_table):
    pk = [("id", 11)]
    client.put_row(simple_table, Row(pk, [("a", 1), ("b", 2)]), IGNORE)
    client.delete_row(simple_table, Row(pk), IGNORE)
    client.update_row(simple_table, Row(pk, {"put": [("c", 3)]}), IGNORE)
    _, row, _ = client.get_row(simple_table, pk, max_version=10)
    assert attrs_latest(row) == {"c": 3}


# ----------------------------------------------------------------------------- versions

@pytest.fixture
def versioned(client, new_table):
    """Table with max_versions=5 and one row holding 4 versions of column 'v'."""
    t = new_table([("id", "INTEGER")], TableOptions(max_version=5))
    base = now_ms() - 60000
    ts = [base + 1000 * i for i in range(4)]  # ascending
    pk = [("id", 1)]
    for i, t_ in enumerate(ts):
        client.update_row(t, Row(pk, {"put": [("v", "v%d" % i, t_)]}), IGNORE)
    client.update_row(t, Row(pk, {"put": [("other", 1, ts[1])]}), IGNORE)
    return t, pk, ts


def test_multiple_versions_newest_first(client, versioned):
    t, pk, ts = versioned
    _, row, _ = client.get_row(t, pk, max_version=10)
    assert versions(row, "v") == [("v3", ts[3]), ("v2", ts[2]), ("v1", ts[1]), ("v0", ts[0])]
    assert versions(row, "other") == [(1, ts[1])]


def test_max_version_read(client, versioned):
    t, pk, ts = versioned
    _, row, _ = client.get_row(t, pk, max_version=2)
    assert versions(row, "v") == [("v3", ts[3]), ("v2", ts[2])]
    _, row, _ = client.get_row(t, pk, max_version=1)
    assert versions(row, "v") == [("v3", ts[3])]


def test_time_range_read(client, versioned):
    t, pk, ts = versioned
    # [start, end): ts[1] and ts[2], not ts[3]
    _, row, _ = client.get_row(t, pk, columns_to_get=["v"], max_version=None,
                               time_range=(ts[1], ts[3]))
    assert versions(row, "v") == [("v2", ts[2]), ("v1", ts[1])]


def test_time_range_with_max_version(client, versioned):
    t, pk, ts = versioned
    _, row, _ = client.get_row(t, pk, columns_to_get=["v"], max_version=1,
                               time_range=(ts[0], ts[3] + 1))
    assert versions(row, "v") == [("v3", ts[3])]


def test_specific_time_read(client, versioned):
    t, pk, ts = versioned
    _, row, _ = client.get_row(t, pk, max_version=None, time_range=ts[2])
    assert versions(row, "v") == [("v2", ts[2])]
    assert versions(row, "other") == []


def test_delete_one_version(client, versioned):
    t, pk, ts = versioned
    client.update_row(t, Row(pk, {"delete": [("v", None, ts[1])]}), IGNORE)
    _, row, _ = client.get_row(t, pk, max_version=10)
    assert versions(row, "v") == [("v3", ts[3]), ("v2", ts[2]), ("v0", ts[0])]


def test_put_same_timestamp_overwrites_version(client, versioned):
    t, pk, ts = versioned
    client.update_row(t, Row(pk, {"put": [("v", "replaced", ts[2])]}), IGNORE)
    _, row, _ = client.get_row(t, pk, max_version=10)
    assert versions(row, "v") == [("v3", ts[3]), ("replaced", ts[2]), ("v1", ts[1]),
                                  ("v0", ts[0])]


def test_max_versions_limits_stored_versions(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(max_version=2))
    pk = [("id", 1)]
    base = now_ms() - 30000
    for i in range(4):
        client.update_row(t, Row(pk, {"put": [("v", i, base + i * 1000)]}), IGNORE)
    _, row, _ = client.get_row(t, pk, max_version=10)
    assert versions(row, "v") == [(3, base + 3000), (2, base + 2000)]
    # older versions are not visible through a time range either
    _, row, _ = client.get_row(t, pk, max_version=None, time_range=(base, base + 2000))
    assert versions(row, "v") == []


def test_explicit_timestamp_outside_deviation_rejected(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(max_time_deviation=3600))
    pk = [("id", 1)]
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(t, Row(pk, [("a", 1, now_ms() - 2 * 3600 * 1000)]), IGNORE)
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(t, Row(pk, [("a", 1, now_ms() + 2 * 3600 * 1000)]), IGNORE)
    with expect_error(400, "OTSParameterInvalid"):
        client.update_row(t, Row(pk, {"put": [("a", 1, now_ms() - 2 * 3600 * 1000)]}), IGNORE)
    _, row, _ = client.get_row(t, pk)
    assert row is None
    ok_ts = now_ms() - 1800 * 1000
    client.put_row(t, Row(pk, [("a", 1, ok_ts)]), IGNORE)
    _, row, _ = client.get_row(t, pk)
    assert versions(row, "a") == [(1, ok_ts)]


def test_default_deviation_is_one_day(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(simple_table, Row([("id", 1)], [("a", 1, now_ms() - 2 * 86400 * 1000)]),
                       IGNORE)
    ts = now_ms() - 3600 * 1000
    client.put_row(simple_table, Row([("id", 1)], [("a", 1, ts)]), IGNORE)
    _, row, _ = client.get_row(simple_table, [("id", 1)])
    assert versions(row, "a") == [(1, ts)]


# ----------------------------------------------------------------------------- projections

def test_columns_to_get(client, simple_table):
    pk = [("id", 20)]
    client.put_row(simple_table, Row(pk, [("a", 1), ("b", 2), ("c", 3)]), IGNORE)
    _, row, _ = client.get_row(simple_table, pk, columns_to_get=["a", "c"])
    assert row.primary_key == pk
    assert attrs_latest(row) == {"a": 1, "c": 3}
    _, row, _ = client.get_row(simple_table, pk, columns_to_get=["c", "nope"])
    assert attrs_latest(row) == {"c": 3}


def test_columns_to_get_none_present_means_no_row(client, simple_table):
    pk = [("id", 21)]
    client.put_row(simple_table, Row(pk, [("a", 1)]), IGNORE)
    _, row, _ = client.get_row(simple_table, pk, columns_to_get=["missing"])
    assert row is None


def test_start_end_column(client, simple_table):
    pk = [("id", 22)]
    client.put_row(simple_table, Row(pk, [(c, i) for i, c in enumerate("abcdef")]), IGNORE)
    _, row, _ = client.get_row(simple_table, pk, start_column="b", end_column="e")
    assert [c[0] for c in row.attribute_columns] == ["b", "c", "d"]
    _, row, _ = client.get_row(simple_table, pk, start_column="d")
    assert [c[0] for c in row.attribute_columns] == ["d", "e", "f"]
    _, row, _ = client.get_row(simple_table, pk, end_column="c")
    assert [c[0] for c in row.attribute_columns] == ["a", "b"]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_double_rejected(client, simple_table, value):
    pk = [("id", 30)]
    # the Python SDK encodes NaN/Inf without complaint; the server must refuse them
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(simple_table, Row(pk, [("d", value)]), IGNORE)
    with expect_error(400, "OTSParameterInvalid"):
        client.update_row(simple_table, Row(pk, {"put": [("d", value)]}), IGNORE)
    _, row, _ = client.get_row(simple_table, pk)
    assert row is None


@pytest.mark.parametrize("bad_pk", [
    [("id", "1")],                      # wrong type
    [("other", 1)],                     # wrong name
    [("id", 1), ("extra", 2)],          # too many
    [],                                 # too few
    [("id", bytearray(b"\x01"))],       # binary for integer
])
def test_primary_key_schema_mismatch(client, simple_table, bad_pk):
    with expect_error(400, "OTSInvalidPK"):
        client.put_row(simple_table, Row(bad_pk, [("a", 1)]), IGNORE)
    with expect_error(400, "OTSInvalidPK"):
        client.get_row(simple_table, bad_pk)


def _all_row_ops_fail(client, table, pk, status, code, message):
    """Every row API refuses `pk` with this error (BatchWriteRow and BatchGetRow per row)."""
    end = [(name, INF_MAX) for name, _ in pk]
    calls = [
        lambda: client.get_row(table, pk),
        lambda: client.put_row(table, Row(pk, [("col", 1)]), IGNORE),
        lambda: client.update_row(table, Row(pk, {"put": [("c1", "v")]}), IGNORE),
        lambda: client.delete_row(table, Row(pk), IGNORE),
        lambda: client.get_range(table, "FORWARD", pk, end),
    ]
    for call in calls:
        with expect_error(status, code) as ei:
            call()
        assert ei.value.get_error_message() == message
    req = BatchGetRowRequest()
    req.add(TableInBatchGetRowItem(table, [pk], max_version=1))
    (got,) = client.batch_get_row(req).get_result_by_table(table)
    assert (got.is_ok, got.error_code, got.error_message) == (False, code, message)
    req = BatchWriteRowRequest()
    req.add(TableInBatchWriteRowItem(table, [UpdateRowItem(Row(pk, {"put": [("c1", "v")]}), IGNORE),
                                             DeleteRowItem(Row(pk), IGNORE)]))
    res = client.batch_write_row(req)
    for item in res.get_update_by_table(table) + res.get_delete_by_table(table):
        assert (item.is_ok, item.error_code, item.error_message) == (False, code, message)


ONE_PK = [("PK1", "STRING")]
TWO_PK = [("PK1", "STRING"), ("PK2", "INTEGER")]


@pytest.mark.parametrize("schema, bad_pk, message", [
    (ONE_PK, [("PK2", "blah")], "Validate PK name fail. Input: PK2, Meta: PK1."),
    (ONE_PK, [("PK2", 123)], "Validate PK name fail. Input: PK2, Meta: PK1."),
    (TWO_PK, [("PK1", "blah")], "Validate PK size fail. Input: 1, Meta: 2."),
    (TWO_PK, [("PK1", "blah"), ("PK2", 123), ("PK3", "blah")], "Validate PK size fail. Input: 3, Meta: 2."),
    (TWO_PK, [("PK2", 123), ("PK1", "blah")], "Validate PK name fail. Input: PK2, Meta: PK1."),
    (TWO_PK, [("PK1", 7), ("PK2", 123)], "Validate PK type fail. Input: VT_INTEGER, Meta: VT_STRING."),
    (TWO_PK, [("PK1", "a"), ("PK2", bytearray(b"x"))], "Validate PK type fail. Input: VT_BLOB, Meta: VT_INTEGER."),
])
def test_primary_key_mismatch_messages(client, new_table, schema, bad_pk, message):
    _all_row_ops_fail(client, new_table(schema), bad_pk, 400, "OTSInvalidPK", message)


def test_boolean_primary_key_value_rejected(client, new_table):
    t = new_table([("PK1", "STRING")])
    message = "BOOLEAN is an invalid type for the primary key."
    for call in [
        lambda: client.get_row(t, [("PK1", True)]),
        lambda: client.put_row(t, Row([("PK1", True)], [("col", 1)]), IGNORE),
        lambda: client.update_row(t, Row([("PK1", False)], {"put": [("c1", "v")]}), IGNORE),
        lambda: client.delete_row(t, Row([("PK1", True)]), IGNORE),
    ]:
        with expect_error(400, "OTSParameterInvalid") as ei:
            call()
        assert ei.value.get_error_message() == message
    assert client.get_range(t, "FORWARD", [("PK1", INF_MIN)], [("PK1", INF_MAX)])[2] == []


def test_primary_key_order_mismatch(client, new_table):
    t = new_table([("a", "STRING"), ("b", "INTEGER")])
    with expect_error(400, "OTSInvalidPK"):
        client.put_row(t, Row([("b", 1), ("a", "x")], [("c", 1)]), IGNORE)


def test_attribute_named_like_primary_key_rejected(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(simple_table, Row([("id", 1)], [("id", 5)]), IGNORE)


@pytest.mark.parametrize("bad", ["bad-name", "1abc", "中文", "a" * 256])
def test_invalid_attribute_column_name(client, simple_table, bad):
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(simple_table, Row([("id", 1)], [(bad, 5)]), IGNORE)


def test_max_version_zero_rejected(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.get_row(simple_table, [("id", 1)], max_version=0)


def test_inverted_time_range_rejected(client, simple_table):
    t = now_ms()
    with expect_error(400, "OTSParameterInvalid"):
        client.get_row(simple_table, [("id", 1)], max_version=None, time_range=(t, t - 1000))


def test_row_ops_on_missing_table(client):
    missing = unique_name("nosuch")
    pk = [("id", 1)]
    with expect_error(404, "OTSObjectNotExist"):
        client.put_row(missing, Row(pk, [("a", 1)]), IGNORE)
    with expect_error(404, "OTSObjectNotExist"):
        client.get_row(missing, pk)
    with expect_error(404, "OTSObjectNotExist"):
        client.update_row(missing, Row(pk, {"put": [("a", 1)]}), IGNORE)
    with expect_error(404, "OTSObjectNotExist"):
        client.delete_row(missing, Row(pk), IGNORE)
