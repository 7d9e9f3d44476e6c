"""Table options in action: time_to_live and max_versions."""

import time

from tablestore import (
    INF_MAX,
    INF_MIN,
    Condition,
    Row,
    RowExistenceExpectation,
    TableOptions,
)

from sdk_helpers import attrs_latest, expect_error, now_ms, versions

IGNORE = Condition(RowExistenceExpectation.IGNORE)


def _range_ids(client, table):
    _, _, rows, _ = client.get_range(table, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)])
    return [r.primary_key[0][1] for r in rows]


def test_ttl_hides_expired_cells(client, new_table):
    ttl = 6
    t = new_table([("id", "INTEGER")], TableOptions(time_to_live=ttl, max_version=3))
    written = now_ms()
    # a cell stamped 4 s in the past: inside the writable window (now - ttl), expires ~2 s later
    client.put_row(t, Row([("id", 1)], [("old", "o", written - 4000), ("fresh", "f")]), IGNORE)
    _, row, _ = client.get_row(t, [("id", 1)])
    assert attrs_latest(row) == {"old": "o", "fresh": "f"}

    # wait until the old cell is well past its TTL but the fresh one is not
    time.sleep(max(0.0, (written + 3500 - now_ms()) / 1000.0))
    _, row, _ = client.get_row(t, [("id", 1)])
    assert now_ms() - written < (ttl - 1) * 1000, "machine too slow for this TTL test"
    assert attrs_latest(row) == {"fresh": "f"}
    assert versions(row, "old") == []


def test_ttl_expires_whole_row(client, new_table):
    ttl = 2
    t = new_table([("id", "INTEGER")], TableOptions(time_to_live=ttl))
    client.put_row(t, Row([("id", 1)], [("a", 1)]), IGNORE)
    client.put_row(t, Row([("id", 2)], [("a", 2)]), IGNORE)
    assert _range_ids(client, t) == [1, 2]
    time.sleep(ttl + 1.5)
    _, row, _ = client.get_row(t, [("id", 1)])
    assert row is None or row.attribute_columns == []
    _, _, rows, _ = client.get_range(t, "FORWARD", [("id", INF_MIN)], [("id", INF_MAX)])
    assert all(r.attribute_columns == [] for r in rows)
    # rewriting makes it visible again
    client.put_row(t, Row([("id", 1)], [("a", 3)]), IGNORE)
    _, row, _ = client.get_row(t, [("id", 1)])
    assert attrs_latest(row) == {"a": 3}


def test_timestamp_older_than_ttl_rejected(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(time_to_live=60))
    # valid window is [max(now - deviation, now - ttl), now + deviation)
    with expect_error(400, "OTSParameterInvalid"):
        client.put_row(t, Row([("id", 1)], [("a", 1, now_ms() - 600 * 1000)]), IGNORE)
    client.put_row(t, Row([("id", 1)], [("a", 1, now_ms() - 30 * 1000)]), IGNORE)


def test_ttl_update_table_applies_to_existing_data(client, new_table):
    t = new_table([("id", "INTEGER")])
    ts = now_ms() - 5000
    client.put_row(t, Row([("id", 1)], [("a", 1, ts), ("b", 2)]), IGNORE)
    client.update_table(t, TableOptions(time_to_live=2, max_version=1, max_time_deviation=86400))
    _, row, _ = client.get_row(t, [("id", 1)])
    assert attrs_latest(row) == {"b": 2}
    client.update_table(t, TableOptions(time_to_live=-1, max_version=1, max_time_deviation=86400))


def test_max_versions_two_keeps_two(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(max_version=2))
    pk = [("id", 1)]
    for i in range(5):
        client.update_row(t, Row(pk, {"put": [("c", "v%d" % i)]}), IGNORE)
        time.sleep(0.005)  # distinct server timestamps
    _, row, _ = client.get_row(t, pk, max_version=100)
    got = versions(row, "c")
    assert [v for v, _ in got] == ["v4", "v3"]
    assert got[0][1] > got[1][1]


def test_max_versions_lowered_by_update_table(client, new_table):
    t = new_table([("id", "INTEGER")], TableOptions(max_version=5))
    pk = [("id", 1)]
    base = now_ms() - 20000
    for i in range(4):
        client.update_row(t, Row(pk, {"put": [("c", i, base + i * 1000)]}), IGNORE)
    _, row, _ = client.get_row(t, pk, max_version=10)
    assert len(versions(row, "c")) == 4
    client.update_table(t, TableOptions(time_to_live=-1, max_version=1, max_time_deviation=86400))
    _, row, _ = client.get_row(t, pk, max_version=10)
    assert versions(row, "c") == [(3, base + 3000)]
