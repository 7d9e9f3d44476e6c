"""Secondary indexes through the official Python SDK: the flows of Alibaba's own
`tests/table_operation_test.py` (an index in CreateTable, CreateIndex with and
without the rows a table has, DescribeTable's list, DeleteIndex), reads from an
index (GetRow, GetRange, BatchGetRow) that follow every write at once, the
service's checks on definitions, and a backup and restore of an indexed table
whose indexes come back, proven by VerifyRestore.
"""

import time

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    CapacityUnit,
    Condition,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    SecondaryIndexMeta,
    SecondaryIndexType,
    TableInBatchGetRowItem,
    TableMeta,
    TableOptions,
)
from tablestore.error import OTSServiceError

from sdk_helpers import attrs_latest, backup_api, expect_error, unique_name

IGNORE = Condition(RowExistenceExpectation.IGNORE)
DEFINED = [("i", "INTEGER"), ("bool", "BOOLEAN"), ("d", "DOUBLE"), ("s", "STRING"), ("b", "BINARY")]


@pytest.fixture
def indexed(client):
    """Factory: a table (gid INTEGER, uid STRING; the SDK tests' defined columns)
    with these indexes; deleted after the test."""
    made = []

    def make(indexes=(), options=None):
        name = unique_name("idx")
        meta = TableMeta(name, [("gid", "INTEGER"), ("uid", "STRING")], DEFINED)
        client.create_table(meta, options or TableOptions(-1, 1), ReservedThroughput(CapacityUnit(0, 0)),
                            list(indexes))
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            client.delete_table(name)
        except OTSServiceError:
            pass


def _same_meta(expected, actual):
    return (expected.index_name, expected.primary_key_names, expected.defined_column_names,
            expected.index_type) == (actual.index_name, actual.primary_key_names,
                                     actual.defined_column_names, actual.index_type)


def _scan_index(client, index, key_names):
    out, start = [], [(n, INF_MIN) for n in key_names]
    while start is not None:
        _, start, rows, _ = client.get_range(index, "FORWARD", start, [(n, INF_MAX) for n in key_names],
                                             max_version=1)
        out.extend((r.primary_key, attrs_latest(r)) for r in rows)
    return out


def test_an_index_made_with_its_table_is_described_and_read(client, indexed):
    table = indexed([SecondaryIndexMeta("index_1_x", ["i", "s"], ["bool", "b", "d"])])
    described = client.describe_table(table)
    assert [tuple(c) for c in described.table_meta.defined_columns] == DEFINED
    assert len(described.secondary_indexes) == 1
    assert _same_meta(SecondaryIndexMeta("index_1_x", ["i", "s"], ["bool", "b", "d"]),
                      described.secondary_indexes[0])
    client.put_row(table, Row([("gid", 1), ("uid", "a")],
                              [("i", 7), ("s", "x"), ("bool", True), ("d", 1.5), ("b", bytearray(b"\x01"))]), IGNORE)
    _, row, _ = client.get_row("index_1_x", [("i", 7), ("s", "x"), ("gid", 1), ("uid", "a")], max_version=1)
    assert row.primary_key == [("i", 7), ("s", "x"), ("gid", 1), ("uid", "a")]
    assert attrs_latest(row) == {"bool": True, "d": 1.5, "b": bytearray(b"\x01")}


def test_create_and_delete_an_index_as_the_sdk_tests_do(client, indexed):
    table = indexed()
    first = SecondaryIndexMeta(table + "_i1", ["s", "b"], ["i"])
    client.create_secondary_index(table, first, False)
    described = client.describe_table(table)
    assert len(described.secondary_indexes) == 1 and _same_meta(first, described.secondary_indexes[0])
    client.delete_secondary_index(table, first.index_name)
    assert client.describe_table(table).secondary_indexes == []

    client.put_row(table, Row([("gid", 0), ("uid", "0")],
                              [("i", 0), ("bool", True), ("d", 123.0), ("s", "test1"), ("b", bytearray(1))]),
                   Condition("EXPECT_NOT_EXIST"))
    client.put_row(table, Row([("gid", 0), ("uid", "1")],
                              [("i", 1), ("bool", True), ("d", 321.0), ("s", "test2"), ("b", bytearray(2))]),
                   Condition("EXPECT_NOT_EXIST"))
    # With the rows the table has: readable at once (the service makes clients wait).
    name = table + "_base"
    client.create_secondary_index(table, SecondaryIndexMeta(name, ["gid", "s"], ["bool", "d"]), True)
    _, row, _ = client.get_row(name, [("gid", 0), ("s", "test2"), ("uid", "1")], ["bool", "d"], max_version=1)
    assert row.primary_key == [("gid", 0), ("s", "test2"), ("uid", "1")]
    assert attrs_latest(row) == {"bool": True, "d": 321.0}
    # Without them, an index holds only what is written after it.
    later = table + "_later"
    client.create_secondary_index(table, SecondaryIndexMeta(later, ["i"], []), False)
    assert _scan_index(client, later, ["i", "gid", "uid"]) == []


def test_an_index_follows_every_write_at_once(client, indexed):
    table = indexed([SecondaryIndexMeta("by_s_" + unique_name("x"), ["s"], ["i"])])
    index = client.describe_table(table).secondary_indexes[0].index_name
    keys = ["s", "gid", "uid"]
    client.put_row(table, Row([("gid", 1), ("uid", "a")], [("s", "m"), ("i", 1)]), IGNORE)
    client.put_row(table, Row([("gid", 1), ("uid", "b")], [("s", "k"), ("i", 2)]), IGNORE)
    client.put_row(table, Row([("gid", 2), ("uid", "c")], [("i", 3)]), IGNORE)  # no s: not indexed
    assert _scan_index(client, index, keys) == [
        ([("s", "k"), ("gid", 1), ("uid", "b")], {"i": 2}),
        ([("s", "m"), ("gid", 1), ("uid", "a")], {"i": 1}),
    ]
    # An update moves the row in the index; a delete of the indexed column or of
    # the row takes it out.
    client.update_row(table, Row([("gid", 1), ("uid", "a")], {"put": [("s", "a"), ("i", 9)]}), IGNORE)
    client.update_row(table, Row([("gid", 1), ("uid", "b")], {"delete_all": ["s"]}), IGNORE)
    client.update_row(table, Row([("gid", 2), ("uid", "c")], {"put": [("s", "z")]}), IGNORE)
    assert _scan_index(client, index, keys) == [
        ([("s", "a"), ("gid", 1), ("uid", "a")], {"i": 9}),
        ([("s", "z"), ("gid", 2), ("uid", "c")], {"i": 3}),
    ]
    client.delete_row(table, Row([("gid", 2), ("uid", "c")]), IGNORE)
    request = BatchGetRowRequest()
    request.add(TableInBatchGetRowItem(index, [[("s", "a"), ("gid", 1), ("uid", "a")],
                                               [("s", "z"), ("gid", 2), ("uid", "c")]], max_version=1))
    got = client.batch_get_row(request).get_result_by_table(index)
    assert [r.is_ok for r in got] == [True, True]
    assert attrs_latest(got[0].row) == {"i": 9} and got[1].row is None
    # An index is read, not written.
    with pytest.raises(OTSServiceError):
        client.put_row(index, Row([("s", "q"), ("gid", 1), ("uid", "q")], [("i", 1)]), IGNORE)


def test_definitions_the_service_refuses(client, indexed):
    table = indexed()
    refused = [
        SecondaryIndexMeta(table + "_d", ["d"], []),          # DOUBLE cannot be a key
        SecondaryIndexMeta(table + "_n", ["nope"], []),       # not a column of the table
        SecondaryIndexMeta(table + "_c", ["i"], ["nope"]),    # not a defined column
        SecondaryIndexMeta(table, ["i"], []),                 # the table's own name
    ]
    for meta in refused:
        with pytest.raises(OTSServiceError) as ei:
            client.create_secondary_index(table, meta, False)
        assert ei.value.get_error_code() in ("OTSParameterInvalid", "OTSObjectAlreadyExist"), ei.value
    assert client.describe_table(table).secondary_indexes == []
    # A table keeping more than one version cannot have an index.
    name = unique_name("idxv")
    with expect_error(400, "OTSParameterInvalid"):
        client.create_table(TableMeta(name, [("gid", "INTEGER"), ("uid", "STRING")], DEFINED),
                            TableOptions(-1, 2), ReservedThroughput(CapacityUnit(0, 0)),
                            [SecondaryIndexMeta(name + "_i", ["i"], [])])
    assert name not in client.list_table()
    with expect_error(404, "OTSObjectNotExist"):
        client.delete_secondary_index(table, "no_such_index")


def _wait_job(client, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        job = backup_api(client, "DescribeJob", {"job_id": job_id})["job"]
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_a_restored_table_gets_its_indexes_back_and_verify_restore_proves_them(client, indexed):
    table = indexed([SecondaryIndexMeta(unique_name("rs"), ["s"], ["i"]),
                     SecondaryIndexMeta(unique_name("rl"), ["gid", "i"], ["s"], SecondaryIndexType.LOCAL_INDEX)])
    for n in range(50):
        client.put_row(table, Row([("gid", n % 3), ("uid", "u%02d" % n)], [("s", "s%02d" % (n % 7)), ("i", n)]),
                       IGNORE)
    plan = {"name": table.replace("_", "-") + "-plan", "tables": [table], "every": "1h", "keep_last": 3,
            "destination": table + "_bucket", "enabled": False}
    backup_api(client, "CreateBackupPlan", {"plan": plan})
    backup = _wait_job(client, backup_api(client, "StartBackup", {"plan": plan["name"]})["job"]["id"])
    assert backup["state"] == "succeeded", backup
    target = table + "_back"
    restore = backup_api(client, "StartRestore", {"plan": plan["name"], "table": table,
                                                  "snapshot": backup["snapshot"], "target": target})["job"]
    restore = _wait_job(client, restore["id"])
    assert restore["state"] == "succeeded", restore
    try:
        original = client.describe_table(table).secondary_indexes
        restored = client.describe_table(target).secondary_indexes
        # Beside the table backed up, each index takes the name `<target>_<index>`.
        assert [i.index_name for i in restored] == [target + "_" + i.index_name for i in original]
        for before, after in zip(original, restored):
            keys = before.primary_key_names + [k for k in ("gid", "uid") if k not in before.primary_key_names]
            assert _scan_index(client, after.index_name, keys) == _scan_index(client, before.index_name, keys)
            assert len(_scan_index(client, after.index_name, keys)) == 50
        check = _wait_job(client, backup_api(client, "VerifyRestore", {"job_id": restore["id"]})["job"]["id"])
        assert check["state"] == "succeeded" and check["verified"] is True, check
    finally:
        client.delete_table(target)
        backup_api(client, "DeleteBackupPlan", {"name": plan["name"]})
