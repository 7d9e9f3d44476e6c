"""pytest fixtures of the web console's browser tests (helpers in console_support.py).

Environment:
  TABLESAFE_BIN       the server binary (default ~/.cache/tablesafe/target/release/tablesafe)
  TABLESAFE_TEST_OUT  where screenshots go, under console/ (default
                      ${CARGO_TARGET_DIR:-~/.cache/tablesafe/target}/test-output)
"""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import console_support  # noqa: E402
import sdk_helpers  # noqa: E402  (tests/sdk/python, put on sys.path by console_support)


@pytest.fixture(scope="session")
def screenshot_dir():
    """The screenshot directory, emptied of an earlier run's PNGs."""
    path = console_support.out_dir()
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".png"):
            os.remove(os.path.join(path, name))
    return path


@pytest.fixture
def console(tmp_path):
    """A server with its console (console_support.start_console) in the test's temp dir;
    fails the test if the server died under it."""
    try:
        con = console_support.start_console(tmp_path)
    except sdk_helpers.ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    yield con
    srv = con.srv
    died = not srv.alive()
    tail = srv.log_tail(60)
    rc = srv.stop()
    if died:
        pytest.fail("tablesafe died during the test (exit %s); log tail:\n%s" % (rc, tail),
                    pytrace=False)


@pytest.fixture
def browsers(tmp_path, screenshot_dir):
    """Factory: browsers(base_url, label, size=DESKTOP) -> a console_support.Browser, each
    with a fresh profile; all quit afterwards."""
    made = []

    def make(base, label, size=console_support.DESKTOP):
        browser, profile = console_support.new_browser(base, label, screenshot_dir, tmp_path,
                                                       size)
        made.append((browser, profile))
        return browser

    yield make
    for browser, profile in made:
        try:
            browser.driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        con = item.funcargs.get("console") if hasattr(item, "funcargs") else None
        if con is not None:
            report.sections.append(("tablesafe server log (tail)", con.srv.log_tail(60)))
