"""Fixtures of the package's tests.

The unit tests need nothing. The ``integration`` tests start a real
``tablesafe serve`` (``$TABLESAFE_BIN``, default
``~/.cache/tablesafe/target/release/tablesafe``) the way the SDK suite does
(tests/sdk/python/sdk_helpers.py, reused from the checkout): a loopback port of
its own, a temporary data directory, and keys from a ``--config`` file with one
key per role.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SDK_SUITE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "tests", "sdk", "python"))

ADMIN = ("tsTestAccessKeyId", "tsTestAccessKeySecret0123456789")
KEYS = {
    "admin": ADMIN,
    "read-write": ("tsPyApp", "tsPyAppSecret0123456789"),
    "read-only": ("tsPyDashboard", "tsPyDashboardSecret0123456789"),
    "backup-operator": ("tsPyBackupOps", "tsPyBackupOpsSecret0123456789"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "server" in getattr(item, "fixturenames", ()) or "readme_server" in getattr(
                item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def sdk_helpers():
    """tests/sdk/python/sdk_helpers.py of this checkout (TableSafeServer and friends)."""
    if SDK_SUITE not in sys.path:
        sys.path.insert(0, SDK_SUITE)
    import sdk_helpers as helpers
    return helpers


def start_server(base, **kwargs):
    helpers = sdk_helpers()
    srv = helpers.TableSafeServer(base / "data", base / "server.log", **kwargs)
    try:
        srv.start()
    except helpers.ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    return srv


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server with a key of each role (``KEYS``); admin is the SDK suite's key."""
    base = tmp_path_factory.mktemp("tablesafe-pyclient")
    config = base / "keys.toml"
    config.write_text("".join(
        '[[access_keys]]\nid = "%s"\nsecret = "%s"\nrole = "%s"\n\n' % (key_id, secret, role)
        for role, (key_id, secret) in KEYS.items()))
    srv = start_server(base, access_key_id=ADMIN[0], access_key_secret=ADMIN[1],
                       extra_args=["--config", str(config)])
    yield srv
    died = not srv.alive()
    tail = srv.log_tail()
    rc = srv.stop()
    if died:
        pytest.fail("tablesafe died during the session (exit %s); log tail:\n%s" % (rc, tail),
                    pytrace=False)


@pytest.fixture(scope="session")
def connect(server):
    """connect(role="admin", **kwargs) -> a TableStoreClient of that role's key."""
    from tablestore.retry import NoRetryPolicy

    from tablesafe import TableStoreClient

    def make(role="admin", **kwargs):
        key_id, secret = KEYS[role]
        kwargs.setdefault("retry_policy", NoRetryPolicy())
        kwargs.setdefault("socket_timeout", 60)
        return TableStoreClient(server.endpoint, kwargs.pop("access_key_id", key_id),
                                kwargs.pop("access_key_secret", secret), server.instance, **kwargs)
    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if srv is not None:
            report.sections.append(("tablesafe server log (tail)", srv.log_tail(30)))
