"""The first day with TableSafe's backup tools, through the real `tablesafe` binary.

What an operator does in the first hours, driven through `tablesafe serve`, its backup
API (sdk_helpers.backup_api, signed like an SDK request) and the `tablesafe` CLI, for
what no test drove through the binary yet:

* a plan's destination is checked when the plan is updated, as when it is created: a
  regular file is refused (API and `plan update`), and the plan keeps its destination;
* a destination holding a repository made with another password is refused at plan
  create and plan update, and nothing is written into that repository;
* `serve --password-file` and `serve --identity-file`: backups across restarts go into
  the same repository, and another password or identity stops the start, naming the
  plan, the destination and how to give the right one;
* `verify-restore` on a restored table changed in many scattered places: exact counts
  of missing, extra and different rows, their first keys, sorted disjoint key ranges
  covering every change, and keys written as `id=104070, k="r-104070"`;
* `tablesafe backup` on a terminal draws a progress bar with an ETA, and none into a pipe;
* `repo key remove` of the last key that can read the data is refused, and the
  repository still opens with it;
* recovery points name only milliseconds a restore to a time takes: a snapshot with no
  archived changes after it shows no span, says to restore it by id, and the CLI says
  it is not restorable to a time yet.

Every server started here runs with `--no-console` in a directory of its own and is
stopped at the end of its test.

* an UpdateBackupPlan of a plan that does not exist is 404 and leaves nothing at the
  destination it names (it used to create a repository there first).
"""

import hashlib
import json
import os
import pty
import re
import secrets
import struct
import subprocess
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import sdk_helpers
from tablestore import (
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    DeleteRowItem,
    PutRowItem,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
    UpdateRowItem,
)
from tablestore.error import OTSServiceError

from sdk_helpers import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    INSTANCE,
    ServerStartError,
    TableSafeServer,
    backup_api,
    free_port,
    server_binary,
)

IGNORE = Condition(RowExistenceExpectation.IGNORE)
WAIT = 30.0
# Everything of the environment that would choose a repository, a password, a plan file
# or a server for the commands below: each test says what it means.
TABLESAFE_VARS = [
    "TABLESAFE_PASSWORD", "TABLESAFE_PASSWORD_FILE", "TABLESAFE_IDENTITY_FILE",
    "TABLESAFE_NEW_PASSWORD", "TABLESAFE_REPO", "TABLESAFE_PLANS", "TABLESAFE_BACKUP_ROOT",
    "TABLESAFE_ARCHIVE_TO", "TABLESAFE_CONFIG", "TABLESAFE_DATA_DIR", "TABLESAFE_LISTEN",
    "TABLESAFE_INSTANCE", "TABLESAFE_ENDPOINT", "TABLESAFE_CONSOLE_LISTEN",
    "TABLESAFE_METRICS_LISTEN", "TABLESAFE_ACCESS_KEY_ID", "TABLESAFE_ACCESS_KEY_SECRET",
    "TABLESAFE_LOG", "TABLESAFE_LOG_FORMAT",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in TABLESAFE_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def servers():
    """Factory: servers(base, *extra_args) -> a started server with data in base/data and
    its own plan file; every one is stopped at the end of the test."""
    started = []

    def start(base, *extra, plans=None):
        base.mkdir(parents=True, exist_ok=True)
        args = ["--no-console"]
        if plans is not None:
            plan_file = base / "plans.toml"
            plan_file.write_text(plans)
            args += ["--plans", str(plan_file)]
        srv = TableSafeServer(base / "data", base / "server.log", extra_args=args + list(extra))
        started.append(srv)
        try:
            srv.start()
        except ServerStartError as e:
            pytest.fail(str(e), pytrace=False)
        return srv

    yield start
    for srv in started:
        srv.stop()


# ---------------------------------------------------------------------------------------------
# Helpers


def cli_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in TABLESAFE_VARS}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def tablesafe(args, timeout=60, **env):
    """Runs `tablesafe ARGS` (stdin closed, output captured) -> CompletedProcess (text)."""
    return subprocess.run([server_binary()] + [str(a) for a in args], env=cli_env(**env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def ok(out):
    assert out.returncode == 0, "exit %s\nstdout:\n%s\nstderr:\n%s" % (
        out.returncode, out.stdout, out.stderr)
    return out.stdout


def as_json(out):
    return json.loads(ok(out))


def api_env(srv):
    return {"TABLESAFE_ACCESS_KEY_ID": srv.access_key_id,
            "TABLESAFE_ACCESS_KEY_SECRET": srv.access_key_secret}


def endpoint_args(srv):
    return ["--endpoint", srv.endpoint, "--instance", srv.instance]


def error_lines(out, code=1):
    """A failed command's stderr: exit `code`, an `error: ...` first line and nothing
    after it but its hint. -> (error line without `error: `, hint or None)."""
    assert out.returncode == code, "exit %s (wanted %s)\nstdout:\n%s\nstderr:\n%s" % (
        out.returncode, code, out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), out.stderr
    rest = lines[1:]
    assert all(line.startswith("hint: ") for line in rest) and len(rest) <= 1, \
        "one error line and its hint, nothing else:\n" + out.stderr
    return lines[0][len("error: "):], (rest[0][len("hint: "):] if rest else None)


def wait_for(what, probe, timeout=WAIT, interval=0.05):
    return sdk_helpers.wait_for(what, probe, timeout, interval)


def wait_job(srv, job_id):
    def probe():
        job = backup_api(srv, "DescribeJob", {"job_id": job_id})["job"]
        return job["state"] != "running", job
    return wait_for("job %s to end" % job_id, probe)


def run_plan(srv, plan):
    job = backup_api(srv, "StartBackup", {"plan": plan})["job"]
    return wait_job(srv, job["id"])


def create_table(client, name, pk=(("id", "INTEGER"),)):
    client.create_table(TableMeta(name, list(pk)), TableOptions(),
                        ReservedThroughput(CapacityUnit(0, 0)))


def put_rows(client, table, rows, batch=200):
    """rows: [(primary key list, attribute list)]."""
    for off in range(0, len(rows), batch):
        req = BatchWriteRowRequest()
        req.add(TableInBatchWriteRowItem(table, [PutRowItem(Row(pk, attrs), IGNORE)
                                                 for pk, attrs in rows[off:off + batch]]))
        res = client.batch_write_row(req)
        assert res.is_all_succeed()


def tree(path):
    """Every file and directory under `path`: {relative path: (size, content hash, mtime
    in ns)} for files, {relative path/: None} for directories."""
    out = {}
    for root, dirs, files in os.walk(path):
        rel = os.path.relpath(root, path)
        for d in dirs:
            out[os.path.join(rel, d) + "/"] = None
        for f in files:
            p = os.path.join(root, f)
            st = os.stat(p)
            with open(p, "rb") as fh:
                data = fh.read()
            out[os.path.join(rel, f)] = (st.st_size, hashlib.sha256(data).hexdigest(), st.st_mtime_ns)
    return out


# age identities, made here (no age-keygen on the machine): an X25519 scalar as
# AGE-SECRET-KEY-1..., its public key (from `cryptography`, which moto brings) as
# age1..., both Bech32 (BIP 173).

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32(hrp, data):
    acc, bits, five = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod(expanded + five + [0] * 6) ^ 1
    check = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in five + check)


def age_identity(path):
    """Writes a new age identity to `path` (as age-keygen does) -> its recipient."""
    scalar = secrets.token_bytes(32)
    path.write_text("# created by test_first_day_tools\n%s\n"
                    % bech32("age-secret-key-", scalar).upper())
    public = X25519PrivateKey.from_private_bytes(scalar).public_key().public_bytes_raw()
    return bech32("age", public)


# ---------------------------------------------------------------------------------------------
# 1. Plan update checks its destination as plan create does


def test_plan_update_to_a_file_destination_is_refused_and_keeps_the_plan(tmp_path, servers):
    srv = servers(tmp_path, plans="")
    data = srv.data_dir
    client = srv.client()
    plan = {"name": "nightly", "every": "1h", "destination": "vault", "keep_last": 3,
            "enabled": False}
    created = backup_api(client, "CreateBackupPlan", {"plan": plan})["plan"]
    assert created["destination"] == "vault", created
    # Created at once, with the server's password: the destination is a repository now.
    assert os.path.isfile(os.path.join(data, "vault", "config"))
    plan_file = tmp_path / "plans.toml"
    saved = plan_file.read_text()
    assert 'destination = "vault"' in saved, saved

    with open(os.path.join(data, "a-file"), "w") as f:
        f.write("not a repository\n")
    location = os.path.join(data, "a-file")
    with pytest.raises(OTSServiceError) as ei:
        backup_api(client, "UpdateBackupPlan", {"plan": dict(created, destination="a-file")})
    err = ei.value
    assert (err.get_http_status(), err.get_error_code()) == (400, "OTSParameterInvalid"), \
        (err.get_http_status(), err.get_error_code(), err.get_error_message())
    assert err.get_error_message() == (
        "plan 'nightly': the destination %s is a file; a repository is a directory or a bucket"
        % location), err.get_error_message()
    # The plan is as it was, in the service and in its file; the file is untouched.
    status = backup_api(client, "DescribeBackupPlan", {"name": "nightly"})
    assert status["plan"] == created, status
    assert plan_file.read_text() == saved
    with open(location) as f:
        assert f.read() == "not a repository\n"

    # `file://` names the same file: refused the same way.
    with pytest.raises(OTSServiceError) as ei:
        backup_api(client, "UpdateBackupPlan",
                   {"plan": dict(created, destination="file://" + location)})
    assert ei.value.get_error_code() == "OTSParameterInvalid", ei.value.get_error_message()

    # The same through `tablesafe plan update`: exit 1, one line naming plan and file.
    out = tablesafe(["plan", "update", "nightly", "--destination", "a-file", "--keep-last", "5"]
                    + endpoint_args(srv), **api_env(srv))
    line, hint = error_lines(out)
    assert line == ("plan 'nightly': the destination %s is a file; a repository is a directory "
                    "or a bucket (OTSParameterInvalid)" % location), out.stderr
    assert hint, out.stderr
    shown = as_json(tablesafe(["plan", "show", "nightly", "--json"] + endpoint_args(srv),
                              **api_env(srv)))
    assert shown["plan"]["destination"] == "vault", shown
    assert shown["plan"]["keep_last"] == 3, "a refused update changes nothing: %r" % shown
    assert plan_file.read_text() == saved

    # A good destination still updates (the check is not a refusal of every update).
    good = as_json(tablesafe(["plan", "update", "nightly", "--destination", "vault2", "--json"]
                             + endpoint_args(srv), **api_env(srv)))
    assert good["plan"]["destination"] == "vault2", good
    assert os.path.isfile(os.path.join(data, "vault2", "config"))


# ---------------------------------------------------------------------------------------------
# 2. A destination holding another password's repository


def test_a_repository_of_another_password_is_refused_at_plan_create_and_update(tmp_path,
                                                                               servers):
    srv = servers(tmp_path, plans="")
    data = srv.data_dir
    client = srv.client()
    foreign = os.path.join(data, "foreign")
    made = as_json(tablesafe(["repo", "init", "--repo", foreign, "--json"],
                             TABLESAFE_PASSWORD="someone else's password"))
    assert made["password"] is True, made
    before = tree(foreign)
    assert "config" in {os.path.basename(p) for p in before}, before
    why = ("plan '%s': the destination %s holds a repository that the server's password or "
           "identities do not open")

    # Create, through the API and the CLI: refused, nothing saved.
    plan = {"name": "intruder", "every": "1h", "destination": "foreign", "enabled": False}
    with pytest.raises(OTSServiceError) as ei:
        backup_api(client, "CreateBackupPlan", {"plan": plan})
    err = ei.value
    assert (err.get_http_status(), err.get_error_code()) == (400, "OTSParameterInvalid"), \
        (err.get_http_status(), err.get_error_code(), err.get_error_message())
    assert err.get_error_message() == why % ("intruder", foreign), err.get_error_message()
    out = tablesafe(["plan", "create", "intruder2", "--every", "1h", "--destination", "foreign",
                     "--disabled"] + endpoint_args(srv), **api_env(srv))
    line, _ = error_lines(out)
    assert line == why % ("intruder2", foreign) + " (OTSParameterInvalid)", out.stderr
    assert backup_api(client, "ListBackupPlans")["plans"] == []

    # Update of a plan that backs up elsewhere: refused, the plan unchanged.
    good = backup_api(client, "CreateBackupPlan",
                      {"plan": dict(plan, name="mine", destination="mine")})["plan"]
    with pytest.raises(OTSServiceError) as ei:
        backup_api(client, "UpdateBackupPlan", {"plan": dict(good, destination="foreign")})
    assert ei.value.get_error_code() == "OTSParameterInvalid", ei.value.get_error_message()
    assert ei.value.get_error_message() == why % ("mine", foreign), ei.value.get_error_message()
    out = tablesafe(["plan", "update", "mine", "--destination", "foreign"] + endpoint_args(srv),
                    **api_env(srv))
    line, _ = error_lines(out)
    assert line == why % ("mine", foreign) + " (OTSParameterInvalid)", out.stderr
    assert backup_api(client, "DescribeBackupPlan", {"name": "mine"})["plan"] == good

    # Nothing was written into the foreign repository, which still opens with its own
    # password (and holds no snapshot of ours).
    assert tree(foreign) == before
    listed = as_json(tablesafe(["snapshots", "--repo", foreign, "--json"],
                               TABLESAFE_PASSWORD="someone else's password"))
    assert listed == [], listed


def test_updating_a_missing_plan_leaves_nothing_at_its_destination(tmp_path, servers):
    """An UpdateBackupPlan of a plan that does not exist is 404, and like every refused
    request it creates nothing (docs/API.md: 'Updating one that does not is 404')."""
    srv = servers(tmp_path, plans="")
    with pytest.raises(OTSServiceError) as ei:
        backup_api(srv, "UpdateBackupPlan",
                   {"plan": {"name": "ghost", "every": "1h", "destination": "ghost-vault"}})
    assert (ei.value.get_http_status(), ei.value.get_error_code()) == (404, "OTSObjectNotExist")
    assert ei.value.get_error_message() == "no backup plan 'ghost'", ei.value.get_error_message()
    left = os.path.join(srv.data_dir, "ghost-vault")
    assert not os.path.exists(left), \
        "a refused update left a repository behind: %s" % sorted(tree(left))


# ---------------------------------------------------------------------------------------------
# 3. serve --password-file and serve --identity-file


PLAN_FILE = """[[plans]]
name = "keyed"
tables = ["orders"]
every = "1h"
destination = "vault"
enabled = false
"""


def serve_refused(base, *extra):
    """`tablesafe serve` on base/data that must stop during its start -> CompletedProcess."""
    port = free_port()
    proc = subprocess.Popen(
        [server_binary(), "serve", "--data-dir", str(base / "data"), "--listen",
         "127.0.0.1:%d" % port, "--instance", INSTANCE, "--no-console",
         "--plans", str(base / "plans.toml")] + [str(a) for a in extra],
        env=cli_env(TABLESAFE_ACCESS_KEY_ID=ACCESS_KEY_ID,
                    TABLESAFE_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError("serve started although its repository does not open:\n"
                             + stdout + stderr)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def backs_up_into_the_same_repository(tmp_path, servers, first, second, wrong, flag):
    """Starts with `first` (args), backs up, restarts with `second`, backs up into the same
    repository; a start with `wrong` is refused."""
    srv = servers(tmp_path, *first, plans=PLAN_FILE)
    data = srv.data_dir
    vault = os.path.join(data, "vault")
    client = srv.client()
    create_table(client, "orders")
    put_rows(client, "orders", [([("id", i)], [("v", "row-%d" % i)]) for i in range(100)])
    job = run_plan(srv, "keyed")
    assert job["state"] == "succeeded" and job["rows"] == 100, job
    first_snapshot = job["snapshot"]
    with open(os.path.join(vault, "config"), "rb") as f:
        config = f.read()
    # Given a password or identity, the server makes no password file of its own.
    assert not os.path.exists(os.path.join(data, "backup-password"))
    assert srv.stop() == 0

    srv = servers(tmp_path, *second, plans=PLAN_FILE)
    client = srv.client()
    put_rows(client, "orders", [([("id", i)], [("v", "row-%d" % i)]) for i in range(100, 105)])
    job = run_plan(srv, "keyed")
    assert job["state"] == "succeeded" and job["rows"] == 105, job
    listed = backup_api(client, "ListSnapshots", {"plan": "keyed"})["snapshots"]
    assert [s["id"] for s in listed] == [first_snapshot, job["snapshot"]], listed
    with open(os.path.join(vault, "config"), "rb") as f:
        assert f.read() == config, "the repository was made anew"
    assert not os.path.exists(os.path.join(data, "backup-password"))
    assert srv.stop() == 0

    out = serve_refused(tmp_path, *wrong)
    line, hint = error_lines(out)
    assert line == ("the backup repository of plan 'keyed' at %s does not open with the backup "
                    "password given (--password-file, TABLESAFE_PASSWORD or --identity-file)"
                    % vault), out.stderr
    assert hint is not None and flag in hint and "TABLESAFE_PASSWORD" in hint, out.stderr
    assert "serving" not in out.stdout, out.stdout
    assert not os.path.exists(os.path.join(data, "backup-password"))
    return vault


def test_serve_password_file_backs_up_across_restarts_and_a_wrong_one_stops_it(tmp_path,
                                                                              servers):
    right, wrong = tmp_path / "right.txt", tmp_path / "wrong.txt"
    right.write_text("the plans' password\nsecond line is ignored\n")
    wrong.write_text("another password\n")
    vault = backs_up_into_the_same_repository(
        tmp_path, servers, ["--password-file", right], ["--password-file", right],
        ["--password-file", wrong], "--password-file")
    # The password on the file's first line is the repository's.
    listed = as_json(tablesafe(["snapshots", "--repo", vault, "--json"],
                               TABLESAFE_PASSWORD="the plans' password"))
    assert [s["rows"] for s in listed] == [100, 105], listed


def test_serve_identity_file_backs_up_across_restarts_and_another_stops_it(tmp_path, servers):
    (tmp_path / "data").mkdir()
    mine, theirs = tmp_path / "mine.txt", tmp_path / "theirs.txt"
    recipient = age_identity(mine)
    age_identity(theirs)
    # A server with identities only has no password to make a repository: make it first.
    made = as_json(tablesafe(["repo", "init", "--repo", tmp_path / "data" / "vault",
                              "--recipient", recipient, "--json"]))
    assert (made["password"], made["recipients"]) == (False, 1), made
    vault = backs_up_into_the_same_repository(
        tmp_path, servers, ["--identity-file", mine], ["--identity-file", mine],
        ["--identity-file", theirs], "--identity-file")
    listed = as_json(tablesafe(["snapshots", "--repo", vault, "--json"],
                               TABLESAFE_IDENTITY_FILE=str(mine)))
    assert [s["rows"] for s in listed] == [100, 105], listed


# ---------------------------------------------------------------------------------------------
# 4. verify-restore on a restore changed in many scattered places

ROWS = 12_000
# Rows i in [QUIET_FROM, QUIET_TO) are left alone: a band of about 5 digest leaves (a leaf
# ends at a row whose key hash is 0 modulo 1024), so that some leaf in it is untouched and
# the differing ranges have a gap between them.
QUIET_FROM, QUIET_TO = 5_500, 10_500


def key_of(text):
    m = re.fullmatch(r'id=(-?\d+), k="([^"\\]*)"', text)
    assert m, "a key written as id=N, k=\"...\": %r" % text
    return int(m.group(1)), m.group(2)


def fmt_key(i, k):
    return 'id=%d, k="%s"' % (i, k)


def edit_rows(client, table, deletes, updates, batch=200):
    items = [DeleteRowItem(Row([("id", i), ("k", k)]), IGNORE) for i, k in deletes]
    items += [UpdateRowItem(Row([("id", i), ("k", k)], {"put": [("v", "changed")]}), IGNORE)
              for i, k in updates]
    for off in range(0, len(items), batch):
        req = BatchWriteRowRequest()
        req.add(TableInBatchWriteRowItem(table, items[off:off + batch]))
        assert client.batch_write_row(req).is_all_succeed()


def test_verify_restore_counts_and_places_scattered_differences(tmp_path, servers):
    srv = servers(tmp_path, "--no-backups")
    client = srv.client()
    env = dict(api_env(srv), TABLESAFE_PASSWORD="verify-restore test")
    repo = tmp_path / "repo"
    ok(tablesafe(["repo", "init", "--repo", repo], **env))
    create_table(client, "ledger", pk=(("id", "INTEGER"), ("k", "STRING")))
    # Negative keys too: stored keys (PlainBuffer, little-endian integers) do not sort as
    # keys do, and the ranges must come out in key order.
    keys = [(10 * (i - ROWS // 2), "r-%d" % i) for i in range(ROWS)]
    put_rows(client, "ledger", [([("id", i), ("k", k)], [("v", "value %d" % i), ("n", i)])
                                for i, k in keys])
    snap = as_json(tablesafe(["backup", "--repo", repo, "--table", "ledger", "--json"]
                             + endpoint_args(srv), **env))
    assert snap["rows"] == ROWS, snap
    ok(tablesafe(["restore", snap["id"], "--repo", repo, "--table", "ledger", "--as", "copy"]
                 + endpoint_args(srv), **env))
    verify = ["verify-restore", snap["id"], "--repo", repo, "--table", "ledger", "--live", "copy"] \
        + endpoint_args(srv)
    same = as_json(tablesafe(verify + ["--json"], **env))
    assert same["equal"] is True and same["live_rows"] == ROWS, same

    # Scattered over the key range (but the quiet band): every 53rd row deleted, every 37th
    # changed (but those deleted), an extra row after every 101st, between two existing keys.
    loud = [i for i in range(ROWS) if not QUIET_FROM <= i < QUIET_TO]
    deleted = [keys[i] for i in loud if i % 53 == 0]
    changed = [keys[i] for i in loud if i % 37 == 0 and i % 53 != 0]
    extra = [(keys[i][0] + 5, "x-%d" % i) for i in loud if i % 101 == 7]
    edit_rows(client, "copy", deleted, changed)
    put_rows(client, "copy", [([("id", i), ("k", k)], [("v", "extra")]) for i, k in extra])
    live_rows = ROWS - len(deleted) + len(extra)

    out = tablesafe(verify + ["--json"], **env)
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    report = json.loads(out.stdout)
    assert report["equal"] is False, report
    assert (report["snapshot_rows"], report["live_rows"]) == (ROWS, live_rows), report
    for kind, rows in (("missing", deleted), ("extra", extra), ("different", changed)):
        assert report[kind]["count"] == len(rows), (kind, report[kind]["count"], len(rows))
        # The first keys, in key order, written as a person writes them.
        assert report[kind]["first"] == [fmt_key(*r) for r in sorted(rows)[:10]], \
            (kind, report[kind]["first"])

    ranges = [(key_of(r["first_key"]), key_of(r["last_key"]))
              for r in report["differing_ranges"]]
    assert len(ranges) >= 3, report["differing_ranges"]
    for first, last in ranges:
        assert first <= last, ranges
    for (_, last), (nxt, _) in zip(ranges, ranges[1:]):
        assert last < nxt, "ranges sorted and disjoint: %r then %r" % (last, nxt)
    # Every change lies in a reported range, and the untouched band is not all covered:
    # there is a gap between two ranges.
    for key in deleted + changed + extra:
        assert any(first <= key <= last for first, last in ranges), (key, ranges)
    uncovered = [key for key in keys[QUIET_FROM:QUIET_TO]
                 if not any(first <= key <= last for first, last in ranges)]
    assert uncovered, ("the untouched rows %s..%s are all inside differing ranges"
                       % (keys[QUIET_FROM], keys[QUIET_TO - 1]), ranges)

    # The human form: the same counts and ranges, keys as name=value, never debug text.
    out = tablesafe(verify, **env)
    line, _ = error_lines(out)
    n = len(ranges)
    assert line == "live table 'copy' differs from table 'ledger' of snapshot %s in %d key %s" % (
        snap["id"][:8], n, "range" if n == 1 else "ranges"), out.stderr
    text = out.stdout
    for bad in ("Integer(", "String(", "PkValue", "Binary(", "PrimaryKey", "Some("):
        assert bad not in text and bad not in out.stderr, text
    lines = text.splitlines()
    assert lines[0] == ("live table 'copy' differs from table 'ledger' of snapshot %s: the "
                        "snapshot has %d rows, the live table %d"
                        % (snap["id"][:8], ROWS, live_rows)), lines[0]
    for label, rows in (("missing (in the snapshot, not the live table)", deleted),
                        ("extra (in the live table, not the snapshot)", extra),
                        ("different (in both, with other cells)", changed)):
        want = "  %s: %d rows: %s; ..." % (label, len(rows),
                                          "; ".join(fmt_key(*r) for r in sorted(rows)[:10]))
        assert want in lines, (want, lines)
    at = lines.index("differing key ranges (%d):" % n)
    shown, more = [], 0
    for entry in lines[at + 1:]:
        m = re.fullmatch(r"  from (.+) to (.+)", entry)
        if m:
            shown.append((key_of(m.group(1)), key_of(m.group(2))))
            continue
        m = re.fullmatch(r"  \.\.\. and (\d+) more \(--json lists every range\)", entry)
        if m:
            more = int(m.group(1))
            continue
        k = key_of(entry[2:])  # a range of one key
        assert entry.startswith("  "), entry
        shown.append((k, k))
    assert shown == ranges[:20], (shown, ranges[:20])
    assert more == max(0, n - 20), (more, n)


# ---------------------------------------------------------------------------------------------
# 5. A backup on a terminal shows its ETA


BIG = 40_000


def run_on_terminal(args, env, timeout=60):
    """Runs the command with stderr on a pseudo-terminal (120x40) -> (exit code, stdout,
    what the terminal received)."""
    import fcntl
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([server_binary()] + [str(a) for a in args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    received = []

    def drain():
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        os.close(master)
    return proc.returncode, stdout.decode(), b"".join(received).decode("utf-8", "replace")


def test_backup_on_a_terminal_shows_an_eta_and_none_into_a_pipe(tmp_path, servers):
    srv = servers(tmp_path, "--no-backups")
    client = srv.client()
    create_table(client, "events")
    filler = "x" * 200
    put_rows(client, "events", [([("id", i)], [("payload", filler), ("n", i)])
                                for i in range(BIG)], batch=200)
    assert srv.stop() == 0
    env = cli_env(TABLESAFE_PASSWORD="eta test", TERM="xterm-256color")
    repo = tmp_path / "repo"
    ok(tablesafe(["repo", "init", "--repo", repo], TABLESAFE_PASSWORD="eta test"))
    backup = ["backup", "--repo", repo, "--data-dir", srv.data_dir, "--table", "events"]

    code, stdout, terminal = run_on_terminal(backup, env)
    assert code == 0, (stdout, terminal)
    assert re.search(r"snapshot \S+ saved: 1 table, %d rows" % BIG, stdout), stdout
    assert "events" in terminal and " rows" in terminal, terminal
    assert re.search(r"eta \d+s\)", terminal), "no ETA on the terminal:\n%r" % terminal
    assert re.search(r"/%s rows" % r"40,?000", terminal), terminal

    # Into a pipe, the same backup (now with its size known from the first) draws nothing.
    out = tablesafe(backup, TABLESAFE_PASSWORD="eta test", TERM="xterm-256color")
    assert re.search(r"snapshot \S+ saved: 1 table, %d rows" % BIG, ok(out)), out.stdout
    assert "eta" not in out.stderr and "rows (" not in out.stderr, out.stderr
    assert "\r" not in out.stderr and "\x1b[" not in out.stderr, repr(out.stderr)


# ---------------------------------------------------------------------------------------------
# 6. The last key that can read the data is not removed


def test_the_last_key_that_reads_the_data_is_not_removed(tmp_path):
    repo = tmp_path / "repo"
    password = "the only full key"
    ok(tablesafe(["repo", "init", "--repo", repo], TABLESAFE_PASSWORD=password))
    writer = tmp_path / "writer.txt"
    recipient = age_identity(writer)
    added = as_json(tablesafe(["repo", "key", "add", "--recipient", recipient, "--write-only",
                               "--repo", repo, "--json"], TABLESAFE_PASSWORD=password))
    writer_key = added["added"]

    # Opened with the write-only identity: the password's key is not the current one, so
    # only "last key that reads the data" can stop its removal.
    keys = as_json(tablesafe(["repo", "key", "list", "--repo", repo, "--json"],
                             TABLESAFE_IDENTITY_FILE=str(writer)))
    by_id = {k["id"]: k for k in keys}
    assert len(by_id) == 2, keys
    assert (by_id[writer_key]["access"], by_id[writer_key]["current"]) == ("write-only", True)
    (password_key,) = [k for k in by_id if k != writer_key]
    assert (by_id[password_key]["access"], by_id[password_key]["sealing"]) == ("full", "password")

    out = tablesafe(["repo", "key", "remove", password_key, "--repo", repo],
                    TABLESAFE_IDENTITY_FILE=str(writer))
    line, _ = error_lines(out)
    assert line == ("key %s is the last key that can read the repository's data; add another "
                    "first" % password_key), out.stderr
    # Still there, and the repository still opens and reads with the password.
    keys = as_json(tablesafe(["repo", "key", "list", "--repo", repo, "--json"],
                             TABLESAFE_PASSWORD=password))
    assert sorted(k["id"] for k in keys) == sorted(by_id), keys
    assert as_json(tablesafe(["snapshots", "--repo", repo, "--json"],
                             TABLESAFE_PASSWORD=password)) == []
    ok(tablesafe(["verify", "--repo", repo, "--read-data"], TABLESAFE_PASSWORD=password))

    # Once another full key exists, the same removal goes through.
    (tmp_path / "new.txt").write_text("a second full password\n")
    ok(tablesafe(["repo", "key", "add", "--repo", repo, "--new-password-file",
                  tmp_path / "new.txt"], TABLESAFE_PASSWORD=password))
    ok(tablesafe(["repo", "key", "remove", password_key, "--repo", repo],
                 TABLESAFE_IDENTITY_FILE=str(writer)))
    gone = tablesafe(["snapshots", "--repo", repo], TABLESAFE_PASSWORD=password)
    assert gone.returncode == 1 and "wrong password" in gone.stderr, gone.stderr
    assert as_json(tablesafe(["snapshots", "--repo", repo, "--json"],
                             TABLESAFE_PASSWORD="a second full password")) == []


# ---------------------------------------------------------------------------------------------
# 7. Recovery points name only times a restore takes


def test_a_snapshot_with_no_archived_changes_claims_no_millisecond_to_restore_to(tmp_path,
                                                                                 servers):
    srv = servers(tmp_path, plans=PLAN_FILE)
    client = srv.client()
    sdk_helpers.create_table_with_stream(client, "orders")
    put_rows(client, "orders", [([("id", i)], [("v", "row-%d" % i)]) for i in range(50)])
    job = run_plan(srv, "keyed")
    assert job["state"] == "succeeded", job

    # Exact at one microsecond of its stream, with nothing archived after it: a time in
    # milliseconds means the end of that millisecond, which no archive covers.
    (points,) = backup_api(srv, "ListRecoveryPoints", {"plan": "keyed"})["tables"]
    assert [s["snapshot"] for s in points["snapshots"]] == [job["snapshot"]], points
    assert points["spans"] == [], points
    assert any("restore that snapshot by its id" in n for n in points["notes"]), points
    # The millisecond of the snapshot is refused as the listing says, and the id restores.
    at_ms = points["snapshots"][0]["time_ms"]
    refused = backup_api(srv, "StartRestore", {"plan": "keyed", "table": "orders",
                                               "time_ms": at_ms, "target": "at_time"})
    assert wait_job(srv, refused["job"]["id"])["state"] == "failed"
    restored = backup_api(srv, "StartRestore", {"plan": "keyed", "table": "orders",
                                                "snapshot": job["snapshot"], "target": "by_id"})
    restored = wait_job(srv, restored["job"]["id"])
    assert (restored["state"], restored["rows"]) == ("succeeded", 50), restored
    assert srv.stop() == 0

    out = ok(tablesafe(["recovery-points", "--repo", os.path.join(srv.data_dir, "vault")],
                       TABLESAFE_PASSWORD_FILE=os.path.join(srv.data_dir, "backup-password")))
    assert "not restorable to a time yet" in out, out
