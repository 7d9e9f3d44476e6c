"""pytest fixtures: one TableSafe server per session, driven by the official Python SDK.

Environment:
  TABLESAFE_BIN   path of the server binary (default ~/.cache/tablesafe/target/release/tablesafe)
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tablestore import (  # noqa: E402
    CapacityUnit,
    ReservedThroughput,
    TableMeta,
    TableOptions,
)

from sdk_helpers import TableSafeServer, ServerStartError, unique_name  # noqa: E402

_SERVER_KEY = pytest.StashKey()


@pytest.fixture(scope="session")
def server(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("tablesafe")
    srv = TableSafeServer(base / "data", base / "server.log")
    try:
        srv.start()
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    request.config.stash[_SERVER_KEY] = srv
    yield srv
    died = not srv.alive()
    tail = srv.log_tail()
    rc = srv.stop()
    request.config.stash[_SERVER_KEY] = None
    if died:
        pytest.fail("tablesafe server died during the session (exit %s); log tail:\n%s"
                    % (rc, tail), pytrace=False)


@pytest.fixture(scope="session")
def client(server):
    return server.client()


@pytest.fixture
def new_table(client):
    """Factory: new_table(pk_schema, options=None, reserved=(0, 0), prefix='t') -> name.

    Creates a uniquely named table and deletes it after the test.
    """
    created = []

    def make(pk_schema, options=None, reserved=(0, 0), prefix="t"):
        name = unique_name(prefix)
        client.create_table(TableMeta(name, pk_schema),
                            options if options is not None else TableOptions(),
                            ReservedThroughput(CapacityUnit(*reserved)))
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            client.delete_table(name)
        except Exception:
            pass


@pytest.fixture
def simple_table(new_table):
    """A table with one INTEGER primary key column named 'id'."""
    return new_table([("id", "INTEGER")])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        srv = item.config.stash.get(_SERVER_KEY, None)
        if srv is not None:
            report.sections.append(("tablesafe server log (tail)", srv.log_tail(30)))
