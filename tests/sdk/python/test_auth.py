"""Authentication through the SDK: V2 and V4 signing, wrong credentials."""

from tablestore import (
    CapacityUnit,
    Condition,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableMeta,
    TableOptions,
)

from sdk_helpers import attrs_latest, expect_error, unique_name

IGNORE = Condition(RowExistenceExpectation.IGNORE)


def test_wrong_secret_rejected(server):
    bad = server.client(access_key_secret="definitely-not-the-secret")
    with expect_error(403, "OTSAuthFailed"):
        bad.list_table()
    with expect_error(403, "OTSAuthFailed"):
        bad.describe_table("whatever")


def test_wrong_access_key_id_rejected(server):
    bad = server.client(access_key_id="someOtherKeyId")
    with expect_error(403, "OTSAuthFailed"):
        bad.list_table()


def test_wrong_secret_cannot_write(server, client, simple_table):
    bad = server.client(access_key_secret="wrong")
    with expect_error(403, "OTSAuthFailed"):
        bad.put_row(simple_table, Row([("id", 1)], [("v", "evil")]), IGNORE)
    assert client.get_row(simple_table, [("id", 1)])[1] is None


def test_wrong_instance_rejected(server):
    other = server.client(instance="otherinst")
    with expect_error(403, "OTSAuthFailed"):
        other.list_table()


def test_v4_signing_works(server, client):
    v4 = server.client(region="local")
    name = unique_name("v4")
    v4.create_table(TableMeta(name, [("id", "INTEGER")]), TableOptions(),
                    ReservedThroughput(CapacityUnit(0, 0)))
    try:
        assert name in v4.list_table()
        v4.put_row(name, Row([("id", 1)], [("v", "via-v4")]), IGNORE)
        _, row, _ = v4.get_row(name, [("id", 1)])
        assert attrs_latest(row) == {"v": "via-v4"}
        # and the V2 client sees the same data
        _, row, _ = client.get_row(name, [("id", 1)])
        assert attrs_latest(row) == {"v": "via-v4"}
        # errors are signed/parsed correctly in V4 mode too
        with expect_error(404, "OTSObjectNotExist"):
            v4.describe_table(unique_name("missing"))
    finally:
        v4.delete_table(name)


def test_v4_other_region_name_works(server):
    assert isinstance(server.client(region="cn-hangzhou").list_table(), tuple)


def test_v4_wrong_secret_rejected(server):
    bad = server.client(region="local", access_key_secret="wrong-secret")
    with expect_error(403, "OTSAuthFailed"):
        bad.list_table()


def test_endpoint_with_path_prefix(server, simple_table):
    prefixed = server.client(endpoint=server.endpoint + "/some/prefix")
    assert simple_table in prefixed.list_table()
    prefixed.put_row(simple_table, Row([("id", 2)], [("v", "prefixed")]), IGNORE)
    _, row, _ = prefixed.get_row(simple_table, [("id", 2)])
    assert attrs_latest(row) == {"v": "prefixed"}
