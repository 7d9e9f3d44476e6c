"""Service limits (reference 5.1): key sizes, value sizes, column counts, request sizes."""

from tablestore import (
    CapacityUnit,
    Condition,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableMeta,
    TableOptions,
)

from sdk_helpers import attrs_latest, expect_error

IGNORE = Condition(RowExistenceExpectation.IGNORE)
MB = 1024 * 1024


def test_string_pk_1024_ok_1025_rejected(client, new_table):
    t = new_table([("k", "STRING")])
    ok = "k" * 1024
    client.put_row(t, Row([("k", ok)], [("v", 1)]), IGNORE)
    _, row, _ = client.get_row(t, [("k", ok)])
    assert row.primary_key == [("k", ok)]
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(t, Row([("k", "k" * 1025)], [("v", 1)]), IGNORE)


def test_string_pk_limit_counts_utf8_bytes(client, new_table):
    t = new_table([("k", "STRING")])
    too_long = "中" * 342  # 1026 bytes, 342 characters
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(t, Row([("k", too_long)], [("v", 1)]), IGNORE)


def test_binary_pk_1025_rejected(client, new_table):
    t = new_table([("k", "BINARY")])
    client.put_row(t, Row([("k", bytearray(b"\xab" * 1024))], [("v", 1)]), IGNORE)
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(t, Row([("k", bytearray(b"\xab" * 1025))], [("v", 1)]), IGNORE)


def test_table_name_256_rejected(client):
    with expect_error(400, "OTSParameterInvalid"):
        client.create_table(TableMeta("T" * 256, [("id", "INTEGER")]), TableOptions(),
                            ReservedThroughput(CapacityUnit(0, 0)))


def test_string_value_2mb_ok_larger_rejected(client, simple_table):
    big = "s" * (2 * MB)
    client.put_row(simple_table, Row([("id", 1)], [("v", big)]), IGNORE)
    _, row, _ = client.get_row(simple_table, [("id", 1)])
    assert attrs_latest(row)["v"] == big
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(simple_table, Row([("id", 2)], [("v", "s" * (2 * MB + 1))]), IGNORE)
    with expect_error(400, "OTSParameterInvalid"):
        client.update_row(simple_table, Row([("id", 2)], {"put": [("v", "s" * (2 * MB + 1))]}),
                          IGNORE)
    assert client.get_row(simple_table, [("id", 2)])[1] is None


def test_binary_value_over_2mb_rejected(client, simple_table):
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(simple_table, Row([("id", 3)], [("v", bytearray(2 * MB + 1))]), IGNORE)


def test_1024_columns_ok_1025_rejected(client, simple_table):
    cols = [("c%04d" % i, i) for i in range(1024)]
    client.put_row(simple_table, Row([("id", 1)], cols), IGNORE)
    _, row, _ = client.get_row(simple_table, [("id", 1)])
    assert len(row.attribute_columns) == 1024
    assert attrs_latest(row)["c1023"] == 1023

    cols = [("c%04d" % i, i) for i in range(1025)]
    with expect_error(400, "OTSParameterInvalid", "OTSOutOfColumnCountLimit"):
        client.put_row(simple_table, Row([("id", 2)], cols), IGNORE)
    with expect_error(400, "OTSParameterInvalid", "OTSOutOfColumnCountLimit"):
        client.update_row(simple_table, Row([("id", 2)], {"put": cols}), IGNORE)
    assert client.get_row(simple_table, [("id", 2)])[1] is None


def test_row_over_4mb_rejected(client, simple_table):
    chunk = "r" * (MB + MB // 2)  # 3 x 1.5 MB = 4.5 MB of data, request body still < 5 MB
    with expect_error(400, "OTSParameterInvalid", "OTSOutOfRowSizeLimit"):
        client.put_row(simple_table, Row([("id", 4)], [("a", chunk), ("b", chunk), ("c", chunk)]),
                       IGNORE)
    assert client.get_row(simple_table, [("id", 4)])[1] is None


def test_request_body_over_5mb_rejected(client, simple_table):
    chunk = "b" * (MB * 19 // 10)  # 3 x 1.9 MB = 5.7 MB body
    with expect_error(413, "OTSRequestBodyTooLarge"):
        client.put_row(simple_table, Row([("id", 5)], [("a", chunk), ("b", chunk), ("c", chunk)]),
                       IGNORE)
    # the server is still healthy afterwards
    client.put_row(simple_table, Row([("id", 5)], [("a", "small")]), IGNORE)
    assert attrs_latest(client.get_row(simple_table, [("id", 5)])[1]) == {"a": "small"}


def test_columns_to_get_over_128_rejected(client, simple_table):
    client.put_row(simple_table, Row([("id", 6)], [("c0", 1)]), IGNORE)
    _, row, _ = client.get_row(simple_table, [("id", 6)],
                               columns_to_get=["c%d" % i for i in range(128)])
    assert attrs_latest(row) == {"c0": 1}
    with expect_error(400, "OTSParameterInvalid"):
        client.get_row(simple_table, [("id", 6)], columns_to_get=["c%d" % i for i in range(129)])


def test_column_name_255_ok(client, simple_table):
    name = "c" * 255
    client.put_row(simple_table, Row([("id", 7)], [(name, 1)]), IGNORE)
    assert attrs_latest(client.get_row(simple_table, [("id", 7)])[1]) == {name: 1}
