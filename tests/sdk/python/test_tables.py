"""Table APIs: CreateTable / ListTable / DescribeTable / UpdateTable / DeleteTable."""

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    PK_AUTO_INCR,
    Row,
    CapacityUnit,
    ReservedThroughput,
    TableMeta,
    TableOptions,
)

from sdk_helpers import expect_error, unique_name


def _create(client, name, schema, options=None, reserved=(0, 0)):
    client.create_table(TableMeta(name, schema), options or TableOptions(),
                        ReservedThroughput(CapacityUnit(*reserved)))


def test_create_list_describe_delete(client):
    name = unique_name("tbl")
    _create(client, name, [("id", "INTEGER")])
    try:
        assert name in client.list_table()

        desc = client.describe_table(name)
        assert desc.table_meta.table_name == name
        assert desc.table_meta.schema_of_primary_key == [("id", "INTEGER")]
        # Python's default TableOptions(): ttl -1, max_versions 1, deviation 86400
        assert desc.table_options.time_to_live == -1
        assert desc.table_options.max_version == 1
        assert desc.table_options.max_time_deviation == 86400
        assert desc.table_options.allow_update is True
        assert desc.reserved_throughput_details.capacity_unit.read == 0
        assert desc.reserved_throughput_details.capacity_unit.write == 0
        assert desc.request_id
    finally:
        client.delete_table(name)

    assert name not in client.list_table()
    with expect_error(404, "OTSObjectNotExist"):
        client.describe_table(name)


def test_list_table_returns_tuple_of_all_tables(client):
    names = [unique_name("lst") for _ in range(3)]
    for n in names:
        _create(client, n, [("k", "STRING")])
    try:
        listed = client.list_table()
        assert isinstance(listed, tuple)
        for n in names:
            assert listed.count(n) == 1
    finally:
        for n in names:
            client.delete_table(n)
    listed = client.list_table()
    for n in names:
        assert n not in listed


def test_create_four_pk_columns_all_types_and_auto_increment(client):
    name = unique_name("pk4")
    schema = [("s", "STRING"), ("i", "INTEGER"), ("b", "BINARY"), ("a", "INTEGER", PK_AUTO_INCR)]
    _create(client, name, schema)
    try:
        desc = client.describe_table(name)
        got = desc.table_meta.schema_of_primary_key
        assert [c[0] for c in got] == ["s", "i", "b", "a"]
        assert [c[1] for c in got] == ["STRING", "INTEGER", "BINARY", "INTEGER"]
        assert len(got[0]) == 2 and len(got[1]) == 2 and len(got[2]) == 2
        assert len(got[3]) == 3 and got[3][2] is PK_AUTO_INCR
    finally:
        client.delete_table(name)


@pytest.mark.parametrize("schema", [
    [("k", "BINARY")],
    [("k", "STRING"), ("n", "INTEGER")],
    [("a", "INTEGER"), ("b", "INTEGER"), ("c", "STRING")],
])
def test_create_pk_schema_roundtrip(client, schema):
    name = unique_name("pks")
    _create(client, name, schema)
    try:
        assert client.describe_table(name).table_meta.schema_of_primary_key == schema
    finally:
        client.delete_table(name)


def test_create_with_options_and_reserved_throughput(client):
    name = unique_name("opt")
    _create(client, name, [("id", "INTEGER")],
            TableOptions(time_to_live=172800, max_version=3, max_time_deviation=3600),
            reserved=(1, 2))
    try:
        desc = client.describe_table(name)
        assert desc.table_options.time_to_live == 172800
        assert desc.table_options.max_version == 3
        assert desc.table_options.max_time_deviation == 3600
        assert desc.reserved_throughput_details.capacity_unit.read == 1
        assert desc.reserved_throughput_details.capacity_unit.write == 2
    finally:
        client.delete_table(name)


def test_update_table_options(client):
    name = unique_name("upd")
    _create(client, name, [("id", "INTEGER")])
    try:
        resp = client.update_table(
            name, TableOptions(time_to_live=86400 * 3, max_version=5, max_time_deviation=7200))
        assert resp.table_options.time_to_live == 86400 * 3
        assert resp.table_options.max_version == 5
        assert resp.table_options.max_time_deviation == 7200

        desc = client.describe_table(name)
        assert desc.table_options.time_to_live == 86400 * 3
        assert desc.table_options.max_version == 5
        assert desc.table_options.max_time_deviation == 7200

        # Back to "forever"
        client.update_table(name, TableOptions(time_to_live=-1, max_version=2,
                                               max_time_deviation=86400))
        desc = client.describe_table(name)
        assert desc.table_options.time_to_live == -1
        assert desc.table_options.max_version == 2
    finally:
        client.delete_table(name)


def test_update_table_reserved_throughput(client):
    name = unique_name("updcu")
    _create(client, name, [("id", "INTEGER")])
    try:
        resp = client.update_table(name, reserved_throughput=ReservedThroughput(CapacityUnit(3, 4)))
        assert resp.reserved_throughput_details.capacity_unit.read == 3
        assert resp.reserved_throughput_details.capacity_unit.write == 4
        desc = client.describe_table(name)
        assert desc.reserved_throughput_details.capacity_unit.read == 3
        assert desc.reserved_throughput_details.capacity_unit.write == 4
        # options untouched by a CU-only update
        assert desc.table_options.time_to_live == -1
        assert desc.table_options.max_version == 1
    finally:
        client.delete_table(name)


def test_table_name_max_length_255_ok(client):
    name = "T" + "x" * 254
    assert len(name) == 255
    _create(client, name, [("id", "INTEGER")])
    try:
        assert client.describe_table(name).table_meta.table_name == name
        assert name in client.list_table()
    finally:
        client.delete_table(name)


def test_table_names_are_case_sensitive(client):
    base = unique_name("case")
    lower, upper = base.lower(), base.upper()
    _create(client, lower, [("id", "INTEGER")])
    try:
        with expect_error(404, "OTSObjectNotExist"):
            client.describe_table(upper)
        _create(client, upper, [("id", "STRING")])
        try:
            assert client.describe_table(upper).table_meta.schema_of_primary_key == [("id", "STRING")]
            assert client.describe_table(lower).table_meta.schema_of_primary_key == [("id", "INTEGER")]
        finally:
            client.delete_table(upper)
    finally:
        client.delete_table(lower)


def test_deleted_table_can_be_recreated_empty(client):
    name = unique_name("recreate")
    _create(client, name, [("id", "INTEGER")])
    client.put_row(name, Row([("id", 1)], [("c", "old")]))
    client.delete_table(name)
    _create(client, name, [("id", "STRING")])
    try:
        assert client.describe_table(name).table_meta.schema_of_primary_key == [("id", "STRING")]
        _, next_pk, rows, _ = client.get_range(name, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)])
        assert rows == []
        assert next_pk is None
    finally:
        client.delete_table(name)


# ----------------------------------------------------------------------------- errors

def test_create_duplicate_table(client):
    name = unique_name("dup")
    _create(client, name, [("id", "INTEGER")])
    try:
        with expect_error(409, "OTSObjectAlreadyExist"):
            _create(client, name, [("id", "INTEGER")])
        with expect_error(409, "OTSObjectAlreadyExist"):
            _create(client, name, [("other", "STRING")])
        # the original schema is untouched
        assert client.describe_table(name).table_meta.schema_of_primary_key == [("id", "INTEGER")]
    finally:
        client.delete_table(name)


def test_describe_missing_table(client):
    with expect_error(404, "OTSObjectNotExist"):
        client.describe_table(unique_name("missing"))


def test_delete_missing_table(client):
    with expect_error(404, "OTSObjectNotExist"):
        client.delete_table(unique_name("missing"))


def test_update_missing_table(client):
    with expect_error(404, "OTSObjectNotExist"):
        client.update_table(unique_name("missing"), TableOptions(max_version=2))


@pytest.mark.parametrize("bad_name", [
    "1starts_with_digit",
    "has-dash",
    "has space",
    "dot.name",
    "中文表",
    "T" + "x" * 255,  # 256 bytes
])
def test_create_invalid_table_name(client, bad_name):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, bad_name, [("id", "INTEGER")])
    assert bad_name not in client.list_table()


def test_create_empty_table_name(client):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, "", [("id", "INTEGER")])


def test_create_five_pk_columns(client):
    name = unique_name("pk5")
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, name, [("a", "INTEGER"), ("b", "INTEGER"), ("c", "INTEGER"),
                               ("d", "INTEGER"), ("e", "INTEGER")])
    assert name not in client.list_table()


def test_create_zero_pk_columns(client):
    name = unique_name("pk0")
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, name, [])
    assert name not in client.list_table()


def test_create_boolean_pk_rejected(client):
    name = unique_name("pkbool")
    with expect_error(400, "OTSParameterInvalid") as ei:
        _create(client, name, [("PK0", "BOOLEAN"), ("PK1", "BOOLEAN")])
    assert ei.value.get_error_message() == "BOOLEAN is an invalid type for the primary key."
    assert name not in client.list_table()


def test_list_search_index_is_empty(client, new_table):
    t = new_table([("id", "INTEGER")])
    # TableSafe has no search indexes: a table, and the instance, have none.
    assert client.list_search_index(t) == []
    assert client.list_search_index() == []


def test_list_search_index_of_missing_table(client):
    with expect_error(404, "OTSObjectNotExist"):
        client.list_search_index(unique_name("missing"))


def test_create_duplicate_pk_names(client):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, unique_name("dpk"), [("a", "INTEGER"), ("a", "STRING")])


def test_create_invalid_pk_column_name(client):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, unique_name("bpk"), [("bad-name", "INTEGER")])


def test_create_auto_increment_on_first_pk_rejected(client):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, unique_name("ai1"), [("a", "INTEGER", PK_AUTO_INCR), ("b", "STRING")])


def test_create_auto_increment_on_string_pk_rejected(client):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, unique_name("ai2"), [("a", "STRING"), ("b", "STRING", PK_AUTO_INCR)])


def test_create_two_auto_increment_columns_rejected(client):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, unique_name("ai3"), [("a", "STRING"), ("b", "INTEGER", PK_AUTO_INCR),
                                             ("c", "INTEGER", PK_AUTO_INCR)])


@pytest.mark.parametrize("ttl", [0, -2])
def test_create_bad_ttl(client, ttl):
    name = unique_name("ttl")
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, name, [("id", "INTEGER")], TableOptions(time_to_live=ttl))
    assert name not in client.list_table()


@pytest.mark.parametrize("max_version", [0, -1])
def test_create_bad_max_versions(client, max_version):
    with expect_error(400, "OTSParameterInvalid"):
        _create(client, unique_name("mv"), [("id", "INTEGER")],
                TableOptions(max_version=max_version))


def test_update_table_bad_ttl(client):
    name = unique_name("updttl")
    _create(client, name, [("id", "INTEGER")])
    try:
        with expect_error(400, "OTSParameterInvalid"):
            client.update_table(name, TableOptions(time_to_live=0))
        assert client.describe_table(name).table_options.time_to_live == -1
    finally:
        client.delete_table(name)
