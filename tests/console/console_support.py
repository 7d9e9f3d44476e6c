"""Support of the web console's browser tests: the server, the browser, constants.

The server is the SDK suite's harness (tests/sdk/python/sdk_helpers.py: TableSafeServer,
server_with_keys, free_port), started with the console on a port of its own and two keys,
an admin and a read-only one. The browser is Debian's headless chromium driven by selenium
through /usr/bin/chromedriver; both paths are given explicitly so that selenium-manager never
looks for a browser or driver on the network.

Environment:
  TABLESAFE_BIN       the server binary (default ~/.cache/tablesafe/target/release/tablesafe)
  TABLESAFE_TEST_OUT  where screenshots go, under console/ (default
                      ${CARGO_TARGET_DIR:-~/.cache/tablesafe/target}/test-output)
"""

import base64
import os
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SDK_SUITE = os.path.join(ROOT, "tests", "sdk", "python")
if SDK_SUITE not in sys.path:
    sys.path.insert(0, SDK_SUITE)

import sdk_helpers  # noqa: E402  (tests/sdk/python)

# selenium-manager must not run (no internet here): both paths are given, and offline anyway.
os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
DESKTOP = (1280, 800)
PHONE = (390, 844)

# (id, secret, role): the server's own client() signs with the first.
ADMIN_KEY = ("consoleadmin0001", "consoleAdminSecret0123456789", "admin")
READER_KEY = ("consolereader001", "consoleReaderSecret0123456789", "read-only")

WAIT = 60.0  # the longest any single wait may take


def out_dir():
    base = os.environ.get("TABLESAFE_TEST_OUT") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/tablesafe/target"),
        "test-output")
    return os.path.join(base, "console")


# ---------------------------------------------------------------------------------------------
# The server


def _with_console_args(extra):
    """sdk_helpers.TableSafeServer with `extra` appended to the serve arguments that
    server_with_keys gives it (its --config)."""
    base_cls = sdk_helpers.TableSafeServer

    class ConsoleServer(base_cls):
        def __init__(self, *args, extra_args=(), **kwargs):
            super().__init__(*args, extra_args=list(extra_args) + list(extra), **kwargs)

    return ConsoleServer


class Console:
    """A started server with its console: `srv` (a TableSafeServer, whose client() is the
    admin key's), `base` (http://127.0.0.1:PORT), `backup_root`."""

    def __init__(self, srv, port, backup_root):
        self.srv = srv
        self.port = port
        self.base = "http://127.0.0.1:%d" % port
        self.backup_root = backup_root

    def url(self, path):
        return self.base + path


def _wait_port(srv, port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        if not srv.alive():
            raise AssertionError("tablesafe exited during startup; log tail:\n%s" % srv.log_tail())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("the console did not listen on port %d within %.0fs; log "
                                     "tail:\n%s" % (port, timeout, srv.log_tail()))
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# The browser


class Browser:
    """One chromium session (its own profile) on the console."""

    def __init__(self, driver, base, shots, label):
        self.driver = driver
        self.base = base
        self.shots = shots
        self.label = label

    def url(self, path=""):
        return self.base + path

    def get(self, path):
        self.driver.get(self.url(path))

    def path(self):
        """The current URL's path and query."""
        url = self.driver.current_url
        assert url.startswith(self.base), (url, self.base)
        return url[len(self.base):] or "/"

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def has(self, css):
        return bool(self.find_all(css))

    def text(self, css):
        return self.find(css).text.strip()

    def wait(self, what, condition, timeout=WAIT, poll=0.2):
        """WebDriverWait until `condition(driver)` is truthy; fails naming `what`."""
        return WebDriverWait(self.driver, timeout, poll_frequency=poll,
                             ignored_exceptions=(NoSuchElementException,
                                                 StaleElementReferenceException)).until(
            condition, message="waited %.0fs for %s at %s" % (timeout, what,
                                                              self.driver.current_url))

    def wait_refreshing(self, what, condition, timeout=WAIT, poll=1.0):
        """As wait(), reloading the page between two checks (for pages that are not live)."""
        def check(driver):
            try:
                result = condition(driver)
            except Exception:  # noqa: BLE001  (an element not there yet)
                result = False
            if not result:
                driver.refresh()
            return result
        return self.wait(what, check, timeout=timeout, poll=poll)

    def wait_path(self, predicate, what):
        return self.wait(what, lambda d: predicate(self.path()))

    def status(self):
        """The HTTP status of the page's own (last navigation's) response."""
        return self.driver.execute_script(
            "const e = performance.getEntriesByType('navigation')[0];"
            "return e ? e.responseStatus : null;")

    def type_into(self, css, text):
        el = self.find(css)
        el.clear()
        el.send_keys(text)
        return el

    def fetch(self, path, method="POST", form=None):
        """fetch() from the page (its origin, its cookies): -> {status, body}. `form` (a dict)
        is sent url-encoded, as an HTML form would be."""
        return self.driver.execute_async_script(
            """
            const [path, method, form, done] = arguments;
            const init = {method: method, credentials: 'same-origin', redirect: 'manual'};
            if (form !== null) {
                init.body = new URLSearchParams(form);
            }
            fetch(path, init)
                .then(r => r.text().then(t => done({status: r.status, body: t,
                                                     type: r.headers.get('content-type')})))
                .catch(e => done({status: -1, body: String(e), type: null}));
            """, path, method, form)

    def fetch_start(self, path):
        """GET `path` from the page and read only the start of its body (for streams that stay
        open): -> {status, type, first} (the first chunk's text), then aborts the request."""
        return self.driver.execute_async_script(
            """
            const [path, done] = arguments;
            const ctl = new AbortController();
            fetch(path, {credentials: 'same-origin', signal: ctl.signal}).then(r => {
                const reader = r.body.getReader();
                return reader.read().then(chunk => {
                    const first = chunk.value ? new TextDecoder().decode(chunk.value) : '';
                    done({status: r.status, type: r.headers.get('content-type'), first: first});
                    ctl.abort();
                });
            }).catch(e => done({status: -1, type: null, first: String(e)}));
            """, path)

    def screenshot(self, name):
        """Saves the whole page (beyond the viewport too) as PNG `name` in the screenshot
        directory."""
        path = os.path.join(self.shots, name)
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        view = metrics.get("cssLayoutViewport") or metrics["layoutViewport"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "scale": 1,
                     "width": max(size["width"], view["clientWidth"]),
                     "height": max(size["height"], view["clientHeight"])}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return path


def start_console(base):
    """A started server in directory `base` (data, keys file, log, an empty plan file, the
    backup root), with the console on a free port and keys ADMIN_KEY and READER_KEY: the SDK
    suite's server_with_keys, given the console's arguments too. -> a Console."""
    plans = base / "plans.toml"
    plans.write_text("")  # no plans (and no default plan): only those the test creates
    backup_root = base / "backups"
    backup_root.mkdir()
    port = sdk_helpers.free_port()
    extra = ["--console-listen", "127.0.0.1:%d" % port, "--plans", str(plans),
             "--backup-root", str(backup_root)]
    plain = sdk_helpers.TableSafeServer
    sdk_helpers.TableSafeServer = _with_console_args(extra)
    try:
        srv = sdk_helpers.server_with_keys(base, [ADMIN_KEY, READER_KEY])
    finally:
        sdk_helpers.TableSafeServer = plain
    try:
        _wait_port(srv, port)
    except BaseException:
        srv.stop()
        raise
    return Console(srv, port, str(backup_root))


def new_browser(base, label, shots, workdir, size=DESKTOP):
    """A headless chromium session on `base` with a fresh profile under `workdir`.
    -> (Browser, profile dir)."""
    profile = tempfile.mkdtemp(prefix="chromium-%s-" % label, dir=str(workdir))
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument("--user-data-dir=%s" % profile)
    opts.add_argument("--window-size=%d,%d" % size)
    service = Service(executable_path=CHROMEDRIVER,
                      log_output=os.path.join(str(workdir), "chromedriver-%s.log" % label))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_script_timeout(WAIT)
    driver.set_page_load_timeout(WAIT)
    if size[0] < 500:
        # Headless windows are at least 500 px wide: a narrower viewport is emulated (not as
        # a mobile device, so that its width is the viewport's whatever the page's
        # <meta name=viewport> says).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
    return Browser(driver, base, shots, label), profile
