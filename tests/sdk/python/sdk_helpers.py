"""Shared helpers for the TableSafe Python SDK compatibility suite.

Everything here drives the server through the official `tablestore` (PyPI) SDK or, for
protocol-level checks, through plain `http.client` with a hand-made V2 signature.
"""

import base64
import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from datetime import datetime, timezone

import pytest
from tablestore import OTSClient
from tablestore.error import OTSServiceError
from tablestore.protobuf import table_store_pb2 as pb
from tablestore.retry import NoRetryPolicy

DEFAULT_BIN = os.path.expanduser("~/.cache/tablesafe/target/release/tablesafe")
ACCESS_KEY_ID = "tsTestAccessKeyId"
ACCESS_KEY_SECRET = "tsTestAccessKeySecret0123456789"
INSTANCE = "tstest"


def server_binary():
    return os.environ.get("TABLESAFE_BIN") or DEFAULT_BIN


def now_ms():
    return int(time.time() * 1000)


_name_counter = itertools.count(1)


def unique_name(prefix="t"):
    """A fresh, valid table name: letters/digits/underscore, starts with a letter."""
    return "%s_%d_%s" % (prefix, next(_name_counter), uuid.uuid4().hex[:8])


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class ServerStartError(RuntimeError):
    pass


class TableSafeServer:
    """One `tablesafe serve` process on a loopback port with its own data dir."""

    def __init__(self, data_dir, log_path, port=None, instance=INSTANCE,
                 access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET, extra_args=()):
        self.binary = server_binary()
        self.data_dir = str(data_dir)
        self.log_path = str(log_path)
        self.port = port
        self.instance = instance
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.extra_args = list(extra_args)  # e.g. ["--config", path]
        self.proc = None
        self._log = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def client(self, **kwargs):
        kwargs.setdefault("retry_policy", NoRetryPolicy())
        kwargs.setdefault("socket_timeout", 60)
        key_id = kwargs.pop("access_key_id", self.access_key_id)
        secret = kwargs.pop("access_key_secret", self.access_key_secret)
        instance = kwargs.pop("instance", self.instance)
        endpoint = kwargs.pop("endpoint", self.endpoint)
        return OTSClient(endpoint, key_id, secret, instance, **kwargs)

    def start(self, timeout=30.0):
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise ServerStartError(
                "tablesafe binary not found or not executable at %r "
                "(set TABLESAFE_BIN or build it first)" % self.binary)
        os.makedirs(self.data_dir, exist_ok=True)
        fixed_port = self.port is not None
        last_err = None
        for _attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            try:
                self._spawn()
                self._wait_ready(timeout)
                return self
            except ServerStartError as e:
                last_err = e
                self._reap()
                if fixed_port:
                    break
        raise last_err

    def _spawn(self):
        env = dict(os.environ)
        env["TABLESAFE_ACCESS_KEY_ID"] = self.access_key_id
        env["TABLESAFE_ACCESS_KEY_SECRET"] = self.access_key_secret
        env.setdefault("RUST_BACKTRACE", "1")
        self._log = open(self.log_path, "ab")
        self._log.write(("\n==== starting tablesafe on port %d at %s ====\n"
                         % (self.port, time.strftime("%H:%M:%S"))).encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data_dir,
             "--listen", "127.0.0.1:%d" % self.port, "--instance", self.instance]
            + self.extra_args,
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    "tablesafe exited with code %s during startup; log tail:\n%s"
                    % (self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise ServerStartError("tablesafe did not accept connections on port %d within %.0fs; "
                               "log tail:\n%s" % (self.port, timeout, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Send `sig` and wait; returns the exit code (escalates to SIGKILL on timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                rc = self.proc.returncode
                self._reap()
                raise AssertionError("tablesafe did not exit within %.0fs of signal %s"
                                     % (timeout, sig))
        rc = self.proc.returncode
        self._reap()
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL, timeout=10)

    def _reap(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        text = data.decode("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])


def server_with_keys(base, keys):
    """A started server in directory `base` whose key file holds `keys`, a list of
    (id, secret, role); its own client() signs with the first. The caller stops it."""
    config = base / "keys.toml"
    config.write_text("\n".join('[[access_keys]]\nid = "%s"\nsecret = "%s"\nrole = "%s"\n' % key
                                for key in keys))
    srv = TableSafeServer(base / "data", base / "server.log", access_key_id=keys[0][0],
                          access_key_secret=keys[0][1], extra_args=["--config", str(config)])
    srv.start()
    return srv


@contextlib.contextmanager
def expect_error(status, *codes):
    """Assert that the block raises OTSServiceError with this HTTP status and one of `codes`."""
    with pytest.raises(OTSServiceError) as ei:
        yield ei
    err = ei.value
    assert err.get_http_status() == status, (
        "expected HTTP %s %s, got %s %s: %s"
        % (status, "/".join(codes), err.get_http_status(), err.get_error_code(),
           err.get_error_message()))
    if codes:
        assert err.get_error_code() in codes, (
            "expected error code in %s, got %r (HTTP %s): %s"
            % (codes, err.get_error_code(), err.get_http_status(), err.get_error_message()))


def attrs_latest(row):
    """{name: value} using the newest version of each attribute column."""
    out = {}
    if row is None:
        return out
    for col in row.attribute_columns:
        name, value, ts = col[0], col[1], col[2]
        if name not in out or ts > out[name][1]:
            out[name] = (value, ts)
    return {k: v[0] for k, v in out.items()}


def versions(row, name):
    """[(value, ts), ...] for one column, in the order the server returned them."""
    if row is None:
        return []
    return [(c[1], c[2]) for c in row.attribute_columns if c[0] == name]


# ---------------------------------------------------------------------------------------------
# Raw HTTP (protocol level) helpers

def ots_date(dt=None):
    dt = dt or datetime.now(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def content_md5(body):
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def sign_v2(secret, action, headers):
    """V2 request signature (reference 2.1) over every x-ots-* header except the signature."""
    canon = sorted((k.lower(), v.strip()) for k, v in headers.items()
                   if k.lower().startswith("x-ots-") and k.lower() != "x-ots-signature")
    string_to_sign = "/%s\nPOST\n\n%s" % (action, "".join("%s:%s\n" % kv for kv in canon))
    mac = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def response_signature(key, action, headers):
    """Response signature (reference 1.6)."""
    canon = sorted("%s:%s" % (k.lower(), v.strip()) for k, v in headers.items()
                   if k.lower().startswith("x-ots-"))
    string_to_sign = "\n".join(canon) + "\n/" + action
    return base64.b64encode(hmac.new(key.encode(), string_to_sign.encode(),
                                     hashlib.sha1).digest()).decode()


def signed_headers(action, body, key_id=ACCESS_KEY_ID, secret=ACCESS_KEY_SECRET,
                   instance=INSTANCE, date=None, md5=None, drop=(), sign=True):
    headers = {
        "x-ots-date": date if date is not None else ots_date(),
        "x-ots-apiversion": "2015-12-31",
        "x-ots-accesskeyid": key_id,
        "x-ots-instancename": instance,
        "x-ots-contentmd5": md5 if md5 is not None else content_md5(body),
    }
    for name in drop:
        headers.pop(name, None)
    if sign:
        headers["x-ots-signature"] = sign_v2(secret, action, headers)
    return headers


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lowercased names
        self.body = body

    def error(self):
        """Decode the body as a protobuf Error -> (code, message)."""
        from tablestore.protobuf import table_store_pb2 as pb
        err = pb.Error()
        err.ParseFromString(self.body)
        return err.code, err.message


def raw_request(port, path, body=b"", headers=None, method="POST", timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        hdrs.setdefault("Content-Length", str(len(body)))
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Requests signed by the SDK itself (for actions it has no method for)

def sdk_request(client, action, body):
    """POSTs `body` to `/<action>` through `client` (an OTSClient): headers and V2 signature
    made by the SDK's own signer, response headers, MD5 and signature checked as the SDK
    checks them (an OTSClientError on a mismatch). -> (status, headers (lowercased), body).

    Uses the SDK's request/response plumbing, since its public methods encode only the
    actions it knows."""
    from tablestore.auth import RequestContext
    protocol = client.protocol
    context = RequestContext(client.credentials_provider.get_credentials())
    query = "/" + action
    headers = protocol._make_request_headers(body, query, client._signer, context)
    status, _reason, res_headers, res_body = client.connection.send_receive(query, headers, body)
    res_headers = protocol._convert_urllib3_headers(res_headers)
    protocol._check_headers(res_headers, res_body, status=status)
    if status != 403:
        protocol._check_authorization(query, res_headers, status, client._signer, context)
    return status, res_headers, res_body


def backup_api(target, action, body=None):
    """Calls backup API action `action` (a JSON request, e.g. {"plan": "nightly"}) on
    `target` (an OTSClient or a TableSafeServer) and returns its decoded JSON answer.

    Signed and checked like an SDK request (sdk_request); an error answer (the protobuf
    Error of every Tablestore action) raises OTSServiceError with its code and message."""
    client = target.client() if isinstance(target, TableSafeServer) else target
    raw = json.dumps(body if body is not None else {}).encode()
    status, headers, data = sdk_request(client, action, raw)
    if 200 <= status < 300:
        assert headers.get("x-ots-contenttype") == "application/json", headers
        return json.loads(data)
    from tablestore.protobuf import table_store_pb2 as pb
    err = pb.Error()
    err.ParseFromString(data)
    raise OTSServiceError(status, err.code, err.message, headers.get("x-ots-requestid", ""))


def create_table_with_stream(client, name):
    """Creates table `name` (one INTEGER key `id`) with its stream on. The Python SDK has no
    stream option, so the CreateTable request is built from its protobuf classes and signed by
    its signer."""
    request = pb.CreateTableRequest(
        table_meta=pb.TableMeta(table_name=name, primary_key=[
            pb.PrimaryKeySchema(name="id", type=pb.INTEGER)]),
        reserved_throughput=pb.ReservedThroughput(capacity_unit=pb.CapacityUnit(read=0, write=0)),
        table_options=pb.TableOptions(time_to_live=-1, max_versions=1),
        stream_spec=pb.StreamSpecification(enable_stream=True, expiration_time=24))
    status, _, body = sdk_request(client, "CreateTable", request.SerializeToString())
    assert status == 200, body
    status, _, body = sdk_request(client, "DescribeTable",
                                  pb.DescribeTableRequest(table_name=name).SerializeToString())
    assert status == 200, body
    described = pb.DescribeTableResponse()
    described.ParseFromString(body)
    assert described.stream_details.enable_stream, described


def wait_for(what, probe, timeout=60.0, interval=0.25, between=None):
    """Polls `probe() -> (done, seen)` until done, calling `between()` (if any) between
    polls; fails after `timeout` seconds with what it saw last."""
    deadline = time.monotonic() + timeout
    while True:
        done, seen = probe()
        if done:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError("waited %.0fs for %s; last seen: %r" % (timeout, what, seen))
        if between is not None:
            between()
        time.sleep(interval)
