"""Per-key roles and /metrics through the official SDK: a server started with
`--config` holding an admin and a read-only key (its own server, not the session one).
"""

import http.client

import pytest
from tablestore import (
    CapacityUnit,
    Condition,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableMeta,
    TableOptions,
)
from tablestore.error import OTSServiceError

from sdk_helpers import ServerStartError, attrs_latest, server_with_keys, unique_name

IGNORE = Condition(RowExistenceExpectation.IGNORE)
ADMIN = ("tsRolesAdmin", "tsRolesAdminSecret0123456789")
READER = ("tsRolesReader", "tsRolesReaderSecret0123456789")


@pytest.fixture(scope="module")
def roles_server(tmp_path_factory):
    try:
        srv = server_with_keys(tmp_path_factory.mktemp("roles"), [ADMIN + ("admin",), READER + ("read-only",)])
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield srv
    srv.stop()


def test_a_read_only_key_reads_but_cannot_write(roles_server):
    admin = roles_server.client()
    reader = roles_server.client(access_key_id=READER[0], access_key_secret=READER[1])
    name = unique_name("roles")
    admin.create_table(TableMeta(name, [("id", "INTEGER")]), TableOptions(),
                       ReservedThroughput(CapacityUnit(0, 0)))
    admin.put_row(name, Row([("id", 1)], [("v", "by-admin")]), IGNORE)

    _, row, _ = reader.get_row(name, [("id", 1)], max_version=1)
    assert attrs_latest(row) == {"v": "by-admin"}
    assert name in reader.list_table()

    with pytest.raises(OTSServiceError) as ei:
        reader.put_row(name, Row([("id", 2)], [("v", "by-reader")]), IGNORE)
    err = ei.value
    assert err.get_http_status() == 403
    assert err.get_error_code() == "OTSAuthFailed"
    assert "read-only" in err.get_error_message() and "PutRow" in err.get_error_message()
    with pytest.raises(OTSServiceError) as ei:
        reader.delete_table(name)
    assert (ei.value.get_http_status(), ei.value.get_error_code()) == (403, "OTSAuthFailed")

    _, row, _ = admin.get_row(name, [("id", 2)], max_version=1)
    assert row is None, "the refused write did not happen"
    assert name in admin.list_table()


def test_metrics_count_the_sdk_requests(roles_server):
    reader = roles_server.client(access_key_id=READER[0], access_key_secret=READER[1])
    reader.list_table()
    with pytest.raises(OTSServiceError):
        reader.put_row(unique_name("absent"), Row([("id", 1)], [("v", 1)]), IGNORE)
    conn = http.client.HTTPConnection("127.0.0.1", roles_server.port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/plain; version=0.0.4"
    lines = body.splitlines()
    assert any(l.startswith('tablesafe_requests_total{action="ListTable",code="OK"} ') for l in lines), body
    assert any(l.startswith('tablesafe_requests_total{action="PutRow",code="OTSAuthFailed"} ')
               for l in lines), body
    assert "# TYPE tablesafe_request_duration_seconds histogram" in lines
